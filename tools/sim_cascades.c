/*
 * sim_cascades.c - `tocsin sim cascades`: cascades of failures on a city's
 * graph, written as a drill scenario with its ground truth
 * (docs/simulator.md).
 *
 * A cascade starts at a root failure and spreads to dependents (edges
 * walked backwards), each failing at a time drawn within its edge's window
 * [delay_min, delay_max] after the provider, with a chance that depends on
 * the kind of supply, on backup, and on whether the dependent has another
 * supply of that kind still up; so a cascade stops somewhere. Later the root
 * and then its dependents come back.
 *
 * The truth must be recoverable in principle, or the score measures the
 * generator rather than the engine. So a cascade (or a noise failure) is
 * placed only when nothing already placed could be linked to it by any rule
 * of design §4 at the engine's default settings, with a margin: no failure
 * of another cluster upstream or downstream within the engine's depth and
 * that path's window, none beside it under a common provider within the
 * common-cause window, none within twice the co-location radius and window.
 * Real cities have overlapping cascades; a planner who wants them writes
 * them by hand.
 *
 * Reports, not failures, make the scenario: each is dropped with chance
 * `missing`, and delayed in the file with chance `reorder` by 1..late_max_s
 * seconds (arrival order; the event keeps its own time). With late_max_s at
 * most the engine's lateness no report is ever late for the engine: the
 * watermark trails the latest time seen by the lateness, and no report
 * arrives after one stamped more than late_max_s after it.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"
#include "sim.h"
#include "sim_rng.h"
#include "tocsin/error.h"

#define NONE UINT32_MAX
#define NO_TIME INT64_MIN

enum { ST_CASCADES = 11, ST_NOISE, ST_REPORTS };

/* What the separation assumes of the engine (tn_corr_config_defaults), with
 * margins. */
#define SEP_DEPTH 6	    /* max_depth */
#define SEP_SLACK_S 30	    /* slack_s */
#define SEP_MARGIN_S 900    /* on every window */
#define SEP_CC_WINDOW_S 600 /* common_cause_window_s */
#define SEP_COLO_M 1000.0   /* twice colo_radius_m */
#define SEP_COLO_S 600	    /* twice colo_window_s */
#define SEP_SCAN 4096	    /* max_scan: dependents looked at per provider */
#define SEP_VISIT 200000    /* steps of one walk at most */

#define RESTORE_MIN_S 1800 /* the root comes back this long after the last failure, */
#define RESTORE_MAX_S 7200 /* at most this */
#define ATTEMPTS 200	   /* tries to place one cascade */

struct report {
	int64_t t, arrival; /* seconds since the scenario's start */
	uint32_t asset;
	uint32_t cluster; /* cascade number from 1, or 0 for noise */
	uint32_t seq;	  /* order of generation: ties in arrival */
	uint8_t type;
	uint8_t via; /* enum tn_dep_kind of the supply lost, or 0xff for a root */
};

struct member {
	uint32_t asset;
	int64_t t;
	uint8_t hop, via;
	bool degraded;
};

/* Committed failures by grid cell, for the co-location check. */
struct cell {
	int64_t key;
	uint32_t head; /* into gnext / gasset, NONE when unused */
};

struct gen {
	const struct tn_graph *g;
	const struct tn__sim_cascade_opts *o;
	uint32_t n;
	int64_t *fail_t; /* committed failure time of each asset, NO_TIME */
	uint32_t *stamp; /* walk marks */
	int64_t *best;	 /* widest window to each asset marked in this walk */
	uint32_t gen_no;
	uint32_t *cand; /* candidate membership marks (cand_no) */
	uint32_t cand_no;
	/* walk queue */
	uint32_t *q_asset;
	int64_t *q_win;
	uint8_t *q_depth;
	/* spatial hash of committed failures */
	struct cell *cells;
	size_t ncells, used_cells;
	uint32_t *gnext, *gasset;
	size_t ng, capg;
	double coslat;
	/* the candidate */
	struct member *m;
	size_t nm, capm;
	/* candidate roots by sector */
	uint32_t *roots;
	size_t nroots, roots_at[TN_SECTOR__COUNT], roots_n[TN_SECTOR__COUNT];
	/* output */
	struct report *r;
	size_t nr, capr;
	struct tn__rng rng;
};

