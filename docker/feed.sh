#!/bin/sh
# feed.sh - the compose demo's adapters (docker/compose.yaml, service
# `adapters`): the demo city's substation fire, as make demo plays it, each
# utility's reports sent by `tocsin send` over that utility's own key.
#
#   TOCSIN_ENDPOINT=tcp://HOST:7450 [TOCSIN_KEYS=DIR] [TOCSIN_CITY=DIR]
#   [TOCSIN_SCENARIO=NAME] feed.sh
#
# The scenario (TOCSIN_CITY/scenario-NAME.csv, default substation-fire) is
# t_offset_s,source,sector,asset,type,severity,summary; offsets count from
# 55 minutes ago, so every report is in the past and within the horizon.
# Exit status: that of the first `tocsin send` that failed, else 0.
# tests/integration/test_install.py runs this script.
set -eu

keys=${TOCSIN_KEYS:-/etc/tocsin/keys}
city=${TOCSIN_CITY:-/usr/share/tocsin/demo/city}
scenario="$city/scenario-${TOCSIN_SCENARIO:-substation-fire}.csv"
: "${TOCSIN_ENDPOINT:?set TOCSIN_ENDPOINT to the server's ingest endpoint}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Which adapter (key) reports for which source, as in scripts/demo.sh. The
# reports go in the file's order (the order they arrived): each run of
# consecutive lines of one adapter is one chunk, one `tocsin send`, and
# `tocsin send` returns once the server has acknowledged all of it.
base=$(($(date +%s) - 3300))
awk -F, -v base="$base" -v dir="$work" -v tag="$(date +%s)" '
	NR == 1 { next }
	{
		if ($2 ~ /^aldermoor-power\//) k = "power"
		else if ($2 ~ /^aldermoor-water\//) k = "water"
		else if ($2 ~ /^netco\//) k = "netco"
		else if ($2 ~ /^(aldermoor-council\/utc|aldermoor-tram\/|rail\/)/) k = "transport"
		else if ($2 ~ /^(nhs-aldermoor\/|aldermoor-council\/social-care)/) k = "health"
		else { printf "feed: line %d: no adapter for source %s\n", NR, $2 > "/dev/stderr"; exit 1 }
		if (k != last) {
			f = sprintf("%s/%04d-%s.csv", dir, ++chunks, k)
			print "id,source,type,time,sector,asset,severity,summary" > f
			last = k
		}
		summary = $7
		for (i = 8; i <= NF; i++) summary = summary "," $i
		gsub(/"/, "\"\"", summary)
		printf "feed-%s-L%d,%s,%s,%d000,%s,%s,%s,\"%s\"\n", tag, NR, $2, $5, base + $1, $3, $4, $6, summary > f
	}' "$scenario"

rc=0
sent=0
for f in "$work"/*.csv; do
	k=${f##*-}
	k=${k%.csv}
	if tocsin send "$f" --endpoint "$TOCSIN_ENDPOINT" --server-key "$keys/server.pub" \
		--key "$keys/$k" >"$work/out"; then
		sent=$((sent + $(grep -c '^ok ' "$work/out")))
	else
		s=$?
		echo "feed: $k: tocsin send failed (status $s):" >&2
		grep -v '^ok ' "$work/out" >&2 || true
		[ $rc -ne 0 ] || rc=$s
	fi
done
echo "feed: $sent events accepted from $scenario"
exit $rc
