//! The engine handle and queue management: create, get, list, update, delete, purge.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio_util::sync::CancellationToken;

use super::{
    claims::Claims,
    fifo_claims::FifoClaims,
    fifo_writes::FifoWrites,
    flow::{FlowControl, FlowOptions},
    handle::HandleKey,
    stats::StatsCache,
    writes::Writes,
};
use crate::{
    domain::{
        AccountId, DeadLetter, DeduplicationScope, DelaySeconds, Durability, Error, FifoSettings,
        FifoThroughputLimit, Invalid, MaxDepth, MaxMessageBytes, MaxReceiveCount, Queue,
        QueueCounts, QueueName, QueueSettings, RetentionSeconds, VisibilityTimeout, WaitSeconds,
        error::OnConstraint,
    },
    store::{self, Db, waker::Waker},
};

/// How long a looked-up queue is trusted.
const QUEUE_CACHE_TTL: Duration = Duration::from_secs(1);

/// Tunables of the engine (not queue settings).
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How old cached queue counts may be.
    pub stats_max_age: Duration,
    /// How often a long poll re-checks the database when no wake-up arrives (other nodes' sends
    /// whose NOTIFY was lost).
    pub poll_interval: Duration,
    /// Flow control of producers that outrun present consumers (`queue::flow`).
    pub flow: FlowOptions,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            stats_max_age: Duration::from_secs(1),
            poll_interval: Duration::from_secs(2),
            flow: FlowOptions::default(),
        }
    }
}

/// The queue engine; cheap to clone.
#[derive(Clone, Debug)]
pub struct Engine(pub(super) Arc<Inner>);

#[derive(Debug)]
pub(super) struct Inner {
    pub db: Db,
    pub handles: HandleKey,
    pub waker: Arc<Waker>,
    pub writes: Writes,
    pub fifo: FifoWrites,
    pub claims: Claims,
    pub fifo_claims: FifoClaims,
    pub stats: StatsCache,
    pub flow: FlowControl,
    /// Queues by (account, name), trusted for `QUEUE_CACHE_TTL`: settings changed on another
    /// node apply here within that time.
    pub queues: Mutex<HashMap<(AccountId, String), (Queue, Instant)>>,
    pub shutdown: CancellationToken,
}

/// Changes to queue settings; `None` leaves a setting as it is (or at its default on create).
#[derive(Debug, Clone, Default)]
pub struct SettingsPatch {
    pub visibility_timeout: Option<VisibilityTimeout>,
    pub delay_seconds: Option<DelaySeconds>,
    pub retention_seconds: Option<RetentionSeconds>,
    pub max_message_bytes: Option<MaxMessageBytes>,
    pub receive_wait_seconds: Option<WaitSeconds>,
    /// `Some(None)` removes the dead-letter target.
    pub dead_letter: Option<Option<DeadLetterSpec>>,
    /// `Some(None)` removes the limit.
    pub max_depth: Option<Option<MaxDepth>>,
    pub durability: Option<Durability>,
    /// Only on create: makes a FIFO queue (its name must end in `.fifo`).
    pub fifo: Option<bool>,
    /// FIFO queues only.
    pub content_based_deduplication: Option<bool>,
    /// FIFO queues only.
    pub deduplication_scope: Option<DeduplicationScope>,
    /// FIFO queues only.
    pub fifo_throughput_limit: Option<FifoThroughputLimit>,
}

/// A dead-letter target by name.
#[derive(Debug, Clone)]
pub struct DeadLetterSpec {
    pub queue: QueueName,
    pub max_receive_count: MaxReceiveCount,
}

impl Engine {
    /// Builds the engine over a migrated database, loading (or creating) the shared handle key.
    pub async fn new(
        db: Db,
        options: EngineOptions,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let fresh: [u8; 32] = rand::random();
        let secret = store::secrets::get_or_create(&db, "receipt_handle_key", &fresh).await?;
        let (waker, outbox) = Waker::new();
        tokio::spawn(
            waker
                .clone()
                .run_notifier(db.clone(), outbox, shutdown.clone()),
        );
        tokio::spawn(waker.clone().run_listener(db.clone(), shutdown.clone()));
        tokio::spawn(
            waker
                .clone()
                .run_ticker(options.poll_interval, shutdown.clone()),
        );
        Ok(Self(Arc::new(Inner {
            writes: Writes::new(&db),
            fifo: FifoWrites::new(&db),
            claims: Claims::default(),
            fifo_claims: FifoClaims::default(),
            queues: Mutex::default(),
            stats: StatsCache::new(options.stats_max_age),
            flow: FlowControl::new(options.flow),
            handles: HandleKey::new(&secret),
            db,
            waker,
            shutdown,
        })))
    }

    pub fn db(&self) -> &Db {
        &self.0.db
    }

