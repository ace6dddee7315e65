//! Flow control: producers that outrun busy consumers wait for them.
//!
//! A queue absorbs bursts, but on a machine whose CPU (or database) is saturated, every send
//! accepted beyond what consumers can take is work done *instead of* consuming: unthrottled
//! producers take the cycles the consumers need, and the backlog grows faster the slower the
//! consumers get. Brokers answer this with publisher flow control (RabbitMQ's credit flow blocks
//! publishers whose queues cannot keep up). Spool does the same, per queue and per node:
//!
//! - Consumers are *present* on a queue while this node has served a receive of it within the
//!   last `idle` (a long poll counts from its start and its end).
//! - While they are present, this node counts how far its producers are *ahead*: ready messages
//!   sent (delayed ones do not count; consumers cannot take them yet) minus messages claimed,
//!   never below zero. Counting starts when consumers arrive, so a backlog built while nobody
//!   consumed (a pre-filled queue, a consumer outage) never blocks producers by itself.
//! - A send that finds producers `backlog` or more messages ahead waits for consumers' progress
//!   (each claim wakes the waiting sends), for consumers to leave, or for `max_wait`, then goes
//!   through. Nothing is refused and nothing is lost: a send is only answered later.
//!
//! So bursts of up to `backlog` messages are absorbed at full speed, and beyond that producers
//! run at the consumers' pace, which leaves consumers the machine they need. Waiting holds no
//! database connection. The count is per node: consumers on another node do not credit this
//! node's producers, so a deployment whose producers and consumers use different nodes gets no
//! flow control (and one whose nodes see both gets it per node); `max_wait` bounds what a wrong
//! estimate can cost.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{sync::Notify, time::Instant};

use crate::domain::QueueId;

/// The tunables of flow control.
#[derive(Debug, Clone)]
pub struct FlowOptions {
    /// How many ready messages producers may run ahead of present consumers before sends wait;
    /// 0 turns flow control off.
    pub backlog: u64,
    /// How long after its last receive a queue's consumers count as gone.
    pub idle: Duration,
    /// The longest a send waits before it goes through anyway.
    pub max_wait: Duration,
}

impl Default for FlowOptions {
    fn default() -> Self {
        Self {
            backlog: DEFAULT_BACKLOG,
            idle: Duration::from_secs(2),
            max_wait: Duration::from_secs(5),
        }
    }
}

/// Default of `--flow-backlog`.
pub const DEFAULT_BACKLOG: u64 = 10_000;

/// Flow-control state of every queue this node serves.
#[derive(Debug)]
pub struct FlowControl {
    options: FlowOptions,
    queues: Mutex<HashMap<QueueId, Arc<Lane>>>,
}

#[derive(Debug, Default)]
struct Lane {
    state: Mutex<LaneState>,
    /// Signalled whenever consumers claim messages.
    progress: Notify,
}

#[derive(Debug, Default)]
struct LaneState {
    /// Ready messages sent minus messages claimed on this node while consumers were present.
    ahead: u64,
    last_receive: Option<Instant>,
}

impl LaneState {
    fn consumers_present(&self, now: Instant, idle: Duration) -> bool {
        self.last_receive.is_some_and(|at| now < at + idle)
    }
}

/// What `admit` did, for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Went through at once.
    Immediate,
    /// Waited this long for consumers.
    Waited(Duration),
}

impl FlowControl {
    pub fn new(options: FlowOptions) -> Self {
        Self {
            options,
            queues: Mutex::default(),
        }
    }

    fn lane(&self, queue: QueueId) -> Arc<Lane> {
        let mut queues = self.queues.lock().expect("flow lock");
        queues.entry(queue).or_default().clone()
    }

    /// Notes a receive of `queue` that claimed `claimed` messages (0 for a receive that starts
    /// or found nothing): consumers are present, and producers are that much less ahead.
    pub fn received(&self, queue: QueueId, claimed: usize) {
        if self.options.backlog == 0 {
            return;
        }
        let lane = self.lane(queue);
        {
            let mut state = lane.state.lock().expect("flow lock");
            let now = Instant::now();
            if !state.consumers_present(now, self.options.idle) {
                // Consumers arrive: what was sent before them is not producers running ahead.
                state.ahead = 0;
            }
            state.last_receive = Some(now);
            state.ahead = state.ahead.saturating_sub(claimed as u64);
        }
        if claimed > 0 {
            lane.progress.notify_waiters();
        }
    }

