"""test_rate.py - fair share and rate limits (design 3.1, 7; docs/security.md "Fair share
and rate limits") against a real tocsind and the real PostgreSQL.

- an adapter over its rate gets E_RATE for the excess, the accepted events are durable and
  stored exactly once, and the refused ones, retried after the wait the reply names, are
  accepted: nothing lost;
- a limit changed with `tocsin adapter limit` applies to the live connection;
- the per-key cap of frames in flight;
- the CLI's and the configuration's errors;
- a flooding adapter against a well-behaved one: the well-behaved adapter's ack latency p99
  stays within its budget (docs/security.md), with the figures printed with and without the
  limits (they are reported, not asserted, for the run without).

Run as `python3 test_rate.py flood ...` this file is the flooder's process (see Flooder).
"""
import json
import os
import re
import subprocess
import sys
import time
import unittest

import msgpack
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (TOCSIN, TOCSIND, Adapter, IntegrationCase, lit, pack, run,  # noqa: E402
                     tocsin, wait_until)

RETRY_RE = re.compile(r"retry in (\d+) ms")

# The well-behaved adapter's ack latency budget while another floods (docs/security.md):
# generous, because the CI machine has 2 cores shared by tocsind, PostgreSQL, the flooder
# and this process. A budget, not a speed target: `make bench` reports the figures.
ACK_P99_BUDGET_S = 0.3


def registry_changes(server):
    """How many adapter registries the server has been handed (the ingest thread swaps each
    in at its next wake-up, within milliseconds)."""
    return len(re.findall(r"key registry changed\W.*kind=adapter", server.log()))


class RateCase(IntegrationCase):
    def limit(self, name, *args):
        """`tocsin adapter limit NAME ARGS`, then wait until the server has the new registry."""
        before = registry_changes(self.server)
        p = tocsin("--db", self.db.conninfo, "adapter", "limit", name, *args)
        wait_until(lambda: registry_changes(self.server) > before, 10, 0.05,
                   "tocsind to pick up the new registry")
        time.sleep(0.1)  # from the watcher to the ingest thread
        return p.stdout

    def events(self, a, n, tag):
        return [a.event(id="%s-%d" % (tag, i), asset="ukpn.rate.%d" % i) for i in range(n)]

    def send_until_accepted(self, a, events, deadline_s=60):
        """Send `events`, then resend whatever comes back E_RATE after the wait its reply
        names, until every one is ok. Returns (ok ids in order, replies)."""
        pending = list(events)
        ok, replies = [], []
        deadline = time.monotonic() + deadline_s
        while pending:
            self.assertLess(time.monotonic(), deadline, "still refused after %ds" % deadline_s)
            r = a.send(pending)
            replies.append(r)
            self.assertEqual(r["dup"], [], "a refused event was never taken: no dup")
            ok += r["ok"]
            codes = {e["code"] for e in r["err"]}
            self.assertLessEqual(codes, {"E_RATE"}, r["err"][:3])
            okset = set(r["ok"])
            refused = [e for e in pending if e["id"] not in okset]
            if refused:
                waits = [int(m.group(1)) for e in r["err"] for m in [RETRY_RE.search(e["msg"])]
                         if m]
                self.assertTrue(waits, "an E_RATE names the wait: %r" % r["err"][:1])
                time.sleep(max(waits) / 1000.0 + 0.01)
            pending = refused
        return ok, replies


