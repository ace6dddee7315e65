//! Coalesced receives: concurrent receives on one queue (with the same visibility timeout)
//! share one claim statement, and messages claimed for a receiver that went away meanwhile
//! are released at once.

use crate::domain::{Queue, QueueId};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use chrono::Utc;
use tokio::sync::oneshot;

use super::{Engine, handle::Delivery};
use crate::store::{self, batch::Conn, messages::ClaimedRow};

/// Most rows one shared claim takes.
const MAX_CLAIM: usize = 1_000;

/// Receives that claim together: same queue, visibility and dead-letter rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ClaimKey {
    queue: QueueId,
    visibility: i32,
}

struct Waiter {
    max: usize,
    reply: oneshot::Sender<Result<Vec<ClaimedRow>, crate::domain::Error>>,
}

#[derive(Default)]
struct Group {
    pending: Vec<Waiter>,
    running: bool,
}

/// Claim groups of this node.
#[derive(Default)]
pub struct Claims {
    groups: Mutex<HashMap<ClaimKey, Arc<Mutex<Group>>>>,
}

impl std::fmt::Debug for Claims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Claims")
    }
}

impl Engine {
    /// Claims up to `max` messages, sharing the statement with concurrent receives.
    pub(super) async fn claim(
        &self,
        queue: &Queue,
        max: usize,
        visibility: i32,
    ) -> Result<Vec<ClaimedRow>, crate::domain::Error> {
        let key = ClaimKey {
            queue: queue.id,
            visibility,
        };
        let group = {
            let mut groups = self.0.claims.groups.lock().expect("claims lock");
            groups.entry(key.clone()).or_default().clone()
        };
        let (reply, answer) = oneshot::channel();
        let lead = {
            let mut g = group.lock().expect("group lock");
            g.pending.push(Waiter { max, reply });
            !std::mem::replace(&mut g.running, true)
        };
        if lead {
            // The leader runs detached, so a receiver that goes away cannot strand the others.
            tokio::spawn(self.clone().lead(group, key, queue.clone()));
        }
        match answer.await {
            Ok(Ok(rows)) => Ok(rows),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(crate::domain::Error::Overloaded),
        }
    }

    /// Runs shared claims until no receive is waiting, on one connection kept for the run
    /// (a trip through the pool costs a round trip to PostgreSQL, see `store::batch`).
    async fn lead(self, group: Arc<Mutex<Group>>, key: ClaimKey, queue: Queue) {
        let mut held: Option<Conn> = None;
        loop {
            let waiters = {
                let mut g = group.lock().expect("group lock");
                if g.pending.is_empty() {
                    g.running = false;
                    drop(g);
                    self.forget_idle(&key, &group);
                    return;
                }
                take_up_to(&mut g.pending, MAX_CLAIM)
            };
            let wanted: usize = waiters.iter().map(|w| w.max).sum();
            let conn = match held.take() {
                Some(conn) => Ok(conn),
                None => self.0.db.acquire().await,
            };
            let claimed = match conn {
                Ok(mut conn) => {
                    let claimed = store::messages::claim(
                        &mut *conn,
                        queue.id,
                        i64::try_from(wanted).expect("small"),
                        key.visibility,
                        queue.settings.dead_letter.as_ref(),
                        queue.settings.durability,
                    )
                    .await;
                    // After an error the connection goes back to the pool, which checks it.
                    if claimed.is_ok() && store::batch::may_keep(&self.0.db) {
                        held = Some(conn);
                    }
                    claimed
                }
                Err(error) => Err(error),
            };
            match claimed {
                Ok(store::messages::Claim {
                    rows,
                    dead_lettered,
                }) => {
                    crate::telemetry::prometheus::claimed(rows.len());
                    if let (Some(d), 1..) = (&queue.settings.dead_letter, dead_lettered) {
                        let moved = u64::try_from(dead_lettered).expect("positive");
                        crate::telemetry::prometheus::queue(&queue)
                            .dead_lettered
                            .increment(moved);
                        self.0
                            .waker
                            .wake(d.queue_id, usize::try_from(moved).unwrap_or(usize::MAX));
                    }
                    if rows.is_empty() {
                        self.note_next_due(queue.id).await;
                    }
                    self.hand_out(&queue, waiters, rows).await;
                }
                Err(error) => {
                    crate::telemetry::prometheus::statement_error(&error);
                    for w in waiters {
                        let _ = w.reply.send(Err(crate::domain::Error::shared(&error)));
                    }
                }
            }
        }
    }

    /// Gives each waiter up to its share, in arrival order; releases what nobody took.
    async fn hand_out(&self, queue: &Queue, waiters: Vec<Waiter>, rows: Vec<ClaimedRow>) {
        let mut rows = rows.into_iter();
        let mut unwanted = Vec::new();
        for w in waiters {
            let share: Vec<ClaimedRow> = rows.by_ref().take(w.max).collect();
            if let Err(Ok(share)) = w.reply.send(Ok(share)) {
                unwanted.extend(share);
            }
        }
        if unwanted.is_empty() {
            return;
        }
        let release: Vec<(Delivery, i32)> = unwanted
            .iter()
            .map(|row| {
                let delivery = Delivery {
                    queue_id: queue.id,
                    row_id: row.id,
                    generation: row.receive_count,
                };
                (delivery, 0)
            })
            .collect();
        let n = release.len();
        match self
            .0
            .writes
            .change_visibility(queue.settings.durability, release)
            .await
        {
            Ok(_) => self.0.waker.wake(queue.id, n),
            Err(error) => tracing::warn!(%error, "could not release messages of a gone receiver"),
        }
    }

    /// Records when the queue's next delayed or in-flight message comes due.
    pub(super) async fn note_next_due(&self, queue: QueueId) {
        if let Ok(Some(at)) = store::messages::next_visible_at(&self.0.db, queue).await {
            let wait = (at - Utc::now()).to_std().unwrap_or_default();
            self.0.waker.due(queue, tokio::time::Instant::now() + wait);
        }
    }

    fn forget_idle(&self, key: &ClaimKey, group: &Arc<Mutex<Group>>) {
        let mut groups = self.0.claims.groups.lock().expect("claims lock");
        let idle = {
            let g = group.lock().expect("group lock");
            !g.running && g.pending.is_empty()
        };
        if idle && groups.get(key).is_some_and(|g| Arc::ptr_eq(g, group)) {
            groups.remove(key);
        }
    }
}

/// Takes waiters from the front until their wants reach `cap` (at least one).
fn take_up_to(pending: &mut Vec<Waiter>, cap: usize) -> Vec<Waiter> {
    let mut total = 0;
    let n = pending
        .iter()
        .take_while(|w| {
            total += w.max;
            total <= cap
        })
        .count()
        .max(1);
    pending.drain(..n).collect()
}
