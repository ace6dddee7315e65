//! Liveness and readiness probes.

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// Prometheus metrics (text exposition format). Queue levels come from the engine's cached
/// counts; see the README for every metric.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> String {
    if let Err(error) = crate::telemetry::prometheus::collect(&state.engine).await {
        // Still serve the counters; the levels keep their last values until the next scrape.
        tracing::warn!(%error, "could not read queue levels for /metrics");
    }
    crate::telemetry::metrics().render()
}

/// Probe result.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`, or what is wrong.
    pub status: String,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
    })
}

/// The database is reachable and every migration this build knows is applied.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let expected = sqlx::migrate!()
        .migrations
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .count();
    let applied: Result<i64, _> =
        sqlx::query_scalar("select count(*) from _sqlx_migrations where success")
            .fetch_one(state.engine.db())
            .await;
    let (status, message) = match applied {
        Ok(n) if usize::try_from(n).is_ok_and(|n| n >= expected) => {
            (StatusCode::OK, "ok".to_owned())
        }
        Ok(n) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{n} of {expected} migrations applied"),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "database unreachable".to_owned(),
        ),
    };
    (status, Json(Health { status: message }))
}
