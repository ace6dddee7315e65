//! SendMessage and SendMessageBatch, and message attributes as SQS writes them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    Ctx,
    batch::{BatchOutput, Failed, check_ids},
    required,
};
use crate::{
    auth::Scope,
    domain::{DelaySeconds, Error, FifoSettings, Invalid},
    queue::{
        attributes::{self, AttributeValue, Attributes, InvalidMessage},
        messages::{SendEntry, Sent, fifo_rules},
    },
    sqs::{
        errors::{BATCH_REQUEST_TOO_LONG, INVALID_MESSAGE_CONTENTS, SqsError, SqsResult},
        texts,
    },
};

/// Largest message, and largest batch, SQS accepts (bytes of bodies and attributes).
const MAX_BYTES: usize = 1_048_576;
/// The only system attribute a sender may set.
const TRACE_HEADER: &str = "AWSTraceHeader";

/// A message attribute on the wire (`BinaryValue` is base64).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct WireAttribute {
    #[serde(default)]
    pub data_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary_value: Option<String>,
    #[serde(default, skip_serializing)]
    pub string_list_values: Vec<String>,
    #[serde(default, skip_serializing)]
    pub binary_list_values: Vec<String>,
}

impl From<&AttributeValue> for WireAttribute {
    fn from(value: &AttributeValue) -> Self {
        Self {
            data_type: value.data_type.clone(),
            string_value: value.string_value.clone(),
            binary_value: value.binary_value.clone(),
            ..Self::default()
        }
    }
}

/// One message as sent, in either action.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MessageInput {
    id: Option<String>,
    message_body: Option<String>,
    delay_seconds: Option<i64>,
    #[serde(default)]
    message_attributes: BTreeMap<String, WireAttribute>,
    #[serde(default)]
    message_system_attributes: BTreeMap<String, WireAttribute>,
    message_deduplication_id: Option<String>,
    message_group_id: Option<String>,
}

/// The input of SendMessage.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendInput {
    queue_url: Option<String>,
    #[serde(flatten)]
    message: MessageInput,
}

/// The input of SendMessageBatch.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendBatchInput {
    queue_url: Option<String>,
    entries: Option<Vec<MessageInput>>,
}

/// A sent message (`Id` only in batches).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SentOutput {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    message_id: String,
    #[serde(rename = "MD5OfMessageBody")]
    md5_of_message_body: String,
    #[serde(
        rename = "MD5OfMessageAttributes",
        skip_serializing_if = "Option::is_none"
    )]
    md5_of_message_attributes: Option<String>,
    #[serde(
        rename = "MD5OfMessageSystemAttributes",
        skip_serializing_if = "Option::is_none"
    )]
    md5_of_message_system_attributes: Option<String>,
    /// FIFO queues only.
    #[serde(skip_serializing_if = "Option::is_none")]
    sequence_number: Option<String>,
}

/// A message checked and converted for the engine, with the MD5 of the system attributes the
/// request gave (one taken from the `X-Amzn-Trace-Id` header is stored, not hashed: the client
/// did not send it as an attribute).
struct Prepared {
    entry: SendEntry,
    md5_of_system: Option<String>,
}

/// Sends one message.
pub async fn send_message(ctx: &Ctx<'_>, input: SendInput) -> SqsResult<SentOutput> {
    let name = ctx.queue_name(input.queue_url.as_deref())?;
    ctx.authorize(Scope::MessagesSend, &name)?;
    let fifo = fifo_settings(ctx, &name).await?;
    let prepared = prepare(input.message, ctx.trace_header.as_deref(), fifo)?;
    let mut sent = send(ctx, &name, vec![prepared]).await?;
    sent.pop()
        .unwrap_or_else(|| Err(SqsError::invalid("The message was not sent.")))
}

