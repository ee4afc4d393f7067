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
	else if (strcmp(tn__pg_sqlstate(r), "42501") == 0)
		fprintf(stderr, "  hint: the database role connected may not do this; docs/security.md "
				"says which role each command needs (tocsin_admin for the "
				"operator's)\n");
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

int tn__pg_become_owner(PGconn *c, const char *what)
{
	PGresult *r = tn__pg_exec(
		c,
		"SELECT r.rolname = '" TN_PG_OWNER "' AND current_user <> r.rolname, "
		"       r.rolname = '" TN_PG_OWNER "' AND pg_has_role(session_user, r.oid, 'MEMBER'), "
		"       session_user "
		"FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner "
		"WHERE n.nspname = current_schema()",
		0, NULL);
	int rc;

	if (!tn__pg_ok(r)) {
		tn__pg_report("cannot read the schema's owner", r);
		PQclear(r);
		return -1;
	}
	if (PQntuples(r) == 0 || strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
		PQclear(r);
		return 0;
	}
	if (strcmp(PQgetvalue(r, 0, 1), "t") != 0) {
		fprintf(stderr,
			"tocsin: %s: changes the schema, owned by the role " TN_PG_OWNER
			", which the role \"%s\" cannot take; connect as tocsin_admin "
			"(docs/security.md)\n",
			what, PQgetvalue(r, 0, 2));
		PQclear(r);
		return -1;
	}
	PQclear(r);
	rc = tn__pg_run(c, "cannot take the schema owner's role", "SET LOCAL ROLE " TN_PG_OWNER, 0,
			NULL);
	return rc == 0 ? 1 : -1;
}

const char *tn__cli_actor(void)
{
	const char *v = getenv("SUDO_USER");

	if (!v || !*v)
		v = getenv("USER");
	return v && *v ? v : "cli";
}
