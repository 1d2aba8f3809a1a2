/*
 * name — the names and small text files of the local store: Maildir file
 * names ("<base>:2,<flags>"), mailbox names and the Maildir++ folder
 * directories that hold them, postern-uidlist and postern-keywords.
 * docs/store.md defines every format here.
 *
 * Pure functions: no I/O, no logging. Every parser takes untrusted input
 * (another Maildir tool may have made the name or the file) and is fuzzed
 * by tests/fuzz/fuzz_store_name.c.
 */
#include "store/store_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/str.h"
#include "core/xalloc.h"

/* Largest size we believe in a file name (S=, W=): 2^53. */
#define FNAME_SIZE_MAX (UINT64_C(1) << 53)

/* Maildir info letters in ASCII order with the flag each stands for
 * (the Maildir specification: D draft, F flagged, P passed, R replied,
 * S seen, T trashed). */
static const struct {
	char letter;
	unsigned flag;
} fname_letters[] = {
        {'D', STORE_FLAG_DRAFT},  {'F', STORE_FLAG_FLAGGED},
        {'P', STORE_FLAG_PASSED}, {'R', STORE_FLAG_ANSWERED},
        {'S', STORE_FLAG_SEEN},   {'T', STORE_FLAG_DELETED},
};

static unsigned
fname_flag_of(char c)
{
	for (size_t i = 0; i < sizeof(fname_letters) / sizeof(*fname_letters);
	     i++) {
		if (fname_letters[i].letter == c)
			return fname_letters[i].flag;
	}
	return 0;
}

/* Reads one ",X=digits" field of the base. */
static void
fname_field(const char *f, size_t len, struct store_fname *r)
{
	uint64_t v;

	if (len < 3 || f[1] != '=')
		return;
	if (str_parse_u64(f + 2, len - 2,
	                  f[0] == 'U' ? UINT32_MAX : FNAME_SIZE_MAX, &v) < 0)
		return;
	if (f[0] == 'S' && !r->has_size) {
		r->has_size = true;
		r->size = v;
	} else if (f[0] == 'W' && !r->has_vsize) {
		r->has_vsize = true;
		r->vsize = v;
	} else if (f[0] == 'U' && !r->has_uid && v > 0) {
		r->has_uid = true;
		r->uid = (uint32_t)v;
	}
}

int
store_fname_parse(const char *name, struct store_fname *r)
{
	size_t len = strlen(name);
	const char *colon, *p, *end;

	memset(r, 0, sizeof(*r));
	if (len == 0 || len > STORE_NAME_MAX || name[0] == '.' ||
	    memchr(name, '/', len) != NULL)
		return -1;
	colon = memchr(name, ':', len);
	r->base_len = colon != NULL ? (size_t)(colon - name) : len;
	if (r->base_len == 0)
		return -1;
	end = name + r->base_len;
	p = memchr(name, ',', r->base_len);
	while (p != NULL && p < end) {
		const char *next = memchr(p + 1, ',', (size_t)(end - p - 1));
		const char *fend = next != NULL ? next : end;

		fname_field(p + 1, (size_t)(fend - p - 1), r);
		p = next;
	}
	/* Only "2," info is understood; "1," (experimental) carries no
	 * flags we know. */
	if (colon != NULL && colon[1] == '2' && colon[2] == ',') {
		r->has_info = true;
		for (p = colon + 3; *p != '\0'; p++) {
			if (*p >= 'a' && *p <= 'z')
				r->keywords |= UINT32_C(1) << (*p - 'a');
			else
				r->flags |= fname_flag_of(*p);
		}
	}
	return 0;
}

int
store_fname_format(char *out, size_t outsz, const char *base, size_t base_len,
                   bool in_new, unsigned flags, uint32_t keywords)
{
	char info[3 + 6 + STORE_KEYWORDS_MAX + 1];
	size_t n = 0;
	int w;

	if (!in_new) {
		memcpy(info, ":2,", 3);
		n = 3;
		for (size_t i = 0;
		     i < sizeof(fname_letters) / sizeof(*fname_letters); i++) {
			if ((flags & fname_letters[i].flag) != 0)
				info[n++] = fname_letters[i].letter;
		}
		for (unsigned i = 0; i < STORE_KEYWORDS_MAX; i++) {
			if ((keywords & (UINT32_C(1) << i)) != 0)
				info[n++] = (char)('a' + i);
		}
	}
	info[n] = '\0';
	w = snprintf(out, outsz, "%.*s%s", (int)base_len, base, info);
	if (w < 0 || (size_t)w >= outsz || (size_t)w > STORE_NAME_MAX)
		return -1;
	return 0;
}

