/* watch.c - the model behind `tocsin watch` (watch.h): pure, bounded, distrustful. */
#include "watch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cap.h"
#include "tocsin/error.h"
#include "wire.h"

#define UNPACK_DEPTH 8

/* ---- reading untrusted MessagePack ---------------------------------------- */

static bool key_is(const msgpack_object *k, const char *name)
{
	size_t n = strlen(name);

	return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
	       memcmp(k->via.str.ptr, name, n) == 0;
}

static const msgpack_object *get(const msgpack_object *map, const char *name)
{
	if (!map || map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < map->via.map.size; i++)
		if (key_is(&map->via.map.ptr[i].key, name))
			return &map->via.map.ptr[i].val;
	return NULL;
}

/* A string's bytes into buf: printable ASCII kept, anything else '?'; cut to fit. */
static void copy_bytes(char *buf, size_t len, const char *s, size_t n)
{
	size_t k;

	if (!len)
		return;
	for (k = 0; k < n && k + 1 < len; k++)
		buf[k] = s[k] >= 0x20 && s[k] < 0x7f ? s[k] : '?';
	buf[k] = '\0';
}

static void copy_str(char *buf, size_t len, const msgpack_object *o)
{
	if (o && o->type == MSGPACK_OBJECT_STR)
		copy_bytes(buf, len, o->via.str.ptr, o->via.str.size);
	else if (len)
		buf[0] = '\0';
}

/* An integer in [lo, hi], or def. */
static int64_t get_int(const msgpack_object *o, int64_t lo, int64_t hi, int64_t def)
{
	if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= (uint64_t)INT64_MAX &&
	    (int64_t)o->via.u64 >= lo && (int64_t)o->via.u64 <= hi)
		return (int64_t)o->via.u64;
	if (o && o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER && o->via.i64 >= lo && o->via.i64 <= hi)
		return o->via.i64;
	return def;
}

static int64_t get_time(const msgpack_object *o)
{
	char s[48];
	int64_t us;

	if (!o || o->type != MSGPACK_OBJECT_STR || o->via.str.size >= sizeof s)
		return TN__WATCH_NO_TIME;
	memcpy(s, o->via.str.ptr, o->via.str.size);
	s[o->via.str.size] = '\0';
	return tn__cap_parse_time(s, &us) == 0 ? us : TN__WATCH_NO_TIME;
}

int tn__watch_unpack(const void *buf, size_t len, size_t max_objects, msgpack_zone *zone,
		     msgpack_object *out)
{
	size_t off = 0;

	if (tn_wire_scan(buf, len, UNPACK_DEPTH, max_objects, NULL, 0) != 0)
		return TN_EDECODE;
	switch (msgpack_unpack(buf, len, &off, zone, out)) {
	case MSGPACK_UNPACK_SUCCESS:
		return off == len ? 0 : TN_EDECODE;
	case MSGPACK_UNPACK_NOMEM_ERROR:
		return TN_ENOMEM;
	default:
		return TN_EDECODE;
	}
}

/* ---- time ---------------------------------------------------------------- */

