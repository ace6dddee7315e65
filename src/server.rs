//! The HTTP/1.1 server loop: accepts connections and serves the application on each, with
//! hyper's limits set where Spool wants them, and drains on shutdown.
//!
//! `axum::serve` would do, but it keeps hyper's default read buffer, so a request whose
//! headers exceed about 400 KiB is refused by hyper itself with a bare `431` (no body, no error
//! shape). Here hyper reads up to [`MAX_READ_BUFFER`], and the application's own limit
//! (`app`'s header check) answers anything over its bound in the API's error shape.

use std::{convert::Infallible, time::Duration};

use axum::{Router, body::Body, extract::Request};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::{rt::TokioIo, service::TowerToHyperService};
use tokio::{net::TcpListener, sync::watch};
use tower::ServiceExt;

/// Largest read buffer of a connection, and so the largest request head hyper accepts
/// (beyond it hyper answers a bare `431` and closes the connection).
pub const MAX_READ_BUFFER: usize = 4 * 1024 * 1024;

/// Serves `app` on `listener` until `shutdown` completes; then stops accepting, lets every
/// connection finish its request in progress, and returns when all are closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Connections hold a receiver of `draining`; `closed` completes when all have ended.
    let (draining, drain_signal) = watch::channel(false);
    let (closed_tx, closed) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = app
            .clone()
            .map_request(|request: Request<Incoming>| request.map(Body::new))
            .map_err(|never: Infallible| match never {});
        let mut drain_signal = drain_signal.clone();
        let closed = closed.clone();
        tokio::spawn(async move {
            let connection = http1::Builder::new()
                .max_buf_size(MAX_READ_BUFFER)
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .with_upgrades();
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                }
                // The value changes once, to `true`, when the server starts draining.
                _ = drain_signal.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(closed);
        });
    }
    drop(listener);
    let _ = draining.send(true);
    drop(closed);
    closed_tx.closed().await;
    Ok(())
}
