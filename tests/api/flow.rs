//! Flow control over HTTP: a producer far ahead of a queue's active consumers waits for them,
//! and goes on at once when they take messages or leave (`queue::flow` has the clock-exact
//! unit tests).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use spool::queue::{EngineOptions, flow::FlowOptions};

use crate::helpers::TestApp;

async fn app() -> TestApp {
    TestApp::spawn_with(EngineOptions {
        stats_max_age: Duration::ZERO,
        flow: FlowOptions {
            backlog: 20,
            idle: Duration::from_millis(600),
            max_wait: Duration::from_secs(30),
        },
        ..EngineOptions::default()
    })
    .await
}

fn batch(n: usize, delay: i64) -> Value {
    let messages: Vec<Value> = (0..n)
        .map(|i| json!({"body": format!("m{i}"), "delay_seconds": delay}))
        .collect();
    json!({ "messages": messages })
}

#[tokio::test]
async fn producers_ahead_of_active_consumers_wait_for_them() {
    let app = app().await;
    app.create_queue("paced", json!({})).await;
    let path = "/v1/queues/paced/messages";

    // Nobody consumes yet: a backlog builds at full speed.
    for _ in 0..5 {
        assert_eq!(app.post(path, batch(10, 0)).await.status, 200);
    }
    // A consumer arrives; what was sent before it does not hold producers back.
    assert_eq!(
        app.receive("paced", json!({"max_messages": 1})).await.len(),
        1
    );
    // Delayed messages cannot be consumed yet, so they do not count.
    assert_eq!(app.post(path, batch(10, 60)).await.status, 200);
    assert_eq!(app.post(path, batch(10, 0)).await.status, 200);
    assert_eq!(app.post(path, batch(10, 0)).await.status, 200);

    // Twenty ready messages ahead of a present consumer: the next send waits...
    let started = Instant::now();
    let waiting = tokio::spawn({
        let client = app.client.clone();
        let url = format!("http://{}{path}", app.addr);
        async move {
            let reply = client.post(url).json(&batch(1, 0)).send().await.unwrap();
            (reply.status().as_u16(), Instant::now())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the send waits for the consumer");

    // ...until the consumer takes messages.
    let taken = app.receive("paced", json!({"max_messages": 5})).await;
    assert_eq!(taken.len(), 5);
    let (status, answered) = waiting.await.unwrap();
    assert_eq!(status, 200);
    let waited = answered - started;
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_millis(600),
        "answered {waited:?} after it was sent, right after the receive"
    );

    // Nothing was lost or refused: 5 × 10 + 10 delayed + 2 × 10 + 1 sent, 6 received.
    let counts = app.counts("paced").await;
    assert_eq!(counts["visible"], json!(50 + 20 + 1 - 6), "{counts}");
    assert_eq!(counts["delayed"], json!(10), "{counts}");

    // Producers are again far ahead; when the consumer leaves, sends go on.
    // (16 ahead after the waiting send; 26 after this one.)
    assert_eq!(app.post(path, batch(10, 0)).await.status, 200);
    let started = Instant::now();
    assert_eq!(app.post(path, batch(1, 0)).await.status, 200);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(100) && waited < Duration::from_millis(1500),
        "went on once the consumer was idle for 600 ms, after {waited:?}"
    );

    // The sends that waited are on /metrics (a process-wide histogram: at least these two).
    let text = app
        .anonymous
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let waits: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("spool_flow_control_wait_seconds_count "))
        .expect("the flow-control histogram is exported")
        .parse()
        .unwrap();
    assert!(waits >= 2.0, "{waits}");
}

#[tokio::test]
async fn flow_control_off_never_waits() {
    let app = TestApp::spawn_with(EngineOptions {
        flow: FlowOptions {
            backlog: 0,
            ..FlowOptions::default()
        },
        ..EngineOptions::default()
    })
    .await;
    app.create_queue("unpaced", json!({})).await;
    app.receive("unpaced", json!({})).await;
    let started = Instant::now();
    for _ in 0..10 {
        let reply = app.post("/v1/queues/unpaced/messages", batch(100, 0)).await;
        assert_eq!(reply.status, 200);
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}
