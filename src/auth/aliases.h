/*
 * aliases — the aliases file: names that stand for one or more other
 * addresses (the classic /etc/aliases, plus virtual aliases and
 * catch-alls for one domain). docs/aliases.md is the administrator's
 * description; this comment is the reference.
 *
 * FORMAT (version 1)
 *
 *	# comment
 *	postmaster: root
 *	root:       alice, bob@elsewhere.example
 *	sales@example.test: alice,
 *	            carol          (a continuation line)
 *	@example.test: alice       (catch-all for example.test)
 *	staff:      :include:/etc/postern/staff.list
 *
 * - Lines end in LF; the last line may lack it. A line whose first
 *   non-blank character is `#` is a comment; a line of only spaces and
 *   tabs is blank. Both are ignored wherever they appear, also between an
 *   entry and its continuation lines. `#` elsewhere is an ordinary
 *   character (it is valid in a local part).
 * - An entry starts with a line that begins with a non-blank character:
 *   KEY, optional blanks, `:`, then members. A line that begins with a
 *   space or a tab continues the entry above it with more members.
 * - KEY is one of
 *     `local`           a bare local part: the alias exists in every
 *                       local domain (postmaster, root, sales);
 *     `local@domain`    a virtual alias for that domain only;
 *     `@domain`         the catch-all of that domain.
 *   Keys are compared without regard to ASCII case and stored in lower
 *   case; a key may appear only once.
 * - Members are separated by commas (and by the end of a line); empty
 *   items (",,", a trailing comma) are ignored, but an entry needs at
 *   least one member. A member is
 *     `local`           a local part, taken in the domain of the address
 *                       being expanded (postmaster@a.test -> root@a.test);
 *     `local@domain`    a full address, local or remote;
 *     `:include:/path`  the members listed in that file (absolute path):
 *                       comma-separated members, any number per line,
 *                       with blank and `#` comment lines; it is read when
 *                       the aliases file is loaded and may include
 *                       further files up to ALIASES_INCLUDE_DEPTH levels.
 *   Members beginning with `|` (a command) or `/` (a file), quoted or
 *   not, are refused: postern delivers only to mailboxes and to other
 *   addresses. A leading `\` (sendmail's "do not expand") is refused too:
 *   an alias that names itself already delivers to the account.
 * - A local part is a dot-atom (RFC 5322 3.2.3) or a quoted string (RFC
 *   5321 4.1.2: printable ASCII and space, with \" and \\ escaped). A
 *   quoted local part is stored in the form the SMTP server gives
 *   recipients: without quotes when its content is a dot-atom
 *   ("john.doe" -> john.doe), otherwise quoted with only `"` and `\`
 *   escaped. At most ALIASES_LOCAL_MAX octets in that form. A domain is
 *   LDH labels joined by dots (no address literals), at most
 *   ALIASES_DOMAIN_MAX octets, stored in lower case. The local part of a
 *   member keeps its case (a remote server may care); lookups of local
 *   addresses ignore it.
 *
 * Limits: ALIASES_LINE_MAX bytes per line (LF excluded), ALIASES_FILE_MAX
 * bytes per file, ALIASES_MAX entries, ALIASES_MEMBERS_MAX members per
 * entry (members from included files count), include files of at most
 * ALIASES_INCLUDE_FILE_MAX bytes each and ALIASES_FILE_MAX in all,
 * nested at most ALIASES_INCLUDE_DEPTH deep (a file that includes itself
 * is an error), and 4,000,000 members in all (an include file counts
 * each time it is named). Any violation makes the whole file invalid: nothing
 *is half loaded. Errors are collected and reported as "FILE:LINE: reason", FILE
 *being the included file for errors inside one.
 *
 * WHO USES IT
 *
 * The auth role loads the file and expands recipients with it (see
 * auth/resolve.h); `postern aliases check` (alias `newaliases`)
 * validates it. Nothing is compiled: there is no database to rebuild.
 */
#ifndef POSTERN_AUTH_ALIASES_H
#define POSTERN_AUTH_ALIASES_H

#include <stdbool.h>
#include <stddef.h>

/* Bounds of the file format (see above). */
#define ALIASES_LINE_MAX         4096
#define ALIASES_FILE_MAX         ((size_t)64 * 1024 * 1024)
#define ALIASES_MAX              1000000
#define ALIASES_MEMBERS_MAX      1000
#define ALIASES_INCLUDE_DEPTH    4
#define ALIASES_INCLUDE_FILE_MAX ((size_t)1024 * 1024)

/* Address limits (RFC 5321 4.5.3.1.1 and 4.5.3.1.2). */
#define ALIASES_LOCAL_MAX   64
#define ALIASES_DOMAIN_MAX  255
#define ALIASES_ADDRESS_MAX (ALIASES_LOCAL_MAX + 1 + ALIASES_DOMAIN_MAX)

struct aliases;

/* One member of an alias. Strings are owned by the aliases and valid
 * until they are freed. */
struct alias_member {
	const char *local;  /* canonical local part, case as written */
	const char *domain; /* lower case; NULL: the domain being expanded */
};

/* One entry. Owned by the aliases; valid until they are freed. */
struct alias {
	const char *key; /* lower case: "local", "local@domain", "@domain" */
	const struct alias_member *members; /* in file order */
	size_t nmembers;                    /* 1..ALIASES_MEMBERS_MAX */
	unsigned line; /* line of the key in the aliases file, from 1 */
};

/*
 * Reads and parses the aliases file at `path` (borrowed), and the files
 * it includes. Returns owned aliases, or NULL and an owned message in
 * *error_r: "PATH: reason" when the file cannot be read (a missing file
 * is an error), or one "FILE:LINE: reason" line per error (at most
 * ALIASES_ERRORS_SHOWN, then a count of the rest).
 */
struct aliases *aliases_load(const char *path, char **error_r)
        __attribute__((warn_unused_result));

/*
 * As aliases_load for `len` bytes of `text` (borrowed; NUL bytes are
 * errors) held in memory; `name` stands for the file in error messages.
 * Files named by `:include:` are still read from disk.
 */
struct aliases *aliases_parse(const char *text, size_t len, const char *name,
                              char **error_r)
        __attribute__((warn_unused_result));

/* Errors reported in full before the rest are only counted. */
#define ALIASES_ERRORS_SHOWN 100

/* Frees *aliasesp and clears it; accepts NULL. */
void aliases_free(struct aliases **aliasesp);

/* Number of entries. */
size_t aliases_count(const struct aliases *aliases);

/* The entry at `index` (0..aliases_count()-1, in file order), or NULL;
 * borrowed, valid until the aliases are freed. */
const struct alias *aliases_get(const struct aliases *aliases, size_t index);

/*
 * The entry whose key is `key` (borrowed, any case: "local",
 * "local@domain" or "@domain"), or NULL. Constant expected time; the
 * result is valid until the aliases are freed.
 */
const struct alias *aliases_lookup(const struct aliases *aliases,
                                   const char *key);

#endif
