/* frame.c - reusable buffers of an in-flight ingest frame (frame.h). */
#include "frame.h"

#include <stdlib.h>
#include <string.h>

#include "tocsin/error.h"

int tn__bytes_reserve(struct tn__bytes *b, size_t more)
{
	if (b->len + more <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more)
		cap *= 2;
	char *p = realloc(b->data, cap);
	if (!p)
		return TN_ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int tn__bytes_write(void *data, const char *buf, size_t len)
{
	struct tn__bytes *b = data;
	if (len == 0)
		return 0; /* b->data may still be NULL: memcpy must not see it */
	if (tn__bytes_reserve(b, len) != 0)
		return -1;
	memcpy(b->data + b->len, buf, len);
	b->len += len;
	return 0;
}

void tn__frame_reset(struct tn__frame *f)
{
	f->has_peer = false;
	f->delimiter = false;
	f->rid_len = 0;
	f->recv_us = 0;
	f->peer_key[0] = '\0';
	f->origin[0] = '\0';
	f->recbuf.len = 0;
	f->n_recs = 0;
	f->strs.len = 0;
	f->n_items = 0;
	f->result = 0;
	f->n_appended = 0;
	f->end_offset = 0;
}

void tn__frame_free(struct tn__frame *f)
{
	if (!f)
		return;
	free(f->recbuf.data);
	free(f->recs);
	free(f->strs.data);
	free(f->items);
	free(f);
}

int tn__frame_str(struct tn__frame *f, const char *s, size_t len, uint32_t *off)
{
	if (tn__bytes_reserve(&f->strs, len + 1) != 0)
		return TN_ENOMEM;
	*off = (uint32_t)f->strs.len;
	memcpy(f->strs.data + f->strs.len, s, len);
	f->strs.data[f->strs.len + len] = 0;
	f->strs.len += len + 1;
	return 0;
}

#define GROW(arr, n, cap)                                                     \
	do {                                                                  \
		if ((n) == (cap)) {                                           \
			size_t ncap = (cap) ? (cap) * 2 : 64;                 \
			void *p = realloc((arr), ncap * sizeof *(arr));       \
			if (!p)                                               \
				return NULL;                                  \
			(arr) = p;                                            \
			(cap) = ncap;                                         \
		}                                                             \
	} while (0)

struct tn__item *tn__frame_item(struct tn__frame *f)
{
	GROW(f->items, f->n_items, f->cap_items);
	struct tn__item *it = &f->items[f->n_items++];
	memset(it, 0, sizeof *it);
	it->id_off = UINT32_MAX;
	return it;
}

struct tn__rec *tn__frame_rec(struct tn__frame *f)
{
	GROW(f->recs, f->n_recs, f->cap_recs);
	return &f->recs[f->n_recs++];
}

struct tn__rec *tn__frame_rec_begin(struct tn__frame *f, uint8_t type, msgpack_packer *pk)
{
	struct tn__rec *r = tn__frame_rec(f);
	if (!r)
		return NULL;
	r->type = type;
	r->off = (uint32_t)f->recbuf.len;
	msgpack_packer_init(pk, &f->recbuf, tn__bytes_write);
	return r;
}

void tn__frame_rec_end(struct tn__frame *f, struct tn__rec *r)
{
	r->len = (uint32_t)(f->recbuf.len - r->off);
}
