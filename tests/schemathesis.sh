#!/usr/bin/env bash
# Property-based API testing of the native API with schemathesis against the committed OpenAPI
# document: every check on except positive_data_acceptance (see docs/reliability.md), bounded
# in examples. Fails on any server error, schema violation or undocumented status code.
#
#     bash tests/schemathesis.sh [MAX_EXAMPLES]
#
# Needs: cargo, python3 with venv, PyPI on the first run, PostgreSQL server binaries (Spool
# runs its embedded cluster in a temporary directory).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MAX_EXAMPLES=${1:-${SCHEMATHESIS_MAX_EXAMPLES:-40}}
SCHEMATHESIS=schemathesis==4.32.5

venv=$ROOT/target/schemathesis-venv
if [[ ! -x $venv/bin/st || ! -f $venv/.installed-$SCHEMATHESIS ]]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$SCHEMATHESIS"
    touch "$venv/.installed-$SCHEMATHESIS"
fi

cargo build --quiet --locked --bin spool
work=$(mktemp -d -t spool-schemathesis.XXXXXX)
chmod 755 "$work"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
SPOOL_DATA_DIR=$work/data SPOOL_LISTEN=127.0.0.1:$port SPOOL_LOG_FORMAT=json RUST_LOG=warn \
    "$ROOT/target/debug/spool" serve >"$work/spool.out" 2>"$work/spool.err" &
spool=$!
cleanup() {
    kill -INT "$spool" 2>/dev/null || true
    wait "$spool" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

for _ in $(seq 300); do
    python3 -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=2)" \
        "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    kill -0 "$spool" 2>/dev/null || { cat "$work/spool.err"; exit 1; }
    sleep 0.1
done
token=$(sed -n 's/.*export SPOOL_TOKEN=//p' "$work/spool.out" | head -1)
[[ -n $token ]] || { echo "no admin token printed"; cat "$work/spool.out"; exit 1; }

# The committed document, so a stale one fails here too (the API test compares it as well).
"$venv/bin/st" run "$ROOT/openapi/openapi.json" --url "http://127.0.0.1:$port" \
    -H "Authorization: Bearer $token" \
    --checks all --exclude-checks positive_data_acceptance \
    --max-examples "$MAX_EXAMPLES" --generation-deterministic --generation-allow-x00 false \
    --request-timeout 30 --max-response-time 25 --no-color
