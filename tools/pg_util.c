/* pg_util.c - libpq helpers of the `tocsin` verbs (pg_util.h). */
#include "pg_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libpq messages end in a newline; print them without it. */
static void print_trimmed(const char *prefix, const char *msg)
{
	size_t n = strlen(msg);

	while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		n--;
	fprintf(stderr, "%s%.*s\n", prefix, (int)n, msg);
}

PGconn *tn__pg_connect(const char *conninfo)
{
	/* expand_dbname: conninfo may be key=value pairs or a URI */
	const char *const keys[] = {"dbname", "fallback_application_name", NULL};
	const char *const vals[] = {conninfo, "tocsin", NULL};
	PGconn *c = PQconnectdbParams(keys, vals, 1);

	if (!c) {
		fprintf(stderr, "tocsin: cannot connect to PostgreSQL: out of memory\n");
		return NULL;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		print_trimmed("tocsin: cannot connect to PostgreSQL: ", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	/* "relation already exists, skipping" and the like are not news */
	if (tn__pg_run(c, "cannot set up the session", "SET client_min_messages TO warning", 0,
		       NULL) != 0) {
		PQfinish(c);
		return NULL;
	}
	return c;
}

PGresult *tn__pg_exec(PGconn *c, const char *sql, int n, const char *const *params)
{
	PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);

	if (!r) {
		fprintf(stderr, "tocsin: out of memory\n");
		exit(1);
	}
	return r;
}

int tn__pg_ok(const PGresult *r)
{
	ExecStatusType s = PQresultStatus(r);
	return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

int tn__pg_run(PGconn *c, const char *what, const char *sql, int n, const char *const *params)
{
	PGresult *r = tn__pg_exec(c, sql, n, params);
	int rc = 0;

	if (!tn__pg_ok(r)) {
		tn__pg_report(what, r);
		rc = -1;
	}
	PQclear(r);
	return rc;
}

void tn__pg_report(const char *what, const PGresult *r)
{
	const char *primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
	const char *hint = PQresultErrorField(r, PG_DIAG_MESSAGE_HINT);
	char prefix[512];

	snprintf(prefix, sizeof prefix, "tocsin: %s: ", what);
	if (primary)
		print_trimmed(prefix, primary);
	else /* lost connection and the like: only the result's whole message */
		print_trimmed(prefix, PQresultErrorMessage(r)[0] ? PQresultErrorMessage(r)
								 : PQresStatus(PQresultStatus(r)));
	if (detail)
		print_trimmed("  detail: ", detail);
	if (hint)
		print_trimmed("  hint: ", hint);
}

const char *tn__pg_sqlstate(const PGresult *r)
{
	const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	return s ? s : "";
}

void tn__pg_rollback(PGconn *c)
{
	if (PQtransactionStatus(c) == PQTRANS_IDLE)
		return;
	PGresult *r = PQexec(c, "ROLLBACK");
	PQclear(r);
}
