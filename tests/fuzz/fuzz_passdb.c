/*
 * fuzz_passdb — the users file parser (auth/passdb).
 *
 * Parses the input as a whole users file. When it parses, every account
 * must be found again by its address in upper case, and its quota must
 * survive a format/parse round trip; when it does not, there must be an
 * error message. The input's first line is also tried as an address and
 * as a QUOTA field on its own.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/passdb.h"
#include "core/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_check_db(const struct passdb *db)
{
	for (size_t i = 0; i < passdb_count(db); i++) {
		const struct passdb_user *u = passdb_get(db, i);
		char upper[PASSDB_ADDRESS_MAX + 1];
		char quota[PASSDB_QUOTA_STRLEN];
		uint64_t q;
		size_t n = strlen(u->address);

		if (n > PASSDB_ADDRESS_MAX || u->hash[0] == '\0')
			abort();
		for (size_t k = 0; k <= n; k++) {
			char c = u->address[k];

			upper[k] = (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
		}
		if (passdb_lookup(db, upper) != u)
			abort();
		passdb_quota_format(u->quota, quota, sizeof(quota));
		if (passdb_quota_parse(quota, strlen(quota), &q) < 0 ||
		    q != u->quota)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const char *nl = memchr(text, '\n', size);
	size_t first = nl ? (size_t)(nl - text) : size;
	char *err = NULL;
	struct passdb *db = passdb_parse(text, size, "fuzz", &err);
	char *line;
	uint64_t q;

	if (db != NULL) {
		if (err != NULL)
			abort();
		fuzz_check_db(db);
		passdb_free(&db);
	} else if (err == NULL) {
		abort();
	}
	free(err);

	line = xstrndup(text, first);
	/* A valid address is lower-cased in place and must stay valid. */
	if (passdb_address_valid(line) && !passdb_address_valid(line))
		abort();
	if (passdb_quota_parse(text, first, &q) == 0) {
		char again[PASSDB_QUOTA_STRLEN];
		uint64_t q2;

		passdb_quota_format(q, again, sizeof(again));
		if (passdb_quota_parse(again, strlen(again), &q2) < 0 ||
		    q2 != q)
			abort();
	}
	free(line);
	return 0;
}
