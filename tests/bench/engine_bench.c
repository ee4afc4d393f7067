/*
 * engine_bench.c - the correlation engine's part of `make bench`
 * (scripts/bench-engine.sh, docs/bench-engine.md): registry load time and
 * memory, and the engine's single-threaded throughput and per-event cost, on
 * a generated city.
 *
 *   engine_bench run --assets A.csv --deps D.csv [--events N] [--seed S]
 *                    [--span-h H] [--city-seed S]
 *   engine_bench report FILE
 *
 * `run` loads the registry with tn_registry_csv_load (timed; VmRSS before and
 * after, VmHWM, tn_graph_memory), generates the events in memory from the
 * loaded graph (below), then drives one engine twice over the same input:
 *
 *   pass A (throughput): the events in arrival order to tn_corr_event, a
 *     tn_corr_advance tick at every whole second of the arrival clock, the
 *     changes drained (counted, bytes summed) after every call, then
 *     tn_corr_finish; one clock around the whole loop, so the figure carries
 *     no per-event clock overhead;
 *   pass B (cost): a fresh engine, the same input, CLOCK_MONOTONIC read
 *     around each tn_corr_event + drain (and, separately, each tick + drain),
 *     into log-linear histograms (1/64 relative resolution, no per-event
 *     storage); a sample of the revisions is copied out and tn_change_json is
 *     timed on it afterwards, so no JSON is formatted in the timed loop.
 *
 * The two passes must give the same engine counters (the engine is
 * deterministic); `run` says so. It prints `key=value` lines on stdout
 * (progress on stderr); `report` turns a file of them (plus the e2e_* lines
 * the script adds) into the summary block with the targets. It reports; it
 * never asserts a target.
 *
 * Why the events are generated here rather than read from `tocsin sim
 * cascades`: that generator places a cascade only where no rule of the engine
 * could link it to another one, and fails each asset at most once per
 * scenario, so on a million assets it gives a few hundred thousand events in
 * a minute and cannot give millions. This one uses the same model (a root
 * picked by sector and fan-out; failures spreading down dependents, each at a
 * time within its edge's [delay_min, delay_max], with a chance by kind of
 * supply, lowered by a redundant supply still up and by long backup; 10 %
 * degraded; restoration 30-120 min after the last failure, then hop by hop;
 * reports dropped, delayed within the lateness, a few beyond it), but lets
 * cascades overlap and assets fail again once restored, and adds background
 * failures, alarms and heartbeats. Everything is drawn from xoshiro256** with
 * a fixed seed (tools/sim_rng.h), so a run is reproducible.
 */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../../tools/sim_rng.h"
#include "crc32c.h"
#include "journal.h"
#include "registry_csv.h"
#include "tocsin/adapter.h"
#include "tocsin/correlator.h"
#include "tocsin/error.h"
#include "tocsin/event.h"
#include "tocsin/graph.h"

#define NS 1000000000LL
#define US 1000000LL
#define NONE UINT32_MAX
#define EPOCH_US INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z, as scenarios */

/* Targets of the issue. */
#define TARGET_EPS 1000000.0
#define TARGET_P99_NS 50000.0
#define TARGET_LOAD_S 5.0
#define TARGET_LOAD_BYTES (1024.0 * 1024 * 1024)

/* The model (docs/bench-engine.md, "The events"). */
#define MAX_SIZE 60	    /* failures per cascade at most (sim cascades' default) */
#define MAX_DEPTH 4	    /* hops of a cascade at most (idem) */
#define MIN_SIZE 3	    /* a cascade is retried until it has this many failures ... */
#define ATTEMPTS 20	    /* ... at most this many times */
#define RESTORE_MIN_S 1800  /* the root comes back this long after the last failure, */
#define RESTORE_MAX_S 7200  /* at most this */
#define P_DEGRADED 0.10	    /* a failure reported as degraded rather than down */
#define P_MISSING 0.05	    /* a failure report dropped (restorations always arrive) */
#define P_REORDER 0.10	    /* a report delayed by 1..LATE_MAX_S (within the lateness) */
#define LATE_MAX_S 60	    /* the engine's default lateness: no such report is late */
#define P_TOO_LATE 0.001    /* a report delayed beyond the lateness: late for the engine */
#define TOO_LATE_MAX_S 600  /* by up to this */
/* The mix, of the events: telemetry alarms (which fail nothing) and background
 * failures with their restorations; --share-alarms, --share-noise. The
 * default is the cascade-heavy "stress" mix; scripts/bench-engine.sh also runs
 * a "feed" mix dominated by telemetry, as a control room's feed is. */
static double share_alarms = 0.05, share_noise = 0.10;
#define SHARE_HEARTBEATS 0.05 /* of the events: every source sends one every hb_s, */
#define HEARTBEAT_MIN_S 60    /* at least this far apart; the engine's timeout is 3 hb_s */
#define SOURCES_PER_SECTOR 2
#define PILOT 5000	    /* cascades drawn first to learn their mean size */

enum { ST_PILOT = 21, ST_CASCADES, ST_NOISE, ST_ALARMS, ST_REPORTS };

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("engine_bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

static int64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

static long nivcsw(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_nivcsw;
}

/* A line of /proc/self/status in bytes (its kB), 0 when absent. */
static uint64_t status_bytes(const char *key)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	size_t n = strlen(key);
	uint64_t v = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, key, n) == 0 && line[n] == ':') {
			v = strtoull(line + n + 1, NULL, 10) * 1024;
			break;
		}
	fclose(f);
	return v;
}

/* ---- histogram: 128 exact bins, then 64 per power of two ----------------------- */

#define H_BINS (128 + 64 * 58)

struct hist {
	uint64_t bin[H_BINS];
	uint64_t n, sum, max;
};

static unsigned h_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < 128)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	shift = msb - 6;
	return 128 + (shift - 1) * 64 + (unsigned)((v >> shift) - 64);
}

/* The largest value a bin holds. */
static uint64_t h_upper(unsigned i)
{
	unsigned shift;
	uint64_t m;

	if (i < 128)
		return i;
	shift = (i - 128) / 64 + 1;
	m = (i - 128) % 64 + 64;
	return ((m + 1) << shift) - 1;
}

static inline void h_add(struct hist *h, uint64_t v)
{
	h->bin[h_index(v)]++;
	h->n++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
}

/* The q-quantile, as the upper bound of its bin (within 1/64), the max at 1. */
static uint64_t h_quantile(const struct hist *h, double q)
{
	uint64_t want, acc = 0;

	if (h->n == 0)
		return 0;
	want = (uint64_t)ceil(q * (double)h->n);
	if (want < 1)
		want = 1;
	for (unsigned i = 0; i < H_BINS; i++) {
		acc += h->bin[i];
		if (acc >= want)
			return h_upper(i) < h->max ? h_upper(i) : h->max;
	}
	return h->max;
}

/* ---- the events ----------------------------------------------------------------- */

/* One report, 24 bytes; strings come from the graph and tables at run time. */
struct rec {
	int64_t t_us;	/* event time */
	int64_t arr_us; /* arrival */
	uint32_t asset; /* graph number, NONE for a heartbeat */
	uint8_t type;	/* enum tn_event_type */
	uint8_t src;	/* into the source table */
	uint8_t sev;
	uint8_t pad;
};

struct recs {
	struct rec *r;
	size_t n, cap;
};

struct member {
	uint32_t asset;
	int64_t t_us;
	uint8_t hop, degraded;
};

struct gen {
	const struct tn_graph *g;
	uint32_t n;
	int64_t *free_us; /* an asset may fail again after this (its last restoration) */
	uint32_t *cand;	  /* membership of the cascade being grown */
	uint32_t cand_no;
	struct member *m;
	size_t nm;
	uint32_t *roots; /* assets with dependents, by sector */
	size_t roots_at[TN_SECTOR__COUNT], roots_n[TN_SECTOR__COUNT], nroots;
	size_t sector_n[TN_SECTOR__COUNT]; /* assets; a sector without any has no sources */
	struct tn__rng rng;
	struct recs *out;
	uint64_t cascades, failures, noise, alarms, heartbeats, restores;
};

static int recs_add(struct recs *v, int64_t t_us, uint32_t asset, uint8_t type, uint8_t src,
		    uint8_t sev)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 1 << 20;
		struct rec *r = realloc(v->r, cap * sizeof *r);

		if (!r)
			return TN_ENOMEM;
		v->r = r;
		v->cap = cap;
	}
	v->r[v->n++] = (struct rec){t_us, t_us, asset, type, src, sev, 0};
	return 0;
}

/* The source of an asset's reports: one of two adapters of its sector. */
static uint8_t src_of(const struct tn_asset *a, uint32_t i)
{
	return (uint8_t)(a->sector * SOURCES_PER_SECTOR + (int)(i % SOURCES_PER_SECTOR));
}

/* As tocsin sim cascades: the chance that losing this supply takes `dep` down. */
static double spread_chance(const struct gen *s, uint32_t dep, uint32_t prov,
			    const struct tn_graph_edge *e, int64_t t_us)
{
	static const double base[TN_DEP__COUNT] = {
		[TN_DEP_POWER] = 0.9,	  [TN_DEP_WATER] = 0.6, [TN_DEP_COMMUNICATIONS] = 0.6,
		[TN_DEP_TRANSPORT] = 0.7, [TN_DEP_FUEL] = 0.3,	[TN_DEP_GAS] = 0.6,
		[TN_DEP_DATA] = 0.5,	  [TN_DEP_STAFF] = 0.3, [TN_DEP_OTHER] = 0.8};
	double p = e->kind < TN_DEP__COUNT ? base[e->kind] : 0.5;
	const struct tn_graph_edge *pe;
	size_t np = tn_graph_providers(s->g, dep, &pe);

	if (e->kind == TN_DEP_COMMUNICATIONS &&
	    tn_graph_asset(s->g, dep)->sector == TN_SECTOR_ENERGY)
		p = 0.05;
	for (size_t k = 0; k < np; k++)
		if (pe[k].kind == e->kind && pe[k].other != prov &&
		    s->cand[pe[k].other] != s->cand_no && s->free_us[pe[k].other] < t_us) {
			p *= 0.15;
			break;
		}
	if (e->delay_min_s >= 3600)
		p *= 0.5;
	return p;
}

