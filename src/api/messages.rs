//! Endpoints for messages: send (one or a batch), receive, delete, change visibility, peek.

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState, Caller,
    extract::{ApiJson, ApiPath, ApiQuery},
};
use crate::{
    api::error::{ApiError, ErrorBody, ErrorDetail},
    auth::Scope,
    domain::{
        Attributes, MaxMessages, MessageState, PeekLimit, PeekedMessage, ReceivedMessage,
        VisibilityTimeout, WaitSeconds,
    },
    queue::messages::{MAX_BATCH_ENTRIES, ReceiveOptions, SendEntry, Sent},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send_messages))
        .routes(routes!(receive_messages))
        .routes(routes!(delete_messages))
        .routes(routes!(change_visibility))
        .routes(routes!(peek_messages))
}

/// One message to send.
#[derive(Debug, Deserialize, ToSchema)]
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

/// A batch entry that failed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FailedEntry {
    pub id: String,
    pub error: ErrorDetail,
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
    match (req.body, req.messages) {
        (Some(body), None) => {
            let entry = SendEntry {
                body,
                attributes: req.attributes.unwrap_or_default(),
                delay_seconds: req.delay_seconds,
                group_id: req.group_id,
                dedup_id: req.deduplication_id,
                ..SendEntry::default()
            };
            let mut results = state
                .engine
                .send(caller.account, &queue, vec![entry])
                .await?;
            let sent = results.pop().expect("one result per entry")?;
            Ok((StatusCode::CREATED, Json(sent_message(None, sent))).into_response())
        }
        (None, Some(messages))
            if req.attributes.is_none()
                && req.delay_seconds.is_none()
                && req.group_id.is_none()
                && req.deduplication_id.is_none() =>
        {
            let ids = entry_ids(messages.iter().map(|m| m.id.clone()).collect())?;
            let entries = messages
                .into_iter()
                .map(|m| SendEntry {
                    body: m.body,
                    attributes: m.attributes,
                    delay_seconds: m.delay_seconds,
                    group_id: m.group_id,
                    dedup_id: m.deduplication_id,
                    ..SendEntry::default()
                })
                .collect();
            let results = state.engine.send(caller.account, &queue, entries).await?;
            let (successful, failed) = split(ids, results, sent_message);
            Ok(Json(SendBatchResponse { successful, failed }).into_response())
        }
        _ => Err(ApiError::Validation(
            "send either `body` (with optional `attributes`, `delay_seconds`, `group_id` and \
             `deduplication_id`) or `messages`"
                .to_owned(),
        )),
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

/// Checks a batch's shape and fills in default entry ids (the index).
fn entry_ids(ids: Vec<Option<String>>) -> Result<Vec<String>, ApiError> {
    if ids.is_empty() || ids.len() > MAX_BATCH_ENTRIES {
        return Err(ApiError::Validation(format!(
            "a batch holds 1 to {MAX_BATCH_ENTRIES} entries, got {}",
            ids.len()
        )));
    }
    let ids: Vec<String> = ids
        .into_iter()
        .enumerate()
        .map(|(i, id)| id.unwrap_or_else(|| i.to_string()))
        .collect();
    let mut seen = std::collections::HashSet::new();
    for id in &ids {
        let valid = !id.is_empty()
            && id.len() <= 80
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(ApiError::Validation(format!(
                "invalid entry id `{}`: use 1-80 characters of A-Z, a-z, 0-9, '-' and '_'",
                id.escape_debug()
            )));
        }
        if !seen.insert(id.as_str()) {
            return Err(ApiError::Validation(format!(
                "entry id `{id}` is used twice"
            )));
        }
    }
    Ok(ids)
}

/// Splits per-entry results into successes (mapped by `ok`) and failures.
fn split<T, U>(
    ids: Vec<String>,
    results: Vec<Result<T, crate::domain::Error>>,
    ok: impl Fn(Option<String>, T) -> U,
) -> (Vec<U>, Vec<FailedEntry>) {
    let mut successful = Vec::new();
    let mut failed = Vec::new();
    for (id, result) in ids.into_iter().zip(results) {
        match result {
            Ok(value) => successful.push(ok(Some(id), value)),
            Err(error) => failed.push(FailedEntry {
                id,
                error: ApiError::from(error).body().error,
            }),
        }
    }
    (successful, failed)
}

