//! SQL for FIFO queues: the group claim, deletes and visibility changes that settle their
//! groups (for the messages of any queues, as a flush of the group commit gathers them),
//! purge, receive attempts, and the sweeps. Sends are in `fifo_send`.
//!
//! A group's row says when it may deliver (`ready_at`) and where its in-flight batch ends
//! (`delivered_through`). A claim only takes ready groups, which have nothing in flight, and
//! delivers a prefix of each, so a group's in-flight messages are one claim's and lie at or
//! before the last message that claim delivered; anything sent, dead-lettered or redriven
//! into the group later takes a larger id. The claim sets both columns of the groups it
//! delivers from (`DELIVER_SQL`); a recompute (`RECOMPUTE_SQL`, and the one inside
//! `DELETE_SQL`) reads the messages up to `delivered_through` and the group's first message:
//! at most one claim's messages, whatever the backlog behind them.
//!
//! Lock order, kept by every path so concurrent ones cannot deadlock: group rows (sorted by
//! `(queue_id, group_id collate "C")`), then deduplication keys (sorted; sends only), then
//! message rows. Claims take their own queue's group rows with `skip locked` and never wait for them;
//! the one wait a claim has is for the dead-letter queue's group rows of a dead-letter move,
//! while it holds its own: a flush of sends, deletes or visibility changes that holds a group
//! of the dead-letter queue and waits for one of the source queue's the claim holds makes a
//! cycle (rare: it needs one flush over both queues while the claim moves messages).
//! PostgreSQL breaks it after `deadlock_timeout` by failing one side: a failed flush is
//! retried one request at a time (`batch`), each of one queue, which cannot be in such a
//! cycle; a failed claim fails its receives.

use crate::domain::{Durability, QueueId};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::queue::handle::Delivery;

/// How long a deduplication id and a receive attempt are remembered (SQS: five minutes).
pub(super) const WINDOW_SECONDS: i32 = 300;

/// How a claim's transaction begins (one round trip): generic plans for its statements, and
/// `synchronous_commit` off on a relaxed queue. Left to choose, PostgreSQL planned the pick
/// anew on every run (a custom plan for its `limit`, about as costly as running it); the
/// plan tests check its generic plan in every statistics state.
pub fn claim_begin(durability: Durability) -> &'static str {
    match durability {
        Durability::Durable => "begin; set local plan_cache_mode = force_generic_plan",
        Durability::Relaxed => {
            "begin; set local plan_cache_mode = force_generic_plan; \
             set local synchronous_commit = off"
        }
    }
}

/// A candidate of a claim: a message at the head of a ready group.
#[derive(Debug)]
pub struct Candidate {
    pub ready_at: DateTime<Utc>,
    pub id: Option<i64>,
    pub group_id: String,
    pub receive_count: Option<i32>,
    pub visible: Option<bool>,
}

/// Locks up to `$2` ready groups of queue `$1` (skipping those another claim holds) and reads
/// up to `$3` messages from each one's head, groups in ready order, messages in send order. A
/// group without messages comes back as one row with no message. A shared claim asks for
/// as many groups as its receivers are likely to use (at most as many as they want messages
/// together; fewer when groups have been giving several messages each, see
/// `queue::fifo_claims`), and as many messages per group as the largest of them wants.
/// Public so tests can `EXPLAIN` it.
pub const PICK_SQL: &str = include_str!("sql/fifo/pick.sql");

/// Picks a claim's candidates; call inside the claim's transaction (the group locks last
/// until it ends).
pub async fn pick(
    conn: &mut PgConnection,
    queue: QueueId,
    groups: i64,
    per_group: i64,
) -> sqlx::Result<Vec<Candidate>> {
    let mut candidates = sqlx::query_file_as!(
        Candidate,
        "src/store/sql/fifo/pick.sql",
        queue,
        groups,
        per_group
    )
    .fetch_all(&mut *conn)
    .await?;
    // Ordered here, not in SQL: sorts are off in Spool's sessions.
    candidates
        .sort_by(|a, b| (a.ready_at, &a.group_id, a.id).cmp(&(b.ready_at, &b.group_id, b.id)));
    Ok(candidates)
}

