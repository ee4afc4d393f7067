/*
 * sim_city.c - `tocsin sim city`: a plausible city as assets.csv and
 * dependencies.csv (design §2). The model is in docs/simulator.md.
 *
 * The city is laid out around districts, one per primary substation; a
 * district is also the asset's `area`. Power is a tree (grid supply points,
 * primary substations, feeders, secondary substations), and every other
 * asset sits within a few hundred metres of the secondary substation that
 * feeds it, so that co-location means something. Water, communications,
 * transport, health and emergency services hang their own dependencies on
 * top, local to the district where that is how it is done (an exchange, a
 * street cabinet) and nearest-of-its-kind where a city has few of them (a
 * treatment works, a data centre, a control room). Control of substations
 * over the exchanges that the substations feed closes the usual cycles.
 *
 * Two phases: place every asset (positions and parents in memory, about 40
 * bytes an asset), then draw the edges (16 bytes each) and stream both
 * files out through one buffer. A million assets take a few seconds.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "sim_rng.h"
#include "tocsin/error.h"

#define NONE UINT32_MAX

/* Streams of the generator (sim_rng.h): layout, edges, extra edges, attributes. */
enum { ST_PLACE = 1, ST_EDGES, ST_EXTRA, ST_ATTRS };

/* The city's centre (a fictional city in the English Midlands) and its size. */
#define CITY_LAT 52.9540
#define CITY_LON (-1.1550)
#define CITY_RADIUS_10K_M 6000.0 /* radius of a 10,000-asset city; grows as sqrt(N) */
#define HOST_SPREAD_M 60.0	 /* sigma of an asset's distance to its substation */
#define M_PER_DEG_LAT 111320.0

enum role {
	R_GSP,
	R_PRIMARY,
	R_FEEDER,
	R_SECONDARY,
	R_TREATMENT,
	R_PUMPING,
	R_RESERVOIR,
	R_SEWAGE,
	R_EXCHANGE,
	R_CABINET,
	R_MAST,
	R_DATACENTRE,
	R_RAIL_LINE,
	R_SIGNALLING,
	R_STATION,
	R_UTC,
	R_TRAFFIC,
	R_HOSPITAL,
	R_CARE_HOME,
	R_GP,
	R_PHARMACY,
	R_AMBULANCE,
	R_CONTROL_ROOM,
	R_FIRE,
	R_POLICE,
	R_SUPERMARKET,
	R_CASH,
	R_BANK,
	R_FUEL,
	R_COUNCIL,
	R__COUNT
};

struct role_spec {
	const char *kind;   /* assets.csv kind */
	const char *prefix; /* of the id */
	const char *label;  /* of the name */
	enum tn_sector sector;
	unsigned per_10k; /* how many in a city of 10,000 assets (0: the filler) */
	unsigned min;
	int crit;
	int64_t pop_lo, pop_hi;
	double backup_p; /* chance of any backup at all */
	int32_t backup_lo, backup_hi;
	enum tn_sensitivity sens;
	bool local; /* providers of this role are picked within the district */
};

#define E TN_SECTOR_ENERGY
#define W TN_SECTOR_WATER
#define C TN_SECTOR_COMMUNICATIONS
#define D TN_SECTOR_DATA
#define T TN_SECTOR_TRANSPORT
#define H TN_SECTOR_HEALTH
#define S TN_SECTOR_EMERGENCY_SERVICES
#define F TN_SECTOR_FOOD
#define M TN_SECTOR_FINANCE
#define G TN_SECTOR_GOVERNMENT
#define PUB TN_SENS_PUBLIC
#define OFF TN_SENS_OFFICIAL
#define SEN TN_SENS_OFFICIAL_SENSITIVE

