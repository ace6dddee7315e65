//! SQL about single deliveries named by receipt handles, beyond deleting and hiding them.

use sqlx::PgExecutor;

use crate::queue::handle::Delivery;

/// The current generation (receive count) of the message a delivery belongs to, if the message
/// is still in its queue.
pub async fn generation(db: impl PgExecutor<'_>, delivery: Delivery) -> sqlx::Result<Option<i32>> {
    sqlx::query_scalar("select receive_count from messages where queue_id = $1 and id = $2")
        .bind(delivery.queue_id)
        .bind(delivery.row_id)
        .fetch_optional(db)
        .await
}
