//! The metrics Spool exports at `/metrics`, through the `metrics` facade and its Prometheus
//! exporter.
//!
//! Hot paths only touch counters and histograms: per-queue counters are registered once per
//! queue and kept as handles, so a request costs a map lookup and an atomic add. Everything
//! that is a level (queue depths, pool connections, long polls waiting) is read when Prometheus
//! scrapes, from the engine's cached queue counts (never a count of the messages table per
//! scrape beyond what `GET /v1/queues/{queue}` already does, and shared with it).
//!
//! Queue labels are bounded: at most `queue_label_limit()` queues (`SPOOL_METRICS_QUEUES`) get
//! their own series; counters of the others are summed under `queue="_other"`, and their
//! gauges are left out (`spool_queues` still counts every queue).

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicI64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    extract::{MatchedPath, Request},
    response::Response,
};
use metrics::{Counter, Label, counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;

use crate::domain::{Queue, QueueId};

/// Default of `SPOOL_METRICS_QUEUES`.
pub const DEFAULT_QUEUE_LABEL_LIMIT: usize = 100;
/// The label of queues past the limit.
const OTHER: &str = "_other";

static QUEUE_LABEL_LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_QUEUE_LABEL_LIMIT);
static LONG_POLLS_WAITING: AtomicI64 = AtomicI64::new(0);

/// Upper bounds of the latency histograms, in seconds (1 ms to 30 s: long polls wait up to 20 s).
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0,
];
/// Upper bounds of the size histograms (items per statement, messages per claim).
const SIZE_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];

/// Every metric with its meaning; the README's metrics table is checked against it.
pub const METRICS: &[(&str, &str, &str)] = &[
    (
        "spool_queues",
        "gauge",
        "Queues on the database (all accounts).",
    ),
    (
        "spool_queue_visible_messages",
        "gauge",
        "Messages ready to be received, per queue.",
    ),
    (
        "spool_queue_in_flight_messages",
        "gauge",
        "Messages received and not yet deleted or visible again, per queue.",
    ),
    (
        "spool_queue_delayed_messages",
        "gauge",
        "Messages sent with a delay that has not passed, per queue.",
    ),
    (
        "spool_queue_oldest_message_age_seconds",
        "gauge",
        "Age of the oldest message in the queue (0 when empty), per queue.",
    ),
    (
        "spool_messages_sent_total",
        "counter",
        "Messages committed by sends, per queue.",
    ),
    (
        "spool_messages_received_total",
        "counter",
        "Messages handed out by receives, per queue.",
    ),
    (
        "spool_messages_deleted_total",
        "counter",
        "Messages deleted by receipt handle, per queue.",
    ),
    (
        "spool_visibility_changes_total",
        "counter",
        "Successful visibility changes, per queue.",
    ),
    (
        "spool_messages_purged_total",
        "counter",
        "Messages removed by purges, per queue.",
    ),
    (
        "spool_messages_dead_lettered_total",
        "counter",
        "Messages moved to the queue's dead-letter queue after too many receives, per source queue.",
    ),
    (
        "spool_messages_redriven_total",
        "counter",
        "Messages moved out of dead-letter queues by redrive tasks.",
    ),
    (
        "spool_messages_expired_total",
        "counter",
        "Messages deleted after their queue's retention period.",
    ),
    (
        "spool_http_requests_total",
        "counter",
        "HTTP requests by door (native, sqs, ops, dashboard), matched route, method, SQS action and status.",
    ),
    (
        "spool_http_request_duration_seconds",
        "histogram",
        "HTTP request latency by door, matched route, method and SQS action.",
    ),
    (
        "spool_db_pool_connections",
        "gauge",
        "Database pool connections by state (in_use, idle, max), and tasks waiting for one (waiting).",
    ),
    (
        "spool_db_statement_errors_total",
        "counter",
        "Failed database statements by kind (pool_timeout, database, connection, other).",
    ),
    (
        "spool_group_commit_batch_size",
        "histogram",
        "Requests gathered into one group-commit statement, by kind (insert, delete, visibility).",
    ),
    (
        "spool_group_commit_flush_duration_seconds",
        "histogram",
        "Time of one group-commit statement, by kind.",
    ),
    (
        "spool_claims_total",
        "counter",
        "Claim statements run (each may serve several concurrent receives).",
    ),
    (
        "spool_claim_size",
        "histogram",
        "Messages taken by one claim statement.",
    ),
    (
        "spool_long_polls_waiting",
        "gauge",
        "Receives parked waiting for a message on this node.",
    ),
    (
        "spool_long_poll_wakeups_total",
        "counter",
        "Times a parked receive was woken (by a send, a due message or a poll).",
    ),
    (
        "spool_flow_control_wait_seconds",
        "histogram",
        "How long sends waited for a queue's active consumers (flow control; only sends that waited).",
    ),
    (
        "spool_auth_failures_total",
        "counter",
        "Rejected credentials by reason.",
    ),
];

