/* outbox.c - live alert revisions as CAP 1.2 files, written off the publishing path (outbox.h). */
#include "outbox.h"

#include <ck_pr.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libxml/parser.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "assets_pg.h"
#include "assets_watch.h"
#include "log.h"
#include "ring.h"
#include "tocsin/correlator.h"
#include "tocsin/error.h"
#include "tocsin/graph.h"
#include "thread.h"

#define IDLE_SLEEP_NS (2 * 1000000L) /* the writer's poll when idle */
#define BATCH 64                     /* files per directory fsync and state update */
#define TMP_PREFIX ".tmp-"

#define STAT_INC(ob, f) ck_pr_inc_64(&(ob)->st.f)

enum job_kind { JOB_WRITE, JOB_MARK };

/* One revision to write (or a mark); owned by whoever popped it last. */
struct job {
	enum job_kind kind;
	uint64_t seq;
	uint32_t rev;
	char incident[TN_INCIDENT_ID_LEN + 1];
	char *body;
	size_t body_len, body_cap;
	struct tn__cap_ref *refs;
	size_t nrefs, refs_cap;
};

struct tn_outbox {
	char *dir, *sender;
	const char *conninfo;
	int poll_ms;
	int dirfd;
	bool have_state;
	uint64_t state_seq;        /* producer's view: the last seq submitted or marked */

	struct job *jobs;          /* all of them, freed at stop */
	unsigned n_jobs;
	struct tn__ring todo, done; /* producer -> writer, writer -> producer (free jobs) */
	struct job **spare;        /* producer's free jobs not in `done` */
	unsigned n_spare;

	struct tn_graph *graph;    /* the writer's; before run, the opener's */
	struct tn__ring graph_ring;
	struct tn_assets_watch *watch;
	int64_t generation;

	pthread_t thread;
	bool started;
	atomic_int stop;
	struct tn_log_slot log_full, log_write;
	struct tn_outbox_stats st; /* ck_pr */
};

/* ---- pure parts ------------------------------------------------------------ */

int tn__outbox_name(uint64_t seq, const char *incident, uint32_t rev, char *buf, size_t cap)
{
	if (!incident[0])
		return TN_EINVAL;
	for (const char *p = incident; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == ':' || *p == '-'))
			return TN_EINVAL; /* never a '/' nor a leading dot in a name */
	int n = snprintf(buf, cap, "%012" PRIu64 "-%s-%" PRIu32 ".xml", seq, incident, rev);
	return n < 0 || (size_t)n >= cap ? TN_ERANGE : 0;
}

bool tn__outbox_refs_ok(const struct tn__cap_ref *refs, size_t n, uint32_t rev)
{
	if (rev < 1 || n != (size_t)rev - 1 || n > TN_OUTBOX_REFS_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (refs[i].rev != i + 1)
			return false;
	return true;
}

int tn__outbox_parse_state(const char *text, size_t len, uint64_t *seq)
{
	uint64_t v = 0;
	size_t i = 0;
	for (; i < len && text[i] >= '0' && text[i] <= '9'; i++) {
		if (v > (UINT64_MAX - 9) / 10)
			return TN_ECORRUPT;
		v = v * 10 + (uint64_t)(text[i] - '0');
	}
	if (i == 0 || (i < len && !(text[i] == '\n' && i + 1 == len)))
		return TN_ECORRUPT;
	*seq = v;
	return 0;
}

/* ---- files ----------------------------------------------------------------- */

/* Write len bytes to a new file `tmp` in the directory, fsync'd. 0 or -errno. */
static int write_tmp(int dirfd, const char *tmp, const char *data, size_t len)
{
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0)
		return -errno;
	while (len > 0) {
		ssize_t w = write(fd, data, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : EIO;
			close(fd);
			unlinkat(dirfd, tmp, 0);
			return -e;
		}
		data += w;
		len -= (size_t)w;
	}
	if (fsync(fd) != 0) {
		int e = errno;
		close(fd);
		unlinkat(dirfd, tmp, 0);
		return -e;
	}
	if (close(fd) != 0) {
		int e = errno;
		unlinkat(dirfd, tmp, 0);
		return -e;
	}
	return 0;
}