void tn__sim_cascade_defaults(struct tn__sim_cascade_opts *o)
{
	memset(o, 0, sizeof *o);
	o->seed = 1;
	o->cascades = 50;
	o->missing = 0.05;
	o->reorder = 0.10;
	o->noise_per_hour = 4;
	o->duration_s = 86400;
	o->late_max_s = 60;
	o->max_size = 60;
	o->max_depth = 4;
}

/* ---- geometry ------------------------------------------------------------------- */

static double distance_m(double lat1, double lon1, double lat2, double lon2)
{
	const double r = 6371008.8, k = 3.141592653589793 / 180.0;
	double dlat = (lat2 - lat1) * k, dlon = (lon2 - lon1) * k;
	double a = sin(dlat / 2) * sin(dlat / 2) +
		   cos(lat1 * k) * cos(lat2 * k) * sin(dlon / 2) * sin(dlon / 2);

	return 2 * r * asin(sqrt(a < 1 ? a : 1));
}

static int64_t cell_key(const struct gen *s, double lat, double lon, int dx, int dy)
{
	int64_t y = (int64_t)floor(lat * 111320.0 / SEP_COLO_M) + dy;
	int64_t x = (int64_t)floor(lon * 111320.0 * s->coslat / SEP_COLO_M) + dx;

	return (y << 32) ^ (x & 0xffffffff);
}

static size_t cell_slot(const struct gen *s, int64_t key)
{
	uint64_t h = (uint64_t)key * 0x9e3779b97f4a7c15ULL;
	size_t i = (size_t)(h >> 17) & (s->ncells - 1);

	while (s->cells[i].head != NONE && s->cells[i].key != key)
		i = (i + 1) & (s->ncells - 1);
	return i;
}

static int cells_grow(struct gen *s)
{
	size_t n = s->ncells ? s->ncells * 2 : 1024;
	struct cell *old = s->cells, *nc = malloc(n * sizeof *nc);
	size_t on = s->ncells;

	if (!nc)
		return TN_ENOMEM;
	for (size_t i = 0; i < n; i++)
		nc[i].head = NONE;
	s->cells = nc;
	s->ncells = n;
	for (size_t i = 0; i < on; i++)
		if (old[i].head != NONE)
			s->cells[cell_slot(s, old[i].key)] = old[i];
	free(old);
	return 0;
}

static int geo_add(struct gen *s, uint32_t asset)
{
	const struct tn_asset *a = tn_graph_asset(s->g, asset);
	int64_t key = cell_key(s, a->lat, a->lon, 0, 0);
	size_t i;

	if ((s->used_cells + 1) * 2 > s->ncells && cells_grow(s) != 0)
		return TN_ENOMEM;
	if (s->ng == s->capg) {
		size_t cap = s->capg ? s->capg * 2 : 1024;
		uint32_t *nn = realloc(s->gnext, cap * sizeof *nn), *na;
		if (!nn)
			return TN_ENOMEM;
		s->gnext = nn;
		na = realloc(s->gasset, cap * sizeof *na);
		if (!na)
			return TN_ENOMEM;
		s->gasset = na;
		s->capg = cap;
	}
	i = cell_slot(s, key);
	if (s->cells[i].head == NONE) {
		s->cells[i].key = key;
		s->used_cells++;
	}
	s->gasset[s->ng] = asset;
	s->gnext[s->ng] = s->cells[i].head;
	s->cells[i].head = (uint32_t)s->ng++;
	return 0;
}

