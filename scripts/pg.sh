#!/bin/sh
# pg.sh - the private PostgreSQL cluster of the demo and the tests.
#
#   scripts/pg.sh start|stop|status|conninfo [ROLE [DBNAME]]|psql [args]
#
# The cluster lives under ./var/pg (data, socket, log), listens on a Unix
# socket only (listen_addresses = ''), and runs as an unprivileged user:
# PostgreSQL refuses to run as root, and CI runs as root, so as root we run it
# as the system user `tocsin-pg` (created when missing). start and stop are
# idempotent. The server log is kept in var/pg/postgresql.log.
#
# Every connection authenticates with a password (SCRAM-SHA-256, pg_hba.conf
# written here). The roles (docs/security.md, schema/007_roles.sql) and their
# passwords: start generates a random password per login role once, into
# var/pg/pass/<role> (a libpq password file, mode 0600, in a 0700
# directory, owned by whoever runs this script), creates the login roles
# when missing and sets their passwords from those files. `conninfo ROLE`
# prints a conninfo naming that role's file (passfile=...), so no password
# is ever on a command line or in a configuration file:
#   super    tocsin, the cluster's superuser: createdb, the first migrate
#   admin    tocsin_admin: the operator CLI (keys, assets import, migrate, audit)
#   server   tocsin_server: tocsind
#   console  tocsin_console: read only
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
var="$top/var/pg"
data="$var/data"
sock="$var/run"
log="$var/postgresql.log"
port="${TOCSIN_PG_PORT:-5439}"
db="${TOCSIN_PG_DB:-tocsin}"
pguser=tocsin-pg
passdir="$var/pass"
# The login roles; tocsin_owner (NOLOGIN) is made by schema/007_roles.sql.
roles="tocsin tocsin_admin tocsin_server tocsin_console"

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bindir" ] || { echo "pg: no PostgreSQL server found; run 'make deps'" >&2; exit 1; }

as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$pguser" -- "$@"
	else
		"$@"
	fi
}

# role_of super|admin|server|console -> the role's name
role_of() {
	case "${1:-super}" in
	super | tocsin) echo tocsin ;;
	admin | server | console) echo "tocsin_$1" ;;
	tocsin_admin | tocsin_server | tocsin_console) echo "$1" ;;
	*) echo "pg: unknown role \"$1\" (expected super, admin, server or console)" >&2; return 2 ;;
	esac
}

# conninfo [ROLE [DBNAME]]
conninfo() {
	r=$(role_of "${1:-super}") || exit 2
	echo "host=$sock port=$port dbname=${2:-$db} user=$r passfile=$passdir/$r"
}

# The password of role $1 (from its file).
password() {
	sed -n 's/^[^:]*:[^:]*:[^:]*:[^:]*://p' "$passdir/$1"
}

# A password file per login role, made once: 48 hex digits from the kernel.
ensure_passwords() {
	(
		umask 077
		mkdir -p "$passdir"
		chmod 0700 "$passdir"
		for r in $roles; do
			[ -s "$passdir/$r" ] && continue
			pw=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
			[ ${#pw} -eq 48 ] || { echo "pg: cannot read /dev/urandom" >&2; exit 1; }
			printf '*:*:*:%s:%s\n' "$r" "$pw" >"$passdir/$r.tmp"
			mv "$passdir/$r.tmp" "$passdir/$r"
		done
	)
}

# The login roles exist and have the passwords of their files. Through stdin:
# no password on a command line. A role made here is a plain login role;
# 007_roles.sql gives it its privileges.
set_passwords() {
	su=$(conninfo super postgres)
	{
		echo "SET client_min_messages = warning;"
		echo "SET password_encryption = 'scram-sha-256';"
		for r in $roles; do
			[ "$r" = tocsin ] || echo "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$r') THEN CREATE ROLE $r LOGIN NOINHERIT; END IF; END \$\$;"
			echo "ALTER ROLE $r PASSWORD '$(password "$r")';"
		done
	} | "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$su" >/dev/null || {
		echo "pg: cannot log in as tocsin with $passdir/tocsin; if that file was lost, remove var/pg (and its data) to make a new cluster" >&2
		exit 1
	}
}

# pg_hba.conf: the Unix socket only, every role with its password.
hba_line="local all all scram-sha-256"
ensure_hba() {
	if ! as_pg grep -qx "$hba_line" "$data/pg_hba.conf" ||
		as_pg grep -Ev '^[[:space:]]*(#|$)' "$data/pg_hba.conf" | grep -vqx "$hba_line"; then
		printf '# written by scripts/pg.sh: the Unix socket only, a password (SCRAM) for every role\n%s\n' \
			"$hba_line" | as_pg sh -c "cat >'$data/pg_hba.conf'"
		as_pg "$bindir/pg_ctl" -D "$data" reload >/dev/null
		echo "pg: pg_hba.conf: $hba_line"
	fi
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
	ensure_passwords
	if [ ! -f "$data/PG_VERSION" ]; then
		echo "pg: initdb in $data"
		# the superuser's password, readable by the user that runs initdb
		# for as long as it runs
		pwfile="$var/initdb.pw"
		(umask 077 && password tocsin >"$pwfile")
		[ "$(id -u)" -eq 0 ] && chown "$pguser" "$pwfile"
		as_pg "$bindir/initdb" -D "$data" -U tocsin --pwfile="$pwfile" \
			--auth-local=scram-sha-256 --auth-host=scram-sha-256 \
			--encoding=UTF8 --locale=C.UTF-8 >"$var/initdb.log" 2>&1 ||
			{ rm -f "$pwfile"; cat "$var/initdb.log" >&2; exit 1; }
		rm -f "$pwfile"
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
	# A cluster made before passwords (trust) gets them here, then the
	# pg_hba.conf that asks for them.
	set_passwords
	ensure_hba
	if ! "$bindir/psql" "$(conninfo super postgres)" -tAc \
		"SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
		"$bindir/psql" -X -q "$(conninfo super postgres)" -c "CREATE DATABASE \"$db\"" >/dev/null
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
conninfo) conninfo "${2:-super}" "${3:-}" ;;
psql) shift; exec "$bindir/psql" "$(conninfo)" "$@" ;;
*) echo "usage: $0 start|stop|status|conninfo [super|admin|server|console [DBNAME]]|psql [args]" >&2; exit 2 ;;
esac
