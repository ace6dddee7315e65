//! Message semantics: send (with validation and back pressure), receive (with long polling),
//! delete and change visibility by receipt handle, peek.

use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;

use super::{
    Engine,
    attributes::{self, Attributes},
    fifo, flow,
};
use crate::{
    domain::{
        AccountId, DelaySeconds, Delivery, Error, FifoSettings, Invalid, MaxMessages, MessageState,
        NewMessage, PeekLimit, PeekedMessage, Queue, ReceivedMessage, VisibilityTimeout,
        WaitSeconds,
    },
    store,
    telemetry::prometheus,
};

/// Most messages one native receive may return.
pub const MAX_RECEIVE_MESSAGES: i64 = MaxMessages::MAX;
/// Most entries in one native batch.
pub const MAX_BATCH_ENTRIES: usize = 100;
/// How long flow control's ready-count probe may take before the send goes on without it.
const FLOW_PROBE_BUDGET: Duration = Duration::from_millis(100);

/// One message to send.
#[derive(Debug, Clone, Default)]
pub struct SendEntry {
    pub body: String,
    pub attributes: Attributes,
    /// Overrides the queue's delay (standard queues only).
    pub delay_seconds: Option<i64>,
    /// Required on FIFO queues; on standard queues it makes the queue fair.
    pub group_id: Option<String>,
    /// FIFO queues only; without it a FIFO queue needs content-based deduplication.
    pub dedup_id: Option<String>,
    /// System attributes (SQS `AWSTraceHeader`); stored in the same transaction as the message.
    pub system_attributes: Attributes,
}

/// What a successful send reports.
#[derive(Debug, Clone)]
pub struct Sent {
    pub message_id: Uuid,
    pub md5_of_body: String,
    pub md5_of_attributes: Option<String>,
    /// FIFO queues: the message's sequence number (the original's for a duplicate).
    pub sequence_number: Option<i64>,
}

/// How to receive.
#[derive(Debug, Clone, Default)]
pub struct ReceiveOptions {
    /// One when not given.
    pub max_messages: Option<MaxMessages>,
    /// Overrides the queue's visibility timeout for these messages.
    pub visibility_timeout: Option<VisibilityTimeout>,
    /// Overrides the queue's receive wait time (long polling).
    pub wait_seconds: Option<WaitSeconds>,
    /// FIFO queues: a retry with the same id within five minutes returns the same messages.
    pub attempt_id: Option<String>,
}

impl Engine {
    /// Sends a batch of messages in one statement; entries that fail validation are reported
    /// per entry and the rest are sent. Answers only after the commit.
    pub async fn send(
        &self,
        account: AccountId,
        queue_name: &str,
        entries: Vec<SendEntry>,
    ) -> Result<Vec<Result<Sent, Error>>, Error> {
        let queue = self.get_queue(account, queue_name).await?;
        let mut room = self.room(&queue, entries.len()).await?;
        let mut results = Vec::with_capacity(entries.len());
        let mut rows = Vec::with_capacity(entries.len());
        for entry in entries {
            let checked = validate(&queue, entry).and_then(|m| {
                if room == 0 {
                    return Err(queue_full(
                        &queue,
                        queue.settings.max_depth.unwrap_or_default(),
                    ));
                }
                room -= 1;
                Ok(m)
            });
            results.push(checked.map(|m| {
                let sent = Sent {
                    message_id: m.message_id,
                    md5_of_body: attributes::md5_of_body(&m.body),
                    md5_of_attributes: attributes::md5_of_attributes(&m.attributes),
                    sequence_number: None,
                };
                rows.push(m);
                sent
            }));
        }
        if queue.settings.fifo.is_some() && !rows.is_empty() {
            let n = rows.len();
            let ready = if queue.settings.delay_seconds > 0 {
                0
            } else {
                n
            };
            self.pace(&queue, ready).await;
            let mut sent = self.send_fifo(&queue, rows).await?.into_iter();
            self.0.stats.record_sent(queue.id, n);
            prometheus::queue(&queue).sent.increment(n as u64);
            self.0.waker.wake(queue.id, n);
            self.note_delay(&queue);
            for s in results.iter_mut().flatten() {
                if let Some(f) = sent.next() {
                    s.message_id = f.message_id;
                    s.sequence_number = Some(f.sequence_number);
                }
            }
            return Ok(results);
        }
        if rows.iter().any(|m| m.group_id.is_some()) {
            self.stamp_fair(&queue, &mut rows).await?;
        }
        if !rows.is_empty() {
            let n = rows.len();
            let ready = rows.iter().filter(|m| m.delay_seconds <= 0).count();
            let first_due = rows
                .iter()
                .map(|m| m.delay_seconds)
                .filter(|d| *d > 0)
                .min();
            self.pace(&queue, ready).await;
            self.0
                .writes
                .insert(queue.settings.durability, rows)
                .await?;
            self.0.stats.record_sent(queue.id, n);
            prometheus::queue(&queue).sent.increment(n as u64);
            self.0.waker.wake(queue.id, ready);
            if let Some(delay) = first_due {
                let delay = Duration::from_secs(delay.unsigned_abs().into());
                self.0.waker.due(queue.id, Instant::now() + delay);
            }
        }
        Ok(results)
    }

