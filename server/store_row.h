/*
 * store_row.h - journal records as rows of PostgreSQL COPY text (store.c).
 *
 * The store thread turns each journal record into one line of COPY text
 * format (tab-separated, \N for NULL, backslash escapes) in one of three
 * buffers: `events`, `rejected`, `audit`. A record that does not decode
 * becomes a row of `rejected` with code E_CORRUPT and its raw bytes, so that
 * the pipeline never stalls on it and nothing is dropped silently.
 *
 * Everything written is valid UTF-8 (PostgreSQL refuses anything else and a
 * refused row would wedge the store): the event decoder guarantees it for
 * events; other strings (adapter names, reject messages, audit fields) are
 * checked here and bad bytes, and NUL, become U+FFFD.
 *
 * Buffers grow to the largest batch seen and are then reused: no allocation
 * per record in the steady state (the msgpack zone keeps its first chunk).
 *
 * Thread contract: a struct tn__store_rows belongs to one thread (the store).
 */
#ifndef TN_STORE_ROW_H
#define TN_STORE_ROW_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal.h"
#include "wire.h"

/* Column lists, in the order of the rows written here. */
#define TN__STORE_EVENT_COLS                                                                       \
	"journal_offset, source, id, adapter, type, sector, asset, severity, time, received, "     \
	"summary, lat, lon, attrs"
#define TN__STORE_REJECT_COLS                                                                      \
	"journal_offset, received, adapter, code, msg, item, event_id, raw, raw_truncated, origin"
#define TN__STORE_AUDIT_COLS "at, actor, action, subject, origin, detail"
#define TN__STORE_CHANGE_COLS                                                                      \
	"journal_offset, stream, incident, rev, msg, priority, area, updated, body"

/* "YYYY-MM-DD HH:MM:SS.ffffff+00" and its NUL. */
#define TN__STORE_TIME_LEN 30

/* A growable byte buffer. After a failed allocation `oom` sticks and
 * further appends do nothing, so that a row is checked once at its end. */
struct tn__buf {
	char *p;
	size_t len, cap;
	bool oom;
};

/* Free the bytes and zero the buffer; a zeroed buffer is empty and valid. */
void tn__buf_free(struct tn__buf *b);

/*
 * tn__copy_text - append `len` bytes of `s` (borrowed) as one COPY text
 * field: backslash, tab, newline and CR escaped; NUL and bytes that are not
 * valid UTF-8 (overlong forms, surrogates, beyond U+10FFFF) replaced by
 * U+FFFD. Sets b->oom on allocation failure. Pure apart from `b`.
 */
void tn__copy_text(struct tn__buf *b, const char *s, size_t len);

/*
 * tn__json_str - append `len` bytes of `s` as a JSON string literal, with
 * the same replacement of NUL and invalid UTF-8 (jsonb refuses \u0000).
 */
void tn__json_str(struct tn__buf *b, const char *s, size_t len);

/*
 * tn__store_fmt_time - format `us` (microseconds since the epoch, UTC) as a
 * timestamptz literal in out. Returns its length, or TN_ERANGE outside the
 * years 1..9999. Pure.
 */
int tn__store_fmt_time(char out[TN__STORE_TIME_LEN], int64_t us);

/*
 * tn__store_fmt_double - the shortest of %.15g, %.16g, %.17g that reads
 * back as `v` (finite), in out. Returns its length. Pure.
 */
int tn__store_fmt_double(char out[32], double v);

enum tn__row_kind {
	TN__ROW_NONE,    /* nothing written (a clock tick) */
	TN__ROW_EVENT,   /* a row of `events` */
	TN__ROW_REJECT,  /* a row of `rejected` */
	TN__ROW_AUDIT,   /* a row of `audit` */
	TN__ROW_CORRUPT, /* a row of `rejected`, code E_CORRUPT */
	TN__ROW_CHANGE,  /* a row of `incident_revisions` */
};

struct tn__store_rows {
	struct tn__buf events, rejected, audit, changes; /* COPY text, one line per row */
	size_t n_events, n_rejected, n_audit, n_corrupt, n_changes; /* rows since the last reset */
	struct tn__buf json;                             /* scratch: JSON before COPY escaping */
	msgpack_zone zone;                               /* unpacked records, cleared per record */
	struct tn_wire_decoder *dec;                     /* validates event maps */
};

/* Returns 0 or TN_ENOMEM. On failure nothing needs freeing. */
int tn__store_rows_init(struct tn__store_rows *r);
/* Frees what init allocated; safe on a zeroed struct. */
void tn__store_rows_fini(struct tn__store_rows *r);
/* Empties the buffers and counters, keeping their memory. */
void tn__store_rows_reset(struct tn__store_rows *r);

/*
 * tn__store_rows_add - append the row of journal record `rec` (borrowed)
 * and say which in *kind. With `refused` non-NULL the record is written as
 * an E_CORRUPT row carrying that message (PostgreSQL refused its row).
 * `now_us` is the `received` time of E_CORRUPT rows. When the record does
 * not decode, *kind is TN__ROW_CORRUPT and `why` (whylen bytes) says why.
 * Returns 0, or TN_ENOMEM (the buffers are left as before the call).
 */
int tn__store_rows_add(struct tn__store_rows *r, const struct tn_journal_record *rec,
		       int64_t now_us, const char *refused, enum tn__row_kind *kind, char *why,
		       size_t whylen);

#endif
