/* alerts.c - the alerts thread: journal to PUB, the control ROUTER, consoles' ZAP (alerts.h). */
#include "alerts.h"

#include <ck_pr.h>
#include <errno.h>
#include <ev.h>
#include <inttypes.h>
#include <msgpack.h>
#include <pthread.h>
#include <search.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <zmq.h>

#include "alerts_int.h"
#include "assets_pg.h"
#include "assets_watch.h"
#include "correlate.h"
#include "hs_audit.h"
#include "journal.h"
#include "log.h"
#include "stat.h"
#include "tocsin/error.h"
#include "utf8.h"
#include "wire.h"
#include "zap.h"
#include "thread.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_DOMAIN "console" /* the control ROUTER's; each PUB's is its clearance's name */
#define CLEARANCES TN_SENS__COUNT
#define STREAM "live"
#define JOBS 64                 /* database jobs in flight */
#define AUDIT_RESERVE 16        /* jobs only requests may take: audits never starve them */
#define POLL_S 0.005            /* journal poll period */
#define PUB_LINGER_MS 500       /* at stop, at most, for the last alerts to leave */
#define READ_BURST 4096         /* journal records per poll */
#define CONTROL_MAX (64u << 10) /* bytes of a control request */
#define OPEN_MAX (1u << 20)     /* open incidents tracked */
#define SNAPSHOT_MAX 10000      /* incidents in a snapshot reply, the most urgent */
#define SCAN_DEPTH 6
#define OUTBOX_START_WAIT_MS 10000 /* at most, in all, for the outbox's queue at start */
/* ZMTP heartbeats: a console gone without a word (cable, crash of its host)
 * is disconnected and its queue freed after HEARTBEAT_TTL_MS */
#define SUBS_MAX 4096            /* subscribed connections tracked (alerts_subs.c) */
#define SUBS_SWEEP_NS 500000000LL /* how often ended keys are looked for */
#define HEARTBEAT_IVL_MS 10000
#define HEARTBEAT_TTL_MS 30000

#define STAT_INC(a, f) ck_pr_inc_64(&(a)->st.f)

/* An open incident: its latest alert and the highest rev acknowledged. */
struct open_inc {
	char incident[TN_INCIDENT_ID_LEN + 1];
	struct tn__alert *latest;
	uint32_t acked;       /* highest rev acknowledged; 0: none */
	/* escalation: its clock started at esc_from (journal time); level
	 * reached so far; stopped by an ack until a revision raises the
	 * priority above what was acknowledged */
	int64_t esc_from;
	unsigned esc_level;
	bool esc_stopped;
	uint8_t acked_priority;
	/* with a CAP outbox: (rev, updated) of its revisions so far, for the
	 * `references` of the next; at most TN_OUTBOX_REFS_MAX */
	struct tn__cap_ref *refs;
	uint32_t nrefs, refs_cap;
	struct open_inc *hnext; /* its chain in the lookup index */
};

struct tn_alerts {
	struct tn_alerts_opts o;
	char secret[TN_KEY_Z85_LEN + 1];
	bool insecure;

	void *ctx, *zap, *ctl;
	void *pub[CLEARANCES];     /* XPUB by clearance (enum tn_sensitivity); NULL: none */
	struct ev_loop *loop;
	ev_io zap_io, ctl_io, pub_io[CLEARANCES];
	struct tn__subs *subs;     /* who is subscribed: an ended key is cut off */
	int64_t subs_swept_ns;
	ev_timer poll;
	ev_async wake;

	struct tn_journal_reader *rd;
	msgpack_zone zone, req_zone;
	uint64_t rebuild_end;
	int64_t clock_us;          /* the journal's time: highest TICK or event time */
	bool escalating;           /* some priority has a deadline */

	struct tn__alert **recent; /* recent[seq % o.recent] */
	uint64_t first_seq;        /* oldest alert in recent (0: none) */
	uint64_t last_seq;
	void *open;                /* tsearch tree of struct open_inc */
	size_t n_open;
	/* the same incidents hashed by id: found in one probe on every
	 * revision, where the tree (kept for its order: escalations go out
	 * in incident order) took ~20 strcmps at a million open */
	struct open_inc **oh;
	size_t oh_cap; /* buckets, a power of two; 0 before the first */
	size_t n_refs;             /* CAP history entries of all open incidents */
	unsigned outbox_wait_ms;   /* waited at start for room in the outbox's queue */
	/* acks read from PostgreSQL at start, applied as incidents are loaded */
	struct tn__alerts_job *acked_job;

	struct tn_registry *consoles;
	struct tn__ring registry_ring;
	/* need to know: the official-sensitive ids (NULL: none loaded, every
	 * asset counts), a serial per set taken (alert bodies redacted by an
	 * older one are made again), the watcher that builds them */
	struct tn__sensset *sens;
	uint64_t sens_serial;
	struct tn__ring sens_ring;
	struct tn_assets_watch *assets;
	msgpack_zone red_zone;
	struct tn__ring settings_ring; /* main -> here: int[5] deadlines (reload) */
	struct tn__desk *desk; /* drills (alerts_drill.c); NULL: none */

	struct tn__alerts_job *jobs[JOBS]; /* free ones */
	struct tn__alerts_job busy;        /* answers "busy" when none is free */
	struct tn__bytes esc_buf;          /* an escalation's body, reused */
	size_t jobs_free;
	struct tn__ring to_pg, from_pg;
	struct tn__alerts_pg *pg;

	pthread_t thread;
	bool started;
	atomic_int stop;
	int64_t deadline_ns;
	struct tn_log_slot log_bad, log_zap, log_req;
	struct tn_alerts_stats st; /* ck_pr writes, read by stats */
};

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Keys expire by the wall clock (registry.h, not_after_us). */
static int64_t real_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static struct tn__alerts_job *job_get(struct tn_alerts *a, bool request)
{
	if (a->jobs_free <= (request ? 0 : AUDIT_RESERVE))
		return NULL;
	struct tn__alerts_job *j = a->jobs[--a->jobs_free];
	j->id.len = 0;
	j->reply.len = 0;
	j->n_env = 0;
	j->rc = 0;
	j->clearance = TN_SENS_PUBLIC; /* set by whoever serves a console's request */
	j->sens = NULL;
	return j;
}

static void sens_unref(struct tn__sensset *s)
{
	if (s && --s->refs == 0)
		tn__sensset_free(s);
}

static void job_put(struct tn_alerts *a, struct tn__alerts_job *j)
{
	sens_unref(j->sens);
	j->sens = NULL;
	free(j->acked);
	j->acked = NULL;
	j->n_acked = 0;
	a->jobs[a->jobs_free++] = j;
}

static void send_reply(struct tn_alerts *a, const struct tn__alerts_job *j);
static bool publish_graph(void *ud, struct tn_graph *g);

/* The drill desk's host callbacks (alerts_int.h). */
static void desk_reply(void *host, struct tn__alerts_job *j)
{
	if (j->n_env)
		send_reply(host, j);
}

static void desk_recycle(void *host, struct tn__alerts_job *j)
{
	job_put(host, j);
}

static void desk_to_pg(void *host, struct tn__alerts_job *j)
{
	struct tn_alerts *a = host;
	(void)tn__ring_push(&a->to_pg, j); /* holds every job */
}

static struct tn__alerts_job *desk_job(void *host)
{
	return job_get(host, false);
}

