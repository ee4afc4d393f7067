/* test_config.c - tocsind's INI file: defaults, every key, every error (config.h). */
#include "config.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "tocsin/error.h"

static char dir[200];
static char ini[256];
static char err[1024];
static struct tn_config cfg;

static void setup(void)
{
	snprintf(dir, sizeof dir, "%s/tn_config_XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(ini, sizeof ini, "%s/t.ini", dir);
	err[0] = '\0';
}

static void teardown(void)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void write_ini(const char *text)
{
	FILE *f = fopen(ini, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* Load `text`; expect `rc`. */
static int load(const char *text)
{
	write_ini(text);
	tn_config_defaults(&cfg);
	return tn_config_load(ini, &cfg, err, sizeof err);
}

/* Load `text`; expect TN_ECONFIG with exactly "<ini>:<msg>". */
static void expect_error(const char *text, const char *msg)
{
	char want[4096];
	ck_assert_int_eq(load(text), TN_ECONFIG);
	snprintf(want, sizeof want, "%s:%s", ini, msg);
	ck_assert_str_eq(err, want);
}

/* The defaults, with their paths made relative to `d` (NULL: unchanged). */
static void defaults_in(struct tn_config *c, const char *d)
{
	char b[1024];

	tn_config_defaults(c);
	if (d) {
		snprintf(b, sizeof b, "%s/%s", d, c->server_key);
		ck_assert_uint_lt(strlen(b), sizeof c->server_key);
		memcpy(c->server_key, b, strlen(b) + 1);
		snprintf(b, sizeof b, "%s/%s", d, c->journal_dir);
		ck_assert_uint_lt(strlen(b), sizeof c->journal_dir);
		memcpy(c->journal_dir, b, strlen(b) + 1);
	}
}

static void assert_config_eq(const struct tn_config *a, const struct tn_config *b)
{
	ck_assert_int_eq(a->log_level, b->log_level);
	ck_assert_str_eq(a->name, b->name);
	ck_assert_int_eq(a->drain_s, b->drain_s);
	ck_assert_str_eq(a->ingest_endpoint, b->ingest_endpoint);
	ck_assert_str_eq(a->server_key, b->server_key);
	ck_assert_int_eq(a->insecure, b->insecure);
	ck_assert_int_eq(a->max_frame_bytes, b->max_frame_bytes);
	ck_assert_int_eq(a->handshake_ivl_ms, b->handshake_ivl_ms);
	ck_assert_int_eq(a->rcvhwm, b->rcvhwm);
	ck_assert_int_eq(a->sndhwm, b->sndhwm);
	ck_assert_int_eq(a->alerts, b->alerts);
	ck_assert_str_eq(a->alerts_endpoint, b->alerts_endpoint);
	ck_assert_str_eq(a->control_endpoint, b->control_endpoint);
	ck_assert_str_eq(a->alerts_endpoint_official, b->alerts_endpoint_official);
	ck_assert_str_eq(a->alerts_endpoint_public, b->alerts_endpoint_public);
	ck_assert_int_eq(a->alerts_recent, b->alerts_recent);
	ck_assert_int_eq(a->since_max, b->since_max);
	ck_assert_int_eq(a->alerts_sndhwm, b->alerts_sndhwm);
	for (int p = 0; p < 5; p++)
		ck_assert_int_eq(a->escalate_s[p], b->escalate_s[p]);
	ck_assert_str_eq(a->cap_outbox, b->cap_outbox);
	ck_assert_str_eq(a->cap_sender, b->cap_sender);
	ck_assert_int_eq(a->max_future_s, b->max_future_s);
	ck_assert_int_eq(a->horizon_s, b->horizon_s);
	ck_assert_int_eq(a->inflight_frames, b->inflight_frames);
	ck_assert_int_eq(a->dedup_entries, b->dedup_entries);
	ck_assert_int_eq(a->rate, b->rate);
	ck_assert_int_eq(a->burst, b->burst);
	ck_assert_int_eq(a->inflight_per_key, b->inflight_per_key);
	ck_assert_int_eq(a->correlate, b->correlate);
	ck_assert_int_eq(a->tick_ms, b->tick_ms);
	ck_assert_int_eq(a->lateness_s, b->lateness_s);
	ck_assert_int_eq(a->correlator_nice, b->correlator_nice);
	ck_assert_int_eq(a->store_nice, b->store_nice);
	ck_assert_int_eq(a->alerts_nice, b->alerts_nice);
	ck_assert_int_eq(a->drills_nice, b->drills_nice);
	ck_assert_int_eq(a->max_depth, b->max_depth);
	ck_assert_int_eq(a->slack_s, b->slack_s);
	ck_assert_int_eq(a->heartbeat_timeout_s, b->heartbeat_timeout_s);
	ck_assert_str_eq(a->journal_dir, b->journal_dir);
	ck_assert_int_eq(a->segment_bytes, b->segment_bytes);
	ck_assert_int_eq(a->journal_max_bytes, b->journal_max_bytes);
	ck_assert_int_eq(a->retain_s, b->retain_s);
	ck_assert_int_eq(a->group_commit_us, b->group_commit_us);
	ck_assert_str_eq(a->conninfo, b->conninfo);
	ck_assert_int_eq(a->store_batch, b->store_batch);
	ck_assert_int_eq(a->store_retry_ms, b->store_retry_ms);
	ck_assert_int_eq(a->store_linger_ms, b->store_linger_ms);
	ck_assert_int_eq(a->registry_poll_ms, b->registry_poll_ms);
	ck_assert_str_eq(a->registry_cache, b->registry_cache);
	ck_assert_str_eq(a->metrics_listen, b->metrics_listen);
	ck_assert_int_eq(a->metrics_allow_remote, b->metrics_allow_remote);
	ck_assert_int_eq(a->metrics_connections, b->metrics_connections);
	ck_assert_int_eq(a->metrics_timeout_s, b->metrics_timeout_s);
	ck_assert_int_eq(a->keys_warn_before_s, b->keys_warn_before_s);
}

START_TEST(defaults)
{
	tn_config_defaults(&cfg);
	ck_assert_int_eq(cfg.log_level, TN_LOG_INFO);
	ck_assert_str_eq(cfg.name, "tocsind");
	ck_assert_str_eq(cfg.ingest_endpoint, "tcp://127.0.0.1:7450");
	ck_assert_str_eq(cfg.server_key, "server.key");
	ck_assert(!cfg.insecure);
	ck_assert_int_eq(cfg.max_frame_bytes, 1048576);
	ck_assert_int_eq(cfg.handshake_ivl_ms, 5000);
	ck_assert_int_eq(cfg.rcvhwm, 1000);
	ck_assert_int_eq(cfg.sndhwm, 1000);
	ck_assert_int_eq(cfg.max_future_s, 300);
	ck_assert_int_eq(cfg.horizon_s, 604800);
	ck_assert_int_eq(cfg.inflight_frames, 256);
	ck_assert_int_eq(cfg.dedup_entries, 1 << 20);
	ck_assert_int_eq(cfg.rate, 5000);
	ck_assert_int_eq(cfg.burst, 10000);
	ck_assert_int_eq(cfg.inflight_per_key, 64);
	ck_assert(cfg.correlate);
	ck_assert_int_eq(cfg.tick_ms, 1000);
	ck_assert_int_eq(cfg.lateness_s, 60);
	ck_assert_int_eq(cfg.correlator_nice, 10);
	ck_assert_int_eq(cfg.store_nice, 10);
	ck_assert_int_eq(cfg.alerts_nice, 10);
	ck_assert_int_eq(cfg.drills_nice, 15);
	ck_assert_str_eq(cfg.journal_dir, "var/journal");
	ck_assert_int_eq(cfg.segment_bytes, 64LL << 20);
	ck_assert_int_eq(cfg.journal_max_bytes, 8LL << 30);
	ck_assert_int_eq(cfg.retain_s, 691200);
	ck_assert_int_eq(cfg.group_commit_us, 0);
	ck_assert_str_eq(cfg.conninfo, "dbname=tocsin");
	ck_assert_int_eq(cfg.store_batch, 5000);
	ck_assert_int_eq(cfg.store_retry_ms, 1000);
	ck_assert_int_eq(cfg.store_linger_ms, 100);
	ck_assert_int_eq(cfg.registry_poll_ms, 1000);
	ck_assert_str_eq(cfg.registry_cache, "");
	ck_assert(tn_config_is_loopback(cfg.ingest_endpoint));
}
END_TEST

START_TEST(empty_file_gives_defaults)
{
	struct tn_config want;

	ck_assert_int_eq(load(""), 0);
	ck_assert_str_eq(err, "");
	defaults_in(&want, dir);
	assert_config_eq(&cfg, &want);

	ck_assert_int_eq(load("# only comments\n; and more\n\n[server]\n[ingest]\n"), 0);
	assert_config_eq(&cfg, &want);
}
END_TEST

START_TEST(every_key_parsed)
{
	ck_assert_int_eq(load("[server]\n"
			      "log_level = debug\n"
			      "name = city-east_1.a\n"
			      "drain_s = 42\n"
			      "[ingest]\n"
			      "endpoint = tcp://[::1]:9000\n"
			      "server_key = /etc/tocsin/server.key\n"
			      "insecure = yes\n"
			      "max_frame_bytes = 512k\n"
			      "handshake_ivl_ms = 2500\n"
			      "rcvhwm = 10\n"
			      "sndhwm = 20\n"
			      "max_future_s = 60\n"
			      "horizon_s = 3600\n"
			      "inflight_frames = 64\n"
			      "dedup_entries = 4096\n"
			      "rate = 0\n"
			      "burst = 1000000\n"
			      "inflight_per_key = 8\n"
			      "[journal]\n"
			      "dir = /srv/journal\n"
			      "segment_bytes = 16M\n"
			      "max_bytes = 1G\n"
			      "retain_s = 7200\n"
			      "group_commit_us = 500\n"
			      "[store]\n"
			      "conninfo = host=/run/pg port=5439 dbname=x user=y\n"
			      "batch = 100\n"
			      "retry_ms = 250\n"
			      "[registry]\n"
			      "poll_ms = 50\n"
			      "cache = /var/cache/tocsin/registry\n"),
			 0);
	ck_assert_int_eq(cfg.log_level, TN_LOG_DEBUG);
	ck_assert_str_eq(cfg.name, "city-east_1.a");
	ck_assert_int_eq(cfg.drain_s, 42);
	ck_assert_str_eq(cfg.ingest_endpoint, "tcp://[::1]:9000");
	ck_assert_str_eq(cfg.server_key, "/etc/tocsin/server.key");
	ck_assert(cfg.insecure);
	ck_assert_int_eq(cfg.max_frame_bytes, 512 * 1024);
	ck_assert_int_eq(cfg.handshake_ivl_ms, 2500);
	ck_assert_int_eq(cfg.rcvhwm, 10);
	ck_assert_int_eq(cfg.sndhwm, 20);
	ck_assert_int_eq(cfg.max_future_s, 60);
	ck_assert_int_eq(cfg.horizon_s, 3600);
	ck_assert_int_eq(cfg.inflight_frames, 64);
	ck_assert_int_eq(cfg.dedup_entries, 4096);
	ck_assert_int_eq(cfg.rate, 0);
	ck_assert_int_eq(cfg.burst, 1000000);
	ck_assert_int_eq(cfg.inflight_per_key, 8);
	ck_assert_str_eq(cfg.journal_dir, "/srv/journal");
	ck_assert_int_eq(cfg.segment_bytes, 16LL << 20);
	ck_assert_int_eq(cfg.journal_max_bytes, 1LL << 30);
	ck_assert_int_eq(cfg.retain_s, 7200);
	ck_assert_int_eq(cfg.group_commit_us, 500);
	ck_assert_str_eq(cfg.conninfo, "host=/run/pg port=5439 dbname=x user=y");
	ck_assert_int_eq(cfg.store_batch, 100);
	ck_assert_int_eq(cfg.store_retry_ms, 250);
	ck_assert_int_eq(cfg.registry_poll_ms, 50);
	ck_assert_str_eq(cfg.registry_cache, "/var/cache/tocsin/registry");
}
END_TEST

START_TEST(syntax_details)
{
	/* blanks, indentation, CRLF, inline comments, ':' separator, BOM */
	ck_assert_int_eq(load("\xEF\xBB\xBF[server]\r\n"
			      "   log_level   =   warn   ; a comment\r\n"
			      "\t# indented comment\n"
			      "  name: edge\n"
			      "[ingest]\n"
			      "insecure = TRUE\n"
			      "[store]\n"
			      "conninfo = postgresql://u@localhost/tocsin?sslmode=disable\n"),
			 0);
	ck_assert_int_eq(cfg.log_level, TN_LOG_WARN);
	ck_assert_str_eq(cfg.name, "edge");
	ck_assert(cfg.insecure);
	ck_assert_str_eq(cfg.conninfo, "postgresql://u@localhost/tocsin?sslmode=disable");
}
END_TEST

START_TEST(booleans)
{
	static const char *const t[] = {"true", "yes", "1", "True", "YES"};
	static const char *const f[] = {"false", "no", "0", "False", "NO"};
	char text[128];

	for (size_t i = 0; i < 5; i++) {
		snprintf(text, sizeof text, "[ingest]\ninsecure = %s\n", t[i]);
		ck_assert_int_eq(load(text), 0);
		ck_assert(cfg.insecure);
		snprintf(text, sizeof text, "[ingest]\ninsecure = %s\n", f[i]);
		ck_assert_int_eq(load(text), 0);
		ck_assert(!cfg.insecure);
	}
}
END_TEST

START_TEST(size_suffixes)
{
	static const struct {
		const char *v;
		int64_t want;
	} ok[] = {
		{"1048576", 1048576}, {"1M", 1 << 20},    {"1m", 1 << 20},      {"1MiB", 1 << 20},
		{"2048k", 2 << 20},   {"2048K", 2 << 20}, {"2048KiB", 2 << 20}, {"1G", 1 << 30},
		{"1g", 1 << 30},      {"1GiB", 1 << 30},
	};
	static const char *const bad[] = {"",
					  "M",
					  "1.5M",
					  "1T",
					  "1MB",
					  "1 M",
					  "+1M",
					  "1Mi",
					  "0x100000",
					  "99999999999999999999",
					  "9999999999999G"};
	char text[128];

	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		snprintf(text, sizeof text, "[journal]\nsegment_bytes = %s\n", ok[i].v);
		ck_assert_msg(load(text) == 0, "%s: %s", ok[i].v, err);
		ck_assert_int_eq(cfg.segment_bytes, ok[i].want);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char want[256];
		snprintf(text, sizeof text, "[journal]\nsegment_bytes = %s\n", bad[i]);
		snprintf(want, sizeof want,
			 "2: journal.segment_bytes: expected a size between 1MiB and 1GiB "
			 "(suffixes k, M, G), got \"%s\"",
			 bad[i]);
		expect_error(text, want);
	}
}
END_TEST

#define KEYS_WARN                                                                          \
	"a duration between 0s and 366d: a whole number and a unit, s m h or d (90s, 30m, 24h, " \
	"7d; 0 for none)"

/* [keys] warn_before: a duration with its unit, 7 days by default. */
START_TEST(keys_warn_before)
{
	static const struct {
		const char *v;
		int64_t s;
	} ok[] = {{"0", 0}, {"90s", 90}, {"30m", 1800}, {"24h", 86400}, {"14d", 14 * 86400},
		  {"366d", 366 * 86400}};
	char text[128];

	ck_assert_int_eq(load("[server]\nname = x\n"), 0);
	ck_assert_int_eq(cfg.keys_warn_before_s, 7 * 86400);
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		snprintf(text, sizeof text, "[keys]\nwarn_before = %s\n", ok[i].v);
		ck_assert_msg(load(text) == 0, "%s: %s", ok[i].v, err);
		ck_assert_int_eq(cfg.keys_warn_before_s, ok[i].s);
	}
	ck_assert(tn_config_live("keys", "warn_before"));
}
END_TEST

/* Each bad value, at a known line, with the exact message. */
START_TEST(bad_values)
{
	static const struct {
		const char *section, *key, *value, *what;
	} t[] = {
		{"server", "log_level", "loud", "one of debug, info, warn, error"},
		{"server", "name", "", "1-63 characters of A-Z a-z 0-9 . _ -"},
		{"server", "name", "a b", "1-63 characters of A-Z a-z 0-9 . _ -"},
		{"server", "drain_s", "0", "an integer between 1 and 3600"},
		{"ingest", "endpoint", "127.0.0.1:7450",
		 "a ZeroMQ endpoint tcp://HOST:PORT, ipc://PATH or inproc://NAME of at most 511 "
		 "bytes"},
		{"ingest", "endpoint", "tcp://127.0.0.1",
		 "a ZeroMQ endpoint tcp://HOST:PORT, ipc://PATH or inproc://NAME of at most 511 "
		 "bytes"},
		{"ingest", "endpoint", "tcp://127.0.0.1:70000",
		 "a ZeroMQ endpoint tcp://HOST:PORT, ipc://PATH or inproc://NAME of at most 511 "
		 "bytes"},
		{"ingest", "endpoint", "ipc://",
		 "a ZeroMQ endpoint tcp://HOST:PORT, ipc://PATH or inproc://NAME of at most 511 "
		 "bytes"},
		{"ingest", "server_key", "", "a path of 1-511 bytes"},
		{"ingest", "insecure", "maybe", "true or false (or yes/no, 1/0)"},
		{"ingest", "max_frame_bytes", "2M",
		 "a size between 1KiB and 1MiB (suffixes k, M, G)"},
		{"ingest", "max_frame_bytes", "1048577",
		 "a size between 1KiB and 1MiB (suffixes k, M, G)"},
		{"ingest", "max_frame_bytes", "1023",
		 "a size between 1KiB and 1MiB (suffixes k, M, G)"},
		{"ingest", "handshake_ivl_ms", "0", "an integer between 100 and 60000"},
		{"ingest", "handshake_ivl_ms", "5s", "an integer between 100 and 60000"},
		{"ingest", "rcvhwm", "0", "an integer between 1 and 1000000"},
		{"ingest", "sndhwm", "-1", "an integer between 1 and 1000000"},
		{"ingest", "max_future_s", "86401", "an integer between 0 and 86400"},
		{"ingest", "horizon_s", "59", "an integer between 60 and 31622400"},
		{"ingest", "inflight_frames", "65537", "an integer between 1 and 65536"},
		{"ingest", "dedup_entries", "1000", "an integer between 1024 and 268435456"},
		{"ingest", "rate", "-1", "an integer between 0 and 1000000"},
		{"ingest", "rate", "1000001", "an integer between 0 and 1000000"},
		{"ingest", "rate", "fast", "an integer between 0 and 1000000"},
		{"ingest", "burst", "0", "an integer between 1 and 1000000"},
		{"ingest", "burst", "10k", "an integer between 1 and 1000000"},
		{"ingest", "inflight_per_key", "-1", "an integer between 0 and 65536"},
		{"ingest", "inflight_per_key", "65537", "an integer between 0 and 65536"},
		{"correlator", "tick_ms", "5", "an integer between 10 and 60000"},
		{"correlator", "max_depth", "0", "an integer between 1 and 64"},
		{"correlator", "nice", "20", "an integer between 0 and 19"},
		{"correlator", "nice", "-1", "an integer between 0 and 19"},
		{"store", "nice", "20", "an integer between 0 and 19"},
		{"alerts", "nice", "x", "an integer between 0 and 19"},
		{"journal", "dir", "", "a path of 1-511 bytes"},
		{"journal", "segment_bytes", "512k",
		 "a size between 1MiB and 1GiB (suffixes k, M, G)"},
		{"journal", "max_bytes", "1025G",
		 "a size between 2MiB and 1024GiB (suffixes k, M, G)"},
		{"journal", "retain_s", "1e6", "an integer between 60 and 316224000"},
		{"journal", "group_commit_us", "100001", "an integer between 0 and 100000"},
		{"store", "batch", "0", "an integer between 1 and 100000"},
		{"store", "retry_ms", "1.5", "an integer between 10 and 600000"},
		{"store", "linger_ms", "-1", "an integer between 0 and 10000"},
		{"store", "linger_ms", "10001", "an integer between 0 and 10000"},
		{"registry", "poll_ms", "", "an integer between 10 and 600000"},
		{"keys", "warn_before", "7", KEYS_WARN},
		{"keys", "warn_before", "7w", KEYS_WARN},
		{"keys", "warn_before", "-1d", KEYS_WARN},
		{"keys", "warn_before", "367d", KEYS_WARN},
		{"keys", "warn_before", "1d 2h", KEYS_WARN},
	};
	char text[512], want[512];

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		/* the bad key on line 4 + i % 3, after comments and a good key */
		snprintf(text, sizeof text, "# c\n[%s]\n%s%s = %s\n[server]\nname = x\n",
			 t[i].section, i % 3 == 0 ? "" : (i % 3 == 1 ? "; c\n" : "\n# c\n"),
			 t[i].key, t[i].value);
		snprintf(want, sizeof want, "%zu: %s.%s: expected %s, got \"%s\"", 3 + i % 3,
			 t[i].section, t[i].key, t[i].what, t[i].value);
		expect_error(text, want);
	}
}
END_TEST

