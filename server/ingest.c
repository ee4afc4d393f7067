/* ingest.c - ZAP handler, adapters' ROUTER, validation and replies (ingest.h). */
#include "ingest.h"

#include <ck_pr.h>
#include <errno.h>
#include <ev.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <zmq.h>

#include "committer.h"
#include "frame.h"
#include "hs_audit.h"
#include "journal.h"
#include "log.h"
#include "ratelimit.h"
#include "ring.h"
#include "tocsin/error.h"
#include "wire.h"
#include "zap.h"
#include "thread.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_DOMAIN "ingest"
#define RAW_KEEP 4096         /* bytes of a rejected frame kept for inspection */
#define REJECT_KEEP_PER_S 200 /* rejected records journaled per second, at most */
#define AUDIT_RESERVE 2       /* frames kept free for audit records */
#define READ_BURST 64         /* frames read per pass, so ZAP and replies interleave */
#define RATE_KEEP_PER_S 5     /* E_RATE records kept per key per second, at most */
#define RATE_AUDIT_US (60 * 1000000LL) /* one audit record per limited key per minute */
#define MON_ENDPOINT "inproc://tocsin-ingest-monitor"
#define MON_FDS 1024     /* peer addresses remembered by fd, for fds below this */
#define MON_BURST 256    /* monitor events read per pass */
#define HS_WINDOW_S 60   /* failed handshakes: audited per address per minute (hs_audit.h) */

struct tn_ingest {
	const struct tn_config *cfg;
	bool insecure;
	void *ctx, *zap, *router, *mon;
	struct ev_loop *loop;
	ev_io zap_io, router_io, mon_io;
	ev_async done_async, registry_async, stop_async;
	ev_timer tick;
	pthread_t thread;
	bool running, draining;

	struct tn_registry *reg;
	struct tn_rate_table rates; /* parallel to reg->entries (ratelimit.h) */
	struct tn__ring registry_ring; /* watcher -> ingest */
	struct tn_ingest_settings live; /* what a reload may change (tn_ingest_reload) */
	struct tn__ring reload_ring;   /* main -> ingest: struct reload */
	struct reload *reload_held;    /* applied; its audit record waits for a free frame */
	struct tn_dedup *dedup;
	struct tn_wire_decoder *dec;

	struct tn__frame **pool; /* free frames (a stack) */
	size_t pool_size, pool_free;
	struct tn__ring to_commit, from_commit;
	struct tn_committer *committer;

	msgpack_sbuffer reply;
	int64_t reject_window_s;
	uint32_t reject_in_window;
	struct tn_log_slot log_zap, log_reject, log_send, log_rate;
	struct tn_ingest_stats st; /* written by the ingest thread only, with ck_pr */
	struct tn__adapter_table adapters; /* likewise (adapter_stats.h) */

	/* The ROUTER's socket monitor (connections and handshakes): the address
	 * of each accepted connection by its fd (libzmq's events carry the fd
	 * on accept and disconnect, and only the bound endpoint as address), and
	 * a failure waiting for the disconnect that names its connection. */
	char (*fd_addr)[TN__HS_ADDR_LEN];
	bool hs_pending;
	uint16_t hs_pending_event;
	uint32_t hs_pending_value;
	struct tn__hs_table hs;
	struct tn_log_slot log_hs;
};

#define STAT_INC(g, field) ck_pr_inc_64(&(g)->st.field)

/* A reload handed over by tn_ingest_reload. */
struct reload {
	bool has_settings;
	struct tn_ingest_settings settings;
	char action[48], subject[128];
	size_t detail_len;   /* 0: no audit record */
	unsigned char detail[]; /* a packed MessagePack map */
};

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

/* The rate limits' clock: monotonic, so that setting the wall clock back
 * cannot starve an adapter, nor setting it forward refill every bucket. */
static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- packing records into a frame ---------------------------------------- */

