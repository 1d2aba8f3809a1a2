/*
 * resolve — expands one recipient address into its final targets
 * (rules in resolve.h).
 *
 * Run by the auth role for every RCPT TO to a local domain, and by
 * `postern aliases resolve`. The expansion is a depth-first walk over
 * alias members. Three pieces of state bound it and keep it correct:
 *
 *  - the stack of addresses whose alias is being expanded (at most
 *    max_depth + 1 deep): a member found on it is a loop;
 *  - the set of addresses already expanded in full: each is walked once,
 *    so shared sub-lists cost nothing the second time and the work is
 *    linear in the size of the alias graph, not exponential in its depth;
 *  - the set of targets already chosen, for delivering once per account
 *    or remote address.
 *
 * The walk also counts every address it looks at and stops at
 * RESOLVE_VISITS_PER_TARGET * max_targets. Nothing here does I/O; the
 * account callback is the only way out.
 */
#include "auth/resolve.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/str.h"
#include "core/strmap.h"
#include "core/xalloc.h"
#include "log/log.h"

/* max_depth is lowered to this: the walk recurses once per level. */
#define RESOLVE_DEPTH_LIMIT 100

/* The alias that named an address, for targets and messages. */
struct resolve_via {
	const char *key;     /* the alias key */
	const char *address; /* the address it expanded */
};

struct resolve_state {
	const struct resolve_ctx *ctx;
	struct resolve_targets *out;
	unsigned max_depth;
	size_t max_targets;
	size_t max_visits;
	size_t visits;
	char (*stack)[RESOLVE_ADDRESS_MAX + 1];
	unsigned nstack;
	unsigned stack_cap;
	/* Sets (values unused) with copied keys: the keys are built in
	 * stack buffers. Each holds at most max_visits keys. */
	struct strmap done;      /* addresses expanded in full */
	struct strmap delivered; /* "L" account / "R" address */
};

/* --- helpers -------------------------------------------------------- */

static enum resolve_result resolve_fail(struct resolve_state *st,
                                        enum resolve_result result,
                                        const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Records why the resolution failed; returns `result`. */
static enum resolve_result
resolve_fail(struct resolve_state *st, enum resolve_result result,
             const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->out->error, sizeof(st->out->error), fmt, ap);
	va_end(ap);
	return result;
}

/* " (member of alias 'KEY')" or "", for messages. */
static const char *
resolve_via_text(const struct resolve_via *via, char *buf, size_t bufsz)
{
	if (via == NULL)
		return "";
	snprintf(buf, bufsz, " (member of alias '%s')", via->key);
	return buf;
}

static bool
resolve_is_local_domain(const struct resolve_ctx *ctx, const char *domain)
{
	for (size_t i = 0; i < ctx->ndomains; i++) {
		if (strcasecmp(ctx->domains[i], domain) == 0)
			return true;
	}
	return false;
}

/* Writes local@domain into `out` (RESOLVE_ADDRESS_MAX + 1 bytes);
 * false if it does not fit. */
static bool
resolve_join(char *out, const char *local, size_t local_len, const char *domain)
{
	int n = snprintf(out, RESOLVE_ADDRESS_MAX + 1, "%.*s@%s",
	                 (int)local_len, local, domain);

	return n >= 0 && n <= RESOLVE_ADDRESS_MAX;
}

static bool
resolve_on_stack(const struct resolve_state *st, const char *address)
{
	for (unsigned i = 0; i < st->nstack; i++) {
		if (strcmp(st->stack[i], address) == 0)
			return true;
	}
	return false;
}

/* --- targets -------------------------------------------------------- */

/* Appends a target unless `dedupe_key` was delivered already. */
static enum resolve_result
resolve_add(struct resolve_state *st, const char *dedupe_key,
            const struct resolve_target *t)
{
	struct resolve_targets *out = st->out;

	if (strmap_get(&st->delivered, dedupe_key, NULL))
		return RESOLVE_OK;
	if (out->count == st->max_targets)
		return resolve_fail(st, RESOLVE_TOO_MANY,
		                    "more than %zu targets", st->max_targets);
	(void)strmap_put(&st->delivered, dedupe_key, 0, NULL);
	if (out->count == out->cap) {
		out->cap = out->cap ? out->cap * 2 : 4;
		out->items = xrealloc(out->items, out->cap * sizeof(*t));
	}
	out->items[out->count++] = *t;
	return RESOLVE_OK;
}

