/*
 * outbox.c - the adapter's bounded outbox: slots, pending list, id index and
 * the table of frames in flight (see adapter_int.h for the states).
 *
 * Everything is allocated once in tn__outbox_init, sized by the options, so
 * the only allocation per event is its encoded copy.
 */
#include "adapter_int.h"

#include <stdlib.h>
#include <string.h>

static uint32_t hash_id(const char *id, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)id[i];
		h *= 16777619u;
	}
	return h;
}

int tn__outbox_init(struct tn_adapter *a)
{
	size_t n = a->capacity + 1;

	a->slots = calloc(n, sizeof *a->slots);
	a->n_buckets = 16;
	while (a->n_buckets < 2 * n && a->n_buckets < (1u << 30))
		a->n_buckets <<= 1;
	a->buckets = malloc(a->n_buckets * sizeof *a->buckets);
	a->frames = calloc(a->max_inflight, sizeof *a->frames);
	if (!a->slots || !a->buckets || !a->frames)
		return TN_ENOMEM;
	for (unsigned f = 0; f < a->max_inflight; f++) {
		a->frames[f].m = calloc(a->max_batch, sizeof *a->frames[f].m);
		if (!a->frames[f].m)
			return TN_ENOMEM;
	}
	for (uint32_t b = 0; b < a->n_buckets; b++)
		a->buckets[b] = TN__NONE;
	/* Free list in index order, the heartbeat slot kept apart. */
	a->hb_slot = (uint32_t)a->capacity;
	for (uint32_t s = 0; s < n; s++) {
		a->slots[s].state = TN__FREE;
		a->slots[s].prev = TN__NONE;
		a->slots[s].next = s + 1 < a->hb_slot ? s + 1 : TN__NONE;
		a->slots[s].hnext = TN__NONE;
	}
	a->slots[a->hb_slot].heartbeat = true;
	a->slots[a->hb_slot].next = TN__NONE;
	a->free_head = a->capacity ? 0 : TN__NONE;
	a->pend_head = a->pend_tail = TN__NONE;
	a->next_seq = 1;
	a->next_fseq = 1;
	return 0;
}

void tn__outbox_free(struct tn_adapter *a)
{
	if (a->slots)
		for (size_t s = 0; s <= a->capacity; s++)
			free(a->slots[s].buf);
	if (a->frames)
		for (unsigned f = 0; f < a->max_inflight; f++)
			free(a->frames[f].m);
	free(a->slots);
	free(a->buckets);
	free(a->frames);
	a->slots = NULL;
	a->buckets = NULL;
	a->frames = NULL;
}

uint32_t tn__slot_alloc(struct tn_adapter *a, bool heartbeat)
{
	uint32_t s;

	if (heartbeat)
		return a->slots[a->hb_slot].state == TN__FREE ? a->hb_slot : TN__NONE;
	s = a->free_head;
	if (s != TN__NONE)
		a->free_head = a->slots[s].next;
	return s;
}

static void pending_unlink(struct tn_adapter *a, uint32_t s)
{
	struct tn__slot *sl = &a->slots[s];

	if (sl->prev != TN__NONE)
		a->slots[sl->prev].next = sl->next;
	else
		a->pend_head = sl->next;
	if (sl->next != TN__NONE)
		a->slots[sl->next].prev = sl->prev;
	else
		a->pend_tail = sl->prev;
	sl->prev = sl->next = TN__NONE;
	a->n_pending--;
}

/* Insert before the first pending slot with a larger seq, searching from the tail. */
static void pending_insert(struct tn_adapter *a, uint32_t s)
{
	struct tn__slot *sl = &a->slots[s];
	uint32_t after = a->pend_tail;

	while (after != TN__NONE && a->slots[after].seq > sl->seq)
		after = a->slots[after].prev;
	sl->prev = after;
	if (after == TN__NONE) {
		sl->next = a->pend_head;
		a->pend_head = s;
	} else {
		sl->next = a->slots[after].next;
		a->slots[after].next = s;
	}
	if (sl->next != TN__NONE)
		a->slots[sl->next].prev = s;
	else
		a->pend_tail = s;
	sl->state = TN__PENDING;
	a->n_pending++;
}

