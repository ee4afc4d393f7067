/*
 * cmd_adapter.c - `tocsin adapter add | revoke | list` and `tocsin console
 * add | revoke | list`: the key registry.
 *
 * Adapters and consoles are rows of one table (`adapters`, with a kind since
 * schema/005_alerts.sql), so the rules below hold across both: a key is
 * live under one name of one kind at most, and a revoked key never comes
 * back as either. A console has a clearance instead of sectors.
 *
 * Every change is one transaction together with its audit row, so the
 * registry never changes unaudited. The trigger of 001_init.sql bumps
 * registry_version, which tocsind polls: a revocation reaches live
 * connections without a restart.
 *
 * Re-adding a revoked name is allowed: it is how a compromised or expiring
 * key is rotated while the adapter keeps its name (which events and audit
 * rows carry). The row takes the new key and scopes, created_at restarts and
 * revoked_at is cleared; the old key stays in the audit trail (its add and
 * revoke rows, and "replaces_key" in the new add). A key once revoked is
 * never accepted again, under any name: a leaked key must stay dead.
 *
 * Keys over time (schema/009_keys.sql, docs/security.md): any key may have
 * an expiry (`add ... --expires DATE|DURATION`, or `rotate ... --expires`);
 * `rotate NAME --key NEW.pub [--grace D]` gives the name a new key and keeps
 * the old one admitted, with the same scopes, until the grace ends (at most
 * its own expiry), then never again: like a revoked key, a rotated-out key
 * is refused by `add` and `rotate` for ever (the audit trail remembers it).
 * Audited as <kind>.rotate; tocsind audits the end itself (key.retired).
 *
 * Rate limits (schema/008_rate.sql, docs/security.md): an adapter may have
 * a rate (events/s, 0: none) and burst of its own instead of the server's
 * [ingest] defaults, given at `add` (--rate, --burst) or changed later with
 * `tocsin adapter limit NAME`, audited as adapter.limit. Like a revocation,
 * a change reaches the live connection at the server's next registry poll.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "duration.h"
#include "keys.h"
#include "pg_util.h"
#include "tocsin/adapter.h"
#include "tocsin/event.h"

#define NAME_MAX_LEN   64
#define PREFIX_MAX_LEN 64
#define LIST_MAX       4096 /* bytes of a comma-separated list */
#define RATE_MAX       1000000 /* events/s, and events of a burst (ratelimit.h) */
#define GRACE_DEFAULT  "24h"   /* rotate: how long the old key stays admitted */
#define GRACE_MAX_S    (90LL * 86400)

#define UTC(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* What differs between the two kinds of key. */
struct kind {
	const char *word;       /* "adapter", "console" or "planner": the kind column, messages */
	const char *act_add;    /* audit actions */
	const char *act_revoke;
	const char *act_rotate;
};

static const struct kind ADAPTER = {"adapter", "adapter.add", "adapter.revoke", "adapter.rotate"};
static const struct kind CONSOLE = {"console", "console.add", "console.revoke", "console.rotate"};
/* A planner's key runs drills (schema/006); otherwise it is kept like a console's. */
static const struct kind PLANNER = {"planner", "planner.add", "planner.revoke", "planner.rotate"};

#define WHEN_HELP                                                                          \
	"--expires WHEN: a date (2027-03-31, midnight UTC), an RFC 3339 time\n"                 \
	"  (2027-03-31T12:00:00Z) or a duration from now (90s, 30m, 24h, 7d); default: never\n" \
	"--grace D: how long the old key stays valid after rotate (0 to 90d; default " GRACE_DEFAULT \
	")\n"

static const char *const CLEARANCES[] = {"public", "official", "official-sensitive"};

static void usage_console(FILE *f)
{
	fprintf(f, "usage: tocsin console add NAME --key NAME.pub [--clearance C] [--expires WHEN]\n"
		   "       tocsin console rotate NAME --key NEW.pub [--grace D] [--expires WHEN]\n"
		   "       tocsin console revoke NAME\n"
		   "       tocsin console list\n"
		   "clearances: public, official (default), official-sensitive\n%s", WHEN_HELP);
}

static void usage_planner(FILE *f)
{
	fprintf(f, "usage: tocsin planner add NAME --key NAME.pub [--clearance C] [--expires WHEN]\n"
		   "       tocsin planner rotate NAME --key NEW.pub [--grace D] [--expires WHEN]\n"
		   "       tocsin planner revoke NAME\n"
		   "       tocsin planner list\n"
		   "a planner's key runs drills on a server (tocsin replay --server); "
		   "clearances as for consoles\n%s", WHEN_HELP);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tocsin adapter add NAME --key NAME.pub --sectors S,...\n"
		"                          [--assets PREFIX,...] [--rate EV_PER_S] [--burst N]\n"
		"                          [--expires WHEN]\n"
		"       tocsin adapter rotate NAME --key NEW.pub [--grace D] [--expires WHEN]\n"
		"       tocsin adapter limit NAME [--rate EV_PER_S|default] [--burst N|default]\n"
		"       tocsin adapter revoke NAME\n"
		"       tocsin adapter list\n"
		"--rate: events per second, 0 for no limit; --burst: 1 to %d events;\n"
		"default: the server's [ingest] rate and burst\n%s"
		"sectors:", RATE_MAX, WHEN_HELP);
	for (int s = 0; s < TN_SECTOR__COUNT; s++)
		fprintf(f, " %s", tn_sector_name((enum tn_sector)s));
	fprintf(f, "\n");
}

