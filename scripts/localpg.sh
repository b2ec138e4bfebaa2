#!/usr/bin/env bash
# localpg.sh - make sure a real PostgreSQL is reachable and print its URL.
#
# Usage:
#   scripts/localpg.sh run    # private cluster, database "carbonledger"
#   scripts/localpg.sh test   # server on 127.0.0.1:5432 if it trusts us,
#                             # else the private cluster; db "carbonledger_test"
#   scripts/localpg.sh stop   # stop the private cluster (if running)
#
# Only the DATABASE_URL goes to stdout, so callers can write
#   DATABASE_URL=$(scripts/localpg.sh run)
# Everything else (progress, warnings, errors) goes to stderr.
#
# Environment:
#   DATABASE_URL              if set and non-empty, printed as is (run/test)
#   CARBONLEDGER_PGPORT       port of the private cluster (default 55432)
#   CARBONLEDGER_PGSKIP5432=1 in test mode, do not probe 127.0.0.1:5432
#
# The private cluster lives in $REPO/.data (git-ignored). It is idempotent:
# a second call finds the running cluster and only prints the URL.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA_DIR="$REPO/.data"
PGDATA="$DATA_DIR/pg"
SOCKDIR="$DATA_DIR/pgsock"
PGLOG="$DATA_DIR/pg.log"
PORT="${CARBONLEDGER_PGPORT:-55432}"

# Probes must not hang on a half-dead server; psql must not read ~/.psqlrc.
export PGCONNECT_TIMEOUT=5

log() { echo "localpg: $*" >&2; }
die() {
	log "error: $*"
	exit 1
}

usage() {
	echo "usage: $0 run|test|stop" >&2
	exit 2
}

# ---------------------------------------------------------------------------
# Finding the PostgreSQL programs.

# shellcheck source=scripts/pglib.sh
source "$REPO/scripts/pglib.sh"


# install_postgresql installs Debian's server package when we may (root).
install_postgresql() {
	if [[ $EUID -ne 0 ]]; then
		die "PostgreSQL server programs (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin.
  Install PostgreSQL (Debian/Ubuntu: sudo apt-get install -y postgresql) or set DATABASE_URL."
	fi
	command -v apt-get >/dev/null || die "initdb/pg_ctl not found and apt-get is not available; install PostgreSQL or set DATABASE_URL"
	log "initdb/pg_ctl not found; installing postgresql with apt-get"
	# apt's chatter goes to stderr: stdout is reserved for the URL.
	apt-get update >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2
}

# ---------------------------------------------------------------------------
# Running as an unprivileged user: postgres refuses to run as root.

# as_pg, pick_os_user, can_enter and ensure_traversable are in pglib.sh.

# ---------------------------------------------------------------------------
# The private cluster.

# pg_running: is the private cluster's postmaster alive?
pg_running() {
	[[ -f "$PGDATA/PG_VERSION" ]] && as_pg "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1
}

