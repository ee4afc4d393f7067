/*
 * wire.c - decoding and strict validation of ingest frames (wire.h, design
 * §3.1).
 *
 * A frame goes through three gates: tn_wire_scan (wire_scan.c) proves that
 * msgpack-c can only allocate a bounded amount for it; msgpack_unpack builds
 * the objects in the decoder's zone; each event map is then checked field by
 * field and its strings copied into the decoder's arena. Nothing here trusts
 * the bytes: every refusal is a code and a message, never an assert.
 *
 * Messages are built only from ASCII (values from the wire are escaped), so
 * that truncating one at TN_WIRE_MSG_MAX never splits a UTF-8 sequence and
 * the reply map stays valid for strict peers.
 */
#include "wire.h"

#include <inttypes.h>
#include <math.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tocsin/error.h"
#include "utf8.h"

/*
 * The zone keeps its first chunk across frames (msgpack_zone_clear frees the
 * others), so frames up to ~2700 objects, a batch of about 30 events,
 * unpack without a malloc.
 */
#define ZONE_CHUNK (64 * 1024)
#define ARENA_FIRST (16 * 1024)
#define ITEMS_FIRST 8

/* The schema's range of event times: what PostgreSQL and ISO 8601 print. */
#define TIME_MAX_S INT64_C(253402300799) /* 9999-12-31T23:59:59Z */
#define US_PER_S INT64_C(1000000)

#define PREVIEW 24 /* bytes of a wire value quoted in a message */
#define QUOTE_CAP (2 + PREVIEW * 4 + 3 + 1)

/* Expectations in messages, as constants: validation formats nothing unless
 * it fails (snprintf on the success path was ~9 % of tocsind's CPU). */
#define STR_(x)        #x
#define STR(x)         STR_(x)
#define WHAT_ID        "a string of 1.." STR(TN_WIRE_MAX_ID) " bytes"
#define WHAT_SOURCE    "a string of 1.." STR(TN_WIRE_MAX_SOURCE) " bytes"
#define WHAT_SUMMARY   "a string of at most " STR(TN_WIRE_MAX_SUMMARY) " bytes"
#define WHAT_ATTR_KEY  "a string of 1.." STR(TN_WIRE_MAX_ATTR_KEY) " bytes"
#define WHAT_ATTR_STR  "a string of at most " STR(TN_WIRE_MAX_ATTR_STR) " bytes"

/*
 * The arena: a list of chunks, newest first, each twice the size of the one
 * before, so that pointers handed out stay put while a frame is validated.
 * Between frames only the newest (largest) chunk is kept; it is at least as
 * large as all the others together, so a steady load settles on one chunk
 * and no malloc.
 */
struct chunk {
	struct chunk *next;
	size_t cap, used;
	max_align_t data[];
};

struct tn_wire_decoder {
	msgpack_zone zone;
	struct chunk *arena;
	struct tn_wire_item *items;
	size_t items_cap;
};

/* Keys of an event in the order of the table of design §3.1. */
enum key_index {
	K_ID,
	K_SOURCE,
	K_TYPE,
	K_TIME,
	K_SECTOR,
	K_ASSET,
	K_SEVERITY,
	K_SUMMARY,
	K_GEO,
	K_ATTRS,
	K__COUNT
};

static const char *const key_names[K__COUNT] = {
	"id", "source", "type", "time", "sector", "asset", "severity", "summary", "geo", "attrs",
};

#define KEY_LIST "id, source, type, time, sector, asset, severity, summary, geo, attrs"

#define TN__X(e, s) s ", "
static const char type_list[] = TN_EVENT_TYPES(TN__X);
static const char sector_list[] = TN_SECTORS(TN__X);
#undef TN__X

/* ---- arena ---------------------------------------------------------------- */

static struct chunk *chunk_new(size_t cap)
{
	struct chunk *c;

	if (cap > SIZE_MAX - sizeof *c)
		return NULL;
	c = malloc(sizeof *c + cap);
	if (c) {
		c->next = NULL;
		c->cap = cap;
		c->used = 0;
	}
	return c;
}

static void chunks_free(struct chunk *c)
{
	while (c) {
		struct chunk *next = c->next;

		free(c);
		c = next;
	}
}

