//! Batch actions through the SDK: per-entry results, and the structural errors that fail the
//! whole request.

use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    SendMessageBatchRequestEntry,
};

use crate::{
    client::{Sqs, client},
    helpers::TestApp,
};

#[tokio::test]
async fn batches_report_per_entry_results() {
    let app = TestApp::spawn().await;
    let sqs = client(&app);
    let url = sqs.new_queue("q").await;
    let entry = |id: &str, body: &str| {
        SendMessageBatchRequestEntry::builder()
            .id(id)
            .message_body(body)
            .build()
            .unwrap()
    };
    let sent = sqs
        .send_message_batch()
        .queue_url(&url)
        .entries(entry("a", "one"))
        .entries(entry("b", ""))
        .entries(entry("c", "three"))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.successful().len(), 2);
    let [failed] = sent.failed() else {
        panic!("{sent:?}")
    };
    assert_eq!(
        (failed.id(), failed.code(), failed.sender_fault()),
        ("b", "MissingParameter", true)
    );

    let too_many = (0..11).map(|i| entry(&format!("m{i}"), "x"));
    let err = sqs
        .send_message_batch()
        .queue_url(&url)
        .set_entries(Some(too_many.collect()))
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_too_many_entries_in_batch_request()
    );
    let err = sqs
        .send_message_batch()
        .queue_url(&url)
        .entries(entry("a", "x"))
        .entries(entry("a", "y"))
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_batch_entry_ids_not_distinct()
    );
    let err = sqs
        .send_message_batch()
        .queue_url(&url)
        .entries(entry("no spaces", "x"))
        .send()
        .await
        .unwrap_err();
    assert!(err.as_service_error().unwrap().is_invalid_batch_entry_id());
    let big = "x".repeat(600_000);
    let err = sqs
        .send_message_batch()
        .queue_url(&url)
        .entries(entry("a", &big))
        .entries(entry("b", &big))
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error().unwrap().is_batch_request_too_long(),
        "{err:?}"
    );
    let err = sqs
        .send_message_batch()
        .queue_url(&url)
        .set_entries(Some(vec![]))
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error().unwrap().is_empty_batch_request(),
        "{err:?}"
    );

    let received = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    assert_eq!(received.messages().len(), 2);
    let handles: Vec<&str> = received
        .messages()
        .iter()
        .map(|m| m.receipt_handle().unwrap())
        .collect();
    let changed = sqs
        .change_message_visibility_batch()
        .queue_url(&url)
        .entries(
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id("x")
                .receipt_handle(handles[0])
                .visibility_timeout(60)
                .build()
                .unwrap(),
        )
        .entries(
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id("y")
                .receipt_handle("garbage")
                .visibility_timeout(60)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(changed.successful().len(), 1);
    assert_eq!(changed.failed()[0].code(), "ReceiptHandleIsInvalid");
    let deleted = sqs
        .delete_message_batch()
        .queue_url(&url)
        .entries(
            DeleteMessageBatchRequestEntry::builder()
                .id("x")
                .receipt_handle(handles[0])
                .build()
                .unwrap(),
        )
        .entries(
            DeleteMessageBatchRequestEntry::builder()
                .id("y")
                .receipt_handle(handles[1])
                .build()
                .unwrap(),
        )
        .entries(
            DeleteMessageBatchRequestEntry::builder()
                .id("z")
                .receipt_handle("garbage")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.successful().len(), 2);
    assert_eq!(deleted.failed()[0].id(), "z");
}
