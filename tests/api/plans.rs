//! Plan tests: every statement on a hot path does work bounded by the rows it returns or
//! changes, whatever the planner's statistics say about the queue.
//!
//! Each test builds one statistics state on a fresh database, then runs every hot statement
//! under `EXPLAIN (ANALYZE, BUFFERS)` in a rolled-back transaction, once as a custom plan and
//! once as a generic plan (what a prepared statement turns into after five runs), with the
//! session settings Spool's pool uses. It asserts on what the plan *did* (rows read from
//! `messages`, buffers touched), not on timings, so it is stable on a busy machine.
//!
//! The states, from the backlog issue:
//! - (a) a new queue holding 50 000 messages, table never analyzed;
//! - (b) table analyzed while the queue was empty, then 50 000 added;
//! - (c) another queue with 200 000 messages, analyzed; the target queue new with 50 000;
//! - (d) as (c), with half of the target's messages in flight or delayed.

use serde_json::Value;
use spool::store::{self, Db};
use sqlx::{Row, pool::PoolConnection};

use crate::helpers::TestDb;

/// Messages per batch in every statement under test.
const BATCH: i64 = 10;
/// Messages in the target queue.
const TARGET_ROWS: i64 = 50_000;
/// Messages in the other queue of states (c) and (d).
const OTHER_ROWS: i64 = 200_000;
/// Target messages past their retention, oldest first (for the sweep).
const EXPIRED_ROWS: i64 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    NeverAnalyzed,
    AnalyzedEmpty,
    OtherQueueAnalyzed,
    HalfInFlight,
}

struct Fixture {
    pool: Db,
    state: State,
    target: i64,
    /// Dead-letter queue of the claim's dead-letter variant.
    dead_letter: i64,
    /// A move task from the target queue.
    task: uuid::Uuid,
    /// Row ids and generations the handle-keyed statements act on (in flight where any are).
    handles: (Vec<i64>, Vec<i32>),
    /// A FIFO queue of `TARGET_ROWS` messages in `FIFO_GROUPS` groups, and row ids and
    /// generations of its messages.
    fifo: i64,
    fifo_handles: (Vec<i64>, Vec<i32>),
    _db: TestDb,
}

/// Groups of the FIFO queue.
const FIFO_GROUPS: i64 = 1_000;

#[tokio::test]
async fn never_analyzed() {
    Fixture::build(State::NeverAnalyzed).await.check_all().await;
}

#[tokio::test]
async fn analyzed_while_the_queue_was_empty() {
    Fixture::build(State::AnalyzedEmpty).await.check_all().await;
}

#[tokio::test]
async fn new_queue_beside_an_analyzed_one() {
    Fixture::build(State::OtherQueueAnalyzed)
        .await
        .check_all()
        .await;
}

#[tokio::test]
async fn half_of_the_queue_in_flight_or_delayed() {
    Fixture::build(State::HalfInFlight).await.check_all().await;
}

/// One statement under test: its SQL, parameter types, arguments (SQL expressions) and how
/// many rows of `messages` it may read.
struct Case {
    name: &'static str,
    sql: &'static str,
    types: &'static str,
    args: String,
    max_rows: i64,
    max_buffers: i64,
}