/* A committed failure of another cluster near (in space and time) asset a at t. */
static bool geo_conflict(const struct gen *s, uint32_t a, int64_t t)
{
	const struct tn_asset *x = tn_graph_asset(s->g, a);

	if (!s->ncells)
		return false;
	for (int dy = -1; dy <= 1; dy++) {
		for (int dx = -1; dx <= 1; dx++) {
			size_t i = cell_slot(s, cell_key(s, x->lat, x->lon, dx, dy));
			for (uint32_t k = s->cells[i].head; k != NONE; k = s->gnext[k]) {
				uint32_t b = s->gasset[k];
				const struct tn_asset *y = tn_graph_asset(s->g, b);
				if (llabs(s->fail_t[b] - t) <= SEP_COLO_S &&
				    distance_m(x->lat, x->lon, y->lat, y->lon) <= SEP_COLO_M)
					return true;
			}
		}
	}
	return false;
}

/* ---- separation ----------------------------------------------------------------- */

/*
 * Walk from asset a up (providers) or down (dependents) to SEP_DEPTH hops; a
 * committed failure at tx on the way conflicts when |t - tx| is within the
 * widest window of a path to it plus slack and margin. The engine may link
 * along any path within its depth, so an asset reached again by a path with
 * a wider window is walked again from there (label correcting, by depth).
 */
static bool walk_conflict(struct gen *s, uint32_t a, int64_t t, bool up)
{
	size_t head = 0, tail = 0;

	if (++s->gen_no == 0) {
		memset(s->stamp, 0, s->n * sizeof *s->stamp);
		s->gen_no = 1;
	}
	s->stamp[a] = s->gen_no;
	s->best[a] = 0;
	s->q_asset[tail] = a;
	s->q_win[tail] = 0;
	s->q_depth[tail++] = 0;
	while (head < tail) {
		uint32_t x = s->q_asset[head];
		int64_t win = s->q_win[head];
		uint8_t depth = s->q_depth[head++];
		const struct tn_graph_edge *e;
		size_t ne;

		if (depth >= SEP_DEPTH || win < s->best[x])
			continue; /* the end, or a wider path has been through x since */
		ne = up ? tn_graph_providers(s->g, x, &e) : tn_graph_dependents(s->g, x, &e);
		if (ne > SEP_SCAN)
			ne = SEP_SCAN;
		for (size_t k = 0; k < ne; k++) {
			uint32_t y = e[k].other;
			int64_t w = win + e[k].delay_max_s;

			if (s->stamp[y] == s->gen_no && w <= s->best[y])
				continue;
			s->stamp[y] = s->gen_no;
			s->best[y] = w;
			if (s->fail_t[y] != NO_TIME && s->cand[y] != s->cand_no &&
			    llabs(s->fail_t[y] - t) <= w + SEP_SLACK_S + SEP_MARGIN_S)
				return true;
			if (tail < SEP_VISIT) {
				s->q_asset[tail] = y;
				s->q_win[tail] = w;
				s->q_depth[tail++] = (uint8_t)(depth + 1);
			}
		}
	}
	return false;
}

/* Another cluster's failure among the other dependents of a's providers
 * within the common-cause window: the engine could infer that provider. */
static bool sibling_conflict(const struct gen *s, uint32_t a, int64_t t)
{
	const struct tn_graph_edge *pe;
	size_t np = tn_graph_providers(s->g, a, &pe);

	for (size_t i = 0; i < np; i++) {
		const struct tn_graph_edge *de;
		size_t nd = tn_graph_dependents(s->g, pe[i].other, &de);

		if (nd > SEP_SCAN)
			nd = SEP_SCAN;
		for (size_t k = 0; k < nd; k++) {
			uint32_t y = de[k].other;
			if (y != a && s->fail_t[y] != NO_TIME && s->cand[y] != s->cand_no &&
			    llabs(s->fail_t[y] - t) <= SEP_CC_WINDOW_S + SEP_SLACK_S + SEP_MARGIN_S)
				return true;
		}
	}
	return false;
}

static bool conflict(struct gen *s)
{
	for (size_t k = 0; k < s->nm; k++) {
		uint32_t a = s->m[k].asset;
		int64_t t = s->m[k].t;

		if (geo_conflict(s, a, t) || sibling_conflict(s, a, t) ||
		    walk_conflict(s, a, t, true) || walk_conflict(s, a, t, false))
			return true;
	}
	return false;
}

/* ---- cascades ------------------------------------------------------------------- */

