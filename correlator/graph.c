/*
 * graph.c - the asset registry in memory (tocsin/graph.h).
 *
 * Sized for a large city region: a million assets and a few million edges
 * load in well under a second or two, so nothing here is allocated per asset.
 * - Strings (id, kind, name, area) are copied into an arena of 1 MiB blocks
 *   that never move, so the struct tn_asset rows can point into it from the
 *   builder on and the graph takes both over without a copy.
 * - The id index is open addressing (linear probing, load <= 1/2) whose
 *   slots hold the asset number, the id's hash and length and its first
 *   bytes, so most lookups read one slot and nothing else.
 * - Adjacency is CSR in both directions (providers of i, dependents of i),
 *   each list in the order the edges were added, delays resolved.
 * - The spatial index is a uniform grid of 0.01 x 0.01 degree cells (about
 *   1.1 km north-south; narrower east-west away from the equator), stored as
 *   the assets sorted by cell key (row * GRID_COLS + col) with their
 *   coordinates beside them: a query binary-searches one contiguous key range
 *   per grid row it touches (two when it straddles the antimeridian; the
 *   whole row when the circle contains a pole) and checks each candidate
 *   with the haversine distance, so the answer is exact.
 *
 * Pure: no I/O, no clock, no threads; a built graph is never written again.
 */
#include "tocsin/graph.h"

#include "tocsin/error.h"
#include "utf8.h"
#include "corr_internal.h" /* tn__graph_adjacency */

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define ARENA_BLOCK ((size_t)1 << 20)
#define EARTH_R_M   6371008.8
#define DEG         (M_PI / 180.0)
#define GRID_DEG    0.01
#define GRID_ROWS   18000u /* 180 / GRID_DEG */
#define GRID_COLS   36000u /* 360 / GRID_DEG */
#define ID_CHARS    "A-Z a-z 0-9 . _ : -"

/* ---- large tables ---------------------------------------------------------- */

#define HUGE_PAGE ((size_t)2 << 20)

/*
 * The id and edge indexes and the adjacency are read and written at random
 * all over hundreds of megabytes, where every access would also miss the TLB:
 * tables of a megabyte or more ask for transparent huge pages (a hint, like a
 * prefetch; measured: a quarter off the load of a 1M/3M registry). Freed
 * with free(); realloc() works on them too (it may drop the hint).
 */
static void *big_alloc(size_t size)
{
	void *p;

	if (size < HUGE_PAGE / 2)
		return malloc(size ? size : 1);
	if (posix_memalign(&p, HUGE_PAGE, size) != 0)
		return NULL;
#ifdef MADV_HUGEPAGE
	(void)madvise(p, size, MADV_HUGEPAGE);
#endif
	return p;
}

static void *big_array(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	return big_alloc(n * size);
}

static void *big_zeroed(size_t n, size_t size)
{
	void *p = big_array(n, size);

	if (p)
		memset(p, 0, n * size);
	return p;
}

/* Grow a table from old to new bytes (new > old). */
static void *big_grow(void *p, size_t old, size_t new)
{
	void *q = big_alloc(new);

	if (!q)
		return NULL;
	memcpy(q, p, old);
	free(p);
	return q;
}

/* ---- the string arena ------------------------------------------------------ */

struct arena {
	char **blocks;
	size_t n, cap;
	char *cur; /* free space of the last normal block */
	size_t left;
	size_t bytes; /* allocated, for tn_graph_memory */
};

static int arena_push(struct arena *a, char *blk)
{
	if (a->n == a->cap) {
		size_t ncap = a->cap ? 2 * a->cap : 16;
		char **nb = realloc(a->blocks, ncap * sizeof *nb);
		if (!nb)
			return TN_ENOMEM;
		a->blocks = nb;
		a->cap = ncap;
	}
	a->blocks[a->n++] = blk;
	return 0;
}

/* A NUL-terminated copy of len bytes at s, or NULL when out of memory. */
static const char *arena_copy(struct arena *a, const char *s, size_t len)
{
	char *p;

	if (len + 1 > a->left) {
		/* a large string gets a block of its own, so the current block
		 * keeps its free space */
		size_t size = len + 1 > ARENA_BLOCK / 8 ? len + 1 : ARENA_BLOCK;
		char *blk = malloc(size);

		if (!blk || arena_push(a, blk) != 0) {
			free(blk);
			return NULL;
		}
		a->bytes += size;
		if (size == ARENA_BLOCK) {
			a->cur = blk;
			a->left = size;
		} else {
			memcpy(blk, s, len);
			blk[len] = '\0';
			return blk;
		}
	}
	p = a->cur;
	memcpy(p, s, len);
	p[len] = '\0';
	a->cur += len + 1;
	a->left -= len + 1;
	return p;
}

static void arena_free(struct arena *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->blocks[i]);
	free(a->blocks);
	memset(a, 0, sizeof *a);
}

/* ---- hashing --------------------------------------------------------------- */

/* FNV-1a with a murmur3 finaliser, and the length on the way: the registry
 * is operator input, not a peer's, so a keyed hash buys nothing here. */
static uint32_t hash_str(const char *s, size_t *len)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	const char *p = s;

	for (; *p; p++)
		h = (h ^ (unsigned char)*p) * UINT64_C(0x100000001b3);
	*len = (size_t)(p - s);
	h ^= h >> 33;
	h *= UINT64_C(0xff51afd7ed558ccd);
	h ^= h >> 33;
	return (uint32_t)h;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