    /// Waits until `ready` more ready messages may be sent to `queue` (see the module comment).
    /// Returns at once when flow control is off, nothing is ready, consumers are absent, or
    /// producers are less than `backlog` ahead.
    pub async fn admit(&self, queue: QueueId, ready: usize) -> Admission {
        if self.options.backlog == 0 || ready == 0 {
            return Admission::Immediate;
        }
        let lane = self.lane(queue);
        let start = Instant::now();
        let deadline = start + self.options.max_wait;
        loop {
            let progress = lane.progress.notified();
            tokio::pin!(progress);
            progress.as_mut().enable();
            let wake_at = {
                let mut state = lane.state.lock().expect("flow lock");
                let now = Instant::now();
                let present = state.consumers_present(now, self.options.idle);
                if !present || state.ahead < self.options.backlog || now >= deadline {
                    if present {
                        state.ahead += ready as u64;
                    }
                    return if now == start {
                        Admission::Immediate
                    } else {
                        Admission::Waited(now - start)
                    };
                }
                let gone_at = state.last_receive.map_or(now, |at| at + self.options.idle);
                gone_at.min(deadline)
            };
            tokio::select! {
                () = &mut progress => {}
                () = tokio::time::sleep_until(wake_at) => {}
            }
        }
    }

    /// Forgets a deleted or purged queue: nothing sent before is ahead any more, so waiting
    /// sends go through.
    pub fn forget(&self, queue: QueueId) {
        if let Some(lane) = self.queues.lock().expect("flow lock").remove(&queue) {
            lane.state.lock().expect("flow lock").ahead = 0;
            lane.progress.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: QueueId = 7;

    fn flow(backlog: u64) -> Arc<FlowControl> {
        Arc::new(FlowControl::new(FlowOptions {
            backlog,
            idle: Duration::from_secs(2),
            max_wait: Duration::from_secs(5),
        }))
    }

    #[tokio::test(start_paused = true)]
    async fn without_consumers_sends_never_wait() {
        let flow = flow(10);
        for _ in 0..100 {
            assert_eq!(flow.admit(Q, 10).await, Admission::Immediate);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_backlog_built_before_consumers_came_does_not_block() {
        let flow = flow(10);
        for _ in 0..100 {
            flow.admit(Q, 10).await;
        }
        flow.received(Q, 1);
        assert_eq!(flow.admit(Q, 5).await, Admission::Immediate);
    }

    #[tokio::test(start_paused = true)]
    async fn producers_ahead_wait_for_a_claim() {
        let flow = flow(10);
        flow.received(Q, 0);
        assert_eq!(flow.admit(Q, 10).await, Admission::Immediate);
        let waiting = tokio::spawn({
            let flow = flow.clone();
            async move { flow.admit(Q, 1).await }
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            !waiting.is_finished(),
            "ten ahead of present consumers: the send waits"
        );
        flow.received(Q, 3);
        let admitted = waiting.await.unwrap();
        assert_eq!(admitted, Admission::Waited(Duration::from_millis(500)));
    }

    #[tokio::test(start_paused = true)]
    async fn sends_go_when_consumers_leave() {
        let flow = flow(10);
        flow.received(Q, 0);
        flow.admit(Q, 10).await;
        let started = Instant::now();
        assert!(matches!(flow.admit(Q, 1).await, Admission::Waited(_)));
        assert_eq!(started.elapsed(), Duration::from_secs(2), "the idle time");
    }

    #[tokio::test(start_paused = true)]
    async fn sends_wait_at_most_max_wait() {
        let flow = flow(10);
        flow.received(Q, 0);
        flow.admit(Q, 10).await;
        let started = Instant::now();
        // Consumers keep polling but take nothing (their messages are all in flight).
        let polling = tokio::spawn({
            let flow = flow.clone();
            async move {
                loop {
                    flow.received(Q, 0);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        });
        flow.admit(Q, 1).await;
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        polling.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn delayed_messages_and_zero_backlog_do_not_count() {
        let off = flow(0);
        off.received(Q, 0);
        for _ in 0..10 {
            assert_eq!(off.admit(Q, 100).await, Admission::Immediate);
        }
        let on = flow(10);
        on.received(Q, 0);
        for _ in 0..10 {
            assert_eq!(on.admit(Q, 0).await, Admission::Immediate);
        }
    }
}
