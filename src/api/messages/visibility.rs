//! Changing the visibility timeout of in-flight messages: one, or a batch with per-entry
//! results.

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::batch::{Batch, FailedEntry, HandleEntry, OneOrBatch, split};
use crate::{
    api::error::{ApiError, ErrorBody},
    api::{
        AppState, Caller,
        extract::{ApiJson, ApiPath},
    },
    auth::Scope,
};

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

impl VisibilityRequest {
    /// The `(receipt handle, timeout)` changes: one inline, or the batch of `entries`.
    fn into_changes(self) -> Result<OneOrBatch<(String, i64)>, ApiError> {
        let missing = || ApiError::Validation("every change needs `visibility_timeout`".to_owned());
        match (self.receipt_handle, self.visibility_timeout, self.entries) {
            (Some(handle), Some(timeout), None) => Ok(OneOrBatch::One((handle, timeout))),
            (None, None, Some(entries)) => {
                let batch = Batch::new(entries, |e| e.id.clone())?;
                let changes = batch.try_map(|e| {
                    Ok((e.receipt_handle, e.visibility_timeout.ok_or_else(missing)?))
                })?;
                Ok(OneOrBatch::Batch(changes))
            }
            (Some(_), None, None) => Err(missing()),
            _ => Err(ApiError::Validation(
                "send either `receipt_handle` with `visibility_timeout`, or `entries`".to_owned(),
            )),
        }
    }
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
    match req.into_changes()? {
        OneOrBatch::One(change) => {
            let mut results = state
                .engine
                .change_visibility(caller.account, &queue, &[change])
                .await?;
            results.pop().expect("one result per entry")?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        OneOrBatch::Batch(batch) => {
            let results = state
                .engine
                .change_visibility(caller.account, &queue, &batch.entries)
                .await?;
            let (successful, failed) = split(batch.ids, results, |id, ()| ChangedEntry {
                id: id.unwrap_or_default(),
            });
            Ok(Json(VisibilityBatchResponse { successful, failed }).into_response())
        }
    }
}
