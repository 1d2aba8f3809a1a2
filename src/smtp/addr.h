/*
 * addr — parsers for the arguments of MAIL and RCPT: the reverse- or
 * forward-path (RFC 5321 4.1.2) and the ESMTP parameters that postern
 * knows (SIZE RFC 1870, BODY RFC 6152 / RFC 3030, SMTPUTF8 RFC 6531,
 * RET/ENVID/NOTIFY/ORCPT RFC 3461, AUTH RFC 4954 5); plus the xtext
 * (RFC 3461 4) and domain / address-literal checks they share with HELO.
 *
 * Pure functions: no I/O, no logging, no allocation. Results are copied
 * into fixed, checked arrays in the caller's structs; input is borrowed
 * only for the duration of a call.
 *
 * What is accepted beyond the strict grammar, and why:
 *  - SP after "FROM:" / "TO:" ("MAIL FROM: <a@b>"), which many clients
 *    send; and more than one SP between parameters.
 *  - A source route "@a,@b:" before the mailbox is accepted and dropped
 *    (RFC 5321 4.1.2 and appendix C: servers MUST accept and SHOULD
 *    ignore it).
 *  - A quoted local part is normalised: "john.doe"@x becomes john.doe@x;
 *    otherwise only the quotes, \" and \\ remain ("a b"@x, "a\"b"@x).
 * What is refused although the grammar would allow it:
 *  - A path without angle brackets (RFC 5321 4.1.2 requires them).
 *  - General address literals "[tag:...]": no tag but IPv6 is registered.
 *
 * Replies: every error has exactly one reply line (no CRLF), given by
 * smtp_addr_error_reply():
 *
 *   error                            reply
 *   SMTP_ADDR_ERR_MAIL_SYNTAX        501 5.5.4 Syntax: MAIL FROM:<address>
 *                                              [parameters]
 *   SMTP_ADDR_ERR_RCPT_SYNTAX        501 5.5.4 Syntax: RCPT TO:<address>
 *                                              [parameters]
 *   SMTP_ADDR_ERR_SENDER             501 5.1.7 Bad sender address syntax
 *   SMTP_ADDR_ERR_RECIPIENT          501 5.1.3 Bad recipient address syntax
 *   SMTP_ADDR_ERR_SENDER_TOO_LONG    501 5.1.7 Sender address too long
 *   SMTP_ADDR_ERR_RECIPIENT_TOO_LONG 501 5.1.3 Recipient address too long
 *   SMTP_ADDR_ERR_SENDER_UTF8        553 5.6.7 Non-ASCII addresses not
 *                                              permitted for that sender
 *   SMTP_ADDR_ERR_RECIPIENT_UTF8     553 5.6.7 Non-ASCII addresses not
 *                                              permitted for that recipient
 *   SMTP_ADDR_ERR_PARAM_UNKNOWN      555 5.5.4 Unsupported parameter
 *   SMTP_ADDR_ERR_PARAM_SYNTAX       501 5.5.4 Bad parameter syntax
 *   SMTP_ADDR_ERR_PARAM_VALUE        501 5.5.4 Bad parameter value
 *   SMTP_ADDR_ERR_PARAM_DUPLICATE    501 5.5.4 Duplicate parameter
 *   SMTP_ADDR_ERR_PARAM_TOO_MANY     501 5.5.4 Too many parameters
 *
 * "501 Path too long" is RFC 5321 4.5.3.1.10; 555 for unrecognised
 * parameters is RFC 5321 4.1.1.11; 553 X.6.7 for a non-ASCII address
 * without SMTPUTF8 is RFC 6531 3.5 with RFC 5248. X.1.7 / X.1.3 are RFC
 * 3463's bad sender / bad destination mailbox address syntax.
 */
#ifndef POSTERN_SMTP_ADDR_H
#define POSTERN_SMTP_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 5321 4.5.3.1.1-3: local part, domain, whole path with "<" ">". */
#define SMTP_ADDR_LOCAL_MAX  64
#define SMTP_ADDR_DOMAIN_MAX 255
#define SMTP_ADDR_PATH_MAX   256
/* Parameters on one MAIL or RCPT command (postern's bound). */
#define SMTP_ADDR_PARAMS_MAX 16
/* ENVID: at most 100 characters once decoded (RFC 3461 4.4); as xtext
 * each may take 3. */
