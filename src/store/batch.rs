//! Group commit: concurrent operations gathered into one multi-row statement.
//!
//! Callers hand an item to a `GroupCommit` and wait for its result. A few flushers take turns
//! draining everything queued at that moment (up to a cap) and run it as one statement, so a
//! lone request is flushed at once (one round trip) while a busy server commits many requests
//! per statement and per fsync. If a multi-item statement fails, each item is retried alone so
//! one bad item cannot fail its neighbours.
//!
//! A busy flusher keeps its database connection from one statement to the next and gives it
//! back only when it runs out of work: each trip through the pool costs sqlx a round trip to
//! PostgreSQL (it pings a connection when it is returned).

use std::{future::Future, pin::Pin, sync::Arc, time::Instant};

use sqlx::{Postgres, pool::PoolConnection};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::Db;
use crate::telemetry::prometheus::{GroupCommitMeters, statement_error};

/// Most items in one statement.
const MAX_BATCH: usize = 512;

/// A pooled connection, lent to a flush and handed back with its result.
pub type Conn = PoolConnection<Postgres>;

type FlushFuture<O> = Pin<Box<dyn Future<Output = (Conn, sqlx::Result<Vec<O>>)> + Send>>;
type FlushFn<I, O> = dyn Fn(Conn, Vec<I>) -> FlushFuture<O> + Send + Sync;

struct Job<I, O> {
    item: I,
    reply: oneshot::Sender<Result<O, Arc<sqlx::Error>>>,
}

/// A group-commit queue for one kind of statement.
pub struct GroupCommit<I, O> {
    tx: mpsc::UnboundedSender<Job<I, O>>,
}

impl<I, O> std::fmt::Debug for GroupCommit<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupCommit")
    }
}

impl<I, O> GroupCommit<I, O>
where
    I: Clone + Send + 'static,
    O: Send + 'static,
{
    /// Starts `flushers` tasks that run `flush` (one statement for all items it is given, on
    /// the connection it is lent, returning one output per item, in order, and the
    /// connection). `kind` names it in the metrics.
    pub fn new<F, Fut>(pool: Db, kind: &'static str, flushers: usize, flush: F) -> Self
    where
        F: Fn(Conn, Vec<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = (Conn, sqlx::Result<Vec<O>>)> + Send + 'static,
    {
        let (tx, rx) = mpsc::unbounded_channel();
        let rx = Arc::new(Mutex::new(rx));
        let flush: Arc<FlushFn<I, O>> = Arc::new(move |pool, items| Box::pin(flush(pool, items)));
        for _ in 0..flushers.max(1) {
            let meters = GroupCommitMeters::new(kind);
            tokio::spawn(run(pool.clone(), rx.clone(), flush.clone(), meters));
        }
        Self { tx }
    }

    /// Queues `item` and waits until the statement carrying it has committed. An error may
    /// be shared by every item of a failed statement, hence the `Arc`.
    pub async fn submit(&self, item: I) -> Result<O, Arc<sqlx::Error>> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { item, reply })
            .map_err(|_| Arc::new(sqlx::Error::PoolClosed))?;
        rx.await
            .unwrap_or_else(|_| Err(Arc::new(sqlx::Error::PoolClosed)))
    }
}

/// Whether a busy task may keep its connection for its next statement: only while the pool
/// could still serve another caller at once, so keeping never starves the other users of
/// the pool (receives, lookups) when it runs short.
pub fn may_keep(pool: &Db) -> bool {
    pool.num_idle() > 0 || pool.size() < pool.max_connections()
}

/// One flusher: takes whatever is queued, runs it, answers everyone, repeats.
async fn run<I: Clone, O>(
    pool: Db,
    rx: Arc<Mutex<mpsc::UnboundedReceiver<Job<I, O>>>>,
    flush: Arc<FlushFn<I, O>>,
    meters: GroupCommitMeters,
) {
    // The connection kept while there is work.
    let mut held: Option<Conn> = None;
    loop {
        let jobs = {
            let mut rx = rx.lock().await;
            let first = match rx.try_recv() {
                Ok(job) => job,
                Err(mpsc::error::TryRecvError::Disconnected) => return,
                Err(mpsc::error::TryRecvError::Empty) => {
                    // Idle: the connection goes back to the pool while we wait.
                    held = None;
                    let Some(job) = rx.recv().await else {
                        return;
                    };
                    job
                }
            };
            let mut jobs = vec![first];
            while jobs.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            jobs
        };
        let conn = match held.take() {
            Some(conn) => conn,
            None => match pool.acquire().await {
                Ok(conn) => conn,
                Err(error) => {
                    statement_error(&error);
                    let error = Arc::new(error);
                    for job in jobs {
                        let _ = job.reply.send(Err(error.clone()));
                    }
                    continue;
                }
            },
        };
        let items: Vec<I> = jobs.iter().map(|j| j.item.clone()).collect();
        let started = Instant::now();
        let (conn, result) = flush(conn, items).await;
        meters.flushed(jobs.len(), started);
        if let Err(error) = &result {
            statement_error(error);
        }
        match result {
            Ok(outputs) => {
                held = may_keep(&pool).then_some(conn);
                for (job, out) in jobs.into_iter().zip(outputs) {
                    let _ = job.reply.send(Ok(out));
                }
            }
            // After an error the connection goes back to the pool, which checks it.
            Err(error) if jobs.len() == 1 => {
                drop(conn);
                let job = jobs.into_iter().next().expect("one job");
                let _ = job.reply.send(Err(Arc::new(error)));
            }
            Err(_) => {
                drop(conn);
                for job in jobs {
                    let result = match pool.acquire().await {
                        Ok(conn) => flush(conn, vec![job.item]).await.1,
                        Err(error) => Err(error),
                    };
                    let result = result.map_err(Arc::new).and_then(|mut out| {
                        out.pop().ok_or_else(|| Arc::new(sqlx::Error::RowNotFound))
                    });
                    let _ = job.reply.send(result);
                }
            }
        }
    }
}
