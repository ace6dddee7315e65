//! The scenarios: side-by-side comparisons run in turn (A B A B …), each scored against the
//! targets it measures (a score ≥ 1 meets it): the suite covers the performance targets 1–7 of
//! issue 14 and the backlog target of issue 8; the lifecycle rows of issue 4 remain runnable.

use serde::Serialize;

use crate::{
    fifo,
    idle::IdleResult,
    loops,
    systems::{Env, RunResult, System},
    targets,
    workload::Workload,
};

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
pub enum Scenario {
    /// Issue 14's targets 1–7 and issue 8's: closed, open, relaxed, latency, idle, half-load.
    Suite,
    /// One comparison with the load given by --producers/--consumers/--batch/….
    Lifecycle,
    /// Closed loop: each task sends, receives and deletes in turn (32 tasks batch 1, 8 tasks
    /// batch 10): Spool through both doors, pgmq, the hand-written SKIP LOCKED queue.
    Closed,
    /// Producers outpace consumers: open loop (32 + 32 batch 1, 8 + 8 batch 10) on a new queue
    /// after `messages` was analyzed with another queue's traffic, in reporting intervals:
    /// Spool through both doors and RabbitMQ.
    Open,
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
    /// Issue 11: FIFO queues of 100 and 10 000 message groups beside the standard queue
    /// (batch 10, 8 + 8).
    Fifo,
    /// Issue 11: a FIFO queue with a pre-filled backlog over 10 000 groups against an empty
    /// one (batch 10, 8 + 8).
    FifoBacklog,
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
    /// Length of each open-loop run (issue 8: 60 s in 10-s intervals).
    #[serde(serialize_with = "crate::workload::seconds")]
    pub open_duration: std::time::Duration,
    /// Messages sent to the warm-up queue before `ANALYZE` in the open-loop scenario (half of
    /// them are consumed).
    pub warm_messages: u64,
}

/// The runs of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    pub name: String,
    pub title: String,
    pub workload: Workload,
    pub runs: Vec<RunResult>,
    pub notes: Vec<String>,
    /// Balanced-load rates the runs' reporting intervals are compared with (open loop).
    pub references: Vec<Reference>,
}

/// The rate a system reaches on a balanced load, against which an open-loop run is read.
#[derive(Debug, Clone, Serialize)]
pub struct Reference {
    pub label: &'static str,
    pub msgs_per_s: f64,
    /// Where it was measured.
    pub source: String,
}

impl Section {
    pub(crate) fn new(name: &str, title: &str, workload: &Workload) -> Self {
        Self {
            name: name.to_owned(),
            title: title.to_owned(),
            workload: workload.clone(),
            runs: Vec::new(),
            notes: Vec::new(),
            references: Vec::new(),
        }
    }

    /// Mean messages/s of `system` over its rounds.
    pub fn mean(&self, system: System) -> Option<f64> {
        self.mean_of(system, |r| Some(r.throughput.msgs_per_s))
    }

    /// Mean of what `f` says of `system`'s rounds (those where it says something).
    pub fn mean_of(&self, system: System, f: impl Fn(&RunResult) -> Option<f64>) -> Option<f64> {
        let values: Vec<f64> = self
            .runs
            .iter()
            .filter(|r| r.system == system)
            .filter_map(f)
            .collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    }
}

/// One target row: the goal, what was measured, and how it compares.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// `14.1`…`14.7` (issue 14's targets), `8` (issue 8's backlog target), `4.n` (issue 4's).
    pub id: String,
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

pub(crate) fn shaped(
    base: &Workload,
    producers: usize,
    consumers: usize,
    batch: usize,
) -> Workload {
    Workload {
        producers,
        consumers,
        batch,
        ..base.clone()
    }
}

/// Runs each system in `systems` once per round, in turn.
pub(crate) async fn compare(
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
            eprintln!("[{name}] round {round}/{rounds}: {}", env.label(system));
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
                    .push(format!("{} round {round} failed: {e:#}", env.label(system))),
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

pub(crate) fn ratio_row(
    id: &str,
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
        id: id.to_owned(),
        goal: goal.to_owned(),
        measured,
        score,
    }
}