/* The last seq written, after a batch's files are durable. */
static void save_state(struct tn_outbox *ob, uint64_t seq)
{
	char text[24], tmp[] = TMP_PREFIX "state";
	int n = snprintf(text, sizeof text, "%" PRIu64 "\n", seq);
	int rc = write_tmp(ob->dirfd, tmp, text, (size_t)n);
	if (rc == 0 && renameat(ob->dirfd, tmp, ob->dirfd, TN_OUTBOX_STATE) != 0)
		rc = -errno;
	if (rc == 0 && fsync(ob->dirfd) != 0)
		rc = -errno;
	if (rc != 0) {
		unlinkat(ob->dirfd, tmp, 0);
		STAT_INC(ob, state_failed);
		tn_log_limited(&ob->log_write, 1, TN_LOG_WARN,
			       "cap outbox: last seq not recorded; a restart may write files again",
			       "dir=%s seq=%" PRIu64 " error=\"%s\"", tn_logq(ob->dir), seq,
			       strerror(-rc));
		return;
	}
	ck_pr_store_64(&ob->st.last_seq, seq);
}

static bool locate(void *ctx, const char *asset, double *lat, double *lon)
{
	struct tn_outbox *ob = ctx;
	return ob->graph && tn__cap_locate_graph(ob->graph, asset, lat, lon);
}

/* One revision's file; what is not written is counted and logged. */
static void write_one(struct tn_outbox *ob, const struct job *j)
{
	char name[TN_OUTBOX_NAME_MAX], tmp[TN_OUTBOX_NAME_MAX + 8];
	char *xml = NULL;
	size_t xml_len = 0;
	struct tn__cap_opts o = {
		.sender = ob->sender,
		.locate = locate,
		.locate_ctx = ob,
		.refs = j->refs,
		.nrefs = j->nrefs,
	};
	const char *why = NULL;
	int rc = tn__outbox_name(j->seq, j->incident, j->rev, name, sizeof name);

	if (rc != 0) {
		why = "no file name for this incident";
	} else if ((rc = tn__cap_alert(j->body, j->body_len, &o, &xml, &xml_len)) != 0) {
		why = tn_strerror(rc);
	} else {
		snprintf(tmp, sizeof tmp, "%s%s", TMP_PREFIX, name);
		rc = write_tmp(ob->dirfd, tmp, xml, xml_len); /* removes it on failure */
		if (rc == 0) {
			/* link, not rename: a file already there (written before a
			 * crash, the state not yet recorded) is kept, not replaced */
			if (linkat(ob->dirfd, tmp, ob->dirfd, name, 0) != 0)
				rc = -errno;
			unlinkat(ob->dirfd, tmp, 0);
		}
		if (rc == -EEXIST) {
			STAT_INC(ob, existing);
			free(xml);
			return;
		}
		if (rc != 0)
			why = strerror(-rc);
	}
	free(xml);
	if (why) {
		STAT_INC(ob, failed);
		tn_log_limited(&ob->log_write, 1, TN_LOG_WARN,
			       "cap file not written; tocsin cap can print it",
			       "dir=%s seq=%" PRIu64 " incident=%s rev=%" PRIu32 " error=\"%s\"",
			       tn_logq(ob->dir), j->seq, j->incident, j->rev, tn_logq(why));
		return;
	}
	STAT_INC(ob, written);
}

/* ---- the writer thread -------------------------------------------------------- */

