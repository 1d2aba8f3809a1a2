/*
 * Unit tests for core/strmap, the string-keyed hash map behind the users
 * file, the aliases file and recipient resolution, and for str_hash:
 * put and get, duplicates, growth across many keys, reserve, the empty
 * key, both key modes, and deinit on NULL, on a zero map and twice.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/str.h"
#include "core/strmap.h"

/* Keys for the growth tests: many, distinct, some sharing long
 * prefixes. */
#define MANY_KEYS 5000

static void
test_hash_fnv1a(void **state)
{
	(void)state;
	/* Published FNV-1a 64-bit test vectors. */
	assert_true(str_hash("", 0) == 0xcbf29ce484222325ULL);
	assert_true(str_hash("a", 1) == 0xaf63dc4c8601ec8cULL);
	assert_true(str_hash("foobar", 6) == 0x85944171f73967e8ULL);
	/* Bytes, not a C string: a NUL counts and does not stop it. */
	assert_true(str_hash("a\0b", 3) != str_hash("a", 1));
}

static void
test_put_get(void **state)
{
	struct strmap map;
	size_t v = 99;

	(void)state;
	strmap_init(&map, STRMAP_KEYS_BORROWED);
	assert_int_equal(strmap_count(&map), 0);
	/* Nothing allocated yet: lookups still answer. */
	assert_false(strmap_get(&map, "alice@example.org", &v));
	assert_int_equal(v, 99);
	assert_int_equal(strmap_put(&map, "alice@example.org", 0, NULL), 0);
	assert_int_equal(strmap_put(&map, "bob@example.org", 7, NULL), 0);
	assert_int_equal(strmap_count(&map), 2);
	assert_true(strmap_get(&map, "alice@example.org", &v));
	assert_int_equal(v, 0);
	assert_true(strmap_get(&map, "bob@example.org", &v));
	assert_int_equal(v, 7);
	/* NULL value_r makes get a membership test. */
	assert_true(strmap_get(&map, "bob@example.org", NULL));
	/* Keys compare byte for byte: case and prefixes matter. */
	assert_false(strmap_get(&map, "Bob@example.org", NULL));
	assert_false(strmap_get(&map, "bob@example.or", NULL));
	assert_false(strmap_get(&map, "bob@example.org.", NULL));
	strmap_deinit(&map);
	assert_int_equal(strmap_count(&map), 0);
	assert_false(strmap_get(&map, "bob@example.org", NULL));
}

static void
test_duplicates(void **state)
{
	struct strmap map;
	size_t existing = 0;
	size_t v = 0;

	(void)state;
	strmap_init(&map, STRMAP_KEYS_BORROWED);
	assert_int_equal(strmap_put(&map, "root", 3, NULL), 0);
	assert_int_equal(strmap_put(&map, "root", 5, &existing), -1);
	/* The first value stays and is reported. */
	assert_int_equal(existing, 3);
	assert_true(strmap_get(&map, "root", &v));
	assert_int_equal(v, 3);
	assert_int_equal(strmap_count(&map), 1);
	/* existing_r may be NULL (a set). */
	assert_int_equal(strmap_put(&map, "root", 6, NULL), -1);
	assert_int_equal(strmap_count(&map), 1);
	strmap_deinit(&map);
}

/* Writes the name of key `i` into buf: long common prefixes, so that
 * keys differ only near their ends. */
static void
key_name(char *buf, size_t bufsz, size_t i)
{
	snprintf(buf, bufsz, "user-with-a-long-common-prefix-%zu@example.org",
	         i);
}

static void
test_growth_borrowed(void **state)
{
	static char keys[MANY_KEYS][64];
	struct strmap map;
	size_t v;

	(void)state;
	strmap_init(&map, STRMAP_KEYS_BORROWED);
	for (size_t i = 0; i < MANY_KEYS; i++) {
		key_name(keys[i], sizeof(keys[i]), i);
		assert_int_equal(strmap_put(&map, keys[i], i, NULL), 0);
		assert_int_equal(strmap_count(&map), i + 1);
		/* At most half full, a power of two. */
		assert_true(map.count * 2 <= map.nslots);
		assert_int_equal(map.nslots & (map.nslots - 1), 0);
	}
	/* Every key survived every doubling. */
	for (size_t i = 0; i < MANY_KEYS; i++) {
		assert_true(strmap_get(&map, keys[i], &v));
		assert_int_equal(v, i);
		assert_int_equal(strmap_put(&map, keys[i], 0, &v), -1);
		assert_int_equal(v, i);
	}
	assert_false(strmap_get(&map,
	                        "user-with-a-long-common-prefix-"
	                        "5000@example.org",
	                        NULL));
	assert_int_equal(strmap_count(&map), MANY_KEYS);
	strmap_deinit(&map);
}