    /// Creates a queue; returns it and whether it was created. Creating an existing queue with
    /// the same settings succeeds without change; with different settings it is a conflict.
    pub async fn create_queue(
        &self,
        account: AccountId,
        name: QueueName,
        patch: SettingsPatch,
    ) -> Result<(Queue, bool), Error> {
        let fifo = patch.fifo.unwrap_or(false);
        if fifo != name.is_fifo() {
            return Err(Invalid::FifoName(name.to_string()).into());
        }
        let base = QueueSettings {
            fifo: fifo.then(FifoSettings::default),
            ..QueueSettings::default()
        };
        let settings = self.apply(account, None, base, patch).await?;
        let inserted = store::queues::insert(&self.0.db, account, &name, &settings)
            .await
            .on_constraint("queues_dead_letter_queue_id_fkey", || {
                Error::DeadLetterQueueDeleted
            })?;
        self.forget_queues(account);
        let queue = self.get_queue(account, name.as_str()).await?;
        match inserted {
            Some(_) => Ok((queue, true)),
            None if queue.settings == settings => Ok((queue, false)),
            None => Err(Error::QueueExists(name.to_string())),
        }
    }

    /// Looks up a queue by name (through a short-lived cache: every message operation needs it).
    pub async fn get_queue(&self, account: AccountId, name: &str) -> Result<Queue, Error> {
        let key = (account, name.to_owned());
        if let Some((queue, at)) = self.0.queues.lock().expect("queue cache").get(&key)
            && at.elapsed() < QUEUE_CACHE_TTL
        {
            return Ok(queue.clone());
        }
        // Boxed: a database call's future is kilobytes, and it would make every caller's
        // future (a waiting long poll's included) that large even when the cache answers.
        Box::pin(self.load_queue(key)).await
    }

    async fn load_queue(&self, key: (AccountId, String)) -> Result<Queue, Error> {
        let (account, name) = (key.0, key.1.as_str());
        let queue = store::queues::find(&self.0.db, account, name)
            .await?
            .ok_or_else(|| Error::QueueNotFound(name.to_owned()))?;
        let mut cache = self.0.queues.lock().expect("queue cache");
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(key, (queue.clone(), Instant::now()));
        Ok(queue)
    }

    /// Forgets every cached queue of the account (after a change to any of them: dead-letter
    /// names appear in other queues' records).
    fn forget_queues(&self, account: AccountId) {
        self.0
            .queues
            .lock()
            .expect("queue cache")
            .retain(|(a, _), _| *a != account);
    }

    /// Live counts of a queue (at most `stats_max_age` old).
    pub async fn counts(&self, queue: &Queue) -> Result<QueueCounts, Error> {
        Ok(self.0.stats.counts(&self.0.db, queue.id).await?)
    }

