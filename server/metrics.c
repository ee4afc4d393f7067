/*
 * metrics.c - /metrics, /healthz and /readyz over libmicrohttpd (metrics.h).
 *
 * Every scrape takes the counters fresh from the threads that own them and
 * renders them; nothing is cached, nothing is written back. The list of
 * metrics and what each means is docs/metrics.md: keep the two together.
 */
#include "metrics.h"

#include <arpa/inet.h>
#include <ck_pr.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "adapter_stats.h"
#include "alerts.h"
#include "committer.h"
#include "config.h"
#include "correlate.h"
#include "ingest.h"
#include "log.h"
#include "metrics_fmt.h"
#include "outbox.h"
#include "registry.h"
#include "stat.h"
#include "store.h"
#include "tocsin/error.h"
#include "thread.h"

#define SCRAPE_MAX (8u << 20)     /* bytes of one /metrics answer, at most */
#define CONN_MEMORY (32u << 10)   /* per connection: request line and headers */
#define ZAP_STALE_S 5             /* the ingest loop has not ticked for this long: not ready */
#define MONITOR_POLL_MS 200

enum { MON_ADAPTERS, MON_CONSOLES, MON_N };

struct tn_metrics {
	struct tn_metrics_opts o;
	const struct tn_metrics_parts *parts;
	struct MHD_Daemon *daemon;
	int64_t start_real_s;
	int64_t start_mono_us;

	/* The monitor thread's (sole writer) counters. mon[] is set by the main
	 * thread after the HTTP thread started, which reads it (ck_pr both ways). */
	void *mon[MON_N];
	pthread_t mon_thread;
	bool mon_started;
	atomic_int mon_stop;
	uint64_t accepted[MON_N], disconnected[MON_N]; /* consoles only: ingest counts its own */

	/* The HTTP thread's (sole writer). */
	uint64_t http[5]; /* answered 200, 404, 405, 500, 503 */
	pthread_mutex_t log_lock; /* libmicrohttpd may log from any of its threads */
	struct tn_log_slot log_http;
};

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t real_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- rendering -------------------------------------------------------------- */

static const char *const code_names[TN__INGEST_CODES] = {
	"E_DECODE", "E_SCHEMA", "E_FORBIDDEN", "E_TIME", "E_RATE", "E_UNAVAILABLE",
};

#define L(n, v) ((struct tn_mlabel){(n), (v)})

static void counter(struct tn_mbuf *b, const char *name, const char *help, uint64_t v)
{
	tn_mfmt_family(b, name, "counter", help);
	tn_mfmt_u64(b, name, NULL, 0, v);
}

static void gauge(struct tn_mbuf *b, const char *name, const char *help, double v)
{
	tn_mfmt_family(b, name, "gauge", help);
	tn_mfmt_f64(b, name, NULL, 0, v);
}

/* A latency histogram of stat.h, in seconds. */
static void hist(struct tn_mbuf *b, const char *name, const char *help, const struct tn__hist *h)
{
	double bounds[TN__HIST_N];
	for (int i = 0; i < TN__HIST_N; i++)
		bounds[i] = (double)tn__hist_bounds_ns[i] / 1e9;
	tn_mfmt_family(b, name, "histogram", help);
	tn_mfmt_hist(b, name, NULL, 0, bounds, h->bucket, TN__HIST_N, (double)h->sum_ns / 1e9);
}

static void render_process(struct tn_metrics *m, struct tn_mbuf *b)
{
	tn_mfmt_family(b, "tocsin_build_info", "gauge",
		       "always 1; the version and wire protocol in its labels");
	struct tn_mlabel l[] = {L("version", "0.1"), L("protocol", "1")};
	tn_mfmt_u64(b, "tocsin_build_info", l, 2, 1);
	gauge(b, "tocsin_start_time_seconds", "when tocsind started, seconds since the epoch",
	      (double)m->start_real_s);
}

