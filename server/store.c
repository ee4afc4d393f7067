/*
 * store.c - the store thread: the journal into PostgreSQL (store.h, design §5).
 *
 * One transaction per batch:
 *
 *   BEGIN; SELECT journal_offset FROM store_progress ... FOR UPDATE
 *   COPY events FROM STDIN               rows streamed while records are read
 *   COPY tn_stage_rejected FROM STDIN    when the batch has rejects
 *   COPY audit FROM STDIN                when the batch has audit records
 *   INSERT INTO rejected SELECT ... FROM tn_stage_rejected ON CONFLICT DO NOTHING;
 *   UPDATE store_progress SET journal_offset = <end of batch>; COMMIT
 *
 * Events are COPYed straight into `events` while no duplicate shows up:
 * that is the common case (ingest answers `dup` for recent ones), and it
 * spares PostgreSQL a second write and read of every row, about a quarter
 * of its work. A unique violation (a duplicate older than the ingest
 * window, or a replay) rolls the batch back and redoes it through the
 * staging table tn_stage_events with INSERT ... ON CONFLICT DO NOTHING, the
 * first copy winning; the store stays on that path until a batch stages
 * without a conflict.
 *
 * The row lock on store_progress, and the check that it still holds the
 * offset we started from, make a second store on the same database wait and
 * then resynchronise instead of storing records twice (audit rows have no
 * natural key, so this is what keeps them exactly once).
 *
 * Event rows are streamed to PostgreSQL in COPY chunks while the next
 * records are decoded, so the decoding here and the parsing in the backend
 * overlap on two cores.
 *
 * A row PostgreSQL refuses with a data error (SQLSTATE class 22, 23 or 54)
 * would otherwise block the pipeline forever: the batch is retried one
 * record per transaction, and the record that is refused again is stored in
 * `rejected` as E_CORRUPT with its raw bytes and PostgreSQL's message.
 */
#include "store.h"

#include <ck_pr.h>
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "log.h"
#include "store_row.h"
#include "tocsin/error.h"
#include "thread.h"

#define IDLE_MS              2           /* nothing durable to store: look again after this */
#define COPY_CHUNK           (64 * 1024) /* bytes per PQputCopyData while streaming events */
#define SIDE_MAX             (8u << 20)  /* bytes of reject and audit rows that end a batch */
#define CONNECT_TIMEOUT_MS   10000       /* give up a connection attempt after this */
#define CANCEL_GRACE_MS      200         /* past the drain deadline, before cancelling a query */
#define JOURNAL_RETRY_MIN_MS 1000        /* the journal lost or corrupted records: retry slowly */
#define ERR_LEN              256

struct tn_store {
	struct tn_store_opts o;
	pthread_t thread;
	int wake_fd; /* eventfd: a stop request wakes the thread from its waits */

	/* Written by the store thread only; read by any thread (ck_pr). */
	uint64_t committed;
	uint64_t events_stored, rejected_stored, audit_stored, corrupt_records;
	uint64_t transactions, failures, journal_errors;
	uint64_t last_commit_us, last_copy_us;
	struct tn__hist batch_hist;
	uint64_t stored_clock_us;
	unsigned int connected;
	unsigned int drained;

	/* Written by tn_store_stop before it raises `stopping` (release; the
	 * thread reads them after seeing it, acquire). C11 atomics rather than
	 * ck_pr here, so ThreadSanitizer sees the hand-over too. */
	uint64_t drain_target;
	int64_t deadline_ns; /* CLOCK_MONOTONIC */
	atomic_uint stopping;

	/* Lets tn_store_stop cancel a query still running past the deadline. */
	pthread_mutex_t cancel_lock;
	PGcancel *cancel;

	/* Store thread only. */
	PGconn *pg;
	struct tn_journal_reader *rd;
	struct tn__store_rows rows;
	bool copying;           /* the COPY of events is open */
	bool staged;            /* a duplicate was seen: events go through tn_stage_events */
	bool batch_direct;      /* this batch COPYs straight into events */
	uint64_t batch_first;   /* offset of the first record of the batch */
	uint64_t batch_end;     /* offset after the last record read into it */
	int batch_n;            /* records read into it */
	bool batch_took_all;    /* it ended at the durable offset, not at `batch` */
	uint64_t isolate_until; /* below this offset, one record per transaction */
	int64_t batch_clock_us; /* the newest wall clock of a record of the batch, or 0 */
	bool quarantine;        /* the record at quarantine_at goes to `rejected` */
	uint64_t quarantine_at;
	char quarantine_msg[ERR_LEN + 8];
	char err_state[6]; /* SQLSTATE of the last PostgreSQL error, "" if none */
	char err_msg[ERR_LEN];
	struct tn_log_slot log_pg, log_journal, log_corrupt, log_dup;
};

