/*
 * sim.h - the city simulator behind `tocsin sim` (docs/simulator.md): a
 * generator of plausible cities (assets.csv, dependencies.csv), a generator
 * of cascade scenarios with their ground truth, and the scorer that measures
 * the engine's incidents against that truth.
 *
 * Everything is deterministic for a seed (sim_rng.h) and single-threaded;
 * all of it runs on the caller's thread. Errors are written into `err`
 * (errlen bytes, NUL-terminated, lowercase, no final period).
 */
#ifndef TN_SIM_H
#define TN_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tocsin/graph.h"

/* ---- the city ---------------------------------------------------------------- */

#define TN_SIM_CITY_MIN_ASSETS 100
#define TN_SIM_CITY_MAX_ASSETS 20000000

struct tn__sim_city_opts {
	uint64_t assets; /* TN_SIM_CITY_MIN_ASSETS .. TN_SIM_CITY_MAX_ASSETS */
	uint64_t seed;
	double deps_per_asset; /* target of edges per asset (extra redundant supplies are
				  added up to it); 0 = only the structural edges */
	bool progress;	       /* a progress line on stderr */
};

struct tn__sim_city_stats {
	uint64_t assets, edges, structural_edges, explicit_delays, districts;
};

/*
 * tn__sim_city - generate a city and write its assets.csv and
 * dependencies.csv (design §2, headers included) to the two streams (the
 * caller's, left open). Returns 0, TN_EINVAL (an option out of range),
 * TN_ENOMEM or TN_EIO (a write failed); *st (may be NULL) gets the counts.
 */
int tn__sim_city(const struct tn__sim_city_opts *o, FILE *assets, FILE *deps,
		 struct tn__sim_city_stats *st, char *err, size_t errlen);

/* ---- the registry from CSV ------------------------------------------------------ */

/*
 * tn__sim_load_graph - build a graph from assets.csv and dependencies.csv
 * (paths borrowed) with the registry's loader (registry_csv.h): every bad
 * row is written to errs (may be NULL) as "tocsin: FILE:LINE:COLUMN: ...",
 * up to its bound. Returns 0 and sets *out (caller owns it: tn_graph_free),
 * TN_EIO, TN_EINVAL or TN_ENOMEM.
 */
int tn__sim_load_graph(const char *assets, const char *deps, FILE *errs, struct tn_graph **out);

/* ---- cascades ---------------------------------------------------------------- */

/* The fixed epoch of scenario offsets: 2026-01-01T00:00:00Z (scenario.h). */

struct tn__sim_cascade_opts {
	uint64_t seed;
	uint32_t cascades;     /* cascades to place (fewer when the city has no room) */
	double missing;	       /* probability that a report is dropped, 0..1 */
	double reorder;	       /* probability that a report arrives late, 0..1 */
	double noise_per_hour; /* background failures of unrelated assets per hour */
	int64_t duration_s;    /* scenario length; roots fail in its first three quarters */
	int late_max_s;	       /* bound of a late report's delay: <= the engine's lateness */
	uint32_t max_size;     /* failures per cascade at most */
	int max_depth;	       /* hops of a cascade at most */
	bool progress;
};

struct tn__sim_cascade_stats {
	uint64_t cascades, failures, noise, restores, missing, late, lines, rejected;
};

/* tn__sim_cascade_defaults - fill *o with the documented defaults. */
void tn__sim_cascade_defaults(struct tn__sim_cascade_opts *o);

/* tn__sim_cascade_check - TN_EINVAL (err says what was expected) when an
 * option is out of range, else 0. Pure. */
int tn__sim_cascade_check(const struct tn__sim_cascade_opts *o, char *err, size_t errlen);

/*
 * tn__sim_cascades - place cascades and noise on graph `g` (borrowed) and
 * write scenario.csv (arrival order, design §6 columns) and truth.csv
 * (`line,cascade`) to the two streams (the caller's). Returns 0, TN_EINVAL,
 * TN_ENOMEM or TN_EIO.
 */
int tn__sim_cascades(const struct tn_graph *g, const struct tn__sim_cascade_opts *o, FILE *scenario,
		     FILE *truth, struct tn__sim_cascade_stats *st, char *err, size_t errlen);

/* ---- the scorer ---------------------------------------------------------------- */

/* A label with this bit set is a singleton (noise in the truth, an event in no
 * incident in the prediction); the caller makes singleton labels unique. */
#define TN_SIM_SINGLETON (UINT64_C(1) << 63)

struct tn__sim_score {
	uint64_t events;      /* failure events scored */
	uint64_t truth_pairs; /* pairs of events in the same cascade */
	uint64_t pred_pairs;  /* pairs of events in the same incident */
	uint64_t both_pairs;  /* pairs in the same cascade and the same incident */
	uint64_t truth_clusters, pred_clusters; /* clusters of two or more events */
	uint64_t truth_noise, pred_alone;	/* singletons of each side */
	double precision, recall, f1;
	/* filled by tn__sim_score_files only */
	uint64_t incidents; /* distinct incidents in the alerts */
	uint64_t revisions; /* JSON lines read */
	uint64_t foreign;   /* member events that name no failure line of the scenario */
};

/*
 * tn__sim_score_pairs - pairwise precision, recall and F1 of a clustering:
 * event i is in truth cluster truth[i] and predicted cluster pred[i] (labels
 * with TN_SIM_SINGLETON are singletons whatever their value). A figure with a
 * zero denominator is 1 (no pairs claimed, none missed); F1 is the harmonic
 * mean, 0 when both are 0. Allocates a scratch copy: returns 0 or TN_ENOMEM.
 * Arrays borrowed.
 */
int tn__sim_score_pairs(const uint64_t *truth, const uint64_t *pred, size_t n,
			struct tn__sim_score *out);

/*
 * tn__sim_score_files - read truth.csv, the scenario and the JSON lines of a
 * replay (`tocsin replay --json`), and score the incidents' last revisions
 * against the truth (docs/simulator.md, "Scoring"). Returns 0, TN_EIO (a file
 * unreadable), TN_EINVAL (a file malformed: err says where), TN_ENOMEM.
 */
int tn__sim_score_files(const char *truth, const char *scenario, const char *alerts,
			struct tn__sim_score *out, char *err, size_t errlen);

#endif
