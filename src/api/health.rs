//! Liveness and readiness probes.

use std::time::Duration;

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
#[utoipa::path(get, path = "/metrics", tag = "ops", security(),
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
#[utoipa::path(get, path = "/healthz", tag = "ops", security(), responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
    })
}

/// How long `/readyz` may take: probes (and load balancers) time out at about a second.
const READY_BUDGET: Duration = Duration::from_millis(900);

/// The database is reachable and every migration this build knows is applied; otherwise 503
/// within a second, saying why (connection refused, starting up, timed out, migrations).
#[utoipa::path(get, path = "/readyz", tag = "ops", security(),
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    match state.engine.readiness(READY_BUDGET).await {
        Ok(()) => (
            StatusCode::OK,
            Json(Health {
                status: "ok".to_owned(),
            }),
        ),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health { status: why }),
        ),
    }
}
