/*
 * alerts_int.h - what the alerts thread's files share (server/alerts*.c):
 * one alert as sent, the JSON-to-MessagePack conversion of its body, the
 * control requests, and the PostgreSQL worker that serves the ones needing
 * the database. Not part of any API.
 */
#ifndef TN_ALERTS_INT_H
#define TN_ALERTS_INT_H

#include <msgpack.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "journal.h"
#include "alerts.h"
#include "ring.h"
#include "tocsin/correlator.h"
#include "tocsin/graph.h"

#define TN__ALERT_TOPIC_MAX 192   /* "drill/<name>/P<n>/<area>" */
#define TN__ALERT_ENVELOPE_MAX 4  /* routing frames kept of a control request */
#define TN__ALERT_OPERATOR_MAX 128

/*
 * One alert as sent: topic and MessagePack body in one allocation,
 * reference counted by its holders (the recent ring and the open-incident
 * table), all in the alerts thread.
 */
struct tn__alert {
	unsigned refs;
	uint64_t seq;
	uint32_t rev;
	uint8_t priority;
	bool open;                 /* msg alert or update: the incident stays open */
	uint32_t at_risk;          /* at_risk_count.pending of the body (metrics) */
	char incident[TN_INCIDENT_ID_LEN + 1];
	size_t topic_len, body_len;
	unsigned char *body;       /* points after topic in data */
	/* the body for lower clearances (tn__alert_redact), made when first
	 * needed: [0] public, [1] official, judged by the official-sensitive
	 * set of serial red_serial (the alerts thread's; 0: not made) */
	struct tn__bytes red[2];
	uint64_t red_serial;
	char data[];               /* topic (NUL-terminated), then the body */
};

/*
 * tn__alert_from_change - the alert of one CHANGE record's fields: stream,
 * msg, priority (1-5), area and the JSON body (`{"seq":N,...}`), all
 * borrowed. The topic is `live/P<n>/<area>` for the live stream and
 * `drill/<stream>/P<n>/<area>` otherwise (an empty area is "-"). Returns 0
 * and *out (refs 1; caller owns it, tn__alert_unref), TN_ENOTFOUND (a body
 * without seq: from before alerts existed, never published), TN_ECORRUPT
 * (not a JSON object, or fields that make no topic), TN_ENOMEM. Pure; any
 * thread.
 */
int tn__alert_from_change(const char *stream, size_t stream_len, const char *msg,
			  size_t msg_len, int64_t priority, const char *area, size_t area_len,
			  const char *json, size_t json_len, struct tn__alert **out);

/*
 * tn__alert_from_row - the same from a row of the alerts view: the seq is
 * given (jsonb keeps no key order, so it is not first in the body there).
 * Returns 0 and *out, TN_ECORRUPT (also seq 0), TN_ENOMEM. Pure.
 */
int tn__alert_from_row(const char *stream, size_t stream_len, const char *msg, size_t msg_len,
		       int64_t priority, const char *area, size_t area_len, const char *json,
		       size_t json_len, uint64_t seq, struct tn__alert **out);

/*
 * tn__alert_pack_json - append the JSON text (len bytes, borrowed) to `out`
 * (the caller's) as MessagePack, in one pass: objects become maps (keys in
 * the order written), arrays arrays, integers int, reals float64, strings
 * str, with msgpack-c's smallest headers. Accepts what jansson accepts.
 * Returns 0, TN_ECORRUPT (not JSON; depth over 32; an integer outside int64;
 * a real that overflows; \u0000) with `out` as it was, TN_ENOMEM. Pure; any
 * thread.
 */
int tn__alert_pack_json(struct tn__bytes *out, const char *json, size_t len);

/* Drop one reference; frees at zero. NULL is fine. Alerts thread. */
void tn__alert_unref(struct tn__alert *a);

/* ---- need to know (alerts_redact.c) ----------------------------------------- */

/*
 * The official-sensitive asset ids of one asset registry, sorted (strcmp):
 * immutable once built. Built in the assets watcher's thread and handed to
 * the alerts thread through a ring; from then on `refs` is counted by the
 * alerts thread alone (the thread's current set, and each job that carries
 * it to the PostgreSQL worker, which only reads it until the job comes back).
 */
struct tn__sensset {
	unsigned refs;
	size_t n;
	char **ids;  /* n ids, into text */
	char *text;
};

/*
 * tn__sensset_from_graph - the set of g's official-sensitive assets (g
 * borrowed; it may be freed once this returns). Returns 0 and *out (refs 1;
 * the caller's: tn__sensset_free), or TN_ENOMEM. Pure; any thread.
 */
