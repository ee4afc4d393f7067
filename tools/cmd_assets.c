/*
 * cmd_assets.c - `tocsin assets import | export`: the asset registry.
 */
#include <stdio.h>

#include "cli.h"

int tn__cmd_assets(int argc, char **argv, const struct tn_cli *cli)
{
	(void)argc;
	(void)argv;
	(void)cli;
	fprintf(stderr, "tocsin: assets: not implemented yet\n");
	return 1;
}
