/* store_row.c - journal records as rows of PostgreSQL COPY text (store_row.h). */
#include "store_row.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tocsin/error.h"
#include "tocsin/event.h"

#define ZONE_CHUNK (64 * 1024) /* holds any event record: the zone never grows */
#define SCAN_DEPTH 16          /* records nest 4 deep; audit details a little more */
#define JSON_DEPTH 32

static const char hexdig[] = "0123456789abcdef";

/* ---- buffers ------------------------------------------------------------ */

void tn__buf_free(struct tn__buf *b)
{
	free(b->p);
	*b = (struct tn__buf){0};
}

static bool reserve(struct tn__buf *b, size_t more)
{
	size_t cap;
	char *p;

	if (b->oom)
		return false;
	if (b->cap - b->len >= more)
		return true;
	cap = b->cap ? b->cap : 4096;
	while (cap - b->len < more) {
		if (cap > SIZE_MAX / 2) {
			b->oom = true;
			return false;
		}
		cap *= 2;
	}
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

static void put(struct tn__buf *b, const void *s, size_t n)
{
	if (!reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void put_c(struct tn__buf *b, char c)
{
	if (!reserve(b, 1))
		return;
	b->p[b->len++] = c;
}

static void put_s(struct tn__buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void put_null(struct tn__buf *b)
{
	put(b, "\\N", 2);
}

static void put_u64(struct tn__buf *b, uint64_t v)
{
	char t[24];
	int n = snprintf(t, sizeof t, "%" PRIu64, v);
	put(b, t, (size_t)n);
}

static void put_i64(struct tn__buf *b, int64_t v)
{
	char t[24];
	int n = snprintf(t, sizeof t, "%" PRId64, v);
	put(b, t, (size_t)n);
}

/* A bytea in hex form, as a COPY field: the backslash itself is escaped. */
static void put_bytea(struct tn__buf *b, const void *data, size_t len)
{
	const unsigned char *u = data;
	char *o;

	if (len > (SIZE_MAX - 3) / 2 || !reserve(b, 3 + 2 * len))
		return;
	o = b->p + b->len;
	*o++ = '\\';
	*o++ = '\\';
	*o++ = 'x';
	for (size_t i = 0; i < len; i++) {
		*o++ = hexdig[u[i] >> 4];
		*o++ = hexdig[u[i] & 15];
	}
	b->len = (size_t)(o - b->p);
}

/* ---- text --------------------------------------------------------------- */

/*
 * Length of the valid UTF-8 sequence at s (n bytes left, s[0] >= 0x80), or
 * 0. As strict as PostgreSQL: no overlong forms, surrogates or code points
 * past U+10FFFF.
 */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];

	if (c < 0xC2)
		return 0;
	if (c < 0xE0)
		return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c < 0xF0) {
		if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
			return 0;
		if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0))
			return 0;
		return 3;
	}
	if (c < 0xF5) {
		if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 ||
		    (s[3] & 0xC0) != 0x80)
			return 0;
		if ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] >= 0x90))
			return 0;
		return 4;
	}
	return 0;
}

static char *put_replacement(char *o)
{
	*o++ = (char)0xEF;
	*o++ = (char)0xBF;
	*o++ = (char)0xBD;
	return o;
}

void tn__copy_text(struct tn__buf *b, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	char *o;

	/* At most 3 bytes out per byte in (U+FFFD for one bad byte). */
	if (len > SIZE_MAX / 3 || !reserve(b, 3 * len))
		return;
	o = b->p + b->len;
	while (i < len) {
		unsigned char c = u[i];
		if (c >= 0x20 && c < 0x80) {
			if (c == '\\')
				*o++ = '\\';
			*o++ = (char)c;
			i++;
		} else if (c < 0x20) {
			switch (c) {
			case '\t':
				*o++ = '\\';
				*o++ = 't';
				break;
			case '\n':
				*o++ = '\\';
				*o++ = 'n';
				break;
			case '\r':
				*o++ = '\\';
				*o++ = 'r';
				break;
			case 0:
				o = put_replacement(o);
				break;
			default:
				*o++ = (char)c; /* other controls are plain data in COPY text */
			}
			i++;
		} else {
			size_t n = utf8_seq(u + i, len - i);
			if (n) {
				memcpy(o, u + i, n);
				o += n;
				i += n;
			} else {
				o = put_replacement(o);
				i++;
			}
		}
	}
	b->len = (size_t)(o - b->p);
}

