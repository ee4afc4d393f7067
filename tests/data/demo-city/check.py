#!/usr/bin/python3
"""Check the Aldermoor demo city against the rules of design §2 and §6, and summarise it.

    /usr/bin/python3 tests/data/demo-city/check.py [DIR]           check, then summarise
    /usr/bin/python3 tests/data/demo-city/check.py --impact ID     what fails after ID, and when
    /usr/bin/python3 tests/data/demo-city/check.py --quiet         errors and warnings only

DIR (default: this file's directory) holds assets.csv, dependencies.csv and any
scenario-*.csv. Errors name file, line and column; any error makes the exit status 1.
Python 3 standard library only.
"""
import csv
import heapq
import math
import os
import re
import sys
from collections import Counter, defaultdict, deque

ASSET_HEADER = ["id", "sector", "kind", "name", "lat", "lon", "area", "criticality", "population",
                "backup_s", "sensitivity"]
DEP_HEADER = ["dependent", "provider", "kind", "delay_min_s", "delay_max_s"]
SCEN_HEADER = ["t_offset_s", "source", "sector", "asset", "type", "severity", "summary"]
SECTORS = ("chemicals civil-nuclear communications defence emergency-services energy finance food "
           "government health space transport water data").split()
DEP_KINDS = "power water communications transport fuel gas data staff other".split()
SENSITIVITIES = ("public", "official", "official-sensitive")
EVENT_TYPES = ("asset.down", "asset.degraded", "asset.up", "asset.alarm", "heartbeat")
ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}\Z")
INT_RE = re.compile(r"(0|-?[1-9][0-9]*)\Z")
DERIVED_SPREAD_S = 300  # include/tocsin/graph.h TN_GRAPH_DERIVED_SPREAD_S: derived max = backup_s + 300
INT32_MAX = 2**31 - 1

errors = []
warnings = []


def err(path, line, col, msg):
    errors.append("%s:%d: %s: %s" % (os.path.basename(path), line, col, msg))


def warn(path, line, msg):
    warnings.append("%s:%s: %s" % (os.path.basename(path), line, msg))


def read_csv(path, header):
    """Rows as (line number, dict). Checks the header and the field count."""
    rows = []
    try:
        f = open(path, newline="", encoding="utf-8")
    except OSError as e:
        err(path, 0, "file", str(e))
        return rows
    with f:
        raw = f.read()
    if raw.startswith("\ufeff"):
        err(path, 1, "file", "starts with a byte order mark")
        raw = raw[1:]
    if "\r" in raw:
        warn(path, "-", "CR line endings")
    reader = csv.reader(raw.splitlines())
    for n, fields in enumerate(reader, 1):
        if n == 1:
            if fields != header:
                err(path, 1, "header", "expected %r, got %r" % (",".join(header), ",".join(fields)))
                return rows
            continue
        if not fields or fields == [""]:
            err(path, n, "line", "empty line")
            continue
        if len(fields) != len(header):
            err(path, n, "line", "expected %d fields, got %d" % (len(header), len(fields)))
            continue
        for h, v in zip(header, fields):
            if v != v.strip():
                err(path, n, h, "leading or trailing whitespace in %r" % v)
        rows.append((n, dict(zip(header, fields))))
    return rows


def parse_int(path, n, col, v, lo, hi):
    if not INT_RE.match(v):
        err(path, n, col, "expected an integer, got %r" % v)
        return None
    x = int(v)
    if not lo <= x <= hi:
        err(path, n, col, "expected %d..%d, got %d" % (lo, hi, x))
        return None
    return x


def parse_float(path, n, col, v, lo, hi):
    try:
        x = float(v)
    except ValueError:
        err(path, n, col, "expected a number, got %r" % v)
        return None
    if not math.isfinite(x) or not lo <= x <= hi:
        err(path, n, col, "expected %g..%g, got %r" % (lo, hi, v))
        return None
    return x


