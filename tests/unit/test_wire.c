/*
 * test_wire.c - the wire decoder, validator, pre-scan and packer
 * (common/wire.h, common/utf8.h; design §3.1, §7).
 *
 * Each refusal checks its code and that the message names the field. Frames
 * are built with a small spec language (see put_val) over a valid base event,
 * so that each case changes exactly one thing.
 */
#include <check.h>
#include <inttypes.h>
#include <math.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tocsin/error.h"
#include "tocsin/event.h"
#include "utf8.h"
#include "wire.h"

#define DEL "-" /* spec: remove the key */
#define NOW_US INT64_C(1700000000000000)

static struct tn_wire_decoder *dec;
static struct tn_wire_frame fr;
static msgpack_sbuffer sb;
static msgpack_packer pk;

static void setup(void)
{
	ck_assert_int_eq(tn_wire_decoder_new(&dec), 0);
	ck_assert_ptr_nonnull(dec);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
}

static void teardown(void)
{
	tn_wire_decoder_free(dec);
	msgpack_sbuffer_destroy(&sb);
}

/* ---- building frames ------------------------------------------------------ */

static void raw(msgpack_packer *p, const void *b, size_t n)
{
	msgpack_sbuffer_write(p->data, b, n);
}

static void put_str(msgpack_packer *p, const char *s)
{
	msgpack_pack_str_with_body(p, s, strlen(s));
}

static void put_hex(msgpack_packer *p, const char *hex)
{
	for (; *hex; hex++) {
		unsigned v;

		if (*hex == ' ')
			continue;
		ck_assert_int_eq(sscanf(hex, "%2x", &v), 1);
		unsigned char b = (unsigned char)v;
		raw(p, &b, 1);
		hex++;
	}
}

static void put_ts(msgpack_packer *p, int bits, int64_t sec, uint32_t nsec)
{
	unsigned char b[12];
	uint64_t v;
	size_t n = (size_t)bits / 8;

	if (bits == 32)
		v = (uint64_t)sec;
	else if (bits == 64)
		v = (uint64_t)nsec << 34 | (uint64_t)sec;
	else
		v = 0;
	if (bits == 96) {
		for (int i = 0; i < 4; i++)
			b[i] = (unsigned char)(nsec >> (24 - 8 * i));
		for (int i = 0; i < 8; i++)
			b[4 + i] = (unsigned char)((uint64_t)sec >> (56 - 8 * i));
	} else {
		for (size_t i = 0; i < n; i++)
			b[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
	}
	msgpack_pack_ext(p, n, -1);
	msgpack_pack_ext_body(p, b, n);
}

static void put_rep_str(msgpack_packer *p, char c, size_t n)
{
	char *s = malloc(n + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, c, n);
	msgpack_pack_str_with_body(p, s, n);
	free(s);
}

/*
 * put_val - pack the value described by `spec`:
 *   nil | s:TEXT | S:N:C (N copies of C) | i:INT | u:UINT | d:DOUBLE | b:0/1
 *   x:HEX (raw MessagePack) | g:LAT,LON | A (the base attrs)
 *   T32:SEC | T64:SEC:NSEC | T96:SEC:NSEC (timestamps)
 *   N:n (attrs of n int entries) | K:n (attrs with one key of n bytes)
 *   V:n (attrs {"k": string of n bytes})
 */
static void put_val(msgpack_packer *p, const char *spec)
{
	long long sec;
	unsigned long nsec;
	size_t n;
	char c;

	if (strcmp(spec, "nil") == 0) {
		msgpack_pack_nil(p);
	} else if (strncmp(spec, "s:", 2) == 0) {
		put_str(p, spec + 2);
	} else if (sscanf(spec, "S:%zu:%c", &n, &c) == 2) {
		put_rep_str(p, c, n);
	} else if (strncmp(spec, "i:", 2) == 0) {
		msgpack_pack_int64(p, strtoll(spec + 2, NULL, 10));
	} else if (strncmp(spec, "u:", 2) == 0) {
		msgpack_pack_uint64(p, strtoull(spec + 2, NULL, 10));
	} else if (strncmp(spec, "d:", 2) == 0) {
		msgpack_pack_double(p, strtod(spec + 2, NULL));
	} else if (strncmp(spec, "b:", 2) == 0) {
		if (spec[2] == '1')
			msgpack_pack_true(p);
		else
			msgpack_pack_false(p);
	} else if (strncmp(spec, "x:", 2) == 0) {
		put_hex(p, spec + 2);
	} else if (strncmp(spec, "g:", 2) == 0) {
		double lat, lon;

		ck_assert_int_eq(sscanf(spec + 2, "%lf,%lf", &lat, &lon), 2);
		msgpack_pack_array(p, 2);
		msgpack_pack_double(p, lat);
		msgpack_pack_double(p, lon);
	} else if (strcmp(spec, "A") == 0) {
		msgpack_pack_map(p, 5);
		put_str(p, "feeder");
		put_str(p, "F12");
		put_str(p, "kv");
		msgpack_pack_int(p, 11);
		put_str(p, "load");
		msgpack_pack_double(p, 0.75);
		put_str(p, "tripped");
		msgpack_pack_true(p);
		put_str(p, "delta");
		msgpack_pack_int(p, -3);
	} else if (sscanf(spec, "T32:%lld", &sec) == 1) {
		put_ts(p, 32, sec, 0);
	} else if (sscanf(spec, "T64:%lld:%lu", &sec, &nsec) == 2) {
		put_ts(p, 64, sec, (uint32_t)nsec);
	} else if (sscanf(spec, "T96:%lld:%lu", &sec, &nsec) == 2) {
		put_ts(p, 96, sec, (uint32_t)nsec);
	} else if (sscanf(spec, "N:%zu", &n) == 1) {
		msgpack_pack_map(p, n);
		for (size_t i = 0; i < n; i++) {
			char k[32];

			snprintf(k, sizeof k, "k%zu", i);
			put_str(p, k);
			msgpack_pack_uint64(p, i);
		}
	} else if (sscanf(spec, "K:%zu", &n) == 1) {
		msgpack_pack_map(p, 1);
		put_rep_str(p, 'k', n);
		msgpack_pack_int(p, 1);
	} else if (sscanf(spec, "V:%zu", &n) == 1) {
		msgpack_pack_map(p, 1);
		put_str(p, "k");
		put_rep_str(p, 'v', n);
	} else {
		ck_abort_msg("bad spec %s", spec);
	}
}

static const struct {
	const char *key, *spec;
} base[] = {
	{"id", "s:ev-1"},
	{"source", "s:test/src"},
	{"type", "s:asset.down"},
	{"time", "u:1700000000123"},
	{"sector", "s:energy"},
	{"asset", "s:sub:A1"},
	{"severity", "i:2"},
	{"summary", "s:Substation trip"},
	{"geo", "g:51.5,-0.125"},
	{"attrs", "A"},
};
#define N_BASE (sizeof base / sizeof base[0])

/* The base event with changes: pairs of key, spec (DEL removes; new keys go last), NULL. */
static void vpack_mod(msgpack_packer *p, va_list ap)
{
	const char *keys[N_BASE + 8], *specs[N_BASE + 8], *k;
	size_t n = 0, live = 0;

	for (size_t i = 0; i < N_BASE; i++, n++) {
		keys[n] = base[i].key;
		specs[n] = base[i].spec;
	}
	while ((k = va_arg(ap, const char *)) != NULL) {
		const char *s = va_arg(ap, const char *);
		size_t i;

		for (i = 0; i < n && strcmp(keys[i], k) != 0; i++)
			;
		if (i == n) {
			ck_assert_uint_lt(n, N_BASE + 8);
			keys[n++] = k;
		}
		specs[i] = s;
	}
	for (size_t i = 0; i < n; i++)
		live += strcmp(specs[i], DEL) != 0;
	msgpack_pack_map(p, live);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(specs[i], DEL) == 0)
			continue;
		put_str(p, keys[i]);
		put_val(p, specs[i]);
	}
}

static void pack_mod(msgpack_packer *p, ...)
{
	va_list ap;

	va_start(ap, p);
	vpack_mod(p, ap);
	va_end(ap);
}

static int decode_sb(const struct tn_wire_limits *lim)
{
	return tn_wire_decode(dec, sb.data, sb.size, lim, &fr);
}

/* Decode the base event with changes (key, spec pairs, NULL-terminated). */
static int dec_mod(const struct tn_wire_limits *lim, ...)
{
	va_list ap;

	msgpack_sbuffer_clear(&sb);
	va_start(ap, lim);
	vpack_mod(&pk, ap);
	va_end(ap);
	return decode_sb(lim);
}

static int dec_bytes(const void *b, size_t n)
{
	return tn_wire_decode(dec, b, n, NULL, &fr);
}

/* ---- checking ------------------------------------------------------------- */

static void assert_ascii(const char *msg)
{
	size_t n = strlen(msg);

	ck_assert_uint_lt(n, TN_WIRE_MSG_MAX);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg((unsigned char)msg[i] >= 0x20 && (unsigned char)msg[i] < 0x7f,
			      "byte %zu of message \"%s\" is not printable ASCII", i, msg);
}

static void assert_msg(const char *msg, const char *prefix, const char *want)
{
	ck_assert_msg(strncmp(msg, prefix, strlen(prefix)) == 0,
		      "message \"%s\" does not start with \"%s\"", msg, prefix);
	if (want)
		ck_assert_msg(strstr(msg, want) != NULL, "message \"%s\" lacks \"%s\"", msg, want);
	assert_ascii(msg);
}

static void assert_item(const struct tn_wire_item *it, int err, const char *prefix,
			const char *want)
{
	ck_assert_msg(it->err == err, "item err %d (%s), want %d; msg \"%s\"", it->err,
		      tn_wire_code(it->err), err, it->msg);
	assert_msg(it->msg, prefix, want);
}

