#!/bin/sh
# bench.sh - `make bench`: tocsind's throughput, latency, store lag and memory,
# against ceilings measured on the same machine in the same run (docs/bench.md).
#
#   TOCSIN_BUILD=build scripts/bench.sh
#
# Expects the private PostgreSQL to be running (`make bench` starts it); with
# BENCH_PG=own it runs its own cluster in var/bench-pg instead (port
# BENCH_PG_PORT, 5440), which tests that restart theirs cannot disturb. Builds
# everything under var/bench afresh: the database tocsin_bench, keys for the
# server and BENCH_ADAPTERS adapters, a configuration and an empty journal.
# Runs the ceilings first (no tocsind), then starts tocsind, drives it, and
# always stops it. The figures end in one summary block; results.txt keeps
# every figure as key=value.
#
# At the end the database and the journal are dropped (BENCH_KEEP=1 keeps
# them); the log, the configuration and results.txt stay in var/bench.
#
# Environment: BENCH_ADAPTERS [4], BENCH_PORT [7470], BENCH_METRICS_PORT [7479],
# BENCH_KEEP [0],
# BENCH_CORRELATE [1] (0: tocsind with [correlator] enabled = false),
# BENCH_NICE [unset] (the nice value of the correlator, store and alerts threads),
# BENCH_PG [shared | own], BENCH_PG_PORT [5440], BENCH_PG_OPTS (more
# postgres options for the own cluster, for experiments), and
# those read by the load generator (tests/bench/ingest_bench.c):
# BENCH_SECONDS [20], BENCH_WARMUP_SECONDS [60], BENCH_PEAK_SECONDS [10],
# BENCH_LAT_SECONDS [20], BENCH_RSS_SECONDS [60], BENCH_CEIL_SECONDS [10],
# BENCH_RATE [20000], BENCH_BATCH [100], BENCH_LAT_BATCH [10],
# BENCH_WINDOW [16], BENCH_MAX_LAG [50000], BENCH_COPY_TX [5000],
# BENCH_IO_THREADS [1].
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
build="$top/${TOCSIN_BUILD:-build}"
tocsin="$build/tocsin"
tocsind="$build/tocsind"
bench="$build/bench/ingest_bench"
dir="$top/var/bench"
adapters="${BENCH_ADAPTERS:-4}"
port="${BENCH_PORT:-7470}"
metrics="127.0.0.1:${BENCH_METRICS_PORT:-7479}"
endpoint="tcp://127.0.0.1:$port"
results="$dir/results.txt"

for f in "$tocsin" "$tocsind" "$bench"; do
	[ -x "$f" ] || { echo "bench: $f is missing; run 'make bench'" >&2; exit 1; }
done
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
own_pg=""
if [ "${BENCH_PG:-shared}" = own ]; then
	# A cluster of the bench's own (same binaries, settings and disk as
	# scripts/pg.sh's), which no test stops in the middle of a run.
	pgdir="$top/var/bench-pg"
	pgport="${BENCH_PG_PORT:-5440}"
	as_pg() {
		if [ "$(id -u)" -eq 0 ]; then runuser -u tocsin-pg -- "$@"; else "$@"; fi
	}
	# PostgreSQL refuses to run as root: as scripts/pg.sh does, use tocsin-pg.
	if [ "$(id -u)" -eq 0 ] && ! id tocsin-pg >/dev/null 2>&1; then
		useradd --system --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin tocsin-pg
	fi
	mkdir -p "$pgdir"
	[ "$(id -u)" -ne 0 ] || chown tocsin-pg "$pgdir"
	if [ ! -f "$pgdir/data/PG_VERSION" ]; then
		as_pg "$pgbin/initdb" -D "$pgdir/data" -U tocsin --auth=trust --encoding=UTF8 \
			--locale=C.UTF-8 >"$pgdir/initdb.log" 2>&1 ||
			{ cat "$pgdir/initdb.log" >&2; exit 1; }
	fi
	as_pg mkdir -p "$pgdir/run"
	pgopts="-c listen_addresses='' -c unix_socket_directories='$pgdir/run' -p $pgport"
	as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/postgresql.log" -w -t 60 \
		-o "$pgopts -c fsync=on ${BENCH_PG_OPTS:-}" start >/dev/null
	own_pg=1
	db="host=$pgdir/run port=$pgport dbname=tocsin_bench user=tocsin"
	admin="host=$pgdir/run port=$pgport dbname=postgres user=tocsin"
	pg_pid_file="$pgdir/data/postmaster.pid"
else
	# Tests may stop and start the private PostgreSQL briefly: give it a minute.
	i=0
	until scripts/pg.sh status >/dev/null; do
		i=$((i + 1))
		if [ $i -gt 60 ]; then
			echo "bench: PostgreSQL is not running; run 'make bench'" >&2
			exit 1
		fi
		[ $i -gt 1 ] || echo "bench: waiting for PostgreSQL" >&2
		sleep 1
	done
	db=$(TOCSIN_PG_DB=tocsin_bench scripts/pg.sh conninfo)
	admin=$(TOCSIN_PG_DB=postgres scripts/pg.sh conninfo)
	pg_pid_file="$top/var/pg/data/postmaster.pid"
