//! Live queue counts without counting the hot table on every request.
//!
//! Counts come from one scan of the queue's rows, done at most once per `max_age` per queue on
//! this node (concurrent callers share the refresh). Between refreshes the depth used for back
//! pressure is corrected by what this node sent and deleted since.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::domain::{QueueCounts, QueueId};
use crate::store::{self, Db};

/// Cached counts per queue.
#[derive(Debug)]
pub struct StatsCache {
    max_age: Duration,
    entries: Mutex<HashMap<QueueId, Arc<Entry>>>,
}

#[derive(Debug, Default)]
struct Entry {
    data: Mutex<Snapshot>,
    /// Held while refreshing, so concurrent readers wait for one scan instead of starting many.
    refresh: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct Snapshot {
    counts: QueueCounts,
    taken: Option<Instant>,
    sent_since: i64,
    deleted_since: i64,
}

impl Snapshot {
    fn fresh(&self, max_age: Duration) -> bool {
        self.taken.is_some_and(|t| t.elapsed() < max_age)
    }
}

impl StatsCache {
    pub fn new(max_age: Duration) -> Self {
        Self {
            max_age,
            entries: Mutex::default(),
        }
    }

    fn entry(&self, queue: QueueId) -> Arc<Entry> {
        let mut entries = self.entries.lock().expect("stats lock");
        entries.entry(queue).or_default().clone()
    }

    /// Counts of `queue`, at most `max_age` old.
    pub async fn counts(&self, db: &Db, queue: QueueId) -> sqlx::Result<QueueCounts> {
        Ok(self.snapshot(db, queue).await?.0)
    }

    /// Estimated number of messages in `queue` (for back pressure).
    pub async fn depth(&self, db: &Db, queue: QueueId) -> sqlx::Result<i64> {
        let (counts, sent, deleted) = self.snapshot(db, queue).await?;
        Ok((counts.total() + sent - deleted).max(0))
    }

    async fn snapshot(&self, db: &Db, queue: QueueId) -> sqlx::Result<(QueueCounts, i64, i64)> {
        let entry = self.entry(queue);
        let read = |s: &Snapshot| (s.counts, s.sent_since, s.deleted_since);
        {
            let data = entry.data.lock().expect("stats lock");
            if data.fresh(self.max_age) {
                return Ok(read(&data));
            }
        }
        let _refreshing = entry.refresh.lock().await;
        {
            let data = entry.data.lock().expect("stats lock");
            if data.fresh(self.max_age) {
                return Ok(read(&data));
            }
        }
        let counts = store::queues::counts(db, queue).await?;
        let mut data = entry.data.lock().expect("stats lock");
        *data = Snapshot {
            counts,
            taken: Some(Instant::now()),
            sent_since: 0,
            deleted_since: 0,
        };
        Ok(read(&data))
    }

    /// Records messages this node committed to `queue`.
    pub fn record_sent(&self, queue: QueueId, n: usize) {
        self.entry(queue)
            .data
            .lock()
            .expect("stats lock")
            .sent_since += n as i64;
    }

    /// Records messages this node deleted from `queue`.
    pub fn record_deleted(&self, queue: QueueId, n: usize) {
        self.entry(queue)
            .data
            .lock()
            .expect("stats lock")
            .deleted_since += n as i64;
    }

    /// Forgets a queue's counts (after purge or delete).
    pub fn invalidate(&self, queue: QueueId) {
        self.entries.lock().expect("stats lock").remove(&queue);
    }
}
