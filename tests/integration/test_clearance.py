"""test_clearance.py - need to know (design 7; docs/control-rooms.md, "Need to know"): a
stream per clearance on its own endpoint, whose ZAP domain admits only keys of exactly that
clearance; official bodies without any dependency explanation naming an official-sensitive
asset; public bodies without any asset id, source or dependency; `since` (from memory and
from PostgreSQL), `snapshot`, escalations and drill streams redacted the same way, for
whoever asks. A lower-clearance console subscribed to everything ("") never receives more."""
import csv
import os
import re
import time

import msgpack
import zmq

from harness import (ALL_SECTORS, CITY, Console, IntegrationCase, console_add, context,
                     keygen, now_ms, scenario_events, tocsin, wait_until)

CLEARANCES = ("official-sensitive", "official", "public")
PUBLIC_KEYS = {"seq", "incident", "rev", "msg", "status", "priority", "title", "cause",
               "confidence", "root", "sectors", "affected", "at_risk", "at_risk_count",
               "area", "opened", "updated", "merged_into"}


def city_assets():
    with open(os.path.join(CITY, "assets.csv")) as f:
        rows = list(csv.DictReader(f))
    return ({r["id"] for r in rows},
            {r["id"] for r in rows if r["sensitivity"] == "official-sensitive"})


def city_sources():
    out = set()
    for name in os.listdir(CITY):
        if name.startswith("scenario-"):
            with open(os.path.join(CITY, name)) as f:
                out |= {r["source"] for r in csv.DictReader(f)}
    return out


ASSETS, SENSITIVE = city_assets()
SOURCES = city_sources()
# any asset id or source anywhere in a string
FORBIDDEN = re.compile("|".join(re.escape(x) for x in sorted(ASSETS | SOURCES, key=len,
                                                             reverse=True)))