class RateLimitTest(RateCase):
    """Server default 1000 events/s, burst 200; adapters at the default unless changed."""

    SERVER_OPTIONS = {"ingest.rate": 1000, "ingest.burst": 200}
    ADAPTERS = {
        "limited": (["energy"], None),
        "slow": (["energy"], None),
        "other": (["energy"], None),
    }

    def test_excess_refused_accepted_stored_exactly_and_retried(self):
        a = self.adapter("limited")
        evs = self.events(a, 1000, "x")
        t0 = time.monotonic()
        r = a.send(evs)
        elapsed = time.monotonic() - t0
        # The accepted ones are a prefix of the batch: the bucket's 200, and what flowed in
        # while the frame was on its way (1 per ms).
        n = len(r["ok"])
        self.assertGreaterEqual(n, 200, r["err"][:1])
        self.assertLessEqual(n, 200 + int(1000 * elapsed) + 1)
        self.assertEqual(r["ok"], [e["id"] for e in evs[:n]])
        self.assertEqual(r["dup"], [])
        self.assertEqual([(e["i"], e["id"], e["code"]) for e in r["err"]],
                         [(i, evs[i]["id"], "E_RATE") for i in range(n, 1000)])
        msg = r["err"][0]["msg"]
        self.assertIn('over the rate of adapter "limited" (1000 events/s, burst 200)', msg)
        self.assertRegex(msg, r"%d events of this frame refused, retry in \d+ ms" % (1000 - n))

        # The adapter retries after the wait the reply names: every one gets in.
        ok, replies = self.send_until_accepted(a, evs[n:])
        self.assertEqual(sorted(r["ok"] + ok), sorted(e["id"] for e in evs))
        self.assertGreater(len(replies), 1, "800 events over a burst of 200 took one go?")

        # Durable, stored exactly once, nothing lost.
        self.wait_stored(a.source, [e["id"] for e in evs])
        time.sleep(0.5)
        self.assertEqual(self.db.scalar("SELECT count(*) FROM events WHERE source = %s"
                                        % lit(a.source)), 1000)
        # Kept as rejected (one record per refused frame, no raw bytes) and audited once.
        rows = wait_until(lambda: self.db.query(
            "SELECT item, event_id, msg, raw FROM rejected WHERE adapter = 'limited' "
            "AND code = 'E_RATE' ORDER BY journal_offset"), 10, 0.2, "E_RATE in rejected")
        self.assertEqual(rows[0]["item"], n)
        self.assertEqual(rows[0]["event_id"], evs[n]["id"])
        self.assertEqual(rows[0]["msg"], msg)
        self.assertIsNone(rows[0]["raw"])
        self.assertLessEqual(len(rows), len(replies))
        audit = wait_until(lambda: self.db.query(
            "SELECT actor, subject, origin, detail FROM audit "
            "WHERE action = 'ingest.rate_limited' AND subject = 'limited'"),
            10, 0.2, "an ingest.rate_limited audit row")
        self.assertEqual(len(audit), 1, "audited once a minute per key, not per frame")
        self.assertEqual(audit[0]["actor"], "tocsind-it")
        self.assertEqual(audit[0]["origin"], "127.0.0.1")
        self.assertIn("over the rate", audit[0]["detail"]["reason"])

        # Another adapter's bucket is its own.
        b = self.adapter("other")
        evs_b = self.events(b, 150, "o")
        self.assertEqual(b.send(evs_b)["ok"], [e["id"] for e in evs_b])

    def test_limit_changes_on_the_live_connection(self):
        a = self.adapter("slow")
        out = self.limit("slow", "--rate", "1", "--burst", "3")
        self.assertIn('adapter "slow": rate limit 1/s burst 3 (was default)', out)
        evs = [a.event(id="s-%d" % i) for i in range(5)]
        self.assertReply(a.send(evs[:2]), ok=[evs[0]["id"], evs[1]["id"]], dup=[],
                         err_codes={})
        # 1 token left for a frame of 2 (within the burst): refused whole, before it is
        # decoded (a frame is admitted whole or not at all, unless larger than the burst).
        r = a.send(evs[2:4])
        self.assertReply(r, ok=[], dup=[], err_codes={None: "E_RATE"})
        self.assertIsNone(r["err"][0]["id"])
        self.assertRegex(r["err"][0]["msg"],
                         r'^over the rate of adapter "slow" \(1 events/s, burst 3\): 1 tokens '
                         r'left for 2 events, frame refused, retry in \d+ ms$')
        wait = int(RETRY_RE.search(r["err"][0]["msg"]).group(1))
        self.assertLessEqual(wait, 1000)
        time.sleep(wait / 1000.0 + 0.05)
        self.assertReply(a.send(evs[2:4]), ok=[evs[2]["id"], evs[3]["id"]], dup=[],
                         err_codes={})
        # Empty now: one event waits for the next token.
        r = a.send(evs[4])
        self.assertReply(r, ok=[], dup=[], err_codes={None: "E_RATE"})
        self.assertIn("0 tokens left for 1 events", r["err"][0]["msg"])
        time.sleep(int(RETRY_RE.search(r["err"][0]["msg"]).group(1)) / 1000.0 + 0.05)
        self.assertReply(a.send(evs[4]), ok=[evs[4]["id"]], dup=[], err_codes={})

        # No limit for this key: the same connection sends 3000 at once.
        out = self.limit("slow", "--rate", "0")
        self.assertIn("rate limit none (was 1/s burst 3)", out)
        big = [a.event(id="big-%d" % i) for i in range(3000)]
        for i in range(0, 3000, 1000):
            r = a.send(big[i:i + 1000])
            self.assertEqual(len(r["ok"]), 1000, r["err"][:1])

        # Back to the default (1000/s, burst 200).
        out = self.limit("slow", "--rate", "default", "--burst", "default")
        self.assertIn("rate limit default (was none)", out)
        r = a.send([a.event(id="d-%d" % i) for i in range(500)])
        self.assertLess(len(r["ok"]), 500)
        self.assertEqual({e["code"] for e in r["err"]}, {"E_RATE"})

        rows = self.db.query("SELECT actor, origin, detail FROM audit WHERE action = "
                             "'adapter.limit' AND subject = 'slow' ORDER BY seq")
        self.assertEqual([r["detail"] for r in rows], [
            {"rate": 1, "burst": 3, "was_rate": None, "was_burst": None},
            {"rate": 0, "burst": 3, "was_rate": 1, "was_burst": 3},
            {"rate": None, "burst": None, "was_rate": 0, "was_burst": 3}])
        self.assertEqual({r["origin"] for r in rows}, {"cli"})

    def test_cli_rate_options_and_errors(self):
        db = ("--db", self.db.conninfo)
        k = self.new_key("cli-rate")
        p = tocsin(*db, "adapter", "add", "cli-rate", "--key", k.pub_path, "--sectors", "water",
                   "--rate", "250", "--burst", "40")
        self.assertIn("rate limit 250/s burst 40", p.stdout)
        self.assertEqual(self.db.query(
            "SELECT rate_per_s, rate_burst FROM adapters WHERE name = 'cli-rate'"),
            [{"rate_per_s": 250, "rate_burst": 40}])
        detail = self.db.scalar("SELECT detail FROM audit WHERE action = 'adapter.add' "
                                "AND subject = 'cli-rate'")
        self.assertEqual((detail["rate"], detail["burst"]), (250, 40))
        lst = tocsin(*db, "adapter", "list").stdout.splitlines()
        self.assertEqual(lst[0].split(), ["NAME", "SECTORS", "ASSETS", "RATE", "KEY", "EXPIRES",
                                          "OLD_KEY_UNTIL", "CREATED", "REVOKED"])
        rows = {l.split()[0]: l.split() for l in lst[1:]}
        self.assertEqual(rows["cli-rate"][3], "250/s,burst=40")
        self.assertEqual(rows["other"][3], "default")

        bad = [
            (["add", "x1", "--key", k.pub_path, "--sectors", "water", "--rate", "-1"],
             '--rate: expected 0 to 1000000 events/s (0: no limit) or default, got "-1"'),
            (["add", "x1", "--key", k.pub_path, "--sectors", "water", "--rate", "fast"],
             '--rate: expected 0 to 1000000 events/s (0: no limit) or default, got "fast"'),
            (["add", "x1", "--key", k.pub_path, "--sectors", "water", "--burst", "0"],
             '--burst: expected 1 to 1000000 events or default, got "0"'),
            (["add", "x1", "--key", k.pub_path, "--sectors", "water", "--burst", "1000001"],
             '--burst: expected 1 to 1000000 events or default, got "1000001"'),
            (["limit", "nobody", "--rate", "5"], 'no adapter named "nobody"'),
            (["limit", "other", "--rate", "2.5"],
             '--rate: expected 0 to 1000000 events/s (0: no limit) or default, got "2.5"'),
            (["limit", "other"], "give --rate, --burst or both"),
            (["limit", "other", "--rate"], "--rate needs a value"),
        ]
        for args, want in bad:
            p = tocsin(*db, "adapter", *args, check=False)
            self.assertNotEqual(p.returncode, 0, args)
            self.assertIn(want, p.stderr, args)
        # A console has no rate.
        p = tocsin(*db, "console", "add", "c1", "--key", k.pub_path, "--rate", "5", check=False)
        self.assertIn("unexpected argument --rate", p.stderr)
        tocsin(*db, "adapter", "revoke", "cli-rate")
        p = tocsin(*db, "adapter", "limit", "cli-rate", "--rate", "5", check=False)
        self.assertIn('adapter "cli-rate" is revoked', p.stderr)
        # and nothing bad reached the table
        self.assertEqual(self.db.scalar("SELECT count(*) FROM adapters WHERE name = 'x1'"), 0)

    def test_check_config_errors(self):
        for text, want in [
            ("[ingest]\nrate = -5\n", 'ingest.rate: expected an integer between 0 and 1000000, '
                                      'got "-5"'),
            ("[ingest]\nburst = 0\n", 'ingest.burst: expected an integer between 1 and 1000000, '
                                      'got "0"'),
            ("[ingest]\ninflight_per_key = lots\n",
             'ingest.inflight_per_key: expected an integer between 0 and 65536, got "lots"'),
        ]:
            path = os.path.join(self.tmp, "bad-rate.ini")
            with open(path, "w") as f:
                f.write(text)
            p = run([TOCSIND, "--config", path, "--check-config"], check=False)
            self.assertNotEqual(p.returncode, 0, text)
            self.assertIn("bad-rate.ini:2: " + want, p.stderr + p.stdout)


