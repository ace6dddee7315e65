//! Setting up a cluster: the data directory, `initdb`, and the file lock that serialises
//! start-up and shutdown of one cluster across processes.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::unistd::Uid;

use super::process::run;
use super::{EmbeddedError, EmbeddedPostgres, SUPERUSER};

/// Makes `dir` absolute, creates it (mode 0700) and its parents, and canonicalises it.
pub(super) fn prepare_dir(dir: &Path) -> Result<PathBuf, EmbeddedError> {
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

impl EmbeddedPostgres {
    pub(super) async fn init_cluster(&self) -> Result<(), EmbeddedError> {
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
}

/// Exclusive lock serialising detect/initdb/start/stop of one cluster across
/// processes. Released when dropped (the descriptor is close-on-exec, so the
/// server never inherits it).
pub(super) struct ClusterLock {
    _file: File,
}

impl ClusterLock {
    pub(super) async fn acquire(dir: &Path) -> Result<Self, EmbeddedError> {
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
