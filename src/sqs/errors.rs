//! SQS error shapes: the `__type` shape name, the legacy Query error code, the HTTP status and
//! the message, and the one mapping from the engine's [`Error`] to them (`sqs.md` §2.3).

use axum::http::StatusCode;

use super::texts;
use crate::domain::{Error, Invalid};

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
impl From<Error> for SqsError {
    fn from(error: Error) -> Self {
        let message = error.to_string();
        match error {
            Error::QueueNotFound(_) => Self::no_such_queue(),
            Error::QueueExists(_) => Self::new(
                QUEUE_NAME_EXISTS,
                "A queue already exists with the same name and a different value for an attribute.",
            ),
            Error::TaskNotFound(_) => Self::new(RESOURCE_NOT_FOUND, texts::TASK_NOT_FOUND),
            Error::TokenNotFound(_) | Error::AccountNotFound(_) => {
                Self::new(RESOURCE_NOT_FOUND, message)
            }
            Error::InvalidReceiptHandle => {
                Self::new(RECEIPT_HANDLE_IS_INVALID, texts::INVALID_RECEIPT_HANDLE)
            }
            Error::ReceiptHandleExpired => Self::invalid(
                "Value for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.",
            ),
            Error::MessageNotInFlight => Self::invalid(
                "Message does not exist or is not available for visibility timeout change.",
            ),
            Error::MoveTaskRunning(_) => Self::invalid(texts::TASK_ALREADY_RUNNING),
            Error::MoveTaskNotRunning { .. } => Self::invalid(texts::TASK_NOT_RUNNING),
            Error::Invalid(Invalid::NulInText) => Self::invalid(crate::domain::error::NUL_IN_TEXT),
            Error::Invalid(_)
            | Error::MessageTooLarge { .. }
            | Error::QueueDeleted
            | Error::DeadLetterQueueDeleted
            | Error::TokenRevoked(_)
            | Error::AccountExists(_)
            | Error::AccountIdInUse(_) => Self::invalid(message),
            Error::QueueFull { .. } => Self::new(REQUEST_THROTTLED, message),
            Error::Unauthenticated(_) => Self::new(INVALID_CLIENT_TOKEN_ID, message),
            Error::Forbidden { .. } => Self::new(ACCESS_DENIED, message),
            Error::Overloaded | Error::DatabaseUnavailable | Error::DatabaseBusy => {
                Self::new(SERVICE_UNAVAILABLE, texts::SERVICE_UNAVAILABLE)
            }
            Error::Database(_) | Error::Internal(_) => {
                tracing::error!(error = ?error, "SQS request failed");
                Self::new(INTERNAL_FAILURE, texts::INTERNAL_FAILURE)
            }
        }
    }
}

impl From<Invalid> for SqsError {
    fn from(error: Invalid) -> Self {
        Error::from(error).into()
    }
}

impl From<sqlx::Error> for SqsError {
    fn from(error: sqlx::Error) -> Self {
        Error::from(error).into()
    }
}

/// Shorthand for action results.
pub type SqsResult<T> = Result<T, SqsError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_map_to_sqs_shapes() {
        let e = SqsError::from(Error::QueueNotFound("q".into()));
        assert_eq!(
            (e.shape, e.code, e.status),
            (
                "QueueDoesNotExist",
                "AWS.SimpleQueueService.NonExistentQueue",
                BAD
            )
        );
        let e = SqsError::from(Error::InvalidReceiptHandle);
        assert_eq!(e.status, NOT_FOUND);
        let e = SqsError::from(Error::Internal(anyhow::anyhow!("secret detail")));
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.message.contains("secret"));
        assert_eq!(e.fault(), "Receiver");
    }
}
