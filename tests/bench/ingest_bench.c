/*
 * ingest_bench.c - the load generator and the ceilings of `make bench`
 * (scripts/bench.sh, docs/bench.md).
 *
 *   ingest_bench ceilings --keys DIR --adapters N --db CONNINFO --endpoint E
 *                         [--pg-pid PID] [--journal DIR]
 *   ingest_bench server   --keys DIR --adapters N --db CONNINFO --endpoint E
 *                         --pid PID --journal DIR [--pg-pid PID]
 *   ingest_bench report FILE
 *
 * `ceilings` measures, without tocsind, what the machine can do with the same
 * events: (A) through ZeroMQ DEALER -> ROUTER with CURVE, the ROUTER only
 * unpacking each frame and answering it (throughput, and latency at the
 * latency phase's load); (B) COPY of the same rows into a table shaped like
 * `events`, one transaction per store batch; and, with --journal, the disk's
 * fdatasync latency in that directory. `server` drives a running
 * tocsind: sustained throughput with a bounded window and a bounded store
 * lag, the same without the lag bound (peak), ack latency at a fixed offered
 * load (open loop), and a long paced run for RSS, while a monitor thread
 * samples the store's lag and tocsind's memory. --pg-pid (the postmaster)
 * lets the CPU figures tell PostgreSQL from the rest of the machine. Both print
 * `key=value` result lines on stdout (progress goes to stderr); `report`
 * turns the file of those lines into the summary block with the ratios and
 * the targets.
 *
 * Honesty rules: every event has a distinct id (run nonce, phase, connection,
 * sequence), times are the wall clock, latency uses CLOCK_MONOTONIC and, in
 * the open-loop phases, runs from the frame's scheduled send time, so a
 * stalled server cannot hide its stall by slowing the sender down
 * (coordinated omission).
 *
 * Tuning by environment (defaults in brackets): BENCH_SECONDS [20],
 * BENCH_WARMUP_SECONDS [60], BENCH_PEAK_SECONDS [10], BENCH_LAT_SECONDS [20],
 * BENCH_RSS_SECONDS [60], BENCH_CEIL_SECONDS [10], BENCH_RATE [20000 events/s],
 * BENCH_BATCH [100], BENCH_LAT_BATCH [10], BENCH_WINDOW [16 frames per connection],
 * BENCH_MAX_LAG [50000 events], BENCH_COPY_TX [5000], BENCH_IO_THREADS [1].
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <math.h>
#include <msgpack.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "journal.h"
#include "keys.h"
#include "tocsin/event.h"
#include "wire.h"

#define NS 1000000000LL
#define MAX_CONNS 64
#define FIFO_CAP (1u << 16)   /* frames in flight per connection (open loop) */
#define DRAIN_NS (30 * NS)    /* wait this long for replies after the load stops */
#define CATCHUP_NS (300 * NS) /* wait this long for the store after the load stops */
#define MONITOR_NS (50 * 1000000LL) /* lag sampling period */
#define COPY_CHUNK (64 * 1024)

/* ---- options ------------------------------------------------------------ */

struct opts {
	const char *keys, *db, *endpoint, *journal;
	const char *metrics; /* tocsind's metrics endpoint, IPV4:PORT, or NULL */
	int adapters, pid, pg_pid;
	int batch, window, lat_batch, copy_tx, io_threads, max_lag;
	int seconds, warmup_seconds, peak_seconds, lat_seconds, rss_seconds, ceil_seconds;
	double rate;
};

static int env_int(const char *name, int def, int lo, int hi)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (!s || !*s)
		return def;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi) {
		fprintf(stderr, "bench: %s: expected an integer %d..%d, got \"%s\"\n", name, lo,
			hi, s);
		exit(2);
	}
	return (int)v;
}

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

static int64_t real_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* ---- events ------------------------------------------------------------- */

/*
 * What a SCADA adapter of an electricity network would send: sector energy,
 * substations sub-NNNNN, a summary, a feeder and a load as attrs, a location.
 * Each connection reports on its own block of the NASSETS substations, one
 * event per asset per pass over the block, each asset going through `types`
 * on successive passes, so failures end as they would.
 * Every string lives in the generator and is rewritten for each event.
 */
#define NASSETS 20000

struct gen {
	char tag[24]; /* run nonce and phase letter: ids stay unique across runs and phases */
	int conn;
	unsigned block; /* assets per connection */
	uint64_t seq;   /* next event number of this connection */
	char source[48], adapter[32], id[64], asset[16], summary[128], feeder[8];
	struct tn_attr attrs[2];
	struct tn_event ev;
};

static const char *const what[] = {
	"transformer trip", "feeder overcurrent", "breaker opened", "voltage sag",
	"loss of supply", "earth fault", "protection operated", "supply restored",
};
/* An asset's life over eight passes: it fails, gets worse, recovers, and
 * raises alarms in between: most of a SCADA feed is alarms. */
static const enum tn_event_type types[] = {TN_EV_DOWN,  TN_EV_ALARM, TN_EV_DEGRADED, TN_EV_ALARM,
					   TN_EV_UP,    TN_EV_ALARM, TN_EV_ALARM,    TN_EV_ALARM};

static void gen_init(struct gen *g, const char *nonce, char phase, int conn, int conns)
{
	memset(g, 0, sizeof *g);
	snprintf(g->tag, sizeof g->tag, "%s%c", nonce, phase);
	g->conn = conn;
	g->block = NASSETS / (unsigned)conns;
	snprintf(g->source, sizeof g->source, "bench/scada/a%02d", conn);
	snprintf(g->adapter, sizeof g->adapter, "bench-a%d", conn);
}

static void gen_next(struct gen *g, int64_t now_us)
{
	uint64_t s = g->seq++;
	/* 7919 is prime and larger than any block of several connections: a
	 * permutation of the block on each pass. */
	unsigned a = (unsigned)g->conn * g->block + (unsigned)(s % g->block * 7919u % g->block);

	snprintf(g->id, sizeof g->id, "%s-%02d-%010" PRIu64, g->tag, g->conn, s);
	snprintf(g->asset, sizeof g->asset, "sub-%05u", a);
	snprintf(g->feeder, sizeof g->feeder, "F%02u", a % 24);
	snprintf(g->summary, sizeof g->summary, "%s at %s, feeder %s",
		 what[s % (sizeof what / sizeof what[0])], g->asset, g->feeder);
	g->attrs[0] = (struct tn_attr){.key = "feeder", .kind = TN_ATTR_STR, .v.s = g->feeder};
	g->attrs[1] = (struct tn_attr){
		.key = "load_mw", .kind = TN_ATTR_FLOAT, .v.f = 2.5 + (double)(a % 400) / 10.0};
	g->ev = (struct tn_event){
		.id = g->id,
		.source = g->source,
		.type = types[s / g->block % (sizeof types / sizeof types[0])],
		.time_us = now_us,
		.sector = TN_SECTOR_ENERGY,
		.asset = g->asset,
		.severity = (int)(s % 5) + 1,
		.summary = g->summary,
		.has_geo = true,
		.lat = 51.90 + (double)(a % 200) * 0.001,
		.lon = 0.90 + (double)(a / 200) * 0.002,
		.attrs = g->attrs,
		.n_attrs = 2,
	};
}