/* ---- small helpers ------------------------------------------------------ */

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t real_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Counters have one writer (the store thread): load, add, publish. */
static void add64(uint64_t *p, uint64_t v)
{
	ck_pr_store_64(p, ck_pr_load_64(p) + v);
}

/*
 * The wall clock a record carries in its first field, for the store's lag:
 * EVENT, REJECT and AUDIT records start with their receipt time, a TICK is
 * the clock; msgpack fixarray then int64/uint64 (as the committer and the
 * ingest thread pack them). 0 for anything else.
 */
static int64_t record_clock_us(const struct tn_journal_record *rec)
{
	const unsigned char *p = rec->payload;
	uint64_t v = 0;

	if (rec->type == TN_JREC_CHANGE || rec->len < 10 || (p[0] & 0xf0) != 0x90 ||
	    (p[1] != 0xd3 && p[1] != 0xcf))
		return 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[2 + i];
	return v > INT64_MAX ? 0 : (int64_t)v;
}

/* A message from PostgreSQL on one line (logs quote it with tn_logq). */
static void one_line(char *dst, size_t n, const char *src)
{
	size_t i = 0;

	for (; src && *src && i + 1 < n; src++) {
		char c = *src;
		if (c == '\n' || c == '\r' || c == '\t')
			c = ' ';
		dst[i++] = c;
	}
	while (i > 0 && dst[i - 1] == ' ')
		i--;
	dst[i] = '\0';
}

static bool stop_requested(const struct tn_store *s)
{
	return atomic_load_explicit(&s->stopping, memory_order_acquire) != 0;
}

/* The drain ran out of time: abandon whatever is in flight. */
static bool past_deadline(const struct tn_store *s)
{
	if (!stop_requested(s))
		return false;
	return mono_ns() >= s->deadline_ns;
}

static void consume_wake(struct tn_store *s)
{
	uint64_t v;
	ssize_t n = read(s->wake_fd, &v, sizeof v);
	(void)n;
}

/* store.retry_ms: a reload may change it (tn_store_set_retry). */
static int retry_ms(struct tn_store *s)
{
	return ck_pr_load_int(&s->o.retry_ms);
}

/* Sleep up to ms; a stop request ends it, and so does the drain deadline. */
static void wait_ms(struct tn_store *s, int ms)
{
	struct pollfd p = {.fd = s->wake_fd, .events = POLLIN};
	int64_t t = ms;

	if (stop_requested(s)) {
		int64_t left = (s->deadline_ns - mono_ns()) / 1000000 + 1;
		if (left < t)
			t = left > 0 ? left : 0;
	}
	if (poll(&p, 1, (int)t) > 0 && (p.revents & POLLIN))
		consume_wake(s);
}

/*
 * Everything durable is stored: wait for more (store.linger_ms, store.h),
 * counted from `since` (the start of the transaction that took it all, so
 * that a slow one is not followed by a wait too: at most one transaction
 * short of `batch` per linger_ms), or from now (0: there was nothing). Not
 * while draining at a stop: what is left goes at once.
 */
static void linger(struct tn_store *s, int64_t since)
{
	int64_t ms = s->o.linger_ms > IDLE_MS ? s->o.linger_ms : IDLE_MS;

	if (stop_requested(s))
		return;
	if (since)
		ms -= (mono_ns() - since) / 1000000;
	if (ms > 0)
		wait_ms(s, (int)ms);
}

/* ---- PostgreSQL --------------------------------------------------------- */

/*
 * Keep the SQLSTATE and the primary message of an error (of `res`, or of
 * the connection). Not the DETAIL: it can quote a whole row into the log.
 */
static void note_error(struct tn_store *s, const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	if ((!msg || !*msg) && s->pg)
		msg = PQerrorMessage(s->pg);
	snprintf(s->err_state, sizeof s->err_state, "%s", state ? state : "");
	one_line(s->err_msg, sizeof s->err_msg, msg && *msg ? msg : "unknown error");
}

/* Errors caused by the data of a row, which retrying cannot cure. */
static bool is_data_error(const char *state)
{
	return strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0 ||
	       strncmp(state, "54", 2) == 0;
}

static void notice(void *arg, const char *message)
{
	char line[ERR_LEN];
	(void)arg;
	one_line(line, sizeof line, message);
	tn_debug("postgresql notice", "notice=\"%s\"", tn_logq(line));
}

static void pg_drop(struct tn_store *s)
{
	pthread_mutex_lock(&s->cancel_lock);
	PQfreeCancel(s->cancel);
	s->cancel = NULL;
	pthread_mutex_unlock(&s->cancel_lock);
	PQfinish(s->pg);
	s->pg = NULL;
	s->copying = false;
	ck_pr_store_uint(&s->connected, 0);
}

/*
 * Run `sql` (one or more statements) and keep the first `max` results in
 * out[] (*n of them; the caller clears them). Returns 0 or TN_EDB (error
 * noted, nothing kept).
 */
