//! SQL for FIFO sends: one statement enqueues the messages whose deduplication keys are
//! free, after locking their groups (see `fifo` for the lock order), and records the keys.

use std::collections::HashMap;

use sqlx::PgConnection;
use uuid::Uuid;

use super::fifo::WINDOW_SECONDS;
use crate::domain::{Durability, NewMessage};

/// A FIFO message to send, with the scope its deduplication id is unique in ('' for the
/// queue, the group id for message-group scope).
#[derive(Debug, Clone)]
pub struct FifoSend {
    pub message: NewMessage,
    pub scope: String,
}

/// What a FIFO send reports: the message's id and sequence number, the original's for a
/// duplicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FifoSent {
    pub message_id: Uuid,
    pub sequence_number: i64,
}

/// Sends FIFO messages (of any queues) in one statement: those whose deduplication key was
/// seen in the window (earlier, or earlier in `sends`) are not enqueued and report the
/// original. Fails with an error that `is_key_taken` recognizes when a concurrent send took
/// one of the keys after this statement's snapshot; nothing was written then, and the send
/// may simply run again (its next snapshot holds the key).
pub async fn send(
    conn: &mut PgConnection,
    sends: &[FifoSend],
    durability: Durability,
) -> sqlx::Result<Vec<FifoSent>> {
    // The first of equal keys is the candidate (a key is recorded once per statement); each
    // send reads its key's candidate's outcome.
    let mut candidates: Vec<&FifoSend> = Vec::new();
    let mut slots: HashMap<_, usize> = HashMap::new();
    for s in sends {
        slots.entry(key(s)).or_insert_with(|| {
            candidates.push(s);
            candidates.len() - 1
        });
    }
    let outcomes = run(conn, &candidates, durability).await?;
    Ok(sends
        .iter()
        .map(|s| {
            outcomes[slots[&key(s)]].clone().unwrap_or(FifoSent {
                message_id: s.message.message_id,
                sequence_number: 0,
            })
        })
        .collect())
}

/// A send's deduplication key: its queue, scope and deduplication id.
fn key(s: &FifoSend) -> (i64, &str, &str) {
    (
        s.message.queue_id,
        s.scope.as_str(),
        s.message.dedup_id.as_deref().unwrap_or_default(),
    )
}

/// Whether a send failed because a deduplication key it found free was taken by a concurrent
/// send before it could record it (the check `fifo_dedup_taken`).
pub fn is_key_taken(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.constraint())
        .is_some_and(|c| c == "fifo_dedup_taken")
}

/// The FIFO send: `$1` queues, `$2` delays, `$3` message ids, `$4` bodies, `$5` attributes
/// (JSON text), `$6` groups, `$7` deduplication ids, `$8` deduplication scopes (one element
/// per message, each group's messages in send order), `$9` the deduplication window in
/// seconds, `$10` the `synchronous_commit` setting (see `messages::setting`).
///
/// - Keys that the statement's snapshot holds (not expired) are duplicates: their
///   originals' message ids and sequence numbers come back, and nothing is written for them.
/// - For the others it upserts (and so locks) their groups in the one lock order (see
///   `fifo`), inserts the messages (a group's row ids then grow in commit order; a group
///   that was empty becomes ready when its new head is visible), and records each key with
///   its message's sequence number, keys sorted. A key taken meanwhile by a concurrent
///   send (committed after the snapshot, or waited for) fails the statement on the check
///   `fifo_dedup_taken`.
///
/// Returns one row per message: its position in the arrays (from 1), its message id and
/// sequence number (the original's for a duplicate).
pub const INSERT_SQL: &str = include_str!("sql/fifo_send/insert.sql");

/// Runs `INSERT_SQL` for the candidates; per candidate, what it reports.
async fn run(
    conn: &mut PgConnection,
    sends: &[&FifoSend],
    durability: Durability,
) -> sqlx::Result<Vec<Option<FifoSent>>> {
    if sends.is_empty() {
        return Ok(Vec::new());
    }
    let m = |f: &dyn Fn(&NewMessage) -> String| -> Vec<String> {
        sends.iter().map(|s| f(&s.message)).collect()
    };
    let queues: Vec<i64> = sends.iter().map(|s| s.message.queue_id).collect();
    let delays: Vec<i32> = sends.iter().map(|s| s.message.delay_seconds).collect();
    let ids: Vec<Uuid> = sends.iter().map(|s| s.message.message_id).collect();
    let bodies = m(&|n| n.body.clone());
    let attributes: Vec<Option<String>> = sends
        .iter()
        .map(|s| {
            (!s.message.attributes.is_empty())
                .then(|| serde_json::to_string(&s.message.attributes).expect("serializes"))
        })
        .collect();
    let groups = m(&|n| n.group_id.clone().unwrap_or_default());
    let dedups = m(&|n| n.dedup_id.clone().unwrap_or_default());
    let scopes: Vec<&str> = sends.iter().map(|s| s.scope.as_str()).collect();
    let rows = sqlx::query_file!(
        "src/store/sql/fifo_send/insert.sql",
        &queues,
        &delays,
        &ids,
        &bodies,
        &attributes as &[Option<String>],
        &groups,
        &dedups,
        &scopes as &[&str],
        WINDOW_SECONDS,
        super::messages::setting(durability),
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut outcomes = vec![None; sends.len()];
    for r in rows {
        let slot = usize::try_from(r.n - 1)
            .ok()
            .and_then(|i| outcomes.get_mut(i));
        if let Some(slot) = slot {
            *slot = Some(FifoSent {
                message_id: r.message_id,
                sequence_number: r.sequence_number,
            });
        }
    }
    Ok(outcomes)
}
