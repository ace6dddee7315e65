//! SQL for message system attributes (SQS `AWSTraceHeader`, a fair queue's `MessageGroupId`),
//! kept by public message id.

use std::collections::HashMap;

use sqlx::PgExecutor;
use uuid::Uuid;

/// Stores the system attributes (JSON objects) of newly sent messages.
pub async fn insert(db: impl PgExecutor<'_>, rows: &[(Uuid, String)]) -> sqlx::Result<()> {
    let (ids, attributes): (Vec<Uuid>, Vec<&str>) =
        rows.iter().map(|(id, a)| (*id, a.as_str())).unzip();
    sqlx::query!(
        "insert into message_system_attributes (message_id, attributes) \
         select m, a::jsonb from unnest($1::uuid[], $2::text[]) as t(m, a) \
         on conflict (message_id) do update \
             set attributes = message_system_attributes.attributes || excluded.attributes",
        &ids,
        &attributes as &[&str],
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The system attributes (JSON text) of those of `ids` that have any.
pub async fn find(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<HashMap<Uuid, String>> {
    let rows = sqlx::query!(
        "select message_id, attributes::text as \"attributes!\" from message_system_attributes \
         where message_id = any($1)",
        ids,
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.message_id, r.attributes))
        .collect())
}

/// Deletes rows older than `max_age_seconds` (every message they belonged to has expired).
pub async fn sweep(db: impl PgExecutor<'_>, max_age_seconds: i32) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "delete from message_system_attributes \
         where created_at < now() - make_interval(secs => $1::int)",
        max_age_seconds,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
