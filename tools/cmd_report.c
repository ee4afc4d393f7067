/*
 * cmd_report.c - `tocsin report`: a drill's replay as one self-contained
 * HTML page (design §6, docs/drills.md).
 *
 *   tocsin report RUN.jsonl [--scenario FILE] [--assets A.csv --deps D.csv]
 *                 [--title TEXT] -o report.html
 *
 * RUN.jsonl is what `tocsin replay --json` printed. The page has, in order:
 * a summary; a timeline in SVG with one lane per sector, one row per asset
 * with its failure (red: down, amber: degraded) until its restore (a green
 * mark), and each incident drawn over the lanes of its sectors from its root
 * event to its end; then a table of incidents (root, cause, priority, time
 * from the root event to detection, members and the path that linked each,
 * the forecast against the outcome). The failures and restores come from the
 * scenario or recording that was replayed (--scenario); without it, from the
 * incidents' members (a member shown up in the last revision is drawn
 * restored at that revision's time). --assets/--deps add the assets' names.
 *
 * Self-contained: inline CSS and SVG, no script, no external font or
 * image, nothing fetched. Printable (@media print, A4), and nothing is wider
 * than the page: the SVG scales to the width, long ids wrap. Every string
 * from the data is HTML-escaped.
 *
 * Exit status: 0 written, 1 an input could not be read or the file not
 * written (nothing is left behind), 2 usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "drill_run.h"
#include "recording.h"
#include "scenario.h"
#include "sim.h"
#include "sim_opt.h"
#include "tocsin/adapter.h"
#include "tocsin/error.h"

#define MAX_REPORTED_ROWS 20
#define SVG_W 1000	/* viewBox width; the page scales it */
#define LABEL_W 190	/* left column of asset names */
#define ROW_H 11	/* one asset */
#define LANE_GAP 8	/* between two sectors */
#define AXIS_H 36
#define MAX_ROWS 400	/* assets drawn; the rest are counted in a note */

static const char usage_text[] =
	"usage: tocsin report RUN.jsonl [--scenario FILE] [--assets A.csv --deps D.csv]\n"
	"                     [--title TEXT] -o report.html\n";

/* One asset's failure on the timeline. */
struct bar {
	const char *asset; /* borrowed from the scenario or the run */
	int sector;
	int64_t from_us, to_us; /* to_us INT64_MIN: not restored in the run */
	bool degraded;
};

struct report {
	FILE *f;
	struct tn__run run;
	struct tn__scenario *sc;
	struct tn_graph *g;
	struct bar *bars;
	size_t n_bars, cap_bars;
	int64_t t0, t1; /* the time axis */
};

/* ---- output helpers ------------------------------------------------------------- */

static void esc(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(*s, f);
		}
	}
}

/* The strings of an array, escaped, with `sep` (markup, not escaped) between them. */
static void esc_join(FILE *f, json_t *arr, const char *sep)
{
	json_t *v;
	size_t i;

	json_array_foreach(arr, i, v) {
		if (i)
			fputs(sep, f);
		esc(f, json_string_value(v));
	}
}

