#!/usr/bin/python3
"""make_corpus.py - write the seed corpus of fuzz_wire (tests/fuzz/corpus/wire):
valid events of every type, a batch, and the invalid shapes the integration
tests use (the five bytes dd ff ff ff ff, wrong types, out-of-range values,
bad UTF-8, deep nesting). Deterministic: run it again and nothing changes.
Usage: tests/fuzz/make_corpus.py [DIR]"""
import os
import sys

import msgpack

T = msgpack.Timestamp(1795651200, 0)  # 2026-11-26T00:00:00Z


def ev(**kw):
    e = {"id": "e-1", "source": "scada-a", "type": "asset.down", "time": T,
         "sector": "energy", "asset": "sub.1"}
    e.update(kw)
    return {k: v for k, v in e.items() if v is not None}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__),
                                                               "corpus", "wire")
    os.makedirs(out, exist_ok=True)
    p = lambda o: msgpack.packb(o, use_bin_type=True)
    seeds = {
        "down": p(ev()),
        "degraded": p(ev(type="asset.degraded", severity=3)),
        "up": p(ev(type="asset.up")),
        "alarm": p(ev(type="asset.alarm", summary="pressure low")),
        "heartbeat": p(ev(type="adapter.heartbeat", sector=None, asset=None)),
        "geo_attrs": p(ev(geo=[51.5, -0.12], attrs={"kv": 11, "f": 1.5, "ok": True,
                                                    "s": "x"})),
        "time_ms": p(ev(time=1795651200123)),
        "batch": p([ev(id="b-%d" % i) for i in range(5)]),
        "batch_mixed": p([ev(id="m-1"), ev(id="m-2", severity=9), ev(id="m-3", sector="x")]),
        "claims_2e32": bytes.fromhex("ddffffffff"),
        "not_msgpack": b"\xc1",
        "trailing": p(ev()) + b"\x00",
        "top_string": p("hello"),
        "empty_batch": p([]),
        "bad_type": p(ev(type="asset.exploded")),
        "bad_sector": p(ev(sector="enrgy")),
        "bad_utf8": p(ev(asset=b"\xff\xfe".decode("latin-1"))).replace(b"\xc3\xbf\xc3\xbe",
                                                                       b"\xff\xfe"),
        "nul_in_id": p(ev(id="a\x00b")),
        "too_late": p(ev(time=msgpack.Timestamp(1, 0))),
        "geo_out": p(ev(geo=[91.0, 0.0])),
        "deep": p([[[[[1]]]]]),
        "id_long": p(ev(id="x" * 129)),
        "attrs_many": p(ev(attrs={"k%d" % i: i for i in range(33)})),
    }
    for name, data in sorted(seeds.items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print("make_corpus: %d seeds in %s" % (len(seeds), out))


if __name__ == "__main__":
    main()
