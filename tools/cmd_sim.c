/*
 * cmd_sim.c - `tocsin sim`: the city simulator (docs/simulator.md).
 *
 *   tocsin sim city --assets N --seed S [--out DIR] [--deps-per-asset X]
 *   tocsin sim cascades --assets A.csv --deps D.csv --seed S [--cascades K]
 *       [--missing P] [--reorder P] [--noise R] [--duration-s T]
 *       [--late-max-s L] [--max-size M] [--max-depth H] [--out DIR]
 *   tocsin sim score --truth truth.csv --scenario scenario.csv ALERTS.jsonl
 *
 * city writes DIR/assets.csv and DIR/dependencies.csv; cascades writes
 * DIR/scenario.csv and DIR/truth.csv; score prints its figures, one
 * "name value" per line. Output files are the same bytes for the same
 * inputs and seed. A progress line goes to stderr when it is a terminal.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "sim.h"
#include "sim_opt.h"
#include "tocsin/error.h"

#define N_OPTS(o) ((int)(sizeof o / sizeof o[0]))

static const char usage_text[] =
	"usage: tocsin sim city --assets N --seed S [--out DIR] [--deps-per-asset X]\n"
	"       tocsin sim cascades --assets A.csv --deps D.csv --seed S [--cascades K]\n"
	"           [--missing P] [--reorder P] [--noise R] [--duration-s T] [--late-max-s L]\n"
	"           [--max-size M] [--max-depth H] [--out DIR]\n"
	"       tocsin sim score --truth truth.csv --scenario scenario.csv ALERTS.jsonl\n";

/* Open DIR/NAME for writing, with a large buffer. */
static FILE *create(const char *dir, const char *name, char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		fprintf(stderr, "tocsin: %s: %s\n", path, strerror(errno));
	else
		setvbuf(f, NULL, _IOFBF, 1 << 20);
	return f;
}

static int finish(FILE *f, const char *path, int ok)
{
	if (!f)
		return ok;
	if (fclose(f) != 0 && ok == 0) {
		fprintf(stderr, "tocsin: %s: %s\n", path, strerror(errno));
		return 1;
	}
	return ok;
}

static int city(int argc, char **argv)
{
	struct tn__sim_city_opts o = {.deps_per_asset = 3.0};
	struct tn__sim_city_stats st = {0};
	const char *out = ".", *pos[1];
	char err[512], pa[4096], pd[4096];
	struct tn__opt opts[] = {
		{"assets", TN_OPT_U64, &o.assets, false},
		{"seed", TN_OPT_U64, &o.seed, false},
		{"out", TN_OPT_STR, &out, false},
		{"deps-per-asset", TN_OPT_DOUBLE, &o.deps_per_asset, false},
	};
	FILE *fa, *fd;
	int n_pos, rc;

	if (tn__opt_parse("sim city", argc, argv, opts, N_OPTS(opts), pos, 0, &n_pos))
		return 2;
	if (!opts[0].seen || !opts[1].seen) {
		fprintf(stderr, "tocsin: sim city: expected --assets N and --seed S\n%s",
			usage_text);
		return 2;
	}
	/* checked again by the generator; here so that no file is created for nothing */
	if (o.assets < TN_SIM_CITY_MIN_ASSETS || o.assets > TN_SIM_CITY_MAX_ASSETS ||
	    !(o.deps_per_asset >= 0 && o.deps_per_asset <= 16)) {
		fprintf(stderr,
			"tocsin: sim city: expected --assets %d..%d and --deps-per-asset 0..16\n",
			TN_SIM_CITY_MIN_ASSETS, TN_SIM_CITY_MAX_ASSETS);
		return 2;
	}
	o.progress = o.assets >= 100000 && isatty(2);
	fa = create(out, "assets.csv", pa, sizeof pa);
	fd = fa ? create(out, "dependencies.csv", pd, sizeof pd) : NULL;
	if (!fa || !fd)
		return finish(fa, pa, 1);
	rc = tn__sim_city(&o, fa, fd, &st, err, sizeof err);
	if (rc != 0)
		fprintf(stderr, "tocsin: sim city: %s\n", err);
	rc = finish(fd, pd, finish(fa, pa, rc ? 1 : 0));
	if (rc == 0)
		printf("assets %" PRIu64 " (%s)\ndependencies %" PRIu64 " (%s; %" PRIu64
		       " structural, %" PRIu64 " with explicit delays)\nareas %" PRIu64 "\n",
		       st.assets, pa, st.edges, pd, st.structural_edges, st.explicit_delays,
		       st.districts);
	return rc;
}

