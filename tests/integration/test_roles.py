"""test_roles.py - PostgreSQL least privilege (design 7, schema/007_roles.sql,
docs/security.md "PostgreSQL roles"): every forbidden operation fails for each
role, with PostgreSQL's insufficient_privilege (42501), and the same statement
succeeds as the owner, so that a refusal is about privileges and never about a
statement that could not run anyway; the owner cannot log in; a wrong or
missing password is refused; the allowed work (tocsind storing events as
tocsin_server, the CLI as tocsin_admin, later migrations) still works."""
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (PSQL, SCHEMA_DIR, Adapter, IntegrationCase, _pg_env, lit,  # noqa: E402
                     pack, pg_conninfo, run, tocsin, unique_id, wait_until)

# History: nobody but the owner changes or deletes a row.
HISTORY = ["events", "audit", "incident_revisions", "alert_acks", "rejected"]
# What tocsin_server may UPDATE or DELETE (its progress, and the current state the
# trigger of 004 derives from incident_revisions: since 010, incident_heads, which
# the views `incidents` and `incident_members` read). A table added here needs a reason.
SERVER_MAY_UPDATE = {"store_progress", "incident_heads"}
SERVER_MAY_DELETE = {"incident_heads"}
# What tocsin_admin may UPDATE (keys are revoked, never deleted; the registry
# trigger bumps registry_version).
ADMIN_MAY_UPDATE = {"adapters", "registry_version"}


