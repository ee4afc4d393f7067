/*
 * corr_internal.h - the engine's private state, shared by corr.c (the rules),
 * corr_json.c (revisions as canonical JSON) and corr_util.c (interning,
 * heaps, time formatting). See include/tocsin/correlator.h for the contract
 * and docs/correlation.md for the semantics.
 */
#ifndef TN_CORR_INTERNAL_H
#define TN_CORR_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tocsin/correlator.h"

#define TN__NONE UINT32_MAX
#define TN__US 1000000LL

/* ---- growable arrays: amortised, reused, never shrunk ---------------------- */

/* tn__cgrow - make room for `need` elements of `elem` bytes at *p (capacity
 * *cap). Returns 0 or TN_ENOMEM (*p unchanged). */
int tn__cgrow(void **p, uint32_t *cap, size_t need, size_t elem);

/* ---- interning: string <-> dense number ------------------------------------ */

struct tn__cintern {
	char **str;     /* number -> owned copy */
	uint32_t n, cap;
	uint64_t *slot; /* open addressing: hash tag << 32 | number + 1, 0 = empty */
	uint32_t mask;
};

/* tn__cintern_find - the number of `s` or TN__NONE. */
uint32_t tn__cintern_find(const struct tn__cintern *t, const char *s);
/* tn__cintern_add - the number of `s`, adding a copy if new (*added set).
 * Returns 0 or TN_ENOMEM. */
int tn__cintern_add(struct tn__cintern *t, const char *s, uint32_t *out, bool *added);
void tn__cintern_free(struct tn__cintern *t);

/* ---- output helpers ---------------------------------------------------------- */

struct tn__cbuf {
	char *p;
	uint32_t len, cap;
	bool oom;
	bool day_ok;   /* date[] holds the "YYYY-MM-DD" of `day` */
	int64_t day;   /* days since 1970-01-01 */
	char date[10];
};

void tn__cbuf_put_slow(struct tn__cbuf *b, const char *s, size_t n);

/* Append n bytes (a NUL kept after them). Inline: revisions are made of
 * thousands of small pieces. On failure b->oom is set and later puts do
 * nothing. */
static inline void tn__cbuf_put(struct tn__cbuf *b, const char *s, size_t n)
{
	if (!b->oom && (size_t)b->len + n + 1 <= b->cap) {
		memcpy(b->p + b->len, s, n);
		b->len += (uint32_t)n;
		b->p[b->len] = '\0';
		return;
	}
	tn__cbuf_put_slow(b, s, n);
}

/* A string literal, its length known at compile time. */
#define TN__CBUF_LIT(b, lit) tn__cbuf_put((b), (lit), sizeof(lit) - 1)

