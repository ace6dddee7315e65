//! Endpoints for queues: create, list, get (with live counts), update, delete, purge.

use axum::{Json, extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    AppState, Caller,
    extract::{ApiJson, ApiPath, ApiQuery},
};
use crate::{
    api::error::{ApiError, ErrorBody},
    auth::Scope,
    domain::{
        DeduplicationScope, DelaySeconds, Durability, FifoThroughputLimit, MaxDepth,
        MaxMessageBytes, MaxReceiveCount, OutOfRange, Queue, QueueCounts, QueueName,
        RetentionSeconds, VisibilityTimeout, WaitSeconds,
    },
    queue::{SettingsPatch, cursor, engine::DeadLetterSpec},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_queue, list_queues))
        .routes(routes!(get_queue, update_queue, delete_queue))
        .routes(routes!(purge_queue))
}

/// A dead-letter target: after `max_receive_count` receives a message moves to `queue`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterDto {
    /// Name of the dead-letter queue (same account; must exist).
    pub queue: QueueName,
    /// 1–1000.
    #[schema(minimum = 1, maximum = 1000)]
    pub max_receive_count: i64,
}

/// Settings of a new queue; omitted settings take their defaults.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateQueueRequest {
    pub name: QueueName,
    /// Seconds a received message stays hidden (0–43200, default 30).
    #[schema(minimum = 0, maximum = 43200)]
    pub visibility_timeout: Option<i64>,
    /// Seconds new messages stay invisible (0–900, default 0).
    #[schema(minimum = 0, maximum = 900)]
    pub delay_seconds: Option<i64>,
    /// Seconds a message is kept (60–1209600, default 345600 = 4 days).
    #[schema(minimum = 60, maximum = 1209600)]
    pub retention_seconds: Option<i64>,
    /// Largest body plus attributes in bytes (1024–1048576, default 1048576).
    #[schema(minimum = 1024, maximum = 1048576)]
    pub max_message_bytes: Option<i64>,
    /// Default long-poll wait of receives (0–20, default 0).
    #[schema(minimum = 0, maximum = 20)]
    pub receive_wait_seconds: Option<i64>,
    pub dead_letter: Option<DeadLetterDto>,
    /// Refuse sends (429) while the queue holds this many messages.
    #[schema(minimum = 1)]
    pub max_depth: Option<i64>,
    /// `durable` (default) or `relaxed`: writes acknowledged before the WAL flush.
    pub durability: Option<Durability>,
    /// Make a FIFO queue (fixed for life; its name must end in `.fifo`): messages carry a
    /// `group_id` and each group is delivered in order, one batch in flight at a time.
    pub fifo: Option<bool>,
    /// FIFO queues: deduplicate by the SHA-256 of the body when a message has no
    /// `deduplication_id` (default false).
    pub content_based_deduplication: Option<bool>,
    /// FIFO queues: where a deduplication id must be unique (default `queue`).
    pub deduplication_scope: Option<DeduplicationScope>,
    /// FIFO queues: SQS's throughput quota, reported only (default `per_queue`;
    /// `per_message_group_id` needs `deduplication_scope` `message_group`).
    pub fifo_throughput_limit: Option<FifoThroughputLimit>,
}

/// Settings to change; omitted ones stay, `null` removes `dead_letter` or `max_depth`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateQueueRequest {
    #[schema(minimum = 0, maximum = 43200)]
    pub visibility_timeout: Option<i64>,
    #[schema(minimum = 0, maximum = 900)]
    pub delay_seconds: Option<i64>,
    #[schema(minimum = 60, maximum = 1209600)]
    pub retention_seconds: Option<i64>,
    #[schema(minimum = 1024, maximum = 1048576)]
    pub max_message_bytes: Option<i64>,
    #[schema(minimum = 0, maximum = 20)]
    pub receive_wait_seconds: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable)]
    pub dead_letter: Option<Option<DeadLetterDto>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable, minimum = 1)]
    pub max_depth: Option<Option<i64>>,
    pub durability: Option<Durability>,
    /// FIFO queues only.
    pub content_based_deduplication: Option<bool>,
    /// FIFO queues only.
    pub deduplication_scope: Option<DeduplicationScope>,
    /// FIFO queues only.
    pub fifo_throughput_limit: Option<FifoThroughputLimit>,
}

/// Distinguishes a field set to `null` (`Some(None)`) from an absent one (`None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A queue's settings as returned.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QueueSettingsDto {
    pub visibility_timeout: i32,
    pub delay_seconds: i32,
    pub retention_seconds: i32,
    pub max_message_bytes: i32,
    pub receive_wait_seconds: i32,
    pub dead_letter: Option<DeadLetterDto>,
    pub max_depth: Option<i64>,
    pub durability: Durability,
    /// Whether this is a FIFO queue.
    pub fifo: bool,
    /// FIFO queues only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_based_deduplication: Option<bool>,
    /// FIFO queues only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deduplication_scope: Option<DeduplicationScope>,
    /// FIFO queues only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fifo_throughput_limit: Option<FifoThroughputLimit>,
}

