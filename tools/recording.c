/*
 * recording.c - read a drill recording, events as JSON lines (recording.h).
 *
 * Each line is parsed on its own (jansson), checked key by key with the
 * wire's limits, and copied into the scenario's storage; a bad line costs one
 * message, and the rest of the file is still checked.
 */
#include "recording.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tocsin/adapter.h"
#include "tocsin/error.h"
#include "utf8.h"

#define MAX_LINE (1024 * 1024) /* bytes of one line, as a wire frame */

static bool blank(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int tn__recording_time(int64_t time_us, char *buf, size_t cap)
{
	time_t t = (time_t)(time_us >= 0 ? time_us / 1000000 : -1);
	struct tm tm;

	if (time_us < 0 || !gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999 || cap < 32)
		return TN_ERANGE;
	snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(time_us % 1000000));
	return 0;
}

int tn__recording_put(FILE *f, const struct tn_event *ev, json_t *attrs)
{
	json_t *o = json_object();
	char t[40], *text = NULL;
	int rc = TN_ENOMEM;

	if (!o)
		return TN_ENOMEM;
	if ((rc = tn__recording_time(ev->time_us, t, sizeof t)) != 0)
		goto out;
	rc = TN_ENOMEM;
	if (ev->type == TN__EV_TICK) {
		json_object_set_new(o, "tick", json_string(t));
	} else {
		json_object_set_new(o, "id", json_string(ev->id));
		json_object_set_new(o, "source", json_string(ev->source));
		json_object_set_new(o, "type", json_string(tn_event_type_name(ev->type)));
		json_object_set_new(o, "time", json_string(t));
		if (ev->sector != TN_SECTOR_NONE)
			json_object_set_new(o, "sector", json_string(tn_sector_name(ev->sector)));
		if (ev->asset)
			json_object_set_new(o, "asset", json_string(ev->asset));
		if (ev->severity)
			json_object_set_new(o, "severity", json_integer(ev->severity));
		if (ev->summary)
			json_object_set_new(o, "summary", json_string(ev->summary));
		if (ev->has_geo)
			json_object_set_new(o, "geo", json_pack("[ff]", ev->lat, ev->lon));
		if (attrs) {
			json_object_set(o, "attrs", attrs);
		} else if (ev->n_attrs) {
			json_t *a = json_object();

			for (size_t i = 0; a && i < ev->n_attrs; i++) {
				const struct tn_attr *x = &ev->attrs[i];

				json_object_set_new(a, x->key,
						    x->kind == TN_ATTR_STR   ? json_string(x->v.s)
						    : x->kind == TN_ATTR_INT ? json_integer(x->v.i)
						    : x->kind == TN_ATTR_FLOAT ? json_real(x->v.f)
									       : json_boolean(x->v.b));
			}
			json_object_set_new(o, "attrs", a);
		}
	}
	if ((text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII)))
		rc = fprintf(f, "%s\n", text) < 0 ? TN_EIO : 0;
out:
	free(text);
	json_decref(o);
	return rc;
}

/* A tick line: {"tick": time} and nothing else. */
static bool tick(struct tn__rows *r, unsigned long line, json_t *o, struct tn_event *ev)
{
	const char *s = json_string_value(json_object_get(o, "tick"));

	memset(ev, 0, sizeof *ev);
	if (json_object_size(o) != 1 || !s || tn_adapter_parse_time(s, &ev->time_us) != 0) {
		tn__rows_bad(r, line, "tick: expected {\"tick\": an RFC 3339 time} alone");
		return false;
	}
	ev->type = TN__EV_TICK;
	ev->id = "tick";
	ev->source = "tick";
	ev->sector = TN_SECTOR_NONE;
	return true;
}

/* A string member of at most max bytes of UTF-8 (no control characters
 * unless free text); NULL when absent. *ok is cleared on a bad value. */
