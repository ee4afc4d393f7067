/*
 * test_redact.c - alert bodies per clearance (server/alerts_redact.c;
 * docs/control-rooms.md, "Need to know").
 *
 * - Every revision the real engine makes over the demo city's scenarios
 *   (live, a drill, and with a short lateness so that late roots merge) and
 *   over a simulated city is redacted for each clearance and checked against
 *   the original: official-sensitive gets the same bytes; official gets every
 *   key, explain without exactly the entries that name an official-sensitive
 *   asset, at_risk without exactly the `via`s that do, everything else equal;
 *   public gets only its keys, and no string anywhere in it contains an
 *   asset id of the registry, an event source, or equals an event id.
 * - Hand-made bodies: no registry loaded, unknown keys, values of the wrong
 *   vocabulary, the titles of each kind of incident, not a map.
 *
 * The tools are not a library: their sources are compiled in here.
 */
#include "../../tools/scenario.c"
#include "../../tools/sim_registry.c"
#include "../../tools/sim_city.c"
#include "../../tools/sim_cascades.c"

#include <check.h>
#include <msgpack.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alerts_int.h"
#include "frame.h"
#include "tocsin/correlator.h"
#include "tocsin/error.h"

#define S(x) x, strlen(x)

/* What the runs saw, so that no check passes for want of cases. */
static struct {
	unsigned long bodies, explain_kept, explain_dropped, via_kept, via_dropped, public_entries;
	unsigned long merged, visibility_or_inferred;
} T;

static const msgpack_object *get(const msgpack_object *map, const char *key)
{
	if (map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;
		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
		    memcmp(k->via.str.ptr, key, k->via.str.size) == 0)
			return &map->via.map.ptr[i].val;
	}
	return NULL;
}

static msgpack_object unpack(const void *buf, size_t len, msgpack_zone *zone)
{
	msgpack_object o;
	size_t off = 0;
	ck_assert_int_eq(msgpack_unpack(buf, len, &off, zone, &o), MSGPACK_UNPACK_SUCCESS);
	ck_assert_uint_eq(off, len);
	return o;
}

static bool str_is(const msgpack_object *o, const char *s)
{
	return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
	       memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

static bool sensitive(const struct tn_graph *g, const msgpack_object *id)
{
	char buf[TN_ASSET_ID_MAX + 1];
	ck_assert_int_eq(id->type, MSGPACK_OBJECT_STR);
	if (id->via.str.size > TN_ASSET_ID_MAX)
		return false;
	memcpy(buf, id->via.str.ptr, id->via.str.size);
	buf[id->via.str.size] = 0;
	uint32_t i = tn_graph_find(g, buf);
	return i != TN_GRAPH_NONE &&
	       tn_graph_asset(g, i)->sensitivity == TN_SENS_OFFICIAL_SENSITIVE;
}

/* The ids the public body must never carry: every asset id and every
 * source (as substrings: looked up for every substring of each string of the
 * body), every event id (whole strings: some are short). */
struct forbidden {
	struct hsearch_data whole;
	const char **ids; /* asset ids and sources */
	size_t n;
};

static void forbid(struct hsearch_data *h, const char *s)
{
	ENTRY e = {(char *)s, NULL}, *r;
	ck_assert(hsearch_r(e, ENTER, &r, h));
}

static void forbidden_init(struct forbidden *f, const struct tn_graph *g,
			   const struct tn__scenario *sc)
{
	memset(f, 0, sizeof *f);
	size_t n = tn_graph_size(g) + (sc ? sc->n : 0) + 16;
	ck_assert(hcreate_r(n * 2, &f->whole));
	f->ids = calloc(n, sizeof *f->ids);
	for (size_t i = 0; i < tn_graph_size(g); i++)
		f->ids[f->n++] = tn_graph_asset(g, (uint32_t)i)->id;
	for (size_t i = 0; sc && i < sc->n; i++) {
		f->ids[f->n++] = sc->ev[i].source;
		forbid(&f->whole, sc->ev[i].id);
	}
}

static void forbidden_free(struct forbidden *f)
{
	hdestroy_r(&f->whole);
	free(f->ids);
}

static bool found(struct hsearch_data *h, const char *s, size_t len)
{
	char buf[512];
	ENTRY e = {buf, NULL}, *r;
	if (len >= sizeof buf)
		return false;
	memcpy(buf, s, len);
	buf[len] = 0;
	return hsearch_r(e, FIND, &r, h) != 0;
}

static bool contains(const msgpack_object *s, const char *needle)
{
	return memmem(s->via.str.ptr, s->via.str.size, needle, strlen(needle)) != NULL;
}

/* Every string of o (keys and values), each followed by a newline, into
 * *buf; event ids checked whole on the way. */
static void strings_of(const msgpack_object *o, struct forbidden *f, struct tn__bytes *buf)
{
	switch (o->type) {
	case MSGPACK_OBJECT_MAP:
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			strings_of(&o->via.map.ptr[i].key, f, buf);
			strings_of(&o->via.map.ptr[i].val, f, buf);
		}
		return;
	case MSGPACK_OBJECT_ARRAY:
		for (uint32_t i = 0; i < o->via.array.size; i++)
			strings_of(&o->via.array.ptr[i], f, buf);
		return;
	case MSGPACK_OBJECT_STR:
		ck_assert_msg(!found(&f->whole, o->via.str.ptr, o->via.str.size),
			      "event id \"%.*s\"", (int)o->via.str.size, o->via.str.ptr);
		ck_assert_ptr_null(memchr(o->via.str.ptr, '\n', o->via.str.size));
		ck_assert_int_eq(tn__bytes_write(buf, o->via.str.ptr, o->via.str.size), 0);
		ck_assert_int_eq(tn__bytes_write(buf, "\n", 1), 0);
		return;
	case MSGPACK_OBJECT_BIN:
	case MSGPACK_OBJECT_EXT:
		ck_abort_msg("binary data in a public body");
		return;
	default:
		return;
	}
}