int tn__sensset_from_graph(const struct tn_graph *g, struct tn__sensset **out);

/* Whether the `len` bytes at id (not NUL-terminated) are in s. Pure; any thread. */
bool tn__sensset_has(const struct tn__sensset *s, const char *id, size_t len);

/* Free s now, whatever refs says. NULL is fine. */
void tn__sensset_free(struct tn__sensset *s);

/*
 * tn__alert_redact - the alert body `body` (len bytes, a packed map, as
 * sent; borrowed) for a console of `clearance`, into *out (reset first; the
 * caller's), unpacking into `zone` (cleared first):
 * - official-sensitive: the same map;
 * - official: the body's documented keys; no `explain` entry whose member
 *   or path names an official-sensitive asset of `sens`, no `via` of an
 *   at_risk entry whose asset or via is one. sens NULL (the registry not
 *   loaded): every asset counts as official-sensitive;
 * - public: seq, incident, rev, msg, status, priority, cause, confidence,
 *   sectors, area, opened, updated, at_risk_count, merged_into; a title
 *   naming the root's sector and the area; root {sector, time}; affected
 *   [{sector, state, time}]; at_risk [{sector, eta, eta_latest, outcome}];
 *   no explain. Each value kept must be of the body's vocabulary (a sector,
 *   a state, a time, an incident id, an area code, ...), else it is left out.
 * Unknown keys are left out of both lower bodies. Returns 0, TN_ECORRUPT
 * (not one map), TN_ENOMEM (*out then empty). Pure; any thread.
 */
int tn__alert_redact(const unsigned char *body, size_t len, enum tn_sensitivity clearance,
		     const struct tn__sensset *sens, msgpack_zone *zone, struct tn__bytes *out);

/*
 * tn__alert_redact_lower - both lower bodies of `body` at once, as
 * tn__alert_redact makes them for public (into *public_out) and official
 * (into *official_out, judged by sens), with one unpack: publishing needs
 * both, and the unpack is most of the cost. Returns 0, TN_ECORRUPT,
 * TN_ENOMEM (both outs then empty). Pure; any thread.
 */
int tn__alert_redact_lower(const unsigned char *body, size_t len, const struct tn__sensset *sens,
			   msgpack_zone *zone, struct tn__bytes *public_out,
			   struct tn__bytes *official_out);

/* ---- the clock and escalation (alerts_clock.c) ---------------------------- */

/*
 * tn__alerts_clock_of - the time a journal record tells the alerts thread:
 * a TICK's clock, or an EVENT's event `time`, in microseconds since the
 * epoch. Unpacks into `zone` (cleared first). Returns 0 and *us,
 * TN_ENOTFOUND (another type of record), TN_ECORRUPT. Pure.
 */
int tn__alerts_clock_of(const struct tn_journal_record *rec, msgpack_zone *zone, int64_t *us);

/*
 * tn__escalation_due - the escalation level an unacknowledged incident has
 * reached at `now_us` when its clock started at `from_us`: one level per
 * whole `deadline_s` elapsed (0: none yet, or deadline_s <= 0: never).
 * Bounded at 1000000. Pure.
 */
unsigned tn__escalation_due(int64_t from_us, int64_t now_us, int deadline_s);

/* ---- the PostgreSQL worker ----------------------------------------------- */

enum tn__alerts_job_kind {
	TN__JOB_SINCE,  /* alerts after `seq` from the alerts view, for a console */
	TN__JOB_ACK,    /* store an ack and its audit row, for a console */
	TN__JOB_AUDIT,  /* an audit row only (refused handshakes); no reply */
	TN__JOB_ACKED,  /* at start: the highest acked rev of each incident */
	TN__JOB_DRILL_NEW,     /* a drill's row, before its start is journaled (TN_EEXIST: used) */
	TN__JOB_DRILL_STOPPED, /* a drill's stopped_at; no reply */
};

/* Highest acked rev of an incident (TN__JOB_ACKED's answer). */
struct tn__acked {
	char incident[TN_INCIDENT_ID_LEN + 1];
	uint32_t rev;
};

/*
 * A job handed to the worker and back (SPSC rings both ways); one thread
 * owns it at a time: whoever popped it last. The worker fills `reply` (a
 * complete control reply) and `rc`.
 */