static void render_ingest(struct tn_metrics *m, struct tn_mbuf *b, struct tn_ingest *g)
{
	struct tn_ingest_stats st;
	tn_ingest_stats(g, &st);

	counter(b, "tocsin_ingest_frames_total", "frames (messages) read from adapters",
		st.frames);
	hist(b, "tocsin_ingest_ack_duration_seconds",
	     "from reading a frame to sending its reply (journal and fsync included)", &st.ack_hist);

	const struct tn__adapter_table *t = tn_ingest_adapters(g);
	unsigned n = tn__adapter_table_n(t);
	static const struct {
		const char *name, *help;
		size_t off;
	} per[] = {
		{"tocsin_ingest_events_received_total",
		 "events read in frames that decoded, by adapter",
		 offsetof(struct tn__adapter_counts, received)},
		{"tocsin_ingest_events_accepted_total",
		 "events made durable in the journal and acked ok, by adapter",
		 offsetof(struct tn__adapter_counts, accepted)},
		{"tocsin_ingest_events_duplicate_total",
		 "events answered dup (already accepted), by adapter",
		 offsetof(struct tn__adapter_counts, duplicates)},
	};
	for (size_t k = 0; k < sizeof per / sizeof per[0]; k++) {
		tn_mfmt_family(b, per[k].name, "counter", per[k].help);
		for (unsigned i = 0; i < n; i++) {
			const uint64_t *c =
				(const uint64_t *)((const char *)&t->slot[i] + per[k].off);
			struct tn_mlabel l = L("adapter", t->slot[i].name);
			tn_mfmt_u64(b, per[k].name, &l, 1, ck_pr_load_64(c));
		}
	}
	tn_mfmt_family(b, "tocsin_ingest_events_rejected_total", "counter",
		       "items answered with an error (a whole frame that does not decode "
		       "counts once), by adapter and wire code");
	for (unsigned i = 0; i < n; i++)
		for (int c = 0; c < TN__INGEST_CODES; c++) {
			struct tn_mlabel l[] = {L("adapter", t->slot[i].name),
						L("code", code_names[c])};
			tn_mfmt_u64(b, "tocsin_ingest_events_rejected_total", l, 2,
				    ck_pr_load_64(&t->slot[i].rejected[c]));
		}
	counter(b, "tocsin_ingest_adapter_overflow_total",
		"frames counted under adapter=\"(other)\": more adapters than counter slots",
		ck_pr_load_64(&t->overflowed));
	counter(b, "tocsin_ingest_revoked_refusals_total",
		"frames refused because their key was revoked after the handshake",
		st.revoked_refusals);
	counter(b, "tocsin_ingest_reply_drops_total", "replies the ROUTER could not deliver",
		st.reply_drops);
	counter(b, "tocsin_ingest_rejects_not_kept_total",
		"rejected inputs not journaled for inspection (over the per-second budget)",
		st.rejects_not_kept);
	counter(b, "tocsin_registry_swaps_total", "new adapter key registries swapped in",
		st.registry_swaps);

	struct tn_committer_stats cs;
	tn_ingest_committer_stats(g, &cs);
	counter(b, "tocsin_journal_appends_total",
		"records appended to the journal (events, rejections, audit, revisions, ticks)",
		cs.records + cs.ticks);
	counter(b, "tocsin_journal_syncs_total", "fsyncs (group commits) of the journal",
		cs.syncs);
	hist(b, "tocsin_journal_fsync_duration_seconds", "duration of each journal fsync",
	     &cs.sync_hist);
	gauge(b, "tocsin_journal_bytes", "bytes in the journal's segments (what max_bytes bounds)",
	      (double)cs.journal_bytes);
	gauge(b, "tocsin_journal_max_bytes", "journal.max_bytes: past it events get E_UNAVAILABLE",
	      (double)m->o.journal_max_bytes);
	gauge(b, "tocsin_journal_segments", "segment files of the journal",
	      (double)cs.journal_segments);
	counter(b, "tocsin_journal_segments_deleted_total", "segments deleted by retention",
		cs.segments_deleted);
	counter(b, "tocsin_journal_full_refusals_total",
		"appends refused because the journal reached max_bytes", cs.full_refusals);
	gauge(b, "tocsin_journal_full", "1 while appends are refused at max_bytes",
	      (double)cs.journal_full);
	gauge(b, "tocsin_journal_failed", "1 once a journal write or fsync failed (fatal)",
	      (double)cs.failed);

	tn_mfmt_family(b, "tocsin_ring_depth", "gauge",
		       "records waiting on a ring between two threads");
	struct tn_mlabel r1 = L("ring", "ingest_to_journal"), r2 = L("ring", "journal_to_ingest");
	tn_mfmt_u64(b, "tocsin_ring_depth", &r1, 1, st.ring_to_commit);
	tn_mfmt_u64(b, "tocsin_ring_depth", &r2, 1, st.ring_from_commit);
	struct tn__ring *ci = ck_pr_load_ptr(&m->parts->corr_in);
	struct tn__ring *co = ck_pr_load_ptr(&m->parts->corr_out);
	if (ci && co) {
		struct tn_mlabel r3 = L("ring", "correlator_to_journal"),
				 r4 = L("ring", "journal_to_correlator");
		tn_mfmt_u64(b, "tocsin_ring_depth", &r3, 1, tn__ring_depth(ci));
		tn_mfmt_u64(b, "tocsin_ring_depth", &r4, 1, tn__ring_depth(co));
	}
}

