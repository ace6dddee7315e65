//! Receipt handles: opaque, unforgeable names of one delivery of one message.
//!
//! A handle carries (queue id, row id, receive count) and an HMAC-SHA256 tag under a server key
//! that all nodes share through the database. The receive count is the delivery's generation:
//! every statement that uses a handle matches it, so a handle from an earlier delivery never
//! touches the message after it was received again.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub use crate::domain::Delivery;

const VERSION: u8 = 1;
const PAYLOAD_LEN: usize = 1 + 8 + 8 + 4;
const TAG_LEN: usize = 16;

/// Signs and verifies receipt handles.
#[derive(Clone)]
pub struct HandleKey(Hmac<Sha256>);

impl std::fmt::Debug for HandleKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HandleKey(..)")
    }
}

impl HandleKey {
    pub fn new(secret: &[u8]) -> Self {
        Self(Hmac::new_from_slice(secret).expect("HMAC accepts keys of any length"))
    }

    /// Encodes a delivery as a URL-safe handle.
    pub fn encode(&self, delivery: Delivery) -> String {
        let mut bytes = Vec::with_capacity(PAYLOAD_LEN + TAG_LEN);
        bytes.push(VERSION);
        bytes.extend_from_slice(&delivery.queue_id.to_be_bytes());
        bytes.extend_from_slice(&delivery.row_id.to_be_bytes());
        bytes.extend_from_slice(&delivery.generation.to_be_bytes());
        let tag = self.tag(&bytes);
        bytes.extend_from_slice(&tag[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Decodes a handle; `None` when it is malformed or its tag does not verify.
    pub fn decode(&self, handle: &str) -> Option<Delivery> {
        let bytes = URL_SAFE_NO_PAD.decode(handle).ok()?;
        if bytes.len() != PAYLOAD_LEN + TAG_LEN || bytes[0] != VERSION {
            return None;
        }
        let (payload, tag) = bytes.split_at(PAYLOAD_LEN);
        let mut mac = self.0.clone();
        mac.update(payload);
        mac.verify_truncated_left(tag).ok()?;
        Some(Delivery {
            queue_id: i64::from_be_bytes(payload[1..9].try_into().ok()?),
            row_id: i64::from_be_bytes(payload[9..17].try_into().ok()?),
            generation: i32::from_be_bytes(payload[17..21].try_into().ok()?),
        })
    }

    fn tag(&self, payload: &[u8]) -> Vec<u8> {
        let mut mac = self.0.clone();
        mac.update(payload);
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Delivery = Delivery {
        queue_id: 7,
        row_id: 123_456_789,
        generation: 3,
    };

    #[test]
    fn round_trips() {
        let key = HandleKey::new(b"k");
        assert_eq!(key.decode(&key.encode(D)), Some(D));
    }

    #[test]
    fn rejects_other_keys_tampering_and_garbage() {
        let key = HandleKey::new(b"k");
        let handle = key.encode(D);
        assert_eq!(HandleKey::new(b"other").decode(&handle), None);
        let mut bytes = URL_SAFE_NO_PAD.decode(&handle).unwrap();
        bytes[5] ^= 1;
        assert_eq!(key.decode(&URL_SAFE_NO_PAD.encode(&bytes)), None);
        for garbage in ["", "x", "!!!!", &handle[..handle.len() - 2]] {
            assert_eq!(key.decode(garbage), None, "{garbage}");
        }
    }
}
