/*
 * passdb — parsing, looking up and editing the users file (format in
 * passdb.h).
 *
 * The auth role loads the file; the `postern user` command edits it. A
 * loaded passdb keeps one owned copy of the file text in which every
 * field is NUL-terminated in place, an array of accounts in file order
 * and a strmap from address to index into that array. A parse either
 * yields a whole, valid passdb or nothing: there is no partly loaded
 * state. The copy holds password hashes, so it is wiped on free.
 *
 * An edit never rewrites the file in place: it builds the new text in
 * memory from the current file (validated first, so an edit cannot
 * spread damage it did not understand) and replaces the file with
 * rename(2), the write path of STYLE.md section 9.
 */
#include "auth/passdb.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fileio.h"
#include "core/domain.h"
#include "core/str.h"
#include "core/strmap.h"
#include "core/xalloc.h"

/* Syntax errors reported in full before the rest are only counted. */
#define PASSDB_ERRORS_SHOWN 10

struct passdb {
	char *text; /* owned copy of the file, fields NUL-terminated */
	size_t text_len;
	struct passdb_user *users; /* file order */
	size_t count;
	size_t cap;
	struct strmap index; /* address -> index into users; keys borrowed
	                        from text */
};

/* Accumulated "NAME:LINE: reason" messages of one parse. */
struct passdb_errors {
	char *text;
	unsigned count;
};

static void passdb_error_add(struct passdb_errors *errs, const char *name,
                             unsigned line, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void
passdb_error_add(struct passdb_errors *errs, const char *name, unsigned line,
                 const char *fmt, ...)
{
	va_list ap;
	char *msg;
	char *joined;

	errs->count++;
	if (errs->count > PASSDB_ERRORS_SHOWN)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	joined = xasprintf("%s%s%s:%u: %s", errs->text ? errs->text : "",
	                   errs->text ? "\n" : "", name, line, msg);
	free(msg);
	free(errs->text);
	errs->text = joined;
}

/* Returns the owned message for *error_r and clears `errs`. */
static char *
passdb_error_take(struct passdb_errors *errs, const char *name)
{
	char *msg = errs->text;

	if (errs->count > PASSDB_ERRORS_SHOWN) {
		msg = xasprintf("%s\n%s: %u more errors", errs->text, name,
		                errs->count - PASSDB_ERRORS_SHOWN);
		free(errs->text);
	}
	errs->text = NULL;
	errs->count = 0;
	return msg;
}

/* --- addresses and quotas --------------------------------------------- */

static bool
passdb_is_atext(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* Checks a dot-atom local part of `len` bytes (RFC 5322 section 3.2.3);
 * returns NULL or a static reason. */
static const char *
passdb_local_problem(const char *s, size_t len)
{
	bool after_dot = true;

	if (len == 0)
		return "empty local part";
	if (len > PASSDB_LOCAL_MAX)
		return "local part longer than 64 octets";
	/* A line starting with '#' is a comment, so no address may. */
	if (s[0] == '#')
		return "local part begins with '#'";
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (after_dot)
				return "empty atom in local part (dots)";
			after_dot = true;
		} else if (passdb_is_atext(s[i])) {
			after_dot = false;
		} else {
			return "invalid character in local part";
		}
	}
	return after_dot ? "local part ends with a dot" : NULL;
}

/* Checks a NUL-terminated address; NULL or a static reason. */
static const char *
passdb_address_problem(const char *address)
{
	const char *at = strchr(address, '@');
	const char *why;

	if (at == NULL)
		return "no '@' in address";
	why = passdb_local_problem(address, (size_t)(at - address));
	if (why == NULL)
		why = domain_problem(at + 1, strlen(at + 1));
	return why;
}

bool
passdb_address_valid(char *address)
{
	if (passdb_address_problem(address) != NULL)
		return false;
	str_lower(address);
	return true;
}

int
passdb_quota_parse(const char *s, size_t len, uint64_t *quota_r)
{
	uint64_t mult = 1;
	uint64_t v;

	if (len == 0) {
		*quota_r = 0;
		return 0;
	}
	switch (s[len - 1]) {
	case 'k':
	case 'K':
		mult = (uint64_t)1 << 10;
		break;
	case 'm':
	case 'M':
		mult = (uint64_t)1 << 20;
		break;
	case 'g':
	case 'G':
		mult = (uint64_t)1 << 30;
		break;
	default:
		break;
	}
	if (mult != 1)
		len--;
	if (str_parse_u64(s, len, UINT64_MAX / mult, &v) < 0)
		return -1;
	*quota_r = v * mult;
	return 0;
}

