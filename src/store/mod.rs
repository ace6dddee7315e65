//! All SQL lives here: queues, messages (claim, send, delete, visibility), redrive tasks,
//! retention sweeps, server secrets and the cross-node waker, and the pool handle every
//! connection is taken through (`db`).
//!
//! Every statement is checked at compile time against the migrated schema (`sqlx::query!` and
//! friends; builds use the offline data in `.sqlx/`, see the README). The hot statements, which
//! `tests/api/plans.rs` runs under `EXPLAIN`, live in `sql/<module>/<name>.sql`, run with
//! `query_file!` and exposed as `pub const <NAME>_SQL` (`include_str!` of the same file), so
//! the code and the plan tests share one text. Multi-row statements take arrays (`unnest`) so
//! that concurrent requests can share one statement and one commit.

pub mod auth;
pub mod batch;
pub mod db;
pub mod failover;
pub mod fair;
pub mod fifo;
pub mod fifo_send;
pub mod health;
pub mod messages;
pub mod move_tasks;
pub mod queues;
pub mod secrets;
pub mod waker;

// What the SQS door keeps beyond the engine's settings (tags, policies, encryption
// attributes, system attributes).
pub mod deliveries;
pub mod encryption;
pub mod namespaces;
pub mod policies;
pub mod system_attributes;
pub mod tags;

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;

pub use self::db::Db;

/// Planner and safety settings of every Spool session (see `connect`).
pub const SESSION_SETTINGS: &str = "set enable_seqscan = off; set enable_bitmapscan = off; \
     set enable_sort = off; set jit = off; set statement_timeout = '30s'; \
     set idle_in_transaction_session_timeout = '60s'";

/// How long a request waits for a database connection by default before it is answered with a
/// retryable 503: long enough to ride out a busy moment, short enough that clients learn of an
/// outage within about a second instead of piling up.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);

/// Connects a pool (see [`connect_with`]) with the default acquire timeout.
pub async fn connect(url: &str, max_connections: u32) -> sqlx::Result<Db> {
    connect_with(url, max_connections, DEFAULT_ACQUIRE_TIMEOUT).await
}

/// Connects a pool whose sessions pin the planner to index scans and bound runaway work.
/// `acquire_timeout` bounds how long a request waits for a connection, including reconnecting
/// while the database is down or restarting. A URL may name several hosts and ask for a
/// writable one (`target_session_attrs=read-write`); the pool then follows the primary
/// (`failover`).
pub async fn connect_with(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
) -> sqlx::Result<Db> {
    let hosts = failover::Hosts::parse(url)?;
    // One direct attempt per host first: the pool would retry until its timeout and then
    // report only "pool timed out", hiding the reason (refused, bad password, no such database).
    let options = hosts.first_usable().await?;
    let read_write = hosts.read_write;
    let switches = failover::Switches::new();
    let mut pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(acquire_timeout)
        // sqlx pings every idle connection it hands out: one extra round trip to PostgreSQL per
        // statement, on every request. A connection that broke meanwhile (a database restart)
        // fails its next statement instead, which the caller sees as a retryable error, and
        // sqlx then discards it.
        .test_before_acquire(false)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                // Every statement Spool runs reads messages through an index in that index's
                // order, and none needs a sort. On a churning queue table the planner sometimes
                // prefers a bitmap or sequential scan plus sort that wades through every dead
                // tuple, and when it believes a queue holds one row (statistics are routinely
                // wrong for a queue id) it happily sorts "one row" read from the wrong index:
                // the whole queue. Taking those plans off the table leaves each ordered
                // statement one sort-free path, its index (tests/api/plans.rs checks them).
                // JIT never pays off for these short statements, and the disabled plans' huge
                // costs would otherwise push small scans (e.g. of `queues`) over jit_above_cost.
                // Runtime SQL: several `set` commands in one simple-protocol round trip,
                // which `query!` (one prepared statement) cannot express.
                sqlx::raw_sql(SESSION_SETTINGS).execute(&mut *conn).await?;
                if read_write {
                    failover::check_writable(conn).await?;
                }
                Ok(())
            })
        });
    if hosts.is_multi() {
        // After the pool moved to a new primary, connections to the old server are dropped as
        // they come out of the pool (no query: their age says which server they belong to).
        let switches = switches.clone();
        pool = pool.before_acquire(move |_conn, meta| {
            let current = switches.is_current(meta.age);
            Box::pin(async move { Ok(current) })
        });
    }
    let pool = pool.connect_with(options).await?;
    if hosts.is_multi() {
        // It never acquires a connection (it probes with sessions of its own), so it may hold
        // the bare pool.
        tokio::spawn(failover::follow(pool.clone(), hosts, switches));
    }
    Ok(Db::new(pool))
}

/// Applies the embedded migrations (on one connection, as `Migrator::run` on a pool does).
pub async fn migrate(db: &Db) -> Result<(), sqlx::migrate::MigrateError> {
    let mut conn = db.acquire().await?;
    sqlx::migrate!().run(&mut *conn).await
}
