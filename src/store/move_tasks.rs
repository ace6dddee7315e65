//! SQL for redrive ("message move") tasks: moving messages out of a dead-letter queue.

use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

use crate::domain::{AccountId, MoveTask, QueueId};

/// A deleted destination is named by the name it had (`destination_name`).
const TASK_COLUMNS: &str = "t.id, t.source_queue_id, t.destination_queue_id, \
    coalesce(d.name, t.destination_name) as destination_name, t.max_per_second, t.status, \
    t.to_move, t.moved, t.failure_reason, t.created_at, t.updated_at";

/// Starting a task: `$1` id, `$2` account, `$3` source, `$4` destination, `$5` rate. Counts
/// the source's messages (work proportional to that queue, once per task, like
/// `queues::COUNTS_SQL`).
pub const START_SQL: &str = "insert into move_tasks (id, account_id, source_queue_id, \
         destination_queue_id, max_per_second, last_row_id, to_move) \
     select $1, $2, $3, $4, $5, coalesce(max(id), 0), count(*) \
     from messages where queue_id = $3 \
     having not exists (select 1 from move_tasks where source_queue_id = $3 \
                        and status = 'running') \
     returning id";

/// Starts a task over the messages currently in `source`; `None` if one is already running.
pub async fn start(
    db: impl PgExecutor<'_>,
    account: AccountId,
    source: QueueId,
    destination: Option<QueueId>,
    max_per_second: Option<i32>,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar(START_SQL)
        .bind(Uuid::new_v4())
        .bind(account)
        .bind(source)
        .bind(destination)
        .bind(max_per_second)
        .fetch_optional(db)
        .await
}

/// Tasks of a source queue, newest first.
pub async fn list(db: impl PgExecutor<'_>, source: QueueId) -> sqlx::Result<Vec<MoveTask>> {
    let sql = format!(
        "select {TASK_COLUMNS} from move_tasks t left join queues d on d.id = t.destination_queue_id \
         where t.source_queue_id = $1 order by t.created_at desc, t.id"
    );
    // Runtime SQL: the column list is a constant shared by the task queries.
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(source)
        .fetch_all(db)
        .await
}

/// One task of a source queue.
pub async fn find(
    db: impl PgExecutor<'_>,
    source: QueueId,
    id: Uuid,
) -> sqlx::Result<Option<MoveTask>> {
    let sql = format!(
        "select {TASK_COLUMNS} from move_tasks t left join queues d on d.id = t.destination_queue_id \
         where t.source_queue_id = $1 and t.id = $2"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(source)
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Cancels a running task; false if it was not running.
pub async fn cancel(db: impl PgExecutor<'_>, source: QueueId, id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "update move_tasks set status = 'cancelled', updated_at = now() \
         where source_queue_id = $1 and id = $2 and status = 'running'",
    )
    .bind(source)
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Running tasks: id and messages-per-second limit.
pub async fn running(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<(Uuid, Option<i32>)>> {
    sqlx::query_as(
        "select id, max_per_second from move_tasks where status = 'running' order by created_at",
    )
    .fetch_all(db)
    .await
}

/// Outcome of one step of a task.
#[derive(Debug, FromRow)]
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
pub const STEP_SQL: &str = "with task as materialized ( \
         select id, source_queue_id, destination_queue_id, last_row_id from move_tasks \
         where id = $1 and status = 'running' for update), \
     picked as materialized ( \
         select m.id, coalesce((select destination_queue_id from task), m.source_queue_id) \
                as dest \
         from messages m \
         where m.queue_id = (select source_queue_id from task) \
           and m.id <= (select last_row_id from task) \
           and exists (select 1 from queues q where q.id = \
               coalesce((select destination_queue_id from task), m.source_queue_id)) \
         order by m.sent_at, m.id limit $2 \
         for no key update of m skip locked), \
     gone as ( \
         delete from messages m using picked p \
         where m.id = any(array(select id from picked)) and m.id = p.id \
         returning m.id, p.dest, m.sent_at, m.message_id, m.body, m.attributes, m.group_id, \
                   m.dedup_id), \
     arrived as ( \
         insert into messages (queue_id, visible_at, sent_at, message_id, body, attributes, \
                               group_id, dedup_id) \
         select dest, now(), sent_at, message_id, body, attributes, group_id, dedup_id \
         from (select * from gone order by id) g \
         returning queue_id, group_id), \
     fifo_arrived as ( \
         insert into fifo_groups as f (queue_id, group_id, ready_at) \
         select queue_id, group_id, now() from arrived where group_id is not null \
         group by queue_id, group_id order by queue_id, group_id collate \"C\" \
         on conflict (queue_id, group_id) do update \
             set ready_at = case when f.ready_at = 'infinity' then excluded.ready_at \
                                 else f.ready_at end), \
     progress as (select count(*) as n, coalesce(array_agg(distinct queue_id), '{}') as dests \
                  from arrived), \
     outcome as ( \
         select case \
             when progress.n > 0 then 'running' \
             when not exists (select 1 from messages m \
                              where m.queue_id = task.source_queue_id \
                                and m.id <= task.last_row_id) then 'completed' \
             when not exists (select 1 from messages m \
                              where m.queue_id = task.source_queue_id \
                                and m.id <= task.last_row_id \
                                and exists (select 1 from queues q where q.id = \
                                    coalesce(task.destination_queue_id, m.source_queue_id))) \
                  then 'failed' \
             else 'running' end as status \
         from task, progress) \
     update move_tasks mt set \
         moved = mt.moved + progress.n, \
         updated_at = now(), \
         status = outcome.status, \
         failure_reason = case when outcome.status = 'failed' then \
             (select count(*) from messages m \
              where m.queue_id = task.source_queue_id and m.id <= task.last_row_id) \
             || ' message(s) have no destination queue (their source was deleted)' end \
     from task, progress, outcome where mt.id = task.id \
     returning progress.n as moved_now, progress.dests as destinations, mt.status";

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
    sqlx::query_as(STEP_SQL)
        .bind(task)
        .bind(limit)
        .fetch_optional(db)
        .await
}
