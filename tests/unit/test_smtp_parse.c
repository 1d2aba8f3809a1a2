/*
 * test_smtp_parse — SMTP command lines, HELO/EHLO and BDAT arguments
 * (smtp/cmd_parse.c), MAIL/RCPT paths and parameters and xtext
 * (smtp/addr.c).
 *
 * These parsers take one complete line, so there is nothing to split;
 * instead every input is handed over in an exact-size heap copy without a
 * terminating NUL, so ASan catches any read past its end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/addr.h"
#include "smtp/cmd_parse.h"

static char *
dup_exact(const char *s, size_t len)
{
	char *p = malloc(len ? len : 1);

	assert_non_null(p);
	memcpy(p, s, len);
	return p;
}

/* ---- command lines ---------------------------------------------------- */

static void
cmd_ok_n(const char *line, size_t len, enum smtp_verb verb, const char *arg)
{
	char *copy = dup_exact(line, len);
	struct smtp_cmd c;

	assert_int_equal(smtp_cmd_parse(copy, len, &c), SMTP_CMD_OK);
	assert_int_equal(c.verb, verb);
	if (arg == NULL) {
		assert_null(c.arg);
		assert_int_equal(c.arg_len, 0);
	} else {
		assert_non_null(c.arg);
		assert_int_equal(c.arg_len, strlen(arg));
		assert_memory_equal(c.arg, arg, c.arg_len);
		assert_true(c.arg >= copy && c.arg + c.arg_len <= copy + len);
	}
	free(copy);
}

static void
cmd_ok(const char *line, enum smtp_verb verb, const char *arg)
{
	cmd_ok_n(line, strlen(line), verb, arg);
}

static void
cmd_err_n(const char *line, size_t len, enum smtp_cmd_error err)
{
	char *copy = dup_exact(line, len);
	struct smtp_cmd c;

	assert_int_equal(smtp_cmd_parse(copy, len, &c), err);
	free(copy);
}

static void
cmd_err(const char *line, enum smtp_cmd_error err)
{
	cmd_err_n(line, strlen(line), err);
}

static void
test_cmd_verbs(void **state)
{
	(void)state;
	cmd_ok("HELO example.com", SMTP_VERB_HELO, "example.com");
	cmd_ok("helo example.com", SMTP_VERB_HELO, "example.com");
	cmd_ok("EhLo [192.0.2.1]", SMTP_VERB_EHLO, "[192.0.2.1]");
	cmd_ok("MAIL FROM:<a@b.example>", SMTP_VERB_MAIL, "FROM:<a@b.example>");
	cmd_ok("rcpt TO:<a@b.example> NOTIFY=NEVER", SMTP_VERB_RCPT,
	       "TO:<a@b.example> NOTIFY=NEVER");
	cmd_ok("DATA", SMTP_VERB_DATA, NULL);
	cmd_ok("BDAT 100 LAST", SMTP_VERB_BDAT, "100 LAST");
	cmd_ok("RSET", SMTP_VERB_RSET, NULL);
	cmd_ok("NOOP", SMTP_VERB_NOOP, NULL);
	cmd_ok("NOOP anything at all", SMTP_VERB_NOOP, "anything at all");
	cmd_ok("QUIT", SMTP_VERB_QUIT, NULL);
	cmd_ok("HELP", SMTP_VERB_HELP, NULL);
	cmd_ok("HELP MAIL", SMTP_VERB_HELP, "MAIL");
	cmd_ok("VRFY postmaster", SMTP_VERB_VRFY, "postmaster");
	cmd_ok("EXPN staff", SMTP_VERB_EXPN, "staff");
	cmd_ok("VERB", SMTP_VERB_VERB, NULL);
	cmd_ok("StartTLS", SMTP_VERB_STARTTLS, NULL);
	cmd_ok("AUTH PLAIN AGpvZQBzZWNyZXQ=", SMTP_VERB_AUTH,
	       "PLAIN AGpvZQBzZWNyZXQ=");
	assert_string_equal(smtp_verb_name(SMTP_VERB_STARTTLS), "STARTTLS");
	assert_string_equal(smtp_verb_name(SMTP_VERB_EHLO), "EHLO");
	assert_string_equal(smtp_verb_name(SMTP_VERB_UNKNOWN), "UNKNOWN");
}

static void
test_cmd_spaces(void **state)
{
	(void)state;
	cmd_ok("EHLO   example.com   ", SMTP_VERB_EHLO, "example.com");
	cmd_ok("DATA ", SMTP_VERB_DATA, NULL);
	cmd_ok("QUIT    ", SMTP_VERB_QUIT, NULL);
	cmd_ok("NOOP  a  b ", SMTP_VERB_NOOP, "a  b");
	cmd_err("HELO ", SMTP_CMD_ERR_ARG_MISSING);
	cmd_err("MAIL    ", SMTP_CMD_ERR_ARG_MISSING);
}

static void
test_cmd_arguments(void **state)
{
	(void)state;
	cmd_err("HELO", SMTP_CMD_ERR_ARG_MISSING);
	cmd_err("EHLO", SMTP_CMD_ERR_ARG_MISSING);
	cmd_err("MAIL", SMTP_CMD_ERR_ARG_MISSING);
	cmd_err("RCPT", SMTP_CMD_ERR_ARG_MISSING);
	cmd_err("VRFY", SMTP_CMD_ERR_ARG_MISSING);
	cmd_err("EXPN", SMTP_CMD_ERR_ARG_MISSING);
	cmd_err("BDAT", SMTP_CMD_ERR_ARG_MISSING);
	cmd_err("AUTH", SMTP_CMD_ERR_ARG_MISSING);
	cmd_err("DATA x", SMTP_CMD_ERR_ARG_UNEXPECTED);
	cmd_err("RSET x", SMTP_CMD_ERR_ARG_UNEXPECTED);
	cmd_err("QUIT now", SMTP_CMD_ERR_ARG_UNEXPECTED);
	cmd_err("STARTTLS x", SMTP_CMD_ERR_ARG_UNEXPECTED);
}

