/*
 * drill_run.h - the output of a replay (JSON lines of incident revisions,
 * design §3.2) read back per incident, for `tocsin drill diff` and
 * `tocsin report`.
 *
 * Incidents are matched across runs by id: an id derives from the root
 * event's source and id (correlator.h), so the same root event gives the
 * same incident in both runs.
 */
#ifndef TN_DRILL_RUN_H
#define TN_DRILL_RUN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct tn__incident {
	const char *id;	 /* points into `last` */
	json_t *first;	 /* the first revision seen (owned reference) */
	json_t *last;	 /* the last revision seen (owned reference) */
	int best_priority; /* the most urgent (lowest) priority of any revision */
	size_t revisions;
	int64_t root_us;     /* the root's time (last revision) */
	int64_t detected_us; /* `updated` of the first revision */
	json_t *at_risk; /* every asset ever listed at risk -> {eta, via, outcome}: the eta and
			    via first listed, the outcome last listed, or at the end
			    "borne_out" for a pending entry that is a member and
			    "unlisted" for one the last revision no longer lists (owned) */
	json_t *failed_as; /* member asset -> the state it first failed in: "down" or
			      "degraded" (owned) */
};

struct tn__run {
	const char *path;
	struct tn__incident *inc; /* in order of first appearance */
	size_t n, cap;
	size_t lines;
	json_t *index; /* id -> position in inc */
};

/*
 * tn__run_read - read the JSON lines at path (borrowed; "-" is stdin) into
 * *run (the caller's, zeroed; free with tn__run_free). A line that is not a
 * revision (no incident, rev, root) is reported on errs as "PATH:LINE:
 * expected ..." and refused. Returns 0, TN_EIO (unreadable), TN_EINVAL (a
 * bad line), TN_ENOMEM. One thread.
 */
int tn__run_read(const char *path, FILE *errs, struct tn__run *run);

/* tn__run_free - release what tn__run_read filled; *run is zeroed. */
void tn__run_free(struct tn__run *run);

/* tn__run_find - the incident with this id (borrowed from run), or NULL. Any
 * thread, while run is not being changed. */
const struct tn__incident *tn__run_find(const struct tn__run *run, const char *id);

/* tn__json_time - an RFC 3339 member of o (borrowed) in microseconds, or
 * INT64_MIN when absent or malformed. Pure. */
int64_t tn__json_time(json_t *o, const char *key);

#endif
