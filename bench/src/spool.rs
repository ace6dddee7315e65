//! Spool over HTTP: a small client for the native API (`/v1/queues/…`) and the producer and
//! consumer loops that drive it. Every request goes over pooled keep-alive connections.

use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::{task::JoinSet, time::Instant};

use crate::{
    sqs_door::SqsDoor,
    stats::{Op, Recorder, collect, failed},
    workload::{FifoTag, Window, Workload, body, fifo_tags, stamp_of},
};

/// Which of Spool's front doors the load goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
pub enum Door {
    /// The native JSON API under `/v1`.
    Native,
    /// The SQS wire protocol (AWS JSON 1.0 on `POST /`).
    Sqs,
}

/// How durable a queue's sends are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Durability {
    /// Acknowledged after the commit is on disk (the default).
    Durable,
    /// `synchronous_commit = off` for the queue's writes.
    Relaxed,
}

/// A Spool server reached over HTTP: the native API, or the SQS door when `sqs` is set (the
/// native client then still creates relaxed queues, which SQS has no attribute for).
#[derive(Debug, Clone)]
pub struct Spool {
    http: reqwest::Client,
    base: String,
    sqs: Option<SqsDoor>,
    /// Native door: acknowledge each batch with the next receive instead of a delete request.
    ack_on_receive: bool,
}

#[derive(Serialize)]
struct Entry<'a> {
    body: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deduplication_id: Option<&'a str>,
}

impl<'a> Entry<'a> {
    /// The `i`-th of `bodies`, with its FIFO tag when there are tags.
    fn new(bodies: &'a [String], tags: Option<&'a [FifoTag]>, i: usize) -> Self {
        let tag = tags.and_then(|t| t.get(i));
        Self {
            body: &bodies[i],
            group_id: tag.map(|t| t.group_id.as_str()),
            deduplication_id: tag.map(|t| t.deduplication_id.as_str()),
        }
    }
}

#[derive(Serialize)]
struct Handle<'a> {
    receipt_handle: &'a str,
}

/// A received message: what a consumer needs to check and delete it.
#[derive(Debug, Deserialize)]
pub struct Received {
    pub receipt_handle: String,
    pub body: String,
}

#[derive(Deserialize)]
struct ReceiveResponse {
    messages: Vec<Received>,
    #[serde(default)]
    acknowledged: Option<BatchResponse>,
}

#[derive(Deserialize)]
struct BatchResponse {
    #[serde(default)]
    successful: Vec<serde_json::Value>,
    #[serde(default)]
    failed: Vec<serde_json::Value>,
    deleted: Option<bool>,
}

