/*
 * addr — MAIL FROM / RCPT TO argument parsing, run by the smtp role for
 * every MAIL and RCPT command.
 *
 * Shape of a parse: check "FROM:" / "TO:", find the path's closing ">"
 * (skipping quoted strings), look whether SMTPUTF8 is among the parameters
 * (it decides whether the path may hold UTF-8), parse the path, then the
 * parameters left to right. The first error wins.
 *
 * Invariants: nothing here reads outside the caller's bytes; every copy
 * into a fixed field is bounded by a limit checked before it.
 */
#include "smtp/addr.h"

#include <arpa/inet.h>
#include <string.h>

#include "core/str.h"

/* Internal outcome of the path parser, mapped to sender or recipient
 * errors by the caller. */
enum smtp_path_result {
	SMTP_PATH_OK,
	SMTP_PATH_SYNTAX,
	SMTP_PATH_TOO_LONG,
	SMTP_PATH_UTF8,
};

/* What a path may be, beyond a plain Mailbox. */
enum smtp_path_flags {
	SMTP_PATH_ALLOW_NULL = 1 << 0,       /* "<>" (MAIL) */
	SMTP_PATH_ALLOW_POSTMASTER = 1 << 1, /* "<Postmaster>" (RCPT) */
	SMTP_PATH_ALLOW_UTF8 = 1 << 2,       /* SMTPUTF8 in effect */
};

/* ---- character classes ------------------------------------------------ */

static bool
smtp_is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
smtp_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool
smtp_is_upper_hex(unsigned char c)
{
	return smtp_is_digit(c) || (c >= 'A' && c <= 'F');
}

/* atext (RFC 5322 3.2.3, used by RFC 5321 4.1.2 Atom), ASCII part. */
static bool
smtp_is_atext(unsigned char c)
{
	return smtp_is_alpha(c) || smtp_is_digit(c) ||
	       (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* qtextSMTP = %d32-33 / %d35-91 / %d93-126 (RFC 5321 4.1.2). */
static bool
smtp_is_qtext(unsigned char c)
{
	return c >= 32 && c <= 126 && c != '"' && c != '\\';
}

/*
 * Length of the well-formed UTF-8 sequence starting at s (which holds
 * `avail` > 0 bytes and s[0] >= 0x80), or 0 if it is not one: no overlong
 * forms, no surrogates, nothing above U+10FFFF (RFC 3629 4).
 */
static size_t
smtp_utf8_len(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (avail < n)
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++) {
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	}
	return n;
}

/* True if any octet of the view is 8-bit. */
static bool
smtp_has_8bit(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)s[i] >= 0x80)
			return true;
	}
	return false;
}

/* ---- domains and address literals ------------------------------------- */

bool
smtp_domain_is_valid(const char *s, size_t len, unsigned flags)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, label_start = 0;
	bool last_hyphen = false;

	/* Domain = sub-domain *("." sub-domain); sub-domain = Let-dig
	 * [Ldh-str]; Ldh-str = *( ALPHA / DIGIT / "-" ) Let-dig (RFC 5321
	 * 4.1.2), U-labels under SMTPUTF8 (RFC 6531 3.3). Labels of at most
	 * 63 octets (RFC 1035 2.3.4). */
	if (len == 0 || len > SMTP_ADDR_DOMAIN_MAX)
		return false;
	while (i < len) {
		unsigned char c = p[i];

		if (c == '.') {
			if (i == label_start || last_hyphen)
				return false;
			label_start = i + 1;
			i++;
			continue;
		}
		if (c >= 0x80) {
			size_t n;

			if ((flags & SMTP_DOMAIN_ALLOW_UTF8) == 0)
				return false;
			n = smtp_utf8_len(p + i, len - i);
			if (n == 0)
				return false;
			i += n;
			last_hyphen = false;
		} else if (smtp_is_alpha(c) || smtp_is_digit(c) ||
		           (c == '_' &&
		            (flags & SMTP_DOMAIN_ALLOW_UNDERSCORE) != 0)) {
			i++;
			last_hyphen = false;
		} else if (c == '-' && i != label_start) {
			i++;
			last_hyphen = true;
		} else {
			return false;
		}
		if (i - label_start > 63)
			return false;
	}
	/* No empty last label (so no trailing dot) and no trailing "-". */
	return i != label_start && !last_hyphen;
}

