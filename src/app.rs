//! The application: the state every handler reaches, and the one HTTP router that mounts
//! both doors (`api`, `sqs`) and the dashboard (`web`) behind the layers every request passes
//! through (request ids and spans, metrics, limits, load shedding, panics).

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    error_handling::HandleErrorLayer,
    extract::{DefaultBodyLimit, MatchedPath, Request, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    sensitive_headers::SetSensitiveRequestHeadersLayer,
    trace::TraceLayer,
};

use crate::{auth::Auth, domain, http, queue::Engine, sqs::SqsConfig};

/// Largest request body: a batch of messages near the 1 MiB limit, JSON-escaped.
const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;
/// Requests served at once; beyond it the server sheds load with 503 instead of queueing.
const MAX_CONCURRENT_REQUESTS: usize = 20_000;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    pub engine: Engine,
    pub auth: Arc<Auth>,
    /// Settings of the SQS door (public URL, SigV4 mode); shared, since handlers clone the
    /// state for every request.
    pub sqs: Arc<SqsConfig>,
}

/// Starts the background workers (retention sweeper, redrive mover) until `shutdown`.
pub fn spawn_workers(engine: &Engine, shutdown: &CancellationToken) {
    crate::worker::spawn(engine, shutdown);
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    crate::telemetry::metrics();
    let overload = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
            with_retry_after(crate::api::ApiError::from(domain::Error::Overloaded).into_response())
        }))
        .load_shed()
        .concurrency_limit(MAX_CONCURRENT_REQUESTS);
    Router::new()
        .route("/", get(root))
        .merge(crate::api::router())
        .merge(crate::web::router())
        .merge(crate::sqs::router())
        .fallback(|| async { http::route_not_found() })
        .method_not_allowed_fallback(|| async {
            http::error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this route",
            )
        })
        .with_state(state)
        // One middleware for what every route's requests need (each layer adds a boxed
        // future and a service clone per request).
        .layer(axum::middleware::from_fn(edge))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .layer(overload)
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("handler panicked");
            http::error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "internal server error",
            )
        }))
        .layer(
            ServiceBuilder::new()
                .layer(SetSensitiveRequestHeadersLayer::new([
                    header::AUTHORIZATION,
                ]))
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(request_span)
                        .on_response(
                            |response: &Response, latency: Duration, _span: &tracing::Span| {
                                tracing::info!(
                                    status = response.status().as_u16(),
                                    ?latency,
                                    "served"
                                );
                            },
                        ),
                )
                .layer(PropagateRequestIdLayer::x_request_id()),
        )
}

/// `GET /`: the dashboard, unless the query string is an SQS Query-protocol request
/// (`GET /?Action=ListQueues&…`), which goes to the SQS door.
async fn root(state: State<AppState>, request: Request) -> Response {
    if crate::sqs::is_query_request(request.uri().query()) {
        return crate::sqs::handle(state, request).await;
    }
    crate::web::index().await.into_response()
}

/// Most bytes of request headers (names, values and separators) a request may carry; a JWT or
/// a SigV4 `Authorization` header is well under a kilobyte.
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// The edge of every route: refuses requests whose headers exceed [`MAX_HEADER_BYTES`] with a
/// `431` in the error shape (hyper itself reads up to `server::MAX_READ_BUFFER` before giving
/// up without a body), tells clients of every 429 and 503 when to retry, and counts and times
/// the request (`spool_http_requests_total`, `spool_http_request_duration_seconds`).
async fn edge(request: Request, next: axum::middleware::Next) -> Response {
    let timer = crate::telemetry::prometheus::RequestTimer::start(&request);
    let bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    let response = if bytes > MAX_HEADER_BYTES {
        http::error_response(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            &format!(
                "the request's headers take {bytes} bytes; at most {MAX_HEADER_BYTES} are accepted"
            ),
        )
    } else {
        with_retry_after(next.run(request).await)
    };
    timer.record(&response);
    response
}

/// Every 429 and 503, of either door, tells clients when to retry; a handler may set its own.
/// (The edge middleware adds it to handlers' answers, the overload layer to its own.)
fn with_retry_after(mut response: Response) -> Response {
    let status = response.status();
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .entry(header::RETRY_AFTER)
            .or_insert(HeaderValue::from_static("1"));
    }
    response
}

/// One span per request, so every log line of it carries the request id (the client's
/// `x-request-id`, else a fresh one), the method, the matched route (a pattern such as
/// `/v1/queues/{name}`, never the raw path, which holds queue names) and, once authenticated,
/// the account (recorded by `Caller::record`). Never bodies or credentials.
fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or_default();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    tracing::info_span!(
        "request",
        request_id,
        method = %request.method(),
        route,
        account = tracing::field::Empty,
    )
}
