//! FIFO queue semantics on top of `store::fifo`: sends with deduplication, the group claim
//! (with dead-letter moves and receive attempts), deletes and visibility changes that release
//! or hold their group (all three writes group-committed in `fifo_writes`), and the virtual
//! clocks of fair standard queues.

use crate::domain::{DeduplicationScope, FifoMessage, NewMessage, Queue, ReceivedMessage};
use sha2::{Digest, Sha256};

use super::{Engine, fifo_writes::Outcome, handle::Delivery};
use crate::{
    domain::Error,
    store::{
        self,
        fifo::FifoRow,
        fifo_send::{FifoSend, FifoSent},
    },
};

/// The SHA-256 of a body as a deduplication id (content-based deduplication).
pub fn content_dedup_id(body: &str) -> String {
    super::attributes::to_hex(&Sha256::digest(body.as_bytes()))
}

/// Whether a group or deduplication id is well formed: 1–128 characters, alphanumeric or
/// punctuation (SQS's rule).
pub fn valid_token(value: &str) -> bool {
    !value.is_empty() && value.len() <= 128 && value.bytes().all(|b| b.is_ascii_graphic())
}

impl Engine {
    /// Sends validated FIFO messages; returns each one's id and sequence number (the
    /// original's for a duplicate).
    pub(super) async fn send_fifo(
        &self,
        queue: &Queue,
        rows: Vec<NewMessage>,
    ) -> Result<Vec<FifoSent>, Error> {
        let scope = queue.settings.fifo.unwrap_or_default().deduplication_scope;
        let sends = rows
            .into_iter()
            .map(|message| FifoSend {
                scope: match scope {
                    DeduplicationScope::Queue => String::new(),
                    DeduplicationScope::MessageGroup => {
                        message.group_id.clone().unwrap_or_default()
                    }
                },
                message,
            })
            .collect();
        self.0.fifo.send(queue.settings.durability, sends).await
    }

    /// One FIFO claim: with an attempt id seen in the last five minutes, the same deliveries
    /// again (visibility renewed) while they are in flight; otherwise new ones, claimed alone
    /// with an attempt id (to be remembered under it) and with concurrent receives without
    /// one (`fifo_claims`).
    pub(super) async fn claim_fifo(
        &self,
        queue: &Queue,
        max: usize,
        visibility: i32,
        attempt: Option<&str>,
    ) -> Result<Vec<ReceivedMessage>, Error> {
        if let Some(attempt) = attempt
            && let Some((ids, generations)) =
                store::fifo::find_attempt(&self.0.db, queue.id, attempt).await?
        {
            let deliveries: Vec<(i64, i32)> = ids.into_iter().zip(generations).collect();
            let rows = self.renew(queue, &deliveries, visibility).await?;
            if !rows.is_empty() {
                return Ok(self.fifo_received(queue, rows));
            }
        }
        let Some(attempt) = attempt else {
            let rows = self.claim_fifo_shared(queue, max, visibility).await?;
            return Ok(self.fifo_received(queue, rows));
        };
        let rows = self
            .claim_groups(queue, &[max], visibility, Default::default())
            .await
            .map_err(Error::from)?
            .0
            .pop()
            .unwrap_or_default();
        if !rows.is_empty() {
            let deliveries: Vec<(i64, i32)> =
                rows.iter().map(|r| (r.id, r.receive_count)).collect();
            store::fifo::save_attempt(&self.0.db, queue.id, attempt, &deliveries).await?;
        }
        Ok(self.fifo_received(queue, rows))
    }

    /// Renews a receive attempt's deliveries that are still in flight.
    async fn renew(
        &self,
        queue: &Queue,
        deliveries: &[(i64, i32)],
        visibility: i32,
    ) -> Result<Vec<FifoRow>, Error> {
        let ids: Vec<i64> = deliveries.iter().map(|(id, _)| *id).collect();
        let mut tx = self.0.db.begin().await?;
        let durability = queue.settings.durability;
        let groups = store::fifo::lock_groups_of(&mut tx, &ids, durability).await?;
        let rows = store::fifo::renew(&mut tx, deliveries, visibility).await?;
        store::fifo::recompute(&mut tx, &groups).await?;
        tx.commit().await?;
        Ok(rows)
    }

    fn fifo_received(&self, queue: &Queue, rows: Vec<FifoRow>) -> Vec<ReceivedMessage> {
        rows.into_iter()
            .map(|row| ReceivedMessage {
                receipt_handle: self.0.handles.encode(Delivery {
                    queue_id: queue.id,
                    row_id: row.id,
                    generation: row.receive_count,
                }),
                message_id: row.message_id,
                attributes: super::messages::parse_attributes(row.attributes.as_deref()),
                body: row.body,
                receive_count: row.receive_count,
                sent_at: row.sent_at,
                first_received_at: row.first_received_at,
                source_queue_id: row.source_queue_id,
                fifo: Some(FifoMessage {
                    group_id: row.group_id.unwrap_or_default(),
                    dedup_id: row.dedup_id,
                    sequence_number: row.id,
                }),
            })
            .collect()
    }

