/*
 * cmd_replay.c - `tocsin replay`: run a scenario or a recording through the
 * correlation engine (design §6, docs/drills.md).
 *
 *   tocsin replay [--offline] FILE [--assets A.csv --deps D.csv | --db CONNINFO]
 *                 [--json] [--drill NAME] [--start RFC3339] [--speed N | --asap]
 *                 [--inject FILE] [--without ITEM,...]
 *
 * FILE is a scenario CSV (scenario.h) or a recording, events as JSON lines
 * (recording.h, written by `tocsin record`). The engine runs in-process
 * over a registry read from the two CSV files (design §2) or, without them,
 * from PostgreSQL (--db, else the global --db, $TOCSIN_DB or the config);
 * no server. Events are given in the file's order, which is their order of
 * arrival: the engine's watermark (lateness) puts them back in event-time
 * order, exactly as the server's does with live traffic, so the same file
 * gives the same bytes every time. At the end the engine is finished at
 * the latest event time.
 *
 * --asap (the default) runs as fast as it can. --speed N paces the events
 * at N times real time: an event waits until (its time - the first event's
 * time) / N has passed on the monotonic clock, and while it waits the engine
 * gets clock ticks in event time (never past the event about to be given),
 * so that forecasts and heartbeat deadlines fall due as they would live.
 * Ticks never change the output (correlator.h): any speed gives the bytes
 * --asap gives.
 *
 * What-if: --inject FILE merges more events (a scenario or a recording; a
 * scenario's ids are "I<line>") in by event time; --without removes assets
 * or dependencies from the registry first (drill_registry.h).
 *
 * Output: with --json one line per incident revision, the canonical JSON of
 * tn_change_json with a gapless seq from 1 (design §3.2); without, one short
 * line per revision for a human. A summary goes to stderr; a progress line
 * too (event time, events/s, incidents so far) when stderr is a terminal.
 *
 * The engine runs with its defaults, or with the [correlator] settings
 * (lateness_s, max_depth, slack_s, heartbeat_timeout_s) of the file given
 * with the global --config: a journal recorded with its ticks then replays
 * exactly as the server ran it. --heartbeat-timeout S sets the allowance
 * for a silent source over both (default 180 s; scenarios that heartbeat
 * every 300 s want 600).
 *
 * --drill NAME names the stream (default "offline"): a replay is an
 * exercise, so its incidents say status "exercise". --start sets the time
 * t_offset_s counts from (default 2026-01-01T00:00:00Z, scenario.h).
 * --server CONTROL --drill NAME runs it on a running tocsind instead, as a
 * planner (--key, --server-key): the server's registry and engine settings,
 * its incidents stored under NAME and its alerts on drill/NAME/...
 * (replay_server.h, docs/drills.md).
 *
 * Exit status: 0 done, 1 a file was bad (every bad row is reported first,
 * and nothing is run) or the engine failed, 2 usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "assets_pg.h"
#include "cli.h"
#include "config.h"
#include "drill_registry.h"
#include "recording.h"
#include "replay_server.h"
#include "scenario.h"
#include "sim.h"
#include "sim_opt.h"
#include "tocsin/adapter.h"
#include "tocsin/correlator.h"
#include "tocsin/error.h"

#define MAX_REPORTED_ROWS 100

#define PROGRESS_NS INT64_C(200000000) /* between two progress lines */
#define TICK_NS INT64_C(100000000)     /* between two engine ticks while pacing */

static const char usage_text[] =
	"usage: tocsin replay [--offline] FILE [--assets A.csv --deps D.csv | --db CONNINFO]\n"
	"                     [--json] [--drill NAME] [--start RFC3339] [--speed N | --asap]\n"
	"                     [--inject FILE] [--without ASSET|PROVIDER>DEPENDENT[/KIND],...]\n"
	"                     [--heartbeat-timeout S]\n"
	"       tocsin replay FILE --server CONTROL --drill NAME --key PLANNER.key\n"
	"                     --server-key SERVER.pub [--json] [--start RFC3339]\n"
	"                     [--speed N | --asap] [--inject FILE]\n";

