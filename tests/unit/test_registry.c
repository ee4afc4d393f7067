/* test_registry.c - key registry snapshots, scopes and the cache file (server/registry.h). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "registry.h"
#include "tocsin/error.h"

static char dir[64];

static void setup(void)
{
	strcpy(dir, "/tmp/tn_registry_XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void new_key(char z85[41])
{
	char secret[41];
	ck_assert_int_eq(zmq_curve_keypair(z85, secret), 0);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* A snapshot of two adapters, through the cache file format (the only way to
 * build one without PostgreSQL). */
static struct tn_registry *two_adapters(char k1[41], char k2[41])
{
	char path[128], text[512];
	struct tn_registry *r;
	new_key(k1);
	new_key(k2);
	snprintf(path, sizeof path, "%s/in.cache", dir);
	snprintf(text, sizeof text,
		 "tocsin-registry 1 7\n"
		 "ukpn %s energy SUB-,FDR-\n"
		 "thames %s water,communications -\n",
		 k1, k2);
	write_file(path, text);
	ck_assert_int_eq(tn_registry_cache_load(path, &r), 0);
	return r;
}

START_TEST(find_and_scopes)
{
	char k1[41], k2[41], other[41];
	struct tn_registry *r = two_adapters(k1, k2);
	new_key(other);

	ck_assert_int_eq(r->version, 7);
	ck_assert_uint_eq(r->n, 2);
	const struct tn_adapter_entry *u = tn_registry_find(r, k1);
	const struct tn_adapter_entry *t = tn_registry_find(r, k2);
	ck_assert_ptr_nonnull(u);
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(u->name, "ukpn");
	ck_assert_str_eq(t->name, "thames");
	ck_assert_ptr_null(tn_registry_find(r, other));

	/* Sector scope. */
	ck_assert(tn_registry_allows(u, TN_SECTOR_ENERGY, "SUB-1"));
	ck_assert(!tn_registry_allows(u, TN_SECTOR_WATER, "SUB-1"));
	ck_assert(tn_registry_allows(t, TN_SECTOR_COMMUNICATIONS, "MAST-9"));
	ck_assert(!tn_registry_allows(t, TN_SECTOR_ENERGY, "MAST-9"));
	/* Asset prefixes: any of them, and only as prefixes. */
	ck_assert(tn_registry_allows(u, TN_SECTOR_ENERGY, "FDR-22"));
	ck_assert(!tn_registry_allows(u, TN_SECTOR_ENERGY, "XSUB-1"));
	ck_assert(!tn_registry_allows(u, TN_SECTOR_ENERGY, "SU"));
	/* No prefixes: any asset of its sectors. */
	ck_assert(tn_registry_allows(t, TN_SECTOR_WATER, "anything"));
	/* Heartbeats carry no sector or asset. */
	ck_assert(tn_registry_allows(u, TN_SECTOR_NONE, NULL));
	tn_registry_free(r);
}
END_TEST

START_TEST(cache_round_trip)
{
	char k1[41], k2[41], path[128];
	struct tn_registry *r = two_adapters(k1, k2), *back;
	snprintf(path, sizeof path, "%s/out.cache", dir);
	ck_assert_int_eq(tn_registry_cache_save(r, path), 0);

	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);

	ck_assert_int_eq(tn_registry_cache_load(path, &back), 0);
	ck_assert_int_eq(back->version, r->version);
	ck_assert_uint_eq(back->n, r->n);
	for (size_t i = 0; i < r->n; i++) {
		ck_assert_str_eq(back->entries[i].name, r->entries[i].name);
		ck_assert_str_eq(back->entries[i].key, r->entries[i].key);
		ck_assert_uint_eq(back->entries[i].sectors, r->entries[i].sectors);
		ck_assert_uint_eq(back->entries[i].n_prefixes, r->entries[i].n_prefixes);
		for (size_t p = 0; p < r->entries[i].n_prefixes; p++)
			ck_assert_str_eq(back->entries[i].prefixes[p], r->entries[i].prefixes[p]);
	}
	tn_registry_free(back);
	tn_registry_free(r);
}
END_TEST

