/* test_duration.c - `90s`, `30m`, `24h`, `7d` and every way to get one wrong (duration.h). */
#include "duration.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "tocsin/error.h"

START_TEST(units)
{
	static const struct {
		const char *in;
		int64_t s;
	} ok[] = {
		{"90s", 90},     {"30m", 1800},      {"24h", 86400},
		{"7d", 604800},  {"0", 0},           {"0s", 0},
		{"1s", 1},       {"3650d", 3650LL * 86400}, {"87600h", 87600LL * 3600},
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		int64_t v = -1;
		ck_assert_msg(tn__duration_parse(ok[i].in, &v) == 0, "%s refused", ok[i].in);
		ck_assert_int_eq(v, ok[i].s);
	}
}
END_TEST

START_TEST(refusals_leave_the_output_alone)
{
	static const char *const bad[] = {
		"",       "s",     "30",  "-5m",  "+5m",   " 5m",  "5m ",  "5 m",  "5M",
		"5w",     "5ms",   "5mm", "1.5h", "3651d", "87601h", "999999999999999999999d",
		"5h30m",  "0x10s", "d",   "1e3s",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int64_t v = 42;
		ck_assert_msg(tn__duration_parse(bad[i], &v) == TN_EINVAL, "\"%s\" accepted", bad[i]);
		ck_assert_int_eq(v, 42);
	}
	int64_t v = 42;
	ck_assert_int_eq(tn__duration_parse(NULL, &v), TN_EINVAL);
	ck_assert_int_eq(v, 42);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("duration");
	TCase *tc = tcase_create("parse");
	tcase_add_test(tc, units);
	tcase_add_test(tc, refusals_leave_the_output_alone);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
