"""test_drills.py - drills for resilience planners (design 6, issue 5, docs/drills.md).

Offline (no server, no database): a replay is byte-identical run after run and at any
speed; a drill name gives status "exercise"; bad rows run nothing; what-if runs
(--inject, --without) differ where they should and `tocsin drill diff` says how; the
example scenarios of docs/drills/ end as their pages say.

Through a real tocsind and PostgreSQL: events sent by an adapter are exported by
`tocsin record`, and replaying the recording offline over the registry in PostgreSQL
gives the incidents (ids and members) the live server stored.
"""
import html
import json
import os
import pty
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import (REPO, TOCSIN, now_ms, tocsin, wait_until)
from test_correlate import DemoCityCase, scenario_events

CITY = os.path.join(REPO, "tests", "data", "demo-city")
DRILLS = os.path.join(REPO, "docs", "drills")
ASSETS = os.path.join(CITY, "assets.csv")
DEPS = os.path.join(CITY, "dependencies.csv")
FIRE = os.path.join(CITY, "scenario-substation-fire.csv")
KEEP = os.environ.get("TOCSIN_IT_KEEP") == "1"


def replay(*args, check=True, heartbeat="600"):
    """`tocsin replay --offline ...` over the demo city (its scenarios heartbeat every
    300 s: a 600 s allowance; None: the engine's default); a CompletedProcess with bytes."""
    cmd = [TOCSIN, "replay", "--offline", "--assets", ASSETS, "--deps", DEPS]
    if heartbeat:
        cmd += ["--heartbeat-timeout", heartbeat]
    p = subprocess.run(cmd + [str(a) for a in args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError("replay %s: exit %d\n%s" % (args, p.returncode,
                                                         p.stderr.decode(errors="replace")))
    return p


def last_revisions(jsonl):
    """incident id -> its last revision, from replay output (bytes or str)."""
    if isinstance(jsonl, bytes):
        jsonl = jsonl.decode()
    last = {}
    for line in jsonl.splitlines():
        o = json.loads(line)
        last[o["incident"]] = o
    return last


class DrillsOffline(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tn_drills_")
        if not KEEP:
            self.addCleanup(shutil.rmtree, self.dir, True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, text):
        with open(self.path(name), "w") as f:
            f.write(text)
        return self.path(name)

    def test_same_bytes_every_time_and_at_any_speed(self):
        a = replay(FIRE, "--json").stdout
        b = replay(FIRE, "--json").stdout
        self.assertEqual(a, b)
        self.assertGreater(len(a.splitlines()), 10)
        # 3000 s of event time at 1000 times real time: about 3 s, paced on the monotonic
        # clock with engine ticks in between, and still the same bytes
        t0 = time.monotonic()
        c = replay(FIRE, "--json", "--speed", "1000").stdout
        took = time.monotonic() - t0
        self.assertEqual(a, c)
        self.assertGreaterEqual(took, 2.5)
        self.assertEqual(a, replay(FIRE, "--json", "--asap").stdout)

    def test_drill_name_is_an_exercise_and_no_progress_off_a_terminal(self):
        p = replay(FIRE, "--json", "--drill", "august-storm")
        revs = [json.loads(l) for l in p.stdout.decode().splitlines()]
        self.assertTrue(revs)
        self.assertEqual({r["status"] for r in revs}, {"exercise"})
        self.assertEqual([r["seq"] for r in revs], list(range(1, len(revs) + 1)))
        err = p.stderr.decode()
        self.assertNotIn("\r", err)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertRegex(err, r"^tocsin: replay: 133 events .* 2 incidents")

    def test_progress_line_on_a_terminal(self):
        # stderr on a pseudo-terminal: one line rewritten in place with the event time,
        # events/s and incidents so far, then the summary
        master, slave = pty.openpty()
        try:
            p = subprocess.Popen([TOCSIN, "replay", "--offline", "--assets", ASSETS, "--deps",
                                  DEPS, "--heartbeat-timeout", "600", FIRE, "--json",
                                  "--speed", "3000"],
                                 stdout=subprocess.DEVNULL, stderr=slave)
            os.close(slave)
            slave = None
            err = b""
            while True:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                err += chunk
            self.assertEqual(p.wait(timeout=60), 0)
        finally:
            os.close(master)
            if slave is not None:
                os.close(slave)
        text = err.decode(errors="replace")
        self.assertRegex(text, r"\r\x1b\[Ktocsin: replay: 2026-01-01T00:\d\d:\d\d  \d+/133 "
                               r"events  \d+ events/s  \d+ incidents")
        self.assertIn("133/133 events", text)
        self.assertRegex(text, r"\r\x1b\[Ktocsin: replay: 133 events \(0 late")

    def test_bad_rows_reported_and_nothing_run(self):
        bad = self.write("bad.csv", "t_offset_s,source,sector,asset,type,severity,summary\n"
                         "0,s,energy,SUB-ALD-PRI-07,asset.down,,\n"
                         "x,s,energy,SUB-ALD-PRI-07,asset.down,,\n"
                         "5,s,energy,SUB-ALD-PRI-07,asset.broken,,\n"
                         "6,s,power,SUB-ALD-PRI-07,asset.down,9,\n")
        p = replay(bad, "--json", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, b"")
        err = p.stderr.decode()
        self.assertIn("bad.csv:3: t_offset_s: expected seconds", err)
        self.assertIn("bad.csv:4: type: expected asset.down", err)
        self.assertIn("bad.csv:5: sector: expected one of", err)
        self.assertIn("nothing run", err)
        # a bad injection runs nothing either
        p = replay(FIRE, "--inject", bad, check=False)
        self.assertEqual((p.returncode, p.stdout), (1, b""))

    def test_usage_errors(self):
        for args, want in ((["--speed", "0", FIRE], "--speed: expected a factor > 0"),
                           (["--speed", "5", "--asap", FIRE], "not both"),
                           (["--server", "tcp://127.0.0.1:1", FIRE], "not with --offline, --assets"),
                           (["--key", "k.key", FIRE], "go with --server")):
            p = replay(*args, check=False)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn(want, p.stderr.decode())
        p = replay(FIRE, "--without", "SUB-ALD-PRI-07>HOSP-ALD-GEN", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no dependency SUB-ALD-PRI-07>HOSP-ALD-GEN in the registry",
                      p.stderr.decode())

    def test_without_a_dependency_changes_the_forecast_and_diff_says_so(self):
        # The community hospital's supply from the secondary SUB-ALD-SEC-035 (a second
        # feed, say): it is no longer at risk through the fire's root, only later through
        # its neighbour, and the diff names it.
        a = self.path("a.jsonl")
        b = self.path("b.jsonl")
        with open(a, "wb") as f:
            f.write(replay(FIRE, "--json").stdout)
        p = replay(FIRE, "--json", "--without", "SUB-ALD-SEC-035>HOSP-ALD-COMM-E")
        self.assertIn("without 0 assets and 1 dependency", p.stderr.decode())
        with open(b, "wb") as f:
            f.write(p.stdout)
        d = tocsin("drill", "diff", a, b).stdout
        self.assertIn("~ INC-", d)
        self.assertRegex(d, r"HOSP-ALD-COMM-E: pending \(eta [^ ]+ via SUB-ALD-PRI-07\) -> "
                            r"pending \(eta [^ ]+ via SUB-ALD-SEC-034\)")
        self.assertIn("1 changed, 1 unchanged, 0 only in A, 0 only in B", d)
        j = json.loads(tocsin("drill", "diff", "--json", a, b).stdout)
        self.assertEqual(j["summary"], {"changed": 1, "unchanged": 1, "only_a": 0,
                                        "only_b": 0})
        fire = [i for i in j["incidents"] if i["root"]["asset"] == "SUB-ALD-PRI-07"][0]
        self.assertEqual([f["asset"] for f in fire["forecast_changed"]], ["HOSP-ALD-COMM-E"])
        # the same run twice: nothing changed
        self.assertIn("0 changed, 2 unchanged", tocsin("drill", "diff", a, a).stdout)

    def test_without_the_care_homes_supply_and_an_injected_failure(self):
        a = self.path("a.jsonl")
        with open(a, "wb") as f:
            f.write(replay(FIRE, "--json").stdout)
        # Without its supply the care home is no longer explained by the cascade: it
        # joins by co-location only, and its forecast is no longer borne out.
        b = self.path("b.jsonl")
        with open(b, "wb") as f:
            f.write(replay(FIRE, "--json", "--without", "SUB-ALD-SEC-032>CARE-ALD-10").stdout)
        j = json.loads(tocsin("drill", "diff", "--json", a, b).stdout)
        fire = [i for i in j["incidents"] if i["root"]["asset"] == "SUB-ALD-PRI-07"][0]
        self.assertEqual((fire["a"]["cause"], fire["b"]["cause"]), ("observed", "co-located"))
        self.assertEqual(fire["b"]["at_risk"]["CARE-ALD-10"]["outcome"], "not_borne_out")
        # An injected failure far from the fire (a scenario file, ids I<line>) appears
        # as an incident of its own; everything else is unchanged.
        inj = self.write("inj.csv", "t_offset_s,source,sector,asset,type,severity,summary\n"
                         "600,drill/inject,health,HOSP-ALD-GEN,asset.down,1,generator test "
                         "fails\n")
        c = self.path("c.jsonl")
        with open(c, "wb") as f:
            f.write(replay(FIRE, "--json", "--inject", inj).stdout)
        d = tocsin("drill", "diff", a, c).stdout
        self.assertRegex(d, r"\+ INC-[0-9a-f]{16}  root HOSP-ALD-GEN \(health\) at "
                            r"2026-01-01T00:10:00.000Z: only in B \(appears\)")
        self.assertIn("0 changed, 2 unchanged, 0 only in A, 1 only in B", d)
        with open(c) as f:
            hosp = [r for r in last_revisions(f.read()).values()
                    if r["root"]["asset"] == "HOSP-ALD-GEN"][0]
        self.assertEqual(hosp["affected"][0]["event"], {"source": "drill/inject", "id": "I2"})

    def test_recording_format_replays_like_the_scenario(self):
        # The scenario as a recording (JSON lines, ids L<line>, absolute times): the
        # same incidents, byte for byte.
        lines = []
        for ev in scenario_events("scenario-substation-fire.csv", 1767225600000):
            lines.append(json.dumps(ev))
        rec = self.write("fire.jsonl", "\n".join(lines) + "\n")
        self.assertEqual(replay(rec, "--json").stdout, replay(FIRE, "--json").stdout)


class DrillExamples(unittest.TestCase):
    """docs/drills/*.csv end as docs/drills.md says, with the engine's defaults."""

    def run_example(self, name):
        p = replay(os.path.join(DRILLS, name), "--json", heartbeat=None)
        return [json.loads(l) for l in p.stdout.decode().splitlines()]

    def expect(self, revs, root, cause, sectors, priority, members=None, status=None):
        last = last_revisions("\n".join(json.dumps(r) for r in revs))
        hits = [r for r in last.values() if r["root"]["asset"] == root and r["cause"] == cause]
        self.assertEqual(len(hits), 1, sorted((r["root"]["asset"], r["cause"])
                                              for r in last.values()))
        inc = hits[0]
        self.assertEqual(inc["sectors"], sectors)
        self.assertEqual(inc["priority"], priority)
        if members is not None:
            self.assertEqual(len(inc["affected"]), members,
                             [a["asset"] for a in inc["affected"]])
        if status is not None:
            self.assertEqual(inc["msg"], status)
        return last, inc

    def test_primary_substation_fire(self):
        revs = self.run_example("primary-substation-fire.csv")
        last, inc = self.expect(revs, "SUB-ALD-PRI-01", "observed",
                                ["communications", "energy", "health", "transport", "water"],
                                1, members=22, status="resolved")
        self.assertEqual(len(last), 1, sorted(last))
        members = {a["asset"] for a in inc["affected"]}
        self.assertTrue({"CARE-ALD-01", "ROAD-ALD-UNDERPASS", "MAST-ALD-104"} <= members)
        # restored at 50 min: the data centre (UPS 60-65 min) was at risk, never failed
        self.assertEqual(inc["updated"], "2026-01-01T01:00:00.000Z")
        risk = {r["asset"]: r["outcome"] for r in inc["at_risk"]}
        self.assertIn("DC-ALD-02", risk)
        self.assertNotIn("DC-ALD-02", members)

    def test_heatwave_water_pressure_loss(self):
        revs = self.run_example("heatwave-water-pressure.csv")
        last, inc = self.expect(revs, "WTW-ALD-MARSTON", "observed",
                                ["health", "water"], 1, members=10, status="resolved")
        self.assertEqual(len(last), 1, sorted(last))
        explained = {e["asset"]: e["path"] for e in inc["explain"]}
        self.assertEqual(explained["HOSP-ALD-RENAL"],
                         ["WTW-ALD-MARSTON", "RES-ALD-04", "PS-ALD-02", "HOSP-ALD-RENAL"])

    def test_exchange_flood_blinds_scada(self):
        revs = self.run_example("exchange-flood-scada-blind.csv")
        last = last_revisions("\n".join(json.dumps(r) for r in revs))
        _, inc = self.expect(revs, "EXCH-ALD-EAST", "observed",
                             ["communications", "emergency-services", "energy"], 1, members=9)
        self.assertIn(inc["msg"], ("alert", "update"))  # open: the exchange is still down
        self.assertEqual(len(last), 2, sorted(last))
        # the east SCADA front end's last heartbeat was at 600 s: blind at 600 + 180 s,
        # priority 3 while energy assets are degraded, seen again at 3000 s
        blind = [r for r in revs if r["cause"] == "visibility"]
        self.assertEqual([(r["msg"], r["priority"], r["updated"]) for r in blind],
                         [("alert", 3, "2026-01-01T00:13:00.000Z"),
                          ("resolved", 4, "2026-01-01T00:50:00.000Z")])
        self.assertEqual(blind[0]["root"], {"asset": "aldermoor-power/scada-east",
                                            "sector": "energy",
                                            "time": "2026-01-01T00:13:00.000Z"})


MEASURE = """<script>
(function () {
  var w = document.documentElement.clientWidth, wide = [];
  document.querySelectorAll("body *").forEach(function (e) {
    var b = e.getBoundingClientRect();
    if (b.width && b.right > w + 1) wide.push(e.tagName + "." + e.className.baseVal +
                                             e.className + " " + Math.round(b.right));
  });
  var out = {
    width: w, scroll: document.documentElement.scrollWidth, wide: wide,
    lanes: Array.from(document.querySelectorAll("svg.timeline g.lane")).map(function (g) {
      var r = g.querySelector("rect").getBoundingClientRect();
      return [g.dataset.sector, g.querySelector("text").textContent, Math.round(r.height)]; }),
    bars: document.querySelectorAll("svg.timeline rect.down, svg.timeline rect.degraded").length,
    restored: document.querySelectorAll("svg.timeline rect.restored").length,
    overlays: Array.from(document.querySelectorAll("svg.timeline rect.incident")).map(
      function (r) { return r.dataset.incident; }),
    rows: Array.from(document.querySelectorAll("table.incidents tbody.incident tr.row")).map(
      function (tr) { return Array.from(tr.cells).map(function (c) {
        return c.textContent.trim(); }); }),
    explained: document.querySelectorAll("ol.explain li").length,
    h1: document.querySelector("h1").textContent,
    h1_children: document.querySelector("h1").children.length
  };
  var pre = document.createElement("pre");
  pre.id = "measure";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


class ReportTest(unittest.TestCase):
    """tocsin report: one self-contained page, rendered in headless Chromium (Debian
    `chromium`, installed by `make deps`) and checked as a browser lays it out."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tn_report_")
        if not KEEP:
            self.addCleanup(shutil.rmtree, self.dir, True)
        self.chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        self.assertIsNotNone(self.chromium, "chromium is not installed: make deps")

    def browser(self, *args):
        p = subprocess.run([self.chromium, "--headless", "--disable-gpu", "--no-sandbox",
                            "--user-data-dir=" + os.path.join(self.dir, "profile"),
                            "--window-size=794,1123"] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace")[-2000:])
        return p.stdout.decode()

    def test_report_renders_lanes_incidents_and_fits_a4(self):
        run = os.path.join(self.dir, "run.jsonl")
        with open(run, "wb") as f:
            f.write(replay(FIRE, "--json", "--drill", "eastfield").stdout)
        out = os.path.join(self.dir, "report.html")
        title = "Eastfield fire <b>drill</b> & \"friends\""
        p = tocsin("report", run, "--scenario", FIRE, "--assets", ASSETS, "--deps", DEPS,
                   "--title", title, "-o", out)
        self.assertIn("2 incidents", p.stderr)
        with open(out) as f:
            page = f.read()
        # self-contained: nothing fetched, no script
        self.assertNotIn("<script", page)
        self.assertIsNone(re.search(r"(src|href)\s*=|url\(|@import|https?://", page), page[:300])
        self.assertIn("@media print", page)
        self.assertIn("Eastfield fire &lt;b&gt;drill&lt;/b&gt; &amp; &quot;friends&quot;", page)

        probe = os.path.join(self.dir, "probe.html")
        with open(probe, "w") as f:
            f.write(page.replace("</body>", MEASURE + "</body>"))
        dom = self.browser("--dump-dom", "file://" + probe)
        m = re.search(r'<pre id="measure">(.*?)</pre>', dom, re.S)
        self.assertIsNotNone(m, dom[-2000:])
        got = json.loads(html.unescape(m.group(1)))

        # a lane per sector with a failure, named, in the design's order
        self.assertEqual([l[0] for l in got["lanes"]],
                         ["communications", "energy", "health", "transport", "water"])
        self.assertEqual([l[1] for l in got["lanes"]], [l[0] for l in got["lanes"]])
        self.assertTrue(all(l[2] > 0 for l in got["lanes"]), got["lanes"])
        # 22 failures (21 members and the background one), every one restored
        self.assertEqual(got["bars"], 22)
        self.assertEqual(got["restored"], 22)
        # the fire over its 5 sectors, the background failure over water
        with open(run) as f:
            revs = last_revisions(f.read())
        fire = [k for k, v in revs.items() if v["root"]["asset"] == "SUB-ALD-PRI-07"][0]
        sps = [k for k, v in revs.items() if v["root"]["asset"] == "SPS-ALD-04"][0]
        self.assertEqual(sorted(got["overlays"]), sorted([fire] * 5 + [sps]))
        # the table: one row per incident, in order of appearance
        rows = got["rows"]
        self.assertEqual([r[0] for r in rows], [fire, sps])
        self.assertTrue(rows[0][1].startswith("SUB-ALD-PRI-07"))
        self.assertIn("Eastfield 33/11kV primary substation", rows[0][1])
        self.assertEqual(rows[0][2:4], ["observed", "P1"])
        self.assertEqual(rows[0][5], "0.0 s")
        self.assertEqual(rows[0][6], "21")
        self.assertEqual(rows[0][8], "resolved")
        self.assertEqual(rows[1][6], "1")
        self.assertEqual(got["explained"], 22)
        # data is text, never markup
        self.assertEqual(got["h1"], title)
        self.assertEqual(got["h1_children"], 0)
        # nothing wider than an A4 page (794 CSS px at 96 dpi)
        self.assertLessEqual(got["scroll"], got["width"], got["wide"][:10])
        self.assertEqual(got["wide"], [])

        # and it prints
        pdf = os.path.join(self.dir, "report.pdf")
        self.browser("--no-pdf-header-footer", "--print-to-pdf=" + pdf, "file://" + out)
        with open(pdf, "rb") as f:
            data = f.read()
        self.assertTrue(data.startswith(b"%PDF"))
        pages = len(re.findall(rb"/Type\s*/Page[^s]", data))
        self.assertGreaterEqual(pages, 2)
        self.assertLessEqual(pages, 12)

    def test_report_without_the_scenario_and_bad_input(self):
        run = os.path.join(self.dir, "run.jsonl")
        with open(run, "wb") as f:
            f.write(replay(os.path.join(DRILLS, "exchange-flood-scada-blind.csv"), "--json",
                           heartbeat=None).stdout)
        out = os.path.join(self.dir, "r.html")
        tocsin("report", run, "-o", out)
        with open(out) as f:
            page = f.read()
        self.assertIn('data-sector="emergency-services"', page)
        self.assertIn("aldermoor-power/scada-east", page)
        # the primaries' forecast was settled while 70 others were pending, so no
        # revision lists it as borne out; they joined the incident: borne out
        self.assertTrue(re.search(r'<td>SUB-ALD-PRI-06</td><td>[0-9:]+</td><td>EXCH-ALD-EAST'
                                  r'</td><td class="borne_out">borne out</td>', page))
        self.assertIn('<td class="unlisted">not listed at the end</td>', page)
        # from the members alone: the primaries, the TETRA site and the 999 room were
        # degraded (restored since), the exchange and the masts down
        self.assertEqual(page.count('<rect class="degraded"'), 5)
        self.assertEqual(page.count('<rect class="down"'), 4)
        bad = os.path.join(self.dir, "bad.jsonl")
        with open(bad, "w") as f:
            f.write('{"no":"revision"}\n')
        p = tocsin("report", bad, "-o", out + "2", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("bad.jsonl:1: expected an incident revision", p.stderr)
        self.assertFalse(os.path.exists(out + "2"))
        self.assertFalse(os.path.exists(out + "2.partial"))


class RecordTest(DemoCityCase):
    """tocsin record against a real tocsind and PostgreSQL."""

    def test_record_then_replay_gives_the_live_incidents(self):
        base = now_ms() - 3600 * 1000
        events = scenario_events("scenario-substation-fire.csv", base)
        a = self.adapter("city")
        for i in range(0, len(events), 500):
            reply = a.send(events[i:i + 500])
            self.assertEqual(reply["err"], [], reply)
        self.wait_stored("aldermoor-power/scada",
                         [e["id"] for e in events if e["source"] == "aldermoor-power/scada"])

        def resolved():
            rows = self.db.query("SELECT incident FROM incidents WHERE stream = 'live' AND "
                                 "root_asset = 'SUB-ALD-PRI-07' AND msg = 'resolved'")
            return rows or None
        wait_until(resolved, 30, 0.2, lambda: self.server.log_tail())
        self.wait_stored("aldermoor-council/social-care",
                         [e["id"] for e in events
                          if e["source"] == "aldermoor-council/social-care"])

        out = os.path.join(self.tmp, "fire.jsonl")
        frm = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base / 1000 - 60))
        to = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 60))
        p = tocsin("record", "--db", self.db.console_conninfo, "--from", frm, "--to", to,
                   "-o", out)
        self.assertIn("tocsin: record: %d events from" % len(events), p.stderr)
        with open(out) as f:
            rec = [json.loads(l) for l in f]
        self.assertEqual(len(rec), len(events))
        self.assertEqual({(r["source"], r["id"]) for r in rec},
                         {(e["source"], e["id"]) for e in events})
        sent = {(e["source"], e["id"]): e for e in events}
        for r in rec:
            e = sent[(r["source"], r["id"])]
            self.assertEqual(r["type"], e["type"])
            self.assertEqual(r.get("asset"), e.get("asset"))
            self.assertRegex(r["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
        # an empty range: an empty file, and it says so
        empty = os.path.join(self.tmp, "empty.jsonl")
        p = tocsin("record", "--db", self.db.console_conninfo, "--from", "2000-01-01T00:00:00Z",
                   "--to", "2000-01-02T00:00:00Z", "-o", empty)
        self.assertIn("0 events", p.stderr)
        self.assertEqual(os.path.getsize(empty), 0)
        # bad ranges are usage errors and write nothing
        p = tocsin("record", "--from", to, "--to", frm, "-o", empty + "2", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("expected --from before --to", p.stderr)
        self.assertFalse(os.path.exists(empty + "2"))

        # Replayed offline over the registry in PostgreSQL: the incidents the live
        # server stored, same ids (they derive from the root events), same members.
        p = subprocess.run([TOCSIN, "replay", "--offline", "--db", self.db.console_conninfo, out,
                            "--json", "--heartbeat-timeout", "600", "--drill", "live-copy"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        replayed = last_revisions(p.stdout)
        live = {r["incident"]: r["body"] for r in self.db.query(
            "SELECT incident, body FROM incidents WHERE stream = 'live' AND cause <> "
            "'visibility'")}
        replayed = {k: v for k, v in replayed.items() if v["cause"] != "visibility"}
        self.assertEqual(sorted(replayed), sorted(live))
        for k, body in live.items():
            self.assertEqual(sorted(a["asset"] for a in replayed[k]["affected"]),
                             sorted(a["asset"] for a in body["affected"]), k)
            self.assertEqual(replayed[k]["status"], "exercise")


class JournalTest(DemoCityCase):
    """A live run's journal, recorded with its ticks and replayed with the server's
    settings, gives exactly the revisions the live run produced (issue 5 item 5)."""

    def test_journal_replays_to_the_live_revisions(self):
        events = scenario_events("scenario-substation-fire.csv", now_ms() - 3600 * 1000)
        a = self.adapter("city")
        for i in range(0, len(events), 50):  # several frames: ticks fall between them
            reply = a.send(events[i:i + 50])
            self.assertEqual(reply["err"], [], reply)

        def resolved():
            return self.db.query("SELECT incident FROM incidents WHERE stream = 'live' AND "
                                 "root_asset = 'SUB-ALD-PRI-07' AND msg = 'resolved'") or None
        wait_until(resolved, 30, 0.2, lambda: self.server.log_tail())
        time.sleep(1.0)  # a few more ticks, then a clean stop: the journal is complete
        self.assertEqual(self.server.stop(), 0, self.server.log_tail())
        live = self.db.query("SELECT incident, rev, body FROM incident_revisions "
                             "WHERE stream = 'live' ORDER BY journal_offset")
        self.assertGreater(len(live), 10)

        cfg = self.server.config_path
        out = os.path.join(self.tmp, "journal.jsonl")
        p = tocsin("--config", cfg, "record", "--journal", self.server.journal_dir, "-o", out)
        self.assertIn("events and ticks from the journal", p.stderr)
        with open(out) as f:
            lines = [json.loads(l) for l in f]
        ticks = [l for l in lines if "tick" in l]
        self.assertGreater(len(ticks), 10)
        self.assertEqual(len(lines) - len(ticks), len(events))

        p = subprocess.run([TOCSIN, "--config", cfg, "replay", out, "--db",
                            self.db.console_conninfo,
                            "--drill", "live", "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        replayed = [json.loads(l) for l in p.stdout.decode().splitlines()]
        for r in replayed:
            del r["seq"]
        self.assertEqual([(r["incident"], r["rev"]) for r in replayed],
                         [(r["incident"], r["rev"]) for r in live])
        for got, want in zip(replayed, live):
            want = dict(want["body"])
            want.pop("seq", None)  # the live stream's own numbering, if stored
            self.assertEqual(got, want, (got["incident"], got["rev"]))
        self.assertEqual({r["status"] for r in replayed}, {"actual"})


if __name__ == "__main__":
    unittest.main()
