/*
 * cmd_send.c - `tocsin send FILE`: send events from a CSV or JSON lines file
 * to a running server through the adapter SDK, and print each result.
 *
 *   tocsin send FILE [--endpoint E] [--server-key FILE.pub] [--key BASE]
 *                    [--insecure] [--batch N] [--timeout-ms T]
 *
 * CSV: a header row names the columns, in any order: id, source, type, time,
 * sector, asset, severity, summary, lat, lon, and attr.NAME for a string
 * attribute; id, source, type and time are required. An empty field is an
 * absent optional field. Fields may be quoted ("a, b" with "" for a quote).
 * JSON lines: one object per line with the wire keys of design §3.1
 * (attrs an object, geo [lat, lon]). In both, `time` is integer
 * milliseconds since the epoch or ISO 8601 UTC (2026-11-26T16:52:00Z).
 * The format comes from the extension (.csv; .jsonl, .ndjson, .json) or
 * else from the first non-blank character ('{' is JSON lines).
 *
 * The whole file is checked before anything is sent: each bad line is
 * reported as "tocsin: FILE:LINE: what was expected" and then nothing is
 * sent. Results go to stdout, one line each: "ok ID", "dup ID",
 * "err ID CODE message". Exit status: 0 when every event was accepted (ok
 * or dup), 1 when the file was bad, an event was refused or results were
 * still missing at the timeout, 2 on a usage error.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tocsin/adapter.h"

#define MAX_LINE           (1024 * 1024)
#define MAX_COLS           64
#define DEFAULT_TIMEOUT_MS 30000
#define ERR_LEN            512

enum col {
	C_ID,
	C_SOURCE,
	C_TYPE,
	C_TIME,
	C_SECTOR,
	C_ASSET,
	C_SEVERITY,
	C_SUMMARY,
	C_LAT,
	C_LON,
	C_ATTR,
	C__NAMED = C_ATTR
};

static const char *const col_names[C__NAMED] = {"id",    "source",   "type",    "time", "sector",
						"asset", "severity", "summary", "lat",  "lon"};

/* One input file, read a line at a time; the current event's strings point into it. */
struct input {
	const char *path;
	FILE *f;
	bool json;
	unsigned long line;
	char *buf;
	size_t cap;
	/* CSV */
	bool have_header;
	int ncols;
	enum col col[MAX_COLS];
	char *colname[MAX_COLS]; /* owned; for attr.NAME columns the NAME */
	char *field[MAX_COLS];
	/* JSON lines: the current object, owning the strings of the event */
	json_t *obj;
	bool have_time; /* the current event had a time */
	/* the current event's attributes */
	struct tn_attr attrs[TN_WIRE_MAX_ATTRS];
};

/* ---- CSV ------------------------------------------------------------------------- */

/*
 * Split `s` in place into at most max fields (RFC 4180 quoting, one line).
 * Returns the number of fields, or -1 with why set.
 */
static int csv_split(char *s, char **field, int max, const char **why)
{
	int n = 0;

	for (;;) {
		char *out = s;

		if (n == max) {
			*why = "too many fields";
			return -1;
		}
		field[n++] = out;
		if (*s == '"') {
			s++;
			for (;;) {
				if (*s == '\0') {
					*why = "unterminated quoted field";
					return -1;
				}
				if (*s == '"' && s[1] == '"') {
					*out++ = '"';
					s += 2;
				} else if (*s == '"') {
					s++;
					break;
				} else {
					*out++ = *s++;
				}
			}
			if (*s != ',' && *s != '\0') {
				*why = "expected a comma after a closing quote";
				return -1;
			}
		} else {
			while (*s != ',' && *s != '\0') {
				if (*s == '"') {
					*why = "a quote inside an unquoted field (quote the whole "
					       "field)";
					return -1;
				}
				*out++ = *s++;
			}
		}
		if (*s == '\0') {
			*out = '\0';
			return n;
		}
		s++; /* the comma */
		*out = '\0';
	}
}

