/*
 * aliases — parsing and looking up the aliases file (format in
 * aliases.h, administrator's guide in docs/aliases.md).
 *
 * Run by the auth role (and by `postern aliases check`). A parse reads
 * the borrowed text line by line and copies every key and member into a
 * pool of large chunks owned by the result; included files are read,
 * parsed the same way and dropped. Entries live in one array in file
 * order, members in another (an entry's members are contiguous), and a
 * strmap from key to entry index answers lookups. A parse either yields
 * a whole, valid set of aliases or nothing: every error is collected and
 * the result is then thrown away.
 *
 * Time and memory are bounded by the limits in aliases.h: every file is
 * read at most up to its size limit, every line is scanned once, and the
 * total of members is capped (ALIASES_MEMBERS_TOTAL_MAX) however often an
 * include file is named.
 */
#include "auth/aliases.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fileio.h"
#include "core/domain.h"
#include "core/str.h"
#include "core/strmap.h"
#include "core/xalloc.h"

/* Members of all entries together, includes counted each time they are
 * named: bounds memory whatever the files hold. */
#define ALIASES_MEMBERS_TOTAL_MAX 4000000

/* Strings are copied into chunks of this size (longer ones get their
 * own chunk). */
#define ALIASES_CHUNK_SIZE ((size_t)64 * 1024)

/* Longest item quoted back in an error message. */
#define ALIASES_ERROR_ITEM_MAX 80

struct aliases_chunk {
	struct aliases_chunk *next;
	size_t used;
	size_t cap;
	char data[];
};

/* An entry and where its members start in aliases->members. */
struct aliases_entry {
	struct alias pub;
	size_t first;
};

struct aliases {
	struct aliases_entry *entries; /* file order */
	size_t count;
	size_t cap;
	struct alias_member *members;
	size_t nmembers;
	size_t members_cap;
	struct strmap index; /* key -> entry index; keys borrowed from chunks */
	struct aliases_chunk *chunks;
};

/* Where a line came from, for error messages. */
struct aliases_where {
	const char *file;
	unsigned line;
	const char *origin; /* " (included from FILE:LINE)" or "" */
};

struct aliases_parser {
	struct aliases *al;
	const char *name; /* the aliases file */
	char *errors;     /* "FILE:LINE: reason" lines, the first few */
	unsigned nerrors;
	bool stop; /* a limit on the whole file was hit */

	/* The entry being read. */
	bool in_entry;         /* a key line was seen, valid or not */
	bool entry_valid;      /* ... and it made an entry */
	bool entry_full;       /* ALIASES_MEMBERS_MAX reported */
	unsigned entry_errors; /* p->nerrors when the entry started */
	size_t entry_members;
	unsigned entry_line;

	/* Files being read: [0] the aliases file, then nested includes. */
	const char *files[ALIASES_INCLUDE_DEPTH + 1];
	unsigned depth;
	size_t include_bytes; /* read from all includes so far */
};

/* --- errors --------------------------------------------------------- */