    /// Flow control (`queue::flow`): waits while this node's producers are far ahead of the
    /// queue's present consumers.
    async fn pace(&self, queue: &Queue, ready: usize) {
        let flow = &self.0.flow;
        let limit = flow.probe_limit();
        // Bounded: a probe that cannot get a connection or a lock at once (an exhausted pool,
        // a locked table) must not add its wait to the send's; it lets the send through.
        // Owned: a probe may finish in the background, after the send went on.
        let queue_id = queue.id;
        let probe = || {
            let db = self.0.db.clone();
            async move {
                let ready = store::messages::ready(&db, queue_id, limit);
                let counted = tokio::time::timeout(FLOW_PROBE_BUDGET, ready).await;
                counted.ok()?.ok().map(i64::unsigned_abs)
            }
        };
        if let flow::Admission::Waited(waited) = flow.admit(queue.id, ready, probe).await {
            prometheus::flow_waited(waited);
        }
    }

    /// Arms the wake-up for a FIFO queue's delayed sends (they all take the queue's delay).
    fn note_delay(&self, queue: &Queue) {
        if queue.settings.delay_seconds > 0 {
            let delay = Duration::from_secs(queue.settings.delay_seconds.unsigned_abs().into());
            self.0.waker.due(queue.id, Instant::now() + delay);
        }
    }

    /// How many of `wanted` messages fit under the queue's max depth; 429 if none do.
    async fn room(&self, queue: &Queue, wanted: usize) -> Result<usize, Error> {
        let Some(max_depth) = queue.settings.max_depth else {
            return Ok(wanted);
        };
        let depth = self.0.stats.depth(&self.0.db, queue.id).await?;
        if depth >= max_depth {
            return Err(queue_full(queue, depth));
        }
        Ok(wanted.min(usize::try_from(max_depth - depth).unwrap_or(usize::MAX)))
    }

