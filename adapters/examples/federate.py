#!/usr/bin/python3
"""federate.py - a regional Tocsin's incidents as events for a national Tocsin (an
adapter; docs/operations.md, "Regions federate"), on Debian's python3-zmq and
python3-msgpack only.

    /usr/bin/python3 federate.py --region north \\
        --regional-key regional.pub --console-key fed-north \\
        [--alerts tcp://REGION:7451] [--control tcp://REGION:7452] \\
        --national tcp://NATIONAL:7450 --national-key national.pub --adapter-key north \\
        [--asset-prefix north:] [--state north.seq] [--seconds N]

It is a console of the regional server (`--console-key fed-north` reads fed-north.key and
.pub, registered there with `tocsin console add`) and an adapter of the national one
(`--adapter-key north`, registered there with `tocsin adapter add north --sectors ...`).
Every live alert revision of the region becomes one event:

    id       "<incident>/r<rev>" (unique per source: a resend is answered `dup`)
    source   "tocsin/<region>"
    type     asset.down (alert, update), asset.up (resolved), asset.alarm (merged)
    sector   the root's sector;  asset: --asset-prefix + the root's asset id (a
             visibility incident's root, a source, with '/' made '.')
    time     the revision's `updated` time;  severity: the priority (1-5)
    summary  the title;  attrs: region, incident, rev, seq, msg, cause, area,
             affected and at_risk counts

so the national engine sees each regional cascade as its root failing, and correlates
roots across regions over the national graph of what crosses them (a grid supply point,
a trunk main, a rail line). It follows the console's rule: the alerts' `seq` is gapless;
it reads them with `since` from the last seq the national server acknowledged (kept in
--state, written after each acknowledgement), so a restart, a gap or a failover of
either server resends at most what was not acknowledged, which the national server
answers `dup`. The SUB is only a wake-up.

Exit status: 0 (after --seconds, or Ctrl-C), 1 when a server does not answer, 2 on a
usage error.
"""
import argparse
import datetime
import os
import re
import sys
import time

import msgpack
import zmq

EVENT_TYPE = {"alert": "asset.down", "update": "asset.down", "resolved": "asset.up",
              "merged": "asset.alarm"}
RETRY_CODES = {"E_RATE", "E_UNAVAILABLE"}
BATCH = 200  # events per frame (at most 1000)


def read_key(path):
    with open(path, "rb") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(b"#"):
                return line
    raise ValueError("%s: no key" % path)


def millis(t):
    """A body's time (RFC 3339 text, a msgpack Timestamp, or ms) as wire ms."""
    if isinstance(t, int):
        return t
    if isinstance(t, msgpack.Timestamp):
        return t.to_unix_nano() // 1000000
    d = datetime.datetime.fromisoformat(str(t).replace("Z", "+00:00"))
    return int(d.timestamp() * 1000)


def count(v):
    return v if isinstance(v, int) else len(v or ())


def to_event(a, region, prefix):
    """The national event of one regional alert body, or None (no root: nothing to say)."""
    root = a.get("root") or {}
    if not root.get("asset") or not root.get("sector") or a.get("msg") not in EVENT_TYPE:
        return None
    attrs = {"region": region, "incident": a["incident"], "rev": a["rev"], "seq": a["seq"],
             "msg": a["msg"], "cause": a.get("cause") or "", "area": a.get("area") or "",
             "affected": count(a.get("affected")),
             "at_risk": count(a.get("at_risk_count", a.get("at_risk")))}
    return {"id": ("%s/r%d" % (a["incident"], a["rev"]))[:128],
            "source": "tocsin/%s" % region,
            "type": EVENT_TYPE[a["msg"]],
            "time": millis(a.get("updated") or root["time"]),
            "sector": root["sector"],
            # a visibility incident's root is a source ("netco/noc"): made an asset id
            "asset": re.sub(r"[^A-Za-z0-9._:-]", ".", prefix + root["asset"])[:64],
            "severity": min(5, max(1, int(a.get("priority") or 3))),
            "summary": (a.get("title") or "")[:512],
            "attrs": attrs}


