//! Behaviour that porting applications hit: empty Query lists, idempotent CreateQueue,
//! attribute-name wildcards, validation AWS does, invalid UTF-8, and AWS's exact error texts.

use aws_sdk_sqs::{
    Client,
    error::ProvideErrorMetadata,
    types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName},
};

use crate::{
    client::{Sqs, client, form, json, string_attribute},
    helpers::TestApp,
};

#[tokio::test]
async fn empty_query_lists_are_empty_lists() {
    let app = TestApp::spawn().await;
    let url = client(&app).new_queue("q").await;
    let r = form(
        &app,
        "/",
        &format!("Action=SendMessage&QueueUrl={url}&MessageBody=m"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = form(
        &app,
        "/",
        &format!("Action=ReceiveMessage&QueueUrl={url}&MessageAttributeNames=&AttributeNames="),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("<Body>m</Body>"), "{}", r.body);
    assert!(!r.body.contains("<Attribute>"), "{}", r.body);
    for empty in ["Entries=", "SendMessageBatchRequestEntry="] {
        let r = form(
            &app,
            "/",
            &format!("Action=SendMessageBatch&QueueUrl={url}&{empty}"),
        )
        .await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(
            r.body
                .contains("<Code>AWS.SimpleQueueService.EmptyBatchRequest</Code>"),
            "{}",
            r.body
        );
    }
}

#[tokio::test]
async fn create_queue_compares_only_the_attributes_given() {
    let app = TestApp::spawn().await;
    let sqs = client(&app);
    let url = sqs
        .create_queue()
        .queue_name("q")
        .attributes(QueueAttributeName::VisibilityTimeout, "69")
        .send()
        .await
        .unwrap();
    let url = url.queue_url().unwrap();
    let again = sqs.create_queue().queue_name("q").send().await.unwrap();
    assert_eq!(again.queue_url(), Some(url));
    let same = sqs
        .create_queue()
        .queue_name("q")
        .attributes(QueueAttributeName::VisibilityTimeout, "69")
        .attributes(QueueAttributeName::DelaySeconds, "0")
        .send()
        .await
        .unwrap();
    assert_eq!(same.queue_url(), Some(url));
    let r = form(&app, "/", "Action=CreateQueue&QueueName=q").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let err = sqs
        .create_queue()
        .queue_name("q")
        .attributes(QueueAttributeName::VisibilityTimeout, "70")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("QueueAlreadyExists"));
    assert_eq!(
        err.message(),
        Some(
            "A queue already exists with the same name and a different value for attribute \
             VisibilityTimeout"
        )
    );
}

#[tokio::test]
async fn attribute_name_wildcards_select_by_prefix() {
    let app = TestApp::spawn().await;
    let sqs = client(&app);
    let url = sqs.new_queue("q").await;
    let mut send = sqs.send_message().queue_url(&url).message_body("b");
    for name in ["Hello", "Help.Me", "Hi", "Custom1"] {
        send = send.message_attributes(name, string_attribute("String", "v"));
    }
    send.send().await.unwrap();
    let names = |pattern: &'static str| {
        let sqs = sqs.clone();
        let url = url.clone();
        async move {
            let received = sqs
                .receive_message()
                .queue_url(&url)
                .message_attribute_names(pattern)
                .message_system_attribute_names(MessageSystemAttributeName::from(pattern))
                .visibility_timeout(0)
                .send()
                .await
                .unwrap();
            let m = &received.messages()[0];
            let mut names: Vec<String> = m
                .message_attributes()
                .map(|a| a.keys().cloned().collect())
                .unwrap_or_default();
            names.sort();
            (names, m.attributes().map_or(0, |a| a.len()))
        }
    };
    assert_eq!(names("Hel.*").await.0, ["Hello", "Help.Me"]);
    assert_eq!(names("Custom.*").await.0, ["Custom1"]);
    for all in ["All", ".*", "*"] {
        let (names, system) = names(all).await;
        assert_eq!(names.len(), 4, "{all}");
        assert!(system >= 4, "{all}: system attributes too");
    }
}

