/*
 * cmd_keygen.c - `tocsin keygen NAME`: write NAME.key and NAME.pub (keys.h).
 *
 * NAME may include a directory (var/keys/server). Existing files are never
 * overwritten. The public key is printed so that it can be pasted into a
 * registration or a message to the server's operator; the secret key never is.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "keys.h"

int tn__cmd_keygen(int argc, char **argv, const struct tn_cli *cli)
{
	char err[512], pub[TN_KEY_Z85_LEN + 1], path[4096];
	const char *name;

	(void)cli;
	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf("usage: tocsin keygen NAME\n"
		       "  write the CURVE key pair NAME.key (secret, mode 0600) and NAME.pub\n");
		return 0;
	}
	if (argc != 2 || argv[1][0] == '-' || argv[1][0] == '\0') {
		fprintf(stderr, "usage: tocsin keygen NAME\n");
		return 2;
	}
	name = argv[1];
	if (tn_key_generate(name, err, sizeof err) != 0) {
		fprintf(stderr, "tocsin: %s\n", err);
		return 1;
	}
	snprintf(path, sizeof path, "%s.pub", name);
	if (tn_key_read(path, 0, pub, err, sizeof err) != 0) {
		fprintf(stderr, "tocsin: %s\n", err);
		return 1;
	}
	printf("public key  %s\n", pub);
	printf("secret key  %s.key (mode 0600; keep it private)\n", name);
	printf("public file %s.pub\n", name);
	return 0;
}