static void pack_str(msgpack_packer *pk, const char *s, size_t n)
{
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

/* ---- open incidents ------------------------------------------------------- */

static int cmp_open(const void *x, const void *y)
{
	const struct open_inc *p = x, *q = y;
	return strcmp(p->incident, q->incident);
}

static size_t open_hash(const char *id)
{
	uint64_t h = 14695981039346656037ull; /* FNV-1a */
	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 1099511628211ull;
	return (size_t)(h ^ h >> 32);
}

static struct open_inc *open_find(struct tn_alerts *a, const char *incident)
{
	if (!a->oh_cap)
		return NULL;
	struct open_inc *oi = a->oh[open_hash(incident) & (a->oh_cap - 1)];
	while (oi && strcmp(oi->incident, incident) != 0)
		oi = oi->hnext;
	return oi;
}

/* Add oi to the index, doubling it at one incident per bucket. False: no
 * memory for a first table (a failed doubling only lengthens chains). */
static bool open_index(struct tn_alerts *a, struct open_inc *oi)
{
	if (a->n_open + 1 > a->oh_cap) {
		size_t cap = a->oh_cap ? 2 * a->oh_cap : 1024;
		struct open_inc **t = calloc(cap, sizeof *t);
		if (t) {
			for (size_t i = 0; i < a->oh_cap; i++)
				for (struct open_inc *o = a->oh[i], *next; o; o = next) {
					next = o->hnext;
					size_t b = open_hash(o->incident) & (cap - 1);
					o->hnext = t[b];
					t[b] = o;
				}
			free(a->oh);
			a->oh = t;
			a->oh_cap = cap;
		} else if (!a->oh_cap) {
			return false;
		}
	}
	size_t b = open_hash(oi->incident) & (a->oh_cap - 1);
	oi->hnext = a->oh[b];
	a->oh[b] = oi;
	return true;
}

static void open_unindex(struct tn_alerts *a, struct open_inc *oi)
{
	struct open_inc **p = &a->oh[open_hash(oi->incident) & (a->oh_cap - 1)];
	while (*p && *p != oi)
		p = &(*p)->hnext;
	if (*p)
		*p = oi->hnext;
}

static uint32_t acked_at_start(struct tn_alerts *a, const char *incident)
{
	struct tn__alerts_job *j = a->acked_job;
	for (size_t i = 0; j && i < j->n_acked; i++)
		if (strcmp(j->acked[i].incident, incident) == 0)
			return j->acked[i].rev;
	return 0;
}

static void open_free(void *p)
{
	struct open_inc *oi = p;
	tn__alert_unref(oi->latest);
	free(oi->refs);
	free(oi);
}

/* With an outbox: remember this revision for the references of the next. */
static void history_add(struct tn_alerts *a, struct open_inc *oi, uint32_t rev,
			int64_t updated_us)
{
	if (oi->nrefs >= TN_OUTBOX_REFS_MAX || a->n_refs >= TN_OUTBOX_HISTORY_MAX)
		return; /* the next ones are not written (counted as no_history) */
	if (oi->nrefs == oi->refs_cap) {
		uint32_t cap = oi->refs_cap ? oi->refs_cap * 2 : 8;
		struct tn__cap_ref *r = realloc(oi->refs, cap * sizeof *r);
		if (!r)
			return; /* likewise */
		oi->refs = r;
		oi->refs_cap = cap;
	}
	oi->refs[oi->nrefs++] = (struct tn__cap_ref){rev, updated_us};
	a->n_refs++;
}

/* The open-incident gauges, as `al` joins (+1) or leaves (-1) them. */
static void open_gauges(struct tn_alerts *a, const struct tn__alert *al, int dir)
{
	tn__stat_add(&a->st.open_by_priority[al->priority - 1], (uint64_t)(int64_t)dir);
	tn__stat_add(&a->st.at_risk, (uint64_t)((int64_t)dir * al->at_risk));
}

/* The incident's newest alert: track it while open, forget it when closed
 * (its CAP history with it: a closed incident has no later revision). */
static void open_update(struct tn_alerts *a, struct tn__alert *al, int64_t updated_us)
{
	struct open_inc *oi = open_find(a, al->incident);

	if (!al->open) {
		if (oi) {
			open_gauges(a, oi->latest, -1);
			open_unindex(a, oi);
			tdelete(oi, &a->open, cmp_open);
			a->n_refs -= oi->nrefs;
			open_free(oi);
			a->n_open--;
		}
		return;
	}
	if (!oi) {
		if (a->n_open >= OPEN_MAX || !(oi = calloc(1, sizeof *oi))) {
			STAT_INC(a, open_full);
			return;
		}
		memcpy(oi->incident, al->incident, sizeof oi->incident);
		void *node = tsearch(oi, &a->open, cmp_open);
		if (!node || *(struct open_inc **)node != oi) {
			/* no memory; or (never expected) the tree has it and the
			 * index had not: count it rather than track it twice */
			free(oi);
			STAT_INC(a, open_full);
			return;
		}
		if (!open_index(a, oi)) {
			tdelete(oi, &a->open, cmp_open);
			free(oi);
			STAT_INC(a, open_full);
			return;
		}
		a->n_open++;
		oi->acked = acked_at_start(a, al->incident);
		oi->esc_stopped = oi->acked > 0;
		oi->acked_priority = al->priority; /* not known: the first one's */
		oi->esc_from = a->clock_us;
	}
	if (oi->esc_stopped && al->priority < oi->acked_priority) {
		/* more urgent than what was acknowledged: escalates afresh */
		oi->esc_stopped = false;
		oi->esc_from = a->clock_us;
		oi->esc_level = 0;
	}
	al->refs++;
	if (oi->latest)
		open_gauges(a, oi->latest, -1);
	open_gauges(a, al, 1);
	tn__alert_unref(oi->latest);
	oi->latest = al;
	if (a->o.outbox)
		history_add(a, oi, al->rev, updated_us);
}

/* ---- the journal ------------------------------------------------------------ */

/*
 * The body of `al` for a console of `clearance`: the alert's own for
 * official-sensitive, else its redaction, made when first needed and kept
 * with the alert (the official one made again when the set of
 * official-sensitive ids has changed since). False (counted) when it cannot
 * be made: the caller sends nothing rather than more than it may.
 */
static bool body_for(struct tn_alerts *a, struct tn__alert *al, enum tn_sensitivity clearance,
		     const unsigned char **body, size_t *len)
{
	if (clearance >= TN_SENS_OFFICIAL_SENSITIVE) {
		*body = al->body;
		*len = al->body_len;
		return true;
	}
	struct tn__bytes *r = &al->red[clearance == TN_SENS_OFFICIAL];
	bool stale = clearance == TN_SENS_OFFICIAL ? al->red_serial != a->sens_serial : !r->len;
	if (stale || !r->len) {
		/* the other lower body too, in the same unpack, when its stream
		 * will want it (publishing makes both, one after the other) */
		bool public_due = a->pub[TN_SENS_PUBLIC] && !al->red[0].len;
		bool official_due = a->pub[TN_SENS_OFFICIAL] &&
				    (al->red_serial != a->sens_serial || !al->red[1].len);
		bool both = clearance == TN_SENS_OFFICIAL ? public_due : official_due;
		int rc = both ? tn__alert_redact_lower(al->body, al->body_len, a->sens,
						       &a->red_zone, &al->red[0], &al->red[1])
			      : tn__alert_redact(al->body, al->body_len, clearance, a->sens,
						 &a->red_zone, r);
		if (rc != 0) {
			r->len = 0;
			STAT_INC(a, redact_failed);
			tn_log_limited(&a->log_bad, 1, TN_LOG_ERROR, "alert not redacted: not sent",
				       "seq=%" PRIu64 " clearance=%s", al->seq,
				       tn_sensitivity_name(clearance));
			return false;
		}
		if (clearance == TN_SENS_OFFICIAL || both) /* the official body is new */
			al->red_serial = a->sens_serial;
	}
	*body = (const unsigned char *)r->data;
	*len = r->len;
	return true;
}

static void publish(struct tn_alerts *a, struct tn__alert *al)
{
	/* PUB never blocks: a subscriber past its high-water mark loses this
	 * one (it sees the seq gap and asks `since`), the others do not wait.
	 * Each clearance's PUB gets the body it may have. */
	for (int c = CLEARANCES - 1; c >= 0; c--) {
		const unsigned char *body;
		size_t len;
		if (!a->pub[c] || !body_for(a, al, (enum tn_sensitivity)c, &body, &len))
			continue;
		if (zmq_send(a->pub[c], al->data, al->topic_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
		    zmq_send(a->pub[c], body, len, ZMQ_DONTWAIT) < 0) {
			tn_log_limited(&a->log_bad, 1, TN_LOG_WARN, "alert not published",
				       "seq=%" PRIu64 " clearance=%s error=\"%s\"", al->seq,
				       tn_sensitivity_name((enum tn_sensitivity)c),
				       zmq_strerror(errno));
			if (c == TN_SENS_OFFICIAL_SENSITIVE)
				return;
		}
	}
	STAT_INC(a, published);
	/* topics are live/... or drill/... (alerts_int.h) */
	tn__stat_add(&a->st.published_by_priority[al->data[0] == 'd'][al->priority - 1], 1);
}

/*
 * A revision for the CAP outbox, with its incident's earlier ones. At start
 * (rebuilding) only those after the last seq the directory has recorded:
 * published before a crash but maybe not written; a file already there is
 * kept (the writer links, never replaces). A new outbox starts after the
 * journal's end. Escalations are not written: they re-publish a revision
 * whose file exists, under the same CAP identifier.
 */
static void to_outbox(struct tn_alerts *a, const struct tn__alert *al,
		      const struct tn_change_rec *ch, bool rebuilding)
{
	uint64_t done;
	bool known = tn_outbox_last_written(a->o.outbox, &done);

	if (rebuilding && (!known || al->seq <= done))
		return;
	/* At start nothing is published yet: wait a little for the writer
	 * rather than skip what a crash left unwritten (bounded: a stuck disk
	 * must not keep the alerts from starting). */
	while (rebuilding && a->outbox_wait_ms < OUTBOX_START_WAIT_MS &&
	       !tn_outbox_room(a->o.outbox)) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
		a->outbox_wait_ms++;
	}
	const struct open_inc *oi = al->rev > 1 ? open_find(a, al->incident) : NULL;
	(void)tn_outbox_submit(a->o.outbox, al->seq, al->incident, al->rev, ch->body,
			       ch->body_len, oi ? oi->refs : NULL, oi ? oi->nrefs : 0);
}

/*
 * A drill's revision: published on `drill/<name>/...` only (the body says
 * status "exercise"), never kept in the live memory, open incidents,
 * escalation or CAP outbox; `since` on a drill stream reads PostgreSQL.
 */
static void drill_change(struct tn_alerts *a, const struct tn_change_rec *ch, bool rebuilding)
{
	struct tn__alert *al = NULL;
	int rc = tn__alert_from_change(ch->stream, ch->stream_len, ch->msg, ch->msg_len,
				       ch->priority, ch->area, ch->area_len, ch->body,
				       ch->body_len, &al);
	if (rc != 0) {
		if (rc != TN_ENOTFOUND)
			STAT_INC(a, undecodable);
		return;
	}
	if (a->desk)
		tn__desk_change(a->desk, ch->stream, ch->stream_len, al->seq, ch->rev);
	if (!rebuilding) {
		publish(a, al);
		STAT_INC(a, drill_published);
	}
	tn__alert_unref(al);
}

/* One CHANGE record: [stream, incident, rev, msg, priority, area, updated_us, body]. */
static void change(struct tn_alerts *a, const struct tn_journal_record *rec, bool rebuilding)
{
	struct tn_change_rec ch;
	struct tn__alert *al = NULL;
	int rc = tn_correlate_change_decode(rec->payload, rec->len, &a->zone, &ch);

	if (rc != 0)
		goto bad;
	if (ch.stream_len != strlen(STREAM) || memcmp(ch.stream, STREAM, ch.stream_len) != 0) {
		drill_change(a, &ch, rebuilding);
		return;
	}
	rc = tn__alert_from_change(ch.stream, ch.stream_len, ch.msg, ch.msg_len, ch.priority,
				   ch.area, ch.area_len, ch.body, ch.body_len, &al);
	if (rc == TN_ENOTFOUND) {
		STAT_INC(a, legacy_changes); /* journaled before alerts: never sent */
		return;
	}
	if (rc != 0)
		goto bad;
	al->rev = ch.rev;
	al->at_risk = tn__body_at_risk(ch.body, ch.body_len);
	memcpy(al->incident, ch.incident, ch.incident_len);
	al->incident[ch.incident_len] = 0;

	if (al->seq <= a->last_seq) {
		/* never expected: the correlator journals each seq once */
		STAT_INC(a, seq_gaps);
		tn_log_limited(&a->log_bad, 1, TN_LOG_ERROR, "alert seq repeated in the journal",
			       "seq=%" PRIu64 " last=%" PRIu64, al->seq, a->last_seq);
		tn__alert_unref(al);
		return;
	}
	if (a->last_seq && al->seq != a->last_seq + 1) {
		STAT_INC(a, seq_gaps);
		tn_log_limited(&a->log_bad, 1, TN_LOG_ERROR, "alert seq gap in the journal",
			       "seq=%" PRIu64 " last=%" PRIu64, al->seq, a->last_seq);
		a->first_seq = 0; /* what memory holds is no longer one run */
	}
	size_t slot = (size_t)(al->seq % a->o.recent);
	tn__alert_unref(a->recent[slot]);
	a->recent[slot] = al; /* the ring's reference */
	if (!a->first_seq)
		a->first_seq = al->seq;
	else if (al->seq - a->first_seq >= a->o.recent)
		a->first_seq = al->seq - a->o.recent + 1;
	a->last_seq = al->seq;
	ck_pr_store_64(&a->st.last_seq, al->seq);
	if (a->o.outbox)
		to_outbox(a, al, &ch, rebuilding);
	open_update(a, al, ch.updated_us);
	if (rebuilding)
		STAT_INC(a, loaded);
	else
		publish(a, al);
	return;
bad:
	STAT_INC(a, undecodable);
	tn_log_limited(&a->log_bad, 1, TN_LOG_ERROR, "journal record makes no alert",
		       "offset=%" PRIu64 " error=\"%s\"", rec->offset, tn_strerror(rc));
}

/* ---- escalation ---------------------------------------------------------------- */

static void pack_time(msgpack_packer *pk, int64_t us)
{
	char buf[40];
	struct tm tm;
	time_t s = (time_t)(us / 1000000);
	gmtime_r(&s, &tm);
	size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(buf + n, sizeof buf - n, ".%03dZ", (int)(us / 1000 % 1000));
	pack_str(pk, buf, n);
}

/* An audit row by the server itself, through the worker (bounded: counted when no job is free). */
static void audit(struct tn_alerts *a, const char *action, const char *subject,
		  const char *origin, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void audit(struct tn_alerts *a, const char *action, const char *subject,
		  const char *origin, const char *fmt, ...)
{
	struct tn__alerts_job *j = job_get(a, false);
	va_list ap;
	if (!j) {
		STAT_INC(a, audit_dropped);
		return;
	}
	j->kind = TN__JOB_AUDIT;
	snprintf(j->console, sizeof j->console, "%s", "tocsind");
	snprintf(j->action, sizeof j->action, "%s", action);
	snprintf(j->subject, sizeof j->subject, "%s", subject);
	snprintf(j->origin, sizeof j->origin, "%s", origin);
	va_start(ap, fmt);
	vsnprintf(j->reason, sizeof j->reason, fmt, ap);
	va_end(ap);
	(void)tn__ring_push(&a->to_pg, j); /* holds every job */
}

/* escalation/live/P<n>/<area>: {incident, rev, priority, level, since, at,
 * alert} on one PUB, with the alert's body as that PUB's clearance has it.
 * False when it was not sent (logged). */
static bool send_escalation(struct tn_alerts *a, const struct open_inc *oi, void *pub,
			    const unsigned char *body, size_t len)
{
	const struct tn__alert *al = oi->latest;
	char topic[TN__ALERT_TOPIC_MAX + 16];
	struct tn__bytes *b = &a->esc_buf;
	msgpack_packer pk;

	int n = snprintf(topic, sizeof topic, "escalation/%s", al->data);
	b->len = 0;
	msgpack_packer_init(&pk, b, tn__bytes_write);
	msgpack_pack_map(&pk, 7);
	pack_str(&pk, "incident", 8);
	pack_str(&pk, oi->incident, strlen(oi->incident));
	pack_str(&pk, "rev", 3);
	msgpack_pack_uint32(&pk, al->rev);
	pack_str(&pk, "priority", 8);
	msgpack_pack_uint8(&pk, al->priority);
	pack_str(&pk, "level", 5);
	msgpack_pack_unsigned_int(&pk, oi->esc_level);
	pack_str(&pk, "since", 5);
	pack_time(&pk, oi->esc_from);
	pack_str(&pk, "at", 2);
	pack_time(&pk, a->clock_us);
	pack_str(&pk, "alert", 5);
	msgpack_pack_str_body(&pk, body, len); /* raw: a packed map */
	if (n < 0 || (size_t)n >= sizeof topic || !b->len ||
	    zmq_send(pub, topic, (size_t)n, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
	    zmq_send(pub, b->data, b->len, ZMQ_DONTWAIT) < 0) {
		tn_log_limited(&a->log_bad, 1, TN_LOG_WARN, "escalation not published",
			       "incident=%s error=\"%s\"", oi->incident, zmq_strerror(errno));
		return false;
	}
	return true;
}

/* An escalation on each clearance's PUB. */
static void publish_escalation(struct tn_alerts *a, const struct open_inc *oi)
{
	struct tn__alert *al = oi->latest;
	for (int c = CLEARANCES - 1; c >= 0; c--) {
		const unsigned char *body;
		size_t len;
		if (!a->pub[c] || !body_for(a, al, (enum tn_sensitivity)c, &body, &len))
			continue;
		if (!send_escalation(a, oi, a->pub[c], body, len) &&
		    c == TN_SENS_OFFICIAL_SENSITIVE)
			return;
	}
	STAT_INC(a, escalations);
	tn_info("alert escalated", "incident=%s level=%u priority=%u rev=%u", oi->incident,
		oi->esc_level, al->priority, al->rev);
}

struct esc_walk {
	struct tn_alerts *a;
	bool rebuilding;
};

static void escalate_one(const void *node, VISIT which, void *ud)
{
	struct esc_walk *w = ud;
	struct open_inc *oi = *(struct open_inc *const *)node;
	if (which != postorder && which != leaf)
		return;
	if (oi->esc_stopped)
		return;
	unsigned due = tn__escalation_due(oi->esc_from, w->a->clock_us,
					  w->a->o.escalate_s[oi->latest->priority - 1]);
	if (due <= oi->esc_level)
		return;
	/* one message per crossing seen; a jump over several says the highest */
	oi->esc_level = due;
	if (w->rebuilding)
		return; /* published and audited before the restart */
	publish_escalation(w->a, oi);
	audit(w->a, "alert.escalate", oi->incident, "alerts",
	      "level %u, priority %u, rev %u, unacknowledged", oi->esc_level,
	      oi->latest->priority, oi->latest->rev);
}

/* A TICK or an event moves the journal's clock; at each TICK, escalate what is due. */
static void advance(struct tn_alerts *a, const struct tn_journal_record *rec, bool rebuilding)
{
	int64_t us;
	if (tn__alerts_clock_of(rec, &a->zone, &us) != 0)
		return; /* another record type, or not ours to judge (the store keeps it) */
	if (us > a->clock_us)
		a->clock_us = us;
	if (rec->type == TN_JREC_TICK) {
		struct esc_walk w = {a, rebuilding};
		twalk_r(a->open, escalate_one, &w);
	}
}

/* Read what is durable; returns whether the journal's end was reached. */
static bool read_journal(struct tn_alerts *a, int burst)
{
	struct tn_journal_record rec;
	uint64_t limit = ck_pr_load_64(a->o.durable);
	int n = 0, rc = 0;

	while (n < burst && (rc = tn_journal_reader_next(a->rd, limit, &rec)) == 1) {
		bool rebuilding = rec.offset < a->rebuild_end;
		if (rec.type == TN_JREC_CHANGE)
			change(a, &rec, rebuilding);
		else if (rec.type == TN_JREC_DRILL && a->desk)
			tn__desk_journal(a->desk, &rec, &a->zone);
		else if (a->escalating)
			advance(a, &rec, rebuilding);
		n++;
	}
	if (n < burst && rc < 0)
		tn_log_limited(&a->log_bad, 1, TN_LOG_ERROR, "alerts cannot read the journal",
			       "error=\"%s\"", tn_strerror(rc));
	uint64_t at = tn_journal_reader_offset(a->rd);
	ck_pr_store_64(&a->st.offset, at);
	ck_pr_store_64(a->o.consumed, at);
	if (!a->st.rebuilt && at >= a->rebuild_end) {
		ck_pr_store_8((uint8_t *)&a->st.rebuilt, 1);
		if (a->last_seq < a->o.seq_floor) {
			/* the journal holds none of them now: PostgreSQL does */
			a->last_seq = a->o.seq_floor;
			a->first_seq = 0;
			ck_pr_store_64(&a->st.last_seq, a->last_seq);
		}
		uint64_t done;
		if (a->o.outbox && (!tn_outbox_last_written(a->o.outbox, &done) ||
				    done > a->last_seq)) {
			/* a new outbox starts here; one ahead of the stream (a journal
			 * and database started afresh) would otherwise stay silent */
			if (tn_outbox_last_written(a->o.outbox, &done))
				tn_warn("cap outbox: its last seq is past the stream's; going on "
					"from the stream's",
					"outbox_seq=%" PRIu64 " last_seq=%" PRIu64, done, a->last_seq);
			(void)tn_outbox_mark(a->o.outbox, a->last_seq);
		}
		if (a->acked_job) { /* later incidents have no earlier acks */
			job_put(a, a->acked_job);
			a->acked_job = NULL;
		}
		tn_info("alerts caught up with the journal",
			"offset=%" PRIu64 " last_seq=%" PRIu64 " open=%zu", at, a->last_seq,
			a->n_open);
	}
	return n < burst;
}

/* ---- ZAP: consoles only --------------------------------------------------- */

/* One ZAP request; false when none was waiting. */
static bool zap_serve(struct tn_alerts *a)
{
	struct tn__zap_req r;
	const char *why = "mechanism not allowed";

	if (!tn__zap_recv(a->zap, &r))
		return false;
	if (r.n == 0)
		return true; /* malformed: answered */
	/* the control ROUTER's domain, or a PUB's: its clearance's name */
	int stream = tn_sensitivity_parse(r.domain, strlen(r.domain));
	const struct tn_adapter_entry *e = r.key[0] ? tn_registry_find(a->consoles, r.key) : NULL;
	char because[128];
	bool ended = e && !tn_registry_live(e, real_now_us());
	if (strcmp(r.domain, ZAP_DOMAIN) != 0 && stream < 0) {
		why = "not a console endpoint";
	} else if (a->insecure && strcmp(r.mechanism, "NULL") == 0) {
		STAT_INC(a, zap_accepted);
		tn__zap_reply(a->zap, &r, "200", "OK", "insecure");
		goto out;
	} else if (!a->insecure && r.key[0]) {
		if (e && !ended && (stream < 0 || e->clearance == (enum tn_sensitivity)stream)) {
			STAT_INC(a, zap_accepted);
			tn__zap_reply(a->zap, &r, "200", "OK", r.key);
			goto out;
		}
		why = "not a registered console key, or revoked";
		if (ended) {
			snprintf(because, sizeof because, "%s of \"%s\"",
				 e->retiring ? "rotated-out key past its grace period" : "key expired",
				 e->name);
			why = because;
		} else if (e) {
			/* registered, but this stream is another clearance's */
			STAT_INC(a, zap_wrong_clearance);
			snprintf(because, sizeof because,
				 "clearance %s: not admitted to the %s alert stream",
				 tn_sensitivity_name(e->clearance), r.domain);
			why = because;
		}
	}
	STAT_INC(a, zap_refused);
	tn_log_limited(&a->log_zap, 10, TN_LOG_WARN, "console refused at handshake",
		       "mechanism=%s key=%s address=%s reason=\"%s\"", r.mechanism,
		       r.key[0] ? r.key : "-", r.address, why);
	tn__zap_reply(a->zap, &r, "400", why, "");
	audit(a, "console.refused", r.key[0] ? r.key : r.mechanism, r.address, "%s", why);
out:
	tn__zap_done(&r);
	return true;
}

/* ---- control ---------------------------------------------------------------- */

static void send_reply(struct tn_alerts *a, const struct tn__alerts_job *j)
{
	for (unsigned i = 0; i < j->n_env; i++)
		if (zmq_send(a->ctl, j->env[i], j->env_len[i], ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
			goto dropped;
	if (zmq_send(a->ctl, j->reply.data, j->reply.len, ZMQ_DONTWAIT) >= 0)
		return;
dropped:
	/* ROUTER_MANDATORY: a full queue or a console gone; the frames already
	 * queued for it are discarded by libzmq with the message */
	STAT_INC(a, replies_dropped);
	tn_log_limited(&a->log_req, 1, TN_LOG_WARN, "control reply dropped", "error=\"%s\"",
		       zmq_strerror(errno));
}

static void fail(struct tn_alerts *a, struct tn__alerts_job *j, const char *op, int code,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void fail(struct tn_alerts *a, struct tn__alerts_job *j, const char *op, int code,
		 const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tn__alerts_reply_verror(j, op, code, fmt, ap);
	va_end(ap);
	STAT_INC(a, bad_requests);
	send_reply(a, j);
}

static struct tn__alert *recent_get(const struct tn_alerts *a, uint64_t seq)
{
	struct tn__alert *al = a->recent[seq % a->o.recent];
	return al && al->seq == seq ? al : NULL;
}

/* A `since` for the worker: the set the official redaction needs, kept alive for the job. */
static void job_sens(struct tn_alerts *a, struct tn__alerts_job *j)
{
	j->sens = j->clearance == TN_SENS_OFFICIAL ? a->sens : NULL;
	if (j->sens)
		j->sens->refs++;
}

/* `since` on a drill's stream: from PostgreSQL (a drill's alerts are not
 * kept in memory); its last seq is the one the journal has shown so far. */
static void op_since_drill(struct tn_alerts *a, struct tn__alerts_job *j, const char *drill,
			   uint64_t seq, bool *queued)
{
	uint64_t last;
	if (!a->desk || !tn__desk_last_seq(a->desk, drill, &last)) {
		fail(a, j, "since", TN_EUNKNOWN, "stream: no drill \"%s\" known to this server",
		     drill);
		return;
	}
	j->kind = TN__JOB_SINCE;
	job_sens(a, j);
	snprintf(j->stream, sizeof j->stream, "%s", drill);
	j->seq = seq;
	j->limit = a->o.since_max;
	j->last = last;
	(void)tn__ring_push(&a->to_pg, j); /* holds every job */
	*queued = true;
}

static void op_since(struct tn_alerts *a, struct tn__alerts_job *j, uint64_t seq, bool *queued)
{
	msgpack_packer pk;

	if (seq > a->last_seq) {
		fail(a, j, "since", TN_ESCHEMA,
		     "seq %" PRIu64 " is past the last alert (%" PRIu64 "); take a snapshot", seq,
		     a->last_seq);
		return;
	}
	uint64_t end = a->last_seq - seq > a->o.since_max ? seq + a->o.since_max : a->last_seq;
	bool in_memory = seq == a->last_seq || (a->first_seq && seq + 1 >= a->first_seq);
	for (uint64_t s = seq + 1; in_memory && s <= end; s++)
		in_memory = recent_get(a, s) != NULL;
	if (!in_memory) {
		/* older than memory: the worker reads them up to the oldest held */
		j->kind = TN__JOB_SINCE;
		job_sens(a, j);
		snprintf(j->stream, sizeof j->stream, "%s", STREAM);
		j->seq = seq;
		j->limit = a->o.since_max;
		j->last = a->last_seq;
		(void)tn__ring_push(&a->to_pg, j); /* holds every job */
		*queued = true;
		return;
	}
	j->reply.len = 0;
	msgpack_packer_init(&pk, &j->reply, tn__bytes_write);
	for (uint64_t s = seq + 1; s <= end; s++) {
		const unsigned char *body;
		size_t len;
		if (!body_for(a, recent_get(a, s), j->clearance, &body, &len)) {
			fail(a, j, "since", TN_EUNAVAILABLE, "out of memory; retry later");
			return;
		}
	}
	tn__alerts_reply_head(&pk, j, true, "since", 4);
	pack_str(&pk, "alerts", 6);
	msgpack_pack_array(&pk, (size_t)(end - seq));
	for (uint64_t s = seq + 1; s <= end; s++) {
		const unsigned char *body;
		size_t len;
		(void)body_for(a, recent_get(a, s), j->clearance, &body, &len); /* made above */
		msgpack_pack_str_body(&pk, body, len); /* raw: a packed map */
	}
	pack_str(&pk, "last", 4);
	msgpack_pack_uint64(&pk, a->last_seq);
	pack_str(&pk, "more", 4);
	if (end < a->last_seq)
		msgpack_pack_true(&pk);
	else
		msgpack_pack_false(&pk);
	pack_str(&pk, "lost", 4);
	msgpack_pack_array(&pk, 0); /* memory holds one run, without holes */
	send_reply(a, j);
}

/* twalk_r's visitor: collect the open incidents. */
struct collect {
	struct open_inc **v;
	size_t n;
};

static void collect_one(const void *node, VISIT which, void *ud)
{
	struct collect *c = ud;
	if (which == postorder || which == leaf)
		c->v[c->n++] = *(struct open_inc *const *)node;
}

static int cmp_priority(const void *x, const void *y)
{
	const struct open_inc *p = *(struct open_inc *const *)x, *q = *(struct open_inc *const *)y;
	if (p->latest->priority != q->latest->priority)
		return p->latest->priority < q->latest->priority ? -1 : 1;
	return p->latest->seq < q->latest->seq ? -1 : p->latest->seq > q->latest->seq;
}

static void op_snapshot(struct tn_alerts *a, struct tn__alerts_job *j)
{
	struct collect c = {calloc(a->n_open ? a->n_open : 1, sizeof *c.v), 0};
	msgpack_packer pk;

	if (!c.v) {
		fail(a, j, "snapshot", TN_EUNAVAILABLE, "out of memory; retry later");
		return;
	}
	twalk_r(a->open, collect_one, &c);
	qsort(c.v, c.n, sizeof *c.v, cmp_priority);
	size_t open = c.n;
	if (c.n > SNAPSHOT_MAX) {
		c.n = SNAPSHOT_MAX; /* a reply stays a few tens of MiB at most */
		STAT_INC(a, snapshots_truncated);
	}
	for (size_t i = 0; i < c.n; i++) {
		const unsigned char *body;
		size_t len;
		if (!body_for(a, c.v[i]->latest, j->clearance, &body, &len)) {
			free(c.v);
			fail(a, j, "snapshot", TN_EUNAVAILABLE, "out of memory; retry later");
			return;
		}
	}
	j->reply.len = 0;
	msgpack_packer_init(&pk, &j->reply, tn__bytes_write);
	tn__alerts_reply_head(&pk, j, true, "snapshot", 5);
	pack_str(&pk, "last", 4);
	msgpack_pack_uint64(&pk, a->last_seq);
	pack_str(&pk, "open", 4);
	msgpack_pack_uint64(&pk, open);
	pack_str(&pk, "incidents", 9);
	msgpack_pack_array(&pk, c.n);
	for (size_t i = 0; i < c.n; i++) {
		const unsigned char *body;
		size_t len;
		(void)body_for(a, c.v[i]->latest, j->clearance, &body, &len); /* made above */
		msgpack_pack_str_body(&pk, body, len);
	}
	size_t n_acked = 0;
	for (size_t i = 0; i < c.n; i++)
		n_acked += c.v[i]->acked > 0;
	pack_str(&pk, "acked", 5);
	msgpack_pack_map(&pk, n_acked);
	for (size_t i = 0; i < c.n; i++)
		if (c.v[i]->acked) {
			pack_str(&pk, c.v[i]->incident, strlen(c.v[i]->incident));
			msgpack_pack_uint32(&pk, c.v[i]->acked);
		}
	size_t n_esc = 0;
	for (size_t i = 0; i < c.n; i++)
		n_esc += c.v[i]->esc_level > 0 && !c.v[i]->esc_stopped;
	pack_str(&pk, "escalated", 9);
	msgpack_pack_map(&pk, n_esc);
	for (size_t i = 0; i < c.n; i++)
		if (c.v[i]->esc_level > 0 && !c.v[i]->esc_stopped) {
			pack_str(&pk, c.v[i]->incident, strlen(c.v[i]->incident));
			msgpack_pack_unsigned_int(&pk, c.v[i]->esc_level);
		}
	free(c.v);
	send_reply(a, j);
}

static bool text_ok(const msgpack_object *o, size_t max)
{
	return o->type == MSGPACK_OBJECT_STR && o->via.str.size > 0 && o->via.str.size <= max &&
	       tn__utf8_check(o->via.str.ptr, o->via.str.size, TN__UTF8_NO_CONTROL, NULL) == 0;
}

static void op_ack(struct tn_alerts *a, struct tn__alerts_job *j, const msgpack_object *inc,
		   const msgpack_object *rev, const msgpack_object *op_, bool *queued)
{
	if (!inc || !rev || !op_) {
		fail(a, j, "ack", TN_ESCHEMA, "ack: %s is required",
		     !inc ? "incident" : !rev ? "rev" : "operator");
		return;
	}
	if (!text_ok(inc, TN_INCIDENT_ID_LEN)) {
		fail(a, j, "ack", TN_ESCHEMA, "ack: incident: expected an incident id (a string)");
		return;
	}
	if (rev->type != MSGPACK_OBJECT_POSITIVE_INTEGER || rev->via.u64 < 1 ||
	    rev->via.u64 > UINT32_MAX) {
		fail(a, j, "ack", TN_ESCHEMA, "ack: rev: expected an integer >= 1");
		return;
	}
	if (!text_ok(op_, TN__ALERT_OPERATOR_MAX)) {
		fail(a, j, "ack", TN_ESCHEMA,
		     "ack: operator: expected 1-%d bytes of UTF-8 text without control characters",
		     TN__ALERT_OPERATOR_MAX);
		return;
	}
	memcpy(j->incident, inc->via.str.ptr, inc->via.str.size);
	j->incident[inc->via.str.size] = 0;
	struct open_inc *oi = open_find(a, j->incident);
	if (!oi) {
		fail(a, j, "ack", TN_EUNKNOWN, "ack: incident %s is not open", j->incident);
		return;
	}
	if (rev->via.u64 > oi->latest->rev) {
		fail(a, j, "ack", TN_EUNKNOWN,
		     "ack: incident %s has no rev %" PRIu64 " (latest %u)", j->incident,
		     rev->via.u64, oi->latest->rev);
		return;
	}
	j->kind = TN__JOB_ACK;
	snprintf(j->stream, sizeof j->stream, "%s", STREAM);
	j->rev = (uint32_t)rev->via.u64;
	memcpy(j->operator_, op_->via.str.ptr, op_->via.str.size);
	j->operator_[op_->via.str.size] = 0;
	(void)tn__ring_push(&a->to_pg, j); /* holds every job */
	*queued = true;
}

static bool key_is(const msgpack_object *k, const char *s)
{
	size_t n = strlen(s);
	return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
	       memcmp(k->via.str.ptr, s, n) == 0;
}

/* Decode and serve one request; the job goes to the worker (*queued) or is answered. */
static void request(struct tn_alerts *a, struct tn__alerts_job *j, const void *buf, size_t len,
		    bool planner, bool *queued)
{
	const msgpack_object *op = NULL, *seq = NULL, *inc = NULL, *rev = NULL, *oper = NULL;
	const msgpack_object *stream = NULL;
	struct tn__desk_args da = {.planner = planner, .actor = j->console};
	msgpack_object o;
	size_t off = 0;
	char why[128];

	msgpack_zone_clear(&a->req_zone);
	/* depth 4: a drill's events ({events: [{attrs: {}}]}); at most one
	 * object per byte, so what msgpack-c allocates is bounded by CONTROL_MAX */
	if (tn_wire_scan(buf, len, 4, CONTROL_MAX, why, sizeof why) != 0 ||
	    msgpack_unpack(buf, len, &off, &a->req_zone, &o) != MSGPACK_UNPACK_SUCCESS) {
		fail(a, j, NULL, TN_EDECODE, "request is not one MessagePack map within limits");
		return;
	}
	if (o.type != MSGPACK_OBJECT_MAP) {
		fail(a, j, NULL, TN_ESCHEMA, "request: expected a map with an \"op\"");
		return;
	}
	for (uint32_t i = 0; i < o.via.map.size; i++) {
		const msgpack_object *k = &o.via.map.ptr[i].key, *v = &o.via.map.ptr[i].val;
		if (key_is(k, "id")) {
			/* echoed as sent; scalars only, bounded */
			msgpack_packer pk;
			if (v->type == MSGPACK_OBJECT_MAP || v->type == MSGPACK_OBJECT_ARRAY ||
			    (v->type == MSGPACK_OBJECT_STR && v->via.str.size > 128)) {
				fail(a, j, NULL, TN_ESCHEMA,
				     "id: expected a string of at most 128 bytes or a number");
				return;
			}
			msgpack_packer_init(&pk, &j->id, tn__bytes_write);
			msgpack_pack_object(&pk, *v);
		} else if (key_is(k, "op"))
			op = v;
		else if (key_is(k, "seq"))
			seq = v;
		else if (key_is(k, "stream"))
			stream = v;
		else if (key_is(k, "incident"))
			inc = v;
		else if (key_is(k, "rev"))
			rev = v;
		else if (key_is(k, "operator"))
			oper = v;
		else if (key_is(k, "drill"))
			da.drill = v;
		else if (key_is(k, "events"))
			da.events = v;
		else if (key_is(k, "tick"))
			da.tick = v;
		else if (key_is(k, "end"))
			da.end = v;
		else {
			fail(a, j, NULL, TN_ESCHEMA, "unknown key \"%.*s\"",
			     k->type == MSGPACK_OBJECT_STR ? (int)(k->via.str.size > 32
								       ? 32
								       : k->via.str.size)
							   : 1,
			     k->type == MSGPACK_OBJECT_STR ? k->via.str.ptr : "?");
			return;
		}
	}
	if (!op || op->type != MSGPACK_OBJECT_STR) {
		fail(a, j, NULL, TN_ESCHEMA, "op: expected \"since\", \"snapshot\", \"ack\" or "
		     "a drill operation");
		return;
	}
	if (stream && (stream->type != MSGPACK_OBJECT_STR || stream->via.str.size == 0 ||
		       stream->via.str.size > TN__DRILL_NAME_MAX)) {
		fail(a, j, NULL, TN_ESCHEMA, "stream: expected \"live\" or a drill's name");
		return;
	}
	bool live = !stream || key_is(stream, STREAM);
	bool drill_op = op->via.str.size > 6 && memcmp(op->via.str.ptr, "drill_", 6) == 0;
	if (!drill_op && (da.drill || da.events || da.tick || da.end)) {
		fail(a, j, NULL, TN_ESCHEMA, "drill, events, tick and end go with drill operations");
		return;
	}
	if (!live && !key_is(op, "since")) {
		fail(a, j, NULL, TN_ESCHEMA, "stream: a drill's stream is served by since only");
		return;
	}
	if (key_is(op, "since")) {
		if (inc || rev || oper) {
			fail(a, j, "since", TN_ESCHEMA, "since: takes seq only");
			return;
		}
		if (!seq || seq->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
			fail(a, j, "since", TN_ESCHEMA,
			     "since: seq: expected an integer >= 0 (the last seq received)");
			return;
		}
		STAT_INC(a, catchups);
		if (!live) {
			char name[TN__DRILL_NAME_MAX + 1];
			memcpy(name, stream->via.str.ptr, stream->via.str.size);
			name[stream->via.str.size] = 0;
			op_since_drill(a, j, name, seq->via.u64, queued);
			return;
		}
		op_since(a, j, seq->via.u64, queued);
	} else if (key_is(op, "snapshot")) {
		if (seq || inc || rev || oper) {
			fail(a, j, "snapshot", TN_ESCHEMA, "snapshot: takes no arguments");
			return;
		}
		op_snapshot(a, j);
	} else if (key_is(op, "ack")) {
		if (seq) {
			fail(a, j, "ack", TN_ESCHEMA, "ack: takes incident, rev and operator");
			return;
		}
		if (planner && !a->insecure) {
			fail(a, j, "ack", TN_EFORBIDDEN,
			     "a planner's key runs drills; live alerts are acknowledged from a "
			     "console");
			return;
		}
		op_ack(a, j, inc, rev, oper, queued);
	} else if (key_is(op, "drill_start") || key_is(op, "drill_events") ||
		   key_is(op, "drill_stop") || key_is(op, "drill_status")) {
		char name[16];
		if (seq || inc || rev || oper) {
			fail(a, j, NULL, TN_ESCHEMA, "drill operations take drill, events, tick, end");
			return;
		}
		memcpy(name, op->via.str.ptr, op->via.str.size);
		name[op->via.str.size] = 0;
		if (!a->desk) {
			fail(a, j, name, TN_EUNAVAILABLE, "this server runs no drills ([drills] "
			     "max_active = 0, or no correlator)");
			return;
		}
		tn__desk_request(a->desk, j, name, &da, queued);
	} else {
		fail(a, j, NULL, TN_ESCHEMA,
		     "op: unknown \"%.*s\"; expected \"since\", \"snapshot\", \"ack\", "
		     "\"drill_start\", \"drill_events\", \"drill_stop\" or \"drill_status\"",
		     (int)(op->via.str.size > 32 ? 32 : op->via.str.size), op->via.str.ptr);
	}
}

/* One control message: routing frames, then the request. False when none waited. */
static bool control_one(struct tn_alerts *a)
{
	zmq_msg_t m;
	struct tn__alerts_job *j = NULL;
	bool more = true, queued = false, oversized = false;
	unsigned n_env = 0;

	zmq_msg_init(&m);
	if (zmq_msg_recv(&m, a->ctl, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&m);
		return false;
	}
	STAT_INC(a, requests);
	j = job_get(a, true);
	if (!j) {
		STAT_INC(a, jobs_busy);
		j = &a->busy; /* answered at once below, never queued */
		j->id.len = j->reply.len = 0;
	}
	/* routing id (and a REQ's empty delimiter) until the last frame */
	while ((more = zmq_msg_more(&m))) {
		if (n_env < TN__ALERT_ENVELOPE_MAX && zmq_msg_size(&m) <= sizeof j->env[0]) {
			memcpy(j->env[n_env], zmq_msg_data(&m), zmq_msg_size(&m));
			j->env_len[n_env] = zmq_msg_size(&m);
		} else {
			oversized = true;
		}
		n_env++;
		zmq_msg_close(&m);
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, a->ctl, 0) < 0)
			break;
	}
	if (oversized || n_env == 0) {
		/* no way to answer (ROUTER always gives a routing id): counted, dropped */
		STAT_INC(a, bad_requests);
		if (j != &a->busy)
			job_put(a, j);
		zmq_msg_close(&m);
		return true;
	}
	j->n_env = n_env;
	if (j == &a->busy) {
		fail(a, j, NULL, TN_EUNAVAILABLE, "the server is busy; retry later");
		zmq_msg_close(&m);
		return true;
	}
	/* the key behind it, checked again: a revoked console is refused now */
	const char *user = zmq_msg_gets(&m, "User-Id");
	const struct tn_adapter_entry *e = user ? tn_registry_find(a->consoles, user) : NULL;
	if (!a->insecure && !tn_registry_live(e, real_now_us())) {
		fail(a, j, NULL, TN_EFORBIDDEN,
		     e ? "this console key has expired (or its rotation's grace period is over)"
		       : "this console key is not registered or was revoked");
	} else if (zmq_msg_size(&m) > CONTROL_MAX) {
		fail(a, j, NULL, TN_EDECODE, "request over %u bytes", CONTROL_MAX);
	} else {
		snprintf(j->console, sizeof j->console, "%s", e ? e->name : "insecure");
		/* without keys (insecure, loopback only) everything, as on the PUB */
		j->clearance = e ? e->clearance : TN_SENS_OFFICIAL_SENSITIVE;
		/* without keys (insecure, loopback only) anyone may run a drill */
		request(a, j, zmq_msg_data(&m), zmq_msg_size(&m), e ? e->planner : a->insecure,
			&queued);
	}
	zmq_msg_close(&m);
	if (!queued)
		job_put(a, j);
	return true;
}

/* Jobs back from the worker: answer, apply acks, recycle. */
static void jobs_done(struct tn_alerts *a)
{
	struct tn__alerts_job *j;
	while ((j = tn__ring_pop(&a->from_pg)) != NULL) {
		switch (j->kind) {
		case TN__JOB_SINCE:
			send_reply(a, j);
			break;
		case TN__JOB_ACK:
			if (j->rc == 0) {
				struct open_inc *oi = open_find(a, j->incident);
				if (oi && j->rev > oi->acked)
					oi->acked = j->rev;
				if (oi) {
					oi->esc_stopped = true;
					oi->acked_priority = oi->latest->priority;
				}
				STAT_INC(a, acks);
				tn_info("alert acknowledged", "incident=%s rev=%u console=%s",
					j->incident, j->rev, j->console);
			}
			send_reply(a, j);
			break;
		case TN__JOB_AUDIT:
			if (j->rc != 0)
				STAT_INC(a, audit_dropped);
			break;
		case TN__JOB_ACKED:
			break;
		case TN__JOB_DRILL_NEW:
		case TN__JOB_DRILL_STOPPED:
			tn__desk_job_done(a->desk, j); /* the desk's now */
			continue;
		}
		job_put(a, j);
	}
}

/* The newest set of official-sensitive ids from the assets watcher. */
static void swap_sens(struct tn_alerts *a)
{
	struct tn__sensset *s, *newest = NULL;
	while ((s = tn__ring_pop(&a->sens_ring)) != NULL) {
		sens_unref(newest);
		newest = s;
	}
	if (!newest)
		return;
	sens_unref(a->sens); /* jobs in flight keep theirs */
	a->sens = newest;
	a->sens_serial++;    /* official bodies are made again, by this set */
	tn_info("alerts: official-sensitive assets loaded", "assets=%zu", newest->n);
}

static void sweep_subscribers(struct tn_alerts *a, bool now);

static void swap_registry(struct tn_alerts *a)
{
	struct tn_registry *r, *newest = NULL;
	while ((r = tn__ring_pop(&a->registry_ring)) != NULL) {
		tn_registry_free(newest);
		newest = r;
	}
	if (!newest)
		return;
	tn_registry_free(a->consoles);
	a->consoles = newest;
	sweep_subscribers(a, true); /* a revocation takes effect now */
}

/* New escalation deadlines (a reload): the newest wins. */
static void swap_settings(struct tn_alerts *a)
{
	int *d, *newest = NULL;
	while ((d = tn__ring_pop(&a->settings_ring)) != NULL) {
		free(newest);
		newest = d;
	}
	if (!newest)
		return;
	memcpy(a->o.escalate_s, newest, sizeof a->o.escalate_s);
	a->escalating = false;
	for (int p = 0; p < 5; p++)
		a->escalating |= a->o.escalate_s[p] > 0;
	free(newest);
}

/* ---- subscribers: an ended key is cut off (alerts_subs.c) -------------------- */

/* The streams admit a key of exactly their clearance (ZAP domains). */
static bool subs_keep(void *ud, const char *key, int clearance)
{
	struct tn_alerts *a = ud;
	const struct tn_adapter_entry *e = tn_registry_find(a->consoles, key);
	return tn_registry_live(e, real_now_us()) && (int)e->clearance == clearance;
}

static void subs_cut(void *ud, const char *key, const char *name, int clearance,
		     const struct sockaddr *peer, unsigned peer_len)
{
	struct tn_alerts *a = ud;
	char addr[TN__HS_ADDR_LEN];
	tn__hs_addr_format(peer, peer_len, addr, sizeof addr);
	if (!addr[0])
		snprintf(addr, sizeof addr, "unknown");
	const struct tn_adapter_entry *e = tn_registry_find(a->consoles, key);
	const char *why = !e ? "key not registered or revoked"
			  : !tn_registry_live(e, real_now_us())
			      ? "key expired or rotated out past its grace period"
			      : "key no longer of this stream's clearance";
	const char *stream = tn_sensitivity_name((enum tn_sensitivity)clearance);
	STAT_INC(a, consoles_cut);
	if (!name[0])
		name = key;
	tn_warn("alerts: subscribed console cut off",
		"console=%s key=%s stream=%s peer=%s reason=\"%s\"", name, key, stream, addr, why);
	audit(a, "console.cut", name, addr, "%s; alerts stream %s", why, stream);
}

/*
 * Subscription messages of one stream: each says which connection (fd)
 * and which key, which is all the table needs. Their topics are not
 * checked: ZAP admitted the key to this stream, and every topic on it is
 * for that clearance.
 */
static bool read_subscriptions(struct tn_alerts *a, int c)
{
	bool any = false;
	for (int i = 0; i < 256; i++) {
		zmq_msg_t m;
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, a->pub[c], ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&m);
			break;
		}
		any = true;
		const unsigned char *d = zmq_msg_data(&m);
		const char *user = zmq_msg_gets(&m, "User-Id");
		int fd = zmq_msg_get(&m, ZMQ_SRCFD);
		if (!a->insecure && a->subs && zmq_msg_size(&m) >= 1 && d[0] == 1 && user) {
			const struct tn_adapter_entry *e = tn_registry_find(a->consoles, user);
			int rc = tn__subs_note(a->subs, fd, c, user, e ? e->name : NULL);
			if (rc == TN_EFULL) {
				STAT_INC(a, subs_untracked);
				tn_log_limited(&a->log_zap, 10, TN_LOG_WARN,
					       "alerts: subscriber refused: too many connections",
					       "max=%d stream=%s", SUBS_MAX,
					       tn_sensitivity_name((enum tn_sensitivity)c));
			}
		}
		zmq_msg_close(&m);
	}
	return any;
}

static void sweep_subscribers(struct tn_alerts *a, bool now)
{
	int64_t t = mono_ns();
	if (!a->subs || (!now && t - a->subs_swept_ns < SUBS_SWEEP_NS))
		return;
	a->subs_swept_ns = t;
	tn__subs_sweep(a->subs);
	ck_pr_store_64(&a->st.subscribers, tn__subs_count(a->subs));
}

/* ---- the loop ------------------------------------------------------------------ */

/* ZMQ_FD is edge-triggered: read every socket until EAGAIN. */
static void pump(struct tn_alerts *a)
{
	bool progress = true;
	swap_registry(a);
	swap_sens(a);
	swap_settings(a);
	while (progress) {
		progress = false;
		while (zap_serve(a))
			progress = true;
		jobs_done(a);
		if (a->desk)
			tn__desk_committed(a->desk);
		for (int i = 0; i < 64 && control_one(a); i++)
			progress = true;
		for (int c = 0; c < CLEARANCES; c++)
			if (a->pub[c] && read_subscriptions(a, c))
				progress = true;
	}
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	pump(w->data);
}

static void on_poll(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tn_alerts *a = w->data;
	(void)revents;
	bool at_end = read_journal(a, READ_BURST);
	if (atomic_load(&a->stop) &&
	    ((at_end && tn_journal_reader_offset(a->rd) >= ck_pr_load_64(a->o.durable)) ||
	     mono_ns() >= a->deadline_ns)) {
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	sweep_subscribers(a, false); /* keys end by the clock too */
	pump(a);
}

static void on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)loop;
	(void)revents;
	pump(w->data);
}

static void *alerts_main(void *arg)
{
	struct tn_alerts *a = arg;
	tn__thread_setup("tn-alerts", a->o.nice);

	/* The start-up read: memory as it was, nothing sent twice. */
	while (!read_journal(a, READ_BURST))
		;
	ev_run(a->loop, 0);
	return NULL;
}

/* ---- set-up ------------------------------------------------------------------ */

static void wake_from_worker(void *ud)
{
	struct tn_alerts *a = ud;
	ev_async_send(a->loop, &a->wake);
}

static int setopt_int(void *s, int opt, int v)
{
	return zmq_setsockopt(s, opt, &v, sizeof v);
}

static int console_socket(struct tn_alerts *a, int type, const char *endpoint,
			  const char *domain, int64_t maxmsg, void **out, char *err, size_t errlen)
{
	void *s = zmq_socket(a->ctx, type);
	*out = s;
	if (!s || zmq_setsockopt(s, ZMQ_ZAP_DOMAIN, domain, strlen(domain)) != 0 ||
	    (!a->insecure && (setopt_int(s, ZMQ_CURVE_SERVER, 1) != 0 ||
			      zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, a->secret,
					     TN_KEY_Z85_LEN) != 0)) ||
	    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
	    setopt_int(s, ZMQ_HANDSHAKE_IVL, a->o.handshake_ivl_ms) != 0 ||
	    setopt_int(s, ZMQ_SNDHWM, a->o.sndhwm) != 0 || setopt_int(s, ZMQ_LINGER, 0) != 0 ||
	    setopt_int(s, ZMQ_HEARTBEAT_IVL, HEARTBEAT_IVL_MS) != 0 ||
	    setopt_int(s, ZMQ_HEARTBEAT_TIMEOUT, HEARTBEAT_TTL_MS) != 0 ||
	    (type == ZMQ_ROUTER && (setopt_int(s, ZMQ_ROUTER_MANDATORY, 1) != 0 ||
				    setopt_int(s, ZMQ_RCVHWM, 1000) != 0)) ||
	    /* every subscription, repeated ones too: each says its connection */
	    (type == ZMQ_XPUB && setopt_int(s, ZMQ_XPUB_VERBOSE, 1) != 0)) {
		snprintf(err, errlen, "cannot set up the socket for %s: %s", endpoint,
			 zmq_strerror(errno));
		return TN_EZMQ;
	}
	if (zmq_bind(s, endpoint) != 0) {
		snprintf(err, errlen, "cannot bind %s: %s", endpoint, zmq_strerror(errno));
		return TN_EZMQ;
	}
	return 0;
}

