//! AWS JSON 1.0: the action from `X-Amz-Target`, the JSON body as input, and responses and
//! errors as SQS sends them (`__type`, `message`, `x-amzn-query-error`).

use axum::{
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::{
    actions,
    errors::{INVALID_ACTION, SqsError, SqsResult},
    texts,
};

const CONTENT_TYPE: &str = "application/x-amz-json-1.0";
const TARGET_PREFIX: &str = "AmazonSQS.";

/// The action named by `X-Amz-Target` and the request's JSON object.
pub fn decode(headers: &HeaderMap, body: &[u8]) -> SqsResult<(&'static str, Value)> {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let action = target
        .strip_prefix(TARGET_PREFIX)
        .and_then(actions::known)
        .filter(|action| *action != actions::sts::GET_CALLER_IDENTITY)
        .or_else(|| {
            (target.strip_prefix(actions::sts::TARGET_PREFIX)
                == Some(actions::sts::GET_CALLER_IDENTITY))
            .then_some(actions::sts::GET_CALLER_IDENTITY)
        })
        .ok_or_else(|| SqsError::new(INVALID_ACTION, texts::invalid_action(target)))?;
    let content_type = headers.get(header::CONTENT_TYPE).map(HeaderValue::to_str);
    if content_type.is_some_and(|v| v.map_or(true, |v| !crate::http::charset_is_utf8(v))) {
        return Err(SqsError::invalid(
            "The request body must be UTF-8 JSON (no charset other than utf-8).",
        ));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok((action, json!({})));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(input @ Value::Object(_)) => Ok((action, input)),
        _ => Err(SqsError::invalid(
            "The request body must be a JSON object (application/x-amz-json-1.0).",
        )),
    }
}

/// A successful response with the action's output.
pub fn success(output: &Value) -> Response {
    with_content_type(StatusCode::OK, output.to_string())
}

/// An error response: status, `{"__type", "message"}` and the legacy code in
/// `x-amzn-query-error` (`<code>;Sender`), which SDKs surface as the error code.
pub fn error(error: &SqsError) -> Response {
    let body = json!({
        "__type": format!("com.amazonaws.sqs#{}", error.shape),
        "message": error.message,
    });
    let mut response = with_content_type(error.status, body.to_string());
    let query_error = format!("{};{}", error.code, error.fault());
    if let Ok(value) = HeaderValue::from_str(&query_error) {
        response.headers_mut().insert("x-amzn-query-error", value);
    }
    response
}

fn with_content_type(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        body,
    )
        .into_response()
}
