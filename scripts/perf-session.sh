#!/usr/bin/env bash
# perf-session.sh - one session of the figures issue 11 asks for, on the
# private PostgreSQL cluster of localpg.sh: pgbench baselines on the same
# cluster (TPC-B at 32 clients, single-row INSERT commits at 32 clients),
# then `carbonledger bench` workloads for each binary given, each on a
# fresh database. Run it on a quiet machine; quote ratios, not absolutes.
#
# Usage: scripts/perf-session.sh BINARY [BINARY ...]
# Environment: DURATION (default 20s), WORKLOADS (default
#   "batch uniform hot hot8 ingest"), CARBONLEDGER_PGPORT (default 55432).
set -euo pipefail

[[ $# -ge 1 ]] || { echo "usage: $0 BINARY [BINARY ...]" >&2; exit 2; }
duration=${DURATION:-20s}
secs=${duration%s}
workloads=${WORKLOADS:-batch uniform hot hot8 ingest}
addr=127.0.0.1:18091
# shellcheck source=scripts/perflib.sh
. "$(dirname "${BASH_SOURCE[0]}")/perflib.sh"

echo "== pgbench tpcb clients=32 duration=$duration"
url=$(fresh_db clperf); url=${url%%\?*}
pgbench -q -i -s 32 "$url" >/dev/null 2>&1
pgbench -c 32 -j 2 -T "$secs" -n "$url" 2>/dev/null | grep -E '^(tps|latency)'
echo "== pgbench single-row insert clients=32 duration=$duration"
psql -q "$url" -c "CREATE TABLE ins (id BIGINT, at TIMESTAMPTZ DEFAULT now(), body TEXT)" >/dev/null
printf '%s\n' '\set id random(1, 1000000000)' 'INSERT INTO ins (id, body) VALUES (:id, repeat($$x$$, 100));' >/tmp/perf-insert.sql
pgbench -c 32 -j 2 -T "$secs" -n -f /tmp/perf-insert.sql "$url" 2>/dev/null | grep -E '^(tps|latency)'
drop_db "$url"

args_of() {
	case $1 in
	batch) echo "-workload batch -clients 2 -batch-size 500" ;;
	uniform) echo "-workload uniform -clients 32" ;;
	hot) echo "-workload hot -clients 64" ;;
	hot8) echo "-workload hot -clients 8" ;;
	ingest) echo "-workload ingest -clients 4" ;;
	esac
}

for bin in "$@"; do
	for wl in $workloads; do
		url=$(fresh_db clperf)
		export DATABASE_URL=$url
		"$bin" migrate >/dev/null 2>&1
		"$bin" seed >/dev/null 2>&1
		"$bin" serve >"/tmp/perf-$wl.log" 2>&1 &
		server=$!
		wait_listening || true
		echo "== $bin $wl $(args_of "$wl") duration=$duration"
		# shellcheck disable=SC2046
		"$bin" bench $(args_of "$wl") -duration "$duration" 2>&1 | grep -vE '^bench: (warm|seed)' || echo "bench failed"
		kill "$server"; wait "$server" 2>/dev/null || true
		drop_db "$url"
	done
done