static void pack_str(msgpack_packer *pk, const char *s)
{
	if (!s) {
		msgpack_pack_nil(pk);
		return;
	}
	size_t n = strlen(s);
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

/* Start a record of `type` in f; returns it, or NULL on TN_ENOMEM. */
static struct tn__rec *rec_begin(struct tn__frame *f, uint8_t type, msgpack_packer *pk)
{
	struct tn__rec *r = tn__frame_rec(f);
	if (!r)
		return NULL;
	r->type = type;
	r->off = (uint32_t)f->recbuf.len;
	msgpack_packer_init(pk, &f->recbuf, tn__bytes_write);
	return r;
}

static void rec_end(struct tn__frame *f, struct tn__rec *r)
{
	r->len = (uint32_t)(f->recbuf.len - r->off);
}

/* Whether one more rejected record may be kept this second (a bound an
 * attacker cannot push the journal past). */
static bool reject_budget(struct tn_ingest *g)
{
	int64_t s = now_us() / 1000000;
	if (s != g->reject_window_s) {
		g->reject_window_s = s;
		g->reject_in_window = 0;
	}
	if (g->reject_in_window >= REJECT_KEEP_PER_S) {
		STAT_INC(g, rejects_not_kept);
		return false;
	}
	g->reject_in_window++;
	return true;
}

static void add_reject_record(struct tn_ingest *g, struct tn__frame *f, const char *adapter,
			      int code, const char *msg, int32_t index, const char *id,
			      const void *raw, size_t raw_len)
{
	msgpack_packer pk;
	if (!reject_budget(g))
		return;
	struct tn__rec *r = rec_begin(f, TN_JREC_REJECT, &pk);
	if (!r)
		return;
	size_t keep = raw_len > RAW_KEEP ? RAW_KEEP : raw_len;
	msgpack_pack_array(&pk, 9);
	msgpack_pack_int64(&pk, f->recv_us);
	pack_str(&pk, adapter);
	pack_str(&pk, tn_wire_code(code));
	pack_str(&pk, msg);
	if (index < 0)
		msgpack_pack_nil(&pk);
	else
		msgpack_pack_int32(&pk, index);
	pack_str(&pk, id);
	if (raw) {
		msgpack_pack_bin(&pk, keep);
		msgpack_pack_bin_body(&pk, raw, keep);
	} else {
		msgpack_pack_nil(&pk);
	}
	if (raw && keep < raw_len)
		msgpack_pack_true(&pk);
	else
		msgpack_pack_false(&pk);
	pack_str(&pk, f->origin[0] ? f->origin : NULL); /* since 009: where it came from */
	rec_end(f, r);
}

/* ---- the frame pool -------------------------------------------------------- */

static struct tn__frame *pool_get(struct tn_ingest *g, bool audit)
{
	if (g->pool_free <= (audit ? 0 : AUDIT_RESERVE))
		return NULL;
	struct tn__frame *f = g->pool[--g->pool_free];
	tn__frame_reset(f);
	return f;
}

static void pool_put(struct tn_ingest *g, struct tn__frame *f)
{
	g->pool[g->pool_free++] = f;
}

static void submit(struct tn_ingest *g, struct tn__frame *f)
{
	/* Cannot fail: the ring holds the whole pool. */
	(void)tn__ring_push(&g->to_commit, f);
	tn_committer_wake(g->committer);
}

/* ---- audit ----------------------------------------------------------------- */

/*
 * Journal an audit record (the store writes it to `audit`): its detail is
 * {"reason": reason}, or the packed map `detail` (detail_len bytes) when
 * given, or nil. Returns false when no frame was free (counted).
 */
static bool audit_with(struct tn_ingest *g, const char *action, const char *subject,
		       const char *origin, const char *reason, const void *detail,
		       size_t detail_len)
{
	msgpack_packer pk;
	struct tn__frame *f = pool_get(g, true);
	if (!f) {
		STAT_INC(g, audit_dropped);
		/* a peer's handshakes can bring this on: rate-limited */
		tn_log_limited(&g->log_zap, 10, TN_LOG_WARN, "audit record dropped: no free frame",
			       "action=%s", action);
		return false;
	}
	f->recv_us = now_us();
	struct tn__rec *r = rec_begin(f, TN_JREC_AUDIT, &pk);
	if (!r) {
		pool_put(g, f);
		return false;
	}
	msgpack_pack_array(&pk, 6);
	msgpack_pack_int64(&pk, f->recv_us);
	pack_str(&pk, g->cfg->name);
	pack_str(&pk, action);
	pack_str(&pk, subject);
	pack_str(&pk, origin);
	if (detail_len) {
		tn__bytes_write(&f->recbuf, (const char *)detail, detail_len);
	} else if (reason) {
		msgpack_pack_map(&pk, 1);
		pack_str(&pk, "reason");
		pack_str(&pk, reason);
	} else {
		msgpack_pack_nil(&pk);
	}
	rec_end(f, r);
	submit(g, f);
	return true;
}

static void audit(struct tn_ingest *g, const char *action, const char *subject,
		  const char *origin, const char *reason)
{
	(void)audit_with(g, action, subject, origin, reason, NULL, 0);
}

/* ---- fair share (ratelimit.h, docs/security.md) ---------------------------- */

/*
 * Rebuild the per-key table for g->reg, carrying each surviving key's bucket
 * and frames in flight. Out of memory: no table, hence no limits until the
 * next registry (logged); the registry itself is swapped in regardless, so a
 * revocation never waits on this.
 */
static int rates_rebuild(struct tn_ingest *g)
{
	size_t n = g->reg->n;
	const char **keys = calloc(n ? n : 1, sizeof *keys);
	struct tn_rate_limits *lim = calloc(n ? n : 1, sizeof *lim);
	struct tn_rate_table t;
	int rc = TN_ENOMEM;

	if (keys && lim) {
		for (size_t i = 0; i < n; i++) {
			keys[i] = g->reg->entries[i].key;
			lim[i].rate = g->reg->entries[i].rate;
			lim[i].burst = g->reg->entries[i].burst;
		}
		rc = tn_rate_table_build(&g->rates, keys, lim, n, (uint32_t)g->live.rate,
					 (uint32_t)g->live.burst, mono_us(), &t);
	}
	free(keys);
	free(lim);
	tn_rate_table_free(&g->rates);
	if (rc != 0) {
		tn_error("rate limits off until the next registry: out of memory", "keys=%zu", n);
		return rc;
	}
	g->rates = t;
	return 0;
}

/* The fair-share state of a registry entry, or NULL (insecure, or no table). */
static struct tn_rate_peer *peer_of(struct tn_ingest *g, const struct tn_adapter_entry *who)
{
	if (!who || g->rates.n != g->reg->n)
		return NULL;
	return &g->rates.peers[who - g->reg->entries];
}

/* A frame is back from the journal: it no longer counts against its key. */
static void peer_release(struct tn_ingest *g, struct tn__frame *f)
{
	if (!f->peer_key[0])
		return;
	struct tn_rate_peer *p = tn_rate_table_find(&g->rates, f->peer_key);
	if (p && p->inflight > 0)
		p->inflight--;
	f->peer_key[0] = '\0';
}

/*
 * Account for E_RATE refusals of `n` items (events, or one whole frame) of
 * adapter `who`: counted, logged (rate-limited), kept in `rejected` (one
 * record per frame, bounded per key and overall, no raw bytes: the bytes
 * are not what is wrong) and audited once a minute per key.
 */
static void rate_note(struct tn_ingest *g, struct tn__frame *f, const struct tn_adapter_entry *who,
		      struct tn_rate_peer *p, uint32_t n, int32_t index, const char *id,
		      const char *msg, const char *origin, int64_t mono)
{
	ck_pr_add_64(&g->st.rejected, n);
	ck_pr_add_64(&g->st.rejected_by_code[-TN_ERATE - 1], n);
	ck_pr_add_64(&g->st.rate_refused, n);
	tn_log_limited(&g->log_rate, 1, TN_LOG_WARN, "adapter over its limits",
		       "adapter=%s refused=%u msg=\"%s\"", who->name, n, tn_logq(msg));
	if (tn_rate_keep(p, mono / 1000000, RATE_KEEP_PER_S))
		add_reject_record(g, f, who->name, TN_ERATE, msg, index, id, NULL, 0);
	else
		STAT_INC(g, rejects_not_kept);
	if (p->audit_us == INT64_MIN || mono - p->audit_us >= RATE_AUDIT_US) {
		p->audit_us = mono;
		audit(g, "ingest.rate_limited", who->name, origin, msg);
	}
}

/*
 * How many events a frame says it holds, from its first bytes: an array's
 * count, else 1. Only a hint for rate_gate (the decoder decides what the
 * frame really is): a frame that lies about it only hurts its sender.
 */
static uint32_t frame_events(const unsigned char *d, size_t len)
{
	if (len >= 1 && d[0] >= 0x90 && d[0] <= 0x9f)
		return d[0] & 0x0f;
	if (len >= 3 && d[0] == 0xdc)
		return (uint32_t)d[1] << 8 | d[2];
	if (len >= 5 && d[0] == 0xdd)
		return (uint32_t)d[1] << 24 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 8 | d[4];
	return 1;
}

/*
 * Refuse the whole frame with E_RATE, before decoding it: this is what keeps
 * a flooder cheap. Returns true when refused: the key has inflight_per_key
 * frames awaiting the journal already, or its bucket holds fewer tokens
 * than the frame has events (`need`; a frame larger than the burst is let
 * through when there is any token, and its events past them are refused one
 * by one). Otherwise the frame counts against the key until it comes back
 * from the journal.
 */
static bool rate_gate(struct tn_ingest *g, struct tn__frame *f, const struct tn_adapter_entry *who,
		      struct tn_rate_peer *p, uint32_t need, const char *origin, int64_t mono)
{
	char msg[TN_WIRE_MSG_MAX];
	const struct tn_rate_bucket *b = &p->bucket;
	uint32_t cap = (uint32_t)g->live.inflight_per_key;
	uint32_t avail;

	if (need > b->burst)
		need = 1;
	if (need == 0)
		need = 1;

	if (cap && p->inflight >= cap) {
		STAT_INC(g, inflight_refused);
		snprintf(msg, sizeof msg,
			 "adapter \"%s\" has %u frames awaiting the journal, its most "
			 "(ingest.inflight_per_key); retry when a reply comes",
			 who->name, p->inflight);
	} else if ((avail = tn_rate_avail(&p->bucket, mono)) < need) {
		STAT_INC(g, rate_refused_frames);
		snprintf(msg, sizeof msg,
			 "over the rate of adapter \"%s\" (%u events/s, burst %u): %u tokens left "
			 "for %u events, frame refused, retry in %lld ms",
			 who->name, b->rate, b->burst, avail, need,
			 (long long)tn_rate_wait_ms(b, need));
	} else {
		p->inflight++;
		memcpy(f->peer_key, p->key, sizeof f->peer_key);
		return false;
	}
	struct tn__item *it = tn__frame_item(f);
	if (it) {
		it->kind = TN__ITEM_ERR;
		it->err = TN_ERATE;
		it->index = -1;
		tn__frame_str(f, msg, strlen(msg), &it->msg_off);
	}
	rate_note(g, f, who, p, 1, -1, NULL, msg, origin, mono);
	return true;
}

/* Give the `n` events of the frame refused for want of tokens their message. */
static void rate_finish(struct tn_ingest *g, struct tn__frame *f, const struct tn_adapter_entry *who,
			struct tn_rate_peer *p, uint32_t n, int32_t first, const char *origin,
			int64_t mono)
{
	char msg[TN_WIRE_MSG_MAX];
	const struct tn_rate_bucket *b = &p->bucket;
	uint32_t off = UINT32_MAX;
	const char *first_id = NULL;

	snprintf(msg, sizeof msg,
		 "over the rate of adapter \"%s\" (%u events/s, burst %u): %u events of this "
		 "frame refused, retry in %lld ms",
		 who->name, b->rate, b->burst, n, (long long)tn_rate_wait_ms(b, n));
	tn__frame_str(f, msg, strlen(msg), &off);
	for (size_t i = 0; i < f->n_items; i++) {
		struct tn__item *it = &f->items[i];
		if (it->kind == TN__ITEM_ERR && it->err == TN_ERATE) {
			it->msg_off = off;
			if (it->index == first && it->id_off != UINT32_MAX)
				first_id = f->strs.data + it->id_off;
		}
	}
	rate_note(g, f, who, p, n, first, first_id, msg, origin, mono);
}

/* ---- ZAP ------------------------------------------------------------------- */

/*
 * Why a key is refused: `e` is its registry entry (NULL: none), has_key
 * whether the peer offered a CURVE key at all. The text goes to the log,
 * the audit trail and (at the handshake) the ZAP status text.
 */
static const char *key_refusal(const struct tn_adapter_entry *e, bool has_key, char *buf,
			       size_t len)
{
	if (!has_key)
		return "mechanism not allowed";
	if (!e)
		return "key not registered or revoked";
	snprintf(buf, len, "%s of adapter \"%s\"",
		 e->retiring ? "rotated-out key past its grace period" : "key expired", e->name);
	return buf;
}

/* One ZAP request; false when none was waiting. */
static bool zap_one(struct tn_ingest *g)
{
	struct tn__zap_req r;

	if (!tn__zap_recv(g->zap, &r))
		return false;
	if (r.n == 0)
		return true; /* malformed: answered */
	const struct tn_adapter_entry *e = NULL;
	char why[128];
	if (g->insecure) {
		if (strcmp(r.mechanism, "NULL") == 0) {
			STAT_INC(g, zap_accepted);
			tn__zap_reply(g->zap, &r, "200", "OK", "insecure");
			goto out;
		}
	} else if (r.key[0] && tn_registry_live(e = tn_registry_find(g->reg, r.key), now_us())) {
		STAT_INC(g, zap_accepted);
		tn__zap_reply(g->zap, &r, "200", "OK", r.key);
		goto out;
	}
	STAT_INC(g, zap_refused);
	const char *reason = key_refusal(e, r.key[0] != 0, why, sizeof why);
	tn_log_limited(&g->log_zap, 10, TN_LOG_WARN, "adapter refused at handshake",
		       "mechanism=%s key=%s address=%s reason=\"%s\"", r.mechanism,
		       r.key[0] ? r.key : "-", r.address, reason);
	tn__zap_reply(g->zap, &r, "400", reason, "");
	if (reject_budget(g))
		audit(g, "auth.refused", r.key[0] ? r.key : r.mechanism, r.address, reason);
out:
	tn__zap_done(&r);
	return true;
}

/* ---- the socket monitor: connections, failed handshakes -------------------- */

/* The peer address of a connected socket, without its port; "" when unknown. */
static void peer_addr(int fd, char out[TN__HS_ADDR_LEN])
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	out[0] = '\0';
	if (fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
		tn__hs_addr_format((struct sockaddr *)&ss, len, out, TN__HS_ADDR_LEN);
}

/* What libzmq's handshake failure event says, for people. */
static void hs_reason(uint16_t event, uint32_t value, char *out, size_t len)
{
	if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
		snprintf(out, len, "handshake not completed: %s",
			 value == 0 ? "connection closed or timed out" : strerror((int)value));
		return;
	}
	const char *what;
	switch (value) {
	case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
		what = "security mechanism mismatch (not CURVE)";
		break;
	case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
		what = "cryptographic error (wrong server key?)";
		break;
	case ZMQ_PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND:
	case ZMQ_PROTOCOL_ERROR_ZMTP_INVALID_SEQUENCE:
		what = "unexpected command";
		break;
	case ZMQ_PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE:
		what = "key exchange failed";
		break;
	default:
		what = value >= ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_UNSPECIFIED &&
			       value <= ZMQ_PROTOCOL_ERROR_ZMTP_INVALID_METADATA
		       ? "malformed command"
		       : "protocol error";
		break;
	}
	snprintf(out, len, "%s (0x%08x)", what, (unsigned)value);
}

