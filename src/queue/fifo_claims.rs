//! FIFO claims: concurrent receives of one FIFO queue (with the same visibility timeout) share
//! one claim transaction, like standard receives share one claim statement (`claims`).
//!
//! A shared claim picks ready groups for all its receivers at once and deals them out whole:
//! each group's deliverable prefix goes to exactly one receiver, so a group never has
//! messages in flight to two receivers, and one receiver may still get several messages of
//! a group, in order. Since groups go whole, a claim picks about as many groups as its
//! receivers will use at the density (messages dealt per group) its previous claim saw, not
//! one per message wanted. A receive with a `ReceiveRequestAttemptId` claims alone (`fifo`), since
//! what it got must be remembered under its id.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
};

use tokio::sync::oneshot;

use super::{Engine, handle::Delivery};
use crate::{
    domain::{Error, Queue, QueueId},
    store::{
        self,
        fifo::{Candidate, FifoRow},
    },
};

/// Most messages one shared claim takes for its receivers together.
const MAX_CLAIM: usize = 100;

/// Receives that claim together: same queue and visibility.
type ClaimKey = (QueueId, i32);

struct Waiter {
    max: usize,
    reply: oneshot::Sender<Result<Vec<FifoRow>, Error>>,
}

#[derive(Default)]
struct Pending {
    waiters: Vec<Waiter>,
    running: bool,
}

/// FIFO claim groups of this node.
#[derive(Default)]
pub struct FifoClaims {
    pending: Mutex<HashMap<ClaimKey, Arc<Mutex<Pending>>>>,
}

impl std::fmt::Debug for FifoClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FifoClaims")
    }
}

/// How many messages a claim dealt per group that gave it any: with dense groups (many
/// messages ready in each) a claim needs few groups, and picking as many groups as messages
/// wanted would lock them and read up to a receiver's maximum from each, to use a handful.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Density {
    messages: usize,
    groups: usize,
}

impl Density {
    /// Groups to pick for receivers wanting `maxes`: as many as messages wanted when nothing
    /// is known or groups give one message each; else enough groups at the last claim's
    /// density, plus one per receiver (its last group may give it only part of its room).
    fn groups(self, maxes: &[usize]) -> usize {
        let wanted: usize = maxes.iter().sum();
        if self.groups == 0 || self.messages <= self.groups {
            return wanted.max(1);
        }
        let per_group = self.messages / self.groups;
        (wanted.div_ceil(per_group) + maxes.len()).clamp(1, wanted.max(1))
    }
}

/// What a claim does with its candidates: each receiver's row ids, the rows to dead-letter,
/// and the groups it looked at (those that deliver nothing are recomputed).
#[derive(Debug, Default, PartialEq, Eq)]
struct Plan {
    shares: Vec<Vec<i64>>,
    dead: Vec<i64>,
    touched: Vec<String>,
}

/// Deals candidates (sorted: groups in ready order, each group's messages in order) out to
/// receivers wanting `maxes`: groups whole, in order, to the first receiver with room; a
/// group delivers a prefix of its messages (nothing after a delayed one, nothing past the
/// receiver's room); messages past the dead-letter limit `dead_at` go to `dead` instead.
fn plan(candidates: &[Candidate], maxes: &[usize], dead_at: Option<i32>) -> Plan {
    let mut plan = Plan {
        shares: vec![Vec::new(); maxes.len()],
        ..Plan::default()
    };
    let mut receiver = 0;
    let mut blocked = false;
    for c in candidates {
        if plan.touched.last() != Some(&c.group_id) {
            if plan
                .shares
                .get(receiver)
                .is_some_and(|s| s.len() >= maxes[receiver])
            {
                receiver += 1;
            }
            if receiver >= maxes.len() {
                break;
            }
            plan.touched.push(c.group_id.clone());
            blocked = false;
        }
        let (Some(id), Some(receive_count)) = (c.id, c.receive_count) else {
            continue;
        };
        let share = &mut plan.shares[receiver];
        blocked |= c.visible != Some(true) || share.len() >= maxes[receiver];
        if blocked {
            continue;
        }
        match dead_at {
            Some(limit) if receive_count >= limit => plan.dead.push(id),
            _ => share.push(id),
        }
    }
    plan
}

