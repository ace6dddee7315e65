//! What every system is asked to do: the shape of one run (producers, consumers, batch size, body
//! size, timing, pacing), the message bodies that carry their send time, and the group and
//! deduplication ids of FIFO messages.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use serde::Serialize;
use tokio::time::Instant;

/// One run's load, the same for every system it is compared across.
#[derive(Debug, Clone, Serialize)]
pub struct Workload {
    /// Producer tasks (each on its own keep-alive connection).
    pub producers: usize,
    /// Consumer tasks (each on its own keep-alive connection).
    pub consumers: usize,
    /// Messages per send, per receive (at most) and per delete.
    pub batch: usize,
    /// Body size in bytes (at least the 21-byte timestamp prefix).
    pub body_bytes: usize,
    /// Time spent running before measuring starts.
    #[serde(serialize_with = "seconds")]
    pub warmup: Duration,
    /// Length of the measured window.
    #[serde(serialize_with = "seconds")]
    pub duration: Duration,
    /// Messages put in the queue before the run starts.
    pub backlog: u64,
    /// Open loop: total messages per second the producers send, on schedule, whatever the
    /// latency (latency counts from the scheduled time). `None`: each producer sends again as
    /// soon as its previous send is answered.
    pub rate: Option<f64>,
    /// Long-poll wait of consumers, in seconds.
    pub wait_seconds: u32,
    /// Closed loop: each of the `producers` tasks sends a batch, receives up to a batch and
    /// deletes what it got, in turn (a worker producing its own follow-up work); `consumers` is
    /// unused. Otherwise producers and consumers are separate tasks.
    pub cycle: bool,
    /// Length of the intervals the sent and consumed counts are also reported in.
    #[serde(serialize_with = "seconds")]
    pub interval: Duration,
    /// A FIFO queue whose messages are spread over this many message groups (Spool only);
    /// `None`: a standard queue.
    pub fifo_groups: Option<u64>,
}

impl Workload {
    /// The schedule of producer `index` when the workload is open loop.
    pub fn pacer(&self, window: Window, index: usize) -> Option<Pacer> {
        self.rate.map(|rate| {
            let per_producer = rate / self.producers as f64;
            let spread = Duration::from_secs_f64(index as f64 * self.batch as f64 / rate);
            Pacer::new(window.origin, spread, per_producer, self.batch)
        })
    }
}

pub(crate) fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// The measured window of a run: operations that complete inside it count.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// When the run (warm-up included) started; message stamps count from here.
    pub origin: Instant,
    pub start: Instant,
    pub end: Instant,
    /// Length of the reporting intervals the measured part is cut into.
    pub interval: Duration,
}

impl Window {
    /// A window starting after `workload`'s warm-up from now.
    pub fn after_warmup(workload: &Workload) -> Self {
        let origin = Instant::now();
        let start = origin + workload.warmup;
        Self {
            origin,
            start,
            end: start + workload.duration,
            interval: workload.interval.max(Duration::from_millis(100)),
        }
    }

    /// The reporting interval `t` falls in: `None` before the measured part.
    pub fn interval_of(&self, t: Instant) -> Option<usize> {
        let since = t.checked_duration_since(self.start)?;
        Some((since.as_secs_f64() / self.interval.as_secs_f64()) as usize)
    }

    /// How many reporting intervals the measured part has (a shorter last one included).
    pub fn intervals(&self) -> usize {
        let total = (self.end - self.start).as_secs_f64() / self.interval.as_secs_f64();
        (total.ceil() as usize).max(1)
    }

    /// Whether `t` falls in the measured part.
    pub fn contains(&self, t: Instant) -> bool {
        t >= self.start && t < self.end
    }

    /// Whether the run is over.
    pub fn is_over(&self) -> bool {
        Instant::now() >= self.end
    }

    /// Microseconds from the origin to `t` (the stamp written into bodies).
    pub fn stamp(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.origin).as_micros()).unwrap_or(u64::MAX)
    }
}

const STAMP_DIGITS: usize = 20;

/// A body of `size` bytes that starts with the send time (µs since the window's origin).
pub fn body(stamp: u64, size: usize) -> String {
    let mut body = format!("{stamp:0STAMP_DIGITS$}|");
    let pad = size.saturating_sub(body.len());
    body.extend(std::iter::repeat_n('x', pad));
    body
}

/// The send time written by `body`, if the text starts with one.
pub fn stamp_of(body: &str) -> Option<u64> {
    body.get(..STAMP_DIGITS)?.parse().ok()
}

/// A FIFO message's group and deduplication id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FifoTag {
    pub group_id: String,
    pub deduplication_id: String,
}

/// Every FIFO message this process sends gets the next number: its deduplication id, so none
/// is ever a duplicate, and its group, in turn over the groups, so each group receives every
/// `groups`-th message whichever producer sends it.
static FIFO_SENT: AtomicU64 = AtomicU64::new(0);

/// Tags for the next `count` FIFO messages spread over `groups` message groups.
pub fn fifo_tags(groups: u64, count: usize) -> Vec<FifoTag> {
    let first = FIFO_SENT.fetch_add(count as u64, Ordering::Relaxed);
    (first..first + count as u64)
        .map(|n| FifoTag {
            group_id: format!("g{}", n % groups.max(1)),
            deduplication_id: format!("m{n}"),
        })
        .collect()
}

/// Schedules an open-loop producer's sends: `per_second` messages in batches of `batch`,
/// starting at `offset` after `origin` so that producers interleave.
#[derive(Debug)]
pub struct Pacer {
    next: Instant,
    interval: Duration,
}

impl Pacer {
    pub fn new(origin: Instant, offset: Duration, per_second: f64, batch: usize) -> Self {
        let batches_per_second = (per_second / batch as f64).max(1e-3);
        Self {
            next: origin + offset,
            interval: Duration::from_secs_f64(1.0 / batches_per_second),
        }
    }

    /// Waits for the next scheduled send and returns its scheduled time (possibly past, when
    /// the producer fell behind: it then sends at once and the lateness shows in latency).
    pub async fn tick(&mut self) -> Instant {
        let due = self.next;
        self.next += self.interval;
        tokio::time::sleep_until(due).await;
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_carry_their_stamp_and_size() {
        let b = body(1_234_567, 100);
        assert_eq!(b.len(), 100);
        assert_eq!(stamp_of(&b), Some(1_234_567));
        assert_eq!(body(5, 3).len(), STAMP_DIGITS + 1);
        assert_eq!(stamp_of("hello"), None);
    }

    #[test]
    fn fifo_tags_take_the_groups_in_turn_and_never_repeat_an_id() {
        let tags: Vec<FifoTag> = (0..3).flat_map(|_| fifo_tags(4, 6)).collect();
        let ids: std::collections::HashSet<&str> =
            tags.iter().map(|t| t.deduplication_id.as_str()).collect();
        assert_eq!(ids.len(), tags.len());
        for pair in tags.windows(2) {
            let group = |t: &FifoTag| t.group_id[1..].parse::<u64>().unwrap();
            assert_eq!((group(&pair[0]) + 1) % 4, group(&pair[1]));
        }
    }
}
