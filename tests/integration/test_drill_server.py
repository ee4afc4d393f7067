"""test_drill_server.py - drills run by a running server beside live work (design 6;
docs/drills.md "Drills on a server"): a planner key starts a drill, feeds it and stops it on
the control channel; the drill's incidents are stored under its name, its alerts go only to
drill/<name>/... with status exercise, and give the same incidents as the offline replay of
the same input; a live console receives nothing of it; bad requests get clear errors; a
name is used once; a console key cannot run a drill nor a planner key acknowledge; a drill
survives kill -9 of the server without a duplicate or missing seq."""
import json
import os
import subprocess
import time

from harness import (ALL_SECTORS, CITY, Adapter, Console, IntegrationCase, TOCSIN,
                     console_add, keygen, now_ms, pack, scenario_events, tocsin, wait_until)

SCENARIO = "scenario-substation-fire.csv"
BASE_MS = 1786000000000  # 2026-08-06T07:06:40Z: a drill may be of any date


def planner_add(db, name, keypair):
    tocsin("--db", db.conninfo, "planner", "add", name, "--key", keypair.pub_path)


class DrillServerTest(IntegrationCase):
    START_SERVER = False
    ADAPTERS = {"city": (ALL_SECTORS, None)}
    SERVER_OPTIONS = {"correlator.tick_ms": 100, "correlator.lateness_s": 2,
                      "drills.max_active": 2}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        tocsin("--db", cls.db.conninfo, "assets", "import",
               os.path.join(CITY, "assets.csv"), os.path.join(CITY, "dependencies.csv"))
        cls.planner_key = keygen(cls.keydir, "planner1")
        planner_add(cls.db, "planner1", cls.planner_key)
        cls.desk_key = keygen(cls.keydir, "desk1")
        console_add(cls.db, "desk1", cls.desk_key)
        cls.server.start()

    def planner(self, topics=()):
        c = Console(self.server, self.planner_key, topics=topics)
        self.addCleanup(c.close)
        return c

    def desk(self, topics=("live/",)):
        c = Console(self.server, self.desk_key, topics=topics)
        self.addCleanup(c.close)
        return c

    def run_drill(self, p, name, events, batch=50):
        r = p.request(op="drill_start", drill=name)
        self.assertTrue(r["ok"], r)
        accepted = 0
        for i in range(0, len(events), batch):
            r = p.request(op="drill_events", drill=name, events=events[i:i + batch])
            self.assertTrue(r["ok"], r)
            self.assertEqual(r["err"], [], r)
            accepted += r["accepted"]
        self.assertEqual(accepted, len(events))
        end_us = max(e["time"] for e in events) * 1000
        r = p.request(op="drill_stop", drill=name, end=end_us)
        self.assertTrue(r["ok"], r)

        def ended():
            s = p.request(op="drill_status", drill=name)
            return s if s["state"] == "ended" else None
        return wait_until(ended, 60, 0.1, lambda: self.server.log_tail())

    def stored_bodies(self, name, last):
        def all_stored():
            n = self.db.scalar("SELECT count(*) FROM alerts WHERE stream = %s"
                               % self.lit(name))
            return n == last or None
        wait_until(all_stored, 60, 0.2, lambda: self.server.log_tail())
        return [r["body"] for r in self.db.query(
            "SELECT body::text AS body FROM alerts WHERE stream = %s ORDER BY seq"
            % self.lit(name))]

    @staticmethod
    def lit(s):
        return "'" + s.replace("'", "''") + "'"

    def offline(self, name, events):
        """The offline replay of the same events: JSON lines, one per revision."""
        path = os.path.join(self.tmp, name + ".jsonl")
        with open(path, "w") as f:
            for e in events:
                e = dict(e)
                e["time"] = int(e["time"])  # integer ms: the recording format allows it
                f.write(json.dumps(e) + "\n")
        cfg = self.server.config_path
        out = subprocess.run([TOCSIN, "--db", self.db.conninfo, "--config", cfg, "replay",
                              path, "--json", "--drill", name],
                             capture_output=True, text=True, timeout=120, check=True)
        return [json.loads(line) for line in out.stdout.splitlines()]

    # tests

    def test_a_drill_is_isolated_stored_under_its_name_and_matches_offline(self):
        live = self.desk(topics=("live/", "escalation/"))
        p = self.planner(topics=("drill/fire-a/",))
        time.sleep(0.5)  # subscriptions reach the PUB
        events = scenario_events(SCENARIO, BASE_MS, "da")
        st = self.run_drill(p, "fire-a", events)
        self.assertEqual(st["events"], len(events))
        last = st["last_seq"]
        self.assertGreater(last, 3, "a cascade gives several revisions")
        # Every revision on the drill's topics, gapless from 1, status exercise.
        got = {}
        deadline = time.monotonic() + 20
        while len(got) < last and time.monotonic() < deadline:
            a = p.recv_alert(timeout=1.0)
            if a:
                topic, body = a
                self.assertTrue(topic.startswith("drill/fire-a/P%d/" % body["priority"]),
                                topic)
                self.assertEqual(body["status"], "exercise")
                self.assertNotIn(body["seq"], got)
                got[body["seq"]] = body
        self.assertEqual(sorted(got), list(range(1, last + 1)))
        # Nothing reached the live console, and the live stream has no alert.
        self.assertIsNone(live.recv_alert(timeout=1.0))
        self.assertEqual(self.db.scalar("SELECT count(*) FROM alerts WHERE stream = 'live'"),
                         0)
        # Stored under the drill's name; the same incidents as the offline replay.
        stored = [json.loads(b) for b in self.stored_bodies("fire-a", last)]
        self.assertEqual(stored, self.offline("fire-a", events))
        self.assertEqual(self.db.scalar("SELECT planner FROM drills WHERE name = 'fire-a'"),
                         "planner1")
        self.assertIsNotNone(self.db.scalar(
            "SELECT stopped_at FROM drills WHERE name = 'fire-a'"))
        # Audited: start and stop, by the planner.
        acts = [r["action"] for r in self.db.query(
            "SELECT action FROM audit WHERE subject = 'fire-a' AND actor = 'planner1' "
            "ORDER BY seq")]
        self.assertEqual(acts, ["drill.start", "drill.stop"])
        # `since` on the drill's stream reads them back from PostgreSQL.
        r = p.request(op="since", seq=0, stream="fire-a")
        self.assertTrue(r["ok"], r)
        self.assertEqual([a["seq"] for a in r["alerts"]][:3], [1, 2, 3])
        self.assertEqual(r["last"], last)

    def test_b_the_same_input_twice_gives_the_same_incidents(self):
        p = self.planner()
        events = scenario_events(SCENARIO, BASE_MS, "db")
        a = self.run_drill(p, "twice-1", events, batch=7)
        b = self.run_drill(p, "twice-2", events, batch=200)
        self.assertEqual(a["last_seq"], b["last_seq"])
        sa = [json.loads(x) for x in self.stored_bodies("twice-1", a["last_seq"])]
        sb = [json.loads(x) for x in self.stored_bodies("twice-2", b["last_seq"])]
        # identical but for the stream's name in each body (status, title say exercise)
        strip = lambda bodies, n: json.loads(json.dumps(bodies).replace(n, "NAME"))
        self.assertEqual(strip(sa, "twice-1"), strip(sb, "twice-2"))

    def test_c_refusals_are_clear(self):
        p = self.planner()
        d = self.desk()
        r = d.request(op="drill_start", drill="by-a-console")
        self.assertEqual((r["ok"], r["code"]), (False, "E_FORBIDDEN"), r)
        self.assertIn("planner", r["msg"])
        for bad in ("", "live", "a/b", "x" * 65, 7):
            r = p.request(op="drill_start", drill=bad)
            self.assertEqual((r["ok"], r["code"]), (False, "E_SCHEMA"), r)
            self.assertIn("drill:", r["msg"])
        r = p.request(op="drill_events", drill="never-started", events=[])
        self.assertEqual((r["ok"], r["code"]), (False, "E_UNKNOWN"), r)
        self.assertTrue(p.request(op="drill_start", drill="refusals")["ok"])
        r = p.request(op="drill_start", drill="refusals")
        self.assertEqual((r["ok"], r["code"]), (False, "E_EXISTS"), r)
        self.assertIn("used once", r["msg"])
        # max_active = 2: a second one runs, a third waits
        self.assertTrue(p.request(op="drill_start", drill="refusals-2")["ok"])
        r = p.request(op="drill_start", drill="refusals-3")
        self.assertEqual((r["ok"], r["code"]), (False, "E_UNAVAILABLE"), r)
        # a bad event is named; the good ones of the batch are journaled
        good = scenario_events(SCENARIO, BASE_MS, "dc")[:2]
        r = p.request(op="drill_events", drill="refusals",
                      events=[good[0], {"id": "x", "source": "s"}, good[1]])
        self.assertTrue(r["ok"], r)
        self.assertEqual(r["accepted"], 2)
        self.assertEqual([(e["i"], e["code"]) for e in r["err"]], [(1, "E_SCHEMA")])
        r = p.request(op="drill_events", drill="refusals", tick="soon")
        self.assertEqual((r["ok"], r["code"]), (False, "E_SCHEMA"), r)
        self.assertIn("tick", r["msg"])
        r = p.request(op="drill_stop", drill="refusals", events=[])
        self.assertEqual((r["ok"], r["code"]), (False, "E_SCHEMA"), r)
        # a planner does not acknowledge live alerts; a drill key on a live op is refused
        r = p.request(op="ack", incident="INC-0000000000000000", rev=1, operator="x")
        self.assertEqual((r["ok"], r["code"]), (False, "E_FORBIDDEN"), r)
        r = d.request(op="snapshot", drill="refusals")
        self.assertEqual((r["ok"], r["code"]), (False, "E_SCHEMA"), r)
        r = p.request(op="since", seq=0, stream="no-such-drill")
        self.assertEqual((r["ok"], r["code"]), (False, "E_UNKNOWN"), r)
        for name in ("refusals", "refusals-2"):
            self.assertTrue(p.request(op="drill_stop", drill=name)["ok"])
        wait_until(lambda: p.request(op="drill_status", drill="refusals-2")["state"]
                   == "ended", 30, 0.1)
        self.assertEqual(self.db.scalar("SELECT count(*) FROM events"), 0,
                         "drill events never become live events")

    def test_d_a_drill_survives_kill_9(self):
        p = self.planner()
        events = scenario_events(SCENARIO, BASE_MS, "dd")
        half = len(events) // 2
        self.assertTrue(p.request(op="drill_start", drill="crash")["ok"])
        r = p.request(op="drill_events", drill="crash", events=events[:half])
        self.assertTrue(r["ok"], r)
        self.server.kill9()
        self.server.restart()
        p = self.planner()
        s = wait_until(lambda: p.request(op="drill_status", drill="crash", timeout=5),
                       30, 0.2)
        self.assertEqual((s["state"], s["events"]), ("running", half), s)
        r = p.request(op="drill_events", drill="crash", events=events[half:])
        self.assertTrue(r["ok"], r)
        end_us = max(e["time"] for e in events) * 1000
        self.assertTrue(p.request(op="drill_stop", drill="crash", end=end_us)["ok"])
        st = wait_until(lambda: (lambda s: s if s["state"] == "ended" else None)(
            p.request(op="drill_status", drill="crash")), 60, 0.1)
        bodies = [json.loads(b) for b in self.stored_bodies("crash", st["last_seq"])]
        self.assertEqual([b["seq"] for b in bodies], list(range(1, st["last_seq"] + 1)))
        self.assertEqual(bodies, self.offline("crash", events))


if __name__ == "__main__":
    import unittest
    unittest.main()
