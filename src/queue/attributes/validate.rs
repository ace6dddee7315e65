//! SQS's rules for bodies and message attributes: the characters a body may hold, attribute
//! names, data types (`String`, `Number`, `Binary` with optional labels) and values.

use std::num::IntErrorKind;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{AttributeValue, Attributes, InvalidMessage, MAX_ATTRIBUTES, NameProblem};

/// Longest attribute name, and longest data type, in characters.
const MAX_NAME_LENGTH: usize = 256;
const MAX_DATA_TYPE_LENGTH: usize = 256;
/// A non-zero `Number` has at most 38 significant digits and a magnitude in 10^-128 ..= 10^126.
const MAX_NUMBER_DIGITS: usize = 38;
const NUMBER_EXPONENTS: std::ops::RangeInclusive<i64> = -128..=126;

/// The three SQS base types; a data type is one of these plus an optional custom label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BaseType {
    String,
    Number,
    Binary,
}

impl BaseType {
    fn name(self) -> &'static str {
        match self {
            Self::String => "String",
            Self::Number => "Number",
            Self::Binary => "Binary",
        }
    }
}

/// Body must be non-empty and contain only the characters SQS allows:
/// `#x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF`.
pub fn validate_body(body: &str) -> Result<(), InvalidMessage> {
    if body.is_empty() {
        return Err(InvalidMessage::EmptyBody);
    }
    match first_disallowed_char(body) {
        Some(c) => Err(InvalidMessage::InvalidBodyCharacter(c.into())),
        None => Ok(()),
    }
}

/// Checks every SQS rule for message attributes: count, names, data types and values.
pub fn validate_attributes(attrs: &Attributes) -> Result<(), InvalidMessage> {
    if attrs.len() > MAX_ATTRIBUTES {
        return Err(InvalidMessage::TooManyAttributes(attrs.len()));
    }
    for (name, value) in attrs {
        validate_name(name)
            .map_err(|problem| InvalidMessage::InvalidAttributeName(name.clone(), problem))?;
        let base = parse_data_type(&value.data_type)
            .ok_or_else(|| InvalidMessage::InvalidDataType(name.clone()))?;
        validate_value(name, base, value)?;
    }
    Ok(())
}

/// The XML 1.0 character set SQS accepts in bodies, string values and data types.
fn is_allowed_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn first_disallowed_char(text: &str) -> Option<char> {
    text.chars().find(|&c| !is_allowed_char(c))
}

fn validate_name(name: &str) -> Result<(), NameProblem> {
    // Letters and digits, not only ASCII ones: SQS accepts names such as "attr.1øßä".
    let is_name_char = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '.');
    let reserved = ["AWS.", "Amazon."].iter().any(|prefix| {
        name.get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    });
    match name {
        "" => Err(NameProblem::Empty),
        _ if name.chars().count() > MAX_NAME_LENGTH => Err(NameProblem::TooLong),
        _ if !name.chars().all(is_name_char) => Err(NameProblem::InvalidCharacter),
        _ if name.starts_with('.') || name.ends_with('.') => {
            Err(NameProblem::LeadingOrTrailingPeriod)
        }
        _ if name.contains("..") => Err(NameProblem::ConsecutivePeriods),
        _ if reserved => Err(NameProblem::ReservedPrefix),
        _ => Ok(()),
    }
}

/// `String|Number|Binary` (case-sensitive), optionally `.label` where the label is non-empty
/// and uses the body character set; at most [`MAX_DATA_TYPE_LENGTH`] characters in all.
fn parse_data_type(data_type: &str) -> Option<BaseType> {
    let (base, label) = match data_type.split_once('.') {
        Some((base, label)) => (base, Some(label)),
        None => (data_type, None),
    };
    let bad_label =
        label.is_some_and(|label| label.is_empty() || first_disallowed_char(label).is_some());
    if bad_label || data_type.chars().count() > MAX_DATA_TYPE_LENGTH {
        return None;
    }
    match base {
        "String" => Some(BaseType::String),
        "Number" => Some(BaseType::Number),
        "Binary" => Some(BaseType::Binary),
        _ => None,
    }
}