void
passdb_quota_format(uint64_t quota, char *out, size_t outsz)
{
	static const char suffixes[] = "GMK";

	for (unsigned i = 0; i < 3 && quota != 0; i++) {
		uint64_t unit = (uint64_t)1 << (10 * (3 - i));

		if (quota % unit == 0) {
			snprintf(out, outsz, "%llu%c",
			         (unsigned long long)(quota / unit),
			         suffixes[i]);
			return;
		}
	}
	snprintf(out, outsz, "%llu", (unsigned long long)quota);
}

/* True if `hash` may be written as a HASH field: non-empty, printable
 * ASCII without blanks or ':'. */
static bool
passdb_hash_field_valid(const char *hash)
{
	if (*hash == '\0')
		return false;
	for (; *hash != '\0'; hash++) {
		if (*hash <= ' ' || *hash > '~' || *hash == ':')
			return false;
	}
	return true;
}

/* --- the table ---------------------------------------------------------- */

/* Builds the index; reports each duplicate address as an error. The
 * file comes from the administrator, not from a peer, so the unkeyed
 * hash of strmap will do. */
static void
passdb_index(struct passdb *db, const char *name, struct passdb_errors *errs)
{
	strmap_init(&db->index, STRMAP_KEYS_BORROWED);
	strmap_reserve(&db->index, db->count);
	for (size_t k = 0; k < db->count; k++) {
		const struct passdb_user *u = &db->users[k];
		size_t first;

		if (strmap_put(&db->index, u->address, k, &first) < 0)
			passdb_error_add(errs, name, u->line,
			                 "duplicate address %s (first on line "
			                 "%u)",
			                 u->address, db->users[first].line);
	}
}

/* --- parsing ------------------------------------------------------------ */

/* True for a line with nothing but blanks, or a comment. */
static bool
passdb_line_is_ignored(const char *line, size_t len)
{
	size_t i = 0;

	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	return i == len || line[i] == '#';
}

/*
 * Parses the account line `line` of `len` bytes, at most PASSDB_LINE_MAX,
 * not ignored, followed in memory by a byte that may be overwritten. On
 * success fills *u with pointers into the line, whose separators become
 * NUL bytes, and returns NULL; otherwise returns a reason (static, or
 * formatted into `why`).
 */
static const char *
passdb_line_parse(char *line, size_t len, struct passdb_user *u, char *why,
                  size_t whysz)
{
	char *fields[3];
	size_t nfields = 1;
	const char *problem;

	fields[0] = line;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c == '\r')
			return "carriage return in line (the file must use LF "
			       "line ends)";
		if (c <= ' ' || c > '~') {
			snprintf(why, whysz,
			         "blank or control character at column %zu",
			         i + 1);
			return why;
		}
		if (c != ':')
			continue;
		if (nfields == 3)
			return "too many fields (expected "
			       "ADDRESS:HASH[:QUOTA])";
		line[i] = '\0';
		fields[nfields++] = line + i + 1;
	}
	line[len] = '\0';
	if (nfields < 2)
		return "missing ':' and password hash "
		       "(expected ADDRESS:HASH[:QUOTA])";
	problem = passdb_address_problem(fields[0]);
	if (problem != NULL) {
		snprintf(why, whysz, "invalid address %s: %s", fields[0],
		         problem);
		return why;
	}
	str_lower(fields[0]);
	if (*fields[1] == '\0')
		return "empty password hash (write * to disable login)";
	u->address = fields[0];
	u->hash = fields[1];
	u->quota = 0;
	if (nfields == 3 &&
	    passdb_quota_parse(fields[2], strlen(fields[2]), &u->quota) < 0) {
		snprintf(why, whysz,
		         "invalid quota %s (bytes, with an optional suffix K, "
		         "M or G)",
		         fields[2]);
		return why;
	}
	return NULL;
}

static void
passdb_append(struct passdb *db, const struct passdb_user *u)
{
	if (db->count == db->cap) {
		db->cap = db->cap ? db->cap * 2 : 64;
		db->users = xrealloc(db->users, db->cap * sizeof(*db->users));
	}
	db->users[db->count++] = *u;
}

/* Parses every line of db->text; records accounts and errors. */
static void
passdb_parse_lines(struct passdb *db, const char *name,
                   struct passdb_errors *errs)
{
	char why[PASSDB_LINE_MAX + 128];
	size_t pos = 0;
	unsigned lineno = 0;