static void arena_reset(struct tn_wire_decoder *d)
{
	chunks_free(d->arena->next);
	d->arena->next = NULL;
	d->arena->used = 0;
}

/* n bytes aligned to `align` (a power of two), or NULL when out of memory. */
static void *arena_alloc(struct tn_wire_decoder *d, size_t n, size_t align)
{
	struct chunk *c = d->arena;
	size_t at = (c->used + align - 1) & ~(align - 1);

	if (at > c->cap || n > c->cap - at) {
		size_t cap = c->cap;
		struct chunk *nc;

		do {
			if (cap > SIZE_MAX / 2)
				return NULL;
			cap *= 2;
		} while (cap < n);
		nc = chunk_new(cap);
		if (!nc)
			return NULL;
		nc->next = c;
		d->arena = c = nc;
		at = 0;
	}
	c->used = at + n;
	return (unsigned char *)c->data + at;
}

static const char *arena_str(struct tn_wire_decoder *d, const char *s, size_t len)
{
	char *p = len < SIZE_MAX ? arena_alloc(d, len + 1, 1) : NULL;

	if (p) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

/* ---- decoder -------------------------------------------------------------- */

int tn_wire_decoder_new(struct tn_wire_decoder **out)
{
	struct tn_wire_decoder *d;

	if (!out)
		return TN_EINVAL;
	*out = NULL;
	d = calloc(1, sizeof *d);
	if (!d)
		return TN_ENOMEM;
	if (!msgpack_zone_init(&d->zone, ZONE_CHUNK)) {
		free(d);
		return TN_ENOMEM;
	}
	d->arena = chunk_new(ARENA_FIRST);
	d->items = malloc(ITEMS_FIRST * sizeof *d->items);
	if (!d->arena || !d->items) {
		tn_wire_decoder_free(d);
		return TN_ENOMEM;
	}
	d->items_cap = ITEMS_FIRST;
	*out = d;
	return 0;
}

void tn_wire_decoder_free(struct tn_wire_decoder *d)
{
	if (!d)
		return;
	msgpack_zone_destroy(&d->zone);
	chunks_free(d->arena);
	free(d->items);
	free(d);
}

static int items_reserve(struct tn_wire_decoder *d, size_t n)
{
	size_t cap = d->items_cap;
	struct tn_wire_item *items;

	if (n <= cap)
		return 0;
	while (cap < n)
		cap *= 2;
	items = realloc(d->items, cap * sizeof *items);
	if (!items)
		return TN_ENOMEM;
	d->items = items;
	d->items_cap = cap;
	return 0;
}

/* ---- messages ------------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static int item_fail(struct tn_wire_item *it, int err,
							  const char *fmt, ...)
{
	va_list ap;

	if (it->err == 0) {
		it->err = err;
		va_start(ap, fmt);
		vsnprintf(it->msg, sizeof it->msg, fmt, ap);
		va_end(ap);
	}
	return err;
}

__attribute__((format(printf, 3, 4))) static int frame_fail(struct tn_wire_frame *out, int err,
							   const char *fmt, ...)
{
	va_list ap;

	out->n = 0;
	out->items = NULL;
	va_start(ap, fmt);
	vsnprintf(out->msg, sizeof out->msg, fmt, ap);
	va_end(ap);
	return err;
}

/*
 * quote - `s` as a double-quoted ASCII preview of at most PREVIEW bytes:
 * bytes outside printable ASCII, `"` and `\` escaped as \xNN, "..." when
 * cut. dst has QUOTE_CAP bytes. Returns dst.
 */
static const char *quote(char dst[QUOTE_CAP], const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	dst[n++] = '"';
	for (size_t i = 0; i < len && i < PREVIEW; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			dst[n++] = (char)c;
		} else {
			dst[n++] = '\\';
			dst[n++] = 'x';
			dst[n++] = hex[c >> 4];
			dst[n++] = hex[c & 15];
		}
	}
	dst[n++] = '"';
	if (len > PREVIEW) {
		memcpy(dst + n, "...", 3);
		n += 3;
	}
	dst[n] = '\0';
	return dst;
}