static const struct role_spec roles[R__COUNT] = {
	[R_GSP] = {"grid-supply-point", "gsp", "grid supply point", E, 4, 1, 1, 150000, 400000, 0,
		   0, 0, SEN, false},
	[R_PRIMARY] = {"primary-substation", "pss", "primary substation", E, 25, 1, 2, 15000, 40000,
		       0, 0, 0, SEN, false},
	[R_FEEDER] = {"feeder", "fdr", "11kV feeder", E, 150, 2, 3, 2000, 6000, 0, 0, 0, OFF, true},
	[R_SECONDARY] = {"secondary-substation", "ss", "secondary substation", E, 0, 4, 4, 150, 600,
			 0, 0, 0, OFF, true},
	[R_TREATMENT] = {"treatment-works", "wtw", "water treatment works", W, 3, 1, 1, 50000,
			 400000, 1.0, 3600, 14400, SEN, false},
	[R_PUMPING] = {"pumping-station", "wps", "pumping station", W, 50, 1, 2, 3000, 30000, 0.3,
		       900, 3600, OFF, true},
	[R_RESERVOIR] = {"reservoir", "wsr", "service reservoir", W, 20, 1, 2, 5000, 50000, 0, 0, 0,
			 OFF, false},
	[R_SEWAGE] = {"sewage-pumping-station", "sps", "sewage pumping station", W, 200, 1, 3, 500,
		      5000, 0.1, 1800, 3600, PUB, false},
	[R_EXCHANGE] = {"telephone-exchange", "tex", "telephone exchange", C, 25, 1, 2, 5000, 40000,
			1.0, 14400, 28800, SEN, true},
	[R_CABINET] = {"street-cabinet", "cab", "street cabinet", C, 1200, 2, 4, 100, 600, 0.4,
		       1800, 3600, PUB, true},
	[R_MAST] = {"mast", "mst", "mobile mast", C, 400, 1, 3, 500, 5000, 1.0, 1800, 7200, OFF,
		    true},
	[R_DATACENTRE] = {"data-centre", "dc", "data centre", D, 3, 1, 2, 50000, 500000, 1.0, 86400,
			  172800, SEN, false},
	[R_RAIL_LINE] = {"rail-line", "rl", "rail line section", T, 20, 1, 2, 5000, 50000, 0, 0, 0,
			 OFF, false},
	[R_SIGNALLING] = {"rail-signalling", "sig", "signalling interlocking", T, 60, 1, 2, 5000,
			  30000, 1.0, 600, 1800, OFF, false},
	[R_STATION] = {"railway-station", "stn", "railway station", T, 30, 1, 3, 2000, 30000, 0, 0,
		       0, PUB, false},
	[R_UTC] = {"traffic-control-centre", "utc", "urban traffic control centre", T, 2, 1, 3,
		   50000, 300000, 1.0, 3600, 14400, OFF, false},
	[R_TRAFFIC] = {"traffic-signals", "tsg", "traffic signals", T, 1500, 1, 4, 500, 20000, 0.2,
		       1800, 3600, PUB, false},
	[R_HOSPITAL] = {"hospital", "hsp", "hospital", H, 8, 1, 1, 100000, 500000, 1.0, 14400,
			86400, OFF, false},
	[R_CARE_HOME] = {"care-home", "chm", "care home", H, 150, 1, 2, 20, 120, 0.2, 1800, 7200,
			 PUB, false},
	[R_GP] = {"gp-surgery", "gp", "GP surgery", H, 80, 1, 3, 3000, 15000, 0, 0, 0, PUB, false},
	[R_PHARMACY] = {"pharmacy", "phm", "pharmacy", H, 100, 1, 4, 2000, 8000, 0, 0, 0, PUB,
			false},
	[R_AMBULANCE] = {"ambulance-station", "amb", "ambulance station", S, 10, 1, 1, 50000,
			 200000, 1.0, 3600, 14400, OFF, false},
	[R_CONTROL_ROOM] = {"control-room", "ctl", "control room", S, 3, 3, 1, 300000, 1500000, 1.0,
			    28800, 86400, SEN, false},
	[R_FIRE] = {"fire-station", "fst", "fire station", S, 15, 1, 1, 30000, 150000, 1.0, 3600,
		    14400, OFF, false},
	[R_POLICE] = {"police-station", "pol", "police station", S, 12, 1, 2, 30000, 150000, 1.0,
		      3600, 14400, OFF, false},
	[R_SUPERMARKET] = {"supermarket", "smk", "supermarket", F, 150, 1, 4, 2000, 20000, 0, 0, 0,
			   PUB, false},
	[R_CASH] = {"cash-machine", "atm", "cash machine", M, 600, 1, 5, 100, 2000, 0, 0, 0, PUB,
		    false},
	[R_BANK] = {"bank-branch", "bnk", "bank branch", M, 60, 1, 4, 1000, 10000, 0, 0, 0, PUB,
		    false},
	[R_FUEL] = {"fuel-station", "ful", "fuel station", E, 80, 1, 4, 1000, 10000, 0, 0, 0, PUB,
		    false},
	[R_COUNCIL] = {"council-office", "cnl", "council office", G, 10, 1, 3, 20000, 200000, 0.5,
		       1800, 3600, OFF, false},
};

#undef E
#undef W
#undef C
#undef D
#undef T
#undef H
#undef S
#undef F
#undef M
#undef G
#undef PUB
#undef OFF
#undef SEN

static const char *const control_services[3] = {"ambulance", "fire", "police"};

struct casset {
	double lat, lon;
	uint32_t district;
	uint32_t host; /* the asset's first power provider (or parent), NONE if none */
};

struct cedge {
	uint32_t dep, prov;
	int32_t dmin, dmax; /* -1: empty in the file (derived from backup_s) */
	uint8_t kind;
};

struct city {
	uint32_t n;
	struct casset *a;
	uint32_t first[R__COUNT], count[R__COUNT];
	uint32_t districts;
	double radius_m, district_m, coslat;
	/* per district: the members of each local role (CSR) */
	uint32_t *loc_start[R__COUNT], *loc_item[R__COUNT];
	struct cedge *e;
	size_t ne, cap;
	uint64_t n_explicit;
	struct tn__rng rng;
};

/* ---- placement ------------------------------------------------------------------ */

static uint8_t role_of(const struct city *c, uint32_t i)
{
	uint8_t r = 0;

	while (r + 1 < R__COUNT && i >= c->first[r + 1])
		r++;
	return r;
}

static void offset_m(const struct city *c, double lat, double lon, double dx, double dy,
		     double *olat, double *olon)
{
	*olat = lat + dy / M_PER_DEG_LAT;
	*olon = lon + dx / (M_PER_DEG_LAT * c->coslat);
}

/* Near (lat, lon): a Gaussian offset of `sigma` metres. */
static void scatter(struct city *c, struct casset *a, double lat, double lon, double sigma)
{
	double dx = tn__rng_normal(&c->rng) * sigma, dy = tn__rng_normal(&c->rng) * sigma;

	offset_m(c, lat, lon, dx, dy, &a->lat, &a->lon);
}

static double dist2(const struct city *c, double lat1, double lon1, double lat2, double lon2)
{
	double dy = (lat1 - lat2), dx = (lon1 - lon2) * c->coslat;

	return dx * dx + dy * dy;
}

/* The nearest asset of role r to (lat, lon) other than `not`, whose index
 * within the role is congruent to `mod_eq` modulo `mod` (mod 0: any). */
static uint32_t nearest(const struct city *c, enum role r, double lat, double lon, uint32_t not,
			uint32_t mod, uint32_t mod_eq)
{
	uint32_t best = NONE;
	double bd = INFINITY;

	for (uint32_t k = 0; k < c->count[r]; k++) {
		uint32_t i = c->first[r] + k;
		double d;

		if (i == not || (mod && k % mod != mod_eq))
			continue;
		d = dist2(c, lat, lon, c->a[i].lat, c->a[i].lon);
		if (d < bd) {
			bd = d;
			best = i;
		}
	}
	return best;
}

/* A random member of local role r in district d other than `not1`, `not2`;
 * failing that the nearest of the role elsewhere. */
