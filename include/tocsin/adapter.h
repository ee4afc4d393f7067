/*
 * tocsin/adapter.h - the C adapter SDK: send events to tocsind (design §3.1).
 *
 * An adapter owns a bounded outbox of encoded events and one DEALER socket
 * (CURVE) connected to the server's ingest ROUTER. tn_adapter_send() only
 * copies an event into the outbox; tn_adapter_poll() does the I/O: it packs
 * pending events into frames (one map, or an array of up to max_batch maps),
 * reads the server's replies, matches them to events by id, reports each
 * event's outcome once through on_result, and sends again what was not
 * answered within retry_timeout_ms or was answered E_RATE / E_UNAVAILABLE
 * (after a back-off). Resending is safe: the server deduplicates by
 * source + id and answers "dup".
 *
 *	struct tn_adapter_options o;
 *	struct tn_adapter *a;
 *	char err[256];
 *
 *	tn_adapter_options_init(&o);
 *	o.on_result = print_result;
 *	if (tn_adapter_options_keys(&o, "server.pub", "adapter", err, sizeof err) != 0 ||
 *	    tn_adapter_open(&o, &a, err, sizeof err) != 0)
 *		die(err);
 *	while (read_event(&ev))
 *		while (tn_adapter_send(a, &ev) == TN_EFULL)
 *			tn_adapter_poll(a, 100);
 *	rc = tn_adapter_flush(a, 30000);
 *	tn_adapter_close(a);
 *
 * Thread contract: an adapter belongs to one thread at a time; no function
 * taking a `struct tn_adapter *` may run concurrently with another on the
 * same adapter. Distinct adapters are independent. on_result runs on the
 * calling thread, inside tn_adapter_poll / tn_adapter_flush; it may call
 * tn_adapter_send, tn_adapter_stats and tn_adapter_last_error, nothing else
 * of this adapter.
 *
 * Memory is bounded: at most outbox_capacity events and outbox_max_bytes
 * encoded bytes wait in the outbox (each event at most TN_WIRE_MAX_FRAME),
 * at most max_inflight frames are outstanding, and a reply larger than
 * TN_ADAPTER_MAX_REPLY bytes is refused by the socket. Every bound hit is
 * counted in struct tn_adapter_stats.
 */
#ifndef TOCSIN_ADAPTER_H
#define TOCSIN_ADAPTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tocsin/error.h"
#include "tocsin/event.h"

#define TN_ADAPTER_Z85_LEN 40 /* characters of a Z85 CURVE key, without the NUL */

#define TN_ADAPTER_DEFAULT_OUTBOX         10000       /* events */
#define TN_ADAPTER_DEFAULT_OUTBOX_BYTES   (64u << 20) /* encoded bytes */
#define TN_ADAPTER_DEFAULT_BATCH          500         /* events per frame */
#define TN_ADAPTER_DEFAULT_INFLIGHT       32          /* frames awaiting a reply */
#define TN_ADAPTER_DEFAULT_RETRY_MS       2000
#define TN_ADAPTER_DEFAULT_BACKOFF_MAX_MS 10000
/* Bytes of one reply: the socket's ZMQ_MAXMSGSIZE. */
#define TN_ADAPTER_MAX_REPLY              (2 * 1024 * 1024)

/* Non-negative statuses of on_result; permanent failures are negative TN_E* codes. */
#define TN_ADAPTER_OK  0 /* durably accepted */
#define TN_ADAPTER_DUP 1 /* accepted earlier (same source + id) */

struct tn_adapter;

/*
 * Options of tn_adapter_open. Initialise with tn_adapter_options_init, then
 * set what differs. tn_adapter_open copies everything it keeps, so the
 * struct (and the strings it points to) may be discarded or reused after it
 * returns; the caller should wipe secret_key when done with it.
 */
struct tn_adapter_options {
	const char *endpoint; /* server ingest ROUTER; default TN_DEFAULT_INGEST */

	/*
	 * CURVE keys, Z85 (40 characters + NUL; "" = unset), all three required
	 * unless `insecure`. tn_adapter_options_keys fills them from key files.
	 */
	char server_key[TN_ADAPTER_Z85_LEN + 1]; /* the server's public key */
	char public_key[TN_ADAPTER_Z85_LEN + 1]; /* this adapter's public key */
	char secret_key[TN_ADAPTER_Z85_LEN + 1]; /* this adapter's secret key */

	/*
	 * Plain text, no CURVE: only for a loopback endpoint (tcp://127.x.x.x,
	 * tcp://[::1], tcp://localhost, ipc://, inproc://); the server must be
	 * configured `insecure = true` as well. Default false.
	 */
	bool insecure;

