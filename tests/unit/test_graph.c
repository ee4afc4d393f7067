/* test_graph.c - the asset registry in memory (tocsin/graph.h). */
#include "tocsin/graph.h"

#include "tocsin/error.h"
#include "../../correlator/corr_internal.h" /* tn__graph_near_any */

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* For hot loops: a passing ck_assert costs a write(2). */
#define QUICK_ASSERT(cond, ...)                                                                    \
	do {                                                                                       \
		if (!(cond))                                                                       \
			ck_abort_msg(__VA_ARGS__);                                                 \
	} while (0)

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static double uniform(uint64_t *x, double lo, double hi)
{
	return lo + (hi - lo) * ((double)(splitmix(x) >> 11) / (double)(UINT64_C(1) << 53));
}

static struct tn_asset asset(const char *id, enum tn_sector sector, double lat, double lon,
			     int32_t backup_s)
{
	return (struct tn_asset){
		.id = id,
		.sector = sector,
		.kind = "substation",
		.name = "Bow Common",
		.lat = lat,
		.lon = lon,
		.area = "E09000030",
		.criticality = 2,
		.population = 12000,
		.backup_s = backup_s,
		.sensitivity = TN_SENS_OFFICIAL,
	};
}

static struct tn_dependency dep(const char *dependent, const char *provider, enum tn_dep_kind k,
				int32_t min, int32_t max)
{
	return (struct tn_dependency){dependent, provider, k, min, max};
}

static struct tn_graph_builder *new_builder(void)
{
	struct tn_graph_builder *b = NULL;

	ck_assert_int_eq(tn_graph_builder_new(0, 0, &b), 0);
	ck_assert_ptr_nonnull(b);
	return b;
}

static void add_ok(struct tn_graph_builder *b, struct tn_asset a)
{
	char msg[256];
	int rc = tn_graph_add_asset(b, &a, msg, sizeof msg);

	ck_assert_msg(rc == 0, "add %s: %d %s", a.id, rc, msg);
}

static void dep_ok(struct tn_graph_builder *b, struct tn_dependency d)
{
	char msg[256];
	int rc = tn_graph_add_dependency(b, &d, msg, sizeof msg);

	ck_assert_msg(rc == 0, "dep %s -> %s: %d %s", d.dependent, d.provider, rc, msg);
}

START_TEST(names)
{
	ck_assert_str_eq(tn_sensitivity_name(TN_SENS_OFFICIAL_SENSITIVE), "official-sensitive");
	ck_assert_ptr_null(tn_sensitivity_name(TN_SENS__COUNT));
	ck_assert_ptr_null(tn_sensitivity_name((enum tn_sensitivity) - 1));
	ck_assert_int_eq(tn_sensitivity_parse("official", 8), TN_SENS_OFFICIAL);
	ck_assert_int_eq(tn_sensitivity_parse("officialX", 8), TN_SENS_OFFICIAL);
	ck_assert_int_eq(tn_sensitivity_parse("officia", 7), -1);
	ck_assert_int_eq(tn_sensitivity_parse("", 0), -1);
	ck_assert_int_eq(tn_sensitivity_parse(NULL, 0), -1);
	for (int k = 0; k < TN_DEP__COUNT; k++) {
		const char *n = tn_dep_kind_name((enum tn_dep_kind)k);
		ck_assert_ptr_nonnull(n);
		ck_assert_int_eq(tn_dep_kind_parse(n, strlen(n)), k);
	}
	ck_assert_int_eq(tn_dep_kind_parse("Power", 5), -1);
	ck_assert_ptr_null(tn_dep_kind_name(TN_DEP__COUNT));

	ck_assert(tn_asset_id_ok("ukpn:sub.BOW-01_a", 17));
	ck_assert(!tn_asset_id_ok("", 0));
	ck_assert(!tn_asset_id_ok("a b", 3));
	ck_assert(!tn_asset_id_ok("a/b", 3));
	ck_assert(!tn_asset_id_ok("caf\xc3\xa9", 5));
	char id[66];
	memset(id, 'x', sizeof id);
	ck_assert(tn_asset_id_ok(id, 64));
	ck_assert(!tn_asset_id_ok(id, 65));
}
END_TEST

/*
 *  S (substation) <-power- P (pumping station) <-water- H (hospital)
 *  S <-power- H, H <-communications- M (mast), M <-power- S
 */
