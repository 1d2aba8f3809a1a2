/*
 * buf — a contiguous byte buffer with a hard maximum.
 *
 * {data, start, end, cap, max}: readable bytes are data[start..end). Space
 * is compacted lazily and the buffer never grows past `max` (STYLE.md 5).
 * Line access returns a view into the buffer; a view is valid only until
 * the next call that adds to or consumes from the buffer.
 */
#ifndef POSTERN_CORE_BUF_H
#define POSTERN_CORE_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t start;
	size_t end;
	size_t cap;
	size_t max;
};

/* Line-ending policy, chosen by the protocol. */
enum buf_eol {
	/* Lines end in CRLF; a LF without CR before it is reported as
	 * BUF_LINE_BARE_LF (SMTP, IMAP and POP3 commands). */
	BUF_EOL_CRLF,
	/* Lines end in LF, with an optional CR before it removed (local
	 * input such as files and the sendmail command). */
	BUF_EOL_LF,
};

enum buf_line_result {
	BUF_LINE_OK,        /* line_r and len_r hold one line, no terminator */
	BUF_LINE_NEED_MORE, /* no complete line buffered yet */
	BUF_LINE_TOO_LONG,  /* no line end within `maxlen` bytes */
	BUF_LINE_BARE_LF,   /* BUF_EOL_CRLF only: line ended by a lone LF; the
	                       line is still returned and consumed */
};

/* Initialises an empty buffer that will never hold more than `max`
 * bytes. Allocates lazily. */
void buf_init(struct buf *b, size_t max);
/* Frees the storage; the buffer may be initialised again. */
void buf_deinit(struct buf *b);

static inline size_t
buf_len(const struct buf *b)
{
	return b->end - b->start;
}

static inline const char *
buf_data(const struct buf *b)
{
	return b->data + b->start;
}

/* Bytes that may still be added before `max` is reached. */
size_t buf_room(const struct buf *b);

/* Appends `len` bytes. Returns -1 (appending nothing) if that would pass
 * `max`. */
int buf_append(struct buf *b, const void *data, size_t len)
        __attribute__((warn_unused_result));
/* Appends a formatted string; -1 as buf_append. */
int buf_printf(struct buf *b, const char *fmt, ...)
        __attribute__((format(printf, 2, 3), warn_unused_result));

/*
 * Makes at least `want` (>0) contiguous writable bytes available at the end
 * if `max` allows, otherwise as many as allowed (possibly 0). Returns the
 * writable pointer and sets *avail_r; follow with buf_commit().
 */
char *buf_space(struct buf *b, size_t want, size_t *avail_r);
/* Marks `len` bytes written into the space from buf_space() readable. */
void buf_commit(struct buf *b, size_t len);
/* Drops `len` (<= buf_len) bytes from the front. */
void buf_consume(struct buf *b, size_t len);
/* Drops everything. */
void buf_clear(struct buf *b);

/*
 * Finds the next line. On BUF_LINE_OK or BUF_LINE_BARE_LF the line (without
 * its terminator) is returned as a view and consumed from the buffer; the
 * view is valid until the next buffer call. `maxlen` bounds the line
 * including its terminator.
 */
enum buf_line_result buf_get_line(struct buf *b, enum buf_eol eol,
                                  size_t maxlen, const char **line_r,
                                  size_t *len_r);

/*
 * After BUF_LINE_TOO_LONG: discards bytes up to and including the next LF.
 * Returns true if a LF was found (the long line is gone), false if all
 * buffered bytes were discarded and skipping must continue after the next
 * read.
 */
bool buf_skip_line(struct buf *b);

#endif
