//! The legacy Query protocol: form fields in, XML out, also on queue-URL paths.

use crate::{client::form, helpers::TestApp};

#[tokio::test]
async fn query_requests_get_xml_responses() {
    let app = TestApp::spawn().await;
    let r = form(
        &app,
        "/",
        "Action=CreateQueue&Version=2012-11-05&QueueName=q&Attribute.1.Name=VisibilityTimeout&Attribute.1.Value=40&Tag.1.Key=t&Tag.1.Value=v",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), "text/xml");
    let url = app.url("/000000000000/q");
    assert!(
        r.body.contains(&format!(
            "<CreateQueueResult><QueueUrl>{url}</QueueUrl></CreateQueueResult>"
        )),
        "{}",
        r.body
    );
    assert!(r.body.contains("<ResponseMetadata><RequestId>"));

    let r = form(
        &app,
        "/000000000000/q",
        "Action=SendMessage&MessageBody=a%26b%0D%0A&MessageAttribute.1.Name=k&MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value.StringValue=v",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("<MD5OfMessageAttributes>"), "{}", r.body);
    let r = form(
        &app,
        "/",
        &format!(
            "Action=ReceiveMessage&QueueUrl={url}&AttributeName.1=All&MessageAttributeName.1=All"
        ),
    )
    .await;
    assert!(r.body.contains("<Body>a&amp;b&#xD;\n</Body>"), "{}", r.body);
    assert!(
        r.body.contains(
            "<Attribute><Name>ApproximateReceiveCount</Name><Value>1</Value></Attribute>"
        ),
        "{}",
        r.body
    );
    assert!(r.body.contains("<MessageAttribute><Name>k</Name><Value><DataType>String</DataType><StringValue>v</StringValue></Value></MessageAttribute>"), "{}", r.body);
    let r = form(
        &app,
        "/",
        &format!("Action=GetQueueAttributes&QueueUrl={url}&AttributeName.1=VisibilityTimeout"),
    )
    .await;
    assert!(
        r.body
            .contains("<Attribute><Name>VisibilityTimeout</Name><Value>40</Value></Attribute>"),
        "{}",
        r.body
    );
    let r = form(&app, "/", &format!("Action=ListQueueTags&QueueUrl={url}")).await;
    assert!(
        r.body.contains("<Tag><Key>t</Key><Value>v</Value></Tag>"),
        "{}",
        r.body
    );
    let r = form(&app, "/", &format!("Action=DeleteQueue&QueueUrl={url}")).await;
    assert_eq!(r.status, 200);
    assert!(
        r.body.starts_with("<?xml") && !r.body.contains("DeleteQueueResult"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn query_errors_use_legacy_codes() {
    let app = TestApp::spawn().await;
    let r = form(&app, "/", "Action=GetQueueUrl&QueueName=nope").await;
    assert_eq!(r.status, 400);
    assert!(
        r.body
            .contains("<Code>AWS.SimpleQueueService.NonExistentQueue</Code>"),
        "{}",
        r.body
    );
    assert!(r.body.contains("does not exist for this wsdl version."));
    assert!(r.body.contains("<Type>Sender</Type>"));
    let r = form(&app, "/", "Action=Bogus").await;
    assert!(r.body.contains("<Code>InvalidAction</Code>"), "{}", r.body);
    let r = form(&app, "/", "Action=CreateQueue&QueueName=q").await;
    let r2 = form(
        &app,
        "/",
        "Action=PurgeQueue&QueueUrl=http://x/000000000000/q",
    )
    .await;
    assert_eq!((r.status, r2.status), (200, 200));
    let r = form(&app, "/000000000000/q", "Action=PurgeQueue").await;
    assert_eq!(r.status, 403);
    assert!(
        r.body
            .contains("<Code>AWS.SimpleQueueService.PurgeQueueInProgress</Code>"),
        "{}",
        r.body
    );
}
