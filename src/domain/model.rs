//! Ids, queue names, queue settings and messages as every layer sees them.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::attributes::Attributes;
use super::error::Invalid;

/// Id of an account (SQS's 12-digit account id).
pub type AccountId = i64;
/// Internal id of a queue.
pub type QueueId = i64;

/// The account every request acts as until API tokens exist.
pub const DEFAULT_ACCOUNT: AccountId = 0;

/// A queue name: 1–80 characters of `[A-Za-z0-9_-]`, optionally ending in `.fifo`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "orders", pattern = "^[A-Za-z0-9_-]{1,80}$")]
pub struct QueueName(String);

impl QueueName {
    pub fn parse(name: impl Into<String>) -> Result<Self, Invalid> {
        let name = name.into();
        let stem = name.strip_suffix(".fifo").unwrap_or(&name);
        let valid_chars = stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if name.is_empty() || name.len() > 80 || stem.is_empty() || !valid_chars {
            return Err(Invalid::QueueName(name));
        }
        Ok(Self(name))
    }

    /// A name read back from the database, where only parsed names are ever written.
    pub(crate) fn from_trusted(name: String) -> Self {
        Self(name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the name is a FIFO queue's (SQS: FIFO queue names end in `.fifo`).
    pub fn is_fifo(&self) -> bool {
        self.0.ends_with(".fifo")
    }
}

impl TryFrom<String> for QueueName {
    type Error = Invalid;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<QueueName> for String {
    fn from(value: QueueName) -> Self {
        value.0
    }
}

impl fmt::Display for QueueName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a queue's messages go after too many receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub queue_id: QueueId,
    pub max_receive_count: i32,
}

/// How a queue's writes commit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// Acknowledged only after the commit is flushed to disk.
    #[default]
    Durable,
    /// Acknowledged before the WAL flush (`synchronous_commit = off`): several times faster;
    /// a PostgreSQL crash may lose the last moments of acknowledged writes.
    Relaxed,
}

/// Where a FIFO queue's deduplication ids must be unique.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeduplicationScope {
    /// A deduplication id is unique across the queue.
    #[default]
    Queue,
    /// A deduplication id is unique within its message group.
    MessageGroup,
}

/// SQS's FIFO throughput quota (reported only: Spool enforces none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FifoThroughputLimit {
    #[default]
    PerQueue,
    /// Needs `DeduplicationScope::MessageGroup`.
    PerMessageGroupId,
}

/// The settings only FIFO queues have.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FifoSettings {
    /// Deduplicate by the SHA-256 of the body when a send has no deduplication id.
    pub content_based_deduplication: bool,
    pub deduplication_scope: DeduplicationScope,
    pub throughput_limit: FifoThroughputLimit,
}

/// The settings of a queue, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSettings {
    pub visibility_timeout: i32,
    pub delay_seconds: i32,
    pub retention_seconds: i32,
    pub max_message_bytes: i32,
    pub receive_wait_seconds: i32,
    pub dead_letter: Option<DeadLetter>,
    pub max_depth: Option<i64>,
    pub durability: Durability,
    /// Set on FIFO queues (fixed at creation), `None` on standard queues.
    pub fifo: Option<FifoSettings>,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            visibility_timeout: 30,
            delay_seconds: 0,
            retention_seconds: 345_600,
            max_message_bytes: 1_048_576,
            receive_wait_seconds: 0,
            dead_letter: None,
            max_depth: None,
            durability: Durability::Durable,
            fifo: None,
        }
    }
}

/// A queue as stored.
#[derive(Debug, Clone)]
pub struct Queue {
    pub id: QueueId,
    pub account_id: AccountId,
    pub name: QueueName,
    pub settings: QueueSettings,
    /// Name of the dead-letter queue, if any.
    pub dead_letter_name: Option<QueueName>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Live counts of a queue (cached for a moment; see `queue::stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounts {
    pub visible: i64,
    pub in_flight: i64,
    pub delayed: i64,
    pub oldest_sent_at: Option<DateTime<Utc>>,
}

impl QueueCounts {
    pub fn total(&self) -> i64 {
        self.visible + self.in_flight + self.delayed
    }
}

/// One delivery of a message: the row and its receive count when it was received. A receipt
/// handle names exactly one (see `queue::handle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Delivery {
    pub queue_id: QueueId,
    pub row_id: i64,
    pub generation: i32,
}

/// A message to send, already validated against its queue.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub queue_id: QueueId,
    pub message_id: Uuid,
    pub body: String,
    pub attributes: Attributes,
    pub delay_seconds: i32,
    /// FIFO queues only (fair queues keep theirs as a system attribute).
    pub group_id: Option<String>,
    /// FIFO queues only: the explicit or content-based deduplication id.
    pub dedup_id: Option<String>,
    /// System attributes (SQS `AWSTraceHeader`), committed with the message.
    pub system_attributes: Attributes,
}

/// A message handed out by a receive.
#[derive(Debug, Clone)]
pub struct ReceivedMessage {
    pub message_id: Uuid,
    pub receipt_handle: String,
    pub body: String,
    pub attributes: Attributes,
    pub receive_count: i32,
    pub sent_at: DateTime<Utc>,
    pub first_received_at: Option<DateTime<Utc>>,
    /// Queue the message was dead-lettered from, if it was.
    pub source_queue_id: Option<QueueId>,
    /// FIFO queues: the message group, deduplication id and sequence number.
    pub fifo: Option<FifoMessage>,
}

/// What a FIFO message carries besides its body.
#[derive(Debug, Clone)]
pub struct FifoMessage {
    pub group_id: String,
    pub dedup_id: Option<String>,
    /// Strictly increasing within the group.
    pub sequence_number: i64,
}

/// Where a message is in its life, as peek shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    Visible,
    InFlight,
    Delayed,
}

/// A message seen through peek: no receipt handle, nothing changed.
#[derive(Debug, Clone)]
pub struct PeekedMessage {
    pub message_id: Uuid,
    pub body: String,
    pub attributes: Attributes,
    pub receive_count: i32,
    pub sent_at: DateTime<Utc>,
    pub first_received_at: Option<DateTime<Utc>>,
    pub visible_at: DateTime<Utc>,
    pub state: MessageState,
}

/// An account.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// A token's record (never its secret).
#[derive(Debug, Clone)]
pub struct Token {
    pub id: Uuid,
    pub account_id: AccountId,
    pub name: String,
    pub scopes: Vec<String>,
    pub access_key_id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A task moving messages out of a (dead-letter) queue; `status` is `running`, `completed`,
/// `cancelled` or `failed`.
#[derive(Debug, Clone)]
pub struct MoveTask {
    pub id: Uuid,
    pub source_queue_id: QueueId,
    pub destination_queue_id: Option<QueueId>,
    pub destination_name: Option<String>,
    pub max_per_second: Option<i32>,
    pub status: String,
    pub to_move: i64,
    pub moved: i64,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_follow_sqs_rules() {
        for ok in ["a", "orders", "A-b_9", &"x".repeat(80), "orders.fifo"] {
            assert!(QueueName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "has space",
            "dot.name",
            "ü",
            &"x".repeat(81),
            ".fifo",
            "a.b.fifo",
            "a/b",
        ] {
            assert!(QueueName::parse(bad).is_err(), "{bad}");
        }
    }
}
