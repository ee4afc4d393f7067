/*
 * sim_registry.c - assets.csv and dependencies.csv (design §2) into an
 * in-memory graph, for the tools that run without a database (`tocsin sim
 * cascades`, `tocsin replay --offline`): the registry's own loader
 * (common/registry_csv.h), with its messages printed.
 */
#include "registry_csv.h"
#include "sim.h"
#include "tocsin/error.h"

int tn__sim_load_graph(const char *assets, const char *deps, FILE *errs, struct tn_graph **out)
{
	struct tn_csv_errors e;
	int rc;

	tn_csv_errors_init(&e);
	rc = tn_registry_csv_load(assets, deps, out, &e);
	if (rc != 0 && errs)
		tn_csv_errors_print(&e, errs, "tocsin: ");
	tn_csv_errors_free(&e);
	return rc;
}