static void aliases_error(struct aliases_parser *p,
                          const struct aliases_where *w, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void
aliases_error(struct aliases_parser *p, const struct aliases_where *w,
              const char *fmt, ...)
{
	va_list ap;
	char *msg;
	char *joined;

	p->nerrors++;
	if (p->nerrors > ALIASES_ERRORS_SHOWN)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	joined = xasprintf("%s%s%s:%u: %s%s", p->errors ? p->errors : "",
	                   p->errors ? "\n" : "", w->file, w->line, msg,
	                   w->origin);
	free(msg);
	free(p->errors);
	p->errors = joined;
}

/* Returns the owned message for *error_r and clears the parser's. */
static char *
aliases_error_take(struct aliases_parser *p)
{
	char *msg = p->errors;

	if (p->nerrors > ALIASES_ERRORS_SHOWN) {
		msg = xasprintf("%s\n%s: %u more errors", p->errors, p->name,
		                p->nerrors - ALIASES_ERRORS_SHOWN);
		free(p->errors);
	}
	p->errors = NULL;
	p->nerrors = 0;
	return msg;
}

/* --- storage -------------------------------------------------------- */

/* Returns a NUL-terminated copy of `n` bytes at `s`, owned by `al`. */
static const char *
aliases_strndup(struct aliases *al, const char *s, size_t n)
{
	struct aliases_chunk *c = al->chunks;
	char *r;

	if (c == NULL || c->cap - c->used < n + 1) {
		size_t cap =
		        n + 1 > ALIASES_CHUNK_SIZE ? n + 1 : ALIASES_CHUNK_SIZE;

		c = xmalloc(sizeof(*c) + cap);
		c->cap = cap;
		c->next = al->chunks;
		al->chunks = c;
	}
	r = c->data + c->used;
	memcpy(r, s, n);
	r[n] = '\0';
	c->used += n + 1;
	return r;
}

static void
aliases_entry_append(struct aliases *al, const char *key, unsigned line)
{
	struct aliases_entry *e;

	if (al->count == al->cap) {
		al->cap = al->cap ? al->cap * 2 : 64;
		al->entries =
		        xrealloc(al->entries, al->cap * sizeof(*al->entries));
	}
	e = &al->entries[al->count++];
	e->pub.key = aliases_strndup(al, key, strlen(key));
	e->pub.members = NULL;
	e->pub.nmembers = 0;
	e->pub.line = line;
	e->first = al->nmembers;
}

static void
aliases_member_append(struct aliases *al, const char *local, const char *domain)
{
	struct alias_member *m;

	if (al->nmembers == al->members_cap) {
		al->members_cap = al->members_cap ? al->members_cap * 2 : 256;
		al->members = xrealloc(al->members,
		                       al->members_cap * sizeof(*al->members));
	}
	m = &al->members[al->nmembers++];
	m->local = aliases_strndup(al, local, strlen(local));
	m->domain = domain ? aliases_strndup(al, domain, strlen(domain)) : NULL;
}

/* --- addresses ------------------------------------------------------ */

static bool
aliases_is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool
aliases_is_atext(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* True if the `len` bytes are a dot-atom (RFC 5322 3.2.3). */
static bool
aliases_is_dot_atom(const char *s, size_t len)
{
	bool after_dot = true;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (after_dot)
				return false;
			after_dot = true;
		} else if (aliases_is_atext(s[i])) {
			after_dot = false;
		} else {
			return false;
		}
	}
	return !after_dot;
}

/*
 * Parses a quoted local part (RFC 5321 4.1.2 Quoted-string) starting at
 * the '"' at s[*pos]; writes its canonical form (see aliases.h) into
 * `out` (ALIASES_LOCAL_MAX + 1 bytes) and advances *pos past it. Returns
 * NULL or a static reason.
 */
static const char *
aliases_quoted_parse(const char *s, size_t len, size_t *pos, char *out)
{
	char content[ALIASES_LOCAL_MAX];
	char quoted[2 * ALIASES_LOCAL_MAX + 3];
	size_t n = 0;
	size_t q = 0;
	size_t i = *pos + 1;

	for (;;) {
		char c;

		if (i >= len)
			return "unterminated quoted local part";
		c = s[i];
		if (c == '"')
			break;
		if (c == '\\') {
			/* quoted-pairSMTP: backslash, then %d32-126 */
			if (i + 1 >= len)
				return "unterminated quoted local part";
			c = s[++i];
		}
		if (c < ' ' || c > '~')
			return "invalid character in quoted local part";
		if (n == sizeof(content))
			return "local part longer than 64 octets";
		content[n++] = c;
		i++;
	}
	if (n == 0)
		return "empty quoted local part";
	*pos = i + 1;
	if (aliases_is_dot_atom(content, n)) {
		/* "john.doe" and john.doe are the same mailbox (RFC 5321
		 * 4.1.2): keep the unquoted form. */
		memcpy(out, content, n);
		out[n] = '\0';
		return NULL;
	}
	quoted[q++] = '"';
	for (size_t k = 0; k < n; k++) {
		if (content[k] == '"' || content[k] == '\\')
			quoted[q++] = '\\';
		quoted[q++] = content[k];
	}
	quoted[q++] = '"';
	if (q > ALIASES_LOCAL_MAX)
		return "local part longer than 64 octets";
	memcpy(out, quoted, q);
	out[q] = '\0';
	return NULL;
}