static uint32_t pick_root(struct gen *s)
{
	static const struct {
		enum tn_sector sector;
		double weight;
	} start[] = {
		{TN_SECTOR_ENERGY, 0.5}, {TN_SECTOR_COMMUNICATIONS, 0.2},
		{TN_SECTOR_WATER, 0.15}, {TN_SECTOR_TRANSPORT, 0.1},
		{TN_SECTOR_DATA, 0.05},
	};
	double u = tn__rng_unit(&s->rng);
	int want = -1;

	for (size_t k = 0; k < sizeof start / sizeof start[0]; k++) {
		if (u < start[k].weight) {
			want = start[k].sector;
			break;
		}
		u -= start[k].weight;
	}
	if (want >= 0 && s->roots_n[want] == 0)
		want = -1;
	for (int tries = 0; tries < 10000; tries++) {
		const struct tn_graph_edge *e;
		uint32_t a = want < 0 ? s->roots[tn__rng_below(&s->rng, s->nroots)]
				      : s->roots[s->roots_at[want] +
						 tn__rng_below(&s->rng, s->roots_n[want])];
		size_t nd = tn_graph_dependents(s->g, a, &e);

		if (tn__rng_chance(&s->rng, nd >= 32 ? 1.0 : (double)nd / 32.0))
			return a;
	}
	return NONE;
}

/* Grow a cascade from root at t0 (breadth first); assets still down are skipped. */
static void grow(struct gen *s, uint32_t root, int64_t t0)
{
	if (++s->cand_no == 0) {
		memset(s->cand, 0, s->n * sizeof *s->cand);
		s->cand_no = 1;
	}
	s->nm = 0;
	s->m[s->nm++] = (struct member){root, t0, 0, 0};
	s->cand[root] = s->cand_no;
	for (size_t k = 0; k < s->nm && s->nm < MAX_SIZE; k++) {
		struct member p = s->m[k];
		const struct tn_graph_edge *de;
		size_t nd;

		if (p.hop >= MAX_DEPTH)
			continue;
		nd = tn_graph_dependents(s->g, p.asset, &de);
		for (size_t j = 0; j < nd && s->nm < MAX_SIZE; j++) {
			uint32_t b = de[j].other;
			int64_t tb;

			if (s->cand[b] == s->cand_no || s->free_us[b] >= p.t_us)
				continue;
			if (!tn__rng_chance(&s->rng, spread_chance(s, b, p.asset, &de[j], p.t_us)))
				continue;
			tb = p.t_us + tn__rng_range(&s->rng, (int64_t)de[j].delay_min_s * 1000,
						    (int64_t)de[j].delay_max_s * 1000) *
					      1000;
			s->cand[b] = s->cand_no;
			s->m[s->nm++] = (struct member){b, tb, (uint8_t)(p.hop + 1),
							(uint8_t)tn__rng_chance(&s->rng, P_DEGRADED)};
		}
	}
}

static uint8_t sev_fail(const struct tn_asset *a, bool degraded)
{
	return degraded ? 3 : a->criticality <= 1 ? 1 : 2;
}

/* Commit the cascade: its failures, then the root's restoration and hop by hop. */
static int commit(struct gen *s)
{
	int64_t last = 0, back;
	int rc;

	for (size_t k = 0; k < s->nm; k++) {
		const struct member *m = &s->m[k];
		const struct tn_asset *a = tn_graph_asset(s->g, m->asset);

		if ((rc = recs_add(s->out, m->t_us, m->asset,
				   m->degraded ? TN_EV_DEGRADED : TN_EV_DOWN, src_of(a, m->asset),
				   sev_fail(a, m->degraded))) != 0)
			return rc;
		if (m->t_us > last)
			last = m->t_us;
	}
	back = last + tn__rng_range(&s->rng, RESTORE_MIN_S, RESTORE_MAX_S) * US;
	for (size_t k = 0; k < s->nm; k++) {
		const struct member *m = &s->m[k];
		const struct tn_asset *a = tn_graph_asset(s->g, m->asset);
		int64_t t = back + m->hop * tn__rng_range(&s->rng, 60, 600) * US +
			    tn__rng_range(&s->rng, 0, 999) * 1000;

		if ((rc = recs_add(s->out, t, m->asset, TN_EV_UP, src_of(a, m->asset), 5)) != 0)
			return rc;
		s->free_us[m->asset] = t;
	}
	s->failures += s->nm;
	s->restores += s->nm;
	return 0;
}

static int index_roots(struct gen *s)
{
	size_t at = 0;

	s->roots = malloc(((size_t)s->n + 1) * sizeof *s->roots);
	if (!s->roots)
		return TN_ENOMEM;
	for (int sec = 0; sec < TN_SECTOR__COUNT; sec++) {
		s->roots_at[sec] = at;
		for (uint32_t i = 0; i < s->n; i++) {
			const struct tn_graph_edge *e;

			if (tn_graph_asset(s->g, i)->sector != (enum tn_sector)sec)
				continue;
			s->sector_n[sec]++;
			if (tn_graph_dependents(s->g, i, &e) > 0)
				s->roots[at++] = i;
		}
		s->roots_n[sec] = at - s->roots_at[sec];
	}
	s->nroots = at;
	return 0;
}

/* Exponential gap of a Poisson process of `rate` per second, in us (>= 1). */
static int64_t gap_us(struct tn__rng *r, double rate)
{
	double g = -log(1.0 - tn__rng_unit(r)) / rate * 1e6;

	return g < 1 ? 1 : (int64_t)g;
}

static int by_arrival(const void *x, const void *y)
{
	const struct rec *a = x, *b = y;

	if (a->arr_us != b->arr_us)
		return a->arr_us < b->arr_us ? -1 : 1;
	return a->t_us < b->t_us ? -1 : a->t_us > b->t_us;
}

struct gen_result {
	uint64_t cascades, failures, noise, alarms, heartbeats, restores, missing, reordered,
		too_late;
	double mean_cascade, span_s;
	int64_t hb_s; /* heartbeat interval of every source */
};

/*
 * generate - about `want` reports over span_s seconds of event time into
 * *out, in arrival order. Cascade roots, background failures and alarms are
 * Poisson processes whose rates are set from `want` and the shares above (the
 * cascades' mean size is learnt from PILOT cascades first).
 */
static int generate(const struct tn_graph *g, uint64_t seed, uint64_t want, double span_s,
		    struct recs *out, struct gen_result *res)
{
	struct gen s;
	struct tn__rng rr;
	int64_t span_us = (int64_t)(span_s * 1e6), t, last = 0;
	double pilot_events = 0, rate_c, rate_noise, rate_alarm, hb_events;
	int64_t hb;
	unsigned nsrc = TN_SECTOR__COUNT * SOURCES_PER_SECTOR, live = 0;
	size_t w;
	int rc = TN_ENOMEM;

	memset(&s, 0, sizeof s);
	memset(res, 0, sizeof *res);
	s.g = g;
	s.n = (uint32_t)tn_graph_size(g);
	s.out = out;
	s.free_us = malloc(s.n * sizeof *s.free_us);
	s.cand = calloc(s.n, sizeof *s.cand);
	s.m = malloc(MAX_SIZE * sizeof *s.m);
	if (!s.free_us || !s.cand || !s.m || index_roots(&s) != 0)
		goto out;
	for (uint32_t i = 0; i < s.n; i++)
		s.free_us[i] = INT64_MIN;
	if (s.nroots == 0) {
		say("the registry has no asset with dependents");
		rc = TN_EINVAL;
		goto out;
	}

	/* pilot: the mean number of reports of a cascade (failures + restorations) */
	tn__rng_seed(&s.rng, seed, ST_PILOT);
	for (int k = 0; k < PILOT; k++) {
		for (int att = 0; att < ATTEMPTS; att++) { /* as below */
			uint32_t root = pick_root(&s);

			if (root == NONE)
				continue;
			grow(&s, root, 0);
			if (s.nm >= MIN_SIZE)
				break;
		}
		pilot_events += 2.0 * (double)s.nm * (1 - P_MISSING / 2);
	}
	res->mean_cascade = pilot_events / PILOT;
	for (int sec = 0; sec < TN_SECTOR__COUNT; sec++)
		live += s.sector_n[sec] ? SOURCES_PER_SECTOR : 0;
	/* the span plus the tail of late failures and restorations, about 16 h */
	hb = (int64_t)ceil((double)live * (span_s + 57600) / (SHARE_HEARTBEATS * (double)want));
	res->hb_s = hb < HEARTBEAT_MIN_S ? HEARTBEAT_MIN_S : hb;
	hb_events = (double)live * (span_s + 57600) / (double)res->hb_s;
	rate_alarm = share_alarms * (double)want / span_s;
	rate_noise = share_noise * (double)want / 2 / span_s;
	rate_c = ((double)want * (1 - share_alarms - share_noise) - hb_events) /
		 (res->mean_cascade * span_s);
	if (rate_c <= 0) {
		say("--events too few for the heartbeats of a %.0f s span", span_s);
		rc = TN_EINVAL;
		goto out;
	}