static void assert_frame_err(int rc, int err, const char *want)
{
	ck_assert_msg(rc == err, "rc %d, want %d; msg \"%s\"", rc, err, fr.msg);
	ck_assert_uint_eq(fr.n, 0);
	ck_assert_ptr_null(fr.items);
	ck_assert_uint_gt(strlen(fr.msg), 0);
	if (want)
		ck_assert_msg(strstr(fr.msg, want) != NULL, "frame message \"%s\" lacks \"%s\"",
			      fr.msg, want);
	assert_ascii(fr.msg);
}

static const struct tn_wire_item *single_ok(int rc)
{
	ck_assert_msg(rc == 0, "rc %d: %s", rc, fr.msg);
	ck_assert(!fr.batch);
	ck_assert_uint_eq(fr.n, 1);
	ck_assert_msg(fr.items[0].err == 0, "item: %s", fr.items[0].msg);
	return &fr.items[0];
}

static void assert_attrs_base(const struct tn_event *ev)
{
	ck_assert_uint_eq(ev->n_attrs, 5);
	ck_assert_str_eq(ev->attrs[0].key, "feeder");
	ck_assert_int_eq(ev->attrs[0].kind, TN_ATTR_STR);
	ck_assert_str_eq(ev->attrs[0].v.s, "F12");
	ck_assert_str_eq(ev->attrs[1].key, "kv");
	ck_assert_int_eq(ev->attrs[1].kind, TN_ATTR_INT);
	ck_assert_int_eq(ev->attrs[1].v.i, 11);
	ck_assert_str_eq(ev->attrs[2].key, "load");
	ck_assert_int_eq(ev->attrs[2].kind, TN_ATTR_FLOAT);
	ck_assert_double_eq(ev->attrs[2].v.f, 0.75);
	ck_assert_str_eq(ev->attrs[3].key, "tripped");
	ck_assert_int_eq(ev->attrs[3].kind, TN_ATTR_BOOL);
	ck_assert(ev->attrs[3].v.b);
	ck_assert_str_eq(ev->attrs[4].key, "delta");
	ck_assert_int_eq(ev->attrs[4].kind, TN_ATTR_INT);
	ck_assert_int_eq(ev->attrs[4].v.i, -3);
}

/* ---- valid frames --------------------------------------------------------- */

START_TEST(test_valid_single)
{
	const struct tn_wire_item *it = single_ok(dec_mod(NULL, NULL));
	const struct tn_event *ev = &it->ev;

	ck_assert_str_eq(it->id, "ev-1");
	ck_assert_ptr_eq(it->id, ev->id);
	ck_assert_str_eq(ev->source, "test/src");
	ck_assert_int_eq(ev->type, TN_EV_DOWN);
	ck_assert_int_eq(ev->time_us, INT64_C(1700000000123000));
	ck_assert_int_eq(ev->sector, TN_SECTOR_ENERGY);
	ck_assert_str_eq(ev->asset, "sub:A1");
	ck_assert_int_eq(ev->severity, 2);
	ck_assert_str_eq(ev->summary, "Substation trip");
	ck_assert(ev->has_geo);
	ck_assert_double_eq(ev->lat, 51.5);
	ck_assert_double_eq(ev->lon, -0.125);
	assert_attrs_base(ev);
	/* strings are copies, not pointers into the frame */
	ck_assert(!(ev->source >= sb.data && ev->source < sb.data + sb.size));
}
END_TEST

START_TEST(test_valid_minimal_and_defaults)
{
	const struct tn_wire_item *it;

	/* heartbeat: no sector, asset, severity; default severity 5 */
	it = single_ok(dec_mod(NULL, "type", "s:heartbeat", "sector", DEL, "asset", DEL, "severity",
			       DEL, "summary", DEL, "geo", DEL, "attrs", DEL, NULL));
	ck_assert_int_eq(it->ev.type, TN_EV_HEARTBEAT);
	ck_assert_int_eq(it->ev.sector, TN_SECTOR_NONE);
	ck_assert_ptr_null(it->ev.asset);
	ck_assert_ptr_null(it->ev.summary);
	ck_assert(!it->ev.has_geo);
	ck_assert_uint_eq(it->ev.n_attrs, 0);
	ck_assert_int_eq(it->ev.severity, 5);

	/* severity defaults from the type */
	static const struct {
		const char *type;
		int sev;
	} d[] = {
		{"s:asset.down", 2},
		{"s:asset.degraded", 3},
		{"s:asset.alarm", 3},
		{"s:asset.up", 5},
	};
	for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) {
		it = single_ok(dec_mod(NULL, "type", d[i].type, "severity", DEL, NULL));
		ck_assert_int_eq(it->ev.severity, d[i].sev);
	}

	/* a heartbeat may carry a sector and asset; geo bounds and integer coordinates */
	it = single_ok(dec_mod(NULL, "type", "s:heartbeat", "geo", "x:92 d0a6 d0b4", "attrs",
			       "x:80", "summary", "s:", NULL));
	ck_assert_int_eq(it->ev.sector, TN_SECTOR_ENERGY);
	ck_assert_double_eq(it->ev.lat, -90);
	ck_assert_double_eq(it->ev.lon, -76);
	ck_assert_uint_eq(it->ev.n_attrs, 0);
	ck_assert_str_eq(it->ev.summary, "");
	it = single_ok(dec_mod(NULL, "geo", "g:90,180", NULL));
	ck_assert_double_eq(it->ev.lat, 90);
	ck_assert_double_eq(it->ev.lon, 180);
	/* float32 coordinates */
	it = single_ok(dec_mod(NULL, "geo", "x:92 ca 40200000 ca c0200000", NULL));
	ck_assert_double_eq(it->ev.lat, 2.5);
	ck_assert_double_eq(it->ev.lon, -2.5);

	/* limits are inclusive: 128-byte id, 256-byte source, 64-char asset, ... */
	it = single_ok(dec_mod(NULL, "id", "S:128:i", "source", "S:256:s", "asset", "S:64:a",
			       "summary", "S:512:x", "attrs", "N:32", NULL));
	ck_assert_uint_eq(strlen(it->id), 128);
	ck_assert_uint_eq(strlen(it->ev.source), 256);
	ck_assert_uint_eq(strlen(it->ev.asset), 64);
	ck_assert_uint_eq(strlen(it->ev.summary), 512);
	ck_assert_uint_eq(it->ev.n_attrs, 32);
	ck_assert_str_eq(it->ev.attrs[31].key, "k31");
	it = single_ok(dec_mod(NULL, "attrs", "K:64", NULL));
	ck_assert_uint_eq(strlen(it->ev.attrs[0].key), 64);
	it = single_ok(dec_mod(NULL, "attrs", "V:1024", NULL));
	ck_assert_uint_eq(strlen(it->ev.attrs[0].v.s), 1024);

	/* UTF-8 in free text, newlines in a summary, every asset character */
	it = single_ok(dec_mod(NULL, "summary",
			       "s:caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e\nline 2", "asset",
			       "s:AZaz09._:-", "source", "s:r\xc3\xa9seau/est", NULL));
	ck_assert_str_eq(it->ev.summary, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e\nline 2");
	ck_assert_str_eq(it->ev.asset, "AZaz09._:-");
}
END_TEST

START_TEST(test_valid_batch_mixed)
{
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_array(&pk, 5);
	pack_mod(&pk, "id", "s:good-1", NULL);
	pack_mod(&pk, "id", "s:bad-sev", "severity", "s:high", NULL);
	msgpack_pack_int(&pk, 7);
	pack_mod(&pk, "id", DEL, NULL);
	pack_mod(&pk, "id", "s:good-2", "type", "s:asset.up", "severity", DEL, NULL);

	ck_assert_int_eq(decode_sb(NULL), 0);
	ck_assert(fr.batch);
	ck_assert_uint_eq(fr.n, 5);

	ck_assert_int_eq(fr.items[0].err, 0);
	ck_assert_str_eq(fr.items[0].id, "good-1");
	ck_assert_str_eq(fr.items[0].ev.id, "good-1");

	assert_item(&fr.items[1], TN_ESCHEMA, "severity: expected an integer 1..5, got a string",
		    NULL);
	ck_assert_str_eq(fr.items[1].id, "bad-sev"); /* named although refused */

	assert_item(&fr.items[2], TN_ESCHEMA, "expected a map (an event), got an integer", NULL);
	ck_assert_ptr_null(fr.items[2].id);

	assert_item(&fr.items[3], TN_ESCHEMA, "id: required key missing", NULL);
	ck_assert_ptr_null(fr.items[3].id);

	ck_assert_int_eq(fr.items[4].err, 0);
	ck_assert_str_eq(fr.items[4].id, "good-2");
	ck_assert_int_eq(fr.items[4].ev.type, TN_EV_UP);
	ck_assert_int_eq(fr.items[4].ev.severity, 5);
	/* the first item's strings survived the validation of the others */
	ck_assert_str_eq(fr.items[0].ev.source, "test/src");
	assert_attrs_base(&fr.items[0].ev);
}
END_TEST

START_TEST(test_batch_limits)
{
	char id[32];

	/* exactly TN_WIRE_MAX_BATCH is fine */
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_array(&pk, TN_WIRE_MAX_BATCH);
	for (int i = 0; i < TN_WIRE_MAX_BATCH; i++) {
		snprintf(id, sizeof id, "s:ev-%d", i);
		pack_mod(&pk, "id", id, NULL);
	}
	ck_assert_int_eq(decode_sb(NULL), 0);
	ck_assert_uint_eq(fr.n, TN_WIRE_MAX_BATCH);
	for (int i = 0; i < TN_WIRE_MAX_BATCH; i++) {
		snprintf(id, sizeof id, "ev-%d", i);
		if (fr.items[i].err != 0 || strcmp(fr.items[i].id, id) != 0)
			ck_abort_msg("item %d: err %d id %s", i, fr.items[i].err, fr.items[i].id);
	}

	/* one more is a frame-level E_DECODE */
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_array(&pk, TN_WIRE_MAX_BATCH + 1);
	for (int i = 0; i <= TN_WIRE_MAX_BATCH; i++)
		pack_mod(&pk, NULL);
	assert_frame_err(decode_sb(NULL), TN_EDECODE, "batch of 1001 events; at most 1000");
	ck_assert_str_eq(tn_wire_code(TN_EDECODE), "E_DECODE");

	/* empty batch, in both encodings */
	assert_frame_err(dec_bytes("\x90", 1), TN_EDECODE, "empty batch");
	assert_frame_err(dec_bytes("\xdc\x00\x00", 3), TN_EDECODE, "empty batch");
}
END_TEST

