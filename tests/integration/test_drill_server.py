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
import sys
import time

from harness import (ALL_SECTORS, CITY, Adapter, Console, IntegrationCase, TOCSIN,
                     console_add, keygen, now_ms, pack, scenario_events, tocsin, wait_until)

SCENARIO = "scenario-substation-fire.csv"
BASE_MS = 1786000000000  # 2026-08-06T07:06:40Z: a drill may be of any date


def planner_add(db, name, keypair):
    # official-sensitive: the stream on the main endpoint, and unredacted read-backs
    # to compare with the offline replay (docs/control-rooms.md, "Need to know")
    tocsin("--db", db.conninfo, "planner", "add", name, "--key", keypair.pub_path,
           "--clearance", "official-sensitive")


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
        self.assertEqual(st["incidents"], len({b["incident"] for b in got.values()}))
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


    def replay_server(self, name, path, *extra, check=True):
        cmd = [TOCSIN, "replay", path, "--server", self.server.control_endpoint,
               "--drill", name, "--key", self.planner_key.key_path,
               "--server-key", self.server_key.pub_path] + list(extra)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=check)

    def write_recording(self, name, events):
        path = os.path.join(self.tmp, name + ".jsonl")
        with open(path, "w") as f:
            for e in events:
                f.write(json.dumps(e) + "\n")
        return path

    def test_e_tocsin_replay_server_matches_offline(self):
        events = scenario_events(SCENARIO, BASE_MS, "de")
        path = self.write_recording("cli", events)
        out = self.replay_server("cli-drill", path, "--json")
        got = [json.loads(line) for line in out.stdout.splitlines()]
        self.assertIn("incidents", out.stderr)
        self.assertEqual([b["seq"] for b in got], list(range(1, len(got) + 1)))
        self.assertEqual(got, self.offline("cli-drill", events))
        # Paced (1000x real time, with ticks): the same incidents.
        out = self.replay_server("cli-paced", path, "--json", "--speed", "1000")
        paced = [json.loads(line) for line in out.stdout.splitlines()]
        strip = lambda bodies, n: json.loads(json.dumps(bodies).replace(n, "NAME"))
        self.assertEqual(strip(paced, "cli-paced"), strip(got, "cli-drill"))
        # Clear errors: a name used before, a console's key, a missing key.
        out = self.replay_server("cli-drill", path, check=False)
        self.assertEqual(out.returncode, 1)
        self.assertIn("E_EXISTS", out.stderr)
        out = subprocess.run([TOCSIN, "replay", path, "--server",
                              self.server.control_endpoint, "--drill", "x"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 2)
        self.assertIn("--key", out.stderr)
        out = subprocess.run([TOCSIN, "replay", path, "--server",
                              self.server.control_endpoint, "--drill", "by-desk", "--key",
                              self.desk_key.key_path, "--server-key",
                              self.server_key.pub_path],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 1)
        self.assertIn("E_FORBIDDEN", out.stderr)

    def test_f_a_100k_event_drill_leaves_live_consoles_alone(self):
        """While a drill of 100,000 events runs, a live console subscribed to everything
        live receives no drill traffic, and live cascades still reach it within the
        alert latency budget (lateness + 3 s)."""
        budget_s = 2 + 3.0
        # The drill: heartbeats of the demo city's sources with a cascade now and then
        # (a city's feed is mostly telemetry), 100,000 events over ~28 hours.
        base = scenario_events(SCENARIO, 0, None)
        sources = sorted({e["source"] for e in base})
        events, t, k = [], BASE_MS, 0
        while len(events) < 100000:
            if k % 5000 == 0:
                events += scenario_events(SCENARIO, t, "big%d" % k)
            events.append({"id": "hb%d" % k, "source": sources[k % len(sources)],
                           "type": "heartbeat", "time": t})
            t += 1000
            k += 1
        events = events[:100000]
        path = self.write_recording("big", events)
        live = self.desk(topics=("live/", "escalation/"))
        a = Adapter(self.server, self.keys["city"])
        self.addCleanup(a.close)
        time.sleep(0.5)
        proc = subprocess.Popen(
            [TOCSIN, "replay", path, "--server", self.server.control_endpoint, "--drill",
             "big", "--key", self.planner_key.key_path, "--server-key",
             self.server_key.pub_path], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        # Live failures while it runs, each of a different energy asset (so each opens an
        # incident of its own): the event's arrival to its incident's first alert.
        with open(os.path.join(CITY, "assets.csv")) as f:
            roots = [line.split(",")[0] for line in f
                     if line.startswith(("SUB-", "SGT-")) and ",energy," in line]
        latencies, n = [], 0
        while proc.poll() is None and n < 200:
            root = roots[n % len(roots)]
            n += 1
            ev = {"id": "live-%d" % n, "source": "aldermoor-power/scada", "type": "asset.down",
                  "time": now_ms(), "sector": "energy", "asset": root}
            sent = time.monotonic()
            r = a.send([ev])
            self.assertEqual(r["ok"], [ev["id"]], r)
            got = None
            while got is None and time.monotonic() - sent < 30:
                al = live.recv_alert(timeout=1.0)
                if not al:
                    continue
                topic, body = al
                self.assertTrue(topic.startswith(("live/", "escalation/")), topic)
                if topic.startswith("live/"):
                    self.assertEqual(body["status"], "actual")
                if body["msg"] == "alert" and body["root"]["asset"] == root:
                    got = time.monotonic() - sent
            self.assertIsNotNone(got, "a live failure gave no alert within 30 s")
            latencies.append(got)
            # restored at once: the next failure, later, is not in its cascade
            up = dict(ev, id="live-up-%d" % n, type="asset.up", time=now_ms())
            self.assertEqual(a.send([up])["ok"], [up["id"]])
        err = proc.communicate(timeout=600)[1]
        self.assertEqual(proc.returncode, 0, err)
        self.assertIn("100000 events accepted, 0 refused", err)
        self.assertGreater(n, 0, "the drill ended before any live cascade was sent")
        sys.stderr.write("\n  live alert latency during a 100k-event drill: %d cascades, "
                         "max %.2f s (budget %.1f s)\n" % (n, max(latencies), budget_s))
        self.assertLessEqual(max(latencies), budget_s)
        self.assertEqual(self.db.scalar(
            "SELECT count(*) FROM alerts WHERE stream = 'live' AND body->>'status' <> "
            "'actual'"), 0)


if __name__ == "__main__":
    import unittest
    unittest.main()
