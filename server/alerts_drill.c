/*
 * alerts_drill.c - the drill desk: a planner's drill operations on the
 * control channel, journaled for the drill correlator (alerts_int.h).
 *
 * A drill is input of its own kind: its events never enter the live
 * journal stream (EVENT records), so the live correlator, the store's
 * events table and the live consoles never see them. They are DRILL
 * records, durable like everything accepted, read by the drill correlator
 * alone, which journals the drill's revisions on the drill's own stream;
 * the alerts thread publishes those on `drill/<name>/...` only.
 *
 * A start goes first to PostgreSQL (the drill's row: a name is used once,
 * ever, so two drills' incidents are never mixed), then to the journal with
 * its audit record; events and the stop go to the journal. Each request is
 * answered once its records are durable, in order: frames come back from
 * the committer in the order they went.
 */
#include <ck_pr.h>
#include <inttypes.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alerts_int.h"
#include "correlate.h"
#include "log.h"
#include "tocsin/error.h"
#include "wire.h"

enum drill_state { D_STARTING, D_RUNNING, D_STOPPING, D_ENDED };
static const char *const state_names[] = {"starting", "running", "stopping", "ended"};

struct desk_drill {
	char name[TN__DRILL_NAME_MAX + 1];
	enum drill_state st;
	uint64_t last_seq; /* of its stream, as read from the journal */
	uint64_t events;   /* its events read from the journal */
	uint64_t incidents; /* its revisions 1 read so far */
	uint64_t order;    /* when it became known: the oldest ended one goes first */
};

enum pending_kind { P_START, P_EVENTS, P_STOP };

/* A request whose records are with the committer. */
struct pending {
	struct tn__frame *f;
	struct tn__alerts_job *j;
	enum pending_kind kind;
	char drill[TN__DRILL_NAME_MAX + 1];
};

struct tn__desk {
	struct tn__desk_opts o;
	struct tn__frame *frames[TN__DESK_FRAMES]; /* free ones */
	size_t n_free;
	struct pending fifo[TN__DESK_FRAMES]; /* in flight, in order */
	size_t head, n_fifo;
	struct desk_drill drills[TN__DESK_DRILLS];
	size_t n_drills;
	uint64_t order;
	struct tn_wire_decoder *dec;
	bool in_request; /* within tn__desk_request: the host recycles the job */
	struct tn_log_slot log;
	struct tn__desk_stats st; /* ck_pr writes, read by stats */
};

