//! Verify mode: SigV4 signatures checked against the access key's secret, with the SDK's own
//! signing and with requests signed by `aws-sigv4` directly (expired, presigned, Query form).

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use aws_credential_types::Credentials;
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sigv4::{
    http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign},
    sign::v4,
};
use spool::{
    auth::Caller,
    queue::EngineOptions,
    sqs::{CredentialSource, SqsAuth, SqsConfig, StaticCredential},
};

use crate::{
    client::{Raw, client_with, send},
    helpers::TestApp,
};

const ADMIN: (&str, &str) = ("AKIDADMIN", "admin-secret");
const SENDER: (&str, &str) = ("AKIDSENDER", "sender-secret");

async fn verifying_app() -> TestApp {
    let credential = |(key, secret): (&str, &str), caller| StaticCredential {
        access_key_id: key.to_owned(),
        secret: secret.to_owned(),
        caller,
    };
    let sender = Caller {
        grants: vec!["messages:send:orders-*".parse().unwrap()],
        ..Caller::superuser(0)
    };
    let credentials = vec![
        credential(ADMIN, Caller::superuser(0)),
        credential(SENDER, sender),
    ];
    let sqs = SqsConfig {
        public_url: Some("https://sqs.example.test".to_owned()),
        auth: SqsAuth::Verify(CredentialSource::Static(Arc::from(credentials))),
        ..SqsConfig::default()
    };
    let options = EngineOptions {
        stats_max_age: Duration::ZERO,
        ..EngineOptions::default()
    };
    TestApp::spawn_with_sqs(options, sqs).await
}

/// Signs a request with `aws-sigv4` as the admin key as of `time` and sends it.
async fn signed(
    app: &TestApp,
    request: (&str, &str, &[(&str, &str)], &str),
    presign: Option<Duration>,
    time: SystemTime,
) -> Raw {
    send(signed_request(app, ADMIN, request, presign, time)).await
}

