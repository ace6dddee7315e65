//! What a run cost per message: the queue server's and PostgreSQL's CPU (from `/proc`), and the
//! statements PostgreSQL executed for it (from `pg_stat_statements`, reset when the measured
//! window opens and read when it closes).

use anyhow::Context;
use serde::Serialize;
use sqlx::{Connection, PgConnection};
use tokio::{sync::Mutex, time::Instant};

use crate::{proc::Usage, stats::Throughput};

/// Statements listed per run, the costliest first.
const TOP: usize = 6;
/// Characters of a statement's text kept in the report.
const QUERY_CHARS: usize = 160;

/// A connection to the benchmark's PostgreSQL that reads `pg_stat_statements`.
pub struct StatementStats {
    conn: Mutex<PgConnection>,
}

/// One normalized statement's totals over a window.
#[derive(Debug, Clone)]
pub struct Statement {
    pub query: String,
    pub calls: u64,
    pub exec_ms: f64,
    pub rows: u64,
}

impl StatementStats {
    /// Connects to `url` (a superuser, as bench/run.sh's cluster has) and checks that
    /// `pg_stat_statements` is loaded.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let mut conn = PgConnection::connect(url).await?;
        // The view exists once the extension is created; it only answers when the library
        // is in shared_preload_libraries.
        sqlx::query("create extension if not exists pg_stat_statements")
            .execute(&mut conn)
            .await?;
        sqlx::query("select count(*) from pg_stat_statements")
            .execute(&mut conn)
            .await
            .context("pg_stat_statements is not loaded (shared_preload_libraries)")?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    pub async fn reset(&self) -> anyhow::Result<()> {
        let mut conn = self.conn.lock().await;
        sqlx::query("select pg_stat_statements_reset()")
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Statements executed since the last reset in the databases `include` selects.
    pub async fn read(&self, include: &Databases) -> anyhow::Result<Vec<Statement>> {
        let mut conn = self.conn.lock().await;
        let rows: Vec<(String, String, i64, f64, i64)> = sqlx::query_as(
            "select d.datname::text, s.query, s.calls, s.total_exec_time, s.rows
             from pg_stat_statements s join pg_database d on d.oid = s.dbid
             where s.query not ilike '%pg_stat_statements%'",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut statements: Vec<Statement> = rows
            .into_iter()
            .filter(|(db, ..)| include.matches(db))
            .map(|(_, query, calls, exec_ms, rows)| Statement {
                query: one_line(&query),
                calls: u64::try_from(calls).unwrap_or_default(),
                exec_ms,
                rows: u64::try_from(rows).unwrap_or_default(),
            })
            .collect();
        statements.sort_by(|a, b| b.exec_ms.total_cmp(&a.exec_ms));
        Ok(statements)
    }

    /// Resets at `start`, reads at `end`.
    pub async fn watch(
        &self,
        include: Databases,
        start: Instant,
        end: Instant,
    ) -> anyhow::Result<Vec<Statement>> {
        tokio::time::sleep_until(start).await;
        self.reset().await?;
        tokio::time::sleep_until(end).await;
        self.read(&include).await
    }
}

/// Which databases' statements belong to a system.
#[derive(Debug, Clone)]
pub enum Databases {
    Only(&'static str),
    /// Everything but these (Spool's database, whatever its name, is the rest).
    AllBut(Vec<&'static str>),
}

impl Databases {
    fn matches(&self, db: &str) -> bool {
        match self {
            Databases::Only(only) => db == *only,
            Databases::AllBut(not) => !not.contains(&db),
        }
    }
}

/// Whitespace collapsed, cut to a readable length.
fn one_line(query: &str) -> String {
    let flat = query.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(QUERY_CHARS) {
        Some((at, _)) => format!("{}…", &flat[..at]),
        None => flat,
    }
}

/// A run's costs, per message completed (deleted or acked) in the window.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cost {
    /// Messages the costs are divided by.
    pub messages: u64,
    pub server_cpu_us_per_msg: Option<f64>,
    /// Per request of the load generator (HTTP requests for Spool).
    pub server_cpu_us_per_request: Option<f64>,
    pub postgres_cpu_us_per_msg: Option<f64>,
    pub statements_per_msg: Option<f64>,
    pub postgres_exec_ms_per_msg: Option<f64>,
    /// The costliest statements by execution time.
    pub top: Vec<StatementCost>,
}

/// One statement's share of a run.
#[derive(Debug, Clone, Serialize)]
pub struct StatementCost {
    pub query: String,
    pub calls_per_msg: f64,
    pub exec_ms_per_msg: f64,
    pub mean_ms: f64,
    pub rows_per_call: f64,
}

impl Cost {
    /// Divides what the window cost by the messages it completed; `per_request` says whether
    /// the server's CPU per request is meaningful (HTTP requests).
    pub fn of(
        t: &Throughput,
        server: Option<&Usage>,
        postgres: Option<&Usage>,
        statements: Option<&[Statement]>,
        per_request: bool,
    ) -> Self {
        let messages = t.deleted;
        let per_msg = |x: f64| (messages > 0).then(|| x / messages as f64);
        let micros = |u: &Usage| u.cpu_seconds * 1e6;
        let mut cost = Self {
            messages,
            server_cpu_us_per_msg: server.and_then(|u| per_msg(micros(u))),
            server_cpu_us_per_request: server
                .filter(|_| per_request && t.requests > 0)
                .map(|u| micros(u) / t.requests as f64),
            postgres_cpu_us_per_msg: postgres.and_then(|u| per_msg(micros(u))),
            ..Self::default()
        };
        if let Some(statements) = statements {
            let calls: u64 = statements.iter().map(|s| s.calls).sum();
            let exec: f64 = statements.iter().map(|s| s.exec_ms).sum();
            cost.statements_per_msg = per_msg(calls as f64);
            cost.postgres_exec_ms_per_msg = per_msg(exec);
            if messages > 0 {
                cost.top = statements
                    .iter()
                    .take(TOP)
                    .map(|s| StatementCost {
                        query: s.query.clone(),
                        calls_per_msg: s.calls as f64 / messages as f64,
                        exec_ms_per_msg: s.exec_ms / messages as f64,
                        mean_ms: s.exec_ms / s.calls.max(1) as f64,
                        rows_per_call: s.rows as f64 / s.calls.max(1) as f64,
                    })
                    .collect();
            }
        }
        cost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_flattened_and_cut() {
        assert_eq!(one_line("select 1\n   from  t"), "select 1 from t");
        let long = "x".repeat(QUERY_CHARS + 10);
        assert_eq!(one_line(&long).chars().count(), QUERY_CHARS + 1);
    }

    #[test]
    fn spool_is_every_database_but_the_peers() {
        let spool = Databases::AllBut(vec!["postgres", "spool_bench_pgmq"]);
        assert!(spool.matches("spool_bench"));
        assert!(!spool.matches("spool_bench_pgmq"));
        assert!(Databases::Only("a").matches("a"));
    }
}