/* A batch frame of n events, packed the way an adapter packs it, in sb. */
static int pack_batch(struct gen *g, msgpack_sbuffer *sb, int n)
{
	msgpack_packer pk;
	int64_t now = real_us();

	msgpack_sbuffer_clear(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	if (msgpack_pack_array(&pk, (size_t)n) != 0)
		return -1;
	for (int i = 0; i < n; i++) {
		gen_next(g, now);
		if (tn_wire_pack_event(&pk, &g->ev) != 0)
			return -1;
	}
	return 0;
}

/* ---- keys --------------------------------------------------------------- */

static int read_key(const char *dir, const char *name, const char *ext, int secret,
		    char z85[TN_KEY_Z85_LEN + 1])
{
	char path[4096], err[512];

	snprintf(path, sizeof path, "%s/%s.%s", dir, name, ext);
	if (tn_key_read(path, secret, z85, err, sizeof err) != 0) {
		say("%s", err);
		return -1;
	}
	return 0;
}

/* ---- the senders -------------------------------------------------------- */

enum mode {
	CLOSED, /* a window of frames in flight: as fast as acks allow */
	OPEN,   /* frames on a fixed schedule, whatever the replies do */
};

struct phase {
	const char *name;
	char letter;
	const char *nonce;
	const char *endpoint;
	char server_pub[TN_KEY_Z85_LEN + 1];
	void *ctx;
	enum mode mode;
	int batch, window;
	int64_t interval_ns; /* OPEN: between two frames of one connection */
	int64_t duration_ns;
	atomic_uint_fast64_t *acked_total; /* every event acked by tocsind, or NULL */
	/* With `stored`: hold back while more than max_lag acked events are not yet
	 * in PostgreSQL, so the rate measured is one the store keeps up with. */
	atomic_uint_fast64_t *stored;
	uint64_t max_lag;
	atomic_int_fast64_t *measure_from; /* set to t_measure when the phase starts, or NULL */
	pthread_barrier_t ready, go;
	int64_t warmup_ns; /* the figures cover [t0 + warmup, t_end] */
	int64_t t0, t_end, t_measure;
	atomic_int abort;
};

struct slot {
	int64_t t;     /* scheduled (OPEN) or actual (CLOSED) send time */
	uint64_t seq0; /* sequence of its first event */
	int n;
};

#define SLOW_NS 5000000 /* the latency target: 5 ms */

struct second {
	uint32_t n, slow;
	int64_t max;
};

struct conn {
	struct phase *ph;
	int idx;
	pthread_t th;
	char pub[TN_KEY_Z85_LEN + 1], sec[TN_KEY_Z85_LEN + 1];
	struct gen gen;
	msgpack_sbuffer sb;
	msgpack_zone zone;
	struct slot *fifo;
	size_t head, n; /* FIFO of frames in flight: replies come in order */
	bool failed;
	/* results */
	uint64_t frames, events, ok, dup, err, in_window, warm;
	uint64_t bad_replies, order_errors, lost, eagain, overflow;
	int64_t held_ns, held_from; /* time spent holding back for the store */
	int64_t *lat;
	size_t nlat, caplat;
	int64_t t_last_reply;
	char first_err[256];
	/* Per second of the phase (by send time): frames, frames over SLOW_NS, worst. */
	struct second *secs;
	size_t nsecs;
};

static void conn_lat(struct conn *c, int64_t v)
{
	if (c->nlat == c->caplat) {
		size_t cap = c->caplat ? c->caplat * 2 : 4096;
		int64_t *p = realloc(c->lat, cap * sizeof *p);
		if (!p)
			return;
		c->lat = p;
		c->caplat = cap;
	}
	c->lat[c->nlat++] = v;
}

/* The sequence number at the end of an id "<tag>-<conn>-<seq>". */
static bool id_seq(const char *p, size_t len, uint64_t *out)
{
	size_t i = len;
	uint64_t v = 0, m = 1;

	while (i > 0 && isdigit((unsigned char)p[i - 1]))
		i--;
	if (i == len || i == 0 || p[i - 1] != '-')
		return false;
	for (size_t j = len; j > i; j--, m *= 10)
		v += (uint64_t)(p[j - 1] - '0') * m;
	*out = v;
	return true;
}

/*
 * One reply: {"ok": [ids], "dup": [ids], "err": [{...}]}. Counts what it
 * says, checks it answers the oldest frame in flight (first id's sequence,
 * and ok + dup + err equal to the frame's events), and records the latency.
 */
static void on_reply(struct conn *c, const void *data, size_t len, int64_t now, bool timed)
{
	msgpack_object root;
	size_t off = 0;
	uint64_t ok = 0, dup = 0, err = 0, first = UINT64_MAX;
	struct slot s;

	if (c->n == 0) {
		c->bad_replies++;
		return;
	}
	s = c->fifo[c->head];
	c->head = (c->head + 1) % FIFO_CAP;
	c->n--;
	c->t_last_reply = now;

	if (msgpack_unpack(data, len, &off, &c->zone, &root) != MSGPACK_UNPACK_SUCCESS ||
	    root.type != MSGPACK_OBJECT_MAP) {
		c->bad_replies++;
		msgpack_zone_clear(&c->zone);
		return;
	}
	for (uint32_t i = 0; i < root.via.map.size; i++) {
		const msgpack_object *k = &root.via.map.ptr[i].key, *v = &root.via.map.ptr[i].val;
		if (k->type != MSGPACK_OBJECT_STR || v->type != MSGPACK_OBJECT_ARRAY)
			continue;
		const msgpack_object_array *a = &v->via.array;
		const char *ks = k->via.str.ptr;
		uint32_t kl = k->via.str.size;
		const msgpack_object *id = NULL;
		if (kl == 2 && memcmp(ks, "ok", 2) == 0) {
			ok = a->size;
			id = a->size ? &a->ptr[0] : NULL;
		} else if (kl == 3 && memcmp(ks, "dup", 3) == 0) {
			dup = a->size;
			id = a->size ? &a->ptr[0] : NULL;
		} else if (kl == 3 && memcmp(ks, "err", 3) == 0) {
			err = a->size;
			if (a->size && !c->first_err[0]) {
				char *p = c->first_err;
				size_t room = sizeof c->first_err;
				const msgpack_object *e = &a->ptr[0];
				for (uint32_t j = 0; e->type == MSGPACK_OBJECT_MAP &&
						     j < e->via.map.size && room > 1; j++) {
					const msgpack_object *ev = &e->via.map.ptr[j].val;
					if (ev->type != MSGPACK_OBJECT_STR)
						continue;
					int w = snprintf(p, room, "%.*s ", (int)ev->via.str.size,
							 ev->via.str.ptr);
					if (w < 0 || (size_t)w >= room)
						break;
					p += w;
					room -= (size_t)w;
				}
			}
		}
		uint64_t q;
		if (id && id->type == MSGPACK_OBJECT_STR &&
		    id_seq(id->via.str.ptr, id->via.str.size, &q) && q < first)
			first = q;
	}
	msgpack_zone_clear(&c->zone);
	if (ok + dup + err != (uint64_t)s.n || (first != UINT64_MAX && first != s.seq0))
		c->order_errors++;
	c->ok += ok;
	c->dup += dup;
	c->err += err;
	if (!timed) {
		c->warm += ok + dup;
	} else {
		if (now >= c->ph->t_measure && now <= c->ph->t_end)
			c->in_window += ok + dup;
		conn_lat(c, now - s.t);
		if (s.t >= c->ph->t0 && c->nsecs) {
			size_t i = (size_t)((s.t - c->ph->t0) / NS);
			struct second *q = &c->secs[i < c->nsecs ? i : c->nsecs - 1];
			q->n++;
			q->slow += now - s.t > SLOW_NS;
			if (now - s.t > q->max)
				q->max = now - s.t;
		}
	}
	if (c->ph->acked_total)
		atomic_fetch_add(c->ph->acked_total, ok + dup);
}

/* Send one frame stamped `t`; false when ZeroMQ would block (nothing sent). */
static bool send_frame(struct conn *c, void *sock, int64_t t)
{
	uint64_t seq0 = c->gen.seq;
	int n = c->ph->batch;

	if (c->n == FIFO_CAP) {
		c->overflow++;
		return false;
	}
	if (pack_batch(&c->gen, &c->sb, n) != 0) {
		say("%s: cannot pack a batch", c->ph->name);
		atomic_store(&c->ph->abort, 1);
		return false;
	}
	if (zmq_send(sock, c->sb.data, c->sb.size, ZMQ_DONTWAIT) < 0) {
		c->gen.seq = seq0; /* not sent: the same ids go out next time */
		c->eagain++;
		return false;
	}
	c->fifo[(c->head + c->n) % FIFO_CAP] = (struct slot){.t = t, .seq0 = seq0, .n = n};
	c->n++;
	c->frames++;
	c->events += (uint64_t)n;
	return true;
}

/* Read every reply waiting. ZMQ_FD is edge-triggered: drain until ZMQ_EVENTS says none. */
static void drain_replies(struct conn *c, void *sock, bool timed)
{
	for (;;) {
		int ev = 0;
		size_t len = sizeof ev;
		if (zmq_getsockopt(sock, ZMQ_EVENTS, &ev, &len) != 0 || !(ev & ZMQ_POLLIN))
			return;
		zmq_msg_t m;
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&m);
			return;
		}
		on_reply(c, zmq_msg_data(&m), zmq_msg_size(&m), mono_ns(), timed);
		zmq_msg_close(&m);
	}
}

static void wait_fd(int fd, int64_t ns)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	struct timespec ts;

	if (ns < 0)
		ns = 0;
	ts.tv_sec = ns / NS;
	ts.tv_nsec = ns % NS;
	ppoll(&p, 1, &ts, NULL);
}

/* The part of [from, to) inside the measured window. */
static int64_t held_span(const struct phase *ph, int64_t from, int64_t to)
{
	if (from < ph->t_measure)
		from = ph->t_measure;
	return to > from ? to - from : 0;
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct phase *ph = c->ph;
	void *sock = zmq_socket(ph->ctx, ZMQ_DEALER);
	int zero = 0, fd = -1;
	size_t fdlen = sizeof fd;

	/* Pacing needs sub-millisecond wake-ups. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	if (!sock || zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, ph->server_pub, TN_KEY_Z85_LEN) != 0 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, c->pub, TN_KEY_Z85_LEN) != 0 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, c->sec, TN_KEY_Z85_LEN) != 0 ||
	    zmq_connect(sock, ph->endpoint) != 0 ||
	    zmq_getsockopt(sock, ZMQ_FD, &fd, &fdlen) != 0) {
		say("%s: connection %d: %s", ph->name, c->idx, zmq_strerror(errno));
		c->failed = true;
	}

	/* Warm-up: the CURVE handshake and one answered frame, before the clock starts. */
	if (!c->failed) {
		int64_t give_up = mono_ns() + 10 * NS;
		while (!send_frame(c, sock, mono_ns()) && mono_ns() < give_up)
			wait_fd(fd, 1000000);
		while (c->n > 0 && mono_ns() < give_up) {
			drain_replies(c, sock, false);
			if (c->n > 0)
				wait_fd(fd, 10000000);
		}
		if (c->n > 0) {
			say("%s: connection %d: no reply within 10 s (key not registered? server "
			    "down?)",
			    ph->name, c->idx);
			c->failed = true;
		}
	}
	pthread_barrier_wait(&ph->ready);
	pthread_barrier_wait(&ph->go);
	if (atomic_load(&ph->abort) || c->failed)
		goto out;

	int64_t next = ph->t0 + (ph->mode == OPEN ? ph->interval_ns * c->idx / ph->window : 0);
	for (;;) {
		int64_t now = mono_ns();
		bool sending = now < ph->t_end && !atomic_load(&ph->abort);
		int64_t timeout;

		bool held = sending && ph->stored &&
			    atomic_load(ph->acked_total) > atomic_load(ph->stored) + ph->max_lag;
		if (held && !c->held_from)
			c->held_from = now;
		else if (!held && c->held_from) {
			c->held_ns += held_span(ph, c->held_from, now);
			c->held_from = 0;
		}
		if (held) {
			/* nothing: wait for the store, reading replies meanwhile */
		} else if (sending && ph->mode == CLOSED) {
			while (c->n < (size_t)ph->window && send_frame(c, sock, now))
				now = mono_ns();
		} else if (sending) {
			/* Late frames go at once: their latency runs from the schedule. */
			while (next <= now && next < ph->t_end) {
				if (!send_frame(c, sock, next)) {
					if (c->n < FIFO_CAP)
						break; /* would block: retry this slot */
				}
				next += ph->interval_ns;
			}
		}
		drain_replies(c, sock, true);
		now = mono_ns();
		if (!sending && c->n == 0)
			break;
		if (!sending && now > ph->t_end + DRAIN_NS) {
			c->lost = c->n;
			break;
		}
		if (held)
			timeout = 2000000;
		else if (sending && ph->mode == OPEN)
			timeout = (next < ph->t_end ? next : ph->t_end) - now;
		else if (sending && c->n < (size_t)ph->window)
			timeout = 0;
		else
			timeout = 50000000;
		if (sending && ph->t_end - now < timeout)
			timeout = ph->t_end - now;
		wait_fd(fd, timeout);
	}
	if (c->held_from)
		c->held_ns += held_span(ph, c->held_from, ph->t_end);
out:
	if (sock)
		zmq_close(sock);
	return NULL;
}

struct run_result {
	double seconds, held; /* held: share of the time spent waiting for the store */
	struct second *secs;  /* per second of the phase, all connections */
	size_t nsecs;
	uint64_t frames, events, ok, dup, err, in_window, warm;
	uint64_t bad_replies, order_errors, lost, eagain, overflow;
	int64_t *lat; /* sorted, ns */
	size_t nlat;
	char first_err[256];
	bool failed;
};

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static double pct_ms(const struct run_result *r, double q)
{
	if (r->nlat == 0)
		return NAN;
	size_t i = (size_t)ceil(q * (double)r->nlat);
	if (i == 0)
		i = 1;
	if (i > r->nlat)
		i = r->nlat;
	return (double)r->lat[i - 1] / 1e6;
}

/*
 * Run one phase over opts->adapters connections: connect and warm up every
 * connection, start them together, wait for them, merge their results.
 */
