/*
 * charset — conversion of header and parameter text to UTF-8, for display
 * and search. UTF-8, US-ASCII, ISO-8859-1 and windows-1252 (the charsets
 * most mail is labelled with) are converted here, without tables from the
 * C library, so they work in a chroot too; any other name goes to the C
 * library's iconv. Output is always valid UTF-8: bytes that do not decode
 * become U+FFFD.
 */
#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <string.h>

#include "core/str.h"
#include "mime/mime_priv.h"

/* Longest charset name passed on to iconv; real names are short. */
#define CHARSET_NAME_MAX 64

/* windows-1252 0x80..0x9F; 0 marks an unassigned position. */
static const uint16_t charset_cp1252[32] = {
        0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
        0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0,      0x017D, 0,
        0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
        0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178,
};

static void
charset_put_cp(struct buf *out, uint32_t cp)
{
	char s[4];
	size_t n;

	if (cp < 0x80) {
		s[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		s[0] = (char)(0xC0 | (cp >> 6));
		s[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		s[0] = (char)(0xE0 | (cp >> 12));
		s[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		s[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		s[0] = (char)(0xF0 | (cp >> 18));
		s[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		s[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		s[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	mime_out(out, s, n);
}

/* Length of the valid UTF-8 sequence at s (RFC 3629 section 4: no
 * overlong forms, no surrogates, nothing above U+10FFFF), or 0. */
static size_t
charset_utf8_len(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];
	size_t n;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
		cp = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		cp = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
		return 0;
	return n;
}

void
mime_utf8_sanitize(struct buf *out, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run = 0;

	while (i < len) {
		size_t n = charset_utf8_len(u + i, len - i);

		if (n == 0) {
			mime_out(out, s + run, i - run);
			charset_put_cp(out, 0xFFFD);
			i++;
			run = i;
		} else {
			i += n;
		}
	}
	mime_out(out, s + run, i - run);
}

static void
charset_single_byte(struct buf *out, const char *s, size_t len, bool cp1252)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		uint32_t cp = c;

		if (cp1252 && c >= 0x80 && c <= 0x9F) {
			cp = charset_cp1252[c - 0x80];
			if (cp == 0)
				cp = 0xFFFD;
		}
		charset_put_cp(out, cp);
	}
}

static bool
charset_iconv(struct buf *out, const char *name, const char *in, size_t len)
{
	iconv_t cd = iconv_open("UTF-8", name);
	char chunk[512];

	if (cd == (iconv_t)-1)
		return false;
	/* iconv's prototype takes char ** for input it does not modify. */
	char *ip = (char *)(uintptr_t)in;
	size_t ileft = len;

	while (ileft > 0) {
		char *op = chunk;
		size_t oleft = sizeof(chunk);
		size_t r = iconv(cd, &ip, &ileft, &op, &oleft);
		int err = errno;

		mime_utf8_sanitize(out, chunk, sizeof(chunk) - oleft);
		if (r != (size_t)-1 || err == E2BIG)
			continue;
		/* EILSEQ: one bad byte; EINVAL: truncated sequence at the
		 * end. Either way mark it and go on after it. */
		charset_put_cp(out, 0xFFFD);
		ip++;
		ileft--;
		if (err != EILSEQ && err != EINVAL)
			break;
	}
	iconv_close(cd);
	return true;
}

static bool
charset_name_ok(const char *name, size_t len)
{
	if (len == 0 || len > CHARSET_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr("-_.:+()", c) != NULL))
			return false;
	}
	return true;
}

static bool
charset_is(const char *name, size_t len, const char *const *aliases)
{
	for (; *aliases != NULL; aliases++) {
		if (str_eq_ci(name, len, *aliases))
			return true;
	}
	return false;
}

bool
mime_charset_append(struct buf *out, const char *charset, size_t cs_len,
                    const char *in, size_t len)
{
	static const char *const utf8[] = {"utf-8", "utf8", NULL};
	/* Mislabelled 8-bit text is common; UTF-8 in "US-ASCII" is kept. */
	static const char *const ascii[] = {
	        "us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "us", NULL};
	static const char *const latin1[] = {
	        "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1",
	        "l1",         "cp819",     "ibm819",     NULL};
	static const char *const cp1252[] = {"windows-1252", "cp1252", NULL};
	char name[CHARSET_NAME_MAX + 1];

	if (!charset_name_ok(charset, cs_len))
		return false;
	if (charset_is(charset, cs_len, utf8) ||
	    charset_is(charset, cs_len, ascii)) {
		mime_utf8_sanitize(out, in, len);
		return true;
	}
	if (charset_is(charset, cs_len, latin1)) {
		charset_single_byte(out, in, len, false);
		return true;
	}
	if (charset_is(charset, cs_len, cp1252)) {
		charset_single_byte(out, in, len, true);
		return true;
	}
	memcpy(name, charset, cs_len);
	name[cs_len] = '\0';
	return charset_iconv(out, name, in, len);
}

char *
mime_charset_to_utf8(const char *charset, const char *in, size_t len,
                     size_t *out_len_r)
{
	struct buf out;

	mime_out_init(&out);
	if (!mime_charset_append(&out, charset, strlen(charset), in, len)) {
		buf_deinit(&out);
		return NULL;
	}
	*out_len_r = buf_len(&out);
	return mime_out_finish(&out);
}
