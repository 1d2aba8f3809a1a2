/*
 * fault — POSTERN_FAULT fault injection (see fault.h). The table is
 * written once (first use, or fault_configure in a test) and only its
 * hit counts change afterwards, atomically: the queue's flusher thread
 * checks its step too.
 */
#include "core/fault.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/str.h"
#include "log/log.h"

#define FAULT_MAX      8
#define FAULT_STEP_MAX 32

struct fault {
	char step[FAULT_STEP_MAX];
	unsigned at; /* 0: every time */
	int err;     /* 0: kill */
	unsigned hits;
};

static struct fault faults[FAULT_MAX];
static size_t nfaults;
static bool configured;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static int
fault_errno(const char *name)
{
	static const struct {
		const char *name;
		int err;
	} names[] = {{"EIO", EIO}, {"ENOSPC", ENOSPC}, {"EDQUOT", EDQUOT}};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(name, names[i].name) == 0)
			return names[i].err;
	}
	return -1;
}

/* One "STEP[@N]=ACTION" of `len` bytes at `p` into `f`; 0 or -1. */
static int
fault_parse_one(const char *p, size_t len, struct fault *f)
{
	char item[FAULT_STEP_MAX + 32], *eq, *at;

	if (len == 0 || len >= sizeof(item))
		return -1;
	memcpy(item, p, len);
	item[len] = '\0';
	eq = strchr(item, '=');
	if (eq == NULL)
		return -1;
	*eq++ = '\0';
	at = strchr(item, '@');
	memset(f, 0, sizeof(*f));
	if (at != NULL) {
		char *end;
		unsigned long n;

		*at++ = '\0';
		errno = 0;
		n = strtoul(at, &end, 10);
		if (errno != 0 || end == at || *end != '\0' || n == 0 ||
		    n > 1000000)
			return -1;
		f->at = (unsigned)n;
	}
	if (item[0] == '\0' || strlen(item) >= sizeof(f->step))
		return -1;
	str_copy(f->step, sizeof(f->step), item);
	if (strcmp(eq, "kill") == 0)
		f->err = 0;
	else if ((f->err = fault_errno(eq)) < 0)
		return -1;
	return 0;
}

int
fault_configure(const char *spec)
{
	struct fault parsed[FAULT_MAX] = {0};
	size_t n = 0;

	while (spec != NULL && *spec != '\0') {
		size_t len = strcspn(spec, ",");

		if (n == FAULT_MAX ||
		    fault_parse_one(spec, len, &parsed[n]) < 0)
			return -1;
		n++;
		spec += len;
		if (*spec == ',')
			spec++;
	}
	memcpy(faults, parsed, n * sizeof(parsed[0]));
	nfaults = n;
	configured = true;
	return 0;
}

static void
fault_load(void)
{
	const char *spec = getenv("POSTERN_FAULT");

	if (configured)
		return;
	if (fault_configure(spec) < 0)
		fatal("POSTERN_FAULT: cannot parse \"%s\"", spec);
}

int
fault_check(const char *step)
{
	pthread_once(&once, fault_load);
	for (size_t i = 0; i < nfaults; i++) {
		struct fault *f = &faults[i];
		unsigned hit;

		if (strcmp(f->step, step) != 0)
			continue;
		hit = __atomic_add_fetch(&f->hits, 1, __ATOMIC_RELAXED);
		if (f->at != 0 && hit != f->at)
			continue;
		if (f->err == 0) {
			log_warn("event=fault step=%s action=kill hit=%u", step,
			         hit);
			kill(getpid(), SIGKILL);
			_exit(137); /* not reached */
		}
		log_warn("event=fault step=%s action=\"%s\" hit=%u", step,
		         strerror(f->err), hit);
		return f->err;
	}
	return 0;
}
