#!/usr/bin/env bash
# perf-scale.sh - issue 11's figures at a province's size, on the private
# PostgreSQL cluster of localpg.sh (its documented settings), one database:
#
#   1. fill the journal to FILL_POSTINGS postings with the batch workload;
#   2. a full verification of it (rate from its last progress line), and
#      OLD's verification of the same journal when OLD is given (before);
#   3. INCR of ingest (default 1m) and an incremental verification of it;
#   4. ingest for INGEST (default 10m, 1,000,000 citizens, 1-minute
#      windows) with `bench -workload me -rate 100` beside it the whole
#      time (GET /v1/me p99 under ingest);
#   5. the batch workload for 30 s alone, then 30 s again with a full
#      verification running beside it (writes during a full verify).
#
# Usage: scripts/perf-scale.sh NEW_BINARY [OLD_BINARY]
# Environment: CARBONLEDGER_PGPORT (default 55432), FILL_POSTINGS
#   (10000000), INGEST (10m), INCR (1m). Run it on a quiet machine; it
#   takes about 40 minutes on 2 cores.
set -euo pipefail

[[ $# -ge 1 ]] || { echo "usage: $0 NEW_BINARY [OLD_BINARY]" >&2; exit 2; }
bin=$1
old=${2:-}
fill=${FILL_POSTINGS:-10000000}
ingest=${INGEST:-10m}
incr=${INCR:-1m}
addr=127.0.0.1:18092
# shellcheck source=scripts/perflib.sh
. "$(dirname "${BASH_SOURCE[0]}")/perflib.sh"
DATABASE_URL=$(fresh_db clscale)
export DATABASE_URL
db=$(db_name "$DATABASE_URL")
log=/tmp/perf-scale-$db
mkdir -p "$log"
echo "== database $db, logs in $log"

postings() { psql -At "$DATABASE_URL" -c "SELECT count(*) FROM postings"; }
stamp() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
bench() { "$bin" bench "$@" 2>&1 | grep --line-buffered -vE '^bench: (warm|seed)'; }

"$bin" migrate >/dev/null
"$bin" seed >/dev/null
"$bin" serve >"$log/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
wait_listening || { echo "the server did not start: $log/serve.log" >&2; exit 1; }

echo "== 1. fill to $fill postings (bench -workload batch -clients 2 -batch-size 1000, 120 s rounds)"
t0=$(stamp)
while (($(postings) < fill)); do
	bench -workload batch -clients 2 -batch-size 1000 -duration 120s -window 120s | grep RESULT
done
echo "filled: $(postings) postings in $(secs "$t0" "$(stamp)") s"

echo "== 2. full verification (carbonledger verify -full)"
t0=$(stamp)
"$bin" verify -full >"$log/verify-full.out" 2>"$log/verify-full.err" || echo "verify -full exit $?"
echo "verify -full: $(secs "$t0" "$(stamp)") s; $(tail -1 "$log/verify-full.err")"
head -2 "$log/verify-full.out"
if [[ -n "$old" ]]; then
	echo "== 2b. the same journal with OLD's verify ($old)"
	t0=$(stamp)
	"$old" verify >"$log/verify-old.out" 2>&1 && echo "old verify: ok" || echo "old verify: exit $?"
	echo "old verify: $(secs "$t0" "$(stamp)") s; $(tail -1 "$log/verify-old.out" | cut -c1-300)"
fi

echo "== 3. $incr of ingest after the full verification's mark, then an incremental verification"
before=$(postings)
bench -workload ingest -clients 4 -batch-size 1000 -citizens 1000000 -duration "$incr" | grep RESULT
echo "new postings: $(($(postings) - before)) (and those of the 2-minute overlap before the mark)"
t0=$(stamp)
"$bin" verify >"$log/verify-incr.out" 2>"$log/verify-incr.err" || echo "verify exit $?"
echo "verify: $(secs "$t0" "$(stamp)") s; $(tail -1 "$log/verify-incr.err")"
head -2 "$log/verify-incr.out"

echo "== 4. ingest $ingest at $(postings) postings, GET /v1/me at 100/s beside it"
# The me run starts when the ingest run has seeded its citizens, so the two
# measure the same minutes.
bench -workload ingest -clients 4 -batch-size 1000 -citizens 1000000 -duration "$ingest" -window 1m >"$log/ingest.out" 2>&1 &
ing=$!
until grep -q 'citizens ready' "$log/ingest.out" 2>/dev/null || ! kill -0 $ing 2>/dev/null; do sleep 1; done
sleep 2 # the ingest run's warm-up
bench -workload me -clients 10 -rate 100 -duration "$ingest" -warmup 1s >"$log/me.out" 2>&1 || true
wait $ing || true
grep -E '^(WINDOW|RESULT)' "$log/ingest.out" || tail -5 "$log/ingest.out"
grep -E 'RESULT' "$log/me.out" || tail -3 "$log/me.out"

echo "== 5. batch 30 s alone, then beside a full verification"
bench -workload batch -clients 2 -batch-size 500 -duration 30s -window 30s | grep RESULT
"$bin" verify -full -quiet >"$log/verify-beside.out" 2>&1 &
v=$!
bench -workload batch -clients 2 -batch-size 500 -duration 30s -window 30s | grep RESULT
kill -0 $v 2>/dev/null && echo "(verify -full still running after the batch run)"
kill $v 2>/dev/null || true # its rate is step 2's; only the batch figure matters here
wait $v 2>/dev/null || true
echo "== done: $(postings) postings; database $db kept (drop it with: psql '$admin' -c 'DROP DATABASE $db')"
