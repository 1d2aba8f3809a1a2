/*
 * Unit tests for core/domain: the LDH domain check shared by the users
 * file and the aliases file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/domain.h"

static const char *
problem(const char *s)
{
	return domain_problem(s, strlen(s));
}

static void
test_valid(void **state)
{
	char longest[DOMAIN_MAX + 1];

	(void)state;
	assert_null(problem("example.test"));
	assert_null(problem("a-b.c0.Example"));
	assert_null(problem("x"));
	/* 63-octet labels up to 255 octets in all */
	memset(longest, 'a', DOMAIN_MAX);
	for (size_t i = 63; i < DOMAIN_MAX; i += 64)
		longest[i] = '.';
	longest[DOMAIN_MAX] = '\0';
	assert_null(problem(longest));
}

static void
test_invalid(void **state)
{
	char label[70];

	(void)state;
	assert_string_equal(problem(""), "empty domain");
	assert_string_equal(problem("a..b"), "empty label in domain");
	assert_string_equal(problem(".a"), "empty label in domain");
	assert_string_equal(problem("a."), "empty label in domain");
	assert_string_equal(problem("-a.b"), "domain label begins with '-'");
	assert_string_equal(problem("a-.b"), "domain label ends with '-'");
	assert_string_equal(problem("a_b.c"), "invalid character in domain");
	assert_string_equal(problem("\xc3\xa9.fr"),
	                    "invalid character in domain");
	memset(label, 'a', 64);
	label[64] = '\0';
	assert_string_equal(problem(label),
	                    "domain label longer than 63 octets");
	{
		char big[DOMAIN_MAX + 2];

		memset(big, 'a', sizeof(big) - 1);
		for (size_t i = 50; i < sizeof(big) - 1; i += 51)
			big[i] = '.';
		big[sizeof(big) - 1] = '\0';
		assert_string_equal(problem(big),
		                    "domain longer than 255 octets");
	}
	assert_false(domain_is_ldh('_'));
	assert_true(domain_is_ldh('-'));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_valid),
	        cmocka_unit_test(test_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