/// Sends up to 10 messages (1 MiB in all), reporting failures per entry.
pub async fn send_message_batch(
    ctx: &Ctx<'_>,
    input: SendBatchInput,
) -> SqsResult<BatchOutput<SentOutput>> {
    let name = ctx.queue_name(input.queue_url.as_deref())?;
    let entries = required(input.entries, "Entries")?;
    let ids = check_ids(
        entries.iter().map(|e| e.id.clone()).collect(),
        "SendMessageBatchRequestEntry",
    )?;
    let total: usize = entries.iter().map(size).sum();
    if total > MAX_BYTES {
        return Err(SqsError::new(
            BATCH_REQUEST_TOO_LONG,
            format!(
                "Batch requests cannot be longer than {MAX_BYTES} bytes. You have sent {total} bytes."
            ),
        ));
    }
    ctx.authorize(Scope::MessagesSend, &name)?;
    let fifo = fifo_settings(ctx, &name).await?;
    let mut output = BatchOutput {
        successful: Vec::new(),
        failed: Vec::new(),
    };
    let mut valid = Vec::new();
    for (id, entry) in ids.into_iter().zip(entries) {
        match prepare(entry, ctx.trace_header.as_deref(), fifo) {
            Ok(prepared) => valid.push((id, prepared)),
            Err(error) => output.failed.push(Failed::new(id, error)),
        }
    }
    let (ids, prepared): (Vec<String>, Vec<Prepared>) = valid.into_iter().unzip();
    let results = if prepared.is_empty() {
        Vec::new()
    } else {
        send(ctx, &name, prepared).await?
    };
    for (id, result) in ids.into_iter().zip(results) {
        match result {
            Ok(sent) => output.successful.push(SentOutput {
                id: Some(id),
                ..sent
            }),
            Err(error) => output.failed.push(Failed::new(id, error)),
        }
    }
    Ok(output)
}

/// Sends prepared messages, with their system attributes, in one engine call.
async fn send(
    ctx: &Ctx<'_>,
    queue: &str,
    prepared: Vec<Prepared>,
) -> SqsResult<Vec<SqsResult<SentOutput>>> {
    let systems: Vec<Option<String>> = prepared.iter().map(|p| p.md5_of_system.clone()).collect();
    let entries = prepared.into_iter().map(|p| p.entry).collect();
    let results = ctx.engine().send(ctx.account(), queue, entries).await?;
    Ok(results
        .into_iter()
        .zip(systems)
        .map(|(result, system)| {
            let sent: Sent = result.map_err(|e| match e {
                Error::MessageTooLarge { max, .. } => {
                    SqsError::invalid(texts::message_too_long(max))
                }
                other => other.into(),
            })?;
            Ok(SentOutput {
                id: None,
                message_id: sent.message_id.to_string(),
                md5_of_message_body: sent.md5_of_body,
                md5_of_message_attributes: sent.md5_of_attributes,
                md5_of_message_system_attributes: system,
                sequence_number: sent.sequence_number.map(|n| n.to_string()),
            })
        })
        .collect())
}

/// The checks SQS makes before looking at the queue, with SQS's error codes; the engine checks
/// the rest (attribute rules, the queue's size limit).
fn prepare(
    mut message: MessageInput,
    trace_header: Option<&str>,
    fifo: Option<FifoSettings>,
) -> SqsResult<Prepared> {
    let body = message.message_body.take().unwrap_or_default();
    attributes::validate_body(&body).map_err(|e| match e {
        InvalidMessage::EmptyBody => SqsError::missing("MessageBody"),
        other => SqsError::new(INVALID_MESSAGE_CONTENTS, other.to_string()),
    })?;
    if let Some(delay) = message.delay_seconds
        && let Err(e) = DelaySeconds::new(delay)
    {
        return Err(SqsError::invalid_value(
            delay,
            "DelaySeconds",
            &format!("DelaySeconds must be >= {} and <= {}.", e.min, e.max),
        ));
    }
    check_fifo_fields(&message, fifo)?;
    let attributes = convert(message.message_attributes)?;
    attributes::validate_attributes(&attributes).map_err(|e| match e {
        InvalidMessage::InvalidDataType(name) => {
            SqsError::invalid(texts::invalid_attribute_type(&name))
        }
        other => SqsError::invalid(other.to_string()),
    })?;
    let mut system = convert(message.message_system_attributes)?;
    if let Some(name) = system.keys().find(|name| *name != TRACE_HEADER) {
        return Err(SqsError::invalid(format!(
            "Message system attribute name '{name}' is invalid."
        )));
    }
    let bad_trace = |t: &AttributeValue| {
        let value = t.string_value.as_deref().unwrap_or("");
        // NUL cannot be stored in PostgreSQL text (and is no valid trace header).
        t.data_type != "String" || value.is_empty() || value.contains('\0')
    };
    if system.get(TRACE_HEADER).is_some_and(bad_trace) {
        return Err(SqsError::invalid(
            "Message system attribute 'AWSTraceHeader' must be a non-empty String without NUL (U+0000).",
        ));
    }
    if attributes::message_size(&body, &attributes) > MAX_BYTES {
        return Err(SqsError::invalid(texts::message_too_long(MAX_BYTES)));
    }
    let md5_of_system = attributes::md5_of_attributes(&system);
    if let Some(trace) = trace_header.filter(|t| !t.is_empty()) {
        system
            .entry(TRACE_HEADER.to_owned())
            .or_insert_with(|| AttributeValue {
                data_type: "String".to_owned(),
                string_value: Some(trace.to_owned()),
                binary_value: None,
            });
    }
    Ok(Prepared {
        entry: SendEntry {
            body,
            attributes,
            delay_seconds: message.delay_seconds,
            system_attributes: system,
            group_id: message.message_group_id,
            dedup_id: message.message_deduplication_id,
        },
        md5_of_system,
    })
}

