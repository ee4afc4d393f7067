/*
 * sim_score.c - `tocsin sim score`: pairwise precision, recall and F1 of a
 * replay's incidents against a scenario's ground truth (docs/simulator.md,
 * "Scoring").
 *
 * Pairwise scores count pairs of failure events: a pair is claimed when
 * both events are in one incident, true when both are in one cascade. They
 * weigh a split or a wrong merge by the number of pairs it breaks or makes,
 * which is what a control room pays: one cascade reported as two incidents
 * loses every pair across the cut. Counting by sorting keeps it
 * O(n log n) with no matrix.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "registry_csv.h"
#include "scenario.h"
#include "sim.h"
#include "tocsin/error.h"

#define NONE UINT32_MAX

/* ---- arithmetic ----------------------------------------------------------------- */

struct pair {
	uint64_t a, b;
};

static int by_a(const void *x, const void *y)
{
	const struct pair *p = x, *q = y;

	if (p->a != q->a)
		return p->a < q->a ? -1 : 1;
	return p->b < q->b ? -1 : p->b > q->b;
}

/* Pairs within runs of equal keys (singletons excluded); clusters of >= 2. */
static void runs(struct pair *p, size_t n, bool both, uint64_t *pairs, uint64_t *clusters,
		 uint64_t *alone)
{
	*pairs = 0;
	if (clusters)
		*clusters = 0;
	if (alone)
		*alone = 0;
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;

		if ((p[i].a & TN_SIM_SINGLETON) || (both && (p[i].b & TN_SIM_SINGLETON))) {
			if (alone)
				++*alone;
			i++;
			continue;
		}
		while (j < n && p[j].a == p[i].a && (!both || p[j].b == p[i].b))
			j++;
		*pairs += (uint64_t)(j - i) * (j - i - 1) / 2;
		if (j - i >= 2 && clusters)
			++*clusters;
		if (j - i == 1 && alone)
			++*alone;
		i = j;
	}
}

int tn__sim_score_pairs(const uint64_t *truth, const uint64_t *pred, size_t n,
			struct tn__sim_score *out)
{
	struct pair *p = malloc((n ? n : 1) * sizeof *p);
	uint64_t tp_alone, pp_alone;

	if (!p)
		return TN_ENOMEM;
	out->events = n;
	for (size_t i = 0; i < n; i++)
		p[i] = (struct pair){truth[i], 0};
	qsort(p, n, sizeof *p, by_a);
	runs(p, n, false, &out->truth_pairs, &out->truth_clusters, &tp_alone);
	for (size_t i = 0; i < n; i++)
		p[i] = (struct pair){pred[i], 0};
	qsort(p, n, sizeof *p, by_a);
	runs(p, n, false, &out->pred_pairs, &out->pred_clusters, &pp_alone);
	for (size_t i = 0; i < n; i++)
		p[i] = (struct pair){pred[i], truth[i]};
	qsort(p, n, sizeof *p, by_a);
	runs(p, n, true, &out->both_pairs, NULL, NULL);
	free(p);
	out->truth_noise = tp_alone;
	out->pred_alone = pp_alone;
	out->precision = out->pred_pairs ? (double)out->both_pairs / out->pred_pairs : 1.0;
	out->recall = out->truth_pairs ? (double)out->both_pairs / out->truth_pairs : 1.0;
	out->f1 = out->precision + out->recall > 0
			  ? 2 * out->precision * out->recall / (out->precision + out->recall)
			  : 0.0;
	return 0;
}

/* ---- a string map --------------------------------------------------------------- */

struct smap {
	char **key;
	uint32_t *val;
	size_t cap, n;
};

static uint64_t fnv(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

static size_t smap_slot(const struct smap *m, const char *k)
{
	size_t i = (size_t)fnv(k) & (m->cap - 1);

	while (m->key[i] && strcmp(m->key[i], k) != 0)
		i = (i + 1) & (m->cap - 1);
	return i;
}

static uint32_t smap_get(const struct smap *m, const char *k)
{
	size_t i;

	if (!m->cap)
		return NONE;
	i = smap_slot(m, k);
	return m->key[i] ? m->val[i] : NONE;
}

/* Set k to v (k copied). Returns 0 or TN_ENOMEM. */
static int smap_put(struct smap *m, const char *k, uint32_t v)
{
	size_t i;

	if ((m->n + 1) * 2 > m->cap) {
		struct smap g = {NULL, NULL, m->cap ? m->cap * 2 : 256, 0};
		g.key = calloc(g.cap, sizeof *g.key);
		g.val = calloc(g.cap, sizeof *g.val);
		if (!g.key || !g.val) {
			free(g.key);
			free(g.val);
			return TN_ENOMEM;
		}
		for (size_t j = 0; j < m->cap; j++)
			if (m->key[j]) {
				size_t s = smap_slot(&g, m->key[j]);
				g.key[s] = m->key[j];
				g.val[s] = m->val[j];
			}
		g.n = m->n;
		free(m->key);
		free(m->val);
		*m = g;
	}
	i = smap_slot(m, k);
	if (!m->key[i]) {
		if (!(m->key[i] = strdup(k)))
			return TN_ENOMEM;
		m->n++;
	}
	m->val[i] = v;
	return 0;
}

static void smap_free(struct smap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->key[i]);
	free(m->key);
	free(m->val);
}

