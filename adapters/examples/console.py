#!/usr/bin/python3
"""console.py - an example Tocsin control-room console in Python, on Debian's
python3-zmq and python3-msgpack only (docs/control-rooms.md).

    /usr/bin/python3 console.py --server-key server.pub --key desk1 \\
        [--alerts tcp://127.0.0.1:7451] [--control tcp://127.0.0.1:7452] \\
        [--operator NAME] [--ack-p1] [--seconds N]

It follows the console's one rule: alerts carry a gapless `seq`; on a gap,
a reconnect or a quiet spell, ask `since` the last seq seen. It starts with a
`snapshot` of the open incidents, prints one line per alert revision and per
escalation, and with --ack-p1 acknowledges every new P1 alert as --operator.
With --seconds it stops after that long (for scripts such as `make demo`),
otherwise on Ctrl-C. `--key desk1` reads desk1.key and desk1.pub (from
`tocsin keygen desk1`, registered with `tocsin console add desk1 --key
desk1.pub`). --alerts is the stream of the key's clearance: 7451 for
official-sensitive, 7453 official, 7454 public by default (docs/control-rooms.md,
"Need to know"); the server refuses a key on another clearance's stream.

Output lines:
    open   P1 INC-... rev 3: <title>           (from the snapshot)
    #12 alert P1 INC-... rev 1: <title>
    ESCALATED level 1: INC-... P1, unacknowledged since <time>
    ack INC-... rev 1 by <operator>: ok
    caught up N alerts after seq M
Exit status: 0, 1 when the server did not answer a request, 2 on a usage
error.
"""
import argparse
import sys
import time

import msgpack
import zmq


def read_key(path):
    with open(path, "rb") as f:
        return f.read().strip()


class Console:
    def __init__(self, args):
        self.ctx = zmq.Context()
        server = read_key(args.server_key)
        pub, sec = read_key(args.key + ".pub"), read_key(args.key + ".key")

        def curve(s):
            s.curve_serverkey = server
            s.curve_publickey = pub
            s.curve_secretkey = sec
            s.linger = 0
            return s
        self.sub = curve(self.ctx.socket(zmq.SUB))
        self.sub.setsockopt(zmq.SUBSCRIBE, b"live/")
        self.sub.setsockopt(zmq.SUBSCRIBE, b"escalation/live/")
        self.sub.connect(args.alerts)
        self.ctl = curve(self.ctx.socket(zmq.DEALER))
        self.ctl.connect(args.control)
        self.args = args
        self.last = 0

    def request(self, **req):
        self.ctl.send(msgpack.packb(req))
        if not self.ctl.poll(10000):
            raise TimeoutError("no reply to %s within 10 s" % req["op"])
        reply = msgpack.unpackb(self.ctl.recv())
        if not reply.get("ok"):
            raise RuntimeError("%s: %s" % (reply.get("code"), reply.get("msg")))
        return reply

    def show(self, a):
        print("#%d %s P%d %s rev %d: %s" % (a["seq"], a["msg"], a["priority"], a["incident"],
                                             a["rev"], a["title"]), flush=True)
        if self.args.ack_p1 and a["priority"] == 1 and a["msg"] == "alert":
            self.request(op="ack", incident=a["incident"], rev=a["rev"],
                         operator=self.args.operator)
            print("ack %s rev %d by %s: ok" % (a["incident"], a["rev"], self.args.operator),
                  flush=True)

    def catch_up(self):
        start, n = self.last, 0
        while True:
            r = self.request(op="since", seq=self.last)
            for a in r["alerts"]:
                if a["seq"] > self.last:
                    self.show(a)
                    self.last = a["seq"]
                    n += 1
            if not r["more"]:
                break
        if n:
            print("caught up %d alerts after seq %d" % (n, start), flush=True)

    def run(self):
        snap = self.request(op="snapshot")
        for inc in snap["incidents"]:
            print("open   P%d %s rev %d: %s" % (inc["priority"], inc["incident"], inc["rev"],
                                               inc["title"]), flush=True)
        self.last = snap["last"]
        self.catch_up()
        end = time.monotonic() + self.args.seconds if self.args.seconds else None
        while end is None or time.monotonic() < end:
            wait = 1000 if end is None else max(1, int(min(1, end - time.monotonic()) * 1000))
            if not self.sub.poll(wait):
                self.catch_up()  # quiet: a cheap check that nothing was missed
                continue
            topic, body = self.sub.recv_multipart()
            a = msgpack.unpackb(body)
            if topic.startswith(b"escalation/"):
                print("ESCALATED level %d: %s P%d, unacknowledged since %s"
                      % (a["level"], a["incident"], a["priority"], a["since"]), flush=True)
                continue
            if a["seq"] <= self.last:
                continue  # already had it, from since
            if a["seq"] != self.last + 1:
                self.catch_up()  # a gap: a reconnect, a restart, or we were too slow
                if a["seq"] <= self.last:
                    continue
            self.show(a)
            self.last = a["seq"]
        self.catch_up()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--server-key", required=True, help="the server's public key file")
    p.add_argument("--key", required=True, help="PREFIX of PREFIX.key and PREFIX.pub")
    p.add_argument("--alerts", default="tcp://127.0.0.1:7451",
                   help="the stream of the key's clearance (7451 official-sensitive, "
                   "7453 official, 7454 public)")
    p.add_argument("--control", default="tcp://127.0.0.1:7452")
    p.add_argument("--operator", default="duty officer")
    p.add_argument("--ack-p1", action="store_true", help="acknowledge every new P1 alert")
    p.add_argument("--seconds", type=float, default=0, help="stop after this long")
    args = p.parse_args()
    try:
        Console(args).run()
    except (TimeoutError, RuntimeError) as e:
        print("console: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
