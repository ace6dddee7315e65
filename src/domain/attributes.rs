//! Message attributes and the ways a message can be invalid, as types; the rules and the MD5
//! digests live in the engine (`queue::attributes`).

use std::collections::BTreeMap;

/// One typed message attribute, as in SQS. Serialized with snake_case fields on the native API:
/// `{"data_type":"String","string_value":"x"}` / `{"data_type":"Binary","binary_value":"<base64>"}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributeValue {
    /// `String`, `Number` or `Binary`, optionally followed by `.` and a custom label
    /// (e.g. `Number.float`).
    pub data_type: String,
    /// The value of a `String` or `Number` attribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
    /// The value of a `Binary` attribute: base64 (standard alphabet, padded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary_value: Option<String>,
}

/// Name → value, sorted by name (BTreeMap), so MD5 and storage are deterministic.
pub type Attributes = BTreeMap<String, AttributeValue>;

/// Why an attribute or body is invalid; `Display` is the human message sent to clients,
/// in SQS's own wording where it is known. `String` fields are the attribute's name.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum InvalidMessage {
    #[error("The request must contain the parameter MessageBody.")]
    EmptyBody,
    /// The first disallowed code point.
    #[error("Invalid binary character '#x{0:X}' was found in the message body, {ALLOWED}")]
    InvalidBodyCharacter(u32),
    /// The number of attributes sent.
    #[error("Number of message attributes [{0}] exceeds the allowed maximum [10].")]
    TooManyAttributes(usize),
    #[error("Message (user) attribute name '{0}' is invalid: {1}.")]
    InvalidAttributeName(String, NameProblem),
    #[error(
        "Message (user) attribute '{0}' has an invalid data type. It must be String, Number or \
         Binary, optionally followed by '.' and a custom label, at most 256 characters in total."
    )]
    InvalidDataType(String),
    /// Neither value field is set; then the base type (`String`, `Number` or `Binary`).
    #[error("Message (user) attribute '{0}' must contain a non-empty value of type '{1}'.")]
    MissingValue(String, &'static str),
    /// The value is empty (a `Binary` one decodes to no bytes); then the base type.
    #[error("Message (user) attribute '{0}' must contain a non-empty value of type '{1}'.")]
    EmptyValue(String, &'static str),
    /// Only the other type's value field is set; then the base type and the field to use.
    #[error("Message (user) attribute '{0}' with type '{1}' must use field '{2}'.")]
    WrongValueField(String, &'static str, &'static str),
    #[error("Message (user) attribute '{0}' must have a single value.")]
    BothValues(String),
    /// A string value holds a character bodies may not; then that code point.
    #[error(
        "Invalid binary character '#x{1:X}' was found in the value of message (user) attribute \
         '{0}', {ALLOWED}"
    )]
    InvalidValueCharacter(String, u32),
    #[error("Can't cast the value of message (user) attribute '{0}' to a number.")]
    InvalidNumber(String),
    #[error("The number in message (user) attribute '{0}' has more than 38 significant digits.")]
    NumberTooPrecise(String),
    #[error(
        "The number in message (user) attribute '{0}' is out of range: it must be 0 or have a \
         magnitude between 10^-128 and 10^+126."
    )]
    NumberOutOfRange(String),
    #[error("The binary value of message (user) attribute '{0}' is not valid base64.")]
    InvalidBase64(String),
    #[error(
        "One or more parameters are invalid. Reason: Message must be shorter than {max} bytes."
    )]
    TooLarge { size: usize, max: usize },
}

const ALLOWED: &str = "the set of allowed characters is #x9 | #xA | #xD | \
    [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].";

/// Which naming rule an attribute name breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameProblem {
    #[error("it must not be empty")]
    Empty,
    #[error("it must be at most 256 characters long")]
    TooLong,
    #[error("it can only contain letters, digits, periods, hyphens and underscores")]
    InvalidCharacter,
    #[error("it cannot start or end with '.'")]
    LeadingOrTrailingPeriod,
    #[error("it cannot contain successive '.' characters")]
    ConsecutivePeriods,
    #[error("names beginning with 'AWS.' or 'Amazon.' are reserved")]
    ReservedPrefix,
}