static void (*help_of(const struct kind *k))(FILE *)
{
	return k == &ADAPTER ? usage : k == &CONSOLE ? usage_console : usage_planner;
}

static bool charset_ok(const char *s, size_t max, const char *extra)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (; *s; s++)
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
		    !(*s >= '0' && *s <= '9') && !strchr(extra, *s))
			return false;
	return true;
}

static bool name_ok(const struct kind *k, const char *name)
{
	if (charset_ok(name, NAME_MAX_LEN, "._-"))
		return true;
	fprintf(stderr,
		"tocsin: bad %s name \"%s\"; expected 1-%d characters of A-Z a-z 0-9 . _ -\n",
		k->word, name, NAME_MAX_LEN);
	return false;
}

/* Whether the item of `len` bytes at `s` is already in the list `out`. */
static bool listed(const char *out, const char *s, size_t len)
{
	for (const char *p = out; *p;) {
		size_t n = strcspn(p, ",");
		if (n == len && memcmp(p, s, n) == 0)
			return true;
		p += n + (p[n] == ',');
	}
	return false;
}

/*
 * Check each item of the comma-separated `in` and write the list without
 * duplicates to `out` (LIST_MAX bytes). sectors: names of TN_SECTORS;
 * otherwise asset-id prefixes. Prints why and returns false when invalid.
 */
