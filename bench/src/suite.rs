//! The scenarios: side-by-side lifecycle comparisons run in turn (A B A B …), and the eight
//! target rows of issue 4, each scored against its target (a score ≥ 1 meets it).

use std::time::Duration;

use serde::Serialize;

use crate::{
    idle::{self, IdleResult},
    spool::Durability,
    systems::{Env, RunResult, System},
    workload::Workload,
};

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
pub enum Scenario {
    /// All the target rows below, in order.
    Suite,
    /// One comparison with the load given by --producers/--consumers/--batch/….
    Lifecycle,
    /// Full lifecycle, batch 1, 32 producers + 32 consumers, every system.
    Batch1,
    /// Full lifecycle, batch 10, 8 + 8, every system.
    Batch10,
    /// A relaxed-durability Spool queue against a durable one (batch 1, 32 + 32).
    Relaxed,
    /// Spool with a pre-filled backlog against an empty queue (batch 10, 8 + 8).
    Backlog,
    /// Send→receive latency to waiting long-pollers at a fixed rate.
    Latency,
    /// Idle long-poll connections: the server's CPU and memory while they wait.
    Idle,
    /// p99 send latency at half of the maximum batch-1 throughput (open loop).
    HalfLoad,
}

/// Knobs shared by every scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub base: Workload,
    pub rounds: usize,
    pub systems: Vec<System>,
    pub backlog: u64,
    pub latency_rate: f64,
    pub idle_connections: usize,
}

/// The runs of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    pub name: String,
    pub title: String,
    pub workload: Workload,
    pub runs: Vec<RunResult>,
    pub notes: Vec<String>,
}

impl Section {
    fn new(name: &str, title: &str, workload: &Workload) -> Self {
        Self {
            name: name.to_owned(),
            title: title.to_owned(),
            workload: workload.clone(),
            runs: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Mean messages/s of `system` over its rounds.
    pub fn mean(&self, system: System) -> Option<f64> {
        let rates: Vec<f64> = self
            .runs
            .iter()
            .filter(|r| r.system == system)
            .map(|r| r.throughput.msgs_per_s)
            .collect();
        (!rates.is_empty()).then(|| rates.iter().sum::<f64>() / rates.len() as f64)
    }
}

/// One target row: the goal, what was measured, and how it compares.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub number: usize,
    pub goal: String,
    pub measured: String,
    /// Measured over target, oriented so that ≥ 1 meets the target; `None` when not measured.
    pub score: Option<f64>,
}

/// Everything a suite run produced.
#[derive(Debug, Default, Serialize)]
pub struct Outcome {
    pub sections: Vec<Section>,
    pub rows: Vec<Row>,
    pub idle: Option<IdleResult>,
    pub notes: Vec<String>,
}

fn shaped(base: &Workload, producers: usize, consumers: usize, batch: usize) -> Workload {
    Workload {
        producers,
        consumers,
        batch,
        ..base.clone()
    }
}

/// Runs each system in `systems` once per round, in turn.
async fn compare(
    env: &Env,
    name: &str,
    title: &str,
    systems: &[System],
    workload: &Workload,
    rounds: usize,
) -> Section {
    let mut section = Section::new(name, title, workload);
    for round in 1..=rounds {
        for &system in systems {
            if !env.has(system) {
                continue;
            }
            eprintln!("[{name}] round {round}/{rounds}: {}", system.label());
            match env.run_fresh(system, name, workload, round).await {
                Ok(run) => {
                    eprintln!(
                        "  {:.0} msgs/s ({} errors)",
                        run.throughput.msgs_per_s, run.throughput.errors
                    );
                    section.runs.push(run);
                }
                Err(e) => section
                    .notes
                    .push(format!("{} round {round} failed: {e:#}", system.label())),
            }
        }
    }
    for &system in systems {
        if !env.has(system) {
            section.notes.push(format!(
                "{} was not reachable and is skipped",
                system.label()
            ));
        }
    }
    section
}

fn ratio_row(
    number: usize,
    goal: &str,
    a: Option<f64>,
    b: Option<f64>,
    target: f64,
    what: &str,
) -> Row {
    let (measured, score) = match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => (
            format!("{:.2}× ({a:.0} vs {b:.0} msgs/s{what})", a / b),
            Some(a / b / target),
        ),
        _ => ("not measured".to_owned(), None),
    };
    Row {
        number,
        goal: goal.to_owned(),
        measured,
        score,
    }
}

