/*
 * alerts_redact.c - an alert's body for a console of lower clearance, and
 * the set of official-sensitive asset ids it is judged by (alerts_int.h;
 * docs/control-rooms.md, "Need to know").
 *
 * Both redactions keep only the keys they know (a key added to the body
 * later is left out of the lower streams until it is listed here): what is
 * not understood is not passed on. Within what is kept, a value of a shape
 * the body never has is dropped rather than copied.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts_int.h"
#include "tocsin/error.h"

/* ---- the official-sensitive ids ------------------------------------------- */

static int cmp_id(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

int tn__sensset_from_graph(const struct tn_graph *g, struct tn__sensset **out)
{
	size_t n = 0, bytes = 0, total = tn_graph_size(g);

	*out = NULL;
	for (size_t i = 0; i < total; i++) {
		const struct tn_asset *as = tn_graph_asset(g, (uint32_t)i);
		if (as && as->sensitivity == TN_SENS_OFFICIAL_SENSITIVE) {
			n++;
			bytes += strlen(as->id) + 1;
		}
	}
	struct tn__sensset *s = calloc(1, sizeof *s);
	if (!s || !(s->ids = calloc(n ? n : 1, sizeof *s->ids)) ||
	    !(s->text = malloc(bytes ? bytes : 1))) {
		tn__sensset_free(s);
		return TN_ENOMEM;
	}
	char *p = s->text;
	for (size_t i = 0; i < total; i++) {
		const struct tn_asset *as = tn_graph_asset(g, (uint32_t)i);
		if (as && as->sensitivity == TN_SENS_OFFICIAL_SENSITIVE) {
			size_t len = strlen(as->id) + 1;
			memcpy(p, as->id, len);
			s->ids[s->n++] = p;
			p += len;
		}
	}
	qsort(s->ids, s->n, sizeof *s->ids, cmp_id);
	s->refs = 1;
	*out = s;
	return 0;
}

/* strcmp's order for `len` bytes that are not NUL-terminated against id. */
static int cmp_len(const char *s, size_t len, const char *id)
{
	size_t idlen = strlen(id);
	int c = memcmp(s, id, len < idlen ? len : idlen);
	if (c)
		return c;
	return len < idlen ? -1 : len > idlen;
}

bool tn__sensset_has(const struct tn__sensset *s, const char *id, size_t len)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp_len(id, len, s->ids[mid]);
		if (c == 0)
			return true;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return false;
}

void tn__sensset_free(struct tn__sensset *s)
{
	if (!s)
		return;
	free(s->ids);
	free(s->text);
	free(s);
}

/* ---- reading the body ------------------------------------------------------ */

static bool is(const msgpack_object *k, const char *s)
{
	size_t n = strlen(s);
	return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
	       memcmp(k->via.str.ptr, s, n) == 0;
}

static const msgpack_object *get(const msgpack_object *map, const char *key)
{
	if (map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < map->via.map.size; i++)
		if (is(&map->via.map.ptr[i].key, key))
			return &map->via.map.ptr[i].val;
	return NULL;
}

static bool in_list(const msgpack_object *k, const char *const *list)
{
	for (; *list; list++)
		if (is(k, *list))
			return true;
	return false;
}

/* Whether an asset id (a string) may be named in a dependency explanation
 * for an official console: not official-sensitive. Without a set (the
 * registry not loaded yet) nothing may: every asset might be. */
static bool explainable(const msgpack_object *id, const struct tn__sensset *sens)
{
	return sens && id && id->type == MSGPACK_OBJECT_STR &&
	       !tn__sensset_has(sens, id->via.str.ptr, id->via.str.size);
}

