/* test_registry_csv.c - the registry's CSV reader and loader (registry_csv.h). */
#include "registry_csv.h"

#include "tocsin/error.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define AH TN_ASSETS_CSV_HEADER "\n"
#define DH TN_DEPS_CSV_HEADER "\n"

static struct tn_csv_reader *reader(const char *text)
{
	struct tn_csv_reader *r = NULL;

	ck_assert_int_eq(tn_csv_open_buffer(text, strlen(text), "t.csv", &r), 0);
	return r;
}

/* The next row, which must be there; fields joined with '|' into buf. */
static const char *next_joined(struct tn_csv_reader *r, struct tn_csv_row *row, char *buf,
			       size_t size)
{
	size_t o = 0;

	ck_assert_int_eq(tn_csv_next(r, row), 1);
	buf[0] = '\0';
	for (size_t i = 0; i < row->n; i++) {
		ck_assert_uint_eq(strlen(row->field[i]), row->len[i]);
		o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? "|" : "", row->field[i]);
	}
	return buf;
}

START_TEST(reader_rfc4180)
{
	struct tn_csv_reader *r = reader("\xef\xbb\xbf"
					 "a,b,c\r\n"
					 "\"x, y\",\"say \"\"hi\"\"\",\r\n"
					 "\r\n"
					 "\n"
					 "\"two\nlines\",\"\",z\n"
					 "\"cr\r\nlf\",2,3\n"
					 "last,row,\"no newline\"");
	struct tn_csv_row row;
	char buf[256];

	ck_assert_str_eq(tn_csv_name(r), "t.csv");
	ck_assert_str_eq(next_joined(r, &row, buf, sizeof buf), "a|b|c");
	ck_assert_uint_eq(row.line, 1);
	ck_assert_ptr_null(row.fault);
	ck_assert(!row.quoted_any);
	ck_assert_str_eq(next_joined(r, &row, buf, sizeof buf), "x, y|say \"hi\"|");
	ck_assert_uint_eq(row.n, 3);
	ck_assert_uint_eq(row.line, 2);
	ck_assert(row.quoted_any);
	/* blank lines skipped, line numbers kept */
	ck_assert_str_eq(next_joined(r, &row, buf, sizeof buf), "two\nlines||z");
	ck_assert_uint_eq(row.line, 5);
	ck_assert_uint_eq(row.field_line[0], 5);
	ck_assert_uint_eq(row.field_line[1], 6);
	ck_assert_str_eq(next_joined(r, &row, buf, sizeof buf), "cr\r\nlf|2|3");
	ck_assert_uint_eq(row.line, 7);
	ck_assert_str_eq(next_joined(r, &row, buf, sizeof buf), "last|row|no newline");
	ck_assert_uint_eq(row.line, 9);
	ck_assert_int_eq(tn_csv_next(r, &row), 0);
	ck_assert_int_eq(tn_csv_next(r, &row), 0);
	tn_csv_close(r);

	r = reader("");
	ck_assert_int_eq(tn_csv_next(r, &row), 0);
	tn_csv_close(r);
	r = reader("\n\r\n\n");
	ck_assert_int_eq(tn_csv_next(r, &row), 0);
	tn_csv_close(r);
	/* an empty quoted field alone is a row, not a blank line */
	r = reader("\"\"\n,\n");
	ck_assert_str_eq(next_joined(r, &row, buf, sizeof buf), "");
	ck_assert_uint_eq(row.n, 1);
	ck_assert_str_eq(next_joined(r, &row, buf, sizeof buf), "|");
	tn_csv_close(r);
}
END_TEST

/* The first row with a fault (text of len bytes, 0: strlen) has this one. */
static void fault_is_n(const char *text, size_t len, size_t field, uint64_t line, const char *what)
{
	struct tn_csv_reader *r = NULL;
	struct tn_csv_row row;

	ck_assert_int_eq(tn_csv_open_buffer(text, len ? len : strlen(text), "t.csv", &r), 0);
	do
		ck_assert_int_eq(tn_csv_next(r, &row), 1);
	while (!row.fault);
	ck_assert_str_eq(row.fault->what, what);
	ck_assert_uint_eq(row.fault->field, field);
	ck_assert_uint_eq(row.fault->line, line);
	tn_csv_close(r);
}

