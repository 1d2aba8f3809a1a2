/*
 * mime — builds the MIME tree of one stored message (RFC 2045, RFC 2046)
 * and finds parts by IMAP part number (RFC 3501 6.4.5).
 *
 * The whole message is in memory (the store maps or reads the Maildir
 * file, and FETCH needs random access to it anyway), so the parser is one
 * forward pass over its lines rather than an incremental feed(): every
 * line is looked at once, either as a header line or as a body line that
 * might be a boundary delimiter. A stack of the enclosing multiparts'
 * boundaries, innermost first, decides where each body ends, so a part
 * whose closing delimiter is missing ends at its parent's next delimiter
 * (RFC 2046 5.1.1 lets a boundary be a prefix of a line; checking the
 * innermost boundary first keeps nested boundaries that share a prefix
 * apart).
 *
 * While it walks, the parser counts LFs and LFs without a CR before them,
 * so any offset it records carries the numbers IMAP wants: sizes as if
 * every line ended in CRLF, and line counts, without a second pass.
 *
 * Bounds: recursion and the boundary stack are at most max_depth deep;
 * parts at most max_parts (plus one made-up part per empty multipart);
 * time is the message size times the depth (each line is compared with
 * each enclosing boundary). All memory comes from the tree's arena.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"
#include "mime/mime_priv.h"

/* RFC 2046 5.1.1 allows 1 to 70 characters; some mailers go past that. A
 * longer one is treated as unusable. */
#define MIME_BOUNDARY_MAX 200

const struct mime_limits mime_limits_default = {
        .max_depth = 64,
        .max_parts = 10000,
        .max_params = 64,
};

struct mime_parser {
	const char *msg;
	size_t len;
	size_t pos;  /* start of the current line */
	size_t lfs;  /* LFs in msg[0, pos) */
	size_t bare; /* of those, LFs with no CR before them */
	struct mime_arena *arena;
	struct mime_limits lim;
	unsigned int parts;
};

/* A position with the LF counts before it. */
struct mime_mark {
	size_t off;
	size_t lfs;
	size_t bare;
};

struct mime_boundary {
	const char *str;
	size_t len;
	const struct mime_boundary *outer;
};

/* Where a body stopped: at a delimiter line of `boundary`, or at the end
 * of the message (boundary NULL). */
struct mime_stop {
	const struct mime_boundary *boundary;
	bool is_close;
	struct mime_mark line;
};

enum {
	HF_TYPE,
	HF_ENCODING,
	HF_DISPOSITION,
	HF_ID,
	HF_DESCRIPTION,
	HF_MD5,
	HF_LANGUAGE,
	HF_LOCATION,
	HF_COUNT,
};

static const char *const parser_hf_names[HF_COUNT] = {
        "Content-Type",     "Content-Transfer-Encoding", "Content-Disposition",
        "Content-ID",       "Content-Description",       "Content-MD5",
        "Content-Language", "Content-Location",
};

struct hf_view {
	const char *value;
	size_t len;
	bool found;
};

static struct mime_mark
parser_mark(const struct mime_parser *p)
{
	struct mime_mark m = {p->pos, p->lfs, p->bare};

	return m;
}

/* Moves to the start of the next line, counting the LF passed. */
static void
parser_advance(struct mime_parser *p)
{
	const char *lf = memchr(p->msg + p->pos, '\n', p->len - p->pos);
	size_t at;

	if (lf == NULL) {
		p->pos = p->len;
		return;
	}
	at = (size_t)(lf - p->msg);
	p->lfs++;
	if (at == 0 || p->msg[at - 1] != '\r')
		p->bare++;
	p->pos = at + 1;
}

/* If the current line is a delimiter of a boundary in the stack `bs`,
 * returns it (innermost match first) and tells whether it is the close
 * delimiter ("--boundary--"). */
static const struct mime_boundary *
parser_boundary(const struct mime_parser *p, const struct mime_boundary *bs,
                bool *close_r)
{
	const char *s = p->msg + p->pos;
	size_t avail = p->len - p->pos;

	if (avail < 3 || s[0] != '-' || s[1] != '-')
		return NULL;
	for (; bs != NULL; bs = bs->outer) {
		if (avail - 2 < bs->len || memcmp(s + 2, bs->str, bs->len) != 0)
			continue;
		*close_r = avail - 2 - bs->len >= 2 && s[2 + bs->len] == '-' &&
		           s[3 + bs->len] == '-';
		return bs;
	}
	return NULL;
}