static void no_ids(const msgpack_object *o, struct forbidden *f)
{
	struct tn__bytes buf = {0};
	strings_of(o, f, &buf);
	for (size_t i = 0; i < f->n; i++)
		ck_assert_msg(!memmem(buf.data, buf.len, f->ids[i], strlen(f->ids[i])),
			      "public body has \"%s\" in:\n%.*s", f->ids[i], (int)buf.len, buf.data);
	free(buf.data);
}

static bool in(const msgpack_object *k, const char *const *list)
{
	for (; *list; list++)
		if (str_is(k, *list))
			return true;
	return false;
}

static void check_official(const msgpack_object *orig, const msgpack_object *off,
			   const struct tn_graph *g)
{
	/* the same keys, in the same order */
	ck_assert_uint_eq(off->via.map.size, orig->via.map.size);
	for (uint32_t i = 0; i < orig->via.map.size; i++) {
		const msgpack_object *k = &orig->via.map.ptr[i].key;
		const msgpack_object *v = &orig->via.map.ptr[i].val, *w = &off->via.map.ptr[i].val;
		ck_assert(msgpack_object_equal(*k, off->via.map.ptr[i].key));
		if (str_is(k, "explain")) {
			uint32_t j = 0;
			for (uint32_t e = 0; e < v->via.array.size; e++) {
				const msgpack_object *ent = &v->via.array.ptr[e];
				const msgpack_object *path = get(ent, "path");
				bool ok = !sensitive(g, get(ent, "asset"));
				for (uint32_t p = 0; p < path->via.array.size; p++)
					ok = ok && !sensitive(g, &path->via.array.ptr[p]);
				if (!ok) {
					T.explain_dropped++;
					continue;
				}
				T.explain_kept++;
				ck_assert_uint_lt(j, w->via.array.size);
				ck_assert(msgpack_object_equal(*ent, w->via.array.ptr[j]));
				j++;
			}
			ck_assert_uint_eq(j, w->via.array.size);
		} else if (str_is(k, "at_risk")) {
			ck_assert_uint_eq(w->via.array.size, v->via.array.size);
			for (uint32_t e = 0; e < v->via.array.size; e++) {
				const msgpack_object *a = &v->via.array.ptr[e], *b = &w->via.array.ptr[e];
				bool via = !sensitive(g, get(a, "asset")) && !sensitive(g, get(a, "via"));
				ck_assert_uint_eq(b->via.map.size, a->via.map.size - (via ? 0 : 1));
				ck_assert(via == (get(b, "via") != NULL));
				T.via_kept += via;
				T.via_dropped += !via;
				static const char *const keys[] = {"asset", "sector", "eta",
								   "eta_latest", "outcome", NULL};
				for (const char *const *kk = keys; *kk; kk++)
					ck_assert(msgpack_object_equal(*get(a, *kk), *get(b, *kk)));
			}
		} else {
			ck_assert(msgpack_object_equal(*v, *w));
		}
	}
}

/* e (public) has exactly the keys of `keys` that o has as strings, equal. */
static void same_keys(const msgpack_object *e, const msgpack_object *o, const char *const *keys)
{
	uint32_t n = 0;
	for (const char *const *k = keys; *k; k++) {
		const msgpack_object *a = get(o, *k), *b = get(e, *k);
		if (a && a->type == MSGPACK_OBJECT_STR) {
			n++;
			ck_assert_msg(b && msgpack_object_equal(*a, *b), "key %s", *k);
		} else {
			ck_assert_ptr_null(b);
		}
	}
	ck_assert_uint_eq(e->via.map.size, n);
}

