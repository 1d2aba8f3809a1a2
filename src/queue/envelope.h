/*
 * envelope — the on-disk envelope of a queued message: who sent it, to
 * whom it still has to go, and each recipient's delivery state and DSN
 * request (RFC 3461). Written by the queue role next to the message data
 * (spool/env/ID, spool/msg/ID; docs/queue.md) and read by the queue
 * runner and by `postern queue list`.
 *
 * Format, version 1 (binary-safe, self-describing, STYLE.md 9): the line
 * "POSTERN-ENVELOPE 1\n", then records "TAG LEN:VALUE\n" where TAG is a
 * lower-case word, LEN the decimal length of VALUE (which may hold any
 * byte), and a mandatory last record "end 0:\n". Message records come
 * first; each "rcpt" record starts a recipient whose "notify", "orcpt",
 * "state", "attempts", "next" and "error" records follow it. An unknown
 * tag, a missing end record, trailing bytes or a bad number make the whole
 * file invalid: the caller quarantines it, never guesses.
 */
#ifndef POSTERN_QUEUE_ENVELOPE_H
#define POSTERN_QUEUE_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ENVELOPE_MAX_SIZE  (64u * 1024 * 1024)
#define ENVELOPE_MAX_RCPTS 100000

enum envelope_state {
	ENVELOPE_PENDING,   /* to be delivered */
	ENVELOPE_DELIVERED, /* done */
	ENVELOPE_FAILED,    /* permanently failed; a DSN is due or sent */
};

enum envelope_ret {
	ENVELOPE_RET_DEFAULT, /* no RET= given */
	ENVELOPE_RET_FULL,
	ENVELOPE_RET_HDRS,
};

struct envelope_rcpt {
	char *address;   /* owned */
	unsigned notify; /* SMTP_NOTIFY_* bits, 0 = not given */
	char *orcpt;     /* owned; "" if not given */
	enum envelope_state state;
	uint32_t attempts;
	int64_t next_attempt; /* Unix time; 0 = as soon as possible */
	char *error;          /* owned; last failure text, "" if none */
};

struct envelope {
	char id[33];
	int64_t created;      /* Unix time of acceptance */
	char *sender;         /* owned; "" for the null sender */
	uint64_t size;        /* bytes of the message file */
	uint64_t body_offset; /* where the message starts after Return-Path */
	enum envelope_ret ret;
	char *envid;                 /* owned; "" if not given */
	bool smtputf8;               /* RFC 6531 transaction */
	bool eightbit;               /* BODY=8BITMIME */
	struct envelope_rcpt *rcpts; /* owned */
	size_t nrcpts;
};

/* Returns an owned empty envelope (strings ""). */
struct envelope *envelope_new(void);
/* Appends a recipient in state PENDING; returns it (owned by `env`). */
struct envelope_rcpt *envelope_add_rcpt(struct envelope *env,
                                        const char *address);
void envelope_free(struct envelope **envp);

/* Returns the owned serialized form; *len_r set. */
char *envelope_serialize(const struct envelope *env, size_t *len_r);

/*
 * Parses `len` bytes. Returns an owned envelope, or NULL with *error_r set
 * to a static description of the first problem.
 */
struct envelope *envelope_parse(const char *data, size_t len,
                                const char **error_r);

const char *envelope_state_name(enum envelope_state state);

#endif
