/*
 * cli/queue — `postern queue list` (also answers as `mailq`): shows the
 * messages waiting in the queue for remote recipients, read from the
 * envelopes in <data_dir>/spool/env/. Read-only; runs as the invoking
 * user, who must be able to read the spool.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "config/config.h"
#include "core/fileio.h"
#include "core/xalloc.h"
#include "queue/envelope.h"

/* The envelope file at `path`, whole, or NULL with errno set. */
static char *
read_small_file(const char *path, size_t *len_r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	char *data;
	int err;

	if (fd < 0)
		return NULL;
	data = fileio_read_bounded(fd, ENVELOPE_MAX_SIZE, len_r);
	err = errno;
	close(fd);
	errno = err;
	return data;
}

static void
print_envelope(const struct envelope *env)
{
	char when[32];
	time_t t = (time_t)env->created;
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%a %b %d %H:%M:%S", &tm);
	printf("%-16s %8llu %s  <%s>\n", env->id, (unsigned long long)env->size,
	       when, env->sender);
	for (size_t i = 0; i < env->nrcpts; i++) {
		const struct envelope_rcpt *r = &env->rcpts[i];

		printf("%42s<%s> %s", "", r->address,
		       envelope_state_name(r->state));
		if (r->attempts > 0)
			printf(" attempts=%u", r->attempts);
		printf("\n");
		if (r->error[0] != '\0')
			printf("%44s(%s)\n", "", r->error);
	}
}

static int
queue_list(const struct config *cfg)
{
	char *dir = xasprintf("%s/spool/env", cfg->data_dir);
	DIR *d = opendir(dir);
	struct dirent *de;
	unsigned count = 0, bad = 0;

	if (d == NULL) {
		if (errno == ENOENT) {
			printf("Mail queue is empty\n");
			free(dir);
			return 0;
		}
		fprintf(stderr, "postern: %s: %s\n", dir, strerror(errno));
		free(dir);
		return 1;
	}
	while ((de = readdir(d)) != NULL) {
		char path[4096];
		size_t len = 0, n = strlen(de->d_name);
		const char *err = NULL;
		struct envelope *env;
		char *data;

		if (de->d_name[0] == '.' ||
		    (n > 4 && strcmp(de->d_name + n - 4, ".tmp") == 0))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		data = read_small_file(path, &len);
		if (data == NULL) {
			fprintf(stderr, "postern: %s: %s\n", path,
			        strerror(errno));
			bad++;
			continue;
		}
		env = envelope_parse(data, len, &err);
		free(data);
		if (env == NULL) {
			fprintf(stderr, "postern: %s: %s\n", path, err);
			bad++;
			continue;
		}
		if (count == 0)
			printf("%-16s %8s %-17s  %s\n", "Queue ID", "Size",
			       "Arrival Time", "Sender/Recipient");
		print_envelope(env);
		envelope_free(&env);
		count++;
	}
	closedir(d);
	free(dir);
	if (count == 0)
		printf("Mail queue is empty\n");
	else
		printf("-- %u message%s in the queue\n", count,
		       count == 1 ? "" : "s");
	return bad == 0 ? 0 : 1;
}

int
cli_queue(const char *config_path, int argc, char **argv)
{
	char *err = NULL;
	struct config *cfg;
	int rc;

	if (argc > 2 || (argc == 2 && strcmp(argv[1], "list") != 0)) {
		fprintf(stderr, "usage: postern queue list\n");
		return 2;
	}
	cfg = config_load(config_path, &err);
	if (cfg == NULL) {
		fprintf(stderr, "%s", err);
		free(err);
		return 1;
	}
	rc = queue_list(cfg);
	config_free(&cfg);
	return rc;
}
