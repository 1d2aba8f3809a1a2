/*
 * Unit tests for store/name.c: Maildir file names, mailbox names and
 * their Maildir++ directories, and the postern-uidlist and
 * postern-keywords formats (golden texts, docs/store.md).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_priv.h"

static void
test_fname_parse(void **state)
{
	struct store_fname fn;
	const char *n1 = "1700000000.M5P7Q1.host,S=120,W=124,U=42:2,FRSac";

	(void)state;
	assert_int_equal(store_fname_parse(n1, &fn), 0);
	assert_int_equal(fn.base_len, strlen(n1) - strlen(":2,FRSac"));
	assert_true(fn.has_uid && fn.has_size && fn.has_vsize && fn.has_info);
	assert_int_equal(fn.uid, 42);
	assert_int_equal(fn.size, 120);
	assert_int_equal(fn.vsize, 124);
	assert_int_equal(fn.flags, STORE_FLAG_FLAGGED | STORE_FLAG_ANSWERED |
	                                   STORE_FLAG_SEEN);
	assert_int_equal(fn.keywords, 0x5);

	/* A plain qmail-style name: nothing but the base. */
	assert_int_equal(store_fname_parse("123.456.host", &fn), 0);
	assert_false(fn.has_uid || fn.has_size || fn.has_info);
	assert_int_equal(fn.base_len, 12);

	/* Bad fields are ignored, not guessed at. */
	assert_int_equal(
	        store_fname_parse("x,U=0,S=-1,W=9x,U=99999999999", &fn), 0);
	assert_false(fn.has_uid || fn.has_size || fn.has_vsize);
	assert_int_equal(store_fname_parse("x,U=7,U=8:2,DPT", &fn), 0);
	assert_int_equal(fn.uid, 7);
	assert_int_equal(fn.flags, STORE_FLAG_DRAFT | STORE_FLAG_PASSED |
	                                   STORE_FLAG_DELETED);
	/* Experimental "1," info carries no flags. */
	assert_int_equal(store_fname_parse("x:1,S", &fn), 0);
	assert_false(fn.has_info);
	assert_int_equal(fn.flags, 0);

	assert_int_equal(store_fname_parse("", &fn), -1);
	assert_int_equal(store_fname_parse(".hidden", &fn), -1);
	assert_int_equal(store_fname_parse(":2,S", &fn), -1);
}

static void
test_fname_format(void **state)
{
	char out[300];

	(void)state;
	assert_int_equal(store_fname_format(out, sizeof(out), "b,U=1", 5, false,
	                                    STORE_FLAGS_ALL, 0x2000001),
	                 0);
	/* Letters in ASCII order, as the Maildir specification asks. */
	assert_string_equal(out, "b,U=1:2,DFPRSTaz");
	assert_int_equal(store_fname_format(out, sizeof(out), "b,U=1", 5, true,
	                                    STORE_FLAG_SEEN, 1),
	                 0);
	assert_string_equal(out, "b,U=1");
	assert_int_equal(
	        store_fname_format(out, sizeof(out), "b", 1, false, 0, 0), 0);
	assert_string_equal(out, "b:2,");
	assert_int_equal(store_fname_format(out, 4, "base", 4, false, 0, 0),
	                 -1);
}

static void
test_fname_new_and_rebase(void **state)
{
	struct store_fname fn;
	char out[300];

	(void)state;
	store_fname_new_base(out, sizeof(out), "mx.example.org", 10, 12, 9);
	assert_int_equal(store_fname_parse(out, &fn), 0);
	assert_int_equal(fn.uid, 9);
	assert_int_equal(fn.size, 10);
	assert_int_equal(fn.vsize, 12);
	assert_non_null(strstr(out, ".mx.example.org,S=10,W=12,U=9"));

	/* A foreign name: S= and W= added, U= replaced, others kept. */
	assert_int_equal(store_fname_rebase(out, sizeof(out),
	                                    "123.x,U=4,Z=1,S=5", 17, 5, 6, 77),
	                 0);
	assert_string_equal(out, "123.x,Z=1,S=5,W=6,U=77");
	assert_int_equal(
	        store_fname_rebase(out, sizeof(out), "123.x:2,S", 5, 5, 6, 1),
	        0);
	assert_string_equal(out, "123.x,S=5,W=6,U=1");
	assert_int_equal(store_fname_rebase(out, 10, "123.x", 5, 5, 6, 1), -1);
}