impl Spool {
    /// A client for the server at `base` (e.g. `http://127.0.0.1:9324`), authenticating with
    /// the bearer `token` when given.
    pub fn new(base: &str, door: Door, token: Option<&str>) -> anyhow::Result<Self> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = token {
            headers.insert(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {token}").parse()?,
            );
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(90))
            .timeout(Duration::from_secs(60))
            .build()?;
        let base = base.trim_end_matches('/').to_owned();
        let sqs = match door {
            Door::Native => None,
            Door::Sqs => Some(SqsDoor::new(&base)?),
        };
        Ok(Self {
            http,
            base,
            sqs,
            ack_on_receive: false,
        })
    }

    /// Whether consumers on the native door acknowledge with their next receive.
    pub fn acknowledging_on_receive(mut self, on: bool) -> Self {
        self.ack_on_receive = on;
        self
    }

    /// Whether this client acknowledges with receives (never on the SQS door).
    fn acks_on_receive(&self) -> bool {
        self.ack_on_receive && self.sqs.is_none()
    }

    /// Receives up to `max` messages and acknowledges (deletes) `acknowledge` in the same
    /// request; returns the messages and how many of the acknowledged were deleted.
    pub async fn receive_acknowledging(
        &self,
        queue: &str,
        max: usize,
        wait: u32,
        acknowledge: &[String],
    ) -> anyhow::Result<(Vec<Received>, usize)> {
        let path = format!("/v1/queues/{queue}/messages/receive");
        let request = json!({
            "max_messages": max, "visibility_timeout": 30, "wait_seconds": wait,
            "acknowledge": acknowledge,
        });
        let response: ReceiveResponse = self.post(&path, &request).await?.json().await?;
        let acked = match response.acknowledged {
            None => 0,
            Some(batch) => {
                if let Some(failure) = batch.failed.first() {
                    bail!(
                        "{} of an acknowledgement failed: {failure}",
                        batch.failed.len()
                    );
                }
                batch.successful.len()
            }
        };
        Ok((response.messages, acked))
    }

    /// The front door the load goes through.
    pub fn door(&self) -> Door {
        match self.sqs {
            Some(_) => Door::Sqs,
            None => Door::Native,
        }
    }

    async fn post<T: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &T,
    ) -> anyhow::Result<reqwest::Response> {
        let url = format!("{}{path}", self.base);
        let response = self.http.post(&url).json(body).send().await?;
        check(response, &url).await
    }

    /// Whether the server answers its health check.
    pub async fn healthy(&self) -> bool {
        let url = format!("{}/healthz", self.base);
        matches!(self.http.get(url).send().await, Ok(r) if r.status().is_success())
    }

    /// Creates a queue (a 30 s visibility timeout, no delay); a FIFO queue when `name` ends in
    /// `.fifo`, as in SQS. A server that refuses the durability setting answers with an error
    /// that says so.
    /// Over the SQS door a durable queue is made with CreateQueue; a relaxed one natively (no
    /// SQS attribute says relaxed), then addressed by its queue URL.
    pub async fn create_queue(&self, name: &str, durability: Durability) -> anyhow::Result<()> {
        if let (Some(sqs), Durability::Durable) = (&self.sqs, durability) {
            return sqs.create_queue(name).await;
        }
        let mut request = json!({ "name": name, "visibility_timeout": 30 });
        if durability == Durability::Relaxed {
            request["durability"] = json!("relaxed");
        }
        if is_fifo(name) {
            request["fifo"] = json!(true);
        }
        self.post("/v1/queues", &request).await?;
        match &self.sqs {
            Some(sqs) => sqs.adopt(name).await,
            None => Ok(()),
        }
    }

    /// Deletes a queue and its messages; a missing queue is fine.
    pub async fn delete_queue(&self, name: &str) -> anyhow::Result<()> {
        if let Some(sqs) = &self.sqs {
            return sqs.delete_queue(name).await;
        }
        let url = format!("{}/v1/queues/{name}", self.base);
        let response = self.http.delete(&url).send().await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(());
        }
        check(response, &url).await.map(drop)
    }

    /// Messages ready to be received, as the server's (cached) counts say.
    pub async fn visible(&self, queue: &str) -> anyhow::Result<i64> {
        if let Some(sqs) = &self.sqs {
            return sqs.visible(queue).await;
        }
        let url = format!("{}/v1/queues/{queue}", self.base);
        let response = check(self.http.get(&url).send().await?, &url).await?;
        let queue: serde_json::Value = response.json().await?;
        queue["counts"]["visible"]
            .as_i64()
            .context("queue response without counts.visible")
    }

    /// Sends one message (`{"body"}`) or a batch (`{"messages": […]}`); to a FIFO queue with
    /// each message's `tags` (`group_id`, `deduplication_id`).
    pub async fn send(
        &self,
        queue: &str,
        bodies: &[String],
        tags: Option<&[FifoTag]>,
    ) -> anyhow::Result<()> {
        if let Some(sqs) = &self.sqs {
            return sqs.send(queue, bodies, tags).await;
        }
        let path = format!("/v1/queues/{queue}/messages");
        if bodies.len() == 1 {
            self.post(&path, &Entry::new(bodies, tags, 0)).await?;
            return Ok(());
        }
        let messages: Vec<Entry> = (0..bodies.len())
            .map(|i| Entry::new(bodies, tags, i))
            .collect();
        let response: BatchResponse = self
            .post(&path, &json!({ "messages": messages }))
            .await?
            .json()
            .await?;
        if let Some(failure) = response.failed.first() {
            bail!(
                "{} of a batch send failed: {failure}",
                response.failed.len()
            );
        }
        Ok(())
    }

    /// Receives up to `max` messages, waiting up to `wait` seconds for the first.
    pub async fn receive(
        &self,
        queue: &str,
        max: usize,
        wait: u32,
    ) -> anyhow::Result<Vec<Received>> {
        if let Some(sqs) = &self.sqs {
            return sqs.receive(queue, max, wait).await;
        }
        let path = format!("/v1/queues/{queue}/messages/receive");
        let request =
            json!({ "max_messages": max, "visibility_timeout": 30, "wait_seconds": wait });
        let response: ReceiveResponse = self.post(&path, &request).await?.json().await?;
        Ok(response.messages)
    }

    /// Deletes by receipt handle (one, or a batch of `entries`); returns how many were deleted.
    pub async fn delete(&self, queue: &str, handles: &[String]) -> anyhow::Result<usize> {
        if let Some(sqs) = &self.sqs {
            return sqs.delete(queue, handles).await;
        }
        let path = format!("/v1/queues/{queue}/messages/delete");
        let sent = if let [one] = handles {
            let one = Handle {
                receipt_handle: one,
            };
            self.post(&path, &one).await?
        } else {
            let entries: Vec<Handle> = handles
                .iter()
                .map(|h| Handle { receipt_handle: h })
                .collect();
            self.post(&path, &json!({ "entries": entries })).await?
        };
        let response: BatchResponse = sent.json().await?;
        if let Some(failure) = response.failed.first() {
            bail!(
                "{} of a batch delete failed: {failure}",
                response.failed.len()
            );
        }
        let deleted = match response.deleted {
            Some(one) => usize::from(one),
            None => response
                .successful
                .iter()
                .filter(|e| e["deleted"] == json!(true))
                .count(),
        };
        Ok(deleted)
    }

    /// Receives and deletes `count` messages of `queue` (batches of 10 from 4 tasks), or what
    /// there is if fewer; returns how many were deleted.
    pub async fn drain(&self, queue: &str, count: u64) -> anyhow::Result<u64> {
        const TASKS: u64 = 4;
        let mut tasks = JoinSet::new();
        for t in 0..TASKS {
            let (spool, queue) = (self.clone(), queue.to_owned());
            let mine = count / TASKS + u64::from(t < count % TASKS);
            tasks.spawn(async move {
                let mut done = 0;
                while done < mine {
                    let want = usize::try_from((mine - done).min(10))?;
                    let got = spool.receive(&queue, want, 0).await?;
                    if got.is_empty() {
                        break;
                    }
                    let handles: Vec<String> = got.into_iter().map(|m| m.receipt_handle).collect();
                    done += u64::try_from(spool.delete(&queue, &handles).await?)?;
                }
                anyhow::Ok(done)
            });
        }
        let mut total = 0;
        while let Some(done) = tasks.join_next().await {
            total += done??;
        }
        Ok(total)
    }

    /// Fills `queue` with `count` messages (batches of 100 from 8 tasks), without send stamps;
    /// spread over `groups` message groups when it is a FIFO queue.
    pub async fn prefill(
        &self,
        queue: &str,
        count: u64,
        body_bytes: usize,
        groups: Option<u64>,
    ) -> anyhow::Result<()> {
        const TASKS: u64 = 8;
        const BATCH: u64 = 100;
        let filler = "backlog|".to_owned() + &"x".repeat(body_bytes.saturating_sub(8));
        let mut tasks = JoinSet::new();
        for t in 0..TASKS {
            let (spool, queue, filler) = (self.clone(), queue.to_owned(), filler.clone());
            let mine = count / TASKS + u64::from(t < count % TASKS);
            tasks.spawn(async move {
                let mut left = mine;
                while left > 0 {
                    let n = left.min(BATCH);
                    let bodies = vec![filler.clone(); usize::try_from(n)?];
                    let tags = groups.map(|g| fifo_tags(g, bodies.len()));
                    spool.send(&queue, &bodies, tags.as_deref()).await?;
                    left -= n;
                }
                anyhow::Ok(())
            });
        }
        while let Some(done) = tasks.join_next().await {
            done??;
        }
        Ok(())
    }
}

