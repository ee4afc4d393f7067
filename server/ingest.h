/*
 * ingest.h - the ingest thread: the ZAP handler and the adapters' ROUTER
 * (design §3.1, §7).
 *
 * Start-up order is the security contract: the ZAP handler is bound on
 * inproc://zeromq.zap.01 before any other socket exists (libzmq lets every
 * CURVE client in when no handler is bound), then the ROUTER is created with
 * CURVE, ZMQ_MAXMSGSIZE, the handshake interval and high-water marks, and
 * bound. The handler admits only keys of the current registry; every frame's
 * ZAP user id (the key) is checked again against the registry, so a revoked
 * key is refused on a live connection as soon as the new registry arrives.
 *
 * Per frame: decode and validate (wire.h), check the key's sector and asset
 * scopes, answer duplicates from the dedup set, pack the accepted events as
 * journal records and hand the frame to the committer; when it comes back
 * durable, answer {"ok", "dup", "err"}. Rejected input is journaled (bounded)
 * for the store to keep in `rejected`; refusals of keys are audited.
 *
 * Backpressure: when every frame of the pool is in flight, the thread stops
 * reading; ZeroMQ's high-water marks then push back on the adapters.
 *
 * Fair share (ratelimit.h, docs/security.md): each key has a token bucket
 * (events/s and burst: the registry's, else ingest.rate and ingest.burst)
 * and at most ingest.inflight_per_key frames in flight. A frame of a key at
 * its cap or with an empty bucket is refused whole with E_RATE before it is
 * decoded; events past the tokens left are refused one by one with E_RATE.
 * Either way nothing of it is journaled but one bounded `rejected` record,
 * so a flooder costs little and cannot fill the frame pool or the group
 * commit that other adapters' acks wait for. Insecure mode has no keys,
 * hence no per-key limits.
 *
 * Thread contract: start/stop from the main thread; everything else runs on
 * the ingest thread; tn_ingest_publish_registry from the registry watcher.
 */
#ifndef TN_INGEST_H
#define TN_INGEST_H

#include <stdbool.h>
#include <stdint.h>

#include "adapter_stats.h"
#include "committer.h"
#include "config.h"
#include "dedup.h"
#include "registry.h"

struct tn_ingest_stats {
	uint64_t frames, events, accepted, duplicates, rejected;
	uint64_t rejected_by_code[8]; /* index: -code - 1 for the wire codes (TN_EDECODE..) */
	uint64_t zap_accepted, zap_refused, revoked_refusals;
	uint64_t reply_drops;        /* replies the ROUTER could not deliver */
	uint64_t pool_stalls;        /* times reading stopped: every frame in flight */
	uint64_t rejects_not_kept;   /* rejected input over the keep budget (counted only) */
	uint64_t audit_dropped;      /* audit records without a free frame (should stay 0) */
	uint64_t registry_swaps;
	uint64_t loop_clock_s;       /* CLOCK_MONOTONIC s of the thread's last 1 s tick: it is alive */
	/* Gauges, read when the stats are taken: frames on the rings between
	 * the ingest thread and the committer. */
	uint64_t ring_to_commit, ring_from_commit;
	/* Fair share (ratelimit.h): items refused with E_RATE (events, or whole
	 * frames refused undecoded; also in rejected), of which whole frames
	 * because the key's bucket was empty, and frames because the key had
	 * ingest.inflight_per_key frames in flight already. */
	uint64_t rate_refused, rate_refused_frames, inflight_refused;
	/* The ROUTER's socket monitor, read by the ingest thread: connections
	 * accepted and closed, handshakes by result (failed: ZAP refusals too),
	 * auth.handshake_failed rows journaled, and failures not followed
	 * individually (over TN__HS_ADDRS addresses a minute: hs_audit.h). */
	uint64_t conn_accepted, conn_disconnected, hs_ok, hs_failed, hs_audited, hs_not_followed;
	/* From reading a frame to handing its reply to ZeroMQ: validation, the
	 * journal's group commit and fsync, and the waits between the threads;
	 * not the network, nor the ZeroMQ I/O thread's queues (the adapter's own
	 * round trip is this plus those). Last: tn_ingest_stats copies the
	 * struct as an array of uint64_t, which the histogram is too. */
	struct tn__hist ack_hist;
};

