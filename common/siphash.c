/* siphash.c - SipHash-2-4, 128-bit tag (siphash.h). */
#include "siphash.h"

#include <string.h>

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND(v0, v1, v2, v3)                                                                 \
	do {                                                                                     \
		v0 += v1;                                                                        \
		v1 = ROTL(v1, 13);                                                               \
		v1 ^= v0;                                                                        \
		v0 = ROTL(v0, 32);                                                               \
		v2 += v3;                                                                        \
		v3 = ROTL(v3, 16);                                                               \
		v3 ^= v2;                                                                        \
		v0 += v3;                                                                        \
		v3 = ROTL(v3, 21);                                                               \
		v3 ^= v0;                                                                        \
		v2 += v1;                                                                        \
		v1 = ROTL(v1, 17);                                                               \
		v1 ^= v2;                                                                        \
		v2 = ROTL(v2, 32);                                                               \
	} while (0)

/* Byte by byte, so that neither alignment nor host byte order matters. */
static uint64_t load_le64(const uint8_t *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
	       (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
	       (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

static void store_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The initial state; 0xee marks the 128-bit variant (the 64-bit one has none). */
static void init_state(struct tn__siphash *s, const uint8_t key[16])
{
	uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);

	s->v0 = UINT64_C(0x736f6d6570736575) ^ k0;
	s->v1 = UINT64_C(0x646f72616e646f6d) ^ k1 ^ 0xee;
	s->v2 = UINT64_C(0x6c7967656e657261) ^ k0;
	s->v3 = UINT64_C(0x7465646279746573) ^ k1;
	s->buf = 0;
	s->len = 0;
}

static void compress(struct tn__siphash *s, uint64_t m)
{
	uint64_t v0 = s->v0, v1 = s->v1, v2 = s->v2, v3 = s->v3;

	v3 ^= m;
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	v0 ^= m;
	s->v0 = v0, s->v1 = v1, s->v2 = v2, s->v3 = v3;
}

/* Last block: the pending bytes with the length's low byte on top; then d = 4 rounds twice. */
static void finish(struct tn__siphash *s, uint8_t out[16])
{
	uint64_t v0, v1, v2, v3;

	compress(s, s->buf | s->len << 56);
	v0 = s->v0, v1 = s->v1, v2 = s->v2, v3 = s->v3;
	v2 ^= 0xee;
	for (int i = 0; i < 4; i++)
		SIPROUND(v0, v1, v2, v3);
	store_le64(out, v0 ^ v1 ^ v2 ^ v3);
	v1 ^= 0xdd;
	for (int i = 0; i < 4; i++)
		SIPROUND(v0, v1, v2, v3);
	store_le64(out + 8, v0 ^ v1 ^ v2 ^ v3);
}

void tn__siphash128(const uint8_t key[16], const void *in, size_t len, uint8_t out[16])
{
	const uint8_t *p = in;
	struct tn__siphash s;
	size_t words = len / 8;

	/* Indexing rather than moving p: `in` may be NULL when len is 0. */
	init_state(&s, key);
	for (size_t i = 0; i < words; i++)
		compress(&s, load_le64(p + 8 * i));
	for (size_t i = 0; i < (len & 7); i++)
		s.buf |= (uint64_t)p[8 * words + i] << (8 * i);
	s.len = len;
	finish(&s, out);
}

void tn__siphash128_init(struct tn__siphash *s, const uint8_t key[16])
{
	init_state(s, key);
}

void tn__siphash128_update(struct tn__siphash *s, const void *in, size_t len)
{
	const uint8_t *p = in;
	unsigned fill = (unsigned)(s->len & 7);

	s->len += len;
	/* Complete the pending word first, then whole words, then keep the rest. */
	if (fill) {
		while (len && fill < 8) {
			s->buf |= (uint64_t)*p++ << (8 * fill++);
			len--;
		}
		if (fill < 8)
			return;
		compress(s, s->buf);
		s->buf = 0;
	}
	for (; len >= 8; p += 8, len -= 8)
		compress(s, load_le64(p));
	for (unsigned i = 0; i < len; i++)
		s->buf |= (uint64_t)p[i] << (8 * i);
}

void tn__siphash128_final(struct tn__siphash *s, uint8_t out[16])
{
	finish(s, out);
}
