/*
 * time.c - event times as adapters hold them: integer milliseconds or
 * ISO 8601 (design §3.1 puts microseconds in struct tn_event).
 */
#include "adapter_int.h"

#include <ctype.h>
#include <string.h>
#include <time.h>

int64_t tn_adapter_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Days from 1970-01-01 to y-m-d, proleptic Gregorian (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* Exactly n digits at *p; advances. */
static bool digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static int parse_ms(const char *s, int64_t *time_us)
{
	int64_t ms = 0;

	for (const char *p = s; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return TN_EINVAL;
		if (ms > (INT64_MAX / 1000 - 9) / 10)
			return TN_EINVAL;
		ms = ms * 10 + (*p - '0');
	}
	*time_us = ms * 1000;
	return 0;
}

int tn_adapter_parse_time(const char *s, int64_t *time_us)
{
	static const unsigned char mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	const char *p = s;
	int y, mo, d, h, mi, sec, oh = 0, om = 0;
	int64_t frac_us = 0, off_s = 0;
	unsigned dim;

	if (!s || !time_us || !*s)
		return TN_EINVAL;
	if (strlen(s) < 5 || s[4] != '-')
		return parse_ms(s, time_us);
	if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
	    !digits(&p, 2, &d))
		return TN_EINVAL;
	if (*p != 'T' && *p != 't')
		return TN_EINVAL;
	p++;
	if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' ||
	    !digits(&p, 2, &sec))
		return TN_EINVAL;
	if (*p == '.' || *p == ',') {
		int64_t scale = 100000;
		p++;
		if (!isdigit((unsigned char)*p))
			return TN_EINVAL;
		for (int n = 0; isdigit((unsigned char)*p); p++, n++) {
			if (n >= 9)
				return TN_EINVAL;
			frac_us += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1;
		if (!digits(&p, 2, &oh))
			return TN_EINVAL;
		if (*p == ':')
			p++;
		if (!digits(&p, 2, &om) || oh > 23 || om > 59)
			return TN_EINVAL;
		off_s = sign * (oh * 3600 + om * 60);
	} else {
		return TN_EINVAL; /* a local time without an offset is ambiguous */
	}
	if (*p)
		return TN_EINVAL;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59)
		return TN_EINVAL;
	dim = mdays[mo - 1] + (mo == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));
	if ((unsigned)d > dim)
		return TN_EINVAL;
	int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
		       sec - off_s;
	if (secs < 0)
		return TN_EINVAL;
	*time_us = secs * 1000000 + frac_us;
	return 0;
}