static uint32_t local(struct city *c, enum role r, uint32_t d, const struct casset *near,
		      uint32_t not1, uint32_t not2)
{
	uint32_t lo = c->loc_start[r][d], hi = c->loc_start[r][d + 1];

	if (hi > lo) {
		for (int tries = 0; tries < 4; tries++) {
			uint32_t i = c->loc_item[r][lo + tn__rng_below(&c->rng, hi - lo)];
			if (i != not1 && i != not2)
				return i;
		}
		for (uint32_t k = lo; k < hi; k++)
			if (c->loc_item[r][k] != not1 && c->loc_item[r][k] != not2)
				return c->loc_item[r][k];
	}
	if (not2 == NONE)
		return nearest(c, r, near->lat, near->lon, not1, 0, 0);
	return NONE;
}

static int build_local(struct city *c, enum role r)
{
	uint32_t *start = calloc((size_t)c->districts + 2, sizeof *start);
	uint32_t *item = malloc(((size_t)c->count[r] + 1) * sizeof *item);

	if (!start || !item) {
		free(start);
		free(item);
		return TN_ENOMEM;
	}
	for (uint32_t k = 0; k < c->count[r]; k++)
		start[c->a[c->first[r] + k].district + 2]++;
	for (uint32_t d = 0; d < c->districts; d++)
		start[d + 2] += start[d + 1];
	for (uint32_t k = 0; k < c->count[r]; k++) {
		uint32_t i = c->first[r] + k;
		item[start[c->a[i].district + 1]++] = i;
	}
	c->loc_start[r] = start;
	c->loc_item[r] = item;
	return 0;
}

/* Secondary substations of district d (built before the rest is placed). */
static uint32_t host_in(struct city *c, uint32_t *d)
{
	uint32_t lo = c->loc_start[R_SECONDARY][*d], hi = c->loc_start[R_SECONDARY][*d + 1];
	uint32_t s;

	if (hi > lo)
		return c->loc_item[R_SECONDARY][lo + tn__rng_below(&c->rng, hi - lo)];
	s = c->first[R_SECONDARY] + (uint32_t)tn__rng_below(&c->rng, c->count[R_SECONDARY]);
	*d = c->a[s].district;
	return s;
}

static int counts(struct city *c, uint64_t n, char *err, size_t errlen)
{
	uint64_t sum = 0, at = 0;

	for (int r = 0; r < R__COUNT; r++) {
		uint64_t k = n * roles[r].per_10k / 10000;
		if (k < roles[r].min)
			k = roles[r].min;
		c->count[r] = (uint32_t)k;
		if (roles[r].per_10k)
			sum += k;
	}
	if (sum + roles[R_SECONDARY].min > n || n - sum < c->count[R_FEEDER]) {
		snprintf(err, errlen, "--assets: expected at least %d, got %" PRIu64,
			 TN_SIM_CITY_MIN_ASSETS, n);
		return TN_EINVAL;
	}
	c->count[R_SECONDARY] = (uint32_t)(n - sum);
	for (int r = 0; r < R__COUNT; r++) {
		c->first[r] = (uint32_t)at;
		at += c->count[r];
	}
	c->n = (uint32_t)n;
	c->districts = c->count[R_PRIMARY];
	return 0;
}

static int place(struct city *c)
{
	uint32_t D = c->districts;
	int rc;

	/* Primaries on a jittered sunflower spiral: districts of even size. */
	for (uint32_t k = 0; k < D; k++) {
		struct casset *a = &c->a[c->first[R_PRIMARY] + k];
		double rr = c->radius_m * sqrt((k + 0.5) / D);
		double th = k * 2.399963229728653 + tn__rng_normal(&c->rng) * 0.05;
		double jx = tn__rng_normal(&c->rng) * c->district_m * 0.15;
		double jy = tn__rng_normal(&c->rng) * c->district_m * 0.15;

		offset_m(c, CITY_LAT, CITY_LON, rr * cos(th) + jx, rr * sin(th) + jy, &a->lat,
			 &a->lon);
		a->district = k;
		a->host = NONE;
	}
	/* Grid supply points anywhere in the city; area of the nearest primary. */
	for (uint32_t k = 0; k < c->count[R_GSP]; k++) {
		struct casset *a = &c->a[c->first[R_GSP] + k];
		double rr = c->radius_m * 0.9 * sqrt(tn__rng_unit(&c->rng));
		double th = tn__rng_unit(&c->rng) * 6.283185307179586;

		offset_m(c, CITY_LAT, CITY_LON, rr * cos(th), rr * sin(th), &a->lat, &a->lon);
		a->host = NONE;
		a->district = c->a[nearest(c, R_PRIMARY, a->lat, a->lon, NONE, 0, 0)].district;
	}
	/* Feeders round the district's primary; secondaries round a feeder. */
	for (uint32_t k = 0; k < c->count[R_FEEDER]; k++) {
		struct casset *a = &c->a[c->first[R_FEEDER] + k];
		uint32_t p = c->first[R_PRIMARY] + k % D;

		scatter(c, a, c->a[p].lat, c->a[p].lon, c->district_m * 0.35);
		a->district = k % D;
		a->host = p;
	}
	for (uint32_t k = 0; k < c->count[R_SECONDARY]; k++) {
		struct casset *a = &c->a[c->first[R_SECONDARY] + k];
		uint32_t f =
			c->first[R_FEEDER] + (uint32_t)tn__rng_below(&c->rng, c->count[R_FEEDER]);

		scatter(c, a, c->a[f].lat, c->a[f].lon, c->district_m * 0.25);
		a->district = c->a[f].district;
		a->host = f;
	}
	if ((rc = build_local(c, R_SECONDARY)) != 0)
		return rc;
	/* Everything else beside the secondary substation that feeds it. */
	for (int r = R_SECONDARY + 1; r < R__COUNT; r++) {
		for (uint32_t k = 0; k < c->count[r]; k++) {
			struct casset *a = &c->a[c->first[r] + k];
			/* one exchange per district, the way the copper network was built */
			uint32_t d = r == R_EXCHANGE ? k % D : (uint32_t)tn__rng_below(&c->rng, D);
			uint32_t h = host_in(c, &d);

			scatter(c, a, c->a[h].lat, c->a[h].lon, HOST_SPREAD_M);
			a->district = d;
			a->host = h;
		}
	}
	for (int r = 0; r < R__COUNT; r++)
		if (roles[r].local && r != R_SECONDARY && (rc = build_local(c, (enum role)r)) != 0)
			return rc;
	return 0;
}

