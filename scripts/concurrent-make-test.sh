#!/usr/bin/env bash
# concurrent-make-test.sh - run two `make test` at once against one
# PostgreSQL server, from two fresh clones of HEAD, and fail unless both
# pass: each run names its own databases (ledgertest, console/e2e/run.sh)
# and drops only its own, so two runs on a shared server cannot break each
# other. Takes about twice one run's time on two cores.
#
# Usage: scripts/concurrent-make-test.sh [make args...]   e.g. FAILOVER=0
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Both use the same server: whatever scripts/localpg.sh test picks here.
DATABASE_URL=${DATABASE_URL:-$("$repo/scripts/localpg.sh" test)}
export DATABASE_URL
echo "concurrent: both runs against ${DATABASE_URL%%\?*}" >&2
pids=()
for run in a b; do
	git clone -q "$repo" "$work/$run"
	(cd "$work/$run" && make test "$@" >"$work/$run.log" 2>&1) &
	pids+=($!)
done
status=0
for i in 0 1; do
	run=$([[ $i == 0 ]] && echo a || echo b)
	if wait "${pids[$i]}"; then
		echo "concurrent: run $run passed" >&2
	else
		echo "concurrent: run $run FAILED; its log's last 40 lines:" >&2
		tail -n 40 "$work/$run.log" >&2
		status=1
	fi
done
exit $status
