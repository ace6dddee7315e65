//! SQL for a queue's SQS encryption attributes (stored and returned, not acted on).

use sqlx::PgExecutor;

use crate::domain::QueueId;

/// A queue's encryption attributes as stored; `None` is SQS's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Encryption {
    pub kms_master_key_id: Option<String>,
    pub kms_data_key_reuse_period_seconds: Option<i32>,
    pub sqs_managed_sse_enabled: Option<bool>,
}

/// The encryption attributes of a queue (defaults when none were set).
pub async fn get(db: impl PgExecutor<'_>, queue: QueueId) -> sqlx::Result<Encryption> {
    let row = sqlx::query_as!(
        Encryption,
        "select kms_master_key_id, kms_data_key_reuse_period_seconds, sqs_managed_sse_enabled \
         from queue_encryption where queue_id = $1",
        queue,
    )
    .fetch_optional(db)
    .await?;
    Ok(row.unwrap_or_default())
}

/// Overwrites the encryption attributes of a queue.
pub async fn set(db: impl PgExecutor<'_>, queue: QueueId, e: &Encryption) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into queue_encryption (queue_id, kms_master_key_id, \
             kms_data_key_reuse_period_seconds, sqs_managed_sse_enabled) \
         values ($1, $2, $3, $4) \
         on conflict (queue_id) do update set kms_master_key_id = excluded.kms_master_key_id, \
             kms_data_key_reuse_period_seconds = excluded.kms_data_key_reuse_period_seconds, \
             sqs_managed_sse_enabled = excluded.sqs_managed_sse_enabled",
        queue,
        e.kms_master_key_id.as_deref(),
        e.kms_data_key_reuse_period_seconds,
        e.sqs_managed_sse_enabled,
    )
    .execute(db)
    .await?;
    Ok(())
}
