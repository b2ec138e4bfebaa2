#!/usr/bin/env bash
# bench-compare.sh - measure two builds of carbonledger side by side, in one
# session, on the same PostgreSQL, so a change's effect is a ratio and not
# two figures from different days.
#
# Usage:
#   scripts/bench-compare.sh OLD_BINARY NEW_BINARY [ROUNDS]
#
# For each round and each workload (hot at 64 clients, uniform at 32,
# ingest at 4), each binary in turn gets a freshly created database,
# `migrate`, `seed`, `serve`, then `bench`; the builds alternate so drift
# of the machine during the session falls on both. Output: one line per run
# and the bench tool's own summary lines. Loopback only, bounded by
# DURATION (default 20s) per run.
#
# Environment: DURATION, WORKLOADS (default "hot uniform ingest"),
# CARBONLEDGER_PGPORT (private cluster port, default 55432, as localpg.sh).
set -euo pipefail

old=${1:?usage: $0 OLD_BINARY NEW_BINARY [ROUNDS]}
new=${2:?usage: $0 OLD_BINARY NEW_BINARY [ROUNDS]}
rounds=${3:-1}
duration=${DURATION:-20s}
workloads=${WORKLOADS:-hot uniform ingest}
addr=127.0.0.1:18090
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

admin=$(CARBONLEDGER_PGSKIP5432=1 "$repo/scripts/localpg.sh" test)
export CARBONLEDGER_SIGNING_KEY=${CARBONLEDGER_SIGNING_KEY:-$(head -c 32 /dev/urandom | base64)}
export CARBONLEDGER_ADDR=$addr CARBONLEDGER_LOG_LEVEL=warn

clients_of() {
	case $1 in hot) echo 64 ;; uniform) echo 32 ;; *) echo 4 ;; esac
}

run_one() { # binary label workload
	local bin=$1 label=$2 wl=$3 db url server
	db="clbench_$(date +%s%N)"
	psql -q "$admin" -c "CREATE DATABASE $db" >/dev/null
	url="${admin%/*}/$db?sslmode=disable"
	url="${url%%\?*}?sslmode=disable"
	export DATABASE_URL=$url
	"$bin" migrate >/dev/null 2>&1
	"$bin" seed >/dev/null 2>&1
	"$bin" serve >"/tmp/bench-$label-$wl.log" 2>&1 &
	server=$!
	for _ in $(seq 100); do (exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}") 2>/dev/null && break; sleep 0.1; done
	echo "== $label $wl clients=$(clients_of "$wl") duration=$duration"
	"$bin" bench -workload "$wl" -clients "$(clients_of "$wl")" -duration "$duration" || echo "bench failed"
	kill "$server"
	wait "$server" 2>/dev/null || true
	psql -q "$admin" -c "DROP DATABASE $db WITH (FORCE)" >/dev/null
}

for r in $(seq "$rounds"); do
	for wl in $workloads; do
		run_one "$old" "old" "$wl"
		run_one "$new" "new" "$wl"
	done
done
