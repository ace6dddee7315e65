//! All SQL lives here: queues, messages (claim, send, delete, visibility), redrive tasks,
//! retention sweeps, server secrets and the cross-node waker.
//!
//! Statements are static strings run through `sqlx::query` (prepared and cached per connection).
//! Multi-row statements take arrays (`unnest`) so that concurrent requests can share one
//! statement and one commit.

pub mod auth;
pub mod batch;
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

use sqlx::{
    Connection, PgConnection, PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

/// Planner and safety settings of every Spool session (see `connect`).
pub const SESSION_SETTINGS: &str = "set enable_seqscan = off; set enable_bitmapscan = off; \
     set enable_sort = off; set jit = off; set statement_timeout = '30s'; \
     set idle_in_transaction_session_timeout = '60s'";

/// How long a request waits for a database connection by default before it is answered with a
/// retryable 503: long enough to ride out a busy moment, short enough that clients learn of an
/// outage within about a second instead of piling up.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);

/// Connects a pool (see [`connect_with`]) with the default acquire timeout.
pub async fn connect(url: &str, max_connections: u32) -> sqlx::Result<PgPool> {
    connect_with(url, max_connections, DEFAULT_ACQUIRE_TIMEOUT).await
}

/// Connects a pool whose sessions pin the planner to index scans and bound runaway work.
/// `acquire_timeout` bounds how long a request waits for a connection, including reconnecting
/// while the database is down or restarting.
pub async fn connect_with(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
) -> sqlx::Result<PgPool> {
    let options: PgConnectOptions = url.parse()?;
    // One direct attempt first: the pool would retry until its timeout and then report only
    // "pool timed out", hiding the reason (refused, bad password, no such database).
    PgConnection::connect_with(&options).await?.close().await?;
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(acquire_timeout)
        // sqlx pings every idle connection it hands out: one extra round trip to PostgreSQL per
        // statement, on every request. A connection that broke meanwhile (a database restart)
        // fails its next statement instead, which the caller sees as a retryable error, and
        // sqlx then discards it.
        .test_before_acquire(false)
        .after_connect(|conn, _meta| {
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
                sqlx::raw_sql(SESSION_SETTINGS).execute(conn).await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await
}

/// Applies the embedded migrations.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!().run(pool).await
}
