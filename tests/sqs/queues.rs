//! Queue actions through the SDK: create (idempotent), URLs, attributes, listing with pages,
//! tags, permissions, purge, delete.

use std::collections::HashMap;

use aws_sdk_sqs::{error::ProvideErrorMetadata, types::QueueAttributeName};

use crate::{
    client::{Sqs, client},
    helpers::TestApp,
};

#[tokio::test]
async fn create_get_and_delete_a_queue() {
    let app = TestApp::spawn().await;
    let sqs = client(&app);
    let created = sqs
        .create_queue()
        .queue_name("orders")
        .attributes(QueueAttributeName::VisibilityTimeout, "45")
        .tags("team", "billing")
        .send()
        .await
        .unwrap();
    let url = created.queue_url().unwrap().to_owned();
    assert_eq!(url, app.url("/000000000000/orders"));
    // Same attributes: the same URL; different ones: QueueNameExists.
    let again = sqs
        .create_queue()
        .queue_name("orders")
        .attributes(QueueAttributeName::VisibilityTimeout, "45")
        .send()
        .await
        .unwrap();
    assert_eq!(again.queue_url(), Some(url.as_str()));
    let err = sqs
        .create_queue()
        .queue_name("orders")
        .attributes(QueueAttributeName::VisibilityTimeout, "46")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error().unwrap().is_queue_name_exists(),
        "{err:?}"
    );
    assert_eq!(
        err.message(),
        Some(
            "A queue already exists with the same name and a different value for attribute \
             VisibilityTimeout"
        )
    );
    assert_eq!(err.code(), Some("QueueAlreadyExists"));
    let got = sqs
        .get_queue_url()
        .queue_name("orders")
        .send()
        .await
        .unwrap();
    assert_eq!(got.queue_url(), Some(url.as_str()));

    sqs.delete_queue().queue_url(&url).send().await.unwrap();
    let err = sqs
        .get_queue_url()
        .queue_name("orders")
        .send()
        .await
        .unwrap_err();
    assert!(err.as_service_error().unwrap().is_queue_does_not_exist());
    assert_eq!(err.code(), Some("AWS.SimpleQueueService.NonExistentQueue"));
    let err = sqs.delete_queue().queue_url(&url).send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().is_queue_does_not_exist());
}

#[tokio::test]
async fn queue_attributes_read_and_write() {
    let app = TestApp::spawn().await;
    let sqs = client(&app);
    let url = &sqs.new_queue("q").await;
    let attrs: HashMap<String, String> = sqs
        .queue_attributes(url)
        .await
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
        .collect();
    let mut keys: Vec<&str> = attrs.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesDelayed",
            "ApproximateNumberOfMessagesNotVisible",
            "CreatedTimestamp",
            "DelaySeconds",
            "LastModifiedTimestamp",
            "MaximumMessageSize",
            "MessageRetentionPeriod",
            "QueueArn",
            "ReceiveMessageWaitTimeSeconds",
            "SqsManagedSseEnabled",
            "VisibilityTimeout",
        ]
    );
    assert_eq!(attrs["QueueArn"], "arn:aws:sqs:us-east-1:000000000000:q");
    assert_eq!(attrs["VisibilityTimeout"], "30");
    assert_eq!(attrs["MaximumMessageSize"], "1048576");
    assert_eq!(attrs["MessageRetentionPeriod"], "345600");

    sqs.set_queue_attributes()
        .queue_url(url)
        .attributes(QueueAttributeName::DelaySeconds, "5")
        .attributes(QueueAttributeName::ReceiveMessageWaitTimeSeconds, "2")
        .send()
        .await
        .unwrap();
    let some = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::DelaySeconds)
        .attribute_names(QueueAttributeName::ReceiveMessageWaitTimeSeconds)
        .send()
        .await
        .unwrap();
    let some = some.attributes().unwrap();
    assert_eq!(some.len(), 2);
    assert_eq!(some[&QueueAttributeName::DelaySeconds], "5");

    let none = sqs
        .get_queue_attributes()
        .queue_url(url)
        .send()
        .await
        .unwrap();
    assert!(none.attributes().is_none());

    let err = sqs
        .set_queue_attributes()
        .queue_url(url)
        .attributes(QueueAttributeName::VisibilityTimeout, "50000")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error().unwrap().is_invalid_attribute_value(),
        "{err:?}"
    );
    let err = sqs
        .create_queue()
        .queue_name("fifo-attr")
        .attributes(QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap_err();
    // FIFO queues, and only they, have names ending in `.fifo` (more in `fifo.rs`).
    assert_eq!(err.code(), Some("InvalidParameterValue"), "{err:?}");
    let err = sqs
        .create_queue()
        .queue_name("q.fifo")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"), "{err:?}");
}

#[tokio::test]
async fn list_queues_by_prefix_and_page() {
    let app = TestApp::spawn().await;
    let sqs = client(&app);
    for name in ["a1", "a2", "a3", "b1"] {
        sqs.new_queue(name).await;
    }
    let all = sqs.list_queues().send().await.unwrap();
    assert_eq!(all.queue_urls().len(), 4);
    assert!(all.next_token().is_none());
    let first = sqs
        .list_queues()
        .queue_name_prefix("a")
        .max_results(2)
        .send()
        .await
        .unwrap();
    assert_eq!(
        first.queue_urls(),
        [app.url("/000000000000/a1"), app.url("/000000000000/a2")]
    );
    let token = first.next_token().unwrap();
    let second = sqs
        .list_queues()
        .queue_name_prefix("a")
        .max_results(2)
        .next_token(token)
        .send()
        .await
        .unwrap();
    assert_eq!(second.queue_urls(), [app.url("/000000000000/a3")]);
    assert!(second.next_token().is_none());
    let paged: Vec<String> = sqs
        .list_queues()
        .max_results(1)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(paged.len(), 4);
    let none = sqs
        .list_queues()
        .queue_name_prefix("zzz")
        .send()
        .await
        .unwrap();
    assert!(none.queue_urls().is_empty());
}
