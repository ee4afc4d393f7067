/*
 * test_corr_rules.c - each rule of design §4 on small hand-made graphs, with
 * its edges: just inside and just outside every window and bound.
 */
#include "test_corr_util.h"

#define E TN_SECTOR_ENERGY
#define W TN_SECTOR_WATER
#define H TN_SECTOR_HEALTH
#define C TN_SECTOR_COMMUNICATIONS
#define TR TN_SECTOR_TRANSPORT
#define F TN_SECTOR_FINANCE

/* SUB (energy) <- PUMP (water, 0..120 s) <- HOSP (health, 60..300 s); 11 km apart. */
static struct tn_graph *chain3(void)
{
	struct gb g;

	gb_new(&g);
	gb_asset(&g, "SUB", E, 51.0, 0.0, 2, 20000);
	gb_asset(&g, "PUMP", W, 51.1, 0.0, 3, 5000);
	gb_asset(&g, "HOSP", H, 51.2, 0.0, 1, 50000);
	gb_dep(&g, "PUMP", "SUB", 0, 120);
	gb_dep(&g, "HOSP", "PUMP", 60, 300);
	return gb_build(&g);
}

static bool same_incident(struct run *r, const char *a, const char *b)
{
	const char *x = incident_of(r, a), *y = incident_of(r, b);

	ck_assert_msg(x && y, "%s or %s in no incident", a, b);
	return strcmp(x, y) == 0;
}

/* ---- cascade --------------------------------------------------------------------- */

START_TEST(cascade_multi_hop_window)
{
	/* PUMP's report is missing: SUB -> HOSP spans two hops, window
	 * [0 + 0 + 60 - 30, 0 + 120 + 300 + 30] = [30, 450] s. */
	static const double inside[] = {30, 200, 450}, outside[] = {29, 451};
	struct tn_graph *g = chain3();
	struct run r;
	size_t i;
	char buf[256];

	for (i = 0; i < 3; i++) {
		run_init(&r, g);
		down(&r, "SUB", E, 0);
		down(&r, "HOSP", H, inside[i]);
		finish(&r, 1000);
		snprintf(buf, sizeof buf, "HOSP@%g", inside[i]);
		ck_assert_msg(same_incident(&r, "SUB@0", buf), "t=%g should cascade", inside[i]);
		{
			json_t *rev = last_rev(&r, incident_of(&r, "SUB@0"));
			json_t *ex = explain_of(rev, "HOSP");
			char p[128];

			ck_assert_str_eq(join_path(json_object_get(ex, "path"), p, sizeof p),
					 "SUB,PUMP,HOSP");
			ck_assert_str_eq(json_string_value(json_object_get(ex, "rule")), "cascade");
			ck_assert_str_eq(json_string_value(json_array_get(json_object_get(ex, "window"), 0)),
					 "2026-11-26T13:33:50.000Z");
			ck_assert_str_eq(json_string_value(json_array_get(json_object_get(ex, "window"), 1)),
					 "2026-11-26T13:40:50.000Z");
			ck_assert_str_eq(json_string_value(json_object_get(rev, "cause")), "observed");
			ck_assert_str_eq(json_string_value(json_object_get(json_object_get(rev, "root"), "asset")),
					 "SUB");
		}
		run_free(&r);
	}
	for (i = 0; i < 2; i++) {
		run_init(&r, g);
		down(&r, "SUB", E, 0);
		down(&r, "HOSP", H, outside[i]);
		finish(&r, 1000);
		snprintf(buf, sizeof buf, "HOSP@%g", outside[i]);
		ck_assert_msg(!same_incident(&r, "SUB@0", buf), "t=%g should not cascade", outside[i]);
		ck_assert_uint_eq(count_incidents(&r), 2);
		run_free(&r);
	}
	tn_graph_free(g);
}
END_TEST

START_TEST(cascade_depth_limit)
{
	/* A0 <- A1 <- ... <- A7, 0..60 s each; max_depth 6. */
	struct gb b;
	struct tn_graph *g;
	struct run r;
	char id[16], dep[16];
	int i;

	gb_new(&b);
	for (i = 0; i < 8; i++) {
		snprintf(id, sizeof id, "A%d", i);
		gb_asset(&b, id, E, 50 + i * 0.1, 1, 3, 10);
	}
	for (i = 1; i < 8; i++) {
		snprintf(id, sizeof id, "A%d", i);
		snprintf(dep, sizeof dep, "A%d", i - 1);
		gb_dep(&b, id, dep, 0, 60);
	}
	g = gb_build(&b);

	run_init(&r, g);
	down(&r, "A0", E, 0);
	down(&r, "A6", E, 10);
	finish(&r, 1000);
	ck_assert(same_incident(&r, "A0@0", "A6@10"));
	{
		char p[128];
		json_t *ex = explain_of(last_rev(&r, incident_of(&r, "A0@0")), "A6");

		ck_assert_str_eq(join_path(json_object_get(ex, "path"), p, sizeof p),
				 "A0,A1,A2,A3,A4,A5,A6");
	}
	run_free(&r);

	run_init(&r, g);
	down(&r, "A0", E, 0);
	down(&r, "A7", E, 10);
	finish(&r, 1000);
	ck_assert(!same_incident(&r, "A0@0", "A7@10"));
	run_free(&r);
	tn_graph_free(g);
}
END_TEST

START_TEST(cascade_cycle)
{
	/* POWER needs TEL, TEL needs POWER; HOSP needs TEL. */
	struct gb b;
	struct tn_graph *g;
	struct run r;
	json_t *rev;

	gb_new(&b);
	gb_asset(&b, "POWER", E, 51, 0, 2, 100);
	gb_asset(&b, "TEL", C, 51.1, 0, 2, 100);
	gb_asset(&b, "HOSP", H, 51.2, 0, 1, 100);
	gb_dep(&b, "POWER", "TEL", 0, 60);
	gb_dep(&b, "TEL", "POWER", 0, 60);
	gb_dep(&b, "HOSP", "TEL", 0, 60);
	g = gb_build(&b);

	run_init(&r, g);
	down(&r, "POWER", E, 0);
	down(&r, "TEL", C, 10);
	down(&r, "HOSP", H, 20);
	finish(&r, 1000);
	ck_assert_uint_eq(count_incidents(&r), 1);
	rev = last_rev(&r, incident_of(&r, "POWER@0"));
	ck_assert_uint_eq(json_array_size(json_object_get(rev, "affected")), 3);
	/* TEL and HOSP were forecast once each (the cycle adds nothing) and both fell */
	ck_assert_uint_eq(json_array_size(json_object_get(rev, "at_risk")), 2);
	ck_assert_str_eq(json_string_value(json_object_get(risk_of(rev, "TEL"), "outcome")), "borne_out");
	ck_assert_str_eq(json_string_value(json_object_get(risk_of(rev, "HOSP"), "outcome")), "borne_out");
	ck_assert(same_incident(&r, "POWER@0", "HOSP@20"));
	run_free(&r);

	/* the other way round: TEL first roots it */
	run_init(&r, g);
	down(&r, "TEL", C, 0);
	down(&r, "POWER", E, 5);
	finish(&r, 1000);
	ck_assert_uint_eq(count_incidents(&r), 1);
	rev = last_rev(&r, incident_of(&r, "TEL@0"));
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(rev, "root"), "asset")), "TEL");
	/* POWER and HOSP forecast once each, though HOSP is reachable from both */
	ck_assert_uint_eq(json_array_size(json_object_get(rev, "at_risk")), 2);
	ck_assert_str_eq(json_string_value(json_object_get(risk_of(rev, "POWER"), "outcome")), "borne_out");
	ck_assert_str_eq(json_string_value(json_object_get(risk_of(rev, "HOSP"), "outcome")), "not_borne_out");
	run_free(&r);
	tn_graph_free(g);
}
END_TEST

