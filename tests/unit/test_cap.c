/*
 * test_cap.c - incident revisions as CAP 1.2 alerts (common/cap.h).
 *
 * - The validator: the OASIS schema (tests/data/cap/) accepts the official
 *   examples and rejects broken variants of them, so that "valid" below means
 *   something.
 * - Many alerts: the real engine runs over the demo city's scenarios and over
 *   simulated cities and cascades (tools/sim_*.c), live and as drills, with a
 *   short lateness in some runs so that late roots merge incidents. Every
 *   revision becomes an alert that must validate, and whose fields must agree
 *   with the revision: identifier unique and derived, sent in whole seconds
 *   with -00:00, status, msgType and the references chain to the very
 *   messages generated before, incidents, categories, and an area that holds
 *   every located asset (polygon closed, latitude first; or circle).
 * - Targeted cases on hand-made revisions: the mapping tables, merged and
 *   withdrawn, visibility, the antimeridian, bad input.
 *
 * The tools are not a library: their sources are compiled in here.
 */
#include "../../tools/scenario.c"
#include "../../tools/sim_registry.c"
#include "../../tools/sim_city.c"
#include "../../tools/sim_cascades.c"

#include <check.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/xmlschemas.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cap.h"
#include "tocsin/correlator.h"

#define DATA "tests/data/cap/"
#define SENDER "tocsin@aldermoor.example"

static xmlSchemaPtr schema;

/* ---- validation and reading ---------------------------------------------------- */

