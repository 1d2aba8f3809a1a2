/*
 * address — RFC 5322 address lists (section 3.4) for the IMAP ENVELOPE:
 * mailboxes with or without display names, angle addresses with an
 * obsolete source route (section 4.4), groups, and the comments old
 * mailers use for names ("user@host (Full Name)").
 *
 * The value is first cut into lexical tokens (atoms, quoted strings,
 * domain literals, comments, specials), then each list element is read
 * from its tokens. Anything that fits no rule still yields an address if
 * it holds any word, so a client shows the sender something rather than
 * nothing. Time and memory are linear in the value.
 */
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "mime/mime_priv.h"

/* What IMAP clients conventionally get for an address without a domain:
 * NIL would mean a group (RFC 3501 7.4.2). */
#define ADDRESS_MISSING_HOST ".MISSING-HOST-NAME."

enum tok_type {
	TOK_ATOM,
	TOK_QUOTED,
	TOK_LITERAL,
	TOK_COMMENT,
	TOK_SPECIAL,
};

struct tok {
	enum tok_type type;
	size_t start;
	size_t len; /* of the whole token, delimiters included */
};

struct addr_ctx {
	const char *s;
	size_t len;
	struct tok *toks;
	size_t ntoks;
	struct mime_address *head;
	struct mime_address **tail;
	/* Reused for every string built, which is then copied at its exact
	 * size: most are a few bytes long. */
	struct buf scratch;
};

static bool
addr_is_special(char c)
{
	/* RFC 5322 3.2.3 specials, except "." which is kept inside atoms so
	 * that dotted local parts and "Q." initials stay one word, and '\'
	 * which only means something inside quotes. */
	return strchr("()<>[]:;@,\"", c) != NULL;
}

static bool
addr_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Offset past a quoted-string or domain literal starting at s[pos]; to
 * the end if never closed. */
static size_t
addr_delimited_end(const char *s, size_t len, size_t pos, char close)
{
	for (pos++; pos < len; pos++) {
		if (s[pos] == '\\')
			pos++;
		else if (s[pos] == close)
			return pos + 1;
	}
	return len;
}

static void
addr_tokenize(struct addr_ctx *c)
{
	size_t pos = 0, cap = 0;

	while (pos < c->len) {
		struct tok t;
		char ch = c->s[pos];

		if (addr_is_space(ch)) {
			pos++;
			continue;
		}
		t.start = pos;
		if (ch == '(') {
			t.type = TOK_COMMENT;
			pos = mime_skip_comment(c->s, c->len, pos);
		} else if (ch == '"') {
			t.type = TOK_QUOTED;
			pos = addr_delimited_end(c->s, c->len, pos, '"');
		} else if (ch == '[') {
			t.type = TOK_LITERAL;
			pos = addr_delimited_end(c->s, c->len, pos, ']');
		} else if (addr_is_special(ch)) {
			t.type = TOK_SPECIAL;
			pos++;
		} else {
			t.type = TOK_ATOM;
			while (pos < c->len && !addr_is_space(c->s[pos]) &&
			       !addr_is_special(c->s[pos]))
				pos++;
		}
		if (pos > c->len)
			pos = c->len;
		t.len = pos - t.start;
		if (c->ntoks == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			c->toks = xrealloc(c->toks, sizeof(*c->toks) * cap);
		}
		c->toks[c->ntoks++] = t;
	}
}

static bool
tok_is(const struct addr_ctx *c, size_t i, char special)
{
	return c->toks[i].type == TOK_SPECIAL &&
	       c->s[c->toks[i].start] == special;
}

/* Appends the text of a token with RFC 5322 quoting removed: the
 * content of a quoted string or comment without its delimiters and
 * quoted-pair backslashes, and without folding line breaks. */