START_TEST(cascade_diamond)
{
	/* D needs X and Y, both need P: two shortest paths, windows united. */
	struct gb b;
	struct tn_graph *g;
	struct run r;
	json_t *ex;

	gb_new(&b);
	gb_asset(&b, "P", E, 51, 0, 2, 100);
	gb_asset(&b, "X", E, 51.1, 0, 2, 100);
	gb_asset(&b, "Y", E, 51.2, 0, 2, 100);
	gb_asset(&b, "D", W, 51.3, 0, 2, 100);
	gb_dep(&b, "X", "P", 0, 10);
	gb_dep(&b, "Y", "P", 100, 200);
	gb_dep(&b, "D", "X", 0, 10);
	gb_dep(&b, "D", "Y", 0, 10);
	g = gb_build(&b);

	/* via Y only: 100..210 (+-30) */
	run_init(&r, g);
	down(&r, "P", E, 0);
	down(&r, "D", W, 230);
	finish(&r, 1000);
	ck_assert(same_incident(&r, "P@0", "D@230"));
	ex = explain_of(last_rev(&r, incident_of(&r, "P@0")), "D");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(ex, "window"), 0)),
			 "2026-11-26T13:32:50.000Z"); /* 0 + 0 - 30 */
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(ex, "window"), 1)),
			 "2026-11-26T13:37:20.000Z"); /* 210 + 30 */
	run_free(&r);

	run_init(&r, g);
	down(&r, "P", E, 0);
	down(&r, "D", W, 241);
	finish(&r, 1000);
	ck_assert(!same_incident(&r, "P@0", "D@241"));
	run_free(&r);
	tn_graph_free(g);
}
END_TEST

/* ---- re-rooting ----------------------------------------------------------------- */

START_TEST(reroot_late_provider_merges)
{
	struct tn_graph *g = chain3();
	struct run r;
	json_t *rev, *v, *m;
	const char *absorbed = NULL, *root;
	size_t i;

	run_init(&r, g);
	down(&r, "PUMP", W, 100);
	down(&r, "HOSP", H, 250);
	ck_assert_int_eq(tn_corr_advance(r.c, T0 + S(400)), 0);
	run_drain(&r);
	json_array_foreach(r.all, i, v)
		if (strcmp(json_string_value(json_object_get(v, "msg")), "alert") == 0)
			absorbed = json_string_value(json_object_get(v, "incident"));
	ck_assert_ptr_nonnull(absorbed);
	/* SUB's report comes after the watermark passed it: late */
	down(&r, "SUB", E, 90);
	finish(&r, 2000);
	root = incident_of(&r, "SUB@90");
	ck_assert_ptr_nonnull(root);
	ck_assert_str_ne(root, absorbed);
	rev = last_rev(&r, absorbed);
	ck_assert_str_eq(json_string_value(json_object_get(rev, "msg")), "merged");
	ck_assert_str_eq(json_string_value(json_object_get(rev, "merged_into")), root);
	rev = last_rev(&r, root);
	ck_assert_uint_eq(json_array_size(json_object_get(rev, "affected")), 3);
	json_array_foreach(json_object_get(rev, "affected"), i, m)
		ck_assert(json_is_true(json_object_get(m, "late")) ==
			  (strcmp(json_string_value(json_object_get(m, "asset")), "SUB") == 0));
	ck_assert_str_eq(json_string_value(json_object_get(explain_of(rev, "PUMP"), "rule")), "re-root");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(rev, "root"), "asset")), "SUB");
	{
		char p[64];

		ck_assert_str_eq(join_path(json_object_get(explain_of(rev, "HOSP"), "path"), p, sizeof p),
				 "SUB,PUMP,HOSP");
	}
	ck_assert(same_incident(&r, "PUMP@100", "SUB@90"));
	ck_assert(same_incident(&r, "HOSP@250", "SUB@90"));
	ck_assert_uint_eq(count_msg(&r, "merged"), 1);
	run_free(&r);
	tn_graph_free(g);
}
END_TEST

START_TEST(reroot_when_failed_counts_are_partial)
{
	/* SUB <- MID <- PUMP, and PUMP has six more providers before MID;
	 * max_scan 3 cuts the upstream walk that counts PUMP's failure among
	 * its ancestors' failed descendants before it reaches MID (MID itself
	 * never reports). The cut is counted (scan_truncated), pruning is off
	 * while PUMP is down, and SUB's late report still re-roots PUMP's
	 * incident under SUB through MID. With pruning on, MID's count of zero
	 * would hide PUMP. */
	struct gb b;
	struct tn_graph *g;
	struct tn_corr_config cfg;
	struct tn_corr_stats st;
	struct run r;
	char id[16];
	const char *root, *absorbed;
	int i;

	gb_new(&b);
	gb_asset(&b, "SUB", E, 51.0, 0.0, 2, 100);
	gb_asset(&b, "MID", E, 51.05, 0.0, 3, 100);
	gb_asset(&b, "PUMP", W, 51.1, 0.0, 3, 100);
	for (i = 0; i < 6; i++) {
		snprintf(id, sizeof id, "P%d", i);
		gb_asset(&b, id, TR, 52.0 + i, 1.0, 3, 10);
		gb_dep(&b, "PUMP", id, 0, 120);
	}
	gb_dep(&b, "PUMP", "MID", 0, 120);
	gb_dep(&b, "MID", "SUB", 0, 120);
	g = gb_build(&b);
	test_cfg(&cfg);
	cfg.max_scan = 3;
	cfg.colo_radius_m = 0;
	run_init_cfg(&r, &cfg, g);
	down(&r, "PUMP", W, 100);
	ck_assert_int_eq(tn_corr_advance(r.c, T0 + S(400)), 0);
	run_drain(&r);
	absorbed = incident_of(&r, "PUMP@100");
	ck_assert_ptr_nonnull(absorbed);
	tn_corr_stats(r.c, &st);
	ck_assert_uint_ge(st.scan_truncated, 1);
	down(&r, "SUB", E, 90); /* late */
	finish(&r, 2000);
	root = incident_of(&r, "SUB@90");
	ck_assert_ptr_nonnull(root);
	ck_assert_str_eq(json_string_value(json_object_get(last_rev(&r, absorbed), "msg")),
			 "merged");
	ck_assert(same_incident(&r, "SUB@90", "PUMP@100"));
	run_free(&r);
	tn_graph_free(g);
}
END_TEST

