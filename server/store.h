/*
 * store.h - the store thread: tails the journal into PostgreSQL (design §5).
 *
 * It reads journal records from the offset recorded in the table
 * `store_progress` and, per transaction of up to `batch` records: COPYs
 * them into `events` (through a temporary staging table and INSERT ... ON
 * CONFLICT DO NOTHING once a duplicate (source, id) shows up: the first
 * copy wins), `rejected` (staged likewise) and `audit`, advances
 * `store_progress` to the offset after the last record, then COMMITs. The
 * offset commits with the rows, and the progress row is locked and checked
 * for the whole transaction, so a crash at any moment, or a second store on
 * the same database, neither loses nor repeats a record. Clock ticks are
 * skipped. A record that does not decode, or whose row PostgreSQL refuses
 * with a data error, goes to `rejected` as E_CORRUPT with its raw bytes
 * (logged, counted): the pipeline never stalls on it and never drops it.
 * Records the journal no longer has (TN_ENOTFOUND) or cannot read are never
 * skipped: the store logs an error and retries slowly.
 *
 * While PostgreSQL is away it retries every retry_ms, reconnecting and
 * re-reading the offset from the database (the database is authoritative);
 * the journal absorbs the backlog meanwhile. It only reads records below
 * the durable offset the journal thread publishes, so it never stores an
 * event that was not acked.
 *
 * PostgreSQL needs: SELECT, INSERT on events, rejected, audit (and its
 * sequence), incident_revisions; SELECT, UPDATE (and INSERT, if the row is
 * missing) on store_progress; TEMP on the database; and, for the trigger of
 * schema/004 (rewritten by 010), which runs with the store's rights: SELECT,
 * INSERT, UPDATE on incident_heads.
 *
 * Thread contract: tn_store_start/stop from the main thread; the store runs
 * in its own thread; the getters may be called from any thread.
 */
#ifndef TN_STORE_H
#define TN_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "stat.h"

struct tn_store_opts {
	const char *conninfo;    /* borrowed; must outlive the store */
	const char *journal_dir; /* borrowed; must outlive the store */
	int batch;               /* records per transaction, >= 1 */
	int retry_ms;            /* wait between attempts while PostgreSQL is away */
	/* Once it has stored every durable record, wait this long before it
	 * reads again (0: poll every 2 ms). A transaction then takes what came
	 * meanwhile: PostgreSQL pays per transaction (a commit, a WAL flush, the
	 * progress row, the statements) about as much as for a hundred rows, so
	 * at a moderate load a store that chased every group commit spent three
	 * times the CPU per row of a full batch (docs/bench.md). A backlog is
	 * taken in full batches with no wait; a stop drains with no wait. */
	int linger_ms;
	int nice;                /* the thread's nice value (> 0: yields the CPU to the ack path) */
	/* The journal's durable offset, published by the journal thread with
	 * ck_pr_store_64; the store reads it with ck_pr_load_64. Borrowed. */
	const uint64_t *durable;
};

struct tn_store_stats {
	uint64_t committed_offset; /* journal offset stored so far */
	uint64_t events_stored, rejected_stored, transactions;
	uint64_t failures;        /* PostgreSQL errors and failed connection attempts */
	uint64_t audit_stored;    /* rows written to `audit` */
	uint64_t corrupt_records; /* records stored in `rejected` as E_CORRUPT (also in
				   * rejected_stored): undecodable, or refused by PostgreSQL */
	uint64_t journal_errors;  /* journal unreadable below durable, or records deleted
				   * before they were stored (TN_ENOTFOUND): never skipped */
	int64_t last_commit_us;    /* CLOCK_REALTIME of the last commit, 0 if none */
	uint64_t last_copy_us;     /* duration of the last transaction */
	bool connected;
	struct tn__hist batch_hist; /* duration of each committed transaction */
	/* The wall clock the newest stored record carries (an event's or a
	 * rejection's receipt, an audit record's time, a clock tick): how far
	 * behind the journal the store is, in time. 0 until one is stored. */
	int64_t stored_clock_us;
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

/* tn_store_set_retry - store.retry_ms from now on (a reload; an atomic the
 * thread reads at each wait). NULL is fine. Main thread. */
void tn_store_set_retry(struct tn_store *s, int retry_ms);

/*
 * tn_store_stop - store what is durable (waiting at most drain_ms for it),
 * stop the thread and free the store. Returns 0 when everything durable was
 * stored, TN_ETIMEDOUT when the drain ran out of time (nothing is lost: the
 * rest stays in the journal for the next start). Past drain_ms the
 * transaction in flight is rolled back, and a query still running after a
 * further 200 ms is cancelled. opts->durable is read until it returns, so
 * it must stay valid until then. NULL is fine. Main thread.
 */
int tn_store_stop(struct tn_store *s, int drain_ms);

#endif
