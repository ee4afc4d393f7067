/* test_keys.c - CURVE key files: generate, read back, refuse what is wrong (keys.h). */
#include "keys.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

#include "tocsin/error.h"

/* A key pair from ZeroMQ's test suite (tests/testutil_security.cpp). */
#define PUB_Z85 "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
#define SEC_Z85 "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"

static char dir[200];
static char base[256];
static char path[300];
static char err[512];

static void setup(void)
{
	snprintf(dir, sizeof dir, "%s/tn_keys_XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(base, sizeof base, "%s/adapter", dir);
	err[0] = '\0';
}

static void teardown(void)
{
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Write `len` bytes to <dir>/<name> with `mode`; path gets its name. */
static const char *put_bytes(const char *name, const char *text, size_t len, mode_t mode)
{
	int fd;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	ck_assert_int_eq(close(fd), 0);
	return path;
}

static const char *put(const char *name, const char *text, mode_t mode)
{
	return put_bytes(name, text, strlen(text), mode);
}

static mode_t mode_of(const char *p)
{
	struct stat st;
	ck_assert_int_eq(stat(p, &st), 0);
	return st.st_mode & 07777;
}

static void slurp(const char *p, char *buf, size_t len)
{
	FILE *f = fopen(p, "r");
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

START_TEST(known_pair)
{
	char pub[TN_KEY_Z85_LEN + 1];

	ck_assert(tn_key_valid_z85(PUB_Z85));
	ck_assert(tn_key_valid_z85(SEC_Z85));
	ck_assert_int_eq(tn_key_public_of(SEC_Z85, pub), 0);
	ck_assert_str_eq(pub, PUB_Z85);
}
END_TEST

START_TEST(valid_z85)
{
	ck_assert(!tn_key_valid_z85(NULL));
	ck_assert(!tn_key_valid_z85(""));
	ck_assert(!tn_key_valid_z85(PUB_Z85 "x"));
	ck_assert(!tn_key_valid_z85("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf"));
	/* a space, a quote, a backslash: not Z85 */
	ck_assert(!tn_key_valid_z85("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]y 7"));
	ck_assert(!tn_key_valid_z85("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]y\"7"));
	ck_assert(!tn_key_valid_z85("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]y\\7"));
	/* "#####" is 85^5 - 1 > 2^32: does not decode */
	ck_assert(!tn_key_valid_z85("#####Lns47E1%kR.o@n%FcmmsL/@{H8]yf7rq:rM"));

	char pub[TN_KEY_Z85_LEN + 1], bad[TN_KEY_Z85_LEN + 1] = "not a key";
	ck_assert_int_eq(tn_key_public_of(bad, pub), TN_EKEY);
}
END_TEST

START_TEST(generate_and_read_back)
{
	char kpath[300], ppath[300], sec[TN_KEY_Z85_LEN + 1], pub[TN_KEY_Z85_LEN + 1];
	char derived[TN_KEY_Z85_LEN + 1], text[128];

	umask(022);
	ck_assert_msg(tn_key_generate(base, err, sizeof err) == 0, "%s", err);
	snprintf(kpath, sizeof kpath, "%s.key", base);
	snprintf(ppath, sizeof ppath, "%s.pub", base);
	ck_assert_int_eq(mode_of(kpath), 0600);
	ck_assert_int_eq(mode_of(ppath), 0644);

	/* one line: 40 characters and a newline */
	slurp(kpath, text, sizeof text);
	ck_assert_uint_eq(strlen(text), TN_KEY_Z85_LEN + 1);
	ck_assert_int_eq(text[TN_KEY_Z85_LEN], '\n');

	ck_assert_msg(tn_key_read(kpath, 1, sec, err, sizeof err) == 0, "%s", err);
	ck_assert_msg(tn_key_read(ppath, 0, pub, err, sizeof err) == 0, "%s", err);
	ck_assert_uint_eq(strlen(sec), TN_KEY_Z85_LEN);
	ck_assert(tn_key_valid_z85(sec));
	ck_assert(tn_key_valid_z85(pub));
	ck_assert_str_ne(sec, pub);
	ck_assert_int_eq(tn_key_public_of(sec, derived), 0);
	ck_assert_str_eq(derived, pub);
}
END_TEST

START_TEST(generate_despite_umask)
{
	char kpath[300], ppath[300];

	umask(0);
	ck_assert_int_eq(tn_key_generate(base, err, sizeof err), 0);
	snprintf(kpath, sizeof kpath, "%s.key", base);
	snprintf(ppath, sizeof ppath, "%s.pub", base);
	ck_assert_int_eq(mode_of(kpath), 0600);
	ck_assert_int_eq(mode_of(ppath), 0644);
	umask(022);
}
END_TEST

START_TEST(generate_refuses_existing)
{
	char kpath[300], ppath[300], text[128], want[400];

	/* an existing secret key: untouched, no .pub made */
	snprintf(kpath, sizeof kpath, "%s.key", base);
	snprintf(ppath, sizeof ppath, "%s.pub", base);
	put("adapter.key", "precious\n", 0600);
	ck_assert_int_eq(tn_key_generate(base, err, sizeof err), TN_EEXIST);
	snprintf(want, sizeof want, "%s: already exists; not overwriting it", kpath);
	ck_assert_str_eq(err, want);
	slurp(kpath, text, sizeof text);
	ck_assert_str_eq(text, "precious\n");
	ck_assert_int_ne(access(ppath, F_OK), 0);

	/* an existing public key: untouched, and the new .key is removed again */
	unlink(kpath);
	put("adapter.pub", "mine\n", 0644);
	ck_assert_int_eq(tn_key_generate(base, err, sizeof err), TN_EEXIST);
	snprintf(want, sizeof want, "%s: already exists; not overwriting it", ppath);
	ck_assert_str_eq(err, want);
	slurp(ppath, text, sizeof text);
	ck_assert_str_eq(text, "mine\n");
	ck_assert_int_ne(access(kpath, F_OK), 0);

	/* a dangling symlink is not followed */
	unlink(ppath);
	ck_assert_int_eq(symlink("/nonexistent/target", kpath), 0);
	ck_assert_int_eq(tn_key_generate(base, err, sizeof err), TN_EEXIST);
	ck_assert_int_ne(access(ppath, F_OK), 0);
}
END_TEST

START_TEST(generate_io_error)
{
	char b[300];

	snprintf(b, sizeof b, "%s/no/such/dir/k", dir);
	ck_assert_int_eq(tn_key_generate(b, err, sizeof err), TN_EIO);
	ck_assert_ptr_nonnull(strstr(err, "cannot create: No such file or directory"));
}
END_TEST

START_TEST(secret_mode_refused)
{
	char z85[TN_KEY_Z85_LEN + 1], want[600];
	const char *p = put("s.key", SEC_Z85 "\n", 0640);

	ck_assert_int_eq(tn_key_read(p, 1, z85, err, sizeof err), TN_EKEY);
	snprintf(want, sizeof want,
		 "%s: secret key file has mode 0640: group or others may access it; run chmod 600 "
		 "%s",
		 p, p);
	ck_assert_str_eq(err, want);

	put("s.key", SEC_Z85 "\n", 0604);
	ck_assert_int_eq(tn_key_read(p, 1, z85, err, sizeof err), TN_EKEY);
	ck_assert_ptr_nonnull(strstr(err, "mode 0604"));

	/* the same file is fine as a public key, and as a secret one once 0600 or 0400 */
	ck_assert_int_eq(tn_key_read(p, 0, z85, err, sizeof err), 0);
	put("s.key", SEC_Z85 "\n", 0400);
	ck_assert_int_eq(tn_key_read(p, 1, z85, err, sizeof err), 0);
	ck_assert_str_eq(z85, SEC_Z85);
}
END_TEST

START_TEST(comments_and_blanks)
{
	char z85[TN_KEY_Z85_LEN + 1];
	const char *p;

	p = put("a.pub", "# adapter ukpn-east\n#\n\n  " PUB_Z85 "  \r\n# trailing\n", 0644);
	ck_assert_msg(tn_key_read(p, 0, z85, err, sizeof err) == 0, "%s", err);
	ck_assert_str_eq(z85, PUB_Z85);

	/* no final newline */
	p = put("b.pub", PUB_Z85, 0644);
	ck_assert_int_eq(tn_key_read(p, 0, z85, err, sizeof err), 0);
	ck_assert_str_eq(z85, PUB_Z85);

	/* no key starts with '#' (its first digit would overflow 32 bits), so a
	 * '#' line of 40 Z85 characters is a comment too */
	p = put("c.pub", "#aaaaLns47E1%kR.o@n%FcmmsL/@{H8]yf7rq:rM\n" PUB_Z85 "\n", 0644);
	ck_assert_msg(tn_key_read(p, 0, z85, err, sizeof err) == 0, "%s", err);
	ck_assert_str_eq(z85, PUB_Z85);
	for (int i = 0; i < 200; i++) {
		char pub[TN_KEY_Z85_LEN + 1], sec[TN_KEY_Z85_LEN + 1];
		ck_assert_int_eq(zmq_curve_keypair(pub, sec), 0);
		ck_assert(pub[0] != '#' && sec[0] != '#');
	}
}
END_TEST

static void expect_bad(const char *name, const char *text, const char *msg)
{
	char z85[TN_KEY_Z85_LEN + 1], want[600];
	const char *p = put(name, text, 0600);

	ck_assert_int_eq(tn_key_read(p, 1, z85, err, sizeof err), TN_EKEY);
	snprintf(want, sizeof want, "%s%s", p, msg);
	ck_assert_str_eq(err, want);
}

START_TEST(bad_files)
{
	expect_bad("empty", "", ": empty; expected one line of 40 Z85 characters");
	expect_bad("comments", "# nothing here\n\n",
		   ": no key found; expected one line of 40 Z85 characters");
	expect_bad("short", "# c\nrq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf\n",
		   ":2: expected 40 Z85 characters, got 39 characters");
	expect_bad("long", SEC_Z85 "x\n", ":1: expected 40 Z85 characters, got 41 characters");
	expect_bad("badchar", "rq:rM>}U?@Lns47E1%kR.o@n%Fcm\"sL/@{H8]yf7\n",
		   ":1: column 29 is not a Z85 character; expected 40 of 0-9 a-z A-Z "
		   ".-:+=^!/*?&<>()[]{}@%$#");
	expect_bad("tilde", "~~~~~Lns47E1%kR.o@n%FcmmsL/@{H8]yf7rq:rM\n",
		   ":1: column 1 is not a Z85 character; expected 40 of 0-9 a-z A-Z "
		   ".-:+=^!/*?&<>()[]{}@%$#");
	expect_bad("noDecode", "%%%%%Lns47E1%kR.o@n%FcmmsL/@{H8]yf7rq:rM\n",
		   ":1: not a valid Z85 key (a group of five characters overflows 32 bits)");
	expect_bad("two", SEC_Z85 "\n" PUB_Z85 "\n",
		   ":2: a second key; expected exactly one key per file");
	expect_bad("short2", "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]y",
		   ":1: expected 40 Z85 characters, got 38 characters");

	char z85[TN_KEY_Z85_LEN + 1], want[600];
	const char *p = put_bytes("nul", "rq:rM>}U?@Lns47E1%kR.o@n%\0cmmsL/@{H8]yf7\n", 41, 0600);
	ck_assert_int_eq(tn_key_read(p, 1, z85, err, sizeof err), TN_EKEY);
	snprintf(want, sizeof want, "%s:1: expected text, got a NUL byte", p);
	ck_assert_str_eq(err, want);

	char big[5000];
	memset(big, '#', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	expect_bad("big", big, ": larger than 4096 bytes; expected one line of 40 Z85 characters");
}
END_TEST

START_TEST(read_errors)
{
	char z85[TN_KEY_Z85_LEN + 1], p[300], want[400];

	snprintf(p, sizeof p, "%s/missing.pub", dir);
	ck_assert_int_eq(tn_key_read(p, 0, z85, err, sizeof err), TN_EIO);
	snprintf(want, sizeof want, "%s: cannot open: No such file or directory", p);
	ck_assert_str_eq(err, want);

	ck_assert_int_eq(tn_key_read(dir, 0, z85, err, sizeof err), TN_EKEY);
	snprintf(want, sizeof want, "%s: not a regular file; expected a key file", dir);
	ck_assert_str_eq(err, want);
}
END_TEST

static Suite *keys_suite(void)
{
	Suite *s = suite_create("keys");
	TCase *tc = tcase_create("files");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, known_pair);
	tcase_add_test(tc, valid_z85);
	tcase_add_test(tc, generate_and_read_back);
	tcase_add_test(tc, generate_despite_umask);
	tcase_add_test(tc, generate_refuses_existing);
	tcase_add_test(tc, generate_io_error);
	tcase_add_test(tc, secret_mode_refused);
	tcase_add_test(tc, comments_and_blanks);
	tcase_add_test(tc, bad_files);
	tcase_add_test(tc, read_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(keys_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