static void check_public(const msgpack_object *orig, const msgpack_object *pub,
			 struct forbidden *f)
{
	static const char *const keys[] = {"seq", "incident", "rev", "msg", "status", "priority",
					   "title", "cause", "confidence", "root", "sectors",
					   "affected", "at_risk", "at_risk_count", "area", "opened",
					   "updated", "merged_into", NULL};
	static const char *const same[] = {"seq", "incident", "rev", "msg", "status", "priority",
					   "cause", "confidence", "sectors", "at_risk_count",
					   "area", "opened", "updated", "merged_into", NULL};
	uint32_t want = 0;
	for (uint32_t i = 0; i < orig->via.map.size; i++)
		want += in(&orig->via.map.ptr[i].key, keys);
	ck_assert_uint_eq(pub->via.map.size, want);
	ck_assert_ptr_null(get(pub, "explain"));
	for (const char *const *k = same; *k; k++) {
		const msgpack_object *a = get(orig, *k), *b = get(pub, *k);
		ck_assert((a == NULL) == (b == NULL));
		if (a)
			ck_assert_msg(msgpack_object_equal(*a, *b), "key %s", *k);
	}
	/* root: sector and time; each entry: its sector, state or outcome, times
	 * (each when the original has one: a sector may be nil, unknown) */
	static const char *const root_keys[] = {"sector", "time", NULL};
	static const char *const aff_keys[] = {"sector", "state", "time", NULL};
	static const char *const risk_keys[] = {"sector", "eta", "eta_latest", "outcome", NULL};
	same_keys(get(pub, "root"), get(orig, "root"), root_keys);
	const msgpack_object *aff = get(pub, "affected"), *oaff = get(orig, "affected");
	ck_assert_uint_eq(aff->via.array.size, oaff->via.array.size);
	for (uint32_t i = 0; i < aff->via.array.size; i++) {
		same_keys(&aff->via.array.ptr[i], &oaff->via.array.ptr[i], aff_keys);
		T.public_entries++;
	}
	const msgpack_object *risk = get(pub, "at_risk"), *orisk = get(orig, "at_risk");
	ck_assert_uint_eq(risk->via.array.size, orisk->via.array.size);
	for (uint32_t i = 0; i < risk->via.array.size; i++) {
		same_keys(&risk->via.array.ptr[i], &orisk->via.array.ptr[i], risk_keys);
		T.public_entries++;
	}
	const msgpack_object *t = get(pub, "title");
	ck_assert_int_eq(t->type, MSGPACK_OBJECT_STR);
	ck_assert(contains(t, "loss of visibility: ") || contains(t, "withdrawn: inferred ") ||
		  contains(t, " incident in "));
	no_ids(pub, f);
}

static void check_change(const struct tn_change *ch, uint64_t seq, const char *stream,
			 const struct tn__sensset *sens, const struct tn_graph *g,
			 struct forbidden *f)
{
	char *json = malloc(ch->body_len + 64);
	size_t len;
	struct tn__alert *al;
	struct tn__bytes out = {0};
	msgpack_zone zone, z1, z2;

	ck_assert_int_eq(tn_change_json(ch, seq, json, ch->body_len + 64, &len), 0);
	ck_assert_int_eq(tn__alert_from_change(stream, strlen(stream),
					       tn_change_msg_name(ch->msg),
					       strlen(tn_change_msg_name(ch->msg)), ch->priority,
					       "", 0, json, len, &al),
			 0);
	msgpack_zone_init(&zone, 4096);
	msgpack_zone_init(&z1, 4096);
	msgpack_zone_init(&z2, 4096);
	msgpack_object orig = unpack(al->body, al->body_len, &z1);
	T.merged += ch->msg == TN_MSG_MERGED;
	T.visibility_or_inferred += ch->cause == TN_CAUSE_VISIBILITY || ch->cause == TN_CAUSE_INFERRED;

	ck_assert_int_eq(tn__alert_redact(al->body, al->body_len, TN_SENS_OFFICIAL_SENSITIVE, sens,
					  &zone, &out), 0);
	ck_assert_uint_eq(out.len, al->body_len);
	ck_assert(memcmp(out.data, al->body, out.len) == 0);

	ck_assert_int_eq(tn__alert_redact(al->body, al->body_len, TN_SENS_OFFICIAL, sens, &zone,
					  &out), 0);
	msgpack_object off = unpack(out.data, out.len, &z2);
	check_official(&orig, &off, g);