/// Exactly the value field the base type uses must be set, and valid.
fn validate_value(
    name: &str,
    base: BaseType,
    value: &AttributeValue,
) -> Result<(), InvalidMessage> {
    let data_type = base.name();
    match (base, &value.string_value, &value.binary_value) {
        (_, Some(_), Some(_)) => Err(InvalidMessage::BothValues(name.into())),
        (_, None, None) => Err(InvalidMessage::MissingValue(name.into(), data_type)),
        (BaseType::Binary, None, Some(encoded)) => validate_binary_value(name, encoded),
        (BaseType::String | BaseType::Number, Some(text), None) => {
            validate_string_value(name, base, text)
        }
        _ => {
            // Only the other type's value field is set.
            let field = if base == BaseType::Binary {
                "Binary"
            } else {
                "String"
            };
            Err(InvalidMessage::WrongValueField(
                name.into(),
                data_type,
                field,
            ))
        }
    }
}

fn validate_string_value(name: &str, base: BaseType, text: &str) -> Result<(), InvalidMessage> {
    if text.is_empty() {
        return Err(InvalidMessage::EmptyValue(name.into(), base.name()));
    }
    if let Some(c) = first_disallowed_char(text) {
        return Err(InvalidMessage::InvalidValueCharacter(name.into(), c.into()));
    }
    if base == BaseType::Number {
        return validate_number(text).map_err(|make_error| make_error(name.into()));
    }
    Ok(())
}

fn validate_binary_value(name: &str, encoded: &str) -> Result<(), InvalidMessage> {
    match BASE64.decode(encoded) {
        Err(_) => Err(InvalidMessage::InvalidBase64(name.into())),
        Ok(bytes) if bytes.is_empty() => Err(InvalidMessage::EmptyValue(name.into(), "Binary")),
        Ok(_) => Ok(()),
    }
}

/// Checks an SQS `Number`: decimal syntax as Java's `BigDecimal` reads it
/// (`[+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?`), at most 38 significant
/// digits (leading and trailing zeros trimmed), and zero or a magnitude in 10^-128 ..= 10^126.
/// On failure, returns the matching [`InvalidMessage`] constructor.
fn validate_number(text: &str) -> Result<(), fn(String) -> InvalidMessage> {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, parse_exponent(exponent)),
        None => (unsigned, Some(0)),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let is_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    let well_formed = is_digits(int) && is_digits(frac) && !(int.is_empty() && frac.is_empty());
    let Some(exponent) = exponent.filter(|_| well_formed) else {
        return Err(InvalidMessage::InvalidNumber);
    };
    let digits = || int.bytes().chain(frac.bytes());
    let Some(leading_zeros) = digits().position(|d| d != b'0') else {
        return Ok(()); // zero, whatever its exponent
    };
    let trailing_zeros = digits().rev().position(|d| d != b'0').unwrap_or(0);
    let significant = int.len() + frac.len() - leading_zeros - trailing_zeros;
    if significant > MAX_NUMBER_DIGITS {
        return Err(InvalidMessage::NumberTooPrecise);
    }
    // The value is d.ddd… × 10^scientific, d being its first significant digit; at the top
    // exponent only 10^126 itself is in range.
    let scientific = exponent.saturating_add(int.len() as i64 - leading_zeros as i64 - 1);
    let is_power_of_ten = significant == 1 && digits().nth(leading_zeros) == Some(b'1');
    let in_range = NUMBER_EXPONENTS.contains(&scientific)
        && (scientific < *NUMBER_EXPONENTS.end() || is_power_of_ten);
    if !in_range {
        return Err(InvalidMessage::NumberOutOfRange);
    }
    Ok(())
}

/// `[+-]? digits`; an exponent too large for i64 saturates (it is out of range anyway).
fn parse_exponent(text: &str) -> Option<i64> {
    match text.parse::<i64>() {
        Ok(exponent) => Some(exponent),
        Err(e) if *e.kind() == IntErrorKind::PosOverflow => Some(i64::MAX),
        Err(e) if *e.kind() == IntErrorKind::NegOverflow => Some(i64::MIN),
        Err(_) => None,
    }
}