static void render_connections(struct tn_metrics *m, struct tn_mbuf *b)
{
	struct tn_ingest *g = ck_pr_load_ptr(&m->parts->ingest);
	if (g) {
		struct tn_ingest_stats st;
		tn_ingest_stats(g, &st);
		gauge(b, "tocsin_adapter_connections",
		      "TCP connections open on the ingest endpoint (authenticated or not yet)",
		      st.conn_accepted > st.conn_disconnected
			      ? (double)(st.conn_accepted - st.conn_disconnected)
			      : 0);
		tn_mfmt_family(b, "tocsin_adapter_handshakes_total", "counter",
			       "CURVE handshakes on the ingest endpoint, by result");
		struct tn_mlabel ok = L("result", "succeeded"), bad = L("result", "failed");
		tn_mfmt_u64(b, "tocsin_adapter_handshakes_total", &ok, 1, st.hs_ok);
		tn_mfmt_u64(b, "tocsin_adapter_handshakes_total", &bad, 1, st.hs_failed);
		counter(b, "tocsin_handshake_failures_audited_total",
			"auth.handshake_failed audit rows journaled (first failures of an address "
			"each minute, and the minute's sums)",
			st.hs_audited);
		counter(b, "tocsin_handshake_failures_not_followed_total",
			"failed handshakes from addresses beyond the 64 followed each minute "
			"(summed up in one audit row)",
			st.hs_not_followed);
	}
	if (ck_pr_load_ptr(&m->mon[MON_CONSOLES])) {
		uint64_t a = ck_pr_load_64(&m->accepted[MON_CONSOLES]),
			 d = ck_pr_load_64(&m->disconnected[MON_CONSOLES]);
		gauge(b, "tocsin_console_connections",
		      "TCP connections open on the alerts endpoint (one per console subscriber)",
		      a > d ? (double)(a - d) : 0);
	}
}

/* Keys over time (registry.h): what each key registry watcher last saw. */
static void render_keys(struct tn_metrics *m, struct tn_mbuf *b)
{
	struct tn_registry_watch *w[2] = {ck_pr_load_ptr(&m->parts->adapter_keys),
					  ck_pr_load_ptr(&m->parts->console_keys)};
	static const char *const kind[2] = {"adapter", "console"};
	struct tn_registry_expiry ex[2];

	if (!w[0] && !w[1])
		return;
	for (int k = 0; k < 2; k++)
		tn_registry_watch_expiry(w[k], &ex[k]);
	tn_mfmt_family(b, "tocsin_keys_expiring", "gauge",
		       "registered keys that expire within [keys] warn_before (console: planners too)");
	for (int k = 0; k < 2; k++)
		if (w[k]) {
			struct tn_mlabel l = L("kind", kind[k]);
			tn_mfmt_u64(b, "tocsin_keys_expiring", &l, 1, ex[k].expiring);
		}
	tn_mfmt_family(b, "tocsin_keys_expired", "gauge",
		       "registered, unrevoked keys past their expiry: refused");
	for (int k = 0; k < 2; k++)
		if (w[k]) {
			struct tn_mlabel l = L("kind", kind[k]);
			tn_mfmt_u64(b, "tocsin_keys_expired", &l, 1, ex[k].expired);
		}
	tn_mfmt_family(b, "tocsin_key_next_expiry_seconds", "gauge",
		       "seconds until the soonest expiry of a valid key (absent: none expires)");
	for (int k = 0; k < 2; k++)
		if (w[k] && ex[k].next_s >= 0) {
			struct tn_mlabel l = L("kind", kind[k]);
			tn_mfmt_f64(b, "tocsin_key_next_expiry_seconds", &l, 1, (double)ex[k].next_s);
		}
	tn_mfmt_family(b, "tocsin_key_ends_audited_total", "counter",
		       "keys whose expiry or rotation grace ended while tocsind ran (key.expired, "
		       "key.retired audit rows)");
	for (int k = 0; k < 2; k++)
		if (w[k]) {
			struct tn_mlabel l = L("kind", kind[k]);
			tn_mfmt_u64(b, "tocsin_key_ends_audited_total", &l, 1, ex[k].ends_audited);
		}
}

