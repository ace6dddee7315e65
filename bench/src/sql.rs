//! The hand-written PostgreSQL queue: what one would write without a queue product. One table
//! per queue, claimed with `FOR UPDATE SKIP LOCKED` through a `(visible_at, id)` index, deleted
//! by id; in its own database (`spool_bench_sql`) on the same PostgreSQL server. Consumers poll
//! every 10 ms while waiting, as pgmq's `read_with_poll` does.

use std::{str::FromStr, time::Duration};

use anyhow::Context;
use sqlx::{
    AssertSqlSafe, Connection, PgConnection, PgPool, Row,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tokio::{task::JoinSet, time::Instant};

use crate::{
    stats::{Op, Recorder, collect, failed},
    workload::{Window, Workload, body, stamp_of},
};

/// The database the hand-written queues live in.
pub const DATABASE: &str = "spool_bench_sql";
/// Seconds a received message stays hidden (as for Spool and pgmq).
const VISIBILITY_SECONDS: f64 = 30.0;
/// How often a waiting receive looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Creates the database if needed and returns a pool with one connection per task.
pub async fn connect(url: &str, tasks: usize) -> anyhow::Result<PgPool> {
    let mut admin = PgConnection::connect(url)
        .await
        .with_context(|| format!("could not connect to PostgreSQL ({url})"))?;
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
            .bind(DATABASE)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        // CREATE DATABASE takes no parameters; the name is a constant.
        sqlx::raw_sql(AssertSqlSafe(format!("create database {DATABASE}")))
            .execute(&mut admin)
            .await?;
    }
    let options = PgConnectOptions::from_str(url)?.database(DATABASE);
    Ok(PgPoolOptions::new()
        .max_connections(u32::try_from(tasks.max(2))?)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await?)
}

/// The table of queue `name` (bench queue names are lower-case letters, digits and `_`).
fn table(name: &str) -> anyhow::Result<String> {
    anyhow::ensure!(
        name.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
        "queue name {name:?} is not a plain identifier"
    );
    Ok(format!("q_{name}"))
}

/// Creates a fresh queue table (dropping a leftover of the same name).
pub async fn create_queue(pool: &PgPool, name: &str) -> anyhow::Result<()> {
    let t = table(name)?;
    let ddl = format!(
        "drop table if exists {t};
         create table {t} (
             id bigint generated always as identity primary key,
             visible_at timestamptz not null default now(),
             receives integer not null default 0,
             body text not null
         );
         create index {t}_ready on {t} (visible_at, id);"
    );
    sqlx::raw_sql(AssertSqlSafe(ddl)).execute(pool).await?;
    Ok(())
}

/// Drops a queue table.
pub async fn delete_queue(pool: &PgPool, name: &str) -> anyhow::Result<()> {
    let t = table(name)?;
    sqlx::raw_sql(AssertSqlSafe(format!("drop table if exists {t}")))
        .execute(pool)
        .await?;
    Ok(())
}

/// The three statements of one queue.
#[derive(Debug, Clone)]
struct Statements {
    send: String,
    claim: String,
    delete: String,
}

impl Statements {
    fn of(name: &str) -> anyhow::Result<Self> {
        let t = table(name)?;
        Ok(Self {
            send: format!("insert into {t} (body) select unnest($1::text[])"),
            // The textbook claim: the oldest visible ids through the index, skipping rows other
            // consumers hold, then hidden for the visibility timeout in the same statement.
            claim: format!(
                "with picked as (
                     select id from {t} where visible_at <= now()
                     order by visible_at, id limit $1 for update skip locked
                 )
                 update {t} m set visible_at = now() + make_interval(secs => $2),
                     receives = m.receives + 1
                 from picked where m.id = picked.id
                 returning m.id, m.body"
            ),
            delete: format!("delete from {t} where id = any($1)"),
        })
    }
}

