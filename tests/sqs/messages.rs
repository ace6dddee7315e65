//! Message actions through the SDK: send with attributes and MD5s, receive with attribute
//! selection and long polling, visibility and delete.

use std::time::{Duration, Instant};

use aws_sdk_sqs::{
    error::ProvideErrorMetadata,
    primitives::Blob,
    types::{
        MessageAttributeValue, MessageSystemAttributeName, MessageSystemAttributeNameForSends,
        MessageSystemAttributeValue,
    },
};

use crate::{
    client::{Sqs, client, string_attribute as string},
    helpers::TestApp,
};

#[tokio::test]
async fn send_receive_delete_with_attributes_and_md5s() {
    let app = TestApp::spawn().await;
    let sqs = client(&app);
    let url = sqs.new_queue("q").await;
    let binary = MessageAttributeValue::builder()
        .data_type("Binary")
        .binary_value(Blob::new(b"Hello binary world!".to_vec()))
        .build()
        .unwrap();
    let trace = MessageSystemAttributeValue::builder()
        .data_type("String")
        .string_value("Root=1-5759e988-bd862e3fe1be46a994272793")
        .build()
        .unwrap();
    let sent = sqs
        .send_message()
        .queue_url(&url)
        .message_body("hello")
        .message_attributes("attribName1", string("String", "attribValue 1"))
        .message_attributes(
            "customNumberTypeAttrib",
            string("Number.float", "4563442423554324324264524243.32543234"),
        )
        .message_attributes("binaryAttribute", binary)
        .message_system_attributes(MessageSystemAttributeNameForSends::AwsTraceHeader, trace)
        .message_group_id("tenant-1")
        .send()
        .await
        .unwrap();
    // The vectors of sqs.md §2.7, as the SDK sees them.
    assert_eq!(
        sent.md5_of_message_body(),
        Some("5d41402abc4b2a76b9719d911017c592")
    );
    assert_eq!(
        sent.md5_of_message_attributes(),
        Some("c932db14a896c663f83c260297d594ff")
    );
    assert!(sent.md5_of_message_system_attributes().is_some());
    let id = sent.message_id().unwrap().to_owned();

    let received = sqs
        .receive_message()
        .queue_url(&url)
        .message_attribute_names("attribName1")
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    let [m] = received.messages() else {
        panic!("{received:?}")
    };
    assert_eq!(m.message_id(), Some(id.as_str()));
    assert_eq!(m.body(), Some("hello"));
    assert_eq!(m.md5_of_body(), Some("5d41402abc4b2a76b9719d911017c592"));
    assert_eq!(
        m.md5_of_message_attributes(),
        Some("19e27d4e946b072f3f58da80d94fd778")
    );
    assert_eq!(m.message_attributes().unwrap().len(), 1);
    let system = m.attributes().unwrap();
    assert_eq!(
        system[&MessageSystemAttributeName::ApproximateReceiveCount],
        "1"
    );
    assert_eq!(
        system[&MessageSystemAttributeName::AwsTraceHeader],
        "Root=1-5759e988-bd862e3fe1be46a994272793"
    );
    assert!(
        system[&MessageSystemAttributeName::SentTimestamp]
            .parse::<i64>()
            .unwrap()
            > 1_600_000_000_000
    );
    assert_eq!(
        system[&MessageSystemAttributeName::SenderId],
        "000000000000"
    );

    sqs.delete_message()
        .queue_url(&url)
        .receipt_handle(m.receipt_handle().unwrap())
        .send()
        .await
        .unwrap();
    // Deleting again is fine; a garbage handle is ReceiptHandleIsInvalid.
    sqs.delete_message()
        .queue_url(&url)
        .receipt_handle(m.receipt_handle().unwrap())
        .send()
        .await
        .unwrap();
    let err = sqs
        .delete_message()
        .queue_url(&url)
        .receipt_handle("garbage")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_receipt_handle_is_invalid(),
        "{err:?}"
    );
    assert!(sqs.receive(&url).await.is_empty());
}

