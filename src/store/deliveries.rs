//! SQL about single deliveries named by receipt handles, beyond deleting and hiding them.

use sqlx::PgExecutor;

use crate::queue::handle::Delivery;

/// Whether a delivery is current: `$1` row id, `$2` generation. One primary-key probe; no
/// `queue_id` condition, for the reason given at `messages::DELETE_SQL` (the engine checks the
/// handle's queue before asking).
pub const IS_CURRENT_SQL: &str = include_str!("sql/deliveries/is_current.sql");

/// The current generation of a delivery's message: `$1` row id. Keyed like `IS_CURRENT_SQL`.
pub const GENERATION_SQL: &str = include_str!("sql/deliveries/generation.sql");

/// Whether the delivery is still the message's latest one (the message exists and was not
/// received again), whatever its visibility.
pub async fn is_current(db: impl PgExecutor<'_>, delivery: Delivery) -> sqlx::Result<bool> {
    sqlx::query_file_scalar!(
        "src/store/sql/deliveries/is_current.sql",
        delivery.row_id,
        delivery.generation,
    )
    .fetch_one(db)
    .await
}

/// The current generation (receive count) of the message a delivery belongs to, if the message
/// is still there (an earlier receipt handle names it as well as the latest one does).
pub async fn generation(db: impl PgExecutor<'_>, delivery: Delivery) -> sqlx::Result<Option<i32>> {
    sqlx::query_file_scalar!("src/store/sql/deliveries/generation.sql", delivery.row_id)
        .fetch_optional(db)
        .await
}