/* A row of hs_audit.h: auth.handshake_failed, through the journal. */
static void hs_emit(void *ud, const struct tn__hs_row *row)
{
	struct tn_ingest *g = ud;
	char buf[256];
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, row->summary ? 3 : 2);
	pack_str(&pk, "reason");
	if (row->reason) {
		pack_str(&pk, row->reason);
	} else {
		snprintf(buf, sizeof buf, "failed handshakes from more than %d addresses this minute",
			 TN__HS_ADDRS);
		pack_str(&pk, buf);
	}
	pack_str(&pk, "count");
	msgpack_pack_uint32(&pk, row->count);
	if (row->summary) {
		pack_str(&pk, "window_s");
		msgpack_pack_int(&pk, HS_WINDOW_S);
	}
	if (audit_with(g, "auth.handshake_failed", row->summary ? "repeated" : "handshake",
		       row->addr, NULL, sb.data, sb.size))
		STAT_INC(g, hs_audited);
	msgpack_sbuffer_destroy(&sb);
}

/* A failed handshake of the connection from `addr`: logged, audited (bounded). */
static void hs_failed(struct tn_ingest *g, const char *addr)
{
	char reason[96];
	hs_reason(g->hs_pending_event, g->hs_pending_value, reason, sizeof reason);
	g->hs_pending = false;
	tn_log_limited(&g->log_hs, 10, TN_LOG_WARN, "adapter handshake failed",
		       "address=%s reason=\"%s\"", addr[0] ? addr : "unknown", reason);
	if (!tn__hs_note(&g->hs, (int64_t)(mono_s() / HS_WINDOW_S), addr, reason, hs_emit, g))
		STAT_INC(g, hs_not_followed);
}