START_TEST(reroot_within_lateness_is_order)
{
	/* Reordered within the lateness: the same bytes as in order, no merge. */
	struct tn_graph *g = chain3();
	struct run a, b;

	run_init(&a, g);
	down(&a, "SUB", E, 90);
	down(&a, "PUMP", W, 100);
	finish(&a, 1000);
	run_init(&b, g);
	down(&b, "PUMP", W, 100);
	down(&b, "SUB", E, 90);
	finish(&b, 1000);
	ck_assert_str_eq(a.text, b.text);
	ck_assert_uint_eq(count_msg(&a, "merged"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(explain_of(last_rev(&a, incident_of(&a, "SUB@90")), "PUMP"), "rule")), "cascade");
	run_free(&a);
	run_free(&b);
	tn_graph_free(g);
}
END_TEST

START_TEST(clock_skew_lower_bound)
{
	/* PUMP's clock runs behind: it reports before SUB, within the slack (30 s). */
	struct tn_graph *g = chain3();
	struct run r;

	run_init(&r, g);
	down(&r, "SUB", E, 100);
	down(&r, "PUMP", W, 70);
	finish(&r, 1000);
	ck_assert(same_incident(&r, "SUB@100", "PUMP@70"));
	run_free(&r);
	run_init(&r, g);
	down(&r, "SUB", E, 100);
	down(&r, "PUMP", W, 69);
	finish(&r, 1000);
	ck_assert(!same_incident(&r, "SUB@100", "PUMP@69"));
	run_free(&r);
	tn_graph_free(g);
}
END_TEST

/* ---- common cause -------------------------------------------------------------- */

static struct tn_graph *star(int n)
{
	struct gb b;
	char id[16];
	int i;

	gb_new(&b);
	gb_asset(&b, "P", E, 51, 0, 2, 100);
	for (i = 1; i <= n; i++) {
		snprintf(id, sizeof id, "D%d", i);
		gb_asset(&b, id, W, 51 + i * 0.1, 0, 3, 100);
		gb_dep(&b, id, "P", 0, 60);
	}
	return gb_build(&b);
}

START_TEST(common_cause_k)
{
	struct tn_graph *g = star(4);
	struct run r;
	json_t *rev;
	const char *inc;

	/* k - 1 = 2 dependents: nothing inferred */
	run_init(&r, g);
	down(&r, "D1", W, 0);
	down(&r, "D2", W, 10);
	finish(&r, 1000);
	ck_assert_uint_eq(count_incidents(&r), 2);
	ck_assert(!same_incident(&r, "D1@0", "D2@10"));
	run_free(&r);

	/* k = 3: P inferred, the three in one incident */
	run_init(&r, g);
	down(&r, "D1", W, 0);
	down(&r, "D2", W, 10);
	down(&r, "D3", W, 20);
	finish(&r, 1000);
	inc = incident_of(&r, "D1@0");
	ck_assert(same_incident(&r, "D1@0", "D2@10"));
	ck_assert(same_incident(&r, "D1@0", "D3@20"));
	rev = last_rev(&r, inc);
	ck_assert_str_eq(json_string_value(json_object_get(rev, "cause")), "inferred");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(rev, "root"), "asset")), "P");
	ck_assert_double_eq_tol(json_real_value(json_object_get(rev, "confidence")), 0.75, 1e-9);
	ck_assert_str_eq(json_string_value(json_object_get(explain_of(rev, "D1"), "rule")), "inferred");
	/* D4, the remaining dependent, is at risk from P's estimated failure */
	ck_assert_ptr_nonnull(risk_of(rev, "D4"));
	ck_assert_uint_eq(count_msg(&r, "merged"), 2);
	run_free(&r);

	/* beyond the window (600 s) the third does not count */
	run_init(&r, g);
	down(&r, "D1", W, 0);
	down(&r, "D2", W, 10);
	down(&r, "D3", W, 611);
	finish(&r, 2000);
	ck_assert_uint_eq(count_incidents(&r), 3);
	run_free(&r);
	tn_graph_free(g);
}
END_TEST

START_TEST(common_cause_confirmed)
{
	struct tn_graph *g = star(4);
	struct run r;
	json_t *rev;

	run_init(&r, g);
	down(&r, "D1", W, 0);
	down(&r, "D2", W, 10);
	down(&r, "D3", W, 20);
	down(&r, "P", E, 25);
	down(&r, "D4", W, 30);
	finish(&r, 1000);
	ck_assert(same_incident(&r, "D1@0", "P@25"));
	ck_assert(same_incident(&r, "D1@0", "D4@30"));
	rev = last_rev(&r, incident_of(&r, "P@25"));
	ck_assert_str_eq(json_string_value(json_object_get(rev, "cause")), "observed");
	ck_assert_double_eq_tol(json_real_value(json_object_get(rev, "confidence")), 1.0, 1e-9);
	ck_assert_str_eq(json_string_value(json_object_get(explain_of(rev, "P"), "rule")), "root");
	ck_assert_uint_eq(json_array_size(json_object_get(rev, "affected")), 5);
	run_free(&r);
	tn_graph_free(g);
}
END_TEST

