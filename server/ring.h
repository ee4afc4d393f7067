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

#include <stdbool.h>
#include <stdlib.h>

#if defined(__SANITIZE_THREAD__)
/*
 * ThreadSanitizer cannot see Concurrency Kit's inline-assembly fences, so
 * under SAN=thread the same ring is built on C11 atomics, which it
 * understands: the TSan build then checks the hand-over of every record
 * through the ring rather than reporting the ring itself.
 */
#include <stdatomic.h>

struct tn__ring {
	_Atomic unsigned int head, tail; /* consumer / producer positions */
	void **buf;
	unsigned int mask;
	unsigned int capacity;
};

static inline int tn__ring_init(struct tn__ring *r, unsigned int capacity)
{
	unsigned int slots = 2;
	while (slots < capacity + 1)
		slots <<= 1;
	r->buf = calloc(slots, sizeof *r->buf);
	if (!r->buf)
		return -1;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	r->mask = slots - 1;
	r->capacity = slots - 1;
	return 0;
}

static inline void tn__ring_destroy(struct tn__ring *r)
{
	free(r->buf);
	r->buf = NULL;
}

static inline bool tn__ring_push(struct tn__ring *r, void *p)
{
	unsigned int t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	if (((t + 1) & r->mask) == atomic_load_explicit(&r->head, memory_order_acquire))
		return false;
	r->buf[t] = p;
	atomic_store_explicit(&r->tail, (t + 1) & r->mask, memory_order_release);
	return true;
}

static inline void *tn__ring_pop(struct tn__ring *r)
{
	unsigned int h = atomic_load_explicit(&r->head, memory_order_relaxed);
	if (h == atomic_load_explicit(&r->tail, memory_order_acquire))
		return NULL;
	void *p = r->buf[h];
	atomic_store_explicit(&r->head, (h + 1) & r->mask, memory_order_release);
	return p;
}

static inline unsigned int tn__ring_depth(struct tn__ring *r)
{
	return (atomic_load(&r->tail) - atomic_load(&r->head)) & r->mask;
}

#else
#include <ck_ring.h>

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

#endif
