/*
 * test_journal.c - the journal (journal.h): append, roll, read back, reopen,
 * torn-tail recovery, corruption, reader limits, retention, bounds. Each test
 * works in its own mkdtemp directory.
 */
#include "journal.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "tocsin/error.h"

#define HDR TN_JOURNAL_HDR
#define MAXREC 4000

static char tmp[64];
static char dir[96];
static int fds_before;

/* What the test appended: enough to check every record read back. */
struct rec {
	uint64_t offset;
	uint32_t len;
	uint8_t type;
	uint32_t seed;
};
static struct rec recs[MAXREC];
static size_t nrecs;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	ck_assert_ptr_nonnull(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void setup(void)
{
	fds_before = count_fds();
	strcpy(tmp, "/tmp/tn_journal_XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	snprintf(dir, sizeof dir, "%s/j", tmp);
	nrecs = 0;
}

static void teardown(void)
{
	ck_assert_int_eq(count_fds(), fds_before); /* every file closed */
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void fill(unsigned char *buf, uint32_t len, uint32_t seed)
{
	for (uint32_t k = 0; k < len; k++)
		buf[k] = (unsigned char)(seed * 131u + k * 7u + (k >> 8));
}

static struct tn_journal *jopen(uint64_t segment_bytes, uint64_t max_bytes)
{
	struct tn_journal_opts o = {
		.dir = dir, .segment_bytes = segment_bytes, .max_bytes = max_bytes};
	struct tn_journal *j = NULL;
	ck_assert_int_eq(tn_journal_open(&o, &j), 0);
	ck_assert_ptr_nonnull(j);
	return j;
}

static int jopen_rc(uint64_t segment_bytes)
{
	struct tn_journal_opts o = {.dir = dir, .segment_bytes = segment_bytes};
	struct tn_journal *j = NULL;
	int rc = tn_journal_open(&o, &j);
	if (rc == 0)
		tn_journal_close(j);
	else
		ck_assert_ptr_null(j);
	return rc;
}

/* Append one record of `len` bytes (seed = its index) and remember it. */
static void append_len(struct tn_journal *j, uint32_t len)
{
	static unsigned char buf[1 << 16];
	struct rec *r = &recs[nrecs];
	uint64_t off = 0, end = tn_journal_end(j);

	ck_assert_uint_lt(nrecs, MAXREC);
	ck_assert_uint_le(len, sizeof buf);
	r->len = len;
	r->type = (uint8_t)(1 + nrecs % 4);
	r->seed = (uint32_t)nrecs;
	fill(buf, len, r->seed);
	ck_assert_int_eq(tn_journal_append(j, r->type, buf, len, &off), 0);
	ck_assert_uint_eq(off, end);
	ck_assert_uint_eq(tn_journal_end(j), end + HDR + len);
	r->offset = off;
	nrecs++;
}

static void append_n(struct tn_journal *j, size_t n)
{
	for (size_t i = 0; i < n; i++)
		append_len(j, (uint32_t)((nrecs * 37) % 301));
}

static void check_rec(const struct tn_journal_record *got, size_t i)
{
	static unsigned char want[1 << 16];

	ck_assert_uint_lt(i, nrecs);
	ck_assert_uint_eq(got->offset, recs[i].offset);
	ck_assert_uint_eq(got->type, recs[i].type);
	ck_assert_uint_eq(got->len, recs[i].len);
	fill(want, recs[i].len, recs[i].seed);
	if (recs[i].len)
		ck_assert_mem_eq(got->payload, want, recs[i].len);
}

/* Read records [first, last) from r below limit, then expect "nothing yet". */
static void read_range(struct tn_journal_reader *r, uint64_t limit, size_t first, size_t last)
{
	struct tn_journal_record rec;

	for (size_t i = first; i < last; i++) {
		ck_assert_int_eq(tn_journal_reader_next(r, limit, &rec), 1);
		check_rec(&rec, i);
		ck_assert_uint_eq(tn_journal_reader_offset(r), recs[i].offset + HDR + recs[i].len);
	}
	ck_assert_int_eq(tn_journal_reader_next(r, limit, &rec), 0);
}

/* Read everything from the oldest record and compare with recs[first..]. */
static void read_all_from(size_t first)
{
	struct tn_journal_reader *r = NULL;

	ck_assert_int_eq(tn_journal_reader_open(dir, first ? recs[first].offset : 0, &r), 0);
	read_range(r, UINT64_MAX, first, nrecs);
	tn_journal_reader_close(r);
}

static void seg_path(char *out, size_t n, uint64_t base)
{
	char name[TN_JOURNAL_SEGNAME_SIZE];
	tn_journal_segment_name(name, base);
	snprintf(out, n, "%s/%s", dir, name);
}

static off_t file_size(const char *path)
{
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_size;
}

static void list(uint64_t **bases, size_t *n)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(tn__journal_list(fd, bases, n), 0);
	close(fd);
}

/* Base of the segment holding record i. */
static uint64_t seg_of(size_t i)
{
	uint64_t *b, base = 0;
	size_t n;
	list(&b, &n);
	for (size_t k = 0; k < n; k++)
		if (b[k] <= recs[i].offset)
			base = b[k];
	free(b);
	return base;
}

/* Overwrite bytes at journal offset `off` (inside the segment at `base`). */
static void poke(uint64_t base, uint64_t off, const void *bytes, size_t n)
{
	char path[160];
	seg_path(path, sizeof path, base);
	int fd = open(path, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, bytes, n, (off_t)(off - base)), (ssize_t)n);
	close(fd);
}

static void xor_byte(uint64_t base, uint64_t off)
{
	char path[160];
	unsigned char c;
	seg_path(path, sizeof path, base);
	int fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &c, 1, (off_t)(off - base)), 1);
	c ^= 0x5a;
	ck_assert_int_eq(pwrite(fd, &c, 1, (off_t)(off - base)), 1);
	close(fd);
}