/* One monitor event; false when none was waiting. */
static bool mon_one(struct tn_ingest *g)
{
	zmq_msg_t m;
	uint16_t event = 0;
	uint32_t value = 0;

	zmq_msg_init(&m);
	if (zmq_msg_recv(&m, g->mon, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&m);
		return false;
	}
	if (zmq_msg_size(&m) >= 6) {
		memcpy(&event, zmq_msg_data(&m), sizeof event);
		memcpy(&value, (const char *)zmq_msg_data(&m) + 2, sizeof value);
	}
	bool more = zmq_msg_more(&m);
	zmq_msg_close(&m);
	while (more) { /* the bound endpoint: not the peer's */
		zmq_msg_init(&m);
		more = zmq_msg_recv(&m, g->mon, 0) >= 0 && zmq_msg_more(&m);
		zmq_msg_close(&m);
	}
	int fd = (int)value;
	bool known_fd = fd >= 0 && fd < MON_FDS;
	switch (event) {
	case ZMQ_EVENT_ACCEPTED:
		STAT_INC(g, conn_accepted);
		if (known_fd)
			peer_addr(fd, g->fd_addr[fd]);
		break;
	case ZMQ_EVENT_DISCONNECTED:
		STAT_INC(g, conn_disconnected);
		/* libzmq reports a handshake failure, then the disconnect of its
		 * connection (stream_engine_base_t::error), from the one I/O thread */
		if (g->hs_pending)
			hs_failed(g, known_fd ? g->fd_addr[fd] : "");
		if (known_fd)
			g->fd_addr[fd][0] = '\0';
		break;
	case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
		STAT_INC(g, hs_ok);
		break;
	case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
	case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
		STAT_INC(g, hs_failed);
		if (g->hs_pending) /* never followed by its disconnect: no address */
			hs_failed(g, "");
		g->hs_pending = true;
		g->hs_pending_event = event;
		g->hs_pending_value = value;
		break;
	case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
		STAT_INC(g, hs_failed); /* refused by the ZAP handler: audited there */
		break;
	default:
		break;
	}
	return true;
}

/* ---- frames ---------------------------------------------------------------- */

static void item_error(struct tn_ingest *g, struct tn__frame *f, const char *adapter, int code,
		       int32_t index, const char *id, const char *msg, const void *raw,
		       size_t raw_len)
{
	struct tn__item *it = tn__frame_item(f);
	if (!it)
		return;
	it->kind = TN__ITEM_ERR;
	it->err = code;
	it->index = index;
	if (id)
		tn__frame_str(f, id, strlen(id), &it->id_off);
	tn__frame_str(f, msg, strlen(msg), &it->msg_off);
	STAT_INC(g, rejected);
	if (code < 0 && -code <= 8)
		ck_pr_inc_64(&g->st.rejected_by_code[-code - 1]);
	tn__adapter_rejected(&g->adapters, f->adapter_slot, code);
	tn_log_limited(&g->log_reject, 5, TN_LOG_INFO, "event rejected",
		       "adapter=%s code=%s item=%d msg=\"%s\"", tn_logq(adapter),
		       tn_wire_code(code), index, tn_logq(msg));
	add_reject_record(g, f, adapter, code, msg, index, id, raw, raw_len);
}

static void accept_event(struct tn_ingest *g, struct tn__frame *f, const char *adapter,
			 int32_t index, const struct tn_event *ev)
{
	struct tn__item *it = tn__frame_item(f);
	msgpack_packer pk;
	if (!it)
		return;
	it->index = index;
	tn__frame_str(f, ev->id, strlen(ev->id), &it->id_off);
	it->key = tn_dedup_key_of(g->dedup, ev->source, ev->id);
	/* Claimed PENDING now if absent: one probe for lookup and insert. */
	switch (tn_dedup_claim(g->dedup, it->key, f->recv_us / 1000000, &it->dedup_ref)) {
	case TN_DEDUP_DURABLE:
		it->kind = TN__ITEM_DUP;
		return;
	case TN_DEDUP_PENDING:
		it->kind = TN__ITEM_DUP_PENDING;
		return;
	default:
		break;
	}
	struct tn__rec *r = rec_begin(f, TN_JREC_EVENT, &pk);
	if (!r) {
		tn_dedup_remove(g->dedup, it->key);
		it->kind = TN__ITEM_ERR;
		it->err = TN_EUNAVAILABLE;
		tn__frame_str(f, "out of memory; retry later", 26, &it->msg_off);
		return;
	}
	msgpack_pack_array(&pk, 3);
	msgpack_pack_int64(&pk, f->recv_us);
	pack_str(&pk, adapter);
	tn_wire_pack_event(&pk, ev);
	rec_end(f, r);
	it->kind = TN__ITEM_OK;
	it->rec = (uint32_t)(f->n_recs - 1);
}

