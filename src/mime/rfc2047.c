/*
 * rfc2047 — decoding of RFC 2047 encoded words ("=?charset?B?...?=",
 * "=?charset?Q?...?=") in header text to UTF-8, for display and for
 * SEARCH. ENVELOPE and BODYSTRUCTURE never use this: IMAP hands clients
 * the raw header text (RFC 3501 7.4.2).
 *
 * The decoder is lenient the way readers of real mail must be: encoded
 * words are recognised anywhere, not only between white space, and the
 * 75-character limit of RFC 2047 section 2 is not enforced. Work and
 * output are linear in the input.
 */
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "core/str.h"
#include "mime/mime_priv.h"

struct rfc2047_word {
	const char *charset;
	size_t charset_len;
	char encoding; /* 'B' or 'Q' */
	const char *text;
	size_t text_len;
	size_t end; /* offset past "?=" */
};

/* Consecutive encoded words in one charset, decoded but not yet
 * converted: RFC 2047 section 5 lets a multi-byte character straddle two
 * words only in spirit, but mailers do split them. */
struct rfc2047_pending {
	const char *charset;
	size_t charset_len;
	struct buf bytes;
	size_t src_start; /* source range, emitted as is if the charset */
	size_t src_end;   /* cannot be converted */
	bool active;
};

static bool
rfc2047_is_charset_char(char c)
{
	return mime_is_token_char(c) || c == '.';
}

/* Parses an encoded word at s[pos] (which is '='). */
static bool
rfc2047_word_parse(const char *s, size_t len, size_t pos,
                   struct rfc2047_word *w)
{
	size_t i = pos + 2, cs;

	if (len - pos < 8 || s[pos] != '=' || s[pos + 1] != '?')
		return false;
	cs = i;
	while (i < len && rfc2047_is_charset_char(s[i]))
		i++;
	if (i == cs || i + 2 >= len || s[i] != '?' || s[i + 2] != '?')
		return false;
	w->charset = s + cs;
	w->charset_len = i - cs;
	/* RFC 2231 section 5: "charset*language"; the language is only a
	 * hint. */
	for (size_t k = 0; k < w->charset_len; k++) {
		if (w->charset[k] == '*') {
			w->charset_len = k;
			break;
		}
	}
	switch (s[i + 1]) {
	case 'B':
	case 'b':
		w->encoding = 'B';
		break;
	case 'Q':
	case 'q':
		w->encoding = 'Q';
		break;
	default:
		return false;
	}
	i += 3;
	w->text = s + i;
	/* encoded-text holds no '?' and no white space (RFC 2047 5). */
	while (i < len && s[i] != '?' && s[i] > ' ' && s[i] != 0x7f)
		i++;
	if (i + 1 >= len || s[i] != '?' || s[i + 1] != '=')
		return false;
	w->text_len = (size_t)(s + i - w->text);
	w->end = i + 2;
	return w->charset_len > 0;
}

static int
rfc2047_b64(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static void
rfc2047_decode_q(struct buf *out, const char *t, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		int hi, lo;

		/* RFC 2047 4.2: "_" is a space, "=XX" an octet. */
		if (t[i] == '_') {
			mime_out_c(out, ' ');
		} else if (t[i] == '=' && i + 2 < len &&
		           (hi = str_hex_value(t[i + 1])) >= 0 &&
		           (lo = str_hex_value(t[i + 2])) >= 0) {
			mime_out_c(out, (char)(hi << 4 | lo));
			i += 2;
		} else {
			mime_out_c(out, t[i]);
		}
	}
}

static void
rfc2047_decode_b(struct buf *out, const char *t, size_t len)
{
	unsigned int acc = 0, bits = 0;

	/* RFC 2047 4.1 / RFC 2045 6.8; padding and stray characters are
	 * skipped rather than rejected. */
	for (size_t i = 0; i < len; i++) {
		int v = rfc2047_b64(t[i]);

		if (v < 0)
			continue;
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			mime_out_c(out, (char)((acc >> bits) & 0xFF));
		}
	}
}

static void
rfc2047_flush(struct buf *out, struct rfc2047_pending *p, const char *src)
{
	if (!p->active)
		return;
	if (!mime_charset_append(out, p->charset, p->charset_len,
	                         mime_out_data(&p->bytes),
	                         buf_len(&p->bytes))) {
		/* RFC 2047 6.1: a word in an unknown charset may be shown
		 * as it is. */
		mime_utf8_sanitize(out, src + p->src_start,
		                   p->src_end - p->src_start);
	}
	buf_clear(&p->bytes);
	p->active = false;
}

static bool
rfc2047_all_wsp(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (!mime_is_wsp(s[i]))
			return false;
	}
	return true;
}

static bool
rfc2047_same_charset(const struct rfc2047_pending *p,
                     const struct rfc2047_word *w)
{
	return str_eq_ci_n(p->charset, p->charset_len, w->charset,
	                   w->charset_len);
}

/* Decodes the unfolded text s[0..len) into out. */
static void
rfc2047_decode_text(struct buf *out, const char *s, size_t len)
{
	struct rfc2047_pending p;
	struct rfc2047_word w;
	size_t i = 0, run = 0;
	bool after_word = false;

	memset(&p, 0, sizeof(p));
	mime_out_init(&p.bytes);
	while (i < len) {
		if (s[i] != '=' || !rfc2047_word_parse(s, len, i, &w)) {
			i++;
			continue;
		}
		/* RFC 2047 6.2: white space between two encoded words is
		 * not displayed. Other text ends the run of words. */
		if (!after_word || !rfc2047_all_wsp(s + run, i - run)) {
			rfc2047_flush(out, &p, s);
			mime_utf8_sanitize(out, s + run, i - run);
		}
		if (p.active && !rfc2047_same_charset(&p, &w))
			rfc2047_flush(out, &p, s);
		if (!p.active) {
			p.active = true;
			p.charset = w.charset;
			p.charset_len = w.charset_len;
			p.src_start = i;
		}
		if (w.encoding == 'B')
			rfc2047_decode_b(&p.bytes, w.text, w.text_len);
		else
			rfc2047_decode_q(&p.bytes, w.text, w.text_len);
		p.src_end = w.end;
		i = run = w.end;
		after_word = true;
	}
	rfc2047_flush(out, &p, s);
	mime_utf8_sanitize(out, s + run, len - run);
	buf_deinit(&p.bytes);
}

char *
mime_rfc2047_decode(const char *s, size_t len)
{
	char *text = xmalloc(len + 1);
	size_t n = 0, start = 0;
	struct buf out;
	char *res;

	/* Unfold (RFC 5322 2.2.3) and trim, keeping any NUL octets. */
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\n' ||
		    (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n'))
			continue;
		text[n++] = s[i];
	}
	while (start < n && mime_is_wsp(text[start]))
		start++;
	while (n > start && mime_is_wsp(text[n - 1]))
		n--;

	mime_out_init(&out);
	rfc2047_decode_text(&out, text + start, n - start);
	free(text);
	/* The result is one line of display text. */
	for (size_t i = 0; i < buf_len(&out); i++) {
		char c = out.data[out.start + i];

		if (c == '\r' || c == '\n' || c == '\0')
			out.data[out.start + i] = ' ';
	}
	res = mime_out_finish(&out);
	return res;
}