/* What an object is, for "got ..." in messages. */
static const char *describe(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return "nil";
	case MSGPACK_OBJECT_BOOLEAN:
		return "a boolean";
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return "an integer";
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return "a float";
	case MSGPACK_OBJECT_STR:
		return "a string";
	case MSGPACK_OBJECT_BIN:
		return "binary data (bin)";
	case MSGPACK_OBJECT_ARRAY:
		return "an array";
	case MSGPACK_OBJECT_MAP:
		return "a map";
	case MSGPACK_OBJECT_EXT:
		return "an extension (ext)";
	}
	return "an unknown object";
}

/* A duration for a message: "12.345s" or "3d 4h 5m 6s" style. */
static const char *fmt_duration(char buf[48], int64_t us)
{
	uint64_t u = us < 0 ? 0 : (uint64_t)us;
	uint64_t s = u / 1000000, d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;

	if (s < 60)
		snprintf(buf, 48, "%" PRIu64 ".%03" PRIu64 "s", s, u / 1000 % 1000);
	else if (d)
		snprintf(buf, 48, "%" PRIu64 "d %" PRIu64 "h %" PRIu64 "m", d, h, m);
	else if (h)
		snprintf(buf, 48, "%" PRIu64 "h %" PRIu64 "m %" PRIu64 "s", h, m, s % 60);
	else
		snprintf(buf, 48, "%" PRIu64 "m %" PRIu64 "s", m, s % 60);
	return buf;
}

static int64_t sat_sub(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_sub_overflow(a, b, &r))
		return b < 0 ? INT64_MAX : INT64_MIN;
	return r;
}

/* ---- fields --------------------------------------------------------------- */

/* Whether check_str would pass `o`, without a message: callers whose field
 * name costs a format test this first. */
static bool str_ok(const msgpack_object *o, size_t min, size_t max, unsigned flags)
{
	struct tn__utf8_fault f;

	return o->type == MSGPACK_OBJECT_STR && o->via.str.size >= min &&
	       o->via.str.size <= max &&
	       tn__utf8_check(o->via.str.ptr, o->via.str.size, flags, &f) == 0;
}

/*
 * check_str - `o` is a string of min..max bytes, valid UTF-8 without NUL
 * (and without control characters under TN__UTF8_NO_CONTROL). `what` is the
 * expectation for messages ("a string of 1..128 bytes"). Returns 0, or
 * TN_ESCHEMA after recording the message on `it` (if it is the first error).
 * These checks return their own verdict, not it->err, so that the id can be
 * judged usable even when an earlier key already failed.
 */
static int check_str(struct tn_wire_item *it, const char *field, const msgpack_object *o,
		     size_t min, size_t max, unsigned flags, const char *what)
{
	struct tn__utf8_fault f;
	size_t len;

	if (str_ok(o, min, max, flags))
		return 0;
	if (o->type != MSGPACK_OBJECT_STR)
		return item_fail(it, TN_ESCHEMA, "%s: expected %s, got %s", field, what,
				 describe(o));
	len = o->via.str.size;
	if (len < min || len > max)
		return item_fail(it, TN_ESCHEMA, "%s: expected %s, got %zu bytes", field, what,
				 len);
	if (tn__utf8_check(o->via.str.ptr, len, flags, &f) == 0)
		return 0;
	switch (f.kind) {
	case TN__UTF8_NUL:
		return item_fail(it, TN_ESCHEMA,
				 "%s: NUL byte at byte %zu; expected %s without NUL", field, f.at,
				 what);
	case TN__UTF8_CONTROL:
		return item_fail(it, TN_ESCHEMA,
				 "%s: control character 0x%02x at byte %zu; expected %s without "
				 "control characters",
				 field, (unsigned char)o->via.str.ptr[f.at], f.at, what);
	default:
		return item_fail(it, TN_ESCHEMA, "%s: invalid UTF-8 at byte %zu; expected %s",
				 field, f.at, what);
	}
}

static int copy_str(struct tn_wire_decoder *d, struct tn_wire_item *it, const msgpack_object *o,
		    const char **dst)
{
	*dst = arena_str(d, o->via.str.ptr, o->via.str.size);
	if (!*dst)
		return item_fail(it, TN_ENOMEM, "out of memory");
	return 0;
}

