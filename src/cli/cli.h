/*
 * cli — the subcommands of the `postern` administration tool. Each takes
 * the arguments after its name (argv[0] is the subcommand) and the
 * configuration path chosen with --config, and returns the process exit
 * status (0 success, 1 error, 2 usage; sysexits(3) codes where a classic
 * interface such as sendmail expects them).
 */
#ifndef POSTERN_CLI_CLI_H
#define POSTERN_CLI_CLI_H

/* postern check [FILE]: validate a configuration, print file:line errors */
int cli_check(const char *config_path, int argc, char **argv);
/* postern user add|passwd|del|list ... */
int cli_user(const char *config_path, int argc, char **argv);

/* postern aliases check [FILE] | resolve ADDRESS...; also newaliases */
int cli_aliases(const char *config_path, int argc, char **argv);
/* postern queue [list]: the messages queued for remote delivery */
int cli_queue(const char *config_path, int argc, char **argv);

/* The configuration used when neither --config nor $POSTERN_CONFIG is
 * given. */
#define CLI_DEFAULT_CONFIG "/etc/postern/postern.conf"

#endif
