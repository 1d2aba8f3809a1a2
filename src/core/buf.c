/*
 * buf — bounded contiguous buffers and the line reader used by every
 * protocol session. Pure memory operations; no I/O.
 */
#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

void
buf_init(struct buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void
buf_deinit(struct buf *b)
{
	size_t max = b->max;

	free(b->data);
	buf_init(b, max);
}

size_t
buf_room(const struct buf *b)
{
	return b->max - buf_len(b);
}

static void
buf_compact(struct buf *b)
{
	if (b->start == 0)
		return;
	memmove(b->data, b->data + b->start, buf_len(b));
	b->end -= b->start;
	b->start = 0;
}

char *
buf_space(struct buf *b, size_t want, size_t *avail_r)
{
	size_t len = buf_len(b);
	size_t need;

	if (want > b->max - len)
		want = b->max - len;
	if (b->cap - b->end < want) {
		buf_compact(b);
		if (b->cap - b->end < want) {
			/* Grow geometrically, but never past max. */
			need = b->cap ? b->cap : 256;
			while (need < len + want)
				need = need > b->max / 2 ? b->max : need * 2;
			if (need > b->max)
				need = b->max;
			b->data = xrealloc(b->data, need);
			b->cap = need;
		}
	}
	*avail_r = b->cap - b->end;
	if (*avail_r > b->max - len)
		*avail_r = b->max - len;
	return b->data + b->end;
}

void
buf_commit(struct buf *b, size_t len)
{
	b->end += len;
}

int
buf_append(struct buf *b, const void *data, size_t len)
{
	size_t avail;
	char *p;

	if (len > buf_room(b))
		return -1;
	if (len == 0)
		return 0;
	p = buf_space(b, len, &avail);
	memcpy(p, data, len);
	buf_commit(b, len);
	return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[512];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof(small))
		return buf_append(b, small, (size_t)n);

	char *big;

	va_start(ap, fmt);
	big = xvasprintf(fmt, ap);
	va_end(ap);
	n = buf_append(b, big, strlen(big));
	free(big);
	return n;
}

void
buf_consume(struct buf *b, size_t len)
{
	b->start += len;
	if (b->start >= b->end)
		b->start = b->end = 0;
}

void
buf_clear(struct buf *b)
{
	b->start = b->end = 0;
}

enum buf_line_result
buf_get_line(struct buf *b, enum buf_eol eol, size_t maxlen,
             const char **line_r, size_t *len_r)
{
	size_t len = buf_len(b);
	size_t scan = len < maxlen ? len : maxlen;
	const char *p = buf_data(b);
	const char *lf = memchr(p, '\n', scan);
	size_t n;
	enum buf_line_result res = BUF_LINE_OK;

	if (lf == NULL)
		return len >= maxlen ? BUF_LINE_TOO_LONG : BUF_LINE_NEED_MORE;
	n = (size_t)(lf - p);
	if (n > 0 && p[n - 1] == '\r')
		n--;
	else if (eol == BUF_EOL_CRLF)
		res = BUF_LINE_BARE_LF;
	*line_r = p;
	*len_r = n;
	/* Consuming may reset start/end but never moves the bytes, so the
	 * view stays valid until the next call that adds data. */
	b->start += (size_t)(lf - p) + 1;
	if (b->start >= b->end)
		b->start = b->end = 0;
	return res;
}

bool
buf_skip_line(struct buf *b)
{
	const char *p = buf_data(b);
	const char *lf = memchr(p, '\n', buf_len(b));

	if (lf == NULL) {
		buf_clear(b);
		return false;
	}
	buf_consume(b, (size_t)(lf - p) + 1);
	return true;
}