void
store_fname_new_base(char *out, size_t outsz, const char *host, uint64_t size,
                     uint64_t vsize, uint32_t uid)
{
	static unsigned long counter;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(out, outsz, "%lld.M%ldP%ldQ%lu.%s,S=%llu,W=%llu,U=%u",
	         (long long)ts.tv_sec, ts.tv_nsec / 1000, (long)getpid(),
	         ++counter, host, (unsigned long long)size,
	         (unsigned long long)vsize, uid);
}

int
store_fname_rebase(char *out, size_t outsz, const char *base, size_t base_len,
                   uint64_t size, uint64_t vsize, uint32_t uid)
{
	const char *end = base + base_len;
	const char *p = memchr(base, ',', base_len);
	struct store_fname seen;
	size_t n;
	int w;

	memset(&seen, 0, sizeof(seen));
	n = p != NULL ? (size_t)(p - base) : base_len;
	if (n >= outsz)
		return -1;
	memcpy(out, base, n);
	/* Keep every field but U= and an S= that is not the file's size
	 * (the name would then look torn, see maildir.c), in order. */
	while (p != NULL && p < end) {
		const char *next = memchr(p + 1, ',', (size_t)(end - p - 1));
		size_t flen = (size_t)((next != NULL ? next : end) - p);
		struct store_fname field;

		memset(&field, 0, sizeof(field));
		fname_field(p + 1, flen - 1, &field);
		if (field.has_size && field.size != size)
			field.has_size = false;
		else
			fname_field(p + 1, flen - 1, &seen);
		if (!(flen >= 3 && p[1] == 'U' && p[2] == '=') &&
		    !(flen >= 3 && p[1] == 'S' && p[2] == '=' &&
		      !field.has_size)) {
			if (n + flen >= outsz)
				return -1;
			memcpy(out + n, p, flen);
			n += flen;
		}
		p = next;
	}
	out[n] = '\0';
	if (!seen.has_size) {
		w = snprintf(out + n, outsz - n, ",S=%llu",
		             (unsigned long long)size);
		if (w < 0 || (size_t)w >= outsz - n)
			return -1;
		n += (size_t)w;
	}
	if (!seen.has_vsize) {
		w = snprintf(out + n, outsz - n, ",W=%llu",
		             (unsigned long long)vsize);
		if (w < 0 || (size_t)w >= outsz - n)
			return -1;
		n += (size_t)w;
	}
	w = snprintf(out + n, outsz - n, ",U=%u", uid);
	if (w < 0 || (size_t)w >= outsz - n || n + (size_t)w > STORE_NAME_MAX)
		return -1;
	return 0;
}

/* --- mailbox names ------------------------------------------------------ */

/* Length of the UTF-8 sequence at s (RFC 3629 section 4), or 0 if it is
 * malformed: overlong, surrogate, above U+10FFFF, truncated. */
static size_t
utf8_seq_len(const unsigned char *s)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f))
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
			return 0;
		return 4;
	}
	return 0;
}

int
store_mbox_name_check(const char *name, char *out, size_t outsz,
                      const char **error_r)
{
	size_t len = strlen(name);
	const unsigned char *s = (const unsigned char *)name;

	if (len == 0 || len > STORE_MAILBOX_NAME_MAX || len >= outsz) {
		*error_r = len == 0 ? "empty mailbox name"
		                    : "mailbox name too long";
		return -1;
	}
	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq_len(s + i);

		if (n == 0) {
			*error_r = "mailbox name is not valid UTF-8";
			return -1;
		}
		if (s[i] < 0x20 || s[i] == 0x7f) {
			*error_r = "control character in mailbox name";
			return -1;
		}
		if (s[i] == '/' &&
		    (i == 0 || i + 1 == len || s[i + 1] == '/')) {
			*error_r = "empty level in mailbox name";
			return -1;
		}
		i += n;
	}
	memcpy(out, name, len + 1);
	/* INBOX is case-insensitive (RFC 3501 5.1), also as a parent. */
	if (str_has_prefix_ci(out, len, "INBOX") &&
	    (out[5] == '\0' || out[5] == '/'))
		memcpy(out, "INBOX", 5);
	return 0;
}