	/* cascades, in increasing root time */
	tn__rng_seed(&s.rng, seed, ST_CASCADES);
	for (t = gap_us(&s.rng, rate_c); t < span_us; t += gap_us(&s.rng, rate_c)) {
		for (int att = 0; att < ATTEMPTS; att++) {
			uint32_t root = pick_root(&s);

			if (root == NONE || s.free_us[root] >= t)
				continue;
			grow(&s, root, t);
			if (s.nm >= MIN_SIZE || att == ATTEMPTS - 1) {
				if ((rc = commit(&s)) != 0)
					goto out;
				s.cascades++;
				break;
			}
		}
	}
	/* background failures: any asset not down, restored 30-120 min later */
	tn__rng_seed(&s.rng, seed, ST_NOISE);
	for (t = gap_us(&s.rng, rate_noise); t < span_us; t += gap_us(&s.rng, rate_noise)) {
		uint32_t a = (uint32_t)tn__rng_below(&s.rng, s.n);
		const struct tn_asset *x = tn_graph_asset(g, a);
		bool degraded = tn__rng_chance(&s.rng, P_DEGRADED);
		int64_t back = t + tn__rng_range(&s.rng, RESTORE_MIN_S, RESTORE_MAX_S) * US;

		if (s.free_us[a] >= t)
			continue;
		if ((rc = recs_add(out, t, a, degraded ? TN_EV_DEGRADED : TN_EV_DOWN, src_of(x, a),
				   sev_fail(x, degraded))) != 0 ||
		    (rc = recs_add(out, back, a, TN_EV_UP, src_of(x, a), 5)) != 0)
			goto out;
		s.free_us[a] = back;
		s.noise++;
	}
	/* alarms: recorded by the engine, fail nothing */
	tn__rng_seed(&s.rng, seed, ST_ALARMS);
	for (t = gap_us(&s.rng, rate_alarm); t < span_us; t += gap_us(&s.rng, rate_alarm)) {
		uint32_t a = (uint32_t)tn__rng_below(&s.rng, s.n);

		if ((rc = recs_add(out, t, a, TN_EV_ALARM, src_of(tn_graph_asset(g, a), a), 3)) !=
		    0)
			goto out;
		s.alarms++;
	}
	/* heartbeats of every source, staggered, until the last restoration (a
	 * source that stopped would go blind, which is not what is measured) */
	for (size_t k = 0; k < out->n; k++)
		if (out->r[k].t_us > last)
			last = out->r[k].t_us;
	for (unsigned k = 0; k < nsrc; k++)
		for (t = s.sector_n[k / SOURCES_PER_SECTOR] ? (int64_t)k * res->hb_s * US / nsrc
							    : last + 1;
		     t <= last; t += res->hb_s * US) {
			if ((rc = recs_add(out, t, NONE, TN_EV_HEARTBEAT, (uint8_t)k, 5)) != 0)
				goto out;
			s.heartbeats++;
		}

	/* reports: failures dropped, some delayed (a few beyond the lateness) */
	tn__rng_seed(&rr, seed, ST_REPORTS);
	for (size_t k = w = 0; k < out->n; k++) {
		struct rec r = out->r[k];
		bool drop = tn__rng_chance(&rr, P_MISSING);
		double u = tn__rng_unit(&rr);

		if (drop && (r.type == TN_EV_DOWN || r.type == TN_EV_DEGRADED)) {
			res->missing++;
			continue;
		}
		if (r.type != TN_EV_HEARTBEAT && u < P_TOO_LATE) {
			r.arr_us = r.t_us + tn__rng_range(&rr, LATE_MAX_S + 1, TOO_LATE_MAX_S) * US;
			res->too_late++;
		} else if (r.type != TN_EV_HEARTBEAT && u < P_TOO_LATE + P_REORDER) {
			r.arr_us = r.t_us + tn__rng_range(&rr, 1, LATE_MAX_S) * US;
			res->reordered++;
		}
		out->r[w++] = r;
	}
	out->n = w;
	qsort(out->r, out->n, sizeof *out->r, by_arrival);
	res->cascades = s.cascades;
	res->failures = s.failures;
	res->restores = s.restores + s.noise;
	res->noise = s.noise;
	res->alarms = s.alarms;
	res->heartbeats = s.heartbeats;
	res->span_s = (double)last / 1e6;
	rc = 0;
out:
	free(s.free_us);
	free(s.cand);
	free(s.m);
	free(s.roots);
	return rc;
}

/* ---- the runs ----------------------------------------------------------------------- */

static const char *const summaries[TN_EV__COUNT] = {
	[TN_EV_DOWN] = "loss of supply",      [TN_EV_DEGRADED] = "running on backup",
	[TN_EV_UP] = "back in service",	      [TN_EV_ALARM] = "alarm raised",
	[TN_EV_HEARTBEAT] = "adapter alive",
};

struct input {
	const struct tn_graph *g;
	const struct rec *r;
	size_t n;
	const char *ids; /* n ids of ID_LEN bytes, NUL included */
	int hb_timeout_s; /* the engine's heartbeat_timeout_s: 3 heartbeat intervals */
	char src[TN_SECTOR__COUNT * SOURCES_PER_SECTOR][48];
};

#define ID_LEN 12 /* "e" + 10 digits + NUL */

struct run {
	struct tn_corr_stats st;
	uint64_t changes, bytes, by_msg[4], ticks, invalid;
	size_t fed; /* events given (all of them unless the budget ran out) */
	int64_t wall_ns, cpu_ns;
	long nivcsw;
	struct hist ev, tick; /* pass B only: event call + drain; tick + drain */
	struct hist step;     /* pass B only: an event with the tick before it, if any */
	uint64_t tick_changes; /* changes drained after ticks (the rest after events) */
	int64_t finish_ns;
	uint64_t engine_rss;  /* VmRSS growth over the run (engine state) */
	/* sampled revisions: their change structs and a copy of their bodies */
	struct tn_change *sample;
	char *sample_body;
	size_t nsample, csample, body_used, body_cap;
	uint64_t sample_every;
	uint32_t digest; /* pass B: CRC32C of every revision body, in order (A/B of builds) */
};

static inline void fill(const struct input *in, size_t i, struct tn_event *ev)
{
	const struct rec *r = &in->r[i];

	ev->id = in->ids + i * ID_LEN;
	ev->source = in->src[r->src];
	ev->type = (enum tn_event_type)r->type;
	ev->time_us = EPOCH_US + r->t_us;
	ev->severity = r->sev;
	ev->summary = summaries[r->type];
	if (r->asset == NONE) {
		ev->sector = TN_SECTOR_NONE;
		ev->asset = NULL;
	} else {
		const struct tn_asset *a = tn_graph_asset(in->g, r->asset);

		ev->sector = a->sector;
		ev->asset = a->id;
	}
}

/* Take the changes of the last call: count them and their bytes. */
static inline size_t drain(struct tn_corr *c, struct run *o, const struct tn_change **out)
{
	const struct tn_change *ch;
	size_t n = tn_corr_changes(c, &ch);

	for (size_t k = 0; k < n; k++) {
		o->bytes += ch[k].body_len;
		o->by_msg[(unsigned)ch[k].msg & 3]++;
	}
	o->changes += n;
	*out = ch;
	return n;
}

/* Copy some of the changes just drained (pass B, after the clock was read:
 * they stay valid until the next call into the engine). */
static void keep_sample(struct run *o, const struct tn_change *ch, size_t n, uint64_t before)
{
	for (size_t k = 0; k < n; k++) {
		uint64_t seq = before + k;
		struct tn_change x;

		o->digest = tn__crc32c(o->digest, ch[k].body, ch[k].body_len);

		if (seq % o->sample_every != 0 || o->nsample == o->csample)
			continue;
		if (o->body_used + ch[k].body_len > o->body_cap)
			continue;
		x = ch[k];
		memcpy(o->sample_body + o->body_used, ch[k].body, ch[k].body_len);
		x.body = (const char *)(uintptr_t)o->body_used; /* offset, fixed up later */
		x.area = "";
		x.merged_into = ch[k].merged_into ? "INC-0000000000000000" : NULL;
		o->body_used += ch[k].body_len;
		o->sample[o->nsample++] = x;
	}
}

/*
 * run_pass - one engine over the first `limit` events; stops early (o->fed
 * says where) when budget_ns of wall time has gone, so that a slow engine
 * cannot hold `make bench` for hours.
 */
static int run_pass(const struct input *in, size_t limit, int64_t budget_ns, bool timed,
		    struct run *o)
{
	struct tn_corr_config cfg;
	struct tn_corr *c;
	struct tn_event ev;
	const struct tn_change *ch;
	size_t nch;
	int64_t next_tick, w0, c0, t0, t1, said, tick_ns;
	long v0;
	uint64_t rss0;
	int rc;

	memset(&ev, 0, sizeof ev);
	tn_corr_config_defaults(&cfg);
	cfg.heartbeat_timeout_s = in->hb_timeout_s;
	rss0 = status_bytes("VmRSS");
	if ((rc = tn_corr_new(&cfg, in->g, "live", &c)) != 0) {
		say("tn_corr_new: %s", tn_strerror(rc));
		return rc;
	}
	next_tick = in->n ? (in->r[0].arr_us / US + 1) * US : 0;
	v0 = nivcsw();
	c0 = cpu_ns();
	w0 = said = mono_ns();
	for (o->fed = 0; o->fed < limit; o->fed++) {
		size_t i = o->fed;
		int64_t arr = in->r[i].arr_us;

		if ((i & 0xff) == 0 && i) {
			int64_t now = mono_ns();

			if (now - w0 > budget_ns) {
				say("time budget of %.0f s spent: stopping at event %zu of %zu",
				    (double)budget_ns / 1e9, i, limit);
				break;
			}
			if (now - said > 10 * NS) {
				say("  %zu of %zu events, %.0f events/s so far", i, limit,
				    (double)i / ((double)(now - w0) / 1e9));
				said = now;
			}
		}
		/*
		 * The server's tick, once a second of the arrival clock. Seconds
		 * in which nothing arrives are coalesced into the next tick: the
		 * engine's output does not depend on how often ticks come (a tick
		 * only moves the watermark), and a sparse input would otherwise
		 * time millions of idle ticks.
		 */
		tick_ns = 0;
		if (arr >= next_tick) {
			int64_t sec = arr / US * US;
			uint64_t before = o->changes;

			if (timed) {
				t0 = mono_ns();
				tn_corr_advance(c, EPOCH_US + sec);
				nch = drain(c, o, &ch);
				t1 = mono_ns();
				tick_ns = t1 - t0;
				h_add(&o->tick, (uint64_t)tick_ns);
				if (nch)
					keep_sample(o, ch, nch, before);
			} else {
				tn_corr_advance(c, EPOCH_US + sec);
				drain(c, o, &ch);
			}
			o->tick_changes += o->changes - before;
			o->ticks++;
			next_tick = sec + US;
		}
		fill(in, i, &ev);
		if (timed) {
			uint64_t before = o->changes;

			t0 = mono_ns();
			rc = tn_corr_event(c, &ev);
			nch = drain(c, o, &ch);
			t1 = mono_ns();
			h_add(&o->ev, (uint64_t)(t1 - t0));
			h_add(&o->step, (uint64_t)(t1 - t0 + tick_ns));
			if (nch)
				keep_sample(o, ch, nch, before);
		} else {
			rc = tn_corr_event(c, &ev);
			drain(c, o, &ch);
		}
		o->invalid += rc != 0;
	}
	t0 = mono_ns();
	tn_corr_finish(c, o->fed ? EPOCH_US + in->r[o->fed - 1].arr_us : 0);
	drain(c, o, &ch);
	t1 = mono_ns();
	o->finish_ns = t1 - t0;
	o->wall_ns = t1 - w0;
	o->cpu_ns = cpu_ns() - c0;
	o->nivcsw = nivcsw() - v0;
	tn_corr_stats(c, &o->st);
	o->engine_rss = status_bytes("VmRSS") - rss0;
	tn_corr_free(c);
	return 0;
}