/* Parses a local part at s[*pos] into `out` (ALIASES_LOCAL_MAX + 1
 * bytes), canonical form; advances *pos. NULL or a static reason. */
static const char *
aliases_local_parse(const char *s, size_t len, size_t *pos, char *out)
{
	size_t i = *pos;
	size_t n;

	if (i < len && s[i] == '"')
		return aliases_quoted_parse(s, len, pos, out);
	while (i < len && (s[i] == '.' || aliases_is_atext(s[i])))
		i++;
	n = i - *pos;
	if (n == 0)
		return i < len ? "invalid character in local part"
		               : "empty local part";
	if (!aliases_is_dot_atom(s + *pos, n))
		return "empty atom in local part (dots)";
	if (n > ALIASES_LOCAL_MAX)
		return "local part longer than 64 octets";
	memcpy(out, s + *pos, n);
	out[n] = '\0';
	*pos = i;
	return NULL;
}

/* Parses a domain at s[*pos] into `out` (ALIASES_DOMAIN_MAX + 1 bytes),
 * lower case; advances *pos. NULL or a static reason. */
static const char *
aliases_domain_parse(const char *s, size_t len, size_t *pos, char *out)
{
	size_t i = *pos;
	const char *why;

	if (i < len && s[i] == '[')
		return "address literals are not supported";
	while (i < len && (s[i] == '.' || domain_is_ldh(s[i])))
		i++;
	if (i == *pos && i < len && s[i] != ':' && s[i] != ',' &&
	    !aliases_is_blank(s[i]))
		return "invalid character in domain";
	why = domain_problem(s + *pos, i - *pos);
	if (why != NULL)
		return why;
	memcpy(out, s + *pos, i - *pos);
	out[i - *pos] = '\0';
	str_lower(out);
	*pos = i;
	return NULL;
}

/* Parses a key ("local", "local@domain" or "@domain") at s[*pos] into
 * `key` (ALIASES_ADDRESS_MAX + 1 bytes), lower case; advances *pos. */
static const char *
aliases_key_parse(const char *s, size_t len, size_t *pos, char *key)
{
	char local[ALIASES_LOCAL_MAX + 1] = "";
	char domain[ALIASES_DOMAIN_MAX + 1];
	const char *why;

	if (s[*pos] != '@') {
		why = aliases_local_parse(s, len, pos, local);
		if (why != NULL)
			return why;
	}
	if (*pos < len && s[*pos] == '@') {
		(*pos)++;
		why = aliases_domain_parse(s, len, pos, domain);
		if (why != NULL)
			return why;
		snprintf(key, ALIASES_ADDRESS_MAX + 1, "%s@%s", local, domain);
	} else {
		snprintf(key, ALIASES_ADDRESS_MAX + 1, "%s", local);
	}
	str_lower(key);
	return NULL;
}

/* --- reading files -------------------------------------------------- */

/*
 * Reads the regular file at `path`, at most `max` bytes. Returns 0 with
 * an owned, NUL-terminated buffer in *text_r, or -1 and an owned
 * "PATH: reason" message.
 */
