//! A typed client of the native API, built on its own request and response types
//! (`spool::api::…`), for tests whose subject is not the JSON itself. Each call asserts the
//! success status it expects. Tests of errors and of the exact JSON keep using
//! `TestApp::post`/`get`, whose replies can still be read as a DTO with [`Reply::parse`].

use reqwest::{Method, StatusCode};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::json;
use spool::api::{
    messages::{
        DeleteBatchResponse, DeletedEntry, HandleEntry, PeekResponse, PeekedMessageDto,
        ReceiveRequest, ReceivedMessageDto, SendBatchResponse, SendEntryDto, SentMessage,
        VisibilityBatchResponse,
    },
    queues::{ListQueuesResponse, QueueResponse},
};

use crate::helpers::{Reply, TestApp};

impl Reply {
    /// The body as the API's response type `T`.
    pub fn parse<T: DeserializeOwned>(&self) -> T {
        serde_json::from_value(self.body.clone())
            .unwrap_or_else(|e| panic!("not the expected response ({e}): {}", self.body))
    }
}

/// The native API of a test app, typed: see [`TestApp::api`].
pub struct Api<'a>(&'a TestApp);

impl TestApp {
    /// A typed client of this app's native API, with the app's admin token.
    pub fn api(&self) -> Api<'_> {
        Api(self)
    }
}

impl Api<'_> {
    /// Sends `body` to `path`, asserts the status is `expected` and reads the response as `T`.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<impl Serialize>,
        expected: StatusCode,
    ) -> T {
        let body = body.map(|body| serde_json::to_value(body).expect("request body"));
        let reply = self.0.request(method, path, body).await;
        assert_eq!(reply.status, expected, "{}", reply.body);
        reply.parse()
    }

    async fn post<T: DeserializeOwned>(&self, path: &str, body: impl Serialize) -> T {
        self.call(Method::POST, path, Some(body), StatusCode::OK)
            .await
    }

    /// One queue, with its counts.
    pub async fn queue(&self, name: &str) -> QueueResponse {
        let path = format!("/v1/queues/{name}");
        self.call(Method::GET, &path, None::<()>, StatusCode::OK)
            .await
    }

    /// One page of the queue list; `query` is the query string (without `?`).
    pub async fn list_queues(&self, query: &str) -> ListQueuesResponse {
        let path = format!("/v1/queues?{query}");
        self.call(Method::GET, &path, None::<()>, StatusCode::OK)
            .await
    }

    /// Sends one message with only a body.
    pub async fn send(&self, queue: &str, body: &str) -> SentMessage {
        let path = format!("/v1/queues/{queue}/messages");
        let body = json!({ "body": body });
        self.call(Method::POST, &path, Some(body), StatusCode::CREATED)
            .await
    }

    /// Sends a batch (entries may fail one by one).
    pub async fn send_batch(&self, queue: &str, messages: &[SendEntryDto]) -> SendBatchResponse {
        let path = format!("/v1/queues/{queue}/messages");
        self.post(&path, json!({ "messages": messages })).await
    }

    /// Receives with these options.
    pub async fn receive(&self, queue: &str, options: ReceiveRequest) -> Vec<ReceivedMessageDto> {
        let path = format!("/v1/queues/{queue}/messages/receive");
        let response: spool::api::messages::ReceiveResponse = self.post(&path, options).await;
        response.messages
    }

    /// Deletes one message by receipt handle.
    pub async fn delete(&self, queue: &str, handle: &str) -> DeletedEntry {
        let path = format!("/v1/queues/{queue}/messages/delete");
        self.post(&path, json!({ "receipt_handle": handle })).await
    }

    /// Deletes a batch by receipt handles.
    pub async fn delete_batch(&self, queue: &str, entries: &[HandleEntry]) -> DeleteBatchResponse {
        let path = format!("/v1/queues/{queue}/messages/delete");
        self.post(&path, json!({ "entries": entries })).await
    }

    /// Changes one message's visibility timeout (204).
    pub async fn change_visibility(&self, queue: &str, handle: &str, timeout: i64) {
        let path = format!("/v1/queues/{queue}/messages/visibility");
        let body = json!({ "receipt_handle": handle, "visibility_timeout": timeout });
        self.call::<()>(Method::POST, &path, Some(body), StatusCode::NO_CONTENT)
            .await;
    }

    /// Changes a batch of visibility timeouts.
    pub async fn change_visibility_batch(
        &self,
        queue: &str,
        entries: &[HandleEntry],
    ) -> VisibilityBatchResponse {
        let path = format!("/v1/queues/{queue}/messages/visibility");
        self.post(&path, json!({ "entries": entries })).await
    }

    /// Up to `limit` messages, oldest first, without receiving them.
    pub async fn peek(&self, queue: &str, limit: i64) -> Vec<PeekedMessageDto> {
        let path = format!("/v1/queues/{queue}/messages/peek?limit={limit}");
        let response: PeekResponse = self
            .call(Method::GET, &path, None::<()>, StatusCode::OK)
            .await;
        response.messages
    }
}