#[tokio::test]
async fn receive_selects_attributes_by_prefix_and_returns_none_unasked() {
    let app = TestApp::spawn().await;
    let sqs = client(&app);
    let url = sqs.new_queue("q").await;
    sqs.send_message()
        .queue_url(&url)
        .message_body("b")
        .message_attributes("app.one", string("String", "1"))
        .message_attributes("app.two", string("Number", "2"))
        .message_attributes("other", string("String", "3"))
        .send()
        .await
        .unwrap();
    let received = sqs
        .receive_message()
        .queue_url(&url)
        .message_attribute_names("app.*")
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let m = &received.messages()[0];
    let mut names: Vec<&String> = m.message_attributes().unwrap().keys().collect();
    names.sort();
    assert_eq!(names, ["app.one", "app.two"]);
    assert!(m.attributes().is_none());
    let plain = sqs.receive(&url).await;
    let m = &plain[0];
    assert!(m.message_attributes().is_none() && m.md5_of_message_attributes().is_none());
}

#[tokio::test]
async fn long_polling_returns_as_soon_as_a_message_arrives() {
    let app = TestApp::spawn().await;
    let sqs = client(&app);
    let url = sqs.new_queue("q").await;
    let (sender, sender_url) = (sqs.clone(), url.clone());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        sender.send_body(&sender_url, "late").await;
    });
    let start = Instant::now();
    let received = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(10)
        .send()
        .await
        .unwrap();
    assert_eq!(received.messages().len(), 1);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    let start = Instant::now();
    let empty = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    assert!(empty.messages().is_empty());
    assert!(start.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn visibility_can_be_changed_and_limits_are_sqs_limits() {
    let app = TestApp::spawn().await;
    let sqs = client(&app);
    let url = sqs.new_queue("q").await;
    sqs.send_body(&url, "m").await;
    let first = sqs.receive(&url).await;
    let handle = first[0].receipt_handle().unwrap();
    assert!(sqs.receive(&url).await.is_empty());
    sqs.change_message_visibility()
        .queue_url(&url)
        .receipt_handle(handle)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let again = sqs
        .receive_message()
        .queue_url(&url)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .unwrap();
    let m = &again.messages()[0];
    assert_eq!(
        m.attributes().unwrap()[&MessageSystemAttributeName::ApproximateReceiveCount],
        "2"
    );

    let err = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(11)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"));
    assert_eq!(
        err.message(),
        Some(
            "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided."
        )
    );
    let err = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(21)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"));
    let err = sqs
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .delay_seconds(901)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"));
    let err = sqs
        .send_message()
        .queue_url(&url)
        .message_body("\u{1}")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_invalid_message_contents(),
        "{err:?}"
    );
    let err = sqs
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .message_attributes("e", string("String", ""))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        Some("Message (user) attribute 'e' must contain a non-empty value of type 'String'.")
    );
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

#[tokio::test]
async fn visibility_changes_on_expired_handles_succeed_and_on_deleted_messages_fail() {
    let app = TestApp::spawn().await;
    let sqs = client(&app);
    let url = sqs.new_queue("q").await;
    sqs.send_body(&url, "m").await;
    // Received with no visibility timeout: the handle is current but the message is visible.
    let received = sqs
        .receive_message()
        .queue_url(&url)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let handle = received.messages()[0].receipt_handle().unwrap();
    sqs.change_message_visibility()
        .queue_url(&url)
        .receipt_handle(handle)
        .visibility_timeout(30)
        .send()
        .await
        .unwrap();
    sqs.delete_message()
        .queue_url(&url)
        .receipt_handle(handle)
        .send()
        .await
        .unwrap();
    let err = sqs
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(handle)
        .visibility_timeout(30)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"));
    assert!(
        err.message().unwrap().ends_with(
            "Reason: Message does not exist or is not available for visibility timeout change."
        ),
        "{err:?}"
    );
}
