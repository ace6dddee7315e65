//! Issue 11's rows: FIFO queues beside the standard queue in the same run (batch 10, 8 + 8),
//! with 100 and with 10 000 message groups, and a FIFO queue holding a 1 000 000-message backlog
//! spread over 10 000 groups against an empty one. Spool only, through the door `--door` says.
//!
//! Producers send batches of 10 whose messages take the groups in turn (every group gets every
//! `groups`-th message) with unique deduplication ids; consumers receive up to 10 and delete them.

use crate::{
    spool::Door,
    suite::{Outcome, Row, Section, Settings, merge_row, ratio_row, shaped},
    systems::{Env, RunResult, System},
    targets::{Labels, against_backlog},
    workload::Workload,
};

/// Issue 11's target: a FIFO queue's msgs/s ≥ 50 % of the standard queue's.
const FIFO_SHARE: f64 = 0.5;
/// Issue 11's target: with the backlog, ≥ 90 % of the empty FIFO queue's msgs/s.
const BACKLOG_SHARE: f64 = 0.9;
/// Groups of the backlog comparison.
const BACKLOG_GROUPS: u64 = 10_000;

/// The group counts compared with the standard queue, and their rows' labels per door.
const GROUPS: [(u64, &str, &str); 2] = [
    (
        100,
        "Spool FIFO (100 groups)",
        "Spool FIFO (100 groups, SQS)",
    ),
    (
        10_000,
        "Spool FIFO (10 000 groups)",
        "Spool FIFO (10 000 groups, SQS)",
    ),
];

fn door_label(env: &Env, native: &'static str, sqs: &'static str) -> &'static str {
    match env.spool.door() {
        Door::Native => native,
        Door::Sqs => sqs,
    }
}

/// The standard queue and FIFO queues of 100 and 10 000 groups, in turn each round, each run
/// on a fresh queue; scores target 11.1.
pub async fn lifecycle(env: &Env, s: &Settings, out: &mut Outcome) {
    let standard = Workload {
        fifo_groups: None,
        backlog: 0,
        ..shaped(&s.base, 8, 8, 10)
    };
    let title =
        "FIFO queues (100 and 10 000 message groups) against the standard queue, batch 10, 8 + 8";
    let mut sec = Section::new("fifo", title, &standard);
    for round in 1..=s.rounds {
        let loads = std::iter::once((None, env.label(System::Spool))).chain(
            GROUPS
                .iter()
                .map(|&(groups, native, sqs)| (Some(groups), door_label(env, native, sqs))),
        );
        for (groups, label) in loads {
            let w = Workload {
                fifo_groups: groups,
                ..standard.clone()
            };
            let name = groups.map_or_else(|| "fifo-standard".to_owned(), |g| format!("fifo-g{g}"));
            eprintln!("[fifo] round {round}/{}: {label}", s.rounds);
            match env.run_fresh(System::Spool, &name, &w, round).await {
                Ok(mut run) => {
                    eprintln!(
                        "  {:.0} msgs/s ({} errors)",
                        run.throughput.msgs_per_s, run.throughput.errors
                    );
                    run.label = label;
                    sec.runs.push(run);
                }
                Err(e) => sec
                    .notes
                    .push(format!("{label} round {round} failed: {e:#}")),
            }
        }
    }
    let mean = |label: &str| mean_of(&sec.runs, label);
    let base = mean(env.label(System::Spool));
    let goal = "FIFO queue, batch 10, 8 + 8: msgs/s ≥ 50 % of the standard queue's in the same run, with 100 and with 10 000 message groups";
    for &(groups, native, sqs) in &GROUPS {
        let at = format!(" FIFO vs standard, {groups} groups");
        let fifo = mean(door_label(env, native, sqs));
        merge_row(
            &mut out.rows,
            ratio_row("11.1", goal, fifo, base, FIFO_SHARE, &at),
        );
    }
    sec.notes.push(
        "each group gets every 100th (10 000th) message sent, whichever producer sends it; every message has its own deduplication id".to_owned(),
    );
    out.sections.push(sec);
}

/// A FIFO queue with `s.backlog` messages (1 000 000 by default) over 10 000 groups against an
/// empty FIFO queue of 10 000 groups; scores target 11.2.
pub async fn backlog(env: &Env, s: &Settings, out: &mut Outcome) {
    let w = Workload {
        fifo_groups: Some(BACKLOG_GROUPS),
        ..shaped(&s.base, 8, 8, 10)
    };
    let goal = format!(
        "FIFO queue with {} messages queued over {BACKLOG_GROUPS} groups: msgs/s ≥ 90 % of the empty FIFO queue's (batch 10, 8 + 8)",
        s.backlog
    );
    let title = format!(
        "Spool FIFO queue of {BACKLOG_GROUPS} groups, empty against a {}-message backlog, batch 10, 8 + 8",
        s.backlog
    );
    let labels = Labels {
        empty: door_label(
            env,
            "Spool FIFO (10 000 groups)",
            "Spool FIFO (10 000 groups, SQS)",
        ),
        full: door_label(
            env,
            "Spool FIFO (10 000 groups, 1M backlog)",
            "Spool FIFO (10 000 groups, 1M backlog, SQS)",
        ),
    };
    let row = match against_backlog(env, s, &w, "fifo-backlog", &title, labels).await {
        Ok((sec, full, empty)) => {
            out.sections.push(sec);
            ratio_row(
                "11.2",
                &goal,
                full,
                empty,
                BACKLOG_SHARE,
                ", backlog vs empty",
            )
        }
        Err(e) => Row {
            id: "11.2".to_owned(),
            goal,
            measured: format!("pre-fill failed: {e:#}"),
            score: None,
        },
    };
    out.rows.push(row);
}

/// Mean msgs/s of the runs labelled `label`.
fn mean_of(runs: &[RunResult], label: &str) -> Option<f64> {
    let rates: Vec<f64> = runs
        .iter()
        .filter(|r| r.label == label)
        .map(|r| r.throughput.msgs_per_s)
        .collect();
    (!rates.is_empty()).then(|| rates.iter().sum::<f64>() / rates.len() as f64)
}