static bool parse_list(const char *in, bool sectors, char *out)
{
	char item[LIST_MAX];
	size_t used = 0;

	out[0] = '\0';
	if (strlen(in) >= LIST_MAX) {
		fprintf(stderr, "tocsin: --%s: list longer than %d bytes\n",
			sectors ? "sectors" : "assets", LIST_MAX - 1);
		return false;
	}
	for (const char *p = in;;) {
		size_t n = strcspn(p, ",");
		memcpy(item, p, n);
		item[n] = '\0';
		if (sectors && tn_sector_parse(item, n) < 0) {
			fprintf(stderr, "tocsin: unknown sector \"%s\"; expected one of", item);
			for (int s = 0; s < TN_SECTOR__COUNT; s++)
				fprintf(stderr, "%s %s", s ? "," : "",
					tn_sector_name((enum tn_sector)s));
			fprintf(stderr, "\n");
			return false;
		}
		if (!sectors && !charset_ok(item, PREFIX_MAX_LEN, "._:-")) {
			fprintf(stderr,
				"tocsin: bad asset prefix \"%s\"; expected 1-%d characters of "
				"A-Z a-z 0-9 . _ : -\n",
				item, PREFIX_MAX_LEN);
			return false;
		}
		if (!listed(out, item, n))
			used += (size_t)snprintf(out + used, LIST_MAX - used, "%s%s",
						 used ? "," : "", item);
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
	return true;
}

/*
 * Check a --rate (min 0) or --burst (min 1) value: "default" gives NULL
 * (*out NULL), a number min..RATE_MAX is copied to buf. Prints why and
 * returns false otherwise.
 */
static bool parse_limit(const char *opt, const char *in, long min, char buf[24], const char **out)
{
	char *end;
	long v;

	if (strcmp(in, "default") == 0) {
		*out = NULL;
		return true;
	}
	v = strtol(in, &end, 10);
	if (!*in || *end || v < min || v > RATE_MAX) {
		fprintf(stderr, "tocsin: %s: expected %ld to %d%s or default, got \"%s\"\n", opt,
			min, RATE_MAX, min == 0 ? " events/s (0: no limit)" : " events", in);
		return false;
	}
	snprintf(buf, 24, "%ld", v);
	*out = buf;
	return true;
}

/*
 * --expires WHEN: a duration from now (duration.h, more than 0), a date
 * (YYYY-MM-DD, midnight UTC) or an RFC 3339 time, in the future. Writes it
 * as UTC text PostgreSQL takes (out, 32 bytes). Prints why and returns
 * false otherwise.
 */
static bool parse_expires(const char *in, char out[32])
{
	int64_t now = tn_adapter_now_us(), us = 0, d;
	char day[32];
	bool ok = false;

	if (tn__duration_parse(in, &d) == 0) {
		ok = d > 0;
		us = now + d * 1000000;
	} else if (strlen(in) == 10 && in[4] == '-' && in[7] == '-') {
		snprintf(day, sizeof day, "%sT00:00:00Z", in);
		ok = tn_adapter_parse_time(day, &us) == 0;
	} else if (strlen(in) > 10 && in[4] == '-') {
		ok = tn_adapter_parse_time(in, &us) == 0;
	}
	if (!ok) {
		fprintf(stderr,
			"tocsin: --expires: expected a date (2027-03-31), an RFC 3339 time "
			"(2027-03-31T12:00:00Z) or a duration like 90s, 30m, 24h, 7d, got \"%.64s\"\n",
			in);
		return false;
	}
	if (us <= now) {
		fprintf(stderr, "tocsin: --expires: \"%.64s\" is not in the future\n", in);
		return false;
	}
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return true;
}

/* --grace D: 0 to GRACE_MAX_S seconds. Prints why and returns false otherwise. */
static bool parse_grace(const char *in, int64_t *out)
{
	if (tn__duration_parse(in, out) == 0 && *out <= GRACE_MAX_S)
		return true;
	fprintf(stderr,
		"tocsin: --grace: expected a duration from 0 to 90d like 90s, 30m, 24h, 7d, "
		"got \"%.64s\"\n",
		in);
	return false;
}

/* "5000/s burst 10000", "none", "default", "default/s burst 200": a key's limits, for humans. */
static void limits_text(const char *rate, const char *burst, char *out, size_t len)
{
	if (rate && strcmp(rate, "0") == 0)
		snprintf(out, len, "none");
	else if (!rate && !burst)
		snprintf(out, len, "default");
	else
		snprintf(out, len, "%s/s burst %s", rate ? rate : "default", burst ? burst : "default");
}

/* Report a failed statement; an absent table means the schema is missing. */
static void db_error(const char *what, const PGresult *r)
{
	tn__pg_report(what, r);
	if (strcmp(tn__pg_sqlstate(r), "42P01") == 0)
		fprintf(stderr, "  hint: run tocsin db migrate first\n");
}

/* Run a statement of the open transaction; on failure report, roll back, return -1. */
static PGresult *tx_exec(PGconn *c, const char *what, const char *sql, int n,
			 const char *const *params)
{
	PGresult *r = tn__pg_exec(c, sql, n, params);

	if (tn__pg_ok(r))
		return r;
	db_error(what, r);
	PQclear(r);
	tn__pg_rollback(c);
	return NULL;
}

/*
 * Whether `key` may be given to `name` (of kind k) in the open transaction:
 * it is nobody's key now, was never revoked and never rotated out (here or,
 * for an overwritten row, in the audit trail). Otherwise prints why, rolls
 * back and returns false.
 */
static bool key_is_new(PGconn *c, const struct kind *k, const char *name, const char *key)
{
	const char *p_key[] = {key};
	PGresult *r;

	r = tx_exec(c, "cannot read adapters",
		    "SELECT name, revoked_at IS NOT NULL, "
		    "coalesce(" UTC("revoked_at") ", ''), kind, public_key = $1, "
		    "coalesce(" UTC("prev_key_until") ", '') "
		    "FROM adapters WHERE public_key = $1 OR prev_key = $1 "
		    "ORDER BY (public_key = $1 AND revoked_at IS NULL) DESC LIMIT 1",
		    1, p_key);
	if (!r)
		return false;
	if (PQntuples(r) > 0) {
		bool live = strcmp(PQgetvalue(r, 0, 1), "f") == 0;
		bool current = strcmp(PQgetvalue(r, 0, 4), "t") == 0;
		if (live && current && strcmp(PQgetvalue(r, 0, 0), name) == 0 &&
		    strcmp(PQgetvalue(r, 0, 3), k->word) == 0)
			fprintf(stderr,
				"tocsin: %s \"%s\" is already registered with this key\n",
				k->word, name);
		else if (live && current)
			fprintf(stderr,
				"tocsin: this key is already registered to %s \"%s\"; each "
				"adapter and console needs a key of its own\n",
				PQgetvalue(r, 0, 3), PQgetvalue(r, 0, 0));
		else if (!current)
			fprintf(stderr,
				"tocsin: this key was rotated out of %s \"%s\" (valid until %s); "
				"an old key never comes back: make a new one with tocsin keygen\n",
				PQgetvalue(r, 0, 3), PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 5));
		else
			fprintf(stderr,
				"tocsin: this key was revoked (%s \"%s\", %s); make a new one "
				"with tocsin keygen\n",
				PQgetvalue(r, 0, 3), PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 2));
		PQclear(r);
		tn__pg_rollback(c);
		return false;
	}
	PQclear(r);
	r = tx_exec(c, "cannot read the audit trail",
		    "SELECT subject, " UTC("at") ", action LIKE '%.rotate' FROM audit "
		    "WHERE (action IN ('adapter.revoke', 'console.revoke', 'planner.revoke') "
		    "AND detail->>'key' = $1) "
		    "OR (action IN ('adapter.rotate', 'console.rotate', 'planner.rotate') "
		    "AND detail->>'old_key' = $1) LIMIT 1",
		    1, p_key);
	if (!r)
		return false;
	if (PQntuples(r) > 0) {
		fprintf(stderr,
			"tocsin: this key was %s (\"%s\", %s); make a new one with "
			"tocsin keygen\n",
			strcmp(PQgetvalue(r, 0, 2), "t") == 0 ? "rotated out" : "revoked",
			PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
		PQclear(r);
		tn__pg_rollback(c);
		return false;
	}
	PQclear(r);
	return true;
}

