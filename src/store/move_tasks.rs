//! SQL for redrive ("message move") tasks: moving messages out of a dead-letter queue.

use sqlx::PgExecutor;
use uuid::Uuid;

use crate::domain::{AccountId, MoveTask, QueueId};

/// Starting a task: `$1` id, `$2` account, `$3` source, `$4` destination, `$5` rate. Counts
/// the source's messages (work proportional to that queue, once per task, like
/// `queues::COUNTS_SQL`).
pub const START_SQL: &str = include_str!("sql/move_tasks/start.sql");

/// Starts a task over the messages currently in `source`; `None` if one is already running.
pub async fn start(
    db: impl PgExecutor<'_>,
    account: AccountId,
    source: QueueId,
    destination: Option<QueueId>,
    max_per_second: Option<i32>,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_file_scalar!(
        "src/store/sql/move_tasks/start.sql",
        Uuid::new_v4(),
        account,
        source,
        destination,
        max_per_second,
    )
    .fetch_optional(db)
    .await
}

/// Tasks of a source queue, newest first.
pub async fn list(db: impl PgExecutor<'_>, source: QueueId) -> sqlx::Result<Vec<MoveTask>> {
    sqlx::query_as!(
        MoveTask,
        "select t.id, t.source_queue_id, t.destination_queue_id, \
                coalesce(d.name, t.destination_name) as destination_name, t.max_per_second, \
                t.status, t.to_move, t.moved, t.failure_reason, t.created_at, t.updated_at \
         from move_tasks t left join queues d on d.id = t.destination_queue_id \
         where t.source_queue_id = $1 order by t.created_at desc, t.id",
        source,
    )
    .fetch_all(db)
    .await
}

/// One task of a source queue.
pub async fn find(
    db: impl PgExecutor<'_>,
    source: QueueId,
    id: Uuid,
) -> sqlx::Result<Option<MoveTask>> {
    sqlx::query_as!(
        MoveTask,
        "select t.id, t.source_queue_id, t.destination_queue_id, \
                coalesce(d.name, t.destination_name) as destination_name, t.max_per_second, \
                t.status, t.to_move, t.moved, t.failure_reason, t.created_at, t.updated_at \
         from move_tasks t left join queues d on d.id = t.destination_queue_id \
         where t.source_queue_id = $1 and t.id = $2",
        source,
        id,
    )
    .fetch_optional(db)
    .await
}

/// Cancels a running task; false if it was not running.
pub async fn cancel(db: impl PgExecutor<'_>, source: QueueId, id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update move_tasks set status = 'cancelled', updated_at = now() \
         where source_queue_id = $1 and id = $2 and status = 'running'",
        source,
        id,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Running tasks: id and messages-per-second limit.
pub async fn running(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<(Uuid, Option<i32>)>> {
    let rows = sqlx::query!(
        "select id, max_per_second from move_tasks where status = 'running' order by created_at",
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.max_per_second)).collect())
}

/// Outcome of one step of a task.
#[derive(Debug)]
pub struct Step {
    /// Messages moved by this step.
    pub moved_now: i64,
    /// Queues that received messages (to wake their pollers).
    pub destinations: Vec<i64>,
    pub status: String,
}

/// One step of a move task: `$1` task, `$2` most messages moved.
///
/// Bounded by the rows it moves, whatever the statistics:
/// - the source queue and last row id enter the pick as scalar subqueries (one value each), so
///   the pick is an ordered walk of `messages_sent` for that queue that stops after `$2` rows
///   (a join with the task row would let the planner sort the whole queue first);
/// - the delete finds the picked rows by id through the primary key (see
///   `messages::CLAIM_SQL`);
/// - whether anything is left is asked with `exists` (one row) only when nothing moved, and
///   the rows without a destination are counted only when the task fails.
pub const STEP_SQL: &str = include_str!("sql/move_tasks/step.sql");

/// Moves up to `limit` of the task's messages, oldest first, and records the progress in the
/// same statement: a crash leaves every message either moved and counted, or not moved.
///
/// Moved messages keep their id, body, attributes, sent time and (FIFO) group and
/// deduplication id, in order, start over with no receives, and are visible at once. Messages
/// without a destination (their source queue was deleted) stay; when only such messages are
/// left the task fails, naming how many. Rows locked by a concurrent receive are skipped and
/// retried on the next step.
///
/// FIFO messages land in their group after the group's current messages; the group's row is
/// upserted after the insert, so a send racing with the redrive into the same group may
/// interleave with the moved messages (each side keeps its own order).
pub async fn step(db: impl PgExecutor<'_>, task: Uuid, limit: i64) -> sqlx::Result<Option<Step>> {
    sqlx::query_file_as!(Step, "src/store/sql/move_tasks/step.sql", task, limit)
        .fetch_optional(db)
        .await
}
