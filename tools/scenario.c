/*
 * scenario.c - read a drill scenario CSV into events (scenario.h).
 *
 * Strings of all rows live in a list of fixed blocks, so that pointers into
 * them stay valid while the file grows the list; an event costs its struct,
 * its line number and its strings, nothing per field beyond that.
 */
#include "scenario.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "registry_csv.h"
#include "tocsin/adapter.h"
#include "tocsin/error.h"
#include "utf8.h"

#define NCOLS 7
#define BLOCK_BYTES (1024 * 1024)

struct tn__scenario_block {
	struct tn__scenario_block *next;
	size_t used;
	char data[BLOCK_BYTES];
};

static const char *const header_offset = "t_offset_s,source,sector,asset,type,severity,summary";

int tn__csv_put(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\r\n"))
		return fputs(s, f) < 0 ? TN_EIO : 0;
	if (putc('"', f) == EOF)
		return TN_EIO;
	for (; *s; s++) {
		if (*s == '"' && putc('"', f) == EOF)
			return TN_EIO;
		if (putc(*s, f) == EOF)
			return TN_EIO;
	}
	return putc('"', f) == EOF ? TN_EIO : 0;
}

/* ---- storage -------------------------------------------------------------------- */

static const char *keep(struct tn__scenario *sc, const char *s, size_t len)
{
	struct tn__scenario_block *b = sc->blocks;
	char *p;

	if (!b || b->used + len + 1 > BLOCK_BYTES) {
		b = malloc(sizeof *b);
		if (!b)
			return NULL;
		b->used = 0;
		b->next = sc->blocks;
		sc->blocks = b;
	}
	p = b->data + b->used;
	memcpy(p, s, len);
	p[len] = '\0';
	b->used += len + 1;
	return p;
}

void tn__scenario_free(struct tn__scenario *s)
{
	if (!s)
		return;
	while (s->blocks) {
		struct tn__scenario_block *b = s->blocks;
		s->blocks = b->next;
		free(b);
	}
	free(s->ev);
	free(s->line);
	free(s);
}

static int grow(struct tn__scenario *sc, size_t *cap)
{
	size_t nc = *cap ? *cap * 2 : 1024;
	struct tn_event *ev = realloc(sc->ev, nc * sizeof *ev);
	uint32_t *line;

	if (!ev)
		return TN_ENOMEM;
	sc->ev = ev;
	line = realloc(sc->line, nc * sizeof *line);
	if (!line)
		return TN_ENOMEM;
	sc->line = line;
	*cap = nc;
	return 0;
}

int tn__scenario_new(struct tn__scenario **out)
{
	*out = calloc(1, sizeof **out);
	return *out ? 0 : TN_ENOMEM;
}

/* Indices of the events of s by time, then index: a stable order with qsort. */
static int cmp_idx_time(const void *a, const void *b, void *arg)
{
	const struct tn__scenario *s = arg;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	int64_t ti = s->ev[i].time_us, tj = s->ev[j].time_us;

	if (ti != tj)
		return ti < tj ? -1 : 1;
	return i < j ? -1 : i > j;
}

int tn__scenario_merge(const struct tn__scenario *base, const struct tn__scenario *inject,
		       struct tn__scenario **out)
{
	struct tn__scenario *m = NULL;
	size_t *ord = NULL, i = 0, j = 0;
	int rc;

	*out = NULL;
	if ((rc = tn__scenario_new(&m)) != 0)
		return rc;
	if (inject->n && !(ord = malloc(inject->n * sizeof *ord))) {
		rc = TN_ENOMEM;
		goto out;
	}
	for (size_t k = 0; k < inject->n; k++)
		ord[k] = k;
	if (inject->n)
		qsort_r(ord, inject->n, sizeof *ord, cmp_idx_time, (void *)inject);
	m->absolute = base->absolute;
	while (i < base->n || j < inject->n) {
		bool take_inject = j < inject->n &&
				   (i == base->n || inject->ev[ord[j]].time_us < base->ev[i].time_us);

		if (take_inject) {
			rc = tn__scenario_add(m, inject->line[ord[j]], &inject->ev[ord[j]]);
			j++;
		} else {
			rc = tn__scenario_add(m, base->line[i], &base->ev[i]);
			i++;
		}
		if (rc != 0)
			goto out;
	}
	*out = m;
	m = NULL;
out:
	free(ord);
	tn__scenario_free(m);
	return rc;
}

/* ---- fields --------------------------------------------------------------------- */

/* Seconds with up to six decimals, >= 0, into microseconds. */
static int parse_offset(const char *s, int64_t *us)
{
	int64_t whole = 0, frac = 0, scale = 100000;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		whole = whole * 10 + (*p - '0');
		if (whole > TN_SCENARIO_MAX_OFFSET_S)
			return -1;
	}
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		for (int n = 0; isdigit((unsigned char)*p); p++, n++) {
			if (n >= 6)
				return -1;
			frac += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (*p)
		return -1;
	*us = whole * 1000000 + frac;
	return 0;
}

