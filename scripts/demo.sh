#!/bin/sh
# demo.sh - `make demo`: the adapters of a small city's utilities report a
# substation fire to tocsind, with a few bad events among them; the
# correlator makes one incident of the cascade, with its explanation and
# forecast, and we look at what happened.
#
# Everything lives in var/demo (recreated on each run) and a fresh database
# `tocsin_demo` in the private PostgreSQL (`make pg-start` ran before us).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
B="$top/${TOCSIN_BUILD:-build}"
PY=/usr/bin/python3
demo="$top/var/demo"
port=${TOCSIN_DEMO_PORT:-7450}
alerts_port=$((port + 1))
control_port=$((port + 2))
endpoint="tcp://127.0.0.1:$port"
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
sock="$top/var/pg/run"
# One database role per job (docs/security.md): the cluster's superuser makes
# the database and applies the schema, tocsin_admin is the operator's CLI,
# tocsin_server is tocsind, tocsin_console reads. Passwords come from the
# files scripts/pg.sh made (var/pg/pass, 0600), never a command line.
DB_SUPER=$("$top/scripts/pg.sh" conninfo super tocsin_demo)
DB=$("$top/scripts/pg.sh" conninfo admin tocsin_demo)
DB_READ=$("$top/scripts/pg.sh" conninfo console tocsin_demo)
city="$top/tests/data/demo-city"
psql() { "$pgbin/psql" -X -q "$DB_READ" "$@"; }

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

rm -rf "$demo"
mkdir -p "$demo"
cd "$demo"

say "a fresh database, migrated"
"$pgbin/psql" -X -q "$("$top/scripts/pg.sh" conninfo super postgres)" \
	-c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS tocsin_demo WITH (FORCE)" \
	-c "CREATE DATABASE tocsin_demo"
"$B/tocsin" --db "$DB_SUPER" --schema "$top/schema" db migrate

say "the asset registry: Aldermoor, a small city (tests/data/demo-city)"
"$B/tocsin" --db "$DB" assets import "$city/assets.csv" "$city/dependencies.csv"

say "keys: the server and five sector adapters, each allowed only its own sectors"
for k in server power water netco transport health desk1; do
	"$B/tocsin" keygen "$k" >/dev/null
	echo "$k.key (0600) $k.pub: $(cat "$k.pub")"
done
"$B/tocsin" --db "$DB" adapter add power --key power.pub --sectors energy --assets SUB-,GSP-,FDR-
"$B/tocsin" --db "$DB" adapter add water --key water.pub --sectors water
"$B/tocsin" --db "$DB" adapter add netco --key netco.pub --sectors communications
"$B/tocsin" --db "$DB" adapter add transport --key transport.pub --sectors transport
"$B/tocsin" --db "$DB" adapter add health --key health.pub --sectors health,emergency-services
say "a control room's console key (it may subscribe and acknowledge, never report)"
"$B/tocsin" --db "$DB" console add desk1 --key desk1.pub --clearance official-sensitive

cat >tocsind.ini <<INI
[ingest]
endpoint = $endpoint
server_key = server.key
[journal]
dir = journal
[store]
# tocsind's own role; its password file is given by PGPASSFILE below
conninfo = host=$sock port=5439 dbname=tocsin_demo user=tocsin_server
[correlator]
tick_ms = 200
lateness_s = 5
# The demo replays an hour that has already passed: every report arrives
# after the watermark (late, and marked so), so heartbeat deadlines would
# pass before the heartbeats that meet them arrive. Visibility is off here.
heartbeat_timeout_s = 0
[registry]
poll_ms = 500
[alerts]
endpoint = tcp://127.0.0.1:$alerts_port
control_endpoint = tcp://127.0.0.1:$control_port
# the demo's console holds official-sensitive (alerts.endpoint); the lower
# clearances' streams are off here (docs/control-rooms.md, "Need to know")
endpoint_official =
endpoint_public =
# every live revision also as an OASIS CAP 1.2 file, for other agencies
cap_outbox = outbox
cap_sender = tocsin@aldermoor.example
INI
"$B/tocsind" --config tocsind.ini --check-config

say "tocsind starts (log: var/demo/tocsind.log)"
PGPASSFILE="$top/var/pg/pass/tocsin_server" "$B/tocsind" --config tocsind.ini 2>tocsind.log &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 100); do
	grep -q "tocsind ready" tocsind.log && break
	kill -0 $pid 2>/dev/null || { cat tocsind.log; exit 1; }
	sleep 0.1
done
grep -q "tocsind ready" tocsind.log || { cat tocsind.log; exit 1; }
grep -E "journal opened|key registry|asset registry|ready" tocsind.log | sed 's/^/  /'

