//! HTTP helpers shared by both doors and the application: the server's own error body for
//! requests no door takes, and content-type checks. Knows no door.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};

/// The JSON error body of the server itself (`{"error":{"code":…,"message":…}}`), the shape of
/// the native API's errors, for requests no door takes.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    (status, Json(body)).into_response()
}

/// `404 not_found`: no route matches.
pub fn route_not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// Whether a `Content-Type` value declares no charset or UTF-8 (JSON is UTF-8 by definition;
/// a body declared otherwise would be misread, so it is refused rather than guessed at).
pub fn charset_is_utf8(content_type: &str) -> bool {
    content_type.split(';').skip(1).all(|parameter| {
        let Some((name, value)) = parameter.split_once('=') else {
            return true;
        };
        !name.trim().eq_ignore_ascii_case("charset")
            || matches!(
                value.trim().trim_matches('"').to_ascii_lowercase().as_str(),
                "utf-8" | "utf8"
            )
    })
}
