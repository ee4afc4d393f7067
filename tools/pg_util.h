/*
 * pg_util.h - libpq helpers of the `tocsin` verbs that talk to PostgreSQL.
 *
 * Errors are printed on stderr in the verbs' style ("tocsin: what: message",
 * lowercase, no final period), with PostgreSQL's detail and hint on lines of
 * their own. Main thread.
 */
#ifndef TN_PG_UTIL_H
#define TN_PG_UTIL_H

#include <libpq-fe.h>

/*
 * tn__pg_connect - connect with `conninfo` (borrowed; key=value or URI),
 * with notices below WARNING silenced. Returns the connection (the caller
 * owns it: PQfinish), or NULL after printing why.
 */
PGconn *tn__pg_connect(const char *conninfo);

/*
 * tn__pg_exec - run `sql` with `n` text parameters (NULL for SQL NULL;
 * borrowed). Returns the result, owned by the caller (PQclear), whatever its
 * status: check it with tn__pg_ok. Never NULL (out of memory aborts).
 */
PGresult *tn__pg_exec(PGconn *c, const char *sql, int n, const char *const *params);

/* tn__pg_ok - whether r is PGRES_COMMAND_OK or PGRES_TUPLES_OK. */
int tn__pg_ok(const PGresult *r);

/*
 * tn__pg_run - tn__pg_exec, then print "tocsin: `what`: error" and return -1
 * unless the result is OK; 0 when it is. The result is cleared.
 */
int tn__pg_run(PGconn *c, const char *what, const char *sql, int n, const char *const *params);

/* tn__pg_report - print "tocsin: `what`: <primary message>" and detail/hint of r. */
void tn__pg_report(const char *what, const PGresult *r);

/* tn__pg_sqlstate - the SQLSTATE of r ("23505"), or "" when none. Borrowed. */
const char *tn__pg_sqlstate(const PGresult *r);

/* tn__pg_rollback - ROLLBACK, ignoring errors (the transaction is already lost). */
void tn__pg_rollback(PGconn *c);

/* The role that owns the schema once schema/007_roles.sql is applied. */
#define TN_PG_OWNER "tocsin_owner"

/*
 * tn__pg_become_owner - in the open transaction of c, take the schema
 * owner's role for the rest of it (SET LOCAL ROLE tocsin_owner) when
 * 007_roles.sql has made tocsin_owner the owner of the schema: what changes
 * the schema (`db migrate`, the key rebuild of `assets import`) is then done
 * and owned by it. `what` names the work in messages ("db migrate").
 * Returns 1 when the role was taken, 0 when there is nothing to take (a
 * database before 007; already the owner), or -1 after printing why (the
 * session's role cannot become the owner: not tocsin_admin nor a
 * superuser; a failed query). The transaction is left to the caller.
 */
int tn__pg_become_owner(PGconn *c, const char *what);

/*
 * tn__cli_actor - who runs the command, for the audit trail's `actor`
 * ($SUDO_USER, else $USER, else "cli"; the database role is recorded by
 * PostgreSQL itself in audit.db_role). Borrowed from the environment.
 */
const char *tn__cli_actor(void);

#endif
