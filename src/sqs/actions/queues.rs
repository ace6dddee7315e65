//! Queue actions: GetQueueUrl, ListQueues, DeleteQueue, PurgeQueue,
//! ListDeadLetterSourceQueues (CreateQueue has its own file).

use serde::{Deserialize, Serialize};

use super::{Ctx, Empty, could_exist, required};
use crate::{
    auth::Scope,
    queue::cursor,
    sqs::{
        errors::{PURGE_QUEUE_IN_PROGRESS, SqsError, SqsResult},
        texts, urls,
    },
};

/// Most queue URLs one page lists.
const MAX_PAGE: i64 = 1000;

/// The output of CreateQueue and GetQueueUrl.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueueUrlOutput {
    queue_url: String,
}

impl QueueUrlOutput {
    pub(super) fn new(queue_url: String) -> Self {
        Self { queue_url }
    }
}

/// The input of GetQueueUrl.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetQueueUrlInput {
    queue_name: Option<String>,
    #[serde(rename = "QueueOwnerAWSAccountId")]
    owner: Option<String>,
}

/// The URL of a queue by name.
pub async fn get_queue_url(ctx: &Ctx<'_>, input: GetQueueUrlInput) -> SqsResult<QueueUrlOutput> {
    let name = required(input.queue_name, "QueueName")?;
    if input
        .owner
        .is_some_and(|owner| owner != urls::account_id(ctx.public_account()))
    {
        return Err(SqsError::no_such_queue());
    }
    if !could_exist(&name) {
        return Err(SqsError::no_such_queue());
    }
    ctx.authorize_any(&name)?;
    let queue = ctx.engine().get_queue(ctx.account(), &name).await?;
    Ok(QueueUrlOutput {
        queue_url: ctx.url(queue.name.as_str()),
    })
}

/// The input of ListQueues.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListQueuesInput {
    #[serde(default)]
    queue_name_prefix: String,
    max_results: Option<i64>,
    next_token: Option<String>,
}

/// The output of ListQueues.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListQueuesOutput {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    queue_urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// Lists queue URLs by name; pages (with `NextToken`) only when `MaxResults` is given.
pub async fn list_queues(ctx: &Ctx<'_>, input: ListQueuesInput) -> SqsResult<ListQueuesOutput> {
    let limit = page_size(input.max_results)?;
    let after = next_token(input.next_token.as_deref())?;
    let prefix = &input.queue_name_prefix;
    if !prefix
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        // No queue name has other characters.
        return Ok(ListQueuesOutput {
            queue_urls: Vec::new(),
            next_token: None,
        });
    }
    let mut queues = ctx
        .engine()
        .list_queues(
            ctx.account(),
            &input.queue_name_prefix,
            after.as_deref(),
            limit + 1,
        )
        .await?;
    let more = queues.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    queues.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_token = (more && input.max_results.is_some())
        .then(|| queues.last().map(|q| cursor::encode(q.name.as_str())))
        .flatten();
    let queue_urls = queues
        .iter()
        .filter(|q| ctx.caller.can_see(q.name.as_str()))
        .map(|q| ctx.url(q.name.as_str()))
        .collect();
    Ok(ListQueuesOutput {
        queue_urls,
        next_token,
    })
}

fn page_size(max_results: Option<i64>) -> SqsResult<i64> {
    match max_results {
        None => Ok(MAX_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(n) => Err(SqsError::invalid_value(
            n,
            "MaxResults",
            "MaxResults must be an integer between 1 and 1000.",
        )),
    }
}

fn next_token(token: Option<&str>) -> SqsResult<Option<String>> {
    token
        .filter(|t| !t.is_empty())
        .map(|t| {
            cursor::decode(t)
                .filter(|name| could_exist(name))
                .ok_or_else(|| SqsError::invalid("Invalid NextToken value."))
        })
        .transpose()
}

/// The input of actions that take only a queue URL (DeleteQueue, PurgeQueue).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueueUrlInput {
    queue_url: Option<String>,
}

/// Deletes a queue and its messages.
pub async fn delete_queue(ctx: &Ctx<'_>, input: QueueUrlInput) -> SqsResult<Empty> {
    let name = ctx.queue_name(input.queue_url.as_deref())?;
    ctx.authorize(Scope::QueuesManage, &name)?;
    ctx.engine().delete_queue(ctx.account(), &name).await?;
    Ok(Empty {})
}

/// Deletes every message of a queue, at most once a minute.
pub async fn purge_queue(ctx: &Ctx<'_>, input: QueueUrlInput) -> SqsResult<Empty> {
    let name = ctx.queue_name(input.queue_url.as_deref())?;
    ctx.authorize(Scope::QueuesManage, &name)?;
    match ctx
        .engine()
        .purge_queue_once_a_minute(ctx.account(), &name)
        .await?
    {
        Some(_) => Ok(Empty {}),
        None => Err(SqsError::new(
            PURGE_QUEUE_IN_PROGRESS,
            texts::purge_in_progress(&name),
        )),
    }
}

/// The input of ListDeadLetterSourceQueues.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListSourcesInput {
    queue_url: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

/// The output of ListDeadLetterSourceQueues.
#[derive(Debug, Serialize)]
pub struct ListSourcesOutput {
    /// Lower-case in the SQS model.
    #[serde(rename = "queueUrls")]
    queue_urls: Vec<String>,
    #[serde(rename = "NextToken", skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// The queues whose dead-letter queue is this one.
pub async fn list_dead_letter_source_queues(
    ctx: &Ctx<'_>,
    input: ListSourcesInput,
) -> SqsResult<ListSourcesOutput> {
    let name = ctx.queue_name(input.queue_url.as_deref())?;
    ctx.authorize_any(&name)?;
    let limit = usize::try_from(page_size(input.max_results)?).unwrap_or(usize::MAX);
    let after = next_token(input.next_token.as_deref())?;
    let queue = ctx.engine().get_queue(ctx.account(), &name).await?;
    let mut sources: Vec<String> = ctx
        .engine()
        .dead_letter_sources(&queue)
        .await?
        .into_iter()
        .filter(|source| after.as_ref().is_none_or(|after| source > after))
        .filter(|source| ctx.caller.can_see(source))
        .collect();
    let more = sources.len() > limit;
    sources.truncate(limit);
    let next_token = (more && input.max_results.is_some())
        .then(|| sources.last().map(|s| cursor::encode(s)))
        .flatten();
    Ok(ListSourcesOutput {
        queue_urls: sources.iter().map(|s| ctx.url(s)).collect(),
        next_token,
    })
}
