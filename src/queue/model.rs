//! Domain types of the engine: queue names, settings with their limits, and messages as the
//! engine hands them to both front doors.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::attributes::Attributes;
use crate::error::ApiError;

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
    pub fn parse(name: impl Into<String>) -> Result<Self, ApiError> {
        let name = name.into();
        let stem = name.strip_suffix(".fifo").unwrap_or(&name);
        let valid_chars = stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if name.is_empty() || name.len() > 80 || stem.is_empty() || !valid_chars {
            return Err(ApiError::Validation(format!(
                "invalid queue name `{}`: use 1-80 characters of A-Z, a-z, 0-9, '-' and '_'",
                name.escape_debug()
            )));
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
    type Error = ApiError;
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

/// Inclusive bounds of every numeric setting, checked in one place.
pub mod limits {
    pub const VISIBILITY_TIMEOUT: (i64, i64) = (0, 43_200);
    pub const DELAY_SECONDS: (i64, i64) = (0, 900);
    pub const RETENTION_SECONDS: (i64, i64) = (60, 1_209_600);
    pub const MAX_MESSAGE_BYTES: (i64, i64) = (1_024, 1_048_576);
    pub const RECEIVE_WAIT_SECONDS: (i64, i64) = (0, 20);
    pub const MAX_RECEIVE_COUNT: (i64, i64) = (1, 1_000);
    pub const MAX_DEPTH: (i64, i64) = (1, i64::MAX);
}

/// Checks `value` against inclusive `bounds`, naming the setting in the error.
pub fn check_range(setting: &str, value: i64, (min, max): (i64, i64)) -> Result<i64, ApiError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::Validation(format!(
            "`{setting}` must be between {min} and {max}, got {value}"
        )))
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

    #[test]
    fn ranges_are_inclusive() {
        assert!(check_range("x", 0, limits::DELAY_SECONDS).is_ok());
        assert!(check_range("x", 900, limits::DELAY_SECONDS).is_ok());
        assert!(check_range("x", 901, limits::DELAY_SECONDS).is_err());
        assert!(check_range("x", 59, limits::RETENTION_SECONDS).is_err());
    }
}
