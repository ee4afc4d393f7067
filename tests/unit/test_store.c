/*
 * test_store.c - the store thread (store.h) against a real PostgreSQL.
 *
 * The run creates its own database, tocsin_store_test_<pid>, on the cluster
 * named by TOCSIN_TEST_PG (a conninfo without dbname; default
 * "host=$PWD/var/pg/run port=5439 user=tocsin passfile=$PWD/var/pg/pass/tocsin",
 * the private cluster of `scripts/pg.sh start`), applies schema/NNN_*.sql to it (TOCSIN_SCHEMA_DIR, or
 * ./schema) and drops it at the end. Each test writes its own journal in a
 * mkdtemp directory and starts from empty tables. Every wait is bounded.
 */
#include "store.h"

#include <check.h>
#include <ck_pr.h>
#include <ftw.h>
#include <glob.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <limits.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "log.h"
#include "store_row.h"
#include "tocsin/error.h"
#include "wire.h"

#define T0_US   INT64_C(1795711920123456) /* 2026-11-26 16:52:00.123456 UTC */
#define WAIT_MS 20000                     /* bound of every wait for the store */
#define MAXREC  60000

static char base_conninfo[2 * PATH_MAX + 128];
static char db_name[64];
static char conninfo[2 * PATH_MAX + 256];
static const char *schema_dir = "schema";

static char tmp[64];
static char jdir[96];
static struct tn_journal *jw;
static uint64_t durable; /* what the test publishes as the journal's durable offset */
static PGconn *db;
static uint64_t offs[MAXREC]; /* offsets of the records a test appended */

/* ---- helpers -------------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "test_store: %s: %s\n", what, detail);
	exit(1);
}

static void exec_or_die(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		die(sql, PQresultErrorMessage(r));
	PQclear(r);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		die("cannot open", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		die("cannot read", path);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Suite fixture (runs once, in the runner): a fresh database with the schema. */
static void db_create(void)
{
	const char *env = getenv("TOCSIN_TEST_PG");
	char admin[2 * PATH_MAX + 256], cwd[PATH_MAX], sql[160], pattern[PATH_MAX + 16];
	PGconn *c;
	glob_t g;

	if (getenv("TOCSIN_SCHEMA_DIR"))
		schema_dir = getenv("TOCSIN_SCHEMA_DIR");
	if (env && *env) {
		snprintf(base_conninfo, sizeof base_conninfo, "%s", env);
	} else {
		if (!getcwd(cwd, sizeof cwd))
			die("getcwd", "failed");
		snprintf(base_conninfo, sizeof base_conninfo,
			 "host=%s/var/pg/run port=5439 user=tocsin passfile=%s/var/pg/pass/tocsin",
			 cwd, cwd);
	}
	snprintf(db_name, sizeof db_name, "tocsin_store_test_%d", (int)getpid());
	snprintf(admin, sizeof admin, "%s dbname=postgres", base_conninfo);
	snprintf(conninfo, sizeof conninfo, "%s dbname=%s", base_conninfo, db_name);

	c = PQconnectdb(admin);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr,
			"test_store: cannot reach PostgreSQL with \"%s\": %s"
			"start it with scripts/pg.sh start, or set TOCSIN_TEST_PG\n",
			admin, PQerrorMessage(c));
		exit(1);
	}
	snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db_name);
	exec_or_die(c, sql);
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", db_name);
	exec_or_die(c, sql);
	PQfinish(c);

	c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK)
		die("connect to the test database", PQerrorMessage(c));
	exec_or_die(c, "SET client_min_messages = warning");
	snprintf(pattern, sizeof pattern, "%s/*.sql", schema_dir);
	if (glob(pattern, 0, NULL, &g) != 0 || g.gl_pathc == 0)
		die("no schema files", pattern);
	for (size_t i = 0; i < g.gl_pathc; i++) { /* glob sorts: 001_, 002_, ... */
		const char *base = strrchr(g.gl_pathv[i], '/');
		/* after 007_roles.sql, as `tocsin db migrate` does: as the schema's owner */
		int as_owner = strtol(base ? base + 1 : g.gl_pathv[i], NULL, 10) > 7;
		char *text = read_file(g.gl_pathv[i]);

		if (as_owner)
			exec_or_die(c, "SET ROLE tocsin_owner");
		exec_or_die(c, text);
		if (as_owner)
			exec_or_die(c, "RESET ROLE");
		free(text);
	}
	globfree(&g);
	PQfinish(c);
}

static void db_drop(void)
{
	char admin[2 * PATH_MAX + 256], sql[160];
	PGconn *c;

	snprintf(admin, sizeof admin, "%s dbname=postgres", base_conninfo);
	c = PQconnectdb(admin);
	if (PQstatus(c) == CONNECTION_OK) {
		snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db_name);
		exec_or_die(c, sql);
	}
	PQfinish(c);
}

static void jopen(uint64_t segment_bytes)
{
	struct tn_journal_opts o = {.dir = jdir, .segment_bytes = segment_bytes};
	ck_assert_int_eq(tn_journal_open(&o, &jw), 0);
}

static void setup(void)
{
	strcpy(tmp, "/tmp/tn_store_XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	snprintf(jdir, sizeof jdir, "%s/j", tmp);
	jopen(1 << 20);
	ck_pr_store_64(&durable, 0);
	db = PQconnectdb(conninfo);
	ck_assert_int_eq(PQstatus(db), CONNECTION_OK);
	/* as the owner: the audit table is append-only for everyone else (007_roles.sql) */
	exec_or_die(db, "SET ROLE tocsin_owner; "
			"TRUNCATE events, rejected, audit, incident_revisions, incident_heads "
			"RESTART IDENTITY; "
			"UPDATE store_progress SET journal_offset = 0 WHERE stream = 'journal'; "
			"RESET ROLE");
}

static void teardown(void)
{
	PQfinish(db);
	tn_journal_close(jw);
	jw = NULL;
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* One value of a one-row query, copied to out ("<null>" for NULL). */
static const char *q1(const char *sql, char *out, size_t n)
{
	PGresult *r = PQexec(db, sql);
	ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql, PQresultErrorMessage(r));
	ck_assert_int_eq(PQntuples(r), 1);
	snprintf(out, n, "%s", PQgetisnull(r, 0, 0) ? "<null>" : PQgetvalue(r, 0, 0));
	PQclear(r);
	return out;
}

static long long qint(const char *sql)
{
	char v[64];
	return strtoll(q1(sql, v, sizeof v), NULL, 10);
}

static uint64_t progress(void)
{
	return (uint64_t)qint("SELECT journal_offset FROM store_progress WHERE stream = 'journal'");
}

static void pack_str(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str(pk, strlen(s));
	msgpack_pack_str_body(pk, s, strlen(s));
}

static uint64_t append_raw(uint8_t type, const void *p, size_t n)
{
	uint64_t off;
	ck_assert_int_eq(tn_journal_append(jw, type, p, (uint32_t)n, &off), 0);
	return off;
}

/* An EVENT record: [recv_us, adapter, event map]. Its payload goes to sb when given. */
static uint64_t append_event_sb(const struct tn_event *ev, int64_t recv_us, const char *adapter,
				msgpack_sbuffer *keep)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint64_t off;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 3);
	msgpack_pack_int64(&pk, recv_us);
	pack_str(&pk, adapter);
	ck_assert_int_eq(tn_wire_pack_event(&pk, ev), 0);
	off = append_raw(TN_JREC_EVENT, sb.data, sb.size);
	if (keep)
		*keep = sb;
	else
		msgpack_sbuffer_destroy(&sb);
	return off;
}

static uint64_t append_event(const struct tn_event *ev, int64_t recv_us, const char *adapter)
{
	return append_event_sb(ev, recv_us, adapter, NULL);
}

static uint64_t append_tick(int64_t clock_us)
{
	char buf[16];
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint64_t off;

	(void)buf;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 1);
	msgpack_pack_int64(&pk, clock_us);
	off = append_raw(TN_JREC_TICK, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return off;
}