/* ---- edges ---------------------------------------------------------------------- */

static int edge(struct city *c, uint32_t dep, uint32_t prov, enum tn_dep_kind kind, int32_t dmin,
		int32_t dmax)
{
	if (prov == NONE || prov == dep)
		return 0;
	if (c->ne == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 1024;
		struct cedge *e = realloc(c->e, cap * sizeof *e);
		if (!e)
			return TN_ENOMEM;
		c->e = e;
		c->cap = cap;
	}
	c->e[c->ne++] = (struct cedge){dep, prov, dmin, dmax, (uint8_t)kind};
	if (dmin >= 0)
		c->n_explicit++;
	return 0;
}

/* An explicit window drawn around [lo, hi]: real registries are not round. */
static int edge_w(struct city *c, uint32_t dep, uint32_t prov, enum tn_dep_kind kind, int32_t lo,
		  int32_t hi)
{
	int32_t span = hi - lo;
	int32_t a = lo + (int32_t)tn__rng_below(&c->rng, (uint64_t)span / 4 + 1);
	int32_t b = hi - (int32_t)tn__rng_below(&c->rng, (uint64_t)span / 4 + 1);

	return edge(c, dep, prov, kind, a, b < a ? a : b);
}

#define DERIVED (-1)
#define TRY(x)                                                                                     \
	do {                                                                                       \
		int rc_ = (x);                                                                     \
		if (rc_)                                                                           \
			return rc_;                                                                \
	} while (0)

