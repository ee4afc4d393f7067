/* stat.c - latency histograms published without a lock (stat.h). */
#include "stat.h"

#include <string.h>

const uint64_t tn__hist_bounds_ns[TN__HIST_N] = TN__HIST_BOUNDS_NS;

void tn__hist_observe(struct tn__hist *h, uint64_t ns)
{
	unsigned i = 0;
	while (i < TN__HIST_N && ns > tn__hist_bounds_ns[i])
		i++;
	tn__stat_add(&h->bucket[i], 1);
	tn__stat_add(&h->sum_ns, ns);
}

void tn__hist_read(const struct tn__hist *h, struct tn__hist *out)
{
	for (unsigned i = 0; i <= TN__HIST_N; i++)
		out->bucket[i] = ck_pr_load_64(&h->bucket[i]);
	out->sum_ns = ck_pr_load_64(&h->sum_ns);
}

uint32_t tn__body_at_risk(const char *body, size_t len)
{
	static const char key[] = "\"at_risk_count\":{\"pending\":";
	const char *p = memmem(body, len, key, sizeof key - 1);
	uint64_t v = 0;

	if (!p)
		return 0;
	p += sizeof key - 1;
	for (; p < body + len && *p >= '0' && *p <= '9' && v <= UINT32_MAX; p++)
		v = v * 10 + (uint64_t)(*p - '0');
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}