static uint64_t append_audit(int64_t at_us, const char *actor, const char *action,
			     const char *subject, const char *origin, bool detail)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint64_t off;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 6);
	msgpack_pack_int64(&pk, at_us);
	pack_str(&pk, actor);
	pack_str(&pk, action);
	if (subject)
		pack_str(&pk, subject);
	else
		msgpack_pack_nil(&pk);
	if (origin)
		pack_str(&pk, origin);
	else
		msgpack_pack_nil(&pk);
	if (detail) {
		msgpack_pack_map(&pk, 4);
		pack_str(&pk, "reason");
		pack_str(&pk, "revoked \"key\"\t\\");
		pack_str(&pk, "count");
		msgpack_pack_int(&pk, 3);
		pack_str(&pk, "ok");
		msgpack_pack_false(&pk);
		pack_str(&pk, "nested");
		msgpack_pack_map(&pk, 1);
		pack_str(&pk, "a");
		msgpack_pack_array(&pk, 3);
		msgpack_pack_int(&pk, 1);
		msgpack_pack_double(&pk, 2.5);
		msgpack_pack_nil(&pk);
	} else {
		msgpack_pack_nil(&pk);
	}
	off = append_raw(TN_JREC_AUDIT, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return off;
}

static void publish(void)
{
	ck_assert_int_eq(tn_journal_sync(jw), 0);
	ck_pr_store_64(&durable, tn_journal_durable(jw));
}

static struct tn_store *start_store_linger(const char *ci, int batch, int retry_ms,
					   int linger_ms)
{
	struct tn_store_opts o = {
		.conninfo = ci,
		.journal_dir = jdir,
		.batch = batch,
		.retry_ms = retry_ms,
		.linger_ms = linger_ms,
		.durable = &durable,
	};
	struct tn_store *s = NULL;
	ck_assert_int_eq(tn_store_start(&o, &s), 0);
	ck_assert_ptr_nonnull(s);
	return s;
}

/* linger_ms 0: the store looks for new records every 2 ms, as before linger. */
static struct tn_store *start_store(const char *ci, int batch, int retry_ms)
{
	return start_store_linger(ci, batch, retry_ms, 0);
}

static bool wait_committed(struct tn_store *s, uint64_t target, int ms)
{
	int64_t until = now_ms() + ms;
	while (tn_store_committed(s) != target) {
		if (now_ms() > until)
			return false;
		sleep_ms(2);
	}
	return true;
}

/* Test event i: every field varies with i; heartbeats every 5th. */
struct gen {
	char id[32], asset[32], summary[64], feeder[32];
	struct tn_attr attrs[4];
	struct tn_event ev;
};

static void mk_event(unsigned i, struct gen *g)
{
	snprintf(g->id, sizeof g->id, "ev-%u", i);
	snprintf(g->asset, sizeof g->asset, "sub-%u", i % 17);
	snprintf(g->summary, sizeof g->summary, "summary %u", i);
	snprintf(g->feeder, sizeof g->feeder, "F-%u", i);
	g->ev = (struct tn_event){
		.id = g->id,
		.source = "ukpn/scada/east",
		.type = (enum tn_event_type)(i % 4),
		.time_us = T0_US + (int64_t)i * 1000003,
		.sector = (enum tn_sector)(i % TN_SECTOR__COUNT),
		.asset = g->asset,
		.severity = (int)(i % 6),
		.summary = i % 3 ? g->summary : NULL,
	};
	if (i % 5 == 4) {
		g->ev.type = TN_EV_HEARTBEAT;
		g->ev.sector = TN_SECTOR_NONE;
		g->ev.asset = NULL;
	}
	if (i % 2) {
		g->ev.has_geo = true;
		g->ev.lat = 51.5 + i * 1e-4;
		g->ev.lon = -0.12 - i * 1e-4;
	}
	if (i % 4 == 1) {
		g->attrs[0] =
			(struct tn_attr){.key = "feeder", .kind = TN_ATTR_STR, .v.s = g->feeder};
		g->attrs[1] =
			(struct tn_attr){.key = "load_kw", .kind = TN_ATTR_INT, .v.i = i * 10};
		g->attrs[2] = (struct tn_attr){
			.key = "pf", .kind = TN_ATTR_FLOAT, .v.f = (double)(i % 1000) / 8 + 0.5};
		g->attrs[3] =
			(struct tn_attr){.key = "tripped", .kind = TN_ATTR_BOOL, .v.b = i % 8 == 1};
		g->ev.attrs = g->attrs;
		g->ev.n_attrs = 4;
	}
}

static uint64_t append_gen(unsigned i)
{
	struct gen g;
	mk_event(i, &g);
	return append_event(&g.ev, T0_US + 5000000 + i, i % 2 ? "ukpn" : "thames");
}

/* Check every stored event against mk_event(i) for the i in [0, n). */
static void check_events(unsigned n)
{
	PGresult *r = PQexec(
		db, "SELECT journal_offset, source, id, adapter, type, sector, asset, severity, "
		    "(extract(epoch FROM time) * 1000000)::bigint, "
		    "(extract(epoch FROM received) * 1000000)::bigint, summary, lat, lon, "
		    "attrs->>'feeder', attrs->>'load_kw', attrs->>'pf', attrs->>'tripped', "
		    "(SELECT count(*) FROM jsonb_object_keys(attrs)), attrs IS NULL "
		    "FROM events ORDER BY journal_offset");

	ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
	ck_assert_int_eq(PQntuples(r), (int)n);
	for (unsigned i = 0; i < n; i++) {
		struct gen g;
		char want[64];
		int sev;

		mk_event(i, &g);
		ck_assert_uint_eq(strtoull(PQgetvalue(r, (int)i, 0), NULL, 10), offs[i]);
		ck_assert_str_eq(PQgetvalue(r, (int)i, 1), "ukpn/scada/east");
		ck_assert_str_eq(PQgetvalue(r, (int)i, 2), g.id);
		ck_assert_str_eq(PQgetvalue(r, (int)i, 3), i % 2 ? "ukpn" : "thames");
		ck_assert_str_eq(PQgetvalue(r, (int)i, 4), tn_event_type_name(g.ev.type));
		if (g.ev.sector == TN_SECTOR_NONE)
			ck_assert(PQgetisnull(r, (int)i, 5));
		else
			ck_assert_str_eq(PQgetvalue(r, (int)i, 5), tn_sector_name(g.ev.sector));
		if (g.ev.asset)
			ck_assert_str_eq(PQgetvalue(r, (int)i, 6), g.ev.asset);
		else
			ck_assert(PQgetisnull(r, (int)i, 6));
		sev = g.ev.severity ? g.ev.severity : tn_event_default_severity(g.ev.type);
		ck_assert_int_eq(atoi(PQgetvalue(r, (int)i, 7)), sev);
		ck_assert_int_eq(strtoll(PQgetvalue(r, (int)i, 8), NULL, 10), g.ev.time_us);
		ck_assert_int_eq(strtoll(PQgetvalue(r, (int)i, 9), NULL, 10), T0_US + 5000000 + i);
		if (g.ev.summary)
			ck_assert_str_eq(PQgetvalue(r, (int)i, 10), g.ev.summary);
		else
			ck_assert(PQgetisnull(r, (int)i, 10));
		if (g.ev.has_geo) {
			ck_assert(strtod(PQgetvalue(r, (int)i, 11), NULL) == g.ev.lat);
			ck_assert(strtod(PQgetvalue(r, (int)i, 12), NULL) == g.ev.lon);
		} else {
			ck_assert(PQgetisnull(r, (int)i, 11) && PQgetisnull(r, (int)i, 12));
		}
		if (g.ev.n_attrs) {
			ck_assert_str_eq(PQgetvalue(r, (int)i, 13), g.feeder);
			snprintf(want, sizeof want, "%u", i * 10);
			ck_assert_str_eq(PQgetvalue(r, (int)i, 14), want);
			ck_assert(strtod(PQgetvalue(r, (int)i, 15), NULL) == g.attrs[2].v.f);
			ck_assert_str_eq(PQgetvalue(r, (int)i, 16), i % 8 == 1 ? "true" : "false");
			ck_assert_str_eq(PQgetvalue(r, (int)i, 17), "4");
		} else {
			ck_assert_str_eq(PQgetvalue(r, (int)i, 18), "t");
		}
	}
	PQclear(r);
}

