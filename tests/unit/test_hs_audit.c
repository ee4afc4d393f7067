/* test_hs_audit.c - failed handshakes audited per address per minute, bounded (hs_audit.h). */
#include "hs_audit.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct got {
	int n;
	struct {
		char addr[TN__HS_ADDR_LEN], reason[96];
		uint32_t count;
		bool summary, others;
	} row[512];
};

static void emit(void *ud, const struct tn__hs_row *r)
{
	struct got *g = ud;
	ck_assert_int_lt(g->n, 512);
	snprintf(g->row[g->n].addr, TN__HS_ADDR_LEN, "%s", r->addr ? r->addr : "");
	snprintf(g->row[g->n].reason, 96, "%s", r->reason ? r->reason : "");
	g->row[g->n].count = r->count;
	g->row[g->n].summary = r->summary;
	g->row[g->n].others = r->addr == NULL;
	g->n++;
}

START_TEST(first_at_once_rest_summed_at_the_window_end)
{
	struct tn__hs_table t;
	struct got g = {0};

	tn__hs_init(&t, 100);
	ck_assert(tn__hs_note(&t, 100, "10.0.0.1", "mechanism mismatch", emit, &g));
	ck_assert_int_eq(g.n, 1);
	ck_assert_str_eq(g.row[0].addr, "10.0.0.1");
	ck_assert_str_eq(g.row[0].reason, "mechanism mismatch");
	ck_assert_int_eq(g.row[0].count, 1);
	ck_assert(!g.row[0].summary);
	for (int i = 0; i < 999; i++)
		ck_assert(tn__hs_note(&t, 100, "10.0.0.1", "mechanism mismatch", emit, &g));
	ck_assert(tn__hs_note(&t, 100, "", "timeout", emit, &g)); /* unknown address */
	ck_assert_int_eq(g.n, 2);
	ck_assert_str_eq(g.row[1].addr, "unknown");
	/* the same address, another reason: a row of its own */
	ck_assert(tn__hs_note(&t, 100, "10.0.0.1", "garbage", emit, &g));
	ck_assert_int_eq(g.n, 3);
	ck_assert_str_eq(g.row[2].reason, "garbage");
	tn__hs_tick(&t, 100, emit, &g); /* same window: nothing */
	ck_assert_int_eq(g.n, 3);
	tn__hs_tick(&t, 101, emit, &g);
	/* one summary: 999 more mismatches from 10.0.0.1 (the others failed once) */
	ck_assert_int_eq(g.n, 4);
	ck_assert_str_eq(g.row[3].addr, "10.0.0.1");
	ck_assert_str_eq(g.row[3].reason, "mechanism mismatch");
	ck_assert_int_eq(g.row[3].count, 999);
	ck_assert(g.row[3].summary);
	/* a new window: the first failure is audited again */
	ck_assert(tn__hs_note(&t, 101, "10.0.0.1", "garbage", emit, &g));
	ck_assert_int_eq(g.n, 5);
	ck_assert(!g.row[4].summary);
}
END_TEST

START_TEST(a_flood_of_addresses_is_bounded)
{
	struct tn__hs_table t;
	struct got g = {0};
	char a[32];
	int dropped = 0;

	tn__hs_init(&t, 7);
	for (int i = 0; i < 10000; i++) {
		snprintf(a, sizeof a, "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
		dropped += !tn__hs_note(&t, 7, a, "x", emit, &g);
	}
	ck_assert_int_eq(g.n, TN__HS_ADDRS);
	ck_assert_int_eq(dropped, 10000 - TN__HS_ADDRS);
	/* the window's end through a note of the next window: the others' row */
	ck_assert(tn__hs_note(&t, 8, "10.0.0.0", "x", emit, &g));
	ck_assert_int_eq(g.n, TN__HS_ADDRS + 2);
	ck_assert(g.row[TN__HS_ADDRS].others);
	ck_assert_int_eq(g.row[TN__HS_ADDRS].count, 10000 - TN__HS_ADDRS);
	ck_assert(g.row[TN__HS_ADDRS].summary);
	ck_assert_str_eq(g.row[TN__HS_ADDRS + 1].addr, "10.0.0.0");
	ck_assert(!g.row[TN__HS_ADDRS + 1].summary);
}
END_TEST

START_TEST(long_addresses_are_cut)
{
	struct tn__hs_table t;
	struct got g = {0};
	char a[200];

	memset(a, 'a', sizeof a - 1);
	a[sizeof a - 1] = '\0';
	tn__hs_init(&t, 0);
	ck_assert(tn__hs_note(&t, 0, a, "x", emit, &g));
	ck_assert(tn__hs_note(&t, 0, a, "x", emit, &g)); /* the same, cut the same way */
	ck_assert_int_eq(g.n, 1);
	ck_assert_int_eq(strlen(g.row[0].addr), TN__HS_ADDR_LEN - 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hs_audit");
	TCase *tc = tcase_create("table");
	tcase_add_test(tc, first_at_once_rest_summed_at_the_window_end);
	tcase_add_test(tc, a_flood_of_addresses_is_bounded);
	tcase_add_test(tc, long_addresses_are_cut);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