static int structural(struct city *c, uint32_t i, enum role r)
{
	struct casset *a = &c->a[i];
	uint32_t d = a->district, k = i - c->first[r], x, y;

	switch (r) {
	case R_GSP: /* SCADA over the exchanges: one of the cycles */
		TRY(edge_w(c, i, nearest(c, R_EXCHANGE, a->lat, a->lon, NONE, 0, 0),
			   TN_DEP_COMMUNICATIONS, 600, 3600));
		break;
	case R_PRIMARY:
		x = nearest(c, R_GSP, a->lat, a->lon, NONE, 0, 0);
		TRY(edge(c, i, x, TN_DEP_POWER, DERIVED, DERIVED));
		if (c->count[R_GSP] > 1 && tn__rng_chance(&c->rng, 0.25))
			TRY(edge(c, i, nearest(c, R_GSP, a->lat, a->lon, x, 0, 0), TN_DEP_POWER,
				 DERIVED, DERIVED));
		TRY(edge_w(c, i, local(c, R_EXCHANGE, d, a, NONE, NONE), TN_DEP_COMMUNICATIONS, 600,
			   3600));
		break;
	case R_FEEDER:
		TRY(edge(c, i, a->host, TN_DEP_POWER, DERIVED, DERIVED));
		TRY(edge_w(c, i, local(c, R_EXCHANGE, d, a, NONE, NONE), TN_DEP_COMMUNICATIONS, 900,
			   3600));
		break;
	case R_SECONDARY:
		TRY(edge(c, i, a->host, TN_DEP_POWER, DERIVED, DERIVED));
		if (tn__rng_chance(&c->rng, 0.4)) /* the other end of an 11kV ring */
			TRY(edge(c, i, local(c, R_FEEDER, d, a, a->host, a->host), TN_DEP_POWER,
				 DERIVED, DERIVED));
		if (tn__rng_chance(&c->rng, 0.3)) /* remote control through a cabinet */
			TRY(edge_w(c, i, local(c, R_CABINET, d, a, NONE, NONE),
				   TN_DEP_COMMUNICATIONS, 1800, 7200));
		break;
	case R_TREATMENT:
		TRY(edge(c, i, a->host, TN_DEP_POWER, DERIVED, DERIVED));
		if (tn__rng_chance(&c->rng, 0.6))
			TRY(edge(c, i, local(c, R_SECONDARY, d, a, a->host, a->host), TN_DEP_POWER,
				 DERIVED, DERIVED));
		TRY(edge_w(c, i, local(c, R_EXCHANGE, d, a, NONE, NONE), TN_DEP_COMMUNICATIONS,
			   1800, 7200));
		break;
	case R_PUMPING:
		TRY(edge(c, i, a->host, TN_DEP_POWER, DERIVED, DERIVED));
		TRY(edge_w(c, i, nearest(c, R_TREATMENT, a->lat, a->lon, NONE, 0, 0), TN_DEP_WATER,
			   1800, 10800));
		TRY(edge_w(c, i, local(c, R_MAST, d, a, NONE, NONE), TN_DEP_COMMUNICATIONS, 3600,
			   14400));
		break;
	case R_RESERVOIR: /* storage: hours before the taps run dry */
		TRY(edge_w(c, i, local(c, R_PUMPING, d, a, NONE, NONE), TN_DEP_WATER, 3600, 14400));
		break;
	case R_SEWAGE:
		TRY(edge(c, i, a->host, TN_DEP_POWER, DERIVED, DERIVED));
		TRY(edge_w(c, i, local(c, R_MAST, d, a, NONE, NONE), TN_DEP_COMMUNICATIONS, 3600,
			   7200));
		break;
	case R_EXCHANGE:
		TRY(edge(c, i, a->host, TN_DEP_POWER, DERIVED, DERIVED));
		if (tn__rng_chance(&c->rng, 0.5))
			TRY(edge(c, i, local(c, R_SECONDARY, d, a, a->host, a->host), TN_DEP_POWER,
				 DERIVED, DERIVED));
		TRY(edge_w(c, i, nearest(c, R_DATACENTRE, a->lat, a->lon, NONE, 0, 0), TN_DEP_DATA,
			   0, 300));
		break;
	case R_CABINET:
		TRY(edge(c, i, a->host, TN_DEP_POWER, DERIVED, DERIVED));
		TRY(edge_w(c, i, local(c, R_EXCHANGE, d, a, NONE, NONE), TN_DEP_COMMUNICATIONS, 0,
			   60));
		break;
	case R_MAST:
		TRY(edge(c, i, a->host, TN_DEP_POWER, DERIVED, DERIVED));
		TRY(edge_w(c, i, local(c, R_EXCHANGE, d, a, NONE, NONE), TN_DEP_COMMUNICATIONS, 0,
			   120));
		break;
	case R_DATACENTRE:
		TRY(edge(c, i, a->host, TN_DEP_POWER, DERIVED, DERIVED));
		TRY(edge(c, i, local(c, R_SECONDARY, d, a, a->host, a->host), TN_DEP_POWER, DERIVED,
			 DERIVED));
		x = local(c, R_EXCHANGE, d, a, NONE, NONE);
		TRY(edge_w(c, i, x, TN_DEP_COMMUNICATIONS, 0, 60));
		y = nearest(c, R_EXCHANGE, a->lat, a->lon, x, 0, 0);
		TRY(edge_w(c, i, y, TN_DEP_COMMUNICATIONS, 0, 60));
		break;
	case R_RAIL_LINE: /* traction supply straight from the primary */
		TRY(edge_w(c, i, c->first[R_PRIMARY] + d, TN_DEP_POWER, 0, 30));
		break;
	case R_SIGNALLING:
		TRY(edge(c, i, a->host, TN_DEP_POWER, DERIVED, DERIVED));
		TRY(edge_w(c, i, local(c, R_CABINET, d, a, NONE, NONE), TN_DEP_COMMUNICATIONS, 0,
			   300));
		/* the line this interlocking controls stops without it */
		TRY(edge_w(c, nearest(c, R_RAIL_LINE, a->lat, a->lon, NONE, 0, 0), i, TN_DEP_OTHER,
			   0, 120));
		break;
	case R_STATION:
		TRY(edge(c, i, a->host, TN_DEP_POWER, DERIVED, DERIVED));
		TRY(edge_w(c, i, nearest(c, R_RAIL_LINE, a->lat, a->lon, NONE, 0, 0),
			   TN_DEP_TRANSPORT, 0, 600));
		TRY(edge(c, i, local(c, R_CABINET, d, a, NONE, NONE), TN_DEP_COMMUNICATIONS,
			 DERIVED, DERIVED));
		break;
	case R_UTC:
		TRY(edge(c, i, a->host, TN_DEP_POWER, DERIVED, DERIVED));
		TRY(edge_w(c, i, local(c, R_EXCHANGE, d, a, NONE, NONE), TN_DEP_COMMUNICATIONS, 0,
			   60));
		TRY(edge_w(c, i, nearest(c, R_DATACENTRE, a->lat, a->lon, NONE, 0, 0), TN_DEP_DATA,
			   0, 300));
		break;
	case R_TRAFFIC:
		TRY(edge(c, i, a->host, TN_DEP_POWER, DERIVED, DERIVED));
		TRY(edge_w(c, i, local(c, R_CABINET, d, a, NONE, NONE), TN_DEP_COMMUNICATIONS, 0,
			   300));
		TRY(edge_w(c, i, nearest(c, R_UTC, a->lat, a->lon, NONE, 0, 0), TN_DEP_DATA, 0,
			   600));
		break;
	case R_HOSPITAL:
		TRY(edge(c, i, a->host, TN_DEP_POWER, DERIVED, DERIVED));
		TRY(edge(c, i, local(c, R_SECONDARY, d, a, a->host, a->host), TN_DEP_POWER, DERIVED,
			 DERIVED));
		TRY(edge_w(c, i, local(c, R_PUMPING, d, a, NONE, NONE), TN_DEP_WATER, 3600, 14400));
		TRY(edge_w(c, i, local(c, R_EXCHANGE, d, a, NONE, NONE), TN_DEP_COMMUNICATIONS, 0,
			   300));
		TRY(edge_w(c, i, nearest(c, R_DATACENTRE, a->lat, a->lon, NONE, 0, 0), TN_DEP_DATA,
			   0, 1800));
		TRY(edge_w(c, i, nearest(c, R_STATION, a->lat, a->lon, NONE, 0, 0), TN_DEP_STAFF,
			   3600, 14400));
		break;
	case R_CARE_HOME:
		TRY(edge(c, i, a->host, TN_DEP_POWER, DERIVED, DERIVED));
		TRY(edge_w(c, i, local(c, R_PUMPING, d, a, NONE, NONE), TN_DEP_WATER, 1800, 7200));
		TRY(edge(c, i, local(c, R_CABINET, d, a, NONE, NONE), TN_DEP_COMMUNICATIONS,
			 DERIVED, DERIVED));
		break;
	case R_GP:
	case R_PHARMACY:
		TRY(edge(c, i, a->host, TN_DEP_POWER, DERIVED, DERIVED));
		TRY(edge_w(c, i, local(c, R_CABINET, d, a, NONE, NONE), TN_DEP_COMMUNICATIONS, 0,
			   300));
		TRY(edge_w(c, i, nearest(c, R_DATACENTRE, a->lat, a->lon, NONE, 0, 0), TN_DEP_DATA,
			   0, 1800));
		break;
	case R_AMBULANCE:
		TRY(edge(c, i, a->host, TN_DEP_POWER, DERIVED, DERIVED));
		TRY(edge_w(c, i, nearest(c, R_CONTROL_ROOM, a->lat, a->lon, NONE, 3, 0),
			   TN_DEP_COMMUNICATIONS, 0, 300));
		TRY(edge_w(c, i, nearest(c, R_FUEL, a->lat, a->lon, NONE, 0, 0), TN_DEP_FUEL, 14400,
			   43200));
		break;
	case R_CONTROL_ROOM:
		TRY(edge(c, i, a->host, TN_DEP_POWER, DERIVED, DERIVED));
		TRY(edge(c, i, local(c, R_SECONDARY, d, a, a->host, a->host), TN_DEP_POWER, DERIVED,
			 DERIVED));
		TRY(edge_w(c, i, local(c, R_EXCHANGE, d, a, NONE, NONE), TN_DEP_COMMUNICATIONS, 0,
			   60));
		TRY(edge_w(c, i, local(c, R_MAST, d, a, NONE, NONE), TN_DEP_COMMUNICATIONS, 0, 60));
		TRY(edge_w(c, i, nearest(c, R_DATACENTRE, a->lat, a->lon, NONE, 0, 0), TN_DEP_DATA,
			   0, 300));
		(void)k;
		break;
	case R_FIRE:
		TRY(edge(c, i, a->host, TN_DEP_POWER, DERIVED, DERIVED));
		TRY(edge_w(c, i, nearest(c, R_CONTROL_ROOM, a->lat, a->lon, NONE, 3, 1),
			   TN_DEP_COMMUNICATIONS, 0, 300));
		TRY(edge_w(c, i, local(c, R_PUMPING, d, a, NONE, NONE), TN_DEP_WATER, 1800, 7200));
		break;
	case R_POLICE:
		TRY(edge(c, i, a->host, TN_DEP_POWER, DERIVED, DERIVED));
		TRY(edge_w(c, i, nearest(c, R_CONTROL_ROOM, a->lat, a->lon, NONE, 3, 2),
			   TN_DEP_COMMUNICATIONS, 0, 300));
		break;
	case R_SUPERMARKET:
		TRY(edge(c, i, a->host, TN_DEP_POWER, DERIVED, DERIVED));
		TRY(edge_w(c, i, local(c, R_CABINET, d, a, NONE, NONE), TN_DEP_COMMUNICATIONS, 0,
			   300));
		TRY(edge_w(c, i, nearest(c, R_DATACENTRE, a->lat, a->lon, NONE, 0, 0), TN_DEP_DATA,
			   0, 3600));
		break;
	case R_CASH:
		TRY(edge(c, i, a->host, TN_DEP_POWER, DERIVED, DERIVED));
		TRY(edge_w(c, i, local(c, R_CABINET, d, a, NONE, NONE), TN_DEP_COMMUNICATIONS, 0,
			   60));
		TRY(edge_w(c, i, nearest(c, R_DATACENTRE, a->lat, a->lon, NONE, 0, 0), TN_DEP_DATA,
			   0, 300));
		break;
	case R_BANK:
	case R_COUNCIL:
		TRY(edge(c, i, a->host, TN_DEP_POWER, DERIVED, DERIVED));
		TRY(edge_w(c, i, local(c, R_EXCHANGE, d, a, NONE, NONE), TN_DEP_COMMUNICATIONS, 0,
			   300));
		TRY(edge_w(c, i, nearest(c, R_DATACENTRE, a->lat, a->lon, NONE, 0, 0), TN_DEP_DATA,
			   0, 600));
		break;
	case R_FUEL:
		TRY(edge(c, i, a->host, TN_DEP_POWER, DERIVED, DERIVED));
		TRY(edge_w(c, i, local(c, R_CABINET, d, a, NONE, NONE), TN_DEP_COMMUNICATIONS, 0,
			   300));
		break;
	case R__COUNT:
		break;
	}
	return 0;
}

