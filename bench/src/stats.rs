//! Measurement: what each task records inside the measured window (latency histograms and
//! counts), merged into one summary per run.

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::{task::JoinSet, time::Instant};

use crate::workload::Window;

/// Largest latency a histogram tracks: 60 s, in microseconds.
const MAX_MICROS: u64 = 60_000_000;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("static histogram bounds are valid")
}

/// The operations timed separately.
#[derive(Debug, Clone, Copy)]
pub enum Op {
    Send,
    Receive,
    Delete,
}

/// One task's measurements; tasks record locally and are merged at the end of a run.
#[derive(Debug)]
pub struct Recorder {
    window: Window,
    send: Histogram<u64>,
    receive: Histogram<u64>,
    delete: Histogram<u64>,
    /// From the send stamp in the body to the receive response.
    end_to_end: Histogram<u64>,
    pub sent: u64,
    pub received: u64,
    pub deleted: u64,
    pub empty_receives: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Messages sent and deleted before the measured part (the warm-up): the backlog it left.
    before_sent: u64,
    before_deleted: u64,
    /// Messages sent and deleted per reporting interval of the measured part.
    sent_by_interval: Vec<u64>,
    deleted_by_interval: Vec<u64>,
}

impl Recorder {
    pub fn new(window: Window) -> Self {
        Self {
            window,
            send: histogram(),
            receive: histogram(),
            delete: histogram(),
            end_to_end: histogram(),
            sent: 0,
            received: 0,
            deleted: 0,
            empty_receives: 0,
            errors: 0,
            first_error: None,
            before_sent: 0,
            before_deleted: 0,
            sent_by_interval: vec![0; window.intervals()],
            deleted_by_interval: vec![0; window.intervals()],
        }
    }

    /// Records an operation on `messages` messages that began at `started` and just ended,
    /// if it ended inside the window.
    pub fn op(&mut self, op: Op, started: Instant, messages: usize) {
        let now = Instant::now();
        let n = messages as u64;
        if now < self.window.start {
            match op {
                Op::Send => self.before_sent += n,
                Op::Delete => self.before_deleted += n,
                Op::Receive => {}
            }
            return;
        }
        if !self.window.contains(now) {
            return;
        }
        let micros = micros(now.saturating_duration_since(started));
        let bucket = self
            .window
            .interval_of(now)
            .unwrap_or_default()
            .min(self.sent_by_interval.len() - 1);
        match op {
            Op::Send => {
                self.send.saturating_record(micros);
                self.sent += n;
                self.sent_by_interval[bucket] += n;
            }
            Op::Receive if n == 0 => self.empty_receives += 1,
            Op::Receive => {
                self.receive.saturating_record(micros);
                self.received += n;
            }
            Op::Delete => {
                self.delete.saturating_record(micros);
                self.deleted += n;
                self.deleted_by_interval[bucket] += n;
            }
        }
    }

    /// Records messages deleted by the acknowledgement a receive carried (the native
    /// `acknowledge` field): completed lifecycles, but no request of their own (the receive
    /// was counted), so no delete latency either.
    pub fn acknowledged(&mut self, messages: usize) {
        let now = Instant::now();
        let n = messages as u64;
        if now < self.window.start {
            self.before_deleted += n;
            return;
        }
        if !self.window.contains(now) {
            return;
        }
        let bucket = self
            .window
            .interval_of(now)
            .unwrap_or_default()
            .min(self.deleted_by_interval.len() - 1);
        self.deleted += n;
        self.deleted_by_interval[bucket] += n;
    }

    /// Records how long a just-received message took since it was sent (its body's stamp).
    pub fn delivered(&mut self, stamp: Option<u64>) {
        let now = Instant::now();
        if let (true, Some(stamp)) = (self.window.contains(now), stamp) {
            let micros = self.window.stamp(now).saturating_sub(stamp);
            self.end_to_end.saturating_record(micros.max(1));
        }
    }