static int check_asset(struct tn_wire_item *it, const msgpack_object *o)
{
	static const char what[] = "1..64 characters of [A-Za-z0-9._:-]";
	char q[QUOTE_CAP];
	size_t len;

	if (o->type != MSGPACK_OBJECT_STR)
		return item_fail(it, TN_ESCHEMA, "asset: expected a string of %s, got %s", what,
				 describe(o));
	len = o->via.str.size;
	if (len < 1 || len > TN_WIRE_MAX_ASSET)
		return item_fail(it, TN_ESCHEMA, "asset: expected %s, got %zu bytes", what, len);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)o->via.str.ptr[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == ':' || c == '-'))
			return item_fail(it, TN_ESCHEMA, "asset: expected %s, got %s", what,
					 quote(q, o->via.str.ptr, len));
	}
	return 0;
}

static int check_enum(struct tn_wire_item *it, const char *field, const msgpack_object *o,
		      const char *list, size_t list_len, int (*parse)(const char *, size_t),
		      int *out)
{
	char q[QUOTE_CAP];
	int v;

	/* list ends with ", " from the X-macro expansion */
	if (o->type != MSGPACK_OBJECT_STR)
		return item_fail(it, TN_ESCHEMA, "%s: expected one of %.*s, got %s", field,
				 (int)(list_len - 2), list, describe(o));
	v = parse(o->via.str.ptr, o->via.str.size);
	if (v < 0)
		return item_fail(it, TN_ESCHEMA, "%s: expected one of %.*s, got %s", field,
				 (int)(list_len - 2), list,
				 quote(q, o->via.str.ptr, o->via.str.size));
	*out = v;
	return 0;
}

static uint32_t load32(const char *p)
{
	const unsigned char *b = (const unsigned char *)p;

	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static uint64_t load64(const char *p)
{
	return (uint64_t)load32(p) << 32 | load32(p + 4);
}

/*
 * check_time - a MessagePack timestamp (ext -1: 32-bit seconds; 64-bit
 * 30-bit nanoseconds and 34-bit seconds; 96-bit 32-bit nanoseconds and
 * signed 64-bit seconds) or integer milliseconds, within 1970..9999, to µs.
 * Nanoseconds below a microsecond are dropped (the event model holds µs).
 */
static int check_time(struct tn_wire_item *it, const msgpack_object *o, int64_t *out)
{
	static const char what[] = "a MessagePack timestamp (ext -1) or integer milliseconds "
				   "since the Unix epoch";
	static const char range[] = "a time from 1970-01-01 to 9999-12-31 UTC";
	int64_t sec;
	uint32_t nsec;

	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (o->via.u64 > (uint64_t)TIME_MAX_S * 1000 + 999)
			return item_fail(it, TN_ESCHEMA, "time: expected %s, got %" PRIu64 " ms",
					 range, o->via.u64);
		*out = (int64_t)o->via.u64 * 1000;
		return 0;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return item_fail(it, TN_ESCHEMA, "time: expected %s, got %" PRId64 " ms", range,
				 o->via.i64);
	case MSGPACK_OBJECT_EXT:
		break;
	default:
		return item_fail(it, TN_ESCHEMA, "time: expected %s, got %s", what, describe(o));
	}
	if (o->via.ext.type != -1)
		return item_fail(it, TN_ESCHEMA, "time: expected %s, got an extension of type %d",
				 what, o->via.ext.type);
	switch (o->via.ext.size) {
	case 4:
		sec = load32(o->via.ext.ptr);
		nsec = 0;
		break;
	case 8: {
		uint64_t v = load64(o->via.ext.ptr);

		nsec = (uint32_t)(v >> 34);
		sec = (int64_t)(v & ((UINT64_C(1) << 34) - 1));
		break;
	}
	case 12:
		nsec = load32(o->via.ext.ptr);
		sec = (int64_t)load64(o->via.ext.ptr + 4);
		break;
	default:
		return item_fail(it, TN_ESCHEMA,
				 "time: timestamp extension of %" PRIu32
				 " bytes; expected 4, 8 or 12",
				 o->via.ext.size);
	}
	if (nsec > 999999999)
		return item_fail(it, TN_ESCHEMA,
				 "time: timestamp with %" PRIu32
				 " nanoseconds; expected 0..999999999",
				 nsec);
	if (sec < 0 || sec > TIME_MAX_S)
		return item_fail(it, TN_ESCHEMA, "time: expected %s, got %" PRId64 " s", range,
				 sec);
	*out = sec * US_PER_S + nsec / 1000;
	return 0;
}

