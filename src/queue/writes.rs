//! The engine's group-committed writes: sends, deletes and visibility changes of concurrent
//! requests share statements (see `store::batch`), separately per durability.

use std::sync::Arc;

use sqlx::{Connection, PgConnection};

use crate::{
    domain::{Delivery, Durability, Error, NewMessage},
    store::{self, Db, batch::GroupCommit},
};

/// A failed shared statement as each of its requests sees it: a row whose queue was deleted
/// meanwhile (a foreign key of the FIFO side tables), else `Error::shared`.
pub(super) fn shared_error(error: Arc<sqlx::Error>) -> Error {
    match &*error {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => Error::QueueDeleted,
        other => Error::shared(other),
    }
}

/// Flushers per kind of write and durability (each holds one connection while flushing).
const FLUSHERS: usize = 3;

/// Group-commit queues for one durability.
#[derive(Debug)]
struct Lane {
    insert: GroupCommit<Vec<NewMessage>, ()>,
    delete: GroupCommit<Vec<Delivery>, Vec<bool>>,
    visibility: GroupCommit<Vec<(Delivery, i32)>, Vec<bool>>,
}

/// All group-committed writes.
#[derive(Debug)]
pub struct Writes {
    durable: Lane,
    relaxed: Lane,
}

impl Writes {
    pub fn new(pool: &Db) -> Self {
        Self {
            durable: Lane::new(pool, Durability::Durable),
            relaxed: Lane::new(pool, Durability::Relaxed),
        }
    }

    fn lane(&self, durability: Durability) -> &Lane {
        match durability {
            Durability::Durable => &self.durable,
            Durability::Relaxed => &self.relaxed,
        }
    }

    /// Inserts one request's messages; returns after the commit.
    pub async fn insert(&self, durability: Durability, rows: Vec<NewMessage>) -> Result<(), Error> {
        self.lane(durability)
            .insert
            .submit(rows)
            .await
            .map_err(shared_error)
    }

    /// Deletes deliveries; per delivery whether it was current (and so deleted).
    pub async fn delete(
        &self,
        durability: Durability,
        deliveries: Vec<Delivery>,
    ) -> Result<Vec<bool>, Error> {
        self.lane(durability)
            .delete
            .submit(deliveries)
            .await
            .map_err(shared_error)
    }

    /// Changes visibility; per change whether the delivery was current and in flight.
    pub async fn change_visibility(
        &self,
        durability: Durability,
        changes: Vec<(Delivery, i32)>,
    ) -> Result<Vec<bool>, Error> {
        self.lane(durability)
            .visibility
            .submit(changes)
            .await
            .map_err(shared_error)
    }
}

impl Lane {
    fn new(pool: &Db, durability: Durability) -> Self {
        Self {
            insert: GroupCommit::new(
                pool.clone(),
                "insert",
                FLUSHERS,
                move |mut conn, requests| async move {
                    let n = requests.len();
                    let rows: Vec<NewMessage> = requests.into_iter().flatten().collect();
                    let result = insert(&mut conn, &rows, durability).await;
                    (conn, result.map(|()| vec![(); n]))
                },
            ),
            delete: GroupCommit::new(
                pool.clone(),
                "delete",
                FLUSHERS,
                move |mut conn, requests| async move {
                    let all: Vec<Delivery> = requests.iter().flatten().copied().collect();
                    let result = store::messages::delete(&mut *conn, &all, durability).await;
                    (conn, result.map(|done| split(&requests, &done, |d| *d)))
                },
            ),
            visibility: GroupCommit::new(
                pool.clone(),
                "visibility",
                FLUSHERS,
                move |mut conn, requests| async move {
                    let all: Vec<(Delivery, i32)> = requests.iter().flatten().copied().collect();
                    let result =
                        store::messages::change_visibility(&mut *conn, &all, durability).await;
                    let touched = result.map(|done| split(&requests, &done, |(d, _)| *d));
                    (conn, touched)
                },
            ),
        }
    }
}

/// Inserts messages in one statement; messages with system attributes (rare) take a
/// transaction, so their attributes commit with them or not at all.
async fn insert(
    conn: &mut PgConnection,
    rows: &[NewMessage],
    durability: Durability,
) -> sqlx::Result<()> {
    let system: Vec<(uuid::Uuid, String)> = rows
        .iter()
        .filter(|m| !m.system_attributes.is_empty())
        .filter_map(|m| {
            Some((
                m.message_id,
                serde_json::to_string(&m.system_attributes).ok()?,
            ))
        })
        .collect();
    if system.is_empty() {
        return store::messages::insert(conn, rows, durability).await;
    }
    let mut tx = conn.begin().await?;
    store::messages::insert(&mut *tx, rows, durability).await?;
    store::system_attributes::insert(&mut *tx, &system).await?;
    tx.commit().await
}

/// Maps each request's entries to whether the shared statement touched them (`done` holds
/// the `(queue, row)` pairs it returned).
fn split<T>(
    requests: &[Vec<T>],
    done: &[(i64, i64)],
    delivery: impl Fn(&T) -> Delivery,
) -> Vec<Vec<bool>> {
    let done: std::collections::HashSet<(i64, i64)> = done.iter().copied().collect();
    requests
        .iter()
        .map(|entries| {
            entries
                .iter()
                .map(|e| {
                    let d = delivery(e);
                    done.contains(&(d.queue_id, d.row_id))
                })
                .collect()
        })
        .collect()
}
