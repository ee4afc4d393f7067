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
	size_t n, cap;
	bool absolute;			   /* the file had a `time` column */
	int64_t min_us, max_us;		   /* earliest and latest event time (0 when n is 0) */
	struct tn__scenario_block *blocks; /* string storage */
};

/* Bad rows of an input file: where they go, and how many were found. */
struct tn__rows {
	const char *path;
	FILE *errs;	   /* may be NULL */
	size_t max_errors; /* written; the others only counted */
	size_t bad;	   /* found */
};

/* tn__rows_bad - count a bad row and write "PATH:LINE: <message>" unless
 * max_errors were written already. One thread. */
void tn__rows_bad(struct tn__rows *r, unsigned long line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* tn__rows_end - write how many bad rows were not written, if any; returns
 * TN_EINVAL when there were bad rows, else 0. */
int tn__rows_end(struct tn__rows *r);

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

/*
 * tn__scenario_read_ids - tn__scenario_read with event ids "<id_prefix><line>"
 * ('L' for tn__scenario_read): an injected scenario (`replay --inject`)
 * takes 'I', so that its ids never collide with those of the file it is
 * merged into. Same errors and ownership.
 */
int tn__scenario_read_ids(const char *path, int64_t base_us, char id_prefix, FILE *errs,
			  size_t max_errors, struct tn__scenario **out);

/*
 * tn__scenario_new - an empty scenario (caller owns it: tn__scenario_free).
 * Returns 0 or TN_ENOMEM.
 * tn__scenario_add - append a copy of `ev` (its id, source, asset and
 * summary are copied; its attributes are not kept: the engine reads none)
 * read at `line`, keeping min_us and max_us. Returns 0 or TN_ENOMEM (nothing
 * added). One thread at a time.
 */
int tn__scenario_new(struct tn__scenario **out);
int tn__scenario_add(struct tn__scenario *sc, uint32_t line, const struct tn_event *ev);

/*
 * tn__scenario_merge - the events of `base` in their order, with those of
 * `inject` (stably sorted by time first) merged in by event time: an
 * injected event goes before the first base event later than it, after
 * those at the same time. base keeps its order of arrival, so a recording
 * whose times go back and forth stays as it arrived. Sets *out (caller owns
 * it); base and inject are borrowed. Returns 0 or TN_ENOMEM. Deterministic.
 */
int tn__scenario_merge(const struct tn__scenario *base, const struct tn__scenario *inject,
		       struct tn__scenario **out);

/*
 * tn__drill_input_read - a scenario CSV or a recording (JSON lines,
 * recording.h), told apart by the extension (.jsonl, .ndjson, .json) or
 * else by the first character that is not white space ('{'). Arguments,
 * errors and ownership as tn__scenario_read_ids (ids of a recording are its
 * own).
 */
int tn__drill_input_read(const char *path, int64_t base_us, char id_prefix, FILE *errs,
			 size_t max_errors, struct tn__scenario **out);

/* tn__scenario_free - free a scenario and its strings. NULL is fine. */
void tn__scenario_free(struct tn__scenario *s);

/*
 * tn__csv_put - write `s` to f as one CSV field, quoted when it holds a
 * comma, a quote, or a line break. Returns 0 or TN_EIO.
 */
int tn__csv_put(FILE *f, const char *s);

#endif