static int check_severity(struct tn_wire_item *it, const msgpack_object *o, int *out)
{
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		if (o->via.u64 >= 1 && o->via.u64 <= 5) {
			*out = (int)o->via.u64;
			return 0;
		}
		return item_fail(it, TN_ESCHEMA,
				 "severity: expected an integer 1..5 (1 = most severe), "
				 "got %" PRIu64,
				 o->via.u64);
	}
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		return item_fail(it, TN_ESCHEMA,
				 "severity: expected an integer 1..5 (1 = most severe), "
				 "got %" PRId64,
				 o->via.i64);
	return item_fail(it, TN_ESCHEMA, "severity: expected an integer 1..5, got %s",
			 describe(o));
}

static int check_coord(struct tn_wire_item *it, const msgpack_object *o, const char *name,
		       double bound, double *out)
{
	double v;

	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		v = (double)o->via.u64;
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		v = (double)o->via.i64;
		break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		v = o->via.f64;
		break;
	default:
		return item_fail(it, TN_ESCHEMA, "geo: %s: expected a number, got %s", name,
				 describe(o));
	}
	if (!isfinite(v) || v < -bound || v > bound)
		return item_fail(it, TN_ESCHEMA,
				 "geo: %s: expected a finite number in %g..%g, got %g", name,
				 -bound, bound, v);
	*out = v;
	return 0;
}

static int check_geo(struct tn_wire_item *it, const msgpack_object *o, struct tn_event *ev)
{
	if (o->type != MSGPACK_OBJECT_ARRAY)
		return item_fail(it, TN_ESCHEMA, "geo: expected [lat, lon], an array of 2 numbers, "
				 "got %s", describe(o));
	if (o->via.array.size != 2)
		return item_fail(it, TN_ESCHEMA, "geo: expected [lat, lon], an array of 2 numbers, "
				 "got an array of %" PRIu32, o->via.array.size);
	if (check_coord(it, &o->via.array.ptr[0], "latitude", 90, &ev->lat) ||
	    check_coord(it, &o->via.array.ptr[1], "longitude", 180, &ev->lon))
		return TN_ESCHEMA;
	ev->has_geo = true;
	return 0;
}

/* "attrs[<quoted key>]", the field name of an attribute's value in messages. */
static const char *attr_field(char field[QUOTE_CAP + 8], const msgpack_object *k)
{
	char q[QUOTE_CAP];

	snprintf(field, QUOTE_CAP + 8, "attrs[%s]", quote(q, k->via.str.ptr, k->via.str.size));
	return field;
}

/* The value of the attribute keyed `key` (a string); its field name is
 * formatted only when it fails. */
static int check_attr_value(struct tn_wire_decoder *d, struct tn_wire_item *it,
			    const msgpack_object *key, const msgpack_object *o, struct tn_attr *a)
{
	char field[QUOTE_CAP + 8];

	switch (o->type) {
	case MSGPACK_OBJECT_STR:
		if (!str_ok(o, 0, TN_WIRE_MAX_ATTR_STR, 0))
			return check_str(it, attr_field(field, key), o, 0, TN_WIRE_MAX_ATTR_STR, 0,
					 WHAT_ATTR_STR);
		a->kind = TN_ATTR_STR;
		return copy_str(d, it, o, &a->v.s);
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (o->via.u64 > INT64_MAX)
			return item_fail(it, TN_ESCHEMA,
					 "%s: integer %" PRIu64 " out of range; expected a signed "
					 "64-bit integer",
					 attr_field(field, key), o->via.u64);
		a->kind = TN_ATTR_INT;
		a->v.i = (int64_t)o->via.u64;
		return 0;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		a->kind = TN_ATTR_INT;
		a->v.i = o->via.i64;
		return 0;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		/* JSON and PostgreSQL's jsonb, where attrs end up, have no NaN or inf. */
		if (!isfinite(o->via.f64))
			return item_fail(it, TN_ESCHEMA, "%s: expected a finite float, got %g",
					 attr_field(field, key), o->via.f64);
		a->kind = TN_ATTR_FLOAT;
		a->v.f = o->via.f64;
		return 0;
	case MSGPACK_OBJECT_BOOLEAN:
		a->kind = TN_ATTR_BOOL;
		a->v.b = o->via.boolean;
		return 0;
	default:
		return item_fail(it, TN_ESCHEMA,
				 "%s: expected a string, integer, float or boolean, got %s",
				 attr_field(field, key), describe(o));
	}
}