class Federate:
    def __init__(self, args):
        self.args = args
        self.ctx = zmq.Context()
        regional = read_key(args.regional_key)
        cpub, csec = read_key(args.console_key + ".pub"), read_key(args.console_key + ".key")

        def curve(s, server, pub, sec):
            s.curve_serverkey, s.curve_publickey, s.curve_secretkey = server, pub, sec
            s.linger = 0
            return s
        self.sub = curve(self.ctx.socket(zmq.SUB), regional, cpub, csec)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"live/")
        self.sub.connect(args.alerts)
        self.ctl = curve(self.ctx.socket(zmq.DEALER), regional, cpub, csec)
        self.ctl.connect(args.control)
        self.nat_keys = (read_key(args.national_key), read_key(args.adapter_key + ".pub"),
                         read_key(args.adapter_key + ".key"))
        self.out = None
        self.connect_national()
        self.last = self.load_state()
        self.sent = self.skipped = 0

    def connect_national(self):
        if self.out is not None:
            self.out.close(linger=0)
        self.out = self.ctx.socket(zmq.DEALER)
        self.out.curve_serverkey, self.out.curve_publickey, self.out.curve_secretkey = \
            self.nat_keys
        self.out.linger = 0
        self.out.connect(self.args.national)

    def load_state(self):
        try:
            with open(self.args.state) as f:
                return int(f.read().strip() or 0)
        except FileNotFoundError:
            return 0

    def save_state(self):
        tmp = self.args.state + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % self.last)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.args.state)

    def request(self, **req):
        self.ctl.send(msgpack.packb(req))
        if not self.ctl.poll(10000):
            raise TimeoutError("regional server: no reply to %s within 10 s" % req["op"])
        reply = msgpack.unpackb(self.ctl.recv())  # times stay msgpack Timestamps
        if not reply.get("ok"):
            raise RuntimeError("regional server: %s: %s" % (reply.get("code"),
                                                          reply.get("msg")))
        return reply

    def send(self, events):
        """Send until every event is acknowledged (ok or dup); retry what gets E_RATE or
        E_UNAVAILABLE or no answer; report and drop what is refused for good."""
        pending = list(events)
        for attempt in range(60):
            if not pending:
                return
            self.out.send(msgpack.packb(pending))
            if not self.out.poll(10000):
                self.connect_national()  # a late reply must not be taken for the next
                continue
            r = msgpack.unpackb(self.out.recv())
            retry = []
            for e in r["err"]:
                ev = pending[e["i"]]
                if e["code"] in RETRY_CODES:
                    retry.append(ev)
                else:
                    self.skipped += 1
                    print("federate: %s refused: %s %s" % (ev["id"], e["code"], e["msg"]),
                          file=sys.stderr, flush=True)
            self.sent += len(r["ok"])
            pending = retry
            if pending:
                time.sleep(min(5.0, 0.2 * (attempt + 1)))
        raise TimeoutError("national server: %d events not acknowledged" % len(pending))

    def catch_up(self):
        while True:
            r = self.request(op="since", seq=self.last)
            alerts = [a for a in r["alerts"] if a["seq"] > self.last]
            events = [ev for ev in (to_event(a, self.args.region, self.args.asset_prefix)
                                    for a in alerts) if ev]
            for i in range(0, len(events), BATCH):
                self.send(events[i:i + BATCH])
            if alerts:
                self.last = alerts[-1]["seq"]
                self.save_state()
            if not r["more"]:
                return

    def run(self):
        end = time.monotonic() + self.args.seconds if self.args.seconds else None
        self.catch_up()
        while end is None or time.monotonic() < end:
            wait = 1000 if end is None else max(1, int(min(1, end - time.monotonic()) * 1000))
            if self.sub.poll(wait):
                while self.sub.poll(0):
                    self.sub.recv_multipart()  # a wake-up: `since` has the content
            self.catch_up()
        print("federate: region %s up to seq %d: %d events acknowledged, %d refused"
              % (self.args.region, self.last, self.sent, self.skipped), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--region", required=True, help="the region's name, in the source")
    p.add_argument("--regional-key", required=True, help="the regional server's public key")
    p.add_argument("--console-key", required=True, help="PREFIX of the console key files")
    p.add_argument("--alerts", default="tcp://127.0.0.1:7451")
    p.add_argument("--control", default="tcp://127.0.0.1:7452")
    p.add_argument("--national", required=True, help="the national server's ingest endpoint")
    p.add_argument("--national-key", required=True, help="the national server's public key")
    p.add_argument("--adapter-key", required=True, help="PREFIX of the adapter key files")
    p.add_argument("--asset-prefix", default="", help="prepended to the root asset's id")
    p.add_argument("--state", default=None, help="the last seq acknowledged "
                   "(default: federate-REGION.seq)")
    p.add_argument("--seconds", type=float, default=0, help="stop after this long")
    args = p.parse_args()
    if args.state is None:
        args.state = "federate-%s.seq" % args.region
    try:
        Federate(args).run()
    except (TimeoutError, RuntimeError, ValueError, OSError) as e:
        print("federate: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