fi
# The postmaster's pid, to account for PostgreSQL's CPU and notice a restart.
pg_pid=$(head -n 1 "$pg_pid_file" 2>/dev/null || echo 0)
pid=""

stop_server_name=bench
. "$top/scripts/tocsind-lib.sh"

stop_pg() {
	[ -n "$own_pg" ] || return 0
	as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -m fast -w -t 60 stop >/dev/null || true
	own_pg=""
}
trap 'stop_server; stop_pg' EXIT
trap 'exit 130' INT TERM

echo "bench: setting up $dir and the database tocsin_bench"
rm -rf "$dir"
mkdir -p "$dir/keys"
chmod 0700 "$dir/keys"
"$pgbin/psql" "$admin" -X -q -v ON_ERROR_STOP=1 \
	-c "DROP DATABASE IF EXISTS tocsin_bench WITH (FORCE)" \
	-c "CREATE DATABASE tocsin_bench" >/dev/null
"$tocsin" --db "$db" --schema schema db migrate >/dev/null

"$tocsin" keygen "$dir/keys/server" >/dev/null
i=0
while [ $i -lt "$adapters" ]; do
	"$tocsin" keygen "$dir/keys/bench-a$i" >/dev/null
	"$tocsin" --db "$db" adapter add "bench-a$i" --key "$dir/keys/bench-a$i.pub" \
		--sectors energy --assets sub- >/dev/null
	i=$((i + 1))
done

cat >"$dir/tocsind.ini" <<EOF
# Written by scripts/bench.sh; paths are relative to this file.
[server]
log_level = info
name = tocsind-bench

[ingest]
endpoint = $endpoint
server_key = keys/server.key
# Throughput, not the rate limit, is measured here: the default 5000 events/s
# per key would cap the peak phase (the fair-share figures are the last step
# of make bench, docs/security.md).
rate = 0

[journal]
dir = journal

[store]
conninfo = $db

[registry]
poll_ms = 1000

[metrics]
# read by the load generator: it waits for the correlator and the alerts to
# catch up after each phase, so that no phase meets the last one's backlog
listen = $metrics
EOF
if [ "${BENCH_CORRELATE:-1}" = 0 ]; then
	printf '\n[correlator]\nenabled = false\n' >>"$dir/tocsind.ini"
fi
if [ -n "${BENCH_NICE:-}" ]; then
	# the stages behind the journal (docs/bench.md, "Priorities"); unset: the defaults
	printf '\n[correlator]\nnice = %s\n[store]\nnice = %s\n[alerts]\nnice = %s\n' \
		"$BENCH_NICE" "$BENCH_NICE" "$BENCH_NICE" >>"$dir/tocsind.ini"
fi

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
{
	echo "correlator=${BENCH_CORRELATE:-1}"
	pgv=$(pg_config --version 2>/dev/null || /usr/lib/postgresql/*/bin/postgres --version)
	echo "machine=$(nproc) CPUs ($cpu), $(free -g | awk '/^Mem:/ {print $2}') GiB;" \
		"$pgv, libzmq $(pkg-config --modversion libzmq)," \
		"msgpack-c $(pkg-config --modversion msgpack)"
} >"$results"

echo "bench: ceilings (no tocsind running)"
"$bench" ceilings --keys "$dir/keys" --adapters "$adapters" --db "$db" \
	--endpoint "$endpoint" --pg-pid "$pg_pid" --journal "$dir" >>"$results"

echo "bench: starting tocsind"
"$tocsind" --config "$dir/tocsind.ini" >"$dir/tocsind.log" 2>&1 &
pid=$!
i=0
until grep -q "tocsind ready" "$dir/tocsind.log"; do
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "bench: tocsind exited before it was ready:" >&2
		tail -n 20 "$dir/tocsind.log" >&2
		exit 1
	fi
	i=$((i + 1))
	[ $i -lt 300 ] || { echo "bench: tocsind not ready within 30 s" >&2; exit 1; }
	sleep 0.1
done

status=0
"$bench" server --keys "$dir/keys" --adapters "$adapters" --db "$db" --endpoint "$endpoint" \
	--pid "$pid" --pg-pid "$pg_pid" --journal "$dir/journal" --metrics "$metrics" \
	>>"$results" || status=$?

stop_server
pg_pid_end=$(head -n 1 "$pg_pid_file" 2>/dev/null || echo 0)
if [ "$pg_pid_end" = "$pg_pid" ]; then restarted=no; else restarted=yes; fi
warnings=$(grep -c 'level=warn\|level=error' "$dir/tocsind.log" || true)
echo "pg_restarted=$restarted" >>"$results"
echo "tocsind_log_warnings=$warnings" >>"$results"

"$bench" report "$results"
if [ "${BENCH_KEEP:-0}" != 1 ]; then
	# Millions of rows and a journal of the same: not worth keeping in the shared cluster.
	"$pgbin/psql" "$admin" -X -q -c "DROP DATABASE IF EXISTS tocsin_bench WITH (FORCE)" \
		>/dev/null 2>&1 || true
	rm -rf "$dir/journal"
fi
[ $status -eq 0 ] || echo "bench: the load generator failed (exit $status); see above" >&2
exit $status
