/*
 * config.c - tocsind's INI file (config.h), read with libinih.
 *
 * libinih as Debian builds it has no line number in the handler, so the file
 * is fed to ini_parse_stream() through our own reader: the reader counts
 * lines (the handler of a key runs before the next line is read, so the
 * count is the key's line), checks section headers itself (libinih only
 * reports sections through their keys, so an empty unknown section would
 * pass), and strips leading blanks so that an indented line is never taken
 * for a continuation of the previous value. Parsing stops at the first error.
 *
 * Every key is one row of a table: where it lives in struct tn_config, its
 * kind and its range. The error text ("expected ...") is built from the same
 * row, so the message and the check cannot drift apart.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <libpq-fe.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cap.h"
#include "duration.h"
#include "log.h"
#include "tocsin/error.h"
#include "tocsin/event.h"

#define KIB 1024LL
#define MIB (1024LL * KIB)
#define GIB (1024LL * MIB)

enum kind {
	K_LEVEL,    /* int: a tn_log_level */
	K_NAME,     /* char[]: 1.. of [A-Za-z0-9._-] */
	K_ENDPOINT, /* char[]: tcp://HOST:PORT, ipc://PATH, inproc://NAME */
	K_PATH,     /* char[]: a file or directory; relative to the config file */
	K_CONNINFO, /* char[]: anything PQconninfoParse accepts */
	K_BOOL,     /* bool */
	K_INT,      /* int, min..max */
	K_I64,      /* int64_t, min..max */
	K_SIZE,     /* int64_t, min..max, suffixes k M G */
	K_SENDER,   /* char[]: empty, or a CAP sender (common/cap.h) */
	K_LISTEN,   /* char[]: empty, or IPV4:PORT, [IPV6]:PORT (tn_config_parse_listen) */
	K_DURATION, /* int64_t seconds, min..max, written 90s 30m 24h 7d (duration.h) */
};

struct key {
	const char *section;
	const char *name;
	enum kind kind;
	size_t off, size; /* of the field in struct tn_config */
	int64_t min, max; /* K_INT, K_I64, K_SIZE; for K_PATH min 0 means "may be empty" */
};

#define FIELD(f) offsetof(struct tn_config, f), sizeof(((struct tn_config *)0)->f)

static const char *const sections[] = {"server", "ingest", "journal", "store", "correlator",
				       "registry", "alerts", "drills", "metrics", "keys"};

