"""test_hostile.py - hostile peers (issue 6 item 6; docs/security.md "Hostile peers"): while
a well-behaved adapter sends an event every 20 ms and times each ack, the ingest endpoint
is offered an unknown key, a revoked key, the NULL and PLAIN mechanisms, the wrong server
key, raw TCP garbage, a slow-loris handshake, an oversized frame and 1,000 connections
opened and dropped. Each is refused or cut off, nothing of theirs is stored, the key-level
refusals and the failed handshakes are audited, and the well-behaved adapter is answered throughout within its
budget (p99 ack latency <= BUDGET_S; generous, as the CI machine has 2 cores)."""
import os
import socket
import sys
import threading
import time

import zmq

import harness
from harness import (Adapter, IntegrationCase, adapter_add, adapter_revoke, lit, make_event,
                     pack, unique_id, wait_until)

BUDGET_S = 0.5
HANDSHAKE_IVL_MS = 1500


class HostilePeersTest(IntegrationCase):
    SERVER_OPTIONS = {"ingest.handshake_ivl_ms": HANDSHAKE_IVL_MS}

    def start_steady(self):
        """The well-behaved adapter, on a thread: (latencies, failures, stop event)."""
        a = Adapter(self.server, self.keys["energy"], timeout=5.0)
        lat, failures, stop = [], [], threading.Event()

        def run():
            while not stop.is_set():
                t0 = time.monotonic()
                ev = a.event()
                r = a.send_raw(pack(ev), timeout=5.0)
                if r is None or r.get("ok") != [ev["id"]]:
                    failures.append(r)
                else:
                    lat.append(time.monotonic() - t0)
                time.sleep(0.02)
            a.close()
        th = threading.Thread(target=run, daemon=True)
        th.start()
        self.addCleanup(stop.set)
        return lat, failures, stop, th, a.source

    def silent(self, sock, ms=2000):
        """True when `sock` got no reply within ms."""
        return sock.poll(ms) == 0

    def zmq_client(self, **opts):
        s = harness.context().socket(zmq.DEALER)
        s.linger = 0
        for k, v in opts.items():
            setattr(s, k, v)
        s.connect(self.server.endpoint)
        self.addCleanup(s.close, 0)
        return s

    def tcp(self):
        host, port = self.server.endpoint[len("tcp://"):].rsplit(":", 1)
        return socket.create_connection((host, int(port)), timeout=5)

    def test_hostile_peers_refused_while_a_good_adapter_is_served(self):
        lat, failures, stop, th, good_source = self.start_steady()
        time.sleep(0.5)
        sources = []

        def hostile_event():
            src = "it/hostile/" + unique_id("s")
            sources.append(src)
            return pack(make_event(src))

        # 1. an unknown key: refused at the handshake, audited
        stranger = self.new_key("stranger-" + unique_id("k"))
        s = self.zmq_client(curve_serverkey=self.server_key.public,
                            curve_publickey=stranger.public, curve_secretkey=stranger.secret)
        s.send(hostile_event())
        self.assertTrue(self.silent(s), "an unknown key got a reply")

        # 2. a revoked key
        name = "revoked-" + unique_id("a").replace("_", "-")
        kp = self.new_key(name)
        adapter_add(self.db, name, kp, ["energy"])
        adapter_revoke(self.db, name)
        time.sleep(0.5)  # the registry poll (200 ms)
        s = self.zmq_client(curve_serverkey=self.server_key.public,
                            curve_publickey=kp.public, curve_secretkey=kp.secret)
        s.send(hostile_event())
        self.assertTrue(self.silent(s), "a revoked key got a reply")

        # 3. the NULL mechanism, 4. PLAIN
        s = self.zmq_client()
        s.send(hostile_event())
        self.assertTrue(self.silent(s), "a NULL client got a reply")
        s = self.zmq_client(plain_username=b"energy", plain_password=b"secret")
        s.send(hostile_event())
        self.assertTrue(self.silent(s), "a PLAIN client got a reply")

        # 5. the wrong server key (a registered adapter key, a server it does not know)
        wrong = self.new_key("wrong-server-" + unique_id("k"))
        good = self.keys["energy"]
        s = self.zmq_client(curve_serverkey=wrong.public, curve_publickey=good.public,
                            curve_secretkey=good.secret)
        s.send(hostile_event())
        self.assertTrue(self.silent(s), "a client with the wrong server key got a reply")

        # 6. raw TCP garbage: the server closes the connection
        t = self.tcp()
        t.sendall(os.urandom(4096))
        t.settimeout(5)
        closed = False
        try:
            while t.recv(65536):
                pass  # whatever the server sent before closing
            closed = True
        except socket.timeout:
            closed = False  # still open after 5 s
        except OSError:
            closed = True  # reset
        t.close()
        self.assertTrue(closed, "garbage did not get the connection closed")

        # 7. slow loris: a greeting one byte at a time, slower than the handshake allows;
        # cut off by the handshake interval, not left open
        t = self.tcp()
        greeting = b"\xff" + b"\x00" * 8 + b"\x7f"
        t0 = time.monotonic()
        cut = False
        for b in greeting:
            try:
                t.sendall(bytes([b]))
            except OSError:
                cut = True
                break
            time.sleep(0.5)
        if not cut:
            t.settimeout(HANDSHAKE_IVL_MS / 1000 + 5)
            try:
                while t.recv(4096):
                    pass  # the server's greeting, then EOF
                cut = True
            except socket.timeout:
                cut = False  # still open: not cut off
            except OSError:
                cut = True  # reset
        t.close()
        self.assertTrue(cut, "a slow-loris handshake was not cut off")
        self.assertLess(time.monotonic() - t0, HANDSHAKE_IVL_MS / 1000 + 4,
                        "cut off, but not by the handshake interval")

        # 8. an oversized frame (over 1 MiB): dropped, the connection with it
        s = self.zmq_client(curve_serverkey=self.server_key.public,
                            curve_publickey=good.public, curve_secretkey=good.secret)
        s.send(b"\x00" * ((1 << 20) + 1024))
        self.assertTrue(self.silent(s), "an oversized frame got a reply")

        # 9. 1,000 connections opened and dropped, 200 at a time
        for _ in range(5):
            conns = [self.tcp() for _ in range(200)]
            for c in conns:
                c.close()

        time.sleep(1.0)
        stop.set()
        th.join(15)
        # the well-behaved adapter was served throughout, within its budget
        self.assertEqual(failures, [], "the well-behaved adapter lost replies")
        self.assertGreater(len(lat), 50)
        lat.sort()
        p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))]
        sys.stderr.write("\n  well-behaved adapter during the hostile matrix: %d acks, "
                         "p50 %.1f ms, p99 %.1f ms, max %.1f ms (budget %.0f ms)\n"
                         % (len(lat), 1000 * lat[len(lat) // 2], 1000 * p99, 1000 * lat[-1],
                            1000 * BUDGET_S))
        self.assertLessEqual(p99, BUDGET_S)
        # nothing of the hostile peers was stored; the server still takes a new adapter
        time.sleep(0.5)
        for src in sources:
            self.assertEqual(self.db.event_ids(src), [], src)
        a = self.adapter("energy")
        ev = a.event()
        self.assertEqual(a.send(ev)["ok"], [ev["id"]])
        # the key-level refusals are audited, with the key and where it came from
        for key in (stranger.public.decode(), kp.public.decode()):
            rows = wait_until(lambda: self.db.query(
                "SELECT origin FROM audit WHERE action = 'auth.refused' AND subject = %s"
                % lit(key)), 15, 0.2, "an auth.refused row for %s" % key)
            self.assertIn("127.0.0.1", rows[0]["origin"] or "")
        # the handshakes that never reached the ZAP handler are audited too, per address
        # and reason per minute (docs/security.md "Hostile peers"): NULL and PLAIN, the
        # wrong server key, and those never completed (garbage, slow loris, churn)
        def handshake_rows():
            rows = self.db.query("SELECT origin, detail FROM audit "
                                 "WHERE action = 'auth.handshake_failed' ORDER BY seq")
            reasons = " | ".join(r["detail"]["reason"] for r in rows)
            if all(w in reasons for w in ("mechanism mismatch", "cryptographic",
                                          "handshake not completed")):
                return rows
            return None
        rows = wait_until(handshake_rows, 15, 0.2, "auth.handshake_failed rows of each kind")
        self.assertTrue(any(r["origin"] == "127.0.0.1" and "mechanism mismatch"
                            in r["detail"]["reason"] for r in rows), rows)
        self.assertTrue(all(r["detail"]["count"] >= 1 for r in rows), rows)
        # bounded: over a thousand failed handshakes, a row per (address, reason) at most,
        # the rest summed up when the minute ends
        self.assertLessEqual(len(rows), 20, rows)
        # and `tocsin audit` shows them
        out = harness.tocsin("--db", self.db.admin_conninfo, "audit", "--action",
                             "auth.handshake_failed").stdout
        self.assertIn("mechanism mismatch", out)
        self.assertTrue(self.server.running, "tocsind died")


if __name__ == "__main__":
    import unittest
    unittest.main()
