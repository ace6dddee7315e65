//! SQS error shapes: the `__type` shape name, the legacy Query error code, the HTTP status and
//! the message, and the one mapping from the engine's [`ApiError`] to them (`sqs.md` §2.3).

use axum::http::StatusCode;

use super::texts;
use crate::error::ApiError;

/// An error as SQS reports it, in either protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsError {
    /// The model's shape name (JSON `__type` after `#`).
    pub shape: &'static str,
    /// The legacy Query error code (`x-amzn-query-error`, XML `<Code>`).
    pub code: &'static str,
    pub status: StatusCode,
    pub message: String,
}

/// A modeled or common error kind: shape, legacy code, status.
type Kind = (&'static str, &'static str, StatusCode);

const BAD: StatusCode = StatusCode::BAD_REQUEST;
const FORBIDDEN: StatusCode = StatusCode::FORBIDDEN;
const NOT_FOUND: StatusCode = StatusCode::NOT_FOUND;

pub const QUEUE_DOES_NOT_EXIST: Kind = (
    "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue",
    BAD,
);
pub const QUEUE_NAME_EXISTS: Kind = ("QueueNameExists", "QueueAlreadyExists", BAD);
pub const PURGE_QUEUE_IN_PROGRESS: Kind = (
    "PurgeQueueInProgress",
    "AWS.SimpleQueueService.PurgeQueueInProgress",
    FORBIDDEN,
);
pub const RECEIPT_HANDLE_IS_INVALID: Kind = (
    "ReceiptHandleIsInvalid",
    "ReceiptHandleIsInvalid",
    NOT_FOUND,
);
pub const EMPTY_BATCH_REQUEST: Kind = (
    "EmptyBatchRequest",
    "AWS.SimpleQueueService.EmptyBatchRequest",
    BAD,
);
pub const TOO_MANY_ENTRIES: Kind = (
    "TooManyEntriesInBatchRequest",
    "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
    BAD,
);
pub const BATCH_IDS_NOT_DISTINCT: Kind = (
    "BatchEntryIdsNotDistinct",
    "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
    BAD,
);
pub const INVALID_BATCH_ENTRY_ID: Kind = (
    "InvalidBatchEntryId",
    "AWS.SimpleQueueService.InvalidBatchEntryId",
    BAD,
);
pub const BATCH_REQUEST_TOO_LONG: Kind = (
    "BatchRequestTooLong",
    "AWS.SimpleQueueService.BatchRequestTooLong",
    BAD,
);
pub const UNSUPPORTED_OPERATION: Kind = (
    "UnsupportedOperation",
    "AWS.SimpleQueueService.UnsupportedOperation",
    BAD,
);
pub const OVER_LIMIT: Kind = ("OverLimit", "OverLimit", FORBIDDEN);
pub const REQUEST_THROTTLED: Kind = ("RequestThrottled", "RequestThrottled", FORBIDDEN);
pub const INVALID_ADDRESS: Kind = ("InvalidAddress", "InvalidAddress", NOT_FOUND);
pub const RESOURCE_NOT_FOUND: Kind = (
    "ResourceNotFoundException",
    "ResourceNotFoundException",
    NOT_FOUND,
);
pub const INVALID_ATTRIBUTE_NAME: Kind = ("InvalidAttributeName", "InvalidAttributeName", BAD);
pub const INVALID_ATTRIBUTE_VALUE: Kind = ("InvalidAttributeValue", "InvalidAttributeValue", BAD);
pub const INVALID_MESSAGE_CONTENTS: Kind =
    ("InvalidMessageContents", "InvalidMessageContents", BAD);
pub const INVALID_PARAMETER_VALUE: Kind = (
    "InvalidParameterValueException",
    "InvalidParameterValue",
    BAD,
);
pub const MISSING_PARAMETER: Kind = ("MissingRequiredParameterException", "MissingParameter", BAD);
pub const INVALID_ACTION: Kind = ("InvalidAction", "InvalidAction", BAD);
pub const UNKNOWN_OPERATION: Kind = (
    "UnknownOperationException",
    "UnknownOperationException",
    NOT_FOUND,
);
pub const ACCESS_DENIED: Kind = ("AccessDeniedException", "AccessDenied", FORBIDDEN);
pub const INVALID_CLIENT_TOKEN_ID: Kind = (
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    FORBIDDEN,
);
pub const SIGNATURE_DOES_NOT_MATCH: Kind = (
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    FORBIDDEN,
);
pub const INCOMPLETE_SIGNATURE: Kind = ("IncompleteSignatureException", "IncompleteSignature", BAD);
pub const MISSING_AUTHENTICATION_TOKEN: Kind = (
    "MissingAuthenticationTokenException",
    "MissingAuthenticationToken",
    FORBIDDEN,
);
pub const REQUEST_EXPIRED: Kind = ("RequestExpired", "RequestExpired", BAD);
pub const SERVICE_UNAVAILABLE: Kind = (
    "ServiceUnavailable",
    "ServiceUnavailable",
    StatusCode::SERVICE_UNAVAILABLE,
);
pub const INTERNAL_FAILURE: Kind = (
    "InternalFailure",
    "InternalFailure",
    StatusCode::INTERNAL_SERVER_ERROR,
);

