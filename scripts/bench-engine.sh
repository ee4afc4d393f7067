#!/bin/sh
# bench-engine.sh - the correlation engine's part of `make bench`: registry
# load time and memory, and the engine's single-threaded throughput and
# per-event cost, on a generated city of a million assets (docs/bench-engine.md).
#
#   TOCSIN_BUILD=build scripts/bench-engine.sh
#
# The city is generated once with `tocsin sim city` and cached in
# var/bench-engine/city-<assets>-<seed> (generated again when missing or older
# than the tocsin binary). The events are generated inside engine_bench from
# the loaded graph (see docs/bench-engine.md for why and how). Every figure
# goes to var/bench-engine/results.txt as key=value; the summary block at the
# end is `engine_bench report` of that file. The bench reports; it never fails
# on a missed target (it exits non-zero only when it could not measure).
#
# Environment (defaults in brackets): BENCH_ENGINE_ASSETS [1000000],
# BENCH_ENGINE_DEPS_PER_ASSET [3], BENCH_ENGINE_CITY_SEED [1],
# BENCH_ENGINE_EVENTS [5000000], BENCH_ENGINE_SEED [1],
# BENCH_ENGINE_SPAN_H [8760: hours of event time the events are spread over],
# BENCH_ENGINE_MAX_S [120: wall-clock budget of the throughput pass].
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
max_s="${BENCH_ENGINE_MAX_S:-120}"
city="$dir/city-$assets-$dpa-$city_seed"
results="$dir/results.txt"

for f in "$tocsin" "$bench"; do
	[ -x "$f" ] || { echo "bench-engine: $f is missing; run 'make bench'" >&2; exit 1; }
done
mkdir -p "$dir"

# 1. The city, cached: a stamp file is written last, so a half-written city
# is never used.
if [ ! -f "$city/done" ] || [ "$tocsin" -nt "$city/done" ]; then
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
		"(events $events, seed $seed, span $span_h h, city $assets/$dpa/$city_seed)"
} >"$results"

# 2-3. Load, generate, the two passes.
echo "bench-engine: running $bench (progress below)"
"$bench" run --assets "$city/assets.csv" --deps "$city/dependencies.csv" \
	--events "$events" --seed "$seed" --span-h "$span_h" --max-s "$max_s" \
	--city-seed "$city_seed" >>"$results"

# 4. End to end through tocsind with correlation on needs tocsind to load the
# asset registry (from PostgreSQL: server/assets_pg.c, `tocsin assets
# import`). Until it can, say so rather than measure a correlator that has
# no registry.
if [ -f server/assets_pg.c ] && ! "$tocsin" assets import --help 2>&1 | grep -q "not implemented"
then
	echo "e2e=not run: tocsind can now load the registry from PostgreSQL, but this" \
		"script does not drive it yet (docs/bench-engine.md)" >>"$results"
else
	echo "e2e=not available: tocsind cannot load an asset registry yet (no" \
		"server/assets_pg.c, \`tocsin assets import\` not implemented)" >>"$results"
fi

"$bench" report "$results"
