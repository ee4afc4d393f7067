/*
 * registry_csv.c - the registry's CSV files (registry_csv.h).
 *
 * The reader works on blocks of 1 MiB and copies the fields of one row into
 * a buffer of its own (bounded: TN_CSV_MAX_FIELDS fields of at most
 * TN_CSV_MAX_FIELD bytes), so a row costs no allocation once the buffers
 * have grown to the widest row.
 *
 * The loader checks each field of a row itself, so that its messages can
 * show the value as written in the file; the builder's own validation (the
 * same rules, tocsin/graph.h) then only ever refuses duplicates.
 */
#include "registry_csv.h"

#include "tocsin/error.h"
#include "utf8.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define READ_BLOCK ((size_t)1 << 20)
#define ID_WHAT    "1-64 of A-Z a-z 0-9 . _ : -"

/* ---- the reader ------------------------------------------------------------ */

struct tn_csv_reader {
	FILE *f;       /* NULL: a buffer */
	uint64_t size; /* of the whole input, 0: unknown */
	char *name;
	const unsigned char *p, *end; /* input not yet read */
	unsigned char *block;         /* a file reader's buffer */
	bool started;                 /* the byte order mark is behind us */
	bool io_error;
	int io_errno;
	uint64_t line;

	/* the row being read: fields NUL-separated in data */
	char *data;
	size_t data_len, data_cap;
	size_t nf, cap_f;
	size_t *off, *lens;
	uint64_t *fline;
	const char **fields;
	bool dropping; /* past TN_CSV_MAX_FIELDS: read, not kept */
	bool quoted_any;
	bool has_fault;
	struct tn_csv_fault fault;
};

static int reader_new(const char *name, struct tn_csv_reader **out)
{
	struct tn_csv_reader *r;

	if (!out)
		return TN_EINVAL;
	*out = NULL;
	r = calloc(1, sizeof *r);
	if (!r)
		return TN_ENOMEM;
	r->name = strdup(name ? name : "-");
	r->data_cap = 4096;
	r->data = malloc(r->data_cap);
	r->cap_f = 16;
	r->off = malloc(r->cap_f * sizeof *r->off);
	r->lens = malloc(r->cap_f * sizeof *r->lens);
	r->fline = malloc(r->cap_f * sizeof *r->fline);
	r->fields = malloc(r->cap_f * sizeof *r->fields);
	r->line = 1;
	if (!r->name || !r->data || !r->off || !r->lens || !r->fline || !r->fields) {
		tn_csv_close(r);
		return TN_ENOMEM;
	}
	*out = r;
	return 0;
}

int tn_csv_open_file(FILE *f, const char *name, struct tn_csv_reader **out)
{
	struct stat st;
	int rc;

	if (!f)
		return TN_EINVAL;
	if ((rc = reader_new(name, out)) != 0)
		return rc;
	(*out)->f = f;
	if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
		(*out)->size = (uint64_t)st.st_size;
	(*out)->block = malloc(READ_BLOCK);
	if (!(*out)->block) {
		tn_csv_close(*out);
		*out = NULL;
		return TN_ENOMEM;
	}
	(*out)->p = (*out)->end = (*out)->block;
	return 0;
}

int tn_csv_open_buffer(const void *buf, size_t len, const char *name, struct tn_csv_reader **out)
{
	int rc;

	if (!buf && len)
		return TN_EINVAL;
	if ((rc = reader_new(name, out)) != 0)
		return rc;
	(*out)->p = buf;
	(*out)->end = (*out)->p + len;
	(*out)->size = len;
	return 0;
}

void tn_csv_close(struct tn_csv_reader *r)
{
	if (!r)
		return;
	free(r->name);
	free(r->block);
	free(r->data);
	free(r->off);
	free(r->lens);
	free(r->fline);
	free(r->fields);
	free(r);
}

const char *tn_csv_name(const struct tn_csv_reader *r)
{
	return r ? r->name : NULL;
}

uint64_t tn_csv_size(const struct tn_csv_reader *r)
{
	return r ? r->size : 0;
}

/* More input into p..end; false at the end (or on an error: io_error). */
static bool refill(struct tn_csv_reader *r)
{
	size_t n;

	if (!r->f || r->io_error)
		return false;
	n = fread(r->block, 1, READ_BLOCK, r->f);
	if (n == 0) {
		if (ferror(r->f)) {
			r->io_error = true;
			r->io_errno = errno ? errno : EIO;
		}
		return false;
	}
	r->p = r->block;
	r->end = r->block + n;
	return true;
}

static inline int peekb(struct tn_csv_reader *r)
{
	if (r->p == r->end && !refill(r))
		return -1;
	return *r->p;
}

static inline int getb(struct tn_csv_reader *r)
{
	if (r->p == r->end && !refill(r))
		return -1;
	return *r->p++;
}

