/*
 * cap.c - an incident revision as an OASIS CAP 1.2 alert (cap.h).
 *
 * Three steps: read the body (jansson) into struct rev, map it field by
 * field (the tables below are the ones docs/control-rooms.md documents),
 * and write the document with xmlTextWriter in the schema's element order.
 * The free text (description, instruction) is composed in a memory stream
 * and handed to the writer as text, which escapes it.
 */
#include "cap.h"

#include <jansson.h>
#include <libxml/xmlwriter.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tocsin/error.h"
#include "tocsin/event.h"
#include "tocsin/graph.h"

#define KM_PER_DEG 111.19508 /* on the sphere of radius 6371.0088 km */
#define EARTH_KM 6371.0088
#define POLAR_LAT 85.0	     /* beyond, the local projection is too poor for a polygon */

/* ---- the revision ------------------------------------------------------------- */

struct rev {
	json_t *root_json;
	const char *incident, *msg, *title, *cause, *area, *merged_into;
	const char *root_asset, *root_sector, *root_time;
	uint32_t rev;
	int priority;
	bool exercise;
	double confidence;
	int64_t updated_us, opened_us, onset_us;
	bool has_opened, has_onset;
	json_t *sectors, *affected, *at_risk;
};

static const char *str_of(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static bool one_of(const char *s, const char *const *set)
{
	for (; s && *set; set++)
		if (strcmp(s, *set) == 0)
			return true;
	return false;
}

/* An optional array of objects that each name an asset. */
static int asset_list(json_t *o, const char *key, json_t **out)
{
	json_t *a = json_object_get(o, key), *e;
	size_t i;

	*out = a;
	if (!a)
		return 0;
	if (!json_is_array(a))
		return TN_EINVAL;
	json_array_foreach (a, i, e)
		if (!json_is_object(e) || !str_of(e, "asset"))
			return TN_EINVAL;
	return 0;
}

static int rev_parse(const char *body, size_t len, struct rev *r)
{
	static const char *const msgs[] = {"alert", "update", "resolved", "merged", NULL};
	static const char *const statuses[] = {"actual", "exercise", NULL};
	static const char *const causes[] = {"observed", "inferred", "co-located", "visibility",
					     NULL};
	json_t *o, *v, *root;
	json_int_t n;

	memset(r, 0, sizeof *r);
	o = r->root_json = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o))
		return TN_EINVAL;
	r->incident = str_of(o, "incident");
	r->msg = str_of(o, "msg");
	r->title = str_of(o, "title");
	r->cause = str_of(o, "cause");
	r->area = str_of(o, "area");
	r->merged_into = str_of(o, "merged_into");
	if (!r->incident || !*r->incident || !one_of(r->msg, msgs) || !r->title ||
	    !one_of(r->cause, causes) || !one_of(str_of(o, "status"), statuses))
		return TN_EINVAL;
	r->exercise = strcmp(str_of(o, "status"), "exercise") == 0;
	n = json_integer_value(v = json_object_get(o, "rev"));
	if (!json_is_integer(v) || n < 1 || n > UINT32_MAX)
		return TN_EINVAL;
	r->rev = (uint32_t)n;
	n = json_integer_value(v = json_object_get(o, "priority"));
	if (!json_is_integer(v) || n < 1 || n > 5)
		return TN_EINVAL;
	r->priority = (int)n;
	v = json_object_get(o, "confidence");
	if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1)
		return TN_EINVAL;
	r->confidence = json_number_value(v);
	if (!str_of(o, "updated") || tn__cap_parse_time(str_of(o, "updated"), &r->updated_us) != 0)
		return TN_EINVAL;
	if (str_of(o, "opened")) {
		if (tn__cap_parse_time(str_of(o, "opened"), &r->opened_us) != 0)
			return TN_EINVAL;
		r->has_opened = true;
	}
	if ((root = json_object_get(o, "root")) != NULL) {
		if (!json_is_object(root))
			return TN_EINVAL;
		r->root_asset = str_of(root, "asset");
		r->root_sector = str_of(root, "sector");
		r->root_time = str_of(root, "time");
		if (r->root_time) {
			if (tn__cap_parse_time(r->root_time, &r->onset_us) != 0)
				return TN_EINVAL;
			r->has_onset = true;
		}
	}
	r->sectors = json_object_get(o, "sectors");
	if (r->sectors && !json_is_array(r->sectors))
		return TN_EINVAL;
	if (asset_list(o, "affected", &r->affected) != 0 ||
	    asset_list(o, "at_risk", &r->at_risk) != 0)
		return TN_EINVAL;
	if (strcmp(r->msg, "merged") == 0 && !tn__cap_sender_ok(r->merged_into))
		return TN_EINVAL;
	return 0;
}