/* sectors and assets (adapter) or clearance (console, sectors NULL); expires NULL: never. */
static int add(PGconn *c, const struct kind *k, const char *name, const char *key,
	       const char *sectors, const char *assets, const char *clearance, const char *rate,
	       const char *burst, const char *expires)
{
	const char *p_name[] = {name};
	const char *old_key = NULL;
	char old_key_buf[TN_KEY_Z85_LEN + 1], old_revoked[64] = "";
	PGresult *r;

	if (tn__pg_run(c, "cannot begin", "BEGIN", 0, NULL) != 0)
		return 1;

	if (!key_is_new(c, k, name, key))
		return 1;

	/* the name: free, live, or revoked (then re-added: see the top) */
	r = tx_exec(c, "cannot read adapters",
		    "SELECT public_key, revoked_at IS NOT NULL, "
		    "coalesce(" UTC("revoked_at") ", ''), kind "
		    "FROM adapters WHERE name = $1 FOR UPDATE",
		    1, p_name);
	if (!r)
		return 1;
	if (PQntuples(r) > 0) {
		if (strcmp(PQgetvalue(r, 0, 3), k->word) != 0) {
			fprintf(stderr, "tocsin: the name \"%s\" belongs to %s; choose another\n",
				name,
				strcmp(PQgetvalue(r, 0, 3), "console") == 0   ? "a console"
				: strcmp(PQgetvalue(r, 0, 3), "planner") == 0 ? "a planner"
									       : "an adapter");
			PQclear(r);
			tn__pg_rollback(c);
			return 1;
		}
		if (strcmp(PQgetvalue(r, 0, 1), "f") == 0) {
			fprintf(stderr,
				"tocsin: %s \"%s\" is already registered; revoke it first to "
				"change its key or scopes\n",
				k->word, name);
			PQclear(r);
			tn__pg_rollback(c);
			return 1;
		}
		snprintf(old_key_buf, sizeof old_key_buf, "%s", PQgetvalue(r, 0, 0));
		snprintf(old_revoked, sizeof old_revoked, "%s", PQgetvalue(r, 0, 2));
		old_key = old_key_buf;
	}
	PQclear(r);

	/* a console: no sectors, no prefixes, a clearance */
	const char *p_row[] = {name, key, sectors ? sectors : "", sectors ? assets : "",
			       k->word, sectors ? NULL : clearance, rate, burst, expires};
	const char *upsert =
		old_key ? "UPDATE adapters SET public_key = $2, "
			  "sectors = string_to_array($3, ','), "
			  "asset_prefixes = string_to_array($4, ','), kind = $5, clearance = $6, "
			  "rate_per_s = $7::int, rate_burst = $8::int, expires_at = $9::timestamptz, "
			  "prev_key = NULL, prev_key_until = NULL, "
			  "created_at = now(), revoked_at = NULL WHERE name = $1"
			: "INSERT INTO adapters (name, public_key, sectors, asset_prefixes, kind, "
			  "clearance, rate_per_s, rate_burst, expires_at) VALUES ($1, $2, "
			  "string_to_array($3, ','), string_to_array($4, ','), $5, $6, $7::int, "
			  "$8::int, $9::timestamptz)";
	r = tn__pg_exec(c, upsert, 9, p_row);
	if (!tn__pg_ok(r)) {
		/* a concurrent add won the race: the constraints say which way */
		const char *con = PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME);
		if (strcmp(tn__pg_sqlstate(r), "23505") == 0 && con &&
		    strcmp(con, "adapters_pkey") == 0)
			fprintf(stderr, "tocsin: %s \"%s\" is already registered\n", k->word, name);
		else if (strcmp(tn__pg_sqlstate(r), "23505") == 0)
			fprintf(stderr,
				"tocsin: this key is already registered to another adapter or "
				"console\n");
		else
			db_error("cannot register the key", r);
		PQclear(r);
		tn__pg_rollback(c);
		return 1;
	}
	PQclear(r);

	const char *p_audit[] = {tn__cli_actor(), name, key, sectors, sectors ? assets : NULL, old_key,
				 k->act_add, sectors ? NULL : clearance, rate, burst, expires};
	r = tx_exec(c, "cannot write the audit row",
		    "INSERT INTO audit (actor, action, subject, origin, detail) "
		    "VALUES ($1, $7, $2, 'cli', jsonb_strip_nulls(jsonb_build_object("
		    "'key', $3::text, 'sectors', string_to_array($4::text, ','), "
		    "'assets', string_to_array($5::text, ','), 'replaces_key', $6::text, "
		    "'clearance', $8::text, 'rate', $9::int, 'burst', $10::int, "
		    "'expires', $11::text)))",
		    11, p_audit);
	if (!r)
		return 1;
	PQclear(r);
	if (tn__pg_run(c, "cannot commit", "COMMIT", 0, NULL) != 0)
		return 1;

	if (sectors) {
		char lim[64];
		limits_text(rate, burst, lim, sizeof lim);
		printf("%s adapter \"%s\": sectors %s; assets %s; rate limit %s; key %s\n",
		       old_key ? "re-added" : "added", name, sectors, *assets ? assets : "any", lim,
		       key);
	}
	else
		printf("%s %s \"%s\": clearance %s; key %s\n", old_key ? "re-added" : "added",
		       k->word, name, clearance, key);
	if (expires)
		printf("the key expires %s\n", expires);
	if (old_key)
		printf("(its previous key, revoked %s, stays revoked)\n", old_revoked);
	return 0;
}