static void fault_is(const char *text, size_t field, uint64_t line, const char *what)
{
	fault_is_n(text, 0, field, line, what);
}

START_TEST(reader_faults)
{
	struct tn_csv_reader *r;
	struct tn_csv_row row;
	char buf[256];

	fault_is("a,12\" pipe,c\n", 2, 1,
		 "expected a field in quotes when it holds a quote, got "
		 "\"12\\\" pipe\"");
	fault_is("a,\"b\"x,c\n", 2, 1,
		 "expected a comma or end of line after the closing quote, got \"x\"");
	fault_is("ok\na,\"open\nand on\n", 2, 2, "expected a closing quote, got end of file");
	fault_is_n("a,b\0c\n", 6, 2, 1, "expected text, got a NUL byte");
	fault_is_n("a,\"b\0c\"\n", 8, 2, 1, "expected text, got a NUL byte");
	/* only the first fault of a row */
	fault_is("a\",\"b\"x\n", 1, 1,
		 "expected a field in quotes when it holds a quote, got \"a\\\"\"");

	/* the reader goes on after a fault: the next row is fine */
	r = reader("h\na,\"b\"x,c\nd,e,f\n");
	ck_assert_str_eq(next_joined(r, &row, buf, sizeof buf), "h");
	ck_assert_int_eq(tn_csv_next(r, &row), 1);
	ck_assert_ptr_nonnull(row.fault);
	ck_assert_str_eq(next_joined(r, &row, buf, sizeof buf), "d|e|f");
	ck_assert_ptr_null(row.fault);
	ck_assert_uint_eq(row.line, 3);
	tn_csv_close(r);

	/* bounds: a field too long, too many fields */
	size_t big = TN_CSV_MAX_FIELD + 10;
	char *text = malloc(big + 16);
	memcpy(text, "x,", 2);
	memset(text + 2, 'y', big);
	strcpy(text + 2 + big, "\nz\n");
	r = reader(text);
	ck_assert_int_eq(tn_csv_next(r, &row), 1);
	ck_assert_ptr_nonnull(row.fault);
	ck_assert_str_eq(row.fault->what, "expected at most 65536 bytes, got more");
	ck_assert_uint_eq(row.fault->field, 2);
	ck_assert_uint_eq(row.len[1], TN_CSV_MAX_FIELD);
	ck_assert_str_eq(next_joined(r, &row, buf, sizeof buf), "z");
	tn_csv_close(r);
	free(text);

	text = malloc(4 * 200 + 16);
	size_t o = 0;
	for (int i = 0; i < 200; i++)
		o += (size_t)sprintf(text + o, "%s%d", i ? "," : "", i % 10);
	strcpy(text + o, "\nnext\n");
	r = reader(text);
	ck_assert_int_eq(tn_csv_next(r, &row), 1);
	ck_assert_ptr_nonnull(row.fault);
	ck_assert_str_eq(row.fault->what, "expected at most 64 fields, got more");
	ck_assert_uint_eq(row.fault->field, 65);
	ck_assert_uint_eq(row.n, 64);
	ck_assert_str_eq(next_joined(r, &row, buf, sizeof buf), "next");
	tn_csv_close(r);
	free(text);
}
END_TEST

