//! What a FIFO message costs PostgreSQL: statements and transactions per message of a FIFO
//! lifecycle (send, receive, change visibility, delete) under concurrency.
//!
//! Statements are counted on the client (every statement sqlx runs is a `sqlx::query` tracing
//! event, except a transaction's `BEGIN`, counted from its `COMMIT`); transactions are the
//! database's own count (`pg_stat_database.xact_commit`), read after each phase's pool is
//! closed, since backends report their counts when they exit. Each phase runs on a fresh
//! engine and pool; what an engine's start and stop cost alone is subtracted.
//!
//! Buffers touched (`blks_hit + blks_read`) stand in for the database's CPU time.
//!
//! `cargo test --test api fifo_cost -- --nocapture` prints the table; the test asserts only
//! that every message went through its lifecycle, since how many requests share a statement
//! depends on timing.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use spool::{
    domain::{MaxMessages, QueueName},
    queue::{
        Engine, EngineOptions, SettingsPatch,
        messages::{ReceiveOptions, SendEntry},
    },
    store,
};
use sqlx::{Connection, PgConnection};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::{Layer, layer::SubscriberExt};

use crate::helpers::{TestDb, server_url};

/// Concurrent clients per phase.
const CLIENTS: usize = 8;
/// Groups of the queue; every group gets `PER_GROUP` messages.
const GROUPS: usize = 100;
const PER_GROUP: usize = 10;
/// Messages per request (the benchmark's batch).
const BATCH: usize = 10;

/// Counts `sqlx::query` events by the statement's first word.
#[derive(Clone, Default)]
struct Statements(Arc<Mutex<BTreeMap<String, u64>>>);

impl<S: tracing::Subscriber> Layer<S> for Statements {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        struct Summary(String);
        impl tracing::field::Visit for Summary {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "summary" {
                    self.0 = format!("{value:?}");
                }
            }
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                if field.name() == "summary" {
                    value.clone_into(&mut self.0);
                }
            }
        }
        let mut summary = Summary(String::new());
        event.record(&mut summary);
        let first = summary
            .0
            .trim_matches('"')
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_lowercase();
        *self.0.lock().unwrap().entry(first).or_default() += 1;
    }
}

