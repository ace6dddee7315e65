//! Endpoints for accounts (operator admins only): create and list.

use axum::{Json, extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{AppState, Caller, extract::ApiJson};
use crate::{
    api::error::{ApiError, ErrorBody},
    auth::Scope,
    domain::{Account, DEFAULT_ACCOUNT},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_account, list_accounts))
}

/// An account to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccountRequest {
    /// Unique name (surrounding spaces are trimmed).
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub name: String,
}

/// An account.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountResponse {
    /// Zero-padded 12-digit id (the SQS account id in queue URLs and ARNs).
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl From<Account> for AccountResponse {
    fn from(a: Account) -> Self {
        Self {
            id: format!("{:012}", a.id),
            name: a.name,
            created_at: a.created_at,
        }
    }
}

/// All accounts.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountList {
    pub accounts: Vec<AccountResponse>,
}

fn operator_only(caller: &Caller) -> Result<(), ApiError> {
    caller.authorize(Scope::Admin, None)?;
    if caller.account != DEFAULT_ACCOUNT {
        return Err(ApiError::Forbidden(
            "only admins of the operator account manage accounts".to_owned(),
        ));
    }
    Ok(())
}

/// Creates an account with a random 12-digit id.
#[utoipa::path(post, path = "/v1/accounts", tag = "auth", request_body = CreateAccountRequest,
    responses((status = 201, body = AccountResponse), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn create_account(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateAccountRequest>,
) -> Result<(StatusCode, Json<AccountResponse>), ApiError> {
    operator_only(&caller)?;
    let account = state.auth.create_account(&req.name).await?;
    Ok((StatusCode::CREATED, Json(account.into())))
}

/// Lists all accounts.
#[utoipa::path(get, path = "/v1/accounts", tag = "auth",
    responses((status = 200, body = AccountList), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn list_accounts(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<AccountList>, ApiError> {
    operator_only(&caller)?;
    let accounts = state.auth.list_accounts().await?;
    Ok(Json(AccountList {
        accounts: accounts.into_iter().map(Into::into).collect(),
    }))
}
