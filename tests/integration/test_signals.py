"""test_signals.py - SIGHUP and SIGTERM (issue 7 item 4; docs/operations.md, "Reloading"
and "Stopping").

SIGHUP: a changed live setting takes effect (a rate limit, escalation deadlines), a changed
restart-only setting is named in the log and not applied, a broken file is refused with the
message --check-config gives and the server keeps serving, both key registries are re-read
at once, every reload is audited, and an adapter's and a console's connections stay up across
it (the same sockets, no new handshake: watched with ZeroMQ socket monitors).

SIGTERM under load: exit status 0 within server.drain_s, every acked event in PostgreSQL;
and with PostgreSQL away the bound holds (the rest waits in the journal)."""
import copy
import os
import signal
import subprocess
import sys
import time
import unittest

import zmq
from zmq.utils.monitor import recv_monitor_message

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ALL_SECTORS, CITY, TOCSIND, Adapter, Console, IntegrationCase,  # noqa: E402
                     adapter_add, console_add, free_port, keygen, lit, now_ms, pack, pg_running,
                     pg_start, pg_stop, scenario_events, tocsin, wait_until)
from test_durability import DurabilityCase  # noqa: E402

MONITORED = (zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED |
             zmq.EVENT_CLOSED | zmq.EVENT_CONNECT_RETRIED)


class Watched:
    """The connection events of a client socket (zmq_socket_monitor)."""

    def __init__(self, sock):
        self.sock = sock
        self.mon = sock.get_monitor_socket(MONITORED)
        self.events = []

    def poll(self):
        while self.mon.poll(0, zmq.POLLIN):
            self.events.append(recv_monitor_message(self.mon)["event"])
        return self.events

    def count(self, ev):
        return self.poll().count(ev)

    def close(self):
        try:
            self.sock.disable_monitor()
        except zmq.ZMQError:
            pass
        self.mon.close(linger=0)