static const char *js(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

/* "hh:mm:ss" since t0, or "+1d hh:mm" beyond a day. */
static void rel(int64_t t0, int64_t t, char *buf, size_t cap)
{
	int64_t s = (t - t0) / 1000000;
	const char *sign = s < 0 ? "-" : "";

	if (s < 0)
		s = -s;
	if (s >= 86400)
		snprintf(buf, cap, "%s%" PRId64 "d %02d:%02d", sign, s / 86400,
			 (int)(s % 86400 / 3600), (int)(s % 3600 / 60));
	else
		snprintf(buf, cap, "%s%02d:%02d:%02d", sign, (int)(s / 3600), (int)(s % 3600 / 60),
			 (int)(s % 60));
}

static void duration(int64_t us, char *buf, size_t cap)
{
	if (us < 0)
		snprintf(buf, cap, "-");
	else if (us < 60000000)
		snprintf(buf, cap, "%.1f s", (double)us / 1e6);
	else
		snprintf(buf, cap, "%" PRId64 " min %02d s", us / 60000000,
			 (int)(us / 1000000 % 60));
}

static const char *asset_name(const struct report *r, const char *id)
{
	uint32_t i = r->g && id ? tn_graph_find(r->g, id) : TN_GRAPH_NONE;

	return i == TN_GRAPH_NONE ? NULL : tn_graph_asset(r->g, i)->name;
}

/* ---- failures and restores ----------------------------------------------------------- */

static int add_bar(struct report *r, const char *asset, int sector, int64_t t, bool degraded)
{
	if (r->n_bars == r->cap_bars) {
		size_t nc = r->cap_bars ? r->cap_bars * 2 : 256;
		struct bar *b = realloc(r->bars, nc * sizeof *b);

		if (!b)
			return TN_ENOMEM;
		r->bars = b;
		r->cap_bars = nc;
	}
	r->bars[r->n_bars++] = (struct bar){asset, sector, t, INT64_MIN, degraded};
	return 0;
}

/* The open bar of an asset (its latest failure not yet restored), or NULL. */
static struct bar *open_bar(struct report *r, const char *asset)
{
	for (size_t i = r->n_bars; i-- > 0;)
		if (strcmp(r->bars[i].asset, asset) == 0)
			return r->bars[i].to_us == INT64_MIN ? &r->bars[i] : NULL;
	return NULL;
}

/* From the events, in event time (stable on the file's order). */
static int cmp_time(const void *a, const void *b)
{
	const struct tn_event *x = *(const struct tn_event *const *)a;
	const struct tn_event *y = *(const struct tn_event *const *)b;

	if (x->time_us != y->time_us)
		return x->time_us < y->time_us ? -1 : 1;
	return x < y ? -1 : x > y;
}

static int bars_from_events(struct report *r)
{
	const struct tn_event **ev = malloc((r->sc->n + 1) * sizeof *ev);
	int rc = 0;

	if (!ev)
		return TN_ENOMEM;
	for (size_t i = 0; i < r->sc->n; i++)
		ev[i] = &r->sc->ev[i];
	qsort(ev, r->sc->n, sizeof *ev, cmp_time);
	for (size_t i = 0; i < r->sc->n && rc == 0; i++) {
		const struct tn_event *e = ev[i];
		struct bar *b = e->asset ? open_bar(r, e->asset) : NULL;

		if (e->type == TN_EV_UP && b)
			b->to_us = e->time_us;
		else if ((e->type == TN_EV_DOWN || e->type == TN_EV_DEGRADED) && b)
			b->degraded &= e->type == TN_EV_DEGRADED;
		else if (e->type == TN_EV_DOWN || e->type == TN_EV_DEGRADED)
			rc = add_bar(r, e->asset, e->sector, e->time_us,
				     e->type == TN_EV_DEGRADED);
	}
	free(ev);
	return rc;
}

static int bars_from_incidents(struct report *r)
{
	for (size_t i = 0; i < r->run.n; i++) {
		json_t *last = r->run.inc[i].last, *m;
		size_t k;

		json_array_foreach(json_object_get(last, "affected"), k, m) {
			const char *asset = js(m, "asset"), *state = js(m, "state");
			int sec = tn_sector_parse(js(m, "sector"), strlen(js(m, "sector")));
			int rc;

			if (open_bar(r, asset) || !*asset)
				continue;
			const char *as = json_string_value(
				json_object_get(r->run.inc[i].failed_as, asset));

			if ((rc = add_bar(r, asset, sec, tn__json_time(m, "time"),
					  strcmp(as ? as : state, "degraded") == 0)) != 0)
				return rc;
			if (strcmp(state, "up") == 0)
				r->bars[r->n_bars - 1].to_us = tn__json_time(last, "updated");
		}
	}
	return 0;
}

/* ---- the timeline ---------------------------------------------------------------- */

static double x_of(const struct report *r, int64_t t)
{
	double span = (double)(r->t1 - r->t0);

	return LABEL_W + (SVG_W - LABEL_W - 24) * (span > 0 ? (double)(t - r->t0) / span : 0);
}

static int64_t tick_step(int64_t span_us)
{
	static const int64_t steps[] = {10,   30,    60,    120,   300,   600,    900,   1800,
					3600, 7200,  10800, 21600, 43200, 86400, 172800, 604800};
	size_t i = 0;

	while (i + 1 < sizeof steps / sizeof steps[0] && span_us / (steps[i] * 1000000) > 10)
		i++;
	return steps[i] * 1000000;
}

static const char *prio_colour(int p)
{
	static const char *const c[] = {"#b00020", "#d84315", "#ef8f00", "#5a7d9a", "#7a7a7a"};

	return c[p >= 1 && p <= 5 ? p - 1 : 4];
}

/* The rows of the lanes: bar indices grouped by sector (enum order), one row per asset. */
static void timeline(struct report *r)
{
	FILE *f = r->f;
	int row_of_sector[TN_SECTOR__COUNT + 1][2]; /* first row, rows */
	size_t n_rows = 0, skipped = 0;
	const char **row_asset = calloc(MAX_ROWS + 1, sizeof *row_asset);
	double *row_y = calloc(MAX_ROWS + 1, sizeof *row_y);
	double y = AXIS_H, h;
	char t[40];

	if (!row_asset || !row_y) {
		free(row_asset);
		free(row_y);
		fputs("<p>(timeline not drawn: out of memory)</p>\n", f);
		return;
	}
	/* lay out: sectors in enum order, assets in order of first failure */
	for (int s = 0; s < TN_SECTOR__COUNT; s++) {
		row_of_sector[s][0] = (int)n_rows;
		row_of_sector[s][1] = 0;
		for (size_t i = 0; i < r->n_bars; i++) {
			bool seen = false;

			if (r->bars[i].sector != s)
				continue;
			for (size_t k = (size_t)row_of_sector[s][0]; k < n_rows; k++)
				seen |= strcmp(row_asset[k], r->bars[i].asset) == 0;
			if (seen)
				continue;
			if (n_rows == MAX_ROWS) {
				skipped++;
				continue;
			}
			if (row_of_sector[s][1] == 0 && n_rows)
				y += LANE_GAP;
			row_asset[n_rows] = r->bars[i].asset;
			row_y[n_rows++] = y;
			y += ROW_H;
			row_of_sector[s][1]++;
		}
	}
	h = y + 6;
	fprintf(f, "<svg class=\"timeline\" viewBox=\"0 0 %d %.0f\" role=\"img\" "
		   "aria-label=\"timeline of failures and incidents by sector\">\n",
		SVG_W, h);
	/* lanes */
	for (int s = 0; s < TN_SECTOR__COUNT; s++) {
		double top, bottom;

		if (!row_of_sector[s][1])
			continue;
		top = row_y[row_of_sector[s][0]] - 2;
		bottom = row_y[row_of_sector[s][0] + row_of_sector[s][1] - 1] + ROW_H + 1;
		fprintf(f,
			"<g class=\"lane\" data-sector=\"%s\"><rect x=\"0\" y=\"%.1f\" width=\"%d\" "
			"height=\"%.1f\" class=\"lane-bg\"/><text x=\"4\" y=\"%.1f\" "
			"class=\"lane-name\">%s</text></g>\n",
			tn_sector_name((enum tn_sector)s), top, SVG_W, bottom - top, top + 10,
			tn_sector_name((enum tn_sector)s));
	}
	/* time axis */
	int64_t step = tick_step(r->t1 - r->t0);
	for (int64_t tk = r->t0; tk <= r->t1; tk += step) {
		double x = x_of(r, tk);

		rel(r->t0, tk, t, sizeof t);
		fprintf(f,
			"<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" class=\"tick\"/>"
			"<text x=\"%.1f\" y=\"11\" class=\"tick-label\">%s</text>\n",
			x, AXIS_H - 6, x, h, x, t);
	}
	/* incidents over the lanes of their sectors */
	for (size_t i = 0; i < r->run.n; i++) {
		const struct tn__incident *inc = &r->run.inc[i];
		json_t *last = inc->last, *sv;
		const char *msg = js(last, "msg");
		int64_t from = inc->root_us, to = tn__json_time(last, "updated");
		size_t k;

		if (strcmp(msg, "merged") == 0 || from == INT64_MIN)
			continue;
		if (strcmp(msg, "resolved") != 0)
			to = r->t1;
		double x0 = x_of(r, from), x1 = x_of(r, to);
		if (x1 - x0 < 3)
			x1 = x0 + 3;
		json_array_foreach(json_object_get(last, "sectors"), k, sv) {
			const char *sn = json_string_value(sv);
			int s = sn ? tn_sector_parse(sn, strlen(sn)) : -1;

			if (s < 0 || !row_of_sector[s][1])
				continue;
			double top = row_y[row_of_sector[s][0]] - 2;
			double bot = row_y[row_of_sector[s][0] + row_of_sector[s][1] - 1] + ROW_H + 1;
			fprintf(f,
				"<rect class=\"incident\" data-incident=\"%s\" x=\"%.1f\" y=\"%.1f\" "
				"width=\"%.1f\" height=\"%.1f\" style=\"stroke:%s\"/>\n",
				inc->id, x0, top, x1 - x0, bot - top,
				prio_colour((int)json_integer_value(json_object_get(last, "priority"))));
		}
		/* labels on two rows, in turn, so that neighbours do not overlap */
		fprintf(f, "<text class=\"incident-label\" x=\"%.1f\" y=\"%d\">", x0 + 2,
			i % 2 ? AXIS_H - 13 : AXIS_H - 4);
		esc(f, inc->id + 4);
		fprintf(f, " P%d</text>\n", inc->best_priority);
	}
	/* assets: name, failure bar, restore mark */
	for (size_t k = 0; k < n_rows; k++) {
		const char *name = asset_name(r, row_asset[k]);

		fprintf(f, "<text class=\"asset\" x=\"%d\" y=\"%.1f\"><title>", LABEL_W - 4,
			row_y[k] + ROW_H - 2);
		esc(f, row_asset[k]);
		if (name) {
			fputs(": ", f);
			esc(f, name);
		}
		fputs("</title>", f);
		esc(f, row_asset[k]);
		fputs("</text>\n", f);
		for (size_t i = 0; i < r->n_bars; i++) {
			const struct bar *b = &r->bars[i];
			double x0, x1;

			if (strcmp(b->asset, row_asset[k]) != 0)
				continue;
			x0 = x_of(r, b->from_us);
			x1 = x_of(r, b->to_us == INT64_MIN ? r->t1 : b->to_us);
			fprintf(f,
				"<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
				"height=\"%d\"/>",
				b->degraded ? "degraded" : "down", x0, row_y[k] + 1,
				x1 - x0 < 1.5 ? 1.5 : x1 - x0, ROW_H - 3);
			if (b->to_us != INT64_MIN)
				fprintf(f,
					"<rect class=\"restored\" x=\"%.1f\" y=\"%.1f\" width=\"2\" "
					"height=\"%d\"/>",
					x1, row_y[k], ROW_H - 1);
			fputc('\n', f);
		}
	}
	fputs("</svg>\n", f);
	if (skipped)
		fprintf(f, "<p class=\"note\">%zu more assets failed; not drawn.</p>\n", skipped);
	fputs("<p class=\"legend\"><span class=\"key down\"></span> down "
	      "<span class=\"key degraded\"></span> degraded "
	      "<span class=\"key restored\"></span> restored "
	      "<span class=\"key incident\"></span> incident (outline: priority)</p>\n",
	      f);
	free(row_asset);
	free(row_y);
}

/* ---- the table of incidents -------------------------------------------------------- */

static void explain(struct report *r, json_t *last)
{
	FILE *f = r->f;
	json_t *e;
	size_t i;

	fputs("<ol class=\"explain\">", f);
	json_array_foreach(json_object_get(last, "explain"), i, e) {
		json_t *w = json_object_get(e, "window");
		char lo[40] = "", hi[40] = "";

		fputs("<li><span class=\"path\">", f);
		esc_join(f, json_object_get(e, "path"), " &rarr; ");
		fputs("</span> <span class=\"rule\">", f);
		esc(f, js(e, "rule"));
		fputs("</span>", f);
		int64_t a = INT64_MIN, b = INT64_MIN;

		if (json_is_string(json_array_get(w, 0)) && json_is_string(json_array_get(w, 1)) &&
		    tn_adapter_parse_time(json_string_value(json_array_get(w, 0)), &a) == 0 &&
		    tn_adapter_parse_time(json_string_value(json_array_get(w, 1)), &b) == 0) {
			rel(r->t0, a, lo, sizeof lo);
			rel(r->t0, b, hi, sizeof hi);
			fprintf(f, " <span class=\"window\">window %s&ndash;%s</span>", lo, hi);
		}
		fputs("</li>", f);
	}
	fputs("</ol>", f);
}

static const char *outcome_text(const char *o)
{
	return strcmp(o, "borne_out") == 0	   ? "borne out"
	       : strcmp(o, "not_borne_out") == 0 ? "not borne out"
	       : strcmp(o, "unlisted") == 0	   ? "not listed at the end"
						   : o;
}

static void forecast(struct report *r, const struct tn__incident *inc)
{
	FILE *f = r->f;
	json_t *count = json_object_get(inc->last, "at_risk_count"), *e;
	const char *asset;
	char eta[40];

	if (!json_object_size(inc->at_risk)) {
		fputs("<p class=\"forecast\">nothing forecast at risk</p>", f);
		return;
	}
	fprintf(f,
		"<p class=\"forecast\">forecast at risk: borne out %lld, not borne out %lld, still "
		"pending at the end %lld (the engine's count); each asset listed:</p>"
		"<table class=\"risk\"><tr><th>asset</th><th>eta</th><th>via</th><th>outcome</th>"
		"</tr>",
		(long long)json_integer_value(json_object_get(count, "borne_out")),
		(long long)json_integer_value(json_object_get(count, "not_borne_out")),
		(long long)json_integer_value(json_object_get(count, "pending")));
	json_object_foreach(inc->at_risk, asset, e) {
		const char *o = js(e, "outcome");

		rel(r->t0, tn__json_time(e, "eta"), eta, sizeof eta);
		fputs("<tr><td>", f);
		esc(f, asset);
		fprintf(f, "</td><td>%s</td><td>", eta);
		esc(f, js(e, "via"));
		fputs("</td><td class=\"", f);
		esc(f, o);
		fputs("\">", f);
		esc(f, outcome_text(o));
		fputs("</td></tr>", f);
	}
	fputs("</table>", f);
}

static void incidents(struct report *r)
{
	FILE *f = r->f;

	fputs("<h2>Incidents</h2>\n<table class=\"incidents\"><thead><tr><th>incident</th>"
	      "<th>root</th><th>cause</th><th>priority</th><th>opened</th><th>detected after"
	      "</th><th>members</th><th>sectors</th><th>end</th></tr></thead>\n",
	      f);
	for (size_t i = 0; i < r->run.n; i++) {
		const struct tn__incident *inc = &r->run.inc[i];
		json_t *last = inc->last, *root = json_object_get(last, "root");
		const char *name = asset_name(r, js(root, "asset"));
		char opened[40], det[40];

		rel(r->t0, inc->root_us, opened, sizeof opened);
		duration(inc->root_us == INT64_MIN || inc->detected_us == INT64_MIN
				 ? -1
				 : inc->detected_us - inc->root_us,
			 det, sizeof det);
		fputs("<tbody class=\"incident\"><tr class=\"row\"><td class=\"id\">", f);
		esc(f, inc->id);
		fputs("</td><td>", f);
		esc(f, js(root, "asset"));
		if (name) {
			fputs("<br><small>", f);
			esc(f, name);
			fputs("</small>", f);
		}
		fputs("</td><td>", f);
		esc(f, js(last, "cause"));
		fprintf(f, "</td><td><span class=\"p p%d\">P%d</span>",
			(int)json_integer_value(json_object_get(last, "priority")),
			(int)json_integer_value(json_object_get(last, "priority")));
		if (inc->best_priority <
		    (int)json_integer_value(json_object_get(last, "priority")))
			fprintf(f, " (most urgent P%d)", inc->best_priority);
		fprintf(f, "</td><td>%s</td><td>%s</td><td>%zu</td><td>", opened, det,
			json_array_size(json_object_get(last, "affected")));
		esc_join(f, json_object_get(last, "sectors"), ", ");
		fputs("</td><td>", f);
		esc(f, js(last, "msg"));
		if (json_object_get(last, "merged_into")) {
			fputs(" into ", f);
			esc(f, js(last, "merged_into"));
		}
		fputs("</td></tr>\n<tr class=\"detail\"><td colspan=\"9\"><p class=\"title\">", f);
		esc(f, js(last, "title"));
		fputs("</p>", f);
		explain(r, last);
		forecast(r, inc);
		fputs("</td></tr></tbody>\n", f);
	}
	fputs("</table>\n", f);
}

static const char css[] =
	"@page{size:A4;margin:12mm}"
	"*{box-sizing:border-box}"
	"body{font:13px/1.4 sans-serif;color:#1b1b1b;margin:0 auto;padding:12px;max-width:1100px}"
	"h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:18px 0 6px}"
	".meta{color:#555;margin:0 0 10px}"
	"svg.timeline{width:100%;height:auto;display:block;border:1px solid #ccc}"
	".lane-bg{fill:#f4f6f8}.lane-name{font-size:10px;font-weight:bold;fill:#345}"
	".asset{font-size:8px;text-anchor:end;fill:#333}"
	".tick{stroke:#ddd;stroke-width:.5}.tick-label{font-size:9px;text-anchor:middle;fill:#555}"
	".down{fill:#c62828}.degraded{fill:#f9a825}.restored{fill:#2e7d32}"
	"rect.incident{fill:rgba(30,60,160,.08);stroke-width:1.5;stroke-dasharray:4 2}"
	".incident-label{font-size:8px;fill:#123}"
	".legend{font-size:11px;color:#444}.key{display:inline-block;width:12px;height:9px;"
	"margin-left:8px}.key.down{background:#c62828}.key.degraded{background:#f9a825}"
	".key.restored{background:#2e7d32}.key.incident{border:1.5px dashed #1e3ca0}"
	"table{border-collapse:collapse;width:100%;table-layout:fixed}"
	"th,td{border:1px solid #ccc;padding:3px 5px;text-align:left;vertical-align:top;"
	"overflow-wrap:anywhere}"
	"th{background:#eef1f4}"
	"table.incidents>thead th:nth-child(1){width:15%}"
	"tr.detail td{background:#fafafa}"
	".title{font-weight:bold;margin:2px 0}.explain{margin:4px 0;padding-left:20px}"
	".path{font-family:monospace;font-size:11px}.rule,.window{color:#555;font-size:11px}"
	"table.risk{margin:4px 0;font-size:11px}"
	".borne_out{color:#2e7d32}.not_borne_out{color:#555}.pending{color:#b26a00}"
	".unlisted{color:#777;font-style:italic}"
	".p{font-weight:bold;padding:0 4px;color:#fff;border-radius:3px}"
	".p1{background:#b00020}.p2{background:#d84315}.p3{background:#ef8f00}"
	".p4{background:#5a7d9a}.p5{background:#7a7a7a}"
	".note{color:#555;font-size:11px}"
	"@media print{body{max-width:none;padding:0;font-size:10px}"
	"tbody.incident{break-inside:avoid}svg.timeline{break-inside:avoid}"
	"h2{break-after:avoid}}";

static int write_page(struct report *r, const char *title)
{
	FILE *f = r->f;
	size_t open = 0, resolved = 0;
	char t0[40];

	for (size_t i = 0; i < r->run.n; i++) {
		const char *msg = js(r->run.inc[i].last, "msg");

		resolved += strcmp(msg, "resolved") == 0;
		open += strcmp(msg, "alert") == 0 || strcmp(msg, "update") == 0;
	}
	if (tn__recording_time(r->t0, t0, sizeof t0) != 0)
		snprintf(t0, sizeof t0, "-");
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	      "<meta name=\"viewport\" content=\"width=device-width\"><title>",
	      f);
	esc(f, title);
	fprintf(f, "</title><style>%s</style></head>\n<body>\n<h1>", css);
	esc(f, title);
	fputs("</h1>\n<p class=\"meta\">replay ", f);
	esc(f, r->run.path);
	fprintf(f,
		"; %zu incident%s (%zu resolved, %zu open at the end); times are from %s "
		"(hh:mm:ss after it)</p>\n<h2>Timeline</h2>\n",
		r->run.n, r->run.n == 1 ? "" : "s", resolved, open, t0);
	timeline(r);
	incidents(r);
	fputs("</body></html>\n", f);
	return ferror(f) ? TN_EIO : 0;
}

