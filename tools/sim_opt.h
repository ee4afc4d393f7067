/*
 * sim_opt.h - table-driven long options for the `sim` and `replay` verbs,
 * so that a new option is one line of a table (the drills will add many).
 *
 *   --name VALUE, --name=VALUE, --flag; positional arguments anywhere;
 *   "--" ends the options.
 */
#ifndef TN_SIM_OPT_H
#define TN_SIM_OPT_H

#include <stdbool.h>
#include <stdint.h>

enum tn__opt_type {
	TN_OPT_FLAG,   /* bool, no value */
	TN_OPT_STR,    /* const char *, borrowed from argv */
	TN_OPT_U64,    /* uint64_t, decimal */
	TN_OPT_INT,    /* int, decimal, may be negative */
	TN_OPT_DOUBLE, /* double, finite */
};

struct tn__opt {
	const char *name; /* without the dashes */
	enum tn__opt_type type;
	void *dst;
	bool seen; /* set by the parser */
};

/*
 * tn__opt_parse - parse argv[1..argc-1] (argv[0] is the verb or sub-verb)
 * against opts (n_opts entries); positional arguments go to pos (at most
 * max_pos, borrowed from argv), their number to *n_pos. Returns 0, or 2
 * after printing "tocsin: WHAT: expected ..., got ..." on stderr (an
 * unknown option, a missing or malformed value, too many arguments); `who`
 * prefixes the messages ("sim city"). Main thread.
 */
int tn__opt_parse(const char *who, int argc, char **argv, struct tn__opt *opts, int n_opts,
		  const char **pos, int max_pos, int *n_pos);

#endif
