//! Opaque page cursors of queue listings (both doors hand them out and take them back).

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};

/// The cursor that continues a listing after queue `name`.
pub fn encode(name: &str) -> String {
    URL_SAFE_NO_PAD.encode(name)
}

/// The queue name a cursor continues after; `None` if it is not one of ours.
pub fn decode(cursor: &str) -> Option<String> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        // No queue name holds NUL, and PostgreSQL could not compare with one.
        .filter(|name| !name.contains('\0'))
}
