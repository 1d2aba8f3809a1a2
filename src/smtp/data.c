/*
 * data — the DATA byte automaton, run by the smtp role between the 354
 * reply and the end-of-data marker of every message.
 *
 * Invariants: a byte is consumed only together with all the output it
 * produces (so a full `out` never loses or duplicates anything); a CR is
 * held back until the next byte says whether it is half of a CRLF; a "."
 * at the start of a line is held back until the next byte says whether it
 * is the end marker, a stuffing dot or (before a bare CR) plain content.
 * Nothing here reads past `len` or writes past `out`'s max.
 */
#include "smtp/data.h"

#include <limits.h>
#include <string.h>

#include "core/buf.h"

/* "Received:" matched case-insensitively at the start of a header line
 * (RFC 5321 6.3 counts these to detect loops; RFC 5321 4.4 adds one per
 * hop). */
static const char smtp_data_received[] = "received:";
#define SMTP_DATA_RECEIVED_LEN (sizeof(smtp_data_received) - 1)

/* Ask `out` for this much space at a time, at most. */
#define SMTP_DATA_SPACE_HINT 65536

/* Where output goes: space taken from `out` with buf_space() and committed
 * with buf_commit() before asking for more and when the call ends. */
struct smtp_data_sink {
	struct buf *buf;
	char *p;
	size_t avail; /* writable at p */
	size_t used;  /* written at p, not yet committed */
	size_t hint;
};

static bool
smtp_data_reserve(struct smtp_data_sink *s, size_t n)
{
	if (s->avail - s->used >= n)
		return true;
	buf_commit(s->buf, s->used);
	s->used = 0;
	s->p = buf_space(s->buf, s->hint > n ? s->hint : n, &s->avail);
	return s->avail >= n;
}

static void
smtp_data_sink_finish(struct smtp_data_sink *s)
{
	buf_commit(s->buf, s->used);
	s->used = 0;
	s->avail = 0;
}

void
smtp_data_init(struct smtp_data *d, uint64_t max_size, unsigned max_hops)
{
	memset(d, 0, sizeof(*d));
	d->max_size = max_size;
	d->max_hops = max_hops;
	d->state = SMTP_DATA_S_LINE_START;
	d->in_header = true;
	d->received_match = 0;
}

void
smtp_data_init_chunked(struct smtp_data *d, uint64_t max_size,
                       unsigned max_hops)
{
	smtp_data_init(d, max_size, max_hops);
	d->chunked = true;
}

void
smtp_data_finish(struct smtp_data *d)
{
	if (d->state == SMTP_DATA_S_CR)
		d->bare_lf_cr = true;
	d->state = SMTP_DATA_S_DONE;
}

/* Adds n octets to the message size (saturating); true while the message
 * is within max_size, i.e. while output continues. */
static bool
smtp_data_count(struct smtp_data *d, uint64_t n)
{
	if (__builtin_add_overflow(d->size, n, &d->size))
		d->size = UINT64_MAX;
	if (d->max_size != 0 && d->size > d->max_size)
		d->too_big = true;
	return !d->too_big;
}