impl Fixture {
    async fn build(state: State) -> Self {
        let db = TestDb::new().await;
        let pool = store::connect(&db.url, 2).await.expect("connect");
        store::migrate(&pool).await.expect("migrate");
        // Autovacuum would analyze the table in the middle of the test and change the state.
        sqlx::query("alter table messages set (autovacuum_enabled = off)")
            .execute(&pool)
            .await
            .unwrap();
        let queue = |name: &'static str| {
            let pool = pool.clone();
            async move {
                sqlx::query_scalar::<_, i64>(
                    "insert into queues (account_id, name, visibility_timeout, delay_seconds, \
                     retention_seconds, max_message_bytes, receive_wait_seconds) \
                     values (0, $1, 30, 0, 86400, 262144, 0) returning id",
                )
                .bind(name)
                .fetch_one(&pool)
                .await
                .unwrap()
            }
        };
        let analyze = || async {
            sqlx::query("analyze messages")
                .execute(&pool)
                .await
                .unwrap();
        };
        let dead_letter = queue("dead-letter").await;
        let destination = queue("destination").await;
        match state {
            State::NeverAnalyzed => {}
            State::AnalyzedEmpty => analyze().await,
            State::OtherQueueAnalyzed | State::HalfInFlight => {
                let other = queue("other").await;
                fill(&pool, other, OTHER_ROWS, false).await;
                analyze().await;
            }
        }
        let target = queue("target").await;
        fill(&pool, target, TARGET_ROWS, state == State::HalfInFlight).await;
        let fifo = queue("target.fifo").await;
        fill(&pool, fifo, TARGET_ROWS, state == State::HalfInFlight).await;
        fill_groups(&pool, fifo).await;
        let task = sqlx::query_scalar(
            "insert into move_tasks (id, account_id, source_queue_id, destination_queue_id, \
             last_row_id, to_move) \
             select gen_random_uuid(), 0, $1, $2, max(id), count(*) from messages \
             where queue_id = $1 returning id",
        )
        .bind(target)
        .bind(destination)
        .fetch_one(&pool)
        .await
        .unwrap();
        // A tombstone naming the target, as if it had been deleted while sends were running:
        // the deleted-queue sweep then finds a queue full of rows to remove, `BATCH` at a time.
        sqlx::query("insert into deleted_queues (id) values ($1)")
            .bind(target)
            .execute(&pool)
            .await
            .unwrap();
        let handles_of = |queue: i64| {
            let pool = pool.clone();
            async move {
                let handles: Vec<(i64, i32)> = sqlx::query_as(
                    "select id, receive_count from messages where queue_id = $1 \
                     order by visible_at desc, id limit $2",
                )
                .bind(queue)
                .bind(BATCH)
                .fetch_all(&pool)
                .await
                .unwrap();
                handles.into_iter().unzip()
            }
        };
        let handles = handles_of(target).await;
        let fifo_handles = handles_of(fifo).await;
        Self {
            pool,
            state,
            target,
            dead_letter,
            task,
            handles,
            fifo,
            fifo_handles,
            _db: db,
        }
    }

    fn cases(&self) -> Vec<Case> {
        let (t, dlq, b) = (self.target, self.dead_letter, BATCH);
        // Small multiples of the batch: a plan that reads the queue reads thousands.
        let rows = 4 * b + 10;
        let buffers = 40 * b + 100;
        let list = |items: Vec<String>| format!("array[{}]", items.join(", "));
        let (ids, generations) = &self.handles;
        let handles = format!(
            "{}::bigint[], {}::int[]",
            list(ids.iter().map(i64::to_string).collect()),
            list(generations.iter().map(i32::to_string).collect())
        );
        let task = self.task;
        let (last_id, last_generation) = (ids[0], generations[0]);
        let counted = TARGET_ROWS + TARGET_ROWS / 10;
        vec![
            Case {
                name: "send insert",
                sql: store::messages::INSERT_SQL,
                types: "bigint[], int[], uuid[], text[], text[], text",
                args: format!(
                    "array_fill({t}::bigint, array[{b}]), array_fill(0, array[{b}]), {}, \
                     array_fill('hello'::text, array[{b}]), array_fill(null::text, array[{b}]), \
                     null",
                    list(vec!["gen_random_uuid()".to_owned(); BATCH as usize])
                ),
                max_rows: 0,
                max_buffers: buffers,
            },
            Case {
                name: "claim",
                sql: store::messages::CLAIM_SQL,
                types: "bigint, bigint, int, int, bigint, text",
                args: format!("{t}, {b}, 30, null, null, null"),
                max_rows: rows,
                max_buffers: buffers,
            },
            Case {
                name: "claim with dead-letter moves",
                sql: store::messages::CLAIM_SQL,
                types: "bigint, bigint, int, int, bigint, text",
                args: format!("{t}, {b}, 30, 2, {dlq}, null"),
                max_rows: rows,
                max_buffers: buffers,
            },
            Case {
                name: "delete by receipt handle",
                sql: store::messages::DELETE_SQL,
                types: "bigint[], int[], text",
                args: format!("{handles}, null"),
                max_rows: rows,
                max_buffers: buffers,
            },
            Case {
                name: "change visibility by receipt handle",
                sql: store::messages::CHANGE_VISIBILITY_SQL,
                types: "bigint[], int[], int[], text",
                args: format!("{handles}, array_fill(60, array[{b}]), null"),
                max_rows: rows,
                max_buffers: buffers,
            },
            Case {
                name: "receipt handle is current",
                sql: store::deliveries::IS_CURRENT_SQL,
                types: "bigint, int",
                args: format!("{last_id}, {last_generation}"),
                max_rows: 2,
                max_buffers: 20,
            },
            Case {
                name: "generation of an earlier receipt handle",
                sql: store::deliveries::GENERATION_SQL,
                types: "bigint",
                args: format!("{last_id}"),
                max_rows: 2,
                max_buffers: 20,
            },
            Case {
                name: "waker due time",
                sql: store::messages::NEXT_VISIBLE_SQL,
                types: "bigint",
                args: format!("{t}"),
                max_rows: 2,
                max_buffers: 20,
            },
            Case {
                name: "flow-control ready probe",
                sql: store::messages::READY_SQL,
                types: "bigint, bigint",
                args: format!("{t}, {b}"),
                max_rows: rows,
                max_buffers: buffers,
            },
            Case {
                name: "peek",
                sql: store::messages::PEEK_SQL,
                types: "bigint, bigint",
                args: format!("{t}, {b}"),
                max_rows: rows,
                max_buffers: buffers,
            },
            Case {
                name: "retention sweep",
                sql: store::messages::SWEEP_SQL,
                types: "bigint",
                args: format!("{b}"),
                max_rows: rows,
                max_buffers: buffers,
            },
            Case {
                name: "deleted-queue sweep",
                sql: store::messages::SWEEP_DELETED_SQL,
                types: "bigint",
                args: format!("{b}"),
                max_rows: rows,
                max_buffers: buffers,
            },
            Case {
                name: "redrive step",
                sql: store::move_tasks::STEP_SQL,
                types: "uuid, bigint",
                args: format!("'{task}', {b}"),
                max_rows: rows,
                max_buffers: buffers,
            },
            // The two statements whose work is the queue itself: they must read the target
            // queue's rows only (never the other queue's 200 000), through an index.
            Case {
                name: "counts",
                sql: store::queues::COUNTS_SQL,
                types: "bigint",
                args: format!("{t}"),
                max_rows: counted,
                max_buffers: counted,
            },
            Case {
                name: "move task start",
                sql: store::move_tasks::START_SQL,
                types: "uuid, bigint, bigint, bigint, int",
                args: format!("gen_random_uuid(), 0, {t}, {dlq}, null"),
                max_rows: counted,
                max_buffers: counted,
            },
            Case {
                name: "purge",
                sql: store::queues::PURGE_SQL,
                types: "bigint",
                args: format!("{t}"),
                max_rows: counted,
                max_buffers: 4 * counted,
            },
        ]
        .into_iter()
        .chain(self.fifo_cases())
        .collect()
    }

    /// The FIFO statements: each reads at most a few messages per group it touches.
    fn fifo_cases(&self) -> Vec<Case> {
        let (f, dlq, b) = (self.fifo, self.dead_letter, BATCH);
        let (rows, buffers) = (4 * b + 10, 40 * b + 100);
        // A claim reads up to `b` messages from each of up to `b` groups. A recompute reads
        // each group's row (twice: to read it and to update it), its in-flight batch (the
        // fixture's claims delivered 3 of the 50 messages of each group) and its head: 6 rows
        // a group, not the group's backlog (the former fixed head scan read all 50).
        let (pick_rows, head_rows) = (b * b + 10, 6 * b + 10);
        let list = |items: Vec<String>| format!("array[{}]", items.join(", "));
        let (ids, generations) = &self.fifo_handles;
        let ids = format!(
            "{}::bigint[]",
            list(ids.iter().map(i64::to_string).collect())
        );
        let generations = format!(
            "{}::int[]",
            list(generations.iter().map(i32::to_string).collect())
        );
        let numbered = |prefix: &str| list((1..=b).map(|i| format!("'{prefix}{i}'")).collect());
        let groups = numbered("g");
        let keys = numbered("k");
        let uuids = list(vec!["gen_random_uuid()".to_owned(); BATCH as usize]);
        let many = |value: &str| format!("array_fill({value}, array[{b}])");
        let case = |name, sql, types, args: String, max_rows, max_buffers| Case {
            name,
            sql,
            types,
            args,
            max_rows,
            max_buffers,
        };
        vec![
            case(
                "fifo send insert",
                store::fifo_send::INSERT_SQL,
                "bigint[], int[], uuid[], text[], text[], text[], text[], text[], int, text",
                format!(
                    "{}, {}, {uuids}, {}, {}, {groups}, {keys}, {}, 300, 'off'",
                    many(&format!("{f}::bigint")),
                    many("0"),
                    many("'hello'::text"),
                    many("null::text"),
                    many("''::text")
                ),
                0,
                buffers,
            ),
            case(
                "fifo pick",
                store::fifo::PICK_SQL,
                "bigint, bigint, bigint",
                format!("{f}, {b}, {b}"),
                pick_rows,
                buffers,
            ),
            case(
                "fifo deliver",
                store::fifo::DELIVER_SQL,
                "bigint[], int, bigint",
                format!("{ids}, 30, {f}"),
                rows + 2 * b,
                buffers,
            ),
            case(
                "fifo dead-letter move",
                store::fifo::DEAD_LETTER_SQL,
                "bigint, bigint[], bigint",
                format!("{f}, {ids}, {dlq}"),
                rows,
                buffers,
            ),
            case(
                "fifo lock groups",
                store::fifo::LOCK_GROUPS_SQL,
                "bigint[], text",
                format!("{ids}, 'off'"),
                rows,
                buffers,
            ),
            case(
                "fifo recompute groups",
                store::fifo::RECOMPUTE_SQL,
                "bigint[], text[]",
                format!("{}, {groups}", many(&format!("{f}::bigint"))),
                head_rows,
                buffers,
            ),
            case(
                "fifo delete",
                store::fifo::DELETE_SQL,
                "bigint[], int[], text",
                format!("{ids}, {generations}, 'off'"),
                2 * rows + head_rows,
                2 * buffers + head_rows,
            ),
            case(
                "fifo change visibility",
                store::fifo::CHANGE_VISIBILITY_SQL,
                "bigint[], int[], int[]",
                format!("{ids}, {generations}, {}", many("60")),
                rows,
                buffers,
            ),
            case(
                "fifo renew attempt",
                store::fifo::RENEW_SQL,
                "bigint[], int[], int",
                format!("{ids}, {generations}, 60"),
                rows,
                buffers,
            ),
            case(
                "fifo handles still there",
                store::fifo::EXISTING_SQL,
                "bigint[]",
                ids.clone(),
                rows,
                buffers,
            ),
        ]
    }

    async fn check_all(&self) {
        let mut failures = Vec::new();
        for case in self.cases() {
            for mode in ["force_custom_plan", "force_generic_plan"] {
                let plan = self.explain(&case, mode).await;
                let outcome = check(&case, &plan);
                // `cargo test plans -- --nocapture` shows what each plan did.
                eprintln!(
                    "{:?} / {} / {mode}: {}",
                    self.state,
                    case.name,
                    outcome.as_ref().map_or_else(String::clone, String::clone)
                );
                if let Err(why) = outcome {
                    failures.push(format!(
                        "{:?} / {} / {mode}: {why}\n{plan:#}",
                        self.state, case.name
                    ));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    }

    /// The executed plan of `case` as a generic or custom plan, with its effects rolled back.
    async fn explain(&self, case: &Case, mode: &str) -> Value {
        let mut conn: PoolConnection<sqlx::Postgres> = self.pool.acquire().await.unwrap();
        let run = |sql: String| sqlx::raw_sql(sqlx::AssertSqlSafe(sql));
        run(format!(
            "prepare under_test ({}) as {}",
            case.types, case.sql
        ))
        .execute(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("prepare {}: {e}", case.name));
        run(format!("begin; set local plan_cache_mode = {mode}"))
            .execute(&mut *conn)
            .await
            .unwrap();
        let explained = sqlx::query(sqlx::AssertSqlSafe(format!(
            "explain (analyze, buffers, format json) execute under_test({})",
            case.args
        )))
        .fetch_one(&mut *conn)
        .await;
        run("rollback; deallocate under_test".to_owned())
            .execute(&mut *conn)
            .await
            .unwrap();
        let plan: Value = explained
            .unwrap_or_else(|e| panic!("explain {}: {e}", case.name))
            .get(0);
        plan[0].clone()
    }
}

/// Inserts `n` messages into `queue`, oldest first, sent a second apart. The first
/// `EXPIRED_ROWS` are past a day's retention. With `half_hidden`, every second message is
/// in flight or delayed for an hour.
async fn fill(pool: &Db, queue: i64, n: i64, half_hidden: bool) {
    sqlx::query(
        "insert into messages (queue_id, visible_at, receive_count, sent_at, message_id, body) \
         select $1, case when $4 and g % 2 = 1 then now() + interval '1 hour' else s end, \
                case when $4 and g % 4 = 1 then 1 when $4 and g % 2 = 1 then 0 else g % 3 end, \
                s, gen_random_uuid(), repeat('x', 100) \
         from generate_series(1, $2) g, \
              lateral (select case when g <= $3 then now() - interval '2 days' \
                                   else now() - make_interval(secs => ($2 - g)::float8) end \
                       as s) t",
    )
    .bind(queue)
    .bind(n)
    .bind(EXPIRED_ROWS)
    .bind(half_hidden)
    .execute(pool)
    .await
    .unwrap();
}

/// Makes `queue` a FIFO queue: its messages spread over `FIFO_GROUPS` groups, one group row
/// each, ready now (the claim finds its groups through them).
async fn fill_groups(pool: &Db, queue: i64) {
    for sql in [
        // Kept for 14 days, so the retention sweep's case sees only the target's expired rows.
        "update queues set fifo = true, retention_seconds = 1209600 where id = $1",
        "update messages set group_id = 'g' || (id % $2), dedup_id = id::text \
         where queue_id = $1",
        "insert into fifo_groups (queue_id, group_id, ready_at) \
         select $1, 'g' || g, now() from generate_series(0, $2 - 1) g",
        // Each group's latest claim delivered its first three messages.
        "update fifo_groups f set delivered_through = ( \
             select m.id from messages m \
             where m.queue_id = $1 and m.group_id = f.group_id and m.group_id is not null \
             order by m.id offset 2 limit 1) \
         where f.queue_id = $1 and $2 > 0",
    ] {
        sqlx::query(sql)
            .bind(queue)
            .bind(FIFO_GROUPS)
            .execute(pool)
            .await
            .unwrap();
    }
}

/// The tables that grow with a queue: a statement's rows read from them are bounded.
/// (`fifo_groups` has a row per FIFO group: a statement that walks it reads the whole queue's
/// groups, as the lock statement once did to produce its lock order without a sort.)
const GROWING: [&str; 3] = ["messages", "fifo_groups", "fifo_dedup"];

/// Checks a plan against the case's bounds: rows read from the growing tables by every node,
/// and shared buffers touched by the whole statement (its triggers included).
fn check(case: &Case, plan: &Value) -> Result<String, String> {
    let mut rows = 0;
    let mut problems = Vec::new();
    walk(&plan["Plan"], &mut |node| {
        let Some(table) = node["Relation Name"].as_str() else {
            return;
        };
        if !GROWING.contains(&table) {
            return;
        }
        let kind = node["Node Type"].as_str().unwrap_or_default();
        if matches!(kind, "Seq Scan" | "Bitmap Heap Scan") {
            problems.push(format!("{kind} on {table}"));
        }
        if kind == "ModifyTable" {
            return;
        }
        let loops = node["Actual Loops"].as_i64().unwrap_or(1);
        let read = node["Actual Rows"].as_i64().unwrap_or(0)
            + node["Rows Removed by Filter"].as_i64().unwrap_or(0)
            + node["Rows Removed by Index Recheck"].as_i64().unwrap_or(0);
        rows += read * loops;
    });
    if rows > case.max_rows {
        problems.push(format!(
            "read {rows} rows of messages and group tables (at most {} allowed)",
            case.max_rows
        ));
    }
    let top = &plan["Plan"];
    let buffers = top["Shared Hit Blocks"].as_i64().unwrap_or(0)
        + top["Shared Read Blocks"].as_i64().unwrap_or(0);
    if buffers > case.max_buffers {
        problems.push(format!(
            "touched {buffers} buffers (at most {} allowed)",
            case.max_buffers
        ));
    }
    if problems.is_empty() {
        Ok(format!(
            "read {rows} rows of messages and group tables, touched {buffers} buffers"
        ))
    } else {
        Err(problems.join("; "))
    }
}

/// Calls `visit` on `node` and every node below it (sub-plans and init plans included).
fn walk(node: &Value, visit: &mut impl FnMut(&Value)) {
    visit(node);
    if let Some(children) = node["Plans"].as_array() {
        for child in children {
            walk(child, visit);
        }
    }
}
