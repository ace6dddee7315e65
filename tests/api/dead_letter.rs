//! Dead-letter moves at receive time, and the claim's query plan.

use reqwest::StatusCode;
use serde_json::json;
use sqlx::Row;

use crate::helpers::TestApp;

#[tokio::test]
async fn a_message_moves_to_the_dead_letter_queue_at_exactly_max_receives() {
    let app = TestApp::spawn().await;
    app.create_queue("dlq", json!({})).await;
    app.create_queue(
        "q",
        json!({"dead_letter": {"queue": "dlq", "max_receive_count": 2}}),
    )
    .await;
    let sent = app
        .post(
            "/v1/queues/q/messages",
            json!({"body": "poison", "attributes": {"k": {"data_type": "Number", "string_value": "7"}}}),
        )
        .await;
    let sent_id = sent.body["message_id"].clone();

    for count in 1..=2 {
        let got = app.receive("q", json!({"visibility_timeout": 0})).await;
        assert_eq!(got.len(), 1, "receive {count} must still deliver");
        assert_eq!(got[0]["receive_count"], count);
    }
    let first_sent_at =
        app.get("/v1/queues/q/messages/peek").await.body["messages"][0]["sent_at"].clone();
    // The third receive would exceed 2: the message moves instead of being delivered.
    assert!(
        app.receive("q", json!({"visibility_timeout": 0}))
            .await
            .is_empty()
    );
    assert_eq!(app.counts("q").await["visible"], 0);

    let dead = app.receive("dlq", json!({})).await;
    assert_eq!(dead.len(), 1);
    let d = &dead[0];
    assert_eq!(d["message_id"], sent_id);
    assert_eq!(d["body"], "poison");
    assert_eq!(d["attributes"]["k"]["string_value"], "7");
    assert_eq!(d["sent_at"], first_sent_at);
    // Receive count carries over, as in SQS.
    assert_eq!(d["receive_count"], 3);
    let source: Option<i64> = sqlx::query_scalar("select source_queue_id from messages")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let q_id: i64 = sqlx::query_scalar("select id from queues where name = 'q'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(source, Some(q_id));
}

#[tokio::test]
async fn handles_from_before_the_move_do_not_touch_the_dead_lettered_copy() {
    let app = TestApp::spawn().await;
    app.create_queue("dlq", json!({})).await;
    app.create_queue(
        "q",
        json!({"dead_letter": {"queue": "dlq", "max_receive_count": 1}}),
    )
    .await;
    app.send("q", "x").await;
    let got = app.receive("q", json!({"visibility_timeout": 0})).await;
    assert!(app.receive("q", json!({})).await.is_empty());
    let r = app
        .delete("q", got[0]["receipt_handle"].as_str().unwrap())
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["deleted"], false);
    assert_eq!(app.counts("dlq").await["visible"], 1);
}

#[tokio::test]
async fn the_claim_never_scans_in_flight_or_delayed_rows() {
    let app = TestApp::spawn().await;
    app.create_queue("q", json!({})).await;
    // 2,000 in flight, 2,000 delayed, 5 visible.
    let mut conn = app.pool.acquire().await.unwrap();
    sqlx::query(
        "insert into messages (queue_id, visible_at, receive_count, sent_at, message_id, body) \
         select q.id, now() + interval '1 hour', (g % 2), now(), gen_random_uuid(), 'x' \
         from queues q, generate_series(1, 4000) g where q.name = 'q'",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    for _ in 0..5 {
        app.send("q", "ready").await;
    }
    sqlx::query("analyze messages")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("begin").execute(&mut *conn).await.unwrap();
    let sql = format!(
        "explain (analyze, format json) {}",
        spool::store::messages::CLAIM_SQL
            .replace("$1", "(select id from queues where name = 'q')")
            .replace("$2", "10")
            .replace("$3", "30")
            .replace("$4", "null::int")
            .replace("$5", "null::bigint")
            .replace("$6", "null::text")
    );
    let plan: serde_json::Value = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .get(0);
    sqlx::query("rollback").execute(&mut *conn).await.unwrap();
    let text = plan.to_string();
    assert!(!text.contains("Seq Scan"), "{text}");
    assert!(!text.contains("\"Sort\""), "{text}");
    let scan = find_node(&plan, "messages_claim").expect("the claim uses the claim index");
    // Only the five visible rows were read from the index.
    assert_eq!(scan["Actual Rows"], 5, "{scan}");
    assert_eq!(
        scan.get("Rows Removed by Filter")
            .and_then(|v| v.as_i64())
            .unwrap_or(0),
        0
    );
}

fn find_node<'a>(plan: &'a serde_json::Value, index: &str) -> Option<&'a serde_json::Value> {
    match plan {
        serde_json::Value::Object(map) => {
            if map.get("Index Name").and_then(|v| v.as_str()) == Some(index) {
                return Some(plan);
            }
            map.values().find_map(|v| find_node(v, index))
        }
        serde_json::Value::Array(items) => items.iter().find_map(|v| find_node(v, index)),
        _ => None,
    }
}