class InflightCapTest(RateCase):
    """ingest.inflight_per_key = 2: a key pipelining more frames gets E_RATE for the rest."""

    SERVER_OPTIONS = {"ingest.inflight_per_key": 2, "ingest.rate": 0}
    ADAPTERS = {"piper": (["energy"], None)}

    def test_frames_past_the_cap_refused_then_retried(self):
        a = self.adapter("piper")
        frames = [[a.event(id="p%d-%d" % (f, i)) for i in range(200)] for f in range(40)]
        for fr in frames:
            a.sock.send(pack(fr))  # all at once, before any reply
        replies = []
        for _ in frames:
            self.assertTrue(a.sock.poll(10000, zmq.POLLIN), self.server.log_tail())
            replies.append(msgpack.unpackb(a.sock.recv(), raw=False))
        capped = [r for r in replies if r["err"]]
        self.assertTrue(capped, "40 frames sent at once never had 2 in flight")
        for r in capped:
            self.assertEqual(r["ok"], [])
            self.assertEqual(len(r["err"]), 1)
            self.assertIsNone(r["err"][0]["i"])
            self.assertEqual(r["err"][0]["code"], "E_RATE")
            self.assertIn('adapter "piper" has 2 frames awaiting the journal, its most '
                          "(ingest.inflight_per_key)", r["err"][0]["msg"])
        # Replies come in order: the refused frames are the ones to send again.
        accepted = [i for i, r in enumerate(replies) if not r["err"]]
        for r, i in zip([replies[i] for i in accepted], accepted):
            self.assertEqual(r["ok"], [e["id"] for e in frames[i]])
        for i, r in enumerate(replies):
            if r["err"]:
                self.assertEqual(a.send(frames[i])["ok"], [e["id"] for e in frames[i]])
        self.wait_stored(a.source, [e["id"] for fr in frames for e in fr], timeout=30)