/* A FILE* read in blocks: fields and quotes across the 1 MiB block boundary. */
START_TEST(reader_file_blocks)
{
	FILE *f = tmpfile();
	struct tn_csv_reader *r = NULL;
	struct tn_csv_row row;
	size_t rows = 0, quoted = 0;

	ck_assert_ptr_nonnull(f);
	for (int i = 0; i < 60000; i++)
		fprintf(f, "id%d,\"name, \"\"%d\"\"\",%d\r\n", i, i, i * 7);
	rewind(f);
	ck_assert_int_eq(tn_csv_open_file(f, "big.csv", &r), 0);
	while (tn_csv_next(r, &row) == 1) {
		char want[64];
		ck_assert_ptr_null(row.fault);
		ck_assert_uint_eq(row.n, 3);
		snprintf(want, sizeof want, "name, \"%zu\"", rows);
		if (strcmp(row.field[1], want) != 0)
			ck_abort_msg("row %zu: %s", rows, row.field[1]);
		quoted += row.quoted_any;
		ck_assert_uint_eq(row.line, rows + 1);
		rows++;
	}
	ck_assert_uint_eq(rows, 60000);
	ck_assert_uint_eq(quoted, 60000);
	tn_csv_close(r);
	fclose(f);
}
END_TEST

START_TEST(quote_values)
{
	char buf[128];

	ck_assert_str_eq(tn_csv_quote("plain", 5, buf, sizeof buf), "\"plain\"");
	ck_assert_str_eq(tn_csv_quote("a\"b\\c\nd\x7f", 8, buf, sizeof buf),
			 "\"a\\\"b\\\\c\\x0ad\\x7f\"");
	ck_assert_str_eq(tn_csv_quote("caf\xc3\xa9 \xff", 7, buf, sizeof buf),
			 "\"caf\xc3\xa9 \\xff\"");
	char lng[200];
	memset(lng, 'x', sizeof lng);
	tn_csv_quote(lng, sizeof lng, buf, sizeof buf);
	ck_assert_uint_eq(strlen(buf), 1 + 80 + 3 + 1);
	ck_assert_str_eq(buf + 81, "...\"");
	ck_assert_str_eq(tn_csv_quote("", 0, buf, sizeof buf), "\"\"");
	ck_assert_str_eq(tn_csv_quote("abcdefgh", 8, buf, 10), "\"abcd...\"");
}
END_TEST

/* ---- the loader ------------------------------------------------------------ */

struct seen {
	int assets, deps, progress_done;
	char log[1024];
};

static int on_asset(void *ctx, const struct tn_asset *a, const struct tn_csv_row *row)
{
	struct seen *s = ctx;
	size_t o = strlen(s->log);

	s->assets++;
	ck_assert_uint_eq(row->n, 11);
	snprintf(s->log + o, sizeof s->log - o, "A:%s@%s ", a->id, row->field[4]);
	return 0;
}

static int on_dep(void *ctx, const struct tn_dependency *d, const struct tn_csv_row *row)
{
	struct seen *s = ctx;
	size_t o = strlen(s->log);

	s->deps++;
	ck_assert_uint_eq(row->n, 5);
	snprintf(s->log + o, sizeof s->log - o, "D:%s>%s:%d:%d ", d->dependent, d->provider,
		 (int)d->delay_min_s, (int)d->delay_max_s);
	return 0;
}

static void on_progress(void *ctx, const char *file, uint64_t rows, bool done)
{
	struct seen *s = ctx;
	(void)file;
	(void)rows;
	s->progress_done += done;
}

/* Load two texts; returns the code, errs filled, *g set when 0. */
static int load(const char *assets, const char *deps, struct tn_graph **g,
		struct tn_csv_errors *errs, struct seen *seen)
{
	struct tn_csv_reader *ra = NULL, *rd = NULL;
	struct tn_registry_csv_sink sink = {on_asset, on_dep, on_progress, seen};
	int rc;

	ck_assert_int_eq(tn_csv_open_buffer(assets, strlen(assets), "assets.csv", &ra), 0);
	ck_assert_int_eq(tn_csv_open_buffer(deps, strlen(deps), "deps.csv", &rd), 0);
	tn_csv_errors_init(errs);
	rc = tn_registry_csv_read(ra, rd, seen ? &sink : NULL, g, errs);
	tn_csv_close(ra);
	tn_csv_close(rd);
	return rc;
}

static const char *valid_assets =
	AH "sub-1,energy,substation,\"Bow, \"\"Common\"\" 33kV\",51.5226,-0.0196,E09000030,1,"
	   "45000,0,official-sensitive\n"
	   "pump-7,water,pumping-station,Abbey Mills,51.5312,0.0035,E09000025,2,120000,1800,"
	   "official\n"
	   "hosp:royal.london,health,hospital,,51.5186,-0.0590,E09000030,1,300000,86400,public\n";