START_TEST(build_and_read)
{
	struct tn_graph_builder *b = new_builder();
	struct tn_graph *g = NULL;
	const struct tn_graph_edge *e;
	char id[16], kind[16], name[16], area[16];

	/* the builder copies: the caller's buffers are reused at once */
	strcpy(id, "S");
	strcpy(kind, "substation");
	strcpy(name, "Bow, \"Common\"");
	strcpy(area, "E09000030");
	struct tn_asset a = asset(id, TN_SECTOR_ENERGY, 51.52, -0.02, 0);
	a.kind = kind;
	a.name = name;
	a.area = area;
	add_ok(b, a);
	strcpy(id, "XX");
	strcpy(kind, "junk");
	strcpy(name, "junk");
	strcpy(area, "junk");
	add_ok(b, asset("P", TN_SECTOR_WATER, 51.53, -0.03, 1800));
	add_ok(b, asset("H", TN_SECTOR_HEALTH, 51.54, -0.04, 7200));
	struct tn_asset m = asset("M", TN_SECTOR_COMMUNICATIONS, 51.55, -0.05, 600);
	m.name = "";
	m.sensitivity = TN_SENS_PUBLIC;
	m.population = 0;
	add_ok(b, m);
	ck_assert_uint_eq(tn_graph_builder_size(b), 4);
	ck_assert_uint_eq(tn_graph_builder_find(b, "H"), 2);
	ck_assert_uint_eq(tn_graph_builder_find(b, "XX"), TN_GRAPH_NONE);

	dep_ok(b, dep("P", "S", TN_DEP_POWER, -1, -1));
	dep_ok(b, dep("H", "P", TN_DEP_WATER, 3600, 14400));
	dep_ok(b, dep("H", "S", TN_DEP_POWER, -1, -1));
	dep_ok(b, dep("H", "M", TN_DEP_COMMUNICATIONS, 0, 0));
	dep_ok(b, dep("M", "S", TN_DEP_POWER, -1, -1));
	/* same pair, another kind: a second edge */
	dep_ok(b, dep("H", "S", TN_DEP_OTHER, 10, 20));
	ck_assert_uint_eq(tn_graph_builder_edges(b), 6);
	/* hints change nothing, whatever they are given */
	struct tn_dependency hd = dep("H", "S", TN_DEP_POWER, -1, -1);
	tn_graph_builder_prefetch(b, "H");
	tn_graph_builder_prefetch(b, "no such");
	tn_graph_builder_prefetch(b, NULL);
	tn_graph_builder_prefetch(NULL, "H");
	tn_graph_builder_prefetch_dependency(b, &hd);
	hd.provider = "nope";
	tn_graph_builder_prefetch_dependency(b, &hd);
	hd.kind = (enum tn_dep_kind)99;
	tn_graph_builder_prefetch_dependency(b, &hd);
	tn_graph_builder_prefetch_dependency(b, NULL);
	ck_assert_uint_eq(tn_graph_builder_size(b), 4);
	ck_assert_uint_eq(tn_graph_builder_find_dependency(b, 2, 0, TN_DEP_POWER), 2);
	ck_assert_uint_eq(tn_graph_builder_find_dependency(b, 2, 0, TN_DEP_OTHER), 5);
	ck_assert_uint_eq(tn_graph_builder_find_dependency(b, 2, 0, TN_DEP_GAS), TN_GRAPH_NONE);

	ck_assert_int_eq(tn_graph_build(b, &g), 0);
	ck_assert_uint_eq(tn_graph_size(g), 4);
	ck_assert_uint_eq(tn_graph_edges(g), 6);

	const struct tn_asset *s = tn_graph_asset(g, 0);
	ck_assert_str_eq(s->id, "S");
	ck_assert_str_eq(s->kind, "substation");
	ck_assert_str_eq(s->name, "Bow, \"Common\"");
	ck_assert_str_eq(s->area, "E09000030");
	ck_assert_int_eq(s->sector, TN_SECTOR_ENERGY);
	ck_assert(s->lat == 51.52 && s->lon == -0.02);
	ck_assert_int_eq(s->criticality, 2);
	ck_assert_int_eq(s->population, 12000);
	ck_assert_int_eq(s->sensitivity, TN_SENS_OFFICIAL);
	ck_assert_str_eq(tn_graph_asset(g, 3)->name, "");
	ck_assert_int_eq(tn_graph_asset(g, 3)->sensitivity, TN_SENS_PUBLIC);
	ck_assert_ptr_null(tn_graph_asset(g, 4));
	ck_assert_ptr_null(tn_graph_asset(g, TN_GRAPH_NONE));

	ck_assert_uint_eq(tn_graph_find(g, "S"), 0);
	ck_assert_uint_eq(tn_graph_find(g, "P"), 1);
	ck_assert_uint_eq(tn_graph_find(g, "H"), 2);
	ck_assert_uint_eq(tn_graph_find(g, "M"), 3);
	ck_assert_uint_eq(tn_graph_find(g, "XX"), TN_GRAPH_NONE);
	ck_assert_uint_eq(tn_graph_find(g, ""), TN_GRAPH_NONE);
	ck_assert_uint_eq(tn_graph_find(g, NULL), TN_GRAPH_NONE);

	/* providers of H, in the order added; delays resolved */
	ck_assert_uint_eq(tn_graph_providers(g, 2, &e), 4);
	ck_assert_uint_eq(e[0].other, 1);
	ck_assert_int_eq(e[0].kind, TN_DEP_WATER);
	ck_assert_int_eq(e[0].delay_min_s, 3600);
	ck_assert_int_eq(e[0].delay_max_s, 14400);
	ck_assert_uint_eq(e[1].other, 0);
	ck_assert_int_eq(e[1].kind, TN_DEP_POWER);
	ck_assert_int_eq(e[1].delay_min_s, 7200); /* derived from H's backup_s */
	ck_assert_int_eq(e[1].delay_max_s, 7200 + TN_GRAPH_DERIVED_SPREAD_S);
	ck_assert_uint_eq(e[2].other, 3);
	ck_assert_int_eq(e[2].delay_min_s, 0);
	ck_assert_int_eq(e[2].delay_max_s, 0);
	ck_assert_uint_eq(e[3].other, 0);
	ck_assert_int_eq(e[3].kind, TN_DEP_OTHER);

	/* dependents of S: P, H (power), M, H (other); derived from each dependent */
	ck_assert_uint_eq(tn_graph_dependents(g, 0, &e), 4);
	ck_assert_uint_eq(e[0].other, 1);
	ck_assert_int_eq(e[0].delay_min_s, 1800);
	ck_assert_int_eq(e[0].delay_max_s, 1800 + TN_GRAPH_DERIVED_SPREAD_S);
	ck_assert_uint_eq(e[1].other, 2);
	ck_assert_int_eq(e[1].delay_min_s, 7200);
	ck_assert_uint_eq(e[2].other, 3);
	ck_assert_int_eq(e[2].delay_min_s, 600);
	ck_assert_int_eq(e[2].delay_max_s, 900);
	ck_assert_uint_eq(e[3].other, 2);
	ck_assert_int_eq(e[3].kind, TN_DEP_OTHER);

	ck_assert_uint_eq(tn_graph_providers(g, 0, &e), 0);
	ck_assert_uint_eq(tn_graph_dependents(g, 2, &e), 0);
	ck_assert_uint_eq(tn_graph_providers(g, 3, &e), 1);
	ck_assert_uint_eq(e[0].other, 0);
	ck_assert_uint_eq(tn_graph_dependents(g, 3, &e), 1);
	ck_assert_uint_eq(e[0].other, 2);
	ck_assert_uint_eq(tn_graph_providers(g, 4, &e), 0);
	ck_assert_ptr_null(e);
	ck_assert_uint_eq(tn_graph_dependents(g, TN_GRAPH_NONE, NULL), 0);
	ck_assert_uint_gt(tn_graph_memory(g), 0);
	tn_graph_free(g);
}
END_TEST

