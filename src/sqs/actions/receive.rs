//! ReceiveMessage: long polling, and the system and message attributes a receiver asks for.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Ctx, send::WireAttribute};
use crate::{
    auth::Scope,
    domain::{MaxMessages, ReceivedMessage, VisibilityTimeout, WaitSeconds},
    queue::{
        attributes::{self, Attributes},
        fifo,
        messages::ReceiveOptions,
    },
    sqs::{
        errors::{SqsError, SqsResult},
        urls,
    },
};

/// Most messages one SQS receive returns.
const MAX_MESSAGES: i64 = 10;

/// The input of ReceiveMessage.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReceiveInput {
    queue_url: Option<String>,
    max_number_of_messages: Option<i64>,
    visibility_timeout: Option<i64>,
    wait_time_seconds: Option<i64>,
    /// Deprecated name of `MessageSystemAttributeNames`; both count.
    #[serde(default)]
    attribute_names: Vec<String>,
    #[serde(default)]
    message_system_attribute_names: Vec<String>,
    #[serde(default)]
    message_attribute_names: Vec<String>,
    /// FIFO only; ignored on standard queues.
    receive_request_attempt_id: Option<String>,
}

/// The output of ReceiveMessage.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReceiveOutput {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    messages: Vec<MessageOutput>,
}

/// One received message.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct MessageOutput {
    message_id: String,
    receipt_handle: String,
    #[serde(rename = "MD5OfBody")]
    md5_of_body: String,
    body: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    attributes: BTreeMap<&'static str, String>,
    #[serde(
        rename = "MD5OfMessageAttributes",
        skip_serializing_if = "Option::is_none"
    )]
    md5_of_message_attributes: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    message_attributes: BTreeMap<String, WireAttribute>,
}

/// Receives up to 10 messages, waiting up to `WaitTimeSeconds` for the first.
pub async fn receive_message(ctx: &Ctx<'_>, input: ReceiveInput) -> SqsResult<ReceiveOutput> {
    let name = ctx.queue_name(input.queue_url.as_deref())?;
    let options = ReceiveOptions {
        max_messages: checked(
            input.max_number_of_messages,
            |v| MaxMessages::new(v).ok().filter(|_| v <= MAX_MESSAGES),
            "MaxNumberOfMessages",
            "Must be between 1 and 10, if provided.",
        )?,
        visibility_timeout: checked(
            input.visibility_timeout,
            |v| VisibilityTimeout::new(v).ok(),
            "VisibilityTimeout",
            "Must be >= 0 and <= 43200, if provided.",
        )?,
        wait_seconds: checked(
            input.wait_time_seconds,
            |v| WaitSeconds::new(v).ok(),
            "WaitTimeSeconds",
            "Must be >= 0 and <= 20, if provided.",
        )?,
        attempt_id: match input.receive_request_attempt_id {
            Some(a) if !fifo::valid_token(&a) => {
                return Err(SqsError::invalid_value(
                    a,
                    "ReceiveRequestAttemptId",
                    "ReceiveRequestAttemptId can only include alphanumeric and punctuation \
                     characters. 1 to 128 in length.",
                ));
            }
            other => other,
        },
    };
    ctx.authorize(Scope::MessagesReceive, &name)?;
    let received = ctx.engine().receive(ctx.account(), &name, options).await?;
    let mut system_names = input.attribute_names;
    system_names.extend(input.message_system_attribute_names);
    let wants = |attribute: &str| selects(&system_names, attribute);
    // Stored system attributes: the sender's trace header, a fair queue's group id. (The
    // lookups are boxed so that their futures do not add to the receive's while it waits.)
    let traces = if wants("AWSTraceHeader") || wants("MessageGroupId") {
        let ids: Vec<_> = received.iter().map(|m| m.message_id).collect();
        Box::pin(ctx.engine().system_attributes(&ids)).await?
    } else {
        Default::default()
    };
    let sources = if wants("DeadLetterQueueSourceArn") {
        let ids: Vec<_> = received.iter().filter_map(|m| m.source_queue_id).collect();
        Box::pin(ctx.engine().queue_names(&ids)).await?
    } else {
        Default::default()
    };
    let messages = received
        .into_iter()
        .map(|m| {
            let mut system = system_attributes(ctx, &m, &wants);
            for name in ["AWSTraceHeader", "MessageGroupId"] {
                let stored = traces.get(&m.message_id).and_then(|t| t.get(name));
                if let Some(value) = stored.filter(|_| wants(name)) {
                    system
                        .entry(name)
                        .or_insert_with(|| value.string_value.clone().unwrap_or_default());
                }
            }
            let source = m.source_queue_id.and_then(|id| sources.get(&id));
            if let Some(source) = source.filter(|_| wants("DeadLetterQueueSourceArn")) {
                system.insert("DeadLetterQueueSourceArn", ctx.arn(source));
            }
            message_output(m, system, &input.message_attribute_names)
        })
        .collect();
    Ok(ReceiveOutput { messages })
}