/* The empty interval: two CLOCK_MONOTONIC reads back to back. */
static void clock_overhead(struct hist *h)
{
	for (int i = 0; i < 2000000; i++) {
		int64_t a = mono_ns(), b = mono_ns();

		h_add(h, (uint64_t)(b - a));
	}
}

/* tn_change_json on the sample: ns per revision (median of 5 rounds). */
static double json_cost(struct run *o, double *mbps)
{
	size_t cap = 4 << 20, len;
	char *buf = malloc(cap);
	double per[5], tmp;
	uint64_t bytes = 0;

	*mbps = 0;
	if (!buf || o->nsample == 0) {
		free(buf);
		return 0;
	}
	for (size_t k = 0; k < o->nsample; k++)
		o->sample[k].body = o->sample_body + (uintptr_t)o->sample[k].body;
	for (int round = 0; round < 5; round++) {
		int64_t t0 = mono_ns();
		size_t reps = 0;

		bytes = 0;
		do {
			for (size_t k = 0; k < o->nsample; k++) {
				if (tn_change_json(&o->sample[k], reps * o->nsample + k + 1, buf, cap,
						   &len) == 0)
					bytes += len;
			}
			reps++;
		} while (mono_ns() - t0 < 100000000LL);
		per[round] = (double)(mono_ns() - t0) / (double)(reps * o->nsample);
		*mbps = (double)bytes / ((double)(mono_ns() - t0) / 1e9) / 1e6;
	}
	for (int i = 0; i < 5; i++)
		for (int j = i + 1; j < 5; j++)
			if (per[j] < per[i]) {
				tmp = per[i];
				per[i] = per[j];
				per[j] = tmp;
			}
	free(buf);
	return per[2];
}

/* The sampled revisions as JSON lines (after json_cost fixed their bodies up). */
static int dump_sample(const struct run *o, const char *path)
{
	FILE *f = fopen(path, "we");

	if (!f)
		return -1;
	for (size_t k = 0; k < o->nsample; k++) {
		fprintf(f, "{\"seq\":%zu,", k + 1);
		fwrite(o->sample[k].body, 1, o->sample[k].body_len, f);
		fputc('\n', f);
	}
	return fclose(f);
}

static int same_stats(const struct tn_corr_stats *a, const struct tn_corr_stats *b)
{
	return a->events == b->events && a->incidents == b->incidents && a->merges == b->merges &&
	       a->changes == b->changes && a->inferred == b->inferred &&
	       a->colocated == b->colocated && a->late == b->late &&
	       a->open_incidents == b->open_incidents;
}

static void put_stats(const char *p, const struct tn_corr_stats *s)
{
#define S(f) printf("%s_%s=%" PRIu64 "\n", p, #f, (uint64_t)s->f)
	S(events);
	S(invalid);
	S(late);
	S(stale);
	S(duplicates);
	S(unregistered);
	S(alarms);
	S(incidents);
	S(merges);
	S(inferred);
	S(confirmed);
	S(withdrawn);
	S(colocated);
	S(blind);
	S(borne_out);
	S(not_borne_out);
	S(changes);
	S(buffer_full);
	S(incidents_full);
	S(members_full);
	S(at_risk_full);
	S(timers_full);
	S(sources_full);
	S(unregistered_full);
	S(scan_truncated);
	S(buffered);
	S(open_incidents);
#undef S
}

static void put_hist(const char *p, const struct hist *h)
{
	printf("%s_n=%" PRIu64 "\n", p, h->n);
	printf("%s_mean_ns=%.0f\n", p, h->n ? (double)h->sum / (double)h->n : 0.0);
	printf("%s_p50_ns=%" PRIu64 "\n", p, h_quantile(h, 0.50));
	printf("%s_p90_ns=%" PRIu64 "\n", p, h_quantile(h, 0.90));
	printf("%s_p99_ns=%" PRIu64 "\n", p, h_quantile(h, 0.99));
	printf("%s_p999_ns=%" PRIu64 "\n", p, h_quantile(h, 0.999));
	printf("%s_p9999_ns=%" PRIu64 "\n", p, h_quantile(h, 0.9999));
	printf("%s_max_ns=%" PRIu64 "\n", p, h->max);
}

/*
 * measure - pass A and pass B over the input, their figures printed with
 * `p` in front of every key ("" or "live_"); the revisions sampled in pass B
 * go to `dump` (may be NULL).
 */
static int measure(const struct input *in, const char *p, double max_s, const char *dump)
{
	struct run *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
	double json_ns, json_mbps;
	char k[64];
	int rc = TN_ENOMEM;

	if (!a || !b)
		goto out;
	say("%spass A (throughput): %zu events, at most %.0f s", p, in->n, max_s);
	run_pass(in, in->n, (int64_t)(max_s * 1e9), false, a);
	printf("%sa_fed=%zu\n", p, a->fed);
	printf("%sa_wall_s=%.3f\n%sa_cpu_s=%.3f\n%sa_nivcsw=%ld\n%sa_ticks=%" PRIu64 "\n", p,
	       (double)a->wall_ns / 1e9, p, (double)a->cpu_ns / 1e9, p, a->nivcsw, p, a->ticks);
	printf("%sa_eps=%.0f\n%sa_eps_cpu=%.0f\n", p, (double)a->fed / ((double)a->wall_ns / 1e9),
	       p, (double)a->fed / ((double)a->cpu_ns / 1e9));
	printf("%sa_tick_changes=%" PRIu64 "\n", p, a->tick_changes);
	printf("%sa_changes=%" PRIu64 "\n%sa_change_bytes=%" PRIu64 "\n%sa_invalid=%" PRIu64 "\n",
	       p, a->changes, p, a->bytes, p, a->invalid);
	printf("%sa_alerts=%" PRIu64 "\n%sa_updates=%" PRIu64 "\n%sa_resolved=%" PRIu64
	       "\n%sa_merged=%" PRIu64 "\n",
	       p, a->by_msg[TN_MSG_ALERT], p, a->by_msg[TN_MSG_UPDATE], p,
	       a->by_msg[TN_MSG_RESOLVED], p, a->by_msg[TN_MSG_MERGED]);
	printf("%sa_finish_ms=%.3f\n%sengine_rss=%" PRIu64 "\n", p, (double)a->finish_ns / 1e6, p,
	       a->engine_rss);
	snprintf(k, sizeof k, "%sst", p);
	put_stats(k, &a->st);
	fflush(stdout);

	b->csample = 20000;
	b->body_cap = 64 << 20;
	b->sample = malloc(b->csample * sizeof *b->sample);
	b->sample_body = malloc(b->body_cap);
	b->sample_every = a->changes / b->csample + 1;
	if (!b->sample || !b->sample_body)
		goto out;
	say("%spass B (per-event cost): the same %zu events", p, a->fed);
	run_pass(in, a->fed, INT64_MAX, true, b);
	printf("%sb_wall_s=%.3f\n%sb_cpu_s=%.3f\n%sb_nivcsw=%ld\n", p, (double)b->wall_ns / 1e9,
	       p, (double)b->cpu_ns / 1e9, p, b->nivcsw);
	printf("%sb_eps=%.0f\n", p, (double)b->fed / ((double)b->wall_ns / 1e9));
	snprintf(k, sizeof k, "%sev", p);
	put_hist(k, &b->ev);
	snprintf(k, sizeof k, "%stick", p);
	put_hist(k, &b->tick);
	snprintf(k, sizeof k, "%sstep", p);
	put_hist(k, &b->step);
	printf("%sb_finish_ms=%.3f\n", p, (double)b->finish_ns / 1e6);
	printf("%sb_digest=%08x\n", p, (unsigned)b->digest);
	printf("%sdeterministic=%s\n", p,
	       same_stats(&a->st, &b->st) && a->changes == b->changes && a->bytes == b->bytes
		       ? "yes"
		       : "NO");
	json_ns = json_cost(b, &json_mbps);
	printf("%sjson_sample=%zu\n%sjson_ns=%.0f\n%sjson_mbps=%.0f\n%sjson_mean_body=%.0f\n", p,
	       b->nsample, p, json_ns, p, json_mbps, p,
	       b->nsample ? (double)b->body_used / (double)b->nsample : 0.0);
	fflush(stdout);
	if (dump && dump_sample(b, dump) != 0)
		say("%s: %s", dump, strerror(errno));
	rc = 0;
out:
	if (b) {
		free(b->sample);
		free(b->sample_body);
	}
	free(a);
	free(b);
	return rc;
}

