//! AWS Signature Version 4: parsing the `Authorization` header or the presigned query
//! parameters and checking the request time (±15 minutes), with SQS's error codes. Verifying a
//! signature against a secret is in `canonical`.

use axum::http::HeaderMap;
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

use super::errors::{
    INCOMPLETE_SIGNATURE, MISSING_AUTHENTICATION_TOKEN, REQUEST_EXPIRED, SqsError, SqsResult,
};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far a request's time may be from ours.
const MAX_SKEW: TimeDelta = TimeDelta::minutes(15);
/// Longest validity of a presigned request (7 days, as AWS allows).
const MAX_EXPIRES_SECONDS: i64 = 604_800;
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Characters left as they are when URI-encoding (RFC 3986 unreserved).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// The same, keeping `/` for paths.
const UNRESERVED_PATH: &AsciiSet = &UNRESERVED.remove(b'/');

/// The parts of an HTTP request a signature covers.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The path as sent (still percent-encoded).
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// A parsed (not yet verified) signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub access_key_id: String,
    /// `yyyymmdd` of the credential scope.
    pub scope_date: String,
    pub region: String,
    pub service: String,
    /// Lower-case names, in the order the client listed them.
    pub signed_headers: Vec<String>,
    /// Hex signature.
    pub signature: String,
    /// The request time as sent (`yyyymmddThhmmssZ`).
    pub amz_date: String,
    pub time: DateTime<Utc>,
    /// For presigned requests, seconds the signature stays valid.
    pub expires: Option<i64>,
}

impl Signature {
    fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.scope_date, self.region, self.service
        )
    }
}

/// Reads the signature from the `Authorization` header or, failing that, the presigned query
/// parameters. A request with neither is `MissingAuthenticationToken`; a malformed one is
/// `IncompleteSignature`.
pub fn parse(request: &Request<'_>) -> SqsResult<Signature> {
    if let Some(header) = request.headers.get("authorization") {
        let header = header
            .to_str()
            .map_err(|_| incomplete("The Authorization header is not valid text."))?;
        return parse_header(header, request);
    }
    let params: Vec<(String, String)> = form_urlencoded::parse(request.query.as_bytes())
        .into_owned()
        .collect();
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    if param("X-Amz-Algorithm").is_some() || param("X-Amz-Signature").is_some() {
        return parse_presigned(&param);
    }
    Err(SqsError::new(
        MISSING_AUTHENTICATION_TOKEN,
        "Request is missing Authentication Token",
    ))
}

fn parse_header(header: &str, request: &Request<'_>) -> SqsResult<Signature> {
    let rest = header
        .strip_prefix(ALGORITHM)
        .filter(|rest| rest.starts_with(' '))
        .ok_or_else(|| {
            incomplete(format!(
                "Unsupported authorization type: only {ALGORITHM} is accepted."
            ))
        })?;
    let field = |name: &str| {
        rest.split(',')
            .filter_map(|part| part.trim().split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.trim())
            .filter(|value| !value.is_empty())
            .ok_or_else(|| {
                incomplete(format!(
                    "Authorization header requires '{name}' parameter. Authorization={header}"
                ))
            })
    };
    let (credential, signed_headers, signature) = (
        field("Credential")?,
        field("SignedHeaders")?,
        field("Signature")?,
    );
    let amz_date = match request.headers.get("x-amz-date") {
        Some(value) => value.to_str().ok().map(str::to_owned),
        None => request
            .headers
            .get("date")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
            .map(|t| t.with_timezone(&Utc).format("%Y%m%dT%H%M%SZ").to_string()),
    }
    .ok_or_else(|| {
        incomplete(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        )
    })?;
    build(credential, signed_headers, signature, &amz_date, None)
}

fn parse_presigned<'p>(param: &impl Fn(&str) -> Option<&'p String>) -> SqsResult<Signature> {
    let get = |name: &str| {
        param(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| incomplete(format!("The presigned request is missing {name}.")))
    };
    if get("X-Amz-Algorithm")? != ALGORITHM {
        return Err(incomplete(format!(
            "Unsupported X-Amz-Algorithm: only {ALGORITHM} is accepted."
        )));
    }
    let expires = get("X-Amz-Expires")?
        .parse::<i64>()
        .ok()
        .filter(|e| (1..=MAX_EXPIRES_SECONDS).contains(e))
        .ok_or_else(|| incomplete("X-Amz-Expires must be a number of seconds up to 604800."))?;
    build(
        get("X-Amz-Credential")?,
        get("X-Amz-SignedHeaders")?,
        get("X-Amz-Signature")?,
        get("X-Amz-Date")?,
        Some(expires),
    )
}

fn build(
    credential: &str,
    signed_headers: &str,
    signature: &str,
    amz_date: &str,
    expires: Option<i64>,
) -> SqsResult<Signature> {
    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key_id, scope_date, region, service, "aws4_request"] = parts[..] else {
        return Err(incomplete(format!(
            "Credential should be scoped to a valid region and service, as \
             <key>/<yyyymmdd>/<region>/<service>/aws4_request, not '{credential}'."
        )));
    };
    if access_key_id.is_empty() || region.is_empty() || scope_date.len() != 8 {
        return Err(incomplete(format!(
            "Credential '{credential}' is malformed."
        )));
    }
    let time = NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
        .map_err(|_| {
            incomplete(format!(
                "X-Amz-Date '{amz_date}' is not in ISO 8601 basic format."
            ))
        })?
        .and_utc();
    let signature_is_hex =
        signature.len() == 64 && signature.bytes().all(|b| b.is_ascii_hexdigit());
    if !signature_is_hex {
        return Err(incomplete("The signature must be 64 hexadecimal digits."));
    }
    Ok(Signature {
        access_key_id: access_key_id.to_owned(),
        scope_date: scope_date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
        signed_headers: signed_headers
            .split(';')
            .map(str::to_ascii_lowercase)
            .collect(),
        signature: signature.to_ascii_lowercase(),
        amz_date: amz_date.to_owned(),
        time,
        expires,
    })
}

/// Checks the request time against `now`: within 15 minutes either way, or for a presigned
/// request not before its time (less 15 minutes) and not after it expired.
pub fn check_time(signature: &Signature, now: DateTime<Utc>) -> SqsResult<()> {
    let earliest = signature.time - MAX_SKEW;
    let latest = match signature.expires {
        Some(seconds) => signature.time + TimeDelta::seconds(seconds),
        None => signature.time + MAX_SKEW,
    };
    let now_text = now.format("%Y%m%dT%H%M%SZ");
    if now < earliest {
        return Err(SqsError::new(
            REQUEST_EXPIRED,
            format!(
                "Signature not yet current: {} is still later than {now_text} (+15 min.)",
                signature.amz_date
            ),
        ));
    }
    if now > latest {
        return Err(SqsError::new(
            REQUEST_EXPIRED,
            match signature.expires {
                Some(_) => "Request has expired.".to_owned(),
                None => format!(
                    "Signature expired: {} is now earlier than {now_text} (-15 min.)",
                    signature.amz_date
                ),
            },
        ));
    }
    Ok(())
}

fn incomplete(message: impl Into<String>) -> SqsError {
    SqsError::new(INCOMPLETE_SIGNATURE, message)
}

mod canonical;
pub use canonical::{SigningKeys, canonical_request, verify};

#[cfg(test)]
mod tests;
