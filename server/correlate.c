/* correlate.c - the correlator thread: journal in, engine, CHANGE records out (correlate.h). */
#include "correlate.h"

#include <ck_pr.h>
#include <inttypes.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "journal.h"
#include "log.h"
#include "tocsin/error.h"
#include "wire.h"
#include "thread.h"

#define FRAME_FLUSH_BYTES (256u << 10) /* submit a frame of revisions past this */
#define IDLE_SLEEP_NS (2 * 1000000L)
#define SCAN_DEPTH 6

/* "stream/incident" -> highest rev already journaled (start-up only) */
#define SENT_KEY_LEN (TN__DRILL_NAME_MAX + 1 + TN_INCIDENT_ID_LEN)
struct sent_map {
	char (*ids)[SENT_KEY_LEN + 1];
	uint32_t *revs;
	size_t cap, n;
};

/* Drill mode: a graph shared by the drills started while it was current. */
struct graph_ref {
	struct tn_graph *g;
	unsigned refs; /* drills using it, + 1 while it is the current graph */
};

/* Drill mode: one drill ever seen in the journal (ended ones keep their
 * name and seq: a name is never used twice). */
struct drill {
	char name[TN__DRILL_NAME_MAX + 1];
	struct tn_corr *engine; /* NULL once ended */
	struct graph_ref *gr;
	uint64_t seq;           /* the stream's last seq journaled */
	int64_t max_us;         /* its latest event time: the end when a stop gives none */
	bool ended_journaled;   /* the first pass found its "ended" record */
};

struct tn_correlate {
	struct tn_correlate_opts o;
	struct tn_corr *engine; /* live mode */
	struct tn_graph *graph; /* live mode: the engine's; drill mode: the current one */
	struct graph_ref *gr;   /* drill mode: the current graph's reference */
	struct drill *drills;   /* drill mode */
	size_t n_drills, cap_drills;
	struct tn__ring graph_ring;
	struct tn_journal_reader *rd;
	struct tn_wire_decoder *dec;
	msgpack_zone zone;
	struct sent_map sent;
	uint64_t seq;         /* the last alert seq journaled (the next is seq + 1) */
	uint64_t rebuild_end; /* journal end when we started: below it, rebuilding */

	struct tn__frame **pool;
	size_t pool_free;
	unsigned in_flight;
	struct tn__frame *cur; /* frame being filled, or NULL */

	pthread_t thread;
	bool started;
	atomic_int stop;
	int64_t deadline_ns;
	struct tn_log_slot log_bad;
	struct tn_correlate_stats st; /* ck_pr writes, read by stats */
};

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- the start-up map of revisions already sent ----------------------------- */

static uint64_t id_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a: our own ids, not peer input */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static size_t sent_slot(const struct sent_map *m, const char *id)
{
	size_t i = (size_t)id_hash(id) & (m->cap - 1);
	while (m->ids[i][0] && strcmp(m->ids[i], id) != 0)
		i = (i + 1) & (m->cap - 1);
	return i;
}

static int sent_put(struct sent_map *m, const char *id, uint32_t rev)
{
	if (strlen(id) > SENT_KEY_LEN)
		return 0;
	if ((m->n + 1) * 2 > m->cap) {
		struct sent_map g = {.cap = m->cap ? m->cap * 2 : 1024};
		g.ids = calloc(g.cap, sizeof *g.ids);
		g.revs = calloc(g.cap, sizeof *g.revs);
		if (!g.ids || !g.revs) {
			free(g.ids);
			free(g.revs);
			return TN_ENOMEM;
		}
		for (size_t i = 0; i < m->cap; i++)
			if (m->ids[i][0]) {
				size_t j = sent_slot(&g, m->ids[i]);
				memcpy(g.ids[j], m->ids[i], sizeof g.ids[j]);
				g.revs[j] = m->revs[i];
				g.n++;
			}
		free(m->ids);
		free(m->revs);
		*m = g;
	}
	size_t i = sent_slot(m, id);
	if (!m->ids[i][0]) {
		strcpy(m->ids[i], id);
		m->n++;
	}
	if (rev > m->revs[i])
		m->revs[i] = rev;
	return 0;
}

