//! The application: the state every handler reaches, and the one HTTP router that mounts
//! both doors (`api`, `sqs`) and the dashboard (`web`) behind the layers every request passes
//! through (request ids and spans, metrics, limits, load shedding, panics).

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    extract::{DefaultBodyLimit, MatchedPath, Request, State},
    http::{StatusCode, header},
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

use crate::{auth::Auth, http, queue::Engine, sqs::SqsConfig};

mod edge;

use edge::EdgeLayer;

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

/// The whole HTTP application. Its layers are one stack, applied once: every `Router::layer`
/// call boxes each request's future again, and a waiting long poll holds them all.
pub fn router(state: AppState) -> Router {
    crate::telemetry::metrics();
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
                            |response: &axum::http::Response<_>,
                             latency: Duration,
                             _span: &tracing::Span| {
                                tracing::info!(
                                    status = response.status().as_u16(),
                                    ?latency,
                                    "served"
                                );
                            },
                        ),
                )
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(CatchPanicLayer::custom(|_| {
                    tracing::error!("handler panicked");
                    http::error_response(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal_error",
                        "internal server error",
                    )
                }))
                // Header limit, load shedding, request metrics, `Retry-After`.
                .layer(EdgeLayer::new(MAX_CONCURRENT_REQUESTS))
                .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES)),
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
