/* duration.c - `90s`, `30m`, `24h`, `7d` (duration.h). */
#include "duration.h"

#include "tocsin/error.h"

int tn__duration_parse(const char *s, int64_t *out_s)
{
	int64_t v = 0, unit;
	const char *p = s;

	if (!s || *p < '0' || *p > '9')
		return TN_EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (*p - '0');
		if (v > TN_DURATION_MAX_S)
			return TN_EINVAL;
	}
	switch (*p) {
	case '\0':
		if (v != 0)
			return TN_EINVAL; /* "30": seconds or days? say which */
		*out_s = 0;
		return 0;
	case 's':
		unit = 1;
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 86400;
		break;
	default:
		return TN_EINVAL;
	}
	if (p[1] != '\0' || v > TN_DURATION_MAX_S / unit)
		return TN_EINVAL;
	*out_s = v * unit;
	return 0;
}