static void
addr_append_tok(struct buf *out, const struct addr_ctx *c, size_t i)
{
	const struct tok *t = &c->toks[i];
	const char *s = c->s + t->start;
	size_t len = t->len;

	if (t->type == TOK_ATOM || t->type == TOK_SPECIAL) {
		mime_out(out, s, len);
		return;
	}
	if (t->type == TOK_LITERAL) {
		/* A domain literal keeps its brackets and quoted-pairs; only
		 * folding goes. */
		for (size_t k = 0; k < len; k++) {
			if (s[k] != '\r' && s[k] != '\n')
				mime_out_c(out, s[k]);
		}
		return;
	}
	/* Strip the delimiters, if the closing one is there. */
	s++;
	len--;
	if (len > 0 && s[len - 1] == (t->type == TOK_QUOTED ? '"' : ')') &&
	    (len < 2 || s[len - 2] != '\\'))
		len--;
	for (size_t k = 0; k < len; k++) {
		if (s[k] == '\\' && k + 1 < len)
			k++;
		/* Line breaks are folding, even after a backslash. */
		if (s[k] == '\r' || s[k] == '\n')
			continue;
		mime_out_c(out, s[k]);
	}
}

/* Owned copy of the scratch buffer, or NULL if it is empty and
 * `null_if_empty`. */
static char *
addr_take(struct addr_ctx *c, bool null_if_empty)
{
	char *s;

	if (buf_len(&c->scratch) == 0 && null_if_empty)
		return NULL;
	s = xstrndup(mime_out_data(&c->scratch), buf_len(&c->scratch));
	buf_clear(&c->scratch);
	return s;
}

/* A phrase (display or group name): its words joined by single spaces,
 * comments left out. NULL if there are no words. */
static char *
addr_phrase(struct addr_ctx *c, size_t a, size_t b)
{
	bool first = true;

	buf_clear(&c->scratch);
	for (size_t i = a; i < b; i++) {
		if (c->toks[i].type == TOK_COMMENT)
			continue;
		if (!first)
			mime_out_c(&c->scratch, ' ');
		addr_append_tok(&c->scratch, c, i);
		first = false;
	}
	return addr_take(c, true);
}

/* Tokens concatenated without separators, comments left out (local
 * parts, domains, routes). */
static char *
addr_concat(struct addr_ctx *c, size_t a, size_t b)
{
	buf_clear(&c->scratch);
	for (size_t i = a; i < b; i++) {
		if (c->toks[i].type != TOK_COMMENT)
			addr_append_tok(&c->scratch, c, i);
	}
	return addr_take(c, false);
}

static void
addr_emit(struct addr_ctx *c, char *name, char *adl, char *mailbox, char *host)
{
	struct mime_address *a = xmalloc(sizeof(*a));

	a->name = name;
	a->adl = adl;
	a->mailbox = mailbox;
	a->host = host;
	*c->tail = a;
	c->tail = &a->next;
}

/* addr-spec = local-part "@" domain, from tokens [a, b). */
static void
addr_spec(struct addr_ctx *c, size_t a, size_t b, char **mailbox_r,
          char **host_r)
{
	size_t at = b;

	for (size_t i = a; i < b; i++) {
		if (tok_is(c, i, '@'))
			at = i;
	}
	if (at == b) {
		/* No domain at all ("From: root"): the words are the
		 * mailbox. */
		*mailbox_r = addr_phrase(c, a, b);
		if (*mailbox_r == NULL)
			*mailbox_r = xstrdup("");
		*host_r = xstrdup(ADDRESS_MISSING_HOST);
		return;
	}
	*mailbox_r = addr_concat(c, a, at);
	*host_r = addr_concat(c, at + 1, b);
	if (**host_r == '\0') {
		free(*host_r);
		*host_r = xstrdup(ADDRESS_MISSING_HOST);
	}
}

static bool
addr_has_word(const struct addr_ctx *c, size_t a, size_t b)
{
	for (size_t i = a; i < b; i++) {
		if (c->toks[i].type == TOK_ATOM ||
		    c->toks[i].type == TOK_QUOTED ||
		    c->toks[i].type == TOK_LITERAL)
			return true;
	}
	return false;
}

