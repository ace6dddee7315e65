//! Controlling the server process: `pg_ctl start`/`stop`, picking a port, waiting for it to
//! answer, and reading `postmaster.pid` to find a cluster that is already running.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::net::Ipv4Addr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio::time::Instant;

use super::user::RunAs;
use super::{EmbeddedError, EmbeddedPostgres, PG_CTL_WAIT_SECS, READY_TIMEOUT};

/// Server log, inside the data directory (writable by the server's user).
const LOG_FILE: &str = "postgres.log";
/// Start attempts, each with a freshly picked port (another process may grab
/// the port between picking it and the server binding it).
const START_ATTEMPTS: u32 = 3;
/// How many trailing lines of command output and server log errors carry.
const TAIL_LINES: usize = 40;

impl EmbeddedPostgres {
    /// Port of a cluster already running in `dir`, if it accepts connections.
    pub(super) async fn attachable_port(&self) -> Result<Option<u16>, EmbeddedError> {
        let Some(pid_file) = self.running_pid()? else {
            return Ok(None);
        };
        let Some(port) = pid_file.port else {
            tracing::warn!(
                dir = %self.dir.display(),
                pid = pid_file.pid,
                "postmaster.pid has no port; trying to start the server"
            );
            return Ok(None);
        };
        if wait_for_tcp(port, READY_TIMEOUT).await {
            return Ok(Some(port));
        }
        // Most likely the pid was recycled by an unrelated process; let the
        // server's own lock-file check decide.
        tracing::warn!(
            dir = %self.dir.display(),
            pid = pid_file.pid,
            port,
            "postmaster.pid names a live process but the port does not answer; trying to start the server"
        );
        Ok(None)
    }

    /// Contents of `postmaster.pid` if it names a live process.
    pub(super) fn running_pid(&self) -> Result<Option<PostmasterPid>, EmbeddedError> {
        let path = self.dir.join("postmaster.pid");
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(EmbeddedError::Fs {
                    action: "read",
                    path,
                    source,
                });
            }
        };
        let Some(pid_file) = parse_postmaster_pid(&text) else {
            return Ok(None);
        };
        if process_alive(pid_file.pid) {
            return Ok(Some(pid_file));
        }
        tracing::info!(
            dir = %self.dir.display(),
            pid = pid_file.pid,
            "ignoring stale postmaster.pid (process is gone)"
        );
        if is_zombie(pid_file.pid) {
            // PostgreSQL's own check (`kill(pid, 0)`) sees an unreaped zombie as alive and would
            // refuse to start; the process is dead, so its lock file can go.
            let _ = fs::remove_file(&path);
        }
        Ok(None)
    }

    /// Starts the server with `pg_ctl start` on a free port and waits until it accepts TCP connections.
    pub(super) async fn start_server(&mut self) -> Result<(), EmbeddedError> {
        let pg_ctl = self.bin_dir.join("pg_ctl");
        let log = self.dir.join(LOG_FILE);
        let mut attempt = 1;
        loop {
            let port = pick_free_port()?;
            let log_offset = fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
            tracing::info!(
                dir = %self.dir.display(),
                port,
                bin_dir = %self.bin_dir.display(),
                user = self.run_as.as_ref().map(|u| u.name.as_str()),
                "starting embedded PostgreSQL"
            );
            let mut cmd = self.command(&pg_ctl);
            cmd.arg("-D")
                .arg(&self.dir)
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", PG_CTL_WAIT_SECS, "-o", &server_options(port)])
                .arg("start");
            match run(cmd, &pg_ctl).await {
                Ok(_) => {
                    self.port = port;
                    break;
                }
                Err(EmbeddedError::Command {
                    program,
                    status,
                    output,
                }) => {
                    let log_tail = read_tail_from(&log, log_offset);
                    let port_taken = ["could not bind", "Address already in use"]
                        .iter()
                        .any(|needle| log_tail.contains(needle));
                    if port_taken && attempt < START_ATTEMPTS {
                        tracing::warn!(port, "port was taken before PostgreSQL bound it; retrying");
                        attempt += 1;
                        continue;
                    }
                    return Err(EmbeddedError::Command {
                        program,
                        status,
                        output: format!("{output}\n--- {} ---\n{log_tail}", log.display()),
                    });
                }
                Err(other) => return Err(other),
            }
        }
        if !wait_for_tcp(self.port, READY_TIMEOUT).await {
            // Do not leave behind a server nobody will stop.
            let mut cmd = self.command(&pg_ctl);
            cmd.arg("-D").arg(&self.dir).args([
                "-m",
                "immediate",
                "-w",
                "-t",
                PG_CTL_WAIT_SECS,
                "stop",
            ]);
            if let Err(err) = run(cmd, &pg_ctl).await {
                tracing::warn!(error = %err, "could not stop the unresponsive server");
            }
            return Err(EmbeddedError::NotReady {
                port: self.port,
                log,
            });
        }
        tracing::info!(dir = %self.dir.display(), port = self.port, "embedded PostgreSQL is ready");
        Ok(())
    }

    /// A command for a PostgreSQL binary: run as the unprivileged user if we
    /// are root, from `/` (the caller's cwd may be unreadable to that user),
    /// and without the caller's `PG*` variables (which could point the tools
    /// elsewhere).
    pub(super) fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, _) in std::env::vars_os() {
            if key.as_bytes().starts_with(b"PG") {
                cmd.env_remove(key);
            }
        }
        if let Some(user) = &self.run_as {
            cmd.uid(user.uid.as_raw()).gid(user.gid.as_raw());
        }
        cmd
    }
}

