/*
 * validate.c - client-side checks of an event before it is queued.
 *
 * The server remains the judge (it also checks scopes, the registry and the
 * time window); these checks catch, with a clear message and before anything
 * is sent, the mistakes an adapter author makes: a missing field, a bad enum,
 * an over-long string, Latin-1 text. The limits are those of tocsin/event.h,
 * the ones the server enforces.
 */
#include "adapter_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bool tn__utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	while (p < end) {
		unsigned c = *p++;
		unsigned need;
		uint32_t cp;

		if (c < 0x80) {
			if (c == 0)
				return false;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if ((size_t)(end - p) < need)
			return false;
		for (unsigned k = 0; k < need; k++) {
			if ((p[k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[k] & 0x3f);
		}
		p += need;
		/* overlong forms, surrogates, beyond U+10FFFF */
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
	}
	return true;
}

static int fail(char *msg, size_t msglen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *msg, size_t msglen, const char *fmt, ...)
{
	va_list ap;

	if (msg && msglen) {
		va_start(ap, fmt);
		vsnprintf(msg, msglen, fmt, ap);
		va_end(ap);
	}
	return TN_ESCHEMA;
}

/* A string field: present when `required`, 1..max bytes, UTF-8. */
static int check_str(const char *field, const char *s, size_t max, bool required, char *msg,
		     size_t msglen)
{
	size_t len;

	if (!s) {
		if (required)
			return fail(msg, msglen, "%s: required", field);
		return 0;
	}
	len = strnlen(s, max + 1);
	if (len == 0)
		return fail(msg, msglen, "%s: expected 1..%zu bytes, got an empty string", field,
			    max);
	if (len > max)
		return fail(msg, msglen, "%s: expected at most %zu bytes, got more", field, max);
	if (!tn__utf8_valid(s, len))
		return fail(msg, msglen, "%s: expected UTF-8 text", field);
	return 0;
}

static int check_attrs(const struct tn_event *ev, char *msg, size_t msglen)
{
	char field[TN_WIRE_MAX_ATTR_KEY + 16];
	int rc;

	if (ev->n_attrs == 0)
		return 0;
	if (ev->n_attrs > TN_WIRE_MAX_ATTRS)
		return fail(msg, msglen, "attrs: expected at most %d entries, got %zu",
			    TN_WIRE_MAX_ATTRS, ev->n_attrs);
	if (!ev->attrs)
		return fail(msg, msglen, "attrs: n_attrs is %zu but attrs is NULL", ev->n_attrs);
	for (size_t i = 0; i < ev->n_attrs; i++) {
		const struct tn_attr *at = &ev->attrs[i];

		snprintf(field, sizeof field, "attrs[%zu] key", i);
		rc = check_str(field, at->key, TN_WIRE_MAX_ATTR_KEY, true, msg, msglen);
		if (rc)
			return rc;
		for (size_t j = 0; j < i; j++)
			if (strcmp(ev->attrs[j].key, at->key) == 0)
				return fail(msg, msglen, "attrs: key \"%s\" given twice", at->key);
		snprintf(field, sizeof field, "attrs.%s", at->key);
		switch (at->kind) {
		case TN_ATTR_STR:
			if (!at->v.s)
				return fail(msg, msglen, "%s: string value is NULL", field);
			if (at->v.s[0] == '\0')
				break; /* an empty string value is fine */
			rc = check_str(field, at->v.s, TN_WIRE_MAX_ATTR_STR, true, msg, msglen);
			if (rc)
				return rc;
			break;
		case TN_ATTR_FLOAT:
			if (!isfinite(at->v.f))
				return fail(msg, msglen, "%s: expected a finite number", field);
			break;
		case TN_ATTR_INT:
		case TN_ATTR_BOOL:
			break;
		default:
			return fail(msg, msglen, "%s: unknown value kind %d", field, (int)at->kind);
		}
	}
	return 0;
}

int tn_adapter_validate(const struct tn_event *ev, char *msg, size_t msglen)
{
	const char *tname;
	bool hb;
	int rc;

	if (msg && msglen)
		msg[0] = '\0';
	if (!ev) {
		if (msg && msglen)
			snprintf(msg, msglen, "event: NULL");
		return TN_EINVAL;
	}
	if ((rc = check_str("id", ev->id, TN_WIRE_MAX_ID, true, msg, msglen)) ||
	    (rc = check_str("source", ev->source, TN_WIRE_MAX_SOURCE, true, msg, msglen)))
		return rc;
	tname = tn_event_type_name(ev->type);
	if (!tname)
		return fail(msg, msglen,
			    "type: expected one of asset.down, asset.degraded, asset.up, "
			    "asset.alarm, heartbeat, got %d",
			    (int)ev->type);
	hb = ev->type == TN_EV_HEARTBEAT;
	if (ev->sector == TN_SECTOR_NONE) {
		if (!hb)
			return fail(msg, msglen, "sector: required for type %s", tname);
	} else if (!tn_sector_name(ev->sector)) {
		return fail(msg, msglen, "sector: expected a sector code, got %d", (int)ev->sector);
	}
	if (!ev->asset && !hb)
		return fail(msg, msglen, "asset: required for type %s", tname);
	if ((rc = check_str("asset", ev->asset, TN_WIRE_MAX_ASSET, false, msg, msglen)))
		return rc;
	if (ev->severity < 0 || ev->severity > 5)
		return fail(msg, msglen, "severity: expected an integer 1..5 (0 = default), got %d",
			    ev->severity);
	if ((rc = check_str("summary", ev->summary, TN_WIRE_MAX_SUMMARY, false, msg, msglen)))
		return rc;
	if (ev->has_geo && (!isfinite(ev->lat) || !isfinite(ev->lon) || ev->lat < -90 ||
			    ev->lat > 90 || ev->lon < -180 || ev->lon > 180))
		return fail(msg, msglen,
			    "geo: expected [lat, lon] with lat -90..90 and lon -180..180, got "
			    "[%g, %g]",
			    ev->lat, ev->lon);
	return check_attrs(ev, msg, msglen);
}
