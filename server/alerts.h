/*
 * alerts.h - the alerts thread: incident revisions to control rooms
 * (design §3.2, §3.3; docs/control-rooms.md).
 *
 * It tails the journal below the durable offset, as the store and the
 * correlator do, and turns each CHANGE record (an incident revision with
 * its alert seq, journaled by the correlator) into an alert: a topic
 * (`live/P<n>/<area>`) and a MessagePack body, published on a PUB socket.
 * The journal is the only source, so the alerts go out in seq order, and
 * after a crash the ones journaled before it are known again without being
 * sent twice: on start the thread reads the journal up to the durable
 * offset into memory (the recent alerts, the open incidents) and publishes
 * only what comes after.
 *
 * The control ROUTER serves `since` (from the recent alerts in memory, or
 * from PostgreSQL's alerts view when older), `snapshot` (the open
 * incidents) and `ack`. Whatever needs PostgreSQL goes to a worker thread
 * through a ring and comes back the same way, so the loop never blocks on
 * the database; without it, `since` from memory and `snapshot` still work.
 *
 * Consoles authenticate with CURVE: the thread has its own ZeroMQ context
 * with its own ZAP handler, which admits the keys of the console registry
 * (kind 'console') on the ZAP domain "console", and nothing else; adapter
 * keys are in another registry, served by the ingest thread's handler.
 *
 * Need to know: there is a PUB per clearance, each with the ZAP domain of
 * its clearance's name ("official-sensitive", "official", "public"), where
 * the handler admits only the keys of exactly that clearance. The first has
 * every alert whole; the others get each body redacted for them
 * (alerts_int.h, tn__alert_redact), and so does every alert a control reply
 * carries (`since`, `snapshot`), for the clearance of the key that asked.
 * The official redaction needs the registry's official-sensitive asset ids:
 * the thread keeps its own assets watcher, whose callback turns each new
 * graph into the set and hands it over through a ring. Until a set has
 * come, every asset counts as official-sensitive.
 * Every control request is checked again against the current registry, so
 * a revoked console is refused at once; its PUB connection stays until it
 * disconnects (a PUB socket cannot refuse per message).
 *
 * Escalation: an open incident nobody has acknowledged is re-published on
 * `escalation/live/P<n>/<area>` with a level, once per deadline of its
 * priority, until it is acknowledged or closed (audited, `alert.escalate`).
 * Its clock is the journal's: the highest TICK (the committer's wall clock)
 * or event time read so far, so a rebuild replays it exactly and tests can
 * drive it with event times instead of waiting.
 *
 * A slow console does not slow the others: PUB drops, per subscriber, what
 * its high-water mark cannot hold, and a reply that cannot be queued is
 * dropped (counted). Such a console sees a seq gap and catches up with
 * `since`.
 *
 * Thread contract: start/stop/stats from the main thread;
 * tn_alerts_publish_registry from one other thread (the console registry
 * watcher); the assets watcher's callback from the watcher's own thread.
 */
#ifndef TN_ALERTS_H
#define TN_ALERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "outbox.h"
#include "ring.h"
#include "registry.h"

/* Frames of drill records in flight (the drill lane's rings hold as many). */
#define TN_ALERTS_DRILL_FRAMES 16

struct tn_alerts_opts {
	const char *journal_dir;      /* borrowed; must outlive the thread */
	const uint64_t *durable;      /* the committer's durable offset (ck_pr) */
	int nice;                     /* the thread's nice value (> 0: yields the CPU to the ack path) */
	const char *pub_endpoint;     /* alerts PUB, official-sensitive: every alert whole */
	/* the lower clearances' PUBs (docs/control-rooms.md, "Need to know"):
	 * NULL or "": none */
	const char *pub_official_endpoint, *pub_public_endpoint;
	const char *control_endpoint; /* control ROUTER */
	const char *server_secret;    /* Z85 secret key (copied); NULL: plain text, no ZAP keys */
	const char *conninfo;         /* borrowed; must outlive the thread */
	struct tn_registry *consoles; /* initial console keys; ownership passes (even on error) */
	/* how often the thread's assets watcher looks for a new registry (the
	 * official-sensitive asset ids the official stream is redacted by) */
	int assets_poll_ms;
	unsigned recent;              /* alerts kept in memory for `since` (>= 1) */
	unsigned since_max;           /* alerts per `since` reply (>= 1) */
	int sndhwm;                   /* PUB and ROUTER send high-water marks */
	/* Acknowledgement deadline of each priority (1..5) in seconds; 0: an
	 * unacknowledged incident of that priority never escalates. */
	int escalate_s[5];
	int handshake_ivl_ms;
	/* Where the thread publishes the journal offset it has read (ck_pr),
	 * for retention; the caller's, outliving the thread. */
	uint64_t *consumed;
	/* PostgreSQL's last alert seq at start (0: unknown): the last seq when
	 * the journal holds no alert any more (retention). */
	uint64_t seq_floor;
	/* CAP files of every live revision (outbox.h); NULL: none. Borrowed,
	 * running before the thread starts and stopped after it: this thread
	 * is its producer. */
	struct tn_outbox *outbox;
	/* An inproc endpoint where libzmq reports the PUB's connection events
	 * (zmq_socket_monitor; in the context tn_alerts_zmq_ctx gives), or NULL. */
	const char *monitor;
	/* Drills (alerts_int.h, the drill desk): a lane to the committer for
	 * the drills' records (rings of TN__DESK_FRAMES; frames come back
	 * unsignalled: the thread looks at each poll), the committer's wake,
	 * and max_drills running at once (0 or no rings: no drills). */
	struct tn__ring *drill_in, *drill_out;
	void (*wake_commit)(void *ud);
	void *wake_ud;
	unsigned max_drills;
};

