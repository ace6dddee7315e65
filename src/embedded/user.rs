//! Running PostgreSQL as an unprivileged user when Spool runs as root (PostgreSQL refuses
//! root): which user, and whether it can reach the data directory.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::unistd::{Gid, Uid, User};

use super::{EmbeddedError, SUPERUSER};

/// An unprivileged account to run PostgreSQL commands as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RunAs {
    pub(super) name: String,
    pub(super) uid: Uid,
    pub(super) gid: Gid,
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

/// The user to run PostgreSQL as when we are root: the owner of an existing
/// cluster, else the `postgres` system user.
pub(super) fn resolve_run_as(dir: &Path) -> Result<RunAs, EmbeddedError> {
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
pub(super) fn check_reachable(dir: &Path, user: &RunAs) -> Result<(), EmbeddedError> {
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
