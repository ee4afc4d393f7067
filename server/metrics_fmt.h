/*
 * metrics_fmt.h - the Prometheus text exposition format (version 0.0.4),
 * written into a bounded buffer.
 *
 * A family starts with tn_mfmt_family (# HELP and # TYPE); its samples
 * follow. Label values are escaped (backslash, double quote, newline), HELP
 * text too (backslash, newline); metric and label names are the caller's
 * constants and are checked against [a-zA-Z_:][a-zA-Z0-9_:]* (labels: no
 * colon): a bad one marks the buffer `bad` and is not written, so a typo
 * shows up in the unit tests rather than as an unparseable scrape.
 * Histograms take per-bucket counts and write the cumulative _bucket
 * series, then _sum and _count (the +Inf bucket), as the format requires.
 *
 * The buffer never grows past `max` bytes: a write that does not fit sets
 * `overflow` and is dropped (the caller answers 500 rather than half a
 * scrape).
 *
 * Thread contract: a buffer belongs to one thread. Pure otherwise.
 */
#ifndef TN_METRICS_FMT_H
#define TN_METRICS_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tn_mbuf {
	char *data; /* malloc'd, NUL-terminated; the caller frees (or hands it on) */
	size_t len, cap, max;
	bool overflow; /* a write did not fit in max (or malloc failed) */
	bool bad;      /* a metric or label name was not valid */
};

struct tn_mlabel {
	const char *name, *value; /* borrowed; value any bytes (escaped) */
};

/* tn_mbuf_init - an empty buffer of at most `max` bytes. Allocates lazily. */
void tn_mbuf_init(struct tn_mbuf *b, size_t max);

/* tn_mbuf_free - release the data (NULL data is fine). */
void tn_mbuf_free(struct tn_mbuf *b);

/*
 * tn_mfmt_family - "# HELP name help" and "# TYPE name type"; `type` is
 * "counter", "gauge" or "histogram" (anything else marks `bad`).
 */
void tn_mfmt_family(struct tn_mbuf *b, const char *name, const char *type, const char *help);

/* tn_mfmt_u64 / tn_mfmt_f64 - one sample `name{labels} value`; nl labels (0: none). */
void tn_mfmt_u64(struct tn_mbuf *b, const char *name, const struct tn_mlabel *l, size_t nl,
		 uint64_t v);
void tn_mfmt_f64(struct tn_mbuf *b, const char *name, const struct tn_mlabel *l, size_t nl,
		 double v);

/*
 * tn_mfmt_hist - the samples of histogram `name` with labels l: for each of
 * the nb finite upper bounds (ascending) `name_bucket{...,le="b"}` with the
 * count of observations <= b (the sum of counts[0..i]), then le="+Inf" with
 * all of counts[0..nb] (nb + 1 entries: the last counts what exceeds every
 * bound), then `name_sum` and `name_count`.
 */
void tn_mfmt_hist(struct tn_mbuf *b, const char *name, const struct tn_mlabel *l, size_t nl,
		  const double *bounds, const uint64_t *counts, size_t nb, double sum);

/*
 * tn_mfmt_escape_label - `v` escaped for a label value into out (outlen
 * bytes, NUL-terminated, cut short rather than overflow). Returns the
 * length it needed (like snprintf). Pure.
 */
size_t tn_mfmt_escape_label(const char *v, char *out, size_t outlen);

/* tn_mfmt_double - a value as Prometheus parses it (shortest round-trip; NaN, +Inf, -Inf). */
void tn_mfmt_double(double v, char *out, size_t outlen);

#endif