    /// Deletes in-flight FIFO deliveries and releases their groups at once (group-committed
    /// with concurrent requests). Per delivery: deleted, already gone (`Ok(false)`), or
    /// `ReceiptHandleExpired`.
    pub(super) async fn delete_fifo(
        &self,
        queue: &Queue,
        deliveries: &[Delivery],
    ) -> Result<Vec<Result<bool, Error>>, Error> {
        let outcomes = self
            .0
            .fifo
            .delete(queue.settings.durability, deliveries.to_vec())
            .await?;
        let deleted = outcomes.iter().filter(|o| **o == Outcome::Done).count();
        self.0.waker.wake(queue.id, deleted);
        Ok(outcomes
            .into_iter()
            .map(|o| match o {
                Outcome::Done => Ok(true),
                Outcome::Expired => Err(Error::ReceiptHandleExpired),
                Outcome::Gone => Ok(false),
            })
            .collect())
    }

    /// Changes the visibility of in-flight FIFO deliveries (group-committed with concurrent
    /// requests); the group follows at once (a change to 0 of the whole batch makes its head
    /// receivable again).
    pub(super) async fn change_visibility_fifo(
        &self,
        queue: &Queue,
        changes: &[(Delivery, i32)],
    ) -> Result<Vec<Result<bool, Error>>, Error> {
        let outcomes = self
            .0
            .fifo
            .change_visibility(queue.settings.durability, changes.to_vec())
            .await?;
        let changed = outcomes.iter().filter(|o| **o == Outcome::Done).count();
        self.0.waker.wake(queue.id, changed);
        Ok(outcomes
            .into_iter()
            .map(|o| match o {
                Outcome::Done => Ok(true),
                Outcome::Expired => Err(Error::ReceiptHandleExpired),
                Outcome::Gone => Err(Error::MessageNotInFlight),
            })
            .collect())
    }

    /// Deletes a FIFO queue's messages, groups and deduplication ids.
    pub(super) async fn purge_fifo(&self, queue: &Queue) -> Result<u64, Error> {
        let mut tx = self.0.db.begin().await?;
        let purged = store::fifo::purge(&mut tx, queue.id).await?;
        tx.commit().await?;
        Ok(purged)
    }

    /// Stamps fair-queue messages (standard queue, with a group, no delay) so that receives
    /// interleave groups: each group's messages are spaced a second apart on its own virtual
    /// clock, in the past, so a quiet group's message sorts ahead of a busy group's backlog.
    /// Also records each group id as the message's `MessageGroupId` system attribute.
    pub(super) async fn stamp_fair(
        &self,
        queue: &Queue,
        rows: &mut [NewMessage],
    ) -> Result<(), Error> {
        let mut counts: Vec<(String, i32)> = Vec::new();
        for row in rows.iter().filter(|r| r.delay_seconds == 0) {
            let Some(group) = &row.group_id else { continue };
            match counts.iter_mut().find(|(g, _)| g == group) {
                Some((_, n)) => *n += 1,
                None => counts.push((group.clone(), 1)),
            }
        }
        if !counts.is_empty() {
            let clocks = store::fair::clocks(&self.0.db, queue.id, &counts).await?;
            let mut next: Vec<(String, i64, i64)> = clocks
                .into_iter()
                .map(|(g, end)| {
                    let n = counts.iter().find(|(c, _)| *c == g).map_or(0, |(_, n)| *n);
                    (g, end, i64::from(n))
                })
                .collect();
            for row in rows.iter_mut().filter(|r| r.delay_seconds == 0) {
                let Some(group) = &row.group_id else { continue };
                if let Some((_, end, left)) = next.iter_mut().find(|(g, _, _)| g == group) {
                    let offset = (*end - *left).min(0);
                    row.delay_seconds = i32::try_from(offset).unwrap_or(i32::MIN);
                    *left -= 1;
                }
            }
        }
        // The group id is kept as a system attribute, committed with the message.
        for row in rows.iter_mut() {
            if let Some(group) = row.group_id.take() {
                let value = super::attributes::AttributeValue {
                    data_type: "String".to_owned(),
                    string_value: Some(group),
                    binary_value: None,
                };
                row.system_attributes
                    .insert("MessageGroupId".to_owned(), value);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_and_deduplication_ids_follow_sqs_rules() {
        for ok in [
            "a",
            "order-1",
            "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
            &"x".repeat(128),
        ] {
            assert!(valid_token(ok), "{ok}");
        }
        for bad in ["", "a b", "ü", "tab\t", &"x".repeat(129)] {
            assert!(!valid_token(bad), "{bad}");
        }
    }

    #[test]
    fn content_deduplication_is_the_bodys_sha256_in_hex() {
        assert_eq!(
            content_dedup_id("same"),
            "0967115f2813a3541eaef77de9d9d5773f1c0c04314b0bbfe4ff3b3b1c55b5d5"
        );
        assert!(valid_token(&content_dedup_id("")));
    }
}