START_TEST(common_cause_withdrawn)
{
	struct tn_graph *g = star(4);
	struct run r;
	json_t *f, *v;
	const char *k, *inferred = NULL;
	size_t nopen = 0;

	run_init(&r, g);
	down(&r, "D1", W, 0);
	down(&r, "D2", W, 10);
	down(&r, "D3", W, 20);
	up(&r, "P", E, 40); /* P says it is fine while they fall: withdrawn */
	finish(&r, 1000);
	f = finals(&r);
	json_object_foreach(f, k, v) {
		if (strcmp(json_string_value(json_object_get(v, "cause")), "inferred") == 0) {
			inferred = k;
			ck_assert_str_eq(json_string_value(json_object_get(v, "msg")), "resolved");
			ck_assert_uint_eq(json_array_size(json_object_get(v, "affected")), 0);
			ck_assert_double_eq_tol(json_real_value(json_object_get(v, "confidence")), 0, 1e-9);
		} else if (strcmp(json_string_value(json_object_get(v, "msg")), "merged") != 0) {
			nopen++;
			ck_assert_uint_eq(json_array_size(json_object_get(v, "affected")), 1);
		}
	}
	ck_assert_ptr_nonnull(inferred);
	ck_assert_uint_eq(nopen, 3);
	ck_assert(!same_incident(&r, "D1@0", "D2@10"));
	json_decref(f);
	run_free(&r);
	tn_graph_free(g);
}
END_TEST

/* ---- co-location ---------------------------------------------------------------- */

START_TEST(colocation)
{
	/* X (water) and Y (transport): 300 m apart, or 700 m; with or without a path. */
	static const struct {
		double dlat;
		bool path;
		double ty;
		bool together;
	} cases[] = {
		{0.0027, false, 100, true},  /* ~300 m, no path */
		{0.0063, false, 100, false}, /* ~700 m: beyond 500 m */
		{0.0027, true, 100, false},  /* a graph path (out of its window): not co-located */
		{0.0027, false, 300, true},  /* the window's edge */
		{0.0027, false, 301, false}, /* beyond the window */
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct gb b;
		struct tn_graph *g;
		struct run r;
		char yid[32];

		gb_new(&b);
		gb_asset(&b, "X", W, 51.5, -0.1, 3, 100);
		gb_asset(&b, "Y", TR, 51.5 + cases[i].dlat, -0.1, 3, 100);
		if (cases[i].path)
			gb_dep(&b, "Y", "X", 1000, 2000);
		g = gb_build(&b);
		run_init(&r, g);
		down(&r, "X", W, 0);
		down(&r, "Y", TR, cases[i].ty);
		finish(&r, 5000);
		snprintf(yid, sizeof yid, "Y@%g", cases[i].ty);
		ck_assert_msg(same_incident(&r, "X@0", yid) == cases[i].together, "case %zu", i);
		if (cases[i].together) {
			json_t *rev = last_rev(&r, incident_of(&r, "X@0"));

			ck_assert_str_eq(json_string_value(json_object_get(rev, "cause")), "co-located");
			ck_assert_str_eq(json_string_value(json_object_get(explain_of(rev, "Y"), "rule")),
					 "co-located");
		}
		run_free(&r);
		tn_graph_free(g);
	}
}
END_TEST

START_TEST(colocation_same_sector_and_unregistered)
{
	struct gb b;
	struct tn_graph *g;
	struct run r;
	double geo[2] = {51.5015, -0.1};

	gb_new(&b);
	gb_asset(&b, "X", W, 51.5, -0.1, 3, 100);
	gb_asset(&b, "X2", W, 51.501, -0.1, 3, 100);
	g = gb_build(&b);
	/* same sector: not co-located */
	run_init(&r, g);
	down(&r, "X", W, 0);
	down(&r, "X2", W, 10);
	finish(&r, 1000);
	ck_assert(!same_incident(&r, "X@0", "X2@10"));
	run_free(&r);
	/* an unregistered asset with geo, another sector: co-located; without geo: alone */
	run_init(&r, g);
	down(&r, "X", W, 0);
	ck_assert_int_eq(feed_ev(&r, "other", "u1", TN_EV_DOWN, T0 + S(20), TR, "NEW-1", geo), 0);
	ck_assert_int_eq(feed_ev(&r, "other", "u2", TN_EV_DOWN, T0 + S(30), TR, "NEW-2", NULL), 0);
	finish(&r, 1000);
	ck_assert(same_incident(&r, "X@0", "u1"));
	ck_assert(!same_incident(&r, "X@0", "u2"));
	{
		struct tn_corr_stats st;

		tn_corr_stats(r.c, &st);
		ck_assert_uint_eq(st.unregistered, 2);
		ck_assert_str_eq(json_string_value(json_object_get(explain_of(last_rev(&r, incident_of(&r, "u2")), "NEW-2"), "rule")),
				 "unregistered");
	}
	run_free(&r);
	tn_graph_free(g);
}
END_TEST

/* ---- visibility ------------------------------------------------------------------- */

static void hb(struct run *r, const char *src, double t)
{
	char id[32];

	snprintf(id, sizeof id, "hb@%g", t);
	ck_assert_int_eq(feed_ev(r, src, id, TN_EV_HEARTBEAT, T0 + (int64_t)(t * 1e6),
				 TN_SECTOR_NONE, NULL, NULL), 0);
}

START_TEST(visibility_heartbeat)
{
	struct tn_graph *g = chain3();
	struct run r;
	json_t *v;
	size_t i, nvis = 0;

	/* the next heartbeat exactly at the timeout (180 s): still seen */
	run_init(&r, g);
	hb(&r, "mon", 0);
	hb(&r, "mon", 180);
	finish(&r, 359);
	ck_assert_uint_eq(json_array_size(r.all), 0);
	run_free(&r);

	/* one second later: blind at 180, seen again at 181 */
	run_init(&r, g);
	ck_assert_int_eq(feed_ev(&r, "mon", "a1", TN_EV_ALARM, T0, W, "PUMP", NULL), 0);
	hb(&r, "mon", 0);
	hb(&r, "mon", 181);
	finish(&r, 200);
	json_array_foreach(r.all, i, v) {
		ck_assert_str_eq(json_string_value(json_object_get(v, "cause")), "visibility");
		ck_assert_str_eq(json_string_value(json_object_get(json_object_get(v, "root"), "asset")), "mon");
		ck_assert_str_eq(json_string_value(json_object_get(json_object_get(v, "root"), "sector")), "water");
		ck_assert_int_eq(json_integer_value(json_object_get(v, "priority")), 4);
		nvis++;
	}
	ck_assert_uint_eq(nvis, 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(r.all, 0), "msg")), "alert");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(r.all, 1), "msg")), "resolved");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(r.all, 0), "area")), "AREA1");
	run_free(&r);

	/* a source that never sent a heartbeat is never blind */
	run_init(&r, g);
	down(&r, "SUB", E, 0);
	finish(&r, 10000);
	ck_assert_uint_eq(count_incidents(&r), 1);
	json_array_foreach(r.all, i, v)
		ck_assert_str_ne(json_string_value(json_object_get(v, "cause")), "visibility");
	run_free(&r);
	tn_graph_free(g);
}
END_TEST

/* A late report revives a blind source without moving its last sign of life;
 * when it goes blind again at the same deadline, that is a new incident (the
 * first one's id with rev 1 again would be a revision emitted twice). */
