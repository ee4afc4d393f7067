/*
 * sim_rng.h - the simulator's own pseudo-random numbers: xoshiro256**
 * seeded through splitmix64 (Blackman and Vigna).
 *
 * The simulator never calls rand(): its output must be the same bytes for
 * the same seed on every machine and libc, so that a city, a scenario and
 * the figures measured on them can be reproduced from the command line.
 * Integer draws are unbiased (Lemire's multiply-and-reject); the doubles use
 * the top 53 bits. Gaussian draws go through libm (log, sqrt, cos), which is
 * exact enough to repeat on one platform; nothing in the output depends on
 * their last bit except printed coordinates.
 *
 * One generator per stream of decisions; a generator belongs to one thread.
 */
#ifndef TN_SIM_RNG_H
#define TN_SIM_RNG_H

#include <math.h>
#include <stdint.h>

struct tn__rng {
	uint64_t s[4];
};

static inline uint64_t tn__splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Seed from `seed` and a stream number, so that independent decisions (the
 * city's layout, its edges, a scenario's reports) draw from separate
 * sequences and a change to one does not shift the others. */
static inline void tn__rng_seed(struct tn__rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL);

	for (int i = 0; i < 4; i++)
		r->s[i] = tn__splitmix64(&x);
}

static inline uint64_t tn__rng_next(struct tn__rng *r)
{
	uint64_t *s = r->s;
	uint64_t v = s[1] * 5;
	uint64_t result = ((v << 7) | (v >> 57)) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = (s[3] << 45) | (s[3] >> 19);
	return result;
}

/* Uniform in [0, n); 0 when n is 0. */
static inline uint64_t tn__rng_below(struct tn__rng *r, uint64_t n)
{
	unsigned __int128 m;
	uint64_t low;

	if (n == 0)
		return 0;
	m = (unsigned __int128)tn__rng_next(r) * n;
	low = (uint64_t)m;
	if (low < n) {
		uint64_t floor = -n % n;
		while (low < floor) {
			m = (unsigned __int128)tn__rng_next(r) * n;
			low = (uint64_t)m;
		}
	}
	return (uint64_t)(m >> 64);
}

/* Uniform integer in [lo, hi] (lo when hi < lo). */
static inline int64_t tn__rng_range(struct tn__rng *r, int64_t lo, int64_t hi)
{
	if (hi <= lo)
		return lo;
	return lo + (int64_t)tn__rng_below(r, (uint64_t)(hi - lo) + 1);
}

/* Uniform in [0, 1). */
static inline double tn__rng_unit(struct tn__rng *r)
{
	return (double)(tn__rng_next(r) >> 11) * 0x1.0p-53;
}

/* True with probability p. */
static inline int tn__rng_chance(struct tn__rng *r, double p)
{
	return tn__rng_unit(r) < p;
}

/* Standard normal (Box-Muller; one value per call, the other discarded). */
static inline double tn__rng_normal(struct tn__rng *r)
{
	double u = 1.0 - tn__rng_unit(r); /* (0, 1] */
	double v = tn__rng_unit(r);

	return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

#endif