int tn__rows_end(struct tn__rows *r)
{
	if (r->bad > r->max_errors && r->errs)
		fprintf(r->errs, "%s: %zu more bad rows\n", r->path, r->bad - r->max_errors);
	return r->bad ? TN_EINVAL : 0;
}

/* A text field: valid UTF-8, min..max bytes; identifiers without control
 * characters (they end up in logs and topics), free text with them. */
static bool text_ok(const char *s, size_t min, size_t max, unsigned flags)
{
	size_t len = strlen(s);

	return len >= min && len <= max && tn__utf8_check(s, len, flags, NULL) == 0;
}

void tn__rows_bad(struct tn__rows *r, unsigned long line, const char *fmt, ...)
{
	va_list ap;

	if (r->bad++ >= r->max_errors || !r->errs)
		return;
	fprintf(r->errs, "%s:%lu: ", r->path, line);
	va_start(ap, fmt);
	vfprintf(r->errs, fmt, ap);
	va_end(ap);
	fputc('\n', r->errs);
}

/* Check one row; on success fill *ev with borrowed pointers into `f`. */
static int row(struct tn__rows *r, unsigned long line, const char *const *f, bool absolute,
	       int64_t base_us, struct tn_event *ev)
{
	int64_t us;
	int t, sec;
	bool hb;

	memset(ev, 0, sizeof *ev);
	if (absolute) {
		/* RFC 3339 only: a bare number would be an offset in the other form */
		if (strlen(f[0]) < 5 || f[0][4] != '-' || tn_adapter_parse_time(f[0], &us) != 0) {
			tn__rows_bad(r, line,
			    "time: expected an RFC 3339 time like 2026-11-26T16:52:00Z, got "
			    "\"%.64s\"",
			    f[0]);
			return -1;
		}
		ev->time_us = us;
	} else {
		if (parse_offset(f[0], &us) != 0) {
			tn__rows_bad(r, line,
			    "t_offset_s: expected seconds 0..%" PRId64
			    " with at most 6 decimals, got \"%.64s\"",
			    TN_SCENARIO_MAX_OFFSET_S, f[0]);
			return -1;
		}
		ev->time_us = base_us + us;
	}
	if (!text_ok(f[1], 1, TN_WIRE_MAX_SOURCE, TN__UTF8_NO_CONTROL)) {
		tn__rows_bad(r, line, "source: expected 1-%d bytes of UTF-8 text, got \"%.64s\"",
		    TN_WIRE_MAX_SOURCE, f[1]);
		return -1;
	}
	ev->source = f[1];
	t = tn_event_type_parse(f[4], strlen(f[4]));
	if (t < 0) {
		tn__rows_bad(r, line,
		    "type: expected asset.down, asset.degraded, asset.up, asset.alarm or "
		    "heartbeat, got \"%.64s\"",
		    f[4]);
		return -1;
	}
	ev->type = (enum tn_event_type)t;
	hb = ev->type == TN_EV_HEARTBEAT;
	if (hb && !*f[2]) {
		ev->sector = TN_SECTOR_NONE;
	} else {
		sec = tn_sector_parse(f[2], strlen(f[2]));
		if (sec < 0) {
			tn__rows_bad(r, line,
			    "sector: expected one of chemicals, civil-nuclear, communications, "
			    "defence, emergency-services, energy, finance, food, government, "
			    "health, space, transport, water, data%s, got \"%.64s\"",
			    hb ? " (or empty for a heartbeat)" : "", f[2]);
			return -1;
		}
		ev->sector = (enum tn_sector)sec;
	}
	if (hb && !*f[3]) {
		ev->asset = NULL;
	} else if (!text_ok(f[3], 1, TN_WIRE_MAX_ASSET, TN__UTF8_NO_CONTROL)) {
		tn__rows_bad(r, line, "asset: expected an asset id of 1-%d bytes, got \"%.64s\"",
		    TN_WIRE_MAX_ASSET, f[3]);
		return -1;
	} else {
		ev->asset = f[3];
	}
	if (*f[5]) {
		if (strlen(f[5]) != 1 || f[5][0] < '1' || f[5][0] > '5') {
			tn__rows_bad(r, line, "severity: expected an integer 1..5 or empty, got \"%.64s\"",
			    f[5]);
			return -1;
		}
		ev->severity = f[5][0] - '0';
	}
	if (*f[6]) {
		if (!text_ok(f[6], 1, TN_WIRE_MAX_SUMMARY, 0)) {
			tn__rows_bad(r, line, "summary: expected at most %d bytes of UTF-8 text",
			    TN_WIRE_MAX_SUMMARY);
			return -1;
		}
		ev->summary = f[6];
	}
	return 0;
}