/* ---- formatting, without PostgreSQL ---------------------------------------- */

static const char *copy_of(const char *s, size_t len)
{
	static struct tn__buf b;
	b.len = 0;
	tn__copy_text(&b, s, len);
	ck_assert(!b.oom);
	tn__copy_text(&b, "", 1); /* a NUL to end it: written as U+FFFD, so add our own */
	b.len -= 3;
	b.p[b.len] = '\0';
	return b.p;
}

START_TEST(test_format)
{
	static struct tn__buf j;
	char t[TN__STORE_TIME_LEN], d[32];

	ck_assert_str_eq(copy_of("a\tb\nc\rd\\e", 9), "a\\tb\\nc\\rd\\\\e");
	/* NUL, a lone continuation byte, an overlong '/', a surrogate, past U+10FFFF,
	 * a truncated sequence: each becomes U+FFFD; valid sequences stay. */
	ck_assert_str_eq(copy_of("x\0y", 3), "x\xEF\xBF\xBDy");
	ck_assert_str_eq(copy_of("\x80", 1), "\xEF\xBF\xBD");
	ck_assert_str_eq(copy_of("\xC0\xAF", 2), "\xEF\xBF\xBD\xEF\xBF\xBD");
	ck_assert_str_eq(copy_of("\xED\xA0\x80", 3), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
	ck_assert_str_eq(copy_of("\xF4\x90\x80\x80", 4),
			 "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
	ck_assert_str_eq(copy_of("\xE6\x97", 2), "\xEF\xBF\xBD\xEF\xBF\xBD");
	ck_assert_str_eq(copy_of("\xC3\xA9\xE6\x97\xA5\xF0\x9F\x9A\xA8", 9),
			 "\xC3\xA9\xE6\x97\xA5\xF0\x9F\x9A\xA8");

	tn__json_str(&j, "q\"b\\t\tn\n\x01\x7f\0z", 12);
	ck_assert(!j.oom);
	ck_assert_int_eq((int)j.len, (int)strlen("\"q\\\"b\\\\t\\tn\\n\\u0001\x7f\\ufffdz\""));
	ck_assert_mem_eq(j.p, "\"q\\\"b\\\\t\\tn\\n\\u0001\x7f\\ufffdz\"", j.len);
	tn__buf_free(&j);

	ck_assert_int_eq(tn__store_fmt_time(t, T0_US), 29);
	ck_assert_str_eq(t, "2026-11-26 16:52:00.123456+00");
	ck_assert_int_eq(tn__store_fmt_time(t, -1), 29);
	ck_assert_str_eq(t, "1969-12-31 23:59:59.999999+00");
	ck_assert_int_eq(tn__store_fmt_time(t, INT64_C(-62135596800) * 1000000), 29);
	ck_assert_str_eq(t, "0001-01-01 00:00:00.000000+00");
	ck_assert_int_eq(tn__store_fmt_time(t, INT64_C(253402300799) * 1000000 + 999999), 29);
	ck_assert_str_eq(t, "9999-12-31 23:59:59.999999+00");
	ck_assert_int_eq(tn__store_fmt_time(t, INT64_C(253402300800) * 1000000), TN_ERANGE);
	ck_assert_int_eq(tn__store_fmt_time(t, INT64_MIN), TN_ERANGE);

	tn__store_fmt_double(d, 0.1);
	ck_assert_str_eq(d, "0.1");
	tn__store_fmt_double(d, 1.0 / 3);
	ck_assert(strtod(d, NULL) == 1.0 / 3);
	tn__store_fmt_double(d, 5e-324);
	ck_assert(strtod(d, NULL) == 5e-324);
	tn__store_fmt_double(d, -1.7976931348623157e308);
	ck_assert(strtod(d, NULL) == -1.7976931348623157e308);
}
END_TEST

/* ---- against PostgreSQL ------------------------------------------------------ */

START_TEST(test_events_stored)
{
	const unsigned n = 1000;
	struct tn_store_stats st;
	struct tn_store *s;
	char v[64];

	for (unsigned i = 0; i < n; i++)
		offs[i] = append_gen(i);
	publish();
	s = start_store(conninfo, 128, 50);
	ck_assert(wait_committed(s, tn_journal_end(jw), WAIT_MS));
	tn_store_stats(s, &st);
	ck_assert_uint_eq(st.committed_offset, tn_journal_end(jw));
	ck_assert_uint_eq(st.events_stored, n);
	ck_assert_uint_eq(st.rejected_stored, 0);
	ck_assert_uint_ge(st.transactions, n / 128);
	ck_assert_uint_eq(st.failures, 0);
	ck_assert(st.connected);
	ck_assert_int_gt(st.last_commit_us, 0);
	ck_assert_int_eq(tn_store_stop(s, 5000), 0);

	ck_assert_uint_eq(progress(), tn_journal_end(jw));
	check_events(n);
	/* The literal form of one time, and the attrs of one event. */
	ck_assert_str_eq(q1("SELECT time = '2026-11-26 16:52:00.123456+00' FROM events "
			    "WHERE id = 'ev-0'",
			    v, sizeof v),
			 "t");
	ck_assert_str_eq(
		q1("SELECT attrs = '{\"feeder\": \"F-1\", \"load_kw\": 10, "
		   "\"pf\": 0.625, \"tripped\": true}'::jsonb FROM events WHERE id = 'ev-1'",
		   v, sizeof v),
		"t");
}
END_TEST

START_TEST(test_durable_limit)
{
	struct tn_store *s;

	for (unsigned i = 0; i < 10; i++)
		offs[i] = append_gen(i);
	offs[10] = tn_journal_end(jw);
	ck_assert_int_eq(tn_journal_sync(jw), 0);
	/* Only the first five are published as durable. */
	ck_pr_store_64(&durable, offs[5]);
	s = start_store(conninfo, 100, 50);
	ck_assert(wait_committed(s, offs[5], WAIT_MS));
	sleep_ms(200);
	ck_assert_uint_eq(tn_store_committed(s), offs[5]);
	ck_assert_int_eq(qint("SELECT count(*) FROM events"), 5);
	ck_assert_int_eq(qint("SELECT max(journal_offset) FROM events"), (long long)offs[4]);
	ck_assert_uint_eq(progress(), offs[5]);

	ck_pr_store_64(&durable, offs[10]);
	ck_assert(wait_committed(s, offs[10], WAIT_MS));
	ck_assert_int_eq(tn_store_stop(s, 5000), 0);
	ck_assert_int_eq(qint("SELECT count(*) FROM events"), 10);
	check_events(10);
}
END_TEST

START_TEST(test_duplicates)
{
	struct tn_store_stats st;
	struct tn_store *s;
	struct gen a, b;
	char v[64];
	uint64_t first;

	mk_event(1, &a);
	mk_event(2, &b);
	first = append_event(&a.ev, T0_US, "ukpn");
	append_event(&b.ev, T0_US, "ukpn");
	a.ev.summary = "second copy";
	append_event(&a.ev, T0_US, "ukpn"); /* same batch */
	publish();
	s = start_store(conninfo, 100, 50);
	ck_assert(wait_committed(s, tn_journal_end(jw), WAIT_MS));
	append_event(&a.ev, T0_US, "ukpn"); /* a later batch */
	append_event(&b.ev, T0_US, "ukpn");
	publish();
	ck_assert(wait_committed(s, tn_journal_end(jw), WAIT_MS));
	/* Fresh events after the duplicates: stored as usual. */
	for (unsigned i = 10; i < 20; i++)
		append_gen(i);
	publish();
	ck_assert(wait_committed(s, tn_journal_end(jw), WAIT_MS));
	for (unsigned i = 20; i < 30; i++)
		append_gen(i);
	publish();
	ck_assert(wait_committed(s, tn_journal_end(jw), WAIT_MS));
	tn_store_stats(s, &st);
	ck_assert_int_eq(tn_store_stop(s, 5000), 0);

	ck_assert_uint_eq(st.events_stored, 22);
	ck_assert_uint_eq(st.failures, 0);
	ck_assert_int_eq(qint("SELECT count(*) FROM events"), 22);
	/* The first copy wins. */
	ck_assert_int_eq(qint("SELECT journal_offset FROM events WHERE id = 'ev-1'"),
			 (long long)first);
	ck_assert_str_eq(q1("SELECT summary FROM events WHERE id = 'ev-1'", v, sizeof v),
			 "summary 1");
	ck_assert_uint_eq(progress(), tn_journal_end(jw));
}
END_TEST

START_TEST(test_reject_audit_tick_corrupt)
{
	static unsigned char raw1[] = {0x00, 0xff, '\\', '\t', '\n', 0x80, 'x'};
	static unsigned char raw2[4096];
	struct tn_store_stats st;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct tn_store *s;
	uint64_t r1, r2, bad[4], a1;
	char v[256];
	PGresult *r;

	for (size_t i = 0; i < sizeof raw2; i++)
		raw2[i] = (unsigned char)(i * 7);

	/* REJECT: [recv_us, adapter|nil, code, msg, item|nil, event_id|nil, raw, truncated] */
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 8);
	msgpack_pack_int64(&pk, T0_US);
	pack_str(&pk, "adapter-a");
	pack_str(&pk, "E_SCHEMA");
	pack_str(&pk, "severity: expected an integer 1..5, got 9");
	msgpack_pack_int(&pk, 3);
	pack_str(&pk, "ev-x");
	msgpack_pack_bin(&pk, sizeof raw1);
	msgpack_pack_bin_body(&pk, raw1, sizeof raw1);
	msgpack_pack_false(&pk);
	r1 = append_raw(TN_JREC_REJECT, sb.data, sb.size);
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_array(&pk, 8);
	msgpack_pack_int64(&pk, T0_US + 1);
	msgpack_pack_nil(&pk);
	pack_str(&pk, "E_DECODE");
	pack_str(&pk, "not \xff valid"); /* not UTF-8: stored with U+FFFD */
	msgpack_pack_nil(&pk);
	msgpack_pack_nil(&pk);
	msgpack_pack_bin(&pk, sizeof raw2);
	msgpack_pack_bin_body(&pk, raw2, sizeof raw2);
	msgpack_pack_true(&pk);
	r2 = append_raw(TN_JREC_REJECT, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);

	append_tick(T0_US);
	a1 = append_audit(T0_US + 7, "ingest", "key.refused", "adapter:abc", "tcp://127.0.0.1:5555",
			  true);
	append_audit(T0_US + 8, "control", "ack", NULL, NULL, false);

	/* Records that do not decode: each lands in rejected as E_CORRUPT. */
	bad[0] = append_raw(TN_JREC_EVENT, "\xc1", 1);
	bad[1] = append_raw(TN_JREC_EVENT, "\x92\x01\x02", 3); /* [1, 2] */
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 3);
	msgpack_pack_int64(&pk, T0_US);
	pack_str(&pk, "ukpn");
	msgpack_pack_map(&pk, 1);
	pack_str(&pk, "source");
	pack_str(&pk, "s");
	bad[2] = append_raw(TN_JREC_EVENT, sb.data, sb.size); /* no id */
	msgpack_sbuffer_destroy(&sb);
	bad[3] = append_raw(9, "hello", 5); /* a type this store does not know */
	offs[0] = append_gen(0);
	append_tick(T0_US + 1000);
	publish();

	s = start_store(conninfo, 100, 50);
	ck_assert(wait_committed(s, tn_journal_end(jw), WAIT_MS));
	tn_store_stats(s, &st);
	ck_assert_int_eq(tn_store_stop(s, 5000), 0);
	ck_assert_uint_eq(st.events_stored, 1);
	ck_assert_uint_eq(st.rejected_stored, 6);
	ck_assert_uint_eq(st.audit_stored, 2);
	ck_assert_uint_eq(st.corrupt_records, 4);
	ck_assert_uint_eq(progress(), tn_journal_end(jw));
	check_events(1);

	r = PQexec(db, "SELECT journal_offset, (extract(epoch FROM received) * 1000000)::bigint, "
		       "adapter, code, msg, item, event_id, encode(raw, 'hex'), raw_truncated "
		       "FROM rejected ORDER BY journal_offset");
	ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
	ck_assert_int_eq(PQntuples(r), 6);
	ck_assert_uint_eq(strtoull(PQgetvalue(r, 0, 0), NULL, 10), r1);
	ck_assert_int_eq(strtoll(PQgetvalue(r, 0, 1), NULL, 10), T0_US);
	ck_assert_str_eq(PQgetvalue(r, 0, 2), "adapter-a");
	ck_assert_str_eq(PQgetvalue(r, 0, 3), "E_SCHEMA");
	ck_assert_str_eq(PQgetvalue(r, 0, 4), "severity: expected an integer 1..5, got 9");
	ck_assert_str_eq(PQgetvalue(r, 0, 5), "3");
	ck_assert_str_eq(PQgetvalue(r, 0, 6), "ev-x");
	ck_assert_str_eq(PQgetvalue(r, 0, 7), "00ff5c090a8078");
	ck_assert_str_eq(PQgetvalue(r, 0, 8), "f");
	ck_assert_uint_eq(strtoull(PQgetvalue(r, 1, 0), NULL, 10), r2);
	ck_assert(PQgetisnull(r, 1, 2));
	ck_assert_str_eq(PQgetvalue(r, 1, 4), "not \xEF\xBF\xBD valid");
	ck_assert(PQgetisnull(r, 1, 5) && PQgetisnull(r, 1, 6));
	ck_assert_int_eq((int)strlen(PQgetvalue(r, 1, 7)), 2 * (int)sizeof raw2);
	ck_assert_str_eq(PQgetvalue(r, 1, 8), "t");
	for (int i = 0; i < 4; i++) {
		ck_assert_uint_eq(strtoull(PQgetvalue(r, 2 + i, 0), NULL, 10), bad[i]);
		ck_assert_str_eq(PQgetvalue(r, 2 + i, 3), "E_CORRUPT");
		ck_assert_str_eq(PQgetvalue(r, 2 + i, 8), "f");
		ck_assert(PQgetisnull(r, 2 + i, 2));
	}
	ck_assert_str_eq(PQgetvalue(r, 2, 7), "c1");
	ck_assert_str_eq(PQgetvalue(r, 3, 7), "920102");
	ck_assert_str_eq(PQgetvalue(r, 5, 7), "68656c6c6f");
	ck_assert_ptr_nonnull(strstr(PQgetvalue(r, 4, 4), "id"));
	ck_assert_ptr_nonnull(strstr(PQgetvalue(r, 5, 4), "unknown record type"));
	PQclear(r);
	(void)a1;

	r = PQexec(db, "SELECT (extract(epoch FROM at) * 1000000)::bigint, actor, action, subject, "
		       "origin, detail->>'reason', detail->>'count', detail->>'ok', "
		       "detail->'nested'->'a'->>1, jsonb_typeof(detail->'nested'->'a'->2), "
		       "detail IS NULL FROM audit ORDER BY seq");
	ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
	ck_assert_int_eq(PQntuples(r), 2);
	ck_assert_int_eq(strtoll(PQgetvalue(r, 0, 0), NULL, 10), T0_US + 7);
	ck_assert_str_eq(PQgetvalue(r, 0, 1), "ingest");
	ck_assert_str_eq(PQgetvalue(r, 0, 2), "key.refused");
	ck_assert_str_eq(PQgetvalue(r, 0, 3), "adapter:abc");
	ck_assert_str_eq(PQgetvalue(r, 0, 4), "tcp://127.0.0.1:5555");
	ck_assert_str_eq(PQgetvalue(r, 0, 5), "revoked \"key\"\t\\");
	ck_assert_str_eq(PQgetvalue(r, 0, 6), "3");
	ck_assert_str_eq(PQgetvalue(r, 0, 7), "false");
	ck_assert_str_eq(PQgetvalue(r, 0, 8), "2.5");
	ck_assert_str_eq(PQgetvalue(r, 0, 9), "null");
	ck_assert_str_eq(PQgetvalue(r, 1, 1), "control");
	ck_assert(PQgetisnull(r, 1, 3) && PQgetisnull(r, 1, 4));
	ck_assert_str_eq(PQgetvalue(r, 1, 10), "t");
	PQclear(r);
	(void)v;
}
END_TEST