static int add_member(struct gen *s, uint32_t a, int64_t t, uint8_t hop, uint8_t via)
{
	if (s->nm == s->capm) {
		size_t cap = s->capm ? s->capm * 2 : 64;
		struct member *m = realloc(s->m, cap * sizeof *m);
		if (!m)
			return TN_ENOMEM;
		s->m = m;
		s->capm = cap;
	}
	s->m[s->nm++] = (struct member){a, t, hop, via, false};
	s->cand[a] = s->cand_no;
	return 0;
}

/* The chance that losing a supply of this kind takes the dependent down. */
static double spread_chance(const struct gen *s, uint32_t dep, uint32_t prov,
			    const struct tn_graph_edge *e)
{
	static const double base[TN_DEP__COUNT] = {
		[TN_DEP_POWER] = 0.9,	  [TN_DEP_WATER] = 0.6, [TN_DEP_COMMUNICATIONS] = 0.6,
		[TN_DEP_TRANSPORT] = 0.7, [TN_DEP_FUEL] = 0.3,	[TN_DEP_GAS] = 0.6,
		[TN_DEP_DATA] = 0.5,	  [TN_DEP_STAFF] = 0.3, [TN_DEP_OTHER] = 0.8};
	double p = e->kind < TN_DEP__COUNT ? base[e->kind] : 0.5;
	const struct tn_graph_edge *pe;
	size_t np = tn_graph_providers(s->g, dep, &pe);

	/* a substation that loses its telecontrol keeps the lights on */
	if (e->kind == TN_DEP_COMMUNICATIONS &&
	    tn_graph_asset(s->g, dep)->sector == TN_SECTOR_ENERGY)
		p = 0.05;

	/* another supply of the same kind still up: it usually carries the load */
	for (size_t k = 0; k < np; k++)
		if (pe[k].kind == e->kind && pe[k].other != prov &&
		    s->cand[pe[k].other] != s->cand_no && s->fail_t[pe[k].other] == NO_TIME) {
			p *= 0.15;
			break;
		}
	/* hours of backup are often enough to see the supply back */
	if (e->delay_min_s >= 3600)
		p *= 0.5;
	return p;
}

/* Grow a candidate cascade from root at t0 (breadth first, by hops). */
static int grow_cascade(struct gen *s, uint32_t root, int64_t t0)
{
	int rc;

	s->nm = 0;
	if (++s->cand_no == 0) {
		memset(s->cand, 0, s->n * sizeof *s->cand);
		s->cand_no = 1;
	}
	if ((rc = add_member(s, root, t0, 0, 0xff)) != 0)
		return rc;
	for (size_t k = 0; k < s->nm && s->nm < s->o->max_size; k++) {
		uint32_t p = s->m[k].asset;
		int64_t tp = s->m[k].t;
		uint8_t hop = s->m[k].hop;
		const struct tn_graph_edge *de;
		size_t nd;

		if (hop >= s->o->max_depth)
			continue;
		nd = tn_graph_dependents(s->g, p, &de);
		for (size_t j = 0; j < nd && s->nm < s->o->max_size; j++) {
			uint32_t b = de[j].other;
			int64_t tb;

			if (s->cand[b] == s->cand_no || s->fail_t[b] != NO_TIME)
				continue;
			if (!tn__rng_chance(&s->rng, spread_chance(s, b, p, &de[j])))
				continue;
			tb = tp + tn__rng_range(&s->rng, de[j].delay_min_s, de[j].delay_max_s);
			if ((rc = add_member(s, b, tb, (uint8_t)(hop + 1), de[j].kind)) != 0)
				return rc;
			/* running on backup or on a weak supply rather than down */
			s->m[s->nm - 1].degraded = tn__rng_chance(&s->rng, 0.1);
		}
	}
	return 0;
}

static int add_report(struct gen *s, uint32_t asset, int64_t t, uint32_t cluster,
		      enum tn_event_type type, uint8_t via)
{
	if (s->nr == s->capr) {
		size_t cap = s->capr ? s->capr * 2 : 1024;
		struct report *r = realloc(s->r, cap * sizeof *r);
		if (!r)
			return TN_ENOMEM;
		s->r = r;
		s->capr = cap;
	}
	s->r[s->nr] = (struct report){t, t, asset, cluster, (uint32_t)s->nr, (uint8_t)type, via};
	s->nr++;
	return 0;
}

