/*
 * assets_pg.c - the asset registry from PostgreSQL (assets_pg.h).
 *
 * COPY TO STDOUT in text format rather than a SELECT: libpq would hold a
 * whole result (millions of rows, a few hundred bytes of overhead each) in
 * memory, where COPY hands over one row at a time. Rows are split on tabs
 * and unescaped in place.
 */
#include "assets_pg.h"

#include "tocsin/error.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ASSET_FIELDS 11
#define DEP_FIELDS   5

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	/* libpq's messages end in a newline */
	size_t n = strlen(err);
	while (n && (err[n - 1] == '\n' || err[n - 1] == ' '))
		err[--n] = '\0';
}

/*
 * Split a COPY text row (len bytes at line, its final newline included or
 * not) into at most max fields, unescaping each in place. NULL (\N) gives a
 * NULL field. Returns the number of fields, or -1 for a malformed escape.
 */
static int split_row(char *line, size_t len, char **field, int max)
{
	char *end = line + len, *r = line, *w;
	int n = 0;

	if (len && end[-1] == '\n')
		end--;
	for (;;) {
		char *start = r;
		bool null = false;

		if (n == max)
			return -1;
		w = r;
		if (end - r >= 2 && r[0] == '\\' && r[1] == 'N' && (end - r == 2 || r[2] == '\t')) {
			null = true;
			r += 2;
		}
		while (!null && r < end && *r != '\t') {
			if (*r != '\\') {
				*w++ = *r++;
				continue;
			}
			if (++r == end)
				return -1;
			switch (*r++) {
			case '\\': *w++ = '\\'; break;
			case 't': *w++ = '\t'; break;
			case 'n': *w++ = '\n'; break;
			case 'r': *w++ = '\r'; break;
			case 'b': *w++ = '\b'; break;
			case 'f': *w++ = '\f'; break;
			case 'v': *w++ = '\v'; break;
			default: return -1; /* COPY TO writes no other escape */
			}
		}
		field[n++] = null ? NULL : start;
		bool last = r >= end;
		if (!null)
			*w = '\0';
		else
			*start = '\0';
		if (last)
			return n;
		r++; /* the tab */
	}
}

/* The primary message of a failed result (one line), else the connection's. */
static void pg_err(PGconn *c, const PGresult *res, char *err, size_t errlen)
{
	const char *m = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	set_err(err, errlen, "%s", m ? m : PQerrorMessage(c));
}

static bool to_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;

	if (!s || !*s)
		return false;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool to_double(const char *s, double *out)
{
	char *end;

	if (!s || !*s)
		return false;
	*out = strtod(s, &end);
	return *end == '\0';
}

/* A row of COPY output, split (n fields, or -1 when malformed). */
struct pg_row {
	char *line; /* libpq's: PQfreemem */
	char *f[ASSET_FIELDS];
	int n;
};

/* One row of COPY assets. 0, or TN_ECORRUPT / TN_ENOMEM / TN_ERANGE with err set. */
static int asset_row(struct tn_graph_builder *b, struct pg_row *pr, uint64_t row, char *err,
		     size_t errlen)
{
	char **f = pr->f, msg[256];
	struct tn_asset a = {0};
	int64_t crit, pop, backup;
	int n = pr->n, s, sens, rc;

	if (n != ASSET_FIELDS) {
		set_err(err, errlen, "assets row %" PRIu64 ": expected %d fields, got %d", row,
			ASSET_FIELDS, n);
		return TN_ECORRUPT;
	}
	for (int i = 0; i < n; i++)
		if (!f[i]) {
			set_err(err, errlen, "assets row %" PRIu64 ": a NULL field", row);
			return TN_ECORRUPT;
		}
	a.id = f[0];
	s = tn_sector_parse(f[1], strlen(f[1]));
	a.sector = (enum tn_sector)s;
	a.kind = f[2];
	a.name = f[3];
	a.area = f[6];
	sens = tn_sensitivity_parse(f[10], strlen(f[10]));
	a.sensitivity = (enum tn_sensitivity)sens;
	if (s < 0 || sens < 0 || !to_double(f[4], &a.lat) || !to_double(f[5], &a.lon) ||
	    !to_i64(f[7], 1, 5, &crit) || !to_i64(f[8], 0, INT64_MAX, &pop) ||
	    !to_i64(f[9], 0, INT32_MAX, &backup)) {
		set_err(err, errlen, "assets row %" PRIu64 " (id \"%.64s\"): a value out of range",
			row, f[0]);
		return TN_ECORRUPT;
	}
	a.criticality = (int)crit;
	a.population = pop;
	a.backup_s = (int32_t)backup;
	rc = tn_graph_add_asset(b, &a, msg, sizeof msg);
	if (rc != 0) {
		set_err(err, errlen, "assets row %" PRIu64 " (id \"%.64s\"): %s", row, f[0], msg);
		return rc == TN_EINVAL || rc == TN_EEXIST ? TN_ECORRUPT : rc;
	}
	return 0;
}

