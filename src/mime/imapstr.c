/*
 * imapstr — output helpers for the strings this module builds, and the
 * IMAP string syntax of RFC 3501 section 4.3 / 9: a quoted string may hold
 * any 7-bit character but CR, LF and NUL, with '"' and '\' escaped; any
 * other string goes out as a literal "{n}\r\n" followed by n octets.
 */
#include <stdio.h>
#include <string.h>

#include "log/log.h"
#include "mime/mime_priv.h"

void
mime_out_init(struct buf *out)
{
	buf_init(out, MIME_OUT_MAX);
}

void
mime_out(struct buf *out, const void *data, size_t len)
{
	if (buf_append(out, data, len) < 0)
		panic("mime: output buffer passed %zu bytes",
		      (size_t)MIME_OUT_MAX);
}

void
mime_out_str(struct buf *out, const char *s)
{
	mime_out(out, s, strlen(s));
}

const char *
mime_out_data(const struct buf *out)
{
	return out->data == NULL ? "" : out->data + out->start;
}

void
mime_out_c(struct buf *out, char c)
{
	mime_out(out, &c, 1);
}

void
mime_out_num(struct buf *out, size_t n)
{
	char s[24];
	int len = snprintf(s, sizeof(s), "%zu", n);

	mime_out(out, s, (size_t)len);
}

char *
mime_out_finish(struct buf *out)
{
	char *s;

	mime_out_c(out, '\0');
	/* Nothing is ever consumed from an output buffer, so its bytes start
	 * at data[0] and can be handed over as they are. */
	if (out->start != 0)
		panic("mime: output buffer was consumed");
	s = out->data;
	out->data = NULL;
	buf_deinit(out);
	return s;
}

void
mime_imap_string(struct buf *out, const char *s, size_t len)
{
	size_t n = 0;
	bool literal = false;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == 0)
			continue;
		n++;
		if (c == '\r' || c == '\n' || c >= 0x80)
			literal = true;
	}
	if (literal) {
		mime_out_c(out, '{');
		mime_out_num(out, n);
		mime_out_str(out, "}\r\n");
	} else {
		mime_out_c(out, '"');
	}
	size_t run = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c != '\0' && (literal || (c != '"' && c != '\\')))
			continue;
		mime_out(out, s + run, i - run);
		if (c != '\0')
			mime_out_c(out, '\\');
		/* The escaped character itself starts the next run; a NUL
		 * is skipped. */
		run = c == '\0' ? i + 1 : i;
	}
	mime_out(out, s + run, len - run);
	if (!literal)
		mime_out_c(out, '"');
}

void
mime_imap_nstring(struct buf *out, const char *s)
{
	if (s == NULL)
		mime_out_str(out, "NIL");
	else
		mime_imap_string(out, s, strlen(s));
}