static uint32_t sent_get(const struct sent_map *m, const char *id)
{
	if (!m->cap)
		return 0;
	size_t i = sent_slot(m, id);
	return m->ids[i][0] ? m->revs[i] : 0;
}

static void sent_free(struct sent_map *m)
{
	free(m->ids);
	free(m->revs);
	*m = (struct sent_map){0};
}

/* ---- drill mode: the drills and their graphs ------------------------------------ */

static void gref_put(struct graph_ref *gr)
{
	if (gr && --gr->refs == 0) {
		tn_graph_free(gr->g);
		free(gr);
	}
}

static struct drill *drill_find(struct tn_correlate *c, const char *name, size_t len)
{
	for (size_t i = 0; i < c->n_drills; i++)
		if (strlen(c->drills[i].name) == len && memcmp(c->drills[i].name, name, len) == 0)
			return &c->drills[i];
	return NULL;
}

/* The drill of this name, added when new; NULL on a bad name or no memory. */
static struct drill *drill_get(struct tn_correlate *c, const char *name, size_t len)
{
	struct drill *d = drill_find(c, name, len);
	if (d || len == 0 || len > TN__DRILL_NAME_MAX)
		return d;
	if (c->n_drills == c->cap_drills) {
		size_t cap = c->cap_drills ? c->cap_drills * 2 : 8;
		struct drill *n = realloc(c->drills, cap * sizeof *n);
		if (!n)
			return NULL;
		c->drills = n;
		c->cap_drills = cap;
	}
	d = &c->drills[c->n_drills++];
	*d = (struct drill){0};
	memcpy(d->name, name, len);
	d->name[len] = 0;
	return d;
}

static void drill_end(struct drill *d)
{
	tn_corr_free(d->engine);
	d->engine = NULL;
	gref_put(d->gr);
	d->gr = NULL;
}

int tn_correlate_body_seq(const char *body, size_t len, uint64_t *seq)
{
	static const char head[] = "{\"seq\":";
	size_t i = sizeof head - 1;
	uint64_t v = 0;

	if (len <= i || memcmp(body, head, i) != 0)
		return TN_ENOTFOUND;
	if (body[i] < '1' || body[i] > '9')
		return TN_ECORRUPT;
	for (; i < len && body[i] >= '0' && body[i] <= '9'; i++) {
		uint64_t d = (uint64_t)(body[i] - '0');
		if (v > UINT64_MAX / 10 || (v == UINT64_MAX / 10 && d > UINT64_MAX % 10))
			return TN_ECORRUPT;
		v = v * 10 + d;
	}
	if (i >= len || body[i] != ',')
		return TN_ECORRUPT;
	*seq = v;
	return 0;
}

/* ---- decoding journal records ------------------------------------------------ */

static bool unpack(struct tn_correlate *c, const struct tn_journal_record *rec,
		   msgpack_object *o)
{
	size_t off = 0;
	if (tn_wire_scan(rec->payload, rec->len, SCAN_DEPTH, rec->len, NULL, 0) != 0)
		return false;
	msgpack_zone_clear(&c->zone);
	return msgpack_unpack(rec->payload, rec->len, &off, &c->zone, o) == MSGPACK_UNPACK_SUCCESS;
}

bool tn__mp_i64(const msgpack_object *o, int64_t *v)
{
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX)
		*v = (int64_t)o->via.u64;
	else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		*v = o->via.i64;
	else
		return false;
	return true;
}

int tn_correlate_change_decode(const void *payload, size_t len, msgpack_zone *zone,
			       struct tn_change_rec *out)
{
	msgpack_object o;
	const msgpack_object *f;
	size_t off = 0;
	int64_t rev;