START_TEST(test_top_level)
{
	assert_frame_err(dec_bytes("\xa2hi", 3), TN_ESCHEMA,
			 "frame: expected a map (an event) or an array of maps (a batch), got a "
			 "string");
	assert_frame_err(dec_bytes("\x01", 1), TN_ESCHEMA, "got an integer");
	assert_frame_err(dec_bytes("\xc0", 1), TN_ESCHEMA, "got nil");
	assert_frame_err(dec_bytes("\xc4\x01x", 3), TN_ESCHEMA, "got binary data");
	/* an empty map is an event with nothing in it */
	ck_assert_int_eq(dec_bytes("\x80", 1), 0);
	assert_item(&fr.items[0], TN_ESCHEMA, "id: required key missing", NULL);
	/* a batch of non-maps: each item refused on its own */
	ck_assert_int_eq(dec_bytes("\x92\x90\xa1x", 4), 0);
	ck_assert_uint_eq(fr.n, 2);
	assert_item(&fr.items[0], TN_ESCHEMA, "expected a map (an event), got an array", NULL);
	assert_item(&fr.items[1], TN_ESCHEMA, "expected a map (an event), got a string", NULL);
}
END_TEST

/* ---- schema errors -------------------------------------------------------- */

static const struct schema_case {
	const char *key, *spec, *prefix, *want;
} schema_cases[] = {
	{"id", "s:", "id:", "1..128 bytes, got 0 bytes"},
	{"id", "S:129:a", "id:", "got 129 bytes"},
	{"id", "i:5", "id:", "expected a string of 1..128 bytes, got an integer"},
	{"id", "x:c403616263", "id:", "got binary data (bin)"},
	{"id", "s:a\nb", "id:", "control character 0x0a at byte 1"},
	{"id", "s:a\x7f", "id:", "control character 0x7f"},
	{"id", "x:a3610062", "id:", "NUL byte at byte 1"},
	{"id", "x:a2c0af", "id:", "invalid UTF-8 at byte 0"},
	{"id", "nil", "id:", "got nil"},
	{"source", "s:", "source:", "1..256 bytes"},
	{"source", "S:257:s", "source:", "got 257 bytes"},
	{"source", "s:x\ty", "source:", "control character 0x09"},
	{"source", "x:a3610062", "source:", "NUL"},
	{"source", "x:a3eda080", "source:", "invalid UTF-8"},
	{"source", "nil", "source:", "got nil"},
	{"type", "s:asset.dwn", "type:",
	 "expected one of asset.down, asset.degraded, asset.up, asset.alarm, heartbeat, got "
	 "\"asset.dwn\""},
	{"type", "s:", "type:", "got \"\""},
	{"type", "i:1", "type:", "got an integer"},
	{"type", "x:c40161", "type:", "got binary data"},
	{"time", "s:now", "time:", "got a string"},
	{"time", "d:1.5", "time:", "got a float"},
	{"time", "nil", "time:", "got nil"},
	{"time", "x:d60500000000", "time:", "extension of type 5"},
	{"time", "x:d5ff0000", "time:", "2 bytes; expected 4, 8 or 12"},
	{"time", "x:c700ff", "time:", "0 bytes"},
	{"time", "T64:0:1000000000", "time:", "1000000000 nanoseconds"},
	{"time", "T96:0:4294967295", "time:", "nanoseconds"},
	{"time", "i:-1", "time:", "from 1970-01-01 to 9999-12-31 UTC, got -1 ms"},
	{"time", "u:253402300800000", "time:", "9999-12-31"},
	{"time", "u:18446744073709551615", "time:", "9999-12-31"},
	{"time", "T96:-1:0", "time:", "got -1 s"},
	{"time", "T96:253402300800:0", "time:", "got 253402300800 s"},
	{"time", "T96:-9223372036854775807:0", "time:", "1970"},
	{"sector", "s:enrgy", "sector:", "got \"enrgy\""},
	{"sector", "s:ENERGY", "sector:", "expected one of chemicals, civil-nuclear"},
	{"sector", "nil", "sector:", "got nil"},
	{"asset", "s:a b", "asset:", "1..64 characters of [A-Za-z0-9._:-], got \"a b\""},
	{"asset", "S:65:a", "asset:", "got 65 bytes"},
	{"asset", "s:", "asset:", "got 0 bytes"},
	{"asset", "s:caf\xc3\xa9", "asset:", "got \"caf\\xc3\\xa9\""},
	{"asset", "s:a/b", "asset:", "got \"a/b\""},
	{"asset", "x:a3610062", "asset:", "\\x00"},
	{"asset", "i:7", "asset:", "got an integer"},
	{"severity", "s:abc", "severity: expected an integer 1..5, got a string", NULL},
	{"severity", "i:9", "severity:", "got 9"},
	{"severity", "i:0", "severity:", "got 0"},
	{"severity", "i:-1", "severity:", "got -1"},
	{"severity", "d:2.0", "severity:", "got a float"},
	{"severity", "b:1", "severity:", "got a boolean"},
	{"severity", "nil", "severity:", "got nil"},
	{"summary", "S:513:x", "summary:", "at most 512 bytes, got 513 bytes"},
	{"summary", "i:1", "summary:", "got an integer"},
	{"summary", "nil", "summary:", "got nil"},
	{"summary", "x:c403616263", "summary:", "binary data"},
	{"summary", "x:a2c0af", "summary:", "invalid UTF-8 at byte 0"},       /* overlong / */
	{"summary", "x:a2c180", "summary:", "invalid UTF-8"},                  /* overlong */
	{"summary", "x:a3e080af", "summary:", "invalid UTF-8"},                /* overlong, 3 */
	{"summary", "x:a4f0808080", "summary:", "invalid UTF-8"},              /* overlong, 4 */
	{"summary", "x:a3eda080", "summary:", "invalid UTF-8"},                /* U+D800 */
	{"summary", "x:a3edbfbf", "summary:", "invalid UTF-8"},                /* U+DFFF */
	{"summary", "x:a4f4908080", "summary:", "invalid UTF-8"},              /* U+110000 */
	{"summary", "x:a4f5808080", "summary:", "invalid UTF-8"},              /* lead f5 */
	{"summary", "x:a3618062", "summary:", "invalid UTF-8 at byte 1"},      /* stray */
	{"summary", "x:a361e282", "summary:", "invalid UTF-8 at byte 1"},      /* truncated */
	{"summary", "x:a3c32862", "summary:", "invalid UTF-8 at byte 0"},      /* bad cont. */
	{"summary", "x:a1ff", "summary:", "invalid UTF-8"},
	{"summary", "x:a3610062", "summary:", "NUL byte at byte 1"},
	{"geo", "d:1.0", "geo:", "expected [lat, lon], an array of 2 numbers, got a float"},
	{"geo", "x:9101", "geo:", "got an array of 1"},
	{"geo", "x:90", "geo:", "got an array of 0"},
	{"geo", "x:93000000", "geo:", "got an array of 3"},
	{"geo", "x:80", "geo:", "got a map"},
	{"geo", "x:925b00", "geo: latitude:", "-90..90, got 91"},
	{"geo", "x:92d0a500", "geo: latitude:", "got -91"},
	{"geo", "x:9200ccb5", "geo: longitude:", "-180..180, got 181"},
	{"geo", "x:9200d1ff4b", "geo: longitude:", "got -181"},
	{"geo", "x:92cb7ff800000000000000", "geo: latitude:", "finite"},
	{"geo", "x:9200cb7ff0000000000000", "geo: longitude:", "got inf"},
	{"geo", "x:92a16100", "geo: latitude:", "expected a number, got a string"},
	{"geo", "x:9200c0", "geo: longitude:", "got nil"},
	{"geo", "x:9200c3", "geo: longitude:", "got a boolean"},
	{"attrs", "i:1", "attrs:", "expected a map of string keys"},
	{"attrs", "x:9101", "attrs:", "got an array"},
	{"attrs", "N:33", "attrs:", "at most 32 entries, got 33"},
	{"attrs", "x:81a001", "attrs: key 1:", "1..64 bytes, got 0 bytes"},
	{"attrs", "K:65", "attrs: key 1:", "got 65 bytes"},
	{"attrs", "x:810101", "attrs: key 1:", "got an integer"},
	{"attrs", "x:81c4016101", "attrs: key 1:", "binary data"},
	{"attrs", "x:81a361006201", "attrs: key 1:", "NUL byte at byte 1"},
	{"attrs", "x:81a2c0af01", "attrs: key 1:", "invalid UTF-8"},
	{"attrs", "x:82a16b01a16b02", "attrs: duplicate key \"k\"", NULL},
	{"attrs", "x:82a16b01a201ff02", "attrs: key 2:", "invalid UTF-8 at byte 1"},
	{"attrs", "x:81a16bc0", "attrs[\"k\"]:",
	 "expected a string, integer, float or boolean, got nil"},
	{"attrs", "x:81a16b9101", "attrs[\"k\"]:", "got an array"},
	{"attrs", "x:81a16b80", "attrs[\"k\"]:", "got a map"},
	{"attrs", "x:81a16bc40161", "attrs[\"k\"]:", "got binary data"},
	{"attrs", "x:81a16bd6ff00000000", "attrs[\"k\"]:", "got an extension"},
	{"attrs", "V:1025", "attrs[\"k\"]:", "at most 1024 bytes, got 1025 bytes"},
	{"attrs", "x:81a16bcfffffffffffffffff", "attrs[\"k\"]:", "out of range"},
	{"attrs", "x:81a16bcb7ff8000000000000", "attrs[\"k\"]:", "expected a finite float"},
	{"attrs", "x:81a16bcbfff0000000000000", "attrs[\"k\"]:", "got -inf"},
	{"attrs", "x:81a16ba3610062", "attrs[\"k\"]:", "NUL byte at byte 1"},
	{"attrs", "x:81a16ba2c0af", "attrs[\"k\"]:", "invalid UTF-8"},
	{"attrs", "x:81a2225cc0", "attrs[\"\\x22\\x5c\"]:", "got nil"},
	{"colour", "s:red",
	 "unknown key \"colour\"; allowed keys: id, source, type, time, sector, asset, severity, "
	 "summary, geo, attrs; put other data in attrs",
	 NULL},
	{"Id", "s:x", "unknown key \"Id\"", "put other data in attrs"},
	{"id", DEL, "id: required key missing", NULL},
	{"source", DEL, "source: required key missing", NULL},
	{"type", DEL, "type: required key missing", "heartbeat"},
	{"time", DEL, "time: required key missing", NULL},
	{"sector", DEL, "sector: required key missing for type asset.down", NULL},
	{"asset", DEL, "asset: required key missing for type asset.down", NULL},
};