/* The journal's durable offset: what the store, correlator and alerts lag behind. */
static uint64_t durable_of(struct tn_metrics *m)
{
	const uint64_t *dp = ck_pr_load_ptr(&m->parts->durable);
	return dp ? ck_pr_load_64(dp) : 0;
}

/* Bytes of a reader at `offset` behind `durable`; 0 when level. */
static double behind(uint64_t durable, uint64_t offset)
{
	return durable > offset ? (double)(durable - offset) : 0;
}

static void render_store(struct tn_metrics *m, struct tn_mbuf *b, struct tn_store *s)
{
	struct tn_store_stats st;
	tn_store_stats(s, &st);
	uint64_t durable = durable_of(m);
	double lag_s = 0;
	if (durable > st.committed_offset) {
		int64_t since = st.stored_clock_us ? st.stored_clock_us : m->start_real_s * 1000000;
		int64_t d = real_us() - since;
		lag_s = d > 0 ? (double)d / 1e6 : 0;
	}
	gauge(b, "tocsin_postgres_up", "1 while the store is connected to PostgreSQL",
	      st.connected ? 1 : 0);
	gauge(b, "tocsin_journal_durable_offset_bytes", "journal offset everything below is fsync'd",
	      (double)durable);
	gauge(b, "tocsin_store_committed_offset_bytes", "journal offset stored in PostgreSQL",
	      (double)st.committed_offset);
	gauge(b, "tocsin_store_lag_bytes", "journal bytes durable but not yet in PostgreSQL",
	      behind(durable, st.committed_offset));
	gauge(b, "tocsin_store_lag_seconds",
	      "while the store is behind: age of the newest record it has stored (0 when caught up)",
	      lag_s);
	counter(b, "tocsin_store_events_total", "events stored in PostgreSQL", st.events_stored);
	counter(b, "tocsin_store_rejected_total", "rejected inputs stored in PostgreSQL",
		st.rejected_stored);
	counter(b, "tocsin_store_audit_total", "audit rows stored in PostgreSQL", st.audit_stored);
	counter(b, "tocsin_store_corrupt_records_total",
		"journal records stored as E_CORRUPT (undecodable or refused by PostgreSQL)",
		st.corrupt_records);
	counter(b, "tocsin_store_transactions_total", "COPY transactions committed",
		st.transactions);
	counter(b, "tocsin_store_failures_total",
		"PostgreSQL errors and failed connection attempts of the store", st.failures);
	counter(b, "tocsin_store_journal_errors_total",
		"journal reads that failed below the durable offset (retried, never skipped)",
		st.journal_errors);
	hist(b, "tocsin_store_batch_duration_seconds",
	     "duration of each committed COPY transaction", &st.batch_hist);
}

static void render_correlator(struct tn_metrics *m, struct tn_mbuf *b, struct tn_correlate *c)
{
	struct tn_correlate_stats st;
	tn_correlate_stats(c, &st);
	uint64_t durable = durable_of(m);
	counter(b, "tocsin_correlator_events_total", "events given to the correlation engine",
		st.events);
	counter(b, "tocsin_correlator_ticks_total", "clock ticks given to the engine", st.ticks);
	counter(b, "tocsin_correlator_revisions_total", "incident revisions journaled",
		st.changes);
	counter(b, "tocsin_correlator_undecodable_total",
		"journal records the correlator could not decode", st.undecodable);
	counter(b, "tocsin_correlator_graph_swaps_total", "asset graphs swapped in",
		st.graph_swaps);
	gauge(b, "tocsin_correlator_lag_bytes", "journal bytes durable but not yet correlated",
	      behind(durable, st.offset));
	gauge(b, "tocsin_correlator_buffered_events",
	      "events the engine holds until the watermark passes them (lateness_s)",
	      (double)st.buffered);
	gauge(b, "tocsin_correlator_rebuilt",
	      "1 once the start-up replay of the journal has finished", st.rebuilt ? 1 : 0);
	tn_mfmt_family(b, "tocsin_pipeline_stalls_total", "counter",
		       "times a stage waited because every record of its pool was in flight");
	struct tn_mlabel l = L("stage", "correlator");
	tn_mfmt_u64(b, "tocsin_pipeline_stalls_total", &l, 1, st.pool_stalls);
}

