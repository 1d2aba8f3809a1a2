/*
 * server — the smtp role: accepts connections on the SMTP and submission
 * listeners it was handed and runs one session per connection
 * (session.c). It owns the channels to the queue and auth roles and routes
 * their replies back to sessions by session id.
 */
#ifndef POSTERN_SMTP_SERVER_H
#define POSTERN_SMTP_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/config.h"
#include "core/ipc.h"
#include "core/loop.h"
#include "core/role.h"

typedef struct ssl_ctx_st SSL_CTX;

struct smtp_session;

/* What sessions share within one smtp process. */
struct smtp_server {
	struct role *role;
	struct loop *loop;
	const struct config *cfg; /* the role's current configuration */
	struct ipc *queue;
	struct ipc *auth;
	SSL_CTX *tls; /* NULL if no certificate could be loaded */
	unsigned nsessions;
	bool stopping;
	bool inetd; /* one session on stdin/stdout; exit when it ends */
};

extern const struct role_ops smtp_role_ops;

/* Registers a session for replies to `id`; smtp_server_forget undoes. */
void smtp_server_register(struct smtp_server *server,
                          struct smtp_session *session, uint64_t id);
void smtp_server_forget(struct smtp_server *srv, uint64_t id);
/* A session ended (called by session.c after freeing it). */
void smtp_server_session_ended(struct smtp_server *srv);

/*
 * inetd mode: serves one SMTP session on stdin/stdout with the given
 * channels to the queue and auth roles (taken over), then exits.
 */
void smtp_inetd_run(struct role *r, int queue_fd, int auth_fd)
        __attribute__((noreturn));

#endif