/* ---- files ---------------------------------------------------------------------- */

struct incident {
	uint32_t rev;
	uint64_t order; /* JSON line of the last revision */
	bool merged;
	char *merged_into; /* owned */
	uint32_t *member;  /* scenario lines of the members' events; owned */
	size_t nmember;
	uint32_t root; /* absorber, resolved */
};

struct state {
	uint64_t *truth;   /* by line: label, 0 = none */
	size_t nlines;	   /* size of the by-line arrays */
	uint32_t *scored;  /* by line: index among the scored events, NONE */
	uint32_t *fail_of; /* by line of an asset.up: the line of that asset's failure */
	struct incident *inc;
	size_t ninc, capinc;
	struct smap ids;
};

static int read_truth(struct state *s, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	struct tn_csv_reader *csv = NULL;
	struct tn_csv_row row;
	int rc = TN_EINVAL, k;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return TN_EIO;
	}
	if (tn_csv_open_file(f, path, &csv) != 0) {
		fclose(f);
		snprintf(err, errlen, "out of memory");
		return TN_ENOMEM;
	}
	while ((k = tn_csv_next(csv, &row)) == 1) {
		unsigned long long l, c;
		char *end;

		if (row.line == 1) {
			if (row.fault || row.n != 2 || strcmp(row.field[0], "line") != 0 ||
			    strcmp(row.field[1], "cascade") != 0) {
				snprintf(err, errlen, "%s:1: header: expected \"line,cascade\"",
					 path);
				goto out;
			}
			continue;
		}
		if (row.fault || row.n != 2) {
			snprintf(err, errlen, "%s:%" PRIu64 ": expected 2 fields: line,cascade",
				 path, row.line);
			goto out;
		}
		errno = 0;
		l = strtoull(row.field[0], &end, 10);
		if (*end || !*row.field[0] || errno || l < 2 || l >= s->nlines) {
			snprintf(err, errlen,
				 "%s:%" PRIu64
				 ": line: expected a line number of the scenario, got "
				 "\"%.32s\"",
				 path, row.line, row.field[0]);
			goto out;
		}
		if (strcmp(row.field[1], "noise") == 0) {
			s->truth[l] = TN_SIM_SINGLETON | l;
			continue;
		}
		c = strtoull(row.field[1], &end, 10);
		if (*end || !*row.field[1] || errno || c == 0 || c >= TN_SIM_SINGLETON) {
			snprintf(err, errlen,
				 "%s:%" PRIu64
				 ": cascade: expected a positive integer or noise, got "
				 "\"%.32s\"",
				 path, row.line, row.field[1]);
			goto out;
		}
		s->truth[l] = c;
	}
	if (k < 0) {
		snprintf(err, errlen, "%s: %s", path,
			 k == TN_EIO ? strerror(errno) : tn_strerror(k));
		rc = k;
		goto out;
	}
	rc = 0;
out:
	tn_csv_close(csv);
	fclose(f);
	return rc;
}

/* The scenario line an event id "L<n>" names, or NONE. */
static uint32_t line_of(const char *id)
{
	char *end;
	unsigned long v;

	if (!id || id[0] != 'L' || id[1] < '1' || id[1] > '9')
		return NONE;
	errno = 0;
	v = strtoul(id + 1, &end, 10);
	return *end || errno || v >= NONE ? NONE : (uint32_t)v;
}

