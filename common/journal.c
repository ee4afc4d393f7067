/*
 * journal.c - the journal writer (journal.h, design §5): open and tail
 * recovery, buffered appends made durable by tn_journal_sync (the group
 * commit), segment rolling and retention. Also the helpers the reader in
 * journal_reader.c shares: segment names, listing, header decoding, windows.
 */
#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "log.h"
#include "tocsin/error.h"

/* Appends are copied here and written when it fills or at sync. */
#define WBUF_BYTES (1u << 20)
/* First size of the window used to scan the last segment at open. */
#define SCAN_BYTES (1u << 20)

struct tn_journal {
	char *dir;
	int dirfd;               /* holds the flock */
	int fd;                  /* active segment (the last one), O_APPEND */
	uint64_t segment_bytes;
	uint64_t max_bytes;
	uint64_t *bases;         /* segment bases, oldest first; the last is active */
	size_t nseg, segcap;
	uint64_t end;            /* offset of the next record */
	uint64_t durable;
	bool dir_dirty;          /* a segment was created or deleted since the last fsync */
	bool failed;             /* a write or fsync failed: refuse until reopened */
	unsigned char *wbuf;     /* WBUF_BYTES */
	size_t wlen;
	struct tn_journal_stats st;
	struct tn_log_slot full_slot;
};

/* ---- shared helpers ------------------------------------------------------- */

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

void tn__journal_hdr_decode(const unsigned char p[TN_JOURNAL_HDR], struct tn__jhdr *h)
{
	h->len = get32(p);
	h->crc = get32(p + 4);
	h->offset = get64(p + 8);
	h->type = p[16];
}

bool tn__journal_crc_ok(const unsigned char *p, const struct tn__jhdr *h)
{
	return tn__crc32c(0, p + 8, TN_JOURNAL_HDR - 8 + (size_t)h->len) == h->crc;
}

void tn_journal_segment_name(char out[TN_JOURNAL_SEGNAME_SIZE], uint64_t base)
{
	snprintf(out, TN_JOURNAL_SEGNAME_SIZE, "%016llx.seg", (unsigned long long)base);
}

int tn_journal_segment_parse(const char *name, uint64_t *base)
{
	uint64_t v = 0;

	for (int i = 0; i < 16; i++) {
		char c = name[i];
		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return TN_EINVAL;
	}
	if (strcmp(name + 16, ".seg") != 0)
		return TN_EINVAL;
	*base = v;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

int tn__journal_list(int dirfd, uint64_t **bases, size_t *n)
{
	/* A fresh open file description: readdir must not move dirfd's position. */
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	uint64_t *v = NULL, base;
	size_t len = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	if (fd < 0 || !(d = fdopendir(fd))) {
		tn_error("journal directory unreadable", "error=\"%s\"", strerror(errno));
		if (fd >= 0)
			close(fd);
		return TN_EIO;
	}
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (tn_journal_segment_parse(de->d_name, &base) != 0)
			continue;
		if (len == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			uint64_t *nv = realloc(v, ncap * sizeof *nv);
			if (!nv) {
				free(v);
				closedir(d);
				return TN_ENOMEM;
			}
			v = nv;
			cap = ncap;
		}
		v[len++] = base;
		errno = 0;
	}
	if (errno) {
		tn_error("journal directory unreadable", "error=\"%s\"", strerror(errno));
		free(v);
		closedir(d);
		return TN_EIO;
	}
	closedir(d);
	if (len)
		qsort(v, len, sizeof *v, cmp_u64);
	*bases = v;
	*n = len;
	return 0;
}

