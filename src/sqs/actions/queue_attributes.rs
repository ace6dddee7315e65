//! Queue attributes: GetQueueAttributes, SetQueueAttributes, and the reading of settable
//! attributes (also used by CreateQueue) into an engine settings patch.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Ctx, Empty, policy_attributes, required};
use crate::{
    auth::Scope,
    domain::{
        DeduplicationScope, DelaySeconds, FifoThroughputLimit, MaxMessageBytes, OutOfRange, Queue,
        RetentionSeconds, VisibilityTimeout, WaitSeconds,
    },
    queue::SettingsPatch,
    sqs::{
        errors::{INVALID_ATTRIBUTE_NAME, INVALID_ATTRIBUTE_VALUE, SqsError, SqsResult},
        texts,
    },
};

/// Attribute names SQS knows for a standard queue (besides `All`).
const KNOWN: [&str; 21] = [
    "Policy",
    "VisibilityTimeout",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
    "ApproximateNumberOfMessagesDelayed",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
    "RedrivePolicy",
    "FifoQueue",
    "ContentBasedDeduplication",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "RedriveAllowPolicy",
    "SqsManagedSseEnabled",
];
/// Seconds SQS reuses a KMS data key for unless told otherwise.
const DEFAULT_KMS_REUSE_SECONDS: i32 = 300;

/// Settable attributes read into engine terms. `Some(None)` removes a policy.
#[derive(Debug, Default)]
pub struct Settable {
    pub patch: SettingsPatch,
    pub policy: Option<Option<String>>,
    pub redrive_allow_policy: Option<Option<String>>,
    pub encryption: EncryptionPatch,
}

/// Changes to the encryption attributes (stored and returned; the database's storage
/// protects data at rest, not KMS).
#[derive(Debug, Default, Clone)]
pub struct EncryptionPatch {
    /// `Some(None)` (an empty value) removes the key.
    kms_master_key_id: Option<Option<String>>,
    kms_data_key_reuse_period_seconds: Option<i32>,
    sqs_managed_sse_enabled: Option<bool>,
}

impl EncryptionPatch {
    fn is_empty(&self) -> bool {
        self.kms_master_key_id.is_none()
            && self.kms_data_key_reuse_period_seconds.is_none()
            && self.sqs_managed_sse_enabled.is_none()
    }

    /// Applies the changes to a queue's stored encryption attributes.
    pub async fn apply(&self, ctx: &Ctx<'_>, queue: &Queue) -> SqsResult<()> {
        if self.is_empty() {
            return Ok(());
        }
        let mut stored = ctx.engine().encryption(queue).await?;
        if let Some(key) = &self.kms_master_key_id {
            stored.kms_master_key_id.clone_from(key);
        }
        if let Some(seconds) = self.kms_data_key_reuse_period_seconds {
            stored.kms_data_key_reuse_period_seconds = Some(seconds);
        }
        if let Some(enabled) = self.sqs_managed_sse_enabled {
            stored.sqs_managed_sse_enabled = Some(enabled);
        }
        Ok(ctx.engine().set_encryption(queue, &stored).await?)
    }
}

/// Which request the attributes come with, and for which type of queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Create { fifo: bool },
    Set { fifo: bool },
}

