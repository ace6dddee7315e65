//! SQL for FIFO sends: deduplication keys, then the messages after their groups are locked
//! (see `fifo` for the lock order).

use sqlx::PgConnection;
use uuid::Uuid;

use super::fifo::{WINDOW_SECONDS, relax};
use crate::domain::{Durability, NewMessage, QueueId};

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

/// Sends FIFO messages (of any queues): those whose deduplication key was seen in the window
/// (earlier, or earlier in `sends`) are not enqueued and report the original. Call inside a
/// transaction.
pub async fn send(
    conn: &mut PgConnection,
    sends: &[FifoSend],
    durability: Durability,
) -> sqlx::Result<Vec<FifoSent>> {
    relax(conn, durability).await?;
    let key = |s: &FifoSend| {
        (
            s.message.queue_id,
            s.scope.clone(),
            s.message.dedup_id.clone().unwrap_or_default(),
        )
    };
    // The first of equal keys is the candidate; sorted so concurrent sends lock keys in one order.
    let mut candidates: Vec<usize> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, s) in sends.iter().enumerate() {
        if seen.insert(key(s)) {
            candidates.push(i);
        }
    }
    candidates.sort_by_key(|&i| key(&sends[i]));
    let fresh = claim_dedup_keys(conn, sends, &candidates).await?;
    // Send order within each group; groups sorted so concurrent sends lock them in one order.
    candidates.sort_unstable();
    let mut to_insert: Vec<&FifoSend> = candidates
        .iter()
        .filter(|&&i| fresh.contains(&key(&sends[i])))
        .map(|&i| &sends[i])
        .collect();
    to_insert.sort_by(|a, b| {
        (a.message.queue_id, a.message.group_id.as_deref())
            .cmp(&(b.message.queue_id, b.message.group_id.as_deref()))
    });
    let inserted = insert(conn, &to_insert).await?;
    let originals = if fresh.len() < seen.len() {
        find_dedup(conn, sends).await?
    } else {
        Vec::new()
    };
    Ok(sends
        .iter()
        .map(|s| {
            let k = key(s);
            inserted
                .iter()
                .chain(&originals)
                .find(|(kk, _)| *kk == k)
                .map(|(_, sent)| sent.clone())
                .unwrap_or(FifoSent {
                    message_id: s.message.message_id,
                    sequence_number: 0,
                })
        })
        .collect())
}

type DedupKey = (QueueId, String, String);

/// Takes deduplication keys: `$1` queues, `$2` scopes, `$3` ids, `$4` message ids, `$5` the
/// window in seconds. Returns the keys that were free (or whose window had passed).
pub const DEDUP_SQL: &str = include_str!("sql/fifo_send/dedup.sql");

/// Records the candidates' deduplication keys; returns those that were not taken (or whose
/// window had passed), i.e. the messages to enqueue.
async fn claim_dedup_keys(
    conn: &mut PgConnection,
    sends: &[FifoSend],
    candidates: &[usize],
) -> sqlx::Result<Vec<DedupKey>> {
    let queues: Vec<i64> = candidates
        .iter()
        .map(|&i| sends[i].message.queue_id)
        .collect();
    let scopes: Vec<&str> = candidates
        .iter()
        .map(|&i| sends[i].scope.as_str())
        .collect();
    let ids: Vec<&str> = candidates
        .iter()
        .map(|&i| sends[i].message.dedup_id.as_deref().unwrap_or_default())
        .collect();
    let messages: Vec<Uuid> = candidates
        .iter()
        .map(|&i| sends[i].message.message_id)
        .collect();
    let rows = sqlx::query_file!(
        "src/store/sql/fifo_send/dedup.sql",
        &queues,
        &scopes as &[&str],
        &ids as &[&str],
        &messages,
        WINDOW_SECONDS,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.queue_id, r.scope, r.dedup_id))
        .collect())
}

/// The originals of the sends' deduplication keys.
async fn find_dedup(
    conn: &mut PgConnection,
    sends: &[FifoSend],
) -> sqlx::Result<Vec<(DedupKey, FifoSent)>> {
    let queues: Vec<i64> = sends.iter().map(|s| s.message.queue_id).collect();
    let scopes: Vec<&str> = sends.iter().map(|s| s.scope.as_str()).collect();
    let ids: Vec<&str> = sends
        .iter()
        .map(|s| s.message.dedup_id.as_deref().unwrap_or_default())
        .collect();
    let rows = sqlx::query!(
        "select f.queue_id, f.scope, f.dedup_id, f.message_id, f.sequence_number \
         from fifo_dedup f join unnest($1::bigint[], $2::text[], $3::text[]) as t(q, s, d) \
              on f.queue_id = t.q and f.scope = t.s and f.dedup_id = t.d",
        &queues,
        &scopes as &[&str],
        &ids as &[&str],
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                (r.queue_id, r.scope, r.dedup_id),
                FifoSent {
                    message_id: r.message_id,
                    sequence_number: r.sequence_number,
                },
            )
        })
        .collect())
}

/// The FIFO send: `$1` queues, `$2` delays, `$3` message ids, `$4` bodies, `$5` attributes
/// (JSON text), `$6` groups, `$7` deduplication ids, `$8` deduplication scopes, in send order
/// within each group and groups sorted.
pub const INSERT_SQL: &str = include_str!("sql/fifo_send/insert.sql");

/// Inserts messages after upserting (and so locking) their groups: a group's row ids then grow
/// in commit order. A group that was empty becomes ready when its new head is visible. Also
/// records each message's sequence number with its deduplication key.
async fn insert(
    conn: &mut PgConnection,
    sends: &[&FifoSend],
) -> sqlx::Result<Vec<(DedupKey, FifoSent)>> {
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
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                (r.queue_id, r.s, r.dedup_id),
                FifoSent {
                    message_id: r.message_id,
                    sequence_number: r.id,
                },
            )
        })
        .collect())
}
