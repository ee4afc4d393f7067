/*
 * cmd_drill.c - `tocsin drill diff A.jsonl B.jsonl [--json]`: what changed,
 * incident by incident, between two replays (design §6, docs/drills.md),
 * typically the same recording with and without a what-if (--inject,
 * --without).
 *
 * Incidents are matched by id, which derives from the root event
 * (drill_run.h). For each, from its last revision in each run: whether it
 * appears or vanishes, how it ended (open, resolved, merged into another),
 * its cause, its members added and removed, its final and its most urgent
 * priority, its detection time (the first revision's `updated` less the
 * root event's time) and its forecast (at_risk_count of the last revision,
 * and every asset ever listed at risk whose first eta, via or last outcome
 * differs). Text for a person by default; --json gives one
 * object with the same content.
 *
 * Exit status: 0 compared (whether or not anything differs: the summary
 * line and "changed" say), 1 a file could not be read, 2 usage.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "drill_run.h"
#include "sim_opt.h"
#include "tocsin/error.h"

static const char usage_text[] = "usage: tocsin drill diff A.jsonl B.jsonl [--json]\n";

/* What a person compares of one incident in one run. */
static json_t *side(const struct tn__incident *inc)
{
	json_t *last = inc->last, *members = json_array();
	const char *msg = json_string_value(json_object_get(last, "msg"));
	json_t *a, *v;
	size_t i;

	json_array_foreach(json_object_get(last, "affected"), i, a)
		json_array_append(members, json_object_get(a, "asset"));
	v = json_pack("{s:s, s:O, s:i, s:i, s:O, s:O, s:o, s:O, s:o}", "end",
		      strcmp(msg, "merged") == 0 ? "merged"
		      : strcmp(msg, "resolved") == 0 ? "resolved"
						     : "open",
		      "cause", json_object_get(last, "cause"), "priority",
		      (int)json_integer_value(json_object_get(last, "priority")), "best_priority",
		      inc->best_priority, "title", json_object_get(last, "title"), "sectors",
		      json_object_get(last, "sectors"), "members", members, "at_risk_count",
		      json_object_get(last, "at_risk_count"), "at_risk", json_deep_copy(inc->at_risk));
	if (inc->root_us != INT64_MIN && inc->detected_us != INT64_MIN)
		json_object_set_new(v, "detection_s",
				    json_real((double)(inc->detected_us - inc->root_us) / 1e6));
	if (json_object_get(last, "merged_into"))
		json_object_set(v, "merged_into", json_object_get(last, "merged_into"));
	return v;
}

/* Strings of array a not in array b. */
static json_t *minus(json_t *a, json_t *b)
{
	json_t *out = json_array(), *x, *y;
	size_t i, j;

	json_array_foreach(a, i, x) {
		bool found = false;

		json_array_foreach(b, j, y)
			found |= json_equal(x, y);
		if (!found)
			json_array_append(out, x);
	}
	return out;
}

/* One incident: present in a, in b, or both (NULL where absent). */
static json_t *compare(const struct tn__incident *ia, const struct tn__incident *ib)
{
	const struct tn__incident *any = ia ? ia : ib;
	json_t *root = json_object_get(any->last, "root");
	json_t *d = json_pack("{s:s, s:O, s:s}", "incident", any->id, "root", root, "in",
			      ia && ib ? "both" : ia ? "a" : "b");
	json_t *sa = ia ? side(ia) : NULL, *sb = ib ? side(ib) : NULL;
	bool changed = !(ia && ib);

	if (sa)
		json_object_set(d, "a", sa);
	if (sb)
		json_object_set(d, "b", sb);
	if (sa && sb) {
		json_t *fa = json_object_get(sa, "at_risk"), *fb = json_object_get(sb, "at_risk");
		json_t *fc = json_array(), *v;
		const char *k;

		json_object_set_new(d, "members_added", minus(json_object_get(sb, "members"),
							      json_object_get(sa, "members")));
		json_object_set_new(d, "members_removed", minus(json_object_get(sa, "members"),
								json_object_get(sb, "members")));
		json_object_foreach(fa, k, v)
			if (!json_equal(v, json_object_get(fb, k)))
				json_array_append_new(fc, json_pack("{s:s, s:O, s:O?}", "asset", k,
								    "a", v, "b",
								    json_object_get(fb, k)));
		json_object_foreach(fb, k, v)
			if (!json_object_get(fa, k))
				json_array_append_new(fc, json_pack("{s:s, s:n, s:O}", "asset", k,
								    "a", "b", v));
		json_object_set_new(d, "forecast_changed", fc);
		changed = !json_equal(sa, sb);
	}
	json_object_set_new(d, "changed", json_boolean(changed));
	json_decref(sa);
	json_decref(sb);
	return d;
}

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "-";
}

