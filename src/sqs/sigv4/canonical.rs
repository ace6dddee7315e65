//! SigV4 verification: the canonical request, the string to sign and the derived signing key,
//! computed from the request as received and compared with the client's signature.

use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::utf8_percent_encode;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{ALGORITHM, Request, Signature, UNRESERVED, UNRESERVED_PATH, UNSIGNED_PAYLOAD};
use crate::sqs::errors::{SIGNATURE_DOES_NOT_MATCH, SqsError, SqsResult};

/// Verifies `signature` over `request` with `secret`.
pub fn verify(signature: &Signature, request: &Request<'_>, secret: &str) -> SqsResult<()> {
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
    let key = signing_key(secret, signature);
    let matches = hashes.iter().any(|payload_hash| {
        let canonical = canonical_request(request, signature, payload_hash);
        let expected = hex(&hmac(
            &key,
            string_to_sign(signature, &canonical).as_bytes(),
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
    let headers: String = signed
        .iter()
        .map(|name| format!("{name}:{}\n", header_value(request.headers, name)))
        .collect();
    format!(
        "{}\n{}\n{}\n{headers}\n{}\n{payload_hash}",
        request.method,
        canonical_uri(request.path),
        canonical_query(request.query, signature.expires.is_some()),
        signed.join(";"),
    )
}

fn string_to_sign(signature: &Signature, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{}\n{}\n{}",
        signature.amz_date,
        signature.scope(),
        hex(&Sha256::digest(canonical_request.as_bytes()))
    )
}

fn signing_key(secret: &str, signature: &Signature) -> Vec<u8> {
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
fn canonical_uri(path: &str) -> String {
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
    let mut normalized = format!("/{}", segments.join("/"));
    if path.len() > 1 && path.ends_with('/') && !normalized.ends_with('/') {
        normalized.push('/');
    }
    utf8_percent_encode(&normalized, UNRESERVED_PATH).to_string()
}

/// Query parameters decoded, re-encoded with the unreserved set, sorted by name then value.
/// A presigned request's own signature parameter is left out.
fn canonical_query(query: &str, presigned: bool) -> String {
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
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// All values of a header, each trimmed with inner runs of spaces collapsed, joined by `,`.
fn header_value(headers: &HeaderMap, name: &str) -> String {
    headers
        .get_all(name)
        .iter()
        .map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn mismatch() -> SqsError {
    SqsError::new(
        SIGNATURE_DOES_NOT_MATCH,
        "The request signature we calculated does not match the signature you provided. Check \
         your AWS Secret Access Key and signing method. Consult the service documentation for \
         details.",
    )
}
