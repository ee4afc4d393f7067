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
 * --journal DIR reads the server's journal segments instead (design §5:
 * they are recordings too), stopped or not: every event record in journal
 * order and every clock tick the server journaled for its engine, as tick
 * lines (recording.h). Replayed with the server's [correlator] settings
 * (`tocsin --config tocsind.ini replay ... --drill live`), that gives
 * exactly the revisions the live run produced. --from/--to bound the
 * events' and ticks' times (both optional here).
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

#include <msgpack.h>

#include "cli.h"
#include "journal.h"
#include "pg_util.h"
#include "wire.h"
#include "recording.h"
#include "sim_opt.h"
#include "tocsin/adapter.h"
#include "tocsin/error.h"

#define FETCH_ROWS 5000
#define FETCH_SQL "FETCH 5000 FROM rec" /* FETCH_ROWS */
#define LOG_EVERY 100000

static const char usage_text[] =
	"usage: tocsin record --from RFC3339 --to RFC3339 -o FILE [--db CONNINFO] [--source S]\n"
	"       tocsin record --journal DIR [--from RFC3339] [--to RFC3339] -o FILE\n";

static const char select_sql[] =
	"DECLARE rec NO SCROLL CURSOR FOR "
	"SELECT source, id, type, (extract(epoch FROM time) * 1000000)::bigint, sector, asset, "
	"severity, summary, lat, lon, attrs::text FROM events "
	"WHERE time >= $1 AND time < $2 AND ($3::text IS NULL OR source = $3) "
	"ORDER BY journal_offset";

