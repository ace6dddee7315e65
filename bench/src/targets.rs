//! The target rows that need a scenario of their own: relaxed durability (a measurement), a
//! large backlog (issue 4), and issue 14's target 7: send→receive latency, idle long polls and
//! send latency at half load (one row, the worst of the three).

use std::time::Duration;

use crate::{
    idle,
    spool::{Door, Durability},
    suite::{Outcome, Row, Section, Settings, compare, merge_row, ratio_row, shaped},
    systems::{Env, System},
    workload::Workload,
};

/// A relaxed-durability queue against a durable one (a measurement, no target: fsync is cheap
/// on this disk), skipped while the server refuses the setting.
pub async fn relaxed(env: &Env, s: &Settings, out: &mut Outcome) {
    let goal = "Relaxed-durability queue against Spool's durable queue at batch 1 (measurement)";
    let probe = env.queue_name("relaxed-probe", System::SpoolRelaxed);
    if let Err(e) = env.spool.create_queue(&probe, Durability::Relaxed).await {
        let measured =
            format!("skipped: the server does not accept `durability: \"relaxed\"` yet ({e:#})");
        out.rows.push(Row {
            id: "relaxed".to_owned(),
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
    let mut row = ratio_row(
        "relaxed",
        goal,
        sec.mean(System::SpoolRelaxed),
        sec.mean(System::Spool),
        1.0,
        "",
    );
    row.score = None;
    out.rows.push(row);
    out.sections.push(sec);
}

/// Issue 4's row 5: a pre-filled queue against an empty one (batch 10, 8 + 8).
pub async fn backlog(env: &Env, s: &Settings, out: &mut Outcome) {
    let goal = format!(
        "With {} messages already queued, throughput ≥ 90 % of the empty queue (batch 10, 8+8)",
        s.backlog
    );
    let w = shaped(&s.base, 8, 8, 10);
    let title = format!(
        "Spool, empty queue against a {}-message backlog, batch 10, 8 + 8",
        s.backlog
    );
    let labels = Labels {
        empty: env.label(System::Spool),
        full: match env.spool.door() {
            Door::Native => "Spool (1M backlog)",
            Door::Sqs => "Spool (1M backlog, SQS)",
        },
    };
    let row = match against_backlog(env, s, &w, "backlog", &title, labels).await {
        Ok((sec, full, empty)) => {
            out.sections.push(sec);
            ratio_row("4.5", &goal, full, empty, 0.9, ", backlog vs empty")
        }
        Err(e) => Row {
            id: "4.5".to_owned(),
            goal,
            measured: format!("pre-fill failed: {e:#}"),
            score: None,
        },
    };
    out.rows.push(row);
}

/// How the runs of a backlog comparison are labelled.
pub(crate) struct Labels {
    pub empty: &'static str,
    pub full: &'static str,
}

/// A queue pre-filled with `s.backlog` messages against an empty one under the same load `w`
/// (Spool only; FIFO queues if `w` says so), alternating rounds: the backlog queue is filled
/// once and topped up between rounds. Returns the section and the mean msgs/s of the backlog
/// queue and of the empty one; fails if the pre-fill did.
pub(crate) async fn against_backlog(
    env: &Env,
    s: &Settings,
    w: &Workload,
    name: &str,
    title: &str,
    labels: Labels,
) -> anyhow::Result<(Section, Option<f64>, Option<f64>)> {
    // The backlog is the second queue's: the empty one starts empty whatever `--backlog` says.
    let w = &Workload {
        backlog: 0,
        ..w.clone()
    };
    let mut sec = Section::new(name, title, w);
    let queue = env.queue_for(&format!("{name}-full"), System::Spool, w);
    env.create_queue(System::Spool, &queue).await?;
    let t = tokio::time::Instant::now();
    env.spool
        .prefill(&queue, s.backlog, w.body_bytes, w.fifo_groups)
        .await?;
    let took = t.elapsed();
    sec.notes.push(format!(
        "pre-filled {} messages in {:.1} s ({:.0} msgs/s, batches of 100 from 8 tasks)",
        s.backlog,
        took.as_secs_f64(),
        s.backlog as f64 / took.as_secs_f64()
    ));
    let (mut full, mut empty) = (Vec::new(), Vec::new());
    for round in 1..=s.rounds {
        eprintln!("[{name}] round {round}/{}: empty queue", s.rounds);
        match env
            .run_fresh(System::Spool, &format!("{name}-empty"), w, round)
            .await
        {
            Ok(mut run) => {
                run.label = labels.empty;
                empty.push(run.throughput.msgs_per_s);
                sec.runs.push(run);
            }
            Err(e) => sec.notes.push(format!("empty round {round} failed: {e:#}")),
        }
        eprintln!("[{name}] round {round}/{}: backlog", s.rounds);
        if let Err(e) = top_up(env, &queue, s.backlog, w).await {
            sec.notes
                .push(format!("top-up before round {round} failed: {e:#}"));
        }
        match env.measure(System::Spool, &queue, w, round).await {
            Ok(mut run) => {
                run.label = labels.full;
                full.push(run.throughput.msgs_per_s);
                sec.runs.push(run);
            }
            Err(e) => sec
                .notes
                .push(format!("backlog round {round} failed: {e:#}")),
        }
    }
    let _ = env.delete_queue(System::Spool, &queue, w.consumers).await;
    Ok((sec, mean(&full), mean(&empty)))
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Brings a backlog queue back to `count` visible messages.
async fn top_up(env: &Env, queue: &str, count: u64, w: &Workload) -> anyhow::Result<()> {
    // Counts are cached for about a second; wait so they reflect the last run.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let visible = u64::try_from(env.spool.visible(queue).await?.max(0))?;
    if visible < count {
        env.spool
            .prefill(queue, count - visible, w.body_bytes, w.fifo_groups)
            .await?;
    }
    Ok(())
}

/// Target 7 (of three): send→receive latency to long-pollers at a fixed offered rate.
pub async fn latency(env: &Env, s: &Settings, out: &mut Outcome) {
    let goal = format!(
        "Send→receive latency to waiting long-pollers: p99 ≤ 10 ms at {:.0} msgs/s",
        s.latency_rate
    );
    let w = Workload {
        rate: Some(s.latency_rate),
        wait_seconds: 20,
        ..shaped(&s.base, 32, 8, 1)
    };
    let sec = compare(env, "latency", &format!("Spool, send→receive latency at {:.0} msgs/s (32 open-loop producers, 8 long-pollers waiting 20 s)", s.latency_rate), &[System::Spool], &w, 1).await;
    let p99 = sec
        .runs
        .first()
        .and_then(|r| r.throughput.end_to_end)
        .map(|l| l.p99_ms);
    let measured = p99.map_or_else(|| "not measured".to_owned(), |p| format!("p99 {p:.2} ms"));
    merge_row(
        &mut out.rows,
        Row {
            id: "14.7".to_owned(),
            goal,
            measured,
            score: p99.map(|p| 10.0 / p.max(1e-3)),
        },
    );
    out.sections.push(sec);
}

/// Target 7 (of three): send latency at half of Spool's batch-1 maximum (the closed loop's,
/// measured first if the closed-loop scenario did not run).
pub async fn half_load(env: &Env, s: &Settings, batch1_max: Option<f64>, out: &mut Outcome) {
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
        merge_row(
            &mut out.rows,
            Row {
                id: "14.7".to_owned(),
                goal: goal.to_owned(),
                measured: "no maximum throughput measured".to_owned(),
                score: None,
            },
        );
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
    merge_row(
        &mut out.rows,
        Row {
            id: "14.7".to_owned(),
            goal: goal.to_owned(),
            measured,
            score: p99.map(|p| 5.0 / p.max(1e-3)),
        },
    );
    out.sections.push(sec);
}

/// Target 7 (of three): idle long-poll connections.
pub async fn idle(env: &Env, s: &Settings, out: &mut Outcome) {
    let goal = format!(
        "{} idle long-poll connections: server < 300 MiB RSS",
        s.idle_connections
    );
    let row = match idle::run(env, s.idle_connections, s.base.duration).await {
        Ok(result) => {
            let row = Row {
                id: "14.7".to_owned(),
                goal,
                measured: result.describe(),
                score: result.memory_score(),
            };
            out.idle = Some(result);
            row
        }
        Err(e) => Row {
            id: "14.7".to_owned(),
            goal,
            measured: format!("failed: {e:#}"),
            score: None,
        },
    };
    merge_row(&mut out.rows, row);
}
