/* test_alerts_subs.c - subscribed connections tracked and cut off when their key ends
 * (alerts_subs.c), on real loopback TCP connections. */
#include "alerts_int.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tocsin/error.h"

static const char KEY_A[] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
static const char KEY_B[] = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

struct judge {
	char dead[4][TN__SUBS_KEY_MAX + 1]; /* keys that may no longer read */
	int n_dead;
	int cuts;
	char last_name[TN__SUBS_NAME_MAX + 1];
	char last_addr[64];
};

static bool keep(void *ud, const char *key, int clearance)
{
	struct judge *j = ud;
	(void)clearance;
	for (int i = 0; i < j->n_dead; i++)
		if (strcmp(j->dead[i], key) == 0)
			return false;
	return true;
}

static void on_cut(void *ud, const char *key, const char *name, int clearance,
		   const struct sockaddr *peer, unsigned peer_len)
{
	struct judge *j = ud;
	(void)key;
	(void)clearance;
	ck_assert_uint_ge(peer_len, sizeof(struct sockaddr_in));
	inet_ntop(AF_INET, &((const struct sockaddr_in *)peer)->sin_addr, j->last_addr,
		  sizeof j->last_addr);
	snprintf(j->last_name, sizeof j->last_name, "%s", name);
	j->cuts++;
}

static int listener(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int l = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(l, 0);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(listen(l, 16), 0);
	return l;
}

/* A loopback connection: *client and the server side (returned), as libzmq would hold it. */
static int connection(int l, int *client)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&sa, &len), 0);
	*client = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(*client, (struct sockaddr *)&sa, sizeof sa), 0);
	int s = accept(l, NULL, NULL);
	ck_assert_int_ge(s, 0);
	return s;
}

/* The client sees its connection ended (EOF) rather than a timeout. */
static bool ended(int client)
{
	struct timeval tv = {2, 0};
	char c;
	setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return recv(client, &c, 1, 0) == 0;
}

START_TEST(an_ended_key_is_cut_and_reported_the_others_kept)
{
	struct judge j = {0};
	struct tn__subs *t;
	int l = listener(), ca, cb;
	int sa = connection(l, &ca), sb = connection(l, &cb);

	ck_assert_int_eq(tn__subs_new(8, keep, on_cut, &j, &t), 0);
	ck_assert_int_eq(tn__subs_note(t, sa, 2, KEY_A, "desk-a"), 0);
	ck_assert_int_eq(tn__subs_note(t, sa, 2, KEY_A, "desk-a"), 0); /* another topic */
	ck_assert_int_eq(tn__subs_note(t, sb, 2, KEY_B, "desk-b"), 0);
	ck_assert_uint_eq(tn__subs_count(t), 2);
	ck_assert_uint_eq(tn__subs_sweep(t), 0);

	snprintf(j.dead[j.n_dead++], sizeof j.dead[0], "%s", KEY_A);
	ck_assert_uint_eq(tn__subs_sweep(t), 1);
	ck_assert_int_eq(j.cuts, 1);
	ck_assert_str_eq(j.last_name, "desk-a");
	ck_assert_str_eq(j.last_addr, "127.0.0.1");
	ck_assert(ended(ca));
	ck_assert_uint_eq(tn__subs_count(t), 1);
	ck_assert_uint_eq(tn__subs_sweep(t), 0); /* once */

	/* b untouched: its connection still carries bytes */
	ck_assert_int_eq(send(sb, "x", 1, 0), 1);
	char c;
	ck_assert_int_eq(recv(cb, &c, 1, 0), 1);
	tn__subs_free(t);
	close(sa), close(sb), close(ca), close(cb), close(l);
}
END_TEST

