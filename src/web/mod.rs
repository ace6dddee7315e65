//! The dashboard at `/`: one HTML page, a stylesheet and a script, embedded in the binary (no
//! build step, nothing fetched from another host). The page talks to the native API with the
//! token the user signs in with, kept in the browser's session storage only.

use axum::{
    Router,
    http::header,
    response::{Html, IntoResponse},
    routing::get,
};

use crate::app::AppState;

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/app.css");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui/app.js", get(script))
        .route("/ui/app.css", get(style))
}

/// Assets change with the binary; browsers revalidate rather than trust an old copy.
const CACHE: (header::HeaderName, &str) = (header::CACHE_CONTROL, "no-cache");

/// The dashboard page (`GET /` without an SQS request; routed by `crate::app`).
pub async fn index() -> impl IntoResponse {
    (
        [
            CACHE,
            // Only this origin's script and styles run; the page loads nothing from elsewhere.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
            ),
        ],
        Html(INDEX),
    )
}

async fn script() -> impl IntoResponse {
    (
        [
            CACHE,
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
        ],
        SCRIPT,
    )
}

async fn style() -> impl IntoResponse {
    (
        [CACHE, (header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLE,
    )
}
