//! The simulated application of the fan-out examples, and the ledger they check themselves
//! with. The queue code is in `sqs_fanout.rs` and `rest_fanout.rs`; nothing here talks to Spool.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Mutex,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

/// Posts the producer publishes, numbered from 0.
pub const POSTS: u32 = 12;
/// Fail on their first delivery only (a timeout somewhere), then succeed.
pub const FLAKY: [u32; 2] = [2, 7];
/// Fail every time until the fix is deployed; they end in the dead-letter queue.
pub const BROKEN: [u32; 2] = [4, 9];
/// Takes longer than the visibility timeout (the REST example extends it meanwhile).
pub const SLOW: u32 = 11;
/// Deliveries of a post before it moves to the dead-letter queue.
pub const MAX_TRIES: u32 = 3;

/// The event a web app sends when a user posts.
#[derive(Debug, Serialize, Deserialize)]
pub struct PostCreated {
    pub id: u32,
    pub author: String,
}

/// One follower's copy of a post: the fan-out's output.
#[derive(Debug, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub post: u32,
    pub follower: String,
}

/// Followers of a post's author; post 5 is a celebrity's, fanned out in several batches.
pub fn followers_of(post: u32) -> Vec<String> {
    let count = if post == 5 { 25 } else { 2 + post % 4 };
    (0..count).map(|n| format!("user-{post}-{n}")).collect()
}

/// Whether handling a post on its `tries`-th delivery fails (simulated).
pub fn fails(post: u32, tries: u32, fixed: bool) -> bool {
    (FLAKY.contains(&post) && tries == 1) || (BROKEN.contains(&post) && !fixed)
}

/// Everything the workers did, checked against the visibility rules at the end.
///
/// A message may come back only after the visibility timeout of its previous delivery has
/// passed, and never after it was deleted within that timeout. Times are taken on this side: a
/// delivery requested at `t` hides the message until at least `t + visibility`.
#[derive(Debug, Default)]
pub struct Ledger(Mutex<State>);

#[derive(Debug, Default)]
struct State {
    /// Message id -> the time before which it must not be delivered again.
    deadline: HashMap<String, Instant>,
    deleted_in_time: HashSet<String>,
    /// Messages whose last delivery failed, so they come back.
    failed: HashSet<String>,
    violations: Vec<String>,
    /// Redeliveries of work slower than its timeout: allowed (at least once).
    late: usize,
    failures: usize,
    extensions: usize,
    /// Post -> the receive counts its deliveries carried.
    receives: BTreeMap<u32, Vec<u32>>,
    fanned_out: BTreeMap<u32, usize>,
    timeline_messages: usize,
    timeline_batches: usize,
    delivered: HashMap<(u32, String), usize>,
}