/* IPv4-address-literal = Snum 3("." Snum); Snum = 1*3DIGIT, 0..255. */
static bool
smtp_ipv4_is_valid(const char *s, size_t len)
{
	size_t i = 0;

	for (int part = 0; part < 4; part++) {
		size_t start = i;
		uint64_t v;

		while (i < len && i - start < 3 &&
		       smtp_is_digit((unsigned char)s[i]))
			i++;
		if (str_parse_u64(s + start, i - start, 255, &v) < 0)
			return false;
		if (part < 3) {
			if (i >= len || s[i] != '.')
				return false;
			i++;
		}
	}
	return i == len;
}

bool
smtp_addr_literal_is_valid(const char *s, size_t len)
{
	/* Long enough for any textual IPv6 address plus its NUL. */
	char tmp[64];
	struct in6_addr a6;

	if (len < 3 || s[0] != '[' || s[len - 1] != ']')
		return false;
	s++;
	len -= 2;
	if (str_has_prefix_ci(s, len, "IPv6:")) {
		/* IPv6-addr in all four forms of RFC 5321 4.1.3 is what the
		 * libc's inet_pton accepts; it reads a NUL-terminated copy. */
		s += 5;
		len -= 5;
		if (len == 0 || len >= sizeof(tmp))
			return false;
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)s[i];

			if (!smtp_is_digit(c) && c != ':' && c != '.' &&
			    !((c | 0x20) >= 'a' && (c | 0x20) <= 'f'))
				return false;
		}
		memcpy(tmp, s, len);
		tmp[len] = '\0';
		return inet_pton(AF_INET6, tmp, &a6) == 1;
	}
	/* General-address-literal ("tag:content") has no registered tag
	 * other than IPv6, so anything else must be IPv4. */
	return smtp_ipv4_is_valid(s, len);
}

/* Stores a domain or address literal (already validated) in lower case;
 * an IPv6 literal keeps its tag spelled "IPv6:". */
static void
smtp_domain_store(char *dst, const char *s, size_t len, bool is_literal)
{
	memcpy(dst, s, len);
	dst[len] = '\0';
	str_lower(dst);
	if (is_literal && len > 6 &&
	    str_has_prefix_ci(dst + 1, len - 1, "IPv6:"))
		memcpy(dst + 1, "IPv6:", 5);
}

/* ---- paths ------------------------------------------------------------ */

/*
 * Finds the ">" closing the path that starts with "<" at s[0], skipping
 * quoted strings and their quoted pairs. Returns the index after ">", or
 * 0 if there is none.
 */
static size_t
smtp_path_end(const char *s, size_t len)
{
	bool quoted = false;

	for (size_t i = 1; i < len; i++) {
		if (quoted) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				quoted = false;
		} else if (s[i] == '"') {
			quoted = true;
		} else if (s[i] == '>') {
			return i + 1;
		}
	}
	return 0;
}

/* A-d-l = At-domain *( "," At-domain ) ":" ; At-domain = "@" Domain
 * (RFC 5321 4.1.2). Returns the index after ":" or 0 if malformed. */
static size_t
smtp_path_skip_route(const char *s, size_t len, unsigned dflags)
{
	size_t i = 0;

	for (;;) {
		size_t start;

		if (i >= len || s[i] != '@')
			return 0;
		start = ++i;
		while (i < len && s[i] != ',' && s[i] != ':')
			i++;
		if (i >= len ||
		    !smtp_domain_is_valid(s + start, i - start, dflags))
			return 0;
		if (s[i++] == ':')
			return i;
	}
}

/*
 * Scans a Quoted-string local part at s[0] == '"' (RFC 5321 4.1.2,
 * qtextSMTP plus UTF-8 per RFC 6531 3.3). Returns the index after the
 * closing quote, or 0 if malformed. If `content` is not NULL the decoded
 * content is stored there; it is never longer than the returned index
 * minus 2, which the caller makes sure fits.
 */
static size_t
smtp_local_quoted(const char *s, size_t len, char *content, size_t *clen_r)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 1, n = 0, u;

	while (i < len) {
		unsigned char c = p[i];

		if (c == '"') {
			*clen_r = n;
			return i + 1;
		}
		if (c == '\\') {
			/* quoted-pairSMTP = %d92 %d32-126 */
			if (i + 1 >= len || p[i + 1] < 32 || p[i + 1] > 126)
				return 0;
			i++;
			u = 1;
		} else if (c >= 0x80) {
			u = smtp_utf8_len(p + i, len - i);
			if (u == 0)
				return 0;
		} else if (smtp_is_qtext(c)) {
			u = 1;
		} else {
			return 0;
		}
		if (content != NULL)
			memcpy(content + n, p + i, u);
		n += u;
		i += u;
	}
	return 0;
}

