//! Actions by receipt handle: DeleteMessage(Batch), ChangeMessageVisibility(Batch).
//!
//! As on AWS (standard queues), an earlier receipt handle of a message still in the queue is
//! accepted: it deletes the message or changes its visibility as the latest handle would. The
//! native API keeps the stricter rule (only the latest delivery's handle acts).

use serde::Deserialize;

use super::{
    Ctx, Empty,
    batch::{BatchOutput, Done, Failed, check_ids},
    required,
};
use crate::{
    auth::Scope,
    domain::{Error, VisibilityTimeout},
    sqs::{
        errors::{RECEIPT_HANDLE_IS_INVALID, SqsError, SqsResult},
        texts,
    },
};

/// The input of DeleteMessage and ChangeMessageVisibility.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HandleInput {
    queue_url: Option<String>,
    receipt_handle: Option<String>,
    visibility_timeout: Option<i64>,
}

/// The input of DeleteMessageBatch and ChangeMessageVisibilityBatch.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchInput {
    queue_url: Option<String>,
    entries: Option<Vec<Entry>>,
}

/// One entry of a receipt-handle batch.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Entry {
    id: Option<String>,
    receipt_handle: Option<String>,
    visibility_timeout: Option<i64>,
}

/// Deletes a message by receipt handle, an earlier one included. A handle of a message that is
/// gone succeeds without deleting anything, as in SQS.
pub async fn delete_message(ctx: &Ctx<'_>, input: HandleInput) -> SqsResult<Empty> {
    let name = ctx.queue_name(input.queue_url.as_deref())?;
    let handle = required(input.receipt_handle, "ReceiptHandle")?;
    ctx.authorize(Scope::MessagesReceive, &name)?;
    let results = ctx
        .engine()
        .delete_messages(ctx.account(), &name, std::slice::from_ref(&handle))
        .await?;
    for result in results {
        earlier_deletes(ctx, &name, &handle, result)
            .await
            .map_err(|e| handle_error(&handle, e))?;
    }
    Ok(Empty {})
}

/// After a delete found `handle` stale: deletes the message by its latest handle if it is
/// still in the queue (received again since).
async fn earlier_deletes(
    ctx: &Ctx<'_>,
    queue: &str,
    handle: &str,
    result: Result<bool, Error>,
) -> Result<(), Error> {
    if result? {
        return Ok(());
    }
    let latest = ctx
        .engine()
        .latest_handle(ctx.account(), queue, handle)
        .await?;
    if let Some(latest) = latest.filter(|latest| latest != handle) {
        let results = ctx
            .engine()
            .delete_messages(ctx.account(), queue, std::slice::from_ref(&latest))
            .await?;
        for result in results {
            result?;
        }
    }
    Ok(())
}

/// Deletes up to 10 messages, reporting failures per entry.
pub async fn delete_message_batch(
    ctx: &Ctx<'_>,
    input: BatchInput,
) -> SqsResult<BatchOutput<Done>> {
    let name = ctx.queue_name(input.queue_url.as_deref())?;
    let entries = required(input.entries, "Entries")?;
    let ids = check_ids(
        entries.iter().map(|e| e.id.clone()).collect(),
        "DeleteMessageBatchRequestEntry",
    )?;
    ctx.authorize(Scope::MessagesReceive, &name)?;
    let mut output = BatchOutput {
        successful: Vec::new(),
        failed: Vec::new(),
    };
    let mut valid = Vec::new();
    for (id, entry) in ids.into_iter().zip(entries) {
        match entry.receipt_handle {
            Some(handle) => valid.push((id, handle)),
            None => output
                .failed
                .push(Failed::new(id, SqsError::missing("ReceiptHandle"))),
        }
    }
    let handles: Vec<String> = valid.iter().map(|(_, h)| h.clone()).collect();
    let results = if handles.is_empty() {
        Vec::new()
    } else {
        ctx.engine()
            .delete_messages(ctx.account(), &name, &handles)
            .await?
    };
    for ((id, handle), result) in valid.into_iter().zip(results) {
        match earlier_deletes(ctx, &name, &handle, result).await {
            Ok(()) => output.successful.push(Done { id }),
            Err(e) => output
                .failed
                .push(Failed::new(id, handle_error(&handle, e))),
        }
    }
    Ok(output)
}