static void age(uint64_t base, time_t when)
{
	char path[160];
	struct timespec ts[2] = {{when, 0}, {when, 0}};
	seg_path(path, sizeof path, base);
	ck_assert_int_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
}

/* ---- tests --------------------------------------------------------------- */

START_TEST(test_segment_names)
{
	char name[TN_JOURNAL_SEGNAME_SIZE];
	uint64_t b = 1;

	tn_journal_segment_name(name, 0x1234abcdu);
	ck_assert_str_eq(name, "000000001234abcd.seg");
	ck_assert_int_eq(tn_journal_segment_parse(name, &b), 0);
	ck_assert_uint_eq(b, 0x1234abcdu);
	tn_journal_segment_name(name, UINT64_MAX);
	ck_assert_str_eq(name, "ffffffffffffffff.seg");
	ck_assert_int_eq(tn_journal_segment_parse(name, &b), 0);
	ck_assert_uint_eq(b, UINT64_MAX);
	ck_assert_int_eq(tn_journal_segment_parse("000000001234ABCD.seg", &b), TN_EINVAL);
	ck_assert_int_eq(tn_journal_segment_parse("000000001234abc.seg", &b), TN_EINVAL);
	ck_assert_int_eq(tn_journal_segment_parse("000000001234abcd.seg~", &b), TN_EINVAL);
	ck_assert_int_eq(tn_journal_segment_parse("000000001234abcd.tmp", &b), TN_EINVAL);
	ck_assert_int_eq(tn_journal_segment_parse("", &b), TN_EINVAL);
}
END_TEST