#[tokio::test]
async fn tags_and_permissions_are_validated_as_aws_does() {
    let app = TestApp::spawn().await;
    let sqs = client(&app);
    let url = sqs.new_queue("q").await;
    let r = json(
        &app,
        "TagQueue",
        &format!(r#"{{"QueueUrl":"{url}","Tags":{{}}}}"#),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.header("x-amzn-query-error"), "MissingParameter;Sender");
    assert_eq!(
        r.json()["message"],
        "The request must contain the parameter Tags."
    );
    let r = form(&app, "/", &format!("Action=UntagQueue&QueueUrl={url}")).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("<Code>MissingParameter</Code>"),
        "{}",
        r.body
    );
    for action in [
        "AddPermission",
        "RemovePermission",
        "CreateQueue",
        "DeleteQueue",
        "SetQueueAttributes",
    ] {
        let err = sqs
            .add_permission()
            .queue_url(&url)
            .label("l")
            .aws_account_ids("111122223333")
            .actions(action)
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("InvalidParameterValue"));
        assert_eq!(
            err.message(),
            Some(
                format!(
                    "Value SQS:{action} for parameter ActionName is invalid. Reason: Only the \
                     queue owner is allowed to invoke this action."
                )
                .as_str()
            )
        );
    }
    sqs.add_permission()
        .queue_url(&url)
        .label("l")
        .aws_account_ids("111122223333")
        .actions("ReceiveMessage")
        .send()
        .await
        .unwrap();
    let policy = sqs.queue_attribute(&url, QueueAttributeName::Policy).await;
    let policy: serde_json::Value = serde_json::from_str(&policy).unwrap();
    assert_eq!(policy["Version"], "2008-10-17");
}

#[tokio::test]
async fn query_bodies_that_are_not_utf8_are_refused() {
    let app = TestApp::spawn().await;
    let url = client(&app).new_queue("q").await;
    let r = form(
        &app,
        "/",
        &format!("Action=SendMessage&QueueUrl={url}&MessageBody=%ff%fe"),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("<Code>InvalidMessageContents</Code>"),
        "{}",
        r.body
    );
    let r = form(&app, "/", &format!("Action=ReceiveMessage&QueueUrl={url}")).await;
    assert!(
        !r.body.contains("<Message>"),
        "nothing was stored: {}",
        r.body
    );
}

#[tokio::test]
async fn error_texts_are_aws_word_for_word() {
    let app = TestApp::spawn().await;
    let sqs = client(&app);
    let url = sqs
        .create_queue()
        .queue_name("small")
        .attributes(QueueAttributeName::MaximumMessageSize, "1024")
        .send()
        .await
        .unwrap();
    let url = url.queue_url().unwrap();
    let err = sqs
        .send_message()
        .queue_url(url)
        .message_body("x".repeat(1025))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"));
    assert_eq!(
        err.message(),
        Some(
            "One or more parameters are invalid. Reason: Message must be shorter than 1024 bytes."
        )
    );
    let err = sqs
        .send_message()
        .queue_url(url)
        .message_body("b")
        .message_group_id("g".repeat(129))
        .send()
        .await
        .unwrap_err();
    assert!(
        err.message().unwrap().ends_with(
            "Reason: MessageGroupId can only include alphanumeric and punctuation characters. \
             1 to 128 in length."
        ),
        "{err:?}"
    );
    let odd = MessageAttributeValue::builder()
        .data_type("Text")
        .string_value("v")
        .build()
        .unwrap();
    let err = sqs
        .send_message()
        .queue_url(url)
        .message_body("b")
        .message_attributes("X", odd)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        Some(
            "The message attribute 'X' has an invalid message attribute type, the set of \
             supported type prefixes is Binary, Number, and String."
        )
    );
}

/// Receives the one message of `url`, hiding it for `visibility` seconds; returns its handle.
async fn receive_handle(sqs: &Client, url: &str, visibility: i32) -> String {
    let received = sqs
        .receive_message()
        .queue_url(url)
        .visibility_timeout(visibility)
        .send()
        .await
        .unwrap();
    received.messages()[0].receipt_handle().unwrap().to_owned()
}

async fn depth(sqs: &Client, url: &str) -> (String, String) {
    let attrs = sqs.queue_attributes(url).await;
    (
        attrs[&QueueAttributeName::ApproximateNumberOfMessages].clone(),
        attrs[&QueueAttributeName::ApproximateNumberOfMessagesNotVisible].clone(),
    )
}