START_TEST(bad_conninfo_not_echoed)
{
	expect_error("[store]\nconninfo = password=secret host\n",
		     "2: store.conninfo: expected a libpq connection string of at most 511 bytes, "
		     "got a string libpq cannot parse (not shown)");
	ck_assert_ptr_null(strstr(err, "secret"));
	/* a line too long for libinih is refused without being repeated */
	char text[300], v[200];
	memset(v, 'x', sizeof v - 1);
	v[sizeof v - 1] = '\0';
	snprintf(text, sizeof text, "[store]\nconninfo = %s\n", v);
	ck_assert_int_eq(load(text), TN_ECONFIG);
	ck_assert_ptr_null(strstr(err, "xxxx"));
	expect_error("[store]\nconninfo =\n",
		     "2: store.conninfo: expected a libpq connection string of at most 511 bytes, "
		     "got a string libpq cannot parse (not shown)");
}
END_TEST

START_TEST(long_values)
{
	char text[1024], v[160];

	memset(v, 'a', sizeof v - 1);
	v[sizeof v - 1] = '\0';
	snprintf(text, sizeof text, "[server]\nname = %s\n", v);
	expect_error(text, "2: server.name: expected 1-63 characters of A-Z a-z 0-9 . _ -, got "
			   "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			   "aaaaaaaaaaaa...\"");

	char line[300];
	memset(line, 'b', sizeof line - 1);
	line[sizeof line - 1] = '\0';
	snprintf(text, sizeof text, "[journal]\n\ndir = %s\n", line);
	expect_error(text, "3: expected a line of at most 197 characters, got 305");
}
END_TEST

