//! FIFO queues through the native API: type at creation, order and blocking per group,
//! deduplication, sequence numbers, receive attempts, handle expiry, dead-letter round trip.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error};

/// Sends `(group, body)` messages in one batch, with deduplication ids that sort in the
/// opposite order (send order, not key order, is what counts).
async fn send_all(app: &TestApp, queue: &str, messages: &[(&str, &str)]) -> Vec<Value> {
    let entries: Vec<Value> = messages
        .iter()
        .enumerate()
        .map(|(i, (g, b))| json!({"body": b, "group_id": g, "deduplication_id": format!("d{}", 999 - i)}))
        .collect();
    let r = app
        .post(
            &format!("/v1/queues/{queue}/messages"),
            json!({"messages": entries}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["failed"], json!([]), "{}", r.body);
    r.body["successful"].as_array().unwrap().clone()
}

fn bodies(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect()
}

async fn visibility(app: &TestApp, queue: &str, handle: &Value, timeout: i64) -> StatusCode {
    let r = app
        .post(
            &format!("/v1/queues/{queue}/messages/visibility"),
            json!({"receipt_handle": handle, "visibility_timeout": timeout}),
        )
        .await;
    r.status
}

#[tokio::test]
async fn a_fifo_queue_is_declared_at_creation_and_keeps_its_type() {
    let app = TestApp::spawn().await;
    let q = app.create_queue("jobs.fifo", json!({"fifo": true})).await;
    assert_eq!(q["settings"]["fifo"], true);
    assert_eq!(q["settings"]["content_based_deduplication"], false);
    assert_eq!(q["settings"]["deduplication_scope"], "queue");
    assert_eq!(q["settings"]["fifo_throughput_limit"], "per_queue");
    for (body, why) in [
        (json!({"name": "plain", "fifo": true}), "fifo without .fifo"),
        (json!({"name": "named.fifo"}), ".fifo without fifo"),
        (
            json!({"name": "std", "content_based_deduplication": true}),
            "FIFO setting on a standard queue",
        ),
        (
            json!({"name": "hi.fifo", "fifo": true, "fifo_throughput_limit": "per_message_group_id"}),
            "per-group throughput needs group scope",
        ),
    ] {
        let r = app.post("/v1/queues", body).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        assert!(!r.body.to_string().is_empty(), "{why}");
    }
    let r = app
        .request(
            reqwest::Method::PATCH,
            "/v1/queues/jobs.fifo",
            Some(json!({"content_based_deduplication": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["settings"]["content_based_deduplication"], true);
    let r = app
        .request(
            reqwest::Method::PATCH,
            "/v1/queues/jobs.fifo",
            Some(json!({"fifo": false})),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    // A FIFO dead-letter queue must be FIFO.
    app.create_queue("std-dlq", json!({})).await;
    let r = app
        .post(
            "/v1/queues",
            json!({"name": "x.fifo", "fifo": true,
                   "dead_letter": {"queue": "std-dlq", "max_receive_count": 3}}),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn sends_need_a_group_and_a_deduplication_id_and_take_no_delay() {
    let app = TestApp::spawn().await;
    app.create_queue("q.fifo", json!({"fifo": true})).await;
    let path = "/v1/queues/q.fifo/messages";
    for body in [
        json!({"body": "x", "deduplication_id": "1"}),
        json!({"body": "x", "group_id": "g"}),
        json!({"body": "x", "group_id": "g", "deduplication_id": "1", "delay_seconds": 5}),
        json!({"body": "x", "group_id": "", "deduplication_id": "1"}),
        json!({"body": "x", "group_id": "g", "deduplication_id": "x".repeat(129)}),
        json!({"body": "x", "group_id": "g g", "deduplication_id": "1"}),
    ] {
        let r = app.post(path, body.clone()).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    }
    // In a batch, per entry.
    let r = app
        .post(
            path,
            json!({"messages": [
                {"id": "ok", "body": "x", "group_id": "g", "deduplication_id": "1"},
                {"id": "bad", "body": "y", "deduplication_id": "2"},
            ]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["successful"][0]["id"], "ok");
    assert_eq!(r.body["failed"][0]["id"], "bad");
    // Standard queues take no deduplication id.
    app.create_queue("std", json!({})).await;
    let r = app
        .post(
            "/v1/queues/std/messages",
            json!({"body": "x", "deduplication_id": "1"}),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn groups_deliver_in_order_and_block_only_themselves_while_in_flight() {
    let app = TestApp::spawn().await;
    app.create_queue("q.fifo", json!({"fifo": true})).await;
    let sent = send_all(
        &app,
        "q.fifo",
        &[
            ("a", "a1"),
            ("b", "b1"),
            ("a", "a2"),
            ("a", "a3"),
            ("b", "b2"),
        ],
    )
    .await;
    // Sequence numbers: decimal strings, increasing within a group.
    let seq = |i: usize| {
        sent[i]["sequence_number"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
    };
    assert!(seq(0) < seq(2) && seq(2) < seq(3) && seq(1) < seq(4));

    let first = app.receive("q.fifo", json!({"max_messages": 2})).await;
    assert_eq!(bodies(&first), ["a1", "a2"]);
    assert_eq!(first[0]["group_id"], "a");
    assert_eq!(first[0]["deduplication_id"], "d999");
    assert_eq!(first[0]["sequence_number"], sent[0]["sequence_number"]);
    // Group a is in flight: only b flows, several of it at once.
    let second = app.receive("q.fifo", json!({"max_messages": 10})).await;
    assert_eq!(bodies(&second), ["b1", "b2"]);
    assert!(
        app.receive("q.fifo", json!({"max_messages": 10}))
            .await
            .is_empty()
    );
    // Deleting one of a's batch keeps the group blocked; deleting all releases it at once.
    assert_eq!(
        app.delete("q.fifo", first[0]["receipt_handle"].as_str().unwrap())
            .await
            .status,
        StatusCode::OK
    );
    assert!(
        app.receive("q.fifo", json!({"max_messages": 10}))
            .await
            .is_empty()
    );
    app.delete("q.fifo", first[1]["receipt_handle"].as_str().unwrap())
        .await;
    let third = app.receive("q.fifo", json!({"max_messages": 10})).await;
    assert_eq!(bodies(&third), ["a3"]);
}

#[tokio::test]
async fn a_visibility_change_to_zero_and_an_expiry_return_the_head_first() {
    let app = TestApp::spawn().await;
    app.create_queue("q.fifo", json!({"fifo": true})).await;
    send_all(&app, "q.fifo", &[("g", "m1"), ("g", "m2"), ("g", "m3")]).await;
    let got = app.receive("q.fifo", json!({"max_messages": 2})).await;
    assert_eq!(bodies(&got), ["m1", "m2"]);
    // Releasing the second message alone keeps the group blocked by the first.
    assert_eq!(
        visibility(&app, "q.fifo", &got[1]["receipt_handle"], 0).await,
        StatusCode::NO_CONTENT
    );
    assert!(app.receive("q.fifo", json!({})).await.is_empty());
    assert_eq!(
        visibility(&app, "q.fifo", &got[0]["receipt_handle"], 0).await,
        StatusCode::NO_CONTENT
    );
    let again = app
        .receive(
            "q.fifo",
            json!({"max_messages": 10, "visibility_timeout": 1}),
        )
        .await;
    assert_eq!(bodies(&again), ["m1", "m2", "m3"]);
    assert_eq!(again[0]["receive_count"], 2);
    // After the 1-second timeout the head comes back first (the long poll wakes when it is due).
    let start = std::time::Instant::now();
    let expired = app
        .receive("q.fifo", json!({"max_messages": 1, "wait_seconds": 5}))
        .await;
    assert_eq!(bodies(&expired), ["m1"]);
    assert_eq!(expired[0]["receive_count"], 3);
    assert!(start.elapsed() < std::time::Duration::from_secs(4));
    // The old handle expired with its visibility timeout.
    let r = app
        .delete("q.fifo", again[0]["receipt_handle"].as_str().unwrap())
        .await;
    assert_error(&r, StatusCode::CONFLICT, "receipt_handle_expired");
    let r = app
        .post(
            "/v1/queues/q.fifo/messages/visibility",
            json!({"receipt_handle": again[1]["receipt_handle"], "visibility_timeout": 5}),
        )
        .await;
    assert_error(&r, StatusCode::CONFLICT, "receipt_handle_expired");
    // The current handle works.
    let r = app
        .delete("q.fifo", expired[0]["receipt_handle"].as_str().unwrap())
        .await;
    assert_eq!(r.body["deleted"], true);
}

/// The group's in-flight batch is found from the last message its claim delivered, not from
/// a stretch of its head: whatever the backlog behind it, a released head does not unblock
/// the group while the rest of the batch is in flight, and deletes release it at once.
#[tokio::test]
async fn a_batch_holds_its_group_until_every_message_is_done_whatever_the_backlog() {
    let app = TestApp::spawn().await;
    app.create_queue("q.fifo", json!({"fifo": true})).await;
    for batch in 0..12 {
        let entries: Vec<Value> = (0..10)
            .map(|i| {
                let n = batch * 10 + i;
                json!({"body": format!("m{n}"), "group_id": "g", "deduplication_id": format!("{n}")})
            })
            .collect();
        let r = app
            .post("/v1/queues/q.fifo/messages", json!({"messages": entries}))
            .await;
        assert_eq!(r.body["failed"], json!([]), "{}", r.body);
    }
    let handle = |m: &Value| m["receipt_handle"].as_str().unwrap().to_owned();
    let got = app.receive("q.fifo", json!({"max_messages": 10})).await;
    assert_eq!(
        bodies(&got),
        (0..10).map(|n| format!("m{n}")).collect::<Vec<_>>()
    );
    // The head released alone: m1..m9 still hold the group.
    assert_eq!(
        visibility(&app, "q.fifo", &got[0]["receipt_handle"], 0).await,
        StatusCode::NO_CONTENT
    );
    assert!(app.receive("q.fifo", json!({})).await.is_empty());
    for m in &got[1..9] {
        assert_eq!(
            app.delete("q.fifo", &handle(m)).await.status,
            StatusCode::OK
        );
    }
    // m9, the batch's last, still holds it.
    assert!(app.receive("q.fifo", json!({})).await.is_empty());
    assert_eq!(
        visibility(&app, "q.fifo", &got[9]["receipt_handle"], 0).await,
        StatusCode::NO_CONTENT
    );
    let again = app.receive("q.fifo", json!({"max_messages": 10})).await;
    assert_eq!(
        bodies(&again),
        [
            "m0", "m9", "m10", "m11", "m12", "m13", "m14", "m15", "m16", "m17"
        ]
    );
    // Deleting the whole batch releases the group at once, at its new head.
    for m in &again {
        assert_eq!(
            app.delete("q.fifo", &handle(m)).await.status,
            StatusCode::OK
        );
    }
    let next = app.receive("q.fifo", json!({"max_messages": 2})).await;
    assert_eq!(bodies(&next), ["m18", "m19"]);
    // Extending one message of the batch extends the group's hold.
    assert_eq!(
        visibility(&app, "q.fifo", &next[1]["receipt_handle"], 60).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete("q.fifo", &handle(&next[0])).await.status,
        StatusCode::OK
    );
    assert!(app.receive("q.fifo", json!({})).await.is_empty());
}

#[tokio::test]
async fn duplicates_are_accepted_not_enqueued_even_after_delete_until_purge() {
    let app = TestApp::spawn().await;
    app.create_queue(
        "q.fifo",
        json!({"fifo": true, "content_based_deduplication": true}),
    )
    .await;
    let path = "/v1/queues/q.fifo/messages";
    let first = app
        .post(
            path,
            json!({"body": "x", "group_id": "g", "deduplication_id": "d1"}),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    // Same id, other body and group: the same answer, nothing enqueued (queue scope).
    let again = app
        .post(
            path,
            json!({"body": "y", "group_id": "h", "deduplication_id": "d1"}),
        )
        .await;
    assert_eq!(again.body["message_id"], first.body["message_id"]);
    assert_eq!(again.body["sequence_number"], first.body["sequence_number"]);
    // Content-based: the body's SHA-256, also within one batch.
    let batch = app
        .post(
            path,
            json!({"messages": [
                {"id": "a", "body": "same", "group_id": "g"},
                {"id": "b", "body": "same", "group_id": "g"},
            ]}),
        )
        .await;
    let ok = &batch.body["successful"];
    assert_eq!(ok[0]["message_id"], ok[1]["message_id"], "{}", batch.body);
    let got = app.receive("q.fifo", json!({"max_messages": 10})).await;
    assert_eq!(bodies(&got), ["x", "same"]);
    assert_eq!(
        got[1]["deduplication_id"],
        "0967115f2813a3541eaef77de9d9d5773f1c0c04314b0bbfe4ff3b3b1c55b5d5"
    );
    for m in &got {
        app.delete("q.fifo", m["receipt_handle"].as_str().unwrap())
            .await;
    }
    // Still remembered after the delete.
    app.post(
        path,
        json!({"body": "x", "group_id": "g", "deduplication_id": "d1"}),
    )
    .await;
    assert!(app.receive("q.fifo", json!({})).await.is_empty());
    // Purge forgets.
    app.post("/v1/queues/q.fifo/purge", json!({})).await;
    let fresh = app
        .post(
            path,
            json!({"body": "x", "group_id": "g", "deduplication_id": "d1"}),
        )
        .await;
    assert_ne!(fresh.body["message_id"], first.body["message_id"]);
    assert_eq!(bodies(&app.receive("q.fifo", json!({})).await), ["x"]);
}

#[tokio::test]
async fn group_scoped_deduplication_lets_the_same_id_through_in_another_group() {
    let app = TestApp::spawn().await;
    app.create_queue(
        "q.fifo",
        json!({"fifo": true, "deduplication_scope": "message_group",
               "fifo_throughput_limit": "per_message_group_id"}),
    )
    .await;
    let path = "/v1/queues/q.fifo/messages";
    for (g, b) in [("a", "1"), ("b", "2"), ("a", "3")] {
        app.post(
            path,
            json!({"body": b, "group_id": g, "deduplication_id": "same"}),
        )
        .await;
    }
    let got = app.receive("q.fifo", json!({"max_messages": 10})).await;
    assert_eq!(bodies(&got), ["1", "2"]);
}

#[tokio::test]
async fn a_retried_receive_attempt_returns_the_same_messages_and_handles() {
    let app = TestApp::spawn().await;
    app.create_queue("q.fifo", json!({"fifo": true})).await;
    send_all(&app, "q.fifo", &[("g", "m1"), ("g", "m2"), ("h", "n1")]).await;
    let attempt = json!({"max_messages": 2, "receive_request_attempt_id": "try-1"});
    let first = app.receive("q.fifo", attempt.clone()).await;
    let retry = app.receive("q.fifo", attempt.clone()).await;
    assert_eq!(bodies(&first), ["m1", "m2"]);
    assert_eq!(first, retry);
    // Another attempt gets what is left.
    let other = app
        .receive(
            "q.fifo",
            json!({"max_messages": 2, "receive_request_attempt_id": "try-2"}),
        )
        .await;
    assert_eq!(bodies(&other), ["n1"]);
    // Once the attempt's messages are deleted, a retry is a fresh receive.
    for m in &first {
        app.delete("q.fifo", m["receipt_handle"].as_str().unwrap())
            .await;
    }
    assert!(app.receive("q.fifo", attempt).await.is_empty());
    let r = app
        .post(
            "/v1/queues/q.fifo/messages/receive",
            json!({"receive_request_attempt_id": "bad id"}),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    // Groups sent interleaved come back group by group, and a retry keeps that order.
    app.create_queue("i.fifo", json!({"fifo": true})).await;
    send_all(&app, "i.fifo", &[("g", "a"), ("h", "b"), ("g", "c")]).await;
    let attempt = json!({"max_messages": 10, "receive_request_attempt_id": "try-3"});
    let first = app.receive("i.fifo", attempt.clone()).await;
    assert_eq!(bodies(&first), ["a", "c", "b"]);
    assert_eq!(app.receive("i.fifo", attempt).await, first);
}

#[tokio::test]
async fn dead_letters_keep_groups_and_order_both_ways() {
    let app = TestApp::spawn().await;
    app.create_queue("dlq.fifo", json!({"fifo": true})).await;
    app.create_queue(
        "src.fifo",
        json!({"fifo": true, "dead_letter": {"queue": "dlq.fifo", "max_receive_count": 1}}),
    )
    .await;
    send_all(
        &app,
        "src.fifo",
        &[
            ("g", "m1"),
            ("h", "n1"),
            ("g", "m2"),
            ("g", "m3"),
            ("h", "n2"),
        ],
    )
    .await;
    let got = app.receive("src.fifo", json!({"max_messages": 10})).await;
    assert_eq!(got.len(), 5);
    for m in &got {
        visibility(&app, "src.fifo", &m["receipt_handle"], 0).await;
    }
    // The next receive would exceed the limit: everything moves, nothing is delivered.
    assert!(
        app.receive("src.fifo", json!({"max_messages": 10}))
            .await
            .is_empty()
    );
    let dead = app.receive("dlq.fifo", json!({"max_messages": 10})).await;
    let mut pairs: Vec<(String, String)> = dead
        .iter()
        .map(|m| {
            (
                m["group_id"].as_str().unwrap().to_owned(),
                m["body"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(bodies(&dead).len(), 5);
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        pairs.iter().map(|(_, b)| b.as_str()).collect::<Vec<_>>(),
        ["m1", "m2", "m3", "n1", "n2"]
    );
    assert_eq!(dead[0]["receive_count"], 2);
    for m in &dead {
        visibility(&app, "dlq.fifo", &m["receipt_handle"], 0).await;
    }
    // Redrive back: groups and order survive.
    let r = app.post("/v1/queues/dlq.fifo/redrive", json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(app.engine.run_mover_once().await.unwrap(), 5);
    let back = app.receive("src.fifo", json!({"max_messages": 10})).await;
    let g: Vec<&str> = back
        .iter()
        .filter(|m| m["group_id"] == "g")
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(g, ["m1", "m2", "m3"]);
    assert_eq!(back.len(), 5);
}

#[tokio::test]
async fn a_relaxed_fifo_queue_keeps_order_through_send_receive_and_delete() {
    let app = TestApp::spawn().await;
    app.create_queue("r.fifo", json!({"fifo": true, "durability": "relaxed"}))
        .await;
    send_all(&app, "r.fifo", &[("g", "a"), ("g", "b"), ("h", "c")]).await;
    let got = app.receive("r.fifo", json!({"max_messages": 10})).await;
    assert_eq!(bodies(&got), ["a", "b", "c"]);
    for m in &got[..2] {
        let r = app
            .delete("r.fifo", m["receipt_handle"].as_str().unwrap())
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    for (group, body) in [("g", "d"), ("h", "e")] {
        let r = app
            .post(
                "/v1/queues/r.fifo/messages",
                json!({"body": body, "group_id": group, "deduplication_id": body}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    // g's batch is done, h's "c" is still in flight.
    assert_eq!(
        bodies(&app.receive("r.fifo", json!({"max_messages": 10})).await),
        ["d"]
    );
}
