/*
 * session — one SMTP session (RFC 5321) from greeting to QUIT: command
 * dispatch through a table, the transaction (MAIL, RCPT, DATA), trace
 * headers, and the hand-over to the queue role.
 */
#ifndef POSTERN_SMTP_SESSION_H
#define POSTERN_SMTP_SESSION_H

#include <stdint.h>
#include <sys/socket.h>

#include "config/config.h"
#include "core/ipc.h"
#include "smtp/server.h"

/*
 * Starts a session on the connected socket `fd` (or on the pair in_fd=fd,
 * out_fd when out_fd >= 0: inetd mode). Takes ownership of the fds. `sa`
 * is the client's address, or NULL if unknown (local pipe).
 */
void smtp_session_new(struct smtp_server *srv, int fd, int out_fd,
                      enum config_proto proto, const struct sockaddr *sa);

/* A reply from the queue or auth role for this session. */
void smtp_session_reply(struct smtp_session *s, const struct ipc_msg *msg);
/* A reply no session waits for (the session ended, or asked for nothing):
 * a spool file the queue has just created is given back at once. */
void smtp_drop_reply(struct smtp_server *srv, const struct ipc_msg *msg);

/* The queue (true) or auth (false) channel broke: every session waiting
 * on it gets a temporary failure. */
void smtp_session_peer_lost(bool queue);

/* Graceful stop: idle sessions are told 421 and closed; sessions inside a
 * transaction may finish it. */
void smtp_session_shutdown_all(void);

#endif