static void
test_cmd_bad(void **state)
{
	char *line;
	struct smtp_cmd c;

	(void)state;
	cmd_err("", SMTP_CMD_ERR_NO_VERB);
	cmd_err(" ", SMTP_CMD_ERR_NO_VERB);
	cmd_err(" HELO x", SMTP_CMD_ERR_NO_VERB);
	cmd_err("FOO bar", SMTP_CMD_ERR_UNKNOWN);
	cmd_err("MAILFROM:<a@b>", SMTP_CMD_ERR_UNKNOWN);
	cmd_err("QUIT:", SMTP_CMD_ERR_UNKNOWN);
	cmd_err("HEL", SMTP_CMD_ERR_UNKNOWN);
	cmd_err("HELOO x", SMTP_CMD_ERR_UNKNOWN);
	cmd_err("GET / HTTP/1.0", SMTP_CMD_ERR_UNKNOWN);
	cmd_err_n("HE\0LO x", 7, SMTP_CMD_ERR_BAD_CHAR);
	cmd_err("HELO\tx", SMTP_CMD_ERR_BAD_CHAR);
	cmd_err("H\xc3\xa9LO x", SMTP_CMD_ERR_BAD_CHAR);
	cmd_err("\x7f", SMTP_CMD_ERR_BAD_CHAR);
	cmd_err("QUIT\r", SMTP_CMD_ERR_BAD_CHAR);
	cmd_err_n("HELO a\0b", 8, SMTP_CMD_ERR_ARG_BAD_CHAR);
	cmd_err("HELO a\rb", SMTP_CMD_ERR_ARG_BAD_CHAR);
	cmd_err("HELO a\nb", SMTP_CMD_ERR_ARG_BAD_CHAR);
	cmd_err("MAIL FROM:<a@b>\tSIZE=1", SMTP_CMD_ERR_ARG_BAD_CHAR);
	cmd_err("NOOP \x1b[1m", SMTP_CMD_ERR_ARG_BAD_CHAR);
	/* 8-bit in the argument is for the argument's parser to judge. */
	cmd_ok("MAIL FROM:<\xc3\xa9@b.example> SMTPUTF8", SMTP_VERB_MAIL,
	       "FROM:<\xc3\xa9@b.example> SMTPUTF8");

	/* The verb is still reported for an unknown command. */
	line = dup_exact("XYZZY plugh", 11);
	assert_int_equal(smtp_cmd_parse(line, 11, &c), SMTP_CMD_ERR_UNKNOWN);
	assert_int_equal(c.verb, SMTP_VERB_UNKNOWN);
	assert_int_equal(c.verb_len, 5);
	assert_ptr_equal(c.verb_str, line);
	free(line);
}

static void
test_cmd_length_limit(void **state)
{
	size_t max = SMTP_CMD_AUTH_LINE_MAX - 2;
	char *line = malloc(max + 1);
	struct smtp_cmd c;

	(void)state;
	assert_non_null(line);
	memcpy(line, "AUTH PLAIN ", 11);
	memset(line + 11, 'A', max + 1 - 11);
	assert_int_equal(smtp_cmd_parse(line, max, &c), SMTP_CMD_OK);
	assert_int_equal(c.arg_len, max - 5);
	assert_int_equal(smtp_cmd_parse(line, max + 1, &c),
	                 SMTP_CMD_ERR_TOO_LONG);
	free(line);
}

static void
test_cmd_replies(void **state)
{
	(void)state;
	assert_string_equal(smtp_cmd_error_reply(SMTP_CMD_ERR_UNKNOWN),
	                    "500 5.5.2 Syntax error, command unrecognized");
	assert_string_equal(smtp_cmd_error_reply(SMTP_CMD_ERR_ARG_MISSING),
	                    "501 5.5.4 Syntax error, argument required");
	for (int e = SMTP_CMD_OK; e <= SMTP_CMD_ERR_BDAT_SYNTAX; e++) {
		const char *r = smtp_cmd_error_reply(e);

		assert_non_null(r);
		assert_true(strlen(r) > 10);
		assert_true(r[3] == ' ' && r[5] == '.' && r[7] == '.');
		if (e != SMTP_CMD_OK)
			assert_true(r[0] == '5' && r[4] == '5');
	}
}

/* ---- HELO / EHLO ------------------------------------------------------ */

static void
helo_ok(const char *arg, bool literal)
{
	size_t len = strlen(arg);
	char *copy = dup_exact(arg, len);
	struct smtp_helo h;

	assert_int_equal(smtp_helo_parse(copy, len, &h), SMTP_CMD_OK);
	assert_string_equal(h.name, arg);
	assert_int_equal(h.is_literal, literal);
	free(copy);
}

static void
helo_bad(const char *arg)
{
	size_t len = strlen(arg);
	char *copy = dup_exact(arg, len);
	struct smtp_helo h;

	assert_int_equal(smtp_helo_parse(copy, len, &h),
	                 SMTP_CMD_ERR_HELO_SYNTAX);
	free(copy);
}

