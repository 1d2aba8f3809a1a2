/*
 * test_mime — the message parser against a corpus of realistic messages
 * built here, checked against ENVELOPE, BODY and BODYSTRUCTURE strings
 * written by hand from RFC 3501 section 7.4.2 and its grammar (octets and
 * lines counted with every line ending in CRLF). Every message is also
 * fed with CRLF line ends, which must give the same strings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mime/mime.h"

/* Returns an owned copy of `s` with every LF turned into CRLF. */
static char *
to_crlf(const char *s, size_t *len_r)
{
	size_t n = strlen(s), k = 0;
	char *out = malloc(2 * n + 1);

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			out[k++] = '\r';
		out[k++] = s[i];
	}
	out[k] = '\0';
	*len_r = k;
	return out;
}

static void
check_strings(const struct mime_part *root, const char *envelope,
              const char *body, const char *bodystructure)
{
	char *s;

	if (envelope != NULL) {
		s = mime_envelope(root);
		assert_string_equal(s, envelope);
		free(s);
	}
	if (body != NULL) {
		s = mime_bodystructure(root, false);
		assert_string_equal(s, body);
		free(s);
	}
	if (bodystructure != NULL) {
		s = mime_bodystructure(root, true);
		assert_string_equal(s, bodystructure);
		free(s);
	}
}

/* Parses `msg` as stored (LF) and with CRLF line ends; both must give
 * the expected strings (NULL: not checked). */
static void
check_message(const char *msg, const char *envelope, const char *body,
              const char *bodystructure)
{
	struct mime_part *root = mime_parse(msg, strlen(msg), NULL);
	size_t crlf_len;
	char *crlf = to_crlf(msg, &crlf_len);
	struct mime_part *root2 = mime_parse(crlf, crlf_len, NULL);

	check_strings(root, envelope, body, bodystructure);
	check_strings(root2, envelope, body, bodystructure);
	assert_int_equal(mime_crlf_size(msg, strlen(msg)), crlf_len);
	assert_int_equal(mime_crlf_size(crlf, crlf_len), crlf_len);
	assert_int_equal(root->header_size + root->body_size, crlf_len);
	assert_int_equal(root2->header_size + root2->body_size, crlf_len);
	mime_part_free(&root);
	assert_null(root);
	mime_part_free(&root2);
	free(crlf);
}

/* The raw bytes [start, end) of the message, as a C string. */
static char *
span(const struct mime_part *p, size_t start, size_t end)
{
	char *s = malloc(end - start + 1);

	memcpy(s, p->msg + start, end - start);
	s[end - start] = '\0';
	return s;
}

static void
assert_span(const struct mime_part *p, size_t start, size_t end,
            const char *expected)
{
	char *s = span(p, start, end);

	assert_string_equal(s, expected);
	free(s);
}

/* --- the corpus -------------------------------------------------------- */

static const char msg_plain[] = "From: Alice Example <alice@example.org>\n"
                                "To: Bob <bob@example.net>, carol@example.com\n"
                                "Subject: Lunch tomorrow?\n"
                                "Date: Tue, 14 May 2024 10:00:00 +0200\n"
                                "Message-ID: <1234@example.org>\n"
                                "\n"
                                "Hi Bob,\n"
                                "\n"
                                "Shall we meet at noon?\n"
                                "-- \n"
                                "Alice\n";

static const char msg_alternative[] =
        "From: \"Doe, Jane\" <jane@example.com>\n"
        "To: team@example.com\n"
        "Subject: Newsletter\n"
        "Date: Wed, 15 May 2024 08:30:00 +0000\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/alternative; boundary=\"alt-42\"\n"
        "\n"
        "This is a multi-part message in MIME format.\n"
        "--alt-42\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        "Caf=C3=A9 news\n"
        "--alt-42\n"
        "Content-Type: text/html; charset=utf-8\n"
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        "<p>Caf=C3=A9 news</p>\n"
        "--alt-42--\n";

static const char msg_nested[] =
        "From: Bob <bob@example.net>\n"
        "To: Alice <alice@example.org>\n"
        "Subject: Report\n"
        "Date: Thu, 16 May 2024 12:00:00 -0400\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=\"outer\"\n"
        "\n"
        "--outer\n"
        "Content-Type: multipart/related; boundary=\"inner\"\n"
        "\n"
        "--inner\n"
        "Content-Type: text/html; charset=us-ascii\n"
        "\n"
        "<img src=\"cid:logo@x\">\n"
        "--inner\n"
        "Content-Type: image/png\n"
        "Content-Transfer-Encoding: base64\n"
        "Content-ID: <logo@x>\n"
        "Content-Disposition: inline\n"
        "\n"
        "iVBORw0KGgo=\n"
        "--inner--\n"
        "--outer\n"
        "Content-Type: application/pdf; name=\"report.pdf\"\n"
        "Content-Transfer-Encoding: base64\n"
        "Content-Disposition: attachment; filename=\"report.pdf\"\n"
        "Content-Description: Quarterly report\n"
        "\n"
        "JVBERi0xLjQK\n"
        "JVBERi0xLjQK\n"
        "--outer--\n";

static const char msg_forward[] =
        "From: Carol <carol@example.com>\n"
        "To: Dave <dave@example.com>\n"
        "Subject: Fwd: Hello\n"
        "Date: Fri, 17 May 2024 09:00:00 +0000\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=\"fwd\"\n"
        "\n"
        "--fwd\n"
        "Content-Type: text/plain\n"
        "\n"
        "See below.\n"
        "--fwd\n"
        "Content-Type: message/rfc822\n"
        "\n"
        "From: Eve <eve@example.org>\n"
        "To: Carol <carol@example.com>\n"
        "Subject: Hello\n"
        "Date: Thu, 16 May 2024 20:00:00 +0000\n"
        "Message-ID: <hello@example.org>\n"
        "\n"
        "Hello Carol!\n"
        "Bye.\n"
        "--fwd--\n";

static const char msg_encoded[] =
        "From: =?UTF-8?B?SsO8cmdlbg==?= <juergen@example.de>\n"
        "To: =?ISO-8859-1?Q?Andr=E9?= Pirard <pirard@example.be>\n"
        "Subject: =?utf-8?q?Caf=C3=A9?= =?utf-8?q?_au_lait?=\n"
        " =?UTF-8?B?IOKCrA==?=\n"
        "Date: Sat, 18 May 2024 07:00:00 +0200\n"
        "\n"
        "body\n";

