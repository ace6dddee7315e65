//! The MD5 digests SQS clients verify: of the body, and of the message attributes in SQS's
//! length-prefixed encoding (`sqs.md` §2.7).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::{Digest, Md5};

use super::{AttributeValue, Attributes};

/// Lowercase hex MD5 of the UTF-8 body.
pub fn md5_of_body(body: &str) -> String {
    to_hex(&Md5::digest(body.as_bytes()))
}

/// SQS `MD5OfMessageAttributes` (sqs.md §2.7); `None` when `attrs` is empty.
///
/// Meant for validated attributes: a binary value that is not valid base64 is hashed as text.
pub fn md5_of_attributes(attrs: &Attributes) -> Option<String> {
    if attrs.is_empty() {
        return None;
    }
    // SDKs sort names as Java/.NET strings, by UTF-16 code units; for some non-ASCII names
    // that differs from the BTreeMap's UTF-8 byte order.
    let mut entries: Vec<_> = attrs.iter().collect();
    entries.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
    let mut hasher = Md5::new();
    for (name, value) in entries {
        hash_attribute(&mut hasher, name, value);
    }
    Some(to_hex(&hasher.finalize()))
}

/// `len(name) ‖ name ‖ len(type) ‖ type ‖ transport ‖ len(value) ‖ value`, lengths u32 BE;
/// transport is 1 for a string value, 2 for a (decoded) binary value.
pub(super) fn hash_attribute(hasher: &mut Md5, name: &str, value: &AttributeValue) {
    update_length_prefixed(hasher, name.as_bytes());
    update_length_prefixed(hasher, value.data_type.as_bytes());
    if let Some(text) = &value.string_value {
        hasher.update([1]);
        update_length_prefixed(hasher, text.as_bytes());
    } else if let Some(encoded) = &value.binary_value {
        let bytes = BASE64
            .decode(encoded)
            .unwrap_or_else(|_| encoded.clone().into_bytes());
        hasher.update([2]);
        update_length_prefixed(hasher, &bytes);
    }
}

fn update_length_prefixed(hasher: &mut Md5, bytes: &[u8]) {
    // Lengths are bounded by the maximum message size, far below u32::MAX.
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    hasher.update(len.to_be_bytes());
    hasher.update(bytes);
}

/// Lower-case hex digits of `bytes` (every send's and receive's digests, every SigV4 check:
/// from a table, not a `format!` per byte).
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}