void tn__watch_dur(char *buf, size_t len, int64_t us)
{
	int64_t s;

	if (us == TN__WATCH_NO_TIME) {
		snprintf(buf, len, "?");
		return;
	}
	s = (us < 0 ? -(us / 1000000) : us / 1000000);
	if (s < 60)
		snprintf(buf, len, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(buf, len, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, len, "%lldh%02lldm", (long long)(s / 3600), (long long)(s / 60 % 60));
	else
		snprintf(buf, len, "%lldd%02lldh", (long long)(s / 86400), (long long)(s / 3600 % 24));
}

void tn__watch_countdown(char *buf, size_t len, int64_t eta_us, int64_t latest_us,
			 int64_t now_us)
{
	char d[32];

	if (eta_us == TN__WATCH_NO_TIME) {
		snprintf(buf, len, "?");
	} else if (now_us < eta_us) {
		tn__watch_dur(d, sizeof d, eta_us - now_us);
		snprintf(buf, len, "in %s", d);
	} else if (latest_us != TN__WATCH_NO_TIME && now_us <= latest_us) {
		tn__watch_dur(d, sizeof d, latest_us - now_us);
		snprintf(buf, len, "due (<= %s)", d);
	} else {
		tn__watch_dur(d, sizeof d, now_us - (latest_us != TN__WATCH_NO_TIME ? latest_us
										: eta_us));
		snprintf(buf, len, "overdue %s", d);
	}
}

int tn__watch_risk_class(const struct tn__watch_risk *r, int64_t now_us)
{
	if (r->eta_us == TN__WATCH_NO_TIME)
		return 2;
	if (now_us < r->eta_us)
		return 1;
	return r->latest_us != TN__WATCH_NO_TIME && now_us <= r->latest_us ? 0 : 2;
}

/* ---- one revision into an incident --------------------------------------- */

static void inc_clear(struct tn__watch_inc *in)
{
	free(in->node);
	free(in->order);
	free(in->risk);
	in->node = NULL;
	in->order = NULL;
	in->risk = NULL;
	in->n_node = in->n_risk = 0;
}

static int find_node(const struct tn__watch_inc *in, const char *asset, size_t n)
{
	for (uint32_t i = 0; i < in->n_node; i++)
		if (strlen(in->node[i].asset) == n && memcmp(in->node[i].asset, asset, n) == 0)
			return (int)i;
	return -1;
}

/* The explain entry of member `asset`: its path (text, and the nearest member before
 * it on the path: the tree's parent), window and rule. */
static void node_explain(struct tn__watch_inc *in, struct tn__watch_node *nd,
			 const msgpack_object *explain)
{
	const msgpack_object *e = NULL, *path, *win;

	nd->parent = -1;
	nd->lo_us = nd->hi_us = TN__WATCH_NO_TIME;
	for (uint32_t i = 0; explain && explain->type == MSGPACK_OBJECT_ARRAY &&
			     i < explain->via.array.size; i++) {
		char a[TN__WATCH_STR];

		copy_str(a, sizeof a, get(&explain->via.array.ptr[i], "asset"));
		if (strcmp(a, nd->asset) == 0) {
			e = &explain->via.array.ptr[i];
			break;
		}
	}
	if (!e)
		return;
	copy_str(nd->rule, sizeof nd->rule, get(e, "rule"));
	win = get(e, "window");
	if (win && win->type == MSGPACK_OBJECT_ARRAY && win->via.array.size == 2) {
		nd->lo_us = get_time(&win->via.array.ptr[0]);
		nd->hi_us = get_time(&win->via.array.ptr[1]);
	}
	path = get(e, "path");
	if (!path || path->type != MSGPACK_OBJECT_ARRAY)
		return;
	size_t off = 0;
	for (uint32_t k = 0; k < path->via.array.size; k++) {
		char a[TN__WATCH_STR];

		copy_str(a, sizeof a, &path->via.array.ptr[k]);
		if (off + 1 < sizeof nd->path) {
			int w = snprintf(nd->path + off, sizeof nd->path - off, "%s%s",
					 k ? " > " : "", a[0] ? a : "?");
			off += w > 0 ? (size_t)w : 0;
		}
	}
	if (off >= sizeof nd->path && sizeof nd->path > 4)
		memcpy(nd->path + sizeof nd->path - 4, "...", 4);
	/* the parent: the nearest earlier element of the path that is a member */
	for (uint32_t k = path->via.array.size; k-- > 1;) {
		const msgpack_object *p = &path->via.array.ptr[k - 1];
		int j;

		if (p->type != MSGPACK_OBJECT_STR)
			continue;
		j = find_node(in, p->via.str.ptr, p->via.str.size);
		if (j >= 0 && &in->node[j] != nd) {
			nd->parent = j;
			return;
		}
	}
}

/* Depth-first order of the tree, the root member left out (it is the root line);
 * whatever a hostile body made unreachable (a cycle) goes last, at depth 1, so
 * that every member is shown once. */
static void tree_order(struct tn__watch_inc *in)
{
	uint32_t n = 0, top = in->n_node, i, *stack = in->order; /* a stack from the end */
	uint8_t seen[TN__WATCH_MAX_NODES] = {0};

	in->root_node = -1;
	for (i = 0; i < in->n_node; i++)
		if (in->node[i].is_root) {
			in->node[i].parent = -1;
			in->node[i].depth = 0;
			in->root_node = (int)i;
			seen[i] = 1;
		}
	/* a child of the root member hangs under the root line */
	for (i = 0; i < in->n_node; i++)
		if (in->root_node >= 0 && in->node[i].parent == in->root_node)
			in->node[i].parent = -1;
	for (int pass = 0; pass < 2; pass++) {
		for (i = 0; i < in->n_node; i++) {
			if (seen[i] || (pass == 0 && in->node[i].parent != -1))
				continue;
			in->node[i].parent = -1;
			seen[i] = 1;
			stack[--top] = i;
			/* pop and emit, pushing the children: an emitted slot never
			 * overlaps the stack (emitted + stacked <= n_node) */
			while (top < in->n_node) {
				uint32_t v = stack[top++];
				struct tn__watch_node *nd = &in->node[v];

				nd->depth = nd->parent < 0 ? 1 : in->node[nd->parent].depth + 1;
				in->order[n++] = v;
				for (uint32_t c = in->n_node; c-- > 0;)
					if (!seen[c] && in->node[c].parent == (int)v) {
						seen[c] = 1;
						stack[--top] = c;
					}
			}
		}
	}
	in->n_order = n;
}

static int risk_cmp(const void *x, const void *y)
{
	const struct tn__watch_risk *a = x, *b = y;

	if (a->pending != b->pending)
		return a->pending ? -1 : 1;
	if (a->eta_us != b->eta_us)
		return a->eta_us < b->eta_us ? -1 : 1;
	return strcmp(a->asset, b->asset);
}

/* Fill `in` from a body; its id, rev and seq are set by the caller. */
static int inc_fill(struct tn__watch *w, struct tn__watch_inc *in, const msgpack_object *b)
{
	const msgpack_object *root = get(b, "root"), *aff = get(b, "affected"),
			     *risk = get(b, "at_risk"), *sec = get(b, "sectors"), *conf;
	uint32_t n;

	in->priority = (int)get_int(get(b, "priority"), 1, 5, 0);
	copy_str(in->msg, sizeof in->msg, get(b, "msg"));
	copy_str(in->title, sizeof in->title, get(b, "title"));
	copy_str(in->cause, sizeof in->cause, get(b, "cause"));
	conf = get(b, "confidence");
	in->confidence = -1;
	if (conf && conf->type == MSGPACK_OBJECT_FLOAT64 && conf->via.f64 >= 0 &&
	    conf->via.f64 <= 1)
		in->confidence = conf->via.f64;
	copy_str(in->root, sizeof in->root, get(root, "asset"));
	copy_str(in->root_sector, sizeof in->root_sector, get(root, "sector"));
	copy_str(in->merged_into, sizeof in->merged_into, get(b, "merged_into"));
	in->opened_us = get_time(get(b, "opened"));
	in->updated_us = get_time(get(b, "updated"));
	in->sectors[0] = '\0';
	for (uint32_t i = 0, off = 0; sec && sec->type == MSGPACK_OBJECT_ARRAY &&
				      i < sec->via.array.size && off + 1 < sizeof in->sectors; i++) {
		char s[TN__WATCH_WORD];
		int k;

		copy_str(s, sizeof s, &sec->via.array.ptr[i]);
		k = snprintf(in->sectors + off, sizeof in->sectors - off, "%s%s", i ? "," : "",
			     s[0] ? s : "?");
		off += k > 0 ? (uint32_t)k : 0;
	}

	n = aff && aff->type == MSGPACK_OBJECT_ARRAY ? aff->via.array.size : 0;
	in->n_node_total = n;
	if (n > TN__WATCH_MAX_NODES) {
		w->st.truncated += n - TN__WATCH_MAX_NODES;
		n = TN__WATCH_MAX_NODES;
	}
	if (n) {
		in->node = calloc(n, sizeof *in->node);
		in->order = calloc(n, sizeof *in->order);
		if (!in->node || !in->order)
			return TN_ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct tn__watch_node *nd = &in->node[in->n_node];
		const msgpack_object *m = &aff->via.array.ptr[i];

		copy_str(nd->asset, sizeof nd->asset, get(m, "asset"));
		if (!nd->asset[0] || find_node(in, nd->asset, strlen(nd->asset)) >= 0) {
			in->n_node_total--; /* no id, or twice: shown once */
			continue;
		}
		copy_str(nd->sector, sizeof nd->sector, get(m, "sector"));
		copy_str(nd->state, sizeof nd->state, get(m, "state"));
		nd->t_us = get_time(get(m, "time"));
		nd->is_root = strcmp(nd->asset, in->root) == 0;
		in->n_node++;
	}
	for (uint32_t i = 0; i < in->n_node; i++)
		node_explain(in, &in->node[i], get(b, "explain"));
	tree_order(in);

	n = risk && risk->type == MSGPACK_OBJECT_ARRAY ? risk->via.array.size : 0;
	in->n_risk_total = n;
	if (n > TN__WATCH_MAX_RISKS) {
		w->st.truncated += n - TN__WATCH_MAX_RISKS;
		n = TN__WATCH_MAX_RISKS;
	}
	if (n && !(in->risk = calloc(n, sizeof *in->risk)))
		return TN_ENOMEM;
	in->n_pending = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct tn__watch_risk *r = &in->risk[i];
		const msgpack_object *m = &risk->via.array.ptr[i], *oc = get(m, "outcome");

		copy_str(r->asset, sizeof r->asset, get(m, "asset"));
		copy_str(r->sector, sizeof r->sector, get(m, "sector"));
		copy_str(r->via, sizeof r->via, get(m, "via"));
		r->eta_us = get_time(get(m, "eta"));
		r->latest_us = get_time(get(m, "eta_latest"));
		r->pending = !oc || key_is(oc, "pending"); /* no outcome: treat as pending */
		in->n_pending += r->pending;
	}
	in->n_risk = n;
	if (n)
		qsort(in->risk, n, sizeof *in->risk, risk_cmp);
	/* the server lists the first few: the count says how many there are */
	in->n_pending_all = (uint32_t)get_int(get(get(b, "at_risk_count"), "pending"), 0,
					      UINT32_MAX, 0);
	if (in->n_pending_all < in->n_pending)
		in->n_pending_all = in->n_pending;
	return 0;
}

