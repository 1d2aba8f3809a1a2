/*
 * fuzz_smtp_data — the DATA automaton (smtp/data.c).
 *
 * Input: 3 header bytes, then wire data. Byte 0 picks the size limit (0:
 * none, else that many octets), byte 1 the hop limit, byte 2 the size of
 * the output buffer (2..257) and seeds the split pattern.
 *
 * Invariants checked (abort on failure):
 *  - feeding the data whole into a large buffer, and in pseudo-random
 *    pieces into the small buffer (draining it as the session would), give
 *    the same output, end position and measurements;
 *  - a DONE feed ends on CRLF "." CRLF (or "." CRLF at the very start);
 *  - the output never exceeds the size limit;
 *  - with no bare CR/LF and no overflow, dot-stuffing the output again and
 *    turning LF back into CRLF, then feeding that, gives the same output.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "smtp/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

struct result {
	bool done;
	size_t consumed;
	struct buf all; /* everything drained from the output buffer */
	struct smtp_data d;
};

static void
drain(struct buf *out, struct result *r)
{
	/* buf_data() of a buffer that never held anything is NULL + 0. */
	if (buf_len(out) == 0)
		return;
	CHECK(buf_append(&r->all, buf_data(out), buf_len(out)) == 0);
	buf_clear(out);
}

/* Feeds `in` in pieces whose lengths come from a small generator seeded by
 * `seed` (0: one piece), through an output buffer of out_max bytes. */
static void
run(const char *in, size_t len, uint64_t max_size, unsigned max_hops,
    size_t out_max, unsigned seed, struct result *r)
{
	struct buf out;
	size_t off = 0;
	unsigned state = seed;

	memset(r, 0, sizeof(*r));
	buf_init(&r->all, len + 1);
	buf_init(&out, out_max);
	smtp_data_init(&r->d, max_size, max_hops);
	while (!r->done) {
		size_t piece = len - off, consumed;
		enum smtp_data_result res;

		if (seed != 0 && piece > 0) {
			state = state * 1103515245u + 12345u;
			piece = 1 + (state >> 16) % (piece < 17 ? piece : 17);
		}
		res = smtp_data_feed(&r->d, in + off, piece, &consumed, &out);
		CHECK(consumed <= piece);
		off += consumed;
		if (res == SMTP_DATA_DONE)
			r->done = true;
		else if (consumed < piece)
			CHECK(buf_room(&out) < 2);
		drain(&out, r);
		if (off == len && !r->done)
			break;
	}
	r->consumed = off;
	buf_deinit(&out);
}

/* Equal contents; either buffer may never have been allocated. */
static bool
same_bytes(const struct buf *a, const struct buf *b)
{
	return buf_len(a) == buf_len(b) &&
	       (buf_len(a) == 0 ||
	        memcmp(buf_data(a), buf_data(b), buf_len(a)) == 0);
}

static void
check_same(const struct result *a, const struct result *b)
{
	CHECK(a->done == b->done);
	CHECK(a->consumed == b->consumed);
	CHECK(same_bytes(&a->all, &b->all));
	CHECK(a->d.size == b->d.size);
	CHECK(a->d.longest_line == b->d.longest_line);
	CHECK(a->d.hops == b->d.hops);
	CHECK(a->d.too_big == b->d.too_big);
	CHECK(a->d.too_many_hops == b->d.too_many_hops);
	CHECK(a->d.bare_lf_cr == b->d.bare_lf_cr);
	CHECK(a->d.has_nul == b->d.has_nul);
	CHECK(a->d.has_8bit == b->d.has_8bit);
}

/* Wire form of LF-terminated output: CRLF line ends, leading dots doubled,
 * end marker appended. Returns an owned buffer. */
static char *
restuff(const char *msg, size_t len, size_t *len_r)
{
	char *w = malloc(2 * len + 3);
	size_t n = 0;
	bool line_start = true;

	CHECK(w != NULL);
	for (size_t i = 0; i < len; i++) {
		if (line_start && msg[i] == '.')
			w[n++] = '.';
		line_start = msg[i] == '\n';
		if (msg[i] == '\n')
			w[n++] = '\r';
		w[n++] = msg[i];
	}
	memcpy(w + n, ".\r\n", 3);
	*len_r = n + 3;
	return w;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct result whole, split, again;
	const char *in;
	uint64_t max_size;
	unsigned max_hops, seed;
	size_t len, out_max;

	if (size < 3)
		return 0;
	max_size = data[0];
	max_hops = data[1] % 8;
	out_max = 2 + data[2];
	seed = 1 + data[2];
	in = (const char *)data + 3;
	len = size - 3;

	run(in, len, max_size, max_hops, len * 2 + 16, 0, &whole);
	run(in, len, max_size, max_hops, out_max, seed, &split);
	check_same(&whole, &split);
	buf_deinit(&split.all);

	if (whole.done) {
		size_t c = whole.consumed;

		CHECK(c >= 3 && memcmp(in + c - 3, ".\r\n", 3) == 0);
		CHECK(c == 3 || (c >= 5 && memcmp(in + c - 5, "\r\n", 2) == 0));
	} else {
		CHECK(whole.consumed == len);
	}
	if (max_size != 0)
		CHECK(buf_len(&whole.all) <= max_size);
	if (!whole.d.too_big)
		CHECK(buf_len(&whole.all) <= whole.d.size);

	if (whole.done && !whole.d.bare_lf_cr && !whole.d.too_big) {
		size_t wlen;
		size_t olen = buf_len(&whole.all);
		char *wire =
		        restuff(olen ? buf_data(&whole.all) : "", olen, &wlen);

		run(wire, wlen, 0, max_hops, wlen * 2 + 16, 0, &again);
		CHECK(again.done && again.consumed == wlen);
		CHECK(same_bytes(&again.all, &whole.all));
		CHECK(again.d.size == whole.d.size);
		CHECK(again.d.hops == whole.d.hops);
		CHECK(!again.d.bare_lf_cr);
		buf_deinit(&again.all);
		free(wire);
	}
	buf_deinit(&whole.all);
	return 0;
}