static bool
dir_must_encode(unsigned char c)
{
	return c == '.' || c == '%' || c == '/' || c < 0x20 || c == 0x7f;
}

int
store_mbox_name_to_dir(const char *name, char *out, size_t outsz)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	if (strcmp(name, "INBOX") == 0) {
		if (outsz == 0)
			return -1;
		out[0] = '\0';
		return 0;
	}
	if (outsz < 2)
		return -1;
	out[n++] = '.';
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0';
	     p++) {
		if (n + 4 > outsz || n + 3 > STORE_NAME_MAX)
			return -1;
		if (*p == '/') {
			out[n++] = '.';
		} else if (dir_must_encode(*p)) {
			out[n++] = '%';
			out[n++] = hex[*p >> 4];
			out[n++] = hex[*p & 0xf];
		} else {
			out[n++] = (char)*p;
		}
	}
	out[n] = '\0';
	return 0;
}

int
store_mbox_dir_to_name(const char *dir, char *out, size_t outsz)
{
	char name[STORE_MAILBOX_NAME_MAX + 1], norm[STORE_MAILBOX_NAME_MAX + 1];
	char back[STORE_NAME_MAX + 1];
	const char *error;
	size_t n = 0;

	if (dir[0] != '.' || dir[1] == '\0')
		return -1;
	for (const char *p = dir + 1; *p != '\0'; p++) {
		char c = *p;

		if (n + 1 >= sizeof(name))
			return -1;
		if (c == '.') {
			c = '/';
		} else if (c == '%') {
			/* A lower-case spelling decodes too; the check below
			 * refuses it as not canonical. */
			int hi = str_hex_value(p[1]),
			    lo = hi < 0 ? -1 : str_hex_value(p[2]);

			if (lo < 0)
				return -1;
			c = (char)(hi << 4 | lo);
			p += 2;
		}
		name[n++] = c;
	}
	name[n] = '\0';
	/* Only the canonical spelling of a name is ours: decoding and
	 * encoding again must give the same directory. */
	if (store_mbox_name_check(name, norm, sizeof(norm), &error) < 0 ||
	    strcmp(norm, "INBOX") == 0 ||
	    store_mbox_name_to_dir(norm, back, sizeof(back)) < 0 ||
	    strcmp(back, dir) != 0 || strlen(norm) >= outsz)
		return -1;
	memcpy(out, norm, strlen(norm) + 1);
	return 0;
}

unsigned
store_mbox_special_use(const char *name)
{
	static const struct {
		const char *name;
		unsigned attr;
	} special[] = {
	        {"Drafts", STORE_MBOX_DRAFTS},   {"Sent", STORE_MBOX_SENT},
	        {"Trash", STORE_MBOX_TRASH},     {"Junk", STORE_MBOX_JUNK},
	        {"Archive", STORE_MBOX_ARCHIVE},
	};

	for (size_t i = 0; i < sizeof(special) / sizeof(*special); i++) {
		if (strcmp(name, special[i].name) == 0)
			return special[i].attr;
	}
	return 0;
}

/* --- postern-uidlist --------------------------------------------------- */

/* Takes one space-terminated (or `last`: newline-terminated) number. */
static int
take_number(const char **p, const char *end, uint64_t max, char term,
            uint64_t *v)
{
	const char *t = memchr(*p, term, (size_t)(end - *p));

	if (t == NULL || str_parse_u64(*p, (size_t)(t - *p), max, v) < 0)
		return -1;
	*p = t + 1;
	return 0;
}

int
store_uidlist_parse(const char *text, size_t len, struct store_uidlist *r)
{
	const char *p = text, *end = text + len, *nl;
	uint64_t version, uidv, uidl, msl = 1;

	nl = memchr(text, '\n', len);
	if (nl == NULL || nl + 1 != end)
		return -1;
	if (take_number(&p, nl, 9, ' ', &version) < 0 || version != 1 ||
	    take_number(&p, nl, UINT32_MAX, ' ', &uidv) < 0 || uidv == 0)
		return -1;
	if (memchr(p, ' ', (size_t)(nl - p)) != NULL) {
		if (take_number(&p, nl, UINT32_MAX, ' ', &uidl) < 0 ||
		    take_number(&p, end, INT64_MAX, '\n', &msl) < 0)
			return -1;
	} else if (take_number(&p, end, UINT32_MAX, '\n', &uidl) < 0) {
		return -1;
	}
	r->uidvalidity = (uint32_t)uidv;
	r->uid_limit = uidl > 0 ? (uint32_t)uidl : 1;
	r->modseq_limit = msl > 0 ? msl : 1;
	return 0;
}