static void process_frame(struct tn_ingest *g, struct tn__frame *f, zmq_msg_t *body)
{
	const char *data = zmq_msg_data(body);
	size_t len = zmq_msg_size(body);
	const struct tn_adapter_entry *who = NULL;
	struct tn_rate_peer *peer = NULL;
	const char *adapter = "insecure";
	char msg[TN_WIRE_MSG_MAX + 64];
	int64_t mono = 0;
	uint32_t n_rate = 0;
	int32_t first_rate = -1;

	STAT_INC(g, frames);
	if (!g->insecure) {
		const char *user = zmq_msg_gets(body, "User-Id");
		who = user ? tn_registry_find(g->reg, user) : NULL;
		if (!tn_registry_live(who, f->recv_us)) {
			/* Admitted at the handshake, revoked, expired or retired since. */
			char why[128];
			const char *reason = key_refusal(who, true, why, sizeof why);
			STAT_INC(g, revoked_refusals);
			item_error(g, f, user, TN_EFORBIDDEN, -1, NULL, reason, data, len);
			if (reject_budget(g))
				audit(g, "ingest.refused", user ? user : "-",
				      zmq_msg_gets(body, "Peer-Address"), reason);
			return;
		}
		adapter = who->name;
		peer = peer_of(g, who);
		mono = mono_us();
		if (peer && rate_gate(g, f, who, peer, frame_events((const unsigned char *)data, len),
				      zmq_msg_gets(body, "Peer-Address"), mono))
			return;
	}
	f->adapter_slot = tn__adapter_slot(&g->adapters, adapter);

	struct tn_wire_limits lim = {
		.now_us = f->recv_us,
		.max_future_us = g->live.max_future_s * 1000000,
		.horizon_us = g->cfg->horizon_s * 1000000,
	};
	struct tn_wire_frame wf;
	int rc = tn_wire_decode(g->dec, data, len, &lim, &wf);
	if (rc != 0) {
		/* Our own failures (out of memory) are the adapter's cue to retry. */
		if (!tn_wire_code(rc)) {
			snprintf(wf.msg, sizeof wf.msg, "server error (%s); retry later",
				 tn_strerror(rc));
			rc = TN_EUNAVAILABLE;
		}
		item_error(g, f, adapter, rc, -1, NULL, wf.msg, data, len);
		return;
	}
	bool raw_kept = false; /* the frame's bytes go with its first rejection only */
	for (size_t i = 0; i < wf.n; i++) {
		struct tn_wire_item *item = &wf.items[i];
		ck_pr_inc_64(&g->st.events);
		tn__stat_add(&g->adapters.slot[f->adapter_slot].received, 1);
		/* Every event offered takes a token, whatever becomes of it. */
		if (peer && tn_rate_take(&peer->bucket, 1, mono) == 0) {
			struct tn__item *it = tn__frame_item(f);
			if (it) {
				it->kind = TN__ITEM_ERR;
				it->err = TN_ERATE;
				it->index = (int32_t)i;
				if (item->id)
					tn__frame_str(f, item->id, strlen(item->id), &it->id_off);
				it->msg_off = UINT32_MAX;
			}
			if (!n_rate++)
				first_rate = (int32_t)i;
			continue;
		}
		if (item->err) {
			item_error(g, f, adapter, item->err, (int32_t)i, item->id, item->msg,
				   raw_kept ? NULL : data, len);
			raw_kept = true;
			continue;
		}
		if (who && !tn_registry_allows(who, item->ev.sector, item->ev.asset)) {
			if (item->ev.sector != TN_SECTOR_NONE &&
			    !(who->sectors & (1u << item->ev.sector)))
				snprintf(msg, sizeof msg,
					 "sector: \"%s\" is not allowed for adapter \"%s\"",
					 tn_sector_name(item->ev.sector), adapter);
			else
				snprintf(msg, sizeof msg,
					 "asset: \"%s\" is outside the asset prefixes of adapter \"%s\"",
					 item->ev.asset, adapter);
			item_error(g, f, adapter, TN_EFORBIDDEN, (int32_t)i, item->id, msg, NULL, 0);
			continue;
		}
		accept_event(g, f, adapter, (int32_t)i, &item->ev);
	}
	if (n_rate)
		rate_finish(g, f, who, peer, n_rate, first_rate,
			    zmq_msg_gets(body, "Peer-Address"), mono);
}

/* Read one multipart message from the ROUTER into a frame. false: none waiting. */
static bool read_one(struct tn_ingest *g)
{
	zmq_msg_t part[3];
	int n = 0, more = 1, extra = 0;

	zmq_msg_init(&part[0]);
	if (zmq_msg_recv(&part[0], g->router, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&part[0]);
		return false;
	}
	n = 1;
	more = zmq_msg_more(&part[0]);
	while (more) {
		zmq_msg_t m;
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, g->router, 0) < 0) {
			zmq_msg_close(&m);
			break;
		}
		more = zmq_msg_more(&m);
		if (n < 3)
			part[n++] = m;
		else {
			extra++;
			zmq_msg_close(&m);
		}
	}

	struct tn__frame *f = pool_get(g, false);
	/* pool_get cannot fail here: the caller checked before reading. */
	f->has_peer = true;
	f->recv_us = now_us();
	f->read_mono_us = mono_us();
	f->adapter_slot = TN__ADAPTER_UNKNOWN;
	const char *addr = zmq_msg_gets(&part[n - 1], "Peer-Address");
	snprintf(f->origin, sizeof f->origin, "%s", addr ? addr : "");
	size_t rid_len = zmq_msg_size(&part[0]);
	f->rid_len = (uint8_t)(rid_len < TN__RID_MAX ? rid_len : TN__RID_MAX - 1);
	memcpy(f->rid, zmq_msg_data(&part[0]), f->rid_len);

	if (n == 2 && !extra) {
		process_frame(g, f, &part[1]);
	} else if (n == 3 && !extra && zmq_msg_size(&part[1]) == 0) {
		f->delimiter = true; /* a REQ socket's envelope */
		process_frame(g, f, &part[2]);
	} else {
		item_error(g, f, NULL, TN_EDECODE, -1, NULL,
			   "expected exactly one frame (one event map or one batch array) per message",
			   NULL, 0);
	}
	for (int i = 0; i < n; i++)
		zmq_msg_close(&part[i]);
	submit(g, f);
	return true;
}

/* ---- replies --------------------------------------------------------------- */

static const char *frame_str(const struct tn__frame *f, uint32_t off)
{
	return off == UINT32_MAX ? NULL : f->strs.data + off;
}

/* Settle each item now that the frame is back from the committer. */
static void settle(struct tn_ingest *g, struct tn__frame *f, size_t *n_ok, size_t *n_dup,
		   size_t *n_err)
{
	*n_ok = *n_dup = *n_err = 0;
	for (size_t i = 0; i < f->n_items; i++) {
		struct tn__item *it = &f->items[i];
		const char *why = NULL;
		switch (it->kind) {
		case TN__ITEM_OK:
			if (it->rec < f->n_appended) {
				tn_dedup_set_state_ref(g->dedup, it->dedup_ref, it->key,
						       TN_DEDUP_DURABLE);
				STAT_INC(g, accepted);
				tn__stat_add(&g->adapters.slot[f->adapter_slot].accepted, 1);
			} else {
				tn_dedup_remove(g->dedup, it->key);
				why = f->result == TN_EFULL ? "journal full; retry later"
							    : "journal unavailable; retry later";
			}
			break;
		case TN__ITEM_DUP_PENDING:
			if (tn_dedup_lookup(g->dedup, it->key) == TN_DEDUP_DURABLE)
				it->kind = TN__ITEM_DUP;
			else
				why = "an earlier copy was not stored; retry later";
			break;
		default:
			break;
		}
		if (why) {
			it->kind = TN__ITEM_ERR;
			it->err = TN_EUNAVAILABLE;
			tn__frame_str(f, why, strlen(why), &it->msg_off);
			STAT_INC(g, rejected);
			ck_pr_inc_64(&g->st.rejected_by_code[-TN_EUNAVAILABLE - 1]);
			tn__adapter_rejected(&g->adapters, f->adapter_slot, TN_EUNAVAILABLE);
		}
		if (it->kind == TN__ITEM_OK)
			(*n_ok)++;
		else if (it->kind == TN__ITEM_DUP) {
			(*n_dup)++;
			STAT_INC(g, duplicates);
			tn__stat_add(&g->adapters.slot[f->adapter_slot].duplicates, 1);
		} else
			(*n_err)++;
	}
}