static void quiet(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

static void load_schema(void)
{
	xmlSchemaParserCtxtPtr p;

	if (schema)
		return;
	p = xmlSchemaNewParserCtxt(DATA "CAP-v1.2.xsd");
	ck_assert_ptr_nonnull(p);
	schema = xmlSchemaParse(p);
	xmlSchemaFreeParserCtxt(p);
	ck_assert_ptr_nonnull(schema);
}

/* 0 when the document parses and is valid against the CAP 1.2 schema. */
static int validate_doc(xmlDocPtr d, bool loud)
{
	xmlSchemaValidCtxtPtr v = xmlSchemaNewValidCtxt(schema);
	int rc;

	ck_assert_ptr_nonnull(v);
	if (!loud)
		xmlSchemaSetValidErrors(v, quiet, quiet, NULL);
	rc = xmlSchemaValidateDoc(v, d);
	xmlSchemaFreeValidCtxt(v);
	return rc;
}

static xmlDocPtr parse(const char *xml, size_t len)
{
	return xmlReadMemory(xml, (int)len, "alert.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR);
}

static int validate_text(const char *xml, bool loud)
{
	xmlDocPtr d = parse(xml, strlen(xml));
	int rc = d ? validate_doc(d, loud) : -1;

	xmlFreeDoc(d);
	return rc;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	ck_assert_msg(f != NULL, "%s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* A copy of s with the first `from` replaced by `to` (which must be there). */
static char *replaced(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);
	char *out;

	ck_assert_msg(at != NULL, "no %s", from);
	out = malloc(strlen(s) + strlen(to) + 1);
	memcpy(out, s, (size_t)(at - s));
	strcpy(out + (at - s), to);
	strcat(out, at + strlen(from));
	return out;
}

/* The string value of an XPath expression (prefix cap:); the caller frees. */
static char *xp(xmlDocPtr d, const char *expr)
{
	xmlXPathContextPtr c = xmlXPathNewContext(d);
	xmlXPathObjectPtr o;
	char *s;

	xmlXPathRegisterNs(c, BAD_CAST "cap", BAD_CAST TN_CAP_NS);
	o = xmlXPathEvalExpression(BAD_CAST expr, c);
	ck_assert_ptr_nonnull(o);
	s = (char *)xmlXPathCastToString(o);
	xmlXPathFreeObject(o);
	xmlXPathFreeContext(c);
	return s;
}

static bool xp_eq(xmlDocPtr d, const char *expr, const char *want)
{
	char *s = xp(d, expr);
	bool eq = strcmp(s, want) == 0;

	if (!eq)
		fprintf(stderr, "%s: got \"%s\", want \"%s\"\n", expr, s, want);
	xmlFree(s);
	return eq;
}

static int xp_count(xmlDocPtr d, const char *what)
{
	char expr[256], *s;
	int n;

	snprintf(expr, sizeof expr, "count(%s)", what);
	s = xp(d, expr);
	n = atoi(s);
	xmlFree(s);
	return n;
}

/* ---- the validator ------------------------------------------------------------------- */

static const char *const examples[] = {"cap12_appendix_A1.xml", "cap12_appendix_A2.xml",
				       "cap12_appendix_A3.xml", "cap12_appendix_A4.xml",
				       "cap12_amber_alert_example_IBM.xml"};

START_TEST(official_examples_validate)
{
	char path[256], *x;

	load_schema();
	snprintf(path, sizeof path, DATA "%s", examples[_i]);
	x = slurp(path);
	ck_assert_msg(validate_text(x, true) == 0, "%s does not validate", path);
	free(x);
}
END_TEST

/* Each a small break of appendix A3 (an Update with references). */
START_TEST(broken_documents_fail)
{
	static const char *const breaks[][2] = {
		{"<msgType>Update</msgType>", "<msgType>Bulletin</msgType>"},	  /* enum */
		{"2003-06-11T20:56:00-07:00", "2003-06-11T20:56:00Z"},		  /* Z */
		{"2003-06-11T20:56:00-07:00", "2003-06-11T20:56:00.5-07:00"},	  /* fraction */
		{"<identifier>TRI13970876.2</identifier>", ""},			  /* required */
		{"<status>Actual</status>", "<status>Real</status>"},		  /* enum */
		{"<category>Geo</category>", "<category>Infrastructure</category>"}, /* enum */
		{"<urgency>Past</urgency>", ""},				  /* required */
		{"<scope>Public</scope>", "<scope>Public</scope><bogus/>"},	  /* unknown */
		{"urn:oasis:names:tc:emergency:cap:1.2", "urn:oasis:names:tc:emergency:cap:1.1"},
		{"</alert>", ""}, /* not well-formed */
	};
	char *a3, *bad;

	load_schema();
	a3 = slurp(DATA "cap12_appendix_A3.xml");
	ck_assert_int_eq(validate_text(a3, true), 0);
	for (size_t i = 0; i < sizeof breaks / sizeof breaks[0]; i++) {
		bad = replaced(a3, breaks[i][0], breaks[i][1]);
		ck_assert_msg(validate_text(bad, false) != 0, "break %zu (%s) still validates", i,
			      breaks[i][1]);
		free(bad);
	}
	/* elements out of the schema's order: sender before identifier */
	bad = replaced(a3,
		       "<identifier>TRI13970876.2</identifier>\n"
		       "    <sender>trinet@caltech.edu</sender>",
		       "<sender>trinet@caltech.edu</sender>\n"
		       "    <identifier>TRI13970876.2</identifier>");
	ck_assert_int_ne(validate_text(bad, false), 0);
	free(bad);
	free(a3);
}
END_TEST

/* ---- the mappings, field by field (docs/control-rooms.md) ------------------------------ */

/* The test's own copy of the category table: sector -> categories. */
static const char *expected_categories(const char *sector)
{
	static const char *const map[][2] = {
		{"chemicals", "CBRNE"},	      {"civil-nuclear", "CBRNE"},
		{"communications", "Infra"},  {"defence", "Security"},
		{"emergency-services", "Safety Rescue"}, {"energy", "Infra"},
		{"finance", "Infra"},	      {"food", "Infra"},
		{"government", "Infra"},      {"health", "Health"},
		{"space", "Infra"},	      {"transport", "Transport"},
		{"water", "Infra"},	      {"data", "Infra"},
	};

	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (sector && strcmp(sector, map[i][0]) == 0)
			return map[i][1];
	return NULL;
}

/* Every category of the alert is expected from the sectors, and each expected one is there. */
static void check_categories(xmlDocPtr d, json_t *body)
{
	static const char *const all[] = {"Safety", "Security", "Rescue", "Health", "Transport",
					  "Infra", "CBRNE", "Other"};
	json_t *sectors = json_object_get(body, "sectors"), *s;
	char want[256] = " ", expr[128];
	size_t i;
	int n = 0;

	json_array_foreach (sectors, i, s) {
		const char *c = expected_categories(json_string_value(s));

		ck_assert_ptr_nonnull(c);
		strcat(want, c);
		strcat(want, " ");
	}
	if (strlen(want) == 1) {
		json_t *root = json_object_get(body, "root");
		const char *c =
			expected_categories(json_string_value(json_object_get(root, "sector")));
		strcat(want, c ? c : "Other");
		strcat(want, " ");
	}
	for (i = 0; i < sizeof all / sizeof all[0]; i++) {
		char key[32];
		bool expected;

		snprintf(key, sizeof key, " %s ", all[i]);
		expected = strstr(want, key) != NULL;
		snprintf(expr, sizeof expr, "/cap:alert/cap:info/cap:category[. = '%s']", all[i]);
		ck_assert_int_eq(xp_count(d, expr), expected ? 1 : 0);
		n += expected;
	}
	ck_assert_int_eq(xp_count(d, "/cap:alert/cap:info/cap:category"), n);
}

/* ---- geometry checks ---------------------------------------------------------------------- */

static double hav_km(double lat1, double lon1, double lat2, double lon2)
{
	double r = M_PI / 180, a = sin((lat2 - lat1) * r / 2) * sin((lat2 - lat1) * r / 2) +
				   cos(lat1 * r) * cos(lat2 * r) * sin((lon2 - lon1) * r / 2) *
					   sin((lon2 - lon1) * r / 2);

	return 2 * 6371.0088 * asin(sqrt(a));
}

/* Ray casting in the (lon, lat) plane: fine for areas of a few tens of km. */
static bool inside(const double *la, const double *lo, size_t n, double lat, double lon)
{
	bool in = false;

	for (size_t i = 0, j = n - 1; i < n; j = i++)
		if ((la[i] > lat) != (la[j] > lat) &&
		    lon < (lo[j] - lo[i]) * (lat - la[i]) / (la[j] - la[i]) + lo[i])
			in = !in;
	return in;
}

struct located {
	double lat[8192], lon[8192];
	size_t n;
};

static void add_located(struct located *L, const struct tn_graph *g, const char *asset)
{
	if (L->n < 8192 && tn__cap_locate_graph((void *)g, asset, &L->lat[L->n], &L->lon[L->n]))
		L->n++;
}

/* What the area must hold: the root (not a source), members, pending at-risk assets. */
static void locate_all(json_t *body, const struct tn_graph *g, struct located *L)
{
	json_t *e;
	size_t i;

	L->n = 0;
	if (strcmp(json_string_value(json_object_get(body, "cause")), "visibility") != 0)
		add_located(L, g, json_string_value(json_object_get(json_object_get(body, "root"),
								    "asset")));
	json_array_foreach (json_object_get(body, "affected"), i, e)
		add_located(L, g, json_string_value(json_object_get(e, "asset")));
	json_array_foreach (json_object_get(body, "at_risk"), i, e)
		if (strcmp(json_string_value(json_object_get(e, "outcome")), "pending") == 0)
			add_located(L, g, json_string_value(json_object_get(e, "asset")));
}

/* Returns 'p' (polygon), 'c' (circle) or 0 (none), after checking what is there. */
static int check_area(xmlDocPtr d, json_t *body, const struct tn_graph *g)
{
	static struct located L;
	int npoly = xp_count(d, "/cap:alert/cap:info/cap:area/cap:polygon");
	int ncirc = xp_count(d, "/cap:alert/cap:info/cap:area/cap:circle");

	ck_assert_int_eq(xp_count(d, "/cap:alert/cap:info/cap:area/cap:areaDesc"), 1);
	locate_all(body, g, &L);
	ck_assert_int_le(npoly + ncirc, 1);
	if (L.n == 0) {
		ck_assert_int_eq(npoly + ncirc, 0);
		return 0;
	}
	ck_assert_int_eq(npoly + ncirc, 1);
	if (npoly) {
		char *s = xp(d, "string(/cap:alert/cap:info/cap:area/cap:polygon)"), *p = s, *end;
		static double la[200], lo[200];
		size_t n = 0;

		while (*p) {
			ck_assert_uint_lt(n, 200);
			la[n] = strtod(p, &end);
			ck_assert_msg(*end == ',', "pair %zu of \"%s\"", n, s);
			lo[n] = strtod(end + 1, &p);
			ck_assert_msg(*p == ' ' || *p == '\0', "\"%s\"", s);
			while (*p == ' ')
				p++;
			/* latitude first: the first number is a latitude of these cities */
			ck_assert_msg(fabs(la[n] - L.lat[0]) < 1.0 && fabs(lo[n] - L.lon[0]) < 1.5,
				      "%f,%f not near %f,%f", la[n], lo[n], L.lat[0], L.lon[0]);
			n++;
		}
		ck_assert_uint_ge(n, 4);
		ck_assert_msg(la[0] == la[n - 1] && lo[0] == lo[n - 1], "open ring \"%s\"", s);
		for (size_t i = 0; i < L.n; i++)
			ck_assert_msg(inside(la, lo, n - 1, L.lat[i], L.lon[i]),
				      "asset %f,%f outside \"%s\"", L.lat[i], L.lon[i], s);
		xmlFree(s);
		return 'p';
	}
	{
		char *s = xp(d, "string(/cap:alert/cap:info/cap:area/cap:circle)");
		double lat, lon, r;
		int used = 0;

		ck_assert_msg(sscanf(s, "%lf,%lf %lf%n", &lat, &lon, &r, &used) == 3 &&
				      (size_t)used == strlen(s),
			      "circle \"%s\"", s);
		ck_assert_msg(fabs(lat - L.lat[0]) < 1.0, "latitude first: \"%s\"", s);
		for (size_t i = 0; i < L.n; i++)
			ck_assert_msg(hav_km(lat, lon, L.lat[i], L.lon[i]) <= r,
				      "asset %f,%f outside \"%s\"", L.lat[i], L.lon[i], s);
		xmlFree(s);
		return 'c';
	}
}

/* ---- many alerts from the engine ------------------------------------------------------- */

struct earlier {
	uint32_t n, cap;
	struct tn__cap_ref *refs;
	char (*ident)[512];
	char (*sent)[TN_CAP_TIME_LEN + 1];
};

struct tally {
	json_t *incidents; /* "stream incident" -> index into hist */
	json_t *identifiers; /* every identifier seen */
	struct earlier *hist;
	size_t nhist;
	unsigned long alerts, updates, cancels, resolved, merged, exercise, actual, polygons,
		circles, no_area, with_refs, late_cancel_refs;
	unsigned cats; /* mask of category names seen, by position in "all" */
	unsigned run;
	char sender[64]; /* one per engine run: each run is a world of its own, whose
			    scenario lines (event ids, hence incident ids) repeat others' */
};

static struct tally T;

static struct earlier *earlier_of(const char *stream, const char *incident)
{
	char key[256];
	json_t *v;

	snprintf(key, sizeof key, "%s %s %s", T.sender, stream, incident);
	if ((v = json_object_get(T.incidents, key)) == NULL) {
		T.hist = realloc(T.hist, (T.nhist + 1) * sizeof *T.hist);
		memset(&T.hist[T.nhist], 0, sizeof *T.hist);
		json_object_set_new(T.incidents, key, json_integer((json_int_t)T.nhist));
		return &T.hist[T.nhist++];
	}
	return &T.hist[json_integer_value(v)];
}

static void note_cats(xmlDocPtr d)
{
	static const char *const all[] = {"Safety", "Security", "Rescue", "Health", "Transport",
					  "Infra", "CBRNE", "Other"};
	char expr[128];

	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
		snprintf(expr, sizeof expr, "/cap:alert/cap:info/cap:category[. = '%s']", all[i]);
		if (xp_count(d, expr))
			T.cats |= 1u << i;
	}
}

/* One engine revision: convert, validate, check against the revision and the history. */
static void check_change(const struct tn_change *ch, uint64_t seq, const char *stream,
			 const struct tn_graph *g)
{
	struct earlier *h = earlier_of(stream, ch->incident);
	struct tn__cap_opts o = {.sender = T.sender, .stream = stream,
				 .locate = tn__cap_locate_graph, .locate_ctx = (void *)g};
	size_t cap = ch->body_len + 64, len, xlen;
	char *buf = malloc(cap), *xml, ident[512], sent[TN_CAP_TIME_LEN + 1], *refs;
	const char *msgtype;
	json_t *body;
	xmlDocPtr d;
	int64_t upd;

	/* half of them with the stream's seq in front, as a console receives them,
	   half as the store keeps them */
	if (seq % 2) {
		ck_assert_int_eq(tn_change_json(ch, seq, buf, cap, &len), 0);
	} else {
		buf[0] = '{';
		memcpy(buf + 1, ch->body, ch->body_len);
		len = ch->body_len + 1;
		buf[len] = '\0';
	}
	body = json_loadb(buf, len, 0, NULL);
	ck_assert_ptr_nonnull(body);
	o.refs = h->refs;
	o.nrefs = h->n;
	ck_assert_uint_eq(h->n + 1, ch->rev);
	ck_assert_int_eq(tn__cap_alert(buf, len, &o, &xml, &xlen), 0);
	ck_assert_uint_eq(strlen(xml), xlen);
	d = parse(xml, xlen);
	ck_assert_ptr_nonnull(d);
	ck_assert_msg(validate_doc(d, true) == 0, "invalid alert:\n%s", xml);

	/* identifier: derived, and never seen before */
	ck_assert_int_eq(tn__cap_identifier(T.sender, stream, ch->incident, ch->rev, ident,
					    sizeof ident),
			 0);
	ck_assert(xp_eq(d, "string(/cap:alert/cap:identifier)", ident));
	ck_assert_msg(json_object_get(T.identifiers, ident) == NULL, "%s twice", ident);
	json_object_set_new(T.identifiers, ident, json_true());
	ck_assert(xp_eq(d, "string(/cap:alert/cap:sender)", T.sender));

	/* sent: the revision's updated, whole seconds, -00:00 */
	ck_assert_int_eq(
		tn__cap_parse_time(json_string_value(json_object_get(body, "updated")), &upd), 0);
	ck_assert_int_eq(tn__cap_time(upd, sent), 0);
	ck_assert(xp_eq(d, "string(/cap:alert/cap:sent)", sent));
	ck_assert_uint_eq(strlen(sent), 25);
	ck_assert_str_eq(sent + 19, "-00:00");
	ck_assert_int_eq(strncmp(sent, json_string_value(json_object_get(body, "updated")), 19), 0);

	/* status */
	if (ch->exercise) {
		ck_assert(xp_eq(d, "string(/cap:alert/cap:status)", "Exercise"));
		T.exercise++;
	} else {
		ck_assert(xp_eq(d, "string(/cap:alert/cap:status)", "Actual"));
		T.actual++;
	}
	ck_assert_int_eq(ch->exercise, strcmp(stream, "live") != 0);

	/* msgType and the chain of references to exactly the earlier messages */
	msgtype = ch->rev == 1 ? "Alert"
		  : (ch->msg == TN_MSG_RESOLVED || ch->msg == TN_MSG_MERGED) ? "Cancel"
									     : "Update";
	ck_assert(xp_eq(d, "string(/cap:alert/cap:msgType)", msgtype));
	T.alerts += ch->rev == 1;
	T.updates += strcmp(msgtype, "Update") == 0;
	T.cancels += strcmp(msgtype, "Cancel") == 0;
	T.resolved += ch->msg == TN_MSG_RESOLVED;
	T.merged += ch->msg == TN_MSG_MERGED;
	refs = xp(d, "string(/cap:alert/cap:references)");
	if (ch->rev == 1) {
		ck_assert_int_eq(xp_count(d, "/cap:alert/cap:references"), 0);
	} else {
		char *p = refs;

		T.with_refs++;
		for (uint32_t i = 0; i < h->n; i++) {
			char want[1200];
			int n = snprintf(want, sizeof want, "%s,%s,%s", T.sender, h->ident[i],
					 h->sent[i]);

			ck_assert_msg(strncmp(p, want, (size_t)n) == 0, "reference %u: %s in %s", i,
				      want, refs);
			p += n;
			ck_assert(*p == (i + 1 < h->n ? ' ' : '\0'));
			p += *p == ' ';
		}
	}
	xmlFree(refs);

	/* incidents: the id, and for a merge the absorber too */
	if (ch->msg == TN_MSG_MERGED) {
		char want[64];

		snprintf(want, sizeof want, "%s %s", ch->incident, ch->merged_into);
		ck_assert(xp_eq(d, "string(/cap:alert/cap:incidents)", want));
	} else {
		ck_assert(xp_eq(d, "string(/cap:alert/cap:incidents)", ch->incident));
	}
	check_categories(d, body);
	note_cats(d);
	switch (check_area(d, body, g)) {
	case 'p':
		T.polygons++;
		break;
	case 'c':
		T.circles++;
		break;
	default:
		T.no_area++;
	}

	/* remember this message for the references of the next */
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 8;
		h->refs = realloc(h->refs, h->cap * sizeof *h->refs);
		h->ident = realloc(h->ident, h->cap * sizeof *h->ident);
		h->sent = realloc(h->sent, h->cap * sizeof *h->sent);
	}
	ck_assert_int_eq(tn__cap_ref_of(buf, len, &h->refs[h->n]), 0);
	ck_assert_uint_eq(h->refs[h->n].rev, ch->rev);
	memcpy(h->ident[h->n], ident, sizeof ident);
	memcpy(h->sent[h->n], sent, sizeof sent);
	h->n++;
	xmlFreeDoc(d);
	free(xml);
	free(buf);
	json_decref(body);
}

/* Run a scenario file through the engine and check every revision. */
static void run_scenario(const struct tn_graph *g, const char *path, const char *stream,
			 int lateness_s)
{
	struct tn__scenario *sc;
	struct tn_corr_config cfg;
	struct tn_corr *c;
	const struct tn_change *ch;
	uint64_t seq = 0;
	size_t n, k;

	ck_assert_int_eq(tn__scenario_read(path, TN_SCENARIO_EPOCH_US, stderr, 10, &sc), 0);
	snprintf(T.sender, sizeof T.sender, "tocsin-run%u@aldermoor.example", ++T.run);
	tn_corr_config_defaults(&cfg);
	cfg.lateness_s = lateness_s;
	ck_assert_int_eq(tn_corr_new(&cfg, g, stream, &c), 0);
	for (size_t i = 0; i <= sc->n; i++) {
		if (i < sc->n)
			tn_corr_event(c, &sc->ev[i]);
		else
			tn_corr_finish(c, sc->max_us);
		n = tn_corr_changes(c, &ch);
		for (k = 0; k < n; k++)
			check_change(&ch[k], ++seq, stream, g);
	}
	tn_corr_free(c);
	tn__scenario_free(sc);
}

static void tally_init(void)
{
	memset(&T, 0, sizeof T);
	T.incidents = json_object();
	T.identifiers = json_object();
}

static void tally_free(void)
{
	for (size_t i = 0; i < T.nhist; i++) {
		free(T.hist[i].refs);
		free(T.hist[i].ident);
		free(T.hist[i].sent);
	}
	free(T.hist);
	json_decref(T.incidents);
	json_decref(T.identifiers);
	memset(&T, 0, sizeof T);
}

static void tally_print(const char *what)
{
	fprintf(stderr,
		"test_cap: %s: %zu alerts validated (%lu Alert, %lu Update, %lu Cancel of which "
		"%lu resolved and %lu merged; %lu Exercise, %lu Actual; %lu polygons, %lu circles, "
		"%lu without geometry)\n",
		what, json_object_size(T.identifiers), T.alerts, T.updates, T.cancels, T.resolved,
		T.merged, T.exercise, T.actual, T.polygons, T.circles, T.no_area);
}

START_TEST(demo_city_alerts)
{
	static const char *const files[] = {"scenario-substation-fire.csv",
					    "scenario-exchange-flood.csv",
					    "scenario-late-root.csv"};
	struct tn_graph *g;
	char p[256];

	load_schema();
	tally_init();
	ck_assert_int_eq(tn__sim_load_graph("tests/data/demo-city/assets.csv",
					    "tests/data/demo-city/dependencies.csv", stderr, &g),
			 0);
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(p, sizeof p, "tests/data/demo-city/%s", files[i]);
		run_scenario(g, p, "live", 60);
		run_scenario(g, p, "drill-aldermoor", 60);
		run_scenario(g, p, "drill late,roots & all", 5); /* late reports re-root */
	}
	tally_print("demo city");
	ck_assert_uint_gt(T.alerts, 0);
	ck_assert_uint_gt(T.updates, 0);
	ck_assert_uint_gt(T.resolved, 0);
	ck_assert_uint_gt(T.merged, 0);
	ck_assert_uint_gt(T.exercise, 0);
	ck_assert_uint_gt(T.actual, 0);
	ck_assert_uint_gt(T.polygons, 0);
	ck_assert_uint_gt(T.circles, 0);
	tn_graph_free(g);
	tally_free();
}
END_TEST