START_TEST(unknown_section_and_key)
{
	expect_error("[server]\nname = a\n\n[ingets]\nendpoint = tcp://127.0.0.1:1\n",
		     "4: unknown section [ingets]; expected one of [server], [ingest], [journal], "
		     "[store], [correlator], [registry], [alerts], [drills], [metrics], [keys]");
	/* an empty unknown section is still an error */
	expect_error("[server]\n[extra]\n",
		     "2: unknown section [extra]; expected one of [server], [ingest], [journal], "
		     "[store], [correlator], [registry], [alerts], [drills], [metrics], [keys]");
	expect_error("[store]\nbatch = 10\nretry = 5\n",
		     "3: store.retry: unknown key; expected one of conninfo, batch, retry_ms, linger_ms, nice");
	expect_error("[server]\nendpoint = tcp://127.0.0.1:1\n",
		     "2: server.endpoint: unknown key; expected one of log_level, name, drain_s");
	expect_error("\nlog_level = info\n[server]\n",
		     "2: log_level: expected a [section] before the first key");
}
END_TEST

START_TEST(syntax_errors)
{
	expect_error(
		"[server]\nlog_level info\n",
		"2: expected \"key = value\", \"[section]\" or a comment, got \"log_level info\"");
	expect_error("[server\nname = x\n", "1: expected \"[section]\", got \"[server\"");
	expect_error("[server]\nname = a\n\nname = b\n",
		     "4: server.name: set twice (first at line 2)");
	/* an indented line is a key of its own, not a continuation */
	expect_error("[server]\nname = a\n    name = b\n",
		     "3: server.name: set twice (first at line 2)");
}
END_TEST