# ------------------------------------------------------------------ registry
def load_assets(path):
    assets = {}
    for n, r in read_csv(path, ASSET_HEADER):
        ok = True
        if not ID_RE.match(r["id"]):
            err(path, n, "id", "expected 1-64 of [A-Za-z0-9._:-], got %r" % r["id"])
            ok = False
        elif r["id"] in assets:
            err(path, n, "id", "duplicate id %r (first on line %d)" % (r["id"], assets[r["id"]]["line"]))
            ok = False
        if r["sector"] not in SECTORS:
            err(path, n, "sector", "expected one of %s, got %r" % (" ".join(SECTORS), r["sector"]))
        for col in ("kind", "name", "area"):
            if not r[col]:
                err(path, n, col, "empty")
        lat = parse_float(path, n, "lat", r["lat"], -90, 90)
        lon = parse_float(path, n, "lon", r["lon"], -180, 180)
        crit = parse_int(path, n, "criticality", r["criticality"], 1, 5)
        pop = parse_int(path, n, "population", r["population"], 0, 2**63 - 1)
        backup = parse_int(path, n, "backup_s", r["backup_s"], 0, INT32_MAX)
        if r["sensitivity"] not in SENSITIVITIES:
            err(path, n, "sensitivity", "expected one of %s, got %r" % (" ".join(SENSITIVITIES), r["sensitivity"]))
        if ok:  # kept even when another field is bad, so dependencies.csv is checked against it
            assets[r["id"]] = dict(r, line=n, lat=lat, lon=lon, criticality=crit, population=pop,
                                   backup_s=backup or 0)
    return assets


def load_deps(path, assets):
    deps = []
    seen = {}
    for n, r in read_csv(path, DEP_HEADER):
        ok = True
        for col in ("dependent", "provider"):
            if not ID_RE.match(r[col]):
                err(path, n, col, "expected 1-64 of [A-Za-z0-9._:-], got %r" % r[col])
                ok = False
            elif r[col] not in assets:
                err(path, n, col, "no asset %r in assets.csv" % r[col])
                ok = False
        if r["kind"] not in DEP_KINDS:
            err(path, n, "kind", "expected one of %s, got %r" % (" ".join(DEP_KINDS), r["kind"]))
            ok = False
        if r["dependent"] == r["provider"]:
            err(path, n, "provider", "self-loop on %r" % r["dependent"])
            ok = False
        key = (r["dependent"], r["provider"], r["kind"])
        if key in seen:
            err(path, n, "kind", "duplicate (dependent, provider, kind) %r, first on line %d" % (key, seen[key]))
            ok = False
        seen.setdefault(key, n)
        dmin = dmax = None
        if r["delay_min_s"] == "" and r["delay_max_s"] == "":
            pass
        elif r["delay_min_s"] == "" or r["delay_max_s"] == "":
            err(path, n, "delay_min_s" if r["delay_min_s"] == "" else "delay_max_s",
                "give both delays or neither (empty: derived from the dependent's backup_s)")
            ok = False
        else:
            dmin = parse_int(path, n, "delay_min_s", r["delay_min_s"], 0, INT32_MAX)
            dmax = parse_int(path, n, "delay_max_s", r["delay_max_s"], 0, INT32_MAX)
            if dmin is None or dmax is None:
                ok = False
            elif dmax < dmin:
                err(path, n, "delay_max_s", "expected >= delay_min_s (%d), got %d" % (dmin, dmax))
                ok = False
        if ok:
            b = assets[r["dependent"]]["backup_s"]
            derived = dmin is None
            deps.append(dict(dependent=r["dependent"], provider=r["provider"], kind=r["kind"], line=n,
                             derived=derived,
                             dmin=b if derived else dmin,
                             dmax=b + DERIVED_SPREAD_S if derived else dmax))
    return deps


