/*
 * cmd_record.c - `tocsin record`: export the events of a time range from
 * PostgreSQL as a drill recording (design §6, recording.h, docs/drills.md).
 *
 *   tocsin record --from T1 --to T2 -o FILE [--db CONNINFO] [--source S]
 *
 * Events with T1 <= time < T2 (RFC 3339), optionally of one source, in the
 * order the server accepted them (journal offset): the order of arrival a
 * replay gives the engine. One JSON object per line with the wire keys, the
 * event's own source and id, time in UTC with microseconds. The file is
 * written beside FILE and renamed into place at the end, so a failed export
 * leaves no half recording ("-" writes to stdout). One REPEATABLE READ
 * transaction reads a count, then the rows through a cursor in batches: the
 * memory used does not grow with the range, and a progress line goes to
 * stderr every batch when stderr is a terminal, or every 100,000 events
 * otherwise.
 *
 * Exit status: 0 done (an empty range gives an empty file and says so), 1
 * the database or the file failed, 2 usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "pg_util.h"
#include "recording.h"
#include "sim_opt.h"
#include "tocsin/adapter.h"
#include "tocsin/error.h"

#define FETCH_ROWS 5000
#define FETCH_SQL "FETCH 5000 FROM rec" /* FETCH_ROWS */
#define LOG_EVERY 100000

static const char usage_text[] =
	"usage: tocsin record --from RFC3339 --to RFC3339 -o FILE [--db CONNINFO] [--source S]\n";

static const char select_sql[] =
	"DECLARE rec NO SCROLL CURSOR FOR "
	"SELECT source, id, type, (extract(epoch FROM time) * 1000000)::bigint, sector, asset, "
	"severity, summary, lat, lon, attrs::text FROM events "
	"WHERE time >= $1 AND time < $2 AND ($3::text IS NULL OR source = $3) "
	"ORDER BY journal_offset";

/* One row as one line of JSON. */
static int put_row(FILE *f, const PGresult *r, int i)
{
	json_t *o = json_object();
	char t[40], *text;
	int rc = TN_ENOMEM;

	if (!o || tn__recording_time(strtoll(PQgetvalue(r, i, 3), NULL, 10), t, sizeof t) != 0)
		goto out;
	json_object_set_new(o, "id", json_string(PQgetvalue(r, i, 1)));
	json_object_set_new(o, "source", json_string(PQgetvalue(r, i, 0)));
	json_object_set_new(o, "type", json_string(PQgetvalue(r, i, 2)));
	json_object_set_new(o, "time", json_string(t));
	if (!PQgetisnull(r, i, 4))
		json_object_set_new(o, "sector", json_string(PQgetvalue(r, i, 4)));
	if (!PQgetisnull(r, i, 5))
		json_object_set_new(o, "asset", json_string(PQgetvalue(r, i, 5)));
	json_object_set_new(o, "severity", json_integer(atoi(PQgetvalue(r, i, 6))));
	if (!PQgetisnull(r, i, 7))
		json_object_set_new(o, "summary", json_string(PQgetvalue(r, i, 7)));
	if (!PQgetisnull(r, i, 8) && !PQgetisnull(r, i, 9))
		json_object_set_new(o, "geo", json_pack("[ff]", strtod(PQgetvalue(r, i, 8), NULL),
							strtod(PQgetvalue(r, i, 9), NULL)));
	if (!PQgetisnull(r, i, 10))
		json_object_set_new(o, "attrs", json_loads(PQgetvalue(r, i, 10), 0, NULL));
	text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
	if (!text)
		goto out;
	rc = fprintf(f, "%s\n", text) < 0 ? TN_EIO : 0;
	free(text);
out:
	json_decref(o);
	return rc;
}

static bool time_ok(const char *s, int64_t *us)
{
	return s && strlen(s) >= 5 && s[4] == '-' && tn_adapter_parse_time(s, us) == 0;
}