static int run_phase(const struct opts *o, struct phase *ph, struct run_result *r)
{
	struct conn *cs = calloc((size_t)o->adapters, sizeof *cs);
	int rc = 0;

	memset(r, 0, sizeof *r);
	if (!cs)
		return -1;
	pthread_barrier_init(&ph->ready, NULL, (unsigned)o->adapters + 1);
	pthread_barrier_init(&ph->go, NULL, (unsigned)o->adapters + 1);
	atomic_store(&ph->abort, 0);
	for (int i = 0; i < o->adapters; i++) {
		struct conn *c = &cs[i];
		char name[32];
		c->ph = ph;
		c->idx = i;
		snprintf(name, sizeof name, "bench-a%d", i);
		if (read_key(o->keys, name, "pub", 0, c->pub) != 0 ||
		    read_key(o->keys, name, "key", 1, c->sec) != 0)
			exit(1);
		gen_init(&c->gen, ph->nonce, ph->letter, i, o->adapters);
		msgpack_sbuffer_init(&c->sb);
		msgpack_zone_init(&c->zone, 16384);
		c->fifo = malloc(FIFO_CAP * sizeof *c->fifo);
		c->nsecs = (size_t)(ph->duration_ns / NS) + 1;
		c->secs = calloc(c->nsecs, sizeof *c->secs);
		if (!c->fifo || pthread_create(&c->th, NULL, conn_main, c) != 0) {
			say("cannot start a connection thread");
			exit(1);
		}
	}
	pthread_barrier_wait(&ph->ready);
	for (int i = 0; i < o->adapters; i++)
		if (cs[i].failed)
			atomic_store(&ph->abort, 1);
	ph->t0 = mono_ns() + 10000000;
	ph->t_end = ph->t0 + ph->duration_ns;
	ph->t_measure = ph->t0 + ph->warmup_ns;
	if (ph->measure_from)
		atomic_store(ph->measure_from, ph->t_measure);
	pthread_barrier_wait(&ph->go);

	size_t total_lat = 0;
	int64_t t_last = ph->t_end;
	for (int i = 0; i < o->adapters; i++) {
		pthread_join(cs[i].th, NULL);
		total_lat += cs[i].nlat;
	}
	r->lat = malloc((total_lat ? total_lat : 1) * sizeof *r->lat);
	r->nsecs = (size_t)(ph->duration_ns / NS) + 1;
	r->secs = calloc(r->nsecs, sizeof *r->secs);
	for (int i = 0; i < o->adapters; i++) {
		struct conn *c = &cs[i];
		r->frames += c->frames;
		r->events += c->events;
		r->ok += c->ok;
		r->dup += c->dup;
		r->err += c->err;
		r->in_window += c->in_window;
		r->warm += c->warm;
		r->bad_replies += c->bad_replies;
		r->order_errors += c->order_errors;
		r->lost += c->lost;
		r->eagain += c->eagain;
		r->overflow += c->overflow;
		r->failed |= c->failed;
		r->held += (double)c->held_ns / (double)(ph->duration_ns - ph->warmup_ns) /
			   o->adapters;
		if (c->t_last_reply > t_last)
			t_last = c->t_last_reply;
		if (!r->first_err[0] && c->first_err[0])
			snprintf(r->first_err, sizeof r->first_err, "%s", c->first_err);
		if (r->lat && c->nlat)
			memcpy(r->lat + r->nlat, c->lat, c->nlat * sizeof *c->lat);
		r->nlat += r->lat ? c->nlat : 0;
		for (size_t k = 0; r->secs && c->secs && k < r->nsecs; k++) {
			r->secs[k].n += c->secs[k].n;
			r->secs[k].slow += c->secs[k].slow;
			if (c->secs[k].max > r->secs[k].max)
				r->secs[k].max = c->secs[k].max;
		}
		free(c->secs);
		free(c->lat);
		free(c->fifo);
		msgpack_sbuffer_destroy(&c->sb);
		msgpack_zone_destroy(&c->zone);
	}
	qsort(r->lat, r->nlat, sizeof *r->lat, cmp_i64);
	r->seconds = (double)(ph->duration_ns - ph->warmup_ns) / 1e9;
	pthread_barrier_destroy(&ph->ready);
	pthread_barrier_destroy(&ph->go);
	free(cs);
	if (r->failed || atomic_load(&ph->abort))
		rc = -1;
	say("%s: %" PRIu64 " frames, %" PRIu64 " events sent, %" PRIu64 " ok, %" PRIu64
	    " dup, %" PRIu64 " err, %" PRIu64 " lost, replies drained %.2f s after the end",
	    ph->name, r->frames, r->events, r->ok, r->dup, r->err, r->lost,
	    (double)(t_last - ph->t_end) / 1e9);
	if (r->err)
		say("%s: first error: %s", ph->name, r->first_err);
	return rc;
}

static void print_run(const char *p, const struct run_result *r)
{
	printf("%s_seconds=%.3f\n", p, r->seconds);
	printf("%s_frames=%" PRIu64 "\n", p, r->frames);
	printf("%s_events_sent=%" PRIu64 "\n", p, r->events);
	printf("%s_ok=%" PRIu64 "\n%s_dup=%" PRIu64 "\n%s_err=%" PRIu64 "\n", p, r->ok, p, r->dup,
	       p, r->err);
	printf("%s_eps=%.0f\n", p, (double)r->in_window / r->seconds);
	printf("%s_held=%.3f\n", p, r->held);
	printf("%s_lost=%" PRIu64 "\n%s_bad_replies=%" PRIu64 "\n%s_order_errors=%" PRIu64 "\n", p,
	       r->lost, p, r->bad_replies, p, r->order_errors);
	printf("%s_eagain=%" PRIu64 "\n%s_overflow=%" PRIu64 "\n", p, r->eagain, p, r->overflow);
	printf("%s_p50_ms=%.3f\n%s_p99_ms=%.3f\n%s_p999_ms=%.3f\n%s_max_ms=%.3f\n", p,
	       pct_ms(r, 0.50), p, pct_ms(r, 0.99), p, pct_ms(r, 0.999), p, pct_ms(r, 1.0));
	if (r->first_err[0])
		printf("%s_first_err=%s\n", p, r->first_err);
	/* Whole seconds only: the last bucket holds the phase's fraction of a second. */
	size_t full = r->nsecs ? r->nsecs - 1 : 0, bad = 0;
	for (size_t i = 0; r->secs && i < full; i++)
		bad += r->secs[i].n && r->secs[i].slow * 100 > r->secs[i].n;
	printf("%s_slow_seconds=%zu\n%s_whole_seconds=%zu\n%s_sec_max_ms=", p, bad, p, full, p);
	for (size_t i = 0; r->secs && i < full; i++)
		printf("%s%.1f", i ? "," : "", (double)r->secs[i].max / 1e6);
	printf("\n");
	fflush(stdout);
}

/* ---- CPU accounting ----------------------------------------------------- */

struct cpu_mark {
	int64_t t;
	double proc_s; /* tocsind user + system */
	double pg_s;   /* the PostgreSQL cluster: postmaster, its children, reaped children */
	double self_s; /* this process */
	double busy_s, total_s; /* the machine, all CPUs */
	double run_s, wait_s;   /* tocsind's threads: on a CPU, runnable but waiting for one */
	double switches;        /* tocsind's threads: context switches */
};

/* Sum /proc/PID/task/TID/schedstat over the threads of pid (run, wait, switches). */
static void sched_sum(int pid, struct cpu_mark *m)
{
	char path[64];
	DIR *d;
	struct dirent *de;

	m->run_s = m->wait_s = m->switches = 0;
	if (pid <= 0)
		return;
	snprintf(path, sizeof path, "/proc/%d/task", pid);
	if (!(d = opendir(path)))
		return;
	while ((de = readdir(d))) {
		char p[128];
		unsigned long long run, wait, n;
		FILE *f;
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof p, "/proc/%d/task/%.16s/schedstat", pid, de->d_name);
		if (!(f = fopen(p, "r")))
			continue;
		if (fscanf(f, "%llu %llu %llu", &run, &wait, &n) == 3) {
			m->run_s += (double)run / 1e9;
			m->wait_s += (double)wait / 1e9;
			m->switches += (double)n;
		}
		fclose(f);
	}
	closedir(d);
}

/* CPU seconds of process `pid` and its children, from /proc/PID/stat. */
static bool stat_cpu(int pid, int *ppid, double *self_s, double *reaped_s)
{
	char path[64], buf[1024];
	FILE *f;
	unsigned long ut, st;
	long cut, cst;

	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	if (!(f = fopen(path, "r")))
		return false;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %ld %ld", ppid,
			 &ut, &st, &cut, &cst) != 5)
		return false;
	double hz = (double)sysconf(_SC_CLK_TCK);
	*self_s = (double)(ut + st) / hz;
	*reaped_s = (double)(cut + cst) / hz;
	return true;
}

static double pg_cpu_s(int pm)
{
	DIR *d;
	struct dirent *de;
	double sum = 0, self, reaped;
	int ppid;

	if (pm <= 0 || !(d = opendir("/proc")))
		return 0;
	while ((de = readdir(d))) {
		int pid = atoi(de->d_name);
		if (pid <= 0 || !stat_cpu(pid, &ppid, &self, &reaped))
			continue;
		if (pid == pm)
			sum += self + reaped; /* backends that have exited were reaped by it */
		else if (ppid == pm)
			sum += self;
	}
	closedir(d);
	return sum;
}

static void cpu_mark(struct cpu_mark *m, int pid, int pg_pid)
{
	struct rusage ru;
	unsigned long long v[10] = {0};
	FILE *f = fopen("/proc/stat", "r");

	m->t = mono_ns();
	double reaped;
	int ppid;
	if (pid <= 0 || !stat_cpu(pid, &ppid, &m->proc_s, &reaped))
		m->proc_s = 0;
	m->pg_s = pg_cpu_s(pg_pid);
	sched_sum(pid, m);
	getrusage(RUSAGE_SELF, &ru);
	m->self_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	m->busy_s = m->total_s = 0;
	if (f) {
		if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
			   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]) >= 8) {
			double hz = (double)sysconf(_SC_CLK_TCK);
			unsigned long long total = 0;
			for (int i = 0; i < 8; i++)
				total += v[i];
			m->total_s = (double)total / hz;
			m->busy_s = (double)(total - v[3] - v[4]) / hz; /* minus idle, iowait */
		}
		fclose(f);
	}
}

static void print_cpu(const char *p, const struct cpu_mark *a, const struct cpu_mark *b)
{
	double wall = (double)(b->t - a->t) / 1e9;
	double ncpu = (double)sysconf(_SC_NPROCESSORS_ONLN);
	printf("%s_cpu_tocsind=%.0f\n", p, 100 * (b->proc_s - a->proc_s) / wall);
	printf("%s_cpu_bench=%.0f\n", p, 100 * (b->self_s - a->self_s) / wall);
	if (b->run_s > a->run_s)
		printf("%s_runq_ratio=%.2f\n%s_switches_per_s=%.0f\n", p,
		       (b->wait_s - a->wait_s) / (b->run_s - a->run_s), p,
		       (b->switches - a->switches) / wall);
	/* A restarted PostgreSQL has a new postmaster: its CPU cannot be told. */
	if (b->pg_s >= a->pg_s)
		printf("%s_cpu_pg=%.0f\n", p, 100 * (b->pg_s - a->pg_s) / wall);
	if (b->total_s > a->total_s) {
		double machine = 100 * ncpu * (b->busy_s - a->busy_s) / (b->total_s - a->total_s);
		double ours = 100 * ((b->proc_s - a->proc_s) + (b->self_s - a->self_s) +
				     (b->pg_s >= a->pg_s ? b->pg_s - a->pg_s : 0)) / wall;
		printf("%s_cpu_machine=%.0f\n", p, machine);
		if (b->pg_s >= a->pg_s)
			printf("%s_cpu_other=%.0f\n", p, machine > ours ? machine - ours : 0);
	}
	fflush(stdout);
}

/* ---- ceiling A: ZeroMQ + CURVE + MessagePack, no tocsind ----------------- */

/*
 * The other end of ceiling A: a ROUTER with the server key that unpacks each
 * frame with msgpack_unpack and answers it with the same reply map tocsind
 * sends when every event is accepted ({"ok": [ids], "dup": [], "err": []}),
 * so that both ends do the same MessagePack and ZeroMQ work as with tocsind,
 * and nothing else (no validation, no journal, no fsync).
 */
struct echo {
	const char *endpoint;
	char secret[TN_KEY_Z85_LEN + 1];
	void *ctx, *sock;
	pthread_t th;
	atomic_int stop;
	uint64_t frames, events, bad;
};

static void pack_cstr(msgpack_packer *pk, const char *s, size_t n)
{
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

/* The id of an unpacked event map, or NULL. */
static const msgpack_object *event_id(const msgpack_object *m)
{
	if (m->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t j = 0; j < m->via.map.size; j++) {
		const msgpack_object *k = &m->via.map.ptr[j].key;
		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == 2 &&
		    memcmp(k->via.str.ptr, "id", 2) == 0)
			return m->via.map.ptr[j].val.type == MSGPACK_OBJECT_STR
				       ? &m->via.map.ptr[j].val
				       : NULL;
	}
	return NULL;
}

