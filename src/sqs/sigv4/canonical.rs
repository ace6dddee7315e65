//! SigV4 verification: the canonical request, the string to sign and the derived signing key,
//! computed from the request as received and compared with the client's signature.
//!
//! Every SQS request pays for this, so it is written to allocate little: the canonical request
//! and the string to sign are each built in one `String`, hex digits come from a table, and
//! [`SigningKeys`] remembers derived signing keys, which change once a day per access key and
//! region (four HMACs saved per request).

use std::{
    collections::HashMap,
    fmt::Write as _,
    sync::{Arc, Mutex},
};

use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::utf8_percent_encode;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{ALGORITHM, Request, Signature, UNRESERVED, UNRESERVED_PATH, UNSIGNED_PAYLOAD};
use crate::{
    queue::attributes::to_hex as hex,
    sqs::errors::{SIGNATURE_DOES_NOT_MATCH, SqsError, SqsResult},
};

/// A derived signing key (`kSigning`).
type Key = [u8; 32];

/// Most signing keys remembered; the cache starts over when it is full.
const MAX_KEYS: usize = 10_000;

/// Derived signing keys by access key and credential scope (date, region, service), each with
/// the secret it was derived from (a key is only reused for the same secret, so a rotated or
/// wrong secret is derived afresh). Cloning shares the cache.
#[derive(Debug, Clone, Default)]
pub struct SigningKeys(Arc<Mutex<HashMap<KeyId, (String, Key)>>>);

/// What a signing key is derived for, besides the secret: the access key id and the
/// credential scope.
type KeyId = (String, String);

impl SigningKeys {
    /// Verifies `signature` over `request` with `secret`, deriving the signing key only when
    /// it is not remembered.
    pub fn verify(
        &self,
        signature: &Signature,
        request: &Request<'_>,
        secret: &str,
    ) -> SqsResult<()> {
        let scope = (signature.access_key_id.clone(), signature.scope());
        let remembered = {
            let keys = self.0.lock().expect("signing keys");
            keys.get(&scope)
                .filter(|(derived_from, _)| derived_from == secret)
                .map(|(_, key)| *key)
        };
        let key = match remembered {
            Some(key) => key,
            None => {
                let key = signing_key(secret, signature);
                let mut keys = self.0.lock().expect("signing keys");
                if keys.len() >= MAX_KEYS {
                    keys.clear();
                }
                keys.insert(scope.clone(), (secret.to_owned(), key));
                key
            }
        };
        check(signature, request, &key, &scope.1)
    }
}

/// Verifies `signature` over `request` with `secret` (deriving the signing key).
pub fn verify(signature: &Signature, request: &Request<'_>, secret: &str) -> SqsResult<()> {
    check(
        signature,
        request,
        &signing_key(secret, signature),
        &signature.scope(),
    )
}

/// Compares the client's signature with ours, made with the signing key `key` for the
/// credential scope `scope` (`Signature::scope`).
fn check(signature: &Signature, request: &Request<'_>, key: &Key, scope: &str) -> SqsResult<()> {
    if !signature.amz_date.starts_with(&signature.scope_date) {
        return Err(mismatch());
    }
    if !signature.signed_headers.iter().any(|h| h == "host") {
        return Err(mismatch());
    }
    let body_hash = hex(&Sha256::digest(request.body));
    let mut hashes = vec![body_hash];
    if signature.expires.is_some() && request.body.is_empty() {
        hashes.push(UNSIGNED_PAYLOAD.to_owned());
    }
    let matches = hashes.iter().any(|payload_hash| {
        let canonical = canonical_request(request, signature, payload_hash);
        let expected = hex(&hmac(
            key,
            string_to_sign(signature, scope, &canonical).as_bytes(),
        ));
        bool::from(expected.as_bytes().ct_eq(signature.signature.as_bytes()))
    });
    if matches { Ok(()) } else { Err(mismatch()) }
}

/// The canonical request: method, canonical URI, canonical query, canonical headers, signed
/// headers, payload hash.
pub fn canonical_request(
    request: &Request<'_>,
    signature: &Signature,
    payload_hash: &str,
) -> String {
    let mut signed: Vec<&str> = signature
        .signed_headers
        .iter()
        .map(String::as_str)
        .collect();
    signed.sort_unstable();
    let mut out = String::with_capacity(512);
    out.push_str(request.method);
    out.push('\n');
    push_canonical_uri(&mut out, request.path);
    out.push('\n');
    push_canonical_query(&mut out, request.query, signature.expires.is_some());
    out.push('\n');
    for name in &signed {
        out.push_str(name);
        out.push(':');
        push_header_value(&mut out, request.headers, name);
        out.push('\n');
    }
    out.push('\n');
    for (i, name) in signed.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(name);
    }
    out.push('\n');
    out.push_str(payload_hash);
    out
}

fn string_to_sign(signature: &Signature, scope: &str, canonical_request: &str) -> String {
    let mut out = String::with_capacity(160);
    out.push_str(ALGORITHM);
    out.push('\n');
    out.push_str(&signature.amz_date);
    out.push('\n');
    out.push_str(scope);
    out.push('\n');
    out.push_str(&hex(&Sha256::digest(canonical_request.as_bytes())));
    out
}

fn signing_key(secret: &str, signature: &Signature) -> Key {
    let date = hmac(
        format!("AWS4{secret}").as_bytes(),
        signature.scope_date.as_bytes(),
    );
    let region = hmac(&date, signature.region.as_bytes());
    let service = hmac(&region, signature.service.as_bytes());
    hmac(&service, b"aws4_request")
}

/// The path with dot segments and empty segments removed, URI-encoded once more (AWS encodes
/// the already-encoded path again for every service but S3).
fn push_canonical_uri(out: &mut String, path: &str) {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut normalized = String::with_capacity(path.len() + 1);
    normalized.push('/');
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 {
            normalized.push('/');
        }
        normalized.push_str(segment);
    }
    if path.len() > 1 && path.ends_with('/') && !normalized.ends_with('/') {
        normalized.push('/');
    }
    let _ = write!(out, "{}", utf8_percent_encode(&normalized, UNRESERVED_PATH));
}

/// Query parameters decoded, re-encoded with the unreserved set, sorted by name then value.
/// A presigned request's own signature parameter is left out.
fn push_canonical_query(out: &mut String, query: &str, presigned: bool) {
    if query.is_empty() {
        return;
    }
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| !(presigned && k == "X-Amz-Signature"))
        .map(|(k, v)| {
            (
                utf8_percent_encode(&k, UNRESERVED).to_string(),
                utf8_percent_encode(&v, UNRESERVED).to_string(),
            )
        })
        .collect();
    pairs.sort();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
}

/// All values of a header, each trimmed with inner runs of spaces collapsed, joined by `,`.
fn push_header_value(out: &mut String, headers: &HeaderMap, name: &str) {
    for (i, value) in headers.get_all(name).iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let value = String::from_utf8_lossy(value.as_bytes());
        for (j, word) in value.split_whitespace().enumerate() {
            if j > 0 {
                out.push(' ');
            }
            out.push_str(word);
        }
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Key {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn mismatch() -> SqsError {
    SqsError::new(
        SIGNATURE_DOES_NOT_MATCH,
        "The request signature we calculated does not match the signature you provided. Check \
         your AWS Secret Access Key and signing method. Consult the service documentation for \
         details.",
    )
}