START_TEST(test_schema_errors)
{
	const struct schema_case *c = &schema_cases[_i];
	int rc = dec_mod(NULL, c->key, c->spec, NULL);

	ck_assert_msg(rc == 0, "case %d %s=%s: rc %d %s", _i, c->key, c->spec, rc, fr.msg);
	ck_assert_uint_eq(fr.n, 1);
	ck_assert_msg(fr.items[0].err == TN_ESCHEMA, "case %d %s=%s: err %d msg \"%s\"", _i,
		      c->key, c->spec, fr.items[0].err, fr.items[0].msg);
	assert_msg(fr.items[0].msg, c->prefix, c->want);
	/* the id names the event whenever it was usable */
	if (strcmp(c->key, "id") == 0)
		ck_assert_ptr_null(fr.items[0].id);
	else
		ck_assert_str_eq(fr.items[0].id, "ev-1");
}
END_TEST

START_TEST(test_schema_keys)
{
	const struct tn_wire_item *it;

	/* duplicate key */
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 7);
	put_str(&pk, "id");
	put_str(&pk, "d-1");
	put_str(&pk, "severity");
	msgpack_pack_int(&pk, 2);
	put_str(&pk, "source");
	put_str(&pk, "s");
	put_str(&pk, "type");
	put_str(&pk, "asset.down");
	put_str(&pk, "time");
	msgpack_pack_int(&pk, 1);
	put_str(&pk, "severity");
	msgpack_pack_int(&pk, 3);
	put_str(&pk, "sector");
	put_str(&pk, "water");
	ck_assert_int_eq(decode_sb(NULL), 0);
	it = &fr.items[0];
	assert_item(it, TN_ESCHEMA, "severity: duplicate key", NULL);
	ck_assert_str_eq(it->id, "d-1");

	/* a key that is not a string: integer, then bin "id" */
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 2);
	put_str(&pk, "id");
	put_str(&pk, "k-1");
	msgpack_pack_int(&pk, 1);
	msgpack_pack_int(&pk, 2);
	ck_assert_int_eq(decode_sb(NULL), 0);
	assert_item(&fr.items[0], TN_ESCHEMA, "key 2: expected a string key, got an integer", NULL);
	ck_assert_str_eq(fr.items[0].id, "k-1");

	ck_assert_int_eq(dec_bytes("\x81\xc4\x02id\xa1x", 7), 0);
	assert_item(&fr.items[0], TN_ESCHEMA, "key 1: expected a string key, got binary data",
		    NULL);
	ck_assert_ptr_null(fr.items[0].id);

	/* the first error is reported, and the id still names the event */
	ck_assert_int_eq(dec_mod(NULL, "zzz", "i:1", "severity", "i:9", NULL), 0);
	assert_item(&fr.items[0], TN_ESCHEMA, "unknown key \"zzz\"", NULL);
	ck_assert_str_eq(fr.items[0].id, "ev-1");

	/* a long, binary unknown key is escaped and cut, and the message still fits */
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 2);
	put_str(&pk, "id");
	put_str(&pk, "u-1");
	put_rep_str(&pk, '\x01', 200);
	msgpack_pack_int(&pk, 1);
	ck_assert_int_eq(decode_sb(NULL), 0);
	assert_item(&fr.items[0], TN_ESCHEMA, "unknown key \"\\x01\\x01", "\"...;");
	ck_assert_int_eq(dec_mod(NULL, "sector", "S:300:\xff", NULL), 0);
	assert_item(&fr.items[0], TN_ESCHEMA, "sector: expected one of", "got \"\\xff");
	ck_assert_uint_eq(strlen(fr.items[0].msg), TN_WIRE_MSG_MAX - 1);
}
END_TEST

/* ---- pre-scan and frame limits -------------------------------------------- */

START_TEST(test_huge_counts)
{
	static const struct {
		const char *bytes;
		size_t len;
		const char *want;
	} c[] = {
		{"\xdd\xff\xff\xff\xff", 5, "array of 4294967295 elements"},
		{"\xdf\xff\xff\xff\xff", 5, "map of 4294967295 entries"},
		{"\xdc\xff\xff", 3, "array of 65535 elements"},
		{"\xde\xff\xff", 3, "map of 65535 entries"},
		{"\x91\xdd\xff\xff\xff\xff", 6, "array of 4294967295 elements at byte 1"},
		{"\x81\xa1k\xdf\xff\xff\xff\xff", 8, "map of 4294967295 entries at byte 3"},
		{"\xdb\xff\xff\xff\xff", 5, "str of 4294967295 bytes"},
		{"\xc6\xff\xff\xff\xff", 5, "bin of 4294967295 bytes"},
		{"\xc9\xff\xff\xff\xff\xff", 6, "ext of 4294967295 bytes"},
		/* each entry needs two bytes: 3 entries, 5 bytes left is too few */
		{"\x83\x01\x01\x01\x01\x01", 6, "map of 3 entries"},
		/* counts owed by outer containers count too */
		{"\x92\x92\x01\x01", 4, "array of 2 elements at byte 1"},
	};

	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		char msg[TN_WIRE_MSG_MAX];

		ck_assert_int_eq(tn_wire_scan(c[i].bytes, c[i].len, TN_WIRE_MAX_DEPTH,
					      TN_WIRE_MAX_OBJECTS, msg, sizeof msg),
				 TN_EDECODE);
		ck_assert_msg(strstr(msg, c[i].want), "case %zu: \"%s\" lacks \"%s\"", i, msg,
			      c[i].want);
		/* the decoder refuses before msgpack-c sees it; ASan would abort on a
		 * 96 GiB allocation request, so reaching the assert proves there was none */
		assert_frame_err(dec_bytes(c[i].bytes, c[i].len), TN_EDECODE, c[i].want);
	}
	/* the exact fit passes the count check */
	ck_assert_int_eq(tn_wire_scan("\x82\x01\x01\x01\x01", 5, 4, 100, NULL, 0), 0);
	ck_assert_int_eq(tn_wire_scan("\x92\x91\x01\x01", 4, 4, 100, NULL, 0), 0);
}
END_TEST

START_TEST(test_depth)
{
	unsigned char deep[2000];
	char msg[TN_WIRE_MSG_MAX];

	/* [[[1]]] fits in 4 levels, [[[[1]]]] does not; an empty container at 4 does */
	ck_assert_int_eq(tn_wire_scan("\x91\x91\x91\x01", 4, 4, 100, msg, sizeof msg), 0);
	ck_assert_int_eq(tn_wire_scan("\x91\x91\x91\x90", 4, 4, 100, msg, sizeof msg), 0);
	ck_assert_int_eq(tn_wire_scan("\x91\x91\x91\x91\x01", 5, 4, 100, msg, sizeof msg),
			 TN_EDECODE);
	ck_assert_str_eq(msg, "nesting deeper than 4 levels at byte 4");
	/* map keys are one level down too */
	ck_assert_int_eq(tn_wire_scan("\x81\x81\x01\x01\x01", 5, 2, 100, msg, sizeof msg),
			 TN_EDECODE);
	ck_assert_int_eq(tn_wire_scan("\x81\x01\x81\x01\x01", 5, 3, 100, msg, sizeof msg), 0);

	/* the deepest legal frame: batch > event > attrs > scalar */
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_array(&pk, 1);
	pack_mod(&pk, NULL);
	ck_assert_int_eq(decode_sb(NULL), 0);
	ck_assert_int_eq(fr.items[0].err, 0);
	/* one more level inside attrs of a batch: E_DECODE */
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_array(&pk, 1);
	pack_mod(&pk, "attrs", "x:81a16b9101", NULL);
	assert_frame_err(decode_sb(NULL), TN_EDECODE, "nesting deeper than 4 levels");
	/* ... and in geo */
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_array(&pk, 1);
	pack_mod(&pk, "geo", "x:929100 00", NULL);
	assert_frame_err(decode_sb(NULL), TN_EDECODE, "nesting deeper");

	/* thousands of levels; a max_depth beyond the scanner's stack is clamped */
	memset(deep, 0x91, sizeof deep);
	deep[sizeof deep - 1] = 0x01;
	assert_frame_err(dec_bytes(deep, sizeof deep), TN_EDECODE, "nesting deeper");
	ck_assert_int_eq(tn_wire_scan(deep, sizeof deep, 100000, 100000, msg, sizeof msg),
			 TN_EDECODE);
	ck_assert_str_eq(msg, "nesting deeper than 32 levels at byte 32");
	ck_assert_int_eq(tn_wire_scan(deep + sizeof deep - 32, 32, 100000, 100, NULL, 0), 0);
	ck_assert_int_eq(tn_wire_scan("\x01", 1, 0, 100, NULL, 0), TN_EDECODE);
}
END_TEST