/// Sets how many queues get their own label (from configuration, at start).
pub fn set_queue_label_limit(limit: usize) {
    QUEUE_LABEL_LIMIT.store(limit, Ordering::Relaxed);
}

pub fn queue_label_limit() -> usize {
    QUEUE_LABEL_LIMIT.load(Ordering::Relaxed)
}

/// The process-wide recorder (installed on first use) that `/metrics` renders.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), LATENCY_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Suffix("_size".to_owned()), SIZE_BUCKETS)
            })
            .expect("buckets are not empty")
            // Gauges are all set at scrape time; one not set for a while belongs to a queue
            // that was deleted (or fell out of the label limit) and should disappear.
            .idle_timeout(MetricKindMask::GAUGE, Some(Duration::from_secs(120)))
            .install_recorder()
            .expect("no other metrics recorder is installed");
        // Histogram samples pile up until drained; drain them even if nobody scrapes.
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".to_owned())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            })
            .expect("spawn the metrics upkeep thread");
        for (name, kind, help) in METRICS {
            match *kind {
                "counter" => metrics::describe_counter!(*name, *help),
                "gauge" => metrics::describe_gauge!(*name, *help),
                _ => metrics::describe_histogram!(*name, *help),
            }
        }
        handle
    })
}

/// Counters of one queue, registered once.
#[derive(Debug)]
pub struct QueueMeters {
    pub sent: Counter,
    pub received: Counter,
    pub deleted: Counter,
    pub visibility_changed: Counter,
    pub purged: Counter,
    pub dead_lettered: Counter,
}

impl QueueMeters {
    fn register(account: String, queue: String) -> Self {
        // A handle taken before the recorder is installed records nothing, ever (the workers
        // may register a queue before the router installs it).
        handle();
        let labels = [("account", account), ("queue", queue)];
        Self {
            sent: counter!("spool_messages_sent_total", &labels),
            received: counter!("spool_messages_received_total", &labels),
            deleted: counter!("spool_messages_deleted_total", &labels),
            visibility_changed: counter!("spool_visibility_changes_total", &labels),
            purged: counter!("spool_messages_purged_total", &labels),
            dead_lettered: counter!("spool_messages_dead_lettered_total", &labels),
        }
    }
}

/// The queues that have their own counters, at most `limit` of them.
#[derive(Default)]
struct QueueRegistry {
    /// By id, with the name the counters are labelled with (a queue id names another queue
    /// when the process serves a different database, as tests do).
    queues: HashMap<QueueId, (String, Arc<QueueMeters>)>,
    other: Option<Arc<QueueMeters>>,
}

impl QueueRegistry {
    fn meters(&mut self, queue: &Queue, limit: usize) -> Arc<QueueMeters> {
        if let Some((name, meters)) = self.queues.get(&queue.id)
            && name == queue.name.as_str()
        {
            return meters.clone();
        }
        self.queues.remove(&queue.id);
        if self.queues.len() >= limit {
            return self
                .other
                .get_or_insert_with(|| {
                    Arc::new(QueueMeters::register(OTHER.to_owned(), OTHER.to_owned()))
                })
                .clone();
        }
        let name = queue.name.to_string();
        let meters = Arc::new(QueueMeters::register(
            account_label(queue.account_id),
            name.clone(),
        ));
        self.queues.insert(queue.id, (name, meters.clone()));
        meters
    }
}

fn registry() -> &'static Mutex<QueueRegistry> {
    static REGISTRY: OnceLock<Mutex<QueueRegistry>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

/// The counters of `queue` (or of `_other` once the label limit is reached).
pub fn queue(queue: &Queue) -> Arc<QueueMeters> {
    registry()
        .lock()
        .expect("metrics registry")
        .meters(queue, queue_label_limit())
}