/* Skips body lines up to and including the next delimiter line of any
 * boundary in `bs`, or to the end of the message. */
static void
parser_scan(struct mime_parser *p, const struct mime_boundary *bs,
            struct mime_stop *stop)
{
	while (p->pos < p->len) {
		bool close = false;
		const struct mime_boundary *b =
		        bs == NULL ? NULL : parser_boundary(p, bs, &close);

		if (b != NULL) {
			stop->boundary = b;
			stop->is_close = close;
			stop->line = parser_mark(p);
			parser_advance(p);
			return;
		}
		parser_advance(p);
	}
	stop->boundary = NULL;
	stop->is_close = false;
	stop->line = parser_mark(p);
}

/* The end of a body that started at `start` and stopped at `stop`. The
 * line break before a delimiter line is part of the delimiter (RFC 2046
 * 5.1.1), not of the body. */
static struct mime_mark
parser_body_end(const struct mime_parser *p, const struct mime_mark *start,
                const struct mime_stop *stop)
{
	struct mime_mark m = stop->line;

	if (stop->boundary == NULL || m.off <= start->off)
		return m;
	/* m.off starts a line, so an LF is right before it. */
	m.off--;
	m.lfs--;
	if (m.off > 0 && p->msg[m.off - 1] == '\r') {
		if (m.off - 1 >= start->off)
			m.off--;
	} else {
		m.bare--;
	}
	return m;
}

static size_t
mark_octets(const struct mime_mark *a, const struct mime_mark *b)
{
	return (b->off - a->off) + (b->bare - a->bare);
}

static size_t
mark_lines(const struct mime_parser *p, const struct mime_mark *a,
           const struct mime_mark *b)
{
	size_t n = b->lfs - a->lfs;

	if (b->off > a->off && p->msg[b->off - 1] != '\n')
		n++;
	return n;
}

/* Records the field that started at `start` and ends at the current
 * line, if it is one of the Content-* fields and the first of its name. */
static void
parser_field_done(const struct mime_parser *p, size_t start, size_t name_len,
                  struct hf_view *hf)
{
	size_t colon = start + name_len, end = p->pos;

	while (p->msg[colon] != ':')
		colon++;
	if (end > colon + 1 && p->msg[end - 1] == '\n') {
		end--;
		if (end > colon + 1 && p->msg[end - 1] == '\r')
			end--;
	}
	for (int i = 0; i < HF_COUNT; i++) {
		if (hf[i].found ||
		    !str_eq_ci(p->msg + start, name_len, parser_hf_names[i]))
			continue;
		hf[i].found = true;
		hf[i].value = p->msg + colon + 1;
		hf[i].len = end - (colon + 1);
		break;
	}
}

/*
 * Reads a header block (RFC 5322 2.1) from the current line: fields and
 * their folded continuations, up to and including the blank line. A line
 * that is not header syntax, or a delimiter of an enclosing boundary, ends
 * the header without a blank line; it is left for the body.
 */
static void
parser_header(struct mime_parser *p, const struct mime_boundary *bs,
              struct hf_view *hf)
{
	size_t field = SIZE_MAX, name_len = 0, nl = 0;
	bool close;

	memset(hf, 0, sizeof(*hf) * HF_COUNT);
	while (p->pos < p->len) {
		enum mime_hline kind;

		if (bs != NULL && parser_boundary(p, bs, &close) != NULL)
			break;
		kind = mime_hline_classify(p->msg + p->pos, p->len - p->pos,
		                           &nl);
		if (kind == MIME_HLINE_CONT && field != SIZE_MAX) {
			parser_advance(p);
			continue;
		}
		/* The field in hand ends here; the branches below return or
		 * start the next one. */
		if (field != SIZE_MAX)
			parser_field_done(p, field, name_len, hf);
		if (kind == MIME_HLINE_BLANK) {
			parser_advance(p);
			return;
		}
		if (kind != MIME_HLINE_FIELD)
			return;
		field = p->pos;
		name_len = nl;
		parser_advance(p);
	}
	if (field != SIZE_MAX)
		parser_field_done(p, field, name_len, hf);
}

