/*
 * cmd_audit.c - `tocsin audit`: read the audit trail (design §7,
 * docs/security.md "The audit trail").
 *
 *   tocsin audit [--since T] [--until T] [--actor A] [--action X] [--limit N] [--json]
 *
 * Rows with since <= at < until, of one actor and one action (X, or every
 * action starting with X's text when X ends in '*': "adapter.*"), the newest
 * N (100 by default) printed oldest first: a table for people, or one JSON
 * object per line (--json) for programs. When more rows match than are
 * printed, stderr says so. T is an RFC 3339 time or an age before now
 * ("90s", "30m", "12h", "7d").
 *
 * The audit table holds what peers sent (keys, mechanisms, addresses,
 * operator names): the table escapes control characters, so a hostile
 * string cannot drive the operator's terminal; JSON is escaped by
 * PostgreSQL. Reading the trail needs tocsin_admin (consoles may not).
 *
 * It reads the view audit_trail (schema/009_keys.sql): the audit table and,
 * as action "ingest.rejected" (no seq: "-"), each refused event or frame
 * tocsind kept in `rejected`, so one query answers "what did adapter X have
 * refused, and from where".
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "duration.h"
#include "pg_util.h"
#include "sim_opt.h"
#include "tocsin/adapter.h"

#define LIMIT_DEFAULT 100
#define LIMIT_MAX     1000000
#define FILTER_MAX    256 /* bytes of --actor, --action */
#define COL_MAX       48  /* bytes shown of a table column but the last */

static const char usage_text[] =
	"usage: tocsin audit [--since T] [--until T] [--actor A] [--action X] [--limit N] [--json]\n"
	"  T: an RFC 3339 time (2026-08-14T16:00:00Z) or an age (90s, 30m, 12h, 7d)\n"
	"  --action X: exactly X, or every action starting with X's text if X ends in '*'\n"
	"  --limit N: the newest N matching rows (1 to 1000000; default 100), oldest first\n"
	"  --json: one JSON object per line instead of a table\n";

/* "30m" and the like (duration.h): seconds, or -1. */
static int64_t age_s(const char *s)
{
	int64_t v;
	return tn__duration_parse(s, &v) == 0 ? v : -1;
}

/* --since/--until: microseconds since the epoch, or false. */
static bool parse_when(const char *s, int64_t now_us, int64_t *us)
{
	int64_t a = age_s(s);

	if (a >= 0) {
		*us = now_us - a * 1000000;
		return true;
	}
	/* a date, not the milliseconds tn_adapter_parse_time also takes */
	return strlen(s) >= 5 && s[4] == '-' && tn_adapter_parse_time(s, us) == 0;
}

/* --`name` `s` (NULL: not given) into *us; false after printing why. */
static bool when_arg(const char *name, const char *s, int64_t now_us, int64_t *us)
{
	if (!s || parse_when(s, now_us, us))
		return true;
	fprintf(stderr,
		"tocsin: audit: --%s: expected an RFC 3339 time like 2026-08-14T16:00:00Z or an "
		"age like 30m, 12h, 7d, got \"%.64s\"\n",
		name, s);
	return false;
}

/* --actor/--action: printable, 1 to FILTER_MAX bytes. */
static bool filter_ok(const char *who, const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > FILTER_MAX) {
		fprintf(stderr, "tocsin: audit: --%s: expected 1 to %d bytes, got %zu\n", who,
			FILTER_MAX, n);
		return false;
	}
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f) {
			fprintf(stderr, "tocsin: audit: --%s: contains a control character\n", who);
			return false;
		}
	return true;
}

/*
 * s for a terminal: control characters as \xNN, at most `max` bytes shown
 * (then "..."), never cut inside a UTF-8 sequence. Returns the bytes written
 * to out (room for 4 * max + 4).
 */
static size_t cell(const char *s, size_t max, char *out)
{
	size_t o = 0, shown = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		bool ctl = *p < 0x20 || *p == 0x7f;
		size_t w = ctl ? 4 : 1;

		if ((*p & 0xC0) != 0x80 && shown + w > max) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (ctl)
			o += (size_t)sprintf(out + o, "\\x%02x", *p);
		else
			out[o++] = (char)*p;
		shown += w;
	}
	out[o] = '\0';
	return o;
}

/* Printed width of a cell: its bytes less UTF-8 continuation bytes. */
static size_t width(const char *s)
{
	size_t w = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		w += (*p & 0xC0) != 0x80;
	return w;
}

enum { C_SEQ, C_AT, C_ACTOR, C_ACTION, C_SUBJECT, C_ORIGIN, C_ROLE, C_DETAIL, N_COLS };

/* Rows n-1 down to 0 of r (newest first in r), under a header. */
static void print_table(const PGresult *r, int n)
{
	static const char *const head[N_COLS] = {"SEQ",     "AT",     "ACTOR",   "ACTION",
						 "SUBJECT", "ORIGIN", "DB ROLE", "DETAIL"};
	size_t w[N_COLS];
	char buf[4 * 4096 + 4];

	for (int c = 0; c < N_COLS; c++)
		w[c] = strlen(head[c]);
	for (int i = 0; i < n; i++)
		for (int c = 0; c < N_COLS - 1; c++) {
			cell(PQgetvalue(r, i, c), COL_MAX, buf);
			if (width(buf) > w[c])
				w[c] = width(buf);
		}
	for (int c = 0; c < N_COLS; c++)
		printf("%-*s%s", c < N_COLS - 1 ? (int)w[c] : 0, head[c], c < N_COLS - 1 ? "  " : "\n");
	for (int i = n - 1; i >= 0; i--)
		for (int c = 0; c < N_COLS; c++) {
			const char *v = PQgetvalue(r, i, c);
			cell(v, c < N_COLS - 1 ? COL_MAX : 4096, buf);
			if (c == N_COLS - 1) {
				printf("%s\n", buf);
				break;
			}
			/* pad by printed width, not bytes */
			printf("%s%*s  ", buf, (int)(w[c] - width(buf)), "");
		}
}