# ------------------------------------------------------------------ graph analysis
class Graph:
    def __init__(self, assets, deps):
        self.assets = assets
        self.ids = sorted(assets)
        self.prov = defaultdict(list)  # dependent -> [dep]
        self.depd = defaultdict(list)  # provider -> [dep]
        for d in deps:
            self.prov[d["dependent"]].append(d)
            self.depd[d["provider"]].append(d)

    def sccs(self):
        """Tarjan, iterative. SCCs come out providers-first (edges: dependent -> provider)."""
        index, low, on, stack, out = {}, {}, set(), [], []
        counter = 0
        for root in self.ids:
            if root in index:
                continue
            work = [(root, iter(sorted(d["provider"] for d in self.prov[root])))]
            index[root] = low[root] = counter
            counter += 1
            stack.append(root)
            on.add(root)
            while work:
                v, it = work[-1]
                advanced = False
                for w in it:
                    if w not in index:
                        index[w] = low[w] = counter
                        counter += 1
                        stack.append(w)
                        on.add(w)
                        work.append((w, iter(sorted(d["provider"] for d in self.prov[w]))))
                        advanced = True
                        break
                    elif w in on:
                        low[v] = min(low[v], index[w])
                if advanced:
                    continue
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    out.append(sorted(comp))
        return out

    def inner_bfs(self, src, members):
        """Hop distances and parents from src to the other members, staying inside the SCC."""
        dist, parent = {src: 0}, {}
        q = deque([src])
        while q:
            v = q.popleft()
            for d in sorted(self.prov[v], key=lambda d: d["provider"]):
                u = d["provider"]
                if u in members and u not in dist:
                    dist[u] = dist[v] + 1
                    parent[u] = d
                    q.append(u)
        return dist, parent

    def deepest_chain(self, comps):
        """Longest dependent -> provider chain; inside a cycle it moves along shortest paths,
        so the chain never repeats an asset."""
        comp_of = {v: i for i, c in enumerate(comps) for v in c}
        best, how = {}, {}
        for ci, comp in enumerate(comps):  # providers first
            members = set(comp)
            ext = {}
            for w in comp:
                ext[w] = (0, None)
                for d in self.prov[w]:
                    u = d["provider"]
                    if comp_of[u] != ci and (1 + best[u], u) > (ext[w][0], ext[w][1] and ext[w][1]["provider"] or ""):
                        ext[w] = (1 + best[u], d)
            for v in comp:
                dist, parent = self.inner_bfs(v, members)
                cand = max(((dist[w] + ext[w][0], w) for w in dist), key=lambda x: (x[0], x[1]))
                best[v] = cand[0]
                inner = []
                w = cand[1]
                while w != v:
                    inner.append(parent[w])
                    w = parent[w]["dependent"]
                how[v] = (list(reversed(inner)), ext[cand[1]][1])
        start = max(self.ids, key=lambda v: (best[v], v)) if self.ids else None
        chain, v = [], start
        while v is not None:
            inner, out = how[v]
            chain.extend(inner)
            if out is None:
                break
            chain.append(out)
            v = out["provider"]
        return start, chain

    def two_cycles(self):
        pairs = set()
        for v in self.ids:
            for d in self.prov[v]:
                u = d["provider"]
                if any(e["provider"] == v for e in self.prov[u]) and v < u:
                    pairs.add((v, u))
        return sorted(pairs)

    def count_cycles(self, comp, cap=100000):
        """Elementary cycles in one SCC (Johnson-style: each cycle counted from its least member)."""
        members = sorted(comp)
        rank = {v: i for i, v in enumerate(members)}
        succ = {v: sorted({d["provider"] for d in self.prov[v] if d["provider"] in rank}) for v in members}
        count = 0
        for s in members:
            stack = [(s, iter(succ[s]))]
            path = {s}
            while stack:
                v, it = stack[-1]
                nxt = next(it, None)
                if nxt is None:
                    stack.pop()
                    path.discard(v)
                    continue
                if rank[nxt] < rank[s]:
                    continue
                if nxt == s:
                    count += 1
                    if count >= cap:
                        return count
                elif nxt not in path:
                    path.add(nxt)
                    stack.append((nxt, iter(succ[nxt])))
        return count

    def impact(self, root, max_depth=8):
        """Dependents of root by the earliest time they can fail (sum of delay_min along the
        path), with the latest time along that same path (sum of delay_max)."""
        best = {root: (0, 0, 0, None)}
        heap = [(0, 0, root)]
        while heap:
            tmin, hops, v = heapq.heappop(heap)
            if (tmin, hops) > best[v][:2] and v != root:
                continue
            if hops >= max_depth:
                continue
            for d in sorted(self.depd[v], key=lambda d: d["dependent"]):
                u = d["dependent"]
                if u == root:
                    continue
                t = tmin + d["dmin"]
                if u not in best or (t, hops + 1) < best[u][:2]:
                    best[u] = (t, hops + 1, best[v][2] + d["dmax"], d)
                    heapq.heappush(heap, (t, hops + 1, u))
        return best


def fmt_s(s):
    if s < 120:
        return "%ds" % s
    if s < 7200:
        return "%dmin" % round(s / 60)
    return "%.1fh" % (s / 3600)