#define SMTP_ENVID_MAX       100
#define SMTP_ENVID_XTEXT_MAX (3 * SMTP_ENVID_MAX)
/* ORCPT: the whole value at most 500 characters (RFC 3461 4.2). */
#define SMTP_ORCPT_MAX 500
/* AUTH=: an xtext addr-spec or "<>" (RFC 4954 5); postern's bound. */
#define SMTP_AUTH_PARAM_MAX 500

/* Flags for smtp_domain_is_valid(). */
enum smtp_domain_flags {
	/* Allow "_" in labels (tolerated in HELO/EHLO names). */
	SMTP_DOMAIN_ALLOW_UNDERSCORE = 1 << 0,
	/* Allow UTF-8 U-labels (SMTPUTF8, RFC 6531 3.3). */
	SMTP_DOMAIN_ALLOW_UTF8 = 1 << 1,
};

enum smtp_addr_error {
	SMTP_ADDR_OK = 0,
	SMTP_ADDR_ERR_MAIL_SYNTAX,
	SMTP_ADDR_ERR_RCPT_SYNTAX,
	SMTP_ADDR_ERR_SENDER,
	SMTP_ADDR_ERR_RECIPIENT,
	SMTP_ADDR_ERR_SENDER_TOO_LONG,
	SMTP_ADDR_ERR_RECIPIENT_TOO_LONG,
	SMTP_ADDR_ERR_SENDER_UTF8,
	SMTP_ADDR_ERR_RECIPIENT_UTF8,
	SMTP_ADDR_ERR_PARAM_UNKNOWN,
	SMTP_ADDR_ERR_PARAM_SYNTAX,
	SMTP_ADDR_ERR_PARAM_VALUE,
	SMTP_ADDR_ERR_PARAM_DUPLICATE,
	SMTP_ADDR_ERR_PARAM_TOO_MANY,
};

/* A parsed reverse- or forward-path. All strings are NUL-terminated. */
struct smtp_path {
	/* Local part, case kept (RFC 5321 2.4). Dot-string form, or quoted
	 * form "..." with only \" and \\ escaped when it cannot be a
	 * Dot-string. Empty for the null path. "postmaster" for
	 * <Postmaster>. */
	char local[SMTP_ADDR_LOCAL_MAX + 1];
	/* Domain in lower case (ASCII letters only), or an address literal
	 * with its brackets ("[192.0.2.1]", "[IPv6:2001:db8::1]"). Empty
	 * for the null path and for <Postmaster>. */
	char domain[SMTP_ADDR_DOMAIN_MAX + 1];
	bool is_null;       /* MAIL FROM:<> */
	bool is_postmaster; /* RCPT TO:<Postmaster>, no domain */
	bool is_quoted;     /* local keeps the quoted form */
	bool is_literal;    /* domain is an address literal */
	bool has_utf8;      /* non-ASCII in local part or domain */
};

enum smtp_body {
	SMTP_BODY_NONE, /* no BODY parameter */
	SMTP_BODY_7BIT,
	SMTP_BODY_8BITMIME,   /* RFC 6152 */
	SMTP_BODY_BINARYMIME, /* RFC 3030 3 */
};

enum smtp_ret {
	SMTP_RET_NONE, /* no RET parameter */
	SMTP_RET_FULL,
	SMTP_RET_HDRS,
};

/* NOTIFY bits (RFC 3461 4.1); 0 means no NOTIFY parameter. */
#define SMTP_NOTIFY_NEVER   (1u << 0)
#define SMTP_NOTIFY_SUCCESS (1u << 1)
#define SMTP_NOTIFY_FAILURE (1u << 2)
#define SMTP_NOTIFY_DELAY   (1u << 3)