/* Length of the Dot-string at the start of s: Atom *("." Atom), atext
 * plus UTF-8 (RFC 6531 3.3). 0 if there is none or it ends on a dot or
 * holds malformed UTF-8. */
static size_t
smtp_dot_string_len(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	bool atom_empty = true;

	while (i < len) {
		unsigned char c = p[i];

		if (c == '.') {
			if (atom_empty)
				return 0;
			atom_empty = true;
			i++;
		} else if (c >= 0x80) {
			size_t u = smtp_utf8_len(p + i, len - i);

			if (u == 0)
				return 0;
			i += u;
			atom_empty = false;
		} else if (smtp_is_atext(c)) {
			i++;
			atom_empty = false;
		} else {
			break;
		}
	}
	return atom_empty ? 0 : i;
}

/* Writes the normalised quoted form of `content` into local[]: the bare
 * Dot-string if it is one, else quotes with \" and \\ escaped. The result
 * is never longer than the quoted string it came from. */
static void
smtp_local_store_quoted(struct smtp_path *path, const char *content,
                        size_t clen)
{
	size_t n = 0;

	/* clen < the quoted length, which the caller bounded to
	 * SMTP_ADDR_LOCAL_MAX. */
	if (clen >= sizeof(path->local))
		return;
	if (clen > 0 && smtp_dot_string_len(content, clen) == clen) {
		memcpy(path->local, content, clen);
		path->local[clen] = '\0';
		return;
	}
	path->is_quoted = true;
	path->local[n++] = '"';
	for (size_t i = 0; i < clen; i++) {
		if (content[i] == '"' || content[i] == '\\')
			path->local[n++] = '\\';
		path->local[n++] = content[i];
	}
	path->local[n++] = '"';
	path->local[n] = '\0';
}

/* Parses Local-part at the start of s into path->local. Returns its length
 * in the input, or 0 if malformed; *too_long_r set when it is well-formed
 * but longer than SMTP_ADDR_LOCAL_MAX octets as sent (RFC 5321
 * 4.5.3.1.1). */
static size_t
smtp_local_parse(const char *s, size_t len, struct smtp_path *path,
                 bool *too_long_r)
{
	char content[SMTP_ADDR_LOCAL_MAX];
	size_t n, clen;

	*too_long_r = false;
	if (len > 0 && s[0] == '"') {
		/* Check and measure first, decode once it is known to fit. */
		n = smtp_local_quoted(s, len, NULL, &clen);
		if (n == 0)
			return 0;
		if (n > SMTP_ADDR_LOCAL_MAX) {
			*too_long_r = true;
			return 0;
		}
		(void)smtp_local_quoted(s, n, content, &clen);
		smtp_local_store_quoted(path, content, clen);
		return n;
	}
	n = smtp_dot_string_len(s, len);
	if (n == 0)
		return 0;
	if (n > SMTP_ADDR_LOCAL_MAX) {
		*too_long_r = true;
		return 0;
	}
	memcpy(path->local, s, n);
	path->local[n] = '\0';
	return n;
}

/*
 * Parses the text between "<" and ">" of a path into *path.
 */
static enum smtp_path_result
smtp_path_parse(const char *s, size_t len, unsigned flags,
                struct smtp_path *path)
{
	unsigned dflags = SMTP_DOMAIN_ALLOW_UTF8;
	size_t i = 0, n;
	bool too_long;

	memset(path, 0, sizeof(*path));
	/* Path length counts "<" and ">" (RFC 5321 4.5.3.1.3). */
	if (len + 2 > SMTP_ADDR_PATH_MAX)
		return SMTP_PATH_TOO_LONG;
	if (len == 0) {
		if ((flags & SMTP_PATH_ALLOW_NULL) == 0)
			return SMTP_PATH_SYNTAX;
		path->is_null = true;
		return SMTP_PATH_OK;
	}
	/* RCPT TO:<Postmaster> with no domain (RFC 5321 4.1.1.3), any
	 * case. */
	if ((flags & SMTP_PATH_ALLOW_POSTMASTER) != 0 &&
	    str_eq_ci(s, len, "postmaster")) {
		path->is_postmaster = true;
		memcpy(path->local, "postmaster", sizeof("postmaster"));
		return SMTP_PATH_OK;
	}
	/* Source route: accepted, checked, dropped (RFC 5321 4.1.2, C). */
	if (s[0] == '@') {
		i = smtp_path_skip_route(s, len, dflags);
		if (i == 0)
			return SMTP_PATH_SYNTAX;
	}
	/* Mailbox = Local-part "@" ( Domain / address-literal ) */
	n = smtp_local_parse(s + i, len - i, path, &too_long);
	if (n == 0)
		return too_long ? SMTP_PATH_TOO_LONG : SMTP_PATH_SYNTAX;
	i += n;
	if (i >= len || s[i] != '@')
		return SMTP_PATH_SYNTAX;
	i++;
	n = len - i;
	if (n > SMTP_ADDR_DOMAIN_MAX)
		return SMTP_PATH_TOO_LONG;
	if (n > 0 && s[i] == '[') {
		if (!smtp_addr_literal_is_valid(s + i, n))
			return SMTP_PATH_SYNTAX;
		path->is_literal = true;
	} else if (!smtp_domain_is_valid(s + i, n, dflags)) {
		return SMTP_PATH_SYNTAX;
	}
	smtp_domain_store(path->domain, s + i, n, path->is_literal);

