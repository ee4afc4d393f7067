/*
 * assets_watch.h - keeps the correlator's asset graph in step with
 * PostgreSQL (design §2: a running server takes a new registry without a
 * restart).
 *
 * A thread LISTENs on `tocsin_assets` (sent by `tocsin assets import`) and,
 * as a fallback for lost notifications and reconnections, also compares
 * `registry_generation` every poll_ms. On a new generation it loads the whole
 * registry into a new immutable graph (off every socket-serving thread) and
 * hands it over; the consumer swaps it in and frees the old one.
 *
 * Thread contract: start/stop from the main thread; publish is called from
 * the watcher thread.
 */
#ifndef TN_ASSETS_WATCH_H
#define TN_ASSETS_WATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "tocsin/graph.h"

/* Ownership of g passes when it returns true; on false the watcher keeps it
 * and offers it again after poll_ms. */
typedef bool (*tn_assets_publish_fn)(void *ud, struct tn_graph *g);

struct tn_assets_watch;

/*
 * tn_assets_watch_start - watch from generation `known` (-1: none loaded).
 * conninfo is borrowed and must outlive the watcher. Returns 0 and *out, or
 * TN_ENOMEM.
 */
int tn_assets_watch_start(const char *conninfo, int poll_ms, int64_t known,
			  tn_assets_publish_fn publish, void *ud, struct tn_assets_watch **out);

/* Stop and join; frees a graph not yet handed over. NULL is fine. */
void tn_assets_watch_stop(struct tn_assets_watch *w);

#endif