/*
 * A slot of the id index (32 bytes) carries the id's hash and length and its
 * first SLOT_HEAD bytes, so a lookup of an id that short touches only the
 * slot: one cache miss, where pointers to the string would cost two to four
 * (the lookups of a dependency file come in no useful order).
 */
#define SLOT_HEAD 23

struct slot {
	uint32_t hash;
	uint32_t number;
	uint8_t len; /* 0: empty */
	char head[SLOT_HEAD];
};

static uint32_t index_lookup(const struct slot *slots, size_t mask, const struct tn_asset *assets,
			     const char *id, size_t len, uint32_t h)
{
	if (len == 0 || len > TN_ASSET_ID_MAX)
		return TN_GRAPH_NONE;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		const struct slot *s = &slots[i];
		if (s->len == 0)
			return TN_GRAPH_NONE;
		if (s->hash != h || s->len != len)
			continue;
		if (len <= SLOT_HEAD
			    ? memcmp(s->head, id, len) == 0
			    : memcmp(s->head, id, SLOT_HEAD) == 0 &&
				      strcmp(assets[s->number].id + SLOT_HEAD, id + SLOT_HEAD) == 0)
			return s->number;
	}
}

static void index_put(struct slot *slots, size_t mask, const struct slot *s)
{
	size_t i = s->hash & mask;

	while (slots[i].len)
		i = (i + 1) & mask;
	slots[i] = *s;
}

static void index_insert(struct slot *slots, size_t mask, const char *id, size_t len, uint32_t h,
			 uint32_t number)
{
	struct slot s = {.hash = h, .number = number, .len = (uint8_t)len};

	memcpy(s.head, id, len < SLOT_HEAD ? len : SLOT_HEAD);
	index_put(slots, mask, &s);
}

/* The smallest power of two >= 2 * n (and >= 16). */
static size_t table_size(size_t n)
{
	size_t s = 16;

	while (s < 2 * n)
		s *= 2;
	return s;
}

/* ---- names ----------------------------------------------------------------- */

static const char *const sens_names[] = {
#define TN__X(e, s) s,
	TN_SENSITIVITIES(TN__X)
#undef TN__X
};

static const char *const kind_names[] = {
#define TN__X(e, s) s,
	TN_DEP_KINDS(TN__X)
#undef TN__X
};

static int lookup(const char *const *names, int n, const char *s, size_t len)
{
	if (!s)
		return -1;
	for (int i = 0; i < n; i++)
		if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
			return i;
	return -1;
}

const char *tn_sensitivity_name(enum tn_sensitivity s)
{
	return (int)s >= 0 && s < TN_SENS__COUNT ? sens_names[s] : NULL;
}

int tn_sensitivity_parse(const char *s, size_t len)
{
	return lookup(sens_names, TN_SENS__COUNT, s, len);
}

const char *tn_dep_kind_name(enum tn_dep_kind k)
{
	return (int)k >= 0 && k < TN_DEP__COUNT ? kind_names[k] : NULL;
}

int tn_dep_kind_parse(const char *s, size_t len)
{
	return lookup(kind_names, TN_DEP__COUNT, s, len);
}

bool tn_asset_id_ok(const char *s, size_t len)
{
	if (!s || len == 0 || len > TN_ASSET_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == ':' || c == '-'))
			return false;
	}
	return true;
}

/* ---- the builder ----------------------------------------------------------- */

struct bedge {
	uint32_t dependent, provider;
	int32_t delay_min_s, delay_max_s; /* -1, -1: derived */
	uint8_t kind;
};

struct tn_graph_builder {
	struct tn_asset *assets;
	size_t n_assets, cap_assets;
	struct slot *index; /* id -> number */
	size_t index_mask;

	struct bedge *edges;
	size_t n_edges, cap_edges;
	uint64_t *edge_index; /* (dependent, provider, kind): edge + 1 | check << 32; 0 empty */
	size_t edge_index_mask;

	struct arena arena;
};

struct tn_graph {
	struct tn_asset *assets;
	size_t n;
	struct slot *index;
	size_t index_mask;

	size_t n_edges;
	uint32_t *prov_off, *dep_off; /* n + 1 each */
	struct tn_graph_edge *prov, *dep;

	/* the spatial index: assets sorted by cell key, stable in asset number */
	uint32_t *cell_key, *cell_asset;
	double *cell_lat, *cell_lon;
	double *cell_cos; /* cos(cell_lat) in radians: the distance's factor, once */

	struct arena arena;
	size_t memory;
};

