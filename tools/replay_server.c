/*
 * replay_server.c - `tocsin replay FILE --server ENDPOINT --drill NAME`: a
 * drill run by a running tocsind beside its live work (replay_server.h;
 * design §6; docs/drills.md "Drills on a server").
 *
 * The planner's tool is a control-channel client: drill_start, then the
 * events in batches (at most EVENTS_PER_REQ, and under REQ_BYTES, the
 * server's request bound being 64 KiB), a few requests in flight at once
 * (WINDOW), ticks in event time when paced, then drill_stop with the
 * input's last time (the same end an offline replay gives the engine), and
 * then `drill_status` until the drill has ended and `since` on the drill's
 * stream until every revision is read back. The server's engine is the
 * same library as the offline replay's: the same input and registry give
 * the same incidents.
 */
#include "replay_server.h"

#include <inttypes.h>
#include <jansson.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "keys.h"
#include "recording.h"
#include "tocsin/error.h"
#include "wire.h"

#define WINDOW 8                /* requests in flight */
#define EVENTS_PER_REQ 200
#define REQ_BYTES (48u << 10)   /* a request's events, packed; the server takes 64 KiB */
#define REPLY_TIMEOUT_MS 15000
#define END_TIMEOUT_S 600       /* for the drill to end and its revisions to be stored */
#define TICK_NS INT64_C(100000000)

struct client {
	const struct tn__replay_server_opts *o;
	void *ctx, *ctl;
	uint64_t next_id;
	unsigned in_flight;
	size_t accepted, refused;
	uint64_t incidents, revisions; /* so far, as the server's replies say */
	bool tty;
	bool quiet_unavailable; /* an E_UNAVAILABLE reply is expected: not said */
	msgpack_sbuffer req;
	msgpack_zone zone;
	char *resp; /* the last reply's bytes: its unpacked strings point into them */
	size_t resp_cap;
};

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static const msgpack_object *get(const msgpack_object *m, const char *key)
{
	if (m->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < m->via.map.size; i++) {
		const msgpack_object *k = &m->via.map.ptr[i].key;
		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
		    memcmp(k->via.str.ptr, key, k->via.str.size) == 0)
			return &m->via.map.ptr[i].val;
	}
	return NULL;
}

static uint64_t get_u64(const msgpack_object *m, const char *key)
{
	const msgpack_object *v = get(m, key);
	return v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? v->via.u64 : 0;
}

/* A request's head: {"op", "id", "drill", + extra}. */
static void head(struct client *c, msgpack_packer *pk, const char *op, unsigned extra)
{
	msgpack_sbuffer_clear(&c->req);
	msgpack_packer_init(pk, &c->req, msgpack_sbuffer_write);
	msgpack_pack_map(pk, 3 + extra);
	pack_str(pk, "op");
	pack_str(pk, op);
	pack_str(pk, "id");
	msgpack_pack_uint64(pk, ++c->next_id);
	pack_str(pk, "drill");
	pack_str(pk, c->o->drill);
}

static int send_req(struct client *c)
{
	if (zmq_send(c->ctl, c->req.data, c->req.size, 0) < 0) {
		fprintf(stderr, "tocsin: replay: cannot send to %s: %s\n", c->o->server,
			zmq_strerror(errno));
		return TN_EZMQ;
	}
	c->in_flight++;
	return 0;
}

