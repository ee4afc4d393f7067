/* test_metrics_fmt.c - the Prometheus text format writer (server/metrics_fmt.h), the
 * histograms it renders (server/stat.h) and the at-risk figure of a revision's body. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_fmt.h"
#include "stat.h"

static struct tn_mbuf b;

static void setup(void)
{
	tn_mbuf_init(&b, 1 << 20);
}

static void teardown(void)
{
	tn_mbuf_free(&b);
}

START_TEST(family_and_samples)
{
	tn_mfmt_family(&b, "tocsin_x_total", "counter", "things that happened");
	struct tn_mlabel l[] = {{"adapter", "ukpn"}, {"code", "E_SCHEMA"}};
	tn_mfmt_u64(&b, "tocsin_x_total", l, 2, 18446744073709551615ull);
	tn_mfmt_u64(&b, "tocsin_x_total", NULL, 0, 0);
	tn_mfmt_family(&b, "tocsin_y", "gauge", "a level");
	tn_mfmt_f64(&b, "tocsin_y", NULL, 0, 0.25);
	ck_assert(!b.bad && !b.overflow);
	ck_assert_str_eq(b.data, "# HELP tocsin_x_total things that happened\n"
				 "# TYPE tocsin_x_total counter\n"
				 "tocsin_x_total{adapter=\"ukpn\",code=\"E_SCHEMA\"} "
				 "18446744073709551615\n"
				 "tocsin_x_total 0\n"
				 "# HELP tocsin_y a level\n"
				 "# TYPE tocsin_y gauge\n"
				 "tocsin_y 0.25\n");
	ck_assert_uint_eq(b.len, strlen(b.data));
}
END_TEST

START_TEST(label_values_escaped)
{
	struct tn_mlabel l = {"adapter", "a\\b\"c\nd"};
	tn_mfmt_u64(&b, "m", &l, 1, 1);
	ck_assert_str_eq(b.data, "m{adapter=\"a\\\\b\\\"c\\nd\"} 1\n");

	/* UTF-8 and other bytes pass as they are */
	tn_mbuf_free(&b);
	tn_mbuf_init(&b, 1 << 20);
	struct tn_mlabel u = {"area", "Bourne\xc3\xa9 {x}=,"};
	tn_mfmt_u64(&b, "m", &u, 1, 2);
	ck_assert_str_eq(b.data, "m{area=\"Bourne\xc3\xa9 {x}=,\"} 2\n");

	/* a long value (over the formatter's stack buffer) in full */
	char big[1000];
	memset(big, '"', sizeof big - 1);
	big[sizeof big - 1] = 0;
	tn_mbuf_free(&b);
	tn_mbuf_init(&b, 1 << 20);
	struct tn_mlabel g = {"v", big};
	tn_mfmt_u64(&b, "m", &g, 1, 3);
	ck_assert_uint_eq(b.len, strlen("m{v=\"\"} 3\n") + 2 * (sizeof big - 1));

	char out[8];
	ck_assert_uint_eq(tn_mfmt_escape_label("ab\"\n", out, sizeof out), 6);
	ck_assert_str_eq(out, "ab\\\"\\n");
	ck_assert_uint_eq(tn_mfmt_escape_label("abcdefgh\"", out, sizeof out), 10);
	ck_assert_str_eq(out, "abcdefg"); /* cut short, terminated */
}
END_TEST

START_TEST(help_escaped)
{
	tn_mfmt_family(&b, "m", "gauge", "back\\slash and\nnewline \"quotes\" kept");
	ck_assert_str_eq(b.data, "# HELP m back\\\\slash and\\nnewline \"quotes\" kept\n"
				 "# TYPE m gauge\n");
}
END_TEST

START_TEST(bad_names_refused)
{
	tn_mfmt_family(&b, "9lives", "counter", "x");
	ck_assert(b.bad);
	ck_assert_uint_eq(b.len, 0);
	b.bad = false;
	tn_mfmt_family(&b, "ok_name", "summary", "unsupported type");
	ck_assert(b.bad);
	b.bad = false;
	struct tn_mlabel l = {"le:x", "1"}; /* colons only in metric names */
	tn_mfmt_u64(&b, "ok:name", &l, 1, 1);
	ck_assert(b.bad);
	ck_assert_uint_eq(b.len, 0);
	b.bad = false;
	struct tn_mlabel n = {"x", NULL};
	tn_mfmt_u64(&b, "m", &n, 1, 1);
	ck_assert(b.bad);
	b.bad = false;
	tn_mfmt_u64(&b, "has space", NULL, 0, 1);
	ck_assert(b.bad);
	ck_assert_uint_eq(b.len, 0);
}
END_TEST

START_TEST(values)
{
	char s[40];
	tn_mfmt_double(NAN, s, sizeof s);
	ck_assert_str_eq(s, "NaN");
	tn_mfmt_double(INFINITY, s, sizeof s);
	ck_assert_str_eq(s, "+Inf");
	tn_mfmt_double(-INFINITY, s, sizeof s);
	ck_assert_str_eq(s, "-Inf");
	tn_mfmt_double(10, s, sizeof s);
	ck_assert_str_eq(s, "10");
	tn_mfmt_double(-3, s, sizeof s);
	ck_assert_str_eq(s, "-3");
	tn_mfmt_double(0.0001, s, sizeof s);
	ck_assert_str_eq(s, "0.0001");
	tn_mfmt_double(0.1 + 0.2, s, sizeof s); /* shortest text that reads back the same */
	ck_assert_str_eq(s, "0.30000000000000004");
	ck_assert(strtod(s, NULL) == 0.1 + 0.2);
	tn_mfmt_double(1e300, s, sizeof s);
	ck_assert_str_eq(s, "1e+300");
}
END_TEST