/// The queue's FIFO settings (`None` for a standard queue): they decide the send rules.
async fn fifo_settings(ctx: &Ctx<'_>, queue: &str) -> SqsResult<Option<FifoSettings>> {
    Ok(ctx
        .engine()
        .get_queue(ctx.account(), queue)
        .await?
        .settings
        .fifo)
}

/// The group and deduplication parameters, by queue type, in AWS's words. A group id on a
/// standard queue makes it a fair queue.
/// The engine's group and deduplication rules (`messages::fifo_rules`), worded as SQS words
/// them, before the message reaches the engine.
fn check_fifo_fields(message: &MessageInput, fifo: Option<FifoSettings>) -> SqsResult<()> {
    const NOT_FOR_TYPE: &str =
        "The request include parameter that is not valid for this queue type.";
    let group = message.message_group_id.as_deref();
    let dedup = message.message_deduplication_id.as_deref();
    fifo_rules(fifo, group, dedup, message.delay_seconds.is_some()).map_err(|e| match e {
        Invalid::Token("group_id") => SqsError::invalid_value(
            group.unwrap_or_default(),
            "MessageGroupId",
            texts::GROUP_ID_RULE,
        ),
        Invalid::Token(_) => SqsError::invalid_value(
            dedup.unwrap_or_default(),
            "MessageDeduplicationId",
            "MessageDeduplicationId can only include alphanumeric and punctuation characters. \
             1 to 128 in length.",
        ),
        Invalid::DeduplicationIdOnStandardQueue => SqsError::invalid_value(
            dedup.unwrap_or_default(),
            "MessageDeduplicationId",
            NOT_FOR_TYPE,
        ),
        Invalid::GroupIdRequired => SqsError::missing("MessageGroupId"),
        Invalid::DelayOnFifoMessage => SqsError::invalid_value(
            message.delay_seconds.unwrap_or_default(),
            "DelaySeconds",
            NOT_FOR_TYPE,
        ),
        Invalid::DeduplicationIdRequired => SqsError::invalid(
            "The queue should either have ContentBasedDeduplication enabled or \
             MessageDeduplicationId provided explicitly",
        ),
        other => other.into(),
    })
}

fn convert(wire: BTreeMap<String, WireAttribute>) -> SqsResult<Attributes> {
    wire.into_iter()
        .map(|(name, value)| {
            if !value.string_list_values.is_empty() || !value.binary_list_values.is_empty() {
                return Err(SqsError::invalid(format!(
                    "Message (user) attribute '{name}': StringListValues and BinaryListValues \
                     are not supported."
                )));
            }
            let value = AttributeValue {
                data_type: value.data_type,
                string_value: value.string_value,
                binary_value: value.binary_value,
            };
            Ok((name, value))
        })
        .collect()
}

/// Bytes of a wire message that count against the batch limit.
fn size(message: &MessageInput) -> usize {
    let attributes: usize = message
        .message_attributes
        .iter()
        .map(|(name, v)| {
            name.len()
                + v.data_type.len()
                + v.string_value.as_deref().map_or(0, str::len)
                + v.binary_value.as_deref().map_or(0, |b| b.len() / 4 * 3)
        })
        .sum();
    message.message_body.as_deref().map_or(0, str::len) + attributes
}
