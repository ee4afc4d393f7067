/*
 * cmd_watch.c - `tocsin watch`: a live terminal console for an operator
 * (docs/control-rooms.md "tocsin watch"). The model is tools/watch.h; this
 * file is the sockets and the screen.
 *
 *   tocsin watch [--alerts E] [--control E] --key NAME.key --server-key SERVER.pub
 *                [--operator NAME]
 *
 * One thread, one zmq_poll over the SUB (alerts), the DEALER (control), the
 * SUB's monitor (to see it reconnect) and the terminal. At most one control
 * request is in flight; a reply that does not come within REPLY_MS replaces
 * the DEALER (a late reply cannot be taken for a later one) and is retried.
 *
 * Exit status: 0 after `q`, 1 when it could not start (keys, terminal,
 * sockets), 2 usage.
 */
#include <curses.h>
#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "cli.h"
#include "keys.h"
#include "sim_opt.h"
#include "tocsin/error.h"
#include "tocsin/event.h"
#include "utf8.h"
#include "watch.h"

#define REPLY_MS      5000          /* a control reply, or the DEALER is replaced */
#define RETRY_MS      1000          /* after an error or no reply */
#define QUIET_MS      10000         /* no alert this long: since, to be sure */
#define TICK_MS       250           /* the clock, countdowns, fades */
#define DRAW_MS       100           /* at most ten redraws a second */
#define ALERTS_TURN   1000          /* alerts read between two looks at the keyboard */
#define ALERT_MAX     (16u << 20)   /* bytes of an alert (ZMQ_MAXMSGSIZE) */
#define REPLY_MAX     (64u << 20)   /* bytes of a control reply (a snapshot) */
#define ALERT_OBJECTS (1u << 20)    /* MessagePack objects of an alert */
#define REPLY_OBJECTS (4u << 20)    /* of a control reply */
#define OPERATOR_MAX  128
#define LINE_MAX_COLS 512           /* bytes of a screen line */
#define LINES_MAX     4000          /* lines of the incident list, rendered */
#define TREE_BRIEF    3             /* tree lines of an incident not selected */
#define RISK_FULL     8             /* at most, at-risk lines of the selected incident */
#define INDENT_MAX    12            /* tree levels drawn; deeper ones are flattened */
#define MON_ENDPOINT  "inproc://tocsin-watch-sub-monitor"

enum op { OP_NONE, OP_SNAPSHOT, OP_SINCE, OP_ACK };
enum why { WHY_START, WHY_RECONNECT, WHY_GAP, WHY_QUIET };

struct watch {
	struct tn__watch m;
	const char *alerts_ep, *control_ep, *operator;
	char srv[TN_KEY_Z85_LEN + 1], pub[TN_KEY_Z85_LEN + 1], sec[TN_KEY_Z85_LEN + 1];
	/* two lanes (docs/control-rooms.md): urgent (P1, P2, escalations) and
	 * the rest, so that a flood of lesser alerts never holds up a life-safety
	 * one in a queue; the monitor watches the bulk lane */
	void *ctx, *urgent, *sub, *ctl, *mon;
	msgpack_zone zone;

	/* the SUB's connection, as its monitor says */
	bool sub_up, sub_was_up;
	/* the control request in flight */
	enum op op;
	uint64_t req_id;
	int64_t sent_ms, retry_at_ms;
	bool ctl_ok;
	/* what is to be asked */
	bool need_snapshot, need_since, have_snapshot;
	char ack_id[TN__WATCH_ID];
	uint32_t ack_rev;
	/* a catch-up in progress, for what the screen says when it ends */
	enum why why;
	uint64_t gap_lo, gap_hi;
	uint32_t caught;
	uint64_t lost;
	bool gapless;
	bool again; /* reconnected during a since: ask once more when it ends */
	int64_t last_alert_ms;

	/* the screen */
	char sel[TN__WATCH_ID]; /* the selected incident */
	bool explain;           /* the explanation of sel is open */
	int scroll;             /* of the explanation */
	char note[2][LINE_MAX_COLS]; /* the last two things said, newest in [1] */
	bool dirty;
};

struct line {
	char text[LINE_MAX_COLS];
	int attr;
	int inc; /* index of the incident it belongs to */
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int64_t wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "HH:MM:SS" UTC of a time in µs, "?" without one. */
static void hms(char *buf, size_t len, int64_t us)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;

	if (us == TN__WATCH_NO_TIME || !gmtime_r(&t, &tm))
		snprintf(buf, len, "?");
	else
		strftime(buf, len, "%H:%M:%S", &tm);
}

