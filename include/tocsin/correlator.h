/*
 * tocsin/correlator.h - the correlation engine (design §4): events and clock
 * ticks in, incident changes out.
 *
 * A pure library: no sockets, files, threads, wall clock or global mutable
 * state. The server, the offline replay (`tocsin replay --offline`), the
 * city simulator and the tests all drive this one engine, which is what makes
 * drills reproducible: the same registry and the same ordered input (events
 * and ticks) give byte-identical output.
 *
 *	struct tn_corr_config cfg;
 *	struct tn_corr *c;
 *	const struct tn_change *ch;
 *	char buf[...];
 *	size_t n, len;
 *
 *	tn_corr_config_defaults(&cfg);
 *	if (tn_corr_new(&cfg, graph, "live", &c) != 0)
 *		die();
 *	while (next_event(&ev)) {
 *		tn_corr_event(c, &ev);            (or tn_corr_advance(c, now) on a tick)
 *		n = tn_corr_changes(c, &ch);
 *		for (i = 0; i < n; i++)
 *			if (tn_change_json(&ch[i], ++seq, buf, sizeof buf, &len) == 0)
 *				publish(buf, len);
 *	}
 *	tn_corr_finish(c, end_us);  then drain tn_corr_changes once more
 *	tn_corr_free(c);
 *
 * Event time and the watermark. Every event carries its own time; the engine
 * never reads a clock. Events are buffered and processed in the total order
 * (time, source, id) once the watermark W has passed them (time < W). W only
 * grows: W = max(W, max event time seen - lateness, last tick - lateness).
 * Timers (cascade windows closing, forecast deadlines, heartbeat deadlines)
 * fire in event time too, merged in order with the events (an event at time
 * T is processed before a timer due at T). Hence the output does not depend
 * on how often ticks come nor on the order of arrival of events within the
 * allowed lateness. An event whose time is already < W when it arrives is
 * "late": it is processed at once, never dropped, and every member it
 * produces says `"late":true`.
 *
 * Output. Changes to incidents are collected per event-time bucket of
 * emit_interval_ms (0: per processed event or timer) and emitted when the
 * watermark closes the bucket, one full revision per changed incident, in a
 * deterministic order. A change carries the canonical JSON of the revision
 * (tn_change_json adds the stream's seq in front) and the few fields a
 * router needs (id, rev, msg, priority, area, status).
 *
 * Incident ids are "INC-" + 16 hex digits of SipHash over the root event's
 * source and id (with a rule prefix for inferred and visibility incidents),
 * so a rebuild from the journal gives the same ids. The semantics of every
 * rule, with worked examples, are in docs/correlation.md.
 *
 * Thread contract: an engine belongs to one thread at a time; nothing here
 * blocks or does I/O. The graph is read-only and may be shared with other
 * threads and engines.
 *
 * Memory: state is in arrays indexed by asset, incidents and timers in pools;
 * no allocation per event in steady state. Every bound below is counted in
 * struct tn_corr_stats when hit; what happens then is said per bound.
 */
#ifndef TOCSIN_CORRELATOR_H
#define TOCSIN_CORRELATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tocsin/error.h"
#include "tocsin/event.h"
#include "tocsin/graph.h"

#define TN_INCIDENT_ID_LEN 20 /* "INC-" + 16 hex digits, without the NUL */

/*
 * Configuration. Initialise with tn_corr_config_defaults, then change what
 * differs; tn_corr_new copies it. Times in seconds unless said otherwise.
 */
struct tn_corr_config {
	/* ---- cascade and re-rooting (§4.1, §4.2) ---- */
	int max_depth;      /* hops of an upstream / downstream search; default 6, 1..64 */
	int slack_s;        /* clock-skew slack on both ends of a path's window; default 30 */
	int lateness_s;     /* allowed lateness of the watermark; default 60 */
	int emit_interval_ms; /* event-time bucket of output coalescing; default 1000, 0 = none */

	/* ---- common cause (§4.3) ---- */
	int common_cause_k;        /* failed direct dependents to infer a silent provider; default 3,
				      0 = off */
	int common_cause_window_s; /* they failed within this of one another; default 600 */

	/* ---- co-location (§4.4) ---- */
	double colo_radius_m; /* default 500; 0 = off */
	int colo_window_s;    /* default 300 */

	/* ---- loss of visibility (§4.5) ---- */
	int heartbeat_timeout_s; /* a source that has sent heartbeats and is then silent this
				    long is blind; default 180, 0 = off */

	/* ---- forecast (§4.7) ---- */
	int forecast_depth; /* downstream hops listed at risk; default 3, 0 = off */
	int forecast_emit_s; /* a forecast outcome (an at-risk deadline passing) that changes
				nothing else, priority included, waits up to this long in
				event time for the incident's next revision; default 300,
				0 = a revision at once */