/// An optional number as the engine's validated type, or SQS's error naming `parameter`.
fn checked<T>(
    value: Option<i64>,
    new: impl Fn(i64) -> Option<T>,
    parameter: &str,
    reason: &str,
) -> SqsResult<Option<T>> {
    value
        .map(|v| new(v).ok_or_else(|| SqsError::invalid_value(v, parameter, reason)))
        .transpose()
}

/// The stored system attributes the receiver asked for.
fn system_attributes(
    ctx: &Ctx<'_>,
    m: &ReceivedMessage,
    wants: &impl Fn(&str) -> bool,
) -> BTreeMap<&'static str, String> {
    let first = m.first_received_at.unwrap_or(m.sent_at);
    let fifo = m.fifo.as_ref();
    let fifo_attributes = [
        ("MessageGroupId", fifo.map(|f| f.group_id.clone())),
        (
            "MessageDeduplicationId",
            fifo.and_then(|f| f.dedup_id.clone()),
        ),
        (
            "SequenceNumber",
            fifo.map(|f| f.sequence_number.to_string()),
        ),
    ]
    .into_iter()
    .filter_map(|(name, value)| Some((name, value?)));
    [
        ("SenderId", urls::account_id(ctx.public_account())),
        ("SentTimestamp", m.sent_at.timestamp_millis().to_string()),
        ("ApproximateReceiveCount", m.receive_count.to_string()),
        (
            "ApproximateFirstReceiveTimestamp",
            first.timestamp_millis().to_string(),
        ),
    ]
    .into_iter()
    .chain(fifo_attributes)
    .filter(|(name, _)| wants(name))
    .collect()
}

fn message_output(
    m: ReceivedMessage,
    attributes: BTreeMap<&'static str, String>,
    patterns: &[String],
) -> MessageOutput {
    let selected: Attributes = m
        .attributes
        .into_iter()
        .filter(|(name, _)| selects(patterns, name))
        .collect();
    MessageOutput {
        message_id: m.message_id.to_string(),
        receipt_handle: m.receipt_handle,
        md5_of_body: attributes::md5_of_body(&m.body),
        body: m.body,
        attributes,
        md5_of_message_attributes: attributes::md5_of_attributes(&selected),
        message_attributes: selected
            .iter()
            .map(|(k, v)| (k.clone(), v.into()))
            .collect(),
    }
}

/// Whether a list of attribute names selects `name`: `All`, `*` and `.*` select every name,
/// `prefix.*` the names starting with `prefix`, anything else the exact name.
fn selects(patterns: &[String], name: &str) -> bool {
    patterns.iter().any(|p| {
        matches!(p.as_str(), "All" | "*" | ".*")
            || p == name
            || p.strip_suffix(".*")
                .is_some_and(|prefix| name.starts_with(prefix))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_name_patterns() {
        let p = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(selects(&p(&["All"]), "x"));
        assert!(selects(&p(&[".*"]), "x"));
        assert!(selects(&p(&["x"]), "x"));
        assert!(selects(&p(&["*"]), "x"));
        assert!(selects(&p(&["bar.*"]), "bar.baz"));
        assert!(selects(&p(&["Hel.*"]), "Hello"));
        assert!(selects(&p(&["Hel.*"]), "Help.Me"));
        assert!(selects(&p(&["Custom.*"]), "Custom1"));
        assert!(!selects(&p(&["Hel.*"]), "Hi"));
        assert!(!selects(&p(&["Hel*"]), "Hello"));
        assert!(!selects(&p(&[]), "x"));
        assert!(!selects(&p(&["y"]), "x"));
    }
}
