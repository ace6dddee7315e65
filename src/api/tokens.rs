//! Endpoints for API tokens: create (secrets shown once), list, revoke.

use std::time::Duration;

use axum::{Json, extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState, Caller,
    extract::{ApiJson, ApiPath},
};
use crate::{
    api::error::{ApiError, ErrorBody},
    auth::{Grant, Scope},
    domain::{DEFAULT_ACCOUNT, Token, input::check_range},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_token, list_tokens))
        .routes(routes!(revoke_token))
}

/// A token to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// A label for people.
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub name: String,
    /// Grants: `admin`, `queues:manage`, `messages:send`, `messages:receive`, each optionally
    /// limited to queues matching a pattern: `messages:send:orders-*`.
    #[schema(value_type = Vec<String>, example = json!(["messages:send:orders-*"]), min_items = 1)]
    pub scopes: Vec<Grant>,
    /// Seconds until the token expires (default: never).
    #[schema(minimum = 1, maximum = 315360000)]
    pub expires_in_seconds: Option<i64>,
    /// Account of the token (default: the caller's). Only admins of the operator account
    /// (`000000000000`) may create tokens for other accounts.
    pub account_id: Option<i64>,
}

/// A token's record; secrets only in the create response.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    pub id: Uuid,
    pub name: String,
    /// Zero-padded 12-digit account id.
    pub account_id: String,
    pub scopes: Vec<String>,
    /// SigV4 access key id for the SQS protocol.
    pub access_key_id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The bearer token (create response only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// SigV4 secret access key (create response only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<String>,
}

impl From<Token> for TokenResponse {
    fn from(t: Token) -> Self {
        Self {
            id: t.id,
            name: t.name,
            account_id: format!("{:012}", t.account_id),
            scopes: t.scopes,
            access_key_id: t.access_key_id,
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
            token: None,
            secret_access_key: None,
        }
    }
}

/// Tokens of the caller's account.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenResponse>,
}

/// Creates an API token. The bearer token and SigV4 secret are in this response only.
#[utoipa::path(post, path = "/v1/tokens", tag = "auth", request_body = CreateTokenRequest,
    responses((status = 201, body = TokenResponse), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateTokenRequest>,
) -> Result<(StatusCode, Json<TokenResponse>), ApiError> {
    caller.authorize(Scope::Admin, None)?;
    let account = req.account_id.unwrap_or(caller.account);
    if account != caller.account && caller.account != DEFAULT_ACCOUNT {
        return Err(ApiError::Forbidden(
            "only the operator account may create tokens for other accounts".to_owned(),
        ));
    }
    let name = req.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(ApiError::Validation(
            "`name` must be 1-200 characters".to_owned(),
        ));
    }
    if req.scopes.is_empty() {
        return Err(ApiError::Validation(
            "`scopes` must name at least one scope".to_owned(),
        ));
    }
    let ttl = req
        .expires_in_seconds
        .map(|s| check_range("expires_in_seconds", s, (1, 10 * 365 * 86_400)))
        .transpose()?
        .map(|s| Duration::from_secs(s.unsigned_abs()));
    let issued = state.auth.issue(account, name, &req.scopes, ttl).await?;
    let mut response = TokenResponse::from(issued.record);
    response.token = Some(issued.jwt);
    response.secret_access_key = Some(issued.secret_access_key);
    Ok((StatusCode::CREATED, Json(response)))
}

/// Lists the tokens of the caller's account (never their secrets).
#[utoipa::path(get, path = "/v1/tokens", tag = "auth",
    responses((status = 200, body = TokenList), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<TokenList>, ApiError> {
    caller.authorize(Scope::Admin, None)?;
    let tokens = state.auth.list(caller.account).await?;
    Ok(Json(TokenList {
        tokens: tokens.into_iter().map(Into::into).collect(),
    }))
}

/// Revokes a token of the caller's account; it stops working on every node within seconds.
#[utoipa::path(delete, path = "/v1/tokens/{id}", tag = "auth",
    params(("id" = Uuid, Path, description = "Token id")),
    responses((status = 204, description = "Revoked"), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, description = "Already revoked", body = ErrorBody)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    caller.authorize(Scope::Admin, None)?;
    state.auth.revoke(caller.account, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
