/*
 * watch.h - the model behind `tocsin watch` (docs/control-rooms.md "tocsin
 * watch"): the open incidents built from alert revisions, each with its
 * cascade as a tree (from the revision's explain paths), its at-risk assets,
 * acknowledgement and escalation state; and the seq bookkeeping that tells
 * the console when to ask `since`.
 *
 * Pure: no I/O, no clock (the caller passes `now`), no terminal. Bodies come
 * from the network, so nothing here trusts them: every field is optional
 * (missing or ill-typed: empty string, priority 0, time INT64_MIN, which the
 * screen shows as "?"), strings are copied into fixed buffers with anything
 * outside printable ASCII replaced by '?', and every list is capped, the
 * entries left out counted.
 *
 * Thread contract: a model belongs to one thread.
 */
#ifndef TN_WATCH_H
#define TN_WATCH_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TN__WATCH_ID    48   /* bytes of an incident id, with its NUL */
#define TN__WATCH_STR   96   /* an asset id, a source, with its NUL */
#define TN__WATCH_WORD  24   /* a sector, a state, a msg, a rule */
#define TN__WATCH_TITLE 160
#define TN__WATCH_SECTORS 160 /* the sectors, comma-separated */
#define TN__WATCH_PATH  320  /* an explain path, "A > B > C" */
#define TN__WATCH_MAX_INC   10000 /* incidents tracked */
#define TN__WATCH_MAX_NODES 256   /* members kept per incident */
#define TN__WATCH_MAX_RISKS 64    /* at-risk assets kept per incident */
#define TN__WATCH_FADE_US   (5 * 1000000LL) /* a resolved/merged one stays this long */
#define TN__WATCH_NO_TIME   INT64_MIN

/* One member of an incident: a node of its cascade tree. */
struct tn__watch_node {
	char asset[TN__WATCH_STR];
	char sector[TN__WATCH_WORD];
	char state[TN__WATCH_WORD];
	char rule[TN__WATCH_WORD];
	char path[TN__WATCH_PATH]; /* root to member, " > " between */
	int64_t t_us, lo_us, hi_us; /* failure time, explain window */
	int parent;                 /* node index; -1: under the root line */
	int depth;                  /* 1: a child of the root line; 0: the root member */
	bool is_root;               /* the member that is the root itself */
};

struct tn__watch_risk {
	char asset[TN__WATCH_STR];
	char sector[TN__WATCH_WORD];
	char via[TN__WATCH_STR];
	int64_t eta_us, latest_us;
	bool pending;
};

struct tn__watch_inc {
	char id[TN__WATCH_ID];
	uint64_t seq;
	uint32_t rev;
	int priority; /* 1..5; 0 unknown */
	char msg[TN__WATCH_WORD];
	char title[TN__WATCH_TITLE];
	char cause[TN__WATCH_WORD];
	double confidence; /* < 0: unknown */
	char root[TN__WATCH_STR];
	char root_sector[TN__WATCH_WORD];
	char sectors[TN__WATCH_SECTORS];
	char merged_into[TN__WATCH_ID];
	int64_t opened_us, updated_us;
	struct tn__watch_node *node; /* n_node, in body order */
	uint32_t n_node, n_node_total;
	uint32_t *order;             /* n_order node indices: the tree, depth first */
	uint32_t n_order;            /* n_node, less the root member */
	int root_node;               /* the member that is the root; -1: none (inferred) */
	struct tn__watch_risk *risk; /* n_risk, pending first, soonest first */
	uint32_t n_risk, n_risk_total, n_pending;
	uint32_t n_pending_all; /* pending in all (`at_risk_count`), >= n_pending */
	uint32_t acked;       /* highest rev acknowledged; 0: none */
	unsigned esc_level;   /* escalation level; 0: none */
	bool closed;          /* resolved or merged: fading out */
	int64_t closed_at_us; /* the caller's clock */
};

struct tn__watch_stats {
	uint64_t applied;   /* revisions taken */
	uint64_t stale;     /* revisions older than the one held */
	uint64_t bad;       /* bodies without an incident id or rev */
	uint64_t truncated; /* members or at-risk entries left out */
	uint64_t full;      /* incidents refused: TN__WATCH_MAX_INC held */
};

struct tn__watch {
	struct tn__watch_inc **inc; /* n, sorted by tn__watch_sort */
	size_t n, cap;
	uint64_t last_seq; /* the last seq processed */
	struct tn__watch_stats st;
};

/* What tn__watch_seq says of a live alert's seq. */
enum tn__watch_seq {
	TN__WATCH_NEXT, /* last + 1: apply it */
	TN__WATCH_DUP,  /* already had: drop it */
	TN__WATCH_GAP,  /* some missing: ask since(last) */
	TN__WATCH_BAD   /* no seq: drop it */
};