static void
test_helo(void **state)
{
	char name[300];

	(void)state;
	helo_ok("example.com", false);
	helo_ok("Mail.Example.CO.uk", false);
	helo_ok("localhost", false);
	helo_ok("a", false);
	helo_ok("1.2.3.4", false);
	helo_ok("xn--bcher-kva.example", false);
	helo_ok("DESKTOP_4F2.home", false);
	helo_ok("[192.0.2.1]", true);
	helo_ok("[0.0.0.0]", true);
	helo_ok("[255.255.255.255]", true);
	helo_ok("[IPv6:2001:db8::1]", true);
	helo_ok("[ipv6:::1]", true);
	helo_ok("[IPv6:::ffff:192.0.2.1]", true);
	helo_ok("[IPv6:1:2:3:4:5:6:7:8]", true);

	helo_bad("");
	helo_bad("-foo.com");
	helo_bad("foo-.com");
	helo_bad("foo..com");
	helo_bad(".foo");
	helo_bad("foo.");
	helo_bad("foo bar");
	helo_bad("exa!mple.com");
	helo_bad("caf\xc3\xa9.example");
	helo_bad("[1.2.3.256]");
	helo_bad("[1.2.3]");
	helo_bad("[1.2.3.4.5]");
	helo_bad("[1.2.3.4");
	helo_bad("1.2.3.4]");
	helo_bad("[]");
	helo_bad("[1234.1.1.1]");
	helo_bad("[IPv6:zz::1]");
	helo_bad("[IPv6:1:2:3:4:5:6:7:8:9]");
	helo_bad("[IPv6:]");
	helo_bad("[foo:bar]");
	helo_bad("[ 1.2.3.4]");

	/* A label of 63 is fine, 64 is not; 255 in all is fine. */
	memset(name, 'a', 63);
	strcpy(name + 63, ".example");
	helo_ok(name, false);
	memset(name, 'a', 64);
	strcpy(name + 64, ".example");
	helo_bad(name);
	for (int i = 0; i < 4; i++) {
		memset(name + i * 64, 'b', 63);
		name[i * 64 + 63] = '.';
	}
	name[255] = '\0';
	name[254] = 'c';
	helo_ok(name, false);
	name[255] = 'd';
	name[256] = '\0';
	helo_bad(name);
}

/* ---- BDAT ------------------------------------------------------------- */

static void
bdat_ok(const char *arg, uint64_t size, bool last)
{
	size_t len = strlen(arg);
	char *copy = dup_exact(arg, len);
	uint64_t sz = 1;
	bool is_last = !last;

	assert_int_equal(smtp_bdat_parse(copy, len, &sz, &is_last),
	                 SMTP_CMD_OK);
	assert_int_equal(sz, size);
	assert_int_equal(is_last, last);
	free(copy);
}

static void
bdat_bad(const char *arg)
{
	size_t len = strlen(arg);
	char *copy = dup_exact(arg, len);
	uint64_t sz;
	bool is_last;

	assert_int_equal(smtp_bdat_parse(copy, len, &sz, &is_last),
	                 SMTP_CMD_ERR_BDAT_SYNTAX);
	free(copy);
}

static void
test_bdat(void **state)
{
	(void)state;
	bdat_ok("100", 100, false);
	bdat_ok("0", 0, false);
	bdat_ok("100 LAST", 100, true);
	bdat_ok("0 last", 0, true);
	bdat_ok("7  LaSt  ", 7, true);
	bdat_ok("18446744073709551615", UINT64_MAX, false);
	bdat_bad("");
	bdat_bad("LAST");
	bdat_bad("abc");
	bdat_bad("100 FOO");
	bdat_bad("100LAST");
	bdat_bad("-1");
	bdat_bad("+1");
	bdat_bad("1 LAST x");
	bdat_bad("18446744073709551616");
	bdat_bad("99999999999999999999999");
}

/* ---- MAIL ------------------------------------------------------------- */

static void
mail_ok(const char *arg, struct smtp_mail_args *r)
{
	size_t len = strlen(arg);
	char *copy = dup_exact(arg, len);
	enum smtp_addr_error err = SMTP_ADDR_ERR_PARAM_TOO_MANY;

	assert_int_equal(smtp_parse_mail(copy, len, r, &err), 0);
	assert_int_equal(err, SMTP_ADDR_OK);
	free(copy);
}

static void
mail_err(const char *arg, enum smtp_addr_error expect)
{
	size_t len = strlen(arg);
	char *copy = dup_exact(arg, len);
	struct smtp_mail_args r;
	enum smtp_addr_error err = SMTP_ADDR_OK;

	assert_int_equal(smtp_parse_mail(copy, len, &r, &err), -1);
	assert_int_equal(err, expect);
	free(copy);
}

static void
mail_path(const char *arg, const char *local, const char *domain)
{
	struct smtp_mail_args r;

	mail_ok(arg, &r);
	assert_string_equal(r.path.local, local);
	assert_string_equal(r.path.domain, domain);
}

static void
test_mail_paths(void **state)
{
	struct smtp_mail_args r;

	(void)state;
	mail_ok("FROM:<a@example.com>", &r);
	assert_string_equal(r.path.local, "a");
	assert_string_equal(r.path.domain, "example.com");
	assert_false(r.path.is_null);
	assert_false(r.path.is_quoted);
	assert_false(r.path.is_literal);
	assert_false(r.path.has_utf8);
	assert_false(r.has_size);
	assert_int_equal(r.body, SMTP_BODY_NONE);
	assert_int_equal(r.ret, SMTP_RET_NONE);

	/* The local part keeps its case, the domain is lowered. */
	mail_path("from:<John.Smith@Example.COM>", "John.Smith", "example.com");
	mail_path("From: <a@b.example>", "a", "b.example");
	mail_path("FROM:<user+tag!#$%&'*/=?^_`{|}~-@x.example>",
	          "user+tag!#$%&'*/=?^_`{|}~-", "x.example");
	mail_path("FROM:<u@[192.0.2.1]>", "u", "[192.0.2.1]");
	mail_path("FROM:<u@[ipv6:2001:DB8::1]>", "u", "[IPv6:2001:db8::1]");

	mail_ok("FROM:<>", &r);
	assert_true(r.path.is_null);
	assert_string_equal(r.path.local, "");
	assert_string_equal(r.path.domain, "");
	mail_ok("FROM:<> SIZE=10", &r);
	assert_true(r.path.is_null);
	assert_true(r.has_size);
}