START_TEST(test_object_limit)
{
	static unsigned char big[5 + 250000];
	char msg[TN_WIRE_MSG_MAX];

	ck_assert_int_eq(tn_wire_scan("\x95\x01\x02\x03\x04\x05", 6, 4, 6, msg, sizeof msg), 0);
	ck_assert_int_eq(tn_wire_scan("\x95\x01\x02\x03\x04\x05", 6, 4, 5, msg, sizeof msg),
			 TN_EDECODE);
	ck_assert_str_eq(msg, "more than 5 objects in the frame");

	/* 250 000 nils in an array32: bytes enough, objects too many */
	big[0] = 0xdd;
	big[1] = 0x00;
	big[2] = 0x03;
	big[3] = 0xd0;
	big[4] = 0x90;
	memset(big + 5, 0xc0, 250000);
	assert_frame_err(dec_bytes(big, sizeof big), TN_EDECODE, "more than 200000 objects");
}
END_TEST

START_TEST(test_truncated)
{
	char *frame;
	size_t len;

	msgpack_sbuffer_clear(&sb);
	pack_mod(&pk, "time", "T96:1700000000:5000", NULL);
	len = sb.size;
	frame = malloc(len);
	ck_assert_ptr_nonnull(frame);
	memcpy(frame, sb.data, len);
	ck_assert_int_eq(dec_bytes(frame, len), 0);
	for (size_t n = 0; n < len; n++) {
		/* a fresh copy of exactly n bytes, so ASan sees any read past the end */
		char *cut = malloc(n ? n : 1);

		memcpy(cut, frame, n);
		int rc = tn_wire_decode(dec, cut, n, NULL, &fr);
		free(cut);
		if (rc != TN_EDECODE || fr.n != 0 || fr.msg[0] == '\0')
			ck_abort_msg("prefix of %zu/%zu bytes: rc %d msg \"%s\"", n, len, rc,
				     fr.msg);
	}
	free(frame);
	assert_frame_err(dec_bytes("", 0), TN_EDECODE, "empty frame");
	assert_frame_err(tn_wire_decode(dec, NULL, 0, NULL, &fr), TN_EDECODE, "empty frame");
	assert_frame_err(dec_bytes("\x92\x01", 2), TN_EDECODE,
			 "array of 2 elements at byte 0 declares more than the 1 bytes left");
	assert_frame_err(dec_bytes("\x92\xcd\x00\x01", 4), TN_EDECODE,
			 "truncated: the frame ends at byte 4 with 1 more object(s) declared");
	assert_frame_err(dec_bytes("\xa5" "abc", 4), TN_EDECODE, "str of 5 bytes at byte 0");
	assert_frame_err(dec_bytes("\xcd\x01", 2), TN_EDECODE, "runs past the end");
	assert_frame_err(dec_bytes("\xd9", 1), TN_EDECODE, "truncated: str header");
	assert_frame_err(dec_bytes("\xc1", 1), TN_EDECODE, "invalid MessagePack byte 0xc1");
}
END_TEST

START_TEST(test_trailing_and_size)
{
	char *big;

	msgpack_sbuffer_clear(&sb);
	pack_mod(&pk, NULL);
	msgpack_pack_nil(&pk);
	assert_frame_err(decode_sb(NULL), TN_EDECODE, "trailing bytes: 1 after the object");
	msgpack_sbuffer_clear(&sb);
	pack_mod(&pk, NULL);
	pack_mod(&pk, NULL);
	assert_frame_err(decode_sb(NULL), TN_EDECODE, "trailing bytes");

	/* a frame of exactly TN_WIRE_MAX_FRAME bytes is decoded (and its id refused) */
	big = malloc(TN_WIRE_MAX_FRAME + 1);
	ck_assert_ptr_nonnull(big);
	{
		uint32_t body = TN_WIRE_MAX_FRAME - 9;

		memcpy(big, "\x81\xa2id\xdb", 5);
		big[5] = (char)(body >> 24);
		big[6] = (char)(body >> 16);
		big[7] = (char)(body >> 8);
		big[8] = (char)body;
		memset(big + 9, 'a', body);
	}
	ck_assert_int_eq(dec_bytes(big, TN_WIRE_MAX_FRAME), 0);
	assert_item(&fr.items[0], TN_ESCHEMA, "id:", "got 1048567 bytes");
	ck_assert_ptr_null(fr.items[0].id);
	/* one byte more is refused before it is even scanned */
	assert_frame_err(dec_bytes(big, TN_WIRE_MAX_FRAME + 1), TN_EDECODE,
			 "frame of 1048577 bytes; at most 1048576 bytes");
	free(big);

	ck_assert_int_eq(tn_wire_decode(NULL, "\x80", 1, NULL, &fr), TN_EINVAL);
	ck_assert_int_eq(tn_wire_decode(dec, NULL, 1, NULL, &fr), TN_EINVAL);
	ck_assert_int_eq(tn_wire_decode(dec, "\x80", 1, NULL, NULL), TN_EINVAL);
}
END_TEST

/* ---- UTF-8 ---------------------------------------------------------------- */

START_TEST(test_utf8)
{
	static const struct {
		const char *s;
		size_t len;
		int ok;
		size_t at;
	} c[] = {
		{"", 0, 1, 0},
		{"abc", 3, 1, 0},
		{"\xc2\x80", 2, 1, 0},             /* U+0080 */
		{"\xc3\xa9", 2, 1, 0},             /* é */
		{"\xdf\xbf", 2, 1, 0},             /* U+07FF */
		{"\xe0\xa0\x80", 3, 1, 0},         /* U+0800 */
		{"\xe2\x82\xac", 3, 1, 0},         /* € */
		{"\xed\x9f\xbf", 3, 1, 0},         /* U+D7FF */
		{"\xee\x80\x80", 3, 1, 0},         /* U+E000 */
		{"\xef\xbf\xbf", 3, 1, 0},         /* U+FFFF */
		{"\xf0\x90\x80\x80", 4, 1, 0},     /* U+10000 */
		{"\xf0\x9d\x84\x9e", 4, 1, 0},     /* 𝄞 */
		{"\xf4\x8f\xbf\xbf", 4, 1, 0},     /* U+10FFFF */
		{"\xc0\x80", 2, 0, 0},             /* overlong NUL */
		{"\xc1\xbf", 2, 0, 0},             /* overlong */
		{"\xe0\x80\x80", 3, 0, 0},         /* overlong */
		{"\xe0\x9f\xbf", 3, 0, 0},         /* overlong */
		{"\xf0\x80\x80\x80", 4, 0, 0},     /* overlong */
		{"\xf0\x8f\xbf\xbf", 4, 0, 0},     /* overlong */
		{"\xed\xa0\x80", 3, 0, 0},         /* U+D800 */
		{"\xed\xbf\xbf", 3, 0, 0},         /* U+DFFF */
		{"\xf4\x90\x80\x80", 4, 0, 0},     /* U+110000 */
		{"\xf5\x80\x80\x80", 4, 0, 0},
		{"\xf8\x88\x80\x80\x80", 5, 0, 0},
		{"\xff", 1, 0, 0},
		{"\xfe", 1, 0, 0},
		{"ab\x80", 3, 0, 2},
		{"a\xc3", 2, 0, 1},
		{"ab\xe2\x82", 4, 0, 2},
		{"\xf0\x9d\x84", 3, 0, 0},
		{"\xc3\x28", 2, 0, 0},
		{"\xe2\x28\xa1", 3, 0, 0},
		{"\xe2\x82\x28", 3, 0, 0},
		{"\xf0\x9d\x84\xc3", 4, 0, 0},
		{"\xc3\xa9\xed\xa0\x80", 5, 0, 2},
	};
	struct tn__utf8_fault f;

	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		int rc = tn__utf8_check(c[i].s, c[i].len, 0, &f);

		ck_assert_msg((rc == 0) == c[i].ok, "case %zu: rc %d", i, rc);
		if (!c[i].ok) {
			ck_assert_int_eq(rc, TN_EINVAL);
			ck_assert_int_eq(f.kind, TN__UTF8_INVALID);
			ck_assert_uint_eq(f.at, c[i].at);
		}
	}
	ck_assert_int_eq(tn__utf8_check("a\0b", 3, 0, &f), TN_EINVAL);
	ck_assert_int_eq(f.kind, TN__UTF8_NUL);
	ck_assert_uint_eq(f.at, 1);
	ck_assert_int_eq(tn__utf8_check("a\tb\x7f", 4, 0, &f), 0);
	ck_assert_int_eq(tn__utf8_check("a\tb", 3, TN__UTF8_NO_CONTROL, &f), TN_EINVAL);
	ck_assert_int_eq(f.kind, TN__UTF8_CONTROL);
	ck_assert_uint_eq(f.at, 1);
	ck_assert_int_eq(tn__utf8_check("ab\x7f", 3, TN__UTF8_NO_CONTROL, &f), TN_EINVAL);
	ck_assert_uint_eq(f.at, 2);
	ck_assert_int_eq(tn__utf8_check("\xc2\x85", 2, TN__UTF8_NO_CONTROL, NULL), 0);
	ck_assert_int_eq(tn__utf8_check("\xc0\x80", 2, 0, NULL), TN_EINVAL);
}
END_TEST

/* ---- time ----------------------------------------------------------------- */

START_TEST(test_time_forms)
{
	static const struct {
		const char *spec;
		int64_t us;
	} c[] = {
		{"u:1700000000123", INT64_C(1700000000123000)},
		{"u:0", 0},
		{"i:1", 1000},
		{"u:253402300799999", INT64_C(253402300799999000)},
		{"T32:1700000000", INT64_C(1700000000000000)},
		{"T32:4294967295", INT64_C(4294967295000000)},
		{"T32:0", 0},
		{"T64:1700000000:123456789", INT64_C(1700000000123456)},
		{"T64:1700000000:999999999", INT64_C(1700000000999999)},
		{"T64:17179869183:0", INT64_C(17179869183000000)}, /* 2^34 - 1 s */
		{"T96:1700000000:500000000", INT64_C(1700000000500000)},
		{"T96:17179869184:1000", INT64_C(17179869184000001)}, /* 2514 */
		{"T96:253402300799:999999999", INT64_C(253402300799999999)},
		{"T96:0:0", 0},
	};

	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		const struct tn_wire_item *it = single_ok(dec_mod(NULL, "time", c[i].spec, NULL));

		ck_assert_msg(it->ev.time_us == c[i].us, "%s: %" PRId64 " != %" PRId64, c[i].spec,
			      it->ev.time_us, c[i].us);
	}
	/* fixext 8 and ext 8 carry the same timestamp */
	single_ok(dec_mod(NULL, "time", "x:c708ff 00000000 6553f100", NULL));
	ck_assert_int_eq(fr.items[0].ev.time_us, INT64_C(1700000000000000));
	single_ok(dec_mod(NULL, "time", "x:c704ff 6553f100", NULL));
	ck_assert_int_eq(fr.items[0].ev.time_us, INT64_C(1700000000000000));
}
END_TEST

