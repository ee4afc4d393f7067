/*
 * dedup.c - the recent (source, id) window (dedup.h).
 *
 * Two arrays, both allocated by tn_dedup_new and never again:
 *
 * - the FIFO, a ring of `cap` entries in arrival order. Entries are named by
 *   absolute sequence numbers (`head` <= seq < `tail`, starting at 1 so that
 *   0 can mean "empty" in the table); entry seq lives at ring[seq & fmask].
 *   A removed entry stays in the ring as a dead slot (state ABSENT) until it
 *   reaches the head, so that arrival order is never disturbed. `head` is
 *   kept on a live entry (or equal to `tail`): eviction and expiry then only
 *   ever look at the head.
 *
 * - the table, 2 * cap slots of open addressing with linear probing, so the
 *   load never exceeds 1/2 and probes stay short. A slot holds the sequence
 *   number of its entry and a copy of the key's low word: the home slot is
 *   computed and most misses are rejected without touching the ring. Keys are
 *   SipHash output, uniform, so the low word is the hash. Deletion shifts the
 *   following cluster back (no table tombstones), so lookups never degrade
 *   with churn.
 *
 * Size: 32 bytes per ring entry plus 2 * 16 per table slot, 64 bytes per
 * unit of capacity (64 MiB for 2^20).
 */
#include "dedup.h"

#include "siphash.h"
#include "tocsin/error.h"

#include <stdlib.h>
#include <string.h>

#define MIN_CAPACITY 1024
/* Beyond this the arrays' byte sizes could overflow size_t. */
#define MAX_CAPACITY ((size_t)1 << (sizeof(size_t) * 8 - 8))

struct entry {
	struct tn_dedup_key key;
	int64_t arrival_s;
	uint8_t state; /* enum tn_dedup_state; ABSENT marks a dead slot */
};

struct slot {
	uint64_t lo;  /* key.lo of the entry: its home slot, and a cheap filter */
	uint64_t seq; /* 0: empty */
};

struct tn_dedup {
	struct entry *ring;
	struct slot *table;
	uint64_t fmask, tmask;
	uint64_t head, tail; /* sequence numbers; tail - head slots are in use */
	struct tn_dedup_stats st;
	uint8_t seed[16];
};

static int is_present_state(enum tn_dedup_state state)
{
	return state == TN_DEDUP_PENDING || state == TN_DEDUP_DURABLE;
}

static struct entry *entry_of(const struct tn_dedup *d, uint64_t seq)
{
	return &d->ring[seq & d->fmask];
}

/* The table slot holding `k`, or -1. */
static int64_t find(const struct tn_dedup *d, struct tn_dedup_key k)
{
	for (uint64_t i = k.lo & d->tmask;; i = (i + 1) & d->tmask) {
		const struct slot *s = &d->table[i];
		if (s->seq == 0)
			return -1;
		if (s->lo == k.lo && entry_of(d, s->seq)->key.hi == k.hi)
			return (int64_t)i;
	}
}

/* The table slot pointing at `seq`, which must be a live entry. */
static uint64_t find_seq(const struct tn_dedup *d, uint64_t seq)
{
	uint64_t i = entry_of(d, seq)->key.lo & d->tmask;

	while (d->table[i].seq != seq)
		i = (i + 1) & d->tmask;
	return i;
}

/*
 * Empty slot i and pull back the entries after it that may move: an entry at
 * j can fill the hole at i unless its home lies cyclically in (i, j].
 */
static void table_delete(struct tn_dedup *d, uint64_t i)
{
	uint64_t mask = d->tmask;

	for (uint64_t j = (i + 1) & mask; d->table[j].seq != 0; j = (j + 1) & mask) {
		uint64_t home = d->table[j].lo & mask;
		if (((j - home) & mask) >= ((j - i) & mask)) {
			d->table[i] = d->table[j];
			i = j;
		}
	}
	d->table[i].seq = 0;
}

static void table_insert(struct tn_dedup *d, uint64_t lo, uint64_t seq)
{
	uint64_t i = lo & d->tmask;

	while (d->table[i].seq != 0)
		i = (i + 1) & d->tmask;
	d->table[i].lo = lo;
	d->table[i].seq = seq;
}

