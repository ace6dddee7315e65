//! Liveness and readiness probes.

use std::time::{Duration, Instant};

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use sqlx::{Connection, PgConnection};
use tokio::time::timeout;
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
    let started = Instant::now();
    let expected = sqlx::migrate!()
        .migrations
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .count();
    let db = state.engine.db();
    let applied = timeout(
        READY_BUDGET,
        sqlx::query_scalar::<_, i64>("select count(*) from _sqlx_migrations where success")
            .fetch_one(db),
    )
    .await;
    let message = match applied {
        Ok(Ok(n)) if usize::try_from(n).is_ok_and(|n| n >= expected) => {
            return (
                StatusCode::OK,
                Json(Health {
                    status: "ok".to_owned(),
                }),
            );
        }
        Ok(Ok(n)) => format!("{n} of {expected} migrations applied"),
        // The pool only says it timed out; one direct attempt in the time left tells why.
        Ok(Err(_)) | Err(_) => {
            let left = READY_BUDGET.saturating_sub(started.elapsed());
            match timeout(left, PgConnection::connect_with(&db.connect_options())).await {
                Ok(Err(error)) => format!("database unreachable: {error}"),
                Ok(Ok(_)) => {
                    "database reachable but every pooled connection is busy or broken".to_owned()
                }
                Err(_) => "database unreachable: no answer within a second".to_owned(),
            }
        }
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(Health { status: message }),
    )
}
