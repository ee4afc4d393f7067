/*
 * adapter_stats.h - the ingest thread's per-adapter event counters, for the
 * metrics endpoint: received, accepted, duplicate and rejected by wire code.
 *
 * Bounded: TN__ADAPTER_SLOTS registered names get their own slot (in the
 * order they first send); later names share the "(other)" slot, counted in
 * `overflowed`; frames from no registered key (a revoked key, a malformed
 * envelope) go to "(unknown)". Parentheses are not allowed in adapter
 * names, so neither label can be taken by an adapter.
 *
 * Thread contract: the ingest thread alone writes (tn__adapter_slot and
 * tn__stat_add on the counters); any thread reads: first `n` with
 * tn__adapter_table_n (which orders the reads of the names after it), then
 * the counters with ck_pr_load_64.
 */
#ifndef TN_ADAPTER_STATS_H
#define TN_ADAPTER_STATS_H

#include <stdint.h>

#include "stat.h"

#define TN__ADAPTER_SLOTS 64 /* named slots, beyond the two below */
#define TN__ADAPTER_UNKNOWN 0
#define TN__ADAPTER_OTHER 1
#define TN__INGEST_CODES 6 /* wire codes E_DECODE .. E_UNAVAILABLE: index -code - 1 */

struct tn__adapter_counts {
	char name[65];
	uint64_t received, accepted, duplicates;
	uint64_t rejected[TN__INGEST_CODES];
};

struct tn__adapter_table {
	unsigned n; /* slots in use, published last (ck_pr) */
	uint64_t overflowed; /* frames of adapters that found no free slot */
	struct tn__adapter_counts slot[TN__ADAPTER_SLOTS + 2];
};

/* tn__adapter_table_init - the two fixed slots. Before the ingest thread runs. */
void tn__adapter_table_init(struct tn__adapter_table *t);

/*
 * tn__adapter_slot - the slot of adapter `name` (NULL: "(unknown)"),
 * claiming a free one for a new name, else "(other)". Ingest thread.
 */
unsigned tn__adapter_slot(struct tn__adapter_table *t, const char *name);

/* Count one rejection of wire `code` (other codes are not counted) in `slot`. Ingest thread. */
void tn__adapter_rejected(struct tn__adapter_table *t, unsigned slot, int code);

/* tn__adapter_table_n - the slots in use; their names may be read after it. Any thread. */
unsigned tn__adapter_table_n(const struct tn__adapter_table *t);

#endif
