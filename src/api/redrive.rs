//! Endpoints for redrive tasks: move messages out of a dead-letter queue, watch, cancel.

use axum::{Json, extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState, Caller,
    extract::{ApiJson, ApiPath},
};
use crate::{
    api::error::{ApiError, ErrorBody},
    auth::Scope,
    domain::{MoveRate, MoveTask, QueueName},
    queue::redrive::RedriveOptions,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_redrive, list_redrives))
        .routes(routes!(get_redrive, cancel_redrive))
}

/// Where and how fast to move.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedriveRequest {
    /// Destination queue; default: each message goes back to the queue it was dead-lettered from.
    pub destination: Option<QueueName>,
    /// At most this many messages per second (1–500); default: as fast as possible.
    #[schema(minimum = 1, maximum = 500)]
    pub max_per_second: Option<i64>,
}

/// A redrive task and its progress.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RedriveTask {
    pub id: Uuid,
    /// `running`, `completed`, `cancelled` or `failed`.
    pub status: String,
    /// Destination queue, or absent when messages return to their source queues.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_per_second: Option<i32>,
    /// Messages in the dead-letter queue when the task started.
    pub to_move: i64,
    pub moved: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<MoveTask> for RedriveTask {
    fn from(t: MoveTask) -> Self {
        Self {
            id: t.id,
            status: t.status,
            destination: t.destination_name,
            max_per_second: t.max_per_second,
            to_move: t.to_move,
            moved: t.moved,
            failure_reason: t.failure_reason,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// Redrive tasks of a queue.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RedriveList {
    pub tasks: Vec<RedriveTask>,
}

/// Starts moving the messages now in this (dead-letter) queue, oldest first, back to their
/// source queues or to `destination`. One running task per queue.
#[utoipa::path(post, path = "/v1/queues/{queue}/redrive", tag = "redrive",
    params(("queue" = String, Path, description = "Dead-letter queue name")),
    request_body = RedriveRequest,
    responses((status = 201, body = RedriveTask), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 409, description = "A task is already running", body = ErrorBody)))]
pub async fn start_redrive(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(queue): ApiPath<String>,
    ApiJson(req): ApiJson<RedriveRequest>,
) -> Result<(StatusCode, Json<RedriveTask>), ApiError> {
    caller.authorize(Scope::QueuesManage, Some(&queue))?;
    // The task writes into the destination: that takes send rights on it.
    if let Some(d) = &req.destination {
        caller.authorize(Scope::MessagesSend, Some(d.as_str()))?;
    }
    let options = RedriveOptions {
        destination: req.destination,
        max_per_second: req.max_per_second.map(MoveRate::new).transpose()?,
    };
    let task = state
        .engine
        .start_redrive(caller.account, &queue, options)
        .await?;
    Ok((StatusCode::CREATED, Json(task.into())))
}

/// Lists a queue's redrive tasks, newest first.
#[utoipa::path(get, path = "/v1/queues/{queue}/redrive", tag = "redrive",
    params(("queue" = String, Path, description = "Dead-letter queue name")),
    responses((status = 200, body = RedriveList), (status = 404, body = ErrorBody)))]
pub async fn list_redrives(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(queue): ApiPath<String>,
) -> Result<Json<RedriveList>, ApiError> {
    caller.authorize_any(&queue)?;
    let tasks = state.engine.list_redrives(caller.account, &queue).await?;
    Ok(Json(RedriveList {
        tasks: tasks.into_iter().map(Into::into).collect(),
    }))
}

/// Returns one redrive task with its progress.
#[utoipa::path(get, path = "/v1/queues/{queue}/redrive/{task}", tag = "redrive",
    params(("queue" = String, Path, description = "Dead-letter queue name"),
           ("task" = Uuid, Path, description = "Task id")),
    responses((status = 200, body = RedriveTask), (status = 404, body = ErrorBody)))]
pub async fn get_redrive(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((queue, task)): ApiPath<(String, Uuid)>,
) -> Result<Json<RedriveTask>, ApiError> {
    caller.authorize_any(&queue)?;
    let task = state
        .engine
        .get_redrive(caller.account, &queue, task)
        .await?;
    Ok(Json(task.into()))
}

/// Cancels a running redrive task; messages already moved stay where they are.
#[utoipa::path(delete, path = "/v1/queues/{queue}/redrive/{task}", tag = "redrive",
    params(("queue" = String, Path, description = "Dead-letter queue name"),
           ("task" = Uuid, Path, description = "Task id")),
    responses((status = 200, body = RedriveTask), (status = 404, body = ErrorBody),
              (status = 409, description = "Not running", body = ErrorBody)))]
pub async fn cancel_redrive(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((queue, task)): ApiPath<(String, Uuid)>,
) -> Result<Json<RedriveTask>, ApiError> {
    caller.authorize(Scope::QueuesManage, Some(&queue))?;
    let task = state
        .engine
        .cancel_redrive(caller.account, &queue, task)
        .await?;
    Ok(Json(task.into()))
}
