/* test_ratelimit.c - token buckets and the per-key table (server/ratelimit.h), on made-up time. */
#include "ratelimit.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tocsin/error.h"

#define S 1000000LL /* microseconds in a second */

START_TEST(starts_full_then_refuses)
{
	struct tn_rate_bucket b;
	tn_rate_init(&b, 100, 50, 1000);
	ck_assert_uint_eq(tn_rate_avail(&b, 1000), 50);
	ck_assert_uint_eq(tn_rate_take(&b, 30, 1000), 30);
	ck_assert_uint_eq(tn_rate_take(&b, 30, 1000), 20); /* partial: what is left */
	ck_assert_uint_eq(tn_rate_take(&b, 1, 1000), 0);
	ck_assert_uint_eq(tn_rate_avail(&b, 1000), 0);
	/* 100/s: one token every 10 ms, none before. */
	ck_assert_int_eq(tn_rate_wait_ms(&b, 1), 10);
	ck_assert_int_eq(tn_rate_wait_ms(&b, 25), 250);
	ck_assert_uint_eq(tn_rate_take(&b, 1, 1000 + 9999), 0);
	ck_assert_uint_eq(tn_rate_take(&b, 1, 1000 + 10000), 1);
	ck_assert_uint_eq(tn_rate_take(&b, 1, 1000 + 10000), 0);
}
END_TEST

START_TEST(refill_caps_at_burst)
{
	struct tn_rate_bucket b;
	tn_rate_init(&b, 1000, 10, 0);
	ck_assert_uint_eq(tn_rate_take(&b, 10, 0), 10);
	/* Half a second would give 500 tokens: the bucket holds 10. */
	ck_assert_uint_eq(tn_rate_avail(&b, S / 2), 10);
	/* Hours idle, the largest rate: no overflow, still the burst. */
	tn_rate_set(&b, TN_RATE_MAX, TN_RATE_MAX, S / 2);
	ck_assert_uint_eq(tn_rate_avail(&b, S / 2 + 10000 * S), TN_RATE_MAX);
	ck_assert_int_eq(tn_rate_wait_ms(&b, 5), 0);
}
END_TEST

START_TEST(exact_over_many_small_steps)
{
	/* 3 events/s asked every microsecond for 10 s: exactly 30 tokens, no
	 * rounding lost however often it is asked (below the burst: what flows
	 * into a full bucket is lost, as it should be). */
	struct tn_rate_bucket b;
	uint32_t got = 0;
	tn_rate_init(&b, 3, 100, 0);
	ck_assert_uint_eq(tn_rate_take(&b, 100, 0), 100);
	for (int64_t t = 1; t <= 10 * S; t += 1)
		got += tn_rate_take(&b, 1, t);
	ck_assert_uint_eq(got, 30);
}
END_TEST

START_TEST(sustained_rate_is_the_rate)
{
	/* A flooder asking for 1000 events every ms for 60 s at 5000/s burst
	 * 10000 gets the burst plus 5000 a second, not one more. */
	struct tn_rate_bucket b;
	uint64_t got = 0;
	tn_rate_init(&b, 5000, 10000, 0);
	for (int64_t t = 0; t <= 60 * S; t += 1000)
		got += tn_rate_take(&b, 1000, t);
	ck_assert_uint_eq(got, 10000 + 60 * 5000);
}
END_TEST

START_TEST(time_backwards_refills_nothing)
{
	struct tn_rate_bucket b;
	tn_rate_init(&b, 10, 10, 5 * S);
	ck_assert_uint_eq(tn_rate_take(&b, 10, 5 * S), 10);
	ck_assert_uint_eq(tn_rate_take(&b, 1, 1 * S), 0);
	/* and the clock of the bucket did not move back: 5.1 s gives one token */
	ck_assert_uint_eq(tn_rate_take(&b, 5, 5 * S + S / 10), 1);
}
END_TEST

START_TEST(unlimited)
{
	struct tn_rate_bucket b;
	tn_rate_init(&b, 0, 5, 0);
	ck_assert_uint_eq(tn_rate_take(&b, 1000000, 0), 1000000);
	ck_assert_uint_eq(tn_rate_avail(&b, 0), UINT32_MAX);
	ck_assert_int_eq(tn_rate_wait_ms(&b, 10), 0);
	/* limited again: starts full at the new burst */
	tn_rate_set(&b, 10, 5, 0);
	ck_assert_uint_eq(tn_rate_take(&b, 100, 0), 5);
}
END_TEST

START_TEST(set_keeps_level_cuts_to_burst)
{
	struct tn_rate_bucket b;
	tn_rate_init(&b, 10, 100, 0);
	ck_assert_uint_eq(tn_rate_take(&b, 100, 0), 100); /* empty */
	/* A new, higher limit does not hand out a full bucket. */
	tn_rate_set(&b, 1000, 1000, 0);
	ck_assert_uint_eq(tn_rate_avail(&b, 0), 0);
	ck_assert_uint_eq(tn_rate_avail(&b, S / 10), 100);
	/* A lower burst cuts what is there. */
	tn_rate_set(&b, 1000, 7, S / 10);
	ck_assert_uint_eq(tn_rate_avail(&b, S / 10), 7);
	/* Zero burst means one. */
	tn_rate_init(&b, 1, 0, 0);
	ck_assert_uint_eq(b.burst, 1);
	ck_assert_uint_eq(tn_rate_take(&b, 2, 0), 1);
	/* Beyond the maximum is the maximum. */
	tn_rate_init(&b, UINT32_MAX, UINT32_MAX, 0);
	ck_assert_uint_eq(b.rate, TN_RATE_MAX);
	ck_assert_uint_eq(b.burst, TN_RATE_MAX);
}
END_TEST

