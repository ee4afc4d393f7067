/* committer.c - the journal thread and its group commit (committer.h). */
#include "committer.h"

#include <ck_pr.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "frame.h"
#include "log.h"
#include "tocsin/error.h"
#include "thread.h"

#define LANE_GROUP_BYTES (1u << 20) /* of other writers' records per group commit */

struct tn_committer {
	struct tn_committer_opts o;
	struct ev_loop *loop;
	ev_async wake, stop;
	ev_timer retain, tick;
	bool tick_due;
	pthread_t thread;
	bool fatal;
	struct tn_committer_stats st; /* written by the committer only */
};

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Append one frame's records; stops at the first failure. */
static void append_frame(struct tn_committer *c, struct tn__frame *f)
{
	uint64_t off;
	f->result = 0;
	f->n_appended = 0;
	if (c->fatal) {
		f->result = TN_EIO;
		return;
	}
	for (size_t i = 0; i < f->n_recs; i++) {
		const struct tn__rec *r = &f->recs[i];
		int rc = tn_journal_append(c->o.journal, r->type, f->recbuf.data + r->off, r->len,
					   &off);
		if (rc != 0) {
			f->result = rc;
			if (rc == TN_EFULL) {
				ck_pr_inc_64(&c->st.full_refusals);
				ck_pr_store_64(&c->st.journal_full, 1);
			} else {
				c->fatal = true;
			}
			return;
		}
		ck_pr_store_64(&c->st.journal_full, 0);
		f->n_appended++;
		ck_pr_inc_64(&c->st.records);
	}
}

/* The journal's size and files, for the metrics thread (the journal's own
 * counters belong to this thread). */
static void publish_size(struct tn_committer *c)
{
	struct tn_journal_stats js;
	tn_journal_stats(c->o.journal, &js);
	ck_pr_store_64(&c->st.journal_bytes, js.bytes);
	ck_pr_store_64(&c->st.journal_segments, js.segments);
}

static void fail_fatal(struct tn_committer *c, const char *what, int rc)
{
	ck_pr_store_64(&c->st.failed, 1);
	tn_error("journal failed; stopping", "op=%s error=\"%s\"", what, tn_strerror(rc));
	if (c->o.on_fatal)
		c->o.on_fatal(c->o.fatal_ud);
}

/* Journal the wall clock (microseconds since the epoch) for the correlator:
 * msgpack [int64], i.e. a fixarray of one, 0xd3 and 8 big-endian bytes. */
static void append_tick(struct tn_committer *c)
{
	struct timespec ts;
	unsigned char rec[10] = {0x91, 0xd3};
	uint64_t us;

	c->tick_due = false;
	if (c->fatal)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	us = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	for (int i = 0; i < 8; i++)
		rec[2 + i] = (unsigned char)(us >> (8 * (7 - i)));
	int rc = tn_journal_append(c->o.journal, TN_JREC_TICK, rec, sizeof rec, NULL);
	if (rc == 0)
		ck_pr_inc_64(&c->st.ticks);
	else if (rc != TN_EFULL)
		c->fatal = true;
}

/* Drain the input rings in groups until they stay empty. */
static void commit_all(struct tn_committer *c)
{
	struct tn__frame *group[256];
	uint8_t lane[256]; /* 0: ingest; 1 + i: lanes[i] */

	for (;;) {
		size_t n = 0;
		struct tn__frame *f;
		while (n < 256 && (f = tn__ring_pop(c->o.in)) != NULL)
			lane[n] = 0, group[n++] = f;
		/* The other writers' frames (the correlators' revisions: up to
		 * 256 KiB each) by turns, and at most LANE_GROUP_BYTES of them per
		 * group: a backlog of revisions taken whole made a group of tens
		 * of MiB, whose write and fsync held every adapter's ack for
		 * seconds (docs/bench.md). What is left waits for the next group,
		 * one fsync later, with whatever ingest brought meanwhile. */
		size_t lane_bytes = 0;
		for (bool took = true; took && n < 256 && lane_bytes < LANE_GROUP_BYTES;) {
			took = false;
			for (unsigned l = 0; l < TN_COMMIT_LANES; l++) {
				if (!c->o.lanes[l].in || n == 256 || lane_bytes >= LANE_GROUP_BYTES ||
				    (f = tn__ring_pop(c->o.lanes[l].in)) == NULL)
					continue;
				lane[n] = (uint8_t)(1 + l), group[n++] = f;
				lane_bytes += f->recbuf.len;
				took = true;
			}
		}
		if (n == 0 && !c->tick_due)
			return;
		if (c->o.group_commit_us > 0 && n < 256) {
			struct timespec ts = {0, (long)c->o.group_commit_us * 1000};
			nanosleep(&ts, NULL);
			while (n < 256 && (f = tn__ring_pop(c->o.in)) != NULL)
				lane[n] = 0, group[n++] = f;
		}
		bool was_fatal = c->fatal;
		if (c->tick_due)
			append_tick(c);
		for (size_t i = 0; i < n; i++)
			append_frame(c, group[i]);
		if (!was_fatal && c->fatal)
			fail_fatal(c, "append", TN_EIO);
		if (!c->fatal) {
			int64_t t0 = mono_ns();
			int rc = tn_journal_sync(c->o.journal);
			uint64_t dt = (uint64_t)(mono_ns() - t0);
			ck_pr_inc_64(&c->st.syncs);
			ck_pr_add_64(&c->st.sync_ns_total, dt);
			if (dt > c->st.sync_ns_max)
				ck_pr_store_64(&c->st.sync_ns_max, dt);
			tn__hist_observe(&c->st.sync_hist, dt);
			publish_size(c);
			if (rc != 0) {
				c->fatal = true;
				fail_fatal(c, "fsync", rc);
			}
		}
		for (size_t i = 0; i < n; i++) {
			f = group[i];
			if (c->fatal) {
				/* Not durable after all: nothing of it may be acked. */
				f->result = TN_EIO;
				f->n_appended = 0;
			}
			f->end_offset = tn_journal_end(c->o.journal);
			ck_pr_inc_64(&c->st.frames);
		}
		if (!c->fatal)
			ck_pr_store_64(c->o.durable, tn_journal_durable(c->o.journal));
		/* Cannot fail: each out ring is as large as its frame pool. */
		unsigned woke = 0; /* bit per lane with frames back */
		for (size_t i = 0; i < n; i++) {
			if (lane[i] == 0)
				(void)tn__ring_push(c->o.out, group[i]);
			else
				(void)tn__ring_push(c->o.lanes[lane[i] - 1].out, group[i]);
			woke |= 1u << lane[i];
		}
		if (woke & 1)
			ev_async_send(c->o.done_loop, c->o.done_async);
		for (unsigned l = 0; l < TN_COMMIT_LANES; l++)
			if ((woke & (2u << l)) && c->o.lanes[l].done)
				c->o.lanes[l].done(c->o.lanes[l].ud);
	}
}