START_TEST(a_closed_or_reused_descriptor_is_forgotten_not_cut)
{
	struct judge j = {0};
	struct tn__subs *t;
	int l = listener(), ca, cb;
	int sa = connection(l, &ca);

	ck_assert_int_eq(tn__subs_new(8, keep, on_cut, &j, &t), 0);
	ck_assert_int_eq(tn__subs_note(t, sa, 2, KEY_A, "desk-a"), 0);
	/* a's connection ends, and its number goes to b's connection, as the
	 * kernel does with the lowest free number */
	int num = sa;
	int sb = connection(l, &cb);
	close(sa);
	ck_assert_int_eq(dup2(sb, num), num);
	close(sb);
	sb = num;
	snprintf(j.dead[j.n_dead++], sizeof j.dead[0], "%s", KEY_A);
	ck_assert_uint_eq(tn__subs_sweep(t), 0); /* another peer behind the number */
	ck_assert_int_eq(j.cuts, 0);
	ck_assert_uint_eq(tn__subs_count(t), 0);
	ck_assert_int_eq(send(sb, "x", 1, 0), 1);
	char c;
	ck_assert_int_eq(recv(cb, &c, 1, 0), 1);

	/* b subscribes on the reused number with its own key: tracked as b */
	ck_assert_int_eq(tn__subs_note(t, sb, 2, KEY_B, "desk-b"), 0);
	ck_assert_uint_eq(tn__subs_count(t), 1);
	ck_assert_uint_eq(tn__subs_sweep(t), 0);
	tn__subs_free(t);
	close(sb), close(ca), close(cb), close(l);
}
END_TEST

START_TEST(a_full_table_refuses_by_shutting_down)
{
	struct judge j = {0};
	struct tn__subs *t;
	int l = listener(), c1, c2, c3;
	int s1 = connection(l, &c1), s2 = connection(l, &c2), s3 = connection(l, &c3);

	ck_assert_int_eq(tn__subs_new(2, keep, on_cut, &j, &t), 0);
	ck_assert_int_eq(tn__subs_note(t, s1, 2, KEY_A, "a"), 0);
	ck_assert_int_eq(tn__subs_note(t, s2, 2, KEY_B, "b"), 0);
	ck_assert_int_eq(tn__subs_note(t, s3, 2, KEY_B, "b"), TN_EFULL);
	ck_assert(ended(c3));
	/* a sweep makes room: a's key ended */
	snprintf(j.dead[j.n_dead++], sizeof j.dead[0], "%s", KEY_A);
	int c4, s4 = connection(l, &c4);
	ck_assert_int_eq(tn__subs_note(t, s4, 2, KEY_B, "b"), 0);
	ck_assert_int_eq(j.cuts, 1);
	ck_assert(ended(c1));
	tn__subs_free(t);
	close(s1), close(s2), close(s3), close(s4);
	close(c1), close(c2), close(c3), close(c4), close(l);
}
END_TEST

START_TEST(bad_arguments)
{
	struct judge j = {0};
	struct tn__subs *t;
	char long_key[64];
	memset(long_key, 'k', sizeof long_key - 1);
	long_key[sizeof long_key - 1] = '\0';

	ck_assert_int_eq(tn__subs_new(0, keep, on_cut, &j, &t), TN_EINVAL);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(tn__subs_new(4, keep, NULL, &j, &t), 0);
	ck_assert_int_eq(tn__subs_note(t, -1, 2, KEY_A, "a"), TN_EINVAL);
	ck_assert_int_eq(tn__subs_note(t, 0, 2, NULL, "a"), TN_EINVAL);
	ck_assert_int_eq(tn__subs_note(t, 0, 2, long_key, "a"), TN_EINVAL);
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0); /* not a socket: nothing to track */
	ck_assert_int_eq(tn__subs_note(t, fds[0], 2, KEY_A, "a"), TN_ENOTFOUND);
	ck_assert_uint_eq(tn__subs_count(t), 0);
	close(fds[0]), close(fds[1]);
	tn__subs_free(t);
	tn__subs_free(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("alerts_subs");
	TCase *tc = tcase_create("table");
	tcase_add_test(tc, an_ended_key_is_cut_and_reported_the_others_kept);
	tcase_add_test(tc, a_closed_or_reused_descriptor_is_forgotten_not_cut);
	tcase_add_test(tc, a_full_table_refuses_by_shutting_down);
	tcase_add_test(tc, bad_arguments);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
