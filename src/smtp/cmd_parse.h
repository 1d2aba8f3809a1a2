/*
 * cmd_parse — splits one SMTP command line into verb and argument, and
 * parses the arguments of HELO/EHLO and BDAT (RFC 5321 4.1, RFC 3030).
 *
 * Pure functions: no I/O, no logging, no allocation. Every result either
 * borrows from the caller's line (views, valid as long as the line is) or
 * is copied into fixed, checked fields. MAIL and RCPT arguments are parsed
 * by smtp/addr.h.
 *
 * Replies: every error has exactly one reply line (code, enhanced status
 * code, text; no CRLF) given by smtp_cmd_error_reply():
 *
 *   error                        reply
 *   SMTP_CMD_ERR_NO_VERB         500 5.5.2 Syntax error, command missing
 *   SMTP_CMD_ERR_UNKNOWN         500 5.5.2 Syntax error, command unrecognized
 *   SMTP_CMD_ERR_BAD_CHAR        500 5.5.2 Syntax error, invalid character
 *                                          in command
 *   SMTP_CMD_ERR_TOO_LONG        500 5.5.2 Line too long
 *   SMTP_CMD_ERR_BARE_LF         500 5.5.2 Syntax error, command lines end
 *                                          in CRLF
 *   SMTP_CMD_ERR_ARG_BAD_CHAR    501 5.5.4 Syntax error, invalid character
 *                                          in argument
 *   SMTP_CMD_ERR_ARG_MISSING     501 5.5.4 Syntax error, argument required
 *   SMTP_CMD_ERR_ARG_UNEXPECTED  501 5.5.4 Syntax error, no arguments
 *                                          allowed
 *   SMTP_CMD_ERR_HELO_SYNTAX     501 5.5.4 Syntax error, invalid domain
 *                                          name or address literal
 *   SMTP_CMD_ERR_BDAT_SYNTAX     501 5.5.4 Syntax: BDAT chunk-size [LAST]
 *
 * RFC 5321 4.2.2 gives 500 for a command that cannot be recognised (or a
 * line too long, 4.5.3.1.10) and 501 for bad arguments; the enhanced codes
 * are RFC 3463 X.5.2 (syntax error) and X.5.4 (invalid arguments).
 */
#ifndef POSTERN_SMTP_CMD_PARSE_H
#define POSTERN_SMTP_CMD_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Command line limit including the CRLF (RFC 5321 4.5.3.1.4). */
#define SMTP_CMD_LINE_MAX 512
/* AUTH lines may be longer: 12288 octets (RFC 4954 4). smtp_cmd_parse()
 * refuses anything longer than this, whatever the verb. */
#define SMTP_CMD_AUTH_LINE_MAX 12288
/* A domain name or address literal (RFC 5321 4.5.3.1.2). */
#define SMTP_DOMAIN_MAX 255
/* Largest BDAT chunk size accepted by the parser; the session applies the
 * real message size limit. */
#define SMTP_BDAT_CHUNK_MAX UINT64_MAX

enum smtp_verb {
	SMTP_VERB_UNKNOWN,
	SMTP_VERB_HELO,
	SMTP_VERB_EHLO,
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_BDAT,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_HELP,
	SMTP_VERB_VRFY,
	SMTP_VERB_EXPN,
	SMTP_VERB_VERB,
	SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH,
};

enum smtp_cmd_error {
	SMTP_CMD_OK = 0,
	SMTP_CMD_ERR_NO_VERB,
	SMTP_CMD_ERR_UNKNOWN,
	SMTP_CMD_ERR_BAD_CHAR,
	SMTP_CMD_ERR_TOO_LONG,
	SMTP_CMD_ERR_BARE_LF,
	SMTP_CMD_ERR_ARG_BAD_CHAR,
	SMTP_CMD_ERR_ARG_MISSING,
	SMTP_CMD_ERR_ARG_UNEXPECTED,
	SMTP_CMD_ERR_HELO_SYNTAX,
	SMTP_CMD_ERR_BDAT_SYNTAX,
};

/* One parsed command line. All pointers borrow from the line passed to
 * smtp_cmd_parse() and are valid as long as it is. */
struct smtp_cmd {
	enum smtp_verb verb;
	/* The verb as sent (also for SMTP_VERB_UNKNOWN, for logging). */
	const char *verb_str;
	size_t verb_len;
	/* The argument without the spaces around it; NULL and 0 if none. */
	const char *arg;
	size_t arg_len;
};

/* The HELO/EHLO argument: a domain or an address literal. */
struct smtp_helo {
	/* As sent (case kept, for the Received: header); an address
	 * literal keeps its brackets. NUL-terminated. */
	char name[SMTP_DOMAIN_MAX + 1];
	bool is_literal;
};

/*
 * Parses one command line given WITHOUT its CRLF. The verb is matched
 * case-insensitively and ends at the first SP; any number of SP before the
 * argument and after it are dropped. NUL, CR, LF and the other control
 * characters are refused anywhere in the line; 8-bit octets are refused in
 * the verb but passed through in the argument (SMTPUTF8, RFC 6531), where
 * the argument's own parser judges them.
 *
 * Returns SMTP_CMD_OK and fills *cmd_r, or an error; on SMTP_CMD_ERR_UNKNOWN
 * and on argument errors cmd_r->verb, verb_str and verb_len are still set.
 * The session bounds the line (SMTP_CMD_LINE_MAX, or SMTP_CMD_AUTH_LINE_MAX
 * for AUTH); longer than SMTP_CMD_AUTH_LINE_MAX - 2 is SMTP_CMD_ERR_TOO_LONG.
 */
enum smtp_cmd_error smtp_cmd_parse(const char *line, size_t len,
                                   struct smtp_cmd *cmd_r)
        __attribute__((warn_unused_result));

/*
 * Parses a HELO/EHLO argument (RFC 5321 4.1.1.1): a Domain, or an
 * address-literal "[1.2.3.4]" / "[IPv6:...]" (RFC 5321 4.1.3). Nothing may
 * follow it. Underscores are tolerated in labels because many hosts name
 * themselves so; 8-bit octets are not (use A-labels). Returns SMTP_CMD_OK
 * and fills *helo_r, or SMTP_CMD_ERR_HELO_SYNTAX.
 */
enum smtp_cmd_error smtp_helo_parse(const char *arg, size_t len,
                                    struct smtp_helo *helo_r)
        __attribute__((warn_unused_result));

/*
 * Parses a BDAT argument (RFC 3030 2): chunk-size [SP "LAST"], "LAST"
 * case-insensitive. Returns SMTP_CMD_OK with *size_r and *is_last_r set,
 * or SMTP_CMD_ERR_BDAT_SYNTAX.
 */
enum smtp_cmd_error smtp_bdat_parse(const char *arg, size_t len,
                                    uint64_t *size_r, bool *is_last_r)
        __attribute__((warn_unused_result));

/* Returns the verb's canonical upper-case name ("UNKNOWN" for
 * SMTP_VERB_UNKNOWN); a static string. */
const char *smtp_verb_name(enum smtp_verb verb);

/* Returns the reply line for `err` (see the table above): a static string
 * with code, enhanced code and text, without CRLF. SMTP_CMD_OK gives
 * "250 2.0.0 OK". */
const char *smtp_cmd_error_reply(enum smtp_cmd_error err);

#endif
