#!/usr/bin/env bash
# Runs tests/sqs_scenario.py against a freshly started `spool serve`:
#   1. with current boto3 and aws-cli v1 (AWS JSON protocol),
#   2. with a Query-era boto3/botocore 1.34.89 and aws-cli 1.32.89 (form in, XML out),
#   3. its aws-cli steps with Debian's aws-cli v2.9 (Query protocol), when that is installed.
# Each client set lives in its own virtualenv under target/ (created once, then reused).
#
# The server uses DATABASE_URL when it is set (in a fresh database created on that server, and
# dropped afterwards), otherwise its embedded PostgreSQL in a temporary data directory.
# Needs: cargo, python3 with venv, network access to PyPI on the first run.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
CURRENT_CLIENTS=(boto3==1.44.3 botocore==1.44.3 awscli==1.46.3)
QUERY_CLIENTS=(boto3==1.34.89 botocore==1.34.89 awscli==1.32.89)

log() { echo "[sqs-scenario] $*"; }

cargo build --quiet --bin spool
BIN=$ROOT/target/debug/spool

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
WORK=$(mktemp -d)
chmod 755 "$WORK"
SERVER_PID=
SCENARIO_DB=

cleanup() {
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ -n $SCENARIO_DB ]]; then
        psql "$DATABASE_URL" -qc "drop database if exists $SCENARIO_DB with (force)" >/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

SERVER_ENV=()
if [[ -n ${DATABASE_URL:-} ]]; then
    SCENARIO_DB=spool_scenario_$(date +%s)_$$
    psql "$DATABASE_URL" -qc "create database $SCENARIO_DB" >/dev/null
    SERVER_ENV=(DATABASE_URL="$(python3 - "$DATABASE_URL" "$SCENARIO_DB" <<'EOF'
import sys
from urllib.parse import urlsplit, urlunsplit
parts = urlsplit(sys.argv[1])
print(urlunsplit(parts._replace(path="/" + sys.argv[2])))
EOF
)")
    log "server on a fresh database $SCENARIO_DB"
else
    SERVER_ENV=(SPOOL_DATA_DIR="$WORK/pgdata")
    log "server on an embedded PostgreSQL in $WORK/pgdata"
fi

# Real credentials: the server verifies SigV4 against an API token's key pair.
SERVER_ENV+=(SPOOL_SECRET_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')")
TOKEN_OUT=$(env "${SERVER_ENV[@]}" "$BIN" token create --name scenario --scope admin)
AWS_ACCESS_KEY_ID=$(echo "$TOKEN_OUT" | sed -n 's/^ *AWS_ACCESS_KEY_ID: *//p')
AWS_SECRET_ACCESS_KEY=$(echo "$TOKEN_OUT" | sed -n 's/^ *AWS_SECRET_ACCESS_KEY: *//p')
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
[[ -n $AWS_ACCESS_KEY_ID && -n $AWS_SECRET_ACCESS_KEY ]] || { log "no token created"; exit 1; }

env "${SERVER_ENV[@]}" "$BIN" serve --listen "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
URL=http://127.0.0.1:$PORT
for _ in $(seq 1 120); do
    if python3 -c "import urllib.request; urllib.request.urlopen('$URL/healthz', timeout=1)" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        cat "$WORK/server.log"
        log "the server exited"
        exit 1
    fi
    sleep 0.5
done
log "server at $URL"

# run_with VENV PACKAGES...: installs the packages into target/VENV once, then runs the scenario.
run_with() {
    local venv=$ROOT/target/$1
    shift
    local stamp="$venv/.installed-$(echo "$*" | tr ' =' '_-')"
    if [[ ! -f $stamp ]]; then
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
        touch "$stamp"
    fi
    log "scenario with $*"
    PATH="$venv/bin:$PATH" SPOOL_URL=$URL "$venv/bin/python" "$ROOT/tests/sqs_scenario.py"
}

passed=0
failed=0
record() { if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi; }
record run_with sqs-venv-json "${CURRENT_CLIENTS[@]}"
record run_with sqs-venv-query "${QUERY_CLIENTS[@]}"
# Debian's aws-cli v2 (2.9, `apt-get install awscli`) still speaks the Query protocol: a second
# real client for it, when installed.
if /usr/bin/aws --version 2>/dev/null | grep -q '^aws-cli/2'; then
    log "aws-cli steps with Debian's $(/usr/bin/aws --version)"
    record env AWS_CLI=/usr/bin/aws SPOOL_URL="$URL" \
        "$ROOT/target/sqs-venv-query/bin/python" "$ROOT/tests/sqs_scenario.py" --cli-only
fi
if [[ $failed -ne 0 ]]; then
    log "server log:"
    tail -50 "$WORK/server.log"
fi
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