static int revoke(PGconn *c, const struct kind *k, const char *name)
{
	const char *p_name[] = {name, k->word};
	char key[TN_KEY_Z85_LEN + 1];
	PGresult *r;

	if (tn__pg_run(c, "cannot begin", "BEGIN", 0, NULL) != 0)
		return 1;
	r = tx_exec(c, "cannot revoke",
		    "UPDATE adapters SET revoked_at = now() "
		    "WHERE name = $1 AND kind = $2 AND revoked_at IS NULL RETURNING public_key",
		    2, p_name);
	if (!r)
		return 1;
	if (PQntuples(r) == 0) {
		PQclear(r);
		r = tx_exec(c, "cannot read adapters",
			    "SELECT " UTC("revoked_at") " FROM adapters WHERE name = $1 AND kind = $2",
			    2, p_name);
		if (!r)
			return 1;
		if (PQntuples(r) > 0)
			fprintf(stderr, "tocsin: %s \"%s\" is already revoked (since %s)\n",
				k->word, name, PQgetvalue(r, 0, 0));
		else
			fprintf(stderr, "tocsin: no %s named \"%s\"\n", k->word, name);
		PQclear(r);
		tn__pg_rollback(c);
		return 1;
	}
	snprintf(key, sizeof key, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);

	const char *p_audit[] = {tn__cli_actor(), name, key, k->act_revoke};
	r = tx_exec(c, "cannot write the audit row",
		    "INSERT INTO audit (actor, action, subject, origin, detail) "
		    "VALUES ($1, $4, $2, 'cli', jsonb_build_object('key', $3::text))",
		    4, p_audit);
	if (!r)
		return 1;
	PQclear(r);
	if (tn__pg_run(c, "cannot commit", "COMMIT", 0, NULL) != 0)
		return 1;
	printf("revoked %s \"%s\"\n", k->word, name);
	return 0;
}

/*
 * `tocsin <kind> rotate NAME --key NEW.pub`: the row takes the new key
 * (expires NULL: never), the old one stays admitted grace_s more seconds
 * (at most until its own expiry). A revoked name, or one still in the
 * grace of its last rotation, is refused.
 */
static int rotate(PGconn *c, const struct kind *k, const char *name, const char *key,
		  int64_t grace_s, const char *expires)
{
	const char *p_name[] = {name};
	char grace[24], old_key[TN_KEY_Z85_LEN + 1], until[64];
	PGresult *r;

	if (tn__pg_run(c, "cannot begin", "BEGIN", 0, NULL) != 0)
		return 1;
	r = tx_exec(c, "cannot read adapters",
		    "SELECT kind, revoked_at IS NOT NULL, coalesce(" UTC("revoked_at") ", ''), "
		    "coalesce(prev_key_until > now(), false), coalesce(" UTC("prev_key_until") ", '') "
		    "FROM adapters WHERE name = $1 FOR UPDATE",
		    1, p_name);
	if (!r)
		return 1;
	if (PQntuples(r) == 0 || strcmp(PQgetvalue(r, 0, 0), k->word) != 0) {
		fprintf(stderr, "tocsin: no %s named \"%s\"\n", k->word, name);
		goto refused;
	}
	if (strcmp(PQgetvalue(r, 0, 1), "t") == 0) {
		fprintf(stderr,
			"tocsin: %s \"%s\" is revoked (since %s); a revoked key is not rotated: "
			"register a new key with tocsin %s add\n",
			k->word, name, PQgetvalue(r, 0, 2), k->word);
		goto refused;
	}
	if (strcmp(PQgetvalue(r, 0, 3), "t") == 0) {
		fprintf(stderr,
			"tocsin: %s \"%s\" is still in the grace period of its last rotation (old key "
			"valid until %s); rotate again after that, or revoke it\n",
			k->word, name, PQgetvalue(r, 0, 4));
		goto refused;
	}
	PQclear(r);
	if (!key_is_new(c, k, name, key))
		return 1;

	snprintf(grace, sizeof grace, "%lld", (long long)grace_s);
	const char *p_row[] = {name, key, grace, expires};
	r = tn__pg_exec(c,
			"UPDATE adapters SET prev_key = public_key, "
			"prev_key_until = least(expires_at, now() + $3::bigint * interval '1 second'), "
			"public_key = $2, expires_at = $4::timestamptz "
			"WHERE name = $1 RETURNING prev_key, " UTC("prev_key_until"),
			4, p_row);
	if (!tn__pg_ok(r)) {
		if (strcmp(tn__pg_sqlstate(r), "23505") == 0)
			fprintf(stderr, "tocsin: this key is already registered to another adapter or "
					"console\n");
		else
			db_error("cannot rotate the key", r);
		PQclear(r);
		tn__pg_rollback(c);
		return 1;
	}
	snprintf(old_key, sizeof old_key, "%s", PQgetvalue(r, 0, 0));
	snprintf(until, sizeof until, "%s", PQgetvalue(r, 0, 1));
	PQclear(r);

	const char *p_audit[] = {tn__cli_actor(), name, key, old_key, until, grace, expires,
				 k->act_rotate};
	r = tx_exec(c, "cannot write the audit row",
		    "INSERT INTO audit (actor, action, subject, origin, detail) "
		    "VALUES ($1, $8, $2, 'cli', jsonb_strip_nulls(jsonb_build_object("
		    "'key', $3::text, 'old_key', $4::text, 'old_key_until', $5::text, "
		    "'grace_s', $6::bigint, 'expires', $7::text)))",
		    8, p_audit);
	if (!r)
		return 1;
	PQclear(r);
	if (tn__pg_run(c, "cannot commit", "COMMIT", 0, NULL) != 0)
		return 1;
	printf("rotated %s \"%s\": new key %s%s%s\n", k->word, name, key,
	       expires ? ", expires " : "", expires ? expires : "");
	printf("the old key %s is valid until %s, then refused\n", old_key, until);
	return 0;
refused:
	PQclear(r);
	tn__pg_rollback(c);
	return 1;
}

