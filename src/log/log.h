/*
 * log — one line per event, to stderr (foreground) or syslog.
 *
 * Lines read "ROLE[PID] LEVEL: event key=value ...". Callers put the object
 * id first (session=HEX, msg=ID), an event word, then key=value pairs, so
 * an administrator can grep for them (STYLE.md 13). Peer text must go
 * through log_escape() first. Passwords and message bodies are never
 * logged.
 */
#ifndef POSTERN_LOG_LOG_H
#define POSTERN_LOG_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERR,
};

/* Sets the role name printed on every line (borrowed; must outlive the
 * process's logging), the sink, and the minimum level. */
void log_init(const char *role, bool to_stderr, enum log_level level);
void log_set_level(enum log_level level);
/* Parses "debug", "info", "warn", "error"; returns -1 if unknown. */
int log_level_parse(const char *name, enum log_level *level_r);

#define LOG_FMT(a, b) __attribute__((format(printf, a, b)))

void log_debug(const char *fmt, ...) LOG_FMT(1, 2);
void log_info(const char *fmt, ...) LOG_FMT(1, 2);
void log_warn(const char *fmt, ...) LOG_FMT(1, 2);
void log_err(const char *fmt, ...) LOG_FMT(1, 2);
/* As above, appending ": strerror(errno)". errno is preserved. */
void log_warn_errno(const char *fmt, ...) LOG_FMT(1, 2);
void log_err_errno(const char *fmt, ...) LOG_FMT(1, 2);

/* The environment is broken: log and exit(1); the parent restarts us. */
void fatal(const char *fmt, ...) LOG_FMT(1, 2) __attribute__((noreturn));
void fatal_errno(const char *fmt, ...) LOG_FMT(1, 2) __attribute__((noreturn));
/* A bug: log and abort() for a core file. */
void panic(const char *fmt, ...) LOG_FMT(1, 2) __attribute__((noreturn));

/*
 * Copies at most `len` bytes of peer text `s` into `out` (size `outsz`,
 * at least 8), escaping anything but printable ASCII as \xHH and
 * truncating with "..." past the space. Returns `out`.
 */
char *log_escape(char *out, size_t outsz, const char *s, size_t len);

#endif
