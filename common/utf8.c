/* utf8.c - strict UTF-8 validation (utf8.h). */
#include "utf8.h"

#include "tocsin/error.h"

static int fault_at(struct tn__utf8_fault *fault, enum tn__utf8_fault_kind kind, size_t at)
{
	if (fault) {
		fault->kind = kind;
		fault->at = at;
	}
	return TN_EINVAL;
}

int tn__utf8_check(const void *s, size_t len, unsigned flags, struct tn__utf8_fault *fault)
{
	const unsigned char *p = s;
	size_t i = 0;

	while (i < len) {
		unsigned c = p[i];
		unsigned lo = 0x80, hi = 0xbf; /* allowed range of the first continuation byte */
		size_t n;

		if (c < 0x80) {
			if (c == 0)
				return fault_at(fault, TN__UTF8_NUL, i);
			if ((flags & TN__UTF8_NO_CONTROL) && (c < 0x20 || c == 0x7f))
				return fault_at(fault, TN__UTF8_CONTROL, i);
			i++;
			continue;
		}
		/*
		 * The RFC 3629 table: the narrowed ranges of the first continuation
		 * byte are what exclude overlongs (e0, f0), surrogates (ed) and
		 * code points above U+10FFFF (f4).
		 */
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else {
			return fault_at(fault, TN__UTF8_INVALID, i);
		}
		if (len - i - 1 < n)
			return fault_at(fault, TN__UTF8_INVALID, i);
		if (p[i + 1] < lo || p[i + 1] > hi)
			return fault_at(fault, TN__UTF8_INVALID, i);
		for (size_t k = 2; k <= n; k++)
			if (p[i + k] < 0x80 || p[i + k] > 0xbf)
				return fault_at(fault, TN__UTF8_INVALID, i);
		i += n + 1;
	}
	return 0;
}
