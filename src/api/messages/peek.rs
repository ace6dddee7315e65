//! Peeking at messages without receiving them (for debugging).

use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    api::error::{ApiError, ErrorBody},
    api::{
        AppState, Caller,
        extract::{ApiPath, ApiQuery},
    },
    auth::Scope,
    domain::{Attributes, MessageState, PeekLimit, PeekedMessage},
};

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
