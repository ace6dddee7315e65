//! Queue URL forms (bare names, any host) and Query-protocol GET requests.

use aws_sdk_sqs::error::ProvideErrorMetadata;

use crate::{
    client::{client, form, get, json},
    helpers::TestApp,
};

#[tokio::test]
async fn queue_urls_may_be_bare_names_or_any_host() {
    let app = TestApp::spawn().await;
    let sqs = client(&app);
    sqs.create_queue().queue_name("q").send().await.unwrap();
    for url in [
        "q",
        "https://sqs.eu-west-1.amazonaws.com/000000000000/q",
        "http://localhost:4566/000000000000/q",
    ] {
        sqs.send_message()
            .queue_url(url)
            .message_body("m")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e:?}"));
        let r = form(
            &app,
            "/",
            &format!("Action=SendMessage&QueueUrl={url}&MessageBody=m"),
        )
        .await;
        assert_eq!(r.status, 200, "{url}: {}", r.body);
    }
    for bad in [
        "http://h/q",
        "http://h/123/q",
        "/",
        "nope",
        "http://h/000000000000/nope",
    ] {
        let err = sqs
            .send_message()
            .queue_url(bad)
            .message_body("m")
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            err.code(),
            Some("AWS.SimpleQueueService.NonExistentQueue"),
            "{bad}: {err:?}"
        );
        let r = json(&app, "PurgeQueue", &format!(r#"{{"QueueUrl":"{bad}"}}"#)).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        let r = form(&app, "/", &format!("Action=PurgeQueue&QueueUrl={bad}")).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(r.body.contains("NonExistentQueue"), "{bad}: {}", r.body);
    }
}

#[tokio::test]
async fn query_requests_work_as_get() {
    let app = TestApp::spawn().await;
    let r = get(&app, "/?Action=CreateQueue&QueueName=q").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = get(&app, "/?Action=ListQueues&Version=2012-11-05").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let url = app.url("/000000000000/q");
    assert!(
        r.body.contains(&format!("<QueueUrl>{url}</QueueUrl>")),
        "{}",
        r.body
    );

    let r = get(&app, "/000000000000/q?Action=ReceiveMessage").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("<ReceiveMessageResult/>"), "{}", r.body);
    let r = get(&app, "/000000000000/q?Action=SendMessage&MessageBody=hi").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = get(&app, "/000000000000/q?Action=ReceiveMessage").await;
    assert!(r.body.contains("<Body>hi</Body>"), "{}", r.body);

    let r = get(&app, "/000000000000/q?Action=CreateQueue&QueueName=other").await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("<Code>InvalidAction</Code>"), "{}", r.body);
    assert!(
        r.body
            .contains("The action CreateQueue is not valid for this endpoint."),
        "{}",
        r.body
    );
    let r = form(&app, "/000000000000/q", "Action=ListQueues").await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("<Code>InvalidAction</Code>"), "{}", r.body);

    let r = get(&app, "/000000000000/q").await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(
        r.body.contains("<Code>UnknownOperationException</Code>"),
        "{}",
        r.body
    );
}
