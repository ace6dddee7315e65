//! Who the caller is: the dashboard asks once after sign-in to show only what the token allows.

use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{AppState, Caller};
use crate::api::error::ErrorBody;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(me))
}

/// The authenticated caller.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MeResponse {
    /// Zero-padded 12-digit account id.
    pub account_id: String,
    /// The token's id; absent in development mode without a token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_id: Option<Uuid>,
    /// The token's grants, e.g. `admin` or `messages:send:orders-*`.
    pub scopes: Vec<String>,
}

/// Describes the caller: account and the scopes of its token.
#[utoipa::path(get, path = "/v1/me", tag = "auth",
    responses((status = 200, body = MeResponse), (status = 401, body = ErrorBody)))]
pub async fn me(caller: Caller) -> Json<MeResponse> {
    Json(MeResponse {
        account_id: format!("{:012}", caller.account),
        token_id: caller.token_id,
        scopes: caller.grants.iter().map(ToString::to_string).collect(),
    })
}
