//! Message move tasks (DLQ redrive): StartMessageMoveTask, ListMessageMoveTasks,
//! CancelMessageMoveTask. Task handles have AWS's shape: base64 of a JSON object with the task
//! id and the source ARN (`{"taskId":…,"sourceArn":…}`).

use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Ctx, required};
use crate::{
    auth::Scope,
    domain::{Error, MoveRate, MoveTask, QueueName},
    queue::redrive::RedriveOptions,
    sqs::{
        errors::{RESOURCE_NOT_FOUND, SqsError, SqsResult},
        texts,
    },
};

/// The input of StartMessageMoveTask.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartInput {
    source_arn: Option<String>,
    destination_arn: Option<String>,
    max_number_of_messages_per_second: Option<i64>,
}

/// The output of StartMessageMoveTask.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartOutput {
    task_handle: String,
}

/// Starts moving the messages of a dead-letter queue back to their sources or elsewhere.
pub async fn start_message_move_task(ctx: &Ctx<'_>, input: StartInput) -> SqsResult<StartOutput> {
    let source_arn = required(input.source_arn, "SourceArn")?;
    let source = resolve(ctx, &source_arn, "SourceArn").await?;
    ctx.authorize(Scope::QueuesManage, &source)?;
    let destination = match &input.destination_arn {
        Some(arn) => {
            let name = resolve(ctx, arn, "DestinationArn").await?;
            // The task writes into the destination: that takes send rights on it.
            ctx.authorize(Scope::MessagesSend, &name)?;
            Some(QueueName::parse(name)?)
        }
        None => None,
    };
    let max_per_second = input
        .max_number_of_messages_per_second
        .map(MoveRate::new)
        .transpose()
        .map_err(|e| {
            SqsError::invalid_value(
                e.value,
                "MaxNumberOfMessagesPerSecond",
                "Must be between 1 and 500.",
            )
        })?;
    let queue = ctx.engine().get_queue(ctx.account(), &source).await?;
    if ctx.engine().dead_letter_sources(&queue).await?.is_empty() {
        return Err(SqsError::invalid(
            "Source queue must be configured as a Dead Letter Queue.",
        ));
    }
    let options = RedriveOptions {
        destination,
        max_per_second,
    };
    let task = ctx
        .engine()
        .start_redrive(ctx.account(), &source, options)
        .await?;
    Ok(StartOutput {
        task_handle: encode_handle(task.id, &ctx.arn(&source)),
    })
}

/// The name of an existing queue of the caller's named by an ARN, or `ResourceNotFound`.
async fn resolve(ctx: &Ctx<'_>, arn: &str, parameter: &str) -> SqsResult<String> {
    let missing = || SqsError::new(RESOURCE_NOT_FOUND, texts::no_such_resource(parameter));
    let name = ctx.arn_name(arn).ok_or_else(missing)?;
    match ctx.engine().get_queue(ctx.account(), &name).await {
        Ok(queue) => Ok(queue.name.to_string()),
        Err(Error::QueueNotFound(_)) => Err(missing()),
        Err(other) => Err(other.into()),
    }
}

/// The input of ListMessageMoveTasks.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListInput {
    source_arn: Option<String>,
    max_results: Option<i64>,
}

/// The output of ListMessageMoveTasks.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListOutput {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    results: Vec<TaskOutput>,
}

/// One move task as ListMessageMoveTasks reports it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct TaskOutput {
    #[serde(skip_serializing_if = "Option::is_none")]
    task_handle: Option<String>,
    status: String,
    source_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_number_of_messages_per_second: Option<i32>,
    approximate_number_of_messages_moved: i64,
    approximate_number_of_messages_to_move: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_reason: Option<String>,
    started_timestamp: i64,
}

