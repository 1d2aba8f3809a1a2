/*
 * posternd — the mail daemon. Role dispatch only: the parent supervisor
 * (src/parent/), or one role when re-executed as `posternd --role NAME`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "config/config.h"
#include "core/role.h"
#include "parent/parent.h"
#include "queue/queue.h"
#include "auth/auth.h"
#include "smtp/server.h"

static void
usage(FILE *f)
{
	fprintf(f, "usage: posternd [--config FILE] [--foreground]\n"
	           "       posternd --config FILE --write-default\n"
	           "       posternd [--config FILE] --inetd smtp\n"
	           "       posternd --version | --help\n"
	           "\n"
	           "  --config FILE    configuration (default "
	           "/etc/postern/postern.conf)\n"
	           "  --foreground     stay attached, log to stderr\n"
	           "  --write-default  write the embedded default "
	           "configuration to FILE\n"
	           "                   unless FILE exists, then exit\n"
	           "  --inetd PROTO    serve one session on stdin/stdout\n");
}

/* Writes the embedded default configuration to `path` unless it exists. */
static int
write_default(const char *path)
{
	const char *text = config_default_text();
	size_t len = strlen(text);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	if (fd < 0)
		return errno == EEXIST ? 0 : -1;
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0) {
		close(fd);
		return -1;
	}
	fprintf(stderr, "posternd: wrote the default configuration to %s\n",
	        path);
	return close(fd);
}

static const struct role_ops *
role_by_name(const char *name)
{
	if (strcmp(name, "smtp") == 0)
		return &smtp_role_ops;
	if (strcmp(name, "queue") == 0)
		return &queue_role_ops;
	if (strcmp(name, "auth") == 0)
		return &auth_role_ops;
	return NULL;
}

int
main(int argc, char **argv)
{
	const char *config = "/etc/postern/postern.conf";
	const char *inetd = NULL;
	bool foreground = false, init = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--role") == 0 && i + 1 < argc) {
			const struct role_ops *ops = role_by_name(argv[i + 1]);

			if (ops == NULL) {
				fprintf(stderr, "posternd: no role '%s'\n",
				        argv[i + 1]);
				return 2;
			}
			role_main(ops);
		} else if (strcmp(a, "--config") == 0 && i + 1 < argc) {
			config = argv[++i];
		} else if (strcmp(a, "--inetd") == 0 && i + 1 < argc) {
			inetd = argv[++i];
		} else if (strcmp(a, "--foreground") == 0 ||
		           strcmp(a, "-f") == 0) {
			foreground = true;
		} else if (strcmp(a, "--write-default") == 0) {
			init = true;
		} else if (strcmp(a, "--version") == 0) {
			printf("posternd %s\n", POSTERN_VERSION);
			return 0;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (init) {
		if (write_default(config) < 0) {
			perror(config);
			return 1;
		}
		return 0;
	}
	if (inetd != NULL)
		return parent_inetd(config, inetd);
	return parent_main(config, foreground);
}