/* ---- times --------------------------------------------------------------------- */

int tn__cap_parse_time(const char *s, int64_t *us)
{
	struct tm tm = {0};
	int y, mo, d, h, mi, sec, pos = 0, digits = 0;
	int64_t frac = 0;
	time_t t;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &pos) != 6 ||
	    pos != 19 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 ||
	    y < 1 || h < 0 || mi < 0 || sec < 0)
		return TN_EINVAL;
	s += pos;
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++, digits++)
			if (digits < 6)
				frac = frac * 10 + (*s - '0');
		if (digits == 0)
			return TN_EINVAL;
		for (; digits < 6; digits++)
			frac *= 10;
	}
	if (strcmp(s, "Z") != 0 && strcmp(s, "+00:00") != 0 && strcmp(s, "-00:00") != 0)
		return TN_EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	*us = (int64_t)t * 1000000 + frac;
	return 0;
}

int tn__cap_time(int64_t us, char *buf)
{
	/* floor, so that a time before 1970 is truncated towards the past too */
	int64_t s = us / 1000000 - (us % 1000000 < 0);
	time_t t = (time_t)s;
	struct tm tm;

	if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 1000 || tm.tm_year + 1900 > 9999)
		return TN_ERANGE;
	/* strftime: the fields' widths are bounded, which snprintf cannot know */
	if (strftime(buf, TN_CAP_TIME_LEN + 1, "%Y-%m-%dT%H:%M:%S-00:00", &tm) != TN_CAP_TIME_LEN)
		return TN_ERANGE;
	return 0;
}

/* ---- identifiers ------------------------------------------------------------------ */

bool tn__cap_sender_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > TN_CAP_SENDER_MAX)
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s > '~' || *s == ',' || *s == '<' || *s == '&')
			return false;
	return true;
}

static bool is_live(const char *stream)
{
	return !stream || strcmp(stream, "live") == 0;
}

int tn__cap_identifier(const char *sender, const char *stream, const char *incident,
		       uint32_t rev, char *buf, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;
	int k;

	if (!tn__cap_sender_ok(sender) || (stream && !*stream))
		return TN_EINVAL;
	k = snprintf(buf, cap, "%s/", sender);
	if (k < 0 || (size_t)k >= cap)
		return TN_ERANGE;
	n = (size_t)k;
	for (const unsigned char *p = (const unsigned char *)stream; !is_live(stream) && *p; p++) {
		bool plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			     (*p >= '0' && *p <= '9') || strchr("._:@-", *p);

		if (n + 4 > cap)
			return TN_ERANGE;
		if (plain) {
			buf[n++] = (char)*p;
		} else {
			buf[n++] = '%';
			buf[n++] = hex[*p >> 4];
			buf[n++] = hex[*p & 15];
		}
	}
	if (!is_live(stream)) {
		if (n + 2 > cap)
			return TN_ERANGE;
		buf[n++] = '/';
	}
	/* the incident comes from a body and goes into identifier, references and the
	   space-separated incidents: it may hold what a sender may */
	if (!tn__cap_sender_ok(incident))
		return TN_EINVAL;
	k = snprintf(buf + n, cap - n, "%s/%u", incident, rev);
	if (k < 0 || (size_t)k >= cap - n)
		return TN_ERANGE;
	return 0;
}

int tn__cap_ref_of(const char *body, size_t len, struct tn__cap_ref *out)
{
	json_t *o = json_loadb(body, len, 0, NULL), *v;
	int rc = TN_EINVAL;

	v = json_object_get(o, "rev");
	if (json_is_integer(v) && json_integer_value(v) >= 1 &&
	    json_integer_value(v) <= UINT32_MAX && str_of(o, "updated") &&
	    tn__cap_parse_time(str_of(o, "updated"), &out->updated_us) == 0) {
		out->rev = (uint32_t)json_integer_value(v);
		rc = 0;
	}
	json_decref(o);
	return rc;
}

/* ---- the mappings (docs/control-rooms.md, "CAP 1.2") ------------------------------ */

/* CAP categories, in the schema's order: the document lists them in it. */
enum cat { CAT_SAFETY, CAT_SECURITY, CAT_RESCUE, CAT_HEALTH, CAT_TRANSPORT, CAT_INFRA, CAT_CBRNE,
	   CAT_OTHER, CAT__COUNT };
