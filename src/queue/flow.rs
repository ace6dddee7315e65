//! Flow control: producers that outrun busy consumers wait for them.
//!
//! A queue absorbs bursts, but on a machine whose CPU (or database) is saturated, every send
//! accepted beyond what consumers can take is work done *instead of* consuming: unthrottled
//! producers take the cycles the consumers need, and the backlog grows faster the slower the
//! consumers get. Brokers answer this with publisher flow control (RabbitMQ's credit flow blocks
//! publishers whose queues cannot keep up). Spool does the same, per queue:
//!
//! - Consumers are *active* on a queue while this node has served a receive of it within the
//!   last `idle` (a long poll counts from its start and its end). Without active consumers
//!   nothing is paced, and nothing is read: a queue filled while nobody consumes fills at full
//!   speed.
//! - While they are active, a send first looks at how many messages of the queue are *ready*
//!   (visible now; delayed and in-flight ones do not count). That number comes from the
//!   database, so consumers on every node count, through a probe that reads at most
//!   `backlog + 1` index entries, at most once per `probe_every` per queue on this node
//!   (concurrent sends share it); between probes this node adds its own sends and subtracts its
//!   own claims. A send waits for the probe only when it must (no count yet, or the count says
//!   the backlog is reached); while the count is below the backlog, the send goes on and the
//!   probe refreshes the count in the background, so sends at an unhurried pace never carry a
//!   probe's connection wait and round trip in their latency.
//! - A send that finds `backlog` or more messages ready waits for consumers' progress (each
//!   claim on this node wakes the waiting sends; claims elsewhere show at the next probe), for
//!   the consumers to leave, or for `max_wait`, then goes through. Nothing is refused and
//!   nothing is lost: a send is only answered later. A delayed send never waits.
//!
//! So a burst fills the queue at full speed up to `backlog` ready messages, and beyond that
//! producers run at the consumers' pace, which leaves consumers the machine they need. Waiting
//! holds no database connection. A probe that fails lets the send through (flow control must
//! never turn a database hiccup into stalled producers); the send itself then meets the error.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{sync::Notify, time::Instant};

use crate::domain::QueueId;

/// The tunables of flow control.
#[derive(Debug, Clone)]
pub struct FlowOptions {
    /// How many ready messages a queue may hold while consumers are active before sends wait
    /// for them; 0 turns flow control off.
    pub backlog: u64,
    /// How long after its last receive a queue's consumers count as gone.
    pub idle: Duration,
    /// The longest a send waits before it goes through anyway.
    pub max_wait: Duration,
    /// How old the probed ready count may be.
    pub probe_every: Duration,
}

impl Default for FlowOptions {
    fn default() -> Self {
        Self {
            backlog: DEFAULT_BACKLOG,
            idle: Duration::from_secs(2),
            max_wait: Duration::from_secs(5),
            probe_every: Duration::from_millis(100),
        }
    }
}

/// Default of `--flow-backlog`.
pub const DEFAULT_BACKLOG: u64 = 1_000;

/// Flow-control state of every queue this node serves.
#[derive(Debug)]
pub struct FlowControl {
    options: FlowOptions,
    queues: Mutex<HashMap<QueueId, Arc<Lane>>>,
}

#[derive(Debug, Default)]
struct Lane {
    state: Mutex<LaneState>,
    /// Signalled when consumers claim messages and when a probe ends.
    progress: Notify,
}

#[derive(Debug, Default)]
struct LaneState {
    /// Ready messages as last probed, plus this node's sends and minus its claims since.
    ready: u64,
    probed_at: Option<Instant>,
    probing: bool,
    /// Ready messages this node admitted while the running probe counted: its count may have
    /// missed them (not yet committed), so they are added to it.
    admitted_while_probing: u64,
    last_receive: Option<Instant>,
}

/// What `admit` did, for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Went through at once.
    Immediate,
    /// Waited this long for consumers.
    Waited(Duration),
}

enum Step {
    Admit,
    Probe,
    /// Admit, and refresh the count without making this send wait for it.
    ProbeBehind,
    Wait(Instant),
}

/// Clears `probing` however the probe ends (a send whose client went away drops its future).
struct Probing(Arc<Lane>);

impl Probing {
    /// Records a probe's count (a failed probe lets sends through until the next one).
    fn done(self, counted: Option<u64>) {
        let mut state = self.0.state.lock().expect("flow lock");
        state.ready = counted.map_or(0, |c| c + state.admitted_while_probing);
        state.probed_at = Some(Instant::now());
    }
}

impl Drop for Probing {
    fn drop(&mut self) {
        self.0.state.lock().expect("flow lock").probing = false;
        self.0.progress.notify_waiters();
    }
}

impl FlowControl {
    pub fn new(options: FlowOptions) -> Self {
        Self {
            options,
            queues: Mutex::default(),
        }
    }

    /// The count a probe needs: enough to tell whether `backlog` is reached.
    pub fn probe_limit(&self) -> i64 {
        i64::try_from(self.options.backlog.saturating_add(1)).unwrap_or(i64::MAX)
    }

