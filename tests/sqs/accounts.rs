//! Account ids on the SQS door (the default account's configured id), STS GetCallerIdentity,
//! and the server-side encryption attributes.

use std::time::Duration;

use aws_sdk_sqs::{error::ProvideErrorMetadata, types::QueueAttributeName};
use spool::{
    queue::EngineOptions,
    sqs::{SqsAuth, SqsConfig},
};

use crate::{
    client::{Sqs, client, form, json},
    helpers::TestApp,
};

async fn app_with_account_id(id: i64) -> TestApp {
    let sqs = SqsConfig {
        auth: SqsAuth::Development,
        ..SqsConfig::default()
    }
    .with_default_account_id(id);
    let options = EngineOptions {
        stats_max_age: Duration::ZERO,
        ..EngineOptions::default()
    };
    TestApp::spawn_with_sqs(options, sqs).await
}

#[tokio::test]
async fn the_default_account_shows_its_configured_id() {
    let app = app_with_account_id(123_456_789_012).await;
    let sqs = client(&app);
    let url = sqs.new_queue("q").await;
    assert_eq!(url, app.url("/123456789012/q"));
    assert_eq!(
        sqs.queue_attribute(&url, QueueAttributeName::QueueArn)
            .await,
        "arn:aws:sqs:us-east-1:123456789012:q"
    );
    let found = sqs
        .get_queue_url()
        .queue_name("q")
        .queue_owner_aws_account_id("123456789012")
        .send()
        .await
        .unwrap();
    assert_eq!(found.queue_url(), Some(url.as_str()));
    let err = sqs
        .send_message()
        .queue_url(app.url("/000000000000/q"))
        .message_body("m")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AWS.SimpleQueueService.NonExistentQueue"));
}

#[tokio::test]
async fn sts_get_caller_identity_answers_in_both_protocols() {
    let app = app_with_account_id(123_456_789_012).await;
    let r = app
        .anonymous
        .post(app.url("/"))
        .header("content-type", "application/x-amz-json-1.0")
        .header(
            "x-amz-target",
            "AWSSecurityTokenServiceV20110615.GetCallerIdentity",
        )
        .body("{}");
    let r = crate::client::send(crate::client::fake_auth(r)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let body = r.json();
    assert_eq!(body["Account"], "123456789012");
    assert_eq!(body["Arn"], "arn:aws:iam::123456789012:root");
    assert_eq!(body["UserId"], "123456789012");

    let r = form(&app, "/", "Action=GetCallerIdentity&Version=2011-06-15").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains(
            r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">"#
        ),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("<Account>123456789012</Account>"),
        "{}",
        r.body
    );
    // Not an SQS action.
    let r = json(&app, "GetCallerIdentity", "{}").await;
    assert_eq!(r.status, 400, "{}", r.body);
}

#[tokio::test]
async fn encryption_attributes_are_stored_and_returned() {
    let app = TestApp::spawn().await;
    let sqs = client(&app);
    let sse = |url: String| {
        let sqs = sqs.clone();
        async move {
            let attrs = sqs
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(QueueAttributeName::All)
                .send()
                .await
                .unwrap();
            let attrs = attrs.attributes().unwrap().clone();
            [
                QueueAttributeName::SqsManagedSseEnabled,
                QueueAttributeName::KmsMasterKeyId,
                QueueAttributeName::KmsDataKeyReusePeriodSeconds,
            ]
            .map(|name| attrs.get(&name).cloned())
        }
    };
    let plain = sqs.create_queue().queue_name("plain").send().await.unwrap();
    let plain = plain.queue_url().unwrap().to_owned();
    assert_eq!(sse(plain.clone()).await, [Some("true".into()), None, None]);
    let kms = sqs
        .create_queue()
        .queue_name("kms")
        .attributes(QueueAttributeName::KmsMasterKeyId, "alias/aws/sqs")
        .attributes(QueueAttributeName::KmsDataKeyReusePeriodSeconds, "600")
        .send()
        .await
        .unwrap();
    let kms = kms.queue_url().unwrap().to_owned();
    assert_eq!(
        sse(kms.clone()).await,
        [
            Some("false".into()),
            Some("alias/aws/sqs".into()),
            Some("600".into())
        ]
    );
    let r = form(
        &app,
        "/",
        &format!(
            "Action=SetQueueAttributes&QueueUrl={plain}&Attribute.1.Name=SqsManagedSseEnabled\
             &Attribute.1.Value=false"
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(sse(plain).await, [Some("false".into()), None, None]);
    sqs.set_queue_attributes()
        .queue_url(&kms)
        .attributes(QueueAttributeName::KmsMasterKeyId, "")
        .send()
        .await
        .unwrap();
    assert_eq!(
        sse(kms.clone()).await,
        [Some("true".into()), None, Some("600".into())]
    );
    let err = sqs
        .set_queue_attributes()
        .queue_url(&kms)
        .attributes(QueueAttributeName::KmsDataKeyReusePeriodSeconds, "10")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidAttributeValue"));
}
