/*
 * domain — syntax of the domain names postern stores in its own files
 * (users file, aliases): LDH labels (letters, digits, inner hyphens) of
 * 1..63 octets joined by dots, 255 octets in all (RFC 1035 2.3.1,
 * RFC 5321 4.1.2 and 4.5.3.1.2). The SMTP parser has its own, wider rules
 * for what arrives on the wire (smtp/addr.h).
 */
#ifndef POSTERN_CORE_DOMAIN_H
#define POSTERN_CORE_DOMAIN_H

#include <stdbool.h>
#include <stddef.h>

#define DOMAIN_MAX 255

/* True for a letter, digit or '-'. */
bool domain_is_ldh(char c);

/* Checks the `len` bytes at `s`; returns NULL if they are a domain name,
 * else a static reason for an error message ("empty label in domain"). */
const char *domain_problem(const char *s, size_t len);

#endif