START_TEST(cross_checks)
{
	expect_error("[ingest]\nendpoint = tcp://0.0.0.0:7450\ninsecure = yes\n",
		     "3: ingest.insecure: expected false unless ingest.endpoint is loopback "
		     "(tcp://127.x.x.x, tcp://[::1], tcp://localhost, ipc://), got \"yes\" with "
		     "endpoint \"tcp://0.0.0.0:7450\"");
	ck_assert_int_eq(load("[ingest]\nendpoint = tcp://0.0.0.0:7450\ninsecure = false\n"), 0);
	ck_assert_int_eq(load("[ingest]\nendpoint = ipc:///run/t.sock\ninsecure = true\n"), 0);
	ck_assert_int_eq(load("[ingest]\ninsecure = true\n"), 0);
	/* the consoles' endpoints are plain text too: loopback as well, unless alerts are off */
	expect_error("[ingest]\ninsecure = yes\n[alerts]\ncontrol_endpoint = tcp://10.0.0.1:7452\n",
		     "2: ingest.insecure: expected false unless alerts.control_endpoint is loopback "
		     "too, got \"yes\" with endpoint \"tcp://10.0.0.1:7452\"");
	ck_assert_int_eq(load("[ingest]\ninsecure = yes\n[alerts]\nenabled = false\n"
			      "endpoint = tcp://10.0.0.1:7451\n"),
			 0);
	/* the lower clearances' streams: the same rule; empty is off, not an error */
	expect_error("[ingest]\ninsecure = yes\n[alerts]\nendpoint_public = tcp://10.0.0.1:7454\n",
		     "2: ingest.insecure: expected false unless alerts.endpoint_public is loopback "
		     "too, got \"yes\" with endpoint \"tcp://10.0.0.1:7454\"");
	ck_assert_int_eq(load("[ingest]\ninsecure = yes\n[alerts]\nendpoint_official =\n"
			      "endpoint_public =\n"),
			 0);
	ck_assert_str_eq(cfg.alerts_endpoint_official, "");
	ck_assert_str_eq(cfg.alerts_endpoint_public, "");
	ck_assert_int_eq(load("[server]\n"), 0);
	ck_assert_str_eq(cfg.alerts_endpoint_official, "tcp://127.0.0.1:7453");
	ck_assert_str_eq(cfg.alerts_endpoint_public, "tcp://127.0.0.1:7454");
	expect_error("[alerts]\nendpoint_official = 7453\n",
		     "2: alerts.endpoint_official: expected a ZeroMQ endpoint tcp://HOST:PORT, "
		     "ipc://PATH or inproc://NAME of at most 511 bytes (empty: off), got \"7453\"");
	expect_error("[alerts]\nendpoint =\n",
		     "2: alerts.endpoint: expected a ZeroMQ endpoint tcp://HOST:PORT, "
		     "ipc://PATH or inproc://NAME of at most 511 bytes, got \"\"");
	/* escalation deadlines: 0 (never) to a day */
	expect_error("[alerts]\nescalate_p1_s = -1\n",
		     "2: alerts.escalate_p1_s: expected an integer between 0 and 86400, got \"-1\"");
	/* the CAP outbox: a sender receivers can name (no spaces, commas, < or &) */
	expect_error("[alerts]\ncap_sender = tocsin at example\n",
		     "2: alerts.cap_sender: expected a CAP sender: 1-255 printable ASCII characters "
		     "without spaces, commas, < or & (empty: tocsin@HOSTNAME), got \"tocsin at "
		     "example\"");
	ck_assert_int_eq(load("[alerts]\ncap_outbox = outbox\ncap_sender = tocsin@a.example\n"), 0);
	ck_assert_str_eq(cfg.cap_sender, "tocsin@a.example");

	/* retain_s < horizon_s: blamed on the key that was written */
	expect_error(
		"[journal]\nretain_s = 3600\n",
		"2: journal.retain_s: expected at least ingest.horizon_s (604800), got \"3600\"");
	expect_error(
		"[ingest]\nhorizon_s = 700000\n",
		"2: ingest.horizon_s: expected at most journal.retain_s (691200), got \"700000\"");
	expect_error(
		"[ingest]\nhorizon_s = 700000\n[journal]\nretain_s = 650000\n",
		"4: journal.retain_s: expected at least ingest.horizon_s (700000), got \"650000\"");
	ck_assert_int_eq(load("[ingest]\nhorizon_s = 3600\n[journal]\nretain_s = 3600\n"), 0);

	expect_error(
		"[journal]\nmax_bytes = 100M\n",
		"2: journal.max_bytes: expected at least twice journal.segment_bytes (128MiB), "
		"got \"100M\"");
	expect_error("[journal]\nsegment_bytes = 1G\nmax_bytes = 1G\n",
		     "3: journal.max_bytes: expected at least twice journal.segment_bytes (2GiB), "
		     "got \"1G\"");
	ck_assert_int_eq(load("[journal]\nsegment_bytes = 1M\nmax_bytes = 2M\n"), 0);
}
END_TEST