static const char msg_rfc2231[] = "From: a@example.com\n"
                                  "Subject: file\n"
                                  "Content-Type: multipart/mixed; boundary=b1\n"
                                  "\n"
                                  "--b1\n"
                                  "Content-Type: application/octet-stream;\n"
                                  " name*0*=utf-8''%E2%82%AC%20rates;\n"
                                  " name*1=\".txt\"\n"
                                  "Content-Disposition: attachment;\n"
                                  " filename*1=\".txt\";\n"
                                  " filename*0*=utf-8''%E2%82%AC%20rates\n"
                                  "\n"
                                  "data\n"
                                  "--b1--\n";

static const char msg_8bit[] = "From: x@example.com\n"
                               "Subject: Grüße\n"
                               "MIME-Version: 1.0\n"
                               "Content-Type: text/plain; charset=utf-8\n"
                               "Content-Transfer-Encoding: 8bit\n"
                               "\n"
                               "Grüße aus Köln\n";

static const char msg_unclosed[] = "Subject: unclosed\n"
                                   "Content-Type: multipart/mixed; "
                                   "boundary=\"zz\"\n"
                                   "\n"
                                   "--zz\n"
                                   "Content-Type: text/plain\n"
                                   "\n"
                                   "one\n"
                                   "--zz\n"
                                   "Content-Type: text/plain\n"
                                   "\n"
                                   "two\n";

/* --- tests ------------------------------------------------------------- */

static void
test_plain(void **state)
{
	(void)state;
	check_message(
	        msg_plain,
	        "(\"Tue, 14 May 2024 10:00:00 +0200\" \"Lunch tomorrow?\" "
	        "((\"Alice Example\" NIL \"alice\" \"example.org\")) "
	        "((\"Alice Example\" NIL \"alice\" \"example.org\")) "
	        "((\"Alice Example\" NIL \"alice\" \"example.org\")) "
	        "((\"Bob\" NIL \"bob\" \"example.net\")"
	        "(NIL NIL \"carol\" \"example.com\")) "
	        "NIL NIL NIL \"<1234@example.org>\")",
	        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	        "\"7BIT\" 47 5)",
	        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	        "\"7BIT\" 47 5 NIL NIL NIL NIL)");
}

static void
test_plain_offsets(void **state)
{
	struct mime_part *root = mime_parse(msg_plain, strlen(msg_plain), NULL);

	(void)state;
	assert_int_equal(root->kind, MIME_PART_LEAF);
	assert_int_equal(root->header_start, 0);
	assert_int_equal(root->header_end, root->body_start);
	assert_int_equal(root->body_end, strlen(msg_plain));
	/* HEADER includes the blank line; TEXT is the rest. */
	assert_int_equal(msg_plain[root->header_end - 1], '\n');
	assert_int_equal(msg_plain[root->header_end - 2], '\n');
	assert_span(root, root->body_start, root->body_end,
	            "Hi Bob,\n\nShall we meet at noon?\n-- \nAlice\n");
	/* 5 header lines + the blank line, each one octet longer in CRLF. */
	assert_int_equal(root->header_size, root->header_end + 6);
	assert_true(mime_part_find(root, "1") == root);
	assert_null(mime_part_find(root, "2"));
	assert_null(mime_part_find(root, "1.1"));
	assert_null(mime_part_message(root));
	mime_part_free(&root);
}

static void
test_alternative(void **state)
{
	(void)state;
	check_message(
	        msg_alternative,
	        "(\"Wed, 15 May 2024 08:30:00 +0000\" \"Newsletter\" "
	        "((\"Doe, Jane\" NIL \"jane\" \"example.com\")) "
	        "((\"Doe, Jane\" NIL \"jane\" \"example.com\")) "
	        "((\"Doe, Jane\" NIL \"jane\" \"example.com\")) "
	        "((NIL NIL \"team\" \"example.com\")) NIL NIL NIL NIL)",
	        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL "
	        "\"QUOTED-PRINTABLE\" 14 1)"
	        "(\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") NIL NIL "
	        "\"QUOTED-PRINTABLE\" 21 1) \"ALTERNATIVE\")",
	        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL "
	        "\"QUOTED-PRINTABLE\" 14 1 NIL NIL NIL NIL)"
	        "(\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") NIL NIL "
	        "\"QUOTED-PRINTABLE\" 21 1 NIL NIL NIL NIL) \"ALTERNATIVE\" "
	        "(\"BOUNDARY\" \"alt-42\") NIL NIL NIL)");
}

static void
test_nested(void **state)
{
	(void)state;
	check_message(
	        msg_nested,
	        "(\"Thu, 16 May 2024 12:00:00 -0400\" \"Report\" "
	        "((\"Bob\" NIL \"bob\" \"example.net\")) "
	        "((\"Bob\" NIL \"bob\" \"example.net\")) "
	        "((\"Bob\" NIL \"bob\" \"example.net\")) "
	        "((\"Alice\" NIL \"alice\" \"example.org\")) NIL NIL NIL NIL)",
	        "(((\"TEXT\" \"HTML\" (\"CHARSET\" \"us-ascii\") NIL NIL "
	        "\"7BIT\" 22 1)"
	        "(\"IMAGE\" \"PNG\" NIL \"<logo@x>\" NIL \"BASE64\" 12) "
	        "\"RELATED\")"
	        "(\"APPLICATION\" \"PDF\" (\"NAME\" \"report.pdf\") NIL "
	        "\"Quarterly report\" \"BASE64\" 26) \"MIXED\")",
	        "(((\"TEXT\" \"HTML\" (\"CHARSET\" \"us-ascii\") NIL NIL "
	        "\"7BIT\" 22 1 NIL NIL NIL NIL)"
	        "(\"IMAGE\" \"PNG\" NIL \"<logo@x>\" NIL \"BASE64\" 12 NIL "
	        "(\"INLINE\" NIL) NIL NIL) \"RELATED\" "
	        "(\"BOUNDARY\" \"inner\") NIL NIL NIL)"
	        "(\"APPLICATION\" \"PDF\" (\"NAME\" \"report.pdf\") NIL "
	        "\"Quarterly report\" \"BASE64\" 26 NIL "
	        "(\"ATTACHMENT\" (\"FILENAME\" \"report.pdf\")) NIL NIL) "
	        "\"MIXED\" (\"BOUNDARY\" \"outer\") NIL NIL NIL)");
}

