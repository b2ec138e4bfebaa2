#!/usr/bin/env bash
# pgpair.sh - a PostgreSQL primary and a synchronous streaming standby on
# loopback, from the system's own binaries, for failover drills and tests.
#
# Usage:
#   scripts/pgpair.sh start         # init (first time) and start both; prints the URL
#   scripts/pgpair.sh url           # the multi-host URL (both nodes, read-write target)
#   scripts/pgpair.sh status        # each node: port, role, running or not
#   scripts/pgpair.sh kill-primary  # kill -9 the primary's postmaster and every backend
#   scripts/pgpair.sh stop-primary  # stop the primary cleanly (a planned switchover)
#   scripts/pgpair.sh promote       # promote the standby; it becomes the primary
#   scripts/pgpair.sh rejoin        # rebuild the old primary as the new primary's standby
#   scripts/pgpair.sh stop          # stop both nodes
#   scripts/pgpair.sh destroy       # stop both and delete the pair's directory
#
# Only URLs go to stdout; progress and errors go to stderr.
#
# Environment:
#   CARBONLEDGER_PGPAIR_DIR    directory of the pair (default $REPO/.data/pgpair)
#   CARBONLEDGER_PGPAIR_PORTS  ports of node a and node b (default "55442,55443")
#   CARBONLEDGER_PGPAIR_DB     database created on the primary (default carbonledger)
#   CARBONLEDGER_PGPAIR_SYNC   synchronous_commit on the primary: on (default: a commit is
#                              acknowledged once the standby has flushed it) or remote_apply
#                              (once the standby has also applied it: reads there see it)
#   CARBONLEDGER_PGPAIR_FSYNC  fsync of both nodes (default on; tests may set off)
#
# Node a starts as the primary, node b as its standby (pg_basebackup -R). A
# node is a standby exactly when its data directory holds standby.signal;
# the primary runs with synchronous_standby_names='*' and the standby with
# none, so a promoted standby does not wait for a standby it does not have
# (it runs alone, without synchronous replication, until `rejoin`).
#
# As root, the nodes run as the postgres user (PostgreSQL refuses root),
# as scripts/localpg.sh does; the pair's directory is chowned to it.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PAIR_DIR="${CARBONLEDGER_PGPAIR_DIR:-$REPO/.data/pgpair}"
PORTS="${CARBONLEDGER_PGPAIR_PORTS:-55442,55443}"
DB="${CARBONLEDGER_PGPAIR_DB:-carbonledger}"
SYNC="${CARBONLEDGER_PGPAIR_SYNC:-on}"
FSYNC="${CARBONLEDGER_PGPAIR_FSYNC:-on}"
PORT_A="${PORTS%%,*}"
PORT_B="${PORTS##*,}"

export PGCONNECT_TIMEOUT=5

log() { echo "pgpair: $*" >&2; }
die() {
	log "error: $*"
	exit 1
}
usage() {
	sed -n '4,14p' "${BASH_SOURCE[0]}" | sed 's/^# //' >&2
	exit 2
}

[[ "$PORT_A" =~ ^[0-9]+$ && "$PORT_B" =~ ^[0-9]+$ && "$PORT_A" != "$PORT_B" ]] ||
	die "CARBONLEDGER_PGPAIR_PORTS must be two different ports, \"A,B\" (got \"$PORTS\")"
case "$SYNC" in on | remote_apply | remote_write) ;; *) die "CARBONLEDGER_PGPAIR_SYNC must be on, remote_apply or remote_write" ;; esac
[[ "$DB" =~ ^[a-z_][a-z0-9_]*$ ]] || die "CARBONLEDGER_PGPAIR_DB must be a plain lower-case name"

# ---------------------------------------------------------------------------
# Programs and the OS user, as in scripts/localpg.sh.

# shellcheck source=scripts/pglib.sh
source "$REPO/scripts/pglib.sh"
{ find_pgbin && [[ -x "$PGBIN/pg_basebackup" ]]; } || die "PostgreSQL server programs (initdb, pg_ctl, pg_basebackup) not found on PATH or in /usr/lib/postgresql/*/bin; install PostgreSQL (Debian: apt-get install -y postgresql) or run scripts/localpg.sh run once as root"
find_psql || die "psql not found"

pick_os_user "$PAIR_DIR"

# ---------------------------------------------------------------------------
# Nodes: "a" on PORT_A, "b" on PORT_B.

data() { echo "$PAIR_DIR/$1/data"; }
port() { if [[ "$1" == a ]]; then echo "$PORT_A"; else echo "$PORT_B"; fi; }
other() { if [[ "$1" == a ]]; then echo b; else echo a; fi; }
initialised() { [[ -f "$(data "$1")/PG_VERSION" ]]; }
is_standby() { [[ -f "$(data "$1")/standby.signal" ]]; }
# postmaster_pid N: the pid in node N's postmaster.pid when that process
# is alive (not a zombie of a kill -9 that its reaper has not collected:
# pg_ctl status would take that for a running server).
postmaster_pid() {
	local pid st
	pid="$(head -n 1 "$(data "$1")/postmaster.pid" 2>/dev/null || true)"
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	st="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
	[[ -n "$st" && "$st" != Z ]] || return 1
	echo "$pid"
}
running() { initialised "$1" && postmaster_pid "$1" >/dev/null; }