static void render_alerts(struct tn_metrics *m, struct tn_mbuf *b, struct tn_alerts *a)
{
	struct tn_alerts_stats st;
	tn_alerts_stats(a, &st);
	char p[2] = "0";
	uint64_t durable = durable_of(m);

	tn_mfmt_family(b, "tocsin_alerts_published_total", "counter",
		       "alerts published to consoles, by stream (live, drill) and priority (1 most "
		       "urgent)");
	for (int s = 0; s < 2; s++)
		for (int i = 0; i < 5; i++) {
			p[0] = (char)('1' + i);
			struct tn_mlabel l[] = {L("stream", s ? "drill" : "live"), L("priority", p)};
			tn_mfmt_u64(b, "tocsin_alerts_published_total", l, 2,
				    st.published_by_priority[s][i]);
		}
	tn_mfmt_family(b, "tocsin_incidents_open", "gauge",
		       "open live incidents, by the priority of their latest revision");
	for (int i = 0; i < 5; i++) {
		p[0] = (char)('1' + i);
		struct tn_mlabel l = L("priority", p);
		tn_mfmt_u64(b, "tocsin_incidents_open", &l, 1, st.open_by_priority[i]);
	}
	gauge(b, "tocsin_assets_at_risk",
	      "assets forecast to fail (pending) over the open live incidents", (double)st.at_risk);
	counter(b, "tocsin_alerts_escalations_total", "escalations of unacknowledged incidents",
		st.escalations);
	counter(b, "tocsin_alerts_acks_total", "acknowledgements stored", st.acks);
	counter(b, "tocsin_alerts_catchups_total", "since (catch-up) requests from consoles",
		st.catchups);
	counter(b, "tocsin_alerts_control_requests_total", "control requests from consoles",
		st.requests);
	counter(b, "tocsin_alerts_bad_requests_total", "control requests refused with an error",
		st.bad_requests);
	counter(b, "tocsin_alerts_replies_dropped_total",
		"control replies not delivered (the console's queue was full or it had gone)",
		st.replies_dropped);
	counter(b, "tocsin_alerts_seq_gaps_total", "alert seqs out of sequence in the journal",
		st.seq_gaps);
	gauge(b, "tocsin_alerts_last_seq", "the last alert seq", (double)st.last_seq);
	counter(b, "tocsin_alerts_open_untracked_total",
		"open incidents not tracked for escalation and snapshots (table full, or memory)",
		st.open_full);
	gauge(b, "tocsin_alerts_lag_bytes", "journal bytes durable but not yet read for alerts",
	      behind(durable, st.offset));
	gauge(b, "tocsin_alerts_subscribers",
	      "connections subscribed to the alert streams, tracked so that an ended key is cut off",
	      (double)st.subscribers);
	counter(b, "tocsin_alerts_consoles_cut_total",
		"subscribed connections shut down because their key was revoked, expired, "
		"rotated out or changed clearance",
		st.consoles_cut);
	counter(b, "tocsin_alerts_subscribers_refused_total",
		"subscribed connections shut down at once: the table of subscribers was full",
		st.subs_untracked);
}

static void render_zap(struct tn_mbuf *b, struct tn_ingest *g, struct tn_alerts *a)
{
	tn_mfmt_family(b, "tocsin_zap_refusals_total", "counter",
		       "handshakes the ZAP handler refused (unknown or revoked key, wrong "
		       "mechanism), by handler");
	if (g) {
		struct tn_ingest_stats st;
		tn_ingest_stats(g, &st);
		struct tn_mlabel l = L("handler", "adapters");
		tn_mfmt_u64(b, "tocsin_zap_refusals_total", &l, 1, st.zap_refused);
	}
	if (a) {
		struct tn_alerts_stats st;
		tn_alerts_stats(a, &st);
		struct tn_mlabel l = L("handler", "consoles");
		tn_mfmt_u64(b, "tocsin_zap_refusals_total", &l, 1, st.zap_refused);
	}
}