void tn__json_str(struct tn__buf *b, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	char *o;

	/* At most 6 bytes out per byte in (\u00XX), plus the quotes. */
	if (len > (SIZE_MAX - 2) / 6 || !reserve(b, 6 * len + 2))
		return;
	o = b->p + b->len;
	*o++ = '"';
	while (i < len) {
		unsigned char c = u[i];
		if (c >= 0x20 && c < 0x80) {
			if (c == '"' || c == '\\')
				*o++ = '\\';
			*o++ = (char)c;
			i++;
		} else if (c < 0x20) {
			*o++ = '\\';
			switch (c) {
			case '\b':
				*o++ = 'b';
				break;
			case '\f':
				*o++ = 'f';
				break;
			case '\n':
				*o++ = 'n';
				break;
			case '\r':
				*o++ = 'r';
				break;
			case '\t':
				*o++ = 't';
				break;
			case 0: /* jsonb refuses \u0000 */
				memcpy(o, "ufffd", 5);
				o += 5;
				break;
			default:
				*o++ = 'u';
				*o++ = '0';
				*o++ = '0';
				*o++ = hexdig[c >> 4];
				*o++ = hexdig[c & 15];
			}
			i++;
		} else {
			size_t n = utf8_seq(u + i, len - i);
			if (n) {
				memcpy(o, u + i, n);
				o += n;
				i += n;
			} else {
				o = put_replacement(o);
				i++;
			}
		}
	}
	*o++ = '"';
	b->len = (size_t)(o - b->p);
}

/* ---- numbers and times -------------------------------------------------- */

static char *digits(char *o, unsigned v, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		o[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return o + width;
}

int tn__store_fmt_time(char out[TN__STORE_TIME_LEN], int64_t us)
{
	int64_t sec = us / 1000000, frac = us % 1000000;
	struct tm tm;
	time_t t;
	char *o = out;

	if (frac < 0) {
		frac += 1000000;
		sec--;
	}
	/* 0001-01-01 00:00:00 .. 9999-12-31 23:59:59 UTC */
	if (sec < INT64_C(-62135596800) || sec > INT64_C(253402300799))
		return TN_ERANGE;
	t = (time_t)sec;
	if (!gmtime_r(&t, &tm))
		return TN_ERANGE;
	o = digits(o, (unsigned)(tm.tm_year + 1900), 4);
	*o++ = '-';
	o = digits(o, (unsigned)tm.tm_mon + 1, 2);
	*o++ = '-';
	o = digits(o, (unsigned)tm.tm_mday, 2);
	*o++ = ' ';
	o = digits(o, (unsigned)tm.tm_hour, 2);
	*o++ = ':';
	o = digits(o, (unsigned)tm.tm_min, 2);
	*o++ = ':';
	o = digits(o, (unsigned)tm.tm_sec, 2);
	*o++ = '.';
	o = digits(o, (unsigned)frac, 6);
	memcpy(o, "+00", 4);
	return (int)(o + 3 - out);
}

int tn__store_fmt_double(char out[32], double v)
{
	int n = 0;

	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(out, 32, "%.*g", prec, v);
		if (prec == 17 || strtod(out, NULL) == v)
			break;
	}
	return n;
}

static void put_double(struct tn__buf *b, double v)
{
	char t[32];
	int n = tn__store_fmt_double(t, v);
	put(b, t, (size_t)n);
}