static int pg_multi(struct tn_store *s, const char *sql, PGresult **out, int max, int *n)
{
	PGresult *res;
	int rc = 0;

	*n = 0;
	if (!PQsendQuery(s->pg, sql)) {
		note_error(s, NULL);
		return TN_EDB;
	}
	while ((res = PQgetResult(s->pg))) {
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
			/* Not ours; the connection is dropped by the caller. */
			snprintf(s->err_state, sizeof s->err_state, "%s", "");
			snprintf(s->err_msg, sizeof s->err_msg, "unexpected copy state");
			PQclear(res);
			rc = TN_EDB;
			break;
		}
		if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
			if (!rc)
				note_error(s, res);
			rc = TN_EDB;
			PQclear(res);
		} else if (!rc && *n < max) {
			out[(*n)++] = res;
		} else {
			PQclear(res);
		}
	}
	if (rc) {
		while (*n > 0)
			PQclear(out[--*n]);
	}
	return rc;
}

static int pg_exec(struct tn_store *s, const char *sql)
{
	PGresult *res[1];
	int n, rc = pg_multi(s, sql, res, 1, &n);
	while (n > 0)
		PQclear(res[--n]);
	return rc;
}

/* Connect without blocking past the drain deadline, and prepare the session. */
static int pg_connect(struct tn_store *s)
{
	/* The conninfo, expanded from dbname, may override application_name;
	 * client_encoding comes last: the rows we write are UTF-8. */
	static const char *const kw[] = {"application_name", "dbname", "client_encoding", NULL};
	const char *val[] = {"tocsin-store", s->o.conninfo, "UTF8", NULL};
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	int64_t give_up = mono_ns() + (int64_t)CONNECT_TIMEOUT_MS * 1000000;
	PGconn *c;

	c = PQconnectStartParams(kw, val, 1);
	if (!c) {
		snprintf(s->err_msg, sizeof s->err_msg, "out of memory");
		return TN_ENOMEM;
	}
	while (PQstatus(c) != CONNECTION_BAD && st != PGRES_POLLING_OK &&
	       st != PGRES_POLLING_FAILED) {
		struct pollfd p[2] = {
			{.fd = PQsocket(c),
			 .events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT},
			{.fd = s->wake_fd, .events = POLLIN},
		};
		if (past_deadline(s) || mono_ns() > give_up) {
			snprintf(s->err_state, sizeof s->err_state, "%s", "");
			snprintf(s->err_msg, sizeof s->err_msg, "connection attempt timed out");
			PQfinish(c);
			return TN_ETIMEDOUT;
		}
		if (poll(p, 2, 100) < 0 && errno != EINTR) {
			snprintf(s->err_msg, sizeof s->err_msg, "poll: %s", strerror(errno));
			PQfinish(c);
			return TN_EDB;
		}
		if (p[1].revents & POLLIN)
			consume_wake(s); /* a stop: keep connecting, to drain */
		if (p[0].revents)
			st = PQconnectPoll(c);
	}
	if (PQstatus(c) != CONNECTION_OK) {
		snprintf(s->err_state, sizeof s->err_state, "%s", "");
		one_line(s->err_msg, sizeof s->err_msg, PQerrorMessage(c));
		PQfinish(c);
		return TN_EDB;
	}
	PQsetNoticeProcessor(c, notice, NULL);
	s->pg = c;
	pthread_mutex_lock(&s->cancel_lock);
	s->cancel = PQgetCancel(c);
	pthread_mutex_unlock(&s->cancel_lock);
	/* Staging tables, once per session; emptied by every commit. */
	if (pg_exec(s,
		    "CREATE TEMP TABLE tn_stage_events (LIKE events) ON COMMIT DELETE ROWS; "
		    "CREATE TEMP TABLE tn_stage_rejected (LIKE rejected) ON COMMIT DELETE ROWS")) {
		pg_drop(s);
		return TN_EDB;
	}
	ck_pr_store_uint(&s->connected, 1);
	return 0;
}

/*
 * Abandon the transaction in progress, if any. Returns whether the
 * connection is still usable (idle, outside a transaction).
 */
static bool rollback(struct tn_store *s)
{
	PGresult *res;
	bool ok;

	if (!s->pg)
		return false;
	if (s->copying) {
		s->copying = false;
		if (PQputCopyEnd(s->pg, "batch abandoned by the store") != 1)
			return false;
		while ((res = PQgetResult(s->pg))) {
			ExecStatusType st = PQresultStatus(res);
			PQclear(res);
			if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH)
				return false;
		}
	}
	if (PQstatus(s->pg) != CONNECTION_OK)
		return false;
	switch (PQtransactionStatus(s->pg)) {
	case PQTRANS_IDLE:
		return true;
	case PQTRANS_INTRANS:
	case PQTRANS_INERROR:
		break;
	default:
		return false;
	}
	res = PQexec(s->pg, "ROLLBACK");
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	return ok && PQtransactionStatus(s->pg) == PQTRANS_IDLE;
}