START_TEST(load_valid)
{
	struct tn_graph *g = NULL;
	struct tn_csv_errors errs;
	struct seen seen = {0};
	const struct tn_graph_edge *e;
	int rc = load(valid_assets,
		      DH "pump-7,sub-1,power,,\n"
			 "hosp:royal.london,pump-7,water,3600,14400\n"
			 "hosp:royal.london,sub-1,power,0,+60\n"
			 "sub-1,hosp:royal.london,staff,,\n",
		      &g, &errs, &seen);

	tn_csv_errors_print(&errs, stderr, "unexpected: ");
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(errs.total, 0);
	ck_assert_uint_eq(tn_graph_size(g), 3);
	ck_assert_uint_eq(tn_graph_edges(g), 4);
	const struct tn_asset *a = tn_graph_asset(g, 0);
	ck_assert_str_eq(a->name, "Bow, \"Common\" 33kV");
	ck_assert_int_eq(a->sector, TN_SECTOR_ENERGY);
	ck_assert(a->lat == 51.5226 && a->lon == -0.0196);
	ck_assert_int_eq(a->criticality, 1);
	ck_assert_int_eq(a->population, 45000);
	ck_assert_int_eq(a->sensitivity, TN_SENS_OFFICIAL_SENSITIVE);
	a = tn_graph_asset(g, 2);
	ck_assert_str_eq(a->id, "hosp:royal.london");
	ck_assert_str_eq(a->name, "");
	ck_assert_int_eq(a->backup_s, 86400);
	ck_assert_uint_eq(tn_graph_providers(g, 1, &e), 1);
	ck_assert_int_eq(e[0].delay_min_s, 1800); /* derived */
	ck_assert_int_eq(e[0].delay_max_s, 2100);
	ck_assert_uint_eq(tn_graph_providers(g, 2, &e), 2);
	ck_assert_int_eq(e[1].delay_max_s, 60);
	ck_assert_uint_eq(tn_graph_dependents(g, 2, &e), 1);
	ck_assert_uint_eq(e[0].other, 0);

	ck_assert_int_eq(seen.assets, 3);
	ck_assert_int_eq(seen.deps, 4);
	ck_assert_int_eq(seen.progress_done, 2);
	ck_assert_str_eq(seen.log,
			 "A:sub-1@51.5226 A:pump-7@51.5312 A:hosp:royal.london@51.5186 "
			 "D:pump-7>sub-1:-1:-1 "
			 "D:hosp:royal.london>pump-7:3600:14400 "
			 "D:hosp:royal.london>sub-1:0:60 D:sub-1>hosp:royal.london:-1:-1 ");
	tn_graph_free(g);
	tn_csv_errors_free(&errs);
}
END_TEST

START_TEST(load_crlf_and_bom)
{
	struct tn_graph *g = NULL;
	struct tn_csv_errors errs;
	int rc = load("\xef\xbb\xbf" TN_ASSETS_CSV_HEADER "\r\n"
		      "a,energy,substation,A,1,2,X1,1,0,0,public\r\n"
		      "b,water,pump,B,1,2,X1,1,0,0,public\r\n",
		      TN_DEPS_CSV_HEADER "\r\nb,a,power,,\r\n", &g, &errs, NULL);

	tn_csv_errors_print(&errs, stderr, "unexpected: ");
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(tn_graph_size(g), 2);
	ck_assert_uint_eq(tn_graph_edges(g), 1);
	ck_assert_str_eq(tn_graph_asset(g, 1)->name, "B");
	tn_graph_free(g);
	tn_csv_errors_free(&errs);
}
END_TEST

