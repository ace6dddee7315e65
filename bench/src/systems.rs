//! The systems under test, what was found reachable, and one measured run of any of them:
//! create its queue, drive it, watch the server's CPU and memory, clean up.

use anyhow::Context;
use pgmq::PGMQueueExt;
use serde::Serialize;
use tokio::time::Instant;

use crate::{
    cost::{Cost, Databases, StatementStats},
    pgmq as pgmq_peer,
    proc::{Probe, Usage, listener_pid},
    rabbit, redis as redis_peer,
    spool::{Door, Durability, Spool, is_fifo},
    sql,
    stats::Throughput,
    workload::{Window, Workload},
};

/// A system the load can be pointed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
pub enum System {
    /// Spool, durable queue.
    Spool,
    /// Spool, relaxed-durability queue.
    SpoolRelaxed,
    /// Spool through its SQS door (aws-sdk-sqs), whatever `--door` says.
    SpoolSqs,
    Pgmq,
    /// A hand-written PostgreSQL queue: one table, FOR UPDATE SKIP LOCKED, delete by id.
    Sql,
    Rabbitmq,
    Redis,
}

impl System {
    pub fn label(self) -> &'static str {
        match self {
            System::Spool => "Spool",
            System::SpoolRelaxed => "Spool (relaxed)",
            System::SpoolSqs => "Spool (SQS)",
            System::Pgmq => "pgmq",
            System::Sql => "SKIP LOCKED SQL",
            System::Rabbitmq => "RabbitMQ",
            System::Redis => "Redis",
        }
    }
}

/// Where the systems are and which of them answered.
pub struct Env {
    pub spool: Spool,
    pub spool_pid: Option<u32>,
    /// Spool through the SQS door, for `System::SpoolSqs` (needs the access key pair).
    pub spool_sqs: Option<Spool>,
    /// Spool's own database, for `ANALYZE` before the open-loop runs.
    pub spool_db_url: Option<String>,
    pub pgmq: Option<PGMQueueExt>,
    pub sql: Option<sqlx::PgPool>,
    /// `pg_stat_statements` of the benchmark's PostgreSQL, when it is loaded.
    pub statements: Option<StatementStats>,
    pub rabbit_url: Option<String>,
    pub redis_url: Option<String>,
    /// The PostgreSQL postmaster serving both Spool's and pgmq's databases.
    pub postgres_pid: Option<u32>,
    /// Unique per invocation, so leftovers of a killed run never collide.
    pub run_id: String,
    /// Peers that were skipped, and why.
    pub notes: Vec<String>,
}

/// One measured run.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub system: System,
    pub label: &'static str,
    pub round: usize,
    #[serde(flatten)]
    pub throughput: Throughput,
    /// The queue server's process (Spool, RabbitMQ, Redis).
    pub server: Option<Usage>,
    /// The PostgreSQL cluster (postmaster and backends), for the systems that use it.
    pub postgres: Option<Usage>,
    /// This load generator.
    pub bench: Usage,
    /// Per-message CPU and statements.
    pub cost: Cost,
}

impl Env {
    /// Whether `system` can be run (its peer answered at start-up).
    pub fn has(&self, system: System) -> bool {
        match system {
            System::Spool | System::SpoolRelaxed => true,
            System::SpoolSqs => self.spool_sqs.is_some(),
            System::Pgmq => self.pgmq.is_some(),
            System::Sql => self.sql.is_some(),
            System::Rabbitmq => self.rabbit_url.is_some(),
            System::Redis => self.redis_url.is_some(),
        }
    }

    /// A queue name for `scenario` unique to this invocation.
    pub fn queue_name(&self, scenario: &str, system: System) -> String {
        // Underscores only: pgmq's queue names allow no hyphens.
        format!("bench_{}_{scenario}_{system:?}", self.run_id)
            .replace('-', "_")
            .to_lowercase()
    }

    /// The queue `system` runs `workload` on in `scenario`: with SQS's `.fifo` suffix when the
    /// workload asks for a FIFO queue (Spool's systems only: the others fail).
    pub fn queue_for(&self, scenario: &str, system: System, workload: &Workload) -> String {
        let name = self.queue_name(scenario, system);
        match workload.fifo_groups {
            Some(_) => name + ".fifo",
            None => name,
        }
    }

