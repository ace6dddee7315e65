#!/usr/bin/env bash
# Builds Spool in release, starts a throwaway PostgreSQL cluster (initdb, pg_stat_statements
# loaded) and Spool on free loopback ports, runs the benchmark suite against Spool and its peers
# (pgmq and a hand-written SKIP LOCKED queue in the same cluster, RabbitMQ, Redis), writes
# docs/benchmarks.md, docs/benchmarks.json and docs/benchmarks.svg, and stops everything.
#
#   bench/run.sh [--smoke] [spool-bench arguments…]
#
# --smoke runs the short CI form instead (debug builds, Spool alone, a few seconds) and writes no
# documents. Arguments after it go to spool-bench (e.g. `--duration 5 --open-duration 20`).
# Environment: BENCH_PROFILE (debug: test the suite without release builds; its numbers mean
# nothing), BENCH_PG (use this PostgreSQL server instead of a throwaway cluster, a URL without a
# database, e.g. postgres://postgres@127.0.0.1:5432; statement costs need pg_stat_statements in
# its shared_preload_libraries), SPOOL_LOG (server log filter, default warn).
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=false
if [[ "${1:-}" == "--smoke" ]]; then
    smoke=true
    shift
fi
db=spool_bench

# The smoke form (CI) uses debug builds: it checks that the tool works, not how fast.
if $smoke; then
    profile=debug
    cargo build --quiet
    cargo build --quiet --manifest-path bench/Cargo.toml
elif [[ "${BENCH_PROFILE:-release}" == debug ]]; then
    profile=debug
    cargo build --quiet
    cargo build --quiet --manifest-path bench/Cargo.toml
else
    profile=release
    cargo build --release --quiet
    cargo build --release --quiet --manifest-path bench/Cargo.toml
fi

# A free TCP port on 127.0.0.1 in [$1, $2].
free_port() {
    local candidate
    for candidate in $(seq "$1" "$2"); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "run.sh: no free port in $1-$2" >&2
    return 1
}

# The directory holding initdb, pg_ctl and postgres, if there is one.
postgres_bin_dir() {
    local candidates=() dir
    [[ -n ${SPOOL_PG_BIN:-} ]] && candidates+=("$SPOOL_PG_BIN")
    if command -v pg_ctl >/dev/null; then
        candidates+=("$(dirname "$(readlink -f "$(command -v pg_ctl)")")")
    fi
    candidates+=(/usr/lib/postgresql/*/bin /usr/local/pgsql/bin)
    for dir in "${candidates[@]}"; do
        if [[ -x $dir/initdb && -x $dir/pg_ctl && -x $dir/postgres && -x $dir/psql ]]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

# Runs a PostgreSQL tool; as root, as the `postgres` user (the server refuses to run as root).
as_pg() {
    if [[ $EUID -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

work=$(mktemp -d)
# PostgreSQL runs as `postgres` under root: it must reach its data directory inside.
chmod 755 "$work"
server=""
pg_dir=""
stop() {
    if [[ -n "$server" ]]; then
        kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
    fi
    if [[ -n "$pg_dir" ]]; then
        as_pg "$pg_bin/pg_ctl" -D "$pg_dir" -m fast -w stop >/dev/null 2>&1 || true
    elif [[ -n "${BENCH_PG:-}" ]]; then
        psql "$BENCH_PG/postgres" -q -c "drop database if exists $db" || true
    fi
    rm -rf "$work"
}
trap stop EXIT

if [[ -n "${BENCH_PG:-}" ]]; then
    pg=$BENCH_PG
    psql=psql
    psql "$pg/postgres" -q -c "drop database if exists $db" -c "create database $db"
else
    # A throwaway cluster: fsync and synchronous commit on, the settings of Spool's embedded
    # PostgreSQL (src/embedded.rs), plus pg_stat_statements for the statement costs.
    pg_bin=$(postgres_bin_dir) ||
        { echo "run.sh: PostgreSQL binaries (initdb, pg_ctl, postgres, psql) not found; set SPOOL_PG_BIN or BENCH_PG" >&2; exit 1; }
    pg_dir=$work/pg
    mkdir -m 700 "$pg_dir"
    [[ $EUID -ne 0 ]] || chown postgres: "$pg_dir"
    as_pg "$pg_bin/initdb" -D "$pg_dir" -U postgres --auth=trust -E UTF8 --no-locale >/dev/null
    pg_port=$(free_port 15432 15532)
    as_pg "$pg_bin/pg_ctl" -D "$pg_dir" -l "$pg_dir/server.log" -w -t 60 -o "-p $pg_port \
        -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=200 \
        -c shared_buffers=128MB -c autovacuum_naptime=1 -c fsync=on -c synchronous_commit=on \
        -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.max=1000 \
        -c log_min_messages=warning" start >/dev/null
    pg=postgres://postgres@127.0.0.1:$pg_port
    psql=$pg_bin/psql
    "$psql" "$pg/postgres" -q -c "create extension pg_stat_statements" -c "create database $db"
fi
export DATABASE_URL="$pg/$db"

port=$(free_port 19324 19424)

# Thousands of idle long polls need as many descriptors on both ends.
ulimit -n "$(ulimit -Hn)"

# A throwaway master key and an admin token: the load runs authenticated, as in production. The
# token comes with an access key pair, which signs the requests of the SQS door.
export SPOOL_SECRET_KEY=${SPOOL_SECRET_KEY:-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')}
issued=$(target/$profile/spool token create --name bench --scope admin)
SPOOL_TOKEN=$(sed -n 's/^ *export SPOOL_TOKEN=//p' <<<"$issued")
AWS_ACCESS_KEY_ID=$(sed -n 's/^ *AWS_ACCESS_KEY_ID: *//p' <<<"$issued")
AWS_SECRET_ACCESS_KEY=$(sed -n 's/^ *AWS_SECRET_ACCESS_KEY: *//p' <<<"$issued")
unset issued
[[ -n "$SPOOL_TOKEN" && -n "$AWS_ACCESS_KEY_ID" && -n "$AWS_SECRET_ACCESS_KEY" ]] ||
    { echo "run.sh: could not read the token and access key from 'spool token create'" >&2; exit 1; }
export SPOOL_TOKEN AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY

server_log=$work/spool.log
RUST_LOG=${SPOOL_LOG:-warn} target/$profile/spool serve --listen "127.0.0.1:$port" >"$server_log" 2>&1 &
server=$!

for _ in $(seq 1 120); do
    if curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
        break
    fi
    if ! kill -0 "$server" 2>/dev/null; then
        echo "run.sh: Spool exited during start-up:" >&2
        cat "$server_log" >&2
        exit 1
    fi
    sleep 0.5
done

bench=(bench/target/$profile/spool-bench --target "http://127.0.0.1:$port" --server-pid "$server"
    --pg-url "$pg/postgres" --spool-db-url "$DATABASE_URL")
if $smoke; then
    "${bench[@]}" --smoke "$@"
else
    mkdir -p docs
    generated=$work/generated.md
    # The suite unless the arguments name scenarios (repeated options would add to it).
    scenario=(--scenario suite)
    [[ " $* " != *" --scenario"* ]] || scenario=()
    "${bench[@]}" "${scenario[@]}" --markdown "$generated" --json docs/benchmarks.json \
        --chart docs/benchmarks.svg "$@"
    # The document: how it was measured, the generated tables, and the written reading of them
    # (bench/doc-analysis.md quotes a particular run: update it with the numbers).
    { cat bench/doc-head.md; tail -n +2 "$generated"; cat bench/doc-analysis.md; } >docs/benchmarks.md
fi
