"""test_outbox.py - the CAP outbox (alerts.cap_outbox): a real tocsind over the demo city
writes every live revision of the substation fire as one CAP 1.2 file, named
<seq>-<incident>-<rev>.xml, valid against the OASIS schema (xmllint), whose references
name the earlier files' identifiers and sent times, msgType Alert, Update then Cancel, the
same bytes `tocsin cap` prints from PostgreSQL. After kill -9 and a restart no file is
written twice; files published but not yet written at the crash (simulated by setting the
directory's recorded seq back and removing them) are written, one already there is kept;
what comes after the restart is written too."""
import os
import stat
import subprocess
import time
import xml.etree.ElementTree as ET

from harness import lit, now_ms, scenario_events, tocsin, wait_until
from test_cap import NS, SENDER, XSD, assert_revision, text
from test_correlate import DemoCityCase

OUTBOX = "outbox"  # relative to the config file's directory


def files_in(directory):
    """{seq: name} of the outbox's files (one per seq, or the test says otherwise)."""
    out = {}
    for name in os.listdir(directory):
        if name.endswith(".xml") and not name.startswith("."):
            seq = int(name.split("-", 1)[0])
            assert seq not in out, "two files for seq %d: %s, %s" % (seq, out[seq], name)
            out[seq] = name
    return out