#[tokio::test]
async fn earlier_receipt_handles_still_act_on_their_message() {
    let app = TestApp::spawn().await;
    let sqs = client(&app);
    let url = sqs.new_queue("q").await;
    for body in ["json", "query", "batch"] {
        sqs.send_body(&url, body).await;
        let first = receive_handle(&sqs, &url, 0).await;
        let _second = receive_handle(&sqs, &url, 30).await;
        assert_eq!(depth(&sqs, &url).await, ("0".into(), "1".into()));
        // The first handle makes the message visible again…
        sqs.change_message_visibility()
            .queue_url(&url)
            .receipt_handle(&first)
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
        assert_eq!(depth(&sqs, &url).await, ("1".into(), "0".into()));
        let _third = receive_handle(&sqs, &url, 30).await;
        // …and deletes it, in flight under a later delivery.
        match body {
            "json" => {
                sqs.delete_message()
                    .queue_url(&url)
                    .receipt_handle(&first)
                    .send()
                    .await
                    .unwrap();
            }
            "query" => {
                let r = form(
                    &app,
                    "/",
                    &format!("Action=DeleteMessage&QueueUrl={url}&ReceiptHandle={first}"),
                )
                .await;
                assert_eq!(r.status, 200, "{}", r.body);
            }
            _ => {
                let entry = aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id("a")
                    .receipt_handle(&first)
                    .build()
                    .unwrap();
                let done = sqs
                    .delete_message_batch()
                    .queue_url(&url)
                    .entries(entry)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(done.successful().len(), 1, "{done:?}");
            }
        }
        assert_eq!(depth(&sqs, &url).await, ("0".into(), "0".into()), "{body}");
    }
}

#[tokio::test]
async fn the_trace_id_header_becomes_the_aws_trace_header() {
    let app = TestApp::spawn().await;
    let sqs = client(&app);
    let url = sqs.new_queue("q").await;
    sqs.send_message()
        .queue_url(&url)
        .message_body("json")
        .customize()
        .mutate_request(|r| {
            r.headers_mut().insert(
                "x-amzn-trace-id",
                "Root=1-00000000-000000000000000000000001",
            );
        })
        .send()
        .await
        .unwrap();
    let request = app
        .anonymous
        .post(app.url("/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "x-amzn-trace-id",
            "Root=1-00000000-000000000000000000000002",
        )
        .body(format!(
            "Action=SendMessageBatch&QueueUrl={url}&SendMessageBatchRequestEntry.1.Id=a\
             &SendMessageBatchRequestEntry.1.MessageBody=query"
        ));
    let r = crate::client::send(crate::client::fake_auth(request)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // An explicit system attribute wins over the header.
    let explicit = aws_sdk_sqs::types::MessageSystemAttributeValue::builder()
        .data_type("String")
        .string_value("Root=explicit")
        .build()
        .unwrap();
    sqs.send_message()
        .queue_url(&url)
        .message_body("explicit")
        .message_system_attributes(
            aws_sdk_sqs::types::MessageSystemAttributeNameForSends::AwsTraceHeader,
            explicit,
        )
        .customize()
        .mutate_request(|r| {
            r.headers_mut().insert("x-amzn-trace-id", "Root=ignored");
        })
        .send()
        .await
        .unwrap();
    sqs.send_body(&url, "none").await;
    let received = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::AwsTraceHeader)
        .send()
        .await
        .unwrap();
    let mut traces: Vec<(String, Option<String>)> = received
        .messages()
        .iter()
        .map(|m| {
            let trace = m
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::AwsTraceHeader))
                .cloned();
            (m.body().unwrap().to_owned(), trace)
        })
        .collect();
    traces.sort();
    assert_eq!(
        traces,
        [
            ("explicit".to_owned(), Some("Root=explicit".to_owned())),
            (
                "json".to_owned(),
                Some("Root=1-00000000-000000000000000000000001".to_owned())
            ),
            ("none".to_owned(), None),
            (
                "query".to_owned(),
                Some("Root=1-00000000-000000000000000000000002".to_owned())
            ),
        ]
    );
}