/// Runs `scenarios` and scores the target rows they cover.
pub async fn run(env: &Env, scenarios: &[Scenario], s: &Settings) -> Outcome {
    let all = [
        Scenario::Closed,
        Scenario::Open,
        Scenario::Relaxed,
        Scenario::Latency,
        Scenario::Idle,
        Scenario::HalfLoad,
    ];
    // `suite` stands for its scenarios; others named beside it run after them.
    let wanted: Vec<Scenario> = if scenarios.contains(&Scenario::Suite) {
        let extra = scenarios.iter().filter(|s| !all.contains(s));
        all.iter().chain(extra).copied().collect()
    } else {
        scenarios.to_vec()
    };
    let mut out = Outcome::default();
    let mut batch1_max = None;
    for scenario in wanted {
        match scenario {
            Scenario::Suite => {}
            Scenario::Lifecycle => {
                let title = "Full lifecycle (custom load)";
                let sec = compare(env, "lifecycle", title, &s.systems, &s.base, s.rounds).await;
                out.sections.push(sec);
            }
            Scenario::Closed => batch1_max = loops::closed(env, s, &mut out).await,
            Scenario::Open => loops::open(env, s, &mut out).await,
            Scenario::Batch1 => batch1_max = lifecycle_rows(env, s, 1, &mut out).await,
            Scenario::Batch10 => {
                lifecycle_rows(env, s, 10, &mut out).await;
            }
            Scenario::Relaxed => targets::relaxed(env, s, &mut out).await,
            Scenario::Backlog => targets::backlog(env, s, &mut out).await,
            Scenario::Latency => targets::latency(env, s, &mut out).await,
            Scenario::Idle => targets::idle(env, s, &mut out).await,
            Scenario::HalfLoad => targets::half_load(env, s, batch1_max, &mut out).await,
            Scenario::Fifo => fifo::lifecycle(env, s, &mut out).await,
            Scenario::FifoBacklog => fifo::backlog(env, s, &mut out).await,
        }
    }
    out.rows.sort_by_key(|r| row_order(&r.id));
    out
}

/// Issue 14's rows first, then issue 8's, then the rest (issue 11's, issue 4's, the relaxed
/// measurement).
fn row_order(id: &str) -> (u8, String) {
    let rank = if id.starts_with("14.") {
        0
    } else if id == "8" {
        1
    } else {
        2
    };
    (rank, id.to_owned())
}

/// Rows 1 or 2, and 3: every system at batch 1 (32 + 32) or batch 10 (8 + 8). Returns
/// Spool's mean throughput.
async fn lifecycle_rows(env: &Env, s: &Settings, batch: usize, out: &mut Outcome) -> Option<f64> {
    let (tasks, id, times) = if batch == 1 {
        (32, "4.1", 2.0)
    } else {
        (8, "4.2", 1.0)
    };
    let w = shaped(&s.base, tasks, tasks, batch);
    let name = format!("batch{batch}");
    let title = format!("Full lifecycle, batch {batch}, {tasks} producers + {tasks} consumers");
    let sec = compare(env, &name, &title, &s.systems, &w, s.rounds).await;
    let spool = sec.mean(System::Spool);
    let goal = format!("Batch {batch}, {tasks}+{tasks}: Spool ≥ {times:.1}× pgmq");
    let pgmq = sec.mean(System::Pgmq);
    out.rows.push(ratio_row(id, &goal, spool, pgmq, times, ""));
    let goal = "Spool (durable) ≥ RabbitMQ (durable, persistent, confirms, manual acks)";
    let at = format!(", batch {batch} {tasks}+{tasks}");
    let rabbit = sec.mean(System::Rabbitmq);
    merge_row(
        &mut out.rows,
        ratio_row("4.3", goal, spool, rabbit, 1.0, &at),
    );
    out.sections.push(sec);
    spool
}

/// Keeps the worse of two measurements of the same row (measured at two loads, say).
pub(crate) fn merge_row(rows: &mut Vec<Row>, row: Row) {
    match rows.iter_mut().find(|r| r.id == row.id) {
        Some(old) => {
            if old.goal != row.goal {
                old.goal = format!("{}; {}", old.goal, row.goal);
            }
            old.measured = format!("{}; {}", old.measured, row.measured);
            old.score = match (old.score, row.score) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        None => rows.push(row),
    }
}