START_TEST(histogram)
{
	const double bounds[] = {0.001, 0.01, 1};
	const uint64_t counts[] = {2, 0, 5, 1}; /* the last: above 1 */
	struct tn_mlabel l = {"stage", "store"};
	tn_mfmt_family(&b, "h_seconds", "histogram", "durations");
	tn_mfmt_hist(&b, "h_seconds", &l, 1, bounds, counts, 3, 7.5);
	ck_assert(!b.bad && !b.overflow);
	ck_assert_str_eq(b.data, "# HELP h_seconds durations\n"
				 "# TYPE h_seconds histogram\n"
				 "h_seconds_bucket{stage=\"store\",le=\"0.001\"} 2\n"
				 "h_seconds_bucket{stage=\"store\",le=\"0.01\"} 2\n"
				 "h_seconds_bucket{stage=\"store\",le=\"1\"} 7\n"
				 "h_seconds_bucket{stage=\"store\",le=\"+Inf\"} 8\n"
				 "h_seconds_sum{stage=\"store\"} 7.5\n"
				 "h_seconds_count{stage=\"store\"} 8\n");

	/* no labels: le alone */
	tn_mbuf_free(&b);
	tn_mbuf_init(&b, 1 << 20);
	const uint64_t none[] = {0, 0, 0, 0};
	tn_mfmt_hist(&b, "h", NULL, 0, bounds, none, 3, 0);
	ck_assert_str_eq(b.data, "h_bucket{le=\"0.001\"} 0\nh_bucket{le=\"0.01\"} 0\n"
				 "h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n");
}
END_TEST

START_TEST(stat_histogram_buckets)
{
	struct tn__hist h, r;
	memset(&h, 0, sizeof h);
	tn__hist_observe(&h, 0);             /* <= 100us */
	tn__hist_observe(&h, 100000);        /* the bound itself is in its bucket */
	tn__hist_observe(&h, 100001);        /* next */
	tn__hist_observe(&h, 3000000);       /* <= 5ms */
	tn__hist_observe(&h, 20000000000ull); /* beyond 10 s: +Inf */
	tn__hist_read(&h, &r);
	ck_assert_uint_eq(r.bucket[0], 2);
	ck_assert_uint_eq(r.bucket[1], 1);
	ck_assert_uint_eq(r.bucket[5], 1);
	ck_assert_uint_eq(r.bucket[TN__HIST_N], 1);
	uint64_t total = 0;
	for (int i = 0; i <= TN__HIST_N; i++)
		total += r.bucket[i];
	ck_assert_uint_eq(total, 5);
	ck_assert_uint_eq(r.sum_ns, 100000 + 100001 + 3000000 + 20000000000ull);
	for (int i = 1; i < TN__HIST_N; i++)
		ck_assert_uint_gt(tn__hist_bounds_ns[i], tn__hist_bounds_ns[i - 1]);
}
END_TEST

START_TEST(bounded)
{
	tn_mbuf_free(&b);
	tn_mbuf_init(&b, 64);
	tn_mfmt_u64(&b, "a_metric_name", NULL, 0, 1); /* 16 bytes */
	ck_assert(!b.overflow);
	for (int i = 0; i < 10; i++)
		tn_mfmt_u64(&b, "a_metric_name", NULL, 0, 1);
	ck_assert(b.overflow);
	ck_assert_uint_lt(b.len, 64);
	ck_assert_uint_eq(b.len, strlen(b.data));
}
END_TEST

START_TEST(at_risk_of_body)
{
	const char *body = "{\"seq\":3,\"incident\":\"INC-1\",\"at_risk\":[],"
			   "\"at_risk_count\":{\"pending\":12,\"borne_out\":1,\"not_borne_out\":0},"
			   "\"area\":\"E1\"}";
	ck_assert_uint_eq(tn__body_at_risk(body, strlen(body)), 12);
	ck_assert_uint_eq(tn__body_at_risk("{\"incident\":\"x\"}", 16), 0);
	/* the length bounds the search: no reading past it */
	ck_assert_uint_eq(tn__body_at_risk(body, 40), 0);
	const char *huge = "\"at_risk_count\":{\"pending\":99999999999}";
	ck_assert_uint_eq(tn__body_at_risk(huge, strlen(huge)), UINT32_MAX);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("metrics_fmt");
	TCase *tc = tcase_create("metrics_fmt");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, family_and_samples);
	tcase_add_test(tc, label_values_escaped);
	tcase_add_test(tc, help_escaped);
	tcase_add_test(tc, bad_names_refused);
	tcase_add_test(tc, values);
	tcase_add_test(tc, histogram);
	tcase_add_test(tc, stat_histogram_buckets);
	tcase_add_test(tc, bounded);
	tcase_add_test(tc, at_risk_of_body);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
