//! The test app: the real router on a random port over a fresh database.
//!
//! With `DATABASE_URL` set, each test creates its database on that server. Without it, the
//! tests share one embedded cluster (the same code `spool serve` uses), started on first use in
//! the system's temporary directory and left running for the next test process.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use spool::{
    api::AppState,
    auth::{Auth, AuthMode, Grant, MasterKey},
    embedded::{EmbeddedPostgres, Lifecycle},
    queue::{Engine, EngineOptions},
    sqs::SqsConfig,
    store::{self, Db},
};
use sqlx::{Connection, PgConnection};
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

static SERVER_URL: OnceCell<String> = OnceCell::const_new();

/// URL of a database to create test databases from (any database on the server).
pub async fn server_url() -> String {
    SERVER_URL
        .get_or_init(|| async {
            if let Ok(url) = std::env::var("DATABASE_URL") {
                return url;
            }
            let dir = std::env::temp_dir().join("spool-test-postgres");
            let cluster = EmbeddedPostgres::start(&dir, Lifecycle::Shared)
                .await
                .expect("start the shared test cluster (is PostgreSQL installed?)");
            cluster.database_url("postgres")
        })
        .await
        .clone()
}

/// A fresh, migrated database; dropped when the value is dropped.
pub struct TestDb {
    pub url: String,
    name: String,
    server: String,
}

impl TestDb {
    pub async fn new() -> Self {
        let server = server_url().await;
        let name = format!("spool_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&server)
            .await
            .expect("connect to server");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("create database {name}")))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let url = with_database(&server, &name);
        Self { url, name, server }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // Drop runs outside async; use a private runtime on a scoped thread.
        std::thread::scope(|s| {
            s.spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async {
                    if let Ok(mut admin) = PgConnection::connect(&server).await {
                        let sql = format!("drop database if exists {name} with (force)");
                        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                            .execute(&mut admin)
                            .await;
                    }
                });
            });
        });
    }
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let slash = base.rfind('/').expect("database URL has a path");
    let mut out = format!("{}/{database}", &base[..slash]);
    if let Some(q) = query {
        out = format!("{out}?{q}");
    }
    out
}

