/* test_alerts.c - an alert's topic and body from a CHANGE record, seq at the head of the
 * body, and the CHANGE record decoder (server/alerts_int.h, server/correlate.h). */
#include <check.h>
#include <jansson.h>
#include <msgpack.h>
#include <msgpack/timestamp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts_int.h"
#include "correlate.h"
#include "frame.h"
#include "tocsin/error.h"

#define S(x) x, strlen(x)

static const char BODY[] =
	"{\"seq\":42,\"incident\":\"INC-00000000000000ab\",\"rev\":3,\"msg\":\"update\","
	"\"priority\":1,\"confidence\":0.75,\"late\":false,\"gone\":null,\"ok\":true,"
	"\"sectors\":[\"energy\",\"health\"],\"root\":{\"asset\":\"SUB-1\",\"n\":-7},"
	"\"title\":\"caf\xc3\xa9 \\\"fire\\\"\"}";

/* The unpacked body of an alert, in `zone`. */
static msgpack_object body_of(const struct tn__alert *a, msgpack_zone *zone)
{
	msgpack_object o;
	size_t off = 0;
	ck_assert_int_eq(msgpack_unpack((const char *)a->body, a->body_len, &off, zone, &o),
			 MSGPACK_UNPACK_SUCCESS);
	ck_assert_uint_eq(off, a->body_len);
	return o;
}

static const msgpack_object *get(const msgpack_object *map, const char *key)
{
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;
		if (k->via.str.size == strlen(key) && memcmp(k->via.str.ptr, key, k->via.str.size) == 0)
			return &map->via.map.ptr[i].val;
	}
	return NULL;
}

