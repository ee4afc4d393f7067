/*
 * poll.c - the adapter's I/O engine: frames out, replies in, retries.
 *
 * Matching a reply to what it answers. A DEALER gets its replies in the
 * order it sent its frames, but a reply can be lost (the server restarted
 * after reading a frame), so order alone cannot be trusted: a reply is
 * matched by the ids it names. Its frame is the one holding an in-flight
 * event named by the reply; a reply that names no id at all (a frame-level
 * error such as E_DECODE) goes to the oldest frame in flight. Events of
 * that frame the reply does not mention are resent, as design §3.1 asks.
 * An id answered "ok" or "dup" resolves its event wherever it is (even
 * waiting to be resent after a timeout), so a late reply is never wasted.
 * The one guess is the frame-level error: should the reply to an older frame
 * have been lost, it is charged to that frame; at worst an event is resent
 * needlessly (a "dup") or reported with the error of its neighbour frame.
 *
 * Retries: a frame unanswered after retry_timeout_ms is resent at once (the
 * server deduplicates). An E_RATE / E_UNAVAILABLE answer makes the whole
 * adapter hold off, with exponential back-off and jitter, since the server
 * is telling us it is busy, not that this event is wrong.
 */
#include "adapter_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define BACKOFF_MIN_MS   100
#define REPLIES_PER_POLL 256 /* replies read per wake-up, so a flood cannot starve sending */

/* xorshift64*; jitter only, not security. */
static uint64_t rnd(struct tn_adapter *a)
{
	a->rng ^= a->rng >> 12;
	a->rng ^= a->rng << 25;
	a->rng ^= a->rng >> 27;
	return a->rng * 2685821657736338717ull;
}

/* Uniform in [d/2, d]: adapters told "busy" at the same moment do not return together. */
static int64_t jitter(struct tn_adapter *a, int64_t d)
{
	return d / 2 + (int64_t)(rnd(a) % (uint64_t)(d / 2 + 1));
}

/* Wire code -> TN_E*, over the one table; 0 when unknown. */
static int code_of(const char *s, size_t len)
{
	for (int e = -1; e >= -TN__ERROR_COUNT; e--) {
		const char *w = tn_wire_code(e);
		if (w && strlen(w) == len && memcmp(w, s, len) == 0)
			return e;
	}
	return 0;
}

/* Copy at most cap-1 bytes of peer text, stopping at a NUL, control characters replaced. */
static void copy_text(char *dst, size_t cap, const char *src, size_t len)
{
	size_t n = 0;

	for (; src && n < len && n + 1 < cap && src[n]; n++)
		dst[n] = ((unsigned char)src[n] < 0x20 || src[n] == 0x7f) ? '?' : src[n];
	dst[n] = '\0';
}

static void resolve(struct tn_adapter *a, uint32_t s, int status, const char *code, size_t code_len,
		    const char *msg, size_t msg_len)
{
	struct tn__slot *sl = &a->slots[s];
	char c[TN__RESULT_CODE], m[TN__RESULT_MSG];
	bool tell = a->on_result && (!sl->heartbeat || status < 0);

	if (status < 0) {
		copy_text(c, sizeof c, code, code_len);
		copy_text(m, sizeof m, msg, msg_len);
	}
	if (sl->heartbeat) {
		if (status < 0)
			tn_log_limited(&a->log_slot, 1, TN_LOG_WARN, "heartbeat refused",
				       "code=\"%s\" msg=\"%s\"", tn_logq(c), tn_logq(m));
	} else if (status == TN_ADAPTER_OK) {
		a->st.ok++;
	} else if (status == TN_ADAPTER_DUP) {
		a->st.dup++;
	} else {
		a->st.failed++;
	}
	if (tell) {
		a->in_cb = true;
		a->on_result(a->ud, tn__slot_id(sl), status, status < 0 ? c : NULL,
			     status < 0 ? m : NULL);
		a->in_cb = false;
	}
	tn__slot_release(a, s);
}

/* An in-flight event goes back to the pending list; a heartbeat is dropped instead. */
static void retry(struct tn_adapter *a, uint32_t s)
{
	if (a->slots[s].heartbeat) {
		a->st.hb_lost++;
		tn__slot_release(a, s);
		return;
	}
	tn__slot_requeue(a, s);
}