/* CHANGE: [stream, incident, rev, msg, priority, area, updated_us, body] */
static uint64_t append_change(const char *incident, int rev, const char *msg, int priority,
			      const char *body)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint64_t off;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 8);
	pack_str(&pk, "live");
	pack_str(&pk, incident);
	msgpack_pack_int(&pk, rev);
	pack_str(&pk, msg);
	msgpack_pack_int(&pk, priority);
	pack_str(&pk, "ALD-E");
	msgpack_pack_int64(&pk, T0_US + rev);
	pack_str(&pk, body);
	off = append_raw(TN_JREC_CHANGE, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return off;
}

START_TEST(test_incident_revisions)
{
	/* Two revisions of one incident: the second adds a member with its path. */
	static const char rev1[] =
		"{\"incident\":\"INC-00000000000000a1\",\"rev\":1,\"msg\":\"alert\","
		"\"status\":\"actual\",\"priority\":3,\"title\":\"Sub 1 \\\"down\\\"\\t\","
		"\"cause\":\"observed\",\"root\":{\"asset\":\"SUB-1\"},"
		"\"opened\":\"2026-11-26T16:52:00.000Z\",\"affected\":[{\"asset\":\"SUB-1\","
		"\"sector\":\"energy\",\"state\":\"down\",\"time\":\"2026-11-26T16:52:00.000Z\","
		"\"event\":{\"source\":\"s\",\"id\":\"1\"},\"late\":false}],\"explain\":[]}";
	static const char rev2[] =
		"{\"incident\":\"INC-00000000000000a1\",\"rev\":2,\"msg\":\"update\","
		"\"status\":\"actual\",\"priority\":2,\"title\":\"Sub 1 and a pump\","
		"\"cause\":\"observed\",\"root\":{\"asset\":\"SUB-1\"},"
		"\"opened\":\"2026-11-26T16:52:00.000Z\",\"affected\":[{\"asset\":\"SUB-1\","
		"\"sector\":\"energy\",\"state\":\"down\",\"time\":\"2026-11-26T16:52:00.000Z\","
		"\"event\":{\"source\":\"s\",\"id\":\"1\"},\"late\":false},{\"asset\":\"PS-1\","
		"\"sector\":\"water\",\"state\":\"down\",\"time\":\"2026-11-26T16:52:40.000Z\","
		"\"event\":{\"source\":\"w\",\"id\":\"2\"},\"late\":true}],\"explain\":"
		"[{\"asset\":\"PS-1\",\"path\":[\"SUB-1\",\"PS-1\"],\"window\":"
		"[\"2026-11-26T16:52:00.000Z\",\"2026-11-26T16:53:30.000Z\"],\"rule\":\"cascade\"}]}";
	/* A member's time PostgreSQL cannot read: refused when stored (schema/010),
	 * before the views incidents and incident_members could meet it. */
	static const char bad_time[] =
		"{\"incident\":\"INC-00000000000000a3\",\"rev\":1,\"msg\":\"alert\","
		"\"status\":\"actual\",\"priority\":3,\"title\":\"t\",\"cause\":\"observed\","
		"\"root\":{\"asset\":\"SUB-3\"},\"opened\":\"2026-11-26T16:52:00.000Z\","
		"\"affected\":[{\"asset\":\"SUB-3\",\"sector\":\"energy\",\"state\":\"down\","
		"\"time\":\"not a time\",\"event\":{\"source\":\"s\",\"id\":\"3\"},"
		"\"late\":false}],\"explain\":[]}";
	struct tn_store_stats st;
	struct tn_store *s;
	char v[256];

	uint64_t o1 = append_change("INC-00000000000000a1", 1, "alert", 3, rev1);
	uint64_t o2 = append_change("INC-00000000000000a1", 2, "update", 2, rev2);
	append_change("INC-00000000000000a2", 1, "alert", 9, rev1); /* priority 9: E_CORRUPT */
	append_change("INC-00000000000000a3", 1, "alert", 3, bad_time); /* E_CORRUPT */
	publish();

	s = start_store(conninfo, 100, 50);
	ck_assert(wait_committed(s, tn_journal_end(jw), WAIT_MS));
	tn_store_stats(s, &st);
	ck_assert_int_eq(tn_store_stop(s, 5000), 0);
	ck_assert_uint_eq(st.corrupt_records, 2);
	ck_assert_int_eq(qint("SELECT count(*) FROM rejected WHERE code = 'E_CORRUPT' AND "
			      "msg LIKE '%not a time%'"),
			 1);

	ck_assert_int_eq(qint("SELECT count(*) FROM incident_revisions"), 2);
	snprintf(v, sizeof v, "SELECT rev FROM incident_revisions WHERE journal_offset = %llu",
		 (unsigned long long)o2);
	ck_assert_int_eq(qint(v), 2);
	snprintf(v, sizeof v, "SELECT rev FROM incident_revisions WHERE journal_offset = %llu",
		 (unsigned long long)o1);
	ck_assert_int_eq(qint(v), 1);
	/* The current state is the newest revision... */
	ck_assert_str_eq(q1("SELECT rev || ' ' || msg || ' ' || priority || ' ' || root_asset "
			    "FROM incidents WHERE incident = 'INC-00000000000000a1'",
			    v, sizeof v),
			 "2 update 2 SUB-1");
	/* ...with its members, and the path and window that linked each. */
	ck_assert_int_eq(qint("SELECT count(*) FROM incident_members"), 2);
	ck_assert_str_eq(q1("SELECT array_to_string(path, '>') || ' ' || rule || ' ' || late "
			    "FROM incident_members WHERE asset = 'PS-1'",
			    v, sizeof v),
			 "SUB-1>PS-1 cascade true");
	/* Escapes inside the JSON body survive COPY. */
	ck_assert_str_eq(q1("SELECT body->>'title' FROM incident_revisions WHERE rev = 1", v,
			    sizeof v),
			 "Sub 1 \"down\"\t");
}
END_TEST