/* Step the head over dead slots, so that it rests on a live entry or the tail. */
static void skip_dead(struct tn_dedup *d)
{
	while (d->head != d->tail && entry_of(d, d->head)->state == TN_DEDUP_ABSENT)
		d->head++;
}

/* Forget the (live) head entry. */
static void pop_head(struct tn_dedup *d)
{
	table_delete(d, find_seq(d, d->head));
	entry_of(d, d->head)->state = TN_DEDUP_ABSENT;
	d->head++;
	d->st.entries--;
	skip_dead(d);
}

int tn_dedup_new(size_t capacity, const uint8_t seed[16], struct tn_dedup **out)
{
	struct tn_dedup *d;
	size_t cap = MIN_CAPACITY;

	if (!seed || !out || capacity > MAX_CAPACITY)
		return TN_EINVAL;
	while (cap < capacity)
		cap <<= 1;
	d = calloc(1, sizeof *d);
	if (!d)
		return TN_ENOMEM;
	/* calloc: every table slot starts empty (seq 0), every ring slot dead. */
	d->ring = calloc(cap, sizeof *d->ring);
	d->table = calloc(2 * cap, sizeof *d->table);
	if (!d->ring || !d->table) {
		tn_dedup_free(d);
		return TN_ENOMEM;
	}
	d->fmask = cap - 1;
	d->tmask = 2 * cap - 1;
	d->head = d->tail = 1;
	d->st.capacity = cap;
	memcpy(d->seed, seed, sizeof d->seed);
	*out = d;
	return 0;
}

void tn_dedup_free(struct tn_dedup *d)
{
	if (!d)
		return;
	explicit_bzero(d->seed, sizeof d->seed);
	free(d->ring);
	free(d->table);
	free(d);
}

struct tn_dedup_key tn_dedup_key_of(const struct tn_dedup *d, const char *source, const char *id)
{
	struct tn__siphash s;
	struct tn_dedup_key k;
	uint8_t tag[16];

	/* The NUL keeps ("ab", "c") and ("a", "bc") apart. */
	tn__siphash128_init(&s, d->seed);
	tn__siphash128_update(&s, source, strlen(source) + 1);
	tn__siphash128_update(&s, id, strlen(id));
	tn__siphash128_final(&s, tag);
	k.lo = k.hi = 0;
	for (int i = 0; i < 8; i++) {
		k.lo |= (uint64_t)tag[i] << (8 * i);
		k.hi |= (uint64_t)tag[8 + i] << (8 * i);
	}
	return k;
}

enum tn_dedup_state tn_dedup_lookup(const struct tn_dedup *d, struct tn_dedup_key k)
{
	int64_t i = find(d, k);

	if (i < 0)
		return TN_DEDUP_ABSENT;
	/*
	 * Lookup is how ingest finds duplicates, so it must count them. The set
	 * is logically unchanged, `d` is heap-allocated (never a const object)
	 * and owned by the calling thread: the cast is defined and race-free.
	 */
	((struct tn_dedup *)d)->st.hits++;
	return (enum tn_dedup_state)entry_of(d, d->table[i].seq)->state;
}

/* Add `k`, known to be absent, as the newest entry; returns its sequence. */
static uint64_t push(struct tn_dedup *d, struct tn_dedup_key k, enum tn_dedup_state state,
		     int64_t now_s)
{
	struct entry *e;

	/* Full ring: the head is live (skip_dead), so this evicts exactly one entry. */
	if (d->tail - d->head > d->fmask) {
		pop_head(d);
		d->st.evicted++;
	}
	e = entry_of(d, d->tail);
	e->key = k;
	e->arrival_s = now_s;
	e->state = (uint8_t)state;
	table_insert(d, k.lo, d->tail);
	d->st.entries++;
	d->st.inserts++;
	return d->tail++;
}

int tn_dedup_insert(struct tn_dedup *d, struct tn_dedup_key k, enum tn_dedup_state state,
		    int64_t now_s)
{
	if (!is_present_state(state))
		return TN_EINVAL;
	if (find(d, k) >= 0) {
		d->st.hits++;
		return TN_EEXIST;
	}
	push(d, k, state, now_s);
	return 0;
}

