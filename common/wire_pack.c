/*
 * wire_pack.c - an event in the canonical wire form (wire.h, design §3.1).
 *
 * Canonical: keys in the order of the table, absent optional fields left
 * out, the time as the smallest MessagePack timestamp that holds it to the
 * microsecond. The same event always gives the same bytes, which the journal
 * and the drill recordings rely on to compare runs.
 */
#include "wire.h"

#include <string.h>

#include "tocsin/error.h"

#define TRY(expr)                                                                    \
	do {                                                                         \
		if ((expr) != 0)                                                     \
			return TN_ENOMEM;                                            \
	} while (0)

static int pack_str(msgpack_packer *pk, const char *s)
{
	size_t len = strlen(s);

	TRY(msgpack_pack_str(pk, len));
	TRY(msgpack_pack_str_body(pk, s, len));
	return 0;
}

static void store_be(unsigned char *p, uint64_t v, unsigned n)
{
	for (unsigned i = n; i-- > 0; v >>= 8)
		p[i] = (unsigned char)v;
}

/*
 * The timestamp extension, as msgpack_pack_timestamp() lays it out but with
 * every write checked: 32-bit for whole seconds below 2^32, 64-bit below
 * 2^34 seconds, 96-bit otherwise (before 1970 or after 2514).
 */
static int pack_time(msgpack_packer *pk, int64_t us)
{
	int64_t sec = us / 1000000, rem = us % 1000000;
	unsigned char b[12];
	size_t n;
	uint32_t nsec;

	if (rem < 0) {
		rem += 1000000;
		sec -= 1;
	}
	nsec = (uint32_t)rem * 1000;
	if (sec >= 0 && sec < (INT64_C(1) << 34)) {
		if (nsec == 0 && sec <= UINT32_MAX) {
			n = 4;
			store_be(b, (uint64_t)sec, 4);
		} else {
			n = 8;
			store_be(b, (uint64_t)nsec << 34 | (uint64_t)sec, 8);
		}
	} else {
		n = 12;
		store_be(b, nsec, 4);
		store_be(b + 4, (uint64_t)sec, 8);
	}
	TRY(msgpack_pack_ext(pk, n, -1));
	TRY(msgpack_pack_ext_body(pk, b, n));
	return 0;
}

static int pack_attr(msgpack_packer *pk, const struct tn_attr *a)
{
	TRY(pack_str(pk, a->key));
	switch (a->kind) {
	case TN_ATTR_STR:
		return pack_str(pk, a->v.s);
	case TN_ATTR_INT:
		TRY(msgpack_pack_int64(pk, a->v.i));
		return 0;
	case TN_ATTR_FLOAT:
		TRY(msgpack_pack_double(pk, a->v.f));
		return 0;
	case TN_ATTR_BOOL:
		TRY(a->v.b ? msgpack_pack_true(pk) : msgpack_pack_false(pk));
		return 0;
	}
	return TN_EINVAL; /* unreachable: kinds are checked before packing */
}

/* Everything that would make us write half an event or dereference NULL. */
static int check_event(const struct tn_event *ev)
{
	if (!ev->id || !ev->source || !tn_event_type_name(ev->type))
		return TN_EINVAL;
	if (ev->sector != TN_SECTOR_NONE && !tn_sector_name(ev->sector))
		return TN_EINVAL;
	if (ev->n_attrs > 0 && !ev->attrs)
		return TN_EINVAL;
	if (ev->n_attrs > UINT32_MAX)
		return TN_EINVAL;
	for (size_t i = 0; i < ev->n_attrs; i++) {
		const struct tn_attr *a = &ev->attrs[i];

		if (!a->key || (unsigned)a->kind > TN_ATTR_BOOL ||
		    (a->kind == TN_ATTR_STR && !a->v.s))
			return TN_EINVAL;
	}
	return 0;
}

int tn_wire_pack_event(msgpack_packer *pk, const struct tn_event *ev)
{
	size_t n = 4;

	if (!pk || !ev || check_event(ev))
		return TN_EINVAL;
	n += ev->sector != TN_SECTOR_NONE;
	n += ev->asset != NULL;
	n += ev->severity != 0;
	n += ev->summary != NULL;
	n += ev->has_geo;
	n += ev->n_attrs > 0;

	TRY(msgpack_pack_map(pk, n));
	TRY(pack_str(pk, "id"));
	TRY(pack_str(pk, ev->id));
	TRY(pack_str(pk, "source"));
	TRY(pack_str(pk, ev->source));
	TRY(pack_str(pk, "type"));
	TRY(pack_str(pk, tn_event_type_name(ev->type)));
	TRY(pack_str(pk, "time"));
	TRY(pack_time(pk, ev->time_us));
	if (ev->sector != TN_SECTOR_NONE) {
		TRY(pack_str(pk, "sector"));
		TRY(pack_str(pk, tn_sector_name(ev->sector)));
	}
	if (ev->asset) {
		TRY(pack_str(pk, "asset"));
		TRY(pack_str(pk, ev->asset));
	}
	if (ev->severity != 0) {
		TRY(pack_str(pk, "severity"));
		TRY(msgpack_pack_int(pk, ev->severity));
	}
	if (ev->summary) {
		TRY(pack_str(pk, "summary"));
		TRY(pack_str(pk, ev->summary));
	}
	if (ev->has_geo) {
		TRY(pack_str(pk, "geo"));
		TRY(msgpack_pack_array(pk, 2));
		TRY(msgpack_pack_double(pk, ev->lat));
		TRY(msgpack_pack_double(pk, ev->lon));
	}
	if (ev->n_attrs > 0) {
		TRY(pack_str(pk, "attrs"));
		TRY(msgpack_pack_map(pk, ev->n_attrs));
		for (size_t i = 0; i < ev->n_attrs; i++)
			TRY(pack_attr(pk, &ev->attrs[i]));
	}
	return 0;
}
