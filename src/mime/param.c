/*
 * param — Content-Type (RFC 2045 section 5.1) and Content-Disposition
 * (RFC 2183) values: the leading type tokens and the parameter list, with
 * RFC 2231 continuations joined.
 *
 * Parsing is lenient where mailers are known to be sloppy (a missing ';',
 * unquoted values holding tspecials) and strict where the type itself is
 * concerned: an unusable type makes the caller fall back to the RFC 2045
 * default. At most `max_params` raw parameters are read per field; joining
 * continuations is quadratic in that bound only.
 */
#include <stdlib.h>
#include <string.h>

#include "core/str.h"
#include "core/xalloc.h"
#include "mime/mime_priv.h"

/* Highest continuation index accepted: RFC 2231 section 3 sets no bound,
 * this one keeps the numbers small. */
#define PARAM_SECTION_MAX 9999

struct raw_param {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
	long section; /* -1: not a continuation segment */
	bool ext;     /* RFC 2231 extended (charset'lang'%XX) value */
	bool used;
};

bool
mime_is_token_char(char c)
{
	unsigned char u = (unsigned char)c;

	/* RFC 2045 5.1: any US-ASCII CHAR except SPACE, CTLs and tspecials. */
	if (u <= 0x20 || u >= 0x7f)
		return false;
	return strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* Characters accepted in an unquoted value: looser than RFC 2045's
 * token, because file names like a/b.txt or x@y arrive unquoted. */
static bool
param_is_value_char(char c)
{
	unsigned char u = (unsigned char)c;

	if (u >= 0x80)
		return true;
	return u > 0x20 && u != 0x7f && c != ';' && c != '"' && c != '(';
}

static size_t
param_token(const char *v, size_t len, size_t pos)
{
	while (pos < len && mime_is_token_char(v[pos]))
		pos++;
	return pos;
}

/* Offset just past the quoted-string at v[pos] == '"' (to the end if it
 * is never closed). */
static size_t
param_quoted_end(const char *v, size_t len, size_t pos)
{
	pos++;
	while (pos < len && v[pos] != '"') {
		if (v[pos] == '\\' && pos + 1 < len)
			pos++;
		pos++;
	}
	return pos < len ? pos + 1 : len;
}

/* Reads the quoted-string at v[pos] == '"' into the arena: quoted-pairs
 * unescaped, folding line breaks removed (RFC 5322 3.2.4). Returns the
 * offset past it. */
static size_t
param_quoted(struct mime_arena *arena, const char *v, size_t len, size_t pos,
             const char **out_r, size_t *out_len_r)
{
	size_t end = param_quoted_end(v, len, pos);
	char *out = mime_arena_alloc(arena, end - pos);
	size_t n = 0;

	for (pos++; pos < end; pos++) {
		char c = v[pos];

		if (c == '"')
			break;
		if (c == '\\' && pos + 1 < end)
			c = v[++pos];
		/* Line breaks are folding, even after a backslash. */
		if (c == '\r' || c == '\n')
			continue;
		out[n++] = c;
	}
	*out_r = out;
	*out_len_r = n;
	return end;
}

/* Splits an RFC 2231 attribute "name*3*" into base name, section and the
 * extended flag. */
static void
param_split_name(struct raw_param *p, const char *t, size_t n)
{
	size_t star;
	uint64_t section;

	p->section = -1;
	p->ext = false;
	if (n > 1 && t[n - 1] == '*') {
		p->ext = true;
		n--;
	}
	star = n;
	while (star > 0 && t[star - 1] != '*')
		star--;
	if (star > 1 && str_parse_u64(t + star, n - star, PARAM_SECTION_MAX,
	                              &section) == 0) {
		p->section = (long)section;
		n = star - 1;
	}
	p->name = t;
	p->name_len = n;
}

/* Reads at most `max` raw parameters from v[pos..len) into a growing
 * array (*raw_r, owned by the caller). Returns how many were read. */
static unsigned int
param_read(struct mime_arena *arena, const char *v, size_t len, size_t pos,
           struct raw_param **raw_r, unsigned int max)
{
	struct raw_param *raw = NULL;
	unsigned int count = 0, cap = 0;

	while (count < max) {
		size_t name, name_end;

		pos = mime_skip_cfws(v, len, pos);
		if (pos >= len)
			break;
		if (v[pos] == ';') {
			pos++;
			continue;
		}
		name = pos;
		name_end = param_token(v, len, pos);
		pos = mime_skip_cfws(v, len, name_end);
		if (name_end == name || pos >= len || v[pos] != '=') {
			/* Not "attribute=value": skip to the next ';'. */
			while (pos < len && v[pos] != ';') {
				if (v[pos] == '"')
					pos = param_quoted_end(v, len, pos);
				else
					pos++;
			}
			continue;
		}
		pos = mime_skip_cfws(v, len, pos + 1);
		if (count == cap) {
			cap = cap == 0 ? 8 : cap * 2;
			raw = xrealloc(raw, sizeof(*raw) * cap);
		}

		struct raw_param *p = &raw[count++];

		memset(p, 0, sizeof(*p));
		param_split_name(p, v + name, name_end - name);
		if (pos < len && v[pos] == '"') {
			pos = param_quoted(arena, v, len, pos, &p->value,
			                   &p->value_len);
		} else {
			size_t start = pos;

			while (pos < len && param_is_value_char(v[pos]))
				pos++;
			p->value = v + start;
			p->value_len = pos - start;
		}
	}
	*raw_r = raw;
	return count;
}

static bool
param_name_eq(const struct raw_param *a, const struct raw_param *b)
{
	return str_eq_ci_n(a->name, a->name_len, b->name, b->name_len);
}

static bool
param_is_attr_char(char c)
{
	/* RFC 2231 section 7: attribute-char is a token char except "*",
	 * "'" and "%". */
	return mime_is_token_char(c) && c != '*' && c != '\'' && c != '%';
}

/* Appends `len` bytes percent-encoded as an RFC 2231 extended value. */
static void
param_pct_encode(struct buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < len; i++) {
		unsigned char u = (unsigned char)s[i];

		if (param_is_attr_char(s[i])) {
			mime_out_c(out, s[i]);
		} else {
			mime_out_c(out, '%');
			mime_out_c(out, hex[u >> 4]);
			mime_out_c(out, hex[u & 15]);
		}
	}
}

