# perflib.sh - what perf-session.sh and perf-scale.sh share: the private
# cluster of localpg.sh, a signing key, the server's address, fresh
# databases and waiting for the server. Source it after setting addr.
# shellcheck shell=bash

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
admin=$(CARBONLEDGER_PGSKIP5432=1 "$repo/scripts/localpg.sh" test)
export CARBONLEDGER_SIGNING_KEY=${CARBONLEDGER_SIGNING_KEY:-$(head -c 32 /dev/urandom | base64)}
export CARBONLEDGER_ADDR=$addr CARBONLEDGER_LOG_LEVEL=warn
base="${admin%/*}"

fresh_db() { # fresh_db PREFIX: creates a database and prints its URL
	local db="${1}_$(date +%s%N)"
	psql -q "$admin" -c "CREATE DATABASE $db" >/dev/null
	echo "$base/$db?sslmode=disable"
}
drop_db() { psql -q "$admin" -c "DROP DATABASE $(db_name "$1") WITH (FORCE)" >/dev/null 2>&1 || true; }
db_name() { local u=${1%%\?*}; echo "${u##*/}"; }

wait_listening() { # until the server answers on $addr (10 s at most)
	for _ in $(seq 100); do (exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}") 2>/dev/null && return 0; sleep 0.1; done
	return 1
}
