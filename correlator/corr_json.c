/*
 * corr_json.c - an incident revision as one canonical JSON object, and the
 * priority function (design §3.2, §4.8; docs/correlation.md).
 *
 * Canonical: fixed key order, no white space, times as RFC 3339 UTC with
 * milliseconds, confidence "%.3f", arrays in a deterministic order (members
 * and at-risk entries in the order they joined; sectors in the order of
 * enum tn_sector). The same state always gives the same bytes.
 */
#include "corr_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct tn_asset *reg(const struct tn_corr *c, uint32_t key)
{
	uint32_t num = tn__num(c, key);

	return num == TN__NONE ? NULL : tn_graph_asset(c->g, num);
}

static void sector_json(struct tn__cbuf *b, int s)
{
	const char *name = s >= 0 ? tn_sector_name((enum tn_sector)s) : NULL;

	if (name)
		tn__cbuf_json(b, name);
	else
		TN__CBUF_LIT(b, "null");
}

/*
 * agg_update - bring the incident's sums over its members (tn__incident
 * n_agg ...) up to its members, taken afresh after a new graph or when it
 * lost its members. Why: the priority is asked at every revision and at
 * every settled forecast, and summing a hundred members each time (a look-up
 * in the registry each) was a tenth of the engine's time.
 */
static void agg_update(const struct tn_corr *c, struct tn__incident *in)
{
	uint32_t j;

	if (in->agg_gen != c->graph_gen || in->n_agg > in->nm) {
		in->agg_gen = c->graph_gen;
		in->n_agg = 0;
	}
	if (in->n_agg == 0) {
		in->agg_naff = in->agg_mask = 0;
		in->agg_pop = 0;
		in->agg_crit = 6;
		in->agg_life = 0;
	}
	for (j = in->n_agg; j < in->nm; j++) {
		const struct tn__member *m = &in->m[j];
		const struct tn_asset *a;

		if (m->sector >= 0)
			in->agg_mask |= 1u << m->sector;
		if (tn__life_sector(m->sector))
			in->agg_life = 1;
		if (m->rule == TN__RULE_SAME_ASSET)
			continue;
		in->agg_naff++;
		if ((a = reg(c, m->key)) == NULL)
			continue;
		in->agg_pop += a->population;
		if (a->criticality < in->agg_crit)
			in->agg_crit = a->criticality;
	}
	in->n_agg = in->nm;
}

/* The sectors of the root and the members, after agg_update. */
static uint32_t sector_mask(const struct tn__incident *in)
{
	uint32_t mask = in->agg_mask;

	if (in->cause != TN_CAUSE_VISIBILITY && in->root_sector >= 0)
		mask |= 1u << in->root_sector;
	return mask;
}

/* A pending at-risk entry due within imminent_s of the incident's last
 * change (and not already past): the pending entries by eta, from the first. */
static bool imminent(const struct tn_corr *c, const struct tn__incident *in)
{
	int64_t horizon = (int64_t)c->cfg.imminent_s * TN__US;
	uint32_t j;

	for (j = 0; j < in->npend; j++) {
		const struct tn__risk *r = &in->r[in->pend[j]];

		if (r->eta - in->updated > horizon)
			return false;
		if (r->eta_latest >= in->updated)
			return true;
	}
	return false;
}

int tn__corr_priority(const struct tn_corr *c, struct tn__incident *in)
{
	const struct tn_corr_config *cfg = &c->cfg;
	uint32_t mask, nsec = 0;
	int64_t pop;
	int crit, score = 0;
	bool life;

	if (in->cause == TN_CAUSE_VISIBILITY)
		return in->root_sector >= 0 && c->down_by_sector[in->root_sector] > 0 ? 3 : 4;
	agg_update(c, in);
	mask = sector_mask(in);
	pop = in->agg_pop;
	crit = in->agg_crit;
	life = in->agg_life;
	if (in->root_inferred) {
		const struct tn_asset *a = reg(c, in->root_key);

		if (a) {
			pop += a->population;
			if (a->criticality < crit)
				crit = a->criticality;
			if (tn__life_sector(a->sector))
				life = true;
		}
	}
	/* The at-risk list can hold a thousand entries and the priority is
	 * asked at every settled forecast: life from a count. */
	if (in->n_pending_life > 0)
		life = true;
	for (; mask; mask &= mask - 1)
		nsec++;
	if (life)
		score += cfg->w_life;
	if (pop >= cfg->pop_high)
		score += cfg->w_pop_high;
	else if (pop >= cfg->pop_mid)
		score += cfg->w_pop_mid;
	if (nsec >= 3)
		score += cfg->w_sectors3;
	else if (nsec >= 2)
		score += cfg->w_sectors2;
	if (crit == 1)
		score += cfg->w_crit1;
	else if (crit == 2)
		score += cfg->w_crit2;
	if (imminent(c, in))
		score += cfg->w_imminent;
	score = 5 - score;
	return score < 1 ? 1 : score > 5 ? 5 : score;
}

