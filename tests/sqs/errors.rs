//! The wire shape of errors and responses, read raw: `__type`, `message`,
//! `x-amzn-query-error`, `x-amzn-RequestId`, status codes, omitted empty members.

use crate::{
    client::{json, unsigned},
    helpers::TestApp,
};

#[tokio::test]
async fn errors_carry_type_message_legacy_code_and_request_id() {
    let app = TestApp::spawn().await;
    let r = json(&app, "GetQueueUrl", r#"{"QueueName":"nope"}"#).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["__type"], "com.amazonaws.sqs#QueueDoesNotExist");
    assert_eq!(r.json()["message"], "The specified queue does not exist.");
    assert_eq!(
        r.header("x-amzn-query-error"),
        "AWS.SimpleQueueService.NonExistentQueue;Sender"
    );
    assert_eq!(r.header("content-type"), "application/x-amz-json-1.0");
    assert!(!r.header("x-amzn-requestid").is_empty());

    let r = json(&app, "NoSuchAction", "{}").await;
    assert_eq!(
        (r.status, r.header("x-amzn-query-error")),
        (400, "InvalidAction;Sender")
    );
    let r = json(&app, "SendMessage", "{not json").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.header("x-amzn-query-error"),
        "InvalidParameterValue;Sender"
    );
    let r = json(&app, "SendMessage", r#"{"MessageBody":"x"}"#).await;
    assert_eq!(r.header("x-amzn-query-error"), "MissingParameter;Sender");
    assert_eq!(
        r.json()["message"],
        "The request must contain the parameter QueueUrl."
    );
    let r = json(
        &app,
        "SendMessage",
        r#"{"QueueUrl":"not a url","MessageBody":"x"}"#,
    )
    .await;
    assert_eq!(
        (r.status, r.header("x-amzn-query-error")),
        (404, "InvalidAddress;Sender")
    );
    let r = json(
        &app,
        "ReceiveMessage",
        r#"{"QueueUrl":"http://h/000000000000/q","MaxNumberOfMessages":"ten"}"#,
    )
    .await;
    assert_eq!(
        (r.status, r.header("x-amzn-query-error")),
        (400, "InvalidParameterValue;Sender")
    );
    let r = json(
        &app,
        "ReceiveMessage",
        r#"{"QueueUrl":"http://h/000000000001/q"}"#,
    )
    .await;
    assert_eq!(
        r.header("x-amzn-query-error"),
        "AWS.SimpleQueueService.NonExistentQueue;Sender"
    );
    let r = unsigned(&app, "ListQueues", "{}").await;
    assert_eq!(
        (r.status, r.header("x-amzn-query-error")),
        (403, "MissingAuthenticationToken;Sender")
    );
}

#[tokio::test]
async fn responses_omit_empty_members_and_keep_model_casing() {
    let app = TestApp::spawn().await;
    let r = json(&app, "CreateQueue", r#"{"QueueName":"q","tags":{"t":"v"}}"#).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let url = r.json()["QueueUrl"].as_str().unwrap().to_owned();
    let r = json(&app, "ListQueueTags", &format!(r#"{{"QueueUrl":"{url}"}}"#)).await;
    assert_eq!(r.json(), serde_json::json!({"Tags": {"t": "v"}}));
    let r = json(
        &app,
        "ReceiveMessage",
        &format!(r#"{{"QueueUrl":"{url}"}}"#),
    )
    .await;
    assert_eq!(r.body, "{}");
    let r = json(
        &app,
        "ListDeadLetterSourceQueues",
        &format!(r#"{{"QueueUrl":"{url}"}}"#),
    )
    .await;
    assert_eq!(r.json(), serde_json::json!({"queueUrls": []}));
    let r = json(
        &app,
        "SendMessageBatch",
        &format!(r#"{{"QueueUrl":"{url}","Entries":[{{"Id":"a","MessageBody":"x"}}]}}"#),
    )
    .await;
    assert!(r.json().get("Failed").is_none(), "{}", r.body);
    assert_eq!(r.json()["Successful"][0]["Id"], "a");
    let r = json(
        &app,
        "DeleteMessage",
        &format!(r#"{{"QueueUrl":"{url}","ReceiptHandle":"bad"}}"#),
    )
    .await;
    assert_eq!(
        (r.status, r.header("x-amzn-query-error")),
        (404, "ReceiptHandleIsInvalid;Sender")
    );
    // Newer SDKs send x-amzn-query-mode; it changes nothing.
    let r = json(&app, "GetQueueUrl", r#"{"QueueName":"q"}"#).await;
    assert_eq!(r.json()["QueueUrl"], url);
}