START_TEST(visibility_twice_at_one_deadline)
{
	struct tn_graph *g = chain3();
	struct run r;
	json_t *v;
	size_t i, alerts = 0;
	const char *first = NULL;

	run_init(&r, g);
	hb(&r, "mon", 0);
	hb(&r, "mon", 100);
	tick(&r, 600); /* blind at 280 */
	/* a report from before the last heartbeat: late, but a sign of life */
	ck_assert_int_eq(feed_ev(&r, "mon", "old", TN_EV_ALARM, T0 + S(10), W, "PUMP", NULL), 0);
	tick(&r, 800);
	finish(&r, 900);
	json_array_foreach(r.all, i, v) {
		if (strcmp(json_string_value(json_object_get(v, "msg")), "alert") != 0)
			continue;
		const char *id = json_string_value(json_object_get(v, "incident"));
		if (!first)
			first = id;
		else
			ck_assert_str_ne(id, first);
		alerts++;
	}
	ck_assert_uint_eq(alerts, 2);
	run_free(&r);
	tn_graph_free(g);
}
END_TEST

START_TEST(visibility_priority_during_cascade)
{
	struct tn_graph *g = chain3();
	struct run r;
	json_t *v;
	size_t i;
	int prio = 0;

	run_init(&r, g);
	ck_assert_int_eq(feed_ev(&r, "mon", "a1", TN_EV_ALARM, T0, E, "SUB", NULL), 0);
	hb(&r, "mon", 0);
	down(&r, "SUB", E, 10);
	finish(&r, 300);
	json_array_foreach(r.all, i, v)
		if (strcmp(json_string_value(json_object_get(v, "cause")), "visibility") == 0)
			prio = (int)json_integer_value(json_object_get(v, "priority"));
	ck_assert_int_eq(prio, 3); /* energy is blind while an energy asset is down */
	run_free(&r);
	tn_graph_free(g);
}
END_TEST

/* ---- restore and resolution ------------------------------------------------------- */

START_TEST(restore_all_vs_some)
{
	struct tn_graph *g = chain3();
	struct run r;
	json_t *rev, *m;
	size_t i;

	run_init(&r, g);
	down(&r, "SUB", E, 0);
	down(&r, "PUMP", W, 30);
	up(&r, "SUB", E, 100);
	finish(&r, 1000);
	rev = last_rev(&r, incident_of(&r, "SUB@0"));
	ck_assert_str_eq(json_string_value(json_object_get(rev, "msg")), "update");
	json_array_foreach(json_object_get(rev, "affected"), i, m)
		ck_assert_str_eq(json_string_value(json_object_get(m, "state")),
				 strcmp(json_string_value(json_object_get(m, "asset")), "SUB") == 0 ? "up" : "down");
	run_free(&r);

	run_init(&r, g);
	down(&r, "SUB", E, 0);
	down(&r, "PUMP", W, 30);
	up(&r, "SUB", E, 100);
	up(&r, "PUMP", W, 200);
	finish(&r, 1000);
	rev = last_rev(&r, incident_of(&r, "SUB@0"));
	ck_assert_str_eq(json_string_value(json_object_get(rev, "msg")), "resolved");
	ck_assert_uint_eq(json_array_size(json_object_get(rev, "affected")), 2);
	json_array_foreach(json_object_get(rev, "affected"), i, m)
		ck_assert_str_eq(json_string_value(json_object_get(m, "state")), "up");
	ck_assert_uint_eq(count_msg(&r, "resolved"), 1);
	/* a new failure after resolution opens a new incident */
	run_free(&r);

	/* degraded counts as failed; an up before the failure is stale */
	run_init(&r, g);
	ck_assert_int_eq(feed_ev(&r, "src", "d1", TN_EV_DEGRADED, T0, E, "SUB", NULL), 0);
	down(&r, "PUMP", W, 30);
	finish(&r, 1000);
	ck_assert(same_incident(&r, "d1", "PUMP@30"));
	rev = last_rev(&r, incident_of(&r, "d1"));
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(rev, "affected"), 0), "state")), "degraded");
	run_free(&r);
	tn_graph_free(g);
}
END_TEST

START_TEST(alarm_and_duplicate_do_not_fail)
{
	struct tn_graph *g = chain3();
	struct run r;
	struct tn_corr_stats st;

	run_init(&r, g);
	ck_assert_int_eq(feed_ev(&r, "src", "al", TN_EV_ALARM, T0, E, "SUB", NULL), 0);
	down(&r, "PUMP", W, 30);
	down(&r, "PUMP", W, 30); /* the same source + id again */
	finish(&r, 1000);
	ck_assert_uint_eq(count_incidents(&r), 1);
	ck_assert_uint_eq(json_array_size(json_object_get(last_rev(&r, incident_of(&r, "PUMP@30")), "affected")), 1);
	tn_corr_stats(r.c, &st);
	ck_assert_uint_eq(st.alarms, 1);
	ck_assert_uint_eq(st.duplicates, 1);
	ck_assert_int_eq(feed_ev(&r, "src", "x", TN_EV_DOWN, T0, E, NULL, NULL), TN_EINVAL);
	run_free(&r);
	tn_graph_free(g);
}
END_TEST

/* ---- forecast ---------------------------------------------------------------------- */

/* A sensor repeating "down" under new ids adds nothing: one member, and the
 * revision does not grow with the repeats. */
START_TEST(repeats_do_not_grow_the_incident)
{
	struct tn_graph *g = chain3();
	struct run r;
	struct tn_corr_stats st;
	char id[32];

	run_init(&r, g);
	down(&r, "SUB", E, 0);
	for (int i = 1; i <= 1000; i++) {
		snprintf(id, sizeof id, "rep%d", i);
		ck_assert_int_eq(feed_ev(&r, "src", id, TN_EV_DOWN, T0 + S(i), E, "SUB", NULL), 0);
	}
	finish(&r, 2000);
	tn_corr_stats(r.c, &st);
	ck_assert_uint_eq(st.repeats, 1000);
	ck_assert_uint_eq(count_incidents(&r), 1);
	json_t *last = json_array_get(r.all, json_array_size(r.all) - 1);
	ck_assert_uint_eq(json_array_size(json_object_get(last, "affected")), 1);
	run_free(&r);
	tn_graph_free(g);
}
END_TEST