/// A FIFO message handed out by a claim.
#[derive(Debug)]
pub struct FifoRow {
    pub id: i64,
    pub message_id: Uuid,
    pub receive_count: i32,
    pub sent_at: DateTime<Utc>,
    pub first_received_at: Option<DateTime<Utc>>,
    pub source_queue_id: Option<i64>,
    pub body: String,
    pub attributes: Option<String>,
    pub group_id: Option<String>,
    pub dedup_id: Option<String>,
}

/// Hides picked messages: `$1` row ids, `$2` visibility seconds, `$3` their queue. Like
/// every FIFO statement with row ids in hand, it finds rows by `id = any(...)` alone (see
/// `messages::DELETE_SQL`): the ids were read from this queue. It also sets each delivering
/// group's row (locked by the pick): ready when the batch's visibility ends, and
/// `delivered_through` its last message's id, so later recomputes read only the in-flight
/// batch. Groups the claim looked at without delivering are recomputed (`recompute`).
pub const DELIVER_SQL: &str = include_str!("sql/fifo/deliver.sql");

/// Hides the picked messages (of `queue`) for `visibility` seconds, counts the receive and
/// holds their groups until the visibility ends.
pub async fn deliver(
    conn: &mut PgConnection,
    queue: QueueId,
    ids: &[i64],
    visibility: i32,
) -> sqlx::Result<Vec<FifoRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut rows = sqlx::query_file_as!(
        FifoRow,
        "src/store/sql/fifo/deliver.sql",
        ids,
        visibility,
        queue
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.sort_by_key(|r| ids.iter().position(|id| *id == r.id));
    Ok(rows)
}

/// Moves messages to a FIFO dead-letter queue keeping their group, deduplication id and
/// order (the new rows' ids follow the old ones'). The enqueue time starts over, as in SQS.
pub async fn dead_letter(
    conn: &mut PgConnection,
    queue: QueueId,
    ids: &[i64],
    target: QueueId,
) -> sqlx::Result<u64> {
    let done = sqlx::query_file!("src/store/sql/fifo/dead_letter.sql", queue, ids, target)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

/// Moves dead messages: `$1` source queue, `$2` row ids, `$3` dead-letter queue.
pub const DEAD_LETTER_SQL: &str = include_str!("sql/fifo/dead_letter.sql");

/// Locks the groups of the messages `$1` (of any queues), in the one lock order, and applies
/// `$2`, the `synchronous_commit` setting of the transaction (null keeps the server's; see
/// `messages::setting`), so a relaxed flush costs no extra round trip.
///
/// - The group keys come from the messages themselves, found by `id = any($1)` through the
///   primary key, in a materialized CTE that asks for no order: row ids are unique across
///   queues and the engine has checked each handle's queue. (No `group_id is not null` there:
///   it would offer the planner the partial group index, to scan whole, instead of the ids.)
///   `distinct` folds a batch's messages into its groups (a hash over at most the batch).
/// - The lock order, `(queue_id, group_id collate "C")`, is made by `array_agg(… order by …)`,
///   which sorts inside the aggregate, and kept by `unnest` driving a lateral lookup per key.
///   Do not "simplify" this into a join with `order by … for no key update`: sorts are off in
///   Spool's sessions, and to get that order without a Sort node the planner walked the
///   whole `fifo_groups` index (every group of every FIFO queue, 23 ms with 20 000 groups)
///   or the whole `messages_sent` index (a million rows) per flush.
/// - Each group row is then a primary-key lookup, locked (`for no key update` inside the
///   lateral subquery) in that order: the order of FIFO sends (`fifo_send::INSERT_SQL`), so
///   two flushes over the same groups, or a flush and a send, queue up rather than deadlock.
///   Claims take group rows with `skip locked` and never wait for them.
///
/// It must be a statement of its own, before the statements it protects: in read committed
/// each statement takes a fresh snapshot, so the later ones see every send that committed to
/// these groups before their locks were granted.
pub const LOCK_GROUPS_SQL: &str = include_str!("sql/fifo/lock_groups.sql");

/// A FIFO group: its queue and its id.
pub type Group = (QueueId, String);

/// Locks the groups of the given messages (of any queues, in the one lock order) and sets
/// the transaction's durability; returns the groups.
pub async fn lock_groups_of(
    conn: &mut PgConnection,
    ids: &[i64],
    durability: Durability,
) -> sqlx::Result<Vec<Group>> {
    let rows = sqlx::query_file!(
        "src/store/sql/fifo/lock_groups.sql",
        ids,
        super::messages::setting(durability),
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.queue_id, r.group_id)).collect())
}