static const char *
parser_unfold(struct mime_parser *p, const struct hf_view *v)
{
	char *tmp;
	const char *s;

	if (!v->found)
		return NULL;
	tmp = mime_header_unfold(v->value, v->len);
	s = mime_arena_strndup(p->arena, tmp, strlen(tmp));
	free(tmp);
	return s;
}

static const char *
parser_param(const struct mime_param *params, unsigned int count,
             const char *name)
{
	for (unsigned int i = 0; i < count; i++) {
		if (strcmp(params[i].name, name) == 0)
			return params[i].value;
	}
	return NULL;
}

static bool
parser_boundary_usable(const char *b)
{
	size_t n = b == NULL ? 0 : strlen(b);

	return n > 0 && n <= MIME_BOUNDARY_MAX;
}

/* Sets the part's content fields from its header. */
static void
parser_content(struct mime_parser *p, struct mime_part *part,
               const struct hf_view *hf, bool digest)
{
	struct mime_param *params = NULL, *dparams = NULL;
	unsigned int count = 0, dcount = 0;
	const char *type = NULL, *subtype = NULL, *dtype = NULL;
	bool ok = hf[HF_TYPE].found &&
	          mime_content_type_parse(p->arena, hf[HF_TYPE].value,
	                                  hf[HF_TYPE].len, p->lim.max_params,
	                                  &type, &subtype, &params, &count);

	/* A multipart without a usable boundary cannot be split: RFC 2045
	 * 5.2 says to treat an unusable Content-Type as the default. */
	if (ok && strcmp(type, "MULTIPART") == 0 &&
	    !parser_boundary_usable(parser_param(params, count, "BOUNDARY")))
		ok = false;
	if (!ok) {
		/* RFC 2045 5.2; RFC 2046 5.1.5 for multipart/digest. */
		part->flags |= MIME_PART_F_DEFAULT_TYPE;
		type = digest ? "MESSAGE" : "TEXT";
		subtype = digest ? "RFC822" : "PLAIN";
		params = NULL;
		count = 0;
	}
	if (strcmp(type, "TEXT") == 0 && strcmp(subtype, "PLAIN") == 0 &&
	    parser_param(params, count, "CHARSET") == NULL) {
		/* RFC 2046 4.1.2: text/plain defaults to US-ASCII. */
		struct mime_param *more =
		        mime_arena_alloc(p->arena, sizeof(*more) * (count + 1));

		if (count > 0)
			memcpy(more, params, sizeof(*more) * count);
		more[count].name = "CHARSET";
		more[count].value = "US-ASCII";
		params = more;
		count++;
	}
	part->type = type;
	part->subtype = subtype;
	part->params = params;
	part->param_count = count;

	part->encoding =
	        hf[HF_ENCODING].found
	                ? mime_token_parse(p->arena, hf[HF_ENCODING].value,
	                                   hf[HF_ENCODING].len)
	                : NULL;
	if (part->encoding == NULL)
		part->encoding = "7BIT"; /* RFC 2045 6.1 */
	if (hf[HF_DISPOSITION].found &&
	    mime_disposition_parse(p->arena, hf[HF_DISPOSITION].value,
	                           hf[HF_DISPOSITION].len, p->lim.max_params,
	                           &dtype, &dparams, &dcount)) {
		part->disposition = dtype;
		part->disp_params = dparams;
		part->disp_param_count = dcount;
	}
	part->id = parser_unfold(p, &hf[HF_ID]);
	part->description = parser_unfold(p, &hf[HF_DESCRIPTION]);
	part->md5 = parser_unfold(p, &hf[HF_MD5]);
	part->language = parser_unfold(p, &hf[HF_LANGUAGE]);
	part->location = parser_unfold(p, &hf[HF_LOCATION]);
}

/* Decides whether the parser descends into the part. */
static void
parser_kind(struct mime_parser *p, struct mime_part *part)
{
	bool multi = strcmp(part->type, "MULTIPART") == 0;
	bool message = strcmp(part->type, "MESSAGE") == 0 &&
	               strcmp(part->subtype, "RFC822") == 0;

	if (!multi && !message) {
		part->kind = MIME_PART_LEAF;
		return;
	}
	if (part->depth >= p->lim.max_depth || p->parts >= p->lim.max_parts) {
		/* Past a limit a container is opaque data: calling it
		 * multipart or message/rfc822 would promise clients a
		 * structure we do not report. */
		part->kind = MIME_PART_LEAF;
		part->type = "APPLICATION";
		part->subtype = "OCTET-STREAM";
		part->flags |= MIME_PART_F_LIMITED;
		return;
	}
	part->kind = multi ? MIME_PART_MULTIPART : MIME_PART_MESSAGE;
}