START_TEST(test_append_read)
{
	struct tn_journal *j = jopen(1 << 20, 0);
	struct tn_journal_stats st;
	struct stat sb;

	ck_assert_int_eq(stat(dir, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 0777, 0700);
	ck_assert_uint_eq(tn_journal_end(j), 0);
	ck_assert_uint_eq(tn_journal_start(j), 0);
	append_n(j, 100);
	ck_assert_uint_eq(recs[0].offset, 0);
	ck_assert_uint_eq(recs[0].len, 0); /* an empty payload is a record too */
	ck_assert_uint_eq(tn_journal_durable(j), 0);
	ck_assert_int_eq(tn_journal_sync(j), 0);
	ck_assert_uint_eq(tn_journal_durable(j), tn_journal_end(j));
	ck_assert_int_eq(tn_journal_sync(j), 0); /* nothing new: no fsync counted */

	tn_journal_stats(j, &st);
	ck_assert_uint_eq(st.appends, 100);
	ck_assert_uint_eq(st.syncs, 1);
	ck_assert_uint_eq(st.bytes, tn_journal_end(j));
	ck_assert_uint_eq(st.segments, 1);
	ck_assert_uint_eq(st.torn_tail_truncations, 0);

	struct tn_journal_reader *r;
	ck_assert_int_eq(tn_journal_reader_open(dir, 0, &r), 0);
	read_range(r, tn_journal_durable(j), 0, 100);
	ck_assert_uint_eq(tn_journal_reader_offset(r), tn_journal_end(j));
	tn_journal_reader_close(r);
	/* Starting at a record in the middle. */
	ck_assert_int_eq(tn_journal_reader_open(dir, recs[57].offset, &r), 0);
	read_range(r, tn_journal_durable(j), 57, 100);
	tn_journal_reader_close(r);
	/* At the end: nothing yet, and that is not an error. */
	ck_assert_int_eq(tn_journal_reader_open(dir, tn_journal_end(j), &r), 0);
	read_range(r, UINT64_MAX, 100, 100);
	tn_journal_reader_close(r);
	tn_journal_close(j);
}
END_TEST

START_TEST(test_bad_args)
{
	struct tn_journal_opts o = {.dir = dir, .segment_bytes = 0};
	struct tn_journal *j = NULL, *j2 = NULL;
	static unsigned char big[TN_JOURNAL_MAX_RECORD + 1];

	ck_assert_int_eq(tn_journal_open(&o, &j), TN_EINVAL);
	o.dir = NULL;
	o.segment_bytes = 4096;
	ck_assert_int_eq(tn_journal_open(&o, &j), TN_EINVAL);
	j = jopen(4096, 0);
	ck_assert_int_eq(tn_journal_append(j, TN_JREC_EVENT, big, TN_JOURNAL_MAX_RECORD + 1, NULL),
			 TN_EINVAL);
	ck_assert_uint_eq(tn_journal_end(j), 0);
	/* One writer per directory. */
	o.dir = dir;
	ck_assert_int_eq(tn_journal_open(&o, &j2), TN_EIO);
	tn_journal_close(j);
	tn_journal_close(NULL);
	tn_journal_reader_close(NULL);
}
END_TEST

START_TEST(test_roll_many_segments)
{
	struct tn_journal *j = jopen(4096, 0);
	struct tn_journal_stats st;
	uint64_t *b;
	size_t n;

	for (int i = 0; i < 300; i++) {
		append_n(j, 10);
		if (i % 3 == 0)
			ck_assert_int_eq(tn_journal_sync(j), 0);
	}
	ck_assert_int_eq(tn_journal_sync(j), 0);
	tn_journal_stats(j, &st);
	list(&b, &n);
	ck_assert_uint_gt(n, 100);
	ck_assert_uint_eq(st.segments, n);
	ck_assert_uint_eq(b[0], 0);
	for (size_t k = 0; k < n; k++) {
		char path[160];
		seg_path(path, sizeof path, b[k]);
		off_t sz = file_size(path);
		ck_assert_int_le(sz, 4096);
		ck_assert_int_gt(sz, 0);
		if (k + 1 < n)
			ck_assert_uint_eq(b[k] + (uint64_t)sz, b[k + 1]);
		else
			ck_assert_uint_eq(b[k] + (uint64_t)sz, tn_journal_end(j));
	}
	read_all_from(0);
	/* From a segment's first record and from a record inside one. */
	for (size_t i = 0; i < nrecs; i++)
		if (recs[i].offset == b[n / 2]) {
			read_all_from(i);
			read_all_from(i + 1);
		}
	free(b);
	tn_journal_close(j);
}
END_TEST

/* A record larger than a segment goes alone; the largest record works. */
START_TEST(test_large_records)
{
	struct tn_journal *j = jopen(1024, 0);
	struct tn_journal_stats st;
	unsigned char *big = malloc(TN_JOURNAL_MAX_RECORD);
	struct tn_journal_record rec;
	struct tn_journal_reader *r;
	uint64_t off;

	append_len(j, 5000); /* into the empty first segment, alone */
	append_len(j, 10);   /* rolls */
	append_len(j, 10);
	append_len(j, 6000); /* rolls, alone */
	append_len(j, 0);    /* rolls */
	ck_assert_ptr_nonnull(big);
	fill(big, TN_JOURNAL_MAX_RECORD, 99);
	/* Bigger than the write buffer: written directly. */
	ck_assert_int_eq(tn_journal_append(j, TN_JREC_AUDIT, big, TN_JOURNAL_MAX_RECORD, &off), 0);
	ck_assert_int_eq(tn_journal_sync(j), 0);
	tn_journal_stats(j, &st);
	ck_assert_uint_eq(st.segments, 5);
	char path[160];
	seg_path(path, sizeof path, 0);
	ck_assert_int_eq(file_size(path), HDR + 5000);
	seg_path(path, sizeof path, recs[3].offset);
	ck_assert_int_eq(file_size(path), HDR + 6000);
	seg_path(path, sizeof path, off);
	ck_assert_int_eq(file_size(path), HDR + TN_JOURNAL_MAX_RECORD);

	ck_assert_int_eq(tn_journal_reader_open(dir, 0, &r), 0);
	for (size_t i = 0; i < nrecs; i++) {
		ck_assert_int_eq(tn_journal_reader_next(r, UINT64_MAX, &rec), 1);
		check_rec(&rec, i);
	}
	ck_assert_int_eq(tn_journal_reader_next(r, UINT64_MAX, &rec), 1);
	ck_assert_uint_eq(rec.offset, off);
	ck_assert_uint_eq(rec.len, TN_JOURNAL_MAX_RECORD);
	ck_assert_int_eq(memcmp(rec.payload, big, TN_JOURNAL_MAX_RECORD), 0);
	ck_assert_int_eq(tn_journal_reader_next(r, UINT64_MAX, &rec), 0);
	tn_journal_reader_close(r);
	tn_journal_close(j);
	free(big);
}
END_TEST

START_TEST(test_reopen_continues)
{
	struct tn_journal *j = jopen(2048, 0);
	uint64_t end;

	append_n(j, 50);
	ck_assert_int_eq(tn_journal_sync(j), 0);
	end = tn_journal_end(j);
	tn_journal_close(j);

	j = jopen(2048, 0);
	ck_assert_uint_eq(tn_journal_end(j), end);
	ck_assert_uint_eq(tn_journal_durable(j), end);
	ck_assert_uint_eq(tn_journal_start(j), 0);
	append_n(j, 10);
	ck_assert_uint_eq(recs[50].offset, end);
	end = tn_journal_end(j);
	tn_journal_close(j); /* syncs */

	j = jopen(2048, 0);
	ck_assert_uint_eq(tn_journal_end(j), end);
	struct tn_journal_stats st;
	tn_journal_stats(j, &st);
	ck_assert_uint_eq(st.torn_tail_truncations, 0);
	ck_assert_uint_eq(st.appends, 0);
	tn_journal_close(j);
	read_all_from(0);
}
END_TEST

/* A crash right after a roll leaves an empty last segment: fine. */
START_TEST(test_empty_last_segment)
{
	struct tn_journal *j = jopen(2048, 0);
	char path[160];
	uint64_t end;

	append_n(j, 30);
	tn_journal_close(j);
	end = recs[29].offset + HDR + recs[29].len;
	seg_path(path, sizeof path, end);
	int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);

	j = jopen(2048, 0);
	ck_assert_uint_eq(tn_journal_end(j), end);
	append_n(j, 3);
	ck_assert_int_eq(tn_journal_sync(j), 0);
	ck_assert_int_eq(file_size(path), (off_t)(tn_journal_end(j) - end));
	tn_journal_close(j);
	read_all_from(0);
}
END_TEST