static int copy_start(struct tn_store *s, const char *sql)
{
	PGresult *res = PQexec(s->pg, sql);
	int rc = 0;

	if (PQresultStatus(res) != PGRES_COPY_IN) {
		note_error(s, res);
		rc = TN_EDB;
	}
	PQclear(res);
	return rc;
}

static int copy_send(struct tn_store *s, const char *p, size_t len)
{
	while (len > 0) {
		size_t n = len < COPY_CHUNK ? len : COPY_CHUNK;
		if (PQputCopyData(s->pg, p, (int)n) != 1) {
			note_error(s, NULL);
			return TN_EDB;
		}
		p += n;
		len -= n;
	}
	return 0;
}

/* End the COPY; *rows (may be NULL) gets the number of rows copied. */
static int copy_end(struct tn_store *s, uint64_t *rows)
{
	PGresult *res;
	int rc = 0;

	if (PQputCopyEnd(s->pg, NULL) != 1) {
		note_error(s, NULL);
		return TN_EDB;
	}
	while ((res = PQgetResult(s->pg))) {
		ExecStatusType st = PQresultStatus(res);
		if (st != PGRES_COMMAND_OK && !rc) {
			note_error(s, res);
			rc = TN_EDB;
		} else if (st == PGRES_COMMAND_OK && rows) {
			*rows = strtoull(PQcmdTuples(res), NULL, 10);
		}
		PQclear(res);
		if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH)
			break;
	}
	return rc;
}

/* One whole COPY of a buffer of rows into `sql`'s table. */
static int copy_all(struct tn_store *s, const char *sql, const struct tn__buf *b)
{
	int rc = copy_start(s, sql);
	if (rc)
		return rc;
	s->copying = true;
	rc = copy_send(s, b->p, b->len);
	if (rc)
		return rc;
	s->copying = false;
	return copy_end(s, NULL);
}

/* Send the event rows so far, opening the COPY on the first call. */
static int flush_events(struct tn_store *s)
{
	struct tn__buf *b = &s->rows.events;
	int rc;

	if (!s->copying) {
		rc = copy_start(s, s->batch_direct ? "COPY events (" TN__STORE_EVENT_COLS
						     ") FROM STDIN"
						   : "COPY tn_stage_events (" TN__STORE_EVENT_COLS
						     ") FROM STDIN");
		if (rc)
			return rc;
		s->copying = true;
	}
	rc = copy_send(s, b->p, b->len);
	b->len = 0;
	return rc;
}

static uint64_t cmd_tuples(PGresult *res)
{
	return strtoull(PQcmdTuples(res), NULL, 10);
}

/*
 * The progress row: read it (creating it if missing). Returns 0,
 * TN_EDB, or TN_ECORRUPT (a negative offset: an operator must look).
 */
static int read_progress(struct tn_store *s, uint64_t *out)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		PGresult *res[1];
		int n, rc;
		long long v;

		rc = pg_multi(s,
			      "SELECT journal_offset FROM store_progress WHERE stream = 'journal'",
			      res, 1, &n);
		if (rc)
			return rc;
		if (n == 1 && PQntuples(res[0]) == 1) {
			v = strtoll(PQgetvalue(res[0], 0, 0), NULL, 10);
			PQclear(res[0]);
			if (v < 0) {
				tn_error("store_progress holds a negative offset; not storing",
					 "offset=%lld", v);
				return TN_ECORRUPT;
			}
			*out = (uint64_t)v;
			return 0;
		}
		while (n > 0)
			PQclear(res[--n]);
		rc = pg_exec(s, "INSERT INTO store_progress (stream, journal_offset) "
				"VALUES ('journal', 0) ON CONFLICT DO NOTHING");
		if (rc)
			return rc;
	}
	snprintf(s->err_state, sizeof s->err_state, "%s", "");
	snprintf(s->err_msg, sizeof s->err_msg, "store_progress has no row for the journal");
	return TN_EDB;
}

/* Resynchronise with the database: read its offset, open the journal there. */
static int open_reader(struct tn_store *s)
{
	uint64_t from, durable;
	int rc = read_progress(s, &from);

	if (rc)
		return rc;
	ck_pr_store_64(&s->committed, from);
	rc = tn_journal_reader_open(s->o.journal_dir, from, &s->rd);
	if (rc == TN_ENOTFOUND) {
		tn_log_limited(&s->log_journal, 1, TN_LOG_ERROR,
			       "journal records not yet stored in postgresql are missing (deleted, "
			       "or the wrong journal); not skipping them",
			       "dir=\"%s\" offset=%" PRIu64, tn_logq(s->o.journal_dir), from);
		return rc;
	}
	if (rc) {
		tn_log_limited(&s->log_journal, 1, TN_LOG_ERROR,
			       "cannot open the journal to store it",
			       "dir=\"%s\" offset=%" PRIu64 " error=\"%s\"",
			       tn_logq(s->o.journal_dir), from, tn_strerror(rc));
		return rc;
	}
	durable = ck_pr_load_64(s->o.durable);
	if (from > durable && durable > 0)
		tn_warn("store_progress is past the durable end of the journal: wrong journal?",
			"offset=%" PRIu64 " durable=%" PRIu64, from, durable);
	s->batch_end = from;
	return 0;
}

