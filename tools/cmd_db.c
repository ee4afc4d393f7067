/*
 * cmd_db.c - `tocsin db migrate | status`: the numbered schema files.
 *
 * A migration is a file NNN_name.sql of the schema directory (NNN: 1 to 9
 * digits, its version). The versions applied are recorded in the table
 * schema_migrations, which migrate creates itself.
 *
 * Each file is applied in a transaction of its own, together with its row in
 * schema_migrations, so a file is either wholly applied and recorded or not
 * at all. Every such transaction first takes a transaction-level advisory
 * lock, then checks again that the file is not recorded: two migrates run at
 * once apply each file once (the second waits, then finds it done). Hence a
 * file must not contain transaction control (BEGIN, COMMIT, ROLLBACK) nor
 * statements that cannot run in a transaction (CREATE INDEX CONCURRENTLY).
 *
 * Versions need not be consecutive: the files not yet recorded are applied
 * in version order, so a gap (a file still to come from another branch) is
 * fine, and such a file is applied when it arrives, even after a later one.
 * Since schema/007_roles.sql each file runs as the schema's owner,
 * tocsin_owner (SET LOCAL ROLE; tocsin_admin or a superuser may take it),
 * and every applied file leaves an audit row (db.migrate).
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "pg_util.h"

#define MAX_FILES      10000
#define MAX_FILE_BYTES (64L << 20)
#define LOCK_KEY       "128021758699886" /* "tocsin" in ASCII, as a bigint */

struct mig {
	long version;
	char *file; /* "001_init.sql" */
	char *path; /* "<dir>/001_init.sql" */
};

struct migs {
	struct mig *v;
	size_t n;
};

static void migs_free(struct migs *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->v[i].file);
		free(m->v[i].path);
	}
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

static int by_version(const void *a, const void *b)
{
	const struct mig *x = a, *y = b;
	return (x->version > y->version) - (x->version < y->version);
}

/* The version of a file named NNN_name.sql, or -1 for any other name. */
static long version_of(const char *name)
{
	size_t digits = strspn(name, "0123456789"), len = strlen(name);

	if (digits == 0 || digits > 9 || name[digits] != '_')
		return -1;
	if (len < digits + 1 + 1 + 4 || strcmp(name + len - 4, ".sql") != 0)
		return -1;
	return strtol(name, NULL, 10);
}

/* The migrations of `dir`, sorted by version. Prints why and returns -1 on error. */
static int list_migrations(const char *dir, struct migs *out)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t cap = 0;

	out->v = NULL;
	out->n = 0;
	if (!d) {
		fprintf(stderr, "tocsin: cannot open schema directory %s: %s\n", dir,
			strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		long v = version_of(e->d_name);

		if (v < 0) {
			if (len > 4 && strcmp(e->d_name + len - 4, ".sql") == 0)
				fprintf(stderr,
					"tocsin: warning: ignoring %s/%s (expected NNN_name.sql)\n",
					dir, e->d_name);
			continue;
		}
		if (out->n == MAX_FILES) {
			fprintf(stderr, "tocsin: more than %d migrations in %s\n", MAX_FILES, dir);
			goto fail;
		}
		if (out->n == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			struct mig *nv = realloc(out->v, ncap * sizeof *nv);
			if (!nv)
				goto oom;
			out->v = nv;
			cap = ncap;
		}
		struct mig *m = &out->v[out->n];
		m->version = v;
		m->file = strdup(e->d_name);
		m->path = malloc(strlen(dir) + 1 + len + 1);
		if (!m->file || !m->path) {
			free(m->file);
			free(m->path);
			goto oom;
		}
		sprintf(m->path, "%s/%s", dir, e->d_name);
		out->n++;
	}
	closedir(d);
	d = NULL;
	if (out->n)
		qsort(out->v, out->n, sizeof *out->v, by_version);
	for (size_t i = 1; i < out->n; i++)
		if (out->v[i].version == out->v[i - 1].version) {
			fprintf(stderr, "tocsin: %s and %s have the same version %ld\n",
				out->v[i - 1].path, out->v[i].path, out->v[i].version);
			goto fail;
		}
	return 0;
oom:
	fprintf(stderr, "tocsin: out of memory\n");
fail:
	if (d)
		closedir(d);
	migs_free(out);
	return -1;
}

