//! SQL for the SQS door's region namespaces: an account's queues in a region other than the
//! default live under a hidden `accounts` row of that account and region.

use sqlx::PgExecutor;

use crate::domain::AccountId;

/// The namespace of `account` in `region`, made on first use.
pub async fn get_or_create(
    db: impl PgExecutor<'_>,
    account: AccountId,
    region: &str,
) -> sqlx::Result<AccountId> {
    // A concurrent first use inserts nothing here and is found by the second branch only after
    // it commits; the caller retries once in that case.
    sqlx::query_scalar!(
        "with made as ( \
             insert into accounts (id, name, parent_id, region) \
             values (nextval('region_namespace_ids'), $1::bigint::text || '@' || $2, $1, $2) \
             on conflict do nothing returning id) \
         select id as \"id!\" from made union all \
         select id from accounts where parent_id = $1 and region = $2 limit 1",
        account,
        region,
    )
    .fetch_one(db)
    .await
}
