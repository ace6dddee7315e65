//! SQL for messages: the send insert, the claim (with its dead-letter move), deletes and
//! visibility changes by delivery, peek, and the retention sweep.
//!
//! Every write takes arrays so one statement can carry the rows of many requests.

use crate::domain::{DeadLetter, Durability, NewMessage, QueueId};
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::queue::handle::Delivery;

/// The `synchronous_commit` value bound into write statements (null keeps the server's).
///
/// Each write statement applies it with a one-time filter,
/// `(select set_config('synchronous_commit', coalesce($n::text, ...), true)) is not null`,
/// which sets it for the statement's own (implicit) transaction, so a relaxed write costs no
/// extra round trip.
pub(super) fn setting(durability: Durability) -> Option<&'static str> {
    match durability {
        Durability::Durable => None,
        Durability::Relaxed => Some("off"),
    }
}

/// The send insert: `$1`..`$5` one array element per message, `$6` the `synchronous_commit`
/// setting. Reads no message rows; its only lookup is the foreign key's probe of `queues`.
pub const INSERT_SQL: &str = include_str!("sql/messages/insert.sql");

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
    sqlx::query_file!(
        "src/store/sql/messages/insert.sql",
        &queue_ids,
        &delays,
        &ids,
        &bodies as &[&str],
        &attributes as &[Option<String>],
        setting(durability),
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The claim: `$1` queue, `$2` limit, `$3` visibility seconds, `$4` max receive count and `$5`
/// dead-letter queue (both null without one), `$6` the `synchronous_commit` setting.
///
/// Its cost must not depend on the queue's backlog or on what the planner believes about it
/// (statistics are routinely wrong for a queue id: new queues, bursts, drained queues):
/// - `picked` is the only part that looks for rows by queue. It walks the claim index
///   `(queue_id, visible_at, id)` from the queue's oldest visible row and stops after `$2` rows;
///   rows in flight or delayed lie past `now()` in that index and are never read. The session
///   turns sorts off (`store::connect`), so reading `messages_sent` and sorting the whole queue
///   is never the cheaper plan, even when the queue is estimated at one row.
/// - The dead-letter delete and the update find their rows by `id = any(<picked ids>)` through
///   the primary key `(id)`, with no `queue_id` condition: the only index that condition can
///   use is the primary key, whatever the estimates. (Written as a join with `queue_id = $1`,
///   a 1-row estimate for the queue made the planner drive the join from every row of the
///   queue: 270 ms per claim at a 10 000-message backlog.)
///
/// The last step reports how many rows moved to the dead-letter queue beside the claimed
/// rows: every claimed row carries the count, and a claim that only dead-lettered returns one
/// row with the count and no message.
///
/// The plan tests (`tests/api/plans.rs`) hold this in four statistics states, with custom
/// and generic plans.
pub const CLAIM_SQL: &str = include_str!("sql/messages/claim.sql");

/// A claimed row, before its receipt handle is minted.
#[derive(Debug)]
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

/// What one claim did: the rows it hid for the receivers, and how many it dead-lettered.
#[derive(Debug, Default)]
pub struct Claim {
    pub rows: Vec<ClaimedRow>,
    pub dead_lettered: i64,
}

/// One row of `CLAIM_SQL`: a claimed message, or none when the claim only dead-lettered.
struct ClaimOutput {
    id: Option<i64>,
    message_id: Option<Uuid>,
    receive_count: Option<i32>,
    sent_at: Option<DateTime<Utc>>,
    first_received_at: Option<DateTime<Utc>>,
    source_queue_id: Option<i64>,
    body: Option<String>,
    attributes: Option<String>,
    dead_lettered: i64,
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
) -> sqlx::Result<Claim> {
    let output = sqlx::query_file_as!(
        ClaimOutput,
        "src/store/sql/messages/claim.sql",
        queue,
        max,
        visibility,
        dead_letter.map(|d| d.max_receive_count),
        dead_letter.map(|d| d.queue_id),
        setting(durability),
    )
    .fetch_all(db)
    .await?;
    let dead_lettered = output.first().map_or(0, |o| o.dead_lettered);
    let rows = output
        .into_iter()
        .filter_map(|o| {
            Some(ClaimedRow {
                id: o.id?,
                message_id: o.message_id?,
                receive_count: o.receive_count?,
                sent_at: o.sent_at?,
                first_received_at: o.first_received_at,
                source_queue_id: o.source_queue_id,
                body: o.body?,
                attributes: o.attributes,
            })
        })
        .collect();
    Ok(Claim {
        rows,
        dead_lettered,
    })
}

/// The waker's due time: the first row past `now()` in the claim index, one row read.
pub const NEXT_VISIBLE_SQL: &str = include_str!("sql/messages/next_visible.sql");

/// When the next delayed or in-flight message of a queue becomes visible, if any.
pub async fn next_visible_at(
    db: impl PgExecutor<'_>,
    queue: QueueId,
) -> sqlx::Result<Option<DateTime<Utc>>> {
    sqlx::query_file_scalar!("src/store/sql/messages/next_visible.sql", queue)
        .fetch_optional(db)
        .await
}

/// Flow control's probe: how many messages of queue `$1` are ready now, counted up to `$2` and
/// no further. The limit bounds the work whatever the queue holds: at most `$2` entries of the
/// claim index `(queue_id, visible_at, id)`, read in its order (the `order by` is what keeps the
/// planner on that index; a bare `count(*)` may choose to count the whole queue another way).
pub const READY_SQL: &str = include_str!("sql/messages/ready.sql");

/// Ready messages of `queue`, up to `limit` (see `READY_SQL`).
pub async fn ready(db: impl PgExecutor<'_>, queue: QueueId, limit: i64) -> sqlx::Result<i64> {
    sqlx::query_file_scalar!("src/store/sql/messages/ready.sql", queue, limit)
        .fetch_one(db)
        .await
}

/// Deletes by receipt handle: `$1` row ids, `$2` their generations (receive counts), `$3` the
/// `synchronous_commit` setting.
///
/// Rows are found by `id = any($1)` through the primary key only. Row ids are unique across
/// queues and the engine has already checked each handle's queue against the request's, so no
/// `queue_id` condition is needed, and none is written: it would offer the planner a
/// per-queue index to scan instead of the ids (see `CLAIM_SQL`).
pub const DELETE_SQL: &str = include_str!("sql/messages/delete.sql");

/// Deletes the given deliveries; a delivery that is no longer current matches nothing.
/// Returns the deliveries that were deleted.
pub async fn delete(
    db: impl PgExecutor<'_>,
    deliveries: &[Delivery],
    durability: Durability,
) -> sqlx::Result<Vec<(i64, i64)>> {
    let (ids, generations) = unzip(deliveries);
    let rows = sqlx::query_file!(
        "src/store/sql/messages/delete.sql",
        &ids,
        &generations,
        setting(durability),
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.queue_id, r.id)).collect())
}

