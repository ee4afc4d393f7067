/*
 * test_drill.c - what-if registries (tools/drill_registry.h): removing an
 * asset or a dependency keeps the order of everything else (each asset's
 * providers and dependents lists, which the engine's tie-breaks follow), and
 * every malformed or unknown item is refused with a message naming it.
 *
 * The tools are not a library: the source is compiled in here.
 */
#include "../../tools/drill_registry.c"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry_csv.h"

static struct tn_graph *demo;

static void setup(void)
{
	struct tn_csv_errors e;

	tn_csv_errors_init(&e);
	ck_assert_int_eq(tn_registry_csv_load("tests/data/demo-city/assets.csv",
					      "tests/data/demo-city/dependencies.csv", &demo, &e),
			 0);
	tn_csv_errors_free(&e);
}

static void teardown(void)
{
	tn_graph_free(demo);
}

/* The id of the far end of each edge of a list, with its kind and delays. */
static void list_text(const struct tn_graph *g, const struct tn_graph_edge *e, size_t n, char *out,
		      size_t cap)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && used < cap; i++)
		used += (size_t)snprintf(out + used, cap - used, "%s/%d/%d/%d ",
					 tn_graph_asset(g, e[i].other)->id, e[i].kind,
					 e[i].delay_min_s, e[i].delay_max_s);
}

/*
 * b is a with the assets `gone` (NULL-terminated) and the edge lo>hi
 * (provider>dependent, may be NULL) removed: every remaining list is a's,
 * in a's order, less what was removed.
 */
static void same_but(const struct tn_graph *a, const struct tn_graph *b, const char *const *gone,
		     const char *prov, const char *dep)
{
	static char ta[65536], tb[65536];

	for (uint32_t i = 0; i < tn_graph_size(a); i++) {
		const char *id = tn_graph_asset(a, i)->id;
		bool removed = false;

		for (size_t k = 0; gone[k]; k++)
			removed |= strcmp(gone[k], id) == 0;
		if (removed) {
			ck_assert_uint_eq(tn_graph_find(b, id), TN_GRAPH_NONE);
			continue;
		}
		uint32_t j = tn_graph_find(b, id);
		ck_assert_uint_ne(j, TN_GRAPH_NONE);
		for (int dir = 0; dir < 2; dir++) {
			const struct tn_graph_edge *ea, *eb;
			size_t na = dir ? tn_graph_dependents(a, i, &ea) : tn_graph_providers(a, i, &ea);
			size_t nb = dir ? tn_graph_dependents(b, j, &eb) : tn_graph_providers(b, j, &eb);
			struct tn_graph_edge kept[512];
			size_t nk = 0;

			for (size_t x = 0; x < na; x++) {
				const char *o = tn_graph_asset(a, ea[x].other)->id;
				bool drop = false;

				for (size_t k = 0; gone[k]; k++)
					drop |= strcmp(gone[k], o) == 0;
				if (prov && strcmp(dir ? o : id, dep) == 0 &&
				    strcmp(dir ? id : o, prov) == 0)
					drop = true;
				if (!drop) {
					kept[nk] = ea[x];
					kept[nk++].other = tn_graph_find(b, o);
				}
			}
			list_text(b, kept, nk, ta, sizeof ta);
			list_text(b, eb, nb, tb, sizeof tb);
			ck_assert_msg(strcmp(ta, tb) == 0, "%s %s:\n want %s\n got  %s", id,
				      dir ? "dependents" : "providers", ta, tb);
		}
	}
}

START_TEST(nothing_removed_is_the_same_graph)
{
	struct tn_graph *g;
	size_t ra = 9, re = 9;

	/* an empty list: the same graph, every list in the same order */
	ck_assert_int_eq(tn__registry_without(demo, "", stderr, &g, &ra, &re), 0);
	ck_assert_uint_eq(ra, 0);
	ck_assert_uint_eq(re, 0);
	ck_assert_uint_eq(tn_graph_size(g), tn_graph_size(demo));
	ck_assert_uint_eq(tn_graph_edges(g), tn_graph_edges(demo));
	const char *gone[] = {NULL};
	same_but(demo, g, gone, NULL, NULL);
	tn_graph_free(g);
}
END_TEST

START_TEST(an_asset_and_its_edges)
{
	struct tn_graph *g;
	size_t ra, re;
	const char *gone[] = {"EXCH-ALD-EAST", NULL};

	ck_assert_int_eq(tn__registry_without(demo, "EXCH-ALD-EAST", stderr, &g, &ra, &re), 0);
	ck_assert_uint_eq(ra, 1);
	ck_assert_uint_eq(tn_graph_edges(g), tn_graph_edges(demo) - re);
	ck_assert_uint_gt(re, 10);
	same_but(demo, g, gone, NULL, NULL);
	tn_graph_free(g);
}
END_TEST

START_TEST(one_dependency_and_a_kind)
{
	struct tn_graph *g;
	size_t ra, re;
	const char *none[] = {NULL};

	ck_assert_int_eq(
		tn__registry_without(demo, "SUB-ALD-SEC-032>CARE-ALD-10", stderr, &g, &ra, &re), 0);
	ck_assert_uint_eq(ra, 0);
	ck_assert_uint_eq(re, 1);
	same_but(demo, g, none, "SUB-ALD-SEC-032", "CARE-ALD-10");
	tn_graph_free(g);

	ck_assert_int_eq(tn__registry_without(demo, "SUB-ALD-SEC-032>CARE-ALD-10/power,DEF-ALD-ARC",
					      stderr, &g, &ra, &re),
			 0);
	ck_assert_uint_eq(ra, 1);
	ck_assert_uint_eq(re, 2); /* the reserve centre's one power supply too */
	tn_graph_free(g);
}
END_TEST

START_TEST(bad_items_refused)
{
	static const struct {
		const char *spec, *msg;
		int rc;
	} cases[] = {
		{"NOPE", "no asset NOPE in the registry", TN_ENOTFOUND},
		{"SUB-ALD-PRI-07>NOPE", "no asset NOPE", TN_ENOTFOUND},
		{"SUB-ALD-PRI-07>HOSP-ALD-GEN", "no dependency SUB-ALD-PRI-07>HOSP-ALD-GEN",
		 TN_ENOTFOUND},
		{"SUB-ALD-SEC-032>CARE-ALD-10/water", "no dependency", TN_ENOTFOUND},
		{"SUB-ALD-SEC-032>CARE-ALD-10/wine", "expected a dependency kind", TN_EINVAL},
		{"a b", "expected an asset id, got \"a b\"", TN_EINVAL},
		{"DEF-ALD-ARC,,", "expected an asset id, got \"\"", TN_EINVAL},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct tn_graph *g = (void *)1;
		char *buf = NULL;
		size_t len = 0;
		FILE *e = open_memstream(&buf, &len);

		ck_assert_int_eq(tn__registry_without(demo, cases[i].spec, e, &g, NULL, NULL),
				 cases[i].rc);
		fclose(e);
		ck_assert_ptr_null(g);
		ck_assert_msg(strstr(buf, cases[i].msg), "%s: %s", cases[i].spec, buf);
		free(buf);
	}
}
END_TEST

static Suite *drill_suite(void)
{
	Suite *s = suite_create("drill");
	TCase *tc = tcase_create("without");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, nothing_removed_is_the_same_graph);
	tcase_add_test(tc, an_asset_and_its_edges);
	tcase_add_test(tc, one_dependency_and_a_kind);
	tcase_add_test(tc, bad_items_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(drill_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
