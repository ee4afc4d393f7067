/*
 * drill_run.c - a replay's revisions read back per incident (drill_run.h).
 */
#include "drill_run.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tocsin/adapter.h"
#include "tocsin/error.h"

int64_t tn__json_time(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	int64_t us;

	return s && tn_adapter_parse_time(s, &us) == 0 ? us : INT64_MIN;
}

const struct tn__incident *tn__run_find(const struct tn__run *run, const char *id)
{
	json_t *v = json_object_get(run->index, id);

	return v ? &run->inc[json_integer_value(v)] : NULL;
}

void tn__run_free(struct tn__run *run)
{
	for (size_t i = 0; i < run->n; i++) {
		json_decref(run->inc[i].first);
		json_decref(run->inc[i].last);
		json_decref(run->inc[i].at_risk);
		json_decref(run->inc[i].failed_as);
	}
	free(run->inc);
	json_decref(run->index);
	memset(run, 0, sizeof *run);
}

/* Fold one revision into its incident. */
static int add(struct tn__run *run, json_t *rev)
{
	const char *id = json_string_value(json_object_get(rev, "incident"));
	json_t *at = json_object_get(run->index, id);
	struct tn__incident *inc;
	json_t *r;
	size_t i;
	int prio = (int)json_integer_value(json_object_get(rev, "priority"));

	if (!at) {
		if (run->n == run->cap) {
			size_t nc = run->cap ? run->cap * 2 : 64;
			struct tn__incident *p = realloc(run->inc, nc * sizeof *p);

			if (!p)
				return TN_ENOMEM;
			run->inc = p;
			run->cap = nc;
		}
		inc = &run->inc[run->n];
		memset(inc, 0, sizeof *inc);
		inc->first = json_incref(rev);
		inc->best_priority = prio;
		inc->detected_us = tn__json_time(rev, "updated");
		if (!(inc->at_risk = json_object()) || !(inc->failed_as = json_object()))
			return TN_ENOMEM;
		if (json_object_set_new(run->index, id, json_integer((json_int_t)run->n)) != 0)
			return TN_ENOMEM;
		run->n++;
	} else {
		inc = &run->inc[json_integer_value(at)];
	}
	json_decref(inc->last);
	inc->last = json_incref(rev);
	inc->id = json_string_value(json_object_get(rev, "incident"));
	inc->revisions++;
	if (prio < inc->best_priority)
		inc->best_priority = prio;
	inc->root_us = tn__json_time(json_object_get(rev, "root"), "time");
	json_array_foreach(json_object_get(rev, "affected"), i, r) {
		const char *asset = json_string_value(json_object_get(r, "asset"));
		json_t *state = json_object_get(r, "state");

		if (asset && !json_object_get(inc->failed_as, asset) &&
		    strcmp(json_string_value(state) ?: "", "up") != 0)
			json_object_set(inc->failed_as, asset, state);
	}
	json_array_foreach(json_object_get(rev, "at_risk"), i, r) {
		const char *asset = json_string_value(json_object_get(r, "asset"));
		json_t *e = asset ? json_object_get(inc->at_risk, asset) : NULL;

		if (!asset)
			continue;
		if (!e) {
			e = json_pack("{s:O, s:O}", "eta", json_object_get(r, "eta"), "via",
				      json_object_get(r, "via"));
			if (!e || json_object_set_new(inc->at_risk, asset, e) != 0)
				return TN_ENOMEM;
		}
		json_object_set(e, "outcome", json_object_get(r, "outcome"));
	}
	return 0;
}

/*
 * A revision lists at most at_risk_listed entries, pending ones first
 * (docs/correlation.md): an entry settled while many others were pending may
 * never be listed with its outcome. So, at the end: a pending entry whose
 * asset is a member of the incident was borne out; one that the last
 * revision no longer lists is "unlisted" (counted in at_risk_count only).
 */
static void settle(struct tn__incident *inc)
{
	json_t *last = inc->last, *e, *a;
	const char *asset;
	size_t i;

	json_object_foreach(inc->at_risk, asset, e) {
		bool member = false, listed = false;

		if (strcmp(json_string_value(json_object_get(e, "outcome")) ?: "", "pending") != 0)
			continue;
		json_array_foreach(json_object_get(last, "affected"), i, a)
			member |= strcmp(json_string_value(json_object_get(a, "asset")) ?: "", asset) == 0;
		json_array_foreach(json_object_get(last, "at_risk"), i, a)
			listed |= strcmp(json_string_value(json_object_get(a, "asset")) ?: "", asset) == 0;
		if (member)
			json_object_set_new(e, "outcome", json_string("borne_out"));
		else if (!listed)
			json_object_set_new(e, "outcome", json_string("unlisted"));
	}
}

int tn__run_read(const char *path, FILE *errs, struct tn__run *run)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
	char *buf = NULL;
	size_t cap = 0;
	ssize_t len;
	int rc = 0;

	run->path = path;
	if (!f) {
		if (errs)
			fprintf(errs, "tocsin: %s: %s\n", path, strerror(errno));
		return TN_EIO;
	}
	if (!(run->index = json_object())) {
		rc = TN_ENOMEM;
		goto out;
	}
	while (rc == 0 && (len = getline(&buf, &cap, f)) >= 0) {
		json_t *o;

		run->lines++;
		if (len <= 1)
			continue;
		o = json_loadb(buf, (size_t)len, 0, NULL);
		if (!json_is_string(json_object_get(o, "incident")) ||
		    !json_is_integer(json_object_get(o, "rev")) ||
		    !json_is_object(json_object_get(o, "root"))) {
			if (errs)
				fprintf(errs,
					"tocsin: %s:%zu: expected an incident revision as `tocsin "
					"replay --json` prints it\n",
					path, run->lines);
			rc = TN_EINVAL;
		} else {
			rc = add(run, o);
		}
		json_decref(o);
	}
	for (size_t i = 0; rc == 0 && i < run->n; i++)
		settle(&run->inc[i]);
	if (rc == 0 && ferror(f)) {
		if (errs)
			fprintf(errs, "tocsin: %s: %s\n", path, strerror(errno));
		rc = TN_EIO;
	}
out:
	free(buf);
	if (f != stdin)
		fclose(f);
	return rc;
}