static void set_msg(char *msg, size_t msglen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_msg(char *msg, size_t msglen, const char *fmt, ...)
{
	va_list ap;

	if (!msg || msglen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
}

/* A bounded, printable ASCII rendering of an untrusted string for a message. */
static const char *quoted(const char *s, char *buf, size_t size)
{
	size_t o = 0;

	if (!s)
		return "nothing";
	buf[o++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char one[8];
		int len;

		if (*p == '"' || *p == '\\')
			len = snprintf(one, sizeof one, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			len = snprintf(one, sizeof one, "\\x%02x", *p);
		else
			len = snprintf(one, sizeof one, "%c", *p);
		if (o + (size_t)len + 5 > size) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(buf + o, one, (size_t)len);
		o += (size_t)len;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

int tn_graph_builder_new(size_t assets_hint, size_t deps_hint, struct tn_graph_builder **out)
{
	struct tn_graph_builder *b;

	if (!out)
		return TN_EINVAL;
	*out = NULL;
	if (assets_hint > TN_GRAPH_MAX_ASSETS)
		assets_hint = TN_GRAPH_MAX_ASSETS;
	if (deps_hint > TN_GRAPH_MAX_EDGES)
		deps_hint = TN_GRAPH_MAX_EDGES;
	b = calloc(1, sizeof *b);
	if (!b)
		return TN_ENOMEM;
	b->cap_assets = assets_hint > 16 ? assets_hint : 16;
	b->cap_edges = deps_hint > 16 ? deps_hint : 16;
	b->assets = big_array(b->cap_assets, sizeof *b->assets);
	b->index_mask = table_size(b->cap_assets) - 1;
	b->index = big_zeroed(b->index_mask + 1, sizeof *b->index);
	b->edges = big_array(b->cap_edges, sizeof *b->edges);
	b->edge_index_mask = table_size(b->cap_edges) - 1;
	b->edge_index = big_zeroed(b->edge_index_mask + 1, sizeof *b->edge_index);
	if (!b->assets || !b->index || !b->edges || !b->edge_index) {
		tn_graph_builder_free(b);
		return TN_ENOMEM;
	}
	*out = b;
	return 0;
}

void tn_graph_builder_free(struct tn_graph_builder *b)
{
	if (!b)
		return;
	free(b->assets);
	free(b->index);
	free(b->edges);
	free(b->edge_index);
	arena_free(&b->arena);
	free(b);
}

size_t tn_graph_builder_size(const struct tn_graph_builder *b)
{
	return b ? b->n_assets : 0;
}

size_t tn_graph_builder_edges(const struct tn_graph_builder *b)
{
	return b ? b->n_edges : 0;
}

uint32_t tn_graph_builder_find(const struct tn_graph_builder *b, const char *id)
{
	size_t len;
	uint32_t h;

	if (!b || !id)
		return TN_GRAPH_NONE;
	h = hash_str(id, &len);
	return index_lookup(b->index, b->index_mask, b->assets, id, len, h);
}

/*
 * The edge index hashes (dependent, provider, kind) to 64 bits: the low bits
 * pick the slot, the high 32 are kept in it as a check, so a probe reads the
 * edge itself only on a likely duplicate.
 */
static uint64_t edge_hash(uint32_t dependent, uint32_t provider, unsigned kind)
{
	return mix64(((uint64_t)dependent << 32 | provider) * 16 + kind + 1);
}

static uint32_t find_edge(const struct tn_graph_builder *b, uint32_t dependent, uint32_t provider,
			  unsigned kind, uint64_t h)
{
	for (size_t i = h & b->edge_index_mask;; i = (i + 1) & b->edge_index_mask) {
		uint64_t v = b->edge_index[i];
		if (v == 0)
			return TN_GRAPH_NONE;
		if ((v >> 32) != (h >> 32))
			continue;
		const struct bedge *e = &b->edges[(uint32_t)v - 1];
		if (e->dependent == dependent && e->provider == provider && e->kind == kind)
			return (uint32_t)v - 1;
	}
}

static void put_edge(uint64_t *slots, size_t mask, uint64_t h, uint32_t edge)
{
	size_t i = h & mask;

	while (slots[i] != 0)
		i = (i + 1) & mask;
	slots[i] = (uint64_t)(edge + 1) | (h >> 32 << 32);
}

uint32_t tn_graph_builder_find_dependency(const struct tn_graph_builder *b, uint32_t dependent,
					  uint32_t provider, enum tn_dep_kind kind)
{
	if (!b)
		return TN_GRAPH_NONE;
	return find_edge(b, dependent, provider, kind, edge_hash(dependent, provider, kind));
}

void tn_graph_builder_prefetch(const struct tn_graph_builder *b, const char *id)
{
	size_t len;

	if (b && id)
		__builtin_prefetch(&b->index[hash_str(id, &len) & b->index_mask]);
}

void tn_graph_builder_prefetch_dependency(const struct tn_graph_builder *b,
					  const struct tn_dependency *d)
{
	uint32_t dep, prov;

	if (!b || !d || (int)d->kind < 0 || d->kind >= TN_DEP__COUNT)
		return;
	dep = tn_graph_builder_find(b, d->dependent);
	prov = tn_graph_builder_find(b, d->provider);
	if (dep != TN_GRAPH_NONE && prov != TN_GRAPH_NONE)
		__builtin_prefetch(
			&b->edge_index[edge_hash(dep, prov, d->kind) & b->edge_index_mask]);
}

/* Check a text field: length bounds, UTF-8 without controls, maybe the id charset. */
static int check_text(const char *field, const char *s, size_t min, size_t max, bool code,
		      char *msg, size_t msglen)
{
	char q[96];
	size_t len;
	struct tn__utf8_fault f;

	if (!s) {
		set_msg(msg, msglen, "%s: expected %s, got nothing", field,
			code ? "1-64 of " ID_CHARS : "text");
		return TN_EINVAL;
	}
	len = strlen(s);
	if (code) {
		if (!tn_asset_id_ok(s, len) || len > max) {
			set_msg(msg, msglen, "%s: expected %zu-%zu of %s, got %s", field, min, max,
				ID_CHARS, quoted(s, q, sizeof q));
			return TN_EINVAL;
		}
		return 0;
	}
	if (len < min || len > max) {
		set_msg(msg, msglen, "%s: expected %zu-%zu bytes of text, got %zu bytes", field,
			min, max, len);
		return TN_EINVAL;
	}
	if (tn__utf8_check(s, len, TN__UTF8_NO_CONTROL, &f) != 0) {
		set_msg(msg, msglen, "%s: expected UTF-8 text without control characters, got %s",
			field, quoted(s, q, sizeof q));
		return TN_EINVAL;
	}
	return 0;
}

static int check_asset(const struct tn_asset *a, char *msg, size_t msglen)
{
	int rc;

	if ((rc = check_text("id", a->id, 1, TN_ASSET_ID_MAX, true, msg, msglen)) != 0)
		return rc;
	if ((int)a->sector < 0 || a->sector >= TN_SECTOR__COUNT) {
		set_msg(msg, msglen, "sector: expected a sector code, got %d", (int)a->sector);
		return TN_EINVAL;
	}
	if ((rc = check_text("kind", a->kind, 1, TN_ASSET_KIND_MAX, false, msg, msglen)) != 0 ||
	    (rc = check_text("name", a->name, 0, TN_ASSET_NAME_MAX, false, msg, msglen)) != 0)
		return rc;
	/* written so that NaN fails too */
	if (!(a->lat >= -90.0 && a->lat <= 90.0)) {
		set_msg(msg, msglen, "lat: expected -90..90, got %.17g", a->lat);
		return TN_EINVAL;
	}
	if (!(a->lon >= -180.0 && a->lon <= 180.0)) {
		set_msg(msg, msglen, "lon: expected -180..180, got %.17g", a->lon);
		return TN_EINVAL;
	}
	if ((rc = check_text("area", a->area, 1, TN_ASSET_AREA_MAX, true, msg, msglen)) != 0)
		return rc;
	if (a->criticality < 1 || a->criticality > 5) {
		set_msg(msg, msglen, "criticality: expected 1..5, got %d", a->criticality);
		return TN_EINVAL;
	}
	if (a->population < 0) {
		set_msg(msg, msglen, "population: expected >= 0, got %lld",
			(long long)a->population);
		return TN_EINVAL;
	}
	if (a->backup_s < 0) {
		set_msg(msg, msglen, "backup_s: expected >= 0, got %ld", (long)a->backup_s);
		return TN_EINVAL;
	}
	if ((int)a->sensitivity < 0 || a->sensitivity >= TN_SENS__COUNT) {
		set_msg(msg, msglen, "sensitivity: expected a sensitivity, got %d",
			(int)a->sensitivity);
		return TN_EINVAL;
	}
	return 0;
}

/* Double the id index (rehash from the slots' hashes). */
static int grow_index(struct tn_graph_builder *b)
{
	size_t size = 2 * (b->index_mask + 1);
	struct slot *slots = big_zeroed(size, sizeof *slots);

	if (!slots)
		return TN_ENOMEM;
	for (size_t i = 0; i <= b->index_mask; i++)
		if (b->index[i].len)
			index_put(slots, size - 1, &b->index[i]);
	free(b->index);
	b->index = slots;
	b->index_mask = size - 1;
	return 0;
}

int tn_graph_add_asset(struct tn_graph_builder *b, const struct tn_asset *a, char *msg,
		       size_t msglen)
{
	struct tn_asset *row;
	size_t len;
	uint32_t h;
	int rc;

	set_msg(msg, msglen, "%s", "");
	if (!b || !a) {
		set_msg(msg, msglen, "no builder or asset");
		return TN_EINVAL;
	}
	if ((rc = check_asset(a, msg, msglen)) != 0)
		return rc;
	h = hash_str(a->id, &len);
	if (index_lookup(b->index, b->index_mask, b->assets, a->id, len, h) != TN_GRAPH_NONE) {
		set_msg(msg, msglen, "id: duplicate id \"%s\"", a->id);
		return TN_EEXIST;
	}
	if (b->n_assets >= TN_GRAPH_MAX_ASSETS) {
		set_msg(msg, msglen, "id: more than %u assets", (unsigned)TN_GRAPH_MAX_ASSETS);
		return TN_ERANGE;
	}
	if (b->n_assets == b->cap_assets) {
		size_t ncap = b->cap_assets * 2;
		struct tn_asset *na;

		if (ncap > TN_GRAPH_MAX_ASSETS)
			ncap = TN_GRAPH_MAX_ASSETS;
		na = big_grow(b->assets, b->cap_assets * sizeof *na, ncap * sizeof *na);
		if (!na)
			goto oom;
		b->assets = na;
		b->cap_assets = ncap;
	}
	if (2 * (b->n_assets + 1) > b->index_mask + 1 && grow_index(b) != 0)
		goto oom;

	row = &b->assets[b->n_assets];
	*row = *a;
	/* a failed copy leaves unreferenced bytes in the arena: harmless */
	row->id = arena_copy(&b->arena, a->id, len);
	row->kind = arena_copy(&b->arena, a->kind, strlen(a->kind));
	row->name = arena_copy(&b->arena, a->name, strlen(a->name));
	row->area = arena_copy(&b->arena, a->area, strlen(a->area));
	if (!row->id || !row->kind || !row->name || !row->area)
		goto oom;
	index_insert(b->index, b->index_mask, row->id, len, h, (uint32_t)b->n_assets);
	b->n_assets++;
	return 0;
oom:
	set_msg(msg, msglen, "out of memory");
	return TN_ENOMEM;
}

static int grow_edge_index(struct tn_graph_builder *b)
{
	size_t size = 2 * (b->edge_index_mask + 1);
	uint64_t *slots = big_zeroed(size, sizeof *slots);

	if (!slots)
		return TN_ENOMEM;
	for (size_t i = 0; i < b->n_edges; i++) {
		const struct bedge *e = &b->edges[i];
		put_edge(slots, size - 1, edge_hash(e->dependent, e->provider, e->kind),
			 (uint32_t)i);
	}
	free(b->edge_index);
	b->edge_index = slots;
	b->edge_index_mask = size - 1;
	return 0;
}

int tn_graph_add_dependency(struct tn_graph_builder *b, const struct tn_dependency *d, char *msg,
			    size_t msglen)
{
	char q[96];
	uint32_t dep = TN_GRAPH_NONE, prov = TN_GRAPH_NONE, hd = 0, hp = 0;
	size_t ld = 0, lp = 0;
	uint64_t h;

	set_msg(msg, msglen, "%s", "");
	if (!b || !d) {
		set_msg(msg, msglen, "no builder or dependency");
		return TN_EINVAL;
	}
	/* both slots are fetched at once: the lookups are cache misses, not work */
	if (d->dependent) {
		hd = hash_str(d->dependent, &ld);
		__builtin_prefetch(&b->index[hd & b->index_mask]);
	}
	if (d->provider) {
		hp = hash_str(d->provider, &lp);
		__builtin_prefetch(&b->index[hp & b->index_mask]);
	}
	if (d->dependent)
		dep = index_lookup(b->index, b->index_mask, b->assets, d->dependent, ld, hd);
	if (dep == TN_GRAPH_NONE) {
		set_msg(msg, msglen, "dependent: expected the id of an asset, got %s",
			quoted(d->dependent, q, sizeof q));
		return TN_ENOTFOUND;
	}
	if (d->provider)
		prov = index_lookup(b->index, b->index_mask, b->assets, d->provider, lp, hp);
	if (prov == TN_GRAPH_NONE) {
		set_msg(msg, msglen, "provider: expected the id of an asset, got %s",
			quoted(d->provider, q, sizeof q));
		return TN_ENOTFOUND;
	}
	if (dep == prov) {
		set_msg(msg, msglen, "provider: expected an asset other than the dependent, got %s",
			quoted(d->provider, q, sizeof q));
		return TN_EINVAL;
	}
	if ((int)d->kind < 0 || d->kind >= TN_DEP__COUNT) {
		set_msg(msg, msglen, "kind: expected a dependency kind, got %d", (int)d->kind);
		return TN_EINVAL;
	}
	if (!(d->delay_min_s == -1 && d->delay_max_s == -1) &&
	    !(d->delay_min_s >= 0 && d->delay_max_s >= d->delay_min_s)) {
		if (d->delay_min_s < 0 && d->delay_min_s != -1)
			set_msg(msg, msglen, "delay_min_s: expected >= 0 (or -1: derived), got %ld",
				(long)d->delay_min_s);
		else if (d->delay_min_s == -1)
			set_msg(msg, msglen,
				"delay_min_s: expected >= 0 when delay_max_s is given, got -1");
		else if (d->delay_max_s == -1)
			set_msg(msg, msglen,
				"delay_max_s: expected >= delay_min_s when delay_min_s is given, "
				"got -1");
		else
			set_msg(msg, msglen, "delay_max_s: expected >= delay_min_s (%ld), got %ld",
				(long)d->delay_min_s, (long)d->delay_max_s);
		return TN_EINVAL;
	}
	h = edge_hash(dep, prov, d->kind);
	if (find_edge(b, dep, prov, d->kind, h) != TN_GRAPH_NONE) {
		set_msg(msg, msglen, "kind: duplicate dependency of \"%s\" on \"%s\" for %s",
			b->assets[dep].id, b->assets[prov].id, kind_names[d->kind]);
		return TN_EEXIST;
	}
	if (b->n_edges >= TN_GRAPH_MAX_EDGES) {
		set_msg(msg, msglen, "more than %u dependencies", (unsigned)TN_GRAPH_MAX_EDGES);
		return TN_ERANGE;
	}
	if (b->n_edges == b->cap_edges) {
		size_t ncap = b->cap_edges * 2;
		struct bedge *ne;

		if (ncap > TN_GRAPH_MAX_EDGES)
			ncap = TN_GRAPH_MAX_EDGES;
		ne = big_grow(b->edges, b->cap_edges * sizeof *ne, ncap * sizeof *ne);
		if (!ne)
			goto oom;
		b->edges = ne;
		b->cap_edges = ncap;
	}
	if (2 * (b->n_edges + 1) > b->edge_index_mask + 1 && grow_edge_index(b) != 0)
		goto oom;

	b->edges[b->n_edges] = (struct bedge){
		.dependent = dep,
		.provider = prov,
		.delay_min_s = d->delay_min_s,
		.delay_max_s = d->delay_max_s,
		.kind = (uint8_t)d->kind,
	};
	put_edge(b->edge_index, b->edge_index_mask, h, (uint32_t)b->n_edges);
	b->n_edges++;
	return 0;
oom:
	set_msg(msg, msglen, "out of memory");
	return TN_ENOMEM;
}

/* ---- build ----------------------------------------------------------------- */

static uint32_t grid_row(double lat)
{
	double r = floor((lat + 90.0) / GRID_DEG);

	if (!(r >= 0))
		return 0;
	return r >= GRID_ROWS ? GRID_ROWS - 1 : (uint32_t)r;
}

static uint32_t grid_col(double lon)
{
	double c = floor((lon + 180.0) / GRID_DEG);

	if (!(c >= 0))
		return 0;
	return c >= GRID_COLS ? GRID_COLS - 1 : (uint32_t)c;
}

/* How far ahead the scatter loops below hint at the lines they will touch. */
#define FILL_AHEAD 16

/* CSR of one direction: by `from` (dependent for providers lists), `other` the far end. */
static void fill_csr(const struct tn_graph_builder *b, const struct tn_asset *assets, bool by_dep,
		     uint32_t *off, struct tn_graph_edge *out)
{
	size_t n = b->n_assets, m = b->n_edges;
	const struct bedge *edges = b->edges;

#define FROM(e) (by_dep ? (e)->dependent : (e)->provider)
	memset(off, 0, (n + 1) * sizeof *off);
	for (size_t i = 0; i < m; i++) {
		if (i + FILL_AHEAD < m)
			__builtin_prefetch(&off[FROM(&edges[i + FILL_AHEAD]) + 1], 1);
		off[FROM(&edges[i]) + 1]++;
	}
	for (size_t i = 0; i < n; i++)
		off[i + 1] += off[i];
	/* off[i] walks forward while filling, then is shifted back */
	for (size_t i = 0; i < m; i++) {
		const struct bedge *e = &edges[i];
		uint32_t from = FROM(e);

		/* the edges are in the order added, the lists by asset: every
		 * access but to edges[] is at random, so fetch them ahead, the
		 * slot of out[] once its offset has arrived */
		if (i + FILL_AHEAD < m) {
			const struct bedge *f = &edges[i + FILL_AHEAD];
			__builtin_prefetch(&off[FROM(f)], 1);
			__builtin_prefetch(&assets[f->dependent].backup_s);
		}
		if (i + FILL_AHEAD / 2 < m)
			__builtin_prefetch(&out[off[FROM(&edges[i + FILL_AHEAD / 2])]], 1);

		struct tn_graph_edge *o = &out[off[from]++];
		int32_t backup = assets[e->dependent].backup_s;

		memset(o, 0, sizeof *o);
		o->other = by_dep ? e->provider : e->dependent;
		o->kind = e->kind;
		if (e->delay_min_s == -1) {
			o->delay_min_s = backup;
			o->delay_max_s = backup > INT32_MAX - TN_GRAPH_DERIVED_SPREAD_S
						 ? INT32_MAX
						 : backup + TN_GRAPH_DERIVED_SPREAD_S;
		} else {
			o->delay_min_s = e->delay_min_s;
			o->delay_max_s = e->delay_max_s;
		}
	}
#undef FROM
	memmove(off + 1, off, n * sizeof *off);
	off[0] = 0;
}

/* The grid: a stable LSD radix sort of the assets by cell key (< 2^30), 15 bits a pass. */
static int build_grid(struct tn_graph *g)
{
	size_t n = g->n;
	uint32_t *key = big_array(n, sizeof *key);
	uint32_t *tmp = big_array(n, sizeof *tmp);
	uint32_t *count = malloc((1u << 15) * sizeof *count);
	int rc = TN_ENOMEM;

	g->cell_key = big_array(n, sizeof *g->cell_key);
	g->cell_asset = big_array(n, sizeof *g->cell_asset);
	g->cell_lat = big_array(n, sizeof *g->cell_lat);
	g->cell_lon = big_array(n, sizeof *g->cell_lon);
	g->cell_cos = big_array(n, sizeof *g->cell_cos);
	if (!key || !tmp || !count || !g->cell_key || !g->cell_asset || !g->cell_lat ||
	    !g->cell_lon || !g->cell_cos)
		goto out;
	for (size_t i = 0; i < n; i++) {
		key[i] = grid_row(g->assets[i].lat) * GRID_COLS + grid_col(g->assets[i].lon);
		g->cell_asset[i] = (uint32_t)i;
	}
	for (int pass = 0; pass < 2; pass++) {
		unsigned shift = 15u * (unsigned)pass;
		uint32_t *src = pass == 0 ? g->cell_asset : tmp;
		uint32_t *dst = pass == 0 ? tmp : g->cell_asset;
		uint32_t sum = 0;

		memset(count, 0, (1u << 15) * sizeof *count);
		for (size_t i = 0; i < n; i++)
			count[(key[src[i]] >> shift) & 0x7fff]++;
		for (size_t d = 0; d < (1u << 15); d++) {
			uint32_t c = count[d];
			count[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			dst[count[(key[src[i]] >> shift) & 0x7fff]++] = src[i];
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t a = g->cell_asset[i];
		g->cell_key[i] = key[a];
		g->cell_lat[i] = g->assets[a].lat;
		g->cell_lon[i] = g->assets[a].lon;
		g->cell_cos[i] = cos(g->assets[a].lat * DEG);
	}
	rc = 0;
out:
	free(key);
	free(tmp);
	free(count);
	return rc;
}

int tn_graph_build(struct tn_graph_builder *b, struct tn_graph **out)
{
	struct tn_graph *g;
	size_t n, m;

	if (!out) {
		tn_graph_builder_free(b);
		return TN_EINVAL;
	}
	*out = NULL;
	if (!b)
		return TN_EINVAL;
	g = calloc(1, sizeof *g);
	if (!g)
		goto oom;
	n = b->n_assets;
	m = b->n_edges;

	/* take over the rows, the id index and the strings */
	g->n = n;
	g->assets = b->assets;
	b->assets = NULL;
	if (n && n < b->cap_assets) {
		struct tn_asset *a = realloc(g->assets, n * sizeof *a);
		if (a)
			g->assets = a;
	}
	if (table_size(n) - 1 < b->index_mask) {
		/* sized by the hint: shrink to what is used */
		g->index_mask = table_size(n) - 1;
		g->index = big_zeroed(g->index_mask + 1, sizeof *g->index);
		if (!g->index)
			goto oom;
		for (size_t i = 0; i <= b->index_mask; i++)
			if (b->index[i].len)
				index_put(g->index, g->index_mask, &b->index[i]);
	} else {
		g->index = b->index;
		g->index_mask = b->index_mask;
		b->index = NULL;
	}
	g->arena = b->arena;
	memset(&b->arena, 0, sizeof b->arena);

	/* the edge index is a builder's tool only */
	free(b->edge_index);
	b->edge_index = NULL;

	g->n_edges = m;
	g->prov_off = big_array(n + 1, sizeof *g->prov_off);
	g->dep_off = big_array(n + 1, sizeof *g->dep_off);
	g->prov = big_array(m, sizeof *g->prov);
	g->dep = big_array(m, sizeof *g->dep);
	if (!g->prov_off || !g->dep_off || !g->prov || !g->dep)
		goto oom;
	fill_csr(b, g->assets, true, g->prov_off, g->prov);
	fill_csr(b, g->assets, false, g->dep_off, g->dep);
	free(b->edges);
	b->edges = NULL;
	if (build_grid(g) != 0)
		goto oom;

	g->memory = sizeof *g + n * sizeof *g->assets + (g->index_mask + 1) * sizeof *g->index +
		    g->arena.bytes + g->arena.cap * sizeof *g->arena.blocks +
		    2 * (n + 1) * sizeof *g->prov_off + 2 * m * sizeof *g->prov +
		    n * (2 * sizeof *g->cell_key + 3 * sizeof *g->cell_lat);
	tn_graph_builder_free(b);
	*out = g;
	return 0;
oom:
	tn_graph_builder_free(b);
	tn_graph_free(g);
	return TN_ENOMEM;
}

void tn_graph_free(struct tn_graph *g)
{
	if (!g)
		return;
	free(g->assets);
	free(g->index);
	free(g->prov_off);
	free(g->dep_off);
	free(g->prov);
	free(g->dep);
	free(g->cell_key);
	free(g->cell_asset);
	free(g->cell_lat);
	free(g->cell_lon);
	free(g->cell_cos);
	arena_free(&g->arena);
	free(g);
}

/* ---- reading --------------------------------------------------------------- */

size_t tn_graph_size(const struct tn_graph *g)
{
	return g ? g->n : 0;
}

size_t tn_graph_edges(const struct tn_graph *g)
{
	return g ? g->n_edges : 0;
}

size_t tn_graph_memory(const struct tn_graph *g)
{
	return g ? g->memory : 0;
}

const struct tn_asset *tn_graph_asset(const struct tn_graph *g, uint32_t i)
{
	return g && i < g->n ? &g->assets[i] : NULL;
}

uint32_t tn_graph_find(const struct tn_graph *g, const char *id)
{
	size_t len;
	uint32_t h;

	if (!g || !id)
		return TN_GRAPH_NONE;
	h = hash_str(id, &len);
	return index_lookup(g->index, g->index_mask, g->assets, id, len, h);
}

void tn__graph_adjacency(const struct tn_graph *g, const uint32_t **prov_off,
			 const struct tn_graph_edge **prov, const uint32_t **dep_off,
			 const struct tn_graph_edge **dep)
{
	*prov_off = g ? g->prov_off : NULL;
	*prov = g ? g->prov : NULL;
	*dep_off = g ? g->dep_off : NULL;
	*dep = g ? g->dep : NULL;
}

size_t tn_graph_providers(const struct tn_graph *g, uint32_t i, const struct tn_graph_edge **out)
{
	if (!g || i >= g->n) {
		if (out)
			*out = NULL;
		return 0;
	}
	if (out)
		*out = g->prov + g->prov_off[i];
	return g->prov_off[i + 1] - g->prov_off[i];
}

size_t tn_graph_dependents(const struct tn_graph *g, uint32_t i, const struct tn_graph_edge **out)
{
	if (!g || i >= g->n) {
		if (out)
			*out = NULL;
		return 0;
	}
	if (out)
		*out = g->dep + g->dep_off[i];
	return g->dep_off[i + 1] - g->dep_off[i];
}

double tn_graph_distance_m(double lat1, double lon1, double lat2, double lon2)
{
	double p1 = lat1 * DEG, p2 = lat2 * DEG;
	double sp = sin((p2 - p1) / 2), sl = sin((lon2 - lon1) * DEG / 2);
	double h = sp * sp + cos(p1) * cos(p2) * sl * sl;

	if (h > 1)
		h = 1;
	return 2 * EARTH_R_M * asin(sqrt(h));
}

/* The results: a max-heap of the `max` lowest numbers in out[0..*n), and the total. */
struct near_acc {
	uint32_t *out;
	size_t max, n, total;
};

static void sift_down(uint32_t *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, top = i;
		if (l < n && h[l] > h[top])
			top = l;
		if (r < n && h[r] > h[top])
			top = r;
		if (top == i)
			return;
		uint32_t t = h[i];
		h[i] = h[top];
		h[top] = t;
		i = top;
	}
}

static void acc_push(struct near_acc *a, uint32_t v)
{
	a->total++;
	if (a->n < a->max) {
		size_t i = a->n++;
		a->out[i] = v;
		while (i > 0 && a->out[(i - 1) / 2] < a->out[i]) {
			uint32_t t = a->out[i];
			a->out[i] = a->out[(i - 1) / 2];
			a->out[(i - 1) / 2] = t;
			i = (i - 1) / 2;
		}
	} else if (a->max > 0 && v < a->out[0]) {
		a->out[0] = v;
		sift_down(a->out, a->n, 0);
	}
}

/* A query: the circle and the bounding box (a superset) of its candidates. */
struct near_q {
	double lat, lon, radius_m;
	double dlat, dlon; /* degrees; dlon 360: any longitude */
	double p1, cos1;   /* lat in radians, its cosine */
	double h_in, h_out; /* haversine h below h_in: within radius_m; above h_out: not */
};

/*
 * within - tn_graph_distance_m(q, candidate a) <= radius_m, decided by the
 * same arithmetic with the cosines computed once (the candidate's from the
 * build, the query's per query), and the final asin and sqrt only when h is
 * within a millionth of the radius's own h, where their rounding could
 * matter: elsewhere the comparison of h says the same, since asin(sqrt())
 * grows with h. Three of the four transcendental calls per candidate went.
 */
static bool within(const struct tn_graph *g, size_t a, const struct near_q *q)
{
	double p2 = g->cell_lat[a] * DEG;
	double sp = sin((p2 - q->p1) / 2), sl = sin((g->cell_lon[a] - q->lon) * DEG / 2);
	double h = sp * sp + q->cos1 * g->cell_cos[a] * sl * sl;

	if (h > 1)
		h = 1;
	if (h < q->h_in)
		return true;
	if (h > q->h_out)
		return false;
	return 2 * EARTH_R_M * asin(sqrt(h)) <= q->radius_m;
}

/* The candidates of cell keys lo..hi (one grid row), checked exactly. */
static void scan_keys(const struct tn_graph *g, uint32_t lo, uint32_t hi, const struct near_q *q,
		      struct near_acc *acc)
{
	size_t a = 0, b = g->n;

	while (a < b) {
		size_t mid = a + (b - a) / 2;
		if (g->cell_key[mid] < lo)
			a = mid + 1;
		else
			b = mid;
	}
	for (; a < g->n && g->cell_key[a] <= hi; a++) {
		/* the box first: cells are coarse, trigonometry is not cheap */
		double dl = fabs(g->cell_lon[a] - q->lon);

		if (fabs(g->cell_lat[a] - q->lat) > q->dlat)
			continue;
		if (dl > 180)
			dl = 360 - dl;
		if (dl > q->dlon)
			continue;
		if (within(g, a, q))
			acc_push(acc, g->cell_asset[a]);
	}
}

static size_t near_impl(const struct tn_graph *g, double lat, double lon, double radius_m,
			uint32_t *out, size_t max, bool sorted)
{
	struct near_acc acc = {.out = out, .max = out ? max : 0};
	double delta, dlat, dlon = 360.0;
	uint32_t row_lo, row_hi, c[4];
	int ranges;

	if (!g || g->n == 0 || !isfinite(lat) || !isfinite(lon) || !(radius_m >= 0) || lat < -90 ||
	    lat > 90)
		return 0;
	/* any longitude: fold it into -180..180 */
	if (lon < -180 || lon > 180)
		lon = remainder(lon, 360.0);

	/* the angular radius; the slack keeps the cell ranges a superset */
	delta = radius_m / EARTH_R_M;
	dlat = delta / DEG * (1 + 1e-9) + 1e-9;
	if (lat + dlat < 90 && lat - dlat > -90) {
		double s = sin(delta) / cos(lat * DEG);
		if (s < 1)
			dlon = asin(s) / DEG * (1 + 1e-9) + 1e-9;
	}
	row_lo = grid_row(lat - dlat);
	row_hi = grid_row(lat + dlat);
	if (dlon >= 180) {
		c[0] = 0;
		c[1] = GRID_COLS - 1;
		ranges = 1;
	} else if (lon - dlon < -180) {
		c[0] = 0;
		c[1] = grid_col(lon + dlon);
		c[2] = grid_col(lon - dlon + 360);
		c[3] = GRID_COLS - 1;
		ranges = 2;
	} else if (lon + dlon > 180) {
		c[0] = 0;
		c[1] = grid_col(lon + dlon - 360);
		c[2] = grid_col(lon - dlon);
		c[3] = GRID_COLS - 1;
		ranges = 2;
	} else {
		c[0] = grid_col(lon - dlon);
		c[1] = grid_col(lon + dlon);
		ranges = 1;
	}
	if (ranges == 2 && c[2] <= c[1]) /* the two ranges meet: one full row */
		ranges = 1, c[1] = GRID_COLS - 1;
	struct near_q q = {lat, lon, radius_m, dlat, dlon, lat * DEG, cos(lat * DEG), -1, 2};
	if (radius_m < EARTH_R_M) { /* else always the exact comparison */
		double hr = sin(radius_m / (2 * EARTH_R_M));

		q.h_in = hr * hr * (1 - 1e-6);
		q.h_out = hr * hr * (1 + 1e-6);
	}
	for (uint32_t r = row_lo; r <= row_hi; r++)
		for (int k = 0; k < ranges; k++)
			scan_keys(g, r * GRID_COLS + c[2 * k], r * GRID_COLS + c[2 * k + 1], &q,
				  &acc);

	/* heap to ascending order */
	for (size_t n = sorted ? acc.n : 0; n > 1; n--) {
		uint32_t t = out[0];
		out[0] = out[n - 1];
		out[n - 1] = t;
		sift_down(out, n - 1, 0);
	}
	return acc.total;
}

size_t tn_graph_near(const struct tn_graph *g, double lat, double lon, double radius_m,
		     uint32_t *out, size_t max)
{
	return near_impl(g, lat, lon, radius_m, out, max, true);
}

size_t tn__graph_near_any(const struct tn_graph *g, double lat, double lon, double radius_m,
			  uint32_t *out, size_t max)
{
	return near_impl(g, lat, lon, radius_m, out, max, false);
}
