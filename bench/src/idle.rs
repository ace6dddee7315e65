//! Idle long polling: thousands of receivers waiting on an empty queue, each on its own
//! connection, while the server's CPU time and memory are measured.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use serde::Serialize;
use tokio::{task::JoinSet, time::Instant};

use crate::{
    proc::{Probe, Usage, open_files},
    systems::{Env, System},
};

/// Receivers opened per step while ramping up (then a short pause), to spare the listen backlog.
const RAMP_STEP: usize = 250;
/// Longest wait for the server to hold every connection before measuring anyway.
const RAMP_LIMIT: Duration = Duration::from_secs(30);
/// Pause between the ramp and the measurement.
const SETTLE: Duration = Duration::from_secs(2);

/// What the idle receivers cost the server.
#[derive(Debug, Clone, Serialize)]
pub struct IdleResult {
    pub connections: usize,
    /// File descriptors the server held during the measurement (its sockets, mostly).
    pub server_open_files: Option<usize>,
    pub seconds: f64,
    pub server: Option<Usage>,
    pub postgres: Option<Usage>,
    /// Receives that failed (refused, reset, errors) during the whole test.
    pub errors: u64,
    /// Messages received (should be none: the queue is empty).
    pub received: u64,
}

impl IdleResult {
    /// One line for the target table.
    pub fn describe(&self) -> String {
        let server = self.server.as_ref().map_or_else(
            || "server not found".to_owned(),
            |u| {
                format!(
                    "server {:.1} % CPU, {:.0} MiB peak RSS",
                    u.cpu_percent, u.peak_rss_mib
                )
            },
        );
        let postgres = self.postgres.as_ref().map_or_else(String::new, |u| {
            format!("; PostgreSQL {:.1} % CPU", u.cpu_percent)
        });
        let held = self
            .server_open_files
            .map_or_else(String::new, |n| format!("; server held {n} fds"));
        format!("{server}{postgres}{held}; {} errors", self.errors)
    }

    /// Memory against issue 14's target (< 300 MiB), ≥ 1 meets it.
    pub fn memory_score(&self) -> Option<f64> {
        let u = self.server.as_ref()?;
        Some(300.0 / u.peak_rss_mib.max(1e-3))
    }
}

/// Opens `connections` long polls on an empty Spool queue and measures the server for
/// `duration` while they wait.
pub async fn run(env: &Env, connections: usize, duration: Duration) -> anyhow::Result<IdleResult> {
    let queue = env.queue_name("idle", System::Spool);
    env.create_queue(System::Spool, &queue).await?;
    let errors = Arc::new(AtomicU64::new(0));
    let received = Arc::new(AtomicU64::new(0));
    let stop = Instant::now() + RAMP_LIMIT + SETTLE + duration + Duration::from_secs(5);
    let mut pollers = JoinSet::new();
    eprintln!("[idle] opening {connections} long polls");
    for i in 0..connections {
        let (spool, queue) = (env.spool.clone(), queue.clone());
        let (errors, received) = (errors.clone(), received.clone());
        pollers.spawn(async move {
            while Instant::now() < stop {
                match tokio::time::timeout_at(stop, spool.receive(&queue, 1, 20)).await {
                    Ok(Ok(got)) => received.fetch_add(got.len() as u64, Ordering::Relaxed),
                    Ok(Err(_)) => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        errors.fetch_add(1, Ordering::Relaxed)
                    }
                    Err(_) => break,
                };
            }
        });
        if (i + 1) % RAMP_STEP == 0 {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    let ramp_end = Instant::now() + RAMP_LIMIT;
    if let Some(pid) = env.spool_pid {
        while open_files(pid).unwrap_or(0) < connections && Instant::now() < ramp_end {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    tokio::time::sleep(SETTLE).await;
    let (start, end) = (Instant::now(), Instant::now() + duration);
    eprintln!("[idle] measuring for {duration:?}");
    let server = env
        .spool_pid
        .map(|pid| tokio::spawn(Probe::process("spool", pid).watch(start, end)));
    let postgres = env
        .postgres_pid
        .map(|pid| tokio::spawn(Probe::tree("PostgreSQL", pid).watch(start, end)));
    tokio::time::sleep(duration / 2).await;
    let server_open_files = env.spool_pid.and_then(open_files);
    let server = match server {
        Some(h) => Some(h.await?),
        None => None,
    };
    let postgres = match postgres {
        Some(h) => Some(h.await?),
        None => None,
    };
    pollers.abort_all();
    while pollers.join_next().await.is_some() {}
    env.delete_queue(System::Spool, &queue, 0).await?;
    Ok(IdleResult {
        connections,
        server_open_files,
        seconds: duration.as_secs_f64(),
        server,
        postgres,
        errors: errors.load(Ordering::Relaxed),
        received: received.load(Ordering::Relaxed),
    })
}
