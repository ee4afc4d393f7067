/*
 * outbox.h - every live alert revision as a CAP 1.2 file in a directory
 * (`alerts.cap_outbox`; docs/control-rooms.md "The outbox").
 *
 * The alerts thread submits each revision it publishes: its seq, incident,
 * rev, JSON body and the (rev, updated) pairs of the incident's earlier
 * revisions (for `references`). A writer thread of its own turns each into
 * a document (common/cap.h) and writes DIR/<seq>-<incident>-<rev>.xml: a
 * temporary name in the same directory, fsync, link to the final name
 * (never replacing a file already there), unlink the temporary, then once
 * per batch fsync the directory and record the last seq written in
 * DIR/.outbox-seq (temporary, fsync, rename, fsync the directory). After a
 * crash the alerts thread submits again what comes after that seq; a file
 * that made it before the crash is found by the link and not written twice.
 *
 * The publishing path never waits for the disk: the queue is bounded
 * (`queue` revisions); a revision that finds it full is not written, is
 * counted and logged (rate-limited), and `tocsin cap` can print it from
 * PostgreSQL at any time. A file that cannot be written is counted and
 * logged the same way, never fatal.
 *
 * Coordinates: the writer keeps its own asset graph, loaded from
 * PostgreSQL at start and replaced by its own assets watcher (one owner at
 * a time, as the correlator's: the correlator frees its old graph at the
 * swap, so its graph is never read by another thread). Without a registry
 * the files have no polygon or circle, only the area's description.
 *
 * Thread contract: open/run/stop/stats from the main thread (or a test's);
 * submit, mark and last_written from one producer thread (the alerts
 * thread) once run, or from the opener before.
 */
#ifndef TN_OUTBOX_H
#define TN_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cap.h"

#define TN_OUTBOX_QUEUE 1024      /* default revisions queued for the writer */
#define TN_OUTBOX_REFS_MAX 4096   /* earlier revisions an incident's history keeps */
/* history entries of all open incidents together (16 bytes each: 64 MiB) */
#define TN_OUTBOX_HISTORY_MAX (4u << 20)
#define TN_OUTBOX_NAME_MAX 128    /* bytes of a file name, with the NUL */
#define TN_OUTBOX_STATE ".outbox-seq"

struct tn_outbox_opts {
	const char *dir;      /* copied; created 0750 when missing */
	const char *sender;   /* copied; a valid CAP sender (tn__cap_sender_ok) */
	const char *conninfo; /* borrowed, must outlive the outbox; NULL: no registry, no geometry */
	int poll_ms;          /* the assets watcher's poll period */
	unsigned queue;       /* revisions queued at most (>= 1) */
};

struct tn_outbox_stats {
	uint64_t written;       /* files written */
	uint64_t existing;      /* a file of that name was already there: not written again */
	uint64_t queue_full;    /* not written: the queue was full */
	uint64_t no_history;    /* not written: earlier revisions unknown (or over REFS_MAX) */
	uint64_t failed;        /* not written: no document, or the disk refused */
	uint64_t state_failed;  /* the last seq could not be recorded */
	uint64_t last_seq;      /* the last seq recorded in the state file */
};

struct tn_outbox;

/*
 * tn_outbox_open - create the directory if missing (mode 0750), remove
 * temporaries a crash left, read the last seq written, load the asset
 * graph (a warning when PostgreSQL is away: geometry comes with the
 * watcher). The writer does not run yet. Returns 0 and *out (caller's until
 * tn_outbox_stop), TN_EINVAL (bad sender, queue 0, empty dir), TN_EIO (the
 * directory cannot be made or opened, or the state file is unreadable: err
 * says why), TN_ENOMEM. Main thread.
 */
int tn_outbox_open(const struct tn_outbox_opts *o, struct tn_outbox **out, char *err,
		   size_t errlen);

/* Start the writer thread and the assets watcher. 0 or TN_ENOMEM. Main thread. */
int tn_outbox_run(struct tn_outbox *ob);

/*
 * tn_outbox_last_written - the last seq recorded in the directory's state
 * file at open (later: as submitted marks move it); false when there was
 * none (a new outbox: it starts after the journal's end). Producer thread.
 */
bool tn_outbox_last_written(const struct tn_outbox *ob, uint64_t *seq);

/*
 * tn_outbox_submit - queue one revision: `body` (len bytes of its JSON) and
 * refs (the nrefs earlier revisions, 1..rev-1 in order) are copied; nothing
 * is kept. Returns 0, TN_EFULL (the queue is full: counted and logged, not
 * written), TN_EINVAL (refs do not cover 1..rev-1, or more than
 * TN_OUTBOX_REFS_MAX: counted as no_history, logged), TN_ENOMEM (counted as
 * failed). Never blocks. Producer thread.
 */
int tn_outbox_submit(struct tn_outbox *ob, uint64_t seq, const char *incident, uint32_t rev,
		     const char *body, size_t len, const struct tn__cap_ref *refs, size_t nrefs);

/* tn_outbox_room - whether a submit now would find room in the queue. Producer thread. */
bool tn_outbox_room(struct tn_outbox *ob);

/*
 * tn_outbox_mark - record that nothing up to `seq` is to be written (a new
 * outbox starts after the journal's end). Returns 0 or TN_EFULL (counted).
 * Producer thread.
 */
int tn_outbox_mark(struct tn_outbox *ob, uint64_t seq);

/* tn_outbox_stats - copy the counters into *out. Any thread. */
void tn_outbox_stats(const struct tn_outbox *ob, struct tn_outbox_stats *out);

/*
 * tn_outbox_stop - write what is queued (at most `queue` files), stop the
 * writer and the watcher, free everything. After the producer has stopped.
 * Main thread; NULL is fine.
 */
void tn_outbox_stop(struct tn_outbox *ob);

/* ---- pure parts, for the tests --------------------------------------------- */

/*
 * tn__outbox_name - "<seq, 12 digits at least>-<incident>-<rev>.xml" into
 * buf (cap bytes): zero-padded so that names sort in seq order. Returns 0,
 * TN_EINVAL (an incident with a byte outside [A-Za-z0-9._:-], or empty) or
 * TN_ERANGE (buf too small). Pure.
 */
int tn__outbox_name(uint64_t seq, const char *incident, uint32_t rev, char *buf, size_t cap);

/*
 * tn__outbox_refs_ok - whether refs[0..n) are revisions 1..rev-1 in order,
 * and no more than TN_OUTBOX_REFS_MAX. Pure.
 */
bool tn__outbox_refs_ok(const struct tn__cap_ref *refs, size_t n, uint32_t rev);

/*
 * tn__outbox_parse_state - the seq in a state file's text (decimal digits,
 * an optional newline). Returns 0 and *seq, or TN_ECORRUPT. Pure.
 */
int tn__outbox_parse_state(const char *text, size_t len, uint64_t *seq);

#endif