/// Synchronous best-effort `pg_ctl stop -m fast` (for drop and test cleanup).
pub(super) fn stop_blocking(dir: &Path, bin_dir: &Path, run_as: Option<&RunAs>) {
    use std::os::unix::process::CommandExt as _;
    let mut cmd = std::process::Command::new(bin_dir.join("pg_ctl"));
    cmd.current_dir("/")
        .arg("-D")
        .arg(dir)
        .args(["-m", "fast", "-w", "-t", PG_CTL_WAIT_SECS, "stop"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(user) = run_as {
        cmd.uid(user.uid.as_raw()).gid(user.gid.as_raw());
    }
    if let Err(err) = cmd.status() {
        tracing::warn!(dir = %dir.display(), error = %err, "could not run pg_ctl stop");
    }
}

/// Options passed to the server with `pg_ctl -o` (interpreted by `/bin/sh`).
fn server_options(port: u16) -> String {
    format!(
        "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' \
         -c max_connections=200 -c shared_buffers=128MB -c autovacuum_naptime=1 \
         -c fsync=on -c log_min_messages=warning"
    )
}

/// Runs a command to completion; a non-zero exit becomes [`EmbeddedError::Command`].
pub(super) async fn run(mut cmd: Command, program: &Path) -> Result<Output, EmbeddedError> {
    let output = cmd.output().await.map_err(|source| EmbeddedError::Spawn {
        program: program.display().to_string(),
        source,
    })?;
    if output.status.success() {
        return Ok(output);
    }
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Err(EmbeddedError::Command {
        program: program.display().to_string(),
        status: output.status.to_string(),
        output: tail(&text, TAIL_LINES),
    })
}

/// The last `lines` lines of `text`, trimmed.
pub(super) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Tail of what was appended to `path` since byte `offset` (best effort).
fn read_tail_from(path: &Path, offset: u64) -> String {
    let mut buf = Vec::new();
    let read = File::open(path).and_then(|mut file| {
        let len = file.metadata()?.len();
        // A rotated or truncated log: read it whole.
        file.seek(SeekFrom::Start(if offset <= len { offset } else { 0 }))?;
        file.read_to_end(&mut buf)
    });
    match read {
        Ok(_) => tail(&String::from_utf8_lossy(&buf), TAIL_LINES),
        Err(err) => format!("(could not read {}: {err})", path.display()),
    }
}

fn pick_free_port() -> io::Result<u16> {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// Retries a TCP connect to 127.0.0.1:`port` until it succeeds or `timeout` passes.
async fn wait_for_tcp(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let attempt = tokio::time::timeout(
            Duration::from_secs(1),
            TcpStream::connect((Ipv4Addr::LOCALHOST, port)),
        )
        .await;
        if matches!(attempt, Ok(Ok(_))) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The parts of `postmaster.pid` we use: line 1 is the pid, line 4 the port.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct PostmasterPid {
    pub(super) pid: i32,
    pub(super) port: Option<u16>,
}

pub(super) fn parse_postmaster_pid(text: &str) -> Option<PostmasterPid> {
    let mut lines = text.lines();
    let pid = lines.next()?.trim().parse().ok()?;
    let port = lines.nth(2).and_then(|line| line.trim().parse().ok());
    Some(PostmasterPid { pid, port })
}

/// Whether a process exists and has not exited (a single-user backend writes its pid negated).
/// An exited process that nobody reaped (a zombie, e.g. under an init that does not reap) is dead.
pub(super) fn process_alive(pid: i32) -> bool {
    let pid = pid.saturating_abs();
    if pid == 0 || is_zombie(pid) {
        return false;
    }
    match kill(Pid::from_raw(pid), None) {
        Ok(()) | Err(Errno::EPERM) => true,
        Err(_) => false,
    }
}

/// Whether `pid` is a zombie, per `/proc/<pid>/stat` (Linux; elsewhere never).
pub(super) fn is_zombie(pid: i32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{}/stat", pid.saturating_abs())) else {
        return false;
    };
    // The state follows the parenthesised command name, which may itself contain ')'.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .is_some_and(|state| state == "Z")
}
