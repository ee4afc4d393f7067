/*
 * drill_registry.h - what-if registries for drills: the registry less some
 * assets or dependencies (`tocsin replay --without`, docs/drills.md).
 *
 * A spec is a comma-separated list of items:
 *   ASSET                    the asset and every dependency to or from it
 *   PROVIDER>DEPENDENT       every dependency of DEPENDENT on PROVIDER
 *   PROVIDER>DEPENDENT/KIND  only the one of that kind (power, water, ...)
 * ('>' reads "feeds"; asset ids hold no ',', '>' or '/').
 *
 * The new graph keeps the order of everything that remains: assets in
 * their order, and each asset's list of providers and of dependents in the
 * order the original had. The engine's tie-breaks follow those orders, so a
 * what-if run differs from the plain run only by what was removed.
 */
#ifndef TN_DRILL_REGISTRY_H
#define TN_DRILL_REGISTRY_H

#include <stddef.h>
#include <stdio.h>

#include "tocsin/graph.h"

/*
 * tn__registry_without - a copy of g (borrowed) without what `spec`
 * (borrowed) names. Returns 0 and sets *out (caller owns it: tn_graph_free)
 * and *removed_assets / *removed_edges (may be NULL); TN_EINVAL (a malformed
 * item), TN_ENOTFOUND (an asset or a dependency that is not in g): one line
 * on errs (may be NULL) saying which; TN_ENOMEM. One thread.
 */
int tn__registry_without(const struct tn_graph *g, const char *spec, FILE *errs,
			 struct tn_graph **out, size_t *removed_assets, size_t *removed_edges);

#endif
