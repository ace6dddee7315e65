//! Sending messages: one (201 with the message) or a batch (200 with per-entry results).

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::batch::{Batch, FailedEntry, OneOrBatch, split};
use crate::{
    api::error::{ApiError, ErrorBody},
    api::{
        AppState, Caller,
        extract::{ApiJson, ApiPath},
    },
    auth::Scope,
    domain::Attributes,
    queue::messages::{SendEntry, Sent},
};

/// One message to send.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendEntryDto {
    /// Your id for this entry, echoed in the result (default: its index).
    pub id: Option<String>,
    /// UTF-8 text.
    pub body: String,
    /// Up to 10 typed attributes.
    #[serde(default)]
    pub attributes: Attributes,
    /// Overrides the queue's delay (0–900; standard queues only).
    #[schema(minimum = 0, maximum = 900)]
    pub delay_seconds: Option<i64>,
    /// Message group (1–128 letters, digits or ASCII punctuation). Required on FIFO queues,
    /// where a group's messages are delivered in order, one batch at a time; on a standard
    /// queue it makes the queue fair: receives interleave groups.
    pub group_id: Option<String>,
    /// FIFO queues: a message with the same deduplication id within 5 minutes is accepted
    /// but not enqueued again. Optional when the queue has content-based deduplication.
    pub deduplication_id: Option<String>,
}

/// Either one message (`body`, `attributes`, `delay_seconds`, `group_id`,
/// `deduplication_id`) or a batch (`messages`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    pub body: Option<String>,
    pub attributes: Option<Attributes>,
    #[schema(minimum = 0, maximum = 900)]
    pub delay_seconds: Option<i64>,
    pub group_id: Option<String>,
    pub deduplication_id: Option<String>,
    /// A batch of 1–100 messages; per-entry failures do not fail the others.
    #[schema(min_items = 1, max_items = 100)]
    pub messages: Option<Vec<SendEntryDto>>,
}

impl SendRequest {
    /// The message inline, or the batch of `messages`; never both.
    fn into_entries(self) -> Result<OneOrBatch<SendEntry>, ApiError> {
        match (self.body, self.messages) {
            (Some(body), None) => Ok(OneOrBatch::One(SendEntry {
                body,
                attributes: self.attributes.unwrap_or_default(),
                delay_seconds: self.delay_seconds,
                group_id: self.group_id,
                dedup_id: self.deduplication_id,
                ..SendEntry::default()
            })),
            (None, Some(messages))
                if self.attributes.is_none()
                    && self.delay_seconds.is_none()
                    && self.group_id.is_none()
                    && self.deduplication_id.is_none() =>
            {
                let batch = Batch::new(messages, |m| m.id.clone())?;
                Ok(OneOrBatch::Batch(batch.map(|m| SendEntry {
                    body: m.body,
                    attributes: m.attributes,
                    delay_seconds: m.delay_seconds,
                    group_id: m.group_id,
                    dedup_id: m.deduplication_id,
                    ..SendEntry::default()
                })))
            }
            _ => Err(ApiError::Validation(
                "send either `body` (with optional `attributes`, `delay_seconds`, `group_id` and \
                 `deduplication_id`) or `messages`"
                    .to_owned(),
            )),
        }
    }
}

/// A sent message.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SentMessage {
    /// The entry's id (batch sends only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub message_id: Uuid,
    /// Hex MD5 of the body (as SQS computes it).
    pub md5_of_body: String,
    /// Hex MD5 of the attributes (SQS algorithm), when there are attributes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub md5_of_attributes: Option<String>,
    /// FIFO queues: strictly increasing within the group (a decimal string, as in SQS). A
    /// duplicate reports the original's id and sequence number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<String>,
}

/// Results of a batch send.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SendBatchResponse {
    pub successful: Vec<SentMessage>,
    pub failed: Vec<FailedEntry>,
}

/// Sends one message (201 with the message) or a batch (200 with per-entry results). The
/// response comes after the messages are committed.
#[utoipa::path(post, path = "/v1/queues/{queue}/messages", tag = "messages",
    params(("queue" = String, Path, description = "Queue name")),
    request_body = SendRequest,
    responses(
        (status = 201, description = "One message sent", body = SentMessage),
        (status = 200, description = "Batch results", body = SendBatchResponse),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 429, description = "Queue at its max depth", body = ErrorBody),
    ))]
pub async fn send_messages(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(queue): ApiPath<String>,
    ApiJson(req): ApiJson<SendRequest>,
) -> Result<Response, ApiError> {
    caller.authorize(Scope::MessagesSend, Some(&queue))?;
    match req.into_entries()? {
        OneOrBatch::One(entry) => {
            let mut results = state
                .engine
                .send(caller.account, &queue, vec![entry])
                .await?;
            let sent = results.pop().expect("one result per entry")?;
            Ok((StatusCode::CREATED, Json(sent_message(None, sent))).into_response())
        }
        OneOrBatch::Batch(batch) => {
            let results = state
                .engine
                .send(caller.account, &queue, batch.entries)
                .await?;
            let (successful, failed) = split(batch.ids, results, sent_message);
            Ok(Json(SendBatchResponse { successful, failed }).into_response())
        }
    }
}

fn sent_message(id: Option<String>, sent: Sent) -> SentMessage {
    SentMessage {
        id,
        message_id: sent.message_id,
        md5_of_body: sent.md5_of_body,
        md5_of_attributes: sent.md5_of_attributes,
        sequence_number: sent.sequence_number.map(|n| n.to_string()),
    }
}