static void
roundtrip(const char *name, const char *dir)
{
	char norm[STORE_MAILBOX_NAME_MAX + 1], d[STORE_NAME_MAX + 1];
	char back[STORE_MAILBOX_NAME_MAX + 1];
	const char *error = NULL;

	assert_int_equal(
	        store_mbox_name_check(name, norm, sizeof(norm), &error), 0);
	assert_int_equal(store_mbox_name_to_dir(norm, d, sizeof(d)), 0);
	assert_string_equal(d, dir);
	if (dir[0] != '\0') {
		assert_int_equal(store_mbox_dir_to_name(d, back, sizeof(back)),
		                 0);
		assert_string_equal(back, norm);
	}
}

static void
test_mailbox_names(void **state)
{
	char norm[STORE_MAILBOX_NAME_MAX + 1], big[400];
	const char *error = NULL;

	(void)state;
	roundtrip("INBOX", "");
	roundtrip("inbox", "");
	roundtrip("Sent", ".Sent");
	roundtrip("Lists/Work", ".Lists.Work");
	roundtrip("inbox/sub", ".INBOX.sub");
	roundtrip("v1.0", ".v1%2E0");
	roundtrip("100%", ".100%25");
	roundtrip("Ünïcödé/日本", ".Ünïcödé.日本");
	roundtrip("with space", ".with space");

	assert_int_equal(store_mbox_name_check("", norm, sizeof(norm), &error),
	                 -1);
	assert_int_equal(
	        store_mbox_name_check("/a", norm, sizeof(norm), &error), -1);
	assert_int_equal(
	        store_mbox_name_check("a/", norm, sizeof(norm), &error), -1);
	assert_int_equal(
	        store_mbox_name_check("a//b", norm, sizeof(norm), &error), -1);
	assert_int_equal(
	        store_mbox_name_check("a\tb", norm, sizeof(norm), &error), -1);
	/* Overlong and surrogate UTF-8. */
	assert_int_equal(
	        store_mbox_name_check("\xc0\xaf", norm, sizeof(norm), &error),
	        -1);
	assert_int_equal(store_mbox_name_check("\xed\xa0\x80", norm,
	                                       sizeof(norm), &error),
	                 -1);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(store_mbox_name_check(big, norm, sizeof(norm), &error),
	                 -1);

	/* Only canonical directories are mailboxes. */
	assert_int_equal(store_mbox_dir_to_name(".", norm, sizeof(norm)), -1);
	assert_int_equal(store_mbox_dir_to_name("..", norm, sizeof(norm)), -1);
	assert_int_equal(store_mbox_dir_to_name(".a..b", norm, sizeof(norm)),
	                 -1);
	assert_int_equal(store_mbox_dir_to_name(".%41", norm, sizeof(norm)),
	                 -1);
	assert_int_equal(store_mbox_dir_to_name(".a%2e", norm, sizeof(norm)),
	                 -1);
	assert_int_equal(store_mbox_dir_to_name(".INBOX", norm, sizeof(norm)),
	                 -1);
	assert_int_equal(store_mbox_dir_to_name(".inbox.x", norm, sizeof(norm)),
	                 -1);
	assert_int_equal(store_mbox_dir_to_name("tmp", norm, sizeof(norm)), -1);

	assert_int_equal(store_mbox_special_use("Sent"), STORE_MBOX_SENT);
	assert_int_equal(store_mbox_special_use("Junk"), STORE_MBOX_JUNK);
	assert_int_equal(store_mbox_special_use("sent"), 0);
}

