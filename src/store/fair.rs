//! SQL for fair standard queues: each message group's virtual clock (see the migration).

use sqlx::PgExecutor;

use crate::domain::QueueId;

/// How far back a fair queue's stamps reach: a group may place this many messages ahead of
/// busier groups' backlogs before its own stamps reach the present.
pub const FAIR_HORIZON_SECONDS: i32 = 3_600;

/// Advances the virtual clocks of fair-queue groups by `counts` messages each and returns, per
/// group, the clock after the advance as seconds from now (the group's `n` messages are stamped
/// at that minus `n`, minus `n - 1`, …, each at most now).
pub async fn clocks(
    db: impl PgExecutor<'_>,
    queue: QueueId,
    groups: &[(String, i32)],
) -> sqlx::Result<Vec<(String, i64)>> {
    let (names, counts): (Vec<&str>, Vec<i32>) =
        groups.iter().map(|(g, n)| (g.as_str(), *n)).unzip();
    let rows = sqlx::query!(
        "with t as (select * from unnest($2::text[], $3::int[]) as t(g, n) \
                    order by g collate \"C\"), \
         base as (select now() - make_interval(secs => $4::int) as at) \
         insert into fair_groups as f (queue_id, group_id, clock) \
         select $1, g, base.at + make_interval(secs => n) from t, base \
         on conflict (queue_id, group_id) do update \
             set clock = least(greatest(f.clock, (select at from base)) \
                               + (excluded.clock - (select at from base)), \
                               now() + make_interval(secs => $4)) \
         returning group_id, floor(extract(epoch from clock - now()))::bigint as \"clock!\"",
        queue,
        &names as &[&str],
        &counts,
        FAIR_HORIZON_SECONDS,
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.group_id, r.clock)).collect())
}

/// Deletes up to `batch` clocks that fell behind the horizon (equivalent to no clock).
pub async fn sweep(db: impl PgExecutor<'_>, batch: i64) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "delete from fair_groups where ctid = any(array( \
             select ctid from fair_groups where clock < now() - make_interval(secs => $2::int) \
             limit $1))",
        batch,
        FAIR_HORIZON_SECONDS,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