/// Whether `queue` names a FIFO queue (SQS's rule: the name ends in `.fifo`).
pub fn is_fifo(queue: &str) -> bool {
    queue.ends_with(".fifo")
}

/// Turns a non-2xx answer into an error carrying the status and body.
async fn check(response: reqwest::Response, url: &str) -> anyhow::Result<reqwest::Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let text = response.text().await.unwrap_or_default();
    bail!(
        "POST/GET {url}: {status}: {}",
        text.chars().take(300).collect::<String>()
    )
}

/// Runs `workload` against `queue`: producers send, consumers receive and delete.
pub async fn run(spool: &Spool, queue: &str, workload: &Workload, window: Window) -> Recorder {
    let mut tasks = JoinSet::new();
    if workload.cycle {
        for _ in 0..workload.producers {
            let (spool, queue, w) = (spool.clone(), queue.to_owned(), workload.clone());
            tasks.spawn(async move { cycle(&spool, &queue, &w, window).await });
        }
        return collect(window, tasks).await;
    }
    for p in 0..workload.producers {
        let (spool, queue, w) = (spool.clone(), queue.to_owned(), workload.clone());
        tasks.spawn(async move { produce(&spool, &queue, &w, window, p).await });
    }
    for _ in 0..workload.consumers {
        let (spool, queue, w) = (spool.clone(), queue.to_owned(), workload.clone());
        tasks.spawn(async move { consume(&spool, &queue, &w, window).await });
    }
    collect(window, tasks).await
}