static const char *const cat_names[CAT__COUNT] = {"Safety", "Security", "Rescue", "Health",
						  "Transport", "Infra", "CBRNE", "Other"};

/* The categories of a sector, as a mask of enum cat. */
static unsigned sector_categories(const char *sector)
{
	static const struct {
		const char *sector;
		unsigned cats;
	} map[] = {
		{"chemicals", 1u << CAT_CBRNE},
		{"civil-nuclear", 1u << CAT_CBRNE},
		{"communications", 1u << CAT_INFRA},
		{"defence", 1u << CAT_SECURITY},
		{"emergency-services", 1u << CAT_RESCUE | 1u << CAT_SAFETY},
		{"energy", 1u << CAT_INFRA},
		{"finance", 1u << CAT_INFRA},
		{"food", 1u << CAT_INFRA},
		{"government", 1u << CAT_INFRA},
		{"health", 1u << CAT_HEALTH},
		{"space", 1u << CAT_INFRA},
		{"transport", 1u << CAT_TRANSPORT},
		{"water", 1u << CAT_INFRA},
		{"data", 1u << CAT_INFRA},
	};

	for (size_t i = 0; sector && i < sizeof map / sizeof map[0]; i++)
		if (strcmp(sector, map[i].sector) == 0)
			return map[i].cats;
	return 0;
}

static unsigned categories(const struct rev *r)
{
	unsigned mask = 0;
	json_t *s;
	size_t i;

	json_array_foreach (r->sectors, i, s)
		mask |= sector_categories(json_string_value(s));
	if (!mask)
		mask = sector_categories(r->root_sector);
	return mask ? mask : 1u << CAT_OTHER;
}

static bool is_resolved(const struct rev *r)
{
	return strcmp(r->msg, "resolved") == 0;
}

static bool is_merged(const struct rev *r)
{
	return strcmp(r->msg, "merged") == 0;
}

/* An inference contradicted by its provider: resolved with confidence 0. */
static bool is_withdrawn(const struct rev *r)
{
	return is_resolved(r) && strcmp(r->cause, "inferred") == 0 && r->confidence == 0.0;
}

static const char *msg_type(const struct rev *r)
{
	if (r->rev == 1)
		return "Alert"; /* nothing earlier to update or cancel */
	return is_resolved(r) || is_merged(r) ? "Cancel" : "Update";
}

static bool pending(json_t *risk)
{
	const char *o = str_of(risk, "outcome");

	return !o || strcmp(o, "pending") == 0;
}

static size_t count_pending(const struct rev *r)
{
	json_t *e;
	size_t i, n = 0;

	json_array_foreach (r->at_risk, i, e)
		n += pending(e);
	return n;
}

static const char *urgency(const struct rev *r)
{
	if (is_resolved(r))
		return "Past";
	return r->priority <= 2 ? "Immediate" : r->priority == 3 ? "Expected" : "Future";
}

static const char *severity(const struct rev *r)
{
	static const char *const by_priority[] = {"Extreme", "Severe", "Moderate", "Minor",
						  "Minor"};

	if (is_resolved(r))
		return "Minor";
	if (strcmp(r->cause, "visibility") == 0)
		return "Unknown";
	return by_priority[r->priority - 1];
}

static const char *certainty(const struct rev *r)
{
	if (is_withdrawn(r))
		return "Unlikely";
	if (strcmp(r->cause, "observed") == 0)
		return "Observed";
	if (strcmp(r->cause, "co-located") == 0)
		return "Likely";
	if (strcmp(r->cause, "inferred") == 0)
		return r->confidence >= 0.5 ? "Likely" : "Possible";
	return "Possible"; /* visibility: a silent source may or may not hide failures */
}

static const char *response_type(const struct rev *r)
{
	if (is_resolved(r))
		return "AllClear";
	return (count_pending(r) > 0) ? "Prepare" : "Monitor";
}

/* ---- the area ---------------------------------------------------------------------- */

struct pt {
	double x, y; /* km in the local projection */
};

struct pts {
	double *lat, *lon;
	size_t n, cap;
};

static int pts_add(struct pts *p, double lat, double lon)
{
	if (!isfinite(lat) || !isfinite(lon) || lat < -90 || lat > 90)
		return 0; /* a bad lookup contributes nothing */
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		double *a = realloc(p->lat, cap * sizeof *a), *b;

		if (!a)
			return TN_ENOMEM;
		p->lat = a;
		if (!(b = realloc(p->lon, cap * sizeof *b)))
			return TN_ENOMEM;
		p->lon = b;
		p->cap = cap;
	}
	p->lat[p->n] = lat;
	p->lon[p->n] = lon;
	p->n++;
	return 0;
}