/* Whether dep already depends on prov for kind: its structural edges (CSR)
 * and the extras drawn for it so far. */
static bool has_edge(const struct city *c, const uint32_t *start, const uint32_t *byd,
		     size_t extra_from, uint32_t dep, uint32_t prov, uint8_t kind)
{
	for (uint32_t k = start[dep]; k < start[dep + 1]; k++) {
		const struct cedge *e = &c->e[byd[k]];
		if (e->prov == prov && e->kind == kind)
			return true;
	}
	for (size_t k = extra_from; k < c->ne; k++)
		if (c->e[k].prov == prov && c->e[k].kind == kind)
			return true;
	return false;
}

/* One redundant supply for asset i: a second power feed or a second
 * communications path, from within its district. */
static int extra(struct city *c, uint32_t i, const uint32_t *start, const uint32_t *byd,
		 size_t from)
{
	struct casset *a = &c->a[i];
	enum role r = (enum role)role_of(c, i);
	uint32_t d = a->district, p = NONE;
	enum tn_dep_kind kind = TN_DEP_POWER;
	bool explicit = false;

	for (int tries = 0; tries < 6; tries++) {
		bool comms = tn__rng_chance(&c->rng, 0.5);

		explicit = false;
		switch (r) {
		case R_GSP:
			p = c->first[R_EXCHANGE] +
			    (uint32_t)tn__rng_below(&c->rng, c->count[R_EXCHANGE]);
			kind = TN_DEP_COMMUNICATIONS;
			explicit = true;
			break;
		case R_PRIMARY:
			p = comms ? local(c, R_MAST, d, a, NONE, NONE)
				  : c->first[R_GSP] +
					    (uint32_t)tn__rng_below(&c->rng, c->count[R_GSP]);
			kind = comms ? TN_DEP_COMMUNICATIONS : TN_DEP_POWER;
			explicit = comms;
			break;
		case R_FEEDER:
			p = local(c, R_CABINET, d, a, NONE, NONE);
			kind = TN_DEP_COMMUNICATIONS;
			explicit = true;
			break;
		case R_SECONDARY:
			p = comms ? local(c, R_CABINET, d, a, NONE, NONE)
				  : local(c, R_FEEDER, d, a, a->host, a->host);
			kind = comms ? TN_DEP_COMMUNICATIONS : TN_DEP_POWER;
			explicit = comms;
			break;
		case R_RESERVOIR:
			p = local(c, R_PUMPING, d, a, NONE, NONE);
			kind = TN_DEP_WATER;
			explicit = true;
			break;
		case R_RAIL_LINE: /* a second traction supply, from the next primary */
			p = nearest(c, R_PRIMARY, a->lat, a->lon, c->first[R_PRIMARY] + d, 0, 0);
			kind = TN_DEP_POWER;
			explicit = true;
			break;
		default:
			if (comms) {
				p = local(c, tn__rng_chance(&c->rng, 0.5) ? R_MAST : R_CABINET, d,
					  a, NONE, NONE);
				kind = TN_DEP_COMMUNICATIONS;
				explicit = true;
			} else {
				p = local(c, R_SECONDARY, d, a, a->host, a->host);
				kind = TN_DEP_POWER;
			}
			break;
		}
		if (p != NONE && p != i && !has_edge(c, start, byd, from, i, p, (uint8_t)kind))
			break;
		p = NONE;
	}
	if (p == NONE)
		return 0;
	if (!explicit)
		return edge(c, i, p, kind, DERIVED, DERIVED);
	if (kind == TN_DEP_WATER)
		return edge_w(c, i, p, kind, 3600, 14400);
	if (kind == TN_DEP_POWER) /* traction */
		return edge_w(c, i, p, kind, 0, 30);
	return edge_w(c, i, p, kind, 0, 300);
}