/// How to receive.
#[derive(Debug, Default, Deserialize, ToSchema)]
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
            md5_of_body: crate::queue::attributes::md5_of_body(&m.body),
            md5_of_attributes: crate::queue::attributes::md5_of_attributes(&m.attributes),
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
}

/// Receives messages and hides them for the visibility timeout. With `wait_seconds` it returns
/// as soon as a message arrives, or empty when the wait ends.
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
    let messages = state
        .engine
        .receive(caller.account, &queue, options)
        .await?;
    Ok(Json(ReceiveResponse {
        messages: messages.into_iter().map(Into::into).collect(),
    }))
}

/// A receipt handle to act on, in a batch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandleEntry {
    pub id: Option<String>,
    pub receipt_handle: String,
    /// For visibility changes only: the new timeout in seconds (0–43200; out of range fails
    /// this entry only, like any per-entry problem of a batch).
    pub visibility_timeout: Option<i64>,
}

/// Either one `receipt_handle` or a batch of `entries`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteRequest {
    pub receipt_handle: Option<String>,
    #[schema(min_items = 1, max_items = 100)]
    pub entries: Option<Vec<HandleEntry>>,
}

/// Outcome of one delete.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeletedEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// False when the handle was stale (the message was received again or is gone): nothing
    /// was deleted, as in SQS this is not an error.
    pub deleted: bool,
}

/// Per-entry results of a batch.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeleteBatchResponse {
    pub successful: Vec<DeletedEntry>,
    pub failed: Vec<FailedEntry>,
}

/// Deletes messages by receipt handle (one, or a batch with per-entry results).
#[utoipa::path(post, path = "/v1/queues/{queue}/messages/delete", tag = "messages",
    params(("queue" = String, Path, description = "Queue name")),
    request_body = DeleteRequest,
    responses(
        (status = 200, description = "One: `DeletedEntry`; batch: `DeleteBatchResponse`",
         body = DeleteBatchResponse),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    ))]
pub async fn delete_messages(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(queue): ApiPath<String>,
    ApiJson(req): ApiJson<DeleteRequest>,
) -> Result<Response, ApiError> {
    caller.authorize(Scope::MessagesReceive, Some(&queue))?;
    match (req.receipt_handle, req.entries) {
        (Some(handle), None) => {
            let mut results = state
                .engine
                .delete_messages(caller.account, &queue, &[handle])
                .await?;
            let deleted = results.pop().expect("one result per entry")?;
            Ok(Json(DeletedEntry { id: None, deleted }).into_response())
        }
        (None, Some(entries)) => {
            if entries.iter().any(|e| e.visibility_timeout.is_some()) {
                return Err(ApiError::Validation(
                    "`visibility_timeout` does not belong in a delete".to_owned(),
                ));
            }
            let ids = entry_ids(entries.iter().map(|e| e.id.clone()).collect())?;
            let handles: Vec<String> = entries.into_iter().map(|e| e.receipt_handle).collect();
            let results = state
                .engine
                .delete_messages(caller.account, &queue, &handles)
                .await?;
            let (successful, failed) =
                split(ids, results, |id, deleted| DeletedEntry { id, deleted });
            Ok(Json(DeleteBatchResponse { successful, failed }).into_response())
        }
        _ => Err(ApiError::Validation(
            "send either `receipt_handle` or `entries`".to_owned(),
        )),
    }
}

/// Either one `receipt_handle` with `visibility_timeout`, or a batch of `entries`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisibilityRequest {
    pub receipt_handle: Option<String>,
    #[schema(minimum = 0, maximum = 43200)]
    pub visibility_timeout: Option<i64>,
    #[schema(min_items = 1, max_items = 100)]
    pub entries: Option<Vec<HandleEntry>>,
}

/// A changed entry.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChangedEntry {
    pub id: String,
}