/* A revision's body naming its members (assets, space-separated); the
 * event of each entry is <asset>-<rev>-<position>. */
static const char *rev_body(char *out, size_t n, const char *incident, int rev,
			    const char *assets)
{
	char list[512] = "", a[64];
	size_t k = 0;
	unsigned i = 0;

	for (const char *p = assets; *p;) {
		size_t len = strcspn(p, " ");
		snprintf(a, sizeof a, "%.*s", (int)len, p);
		k += (size_t)snprintf(list + k, sizeof list - k,
				      "%s{\"asset\":\"%s\",\"sector\":\"energy\","
				      "\"state\":\"down\",\"time\":\"2026-11-26T16:52:00Z\","
				      "\"event\":{\"source\":\"s\",\"id\":\"%s-%d-%u\"},"
				      "\"late\":false}",
				      k ? "," : "", a, a, rev, i++);
		p += len;
		p += *p == ' ';
	}
	snprintf(out, n,
		 "{\"incident\":\"%s\",\"rev\":%d,\"status\":\"actual\",\"title\":\"t%d\","
		 "\"cause\":\"observed\",\"root\":{\"asset\":\"R\"},"
		 "\"opened\":\"2026-11-26T16:52:00Z\",\"affected\":[%s],\"explain\":"
		 "[{\"asset\":\"Y\",\"path\":[\"R\",\"Y\"],\"rule\":\"cascade\"}]}",
		 incident, rev, rev, list);
	return out;
}