static void pack_str(msgpack_packer *pk, const char *s, size_t n)
{
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static void pack_key(msgpack_packer *pk, const char *s)
{
	pack_str(pk, s, strlen(s));
}

/* ---- official: no dependency explanation naming an official-sensitive asset -- */

static const char *const OFFICIAL_KEYS[] = {
	"seq",     "incident", "rev",     "msg",        "status",        "priority", "title",
	"cause",   "confidence", "root",  "sectors",    "affected",      "at_risk",  "at_risk_count",
	"area",    "opened",   "updated", "explain",    "merged_into",   NULL};
static const char *const EXPLAIN_KEYS[] = {"asset", "path", "window", "rule", NULL};
static const char *const AT_RISK_KEYS[] = {"asset",      "sector", "eta", "eta_latest",
					   "via",        "outcome", NULL};

/* An explain entry an official console may have: its member and every asset
 * on its path explainable. */
static bool explain_ok(const msgpack_object *e, const struct tn__sensset *sens)
{
	const msgpack_object *path = get(e, "path");
	if (!explainable(get(e, "asset"), sens) || !path || path->type != MSGPACK_OBJECT_ARRAY)
		return false;
	for (uint32_t i = 0; i < path->via.array.size; i++)
		if (!explainable(&path->via.array.ptr[i], sens))
			return false;
	return true;
}

/* Copy the keys of map `m` that are in `keys`, except `skip` (NULL: none). */
static void pack_map_keys(msgpack_packer *pk, const msgpack_object *m, const char *const *keys,
			  const char *skip)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < m->via.map.size; i++)
		n += in_list(&m->via.map.ptr[i].key, keys) && !(skip && is(&m->via.map.ptr[i].key, skip));
	msgpack_pack_map(pk, n);
	for (uint32_t i = 0; i < m->via.map.size; i++) {
		const msgpack_object_kv *kv = &m->via.map.ptr[i];
		if (in_list(&kv->key, keys) && !(skip && is(&kv->key, skip))) {
			msgpack_pack_object(pk, kv->key);
			msgpack_pack_object(pk, kv->val);
		}
	}
}

static void pack_official_value(msgpack_packer *pk, const msgpack_object_kv *kv,
				const struct tn__sensset *sens)
{
	const msgpack_object *v = &kv->val;
	if (is(&kv->key, "explain")) {
		uint32_t n = 0;
		if (v->type != MSGPACK_OBJECT_ARRAY) {
			msgpack_pack_array(pk, 0);
			return;
		}
		for (uint32_t i = 0; i < v->via.array.size; i++)
			n += explain_ok(&v->via.array.ptr[i], sens);
		msgpack_pack_array(pk, n);
		for (uint32_t i = 0; i < v->via.array.size; i++)
			if (explain_ok(&v->via.array.ptr[i], sens))
				pack_map_keys(pk, &v->via.array.ptr[i], EXPLAIN_KEYS, NULL);
	} else if (is(&kv->key, "at_risk")) {
		uint32_t n = 0;
		if (v->type != MSGPACK_OBJECT_ARRAY) {
			msgpack_pack_array(pk, 0);
			return;
		}
		for (uint32_t i = 0; i < v->via.array.size; i++)
			n += v->via.array.ptr[i].type == MSGPACK_OBJECT_MAP;
		msgpack_pack_array(pk, n);
		for (uint32_t i = 0; i < v->via.array.size; i++) {
			const msgpack_object *e = &v->via.array.ptr[i];
			if (e->type != MSGPACK_OBJECT_MAP)
				continue;
			/* `via`: the at-risk asset depends on it; a dependency of
			 * an official-sensitive asset, or on one, is not told */
			bool via_ok = explainable(get(e, "asset"), sens) &&
				      explainable(get(e, "via"), sens);
			pack_map_keys(pk, e, AT_RISK_KEYS, via_ok ? NULL : "via");
		}
	} else {
		msgpack_pack_object(pk, *v);
	}
}

static void redact_official(msgpack_packer *pk, const msgpack_object *body,
			    const struct tn__sensset *sens)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < body->via.map.size; i++)
		n += in_list(&body->via.map.ptr[i].key, OFFICIAL_KEYS);
	msgpack_pack_map(pk, n);
	for (uint32_t i = 0; i < body->via.map.size; i++) {
		const msgpack_object_kv *kv = &body->via.map.ptr[i];
		if (!in_list(&kv->key, OFFICIAL_KEYS))
			continue;
		msgpack_pack_object(pk, kv->key);
		pack_official_value(pk, kv, sens);
	}
}

/* ---- public: the area, never an asset -------------------------------------- */

/* The words of the body's vocabulary a public body may carry. */
static const char *const MSGS[] = {"alert", "update", "resolved", "merged", NULL};
static const char *const STATUSES[] = {"actual", "exercise", NULL};
static const char *const CAUSES[] = {"observed", "inferred", "co-located", "visibility", NULL};
static const char *const STATES[] = {"up", "degraded", "down", NULL};
static const char *const OUTCOMES[] = {"pending", "borne_out", "not_borne_out", NULL};
static const char *const COUNTS[] = {"pending", "borne_out", "not_borne_out", NULL};

static bool word_of(const msgpack_object *v, const char *const *words)
{
	return v && v->type == MSGPACK_OBJECT_STR && in_list(v, words);
}