/*
 * Torn tails. _i: 0 cut in a header, 1 cut in a payload, 2 garbage
 * appended, 3 last two records zeroed, 4 zeros appended, 5 the whole last
 * segment is garbage.
 */
START_TEST(test_torn_tail)
{
	struct tn_journal *j = jopen(_i == 5 ? 4096 : 1 << 20, 0);
	struct tn_journal_stats st;
	unsigned char junk[1000];
	char path[160];
	uint64_t base, cut, end;
	size_t keep;

	for (int i = 0; i < 40; i++)
		append_len(j, 100 + (uint32_t)i);
	tn_journal_close(j);
	end = recs[nrecs - 1].offset + HDR + recs[nrecs - 1].len;
	base = seg_of(nrecs - 1);
	seg_path(path, sizeof path, base);
	switch (_i) {
	case 0:
		keep = 39;
		cut = recs[39].offset;
		ck_assert_int_eq(truncate(path, (off_t)(cut + 5 - base)), 0);
		break;
	case 1:
		keep = 39;
		cut = recs[39].offset;
		ck_assert_int_eq(truncate(path, (off_t)(cut + HDR + recs[39].len / 2 - base)), 0);
		break;
	case 2: {
		keep = 40;
		cut = end;
		uint32_t x = 12345;
		for (size_t k = 0; k < sizeof junk; k++) {
			x = x * 1103515245u + 12345u;
			junk[k] = (unsigned char)(x >> 16);
		}
		poke(base, end, junk, sizeof junk);
		break;
	}
	case 3:
		keep = 38;
		cut = recs[38].offset;
		memset(junk, 0, sizeof junk);
		poke(base, cut, junk, end - cut);
		break;
	case 4:
		keep = 40;
		cut = end;
		memset(junk, 0, sizeof junk);
		poke(base, end, junk, sizeof junk);
		break;
	default: {
		cut = base;
		for (keep = 0; recs[keep].offset < base; keep++)
			;
		ck_assert_uint_gt(keep, 0);
		off_t sz = file_size(path);
		unsigned char *g = malloc((size_t)sz);
		memset(g, 0xa5, (size_t)sz);
		poke(base, base, g, (size_t)sz);
		free(g);
		break;
	}
	}

	j = jopen(_i == 5 ? 4096 : 1 << 20, 0);
	tn_journal_stats(j, &st);
	ck_assert_uint_eq(st.torn_tail_truncations, 1);
	ck_assert_uint_eq(tn_journal_end(j), cut);
	ck_assert_uint_eq(tn_journal_durable(j), cut);
	ck_assert_int_eq(file_size(path), (off_t)(cut - base));
	nrecs = keep;
	read_all_from(0);
	/* New appends go where the torn bytes were and read back. */
	append_n(j, 5);
	ck_assert_uint_eq(recs[keep].offset, cut);
	ck_assert_int_eq(tn_journal_sync(j), 0);
	tn_journal_close(j);
	read_all_from(0);
	/* And the journal is clean now. */
	j = jopen(_i == 5 ? 4096 : 1 << 20, 0);
	tn_journal_stats(j, &st);
	ck_assert_uint_eq(st.torn_tail_truncations, 0);
	tn_journal_close(j);
}
END_TEST

/*
 * Damage under records that follow: acknowledged data, so open refuses.
 * _i: 0 payload byte, 1 crc byte, 2 type byte, 3 offset field, 4 length.
 */