	/* Well-formed UTF-8 is syntax; whether it is allowed depends on
	 * SMTPUTF8 (RFC 6531 3.4). */
	path->has_utf8 = smtp_has_8bit(s, len);
	if (path->has_utf8 && (flags & SMTP_PATH_ALLOW_UTF8) == 0)
		return SMTP_PATH_UTF8;
	return SMTP_PATH_OK;
}

int
smtp_path_format(const struct smtp_path *path, char *dst, size_t dstsz)
{
	size_t llen = strlen(path->local), dlen = strlen(path->domain);
	size_t need = llen + (dlen > 0 ? 1 + dlen : 0);

	if (dstsz == 0)
		return -1;
	if (path->is_null || need >= dstsz) {
		dst[0] = '\0';
		return path->is_null ? 0 : -1;
	}
	memcpy(dst, path->local, llen);
	if (dlen > 0) {
		dst[llen] = '@';
		memcpy(dst + llen + 1, path->domain, dlen);
	}
	dst[need] = '\0';
	return (int)need;
}

/* ---- xtext ------------------------------------------------------------ */

bool
smtp_xtext_is_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;

	/* xtext = *( xchar / hexchar ); xchar = "!".."~" except "+" and
	 * "="; hexchar = "+" 2(upper-case HEXDIG) (RFC 3461 4). */
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '+') {
			if (len - i < 3)
				return false;
			if (!smtp_is_upper_hex(p[i + 1]) ||
			    !smtp_is_upper_hex(p[i + 2]))
				return false;
			i += 2;
		} else if (p[i] < '!' || p[i] > '~' || p[i] == '=') {
			return false;
		}
	}
	return true;
}

int
smtp_xtext_decode(const char *s, size_t len, char *dst, size_t dstsz,
                  size_t *len_r)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;

	if (!smtp_xtext_is_valid(s, len))
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];

		if (c == '+') {
			/* Both are upper-case hex: checked above. */
			c = (unsigned char)(str_hex_value((char)p[i + 1]) << 4 |
			                    str_hex_value((char)p[i + 2]));
			i += 2;
		}
		if (n + 1 >= dstsz)
			return -1;
		dst[n++] = (char)c;
	}
	if (dstsz == 0)
		return -1;
	dst[n] = '\0';
	*len_r = n;
	return 0;
}

/* ---- parameters ------------------------------------------------------- */

/* One esmtp-param split into views; value NULL when there is no "=". */
struct smtp_param {
	const char *key;
	size_t key_len;
	const char *value;
	size_t value_len;
};

/* Parameter keywords postern knows, one bit each for duplicates. */
enum smtp_param_id {
	SMTP_PARAM_SIZE,
	SMTP_PARAM_BODY,
	SMTP_PARAM_SMTPUTF8,
	SMTP_PARAM_RET,
	SMTP_PARAM_ENVID,
	SMTP_PARAM_AUTH,
	SMTP_PARAM_NOTIFY,
	SMTP_PARAM_ORCPT,
};

/*
 * Splits one esmtp-param: esmtp-keyword ["=" esmtp-value], keyword =
 * (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"), value = 1*(%d33-60 / %d62-126)
 * (RFC 5321 4.1.2), plus UTF-8 when `utf8` (RFC 6531 3.3). Returns 0 or -1.
 */