/// Runs `scenarios` and scores the target rows they cover.
pub async fn run(env: &Env, scenarios: &[Scenario], s: &Settings) -> Outcome {
    let all = [
        Scenario::Batch1,
        Scenario::Batch10,
        Scenario::Relaxed,
        Scenario::Backlog,
        Scenario::Latency,
        Scenario::Idle,
        Scenario::HalfLoad,
    ];
    let wanted: Vec<Scenario> = if scenarios.contains(&Scenario::Suite) {
        all.to_vec()
    } else {
        scenarios.to_vec()
    };
    let mut out = Outcome::default();
    let mut batch1_max = None;
    for scenario in wanted {
        match scenario {
            Scenario::Suite => {}
            Scenario::Lifecycle => {
                let sec = compare(
                    env,
                    "lifecycle",
                    "Full lifecycle (custom load)",
                    &s.systems,
                    &s.base,
                    s.rounds,
                )
                .await;
                out.sections.push(sec);
            }
            Scenario::Batch1 => {
                let w = shaped(&s.base, 32, 32, 1);
                let sec = compare(
                    env,
                    "batch1",
                    "Full lifecycle, batch 1, 32 producers + 32 consumers",
                    &s.systems,
                    &w,
                    s.rounds,
                )
                .await;
                batch1_max = sec.mean(System::Spool);
                out.rows.push(ratio_row(
                    1,
                    "Batch 1, 32+32: Spool ≥ 2× pgmq",
                    sec.mean(System::Spool),
                    sec.mean(System::Pgmq),
                    2.0,
                    "",
                ));
                merge_row(
                    &mut out.rows,
                    ratio_row(
                        3,
                        "Spool (durable) ≥ RabbitMQ (durable, persistent, confirms, manual acks)",
                        sec.mean(System::Spool),
                        sec.mean(System::Rabbitmq),
                        1.0,
                        ", batch 1 32+32",
                    ),
                );
                out.sections.push(sec);
            }
            Scenario::Batch10 => {
                let w = shaped(&s.base, 8, 8, 10);
                let sec = compare(
                    env,
                    "batch10",
                    "Full lifecycle, batch 10, 8 producers + 8 consumers",
                    &s.systems,
                    &w,
                    s.rounds,
                )
                .await;
                out.rows.push(ratio_row(
                    2,
                    "Batch 10, 8+8: Spool ≥ 1.0× pgmq",
                    sec.mean(System::Spool),
                    sec.mean(System::Pgmq),
                    1.0,
                    "",
                ));
                let row3 = ratio_row(
                    3,
                    "Spool (durable) ≥ RabbitMQ (durable, persistent, confirms, manual acks)",
                    sec.mean(System::Spool),
                    sec.mean(System::Rabbitmq),
                    1.0,
                    ", batch 10 8+8",
                );
                merge_row(&mut out.rows, row3);
                out.sections.push(sec);
            }
            Scenario::Relaxed => relaxed(env, s, &mut out).await,
            Scenario::Backlog => backlog(env, s, &mut out).await,
            Scenario::Latency => latency(env, s, &mut out).await,
            Scenario::Idle => {
                let goal = format!(
                    "{} idle long-poll connections: server < 5 % of one core and < 300 MiB RSS",
                    s.idle_connections
                );
                match idle::run(env, s.idle_connections, s.base.duration).await {
                    Ok(result) => {
                        out.rows.push(Row {
                            number: 7,
                            goal,
                            measured: result.describe(),
                            score: result.score(),
                        });
                        out.idle = Some(result);
                    }
                    Err(e) => out.rows.push(Row {
                        number: 7,
                        goal,
                        measured: format!("failed: {e:#}"),
                        score: None,
                    }),
                }
            }
            Scenario::HalfLoad => half_load(env, s, batch1_max, &mut out).await,
        }
    }
    out.rows.sort_by_key(|r| r.number);
    out
}

