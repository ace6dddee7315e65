//! SQL for what SQS keeps per queue besides its settings: the access and redrive-allow
//! policies, the time of the last purge, and queue names by id.

use sqlx::{PgConnection, PgExecutor};

use crate::domain::QueueId;

/// The stored policies of a queue: (access policy, redrive-allow policy).
pub async fn get(
    db: impl PgExecutor<'_>,
    queue: QueueId,
) -> sqlx::Result<(Option<String>, Option<String>)> {
    let row = sqlx::query!(
        "select policy, redrive_allow_policy from queue_policies where queue_id = $1",
        queue,
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map_or_else(Default::default, |r| (r.policy, r.redrive_allow_policy)))
}

/// The access policy of a queue, locked until the transaction ends (read-modify-write).
pub async fn lock_policy(db: &mut PgConnection, queue: QueueId) -> sqlx::Result<Option<String>> {
    sqlx::query!(
        "insert into queue_policies (queue_id) values ($1) on conflict do nothing",
        queue,
    )
    .execute(&mut *db)
    .await?;
    sqlx::query_scalar!(
        "select policy from queue_policies where queue_id = $1 for update",
        queue,
    )
    .fetch_one(&mut *db)
    .await
}

/// Sets (or with `None` removes) the access policy.
pub async fn set_policy(
    db: impl PgExecutor<'_>,
    queue: QueueId,
    policy: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into queue_policies (queue_id, policy) values ($1, $2) \
         on conflict (queue_id) do update set policy = excluded.policy",
        queue,
        policy,
    )
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
    sqlx::query!(
        "insert into queue_policies (queue_id, redrive_allow_policy) values ($1, $2) \
         on conflict (queue_id) do update set redrive_allow_policy = excluded.redrive_allow_policy",
        queue,
        policy,
    )
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
    let recorded = sqlx::query_scalar!(
        "insert into queue_purges (queue_id, purged_at) values ($1, now()) \
         on conflict (queue_id) do update set purged_at = now() \
         where queue_purges.purged_at <= now() - make_interval(secs => $2::int) \
         returning queue_id",
        queue,
        interval_seconds,
    )
    .fetch_optional(db)
    .await?;
    Ok(recorded.is_some())
}

/// Names of the given queues, by id (ids of deleted queues are left out).
pub async fn names(
    db: impl PgExecutor<'_>,
    ids: &[QueueId],
) -> sqlx::Result<Vec<(QueueId, String)>> {
    let rows = sqlx::query!("select id, name from queues where id = any($1)", ids)
        .fetch_all(db)
        .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.name)).collect())
}
