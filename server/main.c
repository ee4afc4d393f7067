/*
 * main.c - tocsind: start-up, the order of things, and shutdown.
 *
 *   tocsind --config FILE [--check-config]
 *
 * Start-up: configuration; server key; the journal (recovering a torn tail);
 * the dedup set rebuilt from the journal; the key registry (PostgreSQL, else
 * its cache file); the ZAP handler and the ingest ROUTER; the committer and
 * ingest threads; the CAP outbox's writer (alerts.cap_outbox, with its own
 * copy of the asset graph and its assets watcher); the alerts thread (console
 * keys, its own ZAP handler, PUB and control ROUTER; PostgreSQL's last alert
 * seq) and the console registry watcher; the correlator (which goes on from that seq) and the assets
 * watcher; the store; the registry watcher. The metrics endpoint (metrics.listen)
 * starts first, so that /readyz says what start-up waits for, and stops first. The main thread then waits for signals:
 * SIGHUP reloads (the file again, each live setting handed to the thread
 * that owns it, the rest named as needing a restart, both key registries
 * re-read, a config.reload audit record; docs/operations.md "Reloading");
 * SIGTERM or SIGINT stop the server cleanly within server.drain_s (every
 * frame in flight is answered once durable, the correlator journals its last
 * revisions, the alerts thread publishes what is durable, the outbox writes
 * what it was given, the store drains what time is left; a watchdog ends a
 * drain that hangs), and a journal failure stops it with exit status 1.
 */
#include <ck_pr.h>
#include <errno.h>
#include <msgpack.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "alerts.h"
#include "assets_pg.h"
#include "assets_watch.h"
#include "config.h"
#include "correlate.h"
#include "dedup.h"
#include "ingest.h"
#include "journal.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "registry.h"
#include "store.h"
#include "tocsin/error.h"
#include "wire.h"
#include "thread.h"

/* Past the drain's bound (server.drain_s), the watchdog's grace before it
 * ends the process whatever is still running (main.c, "the drain"). */
#define DRAIN_GRACE_MS 2000
#define RELOAD_CHANGES_MAX 96 /* more keys than the file has */

static atomic_int fatal;
static pthread_t main_thread;
static struct tn_store *store; /* set once by main; read by the committer */
static bool cfg_correlate;
static uint64_t correlated; /* journal offset the correlator has processed */
static bool cfg_alerts;
static uint64_t alerted; /* journal offset the alerts thread has read */
static bool cfg_drills;
static uint64_t drilled; /* journal offset the drill correlator has processed */
/* The journal's durable offset: written by the committer, read by the store.
 * Here, not in the committer, because the store drains after it stops. */
static uint64_t durable;
/* What the metrics endpoint reads, published as each part starts. */
static struct tn_metrics_parts parts;

#define MONITOR_CONSOLES "inproc://tocsin-monitor-consoles"

static void on_fatal(void *ud)
{
	(void)ud;
	atomic_store(&fatal, 1);
	pthread_kill(main_thread, SIGTERM);
}

/* Journal segments below this offset may be deleted: the store has put them
 * in PostgreSQL and the correlator has read them. */
static uint64_t consumed_offset(void *ud)
{
	(void)ud;
	struct tn_store *s = ck_pr_load_ptr(&store);
	uint64_t off = s ? tn_store_committed(s) : 0;
	if (cfg_correlate && ck_pr_load_64(&correlated) < off)
		off = ck_pr_load_64(&correlated);
	if (cfg_alerts && ck_pr_load_64(&alerted) < off)
		off = ck_pr_load_64(&alerted);
	if (cfg_drills && ck_pr_load_64(&drilled) < off)
		off = ck_pr_load_64(&drilled);
	return off;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: tocsind --config FILE [--check-config]\n"
		   "       tocsind --version\n");
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Rebuild the dedup set from every event still in the journal, so a
 * duplicate sent before a restart is still answered `dup`.
 */
