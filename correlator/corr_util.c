/*
 * corr_util.c - the engine's small tools: growable arrays, string interning,
 * an output buffer that writes canonical JSON, RFC 3339 times computed
 * without the C library's time zone machinery, and incident id hashing.
 */
#include "corr_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "siphash.h"

int tn__cgrow(void **p, uint32_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *np;

	if (need <= *cap)
		return 0;
	if (need > UINT32_MAX / 2)
		return TN_ENOMEM;
	ncap = *cap ? *cap : 16;
	while (ncap < need)
		ncap *= 2;
	np = realloc(*p, ncap * elem);
	if (np == NULL)
		return TN_ENOMEM;
	*p = np;
	*cap = (uint32_t)ncap;
	return 0;
}

/*
 * The hash of an interned string: eight bytes at a time, then a final mix
 * (the table uses both halves: the low bits to probe, the high ones as the
 * slot's tag). Byte by byte it was a twentieth of the engine's time, two
 * look-ups per event (source and asset). Only where a string sits in the
 * table depends on it, never what the engine outputs.
 */
static uint64_t str_hash(const char *s)
{
	size_t n = strlen(s);
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ n, w;

	for (; n >= 8; s += 8, n -= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	for (w = 0; n > 0; n--)
		w = w << 8 | (uint8_t)s[n - 1];
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	return h ^ (h >> 33);
}

/*
 * A slot is (the string's hash, high 32 bits) << 32 | (number + 1); 0 is
 * empty. Why the hash in the slot: on a million asset ids every look-up is
 * a cache miss in the table, and a probe that had to follow the number to
 * its string to compare would be two more; the tag settles all but true
 * matches without leaving the table.
 */
static uint64_t slot_of(uint64_t h, uint32_t k)
{
	return (h & 0xffffffff00000000ULL) | ((uint64_t)k + 1);
}

uint32_t tn__cintern_find(const struct tn__cintern *t, const char *s)
{
	uint64_t h, v, tag;
	uint32_t i;

	if (t->slot == NULL)
		return TN__NONE;
	h = str_hash(s);
	tag = h & 0xffffffff00000000ULL;
	for (i = (uint32_t)h & t->mask;; i = (i + 1) & t->mask) {
		v = t->slot[i];
		if (v == 0)
			return TN__NONE;
		if ((v & 0xffffffff00000000ULL) == tag &&
		    strcmp(t->str[(uint32_t)v - 1], s) == 0)
			return (uint32_t)v - 1;
	}
}

static int rehash(struct tn__cintern *t, uint32_t nslots)
{
	uint64_t *ns = calloc(nslots, sizeof *ns);
	uint32_t k, i;

	if (ns == NULL)
		return TN_ENOMEM;
	for (k = 0; k < t->n; k++) {
		uint64_t h = str_hash(t->str[k]);

		for (i = (uint32_t)h & (nslots - 1); ns[i]; i = (i + 1) & (nslots - 1))
			;
		ns[i] = slot_of(h, k);
	}
	free(t->slot);
	t->slot = ns;
	t->mask = nslots - 1;
	return 0;
}

int tn__cintern_add(struct tn__cintern *t, const char *s, uint32_t *out, bool *added)
{
	uint32_t k = tn__cintern_find(t, s), i;
	uint64_t h;
	char *copy;

	if (added)
		*added = false;
	if (k != TN__NONE) {
		*out = k;
		return 0;
	}
	if (t->slot == NULL || (uint64_t)(t->n + 1) * 2 > (uint64_t)t->mask + 1) {
		uint32_t nslots = t->slot ? (t->mask + 1) * 2 : 64;

		if (rehash(t, nslots) != 0)
			return TN_ENOMEM;
	}
	if (tn__cgrow((void **)&t->str, &t->cap, t->n + 1, sizeof *t->str) != 0)
		return TN_ENOMEM;
	copy = strdup(s);
	if (copy == NULL)
		return TN_ENOMEM;
	t->str[t->n] = copy;
	h = str_hash(s);
	for (i = (uint32_t)h & t->mask; t->slot[i]; i = (i + 1) & t->mask)
		;
	t->slot[i] = slot_of(h, t->n);
	*out = t->n++;
	if (added)
		*added = true;
	return 0;
}

void tn__cintern_free(struct tn__cintern *t)
{
	uint32_t k;

	for (k = 0; k < t->n; k++)
		free(t->str[k]);
	free(t->str);
	free(t->slot);
	memset(t, 0, sizeof *t);
}

void tn__cbuf_put_slow(struct tn__cbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (tn__cgrow((void **)&b->p, &b->cap, (size_t)b->len + n + 1, 1) != 0) {
		b->oom = true;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += (uint32_t)n;
	b->p[b->len] = '\0';
}

void tn__cbuf_u64(struct tn__cbuf *b, uint64_t v)
{
	char tmp[20];
	size_t n = sizeof tmp;

	do {
		tmp[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	tn__cbuf_put(b, tmp + n, sizeof tmp - n);
}

void tn__cbuf_str(struct tn__cbuf *b, const char *s)
{
	tn__cbuf_put(b, s, strlen(s));
}

/* Which bytes a JSON string cannot hold as they are. */
static bool needs_escape(unsigned char ch)
{
	return ch < 0x20 || ch == '"' || ch == '\\';
}

/* Whether none of the n bytes at s needs an escape: eight at a time (a byte
 * below 0x20, a '"' or a '\\' in a word sets its top bit in the test; a hit
 * is checked byte by byte, so the test may err only towards caution). */
static bool json_clean(const char *s, size_t n)
{
	const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
	uint64_t w, q, bs;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, s + i, 8);
		q = w ^ (ones * '"');
		bs = w ^ (ones * '\\');
		if (((w - ones * 0x20) & ~w & high) | ((q - ones) & ~q & high) |
		    ((bs - ones) & ~bs & high))
			break; /* maybe: the bytes from i on, one by one */
	}
	for (; i < n; i++)
		if (needs_escape((unsigned char)s[i]))
			return false;
	return true;
}

void tn__cbuf_json(struct tn__cbuf *b, const char *s)
{
	const char *run = s;
	size_t n = strlen(s);
	char esc[8];

	/* asset ids and the like: nothing to escape, one copy */
	if (json_clean(s, n)) {
		tn__cbuf_put(b, "\"", 1);
		tn__cbuf_put(b, s, n);
		tn__cbuf_put(b, "\"", 1);
		return;
	}

	tn__cbuf_put(b, "\"", 1);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (!needs_escape(ch))
			continue;
		tn__cbuf_put(b, run, (size_t)(s - run));
		if (ch == '"' || ch == '\\') {
			esc[0] = '\\';
			esc[1] = (char)ch;
			tn__cbuf_put(b, esc, 2);
		} else {
			snprintf(esc, sizeof esc, "\\u%04x", ch);
			tn__cbuf_put(b, esc, 6);
		}
		run = s + 1;
	}
	tn__cbuf_put(b, run, (size_t)(s - run));
	tn__cbuf_put(b, "\"", 1);
}

void tn__cbuf_fmt(struct tn__cbuf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof tmp)
		n = sizeof tmp - 1;
	tn__cbuf_put(b, tmp, (size_t)n);
}