/* Exactly these messages, in order. */
static void errors_are(int rc, struct tn_csv_errors *errs, struct tn_graph *g,
		       const char *const *want, size_t n)
{
	bool same = errs->total == n && errs->n == n;

	for (size_t i = 0; same && i < n; i++)
		same = strcmp(errs->msg[i], want[i]) == 0;
	for (size_t i = 0; !same && i < errs->n; i++)
		fprintf(stderr, "  got: %s\n", errs->msg[i]);
	ck_assert_int_eq(rc, TN_EINVAL);
	ck_assert_ptr_null(g);
	ck_assert_uint_eq(errs->total, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_str_eq(errs->msg[i], want[i]);
	tn_csv_errors_free(errs);
}

START_TEST(bad_asset_rows)
{
	struct tn_graph *g = NULL;
	struct tn_csv_errors errs;
	struct seen seen = {0};
	static const char *const want[] = {
		"assets.csv:2:2: sector: expected one of chemicals, civil-nuclear, communications, "
		"defence, emergency-services, energy, finance, food, government, health, space, "
		"transport, water, data, got \"power\"",
		"assets.csv:3:5: lat: expected a number -90..90 (degrees north), got \"91.5\"",
		"assets.csv:3:6: lon: expected a number -180..180 (degrees east), got \"east\"",
		"assets.csv:4:1: id: expected 1-64 of A-Z a-z 0-9 . _ : -, got \"bad id\"",
		"assets.csv:7:8: criticality: expected a whole number 1..5, got \"0\"",
		"assets.csv:7:9: population: expected a whole number >= 0, got \"-1\"",
		"assets.csv:7:10: backup_s: expected a whole number of seconds >= 0, got \"1.5\"",
		"assets.csv:7:11: sensitivity: expected one of public, official, "
		"official-sensitive, got \"secret\"",
		"assets.csv:8:12: row: expected 11 fields, got 12",
		"assets.csv:9:7: area: expected 11 fields, got 6",
		"assets.csv:10:3: kind: expected 1-64 bytes of text without control characters, "
		"got \"\"",
		"assets.csv:10:7: area: expected 1-64 of A-Z a-z 0-9 . _ : -, got \"North/East\"",
		"assets.csv:11:1: id: duplicate id \"ok-1\", first on line 5",
		"assets.csv:12:5: lat: expected a number -90..90 (degrees north), got \" 51.5\"",
		"assets.csv:12:6: lon: expected a number -180..180 (degrees east), got \"nan\"",
		"assets.csv:13:4: name: expected a field in quotes when it holds a quote, got "
		"\"12\\\" main\"",
		"assets.csv:15:4: name: expected 0-256 bytes of text without control characters, "
		"got \"two\\x0alines\"",
	};
	int rc = load(AH "x1,power,substation,S,51.5,-0.1,A1,1,0,0,public\n"              /* 2 */
			 "x2,energy,substation,S,91.5,east,A1,1,0,0,public\n"             /* 3 */
			 "bad id,energy,substation,S,1,1,A1,1,0,0,public\n"               /* 4 */
			 "ok-1,energy,substation,S,1,1,A1,1,0,0,public\n"                 /* 5 */
			 "ok-2,energy,substation,S,-90,180,A1,5,0,0,public\n"             /* 6 */
			 "x3,energy,substation,S,1,1,A1,0,-1,1.5,secret\n"                /* 7 */
			 "x4,energy,substation,S,1,1,A1,1,0,0,public,extra\n"             /* 8 */
			 "x5,energy,substation,S,1,1\n"                                   /* 9 */
			 "x6,energy,,S,1,1,North/East,1,0,0,public\n"                     /* 10 */
			 "ok-1,energy,substation,S,1,1,A1,1,0,0,public\n"                 /* 11 */
			 "x7,energy,substation,S, 51.5,nan,A1,1,0,0,public\n"             /* 12 */
			 "x8,energy,substation,12\" main,1,1,A1,1,0,0,public\n"           /* 13 */
			 "ok-3,energy,substation,,1e1,-1.5E+2,A1,1,0,2147483647,public\n" /* 14 */
			 "x9,energy,substation,\"two\nlines\",1,1,A1,1,0,0,public\n",     /* 15 */
		      DH, &g, &errs, &seen);

	ck_assert_int_eq(seen.assets, 0); /* the first row is bad: the sink hears nothing */
	errors_are(rc, &errs, g, want, sizeof want / sizeof want[0]);
}
END_TEST

START_TEST(bad_dependency_rows)
{
	struct tn_graph *g = NULL;
	struct tn_csv_errors errs;
	static const char *const want[] = {
		"deps.csv:2:2: provider: expected the id of an asset of assets.csv, got \"nope\"",
		"deps.csv:3:1: dependent: expected 1-64 of A-Z a-z 0-9 . _ : -, got \"a b\"",
		"deps.csv:4:2: provider: expected an asset other than the dependent, got \"b\"",
		"deps.csv:5:3: kind: expected one of power, water, communications, transport, "
		"fuel, "
		"gas, data, staff, other, got \"Power\"",
		"deps.csv:6:4: delay_min_s: expected a whole number of seconds >= 0, or empty, got "
		"\"-5\"",
		"deps.csv:7:4: delay_min_s: expected a whole number of seconds >= 0 when "
		"delay_max_s is given, got \"\"",
		"deps.csv:8:5: delay_max_s: expected a whole number of seconds >= delay_min_s when "
		"delay_min_s is given, got \"\"",
		"deps.csv:9:5: delay_max_s: expected a whole number of seconds >= delay_min_s "
		"(60), "
		"got \"59\"",
		"deps.csv:11:3: kind: duplicate dependency of \"b\" on \"a\" for power, first on "
		"line "
		"10",
		"deps.csv:12:5: delay_max_s: expected 5 fields, got 4",
		"deps.csv:13:6: row: expected 5 fields, got 6",
		"deps.csv:14:2: provider: expected a comma or end of line after the closing quote, "
		"got \"x\"",
	};
	int rc = load(AH "a,energy,substation,A,1,2,X1,1,0,0,public\n"
			 "b,water,pump,B,1,2,X1,1,0,0,public\n"
			 "c,water,pump,C,1,2,X1,1,0,0,secret\n", /* refused: quiet about c below */
		      DH "b,nope,power,,\n"                      /* 2 */
			 "a b,a,power,,\n"                       /* 3 */
			 "b,b,power,,\n"                         /* 4 */
			 "b,a,Power,,\n"                         /* 5 */
			 "b,a,power,-5,\n"                       /* 6 */
			 "b,a,power,,60\n"                       /* 7 */
			 "b,a,power,60,\n"                       /* 8 */
			 "b,a,power,60,59\n"                     /* 9 */
			 "b,a,power,,\n"                         /* 10 */
			 "b,a,power,0,0\n"                       /* 11 */
			 "b,a,water,0\n"                         /* 12 */
			 "b,a,water,0,1,2\n"                     /* 13 */
			 "b,\"a\"x,water,0,1\n"                  /* 14 */
			 "c,a,water,,\n"  /* 15: c was refused: said already */
			 "a,c,water,,\n"  /* 16 */
			 "a,b,water,,\n", /* 17: fine, a cycle */
		      &g, &errs, NULL);

	/* c's own row is the first message */
	ck_assert_uint_eq(errs.total, 13);
	ck_assert_str_eq(errs.msg[0], "assets.csv:4:11: sensitivity: expected one of public, "
				      "official, official-sensitive, got \"secret\"");
	free(errs.msg[0]);
	memmove(errs.msg, errs.msg + 1, (errs.n - 1) * sizeof errs.msg[0]);
	errs.n--;
	errs.total--;
	errors_are(rc, &errs, g, want, sizeof want / sizeof want[0]);
}
END_TEST

START_TEST(all_errors_collected)
{
	struct tn_graph *g = NULL;
	struct tn_csv_errors errs;
	size_t size = 300 * 64 + 256, o = 0;
	char *assets = malloc(size);
	char *printed = NULL;
	size_t printed_len = 0;

	o += (size_t)snprintf(assets + o, size - o, AH);
	for (int i = 0; i < 300; i++)
		o += (size_t)snprintf(assets + o, size - o, "a%d,energy,s,S,1,2,X1,%d,0,0,public\n",
				      i, i % 2 ? 1 : 9);
	int rc = load(assets, DH, &g, &errs, NULL);
	ck_assert_int_eq(rc, TN_EINVAL);
	ck_assert_ptr_null(g);
	ck_assert_uint_eq(errs.total, 150);
	ck_assert_uint_eq(errs.n, TN_CSV_ERRORS_MAX);
	ck_assert_str_eq(errs.msg[0],
			 "assets.csv:2:8: criticality: expected a whole number 1..5, got \"9\"");
	ck_assert_str_eq(errs.msg[99],
			 "assets.csv:200:8: criticality: expected a whole number 1..5, got \"9\"");

	FILE *f = open_memstream(&printed, &printed_len);
	tn_csv_errors_print(&errs, f, "tocsin: ");
	fclose(f);
	ck_assert_ptr_nonnull(strstr(printed, "tocsin: assets.csv:2:8: criticality"));
	ck_assert_ptr_nonnull(strstr(printed, "\ntocsin: ... and 50 more errors\n"));
	free(printed);
	tn_csv_errors_free(&errs);
	ck_assert_uint_eq(errs.total, 0);
	free(assets);
}
END_TEST

START_TEST(headers)
{
	struct tn_graph *g = NULL;
	struct tn_csv_errors errs;
	const char *one[1];
	int rc;

	rc = load("id,sector,knd,name,lat,lon,area,criticality,population,backup_s,sensitivity\n"
		  "a,energy,s,S,1,2,X1,1,0,0,public\n",
		  DH "a,b,power,,\n", &g, &errs, NULL);
	/* the assets' columns cannot be trusted: no row is read, and the
	 * dependencies on its assets are not reported one by one */
	one[0] = "assets.csv:1:3: header: expected \"kind\" (the header is " TN_ASSETS_CSV_HEADER
		 "), got \"knd\"";
	errors_are(rc, &errs, g, one, 1);

	rc = load(valid_assets, TN_DEPS_CSV_HEADER ",note\n", &g, &errs, NULL);
	one[0] = "deps.csv:1:6: header: expected 5 fields (" TN_DEPS_CSV_HEADER "), got 6";
	errors_are(rc, &errs, g, one, 1);

	rc = load(valid_assets, "dependent,provider\n", &g, &errs, NULL);
	one[0] = "deps.csv:1:3: header: expected 5 fields (" TN_DEPS_CSV_HEADER "), got 2";
	errors_are(rc, &errs, g, one, 1);

	rc = load("", DH, &g, &errs, NULL);
	one[0] = "assets.csv:1:1: header: expected \"" TN_ASSETS_CSV_HEADER "\", got an empty file";
	errors_are(rc, &errs, g, one, 1);

	rc = load(valid_assets, "\r\n", &g, &errs, NULL);
	one[0] = "deps.csv:1:1: header: expected \"" TN_DEPS_CSV_HEADER "\", got an empty file";
	errors_are(rc, &errs, g, one, 1);

	rc = load("ID,sector\n", DH, &g, &errs, NULL);
	one[0] = "assets.csv:1:1: header: expected \"id\" (the header is " TN_ASSETS_CSV_HEADER
		 "), got \"ID\"";
	errors_are(rc, &errs, g, one, 1);

	/* headers only: an empty registry is valid */
	rc = load(AH, DH, &g, &errs, NULL);
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(tn_graph_size(g), 0);
	tn_graph_free(g);
	tn_csv_errors_free(&errs);
}
END_TEST

static int stop_at_second(void *ctx, const struct tn_asset *a, const struct tn_csv_row *row)
{
	int *n = ctx;
	(void)a;
	(void)row;
	return ++*n == 2 ? TN_EIO : 0;
}

START_TEST(sink_stops)
{
	struct tn_csv_reader *ra = NULL, *rd = NULL;
	struct tn_csv_errors errs = {0};
	struct tn_graph *g = NULL;
	int n = 0;
	struct tn_registry_csv_sink sink = {.asset = stop_at_second, .ctx = &n};

	ck_assert_int_eq(tn_csv_open_buffer(valid_assets, strlen(valid_assets), "a", &ra), 0);
	ck_assert_int_eq(tn_csv_open_buffer(DH, strlen(DH), "d", &rd), 0);
	ck_assert_int_eq(tn_registry_csv_read(ra, rd, &sink, &g, &errs), TN_EIO);
	ck_assert_ptr_null(g);
	ck_assert_int_eq(n, 2);
	tn_csv_close(ra);
	tn_csv_close(rd);
	tn_csv_errors_free(&errs);
	ck_assert_int_eq(tn_registry_csv_read(NULL, rd, NULL, &g, &errs), TN_EINVAL);

	/* check only */
	ck_assert_int_eq(tn_csv_open_buffer(valid_assets, strlen(valid_assets), "a", &ra), 0);
	ck_assert_int_eq(tn_csv_open_buffer(DH, strlen(DH), "d", &rd), 0);
	ck_assert_uint_eq(tn_csv_size(ra), strlen(valid_assets));
	ck_assert_int_eq(tn_registry_csv_read(ra, rd, NULL, NULL, &errs), 0);
	ck_assert_uint_eq(errs.total, 0);
	tn_csv_close(ra);
	tn_csv_close(rd);
}
END_TEST

static char *write_tmp(const char *text)
{
	char *path = strdup("/tmp/test_registry_csv.XXXXXX");
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

START_TEST(load_paths)
{
	char *pa = write_tmp(valid_assets);
	char *pd = write_tmp(DH "pump-7,sub-1,power,,\n");
	struct tn_csv_errors errs = {0};
	struct tn_graph *g = NULL;
	char want[256];

	ck_assert_int_eq(tn_registry_csv_load(pa, pd, &g, &errs), 0);
	ck_assert_uint_eq(tn_graph_size(g), 3);
	ck_assert_uint_eq(tn_graph_edges(g), 1);
	tn_graph_free(g);

	ck_assert_int_eq(tn_registry_csv_load("/nonexistent/assets.csv", pd, &g, &errs), TN_EIO);
	ck_assert_ptr_null(g);
	ck_assert_uint_eq(errs.total, 1);
	ck_assert_str_eq(errs.msg[0],
			 "/nonexistent/assets.csv: cannot open: No such file or directory");
	tn_csv_errors_free(&errs);

	unlink(pd); /* the same name, now missing */
	ck_assert_int_eq(tn_registry_csv_load(pa, pd, &g, &errs), TN_EIO);
	snprintf(want, sizeof want, "%s: cannot open: No such file or directory", pd);
	ck_assert_str_eq(errs.msg[0], want);
	tn_csv_errors_free(&errs);

	/* messages name the file as given */
	char *bad = write_tmp(AH "x,energy,s,S,100,2,X1,1,0,0,public\n");
	free(pd);
	pd = write_tmp(DH);
	ck_assert_int_eq(tn_registry_csv_load(bad, pd, &g, &errs), TN_EINVAL);
	snprintf(want, sizeof want,
		 "%s:2:5: lat: expected a number -90..90 (degrees north), got \"100\"", bad);
	ck_assert_str_eq(errs.msg[0], want);
	tn_csv_errors_free(&errs);
	unlink(pa);
	unlink(pd);
	unlink(bad);
	free(pa);
	free(pd);
	free(bad);
}
END_TEST

static Suite *registry_csv_suite(void)
{
	Suite *s = suite_create("registry_csv");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, reader_rfc4180);
	tcase_add_test(tc, reader_faults);
	tcase_add_test(tc, reader_file_blocks);
	tcase_add_test(tc, quote_values);
	tcase_add_test(tc, load_valid);
	tcase_add_test(tc, load_crlf_and_bom);
	tcase_add_test(tc, bad_asset_rows);
	tcase_add_test(tc, bad_dependency_rows);
	tcase_add_test(tc, all_errors_collected);
	tcase_add_test(tc, headers);
	tcase_add_test(tc, sink_stops);
	tcase_add_test(tc, load_paths);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(registry_csv_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