static int take_revision(struct state *s, json_t *o, uint64_t order, const char *path, char *err,
			 size_t errlen)
{
	json_t *aff = json_object_get(o, "affected"), *v;
	const char *id = json_string_value(json_object_get(o, "incident"));
	const char *msg = json_string_value(json_object_get(o, "msg"));
	json_int_t rev = json_integer_value(json_object_get(o, "rev"));
	struct incident *in;
	uint32_t k;
	size_t i;

	if (!id || !msg || !json_is_integer(json_object_get(o, "rev")) || !json_is_array(aff)) {
		snprintf(err, errlen,
			 "%s:%" PRIu64 ": expected an alert with incident, rev, msg and affected",
			 path, order);
		return TN_EINVAL;
	}
	k = smap_get(&s->ids, id);
	if (k == NONE) {
		if (s->ninc == s->capinc) {
			size_t cap = s->capinc ? s->capinc * 2 : 256;
			struct incident *ni = realloc(s->inc, cap * sizeof *ni);
			if (!ni)
				return TN_ENOMEM;
			s->inc = ni;
			s->capinc = cap;
		}
		k = (uint32_t)s->ninc++;
		memset(&s->inc[k], 0, sizeof s->inc[k]);
		if (smap_put(&s->ids, id, k) != 0)
			return TN_ENOMEM;
	}
	in = &s->inc[k];
	if (in->order && rev < (json_int_t)in->rev)
		return 0; /* an older revision after a newer one: keep the newer */
	in->rev = (uint32_t)rev;
	in->order = order;
	in->merged = strcmp(msg, "merged") == 0;
	free(in->merged_into);
	in->merged_into = NULL;
	if (in->merged) {
		const char *into = json_string_value(json_object_get(o, "merged_into"));
		if (into && !(in->merged_into = strdup(into)))
			return TN_ENOMEM;
	}
	free(in->member);
	in->nmember = 0;
	in->member = malloc((json_array_size(aff) + 1) * sizeof *in->member);
	if (!in->member)
		return TN_ENOMEM;
	json_array_foreach(aff, i, v)
	{
		json_t *ev = json_object_get(v, "event");
		in->member[in->nmember++] = line_of(json_string_value(json_object_get(ev, "id")));
	}
	return 0;
}

/*
 * One revision, parsed only as far as the scorer needs. The engine writes its
 * keys in a fixed order (correlator.h) and a JSON string cannot hold a bare
 * quote, so `,"at_risk":` at top level ends what is needed but for
 * merged_into, which comes last: the forecast and the explanations, most of
 * a revision's bytes, are skipped. Anything else is parsed whole.
 */
static json_t *load_revision(char *buf, size_t len, json_error_t *je)
{
	static const char at_risk[] = ",\"at_risk\":", into[] = ",\"merged_into\":";
	char *cut = memmem(buf, len, at_risk, sizeof at_risk - 1);
	char *m, *p;
	json_t *o, *tail;
	char save;

	if (!cut || memmem(buf, (size_t)(cut - buf), into, sizeof into - 1))
		return json_loadb(buf, len, 0, je);
	save = cut[0];
	cut[0] = '}';
	o = json_loadb(buf, (size_t)(cut - buf) + 1, 0, je);
	cut[0] = save;
	if (!json_is_object(o))
		return o;
	/* the last ,"merged_into": of the line, if any */
	for (m = NULL, p = cut; (p = memmem(p, len - (size_t)(p - buf), into, sizeof into - 1));
	     p++)
		m = p;
	if (m) {
		m[0] = '{';
		tail = json_loadb(m, len - (size_t)(m - buf), 0, je);
		m[0] = ',';
		if (!json_is_object(tail)) {
			json_decref(tail);
			json_decref(o);
			return json_loadb(buf, len, 0, je);
		}
		json_object_update(o, tail);
		json_decref(tail);
	}
	return o;
}

static int read_alerts(struct state *s, const char *path, struct tn__sim_score *out, char *err,
		       size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0;
	ssize_t len;
	uint64_t line = 0;
	int rc = 0;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return TN_EIO;
	}
	while (rc == 0 && (len = getline(&buf, &cap, f)) >= 0) {
		json_error_t je;
		json_t *o;

		line++;
		if (buf == NULL || len == 0 || buf[0] == '\n') /* buf: for -Wnonnull under -O1 */
			continue;
		o = load_revision(buf, (size_t)len, &je);
		if (!json_is_object(o)) {
			snprintf(err, errlen, "%s:%" PRIu64 ": expected a JSON object: %s", path,
				 line, o ? "not an object" : je.text);
			rc = TN_EINVAL;
		} else {
			rc = take_revision(s, o, line, path, err, errlen);
			out->revisions++;
		}
		json_decref(o);
	}
	free(buf);
	if (rc == 0 && ferror(f)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		rc = TN_EIO;
	}
	fclose(f);
	return rc;
}

/* Follow merged_into to the incident that absorbed everything. */
static void resolve(struct state *s)
{
	for (size_t i = 0; i < s->ninc; i++) {
		uint32_t r = (uint32_t)i;
		for (size_t hops = 0; hops < s->ninc && s->inc[r].merged && s->inc[r].merged_into;
		     hops++) {
			uint32_t next = smap_get(&s->ids, s->inc[r].merged_into);
			if (next == NONE)
				break;
			r = next;
		}
		s->inc[i].root = r;
	}
}

static int by_order(const void *x, const void *y, void *arg)
{
	const struct incident *inc = arg;
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return inc[a].order < inc[b].order ? -1 : inc[a].order > inc[b].order;
}

