/* test_dedup.c - the (source, id) window (dedup.h). */
#include "dedup.h"

#include "siphash.h"
#include "tocsin/error.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * For hot loops: every passing ck_assert records its location through a
 * write(2), which would dominate the randomized tests.
 */
#define QUICK_ASSERT(cond, ...)                                                                  \
	do {                                                                                     \
		if (!(cond))                                                                     \
			ck_abort_msg(__VA_ARGS__);                                               \
	} while (0)

static const uint8_t seed_a[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t seed_b[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17};

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Distinct, well-spread keys: key i of a test. */
static struct tn_dedup_key nth(uint64_t i)
{
	uint64_t x = i * 2 + 1;
	struct tn_dedup_key k;

	k.lo = splitmix(&x);
	k.hi = splitmix(&x);
	return k;
}

static struct tn_dedup *new_set(size_t capacity)
{
	struct tn_dedup *d = NULL;

	ck_assert_int_eq(tn_dedup_new(capacity, seed_a, &d), 0);
	ck_assert_ptr_nonnull(d);
	return d;
}

static struct tn_dedup_stats stats_of(const struct tn_dedup *d)
{
	struct tn_dedup_stats st;

	memset(&st, 0xa5, sizeof st);
	tn_dedup_stats(d, &st);
	return st;
}

START_TEST(capacity_is_rounded)
{
	static const size_t asked[] = {0, 1, 1024, 1025, 3000, 1 << 20};
	static const size_t got[] = {1024, 1024, 1024, 2048, 4096, 1 << 20};
	struct tn_dedup *d = NULL;

	for (size_t i = 0; i < sizeof asked / sizeof asked[0]; i++) {
		d = new_set(asked[i]);
		ck_assert_uint_eq(stats_of(d).capacity, got[i]);
		ck_assert_uint_eq(stats_of(d).entries, 0);
		tn_dedup_free(d);
	}
	ck_assert_int_eq(tn_dedup_new(1024, NULL, &d), TN_EINVAL);
	ck_assert_int_eq(tn_dedup_new(1024, seed_a, NULL), TN_EINVAL);
	ck_assert_int_eq(tn_dedup_new(SIZE_MAX, seed_a, &d), TN_EINVAL);
	tn_dedup_free(NULL);
}
END_TEST

START_TEST(insert_lookup_states)
{
	struct tn_dedup *d = new_set(0);
	struct tn_dedup_key a = nth(1), b = nth(2);
	struct tn_dedup_stats st;

	ck_assert_int_eq(tn_dedup_lookup(d, a), TN_DEDUP_ABSENT);
	ck_assert_int_eq(tn_dedup_insert(d, a, TN_DEDUP_PENDING, 100), 0);
	ck_assert_int_eq(tn_dedup_lookup(d, a), TN_DEDUP_PENDING);
	ck_assert_int_eq(tn_dedup_lookup(d, b), TN_DEDUP_ABSENT);
	ck_assert_int_eq(tn_dedup_set_state(d, a, TN_DEDUP_DURABLE), 0);
	ck_assert_int_eq(tn_dedup_lookup(d, a), TN_DEDUP_DURABLE);

	/* A present key stays as it was, whatever state the second insert asks. */
	ck_assert_int_eq(tn_dedup_insert(d, a, TN_DEDUP_PENDING, 101), TN_EEXIST);
	ck_assert_int_eq(tn_dedup_lookup(d, a), TN_DEDUP_DURABLE);
	ck_assert_int_eq(tn_dedup_insert(d, a, TN_DEDUP_DURABLE, 101), TN_EEXIST);

	ck_assert_int_eq(tn_dedup_insert(d, b, TN_DEDUP_DURABLE, 102), 0);
	ck_assert_int_eq(tn_dedup_lookup(d, b), TN_DEDUP_DURABLE);
	ck_assert_int_eq(tn_dedup_set_state(d, b, TN_DEDUP_PENDING), 0);
	ck_assert_int_eq(tn_dedup_lookup(d, b), TN_DEDUP_PENDING);

	ck_assert_int_eq(tn_dedup_set_state(d, nth(3), TN_DEDUP_DURABLE), TN_ENOTFOUND);
	ck_assert_int_eq(tn_dedup_set_state(d, a, TN_DEDUP_ABSENT), TN_EINVAL);
	ck_assert_int_eq(tn_dedup_insert(d, nth(3), TN_DEDUP_ABSENT, 103), TN_EINVAL);
	ck_assert_int_eq(tn_dedup_insert(d, nth(3), (enum tn_dedup_state)7, 103), TN_EINVAL);
	ck_assert_int_eq(tn_dedup_lookup(d, nth(3)), TN_DEDUP_ABSENT);

	st = stats_of(d);
	ck_assert_uint_eq(st.entries, 2);
	ck_assert_uint_eq(st.inserts, 2);
	ck_assert_uint_eq(st.hits, 5 + 2); /* lookups that found, refused inserts */
	ck_assert_uint_eq(st.removes, 0);
	ck_assert_uint_eq(st.evicted, 0);
	ck_assert_uint_eq(st.expired, 0);
	ck_assert_int_eq(tn__dedup_check(d), 0);
	tn_dedup_free(d);
}
END_TEST

START_TEST(remove_then_reinsert)
{
	struct tn_dedup *d = new_set(0);
	struct tn_dedup_key a = nth(1), b = nth(2);
	struct tn_dedup_stats st;

	ck_assert_int_eq(tn_dedup_remove(d, a), TN_ENOTFOUND);
	ck_assert_int_eq(tn_dedup_insert(d, a, TN_DEDUP_PENDING, 1), 0);
	ck_assert_int_eq(tn_dedup_insert(d, b, TN_DEDUP_PENDING, 1), 0);
	ck_assert_int_eq(tn_dedup_remove(d, a), 0);
	ck_assert_int_eq(tn_dedup_lookup(d, a), TN_DEDUP_ABSENT);
	ck_assert_int_eq(tn_dedup_lookup(d, b), TN_DEDUP_PENDING);
	ck_assert_int_eq(tn_dedup_remove(d, a), TN_ENOTFOUND);
	ck_assert_int_eq(tn_dedup_set_state(d, a, TN_DEDUP_DURABLE), TN_ENOTFOUND);

	/* The retry of a failed append is accepted, not answered `dup`. */
	ck_assert_int_eq(tn_dedup_insert(d, a, TN_DEDUP_PENDING, 2), 0);
	ck_assert_int_eq(tn_dedup_lookup(d, a), TN_DEDUP_PENDING);

	st = stats_of(d);
	ck_assert_uint_eq(st.entries, 2);
	ck_assert_uint_eq(st.inserts, 3);
	ck_assert_uint_eq(st.removes, 1);
	ck_assert_uint_eq(st.hits, 2);
	ck_assert_int_eq(tn__dedup_check(d), 0);
	tn_dedup_free(d);
}
END_TEST

/* Keys that share the low word (same home slot, same filter) but not the high one. */
/* claim is lookup + insert in one probe; set_state_ref finds the entry by
 * its handle, and falls back to a probe once the handle is stale. */
START_TEST(claim_and_set_by_ref)
{
	struct tn_dedup *d = new_set(1024);
	struct tn_dedup_key a = nth(1), b = nth(2);
	struct tn_dedup_stats st;
	uint64_t ra = 0, rb = 0, r;

	ck_assert_int_eq(tn_dedup_claim(d, a, 10, &ra), TN_DEDUP_ABSENT);
	ck_assert_int_eq(tn_dedup_lookup(d, a), TN_DEDUP_PENDING);
	r = 12345;
	ck_assert_int_eq(tn_dedup_claim(d, a, 11, &r), TN_DEDUP_PENDING);
	ck_assert_uint_eq(r, 12345); /* a hit leaves the handle alone */
	ck_assert_int_eq(tn_dedup_set_state_ref(d, ra, a, TN_DEDUP_DURABLE), 0);
	ck_assert_int_eq(tn_dedup_claim(d, a, 12, &r), TN_DEDUP_DURABLE);
	ck_assert_int_eq(tn_dedup_set_state_ref(d, ra, a, TN_DEDUP_ABSENT), TN_EINVAL);
	/* A handle of another key's entry is not taken for this key's. */
	ck_assert_int_eq(tn_dedup_claim(d, b, 13, &rb), TN_DEDUP_ABSENT);
	ck_assert_uint_ne(ra, rb);
	ck_assert_int_eq(tn_dedup_set_state_ref(d, rb, a, TN_DEDUP_PENDING), 0);
	ck_assert_int_eq(tn_dedup_lookup(d, a), TN_DEDUP_PENDING);
	ck_assert_int_eq(tn_dedup_lookup(d, b), TN_DEDUP_PENDING);
	/* Removed: the dead entry is not revived. */
	ck_assert_int_eq(tn_dedup_remove(d, b), 0);
	ck_assert_int_eq(tn_dedup_set_state_ref(d, rb, b, TN_DEDUP_DURABLE), TN_ENOTFOUND);
	ck_assert_int_eq(tn_dedup_lookup(d, b), TN_DEDUP_ABSENT);
	st = stats_of(d);
	ck_assert_uint_eq(st.inserts, 2);
	ck_assert_uint_eq(st.hits, 5);
	ck_assert_int_eq(tn__dedup_check(d), 0);

	/* Evicted, its ring slot reused, then the key back at a new entry: the
	 * stale handle still reaches the key, through the table. */
	for (uint64_t i = 100; i < 100 + 1024; i++)
		ck_assert_int_eq(tn_dedup_claim(d, nth(i), 20, &r), TN_DEDUP_ABSENT);
	ck_assert_int_eq(tn_dedup_lookup(d, a), TN_DEDUP_ABSENT);
	ck_assert_int_eq(tn_dedup_set_state_ref(d, ra, a, TN_DEDUP_DURABLE), TN_ENOTFOUND);
	ck_assert_int_eq(tn_dedup_claim(d, a, 30, &r), TN_DEDUP_ABSENT);
	ck_assert_uint_ne(r, ra);
	ck_assert_int_eq(tn_dedup_set_state_ref(d, ra, a, TN_DEDUP_DURABLE), 0);
	ck_assert_int_eq(tn_dedup_lookup(d, a), TN_DEDUP_DURABLE);
	ck_assert_int_eq(tn__dedup_check(d), 0);
	tn_dedup_free(d);
}
END_TEST

START_TEST(same_low_word)
{
	struct tn_dedup *d = new_set(0);
	struct tn_dedup_key k[40];

	for (int i = 0; i < 40; i++) {
		k[i].lo = 5;
		k[i].hi = (uint64_t)i * 1000003;
		ck_assert_int_eq(tn_dedup_insert(d, k[i], TN_DEDUP_PENDING, 0), 0);
	}
	for (int i = 0; i < 40; i += 3)
		ck_assert_int_eq(tn_dedup_remove(d, k[i]), 0);
	for (int i = 0; i < 40; i++)
		ck_assert_int_eq(tn_dedup_lookup(d, k[i]),
				 i % 3 == 0 ? TN_DEDUP_ABSENT : TN_DEDUP_PENDING);
	for (int i = 0; i < 40; i += 3)
		ck_assert_int_eq(tn_dedup_insert(d, k[i], TN_DEDUP_DURABLE, 0), 0);
	for (int i = 0; i < 40; i++)
		ck_assert_int_eq(tn_dedup_lookup(d, k[i]),
				 i % 3 == 0 ? TN_DEDUP_DURABLE : TN_DEDUP_PENDING);
	ck_assert_uint_eq(stats_of(d).entries, 40);
	ck_assert_int_eq(tn__dedup_check(d), 0);
	tn_dedup_free(d);
}
END_TEST

START_TEST(eviction_oldest_first)
{
	struct tn_dedup *d = new_set(1000); /* rounded up to 1024 */
	struct tn_dedup_stats st;

	for (uint64_t i = 0; i < 1024; i++)
		ck_assert_int_eq(tn_dedup_insert(d, nth(i), TN_DEDUP_DURABLE, 0), 0);
	st = stats_of(d);
	ck_assert_uint_eq(st.entries, 1024);
	ck_assert_uint_eq(st.evicted, 0);

	for (uint64_t i = 1024; i < 1024 + 300; i++) {
		ck_assert_int_eq(tn_dedup_insert(d, nth(i), TN_DEDUP_PENDING, 0), 0);
		/* Exactly the oldest went, the one before it long ago, its successor stays. */
		ck_assert_int_eq(tn_dedup_lookup(d, nth(i - 1024)), TN_DEDUP_ABSENT);
		ck_assert_int_eq(tn_dedup_lookup(d, nth(i - 1023)), TN_DEDUP_DURABLE);
		ck_assert_int_eq(tn_dedup_lookup(d, nth(i)), TN_DEDUP_PENDING);
		st = stats_of(d);
		ck_assert_uint_eq(st.entries, 1024);
		ck_assert_uint_eq(st.evicted, i - 1023);
	}
	for (uint64_t i = 0; i < 300; i++)
		ck_assert_int_eq(tn_dedup_lookup(d, nth(i)), TN_DEDUP_ABSENT);
	for (uint64_t i = 300; i < 1324; i++)
		ck_assert_int_ne(tn_dedup_lookup(d, nth(i)), TN_DEDUP_ABSENT);

	/* An evicted key is new again. */
	ck_assert_int_eq(tn_dedup_insert(d, nth(0), TN_DEDUP_PENDING, 0), 0);
	ck_assert_int_eq(tn_dedup_lookup(d, nth(300)), TN_DEDUP_ABSENT);
	st = stats_of(d);
	ck_assert_uint_eq(st.evicted, 301);
	ck_assert_uint_eq(st.inserts, 1325);
	ck_assert_uint_eq(st.expired, 0);
	ck_assert_int_eq(tn__dedup_check(d), 0);
	tn_dedup_free(d);
}
END_TEST

START_TEST(expire_by_arrival)
{
	struct tn_dedup *d = new_set(0);
	struct tn_dedup_stats st;

	ck_assert_uint_eq(tn_dedup_expire(d, 1000), 0);
	/* Ten keys per second, seconds 10 to 19. */
	for (uint64_t i = 0; i < 100; i++)
		ck_assert_int_eq(tn_dedup_insert(d, nth(i), TN_DEDUP_DURABLE, 10 + (int64_t)i / 10),
				 0);
	ck_assert_uint_eq(tn_dedup_expire(d, 10), 0);
	ck_assert_uint_eq(tn_dedup_expire(d, 15), 50);
	ck_assert_uint_eq(tn_dedup_expire(d, 15), 0);
	for (uint64_t i = 0; i < 100; i++)
		ck_assert_int_eq(tn_dedup_lookup(d, nth(i)),
				 i < 50 ? TN_DEDUP_ABSENT : TN_DEDUP_DURABLE);
	st = stats_of(d);
	ck_assert_uint_eq(st.entries, 50);
	ck_assert_uint_eq(st.expired, 50);
	ck_assert_uint_eq(st.evicted, 0);

	ck_assert_uint_eq(tn_dedup_expire(d, 16), 10);
	ck_assert_uint_eq(tn_dedup_expire(d, INT64_MAX), 40);
	st = stats_of(d);
	ck_assert_uint_eq(st.entries, 0);
	ck_assert_uint_eq(st.expired, 100);

	/* Empty, then reused. */
	ck_assert_int_eq(tn_dedup_insert(d, nth(5), TN_DEDUP_PENDING, 30), 0);
	ck_assert_int_eq(tn_dedup_lookup(d, nth(5)), TN_DEDUP_PENDING);
	ck_assert_uint_eq(tn_dedup_expire(d, 30), 0);
	ck_assert_uint_eq(tn_dedup_expire(d, 31), 1);
	ck_assert_int_eq(tn__dedup_check(d), 0);
	tn_dedup_free(d);
}
END_TEST

/* Expiry goes by arrival order: a clock that stepped back delays, never skips. */
START_TEST(expire_stops_at_first_young)
{
	struct tn_dedup *d = new_set(0);

	ck_assert_int_eq(tn_dedup_insert(d, nth(0), TN_DEDUP_DURABLE, 10), 0);
	ck_assert_int_eq(tn_dedup_insert(d, nth(1), TN_DEDUP_DURABLE, 20), 0);
	ck_assert_int_eq(tn_dedup_insert(d, nth(2), TN_DEDUP_DURABLE, 15), 0);
	ck_assert_uint_eq(tn_dedup_expire(d, 18), 1);
	ck_assert_int_eq(tn_dedup_lookup(d, nth(2)), TN_DEDUP_DURABLE);
	ck_assert_uint_eq(tn_dedup_expire(d, 21), 2);
	ck_assert_uint_eq(stats_of(d).entries, 0);
	ck_assert_int_eq(tn__dedup_check(d), 0);
	tn_dedup_free(d);
}
END_TEST

/*
 * Removed entries leave dead slots in the FIFO: they still take room until
 * they reach the head, and are then skipped, never counted as evicted or
 * expired.
 */
START_TEST(removes_in_the_middle)
{
	struct tn_dedup *d = new_set(0);
	struct tn_dedup_stats st;
	uint64_t next = 1024;

	for (uint64_t i = 0; i < 1024; i++)
		ck_assert_int_eq(tn_dedup_insert(d, nth(i), TN_DEDUP_DURABLE, (int64_t)i), 0);
	for (uint64_t i = 10; i < 20; i++)
		ck_assert_int_eq(tn_dedup_remove(d, nth(i)), 0);
	ck_assert_int_eq(tn_dedup_remove(d, nth(500)), 0);
	st = stats_of(d);
	ck_assert_uint_eq(st.entries, 1013);
	ck_assert_uint_eq(st.removes, 11);
	ck_assert_int_eq(tn__dedup_check(d), 0);

	/* The FIFO is full of slots: each insert evicts one of keys 0..9, oldest first. */
	for (uint64_t i = 0; i < 10; i++, next++) {
		ck_assert_int_eq(tn_dedup_insert(d, nth(next), TN_DEDUP_PENDING, 2000), 0);
		ck_assert_int_eq(tn_dedup_lookup(d, nth(i)), TN_DEDUP_ABSENT);
		if (i < 9)
			ck_assert_int_eq(tn_dedup_lookup(d, nth(i + 1)), TN_DEDUP_DURABLE);
		ck_assert_uint_eq(stats_of(d).evicted, i + 1);
	}
	/* Keys 10..19 were dead at the head: skipped, so ten inserts evict nothing. */
	for (uint64_t i = 0; i < 10; i++, next++)
		ck_assert_int_eq(tn_dedup_insert(d, nth(next), TN_DEDUP_PENDING, 2000), 0);
	st = stats_of(d);
	ck_assert_uint_eq(st.evicted, 10);
	ck_assert_uint_eq(st.entries, 1023); /* key 500's dead slot still takes room */
	ck_assert_int_eq(tn_dedup_lookup(d, nth(20)), TN_DEDUP_DURABLE);
	ck_assert_int_eq(tn_dedup_insert(d, nth(next++), TN_DEDUP_PENDING, 2000), 0);
	ck_assert_int_eq(tn_dedup_lookup(d, nth(20)), TN_DEDUP_ABSENT);
	ck_assert_int_eq(tn_dedup_lookup(d, nth(21)), TN_DEDUP_DURABLE);
	ck_assert_uint_eq(stats_of(d).evicted, 11);

	/* Expiry across key 500's dead slot: keys 21..599 arrived before 600, but 500. */
	ck_assert_uint_eq(tn_dedup_expire(d, 600), 600 - 21 - 1);
	ck_assert_int_eq(tn_dedup_lookup(d, nth(599)), TN_DEDUP_ABSENT);
	ck_assert_int_eq(tn_dedup_lookup(d, nth(600)), TN_DEDUP_DURABLE);
	st = stats_of(d);
	ck_assert_uint_eq(st.expired, 578);
	ck_assert_uint_eq(st.entries, 1023 - 578);

	/* Removing the head itself moves the head on. */
	ck_assert_int_eq(tn_dedup_remove(d, nth(600)), 0);
	ck_assert_int_eq(tn_dedup_remove(d, nth(601)), 0);
	ck_assert_uint_eq(tn_dedup_expire(d, 603), 1);
	ck_assert_int_eq(tn_dedup_lookup(d, nth(603)), TN_DEDUP_DURABLE);

	/* Everything out, including the newest (a removed tail is just a dead slot). */
	ck_assert_int_eq(tn_dedup_remove(d, nth(next - 1)), 0);
	st = stats_of(d);
	ck_assert_uint_eq(tn_dedup_expire(d, INT64_MAX), st.entries);
	st = stats_of(d);
	ck_assert_uint_eq(st.entries, 0);
	for (uint64_t i = 0; i < next; i++)
		ck_assert_int_eq(tn_dedup_lookup(d, nth(i)), TN_DEDUP_ABSENT);
	ck_assert_uint_eq(st.inserts, st.removes + st.evicted + st.expired);
	ck_assert_int_eq(tn__dedup_check(d), 0);
	tn_dedup_free(d);
}
END_TEST

START_TEST(seeded_keys)
{
	struct tn_dedup *a1 = NULL, *a2 = NULL, *b = NULL;
	struct tn_dedup_key k1, k2, k3;
	uint8_t tag[16];
	uint64_t lo = 0, hi = 0;

	ck_assert_int_eq(tn_dedup_new(0, seed_a, &a1), 0);
	ck_assert_int_eq(tn_dedup_new(0, seed_a, &a2), 0);
	ck_assert_int_eq(tn_dedup_new(0, seed_b, &b), 0);

	k1 = tn_dedup_key_of(a1, "sector-7", "evt-0001");
	k2 = tn_dedup_key_of(a2, "sector-7", "evt-0001");
	k3 = tn_dedup_key_of(b, "sector-7", "evt-0001");
	ck_assert(k1.lo == k2.lo && k1.hi == k2.hi);
	ck_assert(k1.lo != k3.lo && k1.hi != k3.hi);

	/* The key is the tag of source NUL id, low word first. */
	tn__siphash128(seed_a, "sector-7\0evt-0001", 17, tag);
	for (int i = 0; i < 8; i++) {
		lo |= (uint64_t)tag[i] << (8 * i);
		hi |= (uint64_t)tag[8 + i] << (8 * i);
	}
	ck_assert(k1.lo == lo && k1.hi == hi);

	/* The separator keeps the two fields apart. */
	k1 = tn_dedup_key_of(a1, "ab", "c");
	k2 = tn_dedup_key_of(a1, "a", "bc");
	ck_assert(k1.lo != k2.lo || k1.hi != k2.hi);
	k1 = tn_dedup_key_of(a1, "", "x");
	k2 = tn_dedup_key_of(a1, "x", "");
	ck_assert(k1.lo != k2.lo || k1.hi != k2.hi);

	/* The same pair is a duplicate under one seed only for that set's own keys. */
	ck_assert_int_eq(tn_dedup_insert(a1, tn_dedup_key_of(a1, "s", "1"), TN_DEDUP_PENDING, 0),
			 0);
	ck_assert_int_eq(tn_dedup_insert(a1, tn_dedup_key_of(a2, "s", "1"), TN_DEDUP_PENDING, 0),
			 TN_EEXIST);
	ck_assert_int_eq(tn_dedup_lookup(a1, tn_dedup_key_of(b, "s", "1")), TN_DEDUP_ABSENT);

	tn_dedup_free(a1);
	tn_dedup_free(a2);
	tn_dedup_free(b);
}
END_TEST

START_TEST(large_capacity)
{
	struct tn_dedup *d = new_set(1 << 20);
	struct tn_dedup_stats st;
	uint64_t n = (1 << 20) + 1000;

	for (uint64_t i = 0; i < n; i++)
		QUICK_ASSERT(tn_dedup_insert(d, nth(i), TN_DEDUP_PENDING, 0) == 0, "insert %llu",
			     (unsigned long long)i);
	for (uint64_t i = 0; i < n; i++)
		QUICK_ASSERT(tn_dedup_lookup(d, nth(i)) ==
				     (i < 1000 ? TN_DEDUP_ABSENT : TN_DEDUP_PENDING),
			     "lookup %llu", (unsigned long long)i);
	st = stats_of(d);
	ck_assert_uint_eq(st.entries, 1 << 20);
	ck_assert_uint_eq(st.evicted, 1000);
	ck_assert_int_eq(tn__dedup_check(d), 0);
	tn_dedup_free(d);
}
END_TEST

/* ---- differential test against a naive model ---------------------------------------- */

/*
 * The model: every insert appended to a plain array, found by linear search.
 * Removal marks the record dead; dead records at the front are dropped, and
 * the FIFO's occupancy is the span from the first live record to the end
 * (dead slots inside it take room, as documented).
 */
struct mrec {
	struct tn_dedup_key k;
	int64_t t;
	int state; /* 0: dead */
};

struct model {
	struct mrec *r;
	size_t start, end, cap;
	struct tn_dedup_stats st;
};

static long model_find(const struct model *m, struct tn_dedup_key k)
{
	for (size_t i = m->start; i < m->end; i++)
		if (m->r[i].state && m->r[i].k.lo == k.lo && m->r[i].k.hi == k.hi)
			return (long)i;
	return -1;
}

static void model_kill(struct model *m, size_t i)
{
	m->r[i].state = 0;
	m->st.entries--;
	while (m->start < m->end && !m->r[m->start].state)
		m->start++;
}

static int model_insert(struct model *m, struct tn_dedup_key k, int state, int64_t t)
{
	if (model_find(m, k) >= 0) {
		m->st.hits++;
		return TN_EEXIST;
	}
	if (m->end - m->start == m->cap) {
		model_kill(m, m->start);
		m->st.evicted++;
	}
	m->r[m->end].k = k;
	m->r[m->end].t = t;
	m->r[m->end].state = state;
	m->end++;
	m->st.entries++;
	m->st.inserts++;
	return 0;
}

static int model_lookup(struct model *m, struct tn_dedup_key k)
{
	long i = model_find(m, k);

	if (i < 0)
		return TN_DEDUP_ABSENT;
	m->st.hits++;
	return m->r[i].state;
}

static int model_set_state(struct model *m, struct tn_dedup_key k, int state)
{
	long i = model_find(m, k);

	if (i < 0)
		return TN_ENOTFOUND;
	m->r[i].state = state;
	return 0;
}

static int model_remove(struct model *m, struct tn_dedup_key k)
{
	long i = model_find(m, k);

	if (i < 0)
		return TN_ENOTFOUND;
	model_kill(m, (size_t)i);
	m->st.removes++;
	return 0;
}

static size_t model_expire(struct model *m, int64_t before)
{
	size_t n = 0;

	while (m->start < m->end && m->r[m->start].t < before) {
		model_kill(m, m->start);
		n++;
	}
	m->st.expired += n;
	return n;
}

static void assert_same_stats(const struct tn_dedup *d, const struct model *m, long step)
{
	struct tn_dedup_stats a = stats_of(d);
	const struct tn_dedup_stats *b = &m->st;

	QUICK_ASSERT(a.entries == b->entries && a.capacity == b->capacity &&
			     a.evicted == b->evicted && a.expired == b->expired &&
			     a.hits == b->hits && a.inserts == b->inserts &&
			     a.removes == b->removes,
		     "stats differ at step %ld (dedup/model): entries %llu/%llu evicted %llu/%llu "
		     "expired %llu/%llu hits %llu/%llu inserts %llu/%llu removes %llu/%llu",
		     step, (unsigned long long)a.entries, (unsigned long long)b->entries,
		     (unsigned long long)a.evicted, (unsigned long long)b->evicted,
		     (unsigned long long)a.expired, (unsigned long long)b->expired,
		     (unsigned long long)a.hits, (unsigned long long)b->hits,
		     (unsigned long long)a.inserts, (unsigned long long)b->inserts,
		     (unsigned long long)a.removes, (unsigned long long)b->removes);
}

#define UNIVERSE 3000
#define OPS 200000

/*
 * A quarter of the keys crowd the last table slots and wrap around to the
 * first ones, another quarter share 16 exact low words: long clusters, so
 * that probing and backward shifts across the end of the table get exercised.
 */
static void make_universe(struct tn_dedup_key *u, uint64_t tmask)
{
	uint64_t x = 42;

	for (int i = 0; i < UNIVERSE; i++) {
		u[i].hi = splitmix(&x);
		u[i].lo = splitmix(&x);
		if (i % 4 == 0)
			u[i].lo = (u[i].lo & ~tmask) | ((tmask - 7 + u[i].lo % 64) & tmask);
		else if (i % 4 == 1)
			u[i].lo %= 16;
	}
}

START_TEST(differential)
{
	static struct tn_dedup_key u[UNIVERSE];
	struct tn_dedup *d = new_set(1024);
	struct model m = {0};
	uint64_t rng = 0x1234567 + (uint64_t)_i;
	int64_t now = 1000;

	m.cap = 1024;
	m.r = calloc(OPS + 1, sizeof *m.r);
	ck_assert_ptr_nonnull(m.r);
	m.st.capacity = 1024;
	make_universe(u, 2 * 1024 - 1);

	for (long step = 0, ops = 0; ops < OPS; step++) {
		uint64_t r = splitmix(&rng);
		struct tn_dedup_key k = u[(r >> 8) % UNIVERSE];
		int op = (int)(r % 100), want, got;
		/* Alternate phases: churn (removes, expiry) and filling (evictions). */
		int filling = (step / 10000) % 2;
		int state = (r >> 40) & 1 ? TN_DEDUP_DURABLE : TN_DEDUP_PENDING;

		if (op < 40) {
			want = model_insert(&m, k, state, now);
			got = tn_dedup_insert(d, k, (enum tn_dedup_state)state, now);
		} else if (op < 60) {
			want = model_lookup(&m, k);
			got = (int)tn_dedup_lookup(d, k);
		} else if (op < 70) {
			want = model_set_state(&m, k, state);
			got = tn_dedup_set_state(d, k, (enum tn_dedup_state)state);
		} else if (op < (filling ? 72 : 85)) {
			want = model_remove(&m, k);
			got = tn_dedup_remove(d, k);
		} else if (op < 88) {
			if (filling)
				continue;
			int64_t before = now - 100 - (int64_t)((r >> 32) % 400);
			want = (int)model_expire(&m, before);
			got = (int)tn_dedup_expire(d, before);
		} else if (op < 99) {
			now += (int64_t)((r >> 32) % 3);
			continue;
		} else {
			now -= 2; /* a clock that stepped back */
			continue;
		}
		ops++;
		QUICK_ASSERT(want == got, "step %ld op %d: model %d, dedup %d", step, op, want,
			     got);
		QUICK_ASSERT((int)tn_dedup_lookup(d, k) == model_lookup(&m, k),
			     "step %ld: lookup after op %d", step, op);
		assert_same_stats(d, &m, step);
		if (ops % 1000 == 0)
			QUICK_ASSERT(tn__dedup_check(d) == 0, "step %ld: invariants broken", step);
		if (ops % 5000 != 0)
			continue;
		for (int i = 0; i < UNIVERSE; i++)
			QUICK_ASSERT((int)tn_dedup_lookup(d, u[i]) == model_lookup(&m, u[i]),
				     "step %ld: key %d", step, i);
	}
	for (int i = 0; i < UNIVERSE; i++)
		ck_assert_int_eq((int)tn_dedup_lookup(d, u[i]), model_lookup(&m, u[i]));
	/* The run did exercise every path. */
	ck_assert_uint_gt(m.st.evicted, 1000);
	ck_assert_uint_gt(m.st.expired, 1000);
	ck_assert_uint_gt(m.st.removes, 1000);
	ck_assert_uint_gt(m.st.hits, 1000);
	free(m.r);
	ck_assert_int_eq(tn__dedup_check(d), 0);
	tn_dedup_free(d);
}
END_TEST

static Suite *dedup_suite(void)
{
	Suite *s = suite_create("dedup");
	TCase *tc = tcase_create("core");
	TCase *big = tcase_create("randomized");

	tcase_add_test(tc, capacity_is_rounded);
	tcase_add_test(tc, insert_lookup_states);
	tcase_add_test(tc, remove_then_reinsert);
	tcase_add_test(tc, claim_and_set_by_ref);
	tcase_add_test(tc, same_low_word);
	tcase_add_test(tc, eviction_oldest_first);
	tcase_add_test(tc, expire_by_arrival);
	tcase_add_test(tc, expire_stops_at_first_young);
	tcase_add_test(tc, removes_in_the_middle);
	tcase_add_test(tc, seeded_keys);
	suite_add_tcase(s, tc);

	/* Generous timeouts: sanitizer builds are several times slower. */
	tcase_set_timeout(big, 300);
	tcase_add_test(big, large_capacity);
	tcase_add_loop_test(big, differential, 0, 2);
	suite_add_tcase(s, big);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(dedup_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
