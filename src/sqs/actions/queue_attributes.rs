//! Queue attributes: GetQueueAttributes, SetQueueAttributes, and the reading of settable
//! attributes (also used by CreateQueue) into an engine settings patch.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Ctx, Empty, required};
use crate::{
    auth::Scope,
    queue::{
        SettingsPatch,
        engine::DeadLetterSpec,
        model::{Queue, QueueName, limits},
    },
    sqs::{
        errors::{INVALID_ATTRIBUTE_NAME, INVALID_ATTRIBUTE_VALUE, SqsError, SqsResult},
        urls,
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
/// Largest `Policy` document.
const MAX_POLICY_BYTES: usize = 8192;

/// Settable attributes read into engine terms. `Some(None)` removes a policy.
#[derive(Debug, Default)]
pub struct Settable {
    pub patch: SettingsPatch,
    pub policy: Option<Option<String>>,
    pub redrive_allow_policy: Option<Option<String>>,
}

/// Reads the attributes of CreateQueue or SetQueueAttributes for queue `queue`.
pub async fn parse(
    ctx: &Ctx<'_>,
    attributes: &BTreeMap<String, String>,
    queue: &str,
) -> SqsResult<Settable> {
    let mut out = Settable::default();
    let patch = &mut out.patch;
    for (name, value) in attributes {
        match name.as_str() {
            "DelaySeconds" => patch.delay_seconds = Some(int(name, value, limits::DELAY_SECONDS)?),
            "MaximumMessageSize" => {
                patch.max_message_bytes = Some(int(name, value, limits::MAX_MESSAGE_BYTES)?);
            }
            "MessageRetentionPeriod" => {
                patch.retention_seconds = Some(int(name, value, limits::RETENTION_SECONDS)?);
            }
            "ReceiveMessageWaitTimeSeconds" => {
                patch.receive_wait_seconds = Some(int(name, value, limits::RECEIVE_WAIT_SECONDS)?);
            }
            "VisibilityTimeout" => {
                patch.visibility_timeout = Some(int(name, value, limits::VISIBILITY_TIMEOUT)?);
            }
            "RedrivePolicy" => patch.dead_letter = Some(redrive_policy(ctx, value, queue).await?),
            "Policy" => out.policy = Some(policy(value)?),
            "RedriveAllowPolicy" => out.redrive_allow_policy = Some(redrive_allow_policy(value)?),
            "SqsManagedSseEnabled" if value == "true" || value == "false" => {}
            "KmsDataKeyReusePeriodSeconds" => {
                int(name, value, (60, 86_400))?;
            }
            "KmsMasterKeyId" => {
                return Err(invalid_attribute(name, "KMS encryption is not supported."));
            }
            _ => {
                return Err(SqsError::new(
                    INVALID_ATTRIBUTE_NAME,
                    format!("Unknown Attribute {name}."),
                ));
            }
        }
    }
    Ok(out)
}

fn int(name: &str, value: &str, (min, max): (i64, i64)) -> SqsResult<i64> {
    value
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|v| (min..=max).contains(v))
        .ok_or_else(|| invalid_attribute(name, &format!("Must be an integer from {min} to {max}.")))
}

fn invalid_attribute(name: &str, reason: &str) -> SqsError {
    SqsError::new(
        INVALID_ATTRIBUTE_VALUE,
        format!("Invalid value for the parameter {name}. Reason: {reason}"),
    )
}

/// `{"deadLetterTargetArn": …, "maxReceiveCount": …}`, or empty to remove it. The target must
/// exist in the caller's account and its RedriveAllowPolicy must admit `queue`.
async fn redrive_policy(
    ctx: &Ctx<'_>,
    value: &str,
    queue: &str,
) -> SqsResult<Option<DeadLetterSpec>> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    let invalid = |reason: &str| SqsError::invalid_value(value, "RedrivePolicy", reason);
    let parsed: Value = serde_json::from_str(value).map_err(|_| invalid("Invalid JSON."))?;
    let target = parsed["deadLetterTargetArn"].as_str().ok_or_else(|| {
        invalid("Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")
    })?;
    let count = match &parsed["maxReceiveCount"] {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .filter(|n| (limits::MAX_RECEIVE_COUNT.0..=limits::MAX_RECEIVE_COUNT.1).contains(n))
    .ok_or_else(|| {
        invalid(
            "Invalid value for maxReceiveCount: valid values are from 1 to 1000 both inclusive.",
        )
    })?;
    let not_found = || invalid("Dead letter target does not exist.");
    let name = ctx.arn_name(target).ok_or_else(not_found)?;
    ctx.authorize_any(&name)?;
    let dead_letter = match ctx.engine().get_queue(ctx.account(), &name).await {
        Ok(q) => q,
        Err(crate::error::ApiError::QueueNotFound(_)) => return Err(not_found()),
        Err(other) => return Err(other.into()),
    };
    let allow = ctx
        .engine()
        .policies(&dead_letter)
        .await?
        .redrive_allow_policy;
    if !admits(allow.as_deref(), ctx.account(), queue) {
        return Err(invalid(&format!(
            "Queue {target} does not allow {} to use it as a dead-letter queue.",
            ctx.arn(queue)
        )));
    }
    Ok(Some(DeadLetterSpec {
        queue: QueueName::parse(name).map_err(|_| not_found())?,
        max_receive_count: count,
    }))
}

/// Whether a RedriveAllowPolicy lets `source` (in `account`) dead-letter into its queue.
fn admits(policy: Option<&str>, account: i64, source: &str) -> bool {
    let Some(policy) = policy.and_then(|p| serde_json::from_str::<Value>(p).ok()) else {
        return true;
    };
    match policy["redrivePermission"].as_str() {
        Some("denyAll") => false,
        Some("byQueue") => policy["sourceQueueArns"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|arn| urls::parse_arn(arn.as_str()?))
            .any(|(a, name)| a == account && name == source),
        _ => true,
    }
}

fn policy(value: &str) -> SqsResult<Option<String>> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    if value.len() > MAX_POLICY_BYTES {
        return Err(invalid_attribute(
            "Policy",
            "The policy is longer than 8192 bytes.",
        ));
    }
    match serde_json::from_str::<Value>(value) {
        Ok(Value::Object(_)) => Ok(Some(value.to_owned())),
        _ => Err(invalid_attribute(
            "Policy",
            "The policy is not a JSON object.",
        )),
    }
}

