/*
 * mime — the message parser used by the store index and the IMAP server.
 *
 * mime_parse() takes one whole stored message (as kept in Maildir: lines
 * end in LF, CRLF is accepted too) and builds a tree of parts: RFC 5322
 * header, RFC 2045/2046 MIME structure (multipart to a bounded depth,
 * message/rfc822 parts holding their own header and body), RFC 2231
 * parameters. Every node records where its header and body lie in the raw
 * message, and their sizes counted as if every line ended in CRLF, as
 * IMAP reports them (RFC 3501 body-fld-octets, body-fld-lines).
 *
 * From the tree the module builds the IMAP ENVELOPE and BODY/BODYSTRUCTURE
 * strings (RFC 3501 section 7.4.2), finds parts by IMAP part number
 * (RFC 3501 section 6.4.5), looks up header fields and decodes RFC 2047
 * encoded words to UTF-8 for display and search.
 *
 * Broken input never fails: every message yields a best-effort tree, and
 * no input makes the parser read outside [msg, msg + len). Memory and time
 * are bounded by the message size times the nesting bound.
 */
#ifndef POSTERN_MIME_MIME_H
#define POSTERN_MIME_MIME_H

#include <stdbool.h>
#include <stddef.h>

struct mime_arena;

/* Bounds on what one message may make the parser build. */
struct mime_limits {
	/* Nesting of multipart and message/rfc822 parts below the message
	 * itself (the message is depth 0). A container deeper than this is
	 * kept as a single application/octet-stream leaf. Capped at
	 * MIME_DEPTH_CAP. */
	unsigned int max_depth;
	/* Parts in the tree, counting the message and every encapsulated
	 * message. Parts past this are not split out: their bytes stay in
	 * the enclosing multipart, which is flagged MIME_PART_F_LIMITED. */
	unsigned int max_parts;
	/* Raw parameters read from one Content-Type or Content-Disposition
	 * field (RFC 2231 continuation segments count one each). */
	unsigned int max_params;
};

#define MIME_DEPTH_CAP 256

/* 64 levels, 10000 parts, 64 parameters. */
extern const struct mime_limits mime_limits_default;

/* One Content-Type or Content-Disposition parameter, after RFC 2231
 * continuations are joined (RFC 9051 section 7.5.2): the name is upper
 * case; a name ending in '*' holds an RFC 2231 extended value,
 * charset'language'percent-encoded-octets, still encoded (see
 * mime_param_decode()). */
struct mime_param {
	const char *name;
	const char *value;
};

enum mime_part_kind {
	MIME_PART_LEAF,
	/* children are the body parts, in order */
	MIME_PART_MULTIPART,
	/* message/rfc822: the only child is the encapsulated message, whose
	 * header is the part's body up to its blank line */
	MIME_PART_MESSAGE,
};

/* The Content-Type was missing or unusable: RFC 2045 section 5.2 default
 * (text/plain; charset=us-ascii, or message/rfc822 in a digest). */
#define MIME_PART_F_DEFAULT_TYPE 0x01u
/* Made up to give a multipart without any delimiter line one body part:
 * no header of its own, its body is the whole multipart body. */
#define MIME_PART_F_SYNTHETIC 0x02u
/* A limit (depth or part count) stopped the parser from splitting this
 * part further. */
#define MIME_PART_F_LIMITED 0x04u
/* A multipart whose close delimiter never came. */
#define MIME_PART_F_UNCLOSED 0x08u

/*
 * One node of the tree. Read-only for callers. Offsets index the message
 * given to mime_parse(); header_end == body_start always, and the header
 * range includes the blank line that ends it (what IMAP's HEADER and MIME
 * sections return). Sizes count every LF not preceded by CR as two
 * octets. body_lines counts line breaks in the body, plus one for a last
 * line without a line break. For parts of a multipart, the line break
 * before a delimiter line belongs to the delimiter (RFC 2046 5.1.1), so it
 * is not part of the body.
 */
struct mime_part {
	struct mime_part *parent;
	struct mime_part *next;
	struct mime_part *children;
	unsigned int child_count;
	unsigned int depth;
	enum mime_part_kind kind;
	unsigned int flags;

