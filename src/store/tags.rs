//! SQL for queue tags.

use sqlx::PgExecutor;

use crate::domain::QueueId;

/// A queue's tags, sorted by key.
pub async fn list(db: impl PgExecutor<'_>, queue: QueueId) -> sqlx::Result<Vec<(String, String)>> {
    let rows = sqlx::query!(
        "select key, value from queue_tags where queue_id = $1 order by key collate \"C\"",
        queue,
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.key, r.value)).collect())
}

/// Adds tags, overwriting the values of keys that exist.
pub async fn upsert(
    db: impl PgExecutor<'_>,
    queue: QueueId,
    tags: &[(String, String)],
) -> sqlx::Result<()> {
    let (keys, values): (Vec<&str>, Vec<&str>) =
        tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).unzip();
    sqlx::query!(
        "insert into queue_tags (queue_id, key, value) \
         select $1, k, v from unnest($2::text[], $3::text[]) as t(k, v) \
         on conflict (queue_id, key) do update set value = excluded.value",
        queue,
        &keys as &[&str],
        &values as &[&str],
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Removes tags by key; unknown keys are ignored.
pub async fn remove(db: impl PgExecutor<'_>, queue: QueueId, keys: &[String]) -> sqlx::Result<()> {
    sqlx::query!(
        "delete from queue_tags where queue_id = $1 and key = any($2)",
        queue,
        keys,
    )
    .execute(db)
    .await?;
    Ok(())
}
