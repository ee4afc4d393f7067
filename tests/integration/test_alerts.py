"""test_alerts.py - alerts to control rooms (design 3.2, 3.3; docs/control-rooms.md): a
real cascade of the demo city reaches a CURVE console as alerts with a gapless seq, stored
in PostgreSQL with it; `since` from memory and from PostgreSQL, `snapshot`, `ack` (stored
and audited); bad requests get clear errors; console and adapter keys are not
interchangeable and a revoked console is refused at once; after kill -9 a console resumes
with no gap and no duplicate."""
import os
import time

import zmq

from harness import (ALL_SECTORS, CITY, Adapter, Console, IntegrationCase, console_add,
                     console_revoke, keygen, now_ms, pack, scenario_events, tocsin,
                     wait_until)

BODY_KEYS = {"seq", "incident", "rev", "msg", "status", "priority", "title", "cause",
             "confidence", "root", "sectors", "affected", "at_risk", "at_risk_count", "area",
             "opened", "updated", "explain"}


class AlertsTest(IntegrationCase):
    START_SERVER = False
    ADAPTERS = {"city": (ALL_SECTORS, None)}
    # A small memory and small pages, so that `since` exercises PostgreSQL and "more".
    SERVER_OPTIONS = {"correlator.tick_ms": 100, "correlator.lateness_s": 2,
                      "alerts.recent": 5, "alerts.since_max": 7,
                      # every priority escalates, after a minute of journal time
                      "alerts.escalate_p1_s": 60, "alerts.escalate_p2_s": 60,
                      "alerts.escalate_p3_s": 60, "alerts.escalate_p4_s": 60,
                      "alerts.escalate_p5_s": 60}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        tocsin("--db", cls.db.admin_conninfo, "assets", "import",
               os.path.join(CITY, "assets.csv"), os.path.join(CITY, "dependencies.csv"))
        cls.consoles = {}
        for name in ("desk1", "desk2", "desk3"):
            cls.consoles[name] = keygen(cls.keydir, name)
            console_add(cls.db, name, cls.consoles[name])
        cls.server.start()
        cls.sent = 0

    # helpers

    def console(self, name="desk1", **kw):
        c = Console(self.server, self.consoles[name], **kw)
        self.addCleanup(c.close)
        return c

    def send_scenario(self, name, base_ms):
        type(self).sent += 1
        self.send_all(scenario_events(name, base_ms, "s%d" % self.sent))

    def db_alerts(self):
        return self.db.query("SELECT seq, incident, rev, msg, priority, area FROM alerts "
                             "WHERE stream = 'live' ORDER BY seq")

    def last_seq(self, console):
        r = console.request(op="since", seq=0)
        self.assertTrue(r["ok"], r)
        return r["last"]

    def wait_quiet(self, console, settle=3.0, timeout=60):
        """Wait until no alert has been published for `settle` seconds and PostgreSQL has
        every seq; return the last seq. (1.5 s was too short on a loaded machine: after a
        restart the correlator can pause that long between two revisions.)"""
        def quiet():
            last = self.last_seq(console)
            time.sleep(settle)
            if self.last_seq(console) != last:
                return None
            stored = self.db.scalar("SELECT coalesce(max(seq), 0) FROM alerts")
            return last if stored == last else None
        return wait_until(quiet, timeout, 0.1, lambda: self.server.log_tail())

    def collect(self, console, upto, timeout=20):
        """Alerts from the SUB until seq `upto`: {seq: (topic, body)}."""
        got = {}
        deadline = time.monotonic() + timeout
        while (not got or max(got) < upto) and time.monotonic() < deadline:
            a = console.recv_alert(timeout=1.0)
            if a:
                self.assertNotIn(a[1]["seq"], got, "seq %d sent twice" % a[1]["seq"])
                got[a[1]["seq"]] = a
        return got

    def assertAlert(self, topic, body):
        self.assertEqual(set(body), BODY_KEYS | ({"merged_into"} if body["msg"] == "merged"
                                                 else set()), body)
        self.assertEqual(topic, "live/P%d/%s" % (body["priority"], body["area"] or "-"))
        self.assertEqual(body["status"], "actual")
        self.assertIn(body["msg"], ("alert", "update", "resolved", "merged"))

    # tests

    def test_a_cascade_reaches_a_console_gapless_and_stored(self):
        c = self.console()
        time.sleep(0.5)  # the SUB's subscription reaches the PUB
        first = self.last_seq(c) + 1
        self.send_scenario("scenario-substation-fire.csv", now_ms() - 3600 * 1000)
        last = self.wait_quiet(c)
        self.assertGreater(last, first + 5, "a cascade gives several revisions")
        got = self.collect(c, last)
        self.assertEqual(sorted(got), list(range(first, last + 1)), "gapless, in order")
        for topic, body in got.values():
            self.assertAlert(topic, body)
        # Every revision of every incident, as stored, with its seq.
        rows = {r["seq"]: r for r in self.db_alerts()}
        self.assertEqual(sorted(rows), list(range(1, last + 1)))
        for seq, (topic, body) in got.items():
            r = rows[seq]
            self.assertEqual((body["incident"], body["rev"], body["msg"], body["priority"]),
                             (r["incident"], r["rev"], r["msg"], r["priority"]))
        self.assertEqual(self.db.scalar("SELECT count(*) FROM incident_revisions "
                                        "WHERE seq IS NULL"), 0)
        # The substation fire: one incident, priority 1, on a P1 topic.
        fire = [b for t, b in got.values() if b["root"]["asset"] == "SUB-ALD-PRI-07"
                and b["cause"] == "observed"]
        self.assertTrue(fire)
        self.assertEqual(len({b["incident"] for b in fire}), 1)
        self.assertEqual(fire[-1]["msg"], "resolved")
        self.assertEqual([b["rev"] for b in fire], list(range(1, len(fire) + 1)))

    def test_b_since_from_memory_and_postgresql(self):
        c = self.console()
        last = self.last_seq(c)
        if last < 10:
            self.test_a_cascade_reaches_a_console_gapless_and_stored()
            last = self.wait_quiet(c)
        # Older than memory (5 alerts): PostgreSQL, in pages of 7 while "more".
        r = c.request(op="since", seq=0, id="q1")
        self.assertTrue(r["ok"], r)
        self.assertEqual(r["id"], "q1")
        self.assertEqual([a["seq"] for a in r["alerts"]], list(range(1, 8)))
        self.assertTrue(r["more"])
        self.assertEqual(r["last"], last)
        every = c.since(0)
        self.assertEqual([a["seq"] for a in every], list(range(1, last + 1)))
        # The recent ones from memory: the same alerts (map key order aside).
        recent = c.since(last - 3)
        self.assertEqual([a["seq"] for a in recent], list(range(last - 2, last + 1)))
        self.assertEqual(recent, every[-3:])
        # Nothing after the last one.
        r = c.request(op="since", seq=last)
        self.assertEqual((r["ok"], r["alerts"], r["more"]), (True, [], False))

    def test_c_snapshot_and_ack(self):
        c = self.console()
        if self.last_seq(c) < 10:
            self.test_a_cascade_reaches_a_console_gapless_and_stored()
        snap = c.request(op="snapshot")
        self.assertTrue(snap["ok"], snap)
        open_db = {r["incident"]: r["rev"] for r in self.db.query(
            "SELECT incident, rev FROM incidents WHERE stream = 'live' "
            "AND msg IN ('alert', 'update')")}
        self.assertEqual({i["incident"]: i["rev"] for i in snap["incidents"]}, open_db)
        self.assertEqual(snap["open"], len(open_db))
        self.assertTrue(open_db, "the scenario leaves incidents open (blind sources)")
        prios = [i["priority"] for i in snap["incidents"]]
        self.assertEqual(prios, sorted(prios), "most urgent first")
        self.assertEqual(snap["acked"], {})

        inc = snap["incidents"][0]
        r = c.request(op="ack", incident=inc["incident"], rev=inc["rev"], operator="J. Smith",
                      id=7)
        self.assertEqual(r, {"ok": True, "op": "ack", "id": 7, "incident": inc["incident"],
                             "rev": inc["rev"]})
        acks = self.db.query("SELECT incident, rev, operator, console FROM alert_acks")
        self.assertEqual(acks, [{"incident": inc["incident"], "rev": inc["rev"],
                                 "operator": "J. Smith", "console": "desk1"}])
        audit = self.db.query("SELECT actor, action, subject, origin, detail FROM audit "
                              "WHERE action = 'alert.ack'")
        self.assertEqual(audit, [{"actor": "desk1", "action": "alert.ack",
                                  "subject": inc["incident"], "origin": "control",
                                  "detail": {"stream": "live", "rev": inc["rev"],
                                             "operator": "J. Smith"}}])
        snap = c.request(op="snapshot")
        self.assertEqual(snap["acked"], {inc["incident"]: inc["rev"]})

    def test_d_bad_requests_get_clear_errors(self):
        c = self.console()
        last = self.last_seq(c)
        snap = c.request(op="snapshot")
        cases = [
            (b"\xc1", "E_DECODE", "MessagePack"),
            (pack([1, 2]), "E_SCHEMA", "expected a map"),
            (pack({}), "E_SCHEMA", "op: expected"),
            (pack({"op": 1}), "E_SCHEMA", "op: expected"),
            (pack({"op": "launch"}), "E_SCHEMA", 'unknown "launch"'),
            (pack({"op": "since", "seq": 0, "colour": "red"}), "E_SCHEMA",
             'unknown key "colour"'),
            (pack({"op": "since"}), "E_SCHEMA", "since: seq: expected an integer"),
            (pack({"op": "since", "seq": -1}), "E_SCHEMA", "since: seq: expected an integer"),
            (pack({"op": "since", "seq": "5"}), "E_SCHEMA", "since: seq: expected an integer"),
            (pack({"op": "since", "seq": last + 100}), "E_SCHEMA",
             "past the last alert (%d)" % last),
            (pack({"op": "since", "seq": 0, "stream": "drill/x"}), "E_UNKNOWN",
             'no drill "drill/x" known'),
            (pack({"op": "since", "seq": 0, "stream": 7}), "E_SCHEMA",
             "stream: expected"),
            (pack({"op": "snapshot", "stream": "a-drill"}), "E_SCHEMA",
             "served by since only"),
            (pack({"op": "snapshot", "seq": 3}), "E_SCHEMA", "takes no arguments"),
            (pack({"op": "ack", "rev": 1, "operator": "x"}), "E_SCHEMA",
             "incident is required"),
            (pack({"op": "ack", "incident": "INC-1", "operator": "x"}), "E_SCHEMA",
             "rev is required"),
            (pack({"op": "ack", "incident": "INC-1", "rev": 1}), "E_SCHEMA",
             "operator is required"),
            (pack({"op": "ack", "incident": "INC-1", "rev": 0, "operator": "x"}), "E_SCHEMA",
             "rev: expected an integer >= 1"),
            (pack({"op": "ack", "incident": 5, "rev": 1, "operator": "x"}), "E_SCHEMA",
             "incident: expected"),
            (pack({"op": "ack", "incident": "INC-1", "rev": 1, "operator": ""}), "E_SCHEMA",
             "operator: expected"),
            (pack({"op": "ack", "incident": "INC-1", "rev": 1, "operator": "a\nb"}),
             "E_SCHEMA", "operator: expected"),
            (pack({"op": "ack", "incident": "INC-nope", "rev": 1, "operator": "x"}),
             "E_UNKNOWN", "incident INC-nope is not open"),
            (pack({"op": "since", "seq": 0, "id": {"a": 1}}), "E_SCHEMA", "id: expected"),
        ]
        if snap["incidents"]:
            inc = snap["incidents"][0]
            cases.append((pack({"op": "ack", "incident": inc["incident"],
                                "rev": inc["rev"] + 1, "operator": "x"}),
                          "E_UNKNOWN", "has no rev %d" % (inc["rev"] + 1)))
        for raw, code, text in cases:
            r = c.request_raw(raw)
            self.assertIsNotNone(r, raw)
            self.assertIs(r["ok"], False, (raw, r))
            self.assertEqual(r["code"], code, (raw, r))
            self.assertIn(text, r["msg"], (raw, r))
        # A good request still works afterwards.
        self.assertTrue(c.request(op="since", seq=last)["ok"])

    def test_e_keys_are_not_interchangeable_and_revocation_is_live(self):
        # An adapter's key is not a console's: no handshake, so no reply.
        adapter_as_console = Console(self.server, self.keys["city"], timeout=1.0)
        self.addCleanup(adapter_as_console.close)
        self.assertIsNone(adapter_as_console.request_raw(pack({"op": "snapshot"}), 1.0))
        # A console's key is not an adapter's.
        a = Adapter(self.server, self.consoles["desk2"], timeout=1.0)
        self.addCleanup(a.close)
        self.assertIsNone(a.send_raw(pack(a.event(type="heartbeat", sector=None,
                                                  asset=None)), 1.0))
        # An unregistered key: nothing.
        stranger = Console(self.server, self.new_key("stranger"), timeout=1.0)
        self.addCleanup(stranger.close)
        self.assertIsNone(stranger.request_raw(pack({"op": "snapshot"}), 1.0))
        wait_until(lambda: self.db.scalar("SELECT count(*) FROM audit WHERE action = "
                                          "'console.refused'") >= 2, 10, 0.2,
                   "the refused handshakes in the audit trail")

        # Revoked while connected: the next request is refused.
        c3 = self.console("desk3")
        self.assertTrue(c3.request(op="snapshot")["ok"])
        console_revoke(self.db, "desk3")

        def refused():
            r = c3.request_raw(pack({"op": "snapshot"}), 1.0)
            return r if r and r["ok"] is False else None
        r = wait_until(refused, 10, 0.2, "desk3 refused after revocation")
        self.assertEqual(r["code"], "E_FORBIDDEN")
        self.assertIn("revoked", r["msg"])

    def test_f_kill9_resume_without_gap_or_duplicate(self):
        c = self.console("desk2")
        time.sleep(0.5)
        # What this console has seen: everything so far, by since.
        seen = {a["seq"]: (a["incident"], a["rev"]) for a in c.since(0)}
        self.send_scenario("scenario-exchange-flood.csv", now_ms() - 3600 * 1000)
        # Read a little of the live stream, then the server dies mid-flow.
        for _ in range(3):
            a = c.recv_alert(timeout=10)
            if a:
                seen.setdefault(a[1]["seq"], (a[1]["incident"], a[1]["rev"]))
        self.server.kill9()
        self.server.start()
        wait_until(lambda: "alerts caught up" in self.server.log()[self.server.log_offset:],
                   15, 0.1, lambda: self.server.log_tail())
        self.send_scenario("scenario-late-root.csv", now_ms() - 3600 * 1000)
        # The console resumes: since its last seq, then the live stream.
        last = self.wait_quiet(c)
        mine = max(seen) if seen else 0
        for a in c.since(mine):
            self.assertNotIn(a["seq"], seen, "seq %d delivered twice" % a["seq"])
            seen[a["seq"]] = (a["incident"], a["rev"])
        while True:
            a = c.recv_alert(timeout=0.5)
            if not a:
                break
            body = a[1]
            if body["seq"] in seen:
                # the live copy of one already caught up: the same alert
                self.assertEqual(seen[body["seq"]], (body["incident"], body["rev"]))
            seen[body["seq"]] = (body["incident"], body["rev"])
        self.assertEqual(sorted(seen), list(range(1, last + 1)), "no gap")
        rows = self.db_alerts()
        self.assertEqual([r["seq"] for r in rows], list(range(1, last + 1)),
                         "no duplicate seq in PostgreSQL")
        for r in rows:
            self.assertEqual(seen[r["seq"]], (r["incident"], r["rev"]))
        # One revision of an incident has one seq.
        self.assertEqual(len({(r["incident"], r["rev"]) for r in rows}), len(rows))
        self.assertEqual(self.server.stop(), 0, self.server.log_tail())

    def test_g_slow_console_does_not_delay_others(self):
        """A console that never reads loses what its high-water mark cannot hold (it would
        catch up with since); another console gets every alert meanwhile."""
        self.server.ensure_running()
        slow = self.console("desk1")
        slow.sub.setsockopt(zmq.RCVHWM, 1)
        fast = self.console("desk2")
        time.sleep(0.5)
        first = self.last_seq(fast) + 1
        self.send_scenario("scenario-substation-fire.csv", now_ms() - 5400 * 1000)
        last = self.wait_quiet(fast)
        got = self.collect(fast, last)
        self.assertEqual(sorted(got), list(range(first, last + 1)))
        # The slow one recovers what it missed by since.
        slow_seen = set()
        while True:
            a = slow.recv_alert(timeout=0.3)
            if not a:
                break
            slow_seen.add(a[1]["seq"])
        missing = [s for s in range(first, last + 1) if s not in slow_seen]
        if missing:
            back = slow.since(missing[0] - 1)
            slow_seen |= {a["seq"] for a in back}
        self.assertTrue(set(range(first, last + 1)) <= slow_seen)

    def test_h_console_keys_cli(self):
        db = ["--db", self.db.admin_conninfo]
        # An adapter's key cannot be a console's, and the reverse.
        p = tocsin(*db, "console", "add", "deskX", "--key", self.keys["city"].pub_path,
                   check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn('already registered to adapter "city"', p.stderr)
        p = tocsin(*db, "adapter", "add", "adX", "--key", self.consoles["desk1"].pub_path,
                   "--sectors", "energy", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn('already registered to console "desk1"', p.stderr)
        # Names are shared too; each verb sees its own kind only.
        p = tocsin(*db, "adapter", "revoke", "desk1", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn('no adapter named "desk1"', p.stderr)
        k = keygen(self.keydir, "desk4")
        p = tocsin(*db, "console", "add", "city", "--key", k.pub_path, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn('the name "city" belongs to an adapter', p.stderr)
        p = tocsin(*db, "console", "add", "desk4", "--key", k.pub_path, "--clearance", "secret",
                   check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn('unknown clearance "secret"', p.stderr)
        p = tocsin(*db, "console", "add", "desk4", "--key", k.pub_path, "--sectors", "energy",
                   check=False)
        self.assertEqual(p.returncode, 2)
        p = tocsin(*db, "console", "add", "desk4", "--key", k.pub_path, "--clearance",
                   "official-sensitive")
        self.assertIn('added console "desk4": clearance official-sensitive', p.stdout)
        out = tocsin(*db, "console", "list").stdout
        self.assertIn("CLEARANCE", out.splitlines()[0])
        self.assertIn("desk4", out)
        self.assertNotIn("city", out)
        self.assertNotIn("desk", tocsin(*db, "adapter", "list").stdout)
        self.assertEqual(self.db.query(
            "SELECT action, subject, detail->>'clearance' AS c FROM audit "
            "WHERE action = 'console.add' AND subject = 'desk4'"),
            [{"action": "console.add", "subject": "desk4", "c": "official-sensitive"}])
        tocsin(*db, "console", "revoke", "desk4")
        # A revoked key never comes back, as either kind.
        p = tocsin(*db, "adapter", "add", "adY", "--key", k.pub_path, "--sectors", "energy",
                   check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("this key was revoked", p.stderr)

    def test_i_unacknowledged_incidents_escalate_in_journal_time(self):
        """Time is driven by event times (a heartbeat a few minutes ahead), not by
        sleeping: each deadline crossed re-publishes the incident with its level, until it
        is acknowledged."""
        self.server.ensure_running()
        c = self.console("desk2", topics=("escalation/",))
        time.sleep(0.5)
        if self.last_seq(c) < 10:
            self.test_a_cascade_reaches_a_console_gapless_and_stored()
        snap = c.request(op="snapshot")
        unacked = [i for i in snap["incidents"] if i["incident"] not in snap["acked"]]
        self.assertGreaterEqual(len(unacked), 2, snap)
        keep, ack = unacked[0], unacked[1]
        clock = self.adapter("city")

        def tick(ahead_s):
            ev = clock.event(type="heartbeat", sector=None, asset=None,
                             time_ms=now_ms() + ahead_s * 1000)
            self.assertEqual(clock.send(ev)["err"], [])

        def escalations(timeout=5.0):
            got = {}
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                a = c.recv_alert(timeout=0.5)
                if a is None:
                    if got:
                        break
                    continue
                topic, body = a
                self.assertEqual(topic, "escalation/live/P%d/%s" % (
                    body["priority"], body["alert"]["area"] or "-"))
                self.assertEqual(body["alert"]["incident"], body["incident"])
                self.assertEqual(body["alert"]["rev"], body["rev"])
                got.setdefault(body["incident"], []).append(body["level"])
            return got

        tick(70)
        first = escalations()
        self.assertIn(keep["incident"], first)
        self.assertIn(ack["incident"], first)
        level = max(first[keep["incident"]])
        self.assertGreaterEqual(level, 1)
        r = c.request(op="ack", incident=ack["incident"], rev=ack["rev"], operator="duty")
        self.assertTrue(r["ok"], r)
        snap = c.request(op="snapshot")
        self.assertIn(keep["incident"], snap["escalated"])
        self.assertNotIn(ack["incident"], snap["escalated"])

        tick(250)  # three more minutes of journal time
        second = escalations()
        self.assertIn(keep["incident"], second)
        self.assertGreater(max(second[keep["incident"]]), level)
        self.assertNotIn(ack["incident"], second, "acknowledged: no more escalation")
        # Audited, each level.
        rows = wait_until(lambda: self.db.query(
            "SELECT detail->>'reason' AS r FROM audit WHERE action = 'alert.escalate' "
            "AND subject = %s" % ("'" + keep["incident"] + "'")) or None, 10, 0.2,
            "escalations in the audit trail")
        self.assertTrue(any(("level %d," % max(second[keep["incident"]])) in r["r"]
                            for r in rows), rows)
        # A restart replays the clock from the journal: the levels reached are known
        # again and not published a second time.
        audited = len(self.db.query("SELECT 1 FROM audit WHERE action = 'alert.escalate'"))
        self.server.restart()
        c = self.console("desk2", topics=("escalation/",))
        snap = wait_until(lambda: c.request(op="snapshot"), 10, 0.2, "a snapshot")
        self.assertEqual(snap["escalated"][keep["incident"]], max(second[keep["incident"]]))
        self.assertIsNone(c.recv_alert(timeout=2.0), "no escalation published again")
        self.assertEqual(len(self.db.query(
            "SELECT 1 FROM audit WHERE action = 'alert.escalate'")), audited)

    def test_j_since_skips_what_was_never_journaled(self):
        """A seq missing from PostgreSQL below one that is stored will never come (the
        journal refused that revision): since says so in "lost" rather than wait for it."""
        self.server.ensure_running()
        c = self.console("desk2")
        last = self.wait_quiet(c)
        self.assertGreater(last, 12)
        hole = last - 10  # older than memory (5 alerts): from PostgreSQL
        self.db.execute("DELETE FROM incident_revisions WHERE seq = %d" % hole)
        r = c.request(op="since", seq=hole - 2)
        self.assertTrue(r["ok"], r)
        self.assertEqual([a["seq"] for a in r["alerts"]][:3], [hole - 1, hole + 1, hole + 2])
        self.assertEqual(r["lost"], [[hole, hole]])
        # From memory: nothing is ever lost there.
        r = c.request(op="since", seq=last - 2)
        self.assertEqual((r["lost"], [a["seq"] for a in r["alerts"]]),
                         ([], [last - 1, last]))

    def test_k_priority_lane_is_not_held_up_by_a_stalled_bulk_lane(self):
        """The pattern of docs/control-rooms.md: P1 and P2 on a SUB of their own. PUB
        queues per connection and filters at the server, so the priority lane holds only
        P1/P2 and never waits behind, nor is dropped for, the others."""
        self.server.ensure_running()
        lane = self.console("desk1", topics=("live/P1/", "live/P2/"))
        bulk = self.console("desk2", topics=("live/P3/", "live/P4/", "live/P5/"))
        bulk.sub.setsockopt(zmq.RCVHWM, 1)  # and never read
        time.sleep(0.5)
        first = self.last_seq(lane) + 1
        self.send_scenario("scenario-substation-fire.csv", now_ms() - 7200 * 1000)
        last = self.wait_quiet(lane)
        want = {r["seq"] for r in self.db_alerts() if first <= r["seq"] <= last
                and r["priority"] <= 2}
        self.assertTrue(want, "the fire gives P1 alerts")
        got = set()
        while True:
            a = lane.recv_alert(timeout=0.5)
            if not a:
                break
            self.assertLessEqual(a[1]["priority"], 2)
            got.add(a[1]["seq"])
        self.assertEqual(got, want)


    def test_l_a_subscribed_console_is_cut_off_when_its_key_is_revoked(self):
        """A PUB never looks at its subscribers again after the handshake; the streams are
        XPUBs that tell the server which connection each subscription came on, so a
        revoked console stops receiving alerts (its connection shut down, its reconnect
        refused by ZAP) within 5 s, audited, while another console is untouched."""
        self.server.ensure_running()
        keys = {n: self.new_key(n) for n in ("desk-cut", "desk-kept")}
        for n, kp in keys.items():
            console_add(self.db, n, kp)
        subs = {}
        for n, kp in keys.items():
            subs[n] = Console(self.server, kp, topics=("live/",))
            self.addCleanup(subs[n].close)
            wait_until(lambda: subs[n].request_raw(pack({"op": "snapshot"}), 1.0), 10, 0.2,
                       "console %s admitted" % n)
            # the SUB again: one refused before the key was known does not reconnect
            subs[n].connect()
        time.sleep(0.5)  # the subscriptions reach the server
        self.send_scenario("scenario-exchange-flood.csv", now_ms() - 9000 * 1000)
        for n in keys:
            self.assertIsNotNone(subs[n].recv_alert(timeout=20), "%s gets alerts" % n)
        console_revoke(self.db, "desk-cut")
        t0 = time.monotonic()
        row = wait_until(lambda: self.db.query(
            "SELECT origin, detail FROM audit WHERE action = 'console.cut' "
            "AND subject = 'desk-cut'"), 15, 0.1, "the cut audited")
        cut_s = time.monotonic() - t0
        self.assertLess(cut_s, 5.0 + 1.0, "cut within 5 s of the revocation (+ the audit)")
        self.assertEqual(row[0]["origin"], "127.0.0.1")
        self.assertIn("key not registered or revoked", str(row[0]["detail"]))
        self.assertIn("console=desk-cut", self.server.log_tail())
        for c in subs.values():  # what was published before
            while c.recv_alert(timeout=1.0):
                pass
        self.send_scenario("scenario-substation-fire.csv", now_ms() - 10800 * 1000)
        self.assertIsNotNone(subs["desk-kept"].recv_alert(timeout=20),
                             "the other console still gets alerts")
        time.sleep(2.0)
        self.assertIsNone(subs["desk-cut"].recv_alert(timeout=1.0),
                          "the revoked console gets nothing after the cut")
        self.assertEqual(self.db.scalar("SELECT count(*) FROM audit WHERE action = "
                                        "'console.cut' AND subject = 'desk-kept'"), 0)

if __name__ == "__main__":
    import unittest
    unittest.main()
