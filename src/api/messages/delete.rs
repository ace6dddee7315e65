//! Deleting messages by receipt handle: one, or a batch with per-entry results.

use axum::{
    Json,
    extract::State,
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

/// Either one `receipt_handle` or a batch of `entries`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteRequest {
    pub receipt_handle: Option<String>,
    #[schema(min_items = 1, max_items = 100)]
    pub entries: Option<Vec<HandleEntry>>,
}

impl DeleteRequest {
    /// The receipt handles to delete: one inline, or the batch of `entries`; never both.
    fn into_handles(self) -> Result<OneOrBatch<String>, ApiError> {
        match (self.receipt_handle, self.entries) {
            (Some(handle), None) => Ok(OneOrBatch::One(handle)),
            (None, Some(entries)) => {
                if entries.iter().any(|e| e.visibility_timeout.is_some()) {
                    return Err(ApiError::Validation(
                        "`visibility_timeout` does not belong in a delete".to_owned(),
                    ));
                }
                let batch = Batch::new(entries, |e| e.id.clone())?;
                Ok(OneOrBatch::Batch(batch.map(|e| e.receipt_handle)))
            }
            _ => Err(ApiError::Validation(
                "send either `receipt_handle` or `entries`".to_owned(),
            )),
        }
    }
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
    match req.into_handles()? {
        OneOrBatch::One(handle) => {
            let mut results = state
                .engine
                .delete_messages(caller.account, &queue, &[handle])
                .await?;
            let deleted = results.pop().expect("one result per entry")?;
            Ok(Json(DeletedEntry { id: None, deleted }).into_response())
        }
        OneOrBatch::Batch(batch) => {
            let results = state
                .engine
                .delete_messages(caller.account, &queue, &batch.entries)
                .await?;
            let (successful, failed) = split(batch.ids, results, |id, deleted| DeletedEntry {
                id,
                deleted,
            });
            Ok(Json(DeleteBatchResponse { successful, failed }).into_response())
        }
    }
}