/*
 * A double precision column: 17 significant digits always read back as the
 * same double, and PostgreSQL keeps the double, not the text, so one
 * snprintf does (the shortest form matters only in jsonb, which keeps the
 * digits as written: put_double).
 */
static void put_float8(struct tn__buf *b, double v)
{
	char t[32];
	int n = snprintf(t, sizeof t, "%.17g", v);
	put(b, t, (size_t)n);
}

/* ---- msgpack helpers ---------------------------------------------------- */

static bool get_i64(const msgpack_object *o, int64_t *v)
{
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
		*v = (int64_t)o->via.u64;
		return true;
	}
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*v = o->via.i64;
		return true;
	}
	return false;
}

static bool is_str(const msgpack_object *o)
{
	return o->type == MSGPACK_OBJECT_STR;
}

static bool is_str_or_nil(const msgpack_object *o)
{
	return o->type == MSGPACK_OBJECT_STR || o->type == MSGPACK_OBJECT_NIL;
}

/* A COPY field of a msgpack string, or \N for nil. */
static void put_opt_str(struct tn__buf *b, const msgpack_object *o)
{
	if (o->type == MSGPACK_OBJECT_NIL)
		put_null(b);
	else
		tn__copy_text(b, o->via.str.ptr, o->via.str.size);
}

static void put_opt_cstr(struct tn__buf *b, const char *s)
{
	if (s)
		tn__copy_text(b, s, strlen(s));
	else
		put_null(b);
}

/*
 * Any msgpack value as JSON (audit details). Binary becomes a hex string, a
 * timestamp an ISO string; keys must be strings, integers, booleans or nil.
 */
static int mp_json(struct tn__buf *j, const msgpack_object *o, int depth, char *why, size_t whylen)
{
	char t[TN__STORE_TIME_LEN];
	msgpack_timestamp ts;

	if (depth > JSON_DEPTH) {
		snprintf(why, whylen, "detail: nested deeper than %d", JSON_DEPTH);
		return TN_ECORRUPT;
	}
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		put_s(j, "null");
		return 0;
	case MSGPACK_OBJECT_BOOLEAN:
		put_s(j, o->via.boolean ? "true" : "false");
		return 0;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		put_u64(j, o->via.u64);
		return 0;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		put_i64(j, o->via.i64);
		return 0;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		if (isfinite(o->via.f64))
			put_double(j, o->via.f64);
		else
			put_s(j, "null");
		return 0;
	case MSGPACK_OBJECT_STR:
		tn__json_str(j, o->via.str.ptr, o->via.str.size);
		return 0;
	case MSGPACK_OBJECT_BIN:
		put_c(j, '"');
		for (uint32_t i = 0; i < o->via.bin.size; i++) {
			unsigned char c = (unsigned char)o->via.bin.ptr[i];
			put_c(j, hexdig[c >> 4]);
			put_c(j, hexdig[c & 15]);
		}
		put_c(j, '"');
		return 0;
	case MSGPACK_OBJECT_EXT:
		if (msgpack_object_to_timestamp(o, &ts) && ts.tv_sec > INT64_MIN / 1000000 + 1 &&
		    ts.tv_sec < INT64_MAX / 1000000 - 1 &&
		    tn__store_fmt_time(t, ts.tv_sec * 1000000 + ts.tv_nsec / 1000) > 0) {
			put_c(j, '"');
			put_s(j, t);
			put_c(j, '"');
			return 0;
		}
		snprintf(why, whylen, "detail: unsupported extension type %d", o->via.ext.type);
		return TN_ECORRUPT;
	case MSGPACK_OBJECT_ARRAY:
		put_c(j, '[');
		for (uint32_t i = 0; i < o->via.array.size; i++) {
			if (i)
				put_c(j, ',');
			if (mp_json(j, &o->via.array.ptr[i], depth + 1, why, whylen))
				return TN_ECORRUPT;
		}
		put_c(j, ']');
		return 0;
	case MSGPACK_OBJECT_MAP:
		put_c(j, '{');
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			const msgpack_object *k = &o->via.map.ptr[i].key;
			if (i)
				put_c(j, ',');
			if (k->type == MSGPACK_OBJECT_STR) {
				tn__json_str(j, k->via.str.ptr, k->via.str.size);
			} else if (k->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
				   k->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ||
				   k->type == MSGPACK_OBJECT_BOOLEAN ||
				   k->type == MSGPACK_OBJECT_NIL) {
				put_c(j, '"');
				mp_json(j, k, depth + 1, why, whylen);
				put_c(j, '"');
			} else {
				snprintf(why, whylen, "detail: unsupported map key type %d",
					 (int)k->type);
				return TN_ECORRUPT;
			}
			put_c(j, ':');
			if (mp_json(j, &o->via.map.ptr[i].val, depth + 1, why, whylen))
				return TN_ECORRUPT;
		}
		put_c(j, '}');
		return 0;
	}
	snprintf(why, whylen, "detail: unsupported type %d", (int)o->type);
	return TN_ECORRUPT;
}