static int check_attrs(struct tn_wire_decoder *d, struct tn_wire_item *it,
		       const msgpack_object *o, struct tn_event *ev)
{
	char field[QUOTE_CAP + 8], q[QUOTE_CAP];
	struct tn_attr *attrs;
	uint32_t n;

	if (o->type != MSGPACK_OBJECT_MAP)
		return item_fail(it, TN_ESCHEMA,
				 "attrs: expected a map of string keys to strings, integers, "
				 "floats or booleans, got %s",
				 describe(o));
	n = o->via.map.size;
	if (n > TN_WIRE_MAX_ATTRS)
		return item_fail(it, TN_ESCHEMA,
				 "attrs: expected at most %d entries, got %" PRIu32,
				 TN_WIRE_MAX_ATTRS, n);
	if (n == 0)
		return 0;
	attrs = arena_alloc(d, n * sizeof *attrs, alignof(struct tn_attr));
	if (!attrs)
		return item_fail(it, TN_ENOMEM, "out of memory");
	for (uint32_t i = 0; i < n; i++) {
		const msgpack_object *k = &o->via.map.ptr[i].key;

		if (!str_ok(k, 1, TN_WIRE_MAX_ATTR_KEY, 0)) {
			snprintf(field, sizeof field, "attrs: key %" PRIu32, i + 1);
			return check_str(it, field, k, 1, TN_WIRE_MAX_ATTR_KEY, 0, WHAT_ATTR_KEY);
		}
		for (uint32_t j = 0; j < i; j++) {
			const msgpack_object *p = &o->via.map.ptr[j].key;

			if (p->via.str.size == k->via.str.size &&
			    memcmp(p->via.str.ptr, k->via.str.ptr, k->via.str.size) == 0)
				return item_fail(it, TN_ESCHEMA, "attrs: duplicate key %s",
						 quote(q, k->via.str.ptr, k->via.str.size));
		}
		if (copy_str(d, it, k, &attrs[i].key) ||
		    check_attr_value(d, it, k, &o->via.map.ptr[i].val, &attrs[i]))
			return it->err;
	}
	ev->attrs = attrs;
	ev->n_attrs = n;
	return 0;
}

/*
 * check_time_bounds - E_TIME when `t` is beyond lim's future bound or
 * horizon. A small integer time is most likely seconds sent for
 * milliseconds: say so.
 */
static int check_time_bounds(struct tn_wire_item *it, const struct tn_wire_limits *lim,
			     int64_t t, const msgpack_object *o)
{
	int64_t ahead = sat_sub(t, lim->now_us), ago = sat_sub(0, ahead);
	bool small = o->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
		     o->via.u64 < UINT64_C(100000000000);
	char a[48], b[48];

	if (ahead > lim->max_future_us)
		return item_fail(it, TN_ETIME,
				 "time: %s in the future; at most %s ahead of the server clock "
				 "is accepted",
				 fmt_duration(a, ahead), fmt_duration(b, lim->max_future_us));
	if (ahead < 0 && ago > lim->horizon_us)
		return item_fail(it, TN_ETIME,
				 "time: %s in the past; events older than %s (the retention "
				 "horizon) are refused%s",
				 fmt_duration(a, ago), fmt_duration(b, lim->horizon_us),
				 small ? "; integer time is milliseconds, not seconds" : "");
	return 0;
}

/* ---- an event ------------------------------------------------------------- */

static int find_key(const msgpack_object *k)
{
	for (int i = 0; i < K__COUNT; i++)
		if (strlen(key_names[i]) == k->via.str.size &&
		    memcmp(key_names[i], k->via.str.ptr, k->via.str.size) == 0)
			return i;
	return -1;
}

