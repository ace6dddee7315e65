//! Wakes long-polling receivers when messages may have become available.
//!
//! Waiters park in memory on their queue's signal and hold no database connection. On this
//! node a commit wakes as many waiters as it made messages available (never the whole herd),
//! with no database round trip. Other nodes hear about it through one throttled
//! `NOTIFY spool_wake` per queue, sent from its own tiny statement after the data commit (never
//! inside it: a transaction that notifies takes a global lock at commit). Delayed and in-flight
//! messages that come due, and NOTIFYs lost across reconnects, are covered by one ticker per
//! node that wakes one waiter per queue when something is due or a slow poll interval passed.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::{
    sync::{Notify, mpsc},
    time::Instant,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Db;
use crate::domain::QueueId;

const CHANNEL: &str = "spool_wake";
/// At most one NOTIFY per queue per this interval.
const NOTIFY_INTERVAL: Duration = Duration::from_millis(20);

/// The wake-up point of one queue on this node.
#[derive(Debug, Default)]
pub struct QueueSignal {
    notify: Notify,
    waiters: AtomicUsize,
    /// When the next delayed or in-flight message comes due, if known.
    next_due: Mutex<Option<Instant>>,
}

/// A receiver parked on a queue; counted while it exists.
pub struct Waiting<'a> {
    signal: &'a QueueSignal,
}

impl Waiting<'_> {
    /// Resolves when woken; enable it (`as_mut().enable()`) before checking for work.
    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.signal.notify.notified()
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.signal.waiters.fetch_sub(1, Ordering::AcqRel);
    }
}

impl QueueSignal {
    /// Registers a waiter.
    pub fn wait(&self) -> Waiting<'_> {
        self.waiters.fetch_add(1, Ordering::AcqRel);
        Waiting { signal: self }
    }

    /// Wakes up to `n` waiters.
    pub fn wake(&self, n: usize) {
        let waiting = self.waiters.load(Ordering::Acquire);
        for _ in 0..n.min(waiting) {
            self.notify.notify_one();
        }
    }
}

/// Per-queue wake-up points, shared by all requests on this node.
#[derive(Debug)]
pub struct Waker {
    node: Uuid,
    queues: Mutex<HashMap<QueueId, Arc<QueueSignal>>>,
    outbox: mpsc::UnboundedSender<QueueId>,
    /// Nudges the ticker when an earlier due time is recorded.
    ticker: Notify,
}

impl Waker {
    /// A waker and the receiving end of its outbox (for `run_notifier`).
    pub fn new() -> (Arc<Self>, mpsc::UnboundedReceiver<QueueId>) {
        let (outbox, rx) = mpsc::unbounded_channel();
        let waker = Arc::new(Self {
            node: Uuid::new_v4(),
            queues: Mutex::default(),
            outbox,
            ticker: Notify::new(),
        });
        (waker, rx)
    }

    /// The wake-up point of a queue.
    pub fn signal(&self, queue: QueueId) -> Arc<QueueSignal> {
        let mut queues = self.queues.lock().expect("waker lock");
        queues.entry(queue).or_default().clone()
    }

    /// `n` messages became available on `queue`: wake up to `n` local waiters and tell the
    /// other nodes.
    pub fn wake(&self, queue: QueueId, n: usize) {
        self.wake_local(queue, n);
        // The notifier only stops at shutdown; nobody is left to wake then.
        let _ = self.outbox.send(queue);
    }

    fn wake_local(&self, queue: QueueId, n: usize) {
        let signal = self.queues.lock().expect("waker lock").get(&queue).cloned();
        if let Some(signal) = signal {
            signal.wake(n);
        }
    }

    /// Records that a message of `queue` comes due at `at` (a delay or visibility timeout).
    pub fn due(&self, queue: QueueId, at: Instant) {
        let signal = self.signal(queue);
        let mut next = signal.next_due.lock().expect("due lock");
        if next.is_none_or(|n| at < n) {
            *next = Some(at);
            self.ticker.notify_one();
        }
    }

    /// Wakes one waiter per queue whose next message came due, and one per queue with waiters
    /// every `poll_interval` (for NOTIFYs lost across reconnects), until `shutdown`.
    pub async fn run_ticker(self: Arc<Self>, poll_interval: Duration, shutdown: CancellationToken) {
        let mut next_poll = Instant::now() + poll_interval;
        loop {
            let now = Instant::now();
            let poll = now >= next_poll;
            if poll {
                next_poll = now + poll_interval;
            }
            let mut wake_at = next_poll;
            let signals: Vec<Arc<QueueSignal>> = self
                .queues
                .lock()
                .expect("waker lock")
                .values()
                .cloned()
                .collect();
            for signal in signals {
                let mut due = signal.next_due.lock().expect("due lock");
                let waiting = signal.waiters.load(Ordering::Acquire) > 0;
                match *due {
                    Some(at) if at <= now => {
                        *due = None;
                        signal.wake(1);
                    }
                    Some(at) if waiting => wake_at = wake_at.min(at),
                    _ if waiting && poll => signal.wake(1),
                    _ => {}
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.ticker.notified() => {}
                () = tokio::time::sleep_until(wake_at) => {}
            }
        }
    }

    /// Sends the outbox to other nodes as throttled NOTIFYs until `shutdown`.
    pub async fn run_notifier(
        self: Arc<Self>,
        pool: Db,
        mut outbox: mpsc::UnboundedReceiver<QueueId>,
        shutdown: CancellationToken,
    ) {
        let mut pending = HashSet::new();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                got = outbox.recv() => match got {
                    Some(queue) => { pending.insert(queue); }
                    None => return,
                },
            }
            tokio::time::sleep(NOTIFY_INTERVAL).await;
            while let Ok(queue) = outbox.try_recv() {
                pending.insert(queue);
            }
            for queue in pending.drain() {
                let payload = format!("{}:{queue}", self.node);
                let sent = sqlx::query!("select pg_notify($1, $2)", CHANNEL, payload)
                    .execute(&pool)
                    .await;
                if let Err(error) = sent {
                    tracing::warn!(%error, "could not notify other nodes");
                }
            }
        }
    }

    /// Listens for other nodes' NOTIFYs and wakes local waiters until `shutdown`.
    pub async fn run_listener(self: Arc<Self>, pool: Db, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            if let Err(error) = self.listen(&pool, &shutdown).await {
                tracing::warn!(%error, "wake-up listener failed; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }

    async fn listen(&self, pool: &Db, shutdown: &CancellationToken) -> sqlx::Result<()> {
        let mut listener = pool.listener().await?;
        listener.listen(CHANNEL).await?;
        loop {
            let notification = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                got = listener.try_recv() => match got? {
                    Some(notification) => notification,
                    // The connection was lost; the caller opens a new listener at once.
                    None => return Ok(()),
                },
            };
            let Some((node, queue)) = notification.payload().split_once(':') else {
                continue;
            };
            if node == self.node.to_string() {
                continue;
            }
            if let Ok(queue) = queue.parse() {
                // The sender's batch size is unknown here: wake one, who chain-wakes the next
                // if it finds a full batch.
                self.wake_local(queue, 1);
            }
        }
    }
}
