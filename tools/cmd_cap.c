/*
 * cmd_cap.c - `tocsin cap`: one stored incident revision as an OASIS CAP 1.2
 * alert on stdout (common/cap.h, docs/control-rooms.md "CAP 1.2").
 *
 *   tocsin cap INCIDENT [--rev N] [--stream S] [--db CONNINFO] [--sender S] [--public]
 *
 * Reads the incident's revisions from incident_revisions (the latest, or
 * rev N, and every earlier one, whose identifiers and sent times the
 * message references), and the coordinates of the assets the revision names
 * from `assets` (the registry as it is now: a body carries ids, not places).
 * An incident id is unique within its stream; when it appears in several
 * (a drill replaying live events), --stream chooses.
 *
 * Exit status: 0 printed, 1 not found or failed (stderr says which), 2 usage.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cap.h"
#include "cli.h"
#include "pg_util.h"
#include "sim_opt.h"
#include "tocsin/error.h"

static const char usage_text[] =
	"usage: tocsin cap INCIDENT [--rev N] [--stream S] [--db CONNINFO] [--sender S] "
	"[--public]\n"
	"  print the incident's latest revision (or rev N) as an OASIS CAP 1.2 alert\n"
	"  --sender S  the CAP sender, no spaces, commas, < or & (default tocsin@HOSTNAME)\n"
	"  --stream S  the stream, when the incident is in several (live, a drill name)\n"
	"  --public    scope Public (default Restricted: control rooms and partner agencies)\n";

/* The located assets of the revision, sorted by id for bsearch. */
struct site {
	const char *id;
	double lat, lon;
};

struct sites {
	struct site *s;
	size_t n;
};

static int by_id(const void *a, const void *b)
{
	return strcmp(((const struct site *)a)->id, ((const struct site *)b)->id);
}

static bool locate(void *ctx, const char *asset, double *lat, double *lon)
{
	const struct sites *s = ctx;
	struct site key = {.id = asset}, *hit;

	hit = s->n ? bsearch(&key, s->s, s->n, sizeof *s->s, by_id) : NULL;
	if (!hit)
		return false;
	*lat = hit->lat;
	*lon = hit->lon;
	return true;
}

/* Every asset the revision names, with its registry position. */
static const char sites_sql[] =
	"SELECT a.id, a.lat, a.lon FROM assets a WHERE a.id IN ("
	" SELECT r.body->'root'->>'asset' FROM incident_revisions r"
	"  WHERE r.stream = $1 AND r.incident = $2 AND r.rev = $3::int"
	" UNION SELECT x->>'asset' FROM incident_revisions r,"
	"  jsonb_array_elements(r.body->'affected') x"
	"  WHERE r.stream = $1 AND r.incident = $2 AND r.rev = $3::int"
	" UNION SELECT x->>'asset' FROM incident_revisions r,"
	"  jsonb_array_elements(r.body->'at_risk') x"
	"  WHERE r.stream = $1 AND r.incident = $2 AND r.rev = $3::int)";

/* The stream of the incident: exactly one, or the one asked for. */
static int find_stream(PGconn *c, const char *incident, const char *want, char **out)
{
	const char *p[] = {incident};
	PGresult *r = tn__pg_exec(c,
				  "SELECT stream FROM incident_revisions WHERE incident = $1 "
				  "GROUP BY stream ORDER BY stream",
				  1, p);
	int n, i, rc = 1;

	if (!tn__pg_ok(r)) {
		tn__pg_report("cap: cannot read incident_revisions", r);
		PQclear(r);
		return 1;
	}
	n = PQntuples(r);
	if (n == 0) {
		fprintf(stderr, "tocsin: cap: incident %s not found\n", incident);
	} else if (want) {
		for (i = 0; i < n && strcmp(PQgetvalue(r, i, 0), want) != 0; i++)
			;
		if (i == n)
			fprintf(stderr, "tocsin: cap: incident %s not found in stream %s\n",
				incident, want);
		else
			rc = 0;
	} else if (n > 1) {
		fprintf(stderr, "tocsin: cap: incident %s is in %d streams (", incident, n);
		for (i = 0; i < n; i++)
			fprintf(stderr, "%s%s", i ? ", " : "", PQgetvalue(r, i, 0));
		fprintf(stderr, "): choose one with --stream\n");
	} else {
		rc = 0;
	}
	if (rc == 0 && !(*out = strdup(want ? want : PQgetvalue(r, 0, 0)))) {
		fprintf(stderr, "tocsin: cap: out of memory\n");
		rc = 1;
	}
	PQclear(r);
	return rc;
}

static int print_alert(PGconn *c, const char *incident, const char *stream, uint64_t want_rev,
		       struct tn__cap_opts *o)
{
	const char *p[3] = {stream, incident, NULL};
	PGresult *revs, *sr = NULL;
	struct tn__cap_ref *refs = NULL;
	struct sites sites = {0};
	char revtext[24], *xml = NULL;
	size_t xml_len;
	int n, i, at = -1, rc = 1, err;

