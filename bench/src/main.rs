//! `spool-bench`: drives a running Spool over HTTP with producers and consumers, runs the same
//! load against pgmq, RabbitMQ and Redis in turn, and reports throughput, latency and the
//! servers' CPU and memory as markdown, JSON and an SVG chart.
//!
//! Run it with `cargo run --release --manifest-path bench/Cargo.toml -- --help`.

mod chart;
mod cost;
mod fifo;
mod idle;
mod loops;
mod pgmq;
mod proc;
mod rabbit;
mod redis;
mod report;
mod spool;
mod sql;
mod sqs_door;
mod stats;
mod suite;
mod systems;
mod targets;
mod workload;

use std::{path::PathBuf, process::ExitCode, time::Duration};

use anyhow::{Context, bail};
use clap::Parser;

use crate::{
    proc::Machine,
    report::Report,
    spool::{Door, Spool},
    suite::{Scenario, Settings},
    systems::{Addresses, Env, System},
    workload::Workload,
};

/// Load generator and side-by-side benchmark for Spool. Only loopback addresses are accepted.
#[derive(Debug, Parser)]
#[command(name = "spool-bench", version, about)]
struct Cli {
    /// Base URL of the Spool server under test.
    #[arg(long, default_value = "http://127.0.0.1:9324")]
    target: String,
    /// Spool's front door to load.
    #[arg(long, value_enum, default_value_t = Door::Native)]
    door: Door,
    /// Spool's process id, for CPU and memory (default: whoever listens on the target's port).
    #[arg(long)]
    server_pid: Option<u32>,
    /// PostgreSQL for pgmq and the hand-written queue (which get their own databases,
    /// `spool_bench_pgmq` and `spool_bench_sql`) and for `pg_stat_statements`: the server Spool
    /// uses too.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pg_url: String,
    /// Spool's own database, for `ANALYZE messages` before the open-loop runs.
    #[arg(long)]
    spool_db_url: Option<String>,
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    rabbit_url: String,
    #[arg(long, default_value = "redis://127.0.0.1:6379/")]
    redis_url: String,
    /// Scenarios to run, comma-separated; `suite` runs those of issue 14's targets 1–7.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "lifecycle")]
    scenario: Vec<Scenario>,
    /// Systems compared (each scenario runs those of them it compares).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "spool,spool-sqs,pgmq,sql,rabbitmq,redis"
    )]
    systems: Vec<System>,
    #[arg(long, default_value_t = 8)]
    producers: usize,
    #[arg(long, default_value_t = 8)]
    consumers: usize,
    /// Messages per send, receive and delete.
    #[arg(long, default_value_t = 10)]
    batch: usize,
    #[arg(long, default_value_t = 256)]
    body_bytes: usize,
    /// Seconds measured per run.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds measured per open-loop run (`open`).
    #[arg(long, default_value_t = 60.0)]
    open_duration: f64,
    /// Seconds per reporting interval of the open-loop runs.
    #[arg(long, default_value_t = 10.0)]
    interval: f64,
    /// Messages sent to the warm-up queue before `ANALYZE` (`open`); half are consumed.
    #[arg(long, default_value_t = 5000)]
    warm_messages: u64,
    /// Seconds run before measuring.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Times each system runs per comparison (in turn: A B A B …).
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Messages pre-filled before a `lifecycle` run; the `backlog` and `fifo-backlog`
    /// scenarios use 1,000,000 unless this is set.
    #[arg(long, default_value_t = 0)]
    backlog: u64,
    /// Make Spool's queues FIFO, messages spread over this many message groups, in the
    /// scenarios that take the load above (other systems' runs then fail); the `fifo`
    /// scenarios choose their own.
    #[arg(long)]
    fifo_groups: Option<u64>,
    /// Open loop: total messages/s offered by the producers (default: closed loop).
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds a consumer's receive waits for messages (long polling).
    #[arg(long, default_value_t = 1)]
    wait: u32,
    /// Native door: consumers acknowledge each batch with their next receive (its
    /// `acknowledge` field) instead of a delete request of its own: two requests per batch
    /// lifecycle instead of three.
    #[arg(long)]
    acknowledge_on_receive: bool,
    /// Messages/s offered in the `latency` scenario.
    #[arg(long, default_value_t = 1000.0)]
    latency_rate: f64,
    /// Receivers opened in the `idle` scenario (needs twice as many file descriptors).
    #[arg(long, default_value_t = 10_000)]
    idle_connections: usize,
    /// Also write the markdown report here.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write an SVG bar chart of msgs/s per system and scenario here.
    #[arg(long)]
    chart: Option<PathBuf>,
    /// A line added to the report's notes (repeatable).
    #[arg(long)]
    note: Vec<String>,
    /// CI smoke test: Spool and the hand-written queue, closed and open loop for a few seconds
    /// each; fails if Spool delivered nothing.
    #[arg(long)]
    smoke: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("spool-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(mut cli: Cli) -> anyhow::Result<ExitCode> {
    if cli.smoke {
        smoke_settings(&mut cli);
    }
    for url in [&cli.target, &cli.pg_url, &cli.rabbit_url, &cli.redis_url] {
        ensure_loopback(url)?;
    }
    // A bearer token for the server, if it enforces them (bench/run.sh makes one).
    let token = std::env::var("SPOOL_TOKEN").ok().filter(|t| !t.is_empty());
    let spool = Spool::new(&cli.target, cli.door, token.as_deref())?
        .acknowledging_on_receive(cli.acknowledge_on_receive);
    // The SQS door needs the access key pair; without it `spool-sqs` is skipped.
    let spool_sqs = Spool::new(&cli.target, Door::Sqs, token.as_deref()).ok();
    if let Some(url) = &cli.spool_db_url {
        ensure_loopback(url)?;
    }
    let settings = settings(&cli);
    let addresses = Addresses {
        spool: cli.target.clone(),
        spool_pid: cli.server_pid,
        spool_sqs,
        spool_db_url: cli.spool_db_url.clone(),
        pg_url: cli.pg_url.clone(),
        rabbit_url: cli.rabbit_url.clone(),
        redis_url: cli.redis_url.clone(),
        max_tasks: (cli.producers + cli.consumers).max(64),
    };
    let env = Env::discover(spool, &addresses, &cli.systems).await?;
    for note in &env.notes {
        eprintln!("note: {note}");
    }
    let postgres = pgmq::server_version(&cli.pg_url).await.ok();
    let redis_version = if env.has(System::Redis) {
        redis::server_version(&cli.redis_url).await.ok()
    } else {
        None
    };
    let outcome = suite::run(&env, &cli.scenario, &settings).await;
    let delivered: u64 = outcome
        .sections
        .iter()
        .flat_map(|s| &s.runs)
        .filter(|r| matches!(r.system, System::Spool))
        .map(|r| r.throughput.deleted)
        .sum();
    let report = Report {
        generated_at: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        command: command_line(),
        machine: Machine::describe(postgres),
        redis_version,
        settings,
        notes: env.notes.iter().chain(&cli.note).cloned().collect(),
        outcome,
    };
    write_outputs(&cli, &report)?;
    if cli.smoke && delivered == 0 {
        eprintln!("spool-bench: smoke test failed: Spool delivered no message");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Small numbers for CI: Spool and the hand-written queue, closed loop then open loop, a few
/// seconds each (a debug build: it checks the tool, not the speed).
fn smoke_settings(cli: &mut Cli) {
    cli.scenario = vec![Scenario::Closed, Scenario::Open];
    cli.systems = vec![System::Spool, System::Sql];
    (cli.duration, cli.warmup, cli.rounds) = (2.0, 0.5, 1);
    (cli.open_duration, cli.interval, cli.warm_messages) = (3.0, 1.0, 200);
}

fn settings(cli: &Cli) -> Settings {
    let base = Workload {
        producers: cli.producers,
        consumers: cli.consumers,
        batch: cli.batch,
        body_bytes: cli.body_bytes,
        warmup: Duration::from_secs_f64(cli.warmup),
        duration: Duration::from_secs_f64(cli.duration),
        backlog: cli.backlog,
        rate: cli.rate,
        wait_seconds: cli.wait,
        cycle: false,
        interval: Duration::from_secs_f64(cli.interval.max(0.1)),
        fifo_groups: cli.fifo_groups.filter(|&g| g > 0),
    };
    Settings {
        base,
        rounds: cli.rounds.max(1),
        systems: cli.systems.clone(),
        backlog: if cli.backlog > 0 {
            cli.backlog
        } else {
            1_000_000
        },
        latency_rate: cli.latency_rate,
        idle_connections: cli.idle_connections,
        open_duration: Duration::from_secs_f64(cli.open_duration),
        warm_messages: cli.warm_messages,
    }
}

fn write_outputs(cli: &Cli, report: &Report) -> anyhow::Result<()> {
    let markdown = report.markdown();
    println!("{markdown}");
    if let Some(path) = &cli.markdown {
        let doc = format!("# Spool benchmarks\n\n{markdown}");
        std::fs::write(path, doc).with_context(|| format!("could not write {}", path.display()))?;
    }
    if let Some(path) = &cli.json {
        std::fs::write(path, serde_json::to_string_pretty(report)?)
            .with_context(|| format!("could not write {}", path.display()))?;
    }
    if let Some(path) = &cli.chart {
        chart::write(
            path,
            &report.outcome.sections,
            "Messages completed per second (msgs/s)",
        )?;
    }
    Ok(())
}

/// The command as typed, for the report (the program name without its directory).
fn command_line() -> String {
    let mut args = std::env::args();
    let _program = args.next();
    let rest: Vec<String> = args.collect();
    format!("spool-bench {}", rest.join(" "))
}

/// Refuses any target that is not on this machine's loopback interface.
fn ensure_loopback(url: &str) -> anyhow::Result<()> {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = after_scheme.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!("{url}: only loopback targets (127.0.0.0/8, ::1, localhost) are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::ensure_loopback;

    #[test]
    fn only_loopback_targets_pass() {
        assert!(ensure_loopback("http://127.0.0.1:9324").is_ok());
        assert!(ensure_loopback("postgres://postgres@127.0.0.1:5432/postgres").is_ok());
        assert!(ensure_loopback("amqp://guest:guest@localhost:5672/%2f").is_ok());
        assert!(ensure_loopback("http://[::1]:80").is_ok());
        assert!(ensure_loopback("http://10.0.0.1:9324").is_err());
        assert!(ensure_loopback("redis://example.com:6379/").is_err());
    }
}