/* Simulated cities and cascades: thousands of revisions, every sector. */
START_TEST(simulated_city_alerts)
{
	char dir[256], a[300], dp[300], sp[300];
	unsigned long total = 0;

	load_schema();
	tally_init();
	snprintf(dir, sizeof dir, "%s/tn_cap_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(a, sizeof a, "%s/assets.csv", dir);
	snprintf(dp, sizeof dp, "%s/dependencies.csv", dir);
	snprintf(sp, sizeof sp, "%s/scenario.csv", dir);
	for (uint64_t seed = 1; seed <= 4; seed++) {
		struct tn__sim_city_opts co = {.assets = 1500 + 500 * seed, .seed = seed,
					       .deps_per_asset = 2.0};
		struct tn__sim_cascade_opts so;
		struct tn_graph *g;
		char err[256];
		FILE *fa = fopen(a, "w"), *fd = fopen(dp, "w"), *fs, *ft = fopen("/dev/null", "w");

		ck_assert_int_eq(tn__sim_city(&co, fa, fd, NULL, err, sizeof err), 0);
		fclose(fa);
		fclose(fd);
		ck_assert_int_eq(tn__sim_load_graph(a, dp, stderr, &g), 0);
		tn__sim_cascade_defaults(&so);
		so.seed = seed;
		so.cascades = 25;
		so.duration_s = 6 * 3600;
		so.missing = 0.15; /* silent providers: common-cause inference */
		fs = fopen(sp, "w");
		ck_assert_int_eq(tn__sim_cascades(g, &so, fs, ft, NULL, err, sizeof err), 0);
		fclose(fs);
		fclose(ft);
		/* odd seeds live, even ones a drill; a short lateness merges late roots */
		run_scenario(g, sp, seed % 2 ? "live" : "drill-sim", seed <= 2 ? 60 : 10);
		tn_graph_free(g);
	}
	total = json_object_size(T.identifiers);
	tally_print("simulated cities");
	ck_assert_uint_ge(total, 1000);
	ck_assert_uint_gt(T.merged, 0);
	ck_assert_uint_gt(T.resolved, 0);
	ck_assert_uint_gt(T.exercise, 0);
	ck_assert_uint_gt(T.polygons, 0);
	ck_assert_uint_gt(T.circles, 0);
	/* several sectors: Infra, Health, Transport and Safety/Rescue at least */
	ck_assert_uint_eq(T.cats & 0x3d, 0x3d);
	snprintf(a, sizeof a, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(a), 0);
	tally_free();
}
END_TEST

/* ---- hand-made revisions ----------------------------------------------------------------- */

static struct tn_graph *small_graph(void)
{
	static const struct {
		const char *id;
		enum tn_sector s;
		double lat, lon;
	} as[] = {
		{"SUB-1", TN_SECTOR_ENERGY, 51.5, -0.1},
		{"HOSP-1", TN_SECTOR_HEALTH, 51.52, -0.08},
		{"PUMP-1", TN_SECTOR_WATER, 51.49, -0.13},
		{"RAIL-1", TN_SECTOR_TRANSPORT, 51.5, -0.11},
		{"EAST-1", TN_SECTOR_ENERGY, -17.0, 179.99},
		{"WEST-1", TN_SECTOR_ENERGY, -17.01, -179.99},
	};
	struct tn_graph_builder *b;
	struct tn_graph *g;

	ck_assert_int_eq(tn_graph_builder_new(0, 0, &b), 0);
	for (size_t i = 0; i < sizeof as / sizeof as[0]; i++) {
		struct tn_asset a = {as[i].id, as[i].s, "kind", as[i].id, as[i].lat, as[i].lon,
				     "AREA-1", 1, 100, 0, TN_SENS_PUBLIC};

		ck_assert_int_eq(tn_graph_add_asset(b, &a, NULL, 0), 0);
	}
	ck_assert_int_eq(tn_graph_build(b, &g), 0);
	return g;
}

static const char BODY[] =
	"{\"incident\":\"INC-00000000000000aa\",\"rev\":1,\"msg\":\"alert\","
	"\"status\":\"actual\",\"priority\":1,"
	"\"title\":\"energy kind SUB-1 failure: 1 affected in 1 sector\","
	"\"cause\":\"observed\",\"confidence\":1.000,"
	"\"root\":{\"asset\":\"SUB-1\",\"sector\":\"energy\","
	"\"time\":\"2026-11-26T16:52:00.250Z\"},"
	"\"sectors\":[\"energy\"],"
	"\"affected\":[{\"asset\":\"SUB-1\",\"sector\":\"energy\",\"state\":\"down\","
	"\"time\":\"2026-11-26T16:52:00.250Z\",\"event\":{\"source\":\"s\",\"id\":\"1\"},"
	"\"late\":false}],"
	"\"at_risk\":[],\"area\":\"AREA-1\",\"opened\":\"2026-11-26T16:52:00.250Z\","
	"\"updated\":\"2026-11-26T16:52:07.999Z\",\"explain\":[]}";

struct made {
	char *xml;
	xmlDocPtr d;
};

/* BODY with the keys of `patch` (a JSON object) replaced; validated. */
static int make(const char *patch, const struct tn__cap_opts *o, struct made *m)
{
	json_t *b = json_loads(BODY, 0, NULL), *p = json_loads(patch, 0, NULL);
	char *text;
	size_t len;
	int rc;

	ck_assert_ptr_nonnull(b);
	ck_assert_msg(p != NULL, "bad patch %s", patch);
	json_object_update(b, p);
	text = json_dumps(b, JSON_COMPACT);
	rc = tn__cap_alert(text, strlen(text), o, &m->xml, &len);
	m->d = NULL;
	if (rc == 0) {
		m->d = parse(m->xml, len);
		ck_assert_ptr_nonnull(m->d);
		ck_assert_msg(validate_doc(m->d, true) == 0, "invalid:\n%s", m->xml);
	}
	free(text);
	json_decref(b);
	json_decref(p);
	return rc;
}

static void unmake(struct made *m)
{
	xmlFreeDoc(m->d);
	free(m->xml);
}

static struct tn_graph *G;

static struct tn__cap_opts opts(void)
{
	return (struct tn__cap_opts){.sender = SENDER, .locate = tn__cap_locate_graph,
				     .locate_ctx = G};
}

/* opts() referencing the earlier messages refs[0..n) */
static struct tn__cap_opts opts_refs(const struct tn__cap_ref *refs, size_t n)
{
	struct tn__cap_opts o = opts();

	o.refs = refs;
	o.nrefs = n;
	return o;
}

static void small_setup(void)
{
	load_schema();
	G = small_graph();
}

static void small_teardown(void)
{
	tn_graph_free(G);
}

START_TEST(first_revision_fields)
{
	struct tn__cap_opts o = opts();
	struct made m;

	ck_assert_int_eq(make("{}", &o, &m), 0);
	ck_assert(xp_eq(m.d, "string(/cap:alert/cap:identifier)",
			SENDER "/INC-00000000000000aa/1"));
	ck_assert(xp_eq(m.d, "string(/cap:alert/cap:sent)", "2026-11-26T16:52:07-00:00"));
	ck_assert(xp_eq(m.d, "string(/cap:alert/cap:status)", "Actual"));
	ck_assert(xp_eq(m.d, "string(/cap:alert/cap:msgType)", "Alert"));
	ck_assert(xp_eq(m.d, "string(/cap:alert/cap:scope)", "Restricted"));
	ck_assert_int_eq(xp_count(m.d, "/cap:alert/cap:restriction"), 1);
	ck_assert_int_eq(xp_count(m.d, "/cap:alert/cap:references"), 0);
	ck_assert(xp_eq(m.d, "string(/cap:alert/cap:incidents)", "INC-00000000000000aa"));
	ck_assert(xp_eq(m.d, "string(//cap:category)", "Infra"));
	ck_assert(xp_eq(m.d, "string(//cap:event)", "energy kind SUB-1 failure"));
	ck_assert(xp_eq(m.d, "string(//cap:headline)",
			"energy kind SUB-1 failure: 1 affected in 1 sector"));
	ck_assert(xp_eq(m.d, "string(//cap:urgency)", "Immediate"));
	ck_assert(xp_eq(m.d, "string(//cap:severity)", "Extreme"));
	ck_assert(xp_eq(m.d, "string(//cap:certainty)", "Observed"));
	ck_assert(xp_eq(m.d, "string(//cap:responseType)", "Monitor"));
	ck_assert(xp_eq(m.d, "string(//cap:onset)", "2026-11-26T16:52:00-00:00"));
	/* one asset: a circle around it, latitude first, radius the margin */
	ck_assert(xp_eq(m.d, "string(//cap:circle)", "51.50000,-0.10000 0.250"));
	ck_assert(xp_eq(m.d, "string(//cap:geocode/cap:value)", "AREA-1"));
	ck_assert(xp_eq(m.d, "string(//cap:parameter[cap:valueName='tocsin:priority']/cap:value)",
			"P1"));
	unmake(&m);

	/* same revision, same bytes */
	{
		struct made m2;

		ck_assert_int_eq(make("{}", &o, &m), 0);
		ck_assert_int_eq(make("{}", &o, &m2), 0);
		ck_assert_str_eq(m.xml, m2.xml);
		unmake(&m);
		unmake(&m2);
	}
}
END_TEST

START_TEST(update_and_references)
{
	struct tn__cap_ref refs[] = {{1, 1795700000000000LL}, {2, 1795700000999999LL}};
	struct tn__cap_opts o = opts_refs(refs, 2);
	struct made m;

	ck_assert_int_eq(make("{\"rev\":3,\"msg\":\"update\",\"priority\":3}", &o, &m), 0);
	ck_assert(xp_eq(m.d, "string(/cap:alert/cap:msgType)", "Update"));
	ck_assert(xp_eq(m.d, "string(/cap:alert/cap:references)",
			SENDER "," SENDER "/INC-00000000000000aa/1,2026-11-26T13:33:20-00:00 "
			SENDER "," SENDER "/INC-00000000000000aa/2,2026-11-26T13:33:20-00:00"));
	ck_assert(xp_eq(m.d, "string(//cap:urgency)", "Expected"));
	ck_assert(xp_eq(m.d, "string(//cap:severity)", "Moderate"));
	unmake(&m);

	/* a later revision without its earlier messages is refused, as are disordered ones */
	o.nrefs = 0;
	ck_assert_int_eq(make("{\"rev\":3,\"msg\":\"update\"}", &o, &m), TN_EINVAL);
	refs[1].rev = 1;
	o.nrefs = 2;
	ck_assert_int_eq(make("{\"rev\":3,\"msg\":\"update\"}", &o, &m), TN_EINVAL);
	refs[1].rev = 3;
	ck_assert_int_eq(make("{\"rev\":3,\"msg\":\"update\"}", &o, &m), TN_EINVAL);
}
END_TEST

START_TEST(resolved_merged_withdrawn)
{
	struct tn__cap_ref refs[] = {{1, 1795700000000000LL}};
	struct tn__cap_opts o = opts_refs(refs, 1);
	struct made m;

	ck_assert_int_eq(make("{\"rev\":2,\"msg\":\"resolved\"}", &o, &m), 0);
	ck_assert(xp_eq(m.d, "string(/cap:alert/cap:msgType)", "Cancel"));
	ck_assert(xp_eq(m.d, "string(//cap:responseType)", "AllClear"));
	ck_assert(xp_eq(m.d, "string(//cap:urgency)", "Past"));
	ck_assert(xp_eq(m.d, "string(//cap:severity)", "Minor"));
	ck_assert(xp_eq(m.d, "string(//cap:certainty)", "Observed"));
	ck_assert_int_eq(xp_count(m.d, "/cap:alert/cap:references"), 1);
	unmake(&m);

	ck_assert_int_eq(make("{\"rev\":2,\"msg\":\"merged\",\"merged_into\":"
			      "\"INC-00000000000000bb\"}",
			      &o, &m),
			 0);
	ck_assert(xp_eq(m.d, "string(/cap:alert/cap:msgType)", "Cancel"));
	ck_assert(xp_eq(m.d, "string(/cap:alert/cap:incidents)",
			"INC-00000000000000aa INC-00000000000000bb"));
	ck_assert_int_eq(xp_count(m.d, "/cap:alert/cap:note"), 1);
	ck_assert(xp_eq(m.d, "string(//cap:urgency)", "Immediate")); /* the hazard goes on */
	ck_assert(xp_eq(m.d, "string(//cap:responseType)", "Monitor"));
	ck_assert(xp_eq(m.d, "starts-with(//cap:headline, 'merged into INC-00000000000000bb: ')",
			"true"));
	unmake(&m);
	/* merged without an absorber is no revision */
	ck_assert_int_eq(make("{\"rev\":2,\"msg\":\"merged\"}", &o, &m), TN_EINVAL);

	/* an inference contradicted by its provider */
	ck_assert_int_eq(make("{\"rev\":2,\"msg\":\"resolved\",\"cause\":\"inferred\","
			      "\"confidence\":0,\"affected\":[],\"title\":\"withdrawn: inferred "
			      "failure of SUB-1 contradicted by a report\"}",
			      &o, &m),
			 0);
	ck_assert(xp_eq(m.d, "string(//cap:certainty)", "Unlikely"));
	ck_assert(xp_eq(m.d, "string(//cap:event)", "withdrawn inferred failure"));
	ck_assert(xp_eq(m.d, "string(/cap:alert/cap:note)", "inferred failure withdrawn"));
	unmake(&m);

	/* a first revision is an Alert whatever it says: nothing earlier to cancel */
	o.nrefs = 0;
	ck_assert_int_eq(make("{\"msg\":\"resolved\"}", &o, &m), 0);
	ck_assert(xp_eq(m.d, "string(/cap:alert/cap:msgType)", "Alert"));
	unmake(&m);
}
END_TEST

START_TEST(certainty_urgency_severity_tables)
{
	static const struct {
		const char *patch, *urgency, *severity, *certainty;
	} t[] = {
		{"{\"priority\":1}", "Immediate", "Extreme", "Observed"},
		{"{\"priority\":2}", "Immediate", "Severe", "Observed"},
		{"{\"priority\":3}", "Expected", "Moderate", "Observed"},
		{"{\"priority\":4}", "Future", "Minor", "Observed"},
		{"{\"priority\":5}", "Future", "Minor", "Observed"},
		{"{\"cause\":\"co-located\"}", "Immediate", "Extreme", "Likely"},
		{"{\"cause\":\"inferred\",\"confidence\":0.5}", "Immediate", "Extreme", "Likely"},
		{"{\"cause\":\"inferred\",\"confidence\":0.499}", "Immediate", "Extreme",
		 "Possible"},
		{"{\"cause\":\"visibility\",\"priority\":3}", "Expected", "Unknown", "Possible"},
	};
	struct tn__cap_opts o = opts();
	struct made m;

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		ck_assert_int_eq(make(t[i].patch, &o, &m), 0);
		ck_assert_msg(xp_eq(m.d, "string(//cap:urgency)", t[i].urgency), "%s", t[i].patch);
		ck_assert_msg(xp_eq(m.d, "string(//cap:severity)", t[i].severity), "%s",
			      t[i].patch);
		ck_assert_msg(xp_eq(m.d, "string(//cap:certainty)", t[i].certainty), "%s",
			      t[i].patch);
		unmake(&m);
	}
}
END_TEST

