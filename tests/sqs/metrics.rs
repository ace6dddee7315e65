//! Requests through the SQS door are counted per action in `/metrics`.

use crate::{client::client, helpers::TestApp};

#[tokio::test]
async fn sqs_requests_are_counted_by_action() {
    let app = TestApp::spawn().await;
    let sqs = client(&app);
    sqs.create_queue()
        .queue_name("metrics-sqs")
        .send()
        .await
        .unwrap();
    let text = app
        .anonymous
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = "spool_http_requests_total{door=\"sqs\",route=\"/\",method=\"POST\",action=\"CreateQueue\",status=\"200\"} ";
    assert!(text.contains(series), "no `{series}` in:\n{text}");
    assert!(text.contains(
        "spool_http_request_duration_seconds_count{door=\"sqs\",route=\"/\",method=\"POST\",action=\"CreateQueue\"} "
    ));
}
