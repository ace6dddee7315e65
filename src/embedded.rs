//! Embedded PostgreSQL: the default database when no `DATABASE_URL` is set.
//!
//! [`EmbeddedPostgres::start`] turns a directory into a private PostgreSQL
//! cluster (its `PGDATA`) using the PostgreSQL server binaries already
//! installed on the machine (`initdb`, `pg_ctl`, `postgres`): it runs `initdb`
//! if the directory is empty or missing, starts the server on a free port on
//! `127.0.0.1`, and [`EmbeddedPostgres::stop`] shuts it down again.
//!
//! Details worth knowing:
//!
//! * **Binaries.** `SPOOL_PG_BIN` (a directory) is used exclusively when set.
//!   Otherwise `PATH` is searched, then the usual install locations of
//!   Debian/Ubuntu, source builds, Homebrew and RHEL. A directory qualifies only
//!   if `initdb`, `pg_ctl` and `postgres` all live in it (after resolving the
//!   `pg_ctl` symlink), which skips Debian's `pg_wrapper` symlinks in
//!   `/usr/bin`.
//! * **Root.** PostgreSQL refuses to run as root. When the effective uid is 0
//!   (containers, CI), `initdb` and `pg_ctl` run as the `postgres` system user
//!   (or as the owner of an already initialised cluster), the data directory
//!   is handed to that user, and every ancestor directory must be searchable
//!   by it.
//! * **Sockets.** The server listens on TCP `127.0.0.1` only, with Unix
//!   sockets disabled (`unix_socket_directories=''`): socket paths have a
//!   ~100 byte limit that deep data directories exceed, and since
//!   PostgreSQL 10 `pg_ctl -w` waits via `postmaster.pid`, not a socket.
//! * **Sharing.** Starting is serialised with an exclusive file lock next to
//!   the data directory, so several processes (one per test under nextest)
//!   can call `start(dir, Lifecycle::Shared)` at once: the first starts the
//!   cluster, the others attach to it via the port in `postmaster.pid`.
//!   If the parent directory is not writable, the lock file goes in the temp
//!   directory instead (never inside the data directory: `initdb` wants it
//!   empty). A stale `postmaster.pid` (its process gone) is ignored.
//! * **Ownership.** Only a handle that started the cluster with
//!   [`Lifecycle::Owned`] stops it, on [`EmbeddedPostgres::stop`] or, as a
//!   fallback, when dropped. A handle that attached never stops it.
//! * **Logs.** The server log is `postgres.log` inside the data directory.

use std::fmt;
use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Read, Seek, SeekFrom};
use std::net::Ipv4Addr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::{Gid, Pid, Uid, User};
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio::time::Instant;

/// Database superuser created by `initdb` (trust authentication, no password).
const SUPERUSER: &str = "postgres";
/// Environment variable naming the directory holding the PostgreSQL binaries.
const PG_BIN_ENV: &str = "SPOOL_PG_BIN";
/// Binaries that must all live in the chosen directory.
const REQUIRED_BINARIES: [&str; 3] = ["initdb", "pg_ctl", "postgres"];
/// Server log, inside the data directory (writable by the server's user).
const LOG_FILE: &str = "postgres.log";
/// How long `pg_ctl` may wait for start-up and shutdown, in seconds.
const PG_CTL_WAIT_SECS: &str = "60";
/// How long to wait for the TCP port to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Start attempts, each with a freshly picked port (another process may grab
/// the port between picking it and the server binding it).
const START_ATTEMPTS: u32 = 3;
/// How many trailing lines of command output and server log errors carry.
const TAIL_LINES: usize = 40;

