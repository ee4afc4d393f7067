/* alerts_pg.c - the alerts thread's PostgreSQL worker: since, ack, audit (alerts_int.h). */
#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alerts.h"
#include "alerts_int.h"
#include "log.h"
#include "tocsin/error.h"
#include "thread.h"

#define IDLE_SLEEP_NS (2 * 1000000L)

struct tn__alerts_pg {
	const char *conninfo;
	struct tn__ring *in, *out;
	void (*wake)(void *ud);
	void *ud;
	PGconn *c;
	/* redaction of `since` replies for lower clearances (alerts_redact.c) */
	msgpack_zone zone;
	struct tn__bytes red;
	atomic_int stop;
	pthread_t thread;
	struct tn_log_slot log_db;
};

static PGconn *connect_db(const char *conninfo, char *err, size_t errlen)
{
	/* Statements are bounded: a console waits at most this for an answer. */
	const char *keys[] = {"dbname", "connect_timeout", "options", NULL};
	const char *vals[] = {conninfo, "3", "-c statement_timeout=5000", NULL};
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(c) != CONNECTION_OK) {
		snprintf(err, errlen, "%s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	return c;
}

static void pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static void one_line(char *s)
{
	char *nl = strchr(s, '\n');
	if (nl)
		*nl = 0;
}

/* A statement failed: log (rate-limited), drop a broken connection. */
static int db_failed(struct tn__alerts_pg *w, const char *what, PGresult *r)
{
	char msg[256];
	snprintf(msg, sizeof msg, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(w->c));
	one_line(msg);
	tn_log_limited(&w->log_db, 1, TN_LOG_WARN, "alerts: database statement failed",
		       "what=%s error=\"%s\"", what, tn_logq(msg));
	PQclear(r);
	if (PQstatus(w->c) != CONNECTION_OK) {
		PQfinish(w->c);
		w->c = NULL;
	}
	return TN_EUNAVAILABLE;
}

static bool ensure_conn(struct tn__alerts_pg *w)
{
	char err[256];
	if (w->c && PQstatus(w->c) == CONNECTION_OK)
		return true;
	PQfinish(w->c);
	w->c = connect_db(w->conninfo, err, sizeof err);
	if (!w->c) {
		one_line(err);
		tn_log_limited(&w->log_db, 1, TN_LOG_WARN, "alerts: cannot reach postgresql",
			       "error=\"%s\"", tn_logq(err));
	}
	return w->c != NULL;
}

/* A SELECT; NULL (and *rc) when it failed. */
static PGresult *select_rows(struct tn__alerts_pg *w, const char *what, const char *sql, int n,
			     const char *const *params, int *rc)
{
	PGresult *r = PQexecParams(w->c, sql, n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		return r;
	*rc = db_failed(w, what, r);
	return NULL;
}

/*
 * The alerts after j->seq from PostgreSQL. The store writes them in journal
 * order, which is seq order: a seq missing below one that is stored will
 * never come (the journal refused that revision; the server logged it), so
 * the reply skips it and says so in "lost"; nothing stored after j->seq
 * means the store is behind.
 */
static void since(struct tn__alerts_pg *w, struct tn__alerts_job *j)
{
	char p_seq[24], p_lim[16];
	const char *params[] = {j->stream, p_seq, p_lim};
	msgpack_packer pk;

	snprintf(p_seq, sizeof p_seq, "%" PRIu64, j->seq);
	snprintf(p_lim, sizeof p_lim, "%u", j->limit);
	PGresult *r = select_rows(w, "since",
				  "SELECT seq, msg, priority, area, body::text FROM alerts "
				  "WHERE stream = $1 AND seq > $2 ORDER BY seq LIMIT $3",
				  3, params, &j->rc);
	if (!r) {
		tn__alerts_reply_error(j, "since", TN_EUNAVAILABLE,
				       "alerts older than the server's memory need postgresql, "
				       "which is unavailable; retry later");
		return;
	}
	int rows = PQntuples(r);
	if (rows == 0) {
		PQclear(r);
		j->rc = TN_EUNAVAILABLE;
		char msg[160];
		snprintf(msg, sizeof msg,
			 "alert %" PRIu64 " is not in postgresql yet (the store is behind); "
			 "retry later",
			 j->seq + 1);
		tn__alerts_reply_error(j, "since", TN_EUNAVAILABLE, msg);
		return;
	}
	j->reply.len = 0;
	msgpack_packer_init(&pk, &j->reply, tn__bytes_write);
	tn__alerts_reply_head(&pk, j, true, "since", 4);
	pack_str(&pk, "alerts");
	msgpack_pack_array(&pk, (size_t)rows);
	uint64_t expect = j->seq + 1, n_lost = 0;
	for (int i = 0; i < rows; i++) {
		struct tn__alert *a;
		const char *msg = PQgetvalue(r, i, 1), *area = PQgetvalue(r, i, 3);
		const char *body = PQgetvalue(r, i, 4);
		uint64_t seq = strtoull(PQgetvalue(r, i, 0), NULL, 10);
		int rc = tn__alert_from_row(j->stream, strlen(j->stream), msg, strlen(msg),
					    strtoll(PQgetvalue(r, i, 2), NULL, 10), area,
					    strlen(area), body, strlen(body), seq, &a);
		if (rc != 0 || seq < expect) {
			PQclear(r);
			j->rc = rc ? rc : TN_ECORRUPT;
			tn__alerts_reply_error(j, "since", TN_EUNAVAILABLE,
					       "an alert in postgresql cannot be read");
			return;
		}
		n_lost += seq > expect;
		expect = seq + 1;
		if (j->clearance < TN_SENS_OFFICIAL_SENSITIVE) {
			/* what the requester may have, never more: no body, no reply */
			rc = tn__alert_redact(a->body, a->body_len, j->clearance, j->sens, &w->zone,
					      &w->red);
			tn__alert_unref(a);
			if (rc != 0) {
				PQclear(r);
				j->rc = rc;
				tn__alerts_reply_error(j, "since", TN_EUNAVAILABLE,
						       "an alert cannot be redacted; retry later");
				return;
			}
			msgpack_pack_str_body(&pk, w->red.data, w->red.len);
			continue;
		}
		msgpack_pack_str_body(&pk, a->body, a->body_len); /* raw: a packed map */
		tn__alert_unref(a);
	}
	pack_str(&pk, "last");
	msgpack_pack_uint64(&pk, j->last);
	pack_str(&pk, "more");
	if (expect - 1 < j->last)
		msgpack_pack_true(&pk);
	else
		msgpack_pack_false(&pk);
	/* [[first, last], ...] of the seqs that will never exist */
	pack_str(&pk, "lost");
	msgpack_pack_array(&pk, n_lost);
	expect = j->seq + 1;
	for (int i = 0; i < rows; i++) {
		uint64_t seq = strtoull(PQgetvalue(r, i, 0), NULL, 10);
		if (seq > expect) {
			msgpack_pack_array(&pk, 2);
			msgpack_pack_uint64(&pk, expect);
			msgpack_pack_uint64(&pk, seq - 1);
		}
		expect = seq + 1;
	}
	PQclear(r);
	j->rc = 0;
}

static int run(struct tn__alerts_pg *w, const char *what, const char *sql, int n,
	       const char *const *params)
{
	PGresult *r = PQexecParams(w->c, sql, n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		return db_failed(w, what, r);
	PQclear(r);
	return 0;
}

static void ack(struct tn__alerts_pg *w, struct tn__alerts_job *j)
{
	char p_rev[16];
	const char *params[] = {j->stream, j->incident, p_rev, j->operator_, j->console};
	msgpack_packer pk;

	snprintf(p_rev, sizeof p_rev, "%u", j->rev);
	/* The ack and its audit row together, or neither. */
	j->rc = run(w, "begin", "BEGIN", 0, NULL);
	if (j->rc == 0)
		j->rc = run(w, "ack",
			    "INSERT INTO alert_acks (stream, incident, rev, operator, console) "
			    "VALUES ($1, $2, $3, $4, $5)",
			    5, params);
	if (j->rc == 0)
		j->rc = run(w, "ack audit",
			    "INSERT INTO audit (actor, action, subject, origin, detail) "
			    "VALUES ($5, 'alert.ack', $2, 'control', jsonb_build_object("
			    "'stream', $1::text, 'rev', $3::int, 'operator', $4::text))",
			    5, params);
	if (j->rc == 0)
		j->rc = run(w, "commit", "COMMIT", 0, NULL);
	if (j->rc != 0) {
		if (w->c)
			PQclear(PQexec(w->c, "ROLLBACK"));
		tn__alerts_reply_error(j, "ack", TN_EUNAVAILABLE,
				       "the acknowledgement cannot be stored now (postgresql "
				       "unavailable); retry later");
		return;
	}
	j->reply.len = 0;
	msgpack_packer_init(&pk, &j->reply, tn__bytes_write);
	tn__alerts_reply_head(&pk, j, true, "ack", 2);
	pack_str(&pk, "incident");
	pack_str(&pk, j->incident);
	pack_str(&pk, "rev");
	msgpack_pack_uint32(&pk, j->rev);
}

static void audit(struct tn__alerts_pg *w, struct tn__alerts_job *j)
{
	const char *params[] = {j->console, j->action, j->subject, j->origin, j->reason};
	j->rc = run(w, "audit",
		    "INSERT INTO audit (actor, action, subject, origin, detail) "
		    "VALUES ($1, $2, nullif($3, ''), nullif($4, ''), "
		    "jsonb_build_object('reason', $5::text))",
		    5, params);
}

static void acked(struct tn__alerts_pg *w, struct tn__alerts_job *j)
{
	const char *params[] = {j->stream};
	PGresult *r = select_rows(w, "acked",
				  "SELECT incident, max(rev) FROM alert_acks WHERE stream = $1 "
				  "GROUP BY incident",
				  1, params, &j->rc);
	if (!r)
		return;
	size_t n = (size_t)PQntuples(r);
	j->acked = calloc(n ? n : 1, sizeof *j->acked);
	if (!j->acked) {
		PQclear(r);
		j->rc = TN_ENOMEM;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(j->acked[j->n_acked].incident, sizeof j->acked->incident, "%s",
			 PQgetvalue(r, (int)i, 0));
		j->acked[j->n_acked++].rev = (uint32_t)strtoul(PQgetvalue(r, (int)i, 1), NULL, 10);
	}
	PQclear(r);
	j->rc = 0;
}

/* A new drill's row: its name is used once, ever (schema/006). */
static void drill_new(struct tn__alerts_pg *w, struct tn__alerts_job *j)
{
	const char *params[] = {j->stream, j->console};
	PGresult *r = PQexecParams(w->c, "INSERT INTO drills (name, planner) VALUES ($1, $2)", 2,
				   NULL, params, NULL, NULL, 0);
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

	if (PQresultStatus(r) == PGRES_COMMAND_OK) {
		j->rc = 0;
		PQclear(r);
	} else if (state && strcmp(state, "23505") == 0) { /* unique_violation */
		j->rc = TN_EEXIST;
		PQclear(r);
	} else {
		j->rc = db_failed(w, "drill", r);
	}
}

static void drill_stopped(struct tn__alerts_pg *w, struct tn__alerts_job *j)
{
	const char *params[] = {j->stream};
	j->rc = run(w, "drill stop",
		    "UPDATE drills SET stopped_at = now() WHERE name = $1 AND stopped_at IS NULL", 1,
		    params);
}

static void *worker_main(void *arg)
{
	struct tn__alerts_pg *w = arg;
	tn__thread_setup("tn-alerts-pg", 0);
	struct tn__alerts_job *j;

	while (!atomic_load(&w->stop)) {
		if (!(j = tn__ring_pop(w->in))) {
			struct timespec ts = {0, IDLE_SLEEP_NS};
			nanosleep(&ts, NULL);
			continue;
		}
		if (!ensure_conn(w)) {
			j->rc = TN_EUNAVAILABLE;
			const char *op = j->kind == TN__JOB_SINCE ? "since" : "ack";
			if (j->kind == TN__JOB_SINCE || j->kind == TN__JOB_ACK)
				tn__alerts_reply_error(j, op, TN_EUNAVAILABLE,
						       "postgresql is unavailable; retry later");
		} else if (j->kind == TN__JOB_SINCE) {
			since(w, j);
		} else if (j->kind == TN__JOB_ACK) {
			ack(w, j);
		} else if (j->kind == TN__JOB_AUDIT) {
			audit(w, j);
		} else if (j->kind == TN__JOB_DRILL_NEW) {
			drill_new(w, j);
		} else if (j->kind == TN__JOB_DRILL_STOPPED) {
			drill_stopped(w, j);
		} else {
			acked(w, j);
		}
		(void)tn__ring_push(w->out, j); /* holds every job in flight */
		w->wake(w->ud);
	}
	PQfinish(w->c);
	return NULL;
}

int tn__alerts_pg_start(const char *conninfo, struct tn__ring *in, struct tn__ring *out,
			void (*wake)(void *ud), void *ud, struct tn__alerts_pg **out_w)
{
	struct tn__alerts_pg *w = calloc(1, sizeof *w);
	if (!w)
		return TN_ENOMEM;
	if (!msgpack_zone_init(&w->zone, 8192)) {
		free(w);
		return TN_ENOMEM;
	}
	w->conninfo = conninfo;
	w->in = in;
	w->out = out;
	w->wake = wake;
	w->ud = ud;
	atomic_init(&w->stop, 0);
	if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
		msgpack_zone_destroy(&w->zone);
		free(w);
		return TN_ENOMEM;
	}
	*out_w = w;
	return 0;
}

void tn__alerts_pg_stop(struct tn__alerts_pg *w)
{
	if (!w)
		return;
	atomic_store(&w->stop, 1);
	pthread_join(w->thread, NULL);
	msgpack_zone_destroy(&w->zone);
	free(w->red.data);
	free(w);
}

int tn_alerts_pg_last_seq(const char *conninfo, const char *stream, uint64_t *seq, char *err,
			   size_t errlen)
{
	const char *params[] = {stream};
	PGconn *c = connect_db(conninfo, err, errlen);
	int rc = TN_EDB;

	*seq = 0;
	if (!c)
		return TN_EDB;
	PGresult *r = PQexecParams(c, "SELECT coalesce(max(seq), 0) FROM alerts WHERE stream = $1",
				   1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
		*seq = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
		rc = 0;
	} else {
		snprintf(err, errlen, "%s", PQresultErrorMessage(r));
	}
	PQclear(r);
	PQfinish(c);
	return rc;
}
