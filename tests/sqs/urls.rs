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

/// A client of `app` signing for `region`.
fn regional(app: &TestApp, region: &'static str) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_sqs::config::Region::new(region))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .endpoint_url(app.url(""))
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

#[tokio::test]
async fn regions_are_namespaces() {
    let app = TestApp::spawn().await;
    let east = regional(&app, "us-east-1");
    let europe = regional(&app, "eu-central-1");
    let east_url = east.create_queue().queue_name("q").send().await.unwrap();
    let east_url = east_url.queue_url().unwrap().to_owned();
    let eu_url = europe
        .create_queue()
        .queue_name("q")
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "7",
        )
        .send()
        .await
        .unwrap();
    let eu_url = eu_url.queue_url().unwrap().to_owned();
    assert_eq!(east_url, app.url("/000000000000/q"));
    assert_eq!(eu_url, app.url("/eu-central-1/000000000000/q"));
    europe
        .send_message()
        .queue_url(&eu_url)
        .message_body("eu")
        .send()
        .await
        .unwrap();
    let arn = |sqs: aws_sdk_sqs::Client, url: String| async move {
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .unwrap();
        attrs.attributes().unwrap().clone()
    };
    let east_attrs = arn(east.clone(), east_url.clone()).await;
    let eu_attrs = arn(europe.clone(), eu_url.clone()).await;
    use aws_sdk_sqs::types::QueueAttributeName as A;
    assert_eq!(
        east_attrs[&A::QueueArn],
        "arn:aws:sqs:us-east-1:000000000000:q"
    );
    assert_eq!(
        eu_attrs[&A::QueueArn],
        "arn:aws:sqs:eu-central-1:000000000000:q"
    );
    assert_eq!(east_attrs[&A::VisibilityTimeout], "30");
    assert_eq!(eu_attrs[&A::VisibilityTimeout], "7");
    assert_eq!(east_attrs[&A::ApproximateNumberOfMessages], "0");
    assert_eq!(eu_attrs[&A::ApproximateNumberOfMessages], "1");
    let listed = europe.list_queues().send().await.unwrap();
    assert_eq!(listed.queue_urls(), std::slice::from_ref(&eu_url));
    // The Query protocol on the regional queue URL path.
    let r = form(
        &app,
        "/eu-central-1/000000000000/q",
        "Action=ReceiveMessage",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The native API shows the default region's queues only.
    let native = app.get("/v1/queues").await;
    let names: Vec<&str> = native.body["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["q"]);
    assert_eq!(app.counts("q").await["visible"], 0);
    // A client that called a regional host gets URLs on that host, without a region path.
    let request = app
        .anonymous
        .post(app.url("/"))
        .header("host", "sqs.eu-central-1.example.test")
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", "AmazonSQS.GetQueueUrl")
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential=test/20260101/eu-central-1/sqs/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature={}",
                "0".repeat(64)
            ),
        )
        .header("x-amz-date", "20260101T000000Z")
        .body(r#"{"QueueName":"q"}"#);
    let r = crate::client::send(request).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["QueueUrl"],
        "http://sqs.eu-central-1.example.test/000000000000/q"
    );
    let accounts = app.get("/v1/accounts").await;
    assert_eq!(
        accounts.body["accounts"].as_array().map(Vec::len),
        Some(1),
        "{}",
        accounts.body
    );
}