static void render_outbox(struct tn_mbuf *b, struct tn_outbox *ob)
{
	struct tn_outbox_stats st;
	tn_outbox_stats(ob, &st);
	counter(b, "tocsin_cap_outbox_written_total", "CAP files written", st.written);
	tn_mfmt_family(b, "tocsin_cap_outbox_not_written_total", "counter",
		       "revisions not written as CAP files, by reason");
	const struct {
		const char *reason;
		uint64_t v;
	} r[] = {{"queue_full", st.queue_full}, {"no_history", st.no_history},
		 {"failed", st.failed}};
	for (size_t i = 0; i < 3; i++) {
		struct tn_mlabel l = L("reason", r[i].reason);
		tn_mfmt_u64(b, "tocsin_cap_outbox_not_written_total", &l, 1, r[i].v);
	}
}

int tn_metrics_render(struct tn_metrics *m, struct tn_mbuf *b)
{
	const struct tn_metrics_parts *p = m->parts;
	struct tn_ingest *g = ck_pr_load_ptr(&p->ingest);
	struct tn_correlate *c = ck_pr_load_ptr(&p->corr);
	struct tn_alerts *a = ck_pr_load_ptr(&p->alerts);
	struct tn_store *s = ck_pr_load_ptr(&p->store);
	struct tn_outbox *ob = ck_pr_load_ptr(&p->outbox);

	render_process(m, b);
	gauge(b, "tocsin_registry_loaded",
	      "1 when adapter keys are loaded (from PostgreSQL or the cache file)",
	      ck_pr_load_int(&p->registry_loaded) ? 1 : 0);
	if (g)
		render_ingest(m, b, g);
	render_connections(m, b);
	render_keys(m, b);
	render_zap(b, g, a);
	if (s)
		render_store(m, b, s);
	if (c)
		render_correlator(m, b, c);
	if (g) {
		/* the other stage of the stalls family opened by the correlator */
		struct tn_ingest_stats st;
		tn_ingest_stats(g, &st);
		if (!c)
			tn_mfmt_family(b, "tocsin_pipeline_stalls_total", "counter",
				       "times a stage waited because every record of its pool "
				       "was in flight");
		struct tn_mlabel l = L("stage", "ingest");
		tn_mfmt_u64(b, "tocsin_pipeline_stalls_total", &l, 1, st.pool_stalls);
	}
	if (a)
		render_alerts(m, b, a);
	if (ob)
		render_outbox(b, ob);
	tn_mfmt_family(b, "tocsin_http_requests_total", "counter",
		       "requests to this endpoint, by status code answered");
	static const char *const codes[5] = {"200", "404", "405", "500", "503"};
	for (int i = 0; i < 5; i++) {
		struct tn_mlabel l = L("code", codes[i]);
		tn_mfmt_u64(b, "tocsin_http_requests_total", &l, 1, ck_pr_load_64(&m->http[i]));
	}
	return b->overflow ? TN_EFULL : 0;
}

/* ---- health ----------------------------------------------------------------- */

/* The /readyz body (JSON) into buf; returns whether ready. */
static bool readiness(struct tn_metrics *m, char *buf, size_t len)
{
	const struct tn_metrics_parts *p = m->parts;
	struct tn_ingest *g = ck_pr_load_ptr(&p->ingest);
	struct tn_store *s = ck_pr_load_ptr(&p->store);
	const char *journal = "starting", *zap = "starting", *registry = "missing";
	const char *postgres = "starting";

	if (g) {
		struct tn_committer_stats cs;
		struct tn_ingest_stats st;
		struct timespec ts;
		tn_ingest_committer_stats(g, &cs);
		tn_ingest_stats(g, &st);
		journal = cs.failed ? "failed" : cs.journal_full ? "full" : "ok";
		clock_gettime(CLOCK_MONOTONIC, &ts);
		zap = (uint64_t)ts.tv_sec <= st.loop_clock_s + ZAP_STALE_S ? "ok" : "stalled";
		if (p->insecure)
			registry = "insecure";
		else if (ck_pr_load_int(&p->registry_loaded) || st.registry_swaps > 0)
			registry = "ok";
	}
	if (s) {
		struct tn_store_stats ss;
		tn_store_stats(s, &ss);
		postgres = ss.connected ? "up" : "down";
	}
	bool ready = strcmp(journal, "ok") == 0 && strcmp(zap, "ok") == 0 &&
		     strcmp(registry, "missing") != 0;
	snprintf(buf, len,
		 "{\"ready\":%s,\"journal\":\"%s\",\"zap\":\"%s\",\"registry\":\"%s\","
		 "\"postgres\":\"%s\"}\n",
		 ready ? "true" : "false", journal, zap, registry, postgres);
	return ready;
}