fn redrive_allow_policy(value: &str) -> SqsResult<Option<String>> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    let invalid = |reason: &str| invalid_attribute("RedriveAllowPolicy", reason);
    let parsed: Value = serde_json::from_str(value).map_err(|_| invalid("Invalid JSON."))?;
    let arns = &parsed["sourceQueueArns"];
    match parsed["redrivePermission"].as_str() {
        Some("allowAll" | "denyAll") if arns.is_null() => Ok(Some(value.to_owned())),
        Some("byQueue")
            if arns.as_array().is_some_and(|a| {
                (1..=10).contains(&a.len())
                    && a.iter()
                        .all(|arn| arn.as_str().is_some_and(|s| urls::parse_arn(s).is_some()))
            }) =>
        {
            Ok(Some(value.to_owned()))
        }
        _ => Err(invalid(
            "redrivePermission must be allowAll, denyAll or byQueue; byQueue needs 1 to 10 \
             sourceQueueArns and the others none.",
        )),
    }
}

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
    let settable = parse(ctx, &attributes, &name).await?;
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
    Ok(Empty {})
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetInput {
    queue_url: Option<String>,
    #[serde(default)]
    attribute_names: Vec<String>,
}

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
            format!("Unknown Attribute {unknown}."),
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
        ("SqsManagedSseEnabled", "true".to_owned()),
    ]);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redrive_allow_policies_admit_sources() {
        assert!(admits(None, 0, "src"));
        assert!(admits(
            Some(r#"{"redrivePermission":"allowAll"}"#),
            0,
            "src"
        ));
        assert!(!admits(
            Some(r#"{"redrivePermission":"denyAll"}"#),
            0,
            "src"
        ));
        let by_queue = r#"{"redrivePermission":"byQueue","sourceQueueArns":["arn:aws:sqs:us-east-1:000000000000:src"]}"#;
        assert!(admits(Some(by_queue), 0, "src"));
        assert!(!admits(Some(by_queue), 0, "other"));
        assert!(redrive_allow_policy(by_queue).is_ok());
        assert!(redrive_allow_policy(r#"{"redrivePermission":"byQueue"}"#).is_err());
        assert!(redrive_allow_policy("nope").is_err());
    }
}