static void
resolve_target_via(struct resolve_target *t, const struct resolve_via *via)
{
	if (via == NULL)
		return;
	t->via_alias = true;
	str_copy(t->alias_key, sizeof(t->alias_key), via->key);
	str_copy(t->alias_address, sizeof(t->alias_address), via->address);
}

static enum resolve_result
resolve_add_local(struct resolve_state *st, const char *address,
                  const char *account, uint64_t quota,
                  const struct resolve_via *via)
{
	struct resolve_target t = {.kind = RESOLVE_LOCAL, .quota = quota};
	char key[RESOLVE_ADDRESS_MAX + 2];

	str_copy(t.address, sizeof(t.address), address);
	str_copy(t.account, sizeof(t.account), account);
	resolve_target_via(&t, via);
	snprintf(key, sizeof(key), "L%s", account);
	return resolve_add(st, key, &t);
}

static enum resolve_result
resolve_add_remote(struct resolve_state *st, const char *local,
                   const char *domain, const struct resolve_via *via)
{
	struct resolve_target t = {.kind = RESOLVE_REMOTE};
	char key[RESOLVE_ADDRESS_MAX + 2];

	if (!resolve_join(t.address, local, strlen(local), domain))
		return resolve_fail(st, RESOLVE_INVALID,
		                    "address longer than %d octets: %s@%s",
		                    RESOLVE_ADDRESS_MAX, local, domain);
	str_lower(strrchr(t.address, '@'));
	resolve_target_via(&t, via);
	snprintf(key, sizeof(key), "R%s", t.address);
	return resolve_add(st, key, &t);
}

/*
 * Asks for the account `account`; when it exists, adds a LOCAL target
 * with address `address`. Returns RESOLVE_OK (added), RESOLVE_UNKNOWN
 * (no such account; no message set) or another failure.
 */
static enum resolve_result
resolve_account(struct resolve_state *st, const char *address,
                const char *account, const struct resolve_via *via)
{
	uint64_t quota = 0;

	switch (st->ctx->account_lookup(st->ctx->account_arg, account,
	                                &quota)) {
	case RESOLVE_ACCOUNT_FOUND:
		return resolve_add_local(st, address, account, quota, via);
	case RESOLVE_ACCOUNT_TEMPFAIL:
		return resolve_fail(st, RESOLVE_TEMPFAIL,
		                    "cannot look up the account %s now",
		                    account);
	case RESOLVE_ACCOUNT_NONE:
		break;
	}
	return RESOLVE_UNKNOWN;
}

/* A member names an address on the stack: deliver to its account, or
 * fail with a loop. */
static enum resolve_result
resolve_loop(struct resolve_state *st, const char *address, const char *account,
             const struct resolve_via *via)
{
	char vbuf[RESOLVE_ADDRESS_MAX + 32];
	enum resolve_result r = resolve_account(st, address, account, via);

	if (r != RESOLVE_UNKNOWN)
		return r;
	return resolve_fail(st, RESOLVE_LOOP,
	                    "alias loop: %s%s is already being expanded and "
	                    "is not an account",
	                    account, resolve_via_text(via, vbuf, sizeof(vbuf)));
}

/* --- the walk ------------------------------------------------------- */

static enum resolve_result resolve_expand(struct resolve_state *st,
                                          const char *local, const char *domain,
                                          const struct resolve_via *via,
                                          unsigned depth);

/* Expands the members of `alias`, found for `address` in `domain`. */
static enum resolve_result
resolve_members(struct resolve_state *st, const struct alias *alias,
                const char *address, const char *domain, unsigned depth)
{
	struct resolve_via via = {alias->key, NULL};
	enum resolve_result r = RESOLVE_OK;

	/* One push per level at most: max_depth + 1 entries suffice. */
	if (st->nstack == st->stack_cap)
		panic("resolve: stack of %u addresses overflows",
		      st->stack_cap);
	str_copy(st->stack[st->nstack], sizeof(st->stack[0]), address);
	via.address = st->stack[st->nstack];
	st->nstack++;
	for (size_t i = 0; i < alias->nmembers && r == RESOLVE_OK; i++) {
		const struct alias_member *m = &alias->members[i];

		r = resolve_expand(st, m->local,
		                   m->domain != NULL ? m->domain : domain, &via,
		                   depth + 1);
	}
	st->nstack--;
	return r;
}