static void reply(struct tn_ingest *g, struct tn__frame *f)
{
	size_t n_ok, n_dup, n_err;
	msgpack_packer pk;

	settle(g, f, &n_ok, &n_dup, &n_err);
	if (!f->has_peer)
		return;
	msgpack_sbuffer_clear(&g->reply);
	msgpack_packer_init(&pk, &g->reply, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	pack_str(&pk, "ok");
	msgpack_pack_array(&pk, n_ok);
	for (size_t i = 0; i < f->n_items; i++)
		if (f->items[i].kind == TN__ITEM_OK)
			pack_str(&pk, frame_str(f, f->items[i].id_off));
	pack_str(&pk, "dup");
	msgpack_pack_array(&pk, n_dup);
	for (size_t i = 0; i < f->n_items; i++)
		if (f->items[i].kind == TN__ITEM_DUP)
			pack_str(&pk, frame_str(f, f->items[i].id_off));
	pack_str(&pk, "err");
	msgpack_pack_array(&pk, n_err);
	for (size_t i = 0; i < f->n_items; i++) {
		const struct tn__item *it = &f->items[i];
		if (it->kind != TN__ITEM_ERR)
			continue;
		msgpack_pack_map(&pk, 4);
		pack_str(&pk, "i");
		if (it->index < 0)
			msgpack_pack_nil(&pk);
		else
			msgpack_pack_int32(&pk, it->index);
		pack_str(&pk, "id");
		pack_str(&pk, frame_str(f, it->id_off));
		pack_str(&pk, "code");
		pack_str(&pk, tn_wire_code(it->err));
		pack_str(&pk, "msg");
		pack_str(&pk, frame_str(f, it->msg_off));
	}

	/* Before the send: an adapter that has its reply sees it counted. */
	tn__hist_observe(&g->st.ack_hist, (uint64_t)(mono_us() - f->read_mono_us) * 1000);
	int rc = zmq_send(g->router, f->rid, f->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT);
	if (rc >= 0 && f->delimiter)
		rc = zmq_send(g->router, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT);
	if (rc >= 0)
		rc = zmq_send(g->router, g->reply.data, g->reply.size, ZMQ_DONTWAIT);
	if (rc < 0) {
		/* Gone or not reading: the adapter retries and gets `dup`. */
		STAT_INC(g, reply_drops);
		tn_log_limited(&g->log_send, 1, TN_LOG_WARN, "reply not delivered",
			       "error=\"%s\"", zmq_strerror(errno));
	}
}

static bool handle_done(struct tn_ingest *g)
{
	struct tn__frame *f;
	bool any = false;
	while ((f = tn__ring_pop(&g->from_commit)) != NULL) {
		reply(g, f);
		peer_release(g, f);
		pool_put(g, f);
		any = true;
	}
	return any;
}

/*
 * Apply the reloads handed over (the newest settings win), then journal the
 * audit record of each; one that finds no free frame is held, and tried
 * again at the next pass (a frame comes back with every reply).
 */
static void handle_reload(struct tn_ingest *g)
{
	for (;;) {
		struct reload *r = g->reload_held;
		if (!r && !(r = tn__ring_pop(&g->reload_ring)))
			return;
		g->reload_held = NULL;
		if (r->has_settings) {
			bool rates = r->settings.rate != g->live.rate ||
				     r->settings.burst != g->live.burst;
			g->live = r->settings;
			if (rates && !g->insecure)
				rates_rebuild(g); /* buckets keep their level (ratelimit.h) */
			r->has_settings = false;
		}
		if (r->detail_len && !audit_with(g, r->action, r->subject, NULL, NULL, r->detail,
						 r->detail_len)) {
			g->reload_held = r;
			return;
		}
		free(r);
	}
}

static bool handle_registry(struct tn_ingest *g)
{
	struct tn_registry *r, *newest = NULL;
	while ((r = tn__ring_pop(&g->registry_ring)) != NULL) {
		tn_registry_free(newest);
		newest = r;
	}
	if (!newest)
		return false;
	tn_registry_free(g->reg);
	g->reg = newest;
	rates_rebuild(g);
	STAT_INC(g, registry_swaps);
	return true;
}

/* ---- the loop -------------------------------------------------------------- */

static void finish_if_drained(struct tn_ingest *g)
{
	if (g->draining && g->pool_free == g->pool_size)
		ev_break(g->loop, EVBREAK_ALL);
}

/*
 * Do everything that can be done now. ZMQ_FD is edge-triggered: every
 * socket is read until it says EAGAIN (or we choose to stop, in which case
 * a later completion calls pump again), so no notification is lost.
 */
static void pump(struct tn_ingest *g)
{
	for (;;) {
		bool progress = false;
		handle_reload(g);
		handle_registry(g);
		while (zap_one(g))
			progress = true;
		for (int n = 0; g->mon && n < MON_BURST && mon_one(g); n++)
			progress = true;
		if (handle_done(g))
			progress = true;
		if (!g->draining) {
			int burst = 0;
			while (burst < READ_BURST) {
				if (g->pool_free <= AUDIT_RESERVE) {
					STAT_INC(g, pool_stalls);
					break;
				}
				if (!read_one(g))
					break;
				burst++;
			}
			if (burst)
				progress = true;
		}
		if (!progress)
			break;
	}
	finish_if_drained(g);
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	pump(w->data);
}

static void on_async(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)loop;
	(void)revents;
	pump(w->data);
}

static void on_stop(struct ev_loop *loop, ev_async *w, int revents)
{
	struct tn_ingest *g = w->data;
	(void)loop;
	(void)revents;
	g->draining = true;
	pump(g);
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tn_ingest *g = w->data;
	(void)loop;
	(void)revents;
	int64_t s = now_us() / 1000000;
	tn_dedup_expire(g->dedup, s - g->cfg->horizon_s - g->live.max_future_s);
	ck_pr_store_64(&g->st.loop_clock_s, mono_s());
	tn__hs_tick(&g->hs, (int64_t)(mono_s() / HS_WINDOW_S), hs_emit, g);
	pump(g);
}

static void *ingest_main(void *arg)
{
	struct tn_ingest *g = arg;
	tn__thread_setup("tn-ingest", 0);
	ev_run(g->loop, 0);
	return NULL;
}

/* ---- set-up ---------------------------------------------------------------- */

#define SETOPT(sock, opt, val)                                                        \
	do {                                                                          \
		int v_ = (val);                                                       \
		if (zmq_setsockopt(sock, opt, &v_, sizeof v_) != 0) {                  \
			snprintf(err, errlen, "zmq_setsockopt(%s): %s", #opt,          \
				 zmq_strerror(errno));                                  \
			goto fail;                                                    \
		}                                                                     \
	} while (0)