	/*
	 * ---- priority (§4.8) ----
	 * score = w_life   if a health or emergency-services asset is affected
	 *                  or at risk (pending)
	 *       + w_pop_high / w_pop_mid  if the population served by affected
	 *                  members (sum of the registry's `population`) is
	 *                  >= pop_high / >= pop_mid
	 *       + w_sectors3 / w_sectors2 if the affected span >= 3 / 2 sectors
	 *       + w_crit1 / w_crit2 if the most critical affected asset has
	 *                  criticality 1 / 2
	 *       + w_imminent if a pending at-risk asset's eta is within
	 *                  imminent_s of the incident's last change (time to the
	 *                  next impact)
	 * priority = clamp(5 - score, 1, 5): 1 is the most urgent.
	 */
	int w_life;          /* default 2 */
	int64_t pop_mid;     /* default 1000 */
	int64_t pop_high;    /* default 10000 */
	int w_pop_mid;       /* default 1 */
	int w_pop_high;      /* default 2 */
	int w_sectors2;      /* default 1 */
	int w_sectors3;      /* default 2 */
	int w_crit1;         /* default 1 */
	int w_crit2;         /* default 0 */
	int imminent_s;      /* default 900 */
	int w_imminent;      /* default 1 */

	/* ---- bounds (0 gives the default) ---- */
	size_t max_buffered;     /* events awaiting the watermark; default 1000000. When full,
				    the oldest is processed at once (the watermark moves to it) */
	size_t max_incidents;    /* open incidents; default 100000. When full a failure opens
				    none: it is counted (incidents_full) and correlated later
				    only as a member of others */
	size_t max_members;      /* members per incident; default 100000. Beyond: counted, the
				    event is recorded nowhere */
	size_t max_at_risk;      /* at-risk entries per incident; default 1000. Beyond: counted
				    (once per forecast search that stops there) */
	size_t at_risk_listed;   /* at-risk entries a revision lists; default 50. Beyond: the
				    pending ones due first, then the latest settled; all are
				    counted in at_risk_count */
	size_t max_timers;       /* pending timers; default 4000000. Beyond: counted, the timer
				    (forecast check) is skipped */
	size_t max_sources;      /* distinct sources tracked for visibility; default 100000 */
	size_t max_unregistered; /* distinct asset ids not in the registry; default 100000.
				    Beyond: counted, their events are recorded nowhere */
	size_t max_scan;         /* dependents scanned per provider by common cause and the
				    downstream searches per hop; default 4096 */
};

/* Counters since tn_corr_new; the last three are gauges. */
struct tn_corr_stats {
	uint64_t events;        /* accepted by tn_corr_event */
	uint64_t invalid;       /* refused by tn_corr_event (TN_EINVAL) */
	uint64_t late;          /* processed after the watermark had passed them */
	uint64_t stale;         /* state reports older than the asset's last change: recorded,
				   state unchanged */
	uint64_t duplicates;    /* same source + id as the asset's current failure: ignored */
	uint64_t repeats;       /* a failed asset reporting its current state again (another id):
				   counted, not a new member */
	uint64_t unregistered;  /* events about assets missing from the registry */
	uint64_t alarms;        /* asset.alarm: recorded, never fail an asset */
	uint64_t incidents;     /* incidents opened (all causes) */
	uint64_t merges;        /* incidents absorbed by re-rooting or inference */
	uint64_t inferred;      /* common-cause inferences */
	uint64_t confirmed;     /* inferences confirmed by a report of the provider */
	uint64_t withdrawn;     /* inferences withdrawn by a healthy report */
	uint64_t colocated;     /* failures linked by co-location */
	uint64_t blind;         /* sources that went silent */
	uint64_t borne_out;     /* forecasts borne out */
	uint64_t not_borne_out; /* forecasts not borne out */
	uint64_t changes;       /* revisions emitted */
	uint64_t buffer_full, incidents_full, members_full, at_risk_full, timers_full,
		 sources_full, unregistered_full, scan_truncated; /* bounds hit */
	int64_t watermark_us;   /* gauge: the current watermark */
	size_t buffered;        /* gauge: events awaiting the watermark */
	size_t open_incidents;  /* gauge */
};

enum tn_change_msg { TN_MSG_ALERT, TN_MSG_UPDATE, TN_MSG_RESOLVED, TN_MSG_MERGED };
enum tn_cause { TN_CAUSE_OBSERVED, TN_CAUSE_INFERRED, TN_CAUSE_COLOCATED, TN_CAUSE_VISIBILITY };

/*
 * One revision of one incident. Everything it points to belongs to the
 * engine and is valid until the next call of tn_corr_event, tn_corr_advance,
 * tn_corr_finish, tn_corr_set_graph, tn_corr_changes or tn_corr_free.
 */
