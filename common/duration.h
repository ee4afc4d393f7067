/*
 * duration.h - a length of time as operators write it: a whole number and a
 * unit, `90s`, `30m`, `24h`, `7d` (seconds, minutes, hours, days); `0` alone
 * is zero. Used by `[keys] warn_before` (server/config.c) and by `tocsin
 * adapter add --expires`, `rotate --grace` (tools/cmd_adapter.c).
 *
 * Thread contract: pure.
 */
#ifndef TN_DURATION_H
#define TN_DURATION_H

#include <stdint.h>

#define TN_DURATION_MAX_S (3650LL * 86400) /* ten years: beyond it, a typo */

/*
 * tn__duration_parse - `s` into *out_s (seconds). Returns 0, or TN_EINVAL
 * (empty, no unit, an unknown unit, a sign, spaces, anything after the unit,
 * or over TN_DURATION_MAX_S); *out_s is unchanged then. `s` is borrowed.
 */
int tn__duration_parse(const char *s, int64_t *out_s);

#endif
