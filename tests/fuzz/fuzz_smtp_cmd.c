/*
 * fuzz_smtp_cmd — one SMTP command line through smtp_cmd_parse() and the
 * argument parser its verb leads to (HELO/EHLO, BDAT, MAIL, RCPT); MAIL
 * and RCPT parsers also get the raw input directly.
 *
 * Invariants checked (abort on failure): every error maps to a reply;
 * argument views lie inside the input; fixed fields are NUL-terminated
 * within their size; a parsed path formats into SMTP_ADDR_PATH_MAX + 1
 * bytes, and parsing the formatted path again gives the same path (the
 * normal form is stable).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/addr.h"
#include "smtp/cmd_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

static void
check_terminated(const char *s, size_t size)
{
	CHECK(memchr(s, '\0', size) != NULL);
}

static void
check_path(const struct smtp_path *p)
{
	char out[SMTP_ADDR_PATH_MAX + 1];

	check_terminated(p->local, sizeof(p->local));
	check_terminated(p->domain, sizeof(p->domain));
	CHECK(smtp_path_format(p, out, sizeof(out)) >= 0);
	if (p->is_null)
		CHECK(out[0] == '\0' && p->local[0] == '\0');
}

/* Formats the path back into "<...>" and parses it again as `prefix`;
 * the result must be the same path. */
static void
check_reparse(const struct smtp_path *p, bool mail)
{
	char text[SMTP_ADDR_PATH_MAX + 32], addr[SMTP_ADDR_PATH_MAX + 1];
	struct smtp_mail_args m;
	struct smtp_rcpt_args r;
	enum smtp_addr_error err;
	const struct smtp_path *q;
	int n;

	n = smtp_path_format(p, addr, sizeof(addr));
	CHECK(n >= 0);
	n = snprintf(text, sizeof(text), "%s<%s>%s",
	             mail ? "FROM:" : "TO:", addr,
	             mail && p->has_utf8 ? " SMTPUTF8" : "");
	CHECK(n > 0 && (size_t)n < sizeof(text));
	if (mail) {
		CHECK(smtp_parse_mail(text, (size_t)n, &m, &err) == 0);
		q = &m.path;
	} else {
		CHECK(smtp_parse_rcpt(text, (size_t)n, true, &r, &err) == 0);
		q = &r.path;
	}
	CHECK(strcmp(p->local, q->local) == 0);
	CHECK(strcmp(p->domain, q->domain) == 0);
	CHECK(p->is_null == q->is_null);
	CHECK(p->is_postmaster == q->is_postmaster);
	CHECK(p->is_quoted == q->is_quoted);
	CHECK(p->is_literal == q->is_literal);
	CHECK(p->has_utf8 == q->has_utf8);
}

static void
fuzz_mail(const char *s, size_t len)
{
	struct smtp_mail_args m;
	enum smtp_addr_error err;

	if (smtp_parse_mail(s, len, &m, &err) == 0) {
		CHECK(err == SMTP_ADDR_OK);
		check_path(&m.path);
		check_terminated(m.envid, sizeof(m.envid));
		check_terminated(m.auth, sizeof(m.auth));
		CHECK(!m.path.has_utf8 || m.smtputf8);
		check_reparse(&m.path, true);
	} else {
		CHECK(err != SMTP_ADDR_OK);
	}
	CHECK(smtp_addr_error_reply(err) != NULL);
}

static void
fuzz_rcpt(const char *s, size_t len, bool utf8)
{
	struct smtp_rcpt_args r;
	enum smtp_addr_error err;

	if (smtp_parse_rcpt(s, len, utf8, &r, &err) == 0) {
		CHECK(err == SMTP_ADDR_OK);
		check_path(&r.path);
		check_terminated(r.orcpt, sizeof(r.orcpt));
		CHECK(!r.path.is_null);
		CHECK(!r.path.has_utf8 || utf8);
		if (r.has_orcpt)
			CHECK(r.orcpt[r.orcpt_type_len] == ';');
		check_reparse(&r.path, false);
	} else {
		CHECK(err != SMTP_ADDR_OK);
	}
	CHECK(smtp_addr_error_reply(err) != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *line = (const char *)data;
	struct smtp_cmd cmd;
	enum smtp_cmd_error err;
	struct smtp_helo helo;
	uint64_t chunk;
	bool last;

	err = smtp_cmd_parse(line, size, &cmd);
	CHECK(smtp_cmd_error_reply(err) != NULL);
	CHECK(smtp_verb_name(cmd.verb) != NULL);
	if (err == SMTP_CMD_OK && cmd.arg != NULL) {
		CHECK(cmd.arg >= line && cmd.arg_len > 0 &&
		      cmd.arg + cmd.arg_len <= line + size);
		CHECK(cmd.arg[0] != ' ' && cmd.arg[cmd.arg_len - 1] != ' ');
	}
	if (err == SMTP_CMD_OK) {
		switch (cmd.verb) {
		case SMTP_VERB_HELO:
		case SMTP_VERB_EHLO:
			if (smtp_helo_parse(cmd.arg, cmd.arg_len, &helo) ==
			    SMTP_CMD_OK) {
				CHECK(strlen(helo.name) == cmd.arg_len);
			}
			break;
		case SMTP_VERB_BDAT:
			err = smtp_bdat_parse(cmd.arg, cmd.arg_len, &chunk,
			                      &last);
			CHECK(err == SMTP_CMD_OK ||
			      err == SMTP_CMD_ERR_BDAT_SYNTAX);
			break;
		case SMTP_VERB_MAIL:
			fuzz_mail(cmd.arg, cmd.arg_len);
			break;
		case SMTP_VERB_RCPT:
			fuzz_rcpt(cmd.arg, cmd.arg_len, false);
			fuzz_rcpt(cmd.arg, cmd.arg_len, true);
			break;
		default:
			break;
		}
	}
	/* The argument parsers on their own, on anything at all. */
	fuzz_mail(line, size);
	fuzz_rcpt(line, size, size > 0 && (data[0] & 1));
	err = smtp_helo_parse(line, size, &helo);
	CHECK(err == SMTP_CMD_OK || err == SMTP_CMD_ERR_HELO_SYNTAX);
	if (err == SMTP_CMD_OK)
		CHECK(strlen(helo.name) == size);
	err = smtp_bdat_parse(line, size, &chunk, &last);
	CHECK(err == SMTP_CMD_OK || err == SMTP_CMD_ERR_BDAT_SYNTAX);
	return 0;
}
