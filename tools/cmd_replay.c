/*
 * cmd_replay.c - `tocsin replay`: run a scenario through the correlation
 * engine (design §6).
 *
 *   tocsin replay --offline --assets A.csv --deps D.csv SCENARIO.csv
 *                 [--json] [--drill NAME] [--start RFC3339]
 *
 * --offline runs the engine in-process over a registry read from the two
 * CSV files (design §2); no server, no database. Events are given in the
 * file's order, which is their order of arrival: the engine's watermark
 * (lateness) puts them back in event-time order, exactly as the server's
 * does with live traffic, so the same file gives the same bytes every time.
 * At the end of the file the engine is finished at the latest event time.
 *
 * Output: with --json one line per incident revision, the canonical JSON of
 * tn_change_json with a gapless seq from 1 (design §3.2); without, one short
 * line per revision for a human. A summary goes to stderr; a progress line
 * too when stderr is a terminal.
 *
 * --drill NAME names the stream (default "offline"): a replay is an
 * exercise, so its incidents say status "exercise". --start sets the time
 * t_offset_s counts from (default 2026-01-01T00:00:00Z, scenario.h).
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
#include <unistd.h>

#include "cli.h"
#include "scenario.h"
#include "sim.h"
#include "sim_opt.h"
#include "tocsin/adapter.h"
#include "tocsin/correlator.h"
#include "tocsin/error.h"

#define MAX_REPORTED_ROWS 100
#define PROGRESS_EVERY 8192

static const char usage_text[] =
	"usage: tocsin replay --offline --assets A.csv --deps D.csv SCENARIO.csv [--json]\n"
	"                     [--drill NAME] [--start RFC3339]\n";

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

static int offline(const char *assets, const char *deps, const char *path, int64_t base_us,
		   const char *drill, bool json)
{
	struct tn__scenario *sc = NULL;
	struct tn_graph *g = NULL;
	struct tn_corr *c = NULL;
	struct tn_corr_config cfg;
	struct tn_corr_stats st;
	struct replay r = {.json = json};
	bool prog = isatty(2);
	int rc;

	rc = tn__scenario_read(path, base_us, stderr, MAX_REPORTED_ROWS, &sc);
	if (rc != 0) {
		fprintf(stderr, "tocsin: replay: %s: %s; nothing run\n", path,
			rc == TN_EINVAL ? "bad rows" : tn_strerror(rc));
		return 1;
	}
	if ((rc = tn__sim_load_graph(assets, deps, stderr, &g)) != 0) {
		fprintf(stderr, "tocsin: replay: registry not loaded: %s; nothing run\n",
			tn_strerror(rc));
		tn__scenario_free(sc);
		return 1;
	}
	tn_corr_config_defaults(&cfg);
	if ((rc = tn_corr_new(&cfg, g, drill, &c)) != 0) {
		fprintf(stderr, "tocsin: replay: engine: %s\n", tn_strerror(rc));
		goto out;
	}
	r.cap = 64 * 1024;
	if (!(r.buf = malloc(r.cap))) {
		rc = TN_ENOMEM;
		goto out;
	}
	/* Full buffering: one write per 64 KiB, not per line, for big scenarios. */
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	for (size_t i = 0; i < sc->n; i++) {
		if ((rc = tn_corr_event(c, &sc->ev[i])) != 0) {
			fprintf(stderr,
				"tocsin: replay: %s:%" PRIu32 ": refused by the engine: %s\n", path,
				sc->line[i], tn_strerror(rc));
			rc = 0; /* counted by the engine; the rest still runs */
		}
		if ((rc = drain(c, &r)) != 0)
			goto out;
		if (prog && i % PROGRESS_EVERY == 0)
			fprintf(stderr, "\rtocsin: replay: %zu/%zu events", i, sc->n);
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
		prog ? "\r\033[K" : "", sc->n, st.late, st.invalid, st.incidents, st.merges,
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

int tn__cmd_replay(int argc, char **argv, const struct tn_cli *cli)
{
	const char *assets = NULL, *deps = NULL, *drill = "offline", *start = NULL, *pos[1];
	bool is_offline = false, json = false, help = false;
	int64_t base_us = TN_SCENARIO_EPOCH_US;
	struct tn__opt opts[] = {
		{"offline", TN_OPT_FLAG, &is_offline, false},
		{"assets", TN_OPT_STR, &assets, false},
		{"deps", TN_OPT_STR, &deps, false},
		{"json", TN_OPT_FLAG, &json, false},
		{"drill", TN_OPT_STR, &drill, false},
		{"start", TN_OPT_STR, &start, false},
		{"help", TN_OPT_FLAG, &help, false},
	};
	int n_pos;

	(void)cli;
	if (tn__opt_parse("replay", argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), pos, 1,
			  &n_pos))
		return 2;
	if (help) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (!is_offline) {
		fprintf(stderr,
			"tocsin: replay: expected --offline (driving a server is not "
			"implemented yet)\n%s",
			usage_text);
		return 2;
	}
	if (!assets || !deps || n_pos != 1) {
		fprintf(stderr, "tocsin: replay: expected --assets, --deps and SCENARIO.csv\n%s",
			usage_text);
		return 2;
	}
	if (!*drill || strlen(drill) > 64) {
		fprintf(stderr, "tocsin: replay: --drill: expected 1-64 characters\n");
		return 2;
	}
	if (start &&
	    (strlen(start) < 5 || start[4] != '-' || tn_adapter_parse_time(start, &base_us) != 0)) {
		fprintf(stderr,
			"tocsin: replay: --start: expected an RFC 3339 time like "
			"2026-11-26T16:52:00Z, got \"%.64s\"\n",
			start);
		return 2;
	}
	return offline(assets, deps, pos[0], base_us, drill, json);
}