# ---- flooder vs. well-behaved --------------------------------------------------------------

FLOOD_BATCH = 500
FLOOD_WINDOW = 64


def flood_main(argv):
    """The flooder's process: a CURVE DEALER sending batches of FLOOD_BATCH new events as
    fast as it can, FLOOD_WINDOW frames in flight, for `seconds`; prints its counts as JSON.
    Frames are made from one packed template with an 8-digit frame number swapped in (fast
    enough that the flooder is limited by the server, not by packing)."""
    endpoint, server_pub, pub, sec, source, seconds = argv
    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    s.linger = 0
    s.curve_serverkey = server_pub.encode()
    s.curve_publickey = pub.encode()
    s.curve_secretkey = sec.encode()
    s.connect(endpoint)
    now = int(time.time() * 1000)
    tpl = pack([{"id": "########-%04d" % i, "source": source, "type": "asset.alarm",
                 "time": now, "sector": "energy", "asset": "flood.%d" % (i % 50),
                 "summary": "flood"} for i in range(FLOOD_BATCH)])
    assert tpl.count(b"########") == FLOOD_BATCH
    sent = replies = ok = err = 0
    inflight = 0
    end = time.monotonic() + float(seconds)
    while time.monotonic() < end:
        while inflight < FLOOD_WINDOW:
            s.send(tpl.replace(b"########", b"%08d" % sent))
            sent += 1
            inflight += 1
        if s.poll(1000, zmq.POLLIN):
            while s.poll(0, zmq.POLLIN):
                r = msgpack.unpackb(s.recv(), raw=False)
                replies += 1
                inflight -= 1
                ok += len(r["ok"])
                err += len(r["err"])
    print(json.dumps({"frames": sent, "replies": replies, "ok": ok, "err": err,
                      "events": sent * FLOOD_BATCH}))
    s.close(0)
    ctx.term()