	while (pos < db->text_len) {
		char *line = db->text + pos;
		char *nl = memchr(line, '\n', db->text_len - pos);
		size_t len = nl ? (size_t)(nl - line) : db->text_len - pos;
		struct passdb_user u = {0};
		const char *problem;

		pos += len + (nl != NULL);
		lineno++;
		if (len > PASSDB_LINE_MAX) {
			passdb_error_add(errs, name, lineno,
			                 "line longer than %d bytes",
			                 PASSDB_LINE_MAX);
			continue;
		}
		if (passdb_line_is_ignored(line, len))
			continue;
		problem = passdb_line_parse(line, len, &u, why, sizeof(why));
		if (problem != NULL) {
			passdb_error_add(errs, name, lineno, "%s", problem);
			continue;
		}
		if (db->count == PASSDB_USERS_MAX) {
			passdb_error_add(errs, name, lineno,
			                 "more than %d accounts",
			                 PASSDB_USERS_MAX);
			return;
		}
		u.line = lineno;
		passdb_append(db, &u);
	}
}

struct passdb *
passdb_parse(const char *text, size_t len, const char *name, char **error_r)
{
	struct passdb_errors errs = {0};
	struct passdb *db;

	*error_r = NULL;
	if (len > PASSDB_FILE_MAX) {
		*error_r = xasprintf("%s: larger than %zu bytes", name,
		                     PASSDB_FILE_MAX);
		return NULL;
	}
	db = xmalloc(sizeof(*db));
	db->text = xmalloc(len + 1);
	if (len > 0)
		memcpy(db->text, text, len);
	db->text_len = len;
	passdb_parse_lines(db, name, &errs);
	passdb_index(db, name, &errs);
	if (errs.count != 0) {
		*error_r = passdb_error_take(&errs, name);
		passdb_free(&db);
		return NULL;
	}
	return db;
}

/* --- reading ------------------------------------------------------------ */

/*
 * Reads the regular file open on `fd` (named `path` in messages), at most
 * PASSDB_FILE_MAX bytes. Returns 0 with an owned buffer in *text_r, or -1
 * and an owned message. Callers open with O_NONBLOCK so that a FIFO put
 * in the file's place cannot block them before the check here.
 */
static int
passdb_read_fd(int fd, const char *path, char **text_r, size_t *len_r,
               char **error_r)
{
	struct stat st;
	size_t len = 0;
	char *text;

	if (fstat(fd, &st) < 0) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		*error_r = xasprintf("%s: not a regular file", path);
		return -1;
	}
	text = fileio_read_bounded(fd, PASSDB_FILE_MAX, &len);
	if (text == NULL) {
		if (errno == EFBIG)
			*error_r = xasprintf("%s: larger than %zu bytes", path,
			                     PASSDB_FILE_MAX);
		else
			*error_r = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	*text_r = text;
	*len_r = len;
	return 0;
}

struct passdb *
passdb_load(const char *path, char **error_r)
{
	struct passdb *db;
	char *text;
	size_t len;
	int fd;

	*error_r = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		return NULL;
	}
	if (passdb_read_fd(fd, path, &text, &len, error_r) < 0) {
		close(fd);
		return NULL;
	}
	close(fd);
	db = passdb_parse(text, len, path, error_r);
	explicit_bzero(text, len);
	free(text);
	return db;
}

void
passdb_free(struct passdb **dbp)
{
	struct passdb *db = *dbp;

	if (db == NULL)
		return;
	strmap_deinit(&db->index);
	explicit_bzero(db->text, db->text_len);
	free(db->text);
	free(db->users);
	free(db);
	*dbp = NULL;
}

/* --- lookups ------------------------------------------------------------ */

size_t
passdb_count(const struct passdb *db)
{
	return db->count;
}

const struct passdb_user *
passdb_get(const struct passdb *db, size_t index)
{
	return index < db->count ? &db->users[index] : NULL;
}

const struct passdb_user *
passdb_lookup(const struct passdb *db, const char *address)
{
	char key[PASSDB_ADDRESS_MAX + 1];
	size_t i;

	if (!str_copy(key, sizeof(key), address))
		return NULL;
	str_lower(key);
	return strmap_get(&db->index, key, &i) ? &db->users[i] : NULL;
}

/* --- editing ------------------------------------------------------------ */

/* The message passdb_edit hands out; freed at the next call. */
static char *passdb_edit_error;

static int passdb_edit_fail(const char *fmt, ...)
        __attribute__((format(printf, 1, 2)));

static int
passdb_edit_fail(const char *fmt, ...)
{
	va_list ap;

	free(passdb_edit_error);
	va_start(ap, fmt);
	passdb_edit_error = xvasprintf(fmt, ap);
	va_end(ap);
	return -1;
}