/*
 * Redundant supplies up to `target` edges: spread at random (at most 8 an
 * asset a pass), drawn asset by asset so that an asset's extras of one pass
 * are contiguous for the duplicate check; a pass tops up what duplicates
 * refused in the one before.
 */
static int extras(struct city *c, uint64_t target)
{
	uint32_t *start = calloc((size_t)c->n + 2, sizeof *start);
	uint8_t *want = calloc(c->n, 1);
	uint32_t *byd = NULL;
	int rc = TN_ENOMEM;

	if (!start || !want)
		goto out;
	for (int pass = 0; pass < 8 && c->ne < target; pass++) {
		uint64_t need = target - c->ne;
		uint32_t *nb = realloc(byd, (c->ne + 1) * sizeof *byd);

		if (!nb)
			goto out;
		byd = nb;
		memset(start, 0, ((size_t)c->n + 2) * sizeof *start);
		memset(want, 0, c->n);
		for (size_t k = 0; k < c->ne; k++)
			start[c->e[k].dep + 2]++;
		for (uint32_t i = 0; i < c->n; i++)
			start[i + 2] += start[i + 1];
		for (size_t k = 0; k < c->ne; k++)
			byd[start[c->e[k].dep + 1]++] = (uint32_t)k;
		for (uint64_t k = 0, tries = 0; k < need && tries < need * 4; tries++) {
			uint32_t i = (uint32_t)tn__rng_below(&c->rng, c->n);
			if (want[i] < 8) {
				want[i]++;
				k++;
			}
		}
		for (uint32_t i = 0; i < c->n && c->ne < target; i++) {
			size_t from = c->ne;
			for (uint8_t w = 0; w < want[i] && c->ne < target; w++)
				if ((rc = extra(c, i, start, byd, from)) != 0)
					goto out;
		}
	}
	rc = 0;
out:
	free(start);
	free(byd);
	free(want);
	return rc;
}

/* ---- output --------------------------------------------------------------------- */

struct out {
	FILE *f;
	char buf[1 << 16];
	size_t len;
	int err;
};

static void flush(struct out *o)
{
	if (o->len && fwrite(o->buf, 1, o->len, o->f) != o->len)
		o->err = TN_EIO;
	o->len = 0;
}