START_TEST(live_alert)
{
	struct tn__alert *a;
	msgpack_zone zone;
	msgpack_zone_init(&zone, 4096);

	ck_assert_int_eq(tn__alert_from_change(S("live"), S("update"), 1, S("ALD-N"), S(BODY), &a),
			 0);
	ck_assert_str_eq(a->data, "live/P1/ALD-N");
	ck_assert_uint_eq(a->topic_len, strlen("live/P1/ALD-N"));
	ck_assert_uint_eq(a->seq, 42);
	ck_assert_uint_eq(a->priority, 1);
	ck_assert(a->open);
	msgpack_object o = body_of(a, &zone);
	ck_assert_int_eq(o.type, MSGPACK_OBJECT_MAP);
	ck_assert_uint_eq(o.via.map.size, 12);
	/* keys in the order written: seq first */
	ck_assert_int_eq(o.via.map.ptr[0].key.via.str.size, 3);
	ck_assert(memcmp(o.via.map.ptr[0].key.via.str.ptr, "seq", 3) == 0);
	ck_assert_uint_eq(get(&o, "seq")->via.u64, 42);
	ck_assert_int_eq(get(&o, "confidence")->type, MSGPACK_OBJECT_FLOAT64);
	ck_assert(get(&o, "confidence")->via.f64 == 0.75);
	ck_assert_int_eq(get(&o, "late")->type, MSGPACK_OBJECT_BOOLEAN);
	ck_assert(!get(&o, "late")->via.boolean);
	ck_assert(get(&o, "ok")->via.boolean);
	ck_assert_int_eq(get(&o, "gone")->type, MSGPACK_OBJECT_NIL);
	ck_assert_uint_eq(get(&o, "sectors")->via.array.size, 2);
	const msgpack_object *root = get(&o, "root");
	ck_assert_int_eq(get(root, "n")->type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
	ck_assert_int_eq(get(root, "n")->via.i64, -7);
	const msgpack_object *t = get(&o, "title");
	ck_assert_uint_eq(t->via.str.size, strlen("caf\xc3\xa9 \"fire\""));
	ck_assert(memcmp(t->via.str.ptr, "caf\xc3\xa9 \"fire\"", t->via.str.size) == 0);
	tn__alert_unref(a);
	msgpack_zone_destroy(&zone);
}
END_TEST

START_TEST(topics)
{
	struct tn__alert *a;

	/* an unknown area is "-"; a drill has its own branch of topics */
	ck_assert_int_eq(tn__alert_from_change(S("live"), S("resolved"), 5, "", 0, S(BODY), &a), 0);
	ck_assert_str_eq(a->data, "live/P5/-");
	ck_assert(!a->open);
	tn__alert_unref(a);
	ck_assert_int_eq(tn__alert_from_change(S("storm-2025"), S("alert"), 2, S("ALD"), S(BODY), &a),
			 0);
	ck_assert_str_eq(a->data, "drill/storm-2025/P2/ALD");
	ck_assert(a->open);
	tn__alert_unref(a);
	/* nothing that would make another topic */
	ck_assert_int_eq(tn__alert_from_change(S("live"), S("alert"), 0, S("A"), S(BODY), &a),
			 TN_ECORRUPT);
	ck_assert_int_eq(tn__alert_from_change(S("live"), S("alert"), 6, S("A"), S(BODY), &a),
			 TN_ECORRUPT);
	ck_assert_int_eq(tn__alert_from_change(S("live"), S("alert"), 1, S("A/B"), S(BODY), &a),
			 TN_ECORRUPT);
	ck_assert_int_eq(tn__alert_from_change(S("live"), S("alert"), 1, S("A B"), S(BODY), &a),
			 TN_ECORRUPT);
	ck_assert_int_eq(tn__alert_from_change(S("a/b"), S("alert"), 1, S("A"), S(BODY), &a),
			 TN_ECORRUPT);
	ck_assert_ptr_null(a);
}
END_TEST

START_TEST(bodies)
{
	struct tn__alert *a;

	/* from before alerts: no seq, never published */
	ck_assert_int_eq(tn__alert_from_change(S("live"), S("alert"), 1, S("A"),
					       S("{\"incident\":\"INC-1\"}"), &a),
			 TN_ENOTFOUND);
	/* a seq, then not JSON */
	ck_assert_int_eq(tn__alert_from_change(S("live"), S("alert"), 1, S("A"), S("{\"seq\":1,}"),
					       &a),
			 TN_ECORRUPT);
	/* from a row: the seq is given, the body has its keys in any order */
	ck_assert_int_eq(tn__alert_from_row(S("live"), S("alert"), 1, S("A"),
					    S("{\"rev\": 1, \"seq\": 9}"), 9, &a),
			 0);
	ck_assert_uint_eq(a->seq, 9);
	tn__alert_unref(a);
	ck_assert_int_eq(tn__alert_from_row(S("live"), S("alert"), 1, S("A"), S("[1]"), 9, &a),
			 TN_ECORRUPT);
	ck_assert_int_eq(tn__alert_from_row(S("live"), S("alert"), 1, S("A"), S("{}"), 0, &a),
			 TN_ECORRUPT);
}
END_TEST

START_TEST(json_depth_is_bounded)
{
	char deep[200];
	struct tn__bytes b = {0};
	int n = 0;

	for (int i = 0; i < 40; i++)
		deep[n++] = '[';
	for (int i = 0; i < 40; i++)
		deep[n++] = ']';
	ck_assert_int_eq(tn__alert_pack_json(&b, deep, (size_t)n), TN_ECORRUPT);
	ck_assert_uint_eq(b.len, 0); /* a refusal leaves nothing behind */
	ck_assert_int_eq(tn__alert_pack_json(&b, deep + 7, (size_t)n - 14), 0); /* 33 levels */
	ck_assert_uint_eq(b.len, 33);
	b.len = 0;
	ck_assert_int_eq(tn__alert_pack_json(&b, deep + 6, (size_t)n - 12), TN_ECORRUPT);
	free(b.data);
}
END_TEST

/*
 * The oracle: what the alerts thread did before its one-pass converter,
 * a jansson tree walked into msgpack-c. Same input, same bytes or both
 * refuse. Returns 0 or -1.
 */
static int oracle_value(msgpack_packer *pk, const json_t *v)
{
	const char *key;
	json_t *x;
	size_t i;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		msgpack_pack_map(pk, json_object_size(v));
		json_object_foreach((json_t *)v, key, x) {
			msgpack_pack_str(pk, strlen(key));
			msgpack_pack_str_body(pk, key, strlen(key));
			if (oracle_value(pk, x) != 0)
				return -1;
		}
		return 0;
	case JSON_ARRAY:
		msgpack_pack_array(pk, json_array_size(v));
		json_array_foreach(v, i, x)
			if (oracle_value(pk, x) != 0)
				return -1;
		return 0;
	case JSON_STRING:
		msgpack_pack_str(pk, json_string_length(v));
		msgpack_pack_str_body(pk, json_string_value(v), json_string_length(v));
		return 0;
	case JSON_INTEGER:
		msgpack_pack_int64(pk, (int64_t)json_integer_value(v));
		return 0;
	case JSON_REAL:
		msgpack_pack_double(pk, json_real_value(v));
		return 0;
	case JSON_TRUE:
		msgpack_pack_true(pk);
		return 0;
	case JSON_FALSE:
		msgpack_pack_false(pk);
		return 0;
	case JSON_NULL:
		msgpack_pack_nil(pk);
		return 0;
	}
	return -1;
}