static int dep_row(struct tn_graph_builder *b, struct pg_row *pr, uint64_t row, char *err,
		   size_t errlen)
{
	char **f = pr->f, msg[256];
	struct tn_dependency d = {0};
	int64_t min = -1, max = -1;
	int n = pr->n, k, rc;

	if (n != DEP_FIELDS || !f[0] || !f[1] || !f[2]) {
		set_err(err, errlen, "dependencies row %" PRIu64 ": expected %d fields, got %d",
			row, DEP_FIELDS, n);
		return TN_ECORRUPT;
	}
	d.dependent = f[0];
	d.provider = f[1];
	k = tn_dep_kind_parse(f[2], strlen(f[2]));
	d.kind = (enum tn_dep_kind)k;
	if (k < 0 || (f[3] && !to_i64(f[3], 0, INT32_MAX, &min)) ||
	    (f[4] && !to_i64(f[4], 0, INT32_MAX, &max))) {
		set_err(err, errlen,
			"dependencies row %" PRIu64
			" (\"%.64s\" on \"%.64s\"): a value out of range",
			row, f[0], f[1]);
		return TN_ECORRUPT;
	}
	d.delay_min_s = (int32_t)min;
	d.delay_max_s = (int32_t)max;
	rc = tn_graph_add_dependency(b, &d, msg, sizeof msg);
	if (rc != 0) {
		set_err(err, errlen, "dependencies row %" PRIu64 " (\"%.64s\" on \"%.64s\"): %s",
			row, f[0], f[1], msg);
		return rc == TN_EINVAL || rc == TN_EEXIST || rc == TN_ENOTFOUND ? TN_ECORRUPT : rc;
	}
	return 0;
}

/*
 * Rows are handled AHEAD rows behind the connection, each hinted at when it
 * arrives (tn_graph_builder_prefetch): the lookups of a large registry are
 * cache misses, and this overlaps them (as the CSV loader does).
 */
#define AHEAD 16

static void hint(struct tn_graph_builder *b, const struct pg_row *pr, bool deps, int stage)
{
	if (pr->n != (deps ? DEP_FIELDS : ASSET_FIELDS) || !pr->f[0] || (deps && !pr->f[1]))
		return;
	if (stage == 0) {
		tn_graph_builder_prefetch(b, pr->f[0]);
		if (deps)
			tn_graph_builder_prefetch(b, pr->f[1]);
	} else if (deps && pr->f[2]) {
		int k = tn_dep_kind_parse(pr->f[2], strlen(pr->f[2]));
		struct tn_dependency d = {pr->f[0], pr->f[1], (enum tn_dep_kind)k, -1, -1};
		if (k >= 0)
			tn_graph_builder_prefetch_dependency(b, &d);
	}
}

/* COPY `sql` TO STDOUT, each row through fn. */
static int copy_out(PGconn *c, const char *sql, struct tn_graph_builder *b, bool deps,
		    int (*fn)(struct tn_graph_builder *, struct pg_row *, uint64_t, char *, size_t),
		    char *err, size_t errlen)
{
	PGresult *res = PQexec(c, sql);
	struct pg_row ring[AHEAD];
	uint64_t in = 0, done = 0;
	int n = 0, rc = 0, nf = deps ? DEP_FIELDS : ASSET_FIELDS;
	bool end = false;
	char *line;

	if (PQresultStatus(res) != PGRES_COPY_OUT) {
		pg_err(c, res, err, errlen);
		PQclear(res);
		return TN_EDB;
	}
	PQclear(res);
	while (!end || done < in) {
		if (!end && in - done < AHEAD) {
			n = PQgetCopyData(c, &line, 0);
			if (n <= 0) {
				end = true;
				continue;
			}
			struct pg_row *pr = &ring[in % AHEAD];
			pr->line = line;
			pr->n = split_row(line, (size_t)n, pr->f, nf);
			hint(b, pr, deps, 0);
			if (in >= AHEAD / 2)
				hint(b, &ring[(in - AHEAD / 2) % AHEAD], deps, 1);
			in++;
			continue;
		}
		struct pg_row *pr = &ring[done % AHEAD];
		/* after an error, drain the rest: the connection must end idle */
		if (rc == 0)
			rc = fn(b, pr, done + 1, err, errlen);
		PQfreemem(pr->line);
		done++;
	}
	res = PQgetResult(c);
	if (n == -2 || PQresultStatus(res) != PGRES_COMMAND_OK) {
		if (rc == 0) {
			pg_err(c, res, err, errlen);
			rc = TN_EDB;
		}
	}
	PQclear(res);
	while ((res = PQgetResult(c)))
		PQclear(res);
	return rc;
}