/// Live counts (refreshed at most about once a second).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QueueCountsDto {
    /// Messages ready to be received.
    pub visible: i64,
    /// Received and not yet deleted or timed out.
    pub in_flight: i64,
    /// Sent with a delay that has not passed yet.
    pub delayed: i64,
    /// Age in seconds of the oldest message, if any.
    pub oldest_message_age_seconds: Option<i64>,
}

/// A queue.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QueueResponse {
    pub name: String,
    pub settings: QueueSettingsDto,
    /// Present on single-queue responses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counts: Option<QueueCountsDto>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl QueueResponse {
    fn new(queue: Queue, counts: Option<QueueCounts>) -> Self {
        let s = queue.settings;
        let dead_letter =
            s.dead_letter
                .zip(queue.dead_letter_name)
                .map(|(d, name)| DeadLetterDto {
                    queue: name,
                    max_receive_count: d.max_receive_count.into(),
                });
        Self {
            name: queue.name.to_string(),
            settings: QueueSettingsDto {
                visibility_timeout: s.visibility_timeout,
                delay_seconds: s.delay_seconds,
                retention_seconds: s.retention_seconds,
                max_message_bytes: s.max_message_bytes,
                receive_wait_seconds: s.receive_wait_seconds,
                dead_letter,
                max_depth: s.max_depth,
                durability: s.durability,
                fifo: s.fifo.is_some(),
                content_based_deduplication: s.fifo.map(|f| f.content_based_deduplication),
                deduplication_scope: s.fifo.map(|f| f.deduplication_scope),
                fifo_throughput_limit: s.fifo.map(|f| f.throughput_limit),
            },
            counts: counts.map(|c| QueueCountsDto {
                visible: c.visible,
                in_flight: c.in_flight,
                delayed: c.delayed,
                oldest_message_age_seconds: c
                    .oldest_sent_at
                    .map(|t| (Utc::now() - t).num_seconds().max(0)),
            }),
            created_at: queue.created_at,
            updated_at: queue.updated_at,
        }
    }
}

/// Creates a queue. Creating a queue that exists with the same settings returns it (200);
/// with different settings it is a conflict (409).
#[utoipa::path(post, path = "/v1/queues", tag = "queues", request_body = CreateQueueRequest,
    responses(
        (status = 201, description = "Created", body = QueueResponse),
        (status = 200, description = "Already existed with these settings", body = QueueResponse),
        (status = 400, body = ErrorBody), (status = 409, body = ErrorBody),
    ))]
pub async fn create_queue(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateQueueRequest>,
) -> Result<(StatusCode, Json<QueueResponse>), ApiError> {
    caller.authorize(Scope::QueuesManage, Some(req.name.as_str()))?;
    // Dead letters are written into the target: naming it takes send rights on it.
    if let Some(d) = &req.dead_letter {
        caller.authorize(Scope::MessagesSend, Some(d.queue.as_str()))?;
    }
    let numbers = Numbers {
        visibility_timeout: req.visibility_timeout,
        delay_seconds: req.delay_seconds,
        retention_seconds: req.retention_seconds,
        max_message_bytes: req.max_message_bytes,
        receive_wait_seconds: req.receive_wait_seconds,
    };
    let patch = SettingsPatch {
        dead_letter: req
            .dead_letter
            .map(|d| dead_letter_spec(d).map(Some))
            .transpose()?,
        max_depth: req.max_depth.map(MaxDepth::new).transpose()?.map(Some),
        durability: req.durability,
        fifo: req.fifo,
        content_based_deduplication: req.content_based_deduplication,
        deduplication_scope: req.deduplication_scope,
        fifo_throughput_limit: req.fifo_throughput_limit,
        ..numbers.checked()?
    };
    let (queue, created) = state
        .engine
        .create_queue(caller.account, req.name, patch)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(QueueResponse::new(queue, None))))
}

fn dead_letter_spec(d: DeadLetterDto) -> Result<DeadLetterSpec, OutOfRange> {
    Ok(DeadLetterSpec {
        queue: d.queue,
        max_receive_count: MaxReceiveCount::new(d.max_receive_count)?,
    })
}

/// The numeric settings of a request, as sent.
struct Numbers {
    visibility_timeout: Option<i64>,
    delay_seconds: Option<i64>,
    retention_seconds: Option<i64>,
    max_message_bytes: Option<i64>,
    receive_wait_seconds: Option<i64>,
}

impl Numbers {
    /// The settings as the engine's validated types; the first out of range is the error.
    fn checked(self) -> Result<SettingsPatch, OutOfRange> {
        Ok(SettingsPatch {
            visibility_timeout: self
                .visibility_timeout
                .map(VisibilityTimeout::new)
                .transpose()?,
            delay_seconds: self.delay_seconds.map(DelaySeconds::new).transpose()?,
            retention_seconds: self
                .retention_seconds
                .map(RetentionSeconds::new)
                .transpose()?,
            max_message_bytes: self
                .max_message_bytes
                .map(MaxMessageBytes::new)
                .transpose()?,
            receive_wait_seconds: self
                .receive_wait_seconds
                .map(|v| WaitSeconds::named("receive_wait_seconds", v))
                .transpose()?,
            ..SettingsPatch::default()
        })
    }
}