static const char *area_of(const struct tn_corr *c, const struct tn__incident *in)
{
	const struct tn_asset *a;
	uint32_t key = in->root_key;

	if (in->cause == TN_CAUSE_VISIBILITY)
		key = c->src[in->root_key].last_key;
	if (key == TN__NONE || (a = reg(c, key)) == NULL || a->area == NULL)
		return "";
	return a->area;
}

static const char *root_name(const struct tn_corr *c, const struct tn__incident *in)
{
	return in->cause == TN_CAUSE_VISIBILITY ? c->sources.str[in->root_key]
						: c->keys.str[in->root_key];
}

/* Text of at most sizeof p - 1 bytes, cut there as snprintf would. */
struct tline {
	char p[512];
	size_t n;
};

static void tcat(struct tline *t, const char *s)
{
	size_t n = strlen(s);

	if (n > sizeof t->p - 1 - t->n)
		n = sizeof t->p - 1 - t->n;
	memcpy(t->p + t->n, s, n);
	t->n += n;
	t->p[t->n] = '\0';
}

static void tnum(struct tline *t, uint32_t v)
{
	char tmp[12];
	size_t n = sizeof tmp - 1;

	tmp[n] = '\0';
	do {
		tmp[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	tcat(t, tmp + n);
}

/* The title, after agg_update (written by hand: snprintf was most of it). */
static void title(struct tn_corr *c, struct tn__cbuf *b, const struct tn__incident *in)
{
	const struct tn_asset *a = in->cause == TN_CAUSE_VISIBILITY ? NULL : reg(c, in->root_key);
	const char *sector = in->root_sector >= 0 ? tn_sector_name(in->root_sector) : NULL;
	uint32_t mask = sector_mask(in), nsec = 0;
	struct tline t = {.n = 0};

	t.p[0] = '\0';
	for (; mask; mask &= mask - 1)
		nsec++;
	if (in->cause == TN_CAUSE_VISIBILITY) {
		tcat(&t, "loss of visibility: ");
		tcat(&t, root_name(c, in));
		tcat(&t, " (");
		tcat(&t, sector ? sector : "unknown sector");
		tcat(&t, ") silent");
	} else if (in->status == TN__INC_WITHDRAWN) {
		tcat(&t, "withdrawn: inferred failure of ");
		tcat(&t, root_name(c, in));
		tcat(&t, " contradicted by a report");
	} else {
		tcat(&t, in->root_inferred ? "suspected " : "");
		tcat(&t, sector ? sector : "unknown");
		tcat(&t, " ");
		tcat(&t, a && a->kind && a->kind[0] ? a->kind : "asset");
		tcat(&t, " ");
		tcat(&t, root_name(c, in));
		tcat(&t, in->root_inferred ? " failure (unreported)"
			 : in->cause == TN_CAUSE_COLOCATED ? " and co-located failures"
							   : " failure");
		tcat(&t, ": ");
		tnum(&t, in->agg_naff);
		tcat(&t, " affected in ");
		tnum(&t, nsec);
		tcat(&t, nsec == 1 ? " sector" : " sectors");
	}
	tn__cbuf_json(b, t.p);
}

struct word {
	const char *s;
	uint8_t n;
};

#define WORD(lit) {lit, sizeof(lit) - 1}
static const struct word state_words[] = {WORD("up"), WORD("degraded"), WORD("down")};
static const struct word outcome_words[] = {WORD("pending"), WORD("borne_out"),
					    WORD("not_borne_out")};
#undef WORD
static const char *const rule_names[] = {"root",     "cascade",    "re-root",     "inferred",
					 "co-located", "same-asset", "unregistered"};

/* The asset keys from the incident's root to member j, written into b. */
static void path_json(struct tn_corr *c, const struct tn__incident *in, uint32_t j,
		      struct tn__cbuf *b)
{
	uint32_t n = 0, k, h, first = 1;

	if (tn__cgrow((void **)&c->tmp, &c->ctmp, (size_t)in->nm + 1, sizeof *c->tmp) != 0) {
		b->oom = true;
		return;
	}
	while (j != TN__NONE && n <= in->nm) {
		c->tmp[n++] = j;
		j = in->m[j].parent;
	}
	TN__CBUF_LIT(b, "[");
	for (k = n; k-- > 0;) {
		const struct tn__member *m = &in->m[c->tmp[k]];

		for (h = (k == n - 1) ? 0 : 1; h < m->hop_len; h++) {
			if (!first)
				TN__CBUF_LIT(b, ",");
			first = 0;
			tn__cbuf_json(b, c->keys.str[in->hops[m->hop + h]]);
		}
	}
	TN__CBUF_LIT(b, "]");
}

/*
 * text_update - format the members that joined the incident since its text
 * was last brought up to date: their "affected" entries (without the state)
 * into atxt and their "explain" entries into etxt. Returns 0 or TN_ENOMEM
 * (the cache is then emptied, to be formatted again next time).
 */
static int text_update(struct tn_corr *c, struct tn__incident *in)
{
	struct tn__cbuf *a = &in->atxt, *e = &in->etxt;
	uint32_t j;

	for (j = in->n_atxt; j < in->nm; j++) {
		struct tn__member *m = &in->m[j];

		tn__cbuf_str(a, j ? ",{\"asset\":" : "{\"asset\":");
		tn__cbuf_json(a, c->keys.str[m->key]);
		TN__CBUF_LIT(a, ",\"sector\":");
		sector_json(a, m->sector);
		TN__CBUF_LIT(a, ",\"state\":\"");
		m->aff_state = a->len;
		TN__CBUF_LIT(a, "\",\"time\":");
		tn__cbuf_time(a, m->t);
		TN__CBUF_LIT(a, ",\"event\":{\"source\":");
		tn__cbuf_json(a, in->s + m->src);
		TN__CBUF_LIT(a, ",\"id\":");
		tn__cbuf_json(a, in->s + m->id);
		tn__cbuf_str(a, m->late ? "},\"late\":true}" : "},\"late\":false}");
	}
	for (j = in->n_etxt; j < in->nm; j++) {
		const struct tn__member *m = &in->m[j];

		tn__cbuf_str(e, j ? ",{\"asset\":" : "{\"asset\":");
		tn__cbuf_json(e, c->keys.str[m->key]);
		TN__CBUF_LIT(e, ",\"path\":");
		path_json(c, in, j, e);
		TN__CBUF_LIT(e, ",\"window\":[");
		tn__cbuf_time(e, m->lo);
		TN__CBUF_LIT(e, ",");
		tn__cbuf_time(e, m->hi);
		TN__CBUF_LIT(e, "],\"rule\":\"");
		tn__cbuf_str(e, rule_names[m->rule]);
		TN__CBUF_LIT(e, "\"}");
	}
	if (a->oom || e->oom) {
		a->oom = e->oom = false;
		a->len = e->len = 0;
		in->n_atxt = in->n_etxt = 0;
		return TN_ENOMEM;
	}
	in->n_atxt = in->n_etxt = in->nm;
	return 0;
}

/* risk_text - the at-risk entry r's text up to its outcome, formatted into
 * the incident's rtxt the first time it is listed. Returns 0 or TN_ENOMEM. */
static int risk_text(struct tn_corr *c, struct tn__incident *in, struct tn__risk *r)
{
	struct tn__cbuf *t = &in->rtxt;
	uint32_t start = t->len;

	if (r->txt != TN__NONE)
		return 0;
	TN__CBUF_LIT(t, "{\"asset\":");
	tn__cbuf_json(t, c->keys.str[r->key]);
	TN__CBUF_LIT(t, ",\"sector\":");
	sector_json(t, r->sector);
	TN__CBUF_LIT(t, ",\"eta\":");
	tn__cbuf_time(t, r->eta);
	TN__CBUF_LIT(t, ",\"eta_latest\":");
	tn__cbuf_time(t, r->eta_latest);
	TN__CBUF_LIT(t, ",\"via\":");
	tn__cbuf_json(t, c->keys.str[r->via]);
	TN__CBUF_LIT(t, ",\"outcome\":\"");
	if (t->oom) {
		t->oom = false;
		t->len = start;
		return TN_ENOMEM;
	}
	r->txt = start;
	r->txt_len = t->len - start;
	return 0;
}

/*
 * Which at-risk entries a revision lists: all when they fit in
 * at_risk_listed, else the pending ones due first and then the latest
 * settled, so that a control room sees what is coming next. Why a cap: a
 * grid supply point has thousands of assets downstream, and each revision
 * listing all of them would be hundreds of kilobytes to every console (and
 * most of the engine's time). Sets *idx to the listed entries' indexes in
 * increasing order and *n to how many, or *idx to NULL for all (*n = nr).
 * The pending ones come from in->pend, already in order of eta, so this
 * costs at_risk_listed, not the length of the list. Returns 0 or TN_ENOMEM.
 */
static int risk_listed(struct tn_corr *c, const struct tn__incident *in, const uint32_t **idx,
		       uint32_t *n)
{
	uint32_t k = (uint32_t)c->cfg.at_risk_listed, m, j, words;

	*idx = NULL;
	*n = in->nr;
	if (in->nr <= k)
		return 0;
	if (tn__cgrow((void **)&c->lst, &c->clst, k, sizeof *c->lst) != 0)
		return TN_ENOMEM;
	/* into a bit set over the list, read back in increasing order: a
	 * sort of the pending ones (in order of eta) cost more than all else */
	words = (in->nr + 63) / 64;
	if (tn__cgrow((void **)&c->lstbits, &c->clstbits, words, sizeof *c->lstbits) != 0)
		return TN_ENOMEM;
	memset(c->lstbits, 0, words * sizeof *c->lstbits);
	m = in->npend < k ? in->npend : k;
	for (j = 0; j < m; j++)
		c->lstbits[in->pend[j] / 64] |= 1ull << (in->pend[j] % 64);
	for (j = in->nr; j-- > 0 && m < k;)
		if (in->r[j].outcome != TN__RISK_PENDING) {
			c->lstbits[j / 64] |= 1ull << (j % 64);
			m++;
		}
	for (j = 0, m = 0; j < words; j++)
		for (uint64_t w = c->lstbits[j]; w; w &= w - 1)
			c->lst[m++] = j * 64 + (uint32_t)__builtin_ctzll(w);
	*idx = c->lst;
	*n = m;
	return 0;
}

/* confidence as "%.3f" (snprintf only for what is neither 0 nor 1) */
static void confidence_json(struct tn__cbuf *b, double x)
{
	if (x == 1.0)
		TN__CBUF_LIT(b, "1.000");
	else if (x == 0.0 && !signbit(x))
		TN__CBUF_LIT(b, "0.000");
	else
		tn__cbuf_fmt(b, "%.3f", x);
}

int tn__corr_emit(struct tn_corr *c, uint32_t slot, enum tn_change_msg msg)
{
	struct tn__incident *in = &c->inc[slot];
	struct tn__cbuf *b = &c->out;
	struct tn_change *ch;
	struct tn__change_off *o;
	uint32_t j, k, n, mask, start = b->len;
	const uint32_t *listed;
	int prio, s;

	if (tn__cgrow((void **)&c->chg, &c->cchg, c->nchg + 1, sizeof *c->chg) != 0 ||
	    tn__cgrow((void **)&c->chgo, &c->cchgo, c->nchg + 1, sizeof *c->chgo) != 0)
		return TN_ENOMEM;
	if (c->text_uncached) {
		tn__inc_text_reset(in);
		for (j = 0; j < in->nr; j++)
			in->r[j].txt = TN__NONE;
	}
	in->rev++;
	agg_update(c, in); /* the title and the sectors read it too */
	prio = tn__corr_priority(c, in);
	in->prio = (uint8_t)prio;
	in->quiet = 0;
	ch = &c->chg[c->nchg];
	o = &c->chgo[c->nchg];
	memset(ch, 0, sizeof *ch);
	memcpy(ch->incident, in->id, sizeof ch->incident);
	ch->rev = in->rev;
	ch->msg = msg;
	ch->cause = in->has_colo && in->cause == TN_CAUSE_OBSERVED ? TN_CAUSE_COLOCATED
								   : (enum tn_cause)in->cause;
	ch->priority = prio;
	ch->exercise = c->exercise;
	ch->updated_us = in->updated;

	o->body = b->len;
	TN__CBUF_LIT(b, "\"incident\":");
	tn__cbuf_json(b, in->id);
	TN__CBUF_LIT(b, ",\"rev\":");
	tn__cbuf_u64(b, in->rev);
	TN__CBUF_LIT(b, ",\"msg\":\"");
	tn__cbuf_str(b, tn_change_msg_name(msg));
	if (c->exercise)
		TN__CBUF_LIT(b, "\",\"status\":\"exercise\",\"priority\":");
	else
		TN__CBUF_LIT(b, "\",\"status\":\"actual\",\"priority\":");
	tn__cbuf_u64(b, (uint64_t)prio);
	TN__CBUF_LIT(b, ",\"title\":");
	title(c, b, in);
	TN__CBUF_LIT(b, ",\"cause\":\"");
	tn__cbuf_str(b, tn_cause_name(ch->cause));
	TN__CBUF_LIT(b, "\",\"confidence\":");
	confidence_json(b, in->confidence);
	TN__CBUF_LIT(b, ",\"root\":{\"asset\":");
	tn__cbuf_json(b, root_name(c, in));
	TN__CBUF_LIT(b, ",\"sector\":");
	sector_json(b, in->root_sector);
	TN__CBUF_LIT(b, ",\"time\":");
	tn__cbuf_time(b, in->root_t);
	TN__CBUF_LIT(b, "},\"sectors\":[");
	mask = sector_mask(in);
	for (s = 0, j = 0; s < TN_SECTOR__COUNT; s++) {
		if (!(mask & (1u << s)))
			continue;
		if (j++)
			TN__CBUF_LIT(b, ",");
		tn__cbuf_json(b, tn_sector_name((enum tn_sector)s));
	}
	TN__CBUF_LIT(b, "],\"affected\":[");
	if (text_update(c, in) != 0)
		b->oom = true;
	for (j = 0, k = 0; j < in->nm && !b->oom; j++) {
		/* the cached text from the previous state on, this member's state */
		const struct word *w = &state_words[in->m[j].state];

		tn__cbuf_put(b, in->atxt.p + k, in->m[j].aff_state - k);
		tn__cbuf_put(b, w->s, w->n);
		k = in->m[j].aff_state;
	}
	if (in->nm)
		tn__cbuf_put(b, in->atxt.p + k, in->atxt.len - k);
	TN__CBUF_LIT(b, "],\"at_risk\":[");
	if (risk_listed(c, in, &listed, &n) != 0)
		b->oom = true;
	for (j = 0; j < n && !b->oom; j++) {
		struct tn__risk *r = &in->r[listed ? listed[j] : j];
		const struct word *w = &outcome_words[r->outcome];

		if (risk_text(c, in, r) != 0) {
			b->oom = true;
			break;
		}
		if (j)
			TN__CBUF_LIT(b, ",");
		tn__cbuf_put(b, in->rtxt.p + r->txt, r->txt_len);
		tn__cbuf_put(b, w->s, w->n);
		TN__CBUF_LIT(b, "\"}");
	}
	TN__CBUF_LIT(b, "],\"at_risk_count\":{\"pending\":");
	tn__cbuf_u64(b, in->npend);
	TN__CBUF_LIT(b, ",\"borne_out\":");
	tn__cbuf_u64(b, in->n_borne);
	TN__CBUF_LIT(b, ",\"not_borne_out\":");
	tn__cbuf_u64(b, in->n_not);
	TN__CBUF_LIT(b, "},\"area\":");
	tn__cbuf_json(b, area_of(c, in));
	TN__CBUF_LIT(b, ",\"opened\":");
	tn__cbuf_time(b, in->opened);
	TN__CBUF_LIT(b, ",\"updated\":");
	tn__cbuf_time(b, in->updated);
	TN__CBUF_LIT(b, ",\"explain\":[");
	if (in->etxt.len)
		tn__cbuf_put(b, in->etxt.p, in->etxt.len);
	TN__CBUF_LIT(b, "]");
	if (msg == TN_MSG_MERGED) {
		TN__CBUF_LIT(b, ",\"merged_into\":");
		tn__cbuf_json(b, in->merged_into);
	}
	TN__CBUF_LIT(b, "}");
	ch->body_len = b->len - o->body;
	tn__cbuf_put(b, "", 1); /* NUL after the body */
	o->area = b->len;
	tn__cbuf_put(b, area_of(c, in), strlen(area_of(c, in)) + 1);
	o->merged = TN__NONE;
	if (msg == TN_MSG_MERGED) {
		o->merged = b->len;
		tn__cbuf_put(b, in->merged_into, strlen(in->merged_into) + 1);
	}
	if (b->oom) {
		b->oom = false;
		b->len = start;
		in->rev--;
		return TN_ENOMEM;
	}
	c->nchg++;
	c->st.changes++;
	return 0;
}

void tn__corr_text_cache(struct tn_corr *c, bool on)
{
	c->text_uncached = !on;
}

int tn_change_json(const struct tn_change *ch, uint64_t seq, char *buf, size_t cap, size_t *len)
{
	char head[40];
	int n = snprintf(head, sizeof head, "{\"seq\":%llu,", (unsigned long long)seq);
	size_t need = (size_t)n + ch->body_len;

	*len = need;
	if (need + 1 > cap)
		return TN_ERANGE;
	memcpy(buf, head, (size_t)n);
	memcpy(buf + n, ch->body, ch->body_len);
	buf[need] = '\0';
	return 0;
}