START_TEST(cache_rate_limits)
{
	char k1[41], k2[41], k3[41], path[128], text[512];
	struct tn_registry *r, *back;

	/* Format 1 (before rate limits): every key at the server's default. */
	r = two_adapters(k1, k2);
	for (size_t i = 0; i < r->n; i++) {
		ck_assert_int_eq(r->entries[i].rate, -1);
		ck_assert_int_eq(r->entries[i].burst, -1);
	}
	tn_registry_free(r);

	/* Format 2: a rate and burst per key, "-1" for the default, 0 for no limit. */
	new_key(k3);
	snprintf(path, sizeof path, "%s/rate.cache", dir);
	snprintf(text, sizeof text,
		 "tocsin-registry 2 9\n"
		 "ukpn %s energy - 200 50\n"
		 "thames %s water - -1 -1\n"
		 "bulk %s transport - 0 7\n",
		 k1, k2, k3);
	write_file(path, text);
	ck_assert_int_eq(tn_registry_cache_load(path, &r), 0);
	ck_assert_int_eq(tn_registry_find(r, k1)->rate, 200);
	ck_assert_int_eq(tn_registry_find(r, k1)->burst, 50);
	ck_assert_int_eq(tn_registry_find(r, k2)->rate, -1);
	ck_assert_int_eq(tn_registry_find(r, k3)->rate, 0);
	ck_assert_int_eq(tn_registry_find(r, k3)->burst, 7);
	/* and back through save */
	snprintf(path, sizeof path, "%s/rate2.cache", dir);
	ck_assert_int_eq(tn_registry_cache_save(r, path), 0);
	ck_assert_int_eq(tn_registry_cache_load(path, &back), 0);
	for (size_t i = 0; i < r->n; i++) {
		ck_assert_str_eq(back->entries[i].key, r->entries[i].key);
		ck_assert_int_eq(back->entries[i].rate, r->entries[i].rate);
		ck_assert_int_eq(back->entries[i].burst, r->entries[i].burst);
	}
	tn_registry_free(back);
	tn_registry_free(r);

	/* Nonsense limits, a format-2 line without them, an unknown format. */
	static const char *const bad[] = {
		"tocsin-registry 2 9\nukpn %s energy - fast 50\n",
		"tocsin-registry 2 9\nukpn %s energy - -5 50\n",
		"tocsin-registry 2 9\nukpn %s energy - 1000001 50\n",
		"tocsin-registry 2 9\nukpn %s energy -\n",
		"tocsin-registry 1 9\nukpn %s energy - 200 50\n",
		"tocsin-registry 3 9\nukpn %s energy - 200 50\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		snprintf(text, sizeof text, bad[i], k1);
		write_file(path, text);
		r = NULL;
		ck_assert_msg(tn_registry_cache_load(path, &r) == TN_ECORRUPT, "case %zu", i);
		ck_assert_ptr_null(r);
	}
}
END_TEST

START_TEST(cache_refuses_nonsense)
{
	char path[128], key[41], text[256];
	struct tn_registry *r = NULL;
	snprintf(path, sizeof path, "%s/missing.cache", dir);
	ck_assert_int_eq(tn_registry_cache_load(path, &r), TN_ENOTFOUND);

	snprintf(path, sizeof path, "%s/bad.cache", dir);
	write_file(path, "not a registry\n");
	ck_assert_int_eq(tn_registry_cache_load(path, &r), TN_ECORRUPT);

	new_key(key);
	snprintf(text, sizeof text, "tocsin-registry 1 3\nukpn %s enrgy -\n", key);
	write_file(path, text);
	ck_assert_int_eq(tn_registry_cache_load(path, &r), TN_ECORRUPT);

	write_file(path, "tocsin-registry 1 3\nukpn not-a-key energy -\n");
	ck_assert_int_eq(tn_registry_cache_load(path, &r), TN_ECORRUPT);

	write_file(path, "tocsin-registry 1 3\nukpn\n");
	ck_assert_int_eq(tn_registry_cache_load(path, &r), TN_ECORRUPT);
	ck_assert_ptr_null(r);
}
END_TEST

START_TEST(empty_refuses_everyone)
{
	struct tn_registry *r;
	char k[41];
	new_key(k);
	ck_assert_int_eq(tn_registry_empty(&r), 0);
	ck_assert_uint_eq(r->n, 0);
	ck_assert_ptr_null(tn_registry_find(r, k));
	tn_registry_free(r);
}
END_TEST

