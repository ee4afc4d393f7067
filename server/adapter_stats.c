/* adapter_stats.c - bounded per-adapter ingest counters (adapter_stats.h). */
#include "adapter_stats.h"

#include <string.h>

void tn__adapter_table_init(struct tn__adapter_table *t)
{
	memset(t, 0, sizeof *t);
	strcpy(t->slot[TN__ADAPTER_UNKNOWN].name, "(unknown)");
	strcpy(t->slot[TN__ADAPTER_OTHER].name, "(other)");
	ck_pr_store_uint(&t->n, 2);
}

unsigned tn__adapter_slot(struct tn__adapter_table *t, const char *name)
{
	unsigned n = t->n; /* this thread is the writer */

	if (!name)
		return TN__ADAPTER_UNKNOWN;
	for (unsigned i = 2; i < n; i++)
		if (strcmp(t->slot[i].name, name) == 0)
			return i;
	if (n >= TN__ADAPTER_SLOTS + 2 || strlen(name) >= sizeof t->slot[0].name) {
		tn__stat_add(&t->overflowed, 1);
		return TN__ADAPTER_OTHER;
	}
	strcpy(t->slot[n].name, name);
	ck_pr_fence_store(); /* the name before the count that shows it */
	ck_pr_store_uint(&t->n, n + 1);
	return n;
}

void tn__adapter_rejected(struct tn__adapter_table *t, unsigned slot, int code)
{
	if (code < 0 && -code <= TN__INGEST_CODES)
		tn__stat_add(&t->slot[slot].rejected[-code - 1], 1);
}

unsigned tn__adapter_table_n(const struct tn__adapter_table *t)
{
	unsigned n = ck_pr_load_uint(&t->n);
	ck_pr_fence_load();
	return n;
}