impl Engine {
    /// Claims up to `max` messages of a FIFO queue, sharing the claim with concurrent
    /// receives.
    pub(super) async fn claim_fifo_shared(
        &self,
        queue: &Queue,
        max: usize,
        visibility: i32,
    ) -> Result<Vec<FifoRow>, Error> {
        let key = (queue.id, visibility);
        let pending = {
            let mut all = self.0.fifo_claims.pending.lock().expect("claims lock");
            all.entry(key).or_default().clone()
        };
        let (reply, answer) = oneshot::channel();
        let lead = {
            let mut p = pending.lock().expect("pending lock");
            p.waiters.push(Waiter { max, reply });
            !std::mem::replace(&mut p.running, true)
        };
        if lead {
            // Detached, so a receiver that goes away cannot strand the others.
            tokio::spawn(self.clone().lead_fifo(pending, key, queue.clone()));
        }
        answer.await.unwrap_or(Err(Error::Overloaded))
    }

    /// Runs shared claims until no receive is waiting.
    async fn lead_fifo(self, pending: Arc<Mutex<Pending>>, key: ClaimKey, queue: Queue) {
        // Messages per group the last claim dealt, to pick as many groups as the next one
        // is likely to use.
        let mut density = Density::default();
        loop {
            let waiters = {
                let mut p = pending.lock().expect("pending lock");
                if p.waiters.is_empty() {
                    p.running = false;
                    drop(p);
                    self.forget_idle_fifo(key, &pending);
                    return;
                }
                let mut total = 0;
                let n = p
                    .waiters
                    .iter()
                    .take_while(|w| {
                        total += w.max;
                        total <= MAX_CLAIM
                    })
                    .count()
                    .max(1);
                p.waiters.drain(..n).collect::<Vec<_>>()
            };
            let maxes: Vec<usize> = waiters.iter().map(|w| w.max).collect();
            match self.claim_groups(&queue, &maxes, key.1, density).await {
                Ok((shares, seen)) => {
                    density = seen;
                    self.hand_out_fifo(&queue, waiters, shares).await;
                }
                Err(error) => {
                    crate::telemetry::prometheus::statement_error(&error);
                    for w in waiters {
                        let _ = w.reply.send(Err(Error::shared(&error)));
                    }
                }
            }
        }
    }

