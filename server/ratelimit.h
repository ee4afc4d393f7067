/*
 * ratelimit.h - fair share of the ingest between adapter keys (design §3.1,
 * §7; docs/security.md "Fair share and rate limits").
 *
 * Two parts, both pure (no clock, no I/O: the caller passes the time, the
 * server's monotonic clock in microseconds), so the unit tests drive them
 * with made-up time:
 *
 * - a token bucket: `rate` tokens a second flow into a bucket holding at
 *   most `burst`; each event offered takes one; an event that finds none is
 *   refused with E_RATE. Tokens are counted in millionths of an event, so
 *   any rate from 1 to TN_RATE_MAX events/s refills exactly, without
 *   rounding drift however often it is asked. Rate 0 means no limit.
 *
 * - the per-key table: one state (bucket, frames in flight, audit and keep
 *   budgets) per key of a registry snapshot, in the snapshot's key order.
 *   When the registry changes, the table is rebuilt for the new snapshot and
 *   each surviving key keeps its state (tokens, frames in flight), under its
 *   new rate and burst: a changed limit applies to the live connection at
 *   once, an adapter cannot refill its bucket by having its row touched.
 *
 * Thread contract: a bucket and a table belong to one thread (the ingest
 * thread); nothing here locks.
 */
#ifndef TN_RATELIMIT_H
#define TN_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"

#define TN_RATE_MAX  1000000u  /* events/s: the largest rate or burst accepted */
#define TN_RATE_UNIT 1000000   /* tokens are counted in millionths of an event */

struct tn_rate_bucket {
	int64_t tokens;  /* millionths of an event, 0..burst * TN_RATE_UNIT */
	int64_t last_us; /* when it was last refilled */
	uint32_t rate;   /* events per second; 0: no limit */
	uint32_t burst;  /* capacity in events, >= 1 */
};

/*
 * tn_rate_init - a full bucket of `burst` (raised to 1 if 0) refilling at
 * `rate` events/s (0: no limit; both clamped to TN_RATE_MAX), as of now_us.
 * `b` is the caller's. Any thread owning b.
 */
void tn_rate_init(struct tn_rate_bucket *b, uint32_t rate, uint32_t burst, int64_t now_us);

/*
 * tn_rate_set - change the rate and burst of a live bucket: it is first
 * refilled at the old rate up to now_us, then its tokens are cut to the new
 * burst. A bucket going from unlimited to limited starts full.
 */
void tn_rate_set(struct tn_rate_bucket *b, uint32_t rate, uint32_t burst, int64_t now_us);

/*
 * tn_rate_take - take up to n tokens; returns how many it took (n when the
 * bucket is unlimited). Time going backwards refills nothing.
 */
uint32_t tn_rate_take(struct tn_rate_bucket *b, uint32_t n, int64_t now_us);

/* tn_rate_avail - whole tokens in the bucket at now_us (UINT32_MAX when unlimited). */
uint32_t tn_rate_avail(struct tn_rate_bucket *b, int64_t now_us);

/*
 * tn_rate_wait_ms - milliseconds until n tokens (at most burst) will be there
 * at this rate, rounded up; 0 when they are there or the bucket is unlimited.
 * Pure: call it right after take or avail, at the same now.
 */
int64_t tn_rate_wait_ms(const struct tn_rate_bucket *b, uint32_t n);

/* ---- the per-key table ------------------------------------------------------ */

/* The limits of one key: -1 for "the server's default". */
struct tn_rate_limits {
	int32_t rate, burst;
};

struct tn_rate_peer {
	char key[TN_KEY_Z85_LEN + 1];
	struct tn_rate_bucket bucket;
	uint32_t inflight;      /* frames of this key between ingest and the journal */
	int64_t audit_us;       /* when its rate limiting was last audited (INT64_MIN: never) */
	int64_t keep_window_s;  /* the second of keep_n */
	uint32_t keep_n;        /* E_RATE records kept in that second */
};

struct tn_rate_table {
	size_t n;
	struct tn_rate_peer *peers; /* parallel to the registry's entries */
};

/*
 * tn_rate_table_build - the table for n keys (`keys[i]`: Z85, sorted by
 * strcmp as a registry is; `limits[i]` their overrides), carrying each
 * state of `old` (NULL: none) whose key is still there. def_rate and
 * def_burst stand for -1. On success *out holds the new table (its peers
 * the caller's; free with tn_rate_table_free) and `old` is untouched.
 * Returns 0 or TN_ENOMEM (*out then unchanged). Owner thread.
 */
int tn_rate_table_build(const struct tn_rate_table *old, const char *const *keys,
			const struct tn_rate_limits *limits, size_t n, uint32_t def_rate,
			uint32_t def_burst, int64_t now_us, struct tn_rate_table *out);

/* tn_rate_table_find - the state of a key (Z85), or NULL. Pure. */
struct tn_rate_peer *tn_rate_table_find(const struct tn_rate_table *t, const char *key);

/* tn_rate_table_free - free the peers; the table struct is the caller's. NULL peers fine. */
void tn_rate_table_free(struct tn_rate_table *t);

/*
 * tn_rate_keep - whether one more E_RATE record of this key may be kept in
 * the second now_s (at most per_s a second: a flooder cannot use up what the
 * server keeps of other adapters' rejected input).
 */
bool tn_rate_keep(struct tn_rate_peer *p, int64_t now_s, uint32_t per_s);

#endif