class RolesTest(IntegrationCase):
    """One database, migrated; tocsind runs as tocsin_server."""

    # ---- helpers --------------------------------------------------------------------

    def psql(self, role, sql, check=False, env=None, conninfo=None):
        """Run sql as role (super, admin, server, console) in its own session."""
        return run([PSQL, "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose",
                    "-d", conninfo or pg_conninfo(self.db.name, role), "-c", sql],
                   check=check, env=env or _pg_env())

    def setUp(self):
        super().setUp()
        self.controls = []
        self.addCleanup(self.owner_runs_the_controls)

    def assertRefused(self, role, sql):
        """sql fails for role with insufficient_privilege; at the end of the test, every
        such statement must work for the owner (owner_runs_the_controls)."""
        p = self.psql(role, sql)
        self.assertNotEqual(p.returncode, 0, "%s may run: %s" % (role, sql))
        self.assertIn("42501", p.stderr, "%s: %s: expected 42501, got: %s" % (role, sql, p.stderr))
        if sql not in self.controls:
            self.controls.append(sql)

    def owner_runs_the_controls(self):
        """The refused statements, as the owner, in one transaction rolled back (nothing
        changes): a refusal was about privileges, not a statement that cannot run."""
        if not self.controls:
            return
        sql = "BEGIN; SET LOCAL ROLE tocsin_owner; %s; ROLLBACK" % "; ".join(self.controls)
        p = self.psql("super", sql)
        self.assertEqual(p.returncode, 0, "the owner cannot run a refused statement either "
                         "(a bad test statement?): %s" % p.stderr)

    def assertHistoryLocked(self, role):
        """No UPDATE, DELETE or TRUNCATE of a history table for role."""
        for table in HISTORY:
            st = self.write_statements(table)
            for what in ("update", "delete", "truncate"):
                self.assertRefused(role, st[what])

    def tables(self):
        return [r["name"] for r in self.db.query(
            "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]

    def columns(self, table):
        """The columns a statement may name (not generated, not dropped)."""
        return [r["name"] for r in self.db.query(
            "SELECT attname AS name FROM pg_attribute WHERE attrelid = %s::regclass "
            "AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum"
            % lit(table))]

    def write_statements(self, table):
        """Writes that change nothing when allowed (no rows), so that each is refused
        only for want of the privilege, and the owner's control run cannot fail on data."""
        cols = ", ".join(self.columns(table))
        first = self.columns(table)[0]
        return {
            "insert": "INSERT INTO %s (%s) SELECT %s FROM %s WHERE false"
                      % (table, cols, cols, table),
            "update": "UPDATE %s SET %s = %s WHERE false" % (table, first, first),
            "delete": "DELETE FROM %s WHERE false" % table,
            "truncate": "TRUNCATE %s CASCADE" % table,
        }

    # ---- the schema belongs to a role nobody logs in as ------------------------------

    def test_a_everything_is_owned_by_tocsin_owner(self):
        rows = self.db.query(
            "SELECT c.relname AS name, pg_get_userbyid(c.relowner) AS owner FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' "
            "AND c.relkind IN ('r', 'v', 'S', 'i', 'm', 'p')")
        self.assertGreater(len(rows), 20)
        self.assertEqual([r for r in rows if r["owner"] != "tocsin_owner"], [])
        self.assertEqual(self.db.scalar(
            "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'public'"),
            "tocsin_owner")
        roles = {r["rolname"]: r for r in self.db.query(
            "SELECT rolname, rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, "
            "rolinherit FROM pg_roles WHERE rolname LIKE 'tocsin\\_%'")}
        self.assertEqual(sorted(roles), ["tocsin_admin", "tocsin_console", "tocsin_owner",
                                         "tocsin_server"])
        self.assertFalse(roles["tocsin_owner"]["rolcanlogin"])
        for name, r in roles.items():
            for power in ("rolsuper", "rolcreaterole", "rolcreatedb", "rolbypassrls"):
                self.assertFalse(r[power], "%s has %s" % (name, power))
            self.assertFalse(r["rolinherit"], name)
        # tocsin_admin may become the owner (SET ROLE), nobody else
        members = self.db.query(
            "SELECT pg_get_userbyid(member) AS m FROM pg_auth_members "
            "WHERE roleid = 'tocsin_owner'::regrole")
        self.assertEqual(members, [{"m": "tocsin_admin"}])

    # ---- authentication ---------------------------------------------------------------

    def test_b_owner_cannot_log_in(self):
        env = dict(_pg_env(), PGPASSWORD="anything")
        c = "host=%s port=%d user=tocsin_owner dbname=%s passfile=/dev/null" % (
            harness.PG_SOCKET_DIR, harness.PG_PORT, self.db.name)
        p = run([PSQL, "-X", "-w", "-d", c, "-c", "SELECT 1"], check=False, env=env)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('password authentication failed for user "tocsin_owner"', p.stderr)
        # and the catalog agrees: no login, no password
        self.assertEqual(self.db.query(
            "SELECT rolcanlogin, rolpassword IS NULL AS nopw FROM pg_authid "
            "WHERE rolname = 'tocsin_owner'"), [{"rolcanlogin": False, "nopw": True}])

    def test_b_wrong_or_missing_password_refused(self):
        for role in ("super", "admin", "server", "console"):
            user = harness.PG_ROLES[role]
            c = "host=%s port=%d user=%s dbname=%s passfile=/dev/null" % (
                harness.PG_SOCKET_DIR, harness.PG_PORT, user, self.db.name)
            env = dict(_pg_env(), PGPASSWORD="not-the-password")
            p = run([PSQL, "-X", "-w", "-d", c, "-c", "SELECT 1"], check=False, env=env)
            self.assertNotEqual(p.returncode, 0, user)
            self.assertIn('password authentication failed for user "%s"' % user, p.stderr)
            env = _pg_env()
            env.pop("PGPASSWORD", None)
            p = run([PSQL, "-X", "-w", "-d", c, "-c", "SELECT 1"], check=False, env=env)
            self.assertNotEqual(p.returncode, 0, user)
            self.assertIn("no password supplied", p.stderr)
            # the right one, from its file, works
            self.assertEqual(self.psql(role, "SELECT current_user", check=True).stdout.strip(),
                             user)

    def test_b_scram_everywhere(self):
        rules = self.db.query("SELECT type, auth_method FROM pg_hba_file_rules")
        self.assertEqual(rules, [{"type": "local", "auth_method": "scram-sha-256"}])
        verifiers = self.db.query(
            "SELECT rolname, left(rolpassword, 14) AS v FROM pg_authid "
            "WHERE rolname IN ('tocsin', 'tocsin_admin', 'tocsin_server', 'tocsin_console') "
            "ORDER BY 1")
        self.assertEqual([v["v"] for v in verifiers], ["SCRAM-SHA-256$"] * 4)

    def test_b_password_files_are_private(self):
        d = harness.PG_PASS_DIR
        self.assertEqual(os.stat(d).st_mode & 0o777, 0o700)
        for role in harness.PG_ROLES.values():
            st = os.stat(os.path.join(d, role))
            self.assertEqual(st.st_mode & 0o777, 0o600, role)
            self.assertEqual(st.st_uid, os.getuid(), role)

    # ---- tocsin_server: tocsind ------------------------------------------------------------

    def test_c_server_cannot_change_the_schema(self):
        # nor hand out privileges (on what it holds, PostgreSQL only warns and grants
        # nothing: the console still cannot write)
        self.assertRefused("server", "GRANT SELECT ON audit TO tocsin_console")
        p = self.psql("server", "GRANT INSERT ON events TO tocsin_console")
        self.assertIn("no privileges were granted", p.stderr)
        self.assertRefused("console", "SELECT count(*) FROM audit")
        self.assertRefused("console", self.write_statements("events")["insert"])
        # (drops last: the owner's control runs them all in one transaction)
        for sql in ("ALTER TABLE events ADD COLUMN x int",
                    "ALTER TABLE audit DISABLE TRIGGER audit_append_only",
                    "CREATE TABLE evil (x int)",
                    "CREATE FUNCTION evil() RETURNS int LANGUAGE sql AS 'SELECT 1'",
                    "CREATE INDEX evil_index ON events (summary)",
                    "COMMENT ON TABLE events IS 'evil'",
                    "ALTER SEQUENCE audit_seq_seq RESTART",
                    "DROP VIEW alerts", "DROP TABLE events", "DROP TABLE audit CASCADE"):
            self.assertRefused("server", sql)
        p = self.psql("server", "SET ROLE tocsin_owner")
        self.assertIn("42501", p.stderr)

    def test_c_server_cannot_delete_or_rewrite_history(self):
        self.assertHistoryLocked("server")
        # the same with rows that exist (an event the server stored itself)
        self.assertRefused("server", "DELETE FROM events")
        self.assertRefused("server", "DELETE FROM audit")
        self.assertRefused("server", "UPDATE audit SET actor = 'someone else'")
        self.assertRefused("server", "UPDATE events SET severity = 5")

    def test_c_server_writes_only_what_it_must(self):
        for table in self.tables():
            st = self.write_statements(table)
            self.assertRefused("server", st["truncate"])
            if table not in SERVER_MAY_UPDATE:
                self.assertRefused("server", st["update"])
            if table not in SERVER_MAY_DELETE:
                self.assertRefused("server", st["delete"])
        # a drill's row: inserted at its start, only stopped_at set at its stop
        self.psql("server", "UPDATE drills SET stopped_at = now() WHERE false", check=True)
        self.assertRefused("server", "UPDATE drills SET planner = 'x', started_at = now() "
                                     "WHERE false")
        # it writes the audit trail, never reads it (nor the view of it and the rejects)
        self.assertRefused("server", "SELECT count(*) FROM audit")
        self.assertRefused("server", "SELECT count(*) FROM audit_trail")
        # keys and the asset registry are the operator's
        for table in ("adapters", "assets", "dependencies", "registry_version",
                      "registry_generation", "schema_migrations"):
            self.assertRefused("server", self.write_statements(table)["insert"])

    def test_c_audit_role_cannot_be_forged(self):
        self.assertRefused("server", "INSERT INTO audit (actor, action, db_role) "
                                     "VALUES ('x', 'forged', 'tocsin_admin')")
        self.assertRefused("admin", "INSERT INTO audit (actor, action, db_role) "
                                    "VALUES ('x', 'forged', 'tocsin_server')")
        # without it, PostgreSQL says who wrote the row
        self.psql("server", "INSERT INTO audit (actor, action) VALUES ('t', 'test.role')",
                  check=True)
        self.assertEqual(self.db.scalar(
            "SELECT db_role FROM audit WHERE action = 'test.role'"), "tocsin_server")

    def test_c_server_stores_events_end_to_end(self):
        self.assertIn("user=tocsin_server", self.server.config["store"]["conninfo"])
        a = self.adapter()
        evs = [a.event() for _ in range(5)]
        for ev in evs:
            self.assertReply(a.send(ev), ok=[ev["id"]], dup=[], err_codes={})
        self.wait_stored(a.source, [e["id"] for e in evs])
        # its connections are tocsin_server's
        users = {r["u"] for r in self.db.query(
            "SELECT usename AS u FROM pg_stat_activity WHERE datname = %s "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            % lit(self.db.name))}
        self.assertEqual(users, {"tocsin_server"})
        # and a refused handshake reaches the audit trail through it
        stranger = self.new_key("stranger-%s" % unique_id("k"))
        s = Adapter(self.server, stranger, timeout=2.0)
        self.addCleanup(s.close)
        self.assertIsNone(s.send_raw(pack(s.event()), timeout=2.0))
        rows = wait_until(lambda: self.db.query(
            "SELECT db_role FROM audit WHERE action = 'auth.refused' AND subject = %s"
            % lit(stranger.public.decode())), 15, 0.2, "the auth.refused audit row")
        self.assertEqual(rows[0]["db_role"], "tocsin_server")

    # ---- tocsin_console: read only --------------------------------------------------------

    def test_d_console_cannot_write_anything(self):
        for table in self.tables():
            for what, sql in self.write_statements(table).items():
                self.assertRefused("console", sql)
        for sql in ("ALTER TABLE events ADD COLUMN x int", "DROP TABLE events",
                    "CREATE TABLE evil (x int)", "SELECT * FROM audit",
                    "SELECT * FROM audit_trail", "SELECT nextval('audit_seq_seq')"):
            self.assertRefused("console", sql)
        # it reads the rest
        for table in self.tables():
            if table != "audit":
                self.psql("console", "SELECT count(*) FROM %s" % table, check=True)
        # and the views: alerts (005), incidents and incident_members (010: heads
        # joined to their revisions)
        for view in ("alerts", "incidents", "incident_members"):
            self.psql("console", "SELECT count(*) FROM %s" % view, check=True)

    # ---- tocsin_admin: the operator CLI ---------------------------------------------------

    def test_e_admin_cannot_rewrite_history_without_becoming_the_owner(self):
        self.assertHistoryLocked("admin")
        for table in self.tables():
            if table not in ADMIN_MAY_UPDATE:
                self.assertRefused("admin", self.write_statements(table)["update"])
        for sql in ("ALTER TABLE events ADD COLUMN x int", "CREATE TABLE evil (x int)",
                    "DELETE FROM adapters WHERE false",
                    self.write_statements("events")["insert"], "DROP VIEW audit_trail",
                    "DROP TABLE audit CASCADE"):
            self.assertRefused("admin", sql)
        # it reads the trail (tocsin audit), its view of the rejects included
        self.psql("admin", "SELECT count(*) FROM audit_trail", check=True)

    # ---- the audit table: append-only for everyone but the owner ------------------------

    def test_f_audit_append_only_even_for_a_superuser(self):
        self.psql("admin", "INSERT INTO audit (actor, action) VALUES ('t', 'test.keep')",
                  check=True)
        for sql in ("DELETE FROM audit WHERE action = 'test.keep'",
                    "UPDATE audit SET actor = 'x' WHERE action = 'test.keep'",
                    "TRUNCATE audit"):
            p = self.psql("super", sql)
            self.assertNotEqual(p.returncode, 0, sql)
            self.assertIn("42501", p.stderr)
            self.assertIn("audit is append-only", p.stderr)
        self.assertEqual(self.db.scalar(
            "SELECT count(*) FROM audit WHERE action = 'test.keep' AND actor = 't'"), 1)
        # the owner may (retention), deliberately: here in a transaction rolled back
        p = self.psql("super", "BEGIN; SET LOCAL ROLE tocsin_owner; "
                               "DELETE FROM audit WHERE action = 'test.keep'; ROLLBACK")
        self.assertEqual(p.returncode, 0, p.stderr)

    # ---- later migrations ----------------------------------------------------------------

    def test_g_later_migration_runs_as_owner_with_default_privileges(self):
        d = tempfile.mkdtemp(prefix="tocsin-schema-")
        self.addCleanup(shutil.rmtree, d, True)
        for f in os.listdir(SCHEMA_DIR):
            if f.endswith(".sql"):
                shutil.copy(os.path.join(SCHEMA_DIR, f), d)
        with open(os.path.join(d, "999_later.sql"), "w") as f:
            f.write("CREATE TABLE later_t (id bigserial PRIMARY KEY, v text);\n"
                    "GRANT INSERT ON later_t TO tocsin_server;\n"
                    "GRANT USAGE ON SEQUENCE later_t_id_seq TO tocsin_server;\n")
        # not as tocsind: it cannot become the owner, and says so
        p = tocsin("--db", self.db.server_conninfo, "--schema", d, "db", "migrate", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn('owned by the role tocsin_owner, which the role "tocsin_server" cannot '
                      'take; connect as tocsin_admin', p.stderr)
        p = tocsin("--db", self.db.admin_conninfo, "--schema", d, "db", "migrate")
        self.assertEqual(p.stdout.strip(), "applied 999_later.sql")
        self.assertEqual(self.db.scalar(
            "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'later_t'"),
            "tocsin_owner")
        self.assertEqual(self.db.scalar(
            "SELECT db_role FROM audit WHERE action = 'db.migrate' AND subject = '999_later.sql'"),
            "tocsin_admin")
        # default privileges: everyone reads, nobody writes unless granted
        for role in ("admin", "server", "console"):
            self.psql(role, "SELECT count(*) FROM later_t", check=True)
        self.psql("server", "INSERT INTO later_t (v) VALUES ('x')", check=True)
        self.assertRefused("server", "UPDATE later_t SET v = 'y'")
        self.assertRefused("server", "DELETE FROM later_t")
        self.assertRefused("console", "INSERT INTO later_t (v) VALUES ('x')")
        self.assertRefused("admin", "INSERT INTO later_t (v) VALUES ('x')")
        p = tocsin("--db", self.db.admin_conninfo, "--schema", d, "db", "status")
        self.assertIn("schema is up to date (version 999)", p.stdout)


if __name__ == "__main__":
    unittest.main()