static void
test_nested_sections(void **state)
{
	static const char png_mime[] = "Content-Type: image/png\n"
	                               "Content-Transfer-Encoding: base64\n"
	                               "Content-ID: <logo@x>\n"
	                               "Content-Disposition: inline\n"
	                               "\n";
	struct mime_part *root =
	        mime_parse(msg_nested, strlen(msg_nested), NULL);
	const struct mime_part *p;
	char *s;

	(void)state;
	assert_int_equal(root->kind, MIME_PART_MULTIPART);
	assert_int_equal(root->child_count, 2);

	p = mime_part_find(root, "1");
	assert_non_null(p);
	assert_string_equal(p->subtype, "RELATED");
	assert_int_equal(p->depth, 1);

	p = mime_part_find(root, "1.2");
	assert_non_null(p);
	assert_string_equal(p->type, "IMAGE");
	assert_int_equal(p->depth, 2);
	/* BODY[1.2] and BODY[1.2.MIME] */
	assert_span(p, p->body_start, p->body_end, "iVBORw0KGgo=");
	assert_span(p, p->header_start, p->header_end, png_mime);
	/* Five lines, each one octet longer with CRLF. */
	assert_int_equal(p->header_size, strlen(png_mime) + 5);
	assert_string_equal(p->disposition, "INLINE");
	assert_string_equal(p->id, "<logo@x>");

	p = mime_part_find(root, "1.1");
	assert_non_null(p);
	assert_span(p, p->body_start, p->body_end, "<img src=\"cid:logo@x\">");

	p = mime_part_find(root, "2");
	assert_non_null(p);
	assert_span(p, p->body_start, p->body_end,
	            "JVBERi0xLjQK\nJVBERi0xLjQK");
	assert_int_equal(p->body_size, 26);
	assert_int_equal(p->body_lines, 2);
	s = mime_part_filename(p);
	assert_string_equal(s, "report.pdf");
	free(s);
	assert_string_equal(mime_part_param(p, "name"), "report.pdf");
	assert_null(mime_part_param(p, "charset"));

	assert_null(mime_part_find(root, "3"));
	assert_null(mime_part_find(root, "1.3"));
	assert_null(mime_part_find(root, "2.1"));
	assert_null(mime_part_find(root, "1.1.1"));
	assert_null(mime_part_find(root, "0"));
	assert_null(mime_part_find(root, "01"));
	assert_null(mime_part_find(root, "1."));
	assert_null(mime_part_find(root, ".1"));
	assert_null(mime_part_find(root, "1..2"));
	assert_null(mime_part_find(root, ""));
	assert_null(mime_part_find(root, "1.x"));
	assert_null(mime_part_find(root, "99999999999999999999"));
	assert_null(mime_part_message(mime_part_find(root, "2")));
	mime_part_free(&root);
}

static void
test_forward(void **state)
{
	(void)state;
	check_message(
	        msg_forward,
	        "(\"Fri, 17 May 2024 09:00:00 +0000\" \"Fwd: Hello\" "
	        "((\"Carol\" NIL \"carol\" \"example.com\")) "
	        "((\"Carol\" NIL \"carol\" \"example.com\")) "
	        "((\"Carol\" NIL \"carol\" \"example.com\")) "
	        "((\"Dave\" NIL \"dave\" \"example.com\")) NIL NIL NIL NIL)",
	        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	        "\"7BIT\" 10 1)"
	        "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 168 "
	        "(\"Thu, 16 May 2024 20:00:00 +0000\" \"Hello\" "
	        "((\"Eve\" NIL \"eve\" \"example.org\")) "
	        "((\"Eve\" NIL \"eve\" \"example.org\")) "
	        "((\"Eve\" NIL \"eve\" \"example.org\")) "
	        "((\"Carol\" NIL \"carol\" \"example.com\")) NIL NIL NIL "
	        "\"<hello@example.org>\") "
	        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	        "\"7BIT\" 18 2) 8) \"MIXED\")",
	        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	        "\"7BIT\" 10 1 NIL NIL NIL NIL)"
	        "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 168 "
	        "(\"Thu, 16 May 2024 20:00:00 +0000\" \"Hello\" "
	        "((\"Eve\" NIL \"eve\" \"example.org\")) "
	        "((\"Eve\" NIL \"eve\" \"example.org\")) "
	        "((\"Eve\" NIL \"eve\" \"example.org\")) "
	        "((\"Carol\" NIL \"carol\" \"example.com\")) NIL NIL NIL "
	        "\"<hello@example.org>\") "
	        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	        "\"7BIT\" 18 2 NIL NIL NIL NIL) 8 NIL NIL NIL NIL) \"MIXED\" "
	        "(\"BOUNDARY\" \"fwd\") NIL NIL NIL)");
}

static void
test_forward_sections(void **state)
{
	struct mime_part *root =
	        mime_parse(msg_forward, strlen(msg_forward), NULL);
	const struct mime_part *part2, *inner, *p;
	char *s;

	(void)state;
	part2 = mime_part_find(root, "2");
	assert_non_null(part2);
	assert_int_equal(part2->kind, MIME_PART_MESSAGE);
	inner = mime_part_message(part2);
	assert_non_null(inner);
	assert_true(inner == part2->children);
	/* BODY[2] is the whole encapsulated message; BODY[2.HEADER] its
	 * header, BODY[2.TEXT] its body. */
	assert_int_equal(inner->header_start, part2->body_start);
	assert_int_equal(inner->body_end, part2->body_end);
	assert_int_equal(inner->header_size, 150);
	assert_span(inner, inner->body_start, inner->body_end,
	            "Hello Carol!\nBye.");
	/* The encapsulated message is not multipart: its only part is 1. */
	p = mime_part_find(root, "2.1");
	assert_true(p == inner);
	assert_null(mime_part_find(root, "2.2"));
	assert_null(mime_part_find(root, "2.1.1"));
	s = mime_header_get(inner, "subject");
	assert_string_equal(s, "Hello");
	free(s);
	s = mime_envelope(inner);
	assert_string_equal(
	        s, "(\"Thu, 16 May 2024 20:00:00 +0000\" \"Hello\" "
	           "((\"Eve\" NIL \"eve\" \"example.org\")) "
	           "((\"Eve\" NIL \"eve\" \"example.org\")) "
	           "((\"Eve\" NIL \"eve\" \"example.org\")) "
	           "((\"Carol\" NIL \"carol\" \"example.com\")) NIL NIL NIL "
	           "\"<hello@example.org>\")");
	free(s);
	/* Part 2's own header is its MIME header. */
	s = mime_header_get(part2, "Content-Type");
	assert_string_equal(s, "message/rfc822");
	free(s);
	assert_null(mime_header_get(part2, "Subject"));
	mime_part_free(&root);
}

