//! The readiness probe's questions to the database: is it reachable, and is every migration
//! this build knows applied.

use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};
use tokio::time::timeout;

use super::Db;

/// `Ok` when the database answers within `budget` and has every migration of this build;
/// otherwise why not, in words for an operator (connection refused, starting up, timed out,
/// migrations missing).
pub async fn readiness(db: &Db, budget: Duration) -> Result<(), String> {
    let started = Instant::now();
    let expected = sqlx::migrate!()
        .migrations
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .count();
    let applied = timeout(
        budget,
        sqlx::query_scalar!(r#"select count(*) as "applied!" from _sqlx_migrations where success"#)
            .fetch_one(db),
    )
    .await;
    Err(match applied {
        Ok(Ok(n)) if usize::try_from(n).is_ok_and(|n| n >= expected) => return Ok(()),
        Ok(Ok(n)) => format!("{n} of {expected} migrations applied"),
        // The pool only says it timed out; one direct attempt in the time left tells why.
        Ok(Err(_)) | Err(_) => {
            let left = budget.saturating_sub(started.elapsed());
            match timeout(left, PgConnection::connect_with(&db.connect_options())).await {
                Ok(Err(error)) => format!("database unreachable: {error}"),
                Ok(Ok(_)) => {
                    "database reachable but every pooled connection is busy or broken".to_owned()
                }
                Err(_) => "database unreachable: no answer within a second".to_owned(),
            }
        }
    })
}