    /// How `system`'s rows are labelled: Spool's say so when measured through the SQS door.
    pub fn label(&self, system: System) -> &'static str {
        match (system, self.spool.door()) {
            (System::Spool, Door::Sqs) => "Spool (SQS)",
            (System::SpoolRelaxed, Door::Sqs) => "Spool (relaxed, SQS)",
            _ => system.label(),
        }
    }

    /// Creates `queue` on `system`, empty; a FIFO queue if its name ends in `.fifo` (Spool).
    pub async fn create_queue(&self, system: System, queue: &str) -> anyhow::Result<()> {
        let spool = matches!(
            system,
            System::Spool | System::SpoolRelaxed | System::SpoolSqs
        );
        if is_fifo(queue) && !spool {
            anyhow::bail!(
                "FIFO queues are measured on Spool only, not {}",
                system.label()
            );
        }
        match system {
            System::Spool => self.spool.create_queue(queue, Durability::Durable).await,
            System::SpoolRelaxed => self.spool.create_queue(queue, Durability::Relaxed).await,
            System::SpoolSqs => self.sqs()?.create_queue(queue, Durability::Durable).await,
            System::Pgmq => pgmq_peer::create_queue(self.pgmq()?, queue).await,
            System::Sql => sql::create_queue(self.sql()?, queue).await,
            System::Rabbitmq => rabbit::create_queue(self.rabbit()?, queue).await,
            // A Redis list exists once something is pushed; names are unique per invocation.
            System::Redis => self.redis().map(drop),
        }
    }

    /// Removes `queue` and whatever is left in it.
    pub async fn delete_queue(
        &self,
        system: System,
        queue: &str,
        consumers: usize,
    ) -> anyhow::Result<()> {
        match system {
            System::Spool | System::SpoolRelaxed => self.spool.delete_queue(queue).await,
            System::SpoolSqs => self.sqs()?.delete_queue(queue).await,
            System::Pgmq => Ok(self.pgmq()?.drop_queue(queue).await?),
            System::Sql => sql::delete_queue(self.sql()?, queue).await,
            System::Rabbitmq => rabbit::delete_queue(self.rabbit()?, queue).await,
            System::Redis => redis_peer::delete_queue(self.redis()?, queue, consumers).await,
        }
    }

    fn pgmq(&self) -> anyhow::Result<&PGMQueueExt> {
        self.pgmq.as_ref().context("pgmq is not available")
    }

    fn sqs(&self) -> anyhow::Result<&Spool> {
        self.spool_sqs
            .as_ref()
            .context("Spool's SQS door is not available (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")
    }

    fn sql(&self) -> anyhow::Result<&sqlx::PgPool> {
        self.sql
            .as_ref()
            .context("the hand-written SQL queue is not available")
    }

    fn rabbit(&self) -> anyhow::Result<&str> {
        self.rabbit_url
            .as_deref()
            .context("RabbitMQ is not available")
    }

    fn redis(&self) -> anyhow::Result<&str> {
        self.redis_url.as_deref().context("Redis is not available")
    }

    /// The processes to watch while `system` runs: its server, and PostgreSQL if it uses it.
    fn probes(&self, system: System) -> (Option<Probe>, Option<Probe>) {
        let postgres = self.postgres_pid.map(|pid| Probe::tree("PostgreSQL", pid));
        match system {
            System::Spool | System::SpoolRelaxed | System::SpoolSqs => (
                self.spool_pid.map(|pid| Probe::process("spool", pid)),
                postgres,
            ),
            System::Pgmq | System::Sql => (None, postgres),
            System::Rabbitmq => (
                listener_pid(5672).map(|pid| Probe::process("RabbitMQ", pid)),
                None,
            ),
            System::Redis => (
                listener_pid(6379).map(|pid| Probe::process("Redis", pid)),
                None,
            ),
        }
    }

    /// Drives `queue` on `system` with `workload` once and measures it.
    pub async fn measure(
        &self,
        system: System,
        queue: &str,
        workload: &Workload,
        round: usize,
    ) -> anyhow::Result<RunResult> {
        let window = Window::after_warmup(workload);
        let (server, postgres) = self.probes(system);
        let watch =
            |probe: Option<Probe>| probe.map(|p| tokio::spawn(p.watch(window.start, window.end)));
        let (server, postgres) = (watch(server), watch(postgres));
        let me = tokio::spawn(
            Probe::process("spool-bench", std::process::id()).watch(window.start, window.end),
        );
        let statements = async {
            match (&self.statements, self.databases(system)) {
                (Some(stats), Some(dbs)) => {
                    match stats.watch(dbs, window.start, window.end).await {
                        Ok(s) => Some(s),
                        Err(e) => {
                            eprintln!("  note: pg_stat_statements not read: {e:#}");
                            None
                        }
                    }
                }
                _ => None,
            }
        };
        let load = async {
            anyhow::Ok(match system {
                System::Spool | System::SpoolRelaxed => {
                    crate::spool::run(&self.spool, queue, workload, window).await
                }
                System::SpoolSqs => crate::spool::run(self.sqs()?, queue, workload, window).await,
                System::Pgmq => pgmq_peer::run(self.pgmq()?, queue, workload, window).await,
                System::Sql => sql::run(self.sql()?, queue, workload, window).await,
                System::Rabbitmq => rabbit::run(self.rabbit()?, queue, workload, window).await,
                System::Redis => redis_peer::run(self.redis()?, queue, workload, window).await,
            })
        };
        let (recorder, statements) = tokio::join!(load, statements);
        let recorder = recorder?;
        let joined = |h: Option<tokio::task::JoinHandle<Usage>>| async move {
            match h {
                Some(h) => h.await.ok(),
                None => None,
            }
        };
        let (throughput, server, postgres) = (
            recorder.summary(),
            joined(server).await,
            joined(postgres).await,
        );
        let http = matches!(
            system,
            System::Spool | System::SpoolRelaxed | System::SpoolSqs
        );
        let cost = Cost::of(
            &throughput,
            server.as_ref(),
            postgres.as_ref(),
            statements.as_deref(),
            http,
        );
        Ok(RunResult {
            system,
            label: self.label(system),
            round,
            throughput,
            server,
            postgres,
            bench: me.await?,
            cost,
        })
    }

    /// The databases whose statements are `system`'s, if it uses PostgreSQL.
    fn databases(&self, system: System) -> Option<Databases> {
        match system {
            System::Spool | System::SpoolRelaxed | System::SpoolSqs => {
                Some(Databases::AllBut(vec![
                    "postgres",
                    pgmq_peer::DATABASE,
                    sql::DATABASE,
                ]))
            }
            System::Pgmq => Some(Databases::Only(pgmq_peer::DATABASE)),
            System::Sql => Some(Databases::Only(sql::DATABASE)),
            System::Rabbitmq | System::Redis => None,
        }
    }

    /// Creates a fresh queue, measures one run on it, and deletes it.
    pub async fn run_fresh(
        &self,
        system: System,
        scenario: &str,
        workload: &Workload,
        round: usize,
    ) -> anyhow::Result<RunResult> {
        let queue = self.queue_for(scenario, system, workload);
        self.create_queue(system, &queue).await?;
        let started = Instant::now();
        if workload.backlog > 0 {
            self.prefill(system, &queue, workload).await?;
            eprintln!(
                "  filled {} messages in {:.1?}",
                workload.backlog,
                started.elapsed()
            );
        }
        let result = self.measure(system, &queue, workload, round).await;
        if let Err(e) = self.delete_queue(system, &queue, workload.consumers).await {
            eprintln!("  note: could not delete queue {queue}: {e:#}");
        }
        result
    }

    /// Puts `workload.backlog` messages into `queue` (Spool only).
    pub async fn prefill(
        &self,
        system: System,
        queue: &str,
        workload: &Workload,
    ) -> anyhow::Result<()> {
        match system {
            System::Spool | System::SpoolRelaxed => {
                self.spool
                    .prefill(
                        queue,
                        workload.backlog,
                        workload.body_bytes,
                        workload.fifo_groups,
                    )
                    .await
            }
            System::SpoolSqs => {
                self.sqs()?
                    .prefill(
                        queue,
                        workload.backlog,
                        workload.body_bytes,
                        workload.fifo_groups,
                    )
                    .await
            }
            other => anyhow::bail!(
                "backlog pre-fill is only implemented for Spool, not {}",
                other.label()
            ),
        }
    }
}