static int watch_fd(struct tn_alerts *a, void *sock, ev_io *w)
{
	int fd;
	size_t len = sizeof fd;
	if (zmq_getsockopt(sock, ZMQ_FD, &fd, &len) != 0)
		return TN_EZMQ;
	ev_io_init(w, on_io, fd, EV_READ);
	w->data = a;
	ev_io_start(a->loop, w);
	return 0;
}

/* Before the first record: acks already stored, so a snapshot says them. */
static void load_acked(struct tn_alerts *a)
{
	struct tn__alerts_job *j = job_get(a, true);
	j->kind = TN__JOB_ACKED;
	snprintf(j->stream, sizeof j->stream, "%s", STREAM);
	(void)tn__ring_push(&a->to_pg, j);
	for (int i = 0; i < 4000; i++) { /* 4 s at most: PostgreSQL may be away */
		struct tn__alerts_job *back = tn__ring_pop(&a->from_pg);
		if (back) {
			if (back->rc == 0)
				a->acked_job = back;
			else {
				tn_warn("acknowledgements not loaded: none shown until acked again",
					"error=\"%s\"", tn_strerror(back->rc));
				job_put(a, back);
			}
			return;
		}
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	tn_warn("acknowledgements not loaded in time: snapshots say none until acked again",
		NULL);
}

int tn_alerts_start(const struct tn_alerts_opts *o, struct tn_alerts **out, char *err,
		    size_t errlen)
{
	struct tn_alerts *a;
	int rc = TN_ENOMEM;

	if (!o->recent || !o->since_max) {
		tn_registry_free(o->consoles);
		snprintf(err, errlen, "alerts: recent and since_max must be at least 1");
		return TN_EINVAL;
	}
	if (!(a = calloc(1, sizeof *a))) {
		tn_registry_free(o->consoles);
		snprintf(err, errlen, "out of memory");
		return TN_ENOMEM;
	}
	a->o = *o;
	a->consoles = o->consoles;
	a->insecure = !o->server_secret;
	for (int p = 0; p < 5; p++)
		a->escalating |= o->escalate_s[p] > 0;
	if (o->server_secret)
		snprintf(a->secret, sizeof a->secret, "%s", o->server_secret);
	atomic_init(&a->stop, 0);
	snprintf(err, errlen, "out of memory");
	if (!msgpack_zone_init(&a->zone, 8192) || !msgpack_zone_init(&a->req_zone, 4096) ||
	    !msgpack_zone_init(&a->red_zone, 8192) || tn__ring_init(&a->sens_ring, 4) != 0 ||
	    tn__ring_init(&a->registry_ring, 4) != 0 || tn__ring_init(&a->settings_ring, 4) != 0 ||
	    tn__ring_init(&a->to_pg, JOBS) != 0 ||
	    tn__ring_init(&a->from_pg, JOBS) != 0 ||
	    !(a->recent = calloc(o->recent, sizeof *a->recent)))
		goto fail;
	for (; a->jobs_free < JOBS; a->jobs_free++)
		if (!(a->jobs[a->jobs_free] = calloc(1, sizeof **a->jobs)))
			goto fail;
	if ((rc = tn_journal_reader_open(o->journal_dir, 0, &a->rd)) != 0) {
		snprintf(err, errlen, "cannot read the journal: %s", tn_strerror(rc));
		goto fail;
	}
	a->rebuild_end = ck_pr_load_64(o->durable);
	if (!(a->loop = ev_loop_new(EVFLAG_AUTO)))
		goto fail;
	ev_async_init(&a->wake, on_wake);
	a->wake.data = a;
	ev_async_start(a->loop, &a->wake);
	if ((rc = tn__alerts_pg_start(o->conninfo, &a->to_pg, &a->from_pg, wake_from_worker, a,
				      &a->pg)) != 0)
		goto fail;
	load_acked(a);
	if (o->drill_in && o->max_drills > 0) {
		struct tn__desk_opts dopt = {
			.to_commit = o->drill_in,
			.from_commit = o->drill_out,
			.wake_commit = o->wake_commit,
			.wake_ud = o->wake_ud,
			.max_active = o->max_drills,
			.reply = desk_reply,
			.recycle = desk_recycle,
			.to_pg = desk_to_pg,
			.job = desk_job,
			.host = a,
		};
		if ((rc = tn__desk_new(&dopt, &a->desk)) != 0)
			goto fail;
	}

	rc = TN_EZMQ;
	if (!(a->ctx = zmq_ctx_new())) {
		snprintf(err, errlen, "zmq_ctx_new: %s", zmq_strerror(errno));
		goto fail;
	}
	/* The ZAP handler first: until it is bound, libzmq admits any client. */
	a->zap = zmq_socket(a->ctx, ZMQ_REP);
	if (!a->zap || zmq_bind(a->zap, ZAP_ENDPOINT) != 0 || setopt_int(a->zap, ZMQ_LINGER, 0)) {
		snprintf(err, errlen, "cannot bind the consoles' zap handler: %s",
			 zmq_strerror(errno));
		goto fail;
	}
	/* Subscriptions are a few bytes; requests are small maps. CURVE adds 33. */
	const char *pubs[CLEARANCES] = {[TN_SENS_PUBLIC] = o->pub_public_endpoint,
					[TN_SENS_OFFICIAL] = o->pub_official_endpoint,
					[TN_SENS_OFFICIAL_SENSITIVE] = o->pub_endpoint};
	for (int c = CLEARANCES - 1; c >= 0; c--)
		if (pubs[c] && pubs[c][0] &&
		    (rc = console_socket(a, ZMQ_XPUB, pubs[c],
					 tn_sensitivity_name((enum tn_sensitivity)c), 1024 + 33,
					 &a->pub[c], err, errlen)))
			goto fail;
	if ((rc = console_socket(a, ZMQ_ROUTER, o->control_endpoint, ZAP_DOMAIN, CONTROL_MAX + 33,
				 &a->ctl, err, errlen)))
		goto fail;
	if (o->monitor && zmq_socket_monitor(a->pub[TN_SENS_OFFICIAL_SENSITIVE], o->monitor,
					     ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) != 0) {
		snprintf(err, errlen, "cannot monitor the pub socket: %s", zmq_strerror(errno));
		goto fail;
	}
	if (watch_fd(a, a->zap, &a->zap_io) != 0 || watch_fd(a, a->ctl, &a->ctl_io) != 0)
		goto fail;
	for (int c = 0; c < CLEARANCES; c++)
		if (a->pub[c] && watch_fd(a, a->pub[c], &a->pub_io[c]) != 0)
			goto fail;
	if (!a->insecure && (rc = tn__subs_new(SUBS_MAX, subs_keep, subs_cut, a, &a->subs)) != 0)
		goto fail;
	ev_timer_init(&a->poll, on_poll, POLL_S, POLL_S);
	a->poll.data = a;
	ev_timer_start(a->loop, &a->poll);
	if (o->conninfo) {
		/* the official-sensitive ids, before the first alert: until they
		 * are known every asset counts as one (nothing explained) */
		struct tn_graph *g = NULL;
		int64_t generation = -1;
		char why[512];
		if (tn_assets_load_pg(o->conninfo, &g, &generation, why, sizeof why) != 0 ||
		    tn__sensset_from_graph(g, &a->sens) != 0)
			tn_warn("alerts: asset registry not loaded: official consoles get no "
				"explanations until it is",
				"error=\"%s\"", tn_logq(why));
		tn_graph_free(g);
		a->sens_serial = 1;
		if ((rc = tn_assets_watch_start(o->conninfo, o->assets_poll_ms, generation,
						publish_graph, a, &a->assets)) != 0) {
			snprintf(err, errlen, "cannot start the alerts' assets watcher");
			goto fail;
		}
	}
	if (pthread_create(&a->thread, NULL, alerts_main, a) != 0) {
		rc = TN_ENOMEM;
		snprintf(err, errlen, "cannot start the alerts thread");
		goto fail;
	}
	a->started = true;
	tn_info("alerts listening",
		"pub=%s pub_official=%s pub_public=%s control=%s recent=%u official_sensitive=%s",
		o->pub_endpoint, a->pub[TN_SENS_OFFICIAL] ? o->pub_official_endpoint : "-",
		a->pub[TN_SENS_PUBLIC] ? o->pub_public_endpoint : "-", o->control_endpoint,
		o->recent, a->sens ? "loaded" : "unknown");
	*out = a;
	return 0;
fail:
	tn_alerts_stop(a, 0);
	return rc;
}

/* The assets watcher's callback (its thread): the set of a new graph. */
static bool publish_graph(void *ud, struct tn_graph *g)
{
	struct tn_alerts *a = ud;
	struct tn__sensset *s;
	if (tn__sensset_from_graph(g, &s) != 0)
		return false; /* offered again */
	if (!tn__ring_push(&a->sens_ring, s)) {
		tn__sensset_free(s);
		return false;
	}
	tn_graph_free(g);
	ev_async_send(a->loop, &a->wake);
	return true;
}

int tn_alerts_publish_escalation(struct tn_alerts *a, const int escalate_s[5])
{
	int *d = malloc(5 * sizeof *d);
	if (!d)
		return TN_ENOMEM;
	memcpy(d, escalate_s, 5 * sizeof *d);
	if (!tn__ring_push(&a->settings_ring, d)) {
		free(d);
		return TN_EFULL;
	}
	ev_async_send(a->loop, &a->wake);
	return 0;
}

bool tn_alerts_publish_registry(void *ud, struct tn_registry *r)
{
	struct tn_alerts *a = ud;
	if (!tn__ring_push(&a->registry_ring, r))
		return false;
	ev_async_send(a->loop, &a->wake);
	return true;
}

void tn_alerts_stats(const struct tn_alerts *a, struct tn_alerts_stats *out)
{
	const struct tn_alerts_stats *s = &a->st;
	out->published = ck_pr_load_64(&s->published);
	out->loaded = ck_pr_load_64(&s->loaded);
	out->legacy_changes = ck_pr_load_64(&s->legacy_changes);
	out->seq_gaps = ck_pr_load_64(&s->seq_gaps);
	out->undecodable = ck_pr_load_64(&s->undecodable);
	out->requests = ck_pr_load_64(&s->requests);
	out->bad_requests = ck_pr_load_64(&s->bad_requests);
	out->replies_dropped = ck_pr_load_64(&s->replies_dropped);
	out->jobs_busy = ck_pr_load_64(&s->jobs_busy);
	out->zap_accepted = ck_pr_load_64(&s->zap_accepted);
	out->zap_refused = ck_pr_load_64(&s->zap_refused);
	out->audit_dropped = ck_pr_load_64(&s->audit_dropped);
	out->zap_wrong_clearance = ck_pr_load_64(&s->zap_wrong_clearance);
	out->redact_failed = ck_pr_load_64(&s->redact_failed);
	out->open_full = ck_pr_load_64(&s->open_full);
	out->escalations = ck_pr_load_64(&s->escalations);
	out->snapshots_truncated = ck_pr_load_64(&s->snapshots_truncated);
	out->last_seq = ck_pr_load_64(&s->last_seq);
	out->offset = ck_pr_load_64(&s->offset);
	out->drill_published = ck_pr_load_64(&s->drill_published);
	out->rebuilt = ck_pr_load_8((const uint8_t *)&s->rebuilt) != 0;
	for (int i = 0; i < 5; i++) {
		out->published_by_priority[0][i] = ck_pr_load_64(&s->published_by_priority[0][i]);
		out->published_by_priority[1][i] = ck_pr_load_64(&s->published_by_priority[1][i]);
		out->open_by_priority[i] = ck_pr_load_64(&s->open_by_priority[i]);
	}
	out->acks = ck_pr_load_64(&s->acks);
	out->catchups = ck_pr_load_64(&s->catchups);
	out->at_risk = ck_pr_load_64(&s->at_risk);
	out->consoles_cut = ck_pr_load_64(&s->consoles_cut);
	out->subs_untracked = ck_pr_load_64(&s->subs_untracked);
	out->subscribers = ck_pr_load_64(&s->subscribers);
}

void *tn_alerts_zmq_ctx(const struct tn_alerts *a)
{
	return a->ctx;
}

void tn_alerts_stop(struct tn_alerts *a, int drain_ms)
{
	if (!a)
		return;
	if (a->started) {
		a->deadline_ns = mono_ns() + (int64_t)drain_ms * 1000000;
		atomic_store(&a->stop, 1);
		ev_async_send(a->loop, &a->wake);
		pthread_join(a->thread, NULL);
		struct tn_alerts_stats st;
		tn_alerts_stats(a, &st);
		tn_info("alerts stopped",
			"last_seq=%" PRIu64 " published=%" PRIu64 " escalations=%" PRIu64
			" requests=%" PRIu64 " bad_requests=%" PRIu64 " replies_dropped=%" PRIu64
			" jobs_busy=%" PRIu64 " audit_dropped=%" PRIu64 " seq_gaps=%" PRIu64
			" undecodable=%" PRIu64 " zap_refused=%" PRIu64
			" zap_wrong_clearance=%" PRIu64 " redact_failed=%" PRIu64
			" open_full=%" PRIu64,
			st.last_seq, st.published, st.escalations, st.requests, st.bad_requests,
			st.replies_dropped, st.jobs_busy, st.audit_dropped, st.seq_gaps,
			st.undecodable, st.zap_refused, st.zap_wrong_clearance, st.redact_failed,
			st.open_full);
	}
	/* The worker before the jobs: one may still be in its hands. */
	tn__alerts_pg_stop(a->pg);
	if (a->desk) {
		/* the committer has stopped: what it committed is answered (or
		 * dropped, for consoles gone), and the jobs come back */
		tn__desk_committed(a->desk);
		tn__desk_free(a->desk);
	}
	/* the watcher first: its callback wakes this thread's loop */
	tn_assets_watch_stop(a->assets);
	/* goodbye to consoles: what was published leaves, for a bounded time */
	int64_t left_ms = (a->deadline_ns - mono_ns()) / 1000000;
	int linger = left_ms < 0 ? 0 : left_ms > PUB_LINGER_MS ? PUB_LINGER_MS : (int)left_ms;
	for (int c = CLEARANCES - 1; c >= 0; c--)
		if (a->pub[c]) {
			zmq_setsockopt(a->pub[c], ZMQ_LINGER, &linger, sizeof linger);
			zmq_close(a->pub[c]);
		}
	if (a->ctl)
		zmq_close(a->ctl);
	if (a->zap)
		zmq_close(a->zap);
	if (a->ctx)
		zmq_ctx_term(a->ctx);
	if (a->loop)
		ev_loop_destroy(a->loop);
	tn_journal_reader_close(a->rd);
	if (a->recent) {
		for (unsigned i = 0; i < a->o.recent; i++)
			tn__alert_unref(a->recent[i]);
		free(a->recent);
	}
	tdestroy(a->open, open_free);
	free(a->oh);
	tn__subs_free(a->subs);
	struct tn__alerts_job *j;
	if (a->to_pg.buf)
		while ((j = tn__ring_pop(&a->to_pg)) != NULL)
			job_put(a, j);
	if (a->from_pg.buf)
		while ((j = tn__ring_pop(&a->from_pg)) != NULL)
			job_put(a, j);
	if (a->acked_job)
		job_put(a, a->acked_job);
	for (size_t i = 0; i < a->jobs_free; i++) {
		free(a->jobs[i]->id.data);
		free(a->jobs[i]->reply.data);
		free(a->jobs[i]->acked);
		free(a->jobs[i]);
	}
	free(a->esc_buf.data);
	free(a->busy.id.data);
	free(a->busy.reply.data);
	struct tn_registry *r;
	while (a->registry_ring.buf && (r = tn__ring_pop(&a->registry_ring)) != NULL)
		tn_registry_free(r);
	tn__ring_destroy(&a->registry_ring);
	int *d;
	while (a->settings_ring.buf && (d = tn__ring_pop(&a->settings_ring)) != NULL)
		free(d);
	tn__ring_destroy(&a->settings_ring);
	tn__ring_destroy(&a->to_pg);
	tn__ring_destroy(&a->from_pg);
	tn_registry_free(a->consoles);
	struct tn__sensset *ss;
	while (a->sens_ring.buf && (ss = tn__ring_pop(&a->sens_ring)) != NULL)
		tn__sensset_free(ss);
	tn__ring_destroy(&a->sens_ring);
	sens_unref(a->sens); /* after the jobs, which held references */
	msgpack_zone_destroy(&a->red_zone);
	msgpack_zone_destroy(&a->zone);
	msgpack_zone_destroy(&a->req_zone);
	free(a);
}
