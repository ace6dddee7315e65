//! Tag actions: TagQueue, UntagQueue, ListQueueTags.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Ctx, Empty, required};
use crate::{auth::Scope, sqs::errors::SqsResult};

/// The input of TagQueue.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagInput {
    queue_url: Option<String>,
    tags: Option<BTreeMap<String, String>>,
}

/// The input of UntagQueue.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagInput {
    queue_url: Option<String>,
    tag_keys: Option<Vec<String>>,
}

/// The input of ListQueueTags.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListInput {
    queue_url: Option<String>,
}

/// The output of ListQueueTags.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListOutput {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    tags: BTreeMap<String, String>,
}

/// Adds or overwrites tags.
pub async fn tag_queue(ctx: &Ctx<'_>, input: TagInput) -> SqsResult<Empty> {
    let name = ctx.queue_name(input.queue_url.as_deref())?;
    let tags = required(input.tags.filter(|t| !t.is_empty()), "Tags")?;
    let tags: Vec<(String, String)> = tags.into_iter().collect();
    ctx.authorize(Scope::QueuesManage, &name)?;
    ctx.engine().tag_queue(ctx.account(), &name, &tags).await?;
    Ok(Empty {})
}

/// Removes tags by key.
pub async fn untag_queue(ctx: &Ctx<'_>, input: UntagInput) -> SqsResult<Empty> {
    let name = ctx.queue_name(input.queue_url.as_deref())?;
    let keys = required(input.tag_keys.filter(|k| !k.is_empty()), "TagKeys")?;
    ctx.authorize(Scope::QueuesManage, &name)?;
    ctx.engine()
        .untag_queue(ctx.account(), &name, &keys)
        .await?;
    Ok(Empty {})
}

/// The queue's tags.
pub async fn list_queue_tags(ctx: &Ctx<'_>, input: ListInput) -> SqsResult<ListOutput> {
    let name = ctx.queue_name(input.queue_url.as_deref())?;
    ctx.authorize_any(&name)?;
    let tags = ctx.engine().tags(ctx.account(), &name).await?;
    Ok(ListOutput {
        tags: tags.into_iter().collect(),
    })
}