    /// Counts a failed operation (all of them, warm-up too) and keeps the first message.
    pub fn error(&mut self, error: &anyhow::Error) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(format!("{error:#}"));
        }
    }

    /// Adds another task's measurements to this one.
    pub fn merge(&mut self, other: &Recorder) {
        let add = |a: &mut Histogram<u64>, b: &Histogram<u64>| {
            a.add(b).expect("histograms share bounds");
        };
        add(&mut self.send, &other.send);
        add(&mut self.receive, &other.receive);
        add(&mut self.delete, &other.delete);
        add(&mut self.end_to_end, &other.end_to_end);
        self.sent += other.sent;
        self.received += other.received;
        self.deleted += other.deleted;
        self.empty_receives += other.empty_receives;
        self.errors += other.errors;
        self.before_sent += other.before_sent;
        self.before_deleted += other.before_deleted;
        let sum = |a: &mut Vec<u64>, b: &[u64]| a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        sum(&mut self.sent_by_interval, &other.sent_by_interval);
        sum(&mut self.deleted_by_interval, &other.deleted_by_interval);
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
    }

    /// The summary of everything recorded, over the window's length.
    pub fn summary(&self) -> Throughput {
        let seconds = (self.window.end - self.window.start).as_secs_f64();
        let requests =
            self.send.len() + self.receive.len() + self.empty_receives + self.delete.len();
        Throughput {
            msgs_per_s: self.deleted as f64 / seconds,
            sent_per_s: self.sent as f64 / seconds,
            sent: self.sent,
            received: self.received,
            deleted: self.deleted,
            empty_receives: self.empty_receives,
            errors: self.errors,
            first_error: self.first_error.clone(),
            send: Latency::of(&self.send),
            receive: Latency::of(&self.receive),
            delete: Latency::of(&self.delete),
            end_to_end: Latency::of(&self.end_to_end),
            requests,
            intervals: self.intervals(),
        }
    }

    /// Sent and consumed rates per reporting interval, with the backlog each one left.
    fn intervals(&self) -> Vec<Interval> {
        let mut backlog = i64::try_from(self.before_sent).unwrap_or(i64::MAX)
            - i64::try_from(self.before_deleted).unwrap_or(i64::MAX);
        let mut from = 0.0;
        let total = (self.window.end - self.window.start).as_secs_f64();
        let step = self.window.interval.as_secs_f64();
        self.sent_by_interval
            .iter()
            .zip(&self.deleted_by_interval)
            .map(|(&sent, &deleted)| {
                let to = (from + step).min(total);
                let seconds = (to - from).max(1e-9);
                backlog += i64::try_from(sent).unwrap_or(i64::MAX)
                    - i64::try_from(deleted).unwrap_or(i64::MAX);
                let interval = Interval {
                    from_s: from,
                    to_s: to,
                    sent_per_s: sent as f64 / seconds,
                    consumed_per_s: deleted as f64 / seconds,
                    backlog,
                };
                from = to;
                interval
            })
            .collect()
    }
}

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// Waits for a run's tasks and merges what they recorded.
pub async fn collect(window: Window, mut tasks: JoinSet<Recorder>) -> Recorder {
    let mut all = Recorder::new(window);
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(part) => all.merge(&part),
            Err(e) => all.error(&anyhow::anyhow!("a load task failed: {e}")),
        }
    }
    all
}

/// Records an error and pauses briefly so that a failing system is not hammered.
pub async fn failed(rec: &mut Recorder, error: &anyhow::Error) {
    rec.error(error);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
}

/// Counts and latencies of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    /// Completed lifecycles (deleted messages) per second: the headline number.
    pub msgs_per_s: f64,
    pub sent_per_s: f64,
    pub sent: u64,
    pub received: u64,
    pub deleted: u64,
    pub empty_receives: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub send: Option<Latency>,
    pub receive: Option<Latency>,
    pub delete: Option<Latency>,
    pub end_to_end: Option<Latency>,
    /// Requests completed in the window (sends, receives, empty receives, deletes): HTTP
    /// requests for Spool.
    pub requests: u64,
    /// The window cut into reporting intervals.
    pub intervals: Vec<Interval>,
}

/// One reporting interval of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Interval {
    /// Seconds since the measured part began.
    pub from_s: f64,
    pub to_s: f64,
    pub sent_per_s: f64,
    /// Messages deleted (acked) per second.
    pub consumed_per_s: f64,
    /// Messages sent but not yet deleted since the queue was created, at the interval's end
    /// (visible and in flight; counted by the load generator).
    pub backlog: i64,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Option<Self> {
        if h.is_empty() {
            return None;
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        Some(Self {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn only_operations_inside_the_window_count() {
        let origin = Instant::now();
        let window = Window {
            origin,
            start: origin,
            end: origin + Duration::from_secs(60),
            interval: Duration::from_secs(10),
        };
        let mut a = Recorder::new(window);
        a.op(Op::Send, origin, 10);
        a.op(Op::Receive, origin, 0);
        let mut late = Recorder::new(Window {
            start: origin + Duration::from_secs(30),
            ..window
        });
        late.op(Op::Delete, origin, 5);
        a.merge(&late);
        let s = a.summary();
        assert_eq!((s.sent, s.deleted, s.empty_receives), (10, 0, 1));
        assert!(s.send.is_some() && s.delete.is_none());
        assert_eq!(s.intervals.len(), 6);
        // The late task's delete happened before its window: it still reduced the backlog.
        assert_eq!(s.intervals[0].backlog, 5);
        assert_eq!(s.requests, 2);
    }

    #[test]
    fn intervals_count_rates_and_the_backlog_left_by_the_warm_up() {
        let now = Instant::now();
        let window = Window {
            origin: now - Duration::from_secs(25),
            start: now - Duration::from_secs(15),
            end: now + Duration::from_secs(10),
            interval: Duration::from_secs(10),
        };
        // The same 25-s window, seen by a task whose operations all end before it starts.
        let mut rec = Recorder::new(Window {
            start: now + Duration::from_secs(1),
            end: now + Duration::from_secs(26),
            ..window
        });
        // Before its start: the warm-up's sends and deletes.
        rec.op(Op::Send, now, 30);
        rec.op(Op::Delete, now, 10);
        let mut measured = Recorder::new(window);
        // 15 s into a window of 10-s intervals: the second interval.
        measured.op(Op::Send, now, 50);
        measured.op(Op::Delete, now, 5);
        rec.merge(&measured);
        let i = rec.summary().intervals;
        assert_eq!(i.len(), 3);
        assert_eq!((i[0].backlog, i[1].backlog, i[2].backlog), (20, 65, 65));
        assert!((i[1].sent_per_s - 5.0).abs() < 1e-9);
        assert!((i[2].to_s - i[2].from_s - 5.0).abs() < 1e-9);
    }
}