static void
test_growth_copied(void **state)
{
	struct strmap map;
	char buf[64];
	size_t v;

	(void)state;
	strmap_init(&map, STRMAP_KEYS_COPIED);
	/* One buffer for every key: the map must keep its own copies. */
	for (size_t i = 0; i < MANY_KEYS; i++) {
		key_name(buf, sizeof(buf), i);
		assert_int_equal(strmap_put(&map, buf, i * 2, NULL), 0);
	}
	memset(buf, 'x', sizeof(buf) - 1);
	buf[sizeof(buf) - 1] = '\0';
	assert_false(strmap_get(&map, buf, NULL));
	for (size_t i = 0; i < MANY_KEYS; i++) {
		key_name(buf, sizeof(buf), i);
		assert_true(strmap_get(&map, buf, &v));
		assert_int_equal(v, i * 2);
		/* A duplicate is not copied (nothing leaks under ASan). */
		assert_int_equal(strmap_put(&map, buf, 1, NULL), -1);
	}
	assert_int_equal(strmap_count(&map), MANY_KEYS);
	strmap_deinit(&map);
	/* Reusable after deinit, still copying. */
	assert_int_equal(strmap_put(&map, "again", 1, NULL), 0);
	assert_true(strmap_get(&map, "again", NULL));
	strmap_deinit(&map);
}

static void
test_reserve(void **state)
{
	static char keys[MANY_KEYS][64];
	static char more[MANY_KEYS][16];
	struct strmap map;
	size_t nslots;
	size_t v;

	(void)state;
	strmap_init(&map, STRMAP_KEYS_BORROWED);
	assert_int_equal(strmap_put(&map, "first", 0, NULL), 0);
	strmap_reserve(&map, MANY_KEYS + 1);
	nslots = map.nslots;
	assert_true(nslots / 2 >= MANY_KEYS + 1);
	/* A key put before the reserve is still found. */
	assert_true(strmap_get(&map, "first", &v));
	assert_int_equal(v, 0);
	/* No growth up to the reserved count. */
	for (size_t i = 0; i < MANY_KEYS; i++) {
		key_name(keys[i], sizeof(keys[i]), i);
		assert_int_equal(strmap_put(&map, keys[i], i + 1, NULL), 0);
	}
	assert_int_equal(map.nslots, nslots);
	assert_int_equal(strmap_count(&map), MANY_KEYS + 1);
	for (size_t i = 0; i < MANY_KEYS; i++) {
		assert_true(strmap_get(&map, keys[i], &v));
		assert_int_equal(v, i + 1);
	}
	/* Reserving less never shrinks. */
	strmap_reserve(&map, 1);
	assert_int_equal(map.nslots, nslots);
	/* Past the reserved count the map grows as usual. */
	for (size_t i = 0; i < MANY_KEYS; i++) {
		snprintf(more[i], sizeof(more[i]), "more-%zu", i);
		assert_int_equal(strmap_put(&map, more[i], i, NULL), 0);
	}
	assert_true(map.nslots > nslots);
	assert_true(map.count * 2 <= map.nslots);
	assert_true(strmap_get(&map, keys[MANY_KEYS - 1], NULL));
	assert_true(strmap_get(&map, more[MANY_KEYS - 1], &v));
	assert_int_equal(v, MANY_KEYS - 1);
	strmap_deinit(&map);
}

static void
test_empty_key(void **state)
{
	struct strmap map;
	size_t v = 0;

	(void)state;
	strmap_init(&map, STRMAP_KEYS_COPIED);
	assert_false(strmap_get(&map, "", NULL));
	assert_int_equal(strmap_put(&map, "", 42, NULL), 0);
	assert_true(strmap_get(&map, "", &v));
	assert_int_equal(v, 42);
	assert_int_equal(strmap_put(&map, "", 1, &v), -1);
	assert_int_equal(v, 42);
	/* "" is a key like any other, not an empty slot. */
	assert_false(strmap_get(&map, "a", NULL));
	assert_int_equal(strmap_put(&map, "a", 1, NULL), 0);
	assert_int_equal(strmap_count(&map), 2);
	strmap_deinit(&map);
}

static void
test_deinit_null_safe(void **state)
{
	struct strmap zero = {0};
	struct strmap map;

	(void)state;
	strmap_deinit(NULL);
	/* An all-zero map is an empty borrowing map. */
	assert_false(strmap_get(&zero, "x", NULL));
	assert_int_equal(strmap_count(&zero), 0);
	strmap_deinit(&zero);
	assert_int_equal(strmap_put(&zero, "x", 1, NULL), 0);
	assert_true(strmap_get(&zero, "x", NULL));
	strmap_deinit(&zero);
	/* Deinit twice, and deinit of a map that never allocated. */
	strmap_init(&map, STRMAP_KEYS_COPIED);
	strmap_deinit(&map);
	assert_int_equal(strmap_put(&map, "k", 1, NULL), 0);
	strmap_deinit(&map);
	strmap_deinit(&map);
	assert_null(map.slots);
	assert_int_equal(map.nslots, 0);
	assert_int_equal(strmap_count(&map), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_hash_fnv1a),
	        cmocka_unit_test(test_put_get),
	        cmocka_unit_test(test_duplicates),
	        cmocka_unit_test(test_growth_borrowed),
	        cmocka_unit_test(test_growth_copied),
	        cmocka_unit_test(test_reserve),
	        cmocka_unit_test(test_empty_key),
	        cmocka_unit_test(test_deinit_null_safe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
