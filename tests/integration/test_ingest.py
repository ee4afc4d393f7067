"""test_ingest.py - the ingest protocol (design 3.1, 7) against a real tocsind
and the real PostgreSQL: replies, error codes, scopes, keys, durability of acks."""
import os
import sys
import time
import unittest

import msgpack
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (Adapter, IntegrationCase, adapter_add, adapter_revoke, lit, make_event,  # noqa: E402
                     now_ms, pack, unique_id, wait_until)

MIB = 1024 * 1024


class IngestTest(IntegrationCase):
    """One tocsind for the class; every test uses its own source and ids."""

    # ---- happy path -----------------------------------------------------------------

    def test_happy_single_event_stored_with_its_fields(self):
        a = self.adapter()
        t = now_ms() - 5000
        ev = a.event(type="asset.degraded", sector="energy", asset="ukpn.sub.7", time_ms=t,
                     severity=2, summary="transformer temperature high", geo=[51.5072, -0.1276],
                     attrs={"feeder": "F12", "load_pct": 97, "temp_c": 88.5, "tripped": False})
        t0 = time.time()
        r = a.send(ev)
        self.assertReply(r, ok=[ev["id"]], dup=[], err_codes={})
        self.wait_stored(a.source, [ev["id"]], timeout=10)
        rows = self.db.query(
            "SELECT source, id, adapter, type, sector, asset, severity, summary, lat, lon, attrs,"
            " (extract(epoch FROM time) * 1000)::bigint AS time_ms,"
            " extract(epoch FROM received)::float8 AS received_s"
            " FROM events WHERE source = %s" % lit(a.source))
        self.assertEqual(len(rows), 1, rows)
        row = rows[0]
        self.assertEqual(row["source"], a.source)
        self.assertEqual(row["id"], ev["id"])
        self.assertEqual(row["adapter"], "energy")
        self.assertEqual(row["type"], "asset.degraded")
        self.assertEqual(row["sector"], "energy")
        self.assertEqual(row["asset"], "ukpn.sub.7")
        self.assertEqual(row["severity"], 2)
        self.assertEqual(row["summary"], "transformer temperature high")
        self.assertAlmostEqual(row["lat"], 51.5072, places=6)
        self.assertAlmostEqual(row["lon"], -0.1276, places=6)
        self.assertEqual(row["attrs"], {"feeder": "F12", "load_pct": 97, "temp_c": 88.5,
                                        "tripped": False})
        self.assertEqual(row["time_ms"], t)
        self.assertLess(abs(row["received_s"] - t0), 30, "received is the server's clock")

    def test_happy_defaults_timestamp_ext_and_heartbeat(self):
        a = self.adapter()
        t = now_ms() - 1234
        down = a.event(type="asset.down", asset="ukpn.sub.8",
                       time_ms=msgpack.Timestamp.from_unix_nano(t * 1000000))
        up = a.event(type="asset.up", asset="ukpn.sub.8", time_ms=t + 1)
        hb = a.event(type="heartbeat", sector=None, asset=None)
        r = a.send([down, up, hb])
        self.assertReply(r, ok=[down["id"], up["id"], hb["id"]], dup=[], err_codes={})
        self.wait_stored(a.source, [down["id"], up["id"], hb["id"]])
        rows = {row["id"]: row for row in self.db.query(
            "SELECT id, type, sector, asset, severity, (extract(epoch FROM time) * 1000)::bigint"
            " AS time_ms FROM events WHERE source = %s" % lit(a.source))}
        self.assertEqual(rows[down["id"]]["severity"], 2, "asset.down defaults to severity 2")
        self.assertEqual(rows[down["id"]]["time_ms"], t, "MessagePack timestamp extension")
        self.assertEqual(rows[up["id"]]["severity"], 5, "asset.up defaults to severity 5")
        self.assertEqual(rows[hb["id"]]["type"], "heartbeat")
        self.assertIsNone(rows[hb["id"]]["sector"])
        self.assertIsNone(rows[hb["id"]]["asset"])

    def test_happy_batch_of_100(self):
        a = self.adapter()
        evs = [a.event(asset="ukpn.sub.%d" % i) for i in range(100)]
        r = a.send(evs)
        self.assertReply(r, ok=[e["id"] for e in evs], dup=[], err_codes={})
        self.wait_stored(a.source, [e["id"] for e in evs])
        self.assertEqual(self.db.scalar("SELECT count(*) FROM events WHERE source = %s"
                                        % lit(a.source)), 100)

    def test_batch_of_1000_accepted_and_1001_refused(self):
        a = self.adapter()
        evs = [a.event(asset="ukpn.b.%d" % i) for i in range(1000)]
        r = a.send(evs)
        self.assertReply(r, ok=[e["id"] for e in evs], dup=[], err_codes={})
        over = [a.event() for _ in range(1001)]
        r = a.send(over)
        self.assertEqual(r["ok"], [], r)
        self.assertEqual([e["code"] for e in r["err"]], ["E_DECODE"], r)
        self.wait_stored(a.source, [e["id"] for e in evs])
        time.sleep(0.5)
        self.assertEqual(self.db.scalar("SELECT count(*) FROM events WHERE source = %s"
                                        % lit(a.source)), 1000)

    def test_req_socket_envelope_gets_a_reply(self):
        a = self.adapter(socket_type=zmq.REQ)
        ev = a.event()
        self.assertReply(a.send(ev), ok=[ev["id"]], dup=[], err_codes={})
        ev2 = a.event()
        self.assertReply(a.send(ev2), ok=[ev2["id"]], dup=[], err_codes={})
        self.wait_stored(a.source, [ev["id"], ev2["id"]])

    def test_frame_of_exactly_1mib_is_answered(self):
        # Design 3.1: a frame is "at most 1 MiB": one of exactly 1 MiB is legal.
        a = self.adapter()
        frame, ids = _batch_of_size(a, MIB)
        self.assertEqual(len(frame), MIB)
        r = a.send_raw(frame, timeout=15)
        self.assertIsNotNone(r, "a frame of exactly 1 MiB (the protocol's maximum) got no "
                                "reply; log:\n" + self.server.log_tail())
        self.assertReply(r, ok=ids, dup=[], err_codes={})

    # ---- duplicates -----------------------------------------------------------------

    def test_duplicates_answered_dup_and_stored_once_also_after_restart(self):
        a = self.adapter()
        ev = a.event()
        self.assertReply(a.send(ev), ok=[ev["id"]], dup=[], err_codes={})
        self.assertReply(a.send(ev), ok=[], dup=[ev["id"]], err_codes={})
        # The same id twice in one batch: the second is a duplicate of the first.
        ev2 = a.event()
        r = a.send([ev2, ev2, ev])
        self.assertReply(r, ok=[ev2["id"]], dup=[ev2["id"], ev["id"]], err_codes={})
        # The same id from another source is another event.
        other = dict(ev, source=a.source + "/other")
        self.assertReply(a.send(other), ok=[ev["id"]], dup=[], err_codes={})
        self.wait_stored(a.source, [ev["id"], ev2["id"]])

        self.server.restart()
        a.connect()
        self.assertReply(a.send(ev), ok=[], dup=[ev["id"]], err_codes={})
        self.assertReply(a.send([ev2, other]), ok=[], dup=[ev2["id"], ev["id"]], err_codes={})
        time.sleep(1.0)
        rows = self.db.query("SELECT source, id, count(*) AS n FROM events WHERE source IN (%s, %s)"
                             " GROUP BY source, id" % (lit(a.source), lit(other["source"])))
        self.assertEqual(sorted((r["source"], r["id"], r["n"]) for r in rows),
                         sorted([(a.source, ev["id"], 1), (a.source, ev2["id"], 1),
                                 (other["source"], ev["id"], 1)]))

    # ---- E_DECODE -------------------------------------------------------------------

    def _one_frame_error(self, a, data, code):
        r = a.send_raw(data)
        self.assertIsNotNone(r, "no reply to %r; log:\n%s" % (data[:40], self.server.log_tail()))
        self.assertEqual(r["ok"], [], r)
        self.assertEqual(r["dup"], [], r)
        self.assertEqual(len(r["err"]), 1, r)
        e = r["err"][0]
        self.assertEqual(e["code"], code, r)
        self.assertIsNone(e["i"], r)
        self.assertIsInstance(e["msg"], str)
        self.assertTrue(e["msg"], r)
        return e

    def test_e_decode(self):
        a = self.adapter()
        self._one_frame_error(a, b"\xc1", "E_DECODE")  # never used in MessagePack
        self._one_frame_error(a, b"this is not messagepack at all \x00\xff", "E_DECODE")
        # array32 declaring 4 294 967 295 elements in 5 bytes (design 7: bounded decoder)
        self._one_frame_error(a, bytes.fromhex("dd ff ff ff ff"), "E_DECODE")
        # map32 declaring 4G entries
        self._one_frame_error(a, bytes.fromhex("df ff ff ff ff"), "E_DECODE")
        self._one_frame_error(a, b"\xdc\xff\xff", "E_DECODE")  # array16, 65535 missing
        ev = a.event()
        self._one_frame_error(a, pack(ev) + b"\x00", "E_DECODE")  # trailing bytes
        self._one_frame_error(a, pack(ev)[:-3], "E_DECODE")  # truncated
        # nesting beyond the limit (event > attrs > array > array > array > str)
        self._one_frame_error(a, pack(a.event(attrs={"x": [[["deep"]]]})), "E_DECODE")
        self._one_frame_error(a, b"", "E_DECODE")  # an empty frame
        self._one_frame_error(a, pack([]), "E_DECODE")  # an empty batch
        # the connection still works
        ok = a.event()
        self.assertReply(a.send(ok), ok=[ok["id"]], dup=[], err_codes={})
        self.wait_stored(a.source, [ok["id"]])
        self.assertEqual(self.db.event_ids(a.source), [ok["id"]])

    def test_multipart_message_is_refused(self):
        a = self.adapter()
        ev = a.event()
        a.sock.send_multipart([pack(ev), pack(ev)])
        self.assertTrue(a.sock.poll(10000), "no reply to a two-part message")
        r = msgpack.unpackb(a.sock.recv(), raw=False)
        self.assertEqual(r["ok"], [], r)
        self.assertEqual([e["code"] for e in r["err"]], ["E_DECODE"], r)

    # ---- E_SCHEMA -------------------------------------------------------------------

    def _schema_error(self, a, ev, field, index=0):
        r = a.send(ev)
        self.assertEqual(r["ok"], [], r)
        self.assertEqual(len(r["err"]), 1, r)
        e = r["err"][0]
        self.assertEqual(e["code"], "E_SCHEMA", r)
        self.assertEqual(e["i"], index, r)
        self.assertIn(field, e["msg"], "the E_SCHEMA message must name the field %r" % field)
        return e

    def test_e_schema_names_the_field(self):
        a = self.adapter()
        cases = []

        def drop(key):
            ev = a.event()
            del ev[key]
            return ev
        for key in ("id", "source", "type", "time", "sector", "asset"):
            cases.append((drop(key), key))
        cases += [
            (a.event(severity="high"), "severity"),
            (a.event(severity=9), "severity"),
            (a.event(severity=0), "severity"),
            (a.event(id=42), "id"),
            (a.event(id=""), "id"),
            (a.event(id="x" * 129), "id"),
            (a.event(time="yesterday"), "time"),
            (a.event(type="asset.exploded"), "type"),
            (a.event(sector="enrgy"), "sector"),
            (a.event(asset=7), "asset"),
            (a.event(summary="s" * 513), "summary"),
            (a.event(geo=[51.5]), "geo"),
            (a.event(geo=[91.0, 0.0]), "geo"),
            (a.event(geo="51.5,-0.1"), "geo"),
            (a.event(attrs=[1, 2]), "attrs"),
            (a.event(attrs={"k": [1]}), "attrs"),
            (a.event(attrs={"k%d" % i: i for i in range(33)}), "attrs"),
            (a.event(colour="red"), "colour"),
        ]
        src = dict(a.event())
        src["source"] = ""
        cases.append((src, "source"))
        for ev, field in cases:
            with self.subTest(field=field, event=ev):
                e = self._schema_error(a, ev, field)
                if isinstance(ev.get("id"), str) and ev["id"] and len(ev["id"]) <= 128 \
                        and field != "id":
                    self.assertEqual(e["id"], ev["id"], "the error carries the event's id")
        # A map whose top level is not an event: neither map nor array.
        r = a.send_raw(pack("just a string"))
        self.assertIsNotNone(r)
        self.assertEqual([e["code"] for e in r["err"]], ["E_SCHEMA"], r)
        # Items of a batch that are not maps.
        r = a.send([a.event(), 17])
        self.assertEqual(len(r["ok"]), 1, r)
        self.assertEqual({e["i"]: e["code"] for e in r["err"]}, {1: "E_SCHEMA"}, r)
        time.sleep(0.5)
        self.assertEqual(len(self.db.event_ids(a.source)), 1)

    # ---- E_FORBIDDEN ----------------------------------------------------------------

    def test_e_forbidden_sector_and_asset_prefix(self):
        e = self.adapter("energy")
        ev = e.event(sector="water", asset="thames.pump.1")
        r = e.send(ev)
        self.assertReply(r, ok=[], dup=[], err_codes={0: "E_FORBIDDEN"})
        self.assertIn("sector", r["err"][0]["msg"])
        self.assertEqual(r["err"][0]["id"], ev["id"])

        s = self.adapter("scoped")
        allowed = [s.event(asset="ukpn.sub.1"), s.event(asset="sub:42")]
        r = s.send(allowed)
        self.assertReply(r, ok=[x["id"] for x in allowed], dup=[], err_codes={})
        bad_asset = s.event(asset="sse.sub.1")
        bad_sector = s.event(sector="communications", asset="ukpn.mast.1")
        r = s.send([bad_asset, bad_sector])
        self.assertReply(r, ok=[], dup=[], err_codes={0: "E_FORBIDDEN", 1: "E_FORBIDDEN"})
        msgs = {x["i"]: x["msg"] for x in r["err"]}
        self.assertIn("asset", msgs[0])
        self.assertIn("sector", msgs[1])
        self.wait_stored(s.source, [x["id"] for x in allowed])
        time.sleep(0.5)
        self.assertEqual(self.db.event_ids(e.source), [])
        self.assertEqual(sorted(self.db.event_ids(s.source)), sorted(x["id"] for x in allowed))

    # ---- E_TIME ---------------------------------------------------------------------

    def test_e_time_far_future(self):
        a = self.adapter()
        soon = a.event(time_ms=now_ms() + 60 * 1000)       # within max_future_s = 300
        late = a.event(time_ms=now_ms() + 3600 * 1000)     # an hour ahead
        r = a.send([soon, late])
        self.assertReply(r, ok=[soon["id"]], dup=[], err_codes={1: "E_TIME"})
        self.assertIn("time", r["err"][0]["msg"])
        self.wait_stored(a.source, [soon["id"]])
        time.sleep(0.5)
        self.assertEqual(self.db.event_ids(a.source), [soon["id"]])

    # ---- mixed batch ----------------------------------------------------------------

    def test_mixed_batch(self):
        a = self.adapter("energy")
        earlier = a.event()
        self.assertReply(a.send(earlier), ok=[earlier["id"]], dup=[], err_codes={})
        v0, v4 = a.event(), a.event(type="asset.alarm")
        bad = a.event(severity="loud")
        forbidden = a.event(sector="health", asset="nhs.royal-london")
        future = a.event(time_ms=now_ms() + 86400 * 1000)
        batch = [v0, bad, earlier, forbidden, v4, future]
        r = a.send(batch)
        self.assertReply(r, ok=[v0["id"], v4["id"]], dup=[earlier["id"]],
                         err_codes={1: "E_SCHEMA", 3: "E_FORBIDDEN", 5: "E_TIME"})
        ids = {e["i"]: e["id"] for e in r["err"]}
        self.assertEqual(ids, {1: bad["id"], 3: forbidden["id"], 5: future["id"]})
        self.wait_stored(a.source, [earlier["id"], v0["id"], v4["id"]])
        time.sleep(0.5)
        self.assertEqual(sorted(self.db.event_ids(a.source)),
                         sorted([earlier["id"], v0["id"], v4["id"]]))

    # ---- rejected input is kept -------------------------------------------------------

    def test_rejected_input_is_kept_with_its_code(self):
        a = self.adapter("energy")
        schema = a.event(severity="x")
        forbidden = a.event(sector="water", asset="w.1")
        future = a.event(time_ms=now_ms() + 86400 * 1000)
        garbage = b"\xc1garbage-" + a.source.encode()
        for ev in (schema, forbidden, future):
            r = a.send(ev)
            self.assertEqual(len(r["err"]), 1, r)
        self.assertIsNotNone(a.send_raw(garbage))
        want = {schema["id"]: "E_SCHEMA", forbidden["id"]: "E_FORBIDDEN", future["id"]: "E_TIME"}

        def rows():
            rs = self.db.query(
                "SELECT event_id, code, adapter, item, msg FROM rejected WHERE event_id IN (%s)"
                % ", ".join(lit(i) for i in want))
            return rs if len(rs) >= len(want) else None
        rs = wait_until(rows, 15, 0.2, lambda: "rejected rows for %s; log:\n%s"
                        % (sorted(want), self.server.log_tail()))
        self.assertEqual({r["event_id"]: r["code"] for r in rs}, want)
        for r in rs:
            self.assertEqual(r["adapter"], "energy")
            self.assertEqual(r["item"], 0)
            self.assertTrue(r["msg"])
        hexraw = garbage.hex()
        dec = wait_until(lambda: self.db.query(
            "SELECT code, adapter, item, raw_truncated FROM rejected WHERE raw = '\\x%s'::bytea"
            % hexraw), 15, 0.2, "the garbage frame in rejected")
        self.assertEqual(dec[0]["code"], "E_DECODE")
        self.assertEqual(dec[0]["adapter"], "energy")
        self.assertIsNone(dec[0]["item"])
        self.assertFalse(dec[0]["raw_truncated"])

    # ---- keys -----------------------------------------------------------------------

    def test_unknown_key_refused_and_audited(self):
        stranger = self.new_key("stranger-%s" % unique_id("k"))
        a = Adapter(self.server, stranger, timeout=2.0)
        self.addCleanup(a.close)
        ev = a.event()
        self.assertIsNone(a.send_raw(pack(ev), timeout=2.0),
                          "an unregistered key must get no reply (handshake refused)")
        key = stranger.public.decode()
        rows = wait_until(lambda: self.db.query(
            "SELECT actor, action, subject, origin, detail FROM audit"
            " WHERE action = 'auth.refused' AND subject = %s" % lit(key)), 15, 0.2,
            lambda: "an auth.refused audit row for %s; log:\n%s" % (key, self.server.log_tail()))
        self.assertTrue(rows[0]["actor"])
        self.assertIn("127.0.0.1", rows[0]["origin"] or "")
        time.sleep(0.3)
        self.assertEqual(self.db.event_ids(a.source), [])

    def test_plain_text_client_refused(self):
        s = harness.context().socket(zmq.DEALER)
        s.linger = 0
        self.addCleanup(s.close, 0)
        s.connect(self.server.endpoint)
        src = "it/plain/" + unique_id("s")
        s.send(pack(make_event(src)))
        self.assertEqual(s.poll(2000), 0, "a client without CURVE must get no reply")
        time.sleep(0.3)
        self.assertEqual(self.db.event_ids(src), [])

    def test_revoked_key_cut_off_on_live_connection_within_5s(self):
        name = "rev-" + unique_id("a").replace("_", "-")
        kp = self.new_key(name)
        adapter_add(self.db, name, kp, ["energy"])
        a = Adapter(self.server, kp, timeout=5.0)
        self.addCleanup(a.close)
        # The registry is polled every 200 ms: wait until the new key is admitted.
        first = a.event()

        def admitted():
            r = a.send_raw(pack(first), timeout=1.0)
            return r if r is not None and (r["ok"] or r["dup"]) else None
        wait_until(admitted, 10, 0.1, "the new adapter key to be admitted")
        acked = {first["id"]}

        adapter_revoke(self.db, name)
        revoked_at = time.monotonic()
        refused_at = None
        sent_after = []
        while time.monotonic() - revoked_at < 6.0:
            ev = a.event()
            r = a.send(ev, timeout=3.0)
            if r["ok"] or r["dup"]:
                acked.update(r["ok"])
                acked.update(r["dup"])
                time.sleep(0.05)
                continue
            self.assertEqual([e["code"] for e in r["err"]], ["E_FORBIDDEN"], r)
            refused_at = time.monotonic()
            break
        self.assertIsNotNone(refused_at, "a revoked key still accepted 6 s after revocation")
        self.assertLessEqual(refused_at - revoked_at, 5.0)
        # From then on, nothing more is accepted on this connection.
        for _ in range(5):
            ev = a.event()
            sent_after.append(ev["id"])
            r = a.send([ev, a.event()], timeout=3.0)
            self.assertEqual(r["ok"], [], r)
            self.assertEqual(r["dup"], [], r)
            self.assertTrue(r["err"], r)
            self.assertTrue(all(e["code"] == "E_FORBIDDEN" for e in r["err"]), r)
        # A new connection with the revoked key is refused at the handshake.
        b = Adapter(self.server, kp, source=a.source, timeout=2.0)
        self.addCleanup(b.close)
        self.assertIsNone(b.send_raw(pack(b.event()), timeout=2.0))
        self.wait_stored(a.source, acked)
        time.sleep(0.5)
        self.assertEqual(set(self.db.event_ids(a.source)), acked,
                         "only events acked before the revocation are stored")
        key = kp.public.decode()
        wait_until(lambda: self.db.query(
            "SELECT action FROM audit WHERE subject = %s AND action LIKE '%%refused'" % lit(key)),
            15, 0.2, "an audit row for the revoked key")

    def test_frame_over_1mib_dropped_and_fresh_connection_works(self):
        a = self.adapter()
        frame = pack([a.event(attrs={"pad": "p" * 1100}) for _ in range(1000)])
        self.assertGreater(len(frame), MIB)
        self.assertIsNone(a.send_raw(frame, timeout=3.0),
                          "a frame over 1 MiB must get no reply (ZMQ_MAXMSGSIZE)")
        b = self.adapter()
        ev = b.event()
        self.assertReply(b.send(ev), ok=[ev["id"]], dup=[], err_codes={})
        time.sleep(0.5)
        self.assertEqual(self.db.event_ids(a.source), [])


