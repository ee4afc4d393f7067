/*
 * correlate.h - the correlator thread: the engine (tocsin/correlator.h)
 * driven by the journal, its output journaled back.
 *
 * It tails the journal below the durable offset, exactly as the store does,
 * and gives the engine every EVENT record (decoded as the store decodes it)
 * and every TICK record (the wall clock the committer journals each
 * second), in journal order. So a live run and a replay of its journal see
 * the same input in the same order, and give the same incidents: the engine
 * is deterministic, and nothing else feeds it.
 *
 * Each incident revision the engine emits is packed as a CHANGE record into
 * a frame of the correlator's own pool and handed to the committer through
 * a ring; the store then keeps it in PostgreSQL exactly once, and the alert
 * fan-out (server/alerts.c) reads it from the journal too.
 *
 * Each revision also gets the stream's next alert `seq` (design §3.2), the
 * first key of its JSON body (`{"seq":N,...`). Assigning it here, where the
 * revision is journaled, makes it durable with the revision: the journal
 * order is the seq order, a restart learns the last seq in the same first
 * pass that learns the revisions already sent, and a crash can neither skip
 * nor repeat one. CHANGE records written before seq existed have a body
 * without it (`{"incident":...`); they are stored as before and never
 * published (they predate alerts).
 *
 * On start it replays the whole journal to rebuild the engine's state. A
 * first pass collects the revisions already journaled (incident -> highest
 * rev), so the rebuild does not emit again what was already sent; revisions
 * the engine produces that the journal lacks (a crash came between an event
 * and its revision) are emitted then.
 *
 * A new asset graph arrives through a ring from whatever thread loaded it;
 * the correlator swaps it into the engine between two records and frees the
 * old one: one owner at a time, no lock, nothing to reclaim late.
 *
 * Thread contract: start/stop/stats from the main thread;
 * tn_correlate_publish_graph from one other thread (the asset watcher).
 */
#ifndef TN_CORRELATE_H
#define TN_CORRELATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "ring.h"
#include "tocsin/correlator.h"
#include "tocsin/graph.h"

/* A drill's name: its stream, `drill/<name>/...` topics (schema/006). */
#define TN__DRILL_NAME_MAX 64

struct tn_correlate_opts {
	const char *journal_dir;         /* borrowed; must outlive the correlator */
	const uint64_t *durable;         /* the committer's durable offset (ck_pr) */
	struct tn_corr_config engine;    /* copied */
	struct tn_graph *graph;          /* initial registry; ownership passes (NULL: empty) */
	struct tn__ring *to_commit;      /* frames of CHANGE records (producer: correlator) */
	struct tn__ring *from_commit;    /* and back (consumer: correlator) */
	void (*wake_commit)(void *ud);   /* after pushing to to_commit */
	void *wake_ud;
	unsigned pool;                   /* frames of the correlator's pool (rings hold them all) */
	/* Where it publishes the journal offset it has processed (ck_pr), for
	 * retention. The caller's: it must outlive the correlator and whoever
	 * reads it (the committer stops after the correlator). */
	uint64_t *consumed;
	/* The last alert seq known to be used (PostgreSQL's highest, read at
	 * start; 0 when unknown): the first seq is past both it and the
	 * highest in the journal, so retention cannot make a seq come back. */
	uint64_t seq_floor;
	/* The drill correlator (design §6): DRILL records only, one engine per
	 * drill, each on the graph current when it started, its revisions on
	 * the drill's stream with a seq of its own; live records are not its
	 * input. The live correlator (false) ignores DRILL records. */
	bool drills;
	int nice; /* the thread's nice value (> 0: yields the CPU; drills: to live work, live: to ingest) */
};

struct tn_correlate_stats {
	uint64_t records, events, ticks, changes, changes_suppressed, undecodable;
	uint64_t graph_swaps, pool_stalls;
	uint64_t drills_started, drills_ended, drills_active; /* drill mode */
	uint64_t offset;           /* journal offset processed so far */
	uint64_t buffered;         /* gauge, live mode: events the engine holds for the watermark */
	bool rebuilt;              /* the start-up replay has reached the journal's end */
};

struct tn_correlate;

/*
 * tn_correlate_start - start the thread. Returns 0 and *out (owned by the
 * caller until tn_correlate_stop), TN_ENOMEM, TN_ECONFIG (engine settings).
 */
int tn_correlate_start(const struct tn_correlate_opts *o, struct tn_correlate **out);

/* Hand over a new graph (ownership passes when it returns true). One thread. */
bool tn_correlate_publish_graph(void *c, struct tn_graph *g);

/* A CHANGE record's fields; the pointers are into the unpacked record. */
struct tn_change_rec {
	const char *stream, *incident, *msg, *area, *body; /* not NUL-terminated */
	uint32_t stream_len, incident_len, msg_len, area_len, body_len;
	uint32_t rev;                                     /* >= 1 */
	int64_t priority, updated_us;
};

/*
 * tn_correlate_change_decode - the fields of a CHANGE record's payload
 * (`len` bytes, borrowed), unpacked into `zone` (cleared first; the
 * pointers of *out are valid until it is cleared again). Returns 0, or
 * TN_ECORRUPT (not [stream, incident, rev, msg, priority, area,
 * updated_us, body] with those types, an incident id over
 * TN_INCIDENT_ID_LEN, rev outside 1..UINT32_MAX). Bounded pre-scan first.
 * Pure; any thread.
 */
int tn_correlate_change_decode(const void *payload, size_t len, msgpack_zone *zone,
			       struct tn_change_rec *out);

/* tn__mp_i64 - a MessagePack integer that fits int64_t into *v; false otherwise. Pure. */
bool tn__mp_i64(const msgpack_object *o, int64_t *v);

/*
 * tn_correlate_body_seq - the seq at the head of a CHANGE record's JSON body
 * (`{"seq":N,`; `len` bytes at `body`, borrowed). Returns 0 and *seq,
 * TN_ENOTFOUND (a body from before seq existed) or TN_ECORRUPT. Pure.
 */
int tn_correlate_body_seq(const char *body, size_t len, uint64_t *seq);

void tn_correlate_stats(const struct tn_correlate *c, struct tn_correlate_stats *out);

/*
 * tn_correlate_stop - process the journal up to the durable offset (at most
 * drain_ms), journal the last revisions (the committer must still run),
 * stop the thread, free it and its graph. Main thread; NULL is fine.
 */
void tn_correlate_stop(struct tn_correlate *c, int drain_ms);

#endif