static int
smtp_param_split(const char *s, size_t len, bool utf8, struct smtp_param *p)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	memset(p, 0, sizeof(*p));
	while (i < len && s[i] != '=') {
		if (!smtp_is_alpha(u[i]) && !smtp_is_digit(u[i]) &&
		    (i == 0 || s[i] != '-'))
			return -1;
		i++;
	}
	if (i == 0)
		return -1;
	p->key = s;
	p->key_len = i;
	if (i == len)
		return 0;
	p->value = s + i + 1;
	p->value_len = len - i - 1;
	if (p->value_len == 0)
		return -1;
	for (i = 0; i < p->value_len; i++) {
		const unsigned char *v = (const unsigned char *)p->value;

		if (v[i] >= 0x80) {
			size_t n = utf8 ? smtp_utf8_len(v + i, p->value_len - i)
			                : 0;

			if (n == 0)
				return -1;
			i += n - 1;
		} else if (v[i] < 33 || v[i] > 126 || v[i] == '=') {
			return -1;
		}
	}
	return 0;
}

/* Copies a parameter value into a fixed field of dstsz bytes; -1 if too
 * long. */
static int
smtp_param_copy(char *dst, size_t dstsz, const struct smtp_param *p)
{
	if (p->value_len >= dstsz)
		return -1;
	memcpy(dst, p->value, p->value_len);
	dst[p->value_len] = '\0';
	return 0;
}

/* True if the decoded xtext is 1..max printable ASCII characters. */
static bool
smtp_xtext_is_printable(const struct smtp_param *p, size_t max)
{
	char tmp[SMTP_ENVID_XTEXT_MAX + 1];
	size_t n;

	if (p->value_len > SMTP_ENVID_XTEXT_MAX ||
	    smtp_xtext_decode(p->value, p->value_len, tmp, sizeof(tmp), &n) < 0)
		return false;
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (tmp[i] < 32 || tmp[i] > 126)
			return false;
	}
	return true;
}

static enum smtp_addr_error
smtp_mail_param(struct smtp_mail_args *r, enum smtp_param_id id,
                const struct smtp_param *p)
{
	/* Only SMTPUTF8 takes no value (RFC 6531 3.4). */
	if ((p->value == NULL) != (id == SMTP_PARAM_SMTPUTF8))
		return SMTP_ADDR_ERR_PARAM_SYNTAX;
	switch (id) {
	case SMTP_PARAM_SIZE:
		/* size-value = 1*20DIGIT (RFC 1870 6) */
		if (str_parse_u64(p->value, p->value_len, UINT64_MAX,
		                  &r->size) < 0)
			return SMTP_ADDR_ERR_PARAM_VALUE;
		r->has_size = true;
		return SMTP_ADDR_OK;
	case SMTP_PARAM_BODY:
		if (str_eq_ci(p->value, p->value_len, "7BIT"))
			r->body = SMTP_BODY_7BIT;
		else if (str_eq_ci(p->value, p->value_len, "8BITMIME"))
			r->body = SMTP_BODY_8BITMIME;
		else if (str_eq_ci(p->value, p->value_len, "BINARYMIME"))
			r->body = SMTP_BODY_BINARYMIME;
		else
			return SMTP_ADDR_ERR_PARAM_VALUE;
		return SMTP_ADDR_OK;
	case SMTP_PARAM_SMTPUTF8:
		r->smtputf8 = true;
		return SMTP_ADDR_OK;
	case SMTP_PARAM_RET:
		/* RET=FULL / HDRS (RFC 3461 4.3) */
		if (str_eq_ci(p->value, p->value_len, "FULL"))
			r->ret = SMTP_RET_FULL;
		else if (str_eq_ci(p->value, p->value_len, "HDRS"))
			r->ret = SMTP_RET_HDRS;
		else
			return SMTP_ADDR_ERR_PARAM_VALUE;
		return SMTP_ADDR_OK;
	case SMTP_PARAM_ENVID:
		/* ENVID=xtext, printable ASCII, <= 100 characters (RFC 3461
		 * 4.4). Kept encoded, as it is relayed. */
		if (!smtp_xtext_is_printable(p, SMTP_ENVID_MAX) ||
		    smtp_param_copy(r->envid, sizeof(r->envid), p) < 0)
			return SMTP_ADDR_ERR_PARAM_VALUE;
		r->has_envid = true;
		return SMTP_ADDR_OK;
	case SMTP_PARAM_AUTH:
		/* AUTH=xtext: "<>" or an encoded addr-spec (RFC 4954 5). */
		if (!smtp_xtext_is_valid(p->value, p->value_len) ||
		    smtp_param_copy(r->auth, sizeof(r->auth), p) < 0)
			return SMTP_ADDR_ERR_PARAM_VALUE;
		r->has_auth = true;
		return SMTP_ADDR_OK;
	case SMTP_PARAM_NOTIFY:
	case SMTP_PARAM_ORCPT:
		break;
	}
	return SMTP_ADDR_ERR_PARAM_UNKNOWN;
}