def strings(obj):
    """Every string in a decoded body, keys included."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from strings(k)
            yield from strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from strings(v)
    elif isinstance(obj, str):
        yield obj
    elif isinstance(obj, bytes):
        raise AssertionError("binary data in a body")


class ClearanceTest(IntegrationCase):
    START_SERVER = False
    ADAPTERS = {"city": (ALL_SECTORS, None)}
    # A small memory, so that `since` is served from PostgreSQL too; P1 escalates.
    SERVER_OPTIONS = {"correlator.tick_ms": 100, "correlator.lateness_s": 2,
                      "alerts.recent": 4, "alerts.since_max": 50,
                      "alerts.escalate_p1_s": 60, "alerts.escalate_p2_s": 60,
                      "alerts.escalate_p3_s": 60, "alerts.escalate_p4_s": 60,
                      "alerts.escalate_p5_s": 60}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        tocsin("--db", cls.db.admin_conninfo, "assets", "import",
               os.path.join(CITY, "assets.csv"), os.path.join(CITY, "dependencies.csv"))
        cls.desks = {}
        for c in CLEARANCES:
            name = "desk-" + c
            cls.desks[c] = keygen(cls.keydir, name)
            console_add(cls.db, name, cls.desks[c], clearance=c)
        cls.planner_key = keygen(cls.keydir, "planner1")
        tocsin("--db", cls.db.admin_conninfo, "planner", "add", "planner1", "--key",
               cls.planner_key.pub_path, "--clearance", "public")
        cls.server.start()
        cls.sent = 0

    # helpers

    def sub(self, key, endpoint, topics=(b"",)):
        s = context().socket(zmq.SUB)
        s.linger = 0
        s.curve_serverkey = self.server.server_key.public
        s.curve_publickey = key.public
        s.curve_secretkey = key.secret
        for t in topics:
            s.setsockopt(zmq.SUBSCRIBE, t)
        s.connect(endpoint)
        self.addCleanup(s.close, 0)
        return s

    def drain(self, s, settle=2.0, timeout=60):
        """(topic, body) of everything s receives until it has been quiet for `settle` s."""
        got, quiet_since, deadline = [], time.monotonic(), time.monotonic() + timeout
        while time.monotonic() < deadline and time.monotonic() - quiet_since < settle:
            if s.poll(100, zmq.POLLIN):
                topic, body = s.recv_multipart()
                got.append((topic.decode(), msgpack.unpackb(body, raw=False)))
                quiet_since = time.monotonic()
        return got

    def console(self, clearance, **kw):
        c = Console(self.server, self.desks[clearance], clearance=clearance, **kw)
        self.addCleanup(c.close)
        return c

    def send_scenario(self, name, base_ms):
        type(self).sent += 1
        self.send_all(scenario_events(name, base_ms, "s%d" % self.sent))

    def wait_stored(self, console):
        def last_seq():
            r = console.request(op="snapshot")  # memory: never waits for the store
            self.assertTrue(r["ok"], r)
            return r["last"]

        def stored():
            last = last_seq()
            time.sleep(1.0)
            if last_seq() != last:
                return None
            n = self.db.scalar("SELECT coalesce(max(seq), 0) FROM alerts WHERE stream = "
                               "'live'")
            return last if n == last and last > 0 else None
        return wait_until(stored, 60, 0.1, lambda: self.server.log_tail())

    def assertPublic(self, body):
        self.assertLessEqual(set(body), PUBLIC_KEYS, body)
        self.assertNotIn("explain", body)
        self.assertLessEqual(set(body["root"]), {"sector", "time"})
        for e in body["affected"]:
            self.assertLessEqual(set(e), {"sector", "state", "time"})
        for e in body["at_risk"]:
            self.assertLessEqual(set(e), {"sector", "eta", "eta_latest", "outcome"})
        self.assertNoIds(body)

    def assertNoIds(self, body):
        for s in strings(body):
            m = FORBIDDEN.search(s)
            self.assertIsNone(m, "%r in a public body: %r" % (m and m.group(0), body))

    def assertOfficial(self, body):
        """No dependency explanation names an official-sensitive asset; returns how many
        explanations and vias it kept."""
        kept = 0
        for e in body["explain"]:
            self.assertNotIn(e["asset"], SENSITIVE, body)
            for a in e["path"]:
                self.assertNotIn(a, SENSITIVE, body)
            kept += 1
        for e in body["at_risk"]:
            if "via" in e:
                self.assertNotIn(e["via"], SENSITIVE, body)
                self.assertNotIn(e["asset"], SENSITIVE, body)
                kept += 1
        return kept

    def assertRedacted(self, clearance, body):
        if clearance == "public":
            self.assertPublic(body)
        elif clearance == "official":
            self.assertOfficial(body)

    # tests

    def test_a_each_stream_admits_exactly_its_clearance(self):
        """Every key on every stream, subscribed to everything: only the matching pairs
        receive; the bodies are those of their clearance; the refusals are audited."""
        eps = self.server.alerts_endpoints
        subs = {(k, e): self.sub(self.desks[k], eps[e]) for k in CLEARANCES for e in CLEARANCES}
        time.sleep(1.0)  # handshakes and subscriptions
        self.send_scenario("scenario-substation-fire.csv", now_ms() - 3 * 3600 * 1000)
        self.send_scenario("scenario-exchange-flood.csv", now_ms() - 2 * 3600 * 1000)
        c = self.console("official-sensitive")
        last = self.wait_stored(c)
        got = {pair: self.drain(s) for pair, s in subs.items()}
        for (k, e), msgs in got.items():
            if k != e:
                self.assertEqual(msgs, [], "a %s key received the %s stream" % (k, e))
        seqs = {e: [b["seq"] for t, b in got[(e, e)] if t.startswith("live/")]
                for e in CLEARANCES}
        for e in CLEARANCES:
            self.assertEqual(seqs[e], list(range(seqs[e][0], last + 1)), e)
        self.assertEqual(seqs["official"], seqs["official-sensitive"])
        self.assertEqual(seqs["public"], seqs["official-sensitive"])
        # The same topics on each stream (area level: no asset in a topic).
        topics = {e: [t for t, b in got[(e, e)]] for e in CLEARANCES}
        self.assertEqual(topics["public"], topics["official-sensitive"])
        # official-sensitive: whole, with explanations through official-sensitive assets
        whole = [b for t, b in got[("official-sensitive",) * 2]]
        self.assertTrue(any(a in SENSITIVE for b in whole for e in b["explain"]
                            for a in e["path"]), "the test needs sensitive paths")
        # official: none of those, but what does not name one is kept
        kept = sum(self.assertOfficial(b) for t, b in got[("official",) * 2])
        self.assertGreater(kept, 0, "official consoles still get explanations")
        dropped = sum(len(w["explain"]) - len(o["explain"])
                      for w, o in zip(whole, (b for t, b in got[("official",) * 2])))
        self.assertGreater(dropped, 0)
        # public: area level
        for t, b in got[("public",) * 2]:
            self.assertPublic(b)
            self.assertIn(" incident in ", b["title"] + " incident in ")
        # Refused at the handshake, audited with the reason.
        wait_until(lambda: self.db.scalar(
            "SELECT count(*) FROM audit WHERE action = 'console.refused' "
            "AND detail->>'reason' LIKE 'clearance %'") >= 6, 15, 0.2,
            "the six wrong-clearance handshakes audited")
        reasons = {r["r"] for r in self.db.query(
            "SELECT detail->>'reason' AS r FROM audit WHERE action = 'console.refused' "
            "AND detail->>'reason' LIKE 'clearance %'")}
        self.assertIn("clearance public: not admitted to the official-sensitive alert stream",
                      reasons)
        self.assertIn("clearance official: not admitted to the public alert stream", reasons)
        self.assertEqual(len(reasons), 6, reasons)

    def test_b_since_and_snapshot_are_redacted_for_the_requester(self):
        c = {k: self.console(k) for k in CLEARANCES}
        last = self.wait_stored(c["official-sensitive"])
        if last < 10:
            self.test_a_each_stream_admits_exactly_its_clearance()
            last = self.wait_stored(c["official-sensitive"])
        every = {k: c[k].since(0) for k in CLEARANCES}  # PostgreSQL, then memory (4)
        for k in CLEARANCES:
            self.assertEqual([a["seq"] for a in every[k]], list(range(1, last + 1)), k)
            for a in every[k]:
                self.assertRedacted(k, a)
        # the recent ones from memory: the same bodies as from PostgreSQL
        for k in CLEARANCES:
            self.assertEqual(c[k].since(last - 3), every[k][-3:], k)
        # official: exactly the whole body less what names a sensitive asset
        for w, o in zip(every["official-sensitive"], every["official"]):
            want = [e for e in w["explain"]
                    if e["asset"] not in SENSITIVE and not SENSITIVE & set(e["path"])]
            self.assertEqual(o["explain"], want)
            self.assertEqual(o["affected"], w["affected"])
            self.assertEqual(o["title"], w["title"])
        snaps = {k: c[k].request(op="snapshot") for k in CLEARANCES}
        for k in CLEARANCES:
            self.assertTrue(snaps[k]["ok"], snaps[k])
            self.assertEqual([i["incident"] for i in snaps[k]["incidents"]],
                             [i["incident"] for i in snaps["official-sensitive"]["incidents"]])
            for i in snaps[k]["incidents"]:
                self.assertRedacted(k, i)
        self.assertTrue(snaps["public"]["incidents"])

    def test_c_escalations_are_redacted_per_stream(self):
        eps = self.server.alerts_endpoints
        subs = {k: self.sub(self.desks[k], eps[k], (b"escalation/",)) for k in CLEARANCES}
        time.sleep(1.0)
        c = self.console("official-sensitive")
        if c.request(op="snapshot")["last"] < 10:
            self.test_a_each_stream_admits_exactly_its_clearance()
        # journal time a few minutes on: unacknowledged incidents escalate
        clock = self.adapter("city")
        ev = clock.event(type="heartbeat", sector=None, asset=None,
                         time_ms=now_ms() + 240 * 1000)
        self.assertEqual(clock.send(ev)["err"], [])
        got = {k: self.drain(subs[k], settle=3.0) for k in CLEARANCES}
        self.assertTrue(got["official-sensitive"], "escalations published")
        for k in CLEARANCES:
            self.assertEqual([t for t, b in got[k]], [t for t, b in got["official-sensitive"]])
            for t, b in got[k]:
                self.assertTrue(t.startswith("escalation/live/"), t)
                self.assertRedacted(k, b["alert"])
                if k == "public":
                    self.assertNoIds(b)

    def test_d_drill_streams_are_redacted_too(self):
        """A planner's drill, on a public console subscribed to everything, and read back by
        `since` with its stream."""
        eps = self.server.alerts_endpoints
        pub = self.sub(self.desks["public"], eps["public"])
        off = self.sub(self.desks["official"], eps["official"])
        time.sleep(1.0)
        p = Console(self.server, self.planner_key, topics=(), clearance="public")
        self.addCleanup(p.close)
        name = "clearance-fire"
        events = scenario_events("scenario-substation-fire.csv", now_ms() - 7200 * 1000, "d")
        self.assertTrue(p.request(op="drill_start", drill=name)["ok"])
        r = p.request(op="drill_events", drill=name, events=events)
        self.assertTrue(r["ok"], r)
        self.assertEqual(r["err"], [])
        end_us = max(e["time"] for e in events) * 1000
        self.assertTrue(p.request(op="drill_stop", drill=name, end=end_us)["ok"])
        wait_until(lambda: p.request(op="drill_status", drill=name)["state"] == "ended", 60,
                   0.1, lambda: self.server.log_tail())
        got = {"public": self.drain(pub), "official": self.drain(off)}
        for k, msgs in got.items():
            drill = [(t, b) for t, b in msgs if t.startswith("drill/%s/" % name)]
            self.assertTrue(drill, k)
            for t, b in drill:
                self.assertEqual(b["status"], "exercise")
                self.assertRedacted(k, b)
        last = max(b["seq"] for t, b in got["public"] if t.startswith("drill/"))

        def stored():
            n = self.db.scalar("SELECT count(*) FROM alerts WHERE stream = '%s'" % name)
            return n == last or None
        wait_until(stored, 30, 0.2, "the drill's alerts stored")
        alerts, seq = [], 0
        while True:
            r = p.request(op="since", seq=seq, stream=name)
            self.assertTrue(r["ok"], r)
            alerts += r["alerts"]
            if not r["more"]:
                break
            seq = alerts[-1]["seq"]
        self.assertEqual([a["seq"] for a in alerts], list(range(1, last + 1)))
        for a in alerts:
            self.assertPublic(a)