static int locate_one(const struct tn__cap_opts *o, const char *asset, struct pts *p)
{
	double lat, lon;

	if (!asset || !o->locate || !o->locate(o->locate_ctx, asset, &lat, &lon))
		return 0;
	return pts_add(p, lat, lon);
}

/* Root (an inferred root is no member), members, and pending at-risk assets. */
static int collect(const struct rev *r, const struct tn__cap_opts *o, struct pts *p)
{
	json_t *e;
	size_t i;
	int rc = 0;

	if (strcmp(r->cause, "visibility") != 0) /* there the root is a source, not an asset */
		rc = locate_one(o, r->root_asset, p);
	json_array_foreach (r->affected, i, e)
		if (rc == 0)
			rc = locate_one(o, str_of(e, "asset"), p);
	json_array_foreach (r->at_risk, i, e)
		if (rc == 0 && pending(e))
			rc = locate_one(o, str_of(e, "asset"), p);
	return rc;
}

static double wrap180(double lon)
{
	while (lon > 180)
		lon -= 360;
	while (lon < -180)
		lon += 360;
	return lon;
}

static double haversine_km(double lat1, double lon1, double lat2, double lon2)
{
	double r = M_PI / 180, dlat = (lat2 - lat1) * r, dlon = (lon2 - lon1) * r;
	double a = sin(dlat / 2) * sin(dlat / 2) +
		   cos(lat1 * r) * cos(lat2 * r) * sin(dlon / 2) * sin(dlon / 2);

	return 2 * EARTH_KM * asin(sqrt(a < 1 ? a : 1));
}

static double cross(struct pt o, struct pt a, struct pt b)
{
	return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
}

static int by_xy(const void *a, const void *b)
{
	const struct pt *p = a, *q = b;

	if (p->x != q->x)
		return p->x < q->x ? -1 : 1;
	return (p->y > q->y) - (p->y < q->y);
}

/* Andrew's monotone chain: the hull of pt[0..n) counter-clockwise into h
 * (room for 2n), collinear points dropped; returns its vertices. */
static size_t hull(struct pt *pt, size_t n, struct pt *h)
{
	size_t k = 0, i, lower;

	qsort(pt, n, sizeof *pt, by_xy);
	for (i = 0; i < n; i++) {
		while (k >= 2 && cross(h[k - 2], h[k - 1], pt[i]) <= 1e-9)
			k--;
		h[k++] = pt[i];
	}
	for (i = n - 1, lower = k + 1; i-- > 0;) {
		while (k >= lower && cross(h[k - 2], h[k - 1], pt[i]) <= 1e-9)
			k--;
		h[k++] = pt[i];
	}
	return k > 1 ? k - 1 : k; /* the last point repeats the first */
}

struct geometry {
	bool circle, polygon;
	double clat, clon, radius_km;
	char *text; /* polygon: "lat,lon lat,lon ..." closed */
};

static void fmt_latlon(FILE *f, double lat, double lon)
{
	/* never "-0.00000": -0 prints a sign */
	lat = fabs(lat) < 5e-6 ? 0 : lat;
	lon = fabs(lon) < 5e-6 ? 0 : lon;
	fprintf(f, "%.5f,%.5f", lat, lon);
}

/*
 * The polygon is the convex hull of the points, each vertex pushed out from
 * the hull along the bisector of its corner so that every edge moves out by
 * TN_CAP_MARGIN_KM (capped at four margins at a sharp corner). A hull of
 * fewer than three corners (one point, a line), too many corners, or points
 * near a pole give a circle around the centroid instead.
 */