/*
 * Joins the continuation segments of raw[first]'s name (RFC 2231 section
 * 3), in section order. If any segment is extended the result is one
 * extended value (RFC 2231 section 4.1: only the first segment carries
 * charset'language'; plain segments are percent-encoded to fit), else the
 * plain values concatenated.
 */
static void
param_join(struct mime_arena *arena, struct raw_param *raw, unsigned int count,
           unsigned int first, struct mime_param *out_p)
{
	unsigned int *idx = xcalloc(count, sizeof(*idx));
	unsigned int n = 0;
	bool ext = false;
	struct buf b;

	for (unsigned int i = first; i < count; i++) {
		if (raw[i].used || raw[i].section < 0 ||
		    !param_name_eq(&raw[i], &raw[first]))
			continue;
		raw[i].used = true;
		ext = ext || raw[i].ext;
		/* Insertion sort by section; a repeated section keeps its
		 * first occurrence. */
		unsigned int j = n;
		bool dup = false;

		for (unsigned int k = 0; k < n; k++) {
			if (raw[idx[k]].section == raw[i].section)
				dup = true;
		}
		if (dup)
			continue;
		while (j > 0 && raw[idx[j - 1]].section > raw[i].section) {
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = i;
		n++;
	}

	mime_out_init(&b);
	for (unsigned int k = 0; k < n; k++) {
		const struct raw_param *p = &raw[idx[k]];

		if (!ext || p->ext) {
			mime_out(&b, p->value, p->value_len);
		} else {
			if (k == 0)
				mime_out_str(&b, "''");
			param_pct_encode(&b, p->value, p->value_len);
		}
	}
	out_p->value =
	        mime_arena_strndup(arena, mime_out_data(&b), buf_len(&b));
	buf_deinit(&b);
	free(idx);
	if (ext) {
		char *name = mime_arena_strndup_upper(arena, raw[first].name,
		                                      raw[first].name_len + 1);

		name[raw[first].name_len] = '*';
		out_p->name = name;
	} else {
		out_p->name = mime_arena_strndup_upper(arena, raw[first].name,
		                                       raw[first].name_len);
	}
}

/* Parses the parameter list at v[pos..len) into an arena array. */
static void
param_list_parse(struct mime_arena *arena, const char *v, size_t len,
                 size_t pos, unsigned int max, struct mime_param **params_r,
                 unsigned int *count_r)
{
	struct raw_param *raw;
	struct mime_param *out;
	unsigned int count, n = 0;

	*params_r = NULL;
	*count_r = 0;
	if (max == 0)
		return;
	count = param_read(arena, v, len, pos, &raw, max);
	if (count == 0) {
		free(raw);
		return;
	}
	out = mime_arena_alloc(arena, sizeof(*out) * count);
	for (unsigned int i = 0; i < count; i++) {
		struct mime_param p;

		if (raw[i].used)
			continue;
		if (raw[i].section >= 0) {
			param_join(arena, raw, count, i, &p);
		} else {
			raw[i].used = true;
			p.name = mime_arena_strndup_upper(
			        arena, raw[i].name,
			        raw[i].name_len + (raw[i].ext ? 1 : 0));
			p.value = mime_arena_strndup(arena, raw[i].value,
			                             raw[i].value_len);
		}
		/* A name seen twice keeps its first value. */
		bool dup = false;

		for (unsigned int k = 0; k < n; k++) {
			if (strcmp(out[k].name, p.name) == 0)
				dup = true;
		}
		if (!dup)
			out[n++] = p;
	}
	free(raw);
	*params_r = out;
	*count_r = n;
}

bool
mime_content_type_parse(struct mime_arena *arena, const char *v, size_t len,
                        unsigned int max_params, const char **type_r,
                        const char **subtype_r, struct mime_param **params_r,
                        unsigned int *count_r)
{
	size_t pos = mime_skip_cfws(v, len, 0);
	size_t t = pos, t_end = param_token(v, len, pos), s, s_end;

	if (t_end == t)
		return false;
	pos = mime_skip_cfws(v, len, t_end);
	if (pos >= len || v[pos] != '/')
		return false;
	s = mime_skip_cfws(v, len, pos + 1);
	s_end = param_token(v, len, s);
	if (s_end == s)
		return false;
	*type_r = mime_arena_strndup_upper(arena, v + t, t_end - t);
	*subtype_r = mime_arena_strndup_upper(arena, v + s, s_end - s);
	param_list_parse(arena, v, len, s_end, max_params, params_r, count_r);
	return true;
}

bool
mime_disposition_parse(struct mime_arena *arena, const char *v, size_t len,
                       unsigned int max_params, const char **type_r,
                       struct mime_param **params_r, unsigned int *count_r)
{
	size_t t = mime_skip_cfws(v, len, 0);
	size_t t_end = param_token(v, len, t);

	if (t_end == t)
		return false;
	*type_r = mime_arena_strndup_upper(arena, v + t, t_end - t);
	param_list_parse(arena, v, len, t_end, max_params, params_r, count_r);
	return true;
}

const char *
mime_token_parse(struct mime_arena *arena, const char *v, size_t len)
{
	size_t t = mime_skip_cfws(v, len, 0);
	size_t t_end = param_token(v, len, t);

	if (t_end == t)
		return NULL;
	return mime_arena_strndup_upper(arena, v + t, t_end - t);
}

/* Decodes an RFC 2231 extended value, charset'language'%XX (section 4),
 * to UTF-8. */
static char *
param_decode_ext(const char *v)
{
	const char *q1 = strchr(v, '\'');
	const char *q2 = q1 != NULL ? strchr(q1 + 1, '\'') : NULL;
	const char *text = q2 != NULL ? q2 + 1 : v;
	size_t cs_len = q2 != NULL ? (size_t)(q1 - v) : 0;
	size_t len = strlen(text), n = 0;
	char *raw = xmalloc(len + 1);
	struct buf out;

	for (size_t i = 0; i < len; i++) {
		int hi, lo;

		if (text[i] == '%' && i + 2 < len &&
		    (hi = str_hex_value(text[i + 1])) >= 0 &&
		    (lo = str_hex_value(text[i + 2])) >= 0) {
			raw[n++] = (char)(hi << 4 | lo);
			i += 2;
			continue;
		}
		raw[n++] = text[i];
	}
	mime_out_init(&out);
	if (cs_len == 0 || !mime_charset_append(&out, v, cs_len, raw, n))
		mime_utf8_sanitize(&out, raw, n);
	free(raw);
	return mime_out_finish(&out);
}

char *
mime_param_decode(const struct mime_param *param)
{
	size_t n = strlen(param->name);

	if (n > 0 && param->name[n - 1] == '*')
		return param_decode_ext(param->value);
	return mime_rfc2047_decode(param->value, strlen(param->value));
}

static const struct mime_param *
param_find(const struct mime_param *params, unsigned int count,
           const char *name)
{
	for (unsigned int i = 0; i < count; i++) {
		if (strcmp(params[i].name, name) == 0)
			return &params[i];
	}
	return NULL;
}

char *
mime_part_filename(const struct mime_part *part)
{
	const struct mime_param *p;

	/* RFC 2183 2.3 filename first; "name" (RFC 1341, still sent) as a
	 * fallback. The extended form wins over the plain one, which RFC
	 * 2231 senders add for older readers. */
	p = param_find(part->disp_params, part->disp_param_count, "FILENAME*");
	if (p == NULL)
		p = param_find(part->disp_params, part->disp_param_count,
		               "FILENAME");
	if (p == NULL)
		p = param_find(part->params, part->param_count, "NAME*");
	if (p == NULL)
		p = param_find(part->params, part->param_count, "NAME");
	return p == NULL ? NULL : mime_param_decode(p);
}
