/*
 * cmd_parse — SMTP command line splitting and the HELO/EHLO and BDAT
 * argument parsers, run by the smtp role for every line a client sends.
 *
 * Invariants: nothing here reads outside [line, line + len), writes outside
 * the caller's structs, allocates or logs. Views handed back always point
 * into the caller's line.
 */
#include "smtp/cmd_parse.h"

#include <string.h>

#include "core/str.h"
#include "smtp/addr.h"

enum smtp_cmd_arg_rule {
	SMTP_ARG_NONE,     /* no argument allowed */
	SMTP_ARG_OPTIONAL, /* may have one */
	SMTP_ARG_REQUIRED, /* must have one */
};

struct smtp_verb_def {
	const char *name;
	enum smtp_verb verb;
	enum smtp_cmd_arg_rule arg;
};

/*
 * The argument rules follow the command syntax of RFC 5321 4.1.1: HELO,
 * EHLO, MAIL, RCPT, VRFY and EXPN take one; DATA, RSET and QUIT take none;
 * NOOP and HELP may take one. BDAT needs its chunk size (RFC 3030 2), AUTH
 * its mechanism (RFC 4954 4), STARTTLS takes none (RFC 3207 4). VERB is
 * sendmail's and only recognised so the session can refuse it politely.
 */
static const struct smtp_verb_def smtp_verbs[] = {
        {"HELO", SMTP_VERB_HELO, SMTP_ARG_REQUIRED},
        {"EHLO", SMTP_VERB_EHLO, SMTP_ARG_REQUIRED},
        {"MAIL", SMTP_VERB_MAIL, SMTP_ARG_REQUIRED},
        {"RCPT", SMTP_VERB_RCPT, SMTP_ARG_REQUIRED},
        {"DATA", SMTP_VERB_DATA, SMTP_ARG_NONE},
        {"BDAT", SMTP_VERB_BDAT, SMTP_ARG_REQUIRED},
        {"RSET", SMTP_VERB_RSET, SMTP_ARG_NONE},
        {"NOOP", SMTP_VERB_NOOP, SMTP_ARG_OPTIONAL},
        {"QUIT", SMTP_VERB_QUIT, SMTP_ARG_NONE},
        {"HELP", SMTP_VERB_HELP, SMTP_ARG_OPTIONAL},
        {"VRFY", SMTP_VERB_VRFY, SMTP_ARG_REQUIRED},
        {"EXPN", SMTP_VERB_EXPN, SMTP_ARG_REQUIRED},
        {"VERB", SMTP_VERB_VERB, SMTP_ARG_OPTIONAL},
        {"STARTTLS", SMTP_VERB_STARTTLS, SMTP_ARG_NONE},
        {"AUTH", SMTP_VERB_AUTH, SMTP_ARG_REQUIRED},
};

#define SMTP_VERB_COUNT (sizeof(smtp_verbs) / sizeof(smtp_verbs[0]))

/* Control characters (including NUL, CR, LF, HTAB) and DEL. */
static bool
smtp_is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static const struct smtp_verb_def *
smtp_verb_lookup(const char *s, size_t len)
{
	for (size_t i = 0; i < SMTP_VERB_COUNT; i++) {
		if (str_eq_ci(s, len, smtp_verbs[i].name))
			return &smtp_verbs[i];
	}
	return NULL;
}

enum smtp_cmd_error
smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *cmd_r)
{
	const struct smtp_verb_def *def;
	size_t i, vlen, astart, aend;

	memset(cmd_r, 0, sizeof(*cmd_r));
	if (len > SMTP_CMD_AUTH_LINE_MAX - 2)
		return SMTP_CMD_ERR_TOO_LONG;

	/* The verb runs to the first SP (RFC 5321 4.1.1: verb SP arg). */
	for (vlen = 0; vlen < len && line[vlen] != ' '; vlen++) {
		unsigned char c = (unsigned char)line[vlen];

		if (smtp_is_ctl(c) || c >= 0x80)
			return SMTP_CMD_ERR_BAD_CHAR;
	}
	if (vlen == 0)
		return SMTP_CMD_ERR_NO_VERB;
	cmd_r->verb_str = line;
	cmd_r->verb_len = vlen;

	def = smtp_verb_lookup(line, vlen);
	if (def == NULL)
		return SMTP_CMD_ERR_UNKNOWN;
	cmd_r->verb = def->verb;

	/* One SP is the syntax; more are tolerated, as are trailing ones. */
	astart = vlen;
	while (astart < len && line[astart] == ' ')
		astart++;
	aend = len;
	while (aend > astart && line[aend - 1] == ' ')
		aend--;
	for (i = astart; i < aend; i++) {
		if (smtp_is_ctl((unsigned char)line[i]))
			return SMTP_CMD_ERR_ARG_BAD_CHAR;
	}

	if (aend > astart) {
		if (def->arg == SMTP_ARG_NONE)
			return SMTP_CMD_ERR_ARG_UNEXPECTED;
		cmd_r->arg = line + astart;
		cmd_r->arg_len = aend - astart;
	} else if (def->arg == SMTP_ARG_REQUIRED) {
		return SMTP_CMD_ERR_ARG_MISSING;
	}
	return SMTP_CMD_OK;
}