struct run_opts {
	const char *assets, *deps, *conninfo, *path, *inject, *without, *drill;
	const char *config; /* the global --config: the engine takes its [correlator] settings */
	int64_t base_us;
	double speed; /* 0: as fast as possible */
	int heartbeat_s; /* the engine's heartbeat_timeout_s; -1: its default */
	bool json;
};

struct replay {
	bool json;
	uint64_t seq;
	char *buf;
	size_t cap;
	uint64_t changes;
};

/* One short line for a human: what changed, how urgent, where, how big. */
static void human(const struct tn_change *ch, const char *body)
{
	json_t *o = json_loads(body, 0, NULL);
	json_t *root = json_object_get(o, "root");

	printf("%s rev %" PRIu32 " %-8s P%d %-10s area %s root %s affected %zu at_risk %zu: %s\n",
	       ch->incident, ch->rev, tn_change_msg_name(ch->msg), ch->priority,
	       tn_cause_name(ch->cause), *ch->area ? ch->area : "-",
	       json_string_value(json_object_get(root, "asset"))
		       ? json_string_value(json_object_get(root, "asset"))
		       : "-",
	       json_array_size(json_object_get(o, "affected")),
	       json_array_size(json_object_get(o, "at_risk")),
	       json_string_value(json_object_get(o, "title"))
		       ? json_string_value(json_object_get(o, "title"))
		       : "");
	if (ch->merged_into)
		printf("%s merged into %s\n", ch->incident, ch->merged_into);
	json_decref(o);
}

