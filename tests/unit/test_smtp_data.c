/*
 * test_smtp_data — the DATA automaton (smtp/data.c).
 *
 * Every case is fed whole, byte by byte, split in two at every offset, and
 * through output buffers of 2 and 3 bytes that the test drains as the
 * session would; all must give the same output, the same end position and
 * the same measurements (STYLE.md 16).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "smtp/data.h"

#define BIG_OUT (1u << 22)

/* What one complete feeding produced. */
struct run {
	bool done;
	size_t consumed; /* total input consumed */
	char *out;
	size_t out_len;
	struct smtp_data d;
};

static void
run_free(struct run *r)
{
	free(r->out);
	r->out = NULL;
}

static void
drain(struct buf *out, struct run *r)
{
	size_t n = buf_len(out);

	if (n == 0)
		return;
	r->out = realloc(r->out, r->out_len + n + 1);
	assert_non_null(r->out);
	memcpy(r->out + r->out_len, buf_data(out), n);
	r->out_len += n;
	r->out[r->out_len] = '\0';
	buf_consume(out, n);
}

/*
 * Feeds `in` in pieces: the piece lengths come from `cuts` (ncuts offsets,
 * increasing, each 0 < cut < len), through an output buffer of out_max
 * bytes drained after every call. Each piece is a fresh exact-size heap
 * copy, so ASan sees any read past it.
 */
static void
feed(const char *in, size_t len, const size_t *cuts, size_t ncuts,
     size_t out_max, uint64_t max_size, unsigned max_hops, struct run *r)
{
	struct buf out;
	size_t start = 0;

	memset(r, 0, sizeof(*r));
	r->out = calloc(1, 1);
	buf_init(&out, out_max);
	smtp_data_init(&r->d, max_size, max_hops);
	for (size_t k = 0; k <= ncuts && !r->done; k++) {
		size_t end = k < ncuts ? cuts[k] : len;
		size_t plen = end - start, off = 0;
		char *piece = malloc(plen ? plen : 1);

		assert_non_null(piece);
		memcpy(piece, in + start, plen);
		while (off < plen || plen == 0) {
			size_t consumed = 99;
			enum smtp_data_result res;

			res = smtp_data_feed(&r->d, piece + off, plen - off,
			                     &consumed, &out);
			assert_true(consumed <= plen - off);
			off += consumed;
			if (res == SMTP_DATA_DONE) {
				r->done = true;
				break;
			}
			if (off < plen) {
				/* Stopped early: only because out is full. */
				assert_true(buf_room(&out) < 2);
				drain(&out, r);
			}
			if (plen == 0)
				break;
		}
		drain(&out, r);
		free(piece);
		r->consumed = start + off;
		start = end;
	}
	drain(&out, r);
	buf_deinit(&out);
}

static void
assert_same(const struct run *a, const struct run *b)
{
	assert_int_equal(a->done, b->done);
	assert_int_equal(a->consumed, b->consumed);
	assert_int_equal(a->out_len, b->out_len);
	assert_memory_equal(a->out, b->out, a->out_len);
	assert_int_equal(a->d.size, b->d.size);
	assert_int_equal(a->d.longest_line, b->d.longest_line);
	assert_int_equal(a->d.hops, b->d.hops);
	assert_int_equal(a->d.too_big, b->d.too_big);
	assert_int_equal(a->d.too_many_hops, b->d.too_many_hops);
	assert_int_equal(a->d.bare_lf_cr, b->d.bare_lf_cr);
	assert_int_equal(a->d.has_nul, b->d.has_nul);
	assert_int_equal(a->d.has_8bit, b->d.has_8bit);
	assert_int_equal(a->d.in_header, b->d.in_header);
}

/*
 * Runs `in` every way and checks each against the whole feed; returns the
 * whole feed's result in *r (free with run_free).
 */
static void
feed_all_ways(const char *in, size_t len, uint64_t max_size, unsigned max_hops,
              struct run *r)
{
	struct run o;
	size_t *cuts = malloc((len ? len : 1) * sizeof(*cuts));

	assert_non_null(cuts);
	feed(in, len, NULL, 0, BIG_OUT, max_size, max_hops, r);

	/* byte by byte */
	for (size_t i = 1; i < len; i++)
		cuts[i - 1] = i;
	feed(in, len, cuts, len > 0 ? len - 1 : 0, BIG_OUT, max_size, max_hops,
	     &o);
	assert_same(r, &o);
	run_free(&o);