# demoted: node N is an old primary whose standby was promoted (its data is
# kept until `rejoin` rebuilds it; it must not come back as a primary).
demoted() { [[ -f "$(data "$1")/pgpair.demoted" ]]; }

# primary_node prints the node that is neither a standby nor demoted (a if
# neither is initialised).
primary_node() {
	local n
	for n in a b; do
		if initialised "$n" && ! is_standby "$n" && ! demoted "$n"; then
			echo "$n"
			return 0
		fi
	done
	echo a
}

# set_sync_names N VALUE appends synchronous_standby_names to node N's
# postgresql.auto.conf (the last occurrence wins). Not a command-line
# option: those would override a later ALTER SYSTEM (`rejoin`).
set_sync_names() {
	echo "synchronous_standby_names = '$2'" | as_pg tee -a "$(data "$1")/postgresql.auto.conf" >/dev/null
}

node_settings() {
	local n="$1"
	# cluster_name is the application_name the standby's walreceiver
	# reports (the primary's synchronous_standby_names '*' takes any).
	echo "-c listen_addresses=127.0.0.1 -p $(port "$n") -k '$PAIR_DIR/$n/sock' -c cluster_name=pgpair_$n" \
		"-c fsync=$FSYNC -c max_connections=120 -c shared_buffers=64MB -c wal_level=replica" \
		"-c max_wal_senders=5 -c hot_standby=on -c wal_keep_size=256MB" \
		"-c synchronous_commit=$SYNC"
}

start_node() {
	local n="$1"
	if running "$n"; then
		log "node $n already running on 127.0.0.1:$(port "$n")"
		return 0
	fi
	mkdir -p "$PAIR_DIR/$n/sock"
	touch "$PAIR_DIR/$n/log"
	[[ -n "$PGUSER_OS" ]] && chown "$PGUSER_OS" "$PAIR_DIR/$n" "$PAIR_DIR/$n/sock" "$PAIR_DIR/$n/log"
	local role=primary
	is_standby "$n" && role=standby
	log "starting node $n ($role) on 127.0.0.1:$(port "$n") (log: $PAIR_DIR/$n/log)"
	if ! as_pg "$PGBIN/pg_ctl" -D "$(data "$n")" -l "$PAIR_DIR/$n/log" -w -t 60 -o "$(node_settings "$n")" start >&2; then
		tail -n 20 "$PAIR_DIR/$n/log" >&2 || true
		die "could not start node $n on port $(port "$n") (port taken? set CARBONLEDGER_PGPAIR_PORTS)"
	fi
}

stop_node() {
	local n="$1"
	if running "$n"; then
		log "stopping node $n"
		as_pg "$PGBIN/pg_ctl" -D "$(data "$n")" -m fast -w -t 60 stop >&2
	fi
}

# basebackup N FROM: node N becomes a fresh standby of node FROM.
basebackup() {
	local n="$1" from="$2"
	rm -rf "${PAIR_DIR:?}/$n"
	mkdir -p "$PAIR_DIR/$n/sock"
	[[ -n "$PGUSER_OS" ]] && chown "$PGUSER_OS" "$PAIR_DIR/$n" "$PAIR_DIR/$n/sock"
	log "node $n: pg_basebackup -R from node $from"
	# -R writes standby.signal and primary_conninfo; -X stream copies the
	# WAL the backup needs; -c fast: do not wait for a spread checkpoint.
	as_pg "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$(port "$from")" -U postgres -D "$(data "$n")" \
		-R -X stream -c fast --no-sync >&2 || die "pg_basebackup of node $n from node $from failed"
	# The copy carries the primary's '*': a standby promoted with it would
	# wait for a standby of its own that it does not have.
	set_sync_names "$n" ""
}

# wait_sync: until the primary reports a synchronous standby (30 s).
wait_sync() {
	local p
	p="$(port "$(primary_node)")"
	for _ in $(seq 300); do
		if [[ "$(psql_at "$p" postgres -Atc "select count(*) from pg_stat_replication where sync_state = 'sync' and state = 'streaming'" 2>/dev/null)" == "1" ]]; then
			return 0
		fi
		sleep 0.1
	done
	die "the standby did not become synchronous within 30 s (see $PAIR_DIR/*/log)"
}


url() {
	echo "postgres://postgres@127.0.0.1:$PORT_A,127.0.0.1:$PORT_B/$DB?sslmode=disable&target_session_attrs=read-write&connect_timeout=3"
}