/// Changes visibility by receipt handle: `$1` row ids, `$2` generations, `$3` new timeouts in
/// seconds, `$4` the `synchronous_commit` setting. Only in-flight rows change. Keyed like
/// `DELETE_SQL`, for the same reason.
pub const CHANGE_VISIBILITY_SQL: &str = include_str!("sql/messages/change_visibility.sql");

/// Sets a new visibility timeout on in-flight deliveries that are still current.
/// Returns the deliveries that changed.
pub async fn change_visibility(
    db: impl PgExecutor<'_>,
    changes: &[(Delivery, i32)],
    durability: Durability,
) -> sqlx::Result<Vec<(i64, i64)>> {
    let deliveries: Vec<Delivery> = changes.iter().map(|(d, _)| *d).collect();
    let (ids, generations) = unzip(&deliveries);
    let timeouts: Vec<i32> = changes.iter().map(|(_, t)| *t).collect();
    let rows = sqlx::query_file!(
        "src/store/sql/messages/change_visibility.sql",
        &ids,
        &generations,
        &timeouts,
        setting(durability),
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.queue_id, r.id)).collect())
}

fn unzip(deliveries: &[Delivery]) -> (Vec<i64>, Vec<i32>) {
    let ids = deliveries.iter().map(|d| d.row_id).collect();
    let generations = deliveries.iter().map(|d| d.generation).collect();
    (ids, generations)
}

/// A message as peek reads it.
#[derive(Debug)]
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

/// Peek: `$1` queue, `$2` limit. Reads `messages_sent` in order and stops after `$2` rows
/// (sorts are off in Spool's sessions, so the claim index plus a sort of the queue is never
/// chosen).
pub const PEEK_SQL: &str = include_str!("sql/messages/peek.sql");

/// Reads up to `limit` messages oldest first without changing them.
pub async fn peek(
    db: impl PgExecutor<'_>,
    queue: QueueId,
    limit: i64,
) -> sqlx::Result<Vec<PeekRow>> {
    sqlx::query_file_as!(PeekRow, "src/store/sql/messages/peek.sql", queue, limit)
        .fetch_all(db)
        .await
}

/// The retention sweep: `$1` most rows per queue. Per queue, `messages_sent` is read oldest
/// first and the walk stops at the first row still within retention or after `$1` rows, so
/// the work is bounded by the number of queues plus the rows deleted. The delete finds the
/// rows by id through the primary key (see `CLAIM_SQL` for why not by queue).
pub const SWEEP_SQL: &str = include_str!("sql/messages/sweep.sql");

/// Deletes up to `batch` messages per queue that outlived their queue's retention period.
/// Returns how many were deleted.
pub async fn sweep_expired(db: impl PgExecutor<'_>, batch: i64) -> sqlx::Result<u64> {
    let done = sqlx::query_file!("src/store/sql/messages/sweep.sql", batch)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}

/// Deletes up to `$1` rows of deleted queues: rows a send committed just after its queue was
/// deleted (the queue's own rows went with it, see the migration that dropped the foreign
/// key). Walks the claim index of each recently deleted queue, which is empty but for such
/// rows. Forgets deleted queues after an hour, far longer than any statement may run.
pub const SWEEP_DELETED_SQL: &str = include_str!("sql/messages/sweep_deleted.sql");

/// Deletes messages left behind by deleted queues; returns how many.
pub async fn sweep_deleted_queues(db: impl PgExecutor<'_>, batch: i64) -> sqlx::Result<u64> {
    let done = sqlx::query_file!("src/store/sql/messages/sweep_deleted.sql", batch)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}