/// Where to find each system.
#[derive(Debug, Clone)]
pub struct Addresses {
    pub spool: String,
    pub spool_pid: Option<u32>,
    /// Spool through its SQS door, if the access key pair is there.
    pub spool_sqs: Option<Spool>,
    pub spool_db_url: Option<String>,
    pub pg_url: String,
    pub rabbit_url: String,
    pub redis_url: String,
    /// Largest number of load tasks a run uses (sizes pgmq's connection pool).
    pub max_tasks: usize,
}

impl Env {
    /// Connects to what answers; a peer that does not is skipped with a note. Spool must answer.
    pub async fn discover(spool: Spool, at: &Addresses, peers: &[System]) -> anyhow::Result<Self> {
        if !spool.healthy().await {
            anyhow::bail!("Spool does not answer at {}/healthz", at.spool);
        }
        let spool_pid = at
            .spool_pid
            .or_else(|| port_of(&at.spool).and_then(listener_pid));
        let mut notes = Vec::new();
        if spool_pid.is_none() {
            notes.push(
                "Spool's process was not found (give --server-pid): no server CPU/RSS".to_owned(),
            );
        }
        let mut env = Self {
            spool,
            spool_pid,
            spool_sqs: at.spool_sqs.clone(),
            spool_db_url: at.spool_db_url.clone(),
            pgmq: None,
            sql: None,
            statements: None,
            rabbit_url: None,
            redis_url: None,
            postgres_pid: port_of(&at.pg_url).or(Some(5432)).and_then(listener_pid),
            run_id: format!("{:x}", std::process::id()),
            notes: Vec::new(),
        };
        if peers.contains(&System::Pgmq) {
            match pgmq_peer::connect(&at.pg_url, at.max_tasks).await {
                Ok(client) => env.pgmq = Some(client),
                Err(e) => notes.push(format!("pgmq skipped: {e:#}")),
            }
        }
        if peers.contains(&System::Sql) {
            match sql::connect(&at.pg_url, at.max_tasks).await {
                Ok(pool) => env.sql = Some(pool),
                Err(e) => notes.push(format!("hand-written SQL queue skipped: {e:#}")),
            }
        }
        if peers.contains(&System::SpoolSqs) && env.spool_sqs.is_none() {
            notes.push(
                "Spool (SQS) skipped: no AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (bench/run.sh issues them)"
                    .to_owned(),
            );
        }
        match StatementStats::connect(&at.pg_url).await {
            Ok(stats) => env.statements = Some(stats),
            Err(e) => notes.push(format!("no statement costs: {e:#}")),
        }
        if peers.contains(&System::Rabbitmq) {
            match rabbit::create_queue(&at.rabbit_url, "spool-bench-probe").await {
                Ok(()) => {
                    let _ = rabbit::delete_queue(&at.rabbit_url, "spool-bench-probe").await;
                    env.rabbit_url = Some(at.rabbit_url.clone());
                }
                Err(e) => notes.push(format!("RabbitMQ skipped: {e:#}")),
            }
        }
        if peers.contains(&System::Redis) {
            match redis_peer::server_version(&at.redis_url).await {
                Ok(_) => env.redis_url = Some(at.redis_url.clone()),
                Err(e) => notes.push(format!("Redis skipped: {e:#}")),
            }
        }
        env.notes = notes;
        Ok(env)
    }
}

/// The port of a URL like `http://127.0.0.1:9324` or `postgres://u@host:5432/db`.
fn port_of(url: &str) -> Option<u16> {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = after_scheme.split('/').next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    host_port.rsplit_once(':')?.1.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::port_of;

    #[test]
    fn finds_ports_in_urls() {
        assert_eq!(port_of("http://127.0.0.1:9324"), Some(9324));
        assert_eq!(
            port_of("postgres://postgres@127.0.0.1:5432/postgres"),
            Some(5432)
        );
        assert_eq!(port_of("http://localhost/"), None);
    }
}