async fn produce(
    spool: &Spool,
    queue: &str,
    w: &Workload,
    window: Window,
    index: usize,
) -> Recorder {
    let mut rec = Recorder::new(window);
    let mut pacer = w.pacer(window, index);
    while !window.is_over() {
        let started = match &mut pacer {
            Some(p) => p.tick().await,
            None => Instant::now(),
        };
        let stamp = window.stamp(Instant::now());
        let bodies: Vec<String> = (0..w.batch).map(|_| body(stamp, w.body_bytes)).collect();
        let tags = w.fifo_groups.map(|g| fifo_tags(g, bodies.len()));
        let send = spool.send(queue, &bodies, tags.as_deref());
        match tokio::time::timeout_at(window.end, send).await {
            Ok(Ok(())) => rec.op(Op::Send, started, bodies.len()),
            Ok(Err(e)) => failed(&mut rec, &e).await,
            Err(_) => break,
        }
    }
    rec
}

async fn consume(spool: &Spool, queue: &str, w: &Workload, window: Window) -> Recorder {
    if spool.acks_on_receive() {
        return consume_acking(spool, queue, w, window).await;
    }
    let mut rec = Recorder::new(window);
    while !window.is_over() {
        let started = Instant::now();
        let receive = spool.receive(queue, w.batch, w.wait_seconds);
        let got = match tokio::time::timeout_at(window.end, receive).await {
            Ok(Ok(got)) => got,
            Ok(Err(e)) => {
                failed(&mut rec, &e).await;
                continue;
            }
            Err(_) => break,
        };
        rec.op(Op::Receive, started, got.len());
        if got.is_empty() {
            continue;
        }
        for m in &got {
            rec.delivered(stamp_of(&m.body));
        }
        let handles: Vec<String> = got.into_iter().map(|m| m.receipt_handle).collect();
        let started = Instant::now();
        match tokio::time::timeout_at(window.end, spool.delete(queue, &handles)).await {
            Ok(Ok(n)) => rec.op(Op::Delete, started, n),
            Ok(Err(e)) => failed(&mut rec, &e).await,
            Err(_) => break,
        }
    }
    rec
}

/// A consumer that acknowledges each batch with its next receive: one request per batch.
/// A batch counts as deleted when the receive that acknowledged it returns (no delete latency:
/// there is no delete request); the last batch of the window is left unacknowledged and
/// uncounted.
async fn consume_acking(spool: &Spool, queue: &str, w: &Workload, window: Window) -> Recorder {
    let mut rec = Recorder::new(window);
    let mut pending: Vec<String> = Vec::new();
    while !window.is_over() {
        if !receive_acking(spool, queue, w, window, &mut rec, &mut pending).await {
            break;
        }
    }
    rec
}

