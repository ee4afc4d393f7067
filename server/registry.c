/* registry.c - adapter key registry snapshots, cache file, watcher (registry.h). */
#include "registry.h"

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "ratelimit.h"
#include "tocsin/error.h"
#include "thread.h"

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct tn_adapter_entry *)a)->key,
		      ((const struct tn_adapter_entry *)b)->key);
}

void tn_registry_free(struct tn_registry *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		for (size_t p = 0; p < r->entries[i].n_prefixes; p++)
			free(r->entries[i].prefixes[p]);
		free(r->entries[i].prefixes);
	}
	free(r->entries);
	free(r);
}

int tn_registry_empty(struct tn_registry **out)
{
	struct tn_registry *r = calloc(1, sizeof *r);
	if (!r)
		return TN_ENOMEM;
	r->version = -1;
	*out = r;
	return 0;
}

/*
 * Split a comma-separated list (sectors or prefixes) into the entry. Sectors
 * must be known; prefixes are copied.
 */
static int parse_sectors(const char *list, uint32_t *mask, char *err, size_t errlen)
{
	const char *p = list;
	*mask = 0;
	while (*p) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		int s = tn_sector_parse(p, len);
		if (s < 0) {
			snprintf(err, errlen, "unknown sector \"%.*s\"", (int)len, p);
			return TN_ECORRUPT;
		}
		*mask |= 1u << s;
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

static int parse_prefixes(const char *list, struct tn_adapter_entry *e)
{
	size_t n = 0;
	const char *p;

	if (!*list)
		return 0;
	n = 1;
	for (p = list; *p; p++)
		n += *p == ',';
	e->prefixes = calloc(n, sizeof *e->prefixes);
	if (!e->prefixes)
		return TN_ENOMEM;
	p = list;
	while (*p) {
		const char *c = strchr(p, ',');
		size_t len = c ? (size_t)(c - p) : strlen(p);
		if (len) {
			e->prefixes[e->n_prefixes] = strndup(p, len);
			if (!e->prefixes[e->n_prefixes])
				return TN_ENOMEM;
			e->n_prefixes++;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* A rate or burst of a row: "-" or "" (default, -1), else 0..TN_RATE_MAX. */
static int parse_limit(const char *s, int32_t *out)
{
	char *end;
	if (!*s || strcmp(s, "-") == 0 || strcmp(s, "-1") == 0) {
		*out = -1;
		return 0;
	}
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < 0 || v > (long)TN_RATE_MAX)
		return TN_ECORRUPT;
	*out = (int32_t)v;
	return 0;
}

static int fill_entry(struct tn_adapter_entry *e, const char *name, const char *key,
		      const char *sectors, const char *prefixes, const char *rate,
		      const char *burst, char *err, size_t errlen)
{
	int rc;
	if (strlen(name) >= sizeof e->name || !tn_key_valid_z85(key)) {
		snprintf(err, errlen, "adapter \"%.64s\": bad name or key", name);
		return TN_ECORRUPT;
	}
	if (parse_limit(rate, &e->rate) != 0 || parse_limit(burst, &e->burst) != 0) {
		snprintf(err, errlen, "adapter \"%.64s\": bad rate \"%.20s\" or burst \"%.20s\"",
			 name, rate, burst);
		return TN_ECORRUPT;
	}
	strcpy(e->name, name);
	strcpy(e->key, key);
	e->not_after_us = INT64_MAX;
	if ((rc = parse_sectors(sectors, &e->sectors, err, errlen)) != 0)
		return rc;
	return parse_prefixes(prefixes, e);
}

/*
 * A row's clearance: "" or "-" (an adapter's; none) is public, the lowest;
 * any other word must be a level (the table's CHECK says so): a word this
 * server does not know is an error, never a level it guesses.
 */
static int parse_clearance(const char *s, struct tn_adapter_entry *e, char *err, size_t errlen)
{
	int c = !*s || strcmp(s, "-") == 0 ? TN_SENS_PUBLIC : tn_sensitivity_parse(s, strlen(s));
	if (c < 0) {
		snprintf(err, errlen, "key \"%.64s\": unknown clearance \"%.32s\"", e->name, s);
		return TN_ECORRUPT;
	}
	e->clearance = (enum tn_sensitivity)c;
	return 0;
}

/* A cache line's end of validity: "-" (never) or µs since the epoch; "old" or "-". */
static int parse_end(const char *not_after, const char *old, struct tn_adapter_entry *e)
{
	char *end;
	if (strcmp(old, "-") != 0 && strcmp(old, "old") != 0)
		return TN_ECORRUPT;
	e->retiring = strcmp(old, "old") == 0;
	if (strcmp(not_after, "-") == 0) {
		e->not_after_us = INT64_MAX;
		return 0;
	}
	errno = 0;
	long long v = strtoll(not_after, &end, 10);
	if (errno || *end || v < 0)
		return TN_ECORRUPT;
	e->not_after_us = v;
	return 0;
}

static PGconn *connect_db(const char *conninfo, char *err, size_t errlen)
{
	const char *keys[] = {"dbname", "connect_timeout", NULL};
	const char *vals[] = {conninfo, "3", NULL};
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(c) != CONNECTION_OK) {
		snprintf(err, errlen, "%s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	return c;
}

/* Read the registry over `c`; *out stays NULL when the version is `known`. */
static int load_from(PGconn *c, enum tn_registry_kind kind, int64_t known,
		     struct tn_registry **out, char *err, size_t errlen)
{
	struct tn_registry *r = NULL;
	PGresult *res;
	int rc = TN_EDB;

	*out = NULL;
	/* One snapshot: the version and the rows it describes, consistently. */
	res = PQexec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		goto pgerr;
	PQclear(res);
	res = PQexec(c, "SELECT version FROM registry_version");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		goto pgerr;
	int64_t version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	res = NULL;
	if (version == known) {
		rc = 0;
		goto out;
	}
	if ((rc = tn_registry_empty(&r)) != 0)
		goto out;
	r->version = version;
	/* planners are admitted where consoles are (alerts.h) */
	const char *kinds = kind == TN_REGISTRY_CONSOLES ? "{console,planner}" : "{adapter}";
	/* each live key, and the old key of a rotation while its grace lasts
	 * (schema/009_keys.sql), with the same scopes; an expired key too, so
	 * that its refusal can say so (tn_registry_live) */
	res = PQexecParams(c, "SELECT name, public_key, array_to_string(sectors, ','), "
			      "array_to_string(asset_prefixes, ','), coalesce(rate_per_s, -1), "
			      "coalesce(rate_burst, -1), kind = 'planner', coalesce(clearance, ''), "
			      "coalesce(floor(extract(epoch FROM expires_at) * 1e6)::bigint, -1), false "
			      "FROM adapters "
			      "WHERE revoked_at IS NULL AND kind = ANY($1::text[]) "
			      "UNION ALL "
			      "SELECT name, prev_key, array_to_string(sectors, ','), "
			      "array_to_string(asset_prefixes, ','), coalesce(rate_per_s, -1), "
			      "coalesce(rate_burst, -1), kind = 'planner', coalesce(clearance, ''), "
			      "floor(extract(epoch FROM prev_key_until) * 1e6)::bigint, true "
			      "FROM adapters "
			      "WHERE revoked_at IS NULL AND kind = ANY($1::text[]) "
			      "AND prev_key IS NOT NULL AND prev_key_until > now() "
			      "ORDER BY 2",
			   1, NULL, &kinds, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		goto pgerr;
	r->n = (size_t)PQntuples(res);
	r->entries = calloc(r->n ? r->n : 1, sizeof *r->entries);
	if (!r->entries) {
		rc = TN_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < r->n; i++) {
		rc = fill_entry(&r->entries[i], PQgetvalue(res, (int)i, 0),
				PQgetvalue(res, (int)i, 1), PQgetvalue(res, (int)i, 2),
				PQgetvalue(res, (int)i, 3), PQgetvalue(res, (int)i, 4),
				PQgetvalue(res, (int)i, 5), err, errlen);
		if (rc != 0)
			goto out;
		r->entries[i].planner = PQgetvalue(res, (int)i, 6)[0] == 't';
		int64_t na = strtoll(PQgetvalue(res, (int)i, 8), NULL, 10);
		r->entries[i].not_after_us = na < 0 ? INT64_MAX : na;
		r->entries[i].retiring = PQgetvalue(res, (int)i, 9)[0] == 't';
		if ((rc = parse_clearance(PQgetvalue(res, (int)i, 7), &r->entries[i], err,
					  errlen)) != 0)
			goto out;
	}
	qsort(r->entries, r->n, sizeof *r->entries, cmp_entry);
	rc = 0;
	goto out;
pgerr:
	snprintf(err, errlen, "%s", PQerrorMessage(c));
	rc = TN_EDB;
out:
	PQclear(res);
	PQclear(PQexec(c, "ROLLBACK"));
	if (rc != 0) {
		tn_registry_free(r);
		r = NULL;
	}
	*out = r;
	return rc;
}

int tn_registry_load_pg(const char *conninfo, enum tn_registry_kind kind, struct tn_registry **out,
			char *err, size_t errlen)
{
	PGconn *c = connect_db(conninfo, err, errlen);
	*out = NULL;
	if (!c)
		return TN_EDB;
	int rc = load_from(c, kind, INT64_MIN, out, err, errlen);
	PQfinish(c);
	return rc;
}

int tn_registry_cache_save(const struct tn_registry *r, const char *path)
{
	char tmp[4096];
	FILE *f;
	int fd;

	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return TN_EINVAL;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		if (fd >= 0)
			close(fd);
		return TN_EIO;
	}
	fprintf(f, "tocsin-registry 4 %lld\n", (long long)r->version);
	for (size_t i = 0; i < r->n; i++) {
		const struct tn_adapter_entry *e = &r->entries[i];
		fprintf(f, "%s %s ", e->name, e->key);
		int first = 1;
		for (int s = 0; s < TN_SECTOR__COUNT; s++)
			if (e->sectors & (1u << s)) {
				fprintf(f, "%s%s", first ? "" : ",", tn_sector_name(s));
				first = 0;
			}
		if (first)
			fputc('-', f); /* a console: no sectors */
		fputc(' ', f);
		if (!e->n_prefixes)
			fputc('-', f);
		for (size_t p = 0; p < e->n_prefixes; p++)
			fprintf(f, "%s%s", p ? "," : "", e->prefixes[p]);
		/* format 3: the role ("-" or "planner") and the clearance, always;
		 * format 4: the end of validity (µs, "-": none) and "old" for a
		 * rotated-out key */
		fprintf(f, " %ld %ld %s %s", (long)e->rate, (long)e->burst,
			e->planner ? "planner" : "-", tn_sensitivity_name(e->clearance));
		if (e->not_after_us == INT64_MAX)
			fprintf(f, " - %s\n", e->retiring ? "old" : "-");
		else
			fprintf(f, " %lld %s\n", (long long)e->not_after_us, e->retiring ? "old" : "-");
	}
	if (fflush(f) != 0 || fsync(fd) != 0) {
		fclose(f);
		unlink(tmp);
		return TN_EIO;
	}
	fclose(f);
	if (rename(tmp, path) != 0) {
		unlink(tmp);
		return TN_EIO;
	}
	return 0;
}

int tn_registry_cache_load(const char *path, struct tn_registry **out)
{
	char line[8192], err[256];
	long long version;
	int format;
	struct tn_registry *r;
	size_t cap = 0;
	int rc = TN_ECORRUPT;

	FILE *f = fopen(path, "r");
	if (!f)
		return errno == ENOENT ? TN_ENOTFOUND : TN_EIO;
	if (!fgets(line, sizeof line, f) ||
	    sscanf(line, "tocsin-registry %d %lld", &format, &version) != 2 ||
	    format < 1 || format > 4) {
		fclose(f);
		return TN_ECORRUPT;
	}
	if ((rc = tn_registry_empty(&r)) != 0) {
		fclose(f);
		return rc;
	}
	r->version = version;
	while (fgets(line, sizeof line, f)) {
		char name[128], key[128], sectors[1024], prefixes[6144], rate[24] = "-",
			burst[24] = "-", role[16] = "", clearance[32] = "-", extra[2],
			not_after[24] = "-", old[8] = "-";
		int want = format == 1 ? 4 : 6, got;
		bool planner;
		if (format == 1)
			got = sscanf(line, "%127s %127s %1023s %6143s %15s", name, key, sectors,
				     prefixes, role);
		else if (format == 2)
			got = sscanf(line, "%127s %127s %1023s %6143s %23s %23s %15s", name, key,
				     sectors, prefixes, rate, burst, role);
		else if (format == 3)
			got = sscanf(line, "%127s %127s %1023s %6143s %23s %23s %15s %31s %1s",
				     name, key, sectors, prefixes, rate, burst, role, clearance,
				     extra);
		else
			got = sscanf(line, "%127s %127s %1023s %6143s %23s %23s %15s %31s %23s %7s %1s",
				     name, key, sectors, prefixes, rate, burst, role, clearance,
				     not_after, old, extra);
		if (format >= 3) {
			/* exactly eight (3) or ten (4) fields; the role "-" or "planner" */
			if (got != (format == 3 ? 8 : 10) ||
			    (strcmp(role, "-") != 0 && strcmp(role, "planner") != 0)) {
				rc = TN_ECORRUPT;
				goto fail;
			}
			planner = strcmp(role, "planner") == 0;
		} else {
			if (got != want && !(got == want + 1 && strcmp(role, "planner") == 0)) {
				rc = TN_ECORRUPT;
				goto fail;
			}
			planner = got == want + 1;
		}
		if (r->n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			void *p = realloc(r->entries, ncap * sizeof *r->entries);
			if (!p) {
				rc = TN_ENOMEM;
				goto fail;
			}
			r->entries = p;
			memset(r->entries + cap, 0, (ncap - cap) * sizeof *r->entries);
			cap = ncap;
		}
		rc = fill_entry(&r->entries[r->n++], name, key,
				strcmp(sectors, "-") == 0 ? "" : sectors,
				strcmp(prefixes, "-") == 0 ? "" : prefixes, rate, burst, err, sizeof err);
		if (rc != 0)
			goto fail;
		r->entries[r->n - 1].planner = planner;
		/* formats 1 and 2 say no clearance: "-", public */
		if ((rc = parse_clearance(clearance, &r->entries[r->n - 1], err, sizeof err)) != 0)
			goto fail;
		/* formats 1 to 3 say no end: "-", never */
		if ((rc = parse_end(not_after, old, &r->entries[r->n - 1])) != 0)
			goto fail;
	}
	fclose(f);
	/* a cache of no keys has no entries array: qsort's pointer must not be NULL */
	if (r->n > 1)
		qsort(r->entries, r->n, sizeof *r->entries, cmp_entry);
	*out = r;
	return 0;
fail:
	fclose(f);
	tn_registry_free(r);
	return rc;
}

const struct tn_adapter_entry *tn_registry_find(const struct tn_registry *r, const char *key_z85)
{
	size_t lo = 0, hi = r->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(key_z85, r->entries[mid].key);
		if (c == 0)
			return &r->entries[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

bool tn_registry_live(const struct tn_adapter_entry *e, int64_t now_us)
{
	return e && now_us < e->not_after_us;
}

bool tn_registry_allows(const struct tn_adapter_entry *e, enum tn_sector sector, const char *asset)
{
	if (sector != TN_SECTOR_NONE && !(e->sectors & (1u << sector)))
		return false;
	if (!asset || e->n_prefixes == 0)
		return true;
	for (size_t i = 0; i < e->n_prefixes; i++)
		if (strncmp(asset, e->prefixes[i], strlen(e->prefixes[i])) == 0)
			return true;
	return false;
}

/* ---- watcher ------------------------------------------------------------- */

/* What the watcher keeps of a key of the newest snapshot (keys over time). */
struct seen {
	char name[65], key[TN_KEY_Z85_LEN + 1];
	int64_t not_after_us;
	bool retiring, warned, ended;
};

struct tn_registry_watch {
	const char *conninfo, *cache_path, *server_name;
	enum tn_registry_kind kind;
	atomic_int poll_ms; /* a reload changes it */
	atomic_bool kick;   /* a reload: re-read now, whatever the version */
	int64_t known;
	tn_registry_publish_fn publish;
	void *ud;
	struct tn_registry *held; /* built, not yet accepted by the consumer */
	atomic_bool stop;
	pthread_t thread;

	/* keys over time: the watcher thread's, but for the atomics */
	struct seen *seen; /* sorted by key, like the snapshot */
	size_t n_seen;
	bool have_view;       /* one whole read done (the first, whatever `known`) */
	int64_t start_us;     /* ends before this are not audited (nobody saw them pass) */
	atomic_llong warn_before_s;
	int64_t warned_for_s; /* the window the warned flags were set for */
	atomic_ullong expiring, expired, ends_audited;
	atomic_llong next_s;
};

static int64_t real_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp_seen(const void *a, const void *b)
{
	return strcmp(((const struct seen *)a)->key, ((const struct seen *)b)->key);
}

/* Take the keys of `r` as the view, carrying the flags of keys seen before. */
static void view_update(struct tn_registry_watch *w, const struct tn_registry *r)
{
	struct seen *n = calloc(r->n ? r->n : 1, sizeof *n);
	if (!n) {
		tn_warn("cannot follow key expiry: out of memory", "keys=%zu", r->n);
		return;
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct tn_adapter_entry *e = &r->entries[i];
		struct seen *s = &n[i], key;
		snprintf(s->name, sizeof s->name, "%s", e->name);
		memcpy(s->key, e->key, sizeof s->key);
		s->not_after_us = e->not_after_us;
		s->retiring = e->retiring;
		memcpy(key.key, e->key, sizeof key.key);
		const struct seen *old =
			w->n_seen ? bsearch(&key, w->seen, w->n_seen, sizeof *w->seen, cmp_seen) : NULL;
		if (old && old->not_after_us == s->not_after_us && old->retiring == s->retiring) {
			s->warned = old->warned;
			s->ended = old->ended;
		}
	}
	free(w->seen);
	w->seen = n;
	w->n_seen = r->n;
	w->have_view = true;
}

static void fmt_utc(char *out, size_t len, int64_t us)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The audit row of a key whose end passed; false when it could not be written. */
static bool audit_end(struct tn_registry_watch *w, PGconn *c, const struct seen *s)
{
	char when[32];
	const char *kind = w->kind == TN_REGISTRY_CONSOLES ? "console" : "adapter";
	fmt_utc(when, sizeof when, s->not_after_us);
	const char *params[] = {
		w->server_name, s->retiring ? "key.retired" : "key.expired", s->name, s->key, kind,
		when, s->retiring ? "the grace period of its rotation is over" : "its expiry passed"};
	PGresult *res = PQexecParams(c,
				     "INSERT INTO audit (actor, action, subject, origin, detail) "
				     "VALUES ($1, $2, $3, 'tocsind', jsonb_build_object('key', $4::text, "
				     "'kind', $5::text, 'at', $6::text, 'reason', $7::text))",
				     7, NULL, params, NULL, NULL, 0);
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	return ok;
}

/* Warnings, gauges and the audit of ends, from the view (every poll). */
static void view_check(struct tn_registry_watch *w, PGconn *c, struct tn_log_slot *slot)
{
	int64_t now = real_now_us(), warn_s = atomic_load(&w->warn_before_s);
	int64_t warn_us = warn_s > INT64_MAX / 1000000 ? INT64_MAX : warn_s * 1000000;
	int64_t next = INT64_MAX;
	uint64_t expiring = 0, expired = 0;
	const char *kind = w->kind == TN_REGISTRY_CONSOLES ? "console" : "adapter";
	char when[32];

	if (warn_s != w->warned_for_s) {
		for (size_t i = 0; i < w->n_seen; i++)
			w->seen[i].warned = false;
		w->warned_for_s = warn_s;
	}
	for (size_t i = 0; i < w->n_seen; i++) {
		struct seen *s = &w->seen[i];
		if (s->not_after_us == INT64_MAX)
			continue;
		if (now < s->not_after_us) {
			if (s->retiring)
				continue; /* its end was set by the rotation, on purpose */
			int64_t left = s->not_after_us - now;
			if (left < next)
				next = left;
			if (warn_s > 0 && left <= warn_us) {
				expiring++;
				if (!s->warned) {
					fmt_utc(when, sizeof when, s->not_after_us);
					tn_warn("key expires soon",
						"kind=%s name=%s key=%s expires=%s in_s=%lld "
						"warn_before_s=%lld",
						kind, s->name, s->key, when, (long long)(left / 1000000),
						(long long)warn_s);
					s->warned = true;
				}
			}
			continue;
		}
		if (!s->retiring)
			expired++;
		if (s->ended)
			continue;
		if (s->not_after_us < w->start_us) {
			s->ended = true; /* ended before this server started: nobody saw it */
			continue;
		}
		if (!c || !audit_end(w, c, s)) {
			tn_log_limited(slot, 10, TN_LOG_WARN, "cannot audit the end of a key; retrying",
				       "kind=%s name=%s", kind, s->name);
			continue;
		}
		fmt_utc(when, sizeof when, s->not_after_us);
		tn_info(s->retiring ? "rotated-out key retired" : "key expired",
			"kind=%s name=%s key=%s at=%s", kind, s->name, s->key, when);
		s->ended = true;
		atomic_fetch_add(&w->ends_audited, 1);
	}
	atomic_store(&w->expiring, expiring);
	atomic_store(&w->expired, expired);
	atomic_store(&w->next_s, next == INT64_MAX ? -1 : (long long)(next / 1000000));
}

static void *watch_main(void *arg)
{
	struct tn_registry_watch *w = arg;
	tn__thread_setup("tn-registry", 0);
	struct tn_log_slot slot = {0}, slot_end = {0};
	char err[512];

	PGconn *c = NULL;

	while (!atomic_load(&w->stop)) {
		if (c && PQstatus(c) != CONNECTION_OK) {
			PQfinish(c);
			c = NULL;
		}
		if (!c)
			c = connect_db(w->conninfo, err, sizeof err);
		bool kicked = atomic_exchange(&w->kick, false);
		if (!w->held) {
			struct tn_registry *r = NULL;
			/* the first read is whole, for the view; published only if new */
			int64_t known = kicked || !w->have_view ? INT64_MIN : w->known;
			int rc = c ? load_from(c, w->kind, known, &r, err, sizeof err) : TN_EDB;
			if (rc != 0) {
				char *nl = strchr(err, '\n');
				if (nl)
					*nl = 0;
				tn_log_limited(&slot, 1, TN_LOG_WARN, "cannot refresh key registry",
					       "error=\"%s\"", tn_logq(err));
			} else if (r) {
				view_update(w, r);
				if (!kicked && r->version == w->known) {
					tn_registry_free(r); /* what the consumer has already */
				} else {
					w->held = r;
					if (tn_registry_cache_save(r, w->cache_path) != 0)
						tn_warn("cannot write registry cache", "path=%s",
							w->cache_path);
				}
			}
		}
		if (w->held) {
			int64_t v = w->held->version;
			size_t n = w->held->n;
			if (w->publish(w->ud, w->held)) {
				tn_info(v == w->known ? "key registry re-read" : "key registry changed",
					"version=%lld kind=%s keys=%zu", (long long)v,
					w->kind == TN_REGISTRY_CONSOLES ? "console" : "adapter", n);
				w->known = v;
				w->held = NULL;
			}
		}
		view_check(w, c && PQstatus(c) == CONNECTION_OK ? c : NULL, &slot_end);
		/* Sleep in short steps so stop is prompt. */
		for (int slept = 0; slept < atomic_load(&w->poll_ms) && !atomic_load(&w->stop) &&
				    !atomic_load(&w->kick);
		     slept += 50) {
			struct timespec ts = {0, 50 * 1000000L};
			nanosleep(&ts, NULL);
		}
	}
	PQfinish(c);
	return NULL;
}

int tn_registry_watch_start(const char *conninfo, enum tn_registry_kind kind, int poll_ms,
			    const char *cache_path, int64_t known, const char *server_name,
			    int64_t warn_before_s, tn_registry_publish_fn publish, void *ud,
			    struct tn_registry_watch **out)
{
	struct tn_registry_watch *w = calloc(1, sizeof *w);
	if (!w)
		return TN_ENOMEM;
	w->conninfo = conninfo;
	w->cache_path = cache_path;
	w->server_name = server_name;
	w->kind = kind;
	atomic_init(&w->poll_ms, poll_ms > 0 ? poll_ms : 1000);
	atomic_init(&w->kick, false);
	w->known = known;
	w->publish = publish;
	w->ud = ud;
	w->start_us = real_now_us();
	atomic_init(&w->warn_before_s, warn_before_s > 0 ? warn_before_s : 0);
	w->warned_for_s = warn_before_s > 0 ? warn_before_s : 0;
	atomic_init(&w->expiring, 0);
	atomic_init(&w->expired, 0);
	atomic_init(&w->ends_audited, 0);
	atomic_init(&w->next_s, -1);
	atomic_init(&w->stop, false);
	if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
		free(w);
		return TN_ENOMEM;
	}
	*out = w;
	return 0;
}

void tn_registry_watch_reload(struct tn_registry_watch *w, int poll_ms)
{
	if (!w)
		return;
	if (poll_ms > 0)
		atomic_store(&w->poll_ms, poll_ms);
	atomic_store(&w->kick, true);
}

void tn_registry_watch_warn_before(struct tn_registry_watch *w, int64_t warn_before_s)
{
	if (w)
		atomic_store(&w->warn_before_s, warn_before_s > 0 ? warn_before_s : 0);
}

void tn_registry_watch_expiry(const struct tn_registry_watch *w, struct tn_registry_expiry *out)
{
	struct tn_registry_watch *m = (struct tn_registry_watch *)w;
	*out = (struct tn_registry_expiry){.next_s = -1};
	if (!w)
		return;
	out->expiring = atomic_load(&m->expiring);
	out->expired = atomic_load(&m->expired);
	out->next_s = atomic_load(&m->next_s);
	out->ends_audited = atomic_load(&m->ends_audited);
}

void tn_registry_watch_stop(struct tn_registry_watch *w)
{
	if (!w)
		return;
	atomic_store(&w->stop, true);
	pthread_join(w->thread, NULL);
	tn_registry_free(w->held);
	free(w->seen);
	free(w);
}