class OutboxTest(DemoCityCase):
    SERVER_OPTIONS = dict(DemoCityCase.SERVER_OPTIONS, **{
        "alerts.cap_outbox": OUTBOX,
        "alerts.cap_sender": SENDER,
    })

    @property
    def outbox(self):
        return os.path.join(self.tmp, OUTBOX)

    def alerts(self, where="TRUE"):
        return self.db.query("SELECT seq, incident, rev, msg, body FROM alerts WHERE stream = "
                             "'live' AND (%s) ORDER BY seq" % where)

    def send_scenario(self, name, base_ms, root):
        self.send_all(scenario_events(name, base_ms))

        def resolved():
            r = self.db.query("SELECT incident, rev FROM incidents WHERE stream = 'live' AND "
                              "root_asset = %s AND msg = 'resolved'" % lit(root))
            return r[0] if r else None
        return wait_until(resolved, 30, 0.2, lambda: self.server.log_tail())

    def settled(self, done):
        """The alerts view once done(rows) holds and no new alert came for 1.5 s."""
        seen = {"rows": None, "at": 0.0}

        def check():
            rows = self.alerts()
            if seen["rows"] is None or len(rows) != len(seen["rows"]):
                seen["rows"], seen["at"] = rows, time.monotonic()
                return None
            return rows if done(rows) and time.monotonic() - seen["at"] > 1.5 else None
        return wait_until(check, 30, 0.2, lambda: self.server.log_tail())

    def wait_files(self, rows):
        """Every row of the alerts view has its file; returns {seq: name}."""
        want = {r["seq"]: "%012d-%s-%d.xml" % (r["seq"], r["incident"], r["rev"])
                for r in rows}

        def complete():
            got = files_in(self.outbox)
            return got if all(got.get(s) == n for s, n in want.items()) else None
        wait_until(complete, 20, 0.1, lambda: "files %s, want %s; log:\n%s" % (
            sorted(files_in(self.outbox).values()), sorted(want.values()),
            self.server.log_tail()))
        got = files_in(self.outbox)
        self.assertEqual(got, want)
        return got

    def check_files(self, rows, names):
        """Valid, and each references the earlier files of its incident."""
        paths = [os.path.join(self.outbox, names[r["seq"]]) for r in rows]
        p = subprocess.run(["xmllint", "--noout", "--schema", XSD] + paths,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr[-3000:])
        earlier = {}  # incident -> ["SENDER,IDENTIFIER,SENT", ...] of its files so far
        for r, path in zip(rows, paths):
            root = ET.parse(path).getroot()
            assert_revision(self, root, r, earlier.setdefault(r["incident"], []))
            self.assertIn(r["incident"], text(root, "cap:incidents").split())
        return earlier

    def test_every_revision_once_across_kill9(self):
        inc = self.send_scenario("scenario-substation-fire.csv", now_ms() - 3600 * 1000,
                                 "SUB-ALD-PRI-07")
        self.assertEqual(stat.S_IMODE(os.stat(self.outbox).st_mode), 0o750)
        rows = self.alerts()
        fire = [r for r in rows if r["incident"] == inc["incident"]]
        self.assertEqual([r["rev"] for r in fire], list(range(1, inc["rev"] + 1)))
        names = self.wait_files(rows)
        earlier = self.check_files(rows, names)
        self.assertEqual(len(earlier[inc["incident"]]), inc["rev"])
        msg_types = [text(ET.parse(os.path.join(self.outbox, names[r["seq"]])).getroot(),
                          "cap:msgType") for r in fire]
        self.assertEqual(msg_types[0], "Alert")
        self.assertEqual(msg_types[-1], "Cancel")
        self.assertIn("Update", msg_types)
        # The same bytes as `tocsin cap` prints from PostgreSQL, with a polygon (the
        # writer's own copy of the registry located the assets).
        for r in fire:
            with open(os.path.join(self.outbox, names[r["seq"]])) as f:
                body = f.read()
            printed = tocsin("--db", self.db.console_conninfo, "cap", r["incident"], "--rev",
                             str(r["rev"]), "--sender", SENDER).stdout
            self.assertEqual(body, printed, names[r["seq"]])
        last = ET.parse(os.path.join(self.outbox, names[fire[-1]["seq"]])).getroot()
        self.assertIsNotNone(last.find("cap:info/cap:area/cap:polygon", NS))
        with open(os.path.join(self.outbox, ".outbox-seq")) as f:
            self.assertEqual(int(f.read()), rows[-1]["seq"])

        # kill -9 once all is written: a restart writes nothing again.
        before = {s: os.stat(os.path.join(self.outbox, n)).st_ino for s, n in names.items()}
        self.server.kill9()
        self.server.start()
        wait_until(lambda: "alerts caught up with the journal" in
                   self.server.log()[self.server.log_offset:], 20, 0.1,
                   lambda: self.server.log_tail())
        time.sleep(0.5)
        self.assertEqual({s: os.stat(os.path.join(self.outbox, n)).st_ino
                          for s, n in files_in(self.outbox).items()}, before)

        # A crash after publishing, before writing: the directory's seq says less than
        # was published. The last three revisions: two files missing, one written already.
        self.server.kill9()
        tail = rows[-3:]
        with open(os.path.join(self.outbox, ".outbox-seq"), "w") as f:
            f.write("%d\n" % (tail[0]["seq"] - 1))
        for r in tail[:2]:
            os.unlink(os.path.join(self.outbox, names[r["seq"]]))
        kept = os.path.join(self.outbox, names[tail[2]["seq"]])
        kept_ino = os.stat(kept).st_ino
        with open(os.path.join(self.outbox, ".tmp-left-by-a-crash.xml"), "w") as f:
            f.write("<half")
        self.server.start()
        names = self.wait_files(rows)
        self.assertEqual(os.stat(kept).st_ino, kept_ino, "a file already there is kept")
        self.assertFalse(os.path.exists(os.path.join(self.outbox, ".tmp-left-by-a-crash.xml")))
        self.check_files(rows, names)

        # After the restart: a new cascade (a late root: incidents merge) is written too.
        self.send_all(scenario_events("scenario-late-root.csv", now_ms() - 1800 * 1000))
        rows = self.settled(lambda r: any(x["body"]["root"]["asset"] == "SUB-ALD-PRI-04"
                                          for x in r))
        names = self.wait_files(rows)
        self.check_files(rows, names)
        self.server.stop()
        log = self.server.log()[self.server.log_offset:]
        self.assertIn("cap outbox stopped", log)
        self.assertIn("existing=1 ", log)  # the kept file, found by the link
        self.assertIn("queue_full=0 no_history=0 failed=0", log)


if __name__ == "__main__":
    import unittest
    unittest.main()