static void item_init(struct tn_wire_item *it)
{
	memset(it, 0, sizeof *it);
	it->ev.sector = TN_SECTOR_NONE;
}

/*
 * validate - the schema, in two passes: first sort the map's entries into
 * the known keys (unknown, duplicate and non-string keys fail here), then
 * judge the fields in table order. The id is judged whatever happened
 * before it, so that a reply can name the event it refuses. The first error
 * is the one reported.
 */
static int validate(struct tn_wire_decoder *d, const msgpack_object *o,
		    const struct tn_wire_limits *lim, struct tn_wire_item *it)
{
	const msgpack_object *v[K__COUNT] = {0};
	struct tn_event *ev = &it->ev;
	char q[QUOTE_CAP];
	int type = 0, sector = 0;

	item_init(it);
	if (o->type != MSGPACK_OBJECT_MAP)
		return item_fail(it, TN_ESCHEMA, "expected a map (an event), got %s", describe(o));

	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object *k = &o->via.map.ptr[i].key;
		int idx;

		if (k->type != MSGPACK_OBJECT_STR) {
			item_fail(it, TN_ESCHEMA, "key %" PRIu32 ": expected a string key, got %s",
				  i + 1, describe(k));
			continue;
		}
		idx = find_key(k);
		if (idx < 0)
			item_fail(it, TN_ESCHEMA,
				  "unknown key %s; allowed keys: " KEY_LIST
				  "; put other data in attrs",
				  quote(q, k->via.str.ptr, k->via.str.size));
		else if (v[idx])
			item_fail(it, TN_ESCHEMA, "%s: duplicate key", key_names[idx]);
		else
			v[idx] = &o->via.map.ptr[i].val;
	}

	if (v[K_ID] && check_str(it, "id", v[K_ID], 1, TN_WIRE_MAX_ID, TN__UTF8_NO_CONTROL,
				 WHAT_ID) == 0) {
		if (copy_str(d, it, v[K_ID], &ev->id))
			return it->err;
		it->id = ev->id;
	}
	if (it->err)
		return it->err;
	if (!v[K_ID])
		return item_fail(it, TN_ESCHEMA, "id: required key missing (%s)", WHAT_ID);

	if (!v[K_SOURCE])
		return item_fail(it, TN_ESCHEMA, "source: required key missing (%s)", WHAT_SOURCE);
	if (check_str(it, "source", v[K_SOURCE], 1, TN_WIRE_MAX_SOURCE, TN__UTF8_NO_CONTROL,
		      WHAT_SOURCE) ||
	    copy_str(d, it, v[K_SOURCE], &ev->source))
		return it->err;

	if (!v[K_TYPE])
		return item_fail(it, TN_ESCHEMA, "type: required key missing (one of %.*s)",
				 (int)sizeof type_list - 3, type_list);
	if (check_enum(it, "type", v[K_TYPE], type_list, sizeof type_list - 1,
		       tn_event_type_parse, &type))
		return it->err;
	ev->type = (enum tn_event_type)type;

	if (!v[K_TIME])
		return item_fail(it, TN_ESCHEMA, "time: required key missing (a MessagePack "
				 "timestamp or integer milliseconds since the Unix epoch)");
	if (check_time(it, v[K_TIME], &ev->time_us))
		return it->err;

	if (v[K_SECTOR]) {
		if (check_enum(it, "sector", v[K_SECTOR], sector_list, sizeof sector_list - 1,
			       tn_sector_parse, &sector))
			return it->err;
		ev->sector = (enum tn_sector)sector;
	} else if (ev->type != TN_EV_HEARTBEAT) {
		return item_fail(it, TN_ESCHEMA, "sector: required key missing for type %s",
				 tn_event_type_name(ev->type));
	}

	if (v[K_ASSET]) {
		if (check_asset(it, v[K_ASSET]) || copy_str(d, it, v[K_ASSET], &ev->asset))
			return it->err;
	} else if (ev->type != TN_EV_HEARTBEAT) {
		return item_fail(it, TN_ESCHEMA, "asset: required key missing for type %s",
				 tn_event_type_name(ev->type));
	}

	if (v[K_SEVERITY]) {
		if (check_severity(it, v[K_SEVERITY], &ev->severity))
			return it->err;
	} else {
		ev->severity = tn_event_default_severity(ev->type);
	}

	if (v[K_SUMMARY]) {
		if (check_str(it, "summary", v[K_SUMMARY], 0, TN_WIRE_MAX_SUMMARY, 0,
			      WHAT_SUMMARY) ||
		    copy_str(d, it, v[K_SUMMARY], &ev->summary))
			return it->err;
	}

	if (v[K_GEO] && check_geo(it, v[K_GEO], ev))
		return it->err;
	if (v[K_ATTRS] && check_attrs(d, it, v[K_ATTRS], ev))
		return it->err;

	if (lim)
		check_time_bounds(it, lim, ev->time_us, v[K_TIME]);
	return it->err;
}

