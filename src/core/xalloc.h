/*
 * xalloc — allocation that never returns NULL.
 *
 * Every function here logs and aborts when memory runs out, so no caller
 * checks for NULL. Memory always comes back zeroed (STYLE.md 11).
 * The size helpers check arithmetic on peer-influenced sizes.
 */
#ifndef POSTERN_CORE_XALLOC_H
#define POSTERN_CORE_XALLOC_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* Returns owned, zeroed memory of `size` bytes (at least 1). */
void *xmalloc(size_t size);
/* Returns owned, zeroed memory for `n` items of `size`; aborts on overflow. */
void *xcalloc(size_t n, size_t size);
/* Resizes `p`; bytes past the old size are NOT zeroed (the caller tracks
 * its own lengths). Returns owned memory; `p` is no longer valid. */
void *xrealloc(void *p, size_t size);
/* Returns an owned copy of `s`. */
char *xstrdup(const char *s);
/* Returns an owned, NUL-terminated copy of the first `n` bytes of `s`. */
char *xstrndup(const char *s, size_t n);
/* Returns an owned formatted string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap)
        __attribute__((format(printf, 1, 0)));

/* Checked size arithmetic: return false (and leave *r undefined) on
 * overflow. */
static inline bool
size_add(size_t a, size_t b, size_t *r)
{
	return !__builtin_add_overflow(a, b, r);
}

static inline bool
size_mul(size_t a, size_t b, size_t *r)
{
	return !__builtin_mul_overflow(a, b, r);
}

/* Frees *p and clears it; accepts NULL. */
#define XFREE(p)                                                               \
	do {                                                                   \
		free(p);                                                       \
		(p) = NULL;                                                    \
	} while (0)

#endif
