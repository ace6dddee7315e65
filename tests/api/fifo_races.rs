//! FIFO sends and deletes are single statements whose snapshot is taken before they wait for
//! a lock. These tests hold the lock in another transaction, let the statement queue up
//! behind it, change what it read, and check the outcome: a send whose deduplication key was
//! taken meanwhile answers as a duplicate, a delete whose group changed meanwhile leaves it
//! in a state the next claim corrects, and a send that waited for a delete taking its
//! group's row away inserts the row again.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

use crate::helpers::{Reply, TestApp};

/// A connection of the test's own to the app's database.
async fn connect(app: &TestApp) -> PgConnection {
    PgConnection::connect(app.database_url()).await.unwrap()
}

async fn queue_id(app: &TestApp, name: &str) -> i64 {
    sqlx::query_scalar("select id from queues where name = $1")
        .bind(name)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// Waits (up to 10 s) until some session of the app's database waits for a row lock.
async fn until_a_session_waits_for_a_lock(app: &TestApp) {
    for _ in 0..1000 {
        let waiting: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity \
             where datname = current_database() and wait_event_type = 'Lock'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no session waited for a lock within 10 s");
}

/// A group's `ready_at` relative to now: "past", "future", or "none" (no row).
async fn group_state(app: &TestApp, queue: i64, group: &str) -> &'static str {
    let state: Option<String> = sqlx::query_scalar(
        "select case when ready_at <= now() then 'past' else 'future' end \
         from fifo_groups where queue_id = $1 and group_id = $2",
    )
    .bind(queue)
    .bind(group)
    .fetch_optional(&app.pool)
    .await
    .unwrap();
    match state.as_deref() {
        Some("past") => "past",
        Some(_) => "future",
        None => "none",
    }
}

async fn send(app: &TestApp, body: &str, group: &str, dedup: &str) -> Reply {
    let r = app
        .post(
            "/v1/queues/q.fifo/messages",
            json!({"body": body, "group_id": group, "deduplication_id": dedup}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r
}

/// Runs `sql`, whose one parameter is `queue`, in `conn`'s transaction.
async fn on_queue(conn: &mut PgConnection, sql: &'static str, queue: i64) {
    sqlx::query(sql).bind(queue).execute(conn).await.unwrap();
}

/// Enqueues `body` into group `g` as a send does (the group's row first), in `conn`'s
/// transaction.
async fn send_in(conn: &mut PgConnection, queue: i64, body: &str) {
    on_queue(
        &mut *conn,
        "insert into fifo_groups as f (queue_id, group_id, ready_at) values ($1, 'g', now()) \
         on conflict (queue_id, group_id) do update set ready_at = f.ready_at",
        queue,
    )
    .await;
    sqlx::query(
        "insert into messages (queue_id, visible_at, sent_at, message_id, body, group_id, \
                               dedup_id) \
         values ($1, now(), now(), gen_random_uuid(), $2, 'g', $2)",
    )
    .bind(queue)
    .bind(body)
    .execute(&mut *conn)
    .await
    .unwrap();
}

/// Posts `body` to `path` in a task of its own; the task returns the status and the JSON body.
fn post_later(
    app: &TestApp,
    path: &str,
    body: Value,
) -> tokio::task::JoinHandle<(StatusCode, Value)> {
    let client = app.client.clone();
    let url = app.url(path);
    tokio::spawn(async move {
        let r = client.post(url).json(&body).send().await.unwrap();
        let status = r.status();
        (status, r.json::<Value>().await.unwrap_or(Value::Null))
    })
}

/// Deletes `message` in a task of its own.
fn delete_later(app: &TestApp, message: &Value) -> tokio::task::JoinHandle<(StatusCode, Value)> {
    post_later(
        app,
        "/v1/queues/q.fifo/messages/delete",
        json!({"receipt_handle": handle(message)}),
    )
}

/// Creates `q.fifo` with one message, m1 of group g, and receives it; returns the queue's id
/// and the message.
async fn one_in_flight(app: &TestApp) -> (i64, Value) {
    app.create_queue("q.fifo", json!({"fifo": true})).await;
    let queue = queue_id(app, "q.fifo").await;
    send(app, "m1", "g", "1").await;
    let got = app.receive("q.fifo", json!({})).await;
    assert_eq!(bodies(&got), ["m1"]);
    (queue, got[0].clone())
}

fn handle(m: &Value) -> String {
    m["receipt_handle"].as_str().unwrap().to_owned()
}

fn bodies(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_send_whose_key_is_taken_while_it_waits_answers_as_the_duplicate() {
    let app = TestApp::spawn().await;
    app.create_queue("q.fifo", json!({"fifo": true})).await;
    let queue = queue_id(&app, "q.fifo").await;
    // Another send holds the key "k", not yet committed, with an original of its own.
    let original = uuid::Uuid::new_v4();
    let mut other = connect(&app).await;
    let mut tx = other.begin().await.unwrap();
    sqlx::query(
        "insert into fifo_dedup (queue_id, scope, dedup_id, message_id, sequence_number, \
                                 expires_at) \
         values ($1, '', 'k', $2, 42, now() + interval '5 minutes')",
    )
    .bind(queue)
    .bind(original)
    .execute(&mut *tx)
    .await
    .unwrap();
    // This send's snapshot does not hold the key: it enqueues its message, then waits for
    // the key.
    let sending = post_later(
        &app,
        "/v1/queues/q.fifo/messages",
        json!({"body": "late", "group_id": "g", "deduplication_id": "k"}),
    );
    until_a_session_waits_for_a_lock(&app).await;
    tx.commit().await.unwrap();
    let (status, body) = sending.await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["message_id"], json!(original.to_string()), "{body}");
    assert_eq!(
        body["sequence_number"].to_string().trim_matches('"'),
        "42",
        "{body}"
    );
    // Nothing of the first attempt was kept: no message, no group.
    assert!(app.receive("q.fifo", json!({})).await.is_empty());
    let messages: i64 = sqlx::query_scalar("select count(*) from messages where queue_id = $1")
        .bind(queue)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(messages, 0);
    assert_eq!(group_state(&app, queue, "g").await, "none");
}

#[tokio::test]
async fn a_delete_whose_group_changed_while_it_waited_keeps_the_rest_of_the_batch_in_order() {
    let app = TestApp::spawn().await;
    app.create_queue("q.fifo", json!({"fifo": true})).await;
    let queue = queue_id(&app, "q.fifo").await;
    send(&app, "m1", "g", "1").await;
    send(&app, "m2", "g", "2").await;
    let batch = app.receive("q.fifo", json!({"max_messages": 10})).await;
    assert_eq!(bodies(&batch), ["m1", "m2"]);
    // Another writer holds the group's row and changes it, as a send to the group does.
    let mut other = connect(&app).await;
    let mut tx = other.begin().await.unwrap();
    on_queue(
        &mut tx,
        "update fifo_groups set ready_at = ready_at where queue_id = $1 and group_id = 'g'",
        queue,
    )
    .await;
    let deleting = delete_later(&app, &batch[0]);
    until_a_session_waits_for_a_lock(&app).await;
    tx.commit().await.unwrap();
    assert_eq!(deleting.await.unwrap().0, StatusCode::OK);
    // The delete could not trust what it read of the group: the group is ready for the
    // next claim to look at.
    assert_eq!(group_state(&app, queue, "g").await, "past");
    send(&app, "m3", "g", "3").await;
    // m2 is still in flight: the claim delivers nothing of the group and sets it again.
    assert!(app.receive("q.fifo", json!({})).await.is_empty());
    assert_eq!(group_state(&app, queue, "g").await, "future");
    assert_eq!(
        app.delete("q.fifo", &handle(&batch[1])).await.status,
        StatusCode::OK
    );
    assert_eq!(bodies(&app.receive("q.fifo", json!({})).await), ["m3"]);
}

#[tokio::test]
async fn a_send_that_waited_for_a_delete_emptying_its_group_brings_the_group_back() {
    let app = TestApp::spawn().await;
    let (queue, _m1) = one_in_flight(&app).await;
    // A delete of the group's last message holds the group's row and takes it away.
    let mut other = connect(&app).await;
    let mut tx = other.begin().await.unwrap();
    on_queue(
        &mut tx,
        "select 1 from fifo_groups where queue_id = $1 and group_id = 'g' for no key update",
        queue,
    )
    .await;
    on_queue(&mut tx, "delete from messages where queue_id = $1", queue).await;
    on_queue(
        &mut tx,
        "delete from fifo_groups where queue_id = $1 and group_id = 'g'",
        queue,
    )
    .await;
    let sending = post_later(
        &app,
        "/v1/queues/q.fifo/messages",
        json!({"body": "m2", "group_id": "g", "deduplication_id": "2"}),
    );
    until_a_session_waits_for_a_lock(&app).await;
    tx.commit().await.unwrap();
    assert_eq!(sending.await.unwrap().0, StatusCode::CREATED);
    assert_eq!(group_state(&app, queue, "g").await, "past");
    assert_eq!(bodies(&app.receive("q.fifo", json!({})).await), ["m2"]);
}

#[tokio::test]
async fn a_delete_of_a_groups_last_message_takes_its_row_and_a_send_brings_it_back() {
    let app = TestApp::spawn().await;
    app.create_queue("q.fifo", json!({"fifo": true})).await;
    let queue = queue_id(&app, "q.fifo").await;
    send(&app, "a1", "a", "1").await;
    send(&app, "a2", "a", "2").await;
    send(&app, "b1", "b", "3").await;
    let got = app.receive("q.fifo", json!({"max_messages": 10})).await;
    assert_eq!(bodies(&got), ["a1", "a2", "b1"]);
    // One delete flush for the three: a's batch and b's, each its group's last messages.
    let r = app
        .post(
            "/v1/queues/q.fifo/messages/delete",
            json!({"entries": got
                .iter()
                .map(|m| json!({"receipt_handle": handle(m)}))
                .collect::<Vec<_>>()}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["failed"], json!([]), "{}", r.body);
    assert_eq!(group_state(&app, queue, "a").await, "none");
    assert_eq!(group_state(&app, queue, "b").await, "none");
    send(&app, "b2", "b", "4").await;
    assert_eq!(group_state(&app, queue, "b").await, "past");
    assert_eq!(bodies(&app.receive("q.fifo", json!({})).await), ["b2"]);
}

#[tokio::test]
async fn a_delete_that_waited_for_a_send_to_its_group_leaves_the_new_message_deliverable() {
    let app = TestApp::spawn().await;
    let (queue, m1) = one_in_flight(&app).await;
    // A send to the group, not yet committed: the delete's snapshot will not hold m2, and
    // without m2 the group looks empty.
    let mut other = connect(&app).await;
    let mut tx = other.begin().await.unwrap();
    send_in(&mut tx, queue, "m2").await;
    let deleting = delete_later(&app, &m1);
    until_a_session_waits_for_a_lock(&app).await;
    tx.commit().await.unwrap();
    assert_eq!(deleting.await.unwrap().0, StatusCode::OK);
    assert_eq!(group_state(&app, queue, "g").await, "past");
    assert_eq!(bodies(&app.receive("q.fifo", json!({})).await), ["m2"]);
}