	msgpack_zone_clear(zone);
	if (tn_wire_scan(payload, len, SCAN_DEPTH, len, NULL, 0) != 0 ||
	    msgpack_unpack(payload, len, &off, zone, &o) != MSGPACK_UNPACK_SUCCESS ||
	    o.type != MSGPACK_OBJECT_ARRAY || o.via.array.size != 8)
		return TN_ECORRUPT;
	f = o.via.array.ptr;
	for (int i = 0; i < 8; i++)
		if ((i == 0 || i == 1 || i == 3 || i == 5 || i == 7) && f[i].type != MSGPACK_OBJECT_STR)
			return TN_ECORRUPT;
	if (f[1].via.str.size > TN_INCIDENT_ID_LEN || !tn__mp_i64(&f[2], &rev) || rev < 1 ||
	    rev > UINT32_MAX || !tn__mp_i64(&f[4], &out->priority) ||
	    !tn__mp_i64(&f[6], &out->updated_us))
		return TN_ECORRUPT;
	out->stream = f[0].via.str.ptr;
	out->stream_len = f[0].via.str.size;
	out->incident = f[1].via.str.ptr;
	out->incident_len = f[1].via.str.size;
	out->rev = (uint32_t)rev;
	out->msg = f[3].via.str.ptr;
	out->msg_len = f[3].via.str.size;
	out->area = f[5].via.str.ptr;
	out->area_len = f[5].via.str.size;
	out->body = f[7].via.str.ptr;
	out->body_len = f[7].via.str.size;
	return 0;
}

static bool is_live(const char *stream, size_t len)
{
	return len == 4 && memcmp(stream, "live", 4) == 0;
}

/* A DRILL record's fields: [drill, op, at_us, actor, arg]. False when malformed. */
struct drill_rec {
	const char *drill, *op;
	uint32_t drill_len, op_len;
	int64_t at_us;
	const msgpack_object *arg;
};

static bool drill_rec_of(const msgpack_object *o, struct drill_rec *d)
{
	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 5)
		return false;
	const msgpack_object *f = o->via.array.ptr;
	if (f[0].type != MSGPACK_OBJECT_STR || f[1].type != MSGPACK_OBJECT_STR ||
	    !tn__mp_i64(&f[2], &d->at_us))
		return false;
	d->drill = f[0].via.str.ptr;
	d->drill_len = f[0].via.str.size;
	d->op = f[1].via.str.ptr;
	d->op_len = f[1].via.str.size;
	d->arg = &f[4];
	return true;
}

static bool op_is(const struct drill_rec *d, const char *op)
{
	return d->op_len == strlen(op) && memcmp(d->op, op, d->op_len) == 0;
}

/* First pass: which revisions, and which alert seqs (per stream), are
 * already in the journal; in drill mode also which drills have ended. */
