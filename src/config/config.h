/*
 * config — the parsed, validated postern.conf.
 *
 * The parent parses the file once (config_load), then sends the canonical
 * text (config_dump) to each role, which parses it back
 * (config_parse_string): every role sees exactly the settings the parent
 * validated, and reload is "parse, validate, swap or refuse".
 *
 * Every setting is one row of the typed table in params.c (name, type,
 * default, min, max, doc): nothing reads a setting that is not in it.
 * Relative paths in a file are resolved against the directory holding the
 * file, so the stored struct holds absolute paths only.
 */
#ifndef POSTERN_CONFIG_CONFIG_H
#define POSTERN_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log/log.h"

enum config_proto {
	CONFIG_PROTO_SMTP,        /* 25: MTA to MTA, STARTTLS offered */
	CONFIG_PROTO_SUBMISSION,  /* 587: STARTTLS, AUTH required to send */
	CONFIG_PROTO_SUBMISSIONS, /* 465: implicit TLS */
	CONFIG_PROTO_IMAP,
	CONFIG_PROTO_IMAPS,
	CONFIG_PROTO_POP3,
	CONFIG_PROTO_POP3S,
};

/* "smtp", "submission", ... ; NULL-safe reverse in config_proto_parse. */
const char *config_proto_name(enum config_proto proto);
int config_proto_parse(const char *name, enum config_proto *proto_r);
/* True for the protocols that start with TLS: submissions, imaps, pop3s. */
bool config_proto_is_implicit_tls(enum config_proto proto);

struct config_listen {
	enum config_proto proto;
	char addr[64]; /* numeric IPv4 or IPv6 address, no brackets */
	uint16_t port;
};

/* A network in CIDR form for relay_networks. */
struct config_net {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned prefix;
};

enum config_plaintext_auth {
	CONFIG_PLAINTEXT_NEVER,    /* AUTH/LOGIN only after TLS */
	CONFIG_PLAINTEXT_LOOPBACK, /* also without TLS on 127/8 and ::1 */
	CONFIG_PLAINTEXT_ALWAYS,   /* also without TLS from anywhere */
};

struct config {
	char *path; /* absolute path of the file, or "<default>" */

	/* identity */
	char *hostname; /* greeting and Received: name */
	char **domains; /* local domains, lower case */
	size_t ndomains;

	/* files (absolute) */
	char *data_dir;       /* mail/<domain>/<local>/ and spool/ under it */
	char *users_file;     /* the users file (auth role only reads it) */
	char *tls_cert;       /* PEM chain */
	char *tls_key;        /* PEM key */
	bool tls_self_signed; /* make cert+key on start if both missing */

	/* processes */
	char *run_user; /* uid the roles switch to when started as root */
	unsigned smtp_workers; /* 0: one per core */
	uint64_t shutdown_timeout_ms;

	/* logging */
	bool log_syslog; /* false: stderr */
	enum log_level log_level;

	/* listeners */
	struct config_listen *listens;
	size_t nlistens;

	/* security */
	enum config_plaintext_auth plaintext_auth;
	struct config_net *relay_networks;
	size_t nrelay_networks;

	/* SMTP limits (RFC 5321 section 4.5.3 minimums as defaults) */
	uint64_t max_message_size;    /* bytes */
	unsigned smtp_max_recipients; /* per message */
	unsigned smtp_max_errors;     /* before disconnect */
	unsigned smtp_max_sessions;   /* per smtp worker */
	unsigned smtp_max_sessions_per_ip;
	unsigned smtp_max_hops; /* Received: headers (RFC 5321 6.3) */
	uint64_t smtp_command_timeout_ms;
	uint64_t smtp_data_timeout_ms;

	/* SMTP policy */
	char *aliases_file;        /* NULL: no aliases (see docs/aliases.md) */
	char *recipient_delimiter; /* one character, or "none" */
	bool smtp_vrfy_expn;       /* answer VRFY/EXPN for trusted clients */
	bool smtp_verb;            /* answer VERB with 250 (else 502) */
	bool smtp_received_auth;   /* name the AUTH user in Received: */
	uint64_t smtp_greeting_delay_ms; /* early-talker detection window */

	/* queue schedule */
	uint64_t queue_retry_min_ms;
	uint64_t queue_retry_max_ms;
	uint64_t queue_warn_after_ms;
	uint64_t queue_lifetime_ms;
};

/*
 * Parses and validates the file at `path` (relative paths inside it are
 * resolved against its directory; cfg->path is its absolute name). On
 * success returns an owned config and sets *error_r to NULL. On failure
 * returns NULL and sets *error_r to an owned text with one line per
 * error, "PATH:LINE: message", or "PATH: message" for what concerns the
 * whole file (unreadable, no domain); at most 50 errors, then a line
 * saying it gave up. `error_r` may be NULL.
 */
struct config *config_load(const char *path, char **error_r);
/*
 * As config_load for `len` bytes of text in memory (NUL bytes in it are
 * reported as errors); `name` is used in error messages and as cfg->path,
 * and `base_dir` resolves relative paths (it should be absolute; a
 * relative one is taken from the working directory, as is NULL).
 */
struct config *config_parse_string(const char *text, size_t len,
                                   const char *name, const char *base_dir,
                                   char **error_r);
/* Returns owned canonical text that config_parse_string turns back into
 * an equal config (every setting, absolute paths). */
char *config_dump(const struct config *cfg);
/*
 * True if every setting of `a` equals that of `b` (the `path` they were
 * read from is not compared): what a reload uses to see a change, and
 * what proves config_dump() loses nothing.
 */
bool config_equal(const struct config *a, const struct config *b);
/* The embedded default configuration for `make run` (static text). */
const char *config_default_text(void);
/* Frees *cfgp and clears it; accepts NULL and *cfgp == NULL. */
void config_free(struct config **cfgp);

/* True if `domain` (any case, one trailing dot allowed) is one of the
 * local domains. False for NULL arguments. */
bool config_is_local_domain(const struct config *cfg, const char *domain);

/* The plus-addressing separator: one character, or "" when off. */
const char *config_recipient_delimiter(const struct config *cfg);
/* True if the address (AF_INET or AF_INET6; an IPv4-mapped IPv6 address
 * counts as its IPv4 address) is in relay_networks. False for other
 * families and NULL arguments. */
struct sockaddr;
bool config_is_relay_client(const struct config *cfg,
                            const struct sockaddr *sa);

#endif
