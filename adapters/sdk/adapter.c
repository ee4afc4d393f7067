/*
 * adapter.c - the adapter's life cycle: options, keys, open, send, stats,
 * close. The I/O engine (poll, flush) is in poll.c.
 */
#include "adapter_int.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "keys.h"
#include "wire.h"

#define MAX_CAPACITY   10000000u /* events; far above any sane outbox, keeps sizes in range */
#define MAX_INFLIGHT   1024u
#define MAX_TIMEOUT_MS (24 * 3600 * 1000)

/* Socket settings: explicit, as design §7 asks of every socket. */
#define RECONNECT_IVL_MS          100
#define RECONNECT_IVL_MAX_MS      5000
#define HANDSHAKE_IVL_MS          10000
#define ZMTP_HEARTBEAT_IVL_MS     5000
#define ZMTP_HEARTBEAT_TIMEOUT_MS 15000

void tn__set_error(struct tn_adapter *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->last_error, sizeof a->last_error, fmt, ap);
	va_end(ap);
}

static int open_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int open_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

int64_t tn__now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tn_adapter_options_init(struct tn_adapter_options *o)
{
	memset(o, 0, sizeof *o);
	o->endpoint = TN_DEFAULT_INGEST;
	o->outbox_capacity = TN_ADAPTER_DEFAULT_OUTBOX;
	o->outbox_max_bytes = TN_ADAPTER_DEFAULT_OUTBOX_BYTES;
	o->max_batch = TN_ADAPTER_DEFAULT_BATCH;
	o->max_inflight = TN_ADAPTER_DEFAULT_INFLIGHT;
	o->retry_timeout_ms = TN_ADAPTER_DEFAULT_RETRY_MS;
	o->backoff_max_ms = TN_ADAPTER_DEFAULT_BACKOFF_MAX_MS;
}

int tn_adapter_options_keys(struct tn_adapter_options *o, const char *server_pub,
			    const char *key_base, char *err, size_t errlen)
{
	char path[PATH_MAX];
	char srv[TN_KEY_Z85_LEN + 1], pub[TN_KEY_Z85_LEN + 1], sec[TN_KEY_Z85_LEN + 1];
	char dummy[1];
	int rc;

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof dummy;
	}
	if (!o || !server_pub || !key_base)
		return open_fail(err, errlen, TN_EINVAL, "keys: NULL argument");
	rc = tn_key_read(server_pub, 0, srv, err, errlen);
	if (rc == 0) {
		if (snprintf(path, sizeof path, "%s.pub", key_base) >= (int)sizeof path)
			return open_fail(err, errlen, TN_EIO, "%s: path too long", key_base);
		rc = tn_key_read(path, 0, pub, err, errlen);
	}
	if (rc == 0) {
		snprintf(path, sizeof path, "%s.key", key_base);
		rc = tn_key_read(path, 1, sec, err, errlen);
	}
	if (rc == 0) {
		memcpy(o->server_key, srv, sizeof o->server_key);
		memcpy(o->public_key, pub, sizeof o->public_key);
		memcpy(o->secret_key, sec, sizeof o->secret_key);
	}
	explicit_bzero(sec, sizeof sec);
	return rc;
}

/* Plain text is tolerated only where nobody else can listen (design §3). */
static bool endpoint_loopback(const char *ep)
{
	const char *host, *colon, *semi;
	size_t len;

	if (strncmp(ep, "ipc://", 6) == 0 || strncmp(ep, "inproc://", 9) == 0)
		return true;
	if (strncmp(ep, "tcp://", 6) != 0)
		return false;
	host = ep + 6;
	semi = strchr(host, ';'); /* "tcp://source;host:port": the remote part counts */
	if (semi)
		host = semi + 1;
	colon = strrchr(host, ':');
	if (!colon)
		return false;
	len = (size_t)(colon - host);
	if (len == 5 && memcmp(host, "[::1]", 5) == 0)
		return true;
	if (len == 9 && memcmp(host, "localhost", 9) == 0)
		return true;
	if (len >= 5 && memcmp(host, "127.", 4) == 0) {
		for (size_t i = 4; i < len; i++)
			if (!((host[i] >= '0' && host[i] <= '9') || host[i] == '.'))
				return false;
		return true;
	}
	return false;
}

