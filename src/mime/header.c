/*
 * header — RFC 5322 header syntax: which lines belong to a header, field
 * iteration and lookup over a parsed part's header range, unfolding, and
 * the RFC 822 comment rules that structured fields share.
 *
 * The parser (mime.c) and the iterator here classify lines with the same
 * function, so a header range found once always splits into the same
 * fields. Pure functions on borrowed memory; no allocation except the
 * owned strings the getters return.
 */
#include <string.h>

#include "core/str.h"
#include "core/xalloc.h"
#include "mime/mime_priv.h"

/* RFC 5322 3.6.8: ftext = %d33-57 / %d59-126 (printable, not colon). */
static bool
header_is_ftext(char c)
{
	unsigned char u = (unsigned char)c;

	return u >= 33 && u <= 126 && u != ':';
}

enum mime_hline
mime_hline_classify(const char *s, size_t avail, size_t *name_len_r)
{
	size_t i = 0, n;

	if (avail == 0)
		return MIME_HLINE_OTHER;
	if (s[0] == '\n' || (s[0] == '\r' && avail > 1 && s[1] == '\n'))
		return MIME_HLINE_BLANK;
	if (mime_is_wsp(s[0]))
		return MIME_HLINE_CONT;
	while (i < avail && header_is_ftext(s[i]))
		i++;
	if (i == 0)
		return MIME_HLINE_OTHER;
	n = i;
	/* RFC 5322 4.5.2 (obsolete syntax): white space may come before the
	 * colon. */
	while (i < avail && mime_is_wsp(s[i]))
		i++;
	if (i >= avail || s[i] != ':')
		return MIME_HLINE_OTHER;
	*name_len_r = n;
	return MIME_HLINE_FIELD;
}

size_t
mime_skip_comment(const char *s, size_t len, size_t pos)
{
	size_t depth = 0;

	/* RFC 5322 3.2.2: comments nest; a quoted-pair escapes one
	 * character. Depth is a counter, so nesting costs no stack. */
	while (pos < len) {
		char c = s[pos++];

		if (c == '\\') {
			if (pos < len)
				pos++;
		} else if (c == '(') {
			depth++;
		} else if (c == ')') {
			if (depth > 0)
				depth--;
			if (depth == 0)
				return pos;
		}
	}
	return len;
}

size_t
mime_skip_cfws(const char *s, size_t len, size_t pos)
{
	while (pos < len) {
		char c = s[pos];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			pos++;
		else if (c == '(')
			pos = mime_skip_comment(s, len, pos);
		else
			break;
	}
	return pos;
}

/* Offset just past the line starting at `pos` (after its LF), or `end`. */
static size_t
header_line_next(const char *msg, size_t pos, size_t end)
{
	const char *lf = memchr(msg + pos, '\n', end - pos);

	return lf == NULL ? end : (size_t)(lf - msg) + 1;
}

bool
mime_header_next(const struct mime_part *part, size_t *iter,
                 struct mime_field *field_r)
{
	const char *msg = part->msg;
	size_t end = part->header_end;
	size_t pos = part->header_start + *iter;
	size_t name_len = 0, next, colon, vend;

	while (pos < end) {
		enum mime_hline kind =
		        mime_hline_classify(msg + pos, end - pos, &name_len);

		if (kind == MIME_HLINE_BLANK)
			break;
		if (kind != MIME_HLINE_FIELD) {
			/* Cannot happen in a range the parser built; skip
			 * the line rather than trust it. */
			pos = header_line_next(msg, pos, end);
			continue;
		}
		next = header_line_next(msg, pos, end);
		while (next < end && mime_is_wsp(msg[next]))
			next = header_line_next(msg, next, end);
		colon = pos + name_len;
		while (msg[colon] != ':')
			colon++;
		vend = next;
		if (vend > colon + 1 && msg[vend - 1] == '\n') {
			vend--;
			if (vend > colon + 1 && msg[vend - 1] == '\r')
				vend--;
		}
		field_r->name = msg + pos;
		field_r->name_len = name_len;
		field_r->value = msg + colon + 1;
		field_r->value_len = vend - (colon + 1);
		field_r->start = pos;
		field_r->end = next;
		*iter = next - part->header_start;
		return true;
	}
	*iter = end - part->header_start;
	return false;
}

bool
mime_header_find(const struct mime_part *part, const char *name,
                 struct mime_field *field_r)
{
	size_t iter = 0;

	while (mime_header_next(part, &iter, field_r)) {
		if (str_eq_ci(field_r->name, field_r->name_len, name))
			return true;
	}
	return false;
}

void
mime_unfold_append(struct buf *out, const char *value, size_t len)
{
	size_t start = 0, end = len, run;

	while (start < end && (mime_is_wsp(value[start]) ||
	                       value[start] == '\r' || value[start] == '\n'))
		start++;
	while (end > start &&
	       (mime_is_wsp(value[end - 1]) || value[end - 1] == '\r' ||
	        value[end - 1] == '\n'))
		end--;
	/* RFC 5322 2.2.3: unfolding removes each CRLF that is followed by
	 * white space; inside a field value every line break is such. */
	run = start;
	for (size_t i = start; i < end; i++) {
		if (value[i] == '\n' ||
		    (value[i] == '\r' && i + 1 < end && value[i + 1] == '\n')) {
			mime_out(out, value + run, i - run);
			run = i + 1;
		}
	}
	mime_out(out, value + run, end - run);
}

char *
mime_header_unfold(const char *value, size_t len)
{
	struct buf out;

	mime_out_init(&out);
	mime_unfold_append(&out, value, len);
	return mime_out_finish(&out);
}

char *
mime_header_get(const struct mime_part *part, const char *name)
{
	struct mime_field f;

	if (!mime_header_find(part, name, &f))
		return NULL;
	return mime_header_unfold(f.value, f.value_len);
}

char *
mime_header_get_decoded(const struct mime_part *part, const char *name)
{
	struct mime_field f;

	if (!mime_header_find(part, name, &f))
		return NULL;
	return mime_rfc2047_decode(f.value, f.value_len);
}