struct tn_change {
	char incident[TN_INCIDENT_ID_LEN + 1]; /* "INC-0123456789abcdef" */
	uint32_t rev;                          /* 1, 2, ... per incident */
	enum tn_change_msg msg;
	enum tn_cause cause;
	int priority;        /* 1 (most urgent) .. 5 */
	bool exercise;       /* status "exercise" (stream not "live") */
	const char *area;    /* the root's area code; "" when unknown */
	const char *merged_into; /* the absorber's id for TN_MSG_MERGED, else NULL */
	int64_t updated_us;  /* event time of the last change */
	/*
	 * The canonical JSON of the revision without its seq: the text that
	 * follows `{"seq":N,` up to and including the final `}`. Keys, in order:
	 * incident, rev, msg, status, priority, title, cause, confidence,
	 * root{asset,sector,time}, sectors[], affected[{asset,sector,state,time,
	 * event{source,id},late}], at_risk[{asset,sector,eta,eta_latest,via,
	 * outcome}] (at most at_risk_listed of them, in the order they joined),
	 * at_risk_count{pending,borne_out,not_borne_out} (all of them), area,
	 * opened, updated, explain[{asset,path[],window[lo,hi], rule}], and
	 * merged_into for msg "merged" only. Times are RFC 3339 UTC
	 * with milliseconds; confidence is printed "%.3f".
	 */
	const char *body;
	size_t body_len;
};

struct tn_corr;

/* tn_corr_config_defaults - fill `cfg` (the caller's) with the defaults above. Pure. */
void tn_corr_config_defaults(struct tn_corr_config *cfg);

/*
 * tn_corr_new - an engine over `graph` for the stream `stream_name` ("live",
 * or a drill name: its incidents say status "exercise"). `cfg` and
 * `stream_name` are copied; `graph` is borrowed and must outlive the engine
 * or its replacement by tn_corr_set_graph; NULL means an empty registry.
 * Returns 0 and sets *out (caller owns it: tn_corr_free), TN_ECONFIG (a
 * setting out of range) or TN_ENOMEM.
 */
int tn_corr_new(const struct tn_corr_config *cfg, const struct tn_graph *graph,
		const char *stream_name, struct tn_corr **out);

/* tn_corr_free - free the engine and all it owns. NULL is fine. */
void tn_corr_free(struct tn_corr *c);

/*
 * tn_corr_set_graph - switch to a new registry (borrowed, must outlive its
 * use; NULL = empty). State is keyed by asset id, so assets present in both
 * keep their state; assets that left become unregistered. Open incidents
 * keep their members. O(assets). Returns 0 or TN_ENOMEM (the old graph stays
 * in use).
 */
int tn_corr_set_graph(struct tn_corr *c, const struct tn_graph *graph);

/*
 * tn_corr_event - give one event. What the engine keeps is copied; `ev` and
 * its strings are borrowed for the call. Heartbeats feed visibility, alarms
 * are counted and fail nothing, asset.down and asset.degraded fail the asset,
 * asset.up restores it. Returns 0, or TN_EINVAL (ev NULL, id or source
 * missing, an asset event without asset, unknown type), counted.
 * May emit changes.
 */
int tn_corr_event(struct tn_corr *c, const struct tn_event *ev);

/*
 * tn_corr_advance - a clock tick: W = max(W, now_us - lateness); processes
 * what W passed. The server journals its ticks so that a live run replays
 * exactly. May emit changes. Returns 0.
 */
int tn_corr_advance(struct tn_corr *c, int64_t now_us);

/*
 * tn_corr_finish - end of input (end of a replay): process every buffered
 * event, then fire the timers due up to end_us without lateness (W becomes
 * max(W, end_us + 1)), and emit everything pending. Events given afterwards
 * are late. Returns 0.
 */
int tn_corr_finish(struct tn_corr *c, int64_t end_us);

/*
 * tn_corr_changes - the revisions emitted since the previous call, in
 * emission order: sets *out (engine-owned, see struct tn_change) and returns
 * how many. The caller must drain after every mutating call: changes
 * accumulate (unbounded) until drained.
 */
size_t tn_corr_changes(struct tn_corr *c, const struct tn_change **out);

/*
 * tn_change_json - `{"seq":<seq>,` + ch->body into buf (cap bytes, NUL
 * terminated), *len = its length without the NUL. Returns 0, or TN_ERANGE
 * when cap is too small (*len then says how many bytes are needed, NUL
 * excluded). Pure; any thread.
 */
int tn_change_json(const struct tn_change *ch, uint64_t seq, char *buf, size_t cap, size_t *len);

/* tn_corr_stats - copy the counters into *out (caller's). */
void tn_corr_stats(const struct tn_corr *c, struct tn_corr_stats *out);

const char *tn_change_msg_name(enum tn_change_msg m); /* "alert", ...; NULL out of range */
const char *tn_cause_name(enum tn_cause c);          /* "observed", ...; NULL out of range */

#endif