/* ---- the table ------------------------------------------------------------- */

struct tn__watch_inc *tn__watch_find(const struct tn__watch *w, const char *id)
{
	for (size_t i = 0; i < w->n; i++)
		if (strcmp(w->inc[i]->id, id) == 0)
			return w->inc[i];
	return NULL;
}

void tn__watch_init(struct tn__watch *w)
{
	memset(w, 0, sizeof *w);
}

static void inc_free(struct tn__watch_inc *in)
{
	if (in) {
		inc_clear(in);
		free(in);
	}
}

static void table_clear(struct tn__watch *w)
{
	for (size_t i = 0; i < w->n; i++)
		inc_free(w->inc[i]);
	w->n = 0;
}

void tn__watch_free(struct tn__watch *w)
{
	table_clear(w);
	free(w->inc);
	w->inc = NULL;
	w->cap = 0;
}

static int table_add(struct tn__watch *w, struct tn__watch_inc *in)
{
	if (w->n == TN__WATCH_MAX_INC) {
		w->st.full++;
		return TN_EFULL;
	}
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		struct tn__watch_inc **p = realloc(w->inc, cap * sizeof *p);

		if (!p)
			return TN_ENOMEM;
		w->inc = p;
		w->cap = cap;
	}
	w->inc[w->n++] = in;
	return 0;
}