/// The most recent move tasks of a source queue (1 by default, at most 10).
pub async fn list_message_move_tasks(ctx: &Ctx<'_>, input: ListInput) -> SqsResult<ListOutput> {
    let source_arn = required(input.source_arn, "SourceArn")?;
    let limit = input.max_results.unwrap_or(1);
    if !(1..=10).contains(&limit) {
        return Err(SqsError::invalid_value(
            limit,
            "MaxResults",
            "Must be between 1 and 10.",
        ));
    }
    let source = resolve(ctx, &source_arn, "SourceArn").await?;
    ctx.authorize_any(&source)?;
    let tasks = ctx.engine().list_redrives(ctx.account(), &source).await?;
    let arn = ctx.arn(&source);
    let results = tasks
        .into_iter()
        .take(usize::try_from(limit).unwrap_or(1))
        .map(|task| task_output(ctx, task, &arn))
        .collect();
    Ok(ListOutput { results })
}

fn task_output(ctx: &Ctx<'_>, task: MoveTask, source_arn: &str) -> TaskOutput {
    let running = task.status == "running";
    TaskOutput {
        task_handle: running.then(|| encode_handle(task.id, source_arn)),
        status: task.status.to_uppercase(),
        source_arn: source_arn.to_owned(),
        destination_arn: task.destination_name.as_deref().map(|d| ctx.arn(d)),
        max_number_of_messages_per_second: task.max_per_second,
        approximate_number_of_messages_moved: task.moved,
        approximate_number_of_messages_to_move: task.to_move,
        failure_reason: task.failure_reason,
        started_timestamp: task.created_at.timestamp_millis(),
    }
}

/// The input of CancelMessageMoveTask.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CancelInput {
    task_handle: Option<String>,
}

/// The output of CancelMessageMoveTask.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CancelOutput {
    approximate_number_of_messages_moved: i64,
}

/// Cancels a running move task; messages already moved stay moved.
pub async fn cancel_message_move_task(
    ctx: &Ctx<'_>,
    input: CancelInput,
) -> SqsResult<CancelOutput> {
    let handle = required(input.task_handle, "TaskHandle")?;
    let gone = || SqsError::new(RESOURCE_NOT_FOUND, texts::TASK_NOT_FOUND);
    let (id, source_arn) = decode_handle(&handle).ok_or_else(gone)?;
    let source = ctx.arn_name(&source_arn).ok_or_else(gone)?;
    ctx.authorize(Scope::QueuesManage, &source)?;
    match ctx
        .engine()
        .cancel_redrive(ctx.account(), &source, id)
        .await
    {
        Ok(task) => Ok(CancelOutput {
            approximate_number_of_messages_moved: task.moved,
        }),
        Err(Error::QueueNotFound(_) | Error::TaskNotFound(_)) => Err(gone()),
        Err(other) => Err(other.into()),
    }
}

/// The JSON inside a task handle.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HandleFields {
    task_id: String,
    source_arn: String,
}

fn encode_handle(id: Uuid, source_arn: &str) -> String {
    let fields = HandleFields {
        task_id: id.to_string(),
        source_arn: source_arn.to_owned(),
    };
    STANDARD.encode(serde_json::to_string(&fields).unwrap_or_default())
}

fn decode_handle(handle: &str) -> Option<(Uuid, String)> {
    let fields: HandleFields = serde_json::from_slice(&STANDARD.decode(handle).ok()?).ok()?;
    Some((fields.task_id.parse().ok()?, fields.source_arn))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_handles_round_trip() {
        let id = Uuid::new_v4();
        let arn = "arn:aws:sqs:us-east-1:000000000000:dlq";
        assert_eq!(
            decode_handle(&encode_handle(id, arn)),
            Some((id, arn.to_owned()))
        );
        let json: serde_json::Value =
            serde_json::from_slice(&STANDARD.decode(encode_handle(id, arn)).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"taskId": id.to_string(), "sourceArn": arn})
        );
        assert_eq!(decode_handle("garbage!"), None);
        assert_eq!(decode_handle(&STANDARD.encode("x y")), None);
        assert_eq!(
            decode_handle(&STANDARD.encode(r#"{"taskId":"x","sourceArn":"a"}"#)),
            None
        );
    }
}