	revs = tn__pg_exec(c,
			   "SELECT rev, body::text FROM incident_revisions "
			   "WHERE stream = $1 AND incident = $2 ORDER BY rev",
			   2, p);
	if (!tn__pg_ok(revs)) {
		tn__pg_report("cap: cannot read incident_revisions", revs);
		goto out;
	}
	n = PQntuples(revs);
	for (i = 0; i < n; i++)
		if (want_rev == 0 ? i == n - 1
				  : strtoull(PQgetvalue(revs, i, 0), NULL, 10) == want_rev)
			at = i;
	if (at < 0) {
		fprintf(stderr, "tocsin: cap: incident %s has no revision %llu (its revisions are "
				"1 to %s)\n",
			incident, (unsigned long long)want_rev,
			n ? PQgetvalue(revs, n - 1, 0) : "0");
		goto out;
	}
	if (at > 0 && !(refs = calloc((size_t)at, sizeof *refs))) {
		fprintf(stderr, "tocsin: cap: out of memory\n");
		goto out;
	}
	for (i = 0; i < at; i++)
		if (tn__cap_ref_of(PQgetvalue(revs, i, 1), (size_t)PQgetlength(revs, i, 1),
				   &refs[i]) != 0) {
			fprintf(stderr,
				"tocsin: cap: incident %s revision %s: body is no revision\n",
				incident, PQgetvalue(revs, i, 0));
			goto out;
		}
	snprintf(revtext, sizeof revtext, "%s", PQgetvalue(revs, at, 0));
	p[2] = revtext;
	sr = tn__pg_exec(c, sites_sql, 3, p);
	if (!tn__pg_ok(sr)) {
		tn__pg_report("cap: cannot read assets", sr);
		goto out;
	}
	sites.n = (size_t)PQntuples(sr);
	if (sites.n && !(sites.s = calloc(sites.n, sizeof *sites.s))) {
		fprintf(stderr, "tocsin: cap: out of memory\n");
		goto out;
	}
	for (size_t k = 0; k < sites.n; k++) {
		sites.s[k].id = PQgetvalue(sr, (int)k, 0);
		sites.s[k].lat = strtod(PQgetvalue(sr, (int)k, 1), NULL);
		sites.s[k].lon = strtod(PQgetvalue(sr, (int)k, 2), NULL);
	}
	qsort(sites.s, sites.n, sizeof *sites.s, by_id);
	o->stream = stream;
	o->refs = refs;
	o->nrefs = (size_t)at;
	o->locate = locate;
	o->locate_ctx = &sites;
	err = tn__cap_alert(PQgetvalue(revs, at, 1), (size_t)PQgetlength(revs, at, 1), o, &xml,
			    &xml_len);
	if (err != 0) {
		fprintf(stderr, "tocsin: cap: incident %s revision %s: %s\n", incident, revtext,
			err == TN_EINVAL ? "body is no revision" : tn_strerror(err));
		goto out;
	}
	if (fwrite(xml, 1, xml_len, stdout) != xml_len || fflush(stdout) != 0) {
		fprintf(stderr, "tocsin: cap: cannot write the alert\n");
		goto out;
	}
	rc = 0;
out:
	free(xml);
	free(sites.s);
	free(refs);
	PQclear(sr);
	PQclear(revs);
	return rc;
}

int tn__cmd_cap(int argc, char **argv, const struct tn_cli *cli)
{
	const char *db = NULL, *sender = NULL, *stream = NULL, *pos[1];
	uint64_t rev = 0;
	bool pub = false, help = false;
	struct tn__opt opts[] = {
		{"rev", TN_OPT_U64, &rev, false},	  {"db", TN_OPT_STR, &db, false},
		{"sender", TN_OPT_STR, &sender, false},	  {"stream", TN_OPT_STR, &stream, false},
		{"public", TN_OPT_FLAG, &pub, false},	  {"help", TN_OPT_FLAG, &help, false},
	};
	struct tn__cap_opts o = {0};
	char host[200], def_sender[256], *found = NULL;
	PGconn *c;
	int n_pos, rc;

	if (tn__opt_parse("cap", argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), pos, 1,
			  &n_pos))
		return 2;
	if (help) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (n_pos != 1 || !*pos[0]) {
		fprintf(stderr, "tocsin: cap: expected an incident id\n%s", usage_text);
		return 2;
	}
	if (opts[0].seen && (rev < 1 || rev > UINT32_MAX)) {
		fprintf(stderr, "tocsin: cap: --rev: expected 1..%u, got %llu\n", UINT32_MAX,
			(unsigned long long)rev);
		return 2;
	}
	if (!sender) {
		if (gethostname(host, sizeof host) != 0 || !host[0])
			snprintf(host, sizeof host, "localhost");
		host[sizeof host - 1] = '\0';
		snprintf(def_sender, sizeof def_sender, "tocsin@%s", host);
		sender = def_sender;
	}
	/* the sender is checked before any connection: a typo costs no query */
	if (!tn__cap_sender_ok(sender)) {
		fprintf(stderr,
			"tocsin: cap: --sender: expected 1-%d printable ASCII characters without "
			"spaces, commas, < or &, got \"%.64s\"\n",
			TN_CAP_SENDER_MAX, sender);
		return 2;
	}
	o.sender = sender;
	o.public_scope = pub;
	if (!(c = tn__pg_connect(db ? db : cli->conninfo)))
		return 1;
	rc = find_stream(c, pos[0], stream, &found);
	if (rc == 0)
		rc = print_alert(c, pos[0], found, rev, &o);
	free(found);
	PQfinish(c);
	return rc;
}
