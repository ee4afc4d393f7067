/*
 * journal_reader.c - reading the journal (journal.h): from any record
 * boundary, below a limit the caller knows to be durable, following the
 * writer from segment to segment. Every record is checked (length, offset,
 * CRC) as it is read, which is how segments other than the last are checked.
 */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "tocsin/error.h"

/* First window size; it grows to the largest record met. */
#define READ_BYTES (256u << 10)

struct tn_journal_reader {
	int dirfd;
	int fd;                  /* segment holding pos; -1 until the first one exists */
	uint64_t base;           /* its base */
	uint64_t pos;            /* offset of the next record */
	struct tn__jwin win;
	struct tn_log_slot slot; /* a caller may retry a corrupt record in a loop */
};

static int corrupt(struct tn_journal_reader *r, const char *reason)
{
	char name[TN_JOURNAL_SEGNAME_SIZE];

	tn_journal_segment_name(name, r->base);
	tn_log_limited(&r->slot, 1, TN_LOG_ERROR, "journal record corrupt",
		       "segment=%s offset=%llu reason=\"%s\"", name, (unsigned long long)r->pos,
		       reason);
	return TN_ECORRUPT;
}

static void use_segment(struct tn_journal_reader *r, int fd, uint64_t base)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = fd;
	r->base = base;
	r->win.fd = fd;
	r->win.off = 0;
	r->win.len = 0;
}

/*
 * No segment named pos: the writer is still in the current one, unless a
 * later segment exists, which makes the current one final (the writer
 * creates the next segment only after that). Then either its last bytes
 * arrived since we read (try once more) or records are missing.
 */
static int no_next(struct tn_journal_reader *r, bool *retried)
{
	uint64_t *bases;
	struct stat st;
	bool later = false;
	size_t n;
	int rc;

	if (fstat(r->fd, &st) != 0)
		return TN_EIO;
	if (st.st_nlink == 0) {
		/* Deleted under us with its successor: those records are gone. */
		tn_log_limited(&r->slot, 1, TN_LOG_ERROR, "journal segment deleted under reader",
			       "offset=%llu", (unsigned long long)r->pos);
		return TN_ENOTFOUND;
	}
	if ((rc = tn__journal_list(r->dirfd, &bases, &n)) != 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		later |= bases[i] > r->pos;
	free(bases);
	if (!later)
		return 0;
	if (fstat(r->fd, &st) != 0)
		return TN_EIO;
	if ((uint64_t)st.st_size == r->pos - r->base)
		return corrupt(r, "next segment missing");
	if (*retried)
		return corrupt(r, "record cut by the end of its segment");
	*retried = true;
	r->win.len = 0;
	return 1;
}

/*
 * Nothing complete at pos in the current segment: move to the segment
 * starting at pos if it exists. The writer creates it only after the
 * current one is final, so if it exists the current one must end exactly at
 * pos. 1 moved (or read again), 0 not yet, or an error.
 */
static int follow(struct tn_journal_reader *r, bool *retried)
{
	char name[TN_JOURNAL_SEGNAME_SIZE];
	struct stat st;
	int fd;

	if (r->fd >= 0 && r->pos == r->base)
		return 0; /* the segment named pos is the current one */
	tn_journal_segment_name(name, r->pos);
	fd = openat(r->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT) {
			tn_error("journal segment not opened", "segment=%s error=\"%s\"", name,
				 strerror(errno));
			return TN_EIO;
		}
		return r->fd >= 0 ? no_next(r, retried) : 0;
	}
	if (r->fd >= 0) {
		if (fstat(r->fd, &st) != 0) {
			close(fd);
			return TN_EIO;
		}
		if ((uint64_t)st.st_size != r->pos - r->base) {
			close(fd);
			return corrupt(r, "record cut by the end of its segment");
		}
	}
	use_segment(r, fd, r->pos);
	return 1;
}

