//! The RabbitMQ peer through `lapin`: a durable queue, persistent messages, publisher confirms
//! (a producer waits for the broker to confirm its whole batch), and manual acks with a
//! prefetch of the batch size (a consumer acks what it has with one `multiple` ack).

use anyhow::{Context, bail};
use futures_util::{FutureExt, StreamExt};
use lapin::{
    BasicProperties, Channel, Connection, ConnectionProperties, Consumer,
    options::{
        BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
        ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
    },
    types::FieldTable,
};
use tokio::{task::JoinSet, time::Instant};

use crate::{
    stats::{Op, Recorder, collect, failed},
    workload::{Window, Workload, body, stamp_of},
};

/// AMQP delivery mode of persistent messages.
const PERSISTENT: u8 = 2;

async fn channel(url: &str) -> anyhow::Result<(Connection, Channel)> {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .with_context(|| format!("could not connect to RabbitMQ at {url}"))?;
    let channel = conn.create_channel().await?;
    Ok((conn, channel))
}

/// Declares a fresh durable queue (deleting a leftover of the same name).
pub async fn create_queue(url: &str, queue: &str) -> anyhow::Result<()> {
    let (conn, channel) = channel(url).await?;
    channel
        .queue_delete(queue.into(), QueueDeleteOptions::default())
        .await?;
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(queue.into(), durable, FieldTable::default())
        .await?;
    conn.close(200, "done".into()).await?;
    Ok(())
}

/// Deletes a queue.
pub async fn delete_queue(url: &str, queue: &str) -> anyhow::Result<()> {
    let (conn, channel) = channel(url).await?;
    channel
        .queue_delete(queue.into(), QueueDeleteOptions::default())
        .await?;
    conn.close(200, "done".into()).await?;
    Ok(())
}

/// Runs `workload` against RabbitMQ's `queue`, each task on its own connection.
pub async fn run(url: &str, queue: &str, workload: &Workload, window: Window) -> Recorder {
    let mut tasks = JoinSet::new();
    for p in 0..workload.producers {
        let (url, queue, w) = (url.to_owned(), queue.to_owned(), workload.clone());
        tasks.spawn(async move { produce(&url, &queue, &w, window, p).await });
    }
    for c in 0..workload.consumers {
        let (url, queue, w) = (url.to_owned(), queue.to_owned(), workload.clone());
        tasks.spawn(async move { consume(&url, &queue, &w, window, c).await });
    }
    collect(window, tasks).await
}

/// Publishes a batch and waits until the broker has confirmed every message.
async fn publish(channel: &Channel, queue: &str, bodies: &[String]) -> anyhow::Result<()> {
    let properties = BasicProperties::default().with_delivery_mode(PERSISTENT);
    let mut confirms = Vec::with_capacity(bodies.len());
    for body in bodies {
        let confirm = channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                body.as_bytes(),
                properties.clone(),
            )
            .await?;
        confirms.push(confirm);
    }
    for confirm in confirms {
        if !confirm.await?.is_ack() {
            bail!("the broker refused (nacked) a message");
        }
    }
    Ok(())
}

async fn produce(url: &str, queue: &str, w: &Workload, window: Window, index: usize) -> Recorder {
    let mut rec = Recorder::new(window);
    let channel = async {
        let (conn, channel) = channel(url).await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        anyhow::Ok((conn, channel))
    };
    let (_conn, channel) = match channel.await {
        Ok(c) => c,
        Err(e) => {
            rec.error(&e);
            return rec;
        }
    };
    let mut pacer = w.pacer(window, index);
    while !window.is_over() {
        let started = match &mut pacer {
            Some(p) => p.tick().await,
            None => Instant::now(),
        };
        let stamp = window.stamp(Instant::now());
        let bodies: Vec<String> = (0..w.batch).map(|_| body(stamp, w.body_bytes)).collect();
        match tokio::time::timeout_at(window.end, publish(&channel, queue, &bodies)).await {
            Ok(Ok(())) => rec.op(Op::Send, started, bodies.len()),
            Ok(Err(e)) => failed(&mut rec, &e).await,
            Err(_) => break,
        }
    }
    rec
}

async fn subscribe(
    url: &str,
    queue: &str,
    prefetch: usize,
    index: usize,
) -> anyhow::Result<(Connection, Consumer)> {
    let (conn, channel) = channel(url).await?;
    channel
        .basic_qos(u16::try_from(prefetch)?, BasicQosOptions::default())
        .await?;
    let consumer = channel
        .basic_consume(
            queue.into(),
            format!("spool-bench-{index}").into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok((conn, consumer))
}

async fn consume(url: &str, queue: &str, w: &Workload, window: Window, index: usize) -> Recorder {
    let mut rec = Recorder::new(window);
    let (_conn, mut consumer) = match subscribe(url, queue, w.batch, index).await {
        Ok(c) => c,
        Err(e) => {
            rec.error(&e);
            return rec;
        }
    };
    while !window.is_over() {
        // Deliveries are pushed: wait for one, then take what else has already arrived.
        let first = match tokio::time::timeout_at(window.end, consumer.next()).await {
            Ok(Some(Ok(d))) => d,
            Ok(Some(Err(e))) => {
                failed(&mut rec, &e.into()).await;
                continue;
            }
            Ok(None) | Err(_) => break,
        };
        let mut got = vec![first];
        while got.len() < w.batch {
            match consumer.next().now_or_never() {
                Some(Some(Ok(d))) => got.push(d),
                _ => break,
            }
        }
        for d in &got {
            rec.delivered(std::str::from_utf8(&d.data).ok().and_then(stamp_of));
        }
        let last = got.last().expect("at least one delivery");
        let started = Instant::now();
        let ack = BasicAckOptions {
            multiple: got.len() > 1,
        };
        match last.acker.ack(ack).await {
            Ok(_) => rec.op(Op::Delete, started, got.len()),
            Err(e) => failed(&mut rec, &e.into()).await,
        }
    }
    rec
}
