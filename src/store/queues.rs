//! SQL for queues: create, look up, list, update, delete, purge, counts.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use crate::domain::{
    AccountId, DeadLetter, DeduplicationScope, Durability, FifoSettings, FifoThroughputLimit,
    Queue, QueueCounts, QueueId, QueueName, QueueSettings,
};

/// The stored forms of the FIFO settings (SQS's attribute values).
fn fifo_columns(s: &QueueSettings) -> (bool, bool, &'static str, &'static str) {
    let f = s.fifo.unwrap_or_default();
    let scope = match f.deduplication_scope {
        DeduplicationScope::Queue => "queue",
        DeduplicationScope::MessageGroup => "messageGroup",
    };
    let limit = match f.throughput_limit {
        FifoThroughputLimit::PerQueue => "perQueue",
        FifoThroughputLimit::PerMessageGroupId => "perMessageGroupId",
    };
    (
        s.fifo.is_some(),
        f.content_based_deduplication,
        scope,
        limit,
    )
}

/// A queue as the queue queries select it (`find`, `list`, `list_all`: the same columns), with
/// its dead-letter queue's name joined in.
struct QueueRow {
    id: i64,
    account_id: i64,
    name: String,
    visibility_timeout: i32,
    delay_seconds: i32,
    retention_seconds: i32,
    max_message_bytes: i32,
    receive_wait_seconds: i32,
    dead_letter_queue_id: Option<i64>,
    max_receive_count: Option<i32>,
    max_depth: Option<i64>,
    relaxed_durability: bool,
    fifo: bool,
    content_based_deduplication: bool,
    deduplication_scope: String,
    fifo_throughput_limit: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    dead_letter_name: Option<String>,
}