/// What went wrong while starting, attaching to or stopping the cluster.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// No directory with `initdb`, `pg_ctl` and `postgres` was found.
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found; searched: {}. \
         Install PostgreSQL (for example `apt-get install postgresql` or `brew install postgresql`), \
         set {PG_BIN_ENV} to the directory containing them, \
         or set DATABASE_URL to use an existing PostgreSQL server",
        display_paths(searched)
    )]
    BinariesNotFound { searched: Vec<PathBuf> },

    /// Running as root, but there is no unprivileged user to run PostgreSQL as.
    #[error(
        "running as root, but PostgreSQL refuses to run as root and there is no `postgres` \
         system user to run it as; create one (for example \
         `useradd --system --home-dir /var/lib/postgresql --shell /bin/sh postgres`), \
         run spool as a non-root user, or set DATABASE_URL to use an existing PostgreSQL server"
    )]
    NoUnprivilegedUser,

    /// The user PostgreSQL runs as cannot reach the data directory.
    #[error(
        "data directory {} is not accessible to user `{user}`, which PostgreSQL runs as: {reason}; \
         choose a data directory that user can reach, such as one under /var/lib or /tmp \
         (e.g. /var/lib/spool/pgdata)",
        dir.display()
    )]
    DirectoryNotAccessible {
        dir: PathBuf,
        user: String,
        reason: String,
    },

    /// A PostgreSQL command exited unsuccessfully; `output` is the tail of its
    /// stdout/stderr (and of the server log where relevant).
    #[error("`{program}` failed ({status}):\n{output}")]
    Command {
        program: String,
        status: String,
        output: String,
    },

    /// A PostgreSQL command could not be spawned at all.
    #[error("could not run `{program}`: {source}")]
    Spawn {
        program: String,
        #[source]
        source: io::Error,
    },

    /// `pg_ctl` reported success but the port did not accept connections.
    #[error(
        "PostgreSQL started but 127.0.0.1:{port} did not accept connections within {}s; see {}",
        READY_TIMEOUT.as_secs(),
        log.display()
    )]
    NotReady { port: u16, log: PathBuf },

    /// A file system operation on a known path failed.
    #[error("could not {action} {}: {source}", path.display())]
    Fs {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Who owns the cluster's lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// started by this handle, stopped by `stop()`
    Owned,
    /// left running for other processes (tests): attach if already running, never stop
    Shared,
}

/// A running PostgreSQL cluster whose data lives in a local directory.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    /// The cluster's `PGDATA` (absolute, canonical).
    dir: PathBuf,
    /// TCP port on 127.0.0.1.
    port: u16,
    /// Whether `stop()` (or drop) shuts the cluster down.
    owned: bool,
    /// Directory holding `initdb`, `pg_ctl` and `postgres`.
    bin_dir: PathBuf,
    /// Unprivileged user the PostgreSQL commands run as (only when we are root).
    run_as: Option<RunAs>,
}

/// An unprivileged account to run PostgreSQL commands as.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RunAs {
    name: String,
    uid: Uid,
    gid: Gid,
}

impl From<User> for RunAs {
    fn from(user: User) -> Self {
        Self {
            name: user.name,
            uid: user.uid,
            gid: user.gid,
        }
    }
}

impl EmbeddedPostgres {
    /// Starts (initdb'ing first if the dir is empty/missing) or attaches to the cluster whose data lives in `dir`.
    pub async fn start(dir: &Path, lifecycle: Lifecycle) -> Result<Self, EmbeddedError> {
        let bin_dir = find_binaries_in(&default_search_dirs())?;
        Self::start_with(dir, lifecycle, bin_dir).await
    }

    /// `postgres://postgres@127.0.0.1:<port>/<database>`
    pub fn database_url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    /// TCP port the cluster listens on (127.0.0.1 only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the cluster (pg_ctl stop -m fast, waiting) if Lifecycle::Owned and this handle started it; no-op otherwise.
    pub async fn stop(mut self) -> Result<(), EmbeddedError> {
        if !self.owned {
            tracing::debug!(dir = %self.dir.display(), "leaving shared embedded PostgreSQL running");
            return Ok(());
        }
        // Whatever happens next, drop must not try again.
        self.owned = false;
        let _lock = ClusterLock::acquire(&self.dir).await?;
        if self.running_pid()?.is_none() {
            tracing::info!(dir = %self.dir.display(), "embedded PostgreSQL already stopped");
            return Ok(());
        }
        tracing::info!(dir = %self.dir.display(), port = self.port, "stopping embedded PostgreSQL");
        let mut cmd = self.command(&self.bin_dir.join("pg_ctl"));
        cmd.arg("-D")
            .arg(&self.dir)
            .args(["-m", "fast", "-w", "-t", PG_CTL_WAIT_SECS, "stop"]);
        run(cmd, &self.bin_dir.join("pg_ctl")).await?;
        tracing::info!(dir = %self.dir.display(), "embedded PostgreSQL stopped");
        Ok(())
    }