int tn_journal_reader_open(const char *dir, uint64_t from, struct tn_journal_reader **out)
{
	char name[TN_JOURNAL_SEGNAME_SIZE];
	struct tn_journal_reader *r;
	uint64_t *bases = NULL;
	struct stat st;
	size_t n = 0, i;
	int rc, fd;

	if (!dir || !out)
		return TN_EINVAL;
	if (!(r = calloc(1, sizeof *r)))
		return TN_ENOMEM;
	r->fd = -1;
	r->win.fd = -1;
	r->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->dirfd < 0) {
		rc = errno == ENOENT ? TN_ENOTFOUND : TN_EIO;
		tn_error("journal directory not opened", "dir=\"%s\" error=\"%s\"", dir,
			 strerror(errno));
		goto fail;
	}
	if ((rc = tn__journal_list(r->dirfd, &bases, &n)) != 0)
		goto fail;
	if (n == 0) {
		/* A writer has yet to create the first segment, at offset 0. */
		if (from != 0) {
			rc = TN_ENOTFOUND;
			goto fail;
		}
		r->pos = 0;
		goto done;
	}
	if (from == 0)
		from = bases[0];
	if (from < bases[0]) {
		tn_warn("journal offset no longer on disk", "dir=\"%s\" offset=%llu oldest=%llu",
			dir, (unsigned long long)from, (unsigned long long)bases[0]);
		rc = TN_ENOTFOUND;
		goto fail;
	}
	for (i = n - 1; bases[i] > from; i--)
		;
	tn_journal_segment_name(name, bases[i]);
	fd = openat(r->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		rc = errno == ENOENT ? TN_ENOTFOUND : TN_EIO;
		tn_error("journal segment not opened", "dir=\"%s\" segment=%s error=\"%s\"", dir,
			 name, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	use_segment(r, fd, bases[i]);
	if (from - bases[i] > (uint64_t)st.st_size) {
		tn_error("journal offset past the end", "dir=\"%s\" offset=%llu end=%llu", dir,
			 (unsigned long long)from, (unsigned long long)(bases[i] + st.st_size));
		rc = TN_EINVAL;
		goto fail;
	}
	r->pos = from;
done:
	if (!(r->win.buf = malloc(READ_BYTES))) {
		rc = TN_ENOMEM;
		goto fail;
	}
	r->win.cap = READ_BYTES;
	free(bases);
	*out = r;
	return 0;
fail:
	free(bases);
	tn_journal_reader_close(r);
	return rc;
}

int tn_journal_reader_next(struct tn_journal_reader *r, uint64_t limit,
			   struct tn_journal_record *rec)
{
	const unsigned char *p;
	bool retried = false;
	struct tn__jhdr h;
	int rc;

	for (;;) {
		if (r->fd < 0 && (rc = follow(r, &retried)) <= 0)
			return rc;
		if (limit < TN_JOURNAL_HDR || r->pos > limit - TN_JOURNAL_HDR)
			return 0;
		rc = tn__jwin_get(&r->win, r->pos - r->base, TN_JOURNAL_HDR, &p);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			if ((rc = follow(r, &retried)) <= 0)
				return rc;
			continue;
		}
		tn__journal_hdr_decode(p, &h);
		if (h.offset != r->pos)
			return corrupt(r, "offset field does not match position");
		if (h.len > TN_JOURNAL_MAX_RECORD)
			return corrupt(r, "length over the bound");
		if (h.len > limit - r->pos - TN_JOURNAL_HDR)
			return 0;
		rc = tn__jwin_get(&r->win, r->pos - r->base, TN_JOURNAL_HDR + (size_t)h.len, &p);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			if ((rc = follow(r, &retried)) <= 0)
				return rc;
			continue;
		}
		if (!tn__journal_crc_ok(p, &h))
			return corrupt(r, "crc mismatch");
		rec->offset = r->pos;
		rec->type = h.type;
		rec->len = h.len;
		rec->payload = p + TN_JOURNAL_HDR;
		r->pos += TN_JOURNAL_HDR + (uint64_t)h.len;
		return 1;
	}
}

uint64_t tn_journal_reader_offset(const struct tn_journal_reader *r)
{
	return r->pos;
}

void tn_journal_reader_close(struct tn_journal_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	if (r->dirfd >= 0)
		close(r->dirfd);
	free(r->win.buf);
	free(r);
}
