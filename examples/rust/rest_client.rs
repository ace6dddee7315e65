//! A small client of Spool's native REST API (`/v1/queues`) with `reqwest`: the calls the
//! fan-out example needs, with typed answers and errors in the API's own shape.

use reqwest::{
    Client, Method,
    header::{AUTHORIZATION, HeaderMap, HeaderValue},
};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Value, json};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// A client of Spool's REST API.
pub struct Spool {
    http: Client,
    base: String,
}

/// The answer of a receive.
#[derive(Debug, Deserialize)]
struct Received {
    pub messages: Vec<Message>,
}

/// A received message (the fields this example uses).
#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    pub receive_count: u32,
}

/// The answer of a batch: which entries (by `id`) succeeded and which failed.
#[derive(Debug, Deserialize)]
pub struct Batch {
    pub successful: Vec<Value>,
    pub failed: Vec<Value>,
}

impl Spool {
    pub fn new(base: &str, token: &str) -> Result<Self, Error> {
        let mut headers = HeaderMap::new();
        headers.insert(
            AUTHORIZATION,
            HeaderValue::try_from(format!("Bearer {token}"))?,
        );
        let http = Client::builder().default_headers(headers).build()?;
        Ok(Self {
            http,
            base: format!("{base}/v1/queues"),
        })
    }

    /// Calls `path` under `/v1/queues`; an error answer becomes an `Err` with its code.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Value,
    ) -> Result<T, Error> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if method != Method::GET {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        // 204 No Content (a delete) has no body.
        let answer: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)?
        };
        if !status.is_success() {
            return Err(format!("{method} {path}: {status} {}", answer["error"]).into());
        }
        Ok(serde_json::from_value(answer)?)
    }

    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: Value) -> Result<T, Error> {
        self.call(Method::POST, path, body).await
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        self.call(Method::GET, path, Value::Null).await
    }

    /// Receives up to `max` messages, hidden for `visibility` seconds, waiting up to `wait`.
    pub async fn receive(
        &self,
        queue: &str,
        max: u32,
        visibility: u64,
        wait: u64,
    ) -> Result<Vec<Message>, Error> {
        let request =
            json!({"max_messages": max, "wait_seconds": wait, "visibility_timeout": visibility});
        let received: Received = self
            .post(&format!("/{queue}/messages/receive"), request)
            .await?;
        Ok(received.messages)
    }

    /// Deletes `messages` in one request; returns the ids of those deleted.
    pub async fn delete_batch<'a>(
        &self,
        queue: &str,
        messages: &'a [Message],
    ) -> Result<Vec<&'a str>, Error> {
        if messages.is_empty() {
            return Ok(Vec::new()); // a batch holds 1 to 100 entries
        }
        let entries: Vec<Value> = (messages.iter().enumerate())
            .map(|(n, m)| json!({"id": n.to_string(), "receipt_handle": m.receipt_handle}))
            .collect();
        let path = format!("/{queue}/messages/delete");
        let batch: Batch = self.post(&path, json!({"entries": entries})).await?;
        Ok(picked(messages, &batch)
            .filter(|(_, entry)| entry["deleted"] == true)
            .map(|(m, _)| m.message_id.as_str())
            .collect())
    }

    /// Hides `messages` for `seconds` more from now; returns those changed.
    pub async fn extend<'a>(
        &self,
        queue: &str,
        messages: &'a [Message],
        seconds: u64,
    ) -> Result<Vec<&'a Message>, Error> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let entries: Vec<Value> = (messages.iter().enumerate())
            .map(|(n, m)| {
                let handle = &m.receipt_handle;
                json!({"id": n.to_string(), "receipt_handle": handle, "visibility_timeout": seconds})
            })
            .collect();
        let path = format!("/{queue}/messages/visibility");
        let batch: Batch = self.post(&path, json!({"entries": entries})).await?;
        Ok(picked(messages, &batch).map(|(m, _)| m).collect())
    }
}

/// The messages whose batch entry succeeded, with that entry.
fn picked<'a, 'b>(
    messages: &'a [Message],
    batch: &'b Batch,
) -> impl Iterator<Item = (&'a Message, &'b Value)> {
    batch.successful.iter().filter_map(|entry| {
        let n: usize = entry["id"].as_str()?.parse().ok()?;
        Some((messages.get(n)?, entry))
    })
}
