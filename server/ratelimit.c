/* ratelimit.c - token buckets and the per-key table (ratelimit.h). */
#include "ratelimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tocsin/error.h"

static uint32_t clamp_rate(uint32_t v)
{
	return v > TN_RATE_MAX ? TN_RATE_MAX : v;
}

static uint32_t clamp_burst(uint32_t v)
{
	return v == 0 ? 1 : v > TN_RATE_MAX ? TN_RATE_MAX : v;
}

static void refill(struct tn_rate_bucket *b, int64_t now_us)
{
	int64_t cap = (int64_t)b->burst * TN_RATE_UNIT;
	int64_t elapsed = now_us - b->last_us;

	if (elapsed <= 0)
		return; /* the same instant, or time going backwards: nothing flows in */
	b->last_us = now_us;
	if (b->rate == 0 || b->tokens >= cap) {
		b->tokens = cap;
		return;
	}
	/* Compare before multiplying: elapsed * rate stays far below INT64_MAX. */
	if (elapsed >= (cap - b->tokens) / b->rate + 1)
		b->tokens = cap;
	else
		b->tokens += elapsed * (int64_t)b->rate;
	if (b->tokens > cap)
		b->tokens = cap;
}

void tn_rate_init(struct tn_rate_bucket *b, uint32_t rate, uint32_t burst, int64_t now_us)
{
	b->rate = clamp_rate(rate);
	b->burst = clamp_burst(burst);
	b->tokens = (int64_t)b->burst * TN_RATE_UNIT;
	b->last_us = now_us;
}

void tn_rate_set(struct tn_rate_bucket *b, uint32_t rate, uint32_t burst, int64_t now_us)
{
	bool was_unlimited = b->rate == 0;

	refill(b, now_us);
	b->rate = clamp_rate(rate);
	b->burst = clamp_burst(burst);
	int64_t cap = (int64_t)b->burst * TN_RATE_UNIT;
	if (was_unlimited || b->tokens > cap)
		b->tokens = cap;
}

uint32_t tn_rate_take(struct tn_rate_bucket *b, uint32_t n, int64_t now_us)
{
	if (b->rate == 0)
		return n;
	refill(b, now_us);
	int64_t whole = b->tokens / TN_RATE_UNIT;
	uint32_t got = (int64_t)n < whole ? n : (uint32_t)whole;
	b->tokens -= (int64_t)got * TN_RATE_UNIT;
	return got;
}

uint32_t tn_rate_avail(struct tn_rate_bucket *b, int64_t now_us)
{
	if (b->rate == 0)
		return UINT32_MAX;
	refill(b, now_us);
	return (uint32_t)(b->tokens / TN_RATE_UNIT);
}

int64_t tn_rate_wait_ms(const struct tn_rate_bucket *b, uint32_t n)
{
	if (b->rate == 0)
		return 0;
	if (n > b->burst)
		n = b->burst;
	int64_t need = (int64_t)n * TN_RATE_UNIT - b->tokens;
	if (need <= 0)
		return 0;
	int64_t us = (need + b->rate - 1) / b->rate;
	return (us + 999) / 1000;
}

/* ---- the per-key table ------------------------------------------------------ */

int tn_rate_table_build(const struct tn_rate_table *old, const char *const *keys,
			const struct tn_rate_limits *limits, size_t n, uint32_t def_rate,
			uint32_t def_burst, int64_t now_us, struct tn_rate_table *out)
{
	struct tn_rate_peer *p = calloc(n ? n : 1, sizeof *p);
	size_t j = 0; /* walks old->peers: both sorted by key */

	if (!p)
		return TN_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		uint32_t rate = limits[i].rate < 0 ? def_rate : (uint32_t)limits[i].rate;
		uint32_t burst = limits[i].burst < 0 ? def_burst : (uint32_t)limits[i].burst;
		int c = 1;

		while (old && j < old->n && (c = strcmp(old->peers[j].key, keys[i])) < 0)
			j++;
		if (old && j < old->n && c == 0) {
			p[i] = old->peers[j];
			tn_rate_set(&p[i].bucket, rate, burst, now_us);
		} else {
			snprintf(p[i].key, sizeof p[i].key, "%s", keys[i]);
			tn_rate_init(&p[i].bucket, rate, burst, now_us);
			p[i].audit_us = INT64_MIN;
		}
	}
	out->n = n;
	out->peers = p;
	return 0;
}

struct tn_rate_peer *tn_rate_table_find(const struct tn_rate_table *t, const char *key)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(key, t->peers[mid].key);
		if (c == 0)
			return &t->peers[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

void tn_rate_table_free(struct tn_rate_table *t)
{
	free(t->peers);
	t->peers = NULL;
	t->n = 0;
}

bool tn_rate_keep(struct tn_rate_peer *p, int64_t now_s, uint32_t per_s)
{
	if (now_s != p->keep_window_s) {
		p->keep_window_s = now_s;
		p->keep_n = 0;
	}
	if (p->keep_n >= per_s)
		return false;
	p->keep_n++;
	return true;
}
