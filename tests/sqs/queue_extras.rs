//! Tags, permissions (the `Policy` attribute) and the once-a-minute purge through the SDK.

use aws_sdk_sqs::{error::ProvideErrorMetadata, types::QueueAttributeName};

use crate::{
    client::{Sqs, client},
    helpers::TestApp,
};

#[tokio::test]
async fn tags_permissions_and_purge() {
    let app = TestApp::spawn().await;
    let sqs = client(&app);
    let url = sqs
        .create_queue()
        .queue_name("q")
        .tags("a", "1")
        .send()
        .await
        .unwrap();
    let url = url.queue_url().unwrap();
    sqs.tag_queue()
        .queue_url(url)
        .tags("b", "2")
        .tags("a", "3")
        .send()
        .await
        .unwrap();
    let tags = sqs.list_queue_tags().queue_url(url).send().await.unwrap();
    let tags = tags.tags().unwrap();
    assert_eq!((tags["a"].as_str(), tags["b"].as_str()), ("3", "2"));
    sqs.untag_queue()
        .queue_url(url)
        .tag_keys("a")
        .tag_keys("b")
        .send()
        .await
        .unwrap();
    let tags = sqs.list_queue_tags().queue_url(url).send().await.unwrap();
    assert!(tags.tags().is_none());

    sqs.add_permission()
        .queue_url(url)
        .label("senders")
        .aws_account_ids("111122223333")
        .actions("SendMessage")
        .send()
        .await
        .unwrap();
    let policy = sqs.queue_attribute(url, QueueAttributeName::Policy).await;
    let policy: serde_json::Value = serde_json::from_str(&policy).unwrap();
    assert_eq!(policy["Statement"][0]["Sid"], "senders");
    assert_eq!(policy["Statement"][0]["Action"], "SQS:SendMessage");
    let err = sqs
        .add_permission()
        .queue_url(url)
        .label("senders")
        .aws_account_ids("111122223333")
        .actions("*")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"));
    sqs.remove_permission()
        .queue_url(url)
        .label("senders")
        .send()
        .await
        .unwrap();
    let attrs = sqs.queue_attributes(url).await;
    assert!(!attrs.contains_key(&QueueAttributeName::Policy));
    let err = sqs
        .remove_permission()
        .queue_url(url)
        .label("senders")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"));

    sqs.send_message()
        .queue_url(url)
        .message_body("x")
        .send()
        .await
        .unwrap();
    sqs.purge_queue().queue_url(url).send().await.unwrap();
    let err = sqs.purge_queue().queue_url(url).send().await.unwrap_err();
    assert!(
        err.as_service_error().unwrap().is_purge_queue_in_progress(),
        "{err:?}"
    );
    let received = sqs.receive_message().queue_url(url).send().await.unwrap();
    assert!(received.messages().is_empty());
}
