//! Queue management: create (idempotent), get with counts, list with pagination, update,
//! delete, purge.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, assert_error};

#[tokio::test]
async fn a_new_queue_has_sqs_defaults() {
    let app = TestApp::spawn().await;
    let q = app.create_queue("orders", json!({})).await;
    assert_eq!(q["name"], "orders");
    assert_eq!(
        q["settings"],
        json!({
            "visibility_timeout": 30, "delay_seconds": 0, "retention_seconds": 345_600,
            "max_message_bytes": 1_048_576, "receive_wait_seconds": 0,
            "dead_letter": null, "max_depth": null, "durability": "durable", "fifo": false
        })
    );
}

#[tokio::test]
async fn creating_again_is_idempotent_with_same_settings_and_a_conflict_otherwise() {
    let app = TestApp::spawn().await;
    app.create_queue("orders", json!({"visibility_timeout": 10}))
        .await;
    let same = app
        .post(
            "/v1/queues",
            json!({"name": "orders", "visibility_timeout": 10}),
        )
        .await;
    assert_eq!(same.status, StatusCode::OK);
    assert_eq!(same.body["settings"]["visibility_timeout"], 10);
    let other = app
        .post(
            "/v1/queues",
            json!({"name": "orders", "visibility_timeout": 11}),
        )
        .await;
    assert_error(&other, StatusCode::CONFLICT, "queue_already_exists");
}

#[tokio::test]
async fn get_reports_live_counts_by_state() {
    let app = TestApp::spawn().await;
    app.create_queue("q", json!({})).await;
    let empty = app.counts("q").await;
    assert_eq!(
        empty,
        json!({"visible": 0, "in_flight": 0, "delayed": 0, "oldest_message_age_seconds": null})
    );
    for body in ["a", "b", "c"] {
        app.send("q", body).await;
    }
    app.post(
        "/v1/queues/q/messages",
        json!({"body": "later", "delay_seconds": 600}),
    )
    .await;
    assert_eq!(app.receive("q", json!({})).await.len(), 1);
    let counts = app.api().queue("q").await.counts.expect("counts");
    assert_eq!(
        (counts.visible, counts.in_flight, counts.delayed),
        (2, 1, 1)
    );
    assert_eq!(counts.oldest_message_age_seconds, Some(0));
}