static const struct key keys[] = {
	{"server", "log_level", K_LEVEL, FIELD(log_level), 0, 0},
	{"server", "name", K_NAME, FIELD(name), 1, 0},
	{"server", "drain_s", K_INT, FIELD(drain_s), 1, 3600},
	{"ingest", "endpoint", K_ENDPOINT, FIELD(ingest_endpoint), 1, 0},
	{"ingest", "server_key", K_PATH, FIELD(server_key), 1, 0},
	{"ingest", "insecure", K_BOOL, FIELD(insecure), 0, 0},
	{"ingest", "max_frame_bytes", K_SIZE, FIELD(max_frame_bytes), KIB, TN_WIRE_MAX_FRAME},
	{"ingest", "handshake_ivl_ms", K_INT, FIELD(handshake_ivl_ms), 100, 60000},
	{"ingest", "rcvhwm", K_INT, FIELD(rcvhwm), 1, 1000000},
	{"ingest", "sndhwm", K_INT, FIELD(sndhwm), 1, 1000000},
	{"ingest", "max_future_s", K_I64, FIELD(max_future_s), 0, 86400},
	{"ingest", "horizon_s", K_I64, FIELD(horizon_s), 60, 366 * 86400},
	{"ingest", "inflight_frames", K_INT, FIELD(inflight_frames), 1, 65536},
	{"ingest", "dedup_entries", K_INT, FIELD(dedup_entries), 1024, 1 << 28},
	{"ingest", "rate", K_INT, FIELD(rate), 0, 1000000},
	{"ingest", "burst", K_INT, FIELD(burst), 1, 1000000},
	{"ingest", "inflight_per_key", K_INT, FIELD(inflight_per_key), 0, 65536},
	{"journal", "dir", K_PATH, FIELD(journal_dir), 1, 0},
	{"journal", "segment_bytes", K_SIZE, FIELD(segment_bytes), MIB, GIB},
	{"journal", "max_bytes", K_SIZE, FIELD(journal_max_bytes), 2 * MIB, 1024 * GIB},
	{"journal", "retain_s", K_I64, FIELD(retain_s), 60, 10 * 366 * 86400},
	{"journal", "group_commit_us", K_INT, FIELD(group_commit_us), 0, 100000},
	{"store", "conninfo", K_CONNINFO, FIELD(conninfo), 1, 0},
	{"store", "batch", K_INT, FIELD(store_batch), 1, 100000},
	{"store", "retry_ms", K_INT, FIELD(store_retry_ms), 10, 600000},
	{"store", "linger_ms", K_INT, FIELD(store_linger_ms), 0, 10000},
	{"store", "nice", K_INT, FIELD(store_nice), 0, 19},
	{"correlator", "enabled", K_BOOL, FIELD(correlate), 0, 0},
	{"correlator", "tick_ms", K_INT, FIELD(tick_ms), 10, 60000},
	{"correlator", "lateness_s", K_INT, FIELD(lateness_s), 0, 3600},
	{"correlator", "nice", K_INT, FIELD(correlator_nice), 0, 19},
	{"correlator", "max_depth", K_INT, FIELD(max_depth), 1, 64},
	{"correlator", "slack_s", K_INT, FIELD(slack_s), 0, 3600},
	{"correlator", "heartbeat_timeout_s", K_INT, FIELD(heartbeat_timeout_s), 0, 86400},
	{"registry", "poll_ms", K_INT, FIELD(registry_poll_ms), 10, 600000},
	{"registry", "cache", K_PATH, FIELD(registry_cache), 0, 0},
	{"alerts", "enabled", K_BOOL, FIELD(alerts), 0, 0},
	{"alerts", "endpoint", K_ENDPOINT, FIELD(alerts_endpoint), 1, 0},
	{"alerts", "control_endpoint", K_ENDPOINT, FIELD(control_endpoint), 1, 0},
	{"alerts", "endpoint_official", K_ENDPOINT, FIELD(alerts_endpoint_official), 0, 0},
	{"alerts", "endpoint_public", K_ENDPOINT, FIELD(alerts_endpoint_public), 0, 0},
	{"alerts", "recent", K_INT, FIELD(alerts_recent), 1, 10000000},
	{"alerts", "since_max", K_INT, FIELD(since_max), 1, 100000},
	{"alerts", "nice", K_INT, FIELD(alerts_nice), 0, 19},
	{"alerts", "sndhwm", K_INT, FIELD(alerts_sndhwm), 1, 1000000},
	{"alerts", "escalate_p1_s", K_INT, FIELD(escalate_s[0]), 0, 86400},
	{"alerts", "escalate_p2_s", K_INT, FIELD(escalate_s[1]), 0, 86400},
	{"alerts", "escalate_p3_s", K_INT, FIELD(escalate_s[2]), 0, 86400},
	{"alerts", "escalate_p4_s", K_INT, FIELD(escalate_s[3]), 0, 86400},
	{"alerts", "escalate_p5_s", K_INT, FIELD(escalate_s[4]), 0, 86400},
	{"alerts", "cap_outbox", K_PATH, FIELD(cap_outbox), 0, 0},
	{"alerts", "cap_sender", K_SENDER, FIELD(cap_sender), 0, 0},
	{"drills", "max_active", K_INT, FIELD(drills_max_active), 0, 64},
	{"drills", "nice", K_INT, FIELD(drills_nice), 0, 19},
	{"metrics", "listen", K_LISTEN, FIELD(metrics_listen), 0, 0},
	{"metrics", "allow_remote", K_BOOL, FIELD(metrics_allow_remote), 0, 0},
	{"metrics", "max_connections", K_INT, FIELD(metrics_connections), 1, 1024},
	{"metrics", "timeout_s", K_INT, FIELD(metrics_timeout_s), 1, 300},
	{"keys", "warn_before", K_DURATION, FIELD(keys_warn_before_s), 0, 366 * 86400},
};

#define N_KEYS     (sizeof keys / sizeof keys[0])
#define N_SECTIONS (sizeof sections / sizeof sections[0])

