//! The SDK client pointed at a test server, and raw-request helpers.

use aws_sdk_sqs::{
    Client, Config,
    config::{Credentials, Region, retry::RetryConfig},
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