#[tokio::test]
async fn list_filters_by_prefix_and_pages_with_a_cursor() {
    let app = TestApp::spawn().await;
    for name in ["a-1", "a-2", "a-3", "a-4", "a-5", "b-1"] {
        app.create_queue(name, json!({})).await;
    }
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("prefix=a-&limit=2&cursor={c}"),
            None => "prefix=a-&limit=2".to_owned(),
        };
        let page = app.api().list_queues(&query).await;
        pages += 1;
        names.extend(page.queues.into_iter().map(|q| q.name));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(names, ["a-1", "a-2", "a-3", "a-4", "a-5"]);
    assert_eq!(pages, 3);
    let all = app.get("/v1/queues").await;
    assert_eq!(all.body["queues"].as_array().unwrap().len(), 6);
    let bad = app.get("/v1/queues?cursor=%%%").await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "invalid_request");
    let bad = app.get("/v1/queues?limit=0").await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn update_changes_only_the_given_settings() {
    let app = TestApp::spawn().await;
    app.create_queue("dlq", json!({})).await;
    app.create_queue("q", json!({"delay_seconds": 5, "max_depth": 10}))
        .await;
    let r = app
        .request(
            Method::PATCH,
            "/v1/queues/q",
            Some(json!({"visibility_timeout": 60,
                        "dead_letter": {"queue": "dlq", "max_receive_count": 3}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let s = &r.body["settings"];
    assert_eq!(s["visibility_timeout"], 60);
    assert_eq!(s["delay_seconds"], 5);
    assert_eq!(s["max_depth"], 10);
    assert_eq!(
        s["dead_letter"],
        json!({"queue": "dlq", "max_receive_count": 3})
    );

    let r = app
        .request(
            Method::PATCH,
            "/v1/queues/q",
            Some(json!({"dead_letter": null, "max_depth": null})),
        )
        .await;
    assert_eq!(r.body["settings"]["dead_letter"], json!(null));
    assert_eq!(r.body["settings"]["max_depth"], json!(null));
    assert_eq!(r.body["settings"]["visibility_timeout"], 60);
}

#[tokio::test]
async fn settings_out_of_range_are_rejected() {
    let app = TestApp::spawn().await;
    for bad in [
        json!({"visibility_timeout": 43_201}),
        json!({"visibility_timeout": -1}),
        json!({"delay_seconds": 901}),
        json!({"retention_seconds": 59}),
        json!({"retention_seconds": 1_209_601}),
        json!({"max_message_bytes": 1023}),
        json!({"max_message_bytes": 1_048_577}),
        json!({"receive_wait_seconds": 21}),
        json!({"max_depth": 0}),
        json!({"dead_letter": {"queue": "missing", "max_receive_count": 3}}),
    ] {
        let mut body = bad.clone();
        body["name"] = json!("q");
        let r = app.post("/v1/queues", body).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    }
    app.create_queue("dlq", json!({})).await;
    for count in [0, 1001] {
        let r = app
            .post(
                "/v1/queues",
                json!({"name": "q", "dead_letter": {"queue": "dlq", "max_receive_count": count}}),
            )
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    }
    for name in ["", "with space", "x".repeat(81).as_str(), "dots.are.bad"] {
        let r = app.post("/v1/queues", json!({"name": name})).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    }
}

#[tokio::test]
async fn dead_letter_cycles_are_rejected() {
    let app = TestApp::spawn().await;
    app.create_queue("a", json!({})).await;
    app.create_queue(
        "b",
        json!({"dead_letter": {"queue": "a", "max_receive_count": 1}}),
    )
    .await;
    let r = app
        .request(
            Method::PATCH,
            "/v1/queues/a",
            Some(json!({"dead_letter": {"queue": "b", "max_receive_count": 1}})),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    let r = app
        .request(
            Method::PATCH,
            "/v1/queues/a",
            Some(json!({"dead_letter": {"queue": "a", "max_receive_count": 1}})),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn delete_removes_the_queue_and_its_messages() {
    let app = TestApp::spawn().await;
    app.create_queue("q", json!({})).await;
    app.send("q", "x").await;
    let r = app.request(Method::DELETE, "/v1/queues/q", None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_error(
        &app.get("/v1/queues/q").await,
        StatusCode::NOT_FOUND,
        "queue_not_found",
    );
    let left: i64 = sqlx::query_scalar("select count(*) from messages")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    let again = app.request(Method::DELETE, "/v1/queues/q", None).await;
    assert_error(&again, StatusCode::NOT_FOUND, "queue_not_found");
    // The name is free again.
    app.create_queue("q", json!({})).await;
}

/// A send that resolved its queue before the queue was deleted can commit its rows after the
/// delete (no foreign key checks each row); the sweeper removes them.
#[tokio::test]
async fn rows_committed_into_a_deleted_queue_are_swept() {
    let app = TestApp::spawn().await;
    app.create_queue("q", json!({})).await;
    app.create_queue("kept", json!({})).await;
    app.send("kept", "stays").await;
    let id: i64 = sqlx::query_scalar("select id from queues where name = 'q'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let r = app.request(Method::DELETE, "/v1/queues/q", None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // What a late send leaves behind: rows of a queue id that no longer exists.
    sqlx::query(
        "insert into messages (queue_id, visible_at, sent_at, message_id, body) \
         select $1, now(), now(), gen_random_uuid(), 'late' from generate_series(1, 250)",
    )
    .bind(id)
    .execute(&app.pool)
    .await
    .unwrap();
    assert_eq!(app.engine.run_sweeper_once().await.unwrap(), 250);
    let left: Vec<String> = sqlx::query_scalar("select body from messages")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(left, ["stays"]);
}

#[tokio::test]
async fn purge_deletes_every_message_and_keeps_the_queue() {
    let app = TestApp::spawn().await;
    app.create_queue("q", json!({})).await;
    app.create_queue("other", json!({})).await;
    for _ in 0..3 {
        app.send("q", "x").await;
    }
    app.send("other", "y").await;
    app.receive("q", json!({})).await;
    let r = app.post("/v1/queues/q/purge", json!({})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["purged"], 3);
    assert_eq!(app.counts("q").await["visible"], 0);
    assert_eq!(app.counts("other").await["visible"], 1);
}

#[tokio::test]
async fn unknown_queues_are_404_everywhere() {
    let app = TestApp::spawn().await;
    let handle = "AQAAAAAAAAAB";
    for (method, path, body) in [
        (Method::GET, "/v1/queues/nope", None),
        (Method::PATCH, "/v1/queues/nope", Some(json!({}))),
        (Method::DELETE, "/v1/queues/nope", None),
        (Method::POST, "/v1/queues/nope/purge", Some(json!({}))),
        (
            Method::POST,
            "/v1/queues/nope/messages",
            Some(json!({"body": "x"})),
        ),
        (
            Method::POST,
            "/v1/queues/nope/messages/receive",
            Some(json!({})),
        ),
        (
            Method::POST,
            "/v1/queues/nope/messages/delete",
            Some(json!({"receipt_handle": handle})),
        ),
        (
            Method::POST,
            "/v1/queues/nope/messages/visibility",
            Some(json!({"receipt_handle": handle, "visibility_timeout": 1})),
        ),
        (Method::GET, "/v1/queues/nope/messages/peek", None),
        (Method::POST, "/v1/queues/nope/redrive", Some(json!({}))),
        (Method::GET, "/v1/queues/nope/redrive", None),
    ] {
        let r = app.request(method.clone(), path, body).await;
        assert_error(&r, StatusCode::NOT_FOUND, "queue_not_found");
    }
}