/* Commit the candidate as cluster `cluster` (0: noise): failures, then the
 * restorations, root first and the rest hop by hop. */
static int commit(struct gen *s, uint32_t cluster)
{
	int64_t last = 0, back;
	int rc;

	for (size_t k = 0; k < s->nm; k++) {
		struct member *m = &s->m[k];
		s->fail_t[m->asset] = m->t;
		if ((rc = geo_add(s, m->asset)) != 0)
			return rc;
		if ((rc = add_report(s, m->asset, m->t, cluster,
				     m->degraded ? TN_EV_DEGRADED : TN_EV_DOWN, m->via)) != 0)
			return rc;
		if (m->t > last)
			last = m->t;
	}
	back = last + tn__rng_range(&s->rng, RESTORE_MIN_S, RESTORE_MAX_S);
	for (size_t k = 0; k < s->nm; k++) {
		struct member *m = &s->m[k];
		int64_t t = back + m->hop * tn__rng_range(&s->rng, 60, 600);
		if ((rc = add_report(s, m->asset, t, cluster, TN_EV_UP, m->via)) != 0)
			return rc;
	}
	return 0;
}

/*
 * A root: first a sector (energy faults are the commonest start of a
 * cascade), then an asset of it that others depend on, the more of them the
 * likelier, so that feeders and exchanges start cascades as well as the far
 * more numerous secondary substations and cabinets.
 */
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
	enum tn_sector want = TN_SECTOR_NONE;
	size_t k;

	for (k = 0; k < sizeof start / sizeof start[0]; k++) {
		if (u < start[k].weight) {
			want = start[k].sector;
			break;
		}
		u -= start[k].weight;
	}
	if (want != TN_SECTOR_NONE && s->roots_n[want] == 0)
		want = TN_SECTOR_NONE;
	for (int tries = 0; tries < 10000; tries++) {
		uint32_t a;
		const struct tn_graph_edge *e;
		size_t nd;

		if (want == TN_SECTOR_NONE)
			a = s->roots[tn__rng_below(&s->rng, s->nroots)];
		else
			a = s->roots[s->roots_at[want] + tn__rng_below(&s->rng, s->roots_n[want])];
		nd = tn_graph_dependents(s->g, a, &e);
		if (s->fail_t[a] != NO_TIME)
			continue;
		if (tn__rng_chance(&s->rng, nd >= 32 ? 1.0 : nd / 32.0))
			return a;
	}
	return NONE;
}

/* Assets with dependents, grouped by sector. */
static int index_roots(struct gen *s)
{
	size_t at = 0;

	s->roots = malloc((s->n + 1) * sizeof *s->roots);
	if (!s->roots)
		return TN_ENOMEM;
	for (int sec = 0; sec < TN_SECTOR__COUNT; sec++) {
		s->roots_at[sec] = at;
		for (uint32_t i = 0; i < s->n; i++) {
			const struct tn_graph_edge *e;
			if (tn_graph_asset(s->g, i)->sector == (enum tn_sector)sec &&
			    tn_graph_dependents(s->g, i, &e) > 0)
				s->roots[at++] = i;
		}
		s->roots_n[sec] = at - s->roots_at[sec];
	}
	s->nroots = at;
	return 0;
}

/* ---- output --------------------------------------------------------------------- */