START_TEST(categories_of_every_sector)
{
	struct tn__cap_opts o = opts();
	char patch[256];
	struct made m;

	for (int s = 0; s < TN_SECTOR__COUNT; s++) {
		json_t *b;

		snprintf(patch, sizeof patch, "{\"sectors\":[\"%s\"]}", tn_sector_name(s));
		ck_assert_int_eq(make(patch, &o, &m), 0);
		b = json_loads(patch, 0, NULL);
		check_categories(m.d, b);
		json_decref(b);
		unmake(&m);
	}
	/* several sectors: each category once, in the schema's order */
	ck_assert_int_eq(make("{\"sectors\":[\"energy\",\"water\",\"health\",\"transport\","
			      "\"emergency-services\"]}",
			      &o, &m),
			 0);
	ck_assert_int_eq(xp_count(m.d, "//cap:category"), 5);
	ck_assert(xp_eq(m.d, "string(//cap:category[1])", "Safety"));
	ck_assert(xp_eq(m.d, "string(//cap:category[5])", "Infra"));
	unmake(&m);
	/* no sector known at all: Other */
	ck_assert_int_eq(
		make("{\"sectors\":[],\"root\":{\"asset\":\"x\",\"sector\":null}}", &o, &m), 0);
	ck_assert(xp_eq(m.d, "string(//cap:category)", "Other"));
	unmake(&m);
}
END_TEST

