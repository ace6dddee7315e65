//! FIFO queues and fair queues through the SDK: attributes, AWS's errors (per entry in
//! batches), sequence numbers, deduplication, receive attempts, expired handles.

use aws_sdk_sqs::{
    error::ProvideErrorMetadata,
    types::{MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry},
};

use crate::{
    client::{Sqs, client},
    helpers::TestApp,
};

async fn fifo_queue(sqs: &aws_sdk_sqs::Client, name: &str, content_based: bool) -> String {
    sqs.create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(
            QueueAttributeName::ContentBasedDeduplication,
            content_based.to_string(),
        )
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn fifo_attributes_at_creation_and_their_errors() {
    let app = TestApp::spawn().await;
    let sqs = client(&app);
    let url = fifo_queue(&sqs, "jobs.fifo", true).await;
    let attrs = sqs.queue_attributes(&url).await;
    let get = |name: QueueAttributeName| attrs.get(&name).map(String::as_str);
    assert_eq!(get(QueueAttributeName::FifoQueue), Some("true"));
    assert_eq!(
        get(QueueAttributeName::ContentBasedDeduplication),
        Some("true")
    );
    assert_eq!(get(QueueAttributeName::DeduplicationScope), Some("queue"));
    assert_eq!(
        get(QueueAttributeName::FifoThroughputLimit),
        Some("perQueue")
    );
    // High-throughput mode by attribute, and creating it again with other values conflicts.
    sqs.set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::DeduplicationScope, "messageGroup")
        .attributes(QueueAttributeName::FifoThroughputLimit, "perMessageGroupId")
        .send()
        .await
        .unwrap();
    let err = sqs
        .create_queue()
        .queue_name("jobs.fifo")
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::DeduplicationScope, "queue")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error().unwrap().is_queue_name_exists(),
        "{err:?}"
    );
    assert!(err.message().unwrap().ends_with("DeduplicationScope"));
    let err = sqs
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::FifoQueue, "false")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error().unwrap().is_invalid_attribute_value(),
        "{err:?}"
    );
    // FIFO attributes on a standard queue are unknown to it.
    let err = sqs
        .create_queue()
        .queue_name("plain")
        .attributes(QueueAttributeName::ContentBasedDeduplication, "true")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        Some("Unknown Attribute ContentBasedDeduplication.")
    );
    let err = sqs
        .create_queue()
        .queue_name("x.fifo")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"));
    assert!(
        err.message()
            .unwrap()
            .contains("must end with .fifo suffix")
    );
    // A FIFO queue's dead-letter queue must be FIFO too.
    sqs.new_queue("std-dlq").await;
    let err = sqs
        .create_queue()
        .queue_name("src.fifo")
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(
            QueueAttributeName::RedrivePolicy,
            r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:std-dlq","maxReceiveCount":2}"#,
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"), "{err:?}");
}

#[tokio::test]
async fn send_errors_are_awss_and_per_entry_in_batches() {
    let app = TestApp::spawn().await;
    let sqs = client(&app);
    let url = fifo_queue(&sqs, "q.fifo", false).await;
    let err = sqs
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .message_deduplication_id("1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("MissingParameter"));
    assert_eq!(
        err.message(),
        Some("The request must contain the parameter MessageGroupId.")
    );
    let err = sqs
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .message_group_id("g")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"));
    assert_eq!(
        err.message(),
        Some(
            "The queue should either have ContentBasedDeduplication enabled or \
             MessageDeduplicationId provided explicitly"
        )
    );
    let err = sqs
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .message_group_id("g")
        .message_deduplication_id("1")
        .delay_seconds(5)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        Some(
            "Value 5 for parameter DelaySeconds is invalid. Reason: The request include \
             parameter that is not valid for this queue type."
        )
    );
    let entry = |id: &str, group: Option<&str>| {
        SendMessageBatchRequestEntry::builder()
            .id(id)
            .message_body(format!("body-{id}"))
            .set_message_group_id(group.map(str::to_owned))
            .message_deduplication_id(id)
            .build()
            .unwrap()
    };
    let batch = sqs
        .send_message_batch()
        .queue_url(&url)
        .entries(entry("a", Some("g")))
        .entries(entry("b", None))
        .entries(entry("c", Some("g")))
        .send()
        .await
        .unwrap();
    assert_eq!(batch.successful().len(), 2);
    assert_eq!(batch.failed()[0].id(), "b");
    assert_eq!(batch.failed()[0].code(), "MissingParameter");
    let seq = |i: usize| {
        batch.successful()[i]
            .sequence_number()
            .unwrap()
            .parse::<u128>()
            .unwrap()
    };
    assert!(seq(0) < seq(1));
}