/* The next reply into *out (unpacked in c->zone): 0, or an error said. */
static int recv_reply(struct client *c, msgpack_object *out)
{
	zmq_pollitem_t it = {c->ctl, 0, ZMQ_POLLIN, 0};
	zmq_msg_t m;
	size_t off = 0;

	if (zmq_poll(&it, 1, REPLY_TIMEOUT_MS) <= 0) {
		fprintf(stderr,
			"tocsin: replay: no reply from %s within %d s (is the server running, and "
			"is this key a planner's: tocsin planner add?)\n",
			c->o->server, REPLY_TIMEOUT_MS / 1000);
		return TN_ETIMEDOUT;
	}
	zmq_msg_init(&m);
	if (zmq_msg_recv(&m, c->ctl, 0) < 0) {
		zmq_msg_close(&m);
		return TN_EZMQ;
	}
	c->in_flight--;
	size_t len = zmq_msg_size(&m);
	if (len > c->resp_cap) {
		char *b = realloc(c->resp, len);
		if (!b) {
			zmq_msg_close(&m);
			return TN_ENOMEM;
		}
		c->resp = b;
		c->resp_cap = len;
	}
	memcpy(c->resp, zmq_msg_data(&m), len);
	zmq_msg_close(&m);
	msgpack_zone_clear(&c->zone);
	int ok = msgpack_unpack(c->resp, len, &off, &c->zone, out) == MSGPACK_UNPACK_SUCCESS;
	if (!ok || out->type != MSGPACK_OBJECT_MAP) {
		fprintf(stderr, "tocsin: replay: the server's reply is not a MessagePack map\n");
		return TN_ECORRUPT;
	}
	const msgpack_object *okv = get(out, "ok");
	if (okv && okv->type == MSGPACK_OBJECT_BOOLEAN && okv->via.boolean)
		return 0;
	const msgpack_object *code = get(out, "code"), *msg = get(out, "msg");
	if (c->quiet_unavailable && code && code->type == MSGPACK_OBJECT_STR &&
	    code->via.str.size == 13 && memcmp(code->via.str.ptr, "E_UNAVAILABLE", 13) == 0)
		return TN_EUNAVAILABLE;
	fprintf(stderr, "tocsin: replay: drill \"%s\": %.*s: %.*s\n", c->o->drill,
		code && code->type == MSGPACK_OBJECT_STR ? (int)code->via.str.size : 1,
		code && code->type == MSGPACK_OBJECT_STR ? code->via.str.ptr : "?",
		msg && msg->type == MSGPACK_OBJECT_STR ? (int)msg->via.str.size : 0,
		msg && msg->type == MSGPACK_OBJECT_STR ? msg->via.str.ptr : "");
	return TN_EUNAVAILABLE;
}

/* One request and its reply (nothing else in flight). */
static int call(struct client *c, msgpack_object *out)
{
	int rc = send_req(c);
	return rc ? rc : recv_reply(c, out);
}

/* An events reply: count, and say which were refused (the rest goes on). */
static int take_events_reply(struct client *c)
{
	msgpack_object r;
	int rc = recv_reply(c, &r);
	if (rc)
		return rc;
	c->accepted += get_u64(&r, "accepted");
	c->incidents = get_u64(&r, "incidents");
	c->revisions = get_u64(&r, "revisions");
	const msgpack_object *err = get(&r, "err");
	for (uint32_t i = 0; err && err->type == MSGPACK_OBJECT_ARRAY && i < err->via.array.size;
	     i++) {
		const msgpack_object *m = get(&err->via.array.ptr[i], "msg");
		c->refused++;
		if (c->refused <= 20)
			fprintf(stderr, "%stocsin: replay: an event was refused: %.*s\n",
				c->tty ? "\r\033[K" : "",
				m && m->type == MSGPACK_OBJECT_STR ? (int)m->via.str.size : 0,
				m && m->type == MSGPACK_OBJECT_STR ? m->via.str.ptr : "");
	}
	return 0;
}

/* Send a request of events [from, to) and an optional tick, keeping WINDOW in flight. */
static int send_events(struct client *c, const struct tn__scenario *sc, size_t from, size_t to,
		       bool tick, int64_t tick_us)
{
	msgpack_packer pk;
	int rc;

	while (c->in_flight >= WINDOW)
		if ((rc = take_events_reply(c)) != 0)
			return rc;
	head(c, &pk, "drill_events", tick ? 2 : 1);
	pack_str(&pk, "events");
	msgpack_pack_array(&pk, to - from);
	for (size_t i = from; i < to; i++)
		if (tn_wire_pack_event(&pk, &sc->ev[i]) != 0)
			return TN_ENOMEM;
	if (tick) {
		pack_str(&pk, "tick");
		msgpack_pack_int64(&pk, tick_us);
	}
	return send_req(c);
}