static int scan_sent(struct tn_correlate *c)
{
	struct tn_journal_reader *r;
	struct tn_journal_record rec;
	struct tn_change_rec ch;
	char key[SENT_KEY_LEN + 1];
	uint64_t seq;
	int rc;

	if ((rc = tn_journal_reader_open(c->o.journal_dir, 0, &r)) != 0)
		return rc;
	uint64_t limit = ck_pr_load_64(c->o.durable);
	while ((rc = tn_journal_reader_next(r, limit, &rec)) == 1) {
		if (c->o.drills && rec.type == TN_JREC_DRILL) {
			msgpack_object o;
			struct drill_rec d;
			struct drill *dr;
			if (unpack(c, &rec, &o) && drill_rec_of(&o, &d) && op_is(&d, "ended") &&
			    (dr = drill_get(c, d.drill, d.drill_len)) != NULL)
				dr->ended_journaled = true;
			continue;
		}
		if (rec.type != TN_JREC_CHANGE ||
		    tn_correlate_change_decode(rec.payload, rec.len, &c->zone, &ch) != 0)
			continue;
		/* each correlator knows its own streams only */
		if (is_live(ch.stream, ch.stream_len) == c->o.drills ||
		    ch.stream_len > TN__DRILL_NAME_MAX)
			continue;
		int kn = snprintf(key, sizeof key, "%.*s/%.*s", (int)ch.stream_len, ch.stream,
				  (int)ch.incident_len, ch.incident);
		if (kn < 0 || (size_t)kn >= sizeof key)
			continue;
		if ((rc = sent_put(&c->sent, key, ch.rev)) != 0)
			break;
		if (tn_correlate_body_seq(ch.body, ch.body_len, &seq) != 0)
			continue;
		if (!c->o.drills) {
			if (seq > c->seq)
				c->seq = seq;
		} else {
			struct drill *dr = drill_get(c, ch.stream, ch.stream_len);
			if (!dr) {
				rc = TN_ENOMEM;
				break;
			}
			if (seq > dr->seq)
				dr->seq = seq;
		}
	}
	c->rebuild_end = limit;
	tn_journal_reader_close(r);
	return rc < 0 ? rc : 0;
}

/* ---- output ------------------------------------------------------------------ */

