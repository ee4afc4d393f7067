/*
 * config.h - tocsind's configuration: one INI file read with libinih.
 *
 * Every key has a default (tn_config_defaults), and the defaults bind
 * loopback only. docs/operations.md lists every key; etc/tocsin.ini is a
 * commented sample. Unknown sections or keys, and values that do not parse
 * or are out of range, are errors naming the file, line, key and what was
 * expected:
 *   tocsin.ini:12: journal.segment_bytes: expected a size between 1MiB and 1GiB
 *   (suffixes k, M, G), got "lots"
 *
 * Thread contract: load in the main thread; afterwards the struct is read-only
 * and may be shared.
 */
#ifndef TN_CONFIG_H
#define TN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TN_CONFIG_STR 512

struct tn_config {
	/* [server] */
	int log_level;                  /* log_level = debug|info|warn|error */
	char name[64];                  /* name = tocsind; shown in logs and audit */
	int drain_s;                    /* drain_s = 10: SIGTERM's bound on the drain (main.c) */

	/* [ingest] */
	char ingest_endpoint[TN_CONFIG_STR]; /* endpoint = tcp://127.0.0.1:7450 */
	char server_key[TN_CONFIG_STR];      /* server_key = server.key (secret key file, Z85) */
	bool insecure;                  /* insecure = false; plain text, only on loopback */
	int64_t max_frame_bytes;        /* max_frame_bytes = 1048576 (ZMQ_MAXMSGSIZE), <= 1 MiB */
	int handshake_ivl_ms;           /* handshake_ivl_ms = 5000 (ZMQ_HANDSHAKE_IVL) */
	int rcvhwm, sndhwm;             /* rcvhwm = 1000, sndhwm = 1000 */
	int64_t max_future_s;           /* max_future_s = 300: later events get E_TIME */
	int64_t horizon_s;              /* horizon_s = 604800: older events get E_TIME */
	int inflight_frames;            /* inflight_frames = 256: frames between ingest and journal */
	int dedup_entries;              /* dedup_entries = 1048576: (source, id) pairs remembered for `dup` */
	int rate;                       /* rate = 5000: events/s per adapter key (0: none); E_RATE past it */
	int burst;                      /* burst = 10000: events a key may send at once (bucket size) */
	int inflight_per_key;           /* inflight_per_key = 64: frames of one key in flight (0: any) */

	/* [journal] */
	char journal_dir[TN_CONFIG_STR]; /* dir = var/journal */
	int64_t segment_bytes;          /* segment_bytes = 64M */
	int64_t journal_max_bytes;      /* max_bytes = 8G (E_UNAVAILABLE past it) */
	int64_t retain_s;               /* retain_s = 691200 (horizon + 1 day) */
	int group_commit_us;            /* group_commit_us = 0: extra wait to fill a group */

	/* [store] */
	char conninfo[TN_CONFIG_STR];   /* conninfo = dbname=tocsin */
	int store_batch;                /* batch = 5000 records per COPY transaction */
	int store_retry_ms;             /* retry_ms = 1000 while PostgreSQL is away */
	int store_linger_ms;            /* linger_ms = 100: wait for a fuller batch (store.h) */
	int store_nice;                 /* nice = 10: the store thread's nice value (thread.h) */

	/* [correlator] */
	bool correlate;                 /* enabled = true */
	int tick_ms;                    /* tick_ms = 1000: clock ticks journaled for the engine */
	int lateness_s;                 /* lateness_s = 60: allowed lateness of the watermark */
	int correlator_nice;            /* nice = 10: the live correlator thread's nice value */
	int max_depth;                  /* max_depth = 6: hops of upstream/downstream searches */
	int slack_s;                    /* slack_s = 30: clock-skew slack of a path's window */
	int heartbeat_timeout_s;        /* heartbeat_timeout_s = 180: a silent source is blind */

	/* [registry] */
	int registry_poll_ms;           /* poll_ms = 1000: key registry refresh period */
	char registry_cache[TN_CONFIG_STR]; /* cache = <journal dir>/registry.cache when empty */