static void swap_graph(struct tn_outbox *ob)
{
	struct tn_graph *g, *newest = NULL;
	while ((g = tn__ring_pop(&ob->graph_ring)) != NULL) {
		tn_graph_free(newest);
		newest = g;
	}
	if (newest) {
		tn_graph_free(ob->graph); /* this thread's only: nobody else reads it */
		ob->graph = newest;
	}
}

/* Up to BATCH jobs; returns how many. */
static unsigned write_batch(struct tn_outbox *ob)
{
	struct job *j;
	unsigned n = 0;
	uint64_t last = 0;
	bool any_file = false;

	while (n < BATCH && (j = tn__ring_pop(&ob->todo)) != NULL) {
		if (j->kind == JOB_WRITE) {
			write_one(ob, j);
			any_file = true;
		}
		last = j->seq;
		(void)tn__ring_push(&ob->done, j); /* holds every job */
		n++;
	}
	if (n == 0)
		return 0;
	/* the names are durable before the state says so (save_state fsyncs
	 * the directory again, after its rename) */
	if (any_file && fsync(ob->dirfd) != 0) {
		/* not recorded: a restart submits them again, the link keeps those there */
		STAT_INC(ob, state_failed);
		tn_log_limited(&ob->log_write, 1, TN_LOG_WARN, "cap outbox: directory not synced",
			       "dir=%s error=\"%s\"", tn_logq(ob->dir), strerror(errno));
		return n;
	}
	save_state(ob, last);
	return n;
}

