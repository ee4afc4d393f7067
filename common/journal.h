/*
 * journal.h - the append-only, segmented, checksummed journal (design §5).
 *
 * Files: `<dir>/<16 hex digits>.seg`, named by the offset of their first
 * record. An offset is a byte position in the journal as a whole: segment base
 * plus position in the segment, so offsets grow forever and name one record.
 * A record never spans segments.
 *
 * Record (little-endian):
 *   u32 len      payload bytes
 *   u32 crc      CRC-32C of the 13 bytes below plus the payload
 *   u64 offset   this record's own offset (catches misplaced data)
 *   u8  type     TN_JREC_*
 *   payload      len bytes
 *
 * Durability: tn_journal_append() only buffers and writes; a record is
 * durable once tn_journal_sync() has returned after it (fdatasync of the
 * segment, and of the directory when a segment was created). Acks are sent
 * only after that: this is the group commit.
 *
 * Recovery: tn_journal_open() checks the last segment record by record. A
 * bad record with no valid record after it is a torn tail: the segment is
 * truncated there (logged, counted). A bad record followed by valid ones is
 * corruption of acknowledged data: open fails with TN_ECORRUPT naming the
 * segment and offset, rather than silently drop events that were acked.
 *
 * Thread contract: a writer (struct tn_journal) belongs to one thread. A
 * reader belongs to one thread; any number of readers may run beside the
 * writer, each reading only below an offset the writer has made durable.
 */
#ifndef TN_JOURNAL_H
#define TN_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TN_JOURNAL_HDR 17                  /* bytes of a record header */
#define TN_JOURNAL_MAX_RECORD (4u << 20)   /* payload bound, checked on read */

enum tn_jrec_type {
	TN_JREC_EVENT = 1, /* payload: msgpack [recv_us, adapter, event map] */
	TN_JREC_TICK = 2,  /* payload: msgpack [clock_us] (correlator clock) */
	/* payload: msgpack [recv_us, adapter|nil, code, msg, item|nil, event_id|nil,
	 * raw (bin, at most 4 KiB of the frame), raw_truncated (bool)] */
	TN_JREC_REJECT = 3,
	/* payload: msgpack [at_us, actor, action, subject|nil, origin|nil, detail map|nil] */
	TN_JREC_AUDIT = 4,
};

struct tn_journal_opts {
	const char *dir;        /* created if missing (mode 0700) */
	uint64_t segment_bytes; /* roll to a new segment past this size */
	uint64_t max_bytes;     /* refuse appends (TN_EFULL) past this total; 0 = no bound */
};

struct tn_journal_stats {
	uint64_t appends, syncs, bytes, segments;
	uint64_t torn_tail_truncations; /* records dropped at open */
	uint64_t full_refusals;         /* appends refused at max_bytes */
};

struct tn_journal;

/*
 * tn_journal_open - open (creating if needed) the journal in opts->dir,
 * recover its tail, and position for appending. Returns 0 and sets *out
 * (owned by the caller; free with tn_journal_close), or TN_EIO, TN_ECORRUPT,
 * TN_ENOMEM, TN_EINVAL. Logs what recovery did.
 */
int tn_journal_open(const struct tn_journal_opts *opts, struct tn_journal **out);

/*
 * tn_journal_append - append one record of `type` with `len` bytes of
 * `payload` (borrowed). Not durable until tn_journal_sync(). Sets *offset
 * (may be NULL) to the record's offset. Returns 0, TN_EFULL (max_bytes
 * reached; counted), TN_EINVAL (len over TN_JOURNAL_MAX_RECORD) or TN_EIO.
 */
int tn_journal_append(struct tn_journal *j, uint8_t type, const void *payload, uint32_t len,
		      uint64_t *offset);

/* tn_journal_sync - make everything appended durable. 0 or TN_EIO. */
int tn_journal_sync(struct tn_journal *j);

/* The offset the next record will get; everything below is appended. */
uint64_t tn_journal_end(const struct tn_journal *j);
/* Everything below this offset is durable. */
uint64_t tn_journal_durable(const struct tn_journal *j);
/* The offset of the oldest record still on disk. */
uint64_t tn_journal_start(const struct tn_journal *j);

/*
 * tn_journal_retain - delete whole segments that end at or below
 * `keep_from` (an offset still needed, e.g. the store's committed offset)
 * and whose last write is older than `older_than` (wall clock, seconds since
 * the epoch). The active segment is never deleted. Returns the number of
 * segments deleted, or TN_EIO.
 */
int tn_journal_retain(struct tn_journal *j, uint64_t keep_from, int64_t older_than);

void tn_journal_stats(const struct tn_journal *j, struct tn_journal_stats *out);

/* Sync and close; NULL is fine. */
void tn_journal_close(struct tn_journal *j);

/* ---- reading ------------------------------------------------------------ */

struct tn_journal_record {
	uint64_t offset;
	uint8_t type;
	uint32_t len;
	const void *payload; /* points into the reader; valid until the next call */
};

struct tn_journal_reader;

/*
 * tn_journal_reader_open - read the journal in `dir` from offset `from` (the
 * offset of a record, or the end of one; 0 = from the oldest record on
 * disk). Returns 0 and sets *out (caller frees with
 * tn_journal_reader_close), TN_ENOTFOUND when `from` is older than the
 * oldest segment (its records were deleted), TN_EIO, TN_ENOMEM.
 */
int tn_journal_reader_open(const char *dir, uint64_t from, struct tn_journal_reader **out);

/*
 * tn_journal_reader_next - the next record whose end is at or below `limit`
 * (UINT64_MAX: whatever is on disk and valid). Returns 1 and fills *rec, 0
 * when there is no complete record below limit yet (call again later: the
 * reader follows the writer across segments), TN_ECORRUPT (bad CRC, length
 * or offset below `limit`), TN_EIO.
 */
int tn_journal_reader_next(struct tn_journal_reader *r, uint64_t limit,
			   struct tn_journal_record *rec);

/* The offset just after the last record returned (where the next one starts). */
uint64_t tn_journal_reader_offset(const struct tn_journal_reader *r);

void tn_journal_reader_close(struct tn_journal_reader *r);

#endif
