//! Spool over its Amazon SQS door: the same operations as the native client, through the
//! official `aws-sdk-sqs` client (AWS JSON 1.0, SigV4-signed) on the server's base URL.

use std::{
    collections::HashMap,
    error::Error,
    sync::{Arc, RwLock},
};

use anyhow::{Context, anyhow, bail};
use aws_sdk_sqs::{
    Client,
    config::{Credentials, Region, StalledStreamProtectionConfig, retry::RetryConfig},
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
    types::{DeleteMessageBatchRequestEntry, QueueAttributeName, SendMessageBatchRequestEntry},
};

use crate::{
    spool::{Received, is_fifo},
    workload::FifoTag,
};

/// SQS's largest batch (send, receive, delete).
const MAX_BATCH: usize = 10;

/// An SQS client for one Spool server, with the URLs of the queues it has created or looked up.
#[derive(Debug, Clone)]
pub struct SqsDoor {
    client: Client,
    urls: Arc<RwLock<HashMap<String, String>>>,
}

impl SqsDoor {
    /// A client for the server at `base`, signing with the access key in `AWS_ACCESS_KEY_ID`
    /// and `AWS_SECRET_ACCESS_KEY` (bench/run.sh issues them with the bearer token).
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let key = std::env::var("AWS_ACCESS_KEY_ID")
            .context("--door sqs needs AWS_ACCESS_KEY_ID (from `spool token create`)")?;
        let secret = std::env::var("AWS_SECRET_ACCESS_KEY")
            .context("--door sqs needs AWS_SECRET_ACCESS_KEY (from `spool token create`)")?;
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version_latest()
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(key, secret, None, None, "spool"))
            .endpoint_url(base)
            // A failed request counts as a failure, as on the native door: no hidden retries.
            .retry_config(RetryConfig::disabled())
            // Long polls legitimately stay silent for up to 20 s.
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            .build();
        Ok(Self {
            client: Client::from_conf(config),
            urls: Arc::default(),
        })
    }

    fn remember(&self, name: &str, url: String) {
        let mut urls = self.urls.write().unwrap_or_else(|e| e.into_inner());
        urls.insert(name.to_owned(), url);
    }

    /// The queue URL of `name`: remembered, or asked for once with GetQueueUrl.
    async fn url(&self, name: &str) -> anyhow::Result<String> {
        {
            let urls = self.urls.read().unwrap_or_else(|e| e.into_inner());
            if let Some(url) = urls.get(name) {
                return Ok(url.clone());
            }
        }
        let found = self
            .client
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .map_err(sdk)?;
        let url = found
            .queue_url
            .context("GetQueueUrl answered without a URL")?;
        self.remember(name, url.clone());
        Ok(url)
    }

    /// CreateQueue with a 30 s visibility timeout, as the native door's queues have; with
    /// `FifoQueue` when the name ends in `.fifo`.
    pub async fn create_queue(&self, name: &str) -> anyhow::Result<()> {
        let mut create = self
            .client
            .create_queue()
            .queue_name(name)
            .attributes(QueueAttributeName::VisibilityTimeout, "30")
            .attributes(QueueAttributeName::DelaySeconds, "0");
        if is_fifo(name) {
            create = create.attributes(QueueAttributeName::FifoQueue, "true");
        }
        let created = create.send().await.map_err(sdk)?;
        let url = created
            .queue_url
            .context("CreateQueue answered without a URL")?;
        self.remember(name, url);
        Ok(())
    }

    /// Looks up the URL of a queue created some other way (the native door, for relaxed queues).
    pub async fn adopt(&self, name: &str) -> anyhow::Result<()> {
        self.url(name).await.map(drop)
    }

    /// DeleteQueue; a missing queue is fine.
    pub async fn delete_queue(&self, name: &str) -> anyhow::Result<()> {
        let url = match self.url(name).await {
            Ok(url) => url,
            Err(e) if missing(&e) => return Ok(()),
            Err(e) => return Err(e),
        };
        let deleted = self.client.delete_queue().queue_url(url).send().await;
        self.urls
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        match deleted.map_err(sdk) {
            Err(e) if !missing(&e) => Err(e),
            _ => Ok(()),
        }
    }

    /// ApproximateNumberOfMessages.
    pub async fn visible(&self, name: &str) -> anyhow::Result<i64> {
        let got = self
            .client
            .get_queue_attributes()
            .queue_url(self.url(name).await?)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(sdk)?;
        got.attributes
            .as_ref()
            .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
            .context("GetQueueAttributes without ApproximateNumberOfMessages")?
            .parse()
            .context("ApproximateNumberOfMessages is not a number")
    }

    /// SendMessage for one body, SendMessageBatch (10 at a time) for more; to a FIFO queue
    /// with each message's `tags` (`MessageGroupId`, `MessageDeduplicationId`).
    pub async fn send(
        &self,
        name: &str,
        bodies: &[String],
        tags: Option<&[FifoTag]>,
    ) -> anyhow::Result<()> {
        let url = self.url(name).await?;
        let tag = |i: usize| tags.and_then(|t| t.get(i));
        if let [one] = bodies {
            self.client
                .send_message()
                .queue_url(url)
                .message_body(one)
                .set_message_group_id(tag(0).map(|t| t.group_id.clone()))
                .set_message_deduplication_id(tag(0).map(|t| t.deduplication_id.clone()))
                .send()
                .await
                .map_err(sdk)?;
            return Ok(());
        }
        for (c, chunk) in bodies.chunks(MAX_BATCH).enumerate() {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    let t = tag(c * MAX_BATCH + i);
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(b)
                        .set_message_group_id(t.map(|t| t.group_id.clone()))
                        .set_message_deduplication_id(t.map(|t| t.deduplication_id.clone()))
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()?;
            let sent = self
                .client
                .send_message_batch()
                .queue_url(&url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(sdk)?;
            if let Some(failure) = sent.failed.first() {
                bail!("{} of a batch send failed: {failure:?}", sent.failed.len());
            }
        }
        Ok(())
    }

    /// ReceiveMessage: up to `max` (at most 10) messages, waiting up to `wait` seconds.
    pub async fn receive(
        &self,
        name: &str,
        max: usize,
        wait: u32,
    ) -> anyhow::Result<Vec<Received>> {
        let got = self
            .client
            .receive_message()
            .queue_url(self.url(name).await?)
            .max_number_of_messages(i32::try_from(max.clamp(1, MAX_BATCH))?)
            .visibility_timeout(30)
            .wait_time_seconds(i32::try_from(wait)?)
            .send()
            .await
            .map_err(sdk)?;
        got.messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                Ok(Received {
                    receipt_handle: m.receipt_handle.context("message without ReceiptHandle")?,
                    body: m.body.unwrap_or_default(),
                })
            })
            .collect()
    }

    /// DeleteMessage for one handle, DeleteMessageBatch (10 at a time) for more; returns how
    /// many were deleted.
    pub async fn delete(&self, name: &str, handles: &[String]) -> anyhow::Result<usize> {
        let url = self.url(name).await?;
        if let [one] = handles {
            self.client
                .delete_message()
                .queue_url(url)
                .receipt_handle(one)
                .send()
                .await
                .map_err(sdk)?;
            return Ok(1);
        }
        let mut deleted = 0;
        for chunk in handles.chunks(MAX_BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(h)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()?;
            let done = self
                .client
                .delete_message_batch()
                .queue_url(&url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(sdk)?;
            if let Some(failure) = done.failed.first() {
                bail!(
                    "{} of a batch delete failed: {failure:?}",
                    done.failed.len()
                );
            }
            deleted += done.successful.len();
        }
        Ok(deleted)
    }
}

/// An SDK error as an `anyhow` error carrying its whole chain (code, message, status).
fn sdk<E, R>(e: SdkError<E, R>) -> anyhow::Error
where
    E: Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = e.code().unwrap_or_default().to_owned();
    anyhow!("SQS {code}: {}", DisplayErrorContext(&e))
}

/// Whether `e` says the queue does not exist.
fn missing(e: &anyhow::Error) -> bool {
    let text = e.to_string();
    text.contains("NonExistentQueue") || text.contains("QueueDoesNotExist")
}
