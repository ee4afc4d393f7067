/* alerts_clock.c - the alerts thread's clock and escalation levels (alerts_int.h). */
#include <msgpack/timestamp.h>
#include <string.h>

#include "alerts_int.h"
#include "correlate.h"
#include "tocsin/error.h"
#include "wire.h"

#define SCAN_DEPTH 4 /* [recv_us, adapter, {..., time, attrs{...}}] */

int tn__alerts_clock_of(const struct tn_journal_record *rec, msgpack_zone *zone, int64_t *us)
{
	msgpack_object o;
	size_t off = 0;

	if (rec->type != TN_JREC_TICK && rec->type != TN_JREC_EVENT)
		return TN_ENOTFOUND;
	msgpack_zone_clear(zone);
	if (tn_wire_scan(rec->payload, rec->len, SCAN_DEPTH, rec->len, NULL, 0) != 0 ||
	    msgpack_unpack(rec->payload, rec->len, &off, zone, &o) != MSGPACK_UNPACK_SUCCESS ||
	    o.type != MSGPACK_OBJECT_ARRAY)
		return TN_ECORRUPT;
	if (rec->type == TN_JREC_TICK)
		return o.via.array.size == 1 && tn__mp_i64(&o.via.array.ptr[0], us) ? 0 : TN_ECORRUPT;
	if (o.via.array.size != 3 || o.via.array.ptr[2].type != MSGPACK_OBJECT_MAP)
		return TN_ECORRUPT;
	const msgpack_object_map *m = &o.via.array.ptr[2].via.map;
	for (uint32_t i = 0; i < m->size; i++) {
		const msgpack_object *k = &m->ptr[i].key, *v = &m->ptr[i].val;
		int64_t ms;
		msgpack_timestamp ts;
		if (k->type != MSGPACK_OBJECT_STR || k->via.str.size != 4 ||
		    memcmp(k->via.str.ptr, "time", 4) != 0)
			continue;
		/* the journal holds validated events: one of the two forms */
		if (tn__mp_i64(v, &ms) && ms > INT64_MIN / 1000 && ms < INT64_MAX / 1000) {
			*us = ms * 1000;
			return 0;
		}
		if (msgpack_object_to_timestamp(v, &ts) && ts.tv_sec > INT64_MIN / 1000000 &&
		    ts.tv_sec < INT64_MAX / 1000000 - 1) {
			*us = ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
			return 0;
		}
		return TN_ECORRUPT;
	}
	return TN_ECORRUPT;
}

unsigned tn__escalation_due(int64_t from_us, int64_t now_us, int deadline_s)
{
	if (deadline_s <= 0 || now_us <= from_us)
		return 0;
	int64_t n = (now_us - from_us) / ((int64_t)deadline_s * 1000000);
	return n > 1000000 ? 1000000u : (unsigned)n;
}