/* No keys of a kind (consoles, before any is added) is a cache of a header
 * only, and loads back as such (UBSan once saw qsort given its NULL array). */
START_TEST(empty_cache_round_trip)
{
	char path[128], k[41];
	struct tn_registry *r, *back;
	new_key(k);
	snprintf(path, sizeof path, "%s/empty.cache", dir);
	ck_assert_int_eq(tn_registry_empty(&r), 0);
	r->version = 5;
	ck_assert_int_eq(tn_registry_cache_save(r, path), 0);
	ck_assert_int_eq(tn_registry_cache_load(path, &back), 0);
	ck_assert_uint_eq(back->n, 0);
	ck_assert_int_eq(back->version, 5);
	ck_assert_ptr_null(tn_registry_find(back, k));
	tn_registry_free(r);
	tn_registry_free(back);
}
END_TEST

/* Console keys have no sectors: "-" in the cache file, both ways. */
START_TEST(console_cache_round_trip)
{
	char k[41], path[128], text[256];
	struct tn_registry *r, *back;
	new_key(k);
	snprintf(path, sizeof path, "%s/consoles.cache", dir);
	snprintf(text, sizeof text, "tocsin-registry 1 3\ndesk1 %s - -\n", k);
	write_file(path, text);
	ck_assert_int_eq(tn_registry_cache_load(path, &r), 0);
	ck_assert_uint_eq(r->n, 1);
	const struct tn_adapter_entry *e = tn_registry_find(r, k);
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(e->name, "desk1");
	ck_assert_uint_eq(e->sectors, 0);
	ck_assert(!tn_registry_allows(e, TN_SECTOR_ENERGY, "SUB-1"));
	ck_assert_int_eq(tn_registry_cache_save(r, path), 0);
	ck_assert_int_eq(tn_registry_cache_load(path, &back), 0);
	ck_assert_str_eq(back->entries[0].name, "desk1");
	ck_assert_uint_eq(back->entries[0].sectors, 0);
	ck_assert(!back->entries[0].planner);
	tn_registry_free(r);
	tn_registry_free(back);

	/* A planner's key (schema/006) keeps its role through the cache; a
	 * seventh field that is not "planner" is refused. */
	char k2[41];
	new_key(k2);
	snprintf(text, sizeof text,
		 "tocsin-registry 2 4\ndesk1 %s - - -1 -1\nplan1 %s - - -1 -1 planner\n", k, k2);
	write_file(path, text);
	ck_assert_int_eq(tn_registry_cache_load(path, &r), 0);
	ck_assert(!tn_registry_find(r, k)->planner);
	ck_assert(tn_registry_find(r, k2)->planner);
	ck_assert_int_eq(tn_registry_cache_save(r, path), 0);
	ck_assert_int_eq(tn_registry_cache_load(path, &back), 0);
	ck_assert(!tn_registry_find(back, k)->planner);
	ck_assert(tn_registry_find(back, k2)->planner);
	tn_registry_free(r);
	tn_registry_free(back);
	snprintf(text, sizeof text, "tocsin-registry 2 4\nplan1 %s - - -1 -1 admin\n", k2);
	write_file(path, text);
	r = NULL;
	ck_assert_int_eq(tn_registry_cache_load(path, &r), TN_ECORRUPT);
	ck_assert_ptr_null(r);
}
END_TEST

/* Format 3 says each key's role and clearance; an older cache gives every
 * key the lowest clearance (it never grants more than it can know). */
