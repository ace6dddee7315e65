//! Fair standard queues: a message group on a standard queue keeps one group's backlog from
//! starving the others.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::TestApp;

async fn send_batch(app: &TestApp, group: &str, from: usize, n: usize) {
    let entries: Vec<Value> = (from..from + n)
        .map(|i| json!({"body": format!("{group}-{i}"), "group_id": group}))
        .collect();
    let r = app
        .post("/v1/queues/q/messages", json!({"messages": entries}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["failed"], json!([]), "{}", r.body);
}

#[tokio::test]
async fn a_quiet_groups_message_does_not_wait_behind_a_busy_groups_backlog() {
    let app = TestApp::spawn().await;
    app.create_queue("q", json!({})).await;
    for batch in 0..3 {
        send_batch(&app, "busy", batch * 100, 100).await;
    }
    send_batch(&app, "quiet", 0, 1).await;
    let got = app.receive("q", json!({"max_messages": 10})).await;
    let bodies: Vec<&str> = got.iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert!(bodies.contains(&"quiet-0"), "{bodies:?}");
    // Within the busy group the backlog stays in send order.
    let busy: Vec<&str> = bodies
        .into_iter()
        .filter(|b| b.starts_with("busy"))
        .collect();
    assert_eq!(busy[..3], ["busy-0", "busy-1", "busy-2"]);
    // Everything is still delivered, and at once (fair stamps are never in the future).
    let counts = app.counts("q").await;
    assert_eq!(counts["visible"], 291, "{counts}");
    assert_eq!(counts["delayed"], 0, "{counts}");
}

#[tokio::test]
async fn without_groups_a_standard_queue_keeps_its_order() {
    let app = TestApp::spawn().await;
    app.create_queue("q", json!({})).await;
    for i in 0..5 {
        app.send("q", &format!("m{i}")).await;
    }
    let got = app.receive("q", json!({"max_messages": 10})).await;
    let bodies: Vec<&str> = got.iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["m0", "m1", "m2", "m3", "m4"]);
}