/* One row as one line of JSON. */
static int put_row(FILE *f, const PGresult *r, int i)
{
	struct tn_event ev = {
		.source = PQgetvalue(r, i, 0),
		.id = PQgetvalue(r, i, 1),
		.type = (enum tn_event_type)tn_event_type_parse(PQgetvalue(r, i, 2),
							       (size_t)PQgetlength(r, i, 2)),
		.time_us = strtoll(PQgetvalue(r, i, 3), NULL, 10),
		.sector = PQgetisnull(r, i, 4)
				  ? TN_SECTOR_NONE
				  : (enum tn_sector)tn_sector_parse(PQgetvalue(r, i, 4),
								    (size_t)PQgetlength(r, i, 4)),
		.asset = PQgetisnull(r, i, 5) ? NULL : PQgetvalue(r, i, 5),
		.severity = atoi(PQgetvalue(r, i, 6)),
		.summary = PQgetisnull(r, i, 7) ? NULL : PQgetvalue(r, i, 7),
		.has_geo = !PQgetisnull(r, i, 8) && !PQgetisnull(r, i, 9),
		.lat = strtod(PQgetvalue(r, i, 8), NULL),
		.lon = strtod(PQgetvalue(r, i, 9), NULL),
	};
	json_t *attrs = PQgetisnull(r, i, 10) ? NULL : json_loads(PQgetvalue(r, i, 10), 0, NULL);
	int rc;

	if ((int)ev.type < 0 || (int)ev.sector < TN_SECTOR_NONE) {
		fprintf(stderr, "tocsin: record: event %s of %s: type or sector not of design 3.1\n",
			ev.id, ev.source);
		json_decref(attrs);
		return TN_ECORRUPT;
	}
	rc = tn__recording_put(f, &ev, attrs);
	json_decref(attrs);
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

/* Time bounds of a journal export; INT64_MIN / INT64_MAX when not given. */
struct range {
	int64_t from_us, to_us;
};

/* One journal record into the recording, if it is an event or a tick in range. */
static int journal_record(FILE *f, struct tn_wire_decoder *dec, msgpack_zone *zone,
			  const struct tn_journal_record *rec, struct range rg, uint64_t *n)
{
	struct tn_wire_item item;
	struct tn_event tick = {.type = TN__EV_TICK, .id = "tick", .source = "tick"};
	msgpack_object o;
	size_t off = 0;

	if (rec->type != TN_JREC_EVENT && rec->type != TN_JREC_TICK)
		return 0; /* revisions, rejects, audit: not input */
	msgpack_zone_clear(zone);
	if (tn_wire_scan(rec->payload, rec->len, 6, rec->len, NULL, 0) != 0 ||
	    msgpack_unpack(rec->payload, rec->len, &off, zone, &o) != MSGPACK_UNPACK_SUCCESS ||
	    o.type != MSGPACK_OBJECT_ARRAY)
		goto bad;
	if (rec->type == TN_JREC_TICK) {
		const msgpack_object *t = o.via.array.size == 1 ? &o.via.array.ptr[0] : NULL;

		if (!t || (t->type != MSGPACK_OBJECT_POSITIVE_INTEGER &&
			   t->type != MSGPACK_OBJECT_NEGATIVE_INTEGER))
			goto bad;
		tick.time_us = t->via.i64;
		if (tick.time_us < rg.from_us || tick.time_us >= rg.to_us)
			return 0;
		(*n)++;
		return tn__recording_put(f, &tick, NULL);
	}
	if (o.via.array.size != 3 ||
	    tn_wire_validate_event(dec, &o.via.array.ptr[2], NULL, &item) != 0)
		goto bad;
	if (item.ev.time_us < rg.from_us || item.ev.time_us >= rg.to_us)
		return 0;
	(*n)++;
	return tn__recording_put(f, &item.ev, NULL);
bad:
	fprintf(stderr, "tocsin: record: journal offset %" PRIu64 ": a record of type %u that is "
			"not a valid event or tick; skipped\n",
		rec->offset, (unsigned)rec->type);
	return 0;
}

static int export_journal(const char *dir, struct range rg, FILE *f)
{
	struct tn_journal_reader *r = NULL;
	struct tn_wire_decoder *dec = NULL;
	struct tn_journal_record rec;
	msgpack_zone zone;
	uint64_t events = 0;
	int k, rc;

	if (!msgpack_zone_init(&zone, 64 * 1024))
		return 1;
	if ((rc = tn_journal_reader_open(dir, 0, &r)) != 0 ||
	    (rc = tn_wire_decoder_new(&dec)) != 0) {
		fprintf(stderr, "tocsin: record: journal %s: %s\n", dir, tn_strerror(rc));
		goto out;
	}
	while ((k = tn_journal_reader_next(r, UINT64_MAX, &rec)) == 1)
		if ((rc = journal_record(f, dec, &zone, &rec, rg, &events)) != 0) {
			fprintf(stderr, "tocsin: record: %s\n", tn_strerror(rc));
			goto out;
		}
	if (k < 0) {
		fprintf(stderr, "tocsin: record: journal %s at offset %" PRIu64 ": %s\n", dir,
			tn_journal_reader_offset(r), tn_strerror(k));
		rc = k;
		goto out;
	}
	fprintf(stderr, "tocsin: record: %" PRIu64 " events and ticks from the journal %s\n",
		events, dir);
out:
	tn_wire_decoder_free(dec);
	tn_journal_reader_close(r);
	msgpack_zone_destroy(&zone);
	return rc ? 1 : 0;
}

int tn__cmd_record(int argc, char **argv, const struct tn_cli *cli)
{
	const char *from = NULL, *to = NULL, *out = NULL, *db = NULL, *source = NULL, *pos[1];
	const char *journal = NULL;
	bool help = false;
	struct tn__opt opts[] = {
		{"from", TN_OPT_STR, &from, false}, {"to", TN_OPT_STR, &to, false},
		{"out", TN_OPT_STR, &out, false},   {"db", TN_OPT_STR, &db, false},
		{"source", TN_OPT_STR, &source, false}, {"help", TN_OPT_FLAG, &help, false},
		{"journal", TN_OPT_STR, &journal, false},
	};
	int64_t from_us = INT64_MIN, to_us = INT64_MAX;
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
	if ((!journal && (!from || !to)) || !out || (journal && (db || source))) {
		fprintf(stderr, "tocsin: record: expected --from, --to and -o FILE (or --journal DIR "
				"and -o FILE, without --db or --source)\n%s",
			usage_text);
		return 2;
	}
	if ((from && !time_ok(from, &from_us)) || (to && !time_ok(to, &to_us))) {
		fprintf(stderr, "tocsin: record: --%s: expected an RFC 3339 time like "
				"2026-08-14T16:00:00Z, got \"%.64s\"\n",
			!from || time_ok(from, &from_us) ? "to" : "from",
			!from || time_ok(from, &from_us) ? to : from);
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
	if (journal) {
		rc = export_journal(journal, (struct range){from_us, to_us}, f);
	} else if (!(c = tn__pg_connect(db ? db : cli->conninfo))) {
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