	msgpack_zone_clear(&z2);
	ck_assert_int_eq(tn__alert_redact(al->body, al->body_len, TN_SENS_PUBLIC, sens, &zone,
					  &out), 0);
	msgpack_object pub = unpack(out.data, out.len, &z2);
	check_public(&orig, &pub, f);
	T.bodies++;

	free(out.data);
	free(json);
	tn__alert_unref(al);
	msgpack_zone_destroy(&zone);
	msgpack_zone_destroy(&z1);
	msgpack_zone_destroy(&z2);
}

static void run_scenario(const struct tn_graph *g, const char *path, const char *stream,
			 int lateness_s)
{
	struct tn__scenario *sc;
	struct tn_corr_config cfg;
	struct tn_corr *c;
	struct tn__sensset *sens;
	const struct tn_change *ch;
	uint64_t seq = 0;

	ck_assert_int_eq(tn__sensset_from_graph(g, &sens), 0);
	ck_assert_int_eq(tn__scenario_read(path, TN_SCENARIO_EPOCH_US, stderr, 10, &sc), 0);
	struct forbidden f;
	forbidden_init(&f, g, sc);
	tn_corr_config_defaults(&cfg);
	cfg.lateness_s = lateness_s;
	ck_assert_int_eq(tn_corr_new(&cfg, g, stream, &c), 0);
	for (size_t i = 0; i <= sc->n; i++) {
		if (i < sc->n)
			tn_corr_event(c, &sc->ev[i]);
		else
			tn_corr_finish(c, sc->max_us);
		size_t n = tn_corr_changes(c, &ch);
		for (size_t k = 0; k < n; k++)
			check_change(&ch[k], ++seq, stream, sens, g, &f);
	}
	forbidden_free(&f);
	tn_corr_free(c);
	tn__scenario_free(sc);
	tn__sensset_free(sens);
}

START_TEST(demo_city)
{
	static const char *const files[] = {"scenario-substation-fire.csv",
					    "scenario-exchange-flood.csv",
					    "scenario-late-root.csv"};
	struct tn_graph *g;
	char p[256];

	memset(&T, 0, sizeof T);
	ck_assert_int_eq(tn__sim_load_graph("tests/data/demo-city/assets.csv",
					    "tests/data/demo-city/dependencies.csv", stderr, &g),
			 0);
	/* the set: exactly the registry's official-sensitive assets */
	struct tn__sensset *sens;
	size_t os = 0;
	ck_assert_int_eq(tn__sensset_from_graph(g, &sens), 0);
	for (size_t i = 0; i < tn_graph_size(g); i++) {
		const struct tn_asset *a = tn_graph_asset(g, (uint32_t)i);
		bool want = a->sensitivity == TN_SENS_OFFICIAL_SENSITIVE;
		os += want;
		ck_assert_msg(tn__sensset_has(sens, a->id, strlen(a->id)) == want, "%s", a->id);
		/* a prefix or an extension of an id is not the id */
		ck_assert(!tn__sensset_has(sens, a->id, strlen(a->id) - 1) ||
			  strlen(a->id) == 1);
	}
	ck_assert_uint_eq(sens->n, os);
	ck_assert_uint_gt(os, 0);
	ck_assert(!tn__sensset_has(sens, S("SUB-ALD-PRI-07X")));
	tn__sensset_free(sens);

	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(p, sizeof p, "tests/data/demo-city/%s", files[i]);
		run_scenario(g, p, "live", 60);
		run_scenario(g, p, "drill-aldermoor", 60);
		run_scenario(g, p, "drill-late", 5); /* late reports re-root: merges */
	}
	fprintf(stderr,
		"test_redact: demo city: %lu bodies; explain kept %lu, dropped %lu; via kept %lu, "
		"dropped %lu; %lu public entries\n",
		T.bodies, T.explain_kept, T.explain_dropped, T.via_kept, T.via_dropped,
		T.public_entries);
	ck_assert_uint_gt(T.bodies, 20);
	ck_assert_uint_gt(T.explain_kept, 0);
	ck_assert_uint_gt(T.explain_dropped, 0);
	ck_assert_uint_gt(T.via_kept, 0);
	ck_assert_uint_gt(T.via_dropped, 0);
	ck_assert_uint_gt(T.merged, 0);
	tn_graph_free(g);
}
END_TEST

