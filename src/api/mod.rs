//! The native REST API under `/v1`: the router, shared state, the caller, the OpenAPI
//! document, and the layers every request passes through.

pub mod accounts;
pub mod extract;
pub mod health;
pub mod me;
pub mod messages;
pub mod queues;
pub mod redrive;
pub mod tokens;

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    error_handling::HandleErrorLayer,
    extract::{DefaultBodyLimit, FromRequestParts, MatchedPath},
    http::{Request, header, request::Parts},
    response::{IntoResponse, Response},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    sensitive_headers::SetSensitiveRequestHeadersLayer,
    trace::TraceLayer,
};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

pub use crate::auth::Caller;
use crate::{auth::Auth, error::ApiError, queue::Engine};

/// Largest request body: a batch of messages near the 1 MiB limit, JSON-escaped.
const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;
/// Requests served at once; beyond it the server sheds load with 503 instead of queueing.
const MAX_CONCURRENT_REQUESTS: usize = 20_000;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    pub engine: Engine,
    pub auth: Arc<Auth>,
    /// Settings of the SQS door (public URL, SigV4 mode).
    pub sqs: crate::sqs::SqsConfig,
}

/// Every handler that takes a `Caller` is authenticated by its bearer token.
impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .map(|v| {
                v.to_str().map_err(|_| {
                    ApiError::Unauthorized("malformed Authorization header".to_owned())
                })
            })
            .transpose()?;
        let caller = state.auth.authenticate(header).await?;
        caller.record();
        Ok(caller)
    }
}

#[derive(OpenApi)]
#[openapi(
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    info(
        title = "Spool",
        description = "A durable, SQS-compatible message queue on PostgreSQL: the native JSON API."
    ),
    tags(
        (name = "queues", description = "Create, inspect, change and delete queues"),
        (name = "messages", description = "Send, receive, delete and hide messages"),
        (name = "redrive", description = "Move messages out of dead-letter queues"),
        (name = "auth", description = "API tokens and accounts"),
        (name = "ops", description = "Health probes"),
    )
)]
struct ApiDoc;

/// Declares the bearer-token scheme every `/v1` route uses.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(queues::router())
        .merge(messages::router())
        .merge(redrive::router())
        .merge(tokens::router())
        .merge(accounts::router())
        .merge(me::router())
        .merge(health::router())
}

/// The OpenAPI document of the native API, generated from the handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().into_openapi()
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    crate::telemetry::metrics();
    let (api, doc) = routes().split_for_parts();
    let overload = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
            ApiError::Overloaded
        }))
        .load_shed()
        .concurrency_limit(MAX_CONCURRENT_REQUESTS);
    api.merge(SwaggerUi::new("/docs").url("/openapi.json", doc))
        .merge(crate::web::router())
        .merge(crate::sqs::router())
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
        .layer(axum::middleware::from_fn(
            crate::telemetry::prometheus::track_requests,
        ))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .layer(overload)
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal(anyhow::anyhow!("handler panicked")).into_response()
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

/// One span per request, so every log line of it carries the request id (the client's
/// `x-request-id`, else a fresh one), the method, the matched route and, once authenticated,
/// the account (recorded by `Caller::record`). Never bodies or credentials.
fn request_span<B>(request: &Request<B>) -> tracing::Span {
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
        path = %request.uri().path(),
        account = tracing::field::Empty,
    )
}

/// Opaque page cursor for a queue name.
pub(crate) fn encode_cursor(name: &str) -> String {
    URL_SAFE_NO_PAD.encode(name)
}

pub(crate) fn decode_cursor(cursor: &str) -> Result<String, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| ApiError::Validation("invalid `cursor`".to_owned()))
}