/* ---- rows --------------------------------------------------------------- */

/* End a row: on allocation failure take it back whole. */
static int end_row(struct tn__buf *b, size_t mark)
{
	if (!b->oom) {
		put_c(b, '\n');
		if (!b->oom)
			return 0;
	}
	b->len = mark;
	b->oom = false;
	return TN_ENOMEM;
}

static void attrs_json(struct tn__buf *j, const struct tn_event *ev)
{
	j->len = 0;
	put_c(j, '{');
	for (size_t i = 0; i < ev->n_attrs; i++) {
		const struct tn_attr *a = &ev->attrs[i];
		if (i)
			put_c(j, ',');
		tn__json_str(j, a->key, strlen(a->key));
		put_c(j, ':');
		switch (a->kind) {
		case TN_ATTR_STR:
			tn__json_str(j, a->v.s, strlen(a->v.s));
			break;
		case TN_ATTR_INT:
			put_i64(j, a->v.i);
			break;
		case TN_ATTR_FLOAT:
			if (isfinite(a->v.f))
				put_double(j, a->v.f);
			else
				put_s(j, "null");
			break;
		case TN_ATTR_BOOL:
			put_s(j, a->v.b ? "true" : "false");
			break;
		default:
			put_s(j, "null");
		}
	}
	put_c(j, '}');
}