/*
 * Give up the batch in flight after `err` (TN_EDB with err_state/err_msg
 * set, a journal error, TN_ENOMEM, TN_EEXIST for a progress conflict, or
 * TN_ECLOSED at the drain deadline). Records are re-read from the
 * database's offset afterwards. Waits before the next attempt unless the
 * error calls for an immediate, narrower retry.
 */
static void abandon(struct tn_store *s, int err, const char *what)
{
	bool usable = rollback(s);
	bool data = err == TN_EDB && usable && is_data_error(s->err_state);

	tn_journal_reader_close(s->rd);
	s->rd = NULL;
	if (err == TN_ECLOSED)
		return;
	if (data && s->batch_direct && strcmp(s->err_state, "23505") == 0) {
		/* A duplicate: not a failure; redo the batch through staging now. */
		s->staged = true;
		tn_log_limited(&s->log_dup, 1, TN_LOG_INFO,
			       "duplicate event in the batch; storing it through staging",
			       "offset=%" PRIu64 " records=%d", s->batch_first, s->batch_n);
		return;
	}
	if (err == TN_EDB || err == TN_EEXIST || err == TN_ENOMEM)
		add64(&s->failures, 1);
	if (err == TN_EDB) {
		tn_log_limited(&s->log_pg, 1, TN_LOG_ERROR, "postgresql error; batch rolled back",
			       "step=%s sqlstate=%s offset=%" PRIu64 " records=%d error=\"%s\"",
			       what, s->err_state[0] ? s->err_state : "-", s->batch_first,
			       s->batch_n, tn_logq(s->err_msg));
	} else if (err == TN_EEXIST) {
		tn_log_limited(
			&s->log_pg, 1, TN_LOG_WARN,
			"store_progress moved under the store: another store on this database?",
			"expected=%" PRIu64, ck_pr_load_64(&s->committed));
	} else if (err != TN_ENOMEM) {
		add64(&s->journal_errors, 1);
		tn_log_limited(&s->log_journal, 1, TN_LOG_ERROR,
			       "cannot read the journal below its durable offset; not skipping",
			       "dir=\"%s\" offset=%" PRIu64 " error=\"%s\"",
			       tn_logq(s->o.journal_dir), s->batch_end, tn_strerror(err));
	} else {
		tn_log_limited(&s->log_pg, 1, TN_LOG_ERROR, "out of memory; batch rolled back",
			       "offset=%" PRIu64, s->batch_first);
	}

	if (data) {
		/* Narrow down to the record PostgreSQL refuses; no wait. */
		if (s->batch_n > 1) {
			s->isolate_until = s->batch_end;
			tn_warn("postgresql refuses a row; retrying one record per transaction",
				"from=%" PRIu64 " to=%" PRIu64, s->batch_first, s->batch_end);
			return;
		}
		if (!s->quarantine || s->quarantine_at != s->batch_first) {
			s->quarantine = true;
			s->quarantine_at = s->batch_first;
			snprintf(s->quarantine_msg, sizeof s->quarantine_msg, "%s %s", s->err_state,
				 s->err_msg);
			tn_error("postgresql refuses a journal record; storing it in rejected as "
				 "E_CORRUPT",
				 "offset=%" PRIu64 " sqlstate=%s error=\"%s\"", s->batch_first,
				 s->err_state, tn_logq(s->err_msg));
			return;
		}
		/* Refused even as E_CORRUPT: nothing narrower to try. */
	}
	if (err == TN_EDB || !usable)
		pg_drop(s);
	if (err == TN_EDB || err == TN_EEXIST || err == TN_ENOMEM)
		wait_ms(s, retry_ms(s));
	else
		wait_ms(s, retry_ms(s) > JOURNAL_RETRY_MIN_MS ? retry_ms(s)
								: JOURNAL_RETRY_MIN_MS);
}

/* BEGIN, lock the progress row, and check it is where we think it is. */
static int begin_tx(struct tn_store *s)
{
	PGresult *res[2];
	int n, rc;

	rc = pg_multi(s,
		      "BEGIN; SELECT journal_offset FROM store_progress "
		      "WHERE stream = 'journal' FOR UPDATE",
		      res, 2, &n);
	if (rc)
		return rc;
	if (n != 2 || PQntuples(res[1]) != 1 ||
	    strtoull(PQgetvalue(res[1], 0, 0), NULL, 10) != ck_pr_load_64(&s->committed))
		rc = TN_EEXIST;
	while (n > 0)
		PQclear(res[--n]);
	return rc;
}

