/*
 * test_corr_util.h - helpers shared by the correlator suites: small graphs
 * built through the tn_graph_* builder, events fed by one call, and the
 * emitted revisions parsed back (jansson) so that tests assert on fields.
 * Header-only (static functions) because each suite is one program.
 */
#ifndef TEST_CORR_UTIL_H
#define TEST_CORR_UTIL_H

#include "tocsin/correlator.h"
#include "tocsin/graph.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1795700000000000LL /* 2026-11-26T..., microseconds */
#define S(x) ((int64_t)(x) * 1000000LL)

struct gb {
	struct tn_graph_builder *b;
};

static inline void gb_new(struct gb *g)
{
	ck_assert_int_eq(tn_graph_builder_new(0, 0, &g->b), 0);
}

/* asset: id, sector, lat, lon, criticality, population, backup_s */
static inline void gb_asset(struct gb *g, const char *id, enum tn_sector sector, double lat,
			    double lon, int crit, int64_t pop)
{
	struct tn_asset a = {id, sector, "kind", id, lat, lon, "AREA1", crit, pop, 0, TN_SENS_PUBLIC};
	char msg[128];

	ck_assert_msg(tn_graph_add_asset(g->b, &a, msg, sizeof msg) == 0, "%s", msg);
}

static inline void gb_dep(struct gb *g, const char *dependent, const char *provider, int dmin,
			  int dmax)
{
	struct tn_dependency d = {dependent, provider, TN_DEP_POWER, dmin, dmax};
	char msg[128];

	ck_assert_msg(tn_graph_add_dependency(g->b, &d, msg, sizeof msg) == 0, "%s", msg);
}

static inline struct tn_graph *gb_build(struct gb *g)
{
	struct tn_graph *out;

	ck_assert_int_eq(tn_graph_build(g->b, &out), 0);
	return out;
}

struct run {
	struct tn_corr *c;
	json_t *all;  /* array of every revision, in order */
	json_t *revs; /* incident -> last rev seen: revisions must go 1, 2, 3, ... */
	char *text;   /* every revision's JSON, one a line */
	size_t tlen;
	uint64_t seq;
};

static inline void run_drain(struct run *r)
{
	const struct tn_change *ch;
	size_t n = tn_corr_changes(r->c, &ch), i;

	for (i = 0; i < n; i++) {
		size_t len;
		char *buf = malloc(ch[i].body_len + 64);
		json_error_t err;
		json_t *j;

		ck_assert_int_eq(tn_change_json(&ch[i], ++r->seq, buf, ch[i].body_len + 64, &len), 0);
		j = json_loads(buf, 0, &err);
		ck_assert_msg(j != NULL, "bad json: %s: %s", err.text, buf);
		ck_assert_str_eq(json_string_value(json_object_get(j, "incident")), ch[i].incident);
		ck_assert_int_eq(json_integer_value(json_object_get(j, "rev")), ch[i].rev);
		ck_assert_int_eq(json_integer_value(json_object_get(j, "priority")), ch[i].priority);
		/* Every incident's revisions are 1, 2, 3, ...: an (incident, rev)
		 * pair is never emitted twice (the store keeps it unique). */
		json_t *last = json_object_get(r->revs, ch[i].incident);
		ck_assert_msg((last ? json_integer_value(last) : 0) + 1 == ch[i].rev,
			      "%s: rev %u after rev %lld", ch[i].incident, ch[i].rev,
			      last ? (long long)json_integer_value(last) : 0LL);
		json_object_set_new(r->revs, ch[i].incident, json_integer(ch[i].rev));
		json_array_append_new(r->all, j);
		r->text = realloc(r->text, r->tlen + len + 2);
		memcpy(r->text + r->tlen, buf, len);
		r->tlen += len;
		r->text[r->tlen++] = '\n';
		r->text[r->tlen] = '\0';
		free(buf);
	}
}

static inline void run_init_cfg(struct run *r, const struct tn_corr_config *cfg,
				const struct tn_graph *g)
{
	memset(r, 0, sizeof *r);
	ck_assert_int_eq(tn_corr_new(cfg, g, "live", &r->c), 0);
	r->all = json_array();
	r->revs = json_object();
	r->text = calloc(1, 1);
}

/* Defaults, but one revision per processed item (emit_interval_ms 0). */
static inline void test_cfg(struct tn_corr_config *cfg)
{
	tn_corr_config_defaults(cfg);
	cfg->emit_interval_ms = 0;
}

static inline void run_init(struct run *r, const struct tn_graph *g)
{
	struct tn_corr_config cfg;

	test_cfg(&cfg);
	run_init_cfg(r, &cfg, g);
}

static inline void run_free(struct run *r)
{
	tn_corr_free(r->c);
	json_decref(r->all);
	json_decref(r->revs);
	free(r->text);
}