class HorizonTest(IntegrationCase):
    """horizon_s = 3600: events older than an hour get E_TIME."""

    SERVER_OPTIONS = {"ingest.horizon_s": 3600, "journal.retain_s": 7200}
    ADAPTERS = {"energy": (["energy"], None)}

    def test_e_time_older_than_horizon(self):
        a = self.adapter()
        recent = a.event(time_ms=now_ms() - 1800 * 1000)
        old = a.event(time_ms=now_ms() - 7200 * 1000)
        ancient = a.event(time_ms=0)
        r = a.send([recent, old, ancient])
        self.assertReply(r, ok=[recent["id"]], dup=[], err_codes={1: "E_TIME", 2: "E_TIME"})
        for e in r["err"]:
            self.assertIn("time", e["msg"])
        self.wait_stored(a.source, [recent["id"]])
        time.sleep(0.5)
        self.assertEqual(self.db.event_ids(a.source), [recent["id"]])


class JournalFullTest(IntegrationCase):
    """journal.max_bytes = 2M (the minimum): once full, events get E_UNAVAILABLE."""

    SERVER_OPTIONS = {"journal.segment_bytes": "1M", "journal.max_bytes": "2M"}
    ADAPTERS = {"energy": (["energy"], None)}

    def test_e_unavailable_when_journal_full(self):
        a = self.adapter()
        acked, refused = [], []
        for n in range(40):
            batch = [a.event(summary="s" * 500, asset="ukpn.full.%d" % i) for i in range(500)]
            r = a.send(batch)
            acked += r["ok"]
            self.assertEqual(r["dup"], [], r)
            codes = {e["code"] for e in r["err"]}
            self.assertLessEqual(codes, {"E_UNAVAILABLE"}, r)
            refused += [e["id"] for e in r["err"]]
            self.assertEqual(len(r["ok"]) + len(r["err"]), len(batch), r)
            if r["err"]:
                break
        self.assertTrue(refused, "40 batches (~10 MiB) never filled a 2 MiB journal")
        self.assertTrue(acked, "nothing was accepted before the journal filled")
        # Each acked event takes more than 500 bytes of journal.
        self.assertLessEqual(len(acked), 2 * MIB // 500, "accepted more than max_bytes holds")
        # A batch is appended in order up to the first record that does not fit: small
        # events may still fit in what is left. Fill it up.
        for n in range(200):
            small = a.event()
            r = a.send(small)
            if r["err"]:
                break
            self.assertReply(r, ok=[small["id"]], dup=[], err_codes={})
            acked.append(small["id"])
        self.assertReply(r, ok=[], dup=[], err_codes={0: "E_UNAVAILABLE"})
        refused.append(small["id"])
        # Full now: refused again, and never taken for a duplicate of the refused copy.
        self.assertReply(a.send(small), ok=[], dup=[], err_codes={0: "E_UNAVAILABLE"})
        r = a.send(a.event(id=refused[0]))
        self.assertReply(r, ok=[], dup=[], err_codes={0: "E_UNAVAILABLE"})
        self.wait_stored(a.source, acked, timeout=30)
        time.sleep(1.0)
        stored = self.db.event_ids(a.source)
        self.assertEqual(len(stored), len(set(stored)))
        self.assertEqual(set(stored), set(acked), "exactly the acked events are stored")
        self.assertFalse(set(refused) & set(stored))


def _batch_of_size(a, size):
    """A batch frame of exactly `size` bytes of valid events; returns (bytes, ids).
    Fillers have 32 attrs of 600 bytes; the last event's 32 attrs (str16: 256..1024
    bytes, so each byte added costs exactly one) absorb the rest."""
    def last_event(extra):
        attrs = {}
        for k in range(32):
            take = min(768, extra)
            extra -= take
            attrs["q%02d" % k] = "y" * (256 + take)
        return a.event(attrs=attrs)

    evs = []
    while True:
        filler = a.event(attrs={"p%02d" % k: "x" * 600 for k in range(32)})
        if len(pack(evs + [filler, last_event(0)])) > size:
            break
        evs.append(filler)
    deficit = size - len(pack(evs + [last_event(0)]))
    if not 0 <= deficit <= 32 * 768:
        raise AssertionError("cannot build a frame of %d bytes (deficit %d)" % (size, deficit))
    evs.append(last_event(deficit))
    frame = pack(evs)
    if len(frame) != size:
        raise AssertionError("built %d bytes, wanted %d" % (len(frame), size))
    return frame, [e["id"] for e in evs]


if __name__ == "__main__":
    unittest.main()
