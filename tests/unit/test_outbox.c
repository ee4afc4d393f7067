/* test_outbox.c - the CAP outbox (server/outbox.h): file names, the references history a
 * revision needs, the state file, the bounded queue (full: counted, not written), one file
 * per revision written atomically, a file already there kept, temporaries of a crash
 * removed, and the recorded seq that a restart goes on from. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outbox.h"
#include "tocsin/error.h"

#define SENDER "tocsin@test.example"
#define INC "INC-00000000000000aa"

/* A revision of INC: rev and updated second given. */
static char *body(unsigned rev, const char *msg, int second)
{
	char *b;
	ck_assert_int_ge(
		asprintf(&b,
			 "{\"seq\":%u,\"incident\":\"" INC "\",\"rev\":%u,\"msg\":\"%s\","
			 "\"status\":\"actual\",\"priority\":2,"
			 "\"title\":\"energy kind SUB-1 failure: 1 affected in 1 sector\","
			 "\"cause\":\"observed\",\"confidence\":1.000,"
			 "\"root\":{\"asset\":\"SUB-1\",\"sector\":\"energy\","
			 "\"time\":\"2026-11-26T16:52:00.250Z\"},\"sectors\":[\"energy\"],"
			 "\"affected\":[{\"asset\":\"SUB-1\",\"sector\":\"energy\",\"state\":\"down\","
			 "\"time\":\"2026-11-26T16:52:00.250Z\",\"event\":{\"source\":\"s\",\"id\":"
			 "\"1\"},\"late\":false}],\"at_risk\":[],\"area\":\"AREA-1\","
			 "\"opened\":\"2026-11-26T16:52:00.250Z\","
			 "\"updated\":\"2026-11-26T16:52:%02d.500Z\",\"explain\":[]}",
			 rev, rev, msg, second),
		0);
	return b;
}

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/tn-outbox-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	strcat(dir, "/out"); /* made by the outbox */
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%.*s'", (int)(strlen(dir) - 4), dir);
	ck_assert_int_eq(system(cmd), 0);
}

static struct tn_outbox *open_outbox(unsigned queue)
{
	struct tn_outbox_opts o = {.dir = dir, .sender = SENDER, .queue = queue};
	struct tn_outbox *ob = NULL;
	char err[256];
	int rc = tn_outbox_open(&o, &ob, err, sizeof err);
	ck_assert_msg(rc == 0, "%s", err);
	return ob;
}