# A control room's console (adapters/examples/console.py, the example of
# docs/control-rooms.md) subscribes before the fire and acknowledges P1s.
say "the duty officer's console subscribes to live alerts (log: var/demo/console.log)"
$PY "$top/adapters/examples/console.py" --server-key server.pub --key desk1 \
	--alerts "tcp://127.0.0.1:$alerts_port" --control "tcp://127.0.0.1:$control_port" \
	--operator "duty officer" --ack-p1 --seconds 600 >console.log 2>&1 &
console=$!
trap 'kill $console 2>/dev/null; kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT INT TERM
sleep 1

# The scenario "a primary substation fire" (tests/data/demo-city/README.md)
# happened in the last hour. Each utility's adapter reports its own assets,
# in the order the reports arrived (the file's order), over its own CURVE key.
say "the fire, as it was reported: five adapters, each over its own key"
$PY - "$city/scenario-substation-fire.csv" "$endpoint" <<'PYEOF'
import csv, sys, time
import msgpack, zmq
owner = {"aldermoor-power": "power", "aldermoor-water": "water", "netco": "netco",
         "aldermoor-council/utc": "transport", "aldermoor-tram": "transport",
         "rail": "transport", "nhs-aldermoor": "health",
         "aldermoor-council/social-care": "health"}
key = lambda p: open(p).read().split()[0].encode()
ctx = zmq.Context()
socks = {}
for name in set(owner.values()):
    s = ctx.socket(zmq.DEALER)
    s.curve_serverkey, s.curve_publickey, s.curve_secretkey = (
        key("server.pub"), key(name + ".pub"), key(name + ".key"))
    s.rcvtimeo = 10000
    s.connect(sys.argv[2])
    socks[name] = s
base_ms = (int(time.time()) - 3300) * 1000
counts = {}
root = None
with open(sys.argv[1]) as f:
    for line, r in enumerate(csv.DictReader(f), start=2):
        ev = {"id": "fire-L%d" % line, "source": r["source"], "type": r["type"],
              "time": base_ms + int(float(r["t_offset_s"]) * 1000)}
        for k in ("sector", "asset", "summary"):
            if r[k]:
                ev[k] = r[k]
        if r["severity"]:
            ev["severity"] = int(r["severity"])
        name = next(v for k, v in owner.items() if r["source"].startswith(k))
        if root is None and r["type"] == "asset.down":
            root = ev  # the substation's trip: the C adapter resends it below
        socks[name].send(msgpack.packb(ev))
        reply = msgpack.unpackb(socks[name].recv())
        c = counts.setdefault(name, {"ok": 0, "dup": 0, "err": 0})
        for k in c:
            c[k] += len(reply[k])
for name, c in sorted(counts.items()):
    print("  %-9s %3d ok  %d dup  %d err" % (name, c["ok"], c["dup"], c["err"]))