/// Sets each group's `ready_at`: the end of its in-flight batch, else its first message's
/// visibility; drops groups that have no messages left. The caller holds the groups' row
/// locks, taken in an earlier statement, so this statement's snapshot sees every send to
/// them.
pub async fn recompute(conn: &mut PgConnection, groups: &[Group]) -> sqlx::Result<()> {
    if groups.is_empty() {
        return Ok(());
    }
    let (queues, ids): (Vec<QueueId>, Vec<String>) = groups.iter().cloned().unzip();
    sqlx::query_file!("src/store/sql/fifo/recompute.sql", &queues, &ids)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Recomputes groups (of any queues): `$1` queue ids and `$2` group ids, pairwise (each pair
/// once). Per pair, by primary key or group index: the group row's `delivered_through`, the
/// group's messages up to it (its in-flight batch, if any: at most one claim's, see the
/// migration `fifo_delivered_through`) for the batch's end, and its first message.
pub const RECOMPUTE_SQL: &str = include_str!("sql/fifo/recompute.sql");

/// Deletes in-flight deliveries and settles their groups in one statement: `$1` row ids,
/// `$2` generations, `$3` the `synchronous_commit` setting (see `messages::setting`).
///
/// - It first locks the messages' groups, as `LOCK_GROUPS_SQL` does and in its order, and
///   only then deletes: the statement waits for the groups' sends, flushes and claims like a
///   flush that locks in a statement of its own.
/// - But its snapshot was taken before the locks were granted, so what it reads of a group
///   is current only if the group's row is the version the snapshot holds (`xmin`, read
///   once through the lock and once through the snapshot). Every write that adds messages
///   to a group or takes them out of flight writes its row (sends, claims, flushes,
///   dead-letter moves and redrives), so an unchanged row means the snapshot holds every
///   message of the group.
/// - A current group is set from the snapshot, leaving out the rows deleted here: the end
///   of its in-flight batch (at most one claim's messages up to `delivered_through`), else
///   its first message's visibility; a group with no messages left loses its row (a send
///   waiting for it inserts a new one). A group that changed meanwhile is made ready now:
///   the next claim reads it under its lock and recomputes it if it cannot deliver.
///
/// Returns each deleted row's id and generation, so a flush can tell apart two handles of
/// one message.
pub const DELETE_SQL: &str = include_str!("sql/fifo/delete.sql");

/// A delivery's row id and generation.
pub type Done = (i64, i32);

/// Deletes in-flight deliveries (of any queues; a FIFO handle expires with its visibility
/// timeout) and settles their groups, in one statement with its own transaction. Returns
/// those deleted.
pub async fn delete(
    db: impl PgExecutor<'_>,
    deliveries: &[Delivery],
    durability: Durability,
) -> sqlx::Result<Vec<Done>> {
    let ids: Vec<i64> = deliveries.iter().map(|d| d.row_id).collect();
    let generations: Vec<i32> = deliveries.iter().map(|d| d.generation).collect();
    let rows = sqlx::query_file!(
        "src/store/sql/fifo/delete.sql",
        &ids,
        &generations,
        super::messages::setting(durability),
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.generation)).collect())
}

/// Changes visibility: `$1` row ids, `$2` generations, `$3` timeouts. Returns each changed
/// row's id and generation.
pub const CHANGE_VISIBILITY_SQL: &str = include_str!("sql/fifo/change_visibility.sql");

/// Sets new visibility timeouts on in-flight deliveries (of any queues); returns those
/// changed. Call after `lock_groups_of`.
pub async fn change_visibility(
    conn: &mut PgConnection,
    changes: &[(Delivery, i32)],
) -> sqlx::Result<Vec<Done>> {
    let ids: Vec<i64> = changes.iter().map(|(d, _)| d.row_id).collect();
    let generations: Vec<i32> = changes.iter().map(|(d, _)| d.generation).collect();
    let timeouts: Vec<i32> = changes.iter().map(|(_, t)| *t).collect();
    let rows = sqlx::query_file!(
        "src/store/sql/fifo/change_visibility.sql",
        &ids,
        &generations,
        &timeouts,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.generation)).collect())
}