struct tn_alerts_stats {
	uint64_t published, loaded;      /* alerts sent; alerts read at start without sending */
	uint64_t legacy_changes;         /* CHANGE records without seq (from before alerts) */
	uint64_t seq_gaps;               /* a seq other than the last + 1 in the journal */
	uint64_t undecodable;            /* CHANGE records that make no alert */
	uint64_t requests, bad_requests; /* control requests; refused with an error */
	uint64_t replies_dropped;        /* a console's queue was full or it had gone */
	uint64_t jobs_busy;              /* requests refused: every database job in flight */
	uint64_t zap_accepted, zap_refused, audit_dropped;
	uint64_t zap_wrong_clearance;    /* of zap_refused: a key of another clearance */
	uint64_t redact_failed;          /* a lower clearance's body not made (memory): not sent */
	uint64_t open_full;              /* open incidents not tracked (table full) */
	uint64_t escalations;            /* escalations published */
	uint64_t snapshots_truncated;    /* snapshots limited to the 10000 most urgent */
	uint64_t drill_published;        /* of `published`, drills' alerts */
	uint64_t last_seq, offset;
	bool rebuilt;                    /* the start-up read has reached the journal's end */
	uint64_t published_by_priority[2][5]; /* [0 live, 1 drills][priority - 1] */
	uint64_t acks;                   /* acknowledgements stored */
	uint64_t catchups;               /* `since` requests */
	uint64_t open_by_priority[5];    /* gauges: open live incidents tracked, by priority */
	uint64_t at_risk;                /* gauge: at-risk assets pending over those incidents */
	uint64_t consoles_cut;           /* subscribed connections shut down: key ended */
	uint64_t subs_untracked;         /* subscribed connections refused: table full */
	uint64_t subscribers;            /* gauge: subscribed connections tracked */
};

struct tn_alerts;

/*
 * tn_alerts_start - bind the ZAP handler, then the PUB and control sockets,
 * start the PostgreSQL worker and the thread. Returns 0 and *out (the
 * caller's until tn_alerts_stop), TN_EZMQ (err says which endpoint and
 * why), TN_ENOMEM, TN_EINVAL (recent or since_max 0). Main thread.
 */
int tn_alerts_start(const struct tn_alerts_opts *o, struct tn_alerts **out, char *err,
		    size_t errlen);

/*
 * tn_alerts_publish_escalation - new acknowledgement deadlines (a reload;
 * escalate_s as in tn_alerts_opts, copied), taken by the thread at its next
 * pass and used from the next TICK on. Through a ring of 4 and the thread's
 * ev_async. Returns 0, TN_EFULL (three not yet taken; nothing handed over),
 * TN_ENOMEM. Main thread, between start and stop.
 */
int tn_alerts_publish_escalation(struct tn_alerts *a, const int escalate_s[5]);
/* Hand over a new console registry (ownership passes when it returns true). One thread. */
bool tn_alerts_publish_registry(void *a, struct tn_registry *r);

/*
 * tn_alerts_pg_last_seq - the highest alert seq of `stream` in PostgreSQL
 * (0 when none), for the correlator's seq_floor. Returns 0, or TN_EDB (err
 * says why). Any thread; blocks (connect_timeout bounded): call it at start.
 */
int tn_alerts_pg_last_seq(const char *conninfo, const char *stream, uint64_t *seq, char *err,
			  size_t errlen);

/* The thread's ZeroMQ context (for the PUB's monitor endpoint). Any thread, until stop. */
void *tn_alerts_zmq_ctx(const struct tn_alerts *a);

/* tn_alerts_stats - copy the counters into *out (the caller's). Any thread. */
void tn_alerts_stats(const struct tn_alerts *a, struct tn_alerts_stats *out);

/*
 * tn_alerts_stop - publish what is durable (at most drain_ms), stop the
 * thread and the worker, close the sockets (the PUB lingers for what is
 * left of drain_ms, at most 500 ms, so the last alerts reach the consoles),
 * free everything. Main thread; NULL is fine.
 */
void tn_alerts_stop(struct tn_alerts *a, int drain_ms);

#endif