/* A simulated city: thousands of revisions, inferred roots, every sector. */
START_TEST(simulated_city)
{
	char dir[256], a[300], dp[300], sp[300], err[256];
	struct tn__sim_city_opts co = {.assets = 2000, .seed = 3, .deps_per_asset = 2.0};
	struct tn__sim_cascade_opts so;
	struct tn_graph *g;

	memset(&T, 0, sizeof T);
	snprintf(dir, sizeof dir, "%s/tn_redact_XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(a, sizeof a, "%s/assets.csv", dir);
	snprintf(dp, sizeof dp, "%s/dependencies.csv", dir);
	snprintf(sp, sizeof sp, "%s/scenario.csv", dir);
	FILE *fa = fopen(a, "w"), *fd = fopen(dp, "w"), *fs, *ft = fopen("/dev/null", "w");
	ck_assert_int_eq(tn__sim_city(&co, fa, fd, NULL, err, sizeof err), 0);
	fclose(fa);
	fclose(fd);
	ck_assert_int_eq(tn__sim_load_graph(a, dp, stderr, &g), 0);
	tn__sim_cascade_defaults(&so);
	so.seed = 3;
	so.cascades = 15;
	so.duration_s = 4 * 3600;
	so.missing = 0.15;
	fs = fopen(sp, "w");
	ck_assert_int_eq(tn__sim_cascades(g, &so, fs, ft, NULL, err, sizeof err), 0);
	fclose(fs);
	fclose(ft);
	run_scenario(g, sp, "live", 10);
	fprintf(stderr,
		"test_redact: simulated city: %lu bodies; explain kept %lu, dropped %lu; via kept "
		"%lu, dropped %lu\n",
		T.bodies, T.explain_kept, T.explain_dropped, T.via_kept, T.via_dropped);
	ck_assert_uint_gt(T.bodies, 100);
	ck_assert_uint_gt(T.explain_kept, 0);
	ck_assert_uint_gt(T.explain_dropped, 0);
	tn_graph_free(g);
	snprintf(a, sizeof a, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(a), 0);
}
END_TEST

/* ---- hand-made bodies ---------------------------------------------------------------- */

static const char BODY[] =
	"{\"seq\":7,\"incident\":\"INC-00000000000000ab\",\"rev\":2,\"msg\":\"update\","
	"\"status\":\"actual\",\"priority\":2,"
	"\"title\":\"energy substation SUB-1 failure: 3 affected in 2 sectors\","
	"\"cause\":\"observed\",\"confidence\":1.0,"
	"\"root\":{\"asset\":\"SUB-1\",\"sector\":\"energy\",\"time\":\"2026-01-01T00:00:00.000Z\"},"
	"\"sectors\":[\"energy\",\"health\"],"
	"\"affected\":[{\"asset\":\"SUB-1\",\"sector\":\"energy\",\"state\":\"down\","
	"\"time\":\"2026-01-01T00:00:00.000Z\",\"event\":{\"source\":\"ukpn/scada\",\"id\":\"e1\"},"
	"\"late\":false},"
	"{\"asset\":\"HOSP-1\",\"sector\":\"health\",\"state\":\"down\","
	"\"time\":\"2026-01-01T00:00:05.000Z\",\"event\":{\"source\":\"nhs/bms\",\"id\":\"e2\"},"
	"\"late\":false}],"
	"\"at_risk\":[{\"asset\":\"PS-1\",\"sector\":\"water\",\"eta\":\"2026-01-01T00:10:00.000Z\","
	"\"eta_latest\":\"2026-01-01T00:15:00.000Z\",\"via\":\"SUB-1\",\"outcome\":\"pending\"},"
	"{\"asset\":\"MAST-1\",\"sector\":\"communications\",\"eta\":\"2026-01-01T00:20:00.000Z\","
	"\"eta_latest\":\"2026-01-01T00:25:00.000Z\",\"via\":\"FDR-1\",\"outcome\":\"pending\"}],"
	"\"at_risk_count\":{\"pending\":2,\"borne_out\":0,\"not_borne_out\":0},"
	"\"area\":\"ALD-E\",\"opened\":\"2026-01-01T00:00:00.000Z\","
	"\"updated\":\"2026-01-01T00:00:05.000Z\","
	"\"explain\":[{\"asset\":\"SUB-1\",\"path\":[\"SUB-1\"],\"window\":[\"a\",\"b\"],"
	"\"rule\":\"root\"},"
	"{\"asset\":\"HOSP-1\",\"path\":[\"FDR-1\",\"HOSP-1\"],\"window\":[\"a\",\"b\"],"
	"\"rule\":\"cascade\"}]%s}";

/* BODY with `extra` ("" or ",\"key\":value") as an alert. */
static struct tn__alert *alert_of(const char *extra)
{
	char json[4096];
	struct tn__alert *al;
	snprintf(json, sizeof json, BODY, extra);
	ck_assert_int_eq(tn__alert_from_change(S("live"), S("update"), 2, S("ALD-E"), S(json), &al),
			 0);
	return al;
}

/* A set of the given ids, through a graph. */
static struct tn__sensset *set_of(const char *const *ids)
{
	struct tn_graph_builder *b;
	struct tn_graph *g;
	struct tn__sensset *s;
	ck_assert_int_eq(tn_graph_builder_new(0, 0, &b), 0);
	static const char *const all[] = {"SUB-1", "HOSP-1", "PS-1", "MAST-1", "FDR-1", NULL};
	for (const char *const *a = all; *a; a++) {
		bool os = false;
		for (const char *const *i = ids; *i; i++)
			os |= strcmp(*i, *a) == 0;
		struct tn_asset as = {*a, TN_SECTOR_ENERGY, "kind", "", 52.0, -1.0, "ALD-E", 3, 0, 0,
				      os ? TN_SENS_OFFICIAL_SENSITIVE : TN_SENS_OFFICIAL};
		ck_assert_int_eq(tn_graph_add_asset(b, &as, NULL, 0), 0);
	}
	ck_assert_int_eq(tn_graph_build(b, &g), 0);
	ck_assert_int_eq(tn__sensset_from_graph(g, &s), 0);
	tn_graph_free(g);
	return s;
}

/* Redact al for `clearance` and unpack the result into zone. */
static msgpack_object redact(const struct tn__alert *al, enum tn_sensitivity clearance,
			     const struct tn__sensset *sens, msgpack_zone *zone,
			     struct tn__bytes *out)
{
	msgpack_zone work;
	msgpack_zone_init(&work, 4096);
	ck_assert_int_eq(tn__alert_redact(al->body, al->body_len, clearance, sens, &work, out), 0);
	/* both lower bodies from one unpack: the same bytes as one at a time */
	struct tn__bytes lower[2] = {{0}, {0}};
	ck_assert_int_eq(tn__alert_redact_lower(al->body, al->body_len, sens, &work, &lower[0],
						&lower[1]),
			 0);
	if (clearance < TN_SENS_OFFICIAL_SENSITIVE) {
		const struct tn__bytes *l = &lower[clearance == TN_SENS_OFFICIAL];
		ck_assert_uint_eq(l->len, out->len);
		ck_assert(memcmp(l->data, out->data, out->len) == 0);
	}
	free(lower[0].data);
	free(lower[1].data);
	msgpack_zone_destroy(&work);
	return unpack(out->data, out->len, zone);
}

START_TEST(official_rules)
{
	msgpack_zone zone;
	struct tn__bytes out = {0};
	struct tn__alert *al = alert_of("");
	msgpack_zone_init(&zone, 4096);

	/* FDR-1 is sensitive: HOSP-1's explanation (its path) and MAST-1's via go */
	struct tn__sensset *s = set_of((const char *const[]){"FDR-1", NULL});
	msgpack_object o = redact(al, TN_SENS_OFFICIAL, s, &zone, &out);
	const msgpack_object *ex = get(&o, "explain"), *risk = get(&o, "at_risk");
	ck_assert_uint_eq(ex->via.array.size, 1);
	ck_assert(str_is(get(&ex->via.array.ptr[0], "asset"), "SUB-1"));
	ck_assert(str_is(get(&risk->via.array.ptr[0], "via"), "SUB-1"));
	ck_assert_ptr_null(get(&risk->via.array.ptr[1], "via"));
	ck_assert(str_is(get(&risk->via.array.ptr[1], "asset"), "MAST-1"));
	/* the rest stays: affected assets and their events, the title */
	ck_assert_uint_eq(get(&o, "affected")->via.array.size, 2);
	ck_assert(str_is(get(&o, "title"), "energy substation SUB-1 failure: 3 affected in 2 sectors"));
	ck_assert_ptr_nonnull(get(&get(&o, "affected")->via.array.ptr[1], "event"));
	tn__sensset_free(s);

	/* an at-risk asset that is itself sensitive loses its via too */
	s = set_of((const char *const[]){"PS-1", NULL});
	o = redact(al, TN_SENS_OFFICIAL, s, &zone, &out);
	risk = get(&o, "at_risk");
	ck_assert_ptr_null(get(&risk->via.array.ptr[0], "via"));
	ck_assert(str_is(get(&risk->via.array.ptr[1], "via"), "FDR-1"));
	ck_assert_uint_eq(get(&o, "explain")->via.array.size, 2);
	tn__sensset_free(s);

	/* the root sensitive: every explanation starts there */
	s = set_of((const char *const[]){"SUB-1", NULL});
	o = redact(al, TN_SENS_OFFICIAL, s, &zone, &out);
	ck_assert_uint_eq(get(&o, "explain")->via.array.size, 1); /* HOSP-1's path is FDR-1's */
	tn__sensset_free(s);

	/* nothing sensitive: the same body */
	s = set_of((const char *const[]){NULL});
	o = redact(al, TN_SENS_OFFICIAL, s, &zone, &out);
	ck_assert_uint_eq(out.len, al->body_len);
	ck_assert(memcmp(out.data, al->body, out.len) == 0);
	tn__sensset_free(s);

	/* no registry loaded: no explanation at all, no via */
	o = redact(al, TN_SENS_OFFICIAL, NULL, &zone, &out);
	ck_assert_uint_eq(get(&o, "explain")->via.array.size, 0);
	risk = get(&o, "at_risk");
	for (uint32_t i = 0; i < risk->via.array.size; i++)
		ck_assert_ptr_null(get(&risk->via.array.ptr[i], "via"));
	ck_assert_uint_eq(get(&o, "affected")->via.array.size, 2);

	tn__alert_unref(al);
	free(out.data);
	msgpack_zone_destroy(&zone);
}
END_TEST

START_TEST(unknown_keys_and_shapes)
{
	msgpack_zone zone;
	struct tn__bytes out = {0};
	msgpack_zone_init(&zone, 4096);
	struct tn__sensset *s = set_of((const char *const[]){NULL});

	/* a key the redaction does not know goes to neither lower stream */
	struct tn__alert *al = alert_of(",\"dependency_graph\":\"SUB-1->HOSP-1\"");
	msgpack_object o = redact(al, TN_SENS_OFFICIAL_SENSITIVE, s, &zone, &out);
	ck_assert_ptr_nonnull(get(&o, "dependency_graph"));
	o = redact(al, TN_SENS_OFFICIAL, s, &zone, &out);
	ck_assert_ptr_null(get(&o, "dependency_graph"));
	ck_assert_ptr_nonnull(get(&o, "explain"));
	o = redact(al, TN_SENS_PUBLIC, s, &zone, &out);
	ck_assert_ptr_null(get(&o, "dependency_graph"));
	tn__alert_unref(al);

	/* explain entries of an odd shape are not passed on; at_risk keys
	 * beyond the documented ones neither */
	char json[4096];
	snprintf(json, sizeof json,
		 "{\"seq\":1,\"explain\":[{\"asset\":\"HOSP-1\"},{\"asset\":\"HOSP-1\",\"path\":"
		 "\"SUB-1\"},{\"asset\":7,\"path\":[]},\"SUB-1\",{\"asset\":\"HOSP-1\",\"path\":"
		 "[\"HOSP-1\"],\"secret\":1}],\"at_risk\":[\"PS-1\",{\"asset\":\"PS-1\",\"via\":"
		 "\"SUB-1\",\"feeds\":\"FDR-1\"}]}");
	ck_assert_int_eq(tn__alert_from_change(S("live"), S("alert"), 3, S(""), S(json), &al), 0);
	o = redact(al, TN_SENS_OFFICIAL, s, &zone, &out);
	const msgpack_object *ex = get(&o, "explain"), *risk = get(&o, "at_risk");
	ck_assert_uint_eq(ex->via.array.size, 1);
	ck_assert_uint_eq(ex->via.array.ptr[0].via.map.size, 2); /* asset, path */
	ck_assert_uint_eq(risk->via.array.size, 1);
	ck_assert_uint_eq(risk->via.array.ptr[0].via.map.size, 2); /* asset, via */
	tn__alert_unref(al);

	/* public: values outside the vocabulary are left out */
	snprintf(json, sizeof json,
		 "{\"seq\":1,\"title\":\"SUB-1 fire\",\"incident\":\"SUB-1\",\"msg\":\"SUB-1\","
		 "\"status\":\"actual\","
		 "\"cause\":\"HOSP-1\",\"area\":\"SUB 1\",\"opened\":\"SUB-1\","
		 "\"sectors\":[\"energy\",\"SUB-1\"],\"root\":{\"asset\":\"SUB-1\",\"sector\":"
		 "\"SUB-1\",\"time\":\"2026-01-01T00:00:00.000Z\"},\"affected\":[{\"asset\":\"SUB-1\","
		 "\"sector\":\"energy\",\"state\":\"SUB-1\",\"time\":\"x\"},\"SUB-1\"],"
		 "\"at_risk_count\":{\"pending\":\"SUB-1\"},\"merged_into\":\"INC-00000000000000Ab\","
		 "\"rev\":-1,\"priority\":\"1\"}");
	ck_assert_int_eq(tn__alert_from_change(S("live"), S("alert"), 3, S(""), S(json), &al), 0);
	o = redact(al, TN_SENS_PUBLIC, s, &zone, &out);
	ck_assert_uint_eq(o.via.map.size, 6); /* seq, status, sectors, root, affected, title */
	ck_assert_uint_eq(get(&o, "sectors")->via.array.size, 1);
	ck_assert_uint_eq(get(&o, "root")->via.map.size, 1); /* time */
	ck_assert_uint_eq(get(&o, "affected")->via.array.size, 1);
	ck_assert_uint_eq(get(&o, "affected")->via.array.ptr[0].via.map.size, 1); /* sector */
	ck_assert(str_is(get(&o, "title"), "unknown incident in an unknown area: 1 affected in 1 "
					  "sector"));
	tn__alert_unref(al);

	/* not a map: an error, nothing written */
	msgpack_zone work;
	msgpack_zone_init(&work, 1024);
	static const unsigned char arr[] = {0x91, 0x01}, trailing[] = {0x80, 0x01};
	ck_assert_int_eq(tn__alert_redact(arr, sizeof arr, TN_SENS_PUBLIC, s, &work, &out),
			 TN_ECORRUPT);
	ck_assert_int_eq(tn__alert_redact(trailing, sizeof trailing, TN_SENS_OFFICIAL, s, &work,
					  &out),
			 TN_ECORRUPT);
	ck_assert_int_eq(tn__alert_redact(arr, 1, TN_SENS_OFFICIAL_SENSITIVE, s, &work, &out),
			 TN_ECORRUPT);
	struct tn__bytes pub = {0}, off = {0};
	tn__bytes_write(&pub, "x", 1);
	tn__bytes_write(&off, "y", 1);
	ck_assert_int_eq(tn__alert_redact_lower(trailing, sizeof trailing, s, &work, &pub, &off),
			 TN_ECORRUPT);
	ck_assert_uint_eq(pub.len + off.len, 0); /* both emptied: nothing half-made is sent */
	free(pub.data);
	free(off.data);
	msgpack_zone_destroy(&work);

	tn__sensset_free(s);
	free(out.data);
	msgpack_zone_destroy(&zone);
}
END_TEST

/* The public title of each kind of incident: sector, area, counts; no name. */
START_TEST(public_titles)
{
	static const struct {
		const char *title, *cause, *area, *want;
	} cases[] = {
		{"energy substation SUB-1 failure: 3 affected in 2 sectors", "observed", "ALD-E",
		 "energy incident in area ALD-E: 3 affected in 2 sectors"},
		{"suspected energy substation SUB-1 failure (unreported): 4 affected in 1 sector",
		 "inferred", "ALD-E", "suspected energy incident in area ALD-E: 4 affected in 1 sector"},
		{"energy substation SUB-1 and co-located failures: 2 affected in 2 sectors",
		 "co-located", "", "energy incident in an unknown area: 2 affected in 2 sectors"},
		{"loss of visibility: ukpn/scada (energy) silent", "visibility", "ALD-N",
		 "loss of visibility: energy in area ALD-N"},
		{"withdrawn: inferred failure of SUB-1 contradicted by a report", "inferred", "ALD-E",
		 "withdrawn: inferred energy failure in area ALD-E contradicted by a report"},
		{"SUB-1: 9 affected in SUB-1 sectors", "observed", "ALD-E",
		 "energy incident in area ALD-E: 2 affected in 2 sectors"}, /* counted from the lists */
	};
	msgpack_zone zone;
	struct tn__bytes out = {0};
	msgpack_zone_init(&zone, 4096);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char json[2048];
		struct tn__alert *al;
		snprintf(json, sizeof json,
			 "{\"seq\":1,\"title\":\"%s\",\"cause\":\"%s\",\"area\":\"%s\","
			 "\"root\":{\"asset\":\"SUB-1\",\"sector\":\"energy\"},\"sectors\":"
			 "[\"energy\",\"health\"],\"affected\":[{\"asset\":\"SUB-1\"},{\"asset\":"
			 "\"HOSP-1\"}]}",
			 cases[i].title, cases[i].cause, cases[i].area);
		ck_assert_int_eq(tn__alert_from_change(S("live"), S("alert"), 3, S(""), S(json), &al),
				 0);
		msgpack_object o = redact(al, TN_SENS_PUBLIC, NULL, &zone, &out);
		const msgpack_object *t = get(&o, "title");
		ck_assert_msg(str_is(t, cases[i].want), "case %zu: \"%.*s\"", i,
			      (int)t->via.str.size, t->via.str.ptr);
		tn__alert_unref(al);
	}
	free(out.data);
	msgpack_zone_destroy(&zone);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("redact");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, official_rules);
	tcase_add_test(tc, unknown_keys_and_shapes);
	tcase_add_test(tc, public_titles);
	tcase_add_test(tc, demo_city);
	tcase_add_test(tc, simulated_city);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