static void note(struct watch *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct watch *w, const char *fmt, ...)
{
	char t[16];
	va_list ap;
	int n;

	memcpy(w->note[0], w->note[1], sizeof w->note[0]);
	hms(t, sizeof t, wall_us());
	n = snprintf(w->note[1], sizeof w->note[1], "%s ", t);
	va_start(ap, fmt);
	vsnprintf(w->note[1] + n, sizeof w->note[1] - (size_t)n, fmt, ap);
	va_end(ap);
	w->dirty = true;
}

/* ---- sockets ------------------------------------------------------------------ */

static int curve(struct watch *w, void *s, int64_t maxmsg)
{
	int zero = 0, ivl = 5000, ttl = 15000;

	if (zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
	    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
	    zmq_setsockopt(s, ZMQ_HEARTBEAT_IVL, &ivl, sizeof ivl) != 0 ||
	    zmq_setsockopt(s, ZMQ_HEARTBEAT_TIMEOUT, &ttl, sizeof ttl) != 0 ||
	    zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, w->srv, TN_KEY_Z85_LEN) != 0 ||
	    zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, w->pub, TN_KEY_Z85_LEN) != 0 ||
	    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, w->sec, TN_KEY_Z85_LEN) != 0)
		return TN_EZMQ;
	return 0;
}

static int ctl_open(struct watch *w)
{
	if (w->ctl)
		zmq_close(w->ctl);
	w->ctl = zmq_socket(w->ctx, ZMQ_DEALER);
	if (!w->ctl || curve(w, w->ctl, REPLY_MAX) != 0 || zmq_connect(w->ctl, w->control_ep) != 0)
		return TN_EZMQ;
	return 0;
}

/* A SUB lane of the alerts endpoint with these topics (NULL-terminated). */
static void *lane_open(struct watch *w, const char *const *topics)
{
	void *s = zmq_socket(w->ctx, ZMQ_SUB);
	bool ok = s && curve(w, s, ALERT_MAX) == 0;
	for (size_t i = 0; ok && topics[i]; i++)
		ok = zmq_setsockopt(s, ZMQ_SUBSCRIBE, topics[i], strlen(topics[i])) == 0;
	if (!ok && s) {
		zmq_close(s);
		s = NULL;
	}
	return s;
}

static int sockets_open(struct watch *w)
{
	static const char *const urgent[] = {"live/P1/", "live/P2/", "escalation/live/", NULL};
	static const char *const bulk[] = {"live/P3/", "live/P4/", "live/P5/", NULL};

	w->ctx = zmq_ctx_new();
	if (!w->ctx)
		return TN_EZMQ;
	w->urgent = lane_open(w, urgent);
	w->sub = lane_open(w, bulk);
	if (!w->urgent || !w->sub || zmq_connect(w->urgent, w->alerts_ep) != 0)
		return TN_EZMQ;
	if (zmq_socket_monitor(w->sub, MON_ENDPOINT,
			       ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED) != 0)
		return TN_EZMQ;
	w->mon = zmq_socket(w->ctx, ZMQ_PAIR);
	if (!w->mon || zmq_connect(w->mon, MON_ENDPOINT) != 0 ||
	    zmq_connect(w->sub, w->alerts_ep) != 0)
		return TN_EZMQ;
	return ctl_open(w);
}

static void sockets_close(struct watch *w)
{
	if (w->sub)
		zmq_socket_monitor(w->sub, NULL, 0);
	if (w->mon)
		zmq_close(w->mon);
	if (w->sub)
		zmq_close(w->sub);
	if (w->urgent)
		zmq_close(w->urgent);
	if (w->ctl)
		zmq_close(w->ctl);
	if (w->ctx)
		zmq_ctx_term(w->ctx);
}

/* Receive one whole message (all its frames) into at most `n` frames; the rest is
 * dropped. Returns the number of frames kept, or -1 (nothing there). */
static int recv_frames(void *s, zmq_msg_t *f, int n)
{
	int k = 0, more = 1;

	while (more) {
		zmq_msg_t x;
		zmq_msg_init(&x);
		if (zmq_msg_recv(&x, s, k ? 0 : ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&x);
			return k ? k : -1;
		}
		more = zmq_msg_more(&x);
		if (k < n)
			f[k++] = x;
		else
			zmq_msg_close(&x);
	}
	return k;
}