static void
test_uidlist(void **state)
{
	struct store_uidlist ul = {0};
	char out[80];

	(void)state;
	assert_int_equal(store_uidlist_parse("1 1700000000 1001\n", 18, &ul),
	                 0);
	assert_int_equal(ul.uidvalidity, 1700000000);
	assert_int_equal(ul.uid_limit, 1001);
	assert_int_equal(ul.modseq_limit, 1);
	assert_int_equal(store_uidlist_parse("1 5 1001 20001\n", 15, &ul), 0);
	assert_int_equal(ul.modseq_limit, 20001);
	store_uidlist_format(out, sizeof(out), &ul);
	assert_string_equal(out, "1 5 1001 20001\n");

	assert_int_equal(store_uidlist_parse("2 5 1001\n", 9, &ul), -1);
	assert_int_equal(store_uidlist_parse("1 0 1001\n", 9, &ul), -1);
	assert_int_equal(store_uidlist_parse("1 5 1001", 8, &ul), -1);
	assert_int_equal(store_uidlist_parse("1 5 1001\n\n", 10, &ul), -1);
	assert_int_equal(store_uidlist_parse("1 5 1001 2 3\n", 13, &ul), -1);
	assert_int_equal(store_uidlist_parse("1  5 1001\n", 10, &ul), -1);
	assert_int_equal(store_uidlist_parse("1 5 4294967296\n", 15, &ul), -1);
}

static void
test_keywords(void **state)
{
	static const char file[] = "postern-keywords 1\na $Forwarded\nb Work\n";
	char *names[STORE_KEYWORDS_MAX] = {0};
	char *text;
	int n;

	(void)state;
	n = store_keywords_parse_file(file, strlen(file), names);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "$Forwarded");
	assert_string_equal(names[1], "Work");
	text = store_keywords_format_file(names, 2);
	assert_string_equal(text, file);
	free(text);
	text = store_keywords_format_list(names, 2);
	assert_string_equal(text, "$Forwarded Work");
	free(names[0]);
	free(names[1]);
	n = store_keywords_parse_list(text, names);
	free(text);
	assert_int_equal(n, 2);
	free(names[0]);
	free(names[1]);
	assert_int_equal(store_keywords_parse_list("", names), 0);

	/* Out of order, duplicate (any case), bad name, no magic. */
	assert_int_equal(store_keywords_parse_file("postern-keywords 1\nb x\n",
	                                           23, names),
	                 -1);
	assert_int_equal(store_keywords_parse_file(
	                         "postern-keywords 1\na x\nb X\n", 27, names),
	                 -1);
	assert_int_equal(store_keywords_parse_file("postern-keywords 1\na (x\n",
	                                           24, names),
	                 -1);
	assert_int_equal(store_keywords_parse_file("a x\n", 4, names), -1);
	assert_int_equal(store_keywords_parse_list("a  b", names), -1);

	assert_true(store_keyword_valid("$Junk"));
	assert_false(store_keyword_valid("\\Seen"));
	assert_false(store_keyword_valid("a b"));
	assert_false(store_keyword_valid(""));
	assert_false(store_keyword_valid("caf\xc3\xa9"));
}

static void
test_crlf_size(void **state)
{
	(void)state;
	assert_int_equal(store_crlf_size("", 0), 0);
	assert_int_equal(store_crlf_size("\n", 1), 2);
	assert_int_equal(store_crlf_size("a\r\nb\nc", 6), 7);
	assert_int_equal(store_crlf_size("\r\r\n\n", 4), 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_fname_parse),
	        cmocka_unit_test(test_fname_format),
	        cmocka_unit_test(test_fname_new_and_rebase),
	        cmocka_unit_test(test_mailbox_names),
	        cmocka_unit_test(test_uidlist),
	        cmocka_unit_test(test_keywords),
	        cmocka_unit_test(test_crlf_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