static int cascades(int argc, char **argv)
{
	struct tn__sim_cascade_opts o;
	struct tn__sim_cascade_stats st = {0};
	struct tn_graph *g = NULL;
	const char *assets = NULL, *deps = NULL, *out = ".", *pos[1];
	char err[512], ps[4096], pt[4096];
	uint64_t cascades_n, max_size, duration;
	FILE *fs, *ft;
	int n_pos, rc;

	tn__sim_cascade_defaults(&o);
	cascades_n = o.cascades;
	max_size = o.max_size;
	duration = (uint64_t)o.duration_s;
	struct tn__opt opts[] = {
		{"assets", TN_OPT_STR, &assets, false},
		{"deps", TN_OPT_STR, &deps, false},
		{"seed", TN_OPT_U64, &o.seed, false},
		{"cascades", TN_OPT_U64, &cascades_n, false},
		{"missing", TN_OPT_DOUBLE, &o.missing, false},
		{"reorder", TN_OPT_DOUBLE, &o.reorder, false},
		{"noise", TN_OPT_DOUBLE, &o.noise_per_hour, false},
		{"duration-s", TN_OPT_U64, &duration, false},
		{"late-max-s", TN_OPT_INT, &o.late_max_s, false},
		{"max-size", TN_OPT_U64, &max_size, false},
		{"max-depth", TN_OPT_INT, &o.max_depth, false},
		{"out", TN_OPT_STR, &out, false},
	};

	if (tn__opt_parse("sim cascades", argc, argv, opts, N_OPTS(opts), pos, 0, &n_pos))
		return 2;
	if (!assets || !deps || !opts[2].seen) {
		fprintf(stderr, "tocsin: sim cascades: expected --assets, --deps and --seed\n%s",
			usage_text);
		return 2;
	}
	if (cascades_n > 1000000 || max_size > 1000000 || duration > INT32_MAX) {
		fprintf(stderr, "tocsin: sim cascades: --cascades, --max-size: expected at most "
				"1000000; --duration-s: at most 2147483647\n");
		return 2;
	}
	o.cascades = (uint32_t)cascades_n;
	o.max_size = (uint32_t)max_size;
	o.duration_s = (int64_t)duration;
	o.progress = isatty(2);
	if (tn__sim_cascade_check(&o, err, sizeof err) != 0) {
		fprintf(stderr, "tocsin: sim cascades: %s\n", err);
		return 2;
	}
	if (tn__sim_load_graph(assets, deps, stderr, &g) != 0) {
		fprintf(stderr, "tocsin: sim cascades: registry not loaded\n");
		return 1;
	}
	fs = create(out, "scenario.csv", ps, sizeof ps);
	ft = fs ? create(out, "truth.csv", pt, sizeof pt) : NULL;
	if (!fs || !ft) {
		tn_graph_free(g);
		return finish(fs, ps, 1);
	}
	rc = tn__sim_cascades(g, &o, fs, ft, &st, err, sizeof err);
	if (rc != 0)
		fprintf(stderr, "tocsin: sim cascades: %s\n", err);
	rc = finish(ft, pt, finish(fs, ps, rc ? 1 : 0));
	tn_graph_free(g);
	if (rc == 0)
		printf("cascades %" PRIu64 "\nfailures %" PRIu64 "\nnoise %" PRIu64
		       "\nrestorations %" PRIu64 "\nmissing %" PRIu64 "\nlate %" PRIu64
		       "\nlines %" PRIu64 " (%s, %s)\nrejected %" PRIu64 "\n",
		       st.cascades, st.failures, st.noise, st.restores, st.missing, st.late,
		       st.lines, ps, pt, st.rejected);
	if (rc == 0 && st.cascades < o.cascades)
		fprintf(stderr,
			"tocsin: sim cascades: placed %" PRIu64 " of %" PRIu32
			" cascades (no room left apart from the others: a longer --duration-s "
			"or a larger city)\n",
			st.cascades, o.cascades);
	return rc;
}

static int score(int argc, char **argv)
{
	struct tn__sim_score s;
	const char *truth = NULL, *scenario = NULL, *pos[1];
	char err[1024];
	struct tn__opt opts[] = {
		{"truth", TN_OPT_STR, &truth, false},
		{"scenario", TN_OPT_STR, &scenario, false},
	};
	int n_pos;

	if (tn__opt_parse("sim score", argc, argv, opts, N_OPTS(opts), pos, 1, &n_pos))
		return 2;
	if (!truth || !scenario || n_pos != 1) {
		fprintf(stderr,
			"tocsin: sim score: expected --truth, --scenario and ALERTS.jsonl\n%s",
			usage_text);
		return 2;
	}
	if (tn__sim_score_files(truth, scenario, pos[0], &s, err, sizeof err) != 0) {
		fprintf(stderr, "tocsin: sim score: %s\n", err);
		return 1;
	}
	printf("events %" PRIu64 "\n"
	       "incidents %" PRIu64 "\n"
	       "revisions %" PRIu64 "\n"
	       "truth_clusters %" PRIu64 "\n"
	       "truth_noise %" PRIu64 "\n"
	       "pred_clusters %" PRIu64 "\n"
	       "pred_alone %" PRIu64 "\n"
	       "truth_pairs %" PRIu64 "\n"
	       "pred_pairs %" PRIu64 "\n"
	       "both_pairs %" PRIu64 "\n"
	       "foreign_members %" PRIu64 "\n"
	       "precision %.4f\n"
	       "recall %.4f\n"
	       "f1 %.4f\n",
	       s.events, s.incidents, s.revisions, s.truth_clusters, s.truth_noise, s.pred_clusters,
	       s.pred_alone, s.truth_pairs, s.pred_pairs, s.both_pairs, s.foreign, s.precision,
	       s.recall, s.f1);
	return 0;
}

int tn__cmd_sim(int argc, char **argv, const struct tn_cli *cli)
{
	(void)cli;
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "city") == 0)
		return city(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "cascades") == 0)
		return cascades(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "score") == 0)
		return score(argc - 1, argv + 1);
	fputs(usage_text, stderr);
	return 2;
}
