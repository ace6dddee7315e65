//! The SDK client pointed at a test server, shortcuts for the set-up most tests repeat, and
//! raw-request helpers.

use std::collections::HashMap;

use aws_sdk_sqs::{
    Client, Config,
    config::{Credentials, Region, retry::RetryConfig},
    operation::send_message::SendMessageOutput,
    types::{Message, MessageAttributeValue, QueueAttributeName},
};
use reqwest::header::HeaderMap;

use crate::helpers::TestApp;

/// An SDK client for `app` with the given credentials; retries off so errors surface at once.
pub fn client_with(app: &TestApp, key: &str, secret: &str) -> Client {
    let config = Config::builder()
        .behavior_version_latest()
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(key, secret, None, None, "test"))
        .endpoint_url(app.url(""))
        .retry_config(RetryConfig::disabled())
        .build();
    Client::from_conf(config)
}

/// A client with any credentials (development mode accepts them).
pub fn client(app: &TestApp) -> Client {
    client_with(app, "test", "test")
}

/// Shortcuts for the SDK calls tests make only to set up or look (each unwraps: a failure
/// there is a broken test, not the behaviour under test).
pub trait Sqs {
    /// Creates the standard queue `name` (or finds it, if it has default attributes) and returns
    /// its URL.
    async fn new_queue(&self, name: &str) -> String;
    /// Sends a message with only a body.
    async fn send_body(&self, url: &str, body: &str) -> SendMessageOutput;
    /// Receives (at most one message, with the queue's visibility timeout).
    async fn receive(&self, url: &str) -> Vec<Message>;
    /// Every attribute of the queue (`All`).
    async fn queue_attributes(&self, url: &str) -> HashMap<QueueAttributeName, String>;
    /// One attribute of the queue, asked for by name; it must be set.
    async fn queue_attribute(&self, url: &str, name: QueueAttributeName) -> String;
}

impl Sqs for Client {
    async fn new_queue(&self, name: &str) -> String {
        let created = self.create_queue().queue_name(name).send().await.unwrap();
        created.queue_url().unwrap().to_owned()
    }

    async fn send_body(&self, url: &str, body: &str) -> SendMessageOutput {
        self.send_message()
            .queue_url(url)
            .message_body(body)
            .send()
            .await
            .unwrap()
    }

    async fn receive(&self, url: &str) -> Vec<Message> {
        let received = self.receive_message().queue_url(url).send().await.unwrap();
        received.messages.unwrap_or_default()
    }

    async fn queue_attributes(&self, url: &str) -> HashMap<QueueAttributeName, String> {
        let got = self
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .unwrap();
        got.attributes.unwrap_or_default()
    }

    async fn queue_attribute(&self, url: &str, name: QueueAttributeName) -> String {
        let got = self
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(name.clone())
            .send()
            .await
            .unwrap();
        got.attributes().unwrap()[&name].clone()
    }
}

/// A message attribute of a `String` or `Number` data type (with an optional custom label).
pub fn string_attribute(data_type: &str, value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type(data_type)
        .string_value(value)
        .build()
        .unwrap()
}

/// A response read raw: status, headers, body text.
pub struct Raw {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Raw {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_default()
    }
}

/// A well-formed (unverified in development mode) Authorization header and its date.
pub fn fake_auth(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    request
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sqs/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=0000000000000000000000000000000000000000000000000000000000000000",
        )
        .header("x-amz-date", "20260101T000000Z")
}

async fn read(response: reqwest::Response) -> Raw {
    Raw {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.text().await.expect("body"),
    }
}

/// An AWS JSON request with `X-Amz-Target: AmazonSQS.<target>`.
pub async fn json(app: &TestApp, target: &str, body: &str) -> Raw {
    let request = app
        .anonymous
        .post(app.url("/"))
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", format!("AmazonSQS.{target}"))
        .body(body.to_owned());
    read(fake_auth(request).send().await.expect("request")).await
}

/// A Query-protocol request (form body) to `path`.
pub async fn form(app: &TestApp, path: &str, body: &str) -> Raw {
    let request = app
        .anonymous
        .post(app.url(path))
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(body.to_owned());
    read(fake_auth(request).send().await.expect("request")).await
}

/// Any request, unsigned.
pub async fn unsigned(app: &TestApp, target: &str, body: &str) -> Raw {
    let request = app
        .anonymous
        .post(app.url("/"))
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", format!("AmazonSQS.{target}"))
        .body(body.to_owned());
    read(request.send().await.expect("request")).await
}

/// Sends a request as the server gets it, read raw.
pub async fn send(request: reqwest::RequestBuilder) -> Raw {
    read(request.send().await.expect("request")).await
}

/// A Query-protocol GET of `path_and_query`, signed in headers.
pub async fn get(app: &TestApp, path_and_query: &str) -> Raw {
    let request = app.anonymous.get(app.url(path_and_query));
    read(fake_auth(request).send().await.expect("request")).await
}
