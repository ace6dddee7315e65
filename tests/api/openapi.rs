//! The committed OpenAPI document matches the code, and the docs UI works offline.

use reqwest::StatusCode;

use crate::helpers::TestApp;

const COMMITTED: &str = "openapi/openapi.json";

#[test]
fn the_committed_openapi_document_is_current() {
    let generated = spool::api::openapi().to_pretty_json().unwrap() + "\n";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(COMMITTED);
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{COMMITTED} is out of date: run `UPDATE_OPENAPI=1 cargo test --test api openapi` and commit it"
    );
}

#[tokio::test]
async fn the_docs_ui_and_document_are_served_without_the_internet() {
    let app = TestApp::spawn().await;
    let doc = app.get("/openapi.json").await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["paths"]["/v1/queues/{queue}/messages/receive"].is_object());
    let page = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger"), "{html}");
    // No asset comes from another host.
    assert!(!html.contains("https://"), "{html}");
    let bundle = app
        .client
        .get(app.url("/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.status(), StatusCode::OK);
}

/// What generated clients rely on: query parameters are query parameters, the probes need no
/// token, every status the layers can send is documented, and numbers carry their ranges.
#[test]
fn the_document_declares_parameters_responses_security_and_ranges_truthfully() {
    let doc = serde_json::to_value(spool::api::openapi()).unwrap();
    let paths = &doc["paths"];
    let list = &paths["/v1/queues"]["get"];
    for p in list["parameters"].as_array().unwrap() {
        assert_eq!(p["in"], "query", "{p}");
        assert_eq!(p["required"], false, "{p}");
    }
    let peek_limit = &paths["/v1/queues/{queue}/messages/peek"]["get"]["parameters"][1];
    assert_eq!(peek_limit["in"], "query", "{peek_limit}");
    assert_eq!(peek_limit["schema"]["maximum"], 1000);
    for probe in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(
            paths[probe]["get"]["security"],
            serde_json::json!([]),
            "{probe}"
        );
    }
    let send = &paths["/v1/queues/{queue}/messages"]["post"]["responses"];
    for status in ["400", "401", "403", "404", "413", "415", "429", "503"] {
        assert!(send[status].is_object(), "send lacks {status}");
    }
    let create = &doc["components"]["schemas"]["CreateQueueRequest"]["properties"];
    assert_eq!(create["visibility_timeout"]["maximum"], 43_200);
    assert_eq!(create["receive_wait_seconds"]["maximum"], 20);
    let receive = &doc["components"]["schemas"]["ReceiveRequest"]["properties"];
    assert_eq!(receive["max_messages"]["minimum"], 1);
}