#[tokio::test]
async fn fifo_receive_attributes_dedup_attempts_and_expired_handles() {
    let app = TestApp::spawn().await;
    let sqs = client(&app);
    let url = fifo_queue(&sqs, "q.fifo", true).await;
    let mut sent = Vec::new();
    for (group, body) in [("g", "one"), ("g", "two"), ("g", "one")] {
        let out = sqs
            .send_message()
            .queue_url(&url)
            .message_body(body)
            .message_group_id(group)
            .send()
            .await
            .unwrap();
        sent.push(out);
    }
    // The third is a content-based duplicate of the first.
    assert_eq!(sent[2].message_id(), sent[0].message_id());
    assert_eq!(sent[2].sequence_number(), sent[0].sequence_number());
    let receive = || {
        sqs.receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .receive_request_attempt_id("attempt-1")
    };
    let got = receive().send().await.unwrap();
    let messages = got.messages();
    assert_eq!(messages.len(), 2);
    let attrs = messages[0].attributes().unwrap();
    assert_eq!(
        attrs
            .get(&MessageSystemAttributeName::MessageGroupId)
            .map(String::as_str),
        Some("g")
    );
    assert_eq!(
        attrs
            .get(&MessageSystemAttributeName::SequenceNumber)
            .map(String::as_str),
        sent[0].sequence_number()
    );
    assert_eq!(
        attrs
            .get(&MessageSystemAttributeName::MessageDeduplicationId)
            .map(|d| d.len()),
        Some(64)
    );
    // The retried attempt: same messages, same handles.
    let retry = receive().send().await.unwrap();
    let handles = |r: &aws_sdk_sqs::operation::receive_message::ReceiveMessageOutput| {
        r.messages()
            .iter()
            .map(|m| m.receipt_handle().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(handles(&got), handles(&retry));
    // A handle stops working once its message is no longer in flight.
    let first = &handles(&got)[0];
    sqs.change_message_visibility()
        .queue_url(&url)
        .receipt_handle(first)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let err = sqs
        .delete_message()
        .queue_url(&url)
        .receipt_handle(first)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"));
    assert!(
        err.message()
            .unwrap()
            .ends_with("The receipt handle has expired.")
    );
    let err = sqs
        .receive_message()
        .queue_url(&url)
        .receive_request_attempt_id("not valid")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"));
}

#[tokio::test]
async fn a_fair_queue_returns_the_group_id_and_refuses_deduplication_ids() {
    let app = TestApp::spawn().await;
    let sqs = client(&app);
    let url = sqs.new_queue("fair").await;
    sqs.send_message()
        .queue_url(&url)
        .message_body("x")
        .message_group_id("tenant-7")
        .send()
        .await
        .unwrap();
    let got = sqs
        .receive_message()
        .queue_url(&url)
        .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
        .send()
        .await
        .unwrap();
    let attrs = got.messages()[0].attributes().unwrap();
    assert_eq!(
        attrs
            .get(&MessageSystemAttributeName::MessageGroupId)
            .map(String::as_str),
        Some("tenant-7")
    );
    assert!(!attrs.contains_key(&MessageSystemAttributeName::SequenceNumber));
    let err = sqs
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .message_deduplication_id("d")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"));
}
