"""test_watch.py - `tocsin watch`, the operator's terminal console (docs/control-rooms.md
"tocsin watch"), driven through tmux in an 80x24 pane: the substation fire of the demo city
appears with its priority, root, cascade tree, sectors and countdowns; `a` acknowledges it
(on screen and in alert_acks); `e` explains it; after kill -9 and a restart of tocsind the
console says it reconnected and caught up with no gap; `q` quits with status 0. And against
a stand-in server that decides every byte: a seq gap recovered by since, hostile bodies
shown with "?" or dropped, an ack refused."""
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import msgpack
import zmq

from harness import (TOCSIN, Console, console_add, context, free_port, keygen, now_ms, pack,
                     scenario_events, wait_until)
from test_correlate import DemoCityCase

TMUX = shutil.which("tmux")
FIRE_ROOT = "SUB-ALD-PRI-07"
LATER = ("PS-ALD-07", "SPS-ALD-11")  # they fail later, in the same cascade
SHOW = os.environ.get("TOCSIN_WATCH_SHOW") == "1"  # print the screens waited for


def resume(pid):
    try:
        os.kill(pid, signal.SIGCONT)
    except ProcessLookupError:
        pass


class WatchScreen:
    """`tocsin watch` in a tmux pane, on a tmux socket of its own: nothing else's sessions
    are touched."""

    def tmux(self, *args, check=True):
        return subprocess.run([TMUX, "-L", self.sock] + list(args), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=10, check=check)

    def start_watch(self, alerts, control, desk, server_key, width=80, height=24):
        self.sock = "tocsin-watch-" + secrets.token_hex(4)
        self.exit_file = os.path.join(self.tmp, "watch-exit-" + self.sock)
        cmd = [TOCSIN, "watch", "--alerts", alerts, "--control", control,
               "--key", desk.key_path, "--server-key", server_key.pub_path,
               "--operator", "J. Tester"]
        shell = "%s 2>%s; echo $? > %s" % (" ".join(shlex.quote(c) for c in cmd),
                                           shlex.quote(self.exit_file + ".err"),
                                           shlex.quote(self.exit_file))
        self.tmux("new-session", "-d", "-s", "w", "-x", str(width), "-y", str(height), shell)
        self.addCleanup(self.tmux, "kill-server", check=False)

    def watch_pid(self):
        """The pid of `tocsin watch`, the child of the pane's shell."""
        shell = self.tmux("list-panes", "-t", "w", "-F", "#{pane_pid}").stdout.split()[0]
        out = subprocess.run(["pgrep", "-P", shell, "-x", "tocsin"], stdout=subprocess.PIPE,
                             text=True, timeout=10).stdout.split()
        self.assertEqual(len(out), 1, out)
        return int(out[0])

    def screen(self):
        p = self.tmux("capture-pane", "-p", "-t", "w", check=False)
        return p.stdout

    def wait_screen(self, pattern, timeout=20, what=None):
        """Wait until the pane matches the regex; return the match."""
        rx = re.compile(pattern, re.M)

        def found():
            return rx.search(self.screen())
        m = wait_until(found, timeout, 0.2, lambda: "%s on screen:\n%s" % (
            what or pattern, self.screen()))
        if SHOW:
            sys.stderr.write("---- %s\n%s\n" % (what or pattern, m.string))
        return m

    def press(self, *keys):
        self.tmux("send-keys", "-t", "w", *keys)

    def select(self, incident, timeout=15):
        """Move the selection (j/k) onto `incident`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.screen()
            if re.search(r"^>P\d %s " % incident, s, re.M):
                return
            lines = s.splitlines()
            sel = next((i for i, l in enumerate(lines) if l.startswith(">")), None)
            at = next((i for i, l in enumerate(lines) if incident in l), None)
            self.press("k" if sel is not None and at is not None and at < sel else "j")
            time.sleep(0.3)
        self.fail("could not select %s:\n%s" % (incident, self.screen()))

    def quit(self):
        """`q`: it exits with status 0."""
        self.press("q")
        wait_until(lambda: os.path.exists(self.exit_file), 10, 0.1, "tocsin watch to exit")
        with open(self.exit_file) as f, open(self.exit_file + ".err") as err:
            self.assertEqual(f.read().strip(), "0", err.read())


@unittest.skipIf(TMUX is None, "tmux not installed (make deps)")
class WatchTest(WatchScreen, DemoCityCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.desk = keygen(cls.keydir, "desk1")
        console_add(cls.db, "desk1", cls.desk)
        # The server takes the new key at its next registry poll: a console that
        # connects before is refused at the handshake, and libzmq does not try
        # again after an authentication failure.
        wait_until(lambda: "kind=console keys=1" in cls.server.log(), 10, 0.1,
                   "the server to load the console key")

    def send_events(self, events):
        self.send_all(events)

    # the test

    def test_watch_an_incident_ack_explain_reconnect_quit(self):
        self.start_watch(self.server.alerts_endpoint, self.server.control_endpoint, self.desk,
                         self.server_key)
        self.wait_screen(r"following the live alerts", what="the snapshot taken")
        # The fire's first ten seconds, as they happen now: its incident stays open and
        # what is at risk is still ahead.
        base = now_ms() - 12000
        events = [e for e in scenario_events("scenario-substation-fire.csv", base, "w1")
                  if e["time"] <= base + 9000]
        self.send_events(events)
        m = self.wait_screen(r"^[> ]P1 (INC-[0-9a-f]{16}) rev (\d+)", 30,
                             "the fire, priority 1")
        inc = m.group(1)
        self.select(inc)
        self.wait_screen(r"root %s energy down" % FIRE_ROOT, 10)
        # the cascade reaches the railway in a later revision (a loaded machine may
        # show an earlier one first)
        s = self.wait_screen(r"(?m)^   sectors [a-z,-]*energy[a-z,-]*transport", 30,
                             "the cascade across sectors").string
        self.assertRegex(s, r"(?m)^>P1 %s rev \d+  UNACKED" % inc, s)
        self.assertRegex(s, r"(?m)^     [|`]- SUB-ALD-SEC-03\d energy down", "tree lines")
        self.wait_screen(r"^   at risk \S+ [a-z-]+ (in|due \(<=) \d+[smh]", 10, "a countdown")
        for line in s.splitlines():
            self.assertLessEqual(len(line), 80)
        self.assertRegex(s.splitlines()[-1], r"alerts connected .* seq \d+ ", "status line")

        # Unacknowledged for a minute of journal time (a heartbeat 70 s ahead): it
        # escalates, and the screen says so.
        clock = self.adapter("city")
        self.assertEqual(clock.send(clock.event(type="heartbeat", sector=None, asset=None,
                                                time_ms=now_ms() + 70000))["err"], [])
        self.wait_screen(r"^>P1 %s rev \d+  UNACKED ESCALATED [1-9]" % inc, 15)

        # Acknowledge: on screen, then in PostgreSQL.
        self.press("a")
        m = self.wait_screen(r"acknowledged %s rev (\d+) as J\. Tester" % inc, 15)
        rev = int(m.group(1))
        m = self.wait_screen(r"^>P1 %s rev \d+  acked.*$" % inc, 10)
        self.assertNotIn("ESCALATED", m.group(0), "an ack stops the escalation")
        rows = wait_until(lambda: self.db.query(
            "SELECT incident, rev, operator, console FROM alert_acks"), 10, 0.2, "the ack row")
        self.assertEqual(rows, [{"incident": inc, "rev": rev, "operator": "J. Tester",
                                 "console": "desk1"}])

        # The explanation, then back.
        self.press("e")
        s = self.wait_screen(r"^explanation of %s" % inc, 10).string
        self.assertRegex(s, r"(?m)^%s energy down at \d\d:\d\d:\d\d  rule root" % FIRE_ROOT)
        self.assertRegex(s, r"(?m)^SUB-ALD-SEC-031 energy down at .* rule cascade  window "
                            r"\d\d:\d\d:\d\d\.\.\d\d:\d\d:\d\d")
        self.assertRegex(s, r"(?m)^   path %s > SUB-ALD-SEC-031$" % FIRE_ROOT)
        self.press("Escape")
        self.wait_screen(r"j/k select", 10, "the list again")

        # A bigger terminal: used, and redrawn (SIGWINCH).
        self.tmux("resize-window", "-t", "w", "-x", "120", "-y", "40")
        s = wait_until(lambda: (lambda t: t if len(t.splitlines()) == 40 and
                                "alerts connected" in t.splitlines()[-1] else None)(
            self.screen()), 10, 0.2, lambda: "a 40-line screen:\n" + self.screen())
        # room for the forecasts further ahead, counting down
        self.assertRegex(s, r"(?m)^   at risk \S+ [a-z-]+ in \d+[hm]\d\d[ms] \(via ", s)
        self.tmux("resize-window", "-t", "w", "-x", "80", "-y", "24")

        # kill -9 and a restart, and alerts while the console is away (stopped, so that
        # its SUB cannot reconnect before they are published): it reconnects and catches
        # up, without a gap.
        self.server.kill9()
        self.wait_screen(r"alerts DOWN", 15, "the connection lost")
        pid = self.watch_pid()
        os.kill(pid, signal.SIGSTOP)
        self.addCleanup(resume, pid)
        self.server.start()
        before = self.db.scalar("SELECT coalesce(max(seq), 0) FROM alerts")
        t = now_ms() + 71000  # after the heartbeat that drove the escalation
        self.send_events([dict(e, time=t) for e in scenario_events(
            "scenario-substation-fire.csv", base, "w2") if e.get("asset") in LATER])
        # and the journal's clock past them (the ticks follow the wall clock, behind it)
        self.assertEqual(clock.send(clock.event(type="heartbeat", sector=None, asset=None,
                                                time_ms=t + 5000))["err"], [])
        wait_until(lambda: self.db.scalar("SELECT coalesce(max(seq), 0) FROM alerts") > before,
                   20, 0.2, lambda: "new alerts; log:\n" + self.server.log_tail())
        os.kill(pid, signal.SIGCONT)
        m = self.wait_screen(r"reconnected, caught up (\d+) alerts? \(seq \d+\), no gap", 30)
        self.assertGreater(int(m.group(1)), 0)
        # and is level with the server
        c = Console(self.server, self.desk)
        self.addCleanup(c.close)

        def level():
            r = c.request(op="since", seq=0)
            m = re.search(r"seq (\d+) ", self.screen().splitlines()[-1])
            return m and int(m.group(1)) == r["last"] == \
                self.db.scalar("SELECT coalesce(max(seq), 0) FROM alerts")
        wait_until(level, 20, 0.3, lambda: "the console at the server's last seq:\n" +
                   self.screen())

        # Every member up again: the incident is resolved, shown so for a moment, then
        # leaves the list.
        body = self.db.query("SELECT body FROM incidents WHERE incident = '%s'" % inc)[0]["body"]
        ups = [{"id": "up-%d" % i, "source": m["event"]["source"], "type": "asset.up",
                "sector": m["sector"], "asset": m["asset"], "time": t + 6000}
               for i, m in enumerate(body["affected"])]
        self.send_events(ups)
        self.assertEqual(clock.send(clock.event(type="heartbeat", sector=None, asset=None,
                                                time_ms=t + 10000))["err"], [])
        self.wait_screen(r"^[> ]P1 %s rev \d+  resolved" % inc, 20)
        wait_until(lambda: inc not in self.screen(), 15, 0.2,
                   lambda: "the resolved incident gone:\n" + self.screen())

        self.quit()


class FakeServer:
    """A stand-in for tocsind's alert PUB and control ROUTER (CURVE, no ZAP: any console
    key is accepted), so that a test decides every byte the console gets."""

    def __init__(self, server_key):
        ctx = context()
        self.pub = ctx.socket(zmq.PUB)
        self.ctl = ctx.socket(zmq.ROUTER)
        for s in (self.pub, self.ctl):
            s.linger = 0
            s.curve_server = True
            s.curve_secretkey = server_key.secret
        self.alerts_endpoint = "tcp://127.0.0.1:%d" % free_port()
        self.control_endpoint = "tcp://127.0.0.1:%d" % free_port()
        self.pub.bind(self.alerts_endpoint)
        self.ctl.bind(self.control_endpoint)
        self.alerts = {}  # seq -> body, what since answers
        self.requests = []

    def close(self):
        self.pub.close(linger=0)
        self.ctl.close(linger=0)

    def serve(self, seconds):
        """Answer control requests for up to `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self.ctl.poll(50):
                continue
            ident, raw = self.ctl.recv_multipart()
            req = msgpack.unpackb(raw, raw=False)
            self.requests.append(req)
            last = max(self.alerts, default=0)
            if req["op"] == "snapshot":
                rep = {"ok": True, "op": "snapshot", "last": last, "open": len(self.alerts),
                       "incidents": [self.alerts[s] for s in sorted(self.alerts)],
                       "acked": {}, "escalated": {}}
            elif req["op"] == "since":
                rep = {"ok": True, "op": "since", "last": last, "more": False, "lost": [],
                       "alerts": [self.alerts[s] for s in sorted(self.alerts)
                                  if s > req["seq"]]}
            else:
                rep = {"ok": False, "op": req["op"], "code": "E_UNKNOWN",
                       "msg": "incident %s is not open" % req.get("incident")}
            rep["id"] = req["id"]
            self.ctl.send_multipart([ident, pack(rep)])

    def publish(self, topic, body):
        """Publish (raw bytes or a map); a map with a seq is kept for since."""
        if isinstance(body, dict) and "seq" in body:
            self.alerts[body["seq"]] = body
        self.pub.send_multipart([topic.encode(), body if isinstance(body, bytes)
                                 else pack(body)])


def alert(seq, incident, rev=1, priority=2, **kw):
    body = {"seq": seq, "incident": incident, "rev": rev, "msg": "alert", "status": "actual",
            "priority": priority, "title": "energy X%d failure" % seq, "cause": "observed",
            "confidence": 1.0, "root": {"asset": "X%d" % seq, "sector": "energy",
                                        "time": "2026-11-26T05:00:00.000Z"},
            "sectors": ["energy"], "affected": [], "at_risk": [], "area": "",
            "opened": "2026-11-26T05:00:00.000Z", "updated": "2026-11-26T05:00:00.000Z",
            "explain": []}
    body.update(kw)
    return body


@unittest.skipIf(TMUX is None, "tmux not installed (make deps)")
class WatchOddServerTest(WatchScreen, unittest.TestCase):
    """Against a stand-in server: a seq gap is recovered by since and said on screen;
    hostile and odd bodies are shown with "?" or dropped, never a crash."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tocsin-watch-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        server_key = keygen(self.tmp, "server")
        self.desk = keygen(self.tmp, "desk")
        self.fake = FakeServer(server_key)
        self.addCleanup(self.fake.close)
        self.start_watch(self.fake.alerts_endpoint, self.fake.control_endpoint, self.desk,
                         server_key)

    def test_gap_recovered_and_hostile_bodies(self):
        f = self.fake
        f.alerts[1] = alert(1, "INC-0000000000000001")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "following the live alerts" not in self.screen():
            f.serve(0.3)
        self.wait_screen(r"1 open incident, seq 1, following", 1)
        # until the SUB's subscription has reached the PUB (a repeat is a duplicate)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and "INC-0000000000000002" not in self.screen():
            f.publish("live/P2/-", alert(2, "INC-0000000000000002"))
            f.serve(0.3)
        # Hostile and odd bodies: not MessagePack, not a map, a lying count, no seq, every
        # field of the wrong type, terminal escapes. None may crash the console.
        for raw in (b"\xc1", b"\x93\x01", b"\xdf\xff\xff\xff\xff", pack([1, 2, 3]),
                    pack({"incident": "INC-noseq", "rev": 1})):
            f.publish("live/P1/x", raw)
        f.publish("escalation/live/P1/x", pack({"incident": 5, "level": "high"}))
        f.publish("live/P1/x", pack(
            {"seq": 3, "incident": "INC-\x1b[2Jevil", "rev": 1, "msg": "alert",
             "priority": "high", "title": "\x07bell\x1b[31m", "root": [1, 2],
             "sectors": "energy", "affected": [1, {"asset": {}}, {"asset": "A\nB"}],
             "at_risk": [{"eta": 5, "asset": "Z"}], "opened": 12,
             "explain": [{"asset": "A\nB", "path": 7, "window": [None]}]}))
        s = self.wait_screen(r"^[> ]P\? INC-\?\[2Jevil rev 1  UNACKED  age \?$", 10).string
        self.assertRegex(s, r"(?m)^   \?bell\?\[31m$")
        self.assertRegex(s, r"(?m)^   root \? \? \(not reported\)$")
        # A gap: 4 and 5 were published before this console could see them.
        f.alerts[4] = alert(4, "INC-0000000000000004", priority=1)
        f.alerts[5] = alert(5, "INC-0000000000000002", rev=2, msg="resolved")
        f.publish("live/P1/-", alert(6, "INC-0000000000000006", priority=1))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and "recovered" not in self.screen():
            f.serve(0.3)
        s = self.wait_screen(r"gap 4\.\.5 recovered \(3 alerts\)", 1).string
        self.assertIn({"op": "since", "seq": 3}, [{k: r[k] for k in r if k != "id"}
                                                 for r in f.requests])
        self.assertRegex(s.splitlines()[-1], r" seq 6 ")
        self.assertRegex(s, r"(?m)^[> ]P1 INC-0000000000000004 rev 1 ")
        self.assertRegex(s, r"(?m)^[> ]P1 INC-0000000000000006 rev 1 ")
        # the resolved one fades out
        wait_until(lambda: "INC-0000000000000002" not in self.screen(), 15, 0.2,
                   lambda: "INC-...02 gone:\n" + self.screen())
        # An ack the server refuses: the error is shown.
        self.press("a")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "refused" not in self.screen():
            f.serve(0.3)
        self.wait_screen(r"ack INC-0000000000000001 rev 1 refused: E_UNKNOWN incident", 1)
        self.quit()


if __name__ == "__main__":
    unittest.main()