static void progress(struct client *c, const struct tn__scenario *sc, size_t done,
		     int64_t t0_ns, int64_t event_us, bool last)
{
	static int64_t shown_ns;
	int64_t now = mono_ns();
	if (!c->tty || (!last && now - shown_ns < 200000000))
		return;
	shown_ns = now;
	char when[40] = "-";
	time_t s = (time_t)(event_us / 1000000);
	struct tm tm;
	if (event_us && gmtime_r(&s, &tm))
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	double secs = (double)(now - t0_ns) / 1e9;
	fprintf(stderr,
		"\r\033[Kdrill %s: %zu/%zu events, event time %s, %.0f events/s, %" PRIu64
		" incidents, %" PRIu64 " revisions so far%s",
		c->o->drill, done, sc->n, when, secs > 0 ? (double)done / secs : 0.0, c->incidents,
		c->revisions, last ? "\n" : "");
}

/* Wait, ticking the drill's engine in event time, until `until_us` is due at this speed. */
static int pace(struct client *c, int64_t start_ns, int64_t first_us, int64_t until_us,
		int64_t *ticked_us)
{
	int64_t due = start_ns + (int64_t)((double)(until_us - first_us) * 1000.0 / c->o->speed);
	for (;;) {
		int64_t now = mono_ns();
		if (now >= due)
			return 0;
		int64_t nap = due - now < TICK_NS ? due - now : TICK_NS;
		struct timespec ts = {nap / 1000000000, nap % 1000000000};
		nanosleep(&ts, NULL);
		int64_t sim_us =
			first_us + (int64_t)((double)(mono_ns() - start_ns) * c->o->speed / 1000.0);
		if (sim_us > until_us)
			sim_us = until_us; /* never past an event to come */
		if (sim_us > *ticked_us) {
			int rc = send_events(c, NULL, 0, 0, true, sim_us);
			if (rc)
				return rc;
			*ticked_us = sim_us;
		}
	}
}

static json_t *to_json(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return json_null();
	case MSGPACK_OBJECT_BOOLEAN:
		return json_boolean(o->via.boolean);
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return json_integer((json_int_t)o->via.u64);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return json_integer((json_int_t)o->via.i64);
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return json_real(o->via.f64);
	case MSGPACK_OBJECT_STR:
		return json_stringn(o->via.str.ptr, o->via.str.size);
	case MSGPACK_OBJECT_ARRAY: {
		json_t *a = json_array();
		for (uint32_t i = 0; a && i < o->via.array.size; i++)
			json_array_append_new(a, to_json(&o->via.array.ptr[i]));
		return a;
	}
	case MSGPACK_OBJECT_MAP: {
		json_t *m = json_object();
		for (uint32_t i = 0; m && i < o->via.map.size; i++) {
			const msgpack_object *k = &o->via.map.ptr[i].key;
			if (k->type != MSGPACK_OBJECT_STR)
				continue;
			char key[128];
			snprintf(key, sizeof key, "%.*s", (int)k->via.str.size, k->via.str.ptr);
			json_object_set_new(m, key, to_json(&o->via.map.ptr[i].val));
		}
		return m;
	}
	default:
		return json_null();
	}
}

