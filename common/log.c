/* log.c - key=value log records on stderr (log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Atomic: a reload (SIGHUP) sets it while every thread logs. */
static atomic_int min_level = TN_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void tn_log_set_level(enum tn_log_level level)
{
	atomic_store_explicit(&min_level, (int)level, memory_order_relaxed);
}

const char *tn_log_level_name(int level)
{
	return level >= 0 && level < 4 ? level_names[level] : "?";
}

int tn_log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

/*
 * Copy the formatted text of a record into `out`, escaping what would break
 * the one-line form: a caller that forgot tn_logq on a peer's value still
 * gives one line (\n, \r, \t and other control bytes become \n \r \t
 * \xNN). Returns the bytes written; stops before `room` runs out (and sets
 * *cut).
 */
static size_t one_line(char *out, size_t room, const char *in, size_t n, bool *cut)
{
	size_t w = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		char esc[5];
		size_t k = 1;
		esc[0] = (char)c;
		if (c == '\n' || c == '\r' || c == '\t') {
			esc[0] = '\\';
			esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
			k = 2;
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof esc, "\\x%02x", c);
			k = 4;
		}
		if (w + k > room) {
			*cut = true;
			break;
		}
		memcpy(out + w, esc, k);
		w += k;
	}
	return w;
}

static void vlog(enum tn_log_level level, uint64_t suppressed, const char *msg, const char *kv,
		 va_list ap)
{
	char line[2048], body[2048];
	/* room kept at the end for " suppressed=N truncated=true\n" */
	const size_t tail = 48, room = sizeof line - tail;
	struct timespec ts;
	struct tm tm;
	size_t n;
	bool cut = false;

	if ((int)level < atomic_load_explicit(&min_level, memory_order_relaxed))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof line, "ts=%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(line + n, sizeof line - n, ".%03ldZ level=%s msg=\"", ts.tv_nsec / 1000000,
			      level_names[level]);
	n += one_line(line + n, room - n - 1, msg, strlen(msg), &cut);
	line[n++] = '"';
	if (kv && *kv && !cut) {
		int k = vsnprintf(body, sizeof body, kv, ap);
		if (k > 0) {
			size_t len = (size_t)k < sizeof body ? (size_t)k : sizeof body - 1;
			if ((size_t)k >= sizeof body)
				cut = true;
			line[n++] = ' ';
			n += one_line(line + n, room - n, body, len, &cut);
		}
	}
	if (suppressed)
		n += (size_t)snprintf(line + n, sizeof line - n, " suppressed=%llu",
				      (unsigned long long)suppressed);
	if (cut)
		n += (size_t)snprintf(line + n, sizeof line - n, " truncated=true");
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
}

void tn_log(enum tn_log_level level, const char *msg, const char *kv, ...)
{
	va_list ap;
	va_start(ap, kv);
	vlog(level, 0, msg, kv, ap);
	va_end(ap);
}

void tn_log_limited(struct tn_log_slot *slot, uint32_t per_s, enum tn_log_level level,
		    const char *msg, const char *kv, ...)
{
	struct timespec ts;
	va_list ap;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (ts.tv_sec != slot->window_s) {
		slot->window_s = ts.tv_sec;
		slot->in_window = 0;
	}
	if (slot->in_window >= per_s) {
		slot->suppressed++;
		return;
	}
	slot->in_window++;
	va_start(ap, kv);
	vlog(level, slot->suppressed, msg, kv, ap);
	va_end(ap);
	slot->suppressed = 0;
}

const char *tn_logq(const char *s)
{
	static _Thread_local char bufs[4][272];
	static _Thread_local unsigned next;
	char *out = bufs[next++ % 4];
	size_t n = 0;

	if (!s)
		return "-";
	for (; *s && n < 255; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c == '\n') {
			out[n++] = '\\';
			out[n++] = 'n';
		} else if (c < 0x20 || c == 0x7f) {
			n += (size_t)snprintf(out + n, 5, "\\x%02x", c);
		} else {
			out[n++] = (char)c;
		}
	}
	if (*s) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = 0;
	return out;
}