ensure_cluster() {
	find_pgbin || {
		install_postgresql
		find_pgbin || die "postgresql installed but initdb/pg_ctl still not found"
	}
	find_psql || die "psql not found (install the PostgreSQL client, e.g. apt-get install -y postgresql-client)"

	mkdir -p "$DATA_DIR"
	pick_os_user "$PGDATA"

	# Unix socket paths are limited to ~107 bytes; we connect over TCP, but
	# the server still refuses to start if it cannot create its socket.
	if ((${#SOCKDIR} + 20 > 107)); then
		die "socket directory path too long for a unix socket: $SOCKDIR (move the repo to a shorter path)"
	fi

	if [[ ! -f "$PGDATA/PG_VERSION" ]]; then
		log "initialising private cluster in $PGDATA ($("$PGBIN/initdb" --version))"
		mkdir -p "$PGDATA" "$SOCKDIR"
		chmod 700 "$PGDATA"
		if [[ -n "$PGUSER_OS" ]]; then
			chown "$PGUSER_OS" "$PGDATA" "$SOCKDIR"
		fi
		ensure_traversable "$DATA_DIR"
		# trust on loopback only (listen_addresses below): a dev/test cluster.
		as_pg "$PGBIN/initdb" -D "$PGDATA" -A trust -U postgres \
			--encoding=UTF8 --locale=C >"$DATA_DIR/initdb.log" 2>&1 || {
			cat "$DATA_DIR/initdb.log" >&2
			die "initdb failed (see above)"
		}
	fi

	if pg_running; then
		# Reusing a cluster started on another port would print a wrong URL.
		local running_port
		running_port="$(sed -n 4p "$PGDATA/postmaster.pid" 2>/dev/null || true)"
		if [[ -n "$running_port" && "$running_port" != "$PORT" ]]; then
			die "private cluster is running on port $running_port, not $PORT; run '$0 stop' first"
		fi
		log "private cluster already running on 127.0.0.1:$PORT"
	else
		mkdir -p "$SOCKDIR"
		touch "$PGLOG"
		if [[ -n "$PGUSER_OS" ]]; then
			# The server writes the log and the socket itself.
			chown "$PGUSER_OS" "$SOCKDIR" "$PGLOG"
			ensure_traversable "$DATA_DIR"
		fi
		log "starting private cluster on 127.0.0.1:$PORT (log: $PGLOG)"
		# Settings for the ledger's write load (docs/operations.md, "PostgreSQL
		# settings"): commits stay durable (fsync, synchronous_commit on); the
		# WAL settings only space out checkpoints. After a checkpoint the
		# first change of every page writes the whole page to the WAL, so
		# with max_wal_size 1 GB ingest checkpointed every 5-7 s and wrote
		# 15.7 KB of WAL per record, with 8 GB 2.6 KB (issue 11).
		#   max_wal_size=8GB        checkpoints by time, not by WAL volume
		#   checkpoint_timeout=15min fewer checkpoints, so fewer full-page images
		#   wal_compression=lz4     full-page images compressed, cheaply (pglz where
		#                           the server is built without lz4)
		#   checkpoint_completion_target=0.9  spread each checkpoint's writes
		local wal_compression=pglz
		if as_pg "$PGBIN/postgres" -D "$PGDATA" -c wal_compression=lz4 -C wal_compression >/dev/null 2>&1; then
			wal_compression=lz4
		fi
		local pg_settings="-c max_wal_size=8GB -c min_wal_size=1GB -c checkpoint_timeout=15min -c wal_compression=$wal_compression -c checkpoint_completion_target=0.9"
		# pg_ctl runs -o through /bin/sh, hence the quotes around the socket dir.
		if ! as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGLOG" -w -t 60 \
			-o "-c listen_addresses=127.0.0.1 -p $PORT -k '$SOCKDIR' -c fsync=on -c max_connections=200 -c shared_buffers=256MB $pg_settings" \
			start >&2; then
			tail -n 20 "$PGLOG" >&2 || true
			die "could not start PostgreSQL on port $PORT (port taken? set CARBONLEDGER_PGPORT)"
		fi
	fi
}

# ---------------------------------------------------------------------------
# Databases.



url() { echo "postgres://postgres@127.0.0.1:$1/$2?sslmode=disable"; }

# system_pg_ok: does a server on 127.0.0.1:5432 let user postgres in without
# a password?
system_pg_ok() {
	[[ "${CARBONLEDGER_PGSKIP5432:-}" == "1" ]] && return 1
	find_pgbin || true
	find_psql || return 1
	if command -v pg_isready >/dev/null; then
		pg_isready -q -h 127.0.0.1 -p 5432 -t 3 || return 1
	fi
	[[ "$(psql_at 5432 postgres -Atc 'select 1' 2>/dev/null)" == "1" ]]
}

# ---------------------------------------------------------------------------

mode="${1:-}"
case "$mode" in
run | test)
	if [[ -n "${DATABASE_URL:-}" ]]; then
		log "using DATABASE_URL from the environment"
		echo "$DATABASE_URL"
		exit 0
	fi
	;;
stop) ;;
*) usage ;;
esac

case "$mode" in
test)
	if system_pg_ok; then
		log "using the PostgreSQL server on 127.0.0.1:5432"
		ensure_db 5432 carbonledger_test
		url 5432 carbonledger_test
		exit 0
	fi
	log "no trusting server on 127.0.0.1:5432; using the private cluster"
	ensure_cluster
	ensure_db "$PORT" carbonledger_test
	url "$PORT" carbonledger_test
	;;
run)
	ensure_cluster
	ensure_db "$PORT" carbonledger
	url "$PORT" carbonledger
	;;
stop)
	if [[ ! -f "$PGDATA/PG_VERSION" ]]; then
		log "no private cluster in $PGDATA"
		exit 0
	fi
	find_pgbin || die "pg_ctl not found"
	pick_os_user "$PGDATA"
	if pg_running; then
		log "stopping private cluster in $PGDATA"
		as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >&2
	else
		log "private cluster is not running"
	fi
	;;
esac
