//! Redrive tasks: back to the source or to a named queue, oldest first, rate-limited,
//! with progress and cancel.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error};

/// Sets up `src` dead-lettering into `dlq` after one receive and dead-letters `n` messages
/// named m0, m1, … (sent in that order).
async fn dead_lettered(app: &TestApp, n: usize) {
    app.create_queue("dlq", json!({})).await;
    app.create_queue(
        "src",
        json!({"dead_letter": {"queue": "dlq", "max_receive_count": 1}}),
    )
    .await;
    for i in 0..n {
        app.send("src", &format!("m{i}")).await;
    }
    while !app
        .receive("src", json!({"max_messages": 100, "visibility_timeout": 0}))
        .await
        .is_empty()
    {}
    assert_eq!(app.counts("dlq").await["visible"], n);
}

async fn task(app: &TestApp, id: &Value) -> Value {
    let r = app
        .get(&format!("/v1/queues/dlq/redrive/{}", id.as_str().unwrap()))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

#[tokio::test]
async fn redrive_returns_messages_to_their_source_at_the_given_rate() {
    let app = TestApp::spawn().await;
    dead_lettered(&app, 25).await;
    let r = app
        .post("/v1/queues/dlq/redrive", json!({"max_per_second": 10}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["status"], "running");
    assert_eq!(r.body["to_move"], 25);
    let id = r.body["id"].clone();

    assert_eq!(app.engine.run_mover_once().await.unwrap(), 10);
    assert_eq!(task(&app, &id).await["moved"], 10);
    assert_eq!(app.engine.run_mover_once().await.unwrap(), 10);
    assert_eq!(app.engine.run_mover_once().await.unwrap(), 5);
    assert_eq!(app.engine.run_mover_once().await.unwrap(), 0);
    let done = task(&app, &id).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["moved"], 25);

    // Oldest first, fresh receive counts, same ids and bodies.
    let peeked = app.get("/v1/queues/src/messages/peek?limit=100").await.body;
    let bodies: Vec<&str> = peeked["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (0..25).map(|i| format!("m{i}")).collect();
    assert_eq!(bodies, expected);
    assert!(
        peeked["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["receive_count"] == 0)
    );
    assert_eq!(app.counts("dlq").await["visible"], 0);
}

#[tokio::test]
async fn redrive_to_a_named_queue_and_only_one_task_at_a_time() {
    let app = TestApp::spawn().await;
    dead_lettered(&app, 3).await;
    app.create_queue("elsewhere", json!({})).await;
    let r = app
        .post(
            "/v1/queues/dlq/redrive",
            json!({"destination": "elsewhere"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["destination"], "elsewhere");
    let second = app.post("/v1/queues/dlq/redrive", json!({})).await;
    assert_error(&second, StatusCode::CONFLICT, "conflict");
    app.engine.run_mover_once().await.unwrap();
    app.engine.run_mover_once().await.unwrap();
    assert_eq!(app.counts("elsewhere").await["visible"], 3);
    assert_eq!(app.counts("src").await["visible"], 0);
    let list = app.get("/v1/queues/dlq/redrive").await;
    assert_eq!(list.body["tasks"][0]["status"], "completed");

    for bad in [
        json!({"destination": "missing"}),
        json!({"destination": "dlq"}),
        json!({"max_per_second": 0}),
    ] {
        let r = app.post("/v1/queues/dlq/redrive", bad).await;
        assert!(r.status.is_client_error(), "{}", r.body);
    }
}

#[tokio::test]
async fn a_cancelled_redrive_stops_and_keeps_what_it_moved() {
    let app = TestApp::spawn().await;
    dead_lettered(&app, 5).await;
    let r = app
        .post("/v1/queues/dlq/redrive", json!({"max_per_second": 2}))
        .await;
    let id = r.body["id"].as_str().unwrap().to_owned();
    app.engine.run_mover_once().await.unwrap();
    let r = app
        .request(
            Method::DELETE,
            &format!("/v1/queues/dlq/redrive/{id}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "cancelled");
    assert_eq!(r.body["moved"], 2);
    assert_eq!(app.engine.run_mover_once().await.unwrap(), 0);
    assert_eq!(app.counts("src").await["visible"], 2);
    assert_eq!(app.counts("dlq").await["visible"], 3);
    let again = app
        .request(
            Method::DELETE,
            &format!("/v1/queues/dlq/redrive/{id}"),
            None,
        )
        .await;
    assert_error(&again, StatusCode::CONFLICT, "conflict");
    let missing = app
        .get("/v1/queues/dlq/redrive/00000000-0000-0000-0000-000000000000")
        .await;
    assert_error(&missing, StatusCode::NOT_FOUND, "task_not_found");
}

#[tokio::test]
async fn messages_whose_source_was_deleted_fail_the_task_and_stay() {
    let app = TestApp::spawn().await;
    dead_lettered(&app, 2).await;
    app.request(Method::DELETE, "/v1/queues/src", None).await;
    let r = app.post("/v1/queues/dlq/redrive", json!({})).await;
    let id = r.body["id"].clone();
    assert_eq!(app.engine.run_mover_once().await.unwrap(), 0);
    let t = task(&app, &id).await;
    assert_eq!(t["status"], "failed");
    assert!(
        t["failure_reason"]
            .as_str()
            .unwrap()
            .contains("2 message(s)")
    );
    assert_eq!(app.counts("dlq").await["visible"], 2);
}

#[tokio::test]
async fn deleting_a_dead_letter_queue_detaches_it_from_its_sources() {
    let app = TestApp::spawn().await;
    dead_lettered(&app, 1).await;
    let r = app.request(Method::DELETE, "/v1/queues/dlq", None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let src = app.get("/v1/queues/src").await;
    assert_eq!(src.status, StatusCode::OK, "{}", src.body);
    assert_eq!(src.body["settings"]["dead_letter"], Value::Null);
    // The source goes on without a dead-letter queue: receives keep delivering.
    app.send("src", "again").await;
    for _ in 0..3 {
        let got = app.receive("src", json!({"visibility_timeout": 0})).await;
        assert_eq!(got.len(), 1);
    }
}

#[tokio::test]
async fn deleting_the_destination_of_a_running_redrive_fails_the_task() {
    let app = TestApp::spawn().await;
    dead_lettered(&app, 2).await;
    app.create_queue("elsewhere", json!({})).await;
    let r = app
        .post(
            "/v1/queues/dlq/redrive",
            json!({"destination": "elsewhere", "max_per_second": 1}),
        )
        .await;
    let id = r.body["id"].clone();
    assert_eq!(app.engine.run_mover_once().await.unwrap(), 1);
    let r = app
        .request(Method::DELETE, "/v1/queues/elsewhere", None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(app.engine.run_mover_once().await.unwrap(), 0);
    let t = task(&app, &id).await;
    assert_eq!(t["status"], "failed");
    assert_eq!(t["moved"], 1);
    assert_eq!(t["destination"], "elsewhere");
    assert_eq!(
        t["failure_reason"],
        "AWS.SimpleQueueService.NonExistentQueue"
    );
    assert_eq!(app.counts("dlq").await["visible"], 1);
}
