#!/bin/sh
# bench-engine.sh - the correlation engine's part of `make bench`: registry
# load time and memory, and the engine's single-threaded throughput and
# per-event cost, on a generated city of a million assets (docs/bench-engine.md).
#
#   TOCSIN_BUILD=build scripts/bench-engine.sh
#
# The city is generated once with `tocsin sim city` and cached in
# var/bench-engine/city-<assets>-<seed> (generated again when missing or older
# than the generator's sources). The events are generated inside engine_bench from
# the loaded graph (see docs/bench-engine.md for why and how). Every figure
# goes to var/bench-engine/results.txt as key=value; the summary block at the
# end is `engine_bench report` of that file. The bench reports; it never fails
# on a missed target (it exits non-zero only when it could not measure).
#
# Environment (defaults in brackets): BENCH_ENGINE_ASSETS [1000000],
# BENCH_ENGINE_DEPS_PER_ASSET [3], BENCH_ENGINE_CITY_SEED [1],
# BENCH_ENGINE_EVENTS [5000000], BENCH_ENGINE_SEED [1],
# BENCH_ENGINE_SPAN_H [8760: hours of event time the events are spread over],
# BENCH_ENGINE_MAX_S [60: wall-clock budget of each throughput pass],
# BENCH_ENGINE_LIVE_RATE [0: no live mode; 1000000 for the torture test of docs/bench-engine.md],
# BENCH_ENGINE_E2E_ASSETS [10000], BENCH_ENGINE_E2E_SECONDS [30],
# BENCH_ENGINE_E2E_WAIT_S [300: how long to wait for the markers' revisions],
# BENCH_ENGINE_PORT [7480: ingest port of the bench's tocsind],
# BENCH_ENGINE_SKIP [unset; "engine" or "e2e" skips that part], BENCH_KEEP [0].
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
build="$top/${TOCSIN_BUILD:-build}"
tocsin="$build/tocsin"
bench="$build/bench/engine_bench"
dir="$top/var/bench-engine"
assets="${BENCH_ENGINE_ASSETS:-1000000}"
dpa="${BENCH_ENGINE_DEPS_PER_ASSET:-3}"
city_seed="${BENCH_ENGINE_CITY_SEED:-1}"
events="${BENCH_ENGINE_EVENTS:-5000000}"
seed="${BENCH_ENGINE_SEED:-1}"
span_h="${BENCH_ENGINE_SPAN_H:-8760}"
max_s="${BENCH_ENGINE_MAX_S:-60}"
live_rate="${BENCH_ENGINE_LIVE_RATE:-0}"
city="$dir/city-$assets-$dpa-$city_seed"
results="$dir/results.txt"
tocsind="$build/tocsind"
e2e_assets="${BENCH_ENGINE_E2E_ASSETS:-10000}"
e2e_seconds="${BENCH_ENGINE_E2E_SECONDS:-30}"
e2e_wait="${BENCH_ENGINE_E2E_WAIT_S:-300}"
e2e_endpoint="tcp://127.0.0.1:${BENCH_ENGINE_PORT:-7480}"
pid=""

stop_server_name=bench-engine
. "$top/scripts/tocsind-lib.sh"
trap 'stop_server' EXIT
trap 'exit 130' INT TERM

for f in "$tocsin" "$tocsind" "$bench"; do
	[ -x "$f" ] || { echo "bench-engine: $f is missing; run 'make bench'" >&2; exit 1; }
done
mkdir -p "$dir"

# 1. The city, cached: a stamp file is written last, so a half-written city
# is never used.
# Generated again when the generator's sources changed since (not on every
# rebuild of tocsin: a million-asset city takes a while).
stale=""
for f in "$top"/tools/sim_city.c "$top"/tools/sim_rng.h "$top"/tools/sim_opt.c; do
	[ -f "$city/done" ] && [ "$f" -nt "$city/done" ] && stale=yes
