//! What the kernel says about processes and the machine: CPU time and memory of a server (from
//! `/proc/<pid>/stat` and `/proc/<pid>/status`), which process listens on a port, and the
//! machine description printed with the results.

use std::{fs, time::Duration};

use anyhow::Context;
use serde::Serialize;
use tokio::time::Instant;

/// Clock ticks per second of `/proc/<pid>/stat` times (USER_HZ, 100 on every Linux ABI).
const TICKS_PER_SECOND: f64 = 100.0;

/// User plus system CPU time of a process, in ticks.
pub fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("process {pid} is gone"))?;
    // The command name is in parentheses and may hold spaces: count fields after the last `)`.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime) of stat(5) are the 12th and 13th after the name.
    let field = |i: usize| -> anyhow::Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .with_context(|| format!("unexpected /proc/{pid}/stat"))
    };
    Ok(field(11)? + field(12)?)
}

/// The parent of a process.
fn parent(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// A `kB` line of `/proc/<pid>/status` (e.g. `VmRSS`, `VmHWM`), in KiB.
pub fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// How many file descriptors a process holds (sockets included).
pub fn open_files(pid: u32) -> Option<usize> {
    Some(fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

fn all_pids() -> Vec<u32> {
    fs::read_dir("/proc")
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// A process and its direct children (a PostgreSQL postmaster and its backends).
pub fn with_children(pid: u32) -> Vec<u32> {
    let mut pids = vec![pid];
    pids.extend(all_pids().into_iter().filter(|&p| parent(p) == Some(pid)));
    pids
}

/// The process listening on TCP `port` (IPv4 or IPv6), found through `/proc/net/tcp*` and the
/// socket inodes in `/proc/*/fd`.
pub fn listener_pid(port: u16) -> Option<u32> {
    let inodes: Vec<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|path| fs::read_to_string(path).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter_map(|line| listening_inode(line, port))
                .collect::<Vec<_>>()
        })
        .collect();
    if inodes.is_empty() {
        return None;
    }
    let targets: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    all_pids().into_iter().find(|pid| {
        fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
            fds.flatten().any(|fd| {
                fs::read_link(fd.path())
                    .is_ok_and(|l| targets.iter().any(|t| l.as_os_str() == t.as_str()))
            })
        })
    })
}

/// The socket inode of a `/proc/net/tcp` line if it is a listener on `port`.
fn listening_inode(line: &str, port: u16) -> Option<String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let local_port = fields.get(1)?.rsplit_once(':')?.1;
    let listening = fields.get(3)? == &"0A";
    (listening && u16::from_str_radix(local_port, 16).ok()? == port)
        .then(|| fields.get(9).map(|s| (*s).to_owned()))
        .flatten()
}

/// CPU and memory a group of processes used over a measured window.
#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    /// What was watched (e.g. `spool (pid 42)`).
    pub what: String,
    pub cpu_seconds: f64,
    /// CPU time over wall time, in percent of one core.
    pub cpu_percent: f64,
    /// Largest resident set seen while sampling, in MiB (summed over the group).
    pub peak_rss_mib: f64,
}

/// Watches a process (or a process and its children) through a measured window.
#[derive(Debug, Clone)]
pub struct Probe {
    pub what: String,
    pub pid: u32,
    /// Include the children (a PostgreSQL postmaster's backends), found when watching starts.
    pub children: bool,
    /// Whether memory is meaningful (not for PostgreSQL, whose backends share memory).
    pub memory: bool,
    pids: Vec<u32>,
}

impl Probe {
    /// Watches one process.
    pub fn process(what: &str, pid: u32) -> Self {
        Self {
            what: format!("{what} (pid {pid})"),
            pid,
            children: false,
            memory: true,
            pids: vec![pid],
        }
    }

    /// Watches a process and its children, CPU only.
    pub fn tree(what: &str, pid: u32) -> Self {
        Self {
            children: true,
            memory: false,
            ..Self::process(what, pid)
        }
    }

    fn ticks(&self) -> u64 {
        self.pids.iter().filter_map(|&p| cpu_ticks(p).ok()).sum()
    }

    fn rss_kib(&self) -> u64 {
        self.pids
            .iter()
            .filter_map(|&p| status_kib(p, "VmRSS"))
            .sum()
    }

    /// Samples from `start` to `end` (CPU at both ends, memory every 100 ms).
    pub async fn watch(mut self, start: Instant, end: Instant) -> Usage {
        tokio::time::sleep_until(start).await;
        if self.children {
            self.pids = with_children(self.pid);
        }
        let (t0, ticks0) = (Instant::now(), self.ticks());
        let mut peak = self.rss_kib();
        let mut every = tokio::time::interval(Duration::from_millis(100));
        while Instant::now() < end {
            tokio::select! {
                _ = every.tick() => peak = peak.max(self.rss_kib()),
                () = tokio::time::sleep_until(end) => {}
            }
        }
        let cpu_seconds = self.ticks().saturating_sub(ticks0) as f64 / TICKS_PER_SECOND;
        let wall = t0.elapsed().as_secs_f64().max(1e-9);
        Usage {
            what: self.what,
            cpu_seconds,
            cpu_percent: 100.0 * cpu_seconds / wall,
            peak_rss_mib: if self.memory {
                peak as f64 / 1024.0
            } else {
                0.0
            },
        }
    }
}

/// The machine the numbers were taken on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu_model: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub postgres: Option<String>,
}

impl Machine {
    /// Reads the machine's description; `postgres` is the server version if it was reachable.
    pub fn describe(postgres: Option<String>) -> Self {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
            .map_or_else(|| "unknown".to_owned(), |(_, m)| m.trim().to_owned());
        let memory_kib: u64 = fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or_default();
        Self {
            cpu_model,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib: memory_kib as f64 / 1024.0 / 1024.0,
            kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
                .map_or_else(|_| "unknown".to_owned(), |k| k.trim().to_owned()),
            postgres,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_listening_line() {
        let line = "   0: 0100007F:2474 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0";
        assert_eq!(listening_inode(line, 9332), Some("12345".to_owned()));
        assert_eq!(listening_inode(line, 9324), None);
    }

    #[test]
    fn reads_its_own_process() {
        let me = std::process::id();
        assert!(cpu_ticks(me).is_ok());
        assert!(status_kib(me, "VmRSS").is_some_and(|kib| kib > 0));
        assert!(open_files(me).is_some_and(|n| n > 0));
    }
}
