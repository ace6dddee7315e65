//! Fan-out on Spool's native REST API with `reqwest` and a bearer token.
//!
//! The same flow as `sqs_fanout.rs`, written against `/v1`: a producer publishes "post created"
//! events; post workers receive a few at a time with long polling, keep them hidden while they
//! work by extending their visibility (a heartbeat), fan each one out as one batch send to the
//! `timeline` queue and delete the finished ones in one batch. A failed post is left alone and
//! returns after its visibility timeout; after `MAX_TRIES` tries it moves to the dead-letter
//! queue, and a redrive brings it back once the bug is "fixed".
//!
//! ```sh
//! export SPOOL_TOKEN=…   # printed at the server's first start, or `spool token create`
//! SPOOL_URL=http://127.0.0.1:9324 cargo run --example rest_fanout
//! ```
//!
//! It prints counts per stage and exits non-zero if a message was lost or processed twice outside
//! the visibility rules.

mod rest_client;
// Shared with the other fan-out example, which uses parts this one does not.
#[allow(dead_code)]
mod scenario;

use std::{
    process::ExitCode,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use reqwest::Method;
use rest_client::{Batch, Error, Message, Spool};
use scenario::{BROKEN, Ledger, MAX_TRIES, POSTS, PostCreated, SLOW, TimelineEntry, wait_until};
use serde_json::{Value, json};

/// Seconds a received post stays hidden; short so that failures return quickly.
const VISIBILITY: u64 = 1;
/// While a worker holds posts it extends their visibility to this every `HEARTBEAT`.
const EXTEND_TO: u64 = 3;
const HEARTBEAT: Duration = Duration::from_millis(300);
const TIMELINE_VISIBILITY: u64 = 30;
/// Long polling; production code would wait up to 20 s.
const WAIT: u64 = 1;
const POST_WORKERS: usize = 3;
const TIMELINE_WORKERS: usize = 2;

/// What the workers share.
struct App {
    spool: Spool,
    posts: String,
    timeline: String,
    ledger: Ledger,
    /// The bug behind the broken posts is fixed (deployed before the redrive).
    fixed: AtomicBool,
    stop: AtomicBool,
}

#[tokio::main]
async fn main() -> Result<ExitCode, Error> {
    let base = std::env::var("SPOOL_URL").unwrap_or_else(|_| "http://127.0.0.1:9324".into());
    let spool = Spool::new(&base, &std::env::var("SPOOL_TOKEN")?)?;
    let (posts, timeline, dlq) = create_queues(&spool).await?;
    let app = Arc::new(App {
        spool,
        posts,
        timeline,
        ledger: Ledger::default(),
        fixed: AtomicBool::new(false),
        stop: AtomicBool::new(false),
    });

    let mut workers = Vec::new();
    for _ in 0..POST_WORKERS {
        workers.push(tokio::spawn(post_worker(app.clone())));
    }
    for _ in 0..TIMELINE_WORKERS {
        workers.push(tokio::spawn(timeline_worker(app.clone())));
    }
    let started = Instant::now();
    let mut problems = Vec::new();
    if let Err(problem) = run_stages(&app, &dlq).await {
        problems.push(problem);
    }
    app.stop.store(true, Ordering::Relaxed);
    for worker in workers {
        if let Err(e) = worker.await? {
            problems.push(format!("a worker failed: {e}"));
        }
    }
    let seconds = started.elapsed().as_secs_f64();

    problems.extend(app.ledger.check());
    // However long it took, the heartbeat kept the slow post from every other worker.
    let slow = app.ledger.receive_counts(SLOW);
    if slow != [1] {
        problems.push(format!(
            "the slow post was received more than once: {slow:?}"
        ));
    }
    for queue in [&app.posts, &app.timeline, &dlq] {
        if !app.spool.receive(queue, 10, 0, 0).await?.is_empty() {
            problems.push(format!("a message is left in {queue}"));
        }
        let _: Value = app
            .spool
            .call(Method::DELETE, &format!("/{queue}"), Value::Null)
            .await?;
    }
    for problem in &problems {
        eprintln!("FAILED: {problem}");
    }
    if !problems.is_empty() {
        return Ok(ExitCode::FAILURE);
    }
    println!("ok in {seconds:.1} s: nothing lost, nothing processed twice");
    Ok(ExitCode::SUCCESS)
}

/// Creates the dead-letter queue, `posts` (which moves a post there after `MAX_TRIES`
/// deliveries) and `timeline`; their names end in the process id, so runs do not collide.
async fn create_queues(spool: &Spool) -> Result<(String, String, String), Error> {
    let run = std::process::id();
    let (posts, timeline, dlq) = (
        format!("posts-{run}"),
        format!("timeline-{run}"),
        format!("posts-dlq-{run}"),
    );
    let dead_letter = json!({"queue": dlq, "max_receive_count": MAX_TRIES});
    for settings in [
        json!({"name": dlq}),
        json!({"name": posts, "visibility_timeout": VISIBILITY, "dead_letter": dead_letter}),
        json!({"name": timeline, "visibility_timeout": TIMELINE_VISIBILITY}),
    ] {
        let _: Value = spool.post("", settings).await?;
    }
    Ok((posts, timeline, dlq))
}

/// Produces the posts, waits for the broken ones to be dead-lettered, deploys the fix,
/// redrives them and waits until every follower has every post.
async fn run_stages(app: &App, dlq: &str) -> Result<(), String> {
    let (spool, ledger) = (&app.spool, &app.ledger);
    for id in 0..POSTS {
        // The producer: one event per new post, as a web app sends them.
        let body = serde_json::to_string(&PostCreated {
            id,
            author: "alice".into(),
        })
        .map_err(|e| e.to_string())?;
        let sent: Result<Value, _> = spool
            .post(&format!("/{}/messages", app.posts), json!({"body": body}))
            .await;
        sent.map_err(|e| e.to_string())?;
    }
    println!("produced: {POSTS} posts");

    wait_until(ledger, "the healthy posts are fanned out", async || {
        ledger.all_fanned_out(&BROKEN)
    })
    .await?;
    wait_until(ledger, "the broken posts are dead-lettered", async || {
        let queue: Result<Value, _> = spool.get(&format!("/{dlq}")).await;
        queue.is_ok_and(|q| q["counts"]["visible"] == BROKEN.len())
    })
    .await?;
    println!(
        "dead-lettered: {} posts, each after {MAX_TRIES} failed tries",
        BROKEN.len()
    );

    app.fixed.store(true, Ordering::Relaxed);
    let task: Value = spool
        .post(&format!("/{dlq}/redrive"), json!({}))
        .await
        .map_err(|e| e.to_string())?;
    let task = format!("/{dlq}/redrive/{}", task["id"].as_str().unwrap_or_default());
    wait_until(ledger, "the redrive completes", async || {
        let task: Result<Value, _> = spool.get(&task).await;
        task.is_ok_and(|t| t["status"] == "completed")
    })
    .await?;
    println!("redriven: {} posts back to the posts queue", BROKEN.len());
    wait_until(ledger, "every timeline entry is delivered", async || {
        ledger.all_delivered()
    })
    .await
}

/// Receives up to three posts, keeps them hidden while it works, fans each one out and deletes
/// the finished ones in one batch. A failed post is no longer extended, so it comes back.
async fn post_worker(app: Arc<App>) -> Result<(), Error> {
    while !app.stop.load(Ordering::Relaxed) {
        let requested_at = Instant::now();
        let mut held = Vec::new();
        for message in app.spool.receive(&app.posts, 3, VISIBILITY, WAIT).await? {
            if app.ledger.received(
                &message.message_id,
                requested_at,
                Duration::from_secs(VISIBILITY),
            ) {
                held.push(message);
            }
        }
        if held.is_empty() {
            continue;
        }
        let held = Arc::new(Mutex::new(held));
        let heartbeat = tokio::spawn(heartbeat(app.clone(), held.clone()));
        let mut finished = Vec::new();
        let work: Vec<Message> = held.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for message in work {
            let post: PostCreated = serde_json::from_str(&message.body)?;
            app.ledger.post_received(post.id, message.receive_count);
            if post.id == SLOW {
                tokio::time::sleep(Duration::from_millis(1500)).await; // e.g. rendering a preview
            }
            if fan_out(&app, &post, message.receive_count).await? {
                finished.push(message);
            } else {
                // No more extensions: the post is visible again within EXTEND_TO seconds.
                held.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .retain(|m| m.message_id != message.message_id);
                app.ledger.failure(&message.message_id);
            }
        }
        for id in app.spool.delete_batch(&app.posts, &finished).await? {
            app.ledger.deleted(id);
        }
        heartbeat.abort();
    }
    Ok(())
}

/// Extends the visibility of the held posts every `HEARTBEAT`, so that no other worker gets them
/// however long the work takes.
async fn heartbeat(app: Arc<App>, held: Arc<Mutex<Vec<Message>>>) -> Result<(), Error> {
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        let messages = held.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let requested_at = Instant::now();
        for message in app.spool.extend(&app.posts, &messages, EXTEND_TO).await? {
            app.ledger.extended(
                &message.message_id,
                requested_at,
                Duration::from_secs(EXTEND_TO),
            );
        }
    }
}