static bool sector_ok(const msgpack_object *v)
{
	return v && v->type == MSGPACK_OBJECT_STR &&
	       tn_sector_parse(v->via.str.ptr, v->via.str.size) >= 0;
}

/* An event time as the body writes it: RFC 3339, digits and "-:.TZ+" only. */
static bool time_ok(const msgpack_object *v)
{
	if (!v || v->type != MSGPACK_OBJECT_STR || v->via.str.size == 0 || v->via.str.size > 40)
		return false;
	for (uint32_t i = 0; i < v->via.str.size; i++) {
		char c = v->via.str.ptr[i];
		if (!(c >= '0' && c <= '9') && !strchr("-:.TZ+", c))
			return false;
	}
	return true;
}

static bool incident_ok(const msgpack_object *v)
{
	if (!v || v->type != MSGPACK_OBJECT_STR || v->via.str.size != TN_INCIDENT_ID_LEN ||
	    memcmp(v->via.str.ptr, "INC-", 4) != 0)
		return false;
	for (uint32_t i = 4; i < v->via.str.size; i++)
		if (!strchr("0123456789abcdef", v->via.str.ptr[i]) || !v->via.str.ptr[i])
			return false;
	return true;
}

static bool area_ok(const msgpack_object *v)
{
	return v && v->type == MSGPACK_OBJECT_STR &&
	       (v->via.str.size == 0 || tn_asset_id_ok(v->via.str.ptr, v->via.str.size));
}

static bool number_ok(const msgpack_object *v)
{
	return v && (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
		     v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ||
		     v->type == MSGPACK_OBJECT_FLOAT64 || v->type == MSGPACK_OBJECT_FLOAT32);
}

/* Whether a top-level value may go to a public console as it is. */
static bool public_scalar_ok(const msgpack_object *k, const msgpack_object *v)
{
	if (is(k, "seq") || is(k, "rev") || is(k, "priority"))
		return v->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
	if (is(k, "confidence"))
		return number_ok(v);
	if (is(k, "incident") || is(k, "merged_into"))
		return incident_ok(v);
	if (is(k, "msg"))
		return word_of(v, MSGS);
	if (is(k, "status"))
		return word_of(v, STATUSES);
	if (is(k, "cause"))
		return word_of(v, CAUSES);
	if (is(k, "area"))
		return area_ok(v);
	if (is(k, "opened") || is(k, "updated"))
		return time_ok(v);
	return false;
}

/* One entry of affected or at_risk, or the root: the listed keys whose
 * values pass their checks (sector, state or outcome words, times). */
static void pack_public_entry(msgpack_packer *pk, const msgpack_object *e, const char *const *keys)
{
	uint32_t n = 0;
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1)
			msgpack_pack_map(pk, n);
		for (const char *const *k = keys; *k; k++) {
			const msgpack_object *v = get(e, *k);
			bool ok = strcmp(*k, "sector") == 0   ? sector_ok(v)
				  : strcmp(*k, "state") == 0  ? word_of(v, STATES)
				  : strcmp(*k, "outcome") == 0 ? word_of(v, OUTCOMES)
							      : time_ok(v);
			if (!ok)
				continue;
			if (pass == 0) {
				n++;
			} else {
				pack_key(pk, *k);
				msgpack_pack_object(pk, *v);
			}
		}
	}
}

static void pack_public_list(msgpack_packer *pk, const msgpack_object *v, const char *const *keys)
{
	uint32_t n = 0;
	if (!v || v->type != MSGPACK_OBJECT_ARRAY) {
		msgpack_pack_array(pk, 0);
		return;
	}
	for (uint32_t i = 0; i < v->via.array.size; i++)
		n += v->via.array.ptr[i].type == MSGPACK_OBJECT_MAP;
	msgpack_pack_array(pk, n);
	for (uint32_t i = 0; i < v->via.array.size; i++)
		if (v->via.array.ptr[i].type == MSGPACK_OBJECT_MAP)
			pack_public_entry(pk, &v->via.array.ptr[i], keys);
}

static bool starts(const msgpack_object *v, const char *prefix)
{
	size_t n = strlen(prefix);
	return v && v->type == MSGPACK_OBJECT_STR && v->via.str.size >= n &&
	       memcmp(v->via.str.ptr, prefix, n) == 0;
}

/*
 * The title without what names an asset or a source: the root's sector, the
 * area, and the counts. The engine's title (correlator/corr_json.c) ends in
 * "N affected in M sector(s)"; those numbers are taken from it when it does,
 * else from the lists.
 */
