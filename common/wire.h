/*
 * wire.h - decode and validate ingest frames; encode events (design §3.1).
 *
 * A frame is one MessagePack map (an event) or an array of up to
 * TN_WIRE_MAX_BATCH maps. Decoding happens in two steps so that nothing on
 * the wire can make us allocate more than a small multiple of the frame's own
 * size: a bounded pre-scan walks the bytes, checking every container's
 * declared count against the bytes left (each element needs at least one
 * byte), the nesting depth and the total number of objects; only then does
 * msgpack-c unpack the frame into the decoder's zone. Then each event map is
 * validated strictly against the schema.
 *
 * Depth accounting (TN_WIRE_MAX_DEPTH): the top-level object is at depth 1
 * and an element (key or value) of a container at depth k is at depth k + 1;
 * every object, empty containers included, must be at depth <= the limit. The
 * deepest legal object is a batch array 1 > event map 2 > attrs map or geo
 * array 3 > scalar 4.
 *
 * Every error message names the field and what was expected, e.g.
 *   "severity: expected an integer 1..5, got 9"
 *   "sector: expected one of chemicals, civil-nuclear, ..., got \"enrgy\""
 * Strings must be valid UTF-8 without NUL bytes (PostgreSQL text cannot hold
 * them; accepting one would wedge the store).
 *
 * Thread contract: a decoder belongs to one thread at a time.
 */
#ifndef TN_WIRE_H
#define TN_WIRE_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tocsin/event.h"

#define TN_WIRE_MSG_MAX 200 /* bytes of an error message, with its NUL */

/*
 * Objects (every key, value and element) in one frame. The largest legal
 * frame has about 86 000 (1000 events of 10 keys, 32 attrs and a geo); the
 * bound caps msgpack-c's zone at TN_WIRE_MAX_OBJECTS * sizeof(msgpack_object).
 */
#define TN_WIRE_MAX_OBJECTS 200000

/* Time bounds for E_TIME; all in microseconds since the epoch (UTC). */
struct tn_wire_limits {
	int64_t now_us;       /* the server's clock when the frame arrived */
	int64_t max_future_us; /* refuse events later than now + this */
	int64_t horizon_us;   /* refuse events earlier than now - this */
};

/* The outcome for one event of a frame. */
struct tn_wire_item {
	int err;                   /* 0, TN_ESCHEMA, TN_ETIME (TN_E* code) */
	const char *id;            /* the event's id if it had a readable one, else NULL */
	struct tn_event ev;        /* valid when err == 0 */
	char msg[TN_WIRE_MSG_MAX]; /* when err != 0: field and what was expected */
};

/* The outcome for one frame. Points into the decoder; valid until its next use. */
struct tn_wire_frame {
	bool batch;                 /* the frame was an array */
	size_t n;                   /* number of items (1 for a single event) */
	struct tn_wire_item *items; /* n items */
	char msg[TN_WIRE_MSG_MAX];  /* frame-level error message, when decode fails */
};

struct tn_wire_decoder;

/*
 * tn_wire_decoder_new - a decoder with its own reusable zone and arena.
 * Returns 0 and sets *out, or TN_ENOMEM. The caller owns *out and frees it
 * with tn_wire_decoder_free (NULL is fine there).
 */
int tn_wire_decoder_new(struct tn_wire_decoder **out);
void tn_wire_decoder_free(struct tn_wire_decoder *d);

/*
 * tn_wire_decode - decode and validate one frame of `len` bytes at `buf`
 * (borrowed; not retained after the call).
 * Returns 0 when the frame is a well-formed event or batch; each item then
 * says whether its event is valid (per-event TN_ESCHEMA / TN_ETIME).
 * Returns TN_EDECODE (not MessagePack, trailing bytes, depth, sizes or
 * counts beyond limits, a batch over TN_WIRE_MAX_BATCH, an empty batch, a
 * frame over TN_WIRE_MAX_FRAME) or TN_ESCHEMA (the top level is neither a
 * map nor an array), with out->msg set and out->n == 0. Also TN_ENOMEM
 * (out of memory) and TN_EINVAL (d NULL, or buf NULL with len > 0), never
 * caused by the bytes themselves. An event's E_SCHEMA wins over its E_TIME:
 * time bounds are checked only on events that match the schema.
 * A valid event has severity 1..5 (the type's default when absent), sector
 * TN_SECTOR_NONE and asset NULL only for a heartbeat that carries none.
 * Strings in out point into the decoder's arena and stay valid until the next
 * tn_wire_decode or tn_wire_validate_event on d. Steady state allocates
 * nothing per event: the arena and the item array are reused, growing by
 * doubling; the msgpack zone is cleared after each frame.
 */
int tn_wire_decode(struct tn_wire_decoder *d, const void *buf, size_t len,
		   const struct tn_wire_limits *lim, struct tn_wire_frame *out);

/*
 * tn_wire_scan - the bounded pre-scan alone: 0 if `buf` holds exactly one
 * MessagePack object within the limits (depth <= max_depth, counted as
 * above; every declared count coverable by the bytes left; at most
 * max_objects objects), else TN_EDECODE with a message in msg (msglen bytes,
 * may be NULL). An empty buffer is TN_EDECODE. max_depth above 32 counts as
 * 32 (msgpack-c's own parser stack). Allocates nothing. Pure; any thread.
 */
int tn_wire_scan(const void *buf, size_t len, unsigned max_depth, size_t max_objects,
		 char *msg, size_t msglen);

/*
 * tn_wire_validate_event - validate one unpacked event map `o` (borrowed)
 * into `item`, copying strings into the decoder's arena. `lim` may be NULL
 * to skip the time checks (replaying the journal). Returns item->err: 0,
 * TN_ESCHEMA, TN_ETIME, or TN_ENOMEM / TN_EINVAL (d or o NULL). Resets the
 * arena first: strings of earlier results on d become invalid.
 */
int tn_wire_validate_event(struct tn_wire_decoder *d, const msgpack_object *o,
			   const struct tn_wire_limits *lim, struct tn_wire_item *item);

/*
 * tn_wire_pack_event - append `ev` (borrowed) to `pk` as a wire event map, the
 * canonical form: the keys in the order of the table of design §3.1, absent
 * optional fields omitted, `time` as a MessagePack timestamp (ext -1).
 * tn_wire_decode of that map gives back an equal event (severity 0 is
 * omitted, so it comes back as the type's default). Returns 0, TN_ENOMEM
 * (the packer's write failed) or TN_EINVAL (pk or ev NULL, no id or source,
 * type out of range, n_attrs > 0 with NULL attrs or a NULL key or string);
 * on TN_EINVAL nothing was written. Any thread.
 */
int tn_wire_pack_event(msgpack_packer *pk, const struct tn_event *ev);

#endif
