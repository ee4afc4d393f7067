/*
 * stat.h - counters and latency histograms a thread publishes for the
 * metrics endpoint (server/metrics.c), without a lock.
 *
 * Each counter has exactly one writer thread: it adds with a plain load and
 * a ck_pr store (no locked instruction on the per-event path), and any
 * other thread reads it with ck_pr_load_64. A reader sees every counter
 * monotonic, perhaps a moment stale.
 *
 * A histogram's buckets are per-bucket counts (not cumulative), bounded by
 * the fixed latency bounds below; the reader cumulates them and takes the
 * total as the count, so the rendered _count always equals the +Inf bucket.
 *
 * Thread contract: tn__stat_add and tn__hist_observe from the one writer
 * thread of that counter; tn__hist_read from any thread.
 */
#ifndef TN_STAT_H
#define TN_STAT_H

#include <ck_pr.h>
#include <stddef.h>
#include <stdint.h>

/* Upper bounds of the latency buckets in nanoseconds (then +Inf). */
#define TN__HIST_BOUNDS_NS                                                                    \
	{100000ull,     250000ull,     500000ull,     1000000ull,    2500000ull,    5000000ull,   \
	 10000000ull,   25000000ull,   50000000ull,   100000000ull,  250000000ull,  500000000ull, \
	 1000000000ull, 2500000000ull, 5000000000ull, 10000000000ull}
#define TN__HIST_N 16 /* finite bounds; bucket[TN__HIST_N] counts the rest (+Inf) */

struct tn__hist {
	uint64_t bucket[TN__HIST_N + 1];
	uint64_t sum_ns;
};

/* The bounds above, in nanoseconds, for renderers. */
extern const uint64_t tn__hist_bounds_ns[TN__HIST_N];

/* Add v to a counter this thread alone writes. */
static inline void tn__stat_add(uint64_t *c, uint64_t v)
{
	ck_pr_store_64(c, ck_pr_load_64(c) + v);
}

/* Record one duration of `ns` nanoseconds. Writer thread. */
void tn__hist_observe(struct tn__hist *h, uint64_t ns);

/* Copy `h` (another thread's) into *out. Any thread. */
void tn__hist_read(const struct tn__hist *h, struct tn__hist *out);

/*
 * tn__body_at_risk - the `at_risk_count.pending` of an incident revision's
 * canonical JSON body (`len` bytes at `body`, borrowed; correlator.h), or 0
 * when it has none. For the assets-at-risk gauge. Pure.
 */
uint32_t tn__body_at_risk(const char *body, size_t len);

#endif