/*
 * `tocsin adapter limit NAME`: set_rate / set_burst say which to change;
 * rate and burst are the new values (NULL: the server's default).
 */
static int limit(PGconn *c, const char *name, bool set_rate, const char *rate, bool set_burst,
		 const char *burst)
{
	const char *p_name[] = {name};
	char old_rate[16] = "", old_burst[16] = "", was[64], now[64];
	bool has_old_rate, has_old_burst;
	PGresult *r;

	if (tn__pg_run(c, "cannot begin", "BEGIN", 0, NULL) != 0)
		return 1;
	r = tx_exec(c, "cannot read adapters",
		    "SELECT rate_per_s, rate_burst, revoked_at IS NOT NULL FROM adapters "
		    "WHERE name = $1 AND kind = 'adapter' FOR UPDATE",
		    1, p_name);
	if (!r)
		return 1;
	if (PQntuples(r) == 0 || strcmp(PQgetvalue(r, 0, 2), "t") == 0) {
		fprintf(stderr, PQntuples(r) ? "tocsin: adapter \"%s\" is revoked\n"
					     : "tocsin: no adapter named \"%s\"\n",
			name);
		PQclear(r);
		tn__pg_rollback(c);
		return 1;
	}
	has_old_rate = !PQgetisnull(r, 0, 0);
	has_old_burst = !PQgetisnull(r, 0, 1);
	snprintf(old_rate, sizeof old_rate, "%s", PQgetvalue(r, 0, 0));
	snprintf(old_burst, sizeof old_burst, "%s", PQgetvalue(r, 0, 1));
	PQclear(r);
	if (!set_rate)
		rate = has_old_rate ? old_rate : NULL;
	if (!set_burst)
		burst = has_old_burst ? old_burst : NULL;

	const char *p_row[] = {name, rate, burst};
	r = tx_exec(c, "cannot change the rate limit",
		    "UPDATE adapters SET rate_per_s = $2::int, rate_burst = $3::int WHERE name = $1",
		    3, p_row);
	if (!r)
		return 1;
	PQclear(r);
	const char *p_audit[] = {tn__cli_actor(), name, rate, burst, has_old_rate ? old_rate : NULL,
				 has_old_burst ? old_burst : NULL};
	r = tx_exec(c, "cannot write the audit row",
		    "INSERT INTO audit (actor, action, subject, origin, detail) "
		    "VALUES ($1, 'adapter.limit', $2, 'cli', jsonb_build_object("
		    "'rate', $3::int, 'burst', $4::int, 'was_rate', $5::int, 'was_burst', $6::int))",
		    6, p_audit);
	if (!r)
		return 1;
	PQclear(r);
	if (tn__pg_run(c, "cannot commit", "COMMIT", 0, NULL) != 0)
		return 1;
	limits_text(has_old_rate ? old_rate : NULL, has_old_burst ? old_burst : NULL, was,
		    sizeof was);
	limits_text(rate, burst, now, sizeof now);
	printf("adapter \"%s\": rate limit %s (was %s)\n", name, now, was);
	return 0;
}