with open("root.csv", "w") as f:
    f.write("%s,%s,%s,%s,%s,%s,%s,%s\n" % (
        root["id"], root["source"], root["type"],
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(root["time"] // 1000)),
        root["sector"], root["asset"], root.get("severity", ""), "resent: harmless"))
PYEOF

# The adapters' own tools, with a few bad events: each refusal names the
# field and what was expected, and is kept in `rejected`.
t() { date -u -d "@$(( $(date +%s) + $1 ))" +%Y-%m-%dT%H:%M:%SZ; }
{
echo "id,source,type,time,sector,asset,severity,summary"
cat root.csv
cat <<CSV
power-bad-1,aldermoor-power/scada,asset.down,$(t -3200),water,PS-ALD-07,2,a pumping station is not ours to report on
CSV
} >power.csv
cat >water.csv <<CSV
id,source,type,time,sector,asset,severity,summary
water-bad-1,aldermoor-water/telemetry,asset.alarm,$(t -600),water,RES-ALD-01,9,severity out of range
CSV
cat >transport.jsonl <<JSONL
{"id": "rail-tomorrow", "source": "rail/stations", "type": "asset.down", "time": "$(t 86400)", "sector": "transport", "asset": "STN-ALD-CENTRAL", "summary": "a report from tomorrow"}
JSONL

say "the power company's adapter (C, on the SDK): a resent event, and one outside its sectors"
"$B/examples/replay_csv" --endpoint "$endpoint" --server-key server.pub --key power power.csv |
	sed 's/^/  /'
say "the water company's adapter (Python, plain pyzmq + msgpack): severity 9"
$PY "$top/adapters/examples/replay_csv.py" --endpoint "$endpoint" --server-key server.pub \
	--key water water.csv | sed 's/^/  /'
say "tocsin send (JSON lines): a report dated tomorrow"
"$B/tocsin" send transport.jsonl --endpoint "$endpoint" --server-key server.pub --key transport 2>&1 |
	sed 's/^/  /' || true

say "an unregistered key is refused at the handshake (no reply; audited)"
"$B/tocsin" keygen stranger >/dev/null
"$B/tocsin" send transport.jsonl --endpoint "$endpoint" --server-key server.pub --key stranger \
	--timeout-ms 1500 2>&1 | tail -n 1 | sed 's/^/  /' || true

# The correlator closes each window as its clock passes it; the store keeps
# every revision. Wait for the fire's incident to be resolved.
for _ in $(seq 1 100); do
	n=$(psql -tAc "SELECT count(*) FROM incidents WHERE root_asset = 'SUB-ALD-PRI-07' AND msg = 'resolved'")
	[ "$n" -ge 1 ] && break
	sleep 0.2
done

say "incidents: one per cascade, not a flood of alarms"
psql -c "SELECT incident, priority AS p, cause, msg AS state, rev, title FROM incidents ORDER BY priority, opened"
inc=$(psql -tAc "SELECT incident FROM incidents WHERE root_asset = 'SUB-ALD-PRI-07' AND cause = 'observed' ORDER BY rev DESC LIMIT 1")
say "why each asset is in $inc: the dependency path from the root and its window"
psql -c "SELECT to_char(time, 'HH24:MI:SS') AS failed, sector, asset, state, array_to_string(path, ' > ') AS path, to_char(window_lo, 'HH24:MI:SS') || '..' || to_char(window_hi, 'HH24:MI:SS') AS window FROM incident_members WHERE incident = '$inc' ORDER BY time, asset"
say "the forecast: what was at risk next and when, and whether it was borne out"
psql -c "SELECT r->>'asset' AS asset, r->>'sector' AS sector, to_char((r->>'eta')::timestamptz, 'HH24:MI:SS') AS eta, r->>'via' AS via, r->>'outcome' AS outcome FROM incidents, jsonb_array_elements(body->'at_risk') r WHERE incident = '$inc' ORDER BY (r->>'eta')::timestamptz LIMIT 12"
say "what the duty officer's console received: every revision in seq order, the P1 acknowledged"
sleep 1
kill $console 2>/dev/null || true
wait $console 2>/dev/null || true
grep -E "^#|^ack|^caught|^ESCALATED" console.log | head -n 12 | sed 's/^/  /'
grep -o '^#[0-9]*' console.log | tr -d '#' | awk '
	NR == 1 { first = $1 } NR > 1 && $1 != prev + 1 { gaps++ } { prev = $1 }
	END { printf "  ... %d alerts in all, seq %d..%d, %s\n", NR, first, prev,
	      gaps ? gaps " gaps" : "no gap" }'
psql -c "SELECT incident, rev, operator, to_char(at, 'HH24:MI:SS') AS at FROM alert_acks ORDER BY at"
say "the same alerts as OASIS CAP 1.2 files for other agencies (var/demo/outbox), valid against the schema"
ls outbox | head -n 3 | sed 's/^/  /'
echo "  ... $(ls outbox | wc -l) files"
last=$(ls outbox/*.xml | tail -n 1)
echo "  $(xmllint --noout --schema "$top/tests/data/cap/CAP-v1.2.xsd" outbox/*.xml 2>&1 | grep -c ' validates$') of $(ls outbox/*.xml | wc -l) validate against CAP-v1.2.xsd; the last one:"
grep -E "<(identifier|sent|status|msgType|references|category|urgency|severity|certainty|headline)>" "$last" | head -n 11 | sed 's/^ */  /' | cut -c 1-150
say "stored in PostgreSQL: $(psql -tAc "SELECT count(*) FROM events") events, $(psql -tAc "SELECT count(*) FROM incident_revisions") incident revisions"

say "rejected input, kept for inspection"
psql -c "SELECT adapter, code, item, event_id, msg FROM rejected ORDER BY journal_offset"
say "the audit trail (tocsin audit, as tocsin_admin: consoles may not read it)"
"$B/tocsin" --db "$DB" audit --limit 40 | cut -c 1-150 | sed 's/^/  /'

say "a drill: the last two hours recorded, replayed offline as an exercise, compared with a second feed to the community hospital, and reported"
"$B/tocsin" --db "$DB_READ" record --from "$(t -7200)" --to "$(t 60)" -o drill.jsonl
"$B/tocsin" --db "$DB_READ" replay drill.jsonl --drill demo --heartbeat-timeout 0 --json >drill.run.jsonl
"$B/tocsin" --db "$DB_READ" replay drill.jsonl --drill demo --heartbeat-timeout 0 --json \
	--without 'SUB-ALD-SEC-035>HOSP-ALD-COMM-E' >drill.b.jsonl
"$B/tocsin" drill diff drill.run.jsonl drill.b.jsonl | sed 's/^/  /'
"$B/tocsin" report drill.run.jsonl --scenario drill.jsonl --assets "$city/assets.csv" \
	--deps "$city/dependencies.csv" --title "Aldermoor: Eastfield fire, drill" -o drill.html
echo "  open var/demo/drill.html in a browser"

say "tocsind stops cleanly on SIGTERM"
kill -TERM $pid
wait $pid && echo "  exit status 0"
trap - EXIT INT TERM
tail -n 3 tocsind.log | sed 's/^/  /'