	/* [alerts] (docs/control-rooms.md) */
	bool alerts;                    /* enabled = true (needs the correlator) */
	char alerts_endpoint[TN_CONFIG_STR];  /* endpoint = tcp://127.0.0.1:7451 (PUB) */
	char control_endpoint[TN_CONFIG_STR]; /* control_endpoint = tcp://127.0.0.1:7452 (ROUTER) */
	/* the lower clearances' PUBs (docs/control-rooms.md, "Need to know"); empty: off */
	char alerts_endpoint_official[TN_CONFIG_STR]; /* endpoint_official = tcp://127.0.0.1:7453 */
	char alerts_endpoint_public[TN_CONFIG_STR];   /* endpoint_public = tcp://127.0.0.1:7454 */
	int alerts_recent;              /* recent = 10000: alerts in memory for `since` */
	int since_max;                  /* since_max = 1000: alerts per `since` reply */
	int alerts_nice;                /* nice = 10: the alerts thread's nice value */
	int alerts_sndhwm;              /* sndhwm = 10000: per console, PUB and control */
	int drills_max_active;          /* drills running at once; 0: none (design §6) */
	int drills_nice;                /* nice = 15: the drill correlator's (yields to live) */
	int escalate_s[5];              /* escalate_p1_s = 60, _p2_s = 300, _p3_s = 900, _p4_s and
					   _p5_s = 0: ack deadlines (0: never escalates) */
	char cap_outbox[TN_CONFIG_STR]; /* cap_outbox = (empty: off): a CAP file per revision */
	char cap_sender[TN_CONFIG_STR]; /* cap_sender = tocsin@HOSTNAME when empty */

	/* [metrics] (docs/metrics.md) */
	char metrics_listen[80];        /* listen = (empty: off), e.g. 127.0.0.1:9464 or [::1]:9464 */
	bool metrics_allow_remote;      /* allow_remote = false: listen must be loopback unless true */
	int metrics_connections;        /* max_connections = 16: HTTP connections at once */
	int metrics_timeout_s;          /* timeout_s = 10: an idle HTTP connection is closed */

	/* [keys] (docs/security.md, "Keys over time") */
	int64_t keys_warn_before_s;     /* warn_before = 7d: warn of keys expiring within it (0: never) */
};

/* Fill `c` with the defaults. Main thread. */
void tn_config_defaults(struct tn_config *c);

/*
 * tn_config_load - defaults, then the file at `path` (borrowed) over them.
 * Returns 0, or TN_ECONFIG with "FILE:LINE: section.key: expected ..., got
 * ..." in err (errlen bytes, always NUL-terminated), or TN_EIO when the file
 * cannot be read (err says why). Also checks the whole: insecure only on a
 * loopback endpoint, retain_s >= horizon_s, max_bytes >= 2 * segment_bytes.
 * Relative paths (server_key, journal dir, registry cache), written in the
 * file or left at their default, are made relative to the directory of
 * `path`; an empty cache stays empty. On error `c` is left untouched.
 * Main thread.
 */
int tn_config_load(const char *path, struct tn_config *c, char *err, size_t errlen);

/*
 * Reload (SIGHUP, docs/operations.md "Reloading"): the keys that can change
 * while the server runs, each applied by the thread that owns it; every
 * other key needs a restart.
 */
struct tn_config_change {
	const char *section, *name; /* static strings of the key table */
	bool live;                  /* tn_config_live */
	char was[96], now[96];      /* the values as text ("(not shown)" for a conninfo) */
};

/* tn_config_live - whether section.name may change on a reload. Pure. */
bool tn_config_live(const char *section, const char *name);

/*
 * tn_config_diff - the keys whose values differ between `was` and `now`
 * (both borrowed), in the order of the key table: at most `max` of them
 * into out[] (the caller's). Returns how many differ (it may exceed max).
 * Pure.
 */
size_t tn_config_diff(const struct tn_config *was, const struct tn_config *now,
		      struct tn_config_change *out, size_t max);

/* tn_config_is_loopback - whether a ZeroMQ endpoint names only this host
 * (tcp://127.x.x.x, tcp://[::1], tcp://localhost, ipc://, inproc://). Pure. */
bool tn_config_is_loopback(const char *endpoint);

/*
 * tn_config_parse_listen - split metrics.listen, "IPV4:PORT" or "[IPV6]:PORT"
 * (numeric addresses only, port 1-65535), into `host` (hostlen bytes, the
 * address without brackets) and *port. Returns 0 or TN_EINVAL. Pure.
 */
int tn_config_parse_listen(const char *listen, char *host, size_t hostlen, int *port);

#endif