/* Read the drill's revisions back (`since` on its stream) and print them. */
static int read_back(struct client *c, uint64_t last)
{
	msgpack_packer pk;
	msgpack_object r;
	uint64_t seq = 0, incidents_seen = 0;
	json_t *ids = json_object();
	int64_t deadline = mono_ns() + (int64_t)END_TIMEOUT_S * 1000000000;
	int rc = 0;

	while (seq < last) {
		msgpack_sbuffer_clear(&c->req);
		msgpack_packer_init(&pk, &c->req, msgpack_sbuffer_write);
		msgpack_pack_map(&pk, 4);
		pack_str(&pk, "op");
		pack_str(&pk, "since");
		pack_str(&pk, "id");
		msgpack_pack_uint64(&pk, ++c->next_id);
		pack_str(&pk, "stream");
		pack_str(&pk, c->o->drill);
		pack_str(&pk, "seq");
		msgpack_pack_uint64(&pk, seq);
		/* the store may be behind: PostgreSQL has them a little later */
		c->quiet_unavailable = true;
		rc = call(c, &r);
		c->quiet_unavailable = false;
		if (rc != 0 && rc != TN_EUNAVAILABLE)
			break;
		const msgpack_object *al = rc ? NULL : get(&r, "alerts");
		uint32_t n = al && al->type == MSGPACK_OBJECT_ARRAY ? al->via.array.size : 0;
		rc = 0;
		for (uint32_t i = 0; i < n; i++) {
			const msgpack_object *b = &al->via.array.ptr[i];
			uint64_t s = get_u64(b, "seq");
			if (s != seq + 1) {
				fprintf(stderr, "tocsin: replay: seq %" PRIu64 " after %" PRIu64
						" in the drill's stream\n", s, seq);
				rc = TN_ECORRUPT;
				goto out;
			}
			seq = s;
			const msgpack_object *inc = get(b, "incident");
			if (inc && inc->type == MSGPACK_OBJECT_STR) {
				char id[128];
				snprintf(id, sizeof id, "%.*s", (int)inc->via.str.size, inc->via.str.ptr);
				if (!json_object_get(ids, id)) {
					json_object_set_new(ids, id, json_true());
					incidents_seen++;
				}
			}
			if (c->o->json) {
				json_t *j = to_json(b);
				char *txt = json_dumps(j, JSON_PRESERVE_ORDER | JSON_COMPACT);
				if (txt)
					puts(txt);
				free(txt);
				json_decref(j);
			}
		}
		if (n == 0) {
			/* the store has not written them yet: wait for it */
			if (mono_ns() > deadline) {
				fprintf(stderr, "tocsin: replay: the drill's revisions after seq %" PRIu64
						" are not in postgresql after %d s\n", seq, END_TIMEOUT_S);
				rc = TN_ETIMEDOUT;
				break;
			}
			struct timespec ts = {0, 200000000};
			nanosleep(&ts, NULL);
		}
	}
out:
	fprintf(stderr, "tocsin: replay: drill %s: %zu events accepted, %zu refused, %" PRIu64
			" incidents, %" PRIu64 " revisions\n",
		c->o->drill, c->accepted, c->refused, incidents_seen, seq);
	json_decref(ids);
	return rc;
}

static int curve(struct client *c)
{
	char srv[TN_KEY_Z85_LEN + 1], sec[TN_KEY_Z85_LEN + 1], pub[TN_KEY_Z85_LEN + 1];
	char err[512];

	if (!c->o->key || !c->o->server_key) {
		fprintf(stderr, "tocsin: replay: --server needs --key PLANNER.key and "
				"--server-key SERVER.pub\n");
		return TN_EKEY;
	}
	if (tn_key_read(c->o->server_key, 0, srv, err, sizeof err) != 0 ||
	    tn_key_read(c->o->key, 1, sec, err, sizeof err) != 0) {
		fprintf(stderr, "tocsin: replay: %s\n", err);
		return TN_EKEY;
	}
	if (tn_key_public_of(sec, pub) != 0) {
		fprintf(stderr, "tocsin: replay: %s: not a secret key\n", c->o->key);
		return TN_EKEY;
	}
	int rc = zmq_setsockopt(c->ctl, ZMQ_CURVE_SERVERKEY, srv, TN_KEY_Z85_LEN) ||
		 zmq_setsockopt(c->ctl, ZMQ_CURVE_PUBLICKEY, pub, TN_KEY_Z85_LEN) ||
		 zmq_setsockopt(c->ctl, ZMQ_CURVE_SECRETKEY, sec, TN_KEY_Z85_LEN);
	memset(sec, 0, sizeof sec);
	return rc ? TN_EZMQ : 0;
}