int tn__jwin_get(struct tn__jwin *w, uint64_t pos, size_t n, const unsigned char **out)
{
	size_t got = 0;

	if (pos >= w->off && pos - w->off <= w->len && n <= w->len - (pos - w->off)) {
		*out = w->buf + (pos - w->off);
		return 1;
	}
	if (n > w->cap) {
		unsigned char *nb = realloc(w->buf, n);
		if (!nb)
			return TN_ENOMEM;
		w->buf = nb;
		w->cap = n;
	}
	w->off = pos;
	w->len = 0;
	while (got < w->cap) {
		size_t want = w->cap - got;
		ssize_t r = pread(w->fd, w->buf + got, want, (off_t)(pos + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			tn_error("journal read failed", "position=%llu error=\"%s\"",
				 (unsigned long long)pos, strerror(errno));
			return TN_EIO;
		}
		if (r == 0)
			break;
		got += (size_t)r;
		/* A short read is the end of the file for now: no second pread for a 0. */
		if (got >= n && (size_t)r < want)
			break;
	}
	w->len = got;
	if (got < n)
		return 0;
	*out = w->buf;
	return 1;
}

/* ---- writer ----------------------------------------------------------------- */

/* Mark the writer failed: from now on only a reopen knows what is on disk. */
static int fail(struct tn_journal *j, const char *op, int err)
{
	char name[TN_JOURNAL_SEGNAME_SIZE];

	tn_journal_segment_name(name, j->bases[j->nseg - 1]);
	tn_error("journal i/o failed; refusing further appends", "op=%s segment=%s error=\"%s\"",
		 op, name, strerror(err));
	j->failed = true;
	return TN_EIO;
}

static int write_all(struct tn_journal *j, const unsigned char *p, size_t n)
{
	while (n) {
		ssize_t w = write(j->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return fail(j, "write", errno);
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int flush(struct tn_journal *j)
{
	int rc = write_all(j, j->wbuf, j->wlen);
	if (rc == 0)
		j->wlen = 0;
	return rc;
}

/* Create the segment starting at j->end and make it active. */
static int create_segment(struct tn_journal *j)
{
	char name[TN_JOURNAL_SEGNAME_SIZE];
	int fd;

	if (j->nseg == j->segcap) {
		size_t ncap = j->segcap ? 2 * j->segcap : 16;
		uint64_t *nb = realloc(j->bases, ncap * sizeof *nb);
		if (!nb)
			return TN_ENOMEM;
		j->bases = nb;
		j->segcap = ncap;
	}
	tn_journal_segment_name(name, j->end);
	fd = openat(j->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		tn_error("journal segment not created", "dir=\"%s\" segment=%s error=\"%s\"",
			 j->dir, name, strerror(errno));
		return TN_EIO;
	}
	j->fd = fd;
	j->bases[j->nseg++] = j->end;
	j->dir_dirty = true;
	tn_debug("journal segment created", "segment=%s", name);
	return 0;
}

/*
 * Finish the active segment and start the next. The old one is made durable
 * (and its directory entry) before the new one exists, so that after a crash
 * only the last segment can be torn and a missing piece is always a gap.
 */
static int roll(struct tn_journal *j)
{
	int rc;

	if ((rc = flush(j)) != 0)
		return rc;
	if (fdatasync(j->fd) != 0)
		return fail(j, "fdatasync", errno);
	if (j->dir_dirty) {
		if (fsync(j->dirfd) != 0)
			return fail(j, "fsync directory", errno);
		j->dir_dirty = false;
	}
	close(j->fd);
	j->fd = -1;
	if ((rc = create_segment(j)) != 0) {
		/* No active segment to append to: treat like any other i/o failure. */
		j->failed = true;
		return TN_EIO;
	}
	return 0;
}

int tn_journal_append(struct tn_journal *j, uint8_t type, const void *payload, uint32_t len,
		      uint64_t *offset)
{
	unsigned char hdr[TN_JOURNAL_HDR];
	uint64_t rec = TN_JOURNAL_HDR + (uint64_t)len;
	uint64_t active;
	uint32_t crc;
	int rc;

	if (j->failed)
		return TN_EIO;
	if (len > TN_JOURNAL_MAX_RECORD || (len && !payload))
		return TN_EINVAL;
	if (j->max_bytes && j->end - j->bases[0] + rec > j->max_bytes) {
		j->st.full_refusals++;
		tn_log_limited(&j->full_slot, 1, TN_LOG_WARN, "journal full; append refused",
			       "dir=\"%s\" bytes=%llu max_bytes=%llu", j->dir,
			       (unsigned long long)(j->end - j->bases[0]),
			       (unsigned long long)j->max_bytes);
		return TN_EFULL;
	}
	active = j->end - j->bases[j->nseg - 1];
	if (active && active + rec > j->segment_bytes && (rc = roll(j)) != 0)
		return rc;

	put32(hdr, len);
	put64(hdr + 8, j->end);
	hdr[16] = type;
	crc = tn__crc32c(0, hdr + 8, TN_JOURNAL_HDR - 8);
	crc = tn__crc32c(crc, payload, len);
	put32(hdr + 4, crc);

	if (j->wlen + rec > WBUF_BYTES && (rc = flush(j)) != 0)
		return rc;
	if (rec > WBUF_BYTES) {
		if ((rc = write_all(j, hdr, sizeof hdr)) != 0 ||
		    (rc = write_all(j, payload, len)) != 0)
			return rc;
	} else {
		memcpy(j->wbuf + j->wlen, hdr, sizeof hdr);
		if (len)
			memcpy(j->wbuf + j->wlen + sizeof hdr, payload, len);
		j->wlen += (size_t)rec;
	}
	if (offset)
		*offset = j->end;
	j->end += rec;
	j->st.appends++;
	return 0;
}

int tn_journal_sync(struct tn_journal *j)
{
	int rc;

	if (j->failed)
		return TN_EIO;
	if (j->durable == j->end && !j->dir_dirty)
		return 0;
	if ((rc = flush(j)) != 0)
		return rc;
	if (fdatasync(j->fd) != 0)
		return fail(j, "fdatasync", errno);
	if (j->dir_dirty) {
		if (fsync(j->dirfd) != 0)
			return fail(j, "fsync directory", errno);
		j->dir_dirty = false;
	}
	j->durable = j->end;
	j->st.syncs++;
	return 0;
}

uint64_t tn_journal_end(const struct tn_journal *j)
{
	return j->end;
}

uint64_t tn_journal_durable(const struct tn_journal *j)
{
	return j->durable;
}

uint64_t tn_journal_start(const struct tn_journal *j)
{
	return j->bases[0];
}

void tn_journal_stats(const struct tn_journal *j, struct tn_journal_stats *out)
{
	*out = j->st;
	out->bytes = j->end - j->bases[0];
	out->segments = j->nseg;
}

int tn_journal_retain(struct tn_journal *j, uint64_t keep_from, int64_t older_than)
{
	char name[TN_JOURNAL_SEGNAME_SIZE];
	struct stat st;
	size_t k = 0;
	int rc = 0;

	/* Segment k ends where k + 1 begins; the last (active) one never goes. */
	while (k + 1 < j->nseg && j->bases[k + 1] <= keep_from) {
		tn_journal_segment_name(name, j->bases[k]);
		if (fstatat(j->dirfd, name, &st, 0) != 0) {
			tn_error("journal segment not found for retention",
				 "dir=\"%s\" segment=%s error=\"%s\"", j->dir, name,
				 strerror(errno));
			rc = TN_EIO;
			break;
		}
		if ((int64_t)st.st_mtim.tv_sec >= older_than)
			break;
		if (unlinkat(j->dirfd, name, 0) != 0) {
			tn_error("journal segment not deleted",
				 "dir=\"%s\" segment=%s error=\"%s\"", j->dir, name,
				 strerror(errno));
			rc = TN_EIO;
			break;
		}
		tn_debug("journal segment deleted", "segment=%s end=%llu", name,
			 (unsigned long long)j->bases[k + 1]);
		k++;
	}
	if (k) {
		memmove(j->bases, j->bases + k, (j->nseg - k) * sizeof *j->bases);
		j->nseg -= k;
		/* A deletion lost in a crash only brings back a segment: no hurry. */
		j->dir_dirty = true;
	}
	return rc ? rc : (int)k;
}

/* ---- open and recovery ----------------------------------------------------- */

/* 1 and *reclen when a valid record sits at file position pos; 0 if not. */
static int valid_at(struct tn__jwin *w, uint64_t base, uint64_t size, uint64_t pos,
		    uint64_t *reclen)
{
	const unsigned char *p;
	struct tn__jhdr h;
	int rc;

	if (size - pos < TN_JOURNAL_HDR)
		return 0;
	if ((rc = tn__jwin_get(w, pos, TN_JOURNAL_HDR, &p)) <= 0)
		return rc;
	tn__journal_hdr_decode(p, &h);
	if (h.offset != base + pos || h.len > TN_JOURNAL_MAX_RECORD ||
	    h.len > size - pos - TN_JOURNAL_HDR)
		return 0;
	if ((rc = tn__jwin_get(w, pos, TN_JOURNAL_HDR + (size_t)h.len, &p)) <= 0)
		return rc;
	if (!tn__journal_crc_ok(p, &h))
		return 0;
	*reclen = TN_JOURNAL_HDR + (uint64_t)h.len;
	return 1;
}

/*
 * Check the last segment record by record. At the first bad record, look
 * for any valid record at any later byte position: none means a torn tail
 * (a crash during appends that were never acked), cut off; one means damage
 * under acknowledged data, which only a human may resolve.
 */
static int recover_tail(struct tn_journal *j, int fd, uint64_t base, uint64_t *size)
{
	struct tn__jwin w = {.fd = fd, .buf = malloc(SCAN_BYTES), .cap = SCAN_BYTES};
	char name[TN_JOURNAL_SEGNAME_SIZE];
	uint64_t pos = 0, reclen = 0, p;
	int rc = 0;

	if (!w.buf)
		return TN_ENOMEM;
	tn_journal_segment_name(name, base);
	while (pos < *size && (rc = valid_at(&w, base, *size, pos, &reclen)) == 1)
		pos += reclen;
	if (rc < 0)
		goto out;
	rc = 0;
	if (pos == *size)
		goto out;
	for (p = pos + 1; p + TN_JOURNAL_HDR <= *size; p++) {
		if ((rc = valid_at(&w, base, *size, p, &reclen)) < 0)
			goto out;
		if (rc == 1) {
			tn_error("journal corrupt: bad record followed by valid ones",
				 "dir=\"%s\" segment=%s offset=%llu next_valid=%llu", j->dir, name,
				 (unsigned long long)(base + pos), (unsigned long long)(base + p));
			rc = TN_ECORRUPT;
			goto out;
		}
	}
	if (ftruncate(fd, (off_t)pos) != 0 || fsync(fd) != 0) {
		tn_error("journal torn tail not truncated", "dir=\"%s\" segment=%s error=\"%s\"",
			 j->dir, name, strerror(errno));
		rc = TN_EIO;
		goto out;
	}
	tn_warn("journal torn tail truncated",
		"dir=\"%s\" segment=%s offset=%llu dropped_bytes=%llu", j->dir, name,
		(unsigned long long)(base + pos), (unsigned long long)(*size - pos));
	j->st.torn_tail_truncations++;
	*size = pos;
	rc = 0;
out:
	free(w.buf);
	return rc;
}

static int make_dir(const char *dir)
{
	char *parent;
	int fd;

	if (mkdir(dir, 0700) != 0) {
		if (errno == EEXIST)
			return 0;
		tn_error("journal directory not created", "dir=\"%s\" error=\"%s\"", dir,
			 strerror(errno));
		return TN_EIO;
	}
	/* The new entry is durable once its parent directory is. */
	if (!(parent = strdup(dir)))
		return TN_ENOMEM;
	char *slash = strrchr(parent, '/');
	if (!slash)
		strcpy(parent, ".");
	else if (slash == parent)
		parent[1] = '\0';
	else
		*slash = '\0';
	fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0) {
		tn_error("journal parent directory not synced", "dir=\"%s\" error=\"%s\"", parent,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		free(parent);
		return TN_EIO;
	}
	close(fd);
	free(parent);
	return 0;
}

/* Check the segments found and open the last one for appending. */
static int open_segments(struct tn_journal *j)
{
	char name[TN_JOURNAL_SEGNAME_SIZE];
	uint64_t size = 0, last;
	struct stat st;
	int rc, fd;

	if ((rc = tn__journal_list(j->dirfd, &j->bases, &j->nseg)) != 0)
		return rc;
	j->segcap = j->nseg;
	if (j->nseg == 0) {
		j->end = 0;
		if ((rc = create_segment(j)) != 0)
			return rc;
		if (fsync(j->dirfd) != 0) {
			tn_error("journal directory not synced", "dir=\"%s\" error=\"%s\"", j->dir,
				 strerror(errno));
			return TN_EIO;
		}
		j->dir_dirty = false;
		return 0;
	}
	for (size_t i = 0; i < j->nseg; i++) {
		tn_journal_segment_name(name, j->bases[i]);
		if (fstatat(j->dirfd, name, &st, 0) != 0) {
			tn_error("journal segment not readable",
				 "dir=\"%s\" segment=%s error=\"%s\"", j->dir, name,
				 strerror(errno));
			return TN_EIO;
		}
		size = (uint64_t)st.st_size;
		if (i + 1 < j->nseg && j->bases[i] + size != j->bases[i + 1]) {
			tn_error("journal corrupt: segments not contiguous",
				 "dir=\"%s\" segment=%s end=%llu next_base=%llu", j->dir, name,
				 (unsigned long long)(j->bases[i] + size),
				 (unsigned long long)j->bases[i + 1]);
			return TN_ECORRUPT;
		}
	}
	last = j->bases[j->nseg - 1];
	tn_journal_segment_name(name, last);
	fd = openat(j->dirfd, name, O_RDWR | O_APPEND | O_CLOEXEC);
	if (fd < 0) {
		tn_error("journal segment not opened", "dir=\"%s\" segment=%s error=\"%s\"", j->dir,
			 name, strerror(errno));
		return TN_EIO;
	}
	j->fd = fd;
	if ((rc = recover_tail(j, fd, last, &size)) != 0)
		return rc;
	/* What a crashed process left in the page cache is not durable yet. */
	if (fdatasync(fd) != 0) {
		tn_error("journal segment not synced", "dir=\"%s\" segment=%s error=\"%s\"", j->dir,
			 name, strerror(errno));
		return TN_EIO;
	}
	j->end = last + size;
	return 0;
}

int tn_journal_open(const struct tn_journal_opts *opts, struct tn_journal **out)
{
	struct tn_journal *j;
	int rc;

	if (!opts || !opts->dir || !*opts->dir || !opts->segment_bytes || !out)
		return TN_EINVAL;
	if (!(j = calloc(1, sizeof *j)))
		return TN_ENOMEM;
	j->fd = j->dirfd = -1;
	j->segment_bytes = opts->segment_bytes;
	j->max_bytes = opts->max_bytes;
	if (!(j->dir = strdup(opts->dir)) || !(j->wbuf = malloc(WBUF_BYTES))) {
		rc = TN_ENOMEM;
		goto fail;
	}
	if ((rc = make_dir(j->dir)) != 0)
		goto fail;
	j->dirfd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->dirfd < 0) {
		tn_error("journal directory not opened", "dir=\"%s\" error=\"%s\"", j->dir,
			 strerror(errno));
		rc = TN_EIO;
		goto fail;
	}
	if (flock(j->dirfd, LOCK_EX | LOCK_NB) != 0) {
		tn_error("journal directory locked by another writer", "dir=\"%s\" error=\"%s\"",
			 j->dir, strerror(errno));
		rc = TN_EIO;
		goto fail;
	}
	if ((rc = open_segments(j)) != 0)
		goto fail;
	j->durable = j->end;
	tn_info("journal opened", "dir=\"%s\" segments=%zu start=%llu end=%llu torn_tails=%llu",
		j->dir, j->nseg, (unsigned long long)j->bases[0], (unsigned long long)j->end,
		(unsigned long long)j->st.torn_tail_truncations);
	*out = j;
	return 0;
fail:
	if (j->fd >= 0)
		close(j->fd);
	if (j->dirfd >= 0)
		close(j->dirfd);
	free(j->bases);
	free(j->wbuf);
	free(j->dir);
	free(j);
	return rc;
}

void tn_journal_close(struct tn_journal *j)
{
	int rc;

	if (!j)
		return;
	if (!j->failed && (rc = tn_journal_sync(j)) != 0)
		tn_error("journal not synced at close", "dir=\"%s\" error=\"%s\"", j->dir,
			 tn_strerror(rc));
	if (j->fd >= 0)
		close(j->fd);
	close(j->dirfd);
	free(j->bases);
	free(j->wbuf);
	free(j->dir);
	free(j);
}