    async fn start_with(
        dir: &Path,
        lifecycle: Lifecycle,
        bin_dir: PathBuf,
    ) -> Result<Self, EmbeddedError> {
        let root = Uid::effective().is_root();
        if root {
            // Fail before creating anything if PostgreSQL could not use the directory.
            let abs = std::path::absolute(dir).map_err(|source| EmbeddedError::Fs {
                action: "resolve",
                path: dir.to_path_buf(),
                source,
            })?;
            check_reachable(&abs, &resolve_run_as(&abs)?)?;
        }
        let dir = prepare_dir(dir)?;
        let _lock = ClusterLock::acquire(&dir).await?;

        let run_as = if root {
            // Again, on the canonical path (symlinks) and now that it exists.
            let user = resolve_run_as(&dir)?;
            check_reachable(&dir, &user)?;
            Some(user)
        } else {
            None
        };
        let mut pg = Self {
            dir,
            port: 0,
            owned: false,
            bin_dir,
            run_as,
        };

        if let Some(port) = pg.attachable_port().await? {
            pg.port = port;
            tracing::info!(
                dir = %pg.dir.display(),
                port,
                "attached to running embedded PostgreSQL"
            );
            return Ok(pg);
        }

        if !pg.dir.join("PG_VERSION").exists() {
            pg.init_cluster().await?;
        }
        pg.start_server().await?;
        pg.owned = lifecycle == Lifecycle::Owned;
        Ok(pg)
    }