/// Paging through queues.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQueuesParams {
    /// Only queues whose name starts with this.
    #[serde(default)]
    pub prefix: String,
    /// Page size, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of queues.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ListQueuesResponse {
    pub queues: Vec<QueueResponse>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Lists queues by name, optionally filtered by prefix, one page at a time.
#[utoipa::path(get, path = "/v1/queues", tag = "queues", params(ListQueuesParams),
    responses((status = 200, body = ListQueuesResponse), (status = 400, body = ErrorBody)))]
pub async fn list_queues(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListQueuesParams>,
) -> Result<Json<ListQueuesResponse>, ApiError> {
    let limit = crate::domain::input::check_range("limit", params.limit.unwrap_or(100), (1, 1000))?;
    let after = params
        .cursor
        .as_deref()
        .map(|c| {
            cursor::decode(c).ok_or_else(|| ApiError::Validation("invalid `cursor`".to_owned()))
        })
        .transpose()?;
    let mut queues = state
        .engine
        .list_queues(caller.account, &params.prefix, after.as_deref(), limit + 1)
        .await?;
    let page = usize::try_from(limit).expect("positive");
    let more = queues.len() > page;
    queues.truncate(page);
    let next_cursor = more
        .then(|| queues.last().map(|q| cursor::encode(q.name.as_str())))
        .flatten();
    // Queues the token has no grant on are left out (the page may come out shorter).
    queues.retain(|q| caller.can_see(q.name.as_str()));
    Ok(Json(ListQueuesResponse {
        queues: queues
            .into_iter()
            .map(|q| QueueResponse::new(q, None))
            .collect(),
        next_cursor,
    }))
}

/// Returns a queue's settings and live counts.
#[utoipa::path(get, path = "/v1/queues/{queue}", tag = "queues",
    params(("queue" = String, Path, description = "Queue name")),
    responses((status = 200, body = QueueResponse), (status = 404, body = ErrorBody)))]
pub async fn get_queue(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<QueueResponse>, ApiError> {
    caller.authorize_any(&name)?;
    let queue = state.engine.get_queue(caller.account, &name).await?;
    let counts = state.engine.counts(&queue).await?;
    Ok(Json(QueueResponse::new(queue, Some(counts))))
}

/// Changes some of a queue's settings.
#[utoipa::path(patch, path = "/v1/queues/{queue}", tag = "queues",
    params(("queue" = String, Path, description = "Queue name")),
    request_body = UpdateQueueRequest,
    responses((status = 200, body = QueueResponse), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn update_queue(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(req): ApiJson<UpdateQueueRequest>,
) -> Result<Json<QueueResponse>, ApiError> {
    caller.authorize(Scope::QueuesManage, Some(&name))?;
    if let Some(Some(d)) = &req.dead_letter {
        caller.authorize(Scope::MessagesSend, Some(d.queue.as_str()))?;
    }
    let numbers = Numbers {
        visibility_timeout: req.visibility_timeout,
        delay_seconds: req.delay_seconds,
        retention_seconds: req.retention_seconds,
        max_message_bytes: req.max_message_bytes,
        receive_wait_seconds: req.receive_wait_seconds,
    };
    let patch = SettingsPatch {
        dead_letter: req
            .dead_letter
            .map(|d| d.map(dead_letter_spec).transpose())
            .transpose()?,
        max_depth: req
            .max_depth
            .map(|d| d.map(MaxDepth::new).transpose())
            .transpose()?,
        durability: req.durability,
        content_based_deduplication: req.content_based_deduplication,
        deduplication_scope: req.deduplication_scope,
        fifo_throughput_limit: req.fifo_throughput_limit,
        fifo: None,
        ..numbers.checked()?
    };
    let queue = state
        .engine
        .update_queue(caller.account, &name, patch)
        .await?;
    Ok(Json(QueueResponse::new(queue, None)))
}

/// Deletes a queue and all its messages.
#[utoipa::path(delete, path = "/v1/queues/{queue}", tag = "queues",
    params(("queue" = String, Path, description = "Queue name")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
pub async fn delete_queue(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    caller.authorize(Scope::QueuesManage, Some(&name))?;
    state.engine.delete_queue(caller.account, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// How many messages a purge deleted.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PurgeResponse {
    pub purged: u64,
}

/// Deletes every message in a queue, keeping the queue.
#[utoipa::path(post, path = "/v1/queues/{queue}/purge", tag = "queues",
    params(("queue" = String, Path, description = "Queue name")),
    responses((status = 200, body = PurgeResponse), (status = 404, body = ErrorBody)))]
pub async fn purge_queue(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<PurgeResponse>, ApiError> {
    caller.authorize(Scope::QueuesManage, Some(&name))?;
    let purged = state.engine.purge_queue(caller.account, &name).await?;
    Ok(Json(PurgeResponse { purged }))
}
