//! Server-wide secrets shared by all nodes through the database.

use sqlx::PgExecutor;

/// Returns the secret called `name`, creating it from `fresh` if no node has yet.
pub async fn get_or_create(
    db: impl PgExecutor<'_> + Copy,
    name: &str,
    fresh: &[u8],
) -> sqlx::Result<Vec<u8>> {
    sqlx::query!(
        "insert into server_secrets (name, secret) values ($1, $2) on conflict (name) do nothing",
        name,
        fresh,
    )
    .execute(db)
    .await?;
    sqlx::query_scalar!("select secret from server_secrets where name = $1", name)
        .fetch_one(db)
        .await
}