static int geometry(const struct pts *p, struct geometry *g)
{
	struct pt *pt = NULL, *h = NULL;
	double lon0, sumlat = 0, sumlon = 0, kx, rmax = 0;
	size_t i, nh = 0;
	char *text = NULL;
	size_t tlen = 0;
	FILE *f;

	memset(g, 0, sizeof *g);
	if (p->n == 0)
		return 0;
	lon0 = p->lon[0]; /* unwrap longitudes around the first: an area may span 180 */
	for (i = 0; i < p->n; i++) {
		sumlat += p->lat[i];
		sumlon += lon0 + wrap180(p->lon[i] - lon0);
	}
	g->clat = sumlat / (double)p->n;
	g->clon = sumlon / (double)p->n;
	kx = KM_PER_DEG * cos(g->clat * M_PI / 180);
	for (i = 0; i < p->n; i++) {
		double d = haversine_km(g->clat, g->clon, p->lat[i], p->lon[i]);

		rmax = d > rmax ? d : rmax;
	}
	if (p->n >= 3 && fabs(g->clat) < POLAR_LAT) {
		if (!(pt = malloc(p->n * sizeof *pt)) || !(h = malloc(2 * p->n * sizeof *h))) {
			free(pt);
			return TN_ENOMEM;
		}
		for (i = 0; i < p->n; i++) {
			pt[i].x = wrap180(p->lon[i] - g->clon) * kx;
			pt[i].y = (p->lat[i] - g->clat) * KM_PER_DEG;
		}
		nh = hull(pt, p->n, h);
	}
	if (nh >= 3 && nh <= TN_CAP_POLYGON_MAX) {
		if (!(f = open_memstream(&text, &tlen))) {
			free(pt);
			free(h);
			return TN_ENOMEM;
		}
		for (i = 0; i <= nh; i++) {
			struct pt a = h[(i + nh - 1) % nh], v = h[i % nh], b = h[(i + 1) % nh];
			double ax = v.x - a.x, ay = v.y - a.y, bx = b.x - v.x, by = b.y - v.y;
			double la = hypot(ax, ay), lb = hypot(bx, by), nx, ny, nl, c, m;

			/* outward normals of a counter-clockwise ring: (dy, -dx) */
			nx = ay / la + by / lb;
			ny = -ax / la - bx / lb;
			nl = hypot(nx, ny);
			c = nl / 2; /* the cosine of half the turn */
			m = TN_CAP_MARGIN_KM / (c > 0.25 ? c : 0.25);
			if (i)
				fputc(' ', f);
			fmt_latlon(f, g->clat + (v.y + ny / nl * m) / KM_PER_DEG,
				   wrap180(g->clon + (v.x + nx / nl * m) / kx));
		}
		if (fclose(f) != 0) {
			free(text);
			free(pt);
			free(h);
			return TN_ENOMEM;
		}
		g->polygon = true;
		g->text = text;
	} else {
		g->circle = true;
		g->radius_km = rmax + TN_CAP_MARGIN_KM;
	}
	free(pt);
	free(h);
	return 0;
}

/* ---- the writer ---------------------------------------------------------------- */

/* XML 1.0 has no place for C0 controls but tab and line breaks. */
static char *xml_text(const char *s, size_t max)
{
	size_t n = strlen(s), i;
	char *t;

	if (n > max) { /* cut on a character boundary */
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	if (!(t = malloc(n + 1)))
		return NULL;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		t[i] = (c < 0x20 && c != '\t' && c != '\n' && c != '\r') ? '?' : (char)c;
	}
	t[n] = '\0';
	return t;
}

struct w {
	xmlTextWriterPtr x;
	int err;
};

static void el(struct w *w, const char *name, const char *text)
{
	char *t;

	if (w->err)
		return;
	if (!(t = xml_text(text, SIZE_MAX))) {
		w->err = TN_ENOMEM;
		return;
	}
	if (xmlTextWriterWriteElement(w->x, BAD_CAST name, BAD_CAST t) < 0)
		w->err = TN_ENOMEM;
	free(t);
}

static void open_el(struct w *w, const char *name)
{
	if (!w->err && xmlTextWriterStartElement(w->x, BAD_CAST name) < 0)
		w->err = TN_ENOMEM;
}

static void close_el(struct w *w)
{
	if (!w->err && xmlTextWriterEndElement(w->x) < 0)
		w->err = TN_ENOMEM;
}

static void pair(struct w *w, const char *name, const char *key, const char *value)
{
	open_el(w, name);
	el(w, "valueName", key);
	el(w, "value", value);
	close_el(w);
}

static void el_time(struct w *w, const char *name, int64_t us)
{
	char t[TN_CAP_TIME_LEN + 1];

	if (!w->err && tn__cap_time(us, t) != 0)
		w->err = TN_ERANGE;
	el(w, name, t);
}

/* Close a memory stream over *buf (fclose sets it); the text, or NULL when
 * out of memory. */
static char *stream_done(FILE *f, char **buf)
{
	if (fclose(f) != 0) {
		free(*buf);
		return *buf = NULL;
	}
	return *buf;
}

static const char *or_q(const char *s)
{
	return s ? s : "?";
}