impl From<QueueRow> for Queue {
    fn from(row: QueueRow) -> Self {
        let dead_letter = row.dead_letter_queue_id.zip(row.max_receive_count).map(
            |(queue_id, max_receive_count)| DeadLetter {
                queue_id,
                max_receive_count,
            },
        );
        Queue {
            id: row.id,
            account_id: row.account_id,
            name: QueueName::from_trusted(row.name),
            settings: QueueSettings {
                visibility_timeout: row.visibility_timeout,
                delay_seconds: row.delay_seconds,
                retention_seconds: row.retention_seconds,
                max_message_bytes: row.max_message_bytes,
                receive_wait_seconds: row.receive_wait_seconds,
                dead_letter,
                max_depth: row.max_depth,
                durability: if row.relaxed_durability {
                    Durability::Relaxed
                } else {
                    Durability::Durable
                },
                fifo: row.fifo.then(|| FifoSettings {
                    content_based_deduplication: row.content_based_deduplication,
                    deduplication_scope: if row.deduplication_scope == "messageGroup" {
                        DeduplicationScope::MessageGroup
                    } else {
                        DeduplicationScope::Queue
                    },
                    throughput_limit: if row.fifo_throughput_limit == "perMessageGroupId" {
                        FifoThroughputLimit::PerMessageGroupId
                    } else {
                        FifoThroughputLimit::PerQueue
                    },
                }),
            },
            dead_letter_name: row.dead_letter_name.map(QueueName::from_trusted),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// Inserts a queue; `None` if the account already has one of that name.
pub async fn insert(
    db: impl PgExecutor<'_>,
    account: AccountId,
    name: &QueueName,
    s: &QueueSettings,
) -> sqlx::Result<Option<QueueId>> {
    let (fifo, content_based_deduplication, scope, limit) = fifo_columns(s);
    sqlx::query_scalar!(
        "insert into queues (account_id, name, visibility_timeout, delay_seconds, \
         retention_seconds, max_message_bytes, receive_wait_seconds, dead_letter_queue_id, \
         max_receive_count, max_depth, relaxed_durability, fifo, content_based_deduplication, \
         deduplication_scope, fifo_throughput_limit) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
         on conflict (account_id, name) do nothing returning id",
        account,
        name.as_str(),
        s.visibility_timeout,
        s.delay_seconds,
        s.retention_seconds,
        s.max_message_bytes,
        s.receive_wait_seconds,
        s.dead_letter.as_ref().map(|d| d.queue_id),
        s.dead_letter.as_ref().map(|d| d.max_receive_count),
        s.max_depth,
        s.durability == Durability::Relaxed,
        fifo,
        content_based_deduplication,
        scope,
        limit,
    )
    .fetch_optional(db)
    .await
}

/// Looks a queue up by account and name.
pub async fn find(
    db: impl PgExecutor<'_>,
    account: AccountId,
    name: &str,
) -> sqlx::Result<Option<Queue>> {
    let row = sqlx::query_as!(
        QueueRow,
        "select q.id, q.account_id, q.name, q.visibility_timeout, q.delay_seconds, \
                q.retention_seconds, q.max_message_bytes, q.receive_wait_seconds, \
                q.dead_letter_queue_id, q.max_receive_count, q.max_depth, q.relaxed_durability, \
                q.fifo, q.content_based_deduplication, q.deduplication_scope, \
                q.fifo_throughput_limit, q.created_at, q.updated_at, \
                d.name as \"dead_letter_name?\" \
         from queues q left join queues d on d.id = q.dead_letter_queue_id \
         where q.account_id = $1 and q.name = $2",
        account,
        name,
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(Queue::from))
}

/// Lists an account's queues by name, after `after`, starting with `prefix`.
pub async fn list(
    db: impl PgExecutor<'_>,
    account: AccountId,
    prefix: &str,
    after: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<Queue>> {
    let rows = sqlx::query_as!(
        QueueRow,
        "select q.id, q.account_id, q.name, q.visibility_timeout, q.delay_seconds, \
                q.retention_seconds, q.max_message_bytes, q.receive_wait_seconds, \
                q.dead_letter_queue_id, q.max_receive_count, q.max_depth, q.relaxed_durability, \
                q.fifo, q.content_based_deduplication, q.deduplication_scope, \
                q.fifo_throughput_limit, q.created_at, q.updated_at, \
                d.name as \"dead_letter_name?\" \
         from queues q left join queues d on d.id = q.dead_letter_queue_id \
         where q.account_id = $1 and starts_with(q.name, $2) and ($3::text is null or q.name > $3) \
         order by q.name collate \"C\" limit $4",
        account,
        prefix,
        after,
        limit,
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Queue::from).collect())
}

/// Overwrites a queue's settings.
pub async fn update(db: impl PgExecutor<'_>, id: QueueId, s: &QueueSettings) -> sqlx::Result<()> {
    let (_, content_based_deduplication, scope, limit) = fifo_columns(s);
    sqlx::query!(
        "update queues set visibility_timeout = $2, delay_seconds = $3, retention_seconds = $4, \
         max_message_bytes = $5, receive_wait_seconds = $6, dead_letter_queue_id = $7, \
         max_receive_count = $8, max_depth = $9, relaxed_durability = $10, \
         content_based_deduplication = $11, deduplication_scope = $12, \
         fifo_throughput_limit = $13, updated_at = now() \
         where id = $1",
        id,
        s.visibility_timeout,
        s.delay_seconds,
        s.retention_seconds,
        s.max_message_bytes,
        s.receive_wait_seconds,
        s.dead_letter.as_ref().map(|d| d.queue_id),
        s.dead_letter.as_ref().map(|d| d.max_receive_count),
        s.max_depth,
        s.durability == Durability::Relaxed,
        content_based_deduplication,
        scope,
        limit,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Deletes a queue and, by cascade, its messages and move tasks.
pub async fn delete(db: impl PgExecutor<'_>, id: QueueId) -> sqlx::Result<bool> {
    let done = sqlx::query!("delete from queues where id = $1", id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Purge: `$1` queue. Its work is the queue's rows (all of which it deletes), read through a
/// per-queue index, never other queues' rows.
pub const PURGE_SQL: &str = include_str!("sql/queues/purge.sql");

/// Deletes every message of a queue; returns how many.
pub async fn purge(db: impl PgExecutor<'_>, id: QueueId) -> sqlx::Result<u64> {
    let done = sqlx::query_file!("src/store/sql/queues/purge.sql", id)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}

/// Whether following dead-letter targets from `start` reaches `target` (cycle check).
pub async fn dead_letter_chain_reaches(
    db: impl PgExecutor<'_>,
    start: QueueId,
    target: QueueId,
) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        "with recursive chain(id) as ( \
             select $1::bigint \
             union \
             select q.dead_letter_queue_id from queues q join chain c on q.id = c.id \
             where q.dead_letter_queue_id is not null) \
         select exists (select 1 from chain where id = $2) as \"reaches!\"",
        start,
        target,
    )
    .fetch_one(db)
    .await
}

/// Counts: `$1` queue. The one read whose work is the queue's size (exact counts by state
/// need every row of the queue; nothing else in the table is read). The engine runs it at
/// most once per cache period per queue and node (`queue::stats`), never per message.
pub const COUNTS_SQL: &str = include_str!("sql/queues/counts.sql");

/// Counts a queue's messages by state. Walks the queue's rows, so callers cache the result.
pub async fn counts(db: impl PgExecutor<'_>, id: QueueId) -> sqlx::Result<QueueCounts> {
    let row = sqlx::query_file!("src/store/sql/queues/counts.sql", id)
        .fetch_one(db)
        .await?;
    Ok(QueueCounts {
        visible: row.visible,
        in_flight: row.in_flight,
        delayed: row.delayed,
        oldest_sent_at: row.oldest_sent_at,
    })
}

/// Names of an account's queues that dead-letter into `id`.
pub async fn dead_letter_sources(
    db: impl PgExecutor<'_>,
    id: QueueId,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        "select name from queues where dead_letter_queue_id = $1 order by name collate \"C\"",
        id,
    )
    .fetch_all(db)
    .await
}

/// How many queues exist (all accounts).
pub async fn count_all(db: impl PgExecutor<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar!(r#"select count(*) as "count!" from queues"#)
        .fetch_one(db)
        .await
}

/// The first `limit` queues of all accounts, by account and name.
pub async fn list_all(db: impl PgExecutor<'_>, limit: i64) -> sqlx::Result<Vec<Queue>> {
    let rows = sqlx::query_as!(
        QueueRow,
        "select q.id, q.account_id, q.name, q.visibility_timeout, q.delay_seconds, \
                q.retention_seconds, q.max_message_bytes, q.receive_wait_seconds, \
                q.dead_letter_queue_id, q.max_receive_count, q.max_depth, q.relaxed_durability, \
                q.fifo, q.content_based_deduplication, q.deduplication_scope, \
                q.fifo_throughput_limit, q.created_at, q.updated_at, \
                d.name as \"dead_letter_name?\" \
         from queues q left join queues d on d.id = q.dead_letter_queue_id \
         order by q.account_id, q.name collate \"C\" limit $1",
        limit,
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Queue::from).collect())
}
