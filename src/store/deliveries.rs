//! SQL about single deliveries named by receipt handles, beyond deleting and hiding them.

use sqlx::PgExecutor;

use crate::queue::handle::Delivery;

/// Whether the delivery is still the message's latest one (the message exists and was not
/// received again), whatever its visibility.
pub async fn is_current(db: impl PgExecutor<'_>, delivery: Delivery) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "select exists (select 1 from messages \
         where queue_id = $1 and id = $2 and receive_count = $3)",
    )
    .bind(delivery.queue_id)
    .bind(delivery.row_id)
    .bind(delivery.generation)
    .fetch_one(db)
    .await
}