/// Writes the post into every follower's timeline with one batch send (up to 100 entries);
/// false on a (simulated) failure.
async fn fan_out(app: &App, post: &PostCreated, tries: u32) -> Result<bool, Error> {
    if scenario::fails(post.id, tries, app.fixed.load(Ordering::Relaxed)) {
        return Ok(false);
    }
    let mut entries = Vec::new();
    for (n, follower) in scenario::followers_of(post.id).into_iter().enumerate() {
        let body = serde_json::to_string(&TimelineEntry {
            post: post.id,
            follower,
        })?;
        entries.push(json!({"id": n.to_string(), "body": body}));
    }
    let path = format!("/{}/messages", app.timeline);
    let sent: Batch = app.spool.post(&path, json!({"messages": entries})).await?;
    if !sent.failed.is_empty() {
        // Retried as a whole; the timeline side must then tolerate duplicates.
        return Ok(false);
    }
    app.ledger.timeline_batch(sent.successful.len());
    app.ledger.fanned_out(post.id);
    Ok(true)
}

/// Delivers timeline entries up to 20 at a time and deletes them in one batch.
async fn timeline_worker(app: Arc<App>) -> Result<(), Error> {
    while !app.stop.load(Ordering::Relaxed) {
        let requested_at = Instant::now();
        let mut done = Vec::new();
        for message in app
            .spool
            .receive(&app.timeline, 20, TIMELINE_VISIBILITY, WAIT)
            .await?
        {
            if app.ledger.received(
                &message.message_id,
                requested_at,
                Duration::from_secs(TIMELINE_VISIBILITY),
            ) {
                app.ledger.delivered(serde_json::from_str(&message.body)?);
                done.push(message);
            }
        }
        if done.is_empty() {
            continue;
        }
        for id in app.spool.delete_batch(&app.timeline, &done).await? {
            app.ledger.deleted(id);
        }
    }
    Ok(())
}