START_TEST(polygon_and_circle)
{
	struct tn__cap_opts o = opts();
	struct made m;
	json_t *b;

	/* three assets around London: a closed polygon holding all three */
	ck_assert_int_eq(make("{\"affected\":[{\"asset\":\"SUB-1\"},{\"asset\":\"HOSP-1\"},"
			      "{\"asset\":\"PUMP-1\"}],\"sectors\":[\"energy\",\"health\","
			      "\"water\"]}",
			      &o, &m),
			 0);
	b = json_loads("{\"cause\":\"observed\",\"root\":{\"asset\":\"SUB-1\"},\"affected\":["
		       "{\"asset\":\"SUB-1\"},{\"asset\":\"HOSP-1\"},{\"asset\":\"PUMP-1\"}]}",
		       0, NULL);
	ck_assert_int_eq(check_area(m.d, b, G), 'p');
	json_decref(b);
	unmake(&m);

	/* collinear (two distinct points): a circle */
	ck_assert_int_eq(make("{\"affected\":[{\"asset\":\"SUB-1\"},{\"asset\":\"RAIL-1\"}]}", &o,
			      &m),
			 0);
	ck_assert_int_eq(xp_count(m.d, "//cap:circle"), 1);
	unmake(&m);

	/* pending at-risk assets are in the area; settled ones are not */
	ck_assert_int_eq(make("{\"at_risk\":[{\"asset\":\"HOSP-1\",\"outcome\":\"pending\"},"
			      "{\"asset\":\"PUMP-1\",\"outcome\":\"pending\"}]}",
			      &o, &m),
			 0);
	ck_assert_int_eq(xp_count(m.d, "//cap:polygon"), 1);
	ck_assert(xp_eq(m.d, "string(//cap:responseType)", "Prepare"));
	unmake(&m);
	ck_assert_int_eq(make("{\"at_risk\":[{\"asset\":\"HOSP-1\",\"outcome\":\"borne_out\"},"
			      "{\"asset\":\"PUMP-1\",\"outcome\":\"not_borne_out\"}]}",
			      &o, &m),
			 0);
	ck_assert_int_eq(xp_count(m.d, "//cap:circle"), 1);
	unmake(&m);

	/* across the antimeridian: a small circle, not one around the world */
	ck_assert_int_eq(make("{\"root\":{\"asset\":\"EAST-1\"},\"affected\":[{\"asset\":"
			      "\"EAST-1\"},{\"asset\":\"WEST-1\"}]}",
			      &o, &m),
			 0);
	{
		char *c = xp(m.d, "string(//cap:circle)");
		double lat, lon, r;

		ck_assert_int_eq(sscanf(c, "%lf,%lf %lf", &lat, &lon, &r), 3);
		ck_assert_double_lt(r, 3.0);
		ck_assert_double_lt(fabs(lat + 17.005), 0.01);
		ck_assert_double_gt(fabs(lon), 179.9);
		xmlFree(c);
	}
	unmake(&m);

	/* no lookup, or nothing located: the description alone */
	o.locate = NULL;
	ck_assert_int_eq(make("{}", &o, &m), 0);
	ck_assert_int_eq(xp_count(m.d, "//cap:circle | //cap:polygon"), 0);
	ck_assert_int_eq(xp_count(m.d, "//cap:areaDesc"), 1);
	unmake(&m);
}
END_TEST

