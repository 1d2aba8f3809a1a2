/*
 * log — the logging sinks. Each process calls log_init() once with its
 * role name. stderr lines carry a UTC timestamp; syslog adds its own.
 */
#include "log/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static const char *log_role = "postern";
static bool log_to_stderr = true;
static enum log_level log_min = LOG_LEVEL_INFO;
/* getpid() is a system call per line otherwise; a forked child must not
 * keep its parent's. */
static pid_t log_pid;

static void
log_forget_pid(void)
{
	log_pid = 0;
}

static const char *const level_names[] = {"debug", "info", "warn", "error"};
static const int level_syslog[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR};

static void
log_register_atfork(void)
{
	(void)pthread_atfork(NULL, NULL, log_forget_pid);
}

void
log_init(const char *role, bool to_stderr, enum log_level level)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	(void)pthread_once(&once, log_register_atfork);
	log_role = role;
	log_to_stderr = to_stderr;
	log_min = level;
	if (!to_stderr)
		openlog("postern", LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_set_level(enum log_level level)
{
	log_min = level;
}

int
log_level_parse(const char *name, enum log_level *level_r)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(*level_names);
	     i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*level_r = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

static void log_emit(enum log_level level, int errnum, const char *fmt,
                     va_list ap) __attribute__((format(printf, 3, 0)));

static void
log_emit(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char msg[2048];
	int n;

	if (level < log_min)
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	if (errnum != 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s",
		         strerror(errnum));
	if (log_to_stderr) {
		char ts[32];
		struct timespec now;
		struct tm tm;

		if (log_pid == 0)
			log_pid = getpid();
		clock_gettime(CLOCK_REALTIME, &now);
		gmtime_r(&now.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ldZ %s[%ld] %s: %s\n", ts,
		        now.tv_nsec / 1000000, log_role, (long)log_pid,
		        level_names[level], msg);
	} else {
		syslog(level_syslog[level], "%s: %s: %s", log_role,
		       level_names[level], msg);
	}
}

#define LOG_BODY(level, errnum)                                                \
	do {                                                                   \
		va_list ap;                                                    \
		int saved_errno = errno;                                       \
		va_start(ap, fmt);                                             \
		log_emit(level, errnum, fmt, ap);                              \
		va_end(ap);                                                    \
		errno = saved_errno;                                           \
	} while (0)

void
log_debug(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_DEBUG, 0);
}

void
log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_INFO, 0);
}

void
log_warn(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_WARN, 0);
}

void
log_err(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERR, 0);
}

void
log_warn_errno(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_WARN, errno);
}

void
log_err_errno(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERR, errno);
}

void
fatal(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERR, 0);
	exit(1);
}

void
fatal_errno(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERR, errno);
	exit(1);
}

void
panic(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERR, 0);
	abort();
}

char *
log_escape(char *out, size_t outsz, const char *s, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t need = (c >= 0x20 && c < 0x7f && c != '\\') ? 1 : 4;

		if (o + need + 4 > outsz) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (need == 1) {
			out[o++] = (char)c;
		} else {
			snprintf(out + o, 5, "\\x%02x", c);
			o += 4;
		}
	}
	out[o] = '\0';
	return out;
}
