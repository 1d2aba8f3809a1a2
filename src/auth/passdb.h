/*
 * passdb — the users file: who has a mailbox, their password hash and
 * their quota.
 *
 * FORMAT (version 1)
 *
 * A text file, one account per line:
 *
 *	ADDRESS:HASH[:QUOTA]
 *
 * for example
 *
 *	# postern users
 *	alice@example.org:$y$j9T$...:2G
 *	bob@example.org:$6$...
 *	archive@example.org:*
 *
 * - Lines end in LF; the last line may lack it. Blank lines (nothing, or
 *   only spaces and tabs) and comment lines (first non-blank character
 *   `#`) are ignored and kept as they are when postern edits the file.
 *   Any other line is an account and may contain no blanks and no control
 *   characters (CR included).
 * - ADDRESS is local@domain. The local part is a dot-atom (RFC 5322
 *   section 3.2.3: atoms of letters, digits and !#$%&'*+-/=?^_`{|}~
 *   joined by single dots) of at most 64 octets that does not begin with
 *   `#`; quoted local parts are not supported. The domain is one or more
 *   labels of letters, digits and hyphens (not first or last in a label,
 *   at most 63 octets each) joined by dots, at most 255 octets, with no
 *   trailing dot and no address literal. Addresses are compared without
 *   regard to ASCII case and stored lower case; an address may appear
 *   only once.
 * - HASH is a crypt(3) string. yescrypt `$y$`, sha512-crypt `$6$` and
 *   bcrypt `$2b$` / `$2y$` hashes allow login (see auth/password.h). Any
 *   other non-empty value, conventionally `*` or `!` (or `!` before a
 *   hash, to lock an account and unlock it later), disables login: the
 *   address still receives mail. HASH may not be empty and may not
 *   contain `:`.
 * - QUOTA, optional, is the mailbox size limit in bytes: decimal digits
 *   with an optional suffix K, M or G (either case; powers of 1024). An
 *   absent or empty QUOTA, or 0, means unlimited.
 *
 * Limits: a line holds at most PASSDB_LINE_MAX bytes (without the LF),
 * the file at most PASSDB_FILE_MAX bytes and PASSDB_USERS_MAX accounts.
 * Any violation makes the whole file invalid: nothing is half loaded.
 *
 * WHO USES IT
 *
 * The auth role alone reads the file (passdb_load) to answer logins and
 * recipient checks; the `postern user` command changes it (passdb_edit)
 * under an exclusive lock and replaces it atomically, so a reader always
 * sees either the old or the new file, never a mixture.
 */
#ifndef POSTERN_AUTH_PASSDB_H
#define POSTERN_AUTH_PASSDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds of the file format (see above). */
#define PASSDB_LINE_MAX  1024
#define PASSDB_FILE_MAX  ((size_t)64 * 1024 * 1024)
#define PASSDB_USERS_MAX 1000000

/* Address limits (RFC 5321 section 4.5.3.1.1 and 4.5.3.1.2). */
#define PASSDB_LOCAL_MAX   64
#define PASSDB_DOMAIN_MAX  255
#define PASSDB_ADDRESS_MAX (PASSDB_LOCAL_MAX + 1 + PASSDB_DOMAIN_MAX)

/* Room for a quota formatted by passdb_quota_format, NUL included. */
#define PASSDB_QUOTA_STRLEN 24

struct passdb;

/* One account. Strings are owned by the passdb and valid until it is
 * freed. */
struct passdb_user {
	const char *address; /* lower case */
	const char *hash;    /* crypt(3) string, never empty */
	uint64_t quota;      /* bytes; 0 = unlimited */
	unsigned line;       /* line number in the file, from 1 */
};

/*
 * Reads and parses the users file at `path` (borrowed). Returns an owned
 * passdb, or NULL and an owned message in *error_r: "PATH: reason" when
 * the file cannot be read (a missing file is an error), or one
 * "PATH:LINE: reason" line per syntax error (at most a few, then a count
 * of the rest).
 */
struct passdb *passdb_load(const char *path, char **error_r)
        __attribute__((warn_unused_result));

/*
 * As passdb_load for `len` bytes of `text` (borrowed; may contain NUL
 * bytes, which are errors) held in memory; `name` stands for the file in
 * error messages.
 */
struct passdb *passdb_parse(const char *text, size_t len, const char *name,
                            char **error_r) __attribute__((warn_unused_result));

/* Frees *dbp (wiping the hashes it held) and clears it; accepts NULL. */
void passdb_free(struct passdb **dbp);

/* Number of accounts. */
size_t passdb_count(const struct passdb *db);

/* The account at position `index` (0..passdb_count()-1, in file order);
 * borrowed, valid until the passdb is freed. */
const struct passdb_user *passdb_get(const struct passdb *db, size_t index);

/* The account for `address` (borrowed, any case), or NULL. Runs in
 * constant expected time; the result is valid until the passdb is freed.
 */
const struct passdb_user *passdb_lookup(const struct passdb *db,
                                        const char *address);

/*
 * True if the NUL-terminated `address` is one the users file accepts
 * (see FORMAT). When it is, lower-cases it in place; otherwise leaves it
 * untouched.
 */
bool passdb_address_valid(char *address);

/*
 * Parses the `len` bytes at `s` as a QUOTA field (see FORMAT): 0 / -1.
 * Empty means 0 (unlimited).
 */
int passdb_quota_parse(const char *s, size_t len, uint64_t *quota_r)
        __attribute__((warn_unused_result));

/* Writes `quota` into `out` (at least PASSDB_QUOTA_STRLEN bytes) with the
 * largest suffix that keeps it exact ("2G", "1536K", "1000", "0"), as
 * passdb_quota_parse reads it back. */
void passdb_quota_format(uint64_t quota, char *out, size_t outsz);

enum passdb_op {
	PASSDB_OP_ADD,    /* new account; fails if the address exists */
	PASSDB_OP_PASSWD, /* new hash and/or quota; fails if missing */
	PASSDB_OP_DEL,    /* remove the account; fails if missing */
};

/*
 * Changes one account in the users file at `path` (borrowed).
 *
 * `address` (any case) must pass passdb_address_valid. `hash` is the new
 * HASH field: required for ADD, optional for PASSWD (NULL keeps the old
 * one), ignored for DEL; it must be non-empty printable ASCII without
 * blanks or `:`. `quota` is used when `set_quota` is true (ADD takes 0
 * otherwise; PASSWD otherwise keeps the old quota).
 *
 * Holds an exclusive flock(2) on PATH.lock (created 0600) for the whole
 * edit, so concurrent edits serialise; reads and validates the current
 * file (ADD creates it, 0600, when it does not exist); writes the new
 * content to PATH.<pid>.tmp with the old file's mode and owner, keeping
 * comments, blank lines and order (ADD appends); fsyncs it, renames it
 * over PATH and fsyncs the directory. On failure PATH is unchanged and
 * no temporary file is left behind.
 *
 * Returns 0, or -1 and a message in *error_r that is valid until the next
 * call of passdb_edit.
 */
int passdb_edit(const char *path, enum passdb_op op, const char *address,
                const char *hash, uint64_t quota, bool set_quota,
                const char **error_r) __attribute__((warn_unused_result));

#endif