static char *slurp(const char *name)
{
	char path[256], *buf = calloc(1, 1 << 16);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "r");
	if (!f) {
		free(buf);
		return NULL;
	}
	size_t n = fread(buf, 1, (1 << 16) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static int count_files(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

START_TEST(names)
{
	char buf[TN_OUTBOX_NAME_MAX];
	ck_assert_int_eq(tn__outbox_name(7, INC, 3, buf, sizeof buf), 0);
	ck_assert_str_eq(buf, "000000000007-" INC "-3.xml");
	/* zero-padded: names sort in seq order; longer seqs just grow */
	ck_assert_int_eq(tn__outbox_name(1234567890123ull, INC, 1, buf, sizeof buf), 0);
	ck_assert_str_eq(buf, "1234567890123-" INC "-1.xml");
	/* never a path nor a hidden name out of an id */
	ck_assert_int_eq(tn__outbox_name(1, "../x", 1, buf, sizeof buf), TN_EINVAL);
	ck_assert_int_eq(tn__outbox_name(1, "a/b", 1, buf, sizeof buf), TN_EINVAL);
	ck_assert_int_eq(tn__outbox_name(1, "", 1, buf, sizeof buf), TN_EINVAL);
	ck_assert_int_eq(tn__outbox_name(1, INC, 1, buf, 10), TN_ERANGE);
}
END_TEST

START_TEST(history)
{
	struct tn__cap_ref r[3] = {{1, 10}, {2, 20}, {3, 30}};
	ck_assert(tn__outbox_refs_ok(NULL, 0, 1));
	ck_assert(tn__outbox_refs_ok(r, 1, 2));
	ck_assert(tn__outbox_refs_ok(r, 3, 4));
	ck_assert(!tn__outbox_refs_ok(r, 2, 4));   /* one missing at the end */
	ck_assert(!tn__outbox_refs_ok(r + 1, 2, 4)); /* rev 1 missing: history lost */
	ck_assert(!tn__outbox_refs_ok(r, 3, 3));   /* not below rev */
	ck_assert(!tn__outbox_refs_ok(NULL, 0, 0));
	struct tn__cap_ref gap[2] = {{1, 10}, {3, 30}};
	ck_assert(!tn__outbox_refs_ok(gap, 2, 3));
}
END_TEST

START_TEST(state_text)
{
	uint64_t s = 0;
	ck_assert_int_eq(tn__outbox_parse_state("42\n", 3, &s), 0);
	ck_assert_uint_eq(s, 42);
	ck_assert_int_eq(tn__outbox_parse_state("7", 1, &s), 0);
	ck_assert_uint_eq(s, 7);
	ck_assert_int_eq(tn__outbox_parse_state("", 0, &s), TN_ECORRUPT);
	ck_assert_int_eq(tn__outbox_parse_state("4 2", 3, &s), TN_ECORRUPT);
	ck_assert_int_eq(tn__outbox_parse_state("42\n\n", 4, &s), TN_ECORRUPT);
	ck_assert_int_eq(tn__outbox_parse_state("-1", 2, &s), TN_ECORRUPT);
	ck_assert_int_eq(tn__outbox_parse_state("99999999999999999999999", 23, &s),
			 TN_ECORRUPT);
}
END_TEST

/* Three revisions, written with their references; the state says the last seq. */
START_TEST(writes_each_revision_once)
{
	struct tn_outbox *ob = open_outbox(8);
	struct stat st;
	uint64_t seq;
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0750);
	ck_assert(!tn_outbox_last_written(ob, &seq)); /* new: starts after the journal's end */
	ck_assert_int_eq(tn_outbox_mark(ob, 10), 0);
	ck_assert_int_eq(tn_outbox_run(ob), 0);

	struct tn__cap_ref refs[2] = {{1, 0}, {2, 0}};
	char *b1 = body(1, "alert", 1), *b2 = body(2, "update", 2), *b3 = body(3, "resolved", 3);
	ck_assert_int_eq(tn__cap_ref_of(b1, strlen(b1), &refs[0]), 0);
	ck_assert_int_eq(tn__cap_ref_of(b2, strlen(b2), &refs[1]), 0);
	ck_assert_int_eq(tn_outbox_submit(ob, 11, INC, 1, b1, strlen(b1), NULL, 0), 0);
	ck_assert_int_eq(tn_outbox_submit(ob, 12, INC, 2, b2, strlen(b2), refs, 1), 0);
	/* history incomplete: not written, counted */
	ck_assert_int_eq(tn_outbox_submit(ob, 13, INC, 3, b3, strlen(b3), refs, 1), TN_EINVAL);
	ck_assert_int_eq(tn_outbox_submit(ob, 14, INC, 3, b3, strlen(b3), refs, 2), 0);
	ck_assert(tn_outbox_last_written(ob, &seq));
	ck_assert_uint_eq(seq, 14);
	tn_outbox_stop(ob);

	ck_assert_int_eq(count_files(), 3);
	char *x1 = slurp("000000000011-" INC "-1.xml"), *x3 = slurp("000000000014-" INC "-3.xml");
	ck_assert_ptr_nonnull(x1);
	ck_assert_ptr_nonnull(x3);
	ck_assert_ptr_nonnull(strstr(x1, "<msgType>Alert</msgType>"));
	ck_assert_ptr_null(strstr(x1, "<references>"));
	ck_assert_ptr_nonnull(strstr(x3, "<msgType>Cancel</msgType>"));
	ck_assert_ptr_nonnull(
		strstr(x3, "<references>" SENDER "," SENDER "/" INC "/1,2026-11-26T16:52:01-00:00 " SENDER
			   "," SENDER "/" INC "/2,2026-11-26T16:52:02-00:00</references>"));
	char *state = slurp(TN_OUTBOX_STATE);
	ck_assert_str_eq(state, "14\n");

	/* reopened: goes on from 14; a file already there is kept, not replaced */
	ob = open_outbox(8);
	ck_assert(tn_outbox_last_written(ob, &seq));
	ck_assert_uint_eq(seq, 14);
	ck_assert_int_eq(tn_outbox_run(ob), 0);
	char *b2x = body(2, "update", 9);
	ck_assert_int_eq(tn_outbox_submit(ob, 12, INC, 2, b2x, strlen(b2x), refs, 1), 0);
	tn_outbox_stop(ob);
	char *x2 = slurp("000000000012-" INC "-2.xml");
	ck_assert_ptr_nonnull(strstr(x2, "<sent>2026-11-26T16:52:02-00:00</sent>"));
	ck_assert_int_eq(count_files(), 3);
	free(state);
	state = slurp(TN_OUTBOX_STATE);
	ck_assert_str_eq(state, "12\n");
	free(b1), free(b2), free(b3), free(b2x), free(x1), free(x2), free(x3), free(state);
}
END_TEST

/* The queue is bounded: past it, submit refuses at once; what was queued is written. */
START_TEST(queue_full_is_counted)
{
	struct tn_outbox *ob = open_outbox(2);
	struct tn_outbox_stats st;
	char *b = body(1, "alert", 1);
	/* not running yet: nothing drains the queue */
	ck_assert_int_eq(tn_outbox_submit(ob, 1, "INC-0000000000000001", 1, b, strlen(b), NULL, 0),
			 0);
	ck_assert_int_eq(tn_outbox_submit(ob, 2, "INC-0000000000000002", 1, b, strlen(b), NULL, 0),
			 0);
	ck_assert(!tn_outbox_room(ob));
	ck_assert_int_eq(tn_outbox_submit(ob, 3, "INC-0000000000000003", 1, b, strlen(b), NULL, 0),
			 TN_EFULL);
	tn_outbox_stats(ob, &st);
	ck_assert_uint_eq(st.queue_full, 1);
	ck_assert_int_eq(tn_outbox_run(ob), 0);
	/* the writer makes room again (what the alerts thread waits for at start) */
	for (int i = 0; i < 5000 && !tn_outbox_room(ob); i++)
		usleep(1000);
	ck_assert(tn_outbox_room(ob));
	tn_outbox_stop(ob);
	ck_assert_int_eq(count_files(), 2);
	free(b);
}
END_TEST

/* What makes no file (a body that is no revision, an id that is no file name) is
 * counted and logged; the writer goes on. */
START_TEST(unwritable_is_counted)
{
	struct tn_outbox *ob = open_outbox(4);
	struct tn_outbox_stats st;
	char *b = body(1, "alert", 1);
	ck_assert_int_eq(tn_outbox_run(ob), 0);
	ck_assert_int_eq(tn_outbox_submit(ob, 1, INC, 1, "{}", 2, NULL, 0), 0);
	ck_assert_int_eq(tn_outbox_submit(ob, 2, "../../etc", 1, b, strlen(b), NULL, 0), 0);
	ck_assert_int_eq(tn_outbox_submit(ob, 3, INC, 1, b, strlen(b), NULL, 0), 0);
	tn_outbox_stop(ob);
	ck_assert_int_eq(count_files(), 1);
	ob = open_outbox(4);
	tn_outbox_stats(ob, &st);
	ck_assert_uint_eq(st.last_seq, 3);
	tn_outbox_stop(ob);
	free(b);
}
END_TEST

/* A crash's temporaries go at open; a bad state file is refused, naming it. */
START_TEST(crash_leftovers)
{
	struct tn_outbox *ob = open_outbox(2);
	tn_outbox_stop(ob);
	char path[128];
	snprintf(path, sizeof path, "%s/.tmp-000000000001-" INC "-1.xml", dir);
	FILE *f = fopen(path, "w");
	fputs("<half", f);
	fclose(f);
	ob = open_outbox(2);
	ck_assert_int_eq(access(path, F_OK), -1);
	tn_outbox_stop(ob);

	snprintf(path, sizeof path, "%s/%s", dir, TN_OUTBOX_STATE);
	f = fopen(path, "w");
	fputs("twelve\n", f);
	fclose(f);
	struct tn_outbox_opts o = {.dir = dir, .sender = SENDER, .queue = 2};
	char err[256];
	ob = NULL;
	ck_assert_int_eq(tn_outbox_open(&o, &ob, err, sizeof err), TN_EIO);
	ck_assert_ptr_nonnull(strstr(err, TN_OUTBOX_STATE));
	o.sender = "a b";
	ck_assert_int_eq(tn_outbox_open(&o, &ob, err, sizeof err), TN_EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("outbox");
	TCase *tc = tcase_create("outbox");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, names);
	tcase_add_test(tc, history);
	tcase_add_test(tc, state_text);
	tcase_add_test(tc, writes_each_revision_once);
	tcase_add_test(tc, queue_full_is_counted);
	tcase_add_test(tc, unwritable_is_counted);
	tcase_add_test(tc, crash_leftovers);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