static int check_key(const char *name, const char *z85, char *err, size_t errlen)
{
	uint8_t raw[32];

	if (!z85[0])
		return open_fail(err, errlen, TN_ECONFIG,
				 "%s: required unless insecure (a Z85 CURVE key)", name);
	if (strnlen(z85, TN_ADAPTER_Z85_LEN + 1) != TN_ADAPTER_Z85_LEN || !zmq_z85_decode(raw, z85))
		return open_fail(err, errlen, TN_EKEY, "%s: expected 40 characters of Z85", name);
	explicit_bzero(raw, sizeof raw);
	return 0;
}

static int check_options(const struct tn_adapter_options *o, char *err, size_t errlen)
{
	const char *ep = o->endpoint ? o->endpoint : TN_DEFAULT_INGEST;
	int rc;

	if (o->outbox_capacity > MAX_CAPACITY)
		return open_fail(err, errlen, TN_EINVAL, "outbox_capacity: expected 1..%u, got %zu",
				 MAX_CAPACITY, o->outbox_capacity);
	if (o->max_batch > TN_WIRE_MAX_BATCH)
		return open_fail(err, errlen, TN_EINVAL, "max_batch: expected 1..%d, got %u",
				 TN_WIRE_MAX_BATCH, o->max_batch);
	if (o->max_inflight > MAX_INFLIGHT)
		return open_fail(err, errlen, TN_EINVAL, "max_inflight: expected 1..%u, got %u",
				 MAX_INFLIGHT, o->max_inflight);
	if (o->retry_timeout_ms < 0 || o->retry_timeout_ms > MAX_TIMEOUT_MS ||
	    o->backoff_max_ms < 0 || o->backoff_max_ms > MAX_TIMEOUT_MS || o->heartbeat_ms < 0 ||
	    o->heartbeat_ms > MAX_TIMEOUT_MS)
		return open_fail(err, errlen, TN_EINVAL,
				 "retry_timeout_ms, backoff_max_ms, heartbeat_ms: expected "
				 "0..%d",
				 MAX_TIMEOUT_MS);
	if (o->heartbeat_ms > 0) {
		size_t n =
		    o->heartbeat_source ? strnlen(o->heartbeat_source, TN_WIRE_MAX_SOURCE + 1) : 0;
		if (n == 0 || n > TN_WIRE_MAX_SOURCE || !tn__utf8_valid(o->heartbeat_source, n))
			return open_fail(err, errlen, TN_ECONFIG,
					 "heartbeat_source: required with heartbeat_ms, 1..%d "
					 "bytes of UTF-8",
					 TN_WIRE_MAX_SOURCE);
	}
	if (o->insecure) {
		if (!endpoint_loopback(ep))
			return open_fail(err, errlen, TN_ECONFIG,
					 "insecure: only for a loopback endpoint, not %s", ep);
		return 0;
	}
	if ((rc = check_key("server_key", o->server_key, err, errlen)) ||
	    (rc = check_key("public_key", o->public_key, err, errlen)) ||
	    (rc = check_key("secret_key", o->secret_key, err, errlen)))
		return rc;
	return 0;
}

static int set_int(void *sock, int opt, int v)
{
	return zmq_setsockopt(sock, opt, &v, sizeof v);
}

