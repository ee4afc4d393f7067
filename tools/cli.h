/*
 * cli.h - the `tocsin` command: shared context of its verbs.
 *
 * Each verb lives in its own file (tools/cmd_<verb>.c) and is listed in the
 * table of tools/main.c. A verb returns the process exit status: 0 success,
 * 1 failure (it printed why on stderr, lowercase, no final period), 2 usage.
 */
#ifndef TN_CLI_H
#define TN_CLI_H

struct tn_cli {
	const char *config;   /* --config FILE, or NULL */
	const char *conninfo; /* resolved: --db, $TOCSIN_DB, the config's store.conninfo, "dbname=tocsin" */
	const char *schema_dir; /* --schema DIR, $TOCSIN_SCHEMA_DIR, or NULL (cmd_db.c) */
};

/* argv[0] is the verb itself. Main thread. */
int tn__cmd_keygen(int argc, char **argv, const struct tn_cli *cli);
int tn__cmd_adapter(int argc, char **argv, const struct tn_cli *cli);
int tn__cmd_console(int argc, char **argv, const struct tn_cli *cli);
int tn__cmd_planner(int argc, char **argv, const struct tn_cli *cli);
int tn__cmd_db(int argc, char **argv, const struct tn_cli *cli);
int tn__cmd_send(int argc, char **argv, const struct tn_cli *cli);
int tn__cmd_assets(int argc, char **argv, const struct tn_cli *cli);
int tn__cmd_sim(int argc, char **argv, const struct tn_cli *cli);
int tn__cmd_replay(int argc, char **argv, const struct tn_cli *cli);
int tn__cmd_cap(int argc, char **argv, const struct tn_cli *cli);
int tn__cmd_record(int argc, char **argv, const struct tn_cli *cli);
int tn__cmd_drill(int argc, char **argv, const struct tn_cli *cli);
int tn__cmd_report(int argc, char **argv, const struct tn_cli *cli);
int tn__cmd_watch(int argc, char **argv, const struct tn_cli *cli);
int tn__cmd_audit(int argc, char **argv, const struct tn_cli *cli);

#endif
