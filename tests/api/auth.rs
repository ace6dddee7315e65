//! Authentication and authorization: every route needs a valid token, scopes limit what it
//! may do, accounts are isolated, tokens revoke and keys rotate.

use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use spool::auth::MasterKey;

use crate::helpers::{TestApp, assert_error};

/// Every route of the OpenAPI document except the public ops probes, with concrete paths.
fn protected_routes() -> Vec<(Method, String)> {
    let doc = serde_json::to_value(spool::api::openapi()).unwrap();
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op["tags"]
                .as_array()
                .is_some_and(|t| t.contains(&json!("ops")))
            {
                continue;
            }
            let concrete = path
                .replace("{queue}", "q")
                .replace("{task}", "00000000-0000-0000-0000-000000000000")
                .replace("{id}", "00000000-0000-0000-0000-000000000000");
            routes.push((method.to_uppercase().parse().unwrap(), concrete));
        }
    }
    assert!(routes.len() >= 15, "{routes:?}");
    routes
}

/// Signs claims the way the server does, with the server's key or another one.
async fn forge(app: &TestApp, master: &MasterKey, kid: Option<&str>, claims: Value) -> String {
    let (db_kid, salt): (String, Vec<u8>) =
        sqlx::query_as("select kid, salt from signing_keys order by created_at desc limit 1")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.unwrap_or(&db_kid).to_owned());
    let key = EncodingKey::from_secret(&master.jwt_key(&salt));
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

#[tokio::test]
async fn every_route_rejects_missing_bad_expired_forged_and_revoked_tokens() {
    let app = TestApp::spawn().await;
    app.create_queue("q", json!({})).await;
    let server_key = MasterKey::parse(&"5e".repeat(32)).unwrap();
    let other_key = MasterKey::parse(&"77".repeat(32)).unwrap();
    let jti: uuid::Uuid = sqlx::query_scalar("select id from api_tokens limit 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let now = Utc::now().timestamp();
    let expired = forge(
        &app,
        &server_key,
        None,
        json!({"jti": jti, "acct": 0, "iat": now - 100, "exp": now - 10}),
    )
    .await;
    let wrong_signature = forge(
        &app,
        &other_key,
        None,
        json!({"jti": jti, "acct": 0, "iat": now}),
    )
    .await;
    let wrong_kid = forge(
        &app,
        &server_key,
        Some("k-unknown"),
        json!({"jti": jti, "acct": 0, "iat": now}),
    )
    .await;
    let unknown_token = forge(
        &app,
        &server_key,
        None,
        json!({"jti": uuid::Uuid::new_v4(), "acct": 0, "iat": now}),
    )
    .await;
    let wrong_account = forge(
        &app,
        &server_key,
        None,
        json!({"jti": jti, "acct": 5, "iat": now}),
    )
    .await;
    let revoked = app.token_for(0, &["admin"]).await;
    let revoked_id: uuid::Uuid =
        sqlx::query_scalar("select id from api_tokens order by created_at desc limit 1")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let r = app
        .request(Method::DELETE, &format!("/v1/tokens/{revoked_id}"), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);

    let bad_tokens: Vec<(&str, Option<String>)> = vec![
        ("none", None),
        ("garbage", Some("garbage".to_owned())),
        ("expired", Some(expired)),
        ("wrong signature", Some(wrong_signature)),
        ("wrong kid", Some(wrong_kid)),
        ("unknown token", Some(unknown_token)),
        ("wrong account claim", Some(wrong_account)),
        ("revoked", Some(revoked)),
    ];
    for (method, path) in protected_routes() {
        for (label, token) in &bad_tokens {
            let r = app
                .request_as(token.as_deref(), method.clone(), &path, Some(json!({})))
                .await;
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {label}: {}",
                r.body
            );
            assert_eq!(r.body["error"]["code"], "unauthorized", "{method} {path}");
        }
    }
    // A non-Bearer scheme is malformed too.
    let r = app
        .client
        .get(app.url("/v1/queues"))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Failures are counted, without the token in any label.
    let metrics = app.scrape_metrics().await;
    assert!(metrics.contains("spool_auth_failures_total"), "{metrics}");
    assert!(metrics.contains("reason=\"expired\""), "{metrics}");
}

