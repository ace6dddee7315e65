//! The native REST API under `/v1`: its routes, the bearer-token caller, its errors and the
//! OpenAPI document. Mounted by `crate::app`.

pub mod accounts;
mod doc;
pub mod error;
pub mod extract;
pub mod health;
pub mod me;
pub mod messages;
pub mod queues;
pub mod redrive;
pub mod tokens;

use axum::{
    Router,
    extract::FromRequestParts,
    http::{header, request::Parts},
};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

pub use crate::app::AppState;
pub use crate::auth::Caller;
use crate::domain::Unauthenticated;
pub use error::{ApiError, ErrorBody};

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
                v.to_str()
                    .map_err(|_| ApiError::from(Unauthenticated::MalformedHeader))
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

/// The native API's routes with their OpenAPI description.
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
    let mut doc = routes().into_openapi();
    doc::add_common_responses(&mut doc);
    doc
}

/// The native API: `/v1`, the health probes, `/metrics`, the OpenAPI document and Swagger UI.
pub fn router() -> Router<AppState> {
    let (api, mut doc) = routes().split_for_parts();
    doc::add_common_responses(&mut doc);
    api.merge(SwaggerUi::new("/docs").url("/openapi.json", doc))
}
