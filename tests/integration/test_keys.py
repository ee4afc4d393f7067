"""test_keys.py - keys over time (issue 6 item 9; docs/security.md "Keys over time"):
`tocsin adapter rotate` with a grace period during which both keys work, then only the new
one (at the handshake, and on a connection already open with the old key, within 5 s),
the adapter keeping its scopes and rate limit; keys with an expiry refused past it, warned
of beforehand (log and metric); console and planner keys the same; every change and every
end audited; and a clear error, with a nonzero exit, for each bad input."""
import os
import re
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Adapter, Console, IntegrationCase, console_add, free_port,  # noqa: E402
                     lit, pack, tocsin, unique_id, wait_until)

METRICS_PORT = free_port()
CUT_WITHIN_S = 5.0


def name_of(prefix):
    return "%s-%s" % (prefix, unique_id("k").replace("_", "-"))


class KeysTest(IntegrationCase):
    SERVER_OPTIONS = {"metrics.listen": "127.0.0.1:%d" % METRICS_PORT,
                      "keys.warn_before": "1h"}

    def cli(self, *args, check=True):
        return tocsin("--db", self.db.admin_conninfo, *args, check=check)

    def admitted(self, a, timeout=10):
        """Wait until `a` gets an ok (its key known to the running server); the event id."""
        def ok():
            ev = a.event()
            r = a.send_raw(pack(ev), timeout=1.0)
            return ev["id"] if r is not None and r["ok"] == [ev["id"]] else None
        return wait_until(ok, timeout, 0.1, "the key of %s to be admitted" % a.keypair.name)

    def refused_at_handshake(self, kp):
        """A new connection with `kp` gets no reply (the ZAP handler refused it)."""
        a = Adapter(self.server, kp, timeout=2.0)
        self.addCleanup(a.close)
        return a.send_raw(pack(a.event()), timeout=2.0) is None

    def scrape(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % METRICS_PORT,
                                    timeout=5) as r:
            return r.read().decode()

    def metric(self, text, name, labels):
        m = re.search(r"^%s\{%s\} (\S+)$" % (re.escape(name), re.escape(labels)), text, re.M)
        return float(m.group(1)) if m else None

    def audit_rows(self, action, subject):
        return self.db.query("SELECT actor, origin, detail, db_role FROM audit WHERE action = %s "
                             "AND subject = %s ORDER BY seq" % (lit(action), lit(subject)))

    # ---- rotation ----------------------------------------------------------------------

    def test_a_rotate_both_keys_in_grace_then_only_the_new_one(self):
        name = name_of("rot")
        old, new = self.new_key(name + "-old"), self.new_key(name + "-new")
        self.cli("adapter", "add", name, "--key", old.pub_path, "--sectors", "energy",
                 "--assets", "ukpn.", "--rate", "400", "--burst", "50")
        live_old = Adapter(self.server, old, timeout=5.0)
        self.addCleanup(live_old.close)
        self.admitted(live_old)

        p = self.cli("adapter", "rotate", name, "--key", new.pub_path, "--grace", "3s")
        rotated_at = time.monotonic()
        self.assertIn('rotated adapter "%s": new key %s' % (name, new.public.decode()),
                      p.stdout)
        self.assertIn("the old key %s is valid until" % old.public.decode(), p.stdout)
        # the same name, scopes and limits; the old key kept until the grace ends
        row = self.db.query("SELECT public_key, prev_key, sectors, asset_prefixes, rate_per_s, "
                            "rate_burst, prev_key_until - now() < interval '3.5 s' AS soon "
                            "FROM adapters WHERE name = %s" % lit(name))[0]
        self.assertEqual((row["public_key"], row["prev_key"]),
                         (new.public.decode(), old.public.decode()))
        self.assertEqual((row["rate_per_s"], row["rate_burst"]), (400, 50))
        self.assertTrue(row["soon"])
        lst = self.cli("adapter", "list").stdout.splitlines()
        self.assertEqual(lst[0].split(), ["NAME", "SECTORS", "ASSETS", "RATE", "KEY", "EXPIRES",
                                          "OLD_KEY_UNTIL", "CREATED", "REVOKED"])
        mine = [l.split() for l in lst[1:] if l.split()[0] == name][0]
        self.assertEqual(mine[1:6], ["energy", "ukpn.", "400/s,burst=50", new.public.decode(),
                                     "-"])
        self.assertRegex(mine[6], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

        # during the grace: the new key, a new connection with the old one, the live one
        fresh_new = Adapter(self.server, new, timeout=5.0)
        self.addCleanup(fresh_new.close)
        self.admitted(fresh_new)
        fresh_old = Adapter(self.server, old, timeout=5.0)
        self.addCleanup(fresh_old.close)
        ev = fresh_old.event()
        self.assertEqual(fresh_old.send(ev)["ok"], [ev["id"]])
        ev = live_old.event()
        self.assertEqual(live_old.send(ev)["ok"], [ev["id"]])
        self.assertLess(time.monotonic() - rotated_at, 3.0, "the checks took the whole grace")
        # the new key keeps the scopes: another prefix and another sector are refused
        r = fresh_new.send([fresh_new.event(asset="tfl.sig.1"),
                            fresh_new.event(sector="water", asset="ukpn.sub.9")])
        self.assertEqual([e["code"] for e in r["err"]], ["E_FORBIDDEN", "E_FORBIDDEN"], r)

        # the grace ends: the live old connection is cut within 5 s of its end
        grace_end = rotated_at + 3.0
        cut_at = None
        while time.monotonic() < grace_end + CUT_WITHIN_S + 1:
            ev = live_old.event()
            r = live_old.send(ev, timeout=3.0)
            if r["err"]:
                self.assertEqual([e["code"] for e in r["err"]], ["E_FORBIDDEN"], r)
                self.assertIn("rotated-out key past its grace period", r["err"][0]["msg"])
                cut_at = time.monotonic()
                break
            time.sleep(0.1)
        self.assertIsNotNone(cut_at, "the old key still accepted %.0f s after the grace"
                             % (CUT_WITHIN_S + 1))
        self.assertLessEqual(cut_at - grace_end, CUT_WITHIN_S)
        # (grace_end is taken after the CLI returned, a little after PostgreSQL's now())
        self.assertGreater(cut_at, grace_end - 1.5, "cut before the grace ended")
        ev = live_old.event()
        self.assertEqual(live_old.send(ev)["ok"], [])
        # a new handshake with the old key is refused; the new key goes on working
        self.assertTrue(self.refused_at_handshake(old), "the old key admitted after its grace")
        ev = fresh_new.event()
        self.assertEqual(fresh_new.send(ev)["ok"], [ev["id"]])
        fresh_new.connect()
        self.admitted(fresh_new)
        self.assertEqual(self.cli("adapter", "list").stdout.count(name), 1)

        # audited: the rotation (who, what, from where), the old key's end (tocsind), the
        # refusals with the reason
        rot = self.audit_rows("adapter.rotate", name)
        self.assertEqual(len(rot), 1)
        self.assertEqual(rot[0]["origin"], "cli")
        self.assertEqual(rot[0]["db_role"], "tocsin_admin")
        self.assertEqual(rot[0]["detail"]["key"], new.public.decode())
        self.assertEqual(rot[0]["detail"]["old_key"], old.public.decode())
        self.assertEqual(rot[0]["detail"]["grace_s"], 3)
        ret = wait_until(lambda: self.audit_rows("key.retired", name), 10, 0.2,
                         "the key.retired row")
        self.assertEqual(ret[0]["detail"]["key"], old.public.decode())
        self.assertEqual(ret[0]["actor"], "tocsind-it")
        self.assertEqual(ret[0]["db_role"], "tocsin_server")
        refusals = wait_until(lambda: self.db.query(
            "SELECT action, detail->>'reason' AS reason FROM audit WHERE subject = %s "
            "AND action IN ('ingest.refused', 'auth.refused')" % lit(old.public.decode())),
            10, 0.2, "the refusals of the old key")
        self.assertEqual({r["action"] for r in refusals}, {"ingest.refused", "auth.refused"})
        self.assertTrue(all("rotated-out key past its grace period" in r["reason"] or
                            "not registered" in r["reason"] for r in refusals), refusals)
        # the log says it too
        self.assertIn('msg="rotated-out key retired" kind=adapter name=%s' % name,
                      self.server.log())

    def test_b_rotate_grace_zero_cuts_at_once_and_new_key_keeps_rate_limit(self):
        name = name_of("rot0")
        old, new = self.new_key(name + "-old"), self.new_key(name + "-new")
        self.cli("adapter", "add", name, "--key", old.pub_path, "--sectors", "energy",
                 "--rate", "5", "--burst", "3")
        live_old = Adapter(self.server, old, timeout=5.0)
        self.addCleanup(live_old.close)
        self.admitted(live_old)
        self.cli("adapter", "rotate", name, "--key", new.pub_path, "--grace", "0")
        t0 = time.monotonic()

        def cut():
            r = live_old.send(live_old.event(), timeout=3.0)
            return r if r["err"] else None
        r = wait_until(cut, CUT_WITHIN_S, 0.1, "the old key cut off")
        self.assertLessEqual(time.monotonic() - t0, CUT_WITHIN_S)
        self.assertEqual(r["err"][0]["code"], "E_FORBIDDEN")
        a = Adapter(self.server, new, timeout=5.0)
        self.addCleanup(a.close)
        self.admitted(a)
        # its own limit (burst 3) follows the name to the new key
        time.sleep(1.0)
        r = a.send([a.event() for _ in range(6)])
        self.assertIn("E_RATE", [e["code"] for e in r["err"]], r)
        self.assertIn("burst 3", r["err"][0]["msg"])

    # ---- expiry --------------------------------------------------------------------------

    def test_c_expiry_warned_then_refused_and_audited(self):
        name = name_of("exp")
        kp = self.new_key(name)
        p = self.cli("adapter", "add", name, "--key", kp.pub_path, "--sectors", "energy",
                     "--expires", "6s")
        added = time.monotonic()
        self.assertRegex(p.stdout, r"the key expires \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
        a = Adapter(self.server, kp, timeout=5.0)
        self.addCleanup(a.close)
        self.admitted(a)
        # warned of (within [keys] warn_before = 1h): the log and the metric
        wait_until(lambda: 'msg="key expires soon" kind=adapter name=%s' % name
                   in self.server.log(), 5, 0.1, "the expiry warning in the log")
        text = self.scrape()
        self.assertGreaterEqual(self.metric(text, "tocsin_keys_expiring", 'kind="adapter"'), 1)
        nxt = self.metric(text, "tocsin_key_next_expiry_seconds", 'kind="adapter"')
        self.assertIsNotNone(nxt)
        self.assertLessEqual(nxt, 6)
        lst = self.cli("adapter", "list").stdout
        self.assertRegex(lst, r"%s .* \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ " % re.escape(name))

        # past it: the live connection is refused, and a new handshake
        expires = added + 6.0
        cut_at = None
        while time.monotonic() < expires + CUT_WITHIN_S + 1:
            r = a.send(a.event(), timeout=3.0)
            if r["err"]:
                self.assertEqual(r["err"][0]["code"], "E_FORBIDDEN")
                self.assertIn('key expired of adapter "%s"' % name, r["err"][0]["msg"])
                cut_at = time.monotonic()
                break
            time.sleep(0.1)
        self.assertIsNotNone(cut_at, "an expired key still accepted")
        self.assertLessEqual(cut_at - expires, CUT_WITHIN_S)
        self.assertTrue(self.refused_at_handshake(kp), "an expired key admitted")
        self.assertIn("(expired)", self.cli("adapter", "list").stdout)
        # audited: the end (tocsind), the refusals with why
        wait_until(lambda: self.audit_rows("key.expired", name), 10, 0.2, "the key.expired row")
        reasons = wait_until(lambda: [r["reason"] for r in self.db.query(
            "SELECT detail->>'reason' AS reason FROM audit WHERE action = 'auth.refused' "
            "AND subject = %s" % lit(kp.public.decode()))], 10, 0.2, "auth.refused row")
        # (an earlier one may be from before the server read the new key: not registered)
        self.assertTrue(any('key expired of adapter "%s"' % name in r for r in reasons),
                        reasons)
        text = self.scrape()
        self.assertGreaterEqual(self.metric(text, "tocsin_keys_expired", 'kind="adapter"'), 1)
        # re-adding the name after a revoke gives it a new key and clears the expiry
        self.cli("adapter", "revoke", name)
        kp2 = self.new_key(name + "-2")
        self.cli("adapter", "add", name, "--key", kp2.pub_path, "--sectors", "energy")
        self.assertIsNone(self.db.scalar("SELECT expires_at FROM adapters WHERE name = %s"
                                         % lit(name)))

    # ---- consoles and planners: the same table, the same rules --------------------------

    def test_d_console_rotate_and_expiry(self):
        name = name_of("desk")
        old, new = self.new_key(name + "-old"), self.new_key(name + "-new")
        console_add(self.db, name, old)
        c_old = Console(self.server, old, timeout=5.0)
        self.addCleanup(c_old.close)
        wait_until(lambda: c_old.request_raw(pack({"op": "snapshot"}), timeout=1.0), 10, 0.1,
                   "the console admitted")
        p = self.cli("console", "rotate", name, "--key", new.pub_path, "--grace", "0s",
                     "--expires", "2099-01-01")
        self.assertIn("expires 2099-01-01T00:00:00Z", p.stdout)

        def refused():
            r = c_old.request_raw(pack({"op": "snapshot"}), timeout=1.0)
            return r is None or r.get("code") == "E_FORBIDDEN"
        wait_until(refused, CUT_WITHIN_S, 0.1, "the old console key refused")
        c_new = Console(self.server, new, timeout=5.0)
        self.addCleanup(c_new.close)
        r = wait_until(lambda: c_new.request_raw(pack({"op": "snapshot"}), timeout=1.0), 10,
                       0.1, "the new console key admitted")
        self.assertTrue(r.get("ok"), r)
        self.assertEqual(len(self.audit_rows("console.rotate", name)), 1)
        out = self.cli("console", "list").stdout
        self.assertIn("2099-01-01T00:00:00Z", out)
        # a planner has the verbs too
        pl = self.new_key(name + "-plan")
        p = self.cli("planner", "add", name + "-p", "--key", pl.pub_path, "--expires", "30d")
        self.assertIn("the key expires", p.stdout)

    # ---- bad input ----------------------------------------------------------------------

    def test_e_bad_inputs_are_clear_errors(self):
        name = name_of("bad")
        kp, other, fresh = (self.new_key(name), self.new_key(name + "-o"),
                            self.new_key(name + "-f"))
        self.cli("adapter", "add", name, "--key", kp.pub_path, "--sectors", "energy")
        self.cli("adapter", "add", name + "-o", "--key", other.pub_path, "--sectors", "water")
        cases = [
            (["adapter", "rotate", "nobody-" + name, "--key", fresh.pub_path], 1,
             'no adapter named "nobody-%s"' % name),
            (["console", "rotate", name, "--key", fresh.pub_path], 1,
             'no console named "%s"' % name),
            (["adapter", "rotate", name, "--key", fresh.pub_path, "--grace", "5x"], 1,
             '--grace: expected a duration from 0 to 90d like 90s, 30m, 24h, 7d, got "5x"'),
            (["adapter", "rotate", name, "--key", fresh.pub_path, "--grace", "91d"], 1,
             '--grace: expected a duration from 0 to 90d'),
            (["adapter", "rotate", name, "--key", fresh.pub_path, "--grace", "10"], 1,
             '--grace: expected a duration'),
            (["adapter", "rotate", name, "--key", fresh.pub_path, "--expires", "soon"], 1,
             '--expires: expected a date (2027-03-31), an RFC 3339 time'),
            (["adapter", "rotate", name, "--key", fresh.pub_path, "--expires", "2020-01-01"],
             1, '--expires: "2020-01-01" is not in the future'),
            (["adapter", "add", name + "-x", "--key", fresh.pub_path, "--sectors", "energy",
              "--expires", "0s"], 1, "--expires: expected a date"),
            (["adapter", "add", name + "-x", "--key", fresh.pub_path, "--sectors", "energy",
              "--expires", "2026-13-45"], 1, "--expires: expected a date"),
            (["adapter", "rotate", name, "--key", other.pub_path], 1,
             'this key is already registered to adapter "%s-o"' % name),
            (["adapter", "rotate", name, "--key", kp.pub_path], 1,
             'adapter "%s" is already registered with this key' % name),
            (["adapter", "rotate", name, "--key", kp.key_path], 1, "looks like a secret key"),
            (["adapter", "rotate", name], 2, "--key is required"),
            (["adapter", "rotate", "--key", fresh.pub_path], 2, "NAME is required"),
            (["adapter", "rotate", name, "--key", fresh.pub_path, "--sectors", "water"], 2,
             "unexpected argument --sectors"),
            (["adapter", "rotate", name, "--key", fresh.pub_path, "--grace"], 2,
             "--grace needs a value"),
        ]
        for args, rc, msg in cases:
            p = self.cli(*args, check=False)
            self.assertEqual(p.returncode, rc, (args, p.stderr))
            self.assertIn(msg, p.stderr, args)
        # nothing changed by any of them
        self.assertEqual(self.db.scalar("SELECT public_key FROM adapters WHERE name = %s"
                                        % lit(name)), kp.public.decode())
        self.assertEqual(self.audit_rows("adapter.rotate", name), [])

        # in the grace of a rotation: not again until it ends
        self.cli("adapter", "rotate", name, "--key", fresh.pub_path, "--grace", "1h")
        again = self.new_key(name + "-a")
        p = self.cli("adapter", "rotate", name, "--key", again.pub_path, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn('adapter "%s" is still in the grace period of its last rotation' % name,
                      p.stderr)
        # the old key never comes back, under any name
        p = self.cli("adapter", "add", name + "-y", "--key", kp.pub_path, "--sectors",
                     "energy", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn('this key was rotated out of adapter "%s"' % name, p.stderr)
        # a revoked adapter is not rotated (and its old key goes with the revocation)
        self.cli("adapter", "revoke", name)
        time.sleep(0.6)  # the registry poll (200 ms)
        self.assertTrue(self.refused_at_handshake(kp), "a revoked adapter's old key admitted")
        p = self.cli("adapter", "rotate", name, "--key", again.pub_path, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn('adapter "%s" is revoked (since' % name, p.stderr)
        self.assertIn("register a new key with tocsin adapter add", p.stderr)
        # once its row has moved on, the audit trail still remembers the old key
        self.cli("adapter", "add", name, "--key", again.pub_path, "--sectors", "energy")
        self.assertIsNone(self.db.scalar("SELECT prev_key FROM adapters WHERE name = %s"
                                         % lit(name)))
        p = self.cli("adapter", "add", name + "-z", "--key", kp.pub_path, "--sectors",
                     "energy", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("this key was rotated out", p.stderr)

    def test_f_check_config_validates_warn_before_with_its_line(self):
        cfg = os.path.join(self.tmp, "bad-keys.ini")
        with open(self.server.config_path) as f:
            text = f.read()
        self.assertIn("warn_before = 1h\n", text)
        text = text.replace("warn_before = 1h\n", "warn_before = 7 days\n")
        with open(cfg, "w") as f:
            f.write(text)
        line = text[:text.index("warn_before = 7 days")].count("\n") + 1
        from harness import TOCSIND, run
        p = run([TOCSIND, "--config", cfg, "--check-config"], check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(":%d: keys.warn_before: expected a duration between 0s and 366d"
                      % line, p.stderr)


if __name__ == "__main__":
    import unittest
    unittest.main()