/* Days since 1970-01-01 to a civil date (H. Hinnant's algorithm). */
static void civil(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era, yy;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	yy = (int64_t)yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = yy + (*m <= 2);
}

static void two(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

/*
 * Written by hand, not by printf: a revision carries a dozen times per member
 * and at-risk entry, and vfprintf was a third of the engine's time on a large
 * city. The date part is cached, since consecutive times share a day.
 */
void tn__cbuf_time(struct tn__cbuf *b, int64_t us)
{
	int64_t ms = us >= 0 ? us / 1000 : -((-us + 999) / 1000);
	int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
	unsigned rem = (unsigned)(ms - days * 86400000);
	char t[27];

	if (!b->day_ok || days != b->day) {
		int64_t y;
		unsigned mo, d;

		civil(days, &y, &mo, &d);
		if (y < 0 || y > 9999) { /* not an RFC 3339 year: keep the old form */
			tn__cbuf_fmt(b, "\"%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ\"", (long long)y,
				     mo, d, rem / 3600000, rem / 60000 % 60, rem / 1000 % 60,
				     rem % 1000);
			return;
		}
		two(b->date, (unsigned)(y / 100));
		two(b->date + 2, (unsigned)(y % 100));
		b->date[4] = '-';
		two(b->date + 5, mo);
		b->date[7] = '-';
		two(b->date + 8, d);
		b->day = days;
		b->day_ok = true;
	}
	t[0] = '"';
	memcpy(t + 1, b->date, 10);
	t[11] = 'T';
	two(t + 12, rem / 3600000);
	t[14] = ':';
	two(t + 15, rem / 60000 % 60);
	t[17] = ':';
	two(t + 18, rem / 1000 % 60);
	t[20] = '.';
	t[21] = (char)('0' + rem % 1000 / 100);
	two(t + 22, rem % 100);
	t[24] = 'Z';
	t[25] = '"';
	tn__cbuf_put(b, t, 26);
}

uint64_t tn__corr_hash(const char *a, const char *b, const char *c, const char *d)
{
	/* A fixed, public key: the ids need to be stable and well spread, not secret. */
	static const uint8_t key[16] = "tocsin-incidents";
	const char *parts[4] = {a, b, c, d};
	struct tn__siphash s;
	uint8_t out[16];
	uint64_t h = 0;
	int i;

	tn__siphash128_init(&s, key);
	for (i = 0; i < 4; i++)
		if (parts[i])
			tn__siphash128_update(&s, parts[i], strlen(parts[i]) + 1);
	tn__siphash128_final(&s, out);
	for (i = 0; i < 8; i++)
		h |= (uint64_t)out[i] << (8 * i);
	return h;
}
