/*
 * test_corr_cbuf.c - the engine's output buffer: the hand-written time and
 * number formatting must give exactly what printf gave (revisions are
 * canonical: the same state, the same bytes, across versions too), and a
 * failed allocation must leave the buffer flagged, never torn.
 */
#include "../../correlator/corr_internal.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* What tn__cbuf_time wrote before it was written by hand. */
static void reference_time(int64_t us, char *out, size_t cap)
{
	int64_t ms = us >= 0 ? us / 1000 : -((-us + 999) / 1000);
	time_t s = (time_t)(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
	struct tm tm;

	gmtime_r(&s, &tm);
	snprintf(out, cap, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)(ms - (int64_t)s * 1000));
}

static uint64_t next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

START_TEST(time_matches_printf)
{
	/* Fixed edges (epoch, leap days, year ends, 9999) and random times from
	 * 1970 to 9999, consecutive ones often on the same day (the cache). */
	static const int64_t edges[] = {0, 999, 1000, 86399999999, 86400000000,
					951782400000000,   /* 2000-02-29 */
					4107542399999999,  /* 2100-02-28T23:59:59.999 */
					1795700000123456, 253402300799999999};
	struct tn__cbuf b = {0};
	uint64_t seed = 42;
	char want[64];
	size_t i;

	for (i = 0; i < sizeof edges / sizeof edges[0] + 200000; i++) {
		int64_t us = i < sizeof edges / sizeof edges[0]
				     ? edges[i]
				     : (int64_t)(next(&seed) % UINT64_C(253402300800000000));

		if (i % 3 == 1) /* same day as the previous one */
			us = us - us % 86400000000 + (int64_t)(next(&seed) % 86400000000);
		b.len = 0;
		tn__cbuf_time(&b, us);
		reference_time(us, want, sizeof want);
		ck_assert_msg(!b.oom && strcmp(b.p, want) == 0, "%" PRId64 ": %s, want %s", us,
			      b.p, want);
	}
	free(b.p);
}
END_TEST

START_TEST(u64_matches_printf)
{
	static const uint64_t v[] = {0, 9, 10, 99, 100, 4294967295u, 4294967296u, UINT64_MAX};
	struct tn__cbuf b = {0};
	char want[32];
	size_t i;

	for (i = 0; i < sizeof v / sizeof v[0]; i++) {
		b.len = 0;
		tn__cbuf_u64(&b, v[i]);
		snprintf(want, sizeof want, "%" PRIu64, v[i]);
		ck_assert_str_eq(b.p, want);
	}
	free(b.p);
}
END_TEST

START_TEST(json_escapes)
{
	struct tn__cbuf b = {0};

	tn__cbuf_json(&b, "a\"b\\c\n\x01z");
	ck_assert_str_eq(b.p, "\"a\\\"b\\\\c\\u000a\\u0001z\"");
	free(b.p);
}
END_TEST

/* What tn__cbuf_json wrote before it checked eight bytes at a time. */
static void reference_json(const char *s, char *out)
{
	*out++ = '"';
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			*out++ = '\\';
			*out++ = (char)ch;
		} else if (ch < 0x20) {
			out += sprintf(out, "\\u%04x", ch);
		} else {
			*out++ = (char)ch;
		}
	}
	*out++ = '"';
	*out = '\0';
}

/* Random strings of 0-40 bytes, mostly clean, with a byte that needs an
 * escape (or a byte near one: 0x1f/0x20, 0x21/0x23, 0x5b/0x5d, >= 0x80) at
 * every position of the eight-byte words. */
START_TEST(json_matches_reference)
{
	static const unsigned char odd[] = {0x01, 0x1f, 0x20, 0x21, '"', 0x23, 0x5b, '\\',
					    0x5d, 0x7f, 0x80, 0xa2, 0xdc, 0xff, '\n', '\t'};
	uint64_t x = 99;
	char s[48], want[48 * 6 + 3];

	for (int i = 0; i < 100000; i++) {
		struct tn__cbuf b = {0};
		size_t n = next(&x) % 41, k;

		for (k = 0; k < n; k++)
			s[k] = (char)('a' + next(&x) % 26);
		s[n] = '\0';
		for (k = next(&x) % 3; k > 0 && n > 0; k--)
			s[next(&x) % n] = (char)odd[next(&x) % sizeof odd];
		reference_json(s, want);
		tn__cbuf_json(&b, s);
		ck_assert_msg(b.p && strcmp(b.p, want) == 0, "%s: got %s", want, b.p ? b.p : "");
		free(b.p);
	}
}
END_TEST

START_TEST(grows_and_stays_whole)
{
	struct tn__cbuf b = {0};
	char piece[100];
	size_t i;

	memset(piece, 'x', sizeof piece);
	for (i = 0; i < 10000; i++)
		tn__cbuf_put(&b, piece, sizeof piece);
	ck_assert(!b.oom);
	ck_assert_uint_eq(b.len, 1000000);
	ck_assert_uint_eq(strlen(b.p), 1000000);
	free(b.p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("corr_cbuf");
	TCase *t = tcase_create("cbuf");
	SRunner *sr;
	int failed;

	/* 200,000 times against gmtime_r and snprintf: seconds under ASan on a busy machine */
	tcase_set_timeout(t, 60);
	tcase_add_test(t, time_matches_printf);
	tcase_add_test(t, u64_matches_printf);
	tcase_add_test(t, json_escapes);
	tcase_add_test(t, json_matches_reference);
	tcase_add_test(t, grows_and_stays_whole);
	suite_add_tcase(s, t);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
