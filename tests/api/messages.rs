//! Message semantics: send, receive, visibility, receipt handles, delay, long polling,
//! batches, back pressure, retention, peek, concurrent receivers.

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::{Value, json};
use spool::{
    api::messages::{
        HandleEntry, ReceiveRequest, ReceiveResponse, SendBatchResponse, SendEntryDto, SentMessage,
    },
    domain::MessageState,
};

use crate::helpers::{TestApp, assert_error};

#[tokio::test]
async fn send_receive_delete_round_trip_with_sqs_checksums() {
    let app = TestApp::spawn().await;
    app.create_queue("q", json!({})).await;
    let sent = app
        .post(
            "/v1/queues/q/messages",
            json!({"body": "hello", "attributes": {
                "attribName1": {"data_type": "String", "string_value": "attribValue 1"}}}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    let sent: SentMessage = sent.parse();
    assert_eq!(sent.md5_of_body, "5d41402abc4b2a76b9719d911017c592");
    assert_eq!(
        sent.md5_of_attributes.as_deref(),
        Some("19e27d4e946b072f3f58da80d94fd778")
    );

    let got = app.api().receive("q", ReceiveRequest::default()).await;
    let [m] = &got[..] else { panic!("{got:?}") };
    assert_eq!(m.message_id, sent.message_id);
    assert_eq!(m.body, "hello");
    assert_eq!(
        m.attributes["attribName1"].string_value.as_deref(),
        Some("attribValue 1")
    );
    assert_eq!(m.md5_of_body, "5d41402abc4b2a76b9719d911017c592");
    assert_eq!(
        m.md5_of_attributes.as_deref(),
        Some("19e27d4e946b072f3f58da80d94fd778")
    );
    assert_eq!(m.receive_count, 1);
    assert!(m.first_received_at.is_some());

    assert!(app.api().delete("q", &m.receipt_handle).await.deleted);
    assert_eq!(app.counts("q").await["in_flight"], 0);
}

#[tokio::test]
async fn a_received_message_is_hidden_until_its_visibility_timeout_passes() {
    let app = TestApp::spawn().await;
    app.create_queue("q", json!({})).await;
    app.send("q", "x").await;
    let first = app.receive("q", json!({"visibility_timeout": 1})).await;
    assert_eq!(first.len(), 1);
    assert!(app.receive("q", json!({})).await.is_empty());
    // Back after the timeout, counted as a second receive; a long poll waits for it.
    let again = app.receive("q", json!({"wait_seconds": 3})).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0]["receive_count"], 2);
    assert_eq!(again[0]["first_received_at"], first[0]["first_received_at"]);
    assert_ne!(again[0]["receipt_handle"], first[0]["receipt_handle"]);
}

#[tokio::test]
async fn a_stale_receipt_handle_does_not_touch_the_new_delivery() {
    let app = TestApp::spawn().await;
    app.create_queue("q", json!({})).await;
    app.send("q", "x").await;
    let old = app.receive("q", json!({"visibility_timeout": 0})).await;
    let new = app.receive("q", json!({"visibility_timeout": 30})).await;
    assert_eq!(old[0]["message_id"], new[0]["message_id"]);
    let old_handle = old[0]["receipt_handle"].as_str().unwrap();
    let new_handle = new[0]["receipt_handle"].as_str().unwrap();

    // Changing visibility with the old handle fails and leaves the message hidden.
    let r = app
        .post(
            "/v1/queues/q/messages/visibility",
            json!({"receipt_handle": old_handle, "visibility_timeout": 0}),
        )
        .await;
    assert_error(&r, StatusCode::CONFLICT, "message_not_in_flight");
    assert!(app.receive("q", json!({})).await.is_empty());

    // Deleting with the old handle succeeds like SQS but deletes nothing.
    let r = app.delete("q", old_handle).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["deleted"], false);
    assert_eq!(app.counts("q").await["in_flight"], 1);

    let r = app.delete("q", new_handle).await;
    assert_eq!(r.body["deleted"], true);
    assert_eq!(app.counts("q").await["in_flight"], 0);
}

