//! Wakes long-polling receivers when messages may have become available.
//!
//! On this node a commit wakes the queue's waiters directly, with no database round trip. Other
//! nodes hear about it through one throttled `NOTIFY spool_wake` per queue, sent from its own
//! tiny statement after the data commit (never inside it: a transaction that notifies takes a
//! global lock at commit). NOTIFY is lossy across reconnects, so receivers also poll slowly.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use sqlx::{PgPool, postgres::PgListener};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::queue::model::QueueId;

const CHANNEL: &str = "spool_wake";
/// At most one NOTIFY per queue per this interval.
const NOTIFY_INTERVAL: Duration = Duration::from_millis(20);

/// Per-queue wake-up points, shared by all requests on this node.
#[derive(Debug)]
pub struct Waker {
    node: Uuid,
    queues: Mutex<HashMap<QueueId, Arc<Notify>>>,
    outbox: mpsc::UnboundedSender<QueueId>,
}

impl Waker {
    /// A waker and the receiving end of its outbox (for `run_notifier`).
    pub fn new() -> (Arc<Self>, mpsc::UnboundedReceiver<QueueId>) {
        let (outbox, rx) = mpsc::unbounded_channel();
        let waker = Arc::new(Self {
            node: Uuid::new_v4(),
            queues: Mutex::default(),
            outbox,
        });
        (waker, rx)
    }

    /// The wake-up point of a queue; wait on `notified()` (enabled before checking for work).
    pub fn subscribe(&self, queue: QueueId) -> Arc<Notify> {
        let mut queues = self.queues.lock().expect("waker lock");
        queues.entry(queue).or_default().clone()
    }

    /// Wakes this node's waiters on `queue` and tells the other nodes.
    pub fn wake(&self, queue: QueueId) {
        self.wake_local(queue);
        // The notifier only stops at shutdown; nobody is left to wake then.
        let _ = self.outbox.send(queue);
    }

    fn wake_local(&self, queue: QueueId) {
        let notify = self.queues.lock().expect("waker lock").get(&queue).cloned();
        if let Some(notify) = notify {
            notify.notify_waiters();
        }
    }

    /// Sends the outbox to other nodes as throttled NOTIFYs until `shutdown`.
    pub async fn run_notifier(
        self: Arc<Self>,
        pool: PgPool,
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
                let sent = sqlx::query("select pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(payload)
                    .execute(&pool)
                    .await;
                if let Err(error) = sent {
                    tracing::warn!(%error, "could not notify other nodes");
                }
            }
        }
    }

    /// Listens for other nodes' NOTIFYs and wakes local waiters until `shutdown`.
    pub async fn run_listener(self: Arc<Self>, pool: PgPool, shutdown: CancellationToken) {
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

    async fn listen(&self, pool: &PgPool, shutdown: &CancellationToken) -> sqlx::Result<()> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(CHANNEL).await?;
        loop {
            let notification = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                got = listener.recv() => got?,
            };
            let Some((node, queue)) = notification.payload().split_once(':') else {
                continue;
            };
            if node == self.node.to_string() {
                continue;
            }
            if let Ok(queue) = queue.parse() {
                self.wake_local(queue);
            }
        }
    }
}