/* Move the staged rows, advance the offset, commit. */
static int commit_tx(struct tn_store *s, uint64_t end, uint64_t *ev_rows, uint64_t *rej_rows)
{
	const struct tn__store_rows *r = &s->rows;
	PGresult *res[4];
	char sql[1024];
	int k = 0, n, i = 0, rc;

	if (r->n_events && !s->batch_direct)
		k += snprintf(
			sql + k, sizeof sql - (size_t)k,
			"INSERT INTO events (" TN__STORE_EVENT_COLS ") SELECT " TN__STORE_EVENT_COLS
			" FROM tn_stage_events ORDER BY journal_offset ON CONFLICT DO NOTHING; ");
	if (r->n_rejected)
		k += snprintf(sql + k, sizeof sql - (size_t)k,
			      "INSERT INTO rejected (" TN__STORE_REJECT_COLS
			      ") SELECT " TN__STORE_REJECT_COLS
			      " FROM tn_stage_rejected ORDER BY journal_offset "
			      "ON CONFLICT DO NOTHING; ");
	snprintf(sql + k, sizeof sql - (size_t)k,
		 "UPDATE store_progress SET journal_offset = %" PRIu64
		 " WHERE stream = 'journal'; COMMIT",
		 end);
	rc = pg_multi(s, sql, res, 4, &n);
	if (rc)
		return rc;
	*rej_rows = 0;
	if (r->n_events && !s->batch_direct && i < n)
		*ev_rows = cmd_tuples(res[i++]);
	if (r->n_rejected && i < n)
		*rej_rows = cmd_tuples(res[i++]);
	if (n != i + 2 || cmd_tuples(res[i]) != 1 ||
	    strcmp(PQcmdStatus(res[i + 1]), "COMMIT") != 0) {
		snprintf(s->err_state, sizeof s->err_state, "%s", "");
		snprintf(s->err_msg, sizeof s->err_msg, "commit did not happen (%d results)", n);
		rc = TN_EDB;
	}
	while (n > 0)
		PQclear(res[--n]);
	return rc;
}

/*
 * Store up to one batch of durable records. Returns 1 after a commit, 0
 * when there was nothing to store, or a negative code once the failure has
 * been dealt with (abandon).
 */
