//! Issue 14's two load shapes. Closed loop: each task sends, receives and deletes in turn, as a
//! worker producing its own follow-up work does. Open loop ("producers outpace consumers",
//! issue 8): unthrottled producers and separate consumers on a new queue, after the `messages`
//! table was analyzed with another queue's traffic, reported in intervals against the closed
//! loop's rate of the same system and batch size.

use anyhow::Context;
use sqlx::{Connection, PgConnection};

use crate::{
    suite::{Outcome, Reference, Row, Section, Settings, compare, merge_row, ratio_row, shaped},
    systems::{Env, RunResult, System},
    workload::Workload,
};

/// The two shapes of issue 14: (batch, tasks) — 32 tasks at batch 1, 8 at batch 10.
const SHAPES: [(usize, usize); 2] = [(1, 32), (10, 8)];
/// Issue 8's target: consumed msgs/s in every interval ≥ 90 % of the balanced rate.
const BALANCED_SHARE: f64 = 0.9;

/// `wanted` in order, those the settings ask for and the environment has.
fn available(env: &Env, s: &Settings, wanted: &[System]) -> Vec<System> {
    wanted
        .iter()
        .copied()
        .filter(|sys| s.systems.contains(sys) && env.has(*sys))
        .collect()
}

fn closed_workload(s: &Settings, batch: usize, tasks: usize) -> Workload {
    Workload {
        cycle: true,
        rate: None,
        ..shaped(&s.base, tasks, 0, batch)
    }
}

fn closed_name(batch: usize) -> String {
    format!("closed-b{batch}")
}

/// Closed loop at both shapes for Spool (both doors), pgmq and the hand-written queue; scores
/// targets 3–6. Returns Spool's native batch-1 rate (the half-load scenario's maximum).
pub async fn closed(env: &Env, s: &Settings, out: &mut Outcome) -> Option<f64> {
    let systems = available(
        env,
        s,
        &[System::Spool, System::SpoolSqs, System::Pgmq, System::Sql],
    );
    let mut batch1 = None;
    for (batch, tasks) in SHAPES {
        let w = closed_workload(s, batch, tasks);
        let title = format!(
            "Closed loop, batch {batch}, {tasks} tasks each sending, receiving and deleting in turn"
        );
        let sec = compare(env, &closed_name(batch), &title, &systems, &w, s.rounds).await;
        let spool = sec.mean(System::Spool);
        let at = format!(", batch {batch}, {tasks} tasks");
        let times = if batch == 1 { 1.5 } else { 1.0 };
        let goal =
            "Closed loop: Spool ≥ 1.5× pgmq at batch 1 (32 tasks), ≥ 1.0× at batch 10 (8 tasks)";
        let pgmq = sec.mean(System::Pgmq);
        merge_row(
            &mut out.rows,
            ratio_row("14.3", goal, spool, pgmq, times, &at),
        );
        let goal = "SQS door (signatures verified) ≥ 0.9× the native door, closed loop";
        let sqs = sec.mean(System::SpoolSqs);
        merge_row(&mut out.rows, ratio_row("14.4", goal, sqs, spool, 0.9, &at));
        if batch == 1 {
            batch1 = spool;
            out.rows.push(cpu_row(&sec));
        }
        merge_row(&mut out.rows, cost_row(&sec, batch));
        out.sections.push(sec);
    }
    batch1
}

/// Target 5: Spool's CPU per HTTP request at batch 1.
fn cpu_row(sec: &Section) -> Row {
    let per_request = sec.mean_of(System::Spool, |r| r.cost.server_cpu_us_per_request);
    let per_msg = sec.mean_of(System::Spool, |r| r.cost.server_cpu_us_per_msg);
    let measured = match (per_request, per_msg) {
        (Some(req), Some(msg)) => format!(
            "{req:.0} µs per request ({msg:.0} µs per message), closed loop batch 1, 32 tasks"
        ),
        _ => "not measured (Spool's process not found)".to_owned(),
    };
    Row {
        id: "14.5".to_owned(),
        goal: "Spool's CPU per HTTP request ≤ 40 µs at batch 1".to_owned(),
        measured,
        score: per_request.map(|us| 40.0 / us.max(1e-3)),
    }
}