	/* split in two at every offset */
	for (size_t i = 1; i < len; i++) {
		feed(in, len, &i, 1, BIG_OUT, max_size, max_hops, &o);
		assert_same(r, &o);
		run_free(&o);
	}

	/* tiny output buffers, whole and byte by byte */
	for (size_t m = 2; m <= 3; m++) {
		feed(in, len, NULL, 0, m, max_size, max_hops, &o);
		assert_same(r, &o);
		run_free(&o);
		feed(in, len, cuts, len > 0 ? len - 1 : 0, m, max_size,
		     max_hops, &o);
		assert_same(r, &o);
		run_free(&o);
	}
	free(cuts);
}

/* Runs a case with no limits; expect_consumed < 0 means "not done". */
static void
check(const char *in, size_t len, const char *expect_out, long expect_consumed,
      bool expect_bare)
{
	struct run r;

	feed_all_ways(in, len, 0, 100, &r);
	if (expect_consumed < 0) {
		assert_false(r.done);
		assert_int_equal(r.consumed, len);
	} else {
		assert_true(r.done);
		assert_int_equal(r.consumed, (size_t)expect_consumed);
	}
	assert_int_equal(r.out_len, strlen(expect_out));
	assert_memory_equal(r.out, expect_out, r.out_len);
	assert_int_equal(r.d.bare_lf_cr, expect_bare);
	if (expect_bare)
		assert_non_null(smtp_data_reply(&r.d));
	run_free(&r);
}

#define CHECK(in, out, consumed, bare)                                         \
	check(in, sizeof(in) - 1, out, consumed, bare)
#define ALL(in) ((long)(sizeof(in) - 1))

static void
test_simple(void **state)
{
	(void)state;
	CHECK("Hello\r\n.\r\n", "Hello\n", ALL("Hello\r\n.\r\n"), false);
	CHECK("Subject: x\r\n\r\nbody\r\nline 2\r\n.\r\n",
	      "Subject: x\n\nbody\nline 2\n",
	      ALL("Subject: x\r\n\r\nbody\r\nline 2\r\n.\r\n"), false);
}

static void
test_empty_message(void **state)
{
	struct run r;

	(void)state;
	/* The start of data counts as following a CRLF. */
	CHECK(".\r\n", "", 3, false);
	CHECK("\r\n.\r\n", "\n", 5, false);
	feed_all_ways(".\r\n", 3, 0, 10, &r);
	assert_int_equal(r.d.size, 0);
	assert_null(smtp_data_reply(&r.d));
	run_free(&r);
}

static void
test_dot_unstuffing(void **state)
{
	(void)state;
	CHECK("a\r\n..\r\n.\r\n", "a\n.\n", ALL("a\r\n..\r\n.\r\n"), false);
	CHECK("..\r\n.\r\n", ".\n", ALL("..\r\n.\r\n"), false);
	CHECK("..foo\r\n.\r\n", ".foo\n", ALL("..foo\r\n.\r\n"), false);
	CHECK("...\r\n.\r\n", "..\n", ALL("...\r\n.\r\n"), false);
	/* A leading dot the client did not stuff is still removed (RFC 5321
	 * 4.5.2). */
	CHECK(".foo\r\n.\r\n", "foo\n", ALL(".foo\r\n.\r\n"), false);
	/* Dots elsewhere are content. */
	CHECK("a.b\r\nx .\r\n.\r\n", "a.b\nx .\n", ALL("a.b\r\nx .\r\n.\r\n"),
	      false);
	CHECK("a\r\n. \r\n.\r\n", "a\n \n", ALL("a\r\n. \r\n.\r\n"), false);
}

static void
test_pipelined_after_end(void **state)
{
	(void)state;
	/* The next command stays unconsumed. */
	CHECK("a\r\n.\r\nQUIT\r\n", "a\n", 6, false);
	CHECK(".\r\nMAIL FROM:<>\r\n", "", 3, false);
	CHECK("x\r\n.\r\n.\r\n", "x\n", 6, false);
}

static void
test_not_ended(void **state)
{
	(void)state;
	CHECK("", "", -1, false);
	CHECK("abc", "abc", -1, false);
	CHECK("abc\r", "abc", -1, false);
	CHECK("abc\r\n", "abc\n", -1, false);
	CHECK("abc\r\n.", "abc\n", -1, false);
	CHECK("abc\r\n.\r", "abc\n", -1, false);
	CHECK(".", "", -1, false);
}