static int csv_header(struct input *in, char *err, size_t errlen)
{
	const char *why;
	int n = csv_split(in->buf, in->field, MAX_COLS, &why);
	bool have[C__NAMED] = {false};

	if (n < 0) {
		snprintf(err, errlen, "header: %s", why);
		return -1;
	}
	in->ncols = n;
	for (int k = 0; k < n; k++) {
		const char *name = in->field[k];
		int c;

		for (c = 0; c < C__NAMED; c++)
			if (strcmp(name, col_names[c]) == 0)
				break;
		if (c < C__NAMED) {
			if (have[c]) {
				snprintf(err, errlen, "header: column %s given twice", name);
				return -1;
			}
			have[c] = true;
			in->col[k] = (enum col)c;
			continue;
		}
		if (strncmp(name, "attr.", 5) == 0 && name[5]) {
			in->col[k] = C_ATTR;
			in->colname[k] = strdup(name + 5);
			if (!in->colname[k]) {
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			continue;
		}
		snprintf(err, errlen,
			 "header: unknown column \"%.64s\" (expected id, source, type, time, "
			 "sector, asset, severity, summary, lat, lon or attr.NAME)",
			 name);
		return -1;
	}
	for (int c = C_ID; c <= C_TIME; c++)
		if (!have[c]) {
			snprintf(err, errlen, "header: expected a column named %s", col_names[c]);
			return -1;
		}
	if (have[C_LAT] != have[C_LON]) {
		snprintf(err, errlen, "header: lat and lon go together");
		return -1;
	}
	in->have_header = true;
	return 0;
}

static const char *type_list(void)
{
	return "asset.down, asset.degraded, asset.up, asset.alarm or heartbeat";
}

static int parse_type(const char *s, struct tn_event *ev, char *err, size_t errlen)
{
	int t = tn_event_type_parse(s, strlen(s));

	if (t < 0) {
		snprintf(err, errlen, "type: expected %s, got \"%.64s\"", type_list(), s);
		return -1;
	}
	ev->type = (enum tn_event_type)t;
	return 0;
}

static int parse_sector(const char *s, struct tn_event *ev, char *err, size_t errlen)
{
	int sec = tn_sector_parse(s, strlen(s));

	if (sec < 0) {
		snprintf(err, errlen,
			 "sector: expected one of chemicals, civil-nuclear, communications, "
			 "defence, emergency-services, energy, finance, food, government, health, "
			 "space, transport, water, data, got \"%.64s\"",
			 s);
		return -1;
	}
	ev->sector = (enum tn_sector)sec;
	return 0;
}

static int parse_time_str(struct input *in, const char *s, struct tn_event *ev, char *err,
			  size_t errlen)
{
	in->have_time = true;
	if (tn_adapter_parse_time(s, &ev->time_us) != 0) {
		snprintf(err, errlen,
			 "time: expected integer milliseconds since the epoch or ISO 8601 UTC "
			 "like 2026-11-26T16:52:00Z, got \"%.64s\"",
			 s);
		return -1;
	}
	return 0;
}

static int parse_double(const char *name, const char *s, double *out, char *err, size_t errlen)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	if (end == s || *end || errno || !isfinite(*out)) {
		snprintf(err, errlen, "%s: expected a number, got \"%.64s\"", name, s);
		return -1;
	}
	return 0;
}