void tn__slot_queue(struct tn_adapter *a, uint32_t s, char *buf, size_t id_len, size_t enc_len)
{
	struct tn__slot *sl = &a->slots[s];
	uint32_t b;

	sl->buf = buf;
	sl->id_len = id_len;
	sl->enc_len = enc_len;
	sl->attempts = 0;
	sl->seq = a->next_seq++;
	sl->fseq = 0;
	if (!sl->heartbeat) {
		a->n_user++;
		a->user_bytes += enc_len;
	}
	sl->hash = hash_id(buf, id_len);
	b = sl->hash & (a->n_buckets - 1);
	sl->hnext = a->buckets[b];
	a->buckets[b] = s;
	pending_insert(a, s);
}

void tn__slot_requeue(struct tn_adapter *a, uint32_t s)
{
	a->slots[s].fseq = 0;
	pending_insert(a, s);
}

void tn__slot_dispatch(struct tn_adapter *a, uint32_t s, uint64_t fseq)
{
	pending_unlink(a, s);
	a->slots[s].state = TN__INFLIGHT;
	a->slots[s].fseq = fseq;
	a->slots[s].attempts++;
}

void tn__slot_release(struct tn_adapter *a, uint32_t s)
{
	struct tn__slot *sl = &a->slots[s];
	uint32_t *p = &a->buckets[sl->hash & (a->n_buckets - 1)];

	if (sl->state == TN__FREE)
		return;
	if (sl->state == TN__PENDING)
		pending_unlink(a, s);
	while (*p != TN__NONE && *p != s)
		p = &a->slots[*p].hnext;
	if (*p == s)
		*p = sl->hnext;
	sl->hnext = TN__NONE;
	if (!sl->heartbeat) {
		a->n_user--;
		a->user_bytes -= sl->enc_len;
	}
	free(sl->buf);
	sl->buf = NULL;
	sl->state = TN__FREE;
	sl->fseq = 0;
	sl->gen++;
	if (!sl->heartbeat) {
		sl->next = a->free_head;
		a->free_head = s;
	}
}

uint32_t tn__slot_find(const struct tn_adapter *a, const char *id, size_t len, uint64_t fseq)
{
	uint32_t h = hash_id(id, len);
	uint32_t found = TN__NONE;

	for (uint32_t s = a->buckets[h & (a->n_buckets - 1)]; s != TN__NONE;
	     s = a->slots[s].hnext) {
		const struct tn__slot *sl = &a->slots[s];

		if (sl->hash != h || sl->id_len != len || memcmp(sl->buf, id, len) != 0)
			continue;
		if (fseq && sl->state == TN__INFLIGHT && sl->fseq == fseq)
			return s;
		/* Several live events may share an id (different sources): oldest first. */
		if (found == TN__NONE || sl->seq < a->slots[found].seq)
			found = s;
	}
	return found;
}

bool tn__member_live(const struct tn_adapter *a, const struct tn__member *m, uint64_t fseq)
{
	const struct tn__slot *sl = &a->slots[m->slot];

	return sl->gen == m->gen && sl->state == TN__INFLIGHT && sl->fseq == fseq;
}

struct tn__frame *tn__frame_alloc(struct tn_adapter *a)
{
	for (unsigned f = 0; f < a->max_inflight; f++)
		if (!a->frames[f].used) {
			a->frames[f].used = true;
			a->frames[f].fseq = a->next_fseq++;
			a->frames[f].n = 0;
			a->n_frames++;
			return &a->frames[f];
		}
	return NULL;
}

struct tn__frame *tn__frame_find(struct tn_adapter *a, uint64_t fseq)
{
	for (unsigned f = 0; f < a->max_inflight; f++)
		if (a->frames[f].used && a->frames[f].fseq == fseq)
			return &a->frames[f];
	return NULL;
}

struct tn__frame *tn__frame_oldest(struct tn_adapter *a)
{
	struct tn__frame *best = NULL;

	for (unsigned f = 0; f < a->max_inflight; f++)
		if (a->frames[f].used && (!best || a->frames[f].fseq < best->fseq))
			best = &a->frames[f];
	return best;
}

void tn__frame_release(struct tn_adapter *a, struct tn__frame *f)
{
	f->used = false;
	f->n = 0;
	a->n_frames--;
}