    /// Port of a cluster already running in `dir`, if it accepts connections.
    async fn attachable_port(&self) -> Result<Option<u16>, EmbeddedError> {
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
    fn running_pid(&self) -> Result<Option<PostmasterPid>, EmbeddedError> {
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

    async fn init_cluster(&self) -> Result<(), EmbeddedError> {
        tracing::info!(
            dir = %self.dir.display(),
            bin_dir = %self.bin_dir.display(),
            user = self.run_as.as_ref().map(|u| u.name.as_str()),
            "initializing embedded PostgreSQL cluster"
        );
        // Hand an empty directory to the server's user. A non-empty one is left
        // alone: initdb refuses it with a clear message.
        let empty = fs::read_dir(&self.dir)
            .map_err(|source| EmbeddedError::Fs {
                action: "read directory",
                path: self.dir.clone(),
                source,
            })?
            .next()
            .is_none();
        if empty && let Some(user) = &self.run_as {
            std::os::unix::fs::chown(&self.dir, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
                .map_err(|source| EmbeddedError::Fs {
                action: "change the owner of",
                path: self.dir.clone(),
                source,
            })?;
        }
        let meta = fs::metadata(&self.dir)?;
        if empty && (Uid::effective().is_root() || meta.uid() == Uid::effective().as_raw()) {
            fs::set_permissions(&self.dir, Permissions::from_mode(0o700)).map_err(|source| {
                EmbeddedError::Fs {
                    action: "set permissions of",
                    path: self.dir.clone(),
                    source,
                }
            })?;
        }
        let initdb = self.bin_dir.join("initdb");
        let mut cmd = self.command(&initdb);
        cmd.arg("-D").arg(&self.dir).args([
            "-U",
            SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
        ]);
        let output = run(cmd, &initdb).await?;
        tracing::debug!(output = %String::from_utf8_lossy(&output.stdout), "initdb finished");
        Ok(())
    }

    /// Starts the server with `pg_ctl start` on a free port and waits until it accepts TCP connections.
    async fn start_server(&mut self) -> Result<(), EmbeddedError> {
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
    fn command(&self, program: &Path) -> Command {
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

impl Drop for EmbeddedPostgres {
    /// An owned cluster must not outlive its handle (e.g. when `serve` bails out
    /// early): stop it, blocking briefly. `stop()` is the normal path.
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        tracing::warn!(
            dir = %self.dir.display(),
            "embedded PostgreSQL handle dropped without stop(); stopping it"
        );
        stop_blocking(&self.dir, &self.bin_dir, self.run_as.as_ref());
    }
}

/// Synchronous best-effort `pg_ctl stop -m fast` (for drop and test cleanup).
fn stop_blocking(dir: &Path, bin_dir: &Path, run_as: Option<&RunAs>) {
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
async fn run(mut cmd: Command, program: &Path) -> Result<Output, EmbeddedError> {
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
fn tail(text: &str, lines: usize) -> String {
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
struct PostmasterPid {
    pid: i32,
    port: Option<u16>,
}

fn parse_postmaster_pid(text: &str) -> Option<PostmasterPid> {
    let mut lines = text.lines();
    let pid = lines.next()?.trim().parse().ok()?;
    let port = lines.nth(2).and_then(|line| line.trim().parse().ok());
    Some(PostmasterPid { pid, port })
}

/// Whether a process exists and has not exited (a single-user backend writes its pid negated).
/// An exited process that nobody reaped (a zombie, e.g. under an init that does not reap) is dead.
fn process_alive(pid: i32) -> bool {
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
fn is_zombie(pid: i32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{}/stat", pid.saturating_abs())) else {
        return false;
    };
    // The state follows the parenthesised command name, which may itself contain ')'.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .is_some_and(|state| state == "Z")
}

/// Makes `dir` absolute, creates it (mode 0700) and its parents, and canonicalises it.
fn prepare_dir(dir: &Path) -> Result<PathBuf, EmbeddedError> {
    let fs_err = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| EmbeddedError::Fs {
            action,
            path,
            source,
        }
    };
    let abs = std::path::absolute(dir).map_err(fs_err("resolve", dir))?;
    if let Some(parent) = abs.parent() {
        fs::create_dir_all(parent).map_err(fs_err("create directory", parent))?;
    }
    match fs::DirBuilder::new().mode(0o700).create(&abs) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists && abs.is_dir() => {}
        Err(err) => return Err(fs_err("create directory", &abs)(err)),
    }
    fs::canonicalize(&abs).map_err(fs_err("resolve", &abs))
}

/// The user to run PostgreSQL as when we are root: the owner of an existing
/// cluster, else the `postgres` system user.
fn resolve_run_as(dir: &Path) -> Result<RunAs, EmbeddedError> {
    if dir.join("PG_VERSION").exists() {
        let meta = fs::metadata(dir)?;
        if meta.uid() != 0 {
            let uid = Uid::from_raw(meta.uid());
            return Ok(match User::from_uid(uid) {
                Ok(Some(user)) => user.into(),
                _ => RunAs {
                    name: format!("uid {}", meta.uid()),
                    uid,
                    gid: Gid::from_raw(meta.gid()),
                },
            });
        }
    }
    match User::from_name(SUPERUSER) {
        Ok(Some(user)) if !user.uid.is_root() => Ok(user.into()),
        Ok(_) => Err(EmbeddedError::NoUnprivilegedUser),
        Err(errno) => Err(io::Error::from(errno).into()),
    }
}

/// Checks that `user` can search every ancestor of `dir` (permission bits;
/// the commands run with the user's primary group only).
fn check_reachable(dir: &Path, user: &RunAs) -> Result<(), EmbeddedError> {
    for ancestor in dir.ancestors().skip(1) {
        let meta = match fs::metadata(ancestor) {
            Ok(meta) => meta,
            // Not created yet: we will create it, with default permissions.
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(EmbeddedError::Fs {
                    action: "inspect",
                    path: ancestor.to_path_buf(),
                    source,
                });
            }
        };
        let mode = meta.mode();
        let searchable = if meta.uid() == user.uid.as_raw() {
            mode & 0o100 != 0
        } else if meta.gid() == user.gid.as_raw() {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        if !searchable {
            return Err(EmbeddedError::DirectoryNotAccessible {
                dir: dir.to_path_buf(),
                user: user.name.clone(),
                reason: format!(
                    "it cannot enter {} (owner uid {}, group gid {}, mode {:o})",
                    ancestor.display(),
                    meta.uid(),
                    meta.gid(),
                    mode & 0o7777
                ),
            });
        }
    }
    Ok(())
}

/// Exclusive lock serialising detect/initdb/start/stop of one cluster across
/// processes. Released when dropped (the descriptor is close-on-exec, so the
/// server never inherits it).
struct ClusterLock {
    _file: File,
}

impl ClusterLock {
    async fn acquire(dir: &Path) -> Result<Self, EmbeddedError> {
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let (file, path) = open_lock_file(&dir)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => {
                    tracing::info!(lock = %path.display(), "waiting for another process starting PostgreSQL");
                    file.lock().map_err(|source| EmbeddedError::Fs {
                        action: "lock",
                        path: path.clone(),
                        source,
                    })?;
                }
                Err(fs::TryLockError::Error(source)) => {
                    return Err(EmbeddedError::Fs {
                        action: "lock",
                        path,
                        source,
                    });
                }
            }
            Ok(Self { _file: file })
        })
        .await
        .map_err(io::Error::other)?
    }
}

/// Opens `<parent>/<name>.lock` next to the data directory, or, if the parent
/// is not writable, a lock file in the temp directory named after the data
/// directory's path. (Not inside the data directory: `initdb` insists on an
/// empty directory.)
fn open_lock_file(dir: &Path) -> Result<(File, PathBuf), EmbeddedError> {
    let mut candidates = Vec::new();
    if let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) {
        let mut file_name = name.to_os_string();
        file_name.push(".lock");
        candidates.push(parent.join(file_name));
    }
    candidates.push(std::env::temp_dir().join(format!(
        "spool-pg-{:016x}.lock",
        fnv1a(dir.as_os_str().as_bytes())
    )));
    let mut last_error = None;
    for path in candidates {
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
        {
            Ok(file) => return Ok((file, path)),
            Err(source) => {
                tracing::debug!(lock = %path.display(), error = %source, "cannot use lock file");
                last_error = Some(EmbeddedError::Fs {
                    action: "create lock file",
                    path,
                    source,
                });
            }
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("no lock file location").into()))
}

/// FNV-1a: a stable hash (unlike `DefaultHasher`) for naming the fallback lock file.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Where to look for the binaries, in order of preference.
fn default_search_dirs() -> Vec<PathBuf> {
    if let Some(dir) = std::env::var_os(PG_BIN_ENV).filter(|dir| !dir.is_empty()) {
        // An explicit choice: do not silently fall back to something else.
        return vec![PathBuf::from(dir)];
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .filter(|dir| dir.is_absolute())
                .collect()
        })
        .unwrap_or_default();
    dirs.extend(versioned_dirs(Path::new("/usr/lib/postgresql"), "", "bin"));
    dirs.push(PathBuf::from("/usr/local/pgsql/bin"));
    dirs.push(PathBuf::from("/opt/homebrew/bin"));
    dirs.extend(versioned_dirs(
        Path::new("/opt/homebrew/opt"),
        "postgresql@",
        "bin",
    ));
    dirs.extend(versioned_dirs(
        Path::new("/usr/local/opt"),
        "postgresql@",
        "bin",
    ));
    dirs.extend(versioned_dirs(Path::new("/usr"), "pgsql-", "bin"));
    dirs
}

/// `<parent>/<prefix><version>/<suffix>` for every version present, highest
/// first; the pattern itself (with `*`) if there is none, so error messages
/// show where we looked.
fn versioned_dirs(parent: &Path, prefix: &str, suffix: &str) -> Vec<PathBuf> {
    let mut found: Vec<(Vec<u32>, PathBuf)> = fs::read_dir(parent)
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let name = entry.file_name();
            let version = name.to_str()?.strip_prefix(prefix)?;
            let parsed = version
                .split('.')
                .map(|part| part.parse().ok())
                .collect::<Option<Vec<u32>>>()?;
            Some((parsed, entry.path().join(suffix)))
        })
        .collect();
    if found.is_empty() {
        return vec![parent.join(format!("{prefix}*")).join(suffix)];
    }
    found.sort_by(|a, b| b.0.cmp(&a.0));
    found.into_iter().map(|(_, path)| path).collect()
}