static struct mime_part *
parser_entity(struct mime_parser *p, struct mime_part *parent,
              unsigned int depth, const struct mime_boundary *bs, bool digest,
              struct mime_stop *stop, struct mime_mark *end_r);

/* Reads the body of a multipart: preamble, body parts, close delimiter,
 * epilogue (RFC 2046 5.1.1). *last_end_r is raised to the end of the last
 * body part. */
static void
parser_multipart(struct mime_parser *p, struct mime_part *part,
                 const struct mime_boundary *bs, struct mime_stop *stop,
                 struct mime_mark *last_end_r)
{
	const char *bstr =
	        parser_param(part->params, part->param_count, "BOUNDARY");
	struct mime_boundary mine = {bstr, strlen(bstr), bs};
	struct mime_part **tail = &part->children;
	bool digest = strcmp(part->subtype, "DIGEST") == 0;

	parser_scan(p, &mine, stop); /* the preamble */
	while (stop->boundary == &mine && !stop->is_close) {
		if (p->parts >= p->lim.max_parts) {
			/* Out of parts: the rest stays in this body. */
			part->flags |= MIME_PART_F_LIMITED;
			parser_scan(p, &mine, stop);
			continue;
		}

		struct mime_part *child =
		        parser_entity(p, part, part->depth + 1, &mine, digest,
		                      stop, last_end_r);

		*tail = child;
		tail = &child->next;
		part->child_count++;
	}
	if (stop->boundary == &mine)
		parser_scan(p, bs, stop); /* the epilogue */
	else
		part->flags |= MIME_PART_F_UNCLOSED;
}

/* Gives a multipart without any body part one made-up text/plain part
 * covering its whole body, so the structure stays valid IMAP (a
 * multipart has 1*body) and the text stays reachable as part 1. */
static void
parser_synthetic(struct mime_parser *p, struct mime_part *part,
                 const struct mime_mark *start, const struct mime_mark *end)
{
	struct mime_part *c = mime_arena_alloc(p->arena, sizeof(*c));
	struct mime_param *cs = mime_arena_alloc(p->arena, sizeof(*cs));

	p->parts++;
	c->parent = part;
	c->depth = part->depth + 1;
	c->kind = MIME_PART_LEAF;
	c->flags = MIME_PART_F_SYNTHETIC | MIME_PART_F_DEFAULT_TYPE;
	c->msg = p->msg;
	c->msg_len = p->len;
	c->header_start = c->header_end = c->body_start = start->off;
	c->body_end = end->off;
	c->body_size = mark_octets(start, end);
	c->body_lines = mark_lines(p, start, end);
	c->type = "TEXT";
	c->subtype = "PLAIN";
	cs->name = "CHARSET";
	cs->value = "US-ASCII";
	c->params = cs;
	c->param_count = 1;
	c->encoding = "7BIT";
	part->children = c;
	part->child_count = 1;
}

/* Reads one entity, header and body, from the current line (the whole
 * message, a body part, or an encapsulated message). Sets *end_r to the
 * end of its body. */
static struct mime_part *
parser_entity(struct mime_parser *p, struct mime_part *parent,
              unsigned int depth, const struct mime_boundary *bs, bool digest,
              struct mime_stop *stop, struct mime_mark *end_r)
{
	struct mime_part *part = mime_arena_alloc(p->arena, sizeof(*part));
	struct hf_view hf[HF_COUNT];
	struct mime_mark hstart = parser_mark(p), bstart, bend, inner;

	p->parts++;
	part->parent = parent;
	part->depth = depth;
	part->msg = p->msg;
	part->msg_len = p->len;
	parser_header(p, bs, hf);
	bstart = parser_mark(p);
	part->header_start = hstart.off;
	part->header_end = part->body_start = bstart.off;
	part->header_size = mark_octets(&hstart, &bstart);
	parser_content(p, part, hf, digest);
	parser_kind(p, part);