static int cmd_run(int argc, char **argv)
{
	const char *assets = NULL, *deps = NULL, *dump = NULL;
	uint64_t want = 5000000, seed = 1, city_seed = 0;
	double span_h = 8760, max_s = 120, live_rate = 0;
	struct tn_csv_errors errs;
	struct tn_graph *g = NULL;
	struct recs recs = {0};
	struct gen_result gr;
	struct input in;
	struct hist *clk = NULL;
	uint64_t rss_before, rss_after, hwm_load, rss_events;
	int64_t t0, t1, c0;
	double load_s, la[3] = {0, 0, 0};
	char *ids = NULL;
	FILE *f;
	int rc;

	for (int i = 2; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v) {
			say("%s: expected a value", o);
			return 2;
		}
		if (strcmp(o, "--assets") == 0)
			assets = v;
		else if (strcmp(o, "--deps") == 0)
			deps = v;
		else if (strcmp(o, "--events") == 0)
			want = strtoull(v, NULL, 10);
		else if (strcmp(o, "--seed") == 0)
			seed = strtoull(v, NULL, 10);
		else if (strcmp(o, "--city-seed") == 0)
			city_seed = strtoull(v, NULL, 10);
		else if (strcmp(o, "--span-h") == 0)
			span_h = strtod(v, NULL);
		else if (strcmp(o, "--max-s") == 0)
			max_s = strtod(v, NULL);
		else if (strcmp(o, "--live-rate") == 0)
			live_rate = strtod(v, NULL);
		else if (strcmp(o, "--share-alarms") == 0)
			share_alarms = strtod(v, NULL);
		else if (strcmp(o, "--share-noise") == 0)
			share_noise = strtod(v, NULL);
		else if (strcmp(o, "--dump") == 0)
			dump = v;
		else {
			say("unknown option %s", o);
			return 2;
		}
		i++;
	}
	if (!assets || !deps || want < 1000 || want > 200000000 || !(span_h >= 1 && span_h <= 8760) ||
	    !(max_s >= 1)) {
		say("expected --assets A.csv --deps D.csv [--events 1000..200000000] [--seed S] "
		    "[--span-h 1..8760] [--max-s S] [--city-seed S] [--dump FILE]");
		return 2;
	}
	if ((f = fopen("/proc/loadavg", "re")) != NULL) {
		if (fscanf(f, "%lf %lf %lf", &la[0], &la[1], &la[2]) != 3)
			la[0] = la[1] = la[2] = 0;
		fclose(f);
	}
	printf("loadavg_start=%.2f %.2f %.2f\n", la[0], la[1], la[2]);
	printf("cpus=%ld\n", sysconf(_SC_NPROCESSORS_ONLN));

	/* 1. the registry */
	say("loading %s and %s", assets, deps);
	tn_csv_errors_init(&errs);
	rss_before = status_bytes("VmRSS");
	c0 = cpu_ns();
	t0 = mono_ns();
	rc = tn_registry_csv_load(assets, deps, &g, &errs);
	t1 = mono_ns();
	c0 = cpu_ns() - c0;
	if (rc != 0) {
		tn_csv_errors_print(&errs, stderr, "engine_bench: ");
		tn_csv_errors_free(&errs);
		say("registry not loaded: %s", tn_strerror(rc));
		return 1;
	}
	tn_csv_errors_free(&errs);
	load_s = (double)(t1 - t0) / 1e9;
	rss_after = status_bytes("VmRSS");
	hwm_load = status_bytes("VmHWM");
	printf("city_assets=%zu\ncity_edges=%zu\ncity_seed=%" PRIu64 "\n", tn_graph_size(g),
	       tn_graph_edges(g), city_seed);
	printf("load_s=%.3f\nload_cpu_s=%.3f\n", load_s, (double)c0 / 1e9);
	printf("load_rss_before=%" PRIu64 "\nload_rss_after=%" PRIu64 "\nload_hwm=%" PRIu64 "\n",
	       rss_before, rss_after, hwm_load);
	printf("graph_memory=%zu\n", tn_graph_memory(g));
	fflush(stdout);

	/* 2. the events */
	say("generating about %" PRIu64 " events over %.0f h of event time (seed %" PRIu64 ")",
	    want, span_h, seed);
	t0 = mono_ns();
	if ((rc = generate(g, seed, want, span_h * 3600, &recs, &gr)) != 0) {
		say("generating the events: %s", tn_strerror(rc));
		goto out;
	}
	ids = malloc(recs.n * ID_LEN);
	if (!ids) {
		rc = TN_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < recs.n; i++)
		snprintf(ids + i * ID_LEN, ID_LEN, "e%010u", (unsigned)i);
	t1 = mono_ns();
	rss_events = status_bytes("VmRSS");
	printf("events=%zu\nevents_seed=%" PRIu64 "\nevents_span_s=%.0f\n", recs.n, seed,
	       gr.span_s);
	printf("share_alarms=%.3f\nshare_noise=%.3f\n", share_alarms, share_noise);
	printf("gen_cascades=%" PRIu64 "\ngen_cascade_mean_reports=%.1f\ngen_failures=%" PRIu64
	       "\ngen_noise=%" PRIu64 "\ngen_restores=%" PRIu64 "\ngen_alarms=%" PRIu64
	       "\ngen_heartbeats=%" PRIu64 "\ngen_missing=%" PRIu64 "\ngen_reordered=%" PRIu64
	       "\ngen_too_late=%" PRIu64 "\ngen_s=%.2f\nevents_bytes=%zu\n",
	       gr.cascades, gr.mean_cascade, gr.failures, gr.noise, gr.restores, gr.alarms,
	       gr.heartbeats, gr.missing, gr.reordered, gr.too_late, (double)(t1 - t0) / 1e9,
	       recs.n * (sizeof *recs.r + ID_LEN));
	printf("rss_with_events=%" PRIu64 "\n", rss_events);
	fflush(stdout);

	memset(&in, 0, sizeof in);
	in.g = g;
	in.r = recs.r;
	in.n = recs.n;
	in.ids = ids;
	in.hb_timeout_s = (int)(3 * gr.hb_s);
	printf("gen_hb_s=%" PRId64 "\nheartbeat_timeout_s=%d\n", gr.hb_s, in.hb_timeout_s);
	for (int s = 0; s < TN_SECTOR__COUNT; s++)
		for (int k = 0; k < SOURCES_PER_SECTOR; k++)
			snprintf(in.src[s * SOURCES_PER_SECTOR + k], sizeof in.src[0],
				 "scada-%s-%c", tn_sector_name((enum tn_sector)s), 'a' + k);

	clk = calloc(1, sizeof *clk);
	if (!clk) {
		rc = TN_ENOMEM;
		goto out;
	}
	say("clock overhead");
	clock_overhead(clk);
	put_hist("clock", clk);

	/* 3-4. history: the model's own event times */
	if ((rc = measure(&in, "", max_s, dump)) != 0)
		goto out;
	/* and live: the same reports, stamped on arrival by a clock of live_rate/s */
	if (live_rate > 0) {
		for (size_t i = 0; i < recs.n; i++)
			recs.r[i].t_us = recs.r[i].arr_us = (int64_t)((double)i * 1e6 / live_rate);
		printf("live_rate=%.0f\n", live_rate);
		if ((rc = measure(&in, "live_", max_s, NULL)) != 0)
			goto out;
	}
	printf("hwm_end=%" PRIu64 "\n", status_bytes("VmHWM"));
	rc = 0;
out:
	free(clk);
	free(ids);
	free(recs.r);
	tn_graph_free(g);
	return rc ? 1 : 0;
}

/* ---- end to end: through tocsind with correlation on ------------------------------- */

/*
 * e2e - the same kind of events, from a small city whose registry tocsind
 * has loaded from PostgreSQL, sent through the adapter SDK (one connection,
 * closed loop: as fast as acks come) for `seconds`, with event time = the
 * wall clock at sending (order kept, spacing not). Every MARK_EVERY-th
 * failure is a marker; a monitor thread polls the revisions stored since its
 * last poll for the markers acked and not yet seen, so each marker's lag is the time from its
 * ack (durable in the journal) to its first revision being in PostgreSQL:
 * the correlator's reading, the lateness (the watermark trails the server's
 * ticks by lateness_s), the emit bucket, the committer and the store.
 */
#define MARK_EVERY 2000
#define E2E_POLL_NS (200 * 1000000LL)

struct marker {
	char id[32];
	uint8_t src;
	int64_t ack_ns, seen_ns; /* 0: not yet; seen: its revision in PostgreSQL */
	int64_t journal_ns;	 /* its revision (a CHANGE record) in the journal */
};

struct e2e {
	struct input in;
	char nonce[16];
	uint64_t ok, dup, failed;
	int64_t first_ack_ns, last_ack_ns;
	struct marker *mk;
	size_t nmk, cmk;
	pthread_mutex_t mu; /* markers' times, between the sender and the monitor */
	atomic_bool stop;
	const char *db, *journal;
	int64_t wait_ns;
	char err[256], jerr[256];
	uint64_t changes, change_bytes; /* CHANGE records read from the journal */
};

/*
 * e2e_journal - tail tocsind's journal (read-only, beside its writer) and
 * note when each marker first appears in a CHANGE record: the correlator's
 * own lag, without the store's.
 */
static void *e2e_journal(void *ud)
{
	struct e2e *e = ud;
	struct tn_journal_reader *r = NULL;
	struct tn_journal_record rec;
	char pat[40];
	size_t plen;
	int rc;

	plen = (size_t)snprintf(pat, sizeof pat, "\"id\":\"%sm", e->nonce);
	while ((rc = tn_journal_reader_open(e->journal, 0, &r)) != 0) {
		if (atomic_load(&e->stop) && mono_ns() > e->wait_ns)
			return NULL;
		usleep(100000);
	}
	for (;;) {
		rc = tn_journal_reader_next(r, UINT64_MAX, &rec);
		if (rc < 0) {
			snprintf(e->jerr, sizeof e->jerr, "journal: %s", tn_strerror(rc));
			break;
		}
		if (rc == 0) {
			bool all = true;

			if (atomic_load(&e->stop)) {
				pthread_mutex_lock(&e->mu);
				for (size_t k = 0; k < e->nmk && all; k++)
					all = !e->mk[k].ack_ns || e->mk[k].journal_ns;
				pthread_mutex_unlock(&e->mu);
				if (all || mono_ns() > e->wait_ns)
					break;
			}
			usleep(20000);
			continue;
		}
		if (rec.type != TN_JREC_CHANGE)
			continue;
		e->changes++;
		e->change_bytes += rec.len;
		for (const char *p = rec.payload, *end = p + rec.len;
		     (p = memmem(p, (size_t)(end - p), pat, plen)) != NULL;) {
			size_t k = strtoull(p + plen, NULL, 10); /* digits, then a quote */

			p += plen;
			pthread_mutex_lock(&e->mu);
			if (k < e->nmk && !e->mk[k].journal_ns)
				e->mk[k].journal_ns = mono_ns();
			pthread_mutex_unlock(&e->mu);
		}
	}
	tn_journal_reader_close(r);
	return NULL;
}

