//! The `spool` binary as an operator runs it: `serve` on an external database and on the
//! embedded default (stopped and restarted on the same data), start-up failures, `migrate` and
//! `openapi`.
//!
//! Every test starts the real binary as a child process. A guard interrupts the child when the
//! test ends, and kills it if it does not exit, so a failing test leaves no server behind.

#[allow(dead_code)] // Only the database helpers are used here.
#[path = "api/helpers.rs"]
mod helpers;

use std::{
    fs,
    io::{BufRead, BufReader, Read},
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

use helpers::TestDb;

/// Longest wait for the server to serve; the embedded default runs `initdb` first.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for a command to exit on its own or after SIGINT (the embedded default stops
/// its PostgreSQL cluster first).
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between polls.
const POLL: Duration = Duration::from_millis(25);

/// A running `spool` child and what it has printed so far.
struct Spool {
    child: Child,
    stdout: Output,
    stderr: Output,
}

/// A pipe of the child, read to the end by a thread.
struct Output {
    text: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
}

impl Output {
    fn collect(pipe: impl Read + Send + 'static) -> Self {
        let text = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&text);
        let reader = std::thread::spawn(move || {
            let mut pipe = BufReader::new(pipe);
            let mut line = String::new();
            while matches!(pipe.read_line(&mut line), Ok(n) if n > 0) {
                sink.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        Self {
            text,
            reader: Some(reader),
        }
    }

    fn text(&self) -> String {
        self.text.lock().unwrap().clone()
    }

    /// Waits (briefly) until the pipe is drained, once the child has exited.
    fn finish(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(2);
        if let Some(reader) = self.reader.take() {
            while !reader.is_finished() && Instant::now() < deadline {
                std::thread::sleep(POLL);
            }
            if reader.is_finished() {
                reader.join().unwrap();
            }
        }
    }
}

impl Spool {
    /// Runs `spool <args>` with JSON logs; `configure` sets the child's environment.
    fn start(args: &[&str], configure: impl FnOnce(&mut Command)) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_spool"));
        command
            .args(args)
            .env("SPOOL_LOG_FORMAT", "json")
            .env("RUST_LOG", "info,sqlx=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        configure(&mut command);
        let mut child = command.spawn().expect("start spool");
        let stdout = Output::collect(child.stdout.take().unwrap());
        let stderr = Output::collect(child.stderr.take().unwrap());
        Self {
            child,
            stdout,
            stderr,
        }
    }

    /// Runs `spool serve` on a free port.
    fn serve(configure: impl FnOnce(&mut Command)) -> Self {
        Self::start(&["serve"], |command| {
            command.env("SPOOL_LISTEN", "127.0.0.1:0");
            configure(command);
        })
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).unwrap())
    }

    /// The first JSON log line with this `message`, waiting for it.
    async fn log_line(&mut self, message: &str) -> Value {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let found = self
                .stderr
                .text()
                .lines()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .find(|line| line["message"] == message);
            if let Some(line) = found {
                return line;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                self.stderr.finish();
                panic!(
                    "spool exited ({status}) before logging {message:?}:\n{}",
                    self.stderr.text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {message:?} within {START_TIMEOUT:?}:\n{}",
                self.stderr.text()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// The address the server announced, once it is ready; requests carry `token`.
    async fn ready(&mut self, token: &str) -> Api {
        let line = self.log_line("Spool is serving").await;
        let address: SocketAddr = line["address"].as_str().unwrap().parse().unwrap();
        let api = Api {
            base: format!("http://{address}"),
            client: reqwest::Client::new(),
            token: token.to_owned(),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        while api.call(Method::GET, "/readyz", None).await.0 != StatusCode::OK {
            assert!(Instant::now() < deadline, "/readyz never answered 200");
            tokio::time::sleep(POLL).await;
        }
        api
    }

    fn interrupt(&self) {
        kill(self.pid(), Signal::SIGINT).expect("send SIGINT");
    }

    /// Waits for the child to exit; fails the test after `timeout`.
    async fn exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.stdout.finish();
                self.stderr.finish();
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "spool still running after {timeout:?}:\n{}",
                self.stderr.text()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Sends SIGINT and expects a clean exit.
    async fn stop(&mut self) {
        self.interrupt();
        let status = self.exit(EXIT_TIMEOUT).await;
        assert!(
            status.success(),
            "spool exited with {status}:\n{}",
            self.stderr.text()
        );
    }
}

impl Drop for Spool {
    /// Interrupts a child that is still running, then kills it if it does not exit.
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        let _ = kill(self.pid(), Signal::SIGINT);
        let deadline = Instant::now() + EXIT_TIMEOUT;
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The native API of a running server.
struct Api {
    base: String,
    client: reqwest::Client,
    token: String,
}

impl Api {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let bytes = response.bytes().await.expect("response body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn send(&self, queue: &str, body: &str) -> Value {
        let (status, sent) = self
            .post(
                &format!("/v1/queues/{queue}/messages"),
                json!({ "body": body }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{sent}");
        sent
    }

    async fn receive(&self, queue: &str, wait_seconds: u8) -> Vec<Value> {
        let (status, reply) = self
            .post(
                &format!("/v1/queues/{queue}/messages/receive"),
                json!({ "wait_seconds": wait_seconds }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        reply["messages"].as_array().unwrap().clone()
    }
}

/// Creates `queue`, then sends, receives and deletes a message.
async fn round_trip(api: &Api, queue: &str) {
    let (status, created) = api.post("/v1/queues", json!({ "name": queue })).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let sent = api.send(queue, "hello").await;
    let received = api.receive(queue, 1).await;
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0]["body"], "hello");
    assert_eq!(received[0]["message_id"], sent["message_id"]);
    let (status, deleted) = api
        .post(
            &format!("/v1/queues/{queue}/messages/delete"),
            json!({ "receipt_handle": received[0]["receipt_handle"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted["deleted"], true);
    assert!(api.receive(queue, 0).await.is_empty());
}

/// A fresh directory under the temp dir; on drop, stops any PostgreSQL still running in its
/// `data` subdirectory and removes it.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(name: &str) -> Self {
        let unique = uuid::Uuid::new_v4().simple();
        let dir = std::env::temp_dir().join(format!("spool-cli-test-{name}-{unique}"));
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// The data directory given to Spool.
    fn data(&self) -> PathBuf {
        self.0.join("data")
    }

    /// The embedded cluster's directory inside it.
    fn cluster(&self) -> PathBuf {
        self.data().join("postgres")
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if let Some(pid) = postmaster_pid(&self.cluster()) {
            // SIGINT is PostgreSQL's fast shutdown.
            let _ = kill(pid, Signal::SIGINT);
            let deadline = Instant::now() + EXIT_TIMEOUT;
            while kill(pid, None).is_ok() && Instant::now() < deadline {
                std::thread::sleep(POLL);
            }
        }
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The server process named by the cluster's `postmaster.pid`, if the file exists.
fn postmaster_pid(data: &Path) -> Option<Pid> {
    let text = fs::read_to_string(data.join("postmaster.pid")).ok()?;
    text.lines().next()?.trim().parse().ok().map(Pid::from_raw)
}

const SECRET_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// Runs a command to completion and returns its standard output.
async fn run_ok(args: &[&str], configure: impl FnOnce(&mut Command)) -> String {
    let mut spool = Spool::start(args, configure);
    let status = spool.exit(START_TIMEOUT).await;
    assert!(
        status.success(),
        "{args:?} exited with {status}:\n{}",
        spool.stderr.text()
    );
    spool.stdout.text()
}

#[tokio::test]
async fn serve_on_database_url_answers_and_exits_cleanly_on_sigint() {
    let db = TestDb::new().await;
    let external = |command: &mut Command| {
        command
            .env("DATABASE_URL", &db.url)
            .env("SPOOL_SECRET_KEY", SECRET_KEY);
    };
    // The first admin token is made on the database directly.
    let token = run_ok(
        &[
            "token", "create", "--name", "first", "--scope", "admin", "--quiet",
        ],
        external,
    )
    .await;
    let mut spool = Spool::serve(external);
    let api = spool.ready(token.trim()).await;
    round_trip(&api, "cli-external").await;
    // A request's log lines carry the client's request id, the matched route and the account.
    let response = api
        .client
        .get(format!("{}/v1/queues/cli-external", api.base))
        .bearer_auth(&api.token)
        .header("x-request-id", "cli-trace-7")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "cli-trace-7");
    let deadline = Instant::now() + START_TIMEOUT;
    let served = loop {
        let found = spool
            .stderr
            .text()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find(|line| line["span"]["request_id"] == "cli-trace-7");
        if let Some(line) = found {
            break line;
        }
        assert!(Instant::now() < deadline, "no log line of the request");
        tokio::time::sleep(POLL).await;
    };
    assert_eq!(served["span"]["route"], "/v1/queues/{queue}", "{served}");
    assert_eq!(served["span"]["account"], "000000000000", "{served}");
    assert!(
        !served.to_string().contains(&api.token),
        "the token is logged: {served}"
    );
    // Without a token nothing reaches a queue.
    let anonymous = Api {
        token: String::new(),
        ..api
    };
    let (status, _) = anonymous.call(Method::GET, "/v1/queues", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    spool.stop().await;

    // Without the secret key the server refuses to start rather than make one up.
    let mut keyless = Spool::serve(|command| {
        command
            .env("DATABASE_URL", &db.url)
            .env_remove("SPOOL_SECRET_KEY");
    });
    assert!(!keyless.exit(EXIT_TIMEOUT).await.success());
    assert!(keyless.stderr.text().contains("SPOOL_SECRET_KEY"));
}

#[tokio::test]
async fn serve_on_the_embedded_default_keeps_queues_across_restarts() {
    let scratch = ScratchDir::new("embedded");
    let data = scratch.data();
    let embedded = |command: &mut Command| {
        command
            .env_remove("DATABASE_URL")
            .env("SPOOL_DATA_DIR", &data);
    };

    let mut spool = Spool::serve(embedded);
    let pg_port = spool.log_line("embedded PostgreSQL is ready").await["port"]
        .as_u64()
        .and_then(|port| u16::try_from(port).ok())
        .expect("the cluster's port is logged");
    spool.log_line("Spool is serving").await;
    // The first start prints an admin token once.
    let printed = spool.stdout.text();
    let token = printed
        .lines()
        .find_map(|line| line.trim().strip_prefix("export SPOOL_TOKEN="))
        .unwrap_or_else(|| panic!("no token printed:\n{printed}"))
        .to_owned();
    let api = spool.ready(&token).await;
    round_trip(&api, "cli-embedded").await;
    let kept = api.send("cli-embedded", "kept across restarts").await;
    spool.stop().await;
    assert!(
        postmaster_pid(&scratch.cluster()).is_none(),
        "postmaster.pid left behind: cluster still running"
    );
    assert!(
        TcpStream::connect(("127.0.0.1", pg_port)).is_err(),
        "PostgreSQL port {pg_port} still open"
    );

    let mut spool = Spool::serve(embedded);
    let api = spool.ready(&token).await;
    assert!(
        !spool.stdout.text().contains("SPOOL_TOKEN"),
        "printed a token twice"
    );
    let (status, queue) = api.call(Method::GET, "/v1/queues/cli-embedded", None).await;
    assert_eq!(status, StatusCode::OK, "{queue}");
    let received = api.receive("cli-embedded", 1).await;
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0]["message_id"], kept["message_id"]);
    assert_eq!(received[0]["body"], "kept across restarts");
    spool.stop().await;
    assert!(
        postmaster_pid(&scratch.cluster()).is_none(),
        "postmaster.pid left behind: cluster still running"
    );
}

#[tokio::test]
async fn serve_with_an_unreachable_database_fails_fast_and_says_why() {
    let closed_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let mut spool = Spool::serve(|command| {
        command
            .env(
                "DATABASE_URL",
                format!("postgres://postgres@127.0.0.1:{closed_port}/spool"),
            )
            .env("SPOOL_SECRET_KEY", SECRET_KEY);
    });
    let status = spool.exit(EXIT_TIMEOUT).await;
    assert!(
        !status.success(),
        "spool exited successfully without a database"
    );
    let stderr = spool.stderr.text();
    assert!(
        stderr.contains("could not connect to PostgreSQL"),
        "{stderr}"
    );
    assert!(started.elapsed() < EXIT_TIMEOUT);
}

#[tokio::test]
async fn migrate_prepares_a_fresh_database_and_can_run_again() {
    let db = TestDb::new().await;
    for _ in 0..2 {
        let mut spool = Spool::start(&["migrate"], |command| {
            command.env("DATABASE_URL", &db.url);
        });
        let status = spool.exit(EXIT_TIMEOUT).await;
        assert!(
            status.success(),
            "migrate exited with {status}:\n{}",
            spool.stderr.text()
        );
        assert!(spool.stderr.text().contains("migrations applied"));
    }
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    let expected = sqlx::migrate!()
        .migrations
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .count();
    // The same check as `/readyz`.
    let applied: i64 = sqlx::query_scalar("select count(*) from _sqlx_migrations where success")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(usize::try_from(applied).unwrap(), expected);
    for table in [
        "accounts",
        "queues",
        "messages",
        "move_tasks",
        "server_secrets",
        "api_tokens",
        "signing_keys",
    ] {
        let exists: bool = sqlx::query_scalar("select to_regclass($1) is not null")
            .bind(table)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert!(exists, "table {table} missing after migrate");
    }
    conn.close().await.unwrap();
}

#[tokio::test]
async fn openapi_prints_the_committed_document() {
    let mut spool = Spool::start(&["openapi"], |_| {});
    let status = spool.exit(EXIT_TIMEOUT).await;
    assert!(
        status.success(),
        "openapi exited with {status}:\n{}",
        spool.stderr.text()
    );
    let committed =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/openapi.json"))
            .unwrap();
    assert!(
        spool.stdout.text().trim_end() == committed.trim_end(),
        "`spool openapi` differs from openapi/openapi.json: \
         run `UPDATE_OPENAPI=1 cargo test --test api openapi` and commit it"
    );
}

#[tokio::test]
async fn account_create_takes_a_chosen_id() {
    let db = TestDb::new().await;
    let external = |command: &mut Command| {
        command.env("DATABASE_URL", &db.url);
    };
    let printed = run_ok(
        &[
            "account",
            "create",
            "--name",
            "emulated",
            "--id",
            "123456789012",
        ],
        external,
    )
    .await;
    assert_eq!(printed.trim(), "123456789012");
    for (args, complaint) in [
        (
            [
                "account",
                "create",
                "--name",
                "other",
                "--id",
                "123456789012",
            ],
            "already in use",
        ),
        (
            ["account", "create", "--name", "other", "--id", "12345"],
            "12 digits",
        ),
    ] {
        let mut spool = Spool::start(&args, external);
        let status = spool.exit(START_TIMEOUT).await;
        assert!(!status.success(), "{args:?}");
        assert!(
            spool.stderr.text().contains(complaint),
            "{args:?}: {}",
            spool.stderr.text()
        );
    }
}
