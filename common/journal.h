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
 *   u32 crc      CRC-32C of the 9 bytes below (offset, type) then the payload;
 *                the length is covered indirectly (a wrong one moves the span
 *                the CRC covers) and checked against TN_JOURNAL_MAX_RECORD
 *   u64 offset   this record's own offset (catches misplaced data)
 *   u8  type     TN_JREC_*
 *   payload      len bytes
 *
 * Durability: tn_journal_append() only buffers and writes; a record is
 * durable once tn_journal_sync() has returned after it (fdatasync of the
 * segment, and of the directory when a segment was created). Acks are sent
 * only after that: this is the group commit. A segment is made durable
 * before the next one is created, so after any crash only the last segment
 * can have a torn tail.
 *
 * Recovery: tn_journal_open() checks the last segment record by record. A
 * bad record with no valid record after it is a torn tail: the segment is
 * truncated there (logged, counted). A bad record followed by valid ones is
 * corruption of acknowledged data: open fails with TN_ECORRUPT naming the
 * segment and offset, rather than silently drop events that were acked.
 * Segments must be contiguous (each starts where the previous one ends);
 * a gap is TN_ECORRUPT too. Other segments are checked by readers as read.
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
	/* An incident revision the correlator emitted (its output, journaled so
	 * that the store keeps it exactly once and a restart knows what was
	 * already sent). payload: msgpack [stream, incident, rev, msg,
	 * priority, area, updated_us, body (str: the canonical JSON of the
	 * alert, `{"seq":N,...}`; records from before alerts have no seq)] */
	TN_JREC_CHANGE = 5,
	/* A drill's input or life (design §6; docs/drills.md), written by the
	 * alerts thread for a planner and read only by the drill correlator.
	 * payload: msgpack [drill, op, at_us, actor, arg]: op "start" (arg
	 * nil), "event" (arg: the event map, as in an EVENT record), "tick"
	 * (arg: the drill's clock in microseconds), "stop" (arg nil); and
	 * "ended" (arg: the drill stream's last seq), written by the drill
	 * correlator once a stopped drill's last revision is journaled. */
	TN_JREC_DRILL = 6,
};

struct tn_journal_opts {
	const char *dir;        /* created if missing (mode 0700) */
	uint64_t segment_bytes; /* roll to a new segment past this size */
	uint64_t max_bytes;     /* refuse appends (TN_EFULL) past this total; 0 = no bound */
};

struct tn_journal_stats {
	uint64_t appends, syncs;        /* since open; syncs that had work to do */
	uint64_t bytes, segments;       /* now: journal size (what max_bytes bounds), files */
	uint64_t torn_tail_truncations; /* torn tails cut off at open (logged with bytes) */
	uint64_t full_refusals;         /* appends refused at max_bytes */
};

struct tn_journal;

/*
 * tn_journal_open - open (creating if needed) the journal in opts->dir,
 * recover its tail, and position for appending. Returns 0 and sets *out
 * (owned by the caller; free with tn_journal_close), or TN_EIO, TN_ECORRUPT,
 * TN_ENOMEM, TN_EINVAL. Logs what recovery did. Takes an exclusive flock(2)
 * on the directory: a second writer, in this process or another, gets
 * TN_EIO. Any thread (the writer then belongs to the thread that uses it).
 */
int tn_journal_open(const struct tn_journal_opts *opts, struct tn_journal **out);

/*
 * tn_journal_append - append one record of `type` with `len` bytes of
 * `payload` (borrowed). Not durable until tn_journal_sync(). Sets *offset
 * (may be NULL) to the record's offset. Returns 0, TN_EFULL (max_bytes
 * reached; counted), TN_EINVAL (len over TN_JOURNAL_MAX_RECORD) or TN_EIO.
 * After any TN_EIO from append or sync the writer refuses everything with
 * TN_EIO: after a failed fsync the kernel may have dropped the dirty pages,
 * so only a reopen (which re-reads the tail) knows what is on disk.
 * Writer thread.
 */
int tn_journal_append(struct tn_journal *j, uint8_t type, const void *payload, uint32_t len,
		      uint64_t *offset);

