/*
 * bodystructure — the IMAP BODY and BODYSTRUCTURE of a parsed message
 * (RFC 3501 7.4.2; grammar "body" in section 9):
 *
 *   multipart:    "(" 1*body SP subtype [SP params SP dsp SP lang SP loc] ")"
 *   text:         "(" type SP subtype SP fields SP lines [SP ext-1part] ")"
 *   message/rfc822:
 *                 "(" type SP subtype SP fields SP envelope SP body
 *                     SP lines [SP ext-1part] ")"
 *   other:        "(" type SP subtype SP fields [SP ext-1part] ")"
 *
 * where fields = params SP id SP description SP encoding SP octets and
 * ext-1part = md5 SP dsp SP lang SP loc. Extension data (the bracketed
 * parts) is written for BODYSTRUCTURE only, always complete, with NIL for
 * what the part does not have. Octets and lines are the CRLF-counted
 * sizes the parser recorded. Recursion follows the tree, whose depth the
 * parser bounds.
 */
#include <string.h>

#include "mime/mime_priv.h"

/* body-fld-param: "(" string SP string *(SP string SP string) ")" / nil */
static void
bs_params(struct buf *out, const struct mime_param *params, unsigned int n)
{
	if (n == 0) {
		mime_out_str(out, "NIL");
		return;
	}
	mime_out_c(out, '(');
	for (unsigned int i = 0; i < n; i++) {
		if (i > 0)
			mime_out_c(out, ' ');
		mime_imap_nstring(out, params[i].name);
		mime_out_c(out, ' ');
		mime_imap_nstring(out, params[i].value);
	}
	mime_out_c(out, ')');
}

/* body-fields: params SP id SP desc SP enc SP octets */
static void
bs_fields(struct buf *out, const struct mime_part *part)
{
	bs_params(out, part->params, part->param_count);
	mime_out_c(out, ' ');
	mime_imap_nstring(out, part->id);
	mime_out_c(out, ' ');
	mime_imap_nstring(out, part->description);
	mime_out_c(out, ' ');
	mime_imap_nstring(out, part->encoding);
	mime_out_c(out, ' ');
	mime_out_num(out, part->body_size);
}

/* body-fld-dsp: "(" string SP body-fld-param ")" / nil */
static void
bs_disposition(struct buf *out, const struct mime_part *part)
{
	if (part->disposition == NULL) {
		mime_out_str(out, "NIL");
		return;
	}
	mime_out_c(out, '(');
	mime_imap_nstring(out, part->disposition);
	mime_out_c(out, ' ');
	bs_params(out, part->disp_params, part->disp_param_count);
	mime_out_c(out, ')');
}

/* body-fld-lang: nstring / "(" string *(SP string) ")". The tags of
 * Content-Language (RFC 3282) are split at commas and white space;
 * comments are dropped. */
static void
bs_language(struct buf *out, const char *lang)
{
	size_t len = lang == NULL ? 0 : strlen(lang), pos = 0;
	bool any = false;

	while (lang != NULL && pos < len) {
		size_t start;

		pos = mime_skip_cfws(lang, len, pos);
		if (pos < len && lang[pos] == ',') {
			pos++;
			continue;
		}
		start = pos;
		while (pos < len && lang[pos] != ',' && lang[pos] != '(' &&
		       !mime_is_wsp(lang[pos]) && lang[pos] != '\r' &&
		       lang[pos] != '\n')
			pos++;
		if (pos == start)
			continue;
		mime_out_str(out, any ? " " : "(");
		mime_imap_string(out, lang + start, pos - start);
		any = true;
	}
	mime_out_str(out, any ? ")" : "NIL");
}

/* SP dsp SP lang SP loc: the extension data both shapes end with. */
static void
bs_ext_tail(struct buf *out, const struct mime_part *part)
{
	mime_out_c(out, ' ');
	bs_disposition(out, part);
	mime_out_c(out, ' ');
	bs_language(out, part->language);
	mime_out_c(out, ' ');
	mime_imap_nstring(out, part->location);
}

static void
bs_part(struct buf *out, const struct mime_part *part, bool extended)
{
	mime_out_c(out, '(');
	if (part->kind == MIME_PART_MULTIPART) {
		/* body-type-mpart: the bodies follow each other without a
		 * separator. */
		for (const struct mime_part *c = part->children; c != NULL;
		     c = c->next)
			bs_part(out, c, extended);
		mime_out_c(out, ' ');
		mime_imap_nstring(out, part->subtype);
		if (extended) {
			mime_out_c(out, ' ');
			bs_params(out, part->params, part->param_count);
			bs_ext_tail(out, part);
		}
		mime_out_c(out, ')');
		return;
	}
	mime_imap_nstring(out, part->type);
	mime_out_c(out, ' ');
	mime_imap_nstring(out, part->subtype);
	mime_out_c(out, ' ');
	bs_fields(out, part);
	if (part->kind == MIME_PART_MESSAGE) {
		/* body-type-msg */
		mime_out_c(out, ' ');
		mime_envelope_append(out, part->children);
		mime_out_c(out, ' ');
		bs_part(out, part->children, extended);
		mime_out_c(out, ' ');
		mime_out_num(out, part->body_lines);
	} else if (strcmp(part->type, "TEXT") == 0) {
		/* body-type-text */
		mime_out_c(out, ' ');
		mime_out_num(out, part->body_lines);
	}
	if (extended) {
		mime_out_c(out, ' ');
		mime_imap_nstring(out, part->md5);
		bs_ext_tail(out, part);
	}
	mime_out_c(out, ')');
}

char *
mime_bodystructure(const struct mime_part *msg, bool extended)
{
	struct buf out;

	mime_out_init(&out);
	bs_part(&out, msg, extended);
	return mime_out_finish(&out);
}