static void send_request(struct watch *w, enum op op, int64_t now)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	unsigned n = op == OP_ACK ? 5 : op == OP_SINCE ? 3 : 2;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, n);
	msgpack_pack_str_with_body(&pk, "op", 2);
	if (op == OP_SNAPSHOT)
		msgpack_pack_str_with_body(&pk, "snapshot", 8);
	else if (op == OP_SINCE)
		msgpack_pack_str_with_body(&pk, "since", 5);
	else
		msgpack_pack_str_with_body(&pk, "ack", 3);
	msgpack_pack_str_with_body(&pk, "id", 2);
	msgpack_pack_uint64(&pk, ++w->req_id);
	if (op == OP_SINCE) {
		msgpack_pack_str_with_body(&pk, "seq", 3);
		msgpack_pack_uint64(&pk, w->m.last_seq);
	} else if (op == OP_ACK) {
		msgpack_pack_str_with_body(&pk, "incident", 8);
		msgpack_pack_str_with_body(&pk, w->ack_id, strlen(w->ack_id));
		msgpack_pack_str_with_body(&pk, "rev", 3);
		msgpack_pack_uint32(&pk, w->ack_rev);
		msgpack_pack_str_with_body(&pk, "operator", 8);
		msgpack_pack_str_with_body(&pk, w->operator, strlen(w->operator));
	}
	if (zmq_send(w->ctl, sb.data, sb.size, ZMQ_DONTWAIT) == (int)sb.size) {
		w->op = op;
		w->sent_ms = now;
	} else {
		w->retry_at_ms = now + RETRY_MS;
	}
	msgpack_sbuffer_destroy(&sb);
}

/* The next request, if none is in flight: a snapshot first, then since, then an ack. */
static void next_request(struct watch *w, int64_t now)
{
	if (w->op != OP_NONE || now < w->retry_at_ms)
		return;
	if (w->need_snapshot)
		send_request(w, OP_SNAPSHOT, now);
	else if (w->need_since)
		send_request(w, OP_SINCE, now);
	else if (w->ack_id[0])
		send_request(w, OP_ACK, now);
}

static void want_since(struct watch *w, enum why why)
{
	if (w->need_since || w->op == OP_SINCE) {
		/* one catch-up already on its way covers a gap; after a reconnect,
		 * ask again when it ends (it may have gone to the server before) */
		if (why == WHY_RECONNECT) {
			w->why = why;
			w->again = w->op == OP_SINCE;
		}
		return;
	}
	w->need_since = true;
	w->why = why;
	w->caught = 0;
	w->lost = 0;
	w->gapless = true;
}

static void since_done(struct watch *w)
{
	char lost[64] = "";

	if (w->lost)
		snprintf(lost, sizeof lost, ", %" PRIu64 " lost on the server", w->lost);
	switch (w->why) {
	case WHY_RECONNECT:
		note(w, "reconnected, caught up %u alert%s (seq %" PRIu64 "), %s%s", w->caught,
		     w->caught == 1 ? "" : "s", w->m.last_seq, w->gapless ? "no gap" : "GAP", lost);
		break;
	case WHY_GAP:
		note(w, "gap %" PRIu64 "..%" PRIu64 " %s (%u alert%s)%s", w->gap_lo, w->gap_hi,
		     w->gapless ? "recovered" : "NOT recovered", w->caught, w->caught == 1 ? "" : "s",
		     lost);
		break;
	case WHY_QUIET:
		if (w->caught || !w->gapless)
			note(w, "caught up %u missed alert%s (seq %" PRIu64 ")%s", w->caught,
			     w->caught == 1 ? "" : "s", w->m.last_seq, lost);
		break;
	case WHY_START:
		note(w, "%zu open incident%s, seq %" PRIu64 ", following the live alerts", w->m.n,
		     w->m.n == 1 ? "" : "s", w->m.last_seq);
		break;
	}
}

static void on_reply(struct watch *w, const msgpack_object *r, int64_t now)
{
	char code[32], msg[256];
	struct tn__watch_since s;
	enum op op = w->op;
	int64_t us = wall_us();

	w->op = OP_NONE;
	w->ctl_ok = true;
	if (!tn__watch_reply(r, code, sizeof code, msg, sizeof msg)) {
		if (op == OP_ACK) {
			note(w, "ack %s rev %u refused: %s %s", w->ack_id, w->ack_rev, code, msg);
			w->ack_id[0] = '\0';
		} else if (op == OP_SINCE && strcmp(code, "E_SCHEMA") == 0 &&
			   strstr(msg, "past the last alert")) {
			note(w, "the server does not know seq %" PRIu64 ": reloading", w->m.last_seq);
			w->need_since = false;
			w->need_snapshot = true;
		} else {
			note(w, "%s: %s %s; retrying", op == OP_SNAPSHOT ? "snapshot" : "since", code,
			     msg);
			w->retry_at_ms = now + RETRY_MS;
		}
		return;
	}
	switch (op) {
	case OP_SNAPSHOT:
		if (tn__watch_snapshot(&w->m, r, us) != 0) {
			note(w, "snapshot: a reply not understood; retrying");
			w->retry_at_ms = now + RETRY_MS;
			return;
		}
		w->need_snapshot = false;
		w->have_snapshot = true;
		w->need_since = false;
		want_since(w, WHY_START); /* what came between the snapshot and the SUB */
		break;
	case OP_SINCE:
		if (tn__watch_since(&w->m, r, us, &s) != 0) {
			note(w, "since: a reply not understood; retrying");
			w->retry_at_ms = now + RETRY_MS;
			return;
		}
		w->caught += s.n;
		w->lost += s.lost;
		w->gapless = w->gapless && s.gapless;
		if (!s.more && w->again) {
			w->again = false;
		} else if (!s.more) {
			w->need_since = false;
			since_done(w);
		}
		break;
	case OP_ACK:
		tn__watch_acked(&w->m, w->ack_id, w->ack_rev);
		note(w, "acknowledged %s rev %u as %s", w->ack_id, w->ack_rev, w->operator);
		w->ack_id[0] = '\0';
		break;
	case OP_NONE:
		break;
	}
	tn__watch_expire(&w->m, us);
	w->dirty = true;
}

