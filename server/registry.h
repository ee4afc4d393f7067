/*
 * registry.h - the adapter key registry: which CURVE keys may speak, and for
 * which sectors and asset-id prefixes (design §3, §7).
 *
 * The source of truth is PostgreSQL's `adapters` table (written by `tocsin
 * adapter add|revoke`). A snapshot is immutable once built; the watcher
 * thread polls `registry_version` and, on a change, builds a new snapshot and
 * hands it to its one consumer (the ingest thread), which swaps it in and
 * frees the old one. No snapshot is ever shared between threads after it is
 * handed over, so there is nothing to lock and nothing to reclaim late.
 *
 * Every snapshot is also written to a cache file, so tocsind can start and
 * authenticate adapters while PostgreSQL is down. The file's format 4 has
 * each key's end of validity (its expiry, or the end of a rotated-out key's
 * grace: schema/009_keys.sql) and whether it is such an old key; format 3
 * (no expiry: none) has each key's role (planner or not) and clearance; format 2 (rate and burst,
 * an optional seventh field "planner") and format 1 (before rate limits:
 * every key at the server's default limits) still load, every key with
 * clearance public: a cache that does not say a clearance never grants more
 * than the least (docs/control-rooms.md, "Need to know").
 *
 * Console keys (`tocsin console add`, schema/005_alerts.sql) are rows of the
 * same table with kind 'console' and no sectors. A snapshot holds one kind
 * only: the ingest thread's has adapters, the alerts thread's has consoles,
 * so neither can admit the other's keys whatever its ZAP domain.
 */
#ifndef TN_REGISTRY_H
#define TN_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "tocsin/event.h"
#include "tocsin/graph.h"

struct tn_adapter_entry {
	char name[65];
	char key[TN_KEY_Z85_LEN + 1]; /* public key, Z85 */
	uint32_t sectors;             /* bit (1u << enum tn_sector) per allowed sector */
	size_t n_prefixes;            /* 0: any asset of its sectors */
	char **prefixes;              /* asset-id prefixes it may report on */
	bool planner;                 /* console registry: a planner's key (runs drills) */
	int32_t rate, burst;          /* its own rate limit (events/s, 0: none) and burst;
					 -1: the server's default (schema/008_rate.sql) */
	/* console registry: the key's clearance (adapters.clearance), which
	 * alert stream it is admitted to and what control replies it gets; the
	 * levels are the assets' sensitivities. Adapters: TN_SENS_PUBLIC
	 * (never consulted). Unknown (an old cache): TN_SENS_PUBLIC. */
	enum tn_sensitivity clearance;
	/* The key is refused from this time on (CLOCK_REALTIME µs; INT64_MAX:
	 * never): its expiry (adapters.expires_at), or for an old key kept
	 * through a rotation's grace (`retiring`) the grace's end. Checked by
	 * tn_registry_live at every handshake and every frame, so a key ends on
	 * time without any registry change. */
	int64_t not_after_us;
	bool retiring; /* the old key of a rotation (adapters.prev_key) */
};

enum tn_registry_kind {
	TN_REGISTRY_ADAPTERS, /* rows of kind 'adapter': sectors and prefixes */
	TN_REGISTRY_CONSOLES, /* rows of kind 'console' and 'planner' (`planner` set):
			       * no sectors (allows nothing) */
};

struct tn_registry {
	int64_t version; /* registry_version.version it was read at; -1 unknown */
	size_t n;
	struct tn_adapter_entry *entries; /* sorted by key */
};

/* tn_registry_empty - a snapshot with no adapters (refuses every key). 0 or TN_ENOMEM. */
int tn_registry_empty(struct tn_registry **out);

/*
 * tn_registry_load_pg - read the live keys of `kind` from PostgreSQL at
 * `conninfo` (connect_timeout bounded). Returns 0 and sets *out (caller
 * owns it), TN_EDB (err says why), TN_ENOMEM, TN_ECORRUPT (a row that makes
 * no sense: unknown sector or a bad key; err names it). Any thread.
 */
int tn_registry_load_pg(const char *conninfo, enum tn_registry_kind kind, struct tn_registry **out,
			char *err, size_t errlen);

