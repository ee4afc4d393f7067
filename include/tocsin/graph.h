/*
 * tocsin/graph.h - the asset registry in memory: assets and the dependency
 * edges between them (design §2).
 *
 * A graph is built once through a builder, then immutable: any number of
 * threads may read it without locks. A running server swaps a whole new graph
 * in when the registry changes (it never edits one in place).
 *
 * Assets are numbered 0..n-1 in the order they were added; the number is
 * only meaningful within one graph (a new graph may number differently: key
 * state by asset id across graphs).
 *
 * Edges point from a dependent to its provider ("B depends on P for power").
 * Cycles are allowed (power needs telecoms, telecoms needs power); self-loops
 * and duplicate (dependent, provider, kind) edges are not.
 */
#ifndef TOCSIN_GRAPH_H
#define TOCSIN_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tocsin/event.h"

#define TN_GRAPH_NONE UINT32_MAX
#define TN_ASSET_ID_MAX 64
/* When a dependency's delays are empty they derive from the dependent's
 * backup_s: min = backup_s, max = backup_s + TN_GRAPH_DERIVED_SPREAD_S. */
#define TN_GRAPH_DERIVED_SPREAD_S 300
/* Text fields of an asset: valid UTF-8 without NUL or ASCII control
 * characters, at most this many bytes. kind is required, name may be empty;
 * area is a code (it ends up in alert topics) with the charset of an id. */
#define TN_ASSET_KIND_MAX 64
#define TN_ASSET_NAME_MAX 256
#define TN_ASSET_AREA_MAX 64
/* Asset numbers are uint32_t with TN_GRAPH_NONE reserved; edges are counted
 * in uint32_t too. */
#define TN_GRAPH_MAX_ASSETS (UINT32_MAX - 1u)
#define TN_GRAPH_MAX_EDGES (UINT32_MAX - 1u)

#define TN_SENSITIVITIES(X)                                                  \
	X(TN_SENS_PUBLIC, "public")                                           \
	X(TN_SENS_OFFICIAL, "official")                                       \
	X(TN_SENS_OFFICIAL_SENSITIVE, "official-sensitive")

enum tn_sensitivity {
#define TN__X(e, s) e,
	TN_SENSITIVITIES(TN__X)
#undef TN__X
	TN_SENS__COUNT
};

#define TN_DEP_KINDS(X)                                                      \
	X(TN_DEP_POWER, "power")                                              \
	X(TN_DEP_WATER, "water")                                              \
	X(TN_DEP_COMMUNICATIONS, "communications")                            \
	X(TN_DEP_TRANSPORT, "transport")                                      \
	X(TN_DEP_FUEL, "fuel")                                                \
	X(TN_DEP_GAS, "gas")                                                  \
	X(TN_DEP_DATA, "data")                                                \
	X(TN_DEP_STAFF, "staff")                                              \
	X(TN_DEP_OTHER, "other")

enum tn_dep_kind {
#define TN__X(e, s) e,
	TN_DEP_KINDS(TN__X)
#undef TN__X
	TN_DEP__COUNT
};

/* One row of assets.csv. Strings borrowed by the builder call (copied). */
struct tn_asset {
	const char *id;   /* 1-64 of [A-Za-z0-9._:-] */
	enum tn_sector sector;
	const char *kind; /* free text: substation, pumping-station, hospital, ... */
	const char *name;
	double lat, lon;  /* WGS 84 degrees */
	const char *area; /* administrative or resilience area code */
	int criticality;  /* 1 (highest) .. 5 */
	int64_t population; /* people served, >= 0 */
	int32_t backup_s;   /* seconds it keeps working after losing a supply; 0 = none */
	enum tn_sensitivity sensitivity;
};

/* One row of dependencies.csv. */
struct tn_dependency {
	const char *dependent; /* asset id */
	const char *provider;  /* asset id */
	enum tn_dep_kind kind;
	int32_t delay_min_s;   /* -1: derived (see TN_GRAPH_DERIVED_SPREAD_S) */
	int32_t delay_max_s;   /* -1: derived; else >= delay_min_s */
};

/* An edge as the graph stores it: delays resolved. */
struct tn_graph_edge {
	uint32_t other;        /* the provider (in providers lists) or dependent (in dependents lists) */
	uint8_t kind;          /* enum tn_dep_kind */
	int32_t delay_min_s, delay_max_s;
};

struct tn_graph;
struct tn_graph_builder;

/*
 * tn_graph_builder_new - an empty builder (the hints size its first
 * allocations; 0 is fine). Returns 0 and sets *out (caller owns it until
 * tn_graph_build or tn_graph_builder_free), or TN_ENOMEM. Any thread.
 */
int tn_graph_builder_new(size_t assets_hint, size_t deps_hint, struct tn_graph_builder **out);

/*
 * tn_graph_add_asset - add a copy of `a`. Returns 0, TN_EEXIST (id already
 * added), TN_EINVAL (a field out of range: msg says which and what was
 * expected, e.g. "lat: expected -90..90, got 91.5"), TN_ERANGE (more than
 * TN_GRAPH_MAX_ASSETS), TN_ENOMEM. On an error nothing is added.
 * msg may be NULL (msglen bytes); it is always NUL-terminated when msglen > 0.
 * A builder belongs to one thread at a time.
 */
