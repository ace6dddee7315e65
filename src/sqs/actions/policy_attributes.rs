//! The JSON-valued queue attributes: `RedrivePolicy` (resolved to a dead-letter target the
//! target's `RedriveAllowPolicy` admits), `RedriveAllowPolicy` and `Policy`.

use serde_json::Value;

use super::{Ctx, queue_attributes::invalid_attribute};
use crate::{
    domain::{Error, MaxReceiveCount, QueueName},
    queue::engine::DeadLetterSpec,
    sqs::{
        errors::{SqsError, SqsResult},
        urls,
    },
};

/// Largest `Policy` document.
const MAX_POLICY_BYTES: usize = 8192;

/// `{"deadLetterTargetArn": …, "maxReceiveCount": …}`, or empty to remove it. The target must
/// exist in the caller's account and its RedriveAllowPolicy must admit `queue`.
pub async fn redrive_policy(
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
    .and_then(|n| MaxReceiveCount::new(n).ok())
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
        Err(Error::QueueNotFound(_)) => return Err(not_found()),
        Err(other) => return Err(other.into()),
    };
    let allow = ctx
        .engine()
        .policies(&dead_letter)
        .await?
        .redrive_allow_policy;
    if !admits(allow.as_deref(), ctx.public_account(), queue) {
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

pub fn policy(value: &str) -> SqsResult<Option<String>> {
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

pub fn redrive_allow_policy(value: &str) -> SqsResult<Option<String>> {
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
