/*
 * wire_scan.c - the bounded pre-scan of an ingest frame (wire.h, design §7).
 *
 * msgpack-c allocates room for a container's declared count before it reads
 * a single element, so the five bytes `dd ff ff ff ff` (an array claiming
 * 2^32-1 elements) would make it ask for ~96 GiB. This walk reads the
 * MessagePack bytes without allocating and refuses a frame before msgpack-c
 * ever sees it when:
 *  - a str/bin/ext length runs past the end of the frame;
 *  - the objects still owed by all open containers, plus a new container's
 *    count, exceed the bytes left (each object takes at least one byte, so a
 *    map entry at least two): the allocation msgpack-c then makes is bounded
 *    by the frame's own size;
 *  - an object sits deeper than max_depth, or there are more than
 *    max_objects objects (which bounds msgpack-c's zone to max_objects *
 *    sizeof(msgpack_object) whatever the frame holds);
 *  - the frame ends early, or bytes follow the one object.
 *
 * Depth accounting: the top-level object is at depth 1 and an element (key or
 * value) of a container at depth k is at depth k + 1. Every object, empty
 * containers included, must be at depth <= max_depth. With TN_WIRE_MAX_DEPTH
 * (4): batch array 1 > event map 2 > attrs map or geo array 3 > scalar 4.
 */
#include "wire.h"

#include <stdarg.h>
#include <stdio.h>

#include "tocsin/error.h"

/* The open containers we can track; also msgpack-c's own parser stack size. */
#define SCAN_STACK 32

enum scan_kind { SK_SCALAR, SK_STR, SK_BIN, SK_EXT, SK_ARRAY, SK_MAP };

static const char *const kind_names[] = {"scalar", "str", "bin", "ext", "array", "map"};

__attribute__((format(printf, 3, 4))) static int scan_fail(char *msg, size_t msglen,
							  const char *fmt, ...)
{
	va_list ap;

	if (msg && msglen) {
		va_start(ap, fmt);
		vsnprintf(msg, msglen, fmt, ap);
		va_end(ap);
	}
	return TN_EDECODE;
}

static uint64_t load_be(const unsigned char *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

int tn_wire_scan(const void *buf, size_t len, unsigned max_depth, size_t max_objects,
		 char *msg, size_t msglen)
{
	const unsigned char *b = buf;
	uint64_t rem[SCAN_STACK]; /* elements still owed by each open container */
	unsigned depth = 0;       /* open containers */
	uint64_t need = 1;        /* objects still owed in all: the top one to start */
	size_t objects = 0, p = 0;

	if (msg && msglen)
		msg[0] = '\0';
	if (max_depth > SCAN_STACK)
		max_depth = SCAN_STACK;
	if (len == 0 || b == NULL)
		return scan_fail(msg, msglen, "empty frame: expected one MessagePack object");

	while (need > 0) {
		size_t left = len - p;
		enum scan_kind kind = SK_SCALAR;
		unsigned c, lenbytes = 0; /* size of an explicit length or count field */
		uint64_t hdr = 1, body = 0, count = 0;

		if (left == 0)
			return scan_fail(msg, msglen,
					 "truncated: the frame ends at byte %zu with %llu more "
					 "object(s) declared",
					 len, (unsigned long long)need);
		if (depth + 1 > max_depth)
			return scan_fail(msg, msglen,
					 "nesting deeper than %u levels at byte %zu", max_depth,
					 p);
		if (++objects > max_objects)
			return scan_fail(msg, msglen, "more than %zu objects in the frame",
					 max_objects);

		c = b[p];
		if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
			/* fixint, nil, false, true: the byte is the object */
		} else if (c <= 0x8f) {
			kind = SK_MAP;
			count = c & 0x0f;
		} else if (c <= 0x9f) {
			kind = SK_ARRAY;
			count = c & 0x0f;
		} else if (c <= 0xbf) {
			kind = SK_STR;
			body = c & 0x1f;
		} else {
			switch (c) {
			case 0xc4: kind = SK_BIN; lenbytes = 1; break;
			case 0xc5: kind = SK_BIN; lenbytes = 2; break;
			case 0xc6: kind = SK_BIN; lenbytes = 4; break;
			case 0xc7: kind = SK_EXT; lenbytes = 1; break;
			case 0xc8: kind = SK_EXT; lenbytes = 2; break;
			case 0xc9: kind = SK_EXT; lenbytes = 4; break;
			case 0xca: body = 4; break;
			case 0xcb: body = 8; break;
			case 0xcc: case 0xd0: body = 1; break;
			case 0xcd: case 0xd1: body = 2; break;
			case 0xce: case 0xd2: body = 4; break;
			case 0xcf: case 0xd3: body = 8; break;
			case 0xd4: kind = SK_EXT; body = 1 + 1; break; /* type byte + data */
			case 0xd5: kind = SK_EXT; body = 1 + 2; break;
			case 0xd6: kind = SK_EXT; body = 1 + 4; break;
			case 0xd7: kind = SK_EXT; body = 1 + 8; break;
			case 0xd8: kind = SK_EXT; body = 1 + 16; break;
			case 0xd9: kind = SK_STR; lenbytes = 1; break;
			case 0xda: kind = SK_STR; lenbytes = 2; break;
			case 0xdb: kind = SK_STR; lenbytes = 4; break;
			case 0xdc: kind = SK_ARRAY; lenbytes = 2; break;
			case 0xdd: kind = SK_ARRAY; lenbytes = 4; break;
			case 0xde: kind = SK_MAP; lenbytes = 2; break;
			case 0xdf: kind = SK_MAP; lenbytes = 4; break;
			default: /* 0xc1, never used */
				return scan_fail(msg, msglen,
						 "invalid MessagePack byte 0x%02x at byte %zu", c,
						 p);
			}
		}
		hdr += lenbytes;
		if (left < hdr)
			return scan_fail(msg, msglen,
					 "truncated: %s header at byte %zu needs %u bytes, "
					 "%zu left",
					 kind_names[kind], p, (unsigned)hdr, left);
		if (kind == SK_ARRAY || kind == SK_MAP)
			count += load_be(b + p + 1, lenbytes);
		else if (lenbytes) /* ext: the type byte follows the length */
			body = load_be(b + p + 1, lenbytes) + (kind == SK_EXT);
		if (body > left - hdr) {
			uint64_t data = body - (kind == SK_EXT);

			return scan_fail(msg, msglen,
					 "%s of %llu bytes at byte %zu runs past the end of the "
					 "frame (%zu bytes left)",
					 kind_names[kind], (unsigned long long)data, p,
					 (size_t)(left - hdr));
		}
		p += hdr + body;
		need--;
		if (depth > 0)
			rem[depth - 1]--;

		if (count > 0) {
			uint64_t objs = kind == SK_MAP ? 2 * count : count;
			size_t after = len - p;

			/* Every object owed, old and new, takes at least one byte. */
			if (objs > after || need > after - objs)
				return scan_fail(msg, msglen,
						 "%s of %llu %s at byte %zu declares more than the "
						 "%zu bytes left can hold",
						 kind_names[kind], (unsigned long long)count,
						 kind == SK_MAP ? "entries" : "elements",
						 p - (size_t)hdr, after);
			need += objs;
			rem[depth++] = objs; /* depth < max_depth <= SCAN_STACK here */
		} else {
			while (depth > 0 && rem[depth - 1] == 0)
				depth--;
		}
	}
	if (p != len)
		return scan_fail(msg, msglen,
				 "trailing bytes: %zu after the object that ends at byte %zu",
				 len - p, p);
	return 0;
}