static void e2e_result(void *ud, const char *id, int status, const char *code, const char *msg)
{
	struct e2e *e = ud;
	int64_t now = mono_ns();
	const char *m;

	if (status == TN_ADAPTER_OK || status == TN_ADAPTER_DUP) {
		if (status == TN_ADAPTER_OK)
			e->ok++;
		else
			e->dup++;
		if (!e->first_ack_ns)
			e->first_ack_ns = now;
		e->last_ack_ns = now;
	} else {
		if (e->failed++ < 5)
			say("event %s refused: %s %s", id, code ? code : "?", msg ? msg : "");
		return;
	}
	m = strchr(id, 'm');
	if (m) {
		size_t k = strtoull(m + 1, NULL, 10);

		pthread_mutex_lock(&e->mu);
		if (k < e->nmk)
			e->mk[k].ack_ns = now;
		pthread_mutex_unlock(&e->mu);
	}
}

/* Markers acked and not seen into two PostgreSQL array literals; how many. */
static size_t pending(struct e2e *e, char *src, char *ids, size_t cap, size_t *idx)
{
	size_t n = 0, ls = 1, li = 1;

	src[0] = ids[0] = '{';
	pthread_mutex_lock(&e->mu);
	for (size_t k = 0; k < e->nmk && n < 500; k++) {
		const struct marker *m = &e->mk[k];

		if (!m->ack_ns || m->seen_ns || ls + 64 > cap || li + 64 > cap)
			continue;
		ls += (size_t)snprintf(src + ls, cap - ls, "%s%s", n ? "," : "", e->in.src[m->src]);
		li += (size_t)snprintf(ids + li, cap - li, "%s%s", n ? "," : "", m->id);
		idx[n++] = k;
	}
	pthread_mutex_unlock(&e->mu);
	snprintf(src + ls, cap - ls, "}");
	snprintf(ids + li, cap - li, "}");
	return n;
}

static void *e2e_monitor(void *ud)
{
	struct e2e *e = ud;
	PGconn *pg = PQconnectdb(e->db);
	size_t cap = 64 * 1024, *idx = malloc(500 * sizeof *idx);
	char *src = malloc(cap), *ids = malloc(cap);

	if (PQstatus(pg) != CONNECTION_OK || !idx || !src || !ids) {
		snprintf(e->err, sizeof e->err, "monitor: %s", PQerrorMessage(pg));
		goto out;
	}
	/*
	 * Revisions are read once each, in journal order (the store commits in
	 * that order): those above `lo` and up to the newest stored when the
	 * poll starts. incident_members (a view over the newest revision of every
	 * incident since schema/010) would expand every incident at each poll.
	 */
	char lo[24] = "-1", hi[24];

	for (;;) {
		int64_t t0 = mono_ns();
		size_t n = pending(e, src, ids, cap, idx);
		const char *params[4] = {src, ids, lo, hi};
		PGresult *r;

		if (n) {
			r = PQexec(pg, "SELECT coalesce(max(journal_offset), -1) FROM incident_revisions");
			if (PQresultStatus(r) != PGRES_TUPLES_OK) {
				snprintf(e->err, sizeof e->err, "monitor: %s", PQerrorMessage(pg));
				PQclear(r);
				goto out;
			}
			snprintf(hi, sizeof hi, "%s", PQgetvalue(r, 0, 0));
			PQclear(r);
			r = PQexecParams(pg,
					 "SELECT a->'event'->>'id' FROM incident_revisions r "
					 "CROSS JOIN LATERAL jsonb_array_elements(r.body->'affected') a "
					 "JOIN unnest($1::text[], $2::text[]) AS p(s, i) "
					 "ON a->'event'->>'source' = p.s AND a->'event'->>'id' = p.i "
					 "WHERE r.stream = 'live' AND r.journal_offset > $3::bigint "
					 "AND r.journal_offset <= $4::bigint",
					 4, NULL, params, NULL, NULL, 0);
			snprintf(lo, sizeof lo, "%s", hi);
			if (PQresultStatus(r) != PGRES_TUPLES_OK) {
				snprintf(e->err, sizeof e->err, "monitor: %s", PQerrorMessage(pg));
				PQclear(r);
				goto out;
			}
			pthread_mutex_lock(&e->mu);
			for (int k = 0; k < PQntuples(r); k++) {
				const char *m = strchr(PQgetvalue(r, k, 0), 'm');
				size_t j = m ? strtoull(m + 1, NULL, 10) : SIZE_MAX;

				if (j < e->nmk && !e->mk[j].seen_ns)
					e->mk[j].seen_ns = mono_ns();
			}
			pthread_mutex_unlock(&e->mu);
			PQclear(r);
		} else if (atomic_load(&e->stop)) {
			break; /* everything acked has been seen */
		}
		if (atomic_load(&e->stop) && mono_ns() > e->wait_ns)
			break;
		while (mono_ns() - t0 < E2E_POLL_NS)
			usleep(20000);
	}
out:
	PQfinish(pg);
	free(idx);
	free(src);
	free(ids);
	return NULL;
}

static int64_t real_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * US + ts.tv_nsec / 1000;
}

static int cmp_i64(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;

	return a < b ? -1 : a > b;
}

static uint64_t proc_status(int pid, const char *key)
{
	char path[64], line[256];
	size_t n = strlen(key);
	uint64_t v = 0;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", pid);
	if (!(f = fopen(path, "re")))
		return 0;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, key, n) == 0 && line[n] == ':') {
			v = strtoull(line + n + 1, NULL, 10) * 1024;
			break;
		}
	fclose(f);
	return v;
}

