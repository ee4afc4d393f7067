/*
 * test_corr_property.c - random cities, random cascades with noise (reports
 * reordered within the lateness, missing reports, unrelated background
 * failures, restores), deterministic seeds. Checks:
 * - two runs of the same input give byte-identical output;
 * - a reordering within the lateness bound (with clock ticks sprinkled in)
 *   gives byte-identical output, and so does an engine that formats every
 *   revision afresh instead of reusing its members' text;
 * - every failure event is in exactly one incident's final revision (merged
 *   incidents excepted, whose members live on in the absorber);
 * - every revision's at_risk_count agrees with its at_risk list;
 * - every member of an observed or inferred incident is reachable from the
 *   root along dependency edges: its explain path starts at the root and
 *   each hop is an edge provider -> dependent.
 * It also reports the pairwise F1 of the clustering against the generator's
 * truth, and requires it to be reasonable.
 */
#include "test_corr_util.h"
#include "../../correlator/corr_internal.h" /* tn__corr_text_cache */

#define MAX_EV 4096

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 2685821657736338717ULL;
}

static double unif(struct rng *r)
{
	return (double)(rnd(r) >> 11) / 9007199254740992.0;
}

static uint32_t below(struct rng *r, uint32_t n)
{
	return (uint32_t)(rnd(r) % n);
}

struct gev {
	int64_t t, arrive;
	enum tn_event_type type;
	uint32_t asset;
	int truth; /* cascade number, or -1 - index for background noise */
	char id[32];
	char src[32];
};

struct city {
	struct tn_graph *g;
	uint32_t n;
	enum tn_sector *sector;
	struct gev ev[MAX_EV];
	size_t nev;
};

static void make_city(struct city *c, struct rng *r)
{
	struct gb b;
	uint32_t i, k;
	char id[16], pid[16];

	c->n = 150 + below(r, 250);
	c->sector = calloc(c->n, sizeof *c->sector);
	gb_new(&b);
	for (i = 0; i < c->n; i++) {
		struct tn_asset a;

		snprintf(id, sizeof id, "A%u", i);
		c->sector[i] = (enum tn_sector)below(r, TN_SECTOR__COUNT);
		a = (struct tn_asset){id, c->sector[i], "k", id, 51.3 + unif(r) * 0.3,
				      -0.3 + unif(r) * 0.4, "AR", 1 + (int)below(r, 5),
				      (int64_t)below(r, 20000), (int32_t)below(r, 3) * 60,
				      TN_SENS_PUBLIC};
		ck_assert_int_eq(tn_graph_add_asset(b.b, &a, NULL, 0), 0);
	}
	for (i = 1; i < c->n; i++) {
		uint32_t np = 1 + below(r, 2);

		for (k = 0; k < np; k++) {
			uint32_t p = below(r, i);
			int dmin = (int)below(r, 60);
			struct tn_dependency d;

			snprintf(id, sizeof id, "A%u", i);
			snprintf(pid, sizeof pid, "A%u", p);
			d = (struct tn_dependency){id, pid, (enum tn_dep_kind)k, dmin,
						   dmin + (int)below(r, 240)};
			(void)tn_graph_add_dependency(b.b, &d, NULL, 0); /* duplicates refused: fine */
		}
		if (below(r, 30) == 0) { /* a cycle: some provider of later number */
			uint32_t p = i + 1 + below(r, c->n - i > 1 ? c->n - i - 1 : 1);
			struct tn_dependency d;

			if (p < c->n) {
				snprintf(id, sizeof id, "A%u", i);
				snprintf(pid, sizeof pid, "A%u", p);
				d = (struct tn_dependency){id, pid, TN_DEP_OTHER, 0, 120};
				(void)tn_graph_add_dependency(b.b, &d, NULL, 0);
			}
		}
	}
	c->g = gb_build(&b);
}

static void add_ev(struct city *c, struct rng *r, int64_t t, enum tn_event_type type,
		   uint32_t asset, int truth)
{
	struct gev *e;

	if (c->nev >= MAX_EV)
		return;
	e = &c->ev[c->nev];
	e->t = t;
	e->arrive = t + (int64_t)(unif(r) * 50e6); /* < lateness (60 s) */
	e->type = type;
	e->asset = asset;
	e->truth = truth;
	snprintf(e->id, sizeof e->id, "e%zu", c->nev);
	snprintf(e->src, sizeof e->src, "adapter/%s", tn_sector_name(c->sector[asset]));
	c->nev++;
}