static void
test_smuggling(void **state)
{
	(void)state;
	/* None of these end the data; all are flagged. */
	CHECK("a\n.\nb\r\n.\r\n", "a\n.\nb\n", ALL("a\n.\nb\r\n.\r\n"), true);
	CHECK("a\r\n.\nb\r\n.\r\n", "a\n\nb\n", ALL("a\r\n.\nb\r\n.\r\n"),
	      true);
	CHECK("a\n.\r\nb\r\n.\r\n", "a\n.\nb\n", ALL("a\n.\r\nb\r\n.\r\n"),
	      true);
	CHECK("a\r.\r\nb\r\n.\r\n", "a\r.\nb\n", ALL("a\r.\r\nb\r\n.\r\n"),
	      true);
	CHECK("a\r\n.\rb\r\n.\r\n", "a\n\rb\n", ALL("a\r\n.\rb\r\n.\r\n"),
	      true);
	CHECK("a\r\n.\r.\r\n.\r\n", "a\n\r.\n", ALL("a\r\n.\r.\r\n.\r\n"),
	      true);
	/* Left unfinished: the smuggled marker did not end anything. */
	CHECK("a\n.\n", "a\n.\n", -1, true);
	CHECK("a\r\n.\n", "a\n\n", -1, true);
	CHECK("a\n.\r\n", "a\n.\n", -1, true);
	CHECK("a\r.\r\n", "a\r.\n", -1, true);
	CHECK(".\n", "\n", -1, true);
	CHECK("\n.\r\n", "\n.\n", -1, true);
}

static void
test_bare_cr_lf(void **state)
{
	struct run r;

	(void)state;
	CHECK("a\rb\r\n.\r\n", "a\rb\n", ALL("a\rb\r\n.\r\n"), true);
	CHECK("a\nb\r\n.\r\n", "a\nb\n", ALL("a\nb\r\n.\r\n"), true);
	CHECK("a\r\r\n.\r\n", "a\r\n", ALL("a\r\r\n.\r\n"), true);
	CHECK("a\n\r\n.\r\n", "a\n\n", ALL("a\n\r\n.\r\n"), true);
	CHECK("\r\r\r\n.\r\n", "\r\r\n", ALL("\r\r\r\n.\r\n"), true);
	feed_all_ways("a\nb\r\n.\r\n", 8, 0, 10, &r);
	assert_string_equal(smtp_data_reply(&r.d),
	                    "550 5.5.2 Message refused: bare CR or LF in "
	                    "data, lines must end in CRLF");
	run_free(&r);
}

static void
test_nul_and_8bit(void **state)
{
	static const char nul[] = "a\0b\r\n.\r\n";
	static const char high[] = "caf\xc3\xa9\r\n.\r\n";
	struct run r;

	(void)state;
	feed_all_ways(nul, sizeof(nul) - 1, 0, 10, &r);
	assert_true(r.done);
	assert_true(r.d.has_nul);
	assert_false(r.d.has_8bit);
	assert_int_equal(r.out_len, 4);
	assert_memory_equal(r.out, "a\0b\n", 4);
	run_free(&r);

	feed_all_ways(high, sizeof(high) - 1, 0, 10, &r);
	assert_true(r.d.has_8bit);
	assert_false(r.d.has_nul);
	assert_string_equal(r.out, "caf\xc3\xa9\n");
	run_free(&r);

	CHECK("plain\r\n.\r\n", "plain\n", ALL("plain\r\n.\r\n"), false);
}

static void
test_size(void **state)
{
	static const char msg[] = "12345\r\n..\r\n.\r\n";
	struct run r;

	(void)state;
	/* "12345" CRLF "." CRLF = 10 octets after unstuffing. */
	feed_all_ways(msg, sizeof(msg) - 1, 0, 10, &r);
	assert_int_equal(r.d.size, 10);
	assert_false(r.d.too_big);
	run_free(&r);

	feed_all_ways(msg, sizeof(msg) - 1, 10, 10, &r);
	assert_false(r.d.too_big);
	assert_string_equal(r.out, "12345\n.\n");
	run_free(&r);

	feed_all_ways(msg, sizeof(msg) - 1, 9, 10, &r);
	assert_true(r.d.too_big);
	assert_true(r.done);
	assert_int_equal(r.consumed, sizeof(msg) - 1);
	assert_string_equal(r.out, "12345\n.");
	assert_string_equal(smtp_data_reply(&r.d),
	                    "552 5.3.4 Message size exceeds fixed maximum "
	                    "message size");
	run_free(&r);

	/* Output stops but the end is still found, and what follows is left
	 * alone. */
	feed_all_ways("123456789\r\n.\r\nQUIT\r\n", 20, 3, 10, &r);
	assert_true(r.d.too_big);
	assert_true(r.done);
	assert_int_equal(r.consumed, 14);
	assert_string_equal(r.out, "123");
	assert_int_equal(r.d.size, 11);
	run_free(&r);
}

