/*
 * check — `postern check [--dump] [FILE]`: validates a configuration file
 * the way posternd would read it at start, and prints every error as
 * FILE:LINE: message on stderr. With --dump it prints the configuration
 * in canonical form (every setting, defaults included) instead of
 * "FILE: ok". Runs as the invoking user; reads only the file.
 */
#include "cli/cli.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

static int
check_usage(void)
{
	fprintf(stderr, "usage: postern check [--dump] [FILE]\n");
	return 2;
}

int
cli_check(const char *config_path, int argc, char **argv)
{
	const char *path = config_path;
	bool have_path = false;
	bool dump = false;
	struct config *cfg;
	char *error = NULL;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dump") == 0) {
			dump = true;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			return check_usage();
		} else if (!have_path) {
			path = argv[i];
			have_path = true;
		} else {
			return check_usage();
		}
	}
	if (path == NULL)
		return check_usage();
	cfg = config_load(path, &error);
	if (cfg == NULL) {
		fputs(error != NULL ? error : "configuration error\n", stderr);
		free(error);
		return 1;
	}
	if (dump) {
		char *text = config_dump(cfg);

		fputs(text, stdout);
		free(text);
	} else {
		printf("%s: ok\n", path);
	}
	config_free(&cfg);
	return fflush(stdout) == 0 ? 0 : 1;
}
