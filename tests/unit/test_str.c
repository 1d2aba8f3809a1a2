/*
 * Unit tests for core/str: the bounded number parser every parser uses,
 * case-insensitive comparisons and the copy helper.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/str.h"

static int
parse(const char *s, uint64_t max, uint64_t *v)
{
	return str_parse_u64(s, strlen(s), max, v);
}

static void
test_parse_u64(void **state)
{
	uint64_t v = 7;

	(void)state;
	assert_int_equal(parse("0", 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse("18446744073709551615", UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
	/* overflow, over the maximum, anything but digits */
	assert_int_equal(parse("18446744073709551616", UINT64_MAX, &v), -1);
	assert_int_equal(parse("11", 10, &v), -1);
	assert_int_equal(parse("", 10, &v), -1);
	assert_int_equal(parse("-1", 10, &v), -1);
	assert_int_equal(parse("+1", 10, &v), -1);
	assert_int_equal(parse(" 1", 10, &v), -1);
	assert_int_equal(parse("1x", 10, &v), -1);
	/* only the given length is read */
	assert_int_equal(str_parse_u64("123456", 3, 1000, &v), 0);
	assert_int_equal(v, 123);
}

static void
test_compare(void **state)
{
	(void)state;
	assert_true(str_eq_ci("HeLo", 4, "helo"));
	assert_false(str_eq_ci("HELO", 3, "helo"));
	assert_true(str_eq_ci_n("UTF-8", 5, "utf-8", 5));
	assert_false(str_eq_ci_n("utf-8", 5, "utf-16", 6));
	assert_false(str_eq_ci_n("a[", 2, "A{", 2)); /* only letters fold */
	assert_true(str_has_prefix_ci("Received: x", 11, "received:"));
	assert_false(str_has_prefix_ci("Rec", 3, "received:"));
}

static void
test_copy_and_lower(void **state)
{
	char small[4], s[] = "MiXeD.Example";

	(void)state;
	assert_true(str_copy(small, sizeof(small), "abc"));
	assert_false(str_copy(small, sizeof(small), "abcd"));
	assert_string_equal(small, "abc");
	str_lower(s);
	assert_string_equal(s, "mixed.example");
}

static void
test_hex_value(void **state)
{
	(void)state;
	assert_int_equal(str_hex_value('0'), 0);
	assert_int_equal(str_hex_value('9'), 9);
	assert_int_equal(str_hex_value('A'), 10);
	assert_int_equal(str_hex_value('f'), 15);
	assert_int_equal(str_hex_value('g'), -1);
	assert_int_equal(str_hex_value('G'), -1);
	assert_int_equal(str_hex_value('/'), -1); /* '0' - 1 */
	assert_int_equal(str_hex_value('@'), -1); /* 'A' - 1 */
	assert_int_equal(str_hex_value('\0'), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parse_u64),
	        cmocka_unit_test(test_compare),
	        cmocka_unit_test(test_copy_and_lower),
	        cmocka_unit_test(test_hex_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