static void put(struct out *o, const char *s, size_t n)
{
	if (o->len + n > sizeof o->buf)
		flush(o);
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void putc_(struct out *o, char ch)
{
	if (o->len == sizeof o->buf)
		flush(o);
	o->buf[o->len++] = ch;
}

static void put_u(struct out *o, uint64_t v, int width)
{
	char b[24];
	int n = 0;

	do {
		b[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n < width)
		b[n++] = '0';
	while (n)
		putc_(o, b[--n]);
}

static void put_i(struct out *o, int64_t v)
{
	if (v < 0) {
		putc_(o, '-');
		put_u(o, (uint64_t)0 - (uint64_t)v, 0);
	} else {
		put_u(o, (uint64_t)v, 0);
	}
}

/* Degrees with six decimals (about 0.1 m), the way registries hold them. */
static void put_deg(struct out *o, double v)
{
	int64_t m = llround(v * 1e6);
	uint64_t u;

	if (m < 0) {
		putc_(o, '-');
		u = (uint64_t)0 - (uint64_t)m;
	} else {
		u = (uint64_t)m;
	}
	put_u(o, u / 1000000, 0);
	putc_(o, '.');
	put_u(o, u % 1000000, 6);
}

static int digits(uint64_t n)
{
	int d = 1;

	while (n >= 10) {
		n /= 10;
		d++;
	}
	return d < 4 ? 4 : d;
}

static void put_id(struct out *o, const struct city *c, uint32_t i)
{
	uint8_t r = role_of(c, i);

	puts_(o, roles[r].prefix);
	putc_(o, '-');
	put_u(o, i - c->first[r] + 1, digits(c->count[r]));
}

static const char *const name_head[] = {
	"Ash",	"Beech",  "Birch", "Bram", "Brook", "Carl", "Clay",  "Dun",  "Elm",  "Fen",   "Fox",
	"Glen", "Hazel",  "Heath", "Holm", "Kings", "Lark", "Lea",   "Marl", "Mill", "North", "Oak",
	"Pen",	"Queens", "Red",   "Rush", "Sand",  "Stan", "Thorn", "West", "Wick", "Wold"};
static const char *const name_tail[] = {"field", "ford",  "ham",   "ley",    "ton",  "wood",
					"bury",	 "croft", "dale",  "gate",   "hill", "hurst",
					"mead",	 "moor",  "stead", "thorpe", "well", "worth"};

static void put_district_name(struct out *o, uint32_t d)
{
	size_t h = sizeof name_head / sizeof name_head[0];
	size_t t = sizeof name_tail / sizeof name_tail[0];

	puts_(o, name_head[d % h]);
	puts_(o, name_tail[(d / h) % t]);
	if (d >= h * t) {
		putc_(o, ' ');
		put_u(o, d / (h * t) + 1, 0);
	}
}

static void progress(const char *what, uint64_t done, uint64_t total, bool on)
{
	if (on)
		fprintf(stderr, "\rtocsin: sim city: %s %" PRIu64 "/%" PRIu64 "   ", what, done,
			total);
}

static int write_assets(struct city *c, FILE *f, bool prog)
{
	struct out *o = malloc(sizeof *o);
	int rc;

	if (!o)
		return TN_ENOMEM;
	o->f = f;
	o->len = 0;
	o->err = 0;
	puts_(o, "id,sector,kind,name,lat,lon,area,criticality,population,backup_s,sensitivity\n");
	for (uint32_t i = 0; i < c->n; i++) {
		const struct casset *a = &c->a[i];
		uint8_t r = role_of(c, i);
		const struct role_spec *sp = &roles[r];
		uint32_t k = i - c->first[r];
		int crit = sp->crit;
		int32_t backup = 0;

		/* a few assets a notch more or less critical than their kind */
		if (tn__rng_chance(&c->rng, 0.1))
			crit += tn__rng_chance(&c->rng, 0.5) ? 1 : -1;
		crit = crit < 1 ? 1 : crit > 5 ? 5 : crit;
		if (sp->backup_p > 0 && tn__rng_chance(&c->rng, sp->backup_p))
			backup = (int32_t)tn__rng_range(&c->rng, sp->backup_lo / 60,
							sp->backup_hi / 60) *
				 60;
		put_id(o, c, i);
		putc_(o, ',');
		puts_(o, tn_sector_name(sp->sector));
		putc_(o, ',');
		puts_(o, sp->kind);
		putc_(o, ',');
		put_district_name(o, a->district);
		putc_(o, ' ');
		if (r == R_CONTROL_ROOM) {
			puts_(o, control_services[k % 3]);
			putc_(o, ' ');
		}
		puts_(o, sp->label);
		putc_(o, ' ');
		put_u(o, k + 1, 0);
		putc_(o, ',');
		put_deg(o, a->lat);
		putc_(o, ',');
		put_deg(o, a->lon);
		puts_(o, ",TCW");
		put_u(o, a->district + 1, 4);
		putc_(o, ',');
		put_u(o, (uint64_t)crit, 0);
		putc_(o, ',');
		put_i(o, tn__rng_range(&c->rng, sp->pop_lo, sp->pop_hi));
		putc_(o, ',');
		put_i(o, backup);
		putc_(o, ',');
		puts_(o, tn_sensitivity_name(sp->sens));
		putc_(o, '\n');
		if ((i & 0x3ffff) == 0)
			progress("assets", i, c->n, prog);
	}
	flush(o);
	rc = o->err;
	free(o);
	return rc;
}

static int write_deps(struct city *c, FILE *f, bool prog)
{
	struct out *o = malloc(sizeof *o);
	int rc;

	if (!o)
		return TN_ENOMEM;
	o->f = f;
	o->len = 0;
	o->err = 0;
	puts_(o, "dependent,provider,kind,delay_min_s,delay_max_s\n");
	for (size_t k = 0; k < c->ne; k++) {
		const struct cedge *e = &c->e[k];

		put_id(o, c, e->dep);
		putc_(o, ',');
		put_id(o, c, e->prov);
		putc_(o, ',');
		puts_(o, tn_dep_kind_name((enum tn_dep_kind)e->kind));
		putc_(o, ',');
		if (e->dmin >= 0) {
			put_i(o, e->dmin);
			putc_(o, ',');
			put_i(o, e->dmax);
		} else {
			putc_(o, ',');
		}
		putc_(o, '\n');
		if ((k & 0x3ffff) == 0)
			progress("dependencies", k, c->ne, prog);
	}
	flush(o);
	rc = o->err;
	free(o);
	return rc;
}

int tn__sim_city(const struct tn__sim_city_opts *o, FILE *assets, FILE *deps,
		 struct tn__sim_city_stats *st, char *err, size_t errlen)
{
	struct city c;
	int rc;

	memset(&c, 0, sizeof c);
	if (o->assets < TN_SIM_CITY_MIN_ASSETS || o->assets > TN_SIM_CITY_MAX_ASSETS) {
		snprintf(err, errlen, "--assets: expected %d..%d, got %" PRIu64,
			 TN_SIM_CITY_MIN_ASSETS, TN_SIM_CITY_MAX_ASSETS, o->assets);
		return TN_EINVAL;
	}
	if (!(o->deps_per_asset >= 0 && o->deps_per_asset <= 16)) {
		snprintf(err, errlen, "--deps-per-asset: expected 0..16, got %g",
			 o->deps_per_asset);
		return TN_EINVAL;
	}
	if ((rc = counts(&c, o->assets, err, errlen)) != 0)
		return rc;
	c.radius_m = CITY_RADIUS_10K_M * sqrt((double)c.n / 10000.0);
	if (c.radius_m < 1500)
		c.radius_m = 1500;
	c.district_m = c.radius_m / sqrt((double)c.districts);
	c.coslat = cos(CITY_LAT * 3.141592653589793 / 180.0);
	c.a = calloc(c.n, sizeof *c.a);
	rc = TN_ENOMEM;
	if (!c.a)
		goto fail;
	tn__rng_seed(&c.rng, o->seed, ST_PLACE);
	if ((rc = place(&c)) != 0)
		goto fail;
	tn__rng_seed(&c.rng, o->seed, ST_EDGES);
	for (int r = 0; r < R__COUNT; r++) {
		for (uint32_t k = 0; k < c.count[r]; k++) {
			if ((rc = structural(&c, c.first[r] + k, (enum role)r)) != 0)
				goto fail;
		}
	}
	if (st)
		st->structural_edges = c.ne;
	tn__rng_seed(&c.rng, o->seed, ST_EXTRA);
	if ((rc = extras(&c, (uint64_t)llround(o->deps_per_asset * c.n))) != 0)
		goto fail;
	tn__rng_seed(&c.rng, o->seed, ST_ATTRS);
	if ((rc = write_assets(&c, assets, o->progress)) != 0 ||
	    (rc = write_deps(&c, deps, o->progress)) != 0) {
		snprintf(err, errlen, "write: %s", strerror(errno));
		goto out;
	}
	if (o->progress)
		fprintf(stderr, "\r\033[K");
	if (st) {
		st->assets = c.n;
		st->edges = c.ne;
		st->explicit_delays = c.n_explicit;
		st->districts = c.districts;
	}
	goto out;
fail:
	if (rc == TN_ENOMEM)
		snprintf(err, errlen, "out of memory");
out:
	for (int r = 0; r < R__COUNT; r++) {
		free(c.loc_start[r]);
		free(c.loc_item[r]);
	}
	free(c.a);
	free(c.e);
	return rc;
}
