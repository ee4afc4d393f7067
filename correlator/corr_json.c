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

#include <stdio.h>
#include <string.h>

static const struct tn_asset *reg(const struct tn_corr *c, uint32_t key)
{
	uint32_t num = tn__num(c, key);

	return num == TN__NONE ? NULL : tn_graph_asset(c->g, num);
}

static bool life_sector(int s)
{
	return s == TN_SECTOR_HEALTH || s == TN_SECTOR_EMERGENCY_SERVICES;
}

static void sector_json(struct tn__cbuf *b, int s)
{
	const char *name = s >= 0 ? tn_sector_name((enum tn_sector)s) : NULL;

	if (name)
		tn__cbuf_json(b, name);
	else
		tn__cbuf_str(b, "null");
}

static uint32_t sector_mask(const struct tn__incident *in)
{
	uint32_t mask = 0, j;

	if (in->cause != TN_CAUSE_VISIBILITY && in->root_sector >= 0)
		mask |= 1u << in->root_sector;
	for (j = 0; j < in->nm; j++)
		if (in->m[j].sector >= 0)
			mask |= 1u << in->m[j].sector;
	return mask;
}

int tn__corr_priority(const struct tn_corr *c, const struct tn__incident *in)
{
	const struct tn_corr_config *cfg = &c->cfg;
	uint32_t mask = sector_mask(in), j, nsec = 0;
	int64_t pop = 0;
	int crit = 6, score = 0;
	bool life = false, imminent = false;

	if (in->cause == TN_CAUSE_VISIBILITY)
		return in->root_sector >= 0 && c->down_by_sector[in->root_sector] > 0 ? 3 : 4;
	for (j = 0; j < in->nm; j++) {
		const struct tn__member *m = &in->m[j];
		const struct tn_asset *a;

		if (life_sector(m->sector))
			life = true;
		if (m->rule == TN__RULE_SAME_ASSET || (a = reg(c, m->key)) == NULL)
			continue;
		pop += a->population;
		if (a->criticality < crit)
			crit = a->criticality;
	}
	if (in->root_inferred) {
		const struct tn_asset *a = reg(c, in->root_key);

		if (a) {
			pop += a->population;
			if (a->criticality < crit)
				crit = a->criticality;
			if (life_sector(a->sector))
				life = true;
		}
	}
	for (j = 0; j < in->nr; j++) {
		const struct tn__risk *r = &in->r[j];

		if (r->outcome != TN__RISK_PENDING)
			continue;
		if (life_sector(r->sector))
			life = true;
		if (r->eta_latest >= in->updated &&
		    r->eta - in->updated <= (int64_t)cfg->imminent_s * TN__US)
			imminent = true;
	}
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
	if (imminent)
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

static void title(struct tn_corr *c, struct tn__cbuf *b, const struct tn__incident *in,
		  const char *status_word)
{
	const struct tn_asset *a = in->cause == TN_CAUSE_VISIBILITY ? NULL : reg(c, in->root_key);
	const char *sector = in->root_sector >= 0 ? tn_sector_name(in->root_sector) : NULL;
	uint32_t mask = sector_mask(in), nsec = 0, naff = 0, j;
	char tmp[512];

	for (; mask; mask &= mask - 1)
		nsec++;
	for (j = 0; j < in->nm; j++)
		naff += in->m[j].rule != TN__RULE_SAME_ASSET;
	if (in->cause == TN_CAUSE_VISIBILITY) {
		snprintf(tmp, sizeof tmp, "loss of visibility: %s (%s) silent",
			 root_name(c, in), sector ? sector : "unknown sector");
	} else if (in->status == TN__INC_WITHDRAWN) {
		snprintf(tmp, sizeof tmp, "withdrawn: inferred failure of %s contradicted by a report",
			 root_name(c, in));
	} else {
		snprintf(tmp, sizeof tmp, "%s%s %s %s%s: %u affected in %u sector%s",
			 in->root_inferred ? "suspected " : "", sector ? sector : "unknown",
			 a && a->kind && a->kind[0] ? a->kind : "asset", root_name(c, in),
			 in->root_inferred ? " failure (unreported)"
			 : in->cause == TN_CAUSE_COLOCATED ? " and co-located failures"
							   : " failure",
			 naff, nsec, nsec == 1 ? "" : "s");
	}
	(void)status_word;
	tn__cbuf_json(b, tmp);
}

static const char *const state_names[] = {"up", "degraded", "down"};
static const char *const outcome_names[] = {"pending", "borne_out", "not_borne_out"};
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
	tn__cbuf_str(b, "[");
	for (k = n; k-- > 0;) {
		const struct tn__member *m = &in->m[c->tmp[k]];

		for (h = (k == n - 1) ? 0 : 1; h < m->hop_len; h++) {
			if (!first)
				tn__cbuf_str(b, ",");
			first = 0;
			tn__cbuf_json(b, c->keys.str[in->hops[m->hop + h]]);
		}
	}
	tn__cbuf_str(b, "]");
}