class ReloadTest(IntegrationCase):
    START_SERVER = False
    ADAPTERS = {"city": (ALL_SECTORS, None)}
    # The registry is polled every ten minutes: whatever a test sees of a new key comes
    # from the SIGHUP. Escalation after an hour: only a reload makes it sooner.
    SERVER_OPTIONS = {"correlator.tick_ms": 100, "correlator.lateness_s": 2,
                      "registry.poll_ms": 600000, "ingest.rate": 100000,
                      "ingest.burst": 100000,
                      "alerts.escalate_p1_s": 3600, "alerts.escalate_p2_s": 3600,
                      "alerts.escalate_p3_s": 3600, "alerts.escalate_p4_s": 3600,
                      "alerts.escalate_p5_s": 3600}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        tocsin("--db", cls.db.conninfo, "assets", "import",
               os.path.join(CITY, "assets.csv"), os.path.join(CITY, "dependencies.csv"))
        cls.desk = keygen(cls.keydir, "desk1")
        console_add(cls.db, "desk1", cls.desk)
        cls.original = copy.deepcopy(cls.server.config)
        cls.server.start()

    def setUp(self):
        super().setUp()
        self.addCleanup(self.restore)

    # helpers

    def restore(self):
        """Back to the class's configuration, reloaded."""
        if self.server.running and self.server.config != self.original:
            self.server.config = copy.deepcopy(self.original)
            self.server.write_config()
            self.sighup()

    def sighup(self, expect="configuration reloaded"):
        """SIGHUP; wait for `expect` in the log after it; return the log since."""
        log = self.server.log()
        mark = len(log)
        self.server.proc.send_signal(signal.SIGHUP)
        return wait_until(lambda: expect in self.server.log()[mark:] and
                          self.server.log()[mark:], 10, 0.05,
                          lambda: "%r after SIGHUP; log:\n%s" % (expect,
                                                               self.server.log_tail()))

    def set_options(self, **kv):
        for k, v in kv.items():
            section, key = k.split("__", 1)
            self.server.config.setdefault(section, {})[key] = str(v)
        self.server.write_config()

    def watched(self, sock):
        w = Watched(sock)
        self.addCleanup(w.close)
        return w

    def reload_audits(self, n, timeout=15):
        return wait_until(lambda: (lambda rows: rows if len(rows) >= n else None)(
            self.db.query("SELECT actor, action, subject, detail FROM audit "
                          "WHERE action = 'config.reload' ORDER BY seq")), timeout, 0.2,
            "%d config.reload audit records" % n)

    def n_reload_audits(self):
        return self.db.scalar("SELECT count(*) FROM audit WHERE action = 'config.reload'")

    # tests

    def test_a_live_settings_apply_and_connections_stay_up(self):
        a = Adapter(self.server, self.keys["city"], timeout=10)
        self.addCleanup(a.close)
        c = Console(self.server, self.desk, topics=("live/", "escalation/"))
        self.addCleanup(c.close)
        wa, ws, wc = self.watched(a.sock), self.watched(c.sub), self.watched(c.ctl)
        sock_a, sock_s, sock_c = a.sock, c.sub, c.ctl
        time.sleep(0.5)  # the SUB's subscription reaches the PUB

        # Incidents to escalate: the substation fire, an hour ago.
        events = scenario_events("scenario-substation-fire.csv", now_ms() - 3600 * 1000, "a")
        for i in range(0, len(events), 100):
            self.assertEqual(a.send(events[i:i + 100])["err"], [])
        wait_until(lambda: self.db.scalar(
            "SELECT count(*) FROM incidents WHERE stream = 'live' AND msg <> 'resolved'"),
            30, 0.2, lambda: "open incidents; log:\n%s" % self.server.log_tail())
        # Four minutes of journal time (at most 5 are accepted ahead): nothing is due
        # within an hour.
        hb = a.event(type="heartbeat", sector=None, asset=None, time_ms=now_ms() + 240 * 1000)
        self.assertEqual(a.send(hb)["err"], [])
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            got = c.recv_alert(timeout=0.2)
            self.assertFalse(got and got[0].startswith("escalation/"), got)
        batch = [a.event(asset="ukpn.sub.%d" % i, sector="energy") for i in range(20)]
        r = a.send(batch)
        self.assertEqual((len(r["ok"]), r["err"]), (20, []))
        handshakes = [w.count(zmq.EVENT_HANDSHAKE_SUCCEEDED) for w in (wa, ws, wc)]
        self.assertEqual(handshakes, [1, 1, 1])
        audits = self.n_reload_audits()

        self.set_options(ingest__rate=1, ingest__burst=5, alerts__escalate_p1_s=60,
                         alerts__escalate_p2_s=60, alerts__escalate_p3_s=60,
                         alerts__escalate_p4_s=60, alerts__escalate_p5_s=60,
                         server__drain_s=7)
        log = self.sighup()
        self.assertIn('msg="setting changed" key=ingest.rate was="100000" now="1"', log)
        self.assertIn('key=alerts.escalate_p1_s was="3600" now="60"', log)
        self.assertIn("changed=8 needs_restart=0", log)
        self.assertNotIn("needs a restart", log)

        # The deadlines: the open incidents escalate at the next tick, on the same SUB.
        esc = wait_until(lambda: (lambda x: x if x and x[0].startswith("escalation/")
                                  else None)(c.recv_alert(timeout=0.5)), 10, 0,
                         lambda: "an escalation after the reload; log:\n%s"
                         % self.server.log_tail())
        self.assertGreaterEqual(esc[1]["level"], 1)
        # The rate: the bucket keeps its level, cut to the new burst (5), refilling at 1/s.
        batch = [a.event(asset="ukpn.sub.%d" % i, sector="energy") for i in range(20)]
        r = a.send(batch)
        self.assertLessEqual(len(r["ok"]), 7, r)
        self.assertGreaterEqual(len(r["err"]), 13, r)
        self.assertEqual({e["code"] for e in r["err"]}, {"E_RATE"})
        # The control socket answers, on the same connection.
        self.assertTrue(c.request(op="snapshot")["ok"])

        # Same sockets, no reconnect, no new handshake, nothing disconnected.
        self.assertIs(a.sock, sock_a)
        self.assertIs(c.sub, sock_s)
        self.assertIs(c.ctl, sock_c)
        for name, w in (("adapter", wa), ("console sub", ws), ("console control", wc)):
            self.assertEqual(w.count(zmq.EVENT_HANDSHAKE_SUCCEEDED), 1, name)
            # at most the first connect: the monitor may start after it
            self.assertLessEqual(w.count(zmq.EVENT_CONNECTED), 1, name)
            self.assertEqual(w.count(zmq.EVENT_DISCONNECTED), 0, name)

        rows = self.reload_audits(audits + 1)
        d = rows[-1]["detail"]
        self.assertEqual((rows[-1]["actor"], rows[-1]["subject"]),
                         ("tocsind-it", "configuration"))
        self.assertEqual(d["result"], "applied")
        self.assertEqual(d["file"], self.server.config_path)
        self.assertEqual(d["changed"]["ingest.rate"], ["100000", "1"])
        self.assertEqual(d["changed"]["alerts.escalate_p3_s"], ["3600", "60"])
        self.assertEqual(d["changed"]["server.drain_s"], ["10", "7"])
        self.assertEqual(d["needs_restart"], {})

    def test_b_restart_only_settings_are_named_and_kept(self):
        a = self.adapter("city")
        self.assertEqual(a.send(a.event(asset="ukpn.sub.1", sector="energy"))["err"], [])
        wa = self.watched(a.sock)
        audits = self.n_reload_audits()
        new_port = "tcp://127.0.0.1:%d" % free_port()
        self.set_options(ingest__endpoint=new_port, journal__segment_bytes="2M",
                         correlator__slack_s=5, ingest__rate=90000)
        log = self.sighup()
        self.assertIn('msg="setting needs a restart; the running value is kept" '
                      'key=ingest.endpoint running="%s" file="%s"'
                      % (self.server.endpoint, new_port), log)
        self.assertIn('key=journal.segment_bytes running="1048576" file="2097152"', log)
        self.assertIn('key=correlator.slack_s running="30" file="5"', log)
        self.assertIn('key=ingest.rate was="100000" now="90000"', log)
        self.assertIn("changed=1 needs_restart=3", log)
        # Not applied: the old endpoint serves, on the same connection; the new one is
        # not bound.
        self.assertEqual(a.send(a.event(asset="ukpn.sub.2", sector="energy"))["err"], [])
        self.assertEqual(wa.count(zmq.EVENT_DISCONNECTED), 0)
        other = copy.copy(self.server)
        other.endpoint = new_port
        b = Adapter(other, self.keys["city"], timeout=1.5)
        self.addCleanup(b.close)
        self.assertIsNone(b.send_raw(pack(
            b.event(asset="ukpn.sub.3", sector="energy")), timeout=1.5))
        d = self.reload_audits(audits + 1)[-1]["detail"]
        self.assertEqual(d["needs_restart"]["ingest.endpoint"], [self.server.endpoint, new_port])
        self.assertEqual(set(d["needs_restart"]),
                         {"ingest.endpoint", "journal.segment_bytes", "correlator.slack_s"})
        self.assertEqual(d["changed"], {"ingest.rate": ["100000", "90000"]})

    def test_c_broken_file_is_refused_whole_and_the_server_keeps_serving(self):
        a = self.adapter("city")
        audits = self.n_reload_audits()
        # a valid live change first, then a bad value: nothing of the file may apply
        self.set_options(ingest__rate=1, ingest__burst=1, store__retry_ms="soon")
        check = subprocess.run([TOCSIND, "--config", self.server.config_path, "--check-config"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=30)
        self.assertEqual(check.returncode, 1)
        msg = check.stderr.strip()
        self.assertTrue(msg.startswith("tocsind: "), msg)
        msg = msg[len("tocsind: "):]
        self.assertRegex(msg, r"tocsind\.ini:\d+: store\.retry_ms: expected an integer "
                              r"between 10 and 600000, got \"soon\"$")
        log = self.sighup(expect="reload refused")
        self.assertIn('msg="reload refused; the running configuration is kept" error="%s"'
                      % msg.replace('"', '\\"'), log)
        self.assertNotIn("setting changed", log)
        # Still serving, at the old rate (100000/s): a batch of 50 is all accepted.
        batch = [a.event(asset="ukpn.sub.%d" % i, sector="energy") for i in range(50)]
        r = a.send(batch)
        self.assertEqual((len(r["ok"]), r["err"]), (50, []))
        d = self.reload_audits(audits + 1)[-1]["detail"]
        self.assertEqual(d, {"result": "refused", "file": self.server.config_path,
                             "error": msg})
        # A file that cannot be read at all is refused the same way.
        os.rename(self.server.config_path, self.server.config_path + ".away")
        try:
            log = self.sighup(expect="reload refused")
            self.assertIn("cannot open: No such file or directory", log)
        finally:
            os.rename(self.server.config_path + ".away", self.server.config_path)
        self.assertEqual(a.send(a.event(asset="ukpn.sub.1", sector="energy"))["err"], [])

    def test_d_key_registries_are_read_again_at_once(self):
        """registry.poll_ms is ten minutes: a key added after start is known only once a
        SIGHUP re-reads the registries."""
        late = keygen(self.keydir, "late")
        adapter_add(self.db, "late", late, ["energy"])
        desk = keygen(self.keydir, "desk9")
        console_add(self.db, "desk9", desk)
        a = Adapter(self.server, late, timeout=1.5)
        self.addCleanup(a.close)
        self.assertIsNone(a.send_raw(pack(
            a.event(asset="ukpn.sub.1", sector="energy")), timeout=1.5),
            "not in the registry yet")
        c = Console(self.server, desk, timeout=1.5)
        self.addCleanup(c.close)
        self.assertIsNone(c.request_raw(pack({"op": "snapshot"}),
                                        timeout=1.5))
        log = self.sighup()
        # each watcher says "re-read" (same version) or "changed" (a new one)
        wait_until(lambda: self.server.log().count("key registry re-read") +
                   self.server.log().count("key registry changed") >= 2, 10, 0.1,
                   "both registries re-read")
        a.timeout = c.timeout = 10
        a.connect()
        c.connect()
        r = wait_until(lambda: a.send_raw(pack(
            a.event(asset="ukpn.sub.1", sector="energy")), timeout=2.0), 10, 0,
            "the new adapter key accepted")
        self.assertEqual(r["err"], [])
        self.assertEqual(len(r["ok"]), 1)
        snap = wait_until(lambda: c.request_raw(pack({"op": "snapshot"}),
                                                timeout=2.0), 10, 0,
                          "the new console key accepted")
        self.assertTrue(snap["ok"], snap)


class DrainTest(DurabilityCase):
    SERVER_OPTIONS = {"server.drain_s": 15}

    def stop_and_time(self):
        """SIGTERM; (exit status, seconds to exit)."""
        t0 = time.monotonic()
        rc = self.server.stop(timeout=60)
        return rc, time.monotonic() - t0

    def stored(self, senders):
        rows = self.db.query("SELECT source, id FROM events WHERE source IN (%s)"
                             % ", ".join(lit(s.source) for s in senders))
        return {(r["source"], r["id"]) for r in rows}

    def test_a_sigterm_under_load_stores_every_acked_event(self):
        senders = self.senders(batch=50, reply_timeout=2.0)
        self.wait_acks(senders, 2000, 30, "before SIGTERM")
        mark = len(self.server.log())
        rc, took = self.stop_and_time()
        for s in senders:
            s.finish()
        log = self.server.log()[mark:]
        self.assertEqual(rc, 0, log[-3000:])
        self.assertLess(took, 15, "within server.drain_s")
        self.assertIn("drain_s=15", log)
        self.assertIn("stored=all", log)
        acked = {(s.source, i) for s in senders for i in s.acked}
        sent = {(s.source, i) for s in senders for i in s.events}
        self.assertGreater(len(acked), 2000)
        got = self.stored(senders)  # the server is gone: this is what it left
        self.assertEqual(acked - got, set(), "acked but not in PostgreSQL")
        self.assertEqual(got - sent, set())
        self.assertEqual(self.db.scalar(
            "SELECT count(*) - count(DISTINCT (source, id)) FROM events"), 0)
        sys.stderr.write("drain: %d acked, %d stored, exit in %.2fs\n"
                         % (len(acked), len(got), took))

    def test_b_bound_holds_with_postgresql_away(self):
        # server.drain_s is live: set by a reload
        self.server.config["server"]["drain_s"] = "2"
        self.server.write_config()
        mark = len(self.server.log())
        self.server.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "configuration reloaded" in self.server.log()[mark:], 10, 0.05,
                   "the reload")
        self.addCleanup(lambda: pg_running() or pg_start())
        senders = self.senders(batch=50, reply_timeout=2.0)
        self.wait_acks(senders, 500, 30, "before PostgreSQL stops")
        pg_stop()
        self.wait_acks(senders, 1000, 30, "while PostgreSQL is away (the journal takes it)")
        mark = len(self.server.log())
        rc, took = self.stop_and_time()
        for s in senders:
            s.finish()
        log = self.server.log()[mark:]
        self.assertEqual(rc, 0, log[-3000:])
        self.assertLess(took, 2 + 1.5, "server.drain_s = 2, and a little")
        self.assertIn("drain_s=2", log)
        self.assertIn("store did not drain in time; the rest stays in the journal", log)
        self.assertIn("stored=partly", log)
        # The rest was in the journal: the next start stores it.
        pg_start()
        self.server.config["server"]["drain_s"] = "15"
        self.server.write_config()
        self.server.start()
        acked = {(s.source, i) for s in senders for i in s.acked}
        wait_until(lambda: acked <= self.stored(senders), 30, 0.5,
                   lambda: "every acked event stored after the restart; log:\n%s"
                   % self.server.log_tail())


if __name__ == "__main__":
    unittest.main()