/// Keeps the worse of two measurements of the same row (row 3 is measured at two loads).
fn merge_row(rows: &mut Vec<Row>, row: Row) {
    match rows.iter_mut().find(|r| r.number == row.number) {
        Some(old) => {
            old.measured = format!("{}; {}", old.measured, row.measured);
            old.score = match (old.score, row.score) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        None => rows.push(row),
    }
}

async fn relaxed(env: &Env, s: &Settings, out: &mut Outcome) {
    let goal = "Relaxed-durability queue ≥ 2× Spool's durable queue at batch 1";
    let probe = env.queue_name("relaxed-probe", System::SpoolRelaxed);
    if let Err(e) = env.spool.create_queue(&probe, Durability::Relaxed).await {
        let measured =
            format!("skipped: the server does not accept `durability: \"relaxed\"` yet ({e:#})");
        out.rows.push(Row {
            number: 4,
            goal: goal.to_owned(),
            measured,
            score: None,
        });
        return;
    }
    let _ = env.spool.delete_queue(&probe).await;
    let w = shaped(&s.base, 32, 32, 1);
    let sec = compare(
        env,
        "relaxed",
        "Relaxed against durable Spool queue, batch 1, 32 + 32",
        &[System::Spool, System::SpoolRelaxed],
        &w,
        s.rounds,
    )
    .await;
    out.rows.push(ratio_row(
        4,
        goal,
        sec.mean(System::SpoolRelaxed),
        sec.mean(System::Spool),
        2.0,
        "",
    ));
    out.sections.push(sec);
}

async fn backlog(env: &Env, s: &Settings, out: &mut Outcome) {
    let goal = format!(
        "With {} messages already queued, throughput ≥ 90 % of the empty queue (batch 10, 8+8)",
        s.backlog
    );
    let w = shaped(&s.base, 8, 8, 10);
    let mut sec = Section::new(
        "backlog",
        &format!(
            "Spool, empty queue against a {}-message backlog, batch 10, 8 + 8",
            s.backlog
        ),
        &w,
    );
    let queue = env.queue_name("backlog-full", System::Spool);
    let filled = async {
        env.create_queue(System::Spool, &queue).await?;
        let t = tokio::time::Instant::now();
        env.spool.prefill(&queue, s.backlog, w.body_bytes).await?;
        anyhow::Ok(t.elapsed())
    };
    match filled.await {
        Ok(took) => sec.notes.push(format!(
            "pre-filled {} messages in {:.1} s ({:.0} msgs/s, batches of 100 from 8 tasks)",
            s.backlog,
            took.as_secs_f64(),
            s.backlog as f64 / took.as_secs_f64()
        )),
        Err(e) => {
            out.rows.push(Row {
                number: 5,
                goal,
                measured: format!("pre-fill failed: {e:#}"),
                score: None,
            });
            return;
        }
    }
    let mut full = Vec::new();
    for round in 1..=s.rounds {
        eprintln!("[backlog] round {round}/{}: empty queue", s.rounds);
        match env
            .run_fresh(System::Spool, "backlog-empty", &w, round)
            .await
        {
            Ok(run) => sec.runs.push(run),
            Err(e) => sec.notes.push(format!("empty round {round} failed: {e:#}")),
        }
        eprintln!("[backlog] round {round}/{}: backlog", s.rounds);
        if let Err(e) = top_up(env, &queue, s.backlog, w.body_bytes).await {
            sec.notes
                .push(format!("top-up before round {round} failed: {e:#}"));
        }
        match env.measure(System::Spool, &queue, &w, round).await {
            Ok(mut run) => {
                run.label = "Spool (1M backlog)";
                full.push(run.throughput.msgs_per_s);
                sec.runs.push(run);
            }
            Err(e) => sec
                .notes
                .push(format!("backlog round {round} failed: {e:#}")),
        }
    }
    let _ = env.delete_queue(System::Spool, &queue, w.consumers).await;
    let full = (!full.is_empty()).then(|| full.iter().sum::<f64>() / full.len() as f64);
    let empty = sec
        .runs
        .iter()
        .filter(|r| r.label == "Spool")
        .map(|r| r.throughput.msgs_per_s)
        .sum::<f64>()
        / sec
            .runs
            .iter()
            .filter(|r| r.label == "Spool")
            .count()
            .max(1) as f64;
    out.rows.push(ratio_row(
        5,
        &goal,
        full,
        Some(empty),
        0.9,
        ", backlog vs empty",
    ));
    out.sections.push(sec);
}

/// Brings a backlog queue back to `count` visible messages.
async fn top_up(env: &Env, queue: &str, count: u64, body_bytes: usize) -> anyhow::Result<()> {
    // Counts are cached for about a second; wait so they reflect the last run.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let visible = u64::try_from(env.spool.visible(queue).await?.max(0))?;
    if visible < count {
        env.spool
            .prefill(queue, count - visible, body_bytes)
            .await?;
    }
    Ok(())
}

async fn latency(env: &Env, s: &Settings, out: &mut Outcome) {
    let goal = format!(
        "Send→receive latency to waiting long-pollers: p99 ≤ 10 ms at {:.0} msgs/s",
        s.latency_rate
    );
    let w = Workload {
        rate: Some(s.latency_rate),
        wait_seconds: 20,
        ..shaped(&s.base, 4, 8, 1)
    };
    let sec = compare(env, "latency", &format!("Spool, send→receive latency at {:.0} msgs/s (4 open-loop producers, 8 long-pollers waiting 20 s)", s.latency_rate), &[System::Spool], &w, 1).await;
    let p99 = sec
        .runs
        .first()
        .and_then(|r| r.throughput.end_to_end)
        .map(|l| l.p99_ms);
    let measured = p99.map_or_else(|| "not measured".to_owned(), |p| format!("p99 {p:.2} ms"));
    out.rows.push(Row {
        number: 6,
        goal,
        measured,
        score: p99.map(|p| 10.0 / p.max(1e-3)),
    });
    out.sections.push(sec);
}

async fn half_load(env: &Env, s: &Settings, batch1_max: Option<f64>, out: &mut Outcome) {
    let goal = "p99 send latency ≤ 5 ms at half of the maximum throughput (batch 1, 32+32)";
    let closed = shaped(&s.base, 32, 32, 1);
    let max = match batch1_max {
        Some(max) => Some(max),
        None => compare(
            env,
            "half-load-max",
            "Spool maximum, batch 1, 32 + 32",
            &[System::Spool],
            &closed,
            1,
        )
        .await
        .mean(System::Spool),
    };
    let Some(max) = max.filter(|m| *m > 0.0) else {
        out.rows.push(Row {
            number: 8,
            goal: goal.to_owned(),
            measured: "no maximum throughput measured".to_owned(),
            score: None,
        });
        return;
    };
    let w = Workload {
        rate: Some(max / 2.0),
        ..closed
    };
    let sec = compare(
        env,
        "half-load",
        &format!(
            "Spool at half its batch-1 maximum: {:.0} msgs/s open loop, 32 + 32",
            max / 2.0
        ),
        &[System::Spool],
        &w,
        1,
    )
    .await;
    let p99 = sec
        .runs
        .first()
        .and_then(|r| r.throughput.send)
        .map(|l| l.p99_ms);
    let measured = p99.map_or_else(
        || "not measured".to_owned(),
        |p| format!("send p99 {p:.2} ms at {:.0} msgs/s offered", max / 2.0),
    );
    out.rows.push(Row {
        number: 8,
        goal: goal.to_owned(),
        measured,
        score: p99.map(|p| 5.0 / p.max(1e-3)),
    });
    out.sections.push(sec);
}