cmd_start() {
	mkdir -p "$PAIR_DIR"
	[[ -n "$PGUSER_OS" ]] && chown "$PGUSER_OS" "$PAIR_DIR"
	ensure_traversable "$PAIR_DIR"
	if ! initialised a && ! initialised b; then
		mkdir -p "$PAIR_DIR/a/sock"
		[[ -n "$PGUSER_OS" ]] && chown "$PGUSER_OS" "$PAIR_DIR/a" "$PAIR_DIR/a/sock"
		log "initialising node a ($("$PGBIN/initdb" --version))"
		# trust on loopback only: a development and test pair. initdb's
		# pg_hba.conf also trusts loopback replication connections.
		as_pg "$PGBIN/initdb" -D "$(data a)" -A trust -U postgres --encoding=UTF8 --locale=C --no-sync \
			>"$PAIR_DIR/initdb.log" 2>&1 || {
			cat "$PAIR_DIR/initdb.log" >&2
			die "initdb failed"
		}
		set_sync_names a "*"
	fi
	local p s
	p="$(primary_node)"
	s="$(other "$p")"
	start_node "$p"
	# Committed locally: the standby that would acknowledge it is not there yet.
	PGOPTIONS="-c synchronous_commit=local" ensure_db "$(port "$p")" "$DB"
	if initialised "$s" && demoted "$s"; then
		log "node $s is the old primary of a failover; not starting it (run '$0 rejoin' to rebuild it as the standby)"
		log "primary: node $p on 127.0.0.1:$(port "$p"), without a synchronous standby"
		url
		return 0
	fi
	if ! initialised "$s"; then
		basebackup "$s" "$p"
	fi
	start_node "$s"
	wait_sync
	log "primary: node $p on 127.0.0.1:$(port "$p"); synchronous standby: node $s on 127.0.0.1:$(port "$s") (synchronous_commit=$SYNC)"
	url
}

cmd_status() {
	local n state role
	for n in a b; do
		if ! initialised "$n"; then
			echo "node $n 127.0.0.1:$(port "$n") not initialised" >&2
			continue
		fi
		role=primary
		is_standby "$n" && role=standby
		demoted "$n" && role="old-primary (demoted; rejoin rebuilds it)"
		state=stopped
		running "$n" && state=running
		echo "node $n 127.0.0.1:$(port "$n") $role $state" >&2
	done
	local p
	p="$(primary_node)"
	if running "$p"; then
		psql_at "$(port "$p")" postgres -Atc "select 'replication: ' || application_name || ' ' || state || ' ' || sync_state from pg_stat_replication" >&2 || true
	fi
}

cmd_kill_primary() {
	local n pid kids
	n="$(primary_node)"
	running "$n" || die "the primary (node $n) is not running"
	pid="$(postmaster_pid "$n")"
	# The postmaster and every backend at once, as a crash of the machine
	# would take them: none gets to finish a commit or say goodbye.
	kids="$(pgrep -P "$pid" | tr '\n' ' ' || true)"
	log "kill -9 node $n (postmaster $pid and its processes: $kids)"
	# shellcheck disable=SC2086 # kids is a list of pids
	kill -9 "$pid" $kids
	# Gone, or a zombie its reaper has not collected yet (state Z).
	local st
	for _ in $(seq 250); do
		st="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
		[[ -z "$st" || "$st" == Z ]] && return 0
		sleep 0.02
	done
	die "postmaster $pid still alive after kill -9"
}

cmd_stop_primary() {
	local n
	n="$(primary_node)"
	running "$n" || die "the primary (node $n) is not running"
	stop_node "$n"
}

cmd_promote() {
	local p s
	p="$(primary_node)"
	s="$(other "$p")"
	initialised "$s" && is_standby "$s" || die "there is no standby to promote"
	running "$s" || die "the standby (node $s) is not running"
	if running "$p"; then
		log "warning: the primary (node $p) is still running; promoting the standby makes two primaries: stop or fence node $p first"
	fi
	log "promoting node $s"
	as_pg "$PGBIN/pg_ctl" -D "$(data "$s")" -w -t 60 promote >&2
	# Node p no longer counts as the primary: mark it so `start` does not
	# bring it back as a second primary. Its data is kept until `rejoin`.
	if initialised "$p"; then
		as_pg touch "$(data "$p")/pgpair.demoted"
	fi
}

cmd_rejoin() {
	local p s
	p="$(primary_node)"
	s="$(other "$p")"
	initialised "$p" && ! is_standby "$p" || die "no primary to rejoin to"
	running "$p" || die "the primary (node $p) is not running"
	stop_node "$s"
	basebackup "$s" "$p"
	start_node "$s"
	# The primary was a standby (synchronous_standby_names ''): now it has
	# one again.
	psql_at "$(port "$p")" postgres -c "alter system set synchronous_standby_names = '*'" -c "select pg_reload_conf()" >/dev/null
	wait_sync
	log "node $s rejoined as the synchronous standby of node $p"
}

case "${1:-}" in
start) cmd_start ;;
url) url ;;
status) cmd_status ;;
kill-primary) cmd_kill_primary ;;
stop-primary) cmd_stop_primary ;;
promote) cmd_promote ;;
rejoin) cmd_rejoin ;;
stop)
	stop_node a
	stop_node b
	;;
destroy)
	[[ -d "$PAIR_DIR" ]] || exit 0
	stop_node a || log "warning: could not stop node a"
	stop_node b || log "warning: could not stop node b"
	log "deleting $PAIR_DIR"
	rm -rf "${PAIR_DIR:?}"
	;;
*) usage ;;
esac