/* The whole of `path` as a string (caller frees). Prints why and returns NULL. */
static char *read_sql(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0, cap = 0;

	if (!f) {
		fprintf(stderr, "tocsin: cannot open %s: %s\n", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (cap - len < 65536) {
			if (cap > (size_t)MAX_FILE_BYTES) {
				fprintf(stderr, "tocsin: %s: larger than %ld MiB\n", path,
					MAX_FILE_BYTES >> 20);
				goto fail;
			}
			cap = cap ? 2 * cap : 65536 * 2;
			char *nb = realloc(buf, cap + 1);
			if (!nb) {
				fprintf(stderr, "tocsin: out of memory\n");
				goto fail;
			}
			buf = nb;
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "tocsin: cannot read %s: %s\n", path, strerror(errno));
		goto fail;
	}
	fclose(f);
	buf[len] = '\0';
	if (strlen(buf) != len) {
		fprintf(stderr, "tocsin: %s: contains a NUL byte\n", path);
		free(buf);
		return NULL;
	}
	return buf;
fail:
	fclose(f);
	free(buf);
	return NULL;
}

/* The line of the 1-based character position `pos` (UTF-8) in `sql`. */
static int line_of(const char *sql, long pos)
{
	long chars = 0;
	int line = 1;

	for (const unsigned char *p = (const unsigned char *)sql; *p; p++) {
		if ((*p & 0xC0) != 0x80 && ++chars == pos)
			break;
		if (*p == '\n')
			line++;
	}
	return line;
}

/* Print a failed migration: "tocsin: FILE:LINE: message", detail, hint, context. */
static void report_file_error(const struct mig *m, const char *sql, const PGresult *r)
{
	const char *pos = PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION);
	const char *ctx = PQresultErrorField(r, PG_DIAG_CONTEXT);
	char what[512];

	if (pos)
		snprintf(what, sizeof what, "%s:%d", m->file, line_of(sql, atol(pos)));
	else
		snprintf(what, sizeof what, "%s", m->file);
	tn__pg_report(what, r);
	if (ctx) {
		size_t n = strlen(ctx);
		while (n && ctx[n - 1] == '\n')
			n--;
		fprintf(stderr, "  context: %.*s\n", (int)n, ctx);
	}
}

/*
 * BEGIN, take the migration lock, become the schema's owner (after
 * 007_roles.sql: what a migration creates is then owned by tocsin_owner and
 * gets the default privileges), make sure schema_migrations exists.
 */
static int begin_locked(PGconn *c)
{
	const char *key[] = {LOCK_KEY};

	if (tn__pg_run(c, "cannot begin", "BEGIN", 0, NULL) != 0)
		return -1;
	if (tn__pg_run(c, "cannot take the migration lock",
		       "SELECT pg_advisory_xact_lock($1::bigint)", 1, key) != 0 ||
	    tn__pg_become_owner(c, "db migrate") < 0 ||
	    tn__pg_run(c, "cannot create schema_migrations",
		       "CREATE TABLE IF NOT EXISTS schema_migrations ("
		       " version int PRIMARY KEY,"
		       " name text NOT NULL,"
		       " applied_at timestamptz NOT NULL DEFAULT now())",
		       0, NULL) != 0) {
		tn__pg_rollback(c);
		return -1;
	}
	return 0;
}

/* The audit row of an applied file, in its transaction (once 001 made the table). */
static int audit_applied(PGconn *c, const struct mig *m)
{
	char ver[16];
	const char *params[] = {tn__cli_actor(), m->file, ver};

	snprintf(ver, sizeof ver, "%ld", m->version);
	return tn__pg_run(c, "cannot write the audit row",
			  "INSERT INTO audit (actor, action, subject, origin, detail) "
			  "SELECT $1, 'db.migrate', $2, 'cli', jsonb_build_object('version', $3::int) "
			  "WHERE to_regclass('audit') IS NOT NULL",
			  3, params);
}

