//! The aws-sdk-rust snippet of the README's "Use it with the AWS SDKs", run against a test
//! server (only the endpoint and credentials differ), so the documented code keeps working.

use aws_sdk_sqs::{
    Client, Config,
    config::{Credentials, Region},
};

use crate::helpers::TestApp;

async fn documented(endpoint: &str) -> Result<Vec<String>, aws_sdk_sqs::Error> {
    let config = Config::builder()
        .behavior_version_latest()
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("any", "any", None, None, "static"))
        .build();
    let sqs = Client::from_conf(config);

    let queue = sqs.create_queue().queue_name("orders").send().await?;
    let url = queue.queue_url().unwrap_or_default();
    sqs.send_message()
        .queue_url(url)
        .message_body("hello")
        .send()
        .await?;
    let received = sqs
        .receive_message()
        .queue_url(url)
        .wait_time_seconds(10)
        .send()
        .await?;
    let mut bodies = Vec::new();
    for message in received.messages() {
        bodies.push(message.body().unwrap_or_default().to_owned());
        if let Some(handle) = message.receipt_handle() {
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(handle)
                .send()
                .await?;
        }
    }
    Ok(bodies)
}

#[tokio::test]
async fn the_documented_rust_snippet_works() {
    let app = TestApp::spawn().await;
    assert_eq!(documented(&app.url("")).await.unwrap(), ["hello"]);
}
