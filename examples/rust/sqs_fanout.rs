//! Fan-out with `aws-sdk-sqs` against Spool's SQS door.
//!
//! A producer publishes "post created" events to a `posts` queue. A pool of workers receives them
//! with long polling and fans each one out as batches of per-follower messages to a `timeline`
//! queue, which a second pool delivers and deletes in batches. A worker that fails does not
//! delete: the post returns after the visibility timeout. A post that fails `MAX_TRIES` times
//! moves to the dead-letter queue; once the bug is "fixed", a redrive moves it back.
//!
//! ```sh
//! export AWS_ACCESS_KEY_ID=SPL… AWS_SECRET_ACCESS_KEY=…   # a Spool token's key pair
//! SPOOL_URL=http://127.0.0.1:9324 cargo run --example sqs_fanout
//! ```
//!
//! Only the endpoint and credentials differ from a program for Amazon SQS. It prints counts per
//! stage and exits non-zero if a message was lost or processed twice outside the visibility rules.

// Shared with the other fan-out example, which uses parts this one does not.
#[allow(dead_code)]
mod scenario;

use std::{
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use aws_sdk_sqs::{
    Client, Config,
    config::{Credentials, Region, StalledStreamProtectionConfig},
    error::DisplayErrorContext,
    types::{
        DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
        SendMessageBatchRequestEntry,
    },
};
use scenario::{BROKEN, Ledger, MAX_TRIES, POSTS, PostCreated, TimelineEntry, wait_until};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Seconds a received post stays hidden; short so that failures return quickly.
const VISIBILITY: i32 = 1;
const TIMELINE_VISIBILITY: i32 = 30;
/// Long polling; production code would wait up to 20 s.
const WAIT: i32 = 1;
const POST_WORKERS: usize = 3;
const TIMELINE_WORKERS: usize = 2;

/// What the workers share.
struct App {
    sqs: Client,
    posts: String,
    timeline: String,
    ledger: Ledger,
    /// The bug behind the broken posts is fixed (deployed before the redrive).
    fixed: AtomicBool,
    stop: AtomicBool,
}

#[tokio::main]
async fn main() -> Result<ExitCode, Error> {
    let endpoint = std::env::var("SPOOL_URL").unwrap_or_else(|_| "http://127.0.0.1:9324".into());
    let sqs = client(&endpoint)?;
    let queues = create_queues(&sqs).await?;
    let app = Arc::new(App {
        sqs,
        posts: queues.posts,
        timeline: queues.timeline,
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
    if let Err(problem) = run_stages(&app, &queues.dlq, &queues.dlq_arn).await {
        problems.push(problem);
    }
    app.stop.store(true, Ordering::Relaxed);
    for worker in workers {
        if let Err(e) = worker.await? {
            problems.push(format!("a worker failed: {}", DisplayErrorContext(&*e)));
        }
    }
    let seconds = started.elapsed().as_secs_f64();

    problems.extend(app.ledger.check());
    for url in [&app.posts, &app.timeline, &queues.dlq] {
        let left = app.sqs.receive_message().queue_url(url).send().await?;
        if !left.messages().is_empty() {
            problems.push(format!("a message is left in {url}"));
        }
        app.sqs.delete_queue().queue_url(url).send().await?;
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

/// A client for Spool: the usual SQS client with its endpoint and a token's key pair.
fn client(endpoint: &str) -> Result<Client, Error> {
    let config = Config::builder()
        .behavior_version_latest()
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            std::env::var("AWS_ACCESS_KEY_ID")?,
            std::env::var("AWS_SECRET_ACCESS_KEY")?,
            None,
            None,
            "spool-token",
        ))
        // A long poll legitimately sends nothing for up to 20 s.
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .build();
    Ok(Client::from_conf(config))
}

/// The queues of one run; their names end in the process id, so runs do not collide.
struct Queues {
    posts: String,
    timeline: String,
    dlq: String,
    dlq_arn: String,
}

/// Creates the dead-letter queue, `posts` (which moves a post there after `MAX_TRIES`
/// deliveries) and `timeline`.
async fn create_queues(sqs: &Client) -> Result<Queues, Error> {
    let run = std::process::id();
    let dlq = create_queue(sqs, &format!("posts-dlq-{run}"), []).await?;
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await?;
    let dlq_arn = attributes
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .ok_or("no queue ARN")?
        .clone();
    let redrive_policy =
        format!(r#"{{"deadLetterTargetArn": "{dlq_arn}", "maxReceiveCount": "{MAX_TRIES}"}}"#);
    let posts_attributes = [
        (
            QueueAttributeName::VisibilityTimeout,
            VISIBILITY.to_string(),
        ),
        (QueueAttributeName::RedrivePolicy, redrive_policy),
    ];
    let timeline_attributes = [(
        QueueAttributeName::VisibilityTimeout,
        TIMELINE_VISIBILITY.to_string(),
    )];
    Ok(Queues {
        posts: create_queue(sqs, &format!("posts-{run}"), posts_attributes).await?,
        timeline: create_queue(sqs, &format!("timeline-{run}"), timeline_attributes).await?,
        dlq,
        dlq_arn,
    })
}

/// Creates a queue; returns its URL.
async fn create_queue<const N: usize>(
    sqs: &Client,
    name: &str,
    attributes: [(QueueAttributeName, String); N],
) -> Result<String, Error> {
    let created = sqs
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes.into_iter().collect()))
        .send()
        .await?;
    Ok(created.queue_url.ok_or("no queue URL")?)
}

/// Produces the posts, waits for the broken ones to be dead-lettered, deploys the fix,
/// redrives them and waits until every follower has every post.
async fn run_stages(app: &App, dlq: &str, dlq_arn: &str) -> Result<(), String> {
    let ledger = &app.ledger;
    for id in 0..POSTS {
        // The producer: one event per new post, as a web app sends them.
        let event = PostCreated {
            id,
            author: "alice".into(),
        };
        let body = serde_json::to_string(&event).map_err(|e| e.to_string())?;
        let sent = app
            .sqs
            .send_message()
            .queue_url(&app.posts)
            .message_body(body)
            .send()
            .await;
        sent.map_err(|e| format!("send failed: {e}"))?;
    }
    println!("produced: {POSTS} posts");

    wait_until(ledger, "the healthy posts are fanned out", async || {
        ledger.all_fanned_out(&BROKEN)
    })
    .await?;
    wait_until(ledger, "the broken posts are dead-lettered", async || {
        dead_letters(&app.sqs, dlq)
            .await
            .is_ok_and(|n| n == BROKEN.len())
    })
    .await?;
    println!(
        "dead-lettered: {} posts, each after {MAX_TRIES} failed tries",
        BROKEN.len()
    );

    app.fixed.store(true, Ordering::Relaxed);
    let started = app
        .sqs
        .start_message_move_task()
        .source_arn(dlq_arn)
        .send()
        .await;
    started.map_err(|e| format!("redrive failed: {e}"))?;
    wait_until(ledger, "the redrive completes", async || {
        let tasks = app
            .sqs
            .list_message_move_tasks()
            .source_arn(dlq_arn)
            .send()
            .await;
        tasks.is_ok_and(|t| t.results().first().and_then(|t| t.status()) == Some("COMPLETED"))
    })
    .await?;
    println!("redriven: {} posts back to the posts queue", BROKEN.len());
    wait_until(ledger, "every timeline entry is delivered", async || {
        ledger.all_delivered()
    })
    .await
}

async fn dead_letters(sqs: &Client, dlq: &str) -> Result<usize, Error> {
    let name = QueueAttributeName::ApproximateNumberOfMessages;
    let got = sqs
        .get_queue_attributes()
        .queue_url(dlq)
        .attribute_names(name.clone())
        .send()
        .await?;
    let count = got
        .attributes()
        .and_then(|a| a.get(&name))
        .ok_or("no count")?;
    Ok(count.parse()?)
}

/// Receives one post at a time and fans it out; a failed post is left to come back.
async fn post_worker(app: Arc<App>) -> Result<(), Error> {
    while !app.stop.load(Ordering::Relaxed) {
        let requested_at = Instant::now();
        let received = app
            .sqs
            .receive_message()
            .queue_url(&app.posts)
            .max_number_of_messages(1)
            .wait_time_seconds(WAIT)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await?;
        for message in received.messages() {
            let id = message.message_id().unwrap_or_default();
            let visibility = Duration::from_secs(VISIBILITY as u64);
            if !app.ledger.received(id, requested_at, visibility) {
                continue;
            }
            let post: PostCreated = serde_json::from_str(message.body().unwrap_or_default())?;
            let tries = message
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .ok_or("no receive count")?
                .parse()?;
            app.ledger.post_received(post.id, tries);
            if fan_out(&app, &post, tries).await? {
                let handle = message.receipt_handle().unwrap_or_default();
                app.sqs
                    .delete_message()
                    .queue_url(&app.posts)
                    .receipt_handle(handle)
                    .send()
                    .await?;
                app.ledger.deleted(id);
            } else {
                // No delete: the post is visible again after VISIBILITY seconds.
                app.ledger.failure(id);
            }
        }
    }
    Ok(())
}

/// Writes the post into every follower's timeline; false on a (simulated) failure.
async fn fan_out(app: &App, post: &PostCreated, tries: u32) -> Result<bool, Error> {
    if scenario::fails(post.id, tries, app.fixed.load(Ordering::Relaxed)) {
        return Ok(false);
    }
    // SendMessageBatch takes up to 10 entries.
    for chunk in scenario::followers_of(post.id).chunks(10) {
        let mut entries = Vec::new();
        for (n, follower) in chunk.iter().enumerate() {
            let entry = TimelineEntry {
                post: post.id,
                follower: follower.clone(),
            };
            let entry = SendMessageBatchRequestEntry::builder()
                .id(n.to_string())
                .message_body(serde_json::to_string(&entry)?)
                .build()?;
            entries.push(entry);
        }
        let sent = app
            .sqs
            .send_message_batch()
            .queue_url(&app.timeline)
            .set_entries(Some(entries))
            .send()
            .await?;
        if !sent.failed().is_empty() {
            // Retried as a whole; the timeline side must then tolerate duplicates.
            return Ok(false);
        }
        app.ledger.timeline_batch(sent.successful().len());
    }
    app.ledger.fanned_out(post.id);
    Ok(true)
}

/// Delivers timeline entries up to ten at a time and deletes them in one batch.
async fn timeline_worker(app: Arc<App>) -> Result<(), Error> {
    while !app.stop.load(Ordering::Relaxed) {
        let requested_at = Instant::now();
        let received = app
            .sqs
            .receive_message()
            .queue_url(&app.timeline)
            .max_number_of_messages(10)
            .wait_time_seconds(WAIT)
            .send()
            .await?;
        let visibility = Duration::from_secs(TIMELINE_VISIBILITY as u64);
        let mut done = Vec::new();
        for message in received.messages() {
            let id = message.message_id().unwrap_or_default();
            if !app.ledger.received(id, requested_at, visibility) {
                continue;
            }
            app.ledger
                .delivered(serde_json::from_str(message.body().unwrap_or_default())?);
            let entry = DeleteMessageBatchRequestEntry::builder()
                .id(done.len().to_string())
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .build()?;
            done.push((id, entry));
        }
        if done.is_empty() {
            continue;
        }
        let entries = done.iter().map(|(_, entry)| entry.clone()).collect();
        let deleted = app
            .sqs
            .delete_message_batch()
            .queue_url(&app.timeline)
            .set_entries(Some(entries))
            .send()
            .await?;
        for entry in deleted.successful() {
            let (id, _) = &done[entry.id().parse::<usize>()?];
            app.ledger.deleted(id);
        }
    }
    Ok(())
}