static void *writer_main(void *arg)
{
	struct tn_outbox *ob = arg;
	tn__thread_setup("tn-outbox", 0);
	for (;;) {
		swap_graph(ob);
		if (write_batch(ob) > 0)
			continue;
		if (atomic_load(&ob->stop))
			break;
		struct timespec ts = {0, IDLE_SLEEP_NS};
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static bool publish_graph(void *ud, struct tn_graph *g)
{
	struct tn_outbox *ob = ud;
	return tn__ring_push(&ob->graph_ring, g);
}

/* ---- the producer's side --------------------------------------------------------- */

static struct job *job_get(struct tn_outbox *ob)
{
	struct job *j;
	while ((j = tn__ring_pop(&ob->done)) != NULL)
		ob->spare[ob->n_spare++] = j;
	return ob->n_spare ? ob->spare[--ob->n_spare] : NULL;
}

bool tn_outbox_room(struct tn_outbox *ob)
{
	struct job *j = job_get(ob);
	if (j)
		ob->spare[ob->n_spare++] = j;
	return j != NULL;
}

static void job_unget(struct tn_outbox *ob, struct job *j)
{
	ob->spare[ob->n_spare++] = j;
}

static bool reserve(void **p, size_t *cap, size_t want, size_t elem)
{
	if (want <= *cap)
		return true;
	size_t c = *cap ? *cap : 256;
	while (c < want)
		c *= 2;
	void *q = realloc(*p, c * elem);
	if (!q)
		return false;
	*p = q;
	*cap = c;
	return true;
}

int tn_outbox_submit(struct tn_outbox *ob, uint64_t seq, const char *incident, uint32_t rev,
		     const char *body, size_t len, const struct tn__cap_ref *refs, size_t nrefs)
{
	if (!tn__outbox_refs_ok(refs, nrefs, rev)) {
		STAT_INC(ob, no_history);
		tn_log_limited(&ob->log_full, 1, TN_LOG_WARN,
			       "cap file not written: earlier revisions unknown; tocsin cap can "
			       "print it",
			       "seq=%" PRIu64 " incident=%s rev=%" PRIu32 " known=%zu", seq, incident,
			       rev, nrefs);
		ob->state_seq = seq;
		ob->have_state = true;
		return TN_EINVAL;
	}
	struct job *j = job_get(ob);
	if (!j) {
		STAT_INC(ob, queue_full);
		tn_log_limited(&ob->log_full, 1, TN_LOG_WARN,
			       "cap outbox queue full: file not written; tocsin cap can print it",
			       "seq=%" PRIu64 " incident=%s rev=%" PRIu32 " queue=%u", seq, incident,
			       rev, ob->n_jobs);
		return TN_EFULL;
	}
	if (!reserve((void **)&j->body, &j->body_cap, len, 1) ||
	    !reserve((void **)&j->refs, &j->refs_cap, nrefs, sizeof *refs)) {
		job_unget(ob, j);
		STAT_INC(ob, failed);
		return TN_ENOMEM;
	}
	j->kind = JOB_WRITE;
	j->seq = seq;
	j->rev = rev;
	snprintf(j->incident, sizeof j->incident, "%s", incident);
	memcpy(j->body, body, len);
	j->body_len = len;
	if (nrefs)
		memcpy(j->refs, refs, nrefs * sizeof *refs);
	j->nrefs = nrefs;
	(void)tn__ring_push(&ob->todo, j); /* holds every job */
	ob->state_seq = seq;
	ob->have_state = true;
	return 0;
}

int tn_outbox_mark(struct tn_outbox *ob, uint64_t seq)
{
	struct job *j = job_get(ob);
	if (!j) {
		STAT_INC(ob, queue_full);
		return TN_EFULL;
	}
	j->kind = JOB_MARK;
	j->seq = seq;
	(void)tn__ring_push(&ob->todo, j);
	ob->state_seq = seq;
	ob->have_state = true;
	return 0;
}

bool tn_outbox_last_written(const struct tn_outbox *ob, uint64_t *seq)
{
	*seq = ob->state_seq;
	return ob->have_state;
}

/* ---- set-up ------------------------------------------------------------------- */

/* Temporaries a crash left behind (ours only: the TMP_PREFIX). */
static void remove_temporaries(struct tn_outbox *ob)
{
	int fd = openat(ob->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0)
			unlinkat(ob->dirfd, e->d_name, 0);
	closedir(d);
}

static int read_state(struct tn_outbox *ob, char *err, size_t errlen)
{
	char text[32];
	int fd = openat(ob->dirfd, TN_OUTBOX_STATE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "cannot read %s/%s: %s", ob->dir, TN_OUTBOX_STATE,
			 strerror(errno));
		return TN_EIO;
	}
	ssize_t n = read(fd, text, sizeof text);
	close(fd);
	if (n < 0 || tn__outbox_parse_state(text, (size_t)n, &ob->state_seq) != 0) {
		snprintf(err, errlen, "%s/%s: expected the last seq written (digits), got "
			 "something else; remove it to start after the journal's end",
			 ob->dir, TN_OUTBOX_STATE);
		return TN_EIO;
	}
	ob->have_state = true;
	ck_pr_store_64(&ob->st.last_seq, ob->state_seq);
	return 0;
}

int tn_outbox_open(const struct tn_outbox_opts *o, struct tn_outbox **out, char *err,
		   size_t errlen)
{
	struct tn_outbox *ob;
	int rc = TN_ENOMEM;

	if (!o->dir || !o->dir[0] || !o->queue || !o->sender || !tn__cap_sender_ok(o->sender)) {
		snprintf(err, errlen, "cap outbox: a directory, a valid sender and a queue of at "
			 "least 1 are needed");
		return TN_EINVAL;
	}
	xmlInitParser(); /* here, once, before the writer uses libxml2 (cap.h) */
	if (!(ob = calloc(1, sizeof *ob)))
		goto nomem;
	ob->dirfd = -1;
	ob->conninfo = o->conninfo;
	ob->poll_ms = o->poll_ms;
	atomic_init(&ob->stop, 0);
	if (!(ob->dir = strdup(o->dir)) || !(ob->sender = strdup(o->sender)) ||
	    !(ob->jobs = calloc(o->queue, sizeof *ob->jobs)) ||
	    !(ob->spare = calloc(o->queue, sizeof *ob->spare)) ||
	    tn__ring_init(&ob->todo, o->queue) != 0 || tn__ring_init(&ob->done, o->queue) != 0 ||
	    tn__ring_init(&ob->graph_ring, 4) != 0)
		goto nomem;
	ob->n_jobs = o->queue;
	for (unsigned i = 0; i < o->queue; i++)
		ob->spare[ob->n_spare++] = &ob->jobs[i];
	if (mkdir(o->dir, 0750) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", o->dir, strerror(errno));
		rc = TN_EIO;
		goto fail;
	}
	if ((ob->dirfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "cannot open %s: %s", o->dir, strerror(errno));
		rc = TN_EIO;
		goto fail;
	}
	if ((rc = read_state(ob, err, errlen)) != 0)
		goto fail;
	remove_temporaries(ob);
	ob->generation = -1;
	if (o->conninfo) {
		char why[512];
		if (tn_assets_load_pg(o->conninfo, &ob->graph, &ob->generation, why, sizeof why) != 0)
			tn_warn("cap outbox: no asset registry yet: files without geometry until "
				"it is loaded",
				"error=\"%s\"", tn_logq(why));
	}
	*out = ob;
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	tn_outbox_stop(ob);
	return rc;
}

int tn_outbox_run(struct tn_outbox *ob)
{
	if (pthread_create(&ob->thread, NULL, writer_main, ob) != 0)
		return TN_ENOMEM;
	ob->started = true;
	if (ob->conninfo) {
		int rc = tn_assets_watch_start(ob->conninfo, ob->poll_ms, ob->generation,
					       publish_graph, ob, &ob->watch);
		if (rc != 0)
			return rc;
	}
	tn_info("cap outbox writing", "dir=%s sender=%s queue=%u", tn_logq(ob->dir), ob->sender,
		ob->n_jobs);
	return 0;
}

void tn_outbox_stats(const struct tn_outbox *ob, struct tn_outbox_stats *out)
{
	const struct tn_outbox_stats *s = &ob->st;
	out->written = ck_pr_load_64(&s->written);
	out->existing = ck_pr_load_64(&s->existing);
	out->queue_full = ck_pr_load_64(&s->queue_full);
	out->no_history = ck_pr_load_64(&s->no_history);
	out->failed = ck_pr_load_64(&s->failed);
	out->state_failed = ck_pr_load_64(&s->state_failed);
	out->last_seq = ck_pr_load_64(&s->last_seq);
}

void tn_outbox_stop(struct tn_outbox *ob)
{
	if (!ob)
		return;
	tn_assets_watch_stop(ob->watch);
	if (ob->started) {
		/* the writer empties the queue before it looks at stop */
		atomic_store(&ob->stop, 1);
		pthread_join(ob->thread, NULL);
		struct tn_outbox_stats st;
		tn_outbox_stats(ob, &st);
		tn_info("cap outbox stopped",
			"written=%" PRIu64 " existing=%" PRIu64 " queue_full=%" PRIu64
			" no_history=%" PRIu64 " failed=%" PRIu64 " last_seq=%" PRIu64,
			st.written, st.existing, st.queue_full, st.no_history, st.failed,
			st.last_seq);
	}
	struct tn_graph *g;
	while (ob->graph_ring.buf && (g = tn__ring_pop(&ob->graph_ring)) != NULL)
		tn_graph_free(g);
	tn_graph_free(ob->graph);
	tn__ring_destroy(&ob->graph_ring);
	tn__ring_destroy(&ob->todo);
	tn__ring_destroy(&ob->done);
	for (unsigned i = 0; ob->jobs && i < ob->n_jobs; i++) {
		free(ob->jobs[i].body);
		free(ob->jobs[i].refs);
	}
	free(ob->jobs);
	free(ob->spare);
	if (ob->dirfd >= 0)
		close(ob->dirfd);
	free(ob->dir);
	free(ob->sender);
	free(ob);
}