static int make_socket(struct tn_adapter *a, const struct tn_adapter_options *o, char *err,
		       size_t errlen)
{
	int64_t maxmsg = TN_ADAPTER_MAX_REPLY;
	char key[TN_ADAPTER_Z85_LEN + 1];
	int rc = 0;

	a->sock = zmq_socket(a->ctx, ZMQ_DEALER);
	if (!a->sock)
		return open_fail(err, errlen, TN_EZMQ, "zmq_socket: %s", zmq_strerror(errno));
	/*
	 * IMMEDIATE: queue only to a completed connection, so that while the
	 * server is away frames stay in our outbox (counted, bounded) instead of
	 * piling up as duplicates in a pipe, and sends report EAGAIN.
	 */
	if (set_int(a->sock, ZMQ_LINGER, 0) || set_int(a->sock, ZMQ_IMMEDIATE, 1) ||
	    zmq_setsockopt(a->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) ||
	    set_int(a->sock, ZMQ_RECONNECT_IVL, RECONNECT_IVL_MS) ||
	    set_int(a->sock, ZMQ_RECONNECT_IVL_MAX, RECONNECT_IVL_MAX_MS) ||
	    set_int(a->sock, ZMQ_HANDSHAKE_IVL, HANDSHAKE_IVL_MS) ||
	    set_int(a->sock, ZMQ_HEARTBEAT_IVL, ZMTP_HEARTBEAT_IVL_MS) ||
	    set_int(a->sock, ZMQ_HEARTBEAT_TIMEOUT, ZMTP_HEARTBEAT_TIMEOUT_MS))
		return open_fail(err, errlen, TN_EZMQ, "zmq_setsockopt: %s", zmq_strerror(errno));
	if (!o->insecure) {
		memcpy(key, o->server_key, sizeof key);
		rc |= zmq_setsockopt(a->sock, ZMQ_CURVE_SERVERKEY, key, sizeof key);
		memcpy(key, o->public_key, sizeof key);
		rc |= zmq_setsockopt(a->sock, ZMQ_CURVE_PUBLICKEY, key, sizeof key);
		memcpy(key, o->secret_key, sizeof key);
		rc |= zmq_setsockopt(a->sock, ZMQ_CURVE_SECRETKEY, key, sizeof key);
		explicit_bzero(key, sizeof key);
		if (rc)
			return open_fail(err, errlen, TN_EKEY, "curve keys refused: %s",
					 zmq_strerror(errno));
	}
	if (zmq_connect(a->sock, a->endpoint) != 0)
		return open_fail(err, errlen, TN_EZMQ, "connect %s: %s", a->endpoint,
				 zmq_strerror(errno));
	return 0;
}

int tn_adapter_open(const struct tn_adapter_options *opts, struct tn_adapter **out, char *err,
		    size_t errlen)
{
	struct tn_adapter *a;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!opts || !out)
		return open_fail(err, errlen, TN_EINVAL, "open: NULL argument");
	*out = NULL;
	if ((rc = check_options(opts, err, errlen)))
		return rc;
	a = calloc(1, sizeof *a);
	if (!a)
		return open_fail(err, errlen, TN_ENOMEM, "out of memory");
	a->capacity = opts->outbox_capacity ? opts->outbox_capacity : TN_ADAPTER_DEFAULT_OUTBOX;
	a->max_bytes =
	    opts->outbox_max_bytes ? opts->outbox_max_bytes : TN_ADAPTER_DEFAULT_OUTBOX_BYTES;
	a->max_batch = opts->max_batch ? opts->max_batch : TN_ADAPTER_DEFAULT_BATCH;
	a->max_inflight = opts->max_inflight ? opts->max_inflight : TN_ADAPTER_DEFAULT_INFLIGHT;
	a->retry_ms = opts->retry_timeout_ms ? opts->retry_timeout_ms : TN_ADAPTER_DEFAULT_RETRY_MS;
	a->backoff_max_ms =
	    opts->backoff_max_ms ? opts->backoff_max_ms : TN_ADAPTER_DEFAULT_BACKOFF_MAX_MS;
	a->heartbeat_ms = opts->heartbeat_ms;
	a->on_result = opts->on_result;
	a->ud = opts->ud;
	a->endpoint = strdup(opts->endpoint ? opts->endpoint : TN_DEFAULT_INGEST);
	a->hb_source = opts->heartbeat_ms > 0 ? strdup(opts->heartbeat_source) : NULL;
	a->rng = (uint64_t)tn_adapter_now_us() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)a;
	if (!a->rng)
		a->rng = 0x9e3779b97f4a7c15ull;
	a->next_hb = tn__now_ms(); /* the first heartbeat goes with the first poll */
	msgpack_sbuffer_init(&a->sbuf);
	if (!a->endpoint || (opts->heartbeat_ms > 0 && !a->hb_source) || tn__outbox_init(a) != 0) {
		rc = open_fail(err, errlen, TN_ENOMEM, "out of memory");
		goto fail;
	}
	if (opts->zmq_ctx) {
		a->ctx = opts->zmq_ctx;
	} else {
		a->ctx = zmq_ctx_new();
		a->own_ctx = true;
		if (!a->ctx) {
			rc =
			    open_fail(err, errlen, TN_EZMQ, "zmq_ctx_new: %s", zmq_strerror(errno));
			goto fail;
		}
	}
	if ((rc = make_socket(a, opts, err, errlen)))
		goto fail;
	if (opts->insecure)
		tn_log(TN_LOG_WARN, "adapter connecting without encryption", "endpoint=\"%s\"",
		       tn_logq(a->endpoint));
	*out = a;
	return 0;
