/*
 * postern — the administration tool. Dispatches to the subcommands in
 * src/cli/. Runs as the invoking user; it never talks to the network.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "log/log.h"

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: postern [--config FILE] COMMAND [ARGS]\n"
	        "\n"
	        "commands:\n"
	        "  check [FILE]                 validate a configuration file\n"
	        "  user add ADDRESS [--quota SIZE] [--password-stdin]\n"
	        "  user passwd ADDRESS [--password-stdin]\n"
	        "  user del ADDRESS\n"
	        "  user list\n"
	        "  queue list                   show the queue (also: mailq)\n"
	        "  aliases check [FILE]         check the aliases file (also: "
	        "newaliases)\n"
	        "  aliases resolve ADDRESS...   show where mail to ADDRESS "
	        "goes\n"
	        "  version                      print the version\n"
	        "\n"
	        "The configuration defaults to $POSTERN_CONFIG, then %s.\n",
	        CLI_DEFAULT_CONFIG);
}

int
main(int argc, char **argv)
{
	const char *config = getenv("POSTERN_CONFIG");
	const char *name;
	int i = 1;

	log_init("postern", true, LOG_LEVEL_WARN);
	if (config == NULL || *config == '\0')
		config = CLI_DEFAULT_CONFIG;
	/* The classic names (symbolic links to this program). */
	name = strrchr(argv[0], '/');
	name = name != NULL ? name + 1 : argv[0];
	if (strcmp(name, "newaliases") == 0) {
		char arg0[] = "newaliases";
		char *aargv[] = {arg0, NULL};

		return cli_aliases(config, 1, aargv);
	}
	if (strcmp(name, "mailq") == 0) {
		char list[] = "list";
		char *qargv[] = {list, list, NULL};

		return cli_queue(config, 1, qargv);
	}
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			config = argv[i + 1];
			i += 2;
		} else if (strcmp(argv[i], "--help") == 0 ||
		           strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("postern %s\n", POSTERN_VERSION);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[i], "check") == 0)
		return cli_check(config, argc - i, argv + i);
	if (strcmp(argv[i], "user") == 0)
		return cli_user(config, argc - i, argv + i);
	if (strcmp(argv[i], "aliases") == 0)
		return cli_aliases(config, argc - i, argv + i);
	if (strcmp(argv[i], "queue") == 0)
		return cli_queue(config, argc - i, argv + i);
	if (strcmp(argv[i], "version") == 0) {
		printf("postern %s\n", POSTERN_VERSION);
		return 0;
	}
	fprintf(stderr, "postern: unknown command '%s'\n", argv[i]);
	usage(stderr);
	return 2;
}
