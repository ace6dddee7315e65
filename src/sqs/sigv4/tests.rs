//! SigV4 verification checked against requests signed by the `aws-sigv4` crate (the signer
//! the Rust SDK uses), not only against our own canonicalisation.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::{
    http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign},
    sign::v4,
};
use axum::http::{self, HeaderValue};

use super::*;

const KEY: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// An HTTP request as the server sees it after the AWS signer signed it.
struct Signed {
    method: String,
    path: String,
    query: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Signed {
    fn request(&self) -> Request<'_> {
        Request {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            body: &self.body,
        }
    }
}

fn signed(
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    presign: Option<Duration>,
    time: SystemTime,
) -> Signed {
    let identity = Credentials::new(KEY, SECRET, None, None, "test").into();
    let mut settings = SigningSettings::default();
    if let Some(expires) = presign {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(expires);
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("eu-west-1")
        .name("sqs")
        .time(time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        method,
        uri,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut builder = http::Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let mut request = builder.body(()).unwrap();
    instructions.apply_to_request_http1x(&mut request);
    let uri = request.uri().clone();
    let mut headers = request.headers().clone();
    let host = uri.authority().unwrap().as_str().to_owned();
    headers.insert("host", HeaderValue::from_str(&host).unwrap());
    Signed {
        method: method.to_owned(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        headers,
        body: body.to_vec(),
    }
}

fn json_request(body: &[u8]) -> Signed {
    signed(
        "POST",
        "http://127.0.0.1:9324/",
        &[
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", "AmazonSQS.SendMessage"),
        ],
        body,
        None,
        SystemTime::now(),
    )
}

#[test]
fn accepts_an_sdk_signed_json_request() {
    let req = json_request(br#"{"QueueUrl":"http://x/000000000000/q","MessageBody":"hi"}"#);
    let signature = parse(&req.request()).unwrap();
    assert_eq!(signature.access_key_id, KEY);
    assert_eq!(signature.region, "eu-west-1");
    assert_eq!(signature.service, "sqs");
    check_time(&signature, Utc::now()).unwrap();
    verify(&signature, &req.request(), SECRET).unwrap();
}

#[test]
fn rejects_a_wrong_secret_or_a_changed_body() {
    let mut req = json_request(b"{}");
    let signature = parse(&req.request()).unwrap();
    let err = verify(&signature, &req.request(), "not the secret").unwrap_err();
    assert_eq!(err.code, "SignatureDoesNotMatch");
    req.body = b"{ }".to_vec();
    let err = verify(&signature, &req.request(), SECRET).unwrap_err();
    assert_eq!(err.code, "SignatureDoesNotMatch");
}

#[test]
fn remembered_signing_keys_are_used_only_with_their_secret() {
    let keys = SigningKeys::default();
    let mut req = json_request(b"{}");
    let signature = parse(&req.request()).unwrap();
    // Derived and remembered, then reused.
    keys.verify(&signature, &req.request(), SECRET).unwrap();
    keys.verify(&signature, &req.request(), SECRET).unwrap();
    // Same access key, date and region: a wrong secret is not answered from the cache.
    let err = keys
        .verify(&signature, &req.request(), "not the secret")
        .unwrap_err();
    assert_eq!(err.code, "SignatureDoesNotMatch");
    // A rotated secret replaced the remembered key; the right one is derived again.
    keys.verify(&signature, &req.request(), SECRET).unwrap();
    // A remembered key still checks the rest of the request.
    req.body = b"{ }".to_vec();
    let err = keys.verify(&signature, &req.request(), SECRET).unwrap_err();
    assert_eq!(err.code, "SignatureDoesNotMatch");
}

#[test]
fn canonicalises_paths_queries_and_header_values_like_the_sdk() {
    let req = signed(
        "POST",
        "http://localhost:9324/000000000000/my-queue_1?b=2&a=1&a=0&Message%20Body=h%C3%A9llo%2Bworld&empty=&t=a~b",
        &[
            (
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
            ("x-custom", "  spaced    out   value "),
        ],
        b"Action=ListQueues&Version=2012-11-05",
        None,
        SystemTime::now(),
    );
    let signature = parse(&req.request()).unwrap();
    assert!(signature.signed_headers.contains(&"x-custom".to_owned()));
    verify(&signature, &req.request(), SECRET).unwrap();
}

#[test]
fn accepts_presigned_requests_until_they_expire() {
    let start = SystemTime::now() - Duration::from_secs(60);
    let req = signed(
        "GET",
        "http://127.0.0.1:9324/000000000000/q?Action=GetQueueUrl&QueueName=q",
        &[],
        b"",
        Some(Duration::from_secs(300)),
        start,
    );
    let signature = parse(&req.request()).unwrap();
    assert_eq!(signature.expires, Some(300));
    check_time(&signature, Utc::now()).unwrap();
    verify(&signature, &req.request(), SECRET).unwrap();
    let later = Utc::now() + TimeDelta::seconds(600);
    assert_eq!(
        check_time(&signature, later).unwrap_err().code,
        "RequestExpired"
    );
    let err = verify(&signature, &req.request(), "wrong").unwrap_err();
    assert_eq!(err.code, "SignatureDoesNotMatch");
}

#[test]
fn rejects_requests_outside_the_clock_window() {
    let old = SystemTime::now() - Duration::from_secs(16 * 60);
    let req = signed("POST", "http://h/", &[], b"{}", None, old);
    let signature = parse(&req.request()).unwrap();
    assert_eq!(
        check_time(&signature, Utc::now()).unwrap_err().code,
        "RequestExpired"
    );
    let future = SystemTime::now() + Duration::from_secs(16 * 60);
    let req = signed("POST", "http://h/", &[], b"{}", None, future);
    let signature = parse(&req.request()).unwrap();
    assert!(check_time(&signature, Utc::now()).is_err());
    let near = SystemTime::now() - Duration::from_secs(14 * 60);
    let req = signed("POST", "http://h/", &[], b"{}", None, near);
    check_time(&parse(&req.request()).unwrap(), Utc::now()).unwrap();
}

#[test]
fn missing_and_malformed_signatures_have_their_own_codes() {
    let headers = HeaderMap::new();
    let request = Request {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        body: b"",
    };
    assert_eq!(
        parse(&request).unwrap_err().code,
        "MissingAuthenticationToken"
    );
    for bad in [
        "Basic dXNlcjpwYXNz",
        "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/sqs/aws4_request",
        "AWS4-HMAC-SHA256 Credential=AKID/2026/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=AKID, SignedHeaders=host, Signature=0000000000000000000000000000000000000000000000000000000000000000",
    ] {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static(bad));
        headers.insert("x-amz-date", HeaderValue::from_static("20260101T000000Z"));
        let request = Request {
            headers: &headers,
            ..request
        };
        assert_eq!(
            parse(&request).unwrap_err().code,
            "IncompleteSignature",
            "{bad}"
        );
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_static(
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/sqs/aws4_request, \
             SignedHeaders=host, Signature=0000000000000000000000000000000000000000000000000000000000000000",
        ),
    );
    let request = Request {
        headers: &headers,
        ..request
    };
    assert_eq!(parse(&request).unwrap_err().code, "IncompleteSignature");
}