static int oracle(struct tn__bytes *out, const char *json, size_t len)
{
	msgpack_packer pk;
	json_error_t e;
	json_t *v = json_loadb(json, len, JSON_PRESERVE_ORDER | JSON_DECODE_ANY, &e);
	if (!v)
		return -1;
	msgpack_packer_init(&pk, out, tn__bytes_write);
	int rc = oracle_value(&pk, v);
	json_decref(v);
	return rc;
}

static uint64_t rnd_state;

static uint32_t rnd(uint32_t n)
{
	rnd_state = rnd_state * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(rnd_state >> 33) % n;
}

static void put(struct tn__bytes *b, const char *s)
{
	tn__bytes_write(b, s, strlen(s));
}

static void ws(struct tn__bytes *b)
{
	static const char *const w[] = {"", "", "", " ", "\n", "\t ", "\r\n  "};
	put(b, w[rnd(7)]);
}

/* A string: plain, escapes, raw UTF-8, \u escapes with surrogate pairs; `tag` keeps keys unique. */
static void gen_string(struct tn__bytes *b, int tag)
{
	static const char *const part[] = {
		"a", "SUB-1", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x94\xa5", "\\\"", "\\\\",
		"\\/", "\\b\\f\\n\\r\\t", "\\u00e9", "\\u20AC", "\\ud83d\\udd25", "\\u0001", " ",
		"\x7f", "0123456789abcdef0123456789abcdef"};
	char t[16];
	put(b, "\"");
	if (tag >= 0) {
		snprintf(t, sizeof t, "k%d", tag);
		put(b, t);
	}
	for (uint32_t i = 0, n = rnd(4) ? rnd(4) : rnd(20); i < n; i++)
		put(b, part[rnd(sizeof part / sizeof *part)]);
	put(b, "\"");
}

static void gen_number(struct tn__bytes *b)
{
	static const char *const fixed[] = {
		"0", "-0", "7", "-1", "127", "128", "-32", "-33", "255", "256", "65535", "65536",
		"-2147483648", "4294967296", "9223372036854775807", "-9223372036854775808",
		"0.5", "-0.0", "1e10", "2.5E-3", "1E+2", "6.02e23", "1e308", "1e-320", "0.1",
		"3.141592653589793", "123456789012.5e-3"};
	char t[32];
	if (rnd(3)) {
		put(b, fixed[rnd(sizeof fixed / sizeof *fixed)]);
		return;
	}
	snprintf(t, sizeof t, "%s%u", rnd(2) ? "-" : "", rnd(4000000000u));
	put(b, t);
}

static void gen_value(struct tn__bytes *b, int depth)
{
	uint32_t k = depth > 4 ? 2 + rnd(5) : rnd(8);
	uint32_t n = rnd(5) ? rnd(6) : rnd(40);

	switch (k) {
	case 0:
	case 1:
		put(b, k == 0 ? "{" : "[");
		ws(b);
		for (uint32_t i = 0; i < n; i++) {
			if (i) {
				put(b, ",");
				ws(b);
			}
			if (k == 0) {
				gen_string(b, (int)i);
				ws(b);
				put(b, ":");
				ws(b);
			}
			gen_value(b, depth + 1);
			ws(b);
		}
		put(b, k == 0 ? "}" : "]");
		return;
	case 2:
	case 3:
		gen_string(b, -1);
		return;
	case 4:
	case 5:
		gen_number(b);
		return;
	default:
		put(b, k == 6 ? (rnd(2) ? "true" : "false") : "null");
	}
}