static int by_arrival(const void *x, const void *y)
{
	const struct report *a = x, *b = y;

	if (a->arrival != b->arrival)
		return a->arrival < b->arrival ? -1 : 1;
	if (a->t != b->t)
		return a->t < b->t ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static const char *summary(const struct report *r, const struct tn_asset *a, char *buf, size_t len)
{
	if (r->type == TN_EV_UP)
		snprintf(buf, len, "%s back in service", a->kind);
	else if (r->cluster == 0)
		snprintf(buf, len, "%s fault", a->kind);
	else if (r->via == 0xff)
		snprintf(buf, len, "%s tripped", a->kind);
	else
		snprintf(buf, len, "%s: loss of %s supply%s", a->kind,
			 tn_dep_kind_name((enum tn_dep_kind)r->via),
			 r->type == TN_EV_DEGRADED ? " (on backup)" : "");
	return buf;
}

static int write_out(struct gen *s, FILE *sf, FILE *tf, struct tn__sim_cascade_stats *st)
{
	char buf[TN_WIRE_MAX_SUMMARY];
	size_t w = 0;
	int rc = 0;

	/* drop and delay with their own stream, so that a change of rate leaves
	 * the cascades as they are */
	tn__rng_seed(&s->rng, s->o->seed, ST_REPORTS);
	for (size_t k = 0; k < s->nr; k++) {
		struct report *r = &s->r[k];
		bool drop = tn__rng_chance(&s->rng, s->o->missing);
		bool late = tn__rng_chance(&s->rng, s->o->reorder);
		int64_t delay = tn__rng_range(&s->rng, 1, s->o->late_max_s);

		if (drop) {
			st->missing++;
			continue;
		}
		if (late && s->o->late_max_s > 0) {
			r->arrival = r->t + delay;
			st->late++;
		}
		s->r[w++] = *r;
	}
	s->nr = w;
	qsort(s->r, s->nr, sizeof *s->r, by_arrival);
	if (fputs("t_offset_s,source,sector,asset,type,severity,summary\n", sf) < 0 ||
	    fputs("line,cascade\n", tf) < 0)
		return TN_EIO;
	for (size_t k = 0; k < s->nr && rc == 0; k++) {
		const struct report *r = &s->r[k];
		const struct tn_asset *a = tn_graph_asset(s->g, r->asset);
		const char *sector = tn_sector_name(a->sector);
		int sev = r->type == TN_EV_UP	      ? 5
			  : r->type == TN_EV_DEGRADED ? 3
			  : a->criticality <= 1	      ? 1
						      : 2;

		if (fprintf(sf, "%" PRId64 ",sim/%s,%s,", r->t, sector, sector) < 0 ||
		    tn__csv_put(sf, a->id) != 0 ||
		    fprintf(sf, ",%s,%d,", tn_event_type_name((enum tn_event_type)r->type), sev) <
			    0 ||
		    tn__csv_put(sf, summary(r, a, buf, sizeof buf)) != 0 || fputc('\n', sf) == EOF)
			rc = TN_EIO;
		if (r->cluster)
			rc = rc ? rc : fprintf(tf, "%zu,%" PRIu32 "\n", k + 2, r->cluster) < 0;
		else
			rc = rc ? rc : fprintf(tf, "%zu,noise\n", k + 2) < 0;
		if (rc > 0)
			rc = TN_EIO;
		if (r->type == TN_EV_UP)
			st->restores++;
	}
	st->lines = s->nr;
	return rc;
}

int tn__sim_cascade_check(const struct tn__sim_cascade_opts *o, char *err, size_t errlen)
{
	if (!(o->missing >= 0 && o->missing <= 1) || !(o->reorder >= 0 && o->reorder <= 1) ||
	    !(o->noise_per_hour >= 0 && o->noise_per_hour <= 1e6) || o->duration_s < 60 ||
	    o->duration_s > TN_SCENARIO_MAX_OFFSET_S / 2 || o->late_max_s < 0 || o->max_size < 1 ||
	    o->max_depth < 1 || o->max_depth > 64) {
		snprintf(err, errlen,
			 "options: expected --missing and --reorder in 0..1, --noise 0..1000000, "
			 "--duration-s >= 60, --late-max-s >= 0, --max-size >= 1, --max-depth "
			 "1..64");
		return TN_EINVAL;
	}
	return 0;
}

int tn__sim_cascades(const struct tn_graph *g, const struct tn__sim_cascade_opts *o, FILE *scenario,
		     FILE *truth, struct tn__sim_cascade_stats *st, char *err, size_t errlen)
{
	struct tn__sim_cascade_stats dummy;
	struct gen s;
	uint64_t nnoise;
	int rc = TN_ENOMEM;

	if (!st)
		st = &dummy;
	memset(st, 0, sizeof *st);
	memset(&s, 0, sizeof s);
	if ((rc = tn__sim_cascade_check(o, err, errlen)) != 0)
		return rc;
	s.g = g;
	s.o = o;
	s.n = (uint32_t)tn_graph_size(g);
	if (s.n == 0) {
		snprintf(err, errlen, "the registry has no assets");
		return TN_EINVAL;
	}
	s.fail_t = malloc(s.n * sizeof *s.fail_t);
	s.stamp = calloc(s.n, sizeof *s.stamp);
	s.best = malloc(s.n * sizeof *s.best);
	s.cand = calloc(s.n, sizeof *s.cand);
	s.q_asset = malloc(SEP_VISIT * sizeof *s.q_asset);
	s.q_win = malloc(SEP_VISIT * sizeof *s.q_win);
	s.q_depth = malloc(SEP_VISIT);
	if (!s.fail_t || !s.stamp || !s.best || !s.cand || !s.q_asset || !s.q_win || !s.q_depth)
		goto out;
	for (uint32_t i = 0; i < s.n; i++)
		s.fail_t[i] = NO_TIME;
	s.coslat = cos(tn_graph_asset(g, 0)->lat * 3.141592653589793 / 180.0);

	if ((rc = index_roots(&s)) != 0)
		goto out;
	tn__rng_seed(&s.rng, o->seed, ST_CASCADES);
	for (uint32_t c = 1; c <= o->cascades && s.nroots; c++) {
		bool placed = false;

		for (int att = 0; att < ATTEMPTS && !placed; att++) {
			uint32_t root = pick_root(&s);
			int64_t t0 = tn__rng_range(&s.rng, 0, o->duration_s * 3 / 4);

			if (root == NONE)
				break;
			if ((rc = grow_cascade(&s, root, t0)) != 0)
				goto out;
			if (s.nm < 3 || conflict(&s)) {
				st->rejected++;
				continue;
			}
			if ((rc = commit(&s, (uint32_t)st->cascades + 1)) != 0)
				goto out;
			st->cascades++;
			st->failures += s.nm;
			placed = true;
		}
		if (o->progress)
			fprintf(stderr, "\rtocsin: sim cascades: %" PRIu32 "/%" PRIu32 "   ", c,
				o->cascades);
	}

	tn__rng_seed(&s.rng, o->seed, ST_NOISE);
	nnoise = (uint64_t)llround(o->noise_per_hour * (double)o->duration_s / 3600.0);
	for (uint64_t k = 0; k < nnoise; k++) {
		for (int att = 0; att < ATTEMPTS; att++) {
			uint32_t a = (uint32_t)tn__rng_below(&s.rng, s.n);
			int64_t t = tn__rng_range(&s.rng, 0, o->duration_s - 1);

			if (s.fail_t[a] != NO_TIME)
				continue;
			if (++s.cand_no == 0) {
				memset(s.cand, 0, s.n * sizeof *s.cand);
				s.cand_no = 1;
			}
			s.nm = 0;
			if ((rc = add_member(&s, a, t, 0, 0xff)) != 0)
				goto out;
			if (conflict(&s)) {
				st->rejected++;
				continue;
			}
			if ((rc = commit(&s, 0)) != 0)
				goto out;
			st->noise++;
			break;
		}
	}
	if (o->progress)
		fprintf(stderr, "\r\033[K");
	rc = write_out(&s, scenario, truth, st);
	if (rc == TN_EIO)
		snprintf(err, errlen, "write failed");
out:
	if (rc == TN_ENOMEM)
		snprintf(err, errlen, "out of memory");
	free(s.fail_t);
	free(s.stamp);
	free(s.best);
	free(s.cand);
	free(s.q_asset);
	free(s.q_win);
	free(s.q_depth);
	free(s.cells);
	free(s.gnext);
	free(s.gasset);
	free(s.m);
	free(s.r);
	free(s.roots);
	return rc;
}
