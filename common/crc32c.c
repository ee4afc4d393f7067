/*
 * crc32c.c - CRC-32C (crc32c.h). Software: slicing-by-8 over tables built once.
 * On x86-64 CPUs with SSE4.2 the crc32 instruction computes the same
 * polynomial; the choice is made once, at the first call, from CPUID.
 */
#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#define TN__CRC32C_HW 1
#endif

#define POLY 0x82F63B78u /* Castagnoli, reflected */

/* table[k][b]: CRC of byte b followed by k zero bytes; slicing-by-8 needs 8. */
static uint32_t table[8][256];
static uint32_t (*impl)(uint32_t crc, const unsigned char *p, size_t len);
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* Software path, exported for the unit test that compares it to the hardware. */
uint32_t tn__crc32c_sw(uint32_t crc, const void *buf, size_t len);

/* Little-endian load whatever the host order; compilers make it one mov. */
static inline uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t crc_sw(uint32_t crc, const unsigned char *p, size_t len)
{
	crc = ~crc;
	while (len && ((uintptr_t)p & 7)) {
		crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
		len--;
	}
	while (len >= 8) {
		uint32_t lo = crc ^ le32(p), hi = le32(p + 4);
		crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^
		      table[5][(lo >> 16) & 0xff] ^ table[4][lo >> 24] ^ table[3][hi & 0xff] ^
		      table[2][(hi >> 8) & 0xff] ^ table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

#ifdef TN__CRC32C_HW
/*
 * One dependent crc32q per 8 bytes: about 8 bytes per 3 cycles, far above
 * what the journal needs, so no interleaved streams to combine.
 */
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const unsigned char *p,
							  size_t len)
{
	uint64_t c = ~crc;

	while (len && ((uintptr_t)p & 7)) {
		c = _mm_crc32_u8((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = _mm_crc32_u64(c, v);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = _mm_crc32_u8((uint32_t)c, *p++);
	return ~(uint32_t)c;
}
#endif

static void init(void)
{
	for (uint32_t b = 0; b < 256; b++) {
		uint32_t c = b;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (POLY & (0u - (c & 1)));
		table[0][b] = c;
	}
	for (int k = 1; k < 8; k++)
		for (int b = 0; b < 256; b++)
			table[k][b] = (table[k - 1][b] >> 8) ^ table[0][table[k - 1][b] & 0xff];
	impl = crc_sw;
#ifdef TN__CRC32C_HW
	__builtin_cpu_init();
	if (__builtin_cpu_supports("sse4.2"))
		impl = crc_hw;
#endif
}

uint32_t tn__crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&once, init);
	return impl(crc, buf, len);
}

uint32_t tn__crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&once, init);
	return crc_sw(crc, buf, len);
}