static const char *str(struct tn__rows *r, unsigned long line, json_t *o, const char *key, size_t min,
		       size_t max, unsigned flags, bool *ok)
{
	json_t *v = json_object_get(o, key);
	const char *s;
	size_t len;

	if (!v)
		return NULL;
	s = json_string_value(v);
	len = s ? json_string_length(v) : 0;
	if (!s || len < min || len > max || strlen(s) != len ||
	    tn__utf8_check(s, len, flags, NULL) != 0) {
		tn__rows_bad(r, line, "%s: expected a string of %zu-%zu bytes of UTF-8 text", key, min,
		    max);
		*ok = false;
		return NULL;
	}
	return s;
}

static const char *const keys[] = {"id",       "source",  "type", "time", "sector", "asset",
				   "severity", "summary", "geo",  "attrs"};

/* Check one object; fill *ev with pointers into it. */
static bool event(struct tn__rows *r, unsigned long line, json_t *o, struct tn_event *ev)
{
	const char *key, *s;
	json_t *v;
	bool ok = true;

	memset(ev, 0, sizeof *ev);
	json_object_foreach(o, key, v) {
		size_t k;

		for (k = 0; k < sizeof keys / sizeof keys[0]; k++)
			if (strcmp(key, keys[k]) == 0)
				break;
		if (k == sizeof keys / sizeof keys[0]) {
			tn__rows_bad(r, line,
			    "expected the keys id, source, type, time, sector, asset, severity, "
			    "summary, geo or attrs, got \"%.64s\"",
			    key);
			return false;
		}
	}
	ev->id = str(r, line, o, "id", 1, TN_WIRE_MAX_ID, TN__UTF8_NO_CONTROL, &ok);
	ev->source = str(r, line, o, "source", 1, TN_WIRE_MAX_SOURCE, TN__UTF8_NO_CONTROL, &ok);
	if (ok && (!ev->id || !ev->source)) {
		tn__rows_bad(r, line, "%s: expected a string, got nothing", ev->id ? "source" : "id");
		return false;
	}
	s = json_string_value(json_object_get(o, "type"));
	if (ok && (!s || tn_event_type_parse(s, strlen(s)) < 0)) {
		tn__rows_bad(r, line,
		    "type: expected asset.down, asset.degraded, asset.up, asset.alarm or "
		    "heartbeat, got %.64s",
		    s ? s : "nothing");
		return false;
	}
	if (!ok)
		return false;
	ev->type = (enum tn_event_type)tn_event_type_parse(s, strlen(s));
	v = json_object_get(o, "time");
	if (json_is_integer(v) && json_integer_value(v) >= 0 &&
	    json_integer_value(v) <= INT64_MAX / 1000) {
		ev->time_us = json_integer_value(v) * 1000;
	} else if (!json_is_string(v) || tn_adapter_parse_time(json_string_value(v),
							       &ev->time_us) != 0) {
		tn__rows_bad(r, line,
		    "time: expected an RFC 3339 time like 2026-11-26T16:52:00Z or integer "
		    "milliseconds since the epoch");
		return false;
	}
	s = str(r, line, o, "sector", 1, 32, TN__UTF8_NO_CONTROL, &ok);
	if (s && tn_sector_parse(s, strlen(s)) < 0) {
		tn__rows_bad(r, line, "sector: expected a sector of design 2 (energy, water, ...), got %.64s",
		    s);
		return false;
	}
	ev->sector = s ? (enum tn_sector)tn_sector_parse(s, strlen(s)) : TN_SECTOR_NONE;
	ev->asset = str(r, line, o, "asset", 1, TN_WIRE_MAX_ASSET, TN__UTF8_NO_CONTROL, &ok);
	ev->summary = str(r, line, o, "summary", 0, TN_WIRE_MAX_SUMMARY, 0, &ok);
	if (!ok)
		return false;
	if (ev->type != TN_EV_HEARTBEAT && (!ev->asset || ev->sector == TN_SECTOR_NONE)) {
		tn__rows_bad(r, line, "%s: expected one for an asset event, got nothing",
		    ev->asset ? "sector" : "asset");
		return false;
	}
	if ((v = json_object_get(o, "severity"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 5) {
			tn__rows_bad(r, line, "severity: expected an integer 1..5");
			return false;
		}
		ev->severity = (int)json_integer_value(v);
	}
	if ((v = json_object_get(o, "geo"))) {
		json_t *la = json_array_get(v, 0), *lo = json_array_get(v, 1);
		double lat = json_number_value(la), lon = json_number_value(lo);

		if (json_array_size(v) != 2 || !json_is_number(la) || !json_is_number(lo) ||
		    !(fabs(lat) <= 90) || !(fabs(lon) <= 180)) {
			tn__rows_bad(r, line, "geo: expected [lat, lon] in degrees");
			return false;
		}
		ev->has_geo = true;
		ev->lat = lat;
		ev->lon = lon;
	}
	if ((v = json_object_get(o, "attrs")) &&
	    (!json_is_object(v) || json_object_size(v) > TN_WIRE_MAX_ATTRS)) {
		tn__rows_bad(r, line, "attrs: expected an object of at most %d entries", TN_WIRE_MAX_ATTRS);
		return false;
	}
	return true;
}

int tn__recording_read(const char *path, FILE *errs, size_t max_errors,
		       struct tn__scenario **out)
{
	struct tn__rows r = {path, errs, max_errors, 0};
	struct tn__scenario *sc = NULL;
	char *buf = NULL;
	size_t cap = 0;
	unsigned long line = 0;
	ssize_t len;
	FILE *f;
	int rc;

	*out = NULL;
	if (!(f = fopen(path, "re"))) {
		if (errs)
			fprintf(errs, "%s: %s\n", path, strerror(errno));
		return TN_EIO;
	}
	if ((rc = tn__scenario_new(&sc)) != 0)
		goto out;
	sc->absolute = true;
	while ((len = getline(&buf, &cap, f)) >= 0) {
		json_error_t jerr;
		struct tn_event ev;
		json_t *o;
		size_t k = 0;

		line++;
		while (k < (size_t)len && blank(buf[k]))
			k++;
		if (k == (size_t)len)
			continue; /* blank */
		if (len > MAX_LINE) {
			tn__rows_bad(&r, line, "expected a line of at most %d bytes, got %zd", MAX_LINE, len);
			continue;
		}
		o = json_loadb(buf, (size_t)len, JSON_REJECT_DUPLICATES, &jerr);
		if (!o || !json_is_object(o)) {
			tn__rows_bad(&r, line, "expected one JSON object, got %s",
			    o ? "another JSON value" : jerr.text);
			json_decref(o);
			continue;
		}
		if ((json_object_get(o, "tick") ? tick(&r, line, o, &ev) : event(&r, line, o, &ev)) &&
		    !r.bad && line <= UINT32_MAX)
			rc = tn__scenario_add(sc, (uint32_t)line, &ev);
		json_decref(o);
		if (rc != 0)
			goto out;
	}
	if (ferror(f)) {
		if (errs)
			fprintf(errs, "%s: %s\n", path, strerror(errno));
		rc = TN_EIO;
		goto out;
	}
	if ((rc = tn__rows_end(&r)) != 0)
		goto out;
	*out = sc;
	sc = NULL;
out:
	free(buf);
	fclose(f);
	tn__scenario_free(sc);
	return rc;
}

/* The format of a drill input: a recording by its extension or first character. */
static bool is_recording(const char *path)
{
	const char *dot = strrchr(path, '.');
	FILE *f;
	int c;

	if (dot && (strcmp(dot, ".jsonl") == 0 || strcmp(dot, ".ndjson") == 0 ||
		    strcmp(dot, ".json") == 0))
		return true;
	if (dot && strcmp(dot, ".csv") == 0)
		return false;
	if (!(f = fopen(path, "re")))
		return false; /* the CSV reader says why */
	while ((c = getc(f)) != EOF && blank(c))
		;
	fclose(f);
	return c == '{';
}

int tn__drill_input_read(const char *path, int64_t base_us, char id_prefix, FILE *errs,
			 size_t max_errors, struct tn__scenario **out)
{
	if (is_recording(path))
		return tn__recording_read(path, errs, max_errors, out);
	return tn__scenario_read_ids(path, base_us, id_prefix, errs, max_errors, out);
}
