/*
 * corr.c - the correlation engine: the watermark, the timers and the rules of
 * design §4 (docs/correlation.md explains each with an example).
 *
 * Everything runs in event time. Events wait in a heap ordered by (time,
 * source, id) until the watermark passes them; timers wait in another heap;
 * the two are merged in time order (an event before a timer of the same
 * time). Changed incidents are marked dirty and emitted, one revision each,
 * when the watermark closes the current emit bucket, so the output depends
 * neither on the arrival order within the lateness nor on the ticks.
 *
 * State is in arrays indexed by asset key (the dense number of an interned
 * asset id, stable across registries); searches of the graph are bounded
 * breadth-first walks over a visited-stamp array indexed by graph number.
 */
#include "corr_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- configuration ------------------------------------------------------------ */

void tn_corr_config_defaults(struct tn_corr_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->max_depth = 6;
	cfg->slack_s = 30;
	cfg->lateness_s = 60;
	cfg->emit_interval_ms = 1000;
	cfg->common_cause_k = 3;
	cfg->common_cause_window_s = 600;
	cfg->colo_radius_m = 500;
	cfg->colo_window_s = 300;
	cfg->heartbeat_timeout_s = 180;
	cfg->forecast_depth = 3;
	cfg->forecast_emit_s = 300;
	cfg->w_life = 2;
	cfg->pop_mid = 1000;
	cfg->pop_high = 10000;
	cfg->w_pop_mid = 1;
	cfg->w_pop_high = 2;
	cfg->w_sectors2 = 1;
	cfg->w_sectors3 = 2;
	cfg->w_crit1 = 1;
	cfg->w_crit2 = 0;
	cfg->imminent_s = 900;
	cfg->w_imminent = 1;
	cfg->max_buffered = 1000000;
	cfg->max_incidents = 100000;
	cfg->max_members = 100000;
	cfg->max_at_risk = 1000;
	cfg->at_risk_listed = 50;
	cfg->max_timers = 4000000;
	cfg->max_sources = 100000;
	cfg->max_unregistered = 100000;
	cfg->max_scan = 4096;
}

static int config_check(struct tn_corr_config *cfg)
{
	struct tn_corr_config d;

	tn_corr_config_defaults(&d);
#define DEF(f)                                                                 \
	if (cfg->f == 0)                                                       \
		cfg->f = d.f;
	DEF(max_buffered) DEF(max_incidents) DEF(max_members) DEF(max_at_risk)
	DEF(at_risk_listed)
	DEF(max_timers) DEF(max_sources) DEF(max_unregistered) DEF(max_scan)
#undef DEF
	if (cfg->max_depth < 1 || cfg->max_depth > 64 || cfg->forecast_depth < 0 ||
	    cfg->forecast_depth > 64 || cfg->forecast_emit_s < 0 || cfg->slack_s < 0 || cfg->lateness_s < 0 ||
	    cfg->emit_interval_ms < 0 || cfg->common_cause_k < 0 ||
	    cfg->common_cause_k == 1 || cfg->common_cause_window_s < 0 ||
	    !(cfg->colo_radius_m >= 0) || cfg->colo_window_s < 0 ||
	    cfg->heartbeat_timeout_s < 0 || cfg->imminent_s < 0 ||
	    cfg->max_members > UINT32_MAX / 4 || cfg->max_at_risk > UINT32_MAX / 4)
		return TN_ECONFIG;
	return 0;
}

/* ---- small helpers -------------------------------------------------------------- */