enum smtp_cmd_error
smtp_helo_parse(const char *arg, size_t len, struct smtp_helo *helo_r)
{
	memset(helo_r, 0, sizeof(*helo_r));
	if (len == 0 || len > SMTP_DOMAIN_MAX)
		return SMTP_CMD_ERR_HELO_SYNTAX;
	/* Domain / address-literal (RFC 5321 4.1.1.1); nothing after it. */
	if (arg[0] == '[') {
		if (!smtp_addr_literal_is_valid(arg, len))
			return SMTP_CMD_ERR_HELO_SYNTAX;
		helo_r->is_literal = true;
	} else if (!smtp_domain_is_valid(arg, len,
	                                 SMTP_DOMAIN_ALLOW_UNDERSCORE)) {
		return SMTP_CMD_ERR_HELO_SYNTAX;
	}
	memcpy(helo_r->name, arg, len);
	helo_r->name[len] = '\0';
	return SMTP_CMD_OK;
}

enum smtp_cmd_error
smtp_bdat_parse(const char *arg, size_t len, uint64_t *size_r, bool *is_last_r)
{
	size_t n = 0;

	/* bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ] CRLF, chunk-size
	 * = 1*DIGIT, end-marker = "LAST" (RFC 3030 2). Extra SP tolerated as
	 * for the command line. */
	while (n < len && arg[n] >= '0' && arg[n] <= '9')
		n++;
	if (str_parse_u64(arg, n, SMTP_BDAT_CHUNK_MAX, size_r) < 0)
		return SMTP_CMD_ERR_BDAT_SYNTAX;
	*is_last_r = false;
	if (n == len)
		return SMTP_CMD_OK;
	if (arg[n] != ' ')
		return SMTP_CMD_ERR_BDAT_SYNTAX;
	while (n < len && arg[n] == ' ')
		n++;
	while (len > n && arg[len - 1] == ' ')
		len--;
	if (!str_eq_ci(arg + n, len - n, "LAST"))
		return SMTP_CMD_ERR_BDAT_SYNTAX;
	*is_last_r = true;
	return SMTP_CMD_OK;
}

const char *
smtp_verb_name(enum smtp_verb verb)
{
	for (size_t i = 0; i < SMTP_VERB_COUNT; i++) {
		if (smtp_verbs[i].verb == verb)
			return smtp_verbs[i].name;
	}
	return "UNKNOWN";
}

const char *
smtp_cmd_error_reply(enum smtp_cmd_error err)
{
	switch (err) {
	case SMTP_CMD_OK:
		return "250 2.0.0 OK";
	case SMTP_CMD_ERR_NO_VERB:
		return "500 5.5.2 Syntax error, command missing";
	case SMTP_CMD_ERR_UNKNOWN:
		return "500 5.5.2 Syntax error, command unrecognized";
	case SMTP_CMD_ERR_BAD_CHAR:
		return "500 5.5.2 Syntax error, invalid character in command";
	case SMTP_CMD_ERR_TOO_LONG:
		return "500 5.5.2 Line too long";
	case SMTP_CMD_ERR_BARE_LF:
		return "500 5.5.2 Syntax error, command lines end in CRLF";
	case SMTP_CMD_ERR_ARG_BAD_CHAR:
		return "501 5.5.4 Syntax error, invalid character in argument";
	case SMTP_CMD_ERR_ARG_MISSING:
		return "501 5.5.4 Syntax error, argument required";
	case SMTP_CMD_ERR_ARG_UNEXPECTED:
		return "501 5.5.4 Syntax error, no arguments allowed";
	case SMTP_CMD_ERR_HELO_SYNTAX:
		return "501 5.5.4 Syntax error, invalid domain name or address "
		       "literal";
	case SMTP_CMD_ERR_BDAT_SYNTAX:
		return "501 5.5.4 Syntax: BDAT chunk-size [LAST]";
	}
	return "500 5.5.2 Syntax error";
}