# ------------------------------------------------------------------ scenarios
def check_scenario(path, assets, graph, quiet):
    rows = read_csv(path, SCEN_HEADER)
    events = []
    for n, r in rows:
        t = parse_int(path, n, "t_offset_s", r["t_offset_s"], 0, 10 * 365 * 86400)
        if not 1 <= len(r["source"]) <= 256:
            err(path, n, "source", "expected 1-256 characters")
        if r["type"] not in EVENT_TYPES:
            err(path, n, "type", "expected one of %s, got %r" % (" ".join(EVENT_TYPES), r["type"]))
            continue
        if r["severity"] != "":
            parse_int(path, n, "severity", r["severity"], 1, 5)
        if len(r["summary"]) > 512:
            err(path, n, "summary", "longer than 512 characters")
        if r["type"] == "heartbeat":
            if r["sector"] or r["asset"]:
                warn(path, n, "heartbeat with a sector or asset")
        else:
            if r["sector"] not in SECTORS:
                err(path, n, "sector", "expected a sector code, got %r" % r["sector"])
            if r["asset"] not in assets:
                err(path, n, "asset", "no asset %r in assets.csv" % r["asset"])
                continue
            if assets[r["asset"]]["sector"] != r["sector"]:
                err(path, n, "sector", "asset %s is in sector %s, not %s" % (r["asset"], assets[r["asset"]]["sector"], r["sector"]))
        if t is not None:
            events.append((t, n, r))
    # arrival order is file order; event time is t_offset_s
    late = [(n, r["asset"] or r["source"]) for i, (t, n, r) in enumerate(events)
            if any(t2 > t for t2, _, _ in events[:i])]
    state, first_fail, sources, heartbeats = {}, {}, Counter(), Counter()
    for t, n, r in sorted(events, key=lambda e: (e[0], e[2]["source"], e[1])):
        sources[r["source"]] += 1
        if r["type"] == "heartbeat":
            heartbeats[r["source"]] += 1
        elif r["type"] in ("asset.down", "asset.degraded"):
            state[r["asset"]] = r["type"][6:]
            first_fail.setdefault(r["asset"], (t, n))
        elif r["type"] == "asset.up":
            if r["asset"] not in state:
                warn(path, n, "asset.up for %s, which had not failed" % r["asset"])
            state[r["asset"]] = "up"
    # consistency of failures with the graph: each failure should follow a failed provider
    # upstream within that path's delay window (informational)
    failed_at = {}
    links = []
    for t, n, r in sorted(events, key=lambda e: (e[0], e[2]["source"], e[1])):
        if r["type"] not in ("asset.down", "asset.degraded") or r["asset"] not in assets:
            continue
        a = r["asset"]
        found = None
        # upstream search: (asset, hops, sum min, sum max)
        frontier = [(a, 0, 0, 0)]
        seen = {a}
        while frontier and found is None:
            nxt = []
            for v, hops, smin, smax in frontier:
                for d in sorted(graph.prov[v], key=lambda d: d["provider"]):
                    p = d["provider"]
                    if p in seen:
                        continue
                    seen.add(p)
                    m, M = smin + d["dmin"], smax + d["dmax"]
                    if p in failed_at and failed_at[p] <= t and found is None:
                        found = (p, hops + 1, t - failed_at[p], m, M)
                    if hops + 1 < 8:
                        nxt.append((p, hops + 1, m, M))
            frontier = nxt
        if found:
            p, hops, dt, m, M = found
            links.append((t, a, p, hops, dt, m, M))
            if dt < m:
                warn(path, n, "%s fails %ds after %s, before the path's delay_min %ds" % (a, dt, p, m))
            if dt > M:
                warn(path, n, "%s fails %ds after %s, after the path's delay_max %ds" % (a, dt, p, M))
        failed_at.setdefault(a, t)
    if not quiet:
        still = sorted(a for a, s in state.items() if s != "up")
        print("  %s: %d rows (%d heartbeats), t=0..%ds, sources: %s" % (
            os.path.basename(path), len(events), sum(heartbeats.values()),
            max((e[0] for e in events), default=0), ", ".join(sorted(sources))))
        print("    failed: %d assets; not restored at the end: %s" % (len(first_fail), " ".join(still) or "none"))
        if late:
            print("    arriving after a later-timed row (late reports): %s" %
                  ", ".join("line %d %s" % x for x in late))
        for t, a, p, hops, dt, m, M in links:
            print("    t=%-5d %-20s <- %-20s %d hop(s), +%ds (path window %s..%s)" % (t, a, p, hops, dt, fmt_s(m), fmt_s(M)))