void
store_uidlist_format(char *out, size_t outsz, const struct store_uidlist *ul)
{
	snprintf(out, outsz, "1 %u %u %llu\n", ul->uidvalidity, ul->uid_limit,
	         (unsigned long long)ul->modseq_limit);
}

/* --- keywords ------------------------------------------------------------ */

bool
store_keyword_valid(const char *kw)
{
	size_t len = strlen(kw);

	if (len == 0 || len > STORE_KEYWORD_LEN_MAX)
		return false;
	/* atom-specials of RFC 3501 9, plus 8-bit bytes (not CHAR). */
	for (const unsigned char *p = (const unsigned char *)kw; *p != '\0';
	     p++) {
		if (*p <= 0x20 || *p >= 0x7f || strchr("(){%*\"\\]", *p))
			return false;
	}
	return true;
}

/* Adds an owned copy of the `len` bytes at s as names[*n] if valid and
 * not there yet. */
static int
keywords_add(char *names[STORE_KEYWORDS_MAX], int *n, const char *s, size_t len)
{
	char *kw;

	if (*n >= STORE_KEYWORDS_MAX)
		return -1;
	kw = xstrndup(s, len);
	for (int i = 0; i < *n; i++) {
		if (strcasecmp(names[i], kw) == 0) {
			free(kw);
			return -1;
		}
	}
	if (!store_keyword_valid(kw)) {
		free(kw);
		return -1;
	}
	names[(*n)++] = kw;
	return 0;
}

static void
keywords_free(char *names[STORE_KEYWORDS_MAX], int n)
{
	for (int i = 0; i < n; i++)
		XFREE(names[i]);
}

#define KEYWORDS_MAGIC "postern-keywords 1\n"

int
store_keywords_parse_file(const char *text, size_t len,
                          char *names[STORE_KEYWORDS_MAX])
{
	size_t mlen = strlen(KEYWORDS_MAGIC);
	const char *p = text + mlen, *end = text + len;
	int n = 0;

	if (len < mlen || memcmp(text, KEYWORDS_MAGIC, mlen) != 0)
		return -1;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		/* "<letter> <name>\n", letters in order from 'a'. */
		if (nl == NULL || nl - p < 3 || p[0] != 'a' + n ||
		    p[1] != ' ' ||
		    keywords_add(names, &n, p + 2, (size_t)(nl - p - 2)) < 0) {
			keywords_free(names, n);
			return -1;
		}
		p = nl + 1;
	}
	return n;
}

int
store_keywords_parse_list(const char *text, char *names[STORE_KEYWORDS_MAX])
{
	const char *p = text;
	int n = 0;

	while (*p != '\0') {
		const char *sp = strchr(p, ' ');
		size_t len = sp != NULL ? (size_t)(sp - p) : strlen(p);

		if (keywords_add(names, &n, p, len) < 0) {
			keywords_free(names, n);
			return -1;
		}
		p += len;
		if (*p == ' ')
			p++;
	}
	return n;
}

char *
store_keywords_format_file(char *const *names, size_t n)
{
	size_t size = strlen(KEYWORDS_MAGIC) + 1, off;
	char *out;

	for (size_t i = 0; i < n; i++)
		size += strlen(names[i]) + 3;
	out = xmalloc(size);
	off = (size_t)snprintf(out, size, "%s", KEYWORDS_MAGIC);
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(out + off, size - off, "%c %s\n",
		                        (int)('a' + i), names[i]);
	return out;
}

char *
store_keywords_format_list(char *const *names, size_t n)
{
	size_t size = 1, off = 0;
	char *out;

	for (size_t i = 0; i < n; i++)
		size += strlen(names[i]) + 1;
	out = xmalloc(size);
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(out + off, size - off, "%s%s",
		                        i > 0 ? " " : "", names[i]);
	return out;
}