static int list(PGconn *c, const struct kind *k)
{
	enum { NCOL = 9 };
	static const char *const head_a[NCOL] = {"NAME",    "SECTORS",       "ASSETS",
						 "RATE",    "KEY",           "EXPIRES",
						 "OLD_KEY_UNTIL", "CREATED", "REVOKED"};
	static const char *const head_c[NCOL] = {"NAME",    "CLEARANCE",     "",
						 "",        "KEY",           "EXPIRES",
						 "OLD_KEY_UNTIL", "CREATED", "REVOKED"};
	const char *const *head = k != &ADAPTER ? head_c : head_a;
	/* the columns shown: a console or planner has no asset prefixes and no rate */
	static const int cols_a[] = {0, 1, 2, 3, 4, 5, 6, 7, 8}, cols_c[] = {0, 1, 4, 5, 6, 7, 8};
	const int *cols = k != &ADAPTER ? cols_c : cols_a;
	int nc = k != &ADAPTER ? 7 : 9;
	/* EXPIRES: "-" (never), the time, with "(expired)" once past it;
	 * OLD_KEY_UNTIL: while a rotation's grace lasts, when the old key ends */
	static const char sql[] =
		"SELECT name, coalesce(clearance, array_to_string(sectors, ',')), "
		"coalesce(nullif(array_to_string(asset_prefixes, ','), ''), 'any'), "
		"CASE WHEN rate_per_s = 0 THEN 'none' "
		"WHEN rate_per_s IS NULL AND rate_burst IS NULL THEN 'default' "
		"ELSE coalesce(rate_per_s::text, 'default') || '/s,burst=' || "
		"coalesce(rate_burst::text, 'default') END, "
		"public_key, coalesce(" UTC("expires_at") " || CASE WHEN expires_at <= now() "
		"THEN '(expired)' ELSE '' END, '-'), "
		"CASE WHEN prev_key_until > now() AND revoked_at IS NULL THEN " UTC("prev_key_until")
		" ELSE '-' END, "
		UTC("created_at") ", coalesce(" UTC("revoked_at") ", '-') "
		"FROM adapters WHERE kind = $1 ORDER BY name";
	const char *p_kind[] = {k->word};
	PGresult *r = tn__pg_exec(c, sql, 1, p_kind);
	int w[NCOL], rows;

	if (!tn__pg_ok(r)) {
		db_error("cannot list keys", r);
		PQclear(r);
		return 1;
	}
	rows = PQntuples(r);
	if (rows == 0) {
		printf("no %ss registered\n", k->word);
		PQclear(r);
		return 0;
	}
	for (int j = 0; j < NCOL; j++) {
		w[j] = (int)strlen(head[j]);
		for (int i = 0; i < rows; i++)
			if (PQgetlength(r, i, j) > w[j])
				w[j] = PQgetlength(r, i, j);
	}
	/* the last column unpadded: no trailing blanks */
	w[NCOL - 1] = 0;
	for (int j = 0; j < nc; j++)
		printf("%-*s%s", w[cols[j]], head[cols[j]], j < nc - 1 ? "  " : "\n");
	for (int i = 0; i < rows; i++)
		for (int j = 0; j < nc; j++)
			printf("%-*s%s", w[cols[j]], PQgetvalue(r, i, cols[j]),
			       j < nc - 1 ? "  " : "\n");
	PQclear(r);
	return 0;
}

/* The public key file `path` into key (Z85); prints why and returns false when it is not one. */
static bool read_public_key(const struct kind *k, const char *path, char key[TN_KEY_Z85_LEN + 1])
{
	char err[512];
	size_t len = strlen(path);

	if (len >= 4 && strcmp(path + len - 4, ".key") == 0) {
		fprintf(stderr,
			"tocsin: %s looks like a secret key; give the %s's public key "
			"(NAME.pub), and keep the secret one with the %s\n",
			path, k->word, k->word);
		return false;
	}
	if (tn_key_read(path, 0, key, err, sizeof err) != 0) {
		fprintf(stderr, "tocsin: %s\n", err);
		return false;
	}
	return true;
}

/* An option of a verb: its flag and where its value goes (NULL flag: the end). */
struct argopt {
	const char *flag;
	const char **dst;
};

/*
 * argv[2..] of `tocsin <kind> <verb>`: one NAME and the options of `opts`,
 * each with a value. Returns 0, or 2 after printing why (and the usage for
 * an unknown argument).
 */
static int parse_args(int argc, char **argv, const struct kind *k, const char *verb,
		      const struct argopt *opts, const char **name)
{
	for (int i = 2; i < argc; i++) {
		const struct argopt *o = opts;
		while (o->flag && strcmp(argv[i], o->flag) != 0)
			o++;
		if (!o->flag && argv[i][0] != '-' && !*name) {
			*name = argv[i];
			continue;
		}
		if (!o->flag) {
			fprintf(stderr, "tocsin: %s %s: unexpected argument %s\n", k->word, verb,
				argv[i]);
			help_of(k)(stderr);
			return 2;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "tocsin: %s %s: %s needs a value\n", k->word, verb, argv[i]);
			return 2;
		}
		*o->dst = argv[++i];
	}
	return 0;
}

static int cmd_rotate(int argc, char **argv, const struct tn_cli *cli, const struct kind *k)
{
	const char *name = NULL, *keyfile = NULL, *grace_in = GRACE_DEFAULT, *expires_in = NULL;
	char key[TN_KEY_Z85_LEN + 1], expires[32];
	int64_t grace_s;
	PGconn *c;
	int rc;

	const struct argopt opts[] = {
		{"--key", &keyfile}, {"--grace", &grace_in}, {"--expires", &expires_in}, {NULL, NULL}};
	if ((rc = parse_args(argc, argv, k, "rotate", opts, &name)) != 0)
		return rc;
	if (!name || !keyfile) {
		fprintf(stderr, "tocsin: %s rotate: %s is required\n", k->word,
			!name ? "NAME" : "--key");
		help_of(k)(stderr);
		return 2;
	}
	if (!name_ok(k, name) || !parse_grace(grace_in, &grace_s) ||
	    (expires_in && !parse_expires(expires_in, expires)) ||
	    !read_public_key(k, keyfile, key))
		return 1;
	c = tn__pg_connect(cli->conninfo);
	if (!c)
		return 1;
	rc = rotate(c, k, name, key, grace_s, expires_in ? expires : NULL);
	PQfinish(c);
	return rc;
}

