/*
 * frame.h - one ingest frame in flight between the ingest thread and the
 * journal (committer) thread.
 *
 * Frames come from a fixed pool owned by the ingest thread; the number in
 * flight is bounded by the pool (ingest.inflight_frames). The ingest thread
 * fills a frame (the journal records to append and what to answer), pushes
 * it to the committer, which appends its records, syncs, sets the result and
 * pushes it back; the ingest thread then answers the peer and returns the
 * frame to the pool. A frame belongs to exactly one thread at a time: whoever
 * popped it last. Buffers grow to the largest frame seen and are reused, so
 * steady state allocates nothing per event.
 */
#ifndef TN_FRAME_H
#define TN_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "dedup.h"

#define TN__RID_MAX 256

/* A growable byte buffer, reused from frame to frame. */
struct tn__bytes {
	char *data;
	size_t len, cap;
};

/* A journal record to append: type and a slice of frame->recbuf. */
struct tn__rec {
	uint8_t type;
	uint32_t off, len;
};

enum tn__item_kind {
	TN__ITEM_OK,          /* appended as record `rec`; ok once durable */
	TN__ITEM_DUP,         /* already durable: dup */
	TN__ITEM_DUP_PENDING, /* an earlier copy is in flight: dup if it became durable */
	TN__ITEM_ERR,         /* refused with `err` */
};

/* What to answer for one event of the frame. */
struct tn__item {
	uint8_t kind;         /* enum tn__item_kind */
	int err;              /* TN_E* for TN__ITEM_ERR */
	int32_t index;        /* index in the batch; -1 for a frame-level error */
	uint32_t id_off;      /* id in frame->strs, or UINT32_MAX when unknown */
	uint32_t msg_off;     /* message in frame->strs (TN__ITEM_ERR) */
	uint32_t rec;         /* record index (TN__ITEM_OK) */
	struct tn_dedup_key key;
	uint64_t dedup_ref;   /* the key's dedup entry (TN__ITEM_OK): tn_dedup_set_state_ref */
};

struct tn__frame {
	/* Peer address: ROUTER routing id, and whether a REQ-style empty
	 * delimiter preceded the body. has_peer false: nothing to answer
	 * (audit records the ingest thread writes on its own account). */
	bool has_peer;
	bool delimiter;
	uint8_t rid_len;
	unsigned char rid[TN__RID_MAX];
	int64_t recv_us;
	int64_t read_mono_us; /* CLOCK_MONOTONIC when ingest read it: the ack's duration */
	unsigned adapter_slot; /* the sender's per-adapter counters (adapter_stats.h) */
	/* The adapter key this frame counts against in its key's frames in flight
	 * (ratelimit.h; Z85, 40 characters), or "" when it counts against none. */
	char peer_key[41];
	/* the peer's address (libzmq's Peer-Address), kept with its rejects; "": unknown */
	char origin[64];

	struct tn__bytes recbuf; /* payloads of the records */
	struct tn__rec *recs;
	size_t n_recs, cap_recs;

	struct tn__bytes strs; /* ids and messages, NUL-terminated */
	struct tn__item *items;
	size_t n_items, cap_items;

	/* Set by the committer. */
	int result;          /* 0, or the error that stopped appending (TN_EFULL, TN_EIO) */
	size_t n_appended;   /* records [0, n_appended) are durable */
	uint64_t end_offset; /* journal offset after its last appended record */
};

/* Reset for reuse, keeping the buffers. Owner thread. */
void tn__frame_reset(struct tn__frame *f);
void tn__frame_free(struct tn__frame *f);

/* Grow b to hold `more` further bytes. 0 or TN_ENOMEM. */
int tn__bytes_reserve(struct tn__bytes *b, size_t more);

/* A msgpack_packer write callback appending to the struct tn__bytes `data`:
 * 0, or -1 out of memory (msgpack-c's convention). */
int tn__bytes_write(void *data, const char *buf, size_t len);

/* Append a NUL-terminated copy of s[0..len) to f->strs; *off gets its offset. 0 or TN_ENOMEM. */
int tn__frame_str(struct tn__frame *f, const char *s, size_t len, uint32_t *off);

/* Append an item / a record slot; return a pointer to it or NULL (TN_ENOMEM). */
struct tn__item *tn__frame_item(struct tn__frame *f);
struct tn__rec *tn__frame_rec(struct tn__frame *f);

/*
 * tn__frame_rec_begin - a new record of `type` in f, its payload to be packed
 * with *pk (set up here, writing to f->recbuf) until tn__frame_rec_end sets
 * its length. NULL on TN_ENOMEM. The frame's owner thread.
 */
struct tn__rec *tn__frame_rec_begin(struct tn__frame *f, uint8_t type, msgpack_packer *pk);
void tn__frame_rec_end(struct tn__frame *f, struct tn__rec *r);

#endif
