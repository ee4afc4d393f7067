/*
 * test_sdk.c - the adapter SDK (tocsin/adapter.h) against a fake server.
 *
 * The fake server is a CURVE ROUTER on an ephemeral loopback port, driven
 * from the test thread between tn_adapter_poll calls. It decodes each frame
 * with msgpack-c and answers by a script keyed on the event id's prefix:
 *   ok-    ok                        dup-   dup
 *   bad-   err E_SCHEMA (i and id)   idx-   err E_FORBIDDEN by index only
 *   busy-  E_UNAVAILABLE, then ok    mute-  no reply to the frame, then ok
 *   fdec-  frame-level E_DECODE      frate- frame-level E_RATE, then ok
 *   garb-  an undecodable reply, then ok
 *   skip-  a reply naming nothing ({}), then ok
 *   late-  no reply until the event comes again; then two ok replies, the
 *          late one first
 *   heartbeat events: ok, counted.
 * Every wait is bounded, so a failing test fails instead of hanging.
 */
#include "tocsin/adapter.h"

#include <check.h>
#include <fcntl.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define MAX_IDS     128
#define MAX_FRAMES  128
#define MAX_RESULTS 128

struct seen {
	char id[64];
	int count;
};

struct result {
	char id[64];
	int status;
	char code[32];
	char msg[256];
};

static struct {
	void *ctx;
	void *sock;
	char endpoint[128];
	char pub[41], sec[41];
	struct seen ids[MAX_IDS];
	int n_ids;
	int frames;
	int frame_size[MAX_FRAMES]; /* events per frame; 0 for a bare map */
	int heartbeats;
	int bad_time; /* events whose time was not a timestamp ext */
	int undecodable;
	char late_id[64]; /* the late- event whose reply is held back */
} srv;

static struct {
	struct result r[MAX_RESULTS];
	int n;
} res;

static char cli_pub[41], cli_sec[41];
static struct tn_adapter *A;
static struct tn_adapter_options O;
static char dir[200];

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the fake server --------------------------------------------------------- */

static int seen_inc(const char *id, size_t len)
{
	for (int k = 0; k < srv.n_ids; k++)
		if (strlen(srv.ids[k].id) == len && memcmp(srv.ids[k].id, id, len) == 0)
			return ++srv.ids[k].count;
	ck_assert_int_lt(srv.n_ids, MAX_IDS);
	ck_assert_uint_lt(len, sizeof srv.ids[0].id);
	memcpy(srv.ids[srv.n_ids].id, id, len);
	srv.ids[srv.n_ids].id[len] = '\0';
	srv.ids[srv.n_ids].count = 1;
	srv.n_ids++;
	return 1;
}

static int seen(const char *id)
{
	for (int k = 0; k < srv.n_ids; k++)
		if (strcmp(srv.ids[k].id, id) == 0)
			return srv.ids[k].count;
	return 0;
}

static void server_start(bool curve, const char *endpoint)
{
	size_t len = sizeof srv.endpoint;
	int one = 1, zero = 0;

	srv.sock = zmq_socket(srv.ctx, ZMQ_ROUTER);
	ck_assert_ptr_nonnull(srv.sock);
	ck_assert_int_eq(zmq_setsockopt(srv.sock, ZMQ_LINGER, &zero, sizeof zero), 0);
	if (curve) {
		ck_assert_int_eq(zmq_setsockopt(srv.sock, ZMQ_CURVE_SERVER, &one, sizeof one), 0);
		ck_assert_int_eq(zmq_setsockopt(srv.sock, ZMQ_CURVE_SECRETKEY, srv.sec, 41), 0);
	}
	ck_assert_int_eq(zmq_bind(srv.sock, endpoint ? endpoint : "tcp://127.0.0.1:*"), 0);
	ck_assert_int_eq(zmq_getsockopt(srv.sock, ZMQ_LAST_ENDPOINT, srv.endpoint, &len), 0);
}

struct ev_info {
	const char *id;
	size_t id_len;
	bool heartbeat;
};

static bool has_prefix(const struct ev_info *e, const char *p)
{
	size_t n = strlen(p);
	return e->id_len >= n && memcmp(e->id, p, n) == 0;
}