static int key_index(const char *section, const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

static bool section_known(const char *s, size_t len)
{
	for (size_t i = 0; i < N_SECTIONS; i++)
		if (strlen(sections[i]) == len && memcmp(sections[i], s, len) == 0)
			return true;
	return false;
}

void tn_config_defaults(struct tn_config *c)
{
	memset(c, 0, sizeof *c);
	c->log_level = TN_LOG_INFO;
	snprintf(c->name, sizeof c->name, "tocsind");
	c->drain_s = 10;

	snprintf(c->ingest_endpoint, sizeof c->ingest_endpoint, "%s", TN_DEFAULT_INGEST);
	snprintf(c->server_key, sizeof c->server_key, "server.key");
	c->insecure = false;
	c->max_frame_bytes = TN_WIRE_MAX_FRAME;
	c->handshake_ivl_ms = 5000;
	c->rcvhwm = 1000;
	c->sndhwm = 1000;
	c->max_future_s = 300;
	c->horizon_s = 604800;
	c->inflight_frames = 256;
	c->dedup_entries = 1 << 20;
	c->rate = 5000;
	c->burst = 10000;
	c->inflight_per_key = 64;
	c->correlate = true;
	c->tick_ms = 1000;
	c->drills_max_active = 4;
	c->drills_nice = 15;
	/* the stages behind the journal yield to the ack path (thread.h) */
	c->correlator_nice = 10;
	c->store_nice = 10;
	c->alerts_nice = 10;
	c->lateness_s = 60;
	c->max_depth = 6;
	c->slack_s = 30;
	c->heartbeat_timeout_s = 180;

	snprintf(c->journal_dir, sizeof c->journal_dir, "var/journal");
	c->segment_bytes = 64 * MIB;
	c->journal_max_bytes = 8 * GIB;
	c->retain_s = 691200;
	c->group_commit_us = 0;

	snprintf(c->conninfo, sizeof c->conninfo, "dbname=tocsin");
	c->store_batch = 5000;
	c->store_retry_ms = 1000;
	c->store_linger_ms = 100;

	c->registry_poll_ms = 1000;
	c->keys_warn_before_s = 7 * 86400;
	c->registry_cache[0] = '\0';

	c->alerts = true;
	snprintf(c->alerts_endpoint, sizeof c->alerts_endpoint, "%s", TN_DEFAULT_ALERTS);
	snprintf(c->control_endpoint, sizeof c->control_endpoint, "%s", TN_DEFAULT_CONTROL);
	snprintf(c->alerts_endpoint_official, sizeof c->alerts_endpoint_official, "%s",
		 TN_DEFAULT_ALERTS_OFFICIAL);
	snprintf(c->alerts_endpoint_public, sizeof c->alerts_endpoint_public, "%s",
		 TN_DEFAULT_ALERTS_PUBLIC);
	c->alerts_recent = 10000;
	c->since_max = 1000;
	c->alerts_sndhwm = 10000;
	c->escalate_s[0] = 60;
	c->escalate_s[1] = 300;
	c->escalate_s[2] = 900;
	c->escalate_s[3] = 0;
	c->escalate_s[4] = 0;

	c->metrics_listen[0] = '\0';
	c->metrics_allow_remote = false;
	c->metrics_connections = 16;
	c->metrics_timeout_s = 10;
}

/* ---- loopback ---------------------------------------------------------- */

bool tn_config_is_loopback(const char *ep)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *h, *colon;
	size_t hl;

	if (!ep)
		return false;
	if (strncmp(ep, "ipc://", 6) == 0)
		return ep[6] != '\0';
	if (strncmp(ep, "inproc://", 9) == 0)
		return ep[9] != '\0';
	if (strncmp(ep, "tcp://", 6) != 0)
		return false;
	h = ep + 6;
	colon = strrchr(h, ':');
	if (!colon || colon == h || colon[1] == '\0')
		return false;
	hl = (size_t)(colon - h);
	if (hl >= sizeof host)
		return false;
	memcpy(host, h, hl);
	host[hl] = '\0';

	if (host[0] == '[') {
		struct in6_addr a6;
		if (hl < 3 || host[hl - 1] != ']')
			return false;
		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &a6) != 1)
			return false;
		if (IN6_IS_ADDR_LOOPBACK(&a6))
			return true;
		/* ::ffff:127.x.x.x */
		return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
	}
	if (strcasecmp(host, "localhost") == 0)
		return true;
	struct in_addr a4;
	if (inet_pton(AF_INET, host, &a4) != 1)
		return false; /* '*', interface names, host names, "src;dst" forms */
	return ((const unsigned char *)&a4.s_addr)[0] == 127;
}

static bool parse_i64(const char *v, int64_t *out, const char **end);

int tn_config_parse_listen(const char *listen, char *host, size_t hostlen, int *port)
{
	const char *colon = strrchr(listen, ':');
	const char *h = listen, *e;
	size_t hl;
	int64_t p;
	unsigned char addr[sizeof(struct in6_addr)];

	if (!colon || !parse_i64(colon + 1, &p, &e) || *e || colon[1] == '-' || p < 1 ||
	    p > 65535)
		return TN_EINVAL;
	hl = (size_t)(colon - listen);
	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
		h++;
		hl -= 2;
	} else if (memchr(h, ':', hl)) {
		return TN_EINVAL; /* an IPv6 address needs its brackets */
	}
	if (hl == 0 || hl >= hostlen)
		return TN_EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (inet_pton(h == listen ? AF_INET : AF_INET6, host, addr) != 1)
		return TN_EINVAL;
	*port = (int)p;
	return 0;
}