/* One line per asset, at most TN_CAP_LIST_MAX; at-risk entries only while pending. */
static void list_assets(FILE *f, json_t *a, bool at_risk)
{
	size_t i, shown = 0, left = 0;
	json_t *e;

	json_array_foreach (a, i, e) {
		const char *sec = str_of(e, "sector");

		if (at_risk && !pending(e))
			continue;
		if (shown == TN_CAP_LIST_MAX) {
			left++;
			continue;
		}
		shown++;
		fprintf(f, "\n- %s (%s)", str_of(e, "asset"), sec ? sec : "unknown sector");
		if (at_risk)
			fprintf(f, ": expected between %s and %s, via %s", or_q(str_of(e, "eta")),
				or_q(str_of(e, "eta_latest")), or_q(str_of(e, "via")));
		else
			fprintf(f, ": failed at %s, now %s", or_q(str_of(e, "time")),
				or_q(str_of(e, "state")));
	}
	if (left)
		fprintf(f, "\n- and %zu more", left);
}

static char *description(const struct rev *r)
{
	char *buf = NULL;
	size_t len = 0, i, np = count_pending(r);
	FILE *f = open_memstream(&buf, &len);
	json_t *s;

	if (!f)
		return NULL;
	fprintf(f, "%sTocsin incident %s, revision %u (%s), priority P%d.\n%s.\n",
		r->exercise ? "EXERCISE. " : "", r->incident, r->rev, r->msg, r->priority,
		r->title);
	fprintf(f, "Cause: %s, confidence %.3f.", r->cause, r->confidence);
	if (r->root_asset)
		fprintf(f, " Root: %s (%s)%s%s.", r->root_asset,
			r->root_sector ? r->root_sector : "unknown sector",
			r->root_time ? " at " : "", r->root_time ? r->root_time : "");
	fputc('\n', f);
	if (json_array_size(r->sectors)) {
		fputs("Sectors:", f);
		json_array_foreach (r->sectors, i, s)
			fprintf(f, "%s %s", i ? "," : "", or_q(json_string_value(s)));
		fputs(".\n", f);
	}
	fprintf(f, "Affected: %zu.", json_array_size(r->affected));
	list_assets(f, r->affected, false);
	if (np) {
		fprintf(f, "\nAt risk: %zu.", np);
		list_assets(f, r->at_risk, true);
	}
	fputc('\n', f);
	if (r->has_opened)
		fprintf(f, "Opened %s, ", str_of(r->root_json, "opened"));
	fprintf(f, "last change %s.", str_of(r->root_json, "updated"));
	if (is_merged(r))
		fprintf(f, "\nMerged into %s: this incident continues there.", r->merged_into);
	return stream_done(f, &buf);
}

static char *instruction(const struct rev *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	if (r->exercise)
		fputs("EXERCISE: not a real incident. ", f);
	if (is_withdrawn(r))
		fputs("The suspected failure was contradicted by a report from the asset itself: "
		      "stand down measures taken for it. The failures it grouped continue as "
		      "incidents of their own.",
		      f);
	else if (is_resolved(r))
		fputs("Every affected asset is reported working again: stand down measures taken "
		      "for this incident.",
		      f);
	else if (is_merged(r))
		fprintf(f, "Follow incident %s: this incident is now part of it, and its messages "
			   "supersede these.",
			r->merged_into);
	else {
		if (r->priority <= 2)
			fputs("Act now: start continuity plans for the affected assets and warn "
			      "the services that depend on them. ",
			      f);
		if ((count_pending(r) > 0))
			fputs("Protect the assets at risk before their expected time: check their "
			      "backup supplies and prepare for the loss of their service.",
			      f);
		else
			fputs("Monitor the affected assets and follow the operators' own "
			      "procedures.",
			      f);
	}
	return stream_done(f, &buf);
}

/* The title's "what", before its first ": " (e.g. "energy substation X failure"). */
static char *event_of(const struct rev *r)
{
	const char *colon = strstr(r->title, ": ");
	size_t n = colon ? (size_t)(colon - r->title) : strlen(r->title);

	if (is_withdrawn(r))
		return strdup("withdrawn inferred failure");
	if (n == 0)
		return strdup("infrastructure failure");
	return strndup(r->title, n);
}

