/* alerts_json.c - an alert's topic and MessagePack body from a CHANGE record (alerts_int.h). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts_int.h"
#include "correlate.h"
#include "tocsin/error.h"
#include "utf8.h"

#define JSON_DEPTH_MAX 32
#define NUM_MAX 64 /* longest number text read; the correlator writes at most 24 */

static void pack_str(msgpack_packer *pk, const char *s, size_t n)
{
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

/*
 * The body arrives as JSON text (the correlator's, or PostgreSQL's jsonb
 * text for `since`) and leaves as MessagePack. This used to build a jansson
 * tree and walk it: half the alerts thread's time went to the tree's
 * mallocs, and at a busy moment the alerts thread took a whole CPU from the
 * ingest path (docs/bench.md, session 5). This is one pass, no tree: values
 * are packed as they are read, and a map's or array's header, whose count
 * is known only at its end, is written as a 5-byte placeholder and then
 * shrunk to the form msgpack-c would have chosen. What it accepts and
 * refuses is jansson's (RFC 8259, strict UTF-8, no \u0000, integers within
 * int64, reals that do not overflow); the unit suite test_alerts checks
 * byte-equality with the jansson tree on random documents. Keys are copied
 * as written: a key twice stays twice (the correlator writes each once).
 */
struct jp {
	const char *p, *end;
	struct tn__bytes *out;
	msgpack_packer pk;
	struct tn__bytes str; /* a string with escapes, decoded */
};

static void skip_ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int hex4(const char *s, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		char c = s[i];
		unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
			     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
			     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
						    : 16u;
		if (d == 16)
			return TN_ECORRUPT;
		*v = *v << 4 | d;
	}
	return 0;
}

static int put_utf8(struct tn__bytes *b, unsigned cp)
{
	unsigned char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | cp >> 6);
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | cp >> 12);
		u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | cp >> 18);
		u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return tn__bytes_write(b, (const char *)u, n) == 0 ? 0 : TN_ENOMEM;
}

/* One escape after the backslash at j->p[-1]; decoded into j->str. */
static int unescape(struct jp *j)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	unsigned cp, lo;

	if (j->p >= j->end)
		return TN_ECORRUPT;
	const char *e = memchr(from, *j->p, sizeof from - 1);
	if (e) {
		j->p++;
		return tn__bytes_write(&j->str, &to[e - from], 1) == 0 ? 0 : TN_ENOMEM;
	}
	if (*j->p != 'u' || j->end - j->p < 5 || hex4(j->p + 1, &cp) != 0)
		return TN_ECORRUPT;
	j->p += 5;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return TN_ECORRUPT; /* a low surrogate alone */
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' ||
		    hex4(j->p + 2, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
			return TN_ECORRUPT; /* a high surrogate alone */
		j->p += 6;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	if (cp == 0)
		return TN_ECORRUPT; /* jansson refuses it too: C strings end there */
	return put_utf8(&j->str, cp);
}

/* A string from the opening quote at j->p, packed as str. */
static int string(struct jp *j)
{
	const char *run = ++j->p;
	bool escaped = false;
	int rc;

	j->str.len = 0;
	for (;;) {
		while (j->p < j->end && *j->p != '"' && *j->p != '\\' &&
		       (unsigned char)*j->p >= 0x20)
			j->p++;
		if (j->p >= j->end || (unsigned char)*j->p < 0x20)
			return TN_ECORRUPT; /* unterminated, or a raw control character */
		if (tn__utf8_check(run, (size_t)(j->p - run), 0, NULL) != 0)
			return TN_ECORRUPT;
		if (*j->p == '"')
			break;
		escaped = true;
		if (tn__bytes_write(&j->str, run, (size_t)(j->p - run)) != 0)
			return TN_ENOMEM;
		j->p++;
		if ((rc = unescape(j)) != 0)
			return rc;
		run = j->p;
	}
	if (escaped && tn__bytes_write(&j->str, run, (size_t)(j->p - run)) != 0)
		return TN_ENOMEM;
	const char *s = escaped ? j->str.data : run;
	size_t n = escaped ? j->str.len : (size_t)(j->p - run);
	j->p++;
	if (msgpack_pack_str(&j->pk, n) != 0 || msgpack_pack_str_body(&j->pk, s, n) != 0)
		return TN_ENOMEM;
	return 0;
}

static bool digit(const struct jp *j)
{
	return j->p < j->end && *j->p >= '0' && *j->p <= '9';
}