fail:
	tn_adapter_close(a);
	return rc;
}

int tn__encode(struct tn_adapter *a, const struct tn_event *ev, char **buf, size_t *id_len,
	       size_t *enc_len)
{
	msgpack_packer pk;
	size_t n = strlen(ev->id);
	char *b;
	int rc;

	msgpack_sbuffer_clear(&a->sbuf);
	msgpack_packer_init(&pk, &a->sbuf, msgpack_sbuffer_write);
	if ((rc = tn_wire_pack_event(&pk, ev)) != 0)
		return rc;
	if (a->sbuf.size > TN_WIRE_MAX_FRAME - TN__FRAME_HEADROOM)
		return TN_ERANGE;
	b = malloc(n + 1 + a->sbuf.size);
	if (!b)
		return TN_ENOMEM;
	memcpy(b, ev->id, n + 1);
	memcpy(b + n + 1, a->sbuf.data, a->sbuf.size);
	*buf = b;
	*id_len = n;
	*enc_len = a->sbuf.size;
	return 0;
}

int tn_adapter_send(struct tn_adapter *a, const struct tn_event *ev)
{
	char msg[TN__LASTERR];
	size_t id_len, enc_len;
	char *buf;
	uint32_t s;
	int rc;

	if (!a)
		return TN_EINVAL;
	a->last_error[0] = '\0';
	rc = tn_adapter_validate(ev, msg, sizeof msg);
	if (rc) {
		a->st.invalid++;
		tn__set_error(a, "%s", msg);
		return rc;
	}
	if (a->free_head == TN__NONE) {
		a->st.full++;
		tn__set_error(a, "outbox full: %zu events waiting for a result", a->n_user);
		return TN_EFULL;
	}
	rc = tn__encode(a, ev, &buf, &id_len, &enc_len);
	if (rc == TN_ERANGE) {
		a->st.invalid++;
		tn__set_error(a, "event %s: encoded size over the frame limit of %d bytes", ev->id,
			      TN_WIRE_MAX_FRAME);
		return rc;
	}
	if (rc) {
		tn__set_error(a, "event %s: %s", ev->id, tn_strerror(rc));
		return rc;
	}
	if (a->user_bytes + enc_len > a->max_bytes) {
		free(buf);
		a->st.full++;
		tn__set_error(a, "outbox full: %zu bytes waiting for a result", a->user_bytes);
		return TN_EFULL;
	}
	s = tn__slot_alloc(a, false);
	tn__slot_queue(a, s, buf, id_len, enc_len);
	a->st.queued++;
	return 0;
}

void tn_adapter_stats(const struct tn_adapter *a, struct tn_adapter_stats *out)
{
	*out = a->st;
	out->outbox = a->n_user;
	out->outbox_bytes = a->user_bytes;
	out->inflight_frames = a->n_frames;
	out->backoff_ms = a->backoff_ms;
}

const char *tn_adapter_last_error(const struct tn_adapter *a)
{
	return a ? a->last_error : "adapter: NULL";
}

void tn_adapter_close(struct tn_adapter *a)
{
	if (!a)
		return;
	if (a->sock)
		zmq_close(a->sock);
	if (a->own_ctx && a->ctx)
		zmq_ctx_term(a->ctx);
	tn__outbox_free(a);
	msgpack_sbuffer_destroy(&a->sbuf);
	free(a->fbuf);
	free(a->endpoint);
	free(a->hb_source);
	free(a);
}