/// Frees a deleted queue's label slot (its counters stay exported until the process restarts).
pub fn forget_queue(id: QueueId) {
    registry()
        .lock()
        .expect("metrics registry")
        .queues
        .remove(&id);
}

fn account_label(account: i64) -> String {
    format!("{account:012}")
}

/// Counts a failed statement by kind.
pub fn statement_error(error: &sqlx::Error) {
    let kind = match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => "pool_timeout",
        sqlx::Error::Database(_) => "database",
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => "connection",
        _ => "other",
    };
    counter!("spool_db_statement_errors_total", "kind" => kind).increment(1);
}

/// Histograms of one group-commit queue.
#[derive(Debug, Clone)]
pub struct GroupCommitMeters {
    batch_size: metrics::Histogram,
    flush_seconds: metrics::Histogram,
}

impl GroupCommitMeters {
    pub fn new(kind: &'static str) -> Self {
        // The engine makes these before the router installs the recorder, and a handle taken
        // before that records nothing, ever.
        handle();
        Self {
            batch_size: histogram!("spool_group_commit_batch_size", "kind" => kind),
            flush_seconds: histogram!("spool_group_commit_flush_duration_seconds", "kind" => kind),
        }
    }

    pub fn flushed(&self, items: usize, started: Instant) {
        self.batch_size.record(items as f64);
        self.flush_seconds.record(started.elapsed().as_secs_f64());
    }
}

/// Counts one claim statement that took `rows` messages.
pub fn claimed(rows: usize) {
    counter!("spool_claims_total").increment(1);
    histogram!("spool_claim_size").record(rows as f64);
}

/// Times one send that flow control held back.
pub fn flow_waited(waited: Duration) {
    histogram!("spool_flow_control_wait_seconds").record(waited.as_secs_f64());
}

/// Counts a parked receive while it exists.
pub struct LongPoll(());

impl LongPoll {
    pub fn start() -> Self {
        LONG_POLLS_WAITING.fetch_add(1, Ordering::Relaxed);
        Self(())
    }

    /// The parked receive was woken before its deadline.
    pub fn woken(&self) {
        counter!("spool_long_poll_wakeups_total").increment(1);
    }
}

