/*
 * utf8.h - strict UTF-8 validation of strings that arrive from the wire.
 *
 * Strict means RFC 3629: no overlong forms, no UTF-16 surrogates (U+D800..
 * U+DFFF), nothing above U+10FFFF, no stray continuation bytes, no truncated
 * sequences. A NUL byte is always refused (PostgreSQL text cannot hold it);
 * ASCII control characters (0x01..0x1f, 0x7f) are refused on request, for
 * identifiers that end up in logs, topics and file names.
 */
#ifndef TN_UTF8_H
#define TN_UTF8_H

#include <stddef.h>

#define TN__UTF8_NO_CONTROL 1u /* flag: refuse ASCII control characters too */

enum tn__utf8_fault_kind { TN__UTF8_INVALID, TN__UTF8_NUL, TN__UTF8_CONTROL };

struct tn__utf8_fault {
	enum tn__utf8_fault_kind kind;
	size_t at; /* byte offset of the offending sequence or character */
};

/*
 * tn__utf8_check - whether the `len` bytes at `s` (borrowed) are valid UTF-8
 * under `flags`. Returns 0, or TN_EINVAL with *fault (may be NULL) saying
 * what was wrong and where. Pure; any thread.
 */
int tn__utf8_check(const void *s, size_t len, unsigned flags, struct tn__utf8_fault *fault);

#endif