/* The outcome of a `since` reply. */
struct tn__watch_since {
	uint32_t n;        /* alerts applied (new ones) */
	uint64_t first, last_applied; /* their seqs (0: none) */
	uint64_t lost;     /* seqs the server says will never exist */
	uint64_t server_last;
	bool more;         /* ask again from w->last_seq */
	bool gapless;      /* every seq from the old last + 1 on came, or was lost */
};

/* tn__watch_init - an empty model. Never fails. Caller frees with tn__watch_free. */
void tn__watch_init(struct tn__watch *w);
void tn__watch_free(struct tn__watch *w);

/*
 * tn__watch_unpack - one MessagePack value of `len` bytes (borrowed) into
 * *out, its objects in `zone` (owned by the caller, which clears it). The
 * bytes are pre-scanned (depth 8, at most max_objects objects) before
 * msgpack-c allocates anything. Returns 0, TN_EDECODE (not exactly one value
 * within the limits) or TN_ENOMEM. Pure.
 */
int tn__watch_unpack(const void *buf, size_t len, size_t max_objects, msgpack_zone *zone,
		     msgpack_object *out);

/* tn__watch_seq - classify a live alert body by its seq (sets *seq, 0 if none). Pure. */
enum tn__watch_seq tn__watch_seq(const struct tn__watch *w, const msgpack_object *body,
				 uint64_t *seq);

/*
 * tn__watch_apply - take one alert body (borrowed): a newer rev replaces the
 * incident's; resolved/merged close it (it fades after TN__WATCH_FADE_US of
 * `now_us`). Raises last_seq to the body's seq. Returns 0, TN_ESCHEMA (no
 * incident id, no rev: counted in st.bad), TN_EFULL (too many incidents:
 * counted) or TN_ENOMEM.
 */
int tn__watch_apply(struct tn__watch *w, const msgpack_object *body, int64_t now_us);

/*
 * tn__watch_snapshot - replace the whole table by a `snapshot` reply
 * (borrowed): its incidents, `acked` and `escalated`; last_seq = its `last`.
 * Returns 0, TN_ESCHEMA (not an ok snapshot reply: the table is unchanged)
 * or TN_ENOMEM.
 */
int tn__watch_snapshot(struct tn__watch *w, const msgpack_object *reply, int64_t now_us);

/*
 * tn__watch_since - apply a `since` reply's alerts after last_seq, in order,
 * skipping the `lost` ranges; *out says what came. Returns 0, TN_ESCHEMA
 * (not an ok since reply) or TN_ENOMEM.
 */
int tn__watch_since(struct tn__watch *w, const msgpack_object *reply, int64_t now_us,
		    struct tn__watch_since *out);

/*
 * tn__watch_escalation - an escalation body (borrowed): sets the incident's
 * level, and takes its `alert` if newer. Returns 0 or TN_ESCHEMA.
 */
int tn__watch_escalation(struct tn__watch *w, const msgpack_object *body, int64_t now_us);

/* tn__watch_acked - an ack of `rev` succeeded: acknowledged, escalation stopped. */
void tn__watch_acked(struct tn__watch *w, const char *id, uint32_t rev);

/* tn__watch_find - the incident `id` (borrowed), or NULL. */
struct tn__watch_inc *tn__watch_find(const struct tn__watch *w, const char *id);

/*
 * tn__watch_expire - drop the closed incidents whose fade is over, then sort:
 * open ones first, by priority (unknown last), then oldest first, then id.
 */
void tn__watch_expire(struct tn__watch *w, int64_t now_us);

/*
 * tn__watch_reply - read a control reply's head: whether `ok`, and else its
 * code and msg (copied, sanitized, bounded; "?" when missing). Pure.
 */
bool tn__watch_reply(const msgpack_object *reply, char *code, size_t code_len, char *msg,
		     size_t msg_len);

/* tn__watch_dur - "42s", "4m05s", "2h07m", "3d04h" for |us|; "?" for NO_TIME. */
void tn__watch_dur(char *buf, size_t len, int64_t us);

/*
 * tn__watch_countdown - a pending at-risk asset's countdown at now_us: "in
 * 4m05s" before its eta, "due (<= 2m00s)" between eta and eta_latest,
 * "overdue 30s" after; "?" without an eta.
 */
void tn__watch_countdown(char *buf, size_t len, int64_t eta_us, int64_t latest_us,
			 int64_t now_us);

/*
 * tn__watch_risk_class - the order a screen lists a pending at-risk asset in at
 * now_us: 0 due (between its eta and eta_latest), 1 ahead (before its eta), 2
 * overdue (past eta_latest, not settled yet) or without an eta. Pure.
 */
int tn__watch_risk_class(const struct tn__watch_risk *r, int64_t now_us);

#endif