/* Rules (a) and (b) for `address` (lower case) whose local part is its
 * first `local_len` bytes. */
static const struct alias *
resolve_alias_find(const struct resolve_state *st, const char *address,
                   size_t local_len)
{
	const struct aliases *aliases = st->ctx->aliases;
	char local[RESOLVE_ADDRESS_MAX + 1];
	const struct alias *a;

	if (aliases == NULL)
		return NULL;
	a = aliases_lookup(aliases, address);
	if (a != NULL)
		return a;
	snprintf(local, sizeof(local), "%.*s", (int)local_len, address);
	return aliases_lookup(aliases, local);
}

/* Length of the base of a local part for rule (d), or 0 when the rule
 * does not apply. */
static size_t
resolve_base_len(const char *delimiter, const char *local, size_t local_len)
{
	size_t n;

	if (delimiter == NULL || *delimiter == '\0' || local[0] == '"')
		return 0;
	n = strcspn(local, delimiter);
	return n < local_len ? n : 0;
}

/* Rule (d): `address` (lower case, no alias, no account) again with the
 * base of its local part. RESOLVE_UNKNOWN (no message) if nothing. */
static enum resolve_result
resolve_rule_base(struct resolve_state *st, const char *address,
                  size_t local_len, const char *domain,
                  const struct resolve_via *via, unsigned depth)
{
	size_t base_len =
	        resolve_base_len(st->ctx->delimiter, address, local_len);
	char base[RESOLVE_ADDRESS_MAX + 1];
	const struct alias *alias;
	enum resolve_result r;

	if (base_len == 0)
		return RESOLVE_UNKNOWN;
	(void)resolve_join(base, address, base_len, domain);
	if (resolve_on_stack(st, base))
		return resolve_loop(st, address, base, via);
	if (strmap_get(&st->done, base, NULL))
		return RESOLVE_OK;
	alias = resolve_alias_find(st, base, base_len);
	if (alias == NULL)
		return resolve_account(st, address, base, via);
	r = resolve_members(st, alias, base, domain, depth);
	if (r == RESOLVE_OK)
		(void)strmap_put(&st->done, base, 0, NULL);
	return r;
}

/* Applies rules (a) to (f) to `address` (lower case) in a local
 * `domain`. */
static enum resolve_result
resolve_rules(struct resolve_state *st, const char *address, const char *domain,
              const struct resolve_via *via, unsigned depth)
{
	size_t local_len = (size_t)(strrchr(address, '@') - address);
	char key[RESOLVE_ADDRESS_MAX + 2];
	char vbuf[RESOLVE_ADDRESS_MAX + 32];
	const struct alias *alias;
	enum resolve_result r;

	alias = resolve_alias_find(st, address, local_len);
	if (alias != NULL)
		return resolve_members(st, alias, address, domain, depth);
	r = resolve_account(st, address, address, via);
	if (r != RESOLVE_UNKNOWN)
		return r;
	r = resolve_rule_base(st, address, local_len, domain, via, depth);
	if (r != RESOLVE_UNKNOWN)
		return r;
	if (st->ctx->aliases != NULL) {
		snprintf(key, sizeof(key), "@%s", domain);
		alias = aliases_lookup(st->ctx->aliases, key);
		if (alias != NULL)
			return resolve_members(st, alias, address, domain,
			                       depth);
	}
	return resolve_fail(st, RESOLVE_UNKNOWN, "%s: no such recipient%s",
	                    address, resolve_via_text(via, vbuf, sizeof(vbuf)));
}

/* Resolves local@domain found `depth` aliases below the address asked
 * for, named by `via` (NULL at the top). */
