"""test_replay.py - offline replay end to end (design 3.2, 6; docs/simulator.md):
a simulated city, cascades with their ground truth, `tocsin replay --offline --json`,
and the scorer. No server and no database: standard library only.

Environment: TOCSIN_BUILD (as for the other suites), TOCSIN_IT_KEEP=1 keeps the
temporary directories.
"""
import datetime
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEEP = os.environ.get("TOCSIN_IT_KEEP") == "1"
CMD_TIMEOUT_S = 120.0
EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)

# The fields of design 3.2 in the order of the canonical JSON (correlator.h).
KEYS = ["seq", "incident", "rev", "msg", "status", "priority", "title", "cause", "confidence",
        "root", "sectors", "affected", "at_risk", "at_risk_count", "area", "opened", "updated", "explain"]


def _build_dir():
    b = os.environ.get("TOCSIN_BUILD", "build")
    if os.path.isabs(b):
        return b
    for base in (os.getcwd(), REPO):
        p = os.path.join(base, b)
        if os.path.isdir(p):
            return os.path.abspath(p)
    return os.path.join(REPO, b)


TOCSIN = os.path.join(_build_dir(), "tocsin")


def tocsin(*args, check=True, timeout=CMD_TIMEOUT_S):
    """Run tocsin; stdout as bytes, stderr as text. Raise with both on failure."""
    p = subprocess.run([TOCSIN] + [str(a) for a in args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("tocsin %s: exit %d\nstdout: %s\nstderr: %s"
                             % (" ".join(map(str, args)), p.returncode,
                                p.stdout.decode(errors="replace")[-2000:],
                                p.stderr.decode(errors="replace")[-2000:]))
    return p


def figures(stdout):
    """The scorer's "name value" lines as a dict of floats."""
    out = {}
    for line in stdout.decode().splitlines():
        name, _, value = line.partition(" ")
        out[name] = float(value.split()[0])
    return out


class ReplayTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tn_replay_")
        if not KEEP:
            self.addCleanup(shutil.rmtree, self.dir, True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def city(self, assets, seed, sub="."):
        out = self.path(sub)
        os.makedirs(out, exist_ok=True)
        tocsin("sim", "city", "--assets", assets, "--seed", seed, "--out", out)
        return os.path.join(out, "assets.csv"), os.path.join(out, "dependencies.csv")

    def cascades(self, a, d, seed, *extra):
        tocsin("sim", "cascades", "--assets", a, "--deps", d, "--seed", seed, "--out", self.dir,
               *extra)
        return self.path("scenario.csv"), self.path("truth.csv")

    def replay(self, a, d, scenario, *extra, check=True):
        return tocsin("replay", "--offline", "--assets", a, "--deps", d, scenario, *extra,
                      check=check)

    def score(self, scenario, truth, alerts):
        return figures(tocsin("sim", "score", "--truth", truth, "--scenario", scenario,
                              alerts).stdout)

    def check_alerts(self, data):
        """Every line one JSON object with the fields of design 3.2, seq gapless from 1."""
        lines = data.decode().splitlines()
        self.assertGreater(len(lines), 0)
        for i, line in enumerate(lines):
            o = json.loads(line)
            self.assertEqual(list(o.keys())[:len(KEYS)], KEYS, line)
            self.assertEqual(o["seq"], i + 1)
            self.assertIn(o["msg"], ("alert", "update", "resolved", "merged"))
            self.assertEqual(o["status"], "exercise")
            self.assertTrue(1 <= o["priority"] <= 5)
            self.assertEqual("merged_into" in o, o["msg"] == "merged")
            self.assertEqual(set(o["root"]), {"asset", "sector", "time"})
            for m in o["affected"]:
                for k in ("asset", "sector", "state", "time", "event", "late"):
                    self.assertIn(k, m)
                if m["event"] is not None:
                    self.assertRegex(m["event"]["id"], r"^L[1-9][0-9]*$")
                    self.assertFalse(m["late"], "no report is later than the lateness")
        return lines

    # ---- a small city: deterministic end to end --------------------------------------

    def test_small_city_replay_scored_and_byte_identical(self):
        a, d = self.city(2000, 1, "c1")
        a2, d2 = self.city(2000, 1, "c2")
        with open(a, "rb") as f1, open(a2, "rb") as f2:
            self.assertEqual(f1.read(), f2.read(), "same seed, same city")
        with open(d, "rb") as f1, open(d2, "rb") as f2:
            self.assertEqual(f1.read(), f2.read(), "same seed, same city")
        scenario, truth = self.cascades(a, d, 2, "--cascades", 10)
        first = self.replay(a, d, scenario, "--json")
        second = self.replay(a, d, scenario, "--json")
        self.assertEqual(first.stdout, second.stdout, "same input, same bytes")
        self.assertIn("incidents", first.stderr.decode())
        lines = self.check_alerts(first.stdout)
        with open(self.path("alerts.jsonl"), "wb") as f:
            f.write(first.stdout)
        s = self.score(scenario, truth, self.path("alerts.jsonl"))
        self.assertGreater(s["events"], 0)
        self.assertGreater(s["truth_pairs"], 0)
        for k in ("precision", "recall", "f1"):
            self.assertTrue(0.0 <= s[k] <= 1.0, s)
        # a human line per revision without --json
        human = self.replay(a, d, scenario).stdout.decode().splitlines()
        self.assertEqual(len([h for h in human if " rev " in h]), len(lines))

    def test_time_column_gives_the_same_alerts(self):
        a, d = self.city(1000, 4)
        scenario, _ = self.cascades(a, d, 5, "--cascades", 5)
        absolute = self.path("absolute.csv")
        with open(scenario) as src, open(absolute, "w") as dst:
            header = src.readline()
            dst.write(header.replace("t_offset_s", "time", 1))
            for line in src:
                off, rest = line.split(",", 1)
                t = EPOCH + datetime.timedelta(seconds=int(off))
                dst.write(t.strftime("%Y-%m-%dT%H:%M:%SZ") + "," + rest)
        self.assertEqual(self.replay(a, d, scenario, "--json").stdout,
                         self.replay(a, d, absolute, "--json").stdout)
        # --start moves offsets: the same alerts, an hour later
        later = self.replay(a, d, scenario, "--json", "--start", "2026-01-01T01:00:00Z").stdout
        o = json.loads(later.decode().splitlines()[0])
        self.assertTrue(o["opened"].startswith("2026-01-01T01:") or
                        o["opened"] >= "2026-01-01T01:00:00.000Z", o["opened"])

    def test_bad_scenario_runs_nothing(self):
        a, d = self.city(500, 1)
        bad = self.path("bad.csv")
        with open(bad, "w") as f:
            f.write("t_offset_s,source,sector,asset,type,severity,summary\n"
                    "0,sim/energy,energy,ss-0001,asset.down,2,ok\n"
                    "x,sim/energy,energy,ss-0002,asset.down,2,bad time\n"
                    "5,sim/energy,power,ss-0003,asset.down,2,bad sector\n")
        p = self.replay(a, d, bad, "--json", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, b"")
        err = p.stderr.decode()
        self.assertIn("%s:3: t_offset_s: expected seconds" % bad, err)
        self.assertIn("%s:4: sector: expected one of" % bad, err)
        self.assertIn("nothing run", err)
        # offline is the default: the same file without --offline runs nothing either
        self.assertEqual(tocsin("replay", "--assets", a, "--deps", d, bad,
                                check=False).returncode, 1)

    # ---- the target: F1 >= 0.95 on 10,000 assets -------------------------------------

    def test_10k_city_f1_target(self):
        t0 = time.monotonic()
        a, d = self.city(10000, 2026)
        scenario, truth = self.cascades(a, d, 7, "--missing", 0.05, "--reorder", 0.10,
                                        "--noise", 4)
        p = self.replay(a, d, scenario, "--json")
        self.check_alerts(p.stdout)
        with open(self.path("alerts.jsonl"), "wb") as f:
            f.write(p.stdout)
        s = self.score(scenario, truth, self.path("alerts.jsonl"))
        took = time.monotonic() - t0
        print("\n10k city: precision %.4f recall %.4f f1 %.4f (%d events, %d truth pairs) in %.1f s"
              % (s["precision"], s["recall"], s["f1"], s["events"], s["truth_pairs"], took))
        self.assertGreater(s["truth_pairs"], 1000)
        self.assertGreaterEqual(s["f1"], 0.95, s)
        self.assertLess(took, 60, "the 10k run should take well under a minute")


if __name__ == "__main__":
    unittest.main(verbosity=2)