int tn_assets_load_pg_conn(PGconn *c, struct tn_graph **out, int64_t *generation, char *err,
			   size_t errlen)
{
	struct tn_graph_builder *b = NULL;
	PGresult *res;
	int64_t gen = 0, na = 0, nd = 0;
	int rc = TN_EDB;

	if (!c || !out)
		return TN_EINVAL;
	*out = NULL;
	set_err(err, errlen, "%s", "");
	/* one snapshot: the generation and the rows it describes, taken after
	 * the locks (an import waits for none, then truncates: not MVCC-safe
	 * for a snapshot taken before it) */
	res = PQexec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		goto pgerr;
	PQclear(res);
	/* an import holds the tables for as long as it rebuilds them (a minute
	 * or two for millions of rows): do not hang a server's thread on it,
	 * fail and come back after the import's NOTIFY */
	res = PQexec(c, "SET LOCAL lock_timeout = '5s'");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		goto pgerr;
	PQclear(res);
	res = PQexec(c,
		     "LOCK TABLE registry_generation, assets, dependencies IN ACCESS SHARE MODE");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		goto pgerr;
	PQclear(res);
	/* the sorts by ord fit in memory even for millions of rows */
	res = PQexec(c, "SET LOCAL work_mem = '256MB'");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		goto pgerr;
	PQclear(res);
	res = PQexec(c, "SELECT generation, (SELECT count(*) FROM assets), "
			"(SELECT count(*) FROM dependencies) FROM registry_generation");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		goto pgerr;
	if (!to_i64(PQgetvalue(res, 0, 0), INT64_MIN, INT64_MAX, &gen) ||
	    !to_i64(PQgetvalue(res, 0, 1), 0, INT64_MAX, &na) ||
	    !to_i64(PQgetvalue(res, 0, 2), 0, INT64_MAX, &nd)) {
		set_err(err, errlen, "registry_generation: unreadable");
		rc = TN_ECORRUPT;
		goto out;
	}
	PQclear(res);
	res = NULL;

	if ((rc = tn_graph_builder_new((size_t)na, (size_t)nd, &b)) != 0) {
		set_err(err, errlen, "out of memory");
		goto out;
	}
	rc = copy_out(
		c,
		"COPY (SELECT id, sector, kind, name, lat, lon, area, criticality, population, "
		"backup_s, sensitivity FROM assets ORDER BY ord) TO STDOUT",
		b, false, asset_row, err, errlen);
	if (rc == 0)
		rc = copy_out(c,
			      "COPY (SELECT dependent, provider, kind, delay_min_s, delay_max_s "
			      "FROM dependencies ORDER BY ord) TO STDOUT",
			      b, true, dep_row, err, errlen);
	if (rc != 0)
		goto out;
	rc = tn_graph_build(b, out);
	b = NULL;
	if (rc != 0)
		set_err(err, errlen, "out of memory");
	else if (generation)
		*generation = gen;
	goto out;
pgerr:
	pg_err(c, res, err, errlen);
	rc = TN_EDB;
out:
	PQclear(res);
	PQclear(PQexec(c, "ROLLBACK"));
	tn_graph_builder_free(b);
	return rc;
}

int tn_assets_load_pg(const char *conninfo, struct tn_graph **out, int64_t *generation, char *err,
		      size_t errlen)
{
	const char *keys[] = {"dbname", "connect_timeout", "fallback_application_name", NULL};
	const char *vals[] = {conninfo, "3", "tocsind", NULL};
	PGconn *c;
	int rc;

	if (!conninfo || !out)
		return TN_EINVAL;
	*out = NULL;
	c = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(c) != CONNECTION_OK) {
		set_err(err, errlen, "%s", c ? PQerrorMessage(c) : "out of memory");
		PQfinish(c);
		return TN_EDB;
	}
	rc = tn_assets_load_pg_conn(c, out, generation, err, errlen);
	PQfinish(c);
	return rc;
}
