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
    let tasks = if w.cycle {
        format!(
            "{} tasks each sending, receiving and deleting in turn",
            w.producers
        )
    } else {
        format!("{} producers, {} consumers", w.producers, w.consumers)
    };
    let mut load = format!(
        "{tasks}, batch {}, {}-byte bodies, {} s warm-up, {} s measured, consumers wait up to {} s",
        w.batch,
        w.body_bytes,
        w.warmup.as_secs_f64(),
        w.duration.as_secs_f64(),
        w.wait_seconds
    );
    if let Some(rate) = w.rate {
        let _ = write!(load, ", open loop at {rate:.0} msgs/s offered");
    }
    if let Some(groups) = w.fifo_groups {
        let _ = write!(
            load,
            ", FIFO queue with messages over {groups} message groups"
        );
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
    intervals(out, s);
    costs(out, s);
}

fn opt(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "—".to_owned(), |x| format!("{x:.digits$}"))
}

/// Open-loop runs: each reporting interval, against the balanced rate where there is one.
fn intervals(out: &mut String, s: &Section) {
    if s.workload.cycle {
        return;
    }
    let runs: Vec<&RunResult> = s
        .runs
        .iter()
        .filter(|r| r.throughput.intervals.len() > 1)
        .collect();
    if runs.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "Per interval (backlog = sent − consumed since the queue was created, counted by the load generator: a send \
         counts when it is acknowledged, so RabbitMQ's, whose deliveries can be acked before the publisher's confirm \
         arrives, may read slightly negative; consumed ÷ closed loop = the interval's consumed rate over the same system's closed-loop rate at this batch size):\n"
    );
    let _ = writeln!(
        out,
        "| System | interval s | sent msgs/s | consumed msgs/s | backlog at end | consumed ÷ closed loop |\n|---|---|---|---|---|---|"
    );
    for r in runs {
        let reference = s.references.iter().find(|x| x.label == r.label);
        for i in &r.throughput.intervals {
            let ratio = reference.filter(|x| x.msgs_per_s > 0.0).map_or_else(
                || "—".to_owned(),
                |x| format!("{:.0} %", 100.0 * i.consumed_per_s / x.msgs_per_s),
            );
            let _ = writeln!(
                out,
                "| {} | {:.0}–{:.0} | {:.0} | {:.0} | {} | {ratio} |",
                r.label, i.from_s, i.to_s, i.sent_per_s, i.consumed_per_s, i.backlog
            );
        }
    }
    for x in &s.references {
        let _ = writeln!(
            out,
            "\n- {}: closed-loop rate {:.0} msgs/s ({})",
            x.label, x.msgs_per_s, x.source
        );
    }
    out.push('\n');
}

/// What each run cost per message, and the statements that cost most.
fn costs(out: &mut String, s: &Section) {
    if s.runs.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "Cost per message completed in the window (server = the queue server's process; PostgreSQL = postmaster and backends; \
         statements and execution time from `pg_stat_statements`, reset when the window opened):\n"
    );
    let _ = writeln!(
        out,
        "| System | Round | messages | server CPU µs/msg | server CPU µs/request | PostgreSQL CPU µs/msg | statements/msg | PostgreSQL exec ms/msg |\n|---|---|---|---|---|---|---|---|"
    );
    for r in &s.runs {
        let c = &r.cost;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.label,
            r.round,
            c.messages,
            opt(c.server_cpu_us_per_msg, 0),
            opt(c.server_cpu_us_per_request, 0),
            opt(c.postgres_cpu_us_per_msg, 0),
            opt(c.statements_per_msg, 2),
            opt(c.postgres_exec_ms_per_msg, 3),
        );
    }
    out.push('\n');
    // The statements of each system's first round that has them.
    let mut shown: Vec<&str> = Vec::new();
    let mut header = false;
    for r in &s.runs {
        if r.cost.top.is_empty() || shown.contains(&r.label) {
            continue;
        }
        shown.push(r.label);
        if !header {
            let _ = writeln!(
                out,
                "Top statements by execution time:\n\n| System | statement | calls/msg | exec ms/msg | mean ms | rows/call |\n|---|---|---|---|---|---|"
            );
            header = true;
        }
        for st in &r.cost.top {
            let _ = writeln!(
                out,
                "| {} | `{}` | {:.2} | {:.4} | {:.3} | {:.1} |",
                r.label,
                st.query.replace('|', "\\|").replace('`', "'"),
                st.calls_per_msg,
                st.exec_ms_per_msg,
                st.mean_ms,
                st.rows_per_call
            );
        }
    }
    if header {
        out.push('\n');
    }
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
                    row.id, row.goal, row.measured
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
