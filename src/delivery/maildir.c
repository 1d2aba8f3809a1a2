/*
 * maildir — Maildir layout and naming for local delivery (queue role).
 */
#include "delivery/maildir.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

bool
maildir_mailbox_valid(const char *mailbox)
{
	const char *slash = strchr(mailbox, '/');

	if (slash == NULL || slash == mailbox || slash[1] == '\0' ||
	    strchr(slash + 1, '/') != NULL || mailbox[0] == '.' ||
	    slash[1] == '.' || strlen(mailbox) > MAILDIR_PATH_MAX - 32)
		return false;
	for (const char *p = mailbox; *p != '\0'; p++) {
		if (*p <= 0x20 || *p >= 0x7f)
			return false;
	}
	return true;
}

static int
mkdir_exist_ok(const char *path)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

int
maildir_ensure(const char *mailbox)
{
	static const char *const subs[] = {"tmp", "new", "cur"};
	char path[MAILDIR_PATH_MAX];
	const char *slash = strchr(mailbox, '/');

	snprintf(path, sizeof(path), "mail/%s/new", mailbox);
	if (access(path, F_OK) == 0)
		return 0;
	snprintf(path, sizeof(path), "mail/%.*s", (int)(slash - mailbox),
	         mailbox);
	if (mkdir_exist_ok(path) < 0)
		return -1;
	snprintf(path, sizeof(path), "mail/%s", mailbox);
	if (mkdir_exist_ok(path) < 0)
		return -1;
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "mail/%s/%s", mailbox, subs[i]);
		if (mkdir_exist_ok(path) < 0)
			return -1;
	}
	return 0;
}

void
maildir_unique_name(char *out, size_t outsz, const char *hostname,
                    uint64_t size)
{
	static unsigned long counter;
	struct timespec ts;
	char host[128];
	size_t i;

	/* '/' and ':' cannot appear in the host part (RFC-less Maildir
	 * rule: ':' starts the info, '/' separates directories). */
	for (i = 0; hostname[i] != '\0' && i < sizeof(host) - 1; i++)
		host[i] = (hostname[i] == '/' || hostname[i] == ':')
		                  ? '_'
		                  : hostname[i];
	host[i] = '\0';
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(out, outsz, "%lld.M%ldP%ldQ%lu.%s,S=%llu",
	         (long long)ts.tv_sec, ts.tv_nsec / 1000, (long)getpid(),
	         ++counter, host, (unsigned long long)size);
}