int tn_graph_add_asset(struct tn_graph_builder *b, const struct tn_asset *a, char *msg,
		       size_t msglen);

/*
 * tn_graph_add_dependency - add an edge. Assets must have been added first.
 * Returns 0, TN_ENOTFOUND (dependent or provider unknown; msg names which),
 * TN_EINVAL (self-loop, bad kind, delays neither both -1 nor
 * 0 <= min <= max), TN_EEXIST (the same dependent, provider and kind twice),
 * TN_ERANGE (more than TN_GRAPH_MAX_EDGES), TN_ENOMEM. Nothing is added on an
 * error. Messages as for tn_graph_add_asset.
 */
int tn_graph_add_dependency(struct tn_graph_builder *b, const struct tn_dependency *d,
			    char *msg, size_t msglen);

/*
 * tn_graph_build - freeze the builder into a graph (compact arrays: adjacency
 * in both directions, an id index, a spatial index). Consumes `b` whatever
 * the result. Returns 0 and sets *out (caller owns it: tn_graph_free), or
 * TN_ENOMEM.
 */
int tn_graph_build(struct tn_graph_builder *b, struct tn_graph **out);

void tn_graph_builder_free(struct tn_graph_builder *b);
void tn_graph_free(struct tn_graph *g);

/*
 * tn_graph_builder_size / _edges - assets and dependencies added so far.
 * tn_graph_builder_find - the number of the asset added with this id (the
 * number it will have in the graph), or TN_GRAPH_NONE.
 * tn_graph_builder_find_dependency - the number (order of addition, from 0)
 * of the edge (dependent, provider, kind), or TN_GRAPH_NONE; loaders use it
 * to say where a duplicate was first seen.
 * Same thread as the builder's other calls.
 */
size_t tn_graph_builder_size(const struct tn_graph_builder *b);
size_t tn_graph_builder_edges(const struct tn_graph_builder *b);
uint32_t tn_graph_builder_find(const struct tn_graph_builder *b, const char *id);
uint32_t tn_graph_builder_find_dependency(const struct tn_graph_builder *b, uint32_t dependent,
					  uint32_t provider, enum tn_dep_kind kind);

/*
 * tn_graph_builder_prefetch / _prefetch_dependency - hints, with no effect on
 * any result: start fetching what adding a row with this id (or this
 * dependency; its ends must have been added) will read. On a large registry
 * the lookups are cache misses; a loader that reads rows a few ahead and
 * hints at them overlaps those misses instead of waiting for each in turn.
 * Same thread as the builder's other calls.
 */
void tn_graph_builder_prefetch(const struct tn_graph_builder *b, const char *id);
void tn_graph_builder_prefetch_dependency(const struct tn_graph_builder *b,
					  const struct tn_dependency *d);

/* tn_asset_id_ok - whether the `len` bytes at s are a valid asset id (and
 * area code): 1-64 of [A-Za-z0-9._:-]. Pure; any thread. */
bool tn_asset_id_ok(const char *s, size_t len);

/* ---- reading (pure; any thread, concurrently) ------------------------------ */

size_t tn_graph_size(const struct tn_graph *g);  /* assets */
size_t tn_graph_edges(const struct tn_graph *g); /* dependencies */

/* The asset numbered i (< size), or NULL. Strings live as long as the graph. */
const struct tn_asset *tn_graph_asset(const struct tn_graph *g, uint32_t i);

/* The number of the asset with this id, or TN_GRAPH_NONE. */
uint32_t tn_graph_find(const struct tn_graph *g, const char *id);

/* The edges from i to its providers / from its dependents to i. *out points
 * into the graph; returns how many. */
size_t tn_graph_providers(const struct tn_graph *g, uint32_t i, const struct tn_graph_edge **out);
size_t tn_graph_dependents(const struct tn_graph *g, uint32_t i, const struct tn_graph_edge **out);

/*
 * tn_graph_near - assets within radius_m metres of (lat, lon) (haversine,
 * tn_graph_distance_m <= radius_m), by the spatial index; the `max` lowest
 * such numbers into out (may be NULL when max is 0), in increasing asset
 * number. Returns how many there are in all (may exceed max). Exact at the
 * poles and across the antimeridian; 0 for a non-finite or negative input.
 * Allocates nothing.
 */
size_t tn_graph_near(const struct tn_graph *g, double lat, double lon, double radius_m,
		     uint32_t *out, size_t max);

/*
 * tn_graph_distance_m - great-circle (haversine) distance in metres between
 * two WGS 84 points, on a sphere of the mean Earth radius (6371008.8 m): the
 * measure tn_graph_near uses. Pure; any thread.
 */
double tn_graph_distance_m(double lat1, double lon1, double lat2, double lon2);

/* Approximate bytes the graph occupies. */
size_t tn_graph_memory(const struct tn_graph *g);

/*
 * Names of sensitivities and dependency kinds (NULL when out of range), and
 * the reverse from `len` bytes (not necessarily NUL-terminated): the enum
 * value or -1. Pure; any thread.
 */
const char *tn_sensitivity_name(enum tn_sensitivity s);
int tn_sensitivity_parse(const char *s, size_t len);
const char *tn_dep_kind_name(enum tn_dep_kind k);
int tn_dep_kind_parse(const char *s, size_t len);

#endif
