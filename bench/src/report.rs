//! The results as a markdown document (targets, then every run) and as JSON.

use std::fmt::Write as _;

use serde::Serialize;

use crate::{
    proc::{Machine, Usage},
    stats::Latency,
    suite::{Outcome, Section, Settings},
    systems::RunResult,
};

/// Everything one invocation measured, with what it ran on and how.
#[derive(Debug, Serialize)]
pub struct Report {
    pub generated_at: String,
    pub command: String,
    pub machine: Machine,
    pub redis_version: Option<String>,
    pub settings: Settings,
    pub notes: Vec<String>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

fn percentiles(l: Option<Latency>) -> String {
    l.map_or_else(
        || "—".to_owned(),
        |l| format!("{:.2} / {:.2} / {:.2}", l.p50_ms, l.p95_ms, l.p99_ms),
    )
}

fn cpu(u: Option<&Usage>) -> String {
    u.map_or_else(|| "—".to_owned(), |u| format!("{:.0}", u.cpu_percent))
}

fn rss(u: Option<&Usage>) -> String {
    u.filter(|u| u.peak_rss_mib > 0.0)
        .map_or_else(|| "—".to_owned(), |u| format!("{:.0}", u.peak_rss_mib))
}

fn run_line(r: &RunResult) -> String {
    let t = &r.throughput;
    let e2e = t.end_to_end.map_or_else(
        || "—".to_owned(),
        |l| format!("{:.2} / {:.2}", l.p50_ms, l.p99_ms),
    );
    format!(
        "| {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        r.label,
        r.round,
        t.msgs_per_s,
        percentiles(t.send),
        percentiles(t.receive),
        percentiles(t.delete),
        e2e,
        cpu(r.server.as_ref()),
        rss(r.server.as_ref()),
        cpu(r.postgres.as_ref()),
        cpu(Some(&r.bench)),
        t.errors,
    )
}

fn section(out: &mut String, s: &Section) {
    let w = &s.workload;
    let _ = writeln!(out, "### {}\n", s.title);
    let mut load = format!(
        "{} producers, {} consumers, batch {}, {}-byte bodies, {:.0} s warm-up, {:.0} s measured, consumers wait up to {} s",
        w.producers,
        w.consumers,
        w.batch,
        w.body_bytes,
        w.warmup.as_secs_f64(),
        w.duration.as_secs_f64(),
        w.wait_seconds
    );
    if let Some(rate) = w.rate {
        let _ = write!(load, ", open loop at {rate:.0} msgs/s offered");
    }
    let _ = writeln!(out, "Load: {load}.\n");
    let _ = writeln!(
        out,
        "| System | Round | msgs/s | send p50/p95/p99 ms | receive p50/p95/p99 ms | delete p50/p95/p99 ms | send→receive p50/p99 ms | server CPU % | server peak RSS MiB | PostgreSQL CPU % | bench CPU % | errors |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &s.runs {
        let _ = writeln!(out, "{}", run_line(r));
    }
    let errors: Vec<String> = s
        .runs
        .iter()
        .filter_map(|r| {
            Some(format!(
                "{} round {}: {}",
                r.label,
                r.round,
                r.throughput.first_error.as_ref()?
            ))
        })
        .collect();
    for note in s.notes.iter().chain(&errors) {
        let _ = writeln!(out, "\n- {note}");
    }
    out.push('\n');
}

impl Report {
    /// The markdown document.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let _ = writeln!(out, "## Machine\n");
        let _ = writeln!(out, "| | |\n|---|---|");
        let _ = writeln!(out, "| CPU | {} × {} |", m.cores, m.cpu_model);
        let _ = writeln!(out, "| Memory | {:.1} GiB |", m.memory_gib);
        let _ = writeln!(out, "| Kernel | Linux {} |", m.kernel);
        let pg = m.postgres.as_deref().unwrap_or("not reached");
        let _ = writeln!(out, "| PostgreSQL | {pg} |");
        let redis = self.redis_version.as_deref().unwrap_or("not reached");
        let _ = writeln!(out, "| Redis | {redis} |");
        let _ = writeln!(out, "| Run at | {} |", self.generated_at);
        let _ = writeln!(out, "| Command | `{}` |\n", self.command);
        if !self.outcome.rows.is_empty() {
            let _ = writeln!(out, "## Targets\n");
            let _ = writeln!(
                out,
                "Score = measured ÷ target, oriented so that ≥ 1.00 meets the target.\n"
            );
            let _ = writeln!(
                out,
                "| # | Target | Measured | Score | Met |\n|---|---|---|---|---|"
            );
            for row in &self.outcome.rows {
                let (score, met) = row.score.map_or(("—".to_owned(), "—"), |s| {
                    (format!("{s:.2}"), if s >= 1.0 { "yes" } else { "no" })
                });
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {score} | {met} |",
                    row.number, row.goal, row.measured
                );
            }
            out.push('\n');
        }
        let _ = writeln!(out, "## Runs\n");
        let _ = writeln!(
            out,
            "msgs/s counts completed lifecycles (deletes/acks) in the measured window. Latencies are per request \
             (a batch is one request); receive latency counts only receives that returned messages. CPU % is of one \
             core over the window; server = the queue server's process (Spool, RabbitMQ's `beam.smp`, `redis-server`).\n"
        );
        for s in &self.outcome.sections {
            section(&mut out, s);
        }
        if let Some(idle) = &self.outcome.idle {
            let _ = writeln!(out, "### Idle long polls\n");
            let _ = writeln!(
                out,
                "{} receivers waiting (`wait_seconds` 20) on an empty queue, measured over {:.0} s: {}.\n",
                idle.connections,
                idle.seconds,
                idle.describe()
            );
        }
        let notes: Vec<&String> = self.notes.iter().chain(&self.outcome.notes).collect();
        if !notes.is_empty() {
            let _ = writeln!(out, "## Notes\n");
            for note in notes {
                let _ = writeln!(out, "- {note}");
            }
        }
        out
    }
}
