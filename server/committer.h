/*
 * committer.h - the journal thread: appends the records of in-flight frames
 * and makes them durable with one fsync per group (group commit, design §5).
 *
 * It pops every frame the ingest thread has pushed, appends their records,
 * syncs once, publishes the durable offset (for the store thread) and hands
 * the frames back with their result. While it syncs, new frames queue up:
 * the group grows with the load, so the fsync rate stays bounded while the
 * latency stays one fsync or two. It owns the journal writer and, every few
 * seconds, deletes segments that are older than the retention and already
 * stored in PostgreSQL.
 *
 * It also journals the clock: every tick_ms a TICK record with the wall
 * clock, so that the correlator, which reads the journal, sees time pass in
 * the same order on a live run and on its replay. And it appends the
 * correlator's incident revisions (CHANGE records), the drill correlator's,
 * and the drill desk's drill records (alerts thread), each writer on a lane
 * of its own: a ring in and one back.
 *
 * A failed write or fsync is fatal (after a failed fsync the page cache can
 * no longer be trusted): the frames come back with TN_EIO and the committer
 * calls on_fatal.
 *
 * Thread contract: start/stop from the main thread; the committer runs in
 * its own thread; tn_committer_wake from the producer (ingest) thread.
 */
#ifndef TN_COMMITTER_H
#define TN_COMMITTER_H

#include <ev.h>
#include <stdint.h>

#include "journal.h"
#include "ring.h"
#include "stat.h"

#define TN_COMMIT_LANES 3

struct tn_commit_lane {
	struct tn__ring *in, *out;
	void (*done)(void *ud);
	void *ud;
};

struct tn_committer_opts {
	struct tn_journal *journal; /* borrowed; used only by the committer thread */
	struct tn__ring *in;        /* frames to commit (consumer: committer) */
	struct tn__ring *out;       /* committed frames (producer: committer) */
	/* Other writers' frames (the correlators', the drill desk's): in and
	 * back out, each out ring as large as its writer's pool; `done` (may
	 * be NULL: the writer polls) is called after pushing to out. A lane
	 * with in NULL is unused. */
	struct tn_commit_lane lanes[TN_COMMIT_LANES];
	int tick_ms;                /* period of TICK records; 0 = none */
	struct ev_loop *done_loop;  /* the ingest loop, and */
	ev_async *done_async;       /* its watcher to signal after pushing to out */
	int group_commit_us;        /* extra wait for a fuller group; 0 = none */
	int64_t retain_s;           /* journal.retain_s */
	/* The offset stored in PostgreSQL (segments below it may go). */
	uint64_t (*stored)(void *ud);
	void *stored_ud;
	void (*on_fatal)(void *ud); /* called once from the committer thread */
	void *fatal_ud;
	/* Where the durable offset is published (ck_pr_store_64) for the store.
	 * Owned by the caller; it must outlive the committer and whoever reads
	 * it (the store drains after the committer has stopped). */
	uint64_t *durable;
};

struct tn_committer_stats {
	uint64_t frames, records, syncs, full_refusals, segments_deleted, ticks;
	uint64_t sync_ns_total, sync_ns_max;
	struct tn__hist sync_hist;  /* fsync latency */
	uint64_t journal_bytes;     /* gauge: the journal's size on disk (what max_bytes bounds) */
	uint64_t journal_segments;  /* gauge: segment files */
	uint64_t journal_full;      /* gauge: 1 while appends are refused at max_bytes */
	uint64_t failed;            /* gauge: 1 once a write or fsync failed (fatal) */
};

struct tn_committer;

/* Start the thread. 0 and *out (owned by the caller until stop), or TN_ENOMEM. */
int tn_committer_start(const struct tn_committer_opts *o, struct tn_committer **out);

/* Wake the committer after pushing frames. Producer thread. */
void tn_committer_wake(struct tn_committer *c);

void tn_committer_stats(const struct tn_committer *c, struct tn_committer_stats *out);

/*
 * tn_committer_stop - commit what is queued, stop and join the thread, free
 * it. The journal stays open (the caller closes it). Main thread; NULL is fine.
 */
void tn_committer_stop(struct tn_committer *c);

#endif
