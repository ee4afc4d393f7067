/* test_log.c - log records, quoting of peer values, rate limiting (common/log.h). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* Run fn with stderr redirected to a temporary file; return what it wrote. */
static char captured[8192];

static const char *capture(void (*fn)(void))
{
	FILE *tmp = tmpfile();
	ck_assert_ptr_nonnull(tmp);
	int saved = dup(STDERR_FILENO);
	dup2(fileno(tmp), STDERR_FILENO);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	size_t n = fread(captured, 1, sizeof captured - 1, tmp);
	captured[n] = 0;
	fclose(tmp);
	return captured;
}

static void one_record(void)
{
	tn_log(TN_LOG_WARN, "adapter refused", "key=%s address=%s", "abc", "127.0.0.1");
}

START_TEST(record_format)
{
	tn_log_set_level(TN_LOG_INFO);
	const char *out = capture(one_record);
	ck_assert_msg(strncmp(out, "ts=", 3) == 0, "%s", out);
	ck_assert_ptr_nonnull(strstr(out, " level=warn msg=\"adapter refused\" key=abc address=127.0.0.1\n"));
	/* exactly one line */
	ck_assert_ptr_eq(strchr(out, '\n'), out + strlen(out) - 1);
}
END_TEST

static void below_level(void)
{
	tn_log(TN_LOG_DEBUG, "not shown", NULL);
	tn_log(TN_LOG_INFO, "shown", NULL);
}

START_TEST(level_filters)
{
	tn_log_set_level(TN_LOG_INFO);
	const char *out = capture(below_level);
	ck_assert_ptr_null(strstr(out, "not shown"));
	ck_assert_ptr_nonnull(strstr(out, "msg=\"shown\""));
	ck_assert_int_eq(tn_log_level_parse("warn"), TN_LOG_WARN);
	ck_assert_int_eq(tn_log_level_parse("loud"), -1);
}
END_TEST

START_TEST(quoting)
{
	ck_assert_str_eq(tn_logq("plain"), "plain");
	ck_assert_str_eq(tn_logq("say \"hi\""), "say \\\"hi\\\"");
	ck_assert_str_eq(tn_logq("a\\b"), "a\\\\b");
	ck_assert_str_eq(tn_logq("two\nlines"), "two\\nlines");
	ck_assert_str_eq(tn_logq("bell\a"), "bell\\x07");
	ck_assert_str_eq(tn_logq(NULL), "-");

	/* Long values are cut, and say so. */
	char big[1000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = 0;
	const char *q = tn_logq(big);
	ck_assert_uint_le(strlen(q), 262);
	ck_assert_str_eq(q + strlen(q) - 3, "...");

	/* Four buffers: four results may be used in one call. */
	const char *a = tn_logq("1"), *b = tn_logq("2"), *c = tn_logq("3"), *d = tn_logq("4");
	ck_assert_str_eq(a, "1");
	ck_assert_str_eq(b, "2");
	ck_assert_str_eq(c, "3");
	ck_assert_str_eq(d, "4");
}
END_TEST

static struct tn_log_slot slot;

static void flood(void)
{
	for (int i = 0; i < 100; i++)
		tn_log_limited(&slot, 5, TN_LOG_INFO, "flood", "i=%d", i);
}

START_TEST(rate_limited)
{
	tn_log_set_level(TN_LOG_INFO);
	memset(&slot, 0, sizeof slot);
	const char *out = capture(flood);
	int lines = 0;
	for (const char *p = out; *p; p++)
		lines += *p == '\n';
	/* 100 in well under a second (or, at worst, across one boundary). */
	ck_assert_int_le(lines, 10);
	ck_assert_int_ge(lines, 5);
	ck_assert_uint_ge(slot.suppressed + (uint64_t)lines, 100 - 5);
}
END_TEST

static void unquoted_newline(void)
{
	/* a caller that forgot tn_logq on a peer's value */
	tn_log(TN_LOG_WARN, "peer said", "what=\"%s\"", "line one\nlevel=error msg=\"forged\"\r\x01");
}

START_TEST(always_one_line)
{
	tn_log_set_level(TN_LOG_INFO);
	const char *out = capture(unquoted_newline);
	ck_assert_ptr_eq(strchr(out, '\n'), out + strlen(out) - 1);
	ck_assert_msg(strstr(out, "what=\"line one\\nlevel=error msg=\"forged\"\\r\\x01\"\n") != NULL,
		      "%s", out);
	ck_assert_ptr_null(strstr(out, "truncated"));
}
END_TEST

static void long_record(void)
{
	static char big[5000];
	memset(big, 'x', sizeof big - 1);
	tn_log_limited(&slot, 1000, TN_LOG_INFO, "long", "v=%s end=1", big);
}

START_TEST(long_records_say_so)
{
	tn_log_set_level(TN_LOG_INFO);
	memset(&slot, 0, sizeof slot);
	slot.suppressed = 7; /* reported even on a cut record */
	slot.window_s = -1;
	const char *out = capture(long_record);
	ck_assert_ptr_eq(strchr(out, '\n'), out + strlen(out) - 1);
	ck_assert_uint_le(strlen(out), 2048);
	ck_assert_ptr_null(strstr(out, "end=1"));
	size_t n = strlen(out);
	const char *tail = " suppressed=7 truncated=true\n";
	ck_assert_uint_gt(n, strlen(tail));
	ck_assert_str_eq(out + n - strlen(tail), tail);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("log");
	tcase_add_test(tc, record_format);
	tcase_add_test(tc, level_filters);
	tcase_add_test(tc, quoting);
	tcase_add_test(tc, rate_limited);
	tcase_add_test(tc, always_one_line);
	tcase_add_test(tc, long_records_say_so);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