int tn_wire_validate_event(struct tn_wire_decoder *d, const msgpack_object *o,
			   const struct tn_wire_limits *lim, struct tn_wire_item *item)
{
	if (!item)
		return TN_EINVAL;
	if (!d || !o) {
		item_init(item);
		return item_fail(item, TN_EINVAL, "invalid argument");
	}
	arena_reset(d);
	return validate(d, o, lim, item);
}

/* ---- a frame -------------------------------------------------------------- */

static int decode_objects(struct tn_wire_decoder *d, const msgpack_object *root,
			  const struct tn_wire_limits *lim, struct tn_wire_frame *out)
{
	size_t n;

	if (root->type == MSGPACK_OBJECT_MAP) {
		n = 1;
	} else if (root->type == MSGPACK_OBJECT_ARRAY) {
		n = root->via.array.size;
		out->batch = true;
		if (n == 0)
			return frame_fail(out, TN_EDECODE,
					  "empty batch: expected an array of 1..%d events",
					  TN_WIRE_MAX_BATCH);
		if (n > TN_WIRE_MAX_BATCH)
			return frame_fail(out, TN_EDECODE,
					  "batch of %zu events; at most %d per frame", n,
					  TN_WIRE_MAX_BATCH);
	} else {
		return frame_fail(out, TN_ESCHEMA,
				  "frame: expected a map (an event) or an array of maps (a batch), "
				  "got %s",
				  describe(root));
	}
	if (items_reserve(d, n))
		return frame_fail(out, TN_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const msgpack_object *o = out->batch ? &root->via.array.ptr[i] : root;

		if (validate(d, o, lim, &d->items[i]) == TN_ENOMEM)
			return frame_fail(out, TN_ENOMEM, "out of memory");
	}
	out->n = n;
	out->items = d->items;
	return 0;
}

int tn_wire_decode(struct tn_wire_decoder *d, const void *buf, size_t len,
		   const struct tn_wire_limits *lim, struct tn_wire_frame *out)
{
	msgpack_object root;
	size_t off = 0;
	int rc;

	if (!out)
		return TN_EINVAL;
	out->batch = false;
	out->n = 0;
	out->items = NULL;
	out->msg[0] = '\0';
	if (!d || (!buf && len))
		return frame_fail(out, TN_EINVAL, "invalid argument");
	if (len > TN_WIRE_MAX_FRAME)
		return frame_fail(out, TN_EDECODE, "frame of %zu bytes; at most %d bytes", len,
				  TN_WIRE_MAX_FRAME);
	rc = tn_wire_scan(buf, len, TN_WIRE_MAX_DEPTH, TN_WIRE_MAX_OBJECTS, out->msg,
			  sizeof out->msg);
	if (rc)
		return rc;

	arena_reset(d);
	switch (msgpack_unpack(buf, len, &off, &d->zone, &root)) {
	case MSGPACK_UNPACK_SUCCESS:
		rc = decode_objects(d, &root, lim, out);
		break;
	case MSGPACK_UNPACK_NOMEM_ERROR:
		rc = frame_fail(out, TN_ENOMEM, "out of memory");
		break;
	default:
		/* The scan accepts only what msgpack-c parses; kept for safety. */
		rc = frame_fail(out, TN_EDECODE, "not valid MessagePack");
		break;
	}
	/* Results live in the arena, not the zone: give the zone back now. */
	msgpack_zone_clear(&d->zone);
	return rc;
}