static int export(PGconn *c, const char *const params[3], FILE *f, const char *out)
{
	bool tty = isatty(2);
	uint64_t total, done = 0, logged = 0;
	PGresult *r;
	int rc = 1;

	if (tn__pg_run(c, "record: begin", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0,
		       NULL) != 0)
		return 1;
	r = tn__pg_exec(c,
			"SELECT count(*) FROM events WHERE time >= $1 AND time < $2 AND "
			"($3::text IS NULL OR source = $3)",
			3, params);
	if (!tn__pg_ok(r)) {
		tn__pg_report("record: counting events (is the schema migrated? tocsin db migrate)",
			      r);
		PQclear(r);
		goto out;
	}
	total = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	if (tn__pg_run(c, "record: select", select_sql, 3, params) != 0)
		goto out;
	for (;;) {
		int n;

		r = tn__pg_exec(c, FETCH_SQL, 0, NULL);
		if (!tn__pg_ok(r)) {
			tn__pg_report("record: fetch", r);
			PQclear(r);
			goto out;
		}
		n = PQntuples(r);
		for (int i = 0; i < n; i++)
			if (put_row(f, r, i) != 0) {
				fprintf(stderr, "tocsin: record: %s: %s\n", out, strerror(errno));
				PQclear(r);
				goto out;
			}
		PQclear(r);
		done += (uint64_t)n;
		if (tty)
			fprintf(stderr, "\r\033[Ktocsin: record: %" PRIu64 "/%" PRIu64 " events", done,
				total);
		else if (done - logged >= LOG_EVERY) {
			fprintf(stderr, "tocsin: record: %" PRIu64 "/%" PRIu64 " events\n", done,
				total);
			logged = done;
		}
		if (n < FETCH_ROWS)
			break;
	}
	fprintf(stderr, "%stocsin: record: %" PRIu64 " events from %s to %s%s\n",
		tty ? "\r\033[K" : "", done, params[0], params[1],
		done ? "" : " (none in that range)");
	rc = 0;
out:
	tn__pg_rollback(c); /* read only: nothing to commit */
	return rc;
}

int tn__cmd_record(int argc, char **argv, const struct tn_cli *cli)
{
	const char *from = NULL, *to = NULL, *out = NULL, *db = NULL, *source = NULL, *pos[1];
	bool help = false;
	struct tn__opt opts[] = {
		{"from", TN_OPT_STR, &from, false}, {"to", TN_OPT_STR, &to, false},
		{"out", TN_OPT_STR, &out, false},   {"db", TN_OPT_STR, &db, false},
		{"source", TN_OPT_STR, &source, false}, {"help", TN_OPT_FLAG, &help, false},
	};
	int64_t from_us, to_us;
	char tmp[4096];
	PGconn *c;
	FILE *f;
	int n_pos, rc;

	static char out_opt[] = "--out";

	/* -o FILE as well as --out FILE */
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "-o") == 0)
			argv[i] = out_opt;
	if (tn__opt_parse("record", argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), pos, 0,
			  &n_pos))
		return 2;
	if (help) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (!from || !to || !out) {
		fprintf(stderr, "tocsin: record: expected --from, --to and -o FILE\n%s",
			usage_text);
		return 2;
	}
	if (!time_ok(from, &from_us) || !time_ok(to, &to_us)) {
		fprintf(stderr, "tocsin: record: --%s: expected an RFC 3339 time like "
				"2026-08-14T16:00:00Z, got \"%.64s\"\n",
			time_ok(from, &from_us) ? "to" : "from",
			time_ok(from, &from_us) ? to : from);
		return 2;
	}
	if (from_us >= to_us) {
		fprintf(stderr, "tocsin: record: expected --from before --to\n");
		return 2;
	}
	if (strcmp(out, "-") == 0) {
		f = stdout;
	} else {
		if ((size_t)snprintf(tmp, sizeof tmp, "%s.partial", out) >= sizeof tmp) {
			fprintf(stderr, "tocsin: record: -o: path too long\n");
			return 2;
		}
		if (!(f = fopen(tmp, "we"))) {
			fprintf(stderr, "tocsin: record: %s: %s\n", tmp, strerror(errno));
			return 1;
		}
	}
	if (!(c = tn__pg_connect(db ? db : cli->conninfo))) {
		rc = 1;
	} else {
		const char *params[3] = {from, to, source};

		rc = export(c, params, f, out);
		PQfinish(c);
	}
	if (f == stdout)
		return fflush(f) != 0 ? 1 : rc;
	if (fclose(f) != 0 && rc == 0) {
		fprintf(stderr, "tocsin: record: %s: %s\n", tmp, strerror(errno));
		rc = 1;
	}
	if (rc == 0 && rename(tmp, out) != 0) {
		fprintf(stderr, "tocsin: record: %s: %s\n", out, strerror(errno));
		rc = 1;
	}
	if (rc != 0)
		unlink(tmp);
	return rc;
}