struct tn__alerts_job {
	enum tn__alerts_job_kind kind;
	/* the console's routing frames, to answer it */
	unsigned n_env;
	size_t env_len[TN__ALERT_ENVELOPE_MAX];
	unsigned char env[TN__ALERT_ENVELOPE_MAX][256];
	struct tn__bytes id;         /* msgpack of the request's id, or empty */
	/* parameters */
	char stream[65];             /* "live" or a drill's name */
	uint64_t seq;                /* SINCE: after this; ... */
	uint64_t last;               /* SINCE: the stream's last seq, for the reply */
	unsigned limit;              /* SINCE: alerts per reply */
	char incident[TN_INCIDENT_ID_LEN + 1];
	uint32_t rev;
	char operator_[TN__ALERT_OPERATOR_MAX + 1];
	char console[65];            /* the console's registered name */
	/* SINCE: the clearance of the key that asked, and the official-sensitive
	 * set its alerts are redacted by (a reference the alerts thread holds
	 * for the job; NULL: none loaded, or not needed) */
	enum tn_sensitivity clearance;
	struct tn__sensset *sens;
	char action[32];             /* AUDIT */
	char subject[128], origin[64], reason[128];
	/* results */
	int rc;                      /* 0 or TN_E* */
	struct tn__bytes reply;      /* SINCE/ACK: the whole reply body */
	struct tn__acked *acked;     /* ACKED: malloc'd array */
	size_t n_acked;
};

struct tn__alerts_pg;

/*
 * tn__alerts_pg_start - the worker thread: pops jobs from `in`, runs them on
 * its own connection to `conninfo` (borrowed; reconnecting when lost; every
 * statement bounded by statement_timeout), pushes them to `out` and calls
 * wake(ud). `in` and `out` must each hold every job that can be in flight.
 * Returns 0 and *out_w, or TN_ENOMEM. Main or alerts thread.
 */
int tn__alerts_pg_start(const char *conninfo, struct tn__ring *in, struct tn__ring *out,
			void (*wake)(void *ud), void *ud, struct tn__alerts_pg **out_w);

/* Stop and join the worker (a job in progress finishes first). NULL is fine. */
void tn__alerts_pg_stop(struct tn__alerts_pg *w);

/* ---- the drill desk (alerts_drill.c) -------------------------------------- */

/*
 * The drill desk serves a planner's drill operations on the control channel
 * (design §6, docs/drills.md): `drill_start`, `drill_events`, `drill_stop`
 * and `drill_status`. It journals a drill's input as DRILL records
 * (journal.h) through a lane of its own to the committer, and answers once
 * they are durable; the drill correlator (correlate.h, drill mode) reads
 * them and journals the drill's revisions on the drill's own stream. It
 * learns what became of each drill from the journal, as the alerts thread
 * reads it (start, stop, ended, the drill's last seq).
 *
 * Bounds: TN__DESK_FRAMES requests in flight to the journal (more are
 * answered E_UNAVAILABLE, counted in busy), TN__DESK_DRILLS drills known
 * (the oldest ended one is forgotten for a new one; PostgreSQL's `drills`
 * keeps them all), max_active drills running at once.
 *
 * Thread contract: everything here runs in the alerts thread.
 */
#define TN__DESK_FRAMES TN_ALERTS_DRILL_FRAMES
#define TN__DESK_DRILLS 256

struct tn__desk_opts {
	struct tn__ring *to_commit, *from_commit; /* the lane; each holds TN__DESK_FRAMES */
	void (*wake_commit)(void *ud);
	void *wake_ud;
	unsigned max_active;         /* drills running at once (>= 1) */
	/* the host (alerts.c): send j->reply to its console (n_env 0: none) */
	void (*reply)(void *host, struct tn__alerts_job *j);
	/* and recycle j, once the desk is done with a job it kept */
	void (*recycle)(void *host, struct tn__alerts_job *j);
	/* queue j (the host's) for the PostgreSQL worker */
	void (*to_pg)(void *host, struct tn__alerts_job *j);
	/* a free job for a request of the desk's own (NULL: none free) */
	struct tn__alerts_job *(*job)(void *host);
	void *host;
};

struct tn__desk_stats {
	uint64_t started, stopped, events, refused, busy, forgotten;
};

/* A drill request's arguments: msgpack objects of the request (borrowed,
 * valid during the call), NULL when absent. */
struct tn__desk_args {
	const msgpack_object *drill, *events, *tick, *end;
	bool planner;      /* the key is a planner's */
	const char *actor; /* its registered name */
};

struct tn__desk;

/* tn__desk_new - a desk (the caller's; tn__desk_free). 0, TN_ENOMEM, TN_EINVAL. */
int tn__desk_new(const struct tn__desk_opts *o, struct tn__desk **out);

/* tn__desk_free - frames still with the committer are freed too: call it
 * after the committer has stopped. NULL is fine. */
void tn__desk_free(struct tn__desk *d);