static enum resolve_result
resolve_expand(struct resolve_state *st, const char *local, const char *domain,
               const struct resolve_via *via, unsigned depth)
{
	char address[RESOLVE_ADDRESS_MAX + 1];
	char vbuf[RESOLVE_ADDRESS_MAX + 32];
	enum resolve_result r;

	if (++st->visits > st->max_visits)
		return resolve_fail(st, RESOLVE_TOO_MANY,
		                    "alias expansion looks at more than %zu "
		                    "addresses",
		                    st->max_visits);
	if (!resolve_is_local_domain(st->ctx, domain))
		return resolve_add_remote(st, local, domain, via);
	if (!resolve_join(address, local, strlen(local), domain))
		return resolve_fail(st, RESOLVE_INVALID,
		                    "address longer than %d octets",
		                    RESOLVE_ADDRESS_MAX);
	str_lower(address);
	if (resolve_on_stack(st, address))
		return resolve_loop(st, address, address, via);
	if (strmap_get(&st->done, address, NULL))
		return RESOLVE_OK;
	if (depth > st->max_depth)
		return resolve_fail(st, RESOLVE_TOO_DEEP,
		                    "aliases nested more than %u deep at %s%s",
		                    st->max_depth, address,
		                    resolve_via_text(via, vbuf, sizeof(vbuf)));
	r = resolve_rules(st, address, domain, via, depth);
	if (r == RESOLVE_OK)
		(void)strmap_put(&st->done, address, 0, NULL);
	return r;
}

/* --- API ------------------------------------------------------------ */

/* Splits the address asked for into local part and lower-case domain;
 * NULL or a reason. */
static const char *
resolve_split(const struct resolve_ctx *ctx, const char *address, char *local,
              char *domain)
{
	size_t len = strlen(address);
	const char *at = strrchr(address, '@');
	size_t local_len;

	if (len > RESOLVE_ADDRESS_MAX)
		return "address longer than 320 octets";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)address[i];

		if (c < ' ' || c == 0x7f)
			return "control character in address";
	}
	if (at == NULL) {
		/* RCPT TO:<Postmaster> (RFC 5321 4.1.1.3) */
		if (strcasecmp(address, "postmaster") != 0 ||
		    ctx->ndomains == 0)
			return "no domain in address";
		str_copy(local, ALIASES_LOCAL_MAX + 1, "postmaster");
		str_copy(domain, ALIASES_DOMAIN_MAX + 1, ctx->domains[0]);
		str_lower(domain);
		return NULL;
	}
	local_len = (size_t)(at - address);
	if (local_len == 0)
		return "empty local part";
	if (local_len > ALIASES_LOCAL_MAX)
		return "local part longer than 64 octets";
	if (at[1] == '\0')
		return "empty domain";
	if (strlen(at + 1) > ALIASES_DOMAIN_MAX)
		return "domain longer than 255 octets";
	memcpy(local, address, local_len);
	local[local_len] = '\0';
	str_copy(domain, ALIASES_DOMAIN_MAX + 1, at + 1);
	str_lower(domain);
	return NULL;
}

static void
resolve_state_init(struct resolve_state *st, const struct resolve_ctx *ctx,
                   struct resolve_targets *out)
{
	memset(st, 0, sizeof(*st));
	st->ctx = ctx;
	st->out = out;
	st->max_depth = ctx->max_depth ? ctx->max_depth : RESOLVE_DEPTH_DEFAULT;
	if (st->max_depth > RESOLVE_DEPTH_LIMIT)
		st->max_depth = RESOLVE_DEPTH_LIMIT;
	st->max_targets =
	        ctx->max_targets ? ctx->max_targets : RESOLVE_TARGETS_DEFAULT;
	if (!size_mul(st->max_targets, RESOLVE_VISITS_PER_TARGET,
	              &st->max_visits))
		st->max_visits = SIZE_MAX;
	st->stack_cap = st->max_depth + 1;
	st->stack = xcalloc(st->stack_cap, sizeof(*st->stack));
	strmap_init(&st->done, STRMAP_KEYS_COPIED);
	strmap_init(&st->delivered, STRMAP_KEYS_COPIED);
}

static void
resolve_state_deinit(struct resolve_state *st)
{
	free(st->stack);
	strmap_deinit(&st->done);
	strmap_deinit(&st->delivered);
}

/* Ends a resolution: a failure leaves no target and gives its reason. */
static enum resolve_result
resolve_finish(struct resolve_targets *out, enum resolve_result r,
               const char **error_r)
{
	if (r == RESOLVE_OK && out->count == 0)
		panic("resolve: resolved to no target");
	if (r != RESOLVE_OK) {
		XFREE(out->items);
		out->count = 0;
		out->cap = 0;
		if (error_r != NULL)
			*error_r = out->error;
	}
	return r;
}