/* A number (RFC 8259's grammar): int64 without fraction or exponent, else float64. */
static int number(struct jp *j)
{
	const char *s = j->p;
	bool real = false;
	char buf[NUM_MAX + 1], *stop;
	int rc;

	if (*j->p == '-')
		j->p++;
	if (!digit(j))
		return TN_ECORRUPT;
	if (*j->p++ != '0')
		while (digit(j))
			j->p++;
	if (j->p < j->end && *j->p == '.') {
		real = true;
		j->p++;
		if (!digit(j))
			return TN_ECORRUPT;
		while (digit(j))
			j->p++;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		real = true;
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (!digit(j))
			return TN_ECORRUPT;
		while (digit(j))
			j->p++;
	}
	size_t n = (size_t)(j->p - s);
	if (n > NUM_MAX)
		return TN_ECORRUPT; /* never written so; too long for int64 anyway */
	memcpy(buf, s, n);
	buf[n] = 0;
	errno = 0;
	if (!real) {
		long long v = strtoll(buf, &stop, 10);
		if (errno == ERANGE || stop != buf + n)
			return TN_ECORRUPT;
		rc = msgpack_pack_int64(&j->pk, (int64_t)v);
	} else {
		double v = strtod(buf, &stop); /* tocsind keeps the C locale */
		if ((errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL)) || stop != buf + n)
			return TN_ECORRUPT;
		rc = msgpack_pack_double(&j->pk, v);
	}
	return rc == 0 ? 0 : TN_ENOMEM;
}

static bool word(struct jp *j, const char *w, size_t n)
{
	if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0)
		return false;
	j->p += n;
	return true;
}

/* Shrink the 5-byte placeholder at `at` to the header msgpack-c writes for n. */
static void close_header(struct tn__bytes *b, size_t at, uint32_t n, bool map)
{
	unsigned char h[5];
	size_t hn;

	if (n < 16) {
		h[0] = (unsigned char)((map ? 0x80 : 0x90) | n);
		hn = 1;
	} else if (n < 65536) {
		h[0] = map ? 0xde : 0xdc;
		h[1] = (unsigned char)(n >> 8);
		h[2] = (unsigned char)n;
		hn = 3;
	} else {
		h[0] = map ? 0xdf : 0xdd;
		h[1] = (unsigned char)(n >> 24);
		h[2] = (unsigned char)(n >> 16);
		h[3] = (unsigned char)(n >> 8);
		h[4] = (unsigned char)n;
		hn = 5;
	}
	if (hn < 5) {
		memmove(b->data + at + hn, b->data + at + 5, b->len - at - 5);
		b->len -= 5 - hn;
	}
	memcpy(b->data + at, h, hn);
}

static int value(struct jp *j, int depth);

/* An object or array from its opening bracket at j->p. */
static int container(struct jp *j, int depth)
{
	bool map = *j->p == '{';
	char close = map ? '}' : ']';
	size_t at = j->out->len;
	uint32_t n = 0;
	int rc;

	if (depth > JSON_DEPTH_MAX)
		return TN_ECORRUPT;
	if (tn__bytes_reserve(j->out, 5) != 0)
		return TN_ENOMEM;
	j->out->len += 5;
	j->p++;
	skip_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		close_header(j->out, at, 0, map);
		return 0;
	}
	for (;;) {
		if (map) {
			if (j->p >= j->end || *j->p != '"')
				return TN_ECORRUPT;
			if ((rc = string(j)) != 0)
				return rc;
			skip_ws(j);
			if (j->p >= j->end || *j->p++ != ':')
				return TN_ECORRUPT;
			skip_ws(j);
		}
		if ((rc = value(j, depth + 1)) != 0)
			return rc;
		if (n == UINT32_MAX)
			return TN_ECORRUPT;
		n++;
		skip_ws(j);
		if (j->p >= j->end)
			return TN_ECORRUPT;
		if (*j->p == close)
			break;
		if (*j->p++ != ',')
			return TN_ECORRUPT;
		skip_ws(j);
	}
	j->p++;
	close_header(j->out, at, n, map);
	return 0;
}

static int value(struct jp *j, int depth)
{
	if (j->p >= j->end)
		return TN_ECORRUPT;
	switch (*j->p) {
	case '{':
	case '[':
		return container(j, depth);
	case '"':
		return string(j);
	case 't':
		return word(j, "true", 4) ? (msgpack_pack_true(&j->pk) ? TN_ENOMEM : 0)
					  : TN_ECORRUPT;
	case 'f':
		return word(j, "false", 5) ? (msgpack_pack_false(&j->pk) ? TN_ENOMEM : 0)
					   : TN_ECORRUPT;
	case 'n':
		return word(j, "null", 4) ? (msgpack_pack_nil(&j->pk) ? TN_ENOMEM : 0)
					  : TN_ECORRUPT;
	default:
		return number(j);
	}
}

int tn__alert_pack_json(struct tn__bytes *out, const char *json, size_t len)
{
	struct jp j = {.p = json, .end = json + len, .out = out};
	size_t start = out->len;

	msgpack_packer_init(&j.pk, out, tn__bytes_write);
	skip_ws(&j);
	int rc = value(&j, 0);
	if (rc == 0) {
		skip_ws(&j);
		if (j.p != j.end)
			rc = TN_ECORRUPT; /* something after the value */
	}
	free(j.str.data);
	if (rc != 0)
		out->len = start;
	return rc;
}