START_TEST(cache_clearance)
{
	char k1[41], k2[41], k3[41], path[128], text[512];
	struct tn_registry *r, *back;
	new_key(k1);
	new_key(k2);
	new_key(k3);
	snprintf(path, sizeof path, "%s/clear.cache", dir);
	snprintf(text, sizeof text,
		 "tocsin-registry 3 5\n"
		 "desk1 %s - - -1 -1 - official-sensitive\n"
		 "desk2 %s - - -1 -1 - public\n"
		 "plan1 %s - - -1 -1 planner official\n",
		 k1, k2, k3);
	write_file(path, text);
	ck_assert_int_eq(tn_registry_cache_load(path, &r), 0);
	ck_assert_int_eq(tn_registry_find(r, k1)->clearance, TN_SENS_OFFICIAL_SENSITIVE);
	ck_assert(!tn_registry_find(r, k1)->planner);
	ck_assert_int_eq(tn_registry_find(r, k2)->clearance, TN_SENS_PUBLIC);
	ck_assert_int_eq(tn_registry_find(r, k3)->clearance, TN_SENS_OFFICIAL);
	ck_assert(tn_registry_find(r, k3)->planner);
	ck_assert_int_eq(tn_registry_cache_save(r, path), 0);
	ck_assert_int_eq(tn_registry_cache_load(path, &back), 0);
	for (size_t i = 0; i < r->n; i++) {
		ck_assert_str_eq(back->entries[i].key, r->entries[i].key);
		ck_assert_int_eq(back->entries[i].clearance, r->entries[i].clearance);
		ck_assert_int_eq(back->entries[i].planner, r->entries[i].planner);
	}
	tn_registry_free(back);
	tn_registry_free(r);

	/* formats 1 and 2: public, whatever PostgreSQL says (until it is read) */
	snprintf(text, sizeof text,
		 "tocsin-registry 2 4\ndesk1 %s - - -1 -1\nplan1 %s - - -1 -1 planner\n", k1, k3);
	write_file(path, text);
	ck_assert_int_eq(tn_registry_cache_load(path, &r), 0);
	ck_assert_int_eq(tn_registry_find(r, k1)->clearance, TN_SENS_PUBLIC);
	ck_assert_int_eq(tn_registry_find(r, k3)->clearance, TN_SENS_PUBLIC);
	tn_registry_free(r);
	snprintf(text, sizeof text, "tocsin-registry 1 4\ndesk1 %s - -\n", k1);
	write_file(path, text);
	ck_assert_int_eq(tn_registry_cache_load(path, &r), 0);
	ck_assert_int_eq(tn_registry_find(r, k1)->clearance, TN_SENS_PUBLIC);
	tn_registry_free(r);

	/* an unknown clearance, an unknown role, a missing or an extra field */
	static const char *const bad[] = {
		"tocsin-registry 3 9\ndesk1 %s - - -1 -1 - secret\n",
		"tocsin-registry 3 9\ndesk1 %s - - -1 -1 admin official\n",
		"tocsin-registry 3 9\ndesk1 %s - - -1 -1 -\n",
		"tocsin-registry 3 9\ndesk1 %s - - -1 -1 planner\n",
		"tocsin-registry 3 9\ndesk1 %s - - -1 -1 - official extra\n",
		"tocsin-registry 4 9\ndesk1 %s - - -1 -1 - official\n",
		"tocsin-registry 5 9\ndesk1 %s - - -1 -1 - official - -\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		snprintf(text, sizeof text, bad[i], k1);
		write_file(path, text);
		r = NULL;
		ck_assert_msg(tn_registry_cache_load(path, &r) == TN_ECORRUPT, "case %zu", i);
		ck_assert_ptr_null(r);
	}
}
END_TEST

START_TEST(pg_unreachable_is_an_error)
{
	struct tn_registry *r = (void *)1;
	char err[512];
	char conn[160];
	snprintf(conn, sizeof conn, "host=%s/nowhere port=1 dbname=x user=x", dir);
	ck_assert_int_eq(tn_registry_load_pg(conn, TN_REGISTRY_ADAPTERS, &r, err, sizeof err), TN_EDB);
	ck_assert_ptr_null(r);
	ck_assert(strlen(err) > 0);
}
END_TEST

/* Format 4: each key's end of validity and whether it is a rotated-out key;
 * tn_registry_live refuses a key from its end on; older formats: no end. */