int tn__corr_emit(struct tn_corr *c, uint32_t slot, enum tn_change_msg msg)
{
	struct tn__incident *in = &c->inc[slot];
	struct tn__cbuf *b = &c->out;
	struct tn_change *ch;
	struct tn__change_off *o;
	uint32_t j, mask, start = b->len;
	int prio, s;

	if (tn__cgrow((void **)&c->chg, &c->cchg, c->nchg + 1, sizeof *c->chg) != 0 ||
	    tn__cgrow((void **)&c->chgo, &c->cchgo, c->nchg + 1, sizeof *c->chgo) != 0)
		return TN_ENOMEM;
	in->rev++;
	prio = tn__corr_priority(c, in);
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
	tn__cbuf_str(b, "\"incident\":");
	tn__cbuf_json(b, in->id);
	tn__cbuf_fmt(b, ",\"rev\":%u,\"msg\":\"%s\",\"status\":\"%s\",\"priority\":%d,\"title\":",
		    in->rev, tn_change_msg_name(msg), c->exercise ? "exercise" : "actual", prio);
	title(c, b, in, NULL);
	tn__cbuf_fmt(b, ",\"cause\":\"%s\",\"confidence\":%.3f,\"root\":{\"asset\":",
		    tn_cause_name(ch->cause), in->confidence);
	tn__cbuf_json(b, root_name(c, in));
	tn__cbuf_str(b, ",\"sector\":");
	sector_json(b, in->root_sector);
	tn__cbuf_str(b, ",\"time\":");
	tn__cbuf_time(b, in->root_t);
	tn__cbuf_str(b, "},\"sectors\":[");
	mask = sector_mask(in);
	for (s = 0, j = 0; s < TN_SECTOR__COUNT; s++) {
		if (!(mask & (1u << s)))
			continue;
		if (j++)
			tn__cbuf_str(b, ",");
		tn__cbuf_json(b, tn_sector_name((enum tn_sector)s));
	}
	tn__cbuf_str(b, "],\"affected\":[");
	for (j = 0; j < in->nm; j++) {
		const struct tn__member *m = &in->m[j];

		tn__cbuf_str(b, j ? ",{\"asset\":" : "{\"asset\":");
		tn__cbuf_json(b, c->keys.str[m->key]);
		tn__cbuf_str(b, ",\"sector\":");
		sector_json(b, m->sector);
		tn__cbuf_fmt(b, ",\"state\":\"%s\",\"time\":", state_names[m->state]);
		tn__cbuf_time(b, m->t);
		tn__cbuf_str(b, ",\"event\":{\"source\":");
		tn__cbuf_json(b, in->s + m->src);
		tn__cbuf_str(b, ",\"id\":");
		tn__cbuf_json(b, in->s + m->id);
		tn__cbuf_str(b, m->late ? "},\"late\":true}" : "},\"late\":false}");
	}
	tn__cbuf_str(b, "],\"at_risk\":[");
	for (j = 0; j < in->nr; j++) {
		const struct tn__risk *r = &in->r[j];

		tn__cbuf_str(b, j ? ",{\"asset\":" : "{\"asset\":");
		tn__cbuf_json(b, c->keys.str[r->key]);
		tn__cbuf_str(b, ",\"sector\":");
		sector_json(b, r->sector);
		tn__cbuf_str(b, ",\"eta\":");
		tn__cbuf_time(b, r->eta);
		tn__cbuf_str(b, ",\"eta_latest\":");
		tn__cbuf_time(b, r->eta_latest);
		tn__cbuf_str(b, ",\"via\":");
		tn__cbuf_json(b, c->keys.str[r->via]);
		tn__cbuf_fmt(b, ",\"outcome\":\"%s\"}", outcome_names[r->outcome]);
	}
	tn__cbuf_str(b, "],\"area\":");
	tn__cbuf_json(b, area_of(c, in));
	tn__cbuf_str(b, ",\"opened\":");
	tn__cbuf_time(b, in->opened);
	tn__cbuf_str(b, ",\"updated\":");
	tn__cbuf_time(b, in->updated);
	tn__cbuf_str(b, ",\"explain\":[");
	for (j = 0; j < in->nm; j++) {
		const struct tn__member *m = &in->m[j];

		tn__cbuf_str(b, j ? ",{\"asset\":" : "{\"asset\":");
		tn__cbuf_json(b, c->keys.str[m->key]);
		tn__cbuf_str(b, ",\"path\":");
		path_json(c, in, j, b);
		tn__cbuf_str(b, ",\"window\":[");
		tn__cbuf_time(b, m->lo);
		tn__cbuf_str(b, ",");
		tn__cbuf_time(b, m->hi);
		tn__cbuf_fmt(b, "],\"rule\":\"%s\"}", rule_names[m->rule]);
	}
	tn__cbuf_str(b, "]");
	if (msg == TN_MSG_MERGED) {
		tn__cbuf_str(b, ",\"merged_into\":");
		tn__cbuf_json(b, in->merged_into);
	}
	tn__cbuf_str(b, "}");
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
