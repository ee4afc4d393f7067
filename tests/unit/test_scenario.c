/*
 * test_scenario.c - the drill scenario reader (tools/scenario.h): both
 * header forms, every column's checks and messages, line numbers as event
 * ids, nothing returned when any row is bad, CSV quoting; recordings (JSON
 * lines, tools/recording.h) and injected events merged in by time.
 *
 * The tools are not a library: the reader's source is compiled in here.
 */
#include "../../tools/scenario.c"
#include "../../tools/recording.c"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[200];
static char path[256];
static char *errbuf;
static size_t errlen;

static void setup(void)
{
	snprintf(dir, sizeof dir, "%s/tn_scenario_XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/s.csv", dir);
	errbuf = NULL;
	errlen = 0;
}

static void teardown(void)
{
	char cmd[PATH_MAX + 16];

	free(errbuf);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Write `text` as the scenario and read it; the messages land in errbuf. */
static int read_text(const char *text, size_t max_errors, struct tn__scenario **out)
{
	FILE *f = fopen(path, "w");
	FILE *e;
	int rc;

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
	free(errbuf);
	errbuf = NULL;
	e = open_memstream(&errbuf, &errlen);
	ck_assert_ptr_nonnull(e);
	rc = tn__scenario_read(path, TN_SCENARIO_EPOCH_US, e, max_errors, out);
	fclose(e);
	return rc;
}

/* Expect exactly these messages ("LINE: text\n" each, the path added). */
static void expect_errors(const char *text, const char *want)
{
	struct tn__scenario *sc = (void *)1;
	char full[8192] = "", line[1024];
	const char *p = want;

	ck_assert_int_eq(read_text(text, 100, &sc), TN_EINVAL);
	ck_assert_ptr_null(sc);
	while (*p) {
		const char *nl = strchr(p, '\n');
		snprintf(line, sizeof line, "%s:%.*s\n", path, (int)(nl - p), p);
		strcat(full, line);
		p = nl + 1;
	}
	ck_assert_str_eq(errbuf, full);
}

#define HDR "t_offset_s,source,sector,asset,type,severity,summary\n"

START_TEST(offsets_ids_and_fields)
{
	struct tn__scenario *sc;

	ck_assert_int_eq(read_text(HDR "0,ukpn/scada,energy,ss-1,asset.down,1,tripped\n"
				       "\n"
				       "12.5,ukpn/scada,energy,ss-2,asset.degraded,,\"on backup, "
				       "\"\"gen\"\" 2\"\n"
				       "3,netco/noc,,,heartbeat,,\r\n"
				       "7200,water/tm,water,wps-1,asset.up,5,\n",
				   100, &sc),
			 0);
	ck_assert_str_eq(errbuf, "");
	ck_assert_uint_eq(sc->n, 4);
	ck_assert(!sc->absolute);
	ck_assert_str_eq(sc->ev[0].id, "L2");
	ck_assert_str_eq(sc->ev[1].id, "L4"); /* the blank line keeps its number */
	ck_assert_str_eq(sc->ev[2].id, "L5");
	ck_assert_str_eq(sc->ev[3].id, "L6");
	ck_assert_uint_eq(sc->line[1], 4);
	ck_assert_int_eq(sc->ev[0].time_us, TN_SCENARIO_EPOCH_US);
	ck_assert_int_eq(sc->ev[1].time_us, TN_SCENARIO_EPOCH_US + 12500000);
	ck_assert_int_eq(sc->ev[3].time_us, TN_SCENARIO_EPOCH_US + INT64_C(7200000000));
	ck_assert_str_eq(sc->ev[0].source, "ukpn/scada");
	ck_assert_int_eq(sc->ev[0].sector, TN_SECTOR_ENERGY);
	ck_assert_str_eq(sc->ev[0].asset, "ss-1");
	ck_assert_int_eq(sc->ev[0].type, TN_EV_DOWN);
	ck_assert_int_eq(sc->ev[0].severity, 1);
	ck_assert_str_eq(sc->ev[0].summary, "tripped");
	ck_assert_int_eq(sc->ev[1].type, TN_EV_DEGRADED);
	ck_assert_int_eq(sc->ev[1].severity, 0);
	ck_assert_str_eq(sc->ev[1].summary, "on backup, \"gen\" 2");
	ck_assert_int_eq(sc->ev[2].type, TN_EV_HEARTBEAT);
	ck_assert_int_eq(sc->ev[2].sector, TN_SECTOR_NONE);
	ck_assert_ptr_null(sc->ev[2].asset);
	ck_assert_ptr_null(sc->ev[2].summary);
	ck_assert_int_eq(sc->ev[3].type, TN_EV_UP);
	ck_assert_int_eq(sc->min_us, TN_SCENARIO_EPOCH_US);
	ck_assert_int_eq(sc->max_us, TN_SCENARIO_EPOCH_US + INT64_C(7200000000));
	ck_assert(!sc->ev[0].has_geo);
	ck_assert_uint_eq(sc->ev[0].n_attrs, 0);
	tn__scenario_free(sc);
}
END_TEST

START_TEST(absolute_times_and_file_order)
{
	struct tn__scenario *sc;

	/* out of order in time: the file's order is the order of arrival */
	ck_assert_int_eq(read_text("time,source,sector,asset,type,severity,summary\n"
				   "2026-11-26T16:52:00Z,a,energy,x,asset.down,,\n"
				   "2026-11-26T17:51:59.250+01:00,a,energy,y,asset.down,,\n",
				   100, &sc),
			 0);
	ck_assert(sc->absolute);
	ck_assert_uint_eq(sc->n, 2);
	ck_assert_int_eq(sc->ev[0].time_us, INT64_C(1795711920000000));
	ck_assert_int_eq(sc->ev[1].time_us, INT64_C(1795711919250000));
	ck_assert_str_eq(sc->ev[1].asset, "y");
	ck_assert_int_eq(sc->min_us, INT64_C(1795711919250000));
	ck_assert_int_eq(sc->max_us, INT64_C(1795711920000000));
	tn__scenario_free(sc);
}
END_TEST

START_TEST(base_time_moves_offsets)
{
	struct tn__scenario *sc;
	FILE *f = fopen(path, "w");

	fputs(HDR "60,a,energy,x,asset.down,,\n", f);
	fclose(f);
	ck_assert_int_eq(tn__scenario_read(path, INT64_C(1000000000000000), NULL, 10, &sc), 0);
	ck_assert_int_eq(sc->ev[0].time_us, INT64_C(1000000060000000));
	tn__scenario_free(sc);
}
END_TEST

START_TEST(every_bad_row_reported_nothing_returned)
{
	expect_errors(HDR "x,a,energy,s,asset.down,,\n"
			  "1.1234567,a,energy,s,asset.down,,\n"
			  "-1,a,energy,s,asset.down,,\n"
			  "1,,energy,s,asset.down,,\n"
			  "1,a,power,s,asset.down,,\n"
			  "1,a,,s,asset.down,,\n"
			  "1,a,energy,,asset.down,,\n"
			  "1,a,energy,s,asset.broken,,\n"
			  "1,a,energy,s,asset.down,6,\n"
			  "1,a,energy,s,asset.down,0,\n"
			  "1,a,energy,s,asset.down,\n"
			  "1,a,energy,s,asset.down,1,x,y\n"
			  "1,a,energy,s\"x,asset.down,1,x\n"
			  "1,a,energy,s,asset.down,1,ok\n"
			  "1,a,energy,\"s,asset.down,1,x\n"
			  "1,a,energy,s,asset.down,1,swallowed by the open quote\n",
		      "2: t_offset_s: expected seconds 0..315360000 with at most 6 decimals, got "
		      "\"x\"\n"
		      "3: t_offset_s: expected seconds 0..315360000 with at most 6 decimals, got "
		      "\"1.1234567\"\n"
		      "4: t_offset_s: expected seconds 0..315360000 with at most 6 decimals, got "
		      "\"-1\"\n"
		      "5: source: expected 1-256 bytes of UTF-8 text, got \"\"\n"
		      "6: sector: expected one of chemicals, civil-nuclear, communications, "
		      "defence, emergency-services, energy, finance, food, government, health, "
		      "space, transport, water, data, got \"power\"\n"
		      "7: sector: expected one of chemicals, civil-nuclear, communications, "
		      "defence, emergency-services, energy, finance, food, government, health, "
		      "space, transport, water, data, got \"\"\n"
		      "8: asset: expected an asset id of 1-64 bytes, got \"\"\n"
		      "9: type: expected asset.down, asset.degraded, asset.up, asset.alarm or "
		      "heartbeat, got \"asset.broken\"\n"
		      "10: severity: expected an integer 1..5 or empty, got \"6\"\n"
		      "11: severity: expected an integer 1..5 or empty, got \"0\"\n"
		      "12: expected 7 fields as in the header, got 6\n"
		      "13: expected 7 fields as in the header, got 8\n"
		      "14: asset: expected a field in quotes when it holds a quote, got "
		      "\"s\\\"x\"\n"
		      "16: asset: expected a closing quote, got end of file\n");
}
END_TEST

START_TEST(absolute_form_refuses_offsets)
{
	expect_errors("time,source,sector,asset,type,severity,summary\n"
		      "60,a,energy,s,asset.down,,\n"
		      "2026-11-26T16:52:00,a,energy,s,asset.down,,\n",
		      "2: time: expected an RFC 3339 time like 2026-11-26T16:52:00Z, got \"60\"\n"
		      "3: time: expected an RFC 3339 time like 2026-11-26T16:52:00Z, got "
		      "\"2026-11-26T16:52:00\"\n");
}
END_TEST

START_TEST(bad_header)
{
	expect_errors("t,source,sector,asset,type,severity,summary\n1,a,energy,s,asset.down,,\n",
		      "1: header: expected \"t_offset_s,source,sector,asset,type,severity,"
		      "summary\" (or time in place of t_offset_s), got \"t,source,sector,asset,"
		      "type,severity,summary\"\n");
	expect_errors("", "1: header: expected \"t_offset_s,source,sector,asset,type,severity,"
			  "summary\", got an empty file\n");
}
END_TEST

START_TEST(text_checks)
{
	char big[700], row[1024];

	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	snprintf(row, sizeof row, HDR "1,a,energy,s,asset.down,,%s\n", big);
	expect_errors(row, "2: summary: expected at most 512 bytes of UTF-8 text\n");
	expect_errors(HDR "1,a\tb,energy,s,asset.down,,\n",
		      "2: source: expected 1-256 bytes of UTF-8 text, got \"a\tb\"\n");
	expect_errors(HDR "1,a,energy,\xff,asset.down,,\n",
		      "2: asset: expected an asset id of 1-64 bytes, got \"\xff\"\n");
}
END_TEST

START_TEST(error_bound_counts_the_rest)
{
	struct tn__scenario *sc;

	ck_assert_int_eq(read_text(HDR "x,a,energy,s,asset.down,,\n"
				       "y,a,energy,s,asset.down,,\n"
				       "z,a,energy,s,asset.down,,\n",
				   1, &sc),
			 TN_EINVAL);
	ck_assert_ptr_nonnull(strstr(errbuf, ":2: t_offset_s"));
	ck_assert_ptr_null(strstr(errbuf, ":3: t_offset_s"));
	ck_assert_ptr_nonnull(strstr(errbuf, ": 2 more bad rows\n"));
}
END_TEST

START_TEST(missing_file)
{
	struct tn__scenario *sc;
	FILE *e = open_memstream(&errbuf, &errlen);

	ck_assert_int_eq(tn__scenario_read("/nonexistent/s.csv", 0, e, 10, &sc), TN_EIO);
	fclose(e);
	ck_assert_ptr_null(sc);
	ck_assert_str_eq(errbuf, "/nonexistent/s.csv: No such file or directory\n");
}
END_TEST

START_TEST(many_rows_keep_their_strings)
{
	struct tn__scenario *sc;
	FILE *f = fopen(path, "w");
	char want[64];

	/* more than one string block (1 MiB) */
	fputs(HDR, f);
	for (int i = 0; i < 40000; i++)
		fprintf(f, "%d,source/%d,water,asset-%d,asset.down,2,summary of row %d\n", i, i, i,
			i);
	fclose(f);
	ck_assert_int_eq(tn__scenario_read(path, 0, NULL, 10, &sc), 0);
	ck_assert_uint_eq(sc->n, 40000);
	for (int i = 0; i < 40000; i += 997) {
		snprintf(want, sizeof want, "asset-%d", i);
		ck_assert_str_eq(sc->ev[i].asset, want);
		snprintf(want, sizeof want, "L%d", i + 2);
		ck_assert_str_eq(sc->ev[i].id, want);
		snprintf(want, sizeof want, "summary of row %d", i);
		ck_assert_str_eq(sc->ev[i].summary, want);
	}
	tn__scenario_free(sc);
}
END_TEST

START_TEST(csv_put_and_multiline_fields)
{
	struct tn__scenario *sc;
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	ck_assert_int_eq(tn__csv_put(m, "plain"), 0);
	fputc('|', m);
	ck_assert_int_eq(tn__csv_put(m, "a, \"b\""), 0);
	fclose(m);
	ck_assert_str_eq(buf, "plain|\"a, \"\"b\"\"\"");
	free(buf);
	/* a spreadsheet's byte order mark and a summary over two lines: the row
	 * is numbered by the line where it starts */
	ck_assert_int_eq(read_text("\xef\xbb\xbf" HDR "0,a,energy,x,asset.down,,\"two\nlines\"\n"
				   "1,a,energy,y,asset.down,,\n",
				   10, &sc),
			 0);
	ck_assert_uint_eq(sc->n, 2);
	ck_assert_str_eq(sc->ev[0].id, "L2");
	ck_assert_str_eq(sc->ev[0].summary, "two\nlines");
	ck_assert_str_eq(sc->ev[1].id, "L4");
	tn__scenario_free(sc);
}
END_TEST

/*
 * The hand-written drills of the demo city read as they are, and every asset
 * they name is in its registry. (Also what links the graph in before
 * registry_csv.o, which needs it, in this suite's library order.)
 */
START_TEST(demo_city_scenarios)
{
	static const char *const files[] = {"scenario-exchange-flood.csv", "scenario-late-root.csv",
					    "scenario-substation-fire.csv"};
	struct tn_csv_errors e;
	struct tn_graph *g;
	char p[512];

	if (access("tests/data/demo-city/assets.csv", R_OK) != 0)
		return; /* run from elsewhere than the repository */
	tn_csv_errors_init(&e);
	ck_assert_int_eq(tn_registry_csv_load("tests/data/demo-city/assets.csv",
					      "tests/data/demo-city/dependencies.csv", &g, &e),
			 0);
	tn_csv_errors_free(&e);
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		struct tn__scenario *sc;
		snprintf(p, sizeof p, "tests/data/demo-city/%s", files[i]);
		ck_assert_int_eq(tn__scenario_read(p, TN_SCENARIO_EPOCH_US, stderr, 10, &sc), 0);
		ck_assert_uint_gt(sc->n, 0);
		for (size_t k = 0; k < sc->n; k++)
			ck_assert_msg(!sc->ev[k].asset ||
					      tn_graph_find(g, sc->ev[k].asset) != TN_GRAPH_NONE,
				      "%s: %s", p, sc->ev[k].asset);
		tn__scenario_free(sc);
	}
	tn_graph_free(g);
}
END_TEST


