/*
 * str — bounded string helpers and the string hash; pure functions, used
 * in every role.
 */
#include "core/str.h"

#include <string.h>

int
str_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *value_r)
{
	uint64_t v = 0;

	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(s[i] - '0'), &v))
			return -1;
	}
	if (v > max)
		return -1;
	*value_r = v;
	return 0;
}

static char
ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool
str_eq_ci(const char *s, size_t len, const char *lit)
{
	return str_eq_ci_n(s, len, lit, strlen(lit));
}

bool
str_eq_ci_n(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++) {
		if (ascii_lower(a[i]) != ascii_lower(b[i]))
			return false;
	}
	return true;
}

bool
str_has_prefix_ci(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	if (n > len)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (ascii_lower(s[i]) != ascii_lower(prefix[i]))
			return false;
	}
	return true;
}

int
str_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

void
str_lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = ascii_lower(*s);
}

bool
str_copy(char *dst, size_t dstsz, const char *src)
{
	size_t n = strlen(src);
	bool fits = n < dstsz;

	if (!fits)
		n = dstsz - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return fits;
}

uint64_t
str_hash(const void *p, size_t len)
{
	const unsigned char *s = p;
	uint64_t h = 14695981039346656037ULL; /* FNV-1a 64-bit offset basis */

	for (size_t i = 0; i < len; i++) {
		h ^= s[i];
		h *= 1099511628211ULL; /* FNV-1a 64-bit prime */
	}
	return h;
}