int tn__scenario_add(struct tn__scenario *sc, uint32_t line, const struct tn_event *in)
{
	struct tn_event ev = *in;
	int rc;

	if (sc->n == sc->cap && (rc = grow(sc, &sc->cap)) != 0)
		return rc;
	if (!(ev.id = keep(sc, ev.id, strlen(ev.id))) ||
	    !(ev.source = keep(sc, ev.source, strlen(ev.source))) ||
	    (ev.asset && !(ev.asset = keep(sc, ev.asset, strlen(ev.asset)))) ||
	    (ev.summary && !(ev.summary = keep(sc, ev.summary, strlen(ev.summary)))))
		return TN_ENOMEM;
	ev.attrs = NULL; /* the engine reads none; a recording keeps them in its file */
	ev.n_attrs = 0;
	if (sc->n == 0 || ev.time_us < sc->min_us)
		sc->min_us = ev.time_us;
	if (sc->n == 0 || ev.time_us > sc->max_us)
		sc->max_us = ev.time_us;
	sc->ev[sc->n] = ev;
	sc->line[sc->n] = line;
	sc->n++;
	return 0;
}

static const char *const col_name[NCOLS] = {"t_offset_s", "source",   "sector", "asset",
					    "type",	  "severity", "summary"};

static bool is_header(const struct tn_csv_row *row, bool *absolute)
{
	if (row->fault || row->n != NCOLS)
		return false;
	for (size_t i = 1; i < NCOLS; i++)
		if (strcmp(row->field[i], col_name[i]) != 0)
			return false;
	*absolute = strcmp(row->field[0], "time") == 0;
	return *absolute || strcmp(row->field[0], col_name[0]) == 0;
}

int tn__scenario_read(const char *path, int64_t base_us, FILE *errs, size_t max_errors,
		      struct tn__scenario **out)
{
	return tn__scenario_read_ids(path, base_us, 'L', errs, max_errors, out);
}

int tn__scenario_read_ids(const char *path, int64_t base_us, char id_prefix, FILE *errs,
			  size_t max_errors, struct tn__scenario **out)
{
	struct tn__rows r = {path, errs, max_errors, 0};
	struct tn__scenario *sc = calloc(1, sizeof *sc);
	struct tn_csv_reader *csv = NULL;
	struct tn_csv_row cr;
	FILE *f = NULL;
	bool header = false;
	int rc = TN_ENOMEM, k;

	*out = NULL;
	if (!sc)
		goto out;
	f = fopen(path, "re");
	if (!f) {
		if (errs)
			fprintf(errs, "%s: %s\n", path, strerror(errno));
		rc = TN_EIO;
		goto out;
	}
	if ((rc = tn_csv_open_file(f, path, &csv)) != 0)
		goto out;
	while ((k = tn_csv_next(csv, &cr)) == 1) {
		unsigned long line = (unsigned long)cr.line;
		struct tn_event ev;
		char id[24];

		if (!header) {
			if (!is_header(&cr, &sc->absolute)) {
				char got[128] = "";
				for (size_t i = 0; i < cr.n && strlen(got) < 120; i++)
					snprintf(got + strlen(got), sizeof got - strlen(got),
						 "%s%s", i ? "," : "", cr.field[i]);
				tn__rows_bad(&r, line,
				    "header: expected \"%s\" (or time in place of t_offset_s), "
				    "got \"%.120s\"",
				    header_offset, got);
				break;
			}
			header = true;
			continue;
		}
		if (cr.fault) {
			tn__rows_bad(&r, (unsigned long)cr.fault->line, "%s: %s",
			    cr.fault->field >= 1 && cr.fault->field <= NCOLS
				    ? col_name[cr.fault->field - 1]
				    : "row",
			    cr.fault->what);
			continue;
		}
		if (cr.n != NCOLS) {
			tn__rows_bad(&r, line, "expected %d fields as in the header, got %zu", NCOLS, cr.n);
			continue;
		}
		if (row(&r, line, cr.field, sc->absolute, base_us, &ev) != 0 || r.bad)
			continue; /* once a row is bad only the checking goes on */
		if (cr.line > UINT32_MAX) {
			tn__rows_bad(&r, line, "expected at most %" PRIu32 " lines", UINT32_MAX);
			continue;
		}
		snprintf(id, sizeof id, "%c%lu", id_prefix, line);
		ev.id = id;
		if ((rc = tn__scenario_add(sc, (uint32_t)line, &ev)) != 0)
			goto out;
	}
	if (k < 0) {
		if (errs)
			fprintf(errs, "%s: %s\n", path,
				k == TN_EIO ? strerror(errno) : tn_strerror(k));
		rc = k;
		goto out;
	}
	if (!header && !r.bad)
		tn__rows_bad(&r, 1, "header: expected \"%s\", got an empty file", header_offset);
	if ((rc = tn__rows_end(&r)) != 0)
		goto out;
	*out = sc;
	sc = NULL;
	rc = 0;
out:
	tn_csv_close(csv);
	if (f)
		fclose(f);
	tn__scenario_free(sc);
	return rc;
}
