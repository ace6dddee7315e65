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
//!
//! This module holds the public handle; `binaries` finds the server binaries, `cluster` sets
//! up the data directory (initdb, the start-up lock), `process` runs and watches the server
//! (pg_ctl, ports, `postmaster.pid`), and `user` picks the unprivileged user under root.

mod binaries;
mod cluster;
mod process;
#[cfg(test)]
mod tests;
mod user;

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::unistd::Uid;

use binaries::{default_search_dirs, display_paths, find_binaries_in};
use cluster::{ClusterLock, prepare_dir};
use process::{run, stop_blocking};
use user::{RunAs, check_reachable, resolve_run_as};

/// Database superuser created by `initdb` (trust authentication, no password).
const SUPERUSER: &str = "postgres";
/// Environment variable naming the directory holding the PostgreSQL binaries.
const PG_BIN_ENV: &str = "SPOOL_PG_BIN";
/// How long `pg_ctl` may wait for start-up and shutdown, in seconds.
const PG_CTL_WAIT_SECS: &str = "60";
/// How long to wait for the TCP port to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

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
