/*
 * msg — the IPC message types exchanged between postern's roles, with the
 * payload layout of each (built with ipc_put_*, read with ipc_get_* in the
 * order given). One table so every role agrees on it.
 */
#ifndef POSTERN_CORE_MSG_H
#define POSTERN_CORE_MSG_H

enum msg_type {
	/* parent -> role (control channel) */
	MSG_CONFIG = 1,  /* str config text */
	MSG_LISTENER,    /* fd; u32 proto, str "addr:port" */
	MSG_PEER,        /* fd; str peer role name ("queue", "auth") */
	MSG_START,       /* (empty) all set up: drop privileges and serve */
	MSG_RELOAD,      /* str config text: swap to it */
	MSG_SHUTDOWN,    /* u64 grace ms: stop accepting, finish, exit */
	MSG_SMTP_LIMITS, /* fd (memfd); u32 worker index, u32 workers: the
	                    shared per-address session table (limits.h) */

	/* smtp -> auth, and the reply */
	MSG_AUTH_LOOKUP = 100, /* str address (lower case) */
	MSG_AUTH_LOOKUP_R,     /* u8 result (resolve_result), u32 ntargets,
	                          per target: u8 kind (QUEUE_RCPT_*), str
	                          address, str account (local) or "", u64
	                          quota, str alias address (Delivered-To) or
	                          "" */

	/* smtp -> queue, and the replies */
	MSG_QUEUE_OPEN = 200, /* (empty): open a spool file */
	MSG_QUEUE_OPEN_R,     /* fd (absent on failure); str queue id or "" */
	MSG_QUEUE_COMMIT,     /* str queue id, u64 size, u64 body offset,
	                         str sender, u8 ret (envelope_ret), str envid,
	                         u8 flags (QUEUE_F_*), u32 nrcpt, then per
	                         recipient: u8 kind (QUEUE_RCPT_*), str address,
	                         str mailbox (local: "domain/local", remote:
	                         ""), u32 notify (SMTP_NOTIFY_*), str orcpt */
	MSG_QUEUE_COMMIT_R,   /* u8 status (QUEUE_STATUS_*), str text */
	MSG_QUEUE_ABORT,      /* str queue id: discard the spool file */
	MSG_QUEUE_USAGE,      /* u32 n, per account: str "domain/local" */
	MSG_QUEUE_USAGE_R,    /* u32 n, per account: u64 bytes stored */
};

enum queue_rcpt_kind {
	QUEUE_RCPT_LOCAL = 1,
	QUEUE_RCPT_REMOTE = 2,
};

/* Message flags of MSG_QUEUE_COMMIT. */
#define QUEUE_F_SMTPUTF8 0x1u
#define QUEUE_F_8BIT     0x2u

enum queue_status {
	QUEUE_STATUS_OK = 0,       /* durable */
	QUEUE_STATUS_TEMPFAIL = 1, /* 451: try again later */
	QUEUE_STATUS_PERMFAIL = 2, /* 554: will never be accepted */
};

#endif
