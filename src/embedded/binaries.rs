//! Finding the PostgreSQL server binaries: `SPOOL_PG_BIN`, `PATH`, then the usual install
//! locations, keeping only a directory that holds all of them.

use std::fmt;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{EmbeddedError, PG_BIN_ENV};

/// Binaries that must all live in the chosen directory.
pub(super) const REQUIRED_BINARIES: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

/// Where to look for the binaries, in order of preference.
pub(super) fn default_search_dirs() -> Vec<PathBuf> {
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
pub(super) fn versioned_dirs(parent: &Path, prefix: &str, suffix: &str) -> Vec<PathBuf> {
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
pub(super) fn find_binaries_in(dirs: &[PathBuf]) -> Result<PathBuf, EmbeddedError> {
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
pub(super) fn resolve_bin_dir(dir: &Path) -> Option<PathBuf> {
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

pub(super) fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.mode() & 0o111 != 0)
}

pub(super) fn display_paths(paths: &[PathBuf]) -> String {
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
