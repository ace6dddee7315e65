//! Spool: a durable, SQS-compatible message queue on PostgreSQL.
//!
//! `serve` runs the HTTP application on a bound listener so tests can start it on port 0.

pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod domain;
pub mod embedded;
pub mod http;
pub mod queue;
pub mod server;
pub mod sqs;
pub mod store;
pub mod telemetry;
pub mod web;
pub mod worker;

use tokio::net::TcpListener;

/// Serves the application on `listener` until `shutdown` completes, then drains requests.
pub async fn serve(
    listener: TcpListener,
    state: app::AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    server::serve(listener, app::router(state), shutdown).await?;
    Ok(())
}
