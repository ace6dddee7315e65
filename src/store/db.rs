//! The application's database handle: the connection pool plus a count of the tasks waiting
//! for one of its connections.
//!
//! sqlx's pool does not say how many callers queue for a connection, and that number is the
//! first sign of a pool too small for the load (`spool_db_pool_connections{state="waiting"}`).
//! So every way to a connection goes through [`Db`]: its inherent [`Db::acquire`] and
//! [`Db::begin`], `&Db` as an executor (the store's functions take `impl PgExecutor`), and
//! [`Db::listener`]. Each counts its caller from the first poll until the pool hands out a
//! connection or fails; a guard uncounts a caller whose wait is cancelled or times out. `Db`
//! deliberately neither derefs to nor hands out its `PgPool`: a `&PgPool` parameter would
//! then accept a `&Db` silently and acquire around the count.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use futures_core::{future::BoxFuture, stream::BoxStream};
use futures_util::TryStreamExt;
use sqlx::{
    Describe, Either, Execute, Executor, PgPool, Postgres, SqlStr, Transaction,
    pool::PoolConnection,
    postgres::{PgConnectOptions, PgListener, PgQueryResult, PgRow, PgStatement, PgTypeInfo},
};

/// A connection pool that counts the tasks waiting for its connections; cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    pool: PgPool,
    waiting: Arc<AtomicUsize>,
}

/// One caller counted as waiting for as long as it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn start(count: &'a AtomicUsize) -> Self {
        // Relaxed: a gauge read at scrape time orders nothing.
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Db {
    /// Counts the waiters of `pool` from now on.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            waiting: Arc::default(),
        }
    }

    /// A connection of the pool, counted as waiting until the pool hands it out.
    pub async fn acquire(&self) -> sqlx::Result<PoolConnection<Postgres>> {
        let _waiting = Waiting::start(&self.waiting);
        self.pool.acquire().await
    }

    /// A connection with a transaction begun on it (the wait for the connection is counted,
    /// `BEGIN` is not).
    pub async fn begin(&self) -> sqlx::Result<Transaction<'static, Postgres>> {
        let conn = self.acquire().await?;
        // What `Pool::begin` does with the connection it acquired; sqlx's public API has no
        // other way to turn an owned pool connection into an owned transaction.
        Transaction::begin(conn, None).await
    }

    /// As [`Db::begin`], with `statement` instead of `BEGIN`: sent as one simple query, so
    /// it may be `BEGIN` followed by `SET LOCAL`s at no extra round trip.
    pub async fn begin_with(
        &self,
        statement: &'static str,
    ) -> sqlx::Result<Transaction<'static, Postgres>> {
        let conn = self.acquire().await?;
        Transaction::begin(conn, Some(sqlx::SqlSafeStr::into_sql_str(statement))).await
    }

    /// A `LISTEN` session on a connection of the pool, opened like [`Db::acquire`]. It does
    /// not reconnect by itself (sqlx would acquire uncounted): once its `try_recv` reports
    /// the connection lost, open a new one.
    pub async fn listener(&self) -> sqlx::Result<PgListener> {
        let _waiting = Waiting::start(&self.waiting);
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.eager_reconnect(false);
        Ok(listener)
    }

    /// Tasks waiting for a connection now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Connections open now, in use or idle.
    pub fn size(&self) -> u32 {
        self.pool.size()
    }

    /// Open connections not in use now.
    pub fn num_idle(&self) -> usize {
        self.pool.num_idle()
    }

    /// Most connections the pool opens.
    pub fn max_connections(&self) -> u32 {
        self.pool.options().get_max_connections()
    }

    /// What the pool connects with now (the current primary, after a failover).
    pub fn connect_options(&self) -> Arc<PgConnectOptions> {
        self.pool.connect_options()
    }

    /// Closes every connection, waiting for those in use to come back.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// `&Db` runs statements like `&PgPool` (the same code as sqlx's `impl Executor for &Pool`),
/// with the connection taken through [`Db::acquire`]. Implemented for `&'p Db` rather than
/// any `&Db` so the returned future may borrow the handle instead of cloning it.
impl<'p> Executor<'p> for &'p Db {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, sqlx::Result<Either<PgQueryResult, PgRow>>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        Box::pin(sqlx_core::try_stream! {
            let mut conn = self.acquire().await?;
            let mut rows = conn.fetch_many(query);
            while let Some(row) = rows.try_next().await? {
                r#yield!(row);
            }
            Ok(())
        })
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, sqlx::Result<Option<PgRow>>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        Box::pin(async move { self.acquire().await?.fetch_optional(query).await })
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, sqlx::Result<PgStatement>>
    where
        'p: 'e,
    {
        Box::pin(async move { self.acquire().await?.prepare_with(sql, parameters).await })
    }

    // Part of the trait whenever sqlx-core's `offline` feature is on, which sqlx's `macros`
    // feature (the `query!` family) turns on.
    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, sqlx::Result<Describe<Postgres>>>
    where
        'p: 'e,
    {
        Box::pin(async move { self.acquire().await?.describe(sql).await })
    }
}
