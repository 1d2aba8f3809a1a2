/*
 * data — the DATA byte automaton (RFC 5321 4.1.4, 4.5.2).
 *
 * Fed the raw bytes a client sends after the 354 reply, it finds the end
 * of the mail data, removes dot-stuffing, turns each CRLF into LF (the
 * store keeps LF, the Maildir convention) and measures the message as it
 * streams by. It works byte by byte, so input may be split anywhere: the
 * state carries a pending CR, a pending "." at the start of a line and the
 * progress of the header checks across calls. No I/O, no logging, no
 * allocation beyond what `out` (the caller's buffer) does itself.
 *
 * End of data is recognised ONLY as CRLF "." CRLF, where the start of the
 * data counts as following a CRLF (a message may be empty: "." CRLF right
 * after the 354). A bare LF or bare CR — one not part of a CRLF pair —
 * never ends a line for this purpose, never starts a dot line and is never
 * normalised: "\n.\n", "\r\n.\n", "\n.\r\n" and "\r.\r\n" are message
 * content. The automaton sets `bare_lf_cr` and keeps reading to the real
 * end, so that the session can answer and stay in step with the client.
 *
 * Policy (the session applies it after SMTP_DATA_DONE; see
 * smtp_data_reply()): a message with a bare CR or LF is refused with
 * "550 5.5.2": RFC 5321 2.3.8 allows CR and LF in mail data only as CRLF,
 * and a server that treats a bare one as a line end lets a sender smuggle
 * a second message past the first one's end (4.1.4's end-of-data
 * sequence seen differently by two servers). Over-size mail is refused
 * with 552 (4.5.3.1.10), a mail loop with 554 5.4.6 (6.3).
 */
#ifndef POSTERN_SMTP_DATA_H
#define POSTERN_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

enum smtp_data_result {
	/* All input consumed, or `out` is full: the caller drains `out`
	 * and feeds the rest (*consumed_r says how much was taken). */
	SMTP_DATA_NEED_MORE,
	/* The end marker CRLF "." CRLF has been consumed; bytes after
	 * *consumed_r belong to the next (pipelined) command. */
	SMTP_DATA_DONE,
};

/* Automaton states; private to data.c, here only so the struct can live
 * inside the session. */
enum smtp_data_state {
	SMTP_DATA_S_LINE_START, /* after CRLF, or at the start */
	SMTP_DATA_S_DOT,        /* "." at line start */
	SMTP_DATA_S_DOT_CR,     /* "." CR at line start */
	SMTP_DATA_S_TEXT,       /* inside a line */
	SMTP_DATA_S_CR,         /* CR inside a line */
	SMTP_DATA_S_DONE,       /* end marker seen */
};

/*
 * One message's DATA phase. Limits are set by smtp_data_init(); the
 * results are read by the session after SMTP_DATA_DONE (they are valid,
 * but incomplete, before).
 */
struct smtp_data {
	/* limits */
	uint64_t max_size; /* 0: no limit */
	unsigned max_hops;

	/* automaton (private) */
	enum smtp_data_state state;
	bool in_header;               /* before the first empty line */
	bool chunked;                 /* BDAT: no dot-stuffing, no marker */
	unsigned char received_match; /* octets of "Received:" matched at
	                                 the start of this header line;
	                                 SMTP_DATA_NO_MATCH once it failed */
	size_t line_len;              /* octets on this line so far */

	/* results */
	uint64_t size;       /* octets after unstuffing, CRLF counted as 2 */
	size_t longest_line; /* octets, after unstuffing, without CRLF */
	unsigned hops;       /* "Received:" header fields */
	bool too_big;        /* size went over max_size: output stopped */
	bool too_many_hops;  /* hops > max_hops (RFC 5321 6.3) */
	bool bare_lf_cr;     /* a CR or LF not in a CRLF pair */
	bool has_nul;        /* a NUL octet */
	bool has_8bit;       /* an octet >= 0x80 */
};

#define SMTP_DATA_NO_MATCH 0xff

/*
 * Starts a DATA phase: max_size in octets (counted as SIZE counts them,
 * RFC 1870: after unstuffing, CRLF as 2; 0 means no limit) and the most
 * "Received:" header fields accepted before the message counts as looping.
 */
void smtp_data_init(struct smtp_data *d, uint64_t max_size, unsigned max_hops);

/*
 * Starts a CHUNKING transfer (RFC 3030): the message arrives in BDAT
 * chunks whose length the client announces, so there is no dot-stuffing
 * and no end marker; smtp_data_feed never returns SMTP_DATA_DONE. Lines
 * are converted, measured and checked exactly as in DATA. After the LAST
 * chunk, smtp_data_finish() settles a CR still held back.
 */
void smtp_data_init_chunked(struct smtp_data *d, uint64_t max_size,
                            unsigned max_hops);

/* Ends a chunked transfer: a CR at the very end had no LF after it, so it
 * is a bare CR (flagged, and not stored). */
void smtp_data_finish(struct smtp_data *d);

/*
 * Feeds `len` bytes of wire input. Appends the unstuffed, LF-terminated
 * message to `out` (borrowed; it is never grown past its max) until
 * too_big is set, after which nothing more is appended but the input is
 * still scanned for the end marker.
 *
 * Returns SMTP_DATA_DONE once the end marker has been consumed, with
 * *consumed_r the number of bytes up to and including it; calling again
 * afterwards consumes nothing and returns SMTP_DATA_DONE. Otherwise returns
 * SMTP_DATA_NEED_MORE: *consumed_r == len, or less if `out` filled up (a
 * byte is consumed only when its output fits; at most 2 bytes are emitted
 * per input byte, so `out` needs room for 2 to progress).
 */
enum smtp_data_result smtp_data_feed(struct smtp_data *d, const char *in,
                                     size_t len, size_t *consumed_r,
                                     struct buf *out)
        __attribute__((warn_unused_result));

/*
 * After SMTP_DATA_DONE: the reply the message must be refused with, or NULL
 * if nothing here forbids accepting it. A static string without CRLF. In
 * order: bare CR/LF "550 5.5.2", too big "552 5.3.4", too many hops
 * "554 5.4.6". NUL octets and 8-bit data without BODY=8BITMIME are left to
 * the session's policy (has_nul, has_8bit).
 */
const char *smtp_data_reply(const struct smtp_data *d);

#endif