/* NOTIFY="NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" ) (RFC 3461 4.1). */
static int
smtp_notify_parse(const char *s, size_t len, unsigned *notify_r)
{
	unsigned bits = 0;
	size_t i = 0;

	if (str_eq_ci(s, len, "NEVER")) {
		*notify_r = SMTP_NOTIFY_NEVER;
		return 0;
	}
	while (i <= len) {
		size_t start = i;

		while (i < len && s[i] != ',')
			i++;
		if (str_eq_ci(s + start, i - start, "SUCCESS"))
			bits |= SMTP_NOTIFY_SUCCESS;
		else if (str_eq_ci(s + start, i - start, "FAILURE"))
			bits |= SMTP_NOTIFY_FAILURE;
		else if (str_eq_ci(s + start, i - start, "DELAY"))
			bits |= SMTP_NOTIFY_DELAY;
		else
			return -1; /* also NEVER in a list, or empty */
		i++;
	}
	*notify_r = bits;
	return 0;
}

/*
 * ORCPT=addr-type ";" xtext (RFC 3461 4.2), at most 500 characters;
 * addr-type = atom. For addr-type "utf-8" the address may be RFC 6533's
 * utf-8-addr-xtext or, under SMTPUTF8, utf-8-addr-unitext: any value the
 * esmtp-value syntax let through is kept as sent.
 */
static int
smtp_orcpt_parse(struct smtp_rcpt_args *r, const struct smtp_param *p)
{
	const char *semi = memchr(p->value, ';', p->value_len);
	size_t tlen, alen;

	if (semi == NULL || p->value_len > SMTP_ORCPT_MAX)
		return -1;
	tlen = (size_t)(semi - p->value);
	alen = p->value_len - tlen - 1;
	if (tlen == 0 || alen == 0)
		return -1;
	for (size_t i = 0; i < tlen; i++) {
		if (!smtp_is_atext((unsigned char)p->value[i]))
			return -1;
	}
	if (!str_eq_ci(p->value, tlen, "utf-8") &&
	    !smtp_xtext_is_valid(semi + 1, alen))
		return -1;
	if (smtp_param_copy(r->orcpt, sizeof(r->orcpt), p) < 0)
		return -1;
	r->orcpt_type_len = tlen;
	r->has_orcpt = true;
	return 0;
}

static enum smtp_addr_error
smtp_rcpt_param(struct smtp_rcpt_args *r, enum smtp_param_id id,
                const struct smtp_param *p)
{
	if (p->value == NULL)
		return SMTP_ADDR_ERR_PARAM_SYNTAX;
	switch (id) {
	case SMTP_PARAM_NOTIFY:
		if (smtp_notify_parse(p->value, p->value_len, &r->notify) < 0)
			return SMTP_ADDR_ERR_PARAM_VALUE;
		return SMTP_ADDR_OK;
	case SMTP_PARAM_ORCPT:
		if (smtp_orcpt_parse(r, p) < 0)
			return SMTP_ADDR_ERR_PARAM_VALUE;
		return SMTP_ADDR_OK;
	default:
		break;
	}
	return SMTP_ADDR_ERR_PARAM_UNKNOWN;
}

struct smtp_param_def {
	const char *name;
	enum smtp_param_id id;
	bool mail; /* MAIL parameter, else RCPT */
};

static const struct smtp_param_def smtp_params[] = {
        {"SIZE", SMTP_PARAM_SIZE, true},
        {"BODY", SMTP_PARAM_BODY, true},
        {"SMTPUTF8", SMTP_PARAM_SMTPUTF8, true},
        {"RET", SMTP_PARAM_RET, true},
        {"ENVID", SMTP_PARAM_ENVID, true},
        {"AUTH", SMTP_PARAM_AUTH, true},
        {"NOTIFY", SMTP_PARAM_NOTIFY, false},
        {"ORCPT", SMTP_PARAM_ORCPT, false},
};

static const struct smtp_param_def *
smtp_param_lookup(const struct smtp_param *p, bool mail)
{
	for (size_t i = 0; i < sizeof(smtp_params) / sizeof(smtp_params[0]);
	     i++) {
		if (smtp_params[i].mail == mail &&
		    str_eq_ci(p->key, p->key_len, smtp_params[i].name))
			return &smtp_params[i];
	}
	return NULL;
}