START_TEST(forecast_borne_out_or_not)
{
	struct tn_graph *g = chain3();
	struct run r;
	json_t *rev, *risk;

	run_init(&r, g);
	down(&r, "SUB", E, 0);
	tick(&r, 1);
	rev = json_array_get(r.all, json_array_size(r.all) - 1);
	risk = risk_of(rev, "PUMP");
	ck_assert_ptr_nonnull(risk);
	ck_assert_str_eq(json_string_value(json_object_get(risk, "eta")), "2026-11-26T13:33:20.000Z");
	ck_assert_str_eq(json_string_value(json_object_get(risk, "eta_latest")), "2026-11-26T13:35:20.000Z");
	ck_assert_str_eq(json_string_value(json_object_get(risk, "via")), "SUB");
	ck_assert_str_eq(json_string_value(json_object_get(risk, "outcome")), "pending");
	risk = risk_of(rev, "HOSP"); /* two hops: 60 .. 420 */
	ck_assert_str_eq(json_string_value(json_object_get(risk, "eta")), "2026-11-26T13:34:20.000Z");
	ck_assert_str_eq(json_string_value(json_object_get(risk, "eta_latest")), "2026-11-26T13:40:20.000Z");
	down(&r, "PUMP", W, 100);
	finish(&r, 2000);
	rev = last_rev(&r, incident_of(&r, "SUB@0"));
	ck_assert_str_eq(json_string_value(json_object_get(risk_of(rev, "PUMP"), "outcome")), "borne_out");
	ck_assert_str_eq(json_string_value(json_object_get(risk_of(rev, "HOSP"), "outcome")), "not_borne_out");
	run_free(&r);
	tn_graph_free(g);
}
END_TEST

/* The revisions of `inc` as "rev@updated:PUMP-outcome/HOSP-outcome;" (chain3). */
static void outcome_trail(struct run *r, const char *inc, char *out, size_t cap)
{
	json_t *v;
	size_t i, n = 0;

	out[0] = '\0';
	json_array_foreach(r->all, i, v) {
		const char *u = json_string_value(json_object_get(v, "updated"));
		json_t *p = risk_of(v, "PUMP"), *h = risk_of(v, "HOSP");

		if (strcmp(json_string_value(json_object_get(v, "incident")), inc) != 0)
			continue;
		n += (size_t)snprintf(out + n, cap - n, "%lld@%s:%s/%s;",
				      (long long)json_integer_value(json_object_get(v, "rev")),
				      u + 11, /* hh:mm:ss.mmmZ */
				      p ? json_string_value(json_object_get(p, "outcome")) : "-",
				      h ? json_string_value(json_object_get(h, "outcome")) : "-");
	}
}

START_TEST(forecast_outcome_coalesced)
{
	/* SUB fails at 0 (13:33:20): PUMP at risk until 120 + 30 s slack, HOSP
	 * until 420 + 30. Neither fails. PUMP's deadline (150 s) changes no
	 * priority (HOSP is still pending, life-safety and imminent), so it
	 * waits forecast_emit_s for a revision; HOSP's (450 s) drops the
	 * priority from 1 to 3, so it is published at once. */
	static const struct {
		int emit_s;
		const char *trail;
	} cases[] = {
		{100, "1@13:33:20.000Z:pending/pending;2@13:37:30.000Z:not_borne_out/pending;"
		      "3@13:40:50.000Z:not_borne_out/not_borne_out;"},
		{0, "1@13:33:20.000Z:pending/pending;2@13:35:50.000Z:not_borne_out/pending;"
		    "3@13:40:50.000Z:not_borne_out/not_borne_out;"},
		{300, "1@13:33:20.000Z:pending/pending;"
		      "2@13:40:50.000Z:not_borne_out/not_borne_out;"},
	};
	struct tn_graph *g = chain3();
	struct tn_corr_config cfg;
	struct run r;
	char trail[512];
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		test_cfg(&cfg);
		cfg.forecast_emit_s = cases[i].emit_s;
		run_init_cfg(&r, &cfg, g);
		down(&r, "SUB", E, 0);
		finish(&r, 2000);
		outcome_trail(&r, incident_of(&r, "SUB@0"), trail, sizeof trail);
		ck_assert_msg(strcmp(trail, cases[i].trail) == 0, "forecast_emit_s %d: %s",
			      cases[i].emit_s, trail);
		ck_assert_int_eq(json_integer_value(json_object_get(
					 json_array_get(r.all, json_array_size(r.all) - 1), "priority")),
				 3);
		run_free(&r);
	}
	tn_graph_free(g);
}
END_TEST

START_TEST(forecast_listing_capped)
{
	/* SUB <- D0..D9, D<i> due (delay_min) at 10 * (9 - i) s: D9 first. With
	 * at_risk_listed 3 a revision lists the three pending entries due first
	 * and counts all ten; once D9..D7 have failed (borne out) the next three
	 * pending are listed; when none is pending, the latest settled are. */
	struct gb b;
	struct tn_graph *g;
	struct tn_corr_config cfg;
	struct run r;
	json_t *rev, *cnt;
	char id[16];
	int i;

	gb_new(&b);
	gb_asset(&b, "SUB", E, 51.0, 0.0, 2, 100);
	for (i = 0; i < 10; i++) {
		snprintf(id, sizeof id, "D%d", i);
		gb_asset(&b, id, W, 51.0 + 0.05 * (i + 1), 0.0, 3, 10);
		gb_dep(&b, id, "SUB", 10 * (9 - i), 10 * (9 - i) + 5);
	}
	g = gb_build(&b);
	test_cfg(&cfg);
	cfg.at_risk_listed = 3;
	run_init_cfg(&r, &cfg, g);
	down(&r, "SUB", E, 0);
	tick(&r, 0.5);
	rev = last_rev(&r, incident_of(&r, "SUB@0"));
	ck_assert_uint_eq(json_array_size(json_object_get(rev, "at_risk")), 3);
	ck_assert_ptr_nonnull(risk_of(rev, "D9"));
	ck_assert_ptr_nonnull(risk_of(rev, "D8"));
	ck_assert_ptr_nonnull(risk_of(rev, "D7"));
	cnt = json_object_get(rev, "at_risk_count");
	ck_assert_int_eq(json_integer_value(json_object_get(cnt, "pending")), 10);
	ck_assert_int_eq(json_integer_value(json_object_get(cnt, "borne_out")), 0);
	down(&r, "D9", W, 1);
	down(&r, "D8", W, 11);
	down(&r, "D7", W, 21);
	tick(&r, 22);
	rev = last_rev(&r, incident_of(&r, "SUB@0"));
	ck_assert_uint_eq(json_array_size(json_object_get(rev, "at_risk")), 3);
	ck_assert_ptr_nonnull(risk_of(rev, "D6"));
	ck_assert_ptr_nonnull(risk_of(rev, "D5"));
	ck_assert_ptr_nonnull(risk_of(rev, "D4"));
	cnt = json_object_get(rev, "at_risk_count");
	ck_assert_int_eq(json_integer_value(json_object_get(cnt, "pending")), 7);
	ck_assert_int_eq(json_integer_value(json_object_get(cnt, "borne_out")), 3);
	finish(&r, 2000);
	rev = last_rev(&r, incident_of(&r, "SUB@0"));
	cnt = json_object_get(rev, "at_risk_count");
	ck_assert_int_eq(json_integer_value(json_object_get(cnt, "pending")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(cnt, "borne_out")), 3);
	ck_assert_int_eq(json_integer_value(json_object_get(cnt, "not_borne_out")), 7);
	ck_assert_uint_eq(json_array_size(json_object_get(rev, "at_risk")), 3);
	run_free(&r);
	tn_graph_free(g);
}
END_TEST