static uint64_t append_rev(const char *incident, int rev, const char *assets)
{
	char body[2048];
	return append_change(incident, rev, rev == 1 ? "alert" : "update", 3,
			     rev_body(body, sizeof body, incident, rev, assets));
}

/* The members of an incident as "rev: asset asset ...", assets sorted. */
static const char *members_of(const char *incident, char *out, size_t n)
{
	char sql[512];
	snprintf(sql, sizeof sql,
		 "SELECT i.rev || ':' || coalesce((SELECT string_agg(' ' || asset, '' ORDER BY "
		 "asset) FROM incident_members m WHERE m.stream = i.stream AND m.incident = "
		 "i.incident), '') FROM incidents i WHERE stream = 'live' AND incident = '%s'",
		 incident);
	return q1(sql, out, n);
}

/*
 * Revisions are applied once per batch, set-based (schema/004): within a
 * batch the newest revision of each incident wins whatever the order of
 * its revisions, and members are rewritten only for incidents that moved;
 * a revision older than the stored one changes nothing, even in a later
 * batch. The same outcome as applying each revision in turn.
 */
START_TEST(test_incident_revisions_set)
{
	struct tn_store_stats st;
	struct tn_store *s;
	char v[256];

	/* Batch 1: A goes 1 -> 2, B arrives as 2 then 1, C and D once. */
	append_rev("INC-A", 1, "X");
	append_rev("INC-A", 2, "X Y");
	append_rev("INC-B", 2, "Z");
	append_rev("INC-B", 1, "W");
	append_rev("INC-C", 1, "X");
	append_rev("INC-D", 2, "P Q");
	publish();
	s = start_store(conninfo, 100, 50);
	ck_assert(wait_committed(s, tn_journal_end(jw), WAIT_MS));
	ck_assert_str_eq(members_of("INC-A", v, sizeof v), "2: X Y");
	ck_assert_str_eq(members_of("INC-B", v, sizeof v), "2: Z");
	ck_assert_str_eq(members_of("INC-C", v, sizeof v), "1: X");
	ck_assert_str_eq(members_of("INC-D", v, sizeof v), "2: P Q");
	ck_assert_str_eq(q1("SELECT title || ' ' || msg FROM incidents WHERE incident = 'INC-B'",
			    v, sizeof v),
			 "t2 update");

	/* Batch 2: A loses X, D's older revision comes late, C untouched. */
	append_rev("INC-A", 3, "Y");
	append_rev("INC-D", 1, "P");
	append_rev("INC-E", 1, "Y Y"); /* an asset listed twice: the first stays */
	publish();
	ck_assert(wait_committed(s, tn_journal_end(jw), WAIT_MS));
	tn_store_stats(s, &st);
	ck_assert_int_eq(tn_store_stop(s, 5000), 0);
	ck_assert_uint_eq(st.failures, 0);
	ck_assert_uint_eq(st.corrupt_records, 0);

	ck_assert_int_eq(qint("SELECT count(*) FROM incident_revisions"), 9);
	ck_assert_str_eq(members_of("INC-A", v, sizeof v), "3: Y");
	ck_assert_str_eq(members_of("INC-B", v, sizeof v), "2: Z");
	ck_assert_str_eq(members_of("INC-C", v, sizeof v), "1: X");
	ck_assert_str_eq(members_of("INC-D", v, sizeof v), "2: P Q");
	ck_assert_str_eq(members_of("INC-E", v, sizeof v), "1: Y");
	ck_assert_str_eq(q1("SELECT event_id FROM incident_members WHERE incident = 'INC-E'", v,
			    sizeof v),
			 "Y-1-0");
	ck_assert_int_eq(qint("SELECT count(*) FROM incidents"), 5);
	/* The member's path comes from the revision that was applied. */
	ck_assert_str_eq(q1("SELECT array_to_string(path, '>') || ' ' || rule || ' ' || event_id "
			    "FROM incident_members WHERE incident = 'INC-A'",
			    v, sizeof v),
			 "R>Y cascade Y-3-0");
}
END_TEST

START_TEST(test_escaping)
{
	static const char nasty[] = "tab\there nl\nline cr\r back\\slash \\N \\. \\x41 "
				    "quote\" apos' \xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC "
				    "\xF0\x9F\x9A\xA8 ctl\x01\x1f del\x7f end";
	static const char key[] = "k\tey\\\"";
	struct tn_attr attrs[6] = {
		{.key = "s", .kind = TN_ATTR_STR, .v.s = nasty},
		{.key = key, .kind = TN_ATTR_STR, .v.s = "v\nal"},
		{.key = "f", .kind = TN_ATTR_FLOAT, .v.f = 0.1},
		{.key = "i", .kind = TN_ATTR_INT, .v.i = INT64_MIN},
		{.key = "big", .kind = TN_ATTR_INT, .v.i = INT64_MAX},
		{.key = "tiny", .kind = TN_ATTR_FLOAT, .v.f = 5e-324},
	};
	struct tn_event ev = {
		.id = "id\\\xC3\xA9\"\xE6\x97\xA5",
		.source = "src/\xC3\xBC\\x",
		.type = TN_EV_ALARM,
		.time_us = T0_US,
		.sector = TN_SECTOR_WATER,
		.asset = "pump-1",
		.summary = nasty,
		.attrs = attrs,
		.n_attrs = 6,
	};
	const char *params[1] = {key};
	struct tn_store *s;
	PGresult *r;

	append_event(&ev, T0_US, "adapter\twith\\tab");
	publish();
	s = start_store(conninfo, 10, 50);
	ck_assert(wait_committed(s, tn_journal_end(jw), WAIT_MS));
	ck_assert_int_eq(tn_store_stop(s, 5000), 0);

	r = PQexecParams(db,
			 "SELECT id, source, adapter, summary, attrs->>'s', attrs->>$1, "
			 "(attrs->>'f')::float8, attrs->>'i', attrs->>'big', attrs->>'tiny' "
			 "FROM events",
			 1, NULL, params, NULL, NULL, 0);
	ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
	ck_assert_int_eq(PQntuples(r), 1);
	ck_assert_str_eq(PQgetvalue(r, 0, 0), ev.id);
	ck_assert_str_eq(PQgetvalue(r, 0, 1), ev.source);
	ck_assert_str_eq(PQgetvalue(r, 0, 2), "adapter\twith\\tab");
	ck_assert_str_eq(PQgetvalue(r, 0, 3), nasty);
	ck_assert_str_eq(PQgetvalue(r, 0, 4), nasty);
	ck_assert_str_eq(PQgetvalue(r, 0, 5), "v\nal");
	ck_assert_str_eq(PQgetvalue(r, 0, 6), "0.1");
	ck_assert_str_eq(PQgetvalue(r, 0, 7), "-9223372036854775808");
	ck_assert_str_eq(PQgetvalue(r, 0, 8), "9223372036854775807");
	ck_assert(strtod(PQgetvalue(r, 0, 9), NULL) == 5e-324);
	PQclear(r);
}
END_TEST

START_TEST(test_restart)
{
	struct tn_store_stats st;
	struct tn_store *s;
	unsigned i = 0;

	for (; i < 100; i++)
		offs[i] = append_gen(i);
	append_audit(T0_US, "a", "one", NULL, NULL, true);
	append_audit(T0_US, "a", "two", NULL, NULL, false);
	append_audit(T0_US, "a", "three", NULL, NULL, false);
	publish();
	s = start_store(conninfo, 16, 50);
	ck_assert(wait_committed(s, tn_journal_end(jw), WAIT_MS));
	ck_assert_int_eq(tn_store_stop(s, 5000), 0);
	ck_assert_uint_eq(progress(), tn_journal_end(jw));

	/* More while it is stopped; a stop right after start still drains it all. */
	for (; i < 200; i++)
		offs[i] = append_gen(i);
	append_audit(T0_US, "a", "four", NULL, NULL, false);
	append_audit(T0_US, "a", "five", NULL, NULL, false);
	publish();
	s = start_store(conninfo, 16, 50);
	ck_assert_int_eq(tn_store_stop(s, 10000), 0);
	ck_assert_uint_eq(progress(), tn_journal_end(jw));
	ck_assert_int_eq(qint("SELECT count(*) FROM events"), 200);
	ck_assert_int_eq(qint("SELECT count(*) FROM audit"), 5);

	/* A third run has nothing to do and stores nothing twice. */
	s = start_store(conninfo, 16, 50);
	ck_assert(wait_committed(s, tn_journal_end(jw), WAIT_MS));
	sleep_ms(100);
	tn_store_stats(s, &st);
	ck_assert_uint_eq(st.transactions, 0);
	ck_assert_int_eq(tn_store_stop(s, 5000), 0);
	ck_assert_int_eq(qint("SELECT count(*) FROM audit"), 5);
	ck_assert_int_eq(qint("SELECT count(DISTINCT action) FROM audit"), 5);
	check_events(200);
}
END_TEST

