//! Property tests of the parsers that read untrusted input before anything else does: the SQS
//! JSON and Query decoders, SigV4 parsing, queue URLs and ARNs, and receipt handles. Whatever
//! the input, they never panic, and every failure is a client (4xx) error.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use spool::{
    queue::handle::{Delivery, HandleKey},
    sqs::{
        errors::SqsError,
        json, query,
        sigv4::{self, Request},
        urls,
    },
};

fn assert_client_error<T>(result: Result<T, SqsError>) {
    if let Err(error) = result {
        assert!(error.status.is_client_error(), "{error:?}");
    }
}

/// Form-like text: keys with dotted, numbered members and `=`/`&`/`%` in odd places.
fn form() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        Just("Action=".to_owned()),
        Just("SendMessageBatch".to_owned()),
        Just("DeleteMessageBatch".to_owned()),
        Just("CreateQueue".to_owned()),
        Just("GetQueueAttributes".to_owned()),
        Just("&".to_owned()),
        Just("=".to_owned()),
        Just(".".to_owned()),
        Just("Version=2012-11-05".to_owned()),
        Just("SendMessageBatchRequestEntry".to_owned()),
        Just("DeleteMessageBatchRequestEntry".to_owned()),
        Just("Attribute".to_owned()),
        Just("AttributeName".to_owned()),
        Just("MessageAttribute".to_owned()),
        Just("Tag".to_owned()),
        Just("Name".to_owned()),
        Just("Value".to_owned()),
        Just("Id".to_owned()),
        Just("MaxNumberOfMessages".to_owned()),
        "[0-9]{1,3}",
        "%[0-9A-Fa-f]{0,2}",
        "[ -~]{0,8}",
    ];
    prop::collection::vec(part, 0..40).prop_map(|parts| parts.concat())
}

/// JSON-ish bodies: real JSON of any shape, or arbitrary bytes.
fn json_body() -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        ".{0,20}".prop_map(serde_json::Value::from),
    ];
    let value = leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[A-Za-z]{0,12}", inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    });
    prop_oneof![
        value.prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..200),
    ]
}

fn header_map(pairs: &[(&'static str, String)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    headers
}

/// Authorization headers near the real shape, with parts dropped, repeated or garbled.
fn authorization() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        Just("AWS4-HMAC-SHA256 ".to_owned()),
        Just("Credential=".to_owned()),
        Just("AKID/20260101/us-east-1/sqs/aws4_request".to_owned()),
        Just("SignedHeaders=host;x-amz-date".to_owned()),
        Just("Signature=".to_owned()),
        "[0-9a-f]{0,64}",
        Just(", ".to_owned()),
        Just(",".to_owned()),
        Just("/".to_owned()),
        Just("=".to_owned()),
        "[ -~]{0,10}",
    ];
    prop::collection::vec(part, 0..14).prop_map(|parts| parts.concat())
}

proptest! {
    #[test]
    fn the_json_decoder_never_panics_and_fails_as_a_client_error(
        target in prop_oneof![Just("AmazonSQS.SendMessage".to_owned()), "[ -~]{0,30}"],
        content_type in prop_oneof![
            Just("application/x-amz-json-1.0".to_owned()),
            Just("application/x-amz-json-1.0; charset=latin1".to_owned()),
            "[ -~]{0,40}",
        ],
        body in json_body(),
    ) {
        let headers = header_map(&[("x-amz-target", target), ("content-type", content_type)]);
        assert_client_error(json::decode(&headers, &body));
    }

    #[test]
    fn the_query_decoder_never_panics_and_fails_as_a_client_error(
        uri in prop::option::of(form()),
        body in form(),
    ) {
        assert_client_error(query::decode(uri.as_deref(), body.as_bytes()));
    }

    #[test]
    fn the_query_decoder_survives_arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..300)) {
        assert_client_error(query::decode(None, &body));
    }

    #[test]
    fn sigv4_parsing_never_panics_and_fails_as_a_client_error(
        auth in prop::option::of(authorization()),
        amz_date in prop_oneof![Just("20260101T000000Z".to_owned()), "[0-9TZ]{0,18}"],
        query in form(),
    ) {
        let mut pairs = vec![("x-amz-date", amz_date), ("host", "localhost".to_owned())];
        if let Some(auth) = auth {
            pairs.push(("authorization", auth));
        }
        let headers = header_map(&pairs);
        let request = Request { method: "POST", path: "/", query: &query, headers: &headers, body: b"" };
        let parsed = sigv4::parse(&request);
        if let Ok(signature) = &parsed {
            assert_client_error(sigv4::check_time(signature, chrono::Utc::now()));
        }
        assert_client_error(parsed);
    }

    #[test]
    fn queue_urls_and_arns_never_panic(text in ".{0,120}") {
        let _ = urls::parse_queue_url(&text);
        let _ = urls::parse_arn(&text);
    }

    #[test]
    fn receipt_handles_round_trip_and_no_other_text_decodes(
        queue_id in any::<i64>(),
        row_id in any::<i64>(),
        generation in any::<i32>(),
        junk in ".{0,300}",
        flip in any::<prop::sample::Index>(),
    ) {
        let key = HandleKey::new(b"a secret of the test");
        let delivery = Delivery { queue_id, row_id, generation };
        let handle = key.encode(delivery);
        prop_assert_eq!(key.decode(&handle), Some(delivery));
        prop_assert_eq!(key.decode(&junk), None);
        // Any one character changed breaks the handle.
        let mut bytes = handle.clone().into_bytes();
        let at = flip.index(bytes.len());
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        prop_assert!(tampered == handle || key.decode(&tampered).is_none());
    }
}
