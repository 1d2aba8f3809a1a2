/*
 * password — crypt(3) hashing and verification for account passwords.
 *
 * Run by the auth role (verification at login) and by the `postern user`
 * command (hashing). Every struct crypt_data lives on the heap (it is
 * 32 KiB) and is wiped before it is freed, since libxcrypt leaves a copy
 * of the result, and possibly of the input, in it.
 */
#include "auth/password.h"

#include <crypt.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/xalloc.h"

/* Salt bytes handed to crypt_gensalt_rn: 128 bits, as libxcrypt's own
 * default for yescrypt. */
#define PASSWORD_SALT_BYTES 16

/* Prefixes of the schemes we check; anything else disables the login. */
static const char *const password_schemes[] = {"$y$", "$6$", "$2b$", "$2y$"};

bool
password_is_supported(const char *hash)
{
	for (size_t i = 0;
	     i < sizeof(password_schemes) / sizeof(password_schemes[0]); i++) {
		const char *p = password_schemes[i];

		if (strncmp(hash, p, strlen(p)) == 0)
			return true;
	}
	return false;
}

/* Fills `out` with `len` random bytes; getrandom(2) may return short
 * reads for large requests or be interrupted by a signal. */
static int
password_random(unsigned char *out, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = getrandom(out + done, len - done, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

/* Compares two strings of equal length `len` without branching on their
 * contents, so timing does not reveal where they differ. */
static bool
password_equal_ct(const char *a, const char *b, size_t len)
{
	volatile unsigned char diff = 0;

	for (size_t i = 0; i < len; i++)
		diff |= (unsigned char)a[i] ^ (unsigned char)b[i];
	return diff == 0;
}

char *
password_hash(const char *password)
{
	unsigned char salt[PASSWORD_SALT_BYTES];
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *data;
	char *out = NULL;
	size_t len = strlen(password);
	int saved;

	if (len == 0 || len > PASSWORD_MAX_LEN) {
		errno = EINVAL;
		return NULL;
	}
	if (password_random(salt, sizeof(salt)) < 0)
		return NULL;
	/* Count 0 asks libxcrypt for its recommended yescrypt cost. */
	if (crypt_gensalt_rn("$y$", 0, (const char *)salt, (int)sizeof(salt),
	                     setting, (int)sizeof(setting)) == NULL) {
		saved = errno;
		explicit_bzero(salt, sizeof(salt));
		errno = saved;
		return NULL;
	}
	explicit_bzero(salt, sizeof(salt));
	data = xmalloc(sizeof(*data));
	if (crypt_rn(password, setting, data, (int)sizeof(*data)) != NULL)
		out = xstrdup(data->output);
	saved = errno;
	explicit_bzero(data, sizeof(*data));
	free(data);
	errno = saved;
	return out;
}

bool
password_verify(const char *hash, const char *password)
{
	struct crypt_data *data;
	const char *result;
	size_t hash_len = strlen(hash);
	bool ok = false;

	if (!password_is_supported(hash) || strlen(password) > PASSWORD_MAX_LEN)
		return false;
	data = xmalloc(sizeof(*data));
	result = crypt_rn(password, hash, data, (int)sizeof(*data));
	/* crypt_rn returns NULL for a malformed setting; the lengths of two
	 * valid results of one scheme differ only if the stored hash is
	 * damaged, so checking them first leaks nothing about the password.
	 */
	if (result != NULL && strlen(result) == hash_len)
		ok = password_equal_ct(result, hash, hash_len);
	explicit_bzero(data, sizeof(*data));
	free(data);
	return ok;
}