#[tokio::test]
async fn the_ops_probes_and_docs_need_no_token() {
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs/"] {
        let r = app.anonymous.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn scopes_and_queue_patterns_limit_what_a_token_may_do() {
    let app = TestApp::spawn().await;
    app.create_queue("orders-eu", json!({})).await;
    app.create_queue("billing", json!({})).await;
    let sender = app.token_for(0, &["messages:send:orders-*"]).await;
    let s = Some(sender.as_str());
    let send = |q: &str| format!("/v1/queues/{q}/messages");
    let r = app
        .request_as(
            s,
            Method::POST,
            &send("orders-eu"),
            Some(json!({"body": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app
        .request_as(
            s,
            Method::POST,
            &send("billing"),
            Some(json!({"body": "x"})),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    let r = app
        .request_as(
            s,
            Method::POST,
            "/v1/queues/orders-eu/messages/receive",
            Some(json!({})),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    let r = app
        .request_as(
            s,
            Method::POST,
            "/v1/queues",
            Some(json!({"name": "orders-new"})),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    let r = app.request_as(s, Method::GET, "/v1/tokens", None).await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    // Listing shows only the queues the token has a grant on.
    let r = app.request_as(s, Method::GET, "/v1/queues", None).await;
    let names: Vec<&str> = r.body["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["orders-eu"]);

    let receiver = app.token_for(0, &["messages:receive"]).await;
    let r = app
        .request_as(
            Some(&receiver),
            Method::POST,
            "/v1/queues/orders-eu/messages/receive",
            Some(json!({})),
        )
        .await;
    assert_eq!(
        r.body["messages"].as_array().unwrap().len(),
        1,
        "{}",
        r.body
    );
    let manager = app.token_for(0, &["queues:manage"]).await;
    let r = app
        .request_as(
            Some(&manager),
            Method::POST,
            "/v1/queues",
            Some(json!({"name": "new"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = app
        .request_as(
            Some(&manager),
            Method::POST,
            "/v1/queues/new/messages",
            Some(json!({"body": "x"})),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test]
async fn accounts_are_isolated_even_with_the_same_queue_names() {
    let app = TestApp::spawn().await;
    let r = app.post("/v1/accounts", json!({"name": "tenant-b"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let b_id: i64 = r.body["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(r.body["id"].as_str().unwrap().len(), 12);
    let r = app
        .post(
            "/v1/tokens",
            json!({"name": "b admin", "scopes": ["admin"], "account_id": b_id}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let b = r.body["token"].as_str().unwrap().to_owned();
    let b = Some(b.as_str());

    app.create_queue("jobs", json!({})).await;
    app.create_queue("only-a", json!({})).await;
    let r = app
        .request_as(b, Method::POST, "/v1/queues", Some(json!({"name": "jobs"})))
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "same name, other account: {}",
        r.body
    );
    app.send("jobs", "for a").await;

    let r = app
        .request_as(
            b,
            Method::POST,
            "/v1/queues/jobs/messages/receive",
            Some(json!({})),
        )
        .await;
    assert_eq!(r.body["messages"], json!([]));
    for (method, path) in [
        (Method::GET, "/v1/queues/only-a"),
        (Method::DELETE, "/v1/queues/only-a"),
        (Method::POST, "/v1/queues/only-a/purge"),
        (Method::GET, "/v1/queues/only-a/messages/peek"),
    ] {
        let r = app.request_as(b, method, path, Some(json!({}))).await;
        assert_error(&r, StatusCode::NOT_FOUND, "queue_not_found");
    }
    let r = app.request_as(b, Method::GET, "/v1/queues", None).await;
    assert_eq!(r.body["queues"].as_array().unwrap().len(), 1);
    // B's admin sees only B's tokens and cannot manage accounts.
    let r = app.request_as(b, Method::GET, "/v1/tokens", None).await;
    assert_eq!(r.body["tokens"].as_array().unwrap().len(), 1);
    let r = app.request_as(b, Method::GET, "/v1/accounts", None).await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    let r = app
        .request_as(
            b,
            Method::POST,
            "/v1/tokens",
            Some(json!({"name": "x", "scopes": ["admin"], "account_id": 0})),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(app.counts("jobs").await["visible"], 1);
}

#[tokio::test]
async fn tokens_are_shown_once_listed_without_secrets_and_revocable() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/v1/tokens",
            json!({"name": "ci", "scopes": ["messages:send:ci-*"], "expires_in_seconds": 3600}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let token = r.body["token"].as_str().unwrap().to_owned();
    assert!(r.body["access_key_id"].as_str().unwrap().starts_with("SPL"));
    assert_eq!(r.body["secret_access_key"].as_str().unwrap().len(), 40);
    assert!(r.body["expires_at"].is_string());
    let id = r.body["id"].as_str().unwrap().to_owned();
    let list = app.get("/v1/tokens").await;
    let text = list.body.to_string();
    assert!(
        !text.contains(&token) && !text.contains("secret_access_key"),
        "{text}"
    );
    assert_eq!(list.body["tokens"].as_array().unwrap().len(), 2);

    let r = app
        .request(Method::DELETE, &format!("/v1/tokens/{id}"), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app
        .request_as(Some(&token), Method::GET, "/v1/queues", None)
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    let again = app
        .request(Method::DELETE, &format!("/v1/tokens/{id}"), None)
        .await;
    assert_error(&again, StatusCode::CONFLICT, "conflict");
    for bad in [
        json!({"name": "x", "scopes": []}),
        json!({"name": "x", "scopes": ["root"]}),
        json!({"name": "x", "scopes": ["messages:send:bad pattern"]}),
        json!({"name": "", "scopes": ["admin"]}),
        json!({"name": "x", "scopes": ["admin"], "expires_in_seconds": 0}),
    ] {
        let r = app.post("/v1/tokens", bad).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    }
}

#[tokio::test]
async fn rotated_keys_keep_old_tokens_working_until_retired() {
    let app = TestApp::spawn().await;
    let old_kid: String = sqlx::query_scalar("select kid from signing_keys")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let old = app.token_for(0, &["admin"]).await;
    let new_kid = app.auth.rotate_key().await.unwrap();
    let new = app.token_for(0, &["admin"]).await;
    let kid_of = |t: &str| jsonwebtoken::decode_header(t).unwrap().kid.unwrap();
    assert_eq!(kid_of(&old), old_kid);
    assert_eq!(kid_of(&new), new_kid);
    for t in [&old, &new] {
        assert_eq!(
            app.request_as(Some(t), Method::GET, "/v1/queues", None)
                .await
                .status,
            StatusCode::OK
        );
    }
    assert!(app.auth.retire_key(&old_kid).await.unwrap());
    let r = app
        .request_as(Some(&old), Method::GET, "/v1/queues", None)
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(
        app.request_as(Some(&new), Method::GET, "/v1/queues", None)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn expired_tokens_stop_working() {
    let app = TestApp::spawn().await;
    let issued = app
        .auth
        .issue(
            0,
            "short",
            &["admin".parse().unwrap()],
            Some(std::time::Duration::from_secs(1)),
        )
        .await
        .unwrap();
    let r = app
        .request_as(Some(&issued.jwt), Method::GET, "/v1/queues", None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = app
        .request_as(Some(&issued.jwt), Method::GET, "/v1/queues", None)
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized");
}

/// Dead letters and redriven messages are written into the queue named as target or
/// destination, so naming one takes send rights on it, not just any grant.
#[tokio::test]
async fn naming_a_dead_letter_target_or_redrive_destination_takes_send_rights_on_it() {
    let app = TestApp::spawn().await;
    app.create_queue("billing", json!({})).await;
    app.create_queue("orders-dlq", json!({})).await;
    let manager = app
        .token_for(0, &["queues:manage:orders-*", "messages:receive:billing"])
        .await;
    let m = Some(manager.as_str());
    let dead_letter_to = |queue: &str| json!({"queue": queue, "max_receive_count": 3});
    let r = app
        .request_as(
            m,
            Method::POST,
            "/v1/queues",
            Some(json!({"name": "orders-a", "dead_letter": dead_letter_to("billing")})),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("messages:send")
    );
    let r = app
        .request_as(
            m,
            Method::POST,
            "/v1/queues",
            Some(json!({"name": "orders-a"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app
        .request_as(
            m,
            Method::PATCH,
            "/v1/queues/orders-a",
            Some(json!({"dead_letter": dead_letter_to("billing")})),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    let r = app
        .request_as(
            m,
            Method::POST,
            "/v1/queues/orders-dlq/redrive",
            Some(json!({"destination": "billing"})),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(app.counts("billing").await["visible"], 0);

    // With send rights on `billing` the same requests are allowed.
    let sender = app
        .token_for(0, &["queues:manage:orders-*", "messages:send:billing"])
        .await;
    let s = Some(sender.as_str());
    let r = app
        .request_as(
            s,
            Method::PATCH,
            "/v1/queues/orders-a",
            Some(json!({"dead_letter": dead_letter_to("billing")})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .request_as(
            s,
            Method::POST,
            "/v1/queues/orders-dlq/redrive",
            Some(json!({"destination": "billing"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}