	/* The whole message (borrowed from the mime_parse() caller). */
	const char *msg;
	size_t msg_len;

	size_t header_start;
	size_t header_end;
	size_t body_start;
	size_t body_end;
	size_t header_size;
	size_t body_size;
	size_t body_lines;

	/* Content-Type, upper case ("TEXT", "PLAIN"); never NULL. Text/plain
	 * without a charset gets CHARSET=US-ASCII (RFC 2046 4.1.2). */
	const char *type;
	const char *subtype;
	const struct mime_param *params;
	unsigned int param_count;
	/* Content-Transfer-Encoding, upper case; "7BIT" if absent (RFC 2045
	 * section 6.1). */
	const char *encoding;
	/* Unfolded, trimmed field values, or NULL when the field is absent:
	 * Content-ID, Content-Description, Content-MD5, Content-Language,
	 * Content-Location. */
	const char *id;
	const char *description;
	const char *md5;
	const char *language;
	const char *location;
	/* Content-Disposition type, upper case, or NULL; and parameters. */
	const char *disposition;
	const struct mime_param *disp_params;
	unsigned int disp_param_count;

	/* Set on the root only: owns every node and string. */
	struct mime_arena *arena;
};

/*
 * Parses the message `msg` of `len` bytes with the limits `lim` (NULL:
 * mime_limits_default). Never fails. Returns an owned tree, freed with
 * mime_part_free(). The tree borrows `msg`: it must stay valid and
 * unchanged until the tree is freed.
 */
struct mime_part *mime_parse(const char *msg, size_t len,
                             const struct mime_limits *lim);
/* Frees a tree from mime_parse() (the root only) and clears *root;
 * accepts NULL. */
void mime_part_free(struct mime_part **root);

/*
 * Finds a part by IMAP part number ("1", "2.1.3"; RFC 3501 6.4.5) in the
 * message `root` (the tree's root, or the encapsulated message of a
 * message/rfc822 part). `section` is the numeric part only: the caller
 * splits off HEADER, TEXT, MIME and HEADER.FIELDS. A message that is not
 * multipart has one part, number 1: the message node itself, whose body
 * is BODY[1]. Parts below a message/rfc822 part are numbered as the parts
 * of its encapsulated message. Returns a node of the tree (valid while the
 * tree is), or NULL if there is no such part or the number is malformed
 * (empty, zero, leading zero, not digits and dots).
 *
 * Serving a FETCH: BODY[N] is [body_start, body_end) of the node found;
 * BODY[N.MIME] its [header_start, header_end); BODY[N.HEADER] and
 * BODY[N.TEXT] the header and body of mime_part_message(node); BODY[HEADER]
 * and BODY[TEXT] the header and body of the root.
 */
const struct mime_part *mime_part_find(const struct mime_part *root,
                                       const char *section);
/*
 * The encapsulated message of a message/rfc822 part: the node whose header
 * and body IMAP's "N.HEADER" and "N.TEXT" name. NULL for any other part
 * (RFC 3501 6.4.5: HEADER and TEXT apply to messages only).
 */
const struct mime_part *mime_part_message(const struct mime_part *part);
/* Value of the Content-Type parameter `name` (case-insensitive, as stored:
 * "NAME*" for an RFC 2231 extended one), or NULL. Borrowed from the tree. */
const char *mime_part_param(const struct mime_part *part, const char *name);
/*
 * The file name of a part, decoded to UTF-8: Content-Disposition filename
 * (RFC 2183) or else Content-Type name, RFC 2231 or RFC 2047 encoded or
 * plain. Returns an owned string, or NULL if the part names no file.
 */
char *mime_part_filename(const struct mime_part *part);
/*
 * Decodes one parameter value to UTF-8: RFC 2231 charset'lang'%XX form
 * for extended names (ending in '*'), RFC 2047 encoded words otherwise
 * (some mailers put them in quoted parameters). Returns an owned string.
 */
char *mime_param_decode(const struct mime_param *param);

/* Size of `len` bytes if every LF not preceded by CR were CRLF (RFC 3501
 * RFC822.SIZE). */
