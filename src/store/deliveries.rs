//! SQL about single deliveries named by receipt handles, beyond deleting and hiding them.

use sqlx::PgExecutor;

use crate::queue::handle::Delivery;

/// Whether a delivery is current: `$1` row id, `$2` generation. One primary-key probe; no
/// `queue_id` condition, for the reason given at `messages::DELETE_SQL` (the engine checks the
/// handle's queue before asking).
pub const IS_CURRENT_SQL: &str =
    "select exists (select 1 from messages where id = $1 and receive_count = $2)";

/// Whether the delivery is still the message's latest one (the message exists and was not
/// received again), whatever its visibility.
pub async fn is_current(db: impl PgExecutor<'_>, delivery: Delivery) -> sqlx::Result<bool> {
    sqlx::query_scalar(IS_CURRENT_SQL)
        .bind(delivery.row_id)
        .bind(delivery.generation)
        .fetch_one(db)
        .await
}
