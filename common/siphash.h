/*
 * siphash.h - SipHash-2-4 with a 128-bit tag (Aumasson & Bernstein, "SipHash:
 * a fast short-input PRF", 2012; the reference implementation's `siphash`
 * with outlen 16). A keyed hash: whoever does not know the key cannot aim
 * collisions, which is why dedup keys come from it.
 *
 * The tag is written as 16 bytes, the first 8 being the little-endian first
 * word, exactly as the reference's vectors_sip128 table.
 *
 * Two ways in: one call over a contiguous buffer, or init/update/final over
 * pieces (so that `source` NUL `id` is hashed without a copy). Both give the
 * same tag for the same bytes, however split.
 *
 * Pure: no global state, any thread. Keys are secrets: never log them.
 */
#ifndef TN_SIPHASH_H
#define TN_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/*
 * tn__siphash128 - the tag of the `len` bytes at `in` under `key`. All three
 * pointers are borrowed; `in` may be NULL when len is 0. Cannot fail.
 */
void tn__siphash128(const uint8_t key[16], const void *in, size_t len, uint8_t out[16]);

/* State of an incremental hash; the caller owns it (usually on the stack). */
struct tn__siphash {
	uint64_t v0, v1, v2, v3;
	uint64_t buf; /* up to 7 pending bytes, little-endian */
	uint64_t len; /* bytes absorbed so far; only the low 8 bits enter the tag */
};

/* tn__siphash128_init - start a 128-bit hash under `key` (borrowed). */
void tn__siphash128_init(struct tn__siphash *s, const uint8_t key[16]);

/* tn__siphash128_update - absorb `len` bytes (borrowed; NULL if len is 0). */
void tn__siphash128_update(struct tn__siphash *s, const void *in, size_t len);

/*
 * tn__siphash128_final - write the tag to `out`. The state is spent
 * afterwards: init it again before any further use.
 */
void tn__siphash128_final(struct tn__siphash *s, uint8_t out[16]);

#endif
