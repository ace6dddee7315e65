//! AWS's error messages, word for word, in one table: clients and test suites written against
//! SQS match on them. Where AWS's wording is not known, the text follows its style.

use std::fmt::Display;

/// `QueueDoesNotExist` (AWS JSON).
pub const NO_SUCH_QUEUE: &str = "The specified queue does not exist.";
/// `QueueDoesNotExist` (Query protocol).
pub const NO_SUCH_QUEUE_QUERY: &str = "The specified queue does not exist for this wsdl version.";
/// `ResourceNotFoundException` for a move task handle.
pub const TASK_NOT_FOUND: &str = "Task does not exist.";
/// `StartMessageMoveTask` while the source has a running task.
pub const TASK_ALREADY_RUNNING: &str = "There is already a task running. Only one active task is \
    allowed for a source queue arn at a given time.";
/// `CancelMessageMoveTask` of a task that is not running.
pub const TASK_NOT_RUNNING: &str = "Only running tasks can be cancelled.";
/// `ReceiptHandleIsInvalid` without the handle.
pub const INVALID_RECEIPT_HANDLE: &str = "The input receipt handle is not a valid receipt handle.";
/// `UnknownOperationException` for a GET of a queue URL without an action.
pub const UNKNOWN_OPERATION: &str = "An unknown operation was requested.";
/// `InternalFailure`.
pub const INTERNAL_FAILURE: &str =
    "The request processing has failed because of an unknown error, exception or failure.";
/// `ServiceUnavailable`.
pub const SERVICE_UNAVAILABLE: &str =
    "The request has failed due to a temporary failure of the server.";
/// The reason of `MessageGroupId`'s `InvalidParameterValue`.
pub const GROUP_ID_RULE: &str = "MessageGroupId can only include alphanumeric and punctuation \
    characters. 1 to 128 in length.";
/// The reason of an owner-only action in AddPermission.
pub const OWNER_ONLY: &str = "Only the queue owner is allowed to invoke this action.";

/// `MissingParameter`.
pub fn missing(parameter: &str) -> String {
    format!("The request must contain the parameter {parameter}.")
}

/// `InvalidParameterValue` in its usual form.
pub fn invalid_value(value: impl Display, parameter: &str, reason: &str) -> String {
    format!("Value {value} for parameter {parameter} is invalid. Reason: {reason}")
}

/// `InvalidAction`: an unknown action, or one a queue URL cannot take.
pub fn invalid_action(action: &str) -> String {
    format!("The action {action} is not valid for this endpoint.")
}

/// `InvalidParameterValue` for a message over the queue's `MaximumMessageSize`.
pub fn message_too_long(max: impl Display) -> String {
    format!("One or more parameters are invalid. Reason: Message must be shorter than {max} bytes.")
}

/// `InvalidParameterValue` for a message attribute data type.
pub fn invalid_attribute_type(name: &str) -> String {
    format!(
        "The message attribute '{name}' has an invalid message attribute type, the set of \
         supported type prefixes is Binary, Number, and String."
    )
}

/// `InvalidMessageContents` for a Query parameter that is not UTF-8 once decoded.
pub fn invalid_utf8(parameter: &str) -> String {
    format!(
        "Invalid binary character was found in the parameter {parameter}: it is not valid \
         UTF-8. The set of allowed characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to \
         #xFFFD | #x10000 to #x10FFFF"
    )
}

/// `QueueNameExists`.
pub fn queue_exists(attribute: &str) -> String {
    format!(
        "A queue already exists with the same name and a different value for attribute \
         {attribute}"
    )
}

/// `PurgeQueueInProgress`.
pub fn purge_in_progress(queue: &str) -> String {
    format!("Only one PurgeQueue operation on {queue} is allowed every 60 seconds.")
}

/// `InvalidAttributeName`.
pub fn unknown_attribute(name: &str) -> String {
    format!("Unknown Attribute {name}.")
}

/// `ReceiptHandleIsInvalid` naming the handle.
pub fn invalid_receipt_handle(handle: &str) -> String {
    format!("The input receipt handle \"{handle}\" is not a valid receipt handle.")
}

/// `ResourceNotFoundException` for an ARN parameter of a move task.
pub fn no_such_resource(parameter: &str) -> String {
    format!("The resource that you specified for the {parameter} parameter doesn't exist.")
}
