/*
 * metrics.h - the operators' HTTP endpoint (docs/metrics.md): Prometheus
 * metrics on /metrics, liveness on /healthz, readiness on /readyz.
 *
 * libmicrohttpd serves it from its own thread, on a listening socket bound
 * here (so a bad or busy address fails start-up with a clear error), with
 * bounded connections, a per-connection memory limit and an idle timeout.
 * GET (and HEAD) only: other methods get 405, other paths 404.
 *
 * It reads what the other threads publish and never writes to them: each
 * thread keeps its own counters (ck_pr stores, stat.h), the HTTP thread
 * loads them at each scrape. The parts appear as main starts them: main
 * fills a struct tn_metrics_parts it owns and publishes each pointer with
 * ck_pr_store_ptr; a part still NULL is "starting" in /readyz and absent
 * from /metrics.
 *
 * Connections are counted from libzmq's socket monitors: the ingest thread
 * reads the ingest ROUTER's (adapters; it also audits failed handshakes,
 * ingest.h), a small thread here the alerts PUB's (consoles: each holds one
 * SUB there).
 *
 * Thread contract: start and stop from the main thread; stop before any
 * part it reads is stopped (and before the ZeroMQ contexts it monitors are
 * terminated).
 */
#ifndef TN_METRICS_H
#define TN_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ring.h"

struct tn_ingest;
struct tn_correlate;
struct tn_alerts;
struct tn_store;
struct tn_outbox;

/* What the endpoint reads. The caller's; each pointer set once with ck_pr_store_ptr. */
struct tn_metrics_parts {
	struct tn_ingest *ingest;
	struct tn_correlate *corr;
	struct tn_alerts *alerts;
	struct tn_store *store;
	struct tn_outbox *outbox;
	struct tn_registry_watch *adapter_keys, *console_keys; /* keys over time (registry.h) */
	struct tn__ring *corr_in, *corr_out; /* the correlator's rings to and from the journal */
	const uint64_t *durable;             /* the journal's durable offset (ck_pr) */
	int registry_loaded;                 /* 1: the adapter keys came from PostgreSQL or cache */
	bool insecure;                       /* ingest.insecure: no keys, no registry needed */
};

struct tn_metrics_opts {
	const char *listen;   /* "IPV4:PORT" or "[IPV6]:PORT" (config.h); borrowed for start */
	int max_connections;  /* MHD_OPTION_CONNECTION_LIMIT */
	int timeout_s;        /* MHD_OPTION_CONNECTION_TIMEOUT */
	int64_t journal_max_bytes; /* journal.max_bytes, exposed as a gauge */
	const struct tn_metrics_parts *parts; /* borrowed; must outlive the endpoint */
};

struct tn_metrics;

/*
 * tn_metrics_start - bind opts->listen and start serving. Returns 0 and
 * *out (the caller's until tn_metrics_stop), TN_EINVAL (listen does not
 * parse), TN_EIO (cannot bind or listen: err says why), TN_ENOMEM. Main
 * thread, with the signals the main thread waits for already blocked (the
 * HTTP thread inherits the mask).
 */
int tn_metrics_start(const struct tn_metrics_opts *opts, struct tn_metrics **out, char *err,
		     size_t errlen);

/*
 * tn_metrics_monitor - count the connections of the consoles (the alerts
 * PUB's monitor at `consoles_ep` in `consoles_ctx`; NULL: none), from a
 * thread started here. Call once, after zmq_socket_monitor set up the
 * endpoint. Returns 0, TN_EZMQ, TN_ENOMEM. Main thread.
 */
int tn_metrics_monitor(struct tn_metrics *m, void *consoles_ctx, const char *consoles_ep);

/*
 * tn_metrics_render - the whole /metrics text into *b (tn_mbuf_init'ed by
 * the caller). Returns 0, or TN_EFULL when it did not fit (b->overflow).
 * The HTTP thread; tests.
 */
struct tn_mbuf;
int tn_metrics_render(struct tn_metrics *m, struct tn_mbuf *b);

/*
 * tn_metrics_stop - stop serving (requests in progress finish), stop the
 * monitor thread and close its sockets, free it. NULL is fine. Main thread.
 */
void tn_metrics_stop(struct tn_metrics *m);

#endif
