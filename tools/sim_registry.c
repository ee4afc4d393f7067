/*
 * sim_registry.c - assets.csv and dependencies.csv (design §2) into an
 * in-memory graph, for the tools that run the engine without a database
 * (`tocsin sim cascades`, `tocsin replay --offline`).
 *
 * The graph's builder checks every field; this file only splits the rows
 * and names the file and line of what it refused.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"
#include "sim.h"
#include "tocsin/error.h"

#define MAX_ROW 4096

static const char *const assets_header =
	"id,sector,kind,name,lat,lon,area,criticality,population,backup_s,sensitivity";
static const char *const deps_header = "dependent,provider,kind,delay_min_s,delay_max_s";

static int num(const char *s, double *d)
{
	char *end;

	errno = 0;
	*d = strtod(s, &end);
	return !*s || *end || errno || !isfinite(*d) ? -1 : 0;
}

static int integer(const char *s, int64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoll(s, &end, 10);
	return !*s || *end || errno ? -1 : 0;
}

static int asset_row(struct tn_graph_builder *b, char **f, char *msg, size_t len)
{
	struct tn_asset a;
	int64_t v;
	int k;

	memset(&a, 0, sizeof a);
	a.id = f[0];
	if ((k = tn_sector_parse(f[1], strlen(f[1]))) < 0) {
		snprintf(msg, len, "sector: expected a sector code, got \"%.64s\"", f[1]);
		return TN_EINVAL;
	}
	a.sector = (enum tn_sector)k;
	a.kind = f[2];
	a.name = f[3];
	if (num(f[4], &a.lat) || num(f[5], &a.lon)) {
		snprintf(msg, len, "lat/lon: expected degrees, got \"%.32s\", \"%.32s\"", f[4],
			 f[5]);
		return TN_EINVAL;
	}
	a.area = f[6];
	if (integer(f[7], &v) || v < 1 || v > 5) {
		snprintf(msg, len, "criticality: expected 1..5, got \"%.32s\"", f[7]);
		return TN_EINVAL;
	}
	a.criticality = (int)v;
	if (integer(f[8], &a.population)) {
		snprintf(msg, len, "population: expected an integer, got \"%.32s\"", f[8]);
		return TN_EINVAL;
	}
	if (integer(f[9], &v) || v < 0 || v > INT32_MAX) {
		snprintf(msg, len, "backup_s: expected seconds >= 0, got \"%.32s\"", f[9]);
		return TN_EINVAL;
	}
	a.backup_s = (int32_t)v;
	if ((k = tn_sensitivity_parse(f[10], strlen(f[10]))) < 0) {
		snprintf(msg, len,
			 "sensitivity: expected public, official or official-sensitive, got "
			 "\"%.32s\"",
			 f[10]);
		return TN_EINVAL;
	}
	a.sensitivity = (enum tn_sensitivity)k;
	return tn_graph_add_asset(b, &a, msg, len);
}

static int dep_row(struct tn_graph_builder *b, char **f, char *msg, size_t len)
{
	struct tn_dependency d;
	int64_t lo = -1, hi = -1;
	int k;

	d.dependent = f[0];
	d.provider = f[1];
	if ((k = tn_dep_kind_parse(f[2], strlen(f[2]))) < 0) {
		snprintf(msg, len, "kind: expected a dependency kind, got \"%.32s\"", f[2]);
		return TN_EINVAL;
	}
	d.kind = (enum tn_dep_kind)k;
	if ((*f[3] || *f[4]) &&
	    (integer(f[3], &lo) || integer(f[4], &hi) || lo < 0 || hi < lo || hi > INT32_MAX)) {
		snprintf(msg, len,
			 "delay_min_s/delay_max_s: expected both empty or 0 <= min <= max, got "
			 "\"%.32s\", \"%.32s\"",
			 f[3], f[4]);
		return TN_EINVAL;
	}
	d.delay_min_s = (int32_t)lo;
	d.delay_max_s = (int32_t)hi;
	return tn_graph_add_dependency(b, &d, msg, len);
}

static int load(struct tn_graph_builder *b, const char *path, const char *header, int ncols,
		int (*fn)(struct tn_graph_builder *, char **, char *, size_t), FILE *errs)
{
	FILE *f = fopen(path, "r");
	char buf[MAX_ROW + 2], msg[512];
	unsigned long line = 0;
	int rc = 0;

	if (!f) {
		if (errs)
			fprintf(errs, "%s: %s\n", path, strerror(errno));
		return TN_EIO;
	}
	while (rc == 0 && fgets(buf, sizeof buf, f)) {
		char *field[16];
		const char *why;
		int n;

		line++;
		buf[strcspn(buf, "\r\n")] = '\0';
		if (line == 1) {
			if (strcmp(buf, header) != 0) {
				if (errs)
					fprintf(errs, "%s:1: header: expected \"%s\"\n", path,
						header);
				rc = TN_EINVAL;
			}
			continue;
		}
		if (!*buf)
			continue;
		n = tn__csv_split(buf, field, 16, &why);
		if (n != ncols) {
			if (errs)
				fprintf(errs, "%s:%lu: expected %d fields, got %s\n", path, line,
					ncols, n < 0 ? why : "another number");
			rc = TN_EINVAL;
			break;
		}
		msg[0] = '\0';
		if ((rc = fn(b, field, msg, sizeof msg)) != 0 && errs)
			fprintf(errs, "%s:%lu: %s\n", path, line, *msg ? msg : tn_strerror(rc));
	}
	if (rc == 0 && line == 0) {
		if (errs)
			fprintf(errs, "%s: empty file (expected a header)\n", path);
		rc = TN_EINVAL;
	}
	fclose(f);
	return rc;
}

int tn__sim_load_graph(const char *assets, const char *deps, FILE *errs, struct tn_graph **out)
{
	struct tn_graph_builder *b;
	int rc;

	*out = NULL;
	if ((rc = tn_graph_builder_new(0, 0, &b)) != 0)
		return rc;
	if ((rc = load(b, assets, assets_header, 11, asset_row, errs)) != 0 ||
	    (rc = load(b, deps, deps_header, 5, dep_row, errs)) != 0) {
		tn_graph_builder_free(b);
		return rc;
	}
	return tn_graph_build(b, out);
}
