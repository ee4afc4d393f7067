/*
 * store.h - the store thread: tails the journal into PostgreSQL (design §5).
 *
 * It reads journal records from the offset recorded in the table
 * `store_progress` and, per transaction of up to `batch` records: COPYs
 * them into temporary staging tables, inserts them into `events` and
 * `rejected` with ON CONFLICT DO NOTHING, and advances `store_progress` to
 * the offset after the last record, then COMMITs. The offset commits with
 * the rows, so a crash at any moment neither loses nor repeats a record.
 *
 * While PostgreSQL is away it retries every retry_ms, reconnecting and
 * re-reading the offset from the database (the database is authoritative);
 * the journal absorbs the backlog meanwhile. It only reads records below
 * the durable offset the journal thread publishes, so it never stores an
 * event that was not acked.
 *
 * Thread contract: tn_store_start/stop from the main thread; the store runs
 * in its own thread; the getters may be called from any thread.
 */
#ifndef TN_STORE_H
#define TN_STORE_H

#include <stdbool.h>
#include <stdint.h>

struct tn_store_opts {
	const char *conninfo;    /* borrowed; must outlive the store */
	const char *journal_dir; /* borrowed; must outlive the store */
	int batch;               /* records per transaction, >= 1 */
	int retry_ms;            /* wait between attempts while PostgreSQL is away */
	/* The journal's durable offset, published by the journal thread with
	 * ck_pr_store_64; the store reads it with ck_pr_load_64. Borrowed. */
	const uint64_t *durable;
};

struct tn_store_stats {
	uint64_t committed_offset; /* journal offset stored so far */
	uint64_t events_stored, rejected_stored, transactions, failures;
	int64_t last_commit_us;    /* CLOCK_REALTIME of the last commit, 0 if none */
	uint64_t last_copy_us;     /* duration of the last transaction */
	bool connected;
};

struct tn_store;

/*
 * tn_store_start - start the store thread. Returns 0 and sets *out (owned
 * by the caller until tn_store_stop), TN_ENOMEM, TN_EINVAL. Never fails
 * because PostgreSQL is down: it keeps trying.
 */
int tn_store_start(const struct tn_store_opts *opts, struct tn_store **out);

/*
 * tn_store_committed - the journal offset up to which records are in
 * PostgreSQL (0 until the store has first read it). Any thread; atomic.
 */
uint64_t tn_store_committed(const struct tn_store *s);

void tn_store_stats(const struct tn_store *s, struct tn_store_stats *out);

/*
 * tn_store_stop - store what is durable (waiting at most drain_ms for it),
 * stop the thread and free the store. Returns 0 when everything durable was
 * stored, TN_ETIMEDOUT when the drain ran out of time (nothing is lost: the
 * rest stays in the journal for the next start). NULL is fine.
 */
int tn_store_stop(struct tn_store *s, int drain_ms);

#endif