START_TEST(metrics_listen)
{
	char host[64];
	int port;

	/* off by default */
	tn_config_defaults(&cfg);
	ck_assert_str_eq(cfg.metrics_listen, "");
	ck_assert(!cfg.metrics_allow_remote);
	ck_assert_int_eq(cfg.metrics_connections, 16);
	ck_assert_int_eq(cfg.metrics_timeout_s, 10);

	ck_assert_int_eq(load("[metrics]\nlisten = 127.0.0.1:9464\nmax_connections = 4\n"
			      "timeout_s = 3\n"),
			 0);
	ck_assert_str_eq(cfg.metrics_listen, "127.0.0.1:9464");
	ck_assert_int_eq(cfg.metrics_connections, 4);
	ck_assert_int_eq(cfg.metrics_timeout_s, 3);
	ck_assert_int_eq(load("[metrics]\nlisten = [::1]:9464\n"), 0);
	ck_assert_int_eq(load("[metrics]\nlisten =\n"), 0);
	ck_assert_str_eq(cfg.metrics_listen, "");

	const char *want = "expected an address and port, IPV4:PORT or [IPV6]:PORT (numeric, port "
			   "1-65535), or empty (off), got ";
	const char *bad[] = {"localhost:9464", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536",
			     "::1:9464", "[::1]", "127.0.0.1:-5", "[127.0.0.1]:80", ":9464"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char text[128], msg[256];
		snprintf(text, sizeof text, "[metrics]\nlisten = %s\n", bad[i]);
		snprintf(msg, sizeof msg, "2: metrics.listen: %s\"%s\"", want, bad[i]);
		expect_error(text, msg);
	}
	expect_error("[metrics]\nmax_connections = 0\n",
		     "2: metrics.max_connections: expected an integer between 1 and 1024, got \"0\"");

	/* no authentication: loopback unless allowed explicitly */
	expect_error("[metrics]\nlisten = 0.0.0.0:9464\n",
		     "2: metrics.listen: expected a loopback address (127.x.x.x, [::1]) unless "
		     "metrics.allow_remote = true (the endpoint has no authentication), got "
		     "\"0.0.0.0:9464\"");
	expect_error("[metrics]\nlisten = [::]:9464\n",
		     "2: metrics.listen: expected a loopback address (127.x.x.x, [::1]) unless "
		     "metrics.allow_remote = true (the endpoint has no authentication), got "
		     "\"[::]:9464\"");
	ck_assert_int_eq(load("[metrics]\nlisten = 10.1.2.3:9464\nallow_remote = true\n"), 0);

	ck_assert_int_eq(tn_config_parse_listen("[::1]:80", host, sizeof host, &port), 0);
	ck_assert_str_eq(host, "::1");
	ck_assert_int_eq(port, 80);
	ck_assert_int_eq(tn_config_parse_listen("127.0.0.2:65535", host, sizeof host, &port), 0);
	ck_assert_str_eq(host, "127.0.0.2");
	ck_assert_int_eq(port, 65535);
	ck_assert_int_eq(tn_config_parse_listen("127.0.0.1:80", host, 4, &port), TN_EINVAL);
}
END_TEST