START_TEST(test_time_limits)
{
	const struct tn_wire_limits lim = {
		.now_us = NOW_US,
		.max_future_us = INT64_C(300) * 1000000,       /* 5 min */
		.horizon_us = INT64_C(7) * 86400 * 1000000,    /* 7 days */
	};
	char spec[64];

	/* the bounds themselves are accepted */
	snprintf(spec, sizeof spec, "u:%" PRId64, (NOW_US + lim.max_future_us) / 1000);
	single_ok(dec_mod(&lim, "time", spec, NULL));
	snprintf(spec, sizeof spec, "u:%" PRId64, (NOW_US - lim.horizon_us) / 1000);
	single_ok(dec_mod(&lim, "time", spec, NULL));

	/* 1 ms beyond the future bound */
	snprintf(spec, sizeof spec, "u:%" PRId64, (NOW_US + lim.max_future_us) / 1000 + 1);
	ck_assert_int_eq(dec_mod(&lim, "time", spec, NULL), 0);
	assert_item(&fr.items[0], TN_ETIME, "time: 5m 0s in the future",
		    "at most 5m 0s ahead of the server clock");
	ck_assert_str_eq(fr.items[0].id, "ev-1");
	ck_assert_str_eq(tn_wire_code(fr.items[0].err), "E_TIME");

	/* two hours ahead, as a timestamp */
	snprintf(spec, sizeof spec, "T32:%" PRId64, NOW_US / 1000000 + 7200);
	ck_assert_int_eq(dec_mod(&lim, "time", spec, NULL), 0);
	assert_item(&fr.items[0], TN_ETIME, "time: 2h 0m 0s in the future", "5m 0s");

	/* past the horizon */
	snprintf(spec, sizeof spec, "T64:%" PRId64 ":0",
		 (NOW_US - lim.horizon_us) / 1000000 - 3600);
	ck_assert_int_eq(dec_mod(&lim, "time", spec, NULL), 0);
	assert_item(&fr.items[0], TN_ETIME, "time: 7d 1h 0m in the past",
		    "older than 7d 0h 0m (the retention horizon)");

	/* seconds sent where milliseconds are expected: a hint */
	ck_assert_int_eq(dec_mod(&lim, "time", "u:1700000000", NULL), 0);
	assert_item(&fr.items[0], TN_ETIME, "time:", "milliseconds, not seconds");

	/* without limits the same events pass */
	single_ok(dec_mod(NULL, "time", "u:1700000000", NULL));
	single_ok(dec_mod(NULL, "time", "T32:4294967295", NULL));

	/* a schema error wins over a time error */
	ck_assert_int_eq(dec_mod(&lim, "time", "T32:4294967295", "severity", "i:7", NULL), 0);
	assert_item(&fr.items[0], TN_ESCHEMA, "severity:", "got 7");

	/* extreme limits do not overflow */
	const struct tn_wire_limits wide = {INT64_MAX, INT64_MAX, INT64_MAX};
	single_ok(dec_mod(&wide, "time", "u:0", NULL));
	const struct tn_wire_limits neg = {INT64_MIN, 0, INT64_MAX};
	ck_assert_int_eq(dec_mod(&neg, "time", "u:0", NULL), 0);
	assert_item(&fr.items[0], TN_ETIME, "time:", "in the future");
}
END_TEST

/* ---- packing -------------------------------------------------------------- */

static void assert_event_eq(const struct tn_event *a, const struct tn_event *b)
{
	ck_assert_str_eq(a->id, b->id);
	ck_assert_str_eq(a->source, b->source);
	ck_assert_int_eq(a->type, b->type);
	ck_assert_int_eq(a->time_us, b->time_us);
	ck_assert_int_eq(a->sector, b->sector);
	if (a->asset || b->asset)
		ck_assert_str_eq(a->asset, b->asset);
	ck_assert_int_eq(a->severity, b->severity);
	if (a->summary || b->summary)
		ck_assert_str_eq(a->summary, b->summary);
	ck_assert_int_eq(a->has_geo, b->has_geo);
	if (a->has_geo) {
		ck_assert_double_eq(a->lat, b->lat);
		ck_assert_double_eq(a->lon, b->lon);
	}
	ck_assert_uint_eq(a->n_attrs, b->n_attrs);
	for (size_t i = 0; i < a->n_attrs; i++) {
		const struct tn_attr *x = &a->attrs[i], *y = &b->attrs[i];

		ck_assert_str_eq(x->key, y->key);
		ck_assert_int_eq(x->kind, y->kind);
		switch (x->kind) {
		case TN_ATTR_STR:
			ck_assert_str_eq(x->v.s, y->v.s);
			break;
		case TN_ATTR_INT:
			ck_assert_int_eq(x->v.i, y->v.i);
			break;
		case TN_ATTR_FLOAT:
			ck_assert_double_eq(x->v.f, y->v.f);
			break;
		case TN_ATTR_BOOL:
			ck_assert_int_eq(x->v.b, y->v.b);
			break;
		}
	}
}

static const struct tn_attr rt_attrs[] = {
	{.key = "str", .kind = TN_ATTR_STR, .v.s = "caf\xc3\xa9 \xf0\x9d\x84\x9e"},
	{.key = "empty", .kind = TN_ATTR_STR, .v.s = ""},
	{.key = "zero", .kind = TN_ATTR_INT, .v.i = 0},
	{.key = "small", .kind = TN_ATTR_INT, .v.i = -5},
	{.key = "max", .kind = TN_ATTR_INT, .v.i = INT64_MAX},
	{.key = "min", .kind = TN_ATTR_INT, .v.i = INT64_MIN},
	{.key = "big", .kind = TN_ATTR_INT, .v.i = 4294967296},
	{.key = "pi", .kind = TN_ATTR_FLOAT, .v.f = 3.141592653589793},
	{.key = "tiny", .kind = TN_ATTR_FLOAT, .v.f = -1e-300},
	{.key = "whole", .kind = TN_ATTR_FLOAT, .v.f = 2.0},
	{.key = "yes", .kind = TN_ATTR_BOOL, .v.b = true},
	{.key = "no", .kind = TN_ATTR_BOOL, .v.b = false},
};

static const struct tn_event rt_events[] = {
	{
		.id = "rt-1",
		.source = "ukpn/scada/east",
		.type = TN_EV_DOWN,
		.time_us = INT64_C(1700000000123456),
		.sector = TN_SECTOR_ENERGY,
		.asset = "sub:A1",
		.severity = 1,
		.summary = "Substation \xe2\x80\x94 trip",
		.has_geo = true,
		.lat = 51.50722,
		.lon = -0.1275,
		.attrs = rt_attrs,
		.n_attrs = sizeof rt_attrs / sizeof rt_attrs[0],
	},
	{
		.id = "hb",
		.source = "s",
		.type = TN_EV_HEARTBEAT,
		.time_us = INT64_C(1700000000000000),
		.sector = TN_SECTOR_NONE,
		.severity = 5,
	},
	{
		.id = "far",
		.source = "s",
		.type = TN_EV_ALARM,
		.time_us = INT64_C(19880000000000001), /* year 2600, to the microsecond */
		.sector = TN_SECTOR_DATA,
		.asset = "dc-1",
		.severity = 3,
		.has_geo = true,
		.lat = -90,
		.lon = 180,
	},
	{
		.id = "epoch",
		.source = "s",
		.type = TN_EV_UP,
		.time_us = 0,
		.sector = TN_SECTOR_WATER,
		.asset = "p",
		.severity = 5,
	},
};

/* The size of the timestamp ext and the key order of a packed event map. */
static void assert_canonical(const char *data, size_t len, size_t ts_size)
{
	static const char *const order[] = {"id",	"source",  "type", "time", "sector",
					    "asset",	"severity", "summary", "geo", "attrs"};
	msgpack_zone z;
	msgpack_object o;
	size_t off = 0, k = 0;

	ck_assert(msgpack_zone_init(&z, 4096));
	ck_assert_int_eq(msgpack_unpack(data, len, &off, &z, &o), MSGPACK_UNPACK_SUCCESS);
	ck_assert_int_eq(o.type, MSGPACK_OBJECT_MAP);
	for (uint32_t i = 0; i < o.via.map.size; i++) {
		const msgpack_object_str *key = &o.via.map.ptr[i].key.via.str;

		while (k < 10 && (strlen(order[k]) != key->size ||
				  memcmp(order[k], key->ptr, key->size) != 0))
			k++;
		ck_assert_msg(k < 10, "key %u out of order", i);
		if (strcmp(order[k], "time") == 0) {
			ck_assert_int_eq(o.via.map.ptr[i].val.type, MSGPACK_OBJECT_EXT);
			ck_assert_int_eq(o.via.map.ptr[i].val.via.ext.type, -1);
			ck_assert_uint_eq(o.via.map.ptr[i].val.via.ext.size, ts_size);
		}
	}
	msgpack_zone_destroy(&z);
}