static char *headline(const struct rev *r)
{
	char *buf = NULL, *cut;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fprintf(f, "%s%s%s%s%s", r->exercise ? "EXERCISE: " : "",
		is_resolved(r) ? "resolved: " : "", is_merged(r) ? "merged into " : "",
		is_merged(r) ? r->merged_into : "", is_merged(r) ? ": " : "");
	fputs(r->title, f);
	if (!(buf = stream_done(f, &buf)))
		return NULL;
	cut = xml_text(buf, 160); /* CAP: "should be less than 160 characters" */
	free(buf);
	return cut;
}

static void area_desc(FILE *f, const struct rev *r, size_t located)
{
	size_t na = json_array_size(r->affected), nr = count_pending(r);

	fprintf(f, "%s%s: %zu affected asset%s, %zu at risk", r->area && *r->area ? "area " : "",
		r->area && *r->area ? r->area : "unknown area", na, na == 1 ? "" : "s", nr);
	if (located == 0)
		fputs(" (no location known)", f);
}

static void write_info(struct w *w, const struct rev *r, const struct tn__cap_opts *o,
		       const struct geometry *g, size_t located)
{
	unsigned cats = categories(r);
	char *ev = event_of(r), *hl = headline(r), *desc = description(r), *ins = instruction(r);
	char num[64], *ad = NULL;
	size_t adlen = 0;
	FILE *f;

	if (!ev || !hl || !desc || !ins)
		w->err = TN_ENOMEM;
	open_el(w, "info");
	el(w, "language", "en-GB");
	for (int c = 0; c < CAT__COUNT; c++)
		if (cats & (1u << c))
			el(w, "category", cat_names[c]);
	el(w, "event", ev ? ev : "");
	el(w, "responseType", response_type(r));
	el(w, "urgency", urgency(r));
	el(w, "severity", severity(r));
	el(w, "certainty", certainty(r));
	pair(w, "eventCode", "tocsin:cause", r->cause);
	if (r->has_onset)
		el_time(w, "onset", r->onset_us);
	el(w, "senderName", o->sender_name ? o->sender_name : "Tocsin");
	el(w, "headline", hl ? hl : "");
	el(w, "description", desc ? desc : "");
	el(w, "instruction", ins ? ins : "");
	snprintf(num, sizeof num, "P%d", r->priority);
	pair(w, "parameter", "tocsin:priority", num);
	snprintf(num, sizeof num, "%.3f", r->confidence);
	pair(w, "parameter", "tocsin:confidence", num);
	snprintf(num, sizeof num, "%u", r->rev);
	pair(w, "parameter", "tocsin:revision", num);
	if (r->root_asset)
		pair(w, "parameter", "tocsin:root", r->root_asset);
	open_el(w, "area");
	if ((f = open_memstream(&ad, &adlen)) != NULL) {
		area_desc(f, r, located);
		ad = stream_done(f, &ad);
	}
	if (!ad)
		w->err = TN_ENOMEM;
	el(w, "areaDesc", ad ? ad : "");
	if (g->polygon)
		el(w, "polygon", g->text);
	if (g->circle) {
		char c[96];

		snprintf(c, sizeof c, "%.5f,%.5f %.3f", fabs(g->clat) < 5e-6 ? 0 : g->clat,
			 fabs(wrap180(g->clon)) < 5e-6 ? 0 : wrap180(g->clon), g->radius_km);
		el(w, "circle", c);
	}
	if (r->area && *r->area)
		pair(w, "geocode", "tocsin:area", r->area);
	close_el(w); /* area */
	close_el(w); /* info */
	free(ev);
	free(hl);
	free(desc);
	free(ins);
	free(ad);
}

static int check_refs(const struct rev *r, const struct tn__cap_opts *o)
{
	if (r->rev > 1 && o->nrefs == 0)
		return TN_EINVAL;
	for (size_t i = 0; i < o->nrefs; i++)
		if (o->refs[i].rev < 1 || o->refs[i].rev >= r->rev ||
		    (i && o->refs[i].rev <= o->refs[i - 1].rev))
			return TN_EINVAL;
	return 0;
}

/* "sender,identifier,sent" of every earlier message, space-separated. */
static int references(const struct rev *r, const struct tn__cap_opts *o, char **out)
{
	char *buf = NULL, id[1024], t[TN_CAP_TIME_LEN + 1];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int rc = 0;

	if (!f)
		return TN_ENOMEM;
	for (size_t i = 0; rc == 0 && i < o->nrefs; i++) {
		rc = tn__cap_identifier(o->sender, o->stream, r->incident, o->refs[i].rev, id,
					sizeof id);
		if (rc == 0)
			rc = tn__cap_time(o->refs[i].updated_us, t);
		if (rc == 0)
			fprintf(f, "%s%s,%s,%s", i ? " " : "", o->sender, id, t);
	}
	if (!(buf = stream_done(f, &buf)))
		return TN_ENOMEM;
	if (rc != 0)
		free(buf);
	else
		*out = buf;
	return rc;
}

