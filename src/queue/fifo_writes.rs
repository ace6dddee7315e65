//! The group-committed writes of FIFO queues: sends, deletes and visibility changes of
//! concurrent requests (of any FIFO queues) share one flush, separately per durability (see
//! `store::batch`).
//!
//! - A flush of sends is one statement (`store::fifo_send`), in a transaction only with the
//!   system attributes of its messages; it runs again if a concurrent send took one of its
//!   deduplication keys.
//! - A flush of deletes is one statement that locks the entries' groups (in the one lock
//!   order, so flushes queue up on a shared group instead of deadlocking), deletes, and
//!   settles the groups (`store::fifo::DELETE_SQL`).
//! - A flush of visibility changes is one transaction: lock the groups, change the
//!   messages, recompute the groups.
//!
//! A delete or visibility change that changed nothing for some entry then looks up which
//! of those messages still exist. Each entry's outcome is matched by row id *and*
//! generation, so two handles of one message in one flush are told apart as they were in
//! separate transactions.

use std::collections::HashSet;

use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::{
    domain::{Delivery, Durability},
    store::{
        self,
        batch::{Conn, GroupCommit},
        fifo::Done,
        fifo_send::{FifoSend, FifoSent},
    },
};

/// Flushers per kind of write and durability.
const FLUSHERS: usize = 2;

/// What a FIFO delete or visibility change did to one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The delivery was current and in flight: done.
    Done,
    /// The message is still there but not in flight under this handle: the handle expired.
    Expired,
    /// The message is gone.
    Gone,
}

type Settle<T> = GroupCommit<Vec<T>, Vec<Outcome>>;

/// Group-commit queues of one durability.
#[derive(Debug)]
struct Lane {
    send: GroupCommit<Vec<FifoSend>, Vec<FifoSent>>,
    delete: Settle<Delivery>,
    visibility: Settle<(Delivery, i32)>,
}

/// Group-committed FIFO writes.
#[derive(Debug)]
pub struct FifoWrites {
    durable: Lane,
    relaxed: Lane,
}