enum tn__watch_seq tn__watch_seq(const struct tn__watch *w, const msgpack_object *body,
				 uint64_t *seq)
{
	*seq = (uint64_t)get_int(get(body, "seq"), 1, INT64_MAX, 0);
	if (!*seq)
		return TN__WATCH_BAD;
	if (*seq <= w->last_seq)
		return TN__WATCH_DUP;
	return *seq == w->last_seq + 1 ? TN__WATCH_NEXT : TN__WATCH_GAP;
}

int tn__watch_apply(struct tn__watch *w, const msgpack_object *body, int64_t now_us)
{
	struct tn__watch_inc *in, *old;
	char id[TN__WATCH_ID];
	uint64_t seq = (uint64_t)get_int(get(body, "seq"), 1, INT64_MAX, 0);
	uint32_t rev = (uint32_t)get_int(get(body, "rev"), 1, UINT32_MAX, 0);
	int rc;

	copy_str(id, sizeof id, get(body, "incident"));
	if (seq > w->last_seq)
		w->last_seq = seq;
	if (!id[0] || !rev) {
		w->st.bad++;
		return TN_ESCHEMA;
	}
	old = tn__watch_find(w, id);
	if (old && old->rev >= rev) {
		w->st.stale++;
		return 0;
	}
	if (!(in = calloc(1, sizeof *in)))
		return TN_ENOMEM;
	memcpy(in->id, id, sizeof id);
	in->rev = rev;
	in->seq = seq;
	if ((rc = inc_fill(w, in, body)) != 0) {
		inc_free(in);
		return rc;
	}
	in->closed = strcmp(in->msg, "resolved") == 0 || strcmp(in->msg, "merged") == 0;
	in->closed_at_us = now_us;
	if (old) {
		in->acked = old->acked;
		in->esc_level = old->esc_level;
		/* keep the slot: the order changes at the next tn__watch_expire */
		for (size_t i = 0; i < w->n; i++)
			if (w->inc[i] == old)
				w->inc[i] = in;
		inc_free(old);
	} else if (in->closed) {
		inc_free(in); /* never seen open: nothing to fade */
		w->st.applied++;
		return 0;
	} else if ((rc = table_add(w, in)) != 0) {
		inc_free(in);
		return rc;
	}
	w->st.applied++;
	return 0;
}