/* ---- HTTP ------------------------------------------------------------------- */

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *type,
			      char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	if (!r) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	enum MHD_Result rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

static const char TEXT[] = "text/plain; charset=utf-8";

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **req)
{
	struct tn_metrics *m = cls;
	static int first; /* its address marks a request seen once */
	(void)version;
	(void)upload_data;

	if (*req == NULL) {
		*req = &first;
		return MHD_YES; /* headers only; the body, if any, comes next */
	}
	if (*upload_data_size) {
		*upload_data_size = 0; /* a body is never wanted: discarded */
		return MHD_YES;
	}
	bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
		   strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	bool known = strcmp(url, "/metrics") == 0 || strcmp(url, "/healthz") == 0 ||
		     strcmp(url, "/readyz") == 0;
	if (!known) {
		tn__stat_add(&m->http[1], 1);
		return answer(conn, MHD_HTTP_NOT_FOUND, TEXT, (char *)"not found\n", 10,
			      MHD_RESPMEM_PERSISTENT);
	}
	if (!get) {
		tn__stat_add(&m->http[2], 1);
		return answer(conn, MHD_HTTP_METHOD_NOT_ALLOWED, TEXT,
			      (char *)"method not allowed\n", 19, MHD_RESPMEM_PERSISTENT);
	}
	if (strcmp(url, "/healthz") == 0) {
		tn__stat_add(&m->http[0], 1);
		return answer(conn, MHD_HTTP_OK, TEXT, (char *)"ok\n", 3, MHD_RESPMEM_PERSISTENT);
	}
	if (strcmp(url, "/readyz") == 0) {
		char body[256];
		bool ready = readiness(m, body, sizeof body);
		tn__stat_add(&m->http[ready ? 0 : 4], 1);
		return answer(conn, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
			      "application/json", body, strlen(body), MHD_RESPMEM_MUST_COPY);
	}
	struct tn_mbuf b;
	tn_mbuf_init(&b, SCRAPE_MAX);
	if (tn_metrics_render(m, &b) != 0 || !b.data) {
		tn_mbuf_free(&b);
		tn__stat_add(&m->http[3], 1);
		tn_log_limited(&m->log_http, 1, TN_LOG_ERROR, "metrics scrape too large",
			       "max_bytes=%u", SCRAPE_MAX);
		return answer(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, TEXT,
			      (char *)"metrics too large\n", 18, MHD_RESPMEM_PERSISTENT);
	}
	tn__stat_add(&m->http[0], 1);
	return answer(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len,
		      MHD_RESPMEM_MUST_FREE);
}

/* libmicrohttpd's own messages (a peer can provoke some): rate-limited. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct tn_metrics *m = cls;
	char msg[256];
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	pthread_mutex_lock(&m->log_lock);
	tn_log_limited(&m->log_http, 5, TN_LOG_WARN, "metrics http", "detail=\"%s\"",
		       tn_logq(msg));
	pthread_mutex_unlock(&m->log_lock);
}

/* ---- connections (socket monitors) ------------------------------------------ */

static void monitor_event(struct tn_metrics *m, int k, void *sock)
{
	zmq_msg_t part;
	uint16_t event = 0;

	zmq_msg_init(&part);
	if (zmq_msg_recv(&part, sock, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&part);
		return;
	}
	if (zmq_msg_size(&part) >= 6)
		memcpy(&event, zmq_msg_data(&part), sizeof event);
	bool more = zmq_msg_more(&part);
	zmq_msg_close(&part);
	while (more) { /* the endpoint's address: not needed */
		zmq_msg_init(&part);
		if (zmq_msg_recv(&part, sock, 0) < 0)
			more = false;
		else
			more = zmq_msg_more(&part);
		zmq_msg_close(&part);
	}
	switch (event) {
	case ZMQ_EVENT_ACCEPTED:
		tn__stat_add(&m->accepted[k], 1);
		break;
	case ZMQ_EVENT_DISCONNECTED:
		tn__stat_add(&m->disconnected[k], 1);
		break;
	default:
		break;
	}
}