START_TEST(identifiers_and_streams)
{
	struct tn__cap_opts o = opts();
	char id[256];
	struct made m;

	ck_assert_int_eq(tn__cap_identifier("a@b", NULL, "INC-1", 7, id, sizeof id), 0);
	ck_assert_str_eq(id, "a@b/INC-1/7");
	ck_assert_int_eq(tn__cap_identifier("a@b", "live", "INC-1", 7, id, sizeof id), 0);
	ck_assert_str_eq(id, "a@b/INC-1/7");
	ck_assert_int_eq(tn__cap_identifier("a@b", "drill 1,<&/%", "INC-1", 7, id, sizeof id), 0);
	ck_assert_str_eq(id, "a@b/drill%201%2C%3C%26%2F%25/INC-1/7");
	ck_assert_int_eq(tn__cap_identifier("a@b", NULL, "INC-1", 7, id, 8), TN_ERANGE);
	ck_assert_int_eq(tn__cap_identifier("a b", NULL, "INC-1", 7, id, sizeof id), TN_EINVAL);
	ck_assert_int_eq(tn__cap_identifier("a,b", NULL, "INC-1", 7, id, sizeof id), TN_EINVAL);
	ck_assert_int_eq(tn__cap_identifier("a<b", NULL, "INC-1", 7, id, sizeof id), TN_EINVAL);
	ck_assert_int_eq(tn__cap_identifier("a&b", NULL, "INC-1", 7, id, sizeof id), TN_EINVAL);
	ck_assert_int_eq(tn__cap_identifier("", NULL, "INC-1", 7, id, sizeof id), TN_EINVAL);
	ck_assert_int_eq(tn__cap_identifier("a@b", NULL, "INC 1", 7, id, sizeof id), TN_EINVAL);

	/* a drill: Exercise, named in the identifier and the source */
	o.stream = "drill-7";
	ck_assert_int_eq(make("{\"status\":\"exercise\"}", &o, &m), 0);
	ck_assert(xp_eq(m.d, "string(/cap:alert/cap:status)", "Exercise"));
	ck_assert(xp_eq(m.d, "string(/cap:alert/cap:identifier)",
			SENDER "/drill-7/INC-00000000000000aa/1"));
	ck_assert(xp_eq(m.d, "string(/cap:alert/cap:source)", "drill-7"));
	ck_assert(xp_eq(m.d, "starts-with(//cap:headline, 'EXERCISE: ')", "true"));
	unmake(&m);

	/* public scope: no restriction */
	o.public_scope = true;
	ck_assert_int_eq(make("{}", &o, &m), 0);
	ck_assert(xp_eq(m.d, "string(/cap:alert/cap:scope)", "Public"));
	ck_assert_int_eq(xp_count(m.d, "/cap:alert/cap:restriction"), 0);
	unmake(&m);

	o.sender = "bad sender";
	ck_assert_int_eq(make("{}", &o, &m), TN_EINVAL);
}
END_TEST

