#!/usr/bin/env bash
# Where the CPU goes during one benchmark scenario: runs bench/run.sh with the given arguments
# and, once the measured window has started, samples every CPU with `perf record` (the kernel's
# cpu-clock sampler, so it works without hardware counters) for a few seconds. Prints the
# share of samples per process (Spool, PostgreSQL, the load generator, the rest) and, for
# Spool and PostgreSQL, the busiest shared objects and functions, with the kernel's share.
#
#   bench/profile.sh [--delay S] [--seconds S] [--out FILE] [bench/run.sh arguments…]
#
# e.g. `bench/profile.sh --scenario lifecycle --systems spool-sqs --producers 32 --consumers 32
# --batch 1 --duration 20`. --delay is how long after Spool is up to start sampling (default
# 12 s: set-up and warm-up), --seconds how long to sample (default 8 s). The report goes to
# standard output and, with --out, to FILE. bench/run.sh writes docs/benchmarks.* as always:
# restore them with `git checkout docs/` after a profiling run. Needs `perf` (Debian's
# linux-perf) and permission to sample every CPU (root, or kernel.perf_event_paranoid ≤ 0).
set -euo pipefail
cd "$(dirname "$0")/.."

delay=12
seconds=8
out=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --delay) delay=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) break ;;
    esac
done
command -v perf >/dev/null || { echo "profile.sh: perf not found (Debian: linux-perf)" >&2; exit 1; }

work=$(mktemp -d)
runner=""
cleanup() {
    if [[ -n "$runner" ]]; then
        wait "$runner" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

bench/run.sh "$@" >"$work/bench.log" 2>&1 &
runner=$!

# Spool is up once run.sh has started `spool serve`.
spool=""
for _ in $(seq 1 600); do
    spool=$(pgrep -f "target/[a-z]*/spool serve" | head -1 || true)
    if [[ -n "$spool" ]]; then
        break
    fi
    if ! kill -0 "$runner" 2>/dev/null; then
        cat "$work/bench.log" >&2
        echo "profile.sh: bench/run.sh ended before Spool started" >&2
        exit 1
    fi
    sleep 1
done
sleep "$delay"
perf record -a -e cpu-clock -F 999 -o "$work/perf.data" -- sleep "$seconds" >/dev/null 2>&1
wait "$runner" || { cat "$work/bench.log" >&2; echo "profile.sh: bench/run.sh failed" >&2; exit 1; }
runner=""

report() {
    perf report -i "$work/perf.data" --stdio --no-children "$@" 2>/dev/null |
        grep -v '^#' | grep -v '^$' | sed 's/ *-* *-* *$//'
}
# The report reads the heads of long listings: a closed pipe is not a failure.
set +o pipefail

# Folds `perf report --sort dso,symbol` lines into components by the function's crate.
components() {
    python3 -c '
import re, sys
# The first of these crates a symbol names picks its component.
crates = {
    "hyper": "hyper, hyper-util: HTTP/1", "httparse": "hyper, hyper-util: HTTP/1",
    "hyper_util": "hyper, hyper-util: HTTP/1", "http": "hyper, hyper-util: HTTP/1",
    "bytes": "hyper, hyper-util: HTTP/1",
    "axum": "axum, tower, tower-http layers", "axum_core": "axum, tower, tower-http layers",
    "tower": "axum, tower, tower-http layers", "tower_http": "axum, tower, tower-http layers",
    "tower_service": "axum, tower, tower-http layers", "futures_util": "axum, tower, tower-http layers",
    "http_body_util": "axum, tower, tower-http layers",
    "sqlx_core": "sqlx: PostgreSQL protocol, pool", "sqlx_postgres": "sqlx: PostgreSQL protocol, pool",
    "serde": "serde, serde_json", "serde_json": "serde, serde_json",
    "sha2": "SigV4, SHA-256, HMAC, MD5", "hmac": "SigV4, SHA-256, HMAC, MD5", "md5": "SigV4, SHA-256, HMAC, MD5",
    "tokio": "tokio runtime", "tokio_util": "tokio runtime", "parking_lot": "tokio runtime",
    "metrics": "metrics, tracing", "metrics_util": "metrics, tracing",
    "metrics_exporter_prometheus": "metrics, tracing", "tracing": "metrics, tracing",
    "tracing_core": "metrics, tracing", "tracing_subscriber": "metrics, tracing",
    "uuid": "spool: engine, handlers", "chrono": "spool: engine, handlers",
    "spool": "spool: engine, handlers", "matchit": "axum, tower, tower-http layers",
}
totals, other = {}, 0.0
for line in sys.stdin:
    m = re.match(r"\s*([0-9.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)", line)
    if not m:
        continue
    share, dso, kind, symbol = float(m.group(1)), m.group(2), m.group(3), m.group(4)
    if kind == "k":
        group = "kernel: network, syscalls, scheduling"
    elif re.match(r"_?_?mi_|.*(malloc|memmove|memcpy|memset|cfree)", symbol):
        group = "allocator (mimalloc), memmove"
    else:
        names = [c for c in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)::", symbol) if c in crates]
        group = crates.get(names[0]) if names else None
        if "sigv4" in symbol:
            group = "SigV4, SHA-256, HMAC, MD5"
    if group is None:
        other += share
        continue
    totals[group] = totals.get(group, 0.0) + share
for name, share in sorted(totals.items(), key=lambda kv: -kv[1]):
    print(f"  {share:6.1f} %  {name}")
print(f"  {other:6.1f} %  other (libc, std, vdso, unattributed)")
'
}
{
    echo "Busiest threads (% of all samples; 100 % = ${seconds} s of every CPU; Spool is pid"
    echo "$spool, PostgreSQL's processes are 'postgres'; the run's tables have CPU per process):"
    report --sort pid | head -16
    echo
    echo "Spool, by shared object ([kernel.kallsyms] is the kernel working for it):"
    report --pid "$spool" --sort dso | head -8
    echo
    echo "Spool, by component (self time, % of Spool's samples):"
    report --pid "$spool" --sort dso,symbol --percentage relative -g none | components
    echo
    echo "Spool, top functions:"
    report --pid "$spool" --sort dso,symbol | head -45
    echo
    echo "PostgreSQL, by shared object:"
    report --comms postgres --sort dso | head -8
    echo
    echo "PostgreSQL, top functions:"
    report --comms postgres --sort dso,symbol | head -30
    echo
    echo "Load: bench/run.sh $*"
    tail -5 "$work/bench.log"
} | tee ${out:+"$out"}