START_TEST(test_corrupt_middle)
{
	struct tn_journal *j = jopen(1 << 20, 0);
	char path[160];
	off_t before;

	append_n(j, 20);
	tn_journal_close(j);
	static const int at[] = {HDR + 3, 5, 16, 9, 1};
	xor_byte(0, recs[10].offset + (uint64_t)at[_i]);
	seg_path(path, sizeof path, 0);
	before = file_size(path);
	ck_assert_int_eq(jopen_rc(1 << 20), TN_ECORRUPT);
	ck_assert_int_eq(file_size(path), before); /* nothing dropped */
	/* The reader stops at the damaged record, whatever the limit. */
	struct tn_journal_reader *r;
	ck_assert_int_eq(tn_journal_reader_open(dir, 0, &r), 0);
	struct tn_journal_record rec;
	for (size_t i = 0; i < 10; i++) {
		ck_assert_int_eq(tn_journal_reader_next(r, UINT64_MAX, &rec), 1);
		check_rec(&rec, i);
	}
	int rc = tn_journal_reader_next(r, UINT64_MAX, &rec);
	/* A larger length puts the record's end past the file: "not yet" to a reader. */
	ck_assert_int_eq(rc, _i == 4 ? 0 : TN_ECORRUPT);
	ck_assert_uint_eq(tn_journal_reader_offset(r), recs[10].offset);
	tn_journal_reader_close(r);
}
END_TEST

/* Damage in an older segment: open does not scan it, the reader finds it. */
START_TEST(test_reader_corrupt)
{
	struct tn_journal *j = jopen(2048, 0);
	struct tn_journal_reader *r;
	struct tn_journal_record rec;
	size_t bad = 25;

	append_n(j, 200);
	ck_assert_int_eq(tn_journal_sync(j), 0);
	ck_assert_uint_ne(seg_of(bad), seg_of(nrecs - 1));
	ck_assert_uint_gt(recs[bad].len, 4);
	xor_byte(seg_of(bad), recs[bad].offset + HDR + recs[bad].len - 1);
	tn_journal_close(j);
	j = jopen(2048, 0);

	ck_assert_int_eq(tn_journal_reader_open(dir, 0, &r), 0);
	for (size_t i = 0; i < bad; i++) {
		ck_assert_int_eq(tn_journal_reader_next(r, tn_journal_durable(j), &rec), 1);
		check_rec(&rec, i);
	}
	/* Its end is past the limit: not read, so not reported. */
	ck_assert_int_eq(tn_journal_reader_next(r, recs[bad].offset + HDR, &rec), 0);
	ck_assert_int_eq(tn_journal_reader_next(r, tn_journal_durable(j), &rec), TN_ECORRUPT);
	ck_assert_int_eq(tn_journal_reader_next(r, tn_journal_durable(j), &rec), TN_ECORRUPT);
	ck_assert_uint_eq(tn_journal_reader_offset(r), recs[bad].offset);
	tn_journal_reader_close(r);
	/* Past it, reading goes on. */
	ck_assert_int_eq(tn_journal_reader_open(dir, recs[bad + 1].offset, &r), 0);
	read_range(r, tn_journal_durable(j), bad + 1, nrecs);
	tn_journal_reader_close(r);
	tn_journal_close(j);
}
END_TEST

START_TEST(test_reader_limit)
{
	struct tn_journal *j = jopen(1 << 20, 0);
	struct tn_journal_reader *r;
	struct tn_journal_record rec;
	uint64_t end4;

	append_n(j, 10);
	ck_assert_int_eq(tn_journal_sync(j), 0);
	end4 = recs[4].offset + HDR + recs[4].len;
	ck_assert_int_eq(tn_journal_reader_open(dir, 0, &r), 0);
	ck_assert_int_eq(tn_journal_reader_next(r, 0, &rec), 0);
	ck_assert_int_eq(tn_journal_reader_next(r, HDR - 1, &rec), 0);
	read_range(r, end4, 0, 5);
	/* In the next record's header, then in its payload: still nothing. */
	ck_assert_int_eq(tn_journal_reader_next(r, end4 + 3, &rec), 0);
	ck_assert_int_eq(tn_journal_reader_next(r, end4 + HDR + recs[5].len - 1, &rec), 0);
	ck_assert_uint_eq(tn_journal_reader_offset(r), end4);
	read_range(r, end4 + HDR + recs[5].len, 5, 6);
	read_range(r, tn_journal_durable(j), 6, 10);
	/* Appended but not synced: a limit at durable hides it. */
	append_n(j, 3);
	read_range(r, tn_journal_durable(j), 10, 10);
	ck_assert_int_eq(tn_journal_sync(j), 0);
	read_range(r, tn_journal_durable(j), 10, 13);
	tn_journal_reader_close(r);
	tn_journal_close(j);
}
END_TEST

/*
 * A reader beside the writer, in turns, across many small segments; the
 * reader is opened before the writer has created anything.
 */