static void
test_hops(void **state)
{
	static const char msg[] = "Received: a\r\n"
	                          "received: b\r\n"
	                          "\tReceived: folded, not a field\r\n"
	                          "RECEIVED:c\r\n"
	                          "Receive: no\r\n"
	                          "X-Received: no\r\n"
	                          ".Received: stuffed, counts\r\n"
	                          "Subject: x\r\n"
	                          "\r\n"
	                          "Received: in the body\r\n"
	                          ".\r\n";
	struct run r;

	(void)state;
	feed_all_ways(msg, sizeof(msg) - 1, 0, 4, &r);
	assert_int_equal(r.d.hops, 4);
	assert_false(r.d.too_many_hops);
	assert_false(r.d.in_header);
	assert_null(smtp_data_reply(&r.d));
	run_free(&r);

	feed_all_ways(msg, sizeof(msg) - 1, 0, 3, &r);
	assert_int_equal(r.d.hops, 4);
	assert_true(r.d.too_many_hops);
	assert_string_equal(smtp_data_reply(&r.d),
	                    "554 5.4.6 Too many hops, mail loop suspected");
	run_free(&r);

	/* A header line cut short of the colon does not count. */
	feed_all_ways("Received\r\n.\r\n", 13, 0, 0, &r);
	assert_int_equal(r.d.hops, 0);
	run_free(&r);
	feed_all_ways("Received:\r\n.\r\n", 14, 0, 0, &r);
	assert_int_equal(r.d.hops, 1);
	assert_true(r.d.too_many_hops);
	run_free(&r);
}

static void
test_longest_line(void **state)
{
	static const char msg[] = "abc\r\n..2345\r\n\r\nxy\r\n.\r\n";
	struct run r;

	(void)state;
	feed_all_ways(msg, sizeof(msg) - 1, 0, 10, &r);
	assert_int_equal(r.d.longest_line, 5);
	run_free(&r);
}

static void
test_done_is_sticky(void **state)
{
	struct smtp_data d;
	struct buf out;
	size_t consumed;

	(void)state;
	buf_init(&out, 64);
	smtp_data_init(&d, 0, 10);
	assert_int_equal(
	        smtp_data_feed(&d, "x\r\n.\r\nNOOP", 10, &consumed, &out),
	        SMTP_DATA_DONE);
	assert_int_equal(consumed, 6);
	assert_int_equal(smtp_data_feed(&d, "NOOP", 4, &consumed, &out),
	                 SMTP_DATA_DONE);
	assert_int_equal(consumed, 0);
	assert_int_equal(buf_len(&out), 2);
	buf_deinit(&out);
}

static void
test_out_full(void **state)
{
	struct smtp_data d;
	struct buf out;
	size_t consumed;

	(void)state;
	/* No room at all: nothing is consumed. */
	buf_init(&out, 4);
	assert_int_equal(buf_append(&out, "abcd", 4), 0);
	smtp_data_init(&d, 0, 10);
	assert_int_equal(smtp_data_feed(&d, "xy\r\n.\r\n", 7, &consumed, &out),
	                 SMTP_DATA_NEED_MORE);
	assert_int_equal(consumed, 0);
	/* Room for two: "xy" goes, then the CR is held back (no output),
	 * the LF needs room. */
	buf_clear(&out);
	assert_int_equal(buf_append(&out, "ab", 2), 0);
	assert_int_equal(smtp_data_feed(&d, "xy\r\n.\r\n", 7, &consumed, &out),
	                 SMTP_DATA_NEED_MORE);
	assert_int_equal(consumed, 3);
	assert_memory_equal(buf_data(&out), "abxy", 4);
	buf_clear(&out);
	assert_int_equal(smtp_data_feed(&d, "\n.\r\n", 4, &consumed, &out),
	                 SMTP_DATA_DONE);
	assert_int_equal(consumed, 4);
	assert_int_equal(buf_len(&out), 1);
	buf_deinit(&out);
}

