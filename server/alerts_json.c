/* alerts_json.c - an alert's topic and MessagePack body from a CHANGE record (alerts_int.h). */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts_int.h"
#include "correlate.h"
#include "tocsin/error.h"

#define JSON_DEPTH_MAX 32

static void pack_str(msgpack_packer *pk, const char *s, size_t n)
{
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static int pack_value(msgpack_packer *pk, const json_t *v, int depth)
{
	const char *key;
	json_t *x;
	size_t i;

	if (depth > JSON_DEPTH_MAX)
		return TN_ECORRUPT;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		msgpack_pack_map(pk, json_object_size(v));
		json_object_foreach((json_t *)v, key, x) {
			pack_str(pk, key, strlen(key));
			if (pack_value(pk, x, depth + 1) != 0)
				return TN_ECORRUPT;
		}
		return 0;
	case JSON_ARRAY:
		msgpack_pack_array(pk, json_array_size(v));
		json_array_foreach(v, i, x)
			if (pack_value(pk, x, depth + 1) != 0)
				return TN_ECORRUPT;
		return 0;
	case JSON_STRING:
		pack_str(pk, json_string_value(v), json_string_length(v));
		return 0;
	case JSON_INTEGER:
		msgpack_pack_int64(pk, (int64_t)json_integer_value(v));
		return 0;
	case JSON_REAL:
		msgpack_pack_double(pk, json_real_value(v));
		return 0;
	case JSON_TRUE:
		msgpack_pack_true(pk);
		return 0;
	case JSON_FALSE:
		msgpack_pack_false(pk);
		return 0;
	case JSON_NULL:
		msgpack_pack_nil(pk);
		return 0;
	}
	return TN_ECORRUPT;
}

int tn__alert_pack_json(msgpack_packer *pk, const char *json, size_t len)
{
	json_error_t e;
	/* Keys in the order written: the body's canonical order (seq first). */
	json_t *v = json_loadb(json, len, JSON_PRESERVE_ORDER | JSON_DECODE_ANY, &e);
	if (!v)
		return TN_ECORRUPT;
	int rc = pack_value(pk, v, 0);
	json_decref(v);
	return rc;
}

static bool topic_text_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == '/' || s[i] == 0x7f)
			return false;
	return true;
}

/* Whether packed MessagePack begins with a map (fixmap, map 16, map 32). */
static bool is_map(const struct tn__bytes *b)
{
	unsigned char c = b->len ? (unsigned char)b->data[0] : 0;
	return (c >= 0x80 && c <= 0x8f) || c == 0xde || c == 0xdf;
}

int tn__alert_from_row(const char *stream, size_t stream_len, const char *msg, size_t msg_len,
		       int64_t priority, const char *area, size_t area_len, const char *json,
		       size_t json_len, uint64_t seq, struct tn__alert **out)
{
	char topic[TN__ALERT_TOPIC_MAX];
	struct tn__bytes body = {0};
	msgpack_packer pk;
	int n, rc;

	*out = NULL;
	if (!seq)
		return TN_ECORRUPT;
	if (priority < 1 || priority > 5 || !topic_text_ok(stream, stream_len) ||
	    !stream_len || !topic_text_ok(area, area_len))
		return TN_ECORRUPT;
	if (stream_len == 4 && memcmp(stream, "live", 4) == 0)
		n = snprintf(topic, sizeof topic, "live/P%d/%.*s", (int)priority,
			     area_len ? (int)area_len : 1, area_len ? area : "-");
	else
		n = snprintf(topic, sizeof topic, "drill/%.*s/P%d/%.*s", (int)stream_len, stream,
			     (int)priority, area_len ? (int)area_len : 1, area_len ? area : "-");
	if (n < 0 || (size_t)n >= sizeof topic)
		return TN_ECORRUPT;

	msgpack_packer_init(&pk, &body, tn__bytes_write);
	rc = tn__alert_pack_json(&pk, json, json_len);
	if (rc == 0 && !is_map(&body))
		rc = TN_ECORRUPT; /* JSON, but not an object */
	if (rc != 0) {
		free(body.data);
		return rc;
	}
	struct tn__alert *a = malloc(sizeof *a + (size_t)n + 1 + body.len);
	if (!a) {
		free(body.data);
		return TN_ENOMEM;
	}
	a->refs = 1;
	a->red[0] = a->red[1] = (struct tn__bytes){0};
	a->red_serial = 0;
	a->seq = seq;
	a->rev = 0;
	a->priority = (uint8_t)priority;
	a->open = (msg_len == 5 && memcmp(msg, "alert", 5) == 0) ||
		  (msg_len == 6 && memcmp(msg, "update", 6) == 0);
	a->incident[0] = 0;
	a->topic_len = (size_t)n;
	memcpy(a->data, topic, (size_t)n + 1);
	a->body = (unsigned char *)a->data + n + 1;
	a->body_len = body.len;
	memcpy(a->body, body.data, body.len);
	free(body.data);
	*out = a;
	return 0;
}

int tn__alert_from_change(const char *stream, size_t stream_len, const char *msg,
			  size_t msg_len, int64_t priority, const char *area, size_t area_len,
			  const char *json, size_t json_len, struct tn__alert **out)
{
	uint64_t seq;
	int rc = tn_correlate_body_seq(json, json_len, &seq);

	*out = NULL;
	if (rc != 0)
		return rc;
	return tn__alert_from_row(stream, stream_len, msg, msg_len, priority, area, area_len, json,
				  json_len, seq, out);
}

void tn__alert_unref(struct tn__alert *a)
{
	if (a && --a->refs == 0) {
		free(a->red[0].data);
		free(a->red[1].data);
		free(a);
	}
}

void tn__alerts_reply_head(msgpack_packer *pk, const struct tn__alerts_job *j, bool ok,
			   const char *op, unsigned extra_keys)
{
	msgpack_pack_map(pk, 1 + (op ? 1 : 0) + (j->id.len ? 1 : 0) + extra_keys);
	pack_str(pk, "ok", 2);
	if (ok)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
	if (op) {
		pack_str(pk, "op", 2);
		pack_str(pk, op, strlen(op));
	}
	if (j->id.len) {
		pack_str(pk, "id", 2);
		msgpack_pack_str_body(pk, j->id.data, j->id.len); /* raw: already packed */
	}
}

void tn__alerts_reply_error(struct tn__alerts_job *j, const char *op, int code, const char *msg)
{
	msgpack_packer pk;
	const char *w = tn_wire_code(code);

	j->reply.len = 0;
	msgpack_packer_init(&pk, &j->reply, tn__bytes_write);
	tn__alerts_reply_head(&pk, j, false, op, 2);
	if (!w)
		w = "E_UNAVAILABLE";
	pack_str(&pk, "code", 4);
	pack_str(&pk, w, strlen(w));
	pack_str(&pk, "msg", 3);
	pack_str(&pk, msg, strlen(msg));
}