static void same_as_oracle(const char *doc, size_t len, int *accepted)
{
	struct tn__bytes mine = {0}, theirs = {0};
	int a = tn__alert_pack_json(&mine, doc, len);
	int o = oracle(&theirs, doc, len);

	if ((a == 0) != (o == 0) || mine.len != theirs.len ||
	    (mine.len && memcmp(mine.data, theirs.data, mine.len) != 0))
		ck_abort_msg("differs from jansson (mine %d, %zu bytes; jansson %d, %zu bytes): %.*s",
			     a, mine.len, o, theirs.len, (int)(len > 300 ? 300 : len), doc);
	ck_assert(a == 0 || a == TN_ECORRUPT);
	*accepted += a == 0;
	free(mine.data);
	free(theirs.data);
}

/*
 * Property: on random documents, and on every one of them damaged (a byte
 * changed, inserted or cut, or the text truncated), the one-pass converter
 * gives jansson's bytes or refuses where jansson refuses.
 */
START_TEST(json_matches_jansson)
{
	static const char noise[] = "\"\\{}[],:0-.eEu\x01\xc3\xff \xed\xa0\x80";
	int accepted = 0, damaged_ok = 0;

	rnd_state = 20261126;
	for (int i = 0; i < 3000; i++) {
		struct tn__bytes doc = {0};
		ws(&doc);
		gen_value(&doc, 0);
		ws(&doc);
		same_as_oracle(doc.data, doc.len, &accepted);
		for (int m = 0; m < 4; m++) {
			struct tn__bytes d = {0};
			tn__bytes_write(&d, doc.data, doc.len);
			size_t at = rnd((uint32_t)d.len);
			switch (rnd(4)) {
			case 0:
				d.data[at] = noise[rnd(sizeof noise - 1)];
				break;
			case 1:
				tn__bytes_reserve(&d, 1);
				memmove(d.data + at + 1, d.data + at, d.len - at);
				d.data[at] = noise[rnd(sizeof noise - 1)];
				d.len++;
				break;
			case 2:
				memmove(d.data + at, d.data + at + 1, d.len - at - 1);
				d.len--;
				break;
			default:
				d.len = at;
			}
			same_as_oracle(d.data, d.len, &damaged_ok);
			free(d.data);
		}
		free(doc.data);
	}
	ck_assert_int_eq(accepted, 3000);
	ck_assert_int_gt(damaged_ok, 0);    /* some damage is still JSON ... */
	ck_assert_int_lt(damaged_ok, 6000); /* ... most is not */

	/* headers at each size boundary: fix, 16-bit and 32-bit counts */
	static const unsigned sizes[] = {15, 16, 65535, 65536};
	for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
		for (int map = 0; map < 2; map++) {
			struct tn__bytes d = {0};
			put(&d, map ? "{" : "[");
			for (unsigned i = 0; i < sizes[s]; i++) {
				char t[32];
				snprintf(t, sizeof t, map ? "%s\"%u\":%u" : "%s%u", i ? "," : "", i,
					 i);
				put(&d, t);
			}
			put(&d, map ? "}" : "]");
			same_as_oracle(d.data, d.len, &accepted);
			free(d.data);
		}
	/* the refusals that matter, each on its own */
	static const char *const bad[] = {
		"", " ", "{", "{\"a\":}", "{\"a\" 1}", "{\"a\":1,}", "[1,]", "[01]", "[1.]",
		"[.5]", "[1e]", "[-]", "[\"\\u0000\"]", "[\"\\ud83d\"]", "[\"\\udd25\"]",
		"[\"\\x\"]", "[\"a\x01\"]", "[\"\xc3\"]", "[\"\xed\xa0\x80\"]",
		"[9223372036854775808]", "[-9223372036854775809]", "[1e309]", "[tru]", "{} {}",
		"[nul]", "{1:2}"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct tn__bytes d = {0};
		ck_assert_msg(tn__alert_pack_json(&d, bad[i], strlen(bad[i])) == TN_ECORRUPT,
			      "accepted %s", bad[i]);
		ck_assert_uint_eq(d.len, 0);
		free(d.data);
		same_as_oracle(bad[i], strlen(bad[i]), &accepted);
	}
}
END_TEST