/* EVENT: [recv_us, adapter, event map] */
static int event_row(struct tn__store_rows *r, uint64_t offset, const msgpack_object *o, char *why,
		     size_t whylen)
{
	struct tn__buf *b = &r->events;
	char t_time[TN__STORE_TIME_LEN], t_recv[TN__STORE_TIME_LEN];
	struct tn_wire_item item;
	const struct tn_event *ev = &item.ev;
	const msgpack_object *a;
	const char *type, *sector = NULL;
	int64_t recv_us;
	int severity, rc;
	size_t mark;

	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 3) {
		snprintf(why, whylen, "expected [recv_us, adapter, event]");
		return TN_ECORRUPT;
	}
	a = o->via.array.ptr;
	if (!get_i64(&a[0], &recv_us) || tn__store_fmt_time(t_recv, recv_us) < 0) {
		snprintf(why, whylen, "recv_us: expected a time in years 1..9999");
		return TN_ECORRUPT;
	}
	if (!is_str(&a[1])) {
		snprintf(why, whylen, "adapter: expected a string");
		return TN_ECORRUPT;
	}
	rc = tn_wire_validate_event(r->dec, &a[2], NULL, &item);
	if (rc == TN_ENOMEM)
		return rc;
	if (rc) {
		snprintf(why, whylen, "event: %s", item.msg);
		return TN_ECORRUPT;
	}
	if (tn__store_fmt_time(t_time, ev->time_us) < 0) {
		snprintf(why, whylen, "time: expected years 1..9999");
		return TN_ECORRUPT;
	}
	type = tn_event_type_name(ev->type);
	if (ev->sector != TN_SECTOR_NONE)
		sector = tn_sector_name(ev->sector);
	severity = ev->severity ? ev->severity : tn_event_default_severity(ev->type);
	if (!type || (ev->sector != TN_SECTOR_NONE && !sector) || severity < 1 || severity > 5 ||
	    (ev->has_geo && (!isfinite(ev->lat) || !isfinite(ev->lon)))) {
		snprintf(why, whylen, "event: type, sector, severity or geo out of range");
		return TN_ECORRUPT;
	}
	if (ev->n_attrs) {
		attrs_json(&r->json, ev);
		if (r->json.oom) {
			r->json.oom = false;
			return TN_ENOMEM;
		}
	}

	mark = b->len;
	put_u64(b, offset);
	put_c(b, '\t');
	tn__copy_text(b, ev->source, strlen(ev->source));
	put_c(b, '\t');
	tn__copy_text(b, ev->id, strlen(ev->id));
	put_c(b, '\t');
	tn__copy_text(b, a[1].via.str.ptr, a[1].via.str.size);
	put_c(b, '\t');
	put_s(b, type);
	put_c(b, '\t');
	put_opt_cstr(b, sector);
	put_c(b, '\t');
	put_opt_cstr(b, ev->asset);
	put_c(b, '\t');
	put_c(b, (char)('0' + severity));
	put_c(b, '\t');
	put_s(b, t_time);
	put_c(b, '\t');
	put_s(b, t_recv);
	put_c(b, '\t');
	put_opt_cstr(b, ev->summary);
	put_c(b, '\t');
	if (ev->has_geo) {
		put_float8(b, ev->lat);
		put_c(b, '\t');
		put_float8(b, ev->lon);
	} else {
		put_null(b);
		put_c(b, '\t');
		put_null(b);
	}
	put_c(b, '\t');
	if (ev->n_attrs)
		tn__copy_text(b, r->json.p, r->json.len);
	else
		put_null(b);
	return end_row(b, mark);
}

/* REJECT: [recv_us, adapter|nil, code, msg, item|nil, event_id|nil, raw, raw_truncated,
 * origin|nil]; the ninth since schema/009_keys.sql (older journals have eight: NULL) */
