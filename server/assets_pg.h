/*
 * assets_pg.h - the asset registry from PostgreSQL into a graph (design §2),
 * for tocsind and the offline replay tool.
 *
 * The tables are those of schema/002_assets.sql, written by `tocsin assets
 * import`. One REPEATABLE READ READ ONLY transaction reads the generation
 * and both tables (COPY TO STDOUT, in the imported order), so the graph is
 * exactly the registry of that generation and numbers its assets as a graph
 * loaded from the same CSV files would.
 *
 * To follow changes: LISTEN tocsin_assets on a connection (its payload is
 * the new generation), then load again (with tn_assets_load_pg_conn on that
 * connection, or tn_assets_load_pg) and swap the new graph in.
 */
#ifndef TN_ASSETS_PG_H
#define TN_ASSETS_PG_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "tocsin/graph.h"

/*
 * tn_assets_load_pg - connect to `conninfo` (borrowed; connect_timeout 3 s),
 * read the registry, disconnect. Returns 0 and sets *out (caller owns it:
 * tn_graph_free) and *generation (may be NULL); TN_EDB (cannot connect, no
 * schema, a failed statement, or an import holding the tables for more
 * than 5 s: err says why; an import's NOTIFY comes at its commit),
 * TN_ECORRUPT (a row the graph refuses, which the table checks should have
 * made impossible: err names it), TN_ENOMEM. err (errlen bytes) is always NUL-terminated, "" on
 * success. Blocks for as long as the load takes (about a second per million
 * rows): call it from a thread that serves no socket. Any such thread.
 */
int tn_assets_load_pg(const char *conninfo, struct tn_graph **out, int64_t *generation, char *err,
		      size_t errlen);

/*
 * tn_assets_load_pg_conn - the same over an open connection `c` (borrowed;
 * idle, not in a transaction; it stays open and idle, and keeps whatever it
 * LISTENs to). The thread that owns c.
 */
int tn_assets_load_pg_conn(PGconn *c, struct tn_graph **out, int64_t *generation, char *err,
			   size_t errlen);

#endif
