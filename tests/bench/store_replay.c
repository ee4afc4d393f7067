/*
 * store_replay.c - the store alone, on a journal that already exists: how
 * long the store thread takes to write it into a database (docs/bench.md,
 * "Store replay").
 *
 *   store_replay JOURNAL_DIR CONNINFO [BATCH]
 *
 * The database must be migrated, with store_progress at the offset to start
 * from (a fresh one: 0). The journal is read as it is (a copy of a bench
 * run's, `BENCH_KEEP=1 make bench`, has the real mix of events and incident
 * revisions); nothing is appended. Prints the records' offset range, the
 * time to store them, and the rows per second of `events` and
 * `incident_revisions` as the store counts them. Comparing two schemas or two
 * builds on the same journal, one after the other, is fairer on a shared
 * machine than two whole `make bench` runs.
 */
#include <ck_pr.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "log.h"
#include "store.h"

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The end of the last whole record: a reader walked to the end. */
static int journal_end(const char *dir, uint64_t *end, uint64_t *records)
{
	struct tn_journal_reader *rd;
	struct tn_journal_record rec;
	int rc = tn_journal_reader_open(dir, 0, &rd);

	if (rc)
		return rc;
	*records = 0;
	while ((rc = tn_journal_reader_next(rd, UINT64_MAX, &rec)) > 0)
		(*records)++;
	*end = tn_journal_reader_offset(rd);
	tn_journal_reader_close(rd);
	return rc;
}

int main(int argc, char **argv)
{
	struct tn_store_stats st;
	struct tn_store *s;
	uint64_t end = 0, records = 0, durable;
	double t0, dt;
	int rc;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: store_replay JOURNAL_DIR CONNINFO [BATCH]\n");
		return 2;
	}
	tn_log_set_level(TN_LOG_WARN);
	rc = journal_end(argv[1], &end, &records);
	if (rc) {
		fprintf(stderr, "store_replay: cannot read the journal %s (%d)\n", argv[1], rc);
		return 1;
	}
	durable = end;
	struct tn_store_opts o = {
		.conninfo = argv[2],
		.journal_dir = argv[1],
		.batch = argc == 4 ? atoi(argv[3]) : 5000,
		.retry_ms = 1000,
		.durable = &durable,
	};
	t0 = mono_s();
	rc = tn_store_start(&o, &s);
	if (rc) {
		fprintf(stderr, "store_replay: cannot start the store (%d)\n", rc);
		return 1;
	}
	for (;;) {
		tn_store_stats(s, &st);
		if (st.committed_offset >= end)
			break;
		usleep(20000);
	}
	dt = mono_s() - t0;
	tn_store_stop(s, 5000);
	printf("records=%" PRIu64 " end=%" PRIu64 " seconds=%.2f events=%" PRIu64
	       " events_per_s=%.0f records_per_s=%.0f transactions=%" PRIu64
	       " failures=%" PRIu64 "\n",
	       records, end, dt, st.events_stored, (double)st.events_stored / dt,
	       (double)records / dt, st.transactions, st.failures);
	return 0;
}
