/*
 * reply.c - decode a server reply defensively (design §3.1, style rule 6).
 *
 *   {"ok": [id...], "dup": [id...],
 *    "err": [{"i": index|nil, "id": id|nil, "code": "E_...", "msg": "..."}...]}
 *
 * The reply comes off the network: it is pre-scanned with the same bounded
 * scanner the server uses on frames (declared counts checked against the
 * bytes left, depth and object count bounded) before msgpack-c allocates
 * anything, and its whole shape is checked before any of it is acted upon,
 * so a malformed reply changes nothing: it is counted and ignored. Unknown
 * keys are ignored (a later server may say more); absent keys mean empty.
 */
#include "adapter_int.h"

#include <stdio.h>
#include <string.h>

#include "wire.h"

/*
 * A reply names each event of a frame at most once or twice (an id in err
 * may also carry i): 1000 err maps of 4 pairs are ~9000 objects.
 */
#define REPLY_MAX_OBJECTS 32768

static bool key_is(const msgpack_object *k, const char *name)
{
	size_t n = strlen(name);

	return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
	       memcmp(k->via.str.ptr, name, n) == 0;
}

/* An array of strings (or nil / absent: empty). */
static int str_array(const msgpack_object *v, const msgpack_object **out, size_t *n,
		     const char *name, char *why, size_t whylen)
{
	if (v->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (v->type != MSGPACK_OBJECT_ARRAY) {
		snprintf(why, whylen, "%s: expected an array", name);
		return TN_EDECODE;
	}
	for (uint32_t k = 0; k < v->via.array.size; k++)
		if (v->via.array.ptr[k].type != MSGPACK_OBJECT_STR) {
			snprintf(why, whylen, "%s[%u]: expected a string", name, k);
			return TN_EDECODE;
		}
	*out = v->via.array.ptr;
	*n = v->via.array.size;
	return 0;
}

static int err_entry(const msgpack_object *e, uint32_t k, char *why, size_t whylen)
{
	bool has_code = false;

	if (e->type != MSGPACK_OBJECT_MAP) {
		snprintf(why, whylen, "err[%u]: expected a map", k);
		return TN_EDECODE;
	}
	for (uint32_t j = 0; j < e->via.map.size; j++) {
		const msgpack_object *key = &e->via.map.ptr[j].key;
		const msgpack_object *val = &e->via.map.ptr[j].val;

		if (key_is(key, "i")) {
			if (val->type != MSGPACK_OBJECT_NIL &&
			    val->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
				snprintf(why, whylen, "err[%u].i: expected an index or nil", k);
				return TN_EDECODE;
			}
		} else if (key_is(key, "id") || key_is(key, "msg")) {
			if (val->type != MSGPACK_OBJECT_NIL && val->type != MSGPACK_OBJECT_STR) {
				snprintf(why, whylen, "err[%u]: id and msg must be strings or nil",
					 k);
				return TN_EDECODE;
			}
		} else if (key_is(key, "code")) {
			if (val->type != MSGPACK_OBJECT_STR || val->via.str.size == 0) {
				snprintf(why, whylen, "err[%u].code: expected a string", k);
				return TN_EDECODE;
			}
			has_code = true;
		}
	}
	if (!has_code) {
		snprintf(why, whylen, "err[%u]: no code", k);
		return TN_EDECODE;
	}
	return 0;
}

int tn__reply_parse(struct tn__reply *r, const void *buf, size_t len, char *why, size_t whylen)
{
	const msgpack_object *root;
	size_t off = 0;
	int rc;

	memset(r, 0, sizeof *r);
	msgpack_unpacked_init(&r->u);
	why[0] = '\0';
	if (tn_wire_scan(buf, len, TN_WIRE_MAX_DEPTH, REPLY_MAX_OBJECTS, why, whylen) != 0)
		return TN_EDECODE;
	if (msgpack_unpack_next(&r->u, buf, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len) {
		snprintf(why, whylen, "not one MessagePack object");
		return TN_EDECODE;
	}
	root = &r->u.data;
	if (root->type != MSGPACK_OBJECT_MAP) {
		snprintf(why, whylen, "expected a map");
		return TN_EDECODE;
	}
	for (uint32_t j = 0; j < root->via.map.size; j++) {
		const msgpack_object *key = &root->via.map.ptr[j].key;
		const msgpack_object *val = &root->via.map.ptr[j].val;

		if (key_is(key, "ok")) {
			rc = str_array(val, &r->ok, &r->n_ok, "ok", why, whylen);
		} else if (key_is(key, "dup")) {
			rc = str_array(val, &r->dup, &r->n_dup, "dup", why, whylen);
		} else if (key_is(key, "err")) {
			rc = 0;
			if (val->type == MSGPACK_OBJECT_ARRAY) {
				for (uint32_t k = 0; k < val->via.array.size && !rc; k++)
					rc = err_entry(&val->via.array.ptr[k], k, why, whylen);
				r->err = val->via.array.ptr;
				r->n_err = val->via.array.size;
			} else if (val->type != MSGPACK_OBJECT_NIL) {
				snprintf(why, whylen, "err: expected an array");
				rc = TN_EDECODE;
			}
		} else {
			rc = 0;
		}
		if (rc)
			return rc;
	}
	return 0;
}

void tn__reply_err_at(const struct tn__reply *r, size_t k, struct tn__reply_err *out)
{
	const msgpack_object *e = &r->err[k];

	memset(out, 0, sizeof *out);
	for (uint32_t j = 0; j < e->via.map.size; j++) {
		const msgpack_object *key = &e->via.map.ptr[j].key;
		const msgpack_object *val = &e->via.map.ptr[j].val;

		if (key_is(key, "i") && val->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
			out->has_i = true;
			out->i = val->via.u64;
		} else if (key_is(key, "id") && val->type == MSGPACK_OBJECT_STR) {
			out->id = val->via.str.ptr;
			out->id_len = val->via.str.size;
		} else if (key_is(key, "code") && val->type == MSGPACK_OBJECT_STR) {
			out->code = val->via.str.ptr;
			out->code_len = val->via.str.size;
		} else if (key_is(key, "msg") && val->type == MSGPACK_OBJECT_STR) {
			out->msg = val->via.str.ptr;
			out->msg_len = val->via.str.size;
		}
	}
}

void tn__reply_done(struct tn__reply *r)
{
	msgpack_unpacked_destroy(&r->u);
}
