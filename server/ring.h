/*
 * ring.h - a bounded single-producer/single-consumer ring of pointers
 * (Concurrency Kit's ck_ring), the only way threads hand work to each other.
 *
 * Thread contract: exactly one producer thread calls tn__ring_push and
 * exactly one consumer thread calls tn__ring_pop; lock-free, wait-free.
 * A full ring is backpressure: the producer stops and counts it.
 */
#ifndef TN_RING_H
#define TN_RING_H

#include <ck_ring.h>
#include <stdbool.h>
#include <stdlib.h>

struct tn__ring {
	struct ck_ring ring;
	struct ck_ring_buffer *buf;
	unsigned int capacity; /* entries it can hold: slots - 1 */
};

/*
 * tn__ring_init - a ring holding at least `capacity` pointers. Returns 0 or
 * -1 (out of memory). Main thread, before the producer and consumer start.
 */
static inline int tn__ring_init(struct tn__ring *r, unsigned int capacity)
{
	unsigned int slots = 2;
	while (slots < capacity + 1)
		slots <<= 1;
	r->buf = calloc(slots, sizeof *r->buf);
	if (!r->buf)
		return -1;
	ck_ring_init(&r->ring, slots);
	r->capacity = slots - 1;
	return 0;
}

static inline void tn__ring_destroy(struct tn__ring *r)
{
	free(r->buf);
	r->buf = NULL;
}

/* Producer only. false when full (nothing enqueued). */
static inline bool tn__ring_push(struct tn__ring *r, void *p)
{
	return ck_ring_enqueue_spsc(&r->ring, r->buf, p);
}

/* Consumer only. NULL when empty. */
static inline void *tn__ring_pop(struct tn__ring *r)
{
	void *p;
	return ck_ring_dequeue_spsc(&r->ring, r->buf, &p) ? p : NULL;
}

/* Entries now in the ring; approximate from other threads. */
static inline unsigned int tn__ring_depth(struct tn__ring *r)
{
	return ck_ring_size(&r->ring);
}

#endif