static long long num(json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

/* "a -> b" for a value that changed, "a" for one that did not. */
static void was(const char *what, const char *a, const char *b)
{
	if (strcmp(a, b) == 0)
		printf("    %-11s %s\n", what, a);
	else
		printf("    %-11s %s -> %s\n", what, a, b);
}

static void list(const char *what, json_t *arr)
{
	json_t *v;
	size_t i;

	if (!json_array_size(arr))
		return;
	printf("    %-11s", what);
	json_array_foreach(arr, i, v)
		printf("%s%s", i ? ", " : " ", json_string_value(v));
	printf("\n");
}

static void describe(json_t *s, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s, %s, P%lld, %zu members, %zu sectors", str(s, "end"),
		 str(s, "cause"), num(s, "priority"), json_array_size(json_object_get(s, "members")),
		 json_array_size(json_object_get(s, "sectors")));
}

/* An at-risk entry as "outcome (eta T via V)", or "not at risk". */
static void risk(json_t *e, char *buf, size_t cap)
{
	if (!json_is_object(e))
		snprintf(buf, cap, "not at risk");
	else
		snprintf(buf, cap, "%s (eta %s via %s)", str(e, "outcome"), str(e, "eta"),
			 str(e, "via"));
}

static void text(json_t *d)
{
	json_t *root = json_object_get(d, "root"), *a = json_object_get(d, "a"),
	       *b = json_object_get(d, "b");
	const char *in = str(d, "in");
	bool changed = json_is_true(json_object_get(d, "changed"));
	char x[256], y[256];

	printf("%c %s  root %s (%s) at %s: %s\n",
	       strcmp(in, "a") == 0	 ? '-'
	       : strcmp(in, "b") == 0 ? '+'
	       : changed	      ? '~'
				      : '=',
	       str(d, "incident"), str(root, "asset"), str(root, "sector"), str(root, "time"),
	       strcmp(in, "a") == 0   ? "only in A (vanishes)"
	       : strcmp(in, "b") == 0 ? "only in B (appears)"
	       : changed	      ? "changed"
				      : "unchanged");
	if (!a || !b) {
		describe(a ? a : b, x, sizeof x);
		printf("    %s: %s\n", str(a ? a : b, "title"), x);
		return;
	}
	if (!changed)
		return;
	snprintf(x, sizeof x, "%s%s%s", str(a, "end"), json_object_get(a, "merged_into") ? " into " : "",
		 json_object_get(a, "merged_into") ? str(a, "merged_into") : "");
	snprintf(y, sizeof y, "%s%s%s", str(b, "end"), json_object_get(b, "merged_into") ? " into " : "",
		 json_object_get(b, "merged_into") ? str(b, "merged_into") : "");
	was("end", x, y);
	was("cause", str(a, "cause"), str(b, "cause"));
	snprintf(x, sizeof x, "P%lld (most urgent P%lld)", num(a, "priority"),
		 num(a, "best_priority"));
	snprintf(y, sizeof y, "P%lld (most urgent P%lld)", num(b, "priority"),
		 num(b, "best_priority"));
	was("priority", x, y);
	snprintf(x, sizeof x, "%.3f s", json_real_value(json_object_get(a, "detection_s")));
	snprintf(y, sizeof y, "%.3f s", json_real_value(json_object_get(b, "detection_s")));
	was("detection", x, y);
	snprintf(x, sizeof x, "%zu", json_array_size(json_object_get(a, "members")));
	snprintf(y, sizeof y, "%zu", json_array_size(json_object_get(b, "members")));
	was("members", x, y);
	list("  added", json_object_get(d, "members_added"));
	list("  removed", json_object_get(d, "members_removed"));
	json_t *ca = json_object_get(a, "at_risk_count"), *cb = json_object_get(b, "at_risk_count");
	snprintf(x, sizeof x, "%lld pending, %lld borne out, %lld not", num(ca, "pending"),
		 num(ca, "borne_out"), num(ca, "not_borne_out"));
	snprintf(y, sizeof y, "%lld pending, %lld borne out, %lld not", num(cb, "pending"),
		 num(cb, "borne_out"), num(cb, "not_borne_out"));
	was("forecast", x, y);
	json_t *fc = json_object_get(d, "forecast_changed"), *f;
	size_t i;
	json_array_foreach(fc, i, f) {
		risk(json_object_get(f, "a"), x, sizeof x);
		risk(json_object_get(f, "b"), y, sizeof y);
		printf("      %s: %s -> %s\n", str(f, "asset"), x, y);
	}
}