static void
test_top_level_rfc822(void **state)
{
	static const char msg[] = "Subject: outer\n"
	                          "Content-Type: message/rfc822\n"
	                          "\n"
	                          "Subject: inner\n"
	                          "Content-Type: multipart/mixed; boundary=x\n"
	                          "\n"
	                          "--x\n"
	                          "\n"
	                          "a\n"
	                          "--x\n"
	                          "\n"
	                          "b\n"
	                          "--x--\n";
	struct mime_part *root = mime_parse(msg, strlen(msg), NULL);
	const struct mime_part *p;

	(void)state;
	/* Part 1 of a message/rfc822 message is its body, the whole
	 * encapsulated message; 1.N are the encapsulated parts. */
	assert_true(mime_part_find(root, "1") == root);
	p = mime_part_find(root, "1.2");
	assert_non_null(p);
	assert_span(p, p->body_start, p->body_end, "b");
	assert_true(mime_part_message(root) == root->children);
	/* The inner parts have no header: the RFC 2045 default applies. */
	check_message(
	        msg, NULL, NULL,
	        "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 88 "
	        "(NIL \"inner\" NIL NIL NIL NIL NIL NIL NIL NIL) "
	        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	        "\"7BIT\" 1 1 NIL NIL NIL NIL)"
	        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	        "\"7BIT\" 1 1 NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"x\") "
	        "NIL NIL NIL) 10 NIL NIL NIL NIL)");
	mime_part_free(&root);
}

static void
test_encoded_words(void **state)
{
	struct mime_part *root =
	        mime_parse(msg_encoded, strlen(msg_encoded), NULL);
	struct mime_field f;
	char *s;

	(void)state;
	/* ENVELOPE carries the raw text, folding removed. */
	check_message(msg_encoded,
	              "(\"Sat, 18 May 2024 07:00:00 +0200\" "
	              "\"=?utf-8?q?Caf=C3=A9?= =?utf-8?q?_au_lait?= "
	              "=?UTF-8?B?IOKCrA==?=\" "
	              "((\"=?UTF-8?B?SsO8cmdlbg==?=\" NIL \"juergen\" "
	              "\"example.de\")) "
	              "((\"=?UTF-8?B?SsO8cmdlbg==?=\" NIL \"juergen\" "
	              "\"example.de\")) "
	              "((\"=?UTF-8?B?SsO8cmdlbg==?=\" NIL \"juergen\" "
	              "\"example.de\")) "
	              "((\"=?ISO-8859-1?Q?Andr=E9?= Pirard\" NIL \"pirard\" "
	              "\"example.be\")) NIL NIL NIL NIL)",
	              NULL, NULL);
	/* Search and display get UTF-8; the three words are adjacent. */
	s = mime_header_get_decoded(root, "Subject");
	assert_string_equal(s, "Café au lait €");
	free(s);
	assert_true(mime_header_find(root, "From", &f));
	s = mime_rfc2047_decode(f.value, f.value_len);
	assert_string_equal(s, "Jürgen <juergen@example.de>");
	free(s);
	s = mime_header_get_decoded(root, "to");
	assert_string_equal(s, "André Pirard <pirard@example.be>");
	free(s);
	mime_part_free(&root);
}

static void
test_rfc2047_cases(void **state)
{
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
	        {"plain text", "plain text"},
	        {"  padded \t", "padded"},
	        /* A character split across two words survives. */
	        {"=?utf-8?Q?=C3?= =?utf-8?Q?=A9?=", "é"},
	        {"=?utf-8?B?w6k=?=", "é"},
	        /* Only white space between words is dropped. */
	        {"Re: =?utf-8?q?a?= b =?utf-8?q?c?=", "Re: a b c"},
	        {"=?utf-8?q?a?=\n =?utf-8?q?b?=", "ab"},
	        {"=?iso-8859-1?q?=E9t=E9?=", "été"},
	        {"=?windows-1252?q?=80?=", "€"},
	        {"=?iso-8859-15?q?=A4?=", "€"},
	        {"=?utf-8*en?q?lang?=", "lang"},
	        /* Different charsets next to each other. */
	        {"=?iso-8859-1?q?=E9?= =?utf-8?q?=C3=A9?=", "éé"},
	        /* Unknown charset: left as it is (RFC 2047 6.1). */
	        {"=?x-unknown?q?abc?=", "=?x-unknown?q?abc?="},
	        /* Malformed words are text. */
	        {"=?utf-8?x?abc?=", "=?utf-8?x?abc?="},
	        {"=?utf-8?q?abc", "=?utf-8?q?abc"},
	        {"=??q?abc?=", "=??q?abc?="},
	        {"a=?utf-8?q?b?=c", "abc"},
	        /* Invalid UTF-8 becomes U+FFFD; CR/LF/NUL become spaces. */
	        {"=?utf-8?q?=FF?=", "\xef\xbf\xbd"},
	        {"raw \xc3 byte", "raw \xef\xbf\xbd byte"},
	        {"=?utf-8?q?a=0Db=0Ac=00d?=", "a b c d"},
	        {"=?utf-8?b?!!!?=", ""},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = mime_rfc2047_decode(cases[i].in, strlen(cases[i].in));

		assert_string_equal(s, cases[i].out);
		free(s);
	}
}

