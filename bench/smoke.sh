#!/usr/bin/env bash
# The CI form of the benchmark: builds Spool and the load generator, starts Spool on a free port,
# drives it for 2 seconds with a tiny load, and fails if no message made it through.
exec "$(dirname "$0")/run.sh" --smoke "$@"
