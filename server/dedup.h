/*
 * dedup.h - which (source, id) pairs were accepted recently (design §3.1:
 * a duplicate is answered `dup`, and is harmless).
 *
 * Keys are 128-bit SipHash-2-4 digests of `source` NUL `id` under a random
 * key drawn at start, so an adapter cannot aim collisions; a false `dup` has
 * probability about n^2 / 2^129. Entries live in a FIFO of fixed capacity
 * (arrival order) indexed by an open-addressing table (linear probing,
 * backward-shift deletion): memory is fixed at creation.
 *
 * The window is bounded twice: entries older than the horizon (by arrival)
 * are pruned, and when the FIFO is full the oldest entry is evicted and
 * counted. A duplicate older than the window is accepted again: PostgreSQL's
 * unique (source, id) still stores it once (the store inserts with ON
 * CONFLICT DO NOTHING), so only the `dup` answer is lost, never an event.
 *
 * An entry is first PENDING (its event is on its way to the journal) and
 * becomes DURABLE when fsync'd; a failed append removes it, so a retry is not
 * wrongly answered `dup`.
 *
 * Thread contract: one owner thread (ingest). No locks.
 */
#ifndef TN_DEDUP_H
#define TN_DEDUP_H

#include <stddef.h>
#include <stdint.h>

struct tn_dedup_key {
	uint64_t hi, lo;
};

enum tn_dedup_state { TN_DEDUP_ABSENT = 0, TN_DEDUP_PENDING = 1, TN_DEDUP_DURABLE = 2 };

struct tn_dedup_stats {
	uint64_t entries;     /* present now (PENDING or DURABLE) */
	uint64_t capacity;    /* FIFO slots, after rounding */
	uint64_t evicted;     /* pushed out by capacity: the bound was hit */
	uint64_t expired;     /* pruned by the horizon */
	uint64_t hits;        /* lookups that found the key, inserts refused with TN_EEXIST */
	uint64_t inserts;     /* successful inserts */
	uint64_t removes;     /* successful removes */
};

struct tn_dedup;

/*
 * tn_dedup_new - a set of at most `capacity` entries (rounded up to a power
 * of two, at least 1024), keyed with 16 bytes of `seed` (borrowed, copied;
 * pass random bytes; tests may pass a fixed seed). All memory is allocated
 * here, 64 bytes per FIFO slot (64 MiB for 2^20). Returns 0 and sets *out
 * (the caller owns it; free with tn_dedup_free), TN_ENOMEM or TN_EINVAL
 * (NULL seed or out, absurd capacity).
 */
int tn_dedup_new(size_t capacity, const uint8_t seed[16], struct tn_dedup **out);

/* tn_dedup_free - release `d` (NULL is fine) and wipe its seed. */
void tn_dedup_free(struct tn_dedup *d);

/* tn_dedup_key_of - the key of (source, id); both NUL-terminated, borrowed. */
struct tn_dedup_key tn_dedup_key_of(const struct tn_dedup *d, const char *source,
				    const char *id);

/*
 * tn_dedup_lookup - the state of `k`; a present key counts as a hit (the only
 * effect, so `d` stays const to the caller).
 */
enum tn_dedup_state tn_dedup_lookup(const struct tn_dedup *d, struct tn_dedup_key k);

/*
 * tn_dedup_insert - add `k` in `state` (PENDING or DURABLE, else TN_EINVAL),
 * arrived at `now_s` (seconds, any monotonic-enough clock). Evicts the
 * oldest entry when the FIFO is full (counted). A removed entry keeps its
 * FIFO slot until it becomes the oldest, so eviction may start slightly
 * below `capacity` live entries. Inserting a present key changes nothing
 * (its state and arrival stay) and returns TN_EEXIST (counted as a hit);
 * else 0.
 */
int tn_dedup_insert(struct tn_dedup *d, struct tn_dedup_key k, enum tn_dedup_state state,
		    int64_t now_s);

/*
 * tn_dedup_claim - ingest's one probe per event: when `k` is present, its
 * state (a hit, counted as by tn_dedup_lookup) and nothing changes; when
 * absent, insert it PENDING, arrived at `now_s` (as tn_dedup_insert,
 * evicting the oldest entry when full), set *ref (caller-owned) to a handle
 * of its entry for tn_dedup_set_state_ref, and return TN_DEDUP_ABSENT.
 */
enum tn_dedup_state tn_dedup_claim(struct tn_dedup *d, struct tn_dedup_key k, int64_t now_s,
				   uint64_t *ref);

/*
 * tn_dedup_set_state_ref - tn_dedup_set_state for a key claimed as `ref`:
 * without probing the table while that entry still holds `k` (one cache
 * line instead of a probe), else exactly tn_dedup_set_state (the entry was
 * evicted or expired, and the key may have come back elsewhere). Same
 * returns.
 */
int tn_dedup_set_state_ref(struct tn_dedup *d, uint64_t ref, struct tn_dedup_key k,
			   enum tn_dedup_state state);

/*
 * tn_dedup_set_state - mark a present key PENDING or DURABLE (else
 * TN_EINVAL); TN_ENOTFOUND if absent. Arrival, hence expiry, is unchanged.
 */
int tn_dedup_set_state(struct tn_dedup *d, struct tn_dedup_key k, enum tn_dedup_state state);

/* tn_dedup_remove - forget `k`; TN_ENOTFOUND if absent. */
int tn_dedup_remove(struct tn_dedup *d, struct tn_dedup_key k);

/*
 * tn_dedup_expire - forget entries that arrived before `before_s`, oldest
 * first, stopping at the first younger one (if the clock stepped back, an
 * entry may outlive its horizon a little). Returns how many.
 */
size_t tn_dedup_expire(struct tn_dedup *d, int64_t before_s);

/* tn_dedup_stats - copy the counters to *out (caller-owned). */
void tn_dedup_stats(const struct tn_dedup *d, struct tn_dedup_stats *out);

/*
 * tn__dedup_check - verify the internal invariants (every table slot points
 * at a live FIFO entry inside the window and is reachable from its home;
 * live entries, table slots and stats.entries agree). Returns 0 or
 * TN_ECORRUPT. O(capacity): for tests, not the event path.
 */
int tn__dedup_check(const struct tn_dedup *d);

#endif