static void
test_rfc2231(void **state)
{
	struct mime_part *root =
	        mime_parse(msg_rfc2231, strlen(msg_rfc2231), NULL);
	const struct mime_part *p;
	char *s;

	(void)state;
	check_message(msg_rfc2231, NULL,
	              "((\"APPLICATION\" \"OCTET-STREAM\" "
	              "(\"NAME*\" \"utf-8''%E2%82%AC%20rates.txt\") NIL NIL "
	              "\"7BIT\" 4) \"MIXED\")",
	              "((\"APPLICATION\" \"OCTET-STREAM\" "
	              "(\"NAME*\" \"utf-8''%E2%82%AC%20rates.txt\") NIL NIL "
	              "\"7BIT\" 4 NIL (\"ATTACHMENT\" "
	              "(\"FILENAME*\" \"utf-8''%E2%82%AC%20rates.txt\")) NIL "
	              "NIL) \"MIXED\" (\"BOUNDARY\" \"b1\") NIL NIL NIL)");
	p = mime_part_find(root, "1");
	assert_non_null(p);
	s = mime_part_filename(p);
	assert_string_equal(s, "€ rates.txt");
	free(s);
	mime_part_free(&root);
}

/* The BODYSTRUCTURE of a one-part message whose header is `header`. */
static void
check_one_part(const char *header, const char *expected)
{
	char *msg = malloc(strlen(header) + 8);
	struct mime_part *root;
	char *s;

	strcpy(msg, header);
	strcat(msg, "\nx\n");
	root = mime_parse(msg, strlen(msg), NULL);
	s = mime_bodystructure(root, true);
	assert_string_equal(s, expected);
	free(s);
	mime_part_free(&root);
	free(msg);
}

static void
test_params(void **state)
{
	(void)state;
	/* Plain continuations, out of order, joined (RFC 9051 7.5.2). */
	check_one_part("Content-Type: text/plain; title*1=\"c\";"
	               " title*0=\"a b\"; charset=\"us-ascii\"\n",
	               "(\"TEXT\" \"PLAIN\" (\"TITLE\" \"a bc\" \"CHARSET\" "
	               "\"us-ascii\") NIL NIL \"7BIT\" 3 1 NIL NIL NIL NIL)");
	/* Extended without continuation; case-insensitive names. */
	check_one_part("Content-Type: Application/X-Thing;"
	               " NAME*=iso-8859-1'en'%E9t%E9.txt\n",
	               "(\"APPLICATION\" \"X-THING\" "
	               "(\"NAME*\" \"iso-8859-1'en'%E9t%E9.txt\") NIL NIL "
	               "\"7BIT\" 3 NIL NIL NIL NIL)");
	/* Comments and white space between tokens (RFC 2045 5.1), an
	 * unquoted value with a '/', a missing ';', a valueless
	 * attribute. */
	check_one_part("Content-Type: (c) text / plain (x) ; charset = utf-8"
	               " (comment) format=flowed name=a/b.txt; junk; q=\"\"\n",
	               "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\" \"FORMAT\" "
	               "\"flowed\" \"NAME\" \"a/b.txt\" \"Q\" \"\") NIL NIL "
	               "\"7BIT\" 3 1 NIL NIL NIL NIL)");
	/* Quoting and escaping in parameter values; an 8-bit file name
	 * goes out as a literal. */
	check_one_part("Content-Type: image/gif; name=\"a \\\"q\\\" \\\\ b\"\n"
	               "Content-Disposition: attachment; "
	               "filename=\"na\xc3\xafve.txt\"\n",
	               "(\"IMAGE\" \"GIF\" (\"NAME\" \"a \\\"q\\\" \\\\ b\") "
	               "NIL NIL \"7BIT\" 3 NIL (\"ATTACHMENT\" (\"FILENAME\" "
	               "{10}\r\nna\xc3\xafve.txt)) NIL NIL)");
	/* Extension fields: MD5, language list, location; description and
	 * id kept raw. */
	check_one_part(
	        "Content-Type: text/html; charset=utf-8\n"
	        "Content-Transfer-Encoding: Base64\n"
	        "Content-ID: <a@b>\n"
	        "Content-Description: =?utf-8?q?d=C3=A9?=\n"
	        "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n"
	        "Content-Language: en, de (German)\n"
	        "Content-Location: http://example.com/x\n"
	        "Content-Disposition: inline; filename=x.html\n",
	        "(\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") \"<a@b>\" "
	        "\"=?utf-8?q?d=C3=A9?=\" \"BASE64\" 3 1 "
	        "\"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"INLINE\" (\"FILENAME\" "
	        "\"x.html\")) (\"en\" \"de\") \"http://example.com/x\")");
	/* Invalid Content-Type: RFC 2045 5.2 default. */
	check_one_part("Content-Type: text\n",
	               "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	               "\"7BIT\" 3 1 NIL NIL NIL NIL)");
	check_one_part("Content-Type: /plain\n",
	               "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	               "\"7BIT\" 3 1 NIL NIL NIL NIL)");
	/* Empty Content-Transfer-Encoding: default 7BIT. */
	check_one_part("Content-Transfer-Encoding:\n",
	               "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	               "\"7BIT\" 3 1 NIL NIL NIL NIL)");
	/* Repeated fields: the first counts. */
	check_one_part("Content-Type: text/x-a\nContent-Type: text/x-b\n",
	               "(\"TEXT\" \"X-A\" NIL NIL NIL \"7BIT\" 3 1 NIL NIL NIL "
	               "NIL)");
}

static void
test_8bit(void **state)
{
	(void)state;
	check_message(msg_8bit,
	              "(NIL {7}\r\nGr\xc3\xbc\xc3\x9f"
	              "e "
	              "((NIL NIL \"x\" \"example.com\")) "
	              "((NIL NIL \"x\" \"example.com\")) "
	              "((NIL NIL \"x\" \"example.com\")) NIL NIL NIL NIL NIL)",
	              "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL "
	              "\"8BIT\" 19 1)",
	              NULL);
}

static void
test_missing_headers(void **state)
{
	(void)state;
	/* No Date, no From: NIL, and Sender/Reply-To have nothing to
	 * copy. */
	check_message("Subject: x\n\nbody\n",
	              "(NIL \"x\" NIL NIL NIL NIL NIL NIL NIL NIL)",
	              "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	              "\"7BIT\" 6 1)",
	              NULL);
	/* No header at all. */
	check_message("\nbody\n", "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
	              NULL, NULL);
	/* Not even a blank line: the first line is not header syntax, so
	 * the whole message is body. */
	check_message("just text\n",
	              "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
	              "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	              "\"7BIT\" 11 1)",
	              NULL);
	/* Empty message. */
	check_message("", "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
	              "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	              "\"7BIT\" 0 0)",
	              NULL);
	/* Header without a body; empty Subject is "", not NIL; empty
	 * Reply-To falls back to From; Sender is kept. */
	check_message(
	        "From: a@b\nSender: s@b\nReply-To:\nSubject:\n",
	        "(NIL \"\" ((NIL NIL \"a\" \"b\")) ((NIL NIL \"s\" \"b\")) "
	        "((NIL NIL \"a\" \"b\")) NIL NIL NIL NIL NIL)",
	        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	        "\"7BIT\" 0 0)",
	        NULL);
	/* A last line without a line break still counts as a line. */
	check_message("Subject: x\n\nno newline", NULL,
	              "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	              "\"7BIT\" 10 1)",
	              NULL);
}

