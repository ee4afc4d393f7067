/*
 * log.h - one line per record, key=value, to stderr (journald takes it).
 *
 *   ts=2026-11-26T00:41:38.123Z level=info msg="journal opened" dir=/var/j segments=3
 *
 * Messages are lowercase with no final period (PostgreSQL style). Never log a
 * secret key. Messages an attacker can trigger go through tn_log_limited().
 * Any thread: each record is written with one write(2).
 */
#ifndef TN_LOG_H
#define TN_LOG_H

#include <stdint.h>

enum tn_log_level { TN_LOG_DEBUG, TN_LOG_INFO, TN_LOG_WARN, TN_LOG_ERROR };

/* Records below this level are dropped. Any thread (a reload sets it while
 * others log). */
void tn_log_set_level(enum tn_log_level level);
/* "debug", "info", "warn", "error" ("?" for anything else). Static. Pure. */
const char *tn_log_level_name(int level);
/* Parse "debug", "info", "warn", "error"; returns the level or -1. */
int tn_log_level_parse(const char *s);

/*
 * tn_log - write one record: `msg` is quoted; `kv` is a printf format of
 * further key=value pairs (may be NULL). Values the caller does not control
 * should be quoted with %s inside "..." by the caller.
 */
void tn_log(enum tn_log_level level, const char *msg, const char *kv, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * tn_log_limited - as tn_log, but at most `per_s` records per second for this
 * `slot` (a static counter the caller owns); records over the limit are
 * counted and their number is reported with the next record that passes.
 * For anything a peer can make us log. Thread: one slot per thread.
 */
struct tn_log_slot {
	int64_t window_s;
	uint32_t in_window;
	uint64_t suppressed;
};
void tn_log_limited(struct tn_log_slot *slot, uint32_t per_s, enum tn_log_level level,
		    const char *msg, const char *kv, ...)
	__attribute__((format(printf, 5, 6)));

/*
 * tn_logq - `s` escaped for use inside a quoted log value: backslash, quote
 * and control characters become \\ \" \n \xNN; cut at 255 bytes (with
 * "..."). Returns one of 4 thread-local buffers, reused on the 5th call: use
 * the result within one tn_log call. NULL gives "-". Any thread.
 */
const char *tn_logq(const char *s);

#define tn_debug(msg, ...) tn_log(TN_LOG_DEBUG, msg, __VA_ARGS__)
#define tn_info(msg, ...) tn_log(TN_LOG_INFO, msg, __VA_ARGS__)
#define tn_warn(msg, ...) tn_log(TN_LOG_WARN, msg, __VA_ARGS__)
#define tn_error(msg, ...) tn_log(TN_LOG_ERROR, msg, __VA_ARGS__)

#endif