static int diff(const char *pa, const char *pb, bool as_json)
{
	struct tn__run a = {0}, b = {0};
	json_t *all = json_array();
	size_t changed = 0, same = 0, only_a = 0, only_b = 0, i;
	json_t *d;
	int rc = 1;

	if (tn__run_read(pa, stderr, &a) != 0 || tn__run_read(pb, stderr, &b) != 0)
		goto out;
	for (i = 0; i < a.n; i++)
		json_array_append_new(all, compare(&a.inc[i], tn__run_find(&b, a.inc[i].id)));
	for (i = 0; i < b.n; i++)
		if (!tn__run_find(&a, b.inc[i].id))
			json_array_append_new(all, compare(NULL, &b.inc[i]));
	json_array_foreach(all, i, d) {
		const char *in = str(d, "in");

		if (strcmp(in, "a") == 0)
			only_a++;
		else if (strcmp(in, "b") == 0)
			only_b++;
		else if (json_is_true(json_object_get(d, "changed")))
			changed++;
		else
			same++;
	}
	if (as_json) {
		json_t *o = json_pack("{s:s, s:s, s:O, s:{s:i, s:i, s:i, s:i}}", "a", pa, "b", pb,
				      "incidents", all, "summary", "changed", (int)changed,
				      "unchanged", (int)same, "only_a", (int)only_a, "only_b",
				      (int)only_b);
		char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);

		if (s)
			printf("%s\n", s);
		free(s);
		json_decref(o);
	} else {
		printf("A %s: %zu incidents\nB %s: %zu incidents\n\n", pa, a.n, pb, b.n);
		json_array_foreach(all, i, d)
			text(d);
		printf("\n%zu changed, %zu unchanged, %zu only in A, %zu only in B\n", changed,
		       same, only_a, only_b);
	}
	rc = fflush(stdout) != 0;
out:
	json_decref(all);
	tn__run_free(&a);
	tn__run_free(&b);
	return rc;
}

int tn__cmd_drill(int argc, char **argv, const struct tn_cli *cli)
{
	const char *pos[2];
	bool as_json = false, help = false;
	struct tn__opt opts[] = {
		{"json", TN_OPT_FLAG, &as_json, false},
		{"help", TN_OPT_FLAG, &help, false},
	};
	int n_pos;

	(void)cli;
	if (argc < 2 || strcmp(argv[1], "diff") != 0) {
		fprintf(stderr, "tocsin: drill: expected diff\n%s", usage_text);
		return 2;
	}
	if (tn__opt_parse("drill diff", argc - 1, argv + 1, opts, 2, pos, 2, &n_pos))
		return 2;
	if (help) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (n_pos != 2) {
		fprintf(stderr, "tocsin: drill diff: expected two replays (A.jsonl B.jsonl)\n%s",
			usage_text);
		return 2;
	}
	return diff(pos[0], pos[1], as_json);
}