static int64_t floordiv(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static uint64_t ev_hash(const char *source, const char *id)
{
	return tn__corr_hash(source, id, NULL, NULL);
}

static const char *key_id(const struct tn_corr *c, uint32_t key)
{
	return c->keys.str[key];
}

static uint32_t key_of(const struct tn_corr *c, uint32_t num)
{
	return c->key_of_num[num];
}

/* The edges to the providers / from the dependents of graph number u, as
 * tn_graph_providers / tn_graph_dependents, inline. */
static inline size_t adj_prov(const struct tn_corr *c, uint32_t u, const struct tn_graph_edge **e)
{
	if (u >= c->gn) {
		*e = NULL;
		return 0;
	}
	*e = c->prov + c->prov_off[u];
	return c->prov_off[u + 1] - c->prov_off[u];
}

static inline size_t adj_dep(const struct tn_corr *c, uint32_t u, const struct tn_graph_edge **e)
{
	if (u >= c->gn) {
		*e = NULL;
		return 0;
	}
	*e = c->dep + c->dep_off[u];
	return c->dep_off[u + 1] - c->dep_off[u];
}

static int ensure_assets(struct tn_corr *c, uint32_t n)
{
	uint32_t old = c->cas, k;

	if (tn__cgrow((void **)&c->as, &c->cas, n, sizeof *c->as) != 0)
		return TN_ENOMEM;
	for (k = old; k < c->cas; k++) {
		memset(&c->as[k], 0, sizeof c->as[k]);
		c->as[k].inc = TN__NONE;
		c->as[k].member = TN__NONE;
		c->as[k].risk_inc = TN__NONE;
		c->as[k].sector = TN_SECTOR_NONE;
		c->as[k].last_us = INT64_MIN;
	}
	old = c->cnum;
	if (tn__cgrow((void **)&c->num_of_key, &c->cnum, n, sizeof *c->num_of_key) != 0)
		return TN_ENOMEM;
	for (k = old; k < c->cnum; k++)
		c->num_of_key[k] = TN__NONE;
	return 0;
}

/* ---- incidents --------------------------------------------------------------------- */

static void mark_dirty(struct tn_corr *c, uint32_t slot)
{
	struct tn__incident *in = &c->inc[slot];

	in->updated = c->now;
	if (in->dirty)
		return;
	if (tn__cgrow((void **)&c->dirty, &c->cdirty, c->ndirty + 1, sizeof *c->dirty) != 0)
		return; /* cannot happen in practice: dirty is bounded by the pool */
	in->dirty = 1;
	c->dirty[c->ndirty++] = slot;
}

static int inc_new(struct tn_corr *c, uint64_t h, uint8_t cause, uint32_t root_key,
		   int8_t root_sector, int64_t root_t, uint32_t *out)
{
	struct tn__incident *in;
	uint32_t slot;

	if (c->open >= c->cfg.max_incidents) {
		c->st.incidents_full++;
		return TN_EFULL;
	}
	if (c->nfree > 0) {
		slot = c->free_inc[--c->nfree];
	} else {
		if (tn__cgrow((void **)&c->inc, &c->cinc, c->ninc + 1, sizeof *c->inc) != 0)
			return TN_ENOMEM;
		slot = c->ninc++;
		memset(&c->inc[slot], 0, sizeof c->inc[slot]);
	}
	in = &c->inc[slot];
	in->h = h;
	snprintf(in->id, sizeof in->id, "INC-%016llx", (unsigned long long)h);
	in->rev = 0;
	in->status = TN__INC_OPEN;
	in->cause = cause;
	in->has_colo = 0;
	in->root_inferred = 0;
	in->dirty = 0;
	in->prio = 0;
	in->quiet = 0;
	in->quiet_timer = 0;
	in->root_key = root_key;
	in->root_sector = root_sector;
	in->root_t = root_t;
	in->opened = c->now;
	in->updated = c->now;
	in->confidence = 1.0;
	in->n_down = 0;
	in->n_deps = 0;
	in->merged_into[0] = '\0';
	in->ns = in->nh = 0;
	tn__inc_lists_reset(in);
	c->open++;
	c->st.incidents++;
	*out = slot;
	return 0;
}

static void inc_release(struct tn_corr *c, uint32_t slot)
{
	struct tn__incident *in = &c->inc[slot];

	in->status = TN__INC_FREE;
	in->gen++;
	in->ns = in->nh = 0;
	tn__inc_lists_reset(in);
	/* free_inc never exceeds the pool, so this cannot fail once grown */
	if (tn__cgrow((void **)&c->free_inc, &c->cfree, c->nfree + 1, sizeof *c->free_inc) == 0)
		c->free_inc[c->nfree++] = slot;
}

static void inc_close(struct tn_corr *c, uint32_t slot, uint8_t status)
{
	struct tn__incident *in = &c->inc[slot];

	if (in->status == TN__INC_OPEN)
		c->open--;
	in->status = status;
	if (in->root_inferred && c->as[in->root_key].inferred &&
	    c->as[in->root_key].inc == slot) {
		c->as[in->root_key].inferred = 0;
		c->as[in->root_key].inc = TN__NONE;
	}
	mark_dirty(c, slot);
}

static uint32_t inc_str(struct tn__incident *in, const char *s)
{
	size_t n = strlen(s) + 1;
	uint32_t off = in->ns;

	if (tn__cgrow((void **)&in->s, &in->cs, (size_t)in->ns + n, 1) != 0)
		return TN__NONE;
	memcpy(in->s + off, s, n);
	in->ns += (uint32_t)n;
	return off;
}

/*
 * inc_member - append a member. hop: the asset keys from the parent's asset
 * (or the root asset when parent is TN__NONE) to this one. Returns the index
 * or TN__NONE when a bound or memory refused (counted).
 */
static uint32_t inc_member(struct tn_corr *c, uint32_t slot, uint32_t key, int8_t sector,
			   uint8_t state, const char *src, const char *id, uint32_t parent,
			   const uint32_t *hop, uint32_t hop_len, uint8_t rule, int64_t t,
			   int64_t lo, int64_t hi, bool late)
{
	struct tn__incident *in = &c->inc[slot];
	struct tn__member *m;
	uint32_t so, io;

	if (in->nm >= c->cfg.max_members) {
		c->st.members_full++;
		return TN__NONE;
	}
	if (hop_len > UINT16_MAX)
		hop_len = UINT16_MAX;
	if (tn__cgrow((void **)&in->m, &in->cm, in->nm + 1, sizeof *in->m) != 0 ||
	    tn__cgrow((void **)&in->hops, &in->ch, (size_t)in->nh + hop_len, sizeof *in->hops) != 0)
		return TN__NONE;
	so = inc_str(in, src);
	io = inc_str(in, id);
	if (so == TN__NONE || io == TN__NONE)
		return TN__NONE;
	m = &in->m[in->nm];
	m->key = key;
	m->parent = parent;
	m->src = so;
	m->id = io;
	m->hop = in->nh;
	m->hop_len = (uint16_t)hop_len;
	memcpy(in->hops + in->nh, hop, hop_len * sizeof *hop);
	in->nh += hop_len;
	m->sector = sector;
	m->state = state;
	m->rule = rule;
	m->late = late;
	m->t = t;
	m->lo = lo;
	m->hi = hi;
	mark_dirty(c, slot);
	return in->nm++;
}

/* The member with no parent that is not a child of an inferred root. */
static uint32_t inc_root_member(const struct tn__incident *in)
{
	uint32_t j;

	if (in->root_inferred)
		return TN__NONE;
	for (j = 0; j < in->nm; j++)
		if (in->m[j].parent == TN__NONE)
			return j;
	return TN__NONE;
}

/* ---- timers ---------------------------------------------------------------------------- */

static bool timer_less(const struct tn__timer *a, const struct tn__timer *b)
{
	return a->t != b->t ? a->t < b->t : a->seq < b->seq;
}

static void timer_push(struct tn_corr *c, int64_t t, uint8_t kind, uint32_t a, uint32_t b,
		       uint32_t gen)
{
	struct tn__timer tm = {t, c->timer_seq++, kind, a, b, gen};
	uint32_t i, p;

	if (c->nth >= c->cfg.max_timers ||
	    tn__cgrow((void **)&c->th, &c->cth, c->nth + 1, sizeof *c->th) != 0) {
		c->st.timers_full++;
		return;
	}
	for (i = c->nth++; i > 0; i = p) {
		p = (i - 1) / 2;
		if (!timer_less(&tm, &c->th[p]))
			break;
		c->th[i] = c->th[p];
	}
	c->th[i] = tm;
}

static struct tn__timer timer_pop(struct tn_corr *c)
{
	struct tn__timer top = c->th[0], last = c->th[--c->nth];
	uint32_t i = 0, k;

	for (;;) {
		k = 2 * i + 1;
		if (k >= c->nth)
			break;
		if (k + 1 < c->nth && timer_less(&c->th[k + 1], &c->th[k]))
			k++;
		if (!timer_less(&c->th[k], &last))
			break;
		c->th[i] = c->th[k];
		i = k;
	}
	if (c->nth > 0)
		c->th[i] = last;
	return top;
}

/* ---- forecast (§4.7) ----------------------------------------------------------------- */

/* Where the pending entry (eta, idx) is or goes in in->pend: the first
 * position whose entry is not before it. */
static uint32_t pend_pos(const struct tn__incident *in, int64_t eta, uint32_t idx)
{
	uint32_t lo = 0, hi = in->npend;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct tn__risk *m = &in->r[in->pend[mid]];

		if (m->eta < eta || (m->eta == eta && in->pend[mid] < idx))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void risk_settle(struct tn_corr *c, struct tn__incident *in, struct tn__risk *r)
{
	const struct tn__asset *a = &c->as[r->key];
	int64_t slack = (int64_t)c->cfg.slack_s * TN__US;
	uint32_t idx = (uint32_t)(r - in->r), pos;

	if (r->outcome != TN__RISK_PENDING)
		return;
	if (tn__life_sector(r->sector))
		in->n_pending_life--;
	/* deadlines pass in order of eta, mostly: the first, without a search */
	pos = in->npend > 0 && in->pend[0] == idx ? 0 : pend_pos(in, r->eta, idx);
	if (pos < in->npend && in->pend[pos] == idx) {
		memmove(in->pend + pos, in->pend + pos + 1,
			(in->npend - pos - 1) * sizeof *in->pend);
		in->npend--;
	}
	if (a->state != TN__UP && !a->inferred && a->fail_us >= r->eta - slack &&
	    a->fail_us <= r->eta_latest + slack) {
		r->outcome = TN__RISK_BORNE_OUT;
		in->n_borne++;
		c->st.borne_out++;
	} else {
		r->outcome = TN__RISK_NOT_BORNE_OUT;
		in->n_not++;
		c->st.not_borne_out++;
	}
}

static void risk_add(struct tn_corr *c, uint32_t slot, uint32_t key, uint32_t via,
		     int64_t eta, int64_t eta_latest)
{
	struct tn__incident *in = &c->inc[slot];
	struct tn__asset *a = &c->as[key];
	struct tn__risk *r;
	uint32_t pos;

	if (a->risk_inc == slot && a->risk_idx < in->nr && in->r[a->risk_idx].key == key)
		return;
	if (in->nr >= c->cfg.max_at_risk) {
		c->st.at_risk_full++;
		return;
	}
	if (tn__cgrow((void **)&in->r, &in->cr, in->nr + 1, sizeof *in->r) != 0 ||
	    tn__cgrow((void **)&in->pend, &in->cpend, in->npend + 1, sizeof *in->pend) != 0)
		return;
	/* forecasts mostly add entries due after the others: at the end */
	pos = in->npend == 0 || in->r[in->pend[in->npend - 1]].eta <= eta ? in->npend
									     : pend_pos(in, eta, in->nr);
	memmove(in->pend + pos + 1, in->pend + pos, (in->npend - pos) * sizeof *in->pend);
	in->pend[pos] = in->nr;
	in->npend++;
	r = &in->r[in->nr];
	r->key = key;
	r->via = via;
	r->sector = a->sector;
	r->outcome = TN__RISK_PENDING;
	if (tn__life_sector(r->sector))
		in->n_pending_life++;
	r->eta = eta;
	r->eta_latest = eta_latest;
	r->txt = TN__NONE;
	r->txt_len = 0;
	a->risk_inc = slot;
	a->risk_idx = in->nr++;
	timer_push(c, eta_latest + (int64_t)c->cfg.slack_s * TN__US, TN__T_RISK, slot, a->risk_idx,
		   in->gen);
	mark_dirty(c, slot);
}

/* A member joined `slot`: settle a prediction of it there at once. */
static void risk_member_joined(struct tn_corr *c, uint32_t slot, uint32_t key)
{
	struct tn__incident *in = &c->inc[slot];
	struct tn__asset *a = &c->as[key];

	if (a->risk_inc == slot && a->risk_idx < in->nr && in->r[a->risk_idx].key == key &&
	    in->r[a->risk_idx].outcome == TN__RISK_PENDING)
		risk_settle(c, in, &in->r[a->risk_idx]);
}

/* ---- graph searches ------------------------------------------------------------------- */

/* desc_mark - add d to desc[] of every asset within max_depth upstream of
 * num, num included. Returns whether the search stopped at max_scan. The
 * same graph gives the same visit order, so -1 undoes exactly what +1 did. */
static bool desc_mark(struct tn_corr *c, uint32_t num, int d)
{
	const struct tn_graph_edge *e;
	uint32_t qh = 0, qt = 0, u, stamp;
	size_t n, i;

	if (++c->dstamp_n == 0) {
		memset(c->dstamp, 0, c->gn * sizeof *c->dstamp);
		c->dstamp_n = 1;
	}
	stamp = c->dstamp_n;
	c->dstamp[num] = stamp;
	c->dqueue[qt++] = num;
	/* depth by level: the queue holds one BFS level after another */
	for (uint32_t depth = 0, level_end = qt;; depth++, level_end = qt) {
		for (; qh < level_end; qh++) {
			u = c->dqueue[qh];
			c->desc[u] += (uint32_t)d;
			if (depth >= (uint32_t)c->cfg.max_depth)
				continue;
			n = adj_prov(c, u, &e);
			for (i = 0; i < n; i++) {
				if (c->dstamp[e[i].other] == stamp)
					continue;
				if (qt >= c->cfg.max_scan) {
					/* finish the counts of what was queued, say it is partial */
					for (qh++; qh < qt; qh++)
						c->desc[c->dqueue[qh]] += (uint32_t)d;
					return true;
				}
				c->dstamp[e[i].other] = stamp;
				c->dqueue[qt++] = e[i].other;
			}
		}
		if (qh == qt)
			return false;
	}
}

/* The asset `key` failed or came back up (or may have): keep desc[] true. */
static void failed_changed(struct tn_corr *c, uint32_t key)
{
	struct tn__asset *a = &c->as[key];
	uint32_t num = tn__num(c, key);
	bool failed = a->state != TN__UP && num != TN__NONE;

	if (failed == (bool)a->desc_on)
		return;
	if (failed && c->up_stamp == c->stamp && c->up_stamp != 0 && c->up_num == num) {
		/* upstream() just walked what desc_mark would, and found nothing:
		 * its queue is the same assets (see struct tn_corr.up_stamp) */
		a->desc_on = 1;
		for (uint32_t i = 0; i < c->up_len; i++)
			c->desc[c->queue[i]]++;
		a->desc_trunc = c->up_cut;
		c->desc_overflow += a->desc_trunc;
		c->st.scan_truncated += a->desc_trunc;
	} else if (failed) {
		a->desc_on = 1;
		a->desc_trunc = desc_mark(c, num, 1);
		c->desc_overflow += a->desc_trunc;
		c->st.scan_truncated += a->desc_trunc; /* the bound hit, counted once */
	} else {
		desc_mark(c, num, -1);
		c->desc_overflow -= a->desc_trunc;
		a->desc_on = 0;
		a->desc_trunc = 0;
	}
}

static uint32_t new_stamp(struct tn_corr *c)
{
	if (++c->stamp == 0) {
		size_t i;

		for (i = 0; i < c->gn; i++)
			c->vis[i].stamp = 0;
		c->stamp = 1;
		c->up_stamp = 0;
	}
	return c->stamp;
}

/* Keys along the BFS tree from `far` back to the search's start, written
 * start-last: for an upstream search that is provider .. dependent. */
static uint32_t path_to_start(struct tn_corr *c, uint32_t far, uint32_t start, uint32_t *out)
{
	uint32_t n = 0, v = far;

	while (v != start && n < 64) {
		out[n++] = key_of(c, v);
		v = c->vis[v].parent;
	}
	out[n++] = key_of(c, start);
	return n;
}

static void reverse(uint32_t *p, uint32_t n)
{
	uint32_t i, t;

	for (i = 0; i < n / 2; i++) {
		t = p[i];
		p[i] = p[n - 1 - i];
		p[n - 1 - i] = t;
	}
}

/* Is the asset in an open incident as a failure (reported or inferred)? */
static bool failed_open(const struct tn_corr *c, const struct tn__asset *a)
{
	return (a->state != TN__UP || a->inferred) && a->inc != TN__NONE &&
	       c->inc[a->inc].status == TN__INC_OPEN;
}

struct link {
	uint32_t inc, pnum, depth, path_len;
	int64_t tp, lo, hi;
	uint32_t path[66];
};

/*
 * upstream - the best failed provider of `num` (failing at t) within
 * max_depth hops whose path window contains t: shortest path first, then
 * the earliest provider failure, then the lowest incident id.
 */
static bool upstream(struct tn_corr *c, uint32_t num, int64_t t, struct link *best)
{
	const struct tn_graph_edge *e;
	uint32_t stamp = new_stamp(c), qh = 0, qt = 0, u, v;
	int64_t slack = (int64_t)c->cfg.slack_s * TN__US;
	size_t n, i;
	bool found = false, cut = false;

	c->vis[num] = (struct tn__visit){stamp, TN__NONE, 0, 0, 0};
	c->queue[qt++] = num;
	while (qh < qt) {
		struct tn__visit *vu;

		u = c->queue[qh++];
		vu = &c->vis[u];
		if (found && vu->depth > best->depth)
			break;
		if (vu->depth > 0) {
			const struct tn__asset *a = &c->as[key_of(c, u)];

			if (failed_open(c, a)) {
				int64_t lo = a->fail_us + vu->lo - slack;
				int64_t hi = a->fail_us + vu->hi + slack;

				if (t >= lo && t <= hi &&
				    (!found || a->fail_us < best->tp ||
				     (a->fail_us == best->tp && c->inc[a->inc].h < c->inc[best->inc].h))) {
					found = true;
					best->inc = a->inc;
					best->pnum = u;
					best->depth = vu->depth;
					best->tp = a->fail_us;
					best->lo = lo;
					best->hi = hi;
				}
			}
		}
		if (vu->depth >= (uint32_t)c->cfg.max_depth || found)
			continue;
		n = adj_prov(c, u, &e);
		for (i = 0; i < n; i++) {
			struct tn__visit *vv;
			int64_t lo = vu->lo + (int64_t)e[i].delay_min_s * TN__US;
			int64_t hi = vu->hi + (int64_t)e[i].delay_max_s * TN__US;

			v = e[i].other;
			vv = &c->vis[v];
			if (vv->stamp != stamp) {
				if (qt >= c->cfg.max_scan) {
					c->st.scan_truncated++;
					cut = true;
					break;
				}
				*vv = (struct tn__visit){stamp, u, vu->depth + 1, lo, hi};
				c->queue[qt++] = v;
			} else if (vv->depth == vu->depth + 1) {
				if (lo < vv->lo)
					vv->lo = lo;
				if (hi > vv->hi)
					vv->hi = hi;
			}
		}
	}
	if (found) {
		best->path_len = path_to_start(c, best->pnum, num, best->path);
	} else {
		/* It walked all of desc_mark's walk from num, in its order: keep it */
		c->up_stamp = stamp;
		c->up_num = num;
		c->up_len = qt;
		c->up_cut = cut;
	}
	return found;
}

static void merge(struct tn_corr *c, uint32_t into, uint32_t from, uint32_t parent,
		  const uint32_t *hop, uint32_t hop_len, int64_t lo, int64_t hi, uint8_t rule);

/*
 * downstream_reroot - re-rooting (§4.2): incidents rooted at a dependent of
 * `num` (failed at t, in `slot`) whose root failure fits the path's window
 * are absorbed into `slot`.
 */
static void downstream_reroot(struct tn_corr *c, uint32_t slot, uint32_t num, int64_t t,
			      uint32_t parent_member)
{
	const struct tn_graph_edge *e;
	uint32_t stamp = new_stamp(c), qh = 0, qt = 0, u, v;
	int64_t slack = (int64_t)c->cfg.slack_s * TN__US;
	uint32_t path[66];
	size_t n, i;

	c->vis[num] = (struct tn__visit){stamp, TN__NONE, 0, 0, 0};
	c->queue[qt++] = num;
	while (qh < qt) {
		struct tn__visit *vu;

		u = c->queue[qh++];
		vu = &c->vis[u];
		if (vu->depth > 0) {
			const struct tn__asset *a = &c->as[key_of(c, u)];

			if (a->state != TN__UP && !a->inferred && a->inc != slot &&
			    a->inc != TN__NONE && c->inc[a->inc].status == TN__INC_OPEN &&
			    inc_root_member(&c->inc[a->inc]) == a->member &&
			    a->fail_us >= t + vu->lo - slack && a->fail_us <= t + vu->hi + slack) {
				uint32_t len = path_to_start(c, u, num, path);

				reverse(path, len);
				merge(c, slot, a->inc, parent_member, path, len, t + vu->lo - slack,
				      t + vu->hi + slack, TN__RULE_REROOT);
			}
		}
		if (vu->depth >= (uint32_t)c->cfg.max_depth)
			continue;
		n = adj_dep(c, u, &e);
		for (i = 0; i < n; i++) {
			struct tn__visit *vv;
			int64_t lo = vu->lo + (int64_t)e[i].delay_min_s * TN__US;
			int64_t hi = vu->hi + (int64_t)e[i].delay_max_s * TN__US;

			v = e[i].other;
			if (c->desc_overflow == 0 && c->desc[v] == 0)
				continue; /* no failed asset within reach of v */
			vv = &c->vis[v];
			if (vv->stamp != stamp) {
				if (qt >= c->cfg.max_scan) {
					c->st.scan_truncated++;
					break;
				}
				*vv = (struct tn__visit){stamp, u, vu->depth + 1, lo, hi};
				c->queue[qt++] = v;
			} else if (vv->depth == vu->depth + 1) {
				if (lo < vv->lo)
					vv->lo = lo;
				if (hi > vv->hi)
					vv->hi = hi;
			}
		}
	}
}

/* forecast - the not-failed dependents of `num` (failed at t) within
 * forecast_depth become at risk in `slot`. */
static void forecast(struct tn_corr *c, uint32_t slot, uint32_t num, int64_t t)
{
	const struct tn_graph_edge *e;
	uint32_t stamp, qh = 0, qt = 0, u, v;
	size_t n, i;

	if (c->cfg.forecast_depth == 0)
		return;
	stamp = new_stamp(c);
	c->vis[num] = (struct tn__visit){stamp, TN__NONE, 0, 0, 0};
	c->queue[qt++] = num;
	while (qh < qt) {
		struct tn__visit *vu;

		if (c->inc[slot].nr >= c->cfg.max_at_risk) {
			/* nothing more can be listed: stop here rather than visit
			 * up to max_scan assets for nothing (counted once) */
			c->st.at_risk_full++;
			break;
		}
		u = c->queue[qh++];
		vu = &c->vis[u];
		if (vu->depth > 0) {
			const struct tn__asset *a = &c->as[key_of(c, u)];

			if (a->state != TN__UP || a->inferred)
				continue; /* failed: its own failure forecasts beyond it */
			risk_add(c, slot, key_of(c, u), key_of(c, num), t + vu->lo, t + vu->hi);
		}
		if (vu->depth >= (uint32_t)c->cfg.forecast_depth)
			continue;
		n = adj_dep(c, u, &e);
		for (i = 0; i < n; i++) {
			struct tn__visit *vv;
			int64_t lo = vu->lo + (int64_t)e[i].delay_min_s * TN__US;
			int64_t hi = vu->hi + (int64_t)e[i].delay_max_s * TN__US;

			v = e[i].other;
			vv = &c->vis[v];
			if (vv->stamp != stamp) {
				if (qt >= c->cfg.max_scan) {
					c->st.scan_truncated++;
					break;
				}
				*vv = (struct tn__visit){stamp, u, vu->depth + 1, lo, hi};
				c->queue[qt++] = v;
			} else if (vv->depth == vu->depth + 1) {
				if (lo < vv->lo)
					vv->lo = lo;
				if (hi > vv->hi)
					vv->hi = hi;
			}
		}
	}
}

/* ---- merging ----------------------------------------------------------------------------- */

/*
 * merge - absorb incident `from` into `into`: its members are appended (their
 * links kept), its root member is linked from `parent` (a member of `into`,
 * or TN__NONE for the root asset of `into`) by `hop` and the window, with
 * `rule`. `from` ends "merged" into `into`.
 */
static void merge(struct tn_corr *c, uint32_t into, uint32_t from, uint32_t parent,
		  const uint32_t *hop, uint32_t hop_len, int64_t lo, int64_t hi, uint8_t rule)
{
	struct tn__incident *x = &c->inc[from];
	uint32_t base = c->inc[into].nm, j, rootm = inc_root_member(x);

	for (j = 0; j < x->nm; j++) {
		const struct tn__member *m = &c->inc[from].m[j];
		struct tn__asset *a = &c->as[m->key];
		uint32_t idx;

		if (j == rootm)
			idx = inc_member(c, into, m->key, m->sector, m->state, x->s + m->src,
					 x->s + m->id, parent, hop, hop_len, rule, m->t, lo, hi,
					 m->late);
		else
			idx = inc_member(c, into, m->key, m->sector, m->state, x->s + m->src,
					 x->s + m->id,
					 m->parent == TN__NONE ? parent : base + m->parent,
					 x->hops + m->hop, m->hop_len, m->rule, m->t, m->lo, m->hi,
					 m->late);
		x = &c->inc[from]; /* inc_member never moves incidents, but keep it plain */
		if (idx == TN__NONE)
			continue;
		if (a->inc == from && a->member == j) {
			a->inc = into;
			a->member = idx;
		}
		risk_member_joined(c, into, m->key);
	}
	for (j = 0; j < x->nr; j++) {
		const struct tn__risk r = x->r[j];
		struct tn__asset *a = &c->as[r.key];
		struct tn__incident *in = &c->inc[into];

		if (a->risk_inc == into && a->risk_idx < in->nr && in->r[a->risk_idx].key == r.key)
			continue;
		if (r.outcome == TN__RISK_PENDING) {
			risk_add(c, into, r.key, r.via, r.eta, r.eta_latest);
		} else if (in->nr < c->cfg.max_at_risk &&
			   tn__cgrow((void **)&in->r, &in->cr, in->nr + 1, sizeof *in->r) == 0) {
			in->r[in->nr] = r;
			in->r[in->nr].txt = TN__NONE; /* its text is in x's rtxt */
			in->nr++;
			if (r.outcome == TN__RISK_BORNE_OUT)
				in->n_borne++;
			else
				in->n_not++;
		}
	}
	c->inc[into].n_down += x->n_down;
	x->n_down = 0;
	c->inc[into].has_colo |= x->has_colo;
	memcpy(x->merged_into, c->inc[into].id, sizeof x->merged_into);
	c->st.merges++;
	inc_close(c, from, TN__INC_MERGED);
	mark_dirty(c, into);
}

/* ---- event processing --------------------------------------------------------------------- */

struct fail_ctx {
	const struct tn__bev *ev;
	const char *src;
	uint32_t key, num;
	int64_t t;
	uint8_t state;
	bool late;
	uint64_t h;
};

static uint32_t join_as(struct tn_corr *c, const struct fail_ctx *f, uint32_t slot,
			uint32_t parent, const uint32_t *hop, uint32_t hop_len, uint8_t rule,
			int64_t lo, int64_t hi)
{
	return inc_member(c, slot, f->key, f->ev->sector, f->state, f->src, f->ev->id, parent, hop,
			  hop_len, rule, f->t, lo, hi, f->late);
}

/*
 * infer - common cause (§4.3): `f` found no failed provider. For each
 * provider P of it that has not failed, count the direct dependents of P
 * that failed within common_cause_window_s of f and head their own incident,
 * f included; with at least k of them whose times fit P's edge windows for
 * one failure time of P, infer P. Returns the incident f joined or TN__NONE.
 */
static uint32_t infer(struct tn_corr *c, const struct fail_ctx *f, uint32_t *member)
{
	const struct tn_graph_edge *pe, *de;
	int64_t w = (int64_t)c->cfg.common_cause_window_s * TN__US;
	int64_t slack = (int64_t)c->cfg.slack_s * TN__US;
	size_t np, nd, i, j;

	if (c->cfg.common_cause_k < 2)
		return TN__NONE;
	np = adj_prov(c, f->num, &pe);
	for (i = 0; i < np; i++) {
		uint32_t p = pe[i].other, pkey = key_of(c, p), ncand = 0, nk, slot, k;
		int64_t tp = INT64_MAX;
		struct tn__asset *pa = &c->as[pkey];
		uint32_t hop[2];
		uint64_t h;

		if (pa->state != TN__UP || pa->inferred)
			continue;
		nd = adj_dep(c, p, &de);
		if (nd > c->cfg.max_scan) {
			c->st.scan_truncated++;
			nd = c->cfg.max_scan;
		}
		if (tn__cgrow((void **)&c->tmp, &c->ctmp, 2 * nd + 2, sizeof *c->tmp) != 0)
			return TN__NONE;
		/* candidates: dependent edge indexes into c->tmp */
		for (j = 0; j < nd; j++) {
			uint32_t d = de[j].other;
			const struct tn__asset *da = &c->as[key_of(c, d)];

			if (d == f->num) {
				c->tmp[ncand++] = (uint32_t)j;
				continue;
			}
			if (da->state == TN__UP || da->inferred || da->inc == TN__NONE ||
			    c->inc[da->inc].status != TN__INC_OPEN ||
			    inc_root_member(&c->inc[da->inc]) != da->member ||
			    da->fail_us < f->t - w || da->fail_us > f->t + w)
				continue;
			c->tmp[ncand++] = (uint32_t)j;
		}
		if (ncand < (uint32_t)c->cfg.common_cause_k)
			continue;
		for (j = 0; j < ncand; j++) {
			const struct tn_graph_edge *d = &de[c->tmp[j]];
			int64_t td = d->other == f->num ? f->t : c->as[key_of(c, d->other)].fail_us;
			int64_t est = td - (int64_t)d->delay_min_s * TN__US;

			if (est < tp)
				tp = est;
		}
		for (j = 0, nk = 0; j < ncand; j++) {
			const struct tn_graph_edge *d = &de[c->tmp[j]];
			int64_t td = d->other == f->num ? f->t : c->as[key_of(c, d->other)].fail_us;

			if (td <= tp + (int64_t)d->delay_max_s * TN__US + slack)
				c->tmp[nk++] = c->tmp[j];
		}
		if (nk < (uint32_t)c->cfg.common_cause_k)
			continue;
		h = tn__corr_hash("inferred", key_id(c, pkey), f->src, f->ev->id);
		if (inc_new(c, h, TN_CAUSE_INFERRED, pkey, tn_graph_asset(c->g, p)->sector, tp,
			    &slot) != 0)
			return TN__NONE;
		c->inc[slot].root_inferred = 1;
		c->inc[slot].n_deps = (uint32_t)adj_dep(c, p, &de);
		pa->inferred = 1;
		pa->inc = slot;
		pa->member = TN__NONE;
		pa->fail_us = tp;
		pa->sector = (int8_t)tn_graph_asset(c->g, p)->sector;
		c->st.inferred++;
		*member = TN__NONE;
		hop[0] = pkey;
		for (j = 0; j < nk; j++) {
			const struct tn_graph_edge *d = &de[c->tmp[j]];
			int64_t lo = tp + (int64_t)d->delay_min_s * TN__US - slack;
			int64_t hi = tp + (int64_t)d->delay_max_s * TN__US + slack;

			hop[1] = key_of(c, d->other);
			if (d->other == f->num) {
				*member = join_as(c, f, slot, TN__NONE, hop, 2, TN__RULE_INFERRED, lo,
						  hi);
			} else {
				k = c->as[hop[1]].inc;
				merge(c, slot, k, TN__NONE, hop, 2, lo, hi, TN__RULE_INFERRED);
			}
		}
		c->inc[slot].confidence =
			(double)nk / (double)(c->inc[slot].n_deps ? c->inc[slot].n_deps : 1);
		return slot; /* *member stays TN__NONE when the bound on members refused f */
	}
	return TN__NONE;
}

/* Location of an event's asset: the event's geo, else the registry's. */
static bool locate(const struct tn_corr *c, const struct fail_ctx *f, double *lat, double *lon)
{
	if (f->ev->has_geo) {
		*lat = f->ev->lat;
		*lon = f->ev->lon;
		return true;
	}
	if (f->num != TN__NONE) {
		const struct tn_asset *a = tn_graph_asset(c->g, f->num);

		*lat = a->lat;
		*lon = a->lon;
		return true;
	}
	return false;
}

/* Mark (with a fresh stamp) every asset within max_depth of num, both ways. */
static uint32_t mark_reachable(struct tn_corr *c, uint32_t num)
{
	uint32_t stamp = new_stamp(c), qh, qt, u, dir;
	const struct tn_graph_edge *e;
	size_t n, i;

	c->vis[num] = (struct tn__visit){stamp, TN__NONE, 0, 0, 0};
	for (dir = 0; dir < 2; dir++) {
		qh = qt = 0;
		c->queue[qt++] = num;
		/* depth is tracked per direction in lo (reused as a hop count) */
		c->vis[num].lo = 0;
		while (qh < qt) {
			u = c->queue[qh++];
			if (c->vis[u].lo >= c->cfg.max_depth)
				continue;
			n = dir ? adj_dep(c, u, &e) : adj_prov(c, u, &e);
			for (i = 0; i < n; i++) {
				struct tn__visit *vv = &c->vis[e[i].other];

				if (vv->stamp == stamp)
					continue;
				if (qt >= c->cfg.max_scan) {
					c->st.scan_truncated++;
					break;
				}
				*vv = (struct tn__visit){stamp, u, 0, c->vis[u].lo + 1, 0};
				c->queue[qt++] = e[i].other;
			}
		}
	}
	return stamp;
}

/*
 * colocate - co-location (§4.4): a failed asset of another sector within
 * colo_radius_m and colo_window_s, with no graph path within max_depth
 * either way. The earliest such failure wins (then the lowest incident id).
 */
static uint32_t colocate(struct tn_corr *c, const struct fail_ctx *f, uint32_t *member)
{
	int64_t w = (int64_t)c->cfg.colo_window_s * TN__US;
	uint32_t stamp = 0, best = TN__NONE, best_num = TN__NONE, hop[2];
	double lat, lon;
	size_t n, i, cap = 256;

	if (c->cfg.colo_radius_m <= 0 || c->g == NULL || !locate(c, f, &lat, &lon))
		return TN__NONE;
	n = tn__graph_near_any(c->g, lat, lon, c->cfg.colo_radius_m, c->nearbuf, cap);
	if (n > cap) {
		c->st.scan_truncated++;
		n = cap;
	}
	if (f->num != TN__NONE)
		stamp = mark_reachable(c, f->num);
	for (i = 0; i < n; i++) {
		uint32_t v = c->nearbuf[i], k = key_of(c, v);
		const struct tn__asset *a = &c->as[k];

		if (v == f->num || a->state == TN__UP || a->inferred || a->inc == TN__NONE ||
		    c->inc[a->inc].status != TN__INC_OPEN || a->member == TN__NONE ||
		    a->sector == f->ev->sector || a->fail_us < f->t - w || a->fail_us > f->t + w)
			continue;
		if (f->num != TN__NONE && c->vis[v].stamp == stamp)
			continue;
		/* the earliest failure, then the lowest incident id, then (the
		 * candidates come in no order) the lowest asset number */
		if (best == TN__NONE || a->fail_us < c->as[best].fail_us ||
		    (a->fail_us == c->as[best].fail_us &&
		     (c->inc[a->inc].h < c->inc[c->as[best].inc].h ||
		      (c->inc[a->inc].h == c->inc[c->as[best].inc].h && v < best_num)))) {
			best = k;
			best_num = v;
		}
	}
	if (best == TN__NONE)
		return TN__NONE;
	hop[0] = best;
	hop[1] = f->key;
	*member = join_as(c, f, c->as[best].inc, c->as[best].member, hop, 2, TN__RULE_COLOCATED,
			  c->as[best].fail_us - w, c->as[best].fail_us + w);
	if (*member == TN__NONE)
		return TN__NONE;
	c->inc[c->as[best].inc].has_colo = 1;
	c->st.colocated++;
	return c->as[best].inc;
}

static void mark_member_chain(struct tn__incident *in, uint32_t j, uint8_t state)
{
	uint32_t guard = 0;

	while (j != TN__NONE && j < in->nm && guard++ < in->nm) {
		in->m[j].state = state;
		if (in->m[j].rule != TN__RULE_SAME_ASSET)
			break;
		j = in->m[j].parent;
	}
}

static void restore(struct tn_corr *c, uint32_t key, int64_t t)
{
	struct tn__asset *a = &c->as[key];
	uint32_t slot = a->inc;

	a->state = TN__UP;
	a->last_us = t;
	a->inc = TN__NONE;
	failed_changed(c, key);
	if (a->sector >= 0 && a->sector < TN_SECTOR__COUNT && c->down_by_sector[a->sector] > 0)
		c->down_by_sector[a->sector]--;
	if (slot == TN__NONE || c->inc[slot].status != TN__INC_OPEN)
		return;
	mark_member_chain(&c->inc[slot], a->member, TN__UP);
	a->member = TN__NONE;
	mark_dirty(c, slot);
	if (c->inc[slot].n_down > 0 && --c->inc[slot].n_down == 0)
		inc_close(c, slot, TN__INC_RESOLVED);
}

static int withdraw(struct tn_corr *c, uint32_t slot);

static void confirm(struct tn_corr *c, const struct fail_ctx *f)
{
	struct tn__asset *a = &c->as[f->key];
	uint32_t slot = a->inc, idx, j;
	struct tn__incident *in = &c->inc[slot];
	struct link best;

	idx = inc_member(c, slot, f->key, f->ev->sector, f->state, f->src, f->ev->id, TN__NONE,
			 &f->key, 1, TN__RULE_ROOT, f->t, f->t, f->t, f->late);
	if (idx == TN__NONE)
		return;
	in = &c->inc[slot];
	for (j = 0; j < in->nm; j++)
		if (j != idx && in->m[j].parent == TN__NONE)
			in->m[j].parent = idx;
	tn__inc_explain_stale(in); /* their paths now start at idx */
	in->root_inferred = 0;
	in->root_t = f->t;
	in->cause = TN_CAUSE_OBSERVED;
	in->confidence = 1.0;
	a->inferred = 0;
	a->state = f->state;
	failed_changed(c, f->key);
	a->member = idx;
	a->fail_us = f->t;
	a->last_us = f->t;
	a->ev_hash = f->h;
	a->sector = f->ev->sector;
	in->n_down++;
	if (a->sector >= 0 && a->sector < TN_SECTOR__COUNT)
		c->down_by_sector[a->sector]++;
	c->st.confirmed++;
	risk_member_joined(c, slot, f->key);
	if (f->num != TN__NONE && upstream(c, f->num, f->t, &best) && best.inc != slot) {
		uint32_t pk = key_of(c, best.pnum);

		merge(c, best.inc, slot, c->as[pk].member, best.path, best.path_len, best.lo,
		      best.hi, TN__RULE_REROOT);
	}
}

static void on_fail(struct tn_corr *c, const struct tn__bev *ev, const char *src, uint32_t key,
		    bool late)
{
	struct fail_ctx f = {ev, src, key, tn__num(c, key), ev->t,
			     ev->type == TN_EV_DOWN ? TN__DOWN : TN__DEGRADED, late,
			     ev_hash(src, ev->id)};
	struct tn__asset *a = &c->as[key];
	uint32_t slot = TN__NONE, idx = TN__NONE;
	int64_t prev_last = a->last_us;
	bool stale, fresh_inference = false;
	struct link best;

	if (a->state != TN__UP && !a->inferred) {
		if (a->ev_hash == f.h) {
			c->st.duplicates++;
			return;
		}
		/* a failed asset reports again (degraded then down, or a repeat) */
		if (a->inc == TN__NONE || c->inc[a->inc].status != TN__INC_OPEN)
			return;
		/* The same state again says nothing new. As a member it would
		 * lengthen the asset's chain and every revision with it: a sensor
		 * repeating "down" each second would make revisions grow without
		 * bound (and their explanation paths with them). Counted. */
		if (f.state == a->state) {
			c->st.repeats++;
			return;
		}
		idx = inc_member(c, a->inc, key, ev->sector, f.state, src, ev->id, a->member, &key,
				 1, TN__RULE_SAME_ASSET, a->fail_us, a->fail_us, f.t, late);
		if (idx == TN__NONE)
			return;
		c->inc[a->inc].m[idx].t = f.t;
		a->state = f.state;
		a->member = idx;
		a->ev_hash = f.h;
		a->last_us = f.t;
		return;
	}
	if (a->inferred) {
		confirm(c, &f);
		return;
	}
	stale = f.t < a->last_us;
	if (stale)
		c->st.stale++;
	if (f.num != TN__NONE && upstream(c, f.num, f.t, &best)) {
		uint32_t pk = key_of(c, best.pnum);
		uint32_t parent = c->as[pk].inferred ? TN__NONE : c->as[pk].member;

		slot = best.inc;
		idx = join_as(c, &f, slot, parent, best.path, best.path_len,
			      c->as[pk].inferred ? TN__RULE_INFERRED : TN__RULE_CASCADE, best.lo,
			      best.hi);
		if (idx == TN__NONE)
			return;
		if (c->inc[slot].root_inferred) {
			struct tn__incident *in = &c->inc[slot];
			uint32_t j, direct = 0;

			for (j = 0; j < in->nm; j++)
				direct += in->m[j].parent == TN__NONE && in->m[j].hop_len == 2;
			in->confidence = (double)direct / (double)(in->n_deps ? in->n_deps : 1);
			if (in->confidence > 1)
				in->confidence = 1;
		}
	} else if (f.num != TN__NONE && !stale && (slot = infer(c, &f, &idx)) != TN__NONE) {
		if (idx == TN__NONE)
			return;
		fresh_inference = true;
	} else if (!stale && (slot = colocate(c, &f, &idx)) != TN__NONE) {
		/* joined */
	} else {
		uint64_t h = ev_hash(src, ev->id);

		if (inc_new(c, h, TN_CAUSE_OBSERVED, key, ev->sector, f.t, &slot) != 0)
			return;
		idx = join_as(c, &f, slot, TN__NONE, &key, 1,
			      f.num == TN__NONE ? TN__RULE_UNREGISTERED : TN__RULE_ROOT, f.t, f.t);
		if (idx == TN__NONE) {
			inc_close(c, slot, TN__INC_RESOLVED);
			return;
		}
	}
	a = &c->as[key];
	a->state = f.state;
	failed_changed(c, key);
	a->inferred = 0;
	a->inc = slot;
	a->member = idx;
	a->fail_us = f.t;
	a->last_us = f.t;
	a->ev_hash = f.h;
	a->sector = ev->sector;
	c->inc[slot].n_down++;
	if (a->sector >= 0 && a->sector < TN_SECTOR__COUNT)
		c->down_by_sector[a->sector]++;
	risk_member_joined(c, slot, key);
	if (stale) {
		restore(c, key, prev_last);
		return;
	}
	if (f.num != TN__NONE) {
		downstream_reroot(c, slot, f.num, f.t, idx);
		forecast(c, slot, f.num, f.t);
		if (fresh_inference) {
			/* the silent provider's other dependents are at risk from its estimate */
			const struct tn__incident *in = &c->inc[slot];

			forecast(c, slot, tn__num(c, in->root_key), in->root_t);
		}
	}
}

static void on_up(struct tn_corr *c, uint32_t key, int64_t t)
{
	struct tn__asset *a = &c->as[key];

	if (a->inferred) {
		const struct tn_graph_edge *e;
		uint32_t num = tn__num(c, key);
		struct tn__incident *in = &c->inc[a->inc];
		int64_t maxd = 0;
		size_t n = num == TN__NONE ? 0 : adj_dep(c, num, &e), i;

		for (i = 0; i < n && i < c->cfg.max_scan; i++)
			if ((int64_t)e[i].delay_max_s * TN__US > maxd)
				maxd = (int64_t)e[i].delay_max_s * TN__US;
		if (t <= in->root_t + maxd + (int64_t)c->cfg.slack_s * TN__US) {
			withdraw(c, a->inc);
		} else {
			/* restored after its dependents fell: the inference stands */
			a->inferred = 0;
			a->inc = TN__NONE;
			a->last_us = t;
		}
		return;
	}
	if (a->state == TN__UP) {
		if (t > a->last_us)
			a->last_us = t;
		return;
	}
	if (t < a->fail_us) {
		c->st.stale++;
		return;
	}
	restore(c, key, t);
}

/*
 * withdraw - a healthy report of an inferred root: the incident is withdrawn
 * (resolved, no members) and each subtree hanging from the inferred root
 * becomes an incident of its own, rooted at its observed head.
 */
static int withdraw(struct tn_corr *c, uint32_t slot)
{
	struct tn__incident *in = &c->inc[slot];
	uint32_t nm = in->nm, j, *grp, *newidx, pkey = in->root_key;

	if (tn__cgrow((void **)&c->tmp, &c->ctmp, 2 * (size_t)nm + 2, sizeof *c->tmp) != 0)
		return TN_ENOMEM;
	grp = c->tmp;
	newidx = c->tmp + nm;
	c->as[pkey].inferred = 0;
	c->as[pkey].inc = TN__NONE;
	c->st.withdrawn++;
	for (j = 0; j < nm; j++) {
		const struct tn__member *m = &c->inc[slot].m[j];
		uint32_t ns = TN__NONE;

		newidx[j] = TN__NONE;
		if (m->parent == TN__NONE || m->parent >= j) {
			struct tn__incident *x = &c->inc[slot];
			uint64_t h = tn__corr_hash("withdrawn", key_id(c, pkey), x->s + m->src,
						   x->s + m->id);

			if (inc_new(c, h, TN_CAUSE_OBSERVED, m->key, m->sector, m->t, &ns) != 0) {
				grp[j] = TN__NONE;
				continue;
			}
			grp[j] = ns;
			x = &c->inc[slot];
			m = &x->m[j];
			newidx[j] = inc_member(c, ns, m->key, m->sector, m->state, x->s + m->src,
					       x->s + m->id, TN__NONE, &m->key, 1, TN__RULE_ROOT,
					       m->t, m->t, m->t, m->late);
		} else {
			struct tn__incident *x = &c->inc[slot];

			grp[j] = grp[m->parent];
			if (grp[j] == TN__NONE || newidx[m->parent] == TN__NONE)
				continue;
			newidx[j] = inc_member(c, grp[j], m->key, m->sector, m->state,
					       x->s + m->src, x->s + m->id, newidx[m->parent],
					       x->hops + m->hop, m->hop_len, m->rule, m->t, m->lo,
					       m->hi, m->late);
		}
		if (newidx[j] != TN__NONE) {
			struct tn__asset *a = &c->as[c->inc[slot].m[j].key];

			if (a->inc == slot && a->member == j) {
				a->inc = grp[j];
				a->member = newidx[j];
				c->inc[grp[j]].n_down++;
			}
		}
	}
	/* groups with nothing still down resolve at once */
	for (j = 0; j < nm; j++)
		if ((c->inc[slot].m[j].parent == TN__NONE || c->inc[slot].m[j].parent >= j) &&
		    grp[j] != TN__NONE && c->inc[grp[j]].n_down == 0 &&
		    c->inc[grp[j]].status == TN__INC_OPEN)
			inc_close(c, grp[j], TN__INC_RESOLVED);
	in = &c->inc[slot];
	tn__inc_lists_reset(in);
	in->n_down = 0;
	in->confidence = 0;
	inc_close(c, slot, TN__INC_WITHDRAWN);
	return 0;
}

/* ---- visibility (§4.5) ----------------------------------------------------------------------- */

static void source_seen(struct tn_corr *c, uint32_t s, const struct tn__bev *ev, uint32_t key)
{
	struct tn__source *so = &c->src[s];

	if (ev->type == TN_EV_HEARTBEAT)
		so->hb = 1;
	if (key != TN__NONE) {
		so->last_key = key;
		so->sector = ev->sector;
	}
	if (ev->t > so->last_us)
		so->last_us = ev->t;
	if (so->blind) {
		so->blind = 0;
		if (so->inc != TN__NONE && c->inc[so->inc].status == TN__INC_OPEN)
			inc_close(c, so->inc, TN__INC_RESOLVED);
		so->inc = TN__NONE;
	}
	if (so->hb && c->cfg.heartbeat_timeout_s > 0 && so->timer_us == 0) {
		so->timer_us = so->last_us + (int64_t)c->cfg.heartbeat_timeout_s * TN__US;
		timer_push(c, so->timer_us, TN__T_HEARTBEAT, s, 0, 0);
	}
}

static void heartbeat_due(struct tn_corr *c, uint32_t s, int64_t t)
{
	struct tn__source *so = &c->src[s];
	int64_t deadline = so->last_us + (int64_t)c->cfg.heartbeat_timeout_s * TN__US;
	char when[32];
	uint32_t slot;

	so->timer_us = 0;
	if (so->blind)
		return;
	if (deadline > t) {
		so->timer_us = deadline;
		timer_push(c, deadline, TN__T_HEARTBEAT, s, 0, 0);
		return;
	}
	/* The deadline alone would repeat when a late report revives the source
	 * without moving its last sign of life: the episode number keeps every
	 * blind spell's incident id distinct. */
	snprintf(when, sizeof when, "%lld/%u", (long long)t, so->episodes++);
	if (inc_new(c, tn__corr_hash("visibility", c->sources.str[s], when, NULL),
		    TN_CAUSE_VISIBILITY, s, so->sector, t, &slot) != 0)
		return;
	so->blind = 1;
	so->inc = slot;
	c->st.blind++;
	mark_dirty(c, slot);
}

/* ---- the item loop ------------------------------------------------------------------------ */

static void flush(struct tn_corr *c)
{
	uint32_t k, slot;

	for (k = 0; k < c->ndirty; k++) {
		struct tn__incident *in;
		enum tn_change_msg msg;

		slot = c->dirty[k];
		in = &c->inc[slot];
		in->dirty = 0;
		switch (in->status) {
		case TN__INC_OPEN:
			msg = in->rev == 0 ? TN_MSG_ALERT : TN_MSG_UPDATE;
			break;
		case TN__INC_MERGED:
			msg = TN_MSG_MERGED;
			break;
		case TN__INC_RESOLVED:
		case TN__INC_WITHDRAWN:
			msg = TN_MSG_RESOLVED;
			break;
		default:
			continue;
		}
		if (!(msg == TN_MSG_MERGED && in->rev == 0))
			tn__corr_emit(c, slot, msg);
		if (in->status != TN__INC_OPEN)
			inc_release(c, slot);
	}
	c->ndirty = 0;
}

static void begin_item(struct tn_corr *c, int64_t t, bool late)
{
	c->now = t;
	c->cur_late = late;
	if (c->cfg.emit_interval_ms == 0 || late) {
		if (late)
			flush(c);
		return;
	}
	int64_t b = floordiv(t, (int64_t)c->cfg.emit_interval_ms * 1000);

	if (c->have_bucket && b != c->bucket)
		flush(c);
	c->bucket = b;
	c->have_bucket = true;
}

static void end_item(struct tn_corr *c)
{
	if (c->cfg.emit_interval_ms == 0 || c->cur_late)
		flush(c);
	c->cur_late = false;
}

static void process(struct tn_corr *c, const struct tn__bev *ev, bool late)
{
	const char *src = c->sources.str[ev->src];
	uint32_t key = TN__NONE;

	begin_item(c, ev->t, late);
	if (late)
		c->st.late++;
	if (ev->type != TN_EV_HEARTBEAT) {
		bool added = false;

		key = tn__cintern_find(&c->keys, ev->asset);
		if (key == TN__NONE || tn__num(c, key) == TN__NONE)
			c->st.unregistered++;
		if (key == TN__NONE) {
			if (c->n_unreg >= c->cfg.max_unregistered) {
				c->st.unregistered_full++;
			} else if (tn__cintern_add(&c->keys, ev->asset, &key, &added) != 0 ||
				   ensure_assets(c, c->keys.n) != 0) {
				key = TN__NONE;
			} else {
				c->n_unreg++;
				c->as[key].sector = ev->sector;
			}
		}
	}
	source_seen(c, ev->src, ev, key);
	if (key != TN__NONE) {
		switch (ev->type) {
		case TN_EV_DOWN:
		case TN_EV_DEGRADED:
			on_fail(c, ev, src, key, late);
			break;
		case TN_EV_UP:
			on_up(c, key, ev->t);
			break;
		case TN_EV_ALARM:
			c->st.alarms++;
			break;
		default:
			break;
		}
	} else if (ev->type == TN_EV_ALARM) {
		c->st.alarms++;
	}
	end_item(c);
}

/*
 * A forecast deadline passed in `slot` and its outcome is settled. Why not a
 * revision at once: an incident at risk of a thousand assets would otherwise
 * be re-published a thousand times as their deadlines pass one by one, each
 * revision carrying the whole incident, while what a control room acts on
 * (members, root, priority) is unchanged. So a settled outcome is published
 * at once only when it changes the priority (an imminent risk that is no
 * longer imminent); otherwise it rides on the incident's next revision, and at
 * the latest forecast_emit_s later (a TN__T_OUTCOME timer, one per incident).
 */
static void outcome_settled(struct tn_corr *c, uint32_t slot, int64_t t)
{
	struct tn__incident *in = &c->inc[slot];
	int64_t updated = in->updated;
	int prio;

	if (c->cfg.forecast_emit_s == 0) {
		mark_dirty(c, slot);
		return;
	}
	in->updated = c->now; /* the priority as a revision now would state it */
	prio = tn__corr_priority(c, in);
	in->updated = updated;
	if (prio != in->prio || in->dirty) {
		mark_dirty(c, slot);
		return;
	}
	in->quiet = 1;
	if (!in->quiet_timer) {
		uint32_t n = c->nth;

		timer_push(c, t + (int64_t)c->cfg.forecast_emit_s * TN__US, TN__T_OUTCOME, slot, 0,
			   in->gen);
		if (c->nth == n)
			mark_dirty(c, slot); /* no timer (counted): publish now, never never */
		else
			in->quiet_timer = 1;
	}
}

static void fire(struct tn_corr *c, const struct tn__timer *tm)
{
	begin_item(c, tm->t, false);
	if (tm->kind == TN__T_RISK) {
		struct tn__incident *in = &c->inc[tm->a];

		if (tm->a < c->ninc && in->gen == tm->gen && in->status == TN__INC_OPEN &&
		    tm->b < in->nr && in->r[tm->b].outcome == TN__RISK_PENDING) {
			risk_settle(c, in, &in->r[tm->b]);
			outcome_settled(c, tm->a, tm->t);
		}
	} else if (tm->kind == TN__T_OUTCOME) {
		struct tn__incident *in = &c->inc[tm->a];

		if (tm->a < c->ninc && in->gen == tm->gen && in->status == TN__INC_OPEN) {
			in->quiet_timer = 0;
			if (in->quiet)
				mark_dirty(c, tm->a);
		}
	} else if (tm->kind == TN__T_HEARTBEAT) {
		heartbeat_due(c, tm->a, tm->t);
	}
	end_item(c);
}

static int bev_cmp(const struct tn_corr *c, uint32_t x, uint32_t y)
{
	const struct tn__bev *a = &c->bev[x], *b = &c->bev[y];
	int r;

	if (a->t != b->t)
		return a->t < b->t ? -1 : 1;
	if (a->src != b->src) {
		r = strcmp(c->sources.str[a->src], c->sources.str[b->src]);
		if (r)
			return r;
	}
	return strcmp(a->id, b->id);
}

static void eheap_push(struct tn_corr *c, uint32_t x)
{
	uint32_t i, p;

	for (i = c->neh++; i > 0; i = p) {
		p = (i - 1) / 2;
		if (bev_cmp(c, x, c->eheap[p]) >= 0)
			break;
		c->eheap[i] = c->eheap[p];
	}
	c->eheap[i] = x;
}

static uint32_t eheap_pop(struct tn_corr *c)
{
	uint32_t top = c->eheap[0], last = c->eheap[--c->neh], i = 0, k;

	for (;;) {
		k = 2 * i + 1;
		if (k >= c->neh)
			break;
		if (k + 1 < c->neh && bev_cmp(c, c->eheap[k + 1], c->eheap[k]) < 0)
			k++;
		if (bev_cmp(c, c->eheap[k], last) >= 0)
			break;
		c->eheap[i] = c->eheap[k];
		i = k;
	}
	if (c->neh > 0)
		c->eheap[i] = last;
	return top;
}

static void bev_release(struct tn_corr *c, uint32_t x)
{
	c->bev_free[c->nbev_free++] = x;
}

/* Process every event and timer strictly before the watermark, in order. */
static void release(struct tn_corr *c)
{
	for (;;) {
		bool ev = c->neh > 0 && c->bev[c->eheap[0]].t < c->watermark;
		bool tm = c->nth > 0 && c->th[0].t < c->watermark;

		if (ev && (!tm || c->bev[c->eheap[0]].t <= c->th[0].t)) {
			uint32_t x = eheap_pop(c);

			process(c, &c->bev[x], false);
			bev_release(c, x);
		} else if (tm) {
			struct tn__timer t = timer_pop(c);

			fire(c, &t);
		} else {
			break;
		}
	}
	if (c->cfg.emit_interval_ms > 0 && c->have_bucket &&
	    c->watermark >= (c->bucket + 1) * (int64_t)c->cfg.emit_interval_ms * 1000)
		flush(c);
}

static void begin_call(struct tn_corr *c)
{
	if (c->handed) {
		c->nchg = 0;
		c->out.len = 0;
		c->handed = false;
	}
}

static void set_watermark(struct tn_corr *c, int64_t w)
{
	if (w > c->watermark)
		c->watermark = w;
}

int tn_corr_event(struct tn_corr *c, const struct tn_event *e)
{
	uint32_t s, x;
	struct tn__bev *b;
	bool added;
	size_t id_len = 0, asset_len = 0;

	if (c == NULL)
		return TN_EINVAL;
	begin_call(c);
	if (e == NULL || e->id == NULL || e->id[0] == '\0' ||
	    (id_len = strnlen(e->id, TN_WIRE_MAX_ID + 1)) > TN_WIRE_MAX_ID ||
	    e->source == NULL || e->source[0] == '\0' || (unsigned)e->type >= TN_EV__COUNT ||
	    (e->type != TN_EV_HEARTBEAT &&
	     (e->asset == NULL || e->asset[0] == '\0' ||
	      (asset_len = strnlen(e->asset, TN_WIRE_MAX_ASSET + 1)) > TN_WIRE_MAX_ASSET))) {
		c->st.invalid++;
		return TN_EINVAL;
	}
	if (e->asset && e->type == TN_EV_HEARTBEAT)
		asset_len = strnlen(e->asset, TN_WIRE_MAX_ASSET); /* as before: cut, not refused */
	s = tn__cintern_find(&c->sources, e->source);
	if (s == TN__NONE) {
		if (c->sources.n >= c->cfg.max_sources) {
			c->st.sources_full++;
			c->st.invalid++;
			return TN_EFULL;
		}
		if (tn__cintern_add(&c->sources, e->source, &s, &added) != 0 ||
		    tn__cgrow((void **)&c->src, &c->csrc, c->sources.n, sizeof *c->src) != 0)
			return TN_ENOMEM;
		memset(&c->src[s], 0, sizeof c->src[s]);
		c->src[s].last_key = TN__NONE;
		c->src[s].inc = TN__NONE;
		c->src[s].sector = TN_SECTOR_NONE;
		c->src[s].last_us = INT64_MIN;
	}
	if (c->nbev_free == 0) {
		if (tn__cgrow((void **)&c->bev, &c->cbev, c->nbev + 1, sizeof *c->bev) != 0 ||
		    tn__cgrow((void **)&c->bev_free, &c->cbev_free, c->nbev + 1,
			     sizeof *c->bev_free) != 0 ||
		    tn__cgrow((void **)&c->eheap, &c->ceh, c->nbev + 1, sizeof *c->eheap) != 0)
			return TN_ENOMEM;
		c->bev_free[c->nbev_free++] = c->nbev++;
	}
	x = c->bev_free[--c->nbev_free];
	b = &c->bev[x];
	b->t = e->time_us;
	b->src = s;
	b->type = (uint8_t)e->type;
	b->sector = (int8_t)e->sector;
	b->has_geo = e->has_geo;
	b->lat = e->lat;
	b->lon = e->lon;
	memcpy(b->id, e->id, id_len);
	b->id[id_len] = '\0';
	if (asset_len)
		memcpy(b->asset, e->asset, asset_len);
	b->asset[asset_len] = '\0';
	c->st.events++;
	if (b->t < c->watermark) {
		process(c, b, true);
		bev_release(c, x);
		return 0;
	}
	eheap_push(c, x);
	if (c->neh > c->cfg.max_buffered) {
		/* full: the watermark moves to the oldest buffered event */
		c->st.buffer_full++;
		set_watermark(c, c->bev[c->eheap[0]].t + 1);
	}
	if (b->t > c->max_seen)
		c->max_seen = b->t;
	if (c->max_seen != INT64_MIN)
		set_watermark(c, c->max_seen - (int64_t)c->cfg.lateness_s * TN__US);
	release(c);
	return 0;
}

int tn_corr_advance(struct tn_corr *c, int64_t now_us)
{
	begin_call(c);
	set_watermark(c, now_us - (int64_t)c->cfg.lateness_s * TN__US);
	release(c);
	return 0;
}

int tn_corr_finish(struct tn_corr *c, int64_t end_us)
{
	begin_call(c);
	set_watermark(c, end_us == INT64_MAX ? end_us : end_us + 1);
	if (c->max_seen != INT64_MIN)
		set_watermark(c, c->max_seen + 1);
	release(c);
	flush(c);
	return 0;
}

size_t tn_corr_changes(struct tn_corr *c, const struct tn_change **out)
{
	uint32_t k;

	begin_call(c);
	for (k = 0; k < c->nchg; k++) {
		const struct tn__change_off *o = &c->chgo[k];

		c->chg[k].body = c->out.p + o->body;
		c->chg[k].area = c->out.p + o->area;
		c->chg[k].merged_into = o->merged == TN__NONE ? NULL : c->out.p + o->merged;
	}
	c->handed = true;
	*out = c->nchg ? c->chg : NULL;
	return c->nchg;
}

/* ---- lifecycle --------------------------------------------------------------------------------- */

int tn_corr_set_graph(struct tn_corr *c, const struct tn_graph *g)
{
	size_t n = g ? tn_graph_size(g) : 0, i;
	uint32_t *kon = NULL, k;
	struct tn__visit *vis = NULL;
	uint32_t *queue = NULL, *nearbuf = NULL, *desc = NULL, *dstamp = NULL, *dqueue = NULL;

	begin_call(c);
	kon = malloc((n ? n : 1) * sizeof *kon);
	vis = calloc(n ? n : 1, sizeof *vis);
	queue = malloc(((size_t)c->cfg.max_scan + 1) * sizeof *queue);
	nearbuf = malloc(256 * sizeof *nearbuf);
	desc = calloc(n ? n : 1, sizeof *desc);
	dstamp = calloc(n ? n : 1, sizeof *dstamp);
	dqueue = malloc(((size_t)c->cfg.max_scan + 1) * sizeof *dqueue);
	if (kon == NULL || vis == NULL || queue == NULL || nearbuf == NULL || desc == NULL ||
	    dstamp == NULL || dqueue == NULL)
		goto oom;
	for (i = 0; i < n; i++) {
		const struct tn_asset *a = tn_graph_asset(g, (uint32_t)i);

		if (tn__cintern_add(&c->keys, a->id, &kon[i], NULL) != 0)
			goto oom;
	}
	if (ensure_assets(c, c->keys.n) != 0)
		goto oom;
	for (k = 0; k < c->cnum; k++)
		c->num_of_key[k] = TN__NONE;
	for (i = 0; i < n; i++) {
		c->num_of_key[kon[i]] = (uint32_t)i;
		if (c->as[kon[i]].state == TN__UP && !c->as[kon[i]].inferred)
			c->as[kon[i]].sector = (int8_t)tn_graph_asset(g, (uint32_t)i)->sector;
	}
	free(c->key_of_num);
	free(c->vis);
	free(c->queue);
	free(c->nearbuf);
	c->key_of_num = kon;
	c->vis = vis;
	c->queue = queue;
	c->nearbuf = nearbuf;
	c->stamp = 0;
	c->up_stamp = 0;
	c->g = g;
	c->gn = n;
	tn__graph_adjacency(g, &c->prov_off, &c->prov, &c->dep_off, &c->dep);
	c->graph_gen++; /* incidents' sums over the registry are taken again */
	free(c->desc);
	free(c->dstamp);
	free(c->dqueue);
	c->desc = desc;
	c->dstamp = dstamp;
	c->dqueue = dqueue;
	c->dstamp_n = 0;
	c->desc_overflow = 0;
	/* the failed assets' counts, on the new graph */
	for (k = 0; k < c->keys.n; k++)
		c->as[k].desc_on = c->as[k].desc_trunc = 0;
	for (k = 0; k < c->keys.n; k++)
		failed_changed(c, k);
	return 0;
oom:
	free(kon);
	free(vis);
	free(queue);
	free(nearbuf);
	free(desc);
	free(dstamp);
	free(dqueue);
	return TN_ENOMEM;
}

int tn_corr_new(const struct tn_corr_config *cfg, const struct tn_graph *g,
		const char *stream_name, struct tn_corr **out)
{
	struct tn_corr *c;
	int rc;

	if (cfg == NULL || out == NULL || stream_name == NULL)
		return TN_EINVAL;
	c = calloc(1, sizeof *c);
	if (c == NULL)
		return TN_ENOMEM;
	c->cfg = *cfg;
	rc = config_check(&c->cfg);
	if (rc != 0) {
		free(c);
		return rc;
	}
	c->stream = strdup(stream_name);
	c->exercise = strcmp(stream_name, "live") != 0;
	c->watermark = INT64_MIN;
	c->max_seen = INT64_MIN;
	if (c->stream == NULL || (rc = tn_corr_set_graph(c, g)) != 0) {
		tn_corr_free(c);
		return c->stream == NULL ? TN_ENOMEM : rc;
	}
	*out = c;
	return 0;
}

void tn_corr_free(struct tn_corr *c)
{
	uint32_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->ninc; i++) {
		free(c->inc[i].m);
		free(c->inc[i].r);
		free(c->inc[i].s);
		free(c->inc[i].hops);
		free(c->inc[i].atxt.p);
		free(c->inc[i].etxt.p);
		free(c->inc[i].rtxt.p);
		free(c->inc[i].pend);
	}
	free(c->inc);
	free(c->free_inc);
	tn__cintern_free(&c->keys);
	tn__cintern_free(&c->sources);
	free(c->num_of_key);
	free(c->key_of_num);
	free(c->as);
	free(c->src);
	free(c->bev);
	free(c->bev_free);
	free(c->eheap);
	free(c->th);
	free(c->vis);
	free(c->queue);
	free(c->nearbuf);
	free(c->tmp);
	free(c->lst);
	free(c->lstbits);
	free(c->desc);
	free(c->dstamp);
	free(c->dqueue);
	free(c->dirty);
	free(c->chg);
	free(c->chgo);
	free(c->out.p);
	free(c->stream);
	free(c);
}

void tn_corr_stats(const struct tn_corr *c, struct tn_corr_stats *out)
{
	*out = c->st;
	out->watermark_us = c->watermark;
	out->buffered = c->neh;
	out->open_incidents = c->open;
}

const char *tn_change_msg_name(enum tn_change_msg m)
{
	static const char *const names[] = {"alert", "update", "resolved", "merged"};

	return (unsigned)m < 4 ? names[m] : NULL;
}

const char *tn_cause_name(enum tn_cause cause)
{
	static const char *const names[] = {"observed", "inferred", "co-located", "visibility"};

	return (unsigned)cause < 4 ? names[cause] : NULL;
}