/// A request signed with `aws-sigv4` with the key pair `(key, secret)` as of `time`.
fn signed_request(
    app: &TestApp,
    (key, secret): (&str, &str),
    (method, path, headers, body): (&str, &str, &[(&str, &str)], &str),
    presign: Option<Duration>,
    time: SystemTime,
) -> reqwest::RequestBuilder {
    let identity = Credentials::new(key, secret, None, None, "test").into();
    let mut settings = SigningSettings::default();
    if let Some(expires) = presign {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(expires);
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("sqs")
        .time(time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let url = app.url(path);
    let signable = SignableRequest::new(
        method,
        url.clone(),
        headers.iter().copied(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut request = axum::http::Request::builder().method(method).uri(&url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = request.body(()).unwrap();
    instructions.apply_to_request_http1x(&mut request);
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut builder = app.anonymous.request(method, request.uri().to_string());
    for (name, value) in request.headers() {
        builder = builder.header(name.as_str(), value.as_bytes());
    }
    builder.body(body.to_owned())
}

#[tokio::test]
async fn sdk_signed_requests_are_verified() {
    let app = verifying_app().await;
    let admin = client_with(&app, ADMIN.0, ADMIN.1);
    let created = admin
        .create_queue()
        .queue_name("orders-1")
        .send()
        .await
        .unwrap();
    let url = created.queue_url().unwrap();
    assert_eq!(url, "https://sqs.example.test/000000000000/orders-1");
    admin
        .send_message()
        .queue_url(url)
        .message_body("hi")
        .send()
        .await
        .unwrap();

    let sender = client_with(&app, SENDER.0, SENDER.1);
    sender
        .send_message()
        .queue_url(url)
        .message_body("hi")
        .send()
        .await
        .unwrap();
    let err = sender
        .create_queue()
        .queue_name("orders-2")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDenied"), "{err:?}");
    let err = sender
        .receive_message()
        .queue_url(url)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDenied"));

    let wrong = client_with(&app, ADMIN.0, "not-the-secret");
    let err = wrong.list_queues().send().await.unwrap_err();
    assert_eq!(err.code(), Some("SignatureDoesNotMatch"), "{err:?}");
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 403);
    let unknown = client_with(&app, "AKIDNOBODY", "x");
    let err = unknown.list_queues().send().await.unwrap_err();
    assert_eq!(err.code(), Some("InvalidClientTokenId"), "{err:?}");
}

#[tokio::test]
async fn expired_malformed_and_unsigned_requests_are_refused() {
    let app = verifying_app().await;
    let json = [
        ("content-type", "application/x-amz-json-1.0"),
        ("x-amz-target", "AmazonSQS.ListQueues"),
    ];
    let request = ("POST", "/", &json[..], "{}");
    let r = signed(&app, request, None, SystemTime::now()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let old = SystemTime::now() - Duration::from_secs(20 * 60);
    let r = signed(&app, request, None, old).await;
    assert_eq!(
        (r.status, r.header("x-amzn-query-error")),
        (400, "RequestExpired;Sender")
    );

    let r = send(
        app.anonymous
            .post(app.url("/"))
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", "AmazonSQS.ListQueues")
            .header("x-amz-date", "20260101T000000Z")
            .header("authorization", "AWS4-HMAC-SHA256 Credential=AKIDADMIN")
            .body("{}"),
    )
    .await;
    assert_eq!(
        (r.status, r.header("x-amzn-query-error")),
        (400, "IncompleteSignature;Sender")
    );
    let r = send(
        app.anonymous
            .post(app.url("/"))
            .header("x-amz-target", "AmazonSQS.ListQueues")
            .body("{}"),
    )
    .await;
    assert_eq!(
        (r.status, r.header("x-amzn-query-error")),
        (403, "MissingAuthenticationToken;Sender")
    );
}

#[tokio::test]
async fn signed_query_requests_and_presigned_urls_are_verified() {
    let app = verifying_app().await;
    let form = [(
        "content-type",
        "application/x-www-form-urlencoded; charset=utf-8",
    )];
    let body = "Action=CreateQueue&QueueName=q&Version=2012-11-05";
    let r = signed(
        &app,
        ("POST", "/", &form[..], body),
        None,
        SystemTime::now(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = signed(
        &app,
        (
            "GET",
            "/000000000000/q?Action=SendMessage&MessageBody=hello%20there",
            &[],
            "",
        ),
        Some(Duration::from_secs(300)),
        SystemTime::now(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("<MD5OfMessageBody>"), "{}", r.body);
    let r = signed(
        &app,
        ("GET", "/000000000000/q?Action=ReceiveMessage", &[], ""),
        Some(Duration::from_secs(60)),
        SystemTime::now() - Duration::from_secs(120),
    )
    .await;
    assert!(r.body.contains("<Code>RequestExpired</Code>"), "{}", r.body);

    // GET on the endpoint itself, signed in headers and presigned.
    for presign in [None, Some(Duration::from_secs(60))] {
        let r = signed(
            &app,
            ("GET", "/?Action=ListQueues&Version=2012-11-05", &[], ""),
            presign,
            SystemTime::now(),
        )
        .await;
        assert_eq!(r.status, 200, "{presign:?}: {}", r.body);
        assert!(
            r.body
                .contains("<QueueUrl>https://sqs.example.test/000000000000/q</QueueUrl>"),
            "{}",
            r.body
        );
    }
    // A presigned URL whose query was changed after signing is refused.
    let request = signed_request(
        &app,
        ADMIN,
        ("GET", "/?Action=ListQueues", &[], ""),
        Some(Duration::from_secs(60)),
        SystemTime::now(),
    )
    .build()
    .unwrap();
    let tampered = format!("{}&QueueNamePrefix=x", request.url());
    let r = send(app.anonymous.get(tampered)).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body.contains("<Code>SignatureDoesNotMatch</Code>"),
        "{}",
        r.body
    );
}

/// Production mode: the key pair of a real API token signs SDK requests; its scopes apply, and
/// a revoked token's key stops working.
#[tokio::test]
async fn api_token_key_pairs_sign_sdk_requests() {
    let sqs = SqsConfig {
        public_url: None,
        auth: SqsAuth::Verify(CredentialSource::Tokens),
        ..SqsConfig::default()
    };
    let app = TestApp::spawn_with_sqs(EngineOptions::default(), sqs).await;
    let admin = app
        .auth
        .issue(0, "sdk admin", &["admin".parse().unwrap()], None)
        .await
        .unwrap();
    let sender = app
        .auth
        .issue(0, "sdk sender", &["messages:send".parse().unwrap()], None)
        .await
        .unwrap();
    let admin_client = client_with(&app, &admin.record.access_key_id, &admin.secret_access_key);
    let url = admin_client
        .create_queue()
        .queue_name("tokens")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let sender_client = client_with(
        &app,
        &sender.record.access_key_id,
        &sender.secret_access_key,
    );
    sender_client
        .send_message()
        .queue_url(&url)
        .message_body("hi")
        .send()
        .await
        .unwrap();
    let denied = sender_client
        .receive_message()
        .queue_url(&url)
        .send()
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Some("AccessDenied"), "{denied:?}");
    // The right key id with a wrong secret is a bad signature.
    let forged = client_with(&app, &admin.record.access_key_id, "wrong-secret");
    let err = forged.list_queues().send().await.unwrap_err();
    assert_eq!(err.code(), Some("SignatureDoesNotMatch"), "{err:?}");
    // STS names the token that signed.
    let key = (
        admin.record.access_key_id.as_str(),
        admin.secret_access_key.as_str(),
    );
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let body = "Action=GetCallerIdentity&Version=2011-06-15";
    let request = ("POST", "/", &form[..], body);
    let r = send(signed_request(&app, key, request, None, SystemTime::now())).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = admin.record.id;
    for part in [
        format!("<Arn>arn:aws:iam::000000000000:user/spool/{id}</Arn>"),
        format!("<UserId>{id}</UserId>"),
        "<Account>000000000000</Account>".to_owned(),
    ] {
        assert!(r.body.contains(&part), "{part}: {}", r.body);
    }
    app.auth.revoke(0, sender.record.id).await.unwrap();
    let err = sender_client
        .send_message()
        .queue_url(&url)
        .message_body("again")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidClientTokenId"), "{err:?}");
}