/* Cascades from random roots along the dependents, with missing reports. */
static void make_events(struct city *c, struct rng *r)
{
	int ncasc = 3 + (int)below(r, 5), k;
	uint32_t *state = calloc(c->n, sizeof *state); /* 0 up, else cascade + 1 */
	int64_t *tf = calloc(c->n, sizeof *tf);
	uint32_t *queue = calloc(c->n, sizeof *queue);

	c->nev = 0;
	for (k = 0; k < ncasc; k++) {
		uint32_t root = below(r, c->n), qh = 0, qt = 0;
		int64_t t0 = T0 + S(below(r, 7200));

		if (state[root])
			continue;
		state[root] = (uint32_t)k + 1;
		tf[root] = t0;
		queue[qt++] = root;
		while (qh < qt) {
			uint32_t u = queue[qh++];
			const struct tn_graph_edge *e;
			size_t n = tn_graph_dependents(c->g, u, &e), i;

			if (unif(r) >= 0.05)
				add_ev(c, r, tf[u], below(r, 5) ? TN_EV_DOWN : TN_EV_DEGRADED, u, k);
			for (i = 0; i < n; i++) {
				uint32_t v = e[i].other;

				if (state[v] || unif(r) < 0.3)
					continue;
				state[v] = (uint32_t)k + 1;
				tf[v] = tf[u] + S(e[i].delay_min_s) +
					(int64_t)(unif(r) * (double)S(e[i].delay_max_s - e[i].delay_min_s));
				queue[qt++] = v;
			}
		}
		/* the root is restored an hour later, with most of its cascade */
		for (qh = 0; qh < qt; qh++)
			if (unif(r) < 0.7)
				add_ev(c, r, tf[queue[qh]] + S(3600 + below(r, 600)), TN_EV_UP,
				       queue[qh], -1);
	}
	/* background: unrelated single failures */
	for (k = 0; k < 10; k++) {
		uint32_t a = below(r, c->n);

		if (state[a])
			continue;
		state[a] = 1000;
		add_ev(c, r, T0 + S(below(r, 9000)), TN_EV_DOWN, a, -2 - k);
	}
	free(state);
	free(tf);
	free(queue);
}

static int by_time(const void *a, const void *b)
{
	const struct gev *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return strcmp(x->id, y->id);
}

static int by_arrival(const void *a, const void *b)
{
	const struct gev *x = a, *y = b;

	if (x->arrive != y->arrive)
		return x->arrive < y->arrive ? -1 : 1;
	return strcmp(x->id, y->id);
}

static void play(struct run *r, const struct city *c, bool ticks)
{
	size_t i;
	char asset[16];

	for (i = 0; i < c->nev; i++) {
		const struct gev *e = &c->ev[i];

		snprintf(asset, sizeof asset, "A%u", e->asset);
		ck_assert_int_eq(feed_ev(r, e->src, e->id, e->type, e->t, c->sector[e->asset], asset,
					 NULL), 0);
		if (ticks && i % 7 == 0) {
			ck_assert_int_eq(tn_corr_advance(r->c, e->arrive), 0);
			run_drain(r);
		}
	}
	finish(r, 20000);
}

static bool is_edge(const struct tn_graph *g, const char *provider, const char *dependent)
{
	uint32_t p = tn_graph_find(g, provider), d = tn_graph_find(g, dependent);
	const struct tn_graph_edge *e;
	size_t n, i;

	if (p == TN_GRAPH_NONE || d == TN_GRAPH_NONE)
		return false;
	n = tn_graph_providers(g, d, &e);
	for (i = 0; i < n; i++)
		if (e[i].other == p)
			return true;
	return false;
}

/* Every revision's at_risk_count says what its at_risk list holds (the list
 * is capped at 50, the default at_risk_listed: then it holds 50). */