/// Per-entry results of a batch visibility change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VisibilityBatchResponse {
    pub successful: Vec<ChangedEntry>,
    pub failed: Vec<FailedEntry>,
}

/// Changes how long in-flight messages stay hidden (0 makes them visible at once). One change
/// answers 204; a batch answers per entry. A stale handle is `message_not_in_flight`.
#[utoipa::path(post, path = "/v1/queues/{queue}/messages/visibility", tag = "messages",
    params(("queue" = String, Path, description = "Queue name")),
    request_body = VisibilityRequest,
    responses(
        (status = 204, description = "Changed"),
        (status = 200, description = "Batch results", body = VisibilityBatchResponse),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Not in flight (stale handle)", body = ErrorBody),
    ))]
pub async fn change_visibility(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(queue): ApiPath<String>,
    ApiJson(req): ApiJson<VisibilityRequest>,
) -> Result<Response, ApiError> {
    caller.authorize(Scope::MessagesReceive, Some(&queue))?;
    let missing = || ApiError::Validation("every change needs `visibility_timeout`".to_owned());
    match (req.receipt_handle, req.visibility_timeout, req.entries) {
        (Some(handle), Some(timeout), None) => {
            let mut results = state
                .engine
                .change_visibility(caller.account, &queue, &[(handle, timeout)])
                .await?;
            results.pop().expect("one result per entry")?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        (None, None, Some(entries)) => {
            let ids = entry_ids(entries.iter().map(|e| e.id.clone()).collect())?;
            let changes = entries
                .into_iter()
                .map(|e| Ok((e.receipt_handle, e.visibility_timeout.ok_or_else(missing)?)))
                .collect::<Result<Vec<_>, ApiError>>()?;
            let results = state
                .engine
                .change_visibility(caller.account, &queue, &changes)
                .await?;
            let (successful, failed) = split(ids, results, |id, ()| ChangedEntry {
                id: id.unwrap_or_default(),
            });
            Ok(Json(VisibilityBatchResponse { successful, failed }).into_response())
        }
        (Some(_), None, None) => Err(missing()),
        _ => Err(ApiError::Validation(
            "send either `receipt_handle` with `visibility_timeout`, or `entries`".to_owned(),
        )),
    }
}

/// Peek options.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PeekParams {
    /// 1–1000 (default 10).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// A message seen without receiving it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PeekedMessageDto {
    pub message_id: Uuid,
    pub state: MessageState,
    pub body: String,
    #[serde(skip_serializing_if = "Attributes::is_empty", default)]
    pub attributes: Attributes,
    pub receive_count: i32,
    pub sent_at: DateTime<Utc>,
    pub first_received_at: Option<DateTime<Utc>>,
    /// When it becomes (or became) receivable.
    pub visible_at: DateTime<Utc>,
}

impl From<PeekedMessage> for PeekedMessageDto {
    fn from(m: PeekedMessage) -> Self {
        Self {
            message_id: m.message_id,
            state: m.state,
            body: m.body,
            attributes: m.attributes,
            receive_count: m.receive_count,
            sent_at: m.sent_at,
            first_received_at: m.first_received_at,
            visible_at: m.visible_at,
        }
    }
}

/// Peeked messages, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PeekResponse {
    pub messages: Vec<PeekedMessageDto>,
}

/// Lists messages oldest first without receiving them (nothing changes; for debugging).
#[utoipa::path(get, path = "/v1/queues/{queue}/messages/peek", tag = "messages",
    params(("queue" = String, Path, description = "Queue name"), PeekParams),
    responses((status = 200, body = PeekResponse), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn peek_messages(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(queue): ApiPath<String>,
    ApiQuery(params): ApiQuery<PeekParams>,
) -> Result<Json<PeekResponse>, ApiError> {
    caller.authorize(Scope::MessagesReceive, Some(&queue))?;
    let messages = state
        .engine
        .peek(
            caller.account,
            &queue,
            PeekLimit::new(params.limit.unwrap_or(10))?,
        )
        .await?;
    Ok(Json(PeekResponse {
        messages: messages.into_iter().map(Into::into).collect(),
    }))
}
