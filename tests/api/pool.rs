//! The pool handle (`store::Db`): every way to a connection counts its caller as waiting until
//! the pool hands one out, and no longer once the caller gives up.

use std::time::Duration;

use spool::store::{self, Db};
use sqlx::{Executor, SqlSafeStr};

use crate::helpers::{TestDb, eventually};

/// Spawns `work` on a clone of `db`.
fn spawn<F, Fut>(db: &Db, work: F) -> tokio::task::JoinHandle<sqlx::Result<()>>
where
    F: FnOnce(Db) -> Fut,
    Fut: Future<Output = sqlx::Result<()>> + Send + 'static,
{
    tokio::spawn(work(db.clone()))
}

#[tokio::test]
async fn every_way_to_a_pool_connection_is_counted_while_it_waits() {
    let test_db = TestDb::new().await;
    // One connection, and waits long enough that none times out under a loaded machine.
    let db = store::connect_with(&test_db.url, 1, Duration::from_secs(30))
        .await
        .expect("connect");
    store::migrate(&db).await.expect("migrate");
    let held = db.acquire().await.unwrap();
    assert_eq!(db.waiting(), 0);

    let select = || "select 1".into_sql_str();
    let waiters = [
        spawn(&db, |db| async move { db.acquire().await.map(drop) }),
        spawn(&db, |db| async move { db.begin().await?.commit().await }),
        spawn(&db, |db| async move { db.listener().await.map(drop) }),
        // `&Db` as an executor, once through each method it implements: fetch_optional
        // (under `fetch_one`), fetch_many (under `fetch_all`), prepare_with, describe.
        spawn(&db, |db| async move {
            store::queues::count_all(&db).await.map(drop)
        }),
        spawn(&db, |db| async move {
            store::queues::list_all(&db, 10).await.map(drop)
        }),
        spawn(&db, move |db| async move {
            (&db).prepare(select()).await.map(drop)
        }),
        spawn(&db, move |db| async move {
            (&db).describe(select()).await.map(drop)
        }),
    ];
    let n = waiters.len();
    eventually("tasks waiting", n, || db.waiting()).await;

    // A caller that gives up (cancelled, timed out) is no longer counted.
    let abandoned = spawn(&db, |db| async move { db.acquire().await.map(drop) });
    eventually("tasks waiting", n + 1, || db.waiting()).await;
    abandoned.abort();
    assert!(abandoned.await.unwrap_err().is_cancelled());
    assert_eq!(db.waiting(), n);

    // Released, the connection serves every waiter in turn.
    drop(held);
    for waiter in waiters {
        waiter
            .await
            .unwrap()
            .expect("each waiter got the connection");
    }
    assert_eq!(db.waiting(), 0);
}
