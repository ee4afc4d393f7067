"""test_correlate.py - the correlator inside tocsind: a real cascade of the demo
city, sent by an adapter over CURVE, becomes one incident in PostgreSQL, with
its members and the paths that linked them; a kill -9 and a rebuild give the
same incidents without storing any revision twice; a new registry is taken
live."""
import os

from harness import (ALL_SECTORS, CITY, IntegrationCase, now_ms, scenario_events, tocsin,
                     wait_until)

class DemoCityCase(IntegrationCase):
    """A tocsind over the demo city's registry, with one adapter for every sector and
    short windows (a tick every 100 ms, 2 s of lateness)."""
    START_SERVER = False
    ADAPTERS = {"city": (ALL_SECTORS, None)}
    SERVER_OPTIONS = {"correlator.tick_ms": 100, "correlator.lateness_s": 2}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        tocsin("--db", cls.db.admin_conninfo, "assets", "import",
               os.path.join(CITY, "assets.csv"), os.path.join(CITY, "dependencies.csv"))
        cls.server.start()


class CorrelateTest(DemoCityCase):

    def incident_rooted_at(self, asset):
        rows = self.db.query("SELECT incident, rev, msg, cause, priority, body FROM incidents "
                             "WHERE root_asset = %s AND cause = 'observed'" % ("'" + asset + "'"))
        return rows[0] if len(rows) == 1 else None

    def test_substation_fire_is_one_incident_and_survives_kill9(self):
        # The scenario as if it began an hour ago: ticks at "now" then close every window.
        events = scenario_events("scenario-substation-fire.csv", now_ms() - 3600 * 1000)
        self.send_all(events)

        def resolved():
            inc = self.incident_rooted_at("SUB-ALD-PRI-07")
            return inc if inc and inc["msg"] == "resolved" else None
        inc = wait_until(resolved, 30, 0.2, lambda: self.server.log_tail())

        body = inc["body"]
        members = {m["asset"] for m in body["affected"]}
        # The README's expected outcome: 21 members in 5 sectors, priority 1.
        self.assertEqual(len(members), 21, sorted(members))
        self.assertIn("SUB-ALD-PRI-07", members)
        self.assertEqual(len(body["sectors"]), 5, body["sectors"])
        self.assertEqual(inc["priority"], 1)
        # Every member but the root was linked by a path from the root.
        explained = {e["asset"]: e for e in body["explain"]}
        for m in members - {"SUB-ALD-PRI-07"}:
            self.assertIn(m, explained)
            self.assertEqual(explained[m]["path"][0], "SUB-ALD-PRI-07")
            self.assertEqual(explained[m]["path"][-1], m)
        # The background failure elsewhere is its own incident, not a member.
        self.assertNotIn("SPS-ALD-04", members)
        self.assertIsNotNone(self.incident_rooted_at("SPS-ALD-04"))
        # Members in incident_members carry their paths too.
        self.assertEqual(self.db.scalar(
            "SELECT count(*) FROM incident_members WHERE incident = '%s'" % inc["incident"]), 21)
        # Forecast: what was at risk, and whether it was borne out.
        self.assertTrue(body["at_risk"], "an at-risk list")

        revisions = self.db.scalar("SELECT count(*) FROM incident_revisions")
        incidents = self.db.query("SELECT incident, rev FROM incidents ORDER BY incident")

        # kill -9, restart: the rebuild from the journal gives the same incidents
        # and journals nothing that was already stored.
        self.server.kill9()
        self.server.start()
        wait_until(lambda: "correlator caught up" in self.server.log(), 15, 0.1,
                   lambda: self.server.log_tail())
        self.assertEqual(self.db.query("SELECT incident, rev FROM incidents ORDER BY incident"),
                         incidents)
        self.assertEqual(self.db.scalar("SELECT count(*) FROM incident_revisions"), revisions)
        self.assertEqual(self.server.stop(), 0, self.server.log_tail())

    def test_new_registry_taken_live(self):
        self.server.ensure_running()
        tocsin("--db", self.db.admin_conninfo, "assets", "import",
               os.path.join(CITY, "assets.csv"), os.path.join(CITY, "dependencies.csv"))
        wait_until(lambda: "asset graph swapped in" in self.server.log(), 15, 0.1,
                   lambda: self.server.log_tail())
