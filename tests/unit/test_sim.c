/*
 * test_sim.c - the city simulator (tools/sim.h): the pairwise scoring
 * arithmetic on hand-made clusterings and files, and the generators'
 * determinism (same seed, same bytes) and validity (every dependency names
 * assets that exist, no self-loop, no duplicate, exact headers, the
 * scenario readable and never later than the bound it promises).
 *
 * The tools are not a library: their sources are compiled in here.
 */
#include "../../tools/scenario.c"
#include "../../tools/sim_registry.c"
#include "../../tools/sim_city.c"
#include "../../tools/sim_cascades.c"
#include "../../tools/sim_score.c"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S TN_SIM_SINGLETON

static char dir[200];

static void setup(void)
{
	snprintf(dir, sizeof dir, "%s/tn_sim_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static const char *in_dir(const char *name)
{
	static char p[4][512];
	static int k;

	k = (k + 1) % 4;
	snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
	return p[k];
}

static void write_file(const char *name, const char *text)
{
	FILE *f = fopen(in_dir(name), "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

static void score(const uint64_t *t, const uint64_t *p, size_t n, struct tn__sim_score *s)
{
	memset(s, 0, sizeof *s);
	ck_assert_int_eq(tn__sim_score_pairs(t, p, n, s), 0);
}

#define ck_assert_close(a, b) ck_assert_double_eq_tol((a), (b), 1e-12)

/* ---- arithmetic ------------------------------------------------------------------ */

START_TEST(score_perfect_whatever_the_labels)
{
	uint64_t t[] = {1, 1, 2, 2, S | 7}, p[] = {9, 9, 4, 4, S | 99};
	struct tn__sim_score s;

	score(t, p, 5, &s);
	ck_assert_uint_eq(s.events, 5);
	ck_assert_uint_eq(s.truth_pairs, 2);
	ck_assert_uint_eq(s.pred_pairs, 2);
	ck_assert_uint_eq(s.both_pairs, 2);
	ck_assert_uint_eq(s.truth_clusters, 2);
	ck_assert_uint_eq(s.truth_noise, 1);
	ck_assert_uint_eq(s.pred_alone, 1);
	ck_assert_close(s.precision, 1);
	ck_assert_close(s.recall, 1);
	ck_assert_close(s.f1, 1);
}
END_TEST

START_TEST(score_wrong_merge_costs_precision)
{
	uint64_t t[] = {1, 1, 2, 2}, p[] = {5, 5, 5, 5};
	struct tn__sim_score s;

	score(t, p, 4, &s);
	ck_assert_uint_eq(s.pred_pairs, 6);
	ck_assert_uint_eq(s.truth_pairs, 2);
	ck_assert_uint_eq(s.both_pairs, 2);
	ck_assert_close(s.precision, 2.0 / 6);
	ck_assert_close(s.recall, 1);
	ck_assert_close(s.f1, 0.5);
}
END_TEST

START_TEST(score_split_costs_recall)
{
	uint64_t t[] = {1, 1, 1, 1}, p[] = {1, 1, 2, 2};
	struct tn__sim_score s;

	score(t, p, 4, &s);
	ck_assert_uint_eq(s.truth_pairs, 6);
	ck_assert_uint_eq(s.pred_pairs, 2);
	ck_assert_uint_eq(s.both_pairs, 2);
	ck_assert_close(s.precision, 1);
	ck_assert_close(s.recall, 2.0 / 6);
	ck_assert_close(s.f1, 0.5);
}
END_TEST

START_TEST(score_noise_joined_to_a_cascade)
{
	uint64_t t[] = {1, 1, S | 2}, p[] = {4, 4, 4};
	struct tn__sim_score s;

	score(t, p, 3, &s);
	ck_assert_uint_eq(s.pred_pairs, 3);
	ck_assert_uint_eq(s.truth_pairs, 1);
	ck_assert_uint_eq(s.both_pairs, 1);
	ck_assert_close(s.precision, 1.0 / 3);
	ck_assert_close(s.recall, 1);
	ck_assert_close(s.f1, 0.5);
}
END_TEST

START_TEST(score_nothing_claimed_and_degenerate_cases)
{
	uint64_t t[] = {1, 1, 1}, p[] = {S | 1, S | 2, S | 3};
	uint64_t same[] = {S | 1, S | 1}; /* singleton labels never pair, even equal ones */
	struct tn__sim_score s;

	score(t, p, 3, &s);
	ck_assert_uint_eq(s.pred_pairs, 0);
	ck_assert_close(s.precision, 1); /* nothing claimed, nothing wrong */
	ck_assert_close(s.recall, 0);
	ck_assert_close(s.f1, 0);
	ck_assert_uint_eq(s.pred_alone, 3);
	score(same, same, 2, &s);
	ck_assert_uint_eq(s.truth_pairs, 0);
	ck_assert_uint_eq(s.pred_pairs, 0);
	ck_assert_close(s.f1, 1);
	score(NULL, NULL, 0, &s);
	ck_assert_uint_eq(s.events, 0);
	ck_assert_close(s.f1, 1);
}
END_TEST

/* The same pair counts as an all-pairs count on a bigger random clustering. */
START_TEST(score_matches_brute_force)
{
	enum { N = 300 };
	uint64_t t[N], p[N], tp = 0, pp = 0, both = 0;
	struct tn__rng r;
	struct tn__sim_score s;

	tn__rng_seed(&r, 42, 0);
	for (int i = 0; i < N; i++) {
		t[i] = tn__rng_chance(&r, 0.1) ? S | (uint64_t)i : 1 + tn__rng_below(&r, 12);
		p[i] = tn__rng_chance(&r, 0.1) ? S | (uint64_t)i : 1 + tn__rng_below(&r, 15);
	}
	for (int i = 0; i < N; i++)
		for (int j = i + 1; j < N; j++) {
			bool st = !(t[i] & S) && t[i] == t[j], sp = !(p[i] & S) && p[i] == p[j];
			tp += st;
			pp += sp;
			both += st && sp;
		}
	score(t, p, N, &s);
	ck_assert_uint_eq(s.truth_pairs, tp);
	ck_assert_uint_eq(s.pred_pairs, pp);
	ck_assert_uint_eq(s.both_pairs, both);
	ck_assert_close(s.precision, (double)both / pp);
	ck_assert_close(s.recall, (double)both / tp);
}
END_TEST

/* ---- files ------------------------------------------------------------------- */

static const char tiny_scenario[] = "t_offset_s,source,sector,asset,type,severity,summary\n"
				    "0,s,energy,a,asset.down,,\n"      /* L2 cascade 1 */
				    "5,s,energy,b,asset.down,,\n"      /* L3 cascade 1 */
				    "6,s,water,c,asset.down,,\n"       /* L4 cascade 1 */
				    "7,s,water,n,asset.down,,\n"       /* L5 noise */
				    "9,s,energy,d,asset.down,,\n"      /* L6 cascade 2 */
				    "10,s,energy,e,asset.degraded,,\n" /* L7 cascade 2 */
				    "100,s,energy,a,asset.up,,\n";     /* L8 cascade 1 */
static const char tiny_truth[] = "line,cascade\n2,1\n3,1\n4,1\n5,noise\n6,2\n7,2\n8,1\n";

#define REV(seq, inc, rev, msg, extra, members)                                                    \
	"{\"seq\":" #seq ",\"incident\":\"" inc "\",\"rev\":" #rev ",\"msg\":\"" msg "\"" extra    \
	",\"affected\":[" members "]}\n"
#define M(id) "{\"asset\":\"x\",\"event\":{\"source\":\"s\",\"id\":\"" id "\"}}"

START_TEST(score_files_last_revisions_and_merges)
{
	struct tn__sim_score s;
	char err[512] = "";

	write_file("scenario.csv", tiny_scenario);
	write_file("truth.csv", tiny_truth);
	/* clang-format off */
	write_file("alerts.jsonl",
		   REV(1, "INC-A", 1, "alert", "", M("L2"))
		   REV(2, "INC-A", 2, "update", "", M("L2") "," M("L3"))
		   REV(3, "INC-B", 1, "alert", "", M("L4") "," M("L5"))
		   REV(4, "INC-C", 1, "alert", "", M("L6") ",{\"asset\":\"p\",\"event\":null}")
		   REV(5, "INC-B", 2, "merged", ",\"merged_into\":\"INC-A\"", M("L4") "," M("L5"))
		   /* a restoration names the failure it ends */
		   REV(6, "INC-A", 3, "resolved", "", M("L8") "," M("L3"))
		   /* an older revision after a newer one changes nothing */
		   REV(7, "INC-A", 2, "update", "", M("L7"))
		   "\n");
	/* clang-format on */
	ck_assert_int_eq(tn__sim_score_files(in_dir("truth.csv"), in_dir("scenario.csv"),
					     in_dir("alerts.jsonl"), &s, err, sizeof err),
			 0);
	ck_assert_str_eq(err, "");
	/* predicted {L2 L3 L4 L5} {L6} {L7}; truth {L2 L3 L4} {L5} {L6 L7} */
	ck_assert_uint_eq(s.events, 6);
	ck_assert_uint_eq(s.incidents, 3);
	ck_assert_uint_eq(s.revisions, 7);
	ck_assert_uint_eq(s.pred_pairs, 6);
	ck_assert_uint_eq(s.truth_pairs, 4);
	ck_assert_uint_eq(s.both_pairs, 3);
	ck_assert_uint_eq(s.foreign, 1); /* the member without an event */
	ck_assert_close(s.precision, 0.5);
	ck_assert_close(s.recall, 0.75);
	ck_assert_close(s.f1, 0.6);
}
END_TEST

/* The same in the engine's canonical key order, where the scorer skips the
 * forecast and the explanations (a bare "merged_into" in a later string is
 * no key: strings cannot hold bare quotes). */
#define CREV(seq, inc, rev, msg, members, tail)                                                    \
	"{\"seq\":" #seq ",\"incident\":\"" inc "\",\"rev\":" #rev ",\"msg\":\"" msg               \
	"\",\"affected\":[" members "],\"at_risk\":[{\"asset\":\"q\",\"via\":\"x\"}],"             \
	"\"explain\":[{\"path\":[\"a,\\\"merged_into\\\":\"]}]" tail "}\n"

START_TEST(score_files_canonical_order)
{
	struct tn__sim_score s;
	char err[512] = "";

	write_file("scenario.csv", tiny_scenario);
	write_file("truth.csv", tiny_truth);
	/* clang-format off */
	write_file("alerts.jsonl",
		   CREV(1, "INC-A", 1, "alert", M("L2"), "")
		   CREV(2, "INC-A", 2, "update", M("L2") "," M("L3"), "")
		   CREV(3, "INC-B", 1, "alert", M("L4") "," M("L5"), "")
		   CREV(4, "INC-C", 1, "alert", M("L6"), "")
		   CREV(5, "INC-B", 2, "merged", M("L4") "," M("L5"), ",\"merged_into\":\"INC-A\"")
		   CREV(6, "INC-A", 3, "resolved", M("L8") "," M("L3"), ""));
	/* clang-format on */
	ck_assert_int_eq(tn__sim_score_files(in_dir("truth.csv"), in_dir("scenario.csv"),
					     in_dir("alerts.jsonl"), &s, err, sizeof err),
			 0);
	ck_assert_str_eq(err, "");
	ck_assert_uint_eq(s.revisions, 6);
	ck_assert_uint_eq(s.pred_pairs, 6);
	ck_assert_uint_eq(s.truth_pairs, 4);
	ck_assert_uint_eq(s.both_pairs, 3);
	ck_assert_uint_eq(s.foreign, 0);
	ck_assert_close(s.f1, 0.6);
}
END_TEST

START_TEST(score_files_errors)
{
	struct tn__sim_score s;
	char err[512];

	write_file("scenario.csv", tiny_scenario);
	write_file("alerts.jsonl", REV(1, "INC-A", 1, "alert", "", M("L2")));
	write_file("truth.csv", "line,cascade\n2,1\n3,1\n4,1\n5,noise\n6,2\n8,1\n");
	ck_assert_int_eq(tn__sim_score_files(in_dir("truth.csv"), in_dir("scenario.csv"),
					     in_dir("alerts.jsonl"), &s, err, sizeof err),
			 TN_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "no ground truth for line 7"));
	write_file("truth.csv", "line,cascade\n2,one\n");
	ck_assert_int_eq(tn__sim_score_files(in_dir("truth.csv"), in_dir("scenario.csv"),
					     in_dir("alerts.jsonl"), &s, err, sizeof err),
			 TN_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "truth.csv:2: cascade: expected a positive integer"));
	write_file("truth.csv", tiny_truth);
	write_file("alerts.jsonl", "{\"incident\":\"INC-A\"\n");
	ck_assert_int_eq(tn__sim_score_files(in_dir("truth.csv"), in_dir("scenario.csv"),
					     in_dir("alerts.jsonl"), &s, err, sizeof err),
			 TN_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "alerts.jsonl:1: expected a JSON object"));
	ck_assert_int_eq(tn__sim_score_files(in_dir("truth.csv"), in_dir("scenario.csv"),
					     in_dir("none.jsonl"), &s, err, sizeof err),
			 TN_EIO);
}
END_TEST

/* ---- the city ------------------------------------------------------------------ */

/* Generate a city into memory. */
static void city_mem(uint64_t n, uint64_t seed, char **a, size_t *alen, char **d, size_t *dlen,
		     struct tn__sim_city_stats *st)
{
	struct tn__sim_city_opts o = {.assets = n, .seed = seed, .deps_per_asset = 3.0};
	char err[256];
	FILE *fa = open_memstream(a, alen), *fd = open_memstream(d, dlen);

	ck_assert_int_eq(tn__sim_city(&o, fa, fd, st, err, sizeof err), 0);
	fclose(fa);
	fclose(fd);
}

START_TEST(city_same_seed_same_bytes)
{
	char *a1, *d1, *a2, *d2, *a3, *d3;
	size_t al1, dl1, al2, dl2, al3, dl3;
	struct tn__sim_city_stats st;

	city_mem(800, 11, &a1, &al1, &d1, &dl1, &st);
	city_mem(800, 11, &a2, &al2, &d2, &dl2, &st);
	city_mem(800, 12, &a3, &al3, &d3, &dl3, &st);
	ck_assert_uint_eq(al1, al2);
	ck_assert_uint_eq(dl1, dl2);
	ck_assert(memcmp(a1, a2, al1) == 0);
	ck_assert(memcmp(d1, d2, dl1) == 0);
	ck_assert(al1 != al3 || memcmp(a1, a3, al1) != 0);
	ck_assert(dl1 != dl3 || memcmp(d1, d3, dl1) != 0);
	free(a1);
	free(d1);
	free(a2);
	free(d2);
	free(a3);
	free(d3);
}
END_TEST

/* Split a text into lines in place. */
static size_t lines(char *text, char ***out)
{
	size_t n = 0, cap = 1024;
	char **v = malloc(cap * sizeof *v);

	for (char *p = strtok(text, "\n"); p; p = strtok(NULL, "\n")) {
		if (n == cap)
			v = realloc(v, (cap *= 2) * sizeof *v);
		v[n++] = p;
	}
	*out = v;
	return n;
}

/* Split a row in place at its commas (the generator never quotes). */
static int split(char *s, char **f, int max)
{
	int n = 0;

	f[n++] = s;
	for (; *s; s++)
		if (*s == ',') {
			if (n == max)
				return -1;
			*s = '\0';
			f[n++] = s + 1;
		}
	return n;
}

START_TEST(city_valid)
{
	char *a, *d, **al, **dl;
	size_t alen, dlen, na, nd;
	struct tn__sim_city_stats st;
	struct smap ids = {0}, edges = {0};
	static const char *const kinds[] = {"grid-supply-point",
					    "primary-substation",
					    "feeder",
					    "secondary-substation",
					    "treatment-works",
					    "pumping-station",
					    "reservoir",
					    "telephone-exchange",
					    "mast",
					    "data-centre",
					    "rail-line",
					    "rail-signalling",
					    "railway-station",
					    "traffic-signals",
					    "hospital",
					    "care-home",
					    "gp-surgery",
					    "ambulance-station",
					    "control-room",
					    "fire-station"};
	struct smap seen = {0};
	FILE *f;
	struct tn_graph *g;

	city_mem(2000, 3, &a, &alen, &d, &dlen, &st);
	/* through the graph's builder: every field in range, every edge legal */
	f = fopen(in_dir("assets.csv"), "w");
	fwrite(a, 1, alen, f);
	fclose(f);
	f = fopen(in_dir("dependencies.csv"), "w");
	fwrite(d, 1, dlen, f);
	fclose(f);
	ck_assert_int_eq(
		tn__sim_load_graph(in_dir("assets.csv"), in_dir("dependencies.csv"), stderr, &g),
		0);
	ck_assert_uint_eq(tn_graph_size(g), 2000);
	ck_assert_uint_eq(tn_graph_edges(g), 6000);
	tn_graph_free(g);

	na = lines(a, &al);
	nd = lines(d, &dl);
	ck_assert_str_eq(al[0], "id,sector,kind,name,lat,lon,area,criticality,population,backup_s,"
				"sensitivity");
	ck_assert_str_eq(dl[0], "dependent,provider,kind,delay_min_s,delay_max_s");
	ck_assert_uint_eq(na, 2001);
	ck_assert_uint_eq(nd, 6001);
	ck_assert_uint_eq(st.assets, 2000);
	ck_assert_uint_eq(st.edges, 6000);
	for (size_t i = 1; i < na; i++) {
		char *fl[12];
		ck_assert_int_eq(split(al[i], fl, 12), 11);
		ck_assert_int_eq(smap_put(&ids, fl[0], 1), 0);
		ck_assert_int_eq(smap_put(&seen, fl[2], 1), 0);
	}
	ck_assert_uint_eq(ids.n, 2000); /* ids unique */
	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
		ck_assert_msg(smap_get(&seen, kinds[k]) != NONE, "no %s", kinds[k]);
	for (size_t i = 1; i < nd; i++) {
		char *fl[6], key[256];
		ck_assert_int_eq(split(dl[i], fl, 6), 5);
		ck_assert_msg(smap_get(&ids, fl[0]) != NONE, "unknown dependent %s", fl[0]);
		ck_assert_msg(smap_get(&ids, fl[1]) != NONE, "unknown provider %s", fl[1]);
		ck_assert_str_ne(fl[0], fl[1]);
		ck_assert_int_ge(tn_dep_kind_parse(fl[2], strlen(fl[2])), 0);
		ck_assert((*fl[3] == '\0') == (*fl[4] == '\0'));
		if (*fl[3])
			ck_assert_int_le(atoi(fl[3]), atoi(fl[4]));
		snprintf(key, sizeof key, "%s %s %s", fl[0], fl[1], fl[2]);
		ck_assert_msg(smap_get(&edges, key) == NONE, "duplicate %s", key);
		ck_assert_int_eq(smap_put(&edges, key, 1), 0);
	}
	smap_free(&ids);
	smap_free(&edges);
	smap_free(&seen);
	free(al);
	free(dl);
	free(a);
	free(d);
}
END_TEST

START_TEST(city_bounds)
{
	struct tn__sim_city_opts o = {.assets = 99, .seed = 1, .deps_per_asset = 3};
	char err[256];
	char *a, *d;
	size_t al, dl;
	FILE *fa = open_memstream(&a, &al), *fd = open_memstream(&d, &dl);

	ck_assert_int_eq(tn__sim_city(&o, fa, fd, NULL, err, sizeof err), TN_EINVAL);
	ck_assert_str_eq(err, "--assets: expected 100..20000000, got 99");
	o.assets = 100;
	ck_assert_int_eq(tn__sim_city(&o, fa, fd, NULL, err, sizeof err), 0);
	o.deps_per_asset = 17;
	ck_assert_int_eq(tn__sim_city(&o, fa, fd, NULL, err, sizeof err), TN_EINVAL);
	fclose(fa);
	fclose(fd);
	free(a);
	free(d);
}
END_TEST

/* ---- cascades ------------------------------------------------------------------ */

static struct tn_graph *city_graph(uint64_t n, uint64_t seed)
{
	struct tn__sim_city_opts o = {.assets = n, .seed = seed, .deps_per_asset = 3.0};
	struct tn_graph *g;
	char err[256];
	FILE *fa = fopen(in_dir("assets.csv"), "w"), *fd = fopen(in_dir("dependencies.csv"), "w");

	ck_assert_int_eq(tn__sim_city(&o, fa, fd, NULL, err, sizeof err), 0);
	fclose(fa);
	fclose(fd);
	ck_assert_int_eq(
		tn__sim_load_graph(in_dir("assets.csv"), in_dir("dependencies.csv"), stderr, &g),
		0);
	return g;
}

static void cascades_mem(const struct tn_graph *g, const struct tn__sim_cascade_opts *o, char **sc,
			 size_t *sl, char **tr, size_t *tl, struct tn__sim_cascade_stats *st)
{
	FILE *fs = open_memstream(sc, sl), *ft = open_memstream(tr, tl);
	char err[256];

	ck_assert_int_eq(tn__sim_cascades(g, o, fs, ft, st, err, sizeof err), 0);
	fclose(fs);
	fclose(ft);
}

START_TEST(cascades_same_seed_same_bytes)
{
	struct tn_graph *g = city_graph(3000, 5);
	struct tn__sim_cascade_opts o;
	struct tn__sim_cascade_stats st;
	char *s1, *t1, *s2, *t2, *s3, *t3;
	size_t sl1, tl1, sl2, tl2, sl3, tl3;

	tn__sim_cascade_defaults(&o);
	o.seed = 9;
	o.cascades = 15;
	cascades_mem(g, &o, &s1, &sl1, &t1, &tl1, &st);
	cascades_mem(g, &o, &s2, &sl2, &t2, &tl2, &st);
	o.seed = 10;
	cascades_mem(g, &o, &s3, &sl3, &t3, &tl3, &st);
	ck_assert_uint_eq(sl1, sl2);
	ck_assert_uint_eq(tl1, tl2);
	ck_assert(memcmp(s1, s2, sl1) == 0);
	ck_assert(memcmp(t1, t2, tl1) == 0);
	ck_assert(sl1 != sl3 || memcmp(s1, s3, sl1) != 0);
	free(s1);
	free(t1);
	free(s2);
	free(t2);
	free(s3);
	free(t3);
	tn_graph_free(g);
}
END_TEST

START_TEST(cascades_valid_and_bounded_lateness)
{
	struct tn_graph *g = city_graph(3000, 5);
	struct tn__sim_cascade_opts o;
	struct tn__sim_cascade_stats st;
	struct tn__scenario *sc;
	char *s, *t, **tl;
	size_t sl, tlen, nt;
	int64_t maxt = INT64_MIN;
	uint64_t cascades = 0, noise = 0, failures = 0, ups = 0;
	FILE *f;

	tn__sim_cascade_defaults(&o);
	o.seed = 4;
	o.cascades = 12;
	o.reorder = 0.3;
	o.late_max_s = 45;
	cascades_mem(g, &o, &s, &sl, &t, &tlen, &st);
	ck_assert_uint_eq(st.cascades, 12);
	ck_assert_uint_gt(st.late, 0);
	ck_assert_uint_gt(st.missing, 0);
	f = fopen(in_dir("scenario.csv"), "w");
	fwrite(s, 1, sl, f);
	fclose(f);
	ck_assert_int_eq(tn__scenario_read(in_dir("scenario.csv"), 0, stderr, 10, &sc), 0);
	ck_assert_uint_eq(sc->n, st.lines);
	nt = lines(t, &tl);
	ck_assert_str_eq(tl[0], "line,cascade");
	ck_assert_uint_eq(nt, sc->n + 1);
	for (size_t i = 0; i < sc->n; i++) {
		char want[32];
		const char *c = strchr(tl[i + 1], ',') + 1;

		/* one truth row per scenario row, in order */
		snprintf(want, sizeof want, "%zu,", i + 2);
		ck_assert(strncmp(tl[i + 1], want, strlen(want)) == 0);
		ck_assert_uint_eq(sc->line[i], i + 2);
		ck_assert(strcmp(c, "noise") == 0 || atoi(c) >= 1);
		if (strcmp(c, "noise") == 0)
			noise += sc->ev[i].type != TN_EV_UP;
		else if ((uint64_t)atoi(c) > cascades)
			cascades = (uint64_t)atoi(c);
		failures += sc->ev[i].type == TN_EV_DOWN || sc->ev[i].type == TN_EV_DEGRADED;
		ups += sc->ev[i].type == TN_EV_UP;
		/* no report arrives after one stamped more than late_max_s after it */
		if (sc->ev[i].time_us > maxt)
			maxt = sc->ev[i].time_us;
		ck_assert_int_ge(sc->ev[i].time_us, maxt - INT64_C(45000000));
		ck_assert(strncmp(sc->ev[i].source, "sim/", 4) == 0);
		ck_assert_uint_ne(tn_graph_find(g, sc->ev[i].asset), TN_GRAPH_NONE);
	}
	ck_assert_uint_eq(cascades, 12);
	ck_assert_uint_eq(failures + ups, st.lines);
	ck_assert_uint_eq(st.lines + st.missing, 2 * (st.failures + st.noise));
	free(tl);
	free(s);
	free(t);
	tn__scenario_free(sc);
	tn_graph_free(g);
}
END_TEST

/* Without loss or delay every report is there and the file is in time order. */
START_TEST(cascades_clean_is_complete_and_sorted)
{
	struct tn_graph *g = city_graph(2000, 8);
	struct tn__sim_cascade_opts o;
	struct tn__sim_cascade_stats st;
	struct tn__scenario *sc;
	char *s, *t;
	size_t sl, tl;
	FILE *f;

	tn__sim_cascade_defaults(&o);
	o.seed = 2;
	o.cascades = 10;
	o.missing = 0;
	o.reorder = 0;
	o.noise_per_hour = 1;
	cascades_mem(g, &o, &s, &sl, &t, &tl, &st);
	ck_assert_uint_eq(st.missing, 0);
	ck_assert_uint_eq(st.late, 0);
	ck_assert_uint_eq(st.noise, 24);
	ck_assert_uint_eq(st.restores, st.failures + st.noise);
	ck_assert_uint_eq(st.lines, 2 * (st.failures + st.noise));
	f = fopen(in_dir("scenario.csv"), "w");
	fwrite(s, 1, sl, f);
	fclose(f);
	ck_assert_int_eq(tn__scenario_read(in_dir("scenario.csv"), 0, stderr, 10, &sc), 0);
	for (size_t i = 1; i < sc->n; i++)
		ck_assert_int_ge(sc->ev[i].time_us, sc->ev[i - 1].time_us);
	tn__scenario_free(sc);
	free(s);
	free(t);
	tn_graph_free(g);
}
END_TEST

START_TEST(cascades_bad_options)
{
	struct tn_graph *g = city_graph(500, 1);
	struct tn__sim_cascade_opts o;
	char err[256];
	FILE *n = fopen("/dev/null", "w");

	tn__sim_cascade_defaults(&o);
	o.missing = 1.5;
	ck_assert_int_eq(tn__sim_cascades(g, &o, n, n, NULL, err, sizeof err), TN_EINVAL);
	tn__sim_cascade_defaults(&o);
	o.duration_s = 10;
	ck_assert_int_eq(tn__sim_cascades(g, &o, n, n, NULL, err, sizeof err), TN_EINVAL);
	fclose(n);
	tn_graph_free(g);
}
END_TEST

static Suite *sim_suite(void)
{
	Suite *s = suite_create("sim");
	TCase *score_tc = tcase_create("score");
	TCase *gen = tcase_create("generators");

	tcase_add_checked_fixture(score_tc, setup, teardown);
	tcase_add_test(score_tc, score_perfect_whatever_the_labels);
	tcase_add_test(score_tc, score_wrong_merge_costs_precision);
	tcase_add_test(score_tc, score_split_costs_recall);
	tcase_add_test(score_tc, score_noise_joined_to_a_cascade);
	tcase_add_test(score_tc, score_nothing_claimed_and_degenerate_cases);
	tcase_add_test(score_tc, score_matches_brute_force);
	tcase_add_test(score_tc, score_files_last_revisions_and_merges);
	tcase_add_test(score_tc, score_files_canonical_order);
	tcase_add_test(score_tc, score_files_errors);
	suite_add_tcase(s, score_tc);

	tcase_add_checked_fixture(gen, setup, teardown);
	tcase_set_timeout(gen, 60);
	tcase_add_test(gen, city_same_seed_same_bytes);
	tcase_add_test(gen, city_valid);
	tcase_add_test(gen, city_bounds);
	tcase_add_test(gen, cascades_same_seed_same_bytes);
	tcase_add_test(gen, cascades_valid_and_bounded_lateness);
	tcase_add_test(gen, cascades_clean_is_complete_and_sorted);
	tcase_add_test(gen, cascades_bad_options);
	suite_add_tcase(s, gen);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sim_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