static void heartbeat_tick(struct tn_adapter *a, int64_t now)
{
	struct tn_event ev = {0};
	char id[64];
	size_t id_len, enc_len;
	char *buf;
	uint32_t s;

	if (a->heartbeat_ms <= 0 || now < a->next_hb)
		return;
	a->next_hb = now + a->heartbeat_ms;
	if (a->slots[a->hb_slot].state == TN__PENDING) {
		/* Never sent (server away or backing off): a fresh one replaces it. */
		a->st.hb_lost++;
		tn__slot_release(a, a->hb_slot);
	}
	s = tn__slot_alloc(a, true);
	if (s == TN__NONE) {
		a->st.hb_skipped++;
		return;
	}
	ev.time_us = tn_adapter_now_us();
	snprintf(id, sizeof id, "hb-%lld-%u", (long long)(ev.time_us / 1000), ++a->hb_count);
	ev.id = id;
	ev.source = a->hb_source;
	ev.type = TN_EV_HEARTBEAT;
	ev.sector = TN_SECTOR_NONE;
	if (tn__encode(a, &ev, &buf, &id_len, &enc_len) != 0) {
		a->st.hb_skipped++;
		return;
	}
	tn__slot_queue(a, s, buf, id_len, enc_len);
	a->st.heartbeats++;
}

static void expire(struct tn_adapter *a, int64_t now)
{
	for (unsigned k = 0; k < a->max_inflight; k++) {
		struct tn__frame *f = &a->frames[k];

		if (!f->used || now - f->sent_ms < a->retry_ms)
			continue;
		a->st.timeouts++;
		tn_log_limited(&a->log_slot, 1, TN_LOG_WARN, "no reply from server; resending",
			       "endpoint=\"%s\" events=%u timeout_ms=%d", tn_logq(a->endpoint),
			       f->n, a->retry_ms);
		for (uint32_t i = 0; i < f->n; i++)
			if (tn__member_live(a, &f->m[i], f->fseq))
				retry(a, f->m[i].slot);
		tn__frame_release(a, f);
	}
}

static int ensure_fbuf(struct tn_adapter *a, size_t need)
{
	char *p;

	if (need <= a->fbuf_cap)
		return 0;
	p = realloc(a->fbuf, need);
	if (!p)
		return TN_ENOMEM;
	a->fbuf = p;
	a->fbuf_cap = need;
	return 0;
}

/* Write pending events as frames until none is left, the window is full or the socket is. */
static int send_pending(struct tn_adapter *a, int64_t now)
{
	if (now < a->hold_until)
		return 0;
	while (a->pend_head != TN__NONE) {
		uint32_t members[TN_WIRE_MAX_BATCH];
		uint32_t n = 0, s;
		size_t total = 0, len;
		const char *data;
		struct tn__frame *f;

		if (a->n_frames >= a->max_inflight)
			return 0;
		for (s = a->pend_head; s != TN__NONE && n < a->max_batch; s = a->slots[s].next) {
			if (total + a->slots[s].enc_len > TN_WIRE_MAX_FRAME - TN__FRAME_HEADROOM)
				break;
			members[n++] = s;
			total += a->slots[s].enc_len;
		}
		if (n == 1) {
			data = tn__slot_enc(&a->slots[members[0]]);
			len = total;
		} else {
			char *p;
			if (ensure_fbuf(a, total + TN__FRAME_HEADROOM) != 0) {
				tn__set_error(a, "frame buffer: out of memory");
				return TN_ENOMEM;
			}
			p = a->fbuf;
			if (n < 16) {
				*p++ = (char)(0x90 | n);
			} else {
				*p++ = (char)0xdc;
				*p++ = (char)(n >> 8);
				*p++ = (char)(n & 0xff);
			}
			for (uint32_t i = 0; i < n; i++) {
				const struct tn__slot *sl = &a->slots[members[i]];
				memcpy(p, tn__slot_enc(sl), sl->enc_len);
				p += sl->enc_len;
			}
			data = a->fbuf;
			len = (size_t)(p - a->fbuf);
		}
		if (zmq_send(a->sock, data, len, ZMQ_DONTWAIT) < 0) {
			if (errno == EAGAIN) {
				a->blocked = true; /* not connected, or the server's pipe is full */
				return 0;
			}
			if (errno == EINTR)
				return 0;
			tn__set_error(a, "send: %s", zmq_strerror(errno));
			return TN_EZMQ;
		}
		a->blocked = false;
		f = tn__frame_alloc(a);
		f->sent_ms = now;
		for (uint32_t i = 0; i < n; i++) {
			struct tn__slot *sl = &a->slots[members[i]];
			if (sl->attempts > 0)
				a->st.resent++;
			tn__slot_dispatch(a, members[i], f->fseq);
			f->m[i].slot = members[i];
			f->m[i].gen = sl->gen;
		}
		f->n = n;
		a->st.frames_sent++;
		a->st.events_sent += n;
	}
	return 0;
}