START_TEST(cycles_allowed)
{
	struct tn_graph_builder *b = new_builder();
	struct tn_graph *g = NULL;
	const struct tn_graph_edge *e;

	add_ok(b, asset("grid", TN_SECTOR_ENERGY, 51.5, -0.1, 0));
	add_ok(b, asset("telco", TN_SECTOR_COMMUNICATIONS, 51.5, -0.1, 3600));
	add_ok(b, asset("scada", TN_SECTOR_DATA, 51.5, -0.1, 60));
	dep_ok(b, dep("telco", "grid", TN_DEP_POWER, -1, -1));
	dep_ok(b, dep("grid", "telco", TN_DEP_COMMUNICATIONS, 60, 600));
	dep_ok(b, dep("scada", "telco", TN_DEP_COMMUNICATIONS, -1, -1));
	dep_ok(b, dep("grid", "scada", TN_DEP_DATA, 0, 30));
	ck_assert_int_eq(tn_graph_build(b, &g), 0);
	ck_assert_uint_eq(tn_graph_providers(g, 0, &e), 2);
	ck_assert_uint_eq(e[0].other, 1);
	ck_assert_uint_eq(e[1].other, 2);
	ck_assert_uint_eq(tn_graph_dependents(g, 0, &e), 1);
	ck_assert_uint_eq(e[0].other, 1);
	ck_assert_int_eq(e[0].delay_min_s, 3600);
	tn_graph_free(g);
}
END_TEST

