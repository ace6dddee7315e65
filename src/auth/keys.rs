//! The master key and what is derived from it: JWT signing keys and SigV4 secrets.
//!
//! The master key is configuration (`SPOOL_SECRET_KEY`, or a key file in the embedded data
//! directory). The database only holds salts and key ids, so a dump of it yields no credential.

use std::{io::Write, os::unix::fs::OpenOptionsExt, path::Path};

use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The server's root secret.
#[derive(Clone)]
pub struct MasterKey(Vec<u8>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// Parses a key given as hex or base64 of at least 32 bytes.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bytes = decode_hex(text)
            .or_else(|| STANDARD.decode(text).ok())
            .or_else(|| URL_SAFE_NO_PAD.decode(text).ok())
            .ok_or("the secret key must be hex or base64")?;
        if bytes.len() < 32 {
            return Err("the secret key must be at least 32 bytes".to_owned());
        }
        Ok(Self(bytes))
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        Self(rand::random::<[u8; 32]>().to_vec())
    }

    /// Reads the key file at `path`, creating it (mode 0600) with a fresh key if missing.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text).map_err(anyhow::Error::msg),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)?;
                writeln!(file, "{}", STANDARD.encode(&key.0))?;
                Ok(key)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// HMAC-SHA256(master, purpose ‖ 0 ‖ input).
    fn derive(&self, purpose: &str, input: &[u8]) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("any key length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(input);
        mac.finalize().into_bytes().to_vec()
    }

    /// The HMAC key of the JWT signing key with this salt.
    pub fn jwt_key(&self, salt: &[u8]) -> Vec<u8> {
        self.derive("spool-jwt-signing-key", salt)
    }

    /// The SigV4 secret access key of a token's access key id (40 characters, like AWS's).
    pub fn sigv4_secret(&self, access_key_id: &str) -> String {
        let bytes = self.derive("spool-sigv4-secret", access_key_id.as_bytes());
        URL_SAFE_NO_PAD.encode(&bytes[..30])
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hex_and_base64_of_32_bytes_or_more() {
        assert!(MasterKey::parse(&"ab".repeat(32)).is_ok());
        assert!(MasterKey::parse(&STANDARD.encode([7u8; 32])).is_ok());
        assert!(MasterKey::parse(&"ab".repeat(31)).is_err());
        assert!(MasterKey::parse("not a key!").is_err());
    }

    #[test]
    fn derived_secrets_depend_on_the_master_key() {
        let a = MasterKey::parse(&"01".repeat(32)).unwrap();
        let b = MasterKey::parse(&"02".repeat(32)).unwrap();
        assert_eq!(a.sigv4_secret("SPLX").len(), 40);
        assert_eq!(a.sigv4_secret("SPLX"), a.sigv4_secret("SPLX"));
        assert_ne!(a.sigv4_secret("SPLX"), b.sigv4_secret("SPLX"));
        assert_ne!(a.jwt_key(b"s"), b.jwt_key(b"s"));
    }
}
