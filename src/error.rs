//! The one error vocabulary of the native API and its mapping to HTTP status, code and JSON body.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

/// Everything a request can fail with. Display is the message clients see (except for 5xx).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("queue `{0}` does not exist")]
    QueueNotFound(String),
    #[error("queue `{0}` already exists with different settings")]
    QueueExists(String),
    #[error("move task `{0}` does not exist")]
    TaskNotFound(String),
    #[error("token `{0}` does not exist")]
    TokenNotFound(String),
    #[error("account `{0}` does not exist")]
    AccountNotFound(String),
    #[error("{0}")]
    Validation(String),
    #[error("the receipt handle is malformed, forged or belongs to another queue")]
    InvalidReceiptHandle,
    #[error(
        "the message is not in flight (its visibility timeout expired or it was received again)"
    )]
    MessageNotInFlight,
    #[error(
        "the receipt handle has expired (a FIFO message's handle is valid only while it is in flight)"
    )]
    ReceiptHandleExpired,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("queue `{queue}` is full ({depth} of at most {max_depth} messages); retry later")]
    QueueFull {
        queue: String,
        depth: i64,
        max_depth: i64,
    },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("no such route")]
    RouteNotFound,
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    #[error("the server is overloaded; retry later")]
    Overloaded,
    /// A statement shared by several requests lost its connection (the error itself stays
    /// with the statement).
    #[error("{DATABASE_UNAVAILABLE}")]
    DatabaseUnavailable,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
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

impl ApiError {
    /// The HTTP status and the stable error code for this error.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::QueueNotFound(_) => (StatusCode::NOT_FOUND, "queue_not_found"),
            Self::QueueExists(_) => (StatusCode::CONFLICT, "queue_already_exists"),
            Self::TaskNotFound(_) => (StatusCode::NOT_FOUND, "task_not_found"),
            Self::TokenNotFound(_) => (StatusCode::NOT_FOUND, "token_not_found"),
            Self::AccountNotFound(_) => (StatusCode::NOT_FOUND, "account_not_found"),
            Self::Validation(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            Self::InvalidReceiptHandle => (StatusCode::BAD_REQUEST, "invalid_receipt_handle"),
            Self::MessageNotInFlight => (StatusCode::CONFLICT, "message_not_in_flight"),
            Self::ReceiptHandleExpired => (StatusCode::CONFLICT, "receipt_handle_expired"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::QueueFull { .. } => (StatusCode::TOO_MANY_REQUESTS, "queue_full"),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::RouteNotFound => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
            Self::Database(e) if is_nul_in_text(e) => (StatusCode::BAD_REQUEST, "invalid_request"),
            Self::DatabaseUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable"),
            Self::Database(e) if is_database_unavailable(e) => {
                (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable")
            }
            Self::Database(_) | Self::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
            }
        }
    }

    /// The body sent to the client; internals of 5xx errors are logged, never sent.
    pub fn body(&self) -> ErrorBody {
        let (status, code) = self.status_and_code();
        let message = match self {
            Self::Database(e) if is_nul_in_text(e) => NUL_IN_TEXT.to_owned(),
            Self::Database(e) if is_database_unavailable(e) => DATABASE_UNAVAILABLE.to_owned(),
            _ if status.is_server_error()
                && !matches!(self, Self::Overloaded | Self::DatabaseUnavailable) =>
            {
                "internal server error".to_owned()
            }
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
        if let Self::Database(e) = &self {
            crate::telemetry::prometheus::statement_error(e);
        }
        if status.is_server_error() {
            tracing::error!(error = ?self, "request failed");
        }
        let mut response = (status, Json(self.body())).into_response();
        if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// The message of `database_unavailable`.
pub const DATABASE_UNAVAILABLE: &str =
    "the database is unreachable or no connection became free in time; retry later";
/// The message when PostgreSQL refuses a text; the fields that can carry one are checked
/// first and named, this is the net under them.
pub const NUL_IN_TEXT: &str = "text values must not contain the NUL character (U+0000)";

/// Whether PostgreSQL refused a text because it holds NUL (U+0000), which no `text` can store
/// (SQLSTATE 22021 `character_not_in_repertoire`): the client's input, not a server fault.
pub fn is_nul_in_text(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some("22021"))
}

/// The error of a statement shared by several requests, for each of them: what the client
/// did wrong, or that the database is unavailable, or (logged by the caller) internal.
pub fn shared_statement_error(error: &sqlx::Error) -> ApiError {
    if is_nul_in_text(error) {
        ApiError::Validation(NUL_IN_TEXT.to_owned())
    } else if is_database_unavailable(error) {
        ApiError::DatabaseUnavailable
    } else {
        ApiError::Internal(anyhow::anyhow!("shared statement failed: {error}"))
    }
}

/// Whether `error` means the database could not be reached or dropped the connection, so the
/// same request may well succeed in a moment (a restart, a failover, an outage, no connection
/// free within the pool's acquire timeout). Such errors are retryable 503s, not server bugs.
pub fn is_database_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 08: connection exception; 57P01-03: admin/crash shutdown, cannot connect now;
            // 53300: too many connections; 25006: read-only transaction (a standby, mid-failover).
            code.starts_with("08") || code.starts_with("57P") || code == "53300" || code == "25006"
        }),
        _ => false,
    }
}

/// Turns a unique or foreign-key violation into a client error at the call site.
pub trait OnConstraint<T> {
    fn on_constraint(
        self,
        name: &str,
        map: impl FnOnce(Box<dyn sqlx::error::DatabaseError>) -> ApiError,
    ) -> Result<T, ApiError>;
}

impl<T> OnConstraint<T> for Result<T, sqlx::Error> {
    fn on_constraint(
        self,
        name: &str,
        map: impl FnOnce(Box<dyn sqlx::error::DatabaseError>) -> ApiError,
    ) -> Result<T, ApiError> {
        self.map_err(|e| match e {
            sqlx::Error::Database(db) if db.constraint() == Some(name) => map(db),
            other => ApiError::Database(other),
        })
    }
}
