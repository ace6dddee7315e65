//! The dashboard's assets are served from the binary, and `/v1/me` tells a token's scopes.

use reqwest::StatusCode;

use crate::helpers::{TestApp, assert_error};

#[tokio::test]
async fn the_dashboard_is_served_at_the_root_with_its_assets() {
    let app = TestApp::spawn().await;
    let page = app.anonymous.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(
        html.contains("/ui/app.js") && html.contains("/ui/app.css"),
        "{html}"
    );
    // Nothing is loaded from another host.
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );
    for (path, kind) in [
        ("/ui/app.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
    ] {
        let r = app.anonymous.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
        let text = r.text().await.unwrap();
        assert!(!text.contains("https://"), "{path} loads from elsewhere");
    }
    // The SQS door still answers POST / next to the page.
    let r = app.anonymous.post(app.url("/")).send().await.unwrap();
    assert_ne!(r.status(), StatusCode::OK);
    assert_ne!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn me_tells_the_account_and_scopes_of_the_token() {
    let app = TestApp::spawn().await;
    let r = app.get("/v1/me").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["account_id"], "000000000000");
    assert_eq!(r.body["scopes"], serde_json::json!(["admin"]));
    assert!(r.body["token_id"].is_string());

    let reader = app
        .token_for(0, &["messages:receive:orders-*", "messages:send"])
        .await;
    let r = app
        .request_as(Some(&reader), reqwest::Method::GET, "/v1/me", None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body["scopes"],
        serde_json::json!(["messages:receive:orders-*", "messages:send"])
    );

    let r = app
        .request_as(None, reqwest::Method::GET, "/v1/me", None)
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized");
}