enum tn_dedup_state tn_dedup_claim(struct tn_dedup *d, struct tn_dedup_key k, int64_t now_s,
				   uint64_t *ref)
{
	int64_t i = find(d, k);

	if (i >= 0) {
		d->st.hits++;
		return (enum tn_dedup_state)entry_of(d, d->table[i].seq)->state;
	}
	/* The probe just walked k's cluster: push's own probe finds it in cache. */
	*ref = push(d, k, TN_DEDUP_PENDING, now_s);
	return TN_DEDUP_ABSENT;
}

int tn_dedup_set_state_ref(struct tn_dedup *d, uint64_t ref, struct tn_dedup_key k,
			   enum tn_dedup_state state)
{
	struct entry *e;

	if (!is_present_state(state))
		return TN_EINVAL;
	/* A live entry in the window holding k is k's only entry. */
	if (ref >= d->head && ref < d->tail) {
		e = entry_of(d, ref);
		if (e->state != TN_DEDUP_ABSENT && e->key.lo == k.lo && e->key.hi == k.hi) {
			e->state = (uint8_t)state;
			return 0;
		}
	}
	return tn_dedup_set_state(d, k, state);
}

int tn_dedup_set_state(struct tn_dedup *d, struct tn_dedup_key k, enum tn_dedup_state state)
{
	int64_t i;

	if (!is_present_state(state))
		return TN_EINVAL;
	i = find(d, k);
	if (i < 0)
		return TN_ENOTFOUND;
	entry_of(d, d->table[i].seq)->state = (uint8_t)state;
	return 0;
}

int tn_dedup_remove(struct tn_dedup *d, struct tn_dedup_key k)
{
	int64_t i = find(d, k);
	uint64_t seq;

	if (i < 0)
		return TN_ENOTFOUND;
	seq = d->table[i].seq;
	table_delete(d, (uint64_t)i);
	entry_of(d, seq)->state = TN_DEDUP_ABSENT;
	d->st.entries--;
	d->st.removes++;
	if (seq == d->head)
		skip_dead(d);
	return 0;
}

size_t tn_dedup_expire(struct tn_dedup *d, int64_t before_s)
{
	size_t n = 0;

	while (d->head != d->tail && entry_of(d, d->head)->arrival_s < before_s) {
		pop_head(d);
		n++;
	}
	d->st.expired += n;
	return n;
}

int tn__dedup_check(const struct tn_dedup *d)
{
	uint64_t live = 0, mapped = 0;

	if (d->tail - d->head > d->fmask + 1 ||
	    (d->head != d->tail && entry_of(d, d->head)->state == TN_DEDUP_ABSENT))
		return TN_ECORRUPT;
	for (uint64_t seq = d->head; seq != d->tail; seq++)
		live += entry_of(d, seq)->state != TN_DEDUP_ABSENT;
	for (uint64_t i = 0; i <= d->tmask; i++) {
		const struct slot *s = &d->table[i];
		const struct entry *e;
		if (s->seq == 0)
			continue;
		/* A stale index: outside the FIFO's window, or on a dead slot. */
		if (s->seq < d->head || s->seq >= d->tail)
			return TN_ECORRUPT;
		e = entry_of(d, s->seq);
		if (e->state == TN_DEDUP_ABSENT || e->key.lo != s->lo)
			return TN_ECORRUPT;
		/* Reachable: no empty slot between its home and itself. */
		for (uint64_t j = s->lo & d->tmask; j != i; j = (j + 1) & d->tmask)
			if (d->table[j].seq == 0)
				return TN_ECORRUPT;
		/* Found by a lookup, which also rules out a duplicate key before it. */
		if (find(d, e->key) != (int64_t)i)
			return TN_ECORRUPT;
		mapped++;
	}
	return live == mapped && live == d->st.entries ? 0 : TN_ECORRUPT;
}

void tn_dedup_stats(const struct tn_dedup *d, struct tn_dedup_stats *out)
{
	*out = d->st;
}