static int reject_row(struct tn__store_rows *r, uint64_t offset, const msgpack_object *o, char *why,
		      size_t whylen)
{
	struct tn__buf *b = &r->rejected;
	char t_recv[TN__STORE_TIME_LEN];
	const msgpack_object *a;
	int64_t recv_us, item = 0;
	size_t mark;

	if (o->type != MSGPACK_OBJECT_ARRAY ||
	    (o->via.array.size != 8 && o->via.array.size != 9)) {
		snprintf(why, whylen,
			 "expected [recv_us, adapter, code, msg, item, event_id, raw, "
			 "raw_truncated, origin]");
		return TN_ECORRUPT;
	}
	a = o->via.array.ptr;
	if (!get_i64(&a[0], &recv_us) || tn__store_fmt_time(t_recv, recv_us) < 0) {
		snprintf(why, whylen, "recv_us: expected a time in years 1..9999");
		return TN_ECORRUPT;
	}
	if (!is_str_or_nil(&a[1]) || !is_str(&a[2]) || !is_str(&a[3]) || !is_str_or_nil(&a[5])) {
		snprintf(why, whylen, "adapter, code, msg, event_id: expected strings");
		return TN_ECORRUPT;
	}
	if (a[4].type != MSGPACK_OBJECT_NIL &&
	    (!get_i64(&a[4], &item) || item < INT32_MIN || item > INT32_MAX)) {
		snprintf(why, whylen, "item: expected a 32-bit integer or nil");
		return TN_ECORRUPT;
	}
	if (a[6].type != MSGPACK_OBJECT_BIN && a[6].type != MSGPACK_OBJECT_STR &&
	    a[6].type != MSGPACK_OBJECT_NIL) {
		snprintf(why, whylen, "raw: expected bytes");
		return TN_ECORRUPT;
	}
	if (a[7].type != MSGPACK_OBJECT_BOOLEAN) {
		snprintf(why, whylen, "raw_truncated: expected a boolean");
		return TN_ECORRUPT;
	}
	if (o->via.array.size == 9 && !is_str_or_nil(&a[8])) {
		snprintf(why, whylen, "origin: expected a string or nil");
		return TN_ECORRUPT;
	}

	mark = b->len;
	put_u64(b, offset);
	put_c(b, '\t');
	put_s(b, t_recv);
	put_c(b, '\t');
	put_opt_str(b, &a[1]);
	put_c(b, '\t');
	tn__copy_text(b, a[2].via.str.ptr, a[2].via.str.size);
	put_c(b, '\t');
	tn__copy_text(b, a[3].via.str.ptr, a[3].via.str.size);
	put_c(b, '\t');
	if (a[4].type == MSGPACK_OBJECT_NIL)
		put_null(b);
	else
		put_i64(b, item);
	put_c(b, '\t');
	put_opt_str(b, &a[5]);
	put_c(b, '\t');
	if (a[6].type == MSGPACK_OBJECT_NIL)
		put_null(b);
	else if (a[6].type == MSGPACK_OBJECT_BIN)
		put_bytea(b, a[6].via.bin.ptr, a[6].via.bin.size);
	else
		put_bytea(b, a[6].via.str.ptr, a[6].via.str.size);
	put_c(b, '\t');
	put_c(b, a[7].via.boolean ? 't' : 'f');
	put_c(b, '\t');
	if (o->via.array.size == 9)
		put_opt_str(b, &a[8]);
	else
		put_null(b);
	return end_row(b, mark);
}

/* AUDIT: [at_us, actor, action, subject|nil, origin|nil, detail map|nil] */
static int audit_row(struct tn__store_rows *r, const msgpack_object *o, char *why, size_t whylen)
{
	struct tn__buf *b = &r->audit;
	char t_at[TN__STORE_TIME_LEN];
	const msgpack_object *a;
	int64_t at_us;
	size_t mark;

	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 6) {
		snprintf(why, whylen, "expected [at_us, actor, action, subject, origin, detail]");
		return TN_ECORRUPT;
	}
	a = o->via.array.ptr;
	if (!get_i64(&a[0], &at_us) || tn__store_fmt_time(t_at, at_us) < 0) {
		snprintf(why, whylen, "at_us: expected a time in years 1..9999");
		return TN_ECORRUPT;
	}
	if (!is_str(&a[1]) || !is_str(&a[2]) || !is_str_or_nil(&a[3]) || !is_str_or_nil(&a[4])) {
		snprintf(why, whylen, "actor, action, subject, origin: expected strings");
		return TN_ECORRUPT;
	}
	if (a[5].type != MSGPACK_OBJECT_NIL) {
		r->json.len = 0;
		if (mp_json(&r->json, &a[5], 0, why, whylen))
			return TN_ECORRUPT;
		if (r->json.oom) {
			r->json.oom = false;
			return TN_ENOMEM;
		}
	}

	mark = b->len;
	put_s(b, t_at);
	put_c(b, '\t');
	tn__copy_text(b, a[1].via.str.ptr, a[1].via.str.size);
	put_c(b, '\t');
	tn__copy_text(b, a[2].via.str.ptr, a[2].via.str.size);
	put_c(b, '\t');
	put_opt_str(b, &a[3]);
	put_c(b, '\t');
	put_opt_str(b, &a[4]);
	put_c(b, '\t');
	if (a[5].type == MSGPACK_OBJECT_NIL)
		put_null(b);
	else
		tn__copy_text(b, r->json.p, r->json.len);
	return end_row(b, mark);
}