#[tokio::test]
async fn forged_malformed_and_foreign_handles_are_rejected() {
    let app = TestApp::spawn().await;
    app.create_queue("q", json!({})).await;
    app.create_queue("other", json!({})).await;
    app.send("other", "x").await;
    let foreign = app.receive("other", json!({})).await[0]["receipt_handle"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut forged = foreign.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    for handle in [
        "",
        "not-a-handle",
        "AAAA",
        forged.as_str(),
        foreign.as_str(),
    ] {
        let r = app.delete("q", handle).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_receipt_handle");
        let r = app
            .post(
                "/v1/queues/q/messages/visibility",
                json!({"receipt_handle": handle, "visibility_timeout": 5}),
            )
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_receipt_handle");
    }
    // The forged handle touched nothing in the other queue.
    assert_eq!(app.counts("other").await["in_flight"], 1);
}

#[tokio::test]
async fn changing_visibility_hides_longer_or_releases_at_once() {
    let app = TestApp::spawn().await;
    app.create_queue("q", json!({})).await;
    app.send("q", "x").await;
    let got = app.receive("q", json!({"visibility_timeout": 1})).await;
    let handle = got[0]["receipt_handle"].as_str().unwrap();
    app.api().change_visibility("q", handle, 600).await;
    // Still hidden after the original 1 s.
    assert!(
        app.receive("q", json!({"wait_seconds": 1}))
            .await
            .is_empty()
    );
    app.api().change_visibility("q", handle, 0).await;
    assert_eq!(app.receive("q", json!({})).await.len(), 1);
    let r = app
        .post(
            "/v1/queues/q/messages/visibility",
            json!({"receipt_handle": handle, "visibility_timeout": 43_201}),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn delayed_messages_stay_invisible_until_due() {
    let app = TestApp::spawn().await;
    app.create_queue("q", json!({"delay_seconds": 1})).await;
    app.send("q", "queue delay").await;
    app.post(
        "/v1/queues/q/messages",
        json!({"body": "no delay", "delay_seconds": 0}),
    )
    .await;
    let now = app.receive("q", json!({"max_messages": 10})).await;
    assert_eq!(now.len(), 1);
    assert_eq!(now[0]["body"], "no delay");
    assert_eq!(app.counts("q").await["delayed"], 1);
    // The long poll wakes when the delay is over, without a send.
    let start = Instant::now();
    let later = app.receive("q", json!({"wait_seconds": 5})).await;
    assert_eq!(later.len(), 1);
    assert_eq!(later[0]["body"], "queue delay");
    assert!(start.elapsed() < Duration::from_secs(3));
    let r = app
        .post(
            "/v1/queues/q/messages",
            json!({"body": "x", "delay_seconds": 901}),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn a_long_poll_returns_as_soon_as_a_message_is_sent() {
    let app = TestApp::spawn().await;
    app.create_queue("q", json!({})).await;
    let url = app.url("/v1/queues/q/messages/receive");
    let client = app.client.clone();
    let start = Instant::now();
    let poller = tokio::spawn(async move {
        let r = client
            .post(url)
            .json(&json!({"wait_seconds": 20}))
            .send()
            .await
            .unwrap();
        (r.json::<Value>().await.unwrap(), start.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent_at = start.elapsed();
    app.send("q", "wake up").await;
    let (got, returned_at) = poller.await.unwrap();
    assert_eq!(got["messages"][0]["body"], "wake up");
    // Woken by the send, not by the slow poll fallback.
    assert!(
        returned_at - sent_at < Duration::from_millis(500),
        "took {:?} after the send",
        returned_at - sent_at
    );
}

#[tokio::test]
async fn an_empty_long_poll_returns_when_the_wait_ends() {
    let app = TestApp::spawn().await;
    app.create_queue("q", json!({"receive_wait_seconds": 1}))
        .await;
    let start = Instant::now();
    assert!(app.receive("q", json!({})).await.is_empty());
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(950) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    let start = Instant::now();
    assert!(
        app.receive("q", json!({"wait_seconds": 0}))
            .await
            .is_empty()
    );
    assert!(start.elapsed() < Duration::from_millis(500));
}

#[tokio::test]
async fn batches_report_failures_per_entry_and_send_the_rest() {
    let app = TestApp::spawn().await;
    app.create_queue("q", json!({"max_message_bytes": 1024}))
        .await;
    let r = app
        .post(
            "/v1/queues/q/messages",
            json!({"messages": [
                {"id": "ok1", "body": "one"},
                {"id": "empty", "body": ""},
                {"id": "big", "body": "x".repeat(1025)},
                {"id": "nul", "body": "a\u{0}b"},
                {"id": "attr", "body": "x", "attributes": {"AWS.x": {"data_type": "String", "string_value": "v"}}},
                {"id": "ok2", "body": "two", "delay_seconds": 0},
            ]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r: SendBatchResponse = r.parse();
    let ok: Vec<_> = r.successful.iter().map(|e| e.id.as_deref()).collect();
    assert_eq!(ok, [Some("ok1"), Some("ok2")]);
    let failed: Vec<_> = r
        .failed
        .iter()
        .map(|e| (e.id.as_str(), e.error.code.as_str()))
        .collect();
    assert_eq!(
        failed,
        [
            ("empty", "invalid_request"),
            ("big", "payload_too_large"),
            ("nul", "invalid_request"),
            ("attr", "invalid_request")
        ]
    );
    let ten = || ReceiveRequest {
        max_messages: Some(10),
        ..ReceiveRequest::default()
    };
    let got = app.api().receive("q", ten()).await;
    let mut bodies: Vec<&str> = got.iter().map(|m| m.body.as_str()).collect();
    bodies.sort_unstable();
    assert_eq!(bodies, ["one", "two"]);

    // Batch delete and visibility: a bad handle fails alone.
    let entry = |id: String, handle: &str| HandleEntry {
        id: Some(id),
        receipt_handle: handle.to_owned(),
        visibility_timeout: Some(0),
    };
    let entries: Vec<HandleEntry> = got
        .iter()
        .enumerate()
        .map(|(i, m)| entry(format!("m{i}"), &m.receipt_handle))
        .chain([entry("bad".to_owned(), "garbage")])
        .collect();
    let r = app.api().change_visibility_batch("q", &entries).await;
    assert_eq!(r.successful.len(), 2, "{r:?}");
    assert_eq!(r.failed[0].id, "bad");
    assert_eq!(r.failed[0].error.code, "invalid_receipt_handle");

    let got = app.api().receive("q", ten()).await;
    let entries: Vec<Value> = got
        .iter()
        .map(|m| json!({"receipt_handle": m.receipt_handle}))
        .chain([json!({"receipt_handle": "garbage"})])
        .collect();
    let r = app
        .post("/v1/queues/q/messages/delete", json!({"entries": entries}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body["successful"],
        json!([{"id": "0", "deleted": true}, {"id": "1", "deleted": true}])
    );
    assert_eq!(r.body["failed"][0]["id"], "2");
    assert_eq!(
        app.counts("q").await,
        json!({"visible": 0, "in_flight": 0, "delayed": 0, "oldest_message_age_seconds": null})
    );
}

#[tokio::test]
async fn batch_shape_errors_fail_the_whole_request() {
    let app = TestApp::spawn().await;
    app.create_queue("q", json!({})).await;
    let too_many: Vec<Value> = (0..101).map(|i| json!({"body": format!("{i}")})).collect();
    for body in [
        json!({"messages": []}),
        json!({"messages": too_many}),
        json!({"messages": [{"id": "a", "body": "x"}, {"id": "a", "body": "y"}]}),
        json!({"messages": [{"id": "bad id", "body": "x"}]}),
        json!({"body": "x", "messages": [{"body": "y"}]}),
        json!({}),
    ] {
        let r = app.post("/v1/queues/q/messages", body).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    }
    assert_eq!(app.counts("q").await["visible"], 0);
}

#[tokio::test]
async fn a_queue_at_its_max_depth_refuses_sends_with_429() {
    let app = TestApp::spawn().await;
    app.create_queue("q", json!({"max_depth": 3})).await;
    app.send("q", "1").await;
    app.send("q", "2").await;
    let r = app
        .post(
            "/v1/queues/q/messages",
            json!({"messages": [{"body": "3"}, {"body": "4"}]}),
        )
        .await;
    let r: SendBatchResponse = r.parse();
    assert_eq!(r.successful.len(), 1, "{r:?}");
    assert_eq!(r.failed[0].error.code, "queue_full");
    let r = app
        .post("/v1/queues/q/messages", json!({"body": "5"}))
        .await;
    assert_error(&r, StatusCode::TOO_MANY_REQUESTS, "queue_full");
    assert_eq!(r.headers["retry-after"], "1");
    // Room again once a message is gone.
    let got = app.receive("q", json!({})).await;
    app.delete("q", got[0]["receipt_handle"].as_str().unwrap())
        .await;
    app.send("q", "6").await;
}

#[tokio::test]
async fn messages_past_retention_are_swept() {
    let app = TestApp::spawn().await;
    app.create_queue("q", json!({"retention_seconds": 60}))
        .await;
    app.create_queue("keep", json!({"retention_seconds": 3600}))
        .await;
    app.send("q", "old").await;
    app.send("q", "new").await;
    app.send("keep", "old but kept").await;
    // Age two messages by two minutes instead of waiting.
    sqlx::query(
        "update messages set sent_at = sent_at - interval '2 minutes' where body like 'old%'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    assert_eq!(app.engine.run_sweeper_once().await.unwrap(), 1);
    let got = app.receive("q", json!({"max_messages": 10})).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["body"], "new");
    assert_eq!(app.counts("keep").await["visible"], 1);
    assert_eq!(app.engine.run_sweeper_once().await.unwrap(), 0);
}

#[tokio::test]
async fn peek_shows_messages_without_receiving_them() {
    let app = TestApp::spawn().await;
    app.create_queue("q", json!({})).await;
    app.send("q", "first").await;
    app.send("q", "second").await;
    app.post(
        "/v1/queues/q/messages",
        json!({"body": "third", "delay_seconds": 60}),
    )
    .await;
    app.receive("q", json!({})).await;
    let r = app.get("/v1/queues/q/messages/peek?limit=10").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["messages"][0].get("receipt_handle").is_none());
    let states: Vec<_> = app
        .api()
        .peek("q", 10)
        .await
        .into_iter()
        .map(|m| (m.body, m.state, m.receive_count))
        .collect();
    assert_eq!(
        states,
        [
            ("first".to_owned(), MessageState::InFlight, 1),
            ("second".to_owned(), MessageState::Visible, 0),
            ("third".to_owned(), MessageState::Delayed, 0)
        ]
    );
    // Peeking changed nothing.
    assert_eq!(app.receive("q", json!({"max_messages": 10})).await.len(), 1);
    let r = app.get("/v1/queues/q/messages/peek?limit=0").await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn concurrent_receivers_never_get_the_same_message() {
    let app = TestApp::spawn().await;
    app.create_queue("q", json!({})).await;
    let total = 300;
    for chunk in (0..total).collect::<Vec<_>>().chunks(100) {
        let messages: Vec<SendEntryDto> = chunk
            .iter()
            .map(|i| SendEntryDto {
                body: format!("m{i}"),
                ..SendEntryDto::default()
            })
            .collect();
        let r = app.api().send_batch("q", &messages).await;
        assert_eq!(r.successful.len(), chunk.len());
    }
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let client = app.client.clone();
        let url = app.url("/v1/queues/q/messages/receive");
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                let r: ReceiveResponse = client
                    .post(&url)
                    .json(&json!({"max_messages": 7, "visibility_timeout": 60}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if r.messages.is_empty() {
                    return seen;
                }
                seen.extend(r.messages.into_iter().map(|m| m.body));
            }
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(all.len(), total, "some message was delivered twice or lost");
    assert_eq!(unique.len(), total);
}

#[tokio::test]
async fn receive_options_are_validated() {
    let app = TestApp::spawn().await;
    app.create_queue("q", json!({})).await;
    for bad in [
        json!({"max_messages": 0}),
        json!({"max_messages": 101}),
        json!({"visibility_timeout": -1}),
        json!({"wait_seconds": 21}),
        json!({"max_messages": "ten"}),
        json!({"unknown": 1}),
    ] {
        let r = app.post("/v1/queues/q/messages/receive", bad).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    }
}

#[tokio::test]
async fn concurrent_sends_share_commits_and_all_land() {
    let app = TestApp::spawn().await;
    app.create_queue("q", json!({})).await;
    let api = app.api();
    let bodies: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
    futures::future::join_all(bodies.iter().map(|body| api.send("q", body))).await;
    assert_eq!(app.counts("q").await["visible"], 200);
    let hundred = ReceiveRequest {
        max_messages: Some(100),
        ..ReceiveRequest::default()
    };
    let entries: Vec<HandleEntry> = api
        .receive("q", hundred)
        .await
        .into_iter()
        .map(|m| HandleEntry {
            receipt_handle: m.receipt_handle,
            ..HandleEntry::default()
        })
        .collect();
    let deletes = entries.chunks(10).map(|chunk| api.delete_batch("q", chunk));
    for r in futures::future::join_all(deletes).await {
        assert!(r.successful.iter().all(|e| e.deleted), "{r:?}");
    }
    assert_eq!(app.counts("q").await["visible"], 100);
    assert_eq!(app.counts("q").await["in_flight"], 0);
}

#[tokio::test]
async fn a_relaxed_durability_queue_behaves_the_same() {
    let app = TestApp::spawn().await;
    let q = app
        .create_queue("fast", json!({"durability": "relaxed"}))
        .await;
    assert_eq!(q["settings"]["durability"], "relaxed");
    app.send("fast", "x").await;
    let got = app.api().receive("fast", ReceiveRequest::default()).await;
    assert_eq!(got.len(), 1);
    assert!(
        app.api()
            .delete("fast", &got[0].receipt_handle)
            .await
            .deleted
    );
    let r = app
        .post(
            "/v1/queues",
            json!({"name": "bad", "durability": "sometimes"}),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn a_receive_acknowledges_the_previous_batch() {
    let app = TestApp::spawn().await;
    let q = "acks";
    app.create_queue(q, json!({})).await;
    for i in 0..4 {
        app.send(q, &format!("m{i}")).await;
    }
    let first = app
        .receive(q, json!({"max_messages": 2, "visibility_timeout": 0}))
        .await;
    assert_eq!(first.len(), 2);
    let handles: Vec<&str> = first
        .iter()
        .map(|m| m["receipt_handle"].as_str().unwrap())
        .collect();

    // The next receive deletes them first: a forged handle fails by position, the rest count.
    let r = app
        .post(
            &format!("/v1/queues/{q}/messages/receive"),
            json!({"max_messages": 10, "acknowledge": [handles[0], "forged", handles[1]]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let acknowledged = &r.body["acknowledged"];
    assert_eq!(
        acknowledged["successful"],
        json!([{"id": "0", "deleted": true}, {"id": "2", "deleted": true}])
    );
    assert_eq!(acknowledged["failed"][0]["id"], "1");
    assert_eq!(
        acknowledged["failed"][0]["error"]["code"],
        "invalid_receipt_handle"
    );
    // The deleted pair never comes back (visibility 0 would have shown them at once).
    let bodies: Vec<&str> = r.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    for m in &first {
        assert!(!bodies.contains(&m["body"].as_str().unwrap()), "{bodies:?}");
    }
    // Without `acknowledge` the response has no `acknowledged`; too many handles is a 400.
    let r = app
        .post(&format!("/v1/queues/{q}/messages/receive"), json!({}))
        .await;
    assert!(r.body.get("acknowledged").is_none(), "{}", r.body);
    let many = vec!["h"; 101];
    let r = app
        .post(
            &format!("/v1/queues/{q}/messages/receive"),
            json!({"acknowledge": many}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
}