pub struct TestApp {
    pub addr: SocketAddr,
    /// Sends the admin token on every request.
    pub client: reqwest::Client,
    /// Sends no credentials.
    pub anonymous: reqwest::Client,
    pub pool: Db,
    pub engine: Engine,
    pub auth: Arc<Auth>,
    /// An admin token of the default account, sent by every helper request.
    pub token: String,
    shutdown: CancellationToken,
    _db: TestDb,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A response: status, headers and JSON body (`Value::Null` if not JSON).
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl TestApp {
    /// Counts are never cached in tests, so every read is exact.
    pub async fn spawn() -> Self {
        Self::spawn_with(EngineOptions {
            stats_max_age: Duration::ZERO,
            ..EngineOptions::default()
        })
        .await
    }

    pub async fn spawn_with(options: EngineOptions) -> Self {
        Self::spawn_with_sqs(options, SqsConfig::default()).await
    }

    /// Like `spawn_with`, with the SQS door configured by `sqs`.
    pub async fn spawn_with_sqs(options: EngineOptions, sqs: SqsConfig) -> Self {
        Self::spawn_via(options, sqs, |url| url.to_owned()).await
    }

    /// Like `spawn_with_sqs`, connecting its pool to the URL `route` makes of the test
    /// database's (e.g. through a proxy that can cut the database off).
    pub async fn spawn_via(
        options: EngineOptions,
        sqs: SqsConfig,
        route: impl FnOnce(&str) -> String,
    ) -> Self {
        let db = TestDb::new().await;
        let pool = store::connect(&route(&db.url), 8).await.expect("connect");
        Self::spawn_on(db, pool, options, sqs).await
    }

    /// A server whose pool opens at most `max_connections` connections and lets a caller wait
    /// up to `acquire_timeout` for one.
    pub async fn spawn_with_pool(max_connections: u32, acquire_timeout: Duration) -> Self {
        let db = TestDb::new().await;
        let pool = store::connect_with(&db.url, max_connections, acquire_timeout)
            .await
            .expect("connect");
        let options = EngineOptions {
            stats_max_age: Duration::ZERO,
            ..EngineOptions::default()
        };
        Self::spawn_on(db, pool, options, SqsConfig::default()).await
    }

    /// Migrates `db` through `pool` and serves the app over it.
    async fn spawn_on(db: TestDb, pool: Db, options: EngineOptions, sqs: SqsConfig) -> Self {
        store::migrate(&pool).await.expect("migrate");
        let shutdown = CancellationToken::new();
        let engine = Engine::new(pool.clone(), options, shutdown.clone())
            .await
            .expect("engine");
        let master = MasterKey::parse(&"5e".repeat(32)).unwrap();
        let auth = Arc::new(
            Auth::new(pool.clone(), master, AuthMode::Enforce)
                .await
                .unwrap(),
        );
        let token = auth
            .issue(0, "test admin", &["admin".parse::<Grant>().unwrap()], None)
            .await
            .unwrap()
            .jwt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = AppState {
            engine: engine.clone(),
            auth: auth.clone(),
            sqs: std::sync::Arc::new(sqs),
        };
        tokio::spawn(spool::serve(
            listener,
            state,
            shutdown.clone().cancelled_owned(),
        ));
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .unwrap();
        Self {
            addr,
            client,
            anonymous: reqwest::Client::new(),
            pool,
            engine,
            auth,
            token,
            shutdown,
            _db: db,
        }
    }

    /// The URL of this app's database (for more nodes over the same data).
    pub fn database_url(&self) -> &str {
        &self._db.url
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn request(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.request_as(Some(&self.token), method, path, body).await
    }

    /// A request with the given bearer token (or none).
    pub async fn request_as(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.anonymous.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        reply(request.send().await.expect("request")).await
    }

    /// The `/metrics` text (Prometheus format), fetched without credentials as scrapers do.
    pub async fn scrape_metrics(&self) -> String {
        let r = self
            .anonymous
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.text().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request(Method::GET, path, None).await
    }

    /// Creates a token with these scopes on `account` and returns the bearer token.
    pub async fn token_for(&self, account: i64, scopes: &[&str]) -> String {
        let grants: Vec<Grant> = scopes.iter().map(|s| s.parse().unwrap()).collect();
        self.auth
            .issue(account, "test", &grants, None)
            .await
            .unwrap()
            .jwt
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.request(Method::POST, path, Some(body)).await
    }

    pub async fn create_queue(&self, name: &str, settings: Value) -> Value {
        let mut body = settings;
        body["name"] = json!(name);
        let r = self.post("/v1/queues", body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body
    }

    pub async fn send(&self, queue: &str, body: &str) -> Value {
        let r = self
            .post(
                &format!("/v1/queues/{queue}/messages"),
                json!({"body": body}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body
    }

    /// Receives with the given options and returns the messages.
    pub async fn receive(&self, queue: &str, options: Value) -> Vec<Value> {
        let r = self
            .post(&format!("/v1/queues/{queue}/messages/receive"), options)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body["messages"].as_array().expect("messages").clone()
    }

    pub async fn delete(&self, queue: &str, handle: &str) -> Reply {
        self.post(
            &format!("/v1/queues/{queue}/messages/delete"),
            json!({"receipt_handle": handle}),
        )
        .await
    }

    /// Live counts of a queue.
    pub async fn counts(&self, queue: &str) -> Value {
        let r = self.get(&format!("/v1/queues/{queue}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body["counts"].clone()
    }
}

pub async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
    }
}

/// Asserts an error response in the API's shape with this status and code.
pub fn assert_error(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.body["error"]["code"], code, "{}", reply.body);
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        reply.body
    );
}

/// Waits until `value()` is `expected`, checking every 10 ms for up to 10 s; panics naming
/// `what` and the last value if it never is.
pub async fn eventually<T: PartialEq + std::fmt::Debug>(
    what: &str,
    expected: T,
    mut value: impl FnMut() -> T,
) {
    let mut last = value();
    for _ in 0..1000 {
        if last == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        last = value();
    }
    panic!("{what}: still {last:?} after 10 s, not {expected:?}");
}