    /// Gives each waiter its share; releases the shares of receivers that went away.
    async fn hand_out_fifo(&self, queue: &Queue, waiters: Vec<Waiter>, shares: Vec<Vec<FifoRow>>) {
        let mut unwanted = Vec::new();
        for (w, share) in waiters.into_iter().zip(shares) {
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
        if let Err(error) = self.change_visibility_fifo(queue, &release).await {
            tracing::warn!(%error, "could not release messages of a gone receiver");
        }
    }

    fn forget_idle_fifo(&self, key: ClaimKey, pending: &Arc<Mutex<Pending>>) {
        let mut all = self.0.fifo_claims.pending.lock().expect("claims lock");
        let idle = {
            let p = pending.lock().expect("pending lock");
            !p.running && p.waiters.is_empty()
        };
        if idle && all.get(&key).is_some_and(|p| Arc::ptr_eq(p, pending)) {
            all.remove(&key);
        }
    }

    /// One claim transaction for receivers wanting `maxes`: locks ready groups (as many as
    /// `density` says the receivers will use), deals their heads out (`plan`), moves messages
    /// past the dead-letter limit, hides the dealt messages (holding their groups) and
    /// recomputes the groups it looked at that deliver nothing. Returns each receiver's rows
    /// and this claim's density.
    pub(super) async fn claim_groups(
        &self,
        queue: &Queue,
        maxes: &[usize],
        visibility: i32,
        density: Density,
    ) -> sqlx::Result<(Vec<Vec<FifoRow>>, Density)> {
        let mut tx = self
            .0
            .db
            .begin_with(store::fifo::claim_begin(queue.settings.durability))
            .await?;
        let groups = i64::try_from(density.groups(maxes)).expect("small");
        let per_group = i64::try_from(maxes.iter().copied().max().unwrap_or(1)).expect("small");
        let candidates = store::fifo::pick(&mut tx, queue.id, groups, per_group).await?;
        let dead_letter = queue.settings.dead_letter.as_ref();
        let plan = plan(&candidates, maxes, dead_letter.map(|d| d.max_receive_count));
        let mut dead_lettered = 0;
        if let (Some(d), false) = (dead_letter, plan.dead.is_empty()) {
            dead_lettered =
                store::fifo::dead_letter(&mut tx, queue.id, &plan.dead, d.queue_id).await?;
            self.0.waker.wake(
                d.queue_id,
                usize::try_from(dead_lettered).unwrap_or(usize::MAX),
            );
        }
        let live: Vec<i64> = plan.shares.iter().flatten().copied().collect();
        // Delivering groups are set by `deliver` (held until the visibility ends); the others
        // looked at (head delayed or dead-lettered, or no messages left) are recomputed.
        let dealt: HashSet<i64> = live.iter().copied().collect();
        let delivering: HashSet<&str> = candidates
            .iter()
            .filter(|c| c.id.is_some_and(|id| dealt.contains(&id)))
            .map(|c| c.group_id.as_str())
            .collect();
        let seen = Density {
            messages: live.len() + plan.dead.len(),
            groups: delivering.len(),
        };
        let idle: Vec<_> = plan
            .touched
            .iter()
            .filter(|g| !delivering.contains(g.as_str()))
            .map(|g| (queue.id, g.clone()))
            .collect();
        let rows = store::fifo::deliver(&mut tx, queue.id, &live, visibility).await?;
        store::fifo::recompute(&mut tx, &idle).await?;
        tx.commit().await?;
        if dead_lettered > 0 {
            crate::telemetry::prometheus::queue(queue)
                .dead_lettered
                .increment(dead_lettered);
        }
        let mut rows: HashMap<i64, FifoRow> = rows.into_iter().map(|r| (r.id, r)).collect();
        let shares = plan
            .shares
            .iter()
            .map(|share| share.iter().filter_map(|id| rows.remove(id)).collect())
            .collect();
        Ok((shares, seen))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(group: &str, id: i64, visible: bool, receive_count: i32) -> Candidate {
        Candidate {
            ready_at: chrono::DateTime::UNIX_EPOCH,
            id: Some(id),
            group_id: group.to_owned(),
            receive_count: Some(receive_count),
            visible: Some(visible),
        }
    }

    #[test]
    fn a_claim_picks_fewer_groups_when_groups_are_dense() {
        let maxes = [10; 8];
        // Nothing known, or one message per group: a group per message wanted.
        assert_eq!(Density::default().groups(&maxes), 80);
        let sparse = Density {
            messages: 25,
            groups: 25,
        };
        assert_eq!(sparse.groups(&maxes), 80);
        // Ten per group: enough groups for 80 messages, plus one per receiver.
        let dense = Density {
            messages: 30,
            groups: 3,
        };
        assert_eq!(dense.groups(&maxes), 16);
        // Never more than messages wanted, never none.
        let two = Density {
            messages: 4,
            groups: 2,
        };
        assert_eq!(two.groups(&[1]), 1);
        assert_eq!(two.groups(&[10]), 6);
    }

    #[test]
    fn groups_are_dealt_whole_to_one_receiver_each() {
        let candidates = [
            candidate("a", 1, true, 0),
            candidate("a", 2, true, 0),
            candidate("a", 3, true, 0),
            candidate("b", 4, true, 0),
            candidate("b", 5, false, 0),
            candidate("b", 6, true, 0),
            candidate("c", 7, true, 0),
            candidate("d", 8, true, 0),
            candidate("d", 9, true, 0),
            candidate("e", 10, true, 0),
        ];
        let plan = plan(&candidates, &[2, 3], None);
        // a's prefix fills the first receiver (3 is left for later); b delivers up to its
        // delayed message; c and the head of d fill the second receiver; e is not looked at.
        assert_eq!(plan.shares, [vec![1, 2], vec![4, 7, 8]]);
        assert_eq!(plan.touched, ["a", "b", "c", "d"]);
        assert!(plan.dead.is_empty());
    }

    #[test]
    fn one_receiver_takes_several_groups_and_dead_letters_do_not_count() {
        let candidates = [
            candidate("a", 1, true, 5),
            candidate("a", 2, true, 0),
            candidate("b", 3, true, 0),
            Candidate {
                id: None,
                receive_count: None,
                visible: None,
                ..candidate("c", 0, true, 0)
            },
        ];
        let plan = plan(&candidates, &[10], Some(5));
        assert_eq!(plan.shares, [vec![2, 3]]);
        assert_eq!(plan.dead, [1]);
        assert_eq!(plan.touched, ["a", "b", "c"]);
    }
}
