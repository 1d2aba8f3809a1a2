/*
 * parent — the supervisor of posternd: see parent.c.
 */
#ifndef POSTERN_PARENT_PARENT_H
#define POSTERN_PARENT_PARENT_H

#include <stdbool.h>

/* Runs the daemon on the configuration at `config_path` until SIGTERM.
 * Returns the process exit status. */
int parent_main(const char *config_path, bool foreground);

/* Serves one session of `proto` ("smtp") on stdin/stdout, with its own
 * queue and auth roles; returns when the session ends. */
int parent_inetd(const char *config_path, const char *proto);

#endif