    /// Receives up to `max_messages`, waiting up to the wait time for the first one to arrive.
    /// Waiting holds no database connection: the poller parks until a send on this node (or
    /// another node's NOTIFY) wakes it, a delayed or in-flight message comes due, or it times out.
    pub async fn receive(
        &self,
        account: AccountId,
        queue_name: &str,
        options: ReceiveOptions,
    ) -> Result<Vec<ReceivedMessage>, Error> {
        let queue = self.get_queue(account, queue_name).await?;
        let max = options.max_messages.map_or(1, MaxMessages::get);
        let max = usize::try_from(max).expect("bounded");
        let visibility = options
            .visibility_timeout
            .map_or(queue.settings.visibility_timeout, VisibilityTimeout::get);
        if options
            .attempt_id
            .as_deref()
            .is_some_and(|a| !fifo::valid_token(a))
        {
            return Err(Invalid::Token("receive_request_attempt_id").into());
        }
        let wait = options
            .wait_seconds
            .map_or(queue.settings.receive_wait_seconds, WaitSeconds::get);
        let deadline = Instant::now() + Duration::from_secs(wait.unsigned_abs().into());
        self.0.flow.received(queue.id, 0);
        let signal = self.0.waker.signal(queue.id);
        let waiting = signal.wait();
        let mut parked: Option<prometheus::LongPoll> = None;
        // This future waits up to 20 s, and a server holds thousands: the database calls below,
        // whose futures are kilobytes, are boxed so that only the running one takes the room.
        loop {
            let woken = waiting.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let claimed = if queue.settings.fifo.is_some() {
                let attempt = options.attempt_id.as_deref();
                let claimed = Box::pin(self.claim_fifo(&queue, max, visibility, attempt)).await?;
                if claimed.is_empty() {
                    Box::pin(self.note_next_due(queue.id)).await;
                }
                claimed
            } else {
                let claimed = self.claim(&queue, max, visibility).await?;
                self.finish_claim(&queue, claimed)
            };
            self.0.flow.received(queue.id, claimed.len());
            if claimed.len() == max {
                // There may be more: pass the wake-up on instead of leaving others asleep.
                signal.wake(1);
            }
            if !claimed.is_empty() || Instant::now() >= deadline || self.0.shutdown.is_cancelled() {
                if !claimed.is_empty() {
                    let due = Duration::from_secs(visibility.unsigned_abs().into());
                    self.0.waker.due(queue.id, Instant::now() + due);
                }
                if !claimed.is_empty() {
                    prometheus::queue(&queue)
                        .received
                        .increment(claimed.len() as u64);
                }
                return Ok(claimed);
            }
            let parked = parked.get_or_insert_with(prometheus::LongPoll::start);
            tokio::select! {
                () = woken => parked.woken(),
                () = tokio::time::sleep_until(deadline) => {}
                () = self.0.shutdown.cancelled() => {}
            }
        }
    }

    fn finish_claim(
        &self,
        queue: &Queue,
        claimed: Vec<store::messages::ClaimedRow>,
    ) -> Vec<ReceivedMessage> {
        claimed
            .into_iter()
            .map(|row| ReceivedMessage {
                receipt_handle: self.0.handles.encode(Delivery {
                    queue_id: queue.id,
                    row_id: row.id,
                    generation: row.receive_count,
                }),
                message_id: row.message_id,
                attributes: parse_attributes(row.attributes.as_deref()),
                body: row.body,
                receive_count: row.receive_count,
                sent_at: row.sent_at,
                first_received_at: row.first_received_at,
                source_queue_id: row.source_queue_id,
                fifo: None,
            })
            .collect()
    }

    /// Deletes messages by receipt handle. Per entry: `Ok(true)` deleted, `Ok(false)` the handle
    /// is stale (the message was received again or is already gone) and nothing changed.
    pub async fn delete_messages(
        &self,
        account: AccountId,
        queue_name: &str,
        handles: &[String],
    ) -> Result<Vec<Result<bool, Error>>, Error> {
        let queue = self.get_queue(account, queue_name).await?;
        let decoded: Vec<Result<Delivery, Error>> =
            handles.iter().map(|h| self.decode(&queue, h)).collect();
        let valid: Vec<Delivery> = decoded.iter().flatten().copied().collect();
        if queue.settings.fifo.is_some() {
            let results = if valid.is_empty() {
                Vec::new()
            } else {
                self.delete_fifo(&queue, &valid).await?
            };
            let deleted = results.iter().filter(|r| matches!(r, Ok(true))).count();
            self.0.stats.record_deleted(queue.id, deleted);
            prometheus::queue(&queue).deleted.increment(deleted as u64);
            let mut results = results.into_iter();
            return Ok(decoded
                .into_iter()
                .map(|d| d.and_then(|_| results.next().unwrap_or(Ok(false))))
                .collect());
        }
        let mut deleted = if valid.is_empty() {
            Vec::new()
        } else {
            self.0
                .writes
                .delete(queue.settings.durability, valid)
                .await?
        }
        .into_iter();
        let n = deleted.clone().filter(|d| *d).count();
        self.0.stats.record_deleted(queue.id, n);
        prometheus::queue(&queue).deleted.increment(n as u64);
        Ok(decoded
            .into_iter()
            .map(|d| d.map(|_| deleted.next().unwrap_or(false)))
            .collect())
    }