static inline int feed_ev(struct run *r, const char *src, const char *id, enum tn_event_type type,
			  int64_t t_us, enum tn_sector sector, const char *asset, const double *geo)
{
	struct tn_event ev;
	int rc;

	memset(&ev, 0, sizeof ev);
	ev.id = id;
	ev.source = src;
	ev.type = type;
	ev.time_us = t_us;
	ev.sector = sector;
	ev.asset = asset;
	if (geo) {
		ev.has_geo = true;
		ev.lat = geo[0];
		ev.lon = geo[1];
	}
	rc = tn_corr_event(r->c, &ev);
	run_drain(r);
	return rc;
}

/* A failure ("down") of asset at T0 + t seconds; the event id is "<asset>@<t>". */
static inline void down(struct run *r, const char *asset, enum tn_sector sector, double t)
{
	char id[128];

	snprintf(id, sizeof id, "%s@%g", asset, t);
	ck_assert_int_eq(feed_ev(r, "src", id, TN_EV_DOWN, T0 + (int64_t)(t * 1e6), sector, asset,
				 NULL), 0);
}

static inline void up(struct run *r, const char *asset, enum tn_sector sector, double t)
{
	char id[128];

	snprintf(id, sizeof id, "%s@%g+up", asset, t);
	ck_assert_int_eq(feed_ev(r, "src", id, TN_EV_UP, T0 + (int64_t)(t * 1e6), sector, asset,
				 NULL), 0);
}

/* A clock tick that brings the watermark to T0 + t seconds (default lateness 60 s). */
static inline void tick(struct run *r, double t)
{
	ck_assert_int_eq(tn_corr_advance(r->c, T0 + (int64_t)((t + 60) * 1e6)), 0);
	run_drain(r);
}

static inline void finish(struct run *r, double t)
{
	tn_corr_finish(r->c, T0 + (int64_t)(t * 1e6));
	run_drain(r);
}

/* The last revision of each incident, as a json object keyed by id (new ref). */
static inline json_t *finals(const struct run *r)
{
	json_t *o = json_object(), *v;
	size_t i;

	json_array_foreach(r->all, i, v)
		json_object_set(o, json_string_value(json_object_get(v, "incident")), v);
	return o;
}

/* The id of the incident whose final, non-merged revision lists event `evid`. */
static inline const char *incident_of(const struct run *r, const char *evid)
{
	json_t *f = finals(r), *v, *m;
	const char *k, *found = NULL;
	size_t i;

	json_object_foreach(f, k, v) {
		if (strcmp(json_string_value(json_object_get(v, "msg")), "merged") == 0)
			continue;
		json_array_foreach(json_object_get(v, "affected"), i, m)
			if (strcmp(json_string_value(json_object_get(json_object_get(m, "event"), "id")),
				   evid) == 0) {
				ck_assert_msg(found == NULL, "event %s in two incidents", evid);
				found = json_string_value(json_object_get(v, "incident"));
			}
	}
	json_decref(f);
	return found; /* points into r->all, which outlives f */
}

static inline json_t *last_rev(const struct run *r, const char *incident)
{
	json_t *v, *last = NULL;
	size_t i;

	json_array_foreach(r->all, i, v)
		if (strcmp(json_string_value(json_object_get(v, "incident")), incident) == 0)
			last = v;
	return last;
}

static inline size_t count_msg(const struct run *r, const char *msg)
{
	json_t *v;
	size_t i, n = 0;

	json_array_foreach(r->all, i, v)
		n += strcmp(json_string_value(json_object_get(v, "msg")), msg) == 0;
	return n;
}

/* Number of distinct incidents (of any cause but visibility) that were alerted. */
static inline size_t count_incidents(const struct run *r)
{
	json_t *f = finals(r), *v;
	const char *k;
	size_t n = 0;

	json_object_foreach(f, k, v)
		n += strcmp(json_string_value(json_object_get(v, "cause")), "visibility") != 0;
	json_decref(f);
	return n;
}

/* The explain entry of `asset` in a revision. */
static inline json_t *explain_of(json_t *rev, const char *asset)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(rev, "explain"), i, e)
		if (strcmp(json_string_value(json_object_get(e, "asset")), asset) == 0)
			return e;
	return NULL;
}

static inline json_t *risk_of(json_t *rev, const char *asset)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(rev, "at_risk"), i, e)
		if (strcmp(json_string_value(json_object_get(e, "asset")), asset) == 0)
			return e;
	return NULL;
}

/* "A,B,C" from a json array of strings, into buf. */
static inline const char *join_path(json_t *arr, char *buf, size_t cap)
{
	json_t *s;
	size_t i, len = 0;

	buf[0] = '\0';
	json_array_foreach(arr, i, s)
		len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? "," : "", json_string_value(s));
	return buf;
}

#endif