START_TEST(test_pack_roundtrip)
{
	static const size_t ts_sizes[] = {8, 4, 12, 4};
	size_t n = sizeof rt_events / sizeof rt_events[0];

	for (size_t i = 0; i < n; i++) {
		msgpack_sbuffer_clear(&sb);
		ck_assert_int_eq(tn_wire_pack_event(&pk, &rt_events[i]), 0);
		assert_canonical(sb.data, sb.size, ts_sizes[i]);
		assert_event_eq(&single_ok(decode_sb(NULL))->ev, &rt_events[i]);
	}

	/* a batch of them; and pack(decode(x)) == x byte for byte */
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_array(&pk, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(tn_wire_pack_event(&pk, &rt_events[i]), 0);
	ck_assert_int_eq(decode_sb(NULL), 0);
	ck_assert(fr.batch);
	ck_assert_uint_eq(fr.n, n);
	{
		msgpack_sbuffer again;
		msgpack_packer p2;

		msgpack_sbuffer_init(&again);
		msgpack_packer_init(&p2, &again, msgpack_sbuffer_write);
		msgpack_pack_array(&p2, n);
		for (size_t i = 0; i < n; i++) {
			ck_assert_int_eq(fr.items[i].err, 0);
			assert_event_eq(&fr.items[i].ev, &rt_events[i]);
			ck_assert_int_eq(tn_wire_pack_event(&p2, &fr.items[i].ev), 0);
		}
		ck_assert_uint_eq(again.size, sb.size);
		ck_assert(memcmp(again.data, sb.data, sb.size) == 0);
		msgpack_sbuffer_destroy(&again);
	}

	/* severity 0 is left out and comes back as the type's default */
	struct tn_event ev = rt_events[0];
	ev.severity = 0;
	msgpack_sbuffer_clear(&sb);
	ck_assert_int_eq(tn_wire_pack_event(&pk, &ev), 0);
	ck_assert_int_eq(single_ok(decode_sb(NULL))->ev.severity, 2);

	/* a decoded base frame packs into its canonical form, which decodes the same */
	single_ok(dec_mod(NULL, "time", "u:1700000000123", NULL));
	struct tn_event first = fr.items[0].ev;
	msgpack_sbuffer sb2;
	msgpack_packer p3;
	msgpack_sbuffer_init(&sb2);
	msgpack_packer_init(&p3, &sb2, msgpack_sbuffer_write);
	ck_assert_int_eq(tn_wire_pack_event(&p3, &first), 0);
	assert_canonical(sb2.data, sb2.size, 8);
	{
		struct tn_wire_decoder *d2;
		struct tn_wire_frame f2;

		ck_assert_int_eq(tn_wire_decoder_new(&d2), 0);
		ck_assert_int_eq(tn_wire_decode(d2, sb2.data, sb2.size, NULL, &f2), 0);
		ck_assert_int_eq(f2.items[0].err, 0);
		assert_event_eq(&f2.items[0].ev, &first);
		tn_wire_decoder_free(d2);
	}
	msgpack_sbuffer_destroy(&sb2);
}
END_TEST

static int failing_write(void *data, const char *buf, size_t len)
{
	(void)data;
	(void)buf;
	(void)len;
	return -1;
}

START_TEST(test_pack_errors)
{
	struct tn_event ev = rt_events[0];
	struct tn_attr bad = {.key = "k", .kind = TN_ATTR_STR, .v.s = NULL};
	msgpack_packer broken;

	ck_assert_int_eq(tn_wire_pack_event(NULL, &ev), TN_EINVAL);
	ck_assert_int_eq(tn_wire_pack_event(&pk, NULL), TN_EINVAL);
	msgpack_sbuffer_clear(&sb);
	ev.id = NULL;
	ck_assert_int_eq(tn_wire_pack_event(&pk, &ev), TN_EINVAL);
	ev = rt_events[0];
	ev.type = TN_EV__COUNT;
	ck_assert_int_eq(tn_wire_pack_event(&pk, &ev), TN_EINVAL);
	ev = rt_events[0];
	ev.sector = TN_SECTOR__COUNT;
	ck_assert_int_eq(tn_wire_pack_event(&pk, &ev), TN_EINVAL);
	ev = rt_events[0];
	ev.attrs = NULL;
	ck_assert_int_eq(tn_wire_pack_event(&pk, &ev), TN_EINVAL);
	ev = rt_events[0];
	ev.attrs = &bad;
	ev.n_attrs = 1;
	ck_assert_int_eq(tn_wire_pack_event(&pk, &ev), TN_EINVAL);
	ck_assert_uint_eq(sb.size, 0); /* nothing written on TN_EINVAL */

	/* before 1970: packed as a 96-bit timestamp (floor seconds, positive nanoseconds),
	 * which the schema then refuses */
	ev = rt_events[1];
	ev.time_us = -1500000;
	msgpack_sbuffer_clear(&sb);
	ck_assert_int_eq(tn_wire_pack_event(&pk, &ev), 0);
	assert_canonical(sb.data, sb.size, 12);
	ck_assert_int_eq(decode_sb(NULL), 0);
	assert_item(&fr.items[0], TN_ESCHEMA, "time:", "got -2 s");
	{
		msgpack_zone z;
		msgpack_object o;
		msgpack_timestamp ts;
		size_t off = 0;

		ck_assert(msgpack_zone_init(&z, 1024));
		ck_assert_int_eq(msgpack_unpack(sb.data, sb.size, &off, &z, &o),
				 MSGPACK_UNPACK_SUCCESS);
		ck_assert(msgpack_object_to_timestamp(&o.via.map.ptr[3].val, &ts));
		ck_assert_int_eq(ts.tv_sec, -2);
		ck_assert_uint_eq(ts.tv_nsec, 500000000);
		msgpack_zone_destroy(&z);
	}

	msgpack_packer_init(&broken, NULL, failing_write);
	ck_assert_int_eq(tn_wire_pack_event(&broken, &rt_events[0]), TN_ENOMEM);
}
END_TEST

/* ---- the decoder over time ------------------------------------------------ */

START_TEST(test_decoder_reuse)
{
	const char *p1, *p2;
	char id[32];

	/* a batch, then a single event: the second frame's results are its own */
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_array(&pk, 3);
	pack_mod(&pk, "id", "s:a", NULL);
	pack_mod(&pk, "id", "s:b", NULL);
	pack_mod(&pk, "id", "s:c", NULL);
	ck_assert_int_eq(decode_sb(NULL), 0);
	ck_assert_uint_eq(fr.n, 3);
	single_ok(dec_mod(NULL, "id", "s:second", "summary", DEL, NULL));
	ck_assert_str_eq(fr.items[0].id, "second");
	ck_assert_ptr_null(fr.items[0].ev.summary);
	assert_attrs_base(&fr.items[0].ev);

	/* a frame-level error does not disturb the next frame */
	assert_frame_err(dec_bytes("\xdd\xff\xff\xff\xff", 5), TN_EDECODE, NULL);
	single_ok(dec_mod(NULL, NULL));
	ck_assert_str_eq(fr.items[0].id, "ev-1");

	/* a big frame grows the arena; afterwards small frames reuse one chunk */
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_array(&pk, 500);
	for (int i = 0; i < 500; i++) {
		snprintf(id, sizeof id, "s:big-%d", i);
		pack_mod(&pk, "id", id, "summary", "S:512:z", "attrs", "N:32", NULL);
	}
	ck_assert_int_eq(decode_sb(NULL), 0);
	ck_assert_uint_eq(fr.n, 500);
	ck_assert_str_eq(fr.items[0].id, "big-0");
	ck_assert_uint_eq(strlen(fr.items[0].ev.summary), 512); /* still valid at the end */
	ck_assert_str_eq(fr.items[499].id, "big-499");
	ck_assert_uint_eq(fr.items[0].ev.attrs[31].v.i, 31);

	single_ok(dec_mod(NULL, NULL));
	p1 = fr.items[0].id;
	single_ok(dec_mod(NULL, NULL));
	p2 = fr.items[0].id;
	ck_assert_ptr_eq(p1, p2); /* same arena memory: nothing was allocated */

	/* many frames, alternating shapes, always right */
	for (int i = 0; i < 2000; i++) {
		snprintf(id, sizeof id, "s:loop-%d", i);
		if (i % 2) {
			msgpack_sbuffer_clear(&sb);
			msgpack_pack_array(&pk, 2);
			pack_mod(&pk, "id", id, NULL);
			pack_mod(&pk, "id", id, "severity", "i:9", NULL);
		} else {
			msgpack_sbuffer_clear(&sb);
			pack_mod(&pk, "id", id, NULL);
		}
		int rc = decode_sb(NULL);
		if (rc != 0 || fr.n != (size_t)(i % 2 ? 2 : 1) || fr.items[0].err != 0 ||
		    strcmp(fr.items[0].id, id + 2) != 0 ||
		    (i % 2 && (fr.items[1].err != TN_ESCHEMA || strcmp(fr.items[1].id, id + 2))))
			ck_abort_msg("frame %d: rc %d", i, rc);
	}
}
END_TEST

START_TEST(test_validate_event_direct)
{
	struct tn_wire_item item;
	/* the base event is 9.877 s older than this clock; 1 s is allowed */
	const struct tn_wire_limits lim = {NOW_US + 10000000, 1000000, 1000000};
	msgpack_zone z;
	msgpack_object o;
	size_t off = 0;

	msgpack_sbuffer_clear(&sb);
	pack_mod(&pk, NULL);
	ck_assert(msgpack_zone_init(&z, 4096));
	ck_assert_int_eq(msgpack_unpack(sb.data, sb.size, &off, &z, &o), MSGPACK_UNPACK_SUCCESS);
	ck_assert_int_eq(tn_wire_validate_event(dec, &o, NULL, &item), 0);
	ck_assert_str_eq(item.id, "ev-1");
	ck_assert_str_eq(item.ev.asset, "sub:A1");
	ck_assert_int_eq(tn_wire_validate_event(dec, &o, &lim, &item), TN_ETIME);
	assert_item(&item, TN_ETIME, "time:", "in the past");
	ck_assert_int_eq(tn_wire_validate_event(dec, &o.via.map.ptr[0].val, NULL, &item),
			 TN_ESCHEMA);
	assert_item(&item, TN_ESCHEMA, "expected a map (an event), got a string", NULL);
	ck_assert_int_eq(tn_wire_validate_event(NULL, &o, NULL, &item), TN_EINVAL);
	ck_assert_int_eq(tn_wire_validate_event(dec, NULL, NULL, &item), TN_EINVAL);
	ck_assert_int_eq(tn_wire_validate_event(dec, &o, NULL, NULL), TN_EINVAL);
	msgpack_zone_destroy(&z);
	tn_wire_decoder_free(NULL);
	ck_assert_int_eq(tn_wire_decoder_new(NULL), TN_EINVAL);
}
END_TEST

/* ---- fuzz ----------------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
	/* xorshift64*: deterministic across runs and machines */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1du;
}