/* tn_journal_sync - make everything appended durable. 0 or TN_EIO. Writer thread. */
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
 * the epoch). The active segment is never deleted. Oldest first, stopping
 * at the first segment that may not go, so the journal stays contiguous.
 * Returns the number of segments deleted, or TN_EIO. Writer thread.
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
 * oldest segment (its records were deleted) or `dir` does not exist,
 * TN_EINVAL when `from` is past the end of what is on disk, TN_EIO,
 * TN_ENOMEM. `dir` is borrowed. A `from` inside a record is not detected
 * here: next() then reports TN_ECORRUPT. Any thread; the reader then
 * belongs to one thread.
 */
int tn_journal_reader_open(const char *dir, uint64_t from, struct tn_journal_reader **out);

/*
 * tn_journal_reader_next - the next record whose end is at or below `limit`
 * (UINT64_MAX: whatever is on disk and valid). Returns 1 and fills *rec, 0
 * when there is no complete record below limit yet (call again later: the
 * reader follows the writer across segments), TN_ECORRUPT (bad CRC, length
 * or offset below `limit`, or a segment missing after this one),
 * TN_ENOTFOUND (the reader reached the end of a segment that retention
 * deleted together with the next one), TN_EIO, TN_ENOMEM. Errors leave the
 * reader where it was. A record cut short by the end of the file reads as
 * "not yet" (0); garbage reads as TN_ECORRUPT, so with limit UINT64_MAX an
 * unrecovered torn tail may give either. At the end of a segment with no
 * successor yet, each call lists the directory (to tell a gap from "not
 * yet"); a reader at `limit` returns before any I/O.
 */
int tn_journal_reader_next(struct tn_journal_reader *r, uint64_t limit,
			   struct tn_journal_record *rec);

/* The offset just after the last record returned (where the next one starts). */
uint64_t tn_journal_reader_offset(const struct tn_journal_reader *r);

/* NULL is fine. */
void tn_journal_reader_close(struct tn_journal_reader *r);

/* ---- segment files ------------------------------------------------------ */

#define TN_JOURNAL_SEGNAME_SIZE 21 /* "0123456789abcdef.seg" and its NUL */

/* Write the file name of the segment starting at `base` into out. Pure. */
void tn_journal_segment_name(char out[TN_JOURNAL_SEGNAME_SIZE], uint64_t base);

/*
 * tn_journal_segment_parse - the base of the segment file `name` (a bare
 * name, exactly 16 lowercase hex digits and ".seg"), or TN_EINVAL for
 * anything else. Pure.
 */
int tn_journal_segment_parse(const char *name, uint64_t *base);

/* ---- internal: shared by common/journal*.c only -------------------------- */

struct tn__jhdr {
	uint32_t len, crc;
	uint64_t offset;
	uint8_t type;
};

void tn__journal_hdr_decode(const unsigned char p[TN_JOURNAL_HDR], struct tn__jhdr *h);
/* Whether the CRC of the whole record at p (header and h->len bytes) matches. */
bool tn__journal_crc_ok(const unsigned char *p, const struct tn__jhdr *h);

/*
 * tn__journal_list - the bases of the segment files in the directory
 * `dirfd`, sorted; other names are ignored. *bases is malloc'd (caller
 * frees; NULL when *n is 0). 0, TN_EIO, TN_ENOMEM.
 */
int tn__journal_list(int dirfd, uint64_t **bases, size_t *n);

/* A read window over one file, re-read from the wanted position on a miss. */
struct tn__jwin {
	int fd;             /* borrowed */
	unsigned char *buf; /* owned; free() */
	size_t cap;
	uint64_t off;       /* file position of buf[0] */
	size_t len;         /* valid bytes */
};

/*
 * tn__jwin_get - point *out at bytes [pos, pos + n) of the file (n at most
 * TN_JOURNAL_HDR + TN_JOURNAL_MAX_RECORD; the buffer grows to fit). 1, 0
 * when the file ends before pos + n, TN_EIO, TN_ENOMEM. *out is valid until
 * the next call.
 */
int tn__jwin_get(struct tn__jwin *w, uint64_t pos, size_t n, const unsigned char **out);

#endif
