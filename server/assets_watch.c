/* assets_watch.c - reload the asset graph when the registry changes (assets_watch.h). */
#include "assets_watch.h"

#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assets_pg.h"
#include "log.h"
#include "tocsin/error.h"
#include "thread.h"

struct tn_assets_watch {
	const char *conninfo;
	int poll_ms;
	int64_t known;
	tn_assets_publish_fn publish;
	void *ud;
	struct tn_graph *held;
	int64_t held_generation;
	atomic_bool stop;
	pthread_t thread;
};

static PGconn *connect_listen(const char *conninfo)
{
	const char *keys[] = {"dbname", "connect_timeout", NULL};
	const char *vals[] = {conninfo, "3", NULL};
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(c) != CONNECTION_OK) {
		PQfinish(c);
		return NULL;
	}
	PGresult *r = PQexec(c, "LISTEN tocsin_assets");
	bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	if (!ok) {
		PQfinish(c);
		return NULL;
	}
	return c;
}

/* The generation now, or -1 when it cannot be read. */
static int64_t generation(PGconn *c)
{
	PGresult *r = PQexec(c, "SELECT generation FROM registry_generation");
	int64_t g = -1;
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		g = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return g;
}

/* Wait up to ms for a notification (or stop); drains them. */
static void wait_notify(struct tn_assets_watch *w, PGconn *c, int ms)
{
	for (int waited = 0; waited < ms && !atomic_load(&w->stop); waited += 100) {
		struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};
		if (poll(&p, 1, 100) > 0) {
			PGnotify *n;
			bool any = false;
			PQconsumeInput(c);
			while ((n = PQnotifies(c)) != NULL) {
				PQfreemem(n);
				any = true;
			}
			if (any || PQstatus(c) != CONNECTION_OK)
				return;
		}
	}
}

static void *watch_main(void *arg)
{
	struct tn_assets_watch *w = arg;
	tn__thread_setup("tn-assets-watch", 0);
	struct tn_log_slot slot = {0};
	char err[512];
	PGconn *c = NULL;

	while (!atomic_load(&w->stop)) {
		if (c && PQstatus(c) != CONNECTION_OK) {
			PQfinish(c);
			c = NULL;
		}
		if (!c)
			c = connect_listen(w->conninfo);
		if (c && !w->held) {
			int64_t g = generation(c);
			if (g >= 0 && g != w->known) {
				struct tn_graph *graph;
				int64_t loaded;
				int rc = tn_assets_load_pg_conn(c, &graph, &loaded, err, sizeof err);
				if (rc == 0) {
					w->held = graph;
					w->held_generation = loaded;
				} else {
					tn_log_limited(&slot, 1, TN_LOG_WARN,
						       "cannot load the asset registry",
						       "error=\"%s\"", tn_logq(err));
				}
			}
		}
		if (w->held) {
			size_t n = tn_graph_size(w->held), e = tn_graph_edges(w->held);
			if (w->publish(w->ud, w->held)) {
				tn_info("asset registry loaded", "generation=%lld assets=%zu "
					"dependencies=%zu", (long long)w->held_generation, n, e);
				w->known = w->held_generation;
				w->held = NULL;
			}
		}
		if (c)
			wait_notify(w, c, w->poll_ms);
		else
			for (int t = 0; t < w->poll_ms && !atomic_load(&w->stop); t += 100) {
				struct pollfd none;
				poll(&none, 0, 100);
			}
	}
	PQfinish(c);
	return NULL;
}

int tn_assets_watch_start(const char *conninfo, int poll_ms, int64_t known,
			  tn_assets_publish_fn publish, void *ud, struct tn_assets_watch **out)
{
	struct tn_assets_watch *w = calloc(1, sizeof *w);
	if (!w)
		return TN_ENOMEM;
	w->conninfo = conninfo;
	w->poll_ms = poll_ms > 0 ? poll_ms : 1000;
	w->known = known;
	w->publish = publish;
	w->ud = ud;
	atomic_init(&w->stop, false);
	if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
		free(w);
		return TN_ENOMEM;
	}
	*out = w;
	return 0;
}

void tn_assets_watch_stop(struct tn_assets_watch *w)
{
	if (!w)
		return;
	atomic_store(&w->stop, true);
	pthread_join(w->thread, NULL);
	tn_graph_free(w->held);
	free(w);
}