done
if [ ! -f "$city/done" ] || [ -n "$stale" ]; then
	echo "bench-engine: generating a city of $assets assets in $city"
	rm -rf "$city" "$city.tmp"
	mkdir -p "$city.tmp"
	"$tocsin" sim city --assets "$assets" --seed "$city_seed" --deps-per-asset "$dpa" \
		--out "$city.tmp" >"$city.tmp/sim-city.txt"
	mv "$city.tmp" "$city"
	date -u +%Y-%m-%dT%H:%M:%SZ >"$city/done"
else
	echo "bench-engine: using the cached city in $city"
fi
sed 's/^/bench-engine: /' "$city/sim-city.txt" >&2

# Read the files once so that the load is timed from the page cache, as on a
# server whose registry export was just written.
cat "$city/assets.csv" "$city/dependencies.csv" >/dev/null

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
{
	echo "machine=, $cpu, $(free -g | awk '/^Mem:/ {print $2}') GiB"
	echo "command=TOCSIN_BUILD=${TOCSIN_BUILD:-build} scripts/bench-engine.sh" \
		"(events $events, seed $seed, span $span_h h, budget $max_s s," \
		"live rate $live_rate, city $assets/$dpa/$city_seed)"
} >"$results"

# 2-3. Load, generate, the two passes: the cascade-heavy "stress" mix (every
# event a failure or a restoration but a few percent), then the "feed" mix
# (90 % telemetry alarms, 2 % background failures, the rest cascades and
# heartbeats), which is what a city's feed mostly carries.
feed="$dir/results-feed.txt"
if [ "${BENCH_ENGINE_SKIP:-}" != engine ]; then
	echo "bench-engine: running $bench, stress mix (progress below)"
	"$bench" run --assets "$city/assets.csv" --deps "$city/dependencies.csv" \
		--events "$events" --seed "$seed" --span-h "$span_h" --max-s "$max_s" \
		--live-rate "$live_rate" --city-seed "$city_seed" >>"$results"
	echo "bench-engine: running $bench, feed mix (progress below)"
	{
		grep -E '^(machine|command)=' "$results"
		echo "e2e=see the stress mix above"
		"$bench" run --assets "$city/assets.csv" --deps "$city/dependencies.csv" \
			--events "$events" --seed "$seed" --span-h "$span_h" --max-s "$max_s" \
			--live-rate 0 --city-seed "$city_seed" --share-alarms 0.9 \
			--share-noise 0.02
	} >"$feed"
fi

