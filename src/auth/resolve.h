/*
 * resolve — recipient resolution: what one RCPT TO address finally
 * delivers to, after aliases, plus-addressing and catch-alls.
 *
 * RULES
 *
 * An address in a domain that is not local is one REMOTE target, as
 * written (domain in lower case). For an address local@domain in a local
 * domain, the first rule that applies wins:
 *
 *   (a) an alias keyed `local@domain` (virtual alias of that domain);
 *   (b) an alias keyed `local` (exists in every local domain);
 *   (c) the account local@domain (the account callback);
 *   (d) when a recipient delimiter is set and the local part holds one of
 *       its characters (not first, not in a quoted local part): (a)-(c)
 *       again with the base, the local part cut at the first such
 *       character: user+tag@d -> user@d. A target found this way keeps
 *       the address user+tag@d and delivers to the account user@d;
 *   (e) the catch-all alias `@domain`;
 *   (f) otherwise the address is UNKNOWN.
 *
 * An alias is expanded member by member, recursively: a bare member is
 * taken in the domain of the address being expanded, a member in a
 * domain that is not local is a REMOTE target, any other member goes
 * through the rules again. Further:
 *
 *  - A member equal to an address that is being expanded (a loop:
 *    `a: b` and `b: a`, or `root: root, alice`) is not expanded again:
 *    when it is an account it is delivered to that account (the classic
 *    "an alias that names itself delivers to the user"), otherwise the
 *    whole resolution fails with RESOLVE_LOOP.
 *  - An address already expanded in this resolution is not expanded a
 *    second time; targets are delivered once each (a LOCAL target once
 *    per account, a REMOTE target once per address).
 *  - A member that is UNKNOWN makes the whole resolution UNKNOWN (its
 *    message names the member): an alias with a stale member is a
 *    configuration error that `postern aliases check` reports, and
 *    postern refuses during the SMTP dialogue rather than dropping mail
 *    for one member in silence.
 *  - Bounds: at most max_depth levels of aliases below the address
 *    (RESOLVE_TOO_DEEP), at most max_targets targets and at most
 *    RESOLVE_VISITS_PER_TARGET * max_targets addresses looked at in all
 *    (RESOLVE_TOO_MANY).
 *
 * POSTMASTER
 *
 * RFC 5321 4.5.1: every domain that accepts mail must accept mail for
 * postmaster@domain. When an address whose local part is `postmaster`
 * (any case) in a local domain would be UNKNOWN, resolve_address returns
 * RESOLVE_POSTMASTER instead, with no target: the caller then applies
 * its fallback (the account or address the configuration names for it,
 * or else the first account of the domain) rather than refusing. A bare
 * "postmaster" with no domain (RCPT TO:<Postmaster>, RFC 5321 4.1.1.3) is
 * taken as postmaster@ the first local domain.
 *
 * SMTP REPLIES
 *
 * resolve_result_reply() suggests the RCPT reply for each result:
 *
 *   RESOLVE_UNKNOWN    550 5.1.1  (RFC 3463 X.1.1 bad destination mailbox)
 *   RESOLVE_LOOP       550 5.4.6  (X.4.6 routing loop detected)
 *   RESOLVE_TOO_DEEP   550 5.4.6  (nesting that deep is a loop in effect)
 *   RESOLVE_TOO_MANY   550 5.5.3  (X.5.3 too many recipients; retrying
 *                                  later cannot help, so not 452 4.5.3)
 *   RESOLVE_TEMPFAIL   451 4.3.0  (X.3.0 other mail system problem)
 *   RESOLVE_INVALID    501 5.1.3  (X.1.3 bad destination address syntax)
 *
 * Each target names the alias that produced it, so the local delivery
 * can add "Delivered-To:" and detect a message that comes back around
 * (RFC 5321 6.3: loops are detected by such trace fields and hop counts).
 *
 * The auth role runs this, backed by the users file; so does
 * `postern aliases resolve`. Pure apart from the callback: no I/O, no
 * logging.
 */
#ifndef POSTERN_AUTH_RESOLVE_H
#define POSTERN_AUTH_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/aliases.h"

/* Defaults for the bounds in struct resolve_ctx. */
#define RESOLVE_DEPTH_DEFAULT     20
#define RESOLVE_TARGETS_DEFAULT   1000
#define RESOLVE_VISITS_PER_TARGET 10

/* Longest address handled, without NUL. */
#define RESOLVE_ADDRESS_MAX ALIASES_ADDRESS_MAX

/* What the account callback found. */
enum resolve_account {
	RESOLVE_ACCOUNT_NONE,     /* no such account */
	RESOLVE_ACCOUNT_FOUND,    /* an account; *quota_r set */
	RESOLVE_ACCOUNT_TEMPFAIL, /* cannot tell now (users file unreadable) */
};