/// How a loop's send of one batch went.
enum Turn {
    Sent,
    Failed,
    /// The window closed.
    Over,
}

/// Sends one batch of stamped bodies (FIFO-tagged when the load says so) and records it.
async fn send_turn(
    spool: &Spool,
    queue: &str,
    w: &Workload,
    window: Window,
    rec: &mut Recorder,
) -> Turn {
    let started = Instant::now();
    let stamp = window.stamp(started);
    let bodies: Vec<String> = (0..w.batch).map(|_| body(stamp, w.body_bytes)).collect();
    let tags = w.fifo_groups.map(|g| fifo_tags(g, bodies.len()));
    let send = spool.send(queue, &bodies, tags.as_deref());
    match tokio::time::timeout_at(window.end, send).await {
        Ok(Ok(())) => {
            rec.op(Op::Send, started, bodies.len());
            Turn::Sent
        }
        Ok(Err(e)) => {
            failed(rec, &e).await;
            Turn::Failed
        }
        Err(_) => Turn::Over,
    }
}

/// Closed loop: send a batch, receive up to a batch, delete what came, again (with
/// `--acknowledge-on-receive`, the delete rides on the next turn's receive).
async fn cycle(spool: &Spool, queue: &str, w: &Workload, window: Window) -> Recorder {
    if spool.acks_on_receive() {
        return cycle_acking(spool, queue, w, window).await;
    }
    let mut rec = Recorder::new(window);
    while !window.is_over() {
        match send_turn(spool, queue, w, window, &mut rec).await {
            Turn::Sent => {}
            Turn::Failed => continue,
            Turn::Over => break,
        }
        let started = Instant::now();
        let receive = spool.receive(queue, w.batch, w.wait_seconds);
        let got = match tokio::time::timeout_at(window.end, receive).await {
            Ok(Ok(got)) => got,
            Ok(Err(e)) => {
                failed(&mut rec, &e).await;
                continue;
            }
            Err(_) => break,
        };
        rec.op(Op::Receive, started, got.len());
        if got.is_empty() {
            continue;
        }
        for m in &got {
            rec.delivered(stamp_of(&m.body));
        }
        let handles: Vec<String> = got.into_iter().map(|m| m.receipt_handle).collect();
        let started = Instant::now();
        match tokio::time::timeout_at(window.end, spool.delete(queue, &handles)).await {
            Ok(Ok(n)) => rec.op(Op::Delete, started, n),
            Ok(Err(e)) => failed(&mut rec, &e).await,
            Err(_) => break,
        }
    }
    rec
}

/// The closed loop of a worker that acknowledges with its next receive: send a batch, then
/// receive a batch while acknowledging the previous one; two requests per turn.
async fn cycle_acking(spool: &Spool, queue: &str, w: &Workload, window: Window) -> Recorder {
    let mut rec = Recorder::new(window);
    let mut pending: Vec<String> = Vec::new();
    while !window.is_over() {
        match send_turn(spool, queue, w, window, &mut rec).await {
            Turn::Sent => {}
            Turn::Failed => continue,
            Turn::Over => break,
        }
        if !receive_acking(spool, queue, w, window, &mut rec, &mut pending).await {
            break;
        }
    }
    rec
}

/// One receive that acknowledges `pending` (the previous batch) and makes what it got the next
/// `pending`; records both. False once the window ended during the receive.
async fn receive_acking(
    spool: &Spool,
    queue: &str,
    w: &Workload,
    window: Window,
    rec: &mut Recorder,
    pending: &mut Vec<String>,
) -> bool {
    let started = Instant::now();
    let receive = spool.receive_acknowledging(queue, w.batch, w.wait_seconds, pending);
    let (got, acked) = match tokio::time::timeout_at(window.end, receive).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => {
            failed(rec, &e).await;
            pending.clear();
            return true;
        }
        Err(_) => return false,
    };
    rec.op(Op::Receive, started, got.len());
    rec.acknowledged(acked);
    for m in &got {
        rec.delivered(stamp_of(&m.body));
    }
    *pending = got.into_iter().map(|m| m.receipt_handle).collect();
    true
}
