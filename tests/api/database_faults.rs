//! A database that drops or refuses connections makes requests fail fast with a retryable
//! `503 database_unavailable` and `Retry-After`, never a 500, and `/readyz` says why within a
//! second. The database is cut off by a TCP proxy between the pool and PostgreSQL.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use reqwest::{StatusCode, header};
use serde_json::json;
use spool::{queue::EngineOptions, sqs::SqsConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::helpers::{Reply, TestApp, assert_error, server_url};

/// Forwards TCP to PostgreSQL until cut: then it closes every connection and stops listening
/// (so new connections are refused) until restored on the same port.
pub struct Proxy {
    pub addr: SocketAddr,
    upstream: SocketAddr,
    live: Mutex<CancellationToken>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Arc<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Arc::new(Self {
            addr: listener.local_addr().unwrap(),
            upstream,
            live: Mutex::new(CancellationToken::new()),
        });
        proxy.forward(listener);
        proxy
    }

    fn forward(&self, listener: TcpListener) {
        let (token, upstream) = (self.live.lock().unwrap().clone(), self.upstream);
        tokio::spawn(async move {
            loop {
                let mut client = tokio::select! {
                    () = token.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok((client, _)) => client,
                        Err(_) => continue,
                    },
                };
                let token = token.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        () = token.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    }
                });
            }
        });
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        self.live.lock().unwrap().cancel();
    }

    /// Accepts connections again on the same address.
    pub async fn restore(&self) {
        *self.live.lock().unwrap() = CancellationToken::new();
        let listener = TcpListener::bind(self.addr)
            .await
            .expect("rebind the proxy");
        self.forward(listener);
    }
}

/// The app with its pool behind a proxy it can cut.
async fn app_behind_proxy() -> (TestApp, Arc<Proxy>) {
    let server = server_url().await;
    let upstream = server.split('@').nth(1).unwrap().split('/').next().unwrap();
    let proxy = Proxy::start(upstream.parse().unwrap()).await;
    let app = TestApp::spawn_via(
        EngineOptions {
            stats_max_age: Duration::ZERO,
            ..EngineOptions::default()
        },
        SqsConfig::default(),
        |url| url.replace(upstream, &proxy.addr.to_string()),
    )
    .await;
    (app, proxy)
}

/// A 503 `database_unavailable` with `Retry-After`, decided within about a second.
fn assert_unavailable(r: &Reply, started: Instant) {
    assert_error(r, StatusCode::SERVICE_UNAVAILABLE, "database_unavailable");
    assert_eq!(r.headers[header::RETRY_AFTER], "1");
    let took = started.elapsed();
    assert!(took < Duration::from_millis(2000), "took {took:?}");
}

#[tokio::test]
async fn a_database_that_is_gone_gets_a_fast_retryable_503_and_recovery_is_automatic() {
    let (app, proxy) = app_behind_proxy().await;
    app.create_queue("q", json!({})).await;
    app.send("q", "before").await;
    proxy.cut();
    for _ in 0..2 {
        let started = Instant::now();
        let r = app
            .post("/v1/queues/q/messages/receive", json!({"max_messages": 1}))
            .await;
        assert_unavailable(&r, started);
        let started = Instant::now();
        let r = app.post("/v1/queues", json!({"name": "other"})).await;
        assert_unavailable(&r, started);
    }
    let started = Instant::now();
    let r = app.get("/readyz").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let why = r.body["status"].as_str().unwrap();
    assert!(why.starts_with("database unreachable: "), "{why}");
    assert!(why.to_lowercase().contains("refused"), "{why}");

    proxy.restore().await;
    let r = app.get("/readyz").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let messages = app.receive("q", json!({"max_messages": 10})).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["body"], "before");
}
