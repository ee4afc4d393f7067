"""test_audit.py - `tocsin audit` (docs/security.md "The audit trail"): filters,
limits, the table and JSON lines, escaping of hostile strings, clear errors for
bad arguments, and who may read the trail."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import IntegrationCase, lit, tocsin, unique_id, wait_until  # noqa: E402


class AuditCliTest(IntegrationCase):
    """No server: the rows come from the CLI (migrate, adapter add) and the test."""

    START_SERVER = False

    def audit(self, *args, check=True, conninfo=None):
        return tocsin("--db", conninfo or self.db.admin_conninfo, "audit", *args, check=check)

    def add_rows(self, action_prefix, times, actor="tester"):
        """Audit rows at the given RFC 3339 times, actions PREFIX.0, PREFIX.1, ..."""
        for i, t in enumerate(times):
            self.db.execute(
                "INSERT INTO audit (at, actor, action, subject, origin, detail) VALUES "
                "(%s, %s, %s, 'subj', 'test', '{\"i\": %d}')"
                % (lit(t), lit(actor), lit("%s.%d" % (action_prefix, i)), i))

    def json_rows(self, *args):
        p = self.audit("--json", *args)
        return [json.loads(line) for line in p.stdout.splitlines()]

    # ---- what it shows ------------------------------------------------------------

    def test_table_shows_the_cli_rows_oldest_first(self):
        p = self.audit("--limit", "1000")
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["SEQ", "AT", "ACTOR", "ACTION", "SUBJECT", "ORIGIN",
                                            "DB", "ROLE", "DETAIL"])
        migrate = [l for l in lines if " db.migrate " in l]
        self.assertIn("001_init.sql", migrate[0])
        self.assertIn("007_roles.sql", "".join(migrate))
        adds = [l for l in lines if " adapter.add " in l]
        self.assertEqual(len(adds), len(self.ADAPTERS))
        self.assertIn("tocsin_admin", adds[0])  # db_role: who PostgreSQL says wrote it
        times = [l.split()[1] for l in lines[1:]]
        self.assertEqual(times, sorted(times))

    def test_json_lines_and_filters(self):
        tag = unique_id("t")
        self.add_rows("test.%s" % tag, ["2026-03-01T10:00:00Z", "2026-03-01T11:00:00Z",
                                        "2026-03-01T12:00:00Z"], actor="alice-" + tag)
        self.add_rows("other.%s" % tag, ["2026-03-01T10:30:00Z"], actor="bob-" + tag)
        rows = self.json_rows("--action", "test.%s.*" % tag)
        self.assertEqual([r["action"] for r in rows],
                         ["test.%s.0" % tag, "test.%s.1" % tag, "test.%s.2" % tag])
        self.assertEqual(rows[0]["at"], "2026-03-01T10:00:00.000000Z")
        self.assertEqual(rows[0]["detail"], {"i": 0})
        self.assertEqual(rows[0]["subject"], "subj")
        self.assertEqual(rows[0]["db_role"], "tocsin")
        self.assertEqual(set(rows[0]), {"seq", "at", "actor", "action", "subject", "origin",
                                        "db_role", "detail"})
        # exact action; a name without '*' is not a prefix
        self.assertEqual(len(self.json_rows("--action", "test.%s.1" % tag)), 1)
        self.assertEqual(self.json_rows("--action", "test.%s" % tag), [])
        # actor
        rows = self.json_rows("--actor", "bob-" + tag)
        self.assertEqual([r["action"] for r in rows], ["other.%s.0" % tag])
        # since <= at < until
        rows = self.json_rows("--actor", "alice-" + tag, "--since", "2026-03-01T11:00:00Z",
                              "--until", "2026-03-01T12:00:00Z")
        self.assertEqual([r["action"] for r in rows], ["test.%s.1" % tag])
        rows = self.json_rows("--actor", "alice-" + tag, "--since", "2026-03-01T10:00:00.001Z")
        self.assertEqual(len(rows), 2)

    def test_ages(self):
        tag = unique_id("t")
        self.db.execute("INSERT INTO audit (at, actor, action) VALUES "
                        "(now() - interval '2 hours', 'x', %s), (now() - interval '10 minutes', "
                        "'x', %s)" % (lit("old." + tag), lit("new." + tag)))
        rows = self.json_rows("--since", "1h", "--action", "*")
        actions = [r["action"] for r in rows]
        self.assertIn("new." + tag, actions)
        self.assertNotIn("old." + tag, actions)
        rows = self.json_rows("--since", "3h", "--until", "30m", "--action", "*")
        self.assertIn("old." + tag, [r["action"] for r in rows])
        self.assertNotIn("new." + tag, [r["action"] for r in rows])
        self.assertIn("old." + tag, [r["action"] for r in self.json_rows("--since", "1d")])

    def test_limit_keeps_the_newest_and_says_so(self):
        tag = unique_id("t")
        self.add_rows("lim.%s" % tag, ["2026-04-01T10:00:0%dZ" % i for i in range(5)])
        p = self.audit("--json", "--action", "lim.%s.*" % tag, "--limit", "2")
        rows = [json.loads(l) for l in p.stdout.splitlines()]
        self.assertEqual([r["action"] for r in rows], ["lim.%s.3" % tag, "lim.%s.4" % tag])
        self.assertIn("showing the newest 2 rows; more match", p.stderr)
        p = self.audit("--json", "--action", "lim.%s.*" % tag, "--limit", "5")
        self.assertEqual(len(p.stdout.splitlines()), 5)
        self.assertEqual(p.stderr, "")

    def test_no_rows(self):
        p = self.audit("--actor", "nobody-" + unique_id("n"))
        self.assertEqual(p.stdout, "")
        self.assertIn("no rows match", p.stderr)
        p = self.audit("--json", "--actor", "nobody-" + unique_id("n"))
        self.assertEqual((p.stdout, p.stderr), ("", ""))

    def test_hostile_strings_do_not_reach_the_terminal(self):
        tag = unique_id("t")
        # what a peer controls: a console's operator name, a key, an address
        self.db.execute("INSERT INTO audit (actor, action, subject, origin) VALUES "
                        "(E'evil\\x1b[2J\\x07' || %s, %s, E'line1\\nline2', E'\\r10.0.0.1')"
                        % (lit(tag), lit("hostile." + tag)))
        p = self.audit("--action", "hostile." + tag)
        self.assertNotIn("\x1b", p.stdout)
        self.assertNotIn("\x07", p.stdout)
        self.assertNotIn("\r", p.stdout)
        self.assertEqual(len(p.stdout.splitlines()), 2, p.stdout)  # header, one row
        self.assertIn("evil\\x1b[2J\\x07" + tag, p.stdout)
        self.assertIn("line1\\x0aline2", p.stdout)
        rows = self.json_rows("--action", "hostile." + tag)
        self.assertEqual(rows[0]["actor"], "evil\x1b[2J\x07" + tag)
        self.assertEqual(rows[0]["subject"], "line1\nline2")

    def test_long_values_are_cut_in_the_table_only(self):
        tag = unique_id("t")
        long_subject = "s" * 200 + "\u00e9" * 10
        self.db.execute("INSERT INTO audit (actor, action, subject) VALUES ('x', %s, %s)"
                        % (lit("long." + tag), lit(long_subject)))
        p = self.audit("--action", "long." + tag)
        row = p.stdout.splitlines()[1]
        self.assertIn("s" * 45 + "...", row)
        self.assertNotIn("s" * 49, row)
        self.assertEqual(self.json_rows("--action", "long." + tag)[0]["subject"], long_subject)

    # ---- who may read it ------------------------------------------------------------

    def test_consoles_may_not_read_the_trail(self):
        p = self.audit(conninfo=self.db.console_conninfo, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot read the audit trail: permission denied for view audit_trail",
                      p.stderr)
        self.assertIn("docs/security.md", p.stderr)
        # the server may write it, not read it
        p = self.audit(conninfo=self.db.server_conninfo, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("permission denied", p.stderr)

    # ---- bad arguments ---------------------------------------------------------------

    def test_bad_arguments(self):
        cases = [
            (["--since", "yesterday"], "--since: expected an RFC 3339 time like "
                                       "2026-08-14T16:00:00Z or an age like 30m, 12h, 7d, got "
                                       "\"yesterday\""),
            (["--until", "2026-13-01T00:00:00Z"], "--until: expected an RFC 3339 time"),
            (["--since", "1700000000000"], "--since: expected an RFC 3339 time"),
            (["--since", "5x"], "--since: expected"),
            (["--since", "-5m"], "--since: expected"),
            (["--since", "1h", "--until", "2h"], "expected --since before --until"),
            (["--since", "2026-01-02T00:00:00Z", "--until", "2026-01-01T00:00:00Z"],
             "expected --since before --until"),
            (["--limit", "0"], "--limit: expected 1 to 1000000, got 0"),
            (["--limit", "1000001"], "--limit: expected 1 to 1000000, got 1000001"),
            (["--limit", "ten"], "--limit: expected an integer, got \"ten\""),
            (["--limit", "-3"], "--limit: expected an integer, got \"-3\""),
            (["--actor", ""], "--actor: expected 1 to 256 bytes, got 0"),
            (["--action", "a" * 257], "--action: expected 1 to 256 bytes, got 257"),
            (["--actor", "a\nb"], "--actor: contains a control character"),
            (["--since"], "--since"),
            (["--frobnicate"], "frobnicate"),
            (["extra"], "\"extra\""),
        ]
        for args, msg in cases:
            p = self.audit(*args, check=False)
            self.assertEqual(p.returncode, 2, (args, p.stderr))
            self.assertIn(msg, p.stderr, args)
            self.assertTrue(p.stderr.startswith("tocsin: audit: "), (args, p.stderr))
            self.assertEqual(p.stdout, "", args)
        p = self.audit("--help")
        self.assertIn("usage: tocsin audit", p.stdout)


class RejectedInAuditTest(IntegrationCase):
    """Refused events are kept in `rejected` (bounded) and read through `tocsin audit` as
    ingest.rejected rows: who sent them, the event id, from where, the code and message."""

    def test_rejected_events_are_in_the_trail_with_their_origin(self):
        a = self.adapter("scoped")
        bad_schema = a.event()
        bad_schema["severity"] = 9
        forbidden = a.event(asset="tfl.sig.1")
        good = a.event(asset="ukpn.sub.1")
        r = a.send([bad_schema, forbidden, good])
        self.assertEqual(r["ok"], [good["id"]])
        self.assertEqual(sorted(e["code"] for e in r["err"]), ["E_FORBIDDEN", "E_SCHEMA"])

        def rows():
            p = tocsin("--db", self.db.admin_conninfo, "audit", "--json", "--action",
                       "ingest.rejected", "--actor", "scoped")
            got = [json.loads(l) for l in p.stdout.splitlines()]
            mine = [g for g in got if g["subject"] in (bad_schema["id"], forbidden["id"])]
            return mine if len(mine) == 2 else None
        got = wait_until(rows, 15, 0.2, "the rejected events in tocsin audit")
        by_id = {g["subject"]: g for g in got}
        self.assertEqual(by_id[bad_schema["id"]]["detail"]["code"], "E_SCHEMA")
        self.assertIn("severity", by_id[bad_schema["id"]]["detail"]["msg"])
        self.assertEqual(by_id[forbidden["id"]]["detail"]["code"], "E_FORBIDDEN")
        self.assertEqual(by_id[forbidden["id"]]["detail"]["item"], 1)
        for g in got:
            self.assertEqual(g["origin"], "127.0.0.1")  # the peer's address, since 009
            self.assertIsNone(g["seq"])                 # not an audit table row
            self.assertEqual(g["db_role"], "tocsin_server")
            self.assertIn("journal_offset", g["detail"])
        # the table too, with "-" for the seq; and `--action 'ingest.*'` finds them
        p = tocsin("--db", self.db.admin_conninfo, "audit", "--action", "ingest.*",
                   "--actor", "scoped")
        line = [l for l in p.stdout.splitlines() if forbidden["id"] in l][0]
        self.assertTrue(line.startswith("- "), line)
        self.assertIn("ingest.rejected", line)
        # the same rows as `rejected` holds, nothing copied: one place per fact
        self.assertEqual(self.db.scalar(
            "SELECT count(*) FROM rejected WHERE event_id IN (%s, %s) AND origin = '127.0.0.1'"
            % (lit(bad_schema["id"]), lit(forbidden["id"]))), 2)


if __name__ == "__main__":
    unittest.main()
