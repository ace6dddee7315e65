//! The size a message counts against its queue's maximum message size.

use super::{AttributeValue, Attributes, InvalidMessage};

/// Size that counts against the queue's maximum message size: body bytes plus, for each
/// attribute, name bytes + data type bytes + value bytes (decoded length for binary values).
pub fn message_size(body: &str, attrs: &Attributes) -> usize {
    let value_size = |v: &AttributeValue| {
        v.string_value.as_deref().map_or(0, str::len)
            + v.binary_value.as_deref().map_or(0, decoded_len)
    };
    let attributes: usize = attrs
        .iter()
        .map(|(name, value)| name.len() + value.data_type.len() + value_size(value))
        .sum();
    body.len() + attributes
}

/// Rejects a message whose [`message_size`] exceeds `max` bytes.
pub fn validate_size(body: &str, attrs: &Attributes, max: usize) -> Result<(), InvalidMessage> {
    match message_size(body, attrs) {
        size if size > max => Err(InvalidMessage::TooLarge { size, max }),
        _ => Ok(()),
    }
}
/// Decoded length of padded base64, without decoding (exact for valid input).
pub(super) fn decoded_len(encoded: &str) -> usize {
    let padding = encoded.bytes().rev().take_while(|&b| b == b'=').count();
    (encoded.len() / 4 * 3).saturating_sub(padding)
}