static void set_fault(struct tn_csv_reader *r, size_t field, uint64_t line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void set_fault(struct tn_csv_reader *r, size_t field, uint64_t line, const char *fmt, ...)
{
	va_list ap;

	if (r->has_fault)
		return;
	r->has_fault = true;
	r->fault.field = field;
	r->fault.line = line;
	va_start(ap, fmt);
	vsnprintf(r->fault.what, sizeof r->fault.what, fmt, ap);
	va_end(ap);
}

/* Room for n more bytes in data. Bounded by the field and field-count limits. */
static int reserve(struct tn_csv_reader *r, size_t n)
{
	if (r->data_cap - r->data_len >= n)
		return 0;
	size_t cap = r->data_cap;
	while (cap - r->data_len < n)
		cap *= 2;
	char *d = realloc(r->data, cap);
	if (!d)
		return TN_ENOMEM;
	r->data = d;
	r->data_cap = cap;
	return 0;
}

/* Append n bytes to the current field, up to the field limit (beyond: a fault). */
static int append(struct tn_csv_reader *r, const void *s, size_t n)
{
	size_t have;

	if (r->dropping)
		return 0;
	have = r->data_len - r->off[r->nf - 1];
	if (have + n > TN_CSV_MAX_FIELD) {
		set_fault(r, r->nf, r->fline[r->nf - 1], "expected at most %d bytes, got more",
			  TN_CSV_MAX_FIELD);
		n = TN_CSV_MAX_FIELD - have;
	}
	if (reserve(r, n + 1) != 0)
		return TN_ENOMEM;
	memcpy(r->data + r->data_len, s, n);
	r->data_len += n;
	return 0;
}

static int start_field(struct tn_csv_reader *r)
{
	if (r->dropping)
		return 0;
	if (r->nf == TN_CSV_MAX_FIELDS) {
		set_fault(r, r->nf + 1, r->line, "expected at most %d fields, got more",
			  TN_CSV_MAX_FIELDS);
		r->dropping = true;
		return 0;
	}
	if (r->nf == r->cap_f) {
		size_t cap = 2 * r->cap_f;
		size_t *off = realloc(r->off, cap * sizeof *off);
		if (off)
			r->off = off;
		size_t *lens = realloc(r->lens, cap * sizeof *lens);
		if (lens)
			r->lens = lens;
		uint64_t *fl = realloc(r->fline, cap * sizeof *fl);
		if (fl)
			r->fline = fl;
		const char **fields = realloc(r->fields, cap * sizeof *fields);
		if (fields)
			r->fields = fields;
		if (!off || !lens || !fl || !fields)
			return TN_ENOMEM;
		r->cap_f = cap;
	}
	r->off[r->nf] = r->data_len;
	r->fline[r->nf] = r->line;
	r->nf++;
	return 0;
}

static int end_field(struct tn_csv_reader *r)
{
	if (r->dropping)
		return 0;
	if (reserve(r, 1) != 0)
		return TN_ENOMEM;
	r->lens[r->nf - 1] = r->data_len - r->off[r->nf - 1];
	r->data[r->data_len++] = '\0';
	return 0;
}

/* The bytes of the current field from offset `from` of data, quoted for a message. */
static const char *field_text(struct tn_csv_reader *r, size_t from, char *buf, size_t size)
{
	return tn_csv_quote(r->data + from, r->data_len - from, buf, size);
}

/*
 * An unquoted field, or the rest of a quoted one after its closing quote:
 * up to a comma (returns 1: another field follows), a line end or the end
 * of input (returns 0).
 */
static int unquoted(struct tn_csv_reader *r, bool after_quote)
{
	size_t field = r->nf, start = r->dropping ? 0 : r->data_len;
	uint64_t line = r->line;
	bool bare_quote = false, nul = false;
	int more = 0, rc;
	char q[100];

	for (;;) {
		/* the common case: a run of plain bytes within the block */
		const unsigned char *s = r->p;
		while (s < r->end && *s != ',' && *s != '\n' && *s != '\r' && *s != '"' && *s != 0)
			s++;
		if (s > r->p) {
			if ((rc = append(r, r->p, (size_t)(s - r->p))) != 0)
				return rc;
			r->p = s;
		}
		int c = getb(r);
		if (c < 0)
			break;
		if (c == ',') {
			more = 1;
			break;
		}
		if (c == '\n') {
			r->line++;
			break;
		}
		if (c == '\r') {
			if (peekb(r) == '\n')
				r->p++;
			r->line++;
			break;
		}
		if (c == '"')
			bare_quote = true;
		else if (c == 0) {
			nul = true;
			continue;
		}
		if ((rc = append(r, &(char){(char)c}, 1)) != 0)
			return rc;
	}
	if (!r->dropping) {
		if (nul)
			set_fault(r, field, line, "expected text, got a NUL byte");
		else if (after_quote && r->data_len > start)
			set_fault(r, field, line,
				  "expected a comma or end of line after the closing quote, got %s",
				  field_text(r, start, q, sizeof q));
		else if (bare_quote)
			set_fault(r, field, line,
				  "expected a field in quotes when it holds a quote, got %s",
				  field_text(r, r->off[field - 1], q, sizeof q));
	}
	return more;
}

/* A quoted field, from its opening quote; then as unquoted(). */
static int quoted(struct tn_csv_reader *r)
{
	size_t field = r->nf;
	uint64_t line = r->line;
	int rc;

	r->p++; /* the opening quote */
	r->quoted_any = true;
	for (;;) {
		const unsigned char *s = r->p;
		while (s < r->end && *s != '"' && *s != '\n' && *s != '\r' && *s != 0)
			s++;
		if (s > r->p) {
			if ((rc = append(r, r->p, (size_t)(s - r->p))) != 0)
				return rc;
			r->p = s;
		}
		int c = getb(r);
		if (c < 0) {
			if (!r->dropping)
				set_fault(r, field, line,
					  "expected a closing quote, got end of file");
			return 0;
		}
		if (c == '"') {
			if (peekb(r) != '"')
				break;
			r->p++;
		} else if (c == '\n' || (c == '\r' && peekb(r) != '\n')) {
			r->line++;
		} else if (c == 0) {
			if (!r->dropping)
				set_fault(r, field, line, "expected text, got a NUL byte");
			continue;
		}
		if ((rc = append(r, &(char){(char)c}, 1)) != 0)
			return rc;
	}
	return unquoted(r, true);
}

int tn_csv_next(struct tn_csv_reader *r, struct tn_csv_row *row)
{
	int rc;

	if (!r || !row)
		return TN_EINVAL;
	if (!r->started) {
		r->started = true;
		if (peekb(r) == 0xef && r->end - r->p >= 3 && r->p[1] == 0xbb && r->p[2] == 0xbf)
			r->p += 3;
	}
	for (;;) {
		r->data_len = 0;
		r->nf = 0;
		r->dropping = false;
		r->quoted_any = false;
		r->has_fault = false;
		row->line = r->line;
		if (peekb(r) < 0)
			break;
		do {
			if ((rc = start_field(r)) != 0)
				return rc;
			rc = peekb(r) == '"' ? quoted(r) : unquoted(r, false);
			if (rc < 0)
				return rc;
			if (end_field(r) != 0)
				return TN_ENOMEM;
		} while (rc == 1);
		if (r->io_error)
			break;
		if (r->nf == 1 && r->lens[0] == 0 && !r->quoted_any && !r->has_fault)
			continue; /* a blank line */
		for (size_t i = 0; i < r->nf; i++)
			r->fields[i] = r->data + r->off[i];
		row->n = r->nf;
		row->field = r->fields;
		row->len = r->lens;
		row->field_line = r->fline;
		row->quoted_any = r->quoted_any;
		row->fault = r->has_fault ? &r->fault : NULL;
		return 1;
	}
	if (r->io_error) {
		errno = r->io_errno;
		return TN_EIO;
	}
	return 0;
}

const char *tn_csv_quote(const char *s, size_t len, char *buf, size_t size)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0, i = 0;

	buf[o++] = '"';
	while (i < len) {
		char one[16];
		size_t n = 1, w;
		struct tn__utf8_fault f;

		if (p[i] == '"' || p[i] == '\\') {
			w = (size_t)snprintf(one, sizeof one, "\\%c", p[i]);
		} else if (p[i] < 0x20 || p[i] == 0x7f) {
			w = (size_t)snprintf(one, sizeof one, "\\x%02x", p[i]);
		} else if (p[i] < 0x80) {
			one[0] = (char)p[i];
			w = 1;
		} else {
			/* a valid UTF-8 sequence is shown as is, anything else byte by byte */
			n = p[i] >= 0xf0 ? 4 : p[i] >= 0xe0 ? 3 : 2;
			if (i + n <= len && tn__utf8_check(p + i, n, 0, &f) == 0) {
				memcpy(one, p + i, n);
				w = n;
			} else {
				n = 1;
				w = (size_t)snprintf(one, sizeof one, "\\x%02x", p[i]);
			}
		}
		if (o + w + 5 > size || i >= 80) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(buf + o, one, w);
		o += w;
		i += n;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

/* ---- error messages -------------------------------------------------------- */

void tn_csv_errors_init(struct tn_csv_errors *e)
{
	memset(e, 0, sizeof *e);
}

void tn_csv_errors_free(struct tn_csv_errors *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->n; i++)
		free(e->msg[i]);
	tn_csv_errors_init(e);
}

void tn_csv_errors_add(struct tn_csv_errors *e, const char *fmt, ...)
{
	va_list ap;
	char *m = NULL;

	e->total++;
	if (e->n == TN_CSV_ERRORS_MAX)
		return;
	va_start(ap, fmt);
	if (vasprintf(&m, fmt, ap) < 0)
		m = NULL;
	va_end(ap);
	if (!m) {
		e->oom = true;
		return;
	}
	e->msg[e->n++] = m;
}

void tn_csv_errors_print(const struct tn_csv_errors *e, FILE *f, const char *prefix)
{
	for (size_t i = 0; i < e->n; i++)
		fprintf(f, "%s%s\n", prefix, e->msg[i]);
	if (e->total > e->n)
		fprintf(f, "%s... and %zu more error%s\n", prefix, e->total - e->n,
			e->total - e->n == 1 ? "" : "s");
}

/* ---- the loader ------------------------------------------------------------ */

static const char *const asset_cols[] = {"id",         "sector",   "kind",       "name",
					 "lat",        "lon",      "area",       "criticality",
					 "population", "backup_s", "sensitivity"};
static const char *const dep_cols[] = {"dependent", "provider", "kind", "delay_min_s",
				       "delay_max_s"};
#define N_ASSET_COLS (sizeof asset_cols / sizeof asset_cols[0])
#define N_DEP_COLS   (sizeof dep_cols / sizeof dep_cols[0])

struct loader {
	struct tn_graph_builder *b;
	struct tn_csv_errors *errs;
	size_t errs_at_start;
	const struct tn_registry_csv_sink *sink;
	const char *assets_name;
	uint32_t *asset_line, *edge_line; /* line of each asset and edge added */
	size_t cap_asset_line, cap_edge_line;
	/* ids of asset rows refused: a dependency on one is not reported again.
	 * A second builder serves as the set. */
	struct tn_graph_builder *refused;
	bool assets_usable;                               /* the assets header was right */
	char sectors[256], sensitivities[64], kinds[128]; /* "one of ..." */
};

static bool clean(const struct loader *ld)
{
	return ld->errs->total == ld->errs_at_start;
}

static void report(struct loader *ld, const struct tn_csv_reader *r, uint64_t line, size_t col,
		   const char *colname, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void report(struct loader *ld, const struct tn_csv_reader *r, uint64_t line, size_t col,
		   const char *colname, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	tn_csv_errors_add(ld->errs, "%s:%llu:%zu: %s: %s", tn_csv_name(r), (unsigned long long)line,
			  col, colname, what);
}

/* Report a field: "expected <what>, got <value>". */
static void bad_field(struct loader *ld, const struct tn_csv_reader *r,
		      const struct tn_csv_row *row, size_t i, const char *const *cols,
		      const char *what)
{
	char q[100];

	report(ld, r, row->field_line[i], i + 1, cols[i], "expected %s, got %s", what,
	       tn_csv_quote(row->field[i], row->len[i], q, sizeof q));
}

/* Strict decimal: [+-]digits[.digits][e[+-]digits] (or .digits); no hex, inf, nan, spaces. */
static bool parse_decimal(const char *s, size_t len, double *out)
{
	size_t i = 0, digits = 0;
	char *end;

	if (i < len && (s[i] == '+' || s[i] == '-'))
		i++;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++, digits++;
	if (i < len && s[i] == '.') {
		i++;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++, digits++;
	}
	if (digits == 0)
		return false;
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		size_t e = 0;
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++, e++;
		if (e == 0)
			return false;
	}
	if (i != len)
		return false;
	errno = 0;
	*out = strtod(s, &end);
	return end == s + len && isfinite(*out);
}

/* Strict integer: [+-]digits, within min..max. */
static bool parse_int(const char *s, size_t len, long long min, long long max, long long *out)
{
	size_t i = 0;
	char *end;

	if (i < len && (s[i] == '+' || s[i] == '-'))
		i++;
	if (i == len || len > 20)
		return false;
	for (; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno == 0 && end == s + len && *out >= min && *out <= max;
}

static bool text_ok(const char *s, size_t len, size_t min, size_t max)
{
	return len >= min && len <= max && tn__utf8_check(s, len, TN__UTF8_NO_CONTROL, NULL) == 0;
}

static int push_line(uint32_t **v, size_t *cap, size_t n, uint64_t line)
{
	if (n == *cap) {
		size_t ncap = *cap ? 2 * *cap : 4096;
		uint32_t *nv = realloc(*v, ncap * sizeof *nv);
		if (!nv)
			return TN_ENOMEM;
		*v = nv;
		*cap = ncap;
	}
	(*v)[n] = line > UINT32_MAX ? UINT32_MAX : (uint32_t)line;
	return 0;
}

static void note_refused(struct loader *ld, const char *id, size_t len)
{
	struct tn_asset a = {
		.id = id,
		.sector = TN_SECTOR_ENERGY,
		.kind = "-",
		.name = "",
		.area = "-",
		.criticality = 1,
	};

	if (tn_asset_id_ok(id, len))
		(void)tn_graph_add_asset(ld->refused, &a, NULL, 0);
}

/* The column of a builder message "<column>: ..." (1 when it names none). */
static size_t column_of(const char *msg, const char *const *cols, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(cols[i]);
		if (strncmp(msg, cols[i], l) == 0 && msg[l] == ':')
			return i + 1;
	}
	return 1;
}

/* A message of the builder, "<column>: ...", at that column of the row. */
static void builder_msg(struct loader *ld, const struct tn_csv_reader *r,
			const struct tn_csv_row *row, const char *const *cols, size_t n,
			const char *msg)
{
	size_t col = column_of(msg, cols, n);
	const char *rest = msg;

	if (strncmp(msg, cols[col - 1], strlen(cols[col - 1])) == 0 &&
	    msg[strlen(cols[col - 1])] == ':')
		rest = msg + strlen(cols[col - 1]) + 1 + (msg[strlen(cols[col - 1]) + 1] == ' ');
	report(ld, r, row->field_line[col - 1], col, cols[col - 1], "%s", rest);
}

/* A row of the wrong shape: report it, true. */
static bool bad_shape(struct loader *ld, const struct tn_csv_reader *r,
		      const struct tn_csv_row *row, const char *const *cols, size_t ncols)
{
	if (row->fault) {
		size_t f = row->fault->field;
		report(ld, r, row->fault->line, f, f <= ncols ? cols[f - 1] : "row", "%s",
		       row->fault->what);
		return true;
	}
	if (row->n < ncols) {
		report(ld, r, row->field_line[row->n - 1], row->n + 1, cols[row->n],
		       "expected %zu fields, got %zu", ncols, row->n);
		return true;
	}
	if (row->n > ncols) {
		report(ld, r, row->field_line[ncols], ncols + 1, "row",
		       "expected %zu fields, got %zu", ncols, row->n);
		return true;
	}
	return false;
}

static int asset_row(struct loader *ld, struct tn_csv_reader *r, const struct tn_csv_row *row)
{
	const char *const *f = row->field;
	const size_t *len = row->len;
	struct tn_asset a = {0};
	long long v = 0;
	bool bad = false;
	char msg[256], q[100];
	int s, rc;

	if (bad_shape(ld, r, row, asset_cols, N_ASSET_COLS)) {
		if (!row->fault || row->fault->field != 1)
			note_refused(ld, f[0], len[0]);
		return 0;
	}
#define BAD(i, what)                                                                               \
	do {                                                                                       \
		bad_field(ld, r, row, i, asset_cols, what);                                        \
		bad = true;                                                                        \
	} while (0)
	a.id = f[0];
	if (!tn_asset_id_ok(f[0], len[0]))
		BAD(0, ID_WHAT);
	if ((s = tn_sector_parse(f[1], len[1])) < 0)
		BAD(1, ld->sectors);
	a.sector = (enum tn_sector)s;
	a.kind = f[2];
	if (!text_ok(f[2], len[2], 1, TN_ASSET_KIND_MAX))
		BAD(2, "1-64 bytes of text without control characters");
	a.name = f[3];
	if (!text_ok(f[3], len[3], 0, TN_ASSET_NAME_MAX))
		BAD(3, "0-256 bytes of text without control characters");
	if (!parse_decimal(f[4], len[4], &a.lat) || a.lat < -90 || a.lat > 90)
		BAD(4, "a number -90..90 (degrees north)");
	if (!parse_decimal(f[5], len[5], &a.lon) || a.lon < -180 || a.lon > 180)
		BAD(5, "a number -180..180 (degrees east)");
	a.area = f[6];
	if (!tn_asset_id_ok(f[6], len[6]))
		BAD(6, ID_WHAT);
	if (!parse_int(f[7], len[7], 1, 5, &v))
		BAD(7, "a whole number 1..5");
	a.criticality = (int)v;
	if (!parse_int(f[8], len[8], 0, INT64_MAX, &v))
		BAD(8, "a whole number >= 0");
	a.population = v;
	if (!parse_int(f[9], len[9], 0, INT32_MAX, &v))
		BAD(9, "a whole number of seconds >= 0");
	a.backup_s = (int32_t)v;
	if ((s = tn_sensitivity_parse(f[10], len[10])) < 0)
		BAD(10, ld->sensitivities);
	a.sensitivity = (enum tn_sensitivity)s;
#undef BAD
	if (bad) {
		note_refused(ld, f[0], len[0]);
		return 0;
	}

	rc = tn_graph_add_asset(ld->b, &a, msg, sizeof msg);
	if (rc == TN_EEXIST) {
		uint32_t first = tn_graph_builder_find(ld->b, a.id);
		report(ld, r, row->field_line[0], 1, "id", "duplicate id %s, first on line %lu",
		       tn_csv_quote(f[0], len[0], q, sizeof q),
		       first < tn_graph_builder_size(ld->b) ? (unsigned long)ld->asset_line[first]
							    : 0ul);
		return 0;
	}
	if (rc == TN_EINVAL) { /* the rules above should have caught it */
		builder_msg(ld, r, row, asset_cols, N_ASSET_COLS, msg);
		return 0;
	}
	if (rc != 0) {
		builder_msg(ld, r, row, asset_cols, N_ASSET_COLS, msg);
		return rc;
	}
	if ((rc = push_line(&ld->asset_line, &ld->cap_asset_line, tn_graph_builder_size(ld->b) - 1,
			    row->line)) != 0)
		return rc;
	if (ld->sink && ld->sink->asset && clean(ld))
		return ld->sink->asset(ld->sink->ctx, &a, row);
	return 0;
}

/* An asset id field of dependencies.csv: its number, or TN_GRAPH_NONE after reporting. */
static uint32_t dep_end(struct loader *ld, struct tn_csv_reader *r, const struct tn_csv_row *row,
			size_t i, bool *bad)
{
	char what[300];
	uint32_t n;

	if (!tn_asset_id_ok(row->field[i], row->len[i])) {
		bad_field(ld, r, row, i, dep_cols, ID_WHAT);
		*bad = true;
		return TN_GRAPH_NONE;
	}
	n = tn_graph_builder_find(ld->b, row->field[i]);
	if (n != TN_GRAPH_NONE)
		return n;
	*bad = true;
	/* said already: the asset's own row was refused, or the whole file */
	if (!ld->assets_usable ||
	    tn_graph_builder_find(ld->refused, row->field[i]) != TN_GRAPH_NONE)
		return TN_GRAPH_NONE;
	snprintf(what, sizeof what, "the id of an asset of %s", ld->assets_name);
	bad_field(ld, r, row, i, dep_cols, what);
	return TN_GRAPH_NONE;
}

static int dep_row(struct loader *ld, struct tn_csv_reader *r, const struct tn_csv_row *row)
{
	const char *const *f = row->field;
	const size_t *len = row->len;
	struct tn_dependency d = {0};
	uint32_t dep, prov;
	long long v = 0;
	bool bad = false;
	char msg[256], what[128], q[100];
	int k, rc;

	if (bad_shape(ld, r, row, dep_cols, N_DEP_COLS))
		return 0;
	d.dependent = f[0];
	d.provider = f[1];
	dep = dep_end(ld, r, row, 0, &bad);
	prov = dep_end(ld, r, row, 1, &bad);
	if (dep != TN_GRAPH_NONE && dep == prov) {
		bad_field(ld, r, row, 1, dep_cols, "an asset other than the dependent");
		bad = true;
	}
	if ((k = tn_dep_kind_parse(f[2], len[2])) < 0) {
		bad_field(ld, r, row, 2, dep_cols, ld->kinds);
		bad = true;
	}
	d.kind = (enum tn_dep_kind)k;
	d.delay_min_s = d.delay_max_s = -1;
	if (len[3] && !parse_int(f[3], len[3], 0, INT32_MAX, &v)) {
		bad_field(ld, r, row, 3, dep_cols, "a whole number of seconds >= 0, or empty");
		bad = true;
	} else if (len[3]) {
		d.delay_min_s = (int32_t)v;
	}
	if (len[4] && !parse_int(f[4], len[4], 0, INT32_MAX, &v)) {
		bad_field(ld, r, row, 4, dep_cols, "a whole number of seconds >= 0, or empty");
		bad = true;
	} else if (len[4]) {
		d.delay_max_s = (int32_t)v;
	}
	if (!bad && len[3] == 0 && len[4] != 0) {
		bad_field(ld, r, row, 3, dep_cols,
			  "a whole number of seconds >= 0 when delay_max_s is given");
		bad = true;
	} else if (!bad && len[3] != 0 && len[4] == 0) {
		bad_field(ld, r, row, 4, dep_cols,
			  "a whole number of seconds >= delay_min_s when delay_min_s is given");
		bad = true;
	} else if (!bad && d.delay_max_s < d.delay_min_s) {
		snprintf(what, sizeof what, "a whole number of seconds >= delay_min_s (%ld)",
			 (long)d.delay_min_s);
		bad_field(ld, r, row, 4, dep_cols, what);
		bad = true;
	}
	if (bad)
		return 0;

	rc = tn_graph_add_dependency(ld->b, &d, msg, sizeof msg);
	if (rc == TN_EEXIST) {
		uint32_t first = tn_graph_builder_find_dependency(ld->b, dep, prov, d.kind);
		char q2[100];
		report(ld, r, row->field_line[2], 3, "kind",
		       "duplicate dependency of %s on %s for %s, first on line %lu",
		       tn_csv_quote(f[0], len[0], q, sizeof q),
		       tn_csv_quote(f[1], len[1], q2, sizeof q2), tn_dep_kind_name(d.kind),
		       first < tn_graph_builder_edges(ld->b) ? (unsigned long)ld->edge_line[first]
							     : 0ul);
		return 0;
	}
	if (rc == TN_EINVAL || rc == TN_ENOTFOUND) {
		builder_msg(ld, r, row, dep_cols, N_DEP_COLS, msg);
		return 0;
	}
	if (rc != 0) {
		builder_msg(ld, r, row, dep_cols, N_DEP_COLS, msg);
		return rc;
	}
	if ((rc = push_line(&ld->edge_line, &ld->cap_edge_line, tn_graph_builder_edges(ld->b) - 1,
			    row->line)) != 0)
		return rc;
	if (ld->sink && ld->sink->dependency && clean(ld))
		return ld->sink->dependency(ld->sink->ctx, &d, row);
	return 0;
}

/* The header row; false (reported) when it is not exactly `cols`. */
static int header(struct loader *ld, struct tn_csv_reader *r, const char *const *cols, size_t n,
		  const char *text, bool *ok)
{
	struct tn_csv_row row;
	char q[100];
	int rc = tn_csv_next(r, &row);

	*ok = false;
	if (rc < 0)
		return rc;
	if (rc == 0) {
		report(ld, r, 1, 1, "header", "expected \"%s\", got an empty file", text);
		return 0;
	}
	if (row.fault) {
		report(ld, r, row.fault->line, row.fault->field, "header", "%s", row.fault->what);
		return 0;
	}
	for (size_t i = 0; i < n && i < row.n; i++)
		if (row.len[i] != strlen(cols[i]) ||
		    memcmp(row.field[i], cols[i], row.len[i]) != 0) {
			report(ld, r, row.field_line[i], i + 1, "header",
			       "expected \"%s\" (the header is %s), got %s", cols[i], text,
			       tn_csv_quote(row.field[i], row.len[i], q, sizeof q));
			return 0;
		}
	if (row.n != n) {
		report(ld, r, row.line, (row.n < n ? row.n : n) + 1, "header",
		       "expected %zu fields (%s), got %zu", n, text, row.n);
		return 0;
	}
	*ok = true;
	return 0;
}

/*
 * Rows are handled AHEAD rows behind the reader: each row read is copied
 * into a ring and hinted at (tn_graph_builder_prefetch), so that by the time
 * it is added its lookups hit the cache. On a registry of millions of rows
 * this halves the load, which is otherwise one cache miss after another.
 */
#define AHEAD 16

struct saved_row {
	struct tn_csv_row row;
	char *data;
	size_t cap;
	const char *field[TN_CSV_MAX_FIELDS];
	size_t len[TN_CSV_MAX_FIELDS];
	uint64_t fline[TN_CSV_MAX_FIELDS];
	struct tn_csv_fault fault;
};

static int save_row(struct saved_row *s, const struct tn_csv_row *row)
{
	size_t bytes = 0, o = 0;

	for (size_t i = 0; i < row->n; i++)
		bytes += row->len[i] + 1;
	if (bytes > s->cap) {
		char *d = realloc(s->data, bytes);
		if (!d)
			return TN_ENOMEM;
		s->data = d;
		s->cap = bytes;
	}
	for (size_t i = 0; i < row->n; i++) {
		memcpy(s->data + o, row->field[i], row->len[i] + 1);
		s->field[i] = s->data + o;
		s->len[i] = row->len[i];
		s->fline[i] = row->field_line[i];
		o += row->len[i] + 1;
	}
	s->row = *row;
	s->row.field = s->field;
	s->row.len = s->len;
	s->row.field_line = s->fline;
	if (row->fault) {
		s->fault = *row->fault;
		s->row.fault = &s->fault;
	}
	return 0;
}

/* The hints of a row just read (stage 0) and of one half-way along (stage 1). */
static void hint(struct loader *ld, const struct tn_csv_row *row, bool deps, int stage)
{
	if (row->fault || row->n < (deps ? N_DEP_COLS : N_ASSET_COLS))
		return;
	if (stage == 0) {
		tn_graph_builder_prefetch(ld->b, row->field[0]);
		if (deps)
			tn_graph_builder_prefetch(ld->b, row->field[1]);
	} else if (deps) {
		int k = tn_dep_kind_parse(row->field[2], row->len[2]);
		struct tn_dependency d = {row->field[0], row->field[1], (enum tn_dep_kind)k, -1,
					  -1};
		if (k >= 0)
			tn_graph_builder_prefetch_dependency(ld->b, &d);
	}
}

/* Every row of one file through `fn`. */
static int rows(struct loader *ld, struct tn_csv_reader *r, bool deps,
		int (*fn)(struct loader *, struct tn_csv_reader *, const struct tn_csv_row *))
{
	struct saved_row *ring = calloc(AHEAD, sizeof *ring);
	struct tn_csv_row row;
	uint64_t in = 0, done = 0;
	int rc = 0;
	bool eof = false;

	if (!ring)
		return TN_ENOMEM;
	while (!eof || done < in) {
		if (!eof && in - done < AHEAD) {
			rc = tn_csv_next(r, &row);
			if (rc < 0)
				break;
			if (rc == 0) {
				eof = true;
				continue;
			}
			if ((rc = save_row(&ring[in % AHEAD], &row)) != 0)
				break;
			hint(ld, &ring[in % AHEAD].row, deps, 0);
			if (in >= AHEAD / 2)
				hint(ld, &ring[(in - AHEAD / 2) % AHEAD].row, deps, 1);
			in++;
			continue;
		}
		if ((rc = fn(ld, r, &ring[done % AHEAD].row)) != 0)
			break;
		if (++done % TN_CSV_PROGRESS == 0 && ld->sink && ld->sink->progress)
			ld->sink->progress(ld->sink->ctx, tn_csv_name(r), done, false);
	}
	if (rc == 0 && ld->sink && ld->sink->progress)
		ld->sink->progress(ld->sink->ctx, tn_csv_name(r), done, true);
	for (size_t i = 0; i < AHEAD; i++)
		free(ring[i].data);
	free(ring);
	return rc;
}

static void names_list(char *out, size_t size, const char *(*name)(int), int n)
{
	size_t o = (size_t)snprintf(out, size, "one of");

	for (int i = 0; i < n && o < size; i++)
		o += (size_t)snprintf(out + o, size - o, "%s %s", i ? "," : "", name(i));
}

static const char *sector_name_i(int i)
{
	return tn_sector_name((enum tn_sector)i);
}

static const char *sens_name_i(int i)
{
	return tn_sensitivity_name((enum tn_sensitivity)i);
}

static const char *kind_name_i(int i)
{
	return tn_dep_kind_name((enum tn_dep_kind)i);
}

int tn_registry_csv_read(struct tn_csv_reader *assets, struct tn_csv_reader *deps,
			 const struct tn_registry_csv_sink *sink, struct tn_graph **out,
			 struct tn_csv_errors *errs)
{
	struct loader ld = {0};
	struct tn_csv_reader *cur = assets; /* for a read error */
	bool deps_ok = false;
	int rc;

	if (!assets || !deps || !errs)
		return TN_EINVAL;
	if (out)
		*out = NULL;
	ld.errs = errs;
	ld.errs_at_start = errs->total;
	ld.sink = sink;
	ld.assets_name = tn_csv_name(assets);
	names_list(ld.sectors, sizeof ld.sectors, sector_name_i, TN_SECTOR__COUNT);
	names_list(ld.sensitivities, sizeof ld.sensitivities, sens_name_i, TN_SENS__COUNT);
	names_list(ld.kinds, sizeof ld.kinds, kind_name_i, TN_DEP__COUNT);
	/* rows of typical length, so that the builder seldom grows (growing
	 * copies; an estimate too high costs untouched address space only, but
	 * a table too large is touched all over) */
	if ((rc = tn_graph_builder_new(tn_csv_size(assets) / 96, tn_csv_size(deps) / 48, &ld.b)) !=
		    0 ||
	    (rc = tn_graph_builder_new(0, 0, &ld.refused)) != 0)
		goto out;

	if ((rc = header(&ld, assets, asset_cols, N_ASSET_COLS, TN_ASSETS_CSV_HEADER,
			 &ld.assets_usable)) != 0)
		goto io;
	if (ld.assets_usable && (rc = rows(&ld, assets, false, asset_row)) != 0)
		goto io;
	cur = deps;
	if ((rc = header(&ld, deps, dep_cols, N_DEP_COLS, TN_DEPS_CSV_HEADER, &deps_ok)) != 0)
		goto io;
	if (deps_ok && (rc = rows(&ld, deps, true, dep_row)) != 0)
		goto io;

	if (!clean(&ld)) {
		rc = TN_EINVAL;
		goto out;
	}
	if (out) {
		rc = tn_graph_build(ld.b, out);
		ld.b = NULL;
	}
	goto out;
io:
	if (rc == TN_EIO)
		tn_csv_errors_add(errs, "%s: cannot read: %s", tn_csv_name(cur), strerror(errno));
	else if (rc == TN_ENOMEM)
		tn_csv_errors_add(errs, "out of memory");
out:
	tn_graph_builder_free(ld.b);
	tn_graph_builder_free(ld.refused);
	free(ld.asset_line);
	free(ld.edge_line);
	return rc;
}

int tn_registry_csv_load(const char *assets_path, const char *deps_path, struct tn_graph **out,
			 struct tn_csv_errors *errs)
{
	FILE *fa = NULL, *fd = NULL;
	struct tn_csv_reader *ra = NULL, *rd = NULL;
	int rc;

	if (!assets_path || !deps_path || !out || !errs)
		return TN_EINVAL;
	*out = NULL;
	fa = fopen(assets_path, "re");
	if (!fa)
		tn_csv_errors_add(errs, "%s: cannot open: %s", assets_path, strerror(errno));
	fd = fopen(deps_path, "re");
	if (!fd)
		tn_csv_errors_add(errs, "%s: cannot open: %s", deps_path, strerror(errno));
	if (!fa || !fd) {
		rc = TN_EIO;
		goto out;
	}
	if ((rc = tn_csv_open_file(fa, assets_path, &ra)) != 0 ||
	    (rc = tn_csv_open_file(fd, deps_path, &rd)) != 0) {
		tn_csv_errors_add(errs, "out of memory");
		goto out;
	}
	rc = tn_registry_csv_read(ra, rd, NULL, out, errs);
out:
	tn_csv_close(ra);
	tn_csv_close(rd);
	if (fa)
		fclose(fa);
	if (fd)
		fclose(fd);
	return rc;
}
