#!/usr/bin/python3
"""alerts_bench.py - the alerts part of `make bench` (docs/bench.md, "Alert
latency"): the time from a failure's arrival at tocsind to the first alert
revision that lists it, at each of 50 subscribed consoles, at a fixed offered
load. It reports; it asserts nothing.

    /usr/bin/python3 tests/bench/alerts_bench.py [--rate 1000] [--seconds 30]
        [--consoles 50] [--failure-share 0.02] [--lateness-s 1]

A real tocsind (the build in $TOCSIN_BUILD, default build) over the demo city
imported into a fresh database of the private PostgreSQL (`make pg-start`),
one adapter sending `--rate` events/s in frames every 10 ms with event time =
now: alarms on random assets and, for `--failure-share` of them, a failure of
an asset that is up (restored 5 s later). Each console is a CURVE SUB on
live/ in this process; every alert is decoded and each failure it lists is
timed once per console: latency = received - sent. The correlator's part is
by design at least `lateness_s` (the watermark trails the clock by it) plus
up to one emit interval (1 s): the figure shows what is added on top.

With `--drill-events N` (default 100000), a planner runs a drill of N events
on the same server (`tocsin replay --server`, docs/drills.md) from a third of
the way through: the figures are then also given for the failures sent while
the drill ran, against those sent outside it (design §6: live alerts are
never affected).
"""
import argparse
import json
import os
import subprocess
import random
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "integration"))
import harness  # noqa: E402
import msgpack  # noqa: E402
import zmq  # noqa: E402

CITY = os.path.join(harness.REPO, "tests", "data", "demo-city")


def read_assets():
    import csv
    with open(os.path.join(CITY, "assets.csv"), newline="") as f:
        return [(r["id"], r["sector"]) for r in csv.DictReader(f)]


def pct(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, int(round(p / 100.0 * (len(sorted_values) - 1))))
    return sorted_values[k]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=int, default=1000, help="events/s offered")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--consoles", type=int, default=50)
    ap.add_argument("--failure-share", type=float, default=0.02)
    ap.add_argument("--lateness-s", type=int, default=1)
    ap.add_argument("--drill-events", type=int, default=100000)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="tocsin-bench-alerts-")
    db = harness.Database("tocsin_bench_alerts_" + os.urandom(4).hex()).create()
    try:
        return run(args, work, db)
    finally:
        db.drop()


def run(args, work, db):
    harness.tocsin("--db", db.conninfo, "assets", "import", os.path.join(CITY, "assets.csv"),
                   os.path.join(CITY, "dependencies.csv"))
    server_key = harness.keygen(work, "server")
    ak = harness.keygen(work, "load")
    harness.adapter_add(db, "load", ak, harness.ALL_SECTORS)
    consoles_keys = []
    for i in range(args.consoles):
        k = harness.keygen(work, "desk%d" % i)
        harness.console_add(db, "desk%d" % i, k)
        consoles_keys.append(k)
    args.planner = harness.keygen(work, "planner")
    harness.tocsin("--db", db.conninfo, "planner", "add", "planner", "--key",
                   args.planner.pub_path)
    args.recording = write_drill(work, args.drill_events)
    server = harness.TocsindProcess(work, db, server_key, {
        "correlator.tick_ms": 100, "correlator.lateness_s": args.lateness_s,
        "correlator.heartbeat_timeout_s": 0})
    server.start()
    try:
        return measure(args, server, consoles_keys, ak)
    finally:
        server.stop()


def write_drill(work, n):
    """A drill of n events: the demo city's heartbeats, with the substation fire
    every 5000 (a feed is mostly telemetry), in 2026-08."""
    path = os.path.join(work, "drill.jsonl")
    fire = harness.scenario_events("scenario-substation-fire.csv", 0, None)
    sources = sorted({e["source"] for e in fire})
    t, k, out = 1786000000000, 0, []
    while len(out) < n:
        if k % 5000 == 0:
            out += harness.scenario_events("scenario-substation-fire.csv", t, "f%d" % k)
        out.append({"id": "hb%d" % k, "source": sources[k % len(sources)],
                    "type": "heartbeat", "time": t})
        t += 1000
        k += 1
    with open(path, "w") as f:
        for e in out[:n]:
            f.write(json.dumps(e) + "\n")
    return path


def drill(args, server, window):
    """Run the drill; window gets its [start, end] in monotonic time."""
    window.append(time.monotonic())
    p = subprocess.run([harness.TOCSIN, "replay", args.recording, "--server",
                        server.control_endpoint, "--drill", "bench-%d" % os.getpid(),
                        "--key", args.planner.key_path, "--server-key",
                        server.server_key.pub_path], capture_output=True, text=True)
    window.append(time.monotonic())
    window.append(p.returncode)
    window.append(p.stderr.strip().splitlines()[-1] if p.stderr.strip() else "")