static void pack_public_title(msgpack_packer *pk, const msgpack_object *body)
{
	const msgpack_object *title = get(body, "title"), *root = get(body, "root");
	const msgpack_object *sector = root ? get(root, "sector") : NULL;
	const msgpack_object *area = get(body, "area"), *cause = get(body, "cause");
	const msgpack_object *aff = get(body, "affected"), *secs = get(body, "sectors");
	char where[96], sec[40], out[256], tail[64];
	unsigned naff = 0, nsec = 0;
	int n;

	for (uint32_t i = 0; aff && aff->type == MSGPACK_OBJECT_ARRAY && i < aff->via.array.size; i++)
		naff += aff->via.array.ptr[i].type == MSGPACK_OBJECT_MAP;
	for (uint32_t i = 0; secs && secs->type == MSGPACK_OBJECT_ARRAY && i < secs->via.array.size;
	     i++)
		nsec += sector_ok(&secs->via.array.ptr[i]);

	if (area_ok(area) && area->via.str.size)
		snprintf(where, sizeof where, "area %.*s", (int)area->via.str.size,
			 area->via.str.ptr);
	else
		snprintf(where, sizeof where, "an unknown area");
	if (sector_ok(sector))
		snprintf(sec, sizeof sec, "%.*s", (int)sector->via.str.size, sector->via.str.ptr);
	else
		snprintf(sec, sizeof sec, "unknown");
	if (title && title->type == MSGPACK_OBJECT_STR) {
		/* the counts after the title's last ": " */
		const char *t = title->via.str.ptr, *colon = NULL;
		for (uint32_t i = 0; i + 1 < title->via.str.size; i++)
			if (t[i] == ':' && t[i + 1] == ' ')
				colon = t + i + 2;
		size_t rest = colon ? (size_t)(t + title->via.str.size - colon) : 0;
		unsigned a, s;
		if (colon && rest < sizeof tail) {
			memcpy(tail, colon, rest);
			tail[rest] = 0;
			if (sscanf(tail, "%u affected in %u sector", &a, &s) == 2) {
				naff = a;
				nsec = s;
			}
		}
	}
	if (word_of(cause, (const char *const[]){"visibility", NULL}))
		n = snprintf(out, sizeof out, "loss of visibility: %s in %s", sec, where);
	else if (starts(title, "withdrawn:"))
		n = snprintf(out, sizeof out,
			     "withdrawn: inferred %s failure in %s contradicted by a report", sec,
			     where);
	else
		n = snprintf(out, sizeof out, "%s%s incident in %s: %u affected in %u sector%s",
			     starts(title, "suspected ") ? "suspected " : "", sec, where, naff, nsec,
			     nsec == 1 ? "" : "s");
	pack_str(pk, out, n < 0 ? 0 : (size_t)n < sizeof out ? (size_t)n : sizeof out - 1);
}

static const char *const ROOT_KEYS[] = {"sector", "time", NULL};
static const char *const AFFECTED_KEYS[] = {"sector", "state", "time", NULL};
static const char *const PUBLIC_AT_RISK_KEYS[] = {"sector", "eta", "eta_latest", "outcome", NULL};

static void pack_public_sectors(msgpack_packer *pk, const msgpack_object *v)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < v->via.array.size; i++)
		n += sector_ok(&v->via.array.ptr[i]);
	msgpack_pack_array(pk, n);
	for (uint32_t i = 0; i < v->via.array.size; i++)
		if (sector_ok(&v->via.array.ptr[i]))
			msgpack_pack_object(pk, v->via.array.ptr[i]);
}

