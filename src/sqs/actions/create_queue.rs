//! CreateQueue: SQS's naming rules, idempotent creation, and `QueueNameExists` naming the
//! attribute that differs.

use crate::domain::{Queue, QueueName};
use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Ctx, queue_attributes, queues::QueueUrlOutput, required};
use crate::{
    auth::Scope,
    domain::Error,
    queue::SettingsPatch,
    sqs::{
        errors::{QUEUE_NAME_EXISTS, SqsError, SqsResult},
        texts,
    },
};

/// The input of CreateQueue.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateQueueInput {
    queue_name: Option<String>,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    /// Lower-case in the SQS model.
    #[serde(default, rename = "tags")]
    tags: BTreeMap<String, String>,
}

/// Creates a queue, or returns the URL of an existing one whose attributes match the given
/// ones (attributes the request leaves out are not compared, as in SQS).
pub async fn create_queue(ctx: &Ctx<'_>, input: CreateQueueInput) -> SqsResult<QueueUrlOutput> {
    let fifo = input
        .attributes
        .get("FifoQueue")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let name = parse_queue_name(required(input.queue_name, "QueueName")?, fifo)?;
    ctx.authorize(Scope::QueuesManage, name.as_str())?;
    let target = queue_attributes::Target::Create { fifo };
    let settable = queue_attributes::parse(ctx, &input.attributes, name.as_str(), target).await?;
    let requested = settable.patch.clone();
    let engine = ctx.engine();
    let (queue, created) = match engine
        .create_queue(ctx.account(), name.clone(), settable.patch)
        .await
    {
        Err(Error::QueueExists(_)) => {
            let existing = engine.get_queue(ctx.account(), name.as_str()).await?;
            if let Some(attribute) = differing(&existing, &requested) {
                return Err(queue_exists(attribute));
            }
            (existing, false)
        }
        other => other?,
    };
    if created {
        if let Some(Some(policy)) = &settable.policy {
            engine.set_policy(&queue, Some(policy)).await?;
        }
        if let Some(Some(policy)) = &settable.redrive_allow_policy {
            engine
                .set_redrive_allow_policy(&queue, Some(policy))
                .await?;
        }
        settable.encryption.apply(ctx, &queue).await?;
        let tags: Vec<(String, String)> = input.tags.into_iter().collect();
        engine
            .tag_queue(ctx.account(), queue.name.as_str(), &tags)
            .await?;
    } else {
        let stored = engine.policies(&queue).await?;
        let differs = |given: &Option<Option<String>>, stored: &Option<String>| {
            given.as_ref().is_some_and(|g| g != stored)
        };
        if differs(&settable.policy, &stored.policy) {
            return Err(queue_exists("Policy"));
        }
        if differs(&settable.redrive_allow_policy, &stored.redrive_allow_policy) {
            return Err(queue_exists("RedriveAllowPolicy"));
        }
    }
    Ok(QueueUrlOutput::new(ctx.url(queue.name.as_str())))
}

fn queue_exists(attribute: &str) -> SqsError {
    SqsError::new(QUEUE_NAME_EXISTS, texts::queue_exists(attribute))
}

/// The first attribute the request gives whose value differs from the existing queue's.
fn differing(existing: &Queue, requested: &SettingsPatch) -> Option<&'static str> {
    let have = &existing.settings;
    let fifo = have.fifo.unwrap_or_default();
    let int = |requested: Option<i32>, have: i32| requested.is_some_and(|r| r != have);
    let dead_letter = requested.dead_letter.as_ref().is_some_and(|wanted| {
        let have = existing
            .dead_letter_name
            .as_ref()
            .zip(have.dead_letter.as_ref());
        match (wanted, have) {
            (None, None) => false,
            (Some(w), Some((name, d))) => {
                w.queue != *name || w.max_receive_count.get() != d.max_receive_count
            }
            _ => true,
        }
    });
    [
        (
            "DelaySeconds",
            int(requested.delay_seconds.map(|v| v.get()), have.delay_seconds),
        ),
        (
            "MaximumMessageSize",
            int(
                requested.max_message_bytes.map(|v| v.get()),
                have.max_message_bytes,
            ),
        ),
        (
            "MessageRetentionPeriod",
            int(
                requested.retention_seconds.map(|v| v.get()),
                have.retention_seconds,
            ),
        ),
        (
            "ReceiveMessageWaitTimeSeconds",
            int(
                requested.receive_wait_seconds.map(|v| v.get()),
                have.receive_wait_seconds,
            ),
        ),
        (
            "VisibilityTimeout",
            int(
                requested.visibility_timeout.map(|v| v.get()),
                have.visibility_timeout,
            ),
        ),
        ("RedrivePolicy", dead_letter),
        (
            "ContentBasedDeduplication",
            requested
                .content_based_deduplication
                .is_some_and(|v| v != fifo.content_based_deduplication),
        ),
        (
            "DeduplicationScope",
            requested
                .deduplication_scope
                .is_some_and(|v| v != fifo.deduplication_scope),
        ),
        (
            "FifoThroughputLimit",
            requested
                .fifo_throughput_limit
                .is_some_and(|v| v != fifo.throughput_limit),
        ),
    ]
    .into_iter()
    .find_map(|(name, differs)| differs.then_some(name))
}

/// SQS's name rules: a FIFO queue's name (and only its) ends in `.fifo`.
fn parse_queue_name(name: String, fifo: bool) -> SqsResult<QueueName> {
    if fifo || name.ends_with(".fifo") {
        return QueueName::parse(name)
            .ok()
            .filter(|n| n.is_fifo() && fifo)
            .ok_or_else(|| {
                SqsError::invalid(
                    "The name of a FIFO queue can only include alphanumeric characters, hyphens, \
                     or underscores, must end with .fifo suffix and be 1 to 80 in length.",
                )
            });
    }
    QueueName::parse(name).map_err(|_| {
        SqsError::invalid(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
        )
    })
}
