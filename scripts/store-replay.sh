#!/bin/sh
# store-replay.sh - the store alone on a saved journal, for comparing two
# schemas or builds of the store on the same records (docs/bench.md, "Store
# replay").
#
#   TOCSIN_BUILD=build scripts/store-replay.sh JOURNAL_DIR [SCHEMA_MAX [BATCH]]
#
# JOURNAL_DIR holds journal segments, e.g. a few copied from a bench run
# kept with BENCH_KEEP=1 (var/bench/journal). Drops and creates the database
# tocsin_replay on the private PostgreSQL (scripts/pg.sh, running), applies
# the migrations numbered up to SCHEMA_MAX (all by default), points
# store_progress at the first segment, stores every record with
# build/bench/store_replay, and prints its figures, the CPU time of
# PostgreSQL's backends that ended meanwhile (the store's, autovacuum's) and
# the row counts. REPLAY_SQL, if set, is run after the migrations (for
# experiments: an index dropped, a setting changed).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
build="$top/${TOCSIN_BUILD:-build}"
journal=${1:?usage: scripts/store-replay.sh JOURNAL_DIR [SCHEMA_MAX [BATCH]]}
max=${2:-999}
batch=${3:-5000}
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
admin=$(TOCSIN_PG_DB=postgres scripts/pg.sh conninfo)
db=$(TOCSIN_PG_DB=tocsin_replay scripts/pg.sh conninfo)
schema=$(mktemp -d)
trap 'rm -rf "$schema"' EXIT

first=$(ls "$journal" | grep '\.seg$' | sort | head -n 1)
[ -n "$first" ] || { echo "store-replay: no segments in $journal" >&2; exit 1; }
for f in schema/[0-9][0-9][0-9]_*.sql; do
	n=$(basename "$f" | cut -c1-3)
	[ "$n" -gt "$max" ] || cp "$f" "$schema/"
done
"$pgbin/psql" "$admin" -X -q -v ON_ERROR_STOP=1 \
	-c "DROP DATABASE IF EXISTS tocsin_replay WITH (FORCE)" \
	-c "CREATE DATABASE tocsin_replay" >/dev/null
"$build/tocsin" --db "$db" --schema "$schema" db migrate >/dev/null
[ -z "${REPLAY_SQL:-}" ] || "$pgbin/psql" "$db" -X -q -v ON_ERROR_STOP=1 -c "$REPLAY_SQL"
"$pgbin/psql" "$db" -X -q -v ON_ERROR_STOP=1 \
	-c "UPDATE store_progress SET journal_offset = $((0x${first%.seg})) WHERE stream = 'journal'" \
	-c "CHECKPOINT"

# Backends that exit add their CPU time to the postmaster's children's.
pm=$(head -n 1 var/pg/data/postmaster.pid)
tck=$(getconf CLK_TCK)
c0=$(awk '{print $16 + $17}' "/proc/$pm/stat")
echo "store-replay: schema up to $(ls "$schema" | tail -n 1), $(uptime | sed 's/.*load/load/')"
"$build/bench/store_replay" "$journal" "$db" "$batch"
sleep 1
c1=$(awk '{print $16 + $17}' "/proc/$pm/stat")
echo "postgres_backends_cpu_s=$(echo "$c0 $c1 $tck" | awk '{printf "%.2f", ($2 - $1) / $3}')"
"$pgbin/psql" "$db" -X -At -F= -c "SELECT 'rows_' || t, n FROM (
	SELECT 'events' t, count(*) n FROM events UNION ALL
	SELECT 'incident_revisions', count(*) FROM incident_revisions UNION ALL
	SELECT 'incidents', count(*) FROM incidents UNION ALL
	SELECT 'incident_members', count(*) FROM incident_members) x"