START_TEST(body_seq)
{
	uint64_t seq = 0;
	ck_assert_int_eq(tn_correlate_body_seq(S("{\"seq\":1,\"x\":2}"), &seq), 0);
	ck_assert_uint_eq(seq, 1);
	ck_assert_int_eq(tn_correlate_body_seq(S("{\"seq\":18446744073709551615,"), &seq), 0);
	ck_assert_uint_eq(seq, UINT64_MAX);
	ck_assert_int_eq(tn_correlate_body_seq(S("{\"seq\":18446744073709551616,"), &seq),
			 TN_ECORRUPT);
	ck_assert_int_eq(tn_correlate_body_seq(S("{\"incident\":\"x\"}"), &seq), TN_ENOTFOUND);
	ck_assert_int_eq(tn_correlate_body_seq(S("{\"seq\":0,"), &seq), TN_ECORRUPT);
	ck_assert_int_eq(tn_correlate_body_seq(S("{\"seq\":01,"), &seq), TN_ECORRUPT);
	ck_assert_int_eq(tn_correlate_body_seq(S("{\"seq\":12"), &seq), TN_ECORRUPT);
	ck_assert_int_eq(tn_correlate_body_seq(S("{\"seq\":"), &seq), TN_ENOTFOUND);
}
END_TEST

static size_t pack_change(char *out, size_t cap, unsigned n, const char *incident, int64_t rev)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, n);
	const char *strs[] = {"live", incident, NULL, "alert", NULL, "ALD", NULL, "{\"seq\":1,}"};
	for (unsigned i = 0; i < n && i < 8; i++) {
		if (i == 2)
			msgpack_pack_int64(&pk, rev);
		else if (i == 4)
			msgpack_pack_int(&pk, 2);
		else if (i == 6)
			msgpack_pack_int64(&pk, 1700000000000000);
		else {
			msgpack_pack_str(&pk, strlen(strs[i]));
			msgpack_pack_str_body(&pk, strs[i], strlen(strs[i]));
		}
	}
	ck_assert_uint_le(sb.size, cap);
	memcpy(out, sb.data, sb.size);
	size_t len = sb.size;
	msgpack_sbuffer_destroy(&sb);
	return len;
}

START_TEST(change_decode)
{
	char buf[512];
	struct tn_change_rec ch;
	msgpack_zone zone;
	msgpack_zone_init(&zone, 4096);

	size_t n = pack_change(buf, sizeof buf, 8, "INC-1", 3);
	ck_assert_int_eq(tn_correlate_change_decode(buf, n, &zone, &ch), 0);
	ck_assert_uint_eq(ch.rev, 3);
	ck_assert_int_eq(ch.priority, 2);
	ck_assert_int_eq(ch.updated_us, 1700000000000000);
	ck_assert_uint_eq(ch.incident_len, 5);
	ck_assert(memcmp(ch.incident, "INC-1", 5) == 0);
	ck_assert_uint_eq(ch.body_len, strlen("{\"seq\":1,}"));
	n = pack_change(buf, sizeof buf, 7, "INC-1", 3);
	ck_assert_int_eq(tn_correlate_change_decode(buf, n, &zone, &ch), TN_ECORRUPT);
	n = pack_change(buf, sizeof buf, 8, "INC-1", 0);
	ck_assert_int_eq(tn_correlate_change_decode(buf, n, &zone, &ch), TN_ECORRUPT);
	n = pack_change(buf, sizeof buf, 8, "INC-1", (int64_t)UINT32_MAX + 1);
	ck_assert_int_eq(tn_correlate_change_decode(buf, n, &zone, &ch), TN_ECORRUPT);
	n = pack_change(buf, sizeof buf, 8, "INC-0123456789abcdef0123456789abcdef0123456789", 1);
	ck_assert_int_eq(tn_correlate_change_decode(buf, n, &zone, &ch), TN_ECORRUPT);
	/* truncated */
	n = pack_change(buf, sizeof buf, 8, "INC-1", 1);
	ck_assert_int_eq(tn_correlate_change_decode(buf, n - 3, &zone, &ch), TN_ECORRUPT);
	msgpack_zone_destroy(&zone);
}
END_TEST