static int csv_event(struct input *in, struct tn_event *ev, char *err, size_t errlen)
{
	const char *why;
	int n = csv_split(in->buf, in->field, MAX_COLS, &why);
	bool have_lat = false, have_lon = false;

	if (n < 0) {
		snprintf(err, errlen, "%s", why);
		return -1;
	}
	if (n != in->ncols) {
		snprintf(err, errlen, "expected %d fields as in the header, got %d", in->ncols, n);
		return -1;
	}
	for (int k = 0; k < n; k++) {
		char *v = in->field[k];

		if (!*v)
			continue; /* absent */
		switch (in->col[k]) {
		case C_ID:
			ev->id = v;
			break;
		case C_SOURCE:
			ev->source = v;
			break;
		case C_TYPE:
			if (parse_type(v, ev, err, errlen))
				return -1;
			break;
		case C_TIME:
			if (parse_time_str(in, v, ev, err, errlen))
				return -1;
			break;
		case C_SECTOR:
			if (parse_sector(v, ev, err, errlen))
				return -1;
			break;
		case C_ASSET:
			ev->asset = v;
			break;
		case C_SEVERITY:
			if (strlen(v) != 1 || v[0] < '1' || v[0] > '5') {
				snprintf(err, errlen,
					 "severity: expected an integer 1..5, got \"%.64s\"", v);
				return -1;
			}
			ev->severity = v[0] - '0';
			break;
		case C_SUMMARY:
			ev->summary = v;
			break;
		case C_LAT:
			if (parse_double("lat", v, &ev->lat, err, errlen))
				return -1;
			have_lat = true;
			break;
		case C_LON:
			if (parse_double("lon", v, &ev->lon, err, errlen))
				return -1;
			have_lon = true;
			break;
		case C_ATTR:
			if (ev->n_attrs == TN_WIRE_MAX_ATTRS) {
				snprintf(err, errlen, "attrs: at most %d", TN_WIRE_MAX_ATTRS);
				return -1;
			}
			in->attrs[ev->n_attrs].key = in->colname[k];
			in->attrs[ev->n_attrs].kind = TN_ATTR_STR;
			in->attrs[ev->n_attrs].v.s = v;
			ev->n_attrs++;
			break;
		}
	}
	if (have_lat != have_lon) {
		snprintf(err, errlen, "geo: expected both lat and lon, or neither");
		return -1;
	}
	ev->has_geo = have_lat;
	ev->attrs = ev->n_attrs ? in->attrs : NULL;
	return 0;
}

/* ---- JSON lines -------------------------------------------------------------------- */

