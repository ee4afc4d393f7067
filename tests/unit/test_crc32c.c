/* test_crc32c.c - CRC-32C against published vectors, and the two paths against each other. */
#include "crc32c.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The software path, defined in crc32c.c for this test. */
uint32_t tn__crc32c_sw(uint32_t crc, const void *buf, size_t len);

START_TEST(test_vectors)
{
	unsigned char buf[32];

	/* RFC 3720 B.4 and the usual check value. */
	ck_assert_uint_eq(tn__crc32c(0, "123456789", 9), 0xE3069283u);
	ck_assert_uint_eq(tn__crc32c_sw(0, "123456789", 9), 0xE3069283u);
	memset(buf, 0, sizeof buf);
	ck_assert_uint_eq(tn__crc32c(0, buf, 32), 0x8A9136AAu);
	ck_assert_uint_eq(tn__crc32c_sw(0, buf, 32), 0x8A9136AAu);
	memset(buf, 0xff, sizeof buf);
	ck_assert_uint_eq(tn__crc32c(0, buf, 32), 0x62A8AB43u);
	ck_assert_uint_eq(tn__crc32c_sw(0, buf, 32), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (unsigned char)i;
	ck_assert_uint_eq(tn__crc32c(0, buf, 32), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (unsigned char)(31 - i);
	ck_assert_uint_eq(tn__crc32c(0, buf, 32), 0x113FDB5Cu);
	ck_assert_uint_eq(tn__crc32c(0, NULL, 0), 0);
	ck_assert_uint_eq(tn__crc32c(0x12345678u, buf, 0), 0x12345678u);
}
END_TEST

START_TEST(test_incremental)
{
	const char *s = "123456789";

	for (size_t cut = 0; cut <= 9; cut++) {
		uint32_t c = tn__crc32c(0, s, cut);
		ck_assert_uint_eq(tn__crc32c(c, s + cut, 9 - cut), 0xE3069283u);
		c = tn__crc32c_sw(0, s, cut);
		ck_assert_uint_eq(tn__crc32c_sw(c, s + cut, 9 - cut), 0xE3069283u);
	}
}
END_TEST

/* Every alignment and length around the 8-byte steps, and split points. */
START_TEST(test_paths_agree)
{
	enum { N = 4096 };
	unsigned char *buf = malloc(N + 8);
	uint64_t x = 0x9E3779B97F4A7C15u;

	ck_assert_ptr_nonnull(buf);
	for (size_t i = 0; i < N + 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (unsigned char)x;
	}
	for (size_t align = 0; align < 8; align++) {
		for (size_t len = 0; len < 300; len++) {
			uint32_t a = tn__crc32c(0, buf + align, len);
			ck_assert_uint_eq(a, tn__crc32c_sw(0, buf + align, len));
			size_t cut = len / 3;
			uint32_t b = tn__crc32c(tn__crc32c(0, buf + align, cut), buf + align + cut,
						len - cut);
			ck_assert_uint_eq(a, b);
		}
		ck_assert_uint_eq(tn__crc32c(0, buf + align, N), tn__crc32c_sw(0, buf + align, N));
	}
	free(buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("crc32c");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_vectors);
	tcase_add_test(tc, test_incremental);
	tcase_add_test(tc, test_paths_agree);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