enum resolve_result
resolve_address(const struct resolve_ctx *ctx, const char *address,
                struct resolve_targets *out, const char **error_r)
{
	char local[ALIASES_LOCAL_MAX + 1];
	char domain[ALIASES_DOMAIN_MAX + 1];
	struct resolve_state st;
	enum resolve_result r;
	const char *why;

	memset(out, 0, sizeof(*out));
	if (error_r != NULL)
		*error_r = NULL;
	why = resolve_split(ctx, address, local, domain);
	if (why != NULL) {
		snprintf(out->error, sizeof(out->error), "%s", why);
		return resolve_finish(out, RESOLVE_INVALID, error_r);
	}
	resolve_state_init(&st, ctx, out);
	r = resolve_expand(&st, local, domain, NULL, 0);
	resolve_state_deinit(&st);
	/* RFC 5321 4.5.1: postmaster must be accepted; the caller falls
	 * back to its own choice of mailbox. */
	if (r == RESOLVE_UNKNOWN && strcasecmp(local, "postmaster") == 0 &&
	    resolve_is_local_domain(ctx, domain)) {
		snprintf(out->error, sizeof(out->error),
		         "postmaster@%s resolves to nothing: use the "
		         "postmaster fallback",
		         domain);
		r = RESOLVE_POSTMASTER;
	}
	return resolve_finish(out, r, error_r);
}

enum resolve_result
resolve_alias(const struct resolve_ctx *ctx, const struct alias *alias,
              const char *domain_in, struct resolve_targets *out,
              const char **error_r)
{
	char domain[ALIASES_DOMAIN_MAX + 1];
	char address[RESOLVE_ADDRESS_MAX + 1];
	struct resolve_state st;
	enum resolve_result r;

	memset(out, 0, sizeof(*out));
	if (error_r != NULL)
		*error_r = NULL;
	if (!str_copy(domain, sizeof(domain), domain_in)) {
		snprintf(out->error, sizeof(out->error),
		         "domain longer than 255 octets");
		return resolve_finish(out, RESOLVE_INVALID, error_r);
	}
	str_lower(domain);
	/* A catch-all "@d" stands for itself on the stack: no member can
	 * equal it, as every member has a local part. */
	if (strchr(alias->key, '@') != NULL)
		str_copy(address, sizeof(address), alias->key);
	else
		(void)resolve_join(address, alias->key, strlen(alias->key),
		                   domain);
	resolve_state_init(&st, ctx, out);
	r = resolve_members(&st, alias, address, domain, 0);
	resolve_state_deinit(&st);
	return resolve_finish(out, r, error_r);
}

void
resolve_targets_deinit(struct resolve_targets *targets)
{
	free(targets->items);
	memset(targets, 0, sizeof(*targets));
}

const char *
resolve_result_name(enum resolve_result result)
{
	switch (result) {
	case RESOLVE_OK:
		return "ok";
	case RESOLVE_UNKNOWN:
		return "unknown";
	case RESOLVE_POSTMASTER:
		return "postmaster";
	case RESOLVE_LOOP:
		return "loop";
	case RESOLVE_TOO_DEEP:
		return "too-deep";
	case RESOLVE_TOO_MANY:
		return "too-many";
	case RESOLVE_TEMPFAIL:
		return "tempfail";
	case RESOLVE_INVALID:
		return "invalid";
	}
	return "unknown-result";
}

const char *
resolve_result_reply(enum resolve_result result)
{
	switch (result) {
	case RESOLVE_OK:
		return "250 2.1.5 OK";
	case RESOLVE_UNKNOWN:
	case RESOLVE_POSTMASTER:
		return "550 5.1.1 No such user here";
	case RESOLVE_LOOP:
		return "550 5.4.6 Alias loop detected";
	case RESOLVE_TOO_DEEP:
		return "550 5.4.6 Aliases nested too deep";
	case RESOLVE_TOO_MANY:
		return "550 5.5.3 Alias expands to too many recipients";
	case RESOLVE_TEMPFAIL:
		return "451 4.3.0 Temporary lookup failure, try again later";
	case RESOLVE_INVALID:
		return "501 5.1.3 Bad recipient address syntax";
	}
	return "451 4.3.0 Internal error";
}