impl Drop for LongPoll {
    fn drop(&mut self) {
        LONG_POLLS_WAITING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts and times a request by door, matched route, method and status. Routes are the
/// router's patterns (`/v1/queues/{queue}`), never raw paths, so labels stay few. Started
/// before the request is served (`start`), recorded with its response (`finish`); held by the
/// request's future meanwhile, so it is small.
#[derive(Debug)]
pub struct RequestMetrics {
    started: Instant,
    route: Option<MatchedPath>,
    method: &'static str,
}

impl RequestMetrics {
    pub fn start(request: &Request) -> Self {
        Self {
            started: Instant::now(),
            route: request.extensions().get::<MatchedPath>().cloned(),
            method: method_label(request.method()),
        }
    }

    pub fn finish(&self, response: &Response) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let route = self.route.as_ref().map_or("unmatched", MatchedPath::as_str);
        let door = door(route, self.method);
        let mut labels = vec![
            Label::from_static_parts("door", door),
            Label::new("route", route.to_owned()),
            Label::from_static_parts("method", self.method),
        ];
        if door == "sqs" {
            // Every SQS action is `POST /`; the action (from a fixed list) tells them apart.
            let action = response
                .extensions()
                .get::<SqsAction>()
                .map_or("unknown", |a| a.0);
            labels.push(Label::from_static_parts("action", action));
        }
        histogram!("spool_http_request_duration_seconds", labels.clone()).record(elapsed);
        labels.push(status_label(response.status().as_u16()));
        counter!("spool_http_requests_total", labels).increment(1);
    }
}

/// The status label, without an allocation for the usual codes.
fn status_label(status: u16) -> Label {
    let common = match status {
        200 => "200",
        201 => "201",
        204 => "204",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        409 => "409",
        413 => "413",
        415 => "415",
        429 => "429",
        500 => "500",
        503 => "503",
        _ => return Label::new("status", status.to_string()),
    };
    Label::from_static_parts("status", common)
}

/// The SQS action a response answered (set by the SQS door for the request metrics).
#[derive(Debug, Clone, Copy)]
pub struct SqsAction(pub &'static str);

fn door(route: &str, method: &str) -> &'static str {
    if route.starts_with("/v1/") {
        "native"
    } else if (route == "/" && method == "GET") || route.starts_with("/ui/") {
        "dashboard"
    } else if route == "/" || route == "/{account}/{queue}" {
        "sqs"
    } else {
        "ops"
    }
}

/// Methods as static labels (anything unusual is `other`, so clients cannot add series).
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Sets the pool gauges from `db` now. `collect` does it before its own statements, so a
/// scrape never counts itself as waiting.
pub fn pool_connections(db: &crate::store::Db) {
    let idle = db.num_idle();
    let in_use = db
        .size()
        .saturating_sub(u32::try_from(idle).unwrap_or(u32::MAX));
    gauge!("spool_db_pool_connections", "state" => "in_use").set(f64::from(in_use));
    gauge!("spool_db_pool_connections", "state" => "idle").set(idle as f64);
    gauge!("spool_db_pool_connections", "state" => "max").set(f64::from(db.max_connections()));
    gauge!("spool_db_pool_connections", "state" => "waiting").set(db.waiting() as f64);
}

/// What the scrape reads from the engine: queue levels, pool connections, parked receives.
pub async fn collect(engine: &crate::queue::Engine) -> Result<(), crate::domain::Error> {
    pool_connections(engine.db());
    gauge!("spool_long_polls_waiting").set(LONG_POLLS_WAITING.load(Ordering::Relaxed) as f64);

    let (total, queues) = engine.queues_for_metrics(queue_label_limit()).await?;
    gauge!("spool_queues").set(total as f64);
    let now = chrono::Utc::now();
    for queue in queues {
        let counts = engine.counts(&queue).await?;
        let labels = [
            ("account", account_label(queue.account_id)),
            ("queue", queue.name.to_string()),
        ];
        let age = counts
            .oldest_sent_at
            .map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1000.0);
        gauge!("spool_queue_visible_messages", &labels).set(counts.visible as f64);
        gauge!("spool_queue_in_flight_messages", &labels).set(counts.in_flight as f64);
        gauge!("spool_queue_delayed_messages", &labels).set(counts.delayed as f64);
        gauge!("spool_queue_oldest_message_age_seconds", &labels).set(age);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doors_follow_the_route_patterns() {
        assert_eq!(door("/v1/queues/{queue}", "GET"), "native");
        assert_eq!(door("/", "POST"), "sqs");
        assert_eq!(door("/", "GET"), "dashboard");
        assert_eq!(door("/ui/app.js", "GET"), "dashboard");
        assert_eq!(door("/{account}/{queue}", "POST"), "sqs");
        assert_eq!(door("/metrics", "GET"), "ops");
        assert_eq!(door("unmatched", "GET"), "ops");
    }

    /// The README's metrics table lists exactly the metrics Spool exports.
    #[test]
    fn the_readme_lists_every_metric() {
        let readme = include_str!("../../README.md");
        let documented: Vec<&str> = readme
            .lines()
            .filter_map(|l| l.strip_prefix("| `spool_"))
            .filter_map(|l| l.split('`').next())
            .collect();
        let defined: Vec<&str> = METRICS
            .iter()
            .map(|(name, _, _)| name.strip_prefix("spool_").expect("spool_ prefix"))
            .collect();
        assert_eq!(
            documented, defined,
            "README.md's metrics table is out of date"
        );
    }

    fn queue(id: QueueId, name: &str) -> Queue {
        Queue {
            id,
            account_id: 0,
            name: crate::domain::QueueName::parse(name).unwrap(),
            settings: crate::domain::QueueSettings::default(),
            dead_letter_name: None,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn queues_past_the_label_limit_share_the_other_counters() {
        let mut registry = QueueRegistry::default();
        let a = registry.meters(&queue(1, "a"), 2);
        let b = registry.meters(&queue(2, "b"), 2);
        let c = registry.meters(&queue(3, "c"), 2);
        let d = registry.meters(&queue(4, "d"), 2);
        assert!(!Arc::ptr_eq(&a, &b));
        assert!(Arc::ptr_eq(&c, &d), "queues past the limit share `_other`");
        assert!(Arc::ptr_eq(&a, &registry.meters(&queue(1, "a"), 2)));
        // A queue id that now names another queue gets counters of its own name.
        assert!(!Arc::ptr_eq(&a, &registry.meters(&queue(1, "a2"), 2)));
        assert_eq!(registry.queues.len(), 2);
    }
}