/* The text of the first non-empty comment in tokens [a, b), or NULL. */
static char *
addr_comment_name(struct addr_ctx *c, size_t a, size_t b)
{
	for (size_t i = a; i < b; i++) {
		struct buf tmp;
		char *name;

		if (c->toks[i].type != TOK_COMMENT)
			continue;
		buf_clear(&c->scratch);
		addr_append_tok(&c->scratch, c, i);
		mime_out_init(&tmp);
		mime_unfold_append(&tmp, mime_out_data(&c->scratch),
		                   buf_len(&c->scratch));
		if (buf_len(&tmp) > 0) {
			name = xstrndup(mime_out_data(&tmp), buf_len(&tmp));
			buf_deinit(&tmp);
			return name;
		}
		buf_deinit(&tmp);
	}
	return NULL;
}

/* One mailbox from tokens [a, b): name-addr or addr-spec (RFC 5322
 * 3.4). */
static void
addr_mailbox(struct addr_ctx *c, size_t a, size_t b)
{
	size_t lt = b, gt, spec = 0;
	char *name = NULL, *adl = NULL, *mailbox, *host;

	for (size_t i = a; i < b && lt == b; i++) {
		if (tok_is(c, i, '<'))
			lt = i;
	}
	if (lt == b) {
		if (!addr_has_word(c, a, b))
			return;
		addr_spec(c, a, b, &mailbox, &host);
		/* "user@host (Full Name)": the comment is the only name
		 * there is. */
		name = addr_comment_name(c, a, b);
		addr_emit(c, name, NULL, mailbox, host);
		return;
	}
	for (gt = lt + 1; gt < b && !tok_is(c, gt, '>'); gt++)
		;
	if (!addr_has_word(c, a, b))
		return; /* "<>" */
	name = addr_phrase(c, a, lt);
	if (name == NULL)
		name = addr_comment_name(c, a, b);
	spec = lt + 1;
	if (spec < gt && tok_is(c, spec, '@')) {
		/* obs-route (RFC 5322 4.4): "@a,@b:" before the address. */
		for (size_t i = spec; i < gt; i++) {
			if (tok_is(c, i, ':')) {
				adl = addr_concat(c, spec, i);
				spec = i + 1;
				break;
			}
		}
	}
	addr_spec(c, spec, gt, &mailbox, &host);
	addr_emit(c, name, adl, mailbox, host);
}

/* Reads the list: elements separated by ',' (outside angle brackets),
 * groups "name: members ;" (RFC 5322 3.4). */
static void
addr_list(struct addr_ctx *c)
{
	size_t cur = 0;
	bool in_group = false;

	while (cur < c->ntoks) {
		size_t j = cur, angle = 0;

		for (; j < c->ntoks; j++) {
			if (tok_is(c, j, '<'))
				angle++;
			else if (tok_is(c, j, '>') && angle > 0)
				angle--;
			else if (angle == 0 &&
			         (tok_is(c, j, ',') || tok_is(c, j, ';') ||
			          (!in_group && tok_is(c, j, ':'))))
				break;
		}
		if (j < c->ntoks && tok_is(c, j, ':')) {
			/* group start: (NIL NIL "name" NIL) */
			char *gname = addr_phrase(c, cur, j);

			addr_emit(c, NULL, NULL,
			          gname != NULL ? gname : xstrdup(""), NULL);
			in_group = true;
			cur = j + 1;
			continue;
		}
		addr_mailbox(c, cur, j);
		if (j < c->ntoks && tok_is(c, j, ';') && in_group) {
			/* group end: (NIL NIL NIL NIL) */
			addr_emit(c, NULL, NULL, NULL, NULL);
			in_group = false;
		}
		cur = j + 1;
	}
	if (in_group)
		addr_emit(c, NULL, NULL, NULL, NULL);
}

struct mime_address *
mime_address_parse(const char *s, size_t len)
{
	struct addr_ctx c;

	memset(&c, 0, sizeof(c));
	c.s = s;
	c.len = len;
	c.tail = &c.head;
	mime_out_init(&c.scratch);
	addr_tokenize(&c);
	addr_list(&c);
	free(c.toks);
	buf_deinit(&c.scratch);
	return c.head;
}

void
mime_address_free(struct mime_address **list)
{
	struct mime_address *a = *list, *next;

	for (; a != NULL; a = next) {
		next = a->next;
		free(a->name);
		free(a->adl);
		free(a->mailbox);
		free(a->host);
		free(a);
	}
	*list = NULL;
}
