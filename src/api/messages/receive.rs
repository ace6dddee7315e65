//! Receiving messages, with long polling.

use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    batch::split,
    delete::{DeleteBatchResponse, DeletedEntry},
};
use crate::{
    api::error::{ApiError, ErrorBody},
    api::{
        AppState, Caller,
        extract::{ApiJson, ApiPath},
    },
    auth::Scope,
    domain::{Attributes, MaxMessages, ReceivedMessage, VisibilityTimeout, WaitSeconds},
    queue::{
        attributes,
        messages::{MAX_BATCH_ENTRIES, ReceiveOptions},
    },
};

/// How to receive.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiveRequest {
    /// 1–100 (default 1).
    #[schema(minimum = 1, maximum = 100)]
    pub max_messages: Option<i64>,
    /// Seconds the messages stay hidden (default: the queue's).
    #[schema(minimum = 0, maximum = 43200)]
    pub visibility_timeout: Option<i64>,
    /// Long polling: wait up to this many seconds (0–20) for a message (default: the queue's).
    #[schema(minimum = 0, maximum = 20)]
    pub wait_seconds: Option<i64>,
    /// FIFO queues: retrying a receive with the same id (1–128 letters, digits or ASCII
    /// punctuation) within 5 minutes returns the same messages and receipt handles while they
    /// are in flight, and renews their visibility timeout.
    pub receive_request_attempt_id: Option<String>,
    /// Receipt handles of messages you are done with (at most 100), deleted before this
    /// receive as by `messages/delete`: a worker acknowledges its previous batch with its next
    /// receive and saves a request per batch. Results are in `acknowledged`, by position.
    #[schema(max_items = 100)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledge: Option<Vec<String>>,
}

/// A received message.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReceivedMessageDto {
    pub message_id: Uuid,
    /// Pass to delete or change visibility; valid for this delivery only.
    pub receipt_handle: String,
    pub body: String,
    #[serde(skip_serializing_if = "Attributes::is_empty", default)]
    pub attributes: Attributes,
    pub md5_of_body: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub md5_of_attributes: Option<String>,
    /// How many times the message has been received, this time included.
    pub receive_count: i32,
    pub sent_at: DateTime<Utc>,
    pub first_received_at: Option<DateTime<Utc>>,
    /// FIFO queues: the message group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// FIFO queues: the explicit or content-based deduplication id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deduplication_id: Option<String>,
    /// FIFO queues: the sequence number within the group (a decimal string).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<String>,
}

impl From<ReceivedMessage> for ReceivedMessageDto {
    fn from(m: ReceivedMessage) -> Self {
        Self {
            md5_of_body: attributes::md5_of_body(&m.body),
            md5_of_attributes: attributes::md5_of_attributes(&m.attributes),
            message_id: m.message_id,
            receipt_handle: m.receipt_handle,
            body: m.body,
            attributes: m.attributes,
            receive_count: m.receive_count,
            sent_at: m.sent_at,
            first_received_at: m.first_received_at,
            group_id: m.fifo.as_ref().map(|f| f.group_id.clone()),
            deduplication_id: m.fifo.as_ref().and_then(|f| f.dedup_id.clone()),
            sequence_number: m.fifo.map(|f| f.sequence_number.to_string()),
        }
    }
}

/// Received messages (possibly none).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReceiveResponse {
    pub messages: Vec<ReceivedMessageDto>,
    /// With `acknowledge`: the delete of each handle, its `id` its position in that list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<DeleteBatchResponse>,
}

/// Receives messages and hides them for the visibility timeout. With `wait_seconds` it returns
/// as soon as a message arrives, or empty when the wait ends. With `acknowledge` it first
/// deletes the messages of those receipt handles.
#[utoipa::path(post, path = "/v1/queues/{queue}/messages/receive", tag = "messages",
    params(("queue" = String, Path, description = "Queue name")),
    request_body = ReceiveRequest,
    responses((status = 200, body = ReceiveResponse), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn receive_messages(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(queue): ApiPath<String>,
    ApiJson(req): ApiJson<ReceiveRequest>,
) -> Result<Json<ReceiveResponse>, ApiError> {
    caller.authorize(Scope::MessagesReceive, Some(&queue))?;
    let options = ReceiveOptions {
        max_messages: req.max_messages.map(MaxMessages::new).transpose()?,
        visibility_timeout: req
            .visibility_timeout
            .map(VisibilityTimeout::new)
            .transpose()?,
        wait_seconds: req.wait_seconds.map(WaitSeconds::new).transpose()?,
        attempt_id: req.receive_request_attempt_id,
    };
    let acknowledged = match req.acknowledge {
        Some(handles) if handles.len() > MAX_BATCH_ENTRIES => {
            return Err(ApiError::Validation(format!(
                "`acknowledge` holds at most {MAX_BATCH_ENTRIES} receipt handles"
            )));
        }
        Some(handles) if !handles.is_empty() => {
            // Boxed: the delete's future is kilobytes and would otherwise be part of every
            // receive's, which a long poll holds while it waits.
            let deleted = state
                .engine
                .delete_messages(caller.account, &queue, &handles);
            let results = Box::pin(deleted).await?;
            let ids = (0..handles.len()).map(|i| i.to_string()).collect();
            let (successful, failed) =
                split(ids, results, |id, deleted| DeletedEntry { id, deleted });
            Some(DeleteBatchResponse { successful, failed })
        }
        Some(_) => Some(DeleteBatchResponse {
            successful: Vec::new(),
            failed: Vec::new(),
        }),
        None => None,
    };
    let messages = state
        .engine
        .receive(caller.account, &queue, options)
        .await?;
    Ok(Json(ReceiveResponse {
        messages: messages.into_iter().map(Into::into).collect(),
        acknowledged,
    }))
}
