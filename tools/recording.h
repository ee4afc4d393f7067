/*
 * recording.h - a drill recording: events as JSON lines (docs/drills.md).
 *
 * One event per line, a JSON object with the wire keys of design §3.1:
 *
 *   {"id":"e-1","source":"ukpn/scada","type":"asset.down",
 *    "time":"2026-08-14T16:52:00.250000Z","sector":"energy",
 *    "asset":"SUB-ALD-PRI-07","severity":2,"summary":"...","geo":[52.6,-1.1],
 *    "attrs":{"k":"v"}}
 *
 * `time` is RFC 3339 (written in UTC with microseconds, the precision
 * PostgreSQL keeps) or integer milliseconds since the epoch; id, source,
 * type and time are required, sector and asset too except for a heartbeat.
 * Lines are in order of arrival (`tocsin record` writes them by journal
 * offset), which is the order a replay gives them to the engine. A
 * recording read from the journal also has the server's clock ticks, one
 * line each: {"tick":"2026-08-14T16:52:01.000000Z"}; a replay gives them to
 * the engine as ticks, so that it reproduces the live run exactly (such a
 * file is for replay only: `tocsin send` refuses the tick lines). Events keep
 * their own ids, so the incidents of a replay have the ids the live run gave
 * them (ids derive from the root event's source and id). The same file can be
 * sent to a server with `tocsin send`.
 */
#ifndef TN_RECORDING_H
#define TN_RECORDING_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "scenario.h"
#include "tocsin/event.h"

/* The type of a clock tick in a scenario read from a recording: not an event. */
#define TN__EV_TICK TN_EV__COUNT

/*
 * tn__recording_read - read the recording at `path` (borrowed) into a
 * scenario (absolute times; each event's line is its line in the file).
 * Every bad line is written to errs (may be NULL) as "FILE:LINE: key:
 * expected ..., got ...", at most max_errors, then a count; then nothing is
 * returned. Returns 0 and sets *out (caller owns it: tn__scenario_free),
 * TN_EIO (unreadable), TN_EINVAL (bad lines) or TN_ENOMEM. One thread.
 */
int tn__recording_read(const char *path, FILE *errs, size_t max_errors,
		       struct tn__scenario **out);

/*
 * tn__recording_time - time_us as RFC 3339 UTC with microseconds
 * ("2026-08-14T16:52:00.250000Z") into buf (cap >= 32). Returns 0 or
 * TN_ERANGE (a year outside 1970-9999). Pure.
 */
int tn__recording_time(int64_t time_us, char *buf, size_t cap);

/*
 * tn__recording_put - one event (borrowed) as one line of a recording on f,
 * with `attrs` (borrowed, may be NULL) as its attributes, or ev's own when
 * attrs is NULL. A TN__EV_TICK event is written as a tick line. Returns 0,
 * TN_EIO, TN_ERANGE (a time outside 1970-9999) or TN_ENOMEM. Any thread
 * that owns f.
 */
int tn__recording_put(FILE *f, const struct tn_event *ev, json_t *attrs);

#endif