	/* Bounds and timings; 0 gives the default. */
	size_t outbox_capacity;  /* events waiting for a result; default 10000 */
	size_t outbox_max_bytes; /* their encoded bytes; default 64 MiB */
	unsigned max_batch;      /* events per frame, 1..TN_WIRE_MAX_BATCH; default 500 */
	unsigned max_inflight;   /* frames sent and not answered, 1..1024; default 32 */
	int retry_timeout_ms;    /* resend a frame not answered within this; default 2000 */
	int backoff_max_ms;      /* cap of the back-off after E_RATE / E_UNAVAILABLE; default 10000 */

	/*
	 * Heartbeats (design §4.5): every heartbeat_ms, a "heartbeat" event of
	 * heartbeat_source (required then) goes out with the next frame. At
	 * most one is outstanding; one that is lost is not resent, the next
	 * period brings a new one (which also replaces one still unsent).
	 * They do not count against the outbox, and on_result hears of them
	 * only when the server refuses one permanently (e.g. E_FORBIDDEN).
	 * 0 = off (default).
	 */
	int heartbeat_ms;
	const char *heartbeat_source;

	/*
	 * Called once per event given to tn_adapter_send, when its outcome is
	 * final: status TN_ADAPTER_OK or TN_ADAPTER_DUP (code and msg NULL), or
	 * a negative TN_E* code for a permanent refusal: TN_EDECODE, TN_ESCHEMA,
	 * TN_EFORBIDDEN, TN_ETIME, or TN_EINVAL for a code this SDK does not
	 * know; `code` is then the wire code as received ("E_SCHEMA") and `msg`
	 * the server's explanation (both non-NULL, control characters replaced).
	 * Transient refusals are never reported: they are retried. `id`, `code`
	 * and `msg` are borrowed for the duration of the call. May be NULL.
	 */
	void (*on_result)(void *ud, const char *id, int status, const char *code, const char *msg);
	void *ud; /* passed to on_result */

	/*
	 * A ZeroMQ context to create the socket in (borrowed; must outlive the
	 * adapter), or NULL for a private one.
	 */
	void *zmq_ctx;
};

/* Counters since tn_adapter_open; the last four are gauges. */
struct tn_adapter_stats {
	uint64_t queued;        /* events accepted by tn_adapter_send */
	uint64_t full;          /* tn_adapter_send refused: outbox full (TN_EFULL) */
	uint64_t invalid;       /* tn_adapter_send refused: event invalid (TN_ESCHEMA, TN_ERANGE) */
	uint64_t frames_sent;   /* frames written to the socket, resends included */
	uint64_t events_sent;   /* events written, resends included */
	uint64_t resent;        /* events written again after a timeout or a transient error */
	uint64_t ok;            /* results: durably accepted */
	uint64_t dup;           /* results: already accepted */
	uint64_t failed;        /* results: refused permanently */
	uint64_t transient;     /* E_RATE / E_UNAVAILABLE answers (per event) */
	uint64_t unanswered;    /* events of an answered frame that the reply did not mention */
	uint64_t timeouts;      /* frames not answered within retry_timeout_ms */
	uint64_t replies;       /* replies read */
	uint64_t bad_replies;   /* replies not decodable or not of the documented shape: ignored */
	uint64_t stale;         /* reply entries that matched no outstanding event */
	uint64_t heartbeats;    /* heartbeats queued */
	uint64_t hb_skipped;    /* heartbeats not queued: the previous one still in flight */
	uint64_t hb_lost;       /* heartbeats dropped: unanswered, refused transiently, or
				   replaced unsent by a fresh one */
	size_t outbox;          /* events (not heartbeats) waiting for a result */
	size_t outbox_bytes;    /* their encoded bytes */
	size_t inflight_frames; /* frames awaiting a reply */
	int64_t backoff_ms;     /* current back-off after transient errors, 0 = none */
};

/*
 * tn_adapter_options_init - defaults: TN_DEFAULT_INGEST, no keys, CURVE on,
 * the TN_ADAPTER_DEFAULT_* bounds, heartbeats off, no callback.
 * `o` is the caller's. Pure; any thread.
 */
void tn_adapter_options_init(struct tn_adapter_options *o);

/*
 * tn_adapter_options_keys - fill server_key from the file `server_pub`
 * (e.g. "server.pub") and public_key / secret_key from `<key_base>.pub` /
 * `<key_base>.key` (as written by `tocsin keygen`). A secret key file
 * readable by group or others is refused. Returns 0, TN_EIO (a file cannot
 * be read) or TN_EKEY (not one Z85 key; bad mode); err gets
 * "FILE: what was expected" (errlen bytes, may be NULL). On failure `o`'s
 * keys are left unset. All pointers borrowed. Any thread (file I/O only).
 */