/* Write `text` to name in the test's directory; its path into out. */
static void write_file(const char *name, const char *text, char *out, size_t cap)
{
	FILE *f;

	snprintf(out, cap, "%s/%s", dir, name);
	f = fopen(out, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(injected_ids_and_merge_by_time)
{
	struct tn__scenario *base, *inj, *m;
	char ip[300];

	/* the base's order of arrival goes back in time at its third row */
	write_file("s.csv",
		   HDR "0,a,energy,x,asset.down,,\n100,a,energy,y,asset.down,,\n"
		       "50,a,energy,z,asset.down,,\n200,a,energy,x,asset.up,,\n",
		   ip, sizeof ip);
	ck_assert_int_eq(tn__scenario_read(ip, 0, stderr, 10, &base), 0);
	write_file("i.csv", HDR "150,b,water,w,asset.down,,\n100,b,water,v,asset.down,,\n", ip,
		   sizeof ip);
	ck_assert_int_eq(tn__scenario_read_ids(ip, 0, 'I', stderr, 10, &inj), 0);
	ck_assert_str_eq(inj->ev[0].id, "I2");
	ck_assert_str_eq(inj->ev[1].id, "I3");
	ck_assert_int_eq(tn__scenario_merge(base, inj, &m), 0);
	ck_assert_uint_eq(m->n, 6);
	/* v (100) not before y (100): a tie goes to the base; nor before z (50),
	 * which arrived late; v and w before x's restore (200) */
	const char *want[] = {"L2", "L3", "L4", "I3", "I2", "L5"};
	for (size_t i = 0; i < 6; i++)
		ck_assert_str_eq(m->ev[i].id, want[i]);
	ck_assert_int_eq(m->min_us, 0);
	ck_assert_int_eq(m->max_us, 200000000);
	tn__scenario_free(m);
	tn__scenario_free(base);
	tn__scenario_free(inj);
}
END_TEST

START_TEST(recording_keeps_ids_times_and_geo)
{
	struct tn__scenario *sc;
	char rp[300];

	write_file("r.jsonl",
		   "{\"id\":\"e-1\",\"source\":\"ukpn/scada\",\"type\":\"asset.down\","
		   "\"time\":\"2026-08-14T16:52:00.250000Z\",\"sector\":\"energy\","
		   "\"asset\":\"SUB-1\",\"severity\":2,\"summary\":\"trip\","
		   "\"geo\":[52.6,-1.1],\"attrs\":{\"k\":\"v\"}}\n"
		   "\n"
		   "{\"id\":\"hb\",\"source\":\"ukpn/scada\",\"type\":\"heartbeat\","
		   "\"time\":1786726320000}\n"
		   "{\"tick\":\"2026-08-14T16:52:01Z\"}\n",
		   rp, sizeof rp);
	ck_assert_int_eq(tn__drill_input_read(rp, 0, 'L', stderr, 10, &sc), 0);
	ck_assert(sc->absolute);
	ck_assert_uint_eq(sc->n, 3);
	ck_assert_str_eq(sc->ev[0].id, "e-1");
	ck_assert_str_eq(sc->ev[0].source, "ukpn/scada");
	ck_assert_int_eq(sc->ev[0].type, TN_EV_DOWN);
	ck_assert_int_eq(sc->ev[0].time_us, INT64_C(1786726320250000));
	ck_assert_int_eq(sc->ev[0].sector, TN_SECTOR_ENERGY);
	ck_assert_int_eq(sc->ev[0].severity, 2);
	ck_assert_str_eq(sc->ev[0].summary, "trip");
	ck_assert(sc->ev[0].has_geo);
	ck_assert_double_eq(sc->ev[0].lon, -1.1);
	ck_assert_uint_eq(sc->line[1], 3);
	ck_assert_int_eq(sc->ev[1].type, TN_EV_HEARTBEAT);
	ck_assert_ptr_null(sc->ev[1].asset);
	ck_assert_int_eq(sc->ev[1].time_us, INT64_C(1786726320000000));
	ck_assert_int_eq(sc->ev[2].type, TN__EV_TICK);
	ck_assert_int_eq(sc->ev[2].time_us, INT64_C(1786726321000000));
	tn__scenario_free(sc);
}
END_TEST

START_TEST(recording_time_format)
{
	struct tn_event tick = {.type = TN__EV_TICK, .time_us = INT64_C(1786726321000000)};
	char t[40], *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_int_eq(tn__recording_time(INT64_C(1786726320250000), t, sizeof t), 0);
	ck_assert_str_eq(t, "2026-08-14T16:52:00.250000Z");
	ck_assert_int_eq(tn__recording_time(-1, t, sizeof t), TN_ERANGE);
	/* a line written reads back */
	struct tn_attr at = {.key = "k", .kind = TN_ATTR_INT, .v.i = 7};
	struct tn_event ev = {.id = "e\"1", .source = "s", .type = TN_EV_DOWN,
			      .time_us = INT64_C(1786726320250000), .sector = TN_SECTOR_WATER,
			      .asset = "a", .severity = 2, .has_geo = true, .lat = 52.5,
			      .lon = -1.25, .attrs = &at, .n_attrs = 1};
	ck_assert_int_eq(tn__recording_put(f, &ev, NULL), 0);
	ck_assert_int_eq(tn__recording_put(f, &tick, NULL), 0);
	fclose(f);
	ck_assert_str_eq(buf, "{\"id\":\"e\\\"1\",\"source\":\"s\",\"type\":\"asset.down\","
			      "\"time\":\"2026-08-14T16:52:00.250000Z\",\"sector\":\"water\","
			      "\"asset\":\"a\",\"severity\":2,\"geo\":[52.5,-1.25],"
			      "\"attrs\":{\"k\":7}}\n"
			      "{\"tick\":\"2026-08-14T16:52:01.000000Z\"}\n");
	free(buf);
}
END_TEST

START_TEST(recording_every_bad_line_reported)
{
	struct tn__scenario *sc = (void *)1;
	char rp[300], *buf = NULL;
	size_t len = 0;
	FILE *e = open_memstream(&buf, &len);

	write_file("bad.jsonl",
		   "{\"id\":\"1\",\"source\":\"s\",\"type\":\"heartbeat\",\"time\":0}\n"
		   "not json\n"
		   "{\"id\":\"2\",\"source\":\"s\",\"type\":\"asset.gone\",\"time\":0}\n"
		   "{\"id\":\"3\",\"source\":\"s\",\"type\":\"asset.down\",\"time\":0,"
		   "\"sector\":\"energy\"}\n"
		   "{\"id\":\"4\",\"source\":\"s\",\"type\":\"heartbeat\",\"time\":\"noon\"}\n"
		   "{\"id\":\"5\",\"source\":\"s\",\"type\":\"heartbeat\",\"time\":0,\"x\":1}\n"
		   "{\"id\":\"6\",\"source\":\"s\",\"type\":\"asset.up\",\"time\":0,"
		   "\"sector\":\"energy\",\"asset\":\"a\",\"severity\":9}\n"
		   "{\"source\":\"s\",\"type\":\"heartbeat\",\"time\":0}\n"
		   "[1]\n"
		   "{\"tick\":\"2026-08-14T16:52:01Z\",\"id\":\"x\"}\n",
		   rp, sizeof rp);
	ck_assert_int_eq(tn__drill_input_read(rp, 0, 'L', e, 100, &sc), TN_EINVAL);
	fclose(e);
	ck_assert_ptr_null(sc);
	const char *want[] = {":2: expected one JSON object",
			      ":3: type: expected asset.down, asset.degraded",
			      ":4: asset: expected one for an asset event, got nothing",
			      ":5: time: expected an RFC 3339 time",
			      ":6: expected the keys id, source",
			      ":7: severity: expected an integer 1..5",
			      ":8: id: expected a string, got nothing",
			      ":9: expected one JSON object, got another JSON value",
			      ":10: tick: expected {\"tick\": an RFC 3339 time} alone"};
	const char *p = buf;
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		const char *hit = strstr(p, want[i]);
		ck_assert_msg(hit, "missing \"%s\" in:\n%s", want[i], buf);
		p = hit;
	}
	ck_assert_ptr_null(strstr(buf, ":1:"));
	free(buf);
}
END_TEST

static Suite *scenario_suite(void)
{
	Suite *s = suite_create("scenario");
	TCase *tc = tcase_create("read");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, offsets_ids_and_fields);
	tcase_add_test(tc, absolute_times_and_file_order);
	tcase_add_test(tc, base_time_moves_offsets);
	tcase_add_test(tc, every_bad_row_reported_nothing_returned);
	tcase_add_test(tc, absolute_form_refuses_offsets);
	tcase_add_test(tc, bad_header);
	tcase_add_test(tc, text_checks);
	tcase_add_test(tc, error_bound_counts_the_rest);
	tcase_add_test(tc, missing_file);
	tcase_add_test(tc, many_rows_keep_their_strings);
	tcase_add_test(tc, csv_put_and_multiline_fields);
	tcase_add_test(tc, demo_city_scenarios);
	tcase_add_test(tc, injected_ids_and_merge_by_time);
	tcase_add_test(tc, recording_keeps_ids_times_and_geo);
	tcase_add_test(tc, recording_time_format);
	tcase_add_test(tc, recording_every_bad_line_reported);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(scenario_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