/* The newest `limit` + 1 rows (one more shows that more match), newest first. */
static const char query[] =
	"SELECT coalesce(seq::text, '-'), to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS at_s, "
	"       actor, action, coalesce(subject, ''), coalesce(origin, ''), db_role, "
	"       coalesce(detail::text, ''), "
	"       json_build_object('seq', seq, 'at', "
	"           to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
	"           'actor', actor, 'action', action, 'subject', subject, 'origin', origin, "
	"           'db_role', db_role, 'detail', detail)::text "
	"FROM audit_trail "
	"WHERE ($1::bigint IS NULL OR at >= timestamptz 'epoch' + $1::bigint * interval '1 us') "
	"  AND ($2::bigint IS NULL OR at < timestamptz 'epoch' + $2::bigint * interval '1 us') "
	"  AND ($3::text IS NULL OR actor = $3) "
	"  AND ($4::text IS NULL OR action = $4 "
	"       OR (right($4, 1) = '*' AND starts_with(action, left($4, -1)))) "
	"ORDER BY at DESC, seq DESC NULLS LAST LIMIT $5::bigint + 1";

static int run(PGconn *c, const char *const params[5], uint64_t limit, bool json)
{
	PGresult *r = tn__pg_exec(c, query, 5, params);
	int n;

	if (!tn__pg_ok(r)) {
		tn__pg_report("cannot read the audit trail", r);
		/* no table, or no db_role column: a schema before 007_roles.sql */
		if (strcmp(tn__pg_sqlstate(r), "42P01") == 0 ||
		    strcmp(tn__pg_sqlstate(r), "42703") == 0)
			fprintf(stderr, "  hint: run tocsin db migrate first\n");
		PQclear(r);
		return 1;
	}
	n = PQntuples(r);
	if ((uint64_t)n > limit) { /* rows come newest first: the extra one is the oldest */
		n--;
		fprintf(stderr,
			"tocsin: audit: showing the newest %d rows; more match (narrow with "
			"--since or --until, or raise --limit)\n",
			n);
	}
	if (n == 0) {
		if (!json)
			fprintf(stderr, "tocsin: audit: no rows match\n");
		PQclear(r);
		return 0;
	}
	/* the rows came newest first: print them oldest first */
	if (json)
		for (int i = n - 1; i >= 0; i--)
			printf("%s\n", PQgetvalue(r, i, N_COLS));
	else
		print_table(r, n);
	PQclear(r);
	return fflush(stdout) == 0 ? 0 : 1;
}

int tn__cmd_audit(int argc, char **argv, const struct tn_cli *cli)
{
	const char *since = NULL, *until = NULL, *actor = NULL, *action = NULL, *pos[1];
	uint64_t limit = LIMIT_DEFAULT;
	bool json = false, help = false;
	struct tn__opt opts[] = {
		{"since", TN_OPT_STR, &since, false},   {"until", TN_OPT_STR, &until, false},
		{"actor", TN_OPT_STR, &actor, false},   {"action", TN_OPT_STR, &action, false},
		{"limit", TN_OPT_U64, &limit, false},   {"json", TN_OPT_FLAG, &json, false},
		{"help", TN_OPT_FLAG, &help, false},
	};
	int64_t now = tn_adapter_now_us(), since_us = 0, until_us = 0;
	char p_since[24], p_until[24], p_limit[24];
	int n_pos, rc;
	PGconn *c;

	if (argc == 2 && strcmp(argv[1], "-h") == 0)
		help = true;
	else if (tn__opt_parse("audit", argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), pos,
			       0, &n_pos))
		return 2;
	if (help) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (!when_arg("since", since, now, &since_us) || !when_arg("until", until, now, &until_us))
		return 2;
	if (since && until && since_us >= until_us) {
		fprintf(stderr, "tocsin: audit: expected --since before --until\n");
		return 2;
	}
	if (limit < 1 || limit > LIMIT_MAX) {
		fprintf(stderr, "tocsin: audit: --limit: expected 1 to %d, got %" PRIu64 "\n",
			LIMIT_MAX, limit);
		return 2;
	}
	if ((actor && !filter_ok("actor", actor)) || (action && !filter_ok("action", action)))
		return 2;

	snprintf(p_since, sizeof p_since, "%" PRId64, since_us);
	snprintf(p_until, sizeof p_until, "%" PRId64, until_us);
	snprintf(p_limit, sizeof p_limit, "%" PRIu64, limit);
	const char *params[5] = {since ? p_since : NULL, until ? p_until : NULL, actor, action,
				 p_limit};
	if (!(c = tn__pg_connect(cli->conninfo)))
		return 1;
	rc = run(c, params, limit, json);
	PQfinish(c);
	return rc;
}