/* Returns the next SP-separated token of [*pos, len) and advances *pos;
 * false when there is none left. */
static bool
smtp_next_token(const char *s, size_t len, size_t *pos, const char **tok_r,
                size_t *tok_len_r)
{
	size_t i = *pos, start;

	while (i < len && s[i] == ' ')
		i++;
	if (i >= len)
		return false;
	start = i;
	while (i < len && s[i] != ' ')
		i++;
	*tok_r = s + start;
	*tok_len_r = i - start;
	*pos = i;
	return true;
}

/* True if one of the parameters is exactly the keyword SMTPUTF8. */
static bool
smtp_params_have_smtputf8(const char *s, size_t len)
{
	const char *tok;
	size_t pos = 0, tlen;

	while (smtp_next_token(s, len, &pos, &tok, &tlen)) {
		if (str_eq_ci(tok, tlen, "SMTPUTF8"))
			return true;
	}
	return false;
}

/* Parses Mail-parameters or Rcpt-parameters; `args` is the struct the
 * parameter handlers fill. */
static enum smtp_addr_error
smtp_params_parse(const char *s, size_t len, bool mail, bool utf8, void *args)
{
	unsigned seen = 0, count = 0;
	const char *tok;
	size_t pos = 0, tlen;

	/* The bound comes before any other judgement of the list. */
	while (smtp_next_token(s, len, &pos, &tok, &tlen)) {
		if (++count > SMTP_ADDR_PARAMS_MAX)
			return SMTP_ADDR_ERR_PARAM_TOO_MANY;
	}
	pos = 0;
	while (smtp_next_token(s, len, &pos, &tok, &tlen)) {
		const struct smtp_param_def *def;
		struct smtp_param p;
		enum smtp_addr_error err;

		if (smtp_param_split(tok, tlen, utf8, &p) < 0)
			return SMTP_ADDR_ERR_PARAM_SYNTAX;
		def = smtp_param_lookup(&p, mail);
		if (def == NULL)
			return SMTP_ADDR_ERR_PARAM_UNKNOWN;
		if ((seen & (1u << def->id)) != 0)
			return SMTP_ADDR_ERR_PARAM_DUPLICATE;
		seen |= 1u << def->id;
		err = mail ? smtp_mail_param(args, def->id, &p)
		           : smtp_rcpt_param(args, def->id, &p);
		if (err != SMTP_ADDR_OK)
			return err;
	}
	return SMTP_ADDR_OK;
}

/* ---- MAIL and RCPT ---------------------------------------------------- */

/*
 * Splits `arg` after the prefix into the path's inside and the parameter
 * text. Returns 0, or -1 if there is no "<...>" followed by end or SP.
 */
static int
smtp_arg_split(const char *arg, size_t len, size_t i, const char **path_r,
               size_t *path_len_r, const char **params_r, size_t *params_len_r)
{
	size_t end;

	/* SP after the colon is tolerated (see addr.h). */
	while (i < len && arg[i] == ' ')
		i++;
	if (i >= len || arg[i] != '<')
		return -1;
	end = smtp_path_end(arg + i, len - i);
	if (end == 0)
		return -1;
	*path_r = arg + i + 1;
	*path_len_r = end - 2;
	i += end;
	if (i < len && arg[i] != ' ')
		return -1;
	*params_r = arg + i;
	*params_len_r = len - i;
	return 0;
}

static enum smtp_addr_error
smtp_path_error(enum smtp_path_result res, bool mail)
{
	switch (res) {
	case SMTP_PATH_OK:
		return SMTP_ADDR_OK;
	case SMTP_PATH_TOO_LONG:
		return mail ? SMTP_ADDR_ERR_SENDER_TOO_LONG
		            : SMTP_ADDR_ERR_RECIPIENT_TOO_LONG;
	case SMTP_PATH_UTF8:
		return mail ? SMTP_ADDR_ERR_SENDER_UTF8
		            : SMTP_ADDR_ERR_RECIPIENT_UTF8;
	case SMTP_PATH_SYNTAX:
		break;
	}
	return mail ? SMTP_ADDR_ERR_SENDER : SMTP_ADDR_ERR_RECIPIENT;
}

int
smtp_parse_mail(const char *arg, size_t len, struct smtp_mail_args *r,
                enum smtp_addr_error *err_r)
{
	const char *path, *params;
	size_t path_len, params_len;
	unsigned flags = SMTP_PATH_ALLOW_NULL;
	enum smtp_path_result res;