static int cmd_e2e(int argc, char **argv)
{
	const char *assets = NULL, *deps = NULL, *endpoint = NULL, *server_key = NULL,
		   *key = NULL, *db = NULL, *journal = NULL;
	double seconds = 30, wait_s = 300;
	int pid = 0;
	struct tn_csv_errors errs;
	struct tn_graph *g = NULL;
	struct recs recs = {0};
	struct gen_result gr;
	struct tn_adapter_options ao;
	struct tn_adapter *a = NULL;
	struct tn_adapter_stats ast;
	struct e2e *e = calloc(1, sizeof *e);
	struct tn_event ev;
	pthread_t mon, jt;
	bool mon_started = false, jt_started = false;
	char err[256], id[32];
	int64_t t_start, t_end, *lag = NULL, *jlag = NULL;
	uint64_t sent = 0, failures = 0;
	size_t nlag = 0, njlag = 0, k = 0;
	int rc = 1;

	if (!e)
		return 1;
	for (int i = 2; i + 1 < argc; i += 2) {
		const char *o = argv[i], *v = argv[i + 1];

		if (strcmp(o, "--assets") == 0)
			assets = v;
		else if (strcmp(o, "--deps") == 0)
			deps = v;
		else if (strcmp(o, "--endpoint") == 0)
			endpoint = v;
		else if (strcmp(o, "--server-key") == 0)
			server_key = v;
		else if (strcmp(o, "--key") == 0)
			key = v;
		else if (strcmp(o, "--db") == 0)
			db = v;
		else if (strcmp(o, "--journal") == 0)
			journal = v;
		else if (strcmp(o, "--seconds") == 0)
			seconds = strtod(v, NULL);
		else if (strcmp(o, "--wait-s") == 0)
			wait_s = strtod(v, NULL);
		else if (strcmp(o, "--pid") == 0)
			pid = atoi(v);
		else {
			say("unknown option %s", o);
			free(e);
			return 2;
		}
	}
	if (!assets || !deps || !endpoint || !server_key || !key || !db || !(seconds >= 1)) {
		say("expected --assets A.csv --deps D.csv --endpoint E --server-key S.pub --key BASE "
		    "--db CONNINFO [--journal DIR] [--seconds S] [--wait-s S] [--pid PID]");
		free(e);
		return 2;
	}
	tn_csv_errors_init(&errs);
	if (tn_registry_csv_load(assets, deps, &g, &errs) != 0) {
		tn_csv_errors_print(&errs, stderr, "engine_bench: ");
		tn_csv_errors_free(&errs);
		free(e);
		return 1;
	}
	tn_csv_errors_free(&errs);
	/* a year of a busy small city: a million reports, cycled if the server is faster */
	if (generate(g, 7, 1000000, 8760 * 3600.0, &recs, &gr) != 0)
		goto out;
	e->in.g = g;
	e->in.r = recs.r;
	e->in.n = recs.n;
	for (int sct = 0; sct < TN_SECTOR__COUNT; sct++)
		for (int j = 0; j < SOURCES_PER_SECTOR; j++)
			snprintf(e->in.src[sct * SOURCES_PER_SECTOR + j], sizeof e->in.src[0],
				 "scada-%s-%c", tn_sector_name((enum tn_sector)sct), 'a' + j);
	snprintf(e->nonce, sizeof e->nonce, "%llx", (unsigned long long)(real_us() & 0xffffffffff));
	e->cmk = (size_t)(seconds * 200000 / MARK_EVERY) + 16;
	e->mk = calloc(e->cmk, sizeof *e->mk);
	pthread_mutex_init(&e->mu, NULL);
	e->db = db;
	e->journal = journal;
	if (!e->mk)
		goto out;

	tn_adapter_options_init(&ao);
	ao.endpoint = endpoint;
	ao.on_result = e2e_result;
	ao.ud = e;
	if (tn_adapter_options_keys(&ao, server_key, key, err, sizeof err) != 0 ||
	    tn_adapter_open(&ao, &a, err, sizeof err) != 0) {
		say("adapter: %s", err);
		goto out;
	}
	memset(ao.secret_key, 0, sizeof ao.secret_key);
	if (pthread_create(&mon, NULL, e2e_monitor, e) != 0)
		goto out;
	mon_started = true;
	if (journal) {
		if (pthread_create(&jt, NULL, e2e_journal, e) != 0)
			goto out;
		jt_started = true;
	}

	say("sending for %.0f s to %s", seconds, endpoint);
	memset(&ev, 0, sizeof ev);
	t_start = mono_ns();
	t_end = t_start + (int64_t)(seconds * 1e9);
	while (mono_ns() < t_end) {
		const struct rec *r = &recs.r[k % recs.n];
		bool mark = false;

		if (r->type == TN_EV_HEARTBEAT) { /* the generator's clock, not this one */
			k++;
			continue;
		}
		if ((r->type == TN_EV_DOWN || r->type == TN_EV_DEGRADED) &&
		    ++failures % MARK_EVERY == 0 && e->nmk < e->cmk)
			mark = true;
		ev.type = (enum tn_event_type)r->type;
		ev.source = e->in.src[r->src];
		ev.severity = r->sev;
		ev.summary = summaries[r->type];
		ev.sector = tn_graph_asset(g, r->asset)->sector;
		ev.asset = tn_graph_asset(g, r->asset)->id;
		ev.time_us = real_us();
		if (mark) {
			pthread_mutex_lock(&e->mu);
			snprintf(e->mk[e->nmk].id, sizeof e->mk[0].id, "%sm%zu", e->nonce, e->nmk);
			e->mk[e->nmk].src = r->src;
			snprintf(id, sizeof id, "%s", e->mk[e->nmk].id);
			e->nmk++;
			pthread_mutex_unlock(&e->mu);
		} else {
			snprintf(id, sizeof id, "%s-%" PRIu64, e->nonce, sent);
		}
		ev.id = id;
		rc = tn_adapter_send(a, &ev);
		if (rc == TN_EFULL) {
			if (mark) { /* not sent: forget the marker */
				pthread_mutex_lock(&e->mu);
				e->nmk--;
				pthread_mutex_unlock(&e->mu);
				failures--;
			}
			tn_adapter_poll(a, 5);
			continue;
		}
		if (rc != 0)
			say("send: %s", tn_adapter_last_error(a));
		sent++;
		k++;
		if ((sent & 63) == 0)
			tn_adapter_poll(a, 0);
	}
	if (tn_adapter_flush(a, 120000) != 0)
		say("flush: events still unanswered after 120 s");
	tn_adapter_stats(a, &ast);
	e->wait_ns = mono_ns() + (int64_t)(wait_s * 1e9);
	atomic_store(&e->stop, true);
	say("sent %" PRIu64 ", acked %" PRIu64 "; waiting up to %.0f s for the markers' revisions",
	    sent, e->ok + e->dup, wait_s);
	pthread_join(mon, NULL);
	mon_started = false;
	if (jt_started)
		pthread_join(jt, NULL);
	jt_started = false;
	if (e->err[0])
		say("%s", e->err);
	if (e->jerr[0])
		say("%s", e->jerr);

	lag = malloc((e->nmk + 1) * sizeof *lag);
	jlag = malloc((e->nmk + 1) * sizeof *jlag);
	if (!lag || !jlag)
		goto out;
	for (size_t j = 0; j < e->nmk; j++) {
		if (e->mk[j].ack_ns && e->mk[j].seen_ns)
			lag[nlag++] = e->mk[j].seen_ns - e->mk[j].ack_ns;
		if (e->mk[j].ack_ns && e->mk[j].journal_ns)
			jlag[njlag++] = e->mk[j].journal_ns - e->mk[j].ack_ns;
	}
	qsort(lag, nlag, sizeof *lag, cmp_i64);
	qsort(jlag, njlag, sizeof *jlag, cmp_i64);
	printf("e2e_city_assets=%zu\ne2e_city_edges=%zu\n", tn_graph_size(g), tn_graph_edges(g));
	printf("e2e_seconds=%.0f\ne2e_sent=%" PRIu64 "\ne2e_ok=%" PRIu64 "\ne2e_dup=%" PRIu64
	       "\ne2e_failed=%" PRIu64 "\ne2e_resent=%" PRIu64 "\n",
	       seconds, sent, e->ok, e->dup, e->failed, ast.resent);
	printf("e2e_acked_eps=%.0f\n",
	       e->last_ack_ns > t_start
		       ? (double)(e->ok + e->dup) / ((double)(e->last_ack_ns - t_start) / 1e9)
		       : 0.0);
	printf("e2e_markers=%zu\ne2e_markers_seen=%zu\n", e->nmk, nlag);
	if (nlag) {
		printf("e2e_lag_p50_s=%.2f\ne2e_lag_p99_s=%.2f\ne2e_lag_max_s=%.2f\n",
		       (double)lag[nlag / 2] / 1e9, (double)lag[(nlag * 99) / 100] / 1e9,
		       (double)lag[nlag - 1] / 1e9);
		printf("e2e_caught_up_s=%.2f\n", (double)(mono_ns() - e->last_ack_ns) / 1e9);
	}
	if (journal) {
		printf("e2e_markers_journal=%zu\ne2e_journal_changes=%" PRIu64
		       "\ne2e_journal_change_bytes=%" PRIu64 "\n",
		       njlag, e->changes, e->change_bytes);
		if (njlag)
			printf("e2e_jlag_p50_s=%.2f\ne2e_jlag_p99_s=%.2f\ne2e_jlag_max_s=%.2f\n",
			       (double)jlag[njlag / 2] / 1e9, (double)jlag[(njlag * 99) / 100] / 1e9,
			       (double)jlag[njlag - 1] / 1e9);
	}
	printf("e2e_wait_s=%.0f\n", wait_s);
	if (pid > 0)
		printf("e2e_tocsind_hwm=%" PRIu64 "\ne2e_tocsind_rss=%" PRIu64 "\n",
		       proc_status(pid, "VmHWM"), proc_status(pid, "VmRSS"));
	rc = 0;
out:
	if (mon_started || jt_started) {
		e->wait_ns = 0;
		atomic_store(&e->stop, true);
		if (mon_started)
			pthread_join(mon, NULL);
		if (jt_started)
			pthread_join(jt, NULL);
	}
	free(jlag);
	tn_adapter_close(a);
	free(lag);
	free(e->mk);
	free(e);
	free(recs.r);
	tn_graph_free(g);
	return rc;
}

/* ---- report -------------------------------------------------------------------------- */

#define MAX_KV 512

static struct {
	char k[64], v[448];
} kv[MAX_KV];
static int nkv;

static const char *get(const char *k)
{
	for (int i = nkv - 1; i >= 0; i--)
		if (strcmp(kv[i].k, k) == 0)
			return kv[i].v;
	return NULL;
}

static double num(const char *k)
{
	const char *v = get(k);

	return v ? strtod(v, NULL) : NAN;
}

static const char *verdict(bool ok, double x)
{
	return isnan(x) ? "not measured" : ok ? "target met" : "NOT met";
}

static const char *us(double ns, char *buf, size_t len)
{
	if (isnan(ns))
		snprintf(buf, len, "-");
	else if (ns < 10000)
		snprintf(buf, len, "%.2f us", ns / 1000);
	else if (ns < 10000000)
		snprintf(buf, len, "%.1f us", ns / 1000);
	else
		snprintf(buf, len, "%.1f ms", ns / 1e6);
	return buf;
}

/* The value of key p + k (p "" or "live_"), NAN when absent. */
static double nump(const char *p, const char *k)
{
	char key[64];

	snprintf(key, sizeof key, "%s%s", p, k);
	return num(key);
}

