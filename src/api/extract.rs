//! Extractors whose rejections speak the API's error shape (400/413/415, never axum's plain text).

use axum::{
    body::Bytes,
    extract::{
        FromRequest, FromRequestParts, Path, Query, RawPathParams, Request,
        rejection::{JsonRejection, PathRejection, QueryRejection},
    },
    http::{StatusCode, header, request::Parts},
};
use serde::de::DeserializeOwned;

use crate::api::error::ApiError;

/// A JSON body; malformed JSON, wrong types, unknown fields, a missing content type and a
/// charset other than UTF-8 are client errors in the API's shape.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let json = essence == "application/json"
            || (essence.starts_with("application/") && essence.ends_with("+json"));
        if !json {
            return Err(ApiError::UnsupportedMediaType(
                "expected a request body with `Content-Type: application/json`".to_owned(),
            ));
        }
        if !charset_is_utf8(content_type) {
            return Err(ApiError::UnsupportedMediaType(
                "JSON bodies must be UTF-8: send `Content-Type: application/json` without another \
                 charset"
                    .to_owned(),
            ));
        }
        let bytes =
            Bytes::from_request(request, state)
                .await
                .map_err(|rejection| match rejection.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => {
                        ApiError::PayloadTooLarge(rejection.body_text())
                    }
                    _ => ApiError::Validation(rejection.body_text()),
                })?;
        // serde reads a struct from a JSON array too (`[null, 5]`); every body here is an object.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::Validation(
                "the request body must be a JSON object".to_owned(),
            ));
        }
        let axum::Json(value) = axum::Json::<T>::from_bytes(&bytes)?;
        Ok(Self(value))
    }
}

pub use crate::http::charset_is_utf8;

/// Query-string parameters; a value holding NUL (U+0000) is refused by name.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            refuse_nul("query parameter", &name, &value)?;
        }
        let Query(value) = Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// Path parameters; a segment holding NUL (U+0000) is refused by name.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::Validation(e.body_text()))?;
        for (name, value) in &raw {
            refuse_nul("path parameter", name, value)?;
        }
        let Path(value) = Path::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// PostgreSQL cannot store NUL in text, and no name or id legitimately holds one.
fn refuse_nul(kind: &str, name: &str, value: &str) -> Result<(), ApiError> {
    if value.contains('\0') {
        return Err(ApiError::Validation(format!(
            "{kind} `{name}` must not contain the NUL character (U+0000)"
        )));
    }
    Ok(())
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let message = rejection.body_text();
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(message),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(
                "expected a request body with `Content-Type: application/json`".to_owned(),
            ),
            _ => ApiError::Validation(message),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::Validation(rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::Validation(rejection.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::charset_is_utf8;

    #[test]
    fn only_utf8_or_no_charset_is_json() {
        assert!(charset_is_utf8("application/json"));
        assert!(charset_is_utf8("application/json; charset=utf-8"));
        assert!(charset_is_utf8("application/json;charset=\"UTF-8\""));
        assert!(!charset_is_utf8("application/json; charset=latin1"));
        assert!(!charset_is_utf8("application/json; charset=iso-8859-1"));
    }
}
