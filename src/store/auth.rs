//! SQL for accounts, signing keys and API tokens.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::domain::{Account, AccountId, Token};

/// Inserts an account; `None` if the id or name is taken.
pub async fn insert_account(
    db: impl PgExecutor<'_>,
    id: AccountId,
    name: &str,
) -> sqlx::Result<Option<Account>> {
    sqlx::query_as!(
        Account,
        "insert into accounts (id, name) values ($1, $2) on conflict do nothing \
         returning id, name, created_at",
        id,
        name,
    )
    .fetch_optional(db)
    .await
}

/// Whether an account of this name exists.
pub async fn account_name_taken(db: impl PgExecutor<'_>, name: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from accounts where name = $1) as "taken!""#,
        name,
    )
    .fetch_one(db)
    .await
}

/// All accounts by id (not the hidden per-region namespaces of the SQS door).
pub async fn list_accounts(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<Account>> {
    sqlx::query_as!(
        Account,
        "select id, name, created_at from accounts where parent_id is null order by id",
    )
    .fetch_all(db)
    .await
}

/// A signing key's id and salt.
#[derive(Debug, Clone)]
pub struct SigningKeyRow {
    pub kid: String,
    pub salt: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

/// All signing keys, newest first.
pub async fn signing_keys(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<SigningKeyRow>> {
    sqlx::query_as!(
        SigningKeyRow,
        "select kid, salt, created_at, retired_at from signing_keys order by created_at desc, kid",
    )
    .fetch_all(db)
    .await
}

/// Adds a signing key; it signs from now on.
pub async fn insert_signing_key(
    db: impl PgExecutor<'_>,
    kid: &str,
    salt: &[u8],
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into signing_keys (kid, salt) values ($1, $2)",
        kid,
        salt,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Retires a key: tokens it signed stop working. False if no such unretired key.
pub async fn retire_signing_key(db: impl PgExecutor<'_>, kid: &str) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update signing_keys set retired_at = now() where kid = $1 and retired_at is null",
        kid,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a new token.
pub async fn insert_token(db: impl PgExecutor<'_>, token: &Token) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into api_tokens (id, account_id, name, scopes, access_key_id, expires_at) \
         values ($1, $2, $3, $4, $5, $6)",
        token.id,
        token.account_id,
        token.name,
        &token.scopes,
        token.access_key_id,
        token.expires_at,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Tokens of an account, newest first.
pub async fn list_tokens(db: impl PgExecutor<'_>, account: AccountId) -> sqlx::Result<Vec<Token>> {
    sqlx::query_as!(
        Token,
        "select id, account_id, name, scopes, access_key_id, created_at, expires_at, revoked_at \
         from api_tokens where account_id = $1 order by created_at desc, id",
        account,
    )
    .fetch_all(db)
    .await
}

/// Every account's tokens (for operators), by account, newest first.
pub async fn list_all_tokens(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<Token>> {
    sqlx::query_as!(
        Token,
        "select id, account_id, name, scopes, access_key_id, created_at, expires_at, revoked_at \
         from api_tokens order by account_id, created_at desc, id",
    )
    .fetch_all(db)
    .await
}

/// One token by id.
pub async fn find_token(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Token>> {
    sqlx::query_as!(
        Token,
        "select id, account_id, name, scopes, access_key_id, created_at, expires_at, revoked_at \
         from api_tokens where id = $1",
        id,
    )
    .fetch_optional(db)
    .await
}

/// One token by its SigV4 access key id.
pub async fn find_token_by_access_key(
    db: impl PgExecutor<'_>,
    access_key_id: &str,
) -> sqlx::Result<Option<Token>> {
    sqlx::query_as!(
        Token,
        "select id, account_id, name, scopes, access_key_id, created_at, expires_at, revoked_at \
         from api_tokens where access_key_id = $1",
        access_key_id,
    )
    .fetch_optional(db)
    .await
}

/// Revokes a token of an account; false if there is no such unrevoked token.
pub async fn revoke_token(
    db: impl PgExecutor<'_>,
    account: AccountId,
    id: Uuid,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update api_tokens set revoked_at = now() \
         where id = $1 and account_id = $2 and revoked_at is null",
        id,
        account,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether the account has any token at all (for the first-start bootstrap).
pub async fn any_token(db: impl PgExecutor<'_>, account: AccountId) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from api_tokens where account_id = $1) as "any!""#,
        account,
    )
    .fetch_one(db)
    .await
}