static void
test_addresses(void **state)
{
	(void)state;
	check_message(
	        "From: joe@example.com (Joe Q. Public)\n"
	        "Sender: <@relay1.example,@relay2.example:joe@example.com>\n"
	        "Reply-To: \"Joe \\\"JQ\\\" Public\" <joe@example.com>\n"
	        "To: undisclosed-recipients:;\n"
	        "Cc: Friends: a@x.example, B <b@y.example>;, c@z.example\n"
	        "Bcc: \"john doe\"@example.com, root, Mary Smith "
	        "<mary@[192.0.2.1]>\n"
	        "In-Reply-To: <parent@example.com>\n"
	        "Message-ID:\n <child@example.com>\n"
	        "Subject: He said \"hi\" \\o/\n"
	        "Date: Mon, 20 May 2024 00:00:00 +0000\n"
	        "\n",
	        "(\"Mon, 20 May 2024 00:00:00 +0000\" "
	        "\"He said \\\"hi\\\" \\\\o/\" "
	        "((\"Joe Q. Public\" NIL \"joe\" \"example.com\")) "
	        "((NIL \"@relay1.example,@relay2.example\" \"joe\" "
	        "\"example.com\")) "
	        "((\"Joe \\\"JQ\\\" Public\" NIL \"joe\" \"example.com\")) "
	        "((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) "
	        "((NIL NIL \"Friends\" NIL)(NIL NIL \"a\" \"x.example\")"
	        "(\"B\" NIL \"b\" \"y.example\")(NIL NIL NIL NIL)"
	        "(NIL NIL \"c\" \"z.example\")) "
	        "((NIL NIL \"john doe\" \"example.com\")"
	        "(NIL NIL \"root\" \".MISSING-HOST-NAME.\")"
	        "(\"Mary Smith\" NIL \"mary\" \"[192.0.2.1]\")) "
	        "\"<parent@example.com>\" \"<child@example.com>\")",
	        NULL, NULL);
}