static int rebuild_dedup(const struct tn_config *cfg, struct tn_dedup *d)
{
	struct tn_journal_reader *r;
	struct tn_journal_record rec;
	struct tn_wire_decoder *dec;
	msgpack_zone zone;
	size_t n = 0;
	int64_t t0 = mono_ms();
	int rc;

	if ((rc = tn_journal_reader_open(cfg->journal_dir, 0, &r)) != 0)
		return rc;
	if ((rc = tn_wire_decoder_new(&dec)) != 0) {
		tn_journal_reader_close(r);
		return rc;
	}
	msgpack_zone_init(&zone, 4096);
	while ((rc = tn_journal_reader_next(r, UINT64_MAX, &rec)) == 1) {
		if (rec.type != TN_JREC_EVENT)
			continue;
		msgpack_object o;
		size_t off = 0;
		msgpack_zone_clear(&zone);
		if (msgpack_unpack(rec.payload, rec.len, &off, &zone, &o) != MSGPACK_UNPACK_SUCCESS ||
		    o.type != MSGPACK_OBJECT_ARRAY || o.via.array.size != 3 ||
		    o.via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
			tn_error("undecodable journal record", "offset=%llu",
				 (unsigned long long)rec.offset);
			continue;
		}
		struct tn_wire_item item;
		if (tn_wire_validate_event(dec, &o.via.array.ptr[2], NULL, &item) != 0) {
			tn_error("invalid event in journal", "offset=%llu msg=\"%s\"",
				 (unsigned long long)rec.offset, tn_logq(item.msg));
			continue;
		}
		int64_t recv_s = (int64_t)(o.via.array.ptr[0].via.u64 / 1000000);
		tn_dedup_insert(d, tn_dedup_key_of(d, item.ev.source, item.ev.id), TN_DEDUP_DURABLE,
				recv_s);
		n++;
	}
	msgpack_zone_destroy(&zone);
	tn_wire_decoder_free(dec);
	tn_journal_reader_close(r);
	if (rc < 0)
		return rc;
	tn_info("dedup set rebuilt from journal", "events=%zu ms=%lld", n,
		(long long)(mono_ms() - t0));
	return 0;
}

/* What the configuration leaves to the server: the registry cache's path. */
static int derive(struct tn_config *c, char *err, size_t errlen)
{
	if (!c->registry_cache[0] &&
	    snprintf(c->registry_cache, sizeof c->registry_cache, "%s/registry.cache",
		     c->journal_dir) >= (int)sizeof c->registry_cache) {
		snprintf(err, errlen, "journal.dir too long for the registry cache path");
		return TN_ECONFIG;
	}
	return 0;
}

/* The keys of `kind` from PostgreSQL, else from the cache file (*loaded
 * true either way), else none. */
static struct tn_registry *initial_registry(const struct tn_config *cfg,
					    enum tn_registry_kind kind, const char *cache,
					    bool *loaded)
{
	const char *what = kind == TN_REGISTRY_CONSOLES ? "console" : "adapter";
	struct tn_registry *r = NULL;
	char err[512];
	int rc = tn_registry_load_pg(cfg->conninfo, kind, &r, err, sizeof err);
	*loaded = true;
	if (rc == 0) {
		if (tn_registry_cache_save(r, cache) != 0)
			tn_warn("cannot write registry cache", "path=%s", cache);
		tn_info("key registry loaded", "source=postgresql kind=%s keys=%zu version=%lld",
			what, r->n, (long long)r->version);
		return r;
	}
	char *nl = strchr(err, '\n');
	if (nl)
		*nl = 0;
	tn_warn("cannot load key registry from postgresql", "kind=%s error=\"%s\"", what,
		tn_logq(err));
	rc = tn_registry_cache_load(cache, &r);
	if (rc == 0) {
		tn_warn("key registry loaded from cache", "kind=%s path=%s keys=%zu version=%lld",
			what, cache, r->n, (long long)r->version);
		return r;
	}
	*loaded = false;
	tn_warn("no key registry: every key is refused until postgresql is reachable",
		"kind=%s cache=%s error=\"%s\"", what, cache, tn_strerror(rc));
	return tn_registry_empty(&r) == 0 ? r : NULL;
}

/*
 * The drill correlator (correlate.h, drill mode): the live engine's
 * settings, its own copy of the asset graph (the live one has one owner and
 * is freed at each swap) kept current by an assets watcher of its own.
 */
static int start_drills(const struct tn_config *cfg, const struct tn_correlate_opts *live,
			struct tn__ring *in, struct tn__ring *out, struct tn_correlate **drills,
			struct tn_assets_watch **watch)
{
	struct tn_graph *graph = NULL;
	int64_t generation = -1;
	char err[512];
	int rc;

	if (tn_assets_load_pg(cfg->conninfo, &graph, &generation, err, sizeof err) != 0)
		graph = NULL; /* the live correlator has said why */
	struct tn_correlate_opts o = *live;
	o.graph = graph;
	o.to_commit = in;
	o.from_commit = out;
	o.consumed = &drilled;
	o.seq_floor = 0; /* a drill's stream is new: its name is used once */
	o.drills = true;
	o.nice = cfg->drills_nice;
	if ((rc = tn_correlate_start(&o, drills)) != 0) {
		tn_graph_free(graph);
		tn_error("cannot start the drill correlator", "error=\"%s\"", tn_strerror(rc));
		return rc;
	}
	if ((rc = tn_assets_watch_start(cfg->conninfo, cfg->registry_poll_ms, generation,
					tn_correlate_publish_graph, *drills, watch)) != 0) {
		tn_error("cannot start the drills' asset watcher", "error=\"%s\"",
			 tn_strerror(rc));
		return rc;
	}
	return 0;
}

