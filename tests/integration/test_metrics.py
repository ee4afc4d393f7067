"""test_metrics.py - the operators' endpoint (docs/metrics.md) of a real tocsind: /metrics in
the Prometheus text format, checked line by line and against what was sent; /healthz and
/readyz (PostgreSQL down is reported, yet ready); 404 and 405; and that every metric the
Grafana dashboard and the example alert rules in docs/ use is one the server exposes."""
import json
import math
import os
import re
import socket
import sys
import time
import unittest
import urllib.error
import urllib.request

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ALL_SECTORS, CITY, REPO, TOCSIND, Adapter, Console, IntegrationCase,  # noqa: E402
                     TocsindProcess, console_add, free_port, keygen, now_ms, run,
                     scenario_events, tocsin, wait_until)

HTTP_TIMEOUT_S = 10

# ---- a small parser of the text exposition format (version 0.0.4) ------------------------

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
SAMPLE_RE = re.compile(r"^(%s)(\{.*\})? (\S+)$" % NAME)
SUFFIXES = ("_bucket", "_sum", "_count")


def parse_labels(text):
    """'{a="x",b="y\\"z"}' -> {"a": "x", "b": 'y"z'}; raise ValueError on anything else."""
    assert text[0] == "{" and text[-1] == "}"
    body, i, out = text[1:-1], 0, {}
    while i < len(body):
        m = re.match(LABEL, body[i:])
        if not m:
            raise ValueError("bad label name at %r" % body[i:])
        name = m.group(0)
        i += len(name)
        if body[i:i + 2] != '="':
            raise ValueError("expected =\" after %s" % name)
        i += 2
        val = []
        while True:
            if i >= len(body):
                raise ValueError("unterminated label value")
            c = body[i]
            if c == "\\":
                nxt = body[i + 1:i + 2]
                if nxt not in ("\\", '"', "n"):
                    raise ValueError("bad escape \\%s" % nxt)
                val.append("\n" if nxt == "n" else nxt)
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise ValueError("raw newline in a label value")
            else:
                val.append(c)
                i += 1
        if name in out:
            raise ValueError("label %s twice" % name)
        out[name] = "".join(val)
        if i < len(body):
            if body[i] != ",":
                raise ValueError("expected , at %r" % body[i:])
            i += 1
    return out


def parse_exposition(text):
    """Validate `text` line by line; return {family: {"type", "help", "samples": [(name,
    labels, value)]}}. Raise AssertionError naming the line for any departure from the
    format or its conventions."""
    families, order, seen = {}, [], set()
    current = None
    assert text.endswith("\n"), "the exposition ends with a newline"
    for n, line in enumerate(text.split("\n")[:-1], start=1):
        where = "line %d: %r" % (n, line)
        assert line, "%s: empty line" % where
        if line.startswith("# HELP "):
            name, _, helptext = line[7:].partition(" ")
            assert re.fullmatch(NAME, name), where
            assert name not in families, "%s: family described twice" % where
            assert helptext, "%s: empty HELP" % where
            families[name] = {"help": helptext, "type": None, "samples": []}
            order.append(name)
            current = name
            continue
        if line.startswith("# TYPE "):
            name, _, typ = line[7:].partition(" ")
            assert name == current and families[name]["type"] is None, \
                "%s: TYPE without its HELP just before" % where
            assert typ in ("counter", "gauge", "histogram"), where
            if typ == "counter":
                assert name.endswith("_total"), "%s: a counter's name ends in _total" % where
            else:
                assert not name.endswith("_total"), "%s: _total on a %s" % (where, typ)
            assert name.startswith("tocsin_"), "%s: tocsin_ prefix" % where
            families[name]["type"] = typ
            continue
        assert not line.startswith("#"), "%s: unknown comment" % where
        m = SAMPLE_RE.match(line)
        assert m, "%s: not a sample" % where
        sname, ltext, value = m.groups()
        labels = parse_labels(ltext) if ltext else {}
        try:
            v = float(value)
        except ValueError:
            raise AssertionError("%s: value is not a float" % where)
        fam = current
        assert fam is not None, "%s: sample before any # TYPE" % where
        typ = families[fam]["type"]
        if typ == "histogram":
            assert sname in (fam + s for s in SUFFIXES), \
                "%s: sample not of the histogram %s" % (where, fam)
            if sname.endswith("_bucket"):
                assert "le" in labels, "%s: bucket without le" % where
        else:
            assert sname == fam, "%s: sample not of the family %s just TYPE'd" % (where, fam)
            assert "le" not in labels, where
        if typ == "counter":
            assert v >= 0 and not math.isinf(v), "%s: a counter is finite and >= 0" % where
        key = (sname, tuple(sorted(labels.items())))
        assert key not in seen, "%s: series repeated" % where
        seen.add(key)
        families[fam]["samples"].append((sname, labels, v))
    for name, f in families.items():
        assert f["type"], "%s: HELP without TYPE" % name
        if f["type"] == "histogram":
            check_histogram(name, f["samples"])
    return families


