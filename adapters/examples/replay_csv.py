#!/usr/bin/python3
"""replay_csv.py - an example Tocsin adapter in Python, without the C SDK.

It sends the events of a CSV file to tocsind and prints each result, like
replay_csv.c, but speaks the wire protocol (design §3.1) itself, so that it
can serve as a template for an adapter in any language that has ZeroMQ and
MessagePack. It needs only Debian's packages:

    apt-get install python3-zmq python3-msgpack
    /usr/bin/python3 replay_csv.py --server-key server.pub --key adapter events.csv

(Use /usr/bin/python3: another python3 on PATH may lack those modules.)

The CSV header is: id,source,type,time,sector,asset,severity,summary
`time` is integer milliseconds since the epoch or ISO 8601 UTC
(2026-11-26T16:52:00Z). Empty severity or summary fields are left out.

Output, one line per event: "ok ID", "dup ID" or "err ID CODE message".
Exit status: 0 when every event got a result (even a refusal), 1 when some
did not before the timeout or the file has bad lines, 2 on a usage error.

The protocol in five rules:
 1. Connect a DEALER socket, with CURVE, to the server's ingest ROUTER.
 2. Send frames: each is ONE MessagePack map (an event) or an array of up
    to 1000 maps (a batch), at most 1 MiB.
 3. The server answers every frame, in order, with one map:
      {"ok": [ids], "dup": [ids], "err": [{"i", "id", "code", "msg"}]}
    "ok" comes only once the event is durably stored.
 4. Resend anything not in "ok" or "dup": events answered E_RATE or
    E_UNAVAILABLE (after a pause), and whole frames left unanswered after a
    timeout (a server restart can lose a reply). Resending is safe: the
    server recognises an event by source + id and answers "dup".
 5. Never resend E_DECODE, E_SCHEMA, E_FORBIDDEN or E_TIME: the event itself
    is wrong and will be refused again.
"""

import argparse
import csv
import datetime
import sys
import time

import msgpack
import zmq

PERMANENT = {"E_DECODE", "E_SCHEMA", "E_FORBIDDEN", "E_TIME"}
TRANSIENT = {"E_RATE", "E_UNAVAILABLE"}
HEADER = ["id", "source", "type", "time", "sector", "asset", "severity", "summary"]
MAX_BATCH = 500          # events per frame (the protocol allows up to 1000)
RETRY_TIMEOUT_S = 2.0    # resend a frame not answered within this
BACKOFF_MIN_S = 0.1      # first pause after E_RATE / E_UNAVAILABLE; doubles each time
BACKOFF_MAX_S = 10.0


def read_key(path):
    """A key file written by `tocsin keygen`: one line of 40 Z85 characters,
    '#' lines are comments. pyzmq takes the Z85 text as bytes."""
    with open(path, "rb") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(b"#"):
                if len(line) != 40:
                    sys.exit(f"replay_csv: {path}: expected a 40-character Z85 key")
                return line
    sys.exit(f"replay_csv: {path}: no key found")


def parse_time(text):
    """Event time for the wire. Two encodings are accepted by the server:
    integer milliseconds since the epoch, or the MessagePack timestamp
    extension (type -1), which msgpack.Timestamp produces. We send the
    latter, which keeps sub-millisecond precision."""
    if text.isdigit():
        ms = int(text)
        return msgpack.Timestamp(ms // 1000, (ms % 1000) * 1_000_000)
    when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError("a time without Z or an offset is ambiguous")
    return msgpack.Timestamp.from_datetime(when)


def row_to_event(row):
    """One CSV row to one event map. Keys are exactly the wire keys; an
    absent optional field is left out rather than sent as nil or ""."""
    event = {
        "id": row["id"],
        "source": row["source"],
        "type": row["type"],
        "time": parse_time(row["time"]),
    }
    for key in ("sector", "asset", "summary"):
        if row[key]:
            event[key] = row[key]
    if row["severity"]:
        event["severity"] = int(row["severity"])  # 1 = most severe .. 5
    return event


def load(path):
    """All events of the file, or exit listing the bad lines."""
    events, bad = [], 0
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != HEADER:
            sys.exit(f"replay_csv: {path}:1: expected the header {','.join(HEADER)}")
        for row in reader:
            try:
                if None in row or any(v is None for v in row.values()):
                    raise ValueError("expected 8 fields")
                events.append(row_to_event(row))
            except ValueError as e:
                print(f"replay_csv: {path}:{reader.line_num}: {e}", file=sys.stderr)
                bad += 1
    return events, bad


def connect(args):
    """Rule 1: a DEALER with CURVE. The client sets the server's public key
    and its own key pair; the server checks ours against its registry."""
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)        # do not hang at exit on unsent frames
    sock.setsockopt(zmq.IMMEDIATE, 1)     # queue only on a live connection
    if not args.insecure:
        sock.curve_serverkey = read_key(args.server_key)
        sock.curve_publickey = read_key(args.key + ".pub")
        sock.curve_secretkey = read_key(args.key + ".key")
    sock.connect(args.endpoint)
    return sock


