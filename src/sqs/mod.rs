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
pub mod regions;
pub mod sigv4;
pub mod texts;
pub mod urls;
pub mod xml;

use axum::{
    Router,
    body::{Bytes, to_bytes},
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, header, request::Parts},
    response::Response,
    routing::post,
};
use serde_json::Value;

pub use self::auth::{CredentialSource, SqsAuth, StaticCredential};
pub use self::regions::Namespaces;
use self::{
    actions::Ctx,
    errors::{INVALID_ACTION, SqsError, SqsResult, UNKNOWN_OPERATION},
};
use crate::{
    app::AppState,
    domain::{AccountId, DEFAULT_ACCOUNT},
};

/// Largest request body: a 1 MiB batch, escaped in JSON or form encoding, with room to spare.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// The default region unless configured: the region of the native API's queues.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Settings of the SQS door.
#[derive(Debug, Clone, Default)]
pub struct SqsConfig {
    /// Base URL of queue URLs (no trailing slash); `None` uses the `Host` the client called.
    pub public_url: Option<String>,
    pub auth: SqsAuth,
    /// The 12-digit id the default account has in queue URLs, ARNs and STS answers (tools
    /// written for local SQS emulators assume `000000000000` or `123456789012`).
    pub default_account_id: AccountId,
    /// The region of the native API's queues (and of all queues made before regions were
    /// namespaces); `None` is [`DEFAULT_REGION`].
    pub default_region: Option<String>,
    /// Region namespaces, once looked up.
    pub namespaces: Namespaces,
    /// Derived SigV4 signing keys, once computed.
    pub signing_keys: sigv4::SigningKeys,
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
            default_account_id: DEFAULT_ACCOUNT,
            default_region: None,
            namespaces: Namespaces::default(),
            signing_keys: sigv4::SigningKeys::default(),
        }
    }

    /// The same settings with `region` as the default region.
    pub fn with_default_region(self, region: String) -> Self {
        Self {
            default_region: Some(region),
            ..self
        }
    }

    /// The default region.
    pub fn default_region(&self) -> &str {
        self.default_region.as_deref().unwrap_or(DEFAULT_REGION)
    }

    /// The same settings with the default account shown as `id`.
    pub fn with_default_account_id(self, id: AccountId) -> Self {
        Self {
            default_account_id: id,
            ..self
        }
    }

    /// How `account` appears on the SQS wire.
    pub fn public_account(&self, account: AccountId) -> AccountId {
        match account {
            DEFAULT_ACCOUNT => self.default_account_id,
            other => other,
        }
    }
}

/// The SQS routes: `/` and the queue-URL paths `/<account>/<queue>`; `GET` carries a Query
/// protocol request in its query string.
pub fn router() -> Router<AppState> {
    Router::new()
        // `GET /` is shared with the dashboard, which hands Query-protocol requests over here
        // (`crate::web`).
        .route("/", post(handle))
        .route("/{account}/{queue}", post(handle).get(handle))
        .route("/{region}/{account}/{queue}", post(handle).get(handle))
}

/// The two wire protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Json,
    Query,
}

/// Whether a `GET /` carries a Query-protocol request (an `Action`, or a presigned signature)
/// rather than asking for the dashboard.
pub fn is_query_request(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "Action" || k == "X-Amz-Signature")
    })
}

/// Handles one SQS request, in either protocol.
pub async fn handle(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if parts.uri.path() != "/" && !is_queue_path(parts.uri.path()) {
        return crate::http::route_not_found();
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
    let region = Some(region)
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| state.sqs.default_region().to_owned());
    let namespace = match regions::namespace(state, caller.account, &region).await {
        Ok(namespace) => namespace,
        Err(error) => return (None, Err(error)),
    };
    let decoded = match protocol {
        Protocol::Json => json::decode(&parts.headers, body),
        Protocol::Query => query::decode(parts.uri.query(), body),
    };
    let (action, mut input) = match decoded {
        Ok(decoded) => decoded,
        Err(_) if parts.method == Method::GET && !names_action(parts.uri.query()) => {
            return (
                None,
                Err(SqsError::new(UNKNOWN_OPERATION, texts::UNKNOWN_OPERATION)),
            );
        }
        Err(error) => return (None, Err(error)),
    };
    let on_queue = is_queue_path(parts.uri.path());
    if on_queue && actions::QUEUELESS.contains(&action) {
        let error = SqsError::new(INVALID_ACTION, texts::invalid_action(action));
        return (Some(action), Err(error));
    }
    if let (Value::Object(fields), true) = (&mut input, on_queue) {
        fields
            .entry("QueueUrl")
            .or_insert_with(|| Value::String(parts.uri.path().to_owned()));
    }
    let ctx = Ctx {
        state,
        caller,
        default_region: region == state.sqs.default_region(),
        region,
        namespace,
        base_url: base_url(state, &parts.headers),
        trace_header: parts
            .headers
            .get("x-amzn-trace-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
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

/// Whether a query string has an `Action` parameter.
fn names_action(query: Option<&str>) -> bool {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes()).any(|(key, _)| key == "Action")
}

/// `/<12-digit account>/<queue>`, or `/<region>/<12-digit account>/<queue>`.
fn is_queue_path(path: &str) -> bool {
    urls::parse_queue_url(path).is_some() && (2..=3).contains(&path.matches('/').count())
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