/// Changes how long an in-flight message stays hidden, counted from now.
pub async fn change_message_visibility(ctx: &Ctx<'_>, input: HandleInput) -> SqsResult<Empty> {
    let name = ctx.queue_name(input.queue_url.as_deref())?;
    let handle = required(input.receipt_handle, "ReceiptHandle")?;
    let timeout = visibility(required(input.visibility_timeout, "VisibilityTimeout")?)?;
    ctx.authorize(Scope::MessagesReceive, &name)?;
    let results = ctx
        .engine()
        .change_visibility(ctx.account(), &name, &[(handle.clone(), timeout)])
        .await?;
    for result in results {
        earlier_or_expired(ctx, &name, (&handle, timeout), result)
            .await
            .map_err(|e| handle_error(&handle, e))?;
    }
    Ok(Empty {})
}

/// After a visibility change found its message not in flight under `handle`: an earlier
/// handle of a message received again since applies to the latest delivery; a message whose
/// timeout already expired (and that was not received again) changes nothing and succeeds,
/// as in SQS. A message that is gone fails.
async fn earlier_or_expired(
    ctx: &Ctx<'_>,
    queue: &str,
    (handle, timeout): (&str, i64),
    result: Result<(), Error>,
) -> Result<(), Error> {
    let Err(Error::MessageNotInFlight) = result else {
        return result;
    };
    let engine = ctx.engine();
    match engine.latest_handle(ctx.account(), queue, handle).await? {
        None => Err(Error::MessageNotInFlight),
        Some(latest) if latest == handle => Ok(()),
        Some(latest) => {
            let results = engine
                .change_visibility(ctx.account(), queue, &[(latest, timeout)])
                .await?;
            match results.into_iter().next() {
                Some(Err(Error::MessageNotInFlight)) | None => Ok(()),
                Some(other) => other,
            }
        }
    }
}

/// Changes the visibility of up to 10 messages, reporting failures per entry.
pub async fn change_message_visibility_batch(
    ctx: &Ctx<'_>,
    input: BatchInput,
) -> SqsResult<BatchOutput<Done>> {
    let name = ctx.queue_name(input.queue_url.as_deref())?;
    let entries = required(input.entries, "Entries")?;
    let ids = check_ids(
        entries.iter().map(|e| e.id.clone()).collect(),
        "ChangeMessageVisibilityBatchRequestEntry",
    )?;
    ctx.authorize(Scope::MessagesReceive, &name)?;
    let mut output = BatchOutput {
        successful: Vec::new(),
        failed: Vec::new(),
    };
    let mut valid = Vec::new();
    for (id, entry) in ids.into_iter().zip(entries) {
        let checked = required(entry.receipt_handle, "ReceiptHandle").and_then(|handle| {
            let timeout = required(entry.visibility_timeout, "VisibilityTimeout")?;
            Ok((handle, visibility(timeout)?))
        });
        match checked {
            Ok(change) => valid.push((id, change)),
            Err(e) => output.failed.push(Failed::new(id, e)),
        }
    }
    let changes: Vec<(String, i64)> = valid.iter().map(|(_, c)| c.clone()).collect();
    let results = if changes.is_empty() {
        Vec::new()
    } else {
        ctx.engine()
            .change_visibility(ctx.account(), &name, &changes)
            .await?
    };
    for ((id, (handle, timeout)), result) in valid.into_iter().zip(results) {
        match earlier_or_expired(ctx, &name, (&handle, timeout), result).await {
            Ok(()) => output.successful.push(Done { id }),
            Err(e) => output
                .failed
                .push(Failed::new(id, handle_error(&handle, e))),
        }
    }
    Ok(output)
}

fn visibility(timeout: i64) -> SqsResult<i64> {
    match VisibilityTimeout::new(timeout) {
        Ok(_) => Ok(timeout),
        Err(e) => Err(SqsError::invalid_value(
            timeout,
            "VisibilityTimeout",
            &format!("Must be >= {} and <= {}.", e.min, e.max),
        )),
    }
}

/// Errors about one handle, in SQS's words (they name the handle, cut short: a client
/// sending a megabyte of garbage does not get it echoed back).
fn handle_error(handle: &str, error: Error) -> SqsError {
    const SHOWN: usize = 120;
    let cut = handle.char_indices().nth(SHOWN).map(|(at, _)| at);
    let handle = match cut {
        Some(at) => format!("{}...", &handle[..at]),
        None => handle.to_owned(),
    };
    match error {
        Error::InvalidReceiptHandle => SqsError::new(
            RECEIPT_HANDLE_IS_INVALID,
            texts::invalid_receipt_handle(&handle),
        ),
        Error::MessageNotInFlight => SqsError::invalid_value(
            &handle,
            "ReceiptHandle",
            "Message does not exist or is not available for visibility timeout change.",
        ),
        Error::ReceiptHandleExpired => {
            SqsError::invalid_value(handle, "ReceiptHandle", "The receipt handle has expired.")
        }
        other => other.into(),
    }
}