/* The progress row set back (a restored backup): replays store nothing twice. */
START_TEST(test_rewind)
{
	struct tn_store_stats st;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct tn_store *s;

	for (unsigned i = 0; i < 300; i++) {
		offs[i] = append_gen(i);
		if (i % 100 == 0) {
			msgpack_sbuffer_init(&sb);
			msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
			msgpack_pack_array(&pk, 8);
			msgpack_pack_int64(&pk, T0_US);
			pack_str(&pk, "a");
			pack_str(&pk, "E_SCHEMA");
			pack_str(&pk, "m");
			msgpack_pack_nil(&pk);
			msgpack_pack_nil(&pk);
			msgpack_pack_nil(&pk);
			msgpack_pack_false(&pk);
			append_raw(TN_JREC_REJECT, sb.data, sb.size);
			msgpack_sbuffer_destroy(&sb);
		}
	}
	publish();
	s = start_store(conninfo, 64, 50);
	ck_assert(wait_committed(s, tn_journal_end(jw), WAIT_MS));
	ck_assert_int_eq(tn_store_stop(s, 5000), 0);

	exec_or_die(db, "UPDATE store_progress SET journal_offset = 0");
	s = start_store(conninfo, 64, 50);
	ck_assert(wait_committed(s, tn_journal_end(jw), WAIT_MS));
	tn_store_stats(s, &st);
	ck_assert_int_eq(tn_store_stop(s, 5000), 0);
	ck_assert_uint_eq(st.events_stored, 0);
	ck_assert_uint_eq(st.rejected_stored, 0);
	ck_assert_uint_eq(st.failures, 0);
	ck_assert_uint_eq(progress(), tn_journal_end(jw));
	ck_assert_int_eq(qint("SELECT count(*) FROM rejected"), 3);
	check_events(300);
}
END_TEST

START_TEST(test_pg_unavailable)
{
	static const char nowhere[] = "host=/nonexistent/tocsin-test port=5439 user=tocsin "
				      "dbname=tocsin";
	struct tn_store_stats st;
	struct tn_store *s;
	int64_t t0, until;
	int rc;

	for (unsigned i = 0; i < 5; i++)
		append_gen(i);
	publish();
	s = start_store(nowhere, 100, 20);
	until = now_ms() + WAIT_MS;
	do {
		sleep_ms(5);
		tn_store_stats(s, &st);
	} while (st.failures < 3 && now_ms() < until);
	ck_assert_uint_ge(st.failures, 3);
	ck_assert(!st.connected);
	ck_assert_uint_eq(st.committed_offset, 0);
	ck_assert_uint_eq(st.transactions, 0);

	t0 = now_ms();
	rc = tn_store_stop(s, 100);
	ck_assert_int_eq(rc, TN_ETIMEDOUT);
	ck_assert_int_lt(now_ms() - t0, 1000);
}
END_TEST

START_TEST(test_reconnect)
{
	struct tn_store_stats st;
	struct tn_store *s;
	unsigned i = 0;

	for (; i < 200; i++)
		offs[i] = append_gen(i);
	append_audit(T0_US, "a", "before", NULL, NULL, false);
	publish();
	s = start_store(conninfo, 50, 50);
	ck_assert(wait_committed(s, tn_journal_end(jw), WAIT_MS));
	ck_assert_int_eq(qint("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) "
			      "FROM pg_stat_activity WHERE datname = current_database() "
			      "AND application_name = 'tocsin-store') t"),
			 1);
	for (; i < 400; i++)
		offs[i] = append_gen(i);
	append_audit(T0_US, "a", "after", NULL, NULL, false);
	publish();
	ck_assert(wait_committed(s, tn_journal_end(jw), WAIT_MS));
	tn_store_stats(s, &st);
	ck_assert_uint_ge(st.failures, 1);
	ck_assert(st.connected);
	ck_assert_int_eq(tn_store_stop(s, 5000), 0);
	ck_assert_int_eq(qint("SELECT count(*) FROM audit"), 2);
	ck_assert_uint_eq(progress(), tn_journal_end(jw));
	/* The events are those after the audit record; check them by offset. */
	ck_assert_int_eq(qint("SELECT count(*) FROM events"), 400);
	ck_assert_int_eq(qint("SELECT count(DISTINCT id) FROM events"), 400);
}
END_TEST

START_TEST(test_refused_row)
{
	struct tn_store_stats st;
	msgpack_sbuffer keep;
	struct tn_store *s;
	struct gen g;
	char v[600], hex[2048];
	size_t k = 0;

	exec_or_die(db, "ALTER TABLE events ADD CONSTRAINT test_no_poison "
			"CHECK (summary IS DISTINCT FROM 'poison')");
	for (unsigned i = 0; i < 50; i++) {
		mk_event(i, &g);
		if (i == 20) {
			g.ev.summary = "poison";
			offs[i] = append_event_sb(&g.ev, T0_US, "ukpn", &keep);
		} else {
			offs[i] = append_event(&g.ev, T0_US, "ukpn");
		}
	}
	publish();
	s = start_store(conninfo, 100, 50);
	ck_assert(wait_committed(s, tn_journal_end(jw), WAIT_MS));
	tn_store_stats(s, &st);
	ck_assert_int_eq(tn_store_stop(s, 5000), 0);
	exec_or_die(db, "ALTER TABLE events DROP CONSTRAINT test_no_poison");

	ck_assert_uint_eq(st.events_stored, 49);
	ck_assert_uint_eq(st.corrupt_records, 1);
	ck_assert_uint_ge(st.failures, 2);
	ck_assert_int_eq(qint("SELECT count(*) FROM events"), 49);
	ck_assert_int_eq(qint("SELECT count(*) FROM rejected"), 1);
	ck_assert_int_eq(qint("SELECT journal_offset FROM rejected"), (long long)offs[20]);
	ck_assert_str_eq(q1("SELECT code FROM rejected", v, sizeof v), "E_CORRUPT");
	ck_assert_ptr_nonnull(strstr(q1("SELECT msg FROM rejected", v, sizeof v), "23514"));
	for (size_t i = 0; i < keep.size; i++)
		k += (size_t)snprintf(hex + k, sizeof hex - k, "%02x", (unsigned char)keep.data[i]);
	ck_assert_str_eq(q1("SELECT encode(raw, 'hex') FROM rejected", v, sizeof v), hex);
	msgpack_sbuffer_destroy(&keep);
	ck_assert_uint_eq(progress(), tn_journal_end(jw));
}
END_TEST