/* ---- reload (SIGHUP) ------------------------------------------------------- */

/* The parts a reload reaches (NULL: not running). */
struct live_parts {
	struct tn_ingest *ingest;
	struct tn_alerts *alerts;
	struct tn_store *store;
	struct tn_registry_watch *adapters, *consoles;
};

static void pack_s(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

/* {"KEY": [was, now], ...} of the changes whose `live` is `live`. */
static void pack_changes(msgpack_packer *pk, const struct tn_config_change *ch, size_t n,
			 bool live)
{
	uint32_t k = 0;
	char key[64];
	for (size_t i = 0; i < n; i++)
		k += ch[i].live == live;
	msgpack_pack_map(pk, k);
	for (size_t i = 0; i < n; i++) {
		if (ch[i].live != live)
			continue;
		snprintf(key, sizeof key, "%s.%s", ch[i].section, ch[i].name);
		pack_s(pk, key);
		msgpack_pack_array(pk, 2);
		pack_s(pk, ch[i].was);
		pack_s(pk, ch[i].now);
	}
}

/* The audit record of a reload, through the ingest thread (the journal's
 * writer). An ingest busy with four reloads already: said in the log. */
static void reload_audit(const struct live_parts *p, const struct tn_ingest_settings *set,
			 const msgpack_sbuffer *detail)
{
	int rc = tn_ingest_reload(p->ingest, set, "config.reload", "configuration", detail->data,
				  detail->size);
	if (rc != 0)
		tn_warn("reload not handed to ingest; send SIGHUP again", "error=\"%s\"",
			tn_strerror(rc));
}

/*
 * SIGHUP: read the file again. A file that does not load is refused whole
 * (the message --check-config gives) and the running configuration kept.
 * Otherwise each key that may change live goes to the thread that owns it
 * by that thread's own hand-over (log level and store retry: an atomic;
 * registry poll: the watchers' atomics; ingest limits and escalation
 * deadlines: a ring and an ev_async), every other change is named in the
 * log as needing a restart and kept at its running value, and both key
 * registries are re-read at once. Either way an audit record `config.reload`
 * says what happened. `eff` is the configuration in force (main thread's).
 */
static void reload(const char *path, struct tn_config *eff, const struct live_parts *p)
{
	static struct tn_config next; /* large: not on the stack */
	static struct tn_config_change ch[RELOAD_CHANGES_MAX];
	char err[1024];
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (tn_config_load(path, &next, err, sizeof err) != 0 ||
	    derive(&next, err, sizeof err) != 0) {
		tn_error("reload refused; the running configuration is kept", "error=\"%s\"",
			 tn_logq(err));
		msgpack_pack_map(&pk, 3);
		pack_s(&pk, "result");
		pack_s(&pk, "refused");
		pack_s(&pk, "file");
		pack_s(&pk, path);
		pack_s(&pk, "error");
		pack_s(&pk, err);
		reload_audit(p, NULL, &sb);
		msgpack_sbuffer_destroy(&sb);
		return;
	}
	size_t n = tn_config_diff(eff, &next, ch, RELOAD_CHANGES_MAX);
	if (n > RELOAD_CHANGES_MAX)
		n = RELOAD_CHANGES_MAX; /* cannot be: one entry per key */
	size_t restart = 0;
	for (size_t i = 0; i < n; i++) {
		char key[64];
		snprintf(key, sizeof key, "%s.%s", ch[i].section, ch[i].name);
		if (ch[i].live) {
			tn_info("setting changed", "key=%s was=\"%s\" now=\"%s\"", key,
				tn_logq(ch[i].was), tn_logq(ch[i].now));
		} else {
			restart++;
			tn_warn("setting needs a restart; the running value is kept",
				"key=%s running=\"%s\" file=\"%s\"", key, tn_logq(ch[i].was),
				tn_logq(ch[i].now));
		}
	}

	tn_log_set_level(next.log_level);
	eff->log_level = next.log_level;
	eff->drain_s = next.drain_s;
	eff->registry_poll_ms = next.registry_poll_ms;
	tn_registry_watch_reload(p->adapters, next.registry_poll_ms);
	tn_registry_watch_reload(p->consoles, next.registry_poll_ms);
	eff->keys_warn_before_s = next.keys_warn_before_s;
	tn_registry_watch_warn_before(p->adapters, next.keys_warn_before_s);
	tn_registry_watch_warn_before(p->consoles, next.keys_warn_before_s);
	eff->store_retry_ms = next.store_retry_ms;
	tn_store_set_retry(p->store, next.store_retry_ms);
	bool esc_ok = true;
	if (p->alerts && memcmp(eff->escalate_s, next.escalate_s, sizeof eff->escalate_s) != 0) {
		int rc = tn_alerts_publish_escalation(p->alerts, next.escalate_s);
		if (rc != 0) {
			esc_ok = false;
			tn_warn("escalation deadlines not handed to alerts; send SIGHUP again",
				"error=\"%s\"", tn_strerror(rc));
		}
	}
	if (esc_ok)
		memcpy(eff->escalate_s, next.escalate_s, sizeof eff->escalate_s);

	struct tn_ingest_settings set = {.rate = next.rate,
					 .burst = next.burst,
					 .inflight_per_key = next.inflight_per_key,
					 .max_future_s = next.max_future_s};
	msgpack_pack_map(&pk, 5);
	pack_s(&pk, "result");
	pack_s(&pk, esc_ok ? "applied" : "partly applied");
	pack_s(&pk, "file");
	pack_s(&pk, path);
	pack_s(&pk, "changed");
	pack_changes(&pk, ch, n, true);
	pack_s(&pk, "needs_restart");
	pack_changes(&pk, ch, n, false);
	pack_s(&pk, "registries");
	pack_s(&pk, "re-read");
	if (tn_ingest_reload(p->ingest, &set, "config.reload", "configuration", sb.data,
			     sb.size) == 0) {
		eff->rate = next.rate;
		eff->burst = next.burst;
		eff->inflight_per_key = next.inflight_per_key;
		eff->max_future_s = next.max_future_s;
	} else {
		tn_warn("ingest settings not handed over; send SIGHUP again", NULL);
	}
	msgpack_sbuffer_destroy(&sb);
	tn_info("configuration reloaded", "file=\"%s\" changed=%zu needs_restart=%zu",
		tn_logq(path), n - restart, restart);
}

/* ---- the drain (SIGTERM) ---------------------------------------------------- */

static atomic_int drained;
static int64_t drain_deadline_ms; /* CLOCK_MONOTONIC; set before the watchdog starts */

static int drain_left_ms(void)
{
	int64_t left = drain_deadline_ms - mono_ms();
	return left < 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

static int min_ms(int a, int b)
{
	return a < b ? a : b;
}

/*
 * Every step of the drain has a budget out of server.drain_s; a part stuck
 * past all of them (a journal fsync that never returns, a thread that does
 * not answer) would hold the process for ever. This thread ends it then:
 * what was acknowledged is in the journal either way.
 */
static void *drain_watchdog(void *arg)
{
	tn__thread_setup("tn-drain-watch", 0);
	(void)arg;
	while (mono_ms() < drain_deadline_ms + DRAIN_GRACE_MS) {
		if (atomic_load(&drained))
			return NULL;
		struct timespec ts = {0, 20 * 1000000L};
		nanosleep(&ts, NULL);
	}
	if (atomic_load(&drained))
		return NULL;
	tn_error("drain did not finish within its bound; exiting without the rest (what was "
		 "acknowledged is in the journal)",
		 "grace_ms=%d", DRAIN_GRACE_MS);
	_exit(1);
}

int main(int argc, char **argv)
{
	static struct tn_config cfg;
	const char *config_path = NULL;
	bool check_only = false;
	char err[1024];
	char secret[TN_KEY_Z85_LEN + 1] = "";
	int rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config_path = argv[++i];
		else if (strcmp(argv[i], "--check-config") == 0)
			check_only = true;
		else if (strcmp(argv[i], "--version") == 0) {
			printf("tocsind 0.1 (wire protocol v1)\n");
			return 0;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "tocsind: unknown argument %s\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (!config_path) {
		usage(stderr);
		return 2;
	}
	if (tn_config_load(config_path, &cfg, err, sizeof err) != 0) {
		fprintf(stderr, "tocsind: %s\n", err);
		return 1;
	}
	if (derive(&cfg, err, sizeof err) != 0) {
		fprintf(stderr, "tocsind: %s\n", err);
		return 1;
	}
	if (!cfg.insecure &&
	    tn_key_read(cfg.server_key, 1, secret, err, sizeof err) != 0) {
		fprintf(stderr, "tocsind: ingest.server_key: %s\n", err);
		return 1;
	}
	if (check_only) {
		printf("%s: ok\n", config_path);
		return 0;
	}
	tn_log_set_level(cfg.log_level);

	/* Signals go to the main thread only: block them before any thread starts. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	main_thread = pthread_self();

	if (cfg.insecure)
		tn_warn("INSECURE: plain-text ingest without authentication; every sector is "
			"allowed; loopback only",
			"endpoint=%s", cfg.ingest_endpoint);

	/* First, so that /readyz says what start-up is waiting for. */
	struct tn_metrics *metrics = NULL;
	parts.durable = &durable;
	parts.insecure = cfg.insecure;
	if (cfg.metrics_listen[0]) {
		struct tn_metrics_opts mo = {
			.listen = cfg.metrics_listen,
			.max_connections = cfg.metrics_connections,
			.timeout_s = cfg.metrics_timeout_s,
			.journal_max_bytes = cfg.journal_max_bytes,
			.parts = &parts,
		};
		if (tn_metrics_start(&mo, &metrics, err, sizeof err) != 0) {
			tn_error("cannot start the metrics endpoint", "error=\"%s\"", tn_logq(err));
			return 1;
		}
		if (cfg.metrics_allow_remote)
			tn_warn("metrics endpoint reachable beyond loopback, without "
				"authentication",
				"listen=%s", cfg.metrics_listen);
		tn_info("metrics listening", "listen=%s paths=/metrics,/healthz,/readyz",
			cfg.metrics_listen);
	}

	struct tn_journal_opts jo = {
		.dir = cfg.journal_dir,
		.segment_bytes = (uint64_t)cfg.segment_bytes,
		.max_bytes = (uint64_t)cfg.journal_max_bytes,
	};
	struct tn_journal *journal;
	if ((rc = tn_journal_open(&jo, &journal)) != 0) {
		tn_error("cannot open journal", "dir=%s error=\"%s\"", cfg.journal_dir,
			 tn_strerror(rc));
		return 1;
	}

	uint8_t seed[16];
	if (getrandom(seed, sizeof seed, 0) != (ssize_t)sizeof seed) {
		tn_error("getrandom failed", "error=\"%s\"", strerror(errno));
		return 1;
	}
	struct tn_dedup *dedup;
	if ((rc = tn_dedup_new((size_t)cfg.dedup_entries, seed, &dedup)) != 0 ||
	    (rc = rebuild_dedup(&cfg, dedup)) != 0) {
		tn_error("cannot rebuild dedup set from journal", "error=\"%s\"", tn_strerror(rc));
		return 1;
	}

	bool reg_loaded;
	struct tn_registry *reg =
		initial_registry(&cfg, TN_REGISTRY_ADAPTERS, cfg.registry_cache, &reg_loaded);
	if (!reg)
		return 1;
	ck_pr_store_int(&parts.registry_loaded, reg_loaded);
	int64_t reg_version = reg->version;

	struct tn_ingest *ingest;
	if (tn_ingest_open(&cfg, cfg.insecure ? NULL : secret, reg, dedup, &ingest, err,
			   sizeof err) != 0) {
		tn_error("cannot start ingest", "error=\"%s\"", tn_logq(err));
		return 1;
	}
	/* The correlator's frames go to the committer and back on two rings as
	 * large as its pool, so pushing never fails. */
	static struct tn__ring corr_in, corr_out;
	/* The drills' (design §6): the drill correlator's revisions, and the
	 * drill desk's records (alerts thread), each on a lane of its own. */
	static struct tn__ring dcorr_in, dcorr_out, desk_in, desk_out;
	const unsigned corr_pool = 16;
	cfg_correlate = cfg.correlate;
	cfg_alerts = cfg.correlate && cfg.alerts; /* all read by the committer from now on */
	cfg_drills = cfg_alerts && cfg.drills_max_active > 0;
	if ((cfg.correlate &&
	     (tn__ring_init(&corr_in, corr_pool) != 0 || tn__ring_init(&corr_out, corr_pool) != 0)) ||
	    (cfg_drills && (tn__ring_init(&dcorr_in, corr_pool) != 0 ||
			    tn__ring_init(&dcorr_out, corr_pool) != 0 ||
			    tn__ring_init(&desk_in, TN_ALERTS_DRILL_FRAMES) != 0 ||
			    tn__ring_init(&desk_out, TN_ALERTS_DRILL_FRAMES) != 0))) {
		tn_error("out of memory", NULL);
		return 1;
	}
	if (cfg.correlate) {
		ck_pr_store_ptr(&parts.corr_in, &corr_in);
		ck_pr_store_ptr(&parts.corr_out, &corr_out);
	}
	struct tn_ingest_run_opts ro = {
		.journal = journal,
		.durable = &durable,
		.consumed = consumed_offset,
		.on_fatal = on_fatal,
		.tick_ms = cfg.correlate ? cfg.tick_ms : 0,
	};
	if (cfg.correlate)
		ro.lanes[0] = (struct tn_commit_lane){.in = &corr_in, .out = &corr_out};
	if (cfg_drills) {
		ro.lanes[1] = (struct tn_commit_lane){.in = &dcorr_in, .out = &dcorr_out};
		ro.lanes[2] = (struct tn_commit_lane){.in = &desk_in, .out = &desk_out};
	}
	if ((rc = tn_ingest_run(ingest, &ro)) != 0) {
		tn_error("cannot start ingest threads", "error=\"%s\"", tn_strerror(rc));
		return 1;
	}
	ck_pr_store_ptr(&parts.ingest, ingest);

	/* Alerts to consoles: the correlator's revisions, from the journal. */
	static char console_cache[TN_CONFIG_STR + 16];
	struct tn_alerts *alerts = NULL;
	struct tn_outbox *outbox = NULL;
	struct tn_registry_watch *console_watch = NULL;
	if (cfg.alerts && !cfg.correlate)
		tn_warn("alerts need the correlator: no alerts will be sent", NULL);
	if (cfg.cap_outbox[0] && !cfg_alerts)
		tn_warn("the cap outbox needs alerts and the correlator: no cap files will be "
			"written",
			NULL);
	/* Alert seqs go on from PostgreSQL's last one when the journal no
	 * longer holds any (retention); the journal's own is found by the
	 * correlator's first pass and the alerts thread's start-up read. */
	uint64_t seq_floor = 0;
	if (cfg_alerts &&
	    tn_alerts_pg_last_seq(cfg.conninfo, "live", &seq_floor, err, sizeof err) != 0)
		tn_warn("cannot read the last alert seq from postgresql; going on from the "
			"journal's",
			"error=\"%s\"", tn_logq(err));
	/* Before the correlator: its first revisions come after the alerts
	 * thread's start-up read, and are published. */
	if (cfg_alerts) {
		snprintf(console_cache, sizeof console_cache, "%s/consoles.cache", cfg.journal_dir);
		bool consoles_loaded;
		struct tn_registry *consoles = initial_registry(&cfg, TN_REGISTRY_CONSOLES,
								console_cache, &consoles_loaded);
		if (!consoles)
			return 1;
		int64_t console_version = consoles->version;
		if (cfg.cap_outbox[0]) {
			/* its writer runs before the alerts thread's start-up read,
			 * which hands it what a crash left unwritten */
			static char sender[TN_CAP_SENDER_MAX + 1];
			char host[200];
			/* checked at load (at most TN_CAP_SENDER_MAX bytes) */
			memcpy(sender, cfg.cap_sender, strnlen(cfg.cap_sender, TN_CAP_SENDER_MAX));
			if (!sender[0] && (gethostname(host, sizeof host) != 0 || !host[0] ||
					   snprintf(sender, sizeof sender, "tocsin@%s", host) < 0 ||
					   !tn__cap_sender_ok(sender))) {
				tn_error("cannot start the cap outbox: no valid sender from the "
					 "host name; set alerts.cap_sender",
					 NULL);
				return 1;
			}
			struct tn_outbox_opts oo = {
				.dir = cfg.cap_outbox,
				.sender = sender,
				.conninfo = cfg.conninfo,
				.poll_ms = cfg.registry_poll_ms,
				.queue = TN_OUTBOX_QUEUE,
			};
			if (tn_outbox_open(&oo, &outbox, err, sizeof err) != 0 ||
			    (rc = tn_outbox_run(outbox)) != 0) {
				tn_error("cannot start the cap outbox", "error=\"%s\"",
					 outbox ? tn_strerror(rc) : tn_logq(err));
				return 1;
			}
			ck_pr_store_ptr(&parts.outbox, outbox);
		}
		struct tn_alerts_opts ao = {
			.journal_dir = cfg.journal_dir,
			.durable = &durable,
			.pub_endpoint = cfg.alerts_endpoint,
			.pub_official_endpoint = cfg.alerts_endpoint_official,
			.pub_public_endpoint = cfg.alerts_endpoint_public,
			.assets_poll_ms = cfg.registry_poll_ms,
			.control_endpoint = cfg.control_endpoint,
			.server_secret = cfg.insecure ? NULL : secret,
			.conninfo = cfg.conninfo,
			.consoles = consoles,
			.recent = (unsigned)cfg.alerts_recent,
			.since_max = (unsigned)cfg.since_max,
			.sndhwm = cfg.alerts_sndhwm,
			.handshake_ivl_ms = cfg.handshake_ivl_ms,
			.consumed = &alerted,
			.seq_floor = seq_floor,
			.outbox = outbox,
			.monitor = metrics ? MONITOR_CONSOLES : NULL,
			.drill_in = cfg_drills ? &desk_in : NULL,
			.drill_out = cfg_drills ? &desk_out : NULL,
			.wake_commit = tn_ingest_wake_committer,
			.wake_ud = ingest,
			.max_drills = cfg_drills ? (unsigned)cfg.drills_max_active : 0,
			.nice = cfg.alerts_nice,
		};
		memcpy(ao.escalate_s, cfg.escalate_s, sizeof ao.escalate_s);
		if (tn_alerts_start(&ao, &alerts, err, sizeof err) != 0) {
			tn_error("cannot start alerts", "error=\"%s\"", tn_logq(err));
			return 1;
		}
		ck_pr_store_ptr(&parts.alerts, alerts);
		if ((rc = tn_registry_watch_start(cfg.conninfo, TN_REGISTRY_CONSOLES,
						  cfg.registry_poll_ms, console_cache,
						  console_version, cfg.name, cfg.keys_warn_before_s,
						  tn_alerts_publish_registry, alerts,
						  &console_watch)) != 0) {
			tn_error("cannot start the console registry watcher", "error=\"%s\"",
				 tn_strerror(rc));
			return 1;
		}
		ck_pr_store_ptr(&parts.console_keys, console_watch);
		if (cfg.insecure)
			tn_warn("INSECURE: plain-text alerts and control without authentication; "
				"loopback only",
				"pub=%s control=%s", cfg.alerts_endpoint, cfg.control_endpoint);
	}
	struct tn_correlate *corr = NULL, *drills = NULL;
	struct tn_assets_watch *assets = NULL, *drill_assets = NULL;
	if (cfg.correlate) {
		/* The asset graph: from PostgreSQL, or empty until it is reachable
		 * (the watcher then loads it). */
		struct tn_graph *graph = NULL;
		int64_t generation = -1;
		if (tn_assets_load_pg(cfg.conninfo, &graph, &generation, err, sizeof err) == 0)
			tn_info("asset registry loaded", "generation=%lld assets=%zu dependencies=%zu",
				(long long)generation, tn_graph_size(graph), tn_graph_edges(graph));
		else
			tn_warn("no asset registry yet: correlating by location only",
				"error=\"%s\"", tn_logq(err));
		struct tn_correlate_opts co = {
			.journal_dir = cfg.journal_dir,
			.durable = &durable,
			.graph = graph,
			.to_commit = &corr_in,
			.from_commit = &corr_out,
			.wake_commit = tn_ingest_wake_committer,
			.wake_ud = ingest,
			.pool = corr_pool,
			.consumed = &correlated,
		};
		tn_corr_config_defaults(&co.engine);
		co.engine.lateness_s = cfg.lateness_s;
		co.engine.max_depth = cfg.max_depth;
		co.engine.slack_s = cfg.slack_s;
		co.engine.heartbeat_timeout_s = cfg.heartbeat_timeout_s;
		co.seq_floor = seq_floor;
		co.nice = cfg.correlator_nice;
		if ((rc = tn_correlate_start(&co, &corr)) != 0) {
			tn_error("cannot start the correlator", "error=\"%s\"", tn_strerror(rc));
			return 1;
		}
		ck_pr_store_ptr(&parts.corr, corr);
		if ((rc = tn_assets_watch_start(cfg.conninfo, cfg.registry_poll_ms, generation,
						tn_correlate_publish_graph, corr, &assets)) != 0) {
			tn_error("cannot start the asset watcher", "error=\"%s\"", tn_strerror(rc));
			return 1;
		}
		if (cfg_drills && start_drills(&cfg, &co, &dcorr_in, &dcorr_out, &drills,
					       &drill_assets) != 0)
			return 1;
	}

	memset(secret, 0, sizeof secret);

	struct tn_store_opts so = {
		.conninfo = cfg.conninfo,
		.journal_dir = cfg.journal_dir,
		.batch = cfg.store_batch,
		.retry_ms = cfg.store_retry_ms,
		.linger_ms = cfg.store_linger_ms,
		.nice = cfg.store_nice,
		.durable = &durable,
	};
	struct tn_store *s;
	if ((rc = tn_store_start(&so, &s)) != 0) {
		tn_error("cannot start store", "error=\"%s\"", tn_strerror(rc));
		return 1;
	}
	ck_pr_store_ptr(&store, s);
	ck_pr_store_ptr(&parts.store, s);

	struct tn_registry_watch *watch;
	if ((rc = tn_registry_watch_start(cfg.conninfo, TN_REGISTRY_ADAPTERS, cfg.registry_poll_ms,
					  cfg.registry_cache, reg_version, cfg.name,
					  cfg.keys_warn_before_s, tn_ingest_publish_registry, ingest,
					  &watch)) != 0) {
		tn_error("cannot start registry watcher", "error=\"%s\"", tn_strerror(rc));
		return 1;
	}
	ck_pr_store_ptr(&parts.adapter_keys, watch);

	/* the adapters' connections are counted by the ingest thread (ingest.h) */
	if (metrics && (rc = tn_metrics_monitor(metrics, alerts ? tn_alerts_zmq_ctx(alerts) : NULL,
						MONITOR_CONSOLES)) != 0) {
		tn_error("cannot start the connection monitor", "error=\"%s\"", tn_strerror(rc));
		return 1;
	}

	tn_info("tocsind ready", "ingest=%s journal=%s pid=%ld", cfg.ingest_endpoint,
		cfg.journal_dir, (long)getpid());

	/* The configuration in force: `cfg` as the threads were given it (they
	 * borrow it, so it never changes), with what reloads changed since. */
	static struct tn_config eff;
	eff = cfg;
	struct live_parts lp = {.ingest = ingest,
				.alerts = alerts,
				.store = s,
				.adapters = watch,
				.consoles = console_watch};
	for (;;) {
		int sig;
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			tn_info("reloading", "signal=SIGHUP file=\"%s\"", tn_logq(config_path));
			reload(config_path, &eff, &lp);
			continue;
		}
		tn_info("stopping", "signal=%s fatal=%d drain_s=%d",
			sig == SIGINT ? "SIGINT" : "SIGTERM", atomic_load(&fatal), eff.drain_s);
		break;
	}

	/*
	 * The drain, within server.drain_s: each step gets a share of what is
	 * left, the store what remains at the end, and the watchdog ends the
	 * process DRAIN_GRACE_MS past the bound if a step hangs.
	 */
	int64_t drain_t0 = mono_ms();
	drain_deadline_ms = drain_t0 + (int64_t)eff.drain_s * 1000;
	pthread_t watchdog;
	if (pthread_create(&watchdog, NULL, drain_watchdog, NULL) != 0)
		tn_warn("cannot start the drain watchdog", NULL);
	else
		pthread_detach(watchdog);
	/* Before the parts it reads, and the ZeroMQ contexts it monitors. */
	tn_metrics_stop(metrics);
	tn_registry_watch_stop(watch);
	tn_registry_watch_stop(console_watch);
	/* Order: stop taking events; let the correlator read what is durable
	 * and journal its last revisions; then stop the committer; then let
	 * the alerts thread publish what is durable (the journal's end is now
	 * fixed) before consoles lose the server. */
	tn_ingest_quiesce(ingest);
	tn_assets_watch_stop(assets);
	tn_assets_watch_stop(drill_assets);
	tn_correlate_stop(corr, min_ms(2000, drain_left_ms() / 4));
	tn_correlate_stop(drills, min_ms(1000, drain_left_ms() / 8));
	tn_ingest_stop(ingest, min_ms(500, drain_left_ms() / 8)); /* the last acks leave */
	tn_alerts_stop(alerts, min_ms(1000, drain_left_ms() / 4)); /* goodbye to consoles */
	tn_outbox_stop(outbox); /* what the alerts thread queued, written */
	ck_pr_store_ptr(&store, NULL);
	/* the store's own grace (store.h) comes on top of what it is given */
	int store_ms = drain_left_ms() > 300 ? drain_left_ms() - 300 : 0;
	rc = tn_store_stop(s, store_ms);
	if (rc != 0)
		tn_warn("store did not drain in time; the rest stays in the journal", "ms=%d",
			store_ms);
	tn_journal_close(journal);
	atomic_store(&drained, 1);
	tn_info("stopped", "drain_ms=%lld stored=%s", (long long)(mono_ms() - drain_t0),
		rc == 0 ? "all" : "partly");
	return atomic_load(&fatal) ? 1 : 0;
}