int tn__replay_server(const struct tn__replay_server_opts *o, const struct tn__scenario *sc)
{
	struct client c = {.o = o, .tty = isatty(2)};
	msgpack_packer pk;
	msgpack_object r;
	int linger = 0, rc;

	msgpack_sbuffer_init(&c.req);
	if (!msgpack_zone_init(&c.zone, 1 << 16))
		return TN_ENOMEM;
	c.ctx = zmq_ctx_new();
	c.ctl = c.ctx ? zmq_socket(c.ctx, ZMQ_DEALER) : NULL;
	if (!c.ctl) {
		rc = TN_EZMQ;
		goto out;
	}
	zmq_setsockopt(c.ctl, ZMQ_LINGER, &linger, sizeof linger);
	if (!o->insecure && (rc = curve(&c)) != 0)
		goto out;
	if (zmq_connect(c.ctl, o->server) != 0) {
		fprintf(stderr, "tocsin: replay: cannot connect to %s: %s\n", o->server,
			zmq_strerror(errno));
		rc = TN_EZMQ;
		goto out;
	}
	head(&c, &pk, "drill_start", 0);
	if ((rc = call(&c, &r)) != 0)
		goto out;

	int64_t t0 = mono_ns(), ticked_us = INT64_MIN;
	int64_t first_us = sc->n ? sc->ev[0].time_us : 0;
	size_t i = 0;
	while (i < sc->n) {
		/* a batch: events up to the next tick line, the bounds, or (paced) the next
		 * event time not yet due */
		if (sc->ev[i].type == TN__EV_TICK) {
			if ((rc = send_events(&c, sc, i, i, true, sc->ev[i].time_us)) != 0)
				goto out;
			i++;
			continue;
		}
		if (o->speed > 0 && sc->ev[i].time_us > ticked_us) {
			if ((rc = pace(&c, t0, first_us, sc->ev[i].time_us, &ticked_us)) != 0)
				goto out;
		}
		size_t j = i, bytes = 0;
		while (j < sc->n && j - i < EVENTS_PER_REQ && sc->ev[j].type != TN__EV_TICK &&
		       bytes < REQ_BYTES && (o->speed <= 0 || sc->ev[j].time_us <= sc->ev[i].time_us)) {
			/* a generous estimate of the packed size */
			bytes += 160 + (sc->ev[j].summary ? strlen(sc->ev[j].summary) : 0);
			j++;
		}
		if ((rc = send_events(&c, sc, i, j, false, 0)) != 0)
			goto out;
		i = j;
		progress(&c, sc, i, t0, sc->ev[i - 1].time_us, false);
	}
	while (c.in_flight)
		if ((rc = take_events_reply(&c)) != 0)
			goto out;
	progress(&c, sc, sc->n, t0, sc->n ? sc->ev[sc->n - 1].time_us : 0, true);

	/* the end of input: the same end an offline replay gives its engine */
	head(&c, &pk, "drill_stop", sc->n ? 1 : 0);
	if (sc->n) {
		pack_str(&pk, "end");
		msgpack_pack_int64(&pk, sc->max_us);
	}
	if ((rc = call(&c, &r)) != 0)
		goto out;
	int64_t deadline = mono_ns() + (int64_t)END_TIMEOUT_S * 1000000000;
	uint64_t last = 0;
	for (;;) {
		head(&c, &pk, "drill_status", 0);
		if ((rc = call(&c, &r)) != 0)
			goto out;
		const msgpack_object *st = get(&r, "state");
		if (st && st->type == MSGPACK_OBJECT_STR && st->via.str.size == 5 &&
		    memcmp(st->via.str.ptr, "ended", 5) == 0) {
			last = get_u64(&r, "last_seq");
			break;
		}
		if (mono_ns() > deadline) {
			fprintf(stderr, "tocsin: replay: drill %s has not ended after %d s\n", o->drill,
				END_TIMEOUT_S);
			rc = TN_ETIMEDOUT;
			goto out;
		}
		struct timespec ts = {0, 100000000};
		nanosleep(&ts, NULL);
	}
	rc = read_back(&c, last);
out:
	if (c.ctl)
		zmq_close(c.ctl);
	if (c.ctx)
		zmq_ctx_term(c.ctx);
	msgpack_sbuffer_destroy(&c.req);
	msgpack_zone_destroy(&c.zone);
	free(c.resp);
	return rc;
}