def main(argv):
    quiet = "--quiet" in argv
    argv = [a for a in argv if a != "--quiet"]
    impact = None
    if "--impact" in argv:
        i = argv.index("--impact")
        impact = argv[i + 1] if i + 1 < len(argv) else None
        del argv[i:i + 2]
    d = argv[0] if argv else os.path.dirname(os.path.abspath(__file__))
    ap, dp = os.path.join(d, "assets.csv"), os.path.join(d, "dependencies.csv")
    assets = load_assets(ap)
    deps = load_deps(dp, assets)
    graph = Graph(assets, deps)

    if impact:
        if impact not in assets:
            print("no asset %r" % impact)
            return 2
        best = graph.impact(impact)
        print("If %s (%s, %s) fails at t=0, its dependents can fail (earliest..latest along the fastest path):"
              % (impact, assets[impact]["sector"], assets[impact]["name"]))
        for u, (tmin, hops, tmax, dep) in sorted(best.items(), key=lambda x: (x[1][0], x[1][1], x[0])):
            if u == impact:
                continue
            print("  %-22s %-19s %-26s %8s..%-8s %d hop(s) via %s (%s)" % (
                u, assets[u]["sector"], assets[u]["kind"], fmt_s(tmin), fmt_s(tmax), hops, dep["provider"], dep["kind"]))
        return 0

    scen = sorted(f for f in os.listdir(d) if f.startswith("scenario-") and f.endswith(".csv"))
    if not quiet:
        print("Aldermoor demo city: %s" % d)
    comps = graph.sccs()
    if not quiet and not errors:
        print("\nassets: %d" % len(assets))
        for s, c in sorted(Counter(a["sector"] for a in assets.values()).items(), key=lambda x: (-x[1], x[0])):
            print("  %-20s %4d" % (s, c))
        print("  by area: %s" % ", ".join("%s %d" % kv for kv in sorted(Counter(a["area"] for a in assets.values()).items())))
        print("  by sensitivity: %s" % ", ".join("%s %d" % kv for kv in sorted(Counter(a["sensitivity"] for a in assets.values()).items())))
        lats = [a["lat"] for a in assets.values()]
        lons = [a["lon"] for a in assets.values()]
        ns = (max(lats) - min(lats)) * 111195
        ew = (max(lons) - min(lons)) * 111195 * math.cos(math.radians(sum(lats) / len(lats)))
        print("  extent: lat %.4f..%.4f, lon %.4f..%.4f (%.1f x %.1f km)" % (min(lats), max(lats), min(lons), max(lons), ew / 1000, ns / 1000))
        print("\ndependencies: %d (%d with explicit delays, %d derived from backup_s)" % (
            len(deps), sum(not x["derived"] for x in deps), sum(x["derived"] for x in deps)))
        for k, c in sorted(Counter(x["kind"] for x in deps).items(), key=lambda x: (-x[1], x[0])):
            print("  %-20s %4d" % (k, c))
        cross = Counter((assets[x["provider"]]["sector"], assets[x["dependent"]]["sector"]) for x in deps
                        if assets[x["provider"]]["sector"] != assets[x["dependent"]]["sector"])
        print("  cross-sector (provider -> dependent): %d" % sum(cross.values()))
        for (p, q), c in sorted(cross.items(), key=lambda x: (-x[1], x[0])):
            print("    %-20s -> %-20s %4d" % (p, q, c))
        roots = sorted(v for v in assets if not graph.prov[v])
        print("  assets with no provider: %d; with no dependent: %d" % (
            len(roots), sum(1 for v in assets if not graph.depd[v])))
        big = [c for c in comps if len(c) > 1]
        print("\ncycles: %d strongly connected group(s) of mutually dependent assets" % len(big))
        for c in big:
            n = graph.count_cycles(c)
            print("  %d assets, %s elementary cycles: %s" % (len(c), n if n < 100000 else ">=100000", " ".join(c)))
        pairs = graph.two_cycles()
        print("  mutual pairs (A needs B, B needs A): %d" % len(pairs))
        for a, b in pairs:
            ka = "/".join(sorted(d["kind"] for d in graph.prov[a] if d["provider"] == b))
            kb = "/".join(sorted(d["kind"] for d in graph.prov[b] if d["provider"] == a))
            print("    %s -%s-> %s -%s-> %s" % (a, ka, b, kb, a))
        start, chain = graph.deepest_chain(comps)
        print("\ndeepest dependency chain: %d links" % len(chain))
        if chain:
            s = chain[0]["dependent"]
            for x in chain:
                s += "\n    -%s-> %s" % (x["kind"], x["provider"])
            print("  " + s)
    if scen and not quiet and not errors:
        print("\nscenarios:")
    for f in scen:
        check_scenario(os.path.join(d, f), assets, graph, quiet or bool(errors))
    for w in warnings:
        print("warning: " + w)
    for e in errors:
        print("error: " + e)
    print("%s: %d error(s), %d warning(s)" % ("FAIL" if errors else "OK", len(errors), len(warnings)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