def check_histogram(name, samples):
    """Buckets ascend in le with non-decreasing counts, end at +Inf == _count."""
    groups = {}
    for sname, labels, v in samples:
        rest = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
        groups.setdefault(rest, {"buckets": [], "sum": None, "count": None})
        g = groups[rest]
        if sname.endswith("_bucket"):
            g["buckets"].append((float(labels["le"]), v))
        elif sname.endswith("_sum"):
            g["sum"] = v
        else:
            g["count"] = v
    for rest, g in groups.items():
        les = [le for le, _ in g["buckets"]]
        assert les == sorted(les) and les[-1] == math.inf, "%s%s: le order %r" % (name, rest, les)
        counts = [c for _, c in g["buckets"]]
        assert counts == sorted(counts), "%s%s: buckets not cumulative" % (name, rest)
        assert g["count"] == counts[-1], "%s%s: _count != +Inf bucket" % (name, rest)
        assert g["sum"] is not None and g["sum"] >= 0, "%s%s: _sum" % (name, rest)


def value(families, name, **labels):
    """The value of the one sample of `name` (a family or a histogram series) with `labels`
    (a subset), or None when there is none."""
    fam = name
    for s in SUFFIXES:
        if name.endswith(s) and name[:-len(s)] in families:
            fam = name[:-len(s)]
    if fam not in families:
        return None
    found = [v for sname, l, v in families[fam]["samples"]
             if sname == name and all(l.get(k) == str(x) for k, x in labels.items())]
    assert len(found) <= 1, "%s %r: %d samples" % (name, labels, len(found))
    return found[0] if found else None


def http(method, url, data=None):
    """(status, headers, body text) of one request; errors are answers too."""
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_S) as r:
            return r.status, r.headers, r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode("utf-8")


METRICS_PORT = free_port()