impl SqsError {
    /// An error of `kind` with `message`.
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        let (shape, code, status) = kind;
        Self {
            shape,
            code,
            status,
            message: message.into(),
        }
    }

    /// `MissingParameter`: "The request must contain the parameter X."
    pub fn missing(parameter: &str) -> Self {
        Self::new(MISSING_PARAMETER, texts::missing(parameter))
    }

    /// `InvalidParameterValue` in SQS's "Value V for parameter P is invalid. Reason: R." form.
    pub fn invalid_value(value: impl std::fmt::Display, parameter: &str, reason: &str) -> Self {
        Self::new(
            INVALID_PARAMETER_VALUE,
            texts::invalid_value(value, parameter, reason),
        )
    }

    /// `InvalidParameterValue` with a free-form message.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(INVALID_PARAMETER_VALUE, message)
    }

    /// `QueueDoesNotExist`.
    pub fn no_such_queue() -> Self {
        Self::new(QUEUE_DOES_NOT_EXIST, texts::NO_SUCH_QUEUE)
    }

    /// `Sender` for client errors, `Receiver` for server errors (the fault in both protocols).
    pub fn fault(&self) -> &'static str {
        if self.status.is_server_error() {
            "Receiver"
        } else {
            "Sender"
        }
    }

    /// Whether the sender is at fault (batch result entries report this).
    pub fn sender_fault(&self) -> bool {
        !self.status.is_server_error()
    }
}

/// The one mapping from the engine's errors to SQS errors. Server errors are logged here and
/// reach the client only as a fixed message.
impl From<ApiError> for SqsError {
    fn from(error: ApiError) -> Self {
        if let ApiError::Database(e) = &error {
            crate::telemetry::prometheus::statement_error(e);
        }
        let message = error.to_string();
        match error {
            ApiError::QueueNotFound(_) => Self::no_such_queue(),
            ApiError::QueueExists(_) => Self::new(
                QUEUE_NAME_EXISTS,
                "A queue already exists with the same name and a different value for an attribute.",
            ),
            ApiError::TaskNotFound(_) => Self::new(RESOURCE_NOT_FOUND, texts::TASK_NOT_FOUND),
            ApiError::TokenNotFound(_) | ApiError::AccountNotFound(_) => {
                Self::new(RESOURCE_NOT_FOUND, message)
            }
            ApiError::InvalidReceiptHandle => {
                Self::new(RECEIPT_HANDLE_IS_INVALID, texts::INVALID_RECEIPT_HANDLE)
            }
            ApiError::ReceiptHandleExpired => Self::invalid(
                "Value for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.",
            ),
            ApiError::MessageNotInFlight => Self::invalid(
                "Message does not exist or is not available for visibility timeout change.",
            ),
            ApiError::Validation(_)
            | ApiError::Conflict(_)
            | ApiError::PayloadTooLarge(_)
            | ApiError::UnsupportedMediaType(_) => Self::invalid(message),
            ApiError::QueueFull { .. } => Self::new(REQUEST_THROTTLED, message),
            ApiError::Unauthorized(_) => Self::new(INVALID_CLIENT_TOKEN_ID, message),
            ApiError::Forbidden(_) => Self::new(ACCESS_DENIED, message),
            ApiError::RouteNotFound | ApiError::MethodNotAllowed => Self::new(
                INVALID_ACTION,
                "The action or operation requested is invalid.",
            ),
            ApiError::Database(ref e) if crate::error::is_nul_in_text(e) => {
                Self::invalid(crate::error::NUL_IN_TEXT)
            }
            ApiError::Database(ref e) if crate::error::is_database_unavailable(e) => {
                Self::new(SERVICE_UNAVAILABLE, texts::SERVICE_UNAVAILABLE)
            }
            ApiError::Overloaded | ApiError::DatabaseUnavailable => {
                Self::new(SERVICE_UNAVAILABLE, texts::SERVICE_UNAVAILABLE)
            }
            ApiError::Database(_) | ApiError::Internal(_) => {
                tracing::error!(error = ?error, "SQS request failed");
                Self::new(INTERNAL_FAILURE, texts::INTERNAL_FAILURE)
            }
        }
    }
}

/// Shorthand for action results.
pub type SqsResult<T> = Result<T, SqsError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_map_to_sqs_shapes() {
        let e = SqsError::from(ApiError::QueueNotFound("q".into()));
        assert_eq!(
            (e.shape, e.code, e.status),
            (
                "QueueDoesNotExist",
                "AWS.SimpleQueueService.NonExistentQueue",
                BAD
            )
        );
        let e = SqsError::from(ApiError::InvalidReceiptHandle);
        assert_eq!(e.status, NOT_FOUND);
        let e = SqsError::from(ApiError::Internal(anyhow::anyhow!("secret detail")));
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.message.contains("secret"));
        assert_eq!(e.fault(), "Receiver");
    }
}