/* The frame a reply answers (see the top of this file), or NULL. */
static struct tn__frame *reply_frame(struct tn_adapter *a, const struct tn__reply *r)
{
	bool named = false;
	uint32_t s;

	for (int pass = 0; pass < 3; pass++) {
		const msgpack_object *v = pass == 0 ? r->ok : r->dup;
		size_t n = pass == 0 ? r->n_ok : pass == 1 ? r->n_dup : r->n_err;

		for (size_t k = 0; k < n; k++) {
			const char *id;
			size_t len;
			if (pass < 2) {
				id = v[k].via.str.ptr;
				len = v[k].via.str.size;
			} else {
				struct tn__reply_err e;
				tn__reply_err_at(r, k, &e);
				if (!e.id)
					continue;
				id = e.id;
				len = e.id_len;
			}
			named = true;
			s = tn__slot_find(a, id, len, 0);
			if (s != TN__NONE && a->slots[s].state == TN__INFLIGHT)
				return tn__frame_find(a, a->slots[s].fseq);
		}
	}
	return named ? NULL : tn__frame_oldest(a);
}

static bool in_frame(const struct tn_adapter *a, uint32_t s, const struct tn__frame *f)
{
	return f && a->slots[s].state == TN__INFLIGHT && a->slots[s].fseq == f->fseq;
}

/* Apply one error, to slot s; returns whether it was transient. */
static bool apply_err(struct tn_adapter *a, uint32_t s, const struct tn__reply_err *e,
		      const struct tn__frame *f)
{
	int code = code_of(e->code, e->code_len);

	if (code == TN_ERATE || code == TN_EUNAVAILABLE) {
		a->st.transient++;
		/* Only this frame's reply says whether this copy was refused. */
		if (!in_frame(a, s, f)) {
			a->st.stale++;
			return false;
		}
		retry(a, s);
		return true;
	}
	resolve(a, s, code ? code : TN_EINVAL, e->code, e->code_len, e->msg,
		e->msg ? e->msg_len : 0);
	return false;
}

static void handle_reply(struct tn_adapter *a, const void *data, size_t len, int64_t now)
{
	struct tn__reply r;
	struct tn__reply_err frame_err;
	bool has_frame_err = false, any_ok = false, any_transient = false;
	struct tn__frame *f;
	uint64_t fseq;
	char why[128];

	a->st.replies++;
	if (tn__reply_parse(&r, data, len, why, sizeof why) != 0) {
		a->st.bad_replies++;
		tn_log_limited(&a->log_slot, 1, TN_LOG_WARN, "malformed reply ignored",
			       "endpoint=\"%s\" bytes=%zu why=\"%s\"", tn_logq(a->endpoint), len,
			       tn_logq(why));
		tn__reply_done(&r);
		return;
	}
	f = reply_frame(a, &r);
	fseq = f ? f->fseq : 0;

	for (int pass = 0; pass < 2; pass++) {
		const msgpack_object *v = pass == 0 ? r.ok : r.dup;
		size_t n = pass == 0 ? r.n_ok : r.n_dup;

		for (size_t k = 0; k < n; k++) {
			uint32_t s = tn__slot_find(a, v[k].via.str.ptr, v[k].via.str.size, fseq);
			if (s == TN__NONE) {
				a->st.stale++;
				continue;
			}
			any_ok = true;
			resolve(a, s, pass == 0 ? TN_ADAPTER_OK : TN_ADAPTER_DUP, NULL, 0, NULL, 0);
		}
	}
	for (size_t k = 0; k < r.n_err; k++) {
		struct tn__reply_err e;
		uint32_t s = TN__NONE;

		tn__reply_err_at(&r, k, &e);
		if (e.id) {
			s = tn__slot_find(a, e.id, e.id_len, fseq);
		} else if (e.has_i) {
			if (f && e.i < f->n && tn__member_live(a, &f->m[e.i], fseq))
				s = f->m[e.i].slot;
		} else {
			/* frame-level: applies below to what the reply does not mention */
			if (!has_frame_err) {
				frame_err = e;
				has_frame_err = true;
			}
			continue;
		}
		if (s == TN__NONE) {
			a->st.stale++;
			continue;
		}
		any_transient |= apply_err(a, s, &e, f);
	}
	if (f) {
		/* Whatever is still in flight in this frame was not mentioned. */
		for (uint32_t i = 0; i < f->n; i++) {
			if (!tn__member_live(a, &f->m[i], fseq))
				continue;
			if (has_frame_err) {
				any_transient |= apply_err(a, f->m[i].slot, &frame_err, f);
			} else {
				a->st.unanswered++;
				retry(a, f->m[i].slot);
			}
		}
		tn__frame_release(a, f);
	} else if (has_frame_err) {
		a->st.stale++;
	}
	if (any_transient) {
		a->backoff_ms = a->backoff_ms ? a->backoff_ms * 2 : BACKOFF_MIN_MS;
		if (a->backoff_ms > a->backoff_max_ms)
			a->backoff_ms = a->backoff_max_ms;
		a->hold_until = now + jitter(a, a->backoff_ms);
	} else if (any_ok) {
		a->backoff_ms = 0;
	}
	tn__reply_done(&r);
}