static void write_alert(struct w *w, const struct rev *r, const struct tn__cap_opts *o,
			const char *id, const char *refs, const struct geometry *g, size_t located)
{
	char incidents[512];

	if (!w->err && xmlTextWriterStartDocument(w->x, NULL, "UTF-8", NULL) < 0)
		w->err = TN_ENOMEM;
	open_el(w, "alert");
	if (!w->err && xmlTextWriterWriteAttribute(w->x, BAD_CAST "xmlns", BAD_CAST TN_CAP_NS) < 0)
		w->err = TN_ENOMEM;
	el(w, "identifier", id);
	el(w, "sender", o->sender);
	el_time(w, "sent", r->updated_us);
	el(w, "status", r->exercise ? "Exercise" : "Actual");
	el(w, "msgType", msg_type(r));
	el(w, "source", is_live(o->stream) ? "tocsin" : o->stream);
	el(w, "scope", o->public_scope ? "Public" : "Restricted");
	if (!o->public_scope)
		el(w, "restriction",
		   "critical infrastructure information: control rooms and partner agencies only");
	if (is_merged(r))
		el(w, "note", "merged into another incident, named in incidents; its messages "
			      "supersede these");
	else if (is_withdrawn(r))
		el(w, "note", "inferred failure withdrawn");
	else if (r->exercise)
		el(w, "note", "exercise");
	if (refs && *refs)
		el(w, "references", refs);
	/* a merged incident names its absorber too: receivers group the two */
	snprintf(incidents, sizeof incidents, "%s%s%s", r->incident, is_merged(r) ? " " : "",
		 is_merged(r) ? r->merged_into : "");
	el(w, "incidents", incidents);
	write_info(w, r, o, g, located);
	close_el(w); /* alert */
	if (!w->err && xmlTextWriterEndDocument(w->x) < 0)
		w->err = TN_ENOMEM;
}

int tn__cap_alert(const char *body, size_t len, const struct tn__cap_opts *o, char **xml,
		  size_t *xml_len)
{
	struct rev r;
	struct pts p = {0};
	struct geometry g = {0};
	struct w w = {0};
	xmlBufferPtr xb = NULL;
	char id[1024], *refs = NULL;
	int rc;

	if (!o || !tn__cap_sender_ok(o->sender) || (o->stream && !*o->stream) ||
	    (o->nrefs && !o->refs))
		return TN_EINVAL;
	if ((rc = rev_parse(body, len, &r)) != 0 || (rc = check_refs(&r, o)) != 0 ||
	    (rc = tn__cap_identifier(o->sender, o->stream, r.incident, r.rev, id, sizeof id)) !=
		    0 ||
	    (rc = references(&r, o, &refs)) != 0 || (rc = collect(&r, o, &p)) != 0 ||
	    (rc = geometry(&p, &g)) != 0)
		goto out;
	if (!(xb = xmlBufferCreate()) || !(w.x = xmlNewTextWriterMemory(xb, 0))) {
		rc = TN_ENOMEM;
		goto out;
	}
	xmlTextWriterSetIndent(w.x, 1);
	xmlTextWriterSetIndentString(w.x, BAD_CAST "  ");
	write_alert(&w, &r, o, id, refs, &g, p.n);
	xmlFreeTextWriter(w.x); /* flushes into xb */
	w.x = NULL;
	if ((rc = w.err) != 0)
		goto out;
	if (!(*xml = strdup((const char *)xmlBufferContent(xb)))) {
		rc = TN_ENOMEM;
		goto out;
	}
	*xml_len = (size_t)xmlBufferLength(xb);
out:
	if (w.x)
		xmlFreeTextWriter(w.x);
	xmlBufferFree(xb);
	free(refs);
	free(g.text);
	free(p.lat);
	free(p.lon);
	json_decref(r.root_json);
	return rc;
}

bool tn__cap_locate_graph(void *ctx, const char *asset, double *lat, double *lon)
{
	const struct tn_graph *g = ctx;
	const struct tn_asset *a;
	uint32_t i = g ? tn_graph_find(g, asset) : TN_GRAPH_NONE;

	if (i == TN_GRAPH_NONE || (a = tn_graph_asset(g, i)) == NULL)
		return false;
	*lat = a->lat;
	*lon = a->lon;
	return true;
}