static const unsigned char interesting[] = {
	0x00, 0x01, 0x7f, 0x80, 0x81, 0x8f, 0x90, 0x91, 0x9f, 0xa0, 0xa1, 0xbf, 0xc0, 0xc1,
	0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf,
	0xd0, 0xd3, 0xd4, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0,
	0xff, 0xed, 0xf4, 0xf0,
};

static unsigned char rnd_byte(void)
{
	if (rnd() % 2)
		return interesting[rnd() % sizeof interesting];
	return (unsigned char)rnd();
}

#define FUZZ_REQUIRE(cond, iter)                                                              \
	do {                                                                                  \
		if (!(cond))                                                                  \
			ck_abort_msg("fuzz iteration %d: %s failed", (iter), #cond);          \
	} while (0)

static void fuzz_check(int rc, int iter)
{
	FUZZ_REQUIRE(rc == 0 || rc == TN_EDECODE || rc == TN_ESCHEMA, iter);
	if (rc != 0) {
		FUZZ_REQUIRE(fr.n == 0 && fr.items == NULL && fr.msg[0] != '\0', iter);
		FUZZ_REQUIRE(strlen(fr.msg) < TN_WIRE_MSG_MAX, iter);
		for (size_t k = 0; fr.msg[k]; k++)
			FUZZ_REQUIRE(fr.msg[k] >= 0x20 && fr.msg[k] < 0x7f, iter);
		return;
	}
	FUZZ_REQUIRE(fr.n >= 1 && fr.n <= TN_WIRE_MAX_BATCH, iter);
	for (size_t i = 0; i < fr.n; i++) {
		const struct tn_wire_item *it = &fr.items[i];
		const struct tn_event *ev = &it->ev;

		FUZZ_REQUIRE(it->err == 0 || it->err == TN_ESCHEMA || it->err == TN_ETIME, iter);
		if (it->id)
			FUZZ_REQUIRE(strlen(it->id) >= 1 && strlen(it->id) <= TN_WIRE_MAX_ID, iter);
		if (it->err) {
			size_t n = strlen(it->msg);

			FUZZ_REQUIRE(n > 0 && n < TN_WIRE_MSG_MAX, iter);
			for (size_t k = 0; k < n; k++)
				FUZZ_REQUIRE(it->msg[k] >= 0x20 && it->msg[k] < 0x7f, iter);
			continue;
		}
		FUZZ_REQUIRE(it->id != NULL && ev->id == it->id, iter);
		FUZZ_REQUIRE(ev->source && strlen(ev->source) >= 1, iter);
		FUZZ_REQUIRE(strlen(ev->source) <= TN_WIRE_MAX_SOURCE, iter);
		FUZZ_REQUIRE(tn_event_type_name(ev->type) != NULL, iter);
		FUZZ_REQUIRE(ev->severity >= 1 && ev->severity <= 5, iter);
		FUZZ_REQUIRE(ev->time_us >= 0, iter);
		if (ev->type != TN_EV_HEARTBEAT)
			FUZZ_REQUIRE(tn_sector_name(ev->sector) && ev->asset, iter);
		if (ev->asset)
			FUZZ_REQUIRE(strlen(ev->asset) <= TN_WIRE_MAX_ASSET, iter);
		if (ev->summary)
			FUZZ_REQUIRE(strlen(ev->summary) <= TN_WIRE_MAX_SUMMARY, iter);
		if (ev->has_geo)
			FUZZ_REQUIRE(fabs(ev->lat) <= 90 && fabs(ev->lon) <= 180, iter);
		FUZZ_REQUIRE(ev->n_attrs <= TN_WIRE_MAX_ATTRS, iter);
		for (size_t k = 0; k < ev->n_attrs; k++) {
			const struct tn_attr *a = &ev->attrs[k];

			FUZZ_REQUIRE(strlen(a->key) >= 1 && strlen(a->key) <= TN_WIRE_MAX_ATTR_KEY,
				     iter);
			if (a->kind == TN_ATTR_STR)
				FUZZ_REQUIRE(strlen(a->v.s) <= TN_WIRE_MAX_ATTR_STR, iter);
		}
	}
}

START_TEST(test_fuzz)
{
	enum { SEEDS = 5, RANDOM_ITERS = 30000, MUTATE_ITERS = 60000, CAP = 8192 };
	const struct tn_wire_limits lim = {NOW_US, 300000000, INT64_C(86400000000)};
	unsigned char *seed[SEEDS], *buf = malloc(CAP);
	size_t seed_len[SEEDS];
	int accepted = 0;

	ck_assert_ptr_nonnull(buf);
	/* seeds: valid frames of every shape */
	for (int s = 0; s < SEEDS; s++) {
		msgpack_sbuffer_clear(&sb);
		switch (s) {
		case 0:
			pack_mod(&pk, NULL);
			break;
		case 1:
			msgpack_pack_array(&pk, 3);
			pack_mod(&pk, "time", "T64:1700000000:5", NULL);
			pack_mod(&pk, "type", "s:heartbeat", "sector", DEL, "asset", DEL, NULL);
			pack_mod(&pk, "time", "T96:1700000000:7", "geo", DEL, NULL);
			break;
		case 2:
			tn_wire_pack_event(&pk, &rt_events[0]);
			break;
		case 3:
			msgpack_pack_array(&pk, 2);
			tn_wire_pack_event(&pk, &rt_events[1]);
			tn_wire_pack_event(&pk, &rt_events[2]);
			break;
		default:
			pack_mod(&pk, "time", "T32:1700000000", "summary", "s:\xc3\xa9t\xc3\xa9",
				 NULL);
			break;
		}
		seed[s] = malloc(sb.size);
		ck_assert_ptr_nonnull(seed[s]);
		memcpy(seed[s], sb.data, sb.size);
		seed_len[s] = sb.size;
		ck_assert_int_eq(tn_wire_decode(dec, seed[s], seed_len[s], NULL, &fr), 0);
	}

	for (int iter = 0; iter < RANDOM_ITERS; iter++) {
		size_t len = rnd() % 64;
		unsigned char *b = malloc(len ? len : 1); /* exact size: ASan catches overreads */

		for (size_t i = 0; i < len; i++)
			b[i] = rnd_byte();
		fuzz_check(tn_wire_decode(dec, b, len, iter % 2 ? &lim : NULL, &fr), iter);
		free(b);
	}

	for (int iter = 0; iter < MUTATE_ITERS; iter++) {
		int s = (int)(rnd() % SEEDS), muts = 1 + (int)(rnd() % 4);
		size_t len = seed_len[s];

		memcpy(buf, seed[s], len);
		for (int m = 0; m < muts && len > 0; m++) {
			size_t at = rnd() % len;

			switch (rnd() % 6) {
			case 0: /* flip a bit */
				buf[at] ^= (unsigned char)(1u << (rnd() % 8));
				break;
			case 1: /* overwrite a byte */
				buf[at] = rnd_byte();
				break;
			case 2: { /* delete a run */
				size_t n = 1 + rnd() % 8;

				if (n > len - at)
					n = len - at;
				memmove(buf + at, buf + at + n, len - at - n);
				len -= n;
				break;
			}
			case 3: { /* insert a run */
				size_t n = 1 + rnd() % 8;

				if (len + n > CAP)
					break;
				memmove(buf + at + n, buf + at, len - at);
				for (size_t i = 0; i < n; i++)
					buf[at + i] = rnd_byte();
				len += n;
				break;
			}
			case 4: /* truncate */
				len = at;
				break;
			default: { /* duplicate a run elsewhere */
				size_t n = 1 + rnd() % 16, to = rnd() % len;

				if (n > len - at)
					n = len - at;
				if (to + n > CAP)
					break;
				memmove(buf + to, buf + at, n);
				if (to + n > len)
					len = to + n;
				break;
			}
			}
		}
		unsigned char *b = malloc(len ? len : 1);
		memcpy(b, buf, len);
		int rc = tn_wire_decode(dec, b, len, iter % 3 ? &lim : NULL, &fr);
		fuzz_check(rc, iter);
		accepted += rc == 0 && fr.items[0].err == 0;
		free(b);
	}
	/* the mutations kept some frames valid: the loop exercised the validator */
	ck_assert_int_gt(accepted, 100);

	for (int s = 0; s < SEEDS; s++)
		free(seed[s]);
	free(buf);
}
END_TEST

static Suite *wire_suite(void)
{
	Suite *s = suite_create("wire");
	TCase *tc;

	tc = tcase_create("decode");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_valid_single);
	tcase_add_test(tc, test_valid_minimal_and_defaults);
	tcase_add_test(tc, test_valid_batch_mixed);
	tcase_add_test(tc, test_batch_limits);
	tcase_add_test(tc, test_top_level);
	tcase_add_test(tc, test_decoder_reuse);
	tcase_add_test(tc, test_validate_event_direct);
	suite_add_tcase(s, tc);

	tc = tcase_create("schema");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_schema_errors, 0,
			    (int)(sizeof schema_cases / sizeof schema_cases[0]));
	tcase_add_test(tc, test_schema_keys);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_huge_counts);
	tcase_add_test(tc, test_depth);
	tcase_add_test(tc, test_object_limit);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_trailing_and_size);
	tcase_add_test(tc, test_utf8);
	suite_add_tcase(s, tc);

	tc = tcase_create("time");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_time_forms);
	tcase_add_test(tc, test_time_limits);
	suite_add_tcase(s, tc);

	tc = tcase_create("pack");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_pack_roundtrip);
	tcase_add_test(tc, test_pack_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("fuzz");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_fuzz);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(wire_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