    /// The number of queues of all accounts, and the first `limit` of them by account and name
    /// (the queues `/metrics` reports on).
    pub async fn queues_for_metrics(&self, limit: usize) -> Result<(i64, Vec<Queue>), Error> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let total = store::queues::count_all(&self.0.db).await?;
        let queues = store::queues::list_all(&self.0.db, limit).await?;
        Ok((total, queues))
    }

    /// Queues whose name starts with `prefix`, after the name `after`, at most `limit`.
    pub async fn list_queues(
        &self,
        account: AccountId,
        prefix: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Queue>, Error> {
        Ok(store::queues::list(&self.0.db, account, prefix, after, limit).await?)
    }

    /// Whether the database is reachable and fully migrated, within `budget`; else why not.
    pub async fn readiness(&self, budget: Duration) -> Result<(), String> {
        store::health::readiness(&self.0.db, budget).await
    }

    /// The hidden account that holds `account`'s queues in SQS region `region` (made on first
    /// use; see the `region_namespaces` migration).
    pub async fn region_namespace(
        &self,
        account: AccountId,
        region: &str,
    ) -> Result<AccountId, Error> {
        let db = &self.0.db;
        // A concurrent first use may hide the row from the first try (see `get_or_create`).
        let found = match store::namespaces::get_or_create(db, account, region).await {
            Err(sqlx::Error::RowNotFound) => {
                store::namespaces::get_or_create(db, account, region).await
            }
            other => other,
        }?;
        Ok(found)
    }

    /// Changes some settings of a queue.
    pub async fn update_queue(
        &self,
        account: AccountId,
        name: &str,
        patch: SettingsPatch,
    ) -> Result<Queue, Error> {
        let queue = self.get_queue(account, name).await?;
        let settings = self
            .apply(account, Some(&queue), queue.settings.clone(), patch)
            .await?;
        store::queues::update(&self.0.db, queue.id, &settings)
            .await
            .on_constraint("queues_dead_letter_queue_id_fkey", || {
                Error::DeadLetterQueueDeleted
            })?;
        self.forget_queues(account);
        self.get_queue(account, name).await
    }

    /// Deletes a queue with all its messages.
    pub async fn delete_queue(&self, account: AccountId, name: &str) -> Result<(), Error> {
        let queue = self.get_queue(account, name).await?;
        let deleted = store::queues::delete(&self.0.db, queue.id).await?;
        self.forget_queues(account);
        if !deleted {
            return Err(Error::QueueNotFound(name.to_owned()));
        }
        self.0.stats.invalidate(queue.id);
        self.0.flow.forget(queue.id);
        crate::telemetry::prometheus::forget_queue(queue.id);
        Ok(())
    }

    /// Deletes every message of a queue; returns how many.
    pub async fn purge_queue(&self, account: AccountId, name: &str) -> Result<u64, Error> {
        let queue = self.get_queue(account, name).await?;
        let purged = match queue.settings.fifo {
            Some(_) => self.purge_fifo(&queue).await?,
            None => store::queues::purge(&self.0.db, queue.id).await?,
        };
        self.0.stats.invalidate(queue.id);
        self.0.flow.forget(queue.id);
        crate::telemetry::prometheus::queue(&queue)
            .purged
            .increment(purged);
        Ok(purged)
    }

    /// Validates a patch and applies it to `base`; resolves the dead-letter queue by name.
    async fn apply(
        &self,
        account: AccountId,
        queue: Option<&Queue>,
        mut base: QueueSettings,
        patch: SettingsPatch,
    ) -> Result<QueueSettings, Error> {
        if let Some(v) = patch.visibility_timeout {
            base.visibility_timeout = v.get();
        }
        if let Some(v) = patch.delay_seconds {
            base.delay_seconds = v.get();
        }
        if let Some(v) = patch.retention_seconds {
            base.retention_seconds = v.get();
        }
        if let Some(v) = patch.max_message_bytes {
            base.max_message_bytes = v.get();
        }
        if let Some(v) = patch.receive_wait_seconds {
            base.receive_wait_seconds = v.get();
        }
        if let Some(max_depth) = patch.max_depth {
            base.max_depth = max_depth.map(MaxDepth::get);
        }
        if let Some(durability) = patch.durability {
            base.durability = durability;
        }
        apply_fifo(&mut base, &patch)?;
        if let Some(dead_letter) = patch.dead_letter {
            base.dead_letter = match dead_letter {
                None => None,
                Some(spec) => Some(
                    self.resolve_dead_letter(account, queue, spec, base.fifo.is_some())
                        .await?,
                ),
            };
        }
        Ok(base)
    }

    async fn resolve_dead_letter(
        &self,
        account: AccountId,
        queue: Option<&Queue>,
        spec: DeadLetterSpec,
        base_is_fifo: bool,
    ) -> Result<DeadLetter, Error> {
        let target = store::queues::find(&self.0.db, account, spec.queue.as_str())
            .await?
            .ok_or_else(|| Invalid::DeadLetterQueueMissing(spec.queue.to_string()))?;
        if target.settings.fifo.is_some() != base_is_fifo {
            return Err(Invalid::DeadLetterQueueType(target.name.to_string()).into());
        }
        if let Some(queue) = queue {
            let cycle =
                store::queues::dead_letter_chain_reaches(&self.0.db, target.id, queue.id).await?;
            if cycle {
                return Err(Invalid::DeadLetterCycle {
                    queue: queue.name.to_string(),
                    target: target.name.to_string(),
                }
                .into());
            }
        }
        Ok(DeadLetter {
            queue_id: target.id,
            max_receive_count: spec.max_receive_count.get(),
        })
    }
}

/// Applies the FIFO settings of a patch: the type never changes, and FIFO-only settings are
/// refused on standard queues.
fn apply_fifo(base: &mut QueueSettings, patch: &SettingsPatch) -> Result<(), Error> {
    if patch.fifo.is_some_and(|f| f != base.fifo.is_some()) {
        return Err(Invalid::QueueTypeFixed.into());
    }
    let given = patch.content_based_deduplication.is_some()
        || patch.deduplication_scope.is_some()
        || patch.fifo_throughput_limit.is_some();
    let Some(fifo) = base.fifo.as_mut() else {
        if given {
            return Err(Invalid::FifoSettingOnStandardQueue.into());
        }
        return Ok(());
    };
    if let Some(v) = patch.content_based_deduplication {
        fifo.content_based_deduplication = v;
    }
    if let Some(v) = patch.deduplication_scope {
        fifo.deduplication_scope = v;
    }
    if let Some(v) = patch.fifo_throughput_limit {
        fifo.throughput_limit = v;
    }
    if fifo.throughput_limit == FifoThroughputLimit::PerMessageGroupId
        && fifo.deduplication_scope != DeduplicationScope::MessageGroup
    {
        return Err(Invalid::ThroughputLimitNeedsGroupScope.into());
    }
    Ok(())
}