/* The time axis: everything the page draws. */
static void axis(struct report *r)
{
	bool any = false;

#define SEE(t)                                                                                 \
	do {                                                                                   \
		int64_t t_ = (t);                                                              \
		if (t_ != INT64_MIN) {                                                         \
			r->t0 = any && r->t0 < t_ ? r->t0 : t_;                                \
			r->t1 = any && r->t1 > t_ ? r->t1 : t_;                                \
			any = true;                                                            \
		}                                                                              \
	} while (0)
	for (size_t i = 0; i < r->n_bars; i++) {
		SEE(r->bars[i].from_us);
		SEE(r->bars[i].to_us);
	}
	for (size_t i = 0; i < r->run.n; i++) {
		SEE(r->run.inc[i].root_us);
		SEE(tn__json_time(r->run.inc[i].last, "updated"));
	}
	if (r->sc && r->sc->n) {
		SEE(r->sc->min_us);
		SEE(r->sc->max_us);
	}
#undef SEE
	if (r->t1 <= r->t0)
		r->t1 = r->t0 + 60000000;
}

int tn__cmd_report(int argc, char **argv, const struct tn_cli *cli)
{
	const char *scenario = NULL, *assets = NULL, *deps = NULL, *out = NULL, *title = NULL;
	const char *pos[1];
	bool help = false;
	struct tn__opt opts[] = {
		{"scenario", TN_OPT_STR, &scenario, false}, {"assets", TN_OPT_STR, &assets, false},
		{"deps", TN_OPT_STR, &deps, false},	    {"out", TN_OPT_STR, &out, false},
		{"title", TN_OPT_STR, &title, false},	    {"help", TN_OPT_FLAG, &help, false},
	};
	static char out_opt[] = "--out";
	struct report r = {0};
	char tmp[4096];
	int n_pos, rc = 1;

	(void)cli;
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "-o") == 0)
			argv[i] = out_opt;
	if (tn__opt_parse("report", argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), pos, 1,
			  &n_pos))
		return 2;
	if (help) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (n_pos != 1 || !out || !assets != !deps) {
		fprintf(stderr, "tocsin: report: expected RUN.jsonl and -o FILE (and --assets with "
				"--deps)\n%s",
			usage_text);
		return 2;
	}
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.partial", out) >= sizeof tmp) {
		fprintf(stderr, "tocsin: report: -o: path too long\n");
		return 2;
	}
	if (tn__run_read(pos[0], stderr, &r.run) != 0)
		goto out;
	if (scenario && tn__drill_input_read(scenario, TN_SCENARIO_EPOCH_US, 'L', stderr,
					     MAX_REPORTED_ROWS, &r.sc) != 0) {
		fprintf(stderr, "tocsin: report: %s: not read\n", scenario);
		goto out;
	}
	if (assets && tn__sim_load_graph(assets, deps, stderr, &r.g) != 0)
		goto out;
	if ((r.sc ? bars_from_events(&r) : bars_from_incidents(&r)) != 0) {
		fprintf(stderr, "tocsin: report: out of memory\n");
		goto out;
	}
	axis(&r);
	if (!(r.f = fopen(tmp, "we"))) {
		fprintf(stderr, "tocsin: report: %s: %s\n", tmp, strerror(errno));
		goto out;
	}
	rc = write_page(&r, title ? title : "Drill report");
	if (fclose(r.f) != 0 || rc != 0 || rename(tmp, out) != 0) {
		fprintf(stderr, "tocsin: report: %s: %s\n", out, strerror(errno));
		unlink(tmp);
		rc = 1;
		goto out;
	}
	fprintf(stderr, "tocsin: report: %s: %zu incidents, %zu failures drawn\n", out, r.run.n,
		r.n_bars);
	rc = 0;
out:
	tn__run_free(&r.run);
	tn__scenario_free(r.sc);
	tn_graph_free(r.g);
	free(r.bars);
	return rc;
}