impl Statements {
    fn take(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// One phase's counts.
struct Cost {
    statements: BTreeMap<String, u64>,
    transactions: i64,
    /// Shared buffers the database touched (hit or read): a proxy for its CPU time.
    buffers: i64,
}

impl Cost {
    /// This phase's counts less `idle`'s (an engine's start and stop).
    fn less(mut self, idle: &Cost) -> Cost {
        for (kind, n) in &idle.statements {
            if let Some(mine) = self.statements.get_mut(kind) {
                *mine = mine.saturating_sub(*n);
            }
        }
        self.statements.retain(|_, n| *n > 0);
        self.transactions -= idle.transactions;
        self.buffers -= idle.buffers;
        self
    }

    fn line(&self, phase: &str, messages: usize) -> String {
        // sqlx logs a transaction's `COMMIT` but not its `BEGIN`: one each.
        let begins = *self.statements.get("commit").unwrap_or(&0);
        let total = self.statements.values().sum::<u64>() + begins;
        let per = |n: f64| n / messages as f64;
        format!(
            "{phase:<18} statements/msg {:>5.3}  transactions/msg {:>5.3}  buffers/msg {:>6.1}  \
             ({total} statements: {begins} begin, {:?}; {} transactions)",
            per(total as f64),
            per(self.transactions as f64),
            per(self.buffers as f64),
            self.statements,
            self.transactions,
        )
    }
}

#[tokio::test]
async fn fifo_statements_and_transactions_per_message() {
    let counter = Statements::default();
    let subscriber = tracing_subscriber::registry().with(
        counter.clone().with_filter(
            tracing_subscriber::filter::Targets::new()
                .with_target("sqlx::query", tracing::Level::TRACE),
        ),
    );
    // A current-thread runtime runs every task of the engine on this thread.
    let _guard = tracing::subscriber::set_default(subscriber);
    let db = TestDb::new().await;
    let pool = store::connect(&db.url, 2).await.unwrap();
    store::migrate(&pool).await.unwrap();
    pool.close().await;
    let name = "cost.fifo";
    let idle = run_phase(&db, &counter, async |_| {}).await;
    run_phase(&db, &counter, async |engine| {
        let patch = SettingsPatch {
            fifo: Some(true),
            ..SettingsPatch::default()
        };
        engine
            .create_queue(0, QueueName::parse(name).unwrap(), patch)
            .await
            .unwrap();
    })
    .await;
    let messages = GROUPS * PER_GROUP;

    let sends = run_phase(&db, &counter, async |engine| {
        let batches: Vec<Vec<SendEntry>> = (0..GROUPS)
            .map(|g| {
                (0..PER_GROUP)
                    .map(|i| SendEntry {
                        body: format!("g{g} m{i}"),
                        group_id: Some(format!("g{g}")),
                        dedup_id: Some(format!("g{g}-{i}")),
                        ..SendEntry::default()
                    })
                    .collect()
            })
            .collect();
        let batches = Arc::new(Mutex::new(batches));
        clients(|| {
            let (engine, batches) = (engine.clone(), batches.clone());
            async move {
                loop {
                    let Some(batch) = batches.lock().unwrap().pop() else {
                        return;
                    };
                    for sent in engine.send(0, name, batch).await.unwrap() {
                        sent.unwrap();
                    }
                }
            }
        })
        .await;
    })
    .await;

    let handles = Arc::new(Mutex::new(Vec::<Vec<String>>::new()));
    let receives = run_phase(&db, &counter, async |engine| {
        clients(|| {
            let (engine, handles) = (engine.clone(), handles.clone());
            async move {
                loop {
                    let options = ReceiveOptions {
                        max_messages: Some(MaxMessages::new(BATCH as i64).unwrap()),
                        ..ReceiveOptions::default()
                    };
                    let got = engine.receive(0, name, options).await.unwrap();
                    if got.is_empty() {
                        return;
                    }
                    handles
                        .lock()
                        .unwrap()
                        .push(got.into_iter().map(|m| m.receipt_handle).collect());
                }
            }
        })
        .await;
    })
    .await;
    let received: usize = handles.lock().unwrap().iter().map(Vec::len).sum();
    assert_eq!(received, messages, "every message received once");

    let visibility = run_phase(&db, &counter, async |engine| {
        let work = Arc::new(Mutex::new(handles.lock().unwrap().clone()));
        clients(|| {
            let (engine, work) = (engine.clone(), work.clone());
            async move {
                loop {
                    let Some(batch) = work.lock().unwrap().pop() else {
                        return;
                    };
                    let changes: Vec<(String, i64)> = batch.into_iter().map(|h| (h, 60)).collect();
                    for changed in engine.change_visibility(0, name, &changes).await.unwrap() {
                        changed.unwrap();
                    }
                }
            }
        })
        .await;
    })
    .await;

    let deletes = run_phase(&db, &counter, async |engine| {
        let work = Arc::new(Mutex::new(handles.lock().unwrap().clone()));
        clients(|| {
            let (engine, work) = (engine.clone(), work.clone());
            async move {
                loop {
                    let Some(batch) = work.lock().unwrap().pop() else {
                        return;
                    };
                    for deleted in engine.delete_messages(0, name, &batch).await.unwrap() {
                        assert!(deleted.unwrap());
                    }
                }
            }
        })
        .await;
    })
    .await;

    eprintln!(
        "FIFO cost, {messages} messages in {GROUPS} groups, batches of {BATCH}, {CLIENTS} clients:"
    );
    for (phase, cost) in [
        ("send", sends),
        ("receive", receives),
        ("change visibility", visibility),
        ("delete", deletes),
    ] {
        eprintln!("  {}", cost.less(&idle).line(phase, messages));
    }
}

/// Runs `CLIENTS` copies of a client to completion.
async fn clients<F: Future<Output = ()> + Send + 'static>(client: impl Fn() -> F) {
    let tasks: Vec<_> = (0..CLIENTS).map(|_| tokio::spawn(client())).collect();
    for task in tasks {
        task.await.unwrap();
    }
}

/// Runs `phase` on a fresh engine and pool and returns what it cost the database.
async fn run_phase(db: &TestDb, counter: &Statements, phase: impl AsyncFnOnce(&Engine)) -> Cost {
    let (before, buffers_before) = committed(db).await;
    counter.take();
    let pool = store::connect(&db.url, 8).await.unwrap();
    let shutdown = CancellationToken::new();
    let engine = Engine::new(
        pool.clone(),
        EngineOptions {
            stats_max_age: Duration::ZERO,
            ..EngineOptions::default()
        },
        shutdown.clone(),
    )
    .await
    .unwrap();
    phase(&engine).await;
    shutdown.cancel();
    drop(engine);
    pool.close().await;
    let statements = counter.take();
    let (after, buffers_after) = committed(db).await;
    Cost {
        statements,
        transactions: after - before,
        buffers: buffers_after - buffers_before,
    }
}

/// The database's committed transactions and touched buffers once its backends have reported
/// them (a backend reports when it exits, shortly after its pool closed).
async fn committed(db: &TestDb) -> (i64, i64) {
    let database = db
        .url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap();
    let mut admin = PgConnection::connect(&server_url().await).await.unwrap();
    let mut last = (-1, -1);
    for _ in 0..20 {
        let now: (i64, i64) = sqlx::query_as(
            "select xact_commit, blks_hit + blks_read from pg_stat_database where datname = $1",
        )
        .bind(database)
        .fetch_one(&mut admin)
        .await
        .unwrap();
        if now == last {
            return now;
        }
        last = now;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    last
}
