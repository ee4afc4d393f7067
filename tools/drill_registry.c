/*
 * drill_registry.c - a registry less some assets or dependencies
 * (drill_registry.h).
 *
 * A graph keeps no global order of its edges, only each asset's list of
 * providers and of dependents, both in the order the edges were added. Any
 * order of the edges that respects every one of those lists rebuilds the
 * same lists, and the original order is one: so the edges are ordered by a
 * topological sort (Kahn) of "comes after the previous edge of the same
 * providers list and of the same dependents list", which cannot meet a
 * cycle. Removing edges from such an order keeps every remaining list's
 * order.
 */
#include "drill_registry.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tocsin/error.h"

#define NONE UINT32_MAX

struct edges {
	size_t m;
	uint32_t *dep, *next_p, *next_d, *order;
	uint8_t *indeg;
	bool *drop;
};

static void edges_free(struct edges *e)
{
	free(e->dep);
	free(e->next_p);
	free(e->next_d);
	free(e->order);
	free(e->indeg);
	free(e->drop);
}

/* Edge e is the providers-list entry poff(d) + k: number them so, link them. */
static int edges_order(const struct tn_graph *g, const uint32_t *first, struct edges *e)
{
	size_t n = tn_graph_size(g), m = tn_graph_edges(g), k = 0, head = 0, tail = 0;

	e->m = m;
	e->dep = malloc((m + 1) * sizeof *e->dep);
	e->next_p = malloc((m + 1) * sizeof *e->next_p);
	e->next_d = malloc((m + 1) * sizeof *e->next_d);
	e->order = malloc((m + 1) * sizeof *e->order);
	e->indeg = calloc(m + 1, sizeof *e->indeg);
	e->drop = calloc(m + 1, sizeof *e->drop);
	if (!e->dep || !e->next_p || !e->next_d || !e->order || !e->indeg || !e->drop)
		return TN_ENOMEM;
	for (uint32_t d = 0; d < n; d++) {
		const struct tn_graph_edge *pe;
		size_t np = tn_graph_providers(g, d, &pe);

		for (size_t j = 0; j < np; j++, k++) {
			e->dep[k] = d;
			e->next_p[k] = j + 1 < np ? (uint32_t)k + 1 : NONE;
			e->next_d[k] = NONE;
			if (j)
				e->indeg[k]++;
		}
	}
	for (uint32_t p = 0; p < n; p++) {
		const struct tn_graph_edge *de;
		size_t nd = tn_graph_dependents(g, p, &de);
		uint32_t prev = NONE;

		for (size_t j = 0; j < nd; j++) {
			const struct tn_graph_edge *pe;
			uint32_t d = de[j].other, id = NONE;
			size_t np = tn_graph_providers(g, d, &pe);

			for (size_t q = 0; q < np; q++)
				if (pe[q].other == p && pe[q].kind == de[j].kind) {
					id = first[d] + (uint32_t)q;
					break;
				}
			if (id == NONE)
				return TN_ECORRUPT; /* the two directions disagree */
			if (prev != NONE) {
				e->next_d[prev] = id;
				e->indeg[id]++;
			}
			prev = id;
		}
	}
	/* Kahn, FIFO: order[] is the queue and the result */
	for (size_t i = 0; i < m; i++)
		if (!e->indeg[i])
			e->order[tail++] = (uint32_t)i;
	while (head < tail) {
		uint32_t x = e->order[head++], nx[2] = {e->next_p[x], e->next_d[x]};

		for (int s = 0; s < 2; s++)
			if (nx[s] != NONE && --e->indeg[nx[s]] == 0)
				e->order[tail++] = nx[s];
	}
	return tail == m ? 0 : TN_ECORRUPT;
}

/* The provider and the stored edge of edge number x. */
static const struct tn_graph_edge *edge_at(const struct tn_graph *g, const struct edges *e,
					   uint32_t x, const uint32_t *first_of_dep)
{
	const struct tn_graph_edge *pe;
	uint32_t d = e->dep[x];

	tn_graph_providers(g, d, &pe);
	return &pe[x - first_of_dep[d]];
}

static int find(const struct tn_graph *g, const char *s, size_t len, FILE *errs, uint32_t *out)
{
	char id[TN_ASSET_ID_MAX + 1];

	if (len == 0 || len > TN_ASSET_ID_MAX || !tn_asset_id_ok(s, len)) {
		if (errs)
			fprintf(errs, "tocsin: --without: expected an asset id, got \"%.*s\"\n",
				(int)(len > 80 ? 80 : len), s);
		return TN_EINVAL;
	}
	memcpy(id, s, len);
	id[len] = '\0';
	if ((*out = tn_graph_find(g, id)) == TN_GRAPH_NONE) {
		if (errs)
			fprintf(errs, "tocsin: --without: no asset %s in the registry\n", id);
		return TN_ENOTFOUND;
	}
	return 0;
}