/*
 * Looks up the account `address` (local@domain, lower case, borrowed for
 * the call). Sets *quota_r (bytes, 0 = unlimited) when it returns FOUND.
 */
typedef enum resolve_account resolve_account_fn(void *arg, const char *address,
                                                uint64_t *quota_r);

/* What resolve_address needs; everything is borrowed for the call. */
struct resolve_ctx {
	const struct aliases *aliases; /* may be NULL: no aliases */
	const char *const *domains;    /* the local domains, any case */
	size_t ndomains;
	/* Recipient delimiter characters ("+", "+-"): any of them ends the
	 * base of a local part. NULL or "" turns rule (d) off. */
	const char *delimiter;
	resolve_account_fn *account_lookup; /* required */
	void *account_arg;
	unsigned max_depth; /* 0: RESOLVE_DEPTH_DEFAULT */
	size_t max_targets; /* 0: RESOLVE_TARGETS_DEFAULT */
};

enum resolve_result {
	RESOLVE_OK,         /* at least one target */
	RESOLVE_UNKNOWN,    /* no such local recipient (or a member) */
	RESOLVE_POSTMASTER, /* postmaster@local domain, unresolved: fall back */
	RESOLVE_LOOP,       /* alias loop without an account to end it */
	RESOLVE_TOO_DEEP,   /* aliases nested deeper than max_depth */
	RESOLVE_TOO_MANY,   /* more than max_targets targets (or visits) */
	RESOLVE_TEMPFAIL,   /* the account callback could not answer */
	RESOLVE_INVALID,    /* not an address */
};

enum resolve_kind {
	RESOLVE_LOCAL,  /* deliver into the mailbox of `account` */
	RESOLVE_REMOTE, /* relay to `address` */
};

struct resolve_target {
	enum resolve_kind kind;
	/* The final address: for LOCAL in lower case (user+tag@d when
	 * found by rule (d)); for REMOTE as written, domain lower case. */
	char address[RESOLVE_ADDRESS_MAX + 1];
	/* LOCAL: the account (lower case) and its quota (0 = unlimited).
	 * REMOTE: "" and 0. */
	char account[RESOLVE_ADDRESS_MAX + 1];
	uint64_t quota;
	/* True when an alias produced the target; then alias_key is its key
	 * as in the file ("sales", "sales@d.test", "@d.test") and
	 * alias_address the address it expanded ("sales@d.test"), which is
	 * what Delivered-To: should carry. Both "" otherwise. */
	bool via_alias;
	char alias_key[RESOLVE_ADDRESS_MAX + 1];
	char alias_address[RESOLVE_ADDRESS_MAX + 1];
};

/* The result of one resolution. Owned by the caller's variable; filled
 * by resolve_address, emptied by resolve_targets_deinit. */
struct resolve_targets {
	struct resolve_target *items; /* in the order found */
	size_t count;
	size_t cap;
	char error[512]; /* why, when the result is not OK */
};

/*
 * Resolves `address` (borrowed: local@domain as the SMTP server formats
 * it, or "postmaster") with `ctx`. Initialises *out first, so it must not
 * hold targets from an earlier call (deinit it before reuse).
 *
 * Returns RESOLVE_OK with out->count >= 1 targets, or another result
 * with no targets and, if `error_r` is not NULL, a one-line reason in
 * *error_r (it points into out->error: valid until out is deinited or
 * reused). Never returns RESOLVE_OK with no target.
 */
enum resolve_result
resolve_address(const struct resolve_ctx *ctx, const char *address,
                struct resolve_targets *out, const char **error_r)
        __attribute__((warn_unused_result));

/*
 * Expands the members of `alias` (borrowed) as if an address of the
 * local domain `domain` (any case) had matched it: the key in that
 * domain for a bare key, the key itself otherwise. What `postern aliases
 * check` uses to try every entry, catch-alls included. Results, *out and
 * *error_r as for resolve_address (no RESOLVE_POSTMASTER).
 */
enum resolve_result resolve_alias(const struct resolve_ctx *ctx,
                                  const struct alias *alias, const char *domain,
                                  struct resolve_targets *out,
                                  const char **error_r)
        __attribute__((warn_unused_result));

/* Frees the targets in *targets and leaves it empty; accepts a zeroed or
 * already emptied struct. */
void resolve_targets_deinit(struct resolve_targets *targets);

/* "ok", "unknown", "postmaster", "loop", "too-deep", "too-many",
 * "tempfail", "invalid": for logs (result=...). Static. */
const char *resolve_result_name(enum resolve_result result);

/* The suggested RCPT reply line for a failed result (see SMTP REPLIES),
 * without CRLF; static. "250 2.1.5 OK" for RESOLVE_OK, and the 550 5.1.1
 * line for RESOLVE_POSTMASTER, for a caller that has no fallback. */
const char *resolve_result_reply(enum resolve_result result);

#endif