START_TEST(failure_leaves_config_untouched)
{
	write_ini("[server]\nname = changed\nlog_level = nope\n");
	tn_config_defaults(&cfg);
	snprintf(cfg.name, sizeof cfg.name, "mine");
	ck_assert_int_eq(tn_config_load(ini, &cfg, err, sizeof err), TN_ECONFIG);
	ck_assert_str_eq(cfg.name, "mine");
}
END_TEST

START_TEST(cannot_open)
{
	char path[PATH_MAX + 16], want[PATH_MAX + 64];

	snprintf(path, sizeof path, "%s/missing.ini", dir);
	ck_assert_int_eq(tn_config_load(path, &cfg, err, sizeof err), TN_EIO);
	snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
	ck_assert_str_eq(err, want);

	/* a directory opens but cannot be read */
	ck_assert_int_eq(tn_config_load(dir, &cfg, err, sizeof err), TN_EIO);
	snprintf(want, sizeof want, "%s: cannot read: Is a directory", dir);
	ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(relative_paths)
{
	char want[PATH_MAX + 64];

	ck_assert_int_eq(load("[ingest]\nserver_key = keys/s.key\n"
			      "[journal]\ndir = /abs/journal\n"
			      "[registry]\ncache = ../cache/reg\n"),
			 0);
	snprintf(want, sizeof want, "%s/keys/s.key", dir);
	ck_assert_str_eq(cfg.server_key, want);
	ck_assert_str_eq(cfg.journal_dir, "/abs/journal");
	snprintf(want, sizeof want, "%s/../cache/reg", dir);
	ck_assert_str_eq(cfg.registry_cache, want);

	/* defaults are relative to the config file too; an empty cache stays empty */
	ck_assert_int_eq(load("[server]\n"), 0);
	snprintf(want, sizeof want, "%s/var/journal", dir);
	ck_assert_str_eq(cfg.journal_dir, want);
	snprintf(want, sizeof want, "%s/server.key", dir);
	ck_assert_str_eq(cfg.server_key, want);
	ck_assert_str_eq(cfg.registry_cache, "");

	/* a config file in the working directory: paths unchanged */
	char cwd[PATH_MAX];
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
	ck_assert_int_eq(chdir(dir), 0);
	ck_assert_int_eq(tn_config_load("t.ini", &cfg, err, sizeof err), 0);
	ck_assert_int_eq(chdir(cwd), 0);
	ck_assert_str_eq(cfg.journal_dir, "var/journal");
	ck_assert_str_eq(cfg.server_key, "server.key");
}
END_TEST

/* etc/tocsin.ini, with every ";key = value" uncommented, gives the defaults. */
START_TEST(sample_is_true)
{
	const char *src =
		getenv("TOCSIN_SAMPLE_INI") ? getenv("TOCSIN_SAMPLE_INI") : "etc/tocsin.ini";
	FILE *in = fopen(src, "r"), *out;
	char line[512];
	int keys = 0;
	struct tn_config want;

	if (!in) {
		/* run from elsewhere than the top of the tree */
		ck_assert_msg(0, "cannot open %s (run from the top of the tree)", src);
		return;
	}
	out = fopen(ini, "w");
	ck_assert_ptr_nonnull(out);
	while (fgets(line, sizeof line, in)) {
		if (line[0] == ';' && line[1] != ' ') {
			fputs(line + 1, out);
			keys++;
		} else
			fputs(line, out);
	}
	fclose(in);
	ck_assert_int_eq(fclose(out), 0);
	ck_assert_int_eq(keys, 59);
	ck_assert_msg(tn_config_load(ini, &cfg, err, sizeof err) == 0, "%s", err);
	defaults_in(&want, dir);
	assert_config_eq(&cfg, &want);
}
END_TEST

/* A reload's view: what differs, as text, and whether it may change live. */
START_TEST(diff_for_reload)
{
	struct tn_config a, b;
	struct tn_config_change ch[8];

	tn_config_defaults(&a);
	b = a;
	ck_assert_uint_eq(tn_config_diff(&a, &b, ch, 8), 0);
	/* a longer value left behind after the NUL is not a difference */
	snprintf(b.name, sizeof b.name, "a-much-longer-name");
	snprintf(b.name, sizeof b.name, "tocsind");
	ck_assert_uint_eq(tn_config_diff(&a, &b, ch, 8), 0);

	ck_assert_int_eq(load("[server]\nlog_level = debug\ndrain_s = 3\n"
			      "[ingest]\nrate = 7\nendpoint = tcp://127.0.0.1:9999\n"
			      "[store]\nconninfo = dbname=secret password=hunter2\n"
			      "[alerts]\nescalate_p2_s = 5\n"),
			 0);
	b = cfg;
	memcpy(b.server_key, a.server_key, sizeof a.server_key); /* made relative to dir */
	memcpy(b.journal_dir, a.journal_dir, sizeof a.journal_dir);
	ck_assert_uint_eq(tn_config_diff(&a, &b, ch, 8), 6);
	/* in the order of the key table */
	const char *const want[][4] = {
		{"server.log_level", "info", "debug", "live"},
		{"server.drain_s", "10", "3", "live"},
		{"ingest.endpoint", "tcp://127.0.0.1:7450", "tcp://127.0.0.1:9999", "restart"},
		{"ingest.rate", "5000", "7", "live"},
		{"store.conninfo", "(not shown)", "(not shown)", "restart"},
		{"alerts.escalate_p2_s", "300", "5", "live"},
	};
	for (size_t i = 0; i < 6; i++) {
		char key[64];
		snprintf(key, sizeof key, "%s.%s", ch[i].section, ch[i].name);
		ck_assert_str_eq(key, want[i][0]);
		ck_assert_str_eq(ch[i].was, want[i][1]);
		ck_assert_str_eq(ch[i].now, want[i][2]);
		ck_assert_int_eq(ch[i].live, strcmp(want[i][3], "live") == 0);
	}
	/* at most `max` filled, the count still whole */
	memset(ch, 0, sizeof ch);
	ck_assert_uint_eq(tn_config_diff(&a, &b, ch, 2), 6);
	ck_assert_str_eq(ch[1].name, "drain_s");
	ck_assert_ptr_null(ch[2].name);

	ck_assert(tn_config_live("ingest", "burst"));
	ck_assert(tn_config_live("registry", "poll_ms"));
	ck_assert(!tn_config_live("ingest", "endpoint"));
	ck_assert(!tn_config_live("journal", "dir"));
	ck_assert(!tn_config_live("correlator", "slack_s"));
	ck_assert(!tn_config_live("ingest", "rat"));
	ck_assert(!tn_config_live("ingestx", "rate"));
}
END_TEST

START_TEST(loopback)
{
	static const char *const yes[] = {
		"tcp://127.0.0.1:1",          "tcp://127.1.2.3:7450", "tcp://[::1]:1",
		"tcp://localhost:1",          "tcp://LOCALHOST:1",    "ipc://x",
		"ipc:///run/t.sock",          "inproc://t",           "tcp://127.0.0.1:*",
		"tcp://[::ffff:127.0.0.1]:1",
	};
	static const char *const no[] = {
		"tcp://0.0.0.0:1",
		"tcp://10.0.0.1:1",
		"tcp://*:1",
		"tcp://[::]:1",
		"tcp://eth0:1",
		"tcp://127.0.0.1",
		"tcp://:1",
		"tcp://localhost.evil:1",
		"tcp://128.0.0.1:1",
		"ipc://",
		"udp://127.0.0.1:1",
		"tcp://127.0.0.1;10.0.0.1:1",
		"tcp://[::1:1",
		"tcp://10.0.0.1;127.0.0.1:1",
		"",
		"tcp://[::2]:1",
	};

	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
		ck_assert_msg(tn_config_is_loopback(yes[i]), "%s", yes[i]);
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		ck_assert_msg(!tn_config_is_loopback(no[i]), "%s", no[i]);
	ck_assert(!tn_config_is_loopback(NULL));
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("load");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, empty_file_gives_defaults);
	tcase_add_test(tc, every_key_parsed);
	tcase_add_test(tc, syntax_details);
	tcase_add_test(tc, booleans);
	tcase_add_test(tc, size_suffixes);
	tcase_add_test(tc, bad_values);
	tcase_add_test(tc, keys_warn_before);
	tcase_add_test(tc, bad_conninfo_not_echoed);
	tcase_add_test(tc, long_values);
	tcase_add_test(tc, unknown_section_and_key);
	tcase_add_test(tc, syntax_errors);
	tcase_add_test(tc, cross_checks);
	tcase_add_test(tc, metrics_listen);
	tcase_add_test(tc, failure_leaves_config_untouched);
	tcase_add_test(tc, cannot_open);
	tcase_add_test(tc, relative_paths);
	tcase_add_test(tc, sample_is_true);
	tcase_add_test(tc, loopback);
	tcase_add_test(tc, diff_for_reload);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