/* Mark what one item names. */
static int mark(const struct tn_graph *g, struct edges *e, uint32_t *first, bool *drop_asset,
		const char *item, size_t len, FILE *errs)
{
	const char *gt = memchr(item, '>', len), *sl;
	uint32_t p, d;
	int kind = -1, rc, hits = 0;

	if (!gt)
		return (rc = find(g, item, len, errs, &p)) ? rc : (drop_asset[p] = true, 0);
	sl = memchr(gt, '/', len - (size_t)(gt - item));
	if ((rc = find(g, item, (size_t)(gt - item), errs, &p)) != 0 ||
	    (rc = find(g, gt + 1, (size_t)((sl ? sl : item + len) - gt - 1), errs, &d)) != 0)
		return rc;
	if (sl && (kind = tn_dep_kind_parse(sl + 1, (size_t)(item + len - sl - 1))) < 0) {
		if (errs)
			fprintf(errs,
				"tocsin: --without: expected a dependency kind (power, water, "
				"communications, transport, fuel, gas, data, staff, other) after /, "
				"got \"%.*s\"\n",
				(int)(item + len - sl - 1), sl + 1);
		return TN_EINVAL;
	}
	for (uint32_t x = first[d]; x < first[d + 1]; x++) {
		const struct tn_graph_edge *ge = edge_at(g, e, x, first);

		if (ge->other == p && (kind < 0 || ge->kind == kind)) {
			e->drop[x] = true;
			hits++;
		}
	}
	if (!hits) {
		if (errs)
			fprintf(errs, "tocsin: --without: no dependency %.*s in the registry\n",
				(int)len, item);
		return TN_ENOTFOUND;
	}
	return 0;
}

int tn__registry_without(const struct tn_graph *g, const char *spec, FILE *errs,
			 struct tn_graph **out, size_t *removed_assets, size_t *removed_edges)
{
	size_t n = tn_graph_size(g), ra = 0, re = 0;
	struct edges e = {0};
	struct tn_graph_builder *b = NULL;
	uint32_t *first = calloc(n + 1, sizeof *first);
	bool *drop_asset = calloc(n + 1, sizeof *drop_asset);
	char msg[256];
	int rc;

	*out = NULL;
	if (!first || !drop_asset) {
		rc = TN_ENOMEM;
		goto out;
	}
	for (uint32_t d = 0, k = 0; d <= n; d++) {
		first[d] = k;
		if (d < n)
			k += (uint32_t)tn_graph_providers(g, d, NULL);
	}
	if ((rc = edges_order(g, first, &e)) != 0)
		goto out;
	for (const char *s = spec; *s;) {
		size_t len = strcspn(s, ",");

		if ((rc = mark(g, &e, first, drop_asset, s, len, errs)) != 0)
			goto out;
		s += len;
		if (*s)
			s++;
	}
	if ((rc = tn_graph_builder_new(n, e.m, &b)) != 0)
		goto out;
	for (uint32_t i = 0; i < n; i++) {
		if (drop_asset[i]) {
			ra++;
			continue;
		}
		if ((rc = tn_graph_add_asset(b, tn_graph_asset(g, i), msg, sizeof msg)) != 0)
			goto bad;
	}
	for (size_t i = 0; i < e.m; i++) {
		uint32_t x = e.order[i];
		const struct tn_graph_edge *ge = edge_at(g, &e, x, first);
		struct tn_dependency dep;

		if (e.drop[x] || drop_asset[e.dep[x]] || drop_asset[ge->other]) {
			re++;
			continue;
		}
		dep.dependent = tn_graph_asset(g, e.dep[x])->id;
		dep.provider = tn_graph_asset(g, ge->other)->id;
		dep.kind = (enum tn_dep_kind)ge->kind;
		dep.delay_min_s = ge->delay_min_s;
		dep.delay_max_s = ge->delay_max_s;
		if ((rc = tn_graph_add_dependency(b, &dep, msg, sizeof msg)) != 0)
			goto bad;
	}
	rc = tn_graph_build(b, out);
	b = NULL;
	if (rc == 0) {
		if (removed_assets)
			*removed_assets = ra;
		if (removed_edges)
			*removed_edges = re;
	}
	goto out;
bad:
	if (errs)
		fprintf(errs, "tocsin: --without: rebuilding the registry: %s\n", msg);
out:
	tn_graph_builder_free(b);
	edges_free(&e);
	free(first);
	free(drop_asset);
	return rc;
}