static int run_batch(struct tn_store *s)
{
	struct tn__store_rows *r = &s->rows;
	struct tn_journal_record rec;
	uint64_t limit = ck_pr_load_64(s->o.durable);
	uint64_t start = ck_pr_load_64(&s->committed);
	uint64_t audit_rows = 0, ev_rows = 0, rej_rows = 0;
	int max = s->isolate_until > start ? 1 : s->o.batch;
	enum tn__row_kind kind;
	char why[ERR_LEN];
	int64_t t0, now_us;
	int rc;

	rc = tn_journal_reader_next(s->rd, limit, &rec);
	if (rc == 0)
		return 0;
	if (rc < 0) {
		s->batch_first = start;
		s->batch_n = 0;
		abandon(s, rc, "read");
		return rc;
	}
	t0 = mono_ns();
	now_us = real_us(); /* the `received` of E_CORRUPT rows */
	tn__store_rows_reset(r);
	s->batch_first = rec.offset;
	s->batch_n = 0;
	s->batch_clock_us = 0;
	s->batch_direct = !s->staged;
	s->batch_took_all = false;
	rc = begin_tx(s);
	if (rc) {
		abandon(s, rc, "begin");
		return rc;
	}
	for (;;) {
		const char *refused =
			s->quarantine && rec.offset == s->quarantine_at ? s->quarantine_msg : NULL;

		rc = tn__store_rows_add(r, &rec, now_us, refused, &kind, why, sizeof why);
		if (rc) {
			abandon(s, rc, "decode");
			return rc;
		}
		s->batch_n++;
		s->batch_end = tn_journal_reader_offset(s->rd);
		int64_t clock_us = record_clock_us(&rec);
		if (clock_us > s->batch_clock_us)
			s->batch_clock_us = clock_us;
		if (kind == TN__ROW_CORRUPT && !refused)
			tn_log_limited(&s->log_corrupt, 10, TN_LOG_ERROR,
				       "journal record does not decode; storing it in rejected as "
				       "E_CORRUPT",
				       "offset=%" PRIu64 " type=%u bytes=%" PRIu32 " reason=\"%s\"",
				       rec.offset, (unsigned)rec.type, rec.len, tn_logq(why));
		if (r->events.len >= COPY_CHUNK) {
			rc = flush_events(s);
			if (rc) {
				abandon(s, rc, "copy events");
				return rc;
			}
		}
		if (s->batch_n >= max ||
		    r->rejected.len + r->audit.len + r->changes.len >= SIDE_MAX)
			break;
		if (past_deadline(s)) {
			abandon(s, TN_ECLOSED, "drain");
			return TN_ECLOSED;
		}
		rc = tn_journal_reader_next(s->rd, limit, &rec);
		if (rc == 0) {
			s->batch_took_all = true;
			break;
		}
		if (rc < 0) {
			abandon(s, rc, "read");
			return rc;
		}
	}

	if (r->events.len || s->copying) {
		rc = flush_events(s);
		if (!rc) {
			s->copying = false;
			rc = copy_end(s, &ev_rows); /* direct: these are the rows stored */
		}
		if (rc) {
			abandon(s, rc, "copy events");
			return rc;
		}
	}
	if (r->rejected.len) {
		rc = copy_all(s, "COPY tn_stage_rejected (" TN__STORE_REJECT_COLS ") FROM STDIN",
			      &r->rejected);
		if (rc) {
			abandon(s, rc, "copy rejected");
			return rc;
		}
	}
	if (r->audit.len) {
		/* Straight in: the progress row lock keeps it exactly once. */
		rc = copy_all(s, "COPY audit (" TN__STORE_AUDIT_COLS ") FROM STDIN", &r->audit);
		if (rc) {
			abandon(s, rc, "copy audit");
			return rc;
		}
		audit_rows = r->n_audit;
	}
	if (r->changes.len) {
		/* Incident revisions; a trigger keeps `incidents` and
		 * `incident_members` current. Exactly once like audit. */
		rc = copy_all(s,
			      "COPY incident_revisions (" TN__STORE_CHANGE_COLS ") FROM STDIN",
			      &r->changes);
		if (rc) {
			abandon(s, rc, "copy incident revisions");
			return rc;
		}
	}
	if (past_deadline(s)) {
		abandon(s, TN_ECLOSED, "drain");
		return TN_ECLOSED;
	}
	rc = commit_tx(s, s->batch_end, &ev_rows, &rej_rows);
	if (rc) {
		abandon(s, rc, "commit");
		return rc;
	}

	ck_pr_store_64(&s->committed, s->batch_end);
	if (s->staged && !s->batch_direct && ev_rows == r->n_events)
		s->staged = false; /* no conflict this time: back to the direct path */
	add64(&s->events_stored, ev_rows);
	add64(&s->rejected_stored, rej_rows);
	add64(&s->audit_stored, audit_rows);
	add64(&s->corrupt_records, r->n_corrupt);
	add64(&s->transactions, 1);
	ck_pr_store_64(&s->last_commit_us, (uint64_t)real_us());
	ck_pr_store_64(&s->last_copy_us, (uint64_t)((mono_ns() - t0) / 1000));
	tn__hist_observe(&s->batch_hist, (uint64_t)(mono_ns() - t0));
	if (s->batch_clock_us > 0)
		ck_pr_store_64(&s->stored_clock_us, (uint64_t)s->batch_clock_us);
	if (s->quarantine && s->quarantine_at < s->batch_end)
		s->quarantine = false;
	tn_debug("store committed",
		 "records=%d events=%" PRIu64 " rejected=%" PRIu64 " audit=%" PRIu64
		 " offset=%" PRIu64 " us=%" PRId64,
		 s->batch_n, ev_rows, rej_rows, audit_rows, s->batch_end, (mono_ns() - t0) / 1000);
	return 1;
}

/* ---- the thread ---------------------------------------------------------- */

static void *store_main(void *arg)
{
	struct tn_store *s = arg;
	tn__thread_setup("tn-store", s->o.nice);
	int rc;

	for (;;) {
		if (stop_requested(s)) {
			if (ck_pr_load_64(&s->committed) >= s->drain_target) {
				ck_pr_store_uint(&s->drained, 1);
				break;
			}
			if (mono_ns() >= s->deadline_ns)
				break;
		}
		if (!s->pg) {
			rc = pg_connect(s);
			if (rc) {
				add64(&s->failures, 1);
				tn_log_limited(&s->log_pg, 1, TN_LOG_WARN,
					       "cannot connect to postgresql; retrying",
					       "retry_ms=%d error=\"%s\"", retry_ms(s),
					       tn_logq(s->err_msg));
				if (rc != TN_ETIMEDOUT || !past_deadline(s))
					wait_ms(s, retry_ms(s));
				continue;
			}
			tn_info("store connected to postgresql", NULL);
		}
		if (!s->rd) {
			rc = open_reader(s);
			if (rc == TN_EDB) {
				abandon(s, rc, "progress");
			} else if (rc) {
				add64(&s->journal_errors, 1);
				wait_ms(s, retry_ms(s) > JOURNAL_RETRY_MIN_MS
						   ? retry_ms(s)
						   : JOURNAL_RETRY_MIN_MS);
			}
			continue;
		}
		int64_t began = mono_ns();
		rc = run_batch(s);
		if (rc == 0)
			linger(s, 0);
		else if (rc == 1 && s->batch_took_all)
			linger(s, began);
	}
	if (s->pg) {
		rollback(s);
		pg_drop(s);
	}
	tn_journal_reader_close(s->rd);
	s->rd = NULL;
	return NULL;
}