static void
test_mail_quoted(void **state)
{
	struct smtp_mail_args r;

	(void)state;
	mail_ok("FROM:<\"john doe\"@x.example>", &r);
	assert_string_equal(r.path.local, "\"john doe\"");
	assert_true(r.path.is_quoted);
	/* Quotes that are not needed go. */
	mail_ok("FROM:<\"john.doe\"@x.example>", &r);
	assert_string_equal(r.path.local, "john.doe");
	assert_false(r.path.is_quoted);
	mail_path("FROM:<\"a\\b\"@x.example>", "ab", "x.example");
	/* Needed escapes stay, needless ones go. */
	mail_path("FROM:<\"a\\\"b\"@x.example>", "\"a\\\"b\"", "x.example");
	mail_path("FROM:<\"a\\\\b\"@x.example>", "\"a\\\\b\"", "x.example");
	mail_path("FROM:<\"a\\ b\"@x.example>", "\"a b\"", "x.example");
	mail_path("FROM:<\"a>b\"@x.example>", "\"a>b\"", "x.example");
	mail_path("FROM:<\"a@b\"@x.example>", "\"a@b\"", "x.example");
	mail_path("FROM:<\"\"@x.example>", "\"\"", "x.example");
	mail_path("FROM:<\".a\"@x.example>", "\".a\"", "x.example");
	mail_path("FROM:<\"a..b\"@x.example>", "\"a..b\"", "x.example");

	mail_err("FROM:<\"a@x.example>", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<\"a\"b@x.example>", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<a\"b\"@x.example>", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<\"a\tb\"@x.example>", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<\"a\\\x01\"@x.example>", SMTP_ADDR_ERR_SENDER);
}