    /// Changes the visibility timeout of in-flight messages by receipt handle. A stale handle
    /// or a message no longer in flight fails that entry with `MessageNotInFlight`.
    pub async fn change_visibility(
        &self,
        account: AccountId,
        queue_name: &str,
        changes: &[(String, i64)],
    ) -> Result<Vec<Result<(), Error>>, Error> {
        let queue = self.get_queue(account, queue_name).await?;
        let decoded: Vec<Result<(Delivery, i32), Error>> = changes
            .iter()
            .map(|(handle, timeout)| {
                let timeout = VisibilityTimeout::new(*timeout).map_err(Invalid::from)?;
                Ok((self.decode(&queue, handle)?, timeout.get()))
            })
            .collect();
        let valid: Vec<(Delivery, i32)> = decoded.iter().flatten().copied().collect();
        if queue.settings.fifo.is_some() {
            let mut results = if valid.is_empty() {
                Vec::new()
            } else {
                self.change_visibility_fifo(&queue, &valid).await?
            }
            .into_iter();
            return Ok(decoded
                .into_iter()
                .map(|d| d.and_then(|_| results.next().unwrap_or(Ok(false)).map(|_| ())))
                .collect());
        }
        let changed = if valid.is_empty() {
            Vec::new()
        } else {
            self.0
                .writes
                .change_visibility(queue.settings.durability, valid.clone())
                .await?
        };
        let released = valid
            .iter()
            .zip(&changed)
            .filter(|((_, t), done)| *t == 0 && **done)
            .count();
        self.0.waker.wake(queue.id, released);
        prometheus::queue(&queue)
            .visibility_changed
            .increment(changed.iter().filter(|c| **c).count() as u64);
        if let Some(first) = valid
            .iter()
            .zip(&changed)
            .filter(|((_, t), done)| *t > 0 && **done)
            .map(|((_, t), _)| *t)
            .min()
        {
            let due = Duration::from_secs(first.unsigned_abs().into());
            self.0.waker.due(queue.id, Instant::now() + due);
        }
        let mut changed = changed.into_iter();
        Ok(decoded
            .into_iter()
            .map(|d| {
                d?;
                if changed.next().unwrap_or(false) {
                    Ok(())
                } else {
                    Err(Error::MessageNotInFlight)
                }
            })
            .collect())
    }

    /// Up to `limit` messages, oldest first, without receiving them.
    pub async fn peek(
        &self,
        account: AccountId,
        queue_name: &str,
        limit: PeekLimit,
    ) -> Result<Vec<PeekedMessage>, Error> {
        let queue = self.get_queue(account, queue_name).await?;
        let rows = store::messages::peek(&self.0.db, queue.id, limit.get().into()).await?;
        Ok(rows
            .into_iter()
            .map(|row| PeekedMessage {
                state: match (row.visible_at <= row.now, row.receive_count) {
                    (true, _) => MessageState::Visible,
                    (false, 0) => MessageState::Delayed,
                    (false, _) => MessageState::InFlight,
                },
                message_id: row.message_id,
                attributes: parse_attributes(row.attributes.as_deref()),
                body: row.body,
                receive_count: row.receive_count,
                sent_at: row.sent_at,
                first_received_at: row.first_received_at,
                visible_at: row.visible_at,
            })
            .collect())
    }