static int64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void pack_str(msgpack_packer *pk, const char *s, size_t n)
{
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static bool name_ok(const char *s, size_t n)
{
	if (n == 0 || n > TN__DRILL_NAME_MAX || (n == 4 && memcmp(s, "live", 4) == 0))
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

static struct desk_drill *find(const struct tn__desk *d, const char *name, size_t len)
{
	for (size_t i = 0; i < d->n_drills; i++)
		if (strlen(d->drills[i].name) == len && memcmp(d->drills[i].name, name, len) == 0)
			return (struct desk_drill *)&d->drills[i];
	return NULL;
}

static unsigned active(const struct tn__desk *d)
{
	unsigned n = 0;
	for (size_t i = 0; i < d->n_drills; i++)
		n += d->drills[i].st != D_ENDED;
	return n;
}

/* A slot for a new drill: a free one, or the oldest ended one's; NULL when
 * every slot holds a drill not yet ended. */
static struct desk_drill *add(struct tn__desk *d, const char *name, size_t len,
			      enum drill_state st)
{
	struct desk_drill *x = NULL;
	if (d->n_drills < TN__DESK_DRILLS) {
		x = &d->drills[d->n_drills++];
	} else {
		for (size_t i = 0; i < d->n_drills; i++)
			if (d->drills[i].st == D_ENDED && (!x || d->drills[i].order < x->order))
				x = &d->drills[i];
		if (!x)
			return NULL;
		ck_pr_inc_64(&d->st.forgotten);
	}
	*x = (struct desk_drill){.st = st, .order = ++d->order};
	memcpy(x->name, name, len);
	x->name[len] = 0;
	return x;
}

/* ---- replies ----------------------------------------------------------------- */

/* Answer j. Within tn__desk_request the host recycles j after the call;
 * afterwards (a request that waited) the desk hands it back itself. */
static void answer(struct tn__desk *d, struct tn__alerts_job *j)
{
	d->o.reply(d->o.host, j);
	if (!d->in_request)
		d->o.recycle(d->o.host, j);
}

static void refuse(struct tn__desk *d, struct tn__alerts_job *j, const char *op, int code,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void refuse(struct tn__desk *d, struct tn__alerts_job *j, const char *op, int code,
		   const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tn__alerts_reply_verror(j, op, code, fmt, ap);
	va_end(ap);
	ck_pr_inc_64(&d->st.refused);
	answer(d, j);
}

/* {"ok": true, "op", "id"?, "drill": name, + extra} */
static void reply_ok_head(msgpack_packer *pk, struct tn__alerts_job *j, const char *op,
			  const char *drill, unsigned extra)
{
	j->reply.len = 0;
	msgpack_packer_init(pk, &j->reply, tn__bytes_write);
	tn__alerts_reply_head(pk, j, true, op, 1 + extra);
	pack_str(pk, "drill", 5);
	pack_str(pk, drill, strlen(drill));
}

/* ---- journaling --------------------------------------------------------------- */

static struct tn__frame *frame_get(struct tn__desk *d)
{
	if (!d->n_free)
		return NULL;
	struct tn__frame *f = d->frames[--d->n_free];
	tn__frame_reset(f);
	f->recv_us = wall_us();
	return f;
}

/* A frame for request j, or NULL when every one is with the committer
 * (answered: busy, counted). */
static struct tn__frame *frame_or_busy(struct tn__desk *d, struct tn__alerts_job *j,
				       const char *op)
{
	struct tn__frame *f = frame_get(d);
	if (!f) {
		ck_pr_inc_64(&d->st.busy);
		refuse(d, j, op, TN_EUNAVAILABLE, "the drill desk is busy; retry later");
	}
	return f;
}

/* A DRILL record [drill, op, at_us, actor, arg]; arg packed by the caller
 * when `arg` is NULL and has_arg, else nil or the object. */
static bool drill_rec(struct tn__frame *f, const char *drill, const char *op,
		      const char *actor, const msgpack_object *arg, int64_t arg_i, bool has_i)
{
	msgpack_packer pk;
	struct tn__rec *r = tn__frame_rec_begin(f, TN_JREC_DRILL, &pk);
	if (!r)
		return false;
	msgpack_pack_array(&pk, 5);
	pack_str(&pk, drill, strlen(drill));
	pack_str(&pk, op, strlen(op));
	msgpack_pack_int64(&pk, f->recv_us);
	pack_str(&pk, actor, strlen(actor));
	if (arg)
		msgpack_pack_object(&pk, *arg);
	else if (has_i)
		msgpack_pack_int64(&pk, arg_i);
	else
		msgpack_pack_nil(&pk);
	tn__frame_rec_end(f, r);
	return true;
}

/* An AUDIT record (journal.h): [at_us, actor, action, subject, origin, detail]. */
static bool audit_rec(struct tn__frame *f, const char *actor, const char *action,
		      const char *drill, const char *detail)
{
	msgpack_packer pk;
	struct tn__rec *r = tn__frame_rec_begin(f, TN_JREC_AUDIT, &pk);
	if (!r)
		return false;
	msgpack_pack_array(&pk, 6);
	msgpack_pack_int64(&pk, f->recv_us);
	pack_str(&pk, actor, strlen(actor));
	pack_str(&pk, action, strlen(action));
	pack_str(&pk, drill, strlen(drill));
	pack_str(&pk, "control", 7);
	msgpack_pack_map(&pk, 1);
	pack_str(&pk, "reason", 6);
	pack_str(&pk, detail, strlen(detail));
	tn__frame_rec_end(f, r);
	return true;
}

static void submit(struct tn__desk *d, struct tn__frame *f, struct tn__alerts_job *j,
		   enum pending_kind kind, const char *drill)
{
	struct pending *p = &d->fifo[(d->head + d->n_fifo) % TN__DESK_FRAMES];
	*p = (struct pending){.f = f, .j = j, .kind = kind};
	snprintf(p->drill, sizeof p->drill, "%s", drill);
	d->n_fifo++;
	(void)tn__ring_push(d->o.to_commit, f); /* holds every frame */
	d->o.wake_commit(d->o.wake_ud);
}

/* ---- operations -------------------------------------------------------------- */

static bool drill_name(struct tn__desk *d, struct tn__alerts_job *j, const char *op,
		       const struct tn__desk_args *a, char *out)
{
	const msgpack_object *n = a->drill;
	if (!n || n->type != MSGPACK_OBJECT_STR || !name_ok(n->via.str.ptr, n->via.str.size)) {
		refuse(d, j, op, TN_ESCHEMA,
		       "%s: drill: expected a name of 1 to 64 letters, digits, '.', '_' or '-' "
		       "(not \"live\")",
		       op);
		return false;
	}
	memcpy(out, n->via.str.ptr, n->via.str.size);
	out[n->via.str.size] = 0;
	return true;
}

static void op_start(struct tn__desk *d, struct tn__alerts_job *j,
		     const struct tn__desk_args *a, bool *queued)
{
	char name[TN__DRILL_NAME_MAX + 1];
	if (!drill_name(d, j, "drill_start", a, name))
		return;
	if (a->events || a->tick || a->end) {
		refuse(d, j, "drill_start", TN_ESCHEMA, "drill_start: takes drill only");
		return;
	}
	if (find(d, name, strlen(name))) {
		refuse(d, j, "drill_start", TN_EEXIST,
		       "drill \"%s\" was already started; a drill name is used once", name);
		return;
	}
	if (active(d) >= d->o.max_active) {
		refuse(d, j, "drill_start", TN_EUNAVAILABLE,
		       "%u drills are running, the most this server runs at once; retry "
		       "when one has ended",
		       d->o.max_active);
		return;
	}
	if (!add(d, name, strlen(name), D_STARTING)) {
		refuse(d, j, "drill_start", TN_EUNAVAILABLE,
		       "no room for another drill; retry when one has ended");
		return;
	}
	/* The name first: PostgreSQL's row makes it used, once and for all. */
	j->kind = TN__JOB_DRILL_NEW;
	snprintf(j->stream, sizeof j->stream, "%s", name); /* j->console: the actor already */
	d->o.to_pg(d->o.host, j);
	*queued = true;
}

/* The start's row is in: journal the start. */
static void start_journal(struct tn__desk *d, struct tn__alerts_job *j)
{
	struct desk_drill *x = find(d, j->stream, strlen(j->stream));
	struct tn__frame *f;

	if (j->rc != 0) {
		if (x && x->st == D_STARTING)
			x->st = D_ENDED; /* never ran; its slot may go */
		if (j->rc == TN_EEXIST)
			refuse(d, j, "drill_start", TN_EEXIST,
			       "drill \"%s\" was already started; a drill name is used once",
			       j->stream);
		else
			refuse(d, j, "drill_start", TN_EUNAVAILABLE,
			       "cannot record the drill in postgresql now; retry later");
		return;
	}
	if (!(f = frame_get(d))) {
		ck_pr_inc_64(&d->st.busy);
		if (x)
			x->st = D_ENDED;
		refuse(d, j, "drill_start", TN_EUNAVAILABLE, "the drill desk is busy; retry later");
		return;
	}
	if (!audit_rec(f, j->console, "drill.start", j->stream, "started by a planner") ||
	    !drill_rec(f, j->stream, "start", j->console, NULL, 0, false)) {
		d->frames[d->n_free++] = f;
		refuse(d, j, "drill_start", TN_EUNAVAILABLE, "out of memory; retry later");
		return;
	}
	submit(d, f, j, P_START, j->stream);
}

static bool as_time(const msgpack_object *o, int64_t *us)
{
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
		*us = (int64_t)o->via.u64;
		return true;
	}
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*us = o->via.i64;
		return true;
	}
	return false;
}

static void op_events(struct tn__desk *d, struct tn__alerts_job *j,
		      const struct tn__desk_args *a, bool *queued)
{
	static const char op[] = "drill_events";
	char name[TN__DRILL_NAME_MAX + 1];
	int64_t tick = 0;
	msgpack_packer pk;

	if (!drill_name(d, j, op, a, name))
		return;
	const struct desk_drill *x = find(d, name, strlen(name));
	if (!x || x->st != D_RUNNING) {
		refuse(d, j, op, TN_EUNKNOWN, "no running drill \"%s\" (%s)", name,
		       x ? state_names[x->st] : "never started here");
		return;
	}
	if (a->end || (!a->events && !a->tick)) {
		refuse(d, j, op, TN_ESCHEMA, "%s: takes drill, events and tick", op);
		return;
	}
	if (a->events && a->events->type != MSGPACK_OBJECT_ARRAY) {
		refuse(d, j, op, TN_ESCHEMA, "%s: events: expected an array of events", op);
		return;
	}
	if (a->tick && !as_time(a->tick, &tick)) {
		refuse(d, j, op, TN_ESCHEMA,
		       "%s: tick: expected the drill's clock, integer microseconds since the epoch",
		       op);
		return;
	}
	struct tn__frame *f = frame_or_busy(d, j, op);
	if (!f)
		return;
	/* Each event checked as ingest checks it (the schema; no sector scope:
	 * a drill speaks for every sector, and no time bound: it may be last
	 * August's); the reply, sent once durable, names the refused ones. */
	uint32_t n = a->events ? a->events->via.array.size : 0, bad = 0;
	struct tn__bytes errs = {0};
	msgpack_packer ep;
	msgpack_packer_init(&ep, &errs, tn__bytes_write);
	for (uint32_t i = 0; i < n; i++) {
		const msgpack_object *ev = &a->events->via.array.ptr[i];
		struct tn_wire_item item;
		if (tn_wire_validate_event(d->dec, ev, NULL, &item) != 0) {
			const char *code = tn_wire_code(item.err);
			msgpack_pack_map(&ep, 4);
			pack_str(&ep, "i", 1);
			msgpack_pack_uint32(&ep, i);
			pack_str(&ep, "id", 2);
			if (item.id)
				pack_str(&ep, item.id, strlen(item.id));
			else
				msgpack_pack_nil(&ep);
			pack_str(&ep, "code", 4);
			pack_str(&ep, code ? code : "E_SCHEMA", strlen(code ? code : "E_SCHEMA"));
			pack_str(&ep, "msg", 3);
			pack_str(&ep, item.msg, strlen(item.msg));
			bad++;
			continue;
		}
		if (!drill_rec(f, name, "event", a->actor, ev, 0, false))
			goto nomem;
	}
	if (a->tick && !drill_rec(f, name, "tick", a->actor, NULL, tick, true))
		goto nomem;
	reply_ok_head(&pk, j, op, name, 4);
	/* how far the drill's engine has got, for the planner's progress */
	pack_str(&pk, "revisions", 9);
	msgpack_pack_uint64(&pk, x->last_seq);
	pack_str(&pk, "incidents", 9);
	msgpack_pack_uint64(&pk, x->incidents);
	pack_str(&pk, "accepted", 8);
	msgpack_pack_uint32(&pk, n - bad);
	pack_str(&pk, "err", 3);
	msgpack_pack_array(&pk, bad);
	if (errs.len && tn__bytes_reserve(&j->reply, errs.len) == 0) {
		memcpy(j->reply.data + j->reply.len, errs.data, errs.len);
		j->reply.len += errs.len;
	}
	free(errs.data);
	ck_pr_add_64(&d->st.events, n - bad);
	if (f->n_recs == 0) { /* nothing to journal: every event refused */
		d->frames[d->n_free++] = f;
		answer(d, j);
		return;
	}
	submit(d, f, j, P_EVENTS, name);
	*queued = true;
	return;
nomem:
	free(errs.data);
	d->frames[d->n_free++] = f;
	refuse(d, j, op, TN_EUNAVAILABLE, "out of memory; retry later");
}

static void op_stop(struct tn__desk *d, struct tn__alerts_job *j, const struct tn__desk_args *a,
		    bool *queued)
{
	static const char op[] = "drill_stop";
	char name[TN__DRILL_NAME_MAX + 1];
	int64_t end = 0;

	if (!drill_name(d, j, op, a, name))
		return;
	struct desk_drill *x = find(d, name, strlen(name));
	if (!x || x->st != D_RUNNING) {
		refuse(d, j, op, TN_EUNKNOWN, "no running drill \"%s\" (%s)", name,
		       x ? state_names[x->st] : "never started here");
		return;
	}
	if (a->events || a->tick) {
		refuse(d, j, op, TN_ESCHEMA, "%s: takes drill and end", op);
		return;
	}
	if (a->end && !as_time(a->end, &end)) {
		refuse(d, j, op, TN_ESCHEMA,
		       "%s: end: expected the drill's last time, integer microseconds since the "
		       "epoch",
		       op);
		return;
	}
	struct tn__frame *f = frame_or_busy(d, j, op);
	if (!f)
		return;
	if (!audit_rec(f, a->actor, "drill.stop", name, "stopped by a planner") ||
	    !drill_rec(f, name, "stop", a->actor, NULL, end, a->end != NULL)) {
		d->frames[d->n_free++] = f;
		refuse(d, j, op, TN_EUNAVAILABLE, "out of memory; retry later");
		return;
	}
	submit(d, f, j, P_STOP, name);
	*queued = true;
}

static void op_status(struct tn__desk *d, struct tn__alerts_job *j,
		      const struct tn__desk_args *a)
{
	char name[TN__DRILL_NAME_MAX + 1];
	msgpack_packer pk;

	if (!drill_name(d, j, "drill_status", a, name))
		return;
	const struct desk_drill *x = find(d, name, strlen(name));
	reply_ok_head(&pk, j, "drill_status", name, 4);
	pack_str(&pk, "state", 5);
	const char *st = x ? state_names[x->st] : "unknown";
	pack_str(&pk, st, strlen(st));
	pack_str(&pk, "events", 6);
	msgpack_pack_uint64(&pk, x ? x->events : 0);
	pack_str(&pk, "last_seq", 8);
	msgpack_pack_uint64(&pk, x ? x->last_seq : 0);
	pack_str(&pk, "incidents", 9);
	msgpack_pack_uint64(&pk, x ? x->incidents : 0);
	answer(d, j);
}

void tn__desk_request(struct tn__desk *d, struct tn__alerts_job *j, const char *op,
		      const struct tn__desk_args *a, bool *queued)
{
	d->in_request = true;
	if (strcmp(op, "drill_status") == 0)
		op_status(d, j, a);
	else if (!a->planner)
		refuse(d, j, op, TN_EFORBIDDEN,
		       "%s: only a planner's key may run drills (tocsin planner add)", op);
	else if (strcmp(op, "drill_start") == 0)
		op_start(d, j, a, queued);
	else if (strcmp(op, "drill_events") == 0)
		op_events(d, j, a, queued);
	else
		op_stop(d, j, a, queued);
	d->in_request = false;
}

void tn__desk_job_done(struct tn__desk *d, struct tn__alerts_job *j)
{
	if (j->kind == TN__JOB_DRILL_NEW) {
		start_journal(d, j);
		return;
	}
	/* TN__JOB_DRILL_STOPPED: the desk's own; a failure leaves stopped_at NULL */
	if (j->rc != 0)
		tn_log_limited(&d->log, 1, TN_LOG_WARN, "drill stop time not stored",
			       "drill=%s error=\"%s\"", j->stream, tn_strerror(j->rc));
	j->reply.len = 0;
	j->n_env = 0; /* nothing to answer */
	answer(d, j);
}

void tn__desk_committed(struct tn__desk *d)
{
	struct tn__frame *f;
	while ((f = tn__ring_pop(d->o.from_commit)) != NULL) {
		struct pending *p = &d->fifo[d->head];
		if (d->n_fifo == 0 || p->f != f) {
			/* a frame out of order: never expected; it goes back to the pool */
			tn_error("drill desk: frame back out of order", NULL);
			d->frames[d->n_free++] = f;
			continue;
		}
		d->head = (d->head + 1) % TN__DESK_FRAMES;
		d->n_fifo--;
		struct tn__alerts_job *j = p->j;
		struct desk_drill *x = find(d, p->drill, strlen(p->drill));
		const char *op = p->kind == P_START ? "drill_start"
				 : p->kind == P_STOP ? "drill_stop" : "drill_events";
		bool durable = f->result == 0 && f->n_appended == f->n_recs;
		d->frames[d->n_free++] = f;
		if (!durable) {
			if (p->kind == P_START && x && x->st == D_STARTING)
				x->st = D_ENDED;
			refuse(d, j, op, TN_EUNAVAILABLE,
			       "the journal refused the drill's records (full?); retry later");
			continue;
		}
		msgpack_packer pk;
		if (p->kind == P_START) {
			if (x && x->st == D_STARTING)
				x->st = D_RUNNING;
			ck_pr_inc_64(&d->st.started);
			tn_info("drill started", "drill=%s planner=%s", p->drill, j->console);
			reply_ok_head(&pk, j, op, p->drill, 0);
		} else if (p->kind == P_STOP) {
			if (x && x->st == D_RUNNING)
				x->st = D_STOPPING;
			ck_pr_inc_64(&d->st.stopped);
			tn_info("drill stopped", "drill=%s planner=%s", p->drill, j->console);
			struct tn__alerts_job *sj = d->o.job(d->o.host);
			if (sj) {
				sj->kind = TN__JOB_DRILL_STOPPED;
				snprintf(sj->stream, sizeof sj->stream, "%s", p->drill);
				d->o.to_pg(d->o.host, sj);
			}
			reply_ok_head(&pk, j, op, p->drill, 0);
		} /* P_EVENTS: the reply was made with the request */
		answer(d, j);
	}
}

/* ---- what the journal says ---------------------------------------------------- */

void tn__desk_journal(struct tn__desk *d, const struct tn_journal_record *rec,
		      msgpack_zone *zone)
{
	msgpack_object o;
	size_t off = 0;

	msgpack_zone_clear(zone);
	if (tn_wire_scan(rec->payload, rec->len, 6, rec->len, NULL, 0) != 0 ||
	    msgpack_unpack(rec->payload, rec->len, &off, zone, &o) != MSGPACK_UNPACK_SUCCESS ||
	    o.type != MSGPACK_OBJECT_ARRAY || o.via.array.size != 5 ||
	    o.via.array.ptr[0].type != MSGPACK_OBJECT_STR ||
	    o.via.array.ptr[1].type != MSGPACK_OBJECT_STR) {
		tn_log_limited(&d->log, 1, TN_LOG_ERROR, "drill record undecodable",
			       "offset=%" PRIu64, rec->offset);
		return;
	}
	const msgpack_object *f = o.via.array.ptr;
	const char *name = f[0].via.str.ptr, *op = f[1].via.str.ptr;
	size_t len = f[0].via.str.size, oplen = f[1].via.str.size;
	if (!name_ok(name, len))
		return;
	struct desk_drill *x = find(d, name, len);
	if (oplen == 5 && memcmp(op, "start", 5) == 0) {
		if (!x)
			x = add(d, name, len, D_RUNNING); /* read back at start */
		else if (x->st == D_STARTING)
			x->st = D_RUNNING;
		return;
	}
	if (!x)
		return; /* forgotten, or started before what the journal holds */
	if (oplen == 5 && memcmp(op, "event", 5) == 0) {
		x->events++;
	} else if (oplen == 4 && memcmp(op, "stop", 4) == 0) {
		if (x->st == D_RUNNING)
			x->st = D_STOPPING;
	} else if (oplen == 5 && memcmp(op, "ended", 5) == 0) {
		x->st = D_ENDED;
		if (f[4].type == MSGPACK_OBJECT_POSITIVE_INTEGER && f[4].via.u64 > x->last_seq)
			x->last_seq = f[4].via.u64;
	}
}

void tn__desk_change(struct tn__desk *d, const char *name, size_t len, uint64_t seq,
		     uint32_t rev)
{
	struct desk_drill *x = find(d, name, len);
	if (!x)
		return;
	if (seq > x->last_seq)
		x->last_seq = seq;
	x->incidents += rev == 1;
}

bool tn__desk_last_seq(const struct tn__desk *d, const char *name, uint64_t *seq)
{
	const struct desk_drill *x = find(d, name, strlen(name));
	if (!x)
		return false;
	*seq = x->last_seq;
	return true;
}

/* ---- set-up --------------------------------------------------------------------- */

int tn__desk_new(const struct tn__desk_opts *o, struct tn__desk **out)
{
	if (!o->max_active || !o->to_commit || !o->from_commit)
		return TN_EINVAL;
	struct tn__desk *d = calloc(1, sizeof *d);
	if (!d)
		return TN_ENOMEM;
	d->o = *o;
	if (tn_wire_decoder_new(&d->dec) != 0) {
		free(d);
		return TN_ENOMEM;
	}
	for (; d->n_free < TN__DESK_FRAMES; d->n_free++)
		if (!(d->frames[d->n_free] = calloc(1, sizeof *d->frames[0]))) {
			tn__desk_free(d);
			return TN_ENOMEM;
		}
	*out = d;
	return 0;
}

void tn__desk_free(struct tn__desk *d)
{
	struct tn__frame *f;
	if (!d)
		return;
	for (size_t i = 0; i < d->n_free; i++)
		tn__frame_free(d->frames[i]);
	for (size_t i = 0; i < d->n_fifo; i++)
		tn__frame_free(d->fifo[(d->head + i) % TN__DESK_FRAMES].f);
	while ((f = tn__ring_pop(d->o.from_commit)) != NULL)
		(void)f; /* already counted among the fifo's */
	tn_wire_decoder_free(d->dec);
	free(d);
}

void tn__desk_stats(const struct tn__desk *d, struct tn__desk_stats *out)
{
	out->started = ck_pr_load_64(&d->st.started);
	out->stopped = ck_pr_load_64(&d->st.stopped);
	out->events = ck_pr_load_64(&d->st.events);
	out->refused = ck_pr_load_64(&d->st.refused);
	out->busy = ck_pr_load_64(&d->st.busy);
	out->forgotten = ck_pr_load_64(&d->st.forgotten);
}
