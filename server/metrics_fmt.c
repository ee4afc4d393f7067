/* metrics_fmt.c - Prometheus text exposition into a bounded buffer (metrics_fmt.h). */
#include "metrics_fmt.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tn_mbuf_init(struct tn_mbuf *b, size_t max)
{
	memset(b, 0, sizeof *b);
	b->max = max;
}

void tn_mbuf_free(struct tn_mbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

static bool reserve(struct tn_mbuf *b, size_t n)
{
	if (b->overflow)
		return false;
	if (b->len + n + 1 > b->max) {
		b->overflow = true;
		return false;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > b->max)
			cap = b->max;
		char *d = realloc(b->data, cap);
		if (!d) {
			b->overflow = true;
			return false;
		}
		b->data = d;
		b->cap = cap;
	}
	return true;
}

static void put(struct tn_mbuf *b, const char *s, size_t n)
{
	if (!reserve(b, n))
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void puts_(struct tn_mbuf *b, const char *s)
{
	put(b, s, strlen(s));
}

static bool name_ok(const char *s, bool colon)
{
	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || (colon && *s == ':')))
			return false;
	return true;
}

size_t tn_mfmt_escape_label(const char *v, char *out, size_t outlen)
{
	size_t n = 0;
	for (; *v; v++) {
		const char *e = NULL;
		char c[2] = {*v, 0};
		if (*v == '\\')
			e = "\\\\";
		else if (*v == '"')
			e = "\\\"";
		else if (*v == '\n')
			e = "\\n";
		else
			e = c;
		for (; *e; e++, n++)
			if (n + 1 < outlen)
				out[n] = *e;
	}
	if (outlen)
		out[n < outlen ? n : outlen - 1] = '\0';
	return n;
}

/* HELP text: backslash and newline escaped. */
static void put_help(struct tn_mbuf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			put(b, "\\\\", 2);
		else if (*s == '\n')
			put(b, "\\n", 2);
		else
			put(b, s, 1);
	}
}

void tn_mfmt_double(double v, char *out, size_t outlen)
{
	if (isnan(v)) {
		snprintf(out, outlen, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(out, outlen, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v == (double)(int64_t)v && v > -1e15 && v < 1e15) {
		snprintf(out, outlen, "%.0f", v); /* integers as integers: le="10", not 1e+01 */
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(out, outlen, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			return;
	}
}

void tn_mfmt_family(struct tn_mbuf *b, const char *name, const char *type, const char *help)
{
	if (!name_ok(name, true) || (strcmp(type, "counter") != 0 && strcmp(type, "gauge") != 0 &&
				     strcmp(type, "histogram") != 0)) {
		b->bad = true;
		return;
	}
	puts_(b, "# HELP ");
	puts_(b, name);
	puts_(b, " ");
	put_help(b, help);
	puts_(b, "\n# TYPE ");
	puts_(b, name);
	puts_(b, " ");
	puts_(b, type);
	puts_(b, "\n");
}

/* name{l...,extra="x"} (extra may be NULL), without the value. */
static bool head(struct tn_mbuf *b, const char *name, const char *suffix,
		 const struct tn_mlabel *l, size_t nl, const struct tn_mlabel *extra)
{
	if (!name_ok(name, true)) {
		b->bad = true;
		return false;
	}
	for (size_t i = 0; i < nl; i++)
		if (!name_ok(l[i].name, false) || !l[i].value) {
			b->bad = true;
			return false;
		}
	puts_(b, name);
	if (suffix)
		puts_(b, suffix);
	if (nl == 0 && !extra)
		return true;
	puts_(b, "{");
	for (size_t i = 0; i < nl + (extra ? 1 : 0); i++) {
		const struct tn_mlabel *x = i < nl ? &l[i] : extra;
		char small[256];
		size_t need = tn_mfmt_escape_label(x->value, small, sizeof small);
		if (i)
			puts_(b, ",");
		puts_(b, x->name);
		puts_(b, "=\"");
		if (need < sizeof small) {
			put(b, small, need);
		} else {
			char *big = malloc(need + 1);
			if (!big) {
				b->overflow = true;
				return false;
			}
			tn_mfmt_escape_label(x->value, big, need + 1);
			put(b, big, need);
			free(big);
		}
		puts_(b, "\"");
	}
	puts_(b, "}");
	return true;
}

void tn_mfmt_u64(struct tn_mbuf *b, const char *name, const struct tn_mlabel *l, size_t nl,
		 uint64_t v)
{
	char num[32];
	if (!head(b, name, NULL, l, nl, NULL))
		return;
	snprintf(num, sizeof num, " %llu\n", (unsigned long long)v);
	puts_(b, num);
}

void tn_mfmt_f64(struct tn_mbuf *b, const char *name, const struct tn_mlabel *l, size_t nl,
		 double v)
{
	char num[40];
	if (!head(b, name, NULL, l, nl, NULL))
		return;
	tn_mfmt_double(v, num, sizeof num);
	puts_(b, " ");
	puts_(b, num);
	puts_(b, "\n");
}

void tn_mfmt_hist(struct tn_mbuf *b, const char *name, const struct tn_mlabel *l, size_t nl,
		  const double *bounds, const uint64_t *counts, size_t nb, double sum)
{
	uint64_t cum = 0;
	char le[40], num[40];

	for (size_t i = 0; i <= nb; i++) {
		cum += counts[i];
		if (i < nb)
			tn_mfmt_double(bounds[i], le, sizeof le);
		else
			snprintf(le, sizeof le, "+Inf");
		struct tn_mlabel x = {"le", le};
		if (!head(b, name, "_bucket", l, nl, &x))
			return;
		snprintf(num, sizeof num, " %llu\n", (unsigned long long)cum);
		puts_(b, num);
	}
	if (!head(b, name, "_sum", l, nl, NULL))
		return;
	tn_mfmt_double(sum, num, sizeof num);
	puts_(b, " ");
	puts_(b, num);
	puts_(b, "\n");
	if (!head(b, name, "_count", l, nl, NULL))
		return;
	snprintf(num, sizeof num, " %llu\n", (unsigned long long)cum);
	puts_(b, num);
}