/* Whether a valid metrics.listen address is loopback (127/8, ::1). */
static bool listen_is_loopback(const char *listen)
{
	char host[INET6_ADDRSTRLEN + 1], ep[INET6_ADDRSTRLEN + 16];
	int port;

	if (tn_config_parse_listen(listen, host, sizeof host, &port) != 0)
		return false;
	snprintf(ep, sizeof ep, "tcp://%s%s%s:%d", listen[0] == '[' ? "[" : "", host,
		 listen[0] == '[' ? "]" : "", port);
	return tn_config_is_loopback(ep);
}

/* ---- values ------------------------------------------------------------ */

static void fmt_size(char *buf, size_t len, int64_t v)
{
	if (v % GIB == 0)
		snprintf(buf, len, "%lldGiB", (long long)(v / GIB));
	else if (v % MIB == 0)
		snprintf(buf, len, "%lldMiB", (long long)(v / MIB));
	else if (v % KIB == 0)
		snprintf(buf, len, "%lldKiB", (long long)(v / KIB));
	else
		snprintf(buf, len, "%lld bytes", (long long)v);
}

/* What a key expects, for its error message. */
static void expected(const struct key *k, char *buf, size_t len)
{
	char lo[32], hi[32];

	switch (k->kind) {
	case K_LEVEL:
		snprintf(buf, len, "one of debug, info, warn, error");
		break;
	case K_NAME:
		snprintf(buf, len, "1-%zu characters of A-Z a-z 0-9 . _ -", k->size - 1);
		break;
	case K_ENDPOINT:
		snprintf(buf, len,
			 "a ZeroMQ endpoint tcp://HOST:PORT, ipc://PATH or inproc://NAME of at "
			 "most %zu bytes%s",
			 k->size - 1, k->min ? "" : " (empty: off)");
		break;
	case K_PATH:
		snprintf(buf, len, "a path of %s%zu bytes%s", k->min ? "1-" : "at most ",
			 k->size - 1,
			 k->min				     ? ""
			 : strcmp(k->name, "cap_outbox") == 0 ? " (empty: off)"
							     : " (empty: <journal dir>/registry.cache)");
		break;
	case K_CONNINFO:
		snprintf(buf, len, "a libpq connection string of at most %zu bytes", k->size - 1);
		break;
	case K_SENDER:
		snprintf(buf, len,
			 "a CAP sender: 1-%d printable ASCII characters without spaces, commas, < "
			 "or & (empty: tocsin@HOSTNAME)",
			 TN_CAP_SENDER_MAX);
		break;
	case K_LISTEN:
		snprintf(buf, len,
			 "an address and port, IPV4:PORT or [IPV6]:PORT (numeric, port 1-65535), "
			 "or empty (off)");
		break;
	case K_BOOL:
		snprintf(buf, len, "true or false (or yes/no, 1/0)");
		break;
	case K_INT:
	case K_I64:
		snprintf(buf, len, "an integer between %lld and %lld", (long long)k->min,
			 (long long)k->max);
		break;
	case K_DURATION:
		snprintf(buf, len,
			 "a duration between %llds and %lldd: a whole number and a unit, s m h or d "
			 "(90s, 30m, 24h, 7d; 0 for none)",
			 (long long)k->min, (long long)(k->max / 86400));
		break;
	case K_SIZE:
		fmt_size(lo, sizeof lo, k->min);
		fmt_size(hi, sizeof hi, k->max);
		snprintf(buf, len, "a size between %s and %s (suffixes k, M, G)", lo, hi);
		break;
	}
}

/* A plain decimal integer: optional '-', digits, nothing else. */
static bool parse_i64(const char *v, int64_t *out, const char **end)
{
	const char *p = v;
	long long x;
	char *e;

	if (*p == '-')
		p++;
	if (!isdigit((unsigned char)*p))
		return false;
	errno = 0;
	x = strtoll(v, &e, 10);
	if (errno == ERANGE)
		return false;
	*out = x;
	*end = e;
	return true;
}

/* Digits, then optionally k/K, M/m or G/g (powers of 1024), optionally "iB". */
static bool parse_size(const char *v, int64_t *out)
{
	const char *e;
	int64_t x, mul = 1;

	if (!parse_i64(v, &x, &e))
		return false;
	switch (*e) {
	case '\0':
		break;
	case 'k':
	case 'K':
		mul = KIB;
		e++;
		break;
	case 'm':
	case 'M':
		mul = MIB;
		e++;
		break;
	case 'g':
	case 'G':
		mul = GIB;
		e++;
		break;
	default:
		return false;
	}
	if (mul != 1 && strcmp(e, "iB") == 0)
		e += 2;
	if (*e != '\0')
		return false;
	if (x > INT64_MAX / mul || x < INT64_MIN / mul)
		return false;
	*out = x * mul;
	return true;
}