START_TEST(test_interleaved)
{
	struct tn_journal_reader *r;
	struct tn_journal_record rec;
	struct tn_journal *j;
	size_t seen = 0;
	uint32_t x = 7;

	ck_assert_int_eq(tn_journal_reader_open(dir, 0, &r), TN_ENOTFOUND); /* no directory */
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_eq(tn_journal_reader_open(dir, 0, &r), 0);
	ck_assert_int_eq(tn_journal_reader_next(r, UINT64_MAX, &rec), 0);
	j = jopen(1500, 0);
	ck_assert_int_eq(tn_journal_reader_next(r, tn_journal_durable(j), &rec), 0);
	for (int round = 0; round < 600; round++) {
		x = x * 1103515245u + 12345u;
		append_n(j, 1 + (x >> 16) % 5);
		if ((x >> 8) % 4 != 0)
			ck_assert_int_eq(tn_journal_sync(j), 0);
		/* Sometimes read only part of what is durable. */
		int max = (x >> 20) % 3 == 0 ? 2 : 1000;
		uint64_t limit = tn_journal_durable(j);
		int rc = 0;
		while (max-- > 0 && (rc = tn_journal_reader_next(r, limit, &rec)) == 1)
			check_rec(&rec, seen++);
		ck_assert_int_ge(rc, 0);
		ck_assert_uint_le(tn_journal_reader_offset(r), tn_journal_durable(j));
	}
	ck_assert_int_eq(tn_journal_sync(j), 0);
	while (tn_journal_reader_next(r, tn_journal_durable(j), &rec) == 1)
		check_rec(&rec, seen++);
	ck_assert_uint_eq(seen, nrecs);
	ck_assert_uint_eq(tn_journal_reader_offset(r), tn_journal_end(j));
	struct tn_journal_stats st;
	tn_journal_stats(j, &st);
	ck_assert_uint_gt(st.segments, 100);
	tn_journal_reader_close(r);
	tn_journal_close(j);
}
END_TEST

/*
 * Threads: a writer appending and syncing, a reader at the durable offset
 * (the store's way) and one reading whatever is on disk (UINT64_MAX), both
 * racing rolls and partly written buffers. Records are a function of their
 * index, so readers check them without sharing the writer's bookkeeping.
 */
#define T_RECORDS 20000
static _Atomic uint64_t t_durable;
static atomic_bool t_done;

static uint32_t t_len(size_t i)
{
	return (uint32_t)((i * 7919) % 700);
}

static void *t_writer(void *arg)
{
	struct tn_journal *j = arg;
	unsigned char buf[700];

	for (size_t i = 0; i < T_RECORDS; i++) {
		fill(buf, t_len(i), (uint32_t)i);
		if (tn_journal_append(j, (uint8_t)(1 + i % 4), buf, t_len(i), NULL) != 0)
			return "append";
		if (i % 7 == 0 || i + 1 == T_RECORDS) {
			if (tn_journal_sync(j) != 0)
				return "sync";
			atomic_store(&t_durable, tn_journal_durable(j));
		}
	}
	atomic_store(&t_done, true);
	return NULL;
}

static void *t_reader(void *arg)
{
	bool tail = arg != NULL;
	struct tn_journal_reader *r;
	struct tn_journal_record rec;
	unsigned char want[700];
	uint64_t off = 0;
	size_t i = 0;

	if (tn_journal_reader_open(dir, 0, &r) != 0)
		return "open";
	while (i < T_RECORDS) {
		bool done = atomic_load(&t_done);
		uint64_t limit = tail ? UINT64_MAX : atomic_load(&t_durable);
		int rc = tn_journal_reader_next(r, limit, &rec);
		if (rc < 0) {
			tn_journal_reader_close(r);
			return "next";
		}
		if (rc == 0) {
			if (done && !tail && i < T_RECORDS &&
			    tn_journal_reader_offset(r) == atomic_load(&t_durable))
				break;
			sched_yield();
			continue;
		}
		fill(want, t_len(i), (uint32_t)i);
		if (rec.offset != off || rec.len != t_len(i) || rec.type != 1 + i % 4 ||
		    memcmp(rec.payload, want, rec.len) != 0) {
			tn_journal_reader_close(r);
			return "mismatch";
		}
		off += HDR + rec.len;
		i++;
	}
	tn_journal_reader_close(r);
	return i == T_RECORDS ? NULL : "short";
}

START_TEST(test_threads)
{
	struct tn_journal *j = jopen(64 << 10, 0);
	pthread_t w, r1, r2;
	void *rw, *rr1, *rr2;

	atomic_store(&t_durable, 0);
	atomic_store(&t_done, false);
	ck_assert_int_eq(pthread_create(&r1, NULL, t_reader, NULL), 0);
	ck_assert_int_eq(pthread_create(&r2, NULL, t_reader, (void *)1), 0);
	ck_assert_int_eq(pthread_create(&w, NULL, t_writer, j), 0);
	pthread_join(w, &rw);
	pthread_join(r1, &rr1);
	pthread_join(r2, &rr2);
	ck_assert_ptr_null(rw);
	ck_assert_msg(rr1 == NULL, "durable reader: %s", (char *)rr1);
	ck_assert_msg(rr2 == NULL, "tail reader: %s", (char *)rr2);
	struct tn_journal_stats st;
	tn_journal_stats(j, &st);
	ck_assert_uint_gt(st.segments, 50);
	tn_journal_close(j);
}
END_TEST