START_TEST(forecast_listing_picks_the_first_due)
{
	/* SUB <- 300 dependents due at scrambled, distinct times; every cap from
	 * 1 to 300 lists exactly the cap entries due first (the selection, not
	 * a sort, picks them). */
	static const size_t caps[] = {1, 2, 17, 50, 149, 150, 299, 300};
	struct gb b;
	struct tn_graph *g;
	struct tn_corr_config cfg;
	struct run r;
	char id[16];
	int i, due[300];
	size_t k;

	gb_new(&b);
	gb_asset(&b, "SUB", E, 51.0, 0.0, 2, 100);
	for (i = 0; i < 300; i++) {
		due[i] = (i * 7919) % 300; /* a permutation of 0..299 */
		snprintf(id, sizeof id, "D%d", i);
		gb_asset(&b, id, W, 51.0 + 0.0001 * (i + 1), 0.0, 3, 10);
		gb_dep(&b, id, "SUB", 10 * due[i], 10 * due[i] + 5);
	}
	g = gb_build(&b);
	for (k = 0; k < sizeof caps / sizeof caps[0]; k++) {
		json_t *rev, *e;
		size_t j;

		test_cfg(&cfg);
		cfg.at_risk_listed = caps[k];
		cfg.colo_radius_m = 0;
		run_init_cfg(&r, &cfg, g);
		down(&r, "SUB", E, 0);
		tick(&r, 0.5);
		rev = last_rev(&r, incident_of(&r, "SUB@0"));
		ck_assert_uint_eq(json_array_size(json_object_get(rev, "at_risk")), caps[k]);
		json_array_foreach(json_object_get(rev, "at_risk"), j, e) {
			int n = atoi(json_string_value(json_object_get(e, "asset")) + 1);

			ck_assert_msg(due[n] < (int)caps[k], "cap %zu lists D%d due %d", caps[k], n,
				      due[n]);
		}
		run_free(&r);
	}
	tn_graph_free(g);
}
END_TEST

START_TEST(forecast_backup_derived)
{
	struct gb b;
	struct tn_graph *g;
	struct run r;
	struct tn_asset a = {"HOSP", H, "hospital", "H", 51.2, 0, "A", 1, 1000, 600, TN_SENS_PUBLIC};
	struct tn_dependency d = {"HOSP", "SUB", TN_DEP_POWER, -1, -1};
	json_t *risk;

	gb_new(&b);
	gb_asset(&b, "SUB", E, 51.0, 0.0, 2, 20000);
	ck_assert_int_eq(tn_graph_add_asset(b.b, &a, NULL, 0), 0);
	ck_assert_int_eq(tn_graph_add_dependency(b.b, &d, NULL, 0), 0);
	g = gb_build(&b);
	run_init(&r, g);
	down(&r, "SUB", E, 0);
	tick(&r, 1);
	risk = risk_of(json_array_get(r.all, 0), "HOSP");
	ck_assert_str_eq(json_string_value(json_object_get(risk, "eta")), "2026-11-26T13:43:20.000Z");
	ck_assert_str_eq(json_string_value(json_object_get(risk, "eta_latest")), "2026-11-26T13:48:20.000Z");
	down(&r, "HOSP", H, 650);
	finish(&r, 5000);
	ck_assert(same_incident(&r, "SUB@0", "HOSP@650"));
	ck_assert_str_eq(json_string_value(json_object_get(risk_of(last_rev(&r, incident_of(&r, "SUB@0")), "HOSP"), "outcome")), "borne_out");
	run_free(&r);
	tn_graph_free(g);
}
END_TEST

/* ---- priority ------------------------------------------------------------------------ */

START_TEST(priority_ordering)
{
	struct gb b;
	struct tn_graph *g;
	struct run r;
	struct tn_corr_config cfg;
	int ph, pk, pm;

	gb_new(&b);
	gb_asset(&b, "HOSP", H, 51, 0, 1, 50000);
	gb_asset(&b, "KIOSK", F, 52, 0, 5, 10);
	gb_asset(&b, "MAST", C, 53, 0, 3, 2000);
	g = gb_build(&b);
	run_init(&r, g);
	down(&r, "HOSP", H, 0);
	down(&r, "KIOSK", F, 0);
	down(&r, "MAST", C, 0);
	finish(&r, 100);
	ph = (int)json_integer_value(json_object_get(last_rev(&r, incident_of(&r, "HOSP@0")), "priority"));
	pk = (int)json_integer_value(json_object_get(last_rev(&r, incident_of(&r, "KIOSK@0")), "priority"));
	pm = (int)json_integer_value(json_object_get(last_rev(&r, incident_of(&r, "MAST@0")), "priority"));
	ck_assert_int_eq(ph, 1); /* life 2 + population 2 + criticality 1 */
	ck_assert_int_eq(pm, 4); /* population >= 1000 */
	ck_assert_int_eq(pk, 5);
	run_free(&r);

	/* configurable: without the life-safety weight the hospital drops */
	test_cfg(&cfg);
	cfg.w_life = 0;
	cfg.w_pop_high = 0;
	run_init_cfg(&r, &cfg, g);
	down(&r, "HOSP", H, 0);
	finish(&r, 100);
	ck_assert_int_eq(json_integer_value(json_object_get(last_rev(&r, incident_of(&r, "HOSP@0")), "priority")), 4);
	run_free(&r);
	tn_graph_free(g);
}
END_TEST

START_TEST(priority_at_risk_life_safety)
{
	/* a substation whose failure puts a hospital at risk within 15 minutes */
	struct tn_graph *g = chain3();
	struct run r;
	struct tn_corr_config cfg;

	test_cfg(&cfg);
	cfg.pop_high = 1000000;
	cfg.pop_mid = 1000000;
	run_init_cfg(&r, &cfg, g);
	down(&r, "SUB", E, 0);
	tick(&r, 1);
	/* life (HOSP at risk) 2 + imminent 1 = 3 -> 2 */
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(r.all, 0), "priority")), 2);
	run_free(&r);
	tn_graph_free(g);
}
END_TEST