static int json_str(const char *key, json_t *v, const char **out, char *err, size_t errlen)
{
	if (!json_is_string(v)) {
		snprintf(err, errlen, "%s: expected a string", key);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

static int json_attrs(struct input *in, json_t *v, struct tn_event *ev, char *err, size_t errlen)
{
	const char *k;
	json_t *x;

	if (!json_is_object(v)) {
		snprintf(err, errlen, "attrs: expected an object");
		return -1;
	}
	if (json_object_size(v) > TN_WIRE_MAX_ATTRS) {
		snprintf(err, errlen, "attrs: expected at most %d entries, got %zu",
			 TN_WIRE_MAX_ATTRS, json_object_size(v));
		return -1;
	}
	json_object_foreach (v, k, x) {
		struct tn_attr *at = &in->attrs[ev->n_attrs];

		at->key = k;
		if (json_is_string(x)) {
			at->kind = TN_ATTR_STR;
			at->v.s = json_string_value(x);
		} else if (json_is_integer(x)) {
			at->kind = TN_ATTR_INT;
			at->v.i = json_integer_value(x);
		} else if (json_is_real(x)) {
			at->kind = TN_ATTR_FLOAT;
			at->v.f = json_real_value(x);
		} else if (json_is_boolean(x)) {
			at->kind = TN_ATTR_BOOL;
			at->v.b = json_is_true(x);
		} else {
			snprintf(
			    err, errlen,
			    "attrs.%.64s: expected a string, an integer, a number or a boolean", k);
			return -1;
		}
		ev->n_attrs++;
	}
	ev->attrs = ev->n_attrs ? in->attrs : NULL;
	return 0;
}

static int json_event(struct input *in, struct tn_event *ev, char *err, size_t errlen)
{
	json_error_t je;
	const char *key;
	json_t *v;

	json_decref(in->obj);
	in->obj = json_loads(in->buf, JSON_REJECT_DUPLICATES, &je);
	if (!in->obj) {
		snprintf(err, errlen, "expected a JSON object: %s (column %d)", je.text, je.column);
		return -1;
	}
	if (!json_is_object(in->obj)) {
		snprintf(err, errlen, "expected a JSON object");
		return -1;
	}
	json_object_foreach (in->obj, key, v) {
		int rc = 0;
		const char *s;

		if (strcmp(key, "id") == 0) {
			rc = json_str(key, v, &ev->id, err, errlen);
		} else if (strcmp(key, "source") == 0) {
			rc = json_str(key, v, &ev->source, err, errlen);
		} else if (strcmp(key, "asset") == 0) {
			rc = json_str(key, v, &ev->asset, err, errlen);
		} else if (strcmp(key, "summary") == 0) {
			rc = json_str(key, v, &ev->summary, err, errlen);
		} else if (strcmp(key, "type") == 0) {
			rc = json_str(key, v, &s, err, errlen) || parse_type(s, ev, err, errlen);
		} else if (strcmp(key, "sector") == 0) {
			rc = json_str(key, v, &s, err, errlen) || parse_sector(s, ev, err, errlen);
		} else if (strcmp(key, "time") == 0) {
			if (json_is_integer(v)) {
				json_int_t ms = json_integer_value(v);
				if (ms < 0 || ms > INT64_MAX / 1000) {
					snprintf(err, errlen,
						 "time: expected milliseconds since the epoch, got "
						 "%lld",
						 (long long)ms);
					return -1;
				}
				ev->time_us = (int64_t)ms * 1000;
				in->have_time = true;
			} else if (json_is_string(v)) {
				rc = parse_time_str(in, json_string_value(v), ev, err, errlen);
			} else {
				snprintf(
				    err, errlen,
				    "time: expected integer milliseconds or an ISO 8601 string");
				return -1;
			}
		} else if (strcmp(key, "severity") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 1 ||
			    json_integer_value(v) > 5) {
				snprintf(err, errlen, "severity: expected an integer 1..5");
				return -1;
			}
			ev->severity = (int)json_integer_value(v);
		} else if (strcmp(key, "geo") == 0) {
			if (!json_is_array(v) || json_array_size(v) != 2 ||
			    !json_is_number(json_array_get(v, 0)) ||
			    !json_is_number(json_array_get(v, 1))) {
				snprintf(err, errlen, "geo: expected [lat, lon], two numbers");
				return -1;
			}
			ev->has_geo = true;
			ev->lat = json_number_value(json_array_get(v, 0));
			ev->lon = json_number_value(json_array_get(v, 1));
		} else if (strcmp(key, "attrs") == 0) {
			rc = json_attrs(in, v, ev, err, errlen);
		} else {
			snprintf(err, errlen,
				 "unknown key \"%.64s\" (expected id, source, type, time, sector, "
				 "asset, severity, summary, geo, attrs; extras go in attrs)",
				 key);
			return -1;
		}
		if (rc)
			return -1;
	}
	return 0;
}

/* ---- the input file ------------------------------------------------------------------ */

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int input_open(struct input *in, const char *path, char *err, size_t errlen)
{
	memset(in, 0, sizeof *in);
	in->path = path;
	in->f = fopen(path, "r");
	if (!in->f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (ends_with(path, ".csv")) {
		in->json = false;
	} else if (ends_with(path, ".jsonl") || ends_with(path, ".ndjson") ||
		   ends_with(path, ".json")) {
		in->json = true;
	} else {
		int c;
		while ((c = fgetc(in->f)) != EOF &&
		       (c == ' ' || c == '\t' || c == '\r' || c == '\n'))
			;
		in->json = c == '{';
		rewind(in->f);
	}
	return 0;
}

static void input_rewind(struct input *in)
{
	rewind(in->f);
	in->line = 0;
	in->have_header = false;
	for (int k = 0; k < MAX_COLS; k++) {
		free(in->colname[k]);
		in->colname[k] = NULL;
	}
}

static void input_close(struct input *in)
{
	input_rewind(in);
	json_decref(in->obj);
	free(in->buf);
	if (in->f)
		fclose(in->f);
}

/* Read one line without its end; skips blank lines. 1 line, 0 end of file, -1 error. */
static int read_line(struct input *in, char *err, size_t errlen)
{
	for (;;) {
		ssize_t n = getline(&in->buf, &in->cap, in->f);
		char *p;

		if (n < 0) {
			if (ferror(in->f)) {
				snprintf(err, errlen, "read: %s", strerror(errno));
				return -1;
			}
			return 0;
		}
		in->line++;
		if (n > MAX_LINE) {
			snprintf(err, errlen, "line longer than %d bytes", MAX_LINE);
			return -1;
		}
		if ((size_t)n != strlen(in->buf)) {
			snprintf(err, errlen, "a NUL byte in the line");
			return -1;
		}
		while (n > 0 && (in->buf[n - 1] == '\n' || in->buf[n - 1] == '\r'))
			in->buf[--n] = '\0';
		if (in->line == 1 && (unsigned char)in->buf[0] == 0xef &&
		    (unsigned char)in->buf[1] == 0xbb && (unsigned char)in->buf[2] == 0xbf)
			memmove(in->buf, in->buf + 3, (size_t)n - 2); /* UTF-8 byte order mark */
		for (p = in->buf; *p == ' ' || *p == '\t'; p++)
			;
		if (*p)
			return 1;
	}
}

/*
 * The next event into *ev: 1, 0 at the end, -1 for a bad line (err says
 * why; in->line is its number) and -2 when reading cannot go on.
 */
static int input_next(struct input *in, struct tn_event *ev, char *err, size_t errlen)
{
	char msg[ERR_LEN];
	int rc;

	for (;;) {
		rc = read_line(in, err, errlen);
		if (rc <= 0)
			return rc < 0 ? -2 : 0;
		if (in->json || in->have_header)
			break;
		if (csv_header(in, err, errlen) != 0)
			return -2;
	}
	memset(ev, 0, sizeof *ev);
	in->have_time = false;
	ev->sector = TN_SECTOR_NONE;
	ev->type = TN_EV__COUNT; /* "absent", caught below */
	rc = in->json ? json_event(in, ev, err, errlen) : csv_event(in, ev, err, errlen);
	if (rc)
		return -1;
	if (ev->type == TN_EV__COUNT) {
		snprintf(err, errlen, "type: required, one of %s", type_list());
		return -1;
	}
	if (!in->have_time) {
		snprintf(err, errlen,
			 "time: required, integer milliseconds or ISO 8601 UTC like "
			 "2026-11-26T16:52:00Z");
		return -1;
	}
	if (tn_adapter_validate(ev, msg, sizeof msg) != 0) {
		snprintf(err, errlen, "%s", msg);
		return -1;
	}
	return 1;
}

/* ---- sending ------------------------------------------------------------------------ */

struct tally {
	size_t ok, dup, err;
};

static void print_result(void *ud, const char *id, int status, const char *code, const char *msg)
{
	struct tally *t = ud;

	if (status == TN_ADAPTER_OK) {
		t->ok++;
		printf("ok %s\n", id);
	} else if (status == TN_ADAPTER_DUP) {
		t->dup++;
		printf("dup %s\n", id);
	} else {
		t->err++;
		printf("err %s %s %s\n", id, code, msg);
	}
	fflush(stdout);
}

static int usage(const char *why)
{
	if (why)
		fprintf(stderr, "tocsin: send: %s\n", why);
	fprintf(stderr,
		"usage: tocsin send FILE [--endpoint E] [--server-key FILE.pub] [--key BASE]\n"
		"                        [--insecure] [--batch N] [--timeout-ms T]\n");
	return 2;
}

static bool parse_int(const char *s, long lo, long hi, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 10);
	return end != s && !*end && !errno && *out >= lo && *out <= hi;
}

int tn__cmd_send(int argc, char **argv, const struct tn_cli *cli)
{
	struct tn_adapter_options o;
	struct tn_adapter *a = NULL;
	struct tally t = {0};
	struct input in;
	struct tn_event ev;
	const char *file = NULL, *server_key = NULL, *key = NULL;
	char err[ERR_LEN];
	long batch = TN_ADAPTER_DEFAULT_BATCH, timeout_ms = DEFAULT_TIMEOUT_MS;
	size_t n_events = 0, n_bad = 0;
	int rc, status = 0;

	(void)cli;
	tn_adapter_options_init(&o);
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		bool has_value = i + 1 < argc;

		if (strcmp(arg, "--endpoint") == 0 && has_value) {
			o.endpoint = argv[++i];
		} else if (strcmp(arg, "--server-key") == 0 && has_value) {
			server_key = argv[++i];
		} else if (strcmp(arg, "--key") == 0 && has_value) {
			key = argv[++i];
		} else if (strcmp(arg, "--insecure") == 0) {
			o.insecure = true;
		} else if (strcmp(arg, "--batch") == 0 && has_value) {
			if (!parse_int(argv[++i], 1, TN_WIRE_MAX_BATCH, &batch))
				return usage("--batch: expected an integer 1..1000");
		} else if (strcmp(arg, "--timeout-ms") == 0 && has_value) {
			if (!parse_int(argv[++i], 1, 24L * 3600 * 1000, &timeout_ms))
				return usage("--timeout-ms: expected a positive integer");
		} else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			usage(NULL);
			return 0;
		} else if (arg[0] == '-' && arg[1] != '\0') {
			snprintf(err, sizeof err, "unknown option or missing value: %s", arg);
			return usage(err);
		} else if (!file) {
			file = arg;
		} else {
			return usage("one FILE only");
		}
	}
	if (!file)
		return usage("FILE required");
	if (!o.insecure && (!server_key || !key))
		return usage("--server-key and --key required (or --insecure on loopback)");
	o.max_batch = (unsigned)batch;

	/* First pass: the whole file must be good before anything is sent. */
	if (input_open(&in, file, err, sizeof err) != 0) {
		fprintf(stderr, "tocsin: %s\n", err);
		return 1;
	}
	while ((rc = input_next(&in, &ev, err, sizeof err)) != 0) {
		if (rc == -2) {
			fprintf(stderr, "tocsin: %s:%lu: %s\n", file, in.line ? in.line : 1, err);
			input_close(&in);
			return 1;
		}
		if (rc < 0) {
			fprintf(stderr, "tocsin: %s:%lu: %s\n", file, in.line, err);
			n_bad++;
			continue;
		}
		n_events++;
	}
	if (!in.json && !in.have_header) {
		fprintf(stderr, "tocsin: %s:1: expected a header line naming the columns\n", file);
		n_bad++;
	}
	if (n_bad) {
		fprintf(stderr, "tocsin: %s: %zu bad line%s, nothing sent\n", file, n_bad,
			n_bad == 1 ? "" : "s");
		input_close(&in);
		return 1;
	}
	if (n_events == 0) {
		fprintf(stderr, "tocsin: %s: no events\n", file);
		input_close(&in);
		return 0;
	}

	if (!o.insecure && tn_adapter_options_keys(&o, server_key, key, err, sizeof err) != 0) {
		fprintf(stderr, "tocsin: %s\n", err);
		input_close(&in);
		return 1;
	}
	o.on_result = print_result;
	o.ud = &t;
	rc = tn_adapter_open(&o, &a, err, sizeof err);
	explicit_bzero(o.secret_key, sizeof o.secret_key);
	if (rc != 0) {
		fprintf(stderr, "tocsin: %s\n", err);
		input_close(&in);
		return 1;
	}

	/* Second pass: send, polling whenever the outbox is full. */
	input_rewind(&in);
	while ((rc = input_next(&in, &ev, err, sizeof err)) != 0) {
		if (rc < 0) { /* the file changed under us */
			fprintf(stderr, "tocsin: %s:%lu: %s\n", file, in.line, err);
			status = 1;
			break;
		}
		while ((rc = tn_adapter_send(a, &ev)) == TN_EFULL)
			if ((rc = tn_adapter_poll(a, 100)) != 0)
				break;
		if (rc != 0) {
			fprintf(stderr, "tocsin: %s:%lu: %s\n", file, in.line,
				tn_adapter_last_error(a)[0] ? tn_adapter_last_error(a)
							    : tn_strerror(rc));
			status = 1;
			break;
		}
	}
	input_close(&in);
	rc = tn_adapter_flush(a, (int)timeout_ms);
	if (rc == TN_ETIMEDOUT) {
		struct tn_adapter_stats st;
		tn_adapter_stats(a, &st);
		fprintf(
		    stderr,
		    "tocsin: %zu event%s without a result after %ld ms (is the server at %s?)\n",
		    st.outbox, st.outbox == 1 ? "" : "s", timeout_ms,
		    o.endpoint ? o.endpoint : TN_DEFAULT_INGEST);
		status = 1;
	} else if (rc != 0) {
		fprintf(stderr, "tocsin: %s\n", tn_adapter_last_error(a));
		status = 1;
	}
	if (t.err) {
		fprintf(stderr, "tocsin: %zu of %zu events refused\n", t.err, n_events);
		status = 1;
	}
	tn_adapter_close(a);
	return status;
}