/// Target 6: PostgreSQL execution time per message, Spool against the hand-written queue.
fn cost_row(sec: &Section, batch: usize) -> Row {
    let exec = |sys| sec.mean_of(sys, |r: &RunResult| r.cost.postgres_exec_ms_per_msg);
    let cpu = |sys| sec.mean_of(sys, |r: &RunResult| r.cost.postgres_cpu_us_per_msg);
    let statements = |sys| sec.mean_of(sys, |r: &RunResult| r.cost.statements_per_msg);
    let (spool, sql) = (exec(System::Spool), exec(System::Sql));
    let fmt = |x: Option<f64>, digits: usize| {
        x.map_or_else(|| "—".to_owned(), |x| format!("{x:.digits$}"))
    };
    let measured = match (spool, sql) {
        (Some(_), Some(_)) => format!(
            "batch {batch}: PostgreSQL execution {} vs {} ms/msg, PostgreSQL CPU {} vs {} µs/msg, {} vs {} statements/msg",
            fmt(spool, 3),
            fmt(sql, 3),
            fmt(cpu(System::Spool), 0),
            fmt(cpu(System::Sql), 0),
            fmt(statements(System::Spool), 2),
            fmt(statements(System::Sql), 2),
        ),
        _ => format!("batch {batch}: not measured (pg_stat_statements or a system missing)"),
    };
    Row {
        id: "14.6".to_owned(),
        goal: "PostgreSQL time per message: Spool ≤ the hand-written SKIP LOCKED queue, same batch (closed loop)".to_owned(),
        measured,
        score: spool
            .zip(sql)
            .map(|(spool, sql)| sql / spool.max(1e-9)),
    }
}

/// The open loop at both shapes for Spool (both doors) and RabbitMQ; scores targets 1–2 and
/// issue 8's.
pub async fn open(env: &Env, s: &Settings, out: &mut Outcome) {
    let systems = available(env, s, &[System::Spool, System::SpoolSqs, System::Rabbitmq]);
    let warm = env.queue_name("warm", System::Spool);
    let mut warmed = false;
    for (batch, tasks) in SHAPES {
        let w = Workload {
            duration: s.open_duration,
            rate: None,
            cycle: false,
            ..shaped(&s.base, tasks, tasks, batch)
        };
        let name = format!("open-b{batch}");
        let title = format!(
            "Producers outpace consumers: open loop, batch {batch}, {tasks} unthrottled producers + {tasks} consumers, new queue after ANALYZE"
        );
        let mut sec = Section::new(&name, &title, &w);
        for &system in &systems {
            let spool = matches!(system, System::Spool | System::SpoolSqs);
            if spool {
                if !warmed {
                    match warm_up(env, &warm, s.warm_messages).await {
                        Ok(note) => sec.notes.push(note),
                        Err(e) => sec.notes.push(format!("warm-up queue failed: {e:#}")),
                    }
                    warmed = true;
                }
                match reference(env, s, out, system, batch, tasks).await {
                    Some(r) => sec.references.push(r),
                    None => sec.notes.push(format!(
                        "{}: no closed-loop rate to compare with",
                        env.label(system)
                    )),
                }
                // Last before the new queue: its id must be unknown to the statistics.
                if let Err(e) = analyze(env).await {
                    sec.notes.push(format!(
                        "ANALYZE before {} failed: {e:#}",
                        env.label(system)
                    ));
                }
            }
            eprintln!("[{name}] {}", env.label(system));
            match env.run_fresh(system, &name, &w, 1).await {
                Ok(run) => {
                    eprintln!(
                        "  consumed {:.0} msgs/s, sent {:.0} msgs/s ({} errors)",
                        run.throughput.msgs_per_s, run.throughput.sent_per_s, run.throughput.errors
                    );
                    sec.runs.push(run);
                }
                Err(e) => sec
                    .notes
                    .push(format!("{} failed: {e:#}", env.label(system))),
            }
        }
        let (id, goal) = if batch == 1 {
            (
                "14.1",
                "Open loop, 32 + 32, batch 1: Spool ≥ 1.0× RabbitMQ (durable, persistent, confirms, manual acks)",
            )
        } else {
            (
                "14.2",
                "Open loop, 8 + 8, batch 10: Spool ≥ 1.0× RabbitMQ (durable, persistent, confirms, manual acks)",
            )
        };
        out.rows.push(ratio_row(
            id,
            goal,
            sec.mean(System::Spool),
            sec.mean(System::Rabbitmq),
            1.0,
            " consumed",
        ));
        for system in [System::Spool, System::SpoolSqs] {
            if let Some(row) = backlog_row(env, &sec, system, batch, tasks) {
                out.rows.push(row);
            }
        }
        out.sections.push(sec);
    }
    if warmed && let Err(e) = env.delete_queue(System::Spool, &warm, 4).await {
        eprintln!("  note: could not delete queue {warm}: {e:#}");
    }
}

