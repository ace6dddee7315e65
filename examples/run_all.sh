#!/usr/bin/env bash
# Runs every example against a fresh Spool server, as CI does:
#
#     examples/run_all.sh [python|sqs_fanout|rest_fanout|shell ...]
#
# Builds Spool, creates an admin token (its bearer token and its AWS key pair), starts
# `spool serve` on a free port and runs the examples named (all by default) against it. boto3
# goes into its own virtualenv under target/ (created once, then reused).
#
# The server uses DATABASE_URL when it is set (in a fresh database created on that server, and
# dropped afterwards), otherwise its embedded PostgreSQL in a temporary data directory.
# Needs: cargo, python3 with venv, curl, jq, network access to PyPI on the first run.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
EXAMPLES=("$@")
[[ ${#EXAMPLES[@]} -gt 0 ]] || EXAMPLES=(python sqs_fanout rest_fanout shell)

log() { echo "[examples] $*"; }

cargo build --quiet --bin spool --example sqs_fanout --example rest_fanout
BIN=$ROOT/target/debug/spool

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
WORK=$(mktemp -d)
chmod 755 "$WORK"
SERVER_PID=
EXAMPLES_DB=

cleanup() {
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ -n $EXAMPLES_DB ]]; then
        psql "$DATABASE_URL" -qc "drop database if exists $EXAMPLES_DB with (force)" >/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

SERVER_ENV=()
if [[ -n ${DATABASE_URL:-} ]]; then
    EXAMPLES_DB=spool_examples_$(date +%s)_$$
    psql "$DATABASE_URL" -qc "create database $EXAMPLES_DB" >/dev/null
    SERVER_ENV=(DATABASE_URL="$(python3 - "$DATABASE_URL" "$EXAMPLES_DB" <<'EOF'
import sys
from urllib.parse import urlsplit, urlunsplit
parts = urlsplit(sys.argv[1])
print(urlunsplit(parts._replace(path="/" + sys.argv[2])))
EOF
)")
    log "server on a fresh database $EXAMPLES_DB"
else
    SERVER_ENV=(SPOOL_DATA_DIR="$WORK/pgdata")
    log "server on an embedded PostgreSQL in $WORK/pgdata"
fi

# One admin token serves both doors: its bearer token (REST) and its key pair (SQS, SigV4).
SERVER_ENV+=(SPOOL_SECRET_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')")
TOKEN_OUT=$(env "${SERVER_ENV[@]}" RUST_LOG=warn "$BIN" token create --name examples --scope admin)
SPOOL_TOKEN=$(echo "$TOKEN_OUT" | sed -n 's/^ *export SPOOL_TOKEN=//p')
AWS_ACCESS_KEY_ID=$(echo "$TOKEN_OUT" | sed -n 's/^ *AWS_ACCESS_KEY_ID: *//p')
AWS_SECRET_ACCESS_KEY=$(echo "$TOKEN_OUT" | sed -n 's/^ *AWS_SECRET_ACCESS_KEY: *//p')
export SPOOL_TOKEN AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
[[ -n $SPOOL_TOKEN && -n $AWS_ACCESS_KEY_ID && -n $AWS_SECRET_ACCESS_KEY ]] || { log "no token created"; exit 1; }

env "${SERVER_ENV[@]}" RUST_LOG=warn "$BIN" serve --listen "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
export SPOOL_URL=http://127.0.0.1:$PORT
for _ in $(seq 1 120); do
    if curl -sf "$SPOOL_URL/readyz" >/dev/null; then
        break
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        cat "$WORK/server.log"
        log "the server exited"
        exit 1
    fi
    sleep 0.5
done
log "server at $SPOOL_URL"

run_python() {
    local venv=$ROOT/target/examples-venv requirements=$ROOT/examples/python/requirements.txt
    local stamp="$venv/.installed-$(md5sum <"$requirements" | cut -c1-12)"
    if [[ ! -f $stamp ]]; then
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
        touch "$stamp"
    fi
    "$venv/bin/python" "$ROOT/examples/python/fanout.py"
}

run_example() {
    case $1 in
        python) run_python ;;
        sqs_fanout | rest_fanout) "$ROOT/target/debug/examples/$1" ;;
        shell) bash "$ROOT/examples/shell/fanout.sh" ;;
        *) log "unknown example $1" && return 1 ;;
    esac
}

passed=0
failed=0
for example in "${EXAMPLES[@]}"; do
    log "--- $example"
    if run_example "$example"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        log "$example FAILED"
    fi
done
if [[ $failed -ne 0 ]]; then
    log "server log:"
    tail -50 "$WORK/server.log"
fi
log "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