impl Ledger {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a delivery requested at `requested_at`; false if it breaks the rules (the caller
    /// then leaves the message alone).
    pub fn received(&self, message_id: &str, requested_at: Instant, visibility: Duration) -> bool {
        let now = Instant::now();
        let mut state = self.state();
        if state.deleted_in_time.contains(message_id) {
            state
                .violations
                .push(format!("{message_id} delivered again after its delete"));
            return false;
        }
        if state.deadline.get(message_id).is_some_and(|d| now < *d) {
            state
                .violations
                .push(format!("{message_id} delivered again while still hidden"));
            return false;
        }
        if state.deadline.contains_key(message_id) && !state.failed.remove(message_id) {
            state.late += 1;
        }
        state
            .deadline
            .insert(message_id.to_owned(), requested_at + visibility);
        true
    }

    /// Records a visibility extension requested at `requested_at` that succeeded.
    pub fn extended(&self, message_id: &str, requested_at: Instant, visibility: Duration) {
        let mut state = self.state();
        state.extensions += 1;
        let deadline = state
            .deadline
            .entry(message_id.to_owned())
            .or_insert(requested_at);
        *deadline = (*deadline).max(requested_at + visibility);
    }

    pub fn deleted(&self, message_id: &str) {
        let mut state = self.state();
        if state
            .deadline
            .get(message_id)
            .is_some_and(|d| Instant::now() < *d)
        {
            state.deleted_in_time.insert(message_id.to_owned());
        }
    }

    pub fn failure(&self, message_id: &str) {
        let mut state = self.state();
        state.failed.insert(message_id.to_owned());
        state.failures += 1;
    }

    pub fn post_received(&self, post: u32, receive_count: u32) {
        self.state()
            .receives
            .entry(post)
            .or_default()
            .push(receive_count);
    }

    pub fn receive_counts(&self, post: u32) -> Vec<u32> {
        self.state()
            .receives
            .get(&post)
            .cloned()
            .unwrap_or_default()
    }

    pub fn timeline_batch(&self, messages: usize) {
        let mut state = self.state();
        state.timeline_messages += messages;
        state.timeline_batches += 1;
    }

    pub fn fanned_out(&self, post: u32) {
        *self.state().fanned_out.entry(post).or_default() += 1;
    }

    pub fn delivered(&self, entry: TimelineEntry) {
        *self
            .state()
            .delivered
            .entry((entry.post, entry.follower))
            .or_default() += 1;
    }

    pub fn broken_rules(&self) -> bool {
        !self.state().violations.is_empty()
    }

    /// Whether every post outside `except` has been fanned out.
    pub fn all_fanned_out(&self, except: &[u32]) -> bool {
        let state = self.state();
        (0..POSTS).all(|p| except.contains(&p) || state.fanned_out.contains_key(&p))
    }

    /// Whether every follower of every post got its timeline entry.
    pub fn all_delivered(&self) -> bool {
        let state = self.state();
        expected().all(|key| state.delivered.contains_key(&key))
    }

    /// Prints the counts per stage; returns what was lost or processed twice.
    pub fn check(&self) -> Vec<String> {
        let state = self.state();
        let fanned: usize = state.fanned_out.values().sum();
        let delivered: usize = state.delivered.values().sum();
        println!(
            "fanned out: {fanned} posts -> {} timeline messages in {} batches",
            state.timeline_messages, state.timeline_batches
        );
        println!(
            "failed tries: {} (not deleted, so back after the visibility timeout)",
            state.failures
        );
        if state.extensions > 0 {
            println!("visibility extensions: {}", state.extensions);
        }
        println!("delivered: {delivered} timeline entries, each deleted");
        let mut problems = state.violations.clone();
        for post in (0..POSTS).filter(|p| !state.fanned_out.contains_key(p)) {
            problems.push(format!("post {post} was never fanned out"));
        }
        for (post, follower) in expected().filter(|k| !state.delivered.contains_key(k)) {
            problems.push(format!("({post}, {follower}) was never delivered"));
        }
        if state.late > 0 {
            // A worker was slower than the visibility timeout: at least once allows duplicates.
            println!(
                "redelivered after a slow worker's timeout (allowed): {}",
                state.late
            );
            return problems;
        }
        for (post, n) in state.fanned_out.iter().filter(|(_, n)| **n > 1) {
            problems.push(format!("post {post} fanned out {n} times"));
        }
        for ((post, follower), n) in state.delivered.iter().filter(|(_, n)| **n > 1) {
            problems.push(format!("({post}, {follower}) delivered {n} times"));
        }
        // A broken post: MAX_TRIES deliveries, the dead-letter queue, then a fresh start.
        let dead_lettered: Vec<u32> = (1..=MAX_TRIES).chain([1]).collect();
        for (post, expected) in BROKEN
            .map(|p| (p, dead_lettered.clone()))
            .into_iter()
            .chain(FLAKY.map(|p| (p, vec![1, 2])))
        {
            let got = state.receives.get(&post).cloned().unwrap_or_default();
            if got != expected {
                problems.push(format!("post {post} had receive counts {got:?}"));
            }
        }
        problems
    }
}

fn expected() -> impl Iterator<Item = (u32, String)> {
    (0..POSTS).flat_map(|p| followers_of(p).into_iter().map(move |f| (p, f)))
}

/// Waits until `done` holds, giving up after 30 s or as soon as a rule was broken.
pub async fn wait_until(
    ledger: &Ledger,
    what: &str,
    mut done: impl AsyncFnMut() -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done().await {
        if Instant::now() > deadline || ledger.broken_rules() {
            return Err(format!("gave up waiting until {what}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
