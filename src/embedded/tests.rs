//! Tests of the embedded cluster: real `initdb`/`pg_ctl` runs and the pure helpers.

use std::fs::{self, Permissions};
use std::net::Ipv4Addr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};

use nix::unistd::{Uid, User};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

use super::binaries::{
    REQUIRED_BINARIES, default_search_dirs, find_binaries_in, is_executable, resolve_bin_dir,
    versioned_dirs,
};
use super::process::{
    PostmasterPid, is_zombie, parse_postmaster_pid, process_alive, stop_blocking, tail,
};
use super::user::resolve_run_as;
use super::{EmbeddedError, EmbeddedPostgres, Lifecycle};

/// Env var telling [`shared_start_child`] (run in a child process) which dir to start.
const CHILD_DIR_ENV: &str = "SPOOL_EMBEDDED_TEST_CHILD_DIR";

/// A fresh directory under the temp dir; on drop, stops any cluster in
/// its `data` subdirectory and removes everything.
struct TestDir {
    root: PathBuf,
}

impl TestDir {
    fn new(name: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let root = std::env::temp_dir().join(format!(
            "spool-embedded-test-{}-{}-{name}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).expect("create test dir");
        Self { root }
    }

    fn data(&self) -> PathBuf {
        self.root.join("data")
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let data = self.data();
        if data.join("postmaster.pid").exists()
            && let Ok(bin_dir) = find_binaries_in(&default_search_dirs())
        {
            let run_as = Uid::effective()
                .is_root()
                .then(|| resolve_run_as(&data).ok())
                .flatten();
            stop_blocking(&data, &bin_dir, run_as.as_ref());
        }
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// Speaks the start of the PostgreSQL wire protocol: a StartupMessage as
/// user `postgres` must be answered with AuthenticationOk (trust auth).
async fn assert_accepts_login(port: u16) {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
        .await
        .expect("connect to PostgreSQL");
    let params = b"user\0postgres\0database\0postgres\0\0";
    let mut msg = Vec::new();
    msg.extend_from_slice(&(8 + params.len() as u32).to_be_bytes());
    msg.extend_from_slice(&196_608u32.to_be_bytes()); // protocol 3.0
    msg.extend_from_slice(params);
    stream.write_all(&msg).await.expect("send startup message");
    let mut reply = [0u8; 9];
    stream.read_exact(&mut reply).await.expect("read reply");
    assert_eq!(
        reply,
        [b'R', 0, 0, 0, 8, 0, 0, 0, 0],
        "expected AuthenticationOk"
    );
    stream
        .write_all(&[b'X', 0, 0, 0, 4])
        .await
        .expect("send Terminate");
}

/// Runs `SELECT 1` with `psql` if it sits next to the server binaries.
async fn assert_psql_select(pg: &EmbeddedPostgres) {
    let psql = pg.bin_dir.join("psql");
    if !is_executable(&psql) {
        return;
    }
    let output = Command::new(&psql)
        .args(["-X", "-At", "-c", "select 1", &pg.database_url("postgres")])
        .output()
        .await
        .expect("run psql");
    assert!(output.status.success(), "psql failed: {output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "1");
}

fn assert_stopped(dir: &Path) {
    assert!(
        !dir.join("postmaster.pid").exists(),
        "postmaster.pid still present"
    );
}

#[tokio::test]
async fn start_attach_stop_restart() {
    let test_dir = TestDir::new("lifecycle");
    let data = test_dir.data();

    let owned = EmbeddedPostgres::start(&data, Lifecycle::Owned)
        .await
        .expect("start embedded PostgreSQL");
    let port = owned.port();
    assert!(owned.owned);
    assert_eq!(
        owned.database_url("spool"),
        format!("postgres://postgres@127.0.0.1:{port}/spool")
    );
    assert!(data.join("PG_VERSION").exists());
    let meta = fs::metadata(&data).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o700);
    if Uid::effective().is_root() {
        let postgres = User::from_name("postgres").unwrap().unwrap();
        assert_eq!(
            meta.uid(),
            postgres.uid.as_raw(),
            "data dir handed to postgres"
        );
    }
    assert_accepts_login(port).await;
    assert_psql_select(&owned).await;

    // A second handle attaches instead of starting another server.
    let shared = EmbeddedPostgres::start(&data, Lifecycle::Shared)
        .await
        .expect("attach");
    assert_eq!(shared.port(), port);
    assert!(!shared.owned);
    shared.stop().await.expect("stop shared (no-op)");
    assert_accepts_login(port).await;

    owned.stop().await.expect("stop");
    assert_stopped(&data);
    assert!(
        TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .is_err(),
        "port still accepts connections after stop"
    );

    // A stale postmaster.pid (dead pid) must not block a restart.
    fs::write(
        data.join("postmaster.pid"),
        format!(
            "{}\n{}\n0\n{port}\n\n127.0.0.1\n0 0\nready   \n",
            i32::MAX,
            data.display()
        ),
    )
    .unwrap();

    // Restart on the already initialised directory.
    let again = EmbeddedPostgres::start(&data, Lifecycle::Owned)
        .await
        .expect("restart on existing cluster");
    assert_accepts_login(again.port()).await;
    again.stop().await.expect("stop again");
    assert_stopped(&data);
}

#[tokio::test]
async fn drop_stops_owned_cluster() {
    let test_dir = TestDir::new("drop");
    let data = test_dir.data();
    let pg = EmbeddedPostgres::start(&data, Lifecycle::Owned)
        .await
        .expect("start");
    let port = pg.port();
    drop(pg);
    assert_stopped(&data);
    assert!(
        TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .is_err()
    );
}

/// Not a test on its own: started as a child process by
/// [`concurrent_shared_start_across_processes`], it starts/attaches and
/// prints the port.
#[tokio::test]
async fn shared_start_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else {
        return;
    };
    let pg = EmbeddedPostgres::start(Path::new(&dir), Lifecycle::Shared)
        .await
        .expect("child start");
    println!("SPOOL_TEST_PORT={}", pg.port());
}

#[tokio::test]
async fn concurrent_shared_start_across_processes() {
    let test_dir = TestDir::new("shared");
    let data = test_dir.data();
    let exe = std::env::current_exe().unwrap();
    // Test names omit the crate name.
    let module = module_path!().split_once("::").map_or("", |(_, rest)| rest);
    let child_test = format!("{module}::shared_start_child");

    let children: Vec<_> = (0..3)
        .map(|_| {
            Command::new(&exe)
                .args([
                    child_test.as_str(),
                    "--exact",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_DIR_ENV, &data)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn child test process")
                .wait_with_output()
        })
        .collect();
    let here = EmbeddedPostgres::start(&data, Lifecycle::Shared);
    let (outputs, here) = tokio::join!(futures_join_all(children), here);
    let here = here.expect("start in this process");
    assert!(!here.owned);

    for output in outputs {
        let output = output.expect("run child");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "child failed: {output:?}");
        let port: u16 = stdout
            .lines()
            .find_map(|line| line.split_once("SPOOL_TEST_PORT="))
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("child printed no port: {stdout}"))
            .parse()
            .unwrap();
        assert_eq!(port, here.port(), "all processes share one cluster");
    }
    assert_accepts_login(here.port()).await;
    // Shared: stop() leaves it running; TestDir's drop stops it.
    here.stop().await.unwrap();
    assert!(data.join("postmaster.pid").exists());
}

/// Awaits futures concurrently (avoids a dependency for one test).
async fn futures_join_all<F>(futures: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut outputs = Vec::with_capacity(handles.len());
    for handle in handles {
        outputs.push(handle.await.expect("task panicked"));
    }
    outputs
}

#[tokio::test]
async fn unreachable_directory_is_reported() {
    if !Uid::effective().is_root() || User::from_name("postgres").ok().flatten().is_none() {
        eprintln!("skipped: needs root and a postgres user");
        return;
    }
    let test_dir = TestDir::new("private");
    let private = test_dir.root.join("private");
    fs::create_dir(&private).unwrap();
    fs::set_permissions(&private, Permissions::from_mode(0o700)).unwrap();
    let err = EmbeddedPostgres::start_with(
        &private.join("data"),
        Lifecycle::Owned,
        PathBuf::from("/nonexistent"),
    )
    .await
    .expect_err("postgres cannot enter a root-only directory");
    assert!(
        matches!(err, EmbeddedError::DirectoryNotAccessible { .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("/var/lib"), "{message}");
    assert!(
        message.contains(&private.display().to_string()),
        "{message}"
    );
    assert!(!private.join("data").exists(), "nothing created on failure");
}

#[test]
fn binaries_not_found_lists_searched_dirs() {
    let test_dir = TestDir::new("nobin");
    let err = find_binaries_in(std::slice::from_ref(&test_dir.root)).unwrap_err();
    match &err {
        EmbeddedError::BinariesNotFound { searched } => {
            assert_eq!(searched, &vec![test_dir.root.clone()]);
        }
        other => panic!("unexpected error: {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains("DATABASE_URL"), "{message}");
    assert!(message.contains("Install PostgreSQL"), "{message}");
    assert!(
        message.contains(&test_dir.root.display().to_string()),
        "{message}"
    );
}

#[test]
fn bin_dir_resolves_symlinks_and_needs_all_binaries() {
    let test_dir = TestDir::new("bins");
    let real = test_dir.root.join("real");
    let links = test_dir.root.join("links");
    let partial = test_dir.root.join("partial");
    for dir in [&real, &links, &partial] {
        fs::create_dir(dir).unwrap();
    }
    for name in REQUIRED_BINARIES {
        let path = real.join(name);
        fs::write(&path, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&path, Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink(&path, links.join(name)).unwrap();
    }
    // Only pg_ctl and initdb, as wrappers: no postgres next to them.
    for name in ["pg_ctl", "initdb"] {
        let path = partial.join(name);
        fs::write(&path, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&path, Permissions::from_mode(0o755)).unwrap();
    }
    let real = fs::canonicalize(real).unwrap();
    assert_eq!(resolve_bin_dir(&links), Some(real.clone()));
    assert_eq!(resolve_bin_dir(&partial), None);
    assert_eq!(find_binaries_in(&[partial, links.clone()]).unwrap(), real);
}

#[test]
fn versioned_dirs_sort_highest_first() {
    let test_dir = TestDir::new("versions");
    for name in [
        "9.6",
        "15",
        "16",
        "common",
        "postgresql@14",
        "postgresql@17",
    ] {
        fs::create_dir(test_dir.root.join(name)).unwrap();
    }
    let found = versioned_dirs(&test_dir.root, "", "bin");
    let names: Vec<_> = found
        .iter()
        .map(|p| p.strip_prefix(&test_dir.root).unwrap().to_path_buf())
        .collect();
    assert_eq!(
        names,
        ["16/bin", "15/bin", "9.6/bin"].map(PathBuf::from).to_vec()
    );
    let brew = versioned_dirs(&test_dir.root, "postgresql@", "bin");
    assert_eq!(brew[0], test_dir.root.join("postgresql@17/bin"));
    let missing = versioned_dirs(&test_dir.root.join("absent"), "pgsql-", "bin");
    assert_eq!(missing, vec![test_dir.root.join("absent/pgsql-*/bin")]);
}

#[test]
fn an_unreaped_exited_process_is_not_alive() {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    // Not waited for: once it exits it stays a zombie of this process.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !is_zombie(pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(is_zombie(pid));
    assert!(!process_alive(pid));
    assert!(!is_zombie(i32::try_from(std::process::id()).unwrap()));
    child.wait().unwrap();
}

#[test]
fn postmaster_pid_parsing_and_liveness() {
    let text = "4242\n/var/lib/spool/pgdata\n1795846751\n54999\n\n127.0.0.1\n 10010699         9\nready   \n";
    assert_eq!(
        parse_postmaster_pid(text),
        Some(PostmasterPid {
            pid: 4242,
            port: Some(54999)
        })
    );
    assert_eq!(
        parse_postmaster_pid("4242\n/data\n"),
        Some(PostmasterPid {
            pid: 4242,
            port: None
        })
    );
    assert_eq!(parse_postmaster_pid("garbage"), None);
    assert!(process_alive(i32::try_from(std::process::id()).unwrap()));
    assert!(!process_alive(i32::MAX));
    assert!(!process_alive(0));
}

#[test]
fn tail_keeps_last_lines() {
    let text: String = (1..=100).map(|i| format!("line {i}\n")).collect();
    let kept = tail(&text, 3);
    assert_eq!(kept, "line 98\nline 99\nline 100");
}