static void
test_address_edge_cases(void **state)
{
	static const struct {
		const char *in;
		const char *env_from;
	} cases[] = {
	        {"", "NIL"},
	        {" , ,", "NIL"},
	        {"<>", "NIL"},
	        {"(only a comment)", "NIL"},
	        {"\"Name\" <>",
	         "((\"Name\" NIL \"\" \".MISSING-HOST-NAME.\"))"},
	        {"a@", "((NIL NIL \"a\" \".MISSING-HOST-NAME.\"))"},
	        {"Group: ;", "((NIL NIL \"Group\" NIL)(NIL NIL NIL NIL))"},
	        /* An unterminated group still ends. */
	        {"G: a@b", "((NIL NIL \"G\" NIL)(NIL NIL \"a\" \"b\")"
	                   "(NIL NIL NIL NIL))"},
	        {"x <y@z", "((\"x\" NIL \"y\" \"z\"))"},
	        {"\"unterminated <a@b>",
	         "((NIL NIL \"unterminated <a@b>\" \".MISSING-HOST-NAME.\"))"},
	        {"=?utf-8?q?J=C3=BCrgen?= <j@x>",
	         "((\"=?utf-8?q?J=C3=BCrgen?=\" NIL \"j\" \"x\"))"},
	        {"J\xc3\xbcrgen <j@x>",
	         "(({7}\r\nJ\xc3\xbcrgen NIL \"j\" \"x\"))"},
	        {"a@b, c@d", "((NIL NIL \"a\" \"b\")(NIL NIL \"c\" \"d\"))"},
	        {"<a@b> (x)", "((\"x\" NIL \"a\" \"b\"))"},
	        {"a . b @ c . d", "((NIL NIL \"a.b\" \"c.d\"))"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char msg[256], expected[512];

		snprintf(msg, sizeof(msg), "From: %s\n\n", cases[i].in);
		snprintf(expected, sizeof(expected),
		         "(NIL NIL %s %s %s NIL NIL NIL NIL NIL)",
		         cases[i].env_from, cases[i].env_from,
		         cases[i].env_from);
		check_message(msg, expected, NULL, NULL);
	}
}

static void
test_header_fields(void **state)
{
	static const char msg[] = "Received: from a\n"
	                          "\tby b; Mon, 20 May 2024\n"
	                          "X-Spaced : value\n"
	                          "subject: folded\n"
	                          "  twice\n"
	                          "\t and thrice\n"
	                          "Received: from c\n"
	                          "\n"
	                          "Not: a header\n";
	struct mime_part *root = mime_parse(msg, strlen(msg), NULL);
	struct mime_field f;
	size_t iter = 0, n = 0;
	char *s;

	(void)state;
	while (mime_header_next(root, &iter, &f))
		n++;
	assert_int_equal(n, 4);
	assert_false(mime_header_next(root, &iter, &f));

	assert_true(mime_header_find(root, "RECEIVED", &f));
	assert_int_equal(f.start, 0);
	assert_span(root, f.start, f.end,
	            "Received: from a\n\tby b; Mon, 20 May 2024\n");
	s = mime_header_get(root, "received");
	assert_string_equal(s, "from a\tby b; Mon, 20 May 2024");
	free(s);
	s = mime_header_get(root, "x-spaced");
	assert_string_equal(s, "value");
	free(s);
	s = mime_header_get(root, "Subject");
	assert_string_equal(s, "folded  twice\t and thrice");
	free(s);
	assert_null(mime_header_get(root, "Not"));
	assert_null(mime_header_get(root, "Subj"));
	assert_span(root, root->body_start, root->body_end, "Not: a header\n");
	mime_part_free(&root);
}

static void
test_broken_boundaries(void **state)
{
	static const char nope[] =
	        "Content-Type: multipart/mixed; boundary=nope\n\njust text\n";
	struct mime_part *root;

	(void)state;
	/* No close delimiter: the last part runs to the end. */
	check_message(msg_unclosed, NULL, NULL,
	              "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	              "\"7BIT\" 3 1 NIL NIL NIL NIL)"
	              "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	              "\"7BIT\" 5 1 NIL NIL NIL NIL) \"MIXED\" "
	              "(\"BOUNDARY\" \"zz\") NIL NIL NIL)");
	root = mime_parse(msg_unclosed, strlen(msg_unclosed), NULL);
	assert_true((root->flags & MIME_PART_F_UNCLOSED) != 0);
	mime_part_free(&root);

	/* No boundary parameter: an unusable Content-Type, so text/plain. */
	check_message("Content-Type: multipart/mixed\n\nhello\n", NULL, NULL,
	              "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	              "\"7BIT\" 7 1 NIL NIL NIL NIL)");
	check_message("Content-Type: multipart/mixed; boundary=\"\"\n\nhi\n",
	              NULL, NULL,
	              "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	              "\"7BIT\" 4 1 NIL NIL NIL NIL)");

	/* A boundary that never appears: one made-up part with the whole
	 * body. */
	check_message(nope, NULL, NULL,
	              "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	              "\"7BIT\" 11 1 NIL NIL NIL NIL) \"MIXED\" "
	              "(\"BOUNDARY\" \"nope\") NIL NIL NIL)");
	root = mime_parse(nope, strlen(nope), NULL);
	assert_int_equal(root->child_count, 1);
	assert_true((root->children->flags & MIME_PART_F_SYNTHETIC) != 0);
	assert_true(mime_part_find(root, "1") == root->children);
	mime_part_free(&root);

	/* An inner multipart left open ends at the outer delimiter; the
	 * inner boundary "ab" starts with the outer "a" and is still told
	 * apart. */
	check_message(
	        "Content-Type: multipart/mixed; boundary=\"a\"\n"
	        "\n"
	        "--a\n"
	        "Content-Type: multipart/alternative; boundary=\"ab\"\n"
	        "\n"
	        "--ab\n"
	        "Content-Type: text/plain\n"
	        "\n"
	        "inner\n"
	        "--a\n"
	        "Content-Type: text/plain\n"
	        "\n"
	        "after\n"
	        "--a--\n"
	        "epilogue\n",
	        NULL, NULL,
	        "(((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	        "\"7BIT\" 5 1 NIL NIL NIL NIL) \"ALTERNATIVE\" "
	        "(\"BOUNDARY\" \"ab\") NIL NIL NIL)"
	        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	        "\"7BIT\" 5 1 NIL NIL NIL NIL) \"MIXED\" "
	        "(\"BOUNDARY\" \"a\") NIL NIL NIL)");

	/* A part header cut short by a delimiter; an empty part; transport
	 * padding after a delimiter. */
	check_message("Content-Type: multipart/mixed; boundary=q\n"
	              "\n"
	              "--q  \n"
	              "Content-Type: text/x-cut\n"
	              "--q\n"
	              "--q\n"
	              "\n"
	              "last\n"
	              "--q--  \n",
	              NULL, NULL,
	              "((\"TEXT\" \"X-CUT\" NIL NIL NIL \"7BIT\" 0 0 NIL NIL "
	              "NIL NIL)"
	              "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	              "\"7BIT\" 0 0 NIL NIL NIL NIL)"
	              "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	              "\"7BIT\" 4 1 NIL NIL NIL NIL) \"MIXED\" "
	              "(\"BOUNDARY\" \"q\") NIL NIL NIL)");
}

static void
test_digest(void **state)
{
	(void)state;
	/* RFC 2046 5.1.5: in a digest, parts default to message/rfc822. */
	check_message("Content-Type: multipart/digest; boundary=d\n"
	              "\n"
	              "--d\n"
	              "\n"
	              "Subject: one\n"
	              "\n"
	              "1\n"
	              "--d--\n",
	              NULL, NULL,
	              "((\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 17 "
	              "(NIL \"one\" NIL NIL NIL NIL NIL NIL NIL NIL) "
	              "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	              "\"7BIT\" 1 1 NIL NIL NIL NIL) 3 NIL NIL NIL NIL) "
	              "\"DIGEST\" (\"BOUNDARY\" \"d\") NIL NIL NIL)");
}

/* Builds `depth` nested multiparts around one text part. */
static char *
build_nested(unsigned int depth)
{
	size_t cap = (size_t)depth * 80 + 200, n = 0;
	char *s = malloc(cap);

	for (unsigned int i = 0; i < depth; i++)
		n += (size_t)snprintf(s + n, cap - n,
		                      "Content-Type: multipart/mixed; "
		                      "boundary=b%u\n\n--b%u\n",
		                      i, i);
	n += (size_t)snprintf(s + n, cap - n, "\nleaf\n");
	for (unsigned int i = depth; i-- > 0;)
		n += (size_t)snprintf(s + n, cap - n, "--b%u--\n", i);
	return s;
}

static void
test_depth_limit(void **state)
{
	char *msg = build_nested(100);
	struct mime_part *root = mime_parse(msg, strlen(msg), NULL);
	const struct mime_part *p = root;
	unsigned int levels = 0;
	char *s;

	(void)state;
	while (p->kind == MIME_PART_MULTIPART) {
		levels++;
		p = p->children;
	}
	assert_int_equal(levels, 64);
	assert_int_equal(p->depth, 64);
	assert_string_equal(p->type, "APPLICATION");
	assert_true((p->flags & MIME_PART_F_LIMITED) != 0);
	s = mime_bodystructure(root, true);
	assert_non_null(s);
	free(s);
	mime_part_free(&root);

	/* Below the limit the leaf is reached. */
	free(msg);
	msg = build_nested(10);
	root = mime_parse(msg, strlen(msg), NULL);
	p = mime_part_find(root, "1.1.1.1.1.1.1.1.1.1");
	assert_non_null(p);
	assert_span(p, p->body_start, p->body_end, "leaf");
	mime_part_free(&root);
	free(msg);
}

static void
test_part_limit(void **state)
{
	static const char msg[] = "Content-Type: multipart/mixed; boundary=p\n"
	                          "\n"
	                          "--p\n\none\n"
	                          "--p\n\ntwo\n"
	                          "--p\n\nthree\n"
	                          "--p--\n";
	struct mime_limits lim = mime_limits_default;
	struct mime_part *root;

	(void)state;
	lim.max_parts = 3;
	root = mime_parse(msg, strlen(msg), &lim);
	assert_int_equal(root->child_count, 2);
	assert_true((root->flags & MIME_PART_F_LIMITED) != 0);
	assert_null(mime_part_find(root, "3"));
	mime_part_free(&root);

	/* A container that would have no room for parts stays opaque. */
	lim.max_parts = 1;
	root = mime_parse(msg, strlen(msg), &lim);
	assert_int_equal(root->kind, MIME_PART_LEAF);
	assert_string_equal(root->type, "APPLICATION");
	mime_part_free(&root);

	lim.max_depth = 0;
	lim.max_parts = 100;
	root = mime_parse(msg, strlen(msg), &lim);
	assert_int_equal(root->kind, MIME_PART_LEAF);
	mime_part_free(&root);
}

static void
test_crlf_sizes(void **state)
{
	static const char *const corpus[] = {
	        msg_plain,   msg_alternative, msg_nested, msg_forward,
	        msg_encoded, msg_rfc2231,     msg_8bit,   msg_unclosed,
	};

	(void)state;
	for (size_t i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++) {
		size_t crlf_len;
		char *crlf = to_crlf(corpus[i], &crlf_len);
		struct mime_part *a =
		        mime_parse(corpus[i], strlen(corpus[i]), NULL);
		struct mime_part *b = mime_parse(crlf, crlf_len, NULL);
		const struct mime_part *pa = a, *pb = b;

		/* Walk both trees in the same order; every size and count
		 * must agree, and every body of the CRLF copy must be
		 * exactly its reported size. */
		while (pa != NULL && pb != NULL) {
			assert_int_equal(pa->header_size, pb->header_size);
			assert_int_equal(pa->body_size, pb->body_size);
			assert_int_equal(pa->body_lines, pb->body_lines);
			assert_int_equal(pa->kind, pb->kind);
			assert_int_equal(pb->body_end - pb->body_start,
			                 pb->body_size);
			assert_int_equal(pb->header_end - pb->header_start,
			                 pb->header_size);
			assert_int_equal(
			        mime_crlf_size(pa->msg + pa->body_start,
			                       pa->body_end - pa->body_start),
			        pa->body_size);
			if (pa->children != NULL) {
				pa = pa->children;
				pb = pb->children;
				continue;
			}
			while (pa != NULL && pa->next == NULL) {
				pa = pa->parent;
				pb = pb->parent;
			}
			if (pa != NULL) {
				pa = pa->next;
				pb = pb->next;
			}
		}
		assert_null(pa);
		assert_null(pb);
		mime_part_free(&a);
		mime_part_free(&b);
		free(crlf);
	}
}

/* Every prefix of every corpus message, as a stored message cut short
 * would be, parses; under the sanitizers this also shows no read goes
 * past the end. */
static void
test_truncated(void **state)
{
	static const char *const corpus[] = {
	        msg_plain,   msg_alternative, msg_nested, msg_forward,
	        msg_encoded, msg_rfc2231,     msg_8bit,   msg_unclosed,
	};

	(void)state;
	for (size_t i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++) {
		size_t len = strlen(corpus[i]);

		for (size_t cut = 0; cut <= len; cut++) {
			char *msg = malloc(cut + 1);
			struct mime_part *root;
			char *s;

			memcpy(msg, corpus[i], cut);
			root = mime_parse(msg, cut, NULL);
			assert_int_equal(root->header_size + root->body_size,
			                 mime_crlf_size(msg, cut));
			s = mime_bodystructure(root, true);
			free(s);
			s = mime_envelope(root);
			free(s);
			mime_part_free(&root);
			free(msg);
		}
	}
}

static void
test_charset(void **state)
{
	size_t n;
	char *s;

	(void)state;
	s = mime_charset_to_utf8("ISO-8859-1", "\xe9", 1, &n);
	assert_string_equal(s, "é");
	assert_int_equal(n, 2);
	free(s);
	s = mime_charset_to_utf8("utf-8", "\xed\xa0\x80", 3, &n);
	/* A UTF-16 surrogate is not UTF-8: three replacement characters. */
	assert_int_equal(n, 9);
	free(s);
	s = mime_charset_to_utf8("KOI8-R", "\xc1", 1, &n);
	assert_string_equal(s, "а");
	free(s);
	assert_null(mime_charset_to_utf8("no-such-charset", "x", 1, &n));
	assert_null(mime_charset_to_utf8("utf-8//TRANSLIT", "x", 1, &n));
	assert_null(mime_charset_to_utf8("", "x", 1, &n));
}

static void
test_null_and_free(void **state)
{
	struct mime_part *root = mime_parse(NULL, 0, NULL);

	(void)state;
	assert_non_null(root);
	assert_int_equal(root->body_size, 0);
	mime_part_free(&root);
	mime_part_free(&root);
	assert_null(root);
	assert_int_equal(mime_crlf_size(NULL, 0), 0);
	assert_int_equal(mime_crlf_size("a\nb\r\n\n", 6), 8);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_plain),
	        cmocka_unit_test(test_plain_offsets),
	        cmocka_unit_test(test_alternative),
	        cmocka_unit_test(test_nested),
	        cmocka_unit_test(test_nested_sections),
	        cmocka_unit_test(test_forward),
	        cmocka_unit_test(test_forward_sections),
	        cmocka_unit_test(test_top_level_rfc822),
	        cmocka_unit_test(test_encoded_words),
	        cmocka_unit_test(test_rfc2047_cases),
	        cmocka_unit_test(test_rfc2231),
	        cmocka_unit_test(test_params),
	        cmocka_unit_test(test_8bit),
	        cmocka_unit_test(test_missing_headers),
	        cmocka_unit_test(test_addresses),
	        cmocka_unit_test(test_address_edge_cases),
	        cmocka_unit_test(test_header_fields),
	        cmocka_unit_test(test_broken_boundaries),
	        cmocka_unit_test(test_digest),
	        cmocka_unit_test(test_depth_limit),
	        cmocka_unit_test(test_part_limit),
	        cmocka_unit_test(test_crlf_sizes),
	        cmocka_unit_test(test_truncated),
	        cmocka_unit_test(test_charset),
	        cmocka_unit_test(test_null_and_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
