#!/usr/bin/env bash
# Builds Spool in release, starts it on a free loopback port against a fresh database on the
# local PostgreSQL, runs the benchmark suite against it and the peers (pgmq, RabbitMQ, Redis),
# writes docs/benchmarks.md, docs/benchmarks.json and docs/benchmarks.svg, and stops the server.
#
#   bench/run.sh [--smoke] [spool-bench arguments…]
#
# --smoke runs the short CI form instead (Spool alone, 2 s) and writes no documents.
# Environment: BENCH_PG (PostgreSQL server URL without a database, default
# postgres://postgres@127.0.0.1:5432), SPOOL_LOG (server log filter, default warn).
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=false
if [[ "${1:-}" == "--smoke" ]]; then
    smoke=true
    shift
fi
pg=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
db=spool_bench

# The smoke form (CI) uses debug builds: it checks that the tool works, not how fast.
if $smoke; then
    profile=debug
    cargo build --quiet
    cargo build --quiet --manifest-path bench/Cargo.toml
else
    profile=release
    cargo build --release --quiet
    cargo build --release --quiet --manifest-path bench/Cargo.toml
fi

# A fresh database for Spool; without psql (or a reachable server) fall back to the embedded one.
data_dir=""
if command -v psql >/dev/null && psql "$pg/postgres" -qAtc "select 1" >/dev/null 2>&1; then
    psql "$pg/postgres" -q -c "drop database if exists $db" -c "create database $db"
    export DATABASE_URL="$pg/$db"
else
    data_dir=$(mktemp -d)
    export SPOOL_DATA_DIR="$data_dir"
    echo "run.sh: no PostgreSQL at $pg; using Spool's embedded PostgreSQL" >&2
fi

port=""
for candidate in $(seq 19324 19424); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
        port=$candidate
        break
    fi
done
[[ -n "$port" ]] || { echo "run.sh: no free port in 19324-19424" >&2; exit 1; }

# Thousands of idle long polls need as many descriptors on both ends.
ulimit -n "$(ulimit -Hn)"

# A throwaway master key and an admin token: the load runs authenticated, as in production. The
# token comes with an access key pair, which signs the requests of `--door sqs`.
export SPOOL_SECRET_KEY=${SPOOL_SECRET_KEY:-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')}
issued=$(target/$profile/spool token create --name bench --scope admin)
SPOOL_TOKEN=$(sed -n 's/^ *export SPOOL_TOKEN=//p' <<<"$issued")
AWS_ACCESS_KEY_ID=$(sed -n 's/^ *AWS_ACCESS_KEY_ID: *//p' <<<"$issued")
AWS_SECRET_ACCESS_KEY=$(sed -n 's/^ *AWS_SECRET_ACCESS_KEY: *//p' <<<"$issued")
unset issued
[[ -n "$SPOOL_TOKEN" && -n "$AWS_ACCESS_KEY_ID" && -n "$AWS_SECRET_ACCESS_KEY" ]] ||
    { echo "run.sh: could not read the token and access key from 'spool token create'" >&2; exit 1; }
export SPOOL_TOKEN AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY

server_log=$(mktemp)
RUST_LOG=${SPOOL_LOG:-warn} target/$profile/spool serve --listen "127.0.0.1:$port" >"$server_log" 2>&1 &
server=$!
stop() {
    kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
    if [[ -n "${DATABASE_URL:-}" ]]; then
        psql "$pg/postgres" -q -c "drop database if exists $db" || true
    fi
    [[ -z "$data_dir" ]] || rm -rf "$data_dir"
    rm -f "$server_log"
}
trap stop EXIT

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

bench=(bench/target/$profile/spool-bench --target "http://127.0.0.1:$port" --server-pid "$server")
if $smoke; then
    "${bench[@]}" --smoke "$@"
else
    mkdir -p docs
    generated=$(mktemp)
    "${bench[@]}" --scenario suite --markdown "$generated" --json docs/benchmarks.json \
        --chart docs/benchmarks.svg "$@"
    # The document: how it was measured, the generated tables, and the written reading of them
    # (bench/doc-analysis.md quotes a particular run: update it with the numbers).
    { cat bench/doc-head.md; tail -n +2 "$generated"; cat bench/doc-analysis.md; } >docs/benchmarks.md
    rm -f "$generated"
fi