START_TEST(times)
{
	char t[TN_CAP_TIME_LEN + 1];
	int64_t us;

	ck_assert_int_eq(tn__cap_parse_time("2026-11-26T16:52:00.999Z", &us), 0);
	ck_assert_int_eq(tn__cap_time(us, t), 0);
	ck_assert_str_eq(t, "2026-11-26T16:52:00-00:00"); /* truncated, not rounded */
	ck_assert_int_eq(tn__cap_parse_time("2026-11-26T16:52:00Z", &us), 0);
	ck_assert_int_eq(us % 1000000, 0);
	ck_assert_int_eq(tn__cap_parse_time("1969-12-31T23:59:59.5Z", &us), 0);
	ck_assert_int_eq(us, -500000);
	ck_assert_int_eq(tn__cap_time(us, t), 0);
	ck_assert_str_eq(t, "1969-12-31T23:59:59-00:00");
	ck_assert_int_eq(tn__cap_parse_time("2026-11-26T16:52:00+01:00", &us), TN_EINVAL);
	ck_assert_int_eq(tn__cap_parse_time("2026-11-26 16:52:00Z", &us), TN_EINVAL);
	ck_assert_int_eq(tn__cap_parse_time("2026-11-26T16:52:00.Z", &us), TN_EINVAL);
	ck_assert_int_eq(tn__cap_parse_time("2026-13-26T16:52:00Z", &us), TN_EINVAL);
	ck_assert_int_eq(tn__cap_time(INT64_C(400000000000) * 1000000, t), TN_ERANGE);
}
END_TEST