START_TEST(test_retain)
{
	struct tn_journal *j = jopen(1024, 0);
	struct tn_journal_reader *r;
	time_t now = time(NULL);
	uint64_t *b, *b2;
	size_t n, n2;

	append_n(j, 80);
	ck_assert_int_eq(tn_journal_sync(j), 0);
	list(&b, &n);
	ck_assert_uint_ge(n, 10);
	for (size_t k = 0; k < n; k++)
		age(b[k], now - 1000);

	/* Too young: nothing goes. */
	ck_assert_int_eq(tn_journal_retain(j, UINT64_MAX, now - 2000), 0);
	/* keep_from inside segment 3: segments 0..2 go, 3 stays. */
	ck_assert_int_eq(tn_journal_retain(j, b[3] + 1, now - 100), 3);
	ck_assert_uint_eq(tn_journal_start(j), b[3]);
	list(&b2, &n2);
	ck_assert_uint_eq(n2, n - 3);
	ck_assert_uint_eq(b2[0], b[3]);
	free(b2);
	/* keep_from at the end of segment 3: it goes. */
	ck_assert_int_eq(tn_journal_retain(j, b[4], now - 100), 1);
	ck_assert_uint_eq(tn_journal_start(j), b[4]);
	/* A young segment stops retention even if older-looking ones follow. */
	age(b[5], now);
	ck_assert_int_eq(tn_journal_retain(j, UINT64_MAX, now - 100), 1);
	ck_assert_uint_eq(tn_journal_start(j), b[5]);
	/* Everything eligible: all but the active segment. */
	for (size_t k = 5; k < n; k++)
		age(b[k], now - 1000);
	ck_assert_int_eq(tn_journal_retain(j, UINT64_MAX, now), (int)(n - 6));
	ck_assert_uint_eq(tn_journal_start(j), b[n - 1]);
	ck_assert_int_eq(tn_journal_retain(j, UINT64_MAX, now + 1000), 0);
	struct tn_journal_stats st;
	tn_journal_stats(j, &st);
	ck_assert_uint_eq(st.segments, 1);
	ck_assert_uint_eq(st.bytes, tn_journal_end(j) - b[n - 1]);

	/* Readers: deleted offsets are gone; 0 means the oldest left. */
	ck_assert_int_eq(tn_journal_reader_open(dir, b[0] + 1, &r), TN_ENOTFOUND);
	ck_assert_int_eq(tn_journal_reader_open(dir, b[n - 2], &r), TN_ENOTFOUND);
	size_t first;
	for (first = 0; recs[first].offset < b[n - 1]; first++)
		;
	ck_assert_int_eq(tn_journal_reader_open(dir, 0, &r), 0);
	read_range(r, tn_journal_durable(j), first, nrecs);
	append_n(j, 20);
	ck_assert_int_eq(tn_journal_sync(j), 0);
	read_range(r, tn_journal_durable(j), nrecs - 20, nrecs);
	tn_journal_reader_close(r);
	tn_journal_close(j);
	j = jopen(1024, 0);
	ck_assert_uint_eq(tn_journal_start(j), b[n - 1]);
	tn_journal_close(j);
	free(b);
}
END_TEST

/* A reader left behind in segments that retention deleted. */
START_TEST(test_retain_under_reader)
{
	struct tn_journal *j = jopen(1024, 0);
	struct tn_journal_reader *r;
	struct tn_journal_record rec;
	uint64_t *b;
	size_t n;

	append_n(j, 60);
	ck_assert_int_eq(tn_journal_sync(j), 0);
	ck_assert_int_eq(tn_journal_reader_open(dir, 0, &r), 0);
	list(&b, &n);
	ck_assert_uint_ge(n, 4);
	for (size_t k = 0; k < n; k++)
		age(b[k], time(NULL) - 1000);
	ck_assert_int_eq(tn_journal_retain(j, b[3], time(NULL) - 100), 3);
	/* The open segment still reads; then the next one is gone. */
	size_t i = 0;
	int rc;
	while ((rc = tn_journal_reader_next(r, tn_journal_durable(j), &rec)) == 1)
		check_rec(&rec, i++);
	ck_assert_int_eq(rc, TN_ENOTFOUND);
	ck_assert_uint_eq(tn_journal_reader_offset(r), b[1]);
	tn_journal_reader_close(r);
	free(b);
	tn_journal_close(j);
}
END_TEST