def strings(value):
    """The strings of a reply's list, ignoring anything else."""
    return [x for x in value if isinstance(x, str)] if isinstance(value, list) else []


def main():
    p = argparse.ArgumentParser(description="Send the events of a CSV file to tocsind.")
    p.add_argument("--endpoint", default="tcp://127.0.0.1:7450")
    p.add_argument("--server-key", help="the server's public key file (server.pub)")
    p.add_argument("--key", help="BASE of this adapter's key files BASE.key and BASE.pub")
    p.add_argument("--insecure", action="store_true", help="plain text, loopback only")
    p.add_argument("--timeout-ms", type=int, default=30000)
    p.add_argument("file")
    args = p.parse_args()
    if not args.insecure and not (args.server_key and args.key):
        p.error("--server-key and --key are required unless --insecure")

    events, bad = load(args.file)
    sock = connect(args)

    # Every event waits in `pending` (by id) until it has a final result.
    # The protocol identifies events by source + id; this example assumes
    # ids are unique within the file.
    pending = {e["id"]: e for e in events}
    to_send = [e["id"] for e in events]   # ids due to be (re)sent, in order
    in_flight = []                        # [(sent_at, [ids])], oldest first
    hold_until = 0.0                      # no sending before this (back-off)
    backoff = 0.0
    deadline = time.monotonic() + args.timeout_ms / 1000

    def result(line):
        print(line, flush=True)

    while pending and time.monotonic() < deadline:
        now = time.monotonic()

        # Rule 4b: a frame unanswered after the timeout is sent again.
        while in_flight and now - in_flight[0][0] > RETRY_TIMEOUT_S:
            _, ids = in_flight.pop(0)
            to_send[:0] = [i for i in ids if i in pending and i not in to_send]

        # Rule 2: send batches. Each is one MessagePack array of maps.
        while to_send and now >= hold_until:
            ids, to_send = to_send[:MAX_BATCH], to_send[MAX_BATCH:]
            ids = [i for i in ids if i in pending]
            if not ids:
                continue
            frame = msgpack.packb([pending[i] for i in ids])
            try:
                sock.send(frame, zmq.NOBLOCK)
            except zmq.Again:               # not connected yet: try again shortly
                to_send[:0] = ids
                break
            in_flight.append((now, ids))

        # Rule 3: read replies, waiting a little so that we do not spin.
        if not sock.poll(50, zmq.POLLIN):
            continue
        try:
            reply = msgpack.unpackb(sock.recv(), raw=False)
        except Exception:                   # never trust network data
            reply = None
        if not isinstance(reply, dict):
            continue                        # malformed: the timeout will resend
        oks, dups = strings(reply.get("ok")), strings(reply.get("dup"))
        errs = [e for e in reply.get("err") or [] if isinstance(e, dict)]
        # Match by id, not by order: find the frame this reply answers.
        named = set(oks) | set(dups) | {e.get("id") for e in errs if isinstance(e.get("id"), str)}
        frame = next((f for f in in_flight if named & set(f[1])), None)
        if frame is None and not named and in_flight:
            frame = in_flight[0]            # a frame-level error names no id
        if frame is not None:
            in_flight.remove(frame)
        frame_ids = frame[1] if frame else []

        for i in oks:
            if pending.pop(i, None) is not None:
                result(f"ok {i}")
                backoff = 0.0
        for i in dups:
            if pending.pop(i, None) is not None:
                result(f"dup {i}")
                backoff = 0.0
        for err in errs:
            code, msg = err.get("code"), str(err.get("msg") or "")
            msg = "".join(c if c.isprintable() else "?" for c in msg)  # one line per result
            i = err.get("id")
            index = err.get("i")
            if i is None and isinstance(index, int) and 0 <= index < len(frame_ids):
                i = frame_ids[index]        # the event's index in our batch
            targets = [i] if i is not None else list(frame_ids)  # nil/nil: whole frame
            for t in targets:
                if t not in pending:
                    continue
                if code in TRANSIENT:       # Rule 4a: retry later, with back-off
                    if t not in to_send:
                        to_send.append(t)
                    backoff = min(max(backoff * 2, BACKOFF_MIN_S), BACKOFF_MAX_S)
                    hold_until = time.monotonic() + backoff
                else:                       # Rule 5: permanent (or unknown): report
                    pending.pop(t)
                    result(f"err {t} {code} {msg}")
        # Rule 4: whatever the reply did not mention is resent.
        for t in frame_ids:
            if t in pending and t not in to_send:
                to_send.append(t)

    for i in pending:
        print(f"replay_csv: no result for {i} before the timeout", file=sys.stderr)
    sys.exit(1 if pending or bad else 0)


if __name__ == "__main__":
    main()