void tn__cbuf_u64(struct tn__cbuf *b, uint64_t v);            /* decimal */
void tn__cbuf_str(struct tn__cbuf *b, const char *s);        /* raw */
void tn__cbuf_json(struct tn__cbuf *b, const char *s);       /* quoted, escaped */
void tn__cbuf_fmt(struct tn__cbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tn__cbuf_time(struct tn__cbuf *b, int64_t us);          /* quoted RFC 3339 UTC, ms */

/* 64-bit id of an incident from up to four strings (NULLs skipped; each
 * enters with its NUL, so ("ab","c") and ("a","bc") differ). */
uint64_t tn__corr_hash(const char *a, const char *b, const char *c, const char *d);

/* graph.c: the graph's adjacency arrays (CSR: edges of asset i at
 * [off[i], off[i + 1])), all NULL for a NULL graph. Why: the engine's
 * searches read them in their inner loops, a function call per asset. */
void tn__graph_adjacency(const struct tn_graph *g, const uint32_t **prov_off,
			 const struct tn_graph_edge **prov, const uint32_t **dep_off,
			 const struct tn_graph_edge **dep);

/* graph.c: tn_graph_near's answer (the same `max` lowest numbers, the same
 * total) in no particular order: the sort was a third of a query's cost,
 * and co-location breaks its ties by number itself. */
size_t tn__graph_near_any(const struct tn_graph *g, double lat, double lon, double radius_m,
			  uint32_t *out, size_t max);

/* ---- state ---------------------------------------------------------------------- */

enum { TN__UP = 0, TN__DEGRADED = 1, TN__DOWN = 2 };

enum tn__rule {
	TN__RULE_ROOT,
	TN__RULE_CASCADE,
	TN__RULE_REROOT,
	TN__RULE_INFERRED,
	TN__RULE_COLOCATED,
	TN__RULE_SAME_ASSET,
	TN__RULE_UNREGISTERED,
};

enum { TN__RISK_PENDING, TN__RISK_BORNE_OUT, TN__RISK_NOT_BORNE_OUT };

enum tn__inc_status {
	TN__INC_FREE,
	TN__INC_OPEN,
	TN__INC_RESOLVED,
	TN__INC_MERGED,
	TN__INC_WITHDRAWN,
};

/* Per asset key (registered or not): its current state. */
struct tn__asset {
	uint8_t state;     /* TN__UP, TN__DEGRADED, TN__DOWN */
	uint8_t inferred;  /* a common-cause root nobody reported: "failed" for searches */
	int8_t sector;     /* of its last event (or the registry's) */
	uint32_t inc;      /* incident slot of the current failure or inference, TN__NONE */
	uint32_t member;   /* its member index there (TN__NONE when inferred) */
	int64_t fail_us;   /* time of the current failure (estimated when inferred) */
	int64_t last_us;   /* time of the last state change */
	uint64_t ev_hash;  /* source + id of the current failure event: duplicates */
	uint32_t risk_inc; /* the incident whose at-risk list last listed it ... */
	uint32_t risk_idx; /* ... and where */
	uint8_t desc_on;   /* its failure is counted in tn_corr.desc */
	uint8_t desc_trunc; /* ... and that count hit max_scan (tn_corr.desc_overflow) */
};

struct tn__member {
	uint32_t key;
	uint32_t parent; /* member index it was linked from, TN__NONE: from the root asset */
	uint32_t src, id; /* offsets of the event's source and id in the incident's strings */
	uint32_t hop;     /* offset in hops: parent's asset (or the root) .. this asset */
	uint16_t hop_len;
	int8_t sector;
	uint8_t state, rule, late;
	int64_t t, lo, hi; /* failure time; the window that linked it */
	uint32_t aff_state; /* where its state goes in the incident's atxt (once formatted) */
};

struct tn__risk {
	uint32_t key, via;
	int8_t sector;
	uint8_t outcome;
	int64_t eta, eta_latest;
	uint32_t txt, txt_len; /* its entry up to the outcome in the incident's rtxt;
				  txt TN__NONE until formatted */
};

struct tn__incident {
	uint64_t h;
	char id[TN_INCIDENT_ID_LEN + 1];
	uint32_t gen, rev;
	uint8_t status, cause, has_colo, root_inferred, dirty;
	uint8_t prio;        /* priority of the last revision, 0 before the first */
	uint8_t quiet;       /* forecast outcomes settled since, not yet published */
	uint8_t quiet_timer; /* a TN__T_OUTCOME timer is pending for them */
	int8_t root_sector;
	uint32_t root_key;  /* asset key; for visibility the source number */
	int64_t root_t, opened, updated;
	double confidence;
	uint32_t n_down;    /* assets whose current failure is in here */
	uint32_t n_deps;    /* inferred: direct dependents of the root (confidence denominator) */
	uint32_t n_pending_life; /* pending at-risk entries in a life-safety sector: the
				    priority's w_life without a scan of the list */
	/*
	 * The pending at-risk entries' indexes in r, by (eta, index), and the
	 * settled ones counted by outcome. Why: a revision lists the pending
	 * ones due first (at_risk_listed of up to max_at_risk), and the
	 * priority asks whether one is imminent; ranking the whole list at
	 * every revision was a fifth of the engine's time. Kept by risk_add
	 * and risk_settle in corr.c.
	 */
	uint32_t *pend;
	uint32_t npend, cpend;
	uint32_t n_borne, n_not;
	/*
	 * The priority's and title's sums over members [0, n_agg), taken under
	 * the graph of generation agg_gen (tn_corr.graph_gen): members never
	 * change what these read (key, rule, sector), so each is counted once.
	 */
	uint32_t n_agg, agg_gen;
	uint32_t agg_naff;   /* members that are not a same-asset repeat */
	uint32_t agg_mask;   /* sectors of members */
	int64_t agg_pop;     /* population of registered, not-repeat members */
	int agg_crit;        /* their lowest criticality, 6 if none */
	uint8_t agg_life;    /* a member in a life-safety sector */
	char merged_into[TN_INCIDENT_ID_LEN + 1];
	struct tn__member *m;
	uint32_t nm, cm;
	struct tn__risk *r;
	uint32_t nr, cr;
	char *s;
	uint32_t ns, cs;
	uint32_t *hops;
	uint32_t nh, ch;
	/*
	 * Revision text, formatted once (corr_json.c). Why: a revision carries
	 * every member with its explanation, and an incident of a hundred
	 * members re-formatted them all at every revision (most of the engine's
	 * time). What is formatted never changes afterwards but for a member's
	 * state and an at-risk entry's outcome, which are left out and written
	 * at each revision, and the explanation paths, which a confirmed
	 * inference changes (tn__inc_explain_stale).
	 *   atxt: the "affected" entries of members [0, n_atxt), comma-separated,
	 *         each without its state (member.aff_state says where it goes);
	 *   etxt: the "explain" entries of members [0, n_etxt), comma-separated;
	 *   rtxt: at-risk entries as they are first listed, up to their outcome.
	 */
	struct tn__cbuf atxt, etxt, rtxt;
	uint32_t n_atxt, n_etxt;
};

/* The incident's revision text restarts (its members and at-risk entries are
 * gone or new). */
static inline void tn__inc_text_reset(struct tn__incident *in)
{
	in->atxt.len = in->etxt.len = in->rtxt.len = 0;
	in->n_atxt = in->n_etxt = 0;
}

/* The incident has no members and no at-risk entries any more: what is
 * kept about them restarts. */
static inline void tn__inc_lists_reset(struct tn__incident *in)
{
	in->nm = in->nr = 0;
	in->npend = in->n_borne = in->n_not = 0;
	in->n_pending_life = 0;
	in->n_agg = 0;
	tn__inc_text_reset(in);
}

/* The explanation paths of the incident's members changed (a parent did). */
static inline void tn__inc_explain_stale(struct tn__incident *in)
{
	in->etxt.len = 0;
	in->n_etxt = 0;
}

struct tn__source {
	int64_t last_us, timer_us; /* last sign of life; pending deadline timer (0: none) */
	uint32_t last_key;         /* asset of its last asset event (area), TN__NONE */
	int8_t sector;
	uint8_t hb, blind;
	uint32_t inc;              /* visibility incident while blind */
	uint32_t episodes;         /* times it went blind: part of each episode's incident id */
};

/* An event waiting for the watermark (copied). */
struct tn__bev {
	int64_t t;
	uint32_t src;
	uint8_t type;
	int8_t sector;
	uint8_t has_geo;
	double lat, lon;
	char id[TN_WIRE_MAX_ID + 1];
	char asset[TN_WIRE_MAX_ASSET + 1];
};

enum { TN__T_RISK, TN__T_HEARTBEAT, TN__T_OUTCOME };

struct tn__timer {
	int64_t t;
	uint64_t seq;
	uint8_t kind;
	uint32_t a, b, gen;
};

struct tn__visit {
	uint32_t stamp, parent;
	uint32_t depth;
	int64_t lo, hi; /* accumulated delay_min / delay_max along the shortest paths, us */
};

struct tn__change_off {
	uint32_t area, merged, body; /* offsets in tn_corr.out; merged TN__NONE if none */
};

struct tn_corr {
	struct tn_corr_config cfg;
	char *stream;
	bool exercise;
	const struct tn_graph *g;
	size_t gn;
	const uint32_t *prov_off, *dep_off; /* g's adjacency (tn__graph_adjacency) */
	const struct tn_graph_edge *prov, *dep;

	struct tn__cintern keys;   /* asset ids */
	uint32_t *num_of_key;     /* key -> number in g, TN__NONE */
	uint32_t *key_of_num;     /* number in g -> key */
	uint32_t cnum;            /* capacity of num_of_key */
	struct tn__asset *as;
	uint32_t cas;
	size_t n_unreg;

	struct tn__cintern sources;
	struct tn__source *src;
	uint32_t csrc;

	struct tn__incident *inc;
	uint32_t ninc, cinc;
	uint32_t *free_inc;
	uint32_t nfree, cfree;
	size_t open;

	struct tn__bev *bev;       /* pool */
	uint32_t nbev, cbev;
	uint32_t *bev_free;
	uint32_t nbev_free, cbev_free;
	uint32_t *eheap;           /* event heap of pool indices */
	uint32_t neh, ceh;

	struct tn__timer *th;
	uint32_t nth, cth;
	uint64_t timer_seq;

	int64_t watermark, max_seen;
	int64_t bucket;            /* current emit bucket */
	bool have_bucket;
	int64_t now;               /* time of the item being processed */
	bool cur_late;

	struct tn__visit *vis;     /* per graph number */
	uint32_t stamp;
	uint32_t *queue;
	uint32_t *nearbuf;
	uint32_t *tmp;             /* scratch */
	uint32_t ctmp;
	/*
	 * desc[num]: failed assets within max_depth downstream of num (itself
	 * included). Why: re-rooting searches downstream of every new failure
	 * for incident roots, and on a large city that search visits thousands
	 * of up assets for nothing; a zero here prunes a branch with no failed
	 * asset in reach. Kept by an upstream search from each asset that fails
	 * or is restored (fan-in is small where fan-out is not). When one of
	 * those searches hit max_scan the counts are incomplete: desc_overflow
	 * is then > 0 and nothing is pruned.
	 */
	uint32_t *desc, *dstamp, *dqueue;
	uint32_t dstamp_n, desc_overflow;
	/*
	 * The last upstream() that found no cause walked exactly what
	 * desc_mark(num, +1) walks (providers, breadth first, max_depth and
	 * max_scan): the same assets in the same order, in queue[0, up_len),
	 * cut short when up_cut. Valid while stamp == up_stamp (every other
	 * search takes a new stamp and reuses queue), so the failure that
	 * follows counts itself in desc from it instead of walking again.
	 */
	uint32_t up_stamp, up_num, up_len;
	bool up_cut;
	uint32_t *lst;             /* scratch of tn__corr_emit: the at-risk entries listed */
	uint64_t *lstbits;         /* ... and as a bit set over the list */
	uint32_t clst, clstbits;
	uint32_t graph_gen;        /* tn_corr_set_graph calls: see tn__incident.agg_gen */

	uint32_t *dirty;
	uint32_t ndirty, cdirty;

	struct tn_change *chg;
	struct tn__change_off *chgo;
	uint32_t nchg, cchg, cchgo;
	struct tn__cbuf out;
	bool handed;
	bool text_uncached;        /* tests: format every revision afresh (tn__corr_text_cache) */

	uint32_t down_by_sector[TN_SECTOR__COUNT];

	struct tn_corr_stats st;
};

/* tn__corr_text_cache - whether revisions reuse the members' and at-risk
 * entries' text formatted for earlier ones (the default) or format all of it
 * afresh every time, as before the cache: the tests compare the two. */
void tn__corr_text_cache(struct tn_corr *c, bool on);

/* corr_json.c: serialise the current state of incident `i` as a revision. */
int tn__corr_emit(struct tn_corr *c, uint32_t i, enum tn_change_msg msg);
/* The incident's priority now (for the body and the change). */
int tn__corr_priority(const struct tn_corr *c, struct tn__incident *in);

/* Sectors whose failure endangers life directly (the priority's w_life). */
static inline bool tn__life_sector(int s)
{
	return s == TN_SECTOR_HEALTH || s == TN_SECTOR_EMERGENCY_SERVICES;
}

/* asset helpers shared with corr_json.c */
static inline uint32_t tn__num(const struct tn_corr *c, uint32_t key)
{
	return key < c->cnum ? c->num_of_key[key] : TN__NONE;
}

#endif