/*
 * Apply `m` unless recorded: one transaction. Returns 1 when applied, 0 when
 * it already was, -1 after printing why it failed (rolled back).
 */
static int apply_one(PGconn *c, const struct mig *m)
{
	char ver[16];
	const char *params[2] = {ver, m->file};
	char *sql;
	PGresult *r;
	int done;

	snprintf(ver, sizeof ver, "%ld", m->version);
	sql = read_sql(m->path);
	if (!sql)
		return -1;
	if (begin_locked(c) != 0)
		goto fail_free;
	r = tn__pg_exec(c, "SELECT name FROM schema_migrations WHERE version = $1::int", 1, params);
	if (!tn__pg_ok(r)) {
		tn__pg_report("cannot read schema_migrations", r);
		PQclear(r);
		goto fail;
	}
	done = PQntuples(r) > 0;
	if (done && strcmp(PQgetvalue(r, 0, 0), m->file) != 0)
		fprintf(stderr, "tocsin: warning: version %ld was applied as %s, now named %s\n",
			m->version, PQgetvalue(r, 0, 0), m->file);
	PQclear(r);
	if (done) {
		free(sql);
		return tn__pg_run(c, "cannot commit", "COMMIT", 0, NULL) == 0 ? 0 : -1;
	}

	/* PQexec, not PQexecParams: a file holds many statements */
	r = PQexec(c, sql);
	if (!r) {
		fprintf(stderr, "tocsin: %s: %s", m->file, PQerrorMessage(c));
		goto fail;
	}
	if (!tn__pg_ok(r) && PQresultStatus(r) != PGRES_EMPTY_QUERY) {
		report_file_error(m, sql, r);
		PQclear(r);
		goto fail;
	}
	PQclear(r);
	if (PQtransactionStatus(c) != PQTRANS_INTRANS) {
		fprintf(stderr,
			"tocsin: %s: the file ended the transaction itself, so part of it may be "
			"committed but not recorded; a migration must not contain BEGIN, COMMIT or "
			"ROLLBACK\n",
			m->file);
		goto fail;
	}
	if (tn__pg_run(c, "cannot record the migration",
		       "INSERT INTO schema_migrations (version, name) VALUES ($1::int, $2)", 2,
		       params) != 0 ||
	    audit_applied(c, m) != 0 ||
	    tn__pg_run(c, "cannot commit", "COMMIT", 0, NULL) != 0)
		goto fail;
	free(sql);
	return 1;
fail:
	tn__pg_rollback(c);
fail_free:
	free(sql);
	return -1;
}

static int migrate(PGconn *c, const char *dir)
{
	struct migs m;
	int applied = 0, rc = 0;

	if (list_migrations(dir, &m) != 0)
		return 1;
	if (m.n == 0) {
		fprintf(stderr, "tocsin: no migrations in %s (expected NNN_name.sql files)\n", dir);
		return 1;
	}
	for (size_t i = 0; i < m.n; i++) {
		int r = apply_one(c, &m.v[i]);
		if (r < 0) {
			rc = 1;
			break;
		}
		if (r > 0) {
			printf("applied %s\n", m.v[i].file);
			fflush(stdout);
			applied++;
		}
	}
	if (rc == 0 && applied == 0) {
		PGresult *r = tn__pg_exec(
			c, "SELECT coalesce(max(version), 0) FROM schema_migrations", 0, NULL);
		if (tn__pg_ok(r))
			printf("schema is up to date (version %s)\n", PQgetvalue(r, 0, 0));
		else {
			tn__pg_report("cannot read schema_migrations", r);
			rc = 1;
		}
		PQclear(r);
	}
	migs_free(&m);
	return rc;
}

