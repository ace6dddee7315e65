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
        r#"{"QueueUrl":"http://h/not/a/queue/url","MessageBody":"x"}"#,
    )
    .await;
    assert_eq!(
        (r.status, r.header("x-amzn-query-error")),
        (400, "AWS.SimpleQueueService.NonExistentQueue;Sender")
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

#[tokio::test]
async fn malformed_input_is_always_an_sqs_shaped_client_error() {
    let app = TestApp::spawn().await;
    let r = json(&app, "CreateQueue", r#"{"QueueName":"q"}"#).await;
    let url = r.json()["QueueUrl"].as_str().unwrap().to_owned();
    let q = format!(r#""QueueUrl":"{url}""#);
    let cases = [
        ("GetQueueUrl", r#"{"QueueName":"a\u0000b"}"#.to_owned()),
        ("GetQueueUrl", r#"{"QueueName":7}"#.to_owned()),
        ("GetQueueUrl", "[]".to_owned()),
        ("CreateQueue", r#"{"QueueName":"bad name"}"#.to_owned()),
        ("CreateQueue", r#"{"QueueName":"x","Attributes":{"DelaySeconds":5}}"#.to_owned()),
        ("CreateQueue", r#"{"QueueName":"x","Attributes":{"Nope":"1"}}"#.to_owned()),
        ("CreateQueue", r#"{"QueueName":"x","Attributes":{"RedrivePolicy":"{"}}"#.to_owned()),
        ("CreateQueue", r#"{"QueueName":"x","Attributes":{"RedrivePolicy":"{\"deadLetterTargetArn\":\"arn:aws:sqs:r:000000000000:a\u0000\",\"maxReceiveCount\":1}"}}"#.to_owned()),
        ("CreateQueue", r#"{"QueueName":"x","Attributes":{"Policy":"[1]"}}"#.to_owned()),
        ("CreateQueue", r#"{"QueueName":"x","tags":{"k\u0000":"v"}}"#.to_owned()),
        ("ListQueues", r#"{"NextToken":"!!!"}"#.to_owned()),
        ("ListQueues", r#"{"NextToken":"YQA","MaxResults":1}"#.to_owned()),
        ("ListQueues", r#"{"MaxResults":0}"#.to_owned()),
        ("SendMessage", format!(r#"{{{q},"MessageBody":"a\u0000"}}"#)),
        ("SendMessage", format!(r#"{{{q},"MessageBody":"x","MessageAttributes":{{"a":{{"DataType":"Binary","BinaryValue":"%%"}}}}}}"#)),
        ("SendMessage", format!(r#"{{{q},"MessageBody":"x","MessageAttributes":{{"a\u0000":{{"DataType":"String","StringValue":"v"}}}}}}"#)),
        ("SendMessage", format!(r#"{{{q},"MessageBody":"x","MessageSystemAttributes":{{"Other":{{"DataType":"String","StringValue":"v"}}}}}}"#)),
        ("SendMessage", format!(r#"{{{q},"MessageBody":"x","MessageGroupId":"a b"}}"#)),
        ("SendMessageBatch", format!(r#"{{{q},"Entries":"nope"}}"#)),
        ("SendMessageBatch", format!(r#"{{{q}}}"#)),
        ("ReceiveMessage", format!(r#"{{{q},"MaxNumberOfMessages":99999999999999999999}}"#)),
        ("ReceiveMessage", format!(r#"{{{q},"VisibilityTimeout":-1}}"#)),
        ("DeleteMessage", format!(r#"{{{q},"ReceiptHandle":"\u0000"}}"#)),
        ("ChangeMessageVisibility", format!(r#"{{{q},"ReceiptHandle":"x","VisibilityTimeout":43201}}"#)),
        ("ChangeMessageVisibilityBatch", format!(r#"{{{q},"Entries":[{{"Id":"a b","ReceiptHandle":"x"}}]}}"#)),
        ("TagQueue", format!(r#"{{{q},"Tags":{{"k":"v\u0000"}}}}"#)),
        ("UntagQueue", format!(r#"{{{q}}}"#)),
        ("AddPermission", format!(r#"{{{q},"Label":"l","AWSAccountIds":["x\u0000"],"Actions":["SendMessage"]}}"#)),
        ("AddPermission", format!(r#"{{{q},"Label":"l","AWSAccountIds":["111122223333"],"Actions":["Nope"]}}"#)),
        ("StartMessageMoveTask", r#"{"SourceArn":"arn:aws:sqs:r:000000000000:q\u0000"}"#.to_owned()),
        ("StartMessageMoveTask", r#"{"SourceArn":"nope"}"#.to_owned()),
        ("ListMessageMoveTasks", r#"{"SourceArn":"arn:aws:sqs:r:000000000000:q","MaxResults":11}"#.to_owned()),
        ("CancelMessageMoveTask", r#"{"TaskHandle":"MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAwIGFybjphd3M6c3FzOnI6MDAwMDAwMDAwMDAwOnEA"}"#.to_owned()),
        ("GetQueueAttributes", format!(r#"{{{q},"AttributeNames":["Nope"]}}"#)),
        ("SetQueueAttributes", format!(r#"{{{q},"Attributes":{{"SqsManagedSseEnabled":"maybe"}}}}"#)),
        ("ListDeadLetterSourceQueues", format!(r#"{{{q},"NextToken":"%%"}}"#)),
    ];
    let r = json(&app, "ListQueues", r#"{"QueueNamePrefix":"a\u0000"}"#).await;
    assert_eq!((r.status, r.body.as_str()), (200, "{}"));
    let untag = format!(r#"{{{q},"TagKeys":["k\u0000"]}}"#);
    assert_eq!(json(&app, "UntagQueue", &untag).await.status, 200);
    for (target, body) in cases {
        let r = json(&app, target, &body).await;
        assert!(
            (400..500).contains(&r.status),
            "{target} {body}: {} {}",
            r.status,
            r.body
        );
        assert!(
            r.json()["__type"]
                .as_str()
                .is_some_and(|t| t.starts_with("com.amazonaws.sqs#")),
            "{target} {body}: {}",
            r.body
        );
        assert!(
            r.header("x-amzn-query-error").ends_with(";Sender"),
            "{target} {body}"
        );
    }
}