static void
test_large(void **state)
{
	size_t lines = 3000, len = 0;
	char *msg = malloc(lines * 80 + 16), *expect = malloc(lines * 80 + 16);
	size_t elen = 0;
	struct run r, o;
	size_t cuts[3];

	(void)state;
	assert_non_null(msg);
	assert_non_null(expect);
	for (size_t i = 0; i < lines; i++) {
		int n = snprintf(msg + len, 80, "%s%zu line of text\r\n",
		                 i % 7 == 0 ? ".." : "", i);

		len += (size_t)n;
		n = snprintf(expect + elen, 80, "%s%zu line of text\n",
		             i % 7 == 0 ? "." : "", i);
		elen += (size_t)n;
	}
	memcpy(msg + len, ".\r\n", 3);
	len += 3;
	feed(msg, len, NULL, 0, BIG_OUT, 0, 10, &r);
	assert_true(r.done);
	assert_int_equal(r.consumed, len);
	assert_int_equal(r.out_len, elen);
	assert_memory_equal(r.out, expect, elen);
	/* A few odd splits and small output buffers. */
	cuts[0] = 1;
	cuts[1] = len / 3;
	cuts[2] = len - 2;
	for (size_t m = 2; m < 4096; m = m * 3 + 1) {
		feed(msg, len, cuts, 3, m, 0, 10, &o);
		assert_same(&r, &o);
		run_free(&o);
	}
	run_free(&r);
	free(msg);
	free(expect);
}

/* Feeds `in` as BDAT chunks cut at `cut` (0: whole) and returns the
 * stored bytes (owned) and the automaton's verdicts. */
static char *
feed_chunked(const char *in, size_t len, size_t cut, struct smtp_data *d,
             size_t *outlen_r)
{
	struct buf out;
	char *r;

	buf_init(&out, 1 << 20);
	smtp_data_init_chunked(d, 0, 3);
	for (size_t off = 0; off < len;) {
		size_t n = cut == 0 || cut > len - off ? len - off : cut;
		size_t used = 0;

		assert_int_equal(smtp_data_feed(d, in + off, n, &used, &out),
		                 SMTP_DATA_NEED_MORE);
		assert_int_equal(used, n);
		off += n;
	}
	smtp_data_finish(d);
	*outlen_r = buf_len(&out);
	r = malloc(buf_len(&out) + 1);
	memcpy(r, buf_len(&out) ? buf_data(&out) : "", buf_len(&out));
	buf_deinit(&out);
	return r;
}

static void
test_chunked(void **state)
{
	/* No dot-stuffing and no end marker in BDAT chunks (RFC 3030 2):
	 * ".\r\n" is an ordinary line, and so is "..". */
	static const char in[] = "Received: a\r\nReceived: b\r\n\r\n"
	                         ".\r\n..x\r\n.\r\nlast";
	static const char want[] =
	        "Received: a\nReceived: b\n\n.\n..x\n.\nlast";
	size_t len = sizeof(in) - 1;

	(void)state;
	for (size_t cut = 0; cut <= len; cut++) {
		struct smtp_data d;
		size_t n;
		char *got = feed_chunked(in, len, cut, &d, &n);

		assert_int_equal(n, sizeof(want) - 1);
		assert_memory_equal(got, want, n);
		assert_int_equal(d.hops, 2);
		assert_false(d.bare_lf_cr);
		free(got);
	}
	/* A CR at the very end of the last chunk is a bare CR. */
	for (size_t cut = 0; cut <= 4; cut++) {
		struct smtp_data d;
		size_t n;
		char *got = feed_chunked("ab\r\r", 4, cut, &d, &n);

		assert_true(d.bare_lf_cr);
		free(got);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_simple),
	        cmocka_unit_test(test_chunked),
	        cmocka_unit_test(test_empty_message),
	        cmocka_unit_test(test_dot_unstuffing),
	        cmocka_unit_test(test_pipelined_after_end),
	        cmocka_unit_test(test_not_ended),
	        cmocka_unit_test(test_smuggling),
	        cmocka_unit_test(test_bare_cr_lf),
	        cmocka_unit_test(test_nul_and_8bit),
	        cmocka_unit_test(test_size),
	        cmocka_unit_test(test_hops),
	        cmocka_unit_test(test_longest_line),
	        cmocka_unit_test(test_done_is_sticky),
	        cmocka_unit_test(test_out_full),
	        cmocka_unit_test(test_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