static void check_risk_counts(const struct run *r)
{
	json_t *v, *e;
	size_t i, j;

	json_array_foreach(r->all, i, v) {
		json_t *cnt = json_object_get(v, "at_risk_count"), *list = json_object_get(v, "at_risk");
		json_int_t want[3], got[3] = {0, 0, 0};
		static const char *const names[3] = {"pending", "borne_out", "not_borne_out"};
		json_int_t all = 0;
		int k;

		for (k = 0; k < 3; k++) {
			want[k] = json_integer_value(json_object_get(cnt, names[k]));
			all += want[k];
		}
		if (all > 50) {
			ck_assert_uint_eq(json_array_size(list), 50);
			continue;
		}
		json_array_foreach(list, j, e) {
			const char *o = json_string_value(json_object_get(e, "outcome"));

			for (k = 0; k < 3; k++)
				got[k] += strcmp(o, names[k]) == 0;
		}
		for (k = 0; k < 3; k++)
			ck_assert_msg(got[k] == want[k], "%s rev %lld: %lld %s listed, counted %lld",
				      json_string_value(json_object_get(v, "incident")),
				      (long long)json_integer_value(json_object_get(v, "rev")),
				      (long long)got[k], names[k], (long long)want[k]);
	}
}

/* Invariants; returns the pairwise F1 over failure events. */
static double check(const struct run *r, const struct city *c)
{
	json_t *f = finals(r), *v, *m;
	const char *k;
	size_t i, j, nfail = 0;
	const char **inc_of = calloc(c->nev, sizeof *inc_of);
	double tp = 0, fp = 0, fn = 0;

	json_object_foreach(f, k, v) {
		const char *cause = json_string_value(json_object_get(v, "cause"));
		const char *root = json_string_value(json_object_get(json_object_get(v, "root"), "asset"));

		if (strcmp(json_string_value(json_object_get(v, "msg")), "merged") == 0)
			continue;
		json_array_foreach(json_object_get(v, "affected"), i, m) {
			const char *id = json_string_value(json_object_get(json_object_get(m, "event"), "id"));
			size_t n = (size_t)atol(id + 1);

			ck_assert_uint_lt(n, c->nev);
			ck_assert_msg(inc_of[n] == NULL, "event %s in %s and %s", id, inc_of[n], k);
			inc_of[n] = k;
		}
		if (strcmp(cause, "observed") != 0 && strcmp(cause, "inferred") != 0)
			continue;
		json_array_foreach(json_object_get(v, "explain"), i, m) {
			json_t *path = json_object_get(m, "path");
			const char *rule = json_string_value(json_object_get(m, "rule"));

			ck_assert_uint_ge(json_array_size(path), 1);
			ck_assert_msg(strcmp(json_string_value(json_array_get(path, 0)), root) == 0,
				      "%s: path of %s does not start at root %s (%s)", k,
				      json_string_value(json_object_get(m, "asset")), root, rule);
			ck_assert_str_eq(json_string_value(json_array_get(path, json_array_size(path) - 1)),
					 json_string_value(json_object_get(m, "asset")));
			for (j = 1; j < json_array_size(path); j++)
				ck_assert_msg(is_edge(c->g, json_string_value(json_array_get(path, j - 1)),
						      json_string_value(json_array_get(path, j))),
					      "%s: hop %s -> %s is no edge", k,
					      json_string_value(json_array_get(path, j - 1)),
					      json_string_value(json_array_get(path, j)));
		}
	}
	for (i = 0; i < c->nev; i++) {
		if (c->ev[i].type != TN_EV_DOWN && c->ev[i].type != TN_EV_DEGRADED)
			continue;
		nfail++;
		ck_assert_msg(inc_of[i] != NULL, "failure e%zu in no incident", i);
		for (j = i + 1; j < c->nev; j++) {
			bool same_t, same_p;

			if (c->ev[j].type != TN_EV_DOWN && c->ev[j].type != TN_EV_DEGRADED)
				continue;
			same_t = c->ev[i].truth == c->ev[j].truth;
			same_p = inc_of[j] && strcmp(inc_of[i], inc_of[j]) == 0;
			tp += same_t && same_p;
			fp += !same_t && same_p;
			fn += same_t && !same_p;
		}
	}
	free(inc_of);
	json_decref(f);
	(void)nfail;
	return tp + fp + fn == 0 ? 1.0 : 2 * tp / (2 * tp + fp + fn);
}