static void pack_str(msgpack_packer *pk, const char *s, size_t n)
{
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static void reclaim(struct tn_correlate *c)
{
	struct tn__frame *f;
	while ((f = tn__ring_pop(c->o.from_commit)) != NULL) {
		if (f->result != 0)
			tn_error("incident revisions not journaled", "records=%zu error=\"%s\"",
				 f->n_recs - f->n_appended, tn_strerror(f->result));
		c->pool[c->pool_free++] = f;
		c->in_flight--;
	}
}

static void submit(struct tn_correlate *c)
{
	if (!c->cur)
		return;
	(void)tn__ring_push(c->o.to_commit, c->cur); /* holds the whole pool */
	c->cur = NULL;
	c->in_flight++;
	c->o.wake_commit(c->o.wake_ud);
}

/* A frame to add revisions to; waits for one when all are with the committer
 * (backpressure: the correlator falls behind the journal, nothing is lost). */
static struct tn__frame *frame(struct tn_correlate *c)
{
	if (c->cur && c->cur->recbuf.len >= FRAME_FLUSH_BYTES)
		submit(c);
	if (c->cur)
		return c->cur;
	reclaim(c);
	while (c->pool_free == 0) {
		struct timespec ts = {0, 200000};
		ck_pr_inc_64(&c->st.pool_stalls);
		nanosleep(&ts, NULL);
		reclaim(c);
	}
	c->cur = c->pool[--c->pool_free];
	tn__frame_reset(c->cur);
	return c->cur;
}

/* The engine's revisions as CHANGE records of `stream`, each with the
 * stream's next seq; at start, not those the journal already has. */
static void emit_changes(struct tn_correlate *c, struct tn_corr *engine, const char *stream,
			 uint64_t *seq, bool rebuilding)
{
	const struct tn_change *ch;
	size_t n = tn_corr_changes(engine, &ch);
	size_t stream_len = strlen(stream);
	char key[SENT_KEY_LEN + 1];

	for (size_t i = 0; i < n; i++) {
		/* the key only at start: the map is empty once rebuilt */
		if (rebuilding && (snprintf(key, sizeof key, "%s/%s", stream, ch[i].incident),
				   sent_get(&c->sent, key) >= ch[i].rev)) {
			ck_pr_inc_64(&c->st.changes_suppressed);
			continue;
		}
		struct tn__frame *f = frame(c);
		msgpack_packer pk;
		struct tn__rec *r = tn__frame_rec_begin(f, TN_JREC_CHANGE, &pk);
		if (!r) {
			tn_error("out of memory packing an incident revision", "incident=%s",
				 ch[i].incident);
			continue;
		}
		const char *msg = tn_change_msg_name(ch[i].msg);
		msgpack_pack_array(&pk, 8);
		pack_str(&pk, stream, stream_len);
		pack_str(&pk, ch[i].incident, strlen(ch[i].incident));
		msgpack_pack_uint32(&pk, ch[i].rev);
		pack_str(&pk, msg, strlen(msg));
		msgpack_pack_int(&pk, ch[i].priority);
		pack_str(&pk, ch[i].area, strlen(ch[i].area));
		msgpack_pack_int64(&pk, ch[i].updated_us);
		/* The stored body is the alert's JSON object, its seq first:
		 * `{"seq":N,` + the engine's body. */
		char head[40];
		int hn = snprintf(head, sizeof head, "{\"seq\":%" PRIu64 ",", *seq + 1);
		msgpack_pack_str(&pk, (size_t)hn + ch[i].body_len);
		msgpack_pack_str_body(&pk, head, (size_t)hn);
		msgpack_pack_str_body(&pk, ch[i].body, ch[i].body_len);
		(*seq)++;
		tn__frame_rec_end(f, r);
		ck_pr_inc_64(&c->st.changes);
	}
}

/* Drill mode: a stopped drill's "ended" record, after its last revision:
 * [drill, "ended", at_us, nil, last seq]. */
static void emit_ended(struct tn_correlate *c, const struct drill *d, int64_t at_us)
{
	struct tn__frame *f = frame(c);
	msgpack_packer pk;
	struct tn__rec *r = tn__frame_rec_begin(f, TN_JREC_DRILL, &pk);

	if (!r) {
		tn_error("out of memory packing a drill's end", "drill=%s", d->name);
		return;
	}
	msgpack_pack_array(&pk, 5);
	pack_str(&pk, d->name, strlen(d->name));
	pack_str(&pk, "ended", 5);
	msgpack_pack_int64(&pk, at_us);
	msgpack_pack_nil(&pk);
	msgpack_pack_uint64(&pk, d->seq);
	tn__frame_rec_end(f, r);
}

/* ---- input ------------------------------------------------------------------- */

static void bad_record(struct tn_correlate *c, const struct tn_journal_record *rec,
		       const char *why)
{
	ck_pr_inc_64(&c->st.undecodable);
	tn_log_limited(&c->log_bad, 1, TN_LOG_ERROR, "journal record not fed to the correlator",
		       "offset=%" PRIu64 " type=%u why=\"%s\"", rec->offset, (unsigned)rec->type,
		       why);
}

/* Drill mode: one DRILL record (journal.h) to its drill's engine. NULL, or
 * why it could not be. */
static const char *drill_step(struct tn_correlate *c, const struct tn_journal_record *rec,
			      bool rebuilding)
{
	msgpack_object o;
	struct drill_rec d;
	struct drill *dr;
	int64_t us;

	if (!unpack(c, rec, &o) || !drill_rec_of(&o, &d))
		return "not [drill, op, at_us, actor, arg]";
	if (op_is(&d, "ended"))
		return NULL; /* our own */
	if (!(dr = drill_get(c, d.drill, d.drill_len)))
		return "bad drill name, or out of memory";
	if (op_is(&d, "start")) {
		if (dr->engine)
			return "drill started twice";
		if (tn_corr_new(&c->o.engine, c->graph, dr->name, &dr->engine) != 0)
			return "cannot make the drill's engine";
		dr->max_us = INT64_MIN;
		/* the drill keeps the registry it started with, to its end */
		dr->gr = c->gr;
		if (dr->gr)
			dr->gr->refs++;
		ck_pr_inc_64(&c->st.drills_started);
		ck_pr_inc_64(&c->st.drills_active);
		return NULL;
	}
	if (!dr->engine)
		return "drill not running";
	if (op_is(&d, "event")) {
		struct tn_wire_item item;
		if (tn_wire_validate_event(c->dec, d.arg, NULL, &item) != 0)
			return "drill event does not validate";
		tn_corr_event(dr->engine, &item.ev);
		if (item.ev.time_us > dr->max_us)
			dr->max_us = item.ev.time_us;
		ck_pr_inc_64(&c->st.events);
		emit_changes(c, dr->engine, dr->name, &dr->seq, rebuilding);
	} else if (op_is(&d, "tick")) {
		if (!tn__mp_i64(d.arg, &us))
			return "drill tick: expected an integer";
		tn_corr_advance(dr->engine, us);
		ck_pr_inc_64(&c->st.ticks);
		emit_changes(c, dr->engine, dr->name, &dr->seq, rebuilding);
	} else if (op_is(&d, "stop")) {
		/* The end of input: every window closes, as at the end of an
		 * offline replay (`end`: the scenario's last time, which the
		 * planner's tool knows; or the drill's last event time). */
		if (!tn__mp_i64(d.arg, &us))
			us = dr->max_us;
		tn_corr_finish(dr->engine, us);
		emit_changes(c, dr->engine, dr->name, &dr->seq, rebuilding);
		if (!(rebuilding && dr->ended_journaled))
			emit_ended(c, dr, d.at_us);
		drill_end(dr);
		ck_pr_inc_64(&c->st.drills_ended);
		ck_pr_dec_64(&c->st.drills_active);
		tn_info("drill ended", "drill=%s last_seq=%" PRIu64 " rebuilding=%d", dr->name,
			dr->seq, rebuilding);
	} else {
		return "unknown drill op";
	}
	return NULL;
}

static void feed_drill(struct tn_correlate *c, const struct tn_journal_record *rec,
		       bool rebuilding)
{
	const char *why = drill_step(c, rec, rebuilding);
	if (why)
		bad_record(c, rec, why);
}

static void feed(struct tn_correlate *c, const struct tn_journal_record *rec)
{
	msgpack_object o;
	int64_t us;

	switch (rec->type) {
	case TN_JREC_EVENT:
		if (unpack(c, rec, &o) && o.type == MSGPACK_OBJECT_ARRAY &&
		    o.via.array.size == 3) {
			struct tn_wire_item item;
			if (tn_wire_validate_event(c->dec, &o.via.array.ptr[2], NULL, &item) == 0) {
				tn_corr_event(c->engine, &item.ev);
				ck_pr_inc_64(&c->st.events);
				return;
			}
		}
		break;
	case TN_JREC_TICK:
		if (unpack(c, rec, &o) && o.type == MSGPACK_OBJECT_ARRAY &&
		    o.via.array.size == 1 && tn__mp_i64(&o.via.array.ptr[0], &us)) {
			tn_corr_advance(c->engine, us);
			ck_pr_inc_64(&c->st.ticks);
			return;
		}
		break;
	default:
		return; /* our own revisions, rejects, audit, drills: not input */
	}
	bad_record(c, rec, "undecodable");
}

static void swap_graph(struct tn_correlate *c)
{
	struct tn_graph *g, *newest = NULL;
	while ((g = tn__ring_pop(&c->graph_ring)) != NULL) {
		tn_graph_free(newest);
		newest = g;
	}
	if (!newest)
		return;
	if (c->o.drills) {
		/* Running drills keep theirs; new ones get this one. */
		struct graph_ref *gr = calloc(1, sizeof *gr);
		if (!gr) {
			tn_error("out of memory switching to the new asset graph", NULL);
			tn_graph_free(newest);
			return;
		}
		gr->g = newest;
		gr->refs = 1;
		gref_put(c->gr);
		c->gr = gr;
		c->graph = newest;
		ck_pr_inc_64(&c->st.graph_swaps);
		return;
	}
	if (tn_corr_set_graph(c->engine, newest) != 0) {
		tn_error("cannot switch to the new asset graph; keeping the old one", NULL);
		tn_graph_free(newest);
		return;
	}
	/* The engine no longer refers to the old graph: this thread owned it. */
	tn_graph_free(c->graph);
	c->graph = newest;
	ck_pr_inc_64(&c->st.graph_swaps);
	tn_info("asset graph swapped in", "assets=%zu dependencies=%zu", tn_graph_size(newest),
		tn_graph_edges(newest));
}

static void *correlate_main(void *arg)
{
	struct tn_correlate *c = arg;
	/* Drills yield the CPU to live work (design §6: live alerts are never
	 * affected), and the live engine to ingest (acks first: it holds every
	 * report lateness_s anyway). */
	tn__thread_setup(c->o.drills ? "tn-drills" : "tn-correlate", c->o.nice);
	struct tn_journal_record rec;
	bool announced = false;
	int rc;

	for (;;) {
		uint64_t limit = ck_pr_load_64(c->o.durable);
		int n = 0;
		swap_graph(c);
		reclaim(c);
		while (n < 4096 && (rc = tn_journal_reader_next(c->rd, limit, &rec)) == 1) {
			bool rebuilding = rec.offset < c->rebuild_end;
			if (c->o.drills) {
				if (rec.type == TN_JREC_DRILL)
					feed_drill(c, &rec, rebuilding);
			} else {
				feed(c, &rec);
				emit_changes(c, c->engine, "live", &c->seq, rebuilding);
			}
			ck_pr_inc_64(&c->st.records);
			n++;
		}
		uint64_t at = tn_journal_reader_offset(c->rd);
		if (c->engine) {
			struct tn_corr_stats es;
			tn_corr_stats(c->engine, &es);
			ck_pr_store_64(&c->st.buffered, es.buffered);
		}
		ck_pr_store_64(&c->st.offset, at);
		ck_pr_store_64(c->o.consumed, at);
		if (!announced && at >= c->rebuild_end) {
			announced = true;
			sent_free(&c->sent);
			ck_pr_store_8((uint8_t *)&c->st.rebuilt, 1);
			tn_info("correlator caught up with the journal", "offset=%" PRIu64 " drills=%d",
				at, c->o.drills);
		}
		/* A stop is bounded by its deadline even amid a backlog: what is
		 * not read now stays in the journal for the next start. */
		bool stopping = atomic_load(&c->stop);
		if (stopping && mono_ns() >= c->deadline_ns) {
			submit(c);
			break;
		}
		if (n > 0 && rc == 1)
			continue; /* more to read at once */
		if (rc < 0) {
			tn_log_limited(&c->log_bad, 1, TN_LOG_ERROR, "correlator cannot read the journal",
				       "offset=%" PRIu64 " error=\"%s\"", at, tn_strerror(rc));
		}
		submit(c);
		if (stopping && at >= ck_pr_load_64(c->o.durable))
			break;
		struct timespec ts = {0, IDLE_SLEEP_NS};
		nanosleep(&ts, NULL);
	}
	/* Wait (bounded) for the last revisions to be journaled. */
	while (c->in_flight && mono_ns() < c->deadline_ns + 1000000000) {
		struct timespec ts = {0, 500000};
		nanosleep(&ts, NULL);
		reclaim(c);
	}
	return NULL;
}

/* ---- set-up ------------------------------------------------------------------ */

int tn_correlate_start(const struct tn_correlate_opts *o, struct tn_correlate **out)
{
	struct tn_correlate *c = calloc(1, sizeof *c);
	int rc = TN_ENOMEM;
	if (!c)
		return TN_ENOMEM;
	c->o = *o;
	c->graph = o->graph;
	atomic_init(&c->stop, 0);
	if (tn__ring_init(&c->graph_ring, 4) != 0 || !msgpack_zone_init(&c->zone, 8192))
		goto fail;
	if (tn_wire_decoder_new(&c->dec) != 0)
		goto fail;
	c->pool = calloc(o->pool, sizeof *c->pool);
	if (!c->pool)
		goto fail;
	for (unsigned i = 0; i < o->pool; i++) {
		if (!(c->pool[i] = calloc(1, sizeof **c->pool)))
			goto fail;
		c->pool_free++;
	}
	if (o->drills) {
		if (c->graph) {
			if (!(c->gr = calloc(1, sizeof *c->gr)))
				goto fail;
			c->gr->g = c->graph;
			c->gr->refs = 1;
		}
	} else if ((rc = tn_corr_new(&o->engine, c->graph, "live", &c->engine)) != 0) {
		goto fail;
	}
	if ((rc = scan_sent(c)) != 0 ||
	    (rc = tn_journal_reader_open(o->journal_dir, 0, &c->rd)) != 0)
		goto fail;
	if (o->seq_floor > c->seq)
		c->seq = o->seq_floor;
	tn_info("correlator rebuilding from the journal",
		"until=%" PRIu64 " sent_incidents=%zu last_seq=%" PRIu64 " drills=%d", c->rebuild_end,
		c->sent.n, c->seq, o->drills);
	if (pthread_create(&c->thread, NULL, correlate_main, c) != 0) {
		rc = TN_ENOMEM;
		goto fail;
	}
	c->started = true;
	*out = c;
	return 0;
fail:
	c->graph = NULL; /* the caller keeps it on failure */
	if (c->gr)
		c->gr->g = NULL;
	tn_correlate_stop(c, 0);
	return rc;
}

bool tn_correlate_publish_graph(void *ud, struct tn_graph *g)
{
	struct tn_correlate *c = ud;
	return tn__ring_push(&c->graph_ring, g);
}

void tn_correlate_stats(const struct tn_correlate *c, struct tn_correlate_stats *out)
{
	out->records = ck_pr_load_64(&c->st.records);
	out->events = ck_pr_load_64(&c->st.events);
	out->ticks = ck_pr_load_64(&c->st.ticks);
	out->changes = ck_pr_load_64(&c->st.changes);
	out->changes_suppressed = ck_pr_load_64(&c->st.changes_suppressed);
	out->undecodable = ck_pr_load_64(&c->st.undecodable);
	out->graph_swaps = ck_pr_load_64(&c->st.graph_swaps);
	out->pool_stalls = ck_pr_load_64(&c->st.pool_stalls);
	out->offset = ck_pr_load_64(&c->st.offset);
	out->buffered = ck_pr_load_64(&c->st.buffered);
	out->drills_started = ck_pr_load_64(&c->st.drills_started);
	out->drills_ended = ck_pr_load_64(&c->st.drills_ended);
	out->drills_active = ck_pr_load_64(&c->st.drills_active);
	out->rebuilt = ck_pr_load_8((const uint8_t *)&c->st.rebuilt) != 0;
}

void tn_correlate_stop(struct tn_correlate *c, int drain_ms)
{
	if (!c)
		return;
	if (c->started) {
		c->deadline_ns = mono_ns() + (int64_t)drain_ms * 1000000;
		atomic_store(&c->stop, 1);
		pthread_join(c->thread, NULL);
	}
	if (c->pool) {
		for (size_t i = 0; i < c->pool_free; i++)
			tn__frame_free(c->pool[i]);
		free(c->pool);
	}
	if (c->cur)
		tn__frame_free(c->cur);
	struct tn_graph *g;
	while (c->graph_ring.buf && (g = tn__ring_pop(&c->graph_ring)) != NULL)
		tn_graph_free(g);
	tn__ring_destroy(&c->graph_ring);
	tn_corr_free(c->engine);
	for (size_t i = 0; i < c->n_drills; i++)
		drill_end(&c->drills[i]);
	free(c->drills);
	if (c->o.drills)
		gref_put(c->gr); /* c->graph is the current ref's */
	else
		tn_graph_free(c->graph);
	tn_journal_reader_close(c->rd);
	tn_wire_decoder_free(c->dec);
	msgpack_zone_destroy(&c->zone);
	sent_free(&c->sent);
	free(c);
}