/* Read every reply available (up to REPLIES_PER_POLL); returns how many, or TN_EZMQ. */
static int read_replies(struct tn_adapter *a)
{
	int got = 0;

	while (got < REPLIES_PER_POLL) {
		zmq_msg_t msg;
		bool more;

		zmq_msg_init(&msg);
		if (zmq_msg_recv(&msg, a->sock, ZMQ_DONTWAIT) < 0) {
			int e = errno;
			zmq_msg_close(&msg);
			if (e == EAGAIN || e == EINTR)
				break;
			tn__set_error(a, "recv: %s", zmq_strerror(e));
			return TN_EZMQ;
		}
		more = zmq_msg_more(&msg);
		if (!more)
			handle_reply(a, zmq_msg_data(&msg), zmq_msg_size(&msg), tn__now_ms());
		zmq_msg_close(&msg);
		if (more) {
			/* A reply is one frame: drop all parts of anything else. */
			a->st.replies++;
			a->st.bad_replies++;
			do {
				zmq_msg_init(&msg);
				if (zmq_msg_recv(&msg, a->sock, ZMQ_DONTWAIT) < 0) {
					zmq_msg_close(&msg);
					break;
				}
				more = zmq_msg_more(&msg);
				zmq_msg_close(&msg);
			} while (more);
			tn_log_limited(&a->log_slot, 1, TN_LOG_WARN, "malformed reply ignored",
				       "endpoint=\"%s\" why=\"multipart\"", tn_logq(a->endpoint));
		}
		got++;
	}
	return got;
}

static int64_t min64(int64_t x, int64_t y)
{
	return x < y ? x : y;
}

int tn_adapter_poll(struct tn_adapter *a, int timeout_ms)
{
	int64_t now, end;
	int rc;

	if (!a || timeout_ms < 0 || a->in_cb)
		return TN_EINVAL;
	a->last_error[0] = '\0';
	end = tn__now_ms() + timeout_ms;
	for (;;) {
		zmq_pollitem_t it = {.socket = a->sock, .events = ZMQ_POLLIN};
		int64_t wake = end;

		now = tn__now_ms();
		heartbeat_tick(a, now);
		expire(a, now);
		if ((rc = send_pending(a, now)))
			return rc;

		for (unsigned k = 0; k < a->max_inflight; k++)
			if (a->frames[k].used)
				wake = min64(wake, a->frames[k].sent_ms + a->retry_ms);
		if (a->heartbeat_ms > 0)
			wake = min64(wake, a->next_hb);
		if (a->n_pending && a->n_frames < a->max_inflight) {
			if (now < a->hold_until)
				wake = min64(wake, a->hold_until);
			else if (a->blocked)
				it.events |= ZMQ_POLLOUT;
		}
		wake = min64(wake, end);
		if (zmq_poll(&it, 1, (long)(wake > now ? wake - now : 0)) < 0) {
			if (errno == EINTR)
				return 0;
			tn__set_error(a, "poll: %s", zmq_strerror(errno));
			return TN_EZMQ;
		}
		if (it.revents & ZMQ_POLLIN) {
			rc = read_replies(a);
			if (rc < 0)
				return rc;
			if (rc > 0) {
				/* Resolved events may have freed the window: use it now. */
				return send_pending(a, tn__now_ms());
			}
		}
		if (tn__now_ms() >= end)
			return 0;
	}
}

int tn_adapter_flush(struct tn_adapter *a, int timeout_ms)
{
	int64_t end, now;
	int rc;

	if (!a || timeout_ms < 0 || a->in_cb)
		return TN_EINVAL;
	end = tn__now_ms() + timeout_ms;
	while (a->n_user > 0) {
		now = tn__now_ms();
		if (now >= end) {
			tn__set_error(a, "%zu events still without a result after %d ms", a->n_user,
				      timeout_ms);
			return TN_ETIMEDOUT;
		}
		if ((rc = tn_adapter_poll(a, (int)(end - now))))
			return rc;
	}
	return 0;
}