static bool parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"true", "yes", "1"}, *const no[] = {"false", "no", "0"};

	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

static bool endpoint_ok(const char *v)
{
	if (strncmp(v, "ipc://", 6) == 0)
		return v[6] != '\0';
	if (strncmp(v, "inproc://", 9) == 0)
		return v[9] != '\0';
	if (strncmp(v, "tcp://", 6) != 0)
		return false;
	const char *colon = strrchr(v + 6, ':');
	if (!colon || colon == v + 6 || colon[1] == '\0')
		return false;
	if (strcmp(colon + 1, "*") == 0)
		return true;
	int64_t port;
	const char *e;
	return parse_i64(colon + 1, &port, &e) && *e == '\0' && port >= 1 && port <= 65535;
}

static bool name_ok(const char *v)
{
	if (!*v)
		return false;
	for (const char *p = v; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
			return false;
	return true;
}

/* Parse `v` into the field of `k` in `c`. Returns false when it is not valid. */
static bool set_value(const struct key *k, const char *v, struct tn_config *c)
{
	char *field = (char *)c + k->off;
	size_t len = strlen(v);
	int64_t x;
	const char *e;

	switch (k->kind) {
	case K_LEVEL: {
		int lvl = tn_log_level_parse(v);
		if (lvl < 0)
			return false;
		*(int *)field = lvl;
		return true;
	}
	case K_NAME:
	case K_ENDPOINT:
	case K_PATH:
	case K_CONNINFO:
	case K_SENDER:
	case K_LISTEN:
		if (len >= k->size || (k->min && len == 0))
			return false;
		if (k->kind == K_LISTEN && len > 0) {
			char host[INET6_ADDRSTRLEN + 1];
			int port;
			if (tn_config_parse_listen(v, host, sizeof host, &port) != 0)
				return false;
		}
		if (k->kind == K_SENDER && len > 0 && !tn__cap_sender_ok(v))
			return false;
		if (k->kind == K_NAME && !name_ok(v))
			return false;
		if (k->kind == K_ENDPOINT && len > 0 && !endpoint_ok(v))
			return false;
		if (k->kind == K_CONNINFO) {
			char *perr = NULL;
			PQconninfoOption *o = PQconninfoParse(v, &perr);
			PQfreemem(perr);
			if (!o)
				return false;
			PQconninfoFree(o);
		}
		memcpy(field, v, len + 1);
		return true;
	case K_BOOL:
		return parse_bool(v, (bool *)field);
	case K_INT:
	case K_I64:
		if (!parse_i64(v, &x, &e) || *e != '\0' || x < k->min || x > k->max)
			return false;
		if (k->kind == K_INT)
			*(int *)field = (int)x;
		else
			*(int64_t *)field = x;
		return true;
	case K_SIZE:
		if (!parse_size(v, &x) || x < k->min || x > k->max)
			return false;
		*(int64_t *)field = x;
		return true;
	case K_DURATION:
		if (tn__duration_parse(v, &x) != 0 || x < k->min || x > k->max)
			return false;
		*(int64_t *)field = x;
		return true;
	}
	return false;
}

/* ---- the parse --------------------------------------------------------- */

struct parse {
	const char *path;
	FILE *f;
	char *line; /* getline's buffer */
	size_t cap;
	int lineno;
	int set_at[N_KEYS];   /* line of each key set in the file, 0 if not */
	char raw[N_KEYS][92]; /* each value as written, quoted for messages */
	struct tn_config *c;
	int rc; /* first error, 0 if none */
	char *err;
	size_t errlen;
};

static void fail(struct parse *p, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail(struct parse *p, int rc, const char *fmt, ...)
{
	va_list ap;

	if (p->rc)
		return;
	p->rc = rc;
	if (p->errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(p->err, p->errlen, fmt, ap);
	va_end(ap);
}

/* A value as quoted in a message: at most 80 bytes, control bytes as '?'. */
static void quote(const char *v, char *buf, size_t len)
{
	size_t n = 0;

	for (; *v && n + 4 < len && n < 80; v++)
		buf[n++] = (unsigned char)*v < 0x20 || *v == 0x7f ? '?' : *v;
	if (*v && n + 4 < len) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
}

static void bad_value(struct parse *p, int line, const struct key *k, const char *v)
{
	char what[160], got[96];

	expected(k, what, sizeof what);
	if (k->kind == K_CONNINFO && strlen(v) >= k->size)
		snprintf(got, sizeof got, "%zu bytes (not shown)", strlen(v));
	else if (k->kind == K_CONNINFO)
		/* it may hold a password: do not repeat it */
		snprintf(got, sizeof got, "a string libpq cannot parse (not shown)");
	else {
		char q[92];
		quote(v, q, sizeof q);
		snprintf(got, sizeof got, "\"%s\"", q);
	}
	fail(p, TN_ECONFIG, "%s:%d: %s.%s: expected %s, got %s", p->path, line, k->section, k->name,
	     what, got);
}

/* libinih's reader: fgets-like, one line into `str` (`num` bytes). */
static char *reader(char *str, int num, void *stream)
{
	struct parse *p = stream;
	ssize_t n;
	char *s;

	if (p->rc)
		return NULL; /* stop at the first error */
	n = getline(&p->line, &p->cap, p->f);
	if (n < 0) {
		if (ferror(p->f))
			fail(p, TN_EIO, "%s: cannot read: %s", p->path, strerror(errno));
		return NULL;
	}
	p->lineno++;
	if (strlen(p->line) != (size_t)n) {
		fail(p, TN_ECONFIG, "%s:%d: expected text, got a NUL byte", p->path, p->lineno);
		return NULL;
	}
	while (n > 0 && (p->line[n - 1] == '\n' || p->line[n - 1] == '\r'))
		p->line[--n] = '\0';
	s = p->line;
	if (p->lineno == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;
	while (*s == ' ' || *s == '\t')
		s++;
	/* libinih needs room for "\r\n\0" after the text */
	if (strlen(s) + 3 > (size_t)num) {
		fail(p, TN_ECONFIG, "%s:%d: expected a line of at most %d characters, got %zu",
		     p->path, p->lineno, num - 3, strlen(s));
		return NULL;
	}
	if (*s == '[') {
		char *end = strchr(s, ']');
		char q[92];
		if (!end) {
			quote(s, q, sizeof q);
			fail(p, TN_ECONFIG, "%s:%d: expected \"[section]\", got \"%s\"", p->path,
			     p->lineno, q);
			return NULL;
		}
		if (!section_known(s + 1, (size_t)(end - s - 1))) {
			char list[160];
			size_t n = 0;
			for (size_t i = 0; i < N_SECTIONS && n < sizeof list; i++)
				n += (size_t)snprintf(list + n, sizeof list - n, "%s[%s]",
						      i ? ", " : "", sections[i]);
			*end = '\0';
			quote(s + 1, q, sizeof q);
			fail(p, TN_ECONFIG, "%s:%d: unknown section [%s]; expected one of %s",
			     p->path, p->lineno, q, list);
			return NULL;
		}
	} else if (*s != '\0' && *s != ';' && *s != '#' && !strpbrk(s, "=:")) {
		char q[92];
		quote(s, q, sizeof q);
		fail(p, TN_ECONFIG,
		     "%s:%d: expected \"key = value\", \"[section]\" or a comment, got \"%s\"",
		     p->path, p->lineno, q);
		return NULL;
	}
	memcpy(str, s, strlen(s) + 1);
	return str;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	char q[92];
	int i;

	if (p->rc)
		return 0;
	quote(name, q, sizeof q);
	if (!*section) {
		fail(p, TN_ECONFIG, "%s:%d: %s: expected a [section] before the first key", p->path,
		     p->lineno, q);
		return 0;
	}
	i = key_index(section, name);
	if (i < 0) {
		char list[256];
		size_t n = 0;
		list[0] = '\0';
		for (size_t k = 0; k < N_KEYS; k++)
			if (strcmp(keys[k].section, section) == 0 && n < sizeof list)
				n += (size_t)snprintf(list + n, sizeof list - n, "%s%s",
						      n ? ", " : "", keys[k].name);
		fail(p, TN_ECONFIG, "%s:%d: %s.%s: unknown key; expected one of %s", p->path,
		     p->lineno, section, q, list);
		return 0;
	}
	if (p->set_at[i]) {
		fail(p, TN_ECONFIG, "%s:%d: %s.%s: set twice (first at line %d)", p->path,
		     p->lineno, section, name, p->set_at[i]);
		return 0;
	}
	if (!set_value(&keys[i], value, p->c)) {
		bad_value(p, p->lineno, &keys[i], value);
		return 0;
	}
	p->set_at[i] = p->lineno;
	quote(value, p->raw[i], sizeof p->raw[i]);
	return 1;
}

/* "FILE:LINE: " when the key was set in the file, else "FILE: ". */
static void where(const struct parse *p, int i, char *buf, size_t len)
{
	if (p->set_at[i])
		snprintf(buf, len, "%s:%d", p->path, p->set_at[i]);
	else
		snprintf(buf, len, "%s", p->path);
}

static void cross_checks(struct parse *p)
{
	struct tn_config *c = p->c;
	char at[PATH_MAX + 16];

	if (c->insecure && !tn_config_is_loopback(c->ingest_endpoint)) {
		char q[92];
		int i = key_index("ingest", "insecure");
		quote(c->ingest_endpoint, q, sizeof q);
		where(p, i, at, sizeof at);
		fail(p, TN_ECONFIG,
		     "%s: ingest.insecure: expected false unless ingest.endpoint is loopback "
		     "(tcp://127.x.x.x, tcp://[::1], tcp://localhost, ipc://), got \"%s\" with "
		     "endpoint \"%s\"",
		     at, p->raw[i], q);
	}
	/* Plain text is for loopback only, on the consoles' endpoints too. */
	const char *const eps[][2] = {{"endpoint", c->alerts_endpoint},
				      {"control_endpoint", c->control_endpoint},
				      {"endpoint_official", c->alerts_endpoint_official},
				      {"endpoint_public", c->alerts_endpoint_public}};
	for (size_t k = 0; c->insecure && c->alerts && k < 4; k++) {
		if (!eps[k][1][0] || tn_config_is_loopback(eps[k][1]))
			continue;
		char q[92];
		int i = key_index("ingest", "insecure");
		quote(eps[k][1], q, sizeof q);
		where(p, i, at, sizeof at);
		fail(p, TN_ECONFIG,
		     "%s: ingest.insecure: expected false unless alerts.%s is loopback too, got "
		     "\"%s\" with endpoint \"%s\"",
		     at, eps[k][0], p->raw[i], q);
	}
	if (c->metrics_listen[0] && !c->metrics_allow_remote &&
	    !listen_is_loopback(c->metrics_listen)) {
		int i = key_index("metrics", "listen");
		where(p, i, at, sizeof at);
		fail(p, TN_ECONFIG,
		     "%s: metrics.listen: expected a loopback address (127.x.x.x, [::1]) unless "
		     "metrics.allow_remote = true (the endpoint has no authentication), got \"%s\"",
		     at, p->raw[i]);
	}
	if (c->retain_s < c->horizon_s) {
		int r = key_index("journal", "retain_s"), h = key_index("ingest", "horizon_s");
		if (p->set_at[r] || !p->set_at[h]) {
			where(p, r, at, sizeof at);
			fail(p, TN_ECONFIG,
			     "%s: journal.retain_s: expected at least ingest.horizon_s (%lld), "
			     "got \"%s\"",
			     at, (long long)c->horizon_s, p->raw[r]);
		} else {
			where(p, h, at, sizeof at);
			fail(p, TN_ECONFIG,
			     "%s: ingest.horizon_s: expected at most journal.retain_s (%lld), "
			     "got \"%s\"",
			     at, (long long)c->retain_s, p->raw[h]);
		}
	}
	/* Segments are dropped whole: the journal needs room for at least two.
	 * Only max_bytes can break this (segment_bytes <= 1GiB < 8GiB / 2). */
	if (c->journal_max_bytes < 2 * c->segment_bytes) {
		int m = key_index("journal", "max_bytes");
		char sz[32];
		fmt_size(sz, sizeof sz, 2 * c->segment_bytes);
		where(p, m, at, sizeof at);
		fail(p, TN_ECONFIG,
		     "%s: journal.max_bytes: expected at least twice journal.segment_bytes (%s), "
		     "got \"%s\"",
		     at, sz, p->raw[m]);
	}
}

/*
 * Relative paths, written in the file or left at their default, are taken
 * relative to the directory of the config file, so that a configuration and
 * the files it names can live together anywhere.
 */
static void resolve_paths(struct parse *p)
{
	const char *slash = strrchr(p->path, '/');
	size_t dirlen;

	if (!slash)
		return; /* the config file is in the working directory */
	dirlen = (size_t)(slash - p->path) + 1;
	for (size_t i = 0; i < N_KEYS && !p->rc; i++) {
		char *field = (char *)p->c + keys[i].off;
		char buf[TN_CONFIG_STR];
		char at[PATH_MAX + 16];

		if (keys[i].kind != K_PATH || field[0] == '\0' || field[0] == '/')
			continue;
		if (dirlen + strlen(field) >= keys[i].size) {
			where(p, (int)i, at, sizeof at);
			fail(p, TN_ECONFIG,
			     "%s: %s.%s: expected a path of at most %zu bytes once made "
			     "relative to the directory of the config file, got \"%.*s%s\"",
			     at, keys[i].section, keys[i].name, keys[i].size - 1, (int)dirlen,
			     p->path, field);
			return;
		}
		snprintf(buf, sizeof buf, "%.*s%s", (int)dirlen, p->path, field);
		memcpy(field, buf, strlen(buf) + 1);
	}
}

int tn_config_load(const char *path, struct tn_config *c, char *err, size_t errlen)
{
	struct tn_config tmp;
	struct parse p = {.path = path, .c = &tmp, .err = err, .errlen = errlen};
	int r;

	if (errlen)
		err[0] = '\0';
	tn_config_defaults(&tmp);
	p.f = fopen(path, "re");
	if (!p.f) {
		fail(&p, TN_EIO, "%s: cannot open: %s", path, strerror(errno));
		return p.rc;
	}
	r = ini_parse_stream(reader, &p, handler, &p);
	free(p.line);
	fclose(p.f);
	if (!p.rc && r == -2)
		fail(&p, TN_ENOMEM, "%s: out of memory", path);
	else if (!p.rc && r != 0)
		/* something libinih refused that the reader let through */
		fail(&p, TN_ECONFIG, "%s:%d: expected \"key = value\", \"[section]\" or a comment",
		     path, r);
	if (!p.rc)
		cross_checks(&p);
	if (!p.rc)
		resolve_paths(&p);
	if (p.rc)
		return p.rc;
	*c = tmp;
	return 0;
}

/* ---- reload ------------------------------------------------------------- */

/* What a reload applies (main.c hands each to the thread that owns it). */
static const char *const live_keys[] = {
	"server.log_level",	    "server.drain_s",	     "ingest.rate",
	"ingest.burst",		    "ingest.inflight_per_key", "ingest.max_future_s",
	"registry.poll_ms",	    "store.retry_ms",	     "alerts.escalate_p1_s",
	"alerts.escalate_p2_s",	    "alerts.escalate_p3_s",	     "alerts.escalate_p4_s",
	"alerts.escalate_p5_s",	    "keys.warn_before",
};

bool tn_config_live(const char *section, const char *name)
{
	size_t sl = strlen(section);
	for (size_t i = 0; i < sizeof live_keys / sizeof live_keys[0]; i++)
		if (strncmp(live_keys[i], section, sl) == 0 && live_keys[i][sl] == '.' &&
		    strcmp(live_keys[i] + sl + 1, name) == 0)
			return true;
	return false;
}

/* A field's value as text, for the log and the audit record. */
static void value_text(const struct key *k, const struct tn_config *c, char *buf, size_t len)
{
	const char *field = (const char *)c + k->off;

	switch (k->kind) {
	case K_LEVEL:
		snprintf(buf, len, "%s", tn_log_level_name(*(const int *)field));
		break;
	case K_BOOL:
		snprintf(buf, len, "%s", *(const bool *)field ? "true" : "false");
		break;
	case K_INT:
		snprintf(buf, len, "%d", *(const int *)field);
		break;
	case K_I64:
	case K_SIZE:
	case K_DURATION:
		snprintf(buf, len, "%lld", (long long)*(const int64_t *)field);
		break;
	case K_CONNINFO:
		snprintf(buf, len, "(not shown)"); /* it may hold a password */
		break;
	default:
		quote(field, buf, len);
		break;
	}
}

static bool field_differs(const struct key *k, const struct tn_config *a,
			  const struct tn_config *b)
{
	const char *fa = (const char *)a + k->off, *fb = (const char *)b + k->off;

	switch (k->kind) {
	case K_NAME:
	case K_ENDPOINT:
	case K_PATH:
	case K_CONNINFO:
	case K_SENDER:
	case K_LISTEN:
		return strncmp(fa, fb, k->size) != 0;
	case K_BOOL:
		return *(const bool *)fa != *(const bool *)fb;
	default:
		return memcmp(fa, fb, k->size) != 0;
	}
}

size_t tn_config_diff(const struct tn_config *was, const struct tn_config *now,
		      struct tn_config_change *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < N_KEYS; i++) {
		if (!field_differs(&keys[i], was, now))
			continue;
		if (n < max) {
			struct tn_config_change *ch = &out[n];
			ch->section = keys[i].section;
			ch->name = keys[i].name;
			ch->live = tn_config_live(keys[i].section, keys[i].name);
			value_text(&keys[i], was, ch->was, sizeof ch->was);
			value_text(&keys[i], now, ch->now, sizeof ch->now);
		}
		n++;
	}
	return n;
}