static bool reply_ok(const msgpack_object *r, const char *op)
{
	const msgpack_object *ok = get(r, "ok"), *o = get(r, "op");

	return ok && ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean && o && key_is(o, op);
}

/* For each pair of a map of incident -> integer: fn(incident, value). */
static void each_count(struct tn__watch *w, const msgpack_object *map,
		       void (*fn)(struct tn__watch_inc *, uint32_t))
{
	for (uint32_t i = 0; map && map->type == MSGPACK_OBJECT_MAP && i < map->via.map.size; i++) {
		char id[TN__WATCH_ID];
		struct tn__watch_inc *in;

		copy_str(id, sizeof id, &map->via.map.ptr[i].key);
		if (id[0] && (in = tn__watch_find(w, id)))
			fn(in, (uint32_t)get_int(&map->via.map.ptr[i].val, 0, UINT32_MAX, 0));
	}
}

static void set_acked(struct tn__watch_inc *in, uint32_t v)
{
	in->acked = v;
}

static void set_level(struct tn__watch_inc *in, uint32_t v)
{
	in->esc_level = v;
}

int tn__watch_snapshot(struct tn__watch *w, const msgpack_object *reply, int64_t now_us)
{
	const msgpack_object *incs = get(reply, "incidents");
	int64_t last = get_int(get(reply, "last"), 0, INT64_MAX, -1);
	int rc;

	if (!reply_ok(reply, "snapshot") || last < 0 || !incs || incs->type != MSGPACK_OBJECT_ARRAY)
		return TN_ESCHEMA;
	table_clear(w);
	for (uint32_t i = 0; i < incs->via.array.size; i++)
		if ((rc = tn__watch_apply(w, &incs->via.array.ptr[i], now_us)) == TN_ENOMEM)
			return rc;
	each_count(w, get(reply, "acked"), set_acked);
	each_count(w, get(reply, "escalated"), set_level);
	w->last_seq = (uint64_t)last;
	tn__watch_expire(w, now_us);
	return 0;
}

/*
 * Skip the seqs after w->last_seq that the `lost` ranges cover, up to `upto`
 * (exclusive; UINT64_MAX: as far as they go), counting them in *n. Each step
 * passes one range, so a hostile list costs its length squared at most.
 */
static void lost_skip(struct tn__watch *w, const msgpack_object *lost, uint64_t upto,
		      uint64_t *n)
{
	bool moved = true;

	while (moved && w->last_seq + 1 < upto) {
		moved = false;
		for (uint32_t k = 0; lost && lost->type == MSGPACK_OBJECT_ARRAY &&
				     k < lost->via.array.size; k++) {
			const msgpack_object *r = &lost->via.array.ptr[k];
			uint64_t lo, hi;

			if (r->type != MSGPACK_OBJECT_ARRAY || r->via.array.size != 2)
				continue;
			lo = (uint64_t)get_int(&r->via.array.ptr[0], 1, INT64_MAX, 0);
			hi = (uint64_t)get_int(&r->via.array.ptr[1], 1, INT64_MAX, 0);
			if (!lo || lo > w->last_seq + 1 || hi < w->last_seq + 1)
				continue;
			if (hi >= upto)
				hi = upto - 1;
			*n += hi - w->last_seq;
			w->last_seq = hi;
			moved = true;
			break;
		}
	}
}