START_TEST(test_records_deleted)
{
	struct tn_store_stats st;
	struct tn_store *s;
	char sql[128];
	int64_t t0, until;

	/* Small segments, then retention deletes all but the active one. */
	tn_journal_close(jw);
	nftw(jdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	jopen(2048);
	for (unsigned i = 0; i < 60; i++)
		offs[i] = append_gen(i);
	publish();
	ck_assert_int_gt(tn_journal_retain(jw, tn_journal_end(jw), time(NULL) + 60), 0);
	ck_assert_uint_gt(tn_journal_start(jw), offs[1]);
	snprintf(sql, sizeof sql,
		 "UPDATE store_progress SET journal_offset = %" PRIu64 " WHERE stream = 'journal'",
		 offs[1]);
	exec_or_die(db, sql);

	s = start_store(conninfo, 100, 20);
	until = now_ms() + WAIT_MS;
	do {
		sleep_ms(5);
		tn_store_stats(s, &st);
	} while (st.journal_errors < 1 && now_ms() < until);
	ck_assert_uint_ge(st.journal_errors, 1);
	ck_assert_uint_eq(st.committed_offset, offs[1]); /* never skips ahead */
	t0 = now_ms();
	ck_assert_int_eq(tn_store_stop(s, 200), TN_ETIMEDOUT);
	ck_assert_int_lt(now_ms() - t0, 2000);
	ck_assert_int_eq(qint("SELECT count(*) FROM events"), 0);
	ck_assert_uint_eq(progress(), offs[1]);
}
END_TEST

START_TEST(test_two_stores)
{
	struct tn_store_stats a, b;
	struct tn_store *s1, *s2;
	unsigned i;

	for (i = 0; i < 500; i++) {
		offs[i] = append_gen(i);
		if (i % 25 == 0)
			append_audit(T0_US + i, "x", "y", NULL, NULL, false);
	}
	publish();
	s1 = start_store(conninfo, 7, 20);
	s2 = start_store(conninfo, 7, 20);
	ck_assert(wait_committed(s1, tn_journal_end(jw), WAIT_MS));
	ck_assert(wait_committed(s2, tn_journal_end(jw), WAIT_MS));
	tn_store_stats(s1, &a);
	tn_store_stats(s2, &b);
	ck_assert_int_eq(tn_store_stop(s1, 5000), 0);
	ck_assert_int_eq(tn_store_stop(s2, 5000), 0);
	ck_assert_int_eq(qint("SELECT count(*) FROM audit"), 20);
	ck_assert_uint_eq(a.audit_stored + b.audit_stored, 20);
	ck_assert_uint_eq(a.events_stored + b.events_stored, 500);
	check_events(500);
}
END_TEST

START_TEST(test_stop_cancels_stuck_query)
{
	struct tn_store *s;
	int64_t t0;

	/* The test holds the progress row: the store's first batch waits on it. */
	exec_or_die(db, "BEGIN; SELECT journal_offset FROM store_progress FOR UPDATE");
	for (unsigned i = 0; i < 10; i++)
		append_gen(i);
	publish();
	s = start_store(conninfo, 100, 50);
	sleep_ms(300);
	ck_assert_uint_eq(tn_store_committed(s), 0);
	t0 = now_ms();
	ck_assert_int_eq(tn_store_stop(s, 100), TN_ETIMEDOUT);
	ck_assert_int_lt(now_ms() - t0, 2000);
	exec_or_die(db, "ROLLBACK");
	ck_assert_int_eq(qint("SELECT count(*) FROM events"), 0);
	ck_assert_uint_eq(progress(), 0);
}
END_TEST

/*
 * Records trickling in, one every 10 ms: with linger_ms the store takes
 * them in a few transactions (at most one short of `batch` per linger_ms),
 * without it in about one each. A stop does not wait out the linger.
 */
static uint64_t trickle(struct tn_store *s, unsigned from, unsigned n, int64_t *elapsed_ms)
{
	struct tn_store_stats st;
	int64_t t0 = now_ms();

	for (unsigned i = from; i < from + n; i++) {
		offs[i] = append_gen(i);
		publish();
		sleep_ms(10);
	}
	ck_assert(wait_committed(s, tn_journal_end(jw), WAIT_MS));
	*elapsed_ms = now_ms() - t0;
	tn_store_stats(s, &st);
	return st.transactions;
}

START_TEST(test_linger)
{
	const int linger = 200;
	struct tn_store *s;
	int64_t ms;

	s = start_store_linger(conninfo, 5000, 50, linger);
	uint64_t tx = trickle(s, 0, 40, &ms);
	/* the first wait, then one transaction per linger_ms at most */
	uint64_t bound = (uint64_t)(ms / linger) + 2;
	fprintf(stderr, "test_store: linger %d ms: 40 records over %" PRId64 " ms in %" PRIu64
		" transactions (at most %" PRIu64 ")\n", linger, ms, tx, bound);
	ck_assert_uint_le(tx, bound);
	/* Stopped while it lingers: the record appended just now is stored. */
	offs[40] = append_gen(40);
	publish();
	ck_assert_int_eq(tn_store_stop(s, 5000), 0);
	ck_assert_int_eq(qint("SELECT count(*) FROM events"), 41);
	ck_assert_uint_eq(progress(), tn_journal_end(jw));

	/* The same trickle without linger: many more transactions. */
	s = start_store_linger(conninfo, 5000, 50, 0);
	tx = trickle(s, 41, 40, &ms);
	fprintf(stderr, "test_store: no linger: 40 records over %" PRId64 " ms in %" PRIu64
		" transactions\n", ms, tx);
	ck_assert_uint_gt(tx, bound);
	ck_assert_int_eq(tn_store_stop(s, 5000), 0);
	check_events(81);
}
END_TEST

START_TEST(test_throughput)
{
	const unsigned n = 50000;
	struct tn_store_stats st;
	struct tn_store *s;
	int64_t t0, dt;

	for (unsigned i = 0; i < n; i++)
		offs[i] = append_gen(i);
	publish();
	t0 = now_ms();
	s = start_store(conninfo, 5000, 50);
	ck_assert(wait_committed(s, tn_journal_end(jw), 120000));
	dt = now_ms() - t0;
	tn_store_stats(s, &st);
	ck_assert_int_eq(tn_store_stop(s, 5000), 0);
	ck_assert_uint_eq(st.events_stored, n);
	fprintf(stderr,
		"test_store: %u events in %" PRId64 " ms: %.0f events/s "
		"(batch 5000, %" PRIu64 " transactions, last %" PRIu64 " us)\n",
		n, dt, n * 1000.0 / (double)(dt ? dt : 1), st.transactions, st.last_copy_us);
	ck_assert_int_eq(qint("SELECT count(*) FROM events"), n);
}
END_TEST

START_TEST(test_bad_args)
{
	struct tn_store_opts o = {.conninfo = conninfo,
				  .journal_dir = jdir,
				  .batch = 0,
				  .retry_ms = 10,
				  .durable = &durable};
	struct tn_store *s = NULL;

	ck_assert_int_eq(tn_store_start(&o, &s), TN_EINVAL);
	o.batch = 1;
	o.linger_ms = -1;
	ck_assert_int_eq(tn_store_start(&o, &s), TN_EINVAL);
	o.linger_ms = 0;
	o.durable = NULL;
	ck_assert_int_eq(tn_store_start(&o, &s), TN_EINVAL);
	ck_assert_int_eq(tn_store_start(NULL, &s), TN_EINVAL);
	ck_assert_ptr_null(s);
	ck_assert_int_eq(tn_store_stop(NULL, 0), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("store");
	TCase *fmt = tcase_create("format");
	TCase *tc = tcase_create("postgresql");
	SRunner *sr;
	int failed;

	tcase_add_test(fmt, test_format);
	tcase_add_test(fmt, test_bad_args);
	suite_add_tcase(s, fmt);

	tcase_add_unchecked_fixture(tc, db_create, db_drop);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_events_stored);
	tcase_add_test(tc, test_durable_limit);
	tcase_add_test(tc, test_duplicates);
	tcase_add_test(tc, test_reject_audit_tick_corrupt);
	tcase_add_test(tc, test_escaping);
	tcase_add_test(tc, test_incident_revisions);
	tcase_add_test(tc, test_incident_revisions_set);
	tcase_add_test(tc, test_restart);
	tcase_add_test(tc, test_rewind);
	tcase_add_test(tc, test_pg_unavailable);
	tcase_add_test(tc, test_reconnect);
	tcase_add_test(tc, test_refused_row);
	tcase_add_test(tc, test_records_deleted);
	tcase_add_test(tc, test_two_stores);
	tcase_add_test(tc, test_stop_cancels_stuck_query);
	tcase_add_test(tc, test_linger);
	tcase_add_test(tc, test_throughput);
	suite_add_tcase(s, tc);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
