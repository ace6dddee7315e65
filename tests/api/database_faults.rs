//! A database that drops or refuses connections makes requests fail fast with a retryable
//! `503 database_unavailable` and `Retry-After`, never a 500, and `/readyz` says why within a
//! second. The database is cut off by a TCP proxy between the pool and PostgreSQL (`proxy`).

use std::time::{Duration, Instant};

use reqwest::{StatusCode, header};
use serde_json::json;
use spool::sqs::SqsConfig;

use crate::{
    helpers::{Reply, assert_error},
    proxy::app_behind_proxy,
};

/// A 503 `database_unavailable` with `Retry-After`, decided within about a second.
fn assert_unavailable(r: &Reply, started: Instant) {
    assert_error(r, StatusCode::SERVICE_UNAVAILABLE, "database_unavailable");
    assert_eq!(r.headers[header::RETRY_AFTER], "1");
    let took = started.elapsed();
    assert!(took < Duration::from_millis(2000), "took {took:?}");
}

#[tokio::test]
async fn a_database_that_is_gone_gets_a_fast_retryable_503_and_recovery_is_automatic() {
    let (app, proxy) = app_behind_proxy(SqsConfig::default()).await;
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
    // A pooled connection the cut broke fails once more (sqlx does not test idle connections
    // before use) and is discarded; readiness returns within a few tries.
    let mut ready = app.get("/readyz").await;
    for _ in 0..20 {
        if ready.status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        ready = app.get("/readyz").await;
    }
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    let receive = || app.post("/v1/queues/q/messages/receive", json!({"max_messages": 10}));
    let mut r = receive().await;
    for _ in 0..20 {
        if r.status == StatusCode::OK {
            break;
        }
        assert_unavailable(&r, Instant::now());
        r = receive().await;
    }
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let messages = r.body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["body"], "before");
}
