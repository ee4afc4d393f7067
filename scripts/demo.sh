#!/bin/sh
# demo.sh - `make demo`: a small city's adapters report a cascading failure to
# tocsind, with a few bad events among them, and we look at what happened.
#
# Everything lives in var/demo (recreated on each run) and a fresh database
# `tocsin_demo` in the private PostgreSQL (`make pg-start` ran before us).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
B="$top/${TOCSIN_BUILD:-build}"
PY=/usr/bin/python3
demo="$top/var/demo"
port=${TOCSIN_DEMO_PORT:-7450}
endpoint="tcp://127.0.0.1:$port"
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
sock="$top/var/pg/run"
DB="host=$sock port=5439 user=tocsin dbname=tocsin_demo"
psql() { "$pgbin/psql" -X -q "$DB" "$@"; }

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

rm -rf "$demo"
mkdir -p "$demo"
cd "$demo"

say "a fresh database, migrated"
"$pgbin/dropdb" -h "$sock" -p 5439 -U tocsin --if-exists tocsin_demo
"$pgbin/createdb" -h "$sock" -p 5439 -U tocsin tocsin_demo
"$B/tocsin" --db "$DB" --schema "$top/schema" db migrate

say "keys: the server and four sector adapters"
for k in server ukpn thames tfl nhs; do
	"$B/tocsin" keygen "$k" >/dev/null
	echo "$k.key (0600) $k.pub: $(cat "$k.pub")"
done
"$B/tocsin" --db "$DB" adapter add ukpn --key ukpn.pub --sectors energy --assets SUB-,FDR-
"$B/tocsin" --db "$DB" adapter add thames --key thames.pub --sectors water
"$B/tocsin" --db "$DB" adapter add tfl --key tfl.pub --sectors transport
"$B/tocsin" --db "$DB" adapter add nhs --key nhs.pub --sectors health,emergency-services

cat >tocsind.ini <<INI
[ingest]
endpoint = $endpoint
server_key = server.key
[journal]
dir = journal
[store]
conninfo = $DB
[registry]
poll_ms = 500
INI
"$B/tocsind" --config tocsind.ini --check-config

say "tocsind starts (log: var/demo/tocsind.log)"
"$B/tocsind" --config tocsind.ini 2>tocsind.log &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 100); do
	grep -q "tocsind ready" tocsind.log && break
	kill -0 $pid 2>/dev/null || { cat tocsind.log; exit 1; }
	sleep 0.1
done
grep -q "tocsind ready" tocsind.log || { cat tocsind.log; exit 1; }
grep -E "journal opened|key registry|ready" tocsind.log | sed 's/^/  /'

# The cascade happened in the last few minutes: times relative to now.
t() { date -u -d "@$(( $(date +%s) + $1 ))" +%Y-%m-%dT%H:%M:%SZ; }

cat >energy.csv <<CSV
id,source,type,time,sector,asset,severity,summary
ukpn-0001,ukpn/scada/east,asset.down,$(t -420),energy,SUB-BARKING-132,1,Barking 132kV grid substation tripped on protection
ukpn-0002,ukpn/scada/east,asset.down,$(t -400),energy,FDR-RIPPLE-11,2,Ripple Road 11kV feeder lost supply
ukpn-0003,ukpn/scada/east,asset.down,$(t -380),water,PS-BECKTON-03,2,a pumping station is not ours to report on
CSV

cat >water.csv <<CSV
id,source,type,time,sector,asset,severity,summary
tw-0001,thameswater/telemetry/east,asset.down,$(t -360),water,PS-BECKTON-03,2,Beckton pumping station 3: mains failure
tw-0002,thameswater/telemetry/east,asset.degraded,$(t -300),water,WTW-CHIGWELL,3,Chigwell treatment works on one supply
tw-0003,thameswater/telemetry/east,asset.alarm,$(t -290),water,RES-HAINAULT,9,reservoir level alarm with a severity out of range
CSV

cat >transport-health.jsonl <<JSONL
{"id": "tfl-0001", "source": "tfl/signalling", "type": "asset.down", "time": "$(t -350)", "sector": "transport", "asset": "SIG-UPNEY-4", "summary": "District line signals at Upney dark", "attrs": {"line": "District", "trains_held": 6}}
{"id": "tfl-0002", "source": "tfl/signalling", "type": "asset.degraded", "time": "$(t -240)", "sector": "transport", "asset": "RAIL-C2C-BARKING", "summary": "c2c services suspended through Barking"}
{"id": "tfl-0003", "source": "tfl/signalling", "type": "asset.down", "time": "$(t 86400)", "sector": "transport", "asset": "SIG-UPNEY-5", "summary": "a report from tomorrow"}
JSONL

cat >health.jsonl <<JSONL
{"id": "nhs-0001", "source": "nhs/estates/queens", "type": "asset.degraded", "time": "$(t -330)", "sector": "health", "asset": "HOSP-QUEENS-ROMFORD", "summary": "Queen's Hospital on generator, theatres paused", "geo": [51.5688, 0.1812], "attrs": {"generator_hours": 36}}
JSONL

say "the energy adapter (C, on the SDK) replays energy.csv: one event is outside its sectors"
"$B/examples/replay_csv" --endpoint "$endpoint" --server-key server.pub --key ukpn energy.csv | sed 's/^/  /'

say "the water adapter (Python, plain pyzmq + msgpack) replays water.csv: one has severity 9"
$PY "$top/adapters/examples/replay_csv.py" --endpoint "$endpoint" --server-key server.pub --key thames water.csv | sed 's/^/  /'

say "tocsin send: transport (one event dated tomorrow) and health, from JSON lines"
"$B/tocsin" send transport-health.jsonl --endpoint "$endpoint" --server-key server.pub --key tfl | sed 's/^/  /'
"$B/tocsin" send health.jsonl --endpoint "$endpoint" --server-key server.pub --key nhs | sed 's/^/  /'

say "the energy adapter sends the same file again: duplicates are harmless"
"$B/examples/replay_csv" --endpoint "$endpoint" --server-key server.pub --key ukpn energy.csv | sed 's/^/  /'

say "an unregistered key is refused at the handshake (no reply; audited)"
"$B/tocsin" keygen stranger >/dev/null
"$B/tocsin" send health.jsonl --endpoint "$endpoint" --server-key server.pub --key stranger --timeout-ms 1500 2>&1 | sed 's/^/  /' || true

# The store tails the journal into PostgreSQL; give it a moment.
for _ in $(seq 1 50); do
	n=$(psql -tAc "SELECT count(*) FROM events")
	[ "$n" -ge 7 ] && break
	sleep 0.1
done

say "stored in PostgreSQL: events"
psql -c "SELECT to_char(time, 'HH24:MI:SS') AS time, adapter, sector, asset, type, severity, summary FROM events ORDER BY time"
say "rejected input, kept for inspection"
psql -c "SELECT adapter, code, item, event_id, msg FROM rejected ORDER BY journal_offset"
say "the audit trail"
psql -c "SELECT to_char(at, 'HH24:MI:SS') AS at, actor, action, subject, origin FROM audit ORDER BY seq"

say "tocsind stops cleanly on SIGTERM"
kill -TERM $pid
wait $pid && echo "  exit status 0"
trap - EXIT INT TERM
tail -n 3 tocsind.log | sed 's/^/  /'