/* CHANGE: [stream, incident, rev, msg, priority, area, updated_us, body] */
static int change_row(struct tn__store_rows *r, uint64_t offset, const msgpack_object *o,
		      char *why, size_t whylen)
{
	struct tn__buf *b = &r->changes;
	char t_upd[TN__STORE_TIME_LEN];
	const msgpack_object *a;
	int64_t rev, prio, upd_us;
	size_t mark;

	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 8) {
		snprintf(why, whylen,
			 "expected [stream, incident, rev, msg, priority, area, updated_us, body]");
		return TN_ECORRUPT;
	}
	a = o->via.array.ptr;
	if (!is_str(&a[0]) || !is_str(&a[1]) || !is_str(&a[3]) || !is_str(&a[5]) ||
	    !is_str(&a[7])) {
		snprintf(why, whylen, "stream, incident, msg, area, body: expected strings");
		return TN_ECORRUPT;
	}
	if (!get_i64(&a[2], &rev) || rev < 1 || !get_i64(&a[4], &prio) || prio < 1 || prio > 5) {
		snprintf(why, whylen, "rev, priority: expected rev >= 1 and priority 1..5");
		return TN_ECORRUPT;
	}
	if (!get_i64(&a[6], &upd_us) || tn__store_fmt_time(t_upd, upd_us) < 0) {
		snprintf(why, whylen, "updated_us: expected a time in years 1..9999");
		return TN_ECORRUPT;
	}
	mark = b->len;
	put_u64(b, offset);
	for (int i = 0; i < 2; i++) {
		put_c(b, '\t');
		tn__copy_text(b, a[i].via.str.ptr, a[i].via.str.size);
	}
	put_c(b, '\t');
	put_i64(b, rev);
	put_c(b, '\t');
	tn__copy_text(b, a[3].via.str.ptr, a[3].via.str.size);
	put_c(b, '\t');
	put_i64(b, prio);
	put_c(b, '\t');
	tn__copy_text(b, a[5].via.str.ptr, a[5].via.str.size);
	put_c(b, '\t');
	put_s(b, t_upd);
	put_c(b, '\t');
	tn__copy_text(b, a[7].via.str.ptr, a[7].via.str.size);
	return end_row(b, mark);
}

/* The record as it is, in `rejected`, for someone to look at. */
static int corrupt_row(struct tn__store_rows *r, const struct tn_journal_record *rec,
		       int64_t now_us, const char *msg)
{
	struct tn__buf *b = &r->rejected;
	char t_now[TN__STORE_TIME_LEN];
	size_t mark = b->len;

	if (tn__store_fmt_time(t_now, now_us) < 0)
		tn__store_fmt_time(t_now, 0);
	put_u64(b, rec->offset);
	put_c(b, '\t');
	put_s(b, t_now);
	put_s(b, "\t\\N\tE_CORRUPT\t");
	tn__copy_text(b, msg, strlen(msg));
	put_s(b, "\t\\N\t\\N\t");
	put_bytea(b, rec->payload, rec->len);
	put_s(b, "\tf\t\\N");
	return end_row(b, mark);
}

int tn__store_rows_init(struct tn__store_rows *r)
{
	int rc;

	*r = (struct tn__store_rows){0};
	if (!msgpack_zone_init(&r->zone, ZONE_CHUNK))
		return TN_ENOMEM;
	rc = tn_wire_decoder_new(&r->dec);
	if (rc) {
		msgpack_zone_destroy(&r->zone);
		*r = (struct tn__store_rows){0};
		return rc;
	}
	return 0;
}

void tn__store_rows_fini(struct tn__store_rows *r)
{
	if (r->dec) {
		tn_wire_decoder_free(r->dec);
		msgpack_zone_destroy(&r->zone);
	}
	tn__buf_free(&r->events);
	tn__buf_free(&r->rejected);
	tn__buf_free(&r->audit);
	tn__buf_free(&r->changes);
	tn__buf_free(&r->json);
	*r = (struct tn__store_rows){0};
}

