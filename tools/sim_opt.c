/* sim_opt.c - table-driven long options (sim_opt.h). */
#include "sim_opt.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int value(const char *who, struct tn__opt *o, const char *v)
{
	char *end;

	errno = 0;
	switch (o->type) {
	case TN_OPT_FLAG:
		break;
	case TN_OPT_STR:
		*(const char **)o->dst = v;
		return 0;
	case TN_OPT_U64: {
		unsigned long long u = strtoull(v, &end, 10);
		if (!*v || *end || errno || v[0] == '-')
			break;
		*(uint64_t *)o->dst = u;
		return 0;
	}
	case TN_OPT_INT: {
		long l = strtol(v, &end, 10);
		if (!*v || *end || errno || l < -2147483647L || l > 2147483647L)
			break;
		*(int *)o->dst = (int)l;
		return 0;
	}
	case TN_OPT_DOUBLE: {
		double d = strtod(v, &end);
		if (!*v || *end || errno || !isfinite(d))
			break;
		*(double *)o->dst = d;
		return 0;
	}
	}
	fprintf(stderr, "tocsin: %s: --%s: expected %s, got \"%.64s\"\n", who, o->name,
		o->type == TN_OPT_DOUBLE ? "a number" : "an integer", v);
	return 2;
}

int tn__opt_parse(const char *who, int argc, char **argv, struct tn__opt *opts, int n_opts,
		  const char **pos, int max_pos, int *n_pos)
{
	bool only_pos = false;

	*n_pos = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq;
		size_t len;
		int k;

		if (!only_pos && strcmp(a, "--") == 0) {
			only_pos = true;
			continue;
		}
		if (only_pos || a[0] != '-' || a[1] == '\0') { /* "-" is a file: stdin */
			if (*n_pos == max_pos) {
				fprintf(stderr,
					"tocsin: %s: expected at most %d argument%s, got \"%.64s\" "
					"too\n",
					who, max_pos, max_pos == 1 ? "" : "s", a);
				return 2;
			}
			pos[(*n_pos)++] = a;
			continue;
		}
		if (a[1] != '-') {
			fprintf(stderr, "tocsin: %s: unknown option %s\n", who, a);
			return 2;
		}
		a += 2;
		eq = strchr(a, '=');
		len = eq ? (size_t)(eq - a) : strlen(a);
		for (k = 0; k < n_opts; k++)
			if (strlen(opts[k].name) == len && strncmp(opts[k].name, a, len) == 0)
				break;
		if (k == n_opts) {
			fprintf(stderr, "tocsin: %s: unknown option --%.*s\n", who, (int)len, a);
			return 2;
		}
		opts[k].seen = true;
		if (opts[k].type == TN_OPT_FLAG) {
			if (eq) {
				fprintf(stderr, "tocsin: %s: --%s takes no value\n", who,
					opts[k].name);
				return 2;
			}
			*(bool *)opts[k].dst = true;
			continue;
		}
		if (!eq && i + 1 >= argc) {
			fprintf(stderr, "tocsin: %s: --%s: expected a value\n", who, opts[k].name);
			return 2;
		}
		if (value(who, &opts[k], eq ? eq + 1 : argv[++i]) != 0)
			return 2;
	}
	return 0;
}