/* Unpack one frame and pack the reply tocsind would send if it took every event. */
static bool echo_reply(msgpack_zone *zone, const void *data, size_t len, msgpack_sbuffer *sb,
		       uint64_t *events)
{
	msgpack_object o;
	msgpack_packer pk;
	size_t off = 0;
	bool ok;

	msgpack_sbuffer_clear(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	pack_cstr(&pk, "ok", 2);
	ok = msgpack_unpack(data, len, &off, zone, &o) == MSGPACK_UNPACK_SUCCESS &&
	     o.type == MSGPACK_OBJECT_ARRAY;
	if (ok) {
		msgpack_pack_array(&pk, o.via.array.size);
		for (uint32_t i = 0; i < o.via.array.size; i++) {
			const msgpack_object *id = event_id(&o.via.array.ptr[i]);
			if (id)
				pack_cstr(&pk, id->via.str.ptr, id->via.str.size);
			else
				msgpack_pack_nil(&pk);
		}
		*events += o.via.array.size;
	} else {
		msgpack_pack_array(&pk, 0);
	}
	pack_cstr(&pk, "dup", 3);
	msgpack_pack_array(&pk, 0);
	pack_cstr(&pk, "err", 3);
	msgpack_pack_array(&pk, 0);
	msgpack_zone_clear(zone);
	return ok;
}

static void *echo_main(void *arg)
{
	struct echo *e = arg;
	msgpack_zone zone;
	msgpack_sbuffer sb;
	zmq_pollitem_t pi = {.socket = e->sock, .events = ZMQ_POLLIN};

	msgpack_zone_init(&zone, 65536);
	msgpack_sbuffer_init(&sb);
	while (!atomic_load(&e->stop)) {
		if (zmq_poll(&pi, 1, 100) <= 0)
			continue;
		for (;;) {
			zmq_msg_t rid, body;
			zmq_msg_init(&rid);
			if (zmq_msg_recv(&rid, e->sock, ZMQ_DONTWAIT) < 0) {
				zmq_msg_close(&rid);
				break;
			}
			zmq_msg_init(&body);
			if (!zmq_msg_more(&rid) || zmq_msg_recv(&body, e->sock, 0) < 0) {
				e->bad++;
			} else {
				const void *data = zmq_msg_data(&body);
				if (!echo_reply(&zone, data, zmq_msg_size(&body), &sb, &e->events))
					e->bad++;
				e->frames++;
				zmq_msg_send(&rid, e->sock, ZMQ_SNDMORE);
				zmq_send(e->sock, sb.data, sb.size, 0);
			}
			zmq_msg_close(&rid);
			zmq_msg_close(&body);
		}
	}
	msgpack_sbuffer_destroy(&sb);
	msgpack_zone_destroy(&zone);
	return NULL;
}

static int echo_start(struct echo *e)
{
	int one = 1, zero = 0, hwm = 1000;
	int64_t maxmsg = TN_WIRE_MAX_FRAME;

	e->ctx = zmq_ctx_new(); /* its own I/O thread, as a separate server process would have */
	e->sock = e->ctx ? zmq_socket(e->ctx, ZMQ_ROUTER) : NULL;
	if (!e->sock || zmq_setsockopt(e->sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
	    zmq_setsockopt(e->sock, ZMQ_CURVE_SECRETKEY, e->secret, TN_KEY_Z85_LEN) != 0 ||
	    zmq_setsockopt(e->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
	    zmq_setsockopt(e->sock, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
	    zmq_setsockopt(e->sock, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
	    zmq_setsockopt(e->sock, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
	    zmq_bind(e->sock, e->endpoint) != 0) {
		say("zmq ceiling: cannot bind %s: %s", e->endpoint, zmq_strerror(errno));
		return -1;
	}
	atomic_store(&e->stop, 0);
	return pthread_create(&e->th, NULL, echo_main, e) == 0 ? 0 : -1;
}

static void echo_stop(struct echo *e)
{
	atomic_store(&e->stop, 1);
	pthread_join(e->th, NULL);
	zmq_close(e->sock);
	zmq_ctx_term(e->ctx);
}

/* ---- ceiling B: COPY of the same rows ----------------------------------- */

static PGconn *pg_open(const char *conninfo)
{
	PGconn *c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		say("postgresql: %s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	return c;
}

static int pg_run(PGconn *c, const char *sql)
{
	PGresult *res = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(res);
	int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;
	if (rc)
		say("postgresql: %s: %s", sql, PQresultErrorMessage(res));
	PQclear(res);
	return rc;
}

/* The first value of the first row of `sql`, as an integer; -1 on error. */
static long long pg_int(PGconn *c, const char *sql)
{
	PGresult *res = PQexec(c, sql);
	long long v = -1;
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	else
		say("postgresql: %s: %s", sql, PQresultErrorMessage(res));
	PQclear(res);
	return v;
}

struct buf {
	char *p;
	size_t len, cap;
};

static void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(struct buf *b, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap * 2 + (size_t)n + 1;
		char *p = realloc(b->p, cap);
		if (!p) {
			say("out of memory");
			exit(1);
		}
		b->p = p;
		b->cap = cap;
	}
}

static void fmt_ts(char out[64], int64_t us)
{
	time_t s = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&s, &tm);
	snprintf(out, 64, "%04d-%02d-%02d %02d:%02d:%02d.%06d+00", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(us % 1000000));
}

/*
 * The row the store would write for the event (TN__STORE_EVENT_COLS order);
 * our strings hold nothing COPY text must escape.
 */
static void copy_row(struct buf *b, const struct gen *g, uint64_t offset, int64_t recv_us)
{
	const struct tn_event *e = &g->ev;
	char t[64], r[64];

	fmt_ts(t, e->time_us);
	fmt_ts(r, recv_us);
	buf_printf(b,
		   "%" PRIu64 "\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%.17g\t%.17g\t"
		   "{\"feeder\": \"%s\", \"load_mw\": %.17g}\n",
		   offset, e->source, e->id, g->adapter, tn_event_type_name(e->type),
		   tn_sector_name(e->sector), e->asset, e->severity, t, r, e->summary, e->lat,
		   e->lon, g->feeder, e->attrs[1].v.f);
}

static int copy_ceiling(const struct opts *o, const char *nonce, double *rows_per_s,
			uint64_t *rows_out)
{
	PGconn *c = pg_open(o->db);
	struct gen g;
	struct buf b = {.p = malloc(1 << 20), .cap = 1 << 20};
	uint64_t rows = 0, offset = 0;
	int rc = 0;

	if (!c || !b.p)
		return -1;
	/* The same columns, constraints and indexes as `events`. */
	if (pg_run(c, "DROP TABLE IF EXISTS bench_copy") ||
	    pg_run(c, "CREATE TABLE bench_copy (LIKE events INCLUDING ALL)")) {
		PQfinish(c);
		return -1;
	}
	gen_init(&g, nonce, 'k', 0, o->adapters);
	/* As long as the sustained phase, measured over the same last part of it,
	 * so that both write into a table of about the same size. */
	int64_t t0 = mono_ns(), measure = t0 + (int64_t)o->warmup_seconds * NS;
	int64_t end = measure + (int64_t)o->seconds * NS, t_first = 0;
	uint64_t rows_before = 0;
	while (mono_ns() < end && rc == 0) {
		if (!t_first && mono_ns() >= measure) {
			t_first = mono_ns();
			rows_before = rows;
		}
		if (pg_run(c, "BEGIN")) {
			rc = -1;
			break;
		}
		PGresult *res = PQexec(c, "COPY bench_copy (journal_offset, source, id, adapter, "
					  "type, sector, asset, severity, time, received, summary, "
					  "lat, lon, attrs) FROM STDIN");
		if (PQresultStatus(res) != PGRES_COPY_IN) {
			say("copy ceiling: %s", PQresultErrorMessage(res));
			PQclear(res);
			rc = -1;
			break;
		}
		PQclear(res);
		int64_t now = real_us();
		for (int i = 0; i < o->copy_tx && rc == 0; i++) {
			if (i % 100 == 0)
				now = real_us();
			g.conn = i % o->adapters; /* the same mix of sources as the adapters */
			snprintf(g.source, sizeof g.source, "bench/scada/a%02d", g.conn);
			snprintf(g.adapter, sizeof g.adapter, "bench-a%d", g.conn);
			gen_next(&g, now);
			offset += 265; /* about a journal record */
			copy_row(&b, &g, offset, now);
			if (b.len >= COPY_CHUNK || i == o->copy_tx - 1) {
				if (PQputCopyData(c, b.p, (int)b.len) != 1)
					rc = -1;
				b.len = 0;
			}
		}
		if (PQputCopyEnd(c, NULL) != 1)
			rc = -1;
		while ((res = PQgetResult(c))) {
			if (PQresultStatus(res) != PGRES_COMMAND_OK) {
				say("copy ceiling: %s", PQresultErrorMessage(res));
				rc = -1;
			}
			PQclear(res);
		}
		if (rc == 0 && pg_run(c, "COMMIT") == 0)
			rows += (uint64_t)o->copy_tx;
		else
			rc = -1;
	}
	double secs = t_first ? (double)(mono_ns() - t_first) / 1e9 : 0;
	long long n = pg_int(c, "SELECT count(*) FROM bench_copy");
	printf("copy_table_mib=%lld\n",
	       pg_int(c, "SELECT pg_total_relation_size('bench_copy') / 1048576"));
	if (n != (long long)rows) {
		say("copy ceiling: table holds %lld rows, %" PRIu64 " committed", n, rows);
		rc = -1;
	}
	pg_run(c, "DROP TABLE bench_copy");
	PQfinish(c);
	free(b.p);
	*rows_per_s = secs > 0 ? (double)(rows - rows_before) / secs : 0;
	*rows_out = rows;
	return rc;
}

static void make_nonce(char out[16])
{
	snprintf(out, 16, "r%06x", (unsigned)(real_us() / 1000) & 0xffffffu);
}

static void phase_init(struct phase *ph, const struct opts *o, const char *name, char letter,
		       const char *nonce, const char *endpoint, const char *server_pub, void *ctx)
{
	memset(ph, 0, sizeof *ph);
	ph->name = name;
	ph->letter = letter;
	ph->nonce = nonce;
	ph->endpoint = endpoint;
	snprintf(ph->server_pub, sizeof ph->server_pub, "%s", server_pub);
	ph->ctx = ctx;
	ph->mode = CLOSED;
	ph->batch = o->batch;
	ph->window = o->window;
	ph->duration_ns = (int64_t)o->seconds * NS;
}

static void *client_ctx(const struct opts *o)
{
	void *ctx = zmq_ctx_new();
	if (!ctx || zmq_ctx_set(ctx, ZMQ_IO_THREADS, o->io_threads) != 0) {
		say("zmq_ctx_new: %s", zmq_strerror(errno));
		exit(1);
	}
	return ctx;
}

/*
 * The disk's part of the ack latency: fdatasync after appending 16 KiB (a
 * group of about six 10-event frames) to a growing file, as the journal does,
 * in the journal's file system. No ack can come sooner than one of these.
 */
static int fsync_probe(const char *dir)
{
	char path[4096], block[16384];
	int64_t lat[2000];
	size_t n = 0;

	snprintf(path, sizeof path, "%s/fsync-probe", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		say("fsync probe: %s: %s", path, strerror(errno));
		return -1;
	}
	memset(block, 'j', sizeof block);
	int64_t end = mono_ns() + 5 * NS;
	while (n < sizeof lat / sizeof lat[0] && mono_ns() < end) {
		if (write(fd, block, sizeof block) != (ssize_t)sizeof block)
			break;
		int64_t t = mono_ns();
		if (fdatasync(fd) != 0)
			break;
		lat[n++] = mono_ns() - t;
	}
	close(fd);
	unlink(path);
	qsort(lat, n, sizeof lat[0], cmp_i64);
	struct run_result r = {.lat = lat, .nlat = n};
	printf("fsync_n=%zu\nfsync_p50_ms=%.3f\nfsync_p99_ms=%.3f\nfsync_max_ms=%.3f\n", n,
	       pct_ms(&r, 0.5), pct_ms(&r, 0.99), pct_ms(&r, 1));
	fflush(stdout);
	say("fsync probe: %zu fdatasync of 16 KiB appends: p50 %.3f ms, p99 %.3f ms, max %.3f ms",
	    n, pct_ms(&r, 0.5), pct_ms(&r, 0.99), pct_ms(&r, 1));
	return n ? 0 : -1;
}

static int cmd_ceilings(const struct opts *o)
{
	char nonce[16], pub[TN_KEY_Z85_LEN + 1];
	struct echo e = {.endpoint = o->endpoint};
	struct phase ph;
	struct run_result r;
	struct cpu_mark a, b;
	int rc = 0;

	make_nonce(nonce);
	if (read_key(o->keys, "server", "pub", 0, pub) ||
	    read_key(o->keys, "server", "key", 1, e.secret) || echo_start(&e))
		return 1;
	void *ctx = client_ctx(o);
	phase_init(&ph, o, "zmq ceiling", 'z', nonce, o->endpoint, pub, ctx);
	ph.duration_ns = (int64_t)o->ceil_seconds * NS;
	say("ceiling A: %d connections x window %d x %d events, %d s, DEALER -> ROUTER + CURVE, "
	    "no tocsind",
	    o->adapters, o->window, o->batch, o->ceil_seconds);
	cpu_mark(&a, 0, o->pg_pid);
	if (run_phase(o, &ph, &r) != 0)
		rc = 1;
	cpu_mark(&b, 0, o->pg_pid);
	print_run("zmq", &r);
	print_cpu("zmq", &a, &b);
	free(r.lat);
	free(r.secs);
	say("ceiling A: %.0f events/s", (double)r.in_window / r.seconds);

	/* The latency floor: the open-loop load of the latency phase, same path. */
	phase_init(&ph, o, "zmq latency floor", 'y', nonce, o->endpoint, pub, ctx);
	ph.mode = OPEN;
	ph.batch = o->lat_batch;
	ph.window = o->adapters;
	ph.interval_ns = (int64_t)((double)NS * o->adapters * o->lat_batch / o->rate);
	ph.duration_ns = (int64_t)o->ceil_seconds * NS;
	cpu_mark(&a, 0, o->pg_pid);
	if (run_phase(o, &ph, &r) != 0)
		rc = 1;
	cpu_mark(&b, 0, o->pg_pid);
	print_run("zlat", &r);
	print_cpu("zlat", &a, &b);
	say("ceiling A: at %.0f events/s in frames of %d: p50 %.3f ms, p99 %.3f ms, max %.3f ms",
	    o->rate, o->lat_batch, pct_ms(&r, 0.5), pct_ms(&r, 0.99), pct_ms(&r, 1));
	free(r.lat);
	free(r.secs);
	zmq_ctx_term(ctx);
	echo_stop(&e);

	if (o->journal && fsync_probe(o->journal) != 0)
		rc = 1;

	double rps = 0;
	uint64_t rows = 0;
	say("ceiling B: COPY of the same rows, %d rows per transaction, %d s measured after %d s",
	    o->copy_tx, o->seconds, o->warmup_seconds);
	cpu_mark(&a, 0, o->pg_pid);
	if (copy_ceiling(o, nonce, &rps, &rows) != 0)
		rc = 1;
	cpu_mark(&b, 0, o->pg_pid);
	printf("copy_rows=%" PRIu64 "\ncopy_rps=%.0f\ncopy_tx=%d\ncopy_seconds=%d\n"
	       "copy_warmup=%d\n",
	       rows, rps, o->copy_tx, o->seconds, o->warmup_seconds);
	print_cpu("copy", &a, &b);
	say("ceiling B: %.0f rows/s", rps);
	return rc;
}

/* ---- the monitor: store lag and tocsind's memory ------------------------ */

struct sample {
	int64_t t;
	uint64_t acked;
};

struct rss_sample {
	int64_t t;
	long kib, anon; /* VmRSS, and its anonymous part (heap, stacks) */
};

enum { PH_SUS, PH_PEAK, PH_LAT, PH_RSS, PH_IDLE };

struct monitor {
	const struct opts *o;
	PGconn *pg;
	atomic_uint_fast64_t *acked_total;
	pthread_t th;
	atomic_int stop;
	atomic_int phase;       /* where maxima go: a PH_* slot */
	atomic_int_fast64_t measure_from; /* maxima only from this time on (warm-up) */
	atomic_int rss_on;      /* sample RSS every second */
	atomic_uint_fast64_t stored; /* events in PostgreSQL, below store_progress */
	atomic_uint_fast64_t progress;
	uint64_t max_lag_ev[5]; /* per phase slot (PH_*) */
	double max_lag_s[5];
	uint64_t errors;
	struct sample *ser;
	size_t nser, capser;
	struct rss_sample *rss;
	size_t nrss, caprss;
	pthread_mutex_t lock; /* guards the maxima and the RSS samples against main's reads */
};

static long status_kib(int pid, const char *field)
{
	char path[64], line[256];
	size_t fl = strlen(field);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
			v = strtol(line + fl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* The journal's end: the last segment's base plus its size. */
static uint64_t journal_end(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	uint64_t best = 0, base;
	bool found = false;
	char path[4096];
	struct stat st;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (tn_journal_segment_parse(de->d_name, &base) == 0 && (!found || base > best)) {
			best = base;
			found = true;
		}
	closedir(d);
	if (!found)
		return 0;
	char name[TN_JOURNAL_SEGNAME_SIZE];
	tn_journal_segment_name(name, best);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	return stat(path, &st) == 0 ? best + (uint64_t)st.st_size : best;
}

/*
 * One look at the store: store_progress and the events below it that are new
 * since the last look, in one statement (one snapshot), so that the count
 * stays exact and cheap (an index range scan over the new rows only).
 */
static int monitor_poll_store(struct monitor *m)
{
	char from[24];
	const char *params[1] = {from};
	uint64_t prev = atomic_load(&m->progress);

	if (!m->pg || PQstatus(m->pg) != CONNECTION_OK) {
		PQfinish(m->pg);
		m->pg = PQconnectdb(m->o->db);
		if (PQstatus(m->pg) != CONNECTION_OK) {
			m->errors++;
			return -1;
		}
	}
	snprintf(from, sizeof from, "%" PRIu64, prev);
	PGresult *res = PQexecParams(m->pg,
				     "SELECT p.journal_offset, (SELECT count(*) FROM events e "
				     "WHERE e.journal_offset >= $1::bigint "
				     "AND e.journal_offset < p.journal_offset) "
				     "FROM store_progress p WHERE p.stream = 'journal'",
				     1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		m->errors++;
		PQclear(res);
		return -1;
	}
	uint64_t off = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	uint64_t n = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	if (off > prev) {
		atomic_fetch_add(&m->stored, n);
		atomic_store(&m->progress, off);
	}
	return 0;
}

/* Seconds since the oldest event not yet stored was acked (0 when none is waiting). */
static double lag_seconds(const struct monitor *m, uint64_t stored, int64_t now)
{
	size_t lo = 0, hi = m->nser;

	if (m->nser == 0 || m->ser[m->nser - 1].acked <= stored)
		return 0;
	while (lo < hi) { /* the first sample with acked > stored */
		size_t mid = (lo + hi) / 2;
		if (m->ser[mid].acked > stored)
			hi = mid;
		else
			lo = mid + 1;
	}
	return (double)(now - m->ser[lo].t) / 1e9;
}

static void *monitor_main(void *arg)
{
	struct monitor *m = arg;
	int64_t next_rss = 0;

	while (!atomic_load(&m->stop)) {
		int64_t now = mono_ns();
		uint64_t acked = atomic_load(m->acked_total);
		if (m->nser == m->capser) {
			size_t cap = m->capser ? m->capser * 2 : 8192;
			struct sample *p = realloc(m->ser, cap * sizeof *p);
			if (p) {
				m->ser = p;
				m->capser = cap;
			}
		}
		if (m->nser < m->capser)
			m->ser[m->nser++] = (struct sample){now, acked};
		if (monitor_poll_store(m) == 0) {
			uint64_t stored = atomic_load(&m->stored);
			uint64_t lag = acked > stored ? acked - stored : 0;
			double ls = lag_seconds(m, stored, now);
			int ph = now >= atomic_load(&m->measure_from) ? atomic_load(&m->phase)
								      : PH_IDLE;
			pthread_mutex_lock(&m->lock);
			if (lag > m->max_lag_ev[ph])
				m->max_lag_ev[ph] = lag;
			if (ls > m->max_lag_s[ph])
				m->max_lag_s[ph] = ls;
			pthread_mutex_unlock(&m->lock);
		}
		if (atomic_load(&m->rss_on) && now >= next_rss) {
			long kib = status_kib(m->o->pid, "VmRSS");
			long anon = status_kib(m->o->pid, "RssAnon");
			pthread_mutex_lock(&m->lock);
			if (m->nrss == m->caprss) {
				size_t cap = m->caprss ? m->caprss * 2 : 1024;
				struct rss_sample *p = realloc(m->rss, cap * sizeof *p);
				if (p) {
					m->rss = p;
					m->caprss = cap;
				}
			}
			if (kib > 0 && m->nrss < m->caprss)
				m->rss[m->nrss++] = (struct rss_sample){now, kib, anon};
			pthread_mutex_unlock(&m->lock);
			next_rss = (next_rss ? next_rss : now) + NS;
		}
		struct timespec ts = {0, MONITOR_NS - (mono_ns() - now) % MONITOR_NS};
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* Wait until everything acked is in PostgreSQL; seconds it took, or -1. */
static double wait_caught_up(struct monitor *m, int64_t since)
{
	uint64_t acked = atomic_load(m->acked_total);
	while (atomic_load(&m->stored) < acked) {
		if (mono_ns() - since > CATCHUP_NS)
			return -1;
		struct timespec ts = {0, 5000000};
		nanosleep(&ts, NULL);
	}
	return (double)(mono_ns() - since) / 1e9;
}

/*
 * One scrape of tocsind's metrics endpoint (`addr` IPV4:PORT): the journal
 * bytes the correlator and the alerts thread have still to read, and the
 * events the engine holds for its watermark; a gauge that is not there
 * (correlator or alerts disabled) counts as 0. 0, or -1 (no metrics).
 */
static int scrape(const char *addr, char *buf, size_t cap)
{
	char host[64];
	const char *colon = strrchr(addr, ':');
	struct sockaddr_in sa = {.sin_family = AF_INET};
	size_t n = 0;
	int fd;

	if (!colon || (size_t)(colon - addr) >= sizeof host)
		return -1;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = 0;
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
	    (fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	struct timeval tv = {2, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	static const char req[] = "GET /metrics HTTP/1.0\r\nHost: bench\r\n\r\n";
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
	    write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1)) {
		close(fd);
		return -1;
	}
	for (ssize_t r; n < cap - 1 && (r = read(fd, buf + n, cap - 1 - n)) > 0;)
		n += (size_t)r;
	close(fd);
	buf[n] = 0;
	return strstr(buf, "\ntocsin_") ? 0 : -1;
}

static int scrape_lags(const char *addr, double *corr, double *alerts, double *held)
{
	static char buf[1 << 18];
	if (scrape(addr, buf, sizeof buf) != 0)
		return -1;
	static const char *const name[3] = {"\ntocsin_correlator_lag_bytes ",
					    "\ntocsin_alerts_lag_bytes ",
					    "\ntocsin_correlator_buffered_events "};
	double *v[3] = {corr, alerts, held};
	for (int i = 0; i < 3; i++) {
		const char *at = strstr(buf, name[i]);
		*v[i] = at ? strtod(at + strlen(name[i]), NULL) : 0;
	}
	return 0;
}

#define IDLE_BYTES 65536 /* "caught up": less than this left to read (a tick is ~40 B) */

/*
 * What tocsind says of itself over a phase: its histograms of the ack
 * inside the server (from reading a frame to handing the reply over) and of
 * the journal's fsync, and two counters. The load generator's latency is
 * this plus the network and ZeroMQ's queues at both ends; the two together
 * say which side a tail is on.
 */
#define SRV_BUCKETS 17 /* stat.h's 16 bounds and +Inf */

struct srv_snap {
	bool ok;
	double le[2][SRV_BUCKETS], n[2][SRV_BUCKETS]; /* [0] ack, [1] fsync; cumulative */
	double syncs, store_tx;
};

/* The buckets of histogram `name` from a scrape, in order; false if absent. */
static bool parse_hist(const char *buf, const char *name, double *le, double *n)
{
	char key[128];
	int k = 0;
	snprintf(key, sizeof key, "\n%s_bucket{le=\"", name);
	for (const char *at = strstr(buf, key); at && k < SRV_BUCKETS; at = strstr(at, key)) {
		at += strlen(key);
		le[k] = strncmp(at, "+Inf", 4) == 0 ? INFINITY : strtod(at, NULL);
		const char *sp = strchr(at, ' ');
		if (!sp)
			return false;
		n[k++] = strtod(sp + 1, NULL);
	}
	return k == SRV_BUCKETS;
}

static double parse_value(const char *buf, const char *name)
{
	char key[128];
	snprintf(key, sizeof key, "\n%s ", name);
	const char *at = strstr(buf, key);
	return at ? strtod(at + strlen(key), NULL) : NAN;
}

static void srv_take(const struct opts *o, struct srv_snap *s)
{
	static char buf[1 << 18];
	s->ok = o->metrics && scrape(o->metrics, buf, sizeof buf) == 0 &&
		parse_hist(buf, "tocsin_ingest_ack_duration_seconds", s->le[0], s->n[0]) &&
		parse_hist(buf, "tocsin_journal_fsync_duration_seconds", s->le[1], s->n[1]);
	if (s->ok) {
		s->syncs = parse_value(buf, "tocsin_journal_syncs_total");
		s->store_tx = parse_value(buf, "tocsin_store_transactions_total");
	}
}

/* The upper bound (ms) of the bucket holding quantile q of b - a, histogram h. */
static double srv_q_ms(const struct srv_snap *a, const struct srv_snap *b, int h, double q)
{
	double total = b->n[h][SRV_BUCKETS - 1] - a->n[h][SRV_BUCKETS - 1];
	if (total <= 0)
		return NAN;
	for (int k = 0; k < SRV_BUCKETS; k++)
		if (b->n[h][k] - a->n[h][k] >= q * total)
			return b->le[h][k] * 1000;
	return INFINITY;
}

static void print_srv(const char *p, const struct srv_snap *a, const struct srv_snap *b,
		      double seconds)
{
	static const char *const hn[2] = {"ack", "fsync"};
	static const double qs[3] = {0.5, 0.99, 0.999};
	static const char *const qn[3] = {"p50", "p99", "p999"};

	if (!a->ok || !b->ok || seconds <= 0)
		return;
	for (int h = 0; h < 2; h++)
		for (int i = 0; i < 3; i++)
			printf("%s_srv_%s_%s_le_ms=%g\n", p, hn[h], qn[i], srv_q_ms(a, b, h, qs[i]));
	printf("%s_srv_fsyncs_per_s=%.0f\n%s_srv_store_tx_per_s=%.1f\n", p,
	       (b->syncs - a->syncs) / seconds, p, (b->store_tx - a->store_tx) / seconds);
}

/*
 * After the store has caught up: wait until the correlator and the alerts
 * thread have too, and the engine holds no event for its watermark (it
 * holds each for lateness_s, 60 s by default, then revises incidents:
 * work the next phase would otherwise meet), and the store has stored
 * those revisions. Seconds since `since`, or -1 (not within CATCHUP_NS,
 * or no metrics).
 */
static double wait_pipeline_idle(const struct opts *o, struct monitor *m, int64_t since)
{
	double corr, alerts, held;

	if (!o->metrics)
		return -1;
	while (mono_ns() - since <= CATCHUP_NS) {
		if (scrape_lags(o->metrics, &corr, &alerts, &held) == 0 && corr < IDLE_BYTES &&
		    alerts < IDLE_BYTES && held == 0 &&
		    journal_end(o->journal) - atomic_load(&m->progress) < IDLE_BYTES)
			return (double)(mono_ns() - since) / 1e9;
		struct timespec ts = {0, 20000000};
		nanosleep(&ts, NULL);
	}
	return -1;
}

/*
 * count(*) of events against what was acked; and, with wait_s > 0,
 * store_progress against the journal's end as it is now. The journal keeps
 * growing after the load (clock ticks; the incident revisions of events the
 * correlator still holds, up to its lateness), so the check is that the
 * store reaches this end within wait_s, not that the two are ever equal.
 */
static void check_stored(struct monitor *m, const char *p, int wait_s)
{
	PGconn *c = pg_open(m->o->db);
	uint64_t acked = atomic_load(m->acked_total);
	uint64_t end = journal_end(m->o->journal);
	long long n, prog = -1;
	int64_t t0 = mono_ns();

	while (c && wait_s > 0) {
		prog = pg_int(c, "SELECT journal_offset FROM store_progress "
				 "WHERE stream = 'journal'");
		if (prog < 0 || (uint64_t)prog >= end || mono_ns() - t0 > wait_s * NS)
			break;
		struct timespec ts = {0, 50000000};
		nanosleep(&ts, NULL);
	}
	n = c ? pg_int(c, "SELECT count(*) FROM events") : -1;
	if (c)
		printf("%s_table_mib=%lld\n", p,
		       pg_int(c, "SELECT pg_total_relation_size('events') / 1048576"));
	printf("%s_count=%lld\n%s_acked=%" PRIu64 "\n%s_count_check=%s\n", p, n, p, acked, p,
	       n >= 0 && (uint64_t)n == acked ? "PASS" : "FAIL");
	if (wait_s > 0)
		printf("%s_progress=%lld\n%s_journal_end=%" PRIu64 "\n%s_progress_check=%s\n"
		       "%s_progress_s=%.1f\n",
		       p, prog, p, end, p, prog >= 0 && (uint64_t)prog >= end ? "PASS" : "FAIL", p,
		       (double)(mono_ns() - t0) / 1e9);
	fflush(stdout);
	say("%s: count(*) events %lld, acked %" PRIu64 ", store_progress %lld, journal end "
	    "%" PRIu64,
	    p, n, acked, prog, end);
	PQfinish(c);
}

static void print_lag(struct monitor *m, const char *p, int ph)
{
	pthread_mutex_lock(&m->lock);
	printf("%s_lag_max_events=%" PRIu64 "\n%s_lag_max_s=%.3f\n", p, m->max_lag_ev[ph], p,
	       m->max_lag_s[ph]);
	pthread_mutex_unlock(&m->lock);
	fflush(stdout);
}

/* Least-squares slope of RSS over time, KiB per minute, samples [a, b). */
static double rss_slope(const struct rss_sample *s, size_t a, size_t b)
{
	double n = (double)(b - a), sx = 0, sy = 0, sxx = 0, sxy = 0;
	if (b - a < 2)
		return 0;
	for (size_t i = a; i < b; i++) {
		double x = (double)(s[i].t - s[a].t) / 60e9, y = (double)s[i].kib;
		sx += x;
		sy += y;
		sxx += x * x;
		sxy += x * y;
	}
	double d = n * sxx - sx * sx;
	return d > 0 ? (n * sxy - sx * sy) / d : 0;
}

static double rss_mean(const struct rss_sample *s, size_t a, size_t b)
{
	double sum = 0;
	for (size_t i = a; i < b; i++)
		sum += (double)s[i].kib;
	return b > a ? sum / (double)(b - a) : NAN;
}

static void print_rss(struct monitor *m, double seconds)
{
	pthread_mutex_lock(&m->lock);
	size_t n = m->nrss;
	/* First and last minute; thirds of the run when it is shorter than 3 minutes. */
	double win = seconds >= 180 ? 60 : seconds / 3;
	size_t w = (size_t)win;
	if (w < 1)
		w = 1;
	if (w > n / 2)
		w = n / 2;
	printf("rss_samples=%zu\nrss_window_s=%zu\n", n, w);
	if (n >= 2) {
		long lo = m->rss[0].kib, hi = m->rss[0].kib;
		for (size_t i = 0; i < n; i++) {
			lo = m->rss[i].kib < lo ? m->rss[i].kib : lo;
			hi = m->rss[i].kib > hi ? m->rss[i].kib : hi;
		}
		printf("rss_first_kib=%.0f\nrss_last_kib=%.0f\n", rss_mean(m->rss, 0, w),
		       rss_mean(m->rss, n - w, n));
		printf("rss_min_kib=%ld\nrss_max_kib=%ld\n", lo, hi);
		printf("rss_slope_kib_min=%.1f\nrss_slope2_kib_min=%.1f\n", rss_slope(m->rss, 0, n),
		       rss_slope(m->rss, n / 2, n));
		printf("rss_anon_first_kib=%ld\nrss_anon_last_kib=%ld\n", m->rss[0].anon,
		       m->rss[n - 1].anon);
		/* VmRSS every 10 s, for the record. */
		printf("rss_series_mib=");
		for (size_t i = 0; i < n; i += 10)
			printf("%s%.1f", i ? "," : "", (double)m->rss[i].kib / 1024);
		printf("\n");
	}
	pthread_mutex_unlock(&m->lock);
	fflush(stdout);
}

/*
 * Run one phase against tocsind with the monitor's maxima going to slot `slot`,
 * then wait for the store to catch up, and print the phase's figures with
 * the prefix p. With `rss`, tocsind's RSS is sampled during the load.
 */
static int server_phase(const struct opts *o, struct monitor *m, struct phase *ph,
			const char *p, int slot, bool rss)
{
	struct run_result r;
	struct cpu_mark a, b;
	int rc = 0;

	atomic_store(&m->measure_from, INT64_MAX);
	ph->measure_from = &m->measure_from;
	atomic_store(&m->phase, slot);
	atomic_store(&m->rss_on, rss);
	struct srv_snap sa, sb;
	srv_take(o, &sa);
	cpu_mark(&a, o->pid, o->pg_pid);
	if (run_phase(o, ph, &r) != 0)
		rc = 1;
	cpu_mark(&b, o->pid, o->pg_pid);
	srv_take(o, &sb);
	atomic_store(&m->rss_on, 0);
	int64_t t_done = mono_ns();
	print_run(p, &r);
	print_cpu(p, &a, &b);
	print_srv(p, &sa, &sb, (double)(b.t - a.t) / 1e9);
	say("%s: %.0f events/s acked; latency p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f "
	    "ms",
	    ph->name, (double)r.in_window / r.seconds, pct_ms(&r, 0.5), pct_ms(&r, 0.99),
	    pct_ms(&r, 0.999), pct_ms(&r, 1));
	free(r.lat);
	free(r.secs);
	double cu = wait_caught_up(m, t_done);
	atomic_store(&m->phase, PH_IDLE);
	print_lag(m, p, slot);
	printf("%s_catchup_s=%.3f\n", p, cu);
	if (cu < 0)
		say("%s: the store did not catch up within %lld s", ph->name,
		    (long long)(CATCHUP_NS / NS));
	else
		say("%s: the store caught up %.2f s after the load stopped", ph->name, cu);
	double idle = wait_pipeline_idle(o, m, t_done);
	printf("%s_idle_s=%.3f\n", p, idle);
	if (idle < 0)
		say("%s: the pipeline was not idle within %lld s (or no metrics)", ph->name,
		    (long long)(CATCHUP_NS / NS));
	else
		say("%s: the pipeline was idle %.2f s after the load stopped (correlator, its "
		    "held events, alerts, store)",
		    ph->name, idle);
	/* Start the next phase without this one's dirty buffers still being written
	 * out: each phase then meets only the checkpoints its own load causes. */
	PGconn *c = pg_open(o->db);
	int64_t t = mono_ns();
	if (c && pg_run(c, "CHECKPOINT") == 0)
		printf("%s_checkpoint_s=%.3f\n", p, (double)(mono_ns() - t) / 1e9);
	PQfinish(c);
	fflush(stdout);
	/* A store that does not catch up is a finding, not a failure of the bench. */
	return rc;
}

static int cmd_server(const struct opts *o)
{
	char nonce[16], pub[TN_KEY_Z85_LEN + 1];
	static atomic_uint_fast64_t acked_total;
	static struct monitor m;
	struct phase ph;
	int rc = 0;

	if (o->pid <= 0 || !o->journal) {
		say("server: --pid and --journal are required");
		return 2;
	}
	make_nonce(nonce);
	if (read_key(o->keys, "server", "pub", 0, pub))
		return 1;
	m.o = o;
	m.acked_total = &acked_total;
	pthread_mutex_init(&m.lock, NULL);
	atomic_store(&m.phase, PH_IDLE);
	m.pg = pg_open(o->db);
	if (!m.pg)
		return 1;
	long long before = pg_int(m.pg, "SELECT count(*) FROM events");
	if (before != 0) {
		say("server: the bench database must start empty (events has %lld rows)", before);
		return 1;
	}
	if (pthread_create(&m.th, NULL, monitor_main, &m) != 0)
		return 1;
	void *ctx = client_ctx(o);

	/* 1. Sustained: as fast as acks allow, holding back while the store is
	 * more than max_lag events behind: the rate the whole pipeline sustains. */
	phase_init(&ph, o, "sustained", 's', nonce, o->endpoint, pub, ctx);
	ph.acked_total = &acked_total;
	ph.stored = &m.stored;
	ph.max_lag = (uint64_t)o->max_lag;
	ph.warmup_ns = (int64_t)o->warmup_seconds * NS;
	ph.duration_ns = (int64_t)(o->warmup_seconds + o->seconds) * NS;
	say("sustained: %d connections x window %d x %d events, store lag capped at %d events, "
	    "%d s measured after %d s of warm-up",
	    o->adapters, o->window, o->batch, o->max_lag, o->seconds, o->warmup_seconds);
	rc |= server_phase(o, &m, &ph, "sus", PH_SUS, false);
	check_stored(&m, "sus", 0);
	printf("max_lag=%d\nwarmup_seconds=%d\n", o->max_lag, o->warmup_seconds);

	/* 2. Peak: the same load without the cap, ingest and journal alone; the
	 * journal absorbs what the store cannot take yet (design §5). */
	phase_init(&ph, o, "peak", 'p', nonce, o->endpoint, pub, ctx);
	ph.acked_total = &acked_total;
	ph.duration_ns = (int64_t)o->peak_seconds * NS;
	say("peak: the same without the lag cap, %d s", o->peak_seconds);
	rc |= server_phase(o, &m, &ph, "peak", PH_PEAK, false);

	/* 3. Latency at a fixed offered load, open loop, small frames. */
	phase_init(&ph, o, "latency", 'l', nonce, o->endpoint, pub, ctx);
	ph.acked_total = &acked_total;
	ph.mode = OPEN;
	ph.batch = o->lat_batch;
	ph.window = o->adapters; /* OPEN: staggers the connections' schedules */
	ph.interval_ns = (int64_t)((double)NS * o->adapters * o->lat_batch / o->rate);
	ph.duration_ns = (int64_t)o->lat_seconds * NS;
	say("latency: %.0f events/s offered in frames of %d over %d connections (one frame "
	    "every %.3f ms each), %d s",
	    o->rate, o->lat_batch, o->adapters, (double)ph.interval_ns / 1e6, o->lat_seconds);
	printf("lat_rate=%.0f\nlat_batch=%d\n", o->rate, o->lat_batch);
	rc |= server_phase(o, &m, &ph, "lat", PH_LAT, false);

	/* 4. The long run for RSS: the same paced load, tocsind's RSS every second. */
	ph.name = "rss";
	ph.letter = 'm';
	ph.duration_ns = (int64_t)o->rss_seconds * NS;
	say("rss: %.0f events/s for %d s, sampling tocsind's RSS every second", o->rate,
	    o->rss_seconds);
	rc |= server_phase(o, &m, &ph, "rss", PH_RSS, true);
	printf("rss_seconds_run=%d\n", o->rss_seconds);
	print_rss(&m, (double)o->rss_seconds);
	printf("rss_hwm_kib=%ld\n", status_kib(o->pid, "VmHWM"));
	check_stored(&m, "final", 300);
	printf("monitor_errors=%" PRIu64 "\n", m.errors);

	atomic_store(&m.stop, 1);
	pthread_join(m.th, NULL);
	PQfinish(m.pg);
	zmq_ctx_term(ctx);
	return rc;
}

/* ---- the summary -------------------------------------------------------- */

#define MAX_RES 256

static struct {
	char k[64], v[4096];
} res[MAX_RES];
static int nres;

static const char *rs(const char *k)
{
	for (int i = nres - 1; i >= 0; i--)
		if (strcmp(res[i].k, k) == 0)
			return res[i].v;
	return NULL;
}

static double rd(const char *k)
{
	const char *v = rs(k);
	return v ? strtod(v, NULL) : NAN;
}

/* 1234567 as "1,234,567". */
static const char *grp(double v)
{
	static char bufs[8][32];
	static int k;
	char *o = bufs[k++ % 8], t[32];

	if (isnan(v))
		return "n/a";
	snprintf(t, sizeof t, "%.0f", v);
	size_t n = strlen(t), j = 0, lead = (t[0] == '-');
	for (size_t i = 0; i < n; i++) {
		o[j++] = t[i];
		size_t left = n - i - 1;
		if (i >= lead && left > 0 && left % 3 == 0)
			o[j++] = ',';
	}
	o[j] = 0;
	return o;
}

static const char *verdict(bool ok)
{
	return ok ? "target met" : "target NOT met";
}

/*
 * "caught up N s after the load stopped" (key PHASE_catchup_s: the store's
 * events), or with `idle` the whole pipeline's (PHASE_idle_s:
 * wait_pipeline_idle), or that it did not.
 */
static const char *catchup(const char *k, bool idle)
{
	static char bufs[8][120];
	static int i;
	char *o = bufs[i++ % 8];
	double v = rd(k);

	if (isnan(v))
		snprintf(o, 120, "not measured");
	else if (v < 0)
		snprintf(o, 120, "NOT caught up within %lld s of the load's end",
			 (long long)(CATCHUP_NS / NS));
	else
		snprintf(o, 120, "%s %.2f s after the load stopped%s", idle ? "idle" : "caught up", v,
			 idle ? " (held events revised, alerts sent, all stored)" : "");
	return o;
}

/* The largest of a comma-separated list of numbers. */
static double worst_second(const char *k)
{
	const char *v = rs(k);
	double w = NAN;
	char *end;

	while (v && *v) {
		double x = strtod(v, &end);
		if (end == v)
			break;
		if (isnan(w) || x > w)
			w = x;
		v = *end == ',' ? end + 1 : end;
	}
	return w;
}

static void report_cpu(const char *p)
{
	char k[64];
	double v[4];
	static const char *const what4[] = {"tocsind", "pg", "bench", "other"};

	for (int i = 0; i < 4; i++) {
		snprintf(k, sizeof k, "%s_cpu_%s", p, what4[i]);
		v[i] = rd(k);
	}
	printf("  cpu                ");
	for (int i = 0; i < 4; i++) {
		if (isnan(v[i]))
			printf(" %s?", i ? "/ " : "");
		else
			printf(" %s%.0f", i ? "/ " : "", v[i]);
	}
	printf(" %%");
	snprintf(k, sizeof k, "%s_runq_ratio", p);
	if (rs(k)) {
		double q = rd(k);
		snprintf(k, sizeof k, "%s_switches_per_s", p);
		printf("\n                      tocsind: %.2f s waiting for a CPU per s running, "
		       "%s context switches/s",
		       q, grp(rd(k)));
	}
	printf("\n");
}

/* What tocsind's own histograms said over the phase (print_srv); bucket bounds. */
static void report_srv(const char *p)
{
	char k[64], v[6][32];
	static const char *const key[6] = {"ack_p50", "ack_p99", "ack_p999",
					   "fsync_p50", "fsync_p99", "fsync_p999"};

	snprintf(k, sizeof k, "%s_srv_ack_p99_le_ms", p);
	if (!rs(k))
		return;
	for (int i = 0; i < 6; i++) {
		snprintf(k, sizeof k, "%s_srv_%s_le_ms", p, key[i]);
		double x = rd(k);
		if (isinf(x))
			snprintf(v[i], sizeof v[i], "> 10 s");
		else
			snprintf(v[i], sizeof v[i], "<= %g", x);
	}
	printf("  inside tocsind      ack p50 %s, p99 %s, p99.9 %s ms; fsync p50 %s, p99 %s, "
	       "p99.9 %s ms\n",
	       v[0], v[1], v[2], v[3], v[4], v[5]);
	snprintf(k, sizeof k, "%s_srv_fsyncs_per_s", p);
	double fs = rd(k);
	snprintf(k, sizeof k, "%s_srv_store_tx_per_s", p);
	printf("                      (histogram bounds) %s fsyncs/s, %.1f store transactions/s\n",
	       grp(fs), rd(k));
}

static int cmd_report(const char *path)
{
	FILE *f = fopen(path, "r");
	static char line[8192];

	if (!f) {
		say("%s: %s", path, strerror(errno));
		return 1;
	}
	while (fgets(line, sizeof line, f) && nres < MAX_RES) {
		char *eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = 0;
		eq[1 + strcspn(eq + 1, "\n")] = 0;
		snprintf(res[nres].k, sizeof res[nres].k, "%.63s", line);
		snprintf(res[nres].v, sizeof res[nres].v, "%.4095s", eq + 1);
		nres++;
	}
	fclose(f);

	double zmq = rd("zmq_eps"), copy = rd("copy_rps"), sus = rd("sus_eps");
	double peak = rd("peak_eps");
	double rate = rd("lat_rate"), lat_eps = rd("lat_eps"), p99 = rd("lat_p99_ms");
	double first = rd("rss_first_kib"), last = rd("rss_last_kib");
	double slope = rd("rss_slope_kib_min"), slope2 = rd("rss_slope2_kib_min");
	double run_s = rd("rss_seconds_run"), win = rd("rss_window_s");
	const char *v;

	printf("\n============================ tocsin bench: summary "
	       "============================\n");
	printf("machine        %s\n", (v = rs("machine")) ? v : "?");
	if ((v = rs("correlator")) && strcmp(v, "0") == 0)
		printf("tocsind        with its correlator disabled (BENCH_CORRELATE=0)\n");
	printf("load           %s adapter connections (DEALER + CURVE, one key each), events of "
	       "sector energy\n",
	       rs("adapters") ? rs("adapters") : "?");
	printf("               closed loop: frames of %s events, window %s frames per "
	       "connection\n",
	       rs("batch") ? rs("batch") : "?", rs("window") ? rs("window") : "?");
	printf("cpu            %% of one CPU: tocsind / PostgreSQL / load generator / anything "
	       "else, of %s00%%\n",
	       rs("ncpu") ? rs("ncpu") : "?");

	printf("\nceilings (same machine, same run, no tocsind)\n");
	printf("  ZeroMQ+MessagePack  %10s events/s  same frames, ROUTER unpacks and replies "
	       "(%.0f s)\n",
	       grp(zmq), rd("ceil_seconds"));
	report_cpu("zmq");
	printf("  latency floor       p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms: the "
	       "latency load below, same path\n",
	       rd("zlat_p50_ms"), rd("zlat_p99_ms"), rd("zlat_p999_ms"), rd("zlat_max_ms"));
	report_cpu("zlat");
	printf("  PostgreSQL COPY     %10s rows/s    same rows, %s per transaction, table like "
	       "events\n",
	       grp(copy), rs("copy_tx") ? rs("copy_tx") : "?");
	printf("                      (timed as the sustained phase: %.0f s after %.0f s; %s rows, "
	       "%s MiB at the end)\n",
	       rd("copy_seconds"), rd("copy_warmup"), grp(rd("copy_rows")),
	       grp(rd("copy_table_mib")));
	report_cpu("copy");
	printf("  disk fdatasync      p50 %.2f ms, p99 %.2f ms, max %.2f ms: 16 KiB appends in the "
	       "journal's file system\n",
	       rd("fsync_p50_ms"), rd("fsync_p99_ms"), rd("fsync_max_ms"));

	printf("\nsustained: closed loop, store lag capped at %s events (%.0f s after %.0f s of "
	       "warm-up)\n",
	       grp(rd("max_lag")), rd("sus_seconds"), rd("warmup_seconds"));
	printf("  acked               %10s events/s  %s acked, %s dup, %s err, %s lost; held "
	       "back for the store %.0f%% of the time\n",
	       grp(sus), grp(rd("sus_ok")), grp(rd("sus_dup")), grp(rd("sus_err")),
	       grp(rd("sus_lost")), 100 * rd("sus_held"));
	printf("  ack latency         p50 %.2f ms, p99 %.2f ms, max %.2f ms (window full)\n",
	       rd("sus_p50_ms"), rd("sus_p99_ms"), rd("sus_max_ms"));
	printf("  store lag           max %s events, %.2f s; %s\n", grp(rd("sus_lag_max_events")),
	       rd("sus_lag_max_s"), catchup("sus_catchup_s", false));
	printf("  pipeline            %s\n", catchup("sus_idle_s", true));
	printf("  count(events)       %s = acked %s: %s (events: %s MiB)\n", grp(rd("sus_count")),
	       grp(rd("sus_acked")), rs("sus_count_check") ? rs("sus_count_check") : "?",
	       grp(rd("sus_table_mib")));
	report_cpu("sus");
	report_srv("sus");
	printf("  acked / COPY        %.2f   target >= 0.50: %s\n", sus / copy,
	       verdict(sus / copy >= 0.5));
	printf("  acked / ZMQ         %.2f\n", sus / zmq);

	printf("\npeak: the same without the lag cap; the journal absorbs the store's backlog "
	       "(%.0f s)\n",
	       rd("peak_seconds"));
	printf("  acked               %10s events/s  %s acked, %s err, %s lost\n", grp(peak),
	       grp(rd("peak_ok")), grp(rd("peak_err")), grp(rd("peak_lost")));
	printf("  ack latency         p50 %.2f ms, p99 %.2f ms, max %.2f ms (window full)\n",
	       rd("peak_p50_ms"), rd("peak_p99_ms"), rd("peak_max_ms"));
	printf("  store lag           max %s events, %.2f s; %s\n", grp(rd("peak_lag_max_events")),
	       rd("peak_lag_max_s"), catchup("peak_catchup_s", false));
	printf("  pipeline            %s\n", catchup("peak_idle_s", true));
	report_cpu("peak");
	report_srv("peak");
	printf("  acked / ZMQ         %.2f   acked / COPY %.2f\n", peak / zmq, peak / copy);

	bool rate_ok = lat_eps >= 0.99 * rate;
	printf("\nlatency: open loop, %s events/s offered in frames of %s, from the scheduled send "
	       "time (%.0f s)\n",
	       grp(rate), rs("lat_batch") ? rs("lat_batch") : "?", rd("lat_seconds"));
	printf("  acked               %10s events/s  %s err, %s lost\n", grp(lat_eps),
	       grp(rd("lat_err")), grp(rd("lat_lost")));
	printf("  ack latency         p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms\n",
	       rd("lat_p50_ms"), p99, rd("lat_p999_ms"), rd("lat_max_ms"));
	printf("  store lag           max %s events, %.2f s; %s\n", grp(rd("lat_lag_max_events")),
	       rd("lat_lag_max_s"), catchup("lat_catchup_s", false));
	printf("  pipeline            %s\n", catchup("lat_idle_s", true));
	printf("  seconds over 5 ms   %.0f of %.0f whole seconds had a p99 above 5 ms; worst "
	       "second's max %.1f ms\n",
	       rd("lat_slow_seconds"), rd("lat_whole_seconds"), worst_second("lat_sec_max_ms"));
	report_cpu("lat");
	report_srv("lat");
	printf("  p99 < 5 ms          %s\n", verdict(p99 < 5.0 && rate_ok));

	/* Flat: over the second half of the run, once bounded buffers have filled,
	 * RSS moves by less than 2% (at least 2 MiB). */
	double tol = fmax(2048, 0.02 * last);
	double moved = slope2 * run_s / 120;
	bool flat = fabs(moved) <= tol;
	printf("\nmemory: tocsind's RSS every second, %s events/s as above (%.0f s)\n", grp(rate),
	       run_s);
	printf("  RSS                 first %.0f s %.1f MiB, last %.0f s %.1f MiB (min %.1f, max "
	       "%.1f)\n",
	       win, first / 1024, win, last / 1024, rd("rss_min_kib") / 1024,
	       rd("rss_max_kib") / 1024);
	printf("  RSS slope           %+.0f KiB/min over the run, %+.0f KiB/min over its second "
	       "half\n",
	       slope, slope2);
	printf("  anonymous part      %.1f MiB at the start, %.1f MiB at the end\n",
	       rd("rss_anon_first_kib") / 1024, rd("rss_anon_last_kib") / 1024);
	printf("  peak RSS (VmHWM)    %.1f MiB, over the whole bench\n", rd("rss_hwm_kib") / 1024);
	printf("  ack latency         p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms; %s "
	       "events/s acked\n",
	       rd("rss_p50_ms"), rd("rss_p99_ms"), rd("rss_p999_ms"), rd("rss_max_ms"),
	       grp(rd("rss_eps")));
	printf("  store lag           max %s events, %.2f s; %s\n", grp(rd("rss_lag_max_events")),
	       rd("rss_lag_max_s"), catchup("rss_catchup_s", false));
	printf("  seconds over 5 ms   %.0f of %.0f whole seconds had a p99 above 5 ms\n",
	       rd("rss_slow_seconds"), rd("rss_whole_seconds"));
	report_cpu("rss");
	report_srv("rss");
	printf("  RSS flat            %s (second half: %+.1f MiB, tolerance %.1f MiB)%s\n",
	       verdict(flat), moved / 1024, tol / 1024,
	       run_s < 300 ? "; for 5 minutes: BENCH_RSS_SECONDS=300 make bench" : "");

	printf("\nend: count(events) %s = acked %s: %s\n", grp(rd("final_count")),
	       grp(rd("final_acked")), rs("final_count_check") ? rs("final_count_check") : "?");
	printf("     store_progress reached the journal's end (incident revisions included) %.1f s "
	       "later: %s\n",
	       rd("final_progress_s"),
	       rs("final_progress_check") ? rs("final_progress_check") : "?");
	v = rs("tocsind_log_warnings");
	printf("tocsind log: %s warning/error lines%s\n", v ? v : "?",
	       v && strcmp(v, "0") != 0 ? " (var/bench/tocsind.log)" : "");
	/* A shared machine: say when something else took CPU or restarted PostgreSQL. */
	static const char *const phases[] = {"zmq", "zlat", "copy", "sus", "peak", "lat", "rss"};
	double worst = 0;
	const char *where = NULL;
	for (size_t i = 0; i < sizeof phases / sizeof phases[0]; i++) {
		char k[64];
		snprintf(k, sizeof k, "%s_cpu_other", phases[i]);
		double o = rd(k);
		if (!isnan(o) && o > worst) {
			worst = o;
			where = phases[i];
		}
	}
	if (worst > 20)
		printf("DISTURBED: other processes took up to %.0f%% CPU (phase %s); re-run on a "
		       "quiet machine\n",
		       worst, where);
	if ((v = rs("pg_restarted")) && strcmp(v, "yes") == 0)
		printf("DISTURBED: PostgreSQL was restarted during the run; re-run\n");
	if (rd("monitor_errors") > 0)
		printf("DISTURBED: the lag monitor lost PostgreSQL %.0f times; re-run\n",
		       rd("monitor_errors"));
	printf("==========================================================================="
	       "=====\n");
	return 0;
}

/* ---- main --------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr,
		"usage: ingest_bench ceilings --keys DIR --adapters N --db CONNINFO --endpoint E\n"
		"                             [--pg-pid PID] [--journal DIR]\n"
		"       ingest_bench server --keys DIR --adapters N --db CONNINFO --endpoint E\n"
		"                           --pid PID --journal DIR [--pg-pid PID]\n"
		"                           [--metrics IPV4:PORT]\n"
		"       ingest_bench report FILE\n");
}

int main(int argc, char **argv)
{
	struct opts o = {0};

	if (argc < 2) {
		usage();
		return 2;
	}
	if (strcmp(argv[1], "report") == 0) {
		if (argc != 3) {
			usage();
			return 2;
		}
		return cmd_report(argv[2]);
	}
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v) {
			usage();
			return 2;
		}
		if (strcmp(a, "--keys") == 0)
			o.keys = v;
		else if (strcmp(a, "--db") == 0)
			o.db = v;
		else if (strcmp(a, "--endpoint") == 0)
			o.endpoint = v;
		else if (strcmp(a, "--journal") == 0)
			o.journal = v;
		else if (strcmp(a, "--metrics") == 0)
			o.metrics = v;
		else if (strcmp(a, "--adapters") == 0)
			o.adapters = atoi(v);
		else if (strcmp(a, "--pid") == 0)
			o.pid = atoi(v);
		else if (strcmp(a, "--pg-pid") == 0)
			o.pg_pid = atoi(v);
		else {
			usage();
			return 2;
		}
		i++;
	}
	if (!o.keys || !o.db || !o.endpoint || o.adapters < 1 || o.adapters > MAX_CONNS) {
		usage();
		return 2;
	}
	o.seconds = env_int("BENCH_SECONDS", 20, 1, 86400);
	o.peak_seconds = env_int("BENCH_PEAK_SECONDS", 10, 1, 86400);
	o.warmup_seconds = env_int("BENCH_WARMUP_SECONDS", 60, 0, 86400);
	o.max_lag = env_int("BENCH_MAX_LAG", 50000, 1, 100000000);
	o.lat_seconds = env_int("BENCH_LAT_SECONDS", 20, 1, 86400);
	o.rss_seconds = env_int("BENCH_RSS_SECONDS", 60, 3, 86400);
	o.ceil_seconds = env_int("BENCH_CEIL_SECONDS", 10, 1, 86400);
	o.rate = env_int("BENCH_RATE", 20000, 1, 10000000);
	o.batch = env_int("BENCH_BATCH", 100, 1, TN_WIRE_MAX_BATCH);
	o.lat_batch = env_int("BENCH_LAT_BATCH", 10, 1, TN_WIRE_MAX_BATCH);
	o.window = env_int("BENCH_WINDOW", 16, 1, 4096);
	o.copy_tx = env_int("BENCH_COPY_TX", 5000, 1, 1000000);
	o.io_threads = env_int("BENCH_IO_THREADS", 1, 1, 16);

	if (strcmp(argv[1], "ceilings") == 0) {
		printf("adapters=%d\nbatch=%d\nwindow=%d\nncpu=%ld\nceil_seconds=%d\n", o.adapters,
		       o.batch, o.window, sysconf(_SC_NPROCESSORS_ONLN), o.ceil_seconds);
		return cmd_ceilings(&o);
	}
	if (strcmp(argv[1], "server") == 0) {
		printf("lat_seconds=%d\n", o.lat_seconds);
		return cmd_server(&o);
	}
	usage();
	return 2;
}
