//! Every class of bad input gets a 4xx in the API's error shape, never a 500.

use reqwest::{Method, StatusCode, header};
use serde_json::json;

use crate::helpers::{TestApp, assert_error, reply};

#[tokio::test]
async fn malformed_bodies_are_client_errors_in_the_api_shape() {
    let app = TestApp::spawn().await;
    app.create_queue("q", json!({})).await;
    let cases: Vec<(Vec<u8>, StatusCode, &str)> = vec![
        (
            b"{not json".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (b"".to_vec(), StatusCode::BAD_REQUEST, "invalid_request"),
        (b"[]".to_vec(), StatusCode::BAD_REQUEST, "invalid_request"),
        (
            br#"{"body": 5}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            br#"{"body": "x", "extra": 1}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            b"{\"body\": \"\xff\xfe\"}".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            br#"{"body": "\ud800"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            br#"{"body": "nul \u0000"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            br#"{"body": "x", "delay_seconds": 1e99}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            br#"{"body": "x", "attributes": {"a": {"data_type": "Number", "string_value": "1x"}}}"#
                .to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (body, status, code) in cases {
        let r = app
            .client
            .post(app.url("/v1/queues/q/messages"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let r = reply(r).await;
        assert_error(&r, status, code);
        assert!(
            r.status != StatusCode::INTERNAL_SERVER_ERROR,
            "{:?}",
            String::from_utf8_lossy(&body)
        );
    }
}

#[tokio::test]
async fn a_missing_content_type_is_415() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .post(app.url("/v1/queues"))
        .body(r#"{"name": "q"}"#)
        .send()
        .await
        .unwrap();
    assert_error(
        &reply(r).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let app = TestApp::spawn().await;
    app.create_queue("q", json!({})).await;
    let huge = "x".repeat(17 * 1024 * 1024);
    let r = app
        .post("/v1/queues/q/messages", json!({"body": huge}))
        .await;
    assert_error(&r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    // Within the request limit but over the queue's 1 MiB.
    let big = "x".repeat(1_048_577);
    let r = app
        .post("/v1/queues/q/messages", json!({"body": big}))
        .await;
    assert_error(&r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
}

#[tokio::test]
async fn unknown_routes_methods_and_params_are_json_errors() {
    let app = TestApp::spawn().await;
    assert_error(&app.get("/nope").await, StatusCode::NOT_FOUND, "not_found");
    assert_error(
        &app.get("/v1/queues/a/b/c").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let r = app
        .request(Method::PUT, "/v1/queues", Some(json!({})))
        .await;
    assert_error(&r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    let r = app.get("/v1/queues?limit=abc").await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    let r = app.get("/v1/queues?bogus=1").await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    let r = app.get("/v1/queues/q/redrive/not-a-uuid").await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn health_and_readiness() {
    let app = TestApp::spawn().await;
    let r = app.get("/healthz").await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app.get("/readyz").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "ok");
    // Every response carries a request id.
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert!(r.headers().contains_key("x-request-id"));
}

/// PostgreSQL cannot store NUL (U+0000) in text: every text that could reach it is refused
/// first, naming the field.
#[tokio::test]
async fn nul_in_any_text_is_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    app.create_queue("q", json!({})).await;
    let task = "00000000-0000-0000-0000-000000000000";
    let cases = [
        (
            Method::GET,
            "/v1/queues?prefix=a%00".to_owned(),
            None,
            "prefix",
        ),
        (
            Method::GET,
            "/v1/queues?cursor=YQA".to_owned(),
            None,
            "cursor",
        ),
        (Method::GET, "/v1/queues/q%00".to_owned(), None, "queue"),
        (Method::DELETE, "/v1/queues/q%00".to_owned(), None, "queue"),
        (
            Method::PATCH,
            "/v1/queues/q%00".to_owned(),
            Some(json!({})),
            "queue",
        ),
        (
            Method::POST,
            "/v1/queues/q%00/purge".to_owned(),
            None,
            "queue",
        ),
        (
            Method::POST,
            "/v1/queues/q%00/messages".to_owned(),
            Some(json!({"body": "x"})),
            "queue",
        ),
        (
            Method::POST,
            "/v1/queues/q%00/messages/receive".to_owned(),
            Some(json!({})),
            "queue",
        ),
        (
            Method::GET,
            "/v1/queues/q%00/messages/peek".to_owned(),
            None,
            "queue",
        ),
        (
            Method::GET,
            "/v1/queues/q%00/redrive".to_owned(),
            None,
            "queue",
        ),
        (
            Method::GET,
            format!("/v1/queues/q%00/redrive/{task}"),
            None,
            "queue",
        ),
        (
            Method::POST,
            "/v1/accounts".to_owned(),
            Some(json!({"name": "a\u{0}b"})),
            "name",
        ),
        (
            Method::POST,
            "/v1/tokens".to_owned(),
            Some(json!({"name": "a\u{0}b", "scopes": ["admin"]})),
            "name",
        ),
    ];
    for (method, path, body, field) in cases {
        let r = app.request(method.clone(), &path, body).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("`{field}`"))
                && (field == "cursor" || message.contains("NUL")),
            "{method} {path}: {message}"
        );
    }
}

#[tokio::test]
async fn json_declared_in_another_charset_is_415() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .post(app.url("/v1/queues"))
        .header(header::CONTENT_TYPE, "application/json; charset=latin1")
        .body(r#"{"name": "q"}"#)
        .send()
        .await
        .unwrap();
    let r = reply(r).await;
    assert_error(
        &r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    assert!(app.get("/v1/queues/q").await.status == StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn oversized_headers_get_431_in_the_error_shape() {
    let app = TestApp::spawn().await;
    // Over Spool's 64 KiB bound, and over hyper's default 400 KiB read buffer.
    for size in [100 * 1024, 1024 * 1024] {
        let r = app
            .anonymous
            .get(app.url("/v1/queues"))
            .header("x-padding", "a".repeat(size))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "headers_too_large", "{body}");
    }
    // Ordinary requests on the same server still pass.
    let r = app.get("/v1/queues").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}