void tn__store_rows_reset(struct tn__store_rows *r)
{
	r->events.len = r->rejected.len = r->audit.len = r->changes.len = 0;
	r->n_events = r->n_rejected = r->n_audit = r->n_corrupt = r->n_changes = 0;
}

int tn__store_rows_add(struct tn__store_rows *r, const struct tn_journal_record *rec,
		       int64_t now_us, const char *refused, enum tn__row_kind *kind, char *why,
		       size_t whylen)
{
	char detail[TN_WIRE_MSG_MAX + 64];
	char msg[TN_WIRE_MSG_MAX + 160];
	msgpack_unpack_return ur;
	msgpack_object obj;
	size_t off = 0;
	int rc = TN_ECORRUPT;

	detail[0] = '\0';
	*kind = TN__ROW_NONE;
	if (refused) {
		snprintf(msg, sizeof msg,
			 "postgresql refused journal record %" PRIu64 " (type %u): %s", rec->offset,
			 (unsigned)rec->type, refused);
		goto corrupt;
	}
	switch (rec->type) {
	case TN_JREC_TICK: /* the correlator's clock: nothing to store */
	case TN_JREC_DRILL: /* a drill's input: its incidents are stored, not it */
		return 0;
	case TN_JREC_EVENT:
	case TN_JREC_REJECT:
	case TN_JREC_AUDIT:
	case TN_JREC_CHANGE:
		break;
	default:
		snprintf(detail, sizeof detail, "unknown record type");
		goto bad;
	}
	/* Bound what msgpack-c may allocate for declared counts (design §7). */
	if (tn_wire_scan(rec->payload, rec->len, SCAN_DEPTH, rec->len, detail, sizeof detail))
		goto bad;
	msgpack_zone_clear(&r->zone);
	ur = msgpack_unpack(rec->payload, rec->len, &off, &r->zone, &obj);
	if (ur == MSGPACK_UNPACK_NOMEM_ERROR)
		return TN_ENOMEM;
	if (ur != MSGPACK_UNPACK_SUCCESS) {
		snprintf(detail, sizeof detail, "not one MessagePack object");
		goto bad;
	}
	switch (rec->type) {
	case TN_JREC_EVENT:
		rc = event_row(r, rec->offset, &obj, detail, sizeof detail);
		if (rc == 0) {
			r->n_events++;
			*kind = TN__ROW_EVENT;
		}
		break;
	case TN_JREC_REJECT:
		rc = reject_row(r, rec->offset, &obj, detail, sizeof detail);
		if (rc == 0) {
			r->n_rejected++;
			*kind = TN__ROW_REJECT;
		}
		break;
	case TN_JREC_CHANGE:
		rc = change_row(r, rec->offset, &obj, detail, sizeof detail);
		if (rc == 0) {
			r->n_changes++;
			*kind = TN__ROW_CHANGE;
		}
		break;
	default:
		rc = audit_row(r, &obj, detail, sizeof detail);
		if (rc == 0) {
			r->n_audit++;
			*kind = TN__ROW_AUDIT;
		}
	}
	if (rc != TN_ECORRUPT)
		return rc;
bad:
	snprintf(msg, sizeof msg, "journal record %" PRIu64 " (type %u, %" PRIu32 " bytes): %s",
		 rec->offset, (unsigned)rec->type, rec->len, detail);
	snprintf(why, whylen, "%s", detail);
corrupt:
	if (corrupt_row(r, rec, now_us, msg))
		return TN_ENOMEM;
	r->n_rejected++;
	r->n_corrupt++;
	*kind = TN__ROW_CORRUPT;
	if (refused)
		snprintf(why, whylen, "%s", refused);
	return 0;
}