static int status(PGconn *c, const char *dir)
{
	struct migs m;
	PGresult *r;
	int rows = 0, pending = 0, rc = 0;
	long top = 0;

	if (list_migrations(dir, &m) != 0)
		return 1;
	r = tn__pg_exec(c, "SELECT to_regclass('schema_migrations') IS NOT NULL", 0, NULL);
	if (!tn__pg_ok(r)) {
		tn__pg_report("cannot read the catalog", r);
		PQclear(r);
		migs_free(&m);
		return 1;
	}
	bool exists = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (exists) {
		r = tn__pg_exec(c,
				"SELECT version, name, to_char(applied_at AT TIME ZONE 'UTC', "
				"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM schema_migrations "
				"ORDER BY version",
				0, NULL);
		if (!tn__pg_ok(r)) {
			tn__pg_report("cannot read schema_migrations", r);
			PQclear(r);
			migs_free(&m);
			return 1;
		}
		rows = PQntuples(r);
	} else
		r = NULL;

	/* merge the sorted files and the sorted rows */
	size_t i = 0;
	int j = 0;
	while (i < m.n || j < rows) {
		long fv = i < m.n ? m.v[i].version : -1;
		long dv = j < rows ? atol(PQgetvalue(r, j, 0)) : -1;

		if (j < rows && (i == m.n || dv <= fv)) {
			if (i < m.n && dv == fv)
				printf("applied  %-32s %s\n", PQgetvalue(r, j, 1),
				       PQgetvalue(r, j, 2));
			else
				printf("applied  %-32s %s  (no such file in %s)\n",
				       PQgetvalue(r, j, 1), PQgetvalue(r, j, 2), dir);
			if (dv > top)
				top = dv;
			if (i < m.n && dv == fv)
				i++;
			j++;
		} else {
			printf("pending  %s\n", m.v[i].file);
			pending++;
			i++;
		}
	}
	if (r)
		PQclear(r);
	if (pending)
		printf("%d pending migration%s: run tocsin db migrate\n", pending,
		       pending == 1 ? "" : "s");
	else
		printf("schema is up to date (version %ld)\n", top);
	migs_free(&m);
	return rc;
}

/*
 * The schema directory: --schema or $TOCSIN_SCHEMA_DIR; else the installed
 * one beside this binary, BINDIR/../share/tocsin/schema (`make install`, any
 * PREFIX or DESTDIR); else ./schema (a source tree). `buf` holds the second.
 */
static const char *schema_dir(const struct tn_cli *cli, char *buf, size_t len)
{
	static const char rel[] = "/../share/tocsin/schema";
	struct stat st;
	ssize_t n;
	char *slash;

	if (cli->schema_dir)
		return cli->schema_dir;
	n = readlink("/proc/self/exe", buf, len);
	if (n > 0 && (size_t)n < len) {
		buf[n] = '\0';
		slash = strrchr(buf, '/');
		if (slash && (size_t)(slash - buf) + sizeof rel <= len) {
			memcpy(slash, rel, sizeof rel);
			if (stat(buf, &st) == 0 && S_ISDIR(st.st_mode))
				return buf;
		}
	}
	return "schema";
}

static void usage(FILE *f)
{
	fprintf(f, "usage: tocsin db migrate   apply the schema files not yet applied\n"
		   "       tocsin db status    list applied and pending schema files\n");
}

int tn__cmd_db(int argc, char **argv, const struct tn_cli *cli)
{
	char buf[4096];
	const char *dir = schema_dir(cli, buf, sizeof buf);
	PGconn *c;
	int rc;

	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc != 2 || (strcmp(argv[1], "migrate") != 0 && strcmp(argv[1], "status") != 0)) {
		usage(stderr);
		return 2;
	}
	c = tn__pg_connect(cli->conninfo);
	if (!c)
		return 1;
	if (strcmp(argv[1], "migrate") == 0)
		rc = migrate(c, dir);
	else
		rc = status(c, dir);
	PQfinish(c);
	return rc;
}