static bool topic_text_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == '/' || s[i] == 0x7f)
			return false;
	return true;
}

/* Whether packed MessagePack begins with a map (fixmap, map 16, map 32). */
static bool is_map(const struct tn__bytes *b)
{
	unsigned char c = b->len ? (unsigned char)b->data[0] : 0;
	return (c >= 0x80 && c <= 0x8f) || c == 0xde || c == 0xdf;
}

int tn__alert_from_row(const char *stream, size_t stream_len, const char *msg, size_t msg_len,
		       int64_t priority, const char *area, size_t area_len, const char *json,
		       size_t json_len, uint64_t seq, struct tn__alert **out)
{
	char topic[TN__ALERT_TOPIC_MAX];
	struct tn__bytes body = {0};
	int n, rc;

	*out = NULL;
	if (!seq)
		return TN_ECORRUPT;
	if (priority < 1 || priority > 5 || !topic_text_ok(stream, stream_len) ||
	    !stream_len || !topic_text_ok(area, area_len))
		return TN_ECORRUPT;
	if (stream_len == 4 && memcmp(stream, "live", 4) == 0)
		n = snprintf(topic, sizeof topic, "live/P%d/%.*s", (int)priority,
			     area_len ? (int)area_len : 1, area_len ? area : "-");
	else
		n = snprintf(topic, sizeof topic, "drill/%.*s/P%d/%.*s", (int)stream_len, stream,
			     (int)priority, area_len ? (int)area_len : 1, area_len ? area : "-");
	if (n < 0 || (size_t)n >= sizeof topic)
		return TN_ECORRUPT;

	rc = tn__alert_pack_json(&body, json, json_len);
	if (rc == 0 && !is_map(&body))
		rc = TN_ECORRUPT; /* JSON, but not an object */
	if (rc != 0) {
		free(body.data);
		return rc;
	}
	struct tn__alert *a = malloc(sizeof *a + (size_t)n + 1 + body.len);
	if (!a) {
		free(body.data);
		return TN_ENOMEM;
	}
	a->refs = 1;
	a->red[0] = a->red[1] = (struct tn__bytes){0};
	a->red_serial = 0;
	a->seq = seq;
	a->rev = 0;
	a->priority = (uint8_t)priority;
	a->open = (msg_len == 5 && memcmp(msg, "alert", 5) == 0) ||
		  (msg_len == 6 && memcmp(msg, "update", 6) == 0);
	a->incident[0] = 0;
	a->topic_len = (size_t)n;
	memcpy(a->data, topic, (size_t)n + 1);
	a->body = (unsigned char *)a->data + n + 1;
	a->body_len = body.len;
	memcpy(a->body, body.data, body.len);
	free(body.data);
	*out = a;
	return 0;
}

int tn__alert_from_change(const char *stream, size_t stream_len, const char *msg,
			  size_t msg_len, int64_t priority, const char *area, size_t area_len,
			  const char *json, size_t json_len, struct tn__alert **out)
{
	uint64_t seq;
	int rc = tn_correlate_body_seq(json, json_len, &seq);

	*out = NULL;
	if (rc != 0)
		return rc;
	return tn__alert_from_row(stream, stream_len, msg, msg_len, priority, area, area_len, json,
				  json_len, seq, out);
}

void tn__alert_unref(struct tn__alert *a)
{
	if (a && --a->refs == 0) {
		free(a->red[0].data);
		free(a->red[1].data);
		free(a);
	}
}

void tn__alerts_reply_head(msgpack_packer *pk, const struct tn__alerts_job *j, bool ok,
			   const char *op, unsigned extra_keys)
{
	msgpack_pack_map(pk, 1 + (op ? 1 : 0) + (j->id.len ? 1 : 0) + extra_keys);
	pack_str(pk, "ok", 2);
	if (ok)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
	if (op) {
		pack_str(pk, "op", 2);
		pack_str(pk, op, strlen(op));
	}
	if (j->id.len) {
		pack_str(pk, "id", 2);
		msgpack_pack_str_body(pk, j->id.data, j->id.len); /* raw: already packed */
	}
}

void tn__alerts_reply_error(struct tn__alerts_job *j, const char *op, int code, const char *msg)
{
	msgpack_packer pk;
	const char *w = tn_wire_code(code);

	j->reply.len = 0;
	msgpack_packer_init(&pk, &j->reply, tn__bytes_write);
	tn__alerts_reply_head(&pk, j, false, op, 2);
	if (!w)
		w = "E_UNAVAILABLE";
	pack_str(&pk, "code", 4);
	pack_str(&pk, w, strlen(w));
	pack_str(&pk, "msg", 3);
	pack_str(&pk, msg, strlen(msg));
}

void tn__alerts_reply_verror(struct tn__alerts_job *j, const char *op, int code, const char *fmt,
			     va_list ap)
{
	char msg[256];
	vsnprintf(msg, sizeof msg, fmt, ap);
	tn__alerts_reply_error(j, op, code, msg);
}