START_TEST(test_max_bytes)
{
	/* 117-byte records, 2 per segment, at most 8 in all. */
	struct tn_journal *j = jopen(240, 1000);
	struct tn_journal_stats st;
	unsigned char p[100] = {0};
	uint64_t end;

	for (int i = 0; i < 8; i++)
		append_len(j, 100);
	end = tn_journal_end(j);
	ck_assert_uint_eq(end, 936);
	ck_assert_int_eq(tn_journal_append(j, TN_JREC_EVENT, p, 100, NULL), TN_EFULL);
	ck_assert_int_eq(tn_journal_append(j, TN_JREC_EVENT, p, 100, NULL), TN_EFULL);
	ck_assert_int_eq(tn_journal_append(j, TN_JREC_EVENT, p, 100, NULL), TN_EFULL);
	ck_assert_uint_eq(tn_journal_end(j), end);
	tn_journal_stats(j, &st);
	ck_assert_uint_eq(st.full_refusals, 3);
	ck_assert_uint_eq(st.appends, 8);
	ck_assert_uint_eq(st.bytes, 936);
	/* A smaller one still fits. */
	append_len(j, 40);
	ck_assert_int_eq(tn_journal_sync(j), 0);
	read_all_from(0);
	/* Retention makes room again. */
	uint64_t *b;
	size_t n;
	list(&b, &n);
	for (size_t k = 0; k < n; k++)
		age(b[k], time(NULL) - 1000);
	ck_assert_int_eq(tn_journal_retain(j, b[2], time(NULL)), 2);
	tn_journal_stats(j, &st);
	ck_assert_uint_eq(st.bytes, 993 - 468);
	for (int i = 0; i < 4; i++) /* 525 + 4 * 117 = 993 */
		append_len(j, 100);
	ck_assert_int_eq(tn_journal_append(j, TN_JREC_EVENT, p, 100, NULL), TN_EFULL);
	ck_assert_int_eq(tn_journal_sync(j), 0);
	tn_journal_stats(j, &st);
	ck_assert_uint_eq(st.full_refusals, 4);
	ck_assert_uint_eq(st.bytes, 993);
	read_all_from(6);
	free(b);
	tn_journal_close(j);
}
END_TEST

/* _i: 0 a middle segment deleted, 1 one cut short, 2 one with 5 bytes too many. */
START_TEST(test_gap)
{
	struct tn_journal *j = jopen(1024, 0);
	struct tn_journal_reader *r;
	struct tn_journal_record rec;
	char path[160];
	uint64_t *b;
	size_t n, i;

	append_n(j, 60);
	tn_journal_close(j);
	list(&b, &n);
	ck_assert_uint_ge(n, 4);
	seg_path(path, sizeof path, b[2]);
	if (_i == 0)
		ck_assert_int_eq(unlink(path), 0);
	else if (_i == 1)
		ck_assert_int_eq(truncate(path, file_size(path) - 1), 0);
	else
		poke(b[2], b[3], "\1\2\3\4\5", 5);
	ck_assert_int_eq(jopen_rc(1024), TN_ECORRUPT);
	/* A reader stops there too rather than skip to the next segment. */
	ck_assert_int_eq(tn_journal_reader_open(dir, 0, &r), 0);
	/* The first record it cannot give: segment 2's first, its last, segment 3's first. */
	size_t stop = 0;
	while (_i == 0   ? recs[stop].offset < b[2]
	       : _i == 1 ? recs[stop].offset + HDR + recs[stop].len < b[3]
			 : recs[stop].offset < b[3])
		stop++;
	for (i = 0; i < stop; i++) {
		ck_assert_int_eq(tn_journal_reader_next(r, UINT64_MAX, &rec), 1);
		check_rec(&rec, i);
	}
	ck_assert_int_eq(tn_journal_reader_next(r, UINT64_MAX, &rec), TN_ECORRUPT);
	ck_assert_int_eq(tn_journal_reader_next(r, UINT64_MAX, &rec), TN_ECORRUPT);
	ck_assert_uint_eq(tn_journal_reader_offset(r), recs[stop].offset);
	tn_journal_reader_close(r);
	free(b);
}
END_TEST

START_TEST(test_reader_open_bounds)
{
	struct tn_journal *j = jopen(1 << 20, 0);
	struct tn_journal_reader *r = NULL;

	append_n(j, 5);
	ck_assert_int_eq(tn_journal_sync(j), 0);
	ck_assert_int_eq(tn_journal_reader_open(dir, tn_journal_end(j) + 1, &r), TN_EINVAL);
	ck_assert_ptr_null(r);
	/* An offset inside a record is caught at the first read. */
	ck_assert_int_eq(tn_journal_reader_open(dir, recs[2].offset + 1, &r), 0);
	struct tn_journal_record rec;
	ck_assert_int_eq(tn_journal_reader_next(r, UINT64_MAX, &rec), TN_ECORRUPT);
	tn_journal_reader_close(r);
	tn_journal_close(j);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("journal");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tn_log_set_level(TN_LOG_WARN);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_segment_names);
	tcase_add_test(tc, test_append_read);
	tcase_add_test(tc, test_bad_args);
	tcase_add_test(tc, test_roll_many_segments);
	tcase_add_test(tc, test_large_records);
	tcase_add_test(tc, test_reopen_continues);
	tcase_add_test(tc, test_empty_last_segment);
	tcase_add_loop_test(tc, test_torn_tail, 0, 6);
	tcase_add_loop_test(tc, test_corrupt_middle, 0, 5);
	tcase_add_test(tc, test_reader_corrupt);
	tcase_add_test(tc, test_reader_limit);
	tcase_add_test(tc, test_interleaved);
	tcase_add_test(tc, test_threads);
	tcase_add_test(tc, test_retain);
	tcase_add_test(tc, test_retain_under_reader);
	tcase_add_test(tc, test_max_bytes);
	tcase_add_loop_test(tc, test_gap, 0, 3);
	tcase_add_test(tc, test_reader_open_bounds);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