static void
smtp_data_match_received(struct smtp_data *d, unsigned char c)
{
	unsigned char lc =
	        (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;

	if (lc != (unsigned char)smtp_data_received[d->received_match]) {
		d->received_match = SMTP_DATA_NO_MATCH;
		return;
	}
	if (++d->received_match < SMTP_DATA_RECEIVED_LEN)
		return;
	d->received_match = SMTP_DATA_NO_MATCH;
	if (d->hops < UINT_MAX)
		d->hops++;
	if (d->hops > d->max_hops)
		d->too_many_hops = true;
}

/* One octet of line content (after unstuffing). */
static void
smtp_data_content(struct smtp_data *d, struct smtp_data_sink *s,
                  unsigned char c)
{
	if (c == 0)
		d->has_nul = true;
	else if (c >= 0x80)
		d->has_8bit = true;
	d->line_len++;
	if (d->in_header && d->received_match != SMTP_DATA_NO_MATCH)
		smtp_data_match_received(d, c);
	if (smtp_data_count(d, 1))
		s->p[s->used++] = (char)c;
}

/* CRLF: the end of a line, stored as LF. */
static void
smtp_data_line_end(struct smtp_data *d, struct smtp_data_sink *s)
{
	/* The first empty line ends the header section (RFC 5322 2.1). */
	if (d->line_len == 0)
		d->in_header = false;
	if (d->line_len > d->longest_line)
		d->longest_line = d->line_len;
	d->line_len = 0;
	d->received_match = 0;
	d->state = SMTP_DATA_S_LINE_START;
	if (smtp_data_count(d, 2))
		s->p[s->used++] = '\n';
}

/* An octet inside a line, or the first one of a line that is not ".". */
static void
smtp_data_text(struct smtp_data *d, struct smtp_data_sink *s, unsigned char c)
{
	if (c == '\r') {
		d->state = SMTP_DATA_S_CR;
		return;
	}
	d->state = SMTP_DATA_S_TEXT;
	/* A bare LF is content: it neither ends the line nor lets a "."
	 * after it end the data (RFC 5321 2.3.8, 4.1.4). */
	if (c == '\n')
		d->bare_lf_cr = true;
	smtp_data_content(d, s, c);
}

/* A CR held back turned out not to be followed by LF: it is content. */
static void
smtp_data_bare_cr(struct smtp_data *d, struct smtp_data_sink *s)
{
	d->bare_lf_cr = true;
	d->state = SMTP_DATA_S_TEXT;
	smtp_data_content(d, s, '\r');
}

/* Octets of output that feeding `c` in `state` produces (before the size
 * limit is applied); never more than 2. */
static size_t
smtp_data_need(const struct smtp_data *d, unsigned char c)
{
	size_t held = 0;

	switch (d->state) {
	case SMTP_DATA_S_LINE_START:
		if (c == '.' && !d->chunked)
			return 0;
		break;
	case SMTP_DATA_S_DOT_CR:
		if (c == '\n')
			return 0;
		held = 1;
		break;
	case SMTP_DATA_S_CR:
		if (c == '\n')
			return 1;
		held = 1;
		break;
	case SMTP_DATA_S_DOT:
	case SMTP_DATA_S_TEXT:
		break;
	case SMTP_DATA_S_DONE:
		return 0;
	}
	return held + (c == '\r' ? 0 : 1);
}

/*
 * Fast path for the common case, the middle of a line whose header checks
 * are settled: takes the run of octets before the next CR or LF, as far as
 * `out` has room. Returns how many octets it consumed (0: use the slow
 * path).
 */
static size_t
smtp_data_run(struct smtp_data *d, struct smtp_data_sink *s,
              const unsigned char *in, size_t len)
{
	size_t n = 0, emit;
	bool nul = false, high = false;

	if (!d->too_big) {
		if (!smtp_data_reserve(s, 1))
			return 0;
		if (len > s->avail - s->used)
			len = s->avail - s->used;
	}
	while (n < len && in[n] != '\r' && in[n] != '\n') {
		nul |= in[n] == 0;
		high |= in[n] >= 0x80;
		n++;
	}
	if (n == 0)
		return 0;
	d->has_nul |= nul;
	d->has_8bit |= high;
	d->line_len += n;
	if (d->too_big) {
		(void)smtp_data_count(d, n);
		return n;
	}
	emit = n;
	if (d->max_size != 0 && n > d->max_size - d->size)
		emit = (size_t)(d->max_size - d->size);
	(void)smtp_data_count(d, n);
	memcpy(s->p + s->used, in, emit);
	s->used += emit;
	return n;
}

/* Feeds one octet through the slow path; true when it completed the end
 * marker. The caller has reserved the output smtp_data_need() asked for. */
static bool
smtp_data_step(struct smtp_data *d, struct smtp_data_sink *s, unsigned char c)
{
	switch (d->state) {
	case SMTP_DATA_S_LINE_START:
		/* A "." first on a line is held back (RFC 5321 4.5.2);
		 * BDAT chunks are not dot-stuffed (RFC 3030 2). */
		if (c == '.' && !d->chunked)
			d->state = SMTP_DATA_S_DOT;
		else
			smtp_data_text(d, s, c);
		return false;
	case SMTP_DATA_S_DOT:
		/* Not the end marker: the dot is a stuffing dot and is
		 * dropped (RFC 5321 4.5.2). */
		if (c == '\r')
			d->state = SMTP_DATA_S_DOT_CR;
		else
			smtp_data_text(d, s, c);
		return false;
	case SMTP_DATA_S_DOT_CR:
		/* CRLF "." CRLF: the end of the mail data (RFC 5321 4.1.4). */
		if (c == '\n') {
			d->state = SMTP_DATA_S_DONE;
			return true;
		}
		smtp_data_bare_cr(d, s);
		smtp_data_text(d, s, c);
		return false;
	case SMTP_DATA_S_TEXT:
		smtp_data_text(d, s, c);
		return false;
	case SMTP_DATA_S_CR:
		if (c == '\n') {
			smtp_data_line_end(d, s);
		} else {
			smtp_data_bare_cr(d, s);
			smtp_data_text(d, s, c);
		}
		return false;
	case SMTP_DATA_S_DONE:
		break;
	}
	return true;
}

enum smtp_data_result
smtp_data_feed(struct smtp_data *d, const char *in, size_t len,
               size_t *consumed_r, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)in;
	struct smtp_data_sink s = {.buf = out};
	enum smtp_data_result res = SMTP_DATA_NEED_MORE;
	size_t i = 0;

	s.hint =
	        len < SMTP_DATA_SPACE_HINT - 2 ? len + 2 : SMTP_DATA_SPACE_HINT;
	if (d->state == SMTP_DATA_S_DONE) {
		*consumed_r = 0;
		return SMTP_DATA_DONE;
	}
	while (i < len) {
		size_t need;

		if (d->state == SMTP_DATA_S_TEXT &&
		    (!d->in_header ||
		     d->received_match == SMTP_DATA_NO_MATCH)) {
			size_t n = smtp_data_run(d, &s, p + i, len - i);

			if (n > 0) {
				i += n;
				continue;
			}
		}
		/* A byte is taken only with all the output it makes. */
		need = d->too_big ? 0 : smtp_data_need(d, p[i]);
		if (need > 0 && !smtp_data_reserve(&s, need))
			break;
		if (smtp_data_step(d, &s, p[i++])) {
			res = SMTP_DATA_DONE;
			break;
		}
	}
	smtp_data_sink_finish(&s);
	*consumed_r = i;
	return res;
}

const char *
smtp_data_reply(const struct smtp_data *d)
{
	if (d->bare_lf_cr)
		return "550 5.5.2 Message refused: bare CR or LF in data, "
		       "lines must end in CRLF";
	if (d->too_big)
		return "552 5.3.4 Message size exceeds fixed maximum message "
		       "size";
	if (d->too_many_hops)
		return "554 5.4.6 Too many hops, mail loop suspected";
	return NULL;
}
