/*
 * scenario.h - a drill scenario CSV (design §6) read into events.
 *
 *   t_offset_s,source,sector,asset,type,severity,summary
 *   time,source,sector,asset,type,severity,summary
 *
 * The first column is either seconds since the scenario's start (a decimal
 * with up to 6 fractional digits, >= 0), added to a base time, or an
 * absolute RFC 3339 time ("2026-11-26T16:52:00Z", "...+01:00"). The CSV is
 * the registry's (registry_csv.h): RFC 4180 quoting, line breaks inside
 * quotes, CRLF, a byte order mark. severity and summary may be empty;
 * sector and asset may be empty for a heartbeat only. Blank lines are
 * skipped (they keep their line number); a row's line is where it starts.
 *
 * Rows keep the file's order: that is the order of arrival a replay feeds
 * the engine, and the event times may go back and forth within it. Each
 * event's id is "L<line>", its 1-based line number in the file (the header
 * is line 1), so that a simulator's ground truth, which names lines, names
 * event ids too.
 *
 * The whole file is checked before anything is returned: every bad row is
 * reported (up to a bound) as "FILE:LINE: column: expected ..., got ..." and
 * then nothing is returned.
 */
#ifndef TN_SCENARIO_H
#define TN_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tocsin/event.h"

/* The base of t_offset_s unless the caller gives another: 2026-01-01T00:00:00Z. */
#define TN_SCENARIO_EPOCH_US INT64_C(1767225600000000)
/* The largest offset accepted: ten years. */
#define TN_SCENARIO_MAX_OFFSET_S INT64_C(315360000)

struct tn__scenario {
	struct tn_event *ev; /* n events in file order; strings owned by the scenario */
	uint32_t *line;	     /* line of each event */
	size_t n;
	bool absolute;			   /* the file had a `time` column */
	int64_t min_us, max_us;		   /* earliest and latest event time (0 when n is 0) */
	struct tn__scenario_block *blocks; /* string storage */
};

/*
 * tn__scenario_read - read the scenario at `path` (borrowed); offsets count
 * from base_us. Bad rows are written to `errs` (the caller's, may be NULL),
 * one line each, at most max_errors of them, followed by a count when there
 * were more. Returns 0 and sets *out (caller owns it: tn__scenario_free),
 * TN_EIO (unreadable; one line on errs), TN_EINVAL (bad rows: nothing
 * returned) or TN_ENOMEM. Main thread (any single thread).
 */
int tn__scenario_read(const char *path, int64_t base_us, FILE *errs, size_t max_errors,
		      struct tn__scenario **out);

/* tn__scenario_free - free a scenario and its strings. NULL is fine. */
void tn__scenario_free(struct tn__scenario *s);

/*
 * tn__csv_put - write `s` to f as one CSV field, quoted when it holds a
 * comma, a quote, or a line break. Returns 0 or TN_EIO.
 */
int tn__csv_put(FILE *f, const char *s);

#endif