static void
test_mail_source_route(void **state)
{
	(void)state;
	mail_path("FROM:<@a.example,@b.example:u@c.example>", "u", "c.example");
	mail_path("FROM:<@a.example:u@c.example>", "u", "c.example");
	mail_err("FROM:<@a.example:>", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<@:u@c.example>", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<@a.example,u@c.example>", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<@a.example;u@c.example>", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<@a.example,:u@c.example>", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<@-a.example:u@c.example>", SMTP_ADDR_ERR_SENDER);
}

static void
test_mail_bad_paths(void **state)
{
	(void)state;
	mail_err("", SMTP_ADDR_ERR_MAIL_SYNTAX);
	mail_err("FROM", SMTP_ADDR_ERR_MAIL_SYNTAX);
	mail_err("FROM<a@b.example>", SMTP_ADDR_ERR_MAIL_SYNTAX);
	mail_err("TO:<a@b.example>", SMTP_ADDR_ERR_MAIL_SYNTAX);
	mail_err(" FROM:<a@b.example>", SMTP_ADDR_ERR_MAIL_SYNTAX);
	mail_err("FROM:", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:a@b.example", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<a@b.example", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<a@b.example>x", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<a@b.example>>", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<<a@b.example>>", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<a>", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<postmaster>", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<@b.example>", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<a@>", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<a@b@c.example>", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<.a@b.example>", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<a.@b.example>", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<a..b@b.example>", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<a b@b.example>", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<a(b)@b.example>", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<a@b..example>", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<a@b.example.>", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<a@-b.example>", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<a@b_c.example>", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<a@[300.1.1.1]>", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<a@[IPv6:1::2::3]>", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<a@[x-tag:foo]>", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<a@[1.2.3.4]x>", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<a@b.example> <c@d.example>",
	         SMTP_ADDR_ERR_PARAM_SYNTAX);
	/* A bad path is reported before bad parameters. */
	mail_err("FROM:<a> FOO=1", SMTP_ADDR_ERR_SENDER);
}

static void
test_mail_lengths(void **state)
{
	char arg[600], local[100], domain[300];
	struct smtp_mail_args r;

	(void)state;
	/* Local part: 64 octets fine, 65 too long (RFC 5321 4.5.3.1.1). */
	memset(local, 'l', 64);
	local[64] = '\0';
	snprintf(arg, sizeof(arg), "FROM:<%s@x.example>", local);
	mail_ok(arg, &r);
	assert_string_equal(r.path.local, local);
	local[64] = 'l';
	local[65] = '\0';
	snprintf(arg, sizeof(arg), "FROM:<%s@x.example>", local);
	mail_err(arg, SMTP_ADDR_ERR_SENDER_TOO_LONG);
	/* Quoted: the form as sent counts, quotes included. */
	memset(local, 'q', 62);
	local[62] = '\0';
	snprintf(arg, sizeof(arg), "FROM:<\"%s \"@x.example>", local);
	mail_err(arg, SMTP_ADDR_ERR_SENDER_TOO_LONG);
	local[61] = '\0';
	snprintf(arg, sizeof(arg), "FROM:<\"%s \"@x.example>", local);
	mail_ok(arg, &r);
	assert_true(r.path.is_quoted);
	assert_int_equal(strlen(r.path.local), 64);

	/* Path: 256 with the brackets (RFC 5321 4.5.3.1.3). 64 + "@" +
	 * 189 + "<>" = 256. */
	memset(local, 'l', 64);
	local[64] = '\0';
	for (int i = 0; i < 189; i++)
		domain[i] = (i % 50 == 49) ? '.' : 'd';
	domain[189] = '\0';
	snprintf(arg, sizeof(arg), "FROM:<%s@%s>", local, domain);
	mail_ok(arg, &r);
	assert_string_equal(r.path.domain, domain);
	domain[189] = 'd';
	domain[190] = '\0';
	snprintf(arg, sizeof(arg), "FROM:<%s@%s>", local, domain);
	mail_err(arg, SMTP_ADDR_ERR_SENDER_TOO_LONG);
	/* Domain over 255 octets. */
	for (int i = 0; i < 256; i++)
		domain[i] = (i % 50 == 49) ? '.' : 'd';
	domain[256] = '\0';
	snprintf(arg, sizeof(arg), "FROM:<a@%s>", domain);
	mail_err(arg, SMTP_ADDR_ERR_SENDER_TOO_LONG);
}

static void
test_mail_utf8(void **state)
{
	static const char addr[] = "\xce\xb4\xce\xbf\xce\xba\xce\xb9@"
	                           "\xcf\x80\xce\xb1\xcf\x81.Example";
	char arg[200];
	struct smtp_mail_args r;

	(void)state;
	snprintf(arg, sizeof(arg), "FROM:<%s>", addr);
	mail_err(arg, SMTP_ADDR_ERR_SENDER_UTF8);
	snprintf(arg, sizeof(arg), "FROM:<%s> SMTPUTF8", addr);
	mail_ok(arg, &r);
	assert_true(r.smtputf8);
	assert_true(r.path.has_utf8);
	assert_string_equal(r.path.local, "\xce\xb4\xce\xbf\xce\xba\xce\xb9");
	assert_string_equal(r.path.domain, "\xcf\x80\xce\xb1\xcf\x81.example");
	snprintf(arg, sizeof(arg), "FROM:<%s> BODY=8BITMIME smtputf8", addr);
	mail_ok(arg, &r);
	mail_ok("FROM:<\"\xc3\xa9 x\"@b.example> SMTPUTF8", &r);
	assert_string_equal(r.path.local, "\"\xc3\xa9 x\"");
	mail_ok("FROM:<\"\xc3\xa9\"@b.example> SMTPUTF8", &r);
	assert_string_equal(r.path.local, "\xc3\xa9");
	/* ASCII address with SMTPUTF8 is fine too. */
	mail_ok("FROM:<a@b.example> SMTPUTF8", &r);
	assert_false(r.path.has_utf8);

	/* Malformed UTF-8 is a syntax error either way. */
	mail_err("FROM:<\xff@b.example> SMTPUTF8", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<\xc0\xaf@b.example> SMTPUTF8", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<\xed\xa0\x80@b.example> SMTPUTF8",
	         SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<\xf4\x90\x80\x80@b.example> SMTPUTF8",
	         SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<\xc3@b.example> SMTPUTF8", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<a@b.\xc3> SMTPUTF8", SMTP_ADDR_ERR_SENDER);
	mail_err("FROM:<\xff@b.example>", SMTP_ADDR_ERR_SENDER);
	/* SMTPUTF8 takes no value. */
	mail_err("FROM:<a@b.example> SMTPUTF8=yes", SMTP_ADDR_ERR_PARAM_SYNTAX);
}

static void
test_mail_params(void **state)
{
	struct smtp_mail_args r;
	char arg[700], val[SMTP_AUTH_PARAM_MAX + 2];

	(void)state;
	mail_ok("FROM:<a@b.example> SIZE=1000 BODY=8BITMIME RET=HDRS "
	        "ENVID=QQ314159+2Bx AUTH=<>",
	        &r);
	assert_true(r.has_size);
	assert_int_equal(r.size, 1000);
	assert_int_equal(r.body, SMTP_BODY_8BITMIME);
	assert_int_equal(r.ret, SMTP_RET_HDRS);
	assert_true(r.has_envid);
	assert_string_equal(r.envid, "QQ314159+2Bx");
	assert_true(r.has_auth);
	assert_string_equal(r.auth, "<>");
	assert_false(r.smtputf8);

	mail_ok("FROM:<a@b.example>   size=0   body=7bit ret=full", &r);
	assert_int_equal(r.size, 0);
	assert_int_equal(r.body, SMTP_BODY_7BIT);
	assert_int_equal(r.ret, SMTP_RET_FULL);
	mail_ok("FROM:<a@b.example> BODY=BINARYMIME", &r);
	assert_int_equal(r.body, SMTP_BODY_BINARYMIME);
	mail_ok("FROM:<a@b.example> SIZE=18446744073709551615", &r);
	assert_int_equal(r.size, UINT64_MAX);
	mail_ok("FROM:<a@b.example> AUTH=joe+40example.com", &r);
	assert_string_equal(r.auth, "joe+40example.com");

	mail_err("FROM:<a@b.example> SIZE=18446744073709551616",
	         SMTP_ADDR_ERR_PARAM_VALUE);
	mail_err("FROM:<a@b.example> SIZE=12k", SMTP_ADDR_ERR_PARAM_VALUE);
	mail_err("FROM:<a@b.example> SIZE=-1", SMTP_ADDR_ERR_PARAM_VALUE);
	mail_err("FROM:<a@b.example> SIZE", SMTP_ADDR_ERR_PARAM_SYNTAX);
	mail_err("FROM:<a@b.example> SIZE=", SMTP_ADDR_ERR_PARAM_SYNTAX);
	mail_err("FROM:<a@b.example> SIZE==1", SMTP_ADDR_ERR_PARAM_SYNTAX);
	mail_err("FROM:<a@b.example> BODY=9BIT", SMTP_ADDR_ERR_PARAM_VALUE);
	mail_err("FROM:<a@b.example> RET=ALL", SMTP_ADDR_ERR_PARAM_VALUE);
	mail_err("FROM:<a@b.example> ENVID=a+2b", SMTP_ADDR_ERR_PARAM_VALUE);
	mail_err("FROM:<a@b.example> ENVID=a+2", SMTP_ADDR_ERR_PARAM_VALUE);
	mail_err("FROM:<a@b.example> ENVID=a+00", SMTP_ADDR_ERR_PARAM_VALUE);
	mail_err("FROM:<a@b.example> ENVID=a+0A", SMTP_ADDR_ERR_PARAM_VALUE);
	mail_err("FROM:<a@b.example> AUTH=+zz", SMTP_ADDR_ERR_PARAM_VALUE);
	mail_err("FROM:<a@b.example> AUTH", SMTP_ADDR_ERR_PARAM_SYNTAX);

	/* ENVID: 100 characters once decoded. */
	memset(val, 'e', 100);
	val[100] = '\0';
	snprintf(arg, sizeof(arg), "FROM:<a@b.example> ENVID=%s", val);
	mail_ok(arg, &r);
	assert_string_equal(r.envid, val);
	for (int i = 0; i < 100; i++)
		memcpy(val + 3 * i, "+2B", 3);
	val[300] = '\0';
	snprintf(arg, sizeof(arg), "FROM:<a@b.example> ENVID=%s", val);
	mail_ok(arg, &r);
	assert_string_equal(r.envid, val);
	memset(val, 'e', 101);
	val[101] = '\0';
	snprintf(arg, sizeof(arg), "FROM:<a@b.example> ENVID=%s", val);
	mail_err(arg, SMTP_ADDR_ERR_PARAM_VALUE);
	/* AUTH=: up to SMTP_AUTH_PARAM_MAX as sent. */
	memset(val, 'a', SMTP_AUTH_PARAM_MAX);
	val[SMTP_AUTH_PARAM_MAX] = '\0';
	snprintf(arg, sizeof(arg), "FROM:<a@b.example> AUTH=%s", val);
	mail_ok(arg, &r);
	val[SMTP_AUTH_PARAM_MAX] = 'a';
	val[SMTP_AUTH_PARAM_MAX + 1] = '\0';
	snprintf(arg, sizeof(arg), "FROM:<a@b.example> AUTH=%s", val);
	mail_err(arg, SMTP_ADDR_ERR_PARAM_VALUE);
}

static void
test_mail_param_errors(void **state)
{
	char arg[400];
	size_t n;

	(void)state;
	mail_err("FROM:<a@b.example> FOO=bar", SMTP_ADDR_ERR_PARAM_UNKNOWN);
	mail_err("FROM:<a@b.example> X-FOO", SMTP_ADDR_ERR_PARAM_UNKNOWN);
	mail_err("FROM:<a@b.example> NOTIFY=NEVER",
	         SMTP_ADDR_ERR_PARAM_UNKNOWN);
	mail_err("FROM:<a@b.example> ORCPT=rfc822;a@b",
	         SMTP_ADDR_ERR_PARAM_UNKNOWN);
	mail_err("FROM:<a@b.example> SIZE=1 SIZE=2",
	         SMTP_ADDR_ERR_PARAM_DUPLICATE);
	mail_err("FROM:<a@b.example> smtputf8 SMTPUTF8",
	         SMTP_ADDR_ERR_PARAM_DUPLICATE);
	mail_err("FROM:<a@b.example> -SIZE=1", SMTP_ADDR_ERR_PARAM_SYNTAX);
	mail_err("FROM:<a@b.example> SI_ZE=1", SMTP_ADDR_ERR_PARAM_SYNTAX);
	mail_err("FROM:<a@b.example> =1", SMTP_ADDR_ERR_PARAM_SYNTAX);
	mail_err("FROM:<a@b.example> ENVID=\xc3\xa9",
	         SMTP_ADDR_ERR_PARAM_SYNTAX);
	/* Sixteen parameters are the bound; the count is checked first. */
	n = (size_t)snprintf(arg, sizeof(arg), "FROM:<a@b.example>");
	for (int i = 0; i < 16; i++)
		n += (size_t)snprintf(arg + n, sizeof(arg) - n, " X%d", i);
	mail_err(arg, SMTP_ADDR_ERR_PARAM_UNKNOWN);
	snprintf(arg + n, sizeof(arg) - n, " SIZE=1");
	mail_err(arg, SMTP_ADDR_ERR_PARAM_TOO_MANY);
}

/* ---- RCPT ------------------------------------------------------------- */

static void
rcpt_ok(const char *arg, bool utf8, struct smtp_rcpt_args *r)
{
	size_t len = strlen(arg);
	char *copy = dup_exact(arg, len);
	enum smtp_addr_error err = SMTP_ADDR_ERR_PARAM_TOO_MANY;

	assert_int_equal(smtp_parse_rcpt(copy, len, utf8, r, &err), 0);
	assert_int_equal(err, SMTP_ADDR_OK);
	free(copy);
}

static void
rcpt_err(const char *arg, bool utf8, enum smtp_addr_error expect)
{
	size_t len = strlen(arg);
	char *copy = dup_exact(arg, len);
	struct smtp_rcpt_args r;
	enum smtp_addr_error err = SMTP_ADDR_OK;

	assert_int_equal(smtp_parse_rcpt(copy, len, utf8, &r, &err), -1);
	assert_int_equal(err, expect);
	free(copy);
}

static void
test_rcpt_paths(void **state)
{
	struct smtp_rcpt_args r;
	char buf[SMTP_ADDR_PATH_MAX + 1];

	(void)state;
	rcpt_ok("TO:<u@Example.com>", false, &r);
	assert_string_equal(r.path.local, "u");
	assert_string_equal(r.path.domain, "example.com");
	assert_int_equal(r.notify, 0);
	assert_false(r.has_orcpt);
	assert_int_equal(smtp_path_format(&r.path, buf, sizeof(buf)), 13);
	assert_string_equal(buf, "u@example.com");
	assert_int_equal(smtp_path_format(&r.path, buf, 13), -1);
	assert_string_equal(buf, "");

	/* <Postmaster> without a domain, any case (RFC 5321 4.1.1.3). */
	rcpt_ok("TO:<Postmaster>", false, &r);
	assert_true(r.path.is_postmaster);
	assert_string_equal(r.path.local, "postmaster");
	assert_string_equal(r.path.domain, "");
	assert_int_equal(smtp_path_format(&r.path, buf, sizeof(buf)), 10);
	assert_string_equal(buf, "postmaster");
	rcpt_ok("to:<POSTMASTER> NOTIFY=NEVER", false, &r);
	assert_true(r.path.is_postmaster);
	rcpt_ok("TO:<Postmaster@Example.com>", false, &r);
	assert_false(r.path.is_postmaster);
	assert_string_equal(r.path.local, "Postmaster");
	rcpt_ok("TO:<@relay.example:u@c.example>", false, &r);
	assert_string_equal(r.path.local, "u");
	rcpt_ok("TO: <u@c.example>", false, &r);

	rcpt_err("TO:<>", false, SMTP_ADDR_ERR_RECIPIENT);
	rcpt_err("TO:<u>", false, SMTP_ADDR_ERR_RECIPIENT);
	rcpt_err("TO:<postmasterx>", false, SMTP_ADDR_ERR_RECIPIENT);
	rcpt_err("TO:<@a.example:Postmaster>", false, SMTP_ADDR_ERR_RECIPIENT);
	rcpt_err("TO:u@c.example", false, SMTP_ADDR_ERR_RECIPIENT);
	rcpt_err("FROM:<u@c.example>", false, SMTP_ADDR_ERR_RCPT_SYNTAX);
	rcpt_err("TO<u@c.example>", false, SMTP_ADDR_ERR_RCPT_SYNTAX);
	rcpt_err("", false, SMTP_ADDR_ERR_RCPT_SYNTAX);
	rcpt_err("TO:<u@c.example> SIZE=1", false, SMTP_ADDR_ERR_PARAM_UNKNOWN);
}

static void
test_rcpt_utf8_and_length(void **state)
{
	struct smtp_rcpt_args r;
	char arg[400], local[100];

	(void)state;
	rcpt_err("TO:<\xc3\xa9@b.example>", false,
	         SMTP_ADDR_ERR_RECIPIENT_UTF8);
	rcpt_err("TO:<e@b\xc3\xa9.example>", false,
	         SMTP_ADDR_ERR_RECIPIENT_UTF8);
	rcpt_ok("TO:<\xc3\xa9@b\xc3\xa9.example>", true, &r);
	assert_true(r.path.has_utf8);
	rcpt_err("TO:<\xc3\xa9\xc3@b.example>", true, SMTP_ADDR_ERR_RECIPIENT);

	memset(local, 'l', 65);
	local[65] = '\0';
	snprintf(arg, sizeof(arg), "TO:<%s@x.example>", local);
	rcpt_err(arg, false, SMTP_ADDR_ERR_RECIPIENT_TOO_LONG);
}

static void
test_rcpt_params(void **state)
{
	struct smtp_rcpt_args r;
	char arg[700], val[600];

	(void)state;
	rcpt_ok("TO:<u@c.example> NOTIFY=NEVER", false, &r);
	assert_int_equal(r.notify, SMTP_NOTIFY_NEVER);
	rcpt_ok("TO:<u@c.example> NOTIFY=SUCCESS,FAILURE", false, &r);
	assert_int_equal(r.notify, SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE);
	rcpt_ok("TO:<u@c.example> notify=delay,success,failure", false, &r);
	assert_int_equal(r.notify, SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE |
	                                   SMTP_NOTIFY_DELAY);
	rcpt_ok("TO:<u@c.example> ORCPT=rfc822;u+40c.example NOTIFY=DELAY",
	        false, &r);
	assert_true(r.has_orcpt);
	assert_string_equal(r.orcpt, "rfc822;u+40c.example");
	assert_int_equal(r.orcpt_type_len, 6);
	assert_int_equal(r.notify, SMTP_NOTIFY_DELAY);
	rcpt_ok("TO:<u@c.example> ORCPT=utf-8;\xc3\xa9@c.example", true, &r);
	assert_string_equal(r.orcpt, "utf-8;\xc3\xa9@c.example");
	rcpt_ok("TO:<u@c.example> ORCPT=UTF-8;u\\x{E9}@c.example", false, &r);

	rcpt_err("TO:<u@c.example> NOTIFY=NEVER,SUCCESS", false,
	         SMTP_ADDR_ERR_PARAM_VALUE);
	rcpt_err("TO:<u@c.example> NOTIFY=SUCCESS,", false,
	         SMTP_ADDR_ERR_PARAM_VALUE);
	rcpt_err("TO:<u@c.example> NOTIFY=,DELAY", false,
	         SMTP_ADDR_ERR_PARAM_VALUE);
	rcpt_err("TO:<u@c.example> NOTIFY=FOO", false,
	         SMTP_ADDR_ERR_PARAM_VALUE);
	rcpt_err("TO:<u@c.example> NOTIFY", false, SMTP_ADDR_ERR_PARAM_SYNTAX);
	rcpt_err("TO:<u@c.example> NOTIFY=NEVER NOTIFY=NEVER", false,
	         SMTP_ADDR_ERR_PARAM_DUPLICATE);
	rcpt_err("TO:<u@c.example> ORCPT=rfc822", false,
	         SMTP_ADDR_ERR_PARAM_VALUE);
	rcpt_err("TO:<u@c.example> ORCPT=;u", false, SMTP_ADDR_ERR_PARAM_VALUE);
	rcpt_err("TO:<u@c.example> ORCPT=rfc822;", false,
	         SMTP_ADDR_ERR_PARAM_VALUE);
	rcpt_err("TO:<u@c.example> ORCPT=rfc822;+zz", false,
	         SMTP_ADDR_ERR_PARAM_VALUE);
	rcpt_err("TO:<u@c.example> ORCPT=rf(c;u", false,
	         SMTP_ADDR_ERR_PARAM_VALUE);
	rcpt_err("TO:<u@c.example> ORCPT=utf-8;\xc3\xa9@c.example", false,
	         SMTP_ADDR_ERR_PARAM_SYNTAX);

	/* ORCPT: 500 characters in all (RFC 3461 4.2). */
	memcpy(val, "rfc822;", 7);
	memset(val + 7, 'o', 493);
	val[500] = '\0';
	snprintf(arg, sizeof(arg), "TO:<u@c.example> ORCPT=%s", val);
	rcpt_ok(arg, false, &r);
	assert_string_equal(r.orcpt, val);
	val[500] = 'o';
	val[501] = '\0';
	snprintf(arg, sizeof(arg), "TO:<u@c.example> ORCPT=%s", val);
	rcpt_err(arg, false, SMTP_ADDR_ERR_PARAM_VALUE);
}

static void
test_addr_replies(void **state)
{
	(void)state;
	assert_string_equal(smtp_addr_error_reply(SMTP_ADDR_ERR_SENDER),
	                    "501 5.1.7 Bad sender address syntax");
	assert_string_equal(smtp_addr_error_reply(SMTP_ADDR_ERR_RECIPIENT),
	                    "501 5.1.3 Bad recipient address syntax");
	assert_string_equal(smtp_addr_error_reply(SMTP_ADDR_ERR_PARAM_UNKNOWN),
	                    "555 5.5.4 Unsupported parameter");
	assert_string_equal(
	        smtp_addr_error_reply(SMTP_ADDR_ERR_PARAM_DUPLICATE),
	        "501 5.5.4 Duplicate parameter");
	assert_true(strncmp(smtp_addr_error_reply(SMTP_ADDR_ERR_SENDER_UTF8),
	                    "553 5.6.7 ", 10) == 0);
	for (int e = SMTP_ADDR_OK; e <= SMTP_ADDR_ERR_PARAM_TOO_MANY; e++) {
		const char *r = smtp_addr_error_reply(e);

		assert_non_null(r);
		assert_true(r[3] == ' ' && r[5] == '.' && r[7] == '.');
		if (e != SMTP_ADDR_OK)
			assert_true(r[0] == '5' && r[4] == '5');
	}
}

/* ---- helpers ---------------------------------------------------------- */

static void
test_xtext(void **state)
{
	char out[16];
	size_t n;

	(void)state;
	assert_true(smtp_xtext_is_valid("", 0));
	assert_true(smtp_xtext_is_valid("abc+2Bdef", 9));
	assert_true(smtp_xtext_is_valid("<>", 2));
	assert_false(smtp_xtext_is_valid("a+2", 3));
	assert_false(smtp_xtext_is_valid("a+", 2));
	assert_false(smtp_xtext_is_valid("+2b", 3));
	assert_false(smtp_xtext_is_valid("a b", 3));
	assert_false(smtp_xtext_is_valid("a=b", 3));
	assert_false(smtp_xtext_is_valid("a\xc3\xa9", 3));

	assert_int_equal(smtp_xtext_decode("a+2Bb", 5, out, sizeof(out), &n),
	                 0);
	assert_int_equal(n, 3);
	assert_string_equal(out, "a+b");
	assert_int_equal(smtp_xtext_decode("+00x", 4, out, sizeof(out), &n), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(out, "\0x", 3);
	assert_int_equal(smtp_xtext_decode("+3D+3d", 6, out, sizeof(out), &n),
	                 -1);
	/* dst must hold the result and its NUL. */
	assert_int_equal(smtp_xtext_decode("abcd", 4, out, 4, &n), -1);
	assert_int_equal(smtp_xtext_decode("abc", 3, out, 4, &n), 0);
	assert_int_equal(smtp_xtext_decode("", 0, out, 1, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(smtp_xtext_decode("", 0, out, 0, &n), -1);
}

static void
test_domains(void **state)
{
	(void)state;
	assert_true(smtp_domain_is_valid("a.b", 3, 0));
	assert_false(smtp_domain_is_valid("a_b", 3, 0));
	assert_true(
	        smtp_domain_is_valid("a_b", 3, SMTP_DOMAIN_ALLOW_UNDERSCORE));
	assert_false(smtp_domain_is_valid("\xc3\xa9", 2, 0));
	assert_true(
	        smtp_domain_is_valid("\xc3\xa9", 2, SMTP_DOMAIN_ALLOW_UTF8));
	assert_false(smtp_domain_is_valid("\xc3", 1, SMTP_DOMAIN_ALLOW_UTF8));
	assert_false(smtp_domain_is_valid("", 0, 0));
	assert_false(smtp_domain_is_valid("a-", 2, 0));
	assert_true(smtp_domain_is_valid("a-b", 3, 0));
	assert_true(smtp_domain_is_valid("a--b", 4, 0));
	assert_true(smtp_addr_literal_is_valid("[1.2.3.4]", 9));
	assert_true(smtp_addr_literal_is_valid("[001.002.003.004]", 17));
	assert_false(smtp_addr_literal_is_valid("[1.2.3.4", 8));
	assert_false(smtp_addr_literal_is_valid("[IPv6:1.2.3.4]", 14));
	assert_true(smtp_addr_literal_is_valid("[IPv6:::]", 9));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_cmd_verbs),
	        cmocka_unit_test(test_cmd_spaces),
	        cmocka_unit_test(test_cmd_arguments),
	        cmocka_unit_test(test_cmd_bad),
	        cmocka_unit_test(test_cmd_length_limit),
	        cmocka_unit_test(test_cmd_replies),
	        cmocka_unit_test(test_helo),
	        cmocka_unit_test(test_bdat),
	        cmocka_unit_test(test_mail_paths),
	        cmocka_unit_test(test_mail_quoted),
	        cmocka_unit_test(test_mail_source_route),
	        cmocka_unit_test(test_mail_bad_paths),
	        cmocka_unit_test(test_mail_lengths),
	        cmocka_unit_test(test_mail_utf8),
	        cmocka_unit_test(test_mail_params),
	        cmocka_unit_test(test_mail_param_errors),
	        cmocka_unit_test(test_rcpt_paths),
	        cmocka_unit_test(test_rcpt_utf8_and_length),
	        cmocka_unit_test(test_rcpt_params),
	        cmocka_unit_test(test_addr_replies),
	        cmocka_unit_test(test_xtext),
	        cmocka_unit_test(test_domains),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