struct smtp_mail_args {
	struct smtp_path path;
	bool has_size;
	uint64_t size; /* SIZE=, octets (RFC 1870) */
	enum smtp_body body;
	bool smtputf8;
	enum smtp_ret ret;
	/* ENVID= as sent: valid xtext, decoded length <= SMTP_ENVID_MAX,
	 * printable ASCII once decoded. Empty if not given. */
	bool has_envid;
	char envid[SMTP_ENVID_XTEXT_MAX + 1];
	/* AUTH= as sent: valid xtext ("<>" or an encoded addr-spec),
	 * accepted and kept (RFC 4954 5). Empty if not given. */
	bool has_auth;
	char auth[SMTP_AUTH_PARAM_MAX + 1];
};

struct smtp_rcpt_args {
	struct smtp_path path;
	unsigned notify; /* SMTP_NOTIFY_* bits */
	/* ORCPT= as sent, "addr-type;xtext"; orcpt_type_len is the length
	 * of addr-type (the ";" is at orcpt[orcpt_type_len]). */
	bool has_orcpt;
	size_t orcpt_type_len;
	char orcpt[SMTP_ORCPT_MAX + 1];
};

/*
 * Parses the argument of MAIL (everything after "MAIL "):
 * "FROM:" Reverse-path [SP Mail-parameters] (RFC 5321 4.1.1.2), "FROM:"
 * case-insensitive. Non-ASCII in the path is accepted only if the same
 * command carries SMTPUTF8 (RFC 6531 3.4).
 * Returns 0 with *r filled, or -1 with *err_r set (and *r undefined).
 */
int smtp_parse_mail(const char *arg, size_t len, struct smtp_mail_args *r,
                    enum smtp_addr_error *err_r)
        __attribute__((warn_unused_result));

/*
 * Parses the argument of RCPT: "TO:" ( "<Postmaster@" Domain ">" /
 * "<Postmaster>" / Forward-path ) [SP Rcpt-parameters] (RFC 5321 4.1.1.3).
 * `smtputf8` says whether the transaction's MAIL carried SMTPUTF8; only
 * then may the path (and ORCPT) hold non-ASCII.
 * Returns 0 with *r filled, or -1 with *err_r set (and *r undefined).
 */
int smtp_parse_rcpt(const char *arg, size_t len, bool smtputf8,
                    struct smtp_rcpt_args *r, enum smtp_addr_error *err_r)
        __attribute__((warn_unused_result));

/* Returns the reply line for `err` (see the table above): a static string
 * without CRLF. SMTP_ADDR_OK gives "250 2.1.0 OK". */
const char *smtp_addr_error_reply(enum smtp_addr_error err);

/*
 * Writes "local@domain" (or "" for the null path, "postmaster" for
 * <Postmaster>) into dst of dstsz bytes, NUL-terminated. A buffer of
 * SMTP_ADDR_PATH_MAX + 1 always suffices. Returns the length written, or
 * -1 (dst set to "") if it does not fit.
 */
int smtp_path_format(const struct smtp_path *path, char *dst, size_t dstsz)
        __attribute__((warn_unused_result));

/* True if the `len` bytes are valid xtext (RFC 3461 4): "!".."~" except
 * "+" and "=", and "+" followed by two upper-case hex digits. */
bool smtp_xtext_is_valid(const char *s, size_t len);

/*
 * Decodes xtext into dst of dstsz bytes and NUL-terminates it (the result
 * may itself hold NUL bytes from "+00"; *len_r counts them). Returns 0, or
 * -1 if the input is not valid xtext or the result (plus NUL) does not fit.
 */
int smtp_xtext_decode(const char *s, size_t len, char *dst, size_t dstsz,
                      size_t *len_r) __attribute__((warn_unused_result));

/* True if the `len` bytes are a Domain (RFC 5321 4.1.2): dot-separated
 * labels of letters, digits and inner hyphens, each 1..63 octets, at most
 * SMTP_ADDR_DOMAIN_MAX in all; `flags` (smtp_domain_flags) widen it. */
bool smtp_domain_is_valid(const char *s, size_t len, unsigned flags);

/* True if the `len` bytes are an address-literal with its brackets: an
 * IPv4 dotted quad or "IPv6:" and an IPv6 address (RFC 5321 4.1.3). */
bool smtp_addr_literal_is_valid(const char *s, size_t len);

#endif
