/*
 * fuzz_wire.c - libFuzzer harness for what an adapter's bytes go through
 * first: the bounded pre-scan, msgpack-c's unpacking and the strict schema
 * (common/wire*.c). `make fuzz` builds it with clang under AddressSanitizer
 * and UndefinedBehaviorSanitizer and runs it (scripts/fuzz.sh,
 * docs/security.md "Hostile bytes").
 *
 * Beyond "does not crash", each input checks the decoder's contract
 * (common/wire.h) and aborts when it is broken:
 * - the result is 0, TN_EDECODE or TN_ESCHEMA (never TN_EINVAL, and never
 *   TN_ENOMEM for a frame within TN_WIRE_MAX_FRAME); an error names itself
 *   (a non-empty, terminated message) and yields no items;
 * - the pre-scan alone refusing a buffer means the decoder refuses it too;
 * - every item is 0, TN_ESCHEMA or TN_ETIME with a message when not 0, and a
 *   valid event satisfies the schema's bounds;
 * - a valid event packed again (tn_wire_pack_event) decodes to the same
 *   event: what the journal stores is what was accepted.
 */
#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tocsin/error.h"
#include "tocsin/event.h"
#include "utf8.h"
#include "wire.h"

#define REQUIRE(cond)                                                          \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz_wire: broken: %s (line %d)\n", #cond, \
				__LINE__);                                     \
			abort();                                               \
		}                                                              \
	} while (0)

/* 2026-11-26T00:00:00Z; events within a year either side are in time. */
static const struct tn_wire_limits lim = {
	INT64_C(1795651200000000), INT64_C(365) * 86400 * 1000000, INT64_C(365) * 86400 * 1000000};

static bool str_ok(const char *s, size_t max)
{
	size_t n;

	if (s == NULL)
		return false;
	n = strlen(s);
	return n >= 1 && n <= max && tn__utf8_check(s, n, 0, NULL) == 0;
}

static bool same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static bool same_double(double a, double b)
{
	return memcmp(&a, &b, sizeof a) == 0;
}

static void check_valid(const struct tn_event *ev)
{
	REQUIRE(str_ok(ev->id, TN_WIRE_MAX_ID));
	REQUIRE(str_ok(ev->source, TN_WIRE_MAX_SOURCE));
	REQUIRE((unsigned)ev->type < TN_EV__COUNT);
	REQUIRE(ev->severity >= 1 && ev->severity <= 5);
	REQUIRE(ev->time_us >= lim.now_us - lim.horizon_us &&
		ev->time_us <= lim.now_us + lim.max_future_us);
	if (ev->type == TN_EV_HEARTBEAT) {
		REQUIRE(ev->asset == NULL || str_ok(ev->asset, TN_WIRE_MAX_ASSET));
	} else {
		REQUIRE(str_ok(ev->asset, TN_WIRE_MAX_ASSET));
		REQUIRE(ev->sector > TN_SECTOR_NONE && ev->sector < TN_SECTOR__COUNT);
	}
	if (ev->summary)
		REQUIRE(strlen(ev->summary) <= TN_WIRE_MAX_SUMMARY);
	if (ev->has_geo)
		REQUIRE(ev->lat >= -90 && ev->lat <= 90 && ev->lon >= -180 && ev->lon <= 180);
	REQUIRE(ev->n_attrs <= TN_WIRE_MAX_ATTRS);
	for (size_t i = 0; i < ev->n_attrs; i++) {
		REQUIRE(str_ok(ev->attrs[i].key, TN_WIRE_MAX_ATTR_KEY));
		if (ev->attrs[i].kind == TN_ATTR_STR)
			REQUIRE(ev->attrs[i].v.s && strlen(ev->attrs[i].v.s) <= TN_WIRE_MAX_ATTR_STR);
	}
}

static bool same_event(const struct tn_event *a, const struct tn_event *b)
{
	if (!same_str(a->id, b->id) || !same_str(a->source, b->source) || a->type != b->type ||
	    a->time_us != b->time_us || a->sector != b->sector || !same_str(a->asset, b->asset) ||
	    a->severity != b->severity || !same_str(a->summary, b->summary) ||
	    a->has_geo != b->has_geo || a->n_attrs != b->n_attrs)
		return false;
	if (a->has_geo && (!same_double(a->lat, b->lat) || !same_double(a->lon, b->lon)))
		return false;
	for (size_t i = 0; i < a->n_attrs; i++) {
		const struct tn_attr *x = &a->attrs[i], *y = &b->attrs[i];

		if (!same_str(x->key, y->key) || x->kind != y->kind)
			return false;
		if ((x->kind == TN_ATTR_STR && !same_str(x->v.s, y->v.s)) ||
		    (x->kind == TN_ATTR_INT && x->v.i != y->v.i) ||
		    (x->kind == TN_ATTR_FLOAT && !same_double(x->v.f, y->v.f)) ||
		    (x->kind == TN_ATTR_BOOL && x->v.b != y->v.b))
			return false;
	}
	return true;
}

/* Pack ev alone and decode it with d2: it must come back equal. */
static void round_trip(struct tn_wire_decoder *d2, const struct tn_event *ev)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct tn_wire_frame f;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	REQUIRE(tn_wire_pack_event(&pk, ev) == 0);
	REQUIRE(tn_wire_decode(d2, sb.data, sb.size, &lim, &f) == 0);
	REQUIRE(f.n == 1 && !f.batch && f.items[0].err == 0);
	REQUIRE(same_event(ev, &f.items[0].ev));
	msgpack_sbuffer_destroy(&sb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tn_wire_decoder *d, *d2;
	struct tn_wire_frame f;
	char msg[TN_WIRE_MSG_MAX];
	int rc, scan;

	if (!d && (tn_wire_decoder_new(&d) != 0 || tn_wire_decoder_new(&d2) != 0))
		abort();
	if (size > TN_WIRE_MAX_FRAME)
		return 0;
	scan = tn_wire_scan(data, size, TN_WIRE_MAX_DEPTH, TN_WIRE_MAX_OBJECTS, msg, sizeof msg);
	rc = tn_wire_decode(d, size ? data : (const uint8_t *)"", size, &lim, &f);
	REQUIRE(rc == 0 || rc == TN_EDECODE || rc == TN_ESCHEMA);
	if (scan != 0)
		REQUIRE(rc == TN_EDECODE);
	if (rc != 0) {
		REQUIRE(f.n == 0);
		REQUIRE(memchr(f.msg, '\0', sizeof f.msg) != NULL && f.msg[0] != '\0');
		return 0;
	}
	REQUIRE(f.n >= 1 && f.n <= TN_WIRE_MAX_BATCH);
	REQUIRE(f.batch || f.n == 1);
	for (size_t i = 0; i < f.n; i++) {
		const struct tn_wire_item *it = &f.items[i];

		REQUIRE(it->err == 0 || it->err == TN_ESCHEMA || it->err == TN_ETIME);
		if (it->err != 0) {
			REQUIRE(memchr(it->msg, '\0', sizeof it->msg) != NULL && it->msg[0] != '\0');
			continue;
		}
		check_valid(&it->ev);
		round_trip(d2, &it->ev);
	}
	return 0;
}