static void str(msgpack_packer *pk, const char *s, size_t n)
{
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static void cstr(msgpack_packer *pk, const char *s)
{
	str(pk, s, strlen(s));
}

static void pack_err(msgpack_packer *pk, int i, const struct ev_info *e, const char *code,
		     const char *msg)
{
	msgpack_pack_map(pk, 4);
	cstr(pk, "i");
	if (i < 0)
		msgpack_pack_nil(pk);
	else
		msgpack_pack_uint32(pk, (uint32_t)i);
	cstr(pk, "id");
	if (e)
		str(pk, e->id, e->id_len);
	else
		msgpack_pack_nil(pk);
	cstr(pk, "code");
	cstr(pk, code);
	cstr(pk, "msg");
	cstr(pk, msg);
}

static void reply(const zmq_msg_t *rid, const void *body, size_t len)
{
	ck_assert_int_ge(zmq_send(srv.sock, zmq_msg_data((zmq_msg_t *)rid),
				  zmq_msg_size((zmq_msg_t *)rid), ZMQ_SNDMORE),
			 0);
	ck_assert_int_ge(zmq_send(srv.sock, body, len, 0), 0);
}

/* Answer one frame according to the script. */
static void server_frame(const zmq_msg_t *rid, const char *buf, size_t len)
{
	msgpack_unpacked u;
	struct ev_info ev[1000];
	const msgpack_object *maps;
	size_t n = 0, off = 0;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int first[1000];
	bool mute = false, garb = false, skip = false, fdec = false, frate = false;

	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, buf, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len) {
		srv.undecodable++;
		msgpack_unpacked_destroy(&u);
		return;
	}
	ck_assert_int_lt(srv.frames, MAX_FRAMES);
	if (u.data.type == MSGPACK_OBJECT_MAP) {
		maps = &u.data;
		n = 1;
		srv.frame_size[srv.frames++] = 0;
	} else {
		ck_assert_int_eq(u.data.type, MSGPACK_OBJECT_ARRAY);
		maps = u.data.via.array.ptr;
		n = u.data.via.array.size;
		ck_assert_uint_le(n, 1000);
		srv.frame_size[srv.frames++] = (int)n;
	}
	for (size_t k = 0; k < n; k++) {
		const msgpack_object *m = &maps[k];
		msgpack_timestamp ts;

		ck_assert_int_eq(m->type, MSGPACK_OBJECT_MAP);
		memset(&ev[k], 0, sizeof ev[k]);
		for (uint32_t j = 0; j < m->via.map.size; j++) {
			const msgpack_object *key = &m->via.map.ptr[j].key;
			const msgpack_object *val = &m->via.map.ptr[j].val;
			ck_assert_int_eq(key->type, MSGPACK_OBJECT_STR);
			if (key->via.str.size == 2 && !memcmp(key->via.str.ptr, "id", 2)) {
				ck_assert_int_eq(val->type, MSGPACK_OBJECT_STR);
				ev[k].id = val->via.str.ptr;
				ev[k].id_len = val->via.str.size;
			} else if (key->via.str.size == 4 && !memcmp(key->via.str.ptr, "type", 4)) {
				ev[k].heartbeat = val->type == MSGPACK_OBJECT_STR &&
						  val->via.str.size == 9 &&
						  !memcmp(val->via.str.ptr, "heartbeat", 9);
			} else if (key->via.str.size == 4 && !memcmp(key->via.str.ptr, "time", 4)) {
				if (!msgpack_object_to_timestamp(val, &ts))
					srv.bad_time++;
			}
		}
		ck_assert_ptr_nonnull(ev[k].id);
		first[k] = seen_inc(ev[k].id, ev[k].id_len) == 1;
		if (ev[k].heartbeat)
			srv.heartbeats++;
		mute |= first[k] && has_prefix(&ev[k], "mute-");
		garb |= first[k] && has_prefix(&ev[k], "garb-");
		skip |= first[k] && has_prefix(&ev[k], "skip-");
		frate |= first[k] && has_prefix(&ev[k], "frate-");
		fdec |= has_prefix(&ev[k], "fdec-");
	}
	for (size_t k = 0; k < n; k++) {
		if (!has_prefix(&ev[k], "late-"))
			continue;
		if (first[k]) {
			mute = true;
			snprintf(srv.late_id, sizeof srv.late_id, "%.*s", (int)ev[k].id_len,
				 ev[k].id);
		} else if (srv.late_id[0]) {
			/* the reply to the first copy, late: {"ok": [id]} */
			msgpack_sbuffer_init(&sb);
			msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
			msgpack_pack_map(&pk, 1);
			cstr(&pk, "ok");
			msgpack_pack_array(&pk, 1);
			cstr(&pk, srv.late_id);
			reply(rid, sb.data, sb.size);
			msgpack_sbuffer_destroy(&sb);
			srv.late_id[0] = '\0';
		}
	}
	if (mute) {
		msgpack_unpacked_destroy(&u);
		return;
	}
	if (garb) {
		reply(rid, "\xc1\x00garbage", 9);
		msgpack_unpacked_destroy(&u);
		return;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (skip) {
		msgpack_pack_map(&pk, 0);
	} else if (fdec || frate) {
		msgpack_pack_map(&pk, 3);
		cstr(&pk, "ok");
		msgpack_pack_array(&pk, 0);
		cstr(&pk, "dup");
		msgpack_pack_array(&pk, 0);
		cstr(&pk, "err");
		msgpack_pack_array(&pk, 1);
		pack_err(&pk, -1, NULL, fdec ? "E_DECODE" : "E_RATE",
			 fdec ? "trailing bytes after the frame" : "over this key's rate");
	} else {
		size_t n_ok = 0, n_dup = 0, n_err = 0;
		int kind[1000]; /* 0 ok, 1 dup, 2 err */

		for (size_t k = 0; k < n; k++) {
			if (has_prefix(&ev[k], "dup-"))
				kind[k] = 1;
			else if (has_prefix(&ev[k], "bad-") || has_prefix(&ev[k], "idx-") ||
				 (first[k] && has_prefix(&ev[k], "busy-")))
				kind[k] = 2;
			else
				kind[k] = 0;
			n_ok += kind[k] == 0;
			n_dup += kind[k] == 1;
			n_err += kind[k] == 2;
		}
		msgpack_pack_map(&pk, 3);
		cstr(&pk, "ok");
		msgpack_pack_array(&pk, n_ok);
		for (size_t k = 0; k < n; k++)
			if (kind[k] == 0)
				str(&pk, ev[k].id, ev[k].id_len);
		cstr(&pk, "dup");
		msgpack_pack_array(&pk, n_dup);
		for (size_t k = 0; k < n; k++)
			if (kind[k] == 1)
				str(&pk, ev[k].id, ev[k].id_len);
		cstr(&pk, "err");
		msgpack_pack_array(&pk, n_err);
		for (size_t k = 0; k < n; k++) {
			if (kind[k] != 2)
				continue;
			if (has_prefix(&ev[k], "bad-"))
				pack_err(&pk, (int)k, &ev[k], "E_SCHEMA",
					 "severity: expected an integer 1..5, got 9");
			else if (has_prefix(&ev[k], "idx-"))
				pack_err(&pk, (int)k, NULL, "E_FORBIDDEN",
					 "sector: water not allowed for this key");
			else
				pack_err(&pk, (int)k, &ev[k], "E_UNAVAILABLE", "journal full");
		}
	}
	reply(rid, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	msgpack_unpacked_destroy(&u);
}

/* Serve every frame waiting, without blocking. */
static void server_step(void)
{
	for (;;) {
		zmq_msg_t rid, body;
		zmq_msg_init(&rid);
		if (zmq_msg_recv(&rid, srv.sock, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&rid);
			return;
		}
		ck_assert(zmq_msg_more(&rid));
		zmq_msg_init(&body);
		ck_assert_int_ge(zmq_msg_recv(&body, srv.sock, 0), 0);
		ck_assert(!zmq_msg_more(&body));
		server_frame(&rid, zmq_msg_data(&body), zmq_msg_size(&body));
		zmq_msg_close(&body);
		zmq_msg_close(&rid);
	}
}

/* ---- the adapter side ------------------------------------------------------- */

static void on_result(void *ud, const char *id, int status, const char *code, const char *msg)
{
	struct result *r;

	ck_assert_ptr_eq(ud, &res);
	ck_assert_int_lt(res.n, MAX_RESULTS);
	r = &res.r[res.n++];
	snprintf(r->id, sizeof r->id, "%s", id);
	r->status = status;
	if (status < 0) {
		ck_assert_ptr_nonnull(code);
		ck_assert_ptr_nonnull(msg);
		snprintf(r->code, sizeof r->code, "%s", code);
		snprintf(r->msg, sizeof r->msg, "%s", msg);
	} else {
		ck_assert_ptr_null(code);
		ck_assert_ptr_null(msg);
	}
}

static const struct result *result_of(const char *id)
{
	const struct result *found = NULL;
	for (int k = 0; k < res.n; k++)
		if (strcmp(res.r[k].id, id) == 0) {
			ck_assert_msg(!found, "two results for %s", id);
			found = &res.r[k];
		}
	ck_assert_msg(found != NULL, "no result for %s", id);
	return found;
}

static struct tn_event event(const char *id)
{
	struct tn_event ev = {
		.id = id,
		.source = "ukpn/scada/east",
		.type = TN_EV_DOWN,
		.time_us = tn_adapter_now_us(),
		.sector = TN_SECTOR_ENERGY,
		.asset = "SUB-BARKING-132",
		.severity = 2,
		.summary = "substation tripped",
	};
	return ev;
}

static void send_ok(const char *id)
{
	struct tn_event ev = event(id);
	ck_assert_int_eq(tn_adapter_send(A, &ev), 0);
}

/* Poll both sides until `want` results arrived or max_ms passed. */
static void pump(int want, int max_ms)
{
	int64_t end = now_ms() + max_ms;

	while (res.n < want && now_ms() < end) {
		ck_assert_int_eq(tn_adapter_poll(A, 5), 0);
		server_step();
	}
	ck_assert_msg(res.n >= want, "%d results of %d after %d ms", res.n, want, max_ms);
}

/* Poll both sides for ms, whatever happens. */
static void pump_for(int ms)
{
	int64_t end = now_ms() + ms;

	while (now_ms() < end) {
		ck_assert_int_eq(tn_adapter_poll(A, 5), 0);
		server_step();
	}
}

static void open_adapter(void)
{
	char err[256];
	int rc = tn_adapter_open(&O, &A, err, sizeof err);
	ck_assert_msg(rc == 0, "open: %s", err);
}

static void setup(void)
{
	memset(&srv, 0, sizeof srv);
	memset(&res, 0, sizeof res);
	srv.ctx = zmq_ctx_new();
	ck_assert_ptr_nonnull(srv.ctx);
	ck_assert_int_eq(zmq_curve_keypair(srv.pub, srv.sec), 0);
	ck_assert_int_eq(zmq_curve_keypair(cli_pub, cli_sec), 0);
	server_start(true, NULL);
	tn_adapter_options_init(&O);
	O.endpoint = srv.endpoint;
	memcpy(O.server_key, srv.pub, 41);
	memcpy(O.public_key, cli_pub, 41);
	memcpy(O.secret_key, cli_sec, 41);
	O.retry_timeout_ms = 200;
	O.on_result = on_result;
	O.ud = &res;
	A = NULL;
	dir[0] = '\0';
}

static void teardown(void)
{
	tn_adapter_close(A);
	A = NULL;
	if (srv.sock)
		zmq_close(srv.sock);
	srv.sock = NULL;
	zmq_ctx_term(srv.ctx);
	if (dir[0]) {
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		ck_assert_int_eq(system(cmd), 0);
	}
}

/* ---- tests ------------------------------------------------------------------ */

START_TEST(single_send_acked)
{
	struct tn_adapter_stats st;

	open_adapter();
	send_ok("ok-1");
	pump(1, 3000);
	ck_assert_int_eq(result_of("ok-1")->status, TN_ADAPTER_OK);
	ck_assert_int_eq(srv.frames, 1);
	ck_assert_int_eq(srv.frame_size[0], 0); /* a lone event goes as a bare map */
	ck_assert_int_eq(srv.bad_time, 0);
	ck_assert_int_eq(tn_adapter_flush(A, 0), 0);
	tn_adapter_stats(A, &st);
	ck_assert_uint_eq(st.queued, 1);
	ck_assert_uint_eq(st.ok, 1);
	ck_assert_uint_eq(st.frames_sent, 1);
	ck_assert_uint_eq(st.replies, 1);
	ck_assert_uint_eq(st.resent, 0);
	ck_assert_uint_eq(st.outbox, 0);
	ck_assert_uint_eq(st.inflight_frames, 0);
}
END_TEST

START_TEST(batch_acked)
{
	struct tn_adapter_stats st;
	char id[10][16];

	O.max_batch = 4;
	open_adapter();
	for (int k = 0; k < 10; k++) {
		snprintf(id[k], sizeof id[k], "ok-%d", k);
		send_ok(id[k]);
	}
	pump(10, 3000);
	for (int k = 0; k < 10; k++)
		ck_assert_int_eq(result_of(id[k])->status, TN_ADAPTER_OK);
	ck_assert_int_eq(srv.frames, 3);
	ck_assert_int_eq(srv.frame_size[0], 4);
	ck_assert_int_eq(srv.frame_size[1], 4);
	ck_assert_int_eq(srv.frame_size[2], 2);
	tn_adapter_stats(A, &st);
	ck_assert_uint_eq(st.events_sent, 10);
	ck_assert_uint_eq(st.ok, 10);
}
END_TEST

START_TEST(dup_reported)
{
	open_adapter();
	send_ok("ok-a");
	send_ok("dup-a");
	pump(2, 3000);
	ck_assert_int_eq(result_of("ok-a")->status, TN_ADAPTER_OK);
	ck_assert_int_eq(result_of("dup-a")->status, TN_ADAPTER_DUP);
}
END_TEST

START_TEST(permanent_error_not_retried)
{
	const struct result *r;
	struct tn_adapter_stats st;

	open_adapter();
	send_ok("ok-1");
	send_ok("bad-1");
	send_ok("idx-1");
	pump(3, 3000);
	r = result_of("bad-1");
	ck_assert_int_eq(r->status, TN_ESCHEMA);
	ck_assert_str_eq(r->code, "E_SCHEMA");
	ck_assert_str_eq(r->msg, "severity: expected an integer 1..5, got 9");
	r = result_of("idx-1"); /* matched by its index alone */
	ck_assert_int_eq(r->status, TN_EFORBIDDEN);
	ck_assert_str_eq(r->code, "E_FORBIDDEN");
	pump_for(3 * O.retry_timeout_ms);
	ck_assert_int_eq(seen("bad-1"), 1);
	ck_assert_int_eq(seen("idx-1"), 1);
	ck_assert_int_eq(res.n, 3);
	tn_adapter_stats(A, &st);
	ck_assert_uint_eq(st.failed, 2);
	ck_assert_uint_eq(st.resent, 0);
	ck_assert_uint_eq(st.outbox, 0);
}
END_TEST

START_TEST(frame_level_error)
{
	open_adapter();
	send_ok("fdec-1");
	send_ok("fdec-2");
	pump(2, 3000);
	ck_assert_int_eq(result_of("fdec-1")->status, TN_EDECODE);
	ck_assert_int_eq(result_of("fdec-2")->status, TN_EDECODE);
	ck_assert_str_eq(result_of("fdec-2")->code, "E_DECODE");
	pump_for(2 * O.retry_timeout_ms);
	ck_assert_int_eq(seen("fdec-1"), 1);
}
END_TEST

START_TEST(transient_error_retried)
{
	struct tn_adapter_stats st;
	int64_t t0;

	open_adapter();
	t0 = now_ms();
	send_ok("busy-1");
	send_ok("ok-2");
	pump(1, 3000);
	ck_assert_int_eq(result_of("ok-2")->status, TN_ADAPTER_OK);
	pump(2, 3000);
	ck_assert_int_eq(result_of("busy-1")->status, TN_ADAPTER_OK);
	ck_assert_int_ge(now_ms() - t0, 50); /* backed off at least half of 100 ms */
	ck_assert_int_eq(seen("busy-1"), 2);
	ck_assert_int_eq(seen("ok-2"), 1);
	tn_adapter_stats(A, &st);
	ck_assert_uint_eq(st.transient, 1);
	ck_assert_uint_eq(st.resent, 1);
	ck_assert_uint_eq(st.timeouts, 0);
	ck_assert_int_eq(st.backoff_ms, 0); /* reset by the ok */

	/* A frame-level E_RATE retries the whole frame. */
	send_ok("frate-1");
	send_ok("frate-2");
	pump(4, 3000);
	ck_assert_int_eq(result_of("frate-1")->status, TN_ADAPTER_OK);
	ck_assert_int_eq(result_of("frate-2")->status, TN_ADAPTER_OK);
	ck_assert_int_eq(seen("frate-1"), 2);
	ck_assert_int_eq(seen("frate-2"), 2);
}
END_TEST

START_TEST(unanswered_frame_retried)
{
	struct tn_adapter_stats st;
	int64_t t0;

	open_adapter();
	t0 = now_ms();
	send_ok("mute-1");
	pump(1, 3000);
	ck_assert_int_eq(result_of("mute-1")->status, TN_ADAPTER_OK);
	ck_assert_int_ge(now_ms() - t0, O.retry_timeout_ms);
	ck_assert_int_eq(seen("mute-1"), 2);
	tn_adapter_stats(A, &st);
	ck_assert_uint_eq(st.timeouts, 1);
	ck_assert_uint_eq(st.resent, 1);
}
END_TEST

START_TEST(late_reply_matched_by_id)
{
	struct tn_adapter_stats st;

	open_adapter();
	send_ok("late-1");
	pump(1, 3000);
	ck_assert_int_eq(result_of("late-1")->status, TN_ADAPTER_OK);
	ck_assert_int_eq(seen("late-1"), 2);
	pump_for(100); /* the second reply arrives: nothing left to resolve */
	ck_assert_int_eq(res.n, 1);
	tn_adapter_stats(A, &st);
	ck_assert_uint_eq(st.timeouts, 1);
	ck_assert_uint_eq(st.replies, 2);
	ck_assert_uint_eq(st.stale, 1);
	ck_assert_uint_eq(st.inflight_frames, 0);
	ck_assert_uint_eq(st.outbox, 0);
}
END_TEST

START_TEST(malformed_reply_ignored)
{
	struct tn_adapter_stats st;

	open_adapter();
	send_ok("garb-1");
	pump(1, 3000); /* ignored, then resent after the timeout */
	ck_assert_int_eq(result_of("garb-1")->status, TN_ADAPTER_OK);
	ck_assert_int_eq(seen("garb-1"), 2);
	send_ok("skip-1");
	pump(2, 3000); /* a reply naming nothing: resent at once */
	ck_assert_int_eq(result_of("skip-1")->status, TN_ADAPTER_OK);
	ck_assert_int_eq(seen("skip-1"), 2);
	tn_adapter_stats(A, &st);
	ck_assert_uint_eq(st.bad_replies, 1);
	ck_assert_uint_eq(st.timeouts, 1);
	ck_assert_uint_eq(st.unanswered, 1);
}
END_TEST

START_TEST(outbox_full)
{
	struct tn_adapter_stats st;
	struct tn_event ev = event("ok-4");

	O.outbox_capacity = 3;
	open_adapter();
	send_ok("ok-1");
	send_ok("ok-2");
	send_ok("ok-3");
	ck_assert_int_eq(tn_adapter_send(A, &ev), TN_EFULL);
	ck_assert_ptr_nonnull(strstr(tn_adapter_last_error(A), "outbox full"));
	tn_adapter_stats(A, &st);
	ck_assert_uint_eq(st.full, 1);
	ck_assert_uint_eq(st.outbox, 3);
	pump(3, 3000);
	ck_assert_int_eq(tn_adapter_send(A, &ev), 0);
	ck_assert_int_eq(tn_adapter_flush(A, 0), TN_ETIMEDOUT);
	pump(4, 3000);
	ck_assert_int_eq(result_of("ok-4")->status, TN_ADAPTER_OK);

	/* The byte bound too. */
	tn_adapter_close(A);
	O.outbox_capacity = 0;
	O.outbox_max_bytes = 200;
	open_adapter();
	send_ok("ok-5");
	tn_adapter_stats(A, &st);
	ck_assert_uint_gt(st.outbox_bytes, 100); /* so that a second one does not fit */
	ck_assert_uint_le(st.outbox_bytes, 200);
	ev.id = "ok-6";
	ck_assert_int_eq(tn_adapter_send(A, &ev), TN_EFULL);
}
END_TEST

START_TEST(heartbeats_when_due)
{
	struct tn_adapter_stats st;

	O.heartbeat_ms = 100;
	O.heartbeat_source = "ukpn/scada/east";
	open_adapter();
	pump_for(450); /* due at 0, 100, 200, 300, 400 ms */
	ck_assert_int_ge(srv.heartbeats, 4);
	ck_assert_int_le(srv.heartbeats, 6);
	ck_assert_int_eq(res.n, 0); /* accepted heartbeats are not reported */
	tn_adapter_stats(A, &st);
	ck_assert_uint_ge(st.heartbeats, 4);
	ck_assert_uint_eq(st.outbox, 0);
	ck_assert_int_eq(tn_adapter_flush(A, 0), 0); /* flush waits for user events only */
}
END_TEST

START_TEST(wrong_server_key_times_out)
{
	char other_pub[41], other_sec[41];
	int64_t t0;

	ck_assert_int_eq(zmq_curve_keypair(other_pub, other_sec), 0);
	memcpy(O.server_key, other_pub, 41);
	open_adapter();
	send_ok("ok-1");
	t0 = now_ms();
	ck_assert_int_eq(tn_adapter_flush(A, 300), TN_ETIMEDOUT);
	ck_assert_int_lt(now_ms() - t0, 2000);
	ck_assert_ptr_nonnull(strstr(tn_adapter_last_error(A), "1 events"));
	ck_assert_int_eq(res.n, 0);
	ck_assert_int_eq(srv.frames, 0);
}
END_TEST

START_TEST(server_starts_late)
{
	char ep[256];

	/* The adapter starts first; its events wait in the outbox until the server binds. */
	snprintf(dir, sizeof dir, "%s/tn_sdk_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(ep, sizeof ep, "ipc://%s/ingest", dir);
	O.endpoint = ep;
	open_adapter();
	send_ok("ok-1");
	for (int k = 0; k < 20; k++)
		ck_assert_int_eq(tn_adapter_poll(A, 10), 0);
	zmq_close(srv.sock);
	server_start(true, ep);
	pump(1, 5000);
	ck_assert_int_eq(result_of("ok-1")->status, TN_ADAPTER_OK);
	ck_assert_int_eq(seen("ok-1"), 1); /* nothing piled up while the server was away */
}
END_TEST

START_TEST(insecure_loopback)
{
	char err[256];

	zmq_close(srv.sock);
	server_start(false, NULL);
	O.insecure = true;
	O.server_key[0] = O.public_key[0] = O.secret_key[0] = '\0';
	open_adapter();
	send_ok("ok-1");
	pump(1, 3000);
	ck_assert_int_eq(result_of("ok-1")->status, TN_ADAPTER_OK);

	O.endpoint = "tcp://10.1.2.3:7450";
	ck_assert_int_eq(tn_adapter_open(&O, &(struct tn_adapter *){NULL}, err, sizeof err),
			 TN_ECONFIG);
	ck_assert_ptr_nonnull(strstr(err, "loopback"));
}
END_TEST

START_TEST(open_refuses_bad_options)
{
	struct tn_adapter *a = (struct tn_adapter *)1;
	char err[256];

	O.max_batch = TN_WIRE_MAX_BATCH + 1;
	ck_assert_int_eq(tn_adapter_open(&O, &a, err, sizeof err), TN_EINVAL);
	ck_assert_ptr_null(a);
	ck_assert_ptr_nonnull(strstr(err, "max_batch"));
	O.max_batch = 0;

	O.server_key[0] = '\0';
	ck_assert_int_eq(tn_adapter_open(&O, &a, err, sizeof err), TN_ECONFIG);
	ck_assert_ptr_nonnull(strstr(err, "server_key"));
	memcpy(O.server_key, "not a key", 10);
	ck_assert_int_eq(tn_adapter_open(&O, &a, err, sizeof err), TN_EKEY);
	memcpy(O.server_key, srv.pub, 41);

	O.heartbeat_ms = 1000;
	ck_assert_int_eq(tn_adapter_open(&O, &a, err, sizeof err), TN_ECONFIG);
	ck_assert_ptr_nonnull(strstr(err, "heartbeat_source"));
	O.heartbeat_ms = 0;

	O.endpoint = "nonsense://x";
	ck_assert_int_eq(tn_adapter_open(&O, &a, NULL, 0), TN_EZMQ);
	ck_assert_int_eq(tn_adapter_open(NULL, &a, NULL, 0), TN_EINVAL);
}
END_TEST

START_TEST(send_validates)
{
	struct tn_event ev = event("ok-1");
	struct tn_attr attrs[2] = {
		{.key = "feeder", .kind = TN_ATTR_STR, .v.s = "F12"},
		{.key = "feeder", .kind = TN_ATTR_INT, .v.i = 3},
	};
	char msg[200];
	struct tn_adapter_stats st;

	open_adapter();
	ev.asset = NULL;
	ck_assert_int_eq(tn_adapter_send(A, &ev), TN_ESCHEMA);
	ck_assert_str_eq(tn_adapter_last_error(A), "asset: required for type asset.down");

	ev = event("ok-1");
	ev.id = "";
	ck_assert_int_eq(tn_adapter_validate(&ev, msg, sizeof msg), TN_ESCHEMA);
	ck_assert_ptr_nonnull(strstr(msg, "id:"));
	ev = event("ok-1");
	ev.source = NULL;
	ck_assert_int_eq(tn_adapter_validate(&ev, msg, sizeof msg), TN_ESCHEMA);
	ck_assert_str_eq(msg, "source: required");
	ev = event("ok-1");
	ev.sector = TN_SECTOR_NONE;
	ck_assert_int_eq(tn_adapter_validate(&ev, msg, sizeof msg), TN_ESCHEMA);
	ck_assert_str_eq(msg, "sector: required for type asset.down");
	ev = event("ok-1");
	ev.severity = 9;
	ck_assert_int_eq(tn_adapter_validate(&ev, msg, sizeof msg), TN_ESCHEMA);
	ck_assert_ptr_nonnull(strstr(msg, "severity"));
	ev = event("ok-1");
	ev.summary = "caf\xe9"; /* Latin-1 */
	ck_assert_int_eq(tn_adapter_validate(&ev, msg, sizeof msg), TN_ESCHEMA);
	ck_assert_str_eq(msg, "summary: expected UTF-8 text");
	ev = event("ok-1");
	ev.has_geo = true;
	ev.lat = 91;
	ck_assert_int_eq(tn_adapter_validate(&ev, msg, sizeof msg), TN_ESCHEMA);
	ev = event("ok-1");
	ev.type = (enum tn_event_type)42;
	ck_assert_int_eq(tn_adapter_validate(&ev, msg, sizeof msg), TN_ESCHEMA);
	ev = event("ok-1");
	ev.attrs = attrs;
	ev.n_attrs = 2;
	ck_assert_int_eq(tn_adapter_validate(&ev, msg, sizeof msg), TN_ESCHEMA);
	ck_assert_ptr_nonnull(strstr(msg, "twice"));
	ev.n_attrs = 1;
	ck_assert_int_eq(tn_adapter_validate(&ev, msg, sizeof msg), 0);
	ck_assert_int_eq(tn_adapter_validate(NULL, msg, sizeof msg), TN_EINVAL);

	/* A heartbeat needs neither sector nor asset. */
	ev = (struct tn_event){.id = "hb-1", .source = "s", .type = TN_EV_HEARTBEAT,
			       .sector = TN_SECTOR_NONE};
	ck_assert_int_eq(tn_adapter_validate(&ev, msg, sizeof msg), 0);

	tn_adapter_stats(A, &st);
	ck_assert_uint_eq(st.invalid, 1);
	ck_assert_uint_eq(st.queued, 0);
}
END_TEST

START_TEST(keys_from_files)
{
	struct tn_adapter_options o;
	char base[256], p[300], err[512];
	FILE *f;

	snprintf(dir, sizeof dir, "%s/tn_sdk_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(base, sizeof base, "%s/adapter", dir);
	snprintf(p, sizeof p, "%s/server.pub", dir);
	ck_assert_ptr_nonnull(f = fopen(p, "w"));
	fprintf(f, "%s\n", srv.pub);
	fclose(f);
	snprintf(p, sizeof p, "%s.pub", base);
	ck_assert_ptr_nonnull(f = fopen(p, "w"));
	fprintf(f, "# adapter public key\n%s\n", cli_pub);
	fclose(f);
	snprintf(p, sizeof p, "%s.key", base);
	ck_assert_ptr_nonnull(f = fopen(p, "w"));
	fprintf(f, "%s\n", cli_sec);
	fclose(f);
	ck_assert_int_eq(chmod(p, 0644), 0);

	tn_adapter_options_init(&o);
	snprintf(p, sizeof p, "%s/server.pub", dir);
	ck_assert_int_eq(tn_adapter_options_keys(&o, p, base, err, sizeof err), TN_EKEY);
	ck_assert_str_eq(o.secret_key, ""); /* nothing half-filled */
	snprintf(p, sizeof p, "%s.key", base);
	ck_assert_int_eq(chmod(p, 0600), 0);
	snprintf(p, sizeof p, "%s/server.pub", dir);
	ck_assert_int_eq(tn_adapter_options_keys(&o, p, base, err, sizeof err), 0);
	ck_assert_str_eq(o.server_key, srv.pub);
	ck_assert_str_eq(o.public_key, cli_pub);
	ck_assert_str_eq(o.secret_key, cli_sec);
	snprintf(base, sizeof base, "%s/missing", dir);
	ck_assert_int_eq(tn_adapter_options_keys(&o, p, base, err, sizeof err), TN_EIO);
	ck_assert_ptr_nonnull(strstr(err, "missing.pub"));

	/* And the keys so read work. */
	memcpy(&O.server_key, o.server_key, sizeof o.server_key);
	memcpy(&O.public_key, o.public_key, sizeof o.public_key);
	memcpy(&O.secret_key, o.secret_key, sizeof o.secret_key);
	open_adapter();
	send_ok("ok-1");
	pump(1, 3000);
	ck_assert_int_eq(result_of("ok-1")->status, TN_ADAPTER_OK);
}
END_TEST

START_TEST(parse_time)
{
	int64_t us = -1;

	ck_assert_int_eq(tn_adapter_parse_time("1795711920000", &us), 0);
	ck_assert_int_eq(us, 1795711920000000LL);
	ck_assert_int_eq(tn_adapter_parse_time("2026-11-26T16:52:00Z", &us), 0);
	ck_assert_int_eq(us, 1795711920000000LL);
	ck_assert_int_eq(tn_adapter_parse_time("2026-11-26T17:52:00.250+01:00", &us), 0);
	ck_assert_int_eq(us, 1795711920250000LL);
	ck_assert_int_eq(tn_adapter_parse_time("2026-11-26T16:52:00.000001z", &us), 0);
	ck_assert_int_eq(us, 1795711920000001LL);
	ck_assert_int_eq(tn_adapter_parse_time("2024-02-29T00:00:00Z", &us), 0);
	ck_assert_int_eq(tn_adapter_parse_time("0", &us), 0);
	ck_assert_int_eq(us, 0);
	ck_assert_int_eq(tn_adapter_parse_time("2023-02-29T00:00:00Z", &us), TN_EINVAL);
	ck_assert_int_eq(tn_adapter_parse_time("2026-11-26T16:52:00", &us), TN_EINVAL);
	ck_assert_int_eq(tn_adapter_parse_time("2026-11-26 16:52:00Z", &us), TN_EINVAL);
	ck_assert_int_eq(tn_adapter_parse_time("2026-13-01T00:00:00Z", &us), TN_EINVAL);
	ck_assert_int_eq(tn_adapter_parse_time("2026-11-26T24:00:00Z", &us), TN_EINVAL);
	ck_assert_int_eq(tn_adapter_parse_time("2026-11-26T16:52:00ZX", &us), TN_EINVAL);
	ck_assert_int_eq(tn_adapter_parse_time("1969-12-31T23:59:59Z", &us), TN_EINVAL);
	ck_assert_int_eq(tn_adapter_parse_time("12a", &us), TN_EINVAL);
	ck_assert_int_eq(tn_adapter_parse_time("-5", &us), TN_EINVAL);
	ck_assert_int_eq(tn_adapter_parse_time("", &us), TN_EINVAL);
	ck_assert_int_eq(tn_adapter_parse_time("2026", &us), 0); /* 2026 ms */
	ck_assert_int_eq(tn_adapter_parse_time("99999999999999999999", &us), TN_EINVAL);
}
END_TEST

static Suite *sdk_suite(void)
{
	Suite *s = suite_create("sdk");
	TCase *tc = tcase_create("adapter");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, single_send_acked);
	tcase_add_test(tc, batch_acked);
	tcase_add_test(tc, dup_reported);
	tcase_add_test(tc, permanent_error_not_retried);
	tcase_add_test(tc, frame_level_error);
	tcase_add_test(tc, transient_error_retried);
	tcase_add_test(tc, unanswered_frame_retried);
	tcase_add_test(tc, late_reply_matched_by_id);
	tcase_add_test(tc, malformed_reply_ignored);
	tcase_add_test(tc, outbox_full);
	tcase_add_test(tc, heartbeats_when_due);
	tcase_add_test(tc, wrong_server_key_times_out);
	tcase_add_test(tc, server_starts_late);
	tcase_add_test(tc, insecure_loopback);
	tcase_add_test(tc, open_refuses_bad_options);
	tcase_add_test(tc, send_validates);
	tcase_add_test(tc, keys_from_files);
	tcase_add_test(tc, parse_time);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sdk_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
