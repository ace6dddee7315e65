//! Logging (structured `tracing` output, as text or JSON, filtered by `RUST_LOG`) and the
//! Prometheus metrics (`prometheus`).

pub mod prometheus;

use tracing_subscriber::{EnvFilter, fmt};

use crate::config::LogFormat;

/// Installs the global subscriber (once, at start).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// The process-wide Prometheus recorder (installed on first use) that `/metrics` renders.
pub fn metrics() -> &'static metrics_exporter_prometheus::PrometheusHandle {
    prometheus::handle()
}