	memset(r, 0, sizeof(*r));
	/* "MAIL FROM:" Reverse-path [SP Mail-parameters] (RFC 5321
	 * 4.1.1.2) */
	if (!str_has_prefix_ci(arg, len, "FROM:")) {
		*err_r = SMTP_ADDR_ERR_MAIL_SYNTAX;
		return -1;
	}
	if (smtp_arg_split(arg, len, 5, &path, &path_len, &params,
	                   &params_len) < 0) {
		*err_r = SMTP_ADDR_ERR_SENDER;
		return -1;
	}
	if (smtp_params_have_smtputf8(params, params_len))
		flags |= SMTP_PATH_ALLOW_UTF8;
	res = smtp_path_parse(path, path_len, flags, &r->path);
	if (res != SMTP_PATH_OK) {
		*err_r = smtp_path_error(res, true);
		return -1;
	}
	*err_r = smtp_params_parse(params, params_len, true,
	                           (flags & SMTP_PATH_ALLOW_UTF8) != 0, r);
	return *err_r == SMTP_ADDR_OK ? 0 : -1;
}

int
smtp_parse_rcpt(const char *arg, size_t len, bool smtputf8,
                struct smtp_rcpt_args *r, enum smtp_addr_error *err_r)
{
	const char *path, *params;
	size_t path_len, params_len;
	unsigned flags = SMTP_PATH_ALLOW_POSTMASTER;
	enum smtp_path_result res;

	memset(r, 0, sizeof(*r));
	/* "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" /
	 * Forward-path ) [SP Rcpt-parameters] (RFC 5321 4.1.1.3) */
	if (!str_has_prefix_ci(arg, len, "TO:")) {
		*err_r = SMTP_ADDR_ERR_RCPT_SYNTAX;
		return -1;
	}
	if (smtp_arg_split(arg, len, 3, &path, &path_len, &params,
	                   &params_len) < 0) {
		*err_r = SMTP_ADDR_ERR_RECIPIENT;
		return -1;
	}
	if (smtputf8)
		flags |= SMTP_PATH_ALLOW_UTF8;
	res = smtp_path_parse(path, path_len, flags, &r->path);
	if (res != SMTP_PATH_OK) {
		*err_r = smtp_path_error(res, false);
		return -1;
	}
	*err_r = smtp_params_parse(params, params_len, false, smtputf8, r);
	return *err_r == SMTP_ADDR_OK ? 0 : -1;
}

const char *
smtp_addr_error_reply(enum smtp_addr_error err)
{
	switch (err) {
	case SMTP_ADDR_OK:
		return "250 2.1.0 OK";
	case SMTP_ADDR_ERR_MAIL_SYNTAX:
		return "501 5.5.4 Syntax: MAIL FROM:<address> [parameters]";
	case SMTP_ADDR_ERR_RCPT_SYNTAX:
		return "501 5.5.4 Syntax: RCPT TO:<address> [parameters]";
	case SMTP_ADDR_ERR_SENDER:
		return "501 5.1.7 Bad sender address syntax";
	case SMTP_ADDR_ERR_RECIPIENT:
		return "501 5.1.3 Bad recipient address syntax";
	case SMTP_ADDR_ERR_SENDER_TOO_LONG:
		return "501 5.1.7 Sender address too long";
	case SMTP_ADDR_ERR_RECIPIENT_TOO_LONG:
		return "501 5.1.3 Recipient address too long";
	case SMTP_ADDR_ERR_SENDER_UTF8:
		return "553 5.6.7 Non-ASCII addresses not permitted for that "
		       "sender";
	case SMTP_ADDR_ERR_RECIPIENT_UTF8:
		return "553 5.6.7 Non-ASCII addresses not permitted for that "
		       "recipient";
	case SMTP_ADDR_ERR_PARAM_UNKNOWN:
		return "555 5.5.4 Unsupported parameter";
	case SMTP_ADDR_ERR_PARAM_SYNTAX:
		return "501 5.5.4 Bad parameter syntax";
	case SMTP_ADDR_ERR_PARAM_VALUE:
		return "501 5.5.4 Bad parameter value";
	case SMTP_ADDR_ERR_PARAM_DUPLICATE:
		return "501 5.5.4 Duplicate parameter";
	case SMTP_ADDR_ERR_PARAM_TOO_MANY:
		return "501 5.5.4 Too many parameters";
	}
	return "501 5.5.4 Syntax error";
}