/// Runs `workload` against the hand-written queue `name`.
pub async fn run(pool: &PgPool, name: &str, workload: &Workload, window: Window) -> Recorder {
    let statements = match Statements::of(name) {
        Ok(s) => s,
        Err(e) => {
            let mut rec = Recorder::new(window);
            rec.error(&e);
            return rec;
        }
    };
    let mut tasks = JoinSet::new();
    let spawn = |tasks: &mut JoinSet<Recorder>, send: bool, receive: bool| {
        let (pool, s, w) = (pool.clone(), statements.clone(), workload.clone());
        tasks.spawn(async move { drive(&pool, &s, &w, window, send, receive).await });
    };
    if workload.cycle {
        (0..workload.producers).for_each(|_| spawn(&mut tasks, true, true));
    } else {
        (0..workload.producers).for_each(|_| spawn(&mut tasks, true, false));
        (0..workload.consumers).for_each(|_| spawn(&mut tasks, false, true));
    }
    collect(window, tasks).await
}

/// A producer (`send`), a consumer (`receive`) or a closed-loop worker (both, in turn).
async fn drive(
    pool: &PgPool,
    s: &Statements,
    w: &Workload,
    window: Window,
    send: bool,
    receive: bool,
) -> Recorder {
    let mut rec = Recorder::new(window);
    while !window.is_over() {
        if send {
            let started = Instant::now();
            let stamp = window.stamp(started);
            let bodies: Vec<String> = (0..w.batch).map(|_| body(stamp, w.body_bytes)).collect();
            let insert = sqlx::query(AssertSqlSafe(s.send.as_str()))
                .bind(&bodies)
                .execute(pool);
            match tokio::time::timeout_at(window.end, insert).await {
                Ok(Ok(_)) => rec.op(Op::Send, started, bodies.len()),
                Ok(Err(e)) => {
                    failed(&mut rec, &e.into()).await;
                    continue;
                }
                Err(_) => break,
            }
        }
        if receive && !consume_once(pool, s, w, window, &mut rec).await {
            break;
        }
    }
    rec
}

/// Claims up to a batch (polling up to `wait_seconds` while there is none), then deletes it;
/// false once the window is over.
async fn consume_once(
    pool: &PgPool,
    s: &Statements,
    w: &Workload,
    window: Window,
    rec: &mut Recorder,
) -> bool {
    let started = Instant::now();
    let deadline = (started + Duration::from_secs(w.wait_seconds.into())).min(window.end);
    let limit = i64::try_from(w.batch).unwrap_or(i64::MAX);
    let got = loop {
        let claim = sqlx::query(AssertSqlSafe(s.claim.as_str()))
            .bind(limit)
            .bind(VISIBILITY_SECONDS)
            .fetch_all(pool);
        match tokio::time::timeout_at(window.end, claim).await {
            Ok(Ok(rows)) if rows.is_empty() && Instant::now() + POLL_INTERVAL < deadline => {
                tokio::time::sleep(POLL_INTERVAL).await;
            }
            Ok(Ok(rows)) => break rows,
            Ok(Err(e)) => {
                failed(rec, &e.into()).await;
                return true;
            }
            Err(_) => return false,
        }
    };
    rec.op(Op::Receive, started, got.len());
    if got.is_empty() {
        return true;
    }
    let mut ids = Vec::with_capacity(got.len());
    for row in &got {
        ids.push(row.get::<i64, _>(0));
        rec.delivered(stamp_of(row.get::<&str, _>(1)));
    }
    let started = Instant::now();
    let delete = sqlx::query(AssertSqlSafe(s.delete.as_str()))
        .bind(&ids)
        .execute(pool);
    match tokio::time::timeout_at(window.end, delete).await {
        Ok(Ok(done)) => rec.op(
            Op::Delete,
            started,
            usize::try_from(done.rows_affected()).unwrap_or(usize::MAX),
        ),
        Ok(Err(e)) => failed(rec, &e.into()).await,
        Err(_) => return false,
    }
    true
}
