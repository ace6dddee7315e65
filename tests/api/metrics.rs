//! `/metrics`: queue levels and counters, request metrics, request ids.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use spool::{
    queue::messages::{ReceiveOptions, SendEntry},
    store::Db,
};
use sqlx::{Connection, PgConnection};

use crate::helpers::{TestApp, eventually};

/// The value of the sample `name{labels}` (labels in the exporter's order), if present.
fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    let prefix = if labels.is_empty() {
        format!("{name} ")
    } else {
        format!("{name}{{{labels}}} ")
    };
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.parse().expect("a number"))
}

#[tokio::test]
async fn metrics_report_queue_levels_and_message_counters() {
    // Other tests of this process register queues too; keep this one under the label limit.
    spool::telemetry::prometheus::set_queue_label_limit(1_000_000);
    let app = TestApp::spawn().await;
    let q = "metrics-levels";
    app.create_queue(q, json!({})).await;
    for i in 0..3 {
        app.send(q, &format!("m{i}")).await;
    }
    let r = app
        .post(
            &format!("/v1/queues/{q}/messages"),
            json!({"body": "later", "delay_seconds": 600}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let got = app
        .receive(q, json!({"max_messages": 2, "visibility_timeout": 600}))
        .await;
    assert_eq!(got.len(), 2);
    let handle = got[0]["receipt_handle"].as_str().unwrap();
    assert_eq!(app.delete(q, handle).await.status, StatusCode::OK);
    let r = app
        .post(
            &format!("/v1/queues/{q}/messages/visibility"),
            json!({"receipt_handle": got[1]["receipt_handle"], "visibility_timeout": 300}),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);

    let text = app.scrape_metrics().await;
    let labels = format!("account=\"000000000000\",queue=\"{q}\"");
    let value = |name| sample(&text, name, &labels);
    assert_eq!(value("spool_queue_visible_messages"), Some(1.0), "{text}");
    assert_eq!(value("spool_queue_in_flight_messages"), Some(1.0));
    assert_eq!(value("spool_queue_delayed_messages"), Some(1.0));
    assert!(value("spool_queue_oldest_message_age_seconds").is_some_and(|a| a >= 0.0));
    assert_eq!(value("spool_messages_sent_total"), Some(4.0));
    assert_eq!(value("spool_messages_received_total"), Some(2.0));
    assert_eq!(value("spool_messages_deleted_total"), Some(1.0));
    assert_eq!(value("spool_visibility_changes_total"), Some(1.0));
    assert!(text.contains("# TYPE spool_queue_oldest_message_age_seconds gauge"));
    assert!(sample(&text, "spool_queues", "").is_some_and(|n| n >= 1.0));

    // Purge counts and levels drop to zero.
    let r = app.post(&format!("/v1/queues/{q}/purge"), json!({})).await;
    assert!(r.status.is_success(), "{}", r.body);
    let text = app.scrape_metrics().await;
    let value = |name| sample(&text, name, &labels);
    assert_eq!(value("spool_messages_purged_total"), Some(3.0), "{text}");
    assert_eq!(value("spool_queue_visible_messages"), Some(0.0));
    assert_eq!(value("spool_queue_oldest_message_age_seconds"), Some(0.0));
}

#[tokio::test]
async fn metrics_report_requests_engine_and_pool() {
    let app = TestApp::spawn().await;
    let q = "metrics-requests";
    app.create_queue(q, json!({})).await;
    app.send(q, "x").await;
    assert_eq!(app.receive(q, json!({})).await.len(), 1);
    let missing = app.get("/v1/queues/metrics-no-such-queue").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let text = app.scrape_metrics().await;
    let requests = |labels: &str| sample(&text, "spool_http_requests_total", labels);
    let route = "door=\"native\",route=\"/v1/queues/{queue}\",method=\"GET\"";
    assert!(
        requests(&format!("{route},status=\"404\"")).is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        requests("door=\"native\",route=\"/v1/queues\",method=\"POST\",status=\"201\"")
            .is_some_and(|n| n >= 1.0)
    );
    assert!(text.contains(
        "spool_http_request_duration_seconds_bucket{door=\"native\",route=\"/v1/queues/{queue}/messages\",method=\"POST\",le=\"0.005\"}"
    ), "{text}");
    for line in [
        "spool_group_commit_batch_size_bucket{kind=\"insert\",le=\"1\"}",
        "spool_group_commit_flush_duration_seconds_count{kind=\"insert\"}",
        "spool_claim_size_count ",
        "spool_claims_total ",
        "spool_db_pool_connections{state=\"max\"} ",
        "spool_db_pool_connections{state=\"idle\"} ",
        "spool_db_pool_connections{state=\"waiting\"} ",
        "spool_long_polls_waiting ",
        "# HELP spool_queue_visible_messages ",
    ] {
        assert!(text.contains(line), "no `{line}` in:\n{text}");
    }
    // Unknown paths are one series, not one per path.
    app.get("/no/such/path/123").await;
    let text = app.scrape_metrics().await;
    assert!(!text.contains("/no/such/path"), "{text}");
    assert!(text.contains("route=\"unmatched\""), "{text}");
}

#[tokio::test]
async fn tasks_waiting_for_a_pool_connection_are_exported() {
    // Two connections: the wake-up listener keeps one and the test takes the other. Callers
    // may wait 30 s for a connection, so none gives up on a loaded machine.
    let app = TestApp::spawn_with_pool(2, Duration::from_secs(30)).await;
    let q = "metrics-pool";
    app.create_queue(q, json!({})).await;
    let db = app.engine.db().clone();
    wait_for_listener(&app).await;
    let held = db.acquire().await.unwrap();
    assert_eq!((db.size(), db.num_idle(), db.waiting()), (2, 0, 0));

    // A scrape (its own statements), a send (a group-commit flusher) and a receive (a claim)
    // each end up waiting for the held connection.
    let send = app.engine.send(
        0,
        q,
        vec![SendEntry {
            body: "x".to_owned(),
            ..SendEntry::default()
        }],
    );
    let receive = app.engine.receive(0, q, ReceiveOptions::default());
    let watch = async {
        eventually("tasks waiting", 3, || db.waiting()).await;
        assert_exported(
            &db,
            &[
                ("in_use", 2.0),
                ("idle", 0.0),
                ("max", 2.0),
                ("waiting", 3.0),
            ],
        );
        drop(held);
    };
    let (text, sent, received, ()) = tokio::join!(app.scrape_metrics(), send, receive, watch);
    assert!(sent.unwrap()[0].is_ok());
    assert!(received.unwrap().len() <= 1);
    assert!(
        text.contains("spool_db_pool_connections{state=\"waiting\"} "),
        "{text}"
    );
    eventually("tasks waiting", 0, || db.waiting()).await;
    assert_exported(&db, &[("waiting", 0.0)]);
}

/// Waits until the app's wake-up listener holds its connection (its `LISTEN` shows in
/// `pg_stat_activity`), so the test knows which connections are taken.
async fn wait_for_listener(app: &TestApp) {
    let mut admin = PgConnection::connect(app.database_url()).await.unwrap();
    for _ in 0..1000 {
        let listening: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity \
             where datname = current_database() and query like 'LISTEN %'",
        )
        .fetch_one(&mut admin)
        .await
        .unwrap();
        if listening == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the wake-up listener never connected");
}

/// Asserts that `/metrics` exports `db`'s pool with these `(state, value)` samples: sets the
/// gauges from `db` as a scrape does and renders them. Tests in this process share the
/// gauges, and another test's scrape may set them from its own pool in between: hence a few
/// tries.
fn assert_exported(db: &Db, expected: &[(&str, f64)]) {
    let mut got = Vec::new();
    for _ in 0..10 {
        spool::telemetry::prometheus::pool_connections(db);
        let text = spool::telemetry::metrics().render();
        got = expected
            .iter()
            .map(|(state, _)| {
                let labels = format!("state=\"{state}\"");
                (*state, sample(&text, "spool_db_pool_connections", &labels))
            })
            .collect();
        if got
            .iter()
            .zip(expected)
            .all(|((_, v), (_, e))| *v == Some(*e))
        {
            return;
        }
    }
    panic!("spool_db_pool_connections: {got:?}, not {expected:?}");
}

#[tokio::test]
async fn a_parked_long_poll_is_counted_and_woken() {
    let app = TestApp::spawn().await;
    let q = "metrics-long-poll";
    app.create_queue(q, json!({})).await;
    let poller = {
        let client = app.client.clone();
        let url = app.url(&format!("/v1/queues/{q}/messages/receive"));
        tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({"wait_seconds": 5}))
                .send()
                .await
                .unwrap()
        })
    };
    // Wait until the receive is parked (it shows in the gauge), then wake it with a send.
    let mut parked = false;
    for _ in 0..50 {
        let text = app.scrape_metrics().await;
        if sample(&text, "spool_long_polls_waiting", "").is_some_and(|n| n >= 1.0) {
            parked = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(parked, "the long poll never showed as waiting");
    app.send(q, "wake").await;
    let response = poller.await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = app.scrape_metrics().await;
    assert!(
        sample(&text, "spool_long_poll_wakeups_total", "").is_some_and(|n| n >= 1.0),
        "{text}"
    );
}

#[tokio::test]
async fn request_ids_are_taken_from_the_client_or_made_and_echoed() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .get(app.url("/v1/queues"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-me-42");
    let r = app.client.get(app.url("/v1/queues")).send().await.unwrap();
    let made = r.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(made.len(), 36, "a UUID: {made}");
}

#[tokio::test]
async fn dead_letter_moves_are_counted_per_source_queue() {
    spool::telemetry::prometheus::set_queue_label_limit(1_000_000);
    let app = TestApp::spawn().await;
    for (dlq, source, fifo) in [
        ("metrics-dlq", "metrics-dl-source", false),
        ("metrics-dlq.fifo", "metrics-dl-source.fifo", true),
    ] {
        app.create_queue(dlq, json!({"fifo": fifo})).await;
        app.create_queue(
            source,
            json!({"fifo": fifo, "dead_letter": {"queue": dlq, "max_receive_count": 1}}),
        )
        .await;
        let message = if fifo {
            json!({"body": "poison", "group_id": "g", "deduplication_id": "d"})
        } else {
            json!({"body": "poison"})
        };
        let r = app
            .post(&format!("/v1/queues/{source}/messages"), message)
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        // The first receive delivers it; the next finds it at its limit and moves it.
        let got = app.receive(source, json!({"visibility_timeout": 0})).await;
        assert_eq!(got.len(), 1);
        assert!(app.receive(source, json!({})).await.is_empty());
        assert_eq!(app.receive(dlq, json!({})).await.len(), 1);

        let text = app.scrape_metrics().await;
        let labels = format!("account=\"000000000000\",queue=\"{source}\"");
        assert_eq!(
            sample(&text, "spool_messages_dead_lettered_total", &labels),
            Some(1.0),
            "{text}"
        );
    }
}