/* ---- the per-key table ---- */

static const char *K[] = {
	"0000000000000000000000000000000000000000", "1111111111111111111111111111111111111111",
	"2222222222222222222222222222222222222222", "3333333333333333333333333333333333333333",
};

START_TEST(table_defaults_and_overrides)
{
	struct tn_rate_table t;
	const char *keys[] = {K[0], K[1], K[2]};
	struct tn_rate_limits lim[] = {{-1, -1}, {20, -1}, {0, 3}};
	ck_assert_int_eq(tn_rate_table_build(NULL, keys, lim, 3, 100, 50, 0, &t), 0);
	ck_assert_uint_eq(t.n, 3);
	ck_assert_uint_eq(t.peers[0].bucket.rate, 100);
	ck_assert_uint_eq(t.peers[0].bucket.burst, 50);
	ck_assert_uint_eq(t.peers[1].bucket.rate, 20);
	ck_assert_uint_eq(t.peers[1].bucket.burst, 50);
	ck_assert_uint_eq(t.peers[2].bucket.rate, 0); /* no limit */
	ck_assert_uint_eq(t.peers[2].bucket.burst, 3);
	ck_assert_ptr_eq(tn_rate_table_find(&t, K[1]), &t.peers[1]);
	ck_assert_ptr_null(tn_rate_table_find(&t, K[3]));
	ck_assert_int_eq(t.peers[0].inflight, 0);
	ck_assert(t.peers[0].audit_us == INT64_MIN);
	tn_rate_table_free(&t);
	ck_assert_ptr_null(t.peers);
	/* An empty registry is a table of none. */
	ck_assert_int_eq(tn_rate_table_build(NULL, NULL, NULL, 0, 100, 50, 0, &t), 0);
	ck_assert_uint_eq(t.n, 0);
	ck_assert_ptr_null(tn_rate_table_find(&t, K[0]));
	tn_rate_table_free(&t);
}
END_TEST

START_TEST(table_rebuild_carries_state)
{
	struct tn_rate_table a, b;
	const char *keys_a[] = {K[0], K[1], K[3]};
	struct tn_rate_limits lim_a[] = {{-1, -1}, {-1, -1}, {-1, -1}};
	ck_assert_int_eq(tn_rate_table_build(NULL, keys_a, lim_a, 3, 100, 100, 0, &a), 0);
	/* K1 drains its bucket and has two frames in flight. */
	ck_assert_uint_eq(tn_rate_take(&a.peers[1].bucket, 100, 0), 100);
	a.peers[1].inflight = 2;
	a.peers[1].audit_us = 7;
	/* New registry: K0 revoked, K2 added, K1 limited to 10/s burst 5, K3 unchanged. */
	const char *keys_b[] = {K[1], K[2], K[3]};
	struct tn_rate_limits lim_b[] = {{10, 5}, {-1, -1}, {-1, -1}};
	ck_assert_int_eq(tn_rate_table_build(&a, keys_b, lim_b, 3, 100, 100, S, &b), 0);
	struct tn_rate_peer *p1 = tn_rate_table_find(&b, K[1]);
	ck_assert_ptr_nonnull(p1);
	ck_assert_uint_eq(p1->inflight, 2);
	ck_assert_int_eq(p1->audit_us, 7);
	ck_assert_uint_eq(p1->bucket.rate, 10);
	/* refilled at the old rate for 1 s (100 tokens), then cut to the new burst */
	ck_assert_uint_eq(tn_rate_avail(&p1->bucket, S), 5);
	ck_assert_ptr_null(tn_rate_table_find(&b, K[0]));
	ck_assert_uint_eq(tn_rate_avail(&tn_rate_table_find(&b, K[2])->bucket, S), 100);
	ck_assert_uint_eq(tn_rate_table_find(&b, K[2])->inflight, 0);
	/* the old table is untouched */
	ck_assert_uint_eq(a.peers[1].inflight, 2);
	ck_assert_str_eq(a.peers[0].key, K[0]);
	tn_rate_table_free(&a);
	tn_rate_table_free(&b);
}
END_TEST

START_TEST(keep_budget_per_second)
{
	struct tn_rate_peer p;
	memset(&p, 0, sizeof p);
	for (int i = 0; i < 5; i++)
		ck_assert(tn_rate_keep(&p, 10, 5));
	ck_assert(!tn_rate_keep(&p, 10, 5));
	ck_assert(tn_rate_keep(&p, 11, 5));
}
END_TEST

static Suite *ratelimit_suite(void)
{
	Suite *s = suite_create("ratelimit");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, starts_full_then_refuses);
	tcase_add_test(tc, refill_caps_at_burst);
	tcase_add_test(tc, exact_over_many_small_steps);
	tcase_add_test(tc, sustained_rate_is_the_rate);
	tcase_add_test(tc, time_backwards_refills_nothing);
	tcase_add_test(tc, unlimited);
	tcase_add_test(tc, set_keeps_level_cuts_to_burst);
	tcase_add_test(tc, table_defaults_and_overrides);
	tcase_add_test(tc, table_rebuild_carries_state);
	tcase_add_test(tc, keep_budget_per_second);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ratelimit_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
