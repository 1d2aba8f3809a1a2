/*
 * Unit tests for core/buf: the bounded buffer and the line reader every
 * protocol session reads commands with. Each line-reader case is fed
 * whole, byte by byte, and split at every offset (STYLE.md 16).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/xalloc.h"

static void
test_append_respects_max(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 8);
	assert_int_equal(buf_append(&b, "12345", 5), 0);
	assert_int_equal(buf_room(&b), 3);
	assert_int_equal(buf_append(&b, "6789", 4), -1);
	assert_int_equal(buf_len(&b), 5);
	assert_int_equal(buf_append(&b, "678", 3), 0);
	assert_memory_equal(buf_data(&b), "12345678", 8);
	buf_consume(&b, 6);
	assert_int_equal(buf_len(&b), 2);
	/* Consumed space is reusable: compaction keeps the bound. */
	assert_int_equal(buf_append(&b, "abcdef", 6), 0);
	assert_memory_equal(buf_data(&b), "78abcdef", 8);
	assert_true(b.cap <= 8);
	buf_deinit(&b);
}

static void
test_printf(void **state)
{
	struct buf b;
	char big[1000];

	(void)state;
	buf_init(&b, 2048);
	assert_int_equal(buf_printf(&b, "%d-%s", 42, "x"), 0);
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(buf_printf(&b, "%s", big), 0);
	assert_int_equal(buf_len(&b), 4 + 999);
	assert_int_equal(buf_printf(&b, "%s%s", big, big), -1);
	buf_deinit(&b);
}

/* Collects every line (and result) the reader yields for `input` when it
 * arrives in pieces of the given sizes. */
struct lines {
	char text[16][64];
	enum buf_line_result res[16];
	size_t n;
	size_t left; /* unconsumed bytes at the end */
};

static void
read_lines(const char *input, size_t len, size_t split, size_t maxlen,
           enum buf_eol eol, struct lines *out)
{
	struct buf b;
	size_t off = 0;
	bool skipping = false;

	memset(out, 0, sizeof(*out));
	buf_init(&b, 256);
	while (off < len) {
		size_t piece = split == 0 ? len - off : split;

		if (piece > len - off)
			piece = len - off;
		assert_int_equal(buf_append(&b, input + off, piece), 0);
		off += piece;
		for (;;) {
			const char *line;
			size_t n;
			enum buf_line_result r;

			/* The rest of a too-long line may come in later reads:
			 * the reader's user keeps skipping until its LF. */
			if (skipping) {
				if (!buf_skip_line(&b))
					break;
				skipping = false;
			}
			r = buf_get_line(&b, eol, maxlen, &line, &n);

			if (r == BUF_LINE_NEED_MORE)
				break;
			assert_true(out->n < 16);
			out->res[out->n] = r;
			if (r == BUF_LINE_TOO_LONG) {
				strcpy(out->text[out->n++], "<too long>");
				skipping = true;
				continue;
			}
			assert_true(n < 64);
			memcpy(out->text[out->n], line, n);
			out->text[out->n++][n] = '\0';
		}
	}
	out->left = buf_len(&b);
	buf_deinit(&b);
}

static void
check_all_splits(const char *input, size_t maxlen, enum buf_eol eol,
                 const struct lines *want)
{
	size_t len = strlen(input);

	for (size_t split = 0; split <= len; split++) {
		struct lines got;

		read_lines(input, len, split, maxlen, eol, &got);
		assert_int_equal(got.n, want->n);
		for (size_t i = 0; i < want->n; i++) {
			assert_string_equal(got.text[i], want->text[i]);
			assert_int_equal(got.res[i], want->res[i]);
		}
		/* Once a too-long line is skipped the split position decides
		 * how much of the next line is already buffered; the lines
		 * themselves must not differ. */
		if (want->left != (size_t)-1)
			assert_int_equal(got.left, want->left);
	}
}

static void
test_crlf_lines(void **state)
{
	struct lines want = {
	        .text = {"EHLO a", "", "NOOP"},
	        .res = {BUF_LINE_OK, BUF_LINE_OK, BUF_LINE_OK},
	        .n = 3,
	        .left = 4,
	};

	(void)state;
	check_all_splits("EHLO a\r\n\r\nNOOP\r\nQUIT", 512, BUF_EOL_CRLF,
	                 &want);
}

static void
test_bare_lf_reported(void **state)
{
	struct lines want = {
	        .text = {"one", "two", "three\r"},
	        .res = {BUF_LINE_BARE_LF, BUF_LINE_OK, BUF_LINE_OK},
	        .n = 3,
	        .left = 0,
	};
	struct lines lf = {
	        .text = {"one", "two", "three\r"},
	        .res = {BUF_LINE_OK, BUF_LINE_OK, BUF_LINE_OK},
	        .n = 3,
	        .left = 0,
	};

	(void)state;
	check_all_splits("one\ntwo\r\nthree\r\r\n", 512, BUF_EOL_CRLF, &want);
	/* A CR before LF is removed once, under either policy. */
	check_all_splits("one\ntwo\r\nthree\r\r\n", 512, BUF_EOL_LF, &lf);
}

static void
test_too_long_line_skipped(void **state)
{
	/* maxlen counts the terminator: "12345678\r\n" is 10. */
	struct lines want = {
	        .text = {"abc", "<too long>", "12345678", "x"},
	        .res = {BUF_LINE_OK, BUF_LINE_TOO_LONG, BUF_LINE_OK,
	                BUF_LINE_OK},
	        .n = 4,
	        .left = 0,
	};

	(void)state;
	check_all_splits("abc\r\n0123456789012345678901234567\r\n12345678\r\n"
	                 "x\r\n",
	                 10, BUF_EOL_CRLF, &want);
}

static void
test_line_at_exact_limit(void **state)
{
	struct buf b;
	const char *line;
	size_t n;

	(void)state;
	buf_init(&b, 64);
	assert_int_equal(buf_append(&b, "123456\r\n", 8), 0);
	assert_int_equal(buf_get_line(&b, BUF_EOL_CRLF, 8, &line, &n),
	                 BUF_LINE_OK);
	assert_int_equal(n, 6);
	assert_int_equal(buf_append(&b, "1234567\r\n", 9), 0);
	assert_int_equal(buf_get_line(&b, BUF_EOL_CRLF, 8, &line, &n),
	                 BUF_LINE_TOO_LONG);
	buf_deinit(&b);
}

static void
test_space_commit(void **state)
{
	struct buf b;
	size_t avail;
	char *p;

	(void)state;
	buf_init(&b, 100);
	p = buf_space(&b, 1000, &avail);
	assert_int_equal(avail, 100);
	memcpy(p, "hello", 5);
	buf_commit(&b, 5);
	p = buf_space(&b, 1000, &avail);
	assert_int_equal(avail, 95);
	(void)p;
	buf_consume(&b, 5);
	assert_int_equal(buf_len(&b), 0);
	buf_deinit(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_append_respects_max),
	        cmocka_unit_test(test_printf),
	        cmocka_unit_test(test_crlf_lines),
	        cmocka_unit_test(test_bare_lf_reported),
	        cmocka_unit_test(test_too_long_line_skipped),
	        cmocka_unit_test(test_line_at_exact_limit),
	        cmocka_unit_test(test_space_commit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