class MetricsTest(IntegrationCase):
    ADAPTERS = {"city": (ALL_SECTORS, None),
                "energy": (["energy"], None)}
    SERVER_OPTIONS = {"metrics.listen": "127.0.0.1:%d" % METRICS_PORT,
                      "alerts.cap_outbox": "outbox",
                      "correlator.tick_ms": 100, "correlator.lateness_s": 2}
    START_SERVER = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        tocsin("--db", cls.db.conninfo, "assets", "import",
               os.path.join(CITY, "assets.csv"), os.path.join(CITY, "dependencies.csv"))
        cls.console_key = keygen(cls.keydir, "desk1")
        console_add(cls.db, "desk1", cls.console_key)
        cls.server.start()
        cls.base = "http://127.0.0.1:%d" % METRICS_PORT

    def scrape(self):
        status, headers, body = http("GET", self.base + "/metrics")
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
        return parse_exposition(body)

    def wait_value(self, name, want, timeout=20, **labels):
        """Scrape until `name{labels}` == want (a number) or want(value) is true."""
        def ok():
            v = value(self.scrape(), name, **labels)
            return v is not None and (want(v) if callable(want) else v == want)
        wait_until(ok, timeout, 0.2, lambda: "%s%r to reach %r, now %r; log:\n%s" % (
            name, labels, want, value(self.scrape(), name, **labels), self.server.log_tail()))

    # ---- /metrics -------------------------------------------------------------------------

    def test_ingest_counters_move_by_what_was_sent(self):
        before = self.scrape()
        b = lambda name, **l: value(before, name, **l) or 0  # noqa: E731
        a = self.adapter("energy")
        evs = [a.event(asset="ukpn.m.%d" % i) for i in range(3)]
        r = a.send(evs)
        self.assertReply(r, ok=[e["id"] for e in evs], dup=[], err_codes={})
        bad = a.event()
        del bad["type"]
        forbidden = a.event(sector="water", asset="tw.pump.1")
        r = a.send([evs[0], bad, forbidden])
        self.assertReply(r, ok=[], dup=[evs[0]["id"]], err_codes={1: "E_SCHEMA",
                                                                  2: "E_FORBIDDEN"})
        after = self.scrape()
        d = lambda name, **l: (value(after, name, **l) or 0) - b(name, **l)  # noqa: E731
        self.assertEqual(d("tocsin_ingest_events_received_total", adapter="energy"), 6)
        self.assertEqual(d("tocsin_ingest_events_accepted_total", adapter="energy"), 3)
        self.assertEqual(d("tocsin_ingest_events_duplicate_total", adapter="energy"), 1)
        self.assertEqual(d("tocsin_ingest_events_rejected_total", adapter="energy",
                           code="E_SCHEMA"), 1)
        self.assertEqual(d("tocsin_ingest_events_rejected_total", adapter="energy",
                           code="E_FORBIDDEN"), 1)
        self.assertEqual(d("tocsin_ingest_events_rejected_total", adapter="energy",
                           code="E_TIME"), 0)
        self.assertEqual(d("tocsin_ingest_frames_total"), 2)
        # both replies timed
        self.assertEqual(d("tocsin_ingest_ack_duration_seconds_count"), 2)
        self.assertGreater(d("tocsin_ingest_ack_duration_seconds_sum"), 0)
        # the other adapter's counters did not move
        self.assertEqual(d("tocsin_ingest_events_received_total", adapter="city"), 0)
        # three events and two kept rejections were appended, each frame fsync'd
        self.assertGreaterEqual(d("tocsin_journal_appends_total"), 5)
        self.assertGreaterEqual(d("tocsin_journal_fsync_duration_seconds_count"), 2)
        self.assertGreater(value(after, "tocsin_journal_bytes"), 0)
        self.assertGreaterEqual(value(after, "tocsin_journal_segments"), 1)
        self.assertEqual(value(after, "tocsin_journal_full"), 0)
        # the socket monitor's events reach the metrics thread a moment later
        wait_until(lambda: (value(self.scrape(), "tocsin_adapter_connections") or 0) >= 1
                   and (value(self.scrape(), "tocsin_adapter_handshakes_total",
                              result="succeeded") or 0)
                   - b("tocsin_adapter_handshakes_total", result="succeeded") >= 1,
                   15, 0.1, "the monitor to count the adapter's connection and handshake")

        # stored exactly once, and correlated: both counters move by the three events
        self.wait_stored(a.source, [e["id"] for e in evs])
        self.wait_value("tocsin_store_events_total", b("tocsin_store_events_total") + 3)
        self.wait_value("tocsin_correlator_events_total",
                        b("tocsin_correlator_events_total") + 3)
        self.wait_value("tocsin_store_lag_bytes", 0)
        now = self.scrape()
        self.assertEqual(value(now, "tocsin_postgres_up"), 1)
        # the committer's clock ticks keep coming: the store is a tick behind now and then
        self.wait_value("tocsin_store_lag_seconds", 0)
        self.assertGreater(value(now, "tocsin_store_batch_duration_seconds_count"),
                           b("tocsin_store_batch_duration_seconds_count"))
        connected = value(now, "tocsin_adapter_connections")
        self.assertGreaterEqual(connected, 1)
        a.close()  # nothing else connects meanwhile: the gauge drops by at least this one
        self.wait_value("tocsin_adapter_connections", lambda v: v <= connected - 1)

    def test_zap_refusals_counted(self):
        before = value(self.scrape(), "tocsin_zap_refusals_total", handler="adapters")
        stranger = keygen(self.keydir, "stranger-%d" % now_ms())
        s = Adapter(self.server, stranger, timeout=1.0)
        self.addCleanup(s.close)
        self.assertIsNone(s.send_raw(b"\x80", timeout=1.0))
        self.wait_value("tocsin_zap_refusals_total", lambda v: v >= before + 1,
                        handler="adapters")
        self.assertGreaterEqual(value(self.scrape(), "tocsin_adapter_handshakes_total",
                                      result="failed"), 1)

    def test_incidents_alerts_and_console_gauges(self):
        c = Console(self.server, self.console_key)
        self.addCleanup(c.close)
        self.wait_value("tocsin_console_connections", lambda v: v >= 1)
        before = self.scrape()
        b = lambda name, **l: value(before, name, **l) or 0  # noqa: E731
        time.sleep(0.5)  # the SUB's subscription reaches the PUB
        self.send_all(scenario_events("scenario-substation-fire.csv", now_ms() - 3600 * 1000,
                                      "m%d" % now_ms()))
        # wait until the console has every alert and the stream is quiet
        got = []

        def quiet():
            n = len(got)
            while True:
                x = c.recv_alert(timeout=2.0)
                if x is None:
                    break
                got.append(x)
            return got and len(got) == n
        wait_until(quiet, 60, 0.1, "alerts to stop")
        after = self.scrape()
        published = sum((value(after, "tocsin_alerts_published_total", stream="live",
                               priority=p) or 0) -
                        b("tocsin_alerts_published_total", stream="live", priority=p)
                        for p in range(1, 6))
        self.assertEqual(published, len(got), "one published per alert the console saw")
        for p in range(1, 6):
            self.assertEqual(
                (value(after, "tocsin_alerts_published_total", stream="live", priority=p) or 0) -
                b("tocsin_alerts_published_total", stream="live", priority=p),
                len([1 for topic, body in got if body["priority"] == p]), "priority %d" % p)
        # the gauges agree with what a snapshot says is open
        r = c.request(op="since", seq=0)
        self.assertTrue(r["ok"], r)
        snap = c.request(op="snapshot")
        self.assertTrue(snap["ok"], snap)
        self.assertTrue(snap["incidents"], "the scenario leaves incidents open")
        after = self.scrape()
        for p in range(1, 6):
            self.assertEqual(value(after, "tocsin_incidents_open", priority=p),
                             len([i for i in snap["incidents"] if i["priority"] == p]),
                             "open incidents of priority %d" % p)
        at_risk = sum(i["at_risk_count"]["pending"] for i in snap["incidents"])
        self.assertEqual(value(after, "tocsin_assets_at_risk"), at_risk)
        self.assertEqual(value(after, "tocsin_alerts_catchups_total") -
                         b("tocsin_alerts_catchups_total"), 1)
        inc = snap["incidents"][0]
        r = c.request(op="ack", incident=inc["incident"], rev=inc["rev"], operator="ops")
        self.assertTrue(r["ok"], r)
        self.wait_value("tocsin_alerts_acks_total", b("tocsin_alerts_acks_total") + 1)
        self.assertGreaterEqual(value(after, "tocsin_correlator_revisions_total"), len(got))

    def test_every_family_documented_and_rings_present(self):
        fams = self.scrape()
        for ring in ("ingest_to_journal", "journal_to_ingest", "correlator_to_journal",
                     "journal_to_correlator"):
            self.assertIsNotNone(value(fams, "tocsin_ring_depth", ring=ring), ring)
        with open(os.path.join(REPO, "docs", "metrics.md")) as f:
            doc = f.read()
        documented = self.referenced(" ".join(re.findall(r"`(tocsin_[a-z0-9_]+)", doc)))
        self.assertEqual(set(fams) - documented, set(), "exposed but not in docs/metrics.md")
        self.assertEqual(documented - set(fams), set(), "in docs/metrics.md but not exposed")

    # ---- health ---------------------------------------------------------------------------

    def test_health_and_errors(self):
        status, _, body = http("GET", self.base + "/healthz")
        self.assertEqual((status, body), (200, "ok\n"))
        # the store connects to PostgreSQL on its own thread, a moment after start
        wait_until(lambda: json.loads(http("GET", self.base + "/readyz")[2])["postgres"]
                   == "up", 15, 0.1, "the store to connect")
        status, headers, body = http("GET", self.base + "/readyz")
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body), {"ready": True, "journal": "ok", "zap": "ok",
                                            "registry": "ok", "postgres": "up"})
        self.assertEqual(headers["Content-Type"], "application/json")
        for path in ("/", "/metric", "/metrics/", "/healthz/x", "/../etc/passwd"):
            self.assertEqual(http("GET", self.base + path)[0], 404, path)
        for method in ("POST", "PUT", "DELETE"):
            status, headers, _ = http(method, self.base + "/metrics", data=b"x=1")
            self.assertEqual(status, 405, method)
            self.assertEqual(headers["Allow"], "GET, HEAD")
        self.assertEqual(http("POST", self.base + "/readyz", data=b"")[0], 405)
        self.assertEqual(http("HEAD", self.base + "/metrics")[0], 200)
        # a query string is not part of the path
        self.assertEqual(http("GET", self.base + "/healthz?verbose=1")[0], 200)
        fams = self.scrape()
        self.assertGreaterEqual(value(fams, "tocsin_http_requests_total", code=404), 5)
        self.assertGreaterEqual(value(fams, "tocsin_http_requests_total", code=405), 4)

    def test_slow_clients_are_bounded(self):
        """A connection that sends nothing does not block others; the server keeps answering."""
        idle = [socket.create_connection(("127.0.0.1", METRICS_PORT), timeout=5)
                for _ in range(3)]
        try:
            self.assertEqual(http("GET", self.base + "/healthz")[0], 200)
        finally:
            for s in idle:
                s.close()

    def test_readyz_stays_ready_with_postgresql_down(self):
        """A second server over the same keys, whose PostgreSQL is unreachable: ready (keys
        from the registry cache its first run wrote), postgres reported down; the shared
        database is never stopped."""
        work = os.path.join(self.tmp, "pgdown")
        os.makedirs(work, exist_ok=True)
        port = free_port()
        srv = TocsindProcess(work, self.db, self.server_key,
                             {"metrics.listen": "127.0.0.1:%d" % port})
        self.addCleanup(srv.cleanup)
        srv.start()  # with PostgreSQL: writes its registry cache
        base = "http://127.0.0.1:%d" % port
        wait_until(lambda: http("GET", base + "/readyz")[0] == 200, 10, 0.2, "ready")
        srv.stop()
        srv.config["store"]["conninfo"] = ("host=%s port=1 dbname=nowhere connect_timeout=1"
                                           % os.path.join(work, "no-such-dir"))
        srv.write_config()
        srv.start()
        status, _, body = http("GET", base + "/readyz")
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["postgres"], "down")
        fams = parse_exposition(http("GET", base + "/metrics")[2])
        self.assertEqual(value(fams, "tocsin_postgres_up"), 0)
        self.assertEqual(value(fams, "tocsin_registry_loaded"), 1)
        # events are still accepted (journaled); the store falls behind, and says so
        a = Adapter(srv, self.keys["energy"])
        self.addCleanup(a.close)
        ev = a.event()
        self.assertEqual(a.send(ev)["ok"], [ev["id"]])
        fams = parse_exposition(http("GET", base + "/metrics")[2])
        self.assertGreater(value(fams, "tocsin_store_lag_bytes"), 0)
        self.assertGreater(value(fams, "tocsin_store_lag_seconds"), 0)
        self.assertGreater(value(fams, "tocsin_store_failures_total"), 0)

    def test_readyz_not_ready_without_a_registry(self):
        """No PostgreSQL and no cache: every adapter key would be refused, so not ready."""
        work = os.path.join(self.tmp, "noreg")
        os.makedirs(work, exist_ok=True)
        port = free_port()
        srv = TocsindProcess(work, self.db, self.server_key,
                             {"metrics.listen": "127.0.0.1:%d" % port,
                              "store.conninfo": "host=%s port=1 dbname=x connect_timeout=1"
                              % os.path.join(work, "no-such-dir")})
        self.addCleanup(srv.cleanup)
        srv.start()
        status, _, body = http("GET", "http://127.0.0.1:%d/readyz" % port)
        self.assertEqual(status, 503, body)
        self.assertEqual(json.loads(body), {"ready": False, "journal": "ok", "zap": "ok",
                                            "registry": "missing", "postgres": "down"})
        self.assertEqual(http("GET", "http://127.0.0.1:%d/healthz" % port)[0], 200)

    # ---- configuration errors -------------------------------------------------------------

    def test_bad_listen_and_busy_port(self):
        work = os.path.join(self.tmp, "badcfg")
        os.makedirs(work, exist_ok=True)
        srv = TocsindProcess(work, self.db, self.server_key, {"metrics.listen": "0.0.0.0:9464"})
        p = run([TOCSIND, "--config", srv.config_path, "--check-config"], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("metrics.listen: expected a loopback address", p.stderr)
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            srv.config["metrics"]["listen"] = "127.0.0.1:%d" % busy.getsockname()[1]
            srv.write_config()
            p = run([TOCSIND, "--config", srv.config_path], check=False, timeout=20)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("cannot start the metrics endpoint", p.stderr)
            self.assertIn("Address already in use", p.stderr)

    # ---- docs: the dashboard and the alert rules use real metrics ---------------------------

    def referenced(self, text):
        names = set(re.findall(r"\b(tocsin_[a-z0-9_]+)", text))
        fams = set()
        for n in names:
            for s in SUFFIXES:
                if n.endswith(s):
                    n = n[:-len(s)]
                    break
            fams.add(n)
        return fams

    def test_dashboard_and_alert_rules_use_exposed_metrics(self):
        exposed = set(self.scrape())
        with open(os.path.join(REPO, "docs", "grafana-dashboard.json")) as f:
            dash = json.load(f)
        exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
        self.assertGreaterEqual(len(exprs), 10)
        used = self.referenced("\n".join(exprs))
        self.assertGreaterEqual(len(used), 15)
        self.assertEqual(used - exposed, set(), "dashboard metrics the server does not expose")
        with open(os.path.join(REPO, "docs", "prometheus-alerts.yml")) as f:
            rules = yaml.safe_load(f)
        alerts = {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"]}
        for name in ("TocsinStoreLagging", "TocsinPostgresDown", "TocsinZapRefusalsSpike",
                     "TocsinJournalNearlyFull", "TocsinAdapterSilent"):
            self.assertIn(name, alerts)
        used = self.referenced("\n".join(alerts.values()))
        self.assertEqual(used - exposed, set(), "alert rule metrics the server does not expose")


if __name__ == "__main__":
    unittest.main()