static bool counts_ok(const msgpack_object *v)
{
	if (v->type != MSGPACK_OBJECT_MAP)
		return false;
	for (uint32_t i = 0; i < v->via.map.size; i++)
		if (!in_list(&v->via.map.ptr[i].key, COUNTS) ||
		    v->via.map.ptr[i].val.type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			return false;
	return true;
}

/* Which of the body's keys a public body has, and how each is written. */
enum pub_kind { PUB_NONE, PUB_SCALAR, PUB_TITLE, PUB_ROOT, PUB_AFFECTED, PUB_AT_RISK,
		PUB_SECTORS, PUB_COUNTS };

static enum pub_kind public_kind(const msgpack_object_kv *kv)
{
	const msgpack_object *k = &kv->key, *v = &kv->val;
	if (is(k, "title"))
		return PUB_TITLE;
	if (is(k, "root"))
		return v->type == MSGPACK_OBJECT_MAP ? PUB_ROOT : PUB_NONE;
	if (is(k, "affected"))
		return PUB_AFFECTED;
	if (is(k, "at_risk"))
		return PUB_AT_RISK;
	if (is(k, "sectors"))
		return v->type == MSGPACK_OBJECT_ARRAY ? PUB_SECTORS : PUB_NONE;
	if (is(k, "at_risk_count"))
		return counts_ok(v) ? PUB_COUNTS : PUB_NONE;
	return public_scalar_ok(k, v) ? PUB_SCALAR : PUB_NONE;
}

static void redact_public(msgpack_packer *pk, const msgpack_object *body)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < body->via.map.size; i++)
		n += public_kind(&body->via.map.ptr[i]) != PUB_NONE;
	msgpack_pack_map(pk, n);
	for (uint32_t i = 0; i < body->via.map.size; i++) {
		const msgpack_object_kv *kv = &body->via.map.ptr[i];
		enum pub_kind kind = public_kind(kv);
		if (kind == PUB_NONE)
			continue;
		msgpack_pack_object(pk, kv->key);
		switch (kind) {
		case PUB_SCALAR:
		case PUB_COUNTS:
			msgpack_pack_object(pk, kv->val);
			break;
		case PUB_TITLE:
			pack_public_title(pk, body);
			break;
		case PUB_ROOT:
			pack_public_entry(pk, &kv->val, ROOT_KEYS);
			break;
		case PUB_AFFECTED:
			pack_public_list(pk, &kv->val, AFFECTED_KEYS);
			break;
		case PUB_AT_RISK:
			pack_public_list(pk, &kv->val, PUBLIC_AT_RISK_KEYS);
			break;
		case PUB_SECTORS:
			pack_public_sectors(pk, &kv->val);
			break;
		case PUB_NONE:
			break;
		}
	}
}

/* The packer's writer: appends, and remembers a failure (msgpack-c's pack
 * calls do not stop at one). */
struct sink {
	struct tn__bytes *b;
	bool oom;
};

static int sink_write(void *data, const char *buf, size_t len)
{
	struct sink *s = data;
	if (s->oom || tn__bytes_write(s->b, buf, len) != 0) {
		s->oom = true;
		return -1;
	}
	return 0;
}

static int unpack_body(const unsigned char *body, size_t len, msgpack_zone *zone,
		       msgpack_object *o)
{
	size_t off = 0;

	msgpack_zone_clear(zone);
	if (msgpack_unpack((const char *)body, len, &off, zone, o) != MSGPACK_UNPACK_SUCCESS ||
	    off != len || o->type != MSGPACK_OBJECT_MAP)
		return TN_ECORRUPT;
	return 0;
}

static int pack_for(const msgpack_object *o, enum tn_sensitivity clearance,
		    const struct tn__sensset *sens, struct tn__bytes *out)
{
	msgpack_packer pk;
	struct sink sink = {out, false};

	out->len = 0;
	msgpack_packer_init(&pk, &sink, sink_write);
	if (clearance >= TN_SENS_OFFICIAL_SENSITIVE)
		msgpack_pack_object(&pk, *o);
	else if (clearance == TN_SENS_OFFICIAL)
		redact_official(&pk, o, sens);
	else
		redact_public(&pk, o);
	if (sink.oom) {
		out->len = 0;
		return TN_ENOMEM;
	}
	return 0;
}

int tn__alert_redact(const unsigned char *body, size_t len, enum tn_sensitivity clearance,
		     const struct tn__sensset *sens, msgpack_zone *zone, struct tn__bytes *out)
{
	msgpack_object o;
	int rc = unpack_body(body, len, zone, &o);
	return rc ? rc : pack_for(&o, clearance, sens, out);
}

int tn__alert_redact_lower(const unsigned char *body, size_t len, const struct tn__sensset *sens,
			   msgpack_zone *zone, struct tn__bytes *public_out,
			   struct tn__bytes *official_out)
{
	msgpack_object o;
	int rc = unpack_body(body, len, zone, &o);

	if (rc == 0)
		rc = pack_for(&o, TN_SENS_PUBLIC, NULL, public_out);
	if (rc == 0)
		rc = pack_for(&o, TN_SENS_OFFICIAL, sens, official_out);
	if (rc != 0)
		public_out->len = official_out->len = 0;
	return rc;
}