static void on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)loop;
	(void)revents;
	commit_all(w->data);
}

static void on_stop(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)revents;
	commit_all(w->data);
	ev_break(loop, EVBREAK_ALL);
}

static void on_retain(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tn_committer *c = w->data;
	(void)loop;
	(void)revents;
	if (c->fatal || !c->o.stored)
		return;
	uint64_t keep = c->o.stored(c->o.stored_ud);
	int n = tn_journal_retain(c->o.journal, keep, (int64_t)time(NULL) - c->o.retain_s);
	if (n > 0) {
		ck_pr_add_64(&c->st.segments_deleted, (uint64_t)n);
		publish_size(c);
		ck_pr_store_64(&c->st.journal_full, 0); /* room again, until an append says not */
		tn_info("journal segments deleted", "count=%d stored_offset=%llu", n,
			(unsigned long long)keep);
	}
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tn_committer *c = w->data;
	(void)loop;
	(void)revents;
	c->tick_due = true;
	commit_all(c);
}

static void *committer_main(void *arg)
{
	struct tn_committer *c = arg;
	tn__thread_setup("tn-committer", 0);
	ev_run(c->loop, 0);
	return NULL;
}

int tn_committer_start(const struct tn_committer_opts *o, struct tn_committer **out)
{
	struct tn_committer *c = calloc(1, sizeof *c);
	if (!c)
		return TN_ENOMEM;
	c->o = *o;
	c->loop = ev_loop_new(EVFLAG_AUTO);
	if (!c->loop) {
		free(c);
		return TN_ENOMEM;
	}
	ck_pr_store_64(o->durable, tn_journal_durable(o->journal));
	publish_size(c);
	ev_async_init(&c->wake, on_wake);
	c->wake.data = c;
	ev_async_start(c->loop, &c->wake);
	ev_async_init(&c->stop, on_stop);
	c->stop.data = c;
	ev_async_start(c->loop, &c->stop);
	ev_timer_init(&c->retain, on_retain, 5., 10.);
	c->retain.data = c;
	ev_timer_start(c->loop, &c->retain);
	if (o->tick_ms > 0) {
		ev_timer_init(&c->tick, on_tick, o->tick_ms / 1000., o->tick_ms / 1000.);
		c->tick.data = c;
		ev_timer_start(c->loop, &c->tick);
	}
	if (pthread_create(&c->thread, NULL, committer_main, c) != 0) {
		ev_loop_destroy(c->loop);
		free(c);
		return TN_ENOMEM;
	}
	*out = c;
	return 0;
}

void tn_committer_wake(struct tn_committer *c)
{
	ev_async_send(c->loop, &c->wake);
}

void tn_committer_stats(const struct tn_committer *c, struct tn_committer_stats *out)
{
	/* Plain reads of counters another thread writes: monitoring figures, a
	 * torn value at worst shows a stale count. */
	out->frames = ck_pr_load_64(&c->st.frames);
	out->records = ck_pr_load_64(&c->st.records);
	out->syncs = ck_pr_load_64(&c->st.syncs);
	out->full_refusals = ck_pr_load_64(&c->st.full_refusals);
	out->segments_deleted = ck_pr_load_64(&c->st.segments_deleted);
	out->ticks = ck_pr_load_64(&c->st.ticks);
	out->sync_ns_total = ck_pr_load_64(&c->st.sync_ns_total);
	out->sync_ns_max = ck_pr_load_64(&c->st.sync_ns_max);
	tn__hist_read(&c->st.sync_hist, &out->sync_hist);
	out->journal_bytes = ck_pr_load_64(&c->st.journal_bytes);
	out->journal_segments = ck_pr_load_64(&c->st.journal_segments);
	out->journal_full = ck_pr_load_64(&c->st.journal_full);
	out->failed = ck_pr_load_64(&c->st.failed);
}

void tn_committer_stop(struct tn_committer *c)
{
	if (!c)
		return;
	ev_async_send(c->loop, &c->stop);
	pthread_join(c->thread, NULL);
	ev_loop_destroy(c->loop);
	free(c);
}
