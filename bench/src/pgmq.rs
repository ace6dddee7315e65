//! The pgmq peer: the same lifecycle through the `pgmq` crate's SQL functions, in its own
//! database (`spool_bench_pgmq`) on the same PostgreSQL server. Consumers use
//! `read_batch_with_poll`, pgmq's own way to wait for messages.

use std::{str::FromStr, time::Duration};

use anyhow::Context;
use pgmq::PGMQueueExt;
use sqlx::{
    Connection, PgConnection,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tokio::{task::JoinSet, time::Instant};

use crate::{
    stats::{Op, Recorder, collect, failed},
    workload::{Window, Workload, body, stamp_of},
};

/// The database pgmq's schema and queues live in.
pub const DATABASE: &str = "spool_bench_pgmq";
/// Seconds a read message stays hidden (as for Spool).
const VISIBILITY_SECONDS: i32 = 30;
/// How often a waiting `read_batch_with_poll` looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// The server version (`SHOW server_version`) of the PostgreSQL at `url`.
pub async fn server_version(url: &str) -> anyhow::Result<String> {
    let mut conn = PgConnection::connect(url).await?;
    let version: String = sqlx::query_scalar("show server_version")
        .fetch_one(&mut conn)
        .await?;
    Ok(version)
}

/// Creates pgmq's database if needed, installs pgmq's SQL into it and returns a client with
/// one pooled connection per task.
pub async fn connect(url: &str, tasks: usize) -> anyhow::Result<PGMQueueExt> {
    let mut admin = PgConnection::connect(url)
        .await
        .with_context(|| format!("could not connect to PostgreSQL for pgmq ({url})"))?;
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
            .bind(DATABASE)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        // CREATE DATABASE takes no parameters; the name is a constant.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("create database {DATABASE}")))
            .execute(&mut admin)
            .await?;
    }
    let options = PgConnectOptions::from_str(url)?.database(DATABASE);
    let pool = PgPoolOptions::new()
        .max_connections(u32::try_from(tasks.max(2))?)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await?;
    let pgmq = PGMQueueExt::new_with_pool(pool).await;
    pgmq.install_sql_from_embedded()
        .await
        .context("could not install pgmq's SQL")?;
    Ok(pgmq)
}

/// Creates a fresh queue (dropping a leftover of the same name).
pub async fn create_queue(pgmq: &PGMQueueExt, queue: &str) -> anyhow::Result<()> {
    let _ = pgmq.drop_queue(queue).await;
    pgmq.create(queue).await?;
    Ok(())
}

/// Runs `workload` against pgmq's `queue`.
pub async fn run(pgmq: &PGMQueueExt, queue: &str, workload: &Workload, window: Window) -> Recorder {
    let mut tasks = JoinSet::new();
    if workload.cycle {
        for _ in 0..workload.producers {
            let (pgmq, queue, w) = (pgmq.clone(), queue.to_owned(), workload.clone());
            tasks.spawn(async move { cycle(&pgmq, &queue, &w, window).await });
        }
        return collect(window, tasks).await;
    }
    for p in 0..workload.producers {
        let (pgmq, queue, w) = (pgmq.clone(), queue.to_owned(), workload.clone());
        tasks.spawn(async move { produce(&pgmq, &queue, &w, window, p).await });
    }
    for _ in 0..workload.consumers {
        let (pgmq, queue, w) = (pgmq.clone(), queue.to_owned(), workload.clone());
        tasks.spawn(async move { consume(&pgmq, &queue, &w, window).await });
    }
    collect(window, tasks).await
}

async fn send(pgmq: &PGMQueueExt, queue: &str, bodies: &[String]) -> anyhow::Result<()> {
    if let [one] = bodies {
        pgmq.send(queue, one).await?;
    } else {
        pgmq.send_batch(queue, bodies).await?;
    }
    Ok(())
}

async fn produce(
    pgmq: &PGMQueueExt,
    queue: &str,
    w: &Workload,
    window: Window,
    index: usize,
) -> Recorder {
    let mut rec = Recorder::new(window);
    let mut pacer = w.pacer(window, index);
    while !window.is_over() {
        let started = match &mut pacer {
            Some(p) => p.tick().await,
            None => Instant::now(),
        };
        let stamp = window.stamp(Instant::now());
        let bodies: Vec<String> = (0..w.batch).map(|_| body(stamp, w.body_bytes)).collect();
        match tokio::time::timeout_at(window.end, send(pgmq, queue, &bodies)).await {
            Ok(Ok(())) => rec.op(Op::Send, started, bodies.len()),
            Ok(Err(e)) => failed(&mut rec, &e).await,
            Err(_) => break,
        }
    }
    rec
}

async fn delete(pgmq: &PGMQueueExt, queue: &str, ids: &[i64]) -> anyhow::Result<usize> {
    Ok(if let [one] = ids {
        usize::from(pgmq.delete(queue, *one).await?)
    } else {
        pgmq.delete_batch(queue, ids).await?.len()
    })
}

async fn consume(pgmq: &PGMQueueExt, queue: &str, w: &Workload, window: Window) -> Recorder {
    let mut rec = Recorder::new(window);
    while !window.is_over() {
        if !consume_once(pgmq, queue, w, window, &mut rec).await {
            break;
        }
    }
    rec
}

/// Closed loop: send a batch, read up to a batch, delete what came, again.
async fn cycle(pgmq: &PGMQueueExt, queue: &str, w: &Workload, window: Window) -> Recorder {
    let mut rec = Recorder::new(window);
    while !window.is_over() {
        let started = Instant::now();
        let stamp = window.stamp(started);
        let bodies: Vec<String> = (0..w.batch).map(|_| body(stamp, w.body_bytes)).collect();
        match tokio::time::timeout_at(window.end, send(pgmq, queue, &bodies)).await {
            Ok(Ok(())) => rec.op(Op::Send, started, bodies.len()),
            Ok(Err(e)) => {
                failed(&mut rec, &e).await;
                continue;
            }
            Err(_) => break,
        }
        if !consume_once(pgmq, queue, w, window, &mut rec).await {
            break;
        }
    }
    rec
}

/// One read (waiting up to `wait_seconds`) and the delete of what it got; false once the
/// window is over.
async fn consume_once(
    pgmq: &PGMQueueExt,
    queue: &str,
    w: &Workload,
    window: Window,
    rec: &mut Recorder,
) -> bool {
    let batch = i32::try_from(w.batch).unwrap_or(i32::MAX);
    let wait = Some(Duration::from_secs(w.wait_seconds.into()));
    let started = Instant::now();
    let read = pgmq.read_batch_with_poll::<String, serde_json::Value>(
        queue,
        VISIBILITY_SECONDS,
        batch,
        wait,
        Some(POLL_INTERVAL),
    );
    let got = match tokio::time::timeout_at(window.end, read).await {
        Ok(Ok(got)) => got,
        Ok(Err(e)) => {
            failed(rec, &e.into()).await;
            return true;
        }
        Err(_) => return false,
    };
    rec.op(Op::Receive, started, got.len());
    if got.is_empty() {
        return true;
    }
    for m in &got {
        rec.delivered(stamp_of(&m.message));
    }
    let ids: Vec<i64> = got.iter().map(|m| m.msg_id).collect();
    let started = Instant::now();
    match tokio::time::timeout_at(window.end, delete(pgmq, queue, &ids)).await {
        Ok(Ok(n)) => rec.op(Op::Delete, started, n),
        Ok(Err(e)) => failed(rec, &e).await,
        Err(_) => return false,
    }
    true
}