class FloodTest(RateCase):
    """A flooder against a well-behaved adapter sending one event every 20 ms."""

    ADAPTERS = {"flooder": (["energy"], None), "steady": (["energy"], None)}
    SECONDS = float(os.environ.get("TOCSIN_FLOOD_SECONDS", "8"))

    def measure(self):
        """Run the flooder for SECONDS while `steady` sends one event every 20 ms; return
        (ack latencies in s, flooder's counts)."""
        k = self.keys["flooder"]
        fl = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "flood", self.server.endpoint,
             self.server_key.public.decode(), k.public.decode(), k.secret.decode(),
             "it/flood/%d" % self.server.starts, str(self.SECONDS)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            a = self.adapter("steady")
            a.send(a.event())  # connected and admitted before the clock starts
            time.sleep(0.5)    # the flood is on
            lat = []
            nxt = time.monotonic()
            end = nxt + self.SECONDS - 1.0
            while time.monotonic() < end:
                ev = a.event(asset="steady.%d" % len(lat))
                t0 = time.monotonic()
                r = a.send(ev, timeout=10)
                lat.append(time.monotonic() - t0)
                self.assertEqual(r["ok"], [ev["id"]], r)
                nxt += 0.020
                time.sleep(max(0.0, nxt - time.monotonic()))
            out, errs = fl.communicate(timeout=self.SECONDS + 30)
        finally:
            if fl.poll() is None:
                fl.kill()
                fl.wait()
        self.assertEqual(fl.returncode, 0, errs)
        return lat, json.loads(out)

    @staticmethod
    def p99(lat):
        s = sorted(lat)
        return s[min(len(s) - 1, int(len(s) * 0.99))]

    def test_flooder_cannot_push_steady_adapter_past_its_budget(self):
        if "thread" in os.path.basename(harness.BUILD).split("-")[1:]:
            # a latency budget: under TSan every access is checked, tocsind is several times
            # slower and one of the steady adapter's acks took over 10 s; the plain make check
            # (and the ASan + UBSan one) keep the budget
            self.skipTest("a latency budget, not kept under ThreadSanitizer")
        # With the default limits (5000 events/s, burst 10000, 64 frames in flight per key).
        lat_on, fl_on = self.measure()
        p99_on = self.p99(lat_on)
        # Without: no rate for the flooder's key and no cap of frames in flight.
        self.server.stop()
        self.server.config["ingest"]["inflight_per_key"] = "0"
        self.server.write_config()
        self.limit_offline("flooder", "--rate", "0")
        self.server.start()
        lat_off, fl_off = self.measure()
        p99_off = self.p99(lat_off)
        report = ("fair share: steady adapter ack p99 %.1f ms (max %.1f, n=%d) with limits, "
                  "flooder %d events/s offered, %d accepted; %.1f ms (max %.1f, n=%d) without, "
                  "flooder %d events/s accepted; budget %.0f ms"
                  % (p99_on * 1000, max(lat_on) * 1000, len(lat_on),
                     fl_on["events"] / self.SECONDS, fl_on["ok"], p99_off * 1000,
                     max(lat_off) * 1000, len(lat_off), fl_off["ok"] / self.SECONDS,
                     ACK_P99_BUDGET_S * 1000))
        sys.stderr.write("\n" + report + "\n")
        path = os.environ.get("TOCSIN_FLOOD_REPORT")
        if path:
            with open(path, "w") as f:
                f.write(report + "\n")
        self.assertGreater(len(lat_on), 100)
        # The flood was real: far more offered than the limit lets through, and refused.
        self.assertGreater(fl_on["err"], 0, fl_on)
        self.assertLessEqual(fl_on["ok"], 10000 + 5000 * (self.SECONDS + 2), fl_on)
        self.assertLessEqual(p99_on, ACK_P99_BUDGET_S, report)

    def limit_offline(self, name, *args):
        tocsin("--db", self.db.conninfo, "adapter", "limit", name, *args)


if __name__ == "__main__":
    if sys.argv[1:2] == ["flood"]:
        flood_main(sys.argv[2:])
    else:
        unittest.main()