/*
 * tn_registry_cache_save / _load - the cache file (text; written to a
 * temporary file, fsync'd and renamed, mode 0600). load returns 0,
 * TN_ENOTFOUND (no file), TN_ECORRUPT, TN_EIO, TN_ENOMEM. Any thread.
 */
int tn_registry_cache_save(const struct tn_registry *r, const char *path);
int tn_registry_cache_load(const char *path, struct tn_registry **out);

/* tn_registry_find - the entry of a public key (Z85), or NULL. Pure. */
const struct tn_adapter_entry *tn_registry_find(const struct tn_registry *r, const char *key_z85);

/* tn_registry_live - whether `e` (may be NULL: false) is valid at `now_us`
 * (CLOCK_REALTIME µs): not past its expiry or grace. Pure. */
bool tn_registry_live(const struct tn_adapter_entry *e, int64_t now_us);

/* tn_registry_allows - whether `e` may report on `sector` (TN_SECTOR_NONE:
 * always) and `asset` (NULL: always). Pure. */
bool tn_registry_allows(const struct tn_adapter_entry *e, enum tn_sector sector,
			const char *asset);

void tn_registry_free(struct tn_registry *r);

/* ---- the watcher thread -------------------------------------------------- */

struct tn_registry_watch;

/*
 * Called from the watcher thread with a new snapshot; ownership passes to
 * the callee when it returns true. On false the watcher keeps it and offers
 * it again at the next poll (the hand-over ring was full; counted there).
 */
typedef bool (*tn_registry_publish_fn)(void *ud, struct tn_registry *r);

/*
 * tn_registry_watch_start - poll PostgreSQL every poll_ms for a registry
 * version other than `known` and publish each new snapshot of the keys of
 * `kind` (also saving it to `cache_path`). Strings are borrowed and must outlive the watcher.
 *
 * Keys over time (docs/security.md): at every poll the watcher also looks
 * at the keys of the newest snapshot it read (its first read is whole,
 * whatever `known`, for this view only): it logs a warning once for each key that expires within
 * `warn_before_s` (0: never), publishes the counts for the metrics
 * (tn_registry_watch_expiry), and writes an audit row, actor `server_name`
 * (`key.expired`, or
 * `key.retired` for a rotated-out key whose grace is over) for each key
 * whose end passes while it runs (retried at every poll while PostgreSQL
 * is away: the flag is kept per key of the snapshot, so it is bounded by
 * the registry; an end that passed before the watcher started is not
 * audited: nobody saw it pass, and its refusals are audited anyway).
 * Returns 0 and sets *out, or TN_ENOMEM. Main thread.
 */
int tn_registry_watch_start(const char *conninfo, enum tn_registry_kind kind, int poll_ms,
			    const char *cache_path, int64_t known, const char *server_name,
			    int64_t warn_before_s, tn_registry_publish_fn publish, void *ud,
			    struct tn_registry_watch **out);

/* What the watcher last saw of its keys (the metrics' gauges). */
struct tn_registry_expiry {
	uint64_t expiring; /* live keys (not rotated-out ones) expiring within warn_before */
	uint64_t expired;  /* registered, not revoked, past their expiry: refused */
	int64_t next_s;    /* seconds until the soonest expiry of a live key; -1: none */
	uint64_t ends_audited; /* key.expired and key.retired rows written */
};

/* tn_registry_watch_expiry - the watcher's latest view (atomics). Any thread; NULL: zeros. */
void tn_registry_watch_expiry(const struct tn_registry_watch *w, struct tn_registry_expiry *out);

/*
 * tn_registry_watch_reload - a reload (SIGHUP): poll every poll_ms from now
 * on (<= 0: unchanged) and re-read the registry at once, whatever its
 * version, and publish it (two atomics the watcher reads between polls;
 * the snapshot goes the usual way). NULL is fine. Main thread.
 */
void tn_registry_watch_reload(struct tn_registry_watch *w, int poll_ms);

/* tn_registry_watch_warn_before - a reload's [keys] warn_before (seconds,
 * 0: no warnings): from the next poll on; keys warned of are warned again
 * if the window changes. NULL is fine. Main thread. */
void tn_registry_watch_warn_before(struct tn_registry_watch *w, int64_t warn_before_s);

/* tn_registry_watch_stop - stop and join the thread, free it. NULL is fine. Main thread. */
void tn_registry_watch_stop(struct tn_registry_watch *w);

#endif