static int
aliases_read_path(const char *path, size_t max, char **text_r, size_t *len_r,
                  char **error_r)
{
	struct stat st;
	size_t len = 0;
	char *text;
	int fd;

	/* O_NONBLOCK: opening a FIFO named by mistake must not hang; the
	 * file type is checked before anything is read. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		*error_r = xasprintf("%s: not a regular file", path);
		close(fd);
		return -1;
	}
	text = fileio_read_bounded(fd, max, &len);
	if (text == NULL) {
		if (errno == EFBIG)
			*error_r = xasprintf("%s: larger than %zu bytes", path,
			                     max);
		else
			*error_r = xasprintf("%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	*text_r = text;
	*len_r = len;
	return 0;
}

/* --- members -------------------------------------------------------- */

static void aliases_parse_include(struct aliases_parser *p, const char *path,
                                  const struct aliases_where *w);

/* Records one member in the current entry, within the limits. */
static void
aliases_member_add(struct aliases_parser *p, const char *local,
                   const char *domain, const struct aliases_where *w)
{
	const struct aliases_entry *e;

	if (!p->entry_valid || p->stop)
		return;
	e = &p->al->entries[p->al->count - 1];
	if (p->entry_members == ALIASES_MEMBERS_MAX) {
		if (!p->entry_full)
			aliases_error(p, w,
			              "alias '%s' has more than %d "
			              "members",
			              e->pub.key, ALIASES_MEMBERS_MAX);
		p->entry_full = true;
		return;
	}
	if (p->al->nmembers == ALIASES_MEMBERS_TOTAL_MAX) {
		aliases_error(p, w, "more than %d members in all",
		              ALIASES_MEMBERS_TOTAL_MAX);
		p->stop = true;
		return;
	}
	aliases_member_append(p->al, local, domain);
	p->entry_members++;
}

/* Handles ":include:PATH" at s[*pos]; the path runs to the next comma
 * or the end of the line. */
static const char *
aliases_member_include(struct aliases_parser *p, const char *s, size_t len,
                       size_t *pos, const struct aliases_where *w)
{
	size_t i = *pos + strlen(":include:");
	size_t end;
	char *path;

	while (i < len && aliases_is_blank(s[i]))
		i++;
	end = i;
	while (end < len && s[end] != ',')
		end++;
	*pos = end;
	while (end > i && aliases_is_blank(s[end - 1]))
		end--;
	if (end == i)
		return "empty :include: path";
	if (s[i] != '/')
		return ":include: needs an absolute path";
	path = xstrndup(s + i, end - i);
	aliases_parse_include(p, path, w);
	free(path);
	return NULL;
}

/*
 * Parses one member at s[*pos] (not blank, not a comma) and adds it to
 * the current entry; advances *pos past it. Returns NULL or a static
 * reason (the caller quotes the member).
 */
static const char *
aliases_member_parse(struct aliases_parser *p, const char *s, size_t len,
                     size_t *pos, const struct aliases_where *w)
{
	char local[ALIASES_LOCAL_MAX + 1];
	char domain[ALIASES_DOMAIN_MAX + 1];
	char first = s[*pos];
	char second = *pos + 1 < len ? s[*pos + 1] : '\0';
	const char *why;

	if (str_has_prefix_ci(s + *pos, len - *pos, ":include:"))
		return aliases_member_include(p, s, len, pos, w);
	/* Classic aliases files pipe mail into programs and append it to
	 * files; postern's roles never run commands or write outside the
	 * mail store, so both are refused rather than silently dropped. */
	if (first == '|' || (first == '"' && second == '|'))
		return "postern does not deliver to commands (|command); "
		       "name a mailbox or an address";
	if (first == '/' || (first == '"' && second == '/'))
		return "postern does not deliver to files (/path); name a "
		       "mailbox or an address";
	if (first == '\\')
		return "'\\name' is not supported: an alias that names "
		       "itself already delivers to its account";
	why = aliases_local_parse(s, len, pos, local);
	if (why != NULL)
		return why;
	if (*pos < len && s[*pos] == '@') {
		(*pos)++;
		why = aliases_domain_parse(s, len, pos, domain);
		if (why != NULL)
			return why;
		aliases_member_add(p, local, domain, w);
	} else {
		aliases_member_add(p, local, NULL, w);
	}
	return NULL;
}

/* Returns the end of the item starting at s[i]: the next comma outside
 * quotes, or the end of the line. */
static size_t
aliases_item_end(const char *s, size_t len, size_t i)
{
	bool quoted = false;

	for (; i < len; i++) {
		if (quoted && s[i] == '\\' && i + 1 < len)
			i++;
		else if (s[i] == '"')
			quoted = !quoted;
		else if (!quoted && s[i] == ',')
			break;
	}
	return i;
}

/* Parses the comma-separated members in the `len` bytes at `s`. */
static void
aliases_parse_members(struct aliases_parser *p, const char *s, size_t len,
                      const struct aliases_where *w)
{
	size_t i = 0;

	while (!p->stop) {
		size_t start;
		size_t end;
		const char *why;

		while (i < len && aliases_is_blank(s[i]))
			i++;
		if (i >= len)
			return;
		if (s[i] == ',') {
			i++;
			continue;
		}
		start = i;
		why = aliases_member_parse(p, s, len, &i, w);
		if (why == NULL) {
			while (i < len && aliases_is_blank(s[i]))
				i++;
			if (i < len && s[i] != ',')
				why = "unexpected text after the member "
				      "(members are separated by commas)";
		}
		if (why == NULL)
			continue;
		end = aliases_item_end(s, len, start);
		i = end;
		while (end > start && aliases_is_blank(s[end - 1]))
			end--;
		aliases_error(p, w, "member '%.*s%s': %s",
		              (int)(end - start > ALIASES_ERROR_ITEM_MAX
		                            ? ALIASES_ERROR_ITEM_MAX
		                            : end - start),
		              s + start,
		              end - start > ALIASES_ERROR_ITEM_MAX ? "..." : "",
		              why);
	}
}

/* --- lines ---------------------------------------------------------- */

/* True for a line with nothing but blanks, or a comment. */
static bool
aliases_line_is_ignored(const char *line, size_t len)
{
	size_t i = 0;

	while (i < len && aliases_is_blank(line[i]))
		i++;
	return i == len || line[i] == '#';
}

/*
 * Checks what every line must satisfy; reports and returns false if it
 * does not. Comment and blank lines are only checked for length and NUL
 * bytes.
 */
static bool
aliases_line_check(struct aliases_parser *p, const char *line, size_t len,
                   const struct aliases_where *w)
{
	if (len > ALIASES_LINE_MAX) {
		aliases_error(p, w, "line longer than %d bytes",
		              ALIASES_LINE_MAX);
		return false;
	}
	if (memchr(line, '\0', len) != NULL) {
		aliases_error(p, w, "NUL byte in line");
		return false;
	}
	if (aliases_line_is_ignored(line, len))
		return true;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c == '\r') {
			aliases_error(p, w,
			              "carriage return in line (lines "
			              "must end in LF alone)");
			return false;
		}
		if ((c < ' ' && c != '\t') || c == 0x7f) {
			aliases_error(p, w, "control character in line");
			return false;
		}
	}
	return true;
}