int tn_adapter_options_keys(struct tn_adapter_options *o, const char *server_pub,
			    const char *key_base, char *err, size_t errlen);

/*
 * tn_adapter_open - create an adapter and start connecting (ZeroMQ
 * connects in the background and reconnects by itself).
 * Returns 0 and sets *out (the caller owns it: tn_adapter_close), or
 * TN_EINVAL (an option out of range), TN_ECONFIG (missing keys, insecure on
 * a non-loopback endpoint, heartbeats without a source), TN_EKEY (a key is
 * not 40 Z85 characters), TN_ENOMEM, TN_EZMQ (socket or endpoint refused).
 * err gets a one-line reason (errlen bytes, may be NULL). `opts` borrowed.
 * The calling thread becomes the adapter's owner.
 */
int tn_adapter_open(const struct tn_adapter_options *opts, struct tn_adapter **out, char *err,
		    size_t errlen);

/*
 * tn_adapter_validate - the client-side checks of tn_adapter_send alone:
 * required fields present, enums and severity in range, lengths within the
 * TN_WIRE_MAX_* limits, strings valid UTF-8, geo within WGS 84 bounds.
 * Returns 0, TN_EINVAL (`ev` NULL) or TN_ESCHEMA with msg naming the field
 * and what was expected, e.g. "asset: required for type asset.down"
 * (msglen bytes, may be NULL). `ev` borrowed. Pure; any thread.
 */
int tn_adapter_validate(const struct tn_event *ev, char *msg, size_t msglen);

/*
 * tn_adapter_send - validate `ev` and queue an encoded copy of it; nothing
 * is written to the network until the next poll. Returns 0, TN_EFULL (the
 * outbox holds outbox_capacity events or outbox_max_bytes bytes: poll, then
 * try again), TN_ESCHEMA (see tn_adapter_validate), TN_ERANGE (encoded
 * event larger than a frame), TN_ENOMEM, TN_EINVAL (NULL argument).
 * On failure tn_adapter_last_error says why. `ev` and all it points to are
 * borrowed: copied before returning. Owner thread; allowed in on_result.
 */
int tn_adapter_send(struct tn_adapter *a, const struct tn_event *ev);

/*
 * tn_adapter_poll - do the adapter's due work and wait up to timeout_ms
 * (>= 0; 0 does not block) for replies: queue a heartbeat when due, send
 * pending events (unless backing off), read every reply available,
 * resolve events (on_result), queue for resending what is unanswered after
 * retry_timeout_ms. Returns as soon as at least one reply was processed, or
 * when timeout_ms has passed, or when a signal interrupted the wait.
 * Returns 0, TN_EINVAL (negative timeout; called from on_result) or
 * TN_EZMQ (the socket failed: the adapter is unusable, close it).
 * Owner thread.
 */
int tn_adapter_poll(struct tn_adapter *a, int timeout_ms);

/*
 * tn_adapter_flush - poll until every event given to tn_adapter_send has a
 * result, for at most timeout_ms. Returns 0, TN_ETIMEDOUT (events still
 * outstanding: they stay queued, flush or poll again), or an error of
 * tn_adapter_poll. Owner thread; not from on_result.
 */
int tn_adapter_flush(struct tn_adapter *a, int timeout_ms);

/*
 * tn_adapter_stats - copy the counters into *out (the caller's).
 * Owner thread; allowed in on_result.
 */
void tn_adapter_stats(const struct tn_adapter *a, struct tn_adapter_stats *out);

/*
 * tn_adapter_last_error - why the last failing call on `a` failed, one line
 * ("" if none). Owned by the adapter, valid until its next call. Owner thread.
 */
const char *tn_adapter_last_error(const struct tn_adapter *a);

/*
 * tn_adapter_close - close the socket at once and free everything; events
 * still outstanding are dropped without a result (flush first). NULL is
 * fine. Owner thread; not from on_result.
 */
void tn_adapter_close(struct tn_adapter *a);

/*
 * tn_adapter_parse_time - parse an event time as adapters commonly hold it:
 * integer milliseconds since the Unix epoch ("1795711920000") or ISO 8601
 * with a UTC designator or offset ("2026-11-26T16:52:00Z",
 * "2026-11-26T16:52:00.250+01:00"), years 1970-9999. Sets *time_us
 * (microseconds since the epoch, UTC). Returns 0 or TN_EINVAL. `s`
 * (NUL-terminated) borrowed. Pure; any thread.
 */
int tn_adapter_parse_time(const char *s, int64_t *time_us);

/* tn_adapter_now_us - the wall clock, microseconds since the Unix epoch. Any thread. */
int64_t tn_adapter_now_us(void);

#endif