/// Reads the attributes of CreateQueue or SetQueueAttributes for queue `queue`.
pub async fn parse(
    ctx: &Ctx<'_>,
    attributes: &BTreeMap<String, String>,
    queue: &str,
    target: Target,
) -> SqsResult<Settable> {
    let (Target::Create { fifo } | Target::Set { fifo }) = target;
    let mut out = Settable::default();
    let patch = &mut out.patch;
    for (name, value) in attributes {
        match name.as_str() {
            "DelaySeconds" => patch.delay_seconds = Some(int(name, value, DelaySeconds::new)?),
            "MaximumMessageSize" => {
                patch.max_message_bytes = Some(int(name, value, MaxMessageBytes::new)?);
            }
            "MessageRetentionPeriod" => {
                patch.retention_seconds = Some(int(name, value, RetentionSeconds::new)?);
            }
            "ReceiveMessageWaitTimeSeconds" => {
                patch.receive_wait_seconds = Some(int(name, value, WaitSeconds::new)?);
            }
            "VisibilityTimeout" => {
                patch.visibility_timeout = Some(int(name, value, VisibilityTimeout::new)?);
            }
            "RedrivePolicy" => {
                let target = policy_attributes::redrive_policy(ctx, value, queue).await?;
                // Dead letters are written into the target: naming it takes send rights on it.
                if let Some(target) = &target {
                    ctx.authorize(Scope::MessagesSend, target.queue.as_str())?;
                }
                patch.dead_letter = Some(target);
            }
            "Policy" => out.policy = Some(policy_attributes::policy(value)?),
            "RedriveAllowPolicy" => {
                out.redrive_allow_policy = Some(policy_attributes::redrive_allow_policy(value)?);
            }
            "SqsManagedSseEnabled" => {
                out.encryption.sqs_managed_sse_enabled = Some(match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(invalid_attribute(name, "Must be true or false.")),
                });
            }
            "KmsDataKeyReusePeriodSeconds" => {
                let seconds = int(name, value, |v| {
                    crate::domain::input::check_range(
                        "KmsDataKeyReusePeriodSeconds",
                        v,
                        (60, 86_400),
                    )
                })?;
                out.encryption.kms_data_key_reuse_period_seconds =
                    Some(i32::try_from(seconds).expect("bounded"));
            }
            "KmsMasterKeyId" => {
                out.encryption.kms_master_key_id =
                    Some(Some(value.trim().to_owned()).filter(|key| !key.is_empty()));
            }
            // A standard queue may say so; AWS's CLI and SDK examples sometimes do.
            "FifoQueue" if !fifo && matches!(target, Target::Create { .. }) && value == "false" => {
            }
            "FifoQueue"
            | "ContentBasedDeduplication"
            | "DeduplicationScope"
            | "FifoThroughputLimit"
                if !fifo =>
            {
                return Err(SqsError::new(
                    INVALID_ATTRIBUTE_NAME,
                    format!("Unknown Attribute {name}."),
                ));
            }
            "FifoQueue" if matches!(target, Target::Set { .. }) => {
                return Err(invalid_attribute(
                    name,
                    "Modifying queue type is not supported.",
                ));
            }
            "FifoQueue" => patch.fifo = Some(boolean(name, value)?),
            "ContentBasedDeduplication" => {
                patch.content_based_deduplication = Some(boolean(name, value)?);
            }
            "DeduplicationScope" => {
                patch.deduplication_scope = Some(match value.as_str() {
                    "queue" => DeduplicationScope::Queue,
                    "messageGroup" => DeduplicationScope::MessageGroup,
                    _ => return Err(invalid_attribute(name, "Must be queue or messageGroup.")),
                });
            }
            "FifoThroughputLimit" => {
                patch.fifo_throughput_limit = Some(match value.as_str() {
                    "perQueue" => FifoThroughputLimit::PerQueue,
                    "perMessageGroupId" => FifoThroughputLimit::PerMessageGroupId,
                    _ => {
                        return Err(invalid_attribute(
                            name,
                            "Must be perQueue or perMessageGroupId.",
                        ));
                    }
                });
            }
            _ => {
                return Err(SqsError::new(
                    INVALID_ATTRIBUTE_NAME,
                    texts::unknown_attribute(name),
                ));
            }
        }
    }
    Ok(out)
}

fn boolean(name: &str, value: &str) -> SqsResult<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid_attribute(name, "Must be true or false.")),
    }
}

/// An integer attribute as the engine's validated type (`new` holds its range).
fn int<T>(name: &str, value: &str, new: fn(i64) -> Result<T, OutOfRange>) -> SqsResult<T> {
    // Any number out of range reports the range; `i64::MIN` is out of every one.
    let number = value.trim().parse::<i64>().unwrap_or(i64::MIN);
    new(number).map_err(|e| {
        invalid_attribute(
            name,
            &format!("Must be an integer from {} to {}.", e.min, e.max),
        )
    })
}

pub(super) fn invalid_attribute(name: &str, reason: &str) -> SqsError {
    SqsError::new(
        INVALID_ATTRIBUTE_VALUE,
        format!("Invalid value for the parameter {name}. Reason: {reason}"),
    )
}

/// The input of SetQueueAttributes.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SetInput {
    queue_url: Option<String>,
    attributes: Option<BTreeMap<String, String>>,
}

/// Changes queue attributes.
pub async fn set_queue_attributes(ctx: &Ctx<'_>, input: SetInput) -> SqsResult<Empty> {
    let name = ctx.queue_name(input.queue_url.as_deref())?;
    ctx.authorize(Scope::QueuesManage, &name)?;
    let attributes = required(input.attributes, "Attributes")?;
    let fifo = ctx
        .engine()
        .get_queue(ctx.account(), &name)
        .await?
        .settings
        .fifo;
    let target = Target::Set {
        fifo: fifo.is_some(),
    };
    let settable = parse(ctx, &attributes, &name, target).await?;
    let queue = ctx
        .engine()
        .update_queue(ctx.account(), &name, settable.patch)
        .await?;
    if let Some(policy) = &settable.policy {
        ctx.engine().set_policy(&queue, policy.as_deref()).await?;
    }
    if let Some(policy) = &settable.redrive_allow_policy {
        ctx.engine()
            .set_redrive_allow_policy(&queue, policy.as_deref())
            .await?;
    }
    settable.encryption.apply(ctx, &queue).await?;
    Ok(Empty {})
}

/// The input of GetQueueAttributes.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetInput {
    queue_url: Option<String>,
    #[serde(default)]
    attribute_names: Vec<String>,
}

/// The output of GetQueueAttributes.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetOutput {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    attributes: BTreeMap<String, String>,
}