/*
 * tn__desk_request - serve `op` ("drill_start", ...) for job j (the host's;
 * its routing and id filled). Either answers at once through opts.reply, or
 * keeps j (*queued true) until the journal or the worker is done with it.
 */
void tn__desk_request(struct tn__desk *d, struct tn__alerts_job *j, const char *op,
		      const struct tn__desk_args *args, bool *queued);

/* tn__desk_job_done - a TN__JOB_DRILL_* job back from the worker (the desk's now). */
void tn__desk_job_done(struct tn__desk *d, struct tn__alerts_job *j);

/* tn__desk_committed - take back the frames the committer has done with, and answer. */
void tn__desk_committed(struct tn__desk *d);

/* tn__desk_journal - a DRILL record read from the journal (rec borrowed;
 * unpacked into zone, cleared first). */
void tn__desk_journal(struct tn__desk *d, const struct tn_journal_record *rec,
		      msgpack_zone *zone);

/* tn__desk_change - revision `rev` (1: a new incident) of drill stream `name`
 * (len bytes) with `seq` was read. */
void tn__desk_change(struct tn__desk *d, const char *name, size_t len, uint64_t seq,
		     uint32_t rev);

/* tn__desk_last_seq - the last seq of a known drill's stream; false if unknown. */
bool tn__desk_last_seq(const struct tn__desk *d, const char *name, uint64_t *seq);

void tn__desk_stats(const struct tn__desk *d, struct tn__desk_stats *out);

/* The head of a reply: a map of 1 + op + id + extra_keys entries, then
 * "ok", "op" (when not NULL) and "id" (the request's, when it had one);
 * the caller packs the extra_keys entries after it. */
void tn__alerts_reply_head(msgpack_packer *pk, const struct tn__alerts_job *j, bool ok,
			   const char *op, unsigned extra_keys);

/* A complete error reply into j->reply: {"ok": false, "op", "code", "msg"};
 * code: a TN_E* with a wire name (others are sent as E_UNAVAILABLE). */
void tn__alerts_reply_error(struct tn__alerts_job *j, const char *op, int code, const char *msg);
/* The same with the message formatted from fmt and ap (cut at 255 bytes). */
void tn__alerts_reply_verror(struct tn__alerts_job *j, const char *op, int code, const char *fmt,
			     va_list ap) __attribute__((format(printf, 4, 0)));

/* ---- subscribers (alerts_subs.c) ----------------------------------------- */

#define TN__SUBS_KEY_MAX 40  /* a Z85 public key */
#define TN__SUBS_NAME_MAX 64 /* a console's name (registry.h) */

struct sockaddr;
struct tn__subs;

/* May `key` still read the stream of `clearance`? (registry, wall clock) */
typedef bool (*tn__subs_keep_fn)(void *ud, const char *key, int clearance);
/* A connection about to be shut down: for the log, the audit and a count. */
typedef void (*tn__subs_cut_fn)(void *ud, const char *key, const char *name, int clearance,
				const struct sockaddr *peer, unsigned peer_len);

/*
 * tn__subs_new - a table of at most max subscribed connections, judged by
 * keep and reported by on_cut (may be NULL), both called with ud from
 * tn__subs_note and tn__subs_sweep. Returns 0 and *out (the caller's,
 * tn__subs_free), TN_EINVAL (max 0), TN_ENOMEM. Alerts thread.
 */
int tn__subs_new(size_t max, tn__subs_keep_fn keep, tn__subs_cut_fn on_cut, void *ud,
		 struct tn__subs **out);
void tn__subs_free(struct tn__subs *t);

/*
 * tn__subs_note - a subscription message arrived on the stream of
 * `clearance` from the connection fd (ZMQ_SRCFD) of `key` (its User-Id)
 * registered as `name` (NULL: unknown); both borrowed, copied. Returns 0 (tracked), TN_ENOTFOUND (the connection is already
 * gone), TN_EINVAL (no fd or no key), TN_EFULL (no room even after a
 * sweep: the connection has been shut down, the caller counts it). Alerts
 * thread.
 */
int tn__subs_note(struct tn__subs *t, int fd, int clearance, const char *key,
		  const char *name);

/*
 * tn__subs_sweep - forget connections that have ended and shut down (TCP
 * shutdown, both ways) those whose key `keep` refuses, calling on_cut for
 * each first. Returns how many were shut down. Alerts thread.
 */
size_t tn__subs_sweep(struct tn__subs *t);

/* tn__subs_count - connections tracked now. Any thread owning t. */
size_t tn__subs_count(const struct tn__subs *t);

#endif