/* Takes the owned message `msg` as the edit error. */
static int
passdb_edit_fail_take(char *msg)
{
	free(passdb_edit_error);
	passdb_edit_error = msg;
	return -1;
}

/* What the edit found on disk and what it will write. */
struct passdb_edit_state {
	const char *path;
	char *text; /* current content ("" when the file is new) */
	size_t len;
	bool exists;
	struct stat st; /* of the current file, when it exists */
	char *out;      /* new content */
	size_t out_len;
};

/* Opens PATH.lock and waits for an exclusive lock on it; returns the fd
 * or -1. The lock is released when the fd is closed. */
static int
passdb_edit_lock(const char *path)
{
	char *lock_path = xasprintf("%s.lock", path);
	int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	              0600);

	if (fd < 0) {
		passdb_edit_fail("%s: %s", lock_path, strerror(errno));
		free(lock_path);
		return -1;
	}
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			passdb_edit_fail("%s: lock: %s", lock_path,
			                 strerror(errno));
			close(fd);
			free(lock_path);
			return -1;
		}
	}
	free(lock_path);
	return fd;
}

/* Reads the current file into `es`; a missing file is empty for ADD. */
static int
passdb_edit_read(struct passdb_edit_state *es, enum passdb_op op)
{
	char *err = NULL;
	int fd = open(es->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0) {
		if (errno != ENOENT || op != PASSDB_OP_ADD)
			return passdb_edit_fail("%s: %s", es->path,
			                        strerror(errno));
		es->text = xstrdup("");
		es->len = 0;
		es->exists = false;
		return 0;
	}
	if (fstat(fd, &es->st) < 0 ||
	    passdb_read_fd(fd, es->path, &es->text, &es->len, &err) < 0) {
		if (err == NULL)
			err = xasprintf("%s: %s", es->path, strerror(errno));
		close(fd);
		return passdb_edit_fail_take(err);
	}
	close(fd);
	es->exists = true;
	return 0;
}

/* Finds the bytes of line `lineno` (from 1) in the text: [*start, *end),
 * the end including its LF if it has one. */
static void
passdb_line_span(const char *text, size_t len, unsigned lineno, size_t *start,
                 size_t *end)
{
	size_t pos = 0;
	const char *nl;

	/* The line exists: the text was parsed and has an account on it. */
	for (unsigned n = 1; n < lineno; n++) {
		nl = memchr(text + pos, '\n', len - pos);
		pos = (size_t)(nl - text) + 1;
	}
	*start = pos;
	nl = memchr(text + pos, '\n', len - pos);
	*end = nl ? (size_t)(nl - text) + 1 : len;
}

/* Splices the new text: text[0..start) + line + text[end..len). */
static void
passdb_edit_splice(struct passdb_edit_state *es, size_t start, size_t end,
                   const char *line)
{
	size_t line_len = strlen(line);

	es->out_len = start + line_len + (es->len - end);
	es->out = xmalloc(es->out_len + 1);
	/* es->text is NULL for a file that does not exist yet (then both
	 * ranges are empty, and memcpy must not see the NULL). */
	if (start > 0)
		memcpy(es->out, es->text, start);
	memcpy(es->out + start, line, line_len);
	if (es->len > end)
		memcpy(es->out + start + line_len, es->text + end,
		       es->len - end);
}