size_t mime_crlf_size(const char *s, size_t len);

/* --- header fields (header.c) ------------------------------------------ */

/* One header field, as views into the message. `value` starts after the
 * colon and runs to the end of the field without its last line break;
 * folding is kept. [start, end) is the whole field with its line break. */
struct mime_field {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
	size_t start;
	size_t end;
};

/*
 * Iterates over the header fields of `part` (for a message/rfc822 part
 * this is its MIME header; the encapsulated message's header is that of
 * its child). Set *iter to 0 before the first call. Returns true and fills
 * *field_r, or false after the last field.
 */
bool mime_header_next(const struct mime_part *part, size_t *iter,
                      struct mime_field *field_r);
/* Finds the first field named `name` (case-insensitive). */
bool mime_header_find(const struct mime_part *part, const char *name,
                      struct mime_field *field_r);
/* Returns the owned value of the first field named `name`, unfolded
 * (RFC 5322 2.2.3) and trimmed of surrounding white space, or NULL. */
char *mime_header_get(const struct mime_part *part, const char *name);
/* As mime_header_get(), with RFC 2047 encoded words decoded to UTF-8 (for
 * display and SEARCH SUBJECT and the like). */
char *mime_header_get_decoded(const struct mime_part *part, const char *name);
/* Returns an owned copy of `len` bytes of a field value with folding line
 * breaks removed and surrounding white space trimmed. */
char *mime_header_unfold(const char *value, size_t len);

/* --- RFC 2047 and charsets (rfc2047.c, charset.c) ---------------------- */

/*
 * Decodes RFC 2047 encoded words in an unfolded or folded header value to
 * UTF-8. White space between adjacent encoded words is dropped (RFC 2047
 * section 6.2); adjacent words in the same charset are joined before
 * conversion, so a character split across words survives. Words in a
 * charset postern cannot convert stay as they are. Bytes that are not
 * valid UTF-8 become U+FFFD; CR, LF and NUL become spaces. Returns an
 * owned, NUL-terminated UTF-8 string.
 */
char *mime_rfc2047_decode(const char *s, size_t len);
/*
 * Converts `len` bytes in charset `charset` (a NUL-terminated name,
 * case-insensitive) to UTF-8, invalid input becoming U+FFFD. Returns an
 * owned string and sets *out_len_r, or NULL if the charset is unknown.
 */
char *mime_charset_to_utf8(const char *charset, const char *in, size_t len,
                           size_t *out_len_r);

/* --- addresses (address.c) --------------------------------------------- */

/*
 * One element of an RFC 5322 address list, in the IMAP shape (RFC 3501
 * 7.4.2): a mailbox has mailbox and host set; a group start has only
 * mailbox (the group name); a group end has neither. Strings have RFC 5322
 * quoting removed; encoded words in names are not decoded. A missing
 * domain is reported as ".MISSING-HOST-NAME." (never NIL, which would mean
 * a group).
 */
struct mime_address {
	char *name;
	char *adl;
	char *mailbox;
	char *host;
	struct mime_address *next;
};

/* Parses an address list (a folded field value). Returns an owned list
 * (NULL if it holds no address), freed with mime_address_free(). */
struct mime_address *mime_address_parse(const char *s, size_t len);
/* Frees a list and clears *list; accepts NULL. */
void mime_address_free(struct mime_address **list);

/* --- IMAP strings (envelope.c, bodystructure.c) ------------------------ */

/*
 * Returns the owned IMAP ENVELOPE of `msg` (the root, or a message/rfc822
 * part's child) per RFC 3501 7.4.2: "(date subject from sender reply-to
 * to cc bcc in-reply-to message-id)". Strings are quoted, or literals
 * ("{n}\r\n...") when they hold CR, LF or 8-bit octets.
 */
char *mime_envelope(const struct mime_part *msg);
/*
 * Returns the owned IMAP BODY (`extended` false) or BODYSTRUCTURE
 * (`extended` true, with extension data) of `msg` (the root, or a
 * message/rfc822 part's child), per RFC 3501 7.4.2 and its grammar.
 */
char *mime_bodystructure(const struct mime_part *msg, bool extended);

#endif
