//! Reliability defects of the SQS door: dead-letter targets and move-task destinations take
//! send rights, and text PostgreSQL cannot store (NUL) is refused before it gets there.

use aws_sdk_sqs::{
    Client,
    error::ProvideErrorMetadata,
    types::{MessageSystemAttributeNameForSends, MessageSystemAttributeValue, QueueAttributeName},
};
use spool::{
    queue::EngineOptions,
    sqs::{CredentialSource, SqsAuth, SqsConfig},
};

use crate::{
    client::{Sqs, client_with},
    helpers::TestApp,
};

/// An SDK client signing with a fresh token of the default account holding `scopes`.
async fn client_for(app: &TestApp, scopes: &[&str]) -> Client {
    let grants: Vec<_> = scopes.iter().map(|s| s.parse().unwrap()).collect();
    let issued = app.auth.issue(0, "scoped", &grants, None).await.unwrap();
    client_with(app, &issued.record.access_key_id, &issued.secret_access_key)
}

async fn verifying_app() -> TestApp {
    let sqs = SqsConfig {
        public_url: None,
        auth: SqsAuth::Verify(CredentialSource::Tokens),
        ..SqsConfig::default()
    };
    TestApp::spawn_with_sqs(EngineOptions::default(), sqs).await
}

#[tokio::test]
async fn dead_letter_targets_and_move_destinations_take_send_rights() {
    let app = verifying_app().await;
    let admin = client_for(&app, &["admin"]).await;
    let mut arns = Vec::new();
    for name in ["billing", "orders-a", "orders-dlq"] {
        let url = admin.new_queue(name).await;
        arns.push(
            admin
                .queue_attribute(&url, QueueAttributeName::QueueArn)
                .await,
        );
    }
    let orders_url = app.url("/000000000000/orders-a");
    let redrive = format!(
        r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":"3"}}"#,
        arns[0]
    );
    let manager = client_for(
        &app,
        &["queues:manage:orders-*", "messages:receive:billing"],
    )
    .await;
    let err = manager
        .set_queue_attributes()
        .queue_url(&orders_url)
        .attributes(QueueAttributeName::RedrivePolicy, &redrive)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDenied"), "{err:?}");
    let err = manager
        .create_queue()
        .queue_name("orders-b")
        .attributes(QueueAttributeName::RedrivePolicy, &redrive)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDenied"), "{err:?}");
    let err = manager
        .start_message_move_task()
        .source_arn(&arns[2])
        .destination_arn(&arns[0])
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDenied"), "{err:?}");

    let sender = client_for(&app, &["queues:manage:orders-*", "messages:send:billing"]).await;
    sender
        .set_queue_attributes()
        .queue_url(&orders_url)
        .attributes(QueueAttributeName::RedrivePolicy, &redrive)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_trace_header_with_nul_is_refused_by_name() {
    let app = verifying_app().await;
    let admin = client_for(&app, &["admin"]).await;
    let url = admin.create_queue().queue_name("q").send().await.unwrap();
    let trace = MessageSystemAttributeValue::builder()
        .data_type("String")
        .string_value("Root=1-\u{0}")
        .build()
        .unwrap();
    let err = admin
        .send_message()
        .queue_url(url.queue_url().unwrap())
        .message_body("x")
        .message_system_attributes(MessageSystemAttributeNameForSends::AwsTraceHeader, trace)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"), "{err:?}");
    assert!(err.message().unwrap().contains("AWSTraceHeader"), "{err:?}");
}

#[tokio::test]
async fn a_huge_bogus_receipt_handle_is_not_echoed_whole() {
    let app = verifying_app().await;
    let admin = client_for(&app, &["admin"]).await;
    let url = admin.create_queue().queue_name("q").send().await.unwrap();
    let handle = "x".repeat(1024 * 1024);
    let err = admin
        .delete_message()
        .queue_url(url.queue_url().unwrap())
        .receipt_handle(&handle)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ReceiptHandleIsInvalid"), "{err:?}");
    assert!(err.message().unwrap().len() < 1000, "echoed whole");
}

#[tokio::test]
async fn json_declared_in_another_charset_is_refused() {
    let app = TestApp::spawn().await;
    let r = crate::client::send(
        app.anonymous
            .post(app.url("/"))
            .header("content-type", "application/x-amz-json-1.0; charset=latin1")
            .header("x-amz-target", "AmazonSQS.ListQueues")
            .header(
                "authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sqs/aws4_request, \
                     SignedHeaders=host;x-amz-date, Signature={}",
                    "0".repeat(64)
                ),
            )
            .header("x-amz-date", "20260101T000000Z")
            .body("{}"),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("UTF-8"), "{}", r.body);
}

/// A lost database is SQS's retryable `ServiceUnavailable` (503, `Retry-After`), decided fast.
#[tokio::test]
async fn a_lost_database_is_service_unavailable_on_the_sqs_door() {
    let sqs = SqsConfig {
        public_url: None,
        auth: SqsAuth::Verify(CredentialSource::Tokens),
        ..SqsConfig::default()
    };
    let (app, proxy) = crate::proxy::app_behind_proxy(sqs).await;
    let grants = vec!["admin".parse().unwrap()];
    let issued = app.auth.issue(0, "admin", &grants, None).await.unwrap();
    let admin = client_with(
        &app,
        &issued.record.access_key_id,
        &issued.secret_access_key,
    );
    let url = admin.create_queue().queue_name("q").send().await.unwrap();
    let url = url.queue_url().unwrap();
    proxy.cut();
    let started = std::time::Instant::now();
    let err = admin
        .send_message()
        .queue_url(url)
        .message_body("x")
        .send()
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.code(), Some("ServiceUnavailable"), "{err:?}");
    let raw = err.raw_response().expect("a response");
    assert_eq!(raw.status().as_u16(), 503);
    assert_eq!(raw.headers().get("retry-after"), Some("1"));
    proxy.restore().await;
    // A pooled connection the cut broke may fail once more before it is discarded.
    let mut sent = false;
    for _ in 0..20 {
        let send = admin
            .send_message()
            .queue_url(url)
            .message_body("x")
            .send()
            .await;
        if send.is_ok() {
            sent = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(sent, "the SQS door did not recover");
}
