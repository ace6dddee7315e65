//! The group-committed writes of FIFO queues: sends, deletes and visibility changes of
//! concurrent requests (of any FIFO queues) share one transaction per flush, separately per
//! durability (see `store::batch`).
//!
//! A delete or visibility change must hold its messages' groups while it changes them and
//! recomputes them (`store::fifo`), so a flush is one transaction of a few statements whatever
//! its size: lock the groups of every entry (in the one lock order, so flushes queue up on a
//! shared group instead of deadlocking), change the messages and recompute the groups (one
//! statement for deletes, two for visibility changes), and (only if some entry changed
//! nothing) look up which of those messages still exist. Each entry's
//! outcome is matched by row id *and* generation, so two handles of one message in one flush
//! are told apart as they were in separate transactions.

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
                    let result = send_in_transaction(&mut conn, &all, durability).await;
                    (conn, result.map(|sent| split(&requests, sent)))
                },
            ),
            delete: GroupCommit::new(
                pool.clone(),
                "fifo_delete",
                FLUSHERS,
                move |mut conn: Conn, requests: Vec<Vec<Delivery>>| async move {
                    let all: Vec<Delivery> = requests.iter().flatten().copied().collect();
                    let result = settle(
                        &mut conn,
                        &all,
                        durability,
                        |d| *d,
                        async |tx, all, groups| store::fifo::delete(tx, all, groups).await,
                    )
                    .await;
                    (conn, result.map(|outcomes| split(&requests, outcomes)))
                },
            ),
            visibility: GroupCommit::new(
                pool.clone(),
                "fifo_visibility",
                FLUSHERS,
                move |mut conn: Conn, requests: Vec<Vec<(Delivery, i32)>>| async move {
                    let all: Vec<(Delivery, i32)> = requests.iter().flatten().copied().collect();
                    let result = settle(
                        &mut conn,
                        &all,
                        durability,
                        |(d, _)| *d,
                        async |tx, all, groups| {
                            let done = store::fifo::change_visibility(tx, all).await?;
                            store::fifo::recompute(tx, groups).await?;
                            Ok(done)
                        },
                    )
                    .await;
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

/// One flush of FIFO sends: its statements share one transaction.
async fn send_in_transaction(
    conn: &mut PgConnection,
    sends: &[FifoSend],
    durability: Durability,
) -> sqlx::Result<Vec<FifoSent>> {
    let mut tx = conn.begin().await?;
    let sent = store::fifo_send::send(&mut tx, sends, durability).await?;
    // System attributes (a trace header) of the messages enqueued now, not of duplicates.
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

/// One flush of FIFO deletes or visibility changes (`act`, which also recomputes the groups
/// it is given), in one transaction: lock the entries' groups, act, and tell each entry's
/// outcome.
async fn settle<T>(
    conn: &mut PgConnection,
    entries: &[T],
    durability: Durability,
    delivery: impl Fn(&T) -> Delivery,
    act: impl AsyncFnOnce(&mut PgConnection, &[T], &[store::fifo::Group]) -> sqlx::Result<Vec<Done>>,
) -> sqlx::Result<Vec<Outcome>> {
    let deliveries: Vec<Delivery> = entries.iter().map(delivery).collect();
    let ids: Vec<i64> = deliveries.iter().map(|d| d.row_id).collect();
    let mut tx = conn.begin().await?;
    let groups = store::fifo::lock_groups_of(&mut tx, &ids, durability).await?;
    let done: HashSet<Done> = act(&mut tx, entries, &groups).await?.into_iter().collect();
    let key = |d: &Delivery| (d.row_id, d.generation);
    let missed: Vec<i64> = deliveries
        .iter()
        .filter(|d| !done.contains(&key(d)))
        .map(|d| d.row_id)
        .collect();
    // Under the group locks, so no other flush can delete these messages meanwhile.
    let existing: HashSet<i64> = if missed.is_empty() {
        HashSet::new()
    } else {
        store::fifo::existing(&mut *tx, &missed)
            .await?
            .into_iter()
            .collect()
    };
    tx.commit().await?;
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
