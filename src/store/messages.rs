//! SQL for messages: the send insert, the claim (with its dead-letter move), deletes and
//! visibility changes by delivery, peek, and the retention sweep.
//!
//! Every write takes arrays so one statement can carry the rows of many requests.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

use crate::queue::{
    handle::Delivery,
    model::{DeadLetter, Durability, NewMessage, QueueId},
};

/// The `synchronous_commit` value bound into write statements (null keeps the server's).
fn setting(durability: Durability) -> Option<&'static str> {
    match durability {
        Durability::Durable => None,
        Durability::Relaxed => Some("off"),
    }
}

/// A one-time filter that sets `synchronous_commit` for the statement's own (implicit)
/// transaction, so a relaxed write costs no extra round trip.
macro_rules! sync_commit {
    ($n:literal) => {
        concat!(
            "(select set_config('synchronous_commit', coalesce($",
            $n,
            "::text, current_setting('synchronous_commit')), true)) is not null"
        )
    };
}

/// Inserts messages (of any queues) in one statement.
pub async fn insert(
    db: impl PgExecutor<'_>,
    messages: &[NewMessage],
    durability: Durability,
) -> sqlx::Result<()> {
    let queue_ids: Vec<i64> = messages.iter().map(|m| m.queue_id).collect();
    let delays: Vec<i32> = messages.iter().map(|m| m.delay_seconds).collect();
    let ids: Vec<Uuid> = messages.iter().map(|m| m.message_id).collect();
    let bodies: Vec<&str> = messages.iter().map(|m| m.body.as_str()).collect();
    let attributes: Vec<Option<String>> = messages
        .iter()
        .map(|m| {
            (!m.attributes.is_empty())
                .then(|| serde_json::to_string(&m.attributes).expect("attributes serialize"))
        })
        .collect();
    sqlx::query(concat!(
        "insert into messages (queue_id, visible_at, sent_at, message_id, body, attributes) \
         select q, now() + make_interval(secs => d), now(), m, b, a::jsonb \
         from unnest($1::bigint[], $2::int[], $3::uuid[], $4::text[], $5::text[]) as t(q, d, m, b, a) \
         where ",
        sync_commit!("6")
    ))
    .bind(queue_ids)
    .bind(delays)
    .bind(ids)
    .bind(bodies)
    .bind(attributes)
    .bind(setting(durability))
    .execute(db)
    .await?;
    Ok(())
}

/// The claim: `$1` queue, `$2` limit, `$3` visibility seconds, `$4` max receive count and `$5`
/// dead-letter queue (both null without one). Public so tests can `EXPLAIN` it.
pub const CLAIM_SQL: &str = concat!(
    "with picked as materialized ( \
             select id, receive_count from messages \
             where queue_id = $1 and visible_at <= now() and ",
    sync_commit!("6"),
    " \
             order by visible_at, id limit $2 \
             for no key update skip locked), \
         dead as ( \
             delete from messages m using picked p \
             where m.queue_id = $1 and m.id = p.id and p.receive_count >= $4 \
             returning m.receive_count, m.sent_at, m.first_received_at, m.message_id, m.body, \
                       m.attributes), \
         moved as ( \
             insert into messages (queue_id, visible_at, receive_count, sent_at, \
                                   first_received_at, message_id, source_queue_id, body, attributes) \
             select $5, now(), receive_count, sent_at, first_received_at, message_id, $1, body, \
                    attributes from dead) \
         update messages m \
         set visible_at = now() + make_interval(secs => $3), \
             receive_count = m.receive_count + 1, \
             first_received_at = coalesce(m.first_received_at, now()) \
         from picked p \
         where m.queue_id = $1 and m.id = p.id and ($4::int is null or p.receive_count < $4) \
         returning m.id, m.message_id, m.receive_count, m.sent_at, m.first_received_at, \
                   m.source_queue_id, m.body, m.attributes::text as attributes"
);

/// A claimed row, before its receipt handle is minted.
#[derive(Debug, FromRow)]
pub struct ClaimedRow {
    pub id: i64,
    pub message_id: Uuid,
    pub receive_count: i32,
    pub sent_at: DateTime<Utc>,
    pub first_received_at: Option<DateTime<Utc>>,
    pub source_queue_id: Option<i64>,
    pub body: String,
    pub attributes: Option<String>,
}

