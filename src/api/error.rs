//! The native API's errors: the engine's errors and the door's own (bodies it cannot decode,
//! routes it does not have), mapped to an HTTP status, a stable code and a JSON body.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{self, Invalid, OutOfRange, Unauthenticated};

/// Everything a native request can fail with. Display is the message clients see (except for
/// 5xx, whose details are logged instead).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// What the engine (or the authentication below the door) refused.
    #[error(transparent)]
    Engine(#[from] domain::Error),
    /// A request the door could not decode (JSON, query string, path, cursor).
    #[error("{0}")]
    Validation(String),
    /// A request body over the server's limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A rule of the native API itself (e.g. only the operator account manages accounts).
    #[error("{0}")]
    Forbidden(String),
    #[error("no such route")]
    RouteNotFound,
    #[error("method not allowed on this route")]
    MethodNotAllowed,
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// A stable machine-readable `code` and a human-readable `message`.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorDetail {
    #[schema(example = "queue_not_found")]
    pub code: String,
    pub message: String,
}

impl From<Invalid> for ApiError {
    fn from(error: Invalid) -> Self {
        Self::Engine(error.into())
    }
}

impl From<OutOfRange> for ApiError {
    fn from(error: OutOfRange) -> Self {
        Self::Engine(Invalid::from(error).into())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        Self::Engine(error.into())
    }
}

impl From<Unauthenticated> for ApiError {
    fn from(error: Unauthenticated) -> Self {
        Self::Engine(crate::auth::unauthorized(error))
    }
}

impl ApiError {
    /// The HTTP status and the stable error code for this error.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        use domain::Error as E;
        let engine = match self {
            Self::Engine(error) => error,
            Self::Validation(_) => return (StatusCode::BAD_REQUEST, "invalid_request"),
            Self::PayloadTooLarge(_) => {
                return (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
            }
            Self::UnsupportedMediaType(_) => {
                return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
            }
            Self::Forbidden(_) => return (StatusCode::FORBIDDEN, "forbidden"),
            Self::RouteNotFound => return (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed => {
                return (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
            }
        };
        match engine {
            E::QueueNotFound(_) => (StatusCode::NOT_FOUND, "queue_not_found"),
            E::QueueExists(_) => (StatusCode::CONFLICT, "queue_already_exists"),
            E::TaskNotFound(_) => (StatusCode::NOT_FOUND, "task_not_found"),
            E::TokenNotFound(_) => (StatusCode::NOT_FOUND, "token_not_found"),
            E::AccountNotFound(_) => (StatusCode::NOT_FOUND, "account_not_found"),
            E::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            E::MessageTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            E::InvalidReceiptHandle => (StatusCode::BAD_REQUEST, "invalid_receipt_handle"),
            E::MessageNotInFlight => (StatusCode::CONFLICT, "message_not_in_flight"),
            E::ReceiptHandleExpired => (StatusCode::CONFLICT, "receipt_handle_expired"),
            E::QueueDeleted
            | E::DeadLetterQueueDeleted
            | E::MoveTaskRunning(_)
            | E::MoveTaskNotRunning { .. }
            | E::TokenRevoked(_)
            | E::AccountExists(_)
            | E::AccountIdInUse(_) => (StatusCode::CONFLICT, "conflict"),
            E::QueueFull { .. } => (StatusCode::TOO_MANY_REQUESTS, "queue_full"),
            E::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            E::Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden"),
            E::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
            E::DatabaseUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable"),
            E::DatabaseBusy => (StatusCode::SERVICE_UNAVAILABLE, "database_busy"),
            E::Database(_) | E::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
            }
        }
    }

    /// The body sent to the client; internals of 5xx errors are logged, never sent.
    pub fn body(&self) -> ErrorBody {
        let (_, code) = self.status_and_code();
        let message = match self {
            Self::Engine(e) if e.is_internal() => "internal server error".to_owned(),
            _ => self.to_string(),
        };
        ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, _) = self.status_and_code();
        if status.is_server_error() {
            tracing::error!(error = ?self, "request failed");
        }
        // `Retry-After` on 429 and 503 is set for every response by `app::edge`.
        (status, Json(self.body())).into_response()
    }
}