/* ---- watermark, output ---------------------------------------------------------------- */

START_TEST(ticks_do_not_change_output)
{
	struct tn_graph *g = chain3();
	struct tn_corr_config cfg;
	struct run a, b;
	int k;

	tn_corr_config_defaults(&cfg); /* 1 s emit buckets */
	run_init_cfg(&a, &cfg, g);
	run_init_cfg(&b, &cfg, g);
	for (k = 0; k < 2; k++) {
		struct run *r = k ? &b : &a;

		down(r, "SUB", E, 0);
		if (k)
			tn_corr_advance(r->c, T0 + S(50)), run_drain(r);
		down(r, "PUMP", W, 40.5);
		if (k)
			tn_corr_advance(r->c, T0 + S(100)), tn_corr_advance(r->c, T0 + S(101)), run_drain(r);
		down(r, "HOSP", H, 160);
		if (k)
			tn_corr_advance(r->c, T0 + S(300)), run_drain(r);
		up(r, "SUB", E, 400);
		finish(r, 3000);
	}
	ck_assert_str_eq(a.text, b.text);
	ck_assert(strncmp(a.text, "{\"seq\":1,\"incident\":\"INC-", 25) == 0);
	ck_assert_uint_eq(strlen(json_string_value(json_object_get(json_array_get(a.all, 0), "incident"))), 20);
	run_free(&a);
	run_free(&b);
	tn_graph_free(g);
}
END_TEST

START_TEST(json_shape_and_ids)
{
	struct tn_graph *g = chain3();
	struct run r, r2;
	json_t *v;
	const char *keys[] = {"seq", "incident", "rev", "msg", "status", "priority", "title", "cause",
			      "confidence", "root", "sectors", "affected", "at_risk", "area", "opened",
			      "updated", "explain"};
	const char *p;
	size_t i;
	struct tn_corr_config cfg;

	run_init(&r, g);
	down(&r, "SUB", E, 0.25);
	finish(&r, 1000);
	v = json_array_get(r.all, 0);
	/* keys in order */
	p = r.text;
	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		char k[32];
		const char *q;

		snprintf(k, sizeof k, "\"%s\":", keys[i]);
		q = strstr(p, k);
		ck_assert_msg(q != NULL, "key %s missing or out of order", keys[i]);
		p = q;
	}
	ck_assert_str_eq(json_string_value(json_object_get(v, "status")), "actual");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(v, "root"), "time")),
			 "2026-11-26T13:33:20.250Z");
	ck_assert_ptr_nonnull(strstr(r.text, "\"confidence\":1.000,"));
	ck_assert_ptr_null(json_object_get(v, "merged_into"));
	/* the id derives from the root event: a second engine gives the same */
	test_cfg(&cfg);
	ck_assert_int_eq(tn_corr_new(&cfg, g, "storm-2025", &r2.c), 0);
	r2.all = json_array();
	r2.revs = json_object();
	r2.text = calloc(1, 1);
	r2.tlen = 0;
	r2.seq = 0;
	down(&r2, "SUB", E, 0.25);
	finish(&r2, 1000);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(r2.all, 0), "incident")),
			 json_string_value(json_object_get(v, "incident")));
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(r2.all, 0), "status")), "exercise");
	run_free(&r2);
	run_free(&r);
	tn_graph_free(g);
}
END_TEST

START_TEST(json_buffer_too_small)
{
	struct tn_change ch = {.body = "\"x\":1}", .body_len = 6};
	char buf[16];
	size_t len;

	ck_assert_int_eq(tn_change_json(&ch, 7, buf, 8, &len), TN_ERANGE);
	ck_assert_uint_eq(len, 15);
	ck_assert_int_eq(tn_change_json(&ch, 7, buf, sizeof buf, &len), 0);
	ck_assert_str_eq(buf, "{\"seq\":7,\"x\":1}");
}
END_TEST

START_TEST(set_graph_keeps_state)
{
	struct tn_graph *g1 = chain3(), *g2;
	struct gb b;
	struct run r;

	gb_new(&b);
	gb_asset(&b, "NEWONE", E, 40, 0, 3, 1);
	gb_asset(&b, "PUMP", W, 51.1, 0.0, 3, 5000);
	gb_asset(&b, "SUB", E, 51.0, 0.0, 2, 20000);
	gb_dep(&b, "PUMP", "SUB", 0, 120);
	g2 = gb_build(&b);
	run_init(&r, g1);
	down(&r, "SUB", E, 0);
	ck_assert_int_eq(tn_corr_set_graph(r.c, g2), 0);
	down(&r, "PUMP", W, 30);
	finish(&r, 1000);
	ck_assert(same_incident(&r, "SUB@0", "PUMP@30"));
	run_free(&r);
	tn_graph_free(g1);
	tn_graph_free(g2);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("corr_rules");
	TCase *t = tcase_create("rules");

	tcase_set_timeout(t, 60);
	tcase_add_test(t, cascade_multi_hop_window);
	tcase_add_test(t, cascade_depth_limit);
	tcase_add_test(t, cascade_cycle);
	tcase_add_test(t, cascade_diamond);
	tcase_add_test(t, reroot_late_provider_merges);
	tcase_add_test(t, reroot_within_lateness_is_order);
	tcase_add_test(t, reroot_when_failed_counts_are_partial);
	tcase_add_test(t, clock_skew_lower_bound);
	tcase_add_test(t, common_cause_k);
	tcase_add_test(t, common_cause_confirmed);
	tcase_add_test(t, common_cause_withdrawn);
	tcase_add_test(t, colocation);
	tcase_add_test(t, colocation_same_sector_and_unregistered);
	tcase_add_test(t, visibility_heartbeat);
	tcase_add_test(t, visibility_priority_during_cascade);
	tcase_add_test(t, visibility_twice_at_one_deadline);
	tcase_add_test(t, repeats_do_not_grow_the_incident);
	tcase_add_test(t, restore_all_vs_some);
	tcase_add_test(t, alarm_and_duplicate_do_not_fail);
	tcase_add_test(t, forecast_borne_out_or_not);
	tcase_add_test(t, forecast_backup_derived);
	tcase_add_test(t, forecast_outcome_coalesced);
	tcase_add_test(t, forecast_listing_capped);
	tcase_add_test(t, forecast_listing_picks_the_first_due);
	tcase_add_test(t, priority_ordering);
	tcase_add_test(t, priority_at_risk_life_safety);
	tcase_add_test(t, ticks_do_not_change_output);
	tcase_add_test(t, json_shape_and_ids);
	tcase_add_test(t, json_buffer_too_small);
	tcase_add_test(t, set_graph_keeps_state);
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