struct tn_ingest;
struct tn_committer;
struct tn_journal;

/*
 * tn_ingest_open - bind the ZAP handler, then the ROUTER, in the calling
 * thread, so that a bad endpoint fails start-up with a clear error.
 * `cfg` is borrowed and must outlive the ingest; `server_secret` (Z85, NULL
 * when cfg->insecure) is copied; `registry` and `dedup` pass to the ingest.
 * Returns 0 and *out, TN_EZMQ (err says which call failed and why),
 * TN_ENOMEM.
 */
int tn_ingest_open(const struct tn_config *cfg, const char *server_secret,
		   struct tn_registry *registry, struct tn_dedup *dedup, struct tn_ingest **out,
		   char *err, size_t errlen);

struct tn__ring;

struct tn_ingest_run_opts {
	struct tn_journal *journal; /* borrowed: the committer writes it */
	/* The journal's durable offset is published here (the caller's; it must
	 * outlive the ingest and the readers: store, correlator). */
	uint64_t *durable;
	/* The offset below which the journal may be deleted (retention): what
	 * the store and the correlator have both consumed. */
	uint64_t (*consumed)(void *ud);
	void *consumed_ud;
	void (*on_fatal)(void *ud); /* the journal failed (from some thread) */
	void *fatal_ud;
	/* The other writers' lanes to the committer (the correlators, the
	 * drill desk; committer.h), and the period of TICK records (0: none). */
	struct tn_commit_lane lanes[TN_COMMIT_LANES];
	int tick_ms;
};

/*
 * tn_ingest_run - start the committer and the ingest thread. Returns 0 or
 * TN_ENOMEM. `o` is copied.
 */
int tn_ingest_run(struct tn_ingest *g, const struct tn_ingest_run_opts *o);

/* Wake the committer after pushing to a lane (any thread; ud = the ingest). */
void tn_ingest_wake_committer(void *ud);

/*
 * tn_ingest_quiesce - stop reading, answer every frame in flight once it is
 * durable, and stop the ingest thread; the committer keeps running (the
 * correlator still journals its last revisions). Main thread; idempotent.
 */
void tn_ingest_quiesce(struct tn_ingest *g);

/* The settings a reload may change (config.h, tn_config_live). */
struct tn_ingest_settings {
	int rate, burst;       /* ingest.rate, ingest.burst: the default bucket */
	int inflight_per_key;  /* ingest.inflight_per_key */
	int64_t max_future_s;  /* ingest.max_future_s */
};

/*
 * tn_ingest_reload - hand the ingest thread a reload (SIGHUP): new settings
 * `s` (copied; NULL: unchanged), applied between two frames (a changed rate
 * or burst rebuilds the buckets, which keep their level), then an audit
 * record journaled with `action`, `subject` (copied) and `detail`, a packed
 * MessagePack map of detail_len bytes (copied; NULL: no record). Through a
 * ring of 4 and the thread's ev_async: nothing is locked. Returns 0,
 * TN_EFULL (four reloads not yet taken: nothing was handed over; try again
 * later), TN_ENOMEM. Main thread, between tn_ingest_run and tn_ingest_stop.
 */
int tn_ingest_reload(struct tn_ingest *g, const struct tn_ingest_settings *s,
		     const char *action, const char *subject, const void *detail,
		     size_t detail_len);

/* Hand over a new registry snapshot (registry watcher thread). See registry.h. */
bool tn_ingest_publish_registry(void *g, struct tn_registry *r);

void tn_ingest_stats(const struct tn_ingest *g, struct tn_ingest_stats *out);

struct tn_committer_stats;
/* The committer's (journal thread's) counters into *out. Any thread, between run and stop. */
void tn_ingest_committer_stats(const struct tn_ingest *g, struct tn_committer_stats *out);

/* The per-adapter counters (adapter_stats.h for how to read them). Any thread, until stop. */
const struct tn__adapter_table *tn_ingest_adapters(const struct tn_ingest *g);

/*
 * tn_ingest_stop - quiesce (if not yet), stop the committer, close the
 * sockets (the ROUTER's queued replies get up to linger_ms to leave; 0:
 * dropped), free it. Main thread; NULL is fine.
 */
void tn_ingest_stop(struct tn_ingest *g, int linger_ms);

#endif