static int cmd_add(int argc, char **argv, const struct tn_cli *cli, const struct kind *k)
{
	const char *name = NULL, *keyfile = NULL, *sectors_in = NULL, *assets_in = "";
	const char *clearance = "official", *rate_in = "default", *burst_in = "default";
	const char *rate, *burst, *expires_in = NULL;
	char sectors[LIST_MAX], assets[LIST_MAX], key[TN_KEY_Z85_LEN + 1], expires[32];
	char rate_buf[24], burst_buf[24];
	PGconn *c;
	int rc;

	/* an adapter has sectors, prefixes and a rate; a console or planner a clearance */
	const struct argopt opts_a[] = {{"--key", &keyfile},	 {"--sectors", &sectors_in},
					{"--assets", &assets_in}, {"--rate", &rate_in},
					{"--burst", &burst_in},	 {"--expires", &expires_in},
					{NULL, NULL}};
	const struct argopt opts_c[] = {{"--key", &keyfile},
					{"--clearance", &clearance},
					{"--expires", &expires_in},
					{NULL, NULL}};
	if ((rc = parse_args(argc, argv, k, "add", k == &ADAPTER ? opts_a : opts_c, &name)) != 0)
		return rc;
	if (!name || !keyfile || (k == &ADAPTER && !sectors_in)) {
		fprintf(stderr, "tocsin: %s add: %s is required\n", k->word,
			!name ? "NAME" : !keyfile ? "--key" : "--sectors");
		help_of(k)(stderr);
		return 2;
	}
	if (!name_ok(k, name))
		return 1;
	if (!parse_limit("--rate", rate_in, 0, rate_buf, &rate) ||
	    !parse_limit("--burst", burst_in, 1, burst_buf, &burst) ||
	    (expires_in && !parse_expires(expires_in, expires)))
		return 1;
	if (k != &ADAPTER) {
		size_t i = 0;
		while (i < sizeof CLEARANCES / sizeof *CLEARANCES && strcmp(clearance, CLEARANCES[i]))
			i++;
		if (i == sizeof CLEARANCES / sizeof *CLEARANCES) {
			fprintf(stderr,
				"tocsin: unknown clearance \"%s\"; expected public, official or "
				"official-sensitive\n",
				clearance);
			return 1;
		}
	} else if (!parse_list(sectors_in, true, sectors) ||
		   (*assets_in && !parse_list(assets_in, false, assets)))
		return 1;
	if (!*assets_in)
		assets[0] = '\0';
	if (!read_public_key(k, keyfile, key))
		return 1;
	c = tn__pg_connect(cli->conninfo);
	if (!c)
		return 1;
	rc = add(c, k, name, key, k == &ADAPTER ? sectors : NULL, assets, clearance, rate, burst,
		 expires_in ? expires : NULL);
	PQfinish(c);
	return rc;
}

static int cmd_limit(int argc, char **argv, const struct tn_cli *cli)
{
	const char *name = NULL, *rate_in = NULL, *burst_in = NULL, *rate = NULL, *burst = NULL;
	char rate_buf[24], burst_buf[24];
	PGconn *c;
	int rc;

	const struct argopt opts[] = {{"--rate", &rate_in}, {"--burst", &burst_in}, {NULL, NULL}};
	if ((rc = parse_args(argc, argv, &ADAPTER, "limit", opts, &name)) != 0)
		return rc;
	if (!name || (!rate_in && !burst_in)) {
		fprintf(stderr, "tocsin: adapter limit: %s\n",
			!name ? "NAME is required" : "give --rate, --burst or both");
		usage(stderr);
		return 2;
	}
	if (!name_ok(&ADAPTER, name) ||
	    (rate_in && !parse_limit("--rate", rate_in, 0, rate_buf, &rate)) ||
	    (burst_in && !parse_limit("--burst", burst_in, 1, burst_buf, &burst)))
		return 1;
	c = tn__pg_connect(cli->conninfo);
	if (!c)
		return 1;
	rc = limit(c, name, rate_in != NULL, rate, burst_in != NULL, burst);
	PQfinish(c);
	return rc;
}

static int cmd_kind(int argc, char **argv, const struct tn_cli *cli, const struct kind *k)
{
	void (*help)(FILE *) = help_of(k);
	PGconn *c;
	int rc;

	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		help(stdout);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "add") == 0)
		return cmd_add(argc, argv, cli, k);
	if (argc >= 2 && strcmp(argv[1], "rotate") == 0)
		return cmd_rotate(argc, argv, cli, k);
	if (k == &ADAPTER && argc >= 2 && strcmp(argv[1], "limit") == 0)
		return cmd_limit(argc, argv, cli);
	if (argc == 3 && strcmp(argv[1], "revoke") == 0) {
		if (!name_ok(k, argv[2]))
			return 1;
		c = tn__pg_connect(cli->conninfo);
		if (!c)
			return 1;
		rc = revoke(c, k, argv[2]);
		PQfinish(c);
		return rc;
	}
	if (argc == 2 && strcmp(argv[1], "list") == 0) {
		c = tn__pg_connect(cli->conninfo);
		if (!c)
			return 1;
		rc = list(c, k);
		PQfinish(c);
		return rc;
	}
	help(stderr);
	return 2;
}

int tn__cmd_adapter(int argc, char **argv, const struct tn_cli *cli)
{
	return cmd_kind(argc, argv, cli, &ADAPTER);
}

int tn__cmd_console(int argc, char **argv, const struct tn_cli *cli)
{
	return cmd_kind(argc, argv, cli, &CONSOLE);
}

int tn__cmd_planner(int argc, char **argv, const struct tn_cli *cli)
{
	return cmd_kind(argc, argv, cli, &PLANNER);
}
