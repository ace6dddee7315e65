//! SQL for what SQS keeps per queue besides its settings: the access and redrive-allow
//! policies, the time of the last purge, and queue names by id.

use sqlx::{PgConnection, PgExecutor};

use crate::domain::QueueId;

/// The stored policies of a queue: (access policy, redrive-allow policy).
pub async fn get(
    db: impl PgExecutor<'_>,
    queue: QueueId,
) -> sqlx::Result<(Option<String>, Option<String>)> {
    let row: Option<(Option<String>, Option<String>)> = sqlx::query_as(
        "select policy, redrive_allow_policy from queue_policies where queue_id = $1",
    )
    .bind(queue)
    .fetch_optional(db)
    .await?;
    Ok(row.unwrap_or_default())
}

/// The access policy of a queue, locked until the transaction ends (read-modify-write).
pub async fn lock_policy(db: &mut PgConnection, queue: QueueId) -> sqlx::Result<Option<String>> {
    sqlx::query("insert into queue_policies (queue_id) values ($1) on conflict do nothing")
        .bind(queue)
        .execute(&mut *db)
        .await?;
    sqlx::query_scalar("select policy from queue_policies where queue_id = $1 for update")
        .bind(queue)
        .fetch_one(&mut *db)
        .await
}

/// Sets (or with `None` removes) the access policy.
pub async fn set_policy(
    db: impl PgExecutor<'_>,
    queue: QueueId,
    policy: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into queue_policies (queue_id, policy) values ($1, $2) \
         on conflict (queue_id) do update set policy = excluded.policy",
    )
    .bind(queue)
    .bind(policy)
    .execute(db)
    .await?;
    Ok(())
}

/// Sets (or with `None` removes) the redrive-allow policy.
pub async fn set_redrive_allow_policy(
    db: impl PgExecutor<'_>,
    queue: QueueId,
    policy: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into queue_policies (queue_id, redrive_allow_policy) values ($1, $2) \
         on conflict (queue_id) do update set redrive_allow_policy = excluded.redrive_allow_policy",
    )
    .bind(queue)
    .bind(policy)
    .execute(db)
    .await?;
    Ok(())
}

/// Records a purge unless the last one was less than `interval_seconds` ago; false then.
pub async fn try_record_purge(
    db: impl PgExecutor<'_>,
    queue: QueueId,
    interval_seconds: i32,
) -> sqlx::Result<bool> {
    let recorded: Option<i64> = sqlx::query_scalar(
        "insert into queue_purges (queue_id, purged_at) values ($1, now()) \
         on conflict (queue_id) do update set purged_at = now() \
         where queue_purges.purged_at <= now() - make_interval(secs => $2) \
         returning queue_id",
    )
    .bind(queue)
    .bind(interval_seconds)
    .fetch_optional(db)
    .await?;
    Ok(recorded.is_some())
}

/// Names of the given queues, by id (ids of deleted queues are left out).
pub async fn names(
    db: impl PgExecutor<'_>,
    ids: &[QueueId],
) -> sqlx::Result<Vec<(QueueId, String)>> {
    sqlx::query_as("select id, name from queues where id = any($1)")
        .bind(ids)
        .fetch_all(db)
        .await
}