START_TEST(bad_bodies)
{
	static const char *const bad[] = {
		"{\"rev\":0}", "{\"rev\":\"1\"}", "{\"msg\":\"opened\"}", "{\"status\":\"test\"}",
		"{\"priority\":6}", "{\"cause\":\"magic\"}", "{\"confidence\":1.5}",
		"{\"updated\":\"yesterday\"}", "{\"incident\":\"\"}", "{\"affected\":{}}",
		"{\"affected\":[{\"sector\":\"energy\"}]}", "{\"root\":[]}", "{\"sectors\":\"x\"}",
		"{\"incident\":\"INC 1\"}", "{\"msg\":\"merged\",\"merged_into\":\"INC-a INC-b\"}",
	};
	struct tn__cap_opts o = opts();
	struct made m;
	char *xml;
	size_t len;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(make(bad[i], &o, &m) == TN_EINVAL, "%s accepted", bad[i]);
	ck_assert_int_eq(tn__cap_alert("not json", 8, &o, &xml, &len), TN_EINVAL);
	ck_assert_int_eq(tn__cap_alert("[]", 2, &o, &xml, &len), TN_EINVAL);
	/* text that XML 1.0 cannot carry is replaced, the document stays valid */
	ck_assert_int_eq(make("{\"title\":\"a\\u0001b <&> \\u00e9\"}", &o, &m), 0);
	ck_assert(xp_eq(m.d, "string(//cap:headline)", "a?b <&> \xc3\xa9"));
	unmake(&m);
}
END_TEST

static Suite *cap_suite(void)
{
	Suite *s = suite_create("cap");
	TCase *v = tcase_create("validator"), *e = tcase_create("engine"),
	      *h = tcase_create("hand-made");

	tcase_add_loop_test(v, official_examples_validate, 0,
			    (int)(sizeof examples / sizeof examples[0]));
	tcase_add_test(v, broken_documents_fail);
	tcase_set_timeout(e, 300);
	tcase_add_test(e, demo_city_alerts);
	tcase_add_test(e, simulated_city_alerts);
	tcase_add_checked_fixture(h, small_setup, small_teardown);
	tcase_add_test(h, first_revision_fields);
	tcase_add_test(h, update_and_references);
	tcase_add_test(h, resolved_merged_withdrawn);
	tcase_add_test(h, certainty_urgency_severity_tables);
	tcase_add_test(h, categories_of_every_sector);
	tcase_add_test(h, polygon_and_circle);
	tcase_add_test(h, identifiers_and_streams);
	tcase_add_test(h, times);
	tcase_add_test(h, bad_bodies);
	suite_add_tcase(s, v);
	suite_add_tcase(s, e);
	suite_add_tcase(s, h);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(cap_suite());
	int failed;

	xmlInitParser();
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	xmlCleanupParser();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
