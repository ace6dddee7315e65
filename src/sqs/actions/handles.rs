//! Actions by receipt handle: DeleteMessage(Batch), ChangeMessageVisibility(Batch).

use serde::Deserialize;

use super::{
    Ctx, Empty,
    batch::{BatchOutput, Done, Failed, check_ids},
    required,
};
use crate::{
    auth::Scope,
    error::ApiError,
    queue::model::limits,
    sqs::errors::{RECEIPT_HANDLE_IS_INVALID, SqsError, SqsResult},
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

/// Deletes a message by receipt handle. A stale handle (the message was received again or is
/// gone) succeeds without deleting anything, as in SQS.
pub async fn delete_message(ctx: &Ctx<'_>, input: HandleInput) -> SqsResult<Empty> {
    let name = ctx.queue_name(input.queue_url.as_deref())?;
    let handle = required(input.receipt_handle, "ReceiptHandle")?;
    ctx.authorize(Scope::MessagesReceive, &name)?;
    let results = ctx
        .engine()
        .delete_messages(ctx.account(), &name, std::slice::from_ref(&handle))
        .await?;
    for result in results {
        result.map_err(|e| handle_error(&handle, e))?;
    }
    Ok(Empty {})
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
        match result {
            Ok(_) => output.successful.push(Done { id }),
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
        expired_is_fine(ctx, &name, &handle, result)
            .await
            .map_err(|e| handle_error(&handle, e))?;
    }
    Ok(Empty {})
}

/// SQS answers a visibility change on a message whose timeout already expired (and that was
/// not received again since) with success, changing nothing.
async fn expired_is_fine(
    ctx: &Ctx<'_>,
    queue: &str,
    handle: &str,
    result: Result<(), ApiError>,
) -> Result<(), ApiError> {
    let Err(ApiError::MessageNotInFlight) = result else {
        return result;
    };
    match ctx
        .engine()
        .is_current_delivery(ctx.account(), queue, handle)
        .await?
    {
        true => Ok(()),
        false => Err(ApiError::MessageNotInFlight),
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
    for ((id, (handle, _)), result) in valid.into_iter().zip(results) {
        match expired_is_fine(ctx, &name, &handle, result).await {
            Ok(()) => output.successful.push(Done { id }),
            Err(e) => output
                .failed
                .push(Failed::new(id, handle_error(&handle, e))),
        }
    }
    Ok(output)
}

fn visibility(timeout: i64) -> SqsResult<i64> {
    let (min, max) = limits::VISIBILITY_TIMEOUT;
    if (min..=max).contains(&timeout) {
        Ok(timeout)
    } else {
        Err(SqsError::invalid_value(
            timeout,
            "VisibilityTimeout",
            &format!("Must be >= {min} and <= {max}."),
        ))
    }
}

/// Errors about one handle, in SQS's words (they name the handle).
fn handle_error(handle: &str, error: ApiError) -> SqsError {
    match error {
        ApiError::InvalidReceiptHandle => SqsError::new(
            RECEIPT_HANDLE_IS_INVALID,
            format!("The input receipt handle \"{handle}\" is not a valid receipt handle."),
        ),
        ApiError::MessageNotInFlight => SqsError::invalid_value(
            handle,
            "ReceiptHandle",
            "Message does not exist or is not available for visibility timeout change.",
        ),
        ApiError::ReceiptHandleExpired => {
            SqsError::invalid_value(handle, "ReceiptHandle", "The receipt handle has expired.")
        }
        other => other.into(),
    }
}