	inner = bstart;
	switch (part->kind) {
	case MIME_PART_MULTIPART:
		parser_multipart(p, part, bs, stop, &inner);
		break;
	case MIME_PART_MESSAGE:
		/* RFC 2046 5.2.1: the body is a whole message. */
		part->children = parser_entity(p, part, depth + 1, bs, false,
		                               stop, &inner);
		part->child_count = 1;
		break;
	case MIME_PART_LEAF:
		parser_scan(p, bs, stop);
		break;
	}
	bend = parser_body_end(p, &bstart, stop);
	/* A part ending right after its header's blank line has taken the
	 * line break the delimiter would own ("...\n\n--b"); the enclosing
	 * body must still hold it. */
	if (bend.off < inner.off)
		bend = inner;
	*end_r = bend;
	part->body_end = bend.off;
	part->body_size = mark_octets(&bstart, &bend);
	part->body_lines = mark_lines(p, &bstart, &bend);
	if (part->kind == MIME_PART_MULTIPART && part->children == NULL)
		parser_synthetic(p, part, &bstart, &bend);
	return part;
}

struct mime_part *
mime_parse(const char *msg, size_t len, const struct mime_limits *lim)
{
	struct mime_parser p;
	struct mime_stop stop;
	struct mime_mark end;
	struct mime_part *root;

	memset(&p, 0, sizeof(p));
	p.msg = msg != NULL ? msg : "";
	p.len = msg != NULL ? len : 0;
	p.arena = mime_arena_new();
	p.lim = lim != NULL ? *lim : mime_limits_default;
	if (p.lim.max_depth > MIME_DEPTH_CAP)
		p.lim.max_depth = MIME_DEPTH_CAP;
	root = parser_entity(&p, NULL, 0, NULL, false, &stop, &end);
	root->arena = p.arena;
	return root;
}

void
mime_part_free(struct mime_part **root)
{
	struct mime_arena *arena;

	if (*root == NULL)
		return;
	/* The root lives in its own arena: take the arena first. */
	arena = (*root)->arena;
	*root = NULL;
	mime_arena_free(&arena);
}

/* Part `n` (1-based) of a message: a multipart's n-th body part, or the
 * message itself as part 1 when it is not multipart. */
static const struct mime_part *
find_in_message(const struct mime_part *msg, uint64_t n)
{
	const struct mime_part *c;

	if (msg->kind != MIME_PART_MULTIPART)
		return n == 1 ? msg : NULL;
	for (c = msg->children; c != NULL && n > 1; c = c->next)
		n--;
	return c;
}

const struct mime_part *
mime_part_find(const struct mime_part *root, const char *section)
{
	const struct mime_part *cur = root;
	bool first = true;

	while (cur != NULL) {
		const char *dot = strchr(section, '.');
		size_t n =
		        dot != NULL ? (size_t)(dot - section) : strlen(section);
		uint64_t num;

		/* RFC 3501 9: section-part = nz-number *("." nz-number). */
		if (n == 0 || section[0] == '0' ||
		    str_parse_u64(section, n, UINT_MAX, &num) < 0)
			return NULL;
		if (first)
			cur = find_in_message(cur, num);
		else if (cur->kind == MIME_PART_MULTIPART)
			cur = find_in_message(cur, num);
		else if (cur->kind == MIME_PART_MESSAGE)
			cur = find_in_message(cur->children, num);
		else
			cur = NULL;
		first = false;
		if (dot == NULL)
			return cur;
		section = dot + 1;
	}
	return NULL;
}

const struct mime_part *
mime_part_message(const struct mime_part *part)
{
	return part->kind == MIME_PART_MESSAGE ? part->children : NULL;
}

const char *
mime_part_param(const struct mime_part *part, const char *name)
{
	for (unsigned int i = 0; i < part->param_count; i++) {
		const struct mime_param *pa = &part->params[i];

		if (str_eq_ci(pa->name, strlen(pa->name), name))
			return pa->value;
	}
	return NULL;
}

size_t
mime_crlf_size(const char *s, size_t len)
{
	size_t n = len;
	const char *lf, *p = s, *end = s + len;

	if (len == 0)
		return 0;
	while ((lf = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if (lf == s || lf[-1] != '\r')
			n++;
		p = lf + 1;
	}
	return n;
}