/* Ends the entry being read: it must have a member. */
static void
aliases_entry_finish(struct aliases_parser *p)
{
	struct aliases_entry *e;

	if (!p->in_entry)
		return;
	p->in_entry = false;
	if (!p->entry_valid)
		return;
	e = &p->al->entries[p->al->count - 1];
	e->pub.nmembers = p->entry_members;
	/* An entry whose members were all refused has been reported. */
	if (p->entry_members == 0 && p->nerrors == p->entry_errors) {
		struct aliases_where w = {p->name, p->entry_line, ""};

		aliases_error(p, &w, "alias '%s' has no members", e->pub.key);
	}
}

/* Starts an entry on the key line `s` (first byte not blank). */
static void
aliases_entry_start(struct aliases_parser *p, const char *s, size_t len,
                    const struct aliases_where *w)
{
	char key[ALIASES_ADDRESS_MAX + 1];
	size_t i = 0;
	const char *why;

	p->in_entry = true;
	p->entry_valid = false;
	p->entry_full = false;
	p->entry_members = 0;
	p->entry_line = w->line;
	p->entry_errors = p->nerrors;
	why = aliases_key_parse(s, len, &i, key);
	if (why != NULL) {
		size_t end = aliases_item_end(s, len, 0);
		const char *colon = memchr(s, ':', end);

		if (colon != NULL)
			end = (size_t)(colon - s);
		if (end > ALIASES_ERROR_ITEM_MAX)
			end = ALIASES_ERROR_ITEM_MAX;
		aliases_error(p, w, "invalid alias name '%.*s': %s", (int)end,
		              s, why);
		return;
	}
	while (i < len && aliases_is_blank(s[i]))
		i++;
	if (i >= len || s[i] != ':') {
		aliases_error(p, w,
		              "expected ':' after the alias name '%s' "
		              "(entries read NAME: MEMBER, ...)",
		              key);
		return;
	}
	if (p->al->count == ALIASES_MAX) {
		aliases_error(p, w, "more than %d aliases", ALIASES_MAX);
		p->stop = true;
		return;
	}
	aliases_entry_append(p->al, key, w->line);
	p->entry_valid = true;
	aliases_parse_members(p, s + i + 1, len - i - 1, w);
}

