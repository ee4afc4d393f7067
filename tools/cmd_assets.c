/*
 * cmd_assets.c - `tocsin assets import | export`: the asset registry
 * (design §2).
 *
 * import reads and checks both files wholly before it touches the database:
 * every error is printed (FILE:LINE:COLUMN, up to a hundred, then a count)
 * and nothing is loaded. Only a clean pair of files replaces the registry,
 * in one transaction: lock the two tables, drop their keys and indexes,
 * empty them, COPY both, make the keys and indexes again (which checks the
 * foreign keys in one pass each), read the generation the triggers of
 * 002_assets.sql bumped (their NOTIFY reaches a running tocsind at the
 * commit) and write the audit row. Rebuilding the keys needs the role that
 * owns the tables: since schema/007_roles.sql, tocsin_owner, whose role the
 * import takes for its transaction (tocsin_admin may). The rows are held in
 * memory as COPY text between the check and the load, so what is loaded is
 * exactly what was checked.
 *
 * export writes both files back from one snapshot, in the imported order,
 * mode 0600 (the graph is sensitive: design §7), each through a temporary
 * file renamed into place.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "pg_util.h"
#include "registry_csv.h"
#include "tocsin/error.h"
#include "tocsin/graph.h"

#define COPY_CHUNK ((size_t)1 << 20)

static void usage(FILE *f)
{
	fprintf(f, "usage: tocsin assets import [--check] ASSETS.csv DEPENDENCIES.csv\n"
		   "           check both files, then replace the registry with them\n"
		   "           (--check: only check, do not touch the database)\n"
		   "       tocsin assets export --out DIR\n"
		   "           write DIR/assets.csv and DIR/dependencies.csv\n"
		   "headers:\n"
		   "  " TN_ASSETS_CSV_HEADER "\n"
		   "  " TN_DEPS_CSV_HEADER "\n");
}

/* ---- COPY text held in memory ---------------------------------------------- */

struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void buf_put(struct buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->cap - b->len < n) {
		size_t cap = b->cap ? b->cap : COPY_CHUNK;
		while (cap - b->len < n)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

/* Room for n bytes in all, up front (a failure shows later, as oom). */
static void buf_reserve(struct buf *b, size_t n)
{
	char *p;

	if (n <= b->cap)
		return;
	p = realloc(b->p, n);
	if (p) {
		b->p = p;
		b->cap = n;
	}
}

static void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void buf_printf(struct buf *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	buf_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* A text field of COPY's text format, then a tab (or the line end). */
static void buf_field(struct buf *b, const char *s, char end)
{
	const char *run = s;

	for (; *s; s++) {
		const char *esc = *s == '\\'   ? "\\\\"
				  : *s == '\t' ? "\\t"
				  : *s == '\n' ? "\\n"
				  : *s == '\r' ? "\\r"
					       : NULL;
		if (!esc)
			continue;
		buf_put(b, run, (size_t)(s - run));
		buf_put(b, esc, 2);
		run = s + 1;
	}
	buf_put(b, run, (size_t)(s - run));
	buf_put(b, &end, 1);
}

struct import {
	struct buf assets, deps;
	uint32_t n_assets, n_deps;             /* rows in the COPY text */
	uint64_t checked_assets, checked_deps; /* rows read (--check) */
	bool assets_done;
	bool tty;
};

static int on_asset(void *ctx, const struct tn_asset *a, const struct tn_csv_row *row)
{
	struct import *im = ctx;
	struct buf *b = &im->assets;

	buf_field(b, a->id, '\t');
	buf_field(b, tn_sector_name(a->sector), '\t');
	buf_field(b, a->kind, '\t');
	buf_field(b, a->name, '\t');
	/* the coordinates as written: plain decimals (the loader's check), which
	 * PostgreSQL reads into the very doubles that were checked, and a good
	 * deal faster than printing them back */
	buf_field(b, row->field[4], '\t');
	buf_field(b, row->field[5], '\t');
	buf_field(b, a->area, '\t');
	buf_printf(b, "%d\t%" PRId64 "\t%" PRId32 "\t", a->criticality, a->population, a->backup_s);
	buf_field(b, tn_sensitivity_name(a->sensitivity), '\t');
	buf_printf(b, "%" PRIu32 "\n", im->n_assets++);
	return b->oom ? TN_ENOMEM : 0;
}

static int on_dependency(void *ctx, const struct tn_dependency *d, const struct tn_csv_row *row)
{
	struct import *im = ctx;

	(void)row;
	struct buf *b = &im->deps;

	buf_field(b, d->dependent, '\t');
	buf_field(b, d->provider, '\t');
	buf_field(b, tn_dep_kind_name(d->kind), '\t');
	if (d->delay_min_s < 0)
		buf_put(b, "\\N\t\\N\t", 6);
	else
		buf_printf(b, "%" PRId32 "\t%" PRId32 "\t", d->delay_min_s, d->delay_max_s);
	buf_printf(b, "%" PRIu32 "\n", im->n_deps++);
	return b->oom ? TN_ENOMEM : 0;
}

static void on_progress(void *ctx, const char *file, uint64_t rows, bool done)
{
	struct import *im = ctx;

	/* the assets file is read first */
	if (done && !im->assets_done) {
		im->checked_assets = rows;
		im->assets_done = true;
	} else if (done) {
		im->checked_deps = rows;
	}
	if (!im->tty || rows < TN_CSV_PROGRESS)
		return;
	fprintf(stderr, "tocsin: %s: %" PRIu64 " rows%s\n", file, rows, done ? ", done" : "");
}

/* ---- the database side ------------------------------------------------------ */

/* Report a failed statement; an absent table means the schema is missing. */
static void db_error(const char *what, const PGresult *r)
{
	tn__pg_report(what, r);
	if (strcmp(tn__pg_sqlstate(r), "42P01") == 0)
		fprintf(stderr, "  hint: run tocsin db migrate first\n");
	else if (strcmp(tn__pg_sqlstate(r), "42501") == 0)
		fprintf(stderr,
			"  hint: an import rebuilds the registry's keys and indexes: run it "
			"as the role that owns the tables (the one that ran tocsin db "
			"migrate)\n");
}

/* Run a statement of the open transaction; on failure report, roll back, NULL. */
static PGresult *tx_exec(PGconn *c, const char *what, const char *sql, int n,
			 const char *const *params)
{
	PGresult *r = tn__pg_exec(c, sql, n, params);

	if (tn__pg_ok(r))
		return r;
	db_error(what, r);
	PQclear(r);
	tn__pg_rollback(c);
	return NULL;
}

/* COPY ... FROM STDIN with the rows of b. 0, or -1 after reporting (rolled back). */
static int copy_in(PGconn *c, const char *what, const char *sql, const struct buf *b)
{
	PGresult *r = PQexec(c, sql);

	if (!r || PQresultStatus(r) != PGRES_COPY_IN) {
		if (r)
			db_error(what, r);
		else
			fprintf(stderr, "tocsin: %s: %s", what, PQerrorMessage(c));
		PQclear(r);
		tn__pg_rollback(c);
		return -1;
	}
	PQclear(r);
	for (size_t o = 0; o < b->len; o += COPY_CHUNK) {
		size_t n = b->len - o < COPY_CHUNK ? b->len - o : COPY_CHUNK;
		if (PQputCopyData(c, b->p + o, (int)n) != 1)
			break;
	}
	if (PQputCopyEnd(c, NULL) != 1) {
		fprintf(stderr, "tocsin: %s: %s", what, PQerrorMessage(c));
		tn__pg_rollback(c);
		return -1;
	}
	r = PQgetResult(c);
	int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok) {
		if (r)
			db_error(what, r);
		else
			fprintf(stderr, "tocsin: %s: %s", what, PQerrorMessage(c));
	}
	PQclear(r);
	while ((r = PQgetResult(c)))
		PQclear(r);
	if (!ok) {
		tn__pg_rollback(c);
		return -1;
	}
	return 0;
}

/* "1 asset", "2 assets"; "1 dependency", "2 dependencies". */
static const char *assets_word(uint64_t n)
{
	return n == 1 ? "asset" : "assets";
}

static const char *deps_word(uint64_t n)
{
	return n == 1 ? "dependency" : "dependencies";
}


/*
 * The keys, indexes and foreign keys of the two tables (and any foreign key
 * into them), as the catalog defines them: dropped before the COPY and made
 * again after it. Kept up to date row by row, a million assets and three
 * million edges take many minutes (random B-tree inserts and a trigger per
 * foreign key per row); built at once from sorted input, seconds. Read from
 * the catalog, so that the schema is written once, in schema/.
 */
static const char ddl_sql[] =
	"SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname), "
	"       format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname, "
	"              pg_get_constraintdef(c.oid)), "
	"       CASE c.contype WHEN 'f' THEN 0 ELSE 1 END, CASE c.contype WHEN 'f' THEN 2 ELSE 0 "
	"END "
	"  FROM pg_constraint c "
	" WHERE (c.conrelid IN ('assets'::regclass, 'dependencies'::regclass) "
	"        AND c.contype IN ('p', 'u', 'f')) "
	"    OR (c.confrelid IN ('assets'::regclass, 'dependencies'::regclass) AND c.contype = "
	"'f') "
	"UNION ALL "
	"SELECT format('DROP INDEX %s', i.indexrelid::regclass), pg_get_indexdef(i.indexrelid), 2, "
	"1 "
	"  FROM pg_index i "
	" WHERE i.indrelid IN ('assets'::regclass, 'dependencies'::regclass) "
	"   AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid "
	"                   AND c.contype IN ('p', 'u', 'x'))";

/* Run column `col` of the rows of r whose column `ord_col` is `order`, in row order. */
static int run_ddl(PGconn *c, const PGresult *r, int col, int ord_col, const char *order,
		   const char *what)
{
	for (int i = 0; i < PQntuples(r); i++) {
		if (strcmp(PQgetvalue(r, i, ord_col), order) != 0)
			continue;
		PGresult *x = tx_exec(c, what, PQgetvalue(r, i, col), 0, NULL);
		if (!x)
			return -1;
		PQclear(x);
	}
	return 0;
}

static int load(PGconn *c, const struct import *im, const char *assets_path, const char *deps_path)
{
	char old_assets[32], old_deps[32], gen[32], na[16], nd[16];
	PGresult *r, *ddl;

	if (tn__pg_run(c, "cannot begin", "BEGIN", 0, NULL) != 0)
		return 1;
	/* the rebuild of keys is the owner's (schema/007_roles.sql) */
	if (tn__pg_become_owner(c, "assets import") < 0) {
		tn__pg_rollback(c);
		return 1;
	}
	/*
	 * Exclusive: the tables are rebuilt. A reader waits for the commit, then
	 * sees the new registry whole; the registry in a running server is not
	 * affected until then. Readers of these tables in REPEATABLE READ must
	 * take their locks first (LOCK TABLE, as tocsind and export do): the
	 * TRUNCATE below is not MVCC-safe for a snapshot taken before it.
	 */
	r = tx_exec(c, "cannot lock the registry",
		    "LOCK TABLE assets, dependencies IN ACCESS EXCLUSIVE MODE", 0, NULL);
	if (!r)
		return 1;
	PQclear(r);
	r = tx_exec(c, "cannot count the old registry",
		    "SELECT (SELECT count(*) FROM assets), (SELECT count(*) FROM dependencies)", 0,
		    NULL);
	if (!r)
		return 1;
	snprintf(old_assets, sizeof old_assets, "%s", PQgetvalue(r, 0, 0));
	snprintf(old_deps, sizeof old_deps, "%s", PQgetvalue(r, 0, 1));
	PQclear(r);
	r = tx_exec(c, "cannot size the index builds", "SET LOCAL maintenance_work_mem = '512MB'",
		    0, NULL);
	if (!r)
		return 1;
	PQclear(r);
	ddl = tx_exec(c, "cannot read the registry's keys and indexes", ddl_sql, 0, NULL);
	if (!ddl)
		return 1;
	if (run_ddl(c, ddl, 0, 2, "0", "cannot drop a foreign key") != 0 ||
	    run_ddl(c, ddl, 0, 2, "1", "cannot drop a key") != 0 ||
	    run_ddl(c, ddl, 0, 2, "2", "cannot drop an index") != 0)
		goto fail;
	r = tx_exec(c, "cannot empty the registry", "TRUNCATE dependencies, assets", 0, NULL);
	if (!r)
		goto fail;
	PQclear(r);

	if (im->tty && im->n_assets + im->n_deps >= TN_CSV_PROGRESS)
		fprintf(stderr,
			"tocsin: loading %" PRIu32 " assets and %" PRIu32
			" dependencies into PostgreSQL\n",
			im->n_assets, im->n_deps);
	if (copy_in(c, "cannot load the assets",
		    "COPY assets (id, sector, kind, name, lat, lon, area, criticality, population, "
		    "backup_s, sensitivity, ord) FROM STDIN",
		    &im->assets) != 0 ||
	    copy_in(c, "cannot load the dependencies",
		    "COPY dependencies (dependent, provider, kind, delay_min_s, delay_max_s, ord) "
		    "FROM STDIN",
		    &im->deps) != 0)
		goto fail;
	if (im->tty && im->n_assets + im->n_deps >= TN_CSV_PROGRESS)
		fprintf(stderr, "tocsin: building the indexes\n");
	/* keys, then indexes, then the foreign keys, each checked in one pass */
	if (run_ddl(c, ddl, 1, 3, "0", "cannot make a key") != 0 ||
	    run_ddl(c, ddl, 1, 3, "1", "cannot make an index") != 0 ||
	    run_ddl(c, ddl, 1, 3, "2", "cannot make a foreign key") != 0)
		goto fail;
	PQclear(ddl);

	r = tx_exec(c, "cannot read the registry generation",
		    "SELECT generation FROM registry_generation", 0, NULL);
	if (!r)
		return 1;
	snprintf(gen, sizeof gen, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "?");
	PQclear(r);

	snprintf(na, sizeof na, "%" PRIu32, im->n_assets);
	snprintf(nd, sizeof nd, "%" PRIu32, im->n_deps);
	const char *p_audit[] = {tn__cli_actor(),     na,        nd,         gen,
				 assets_path, deps_path, old_assets, old_deps};
	r = tx_exec(c, "cannot write the audit row",
		    "INSERT INTO audit (actor, action, subject, origin, detail) "
		    "VALUES ($1, 'assets.import', 'registry', 'cli', jsonb_build_object("
		    "'assets', $2::bigint, 'dependencies', $3::bigint, 'generation', $4::bigint, "
		    "'files', jsonb_build_array($5::text, $6::text), "
		    "'replaced', jsonb_build_object('assets', $7::bigint, "
		    "'dependencies', $8::bigint)))",
		    8, p_audit);
	if (!r)
		return 1;
	PQclear(r);
	if (tn__pg_run(c, "cannot commit", "COMMIT", 0, NULL) != 0)
		return 1;
	printf("imported %" PRIu32 " %s and %" PRIu32 " %s (generation %s)\n", im->n_assets,
	       assets_word(im->n_assets), im->n_deps, deps_word(im->n_deps), gen);
	return 0;
fail: /* rolled back by whoever failed */
	PQclear(ddl);
	return 1;
}

static int import(const struct tn_cli *cli, const char *assets_path, const char *deps_path,
		  bool check_only)
{
	struct import im = {.tty = isatty(STDERR_FILENO) == 1};
	struct tn_registry_csv_sink sink = {on_asset, on_dependency, on_progress, &im};
	struct tn_registry_csv_sink progress = {.progress = on_progress, .ctx = &im};
	struct tn_csv_reader *ra = NULL, *rd = NULL;
	struct tn_csv_errors errs;
	FILE *fa, *fd;
	PGconn *c;
	int rc, status = 1;

	tn_csv_errors_init(&errs);
	fa = fopen(assets_path, "re");
	if (!fa)
		fprintf(stderr, "tocsin: cannot open %s: %s\n", assets_path, strerror(errno));
	fd = fopen(deps_path, "re");
	if (!fd)
		fprintf(stderr, "tocsin: cannot open %s: %s\n", deps_path, strerror(errno));
	if (!fa || !fd)
		goto out;
	if (tn_csv_open_file(fa, assets_path, &ra) != 0 ||
	    tn_csv_open_file(fd, deps_path, &rd) != 0) {
		fprintf(stderr, "tocsin: out of memory\n");
		goto out;
	}
	/* the COPY text comes to about the size of the files */
	if (!check_only) {
		buf_reserve(&im.assets, tn_csv_size(ra) + tn_csv_size(ra) / 8);
		buf_reserve(&im.deps, tn_csv_size(rd) + tn_csv_size(rd) / 8);
	}
	rc = tn_registry_csv_read(ra, rd, check_only ? &progress : &sink, NULL, &errs);
	tn_csv_errors_print(&errs, stderr, "tocsin: ");
	if (rc == TN_EINVAL) {
		fprintf(stderr, "tocsin: %zu error%s; nothing imported\n", errs.total,
			errs.total == 1 ? "" : "s");
		goto out;
	}
	if (rc != 0) {
		if (errs.total == 0)
			fprintf(stderr, "tocsin: cannot read the registry: %s\n", tn_strerror(rc));
		goto out;
	}
	if (check_only) {
		printf("%s and %s are valid: %" PRIu64 " %s and %" PRIu64 " %s\n", assets_path,
		       deps_path, im.checked_assets, assets_word(im.checked_assets),
		       im.checked_deps, deps_word(im.checked_deps));
		status = 0;
		goto out;
	}
	c = tn__pg_connect(cli->conninfo);
	if (!c)
		goto out;
	status = load(c, &im, assets_path, deps_path);
	PQfinish(c);
out:
	tn_csv_close(ra);
	tn_csv_close(rd);
	if (fa)
		fclose(fa);
	if (fd)
		fclose(fd);
	tn_csv_errors_free(&errs);
	free(im.assets.p);
	free(im.deps.p);
	return status;
}

/* ---- export ----------------------------------------------------------------- */

/* COPY (query) TO STDOUT into dir/name through a temporary file. Rows in *rows. */
static int export_one(PGconn *c, const char *dir, const char *name, const char *query, long *rows)
{
	char tmp[4096], path[4096], *line;
	PGresult *r;
	FILE *f;
	int fd, n;

	*rows = -1; /* the header */
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path ||
	    (size_t)snprintf(tmp, sizeof tmp, "%s/.%s.XXXXXX", dir, name) >= sizeof tmp) {
		fprintf(stderr, "tocsin: %s: path too long\n", dir);
		return -1;
	}
	fd = mkstemp(tmp); /* mode 0600 */
	if (fd < 0) {
		fprintf(stderr, "tocsin: cannot create a file in %s: %s\n", dir, strerror(errno));
		return -1;
	}
	f = fdopen(fd, "w");
	if (!f) {
		fprintf(stderr, "tocsin: %s: %s\n", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	r = PQexec(c, query);
	if (!r || PQresultStatus(r) != PGRES_COPY_OUT) {
		if (r)
			db_error("cannot export", r);
		else
			fprintf(stderr, "tocsin: cannot export: %s", PQerrorMessage(c));
		PQclear(r);
		goto fail;
	}
	PQclear(r);
	while ((n = PQgetCopyData(c, &line, 0)) > 0) {
		fwrite(line, 1, (size_t)n, f);
		PQfreemem(line);
		++*rows;
	}
	r = PQgetResult(c);
	if (n == -2 || !r || PQresultStatus(r) != PGRES_COMMAND_OK) {
		if (r)
			db_error("cannot export", r);
		else
			fprintf(stderr, "tocsin: cannot export: %s", PQerrorMessage(c));
		PQclear(r);
		goto fail;
	}
	PQclear(r);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0 || ferror(f)) {
		fprintf(stderr, "tocsin: cannot write %s: %s\n", tmp, strerror(errno));
		goto fail;
	}
	fclose(f);
	if (rename(tmp, path) != 0) {
		fprintf(stderr, "tocsin: cannot rename %s to %s: %s\n", tmp, path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
fail:
	fclose(f);
	unlink(tmp);
	return -1;
}

static int export(const struct tn_cli *cli, const char *dir)
{
	long na, nd;
	PGresult *r;
	PGconn *c;
	char gen[32];
	int status = 1;

	c = tn__pg_connect(cli->conninfo);
	if (!c)
		return 1;
	/* both files and the generation from one snapshot, taken after the
	 * locks: an import's TRUNCATE is not MVCC-safe for an earlier one */
	if (tn__pg_run(c, "cannot begin", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0,
		       NULL) != 0)
		goto out;
	r = tx_exec(c, "cannot lock the registry",
		    "LOCK TABLE registry_generation, assets, dependencies IN ACCESS SHARE MODE", 0,
		    NULL);
	if (!r)
		goto out;
	PQclear(r);
	r = tx_exec(c, "cannot read the registry generation",
		    "SELECT generation FROM registry_generation", 0, NULL);
	if (!r)
		goto out;
	snprintf(gen, sizeof gen, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "?");
	PQclear(r);
	if (export_one(c, dir, "assets.csv",
		       "COPY (SELECT id, sector, kind, name, lat, lon, area, criticality, "
		       "population, backup_s, sensitivity FROM assets ORDER BY ord) "
		       "TO STDOUT WITH (FORMAT csv, HEADER true)",
		       &na) != 0 ||
	    export_one(c, dir, "dependencies.csv",
		       "COPY (SELECT dependent, provider, kind, delay_min_s, delay_max_s "
		       "FROM dependencies ORDER BY ord) TO STDOUT WITH (FORMAT csv, HEADER true)",
		       &nd) != 0) {
		tn__pg_rollback(c);
		goto out;
	}
	tn__pg_rollback(c); /* read only: nothing to commit */
	printf("exported %ld %s and %ld %s (generation %s) to %s/assets.csv and "
	       "%s/dependencies.csv\n",
	       na, assets_word((uint64_t)na), nd, deps_word((uint64_t)nd), gen, dir, dir);
	status = 0;
out:
	PQfinish(c);
	return status;
}

int tn__cmd_assets(int argc, char **argv, const struct tn_cli *cli)
{
	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "import") == 0) {
		bool check = argc == 5 && strcmp(argv[2], "--check") == 0;
		if (argc != 4 && !check) {
			usage(stderr);
			return 2;
		}
		return import(cli, argv[argc - 2], argv[argc - 1], check);
	}
	if (argc == 4 && strcmp(argv[1], "export") == 0 && strcmp(argv[2], "--out") == 0)
		return export(cli, argv[3]);
	usage(stderr);
	return 2;
}
