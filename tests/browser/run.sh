#!/usr/bin/env bash
# The dashboard's end-to-end test: starts Spool on its embedded PostgreSQL in a scratch data
# directory (as a newcomer would), takes the admin token it prints, and runs the browser test
# against it with the system's Chromium. Screenshots land in target/browser/.
#
#     bash tests/browser/run.sh        # needs: chromium, node + npm, PostgreSQL binaries
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root=$PWD

cargo build --quiet --bin spool
(cd tests/browser && npm ci --no-audit --no-fund --silent)

work=$(mktemp -d -t spool-browser.XXXXXX)
# The embedded cluster runs as the postgres user under root: it must reach its data directory.
chmod 755 "$work"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$root/target/debug/spool" serve --data-dir "$work/data" --listen "127.0.0.1:$port" >"$work/spool.log" 2>&1 &
spool_pid=$!
stop() {
    kill -TERM "$spool_pid" 2>/dev/null || true
    wait "$spool_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap stop EXIT

for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$spool_pid" 2>/dev/null; then cat "$work/spool.log"; exit 1; fi
    sleep 0.5
done
token=$(sed -n 's/^ *export SPOOL_TOKEN=//p' "$work/spool.log" | head -n 1)
if [[ -z $token ]]; then
    echo "Spool printed no first admin token:" >&2
    cat "$work/spool.log" >&2
    exit 1
fi

status=0
SPOOL_URL="http://127.0.0.1:$port" SPOOL_TOKEN=$token \
    node --test --test-reporter=spec tests/browser/dashboard.test.mjs | tee "$work/node.log" || status=$?
# The totals as one plain line (CI adds up such lines across test runners).
passed=$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$work/node.log")
failed=$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' "$work/node.log")
echo "${passed:-0} passed, ${failed:-0} failed"
if [[ $status -ne 0 ]]; then
    echo "--- Spool's log ---" >&2
    tail -n 50 "$work/spool.log" >&2
fi
exit "$status"