static void *monitor_main(void *arg)
{
	struct tn_metrics *m = arg;
	tn__thread_setup("tn-metrics-mon", 0);
	zmq_pollitem_t items[MON_N];
	int idx[MON_N], n = 0;

	for (int k = 0; k < MON_N; k++)
		if (m->mon[k]) {
			items[n] = (zmq_pollitem_t){.socket = m->mon[k], .events = ZMQ_POLLIN};
			idx[n++] = k;
		}
	while (!atomic_load(&m->mon_stop)) {
		if (zmq_poll(items, n, MONITOR_POLL_MS) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++)
			if (items[i].revents & ZMQ_POLLIN)
				for (int burst = 0; burst < 256; burst++) {
					int ev;
					size_t len = sizeof ev;
					if (zmq_getsockopt(items[i].socket, ZMQ_EVENTS, &ev, &len) != 0 ||
					    !(ev & ZMQ_POLLIN))
						break;
					monitor_event(m, idx[i], items[i].socket);
				}
	}
	return NULL;
}

static void *pair_connect(void *ctx, const char *ep)
{
	void *s = zmq_socket(ctx, ZMQ_PAIR);
	int zero = 0;
	if (!s)
		return NULL;
	zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
	if (zmq_connect(s, ep) != 0) {
		zmq_close(s);
		return NULL;
	}
	return s;
}

int tn_metrics_monitor(struct tn_metrics *m, void *consoles_ctx, const char *consoles_ep)
{
	void *s;

	/* The HTTP thread renders the connection gauge once its socket is set. */
	if (!consoles_ctx)
		return 0;
	if (!(s = pair_connect(consoles_ctx, consoles_ep)))
		return TN_EZMQ;
	ck_pr_store_ptr(&m->mon[MON_CONSOLES], s);
	if (pthread_create(&m->mon_thread, NULL, monitor_main, m) != 0)
		return TN_ENOMEM;
	m->mon_started = true;
	return 0;
}

/* ---- start and stop ----------------------------------------------------------- */

int tn_metrics_start(const struct tn_metrics_opts *o, struct tn_metrics **out, char *err,
		     size_t errlen)
{
	char host[64];
	int port, fd = -1, one = 1;
	struct sockaddr_storage ss;
	socklen_t sl;

	if (tn_config_parse_listen(o->listen, host, sizeof host, &port) != 0) {
		snprintf(err, errlen, "metrics.listen: cannot parse \"%s\"", tn_logq(o->listen));
		return TN_EINVAL;
	}
	memset(&ss, 0, sizeof ss);
	bool v6 = strchr(host, ':') != NULL;
	if (v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, host, &a->sin6_addr);
		sl = sizeof *a;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, host, &a->sin_addr);
		sl = sizeof *a;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    (v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) ||
	    bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 64) != 0) {
		snprintf(err, errlen, "cannot listen on metrics.listen %s: %s", o->listen,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return TN_EIO;
	}

	struct tn_metrics *m = calloc(1, sizeof *m);
	if (!m) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return TN_ENOMEM;
	}
	m->o = *o;
	m->o.listen = NULL; /* borrowed for start only */
	m->parts = o->parts;
	m->start_real_s = real_us() / 1000000;
	m->start_mono_us = mono_us();
	pthread_mutex_init(&m->log_lock, NULL);
	m->daemon = MHD_start_daemon(
		MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, m,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, m, MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->max_connections,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->timeout_s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY, MHD_OPTION_END);
	if (!m->daemon) {
		snprintf(err, errlen, "cannot start the metrics http server on %s", o->listen);
		close(fd);
		pthread_mutex_destroy(&m->log_lock);
		free(m);
		return TN_EIO;
	}
	*out = m;
	return 0;
}

void tn_metrics_stop(struct tn_metrics *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->daemon); /* closes the listening socket too */
	if (m->mon_started) {
		atomic_store(&m->mon_stop, 1);
		pthread_join(m->mon_thread, NULL);
	}
	for (int k = 0; k < MON_N; k++)
		if (m->mon[k])
			zmq_close(m->mon[k]);
	pthread_mutex_destroy(&m->log_lock);
	free(m);
}