int tn_ingest_open(const struct tn_config *cfg, const char *server_secret,
		   struct tn_registry *registry, struct tn_dedup *dedup, struct tn_ingest **out,
		   char *err, size_t errlen)
{
	struct tn_ingest *g = calloc(1, sizeof *g);
	if (!g)
		return TN_ENOMEM;
	g->cfg = cfg;
	g->insecure = cfg->insecure;
	g->reg = registry;
	g->dedup = dedup;
	g->live = (struct tn_ingest_settings){.rate = cfg->rate,
					      .burst = cfg->burst,
					      .inflight_per_key = cfg->inflight_per_key,
					      .max_future_s = cfg->max_future_s};
	tn__adapter_table_init(&g->adapters);
	msgpack_sbuffer_init(&g->reply);
	if (rates_rebuild(g) != 0) {
		snprintf(err, errlen, "out of memory");
		g->reg = NULL;
		msgpack_sbuffer_destroy(&g->reply);
		free(g);
		return TN_ENOMEM;
	}

	g->pool_size = (size_t)cfg->inflight_frames + AUDIT_RESERVE;
	g->pool = calloc(g->pool_size, sizeof *g->pool);
	if (!g->pool || tn__ring_init(&g->to_commit, (unsigned)g->pool_size) != 0 ||
	    tn__ring_init(&g->from_commit, (unsigned)g->pool_size) != 0 ||
	    tn__ring_init(&g->registry_ring, 4) != 0 || tn__ring_init(&g->reload_ring, 4) != 0 ||
	    tn_wire_decoder_new(&g->dec) != 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < g->pool_size; i++) {
		g->pool[i] = calloc(1, sizeof **g->pool);
		if (!g->pool[i]) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		g->pool_free++;
	}

	g->ctx = zmq_ctx_new();
	if (!g->ctx) {
		snprintf(err, errlen, "zmq_ctx_new: %s", zmq_strerror(errno));
		goto fail;
	}
	/* The ZAP handler first: until it is bound, libzmq admits any client. */
	g->zap = zmq_socket(g->ctx, ZMQ_REP);
	if (!g->zap || zmq_bind(g->zap, ZAP_ENDPOINT) != 0) {
		snprintf(err, errlen, "cannot bind the zap handler: %s", zmq_strerror(errno));
		goto fail;
	}
	SETOPT(g->zap, ZMQ_LINGER, 0);

	g->router = zmq_socket(g->ctx, ZMQ_ROUTER);
	if (!g->router) {
		snprintf(err, errlen, "zmq_socket: %s", zmq_strerror(errno));
		goto fail;
	}
	if (zmq_setsockopt(g->router, ZMQ_ZAP_DOMAIN, ZAP_DOMAIN, strlen(ZAP_DOMAIN)) != 0) {
		snprintf(err, errlen, "zmq_setsockopt(ZMQ_ZAP_DOMAIN): %s", zmq_strerror(errno));
		goto fail;
	}
	if (!cfg->insecure) {
		SETOPT(g->router, ZMQ_CURVE_SERVER, 1);
		if (zmq_setsockopt(g->router, ZMQ_CURVE_SECRETKEY, server_secret,
				   TN_KEY_Z85_LEN) != 0) {
			snprintf(err, errlen, "zmq_setsockopt(ZMQ_CURVE_SECRETKEY): %s",
				 zmq_strerror(errno));
			goto fail;
		}
	}
	/* libzmq applies ZMQ_MAXMSGSIZE to the CURVE MESSAGE command, which
	 * wraps the frame in 33 bytes (command name, nonce, MAC, flags): without
	 * them a frame of exactly max_frame_bytes would be cut off. The decoder
	 * still refuses anything over TN_WIRE_MAX_FRAME. */
	int64_t maxmsg = cfg->max_frame_bytes + (cfg->insecure ? 0 : 33);
	if (zmq_setsockopt(g->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0) {
		snprintf(err, errlen, "zmq_setsockopt(ZMQ_MAXMSGSIZE): %s", zmq_strerror(errno));
		goto fail;
	}
	SETOPT(g->router, ZMQ_HANDSHAKE_IVL, cfg->handshake_ivl_ms);
	SETOPT(g->router, ZMQ_RCVHWM, cfg->rcvhwm);
	SETOPT(g->router, ZMQ_SNDHWM, cfg->sndhwm);
	SETOPT(g->router, ZMQ_ROUTER_MANDATORY, 1);
	SETOPT(g->router, ZMQ_LINGER, 0);
	/* Before the bind: no connection goes unseen. One monitor per socket
	 * (libzmq): this one, read by the ingest thread, which audits failed
	 * handshakes and counts connections for the metrics. */
	g->fd_addr = calloc(MON_FDS, sizeof *g->fd_addr);
	if (!g->fd_addr) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	tn__hs_init(&g->hs, (int64_t)(mono_s() / HS_WINDOW_S));
	if (zmq_socket_monitor(g->router, MON_ENDPOINT,
			       ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED |
				       ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
				       ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
				       ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
				       ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0 ||
	    !(g->mon = zmq_socket(g->ctx, ZMQ_PAIR)) || zmq_connect(g->mon, MON_ENDPOINT) != 0) {
		snprintf(err, errlen, "cannot monitor the ingest socket: %s", zmq_strerror(errno));
		goto fail;
	}
	SETOPT(g->mon, ZMQ_LINGER, 0);
	if (zmq_bind(g->router, cfg->ingest_endpoint) != 0) {
		snprintf(err, errlen, "cannot bind ingest endpoint %s: %s", cfg->ingest_endpoint,
			 zmq_strerror(errno));
		goto fail;
	}
	*out = g;
	return 0;
fail:
	if (g->mon)
		zmq_close(g->mon);
	free(g->fd_addr);
	if (g->router)
		zmq_close(g->router);
	if (g->zap)
		zmq_close(g->zap);
	if (g->ctx)
		zmq_ctx_term(g->ctx);
	g->reg = NULL; /* the caller keeps what it passed on failure */
	g->dedup = NULL;
	if (g->pool)
		for (size_t i = 0; i < g->pool_size; i++)
			tn__frame_free(g->pool[i]);
	free(g->pool);
	tn__ring_destroy(&g->to_commit);
	tn__ring_destroy(&g->from_commit);
	tn__ring_destroy(&g->registry_ring);
	tn__ring_destroy(&g->reload_ring);
	tn_wire_decoder_free(g->dec);
	msgpack_sbuffer_destroy(&g->reply);
	tn_rate_table_free(&g->rates);
	free(g);
	return TN_EZMQ;
}

static int watch_fd(struct tn_ingest *g, void *sock, ev_io *w)
{
	int fd;
	size_t len = sizeof fd;
	if (zmq_getsockopt(sock, ZMQ_FD, &fd, &len) != 0)
		return TN_EZMQ;
	ev_io_init(w, on_io, fd, EV_READ);
	w->data = g;
	ev_io_start(g->loop, w);
	return 0;
}

int tn_ingest_run(struct tn_ingest *g, const struct tn_ingest_run_opts *o)
{
	g->loop = ev_loop_new(EVFLAG_AUTO);
	if (!g->loop)
		return TN_ENOMEM;
	ev_async_init(&g->done_async, on_async);
	g->done_async.data = g;
	ev_async_start(g->loop, &g->done_async);
	ev_async_init(&g->registry_async, on_async);
	g->registry_async.data = g;
	ev_async_start(g->loop, &g->registry_async);
	ev_async_init(&g->stop_async, on_stop);
	g->stop_async.data = g;
	ev_async_start(g->loop, &g->stop_async);
	ev_timer_init(&g->tick, on_tick, 1., 1.);
	g->tick.data = g;
	ck_pr_store_64(&g->st.loop_clock_s, mono_s());
	ev_timer_start(g->loop, &g->tick);
	if (watch_fd(g, g->zap, &g->zap_io) != 0 || watch_fd(g, g->router, &g->router_io) != 0 ||
	    watch_fd(g, g->mon, &g->mon_io) != 0)
		return TN_EZMQ;

	struct tn_committer_opts co = {
		.journal = o->journal,
		.in = &g->to_commit,
		.out = &g->from_commit,
		.tick_ms = o->tick_ms,
		.done_loop = g->loop,
		.done_async = &g->done_async,
		.group_commit_us = g->cfg->group_commit_us,
		.retain_s = g->cfg->retain_s,
		.stored = o->consumed,
		.stored_ud = o->consumed_ud,
		.on_fatal = o->on_fatal,
		.fatal_ud = o->fatal_ud,
		.durable = o->durable,
	};
	memcpy(co.lanes, o->lanes, sizeof co.lanes);
	int rc = tn_committer_start(&co, &g->committer);
	if (rc != 0)
		return rc;
	if (pthread_create(&g->thread, NULL, ingest_main, g) != 0) {
		tn_committer_stop(g->committer);
		g->committer = NULL;
		return TN_ENOMEM;
	}
	g->running = true;
	/* Kick once: connections may have queued before the watchers existed. */
	ev_async_send(g->loop, &g->done_async);
	return 0;
}

bool tn_ingest_publish_registry(void *ud, struct tn_registry *r)
{
	struct tn_ingest *g = ud;
	if (!tn__ring_push(&g->registry_ring, r))
		return false;
	if (g->loop)
		ev_async_send(g->loop, &g->registry_async);
	return true;
}

int tn_ingest_reload(struct tn_ingest *g, const struct tn_ingest_settings *s,
		     const char *action, const char *subject, const void *detail,
		     size_t detail_len)
{
	struct reload *r = malloc(sizeof *r + detail_len);
	if (!r)
		return TN_ENOMEM;
	r->has_settings = s != NULL;
	if (s)
		r->settings = *s;
	snprintf(r->action, sizeof r->action, "%s", action ? action : "");
	snprintf(r->subject, sizeof r->subject, "%s", subject ? subject : "");
	r->detail_len = detail ? detail_len : 0;
	if (r->detail_len)
		memcpy(r->detail, detail, detail_len);
	if (!tn__ring_push(&g->reload_ring, r)) {
		free(r);
		return TN_EFULL;
	}
	if (g->loop)
		ev_async_send(g->loop, &g->registry_async);
	return 0;
}

void tn_ingest_stats(const struct tn_ingest *g, struct tn_ingest_stats *out)
{
	const uint64_t *src = (const uint64_t *)&g->st;
	uint64_t *dst = (uint64_t *)out;
	for (size_t i = 0; i < sizeof *out / sizeof(uint64_t); i++)
		dst[i] = ck_pr_load_64(&src[i]);
	out->ring_to_commit = tn__ring_depth((struct tn__ring *)&g->to_commit);
	out->ring_from_commit = tn__ring_depth((struct tn__ring *)&g->from_commit);
}

void tn_ingest_committer_stats(const struct tn_ingest *g, struct tn_committer_stats *out)
{
	tn_committer_stats(g->committer, out);
}

const struct tn__adapter_table *tn_ingest_adapters(const struct tn_ingest *g)
{
	return &g->adapters;
}

void tn_ingest_wake_committer(void *ud)
{
	struct tn_ingest *g = ud;
	tn_committer_wake(g->committer);
}

void tn_ingest_quiesce(struct tn_ingest *g)
{
	if (!g || !g->running)
		return;
	ev_async_send(g->loop, &g->stop_async);
	pthread_join(g->thread, NULL);
	g->running = false;
}

void tn_ingest_stop(struct tn_ingest *g, int linger_ms)
{
	if (!g)
		return;
	tn_ingest_quiesce(g);
	struct tn_ingest_stats st;
	tn_ingest_stats(g, &st);
	tn_info("ingest stopped",
		"frames=%llu events=%llu accepted=%llu duplicates=%llu rejected=%llu "
		"rate_refused=%llu rate_refused_frames=%llu inflight_refused=%llu "
		"pool_stalls=%llu rejects_not_kept=%llu",
		(unsigned long long)st.frames, (unsigned long long)st.events,
		(unsigned long long)st.accepted, (unsigned long long)st.duplicates,
		(unsigned long long)st.rejected, (unsigned long long)st.rate_refused,
		(unsigned long long)st.rate_refused_frames,
		(unsigned long long)st.inflight_refused, (unsigned long long)st.pool_stalls,
		(unsigned long long)st.rejects_not_kept);
	tn_committer_stop(g->committer);
	/* Frames the committer finished after the loop ended (none expected). */
	struct tn__frame *f;
	while ((f = tn__ring_pop(&g->from_commit)) != NULL)
		pool_put(g, f);
	/* The last replies are queued: let them out, for a bounded time. */
	if (linger_ms > 0)
		zmq_setsockopt(g->router, ZMQ_LINGER, &linger_ms, sizeof linger_ms);
	zmq_close(g->mon);
	zmq_close(g->router);
	zmq_close(g->zap);
	zmq_ctx_term(g->ctx);
	free(g->fd_addr);
	if (g->loop)
		ev_loop_destroy(g->loop);
	for (size_t i = 0; i < g->pool_free; i++)
		tn__frame_free(g->pool[i]);
	free(g->pool);
	struct tn_registry *r;
	struct reload *r2;
	while ((r = tn__ring_pop(&g->registry_ring)) != NULL)
		tn_registry_free(r);
	tn_registry_free(g->reg);
	free(g->reload_held);
	while (g->reload_ring.buf && (r2 = tn__ring_pop(&g->reload_ring)) != NULL)
		free(r2);
	tn__ring_destroy(&g->reload_ring);
	tn_rate_table_free(&g->rates);
	tn_dedup_free(g->dedup);
	tn__ring_destroy(&g->to_commit);
	tn__ring_destroy(&g->from_commit);
	tn__ring_destroy(&g->registry_ring);
	tn_wire_decoder_free(g->dec);
	msgpack_sbuffer_destroy(&g->reply);
	free(g);
}
