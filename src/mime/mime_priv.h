/*
 * mime_priv — helpers shared by the files of src/mime only: the arena
 * that owns a parsed tree, header line classification (one definition for
 * the parser and the field iterator), RFC 822 lexical helpers, parameter
 * parsing, and the output helpers that write IMAP strings.
 */
#ifndef POSTERN_MIME_MIME_PRIV_H
#define POSTERN_MIME_MIME_PRIV_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "mime/mime.h"

/* --- arena.c ----------------------------------------------------------- */

/* A bump allocator: everything it hands out lives until the arena is
 * freed. Memory comes back zeroed; allocation never fails (xalloc). */
struct mime_arena *mime_arena_new(void);
void mime_arena_free(struct mime_arena **arena);
void *mime_arena_alloc(struct mime_arena *arena, size_t size);
/* Returns a NUL-terminated copy of `n` bytes, valid as long as the arena. */
char *mime_arena_strndup(struct mime_arena *arena, const char *s, size_t n);
/* As mime_arena_strndup(), upper-casing ASCII letters. */
char *mime_arena_strndup_upper(struct mime_arena *arena, const char *s,
                               size_t n);

/* --- header.c ---------------------------------------------------------- */

enum mime_hline {
	MIME_HLINE_FIELD, /* "name:" starts a field */
	MIME_HLINE_CONT,  /* starts with white space: folded continuation */
	MIME_HLINE_BLANK, /* empty line: end of the header */
	MIME_HLINE_OTHER, /* anything else: not header syntax */
};

/* Classifies the line starting at `s`, with `avail` bytes to the end of
 * the message. For MIME_HLINE_FIELD, *name_len_r is the field name's
 * length (white space before the colon excluded). */
enum mime_hline mime_hline_classify(const char *s, size_t avail,
                                    size_t *name_len_r);

static inline bool
mime_is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Appends a field value unfolded (RFC 5322 2.2.3) and trimmed of white
 * space and line breaks at both ends. */
void mime_unfold_append(struct buf *out, const char *value, size_t len);

/* RFC 822 comment at s[pos] == '(': returns the offset just past its
 * closing parenthesis (nested comments and quoted-pairs honoured), or
 * `len` if it is never closed. */
size_t mime_skip_comment(const char *s, size_t len, size_t pos);
/* Skips white space, line breaks and comments from `pos`. */
size_t mime_skip_cfws(const char *s, size_t len, size_t pos);

/* --- param.c ----------------------------------------------------------- */

/* RFC 2045 token character. */
bool mime_is_token_char(char c);

/*
 * Parses a Content-Type value "type/subtype *(; param)". Returns false if
 * it is syntactically unusable (RFC 2045 5.2: the caller then assumes the
 * default). Strings go to `arena`; type and subtype are upper case.
 */
bool mime_content_type_parse(struct mime_arena *arena, const char *v,
                             size_t len, unsigned int max_params,
                             const char **type_r, const char **subtype_r,
                             struct mime_param **params_r,
                             unsigned int *count_r);
/* Parses a Content-Disposition value "type *(; param)" (RFC 2183).
 * Returns false if there is no disposition type. */
bool mime_disposition_parse(struct mime_arena *arena, const char *v, size_t len,
                            unsigned int max_params, const char **type_r,
                            struct mime_param **params_r,
                            unsigned int *count_r);
/* First token of a field value (Content-Transfer-Encoding), upper case,
 * or NULL. */
const char *mime_token_parse(struct mime_arena *arena, const char *v,
                             size_t len);

/* --- output (imapstr.c) ------------------------------------------------ */

/* Output buffers in this module never hit their maximum; a failure is a
 * bug. */
#define MIME_OUT_MAX ((size_t)1 << 40)

void mime_out_init(struct buf *out);
void mime_out(struct buf *out, const void *data, size_t len);
void mime_out_str(struct buf *out, const char *s);
/* The bytes of an output buffer; never NULL, even before the first
 * append. */
const char *mime_out_data(const struct buf *out);
/* Appends one byte. */
void mime_out_c(struct buf *out, char c);
/* Appends an unsigned number. */
void mime_out_num(struct buf *out, size_t n);
/* Terminates the buffer and returns its bytes as an owned C string; the
 * buffer is left empty. */
char *mime_out_finish(struct buf *out);

/* Appends an IMAP string: quoted with \" and \\ escapes, or a literal
 * "{n}\r\n" when it holds CR, LF or 8-bit octets. NUL octets, which IMAP
 * cannot carry, are dropped. */
void mime_imap_string(struct buf *out, const char *s, size_t len);
/* As mime_imap_string() for a C string, or NIL for NULL. */
void mime_imap_nstring(struct buf *out, const char *s);

/* envelope.c: appends the ENVELOPE of message node `msg`. */
void mime_envelope_append(struct buf *out, const struct mime_part *msg);

/* rfc2047.c / charset.c helpers */
/* Appends `len` bytes to `out` as UTF-8: valid UTF-8 sequences are kept,
 * every other byte becomes U+FFFD. */
void mime_utf8_sanitize(struct buf *out, const char *s, size_t len);
/* Appends `len` bytes in `charset` converted to UTF-8. Returns false, and
 * appends nothing, if the charset is unknown. */
bool mime_charset_append(struct buf *out, const char *charset, size_t cs_len,
                         const char *in, size_t len);

#endif