# 4. End to end through tocsind with correlation on, a small city imported
# into PostgreSQL (the private cluster `make bench` starts; database
# tocsin_bench_engine, dropped at the end unless BENCH_KEEP=1).
e2e() {
	if [ ! -f server/assets_pg.c ] ||
		"$tocsin" assets import --help 2>&1 | grep -q "not implemented"; then
		echo "e2e=not available: tocsind cannot load an asset registry yet (no" \
			"server/assets_pg.c, \`tocsin assets import\` not implemented)" >>"$results"
		return 0
	fi
	if ! scripts/pg.sh status >/dev/null 2>&1; then
		echo "e2e=not run: PostgreSQL is not running (make bench starts it)" >>"$results"
		return 0
	fi
	small="$dir/city-$e2e_assets-3-$city_seed"
	if [ ! -f "$small/done" ] || [ "$tocsin" -nt "$small/done" ]; then
		rm -rf "$small" && mkdir -p "$small"
		"$tocsin" sim city --assets "$e2e_assets" --seed "$city_seed" --out "$small" \
			>"$small/sim-city.txt"
		date -u +%Y-%m-%dT%H:%M:%SZ >"$small/done"
	fi
	db=$(TOCSIN_PG_DB=tocsin_bench_engine scripts/pg.sh conninfo)
	admin=$(TOCSIN_PG_DB=postgres scripts/pg.sh conninfo)
	pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	e2e_dir="$dir/e2e"
	rm -rf "$e2e_dir"
	mkdir -p "$e2e_dir/keys"
	chmod 0700 "$e2e_dir/keys"
	echo "bench-engine: end to end: database tocsin_bench_engine, $e2e_assets-asset city"
	"$pgbin/psql" "$admin" -X -q -v ON_ERROR_STOP=1 \
		-c "DROP DATABASE IF EXISTS tocsin_bench_engine WITH (FORCE)" \
		-c "CREATE DATABASE tocsin_bench_engine" >/dev/null
	"$tocsin" --db "$db" --schema schema db migrate >/dev/null
	"$tocsin" --db "$db" assets import "$small/assets.csv" "$small/dependencies.csv" \
		>"$e2e_dir/import.txt"
	"$tocsin" keygen "$e2e_dir/keys/server" >/dev/null
	"$tocsin" keygen "$e2e_dir/keys/engine-a0" >/dev/null
	sectors=chemicals,civil-nuclear,communications,defence,emergency-services,energy
	sectors=$sectors,finance,food,government,health,space,transport,water,data
	"$tocsin" --db "$db" adapter add engine-a0 --key "$e2e_dir/keys/engine-a0.pub" \
		--sectors "$sectors" >/dev/null
	{
		echo "# Written by scripts/bench-engine.sh; paths are relative to this file."
		echo "[server]"
		echo "log_level = info"
		echo "name = tocsind-bench-engine"
		echo "[ingest]"
		echo "endpoint = $e2e_endpoint"
		echo "server_key = keys/server.key"
		echo "[journal]"
		echo "dir = journal"
		echo "[store]"
		echo "conninfo = $db"
		echo "[registry]"
		echo "poll_ms = 1000"
		echo "[correlator]"
		echo "enabled = true"
	} >"$e2e_dir/tocsind.ini"
	"$tocsind" --config "$e2e_dir/tocsind.ini" >"$e2e_dir/tocsind.log" 2>&1 &
	pid=$!
	i=0
	until grep -q "tocsind ready" "$e2e_dir/tocsind.log"; do
		if ! kill -0 "$pid" 2>/dev/null || [ $i -ge 300 ]; then
			echo "bench-engine: tocsind did not start:" >&2
			tail -n 20 "$e2e_dir/tocsind.log" >&2
			echo "e2e=not run: tocsind did not start (see $e2e_dir/tocsind.log)" >>"$results"
			stop_server
			return 0
		fi
		i=$((i + 1))
		sleep 0.1
	done
	if ! grep -q "asset registry loaded" "$e2e_dir/tocsind.log"; then
		echo "e2e=not run: tocsind started without the asset registry" \
			"(see $e2e_dir/tocsind.log)" >>"$results"
		stop_server
		return 0
	fi
	echo "e2e_lateness_s=60" >>"$results"
	"$bench" e2e --assets "$small/assets.csv" --deps "$small/dependencies.csv" \
		--endpoint "$e2e_endpoint" --server-key "$e2e_dir/keys/server.pub" \
		--key "$e2e_dir/keys/engine-a0" --db "$db" --journal "$e2e_dir/journal" \
		--seconds "$e2e_seconds" \
		--wait-s "$e2e_wait" --pid "$pid" >>"$results" ||
		echo "e2e=the load generator failed (see above)" >>"$results"
	stop_server
	echo "e2e_tocsind_log_warnings=$(grep -c 'level=warn\|level=error' \
		"$e2e_dir/tocsind.log" || true)" >>"$results"
	if [ "${BENCH_KEEP:-0}" != 1 ]; then
		"$pgbin/psql" "$admin" -X -q \
			-c "DROP DATABASE IF EXISTS tocsin_bench_engine WITH (FORCE)" \
			>/dev/null 2>&1 || true
		rm -rf "$e2e_dir/journal"
	fi
}
if [ "${BENCH_ENGINE_SKIP:-}" = e2e ]; then
	echo "e2e=skipped (BENCH_ENGINE_SKIP=e2e)" >>"$results"
else
	e2e
fi

echo "== stress mix (var/bench-engine/results.txt)"
"$bench" report "$results"
if [ -f "$feed" ] && [ "${BENCH_ENGINE_SKIP:-}" != engine ]; then
	echo
	echo "== feed mix (var/bench-engine/results-feed.txt)"
	"$bench" report "$feed"
fi
