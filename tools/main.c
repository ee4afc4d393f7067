/* main.c - `tocsin VERB ...`: global options, then the verb's own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"

struct verb {
	const char *name;
	int (*run)(int argc, char **argv, const struct tn_cli *cli);
	const char *usage;
};

static const struct verb verbs[] = {
	{"keygen", tn__cmd_keygen, "keygen NAME              write NAME.key (0600) and NAME.pub"},
	{"adapter", tn__cmd_adapter,
	 "adapter add NAME --key NAME.pub --sectors S,... [--assets PREFIX,...]\n"
	 "  adapter revoke NAME | adapter list"},
	{"console", tn__cmd_console,
	 "console add NAME --key NAME.pub [--clearance C]\n"
	 "  console revoke NAME | console list"},
	{"planner", tn__cmd_planner,
	 "planner add NAME --key NAME.pub [--clearance C]\n"
	 "  planner revoke NAME | planner list      keys that run drills on a server"},
	{"db", tn__cmd_db,
	 "db migrate               apply schema/NNN_*.sql not yet applied\n"
	 "  db status                list applied and pending schema files"},
	{"send", tn__cmd_send,
	 "send FILE [--endpoint E] [--key K --server-key S] [--batch N]\n"
	 "                           send events from CSV or JSON lines, print each ack"},
	{"assets", tn__cmd_assets,
	 "assets import ASSETS.csv DEPENDENCIES.csv   replace the asset registry\n"
	 "  assets export --out DIR  write assets.csv and dependencies.csv"},
	{"sim", tn__cmd_sim,
	 "sim city|cascades|score ...  simulated city, cascade scenarios, scoring (sim --help)"},
	{"replay", tn__cmd_replay,
	 "replay [--offline] FILE [--assets A.csv --deps D.csv] [--json] [--speed N|--asap]\n"
	 "       [--drill NAME] [--inject FILE] [--without ITEM,...]\n"
	 "                           run a scenario or a recording through the engine in-process"},
	{"record", tn__cmd_record,
	 "record --from T1 --to T2 -o FILE [--db CONNINFO] [--source S] | record --journal DIR -o FILE\n"
	 "                           export the events of a time range as a drill recording"},
	{"drill", tn__cmd_drill,
	 "drill diff A.jsonl B.jsonl [--json]\n"
	 "                           compare the incidents of two replays, incident by incident"},
	{"report", tn__cmd_report,
	 "report RUN.jsonl [--scenario FILE] [--assets A.csv --deps D.csv] -o report.html\n"
	 "                           a replay as one self-contained HTML page"},
	{"cap", tn__cmd_cap,
	 "cap INCIDENT [--rev N] [--stream S] [--sender S] [--public]\n"
	 "                           print an incident revision as an OASIS CAP 1.2 alert"},
	{"audit", tn__cmd_audit,
	 "audit [--since T] [--until T] [--actor A] [--action X] [--limit N] [--json]\n"
	 "                           the audit trail: who did what, when, from where"},
	{"watch", tn__cmd_watch,
	 "watch --key NAME.key --server-key SERVER.pub [--alerts E] [--control E] [--operator N]\n"
	 "                           a live terminal console: open incidents, ack, explain"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: tocsin [--config FILE] [--db CONNINFO] [--schema DIR] VERB ...\n\n");
	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		fprintf(f, "  %s\n", verbs[i].usage);
}

int main(int argc, char **argv)
{
	static struct tn_config cfg;
	struct tn_cli cli = {0};
	const char *db = NULL;
	int i = 1;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			cli.config = argv[++i];
		else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc)
			db = argv[++i];
		else if (strcmp(argv[i], "--schema") == 0 && i + 1 < argc)
			cli.schema_dir = argv[++i];
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "tocsin: unknown option %s\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}

	/* One line at a time, so results interleave sensibly with stderr. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	tn_config_defaults(&cfg);
	if (cli.config) {
		char err[512];
		if (tn_config_load(cli.config, &cfg, err, sizeof err) != 0) {
			fprintf(stderr, "tocsin: %s\n", err);
			return 1;
		}
	}
	if (!db)
		db = getenv("TOCSIN_DB");
	cli.conninfo = db ? db : cfg.conninfo;
	if (!cli.schema_dir)
		cli.schema_dir = getenv("TOCSIN_SCHEMA_DIR");

	for (size_t v = 0; v < sizeof verbs / sizeof verbs[0]; v++)
		if (strcmp(argv[i], verbs[v].name) == 0)
			return verbs[v].run(argc - i, argv + i, &cli);
	fprintf(stderr, "tocsin: unknown verb %s\n", argv[i]);
	usage(stderr);
	return 2;
}