/* Computes es->out for the operation from the validated current text. */
static int
passdb_edit_build(struct passdb_edit_state *es, const struct passdb *db,
                  enum passdb_op op, const char *address, const char *hash,
                  uint64_t quota, bool set_quota)
{
	const struct passdb_user *u = passdb_lookup(db, address);
	char qbuf[PASSDB_QUOTA_STRLEN];
	char *line = NULL;
	size_t start;
	size_t end;

	if (op == PASSDB_OP_ADD && u != NULL)
		return passdb_edit_fail("%s:%u: %s already exists", es->path,
		                        u->line, address);
	if (op != PASSDB_OP_ADD && u == NULL)
		return passdb_edit_fail("%s: no account %s", es->path, address);
	if (op == PASSDB_OP_ADD && passdb_count(db) >= PASSDB_USERS_MAX)
		return passdb_edit_fail("%s: already %d accounts", es->path,
		                        PASSDB_USERS_MAX);
	if (op != PASSDB_OP_DEL) {
		/* u is NULL only for ADD, which always brings a hash. */
		if (!set_quota)
			quota = u != NULL ? u->quota : 0;
		if (hash == NULL && u != NULL)
			hash = u->hash;
		passdb_quota_format(quota, qbuf, sizeof(qbuf));
		line = xasprintf("%s:%s%s%s\n", address, hash, quota ? ":" : "",
		                 quota ? qbuf : "");
		if (strlen(line) - 1 > PASSDB_LINE_MAX) {
			explicit_bzero(line, strlen(line));
			free(line);
			return passdb_edit_fail("%s: account line for %s "
			                        "longer than %d bytes",
			                        es->path, address,
			                        PASSDB_LINE_MAX);
		}
	}
	if (op == PASSDB_OP_ADD) {
		/* Append, ending an unterminated last line first. */
		start = end = es->len;
		if (es->len > 0 && es->text[es->len - 1] != '\n') {
			char *fixed = xasprintf("\n%s", line);

			explicit_bzero(line, strlen(line));
			free(line);
			line = fixed;
		}
	} else {
		passdb_line_span(es->text, es->len, u->line, &start, &end);
	}
	passdb_edit_splice(es, start, end, line ? line : "");
	if (line != NULL) {
		explicit_bzero(line, strlen(line));
		free(line);
	}
	if (es->out_len > PASSDB_FILE_MAX)
		return passdb_edit_fail("%s: would grow past %zu bytes",
		                        es->path, PASSDB_FILE_MAX);
	return 0;
}

/* Writes es->out over the file (PATH.<pid>.tmp renamed over it, flushed,
 * STYLE.md 9), with the current file's owner (when it differs from ours;
 * the auth role may run as another user than the one editing, and must
 * still read it) and mode, or 0600 for a new file. */
static int
passdb_edit_replace(const struct passdb_edit_state *es)
{
	mode_t mode = es->exists ? (es->st.st_mode & 07777) : 0600;
	bool other_owner = es->exists && (es->st.st_uid != geteuid() ||
	                                  es->st.st_gid != getegid());

	if (fileio_replace(AT_FDCWD, es->path, es->out, es->out_len, mode,
	                   other_owner ? es->st.st_uid : FILEIO_OWNER_KEEP,
	                   es->st.st_gid, true) < 0)
		return passdb_edit_fail("replace %s: %s", es->path,
		                        strerror(errno));
	return 0;
}

/* Checks and lower-cases the arguments of passdb_edit into `address`. */
static int
passdb_edit_check(enum passdb_op op, const char *address_in, const char *hash,
                  char *address, size_t addresssz)
{
	const char *why;

	if (!str_copy(address, addresssz, address_in))
		return passdb_edit_fail("address longer than %d octets",
		                        PASSDB_ADDRESS_MAX);
	why = passdb_address_problem(address);
	if (why != NULL)
		return passdb_edit_fail("invalid address %s: %s", address_in,
		                        why);
	str_lower(address);
	if (op == PASSDB_OP_ADD && hash == NULL)
		return passdb_edit_fail("no password hash for %s", address);
	if (op != PASSDB_OP_DEL && hash != NULL &&
	    !passdb_hash_field_valid(hash))
		return passdb_edit_fail("invalid password hash for %s",
		                        address);
	return 0;
}

int
passdb_edit(const char *path, enum passdb_op op, const char *address_in,
            const char *hash, uint64_t quota, bool set_quota,
            const char **error_r)
{
	struct passdb_edit_state es = {.path = path};
	char address[PASSDB_ADDRESS_MAX + 1];
	struct passdb *db = NULL;
	char *err = NULL;
	int lock_fd = -1;
	int rc = -1;

	XFREE(passdb_edit_error);
	if (passdb_edit_check(op, address_in, hash, address, sizeof(address)) <
	    0)
		goto out;
	lock_fd = passdb_edit_lock(path);
	if (lock_fd < 0 || passdb_edit_read(&es, op) < 0)
		goto out;
	db = passdb_parse(es.text, es.len, path, &err);
	if (db == NULL) {
		passdb_edit_fail_take(err);
		goto out;
	}
	if (passdb_edit_build(&es, db, op, address, hash, quota, set_quota) <
	            0 ||
	    passdb_edit_replace(&es) < 0)
		goto out;
	rc = 0;
out:
	passdb_free(&db);
	if (es.text != NULL) {
		explicit_bzero(es.text, es.len);
		free(es.text);
	}
	if (es.out != NULL) {
		explicit_bzero(es.out, es.out_len);
		free(es.out);
	}
	if (lock_fd >= 0)
		close(lock_fd);
	*error_r = passdb_edit_error;
	return rc;
}