impl FifoWrites {
    pub fn new(pool: &crate::store::Db) -> Self {
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

    /// Sends one request's messages; per message its id and sequence number (the original's
    /// for a duplicate).
    pub async fn send(
        &self,
        durability: Durability,
        sends: Vec<FifoSend>,
    ) -> Result<Vec<FifoSent>, crate::domain::Error> {
        self.lane(durability)
            .send
            .submit(sends)
            .await
            .map_err(super::writes::shared_error)
    }

    /// Deletes one request's in-flight deliveries and recomputes their groups.
    pub async fn delete(
        &self,
        durability: Durability,
        deliveries: Vec<Delivery>,
    ) -> Result<Vec<Outcome>, crate::domain::Error> {
        self.lane(durability)
            .delete
            .submit(deliveries)
            .await
            .map_err(super::writes::shared_error)
    }

    /// Changes the visibility of one request's in-flight deliveries and recomputes their
    /// groups.
    pub async fn change_visibility(
        &self,
        durability: Durability,
        changes: Vec<(Delivery, i32)>,
    ) -> Result<Vec<Outcome>, crate::domain::Error> {
        self.lane(durability)
            .visibility
            .submit(changes)
            .await
            .map_err(super::writes::shared_error)
    }
}

impl Lane {
    fn new(pool: &crate::store::Db, durability: Durability) -> Self {
        Self {
            send: GroupCommit::new(
                pool.clone(),
                "fifo_send",
                FLUSHERS,
                move |mut conn: Conn, requests: Vec<Vec<FifoSend>>| async move {
                    let all: Vec<FifoSend> = requests.iter().flatten().cloned().collect();
                    let result = send_flush(&mut conn, &all, durability).await;
                    (conn, result.map(|sent| split(&requests, sent)))
                },
            ),
            delete: GroupCommit::new(
                pool.clone(),
                "fifo_delete",
                FLUSHERS,
                move |mut conn: Conn, requests: Vec<Vec<Delivery>>| async move {
                    let all: Vec<Delivery> = requests.iter().flatten().copied().collect();
                    let result = delete(&mut conn, &all, durability).await;
                    (conn, result.map(|outcomes| split(&requests, outcomes)))
                },
            ),
            visibility: GroupCommit::new(
                pool.clone(),
                "fifo_visibility",
                FLUSHERS,
                move |mut conn: Conn, requests: Vec<Vec<(Delivery, i32)>>| async move {
                    let all: Vec<(Delivery, i32)> = requests.iter().flatten().copied().collect();
                    let result = change_visibility(&mut conn, &all, durability).await;
                    (conn, result.map(|outcomes| split(&requests, outcomes)))
                },
            ),
        }
    }
}

/// Hands each request its share of a flush's outputs (one per entry, in entry order).
fn split<T, O>(requests: &[Vec<T>], outputs: Vec<O>) -> Vec<Vec<O>> {
    let mut outputs = outputs.into_iter();
    requests
        .iter()
        .map(|r| outputs.by_ref().take(r.len()).collect())
        .collect()
}

/// Most times a flush of sends runs again after a concurrent send took one of its
/// deduplication keys (each time, some other send has committed that key).
const SEND_ATTEMPTS: usize = 8;

/// One flush of FIFO sends: one statement, in a transaction with the system attributes (a
/// trace header) of the messages it enqueues when some have them. Runs again when a
/// concurrent send took one of its keys (nothing was written then).
async fn send_flush(
    conn: &mut PgConnection,
    sends: &[FifoSend],
    durability: Durability,
) -> sqlx::Result<Vec<FifoSent>> {
    let mut attempt = 1;
    loop {
        let result = if sends.iter().all(|s| s.message.system_attributes.is_empty()) {
            store::fifo_send::send(&mut *conn, sends, durability).await
        } else {
            send_with_system_attributes(&mut *conn, sends, durability).await
        };
        match result {
            Err(error) if store::fifo_send::is_key_taken(&error) && attempt < SEND_ATTEMPTS => {
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// Sends and records the system attributes of the messages enqueued now (not of duplicates)
/// in one transaction.
async fn send_with_system_attributes(
    conn: &mut PgConnection,
    sends: &[FifoSend],
    durability: Durability,
) -> sqlx::Result<Vec<FifoSent>> {
    let mut tx = conn.begin().await?;
    let sent = store::fifo_send::send(&mut tx, sends, durability).await?;
    let system: Vec<(Uuid, String)> = sends
        .iter()
        .zip(&sent)
        .filter(|(s, out)| {
            out.message_id == s.message.message_id && !s.message.system_attributes.is_empty()
        })
        .filter_map(|(s, _)| {
            let json = serde_json::to_string(&s.message.system_attributes).ok()?;
            Some((s.message.message_id, json))
        })
        .collect();
    if !system.is_empty() {
        store::system_attributes::insert(&mut *tx, &system).await?;
    }
    tx.commit().await?;
    Ok(sent)
}

/// One flush of FIFO deletes: one statement locks the entries' groups, deletes and settles
/// them; only if some entry deleted nothing, a second one tells an expired handle from a
/// message that is gone.
async fn delete(
    conn: &mut PgConnection,
    deliveries: &[Delivery],
    durability: Durability,
) -> sqlx::Result<Vec<Outcome>> {
    let done: HashSet<Done> = store::fifo::delete(&mut *conn, deliveries, durability)
        .await?
        .into_iter()
        .collect();
    outcomes(&mut *conn, deliveries, &done).await
}

/// One flush of FIFO visibility changes, in one transaction: lock the entries' groups,
/// change the messages, recompute the groups, and tell each entry's outcome (under the
/// locks).
async fn change_visibility(
    conn: &mut PgConnection,
    changes: &[(Delivery, i32)],
    durability: Durability,
) -> sqlx::Result<Vec<Outcome>> {
    let deliveries: Vec<Delivery> = changes.iter().map(|(d, _)| *d).collect();
    let ids: Vec<i64> = deliveries.iter().map(|d| d.row_id).collect();
    let mut tx = conn.begin().await?;
    let groups = store::fifo::lock_groups_of(&mut tx, &ids, durability).await?;
    let done: HashSet<Done> = store::fifo::change_visibility(&mut tx, changes)
        .await?
        .into_iter()
        .collect();
    store::fifo::recompute(&mut tx, &groups).await?;
    let outcomes = outcomes(&mut tx, &deliveries, &done).await?;
    tx.commit().await?;
    Ok(outcomes)
}

/// Each entry's outcome, given the deliveries that were `done`: the others' messages are
/// looked up (one statement, only if there are any) to tell an expired handle from a message
/// that is gone.
async fn outcomes(
    conn: &mut PgConnection,
    deliveries: &[Delivery],
    done: &HashSet<Done>,
) -> sqlx::Result<Vec<Outcome>> {
    let key = |d: &Delivery| (d.row_id, d.generation);
    let missed: Vec<i64> = deliveries
        .iter()
        .filter(|d| !done.contains(&key(d)))
        .map(|d| d.row_id)
        .collect();
    let existing: HashSet<i64> = if missed.is_empty() {
        HashSet::new()
    } else {
        store::fifo::existing(&mut *conn, &missed)
            .await?
            .into_iter()
            .collect()
    };
    Ok(deliveries
        .iter()
        .map(|d| {
            if done.contains(&key(d)) {
                Outcome::Done
            } else if existing.contains(&d.row_id) {
                Outcome::Expired
            } else {
                Outcome::Gone
            }
        })
        .collect())
}