static void on_control(struct watch *w, int64_t now)
{
	zmq_msg_t f[1];
	msgpack_object r;
	int n;

	while ((n = recv_frames(w->ctl, f, 1)) > 0) {
		if (w->op != OP_NONE &&
		    tn__watch_unpack(zmq_msg_data(&f[0]), zmq_msg_size(&f[0]), REPLY_OBJECTS,
				     &w->zone, &r) == 0) {
			const msgpack_object *id = NULL;

			for (uint32_t i = 0; r.type == MSGPACK_OBJECT_MAP && i < r.via.map.size; i++)
				if (r.via.map.ptr[i].key.type == MSGPACK_OBJECT_STR &&
				    r.via.map.ptr[i].key.via.str.size == 2 &&
				    memcmp(r.via.map.ptr[i].key.via.str.ptr, "id", 2) == 0)
					id = &r.via.map.ptr[i].val;
			if (id && id->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
			    id->via.u64 == w->req_id)
				on_reply(w, &r, now);
		}
		msgpack_zone_clear(&w->zone);
		zmq_msg_close(&f[0]);
	}
}

/* The alerts waiting on one lane. Both lanes share the seq, so one may be
 * ahead of the other for a moment: what looks like a gap is filled by
 * `since`, and the other lane's copy is then a duplicate, ignored. */
static void on_lane(struct watch *w, void *lane, int64_t now)
{
	zmq_msg_t f[2];
	msgpack_object b;
	uint64_t seq;
	int n, turn = 0;

	/* a flood must not starve the keys and the screen: the rest waits in the SUB */
	while (turn++ < ALERTS_TURN && (n = recv_frames(lane, f, 2)) > 0) {
		int64_t us = wall_us();

		w->last_alert_ms = now;
		if (n == 2 && tn__watch_unpack(zmq_msg_data(&f[1]), zmq_msg_size(&f[1]),
					       ALERT_OBJECTS, &w->zone, &b) == 0) {
			bool esc = zmq_msg_size(&f[0]) >= 11 &&
				   memcmp(zmq_msg_data(&f[0]), "escalation/", 11) == 0;

			if (esc) {
				tn__watch_escalation(&w->m, &b, us);
			} else if (w->have_snapshot) {
				switch (tn__watch_seq(&w->m, &b, &seq)) {
				case TN__WATCH_NEXT:
					tn__watch_apply(&w->m, &b, us);
					break;
				case TN__WATCH_GAP:
					if (!w->need_since && w->op != OP_SINCE) {
						want_since(w, WHY_GAP);
						w->gap_lo = w->m.last_seq + 1;
						w->gap_hi = seq - 1;
					}
					break;
				case TN__WATCH_DUP:
				case TN__WATCH_BAD:
					break;
				}
			}
			w->dirty = true;
		}
		msgpack_zone_clear(&w->zone);
		for (int i = 0; i < n; i++)
			zmq_msg_close(&f[i]);
	}
}

static void on_alert(struct watch *w, int64_t now)
{
	on_lane(w, w->urgent, now); /* life safety first */
	on_lane(w, w->sub, now);
}

static void on_monitor(struct watch *w)
{
	zmq_msg_t f[2];
	int n;

	while ((n = recv_frames(w->mon, f, 2)) > 0) {
		uint16_t ev = 0;

		if (zmq_msg_size(&f[0]) >= 2)
			memcpy(&ev, zmq_msg_data(&f[0]), 2);
		if (ev == ZMQ_EVENT_DISCONNECTED && w->sub_up) {
			w->sub_up = false;
			note(w, "alerts: connection lost; reconnecting");
		} else if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
			w->sub_up = true;
			if (w->sub_was_up && w->have_snapshot)
				want_since(w, WHY_RECONNECT);
			else if (w->have_snapshot)
				want_since(w, WHY_QUIET);
			w->sub_was_up = true;
		}
		for (int i = 0; i < n; i++)
			zmq_msg_close(&f[i]);
		w->dirty = true;
	}
}

/* ---- the screen ------------------------------------------------------------------- */