/* One engine section of the summary: the figures of one time mode. */
static void report_engine(const char *p, const char *title)
{
	char b1[32], b2[32], b3[32], b4[32], b5[32], b6[32];
	double eps = nump(p, "a_eps"), p99 = nump(p, "ev_p99_ns"), p99s = nump(p, "step_p99_ns");
	double fed = nump(p, "a_fed"), changes = nump(p, "a_changes");

	if (isnan(eps))
		return;
	printf("\n-- %s\n", title);
	printf("engine         %8.0f events/s (pass A, wall)   target >= 1000000  %s\n", eps,
	       verdict(eps >= TARGET_EPS, eps));
	if (fed < num("events"))
		printf("               over the first %.0f of the %.0f events only: the pass "
		       "stopped at its time budget\n",
		       fed, num("events"));
	printf("               %8.0f events/s of thread CPU time (%.1f s wall, %.1f s CPU, %.0f "
	       "involuntary switches)\n",
	       nump(p, "a_eps_cpu"), nump(p, "a_wall_s"), nump(p, "a_cpu_s"),
	       nump(p, "a_nivcsw"));
	printf("per event      p99 %-10s                   target < 50 us     %s\n",
	       us(p99, b1, sizeof b1), verdict(p99 < TARGET_P99_NS, p99));
	printf("               p50 %s, p90 %s, p99.9 %s, p99.99 %s, max %s, mean %s\n",
	       us(nump(p, "ev_p50_ns"), b1, sizeof b1), us(nump(p, "ev_p90_ns"), b2, sizeof b2),
	       us(nump(p, "ev_p999_ns"), b3, sizeof b3), us(nump(p, "ev_p9999_ns"), b4, sizeof b4),
	       us(nump(p, "ev_max_ns"), b5, sizeof b5), us(nump(p, "ev_mean_ns"), b6, sizeof b6));
	printf("               (tn_corr_event + drain; pass B, %.0f events/s with the clocks)\n",
	       nump(p, "b_eps"));
	printf("with its tick  p99 %-10s                   target < 50 us     %s\n",
	       us(p99s, b1, sizeof b1), verdict(p99s < TARGET_P99_NS, p99s));
	printf("               p50 %s, p90 %s, p99.9 %s, p99.99 %s, max %s, mean %s\n",
	       us(nump(p, "step_p50_ns"), b1, sizeof b1), us(nump(p, "step_p90_ns"), b2, sizeof b2),
	       us(nump(p, "step_p999_ns"), b3, sizeof b3),
	       us(nump(p, "step_p9999_ns"), b4, sizeof b4), us(nump(p, "step_max_ns"), b5, sizeof b5),
	       us(nump(p, "step_mean_ns"), b6, sizeof b6));
	printf("               (plus the tick + drain before the event, if any: all the engine's "
	       "work between two arrivals)\n");
	printf("ticks          %.0f: p50 %s, p99 %s, max %s; tn_corr_finish %.1f ms\n",
	       nump(p, "tick_n"), us(nump(p, "tick_p50_ns"), b1, sizeof b1),
	       us(nump(p, "tick_p99_ns"), b2, sizeof b2), us(nump(p, "tick_max_ns"), b3, sizeof b3),
	       nump(p, "b_finish_ms"));
	printf("revisions      %.0f = %.2f per event (alert %.0f, update %.0f, resolved %.0f, "
	       "merged %.0f)\n"
	       "               %.0f%% drained after ticks; %.2f GiB of JSON, %.1f KiB mean body\n",
	       changes, changes / fed, nump(p, "a_alerts"), nump(p, "a_updates"),
	       nump(p, "a_resolved"), nump(p, "a_merged"),
	       100 * nump(p, "a_tick_changes") / changes,
	       nump(p, "a_change_bytes") / 1073741824.0,
	       nump(p, "a_change_bytes") / changes / 1024);
	printf("tn_change_json %s per revision (sample of %.0f, outside the timed loop)\n",
	       us(nump(p, "json_ns"), b1, sizeof b1), nump(p, "json_sample"));
	printf("engine stats   incidents %.0f, merges %.0f, inferred %.0f (confirmed %.0f, "
	       "withdrawn %.0f),\n"
	       "               co-located %.0f, blind %.0f, forecasts borne out %.0f / not %.0f,\n"
	       "               late %.0f, stale %.0f, unregistered %.0f, invalid %.0f; open at end "
	       "%.0f\n",
	       nump(p, "st_incidents"), nump(p, "st_merges"), nump(p, "st_inferred"),
	       nump(p, "st_confirmed"), nump(p, "st_withdrawn"), nump(p, "st_colocated"),
	       nump(p, "st_blind"), nump(p, "st_borne_out"), nump(p, "st_not_borne_out"),
	       nump(p, "st_late"), nump(p, "st_stale"), nump(p, "st_unregistered"),
	       nump(p, "st_invalid"), nump(p, "st_open_incidents"));
	printf("bounds hit     buffer %.0f, incidents %.0f, members %.0f, at_risk %.0f, timers "
	       "%.0f, sources %.0f,\n"
	       "               unregistered %.0f, scan_truncated %.0f\n",
	       nump(p, "st_buffer_full"), nump(p, "st_incidents_full"), nump(p, "st_members_full"),
	       nump(p, "st_at_risk_full"), nump(p, "st_timers_full"), nump(p, "st_sources_full"),
	       nump(p, "st_unregistered_full"), nump(p, "st_scan_truncated"));
	printf("engine memory  %.0f MiB (VmRSS growth over pass A)\n",
	       nump(p, "engine_rss") / 1048576);
	printf("deterministic  %s (pass A and pass B: the same counters and revisions)\n",
	       get(strcmp(p, "") ? "live_deterministic" : "deterministic")
		       ? get(strcmp(p, "") ? "live_deterministic" : "deterministic")
		       : "?");
}

static void report_e2e(void)
{
	if (isnan(num("e2e_acked_eps"))) {
		printf("\n-- end to end\n%s\n", get("e2e") ? get("e2e") : "not run");
		return;
	}
	printf("\n-- end to end: tocsind, correlation on, %.0f-asset city imported\n",
	       num("e2e_city_assets"));
	printf("acked          %8.0f events/s (%.0f s, one adapter connection, closed loop; "
	       "%.0f sent, %.0f refused)\n",
	       num("e2e_acked_eps"), num("e2e_seconds"), num("e2e_sent"), num("e2e_failed"));
	if (num("e2e_markers_journal") > 0)
		printf("correlator lag p50 %.1f s, p99 %.1f s, max %.1f s: ack -> its revision in the "
		       "journal (%.0f of %.0f markers)\n",
		       num("e2e_jlag_p50_s"), num("e2e_jlag_p99_s"), num("e2e_jlag_max_s"),
		       num("e2e_markers_journal"), num("e2e_markers"));
	else
		printf("correlator lag > %.0f s: no marker's revision reached the journal\n",
		       num("e2e_wait_s"));
	printf("               (%s s of it is the lateness by design, about 1 s the emit bucket; "
	       "%.0f revisions, %.2f GiB journaled)\n",
	       get("e2e_lateness_s") ? get("e2e_lateness_s") : "60", num("e2e_journal_changes"),
	       num("e2e_journal_change_bytes") / 1073741824.0);
	if (num("e2e_markers_seen") > 0)
		printf("+ store        p50 %.1f s, p99 %.1f s, max %.1f s: ack -> revision in "
		       "PostgreSQL (%.0f of %.0f markers)\n",
		       num("e2e_lag_p50_s"), num("e2e_lag_p99_s"), num("e2e_lag_max_s"),
		       num("e2e_markers_seen"), num("e2e_markers"));
	if (num("e2e_markers_seen") < num("e2e_markers"))
		printf("               %.0f markers not in PostgreSQL %.0f s after the last ack\n",
		       num("e2e_markers") - num("e2e_markers_seen"), num("e2e_wait_s"));
	if (!isnan(num("e2e_tocsind_hwm")))
		printf("tocsind        VmHWM %.0f MiB; %.0f warnings or errors in its log\n",
		       num("e2e_tocsind_hwm") / 1048576, num("e2e_tocsind_log_warnings"));
}

static int cmd_report(const char *path)
{
	FILE *f = fopen(path, "re");
	char line[512];
	double load, mem, hwm_load, before;

	if (!f) {
		say("%s: %s", path, strerror(errno));
		return 1;
	}
	while (fgets(line, sizeof line, f) && nkv < MAX_KV) {
		char *eq = strchr(line, '=');

		if (!eq || eq - line >= (long)sizeof kv[0].k)
			continue;
		line[strcspn(line, "\n")] = '\0';
		memcpy(kv[nkv].k, line, (size_t)(eq - line));
		kv[nkv].k[eq - line] = '\0';
		snprintf(kv[nkv].v, sizeof kv[nkv].v, "%s", eq + 1);
		nkv++;
	}
	fclose(f);
	load = num("load_s");
	before = num("load_rss_before");
	mem = num("load_rss_after") - before;
	hwm_load = num("load_hwm") - before;

	printf("\n==== tocsin engine bench (single thread; it reports, it does not assert) ====\n");
	printf("machine        %s CPUs%s; load average at start %s\n",
	       get("cpus") ? get("cpus") : "?", get("machine") ? get("machine") : "",
	       get("loadavg_start") ? get("loadavg_start") : "?");
	if (get("command"))
		printf("command        %s\n", get("command"));
	if (!isnan(load)) {
		printf("city           %.0f assets, %.0f dependencies (tocsin sim city, seed %.0f)\n",
		       num("city_assets"), num("city_edges"), num("city_seed"));
		printf("mix            %.0f %% telemetry alarms, %.0f %% background failures and "
		       "restorations, the rest cascades and heartbeats\n",
		       100 * num("share_alarms"), 100 * num("share_noise"));
		printf("events         %.0f, generated in-process from the graph (seed %.0f) over "
		       "%.0f h of event time:\n"
		       "               %.0f cascades (%.1f reports each), %.0f failures in them, %.0f "
		       "background failures,\n"
		       "               %.0f restorations, %.0f alarms, %.0f heartbeats; %.0f failure "
		       "reports dropped,\n"
		       "               %.0f delayed within the lateness, %.0f beyond it (late)\n",
		       num("events"), num("events_seed"), num("events_span_s") / 3600,
		       num("gen_cascades"), num("gen_cascade_mean_reports"), num("gen_failures"),
		       num("gen_noise"), num("gen_restores"), num("gen_alarms"),
		       num("gen_heartbeats"), num("gen_missing"), num("gen_reordered"),
		       num("gen_too_late"));
		printf("\nregistry load  %8.2f s                      target < 5 s       %s\n", load,
		       verdict(load < TARGET_LOAD_S, load));
		printf("               %8.2f s of thread CPU time (tn_registry_csv_load, files in "
		       "the page cache)\n",
		       num("load_cpu_s"));
		printf("registry RSS   %8.0f MiB held after load      target < 1 GiB     %s\n",
		       mem / 1048576, verdict(mem < TARGET_LOAD_BYTES, mem));
		printf("               %8.0f MiB peak during load (VmHWM - VmRSS before); "
		       "tn_graph_memory %.0f MiB\n",
		       hwm_load / 1048576, num("graph_memory") / 1048576);
		report_engine("", "history: the model's event times (a replay or a journal "
				  "rebuild), arrival order");
		if (!isnan(num("live_rate"))) {
			char title[160];

			snprintf(title, sizeof title,
				 "live: the same reports stamped on arrival by a clock of %.0f "
				 "events/s",
				 num("live_rate"));
			report_engine("live_", title);
		}
		printf("\nclock          CLOCK_MONOTONIC empty interval p50 %.0f ns, p99 %.0f ns "
		       "(inside every per-event figure)\n",
		       num("clock_p50_ns"), num("clock_p99_ns"));
		printf("process        VmHWM at the end %.0f MiB (graph, %.0f MiB of events, "
		       "engines, samples)\n",
		       num("hwm_end") / 1048576, num("events_bytes") / 1048576);
	}
	report_e2e();
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "run") == 0)
		return cmd_run(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "e2e") == 0)
		return cmd_e2e(argc, argv);
	if (argc == 3 && strcmp(argv[1], "report") == 0)
		return cmd_report(argv[2]);
	fprintf(stderr, "usage: engine_bench run --assets A.csv --deps D.csv [--events N] "
			"[--seed S] [--span-h H] [--city-seed S]\n"
			"       engine_bench e2e --assets A.csv --deps D.csv --endpoint E --server-key "
			"S.pub --key BASE\n"
			"                        --db CONNINFO [--journal DIR] [--seconds S] [--wait-s S]\n"
			"                        [--pid PID]\n"
			"       engine_bench report FILE\n");
	return 2;
}
