#!/usr/bin/env bash
# run.sh - the console's end-to-end journeys (journeys.test.js) in headless
# Chromium, against a real server on a fresh database: migrate, seed (the
# demo data `make run` shows), serve, then `node --test`. Screenshots of
# every page go to console/e2e/artifacts/ (kept after the run).
#
# Needs: node and npm (packages from package-lock.json), Debian's chromium
# at /usr/bin/chromium (installed with apt-get when missing and we are
# root, as in CI), and the PostgreSQL scripts/localpg.sh test finds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
log() { echo "e2e: $*" >&2; }

export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [[ ! -x $CHROMIUM ]]; then
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		log "installing Debian's chromium"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
	else
		log "error: no $CHROMIUM; install Debian's chromium package (apt-get install chromium) or set CHROMIUM"
		exit 1
	fi
fi
# Chinese glyphs for the screenshots: Debian's chromium brings no CJK font.
if command -v fc-list >/dev/null && [[ -z $(fc-list :lang=zh 2>/dev/null) ]] && [[ $(id -u) == 0 ]]; then
	log "installing a CJK font (fonts-wqy-zenhei) for the screenshots"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q fonts-wqy-zenhei >/dev/null || log "warning: no CJK font; Chinese shows as boxes in the screenshots"
fi
cd "$here"
if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
	log "npm ci"
	npm ci --no-audit --no-fund --loglevel=error >&2
fi
"$repo/console/vendor.sh" --check

cd "$repo"
go build -o "$here/.bin/carbonledger" ./cmd/carbonledger
bin=$here/.bin/carbonledger
base=${CARBONLEDGER_E2E_DATABASE_URL:-$(scripts/localpg.sh test)}
db=cle2e_$(date +%s)_$$
export DATABASE_URL=$(node -e 'const u = new URL(process.argv[1]); u.pathname = "/" + process.argv[2]; console.log(u.href)' "$base" "$db")
psql -q -X -d "$base" -c "CREATE DATABASE $db" >/dev/null
work=$(mktemp -d)
export CARBONLEDGER_SIGNING_KEY_FILE=$work/signing.key
port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
export CARBONLEDGER_ADDR=127.0.0.1:$port
pid=
cleanup() {
	[[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	psql -q -X -d "$base" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

"$bin" migrate >/dev/null 2>&1
"$bin" seed >"$work/seed.out" 2>"$work/seed.err" || { cat "$work/seed.err" >&2; exit 1; }
# The tokens seed prints, one per person of the demo (PROVINCE is p-li,
# the checker; PROVINCE_MAKER p-zhao, the correction's maker; ENTERPRISE_E2
# the buyer of E1's open offer).
eval "$(grep '^export [A-Z0-9_]*_TOKEN=' "$work/seed.out")"
grep -q '/console/' "$work/seed.out" || { log "error: seed printed no console URL"; exit 1; }
"$bin" serve --dev >"$work/serve.log" 2>&1 &
pid=$!
ready() { node -e "fetch(process.argv[1]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))" "http://$CARBONLEDGER_ADDR/readyz"; }
for _ in $(seq 50); do ready && break; sleep 0.2; done
ready || { cat "$work/serve.log" >&2; exit 1; }
export CONSOLE_BASE=http://$CARBONLEDGER_ADDR
log "server on $CONSOLE_BASE, database $db"
cd "$here"
rm -rf artifacts && mkdir -p artifacts
status=0
node --test --test-concurrency=1 --test-reporter=spec journeys.test.js || status=$?
if [[ $status != 0 ]]; then
	log "server log (last 40 lines):"
	tail -n 40 "$work/serve.log" >&2
fi
log "screenshots in console/e2e/artifacts/"
exit $status