/// Issue 8's row for one door and shape: the worst interval's consumed rate over the balanced
/// (closed-loop) rate.
fn backlog_row(
    env: &Env,
    sec: &Section,
    system: System,
    batch: usize,
    tasks: usize,
) -> Option<Row> {
    let run = sec.runs.iter().find(|r| r.system == system)?;
    let label = env.label(system);
    let goal = format!(
        "Producers outpace consumers, {label}, batch {batch}, {tasks} + {tasks}: consumed msgs/s in every interval ≥ 90 % of the closed loop's"
    );
    let reference = sec.references.iter().find(|r| r.label == label);
    let Some(reference) = reference.filter(|r| r.msgs_per_s > 0.0) else {
        return Some(Row {
            id: "8".to_owned(),
            goal,
            measured: "no closed-loop rate to compare with".to_owned(),
            score: None,
        });
    };
    let ratios: Vec<f64> = run
        .throughput
        .intervals
        .iter()
        .map(|i| i.consumed_per_s / reference.msgs_per_s)
        .collect();
    let worst = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let backlog = run.throughput.intervals.last().map_or(0, |i| i.backlog);
    let each: Vec<String> = ratios
        .iter()
        .map(|r| format!("{:.0} %", r * 100.0))
        .collect();
    Some(Row {
        id: "8".to_owned(),
        goal,
        measured: format!(
            "worst interval {:.0} % of {:.0} msgs/s (intervals: {}); backlog at the end {backlog}",
            worst * 100.0,
            reference.msgs_per_s,
            each.join(", ")
        ),
        score: worst.is_finite().then(|| worst / BALANCED_SHARE),
    })
}

/// The closed-loop rate of `system` at this shape: from the closed-loop scenario if it ran,
/// else measured now (one round, its own section).
async fn reference(
    env: &Env,
    s: &Settings,
    out: &mut Outcome,
    system: System,
    batch: usize,
    tasks: usize,
) -> Option<Reference> {
    let name = closed_name(batch);
    let from = |sec: &Section| {
        sec.mean(system).map(|rate| Reference {
            label: env.label(system),
            msgs_per_s: rate,
            source: format!("closed loop, batch {batch}, {tasks} tasks, same run"),
        })
    };
    if let Some(found) = out
        .sections
        .iter()
        .find(|sec| sec.name == name)
        .and_then(from)
    {
        return Some(found);
    }
    let w = closed_workload(s, batch, tasks);
    let title = format!("Closed loop, batch {batch}, {tasks} tasks (reference for the open loop)");
    let sec = compare(env, &format!("{name}-{system:?}"), &title, &[system], &w, 1).await;
    let found = from(&sec);
    out.sections.push(sec);
    found
}

/// Gives the `messages` table another queue's history: `count` messages sent, half of them
/// consumed, the rest left in place.
async fn warm_up(env: &Env, queue: &str, count: u64) -> anyhow::Result<String> {
    let started = tokio::time::Instant::now();
    env.create_queue(System::Spool, queue).await?;
    env.spool.prefill(queue, count, 256, None).await?;
    let drained = env.spool.drain(queue, count / 2).await?;
    Ok(format!(
        "warm-up queue: {count} messages sent, {drained} consumed, {} left, in {:.1} s; `ANALYZE messages` before each Spool run, then a new queue",
        count - drained,
        started.elapsed().as_secs_f64()
    ))
}

/// `ANALYZE messages` in Spool's database, as autovacuum does after any real use.
async fn analyze(env: &Env) -> anyhow::Result<()> {
    let url = env
        .spool_db_url
        .as_deref()
        .context("Spool's database is unknown (give --spool-db-url)")?;
    let mut conn = PgConnection::connect(url).await?;
    sqlx::query("analyze messages").execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}
