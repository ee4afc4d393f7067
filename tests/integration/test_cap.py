"""test_cap.py - `tocsin cap` against the real PostgreSQL: the demo city's substation fire,
sent by an adapter through tocsind, is stored revision by revision; each revision prints as
an OASIS CAP 1.2 alert that validates against the schema (xmllint), whose references name
exactly the earlier messages, with a polygon around the located assets. The same scenario
replayed as a drill and stored in a second stream prints as an Exercise, and makes the
incident id ambiguous until --stream chooses. Unknown incidents and revisions fail with a
message that names them."""
import json
import os
import subprocess
import xml.etree.ElementTree as ET

from harness import TOCSIN, REPO, lit, now_ms, run, tocsin, wait_until
from test_correlate import CITY, DemoCityCase, scenario_events

NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
XSD = os.path.join(REPO, "tests", "data", "cap", "CAP-v1.2.xsd")
SENDER = "tocsin@aldermoor.example"
DRILL = "drill-fire"


def validate(xml):
    p = subprocess.run(["xmllint", "--noout", "--schema", XSD, "-"], input=xml,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    return p.returncode, p.stderr


def text(root, path):
    e = root.find(path, NS)
    return None if e is None else e.text


def assert_revision(case, root, row, earlier):
    """The live alert `root` (an Element) is the revision `row` (incident, rev, msg, body)
    sent by SENDER, and references exactly `earlier` ("SENDER,IDENTIFIER,SENT" of the
    incident's earlier messages, oldest first), to which it is then appended."""
    ident = "%s/%s/%d" % (SENDER, row["incident"], row["rev"])
    case.assertEqual(text(root, "cap:identifier"), ident)
    case.assertEqual(text(root, "cap:sender"), SENDER)
    sent = text(root, "cap:sent")
    case.assertEqual(sent, row["body"]["updated"][:19] + "-00:00")
    case.assertEqual(text(root, "cap:status"), "Actual")
    want = ("Alert" if row["rev"] == 1 else
            "Cancel" if row["msg"] in ("resolved", "merged") else "Update")
    case.assertEqual(text(root, "cap:msgType"), want, ident)
    refs = text(root, "cap:references")
    case.assertEqual(refs.split() if refs else [], earlier, ident)
    earlier.append("%s,%s,%s" % (SENDER, ident, sent))


class CapTest(DemoCityCase):

    def cap(self, *args, check=True):
        return tocsin("--db", self.db.console_conninfo, "cap", *args, "--sender", SENDER,
                      check=check)

    def fire(self):
        """The substation fire, sent once per test class, until its incident resolves."""
        rows = self.db.query("SELECT incident, rev FROM incidents WHERE stream = 'live' AND "
                             "root_asset = 'SUB-ALD-PRI-07' AND msg = 'resolved'")
        if rows:
            return rows[0]
        a = self.adapter("city")
        events = scenario_events("scenario-substation-fire.csv", now_ms() - 3600 * 1000)
        for i in range(0, len(events), 500):
            reply = a.send(events[i:i + 500])
            self.assertEqual(reply["err"], [], reply)

        def resolved():
            r = self.db.query("SELECT incident, rev FROM incidents WHERE stream = 'live' AND "
                              "root_asset = 'SUB-ALD-PRI-07' AND msg = 'resolved'")
            return r[0] if r else None
        return wait_until(resolved, 30, 0.2, lambda: self.server.log_tail())

    def test_every_revision_is_a_valid_alert_with_its_references(self):
        inc = self.fire()
        revs = self.db.query("SELECT rev, msg, updated, body FROM incident_revisions "
                             "WHERE stream = 'live' AND incident = %s ORDER BY rev"
                             % lit(inc["incident"]))
        self.assertEqual([r["rev"] for r in revs], list(range(1, inc["rev"] + 1)))
        earlier = []
        for r in revs:
            xml = self.cap(inc["incident"], "--rev", str(r["rev"])).stdout
            rc, err = validate(xml)
            self.assertEqual(rc, 0, "rev %d does not validate: %s\n%s" % (r["rev"], err, xml))
            root = ET.fromstring(xml)
            assert_revision(self, root, dict(r, incident=inc["incident"]), earlier)
            self.assertEqual(text(root, "cap:incidents"), inc["incident"])
            cats = [c.text for c in root.findall("cap:info/cap:category", NS)]
            self.assertEqual(len(cats), len(set(cats)))
            self.assertIn("Infra", cats)  # the root is a substation
        # The last revision: resolved, all clear, five sectors' categories, a polygon
        # (closed ring, latitude first: Aldermoor is at 52.6 N, 1.1 W).
        self.assertEqual(text(root, "cap:info/cap:urgency"), "Past")
        self.assertEqual(text(root, "cap:info/cap:responseType"), "AllClear")
        poly = text(root, "cap:info/cap:area/cap:polygon").split()
        self.assertGreaterEqual(len(poly), 4)
        self.assertEqual(poly[0], poly[-1])
        for pair in poly:
            lat, lon = map(float, pair.split(","))
            self.assertTrue(52 < lat < 53.5 and -2 < lon < 0, pair)
        # Without --rev: the latest.
        self.assertEqual(self.cap(inc["incident"]).stdout, xml)

    def test_unknown_incident_and_revision(self):
        inc = self.fire()
        p = self.cap("INC-0000000000000000", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("incident INC-0000000000000000 not found", p.stderr)
        self.assertEqual(p.stdout, "")
        p = self.cap(inc["incident"], "--rev", "999", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("incident %s has no revision 999" % inc["incident"], p.stderr)
        p = self.cap(inc["incident"], "--stream", "nowhere", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not found in stream nowhere", p.stderr)
        p = tocsin("--db", self.db.console_conninfo, "cap", inc["incident"], "--sender", "a b",
                   check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--sender", p.stderr)
        p = tocsin("--db", self.db.console_conninfo, "cap", check=False)
        self.assertEqual(p.returncode, 2)

    def test_drill_stream_is_an_exercise(self):
        inc = self.fire()
        # The same scenario replayed as a drill (same event ids, hence the same incident
        # ids), its revisions stored in a stream of their own as the store would.
        out = run([TOCSIN, "replay",
                   "--offline", "--assets", os.path.join(CITY, "assets.csv"),
                   "--deps", os.path.join(CITY, "dependencies.csv"),
                   os.path.join(CITY, "scenario-substation-fire.csv"), "--json",
                   "--drill", DRILL]).stdout
        # The other tests expect the id in one stream: the drill's rows go at the end.
        self.addCleanup(self.db.execute,
                        "DELETE FROM incident_revisions WHERE stream = %s; "
                        "DELETE FROM incident_heads WHERE stream = %s" % (lit(DRILL), lit(DRILL)))
        values = []
        for line in out.splitlines():
            b = json.loads(line)
            values.append("(%d, %s, %s, %d, %s, %d, %s, %s, %s)" % (
                10 ** 12 + b["seq"], lit(DRILL), lit(b["incident"]), b["rev"],
                lit(b["msg"]), b["priority"], lit(b["area"]), lit(b["updated"]),
                lit(line)))
        while values:  # a statement is one argument of psql: keep each < 128 KiB
            batch = []
            while values and sum(map(len, batch)) + len(values[0]) < 100000:
                batch.append(values.pop(0))
            batch = batch or [values.pop(0)]
            self.db.execute("INSERT INTO incident_revisions (journal_offset, stream, "
                            "incident, rev, msg, priority, area, updated, body) VALUES "
                            + ", ".join(batch))
        drilled = self.db.query("SELECT incident FROM incidents WHERE stream = %s AND "
                                "incident = %s" % (lit(DRILL), lit(inc["incident"])))
        self.assertEqual(len(drilled), 1, "the drill gave the same incident id")
        p = self.cap(inc["incident"], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("is in 2 streams (%s, live): choose one with --stream" % DRILL, p.stderr)
        xml = self.cap(inc["incident"], "--stream", DRILL, "--rev", "2").stdout
        rc, err = validate(xml)
        self.assertEqual(rc, 0, err)
        root = ET.fromstring(xml)
        self.assertEqual(text(root, "cap:status"), "Exercise")
        self.assertEqual(text(root, "cap:identifier"),
                         "%s/%s/%s/2" % (SENDER, DRILL, inc["incident"]))
        self.assertEqual(text(root, "cap:source"), DRILL)
        self.assertTrue(text(root, "cap:references").startswith(
            "%s,%s/%s/%s/1," % (SENDER, SENDER, DRILL, inc["incident"])))
        live = ET.fromstring(self.cap(inc["incident"], "--stream", "live", "--rev", "2").stdout)
        self.assertEqual(text(live, "cap:status"), "Actual")


if __name__ == "__main__":
    import unittest
    unittest.main()
