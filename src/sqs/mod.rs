//! The SQS wire adapter: a thin translator from the Amazon SQS protocols onto the queue engine.
//!
//! Requests arrive as AWS JSON 1.0 (`POST /` with `X-Amz-Target: AmazonSQS.<Action>`) or as the
//! legacy Query protocol (form fields in, XML out; also on queue-URL paths). Both decode into the
//! same JSON input, run the same action handler (`actions/`), and encode its JSON output back
//! in the request's protocol. Every response carries `x-amzn-RequestId`.

pub mod actions;
pub mod auth;
pub mod errors;
pub mod json;
pub mod query;
pub mod sigv4;
pub mod urls;
pub mod xml;

use axum::{
    Router,
    body::{Bytes, to_bytes},
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, header, request::Parts},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::Value;

pub use self::auth::{CredentialSource, SqsAuth, StaticCredential};
use self::{
    actions::Ctx,
    errors::{SqsError, SqsResult},
};
use crate::{api::AppState, error::ApiError};

/// Largest request body: a 1 MiB batch, escaped in JSON or form encoding, with room to spare.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// The signing region assumed in ARNs when a request carries none.
const DEFAULT_REGION: &str = "us-east-1";

/// Settings of the SQS door.
#[derive(Debug, Clone, Default)]
pub struct SqsConfig {
    /// Base URL of queue URLs (no trailing slash); `None` uses the `Host` the client called.
    pub public_url: Option<String>,
    pub auth: SqsAuth,
}

impl SqsConfig {
    /// Settings with an optional public base URL: signatures verified against API tokens'
    /// key pairs, or (development mode) any credentials accepted.
    pub fn new(public_url: Option<String>, development: bool) -> Self {
        Self {
            public_url: public_url.map(|url| url.trim_end_matches('/').to_owned()),
            auth: if development {
                SqsAuth::Development
            } else {
                SqsAuth::Verify(auth::CredentialSource::Tokens)
            },
        }
    }
}

/// The SQS routes: `POST /` and the queue-URL paths `/<account>/<queue>` (Query protocol).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", post(handle))
        .route("/{account}/{queue}", post(handle).get(handle))
}

/// The two wire protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Json,
    Query,
}

async fn handle(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if parts.uri.path() != "/" && !is_queue_path(parts.uri.path()) {
        return ApiError::RouteNotFound.into_response();
    }
    let request_id = uuid::Uuid::new_v4().to_string();
    let protocol = protocol(&parts.headers);
    let (action, result) = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => process(&state, &parts, &body, protocol).await,
        Err(_) => (
            None,
            Err(SqsError::invalid("The request body is too large.")),
        ),
    };
    let mut response = match (protocol, result) {
        (Protocol::Json, Ok(output)) => json::success(&output),
        (Protocol::Json, Err(error)) => json::error(&error),
        (Protocol::Query, Ok(output)) => {
            xml::success(action.unwrap_or_default(), &output, &request_id)
        }
        (Protocol::Query, Err(error)) => xml::error(&error, &request_id),
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amzn-requestid", value);
    }
    if let Some(action) = action {
        response
            .extensions_mut()
            .insert(crate::telemetry::prometheus::SqsAction(action));
    }
    response
}

/// Authenticates, decodes, runs the action. Returns the action's name when it was known.
async fn process(
    state: &AppState,
    parts: &Parts,
    body: &Bytes,
    protocol: Protocol,
) -> (Option<&'static str>, SqsResult<Value>) {
    let signed = sigv4::Request {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or_default(),
        headers: &parts.headers,
        body,
    };
    let (caller, region) = match auth::authenticate(state, &signed).await {
        Ok(found) => {
            found.0.record();
            found
        }
        Err(error) => return (None, Err(error)),
    };
    let decoded = match protocol {
        Protocol::Json => json::decode(&parts.headers, body),
        Protocol::Query => query::decode(parts.uri.query(), body),
    };
    let (action, mut input) = match decoded {
        Ok(decoded) => decoded,
        Err(error) => return (None, Err(error)),
    };
    if let (Value::Object(fields), true) = (&mut input, is_queue_path(parts.uri.path())) {
        fields
            .entry("QueueUrl")
            .or_insert_with(|| Value::String(parts.uri.path().to_owned()));
    }
    let ctx = Ctx {
        state,
        caller,
        region: Some(region)
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| DEFAULT_REGION.to_owned()),
        base_url: base_url(state, &parts.headers),
    };
    (Some(action), actions::dispatch(&ctx, action, input).await)
}

/// JSON when the request names its target in `X-Amz-Target` or is sent as AWS JSON; the
/// Query protocol otherwise.
fn protocol(headers: &HeaderMap) -> Protocol {
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-amz-json"));
    if headers.contains_key("x-amz-target") || json_type {
        Protocol::Json
    } else {
        Protocol::Query
    }
}

/// `/<12-digit account>/<queue>`.
fn is_queue_path(path: &str) -> bool {
    urls::parse_queue_url(path).is_some() && path.matches('/').count() == 2
}

/// The configured public URL, or the origin the client called.
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.sqs.public_url {
        return url.clone();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}