def measure(args, server, consoles_keys, ak):
    sent = {}        # failure event id -> monotonic send time
    lock = threading.Lock()
    consoles = [harness.Console(server, k) for k in consoles_keys]
    time.sleep(1.0)  # subscriptions reach the PUB before the first alert

    assets = read_assets()
    down = {}        # asset -> restore due (monotonic)
    stop = threading.Event()
    stats = {"frames": 0, "events": 0, "failures": 0, "refused": 0}

    def sender():
        a = harness.Adapter(server, ak, source="bench/load")
        rng = random.Random(1)
        n = 0
        t0 = time.monotonic()
        tick = 0.01
        while not stop.is_set():
            due = t0 + (n + 1) * tick
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            n += 1
            batch = []
            per = args.rate * tick
            k = int(per) + (1 if rng.random() < per - int(per) else 0)
            now_ms = harness.now_ms()
            mono = time.monotonic()
            for asset, when in list(down.items()):
                if when <= mono:
                    del down[asset]
                    sector = dict(assets).get(asset)
                    batch.append(harness.make_event("bench/load", type="asset.up",
                                                    sector=sector, asset=asset,
                                                    time_ms=now_ms))
            for _ in range(k):
                asset, sector = assets[rng.randrange(len(assets))]
                if rng.random() < args.failure_share and asset not in down:
                    ev = harness.make_event("bench/load", type="asset.down", sector=sector,
                                            asset=asset, time_ms=now_ms)
                    down[asset] = mono + 5.0
                    with lock:
                        sent[ev["id"]] = mono
                    stats["failures"] += 1
                else:
                    ev = harness.make_event("bench/load", type="asset.alarm", sector=sector,
                                            asset=asset, time_ms=now_ms)
                batch.append(ev)
            if batch:
                reply = a.send(batch, timeout=10)
                stats["frames"] += 1
                stats["events"] += len(batch)
                stats["refused"] += len(reply["err"])
        a.close()

    lat = []                       # seconds, one per (console, failure)
    lat_sent = []                  # the failure's send time, for each of lat
    seen = [set() for _ in consoles]
    last_seq = [0] * len(consoles)
    gaps = [0] * len(consoles)
    received = [0] * len(consoles)
    poller = zmq.Poller()
    for c in consoles:
        poller.register(c.sub, zmq.POLLIN)
    index = {c.sub: i for i, c in enumerate(consoles)}

    th = threading.Thread(target=sender, daemon=True)
    t_start = time.monotonic()
    th.start()
    end_send = t_start + args.seconds
    end_all = end_send + args.lateness_s + 10
    window = []
    drill_th = threading.Thread(target=drill, args=(args, server, window), daemon=True)
    drill_at = t_start + args.seconds / 3
    while time.monotonic() < end_all:
        if args.drill_events and not window and time.monotonic() >= drill_at:
            drill_th.start()
        if time.monotonic() >= end_send and not stop.is_set():
            stop.set()
        for sock, _ in poller.poll(100):
            i = index[sock]
            while True:
                try:
                    topic, body = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                now = time.monotonic()
                a = msgpack.unpackb(body, raw=False)
                received[i] += 1
                if last_seq[i] and a["seq"] != last_seq[i] + 1:
                    gaps[i] += 1
                last_seq[i] = a["seq"]
                for m in a.get("affected", ()):
                    eid = m.get("event", {}).get("id")
                    if eid in seen[i]:
                        continue
                    with lock:
                        t = sent.get(eid)
                    if t is not None:
                        seen[i].add(eid)
                        lat.append(now - t)
                        lat_sent.append(t)
    th.join(10)
    if window:
        drill_th.join(600)
    for c in consoles:
        c.close()
    during = sorted(x for x, t in zip(lat, lat_sent) if len(window) >= 2
                    and window[0] <= t <= window[1])
    outside = sorted(x for x, t in zip(lat, lat_sent) if not (len(window) >= 2
                     and window[0] <= t <= window[1]))

    lat.sort()
    expected = stats["failures"] * len(consoles)
    print("alerts: %d consoles, %.0f s at %d events/s offered (%d sent in %d frames, %d refused),"
          " %d failures" % (len(consoles), args.seconds, args.rate, stats["events"],
                             stats["frames"], stats["refused"], stats["failures"]))
    print("alerts: lateness_s %d, tick 100 ms, emit interval 1 s: the correlator holds each "
          "event at least %d s by design" % (args.lateness_s, args.lateness_s))
    print("alerts: failure -> its first alert at a console: p50 %.3f s, p99 %.3f s, max %.3f s"
          " (%d of %d console x failure pairs seen)"
          % (pct(lat, 50), pct(lat, 99), lat[-1] if lat else float("nan"), len(lat), expected))
    print("alerts: above the lateness: p50 %.3f s, p99 %.3f s"
          % (pct(lat, 50) - args.lateness_s, pct(lat, 99) - args.lateness_s))
    print("alerts: %d alerts received per console (min %d, max %d), seq gaps %d"
          % (sum(received) // max(1, len(consoles)), min(received), max(received), sum(gaps)))
    if len(window) >= 4:
        secs = window[1] - window[0]
        print("alerts: a drill of %d events on the same server took %.1f s (%.0f events/s; "
              "exit %d: %s)" % (args.drill_events, secs, args.drill_events / secs,
                                window[2], window[3]))
        print("alerts: live failure -> first alert, sent while the drill ran: p50 %.3f s, "
              "p99 %.3f s (%d pairs); outside it: p50 %.3f s, p99 %.3f s (%d pairs); "
              "ratio of p99s %.2f"
              % (pct(during, 50), pct(during, 99), len(during), pct(outside, 50),
                 pct(outside, 99), len(outside),
                 pct(during, 99) / pct(outside, 99) if outside and during else float("nan")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
