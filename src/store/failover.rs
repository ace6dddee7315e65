//! Multi-host database URLs, read the way libpq reads them, so Spool follows a failover by
//! itself: `postgres://user@db1:5432,db2:5432/spool?target_session_attrs=read-write`.
//!
//! Hosts are tried in order and the first that accepts a connection (and, with
//! `target_session_attrs=read-write` or `primary`, is not read-only) serves the pool. A monitor
//! asks that server once a second whether it is still the writable primary; when it is gone or
//! has become a standby, the monitor finds the new primary among the hosts, points the pool at
//! it, and the pool drops every connection opened before the switch as it next hands it out.
//! Meanwhile requests fail with retryable 503s (`domain::Error::DatabaseUnavailable`).

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use sqlx::{Connection, PgConnection, PgPool, postgres::PgConnectOptions};

/// How often the monitor checks the current server, and how long one probe of a host may take.
const PROBE_EVERY: Duration = Duration::from_secs(1);
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The servers of a database URL and whether a session must be able to write.
#[derive(Debug, Clone)]
pub struct Hosts {
    /// One set of options per host, in the URL's order.
    pub candidates: Vec<PgConnectOptions>,
    /// `target_session_attrs=read-write` (or `primary`): refuse read-only servers.
    pub read_write: bool,
}

impl Hosts {
    /// Parses a single- or multi-host URL. `target_session_attrs` may be `any` (the default),
    /// `read-write` or `primary`; Spool writes, so the read-only choices are refused.
    pub fn parse(url: &str) -> sqlx::Result<Self> {
        let bad = |why: String| sqlx::Error::Configuration(why.into());
        let (url, attrs) = take_parameter(url, "target_session_attrs");
        let read_write = match attrs.as_deref() {
            None | Some("any") => false,
            Some("read-write" | "primary") => true,
            Some(other) => {
                return Err(bad(format!(
                    "target_session_attrs={other} is not supported: Spool writes, so use \
                     read-write, primary or any"
                )));
            }
        };
        let candidates = split_hosts(&url)
            .iter()
            .map(|one| one.parse::<PgConnectOptions>())
            .collect::<sqlx::Result<Vec<_>>>()?;
        Ok(Self {
            candidates,
            read_write,
        })
    }

    /// Whether the URL names more than one server (only then does a monitor run).
    pub fn is_multi(&self) -> bool {
        self.candidates.len() > 1
    }

    /// The first server that accepts a session of the wanted kind, or the last error.
    pub async fn first_usable(&self) -> sqlx::Result<PgConnectOptions> {
        let mut last = None;
        for options in &self.candidates {
            match probe(options, self.read_write).await {
                Ok(()) => return Ok(options.clone()),
                Err(error) => {
                    tracing::warn!(host = options.get_host(), port = options.get_port(), %error,
                        "database host not usable");
                    last = Some(error);
                }
            }
        }
        Err(last.unwrap_or_else(|| sqlx::Error::Configuration("no database host".into())))
    }
}

/// Refuses a session on a read-only server (a standby) when writes are wanted: the pool then
/// discards the connection, and the request sees a retryable error.
pub async fn check_writable(conn: &mut PgConnection) -> sqlx::Result<()> {
    let read_only = sqlx::query_scalar!("show transaction_read_only")
        .fetch_one(&mut *conn)
        .await?;
    if read_only.as_deref() == Some("on") {
        return Err(sqlx::Error::Io(std::io::Error::other(
            "the database server is read-only (a standby); waiting for the primary",
        )));
    }
    Ok(())
}

/// When the pool last switched servers: connections older than that belong to the old one.
#[derive(Debug, Clone)]
pub struct Switches(Arc<Mutex<Option<Instant>>>);

impl Switches {
    pub fn new() -> Self {
        Self(Arc::new(Mutex::new(None)))
    }

    /// Whether a connection of age `age` was opened after the last switch (so may be used).
    pub fn is_current(&self, age: Duration) -> bool {
        match *self.0.lock().expect("switches") {
            Some(at) => age <= at.elapsed(),
            None => true,
        }
    }

