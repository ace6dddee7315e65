//! Flow control over HTTP: while consumers are active, a send to a queue holding the backlog
//! limit of ready messages waits for them, and goes on when they take messages or leave
//! (`queue::flow` has the clock-exact unit tests).

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
            probe_every: Duration::from_millis(50),
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
async fn sends_wait_for_active_consumers_of_a_full_queue() {
    let app = app().await;
    app.create_queue("paced", json!({})).await;
    let path = "/v1/queues/paced/messages";

    // Nobody consumes: the queue fills at full speed, past the limit.
    let started = Instant::now();
    for _ in 0..5 {
        assert_eq!(app.post(path, batch(10, 0)).await.status, 200);
    }
    assert!(started.elapsed() < Duration::from_secs(2));

    // A consumer arrives: with 49 ready, the next send waits...
    let taken = app.receive("paced", json!({"max_messages": 1})).await;
    assert_eq!(taken.len(), 1);
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

    // ...until the consumer takes enough.
    let taken = app.receive("paced", json!({"max_messages": 30})).await;
    assert_eq!(taken.len(), 30);
    let (status, answered) = waiting.await.unwrap();
    assert_eq!(status, 200);
    let waited = answered - started;
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_millis(600),
        "answered {waited:?} after it was sent, right after the receive"
    );

    // Delayed messages are not ready: their send never waits.
    let started = Instant::now();
    assert_eq!(app.post(path, batch(10, 60)).await.status, 200);
    assert!(started.elapsed() < Duration::from_millis(300));

    // 20 ready again (19 and the send that waited); when the consumer leaves, sends go on.
    let started = Instant::now();
    assert_eq!(app.post(path, batch(1, 0)).await.status, 200);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(100) && waited < Duration::from_millis(1500),
        "went on once the consumer was idle for 600 ms, after {waited:?}"
    );

    // Nothing was refused or lost: 50 + 1 + 1 ready sent, 31 received, 10 delayed.
    let counts = app.counts("paced").await;
    assert_eq!(counts["visible"], json!(52 - 31), "{counts}");
    assert_eq!(counts["delayed"], json!(10), "{counts}");

    // The sends that waited are on /metrics (a process-wide histogram: at least these two).
    let text = app.scrape_metrics().await;
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
    for _ in 0..20 {
        let reply = app.post("/v1/queues/unpaced/messages", batch(100, 0)).await;
        assert_eq!(reply.status, 200);
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}
