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

/// A statement PostgreSQL rolls back after a transient conflict (here its statement timeout;
/// deadlocks, serialization failures and lock timeouts are classified the same way) is a
/// retryable `503 database_busy`, not a 500: nothing changed, and a retry may well succeed.
#[tokio::test]
async fn a_statement_that_lost_a_conflict_is_a_retryable_503() {
    use axum::response::IntoResponse;

    let app = crate::helpers::TestApp::spawn().await;
    let mut conn = app.pool.acquire().await.unwrap();
    sqlx::raw_sql("set statement_timeout = 10")
        .execute(&mut *conn)
        .await
        .unwrap();
    let failed = sqlx::query("select pg_sleep(1)")
        .execute(&mut *conn)
        .await
        .unwrap_err();
    let error = spool::domain::Error::from(failed);
    assert!(
        matches!(error, spool::domain::Error::DatabaseBusy),
        "{error:?}"
    );
    let response = spool::api::ApiError::Engine(error).into_response();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], "database_busy", "{body}");
}