/* Parses the aliases file proper. */
static void
aliases_parse_text(struct aliases_parser *p, const char *text, size_t len)
{
	size_t pos = 0;
	unsigned lineno = 0;

	while (pos < len && !p->stop) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;
		struct aliases_where w = {p->name, ++lineno, ""};
		bool is_continuation = n > 0 && aliases_is_blank(line[0]);

		pos += n + (nl != NULL);
		if (!aliases_line_check(p, line, n, &w)) {
			/* A bad key line still ends the entry above it. */
			if (!is_continuation) {
				aliases_entry_finish(p);
				p->in_entry = true;
				p->entry_valid = false;
			}
			continue;
		}
		if (aliases_line_is_ignored(line, n))
			continue;
		if (!is_continuation) {
			aliases_entry_finish(p);
			aliases_entry_start(p, line, n, &w);
		} else if (!p->in_entry) {
			aliases_error(p, &w,
			              "continuation line (it begins with a "
			              "blank) without an alias above it");
		} else {
			aliases_parse_members(p, line, n, &w);
		}
	}
	aliases_entry_finish(p);
}

/* Parses an included file: members on every line that is not blank or
 * a comment. */
static void
aliases_parse_include_text(struct aliases_parser *p, const char *text,
                           size_t len, const char *path, const char *origin)
{
	size_t pos = 0;
	unsigned lineno = 0;

	while (pos < len && !p->stop) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;
		struct aliases_where w = {path, ++lineno, origin};

		pos += n + (nl != NULL);
		if (!aliases_line_check(p, line, n, &w) ||
		    aliases_line_is_ignored(line, n))
			continue;
		aliases_parse_members(p, line, n, &w);
	}
}

/* Reads the file `path` (absolute) named by ":include:" at `w` and adds
 * its members to the current entry. */