static void asset_refused(struct tn_asset a, int want, const char *want_msg)
{
	struct tn_graph_builder *b = new_builder();
	char msg[256];
	int rc;

	add_ok(b, asset("taken", TN_SECTOR_ENERGY, 0, 0, 0));
	rc = tn_graph_add_asset(b, &a, msg, sizeof msg);
	ck_assert_msg(rc == want, "%s: got %d (%s)", want_msg, rc, msg);
	ck_assert_str_eq(msg, want_msg);
	ck_assert_uint_eq(tn_graph_builder_size(b), 1);
	/* and without a message buffer */
	ck_assert_int_eq(tn_graph_add_asset(b, &a, NULL, 0), want);
	tn_graph_builder_free(b);
}

START_TEST(asset_validation)
{
	struct tn_asset a;
	char long_id[80], long_name[300];

	asset_refused(asset("taken", TN_SECTOR_WATER, 1, 1, 0), TN_EEXIST,
		      "id: duplicate id \"taken\"");
	asset_refused(asset("", TN_SECTOR_WATER, 1, 1, 0), TN_EINVAL,
		      "id: expected 1-64 of A-Z a-z 0-9 . _ : -, got \"\"");
	asset_refused(asset("a b\n", TN_SECTOR_WATER, 1, 1, 0), TN_EINVAL,
		      "id: expected 1-64 of A-Z a-z 0-9 . _ : -, got \"a b\\x0a\"");
	asset_refused(asset(NULL, TN_SECTOR_WATER, 1, 1, 0), TN_EINVAL,
		      "id: expected 1-64 of A-Z a-z 0-9 . _ : -, got nothing");
	memset(long_id, 'a', 65);
	long_id[65] = '\0';
	asset_refused(asset(long_id, TN_SECTOR_WATER, 1, 1, 0), TN_EINVAL,
		      "id: expected 1-64 of A-Z a-z 0-9 . _ : -, got "
		      "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"");
	asset_refused(asset("x", (enum tn_sector)TN_SECTOR__COUNT, 1, 1, 0), TN_EINVAL,
		      "sector: expected a sector code, got 14");
	asset_refused(asset("x", TN_SECTOR_NONE, 1, 1, 0), TN_EINVAL,
		      "sector: expected a sector code, got -1");
	asset_refused(asset("x", TN_SECTOR_WATER, 91.5, 1, 0), TN_EINVAL,
		      "lat: expected -90..90, got 91.5");
	asset_refused(asset("x", TN_SECTOR_WATER, -90.5, 1, 0), TN_EINVAL,
		      "lat: expected -90..90, got -90.5");
	asset_refused(asset("x", TN_SECTOR_WATER, NAN, 1, 0), TN_EINVAL,
		      "lat: expected -90..90, got nan");
	asset_refused(asset("x", TN_SECTOR_WATER, 1, 180.25, 0), TN_EINVAL,
		      "lon: expected -180..180, got 180.25");
	asset_refused(asset("x", TN_SECTOR_WATER, 1, -INFINITY, 0), TN_EINVAL,
		      "lon: expected -180..180, got -inf");
	asset_refused(asset("x", TN_SECTOR_WATER, 1, 1, -1), TN_EINVAL,
		      "backup_s: expected >= 0, got -1");

	a = asset("x", TN_SECTOR_WATER, 1, 1, 0);
	a.kind = "";
	asset_refused(a, TN_EINVAL, "kind: expected 1-64 bytes of text, got 0 bytes");
	a.kind = NULL;
	asset_refused(a, TN_EINVAL, "kind: expected text, got nothing");
	a.kind = "pump\x1b[31m";
	asset_refused(a, TN_EINVAL,
		      "kind: expected UTF-8 text without control characters, got "
		      "\"pump\\x1b[31m\"");
	a.kind = "pump\xff";
	asset_refused(a, TN_EINVAL,
		      "kind: expected UTF-8 text without control characters, got \"pump\\xff\"");
	a = asset("x", TN_SECTOR_WATER, 1, 1, 0);
	memset(long_name, 'n', 257);
	long_name[257] = '\0';
	a.name = long_name;
	asset_refused(a, TN_EINVAL, "name: expected 0-256 bytes of text, got 257 bytes");
	long_name[256] = '\0';
	a.name = long_name; /* 256: fine */
	{
		struct tn_graph_builder *b = new_builder();
		add_ok(b, a);
		tn_graph_builder_free(b);
	}
	a = asset("x", TN_SECTOR_WATER, 1, 1, 0);
	a.area = "";
	asset_refused(a, TN_EINVAL, "area: expected 1-64 of A-Z a-z 0-9 . _ : -, got \"\"");
	a.area = "North/East";
	asset_refused(a, TN_EINVAL,
		      "area: expected 1-64 of A-Z a-z 0-9 . _ : -, got \"North/East\"");
	a = asset("x", TN_SECTOR_WATER, 1, 1, 0);
	a.criticality = 0;
	asset_refused(a, TN_EINVAL, "criticality: expected 1..5, got 0");
	a.criticality = 6;
	asset_refused(a, TN_EINVAL, "criticality: expected 1..5, got 6");
	a = asset("x", TN_SECTOR_WATER, 1, 1, 0);
	a.population = -5;
	asset_refused(a, TN_EINVAL, "population: expected >= 0, got -5");
	a = asset("x", TN_SECTOR_WATER, 1, 1, 0);
	a.sensitivity = TN_SENS__COUNT;
	asset_refused(a, TN_EINVAL, "sensitivity: expected a sensitivity, got 3");

	/* the extremes are fine */
	struct tn_graph_builder *b = new_builder();
	add_ok(b, asset("n", TN_SECTOR_SPACE, 90, 180, 0));
	add_ok(b, asset("s", TN_SECTOR_SPACE, -90, -180, INT32_MAX));
	tn_graph_builder_free(b);
}
END_TEST

static void dep_refused(struct tn_dependency d, int want, const char *want_msg)
{
	struct tn_graph_builder *b = new_builder();
	char msg[256];
	int rc;

	add_ok(b, asset("A", TN_SECTOR_ENERGY, 0, 0, 0));
	add_ok(b, asset("B", TN_SECTOR_WATER, 0, 0, 0));
	dep_ok(b, dep("B", "A", TN_DEP_POWER, -1, -1));
	rc = tn_graph_add_dependency(b, &d, msg, sizeof msg);
	ck_assert_msg(rc == want, "%s: got %d (%s)", want_msg, rc, msg);
	ck_assert_str_eq(msg, want_msg);
	ck_assert_uint_eq(tn_graph_builder_edges(b), 1);
	ck_assert_int_eq(tn_graph_add_dependency(b, &d, NULL, 0), want);
	tn_graph_builder_free(b);
}

START_TEST(dependency_validation)
{
	dep_refused(dep("B", "A", TN_DEP_POWER, 0, 10), TN_EEXIST,
		    "kind: duplicate dependency of \"B\" on \"A\" for power");
	dep_refused(dep("A", "A", TN_DEP_POWER, -1, -1), TN_EINVAL,
		    "provider: expected an asset other than the dependent, got \"A\"");
	dep_refused(dep("C", "A", TN_DEP_POWER, -1, -1), TN_ENOTFOUND,
		    "dependent: expected the id of an asset, got \"C\"");
	dep_refused(dep("B", "D\"", TN_DEP_POWER, -1, -1), TN_ENOTFOUND,
		    "provider: expected the id of an asset, got \"D\\\"\"");
	dep_refused(dep(NULL, "A", TN_DEP_POWER, -1, -1), TN_ENOTFOUND,
		    "dependent: expected the id of an asset, got nothing");
	dep_refused(dep("B", "A", (enum tn_dep_kind)TN_DEP__COUNT, -1, -1), TN_EINVAL,
		    "kind: expected a dependency kind, got 9");
	dep_refused(dep("B", "A", TN_DEP_GAS, -2, 10), TN_EINVAL,
		    "delay_min_s: expected >= 0 (or -1: derived), got -2");
	dep_refused(dep("B", "A", TN_DEP_GAS, -1, 10), TN_EINVAL,
		    "delay_min_s: expected >= 0 when delay_max_s is given, got -1");
	dep_refused(dep("B", "A", TN_DEP_GAS, 10, -1), TN_EINVAL,
		    "delay_max_s: expected >= delay_min_s when delay_min_s is given, got -1");
	dep_refused(dep("B", "A", TN_DEP_GAS, 10, 9), TN_EINVAL,
		    "delay_max_s: expected >= delay_min_s (10), got 9");
	dep_refused(dep("B", "A", TN_DEP_GAS, 10, -7), TN_EINVAL,
		    "delay_max_s: expected >= delay_min_s (10), got -7");

	/* the derived maximum saturates instead of overflowing */
	struct tn_graph_builder *b = new_builder();
	struct tn_graph *g;
	const struct tn_graph_edge *e;
	add_ok(b, asset("A", TN_SECTOR_ENERGY, 0, 0, 0));
	add_ok(b, asset("B", TN_SECTOR_WATER, 0, 0, INT32_MAX - 10));
	dep_ok(b, dep("B", "A", TN_DEP_POWER, -1, -1));
	dep_ok(b, dep("B", "A", TN_DEP_GAS, 5, 5));
	ck_assert_int_eq(tn_graph_build(b, &g), 0);
	ck_assert_uint_eq(tn_graph_providers(g, 1, &e), 2);
	ck_assert_int_eq(e[0].delay_min_s, INT32_MAX - 10);
	ck_assert_int_eq(e[0].delay_max_s, INT32_MAX);
	ck_assert_int_eq(e[1].delay_min_s, 5);
	tn_graph_free(g);
}
END_TEST

START_TEST(empty_and_misuse)
{
	struct tn_graph_builder *b = new_builder();
	struct tn_graph *g = NULL;
	uint32_t out[4];
	char msg[64];

	ck_assert_int_eq(tn_graph_builder_new(0, 0, NULL), TN_EINVAL);
	ck_assert_int_eq(tn_graph_add_asset(NULL, NULL, msg, sizeof msg), TN_EINVAL);
	ck_assert_int_eq(tn_graph_add_dependency(b, NULL, msg, sizeof msg), TN_EINVAL);
	ck_assert_int_eq(tn_graph_build(b, &g), 0);
	ck_assert_uint_eq(tn_graph_size(g), 0);
	ck_assert_uint_eq(tn_graph_edges(g), 0);
	ck_assert_uint_eq(tn_graph_find(g, "x"), TN_GRAPH_NONE);
	ck_assert_uint_eq(tn_graph_near(g, 0, 0, 1e7, out, 4), 0);
	tn_graph_free(g);
	tn_graph_free(NULL);
	tn_graph_builder_free(NULL);
	ck_assert_uint_eq(tn_graph_size(NULL), 0);
	ck_assert_uint_eq(tn_graph_near(NULL, 0, 0, 1, out, 4), 0);
	ck_assert_int_eq(tn_graph_build(NULL, &g), TN_EINVAL);
	b = new_builder();
	ck_assert_int_eq(tn_graph_build(b, NULL), TN_EINVAL); /* b consumed */
}
END_TEST

START_TEST(distance)
{
	/* one degree of a great circle */
	double deg = 6371008.8 * M_PI / 180;

	ck_assert_double_eq_tol(tn_graph_distance_m(0, 0, 0, 1), deg, 1e-6);
	ck_assert_double_eq_tol(tn_graph_distance_m(0, 0, 1, 0), deg, 1e-6);
	ck_assert_double_eq_tol(tn_graph_distance_m(0, 179.5, 0, -179.5), deg, 1e-6);
	ck_assert_double_eq_tol(tn_graph_distance_m(89.5, 0, 89.5, 180), deg, 1e-6);
	ck_assert_double_eq_tol(tn_graph_distance_m(90, 0, 90, 123), 0, 1e-6);
	ck_assert_double_eq_tol(tn_graph_distance_m(90, 0, -90, 0), 180 * deg, 1e-3);
	ck_assert(tn_graph_distance_m(51.5, -0.1, 51.5, -0.1) == 0);
	/* London - Paris, about 344 km */
	double lp = tn_graph_distance_m(51.5074, -0.1278, 48.8566, 2.3522);
	ck_assert(lp > 343000 && lp < 345000);
}
END_TEST

/*
 * tn_graph_near against a brute-force scan, on random points around the
 * places where a grid is easy to get wrong: a dense city, both poles, the
 * antimeridian, the equator, and everywhere.
 */
struct region {
	double lat_lo, lat_hi, lon_lo, lon_hi;
};

static const struct region regions[] = {
	{51.3, 51.7, -0.5, 0.3},       /* London */
	{89.0, 90.0, -180.0, 180.0},   /* north pole */
	{-90.0, -89.0, -180.0, 180.0}, /* south pole */
	{-5.0, 5.0, 178.0, 180.0},     /* antimeridian, east side */
	{-5.0, 5.0, -180.0, -178.0},   /* antimeridian, west side */
	{-90.0, 90.0, -180.0, 180.0},  /* everywhere */
};

static const double radii[] = {0, 1, 50, 500, 1200, 5000, 30000, 150000, 2e6, 2.1e7};

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

START_TEST(near_brute_force)
{
	enum { N = 6000, QUERIES = 400, MAX = 40 };
	struct tn_graph_builder *b = NULL;
	struct tn_graph *g = NULL;
	static double lat[N], lon[N];
	static uint32_t want[N], got[N], few[MAX];
	uint64_t x = 12345;
	char id[32];

	ck_assert_int_eq(tn_graph_builder_new(N, 0, &b), 0);
	for (int i = 0; i < N; i++) {
		const struct region *r = &regions[i % 6];
		lat[i] = uniform(&x, r->lat_lo, r->lat_hi);
		lon[i] = uniform(&x, r->lon_lo, r->lon_hi);
		/* some exact poles, antimeridian and cell edges */
		if (i % 97 == 0)
			lat[i] = i % 2 ? 90 : -90;
		if (i % 89 == 0)
			lon[i] = i % 2 ? 180 : -180;
		if (i % 83 == 0)
			lat[i] = 51.5, lon[i] = -0.01;
		snprintf(id, sizeof id, "a%d", i);
		add_ok(b, asset(id, TN_SECTOR_ENERGY, lat[i], lon[i], 0));
	}
	ck_assert_int_eq(tn_graph_build(b, &g), 0);

	for (int q = 0; q < QUERIES; q++) {
		const struct region *r = &regions[q % 6];
		double qlat = uniform(&x, r->lat_lo, r->lat_hi);
		double qlon = uniform(&x, r->lon_lo, r->lon_hi);
		double radius = radii[splitmix(&x) % (sizeof radii / sizeof radii[0])];
		size_t n_want = 0, n_got;

		if (q % 50 == 0)
			qlat = q % 100 ? 90 : -90;
		if (q % 40 == 0)
			qlon = q % 80 ? 180 : -180;
		if (q % 30 == 0) /* exactly on a point */
			qlat = lat[q], qlon = lon[q], radius = 0;
		else if (q % 7 == 0) /* a point exactly at the radius, or just beyond it */
			radius = tn_graph_distance_m(qlat, qlon, lat[q * 13 % N], lon[q * 13 % N]) *
				 (q % 2 ? 1 : 1 - 1e-15);
		for (int i = 0; i < N; i++)
			if (tn_graph_distance_m(qlat, qlon, lat[i], lon[i]) <= radius)
				want[n_want++] = (uint32_t)i;
		n_got = tn_graph_near(g, qlat, qlon, radius, got, N);
		QUICK_ASSERT(n_got == n_want, "query %d (%.6f, %.6f, %g m): %zu, want %zu", q, qlat,
			     qlon, radius, n_got, n_want);
		QUICK_ASSERT(memcmp(got, want, n_want * sizeof *want) == 0, "query %d: order", q);
		/* bounded output: the lowest numbers, still sorted, the total all the same */
		n_got = tn_graph_near(g, qlat, qlon, radius, few, MAX);
		QUICK_ASSERT(n_got == n_want, "query %d: bounded total", q);
		QUICK_ASSERT(memcmp(few, want, (n_want < MAX ? n_want : MAX) * sizeof *want) == 0,
			     "query %d: bounded order", q);
		QUICK_ASSERT(tn_graph_near(g, qlat, qlon, radius, NULL, 0) == n_want,
			     "query %d: count only", q);
		/* unsorted: the same lowest numbers and total, in any order */
		n_got = tn__graph_near_any(g, qlat, qlon, radius, few, MAX);
		QUICK_ASSERT(n_got == n_want, "query %d: unsorted total", q);
		qsort(few, n_want < MAX ? n_want : MAX, sizeof *few, cmp_u32);
		QUICK_ASSERT(memcmp(few, want, (n_want < MAX ? n_want : MAX) * sizeof *want) == 0,
			     "query %d: unsorted set", q);
	}
	/* the whole Earth */
	ck_assert_uint_eq(tn_graph_near(g, 12, 34, 2.1e7, NULL, 0), N);
	/* bad input */
	ck_assert_uint_eq(tn_graph_near(g, NAN, 0, 1e7, got, N), 0);
	ck_assert_uint_eq(tn_graph_near(g, 0, INFINITY, 1e7, got, N), 0);
	ck_assert_uint_eq(tn_graph_near(g, 0, 0, -1, got, N), 0);
	ck_assert_uint_eq(tn_graph_near(g, 0, 0, NAN, got, N), 0);
	ck_assert_uint_eq(tn_graph_near(g, 91, 0, 1e7, got, N), 0);
	/* a longitude beyond 180 is folded */
	ck_assert_uint_eq(tn_graph_near(g, lat[5], lon[5] + 360, 0, got, N),
			  tn_graph_near(g, lat[5], lon[5], 0, want, N));
	tn_graph_free(g);
}
END_TEST

/* Co-located assets in one cell, a dense city: the grid is only a filter. */
START_TEST(near_same_point)
{
	struct tn_graph_builder *b = new_builder();
	struct tn_graph *g;
	uint32_t out[8];
	char id[16];

	for (int i = 0; i < 300; i++) {
		snprintf(id, sizeof id, "p%d", i);
		add_ok(b, asset(id, TN_SECTOR_WATER, 51.5, -0.1, 0));
	}
	add_ok(b, asset("far", TN_SECTOR_WATER, 51.6, -0.1, 0));
	ck_assert_int_eq(tn_graph_build(b, &g), 0);
	ck_assert_uint_eq(tn_graph_near(g, 51.5, -0.1, 0, out, 8), 300);
	for (uint32_t i = 0; i < 8; i++)
		ck_assert_uint_eq(out[i], i);
	ck_assert_uint_eq(tn_graph_near(g, 51.55, -0.1, 5600, out, 8), 301);
	ck_assert_uint_eq(tn_graph_near(g, 51.6, -0.1, 10, out, 8), 1);
	ck_assert_uint_eq(out[0], 300);
	tn_graph_free(g);
}
END_TEST

/* Growth from a zero hint, lookups at scale, and the memory figure. */
START_TEST(larger_graph)
{
	enum { N = 200000, M = 600000 };
	struct tn_graph_builder *b = new_builder();
	struct tn_graph *g = NULL;
	uint64_t x = 7;
	char id[32], pid[32], msg[128];
	size_t edges = 0, sum_p = 0, sum_d = 0;

	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof id, "ukpn:sub-%07d", i);
		struct tn_asset a =
			asset(id, (enum tn_sector)(i % TN_SECTOR__COUNT), uniform(&x, 51.2, 51.8),
			      uniform(&x, -0.6, 0.4), i % 3600);
		QUICK_ASSERT(tn_graph_add_asset(b, &a, msg, sizeof msg) == 0, "%s", msg);
	}
	while (edges < M) {
		uint32_t d = (uint32_t)(splitmix(&x) % N), p = (uint32_t)(splitmix(&x) % N);
		struct tn_dependency e;
		int rc;

		snprintf(id, sizeof id, "ukpn:sub-%07u", d);
		snprintf(pid, sizeof pid, "ukpn:sub-%07u", p);
		e = dep(id, pid, (enum tn_dep_kind)(splitmix(&x) % TN_DEP__COUNT), -1, -1);
		rc = tn_graph_add_dependency(b, &e, msg, sizeof msg);
		QUICK_ASSERT(rc == 0 || (d == p && rc == TN_EINVAL) || rc == TN_EEXIST, "%d %s", rc,
			     msg);
		edges += rc == 0;
	}
	ck_assert_int_eq(tn_graph_build(b, &g), 0);
	ck_assert_uint_eq(tn_graph_size(g), N);
	ck_assert_uint_eq(tn_graph_edges(g), M);
	for (uint32_t i = 0; i < N; i++) {
		snprintf(id, sizeof id, "ukpn:sub-%07u", i);
		QUICK_ASSERT(tn_graph_find(g, id) == i, "find %s", id);
		sum_p += tn_graph_providers(g, i, NULL);
		sum_d += tn_graph_dependents(g, i, NULL);
	}
	ck_assert_uint_eq(sum_p, M);
	ck_assert_uint_eq(sum_d, M);
	ck_assert_uint_eq(tn_graph_find(g, "ukpn:sub-0200000"), TN_GRAPH_NONE);
	/* about 230 bytes an asset and 32 an edge, all in: well under 1 GiB at 1M/3M */
	size_t mem = tn_graph_memory(g);
	ck_assert_uint_gt(mem, (size_t)N * 80 + (size_t)M * 32);
	ck_assert_uint_lt(mem, (size_t)N * 300 + (size_t)M * 40);
	tn_graph_free(g);
}
END_TEST

static Suite *graph_suite(void)
{
	Suite *s = suite_create("graph");
	TCase *tc = tcase_create("core");
	TCase *big = tcase_create("randomized");

	tcase_add_test(tc, names);
	tcase_add_test(tc, build_and_read);
	tcase_add_test(tc, cycles_allowed);
	tcase_add_test(tc, asset_validation);
	tcase_add_test(tc, dependency_validation);
	tcase_add_test(tc, empty_and_misuse);
	tcase_add_test(tc, distance);
	tcase_add_test(tc, near_same_point);
	suite_add_tcase(s, tc);

	/* Generous timeouts: sanitizer builds are several times slower. */
	tcase_set_timeout(big, 300);
	tcase_add_test(big, near_brute_force);
	tcase_add_test(big, larger_graph);
	suite_add_tcase(s, big);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(graph_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
