# pglib.sh - shared by scripts/localpg.sh and scripts/pgpair.sh (sourced,
# not run): finding the PostgreSQL server programs, and running them as an
# unprivileged OS user when we are root (PostgreSQL refuses root).
# The sourcing script defines log, die and REPO first.

PGBIN=""     # directory holding initdb and pg_ctl
PSQL=""      # psql client
PGUSER_OS="" # OS user that owns and runs the clusters ("" = ourselves)

# find_pgbin sets PGBIN to a directory with initdb and pg_ctl: the one on
# PATH if both are there, else the newest /usr/lib/postgresql/*/bin (Debian
# keeps the server programs off PATH).
find_pgbin() {
	local initdb pgctl dir
	initdb="$(command -v initdb || true)"
	pgctl="$(command -v pg_ctl || true)"
	if [[ -n "$initdb" && -n "$pgctl" ]]; then
		# Resolve symlinks so initdb and pg_ctl come from the same version.
		dir="$(dirname "$(readlink -f "$initdb")")"
		if [[ -x "$dir/pg_ctl" ]]; then
			PGBIN="$dir"
		else
			PGBIN="$(dirname "$initdb")"
		fi
		return 0
	fi
	# (An unmatched glob stays literal and fails the -x test below.)
	dir="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
	if [[ -n "$dir" && -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
		PGBIN="$dir"
		return 0
	fi
	return 1
}

# as_pg runs a command as PGUSER_OS (or directly when we are not root).
# It runs from / so the server does not warn about an unreadable cwd (/root).
as_pg() {
	if [[ -z "$PGUSER_OS" ]]; then
		"$@"
	elif command -v runuser >/dev/null; then
		(cd / && runuser -u "$PGUSER_OS" -- "$@")
	else
		(cd / && su "$PGUSER_OS" -s /bin/sh -c "$(printf '%q ' "$@")")
	fi
}

# pick_os_user DIR chooses who runs the clusters when we are root: the
# owner of DIR (an existing data directory), else "postgres" if it exists,
# else a system user "carbonledger" that we create.
pick_os_user() {
	[[ $EUID -eq 0 ]] || return 0
	local owner=""
	if [[ -d "$1" ]]; then
		owner="$(stat -c %U "$1")"
	fi
	if [[ -n "$owner" && "$owner" != "root" && "$owner" != "UNKNOWN" ]]; then
		PGUSER_OS="$owner"
	elif id -u postgres >/dev/null 2>&1; then
		PGUSER_OS="postgres"
	else
		if ! id -u carbonledger >/dev/null 2>&1; then
			log "creating system user carbonledger to run PostgreSQL (it refuses to run as root)"
			useradd -r -M -d /nonexistent -s /usr/sbin/nologin carbonledger >&2
		fi
		PGUSER_OS="carbonledger"
	fi
}

# can_enter DIR: may PGUSER_OS cd into DIR? (sh's builtin test: no PATH lookup)
# shellcheck disable=SC2016 # $1 is expanded by the inner sh
can_enter() { as_pg /bin/sh -c 'test -x "$1"' sh "$1" 2>/dev/null; }

# ensure_traversable DIR makes sure PGUSER_OS can reach DIR. We only ever
# loosen the repo, its .data and what is below, or a directory under /tmp
# (o+x: enter, not list or read); for other directories above we warn and
# let the start fail with a clear log. Outer directories first: an inner
# one cannot be entered through an outer one that cannot.
ensure_traversable() {
	[[ -n "$PGUSER_OS" ]] || return 0
	local dir="$1" chain=()
	while [[ "$dir" != "/" ]]; do
		chain=("$dir" "${chain[@]}")
		dir="$(dirname "$dir")"
	done
	for dir in "${chain[@]}"; do
		can_enter "$dir" && continue
		case "$dir" in
		"$REPO" | "$REPO/.data" | "$REPO/.data/"* | /tmp/*)
			log "chmod o+x $dir so $PGUSER_OS can reach $1"
			chmod o+x "$dir"
			;;
		*) log "warning: $dir is not traversable by user $PGUSER_OS; PostgreSQL will fail to start (chmod o+x $dir, or move the repo)" ;;
		esac
	done
}

# find_psql sets PSQL: psql on PATH, else the one next to initdb.
find_psql() {
	PSQL="$(command -v psql || true)"
	if [[ -z "$PSQL" && -n "$PGBIN" && -x "$PGBIN/psql" ]]; then
		PSQL="$PGBIN/psql"
	fi
	[[ -n "$PSQL" ]]
}

# psql_at PORT DB ARGS... runs psql over TCP loopback as the postgres role.
psql_at() {
	local port="$1" db="$2"
	shift 2
	"$PSQL" -X -q -h 127.0.0.1 -p "$port" -U postgres -d "$db" -v ON_ERROR_STOP=1 "$@"
}

# ensure_db PORT NAME creates database NAME if missing. A concurrent caller
# may win the race to create it; that is fine as long as it exists after.
ensure_db() {
	local port="$1" name="$2" q
	q="select 1 from pg_database where datname = '$name'"
	if [[ "$(psql_at "$port" postgres -Atc "$q")" == "1" ]]; then
		return 0
	fi
	log "creating database $name on 127.0.0.1:$port"
	local out
	if ! out="$(psql_at "$port" postgres -c "create database \"$name\"" 2>&1)" &&
		[[ "$(psql_at "$port" postgres -Atc "$q")" != "1" ]]; then
		echo "$out" >&2
		die "could not create database $name on 127.0.0.1:$port"
	fi
}