/// Reads queue attributes: the named ones, or every one with `All`.
pub async fn get_queue_attributes(ctx: &Ctx<'_>, input: GetInput) -> SqsResult<GetOutput> {
    let name = ctx.queue_name(input.queue_url.as_deref())?;
    ctx.authorize_any(&name)?;
    if let Some(unknown) = input
        .attribute_names
        .iter()
        .find(|n| *n != "All" && !KNOWN.contains(&n.as_str()))
    {
        return Err(SqsError::new(
            INVALID_ATTRIBUTE_NAME,
            texts::unknown_attribute(unknown),
        ));
    }
    let queue = ctx.engine().get_queue(ctx.account(), &name).await?;
    let all = render(ctx, &queue, &input.attribute_names).await?;
    let wanted = |n: &String| input.attribute_names.iter().any(|w| w == "All" || w == n);
    Ok(GetOutput {
        attributes: all.into_iter().filter(|(n, _)| wanted(n)).collect(),
    })
}

/// Every attribute the queue has; counts and policies only read when asked for.
async fn render(
    ctx: &Ctx<'_>,
    queue: &Queue,
    names: &[String],
) -> SqsResult<BTreeMap<String, String>> {
    let asks = |prefix: &str| names.iter().any(|n| n == "All" || n.starts_with(prefix));
    let s = &queue.settings;
    let mut out = BTreeMap::from([
        ("QueueArn", ctx.arn(queue.name.as_str())),
        ("CreatedTimestamp", queue.created_at.timestamp().to_string()),
        (
            "LastModifiedTimestamp",
            queue.updated_at.timestamp().to_string(),
        ),
        ("DelaySeconds", s.delay_seconds.to_string()),
        ("MaximumMessageSize", s.max_message_bytes.to_string()),
        ("MessageRetentionPeriod", s.retention_seconds.to_string()),
        (
            "ReceiveMessageWaitTimeSeconds",
            s.receive_wait_seconds.to_string(),
        ),
        ("VisibilityTimeout", s.visibility_timeout.to_string()),
    ]);
    if let Some(fifo) = s.fifo {
        out.insert("FifoQueue", "true".to_owned());
        out.insert(
            "ContentBasedDeduplication",
            fifo.content_based_deduplication.to_string(),
        );
        out.insert(
            "DeduplicationScope",
            dedup_scope(fifo.deduplication_scope).to_owned(),
        );
        out.insert(
            "FifoThroughputLimit",
            throughput_limit(fifo.throughput_limit).to_owned(),
        );
    }
    if asks("Kms") || asks("SqsManagedSseEnabled") {
        let e = ctx.engine().encryption(queue).await?;
        let reuse = e.kms_data_key_reuse_period_seconds;
        if let Some(key) = e.kms_master_key_id {
            out.insert("KmsMasterKeyId", key);
            let reuse = reuse.unwrap_or(DEFAULT_KMS_REUSE_SECONDS);
            out.insert("KmsDataKeyReusePeriodSeconds", reuse.to_string());
            out.insert("SqsManagedSseEnabled", "false".to_owned());
        } else {
            if let Some(reuse) = reuse {
                out.insert("KmsDataKeyReusePeriodSeconds", reuse.to_string());
            }
            let managed = e.sqs_managed_sse_enabled.unwrap_or(true);
            out.insert("SqsManagedSseEnabled", managed.to_string());
        }
    }
    if let (Some(dead_letter), Some(target)) = (&s.dead_letter, &queue.dead_letter_name) {
        let policy = json!({
            "deadLetterTargetArn": ctx.arn(target.as_str()),
            "maxReceiveCount": dead_letter.max_receive_count,
        });
        out.insert("RedrivePolicy", policy.to_string());
    }
    if asks("Approximate") {
        let counts = ctx.engine().counts(queue).await?;
        out.insert("ApproximateNumberOfMessages", counts.visible.to_string());
        out.insert(
            "ApproximateNumberOfMessagesNotVisible",
            counts.in_flight.to_string(),
        );
        out.insert(
            "ApproximateNumberOfMessagesDelayed",
            counts.delayed.to_string(),
        );
    }
    if asks("Policy") || asks("RedriveAllowPolicy") {
        let policies = ctx.engine().policies(queue).await?;
        if let Some(policy) = policies.policy {
            out.insert("Policy", policy);
        }
        if let Some(policy) = policies.redrive_allow_policy {
            out.insert("RedriveAllowPolicy", policy);
        }
    }
    Ok(out.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// SQS's spelling of a deduplication scope.
pub fn dedup_scope(scope: DeduplicationScope) -> &'static str {
    match scope {
        DeduplicationScope::Queue => "queue",
        DeduplicationScope::MessageGroup => "messageGroup",
    }
}

/// SQS's spelling of a throughput limit.
pub fn throughput_limit(limit: FifoThroughputLimit) -> &'static str {
    match limit {
        FifoThroughputLimit::PerQueue => "perQueue",
        FifoThroughputLimit::PerMessageGroupId => "perMessageGroupId",
    }
}
