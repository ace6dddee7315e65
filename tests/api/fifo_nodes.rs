//! FIFO order under concurrency: producers and consumers spread over three Spool nodes on one
//! database, checked by an order checker over the whole delivery log.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use spool::{
    api::AppState,
    auth::{Auth, AuthMode, MasterKey},
    queue::{Engine, EngineOptions},
    sqs::SqsConfig,
    store,
};
use tokio_util::sync::CancellationToken;

use crate::helpers::TestApp;

const GROUPS: usize = 24;
const PER_GROUP: usize = 20;
const NODES: usize = 3;
const CONSUMERS: usize = 6;

/// Another Spool node over the app's database; returns its base URL. It stops with `stop`.
async fn node(app: &TestApp, stop: &CancellationToken) -> String {
    let pool = store::connect(app.database_url(), 8)
        .await
        .expect("connect");
    let engine = Engine::new(pool.clone(), EngineOptions::default(), stop.clone())
        .await
        .expect("engine");
    let master = MasterKey::parse(&"5e".repeat(32)).unwrap();
    let auth = Arc::new(Auth::new(pool, master, AuthMode::Enforce).await.unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState {
        engine,
        auth,
        sqs: std::sync::Arc::new(SqsConfig::default()),
    };
    tokio::spawn(spool::serve(
        listener,
        state,
        stop.clone().cancelled_owned(),
    ));
    format!("http://{addr}")
}

/// What the consumers saw: the next index expected per group, and groups held right now.
#[derive(Default)]
struct Checker {
    next: HashMap<usize, usize>,
    held: HashMap<usize, bool>,
}

impl Checker {
    /// Checks one receive: no group already held elsewhere, each group continuing exactly
    /// where it left off. Marks the receive's groups held.
    fn take(&mut self, messages: &[(usize, usize)]) {
        let mut groups: Vec<usize> = messages.iter().map(|(g, _)| *g).collect();
        groups.dedup();
        for g in &groups {
            let held = self.held.insert(*g, true).unwrap_or(false);
            assert!(!held, "group {g} delivered to two consumers at once");
        }
        for (g, i) in messages {
            let next = self.next.entry(*g).or_default();
            assert_eq!(*i, *next, "group {g} out of order (or a duplicate)");
            *next += 1;
        }
    }

    fn release(&mut self, messages: &[(usize, usize)]) {
        for (g, _) in messages {
            self.held.insert(*g, false);
        }
    }
}

fn parse(body: &str) -> (usize, usize) {
    let (g, i) = body.split_once(':').unwrap();
    (g.parse().unwrap(), i.parse().unwrap())
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> Value {
    let r = client.post(url).json(&body).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    r.json().await.unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn groups_stay_in_order_and_exclusive_across_nodes() {
    let app = TestApp::spawn().await;
    let stop = CancellationToken::new();
    let mut urls = vec![app.url("")];
    for _ in 1..NODES {
        urls.push(node(&app, &stop).await);
    }
    app.create_queue("q.fifo", json!({"fifo": true})).await;

    let mut tasks = Vec::new();
    for g in 0..GROUPS {
        let (client, url) = (app.client.clone(), urls[g % NODES].clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..PER_GROUP {
                let message = json!({"body": format!("{g}:{i}"), "group_id": format!("g{g}"),
                                     "deduplication_id": format!("{g}-{i}")});
                let path = format!("{url}/v1/queues/q.fifo/messages");
                post(&client, path.clone(), message.clone()).await;
                if i % 5 == 0 {
                    // A retried send inside the window is dropped.
                    post(&client, path, message).await;
                }
            }
        }));
    }
    let checker = Arc::new(Mutex::new(Checker::default()));
    let delivered = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(60);
    for c in 0..CONSUMERS {
        let (client, url) = (app.client.clone(), urls[c % NODES].clone());
        let (checker, delivered) = (checker.clone(), delivered.clone());
        tasks.push(tokio::spawn(async move {
            while delivered.load(Ordering::SeqCst) < GROUPS * PER_GROUP {
                assert!(Instant::now() < deadline, "consumers timed out");
                let got = post(
                    &client,
                    format!("{url}/v1/queues/q.fifo/messages/receive"),
                    json!({"max_messages": 10, "wait_seconds": 1}),
                )
                .await;
                let messages = got["messages"].as_array().unwrap().clone();
                if messages.is_empty() {
                    continue;
                }
                let seen: Vec<(usize, usize)> = messages
                    .iter()
                    .map(|m| parse(m["body"].as_str().unwrap()))
                    .collect();
                checker.lock().unwrap().take(&seen);
                tokio::task::yield_now().await;
                checker.lock().unwrap().release(&seen);
                delivered.fetch_add(seen.len(), Ordering::SeqCst);
                let entries: Vec<Value> = messages
                    .iter()
                    .map(|m| json!({"receipt_handle": m["receipt_handle"]}))
                    .collect();
                let done = post(
                    &client,
                    format!("{url}/v1/queues/q.fifo/messages/delete"),
                    json!({"entries": entries}),
                )
                .await;
                assert_eq!(done["failed"], json!([]), "{done}");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    stop.cancel();
    let next = checker.lock().unwrap().next.clone();
    assert_eq!(next.len(), GROUPS);
    assert!(next.values().all(|n| *n == PER_GROUP), "{next:?}");
    assert_eq!(delivered.load(Ordering::SeqCst), GROUPS * PER_GROUP);
    let counts = app.counts("q.fifo").await;
    assert_eq!(counts["visible"], 0, "{counts}");
    assert_eq!(counts["in_flight"], 0, "{counts}");
}
