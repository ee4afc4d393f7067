/*
 * adapter_int.h - internals of the adapter SDK shared between its files.
 *
 * The outbox is an array of slots: outbox_capacity slots for the user's
 * events plus one for the heartbeat. A slot holds one encoded event and its
 * id, and is in one of three states:
 *   FREE      on the free list;
 *   PENDING   on the pending list, in the order events were queued (a slot
 *             queued again for resending goes back to its place by `seq`);
 *   INFLIGHT  written in frame `fseq`, waiting for its result.
 * A hash index by id finds the slots a reply names. Frames in flight are
 * kept in a small table (max_inflight): their members as (slot, generation)
 * pairs, so that a member resolved through another reply (a late reply to a
 * timed-out frame) is recognised and skipped.
 *
 * Owner thread only, like the adapter.
 */
#ifndef TN_ADAPTER_INT_H
#define TN_ADAPTER_INT_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "tocsin/adapter.h"

#define TN__NONE           UINT32_MAX
#define TN__LASTERR        256
#define TN__RESULT_MSG     256 /* bytes of a server message passed to on_result, with NUL */
#define TN__RESULT_CODE    32  /* bytes of a wire code, with NUL */
#define TN__FRAME_HEADROOM 5   /* bytes of a batch's array header, at most */

enum tn__slot_state { TN__FREE, TN__PENDING, TN__INFLIGHT };

struct tn__slot {
	uint32_t gen;   /* bumped when freed: stale (slot, gen) references no longer match */
	uint8_t state;  /* enum tn__slot_state */
	bool heartbeat; /* the heartbeat slot */
	uint32_t prev;  /* pending list; free list uses next only */
	uint32_t next;
	uint32_t hnext; /* hash chain */
	uint32_t hash;
	uint32_t attempts; /* times written */
	uint64_t seq;      /* queue order */
	uint64_t fseq;     /* frame when INFLIGHT */
	char *buf;         /* id, NUL, then the encoded event; owned */
	size_t id_len;
	size_t enc_len;
};

struct tn__member {
	uint32_t slot;
	uint32_t gen;
};

struct tn__frame {
	bool used;
	uint64_t fseq;
	int64_t sent_ms; /* monotonic */
	uint32_t n;
	struct tn__member *m; /* max_batch entries, allocated once */
};

struct tn_adapter {
	void *ctx;
	bool own_ctx;
	void *sock;
	char *endpoint;

	/* options, validated */
	size_t capacity;
	size_t max_bytes;
	unsigned max_batch;
	unsigned max_inflight;
	int retry_ms;
	int backoff_max_ms;
	int heartbeat_ms;
	char *hb_source;
	void (*on_result)(void *ud, const char *id, int status, const char *code, const char *msg);
	void *ud;

	/* outbox */
	struct tn__slot *slots; /* capacity + 1; the last is the heartbeat slot */
	uint32_t hb_slot;
	uint32_t free_head;
	uint32_t pend_head, pend_tail;
	size_t n_pending;
	uint32_t *buckets;  /* hash index by id */
	uint32_t n_buckets; /* power of two */
	size_t n_user;      /* user events not yet resolved */
	size_t user_bytes;
	uint64_t next_seq;

	/* frames */
	struct tn__frame *frames; /* max_inflight */
	size_t n_frames;
	uint64_t next_fseq;
	char *fbuf; /* frame assembly, grows up to TN_WIRE_MAX_FRAME */
	size_t fbuf_cap;

	/* encoding */
	msgpack_sbuffer sbuf;

	/* timing */
	bool blocked;       /* the last send would block: wait for POLLOUT */
	int64_t hold_until; /* monotonic ms; no sending before (back-off) */
	int64_t backoff_ms;
	int64_t next_hb; /* monotonic ms */
	uint32_t hb_count;
	uint64_t rng; /* jitter */
	bool in_cb;

	struct tn_adapter_stats st;
	struct tn_log_slot log_slot;
	char last_error[TN__LASTERR];
};

/* outbox.c */
int tn__outbox_init(struct tn_adapter *a);
void tn__outbox_free(struct tn_adapter *a);
/* Take a free user slot (or the heartbeat slot); TN__NONE when there is none. */
uint32_t tn__slot_alloc(struct tn_adapter *a, bool heartbeat);
/* Give a slot its buffer and id, index it and append it to the pending list. */
void tn__slot_queue(struct tn_adapter *a, uint32_t s, char *buf, size_t id_len, size_t enc_len);
/* Put an INFLIGHT slot back on the pending list at its place. */
void tn__slot_requeue(struct tn_adapter *a, uint32_t s);
/* Unlink (pending list, hash), free the buffer, bump gen, return to the free list. */
void tn__slot_release(struct tn_adapter *a, uint32_t s);
/* Take a PENDING slot off the pending list (it becomes INFLIGHT in fseq). */
void tn__slot_dispatch(struct tn_adapter *a, uint32_t s, uint64_t fseq);
/*
 * A live (PENDING or INFLIGHT) slot whose id is the `len` bytes at `id`;
 * one INFLIGHT in frame `fseq` is preferred (0: no preference). TN__NONE if
 * none.
 */
uint32_t tn__slot_find(const struct tn_adapter *a, const char *id, size_t len, uint64_t fseq);
static inline const char *tn__slot_id(const struct tn__slot *s)
{
	return s->buf;
}
static inline const char *tn__slot_enc(const struct tn__slot *s)
{
	return s->buf + s->id_len + 1;
}
/* Whether member m of a frame still designates an INFLIGHT slot of that frame. */
bool tn__member_live(const struct tn_adapter *a, const struct tn__member *m, uint64_t fseq);
struct tn__frame *tn__frame_alloc(struct tn_adapter *a);
struct tn__frame *tn__frame_find(struct tn_adapter *a, uint64_t fseq);
struct tn__frame *tn__frame_oldest(struct tn_adapter *a);
void tn__frame_release(struct tn_adapter *a, struct tn__frame *f);

/* validate.c */
bool tn__utf8_valid(const char *s, size_t len);

/* reply.c: the shape of one server reply, checked; objects point into `u`. */
struct tn__reply_err {
	bool has_i;
	uint64_t i;
	const char *id; /* NULL when nil or absent */
	size_t id_len;
	const char *code;
	size_t code_len;
	const char *msg; /* NULL when nil or absent */
	size_t msg_len;
};

struct tn__reply {
	msgpack_unpacked u;
	const msgpack_object *ok; /* array elements (all str), or NULL */
	size_t n_ok;
	const msgpack_object *dup;
	size_t n_dup;
	const msgpack_object *err; /* array elements (all maps of the right shape) */
	size_t n_err;
};

/*
 * Decode and check one reply of `len` bytes (borrowed). Returns 0, or
 * TN_EDECODE with why[] set; on either, tn__reply_done must follow.
 */
int tn__reply_parse(struct tn__reply *r, const void *buf, size_t len, char *why, size_t whylen);
void tn__reply_err_at(const struct tn__reply *r, size_t k, struct tn__reply_err *out);
void tn__reply_done(struct tn__reply *r);

/* adapter.c */
/*
 * Encode `ev` (validated) into a new buffer: id, NUL, wire map. Sets *buf
 * (the caller owns it), *id_len, *enc_len. Returns 0, TN_ENOMEM, TN_ERANGE.
 */
int tn__encode(struct tn_adapter *a, const struct tn_event *ev, char **buf, size_t *id_len,
	       size_t *enc_len);
void tn__set_error(struct tn_adapter *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int64_t tn__now_ms(void);

#endif