static void
aliases_parse_include(struct aliases_parser *p, const char *path,
                      const struct aliases_where *w)
{
	size_t max = ALIASES_INCLUDE_FILE_MAX;
	char *origin;
	char *text;
	char *err;
	size_t len;

	for (unsigned k = 0; k <= p->depth; k++) {
		if (strcmp(p->files[k], path) == 0) {
			aliases_error(p, w,
			              ":include:%s: include loop (the file is "
			              "already being read)",
			              path);
			return;
		}
	}
	if (p->depth == ALIASES_INCLUDE_DEPTH) {
		aliases_error(p, w,
		              ":include:%s: includes nested more than %d "
		              "deep",
		              path, ALIASES_INCLUDE_DEPTH);
		return;
	}
	if (ALIASES_FILE_MAX - p->include_bytes < max)
		max = ALIASES_FILE_MAX - p->include_bytes;
	if (aliases_read_path(path, max, &text, &len, &err) < 0) {
		aliases_error(p, w, "cannot include %s", err);
		free(err);
		return;
	}
	p->include_bytes += len;
	origin = xasprintf(" (included from %s:%u)", w->file, w->line);
	p->files[++p->depth] = path;
	aliases_parse_include_text(p, text, len, path, origin);
	p->depth--;
	free(origin);
	free(text);
}

/* --- the table ------------------------------------------------------ */

/* Builds the index and points entries at their members; reports every
 * duplicate key. The file comes from the administrator, not from a peer,
 * so the unkeyed hash of strmap will do. */
static void
aliases_index(struct aliases_parser *p)
{
	struct aliases *al = p->al;

	strmap_init(&al->index, STRMAP_KEYS_BORROWED);
	strmap_reserve(&al->index, al->count);
	for (size_t k = 0; k < al->count; k++) {
		struct aliases_entry *e = &al->entries[k];
		size_t first;

		e->pub.members = al->members + e->first;
		if (strmap_put(&al->index, e->pub.key, k, &first) < 0) {
			struct aliases_where w = {p->name, e->pub.line, ""};

			aliases_error(p, &w,
			              "duplicate alias '%s' (first on line "
			              "%u)",
			              e->pub.key, al->entries[first].pub.line);
		}
	}
}

/* --- API ------------------------------------------------------------ */

struct aliases *
aliases_parse(const char *text, size_t len, const char *name, char **error_r)
{
	struct aliases_parser p = {0};
	struct aliases *al;

	*error_r = NULL;
	if (len > ALIASES_FILE_MAX) {
		*error_r = xasprintf("%s: larger than %zu bytes", name,
		                     ALIASES_FILE_MAX);
		return NULL;
	}
	al = xmalloc(sizeof(*al));
	p.al = al;
	p.name = name;
	p.files[0] = name;
	aliases_parse_text(&p, text, len);
	if (p.nerrors == 0)
		aliases_index(&p);
	if (p.nerrors != 0) {
		*error_r = aliases_error_take(&p);
		aliases_free(&al);
		return NULL;
	}
	return al;
}

struct aliases *
aliases_load(const char *path, char **error_r)
{
	struct aliases *al;
	char *text;
	size_t len;

	*error_r = NULL;
	if (aliases_read_path(path, ALIASES_FILE_MAX, &text, &len, error_r) < 0)
		return NULL;
	al = aliases_parse(text, len, path, error_r);
	free(text);
	return al;
}

void
aliases_free(struct aliases **aliasesp)
{
	struct aliases *al = *aliasesp;

	if (al == NULL)
		return;
	/* The index borrows its keys from the chunks: it goes first. */
	strmap_deinit(&al->index);
	while (al->chunks != NULL) {
		struct aliases_chunk *next = al->chunks->next;

		free(al->chunks);
		al->chunks = next;
	}
	free(al->entries);
	free(al->members);
	free(al);
	*aliasesp = NULL;
}

size_t
aliases_count(const struct aliases *aliases)
{
	return aliases->count;
}

const struct alias *
aliases_get(const struct aliases *aliases, size_t index)
{
	return index < aliases->count ? &aliases->entries[index].pub : NULL;
}

const struct alias *
aliases_lookup(const struct aliases *aliases, const char *key)
{
	char lower[ALIASES_ADDRESS_MAX + 1];
	size_t i;

	if (!str_copy(lower, sizeof(lower), key))
		return NULL;
	str_lower(lower);
	return strmap_get(&aliases->index, lower, &i) ? &aliases->entries[i].pub
	                                              : NULL;
}
