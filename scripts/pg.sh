#!/bin/sh
# pg.sh - the private PostgreSQL cluster of the demo and the tests.
#
#   scripts/pg.sh start|stop|status|conninfo|psql [args]
#
# The cluster lives under ./var/pg (data, socket, log), listens on a Unix
# socket only (listen_addresses = ''), and runs as an unprivileged user:
# PostgreSQL refuses to run as root, and CI runs as root, so as root we run it
# as the system user `tocsin-pg` (created when missing). start and stop are
# idempotent. The server log is kept in var/pg/postgresql.log.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
var="$top/var/pg"
data="$var/data"
sock="$var/run"
log="$var/postgresql.log"
port="${TOCSIN_PG_PORT:-5439}"
db="${TOCSIN_PG_DB:-tocsin}"
pguser=tocsin-pg

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bindir" ] || { echo "pg: no PostgreSQL server found; run 'make deps'" >&2; exit 1; }

as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$pguser" -- "$@"
	else
		"$@"
	fi
}

conninfo() {
	echo "host=$sock port=$port dbname=$db user=tocsin"
}

ensure_user() {
	[ "$(id -u)" -eq 0 ] || return 0
	if ! id "$pguser" >/dev/null 2>&1; then
		useradd --system --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin "$pguser"
	fi
	# The unprivileged user must be able to reach ./var: every directory
	# above it needs search permission for others.
	d="$top"
	while [ "$d" != "/" ]; do
		if ! runuser -u "$pguser" -- test -x "$d"; then
			echo "pg: $pguser cannot enter $d; allowing search (chmod o+x)" >&2
			chmod o+x "$d"
		fi
		d=$(dirname "$d")
	done
}

running() {
	[ -f "$data/postmaster.pid" ] && as_pg "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1
}

start() {
	ensure_user
	mkdir -p "$var"
	[ "$(id -u)" -eq 0 ] && chown "$pguser" "$var"
	if [ ! -f "$data/PG_VERSION" ]; then
		echo "pg: initdb in $data"
		as_pg "$bindir/initdb" -D "$data" -U tocsin --auth=trust \
			--encoding=UTF8 --locale=C.UTF-8 >"$var/initdb.log" 2>&1 ||
			{ cat "$var/initdb.log" >&2; exit 1; }
	fi
	as_pg mkdir -p "$sock"
	as_pg chmod 0700 "$sock"
	if running; then
		:
	else
		# A stale pid file from a killed machine is handled by pg_ctl itself.
		as_pg "$bindir/pg_ctl" -D "$data" -l "$log" -w -t 60 \
			-o "-c listen_addresses='' -c unix_socket_directories='$sock' -p $port -c fsync=on" \
			start >/dev/null || { tail -n 20 "$log" >&2; exit 1; }
		echo "pg: started ($(conninfo))"
	fi
	if ! "$bindir/psql" "host=$sock port=$port dbname=postgres user=tocsin" -tAc \
		"SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
		"$bindir/createdb" -h "$sock" -p "$port" -U tocsin "$db"
	fi
}

stop() {
	if [ -f "$data/PG_VERSION" ] && running; then
		as_pg "$bindir/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
		echo "pg: stopped"
	fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) if running; then echo "pg: running ($(conninfo))"; else echo "pg: stopped"; exit 3; fi ;;
conninfo) conninfo ;;
psql) shift; exec "$bindir/psql" "$(conninfo)" "$@" ;;
*) echo "usage: $0 start|stop|status|conninfo|psql [args]" >&2; exit 2 ;;
esac