int tn_store_start(const struct tn_store_opts *opts, struct tn_store **out)
{
	struct tn_store *s;
	sigset_t all, old;
	int rc;

	if (!opts || !out || !opts->conninfo || !opts->journal_dir || !opts->durable ||
	    opts->batch < 1 || opts->retry_ms < 0 || opts->linger_ms < 0)
		return TN_EINVAL;
	s = calloc(1, sizeof *s);
	if (!s)
		return TN_ENOMEM;
	s->o = *opts;
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake_fd < 0) {
		free(s);
		return TN_ENOMEM;
	}
	rc = tn__store_rows_init(&s->rows);
	if (rc) {
		close(s->wake_fd);
		free(s);
		return rc;
	}
	pthread_mutex_init(&s->cancel_lock, NULL);
	/* Signals are the main loop's business. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&s->thread, NULL, store_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		tn__store_rows_fini(&s->rows);
		pthread_mutex_destroy(&s->cancel_lock);
		close(s->wake_fd);
		free(s);
		return TN_ENOMEM;
	}
	tn_info("store started", "journal=\"%s\" batch=%d retry_ms=%d", tn_logq(opts->journal_dir),
		opts->batch, opts->retry_ms);
	*out = s;
	return 0;
}

uint64_t tn_store_committed(const struct tn_store *s)
{
	return ck_pr_load_64(&s->committed);
}

void tn_store_stats(const struct tn_store *s, struct tn_store_stats *out)
{
	struct tn__hist h;
	tn__hist_read(&s->batch_hist, &h);
	*out = (struct tn_store_stats){
		.committed_offset = ck_pr_load_64(&s->committed),
		.events_stored = ck_pr_load_64(&s->events_stored),
		.rejected_stored = ck_pr_load_64(&s->rejected_stored),
		.audit_stored = ck_pr_load_64(&s->audit_stored),
		.corrupt_records = ck_pr_load_64(&s->corrupt_records),
		.transactions = ck_pr_load_64(&s->transactions),
		.failures = ck_pr_load_64(&s->failures),
		.journal_errors = ck_pr_load_64(&s->journal_errors),
		.last_commit_us = (int64_t)ck_pr_load_64(&s->last_commit_us),
		.last_copy_us = ck_pr_load_64(&s->last_copy_us),
		.connected = ck_pr_load_uint(&s->connected) != 0,
		.stored_clock_us = (int64_t)ck_pr_load_64(&s->stored_clock_us),
	};
	out->batch_hist = h;
}

void tn_store_set_retry(struct tn_store *s, int retry_ms)
{
	if (s && retry_ms >= 0)
		ck_pr_store_int(&s->o.retry_ms, retry_ms);
}

int tn_store_stop(struct tn_store *s, int drain_ms)
{
	struct timespec until;
	uint64_t one = 1;
	ssize_t w;
	int rc;

	if (!s)
		return 0;
	if (drain_ms < 0)
		drain_ms = 0;
	s->drain_target = ck_pr_load_64(s->o.durable);
	s->deadline_ns = mono_ns() + (int64_t)drain_ms * 1000000;
	atomic_store_explicit(&s->stopping, 1, memory_order_release);
	w = write(s->wake_fd, &one, sizeof one);
	(void)w;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (drain_ms + CANCEL_GRACE_MS) / 1000;
	until.tv_nsec += (long)((drain_ms + CANCEL_GRACE_MS) % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	if (pthread_timedjoin_np(s->thread, NULL, &until) != 0) {
		/* Stuck in a query past the deadline: cancel it, then wait. */
		char err[ERR_LEN];
		pthread_mutex_lock(&s->cancel_lock);
		if (s->cancel && !PQcancel(s->cancel, err, sizeof err))
			tn_warn("cannot cancel the store's query", "error=\"%s\"", tn_logq(err));
		pthread_mutex_unlock(&s->cancel_lock);
		pthread_join(s->thread, NULL);
	}
	rc = ck_pr_load_uint(&s->drained) ? 0 : TN_ETIMEDOUT;
	if (rc)
		tn_warn("store stopped before storing all that is durable; the journal keeps it",
			"committed=%" PRIu64 " durable=%" PRIu64, ck_pr_load_64(&s->committed),
			s->drain_target);
	else
		tn_info("store stopped", "committed=%" PRIu64, ck_pr_load_64(&s->committed));
	tn__store_rows_fini(&s->rows);
	pthread_mutex_destroy(&s->cancel_lock);
	close(s->wake_fd);
	free(s);
	return rc;
}