START_TEST(random_cities)
{
	int seed, iters = 40;
	double f1sum = 0;

	for (seed = 1; seed <= iters; seed++) {
		struct rng r = {0x9e3779b97f4a7c15ULL * (uint64_t)seed};
		struct city *c = calloc(1, sizeof *c);
		struct run a, b, s, u;
		struct tn_corr_config cfg;
		size_t i;

		make_city(c, &r);
		make_events(c, &r);
		/* the input in event-time order, twice */
		qsort(c->ev, c->nev, sizeof c->ev[0], by_time);
		tn_corr_config_defaults(&cfg);
		run_init_cfg(&a, &cfg, c->g);
		play(&a, c, false);
		run_init_cfg(&b, &cfg, c->g);
		play(&b, c, false);
		ck_assert_msg(a.tlen == b.tlen && memcmp(a.text, b.text, a.tlen) == 0,
			      "seed %d: two runs differ", seed);
		/* reordered within the lateness, with ticks */
		qsort(c->ev, c->nev, sizeof c->ev[0], by_arrival);
		run_init_cfg(&s, &cfg, c->g);
		play(&s, c, true);
		ck_assert_msg(a.tlen == s.tlen && memcmp(a.text, s.text, a.tlen) == 0,
			      "seed %d: reordering within the lateness changed the output", seed);
		{
			struct tn_corr_stats st;

			tn_corr_stats(s.c, &st);
			ck_assert_uint_eq(st.late, 0);
		}
		/* the revisions' text cache (corr_json.c) changes nothing: every
		 * revision formatted afresh gives the same bytes */
		run_init_cfg(&u, &cfg, c->g);
		tn__corr_text_cache(u.c, false);
		play(&u, c, true);
		ck_assert_msg(a.tlen == u.tlen && memcmp(a.text, u.text, a.tlen) == 0,
			      "seed %d: the text cache changed the output", seed);
		run_free(&u);
		{
			/* check() indexes events by number: restore creation order */
			struct gev *tmp = malloc(c->nev * sizeof *tmp);

			for (i = 0; i < c->nev; i++)
				tmp[atol(c->ev[i].id + 1)] = c->ev[i];
			memcpy(c->ev, tmp, c->nev * sizeof *tmp);
			free(tmp);
		}
		check_risk_counts(&a);
		f1sum += check(&a, c);
		run_free(&a);
		run_free(&b);
		run_free(&s);
		tn_graph_free(c->g);
		free(c->sector);
		free(c);
	}
	fprintf(stderr, "corr_property: mean pairwise F1 over %d cities: %.3f\n", iters,
		f1sum / iters);
	ck_assert_msg(f1sum / iters >= 0.85, "F1 %.3f", f1sum / iters);
}
END_TEST

START_TEST(late_beyond_bound_is_flagged)
{
	/* beyond the lateness the output may differ, but nothing is lost and it says so */
	struct rng r = {12345};
	struct city *c = calloc(1, sizeof *c);
	struct run a;
	struct tn_corr_stats st;
	json_t *f, *v, *m;
	const char *k;
	size_t i, nlate = 0;

	make_city(c, &r);
	make_events(c, &r);
	qsort(c->ev, c->nev, sizeof c->ev[0], by_time);
	for (i = 0; i + 1 < c->nev; i += 2) { /* every other pair swapped and 10 min apart */
		struct gev t = c->ev[i];

		c->ev[i] = c->ev[i + 1];
		c->ev[i + 1] = t;
	}
	run_init(&a, c->g);
	for (i = 0; i < c->nev; i++) {
		char asset[16];

		snprintf(asset, sizeof asset, "A%u", c->ev[i].asset);
		ck_assert_int_eq(feed_ev(&a, c->ev[i].src, c->ev[i].id, c->ev[i].type, c->ev[i].t,
					 c->sector[c->ev[i].asset], asset, NULL), 0);
		ck_assert_int_eq(tn_corr_advance(a.c, c->ev[i].t + S(60)), 0);
		run_drain(&a);
	}
	finish(&a, 20000);
	tn_corr_stats(a.c, &st);
	f = finals(&a);
	json_object_foreach(f, k, v) {
		if (strcmp(json_string_value(json_object_get(v, "msg")), "merged") == 0)
			continue;
		json_array_foreach(json_object_get(v, "affected"), i, m)
			nlate += json_is_true(json_object_get(m, "late"));
	}
	ck_assert_uint_gt(st.late, 0);
	ck_assert_uint_gt(nlate, 0);
	json_decref(f);
	run_free(&a);
	tn_graph_free(c->g);
	free(c->sector);
	free(c);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("corr_property");
	TCase *t = tcase_create("property");

	tcase_set_timeout(t, 300);
	tcase_add_test(t, random_cities);
	tcase_add_test(t, late_beyond_bound_is_flagged);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
