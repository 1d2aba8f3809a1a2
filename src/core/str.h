/*
 * str — small string helpers shared by every parser: bounded number
 * parsing (no atoi, no unchecked strtol: STYLE.md 7), ASCII case folding,
 * comparisons on (pointer, length) views and the one string hash.
 */
#ifndef POSTERN_CORE_STR_H
#define POSTERN_CORE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Parses the `len` bytes at `s` as a decimal number made only of digits
 * (no sign, no spaces, at least one digit) not above `max`.
 * Returns 0 and sets *value_r, or -1 on any other input or overflow.
 */
int str_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *value_r)
        __attribute__((warn_unused_result));

/* Case-insensitive ASCII comparison of a view with a C string. */
bool str_eq_ci(const char *s, size_t len, const char *lit);
/* Case-insensitive ASCII comparison of two views. */
bool str_eq_ci_n(const char *a, size_t alen, const char *b, size_t blen);
/* True if the view starts with `prefix`, ASCII case-insensitively. */
bool str_has_prefix_ci(const char *s, size_t len, const char *prefix);
/* The value 0-15 of a hexadecimal digit (either case), or -1. */
int str_hex_value(char c);
/* Lower-cases ASCII letters of the NUL-terminated `s` in place. */
void str_lower(char *s);
/* Copies `src` into `dst` of size `dstsz` (>0), always terminating.
 * Returns false if it had to truncate. */
bool str_copy(char *dst, size_t dstsz, const char *src);

/*
 * 64-bit FNV-1a over the `len` bytes at `p`. Fast and well spread, but
 * unkeyed: anyone who chooses the keys can choose colliding ones, so a
 * table keyed by peer input needs its own bound on the work a collision
 * chain can cost.
 */
uint64_t str_hash(const void *p, size_t len);

#endif
