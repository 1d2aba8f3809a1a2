/*
 * password — hashing and checking account passwords with libxcrypt.
 *
 * New hashes are always yescrypt ("$y$", libxcrypt's default cost).
 * Checking accepts the crypt(3) families an administrator may carry over
 * from /etc/shadow or another server: yescrypt "$y$", sha512-crypt "$6$"
 * and bcrypt "$2b$" / "$2y$". Any other hash string ("*", "!", "!$6$...",
 * an empty string, an older or unknown scheme) means that the account may
 * not log in; it never matches any password.
 *
 * Hashing is slow by design (tens of milliseconds): only the auth role and
 * the `postern` administration tool call these functions, never a session
 * loop (DESIGN.md, Processes). Copies of passwords made here are wiped
 * with explicit_bzero before the memory is released.
 */
#ifndef POSTERN_AUTH_PASSWORD_H
#define POSTERN_AUTH_PASSWORD_H

#include <stdbool.h>

/* Longest password accepted, in bytes (libxcrypt's limit less the NUL). */
#define PASSWORD_MAX_LEN 511

/*
 * Returns an owned yescrypt hash of `password` (borrowed, NUL-terminated,
 * 1..PASSWORD_MAX_LEN bytes) with a fresh random salt from getrandom(2).
 * Returns NULL with errno set if the password is empty or too long
 * (EINVAL), or if the system cannot supply random bytes or hash.
 */
char *password_hash(const char *password) __attribute__((warn_unused_result));

/*
 * True if `password` (borrowed) matches `hash` (a crypt(3) string).
 * False for a wrong password, a password longer than PASSWORD_MAX_LEN,
 * and for any hash that password_is_supported() refuses. The final
 * comparison takes the same time wherever the strings differ.
 */
bool password_verify(const char *hash, const char *password);

/* True if `hash` names a scheme that password_verify() checks; false
 * means the account's login is disabled. */
bool password_is_supported(const char *hash);

#endif
