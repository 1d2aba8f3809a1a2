/*
 * session_priv — what session.c (the dialogue) and transfer.c (DATA and
 * BDAT, the spool file, the commit) share inside the smtp role. Never
 * included outside src/smtp/.
 */
#ifndef POSTERN_SMTP_SESSION_PRIV_H
#define POSTERN_SMTP_SESSION_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/conn.h"
#include "core/ipc.h"
#include "core/strmap.h"
#include "smtp/addr.h"
#include "smtp/cmd_parse.h"
#include "smtp/session.h"
#include "smtp/data.h"
#include "smtp/server.h"

#include <netinet/in.h>

/* The targets of one transaction must fit one commit message to the
 * queue role (IPC_MAX_PAYLOAD), with room for the rest of it. */
#define SMTP_COMMIT_TARGET_BYTES (IPC_MAX_PAYLOAD - 64 * 1024)

/* The answer to DATA (RFC 5321 4.2.2, 3.3). */
#define SMTP_REPLY_354 "354 End data with <CR><LF>.<CR><LF>"

enum smtp_state {
	SMTP_S_INIT,    /* greeting sent, no HELO/EHLO yet */
	SMTP_S_READY,   /* HELO/EHLO done, no transaction */
	SMTP_S_MAIL,    /* MAIL accepted */
	SMTP_S_RCPT,    /* at least one RCPT accepted */
	SMTP_S_DATA,    /* reading the message after 354 */
	SMTP_S_BDAT,    /* reading a BDAT chunk (RFC 3030) */
	SMTP_S_CLOSING, /* QUIT or fatal error: flushing, then gone */
};

enum smtp_wait {
	SMTP_WAIT_NONE,
	SMTP_WAIT_AUTH,   /* recipient look-up */
	SMTP_WAIT_OPEN,   /* spool file for DATA */
	SMTP_WAIT_COMMIT, /* durable commit */
	SMTP_WAIT_USAGE,  /* mailbox usage of quota-limited targets */
};

/* One delivery target: a RCPT address, or one of the addresses an alias
 * expanded it to. */
struct smtp_rcpt {
	char *address; /* the final address */
	char *mailbox; /* "domain/local" of the local account; NULL: remote */
	char *delivered_to; /* the alias address that led here, or NULL */
	uint64_t quota;     /* the local account's quota, 0: none */
	unsigned notify;    /* DSN request of the RCPT it came from */
	char *orcpt;
};

struct smtp_tx {
	struct smtp_mail_args mail;
	char sender[SMTP_ADDR_PATH_MAX + 1];
	struct smtp_rcpt *rcpts; /* targets */
	size_t nrcpts;
	size_t rcpt_cap;
	struct strmap seen;  /* the targets' keys (smtp_rcpt_key), for dedupe */
	unsigned naccepted;  /* RCPT commands accepted */
	size_t commit_bytes; /* what the targets add to MSG_QUEUE_COMMIT */
	size_t rcpt_mark;    /* targets before the RCPT being checked */
	char first_rcpt[SMTP_ADDR_PATH_MAX + 1];
	struct smtp_rcpt_args pending; /* RCPT waiting for auth */
	char qid[32];
	int fd; /* spool file, -1 before DATA */
	uint64_t written;
	uint64_t body_offset; /* after Return-Path */
	bool write_failed;
	int write_errno;
	bool chunking; /* the message comes in BDAT chunks */
	bool sent_354; /* DATA answered before the spool file came */
	struct smtp_data data;
	struct buf out;
};

struct smtp_session {
	struct smtp_session *prev, *next;
	uint64_t id;
	struct smtp_server *srv;
	struct conn *conn;
	enum config_proto proto;
	enum smtp_state state;
	enum smtp_wait wait;
	char addr[INET6_ADDRSTRLEN + 8];
	bool is_loopback;
	bool may_relay; /* in relay_network (or, later, authenticated) */
	char helo[SMTP_DOMAIN_MAX + 1];
	bool esmtp;
	bool skipping;         /* discarding the rest of an over-long line */
	bool greeted;          /* the 220 greeting has been sent */
	bool counted;          /* counted in the per-address table */
	uint64_t chunk_left;   /* octets of the current BDAT chunk to read */
	bool chunk_last;       /* the current chunk is BDAT ... LAST */
	uint64_t discard_left; /* octets of a refused BDAT chunk to skip */
	enum smtp_verb lookup_for; /* RCPT, VRFY or EXPN waiting on auth */
	char lookup[SMTP_ADDR_PATH_MAX + 1];
	uint32_t bucket;
	/* A MSG_QUEUE_OPEN sent ahead of DATA (at the first accepted RCPT)
	 * is unanswered: its file goes to whichever transaction is open
	 * when the answer comes, or back to the queue. */
	bool open_ahead;
	struct loop_timer *greet_timer;
	unsigned errors;
	unsigned transactions;
	struct smtp_tx *tx;
};

/* session.c */
/* Queues one reply line (CRLF added). Every reply goes through here. */
void smtp_reply(struct smtp_session *s, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/* Moves to `next`; a transition the table does not allow is a bug. */
void smtp_set_state(struct smtp_session *s, enum smtp_state next);
/* Ends the session after the replies already queued have been sent. */
void smtp_session_end(struct smtp_session *s);
/* Counts a client error; returns true when the session was ended. */
bool smtp_error_limit(struct smtp_session *s);
/* Drops the transaction (and its spool file); smtp_tx_reset also goes
 * back to the READY state. */
void smtp_tx_free(struct smtp_session *s);
void smtp_tx_reset(struct smtp_session *s);
/* Stops reading while another role works for the session, and resumes. */
void smtp_wait(struct smtp_session *s, enum smtp_wait what);
void smtp_resume(struct smtp_session *s);
/* Handles as much buffered input as the session's state allows. */
void smtp_session_process(struct smtp_session *s);

/* transfer.c */
void smtp_cmd_data(struct smtp_session *s, const struct smtp_cmd *cmd);
void smtp_cmd_bdat(struct smtp_session *s, const struct smtp_cmd *cmd);
/* Replies from the queue role: a spool file, a commit. */
void smtp_data_opened(struct smtp_session *s, const struct ipc_msg *msg);
/* Asks the queue for the transaction's spool file ahead of DATA, so it is
 * there when the client gets that far. */
void smtp_data_open_ahead(struct smtp_session *s);
/* The answer to that, while the session waits for something else or for
 * nothing. */
void smtp_data_opened_ahead(struct smtp_session *s, const struct ipc_msg *msg);
void smtp_data_committed(struct smtp_session *s, const struct ipc_msg *msg);
/* DATA was answered 354 but no spool file will come: reads the message,
 * then answers 451. */
void smtp_data_without_file(struct smtp_session *s);
/* Feed message octets from the input buffer; true when the message (or
 * the BDAT chunk) is complete, false when more input is needed. */
bool smtp_data_input(struct smtp_session *s);
bool smtp_chunk_input(struct smtp_session *s);

#endif