START_TEST(escalation_levels)
{
	ck_assert_uint_eq(tn__escalation_due(0, 59999999, 60), 0);
	ck_assert_uint_eq(tn__escalation_due(0, 60000000, 60), 1);
	ck_assert_uint_eq(tn__escalation_due(0, 185000000, 60), 3);
	ck_assert_uint_eq(tn__escalation_due(100, 50, 60), 0);   /* clock behind: none */
	ck_assert_uint_eq(tn__escalation_due(0, INT64_MAX, 0), 0); /* no deadline: never */
	ck_assert_uint_eq(tn__escalation_due(0, INT64_MAX, 1), 1000000);
}
END_TEST

static struct tn_journal_record record(uint8_t type, msgpack_sbuffer *sb)
{
	return (struct tn_journal_record){.type = type, .len = (uint32_t)sb->size,
					  .payload = sb->data};
}

START_TEST(clock_of_records)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_zone zone;
	int64_t us = 0;
	msgpack_zone_init(&zone, 4096);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);

	/* TICK: [clock_us] */
	msgpack_pack_array(&pk, 1);
	msgpack_pack_int64(&pk, 1700000000123456);
	struct tn_journal_record r = record(TN_JREC_TICK, &sb);
	ck_assert_int_eq(tn__alerts_clock_of(&r, &zone, &us), 0);
	ck_assert_int_eq(us, 1700000000123456);
	/* EVENT: [recv_us, adapter, {time: ms}] */
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_array(&pk, 3);
	msgpack_pack_int64(&pk, 1);
	msgpack_pack_nil(&pk);
	msgpack_pack_map(&pk, 2);
	msgpack_pack_str_with_body(&pk, "id", 2);
	msgpack_pack_str_with_body(&pk, "x", 1);
	msgpack_pack_str_with_body(&pk, "time", 4);
	msgpack_pack_int64(&pk, 1700000000123);
	r = record(TN_JREC_EVENT, &sb);
	ck_assert_int_eq(tn__alerts_clock_of(&r, &zone, &us), 0);
	ck_assert_int_eq(us, 1700000000123000);
	/* EVENT with a MessagePack timestamp (ext -1, 64-bit form) */
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_array(&pk, 3);
	msgpack_pack_int64(&pk, 1);
	msgpack_pack_nil(&pk);
	msgpack_pack_map(&pk, 1);
	msgpack_pack_str_with_body(&pk, "time", 4);
	msgpack_timestamp ts = {.tv_sec = 1700000000, .tv_nsec = 5000};
	msgpack_pack_timestamp(&pk, &ts);
	r = record(TN_JREC_EVENT, &sb);
	ck_assert_int_eq(tn__alerts_clock_of(&r, &zone, &us), 0);
	ck_assert_int_eq(us, 1700000000000005);
	/* other records, and nonsense */
	r = record(TN_JREC_AUDIT, &sb);
	ck_assert_int_eq(tn__alerts_clock_of(&r, &zone, &us), TN_ENOTFOUND);
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_int(&pk, 1);
	msgpack_pack_int(&pk, 2);
	r = record(TN_JREC_TICK, &sb);
	ck_assert_int_eq(tn__alerts_clock_of(&r, &zone, &us), TN_ECORRUPT);
	r.len = 1;
	ck_assert_int_eq(tn__alerts_clock_of(&r, &zone, &us), TN_ECORRUPT);
	msgpack_sbuffer_destroy(&sb);
	msgpack_zone_destroy(&zone);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("alerts");
	TCase *tc = tcase_create("alerts");
	tcase_add_test(tc, live_alert);
	tcase_add_test(tc, topics);
	tcase_add_test(tc, bodies);
	tcase_add_test(tc, json_depth_is_bounded);
	tcase_add_test(tc, json_matches_jansson);
	tcase_add_test(tc, body_seq);
	tcase_add_test(tc, change_decode);
	tcase_add_test(tc, escalation_levels);
	tcase_add_test(tc, clock_of_records);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