START_TEST(cache_expiry)
{
	char k1[41], k2[41], k3[41], path[128], text[1024];
	struct tn_registry *r, *back;
	new_key(k1);
	new_key(k2);
	new_key(k3);
	snprintf(path, sizeof path, "%s/exp.cache", dir);
	snprintf(text, sizeof text,
		 "tocsin-registry 4 6\n"
		 "ukpn %s energy SUB- -1 -1 - public 1800000000000000 -\n"
		 "ukpn %s energy SUB- -1 -1 - public 1700000000000000 old\n"
		 "thames %s water - 100 20 - public - -\n",
		 k1, k2, k3);
	write_file(path, text);
	ck_assert_int_eq(tn_registry_cache_load(path, &r), 0);
	const struct tn_adapter_entry *cur = tn_registry_find(r, k1), *old = tn_registry_find(r, k2),
				      *never = tn_registry_find(r, k3);
	ck_assert_int_eq(cur->not_after_us, 1800000000000000LL);
	ck_assert(!cur->retiring);
	ck_assert_int_eq(old->not_after_us, 1700000000000000LL);
	ck_assert(old->retiring);
	/* the old key keeps the name's scopes */
	ck_assert_str_eq(old->name, "ukpn");
	ck_assert(tn_registry_allows(old, TN_SECTOR_ENERGY, "SUB-1"));
	ck_assert(!tn_registry_allows(old, TN_SECTOR_WATER, NULL));
	ck_assert_int_eq(never->not_after_us, INT64_MAX);
	/* valid up to, not at, its end */
	ck_assert(tn_registry_live(cur, 1800000000000000LL - 1));
	ck_assert(!tn_registry_live(cur, 1800000000000000LL));
	ck_assert(!tn_registry_live(old, 1750000000000000LL));
	ck_assert(tn_registry_live(never, INT64_MAX - 1));
	ck_assert(!tn_registry_live(NULL, 0));
	ck_assert_int_eq(tn_registry_cache_save(r, path), 0);
	ck_assert_int_eq(tn_registry_cache_load(path, &back), 0);
	ck_assert_int_eq(back->n, 3);
	for (size_t i = 0; i < r->n; i++) {
		ck_assert_str_eq(back->entries[i].key, r->entries[i].key);
		ck_assert_int_eq(back->entries[i].not_after_us, r->entries[i].not_after_us);
		ck_assert_int_eq(back->entries[i].retiring, r->entries[i].retiring);
		ck_assert_int_eq(back->entries[i].rate, r->entries[i].rate);
	}
	tn_registry_free(back);
	tn_registry_free(r);

	/* format 3 (no end): never */
	snprintf(text, sizeof text, "tocsin-registry 3 5\ndesk1 %s - - -1 -1 - official\n", k1);
	write_file(path, text);
	ck_assert_int_eq(tn_registry_cache_load(path, &r), 0);
	ck_assert_int_eq(tn_registry_find(r, k1)->not_after_us, INT64_MAX);
	ck_assert(!tn_registry_find(r, k1)->retiring);
	tn_registry_free(r);

	/* a bad end, a bad flag, a missing or an extra field */
	static const char *const bad[] = {
		"tocsin-registry 4 9\nukpn %s energy - -1 -1 - public soon -\n",
		"tocsin-registry 4 9\nukpn %s energy - -1 -1 - public -5 -\n",
		"tocsin-registry 4 9\nukpn %s energy - -1 -1 - public 17x -\n",
		"tocsin-registry 4 9\nukpn %s energy - -1 -1 - public - older\n",
		"tocsin-registry 4 9\nukpn %s energy - -1 -1 - public -\n",
		"tocsin-registry 4 9\nukpn %s energy - -1 -1 - public - - extra\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		snprintf(text, sizeof text, bad[i], k1);
		write_file(path, text);
		r = NULL;
		ck_assert_msg(tn_registry_cache_load(path, &r) == TN_ECORRUPT, "accepted: %s", bad[i]);
		ck_assert_ptr_null(r);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("registry");
	TCase *tc = tcase_create("registry");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, find_and_scopes);
	tcase_add_test(tc, cache_round_trip);
	tcase_add_test(tc, cache_rate_limits);
	tcase_add_test(tc, cache_refuses_nonsense);
	tcase_add_test(tc, empty_refuses_everyone);
	tcase_add_test(tc, empty_cache_round_trip);
	tcase_add_test(tc, console_cache_round_trip);
	tcase_add_test(tc, cache_clearance);
	tcase_add_test(tc, cache_expiry);
	tcase_add_test(tc, pg_unreachable_is_an_error);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