/// Claims up to `max` visible messages of a queue and hides them for `visibility` seconds.
///
/// One statement: visible rows are picked oldest-visible first through the claim index with
/// `skip locked`; those whose receive would exceed the dead-letter limit move to the dead-letter
/// queue in the same statement, so a message is never both delivered and dead-lettered.
pub async fn claim(
    db: impl PgExecutor<'_>,
    queue: QueueId,
    max: i64,
    visibility: i32,
    dead_letter: Option<&DeadLetter>,
    durability: Durability,
) -> sqlx::Result<Vec<ClaimedRow>> {
    sqlx::query_as(CLAIM_SQL)
        .bind(queue)
        .bind(max)
        .bind(visibility)
        .bind(dead_letter.map(|d| d.max_receive_count))
        .bind(dead_letter.map(|d| d.queue_id))
        .bind(setting(durability))
        .fetch_all(db)
        .await
}

/// When the next delayed or in-flight message of a queue becomes visible, if any.
pub async fn next_visible_at(
    db: impl PgExecutor<'_>,
    queue: QueueId,
) -> sqlx::Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar(
        "select visible_at from messages where queue_id = $1 and visible_at > now() \
         order by visible_at limit 1",
    )
    .bind(queue)
    .fetch_optional(db)
    .await
}

/// Deletes the given deliveries; a delivery that is no longer current matches nothing.
/// Returns the deliveries that were deleted.
pub async fn delete(
    db: impl PgExecutor<'_>,
    deliveries: &[Delivery],
    durability: Durability,
) -> sqlx::Result<Vec<(i64, i64)>> {
    let (queues, ids, generations) = unzip(deliveries);
    sqlx::query_as(concat!(
        "delete from messages m \
         using unnest($1::bigint[], $2::bigint[], $3::int[]) as h(queue_id, id, generation) \
         where m.queue_id = h.queue_id and m.id = h.id and m.receive_count = h.generation and ",
        sync_commit!("4"),
        " returning m.queue_id, m.id"
    ))
    .bind(queues)
    .bind(ids)
    .bind(generations)
    .bind(setting(durability))
    .fetch_all(db)
    .await
}

/// Sets a new visibility timeout on in-flight deliveries that are still current.
/// Returns the deliveries that changed.
pub async fn change_visibility(
    db: impl PgExecutor<'_>,
    changes: &[(Delivery, i32)],
    durability: Durability,
) -> sqlx::Result<Vec<(i64, i64)>> {
    let deliveries: Vec<Delivery> = changes.iter().map(|(d, _)| *d).collect();
    let (queues, ids, generations) = unzip(&deliveries);
    let timeouts: Vec<i32> = changes.iter().map(|(_, t)| *t).collect();
    sqlx::query_as(concat!(
        "update messages m set visible_at = now() + make_interval(secs => h.timeout) \
         from unnest($1::bigint[], $2::bigint[], $3::int[], $4::int[]) \
              as h(queue_id, id, generation, timeout) \
         where m.queue_id = h.queue_id and m.id = h.id and m.receive_count = h.generation \
           and m.visible_at > now() and ",
        sync_commit!("5"),
        " returning m.queue_id, m.id"
    ))
    .bind(queues)
    .bind(ids)
    .bind(generations)
    .bind(timeouts)
    .bind(setting(durability))
    .fetch_all(db)
    .await
}

fn unzip(deliveries: &[Delivery]) -> (Vec<i64>, Vec<i64>, Vec<i32>) {
    let queues = deliveries.iter().map(|d| d.queue_id).collect();
    let ids = deliveries.iter().map(|d| d.row_id).collect();
    let generations = deliveries.iter().map(|d| d.generation).collect();
    (queues, ids, generations)
}

/// A message as peek reads it.
#[derive(Debug, FromRow)]
pub struct PeekRow {
    pub message_id: Uuid,
    pub receive_count: i32,
    pub sent_at: DateTime<Utc>,
    pub first_received_at: Option<DateTime<Utc>>,
    pub visible_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
    pub body: String,
    pub attributes: Option<String>,
}

/// Reads up to `limit` messages oldest first without changing them.
pub async fn peek(
    db: impl PgExecutor<'_>,
    queue: QueueId,
    limit: i64,
) -> sqlx::Result<Vec<PeekRow>> {
    sqlx::query_as(
        "select message_id, receive_count, sent_at, first_received_at, visible_at, now() as now, \
                body, attributes::text as attributes \
         from messages where queue_id = $1 order by sent_at, id limit $2",
    )
    .bind(queue)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Deletes up to `batch` messages per queue that outlived their queue's retention period.
/// Returns how many were deleted.
pub async fn sweep_expired(db: impl PgExecutor<'_>, batch: i64) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "with expired as materialized ( \
             select e.queue_id, e.id from queues q cross join lateral ( \
                 select m.queue_id, m.id from messages m \
                 where m.queue_id = q.id \
                   and m.sent_at < now() - make_interval(secs => q.retention_seconds) \
                 order by m.sent_at, m.id limit $1 \
                 for update skip locked) e) \
         delete from messages m using expired e where m.queue_id = e.queue_id and m.id = e.id",
    )
    .bind(batch)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