static void put(int row, const char *s, int attr)
{
	if (row < 0 || row >= LINES)
		return;
	move(row, 0);
	clrtoeol();
	attron(attr);
	mvaddnstr(row, 0, s, COLS);
	attroff(attr);
}

static const char *ack_text(const struct tn__watch_inc *in, char *buf, size_t len)
{
	if (in->closed)
		snprintf(buf, len, "%s", in->msg[0] ? in->msg : "closed");
	else if (!in->acked)
		snprintf(buf, len, "UNACKED");
	else if (in->acked >= in->rev)
		snprintf(buf, len, "acked");
	else
		snprintf(buf, len, "acked r%u, r%u new", in->acked, in->rev);
	return buf;
}

static struct line *add(struct line *l, int *n, int inc, int attr, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static struct line *add(struct line *l, int *n, int inc, int attr, const char *fmt, ...)
{
	va_list ap;

	if (*n >= LINES_MAX)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(l[*n].text, sizeof l[*n].text, fmt, ap);
	va_end(ap);
	l[*n].attr = attr;
	l[*n].inc = inc;
	return &l[(*n)++];
}

/* The tree lines of an incident: "|- ", "`- " and the bars of the levels above. */
static void tree_lines(struct line *l, int *n, int k, const struct tn__watch_inc *in, int max)
{
	bool last[TN__WATCH_MAX_NODES], seen[TN__WATCH_MAX_NODES + 1] = {false};
	uint32_t i;

	for (i = in->n_order; i-- > 0;) {
		const struct tn__watch_node *nd = &in->node[in->order[i]];

		last[in->order[i]] = !seen[nd->parent + 1];
		seen[nd->parent + 1] = true;
	}
	for (i = 0; i < in->n_order && (int)i < max; i++) {
		const struct tn__watch_node *nd = &in->node[in->order[i]];
		char pre[3 * INDENT_MAX + 4] = "", t[16];
		int chain[INDENT_MAX], d = 0, p = nd->parent;

		while (p >= 0 && d < INDENT_MAX - 1) {
			chain[d++] = p;
			p = in->node[p].parent;
		}
		while (d-- > 0)
			strcat(pre, last[chain[d]] ? "   " : "|  ");
		strcat(pre, last[in->order[i]] ? "`- " : "|- ");
		hms(t, sizeof t, nd->t_us);
		add(l, n, k, 0, "     %s%s %s %s %s", pre, nd->asset, nd->sector[0] ? nd->sector : "?",
		    nd->state[0] ? nd->state : "?", t);
	}
	if (in->n_order > i || in->n_node_total > in->n_node)
		add(l, n, k, 0, "     ... %u more", in->n_node_total - (in->n_node - in->n_order) - i);
}

/*
 * The lines of one incident. The selected one gets what fits in `rows` (the
 * whole tree is in its explanation); the others a few lines each.
 */
static void incident_lines(struct line *l, int *n, int k, const struct tn__watch_inc *in,
			   bool selected, int rows, int64_t now)
{
	uint32_t shown = 0, risk_max = 1;
	int tree_max = TREE_BRIEF;
	char age[32], ack[48], esc[32] = "", cd[48], t[16], conf[16] = "?";
	int attr = in->closed ? A_DIM : (in->priority && in->priority <= 2 ? A_BOLD : 0);
	const struct tn__watch_node *rn = in->root_node >= 0 ? &in->node[in->root_node] : NULL;

	tn__watch_dur(age, sizeof age,
		      in->opened_us == TN__WATCH_NO_TIME ? TN__WATCH_NO_TIME : now - in->opened_us);
	if (selected) {
		risk_max = rows / 4 < 1 ? 1 : rows / 4 > RISK_FULL ? RISK_FULL : (uint32_t)rows / 4;
		tree_max = rows - 4 - (int)risk_max - 2; /* header, title, sectors, root; "more" */
		tree_max = tree_max < TREE_BRIEF ? TREE_BRIEF : tree_max;
	}
	if (in->esc_level && !in->closed)
		snprintf(esc, sizeof esc, " ESCALATED %u", in->esc_level);
	if (in->confidence >= 0)
		snprintf(conf, sizeof conf, "%.2f", in->confidence);
	if (in->priority)
		add(l, n, k, attr | (selected ? A_REVERSE : 0), "%sP%d %s rev %u  %s%s  age %s",
		    selected ? ">" : " ", in->priority, in->id, in->rev, ack_text(in, ack, sizeof ack),
		    esc, age);
	else
		add(l, n, k, attr | (selected ? A_REVERSE : 0), "%sP? %s rev %u  %s%s  age %s",
		    selected ? ">" : " ", in->id, in->rev, ack_text(in, ack, sizeof ack), esc, age);
	if (in->closed && in->merged_into[0])
		add(l, n, k, A_DIM, "   merged into %s", in->merged_into);
	add(l, n, k, attr, "   %s", in->title[0] ? in->title : "?");
	add(l, n, k, 0, "   sectors %s  cause %s %s", in->sectors[0] ? in->sectors : "?",
	    in->cause[0] ? in->cause : "?", conf);
	hms(t, sizeof t, rn ? rn->t_us : TN__WATCH_NO_TIME);
	if (rn) /* the root is a member: its state and failure time */
		add(l, n, k, 0, "   root %s %s %s %s", in->root[0] ? in->root : "?",
		    in->root_sector[0] ? in->root_sector : "?", rn->state[0] ? rn->state : "?", t);
	else /* inferred, or a silent source: not a member */
		add(l, n, k, 0, "   root %s %s (not reported)", in->root[0] ? in->root : "?",
		    in->root_sector[0] ? in->root_sector : "?");
	tree_lines(l, n, k, in, tree_max);
	/* pending ones: due now, then ahead, then overdue; soonest first in each */
	for (int cls = 0; cls < 3; cls++)
		for (uint32_t i = 0; i < in->n_risk && in->risk[i].pending && shown < risk_max; i++) {
			const struct tn__watch_risk *r = &in->risk[i];

			if (tn__watch_risk_class(r, now) != cls)
				continue;
			tn__watch_countdown(cd, sizeof cd, r->eta_us, r->latest_us, now);
			add(l, n, k, 0, "   at risk %s %s %s (via %s)", r->asset[0] ? r->asset : "?",
			    r->sector[0] ? r->sector : "?", cd, r->via[0] ? r->via : "?");
			shown++;
		}
	if (in->n_pending_all > shown)
		add(l, n, k, 0, "   ... %u more at risk", in->n_pending_all - shown);
}

static int sel_index(const struct watch *w)
{
	for (size_t i = 0; i < w->m.n; i++)
		if (strcmp(w->m.inc[i]->id, w->sel) == 0)
			return (int)i;
	return -1;
}

static void draw_list(struct watch *w, struct line *l, int64_t now)
{
	int n = 0, sel = sel_index(w), first = -1, top = 0, rows = LINES - 4;

	if (sel < 0 && w->m.n) {
		sel = 0;
		snprintf(w->sel, sizeof w->sel, "%s", w->m.inc[0]->id);
	}
	for (size_t i = 0; i < w->m.n; i++) {
		if ((int)i == sel)
			first = n;
		incident_lines(l, &n, (int)i, w->m.inc[i], (int)i == sel, rows, now);
	}
	if (!w->m.n)
		add(l, &n, -1, 0, w->have_snapshot ? "  no open incident" : "  waiting for the server");
	/* keep the selected incident's first line on screen, with its tree if it fits */
	if (first >= 0 && rows > 0) {
		int end = first;

		while (end + 1 < n && l[end + 1].inc == sel)
			end++;
		top = end - rows + 1 > 0 ? end - rows + 1 : 0;
		if (top > first)
			top = first;
	}
	for (int r = 0; r < rows; r++)
		put(1 + r, top + r < n ? l[top + r].text : "", top + r < n ? l[top + r].attr : 0);
}

static void draw_explain(struct watch *w, struct line *l)
{
	struct tn__watch_inc *in = tn__watch_find(&w->m, w->sel);
	int n = 0, rows = LINES - 4;
	char lo[16], hi[16], t[16];

	if (!in) {
		w->explain = false;
		return;
	}
	add(l, &n, 0, A_BOLD, "explanation of %s rev %u (P%d, cause %s): %s", in->id, in->rev,
	    in->priority, in->cause[0] ? in->cause : "?", in->title[0] ? in->title : "?");
	add(l, &n, 0, 0, "root %s %s", in->root[0] ? in->root : "?",
	    in->root_sector[0] ? in->root_sector : "?");
	for (int pass = 0; pass < 2; pass++)
		for (uint32_t i = 0; i < (pass ? in->n_order : (in->root_node >= 0)); i++) {
			const struct tn__watch_node *nd =
			    &in->node[pass ? in->order[i] : (uint32_t)in->root_node];

			hms(lo, sizeof lo, nd->lo_us);
			hms(hi, sizeof hi, nd->hi_us);
			hms(t, sizeof t, nd->t_us);
			add(l, &n, 0, A_BOLD, "%s %s %s at %s  rule %s  window %s..%s", nd->asset,
			    nd->sector[0] ? nd->sector : "?", nd->state[0] ? nd->state : "?", t,
			    nd->rule[0] ? nd->rule : "?", lo, hi);
			add(l, &n, 0, 0, "   path %s", nd->path[0] ? nd->path : "?");
		}
	if (in->n_node_total > in->n_node)
		add(l, &n, 0, 0, "... %u more members not kept", in->n_node_total - in->n_node);
	if (w->scroll > n - rows)
		w->scroll = n - rows;
	if (w->scroll < 0)
		w->scroll = 0;
	for (int r = 0; r < rows; r++) {
		int i = w->scroll + r;
		put(1 + r, i < n ? l[i].text : "", i < n ? l[i].attr : 0);
	}
}

static void draw(struct watch *w, struct line *l)
{
	char head[LINE_MAX_COLS], status[LINE_MAX_COLS], t[16];
	int64_t now = wall_us();

	size_t open = 0;

	for (size_t i = 0; i < w->m.n; i++)
		open += !w->m.inc[i]->closed;
	erase();
	if (w->explain)
		snprintf(head, sizeof head, "tocsin watch  up/down scroll  esc/q back");
	else
		snprintf(head, sizeof head,
			 "tocsin watch  %zu open  j/k select  a ack  e/enter explain  q quit",
			 open);
	put(0, head, A_BOLD);
	if (w->explain)
		draw_explain(w, l);
	if (!w->explain)
		draw_list(w, l, now);
	put(LINES - 3, w->note[0], 0);
	put(LINES - 2, w->note[1], A_BOLD);
	hms(t, sizeof t, now);
	snprintf(status, sizeof status, "alerts %s  control %s  seq %" PRIu64 "  %s UTC  operator %s",
		 w->sub_up ? "connected" : "DOWN", w->op != OP_NONE ? "waiting" : w->ctl_ok ? "ok" : "?",
		 w->m.last_seq, t, w->operator);
	put(LINES - 1, status, A_REVERSE);
	refresh();
	w->dirty = false;
}

/* ---- keys ----------------------------------------------------------------------------- */

static void move_sel(struct watch *w, int by)
{
	int i = sel_index(w);

	if (!w->m.n)
		return;
	i = i < 0 ? 0 : i + by;
	if (i < 0)
		i = 0;
	if (i >= (int)w->m.n)
		i = (int)w->m.n - 1;
	snprintf(w->sel, sizeof w->sel, "%s", w->m.inc[i]->id);
}

/* Returns false to quit. */
static bool on_key(struct watch *w, int c)
{
	struct tn__watch_inc *in;

	w->dirty = true;
	if (c == KEY_RESIZE)
		return true; /* SIGWINCH: ncurses has the new size; the next draw uses it */
	if (w->explain) {
		if (c == 27 || c == 'q')
			w->explain = false;
		else if (c == KEY_UP || c == 'k')
			w->scroll--;
		else if (c == KEY_DOWN || c == 'j')
			w->scroll++;
		else if (c == KEY_NPAGE || c == ' ')
			w->scroll += LINES / 2;
		else if (c == KEY_PPAGE)
			w->scroll -= LINES / 2;
		return true;
	}
	switch (c) {
	case 'q':
		return false;
	case KEY_UP:
	case 'k':
		move_sel(w, -1);
		break;
	case KEY_DOWN:
	case 'j':
		move_sel(w, 1);
		break;
	case 'a':
		in = tn__watch_find(&w->m, w->sel);
		if (!in || in->closed) {
			note(w, "ack: no open incident selected");
		} else if (w->ack_id[0]) {
			note(w, "ack: one already on its way");
		} else {
			snprintf(w->ack_id, sizeof w->ack_id, "%s", in->id);
			w->ack_rev = in->rev;
			note(w, "acknowledging %s rev %u ...", in->id, in->rev);
		}
		break;
	case '\n':
	case '\r':
	case KEY_ENTER:
	case 'e':
		if (tn__watch_find(&w->m, w->sel)) {
			w->explain = true;
			w->scroll = 0;
		}
		break;
	default:
		break;
	}
	return true;
}

/* ---- the verb ------------------------------------------------------------------------- */

static int usage(const char *why)
{
	if (why)
		fprintf(stderr, "tocsin: watch: %s\n", why);
	fprintf(stderr, "usage: tocsin watch [--alerts E] [--control E] --key NAME.key "
			"--server-key SERVER.pub [--operator NAME]\n");
	return 2;
}

static int read_keys(struct watch *w, const char *key, const char *server_key)
{
	char path[4096], err[512];
	size_t n = strlen(key);
	bool has_ext = n > 4 && strcmp(key + n - 4, ".key") == 0;

	if (snprintf(path, sizeof path, "%s%s", key, has_ext ? "" : ".key") >= (int)sizeof path) {
		fprintf(stderr, "tocsin: watch: %s: path too long\n", key);
		return 1;
	}
	if (tn_key_read(server_key, 0, w->srv, err, sizeof err) != 0 ||
	    tn_key_read(path, 1, w->sec, err, sizeof err) != 0) {
		fprintf(stderr, "tocsin: watch: %s\n", err);
		return 1;
	}
	if (tn_key_public_of(w->sec, w->pub) != 0) {
		fprintf(stderr, "tocsin: watch: %s: not a secret key\n", path);
		return 1;
	}
	return 0;
}

static int run(struct watch *w)
{
	struct line *lines = calloc(LINES_MAX, sizeof *lines);
	bool go = true;
	int64_t last_draw = 0;

	if (!lines)
		return 1;
	while (go && !stop) {
		zmq_pollitem_t it[5] = {{w->urgent, 0, ZMQ_POLLIN, 0},
					{w->sub, 0, ZMQ_POLLIN, 0},
					{w->ctl, 0, ZMQ_POLLIN, 0},
					{w->mon, 0, ZMQ_POLLIN, 0},
					{NULL, STDIN_FILENO, ZMQ_POLLIN, 0}};
		int64_t now;
		int c;

		if (zmq_poll(it, 5, w->dirty ? DRAW_MS : TICK_MS) < 0 && errno != EINTR)
			break;
		now = mono_ms();
		on_monitor(w);
		on_alert(w, now);
		on_control(w, now);
		while (go && (c = getch()) != ERR)
			go = on_key(w, c);
		if (w->op != OP_NONE && now - w->sent_ms > REPLY_MS) {
			note(w, "control: no reply within %d s; reconnecting", REPLY_MS / 1000);
			if (w->op == OP_ACK) {
				note(w, "ack %s rev %u: no reply (it may not be recorded): press a again",
				     w->ack_id, w->ack_rev);
				w->ack_id[0] = '\0';
			}
			w->op = OP_NONE;
			w->ctl_ok = false;
			w->retry_at_ms = now + RETRY_MS;
			if (ctl_open(w) != 0)
				break;
		}
		if (w->have_snapshot && w->op == OP_NONE && !w->need_since &&
		    now - w->last_alert_ms > QUIET_MS) {
			want_since(w, WHY_QUIET);
			w->last_alert_ms = now;
		}
		next_request(w, now);
		if ((w->dirty && now - last_draw >= DRAW_MS) || now - last_draw >= 1000) {
			tn__watch_expire(&w->m, wall_us());
			draw(w, lines);
			last_draw = now;
		}
	}
	free(lines);
	return 0;
}

int tn__cmd_watch(int argc, char **argv, const struct tn_cli *cli)
{
	static struct watch w;
	const char *alerts = TN_DEFAULT_ALERTS, *control = TN_DEFAULT_CONTROL, *key = NULL,
		   *server_key = NULL, *op = NULL;
	bool help = false;
	struct tn__opt opts[] = {
	    {"alerts", TN_OPT_STR, &alerts, false},   {"control", TN_OPT_STR, &control, false},
	    {"key", TN_OPT_STR, &key, false},         {"server-key", TN_OPT_STR, &server_key, false},
	    {"operator", TN_OPT_STR, &op, false},     {"help", TN_OPT_FLAG, &help, false},
	};
	int n_pos = 0, rc;
	struct sigaction sa;

	(void)cli;
	if (tn__opt_parse("watch", argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), NULL, 0,
			  &n_pos) != 0)
		return usage(NULL);
	if (help) {
		usage(NULL);
		return 0;
	}
	if (!key || !server_key)
		return usage("--key and --server-key are required");
	if (!op)
		op = getenv("USER");
	if (!op || !*op)
		op = "console";
	if (strlen(op) > OPERATOR_MAX || tn__utf8_check(op, strlen(op), TN__UTF8_NO_CONTROL, NULL))
		return usage("--operator: expected 1 to 128 bytes of text without control "
			     "characters");
	memset(&w, 0, sizeof w);
	w.alerts_ep = alerts;
	w.control_ep = control;
	w.operator = op;
	if (read_keys(&w, key, server_key) != 0)
		return 1;
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "tocsin: watch: needs a terminal\n");
		return 1;
	}
	tn__watch_init(&w.m);
	msgpack_zone_init(&w.zone, 64 << 10);
	if (sockets_open(&w) != 0) {
		fprintf(stderr, "tocsin: watch: cannot open the sockets to %s and %s: %s\n", alerts,
			control, zmq_strerror(errno));
		explicit_bzero(w.sec, sizeof w.sec);
		sockets_close(&w);
		return 1;
	}
	explicit_bzero(w.sec, sizeof w.sec); /* the sockets have it */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	setlocale(LC_ALL, "");
	initscr();
	cbreak();
	noecho();
	nodelay(stdscr, TRUE);
	keypad(stdscr, TRUE);
	set_escdelay(50);
	curs_set(0);
	w.need_snapshot = true;
	w.last_alert_ms = mono_ms();
	note(&w, "connecting to %s and %s", alerts, control);
	rc = run(&w);
	endwin();
	sockets_close(&w);
	msgpack_zone_destroy(&w.zone);
	tn__watch_free(&w.m);
	return rc;
}