    fn record(&self) {
        *self.0.lock().expect("switches") = Some(Instant::now());
    }
}

impl Default for Switches {
    fn default() -> Self {
        Self::new()
    }
}

/// Watches the pool's server and moves the pool to the new primary when it changes; ends when
/// the pool is closed.
pub async fn follow(pool: PgPool, hosts: Hosts, switches: Switches) {
    let mut interval = tokio::time::interval(PROBE_EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if pool.is_closed() {
            return;
        }
        let current = pool.connect_options();
        if probe(&current, true).await.is_ok() {
            continue;
        }
        let Ok(next) = hosts.first_usable().await else {
            continue;
        };
        if next.get_host() == current.get_host() && next.get_port() == current.get_port() {
            continue;
        }
        tracing::warn!(
            from = format!("{}:{}", current.get_host(), current.get_port()),
            to = format!("{}:{}", next.get_host(), next.get_port()),
            "database primary moved; following it"
        );
        pool.set_connect_options(next);
        switches.record();
    }
}

/// One short direct session: the server answers, and (if `read_write`) accepts writes.
async fn probe(options: &PgConnectOptions, read_write: bool) -> sqlx::Result<()> {
    let attempt = async {
        let mut conn = PgConnection::connect_with(options).await?;
        if read_write {
            check_writable(&mut conn).await?;
        }
        conn.close().await
    };
    tokio::time::timeout(PROBE_TIMEOUT, attempt)
        .await
        .map_err(|_| sqlx::Error::Io(std::io::Error::other("no answer from the database host")))?
}

/// `url` without its query parameter `name`, and that parameter's value.
fn take_parameter(url: &str, name: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut value = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.split_once('=') {
            Some((key, v)) if key == name => {
                value = Some(v.to_owned());
                false
            }
            _ => true,
        })
        .collect();
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (url, value)
}

/// A URL per host of a `host1:port1,host2:port2` authority (a single-host URL stays itself).
fn split_hosts(url: &str) -> Vec<String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return vec![url.to_owned()];
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (user, hosts) = match authority.rsplit_once('@') {
        Some((user, hosts)) => (format!("{user}@"), hosts),
        None => (String::new(), authority),
    };
    if !hosts.contains(',') {
        return vec![url.to_owned()];
    }
    hosts
        .split(',')
        .map(|host| format!("{scheme}://{user}{host}{tail}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_host_urls_split_per_host() {
        let hosts = Hosts::parse(
            "postgres://u:p@h1:5432,h2:6543/spool?sslmode=disable&target_session_attrs=read-write",
        )
        .unwrap();
        assert!(hosts.read_write && hosts.is_multi());
        let found: Vec<_> = hosts
            .candidates
            .iter()
            .map(|o| {
                (
                    o.get_host().to_owned(),
                    o.get_port(),
                    o.get_database().map(str::to_owned),
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                ("h1".to_owned(), 5432, Some("spool".to_owned())),
                ("h2".to_owned(), 6543, Some("spool".to_owned())),
            ]
        );
    }

    #[test]
    fn single_host_urls_are_unchanged() {
        let hosts = Hosts::parse("postgres://postgres@127.0.0.1:5432/test").unwrap();
        assert!(!hosts.read_write && !hosts.is_multi());
        assert_eq!(hosts.candidates[0].get_port(), 5432);
        assert!(
            !Hosts::parse("postgres://h/db?target_session_attrs=any")
                .unwrap()
                .read_write
        );
    }

    #[test]
    fn read_only_session_attributes_are_refused() {
        let error = Hosts::parse("postgres://h1,h2/db?target_session_attrs=standby").unwrap_err();
        assert!(error.to_string().contains("not supported"), "{error}");
    }

    #[test]
    fn connections_from_before_a_switch_are_stale() {
        let switches = Switches::new();
        assert!(switches.is_current(Duration::from_secs(3600)));
        switches.record();
        assert!(!switches.is_current(Duration::from_secs(3600)));
        assert!(switches.is_current(Duration::ZERO));
    }
}