int tn__watch_since(struct tn__watch *w, const msgpack_object *reply, int64_t now_us,
		    struct tn__watch_since *out)
{
	const msgpack_object *alerts = get(reply, "alerts"), *lost = get(reply, "lost"),
			     *more = get(reply, "more");
	int rc;

	memset(out, 0, sizeof *out);
	out->gapless = true;
	if (!reply_ok(reply, "since") || !alerts || alerts->type != MSGPACK_OBJECT_ARRAY)
		return TN_ESCHEMA;
	out->server_last = (uint64_t)get_int(get(reply, "last"), 0, INT64_MAX, 0);
	out->more = more && more->type == MSGPACK_OBJECT_BOOLEAN && more->via.boolean;
	for (uint32_t i = 0; i < alerts->via.array.size; i++) {
		const msgpack_object *a = &alerts->via.array.ptr[i];
		uint64_t seq = (uint64_t)get_int(get(a, "seq"), 1, INT64_MAX, 0);

		if (!seq || seq <= w->last_seq)
			continue;
		/* a jump is accounted for only by lost ranges covering it */
		lost_skip(w, lost, seq, &out->lost);
		if (seq != w->last_seq + 1)
			out->gapless = false;
		if ((rc = tn__watch_apply(w, a, now_us)) == TN_ENOMEM)
			return rc;
		if (!out->first)
			out->first = seq;
		out->last_applied = seq;
		out->n++;
	}
	/* the newest seqs may be lost too: no alert after them carries the jump */
	lost_skip(w, lost, UINT64_MAX, &out->lost);
	if (!out->more && w->last_seq < out->server_last)
		out->gapless = false;
	return 0;
}

int tn__watch_escalation(struct tn__watch *w, const msgpack_object *body, int64_t now_us)
{
	char id[TN__WATCH_ID];
	const msgpack_object *alert = get(body, "alert");
	struct tn__watch_inc *in;
	int64_t level = get_int(get(body, "level"), 0, UINT32_MAX, -1);

	copy_str(id, sizeof id, get(body, "incident"));
	if (!id[0] || level < 0)
		return TN_ESCHEMA;
	if (alert) {
		/* the latest as sent: its seq is not ours to advance */
		uint64_t last = w->last_seq;

		tn__watch_apply(w, alert, now_us);
		w->last_seq = last;
	}
	if ((in = tn__watch_find(w, id)))
		in->esc_level = (unsigned)level;
	return 0;
}

void tn__watch_acked(struct tn__watch *w, const char *id, uint32_t rev)
{
	struct tn__watch_inc *in = tn__watch_find(w, id);

	if (in && rev > in->acked) {
		in->acked = rev;
		in->esc_level = 0;
	}
}

static int inc_cmp(const void *x, const void *y)
{
	const struct tn__watch_inc *a = *(struct tn__watch_inc *const *)x,
				   *b = *(struct tn__watch_inc *const *)y;
	int pa = a->priority ? a->priority : 9, pb = b->priority ? b->priority : 9;

	if (a->closed != b->closed)
		return a->closed ? 1 : -1;
	if (pa != pb)
		return pa < pb ? -1 : 1;
	if (a->opened_us != b->opened_us)
		return a->opened_us < b->opened_us ? -1 : 1;
	return strcmp(a->id, b->id);
}

void tn__watch_expire(struct tn__watch *w, int64_t now_us)
{
	size_t k = 0;

	for (size_t i = 0; i < w->n; i++) {
		if (w->inc[i]->closed && now_us - w->inc[i]->closed_at_us >= TN__WATCH_FADE_US)
			inc_free(w->inc[i]);
		else
			w->inc[k++] = w->inc[i];
	}
	w->n = k;
	if (w->n > 1)
		qsort(w->inc, w->n, sizeof *w->inc, inc_cmp);
}

bool tn__watch_reply(const msgpack_object *reply, char *code, size_t code_len, char *msg,
		     size_t msg_len)
{
	const msgpack_object *ok = get(reply, "ok");

	if (ok && ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean)
		return true;
	copy_str(code, code_len, get(reply, "code"));
	copy_str(msg, msg_len, get(reply, "msg"));
	if (code_len && !code[0])
		snprintf(code, code_len, "?");
	if (msg_len && !msg[0])
		snprintf(msg, msg_len, "?");
	return false;
}
