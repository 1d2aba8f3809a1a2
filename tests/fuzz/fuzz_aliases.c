/*
 * fuzz_aliases — the aliases file parser (auth/aliases) and the
 * recipient resolution over what it accepts (auth/resolve).
 *
 * Parses the input as a whole aliases file. When it parses, every entry
 * must be found again by its key in upper case, with 1..ALIASES_MEMBERS_MAX
 * members whose local parts and domains keep the documented bounds and
 * case; when it does not, there must be an error message. Every key (the
 * first FUZZ_RESOLVE_MAX of them) is then resolved as an address of the
 * local domain, and every entry expanded on its own, with an account
 * callback that knows every address whose local part starts with 'a':
 * a success must have targets within the bound, each account once, and a
 * failure none and a reason. Files named by :include: are read as the
 * server would read them (regular files only, bounded).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/aliases.h"
#include "auth/resolve.h"
#include "core/xalloc.h"

/* Entries resolved per input, to keep each run short. */
#define FUZZ_RESOLVE_MAX 64
#define FUZZ_TARGETS_MAX 50

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fuzz_domains[] = {"example.test", "other.test"};

static enum resolve_account
fuzz_account(void *arg, const char *address, uint64_t *quota_r)
{
	(void)arg;
	for (const char *c = address; *c != '\0'; c++) {
		if (*c >= 'A' && *c <= 'Z')
			abort();
	}
	if (address[0] != 'a')
		return RESOLVE_ACCOUNT_NONE;
	*quota_r = strlen(address);
	return RESOLVE_ACCOUNT_FOUND;
}

static bool
fuzz_has_upper(const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s >= 'A' && *s <= 'Z')
			return true;
	}
	return false;
}

static void
fuzz_check_entry(const struct aliases *al, const struct alias *a)
{
	char upper[ALIASES_ADDRESS_MAX + 1];
	size_t n = strlen(a->key);

	if (n == 0 || n > ALIASES_ADDRESS_MAX || fuzz_has_upper(a->key))
		abort();
	for (size_t k = 0; k <= n; k++) {
		char c = a->key[k];

		upper[k] = (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
	}
	if (aliases_lookup(al, upper) != a)
		abort();
	if (a->nmembers == 0 || a->nmembers > ALIASES_MEMBERS_MAX)
		abort();
	for (size_t i = 0; i < a->nmembers; i++) {
		const struct alias_member *m = &a->members[i];
		size_t len = strlen(m->local);

		if (len == 0 || len > ALIASES_LOCAL_MAX)
			abort();
		if (m->domain != NULL &&
		    (m->domain[0] == '\0' ||
		     strlen(m->domain) > ALIASES_DOMAIN_MAX ||
		     fuzz_has_upper(m->domain)))
			abort();
	}
}

static void
fuzz_check_result(enum resolve_result r, const struct resolve_targets *out,
                  const char *why)
{
	if (r != RESOLVE_OK) {
		if (out->count != 0 || why == NULL || why[0] == '\0')
			abort();
		return;
	}
	if (out->count == 0 || out->count > FUZZ_TARGETS_MAX || why != NULL)
		abort();
	for (size_t i = 0; i < out->count; i++) {
		const struct resolve_target *t = &out->items[i];

		if (t->kind == RESOLVE_LOCAL &&
		    (t->account[0] != 'a' || fuzz_has_upper(t->account)))
			abort();
		for (size_t k = 0; k < i; k++) {
			if (t->kind == RESOLVE_LOCAL &&
			    out->items[k].kind == RESOLVE_LOCAL &&
			    strcmp(t->account, out->items[k].account) == 0)
				abort();
		}
	}
}

static void
fuzz_resolve(const struct aliases *al)
{
	struct resolve_ctx ctx = {
	        .aliases = al,
	        .domains = fuzz_domains,
	        .ndomains = 2,
	        .delimiter = "+",
	        .account_lookup = fuzz_account,
	        .max_targets = FUZZ_TARGETS_MAX,
	};
	size_t n = aliases_count(al);

	if (n > FUZZ_RESOLVE_MAX)
		n = FUZZ_RESOLVE_MAX;
	for (size_t i = 0; i < n; i++) {
		const struct alias *a = aliases_get(al, i);
		struct resolve_targets out;
		const char *why = NULL;
		enum resolve_result r;
		char *address = strchr(a->key, '@') != NULL
		                        ? xstrdup(a->key)
		                        : xasprintf("%s@example.test", a->key);

		r = resolve_address(&ctx, address, &out, &why);
		fuzz_check_result(r, &out, why);
		resolve_targets_deinit(&out);
		why = NULL;
		r = resolve_alias(&ctx, a, "other.test", &out, &why);
		fuzz_check_result(r, &out, why);
		resolve_targets_deinit(&out);
		free(address);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *err = NULL;
	struct aliases *al =
	        aliases_parse((const char *)data, size, "fuzz", &err);

	if (al == NULL) {
		if (err == NULL)
			abort();
		free(err);
		return 0;
	}
	if (err != NULL)
		abort();
	for (size_t i = 0; i < aliases_count(al); i++)
		fuzz_check_entry(al, aliases_get(al, i));
	fuzz_resolve(al);
	aliases_free(&al);
	return 0;
}