/// Which of the row ids `$1` still exist.
pub const EXISTING_SQL: &str = include_str!("sql/fifo/existing.sql");

/// Which of the row ids still exist (to tell an expired handle from a deleted message).
pub async fn existing(db: impl PgExecutor<'_>, ids: &[i64]) -> sqlx::Result<Vec<i64>> {
    sqlx::query_file_scalar!("src/store/sql/fifo/existing.sql", ids)
        .fetch_all(db)
        .await
}

/// Deletes a FIFO queue's messages, groups and deduplication ids; returns how many messages.
/// Groups go first: a send that holds a group's lock finishes before its messages are deleted.
pub async fn purge(conn: &mut PgConnection, queue: QueueId) -> sqlx::Result<u64> {
    sqlx::query!("delete from fifo_groups where queue_id = $1", queue)
        .execute(&mut *conn)
        .await?;
    let purged = super::queues::purge(&mut *conn, queue).await?;
    sqlx::query!("delete from fifo_dedup where queue_id = $1", queue)
        .execute(&mut *conn)
        .await?;
    sqlx::query!(
        "delete from fifo_receive_attempts where queue_id = $1",
        queue
    )
    .execute(&mut *conn)
    .await?;
    Ok(purged)
}

/// The deliveries a receive attempt returned, if it is still remembered.
pub async fn find_attempt(
    db: impl PgExecutor<'_>,
    queue: QueueId,
    attempt: &str,
) -> sqlx::Result<Option<(Vec<i64>, Vec<i32>)>> {
    let row = sqlx::query!(
        "select row_ids, generations from fifo_receive_attempts \
         where queue_id = $1 and attempt_id = $2 and expires_at > now()",
        queue,
        attempt,
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.row_ids, r.generations)))
}

/// Remembers what a receive attempt returned.
pub async fn save_attempt(
    db: impl PgExecutor<'_>,
    queue: QueueId,
    attempt: &str,
    deliveries: &[(i64, i32)],
) -> sqlx::Result<()> {
    let (ids, generations): (Vec<i64>, Vec<i32>) = deliveries.iter().copied().unzip();
    sqlx::query!(
        "insert into fifo_receive_attempts (queue_id, attempt_id, row_ids, generations, \
                                            expires_at) \
         values ($1, $2, $3, $4, now() + make_interval(secs => $5::int)) \
         on conflict (queue_id, attempt_id) do update \
             set row_ids = excluded.row_ids, generations = excluded.generations, \
                 expires_at = excluded.expires_at",
        queue,
        attempt,
        &ids,
        &generations,
        WINDOW_SECONDS,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Renews visibility: `$1` row ids, `$2` generations, `$3` visibility seconds.
pub const RENEW_SQL: &str = include_str!("sql/fifo/renew.sql");

/// Renews the visibility of an attempt's deliveries that are still in flight and current;
/// returns them in the order of `deliveries` (the order the attempt first returned them). Call after `lock_groups_of`.
pub async fn renew(
    conn: &mut PgConnection,
    deliveries: &[(i64, i32)],
    visibility: i32,
) -> sqlx::Result<Vec<FifoRow>> {
    let (ids, generations): (Vec<i64>, Vec<i32>) = deliveries.iter().copied().unzip();
    let mut rows = sqlx::query_file_as!(
        FifoRow,
        "src/store/sql/fifo/renew.sql",
        &ids,
        &generations,
        visibility,
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.sort_by_key(|r| ids.iter().position(|id| *id == r.id));
    Ok(rows)
}

/// Deletes deduplication ids, receive attempts and fair-queue clocks that have expired, up to
/// `batch` of each. Returns how many rows went.
pub async fn sweep(db: impl PgExecutor<'_> + Copy, batch: i64) -> sqlx::Result<u64> {
    let dedup = sqlx::query!(
        "delete from fifo_dedup where ctid = any(array( \
             select ctid from fifo_dedup where expires_at < now() limit $1))",
        batch,
    )
    .execute(db)
    .await?;
    let attempts = sqlx::query!(
        "delete from fifo_receive_attempts where ctid = any(array( \
             select ctid from fifo_receive_attempts where expires_at < now() limit $1))",
        batch,
    )
    .execute(db)
    .await?;
    Ok(dedup.rows_affected() + attempts.rows_affected() + super::fair::sweep(db, batch).await?)
}
