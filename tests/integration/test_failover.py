"""test_failover.py - an active/standby pair on one journal directory (issue 7 item 8;
docs/operations.md, "High availability").

The standby is a second tocsind with its own endpoints whose journal.dir is the primary's
(shared storage). While the primary runs, the journal's flock keeps the standby from
starting. The primary is killed with kill -9 in the middle of a cascade and under load; the
standby then starts on the same journal, adapters resend what was not acknowledged, and a
console catches up with `since` from the last seq it saw. Shown: every acked event in
PostgreSQL exactly once, the incident ids a replay of the journal gives, and the console's
seqs gapless and without a duplicate across the failover."""
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ALL_SECTORS, CITY, REPO, TOCSIN, Adapter, Console,  # noqa: E402
                     Database, IntegrationCase, TocsindProcess, adapter_add, console_add,
                     keygen, lit, now_ms, pack, run, scenario_events, tocsin, wait_until)
from test_durability import LoadSender  # noqa: E402


class FailoverTest(IntegrationCase):
    START_SERVER = False
    ADAPTERS = {"city": (ALL_SECTORS, None), "load": (["energy"], None)}
    SERVER_OPTIONS = {"correlator.tick_ms": 100, "correlator.lateness_s": 2}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        tocsin("--db", cls.db.conninfo, "assets", "import",
               os.path.join(CITY, "assets.csv"), os.path.join(CITY, "dependencies.csv"))
        cls.desk = keygen(cls.keydir, "desk1")
        console_add(cls.db, "desk1", cls.desk)
        standby_dir = os.path.join(cls.tmp, "standby")
        os.mkdir(standby_dir, 0o700)
        opts = dict(cls.SERVER_OPTIONS)
        opts["journal.dir"] = cls.server.journal_dir  # the shared storage
        cls.standby = TocsindProcess(standby_dir, cls.db, cls.server_key, opts)
        cls.addClassCleanup(cls.standby.cleanup)
        cls.server.start()

    def test_a_standby_cannot_start_while_the_primary_holds_the_journal(self):
        self.server.ensure_running()
        with self.assertRaises(AssertionError) as cm:
            self.standby.start()
        self.assertIn("exited with status 1 before ready", str(cm.exception))
        log = self.standby.log()
        self.assertIn('msg="journal directory locked by another writer" dir="%s"'
                      % self.server.journal_dir, log)
        self.assertIn("Resource temporarily unavailable", log)
        self.standby.proc = None
        # it bound nothing: the primary's ports are its own, and it still serves
        a = self.adapter("city")
        self.assertEqual(a.send(a.event(asset="SUB-ALD-PRI-07"))["err"], [])

    def test_b_failover_under_load(self):
        self.server.ensure_running()
        c = Console(self.server, self.desk, topics=("live/",))
        self.addCleanup(c.close)
        time.sleep(0.5)
        seen = {}  # seq -> (incident, rev), from the primary's PUB

        def drain(console, until=None, timeout=0.2):
            while True:
                a = console.recv_alert(timeout=timeout)
                if a is None:
                    return
                body = a[1]
                self.assertNotIn(body["seq"], seen, "seq %d twice" % body["seq"])
                seen[body["seq"]] = (body["incident"], body["rev"])

        load = LoadSender(self.server, self.keys["load"], "it/load/failover", batch=50,
                          reply_timeout=2.0)
        self.addCleanup(load.stopping.set)
        load.start()
        wait_until(lambda: load.n_acked() >= 500 or load.failure, 30, 0.05, "load acked")

        events = scenario_events("scenario-substation-fire.csv", now_ms() - 3600 * 1000, "f")
        half = len(events) // 2
        city = Adapter(self.server, self.keys["city"], source="it/city", timeout=2.0)
        self.addCleanup(city.close)
        unacked = []
        for i in range(0, half, 10):
            r = city.send(events[i:i + 10])
            self.assertEqual(r["err"], [])
        wait_until(lambda: drain(c) or len(seen) >= 3, 20, 0,
                   lambda: "alerts from the primary; log:\n%s" % self.server.log_tail())
        # Mid-stream: a frame of the cascade in flight, the load running.
        city.sock.send(pack(events[half:half + 10]))
        unacked += events[half:half + 10]
        self.server.kill9()
        load.finish()
        self.assertIsNone(load.failure)
        drain(c)
        last_seen = max(seen)

        # The standby on the same journal: it recovers the torn tail, rebuilds the
        # correlator and the alerts from the journal, and serves on its own endpoints.
        self.standby.start()
        load.server = self.standby
        retry = Adapter(self.standby, self.keys["load"], source=load.source, timeout=10)
        self.addCleanup(retry.close)
        missing = [ev for i, ev in load.events.items() if i not in load.acked]
        for k in range(0, len(missing), 200):
            r = retry.send(missing[k:k + 200])
            self.assertEqual(r["err"], [])
            for i in list(r["ok"]) + list(r["dup"]):
                load.acked.setdefault(i, time.monotonic())
        self.assertEqual(set(load.acked), set(load.events))
        city2 = Adapter(self.standby, self.keys["city"], source="it/city", timeout=10)
        self.addCleanup(city2.close)
        rest = unacked + events[half + 10:]
        for i in range(0, len(rest), 10):
            r = city2.send(rest[i:i + 10])
            self.assertEqual(r["err"], [])
            self.assertEqual(len(r["ok"]) + len(r["dup"]), len(rest[i:i + 10]))

        # The console goes to the standby and asks for what came after its last seq.
        c2 = Console(self.standby, self.desk, topics=("live/",))
        self.addCleanup(c2.close)
        wait_until(lambda: self.db.query(
            "SELECT 1 FROM incidents WHERE stream = 'live' AND root_asset = 'SUB-ALD-PRI-07' "
            "AND msg = 'resolved'"), 60, 0.3,
            lambda: "the fire resolved on the standby; log:\n%s" % self.standby.log_tail())
        time.sleep(2.0)  # a few ticks more
        caught = c2.since(last_seen)
        self.assertTrue(caught, "alerts after the failover")
        self.assertEqual(caught[0]["seq"], last_seen + 1, "no gap at the failover")
        for body in caught:
            self.assertNotIn(body["seq"], seen, "seq %d twice" % body["seq"])
            seen[body["seq"]] = (body["incident"], body["rev"])
        self.assertEqual(sorted(seen), list(range(1, max(seen) + 1)), "gapless")
        last = max(seen)
        self.assertEqual(self.standby.stop(), 0, self.standby.log_tail())

        # Every acked event, once.
        stored = {r["id"] for r in self.db.query(
            "SELECT id FROM events WHERE source = %s" % lit(load.source))}
        self.assertEqual(stored, set(load.acked))
        self.assertEqual(self.db.scalar(
            "SELECT count(*) FROM events WHERE source = %s" % lit(load.source)), len(stored))
        fire_ids = {(ev["source"], ev["id"]) for ev in events}
        got = {(r["source"], r["id"]) for r in self.db.query(
            "SELECT source, id FROM events WHERE id LIKE 'f-L%'")}
        self.assertEqual(got, fire_ids)
        self.assertEqual(self.db.scalar(
            "SELECT count(*) - count(DISTINCT (source, id)) FROM events"), 0)
        # The seqs in PostgreSQL are those the console saw.
        rows = self.db.query("SELECT seq, incident, rev FROM alerts WHERE stream = 'live' "
                             "ORDER BY seq")
        self.assertEqual([r["seq"] for r in rows], list(range(1, last + 1)))
        self.assertEqual({r["seq"]: (r["incident"], r["rev"]) for r in rows}, seen)

        # The same incidents as a clean run: a replay of the journal.
        out = os.path.join(self.tmp, "failover.jsonl")
        tocsin("--config", self.standby.config_path, "record", "--journal",
               self.server.journal_dir, "-o", out)
        p = subprocess.run([TOCSIN, "--config", self.standby.config_path, "replay", out,
                            "--db", self.db.conninfo, "--drill", "live", "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        replayed = [json.loads(l) for l in p.stdout.decode().splitlines()]
        live = self.db.query("SELECT incident, msg, root_asset FROM incidents "
                             "WHERE stream = 'live'")
        self.assertEqual({r["incident"] for r in replayed}, {r["incident"] for r in live})
        final = {}
        for r in replayed:
            final[r["incident"]] = r["msg"]
        self.assertEqual(final, {r["incident"]: r["msg"] for r in live})
        sys.stderr.write("failover: %d load events acked, %d alerts (%d before the kill), "
                         "%d incidents\n" % (len(load.acked), last, last_seen, len(live)))


class FederateTest(IntegrationCase):
    """adapters/examples/federate.py: a regional server's alerts become events of a
    national server, each revision once, and a resend is answered dup."""
    START_SERVER = False
    ADAPTERS = {"city": (ALL_SECTORS, None)}
    SERVER_OPTIONS = {"correlator.tick_ms": 100, "correlator.lateness_s": 2}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        tocsin("--db", cls.db.conninfo, "assets", "import",
               os.path.join(CITY, "assets.csv"), os.path.join(CITY, "dependencies.csv"))
        cls.fed_console = keygen(cls.keydir, "fed-north")
        console_add(cls.db, "fed-north", cls.fed_console)
        cls.national_db = Database()
        cls.addClassCleanup(cls.national_db.drop)
        cls.national_db.create()
        cls.national_key = keygen(cls.keydir, "national")
        cls.north = keygen(cls.keydir, "north")
        adapter_add(cls.national_db, "north", cls.north, ALL_SECTORS)
        nat_dir = os.path.join(cls.tmp, "national")
        os.mkdir(nat_dir, 0o700)
        cls.national = TocsindProcess(nat_dir, cls.national_db, cls.national_key,
                                      {"alerts.enabled": "false"})
        cls.addClassCleanup(cls.national.cleanup)
        cls.server.start()
        cls.national.start()

    def federate(self, state, seconds=3):
        return run(["/usr/bin/python3", os.path.join(REPO, "adapters", "examples",
                                                     "federate.py"),
                    "--region", "north", "--regional-key", self.server_key.pub_path,
                    "--console-key", os.path.join(self.keydir, "fed-north"),
                    "--alerts", self.server.alerts_endpoint,
                    "--control", self.server.control_endpoint,
                    "--national", self.national.endpoint,
                    "--national-key", self.national_key.pub_path,
                    "--adapter-key", os.path.join(self.keydir, "north"),
                    "--asset-prefix", "north:", "--state", state,
                    "--seconds", str(seconds)], timeout=120)

    def test_regional_alerts_become_national_events_once(self):
        self.send_all(scenario_events("scenario-substation-fire.csv",
                                      now_ms() - 3600 * 1000, "fed"))
        wait_until(lambda: self.db.query(
            "SELECT 1 FROM incidents WHERE stream = 'live' AND root_asset = 'SUB-ALD-PRI-07' "
            "AND msg = 'resolved'"), 60, 0.3, lambda: self.server.log_tail())
        time.sleep(2.0)
        alerts = self.db.query("SELECT a.seq, a.incident, a.rev, a.msg, i.root_asset "
                               "FROM alerts a JOIN incidents i USING (stream, incident) "
                               "WHERE a.stream = 'live' ORDER BY a.seq")
        self.assertGreater(len(alerts), 10)
        state = os.path.join(self.tmp, "north.seq")
        p = self.federate(state)
        self.assertIn("up to seq %d: %d events acknowledged, 0 refused"
                      % (alerts[-1]["seq"], len(alerts)), p.stdout, p.stderr)
        with open(state) as f:
            self.assertEqual(int(f.read()), alerts[-1]["seq"])
        got = self.national_db.query("SELECT id, type, asset, severity, attrs FROM events "
                                     "WHERE source = 'tocsin/north'")
        want = {"%s/r%d" % (a["incident"], a["rev"]) for a in alerts}
        wait_until(lambda: len(self.national_db.query(
            "SELECT id FROM events WHERE source = 'tocsin/north'")) == len(want), 15, 0.2,
            "the national events stored")
        got = {r["id"]: r for r in self.national_db.query(
            "SELECT id, type, asset, severity, attrs FROM events "
            "WHERE source = 'tocsin/north'")}
        self.assertEqual(set(got), want)
        fire = [a for a in alerts if a["root_asset"] == "SUB-ALD-PRI-07"]
        last = got["%s/r%d" % (fire[-1]["incident"], fire[-1]["rev"])]
        self.assertEqual((last["type"], last["asset"]), ("asset.up", "north:SUB-ALD-PRI-07"))
        self.assertEqual(last["attrs"]["region"], "north")
        # From seq 0 again (the state lost): every one answered dup, nothing stored twice.
        os.unlink(state)
        p = self.federate(state, seconds=1)
        self.assertIn("0 events acknowledged, 0 refused", p.stdout)
        time.sleep(1.0)
        self.assertEqual(self.national_db.scalar(
            "SELECT count(*) FROM events WHERE source = 'tocsin/north'"), len(want))


if __name__ == "__main__":
    unittest.main()