    fn lane(&self, queue: QueueId) -> Arc<Lane> {
        let mut queues = self.queues.lock().expect("flow lock");
        queues.entry(queue).or_default().clone()
    }

    /// Notes a receive of `queue` that claimed `claimed` messages (0 for a receive that starts
    /// or found nothing): consumers are active, and that many fewer messages are ready.
    pub fn received(&self, queue: QueueId, claimed: usize) {
        if self.options.backlog == 0 {
            return;
        }
        let lane = self.lane(queue);
        {
            let mut state = lane.state.lock().expect("flow lock");
            state.last_receive = Some(Instant::now());
            state.ready = state.ready.saturating_sub(claimed as u64);
        }
        if claimed > 0 {
            lane.progress.notify_waiters();
        }
    }

    /// Waits until `ready` more ready messages may be sent to `queue` (see the module comment).
    /// `probe` counts the queue's ready messages up to [`Self::probe_limit`] (`None` if it
    /// could not). Returns at once when flow control is off, nothing is ready, consumers are
    /// not active, or fewer than `backlog` messages are ready.
    pub async fn admit<P, F>(&self, queue: QueueId, ready: usize, probe: P) -> Admission
    where
        P: Fn() -> F,
        F: Future<Output = Option<u64>> + Send + 'static,
    {
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
            let step = {
                let mut state = lane.state.lock().expect("flow lock");
                let now = Instant::now();
                let gone_at = state.last_receive.map(|at| at + self.options.idle);
                let next_probe = state.probed_at.map(|at| at + self.options.probe_every);
                if gone_at.is_none_or(|gone| now >= gone) || now >= deadline {
                    Step::Admit
                } else if next_probe.is_none_or(|due| now >= due) && !state.probing {
                    state.probing = true;
                    state.admitted_while_probing = 0;
                    if next_probe.is_some() && state.ready < self.options.backlog {
                        state.ready += ready as u64;
                        state.admitted_while_probing = ready as u64;
                        Step::ProbeBehind
                    } else {
                        Step::Probe
                    }
                } else if state.ready < self.options.backlog {
                    state.ready += ready as u64;
                    if state.probing {
                        state.admitted_while_probing += ready as u64;
                    }
                    Step::Admit
                } else {
                    let retry = next_probe.unwrap_or(now) + self.options.probe_every;
                    Step::Wait(gone_at.unwrap_or(now).min(deadline).min(retry))
                }
            };
            let admitted = || {
                let now = Instant::now();
                if now == start {
                    Admission::Immediate
                } else {
                    Admission::Waited(now - start)
                }
            };
            match step {
                Step::Admit => return admitted(),
                Step::Probe => {
                    let guard = Probing(lane.clone());
                    guard.done(probe().await);
                }
                Step::ProbeBehind => {
                    let guard = Probing(lane.clone());
                    let counting = probe();
                    tokio::spawn(async move { guard.done(counting.await) });
                    return admitted();
                }
                Step::Wait(until) => {
                    tokio::select! {
                        () = &mut progress => {}
                        () = tokio::time::sleep_until(until) => {}
                    }
                }
            }
        }
    }

    /// Forgets a deleted or purged queue; sends waiting on it go through.
    pub fn forget(&self, queue: QueueId) {
        if let Some(lane) = self.queues.lock().expect("flow lock").remove(&queue) {
            lane.state.lock().expect("flow lock").ready = 0;
            lane.progress.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    const Q: QueueId = 7;

    /// Flow control with a backlog of 10 over a simulated queue: `ready` is what the database
    /// would count; `probes` how often it was asked.
    struct Sim {
        flow: FlowControl,
        ready: AtomicU64,
        probes: AtomicU64,
    }

    impl Sim {
        fn new(backlog: u64) -> Arc<Self> {
            Arc::new(Self {
                flow: FlowControl::new(FlowOptions {
                    backlog,
                    ..FlowOptions::default()
                }),
                ready: AtomicU64::new(0),
                probes: AtomicU64::new(0),
            })
        }

        /// A send of `n` ready messages: waits as flow control says, then lands in the queue.
        async fn send(self: &Arc<Self>, n: usize) -> Admission {
            let admitted = self
                .flow
                .admit(Q, n, || {
                    let sim = self.clone();
                    async move {
                        sim.probes.fetch_add(1, Ordering::SeqCst);
                        let limit = sim.flow.probe_limit().unsigned_abs();
                        Some(sim.ready.load(Ordering::SeqCst).min(limit))
                    }
                })
                .await;
            self.ready.fetch_add(n as u64, Ordering::SeqCst);
            admitted
        }

        /// A receive on this node that claims up to `n`.
        fn claim(&self, n: u64) {
            let taken = n.min(self.ready.load(Ordering::SeqCst));
            self.ready.fetch_sub(taken, Ordering::SeqCst);
            self.flow.received(Q, usize::try_from(taken).unwrap());
        }

        /// Consumers on another node take `n`: only the database knows.
        fn claim_elsewhere(&self, n: u64) {
            self.ready.fetch_sub(n, Ordering::SeqCst);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn without_consumers_sends_never_wait_nor_probe() {
        let sim = Sim::new(10);
        for _ in 0..100 {
            assert_eq!(sim.send(10).await, Admission::Immediate);
        }
        assert_eq!(sim.probes.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn with_active_consumers_a_full_queue_makes_sends_wait_for_a_claim() {
        let sim = Sim::new(10);
        sim.claim(0);
        assert_eq!(sim.send(9).await, Admission::Immediate);
        assert_eq!(sim.send(5).await, Admission::Immediate, "9 < 10 ready");
        let waiting = tokio::spawn({
            let sim = sim.clone();
            async move { sim.send(1).await }
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!waiting.is_finished(), "14 ready: the send waits");
        sim.claim(5);
        assert_eq!(
            waiting.await.unwrap(),
            Admission::Waited(Duration::from_millis(500))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_backlog_from_before_the_consumers_counts_too() {
        let sim = Sim::new(10);
        sim.send(50).await;
        sim.claim(1);
        let started = Instant::now();
        let admitted = sim.send(1).await;
        assert!(matches!(admitted, Admission::Waited(_)), "49 ready");
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(2),
            "until the consumers left"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn claims_on_other_nodes_show_at_the_next_probe() {
        let sim = Sim::new(10);
        sim.claim(0);
        sim.send(20).await;
        let waiting = tokio::spawn({
            let sim = sim.clone();
            async move { sim.send(1).await }
        });
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(!waiting.is_finished());
        sim.claim(0); // still active here, taking nothing
        sim.claim_elsewhere(15);
        let Admission::Waited(waited) = waiting.await.unwrap() else {
            panic!("it had to wait");
        };
        assert!(waited <= Duration::from_millis(550), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn sends_wait_at_most_max_wait() {
        let sim = Sim::new(10);
        sim.claim(0);
        sim.send(10).await;
        // Consumers keep polling but take nothing (everything is in flight elsewhere).
        let polling = tokio::spawn({
            let sim = sim.clone();
            async move {
                loop {
                    sim.flow.received(Q, 0);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        });
        let started = Instant::now();
        sim.send(1).await;
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        polling.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn probes_are_shared_and_rate_limited() {
        let sim = Sim::new(1_000);
        sim.claim(0);
        let sends: Vec<_> = (0..50)
            .map(|_| {
                let sim = sim.clone();
                tokio::spawn(async move { sim.send(1).await })
            })
            .collect();
        for send in sends {
            assert_eq!(send.await.unwrap(), Admission::Immediate);
        }
        assert_eq!(sim.probes.load(Ordering::SeqCst), 1);
        // The count (50) is below the backlog: the next due probe runs behind a send that
        // goes on at once.
        tokio::time::sleep(Duration::from_millis(100)).await;
        sim.claim(0);
        assert_eq!(sim.send(1).await, Admission::Immediate);
        tokio::task::yield_now().await;
        assert_eq!(sim.probes.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_behind_a_send_still_finds_a_backlog_made_elsewhere() {
        let sim = Sim::new(10);
        sim.claim(0);
        assert_eq!(
            sim.send(1).await,
            Admission::Immediate,
            "first probe: 0 ready"
        );
        // Another node's producers fill the queue; this node's count still says 1.
        sim.ready.fetch_add(30, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        sim.claim(0);
        // A slow probe (50 ms): below the backlog by this node's count, the send does not
        // wait for it.
        let slow = || async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Some(32)
        };
        assert_eq!(sim.flow.admit(Q, 1, slow).await, Admission::Immediate);
        sim.ready.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(60)).await;
        let sent = tokio::spawn({
            let sim = sim.clone();
            async move { sim.send(1).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!sent.is_finished(), "the probe counted 32 ready");
        sim.claim(25);
        assert!(matches!(sent.await.unwrap(), Admission::Waited(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandoned_probe_does_not_wedge_the_queue() {
        let flow = Arc::new(FlowControl::new(FlowOptions {
            backlog: 10,
            ..FlowOptions::default()
        }));
        flow.received(Q, 0);
        let stuck = tokio::spawn({
            let flow = flow.clone();
            async move { flow.admit(Q, 1, std::future::pending).await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        stuck.abort();
        let _ = stuck.await;
        let admitted = flow.admit(Q, 1, || async { Some(0) }).await;
        assert_eq!(admitted, Admission::Immediate);
    }

    #[tokio::test(start_paused = true)]
    async fn off_failed_probes_and_delayed_sends_never_wait() {
        let off = Sim::new(0);
        off.claim(0);
        off.send(100).await;
        assert_eq!(off.send(100).await, Admission::Immediate);
        let on = Sim::new(10);
        on.claim(0);
        on.send(100).await;
        assert_eq!(
            on.flow.admit(Q, 0, || async { Some(100) }).await,
            Admission::Immediate
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            on.flow.admit(Q, 1, || async { None }).await,
            Admission::Immediate
        );
    }
}