static int drain(struct tn_corr *c, struct replay *r)
{
	const struct tn_change *ch;
	size_t n = tn_corr_changes(c, &ch);

	for (size_t i = 0; i < n; i++) {
		size_t len;
		int rc;

		r->seq++;
		while ((rc = tn_change_json(&ch[i], r->seq, r->buf, r->cap, &len)) == TN_ERANGE) {
			size_t cap = len + 1 > r->cap * 2 ? len + 1 : r->cap * 2;
			char *b = realloc(r->buf, cap);
			if (!b)
				return TN_ENOMEM;
			r->buf = b;
			r->cap = cap;
		}
		if (rc != 0)
			return rc;
		if (r->json) {
			r->buf[len] = '\n';
			if (fwrite(r->buf, 1, len + 1, stdout) != len + 1)
				return TN_EIO;
		} else {
			human(&ch[i], r->buf);
		}
		r->changes++;
	}
	return 0;
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until_ns(int64_t t)
{
	struct timespec ts = {.tv_sec = t / 1000000000, .tv_nsec = t % 1000000000};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* The pacing and the progress line of a run. */
struct clockwork {
	bool tty;
	double speed;
	int64_t start_ns, first_us, last_progress_ns;
};

static void progress(struct clockwork *k, const struct tn_corr *c, int64_t event_us, size_t done,
		     size_t total, bool force)
{
	struct tn_corr_stats st;
	int64_t now = mono_ns();
	double secs = (double)(now - k->start_ns) / 1e9;
	char t[40];

	if (!k->tty || (!force && now - k->last_progress_ns < PROGRESS_NS))
		return;
	k->last_progress_ns = now;
	tn_corr_stats(c, &st);
	if (tn__recording_time(event_us, t, sizeof t) != 0)
		snprintf(t, sizeof t, "-");
	t[19] = '\0'; /* to the second */
	fprintf(stderr, "\r\033[Ktocsin: replay: %s  %zu/%zu events  %.0f events/s  %" PRIu64
		" incidents",
		t, done, total, secs > 0 ? (double)done / secs : 0.0, st.incidents);
}

/* Wait, ticking the engine, until event time `until_us` is due at this speed. */
static int pace(struct clockwork *k, struct tn_corr *c, struct replay *r, int64_t until_us,
		int64_t ticked_us, size_t done, size_t total)
{
	int64_t due = k->start_ns + (int64_t)((double)(until_us - k->first_us) * 1000.0 / k->speed);
	int rc;

	for (int64_t now = mono_ns(); now < due; now = mono_ns()) {
		int64_t step = due - now < TICK_NS ? due - now : TICK_NS;
		int64_t sim_us;

		sleep_until_ns(now + step);
		sim_us = k->first_us +
			 (int64_t)((double)(mono_ns() - k->start_ns) * k->speed / 1000.0);
		if (sim_us > until_us)
			sim_us = until_us;
		if (sim_us > ticked_us) {
			tn_corr_advance(c, sim_us);
			if ((rc = drain(c, r)) != 0)
				return rc;
		}
		progress(k, c, sim_us, done, total, false);
	}
	return 0;
}

static int load_registry(const struct run_opts *o, struct tn_graph **g)
{
	struct tn_graph *base = NULL;
	size_t ra = 0, re = 0;
	char err[512];
	int rc;

	if (o->assets) {
		rc = tn__sim_load_graph(o->assets, o->deps, stderr, &base);
	} else if ((rc = tn_assets_load_pg(o->conninfo, &base, NULL, err, sizeof err)) != 0) {
		fprintf(stderr, "tocsin: replay: registry from PostgreSQL: %s\n", err);
	} else if (tn_graph_size(base) == 0) {
		fprintf(stderr, "tocsin: replay: the registry in PostgreSQL is empty (tocsin assets "
				"import, or give --assets and --deps)\n");
		rc = TN_ENOTFOUND;
	}
	if (rc != 0 || !o->without) {
		*g = rc ? NULL : base;
		if (rc)
			tn_graph_free(base);
		return rc;
	}
	rc = tn__registry_without(base, o->without, stderr, g, &ra, &re);
	tn_graph_free(base);
	if (rc == 0)
		fprintf(stderr, "tocsin: replay: without %zu asset%s and %zu dependenc%s\n", ra,
			ra == 1 ? "" : "s", re, re == 1 ? "y" : "ies");
	return rc;
}

/* The input: the file, with the injected events merged in. */
static int load_input(const struct run_opts *o, struct tn__scenario **sc)
{
	struct tn__scenario *base = NULL, *inj = NULL;
	int rc;

	rc = tn__drill_input_read(o->path, o->base_us, 'L', stderr, MAX_REPORTED_ROWS, &base);
	if (rc != 0) {
		fprintf(stderr, "tocsin: replay: %s: %s; nothing run\n", o->path,
			rc == TN_EINVAL ? "bad rows" : tn_strerror(rc));
		return rc;
	}
	if (!o->inject) {
		*sc = base;
		return 0;
	}
	rc = tn__drill_input_read(o->inject, o->base_us, 'I', stderr, MAX_REPORTED_ROWS, &inj);
	if (rc != 0)
		fprintf(stderr, "tocsin: replay: %s: %s; nothing run\n", o->inject,
			rc == TN_EINVAL ? "bad rows" : tn_strerror(rc));
	else
		rc = tn__scenario_merge(base, inj, sc);
	tn__scenario_free(base);
	tn__scenario_free(inj);
	return rc;
}

/* The engine's settings: the defaults, the [correlator] section of the
 * configuration file when one was given (so that a journal replays exactly as
 * the server ran it), then --heartbeat-timeout. */
static int engine_config(const struct run_opts *o, struct tn_corr_config *cfg)
{
	struct tn_config *tc;
	char err[512];

	tn_corr_config_defaults(cfg);
	if (o->config) {
		if (!(tc = malloc(sizeof *tc)))
			return TN_ENOMEM;
		if (tn_config_load(o->config, tc, err, sizeof err) != 0) {
			fprintf(stderr, "tocsin: replay: %s\n", err);
			free(tc);
			return TN_ECONFIG;
		}
		cfg->lateness_s = tc->lateness_s;
		cfg->max_depth = tc->max_depth;
		cfg->slack_s = tc->slack_s;
		cfg->heartbeat_timeout_s = tc->heartbeat_timeout_s;
		free(tc);
	}
	if (o->heartbeat_s >= 0)
		cfg->heartbeat_timeout_s = o->heartbeat_s;
	return 0;
}

static int offline(const struct run_opts *o)
{
	struct tn__scenario *sc = NULL;
	struct tn_graph *g = NULL;
	struct tn_corr *c = NULL;
	struct tn_corr_config cfg;
	struct tn_corr_stats st;
	struct replay r = {.json = o->json};
	struct clockwork k = {.tty = isatty(2), .speed = o->speed};
	int64_t ticked_us = INT64_MIN;
	int rc;

	if (load_input(o, &sc) != 0)
		return 1;
	if ((rc = load_registry(o, &g)) != 0) {
		fprintf(stderr, "tocsin: replay: registry not loaded: %s; nothing run\n",
			tn_strerror(rc));
		tn__scenario_free(sc);
		return 1;
	}
	if ((rc = engine_config(o, &cfg)) != 0 || (rc = tn_corr_new(&cfg, g, o->drill, &c)) != 0) {
		fprintf(stderr, "tocsin: replay: engine: %s\n", tn_strerror(rc));
		goto out;
	}
	r.cap = 64 * 1024;
	if (!(r.buf = malloc(r.cap))) {
		rc = TN_ENOMEM;
		goto out;
	}
	/* Full buffering: one write per 64 KiB, not per line, for big scenarios;
	 * line by line when paced, so that a watcher sees each revision come. */
	if (o->speed > 0)
		setvbuf(stdout, NULL, _IOLBF, 0);
	else
		setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	k.start_ns = mono_ns();
	k.first_us = sc->n ? sc->ev[0].time_us : 0;
	for (size_t i = 0; i < sc->n; i++) {
		const struct tn_event *ev = &sc->ev[i];

		if (o->speed > 0 && ev->time_us > ticked_us) {
			/* ticks up to this event's time only: never past an event to come */
			if ((rc = pace(&k, c, &r, ev->time_us, ticked_us, i, sc->n)) != 0)
				goto out;
			ticked_us = ev->time_us;
		}
		if (ev->type == TN__EV_TICK)
			tn_corr_advance(c, ev->time_us);
		else if ((rc = tn_corr_event(c, ev)) != 0) {
			fprintf(stderr,
				"%stocsin: replay: %s:%" PRIu32 ": refused by the engine: %s\n",
				k.tty ? "\r\033[K" : "", o->path, sc->line[i], tn_strerror(rc));
			rc = 0; /* counted by the engine; the rest still runs */
		}
		if ((rc = drain(c, &r)) != 0)
			goto out;
		progress(&k, c, ev->time_us, i + 1, sc->n, i + 1 == sc->n);
	}
	tn_corr_finish(c, sc->max_us);
	if ((rc = drain(c, &r)) != 0)
		goto out;
	if (fflush(stdout) != 0)
		rc = TN_EIO;
	tn_corr_stats(c, &st);
	fprintf(stderr,
		"%stocsin: replay: %zu events (%" PRIu64 " late, %" PRIu64 " invalid), %" PRIu64
		" incidents, %" PRIu64 " merges, %" PRIu64 " inferred, %" PRIu64
		" co-located, %" PRIu64 " revisions\n",
		k.tty ? "\r\033[K" : "", sc->n, st.late, st.invalid, st.incidents, st.merges,
		st.inferred, st.colocated, r.changes);
out:
	if (rc != 0)
		fprintf(stderr, "tocsin: replay: %s\n", tn_strerror(rc));
	free(r.buf);
	tn_corr_free(c);
	tn_graph_free(g);
	tn__scenario_free(sc);
	return rc ? 1 : 0;
}

/* --server: the drill on a running tocsind (replay_server.c). */
static int on_server(const struct run_opts *o, const char *server, const char *key,
		     const char *server_key, bool insecure)
{
	struct tn__scenario *sc = NULL;
	if (load_input(o, &sc) != 0)
		return 1;
	struct tn__replay_server_opts so = {.server = server, .drill = o->drill, .key = key,
					    .server_key = server_key, .insecure = insecure,
					    .speed = o->speed, .json = o->json};
	if (o->speed > 0)
		setvbuf(stdout, NULL, _IOLBF, 0);
	int rc = tn__replay_server(&so, sc);
	tn__scenario_free(sc);
	if (rc == 0 && fflush(stdout) != 0)
		rc = TN_EIO;
	return rc ? 1 : 0;
}

/* Whether option `name` of the table was given. */
static bool given(const struct tn__opt *opts, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(opts[i].name, name) == 0)
			return opts[i].seen;
	return false;
}

int tn__cmd_replay(int argc, char **argv, const struct tn_cli *cli)
{
	struct run_opts o = {.drill = "offline", .base_us = TN_SCENARIO_EPOCH_US,
			     .heartbeat_s = -1};
	const char *start = NULL, *server = NULL, *key = NULL, *server_key = NULL, *pos[1];
	bool is_offline = false, help = false, asap = false, insecure = false;
	struct tn__opt opts[] = {
		{"offline", TN_OPT_FLAG, &is_offline, false},
		{"assets", TN_OPT_STR, &o.assets, false},
		{"deps", TN_OPT_STR, &o.deps, false},
		{"db", TN_OPT_STR, &o.conninfo, false},
		{"json", TN_OPT_FLAG, &o.json, false},
		{"drill", TN_OPT_STR, &o.drill, false},
		{"start", TN_OPT_STR, &start, false},
		{"speed", TN_OPT_DOUBLE, &o.speed, false},
		{"asap", TN_OPT_FLAG, &asap, false},
		{"inject", TN_OPT_STR, &o.inject, false},
		{"without", TN_OPT_STR, &o.without, false},
		{"server", TN_OPT_STR, &server, false},
		{"key", TN_OPT_STR, &key, false},
		{"server-key", TN_OPT_STR, &server_key, false},
		{"insecure", TN_OPT_FLAG, &insecure, false},
		{"heartbeat-timeout", TN_OPT_INT, &o.heartbeat_s, false},
		{"help", TN_OPT_FLAG, &help, false},
	};
	size_t n_opts = sizeof opts / sizeof opts[0];
	int n_pos;

	if (tn__opt_parse("replay", argc, argv, opts, (int)n_opts, pos, 1, &n_pos))
		return 2;
	if (help) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (server && (is_offline || o.assets || o.deps || o.conninfo || o.without ||
		       given(opts, n_opts, "heartbeat-timeout"))) {
		fprintf(stderr, "tocsin: replay: --server runs the drill on the server's registry "
				"and settings: not with --offline, --assets, --deps, --db, --without "
				"or --heartbeat-timeout\n");
		return 2;
	}
	if (server && (!given(opts, n_opts, "drill") || (!insecure && (!key || !server_key)))) {
		fprintf(stderr, "tocsin: replay: --server needs --drill NAME, and --key PLANNER.key "
				"--server-key SERVER.pub (or --insecure)\n");
		return 2;
	}
	if (!server && (key || server_key || insecure)) {
		fprintf(stderr, "tocsin: replay: --key, --server-key and --insecure go with "
				"--server\n");
		return 2;
	}
	if (n_pos != 1 || !o.assets != !o.deps || (o.assets && o.conninfo)) {
		fprintf(stderr, "tocsin: replay: expected FILE, and --assets with --deps or the "
				"registry from PostgreSQL (--db)\n%s",
			usage_text);
		return 2;
	}
	o.path = pos[0];
	o.config = cli->config;
	if (!o.conninfo)
		o.conninfo = cli->conninfo;
	if (given(opts, n_opts, "speed") && asap) {
		fprintf(stderr, "tocsin: replay: expected --speed or --asap, not both\n");
		return 2;
	}
	if (given(opts, n_opts, "speed") && !(o.speed > 0 && o.speed <= 1e9)) {
		fprintf(stderr, "tocsin: replay: --speed: expected a factor > 0 (1 is real time, "
				"60 a minute a second), got %g\n",
			o.speed);
		return 2;
	}
	if (given(opts, n_opts, "heartbeat-timeout") && (o.heartbeat_s < 0 || o.heartbeat_s > 7 * 86400)) {
		fprintf(stderr, "tocsin: replay: --heartbeat-timeout: expected seconds 0..604800 "
				"(0: no loss of visibility), got %d\n",
			o.heartbeat_s);
		return 2;
	}
	if (!*o.drill || strlen(o.drill) > 64) {
		fprintf(stderr, "tocsin: replay: --drill: expected 1-64 characters\n");
		return 2;
	}
	if (o.without && !*o.without) {
		fprintf(stderr, "tocsin: replay: --without: expected ASSET or PROVIDER>DEPENDENT\n");
		return 2;
	}
	if (start && (strlen(start) < 5 || start[4] != '-' ||
		      tn_adapter_parse_time(start, &o.base_us) != 0)) {
		fprintf(stderr,
			"tocsin: replay: --start: expected an RFC 3339 time like "
			"2026-11-26T16:52:00Z, got \"%.64s\"\n",
			start);
		return 2;
	}
	if (server)
		return on_server(&o, server, key, server_key, insecure);
	return offline(&o);
}