int tn__sim_score_files(const char *truth, const char *scenario, const char *alerts,
			struct tn__sim_score *out, char *err, size_t errlen)
{
	struct state s;
	struct tn__scenario *sc = NULL;
	struct smap last_fail = {0};
	uint64_t *tl = NULL, *pl = NULL, foreign = 0, revisions;
	uint32_t *order = NULL;
	size_t nscored = 0;
	char *ebuf = NULL;
	size_t elen = 0;
	FILE *ef;
	int rc;

	memset(&s, 0, sizeof s);
	memset(out, 0, sizeof *out);
	ef = open_memstream(&ebuf, &elen);
	rc = tn__scenario_read(scenario, TN_SCENARIO_EPOCH_US, ef, 1, &sc);
	if (ef)
		fclose(ef);
	if (rc != 0) {
		snprintf(err, errlen, "%s", ebuf && *ebuf ? ebuf : tn_strerror(rc));
		err[strcspn(err, "\n")] = '\0';
		free(ebuf);
		return rc;
	}
	free(ebuf);
	rc = TN_ENOMEM;
	s.nlines = (sc->n ? sc->line[sc->n - 1] : 1) + 1;
	s.truth = calloc(s.nlines, sizeof *s.truth);
	s.scored = malloc(s.nlines * sizeof *s.scored);
	s.fail_of = malloc(s.nlines * sizeof *s.fail_of);
	tl = malloc((sc->n + 1) * sizeof *tl);
	pl = malloc((sc->n + 1) * sizeof *pl);
	if (!s.truth || !s.scored || !s.fail_of || !tl || !pl)
		goto out;
	for (size_t l = 0; l < s.nlines; l++)
		s.scored[l] = s.fail_of[l] = NONE;
	/* The failures are what is scored; a restoration named as a member
	 * stands for the failure of its asset it ends. */
	for (size_t i = 0; i < sc->n; i++) {
		const struct tn_event *ev = &sc->ev[i];
		uint32_t line = sc->line[i];

		if (ev->type == TN_EV_DOWN || ev->type == TN_EV_DEGRADED) {
			s.scored[line] = (uint32_t)nscored++;
			if ((rc = smap_put(&last_fail, ev->asset, line)) != 0)
				goto out;
		} else if (ev->type == TN_EV_UP) {
			s.fail_of[line] = smap_get(&last_fail, ev->asset);
		}
	}
	if ((rc = read_truth(&s, truth, err, errlen)) != 0)
		goto out;
	for (size_t i = 0; i < sc->n; i++) {
		uint32_t line = sc->line[i];
		if (s.scored[line] == NONE)
			continue;
		if (!s.truth[line]) {
			snprintf(err, errlen, "%s: no ground truth for line %" PRIu32 " of %s",
				 truth, line, scenario);
			rc = TN_EINVAL;
			goto out;
		}
		tl[s.scored[line]] = s.truth[line];
		pl[s.scored[line]] = TN_SIM_SINGLETON | line;
	}
	if ((rc = read_alerts(&s, alerts, out, err, errlen)) != 0)
		goto out;
	revisions = out->revisions;
	resolve(&s);
	/* Later last revisions win when two incidents name one event. */
	rc = TN_ENOMEM;
	order = malloc((s.ninc + 1) * sizeof *order);
	if (!order)
		goto out;
	for (size_t i = 0; i < s.ninc; i++)
		order[i] = (uint32_t)i;
	qsort_r(order, s.ninc, sizeof *order, by_order, s.inc);
	for (size_t k = 0; k < s.ninc; k++) {
		const struct incident *in = &s.inc[order[k]];
		for (size_t j = 0; j < in->nmember; j++) {
			uint32_t line = in->member[j];
			if (line != NONE && line < s.nlines && s.fail_of[line] != NONE)
				line = s.fail_of[line];
			if (line == NONE || line >= s.nlines || s.scored[line] == NONE) {
				foreign++;
				continue;
			}
			pl[s.scored[line]] = in->root;
		}
	}
	if ((rc = tn__sim_score_pairs(tl, pl, nscored, out)) != 0)
		goto out;
	out->incidents = s.ninc;
	out->revisions = revisions;
	out->foreign = foreign;
out:
	if (rc == TN_ENOMEM)
		snprintf(err, errlen, "out of memory");
	for (size_t i = 0; i < s.ninc; i++) {
		free(s.inc[i].merged_into);
		free(s.inc[i].member);
	}
	free(s.inc);
	smap_free(&s.ids);
	smap_free(&last_fail);
	free(s.truth);
	free(s.scored);
	free(s.fail_of);
	free(tl);
	free(pl);
	free(order);
	tn__scenario_free(sc);
	return rc;
}