/// The first directory in `dirs` that yields all of `initdb`, `pg_ctl` and `postgres`.
fn find_binaries_in(dirs: &[PathBuf]) -> Result<PathBuf, EmbeddedError> {
    dirs.iter()
        .find_map(|dir| resolve_bin_dir(dir))
        .ok_or_else(|| EmbeddedError::BinariesNotFound {
            searched: dirs.to_vec(),
        })
}

/// `dir` itself or, if `dir/pg_ctl` is a symlink (Debian's `/usr/bin`, Homebrew's
/// `bin`), the directory it resolves to, whichever has all required binaries;
/// the resolved directory is preferred since `pg_ctl` and `initdb` find
/// `postgres` next to their real location.
fn resolve_bin_dir(dir: &Path) -> Option<PathBuf> {
    let pg_ctl = dir.join("pg_ctl");
    if !is_executable(&pg_ctl) {
        return None;
    }
    let resolved = fs::canonicalize(&pg_ctl)
        .ok()
        .and_then(|real| real.parent().map(Path::to_path_buf));
    resolved
        .into_iter()
        .chain(std::iter::once(dir.to_path_buf()))
        .find(|candidate| {
            REQUIRED_BINARIES
                .iter()
                .all(|name| is_executable(&candidate.join(name)))
        })
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.mode() & 0o111 != 0)
}

fn display_paths(paths: &[PathBuf]) -> String {
    struct Joined<'a>(&'a [PathBuf]);
    impl fmt::Display for Joined<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            for (i, path) in self.0.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{}", path.display())?;
            }
            Ok(())
        }
    }
    Joined(paths).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
}