    /// Verifies a receipt handle and that it belongs to `queue`.
    fn decode(&self, queue: &Queue, handle: &str) -> Result<Delivery, Error> {
        match self.0.handles.decode(handle) {
            Some(d) if d.queue_id == queue.id => Ok(d),
            _ => Err(Error::InvalidReceiptHandle),
        }
    }
}

/// Checks one entry against the queue and turns it into a row to insert.
fn validate(queue: &Queue, mut entry: SendEntry) -> Result<NewMessage, Error> {
    check_fifo_fields(queue, &mut entry)?;
    attributes::validate_body(&entry.body).map_err(Invalid::from)?;
    attributes::validate_attributes(&entry.attributes).map_err(Invalid::from)?;
    let size = attributes::message_size(&entry.body, &entry.attributes);
    let max = queue.settings.max_message_bytes;
    if size > usize::try_from(max).expect("positive") {
        return Err(Error::MessageTooLarge {
            queue: queue.name.to_string(),
            size,
            max,
        });
    }
    let delay = match entry.delay_seconds {
        Some(d) => DelaySeconds::new(d).map_err(Invalid::from)?.get(),
        None => queue.settings.delay_seconds,
    };
    Ok(NewMessage {
        queue_id: queue.id,
        message_id: Uuid::new_v4(),
        body: entry.body,
        attributes: entry.attributes,
        delay_seconds: delay,
        group_id: entry.group_id,
        dedup_id: entry.dedup_id,
        system_attributes: entry.system_attributes,
    })
}

/// Fills in a content-based deduplication id after the rules of the queue's type
/// ([`fifo_rules`]).
fn check_fifo_fields(queue: &Queue, entry: &mut SendEntry) -> Result<(), Error> {
    fifo_rules(
        queue.settings.fifo,
        entry.group_id.as_deref(),
        entry.dedup_id.as_deref(),
        entry.delay_seconds.is_some(),
    )?;
    if queue.settings.fifo.is_some() && entry.dedup_id.is_none() {
        entry.dedup_id = Some(fifo::content_dedup_id(&entry.body));
    }
    Ok(())
}

/// The group and deduplication rules of a message to a queue of type `fifo` (`None` for a
/// standard queue), in the order SQS checks them. Both doors apply them through this one
/// function: the engine on every send, the SQS door first, to word failures as SQS does.
pub fn fifo_rules(
    fifo: Option<FifoSettings>,
    group_id: Option<&str>,
    dedup_id: Option<&str>,
    delayed: bool,
) -> Result<(), Invalid> {
    if group_id.is_some_and(|g| !fifo::valid_token(g)) {
        return Err(Invalid::Token("group_id"));
    }
    let Some(settings) = fifo else {
        return match dedup_id {
            Some(_) => Err(Invalid::DeduplicationIdOnStandardQueue),
            None => Ok(()),
        };
    };
    if group_id.is_none() {
        return Err(Invalid::GroupIdRequired);
    }
    if delayed {
        return Err(Invalid::DelayOnFifoMessage);
    }
    match dedup_id {
        Some(d) if !fifo::valid_token(d) => Err(Invalid::Token("deduplication_id")),
        None if !settings.content_based_deduplication => Err(Invalid::DeduplicationIdRequired),
        _ => Ok(()),
    }
}

fn queue_full(queue: &Queue, depth: i64) -> Error {
    Error::QueueFull {
        queue: queue.name.to_string(),
        depth,
        max_depth: queue.settings.max_depth.unwrap_or_default(),
    }
}

/// Attributes as stored (always written by `store::messages::insert`, so they parse).
pub(super) fn parse_attributes(stored: Option<&str>) -> Attributes {
    stored
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default()
}
