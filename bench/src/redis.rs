//! The Redis peer through the `redis` crate, as the reliable-queue pattern: producers `LPUSH`;
//! each consumer moves messages to its own processing list (`LMOVE`, or `BLMOVE` to wait) and
//! acknowledges with `LREM` from that list.

use std::time::Duration;

use anyhow::Context;
use redis::{AsyncConnectionConfig, Client, Direction, aio::MultiplexedConnection};
use tokio::{task::JoinSet, time::Instant};

use crate::{
    stats::{Op, Recorder, collect, failed},
    workload::{Window, Workload, body, stamp_of},
};

/// The server's version (`INFO server`).
pub async fn server_version(url: &str) -> anyhow::Result<String> {
    let mut conn = connect(url).await?;
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut conn)
        .await?;
    info.lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .map(str::to_owned)
        .context("INFO without redis_version")
}

/// A dedicated connection (blocking commands must not share one).
async fn connect(url: &str) -> anyhow::Result<MultiplexedConnection> {
    let client = Client::open(url)?;
    // The default 500 ms response timeout would cut blocking moves short.
    let config = AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(30)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .with_context(|| format!("could not connect to Redis at {url}"))
}

/// The processing list of consumer `index` of `queue`.
fn processing(queue: &str, index: usize) -> String {
    format!("{queue}:processing:{index}")
}

/// Removes a queue and its processing lists.
pub async fn delete_queue(url: &str, queue: &str, consumers: usize) -> anyhow::Result<()> {
    let mut conn = connect(url).await?;
    let mut keys = vec![queue.to_owned()];
    keys.extend((0..consumers).map(|i| processing(queue, i)));
    redis::cmd("DEL")
        .arg(keys)
        .query_async::<()>(&mut conn)
        .await?;
    Ok(())
}

/// Runs `workload` against the Redis list `queue`.
pub async fn run(url: &str, queue: &str, workload: &Workload, window: Window) -> Recorder {
    let mut tasks = JoinSet::new();
    for p in 0..workload.producers {
        let (url, queue, w) = (url.to_owned(), queue.to_owned(), workload.clone());
        tasks.spawn(async move { produce(&url, &queue, &w, window, p).await });
    }
    for c in 0..workload.consumers {
        let (url, queue, w) = (url.to_owned(), queue.to_owned(), workload.clone());
        tasks.spawn(async move { consume(&url, &queue, &w, window, c).await });
    }
    collect(window, tasks).await
}

async fn produce(url: &str, queue: &str, w: &Workload, window: Window, index: usize) -> Recorder {
    let mut rec = Recorder::new(window);
    let mut conn = match connect(url).await {
        Ok(c) => c,
        Err(e) => {
            rec.error(&e);
            return rec;
        }
    };
    let mut pacer = w.pacer(window, index);
    while !window.is_over() {
        let started = match &mut pacer {
            Some(p) => p.tick().await,
            None => Instant::now(),
        };
        let stamp = window.stamp(Instant::now());
        let bodies: Vec<String> = (0..w.batch).map(|_| body(stamp, w.body_bytes)).collect();
        let mut lpush = redis::cmd("LPUSH");
        lpush.arg(queue).arg(&bodies);
        let push = lpush.query_async::<i64>(&mut conn);
        match tokio::time::timeout_at(window.end, push).await {
            Ok(Ok(_)) => rec.op(Op::Send, started, bodies.len()),
            Ok(Err(e)) => failed(&mut rec, &e.into()).await,
            Err(_) => break,
        }
    }
    rec
}

/// Moves up to `max` messages to `mine`; waits up to `wait` seconds when none is there.
async fn take(
    conn: &mut MultiplexedConnection,
    queue: &str,
    mine: &str,
    max: usize,
    wait: u32,
) -> anyhow::Result<Vec<String>> {
    let mut pipe = redis::pipe();
    for _ in 0..max {
        pipe.cmd("LMOVE")
            .arg(queue)
            .arg(mine)
            .arg("RIGHT")
            .arg("LEFT");
    }
    let moved: Vec<Option<String>> = pipe.query_async(conn).await?;
    let moved: Vec<String> = moved.into_iter().flatten().collect();
    if !moved.is_empty() || wait == 0 {
        return Ok(moved);
    }
    let one: Option<String> = redis::cmd("BLMOVE")
        .arg(queue)
        .arg(mine)
        .arg(Direction::Right)
        .arg(Direction::Left)
        .arg(f64::from(wait))
        .query_async(conn)
        .await?;
    Ok(one.into_iter().collect())
}

/// Acknowledges messages by removing them from the processing list.
async fn ack(
    conn: &mut MultiplexedConnection,
    mine: &str,
    bodies: &[String],
) -> anyhow::Result<usize> {
    let mut pipe = redis::pipe();
    for body in bodies {
        pipe.cmd("LREM").arg(mine).arg(1).arg(body);
    }
    let removed: Vec<i64> = pipe.query_async(conn).await?;
    Ok(removed.iter().filter(|&&n| n > 0).count())
}

async fn consume(url: &str, queue: &str, w: &Workload, window: Window, index: usize) -> Recorder {
    let mut rec = Recorder::new(window);
    let mut conn = match connect(url).await {
        Ok(c) => c,
        Err(e) => {
            rec.error(&e);
            return rec;
        }
    };
    let mine = processing(queue, index);
    while !window.is_over() {
        let started = Instant::now();
        let moved = take(&mut conn, queue, &mine, w.batch, w.wait_seconds);
        let got = match tokio::time::timeout_at(window.end, moved).await {
            Ok(Ok(got)) => got,
            Ok(Err(e)) => {
                failed(&mut rec, &e).await;
                continue;
            }
            Err(_) => break,
        };
        rec.op(Op::Receive, started, got.len());
        if got.is_empty() {
            continue;
        }
        for b in &got {
            rec.delivered(stamp_of(b));
        }
        let started = Instant::now();
        match tokio::time::timeout_at(window.end, ack(&mut conn, &mine, &got)).await {
            Ok(Ok(n)) => rec.op(Op::Delete, started, n),
            Ok(Err(e)) => failed(&mut rec, &e).await,
            Err(_) => break,
        }
    }
    rec
}
