/*
 * test_aliases — the aliases file (auth/aliases): syntax, continuation
 * lines, comments, includes, every error with its FILE:LINE, limits; the
 * recipient resolution over it (auth/resolve): each rule and their
 * order, plus-addressing, catch-alls, case, nesting, remote members,
 * loops, self-aliases, bounds, duplicates, postmaster; and the
 * `postern aliases` command.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/aliases.h"
#include "auth/resolve.h"
#include "core/xalloc.h"

/* In src/cli/aliases.c; cli/cli.h does not declare it yet. */
int cli_aliases(const char *config_path, int argc, char **argv);

/* --- helpers -------------------------------------------------------- */

static struct aliases *
parse_ok(const char *text)
{
	char *err = NULL;
	struct aliases *al = aliases_parse(text, strlen(text), "aliases", &err);

	if (al == NULL)
		fail_msg("parse failed: %s", err);
	assert_null(err);
	return al;
}

/* Parses `text`, expects failure with exactly the message `want`. */
static void
expect_error(const char *text, const char *want)
{
	char *err = NULL;
	struct aliases *al = aliases_parse(text, strlen(text), "aliases", &err);

	if (al != NULL)
		fail_msg("parsed, expected error '%s' for: %s", want, text);
	assert_non_null(err);
	if (strcmp(err, want) != 0)
		fail_msg("error\n  '%s'\nexpected\n  '%s'", err, want);
	free(err);
}

/* Parses `text`, expects failure with a message containing `want`. */
static void
expect_error_part(const char *text, const char *want)
{
	char *err = NULL;
	struct aliases *al = aliases_parse(text, strlen(text), "aliases", &err);

	if (al != NULL)
		fail_msg("parsed, expected error '%s'", want);
	assert_non_null(err);
	if (strstr(err, want) == NULL)
		fail_msg("error '%s' lacks '%s'", err, want);
	free(err);
}

/* "local@domain" or "local" for bare members, joined by ", ". */
static char *
members_str(const struct alias *a)
{
	char *s = xstrdup("");

	for (size_t i = 0; i < a->nmembers; i++) {
		const struct alias_member *m = &a->members[i];
		char *n = xasprintf("%s%s%s%s%s", s, i ? ", " : "", m->local,
		                    m->domain ? "@" : "",
		                    m->domain ? m->domain : "");

		free(s);
		s = n;
	}
	return s;
}

static void
assert_members(const struct aliases *al, const char *key, const char *want)
{
	const struct alias *a = aliases_lookup(al, key);
	char *got;

	if (a == NULL)
		fail_msg("no alias '%s'", key);
	got = members_str(a);
	if (strcmp(got, want) != 0)
		fail_msg("alias '%s': members '%s', expected '%s'", key, got,
		         want);
	free(got);
}

static void
write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* A temporary directory per test, removed with what is in it. */
static int
setup_dir(void **state)
{
	const char *base = getenv("TMPDIR");
	char *dir = xasprintf("%s/test_aliases.XXXXXX",
	                      base && *base ? base : "/tmp");

	if (mkdtemp(dir) == NULL) {
		free(dir);
		return -1;
	}
	*state = dir;
	return 0;
}

static int
teardown_dir(void **state)
{
	char *dir = *state;
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d != NULL && (de = readdir(d)) != NULL) {
		char *p;

		if (de->d_name[0] == '.')
			continue;
		p = xasprintf("%s/%s", dir, de->d_name);
		if (unlink(p) < 0)
			rmdir(p);
		free(p);
	}
	if (d != NULL)
		closedir(d);
	rmdir(dir);
	free(dir);
	return 0;
}

/* --- parsing -------------------------------------------------------- */

static void
test_parse_good(void **state)
{
	struct aliases *al;
	const struct alias *a;

	(void)state;
	al = parse_ok("# system aliases\n"
	              "\n"
	              "postmaster: root\n"
	              "Root:\talice, Bob@Remote.EXAMPLE\n"
	              "sales@Example.Test : alice,\n"
	              "   carol\n"
	              "  # a comment between continuation lines\n"
	              "\n"
	              "\tdave@other.test, ,\n"
	              "@example.test: catch\n"
	              "\"john.doe\": \"a b\"@remote.example, \"x\\\"y\"\n"
	              "list: a,,b,\n"
	              "last: alice");
	assert_int_equal(aliases_count(al), 7);
	assert_members(al, "postmaster", "root");
	assert_members(al, "ROOT", "alice, Bob@remote.example");
	assert_members(al, "sales@example.test",
	               "alice, carol, dave@other.test");
	assert_members(al, "@EXAMPLE.test", "catch");
	/* a quoted dot-atom loses its quotes; others keep them */
	assert_members(al, "john.doe", "\"a b\"@remote.example, \"x\\\"y\"");
	assert_members(al, "list", "a, b");
	assert_members(al, "last", "alice");
	assert_null(aliases_lookup(al, "sales"));
	assert_null(aliases_lookup(al, "nobody"));
	assert_null(aliases_lookup(al, ""));

	a = aliases_get(al, 0);
	assert_string_equal(a->key, "postmaster");
	assert_int_equal(a->line, 3);
	a = aliases_get(al, 1);
	assert_string_equal(a->key, "root");
	assert_int_equal(a->line, 4);
	assert_null(a->members[0].domain);
	assert_string_equal(a->members[1].local, "Bob");
	assert_string_equal(aliases_get(al, 2)->key, "sales@example.test");
	assert_int_equal(aliases_get(al, 2)->line, 5);
	assert_string_equal(aliases_get(al, 3)->key, "@example.test");
	assert_null(aliases_get(al, 7));
	aliases_free(&al);
	assert_null(al);
	aliases_free(&al);
}

static void
test_parse_empty(void **state)
{
	char *err = NULL;
	struct aliases *al;

	(void)state;
	al = parse_ok("");
	assert_int_equal(aliases_count(al), 0);
	assert_null(aliases_lookup(al, "root"));
	aliases_free(&al);
	al = parse_ok("# only comments\n\n   \n\t# and blanks\n");
	assert_int_equal(aliases_count(al), 0);
	aliases_free(&al);
	/* a length past the limit is refused before a byte is read */
	al = aliases_parse("", ALIASES_FILE_MAX + 1, "big", &err);
	assert_null(al);
	assert_string_equal(err, "big: larger than 67108864 bytes");
	free(err);
}

static void
test_parse_errors(void **state)
{
	(void)state;
	expect_error("root alice\n",
	             "aliases:1: expected ':' after the alias name 'root' "
	             "(entries read NAME: MEMBER, ...)");
	expect_error("# c\nroot\n",
	             "aliases:2: expected ':' after the alias name 'root' "
	             "(entries read NAME: MEMBER, ...)");
	expect_error("a..b: x\n", "aliases:1: invalid alias name 'a..b': "
	                          "empty atom in local part (dots)");
	expect_error(";x: y\n", "aliases:1: invalid alias name ';x': invalid "
	                        "character in local part");
	expect_error("x@: y\n", "aliases:1: invalid alias name 'x@': empty "
	                        "domain");
	expect_error("x@-a.test: y\n",
	             "aliases:1: invalid alias name 'x@-a.test': domain label "
	             "begins with '-'");
	expect_error("x@[192.0.2.1]: y\n",
	             "aliases:1: invalid alias name 'x@[192.0.2.1]': address "
	             "literals are not supported");
	expect_error("root:\n", "aliases:1: alias 'root' has no members");
	expect_error("root: , ,\n", "aliases:1: alias 'root' has no members");
	expect_error("  alice\n", "aliases:1: continuation line (it begins "
	                          "with a blank) without an alias above it");
	expect_error("root: alice\nRoot: bob\n",
	             "aliases:2: duplicate alias 'root' (first on line 1)");
	expect_error("a@x.test: b\nA@X.TEST: c\n",
	             "aliases:2: duplicate alias 'a@x.test' (first on line 1)");
	expect_error("root: |/usr/bin/procmail\n",
	             "aliases:1: member '|/usr/bin/procmail': postern does "
	             "not deliver to commands (|command); name a mailbox or "
	             "an address");
	expect_error("root: \"|/bin/x -a, b\", alice\n",
	             "aliases:1: member '\"|/bin/x -a, b\"': postern does not "
	             "deliver to commands (|command); name a mailbox or an "
	             "address");
	expect_error("root: alice, /var/mail/root\n",
	             "aliases:1: member '/var/mail/root': postern does not "
	             "deliver to files (/path); name a mailbox or an address");
	expect_error("root: \"/var/mail/a b\"\n",
	             "aliases:1: member '\"/var/mail/a b\"': postern does not "
	             "deliver to files (/path); name a mailbox or an address");
	expect_error("root: \\root\n",
	             "aliases:1: member '\\root': '\\name' is not supported: "
	             "an alias that names itself already delivers to its "
	             "account");
	expect_error("root: alice bob\n",
	             "aliases:1: member 'alice bob': unexpected text after "
	             "the member (members are separated by commas)");
	expect_error("root: alice@x_y.test\n",
	             "aliases:1: member 'alice@x_y.test': unexpected text "
	             "after the member (members are separated by commas)");
	expect_error("root: a@\n", "aliases:1: member 'a@': empty domain");
	expect_error("root: a@b..c\n",
	             "aliases:1: member 'a@b..c': empty label in domain");
	expect_error("root: a@[::1]\n", "aliases:1: member 'a@[::1]': "
	                                "address literals are not supported");
	expect_error("root: \"\"@x.test\n", "aliases:1: member "
	                                    "'\"\"@x.test': empty quoted "
	                                    "local part");
	expect_error("root: \"abc\n", "aliases:1: member '\"abc': "
	                              "unterminated quoted local part");
	expect_error("root: a.\n", "aliases:1: member 'a.': empty atom in "
	                           "local part (dots)");
	expect_error("root: ;\n", "aliases:1: member ';': invalid character "
	                          "in local part");
	expect_error("root: :include:\n", "aliases:1: member ':include:': "
	                                  "empty :include: path");
	expect_error("root: :include:lists/staff\n",
	             "aliases:1: member ':include:lists/staff': :include: "
	             "needs an absolute path");
	expect_error("root: alice\r\n", "aliases:1: carriage return in line "
	                                "(lines must end in LF alone)");
	expect_error("root: al\x01ice\n",
	             "aliases:1: control character in line");
	expect_error("root: \xc3\xa9t\xc3\xa9\n",
	             "aliases:1: member '\xc3\xa9t\xc3\xa9': invalid "
	             "character in local part");
}

static void
test_parse_lengths(void **state)
{
	char local64[65];
	char *text;

	(void)state;
	memset(local64, 'a', 64);
	local64[64] = '\0';
	/* 64 octets fit, 65 do not (RFC 5321 4.5.3.1.1) */
	text = xasprintf("%s: %s@x.test\n", local64, local64);
	{
		struct aliases *al = parse_ok(text);

		aliases_free(&al);
	}
	free(text);
	text = xasprintf("%sb: x\n", local64);
	expect_error_part(text, "aliases:1: invalid alias name");
	expect_error_part(text, "local part longer than 64 octets");
	free(text);
	text = xasprintf("x: \"%s \"\n", local64);
	expect_error_part(text, "local part longer than 64 octets");
	free(text);
	/* a label of 64, a domain of 256 */
	text = xasprintf("x: y@%sa.test\n", local64);
	expect_error_part(text, "domain label longer than 63 octets");
	free(text);
	text = xasprintf("x: y@%s.%s.%s.%s.a\n", local64 + 1, local64 + 1,
	                 local64 + 1, local64 + 1);
	expect_error_part(text, "domain longer than 255 octets");
	free(text);
	/* a line of exactly ALIASES_LINE_MAX bytes, then one more */
	text = xmalloc(ALIASES_LINE_MAX + 16);
	memset(text, ' ', ALIASES_LINE_MAX);
	memcpy(text, "x: y", 4);
	text[ALIASES_LINE_MAX] = '\n';
	{
		struct aliases *al = parse_ok(text);

		aliases_free(&al);
	}
	memcpy(text + ALIASES_LINE_MAX, " \n", 3);
	expect_error(text, "aliases:1: line longer than 4096 bytes");
	free(text);
}

static void
test_parse_nul_byte(void **state)
{
	static const char text[] = "root: alice\n# c\0mment\nx: y\0z\n";
	char *err = NULL;
	struct aliases *al;

	(void)state;
	al = aliases_parse(text, sizeof(text) - 1, "aliases", &err);
	assert_null(al);
	assert_string_equal(err, "aliases:2: NUL byte in line\n"
	                         "aliases:3: NUL byte in line");
	free(err);
}

static void
test_parse_errors_collected(void **state)
{
	char *err = NULL;
	struct aliases *al;
	char *text;
	size_t len;

	(void)state;
	al = aliases_parse("a: |x\n"
	                   "b: ok, /y, also\n"
	                   "  \"q, |z\n"
	                   "c\n"
	                   "d: fine\n"
	                   "a: again\n",
	                   strlen("a: |x\nb: ok, /y, also\n  \"q, |z\nc\n"
	                          "d: fine\na: again\n"),
	                   "/etc/postern/aliases", &err);
	assert_null(al);
	assert_string_equal(
	        err,
	        "/etc/postern/aliases:1: member '|x': postern does not "
	        "deliver to commands (|command); name a mailbox or an "
	        "address\n"
	        "/etc/postern/aliases:2: member '/y': postern does not "
	        "deliver to files (/path); name a mailbox or an address\n"
	        "/etc/postern/aliases:3: member '\"q, |z': unterminated "
	        "quoted local part\n"
	        "/etc/postern/aliases:4: expected ':' after the alias name "
	        "'c' (entries read NAME: MEMBER, ...)");
	free(err);

	/* past ALIASES_ERRORS_SHOWN, the rest are counted */
	len = 0;
	text = xmalloc(200 * 8 + 1);
	for (int i = 0; i < 200; i++)
		len += (size_t)sprintf(text + len, "x%03d |\n", i);
	al = aliases_parse(text, len, "aliases", &err);
	assert_null(al);
	assert_non_null(strstr(err, "aliases:100: expected ':'"));
	assert_null(strstr(err, "aliases:101:"));
	assert_non_null(strstr(err, "\naliases: 100 more errors"));
	free(err);
	free(text);
}

static void
test_parse_members_limit(void **state)
{
	char *text = xmalloc(32 * (ALIASES_MEMBERS_MAX + 10));
	size_t len = (size_t)sprintf(text, "big: m0");
	struct aliases *al;

	(void)state;
	for (int i = 1; i < ALIASES_MEMBERS_MAX; i++)
		len += (size_t)sprintf(text + len, "%s%d",
		                       i % 100 == 0 ? "\n m" : ", m", i);
	text[len++] = '\n';
	text[len] = '\0';
	al = parse_ok(text);
	assert_int_equal(aliases_lookup(al, "big")->nmembers,
	                 ALIASES_MEMBERS_MAX);
	aliases_free(&al);
	/* one more, on line 11, reported once */
	strcpy(text + len, " one, two\nnext: x\n");
	expect_error(text, "aliases:11: alias 'big' has more than 1000 "
	                   "members");
	free(text);
}

static void
test_include_relative(void **state)
{
	const char *dir = *state;
	char *inc = xasprintf("%s/staff", dir);
	char *text;
	char *want;

	/* a nested include needs an absolute path too */
	write_file(inc, "alice\n  :include:  more  , bob\n");
	text = xasprintf("staff: frank\n\t:include:%s\n", inc);
	want = xasprintf("%s:2: member ':include:  more': :include: needs an "
	                 "absolute path (included from aliases:2)",
	                 inc);
	expect_error(text, want);
	free(want);
	free(text);
	free(inc);
}

static void
test_include_members(void **state)
{
	const char *dir = *state;
	char *inc = xasprintf("%s/staff", dir);
	char *inc2 = xasprintf("%s/more", dir);
	char *body = xasprintf("# the staff list\n"
	                       "alice\n"
	                       "  bob@Remote.Example, carol\n"
	                       "\n"
	                       ":include:  %s  \n",
	                       inc2);
	char *text;
	struct aliases *al;

	write_file(inc, body);
	write_file(inc2, "dave, erin@other.test");
	text = xasprintf("staff: :include:%s, frank\n"
	                 "\tgrace, :INCLUDE:%s\n",
	                 inc, inc2);
	al = parse_ok(text);
	assert_members(al, "staff",
	               "alice, bob@remote.example, carol, dave, "
	               "erin@other.test, frank, grace, dave, erin@other.test");
	aliases_free(&al);
	free(text);
	free(body);
	free(inc);
	free(inc2);
}

static void
test_include_errors(void **state)
{
	const char *dir = *state;
	char *inc = xasprintf("%s/list", dir);
	char *self = xasprintf("%s/self", dir);
	char *text;
	char *want;

	/* an error inside names the included file and where it came from */
	write_file(inc, "alice\n|/bin/sh\n");
	text = xasprintf("# x\nlist: :include:%s\n", inc);
	want = xasprintf("%s:2: member '|/bin/sh': postern does not deliver "
	                 "to commands (|command); name a mailbox or an "
	                 "address (included from aliases:2)",
	                 inc);
	expect_error(text, want);
	free(text);
	free(want);

	/* a missing file */
	text = xasprintf("list: :include:%s/none\n", dir);
	want = xasprintf("aliases:1: cannot include %s/none: No such file or "
	                 "directory",
	                 dir);
	expect_error(text, want);
	free(text);
	free(want);

	/* a directory */
	text = xasprintf("list: :include:%s\n", dir);
	want = xasprintf("aliases:1: cannot include %s: not a regular file",
	                 dir);
	expect_error(text, want);
	free(text);
	free(want);

	/* a file that includes itself */
	text = xasprintf("x\n:include:%s\n", self);
	write_file(self, text);
	free(text);
	text = xasprintf("list: :include:%s\n", self);
	want = xasprintf("%s:2: :include:%s: include loop (the file is "
	                 "already being read) (included from aliases:1)",
	                 self, self);
	expect_error(text, want);
	free(text);
	free(want);

	/* an include file with no member still leaves the entry empty */
	write_file(inc, "# nobody yet\n");
	text = xasprintf("list: :include:%s\n", inc);
	expect_error(text, "aliases:1: alias 'list' has no members");
	free(text);

	/* too large */
	{
		char *big = xmalloc(ALIASES_INCLUDE_FILE_MAX + 2);

		memset(big, '#', ALIASES_INCLUDE_FILE_MAX + 1);
		write_file(inc, big);
		free(big);
	}
	text = xasprintf("list: :include:%s\n", inc);
	want = xasprintf("aliases:1: cannot include %s: larger than 1048576 "
	                 "bytes",
	                 inc);
	expect_error(text, want);
	free(text);
	free(want);
	free(inc);
	free(self);
}

static void
test_include_depth(void **state)
{
	const char *dir = *state;
	char *path[ALIASES_INCLUDE_DEPTH + 2];
	char *text;
	char *want;
	struct aliases *al;

	/* f0 includes f1 includes ... ; f_k holds member mk */
	for (int k = 0; k <= ALIASES_INCLUDE_DEPTH; k++)
		path[k] = xasprintf("%s/f%d", dir, k);
	for (int k = 0; k <= ALIASES_INCLUDE_DEPTH; k++) {
		char *body = k < ALIASES_INCLUDE_DEPTH
		                     ? xasprintf("m%d, :include:%s\n", k,
		                                 path[k + 1])
		                     : xasprintf("m%d\n", k);

		write_file(path[k], body);
		free(body);
	}
	/* from f1: ALIASES_INCLUDE_DEPTH files, the most allowed */
	text = xasprintf("deep: :include:%s\n", path[1]);
	al = parse_ok(text);
	assert_members(al, "deep", "m1, m2, m3, m4");
	aliases_free(&al);
	free(text);
	/* from f0: one level too many */
	text = xasprintf("deep: :include:%s\n", path[0]);
	want = xasprintf("%s:1: :include:%s: includes nested more than 4 deep "
	                 "(included from %s:1)",
	                 path[3], path[4], path[2]);
	expect_error(text, want);
	free(text);
	free(want);
	for (int k = 0; k <= ALIASES_INCLUDE_DEPTH; k++)
		free(path[k]);
}

static void
test_load(void **state)
{
	const char *dir = *state;
	char *path = xasprintf("%s/aliases", dir);
	char *err = NULL;
	char *want;
	struct aliases *al;

	al = aliases_load(path, &err);
	assert_null(al);
	want = xasprintf("%s: No such file or directory", path);
	assert_string_equal(err, want);
	free(want);
	free(err);

	write_file(path, "postmaster: root\nroot: alice\n");
	al = aliases_load(path, &err);
	assert_non_null(al);
	assert_null(err);
	assert_int_equal(aliases_count(al), 2);
	aliases_free(&al);

	write_file(path, "postmaster: root\nroot: |x\n");
	al = aliases_load(path, &err);
	assert_null(al);
	want = xasprintf("%s:2: member '|x': postern does not deliver to "
	                 "commands (|command); name a mailbox or an address",
	                 path);
	assert_string_equal(err, want);
	free(want);
	free(err);
	free(path);
}

/* --- resolution ----------------------------------------------------- */

static const char *const test_domains[] = {"example.test", "Other.TEST"};

struct accounts {
	const char *const *names; /* NULL-terminated */
	bool tempfail;
	unsigned calls;
};

static enum resolve_account
account_lookup(void *arg, const char *address, uint64_t *quota_r)
{
	struct accounts *acc = arg;

	acc->calls++;
	for (const char *c = address; *c != '\0'; c++) {
		if (*c >= 'A' && *c <= 'Z')
			fail_msg("lookup of '%s' is not lower case", address);
	}
	if (acc->tempfail)
		return RESOLVE_ACCOUNT_TEMPFAIL;
	for (size_t i = 0; acc->names[i] != NULL; i++) {
		if (strcmp(acc->names[i], address) == 0) {
			*quota_r = 1000 * (i + 1);
			return RESOLVE_ACCOUNT_FOUND;
		}
	}
	return RESOLVE_ACCOUNT_NONE;
}

static const char *const default_accounts[] = {
        "alice@example.test", "bob@example.test", "user@example.test",
        "carol@other.test", NULL};

struct fixture {
	struct aliases *al;
	struct accounts acc;
	struct resolve_ctx ctx;
	struct resolve_targets out;
	const char *why;
};

static void
fixture_init(struct fixture *f, const char *aliases_text,
             const char *const *accounts)
{
	memset(f, 0, sizeof(*f));
	f->al = aliases_text ? parse_ok(aliases_text) : NULL;
	f->acc.names = accounts ? accounts : default_accounts;
	f->ctx.aliases = f->al;
	f->ctx.domains = test_domains;
	f->ctx.ndomains = 2;
	f->ctx.delimiter = "+";
	f->ctx.account_lookup = account_lookup;
	f->ctx.account_arg = &f->acc;
}

static void
fixture_deinit(struct fixture *f)
{
	resolve_targets_deinit(&f->out);
	aliases_free(&f->al);
}

/*
 * Resolves `address` and returns the targets as one string: "alice@d"
 * for a local target whose address is its account, "x+t@d>x@d" when they
 * differ, "remote:Bob@r" for a remote one; joined by ", ". Owned.
 */
static char *
resolve_str(struct fixture *f, const char *address, enum resolve_result *r)
{
	char *s = xstrdup("");

	resolve_targets_deinit(&f->out);
	*r = resolve_address(&f->ctx, address, &f->out, &f->why);
	for (size_t i = 0; i < f->out.count; i++) {
		const struct resolve_target *t = &f->out.items[i];
		char *n;

		if (t->kind == RESOLVE_REMOTE)
			n = xasprintf("%s%sremote:%s", s, i ? ", " : "",
			              t->address);
		else if (strcmp(t->address, t->account) == 0)
			n = xasprintf("%s%s%s", s, i ? ", " : "", t->address);
		else
			n = xasprintf("%s%s%s>%s", s, i ? ", " : "", t->address,
			              t->account);
		free(s);
		s = n;
	}
	return s;
}

static void
expect_targets(struct fixture *f, const char *address, const char *want)
{
	enum resolve_result r;
	char *got = resolve_str(f, address, &r);

	if (r != RESOLVE_OK)
		fail_msg("%s: %s (%s), expected %s", address,
		         resolve_result_name(r), f->why, want);
	assert_null(f->why);
	if (strcmp(got, want) != 0)
		fail_msg("%s: '%s', expected '%s'", address, got, want);
	free(got);
}

static void
expect_result(struct fixture *f, const char *address, enum resolve_result want,
              const char *why)
{
	enum resolve_result r;
	char *got = resolve_str(f, address, &r);

	if (r != want)
		fail_msg("%s: %s (%s / %s), expected %s", address,
		         resolve_result_name(r), got, f->why,
		         resolve_result_name(want));
	assert_string_equal(got, "");
	assert_int_equal(f->out.count, 0);
	assert_null(f->out.items);
	assert_non_null(f->why);
	if (why != NULL && strcmp(f->why, why) != 0)
		fail_msg("%s: reason '%s', expected '%s'", address, f->why,
		         why);
	free(got);
}

static void
test_resolve_accounts(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f, NULL, NULL);
	expect_targets(&f, "alice@example.test", "alice@example.test");
	assert_int_equal(f.out.items[0].quota, 1000);
	assert_false(f.out.items[0].via_alias);
	assert_string_equal(f.out.items[0].alias_key, "");
	assert_string_equal(f.out.items[0].alias_address, "");
	expect_targets(&f, "ALICE@Example.TEST", "alice@example.test");
	expect_targets(&f, "carol@other.test", "carol@other.test");
	assert_int_equal(f.out.items[0].quota, 4000);
	expect_result(&f, "dave@example.test", RESOLVE_UNKNOWN,
	              "dave@example.test: no such recipient");
	/* carol is an account of other.test only */
	expect_result(&f, "carol@example.test", RESOLVE_UNKNOWN, NULL);
	/* not a local domain: a remote target as written */
	expect_targets(&f, "Bob.Smith@Remote.EXAMPLE",
	               "remote:Bob.Smith@remote.example");
	assert_int_equal(f.out.items[0].kind, RESOLVE_REMOTE);
	assert_string_equal(f.out.items[0].account, "");
	assert_false(f.out.items[0].via_alias);
	expect_targets(&f, "\"a b\"@remote.example",
	               "remote:\"a b\"@remote.example");
	fixture_deinit(&f);
}

static void
test_resolve_rule_order(void **state)
{
	static const char *const accounts[] = {"alice@example.test",
	                                       "bob@example.test",
	                                       "sales@example.test",
	                                       "info@example.test",
	                                       "carol@other.test",
	                                       "sales@other.test",
	                                       "x@example.test",
	                                       "catch@example.test",
	                                       NULL};
	struct fixture f;

	(void)state;
	fixture_init(&f,
	             "sales@example.test: bob\n"
	             "sales: alice@example.test\n"
	             "info: x\n"
	             "@example.test: catch\n",
	             accounts);
	/* (a) the virtual alias beats (b) the bare alias and (c) the
	 * account */
	expect_targets(&f, "sales@example.test", "bob@example.test");
	assert_true(f.out.items[0].via_alias);
	assert_string_equal(f.out.items[0].alias_key, "sales@example.test");
	assert_string_equal(f.out.items[0].alias_address, "sales@example.test");
	/* (b) beats (c) in another domain */
	expect_targets(&f, "Sales@Other.Test", "alice@example.test");
	assert_string_equal(f.out.items[0].alias_key, "sales");
	assert_string_equal(f.out.items[0].alias_address, "sales@other.test");
	/* (b): a bare member is taken in the domain being expanded */
	expect_targets(&f, "info@example.test", "x@example.test");
	expect_result(&f, "info@other.test", RESOLVE_UNKNOWN,
	              "x@other.test: no such recipient (member of alias "
	              "'info')");
	/* (c) beats (e) */
	expect_targets(&f, "alice@example.test", "alice@example.test");
	/* (e) only when nothing else applies */
	expect_targets(&f, "nobody@example.test", "catch@example.test");
	assert_string_equal(f.out.items[0].alias_key, "@example.test");
	assert_string_equal(f.out.items[0].alias_address,
	                    "nobody@example.test");
	/* no catch-all in other.test */
	expect_result(&f, "nobody@other.test", RESOLVE_UNKNOWN,
	              "nobody@other.test: no such recipient");
	fixture_deinit(&f);
}

static void
test_resolve_plus(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f,
	             "list: alice, bob\n"
	             "user+special: bob\n"
	             "@other.test: carol\n",
	             NULL);
	/* (d): the base account keeps the whole address */
	expect_targets(&f, "user+news@example.test",
	               "user+news@example.test>user@example.test");
	assert_false(f.out.items[0].via_alias);
	/* the first delimiter only */
	expect_targets(&f, "user+a+b@example.test",
	               "user+a+b@example.test>user@example.test");
	/* (d) with the base alias */
	expect_targets(&f, "list+x@example.test",
	               "alice@example.test, bob@example.test");
	assert_string_equal(f.out.items[0].alias_address, "list@example.test");
	/* (a)-(c) on the whole address come first */
	expect_targets(&f, "user+special@example.test", "bob@example.test");
	/* (d) comes before (e) */
	expect_targets(&f, "carol+x@other.test",
	               "carol+x@other.test>carol@other.test");
	expect_targets(&f, "dave+x@other.test", "carol@other.test");
	/* a delimiter first or absent from the base: no rule (d) */
	expect_result(&f, "+user@example.test", RESOLVE_UNKNOWN, NULL);
	expect_result(&f, "nobody+x@example.test", RESOLVE_UNKNOWN,
	              "nobody+x@example.test: no such recipient");
	expect_result(&f, "\"user+x y\"@example.test", RESOLVE_UNKNOWN, NULL);
	/* another delimiter, or none */
	f.ctx.delimiter = "-+";
	expect_targets(&f, "user-x@example.test",
	               "user-x@example.test>user@example.test");
	expect_targets(&f, "user+x-y@example.test",
	               "user+x-y@example.test>user@example.test");
	f.ctx.delimiter = "";
	expect_result(&f, "user+news@example.test", RESOLVE_UNKNOWN, NULL);
	expect_targets(&f, "carol+x@other.test", "carol@other.test");
	f.ctx.delimiter = NULL;
	expect_result(&f, "user+news@example.test", RESOLVE_UNKNOWN, NULL);
	fixture_deinit(&f);
}

static void
test_resolve_catch_all(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f,
	             "@example.test: alice, bob@example.test, "
	             "Ext@Remote.Example\n"
	             "@other.test: catch\n"
	             "catch@example.test: alice\n",
	             NULL);
	expect_targets(&f, "anything@example.test",
	               "alice@example.test, bob@example.test, "
	               "remote:Ext@remote.example");
	expect_targets(&f, "Anything@EXAMPLE.test",
	               "alice@example.test, bob@example.test, "
	               "remote:Ext@remote.example");
	/* the bare member is taken in other.test, where it falls back into
	 * the catch-all that is being expanded: a loop */
	expect_result(&f, "x@other.test", RESOLVE_LOOP,
	              "alias loop: catch@other.test (member of alias "
	              "'@other.test') is already being expanded and is not "
	              "an account");
	/* existing accounts are not caught */
	expect_targets(&f, "carol@other.test", "carol@other.test");
	fixture_deinit(&f);
}

static void
test_resolve_nested_and_remote(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f,
	             "all: staff, board, Friend@Far.EXAMPLE\n"
	             "staff: alice, ops\n"
	             "ops: bob, pager@Ops.Example\n"
	             "board: carol@other.test, \"chair person\"@far.example\n",
	             NULL);
	expect_targets(&f, "all@example.test",
	               "alice@example.test, bob@example.test, "
	               "remote:pager@ops.example, carol@other.test, "
	               "remote:\"chair person\"@far.example, "
	               "remote:Friend@far.example");
	/* each target names the alias that listed it */
	assert_string_equal(f.out.items[0].alias_key, "staff");
	assert_string_equal(f.out.items[0].alias_address, "staff@example.test");
	assert_string_equal(f.out.items[1].alias_key, "ops");
	assert_string_equal(f.out.items[2].alias_address, "ops@example.test");
	assert_int_equal(f.out.items[2].kind, RESOLVE_REMOTE);
	assert_string_equal(f.out.items[3].alias_key, "board");
	assert_string_equal(f.out.items[5].alias_key, "all");
	assert_true(f.out.items[5].via_alias);
	fixture_deinit(&f);
}

static void
test_resolve_loops(void **state)
{
	static const char *const with_a[] = {"a@example.test",
	                                     "alice@example.test", NULL};
	struct fixture f;

	(void)state;
	/* a -> b -> a, no account a */
	fixture_init(&f, "a: b\nb: a\n", NULL);
	expect_result(&f, "a@example.test", RESOLVE_LOOP,
	              "alias loop: a@example.test (member of alias 'b') is "
	              "already being expanded and is not an account");
	expect_result(&f, "b@other.test", RESOLVE_LOOP, NULL);
	fixture_deinit(&f);
	/* the same with an account a: delivered to it */
	fixture_init(&f, "a: b\nb: a, alice\n", with_a);
	expect_targets(&f, "a@example.test",
	               "a@example.test, alice@example.test");
	assert_string_equal(f.out.items[0].alias_key, "b");
	/* from b the loop closes on b, which is no account (the alias a
	 * hides the account a from rule (c)) */
	expect_result(&f, "b@example.test", RESOLVE_LOOP,
	              "alias loop: b@example.test (member of alias 'a') is "
	              "already being expanded and is not an account");
	fixture_deinit(&f);
	/* a longer ring, across domains */
	fixture_init(&f,
	             "a@example.test: b@other.test\n"
	             "b@other.test: c@example.test\n"
	             "c: a@example.test\n",
	             with_a);
	expect_targets(&f, "a@example.test", "a@example.test");
	/* c's member names its domain: the same ring from c@other.test */
	expect_targets(&f, "c@other.test", "a@example.test");
	assert_string_equal(f.out.items[0].alias_key, "c");
	assert_string_equal(f.out.items[0].alias_address, "c@example.test");
	fixture_deinit(&f);
	/* plus-addressing into the alias being expanded */
	fixture_init(&f, "user: user+copy, alice\nnoacct: noacct+x\n", NULL);
	expect_targets(&f, "user@example.test",
	               "user+copy@example.test>user@example.test, "
	               "alice@example.test");
	expect_result(&f, "noacct@example.test", RESOLVE_LOOP, NULL);
	fixture_deinit(&f);
}

static void
test_resolve_self_alias(void **state)
{
	static const char *const with_root[] = {"root@example.test",
	                                        "alice@example.test", NULL};
	struct fixture f;

	(void)state;
	fixture_init(&f, "root: root, alice\n", with_root);
	expect_targets(&f, "root@example.test",
	               "root@example.test, alice@example.test");
	assert_true(f.out.items[0].via_alias);
	assert_string_equal(f.out.items[0].alias_key, "root");
	assert_int_equal(f.out.items[0].quota, 1000);
	/* root is no account in other.test */
	expect_result(&f, "root@other.test", RESOLVE_LOOP,
	              "alias loop: root@other.test (member of alias 'root') "
	              "is already being expanded and is not an account");
	fixture_deinit(&f);
	fixture_init(&f, "root: root, alice\n", NULL);
	expect_result(&f, "root@example.test", RESOLVE_LOOP, NULL);
	fixture_deinit(&f);
}

/* An aliases text with a chain a0: a1, a1: a2, ..., a(n-1): alice. */
static char *
chain_text(int n)
{
	char *s = xstrdup("");

	for (int i = 0; i < n; i++) {
		char *next = i + 1 < n ? xasprintf("%sa%d: a%d\n", s, i, i + 1)
		                       : xasprintf("%sa%d: alice\n", s, i);

		free(s);
		s = next;
	}
	return s;
}

static void
test_resolve_depth(void **state)
{
	struct fixture f;
	char *text;

	(void)state;
	/* 20 aliases deep: alice is at depth 20, the most allowed */
	text = chain_text(RESOLVE_DEPTH_DEFAULT);
	fixture_init(&f, text, NULL);
	expect_targets(&f, "a0@example.test", "alice@example.test");
	assert_string_equal(f.out.items[0].alias_key, "a19");
	f.ctx.max_depth = 19;
	expect_result(&f, "a0@example.test", RESOLVE_TOO_DEEP,
	              "aliases nested more than 19 deep at alice@example.test "
	              "(member of alias 'a19')");
	expect_targets(&f, "a1@example.test", "alice@example.test");
	fixture_deinit(&f);
	free(text);
	text = chain_text(RESOLVE_DEPTH_DEFAULT + 1);
	fixture_init(&f, text, NULL);
	expect_result(&f, "a0@example.test", RESOLVE_TOO_DEEP,
	              "aliases nested more than 20 deep at alice@example.test "
	              "(member of alias 'a20')");
	f.ctx.max_depth = 21;
	expect_targets(&f, "a0@example.test", "alice@example.test");
	fixture_deinit(&f);
	free(text);
	/* a very long chain is cut at the hard limit too */
	text = chain_text(150);
	fixture_init(&f, text, NULL);
	f.ctx.max_depth = 1000000;
	expect_result(&f, "a0@example.test", RESOLVE_TOO_DEEP,
	              "aliases nested more than 100 deep at a101@example.test "
	              "(member of alias 'a100')");
	fixture_deinit(&f);
	free(text);
}

static void
test_resolve_too_many(void **state)
{
	struct fixture f;
	char *text = xstrdup("");
	char *next;

	(void)state;
	/* two lists of 600 remote members each */
	for (int l = 0; l < 2; l++) {
		next = xasprintf("%slist%d: m%d_0@remote.example", text, l, l);
		free(text);
		text = next;
		for (int i = 1; i < 600; i++) {
			next = xasprintf("%s,\n m%d_%d@remote.example", text, l,
			                 i);
			free(text);
			text = next;
		}
		next = xasprintf("%s\n", text);
		free(text);
		text = next;
	}
	next = xasprintf("%sboth: list0, list1\nfive: a@r.example, "
	                 "b@r.example, c@r.example, d@r.example, "
	                 "e@r.example\n",
	                 text);
	free(text);
	text = next;
	fixture_init(&f, text, NULL);
	{
		enum resolve_result r;
		char *got = resolve_str(&f, "list0@example.test", &r);

		assert_int_equal(r, RESOLVE_OK);
		assert_int_equal(f.out.count, 600);
		free(got);
	}
	expect_result(&f, "both@example.test", RESOLVE_TOO_MANY,
	              "more than 1000 targets");
	f.ctx.max_targets = 1200;
	{
		enum resolve_result r;
		char *got = resolve_str(&f, "both@example.test", &r);

		assert_int_equal(r, RESOLVE_OK);
		assert_int_equal(f.out.count, 1200);
		free(got);
	}
	f.ctx.max_targets = 4;
	expect_result(&f, "five@example.test", RESOLVE_TOO_MANY,
	              "more than 4 targets");
	f.ctx.max_targets = 5;
	expect_targets(&f, "five@example.test",
	               "remote:a@r.example, remote:b@r.example, "
	               "remote:c@r.example, remote:d@r.example, "
	               "remote:e@r.example");
	fixture_deinit(&f);
	free(text);

	/* duplicates give one target but every one is looked at: the
	 * visits bound (10 per allowed target) stops a list of repeats */
	fixture_init(&f,
	             "rep: alice, alice, alice, alice, alice, alice, alice, "
	             "alice, alice, alice, alice\n",
	             NULL);
	expect_targets(&f, "rep@example.test", "alice@example.test");
	f.ctx.max_targets = 1;
	expect_result(&f, "rep@example.test", RESOLVE_TOO_MANY,
	              "alias expansion looks at more than 10 addresses");
	fixture_deinit(&f);
}

static void
test_resolve_shared_sublists(void **state)
{
	struct fixture f;
	char *text = xstrdup("");
	enum resolve_result r;
	char *got;

	(void)state;
	/* l0: l1a, l1b; l1a: l2a, l2b; l1b: l2a, l2b; ...: 2^18 paths but
	 * each alias is expanded once */
	for (int i = 0; i < 18; i++) {
		char *next = xasprintf("%sl%da: l%da, l%db\nl%db: l%da, l%db\n",
		                       text, i, i + 1, i + 1, i, i + 1, i + 1);

		free(text);
		text = next;
	}
	got = xasprintf("%sl18a: alice\nl18b: bob, alice\n", text);
	free(text);
	text = got;
	fixture_init(&f, text, NULL);
	got = resolve_str(&f, "l0a@example.test", &r);
	assert_int_equal(r, RESOLVE_OK);
	assert_string_equal(got, "alice@example.test, bob@example.test");
	assert_true(f.acc.calls < 10);
	free(got);
	fixture_deinit(&f);
	free(text);
}

static void
test_resolve_dedupe(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f,
	             "team: alice, Alice, alice@Example.Test, alice+x, sub, "
	             "ext@r.example, ext@R.EXAMPLE, Ext@r.example\n"
	             "sub: alice, bob, ext@r.example\n",
	             NULL);
	/* once per account, once per remote address (the local part of a
	 * remote address keeps its case: Ext and ext may differ) */
	expect_targets(&f, "team@example.test",
	               "alice@example.test, bob@example.test, "
	               "remote:ext@r.example, remote:Ext@r.example");
	fixture_deinit(&f);
}

static void
test_resolve_unknown_member(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f, "sales: alice, nobody\nsub: sales\n", NULL);
	expect_result(&f, "sales@example.test", RESOLVE_UNKNOWN,
	              "nobody@example.test: no such recipient (member of "
	              "alias 'sales')");
	expect_result(&f, "sub@example.test", RESOLVE_UNKNOWN, NULL);
	fixture_deinit(&f);
}

static void
test_resolve_postmaster(void **state)
{
	static const char *const nobody[] = {NULL};
	struct fixture f;

	(void)state;
	fixture_init(&f, NULL, nobody);
	expect_result(&f, "postmaster@example.test", RESOLVE_POSTMASTER,
	              "postmaster@example.test resolves to nothing: use the "
	              "postmaster fallback");
	expect_result(&f, "PostMaster@Other.Test", RESOLVE_POSTMASTER, NULL);
	/* RCPT TO:<Postmaster>: the first local domain */
	expect_result(&f, "Postmaster", RESOLVE_POSTMASTER,
	              "postmaster@example.test resolves to nothing: use the "
	              "postmaster fallback");
	/* not ours: relayed as any other */
	expect_targets(&f, "postmaster@remote.example",
	               "remote:postmaster@remote.example");
	fixture_deinit(&f);

	fixture_init(&f, "postmaster: root\nroot: alice@example.test\n", NULL);
	expect_targets(&f, "postmaster@other.test", "alice@example.test");
	expect_targets(&f, "POSTMASTER", "alice@example.test");
	assert_string_equal(f.out.items[0].alias_key, "root");
	fixture_deinit(&f);

	/* an alias whose member is unknown: still the fallback */
	fixture_init(&f, "postmaster: root\n", NULL);
	expect_result(&f, "postmaster@example.test", RESOLVE_POSTMASTER, NULL);
	fixture_deinit(&f);
}

static void
test_resolve_tempfail(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f, "sales: alice\n", NULL);
	f.acc.tempfail = true;
	expect_result(&f, "alice@example.test", RESOLVE_TEMPFAIL,
	              "cannot look up the account alice@example.test now");
	expect_result(&f, "sales@example.test", RESOLVE_TEMPFAIL, NULL);
	/* remote addresses need no look-up */
	expect_targets(&f, "x@remote.example", "remote:x@remote.example");
	fixture_deinit(&f);
}

static void
test_resolve_invalid(void **state)
{
	struct fixture f;
	char long_local[70];
	char *addr;

	(void)state;
	fixture_init(&f, NULL, NULL);
	expect_result(&f, "alice", RESOLVE_INVALID, "no domain in address");
	expect_result(&f, "", RESOLVE_INVALID, "no domain in address");
	expect_result(&f, "@example.test", RESOLVE_INVALID, "empty local part");
	expect_result(&f, "alice@", RESOLVE_INVALID, "empty domain");
	expect_result(&f, "ali\nce@example.test", RESOLVE_INVALID,
	              "control character in address");
	memset(long_local, 'a', 65);
	long_local[65] = '\0';
	addr = xasprintf("%s@example.test", long_local);
	expect_result(&f, addr, RESOLVE_INVALID,
	              "local part longer than 64 octets");
	free(addr);
	f.ctx.ndomains = 0;
	expect_result(&f, "postmaster", RESOLVE_INVALID,
	              "no domain in address");
	/* with no local domain, everything is remote */
	expect_targets(&f, "alice@example.test", "remote:alice@example.test");
	fixture_deinit(&f);
}

static void
test_resolve_alias_entry(void **state)
{
	struct fixture f;
	struct resolve_targets out;
	const char *why = NULL;

	(void)state;
	fixture_init(&f,
	             "@example.test: alice, x@r.example\n"
	             "team: bob, nobody\n"
	             "self: self\n",
	             NULL);
	assert_int_equal(resolve_alias(&f.ctx,
	                               aliases_lookup(f.al, "@example.test"),
	                               "EXAMPLE.test", &out, &why),
	                 RESOLVE_OK);
	assert_null(why);
	assert_int_equal(out.count, 2);
	assert_string_equal(out.items[0].alias_address, "@example.test");
	resolve_targets_deinit(&out);
	assert_int_equal(resolve_alias(&f.ctx, aliases_lookup(f.al, "team"),
	                               "other.test", &out, &why),
	                 RESOLVE_UNKNOWN);
	assert_string_equal(why, "bob@other.test: no such recipient (member "
	                         "of alias 'team')");
	resolve_targets_deinit(&out);
	assert_int_equal(resolve_alias(&f.ctx, aliases_lookup(f.al, "self"),
	                               "example.test", &out, &why),
	                 RESOLVE_LOOP);
	resolve_targets_deinit(&out);
	fixture_deinit(&f);
}

static void
test_result_names(void **state)
{
	(void)state;
	assert_string_equal(resolve_result_name(RESOLVE_OK), "ok");
	assert_string_equal(resolve_result_name(RESOLVE_TOO_DEEP), "too-deep");
	assert_string_equal(resolve_result_name(RESOLVE_POSTMASTER),
	                    "postmaster");
	assert_string_equal(resolve_result_reply(RESOLVE_UNKNOWN),
	                    "550 5.1.1 No such user here");
	assert_string_equal(resolve_result_reply(RESOLVE_LOOP),
	                    "550 5.4.6 Alias loop detected");
	assert_string_equal(resolve_result_reply(RESOLVE_TOO_MANY),
	                    "550 5.5.3 Alias expands to too many recipients");
	assert_string_equal(resolve_result_reply(RESOLVE_TEMPFAIL),
	                    "451 4.3.0 Temporary lookup failure, try again "
	                    "later");
	assert_string_equal(resolve_result_reply(RESOLVE_INVALID),
	                    "501 5.1.3 Bad recipient address syntax");
}

/* --- postern aliases ------------------------------------------------ */

/* Runs cli_aliases with stdout and stderr sent to files; returns its
 * status and what it printed. */
static int
run_cli(const char *config, int argc, const char *const *args, char *out,
        char *err, size_t size)
{
	char *argv[8];
	FILE *fo = tmpfile();
	FILE *fe = tmpfile();
	int so = dup(STDOUT_FILENO);
	int se = dup(STDERR_FILENO);
	int rc;
	size_t n;

	assert_true(argc < 8);
	for (int i = 0; i < argc; i++)
		argv[i] = (char *)(uintptr_t)args[i];
	argv[argc] = NULL;
	assert_non_null(fo);
	assert_non_null(fe);
	fflush(stdout);
	fflush(stderr);
	dup2(fileno(fo), STDOUT_FILENO);
	dup2(fileno(fe), STDERR_FILENO);
	rc = cli_aliases(config, argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(so, STDOUT_FILENO);
	dup2(se, STDERR_FILENO);
	close(so);
	close(se);
	rewind(fo);
	rewind(fe);
	n = fread(out, 1, size - 1, fo);
	out[n] = '\0';
	n = fread(err, 1, size - 1, fe);
	err[n] = '\0';
	fclose(fo);
	fclose(fe);
	return rc;
}

static void
test_cli(void **state)
{
	const char *dir = *state;
	char *conf = xasprintf("%s/postern.conf", dir);
	char *users = xasprintf("%s/users", dir);
	char *aliases = xasprintf("%s/aliases", dir);
	char *want;
	char out[4096];
	char err[4096];

	write_file(conf, "domain example.test other.test\n"
	                 "hostname mail.example.test\n"
	                 "users_file users\n");
	write_file(users, "alice@example.test:*\nbob@example.test:*:1M\n"
	                  "alice@other.test:*\n");
	write_file(aliases, "postmaster: alice\n"
	                    "sales@example.test: bob, x@Remote.Example\n"
	                    "info@elsewhere.test: alice@example.test\n");

	/* syntax, members and domains all fine but one warning */
	{
		const char *args[] = {"aliases", "check", aliases};

		assert_int_equal(run_cli(conf, 3, args, out, err, sizeof(out)),
		                 0);
		want = xasprintf("%s: 3 aliases\n", aliases);
		assert_string_equal(out, want);
		free(want);
		want = xasprintf("%s:3: warning: alias 'info@elsewhere.test': "
		                 "elsewhere.test is not a local domain, so "
		                 "the alias is never used\n",
		                 aliases);
		assert_string_equal(err, want);
		free(want);
	}
	/* a stale member, found in one domain only */
	write_file(aliases, "postmaster: alice\nteam: alice, bob\n");
	{
		const char *args[] = {"aliases", "check", aliases};

		assert_int_equal(run_cli(conf, 3, args, out, err, sizeof(out)),
		                 1);
		assert_string_equal(out, "");
		want = xasprintf("%s:2: alias 'team' in other.test: unknown: "
		                 "bob@other.test: no such recipient (member "
		                 "of alias 'team')\n",
		                 aliases);
		assert_string_equal(err, want);
		free(want);
	}
	/* a syntax error */
	write_file(aliases, "postmaster: alice\nroot: |/bin/true\n");
	{
		const char *args[] = {"aliases", "check", aliases};

		assert_int_equal(run_cli(conf, 3, args, out, err, sizeof(out)),
		                 1);
		assert_string_equal(out, "");
		want = xasprintf("%s:2: member '|/bin/true': postern does not "
		                 "deliver to commands (|command); name a "
		                 "mailbox or an address\n",
		                 aliases);
		assert_string_equal(err, want);
		free(want);
	}
	/* no usable configuration: syntax only */
	write_file(aliases, "postmaster: alice\nteam: nobody\n");
	{
		const char *args[] = {"aliases", "check", aliases};

		assert_int_equal(run_cli("/nonexistent/postern.conf", 3, args,
		                         out, err, sizeof(out)),
		                 0);
		want = xasprintf("%s: 2 aliases\n", aliases);
		assert_string_equal(out, want);
		free(want);
		assert_string_equal(err, "postern: note: configuration "
		                         "/nonexistent/postern.conf not "
		                         "loaded; syntax checked only\n");
	}
	/* no FILE and no aliases_file in the configuration */
	{
		const char *args[] = {"aliases", "check"};
		const char *nargs[] = {"newaliases"};

		assert_int_equal(run_cli(conf, 2, args, out, err, sizeof(out)),
		                 1);
		assert_non_null(strstr(err, "sets no aliases_file; give the "
		                            "file to check"));
		assert_int_equal(run_cli(conf, 1, nargs, out, err, sizeof(out)),
		                 0);
		assert_non_null(strstr(err, "sets no aliases_file; nothing "
		                            "to check"));
	}
	/* resolve */
	write_file(aliases, "postmaster: alice\n"
	                    "sales@example.test: bob, x@Remote.Example\n");
	{
		const char *args[] = {"aliases",
		                      "resolve",
		                      "--file",
		                      aliases,
		                      "Sales@example.test",
		                      "bob+x@example.test",
		                      "nobody@other.test"};

		assert_int_equal(run_cli(conf, 7, args, out, err, sizeof(out)),
		                 1);
		assert_string_equal(
		        out, "Sales@example.test: ok\n"
		             "  local bob@example.test (account "
		             "bob@example.test, via alias 'sales@example.test' "
		             "for sales@example.test)\n"
		             "  remote x@remote.example (via alias "
		             "'sales@example.test' for sales@example.test)\n"
		             "bob+x@example.test: ok\n"
		             "  local bob+x@example.test (account "
		             "bob@example.test)\n"
		             "nobody@other.test: unknown: nobody@other.test: "
		             "no such recipient\n");
		assert_string_equal(err, "");
	}
	/* usage */
	{
		const char *a1[] = {"aliases"};
		const char *a2[] = {"aliases", "frob"};
		const char *a3[] = {"aliases", "resolve"};
		const char *a4[] = {"newaliases", "x"};

		assert_int_equal(run_cli(conf, 1, a1, out, err, sizeof(out)),
		                 2);
		assert_int_equal(run_cli(conf, 2, a2, out, err, sizeof(out)),
		                 2);
		assert_int_equal(run_cli(conf, 2, a3, out, err, sizeof(out)),
		                 2);
		assert_int_equal(run_cli(conf, 2, a4, out, err, sizeof(out)),
		                 2);
	}
	free(conf);
	free(users);
	free(aliases);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parse_good),
	        cmocka_unit_test(test_parse_empty),
	        cmocka_unit_test(test_parse_errors),
	        cmocka_unit_test(test_parse_lengths),
	        cmocka_unit_test(test_parse_nul_byte),
	        cmocka_unit_test(test_parse_errors_collected),
	        cmocka_unit_test(test_parse_members_limit),
	        cmocka_unit_test_setup_teardown(test_include_relative,
	                                        setup_dir, teardown_dir),
	        cmocka_unit_test_setup_teardown(test_include_members, setup_dir,
	                                        teardown_dir),
	        cmocka_unit_test_setup_teardown(test_include_errors, setup_dir,
	                                        teardown_dir),
	        cmocka_unit_test_setup_teardown(test_include_depth, setup_dir,
	                                        teardown_dir),
	        cmocka_unit_test_setup_teardown(test_load, setup_dir,
	                                        teardown_dir),
	        cmocka_unit_test(test_resolve_accounts),
	        cmocka_unit_test(test_resolve_rule_order),
	        cmocka_unit_test(test_resolve_plus),
	        cmocka_unit_test(test_resolve_catch_all),
	        cmocka_unit_test(test_resolve_nested_and_remote),
	        cmocka_unit_test(test_resolve_loops),
	        cmocka_unit_test(test_resolve_self_alias),
	        cmocka_unit_test(test_resolve_depth),
	        cmocka_unit_test(test_resolve_too_many),
	        cmocka_unit_test(test_resolve_shared_sublists),
	        cmocka_unit_test(test_resolve_dedupe),
	        cmocka_unit_test(test_resolve_unknown_member),
	        cmocka_unit_test(test_resolve_postmaster),
	        cmocka_unit_test(test_resolve_tempfail),
	        cmocka_unit_test(test_resolve_invalid),
	        cmocka_unit_test(test_resolve_alias_entry),
	        cmocka_unit_test(test_result_names),
	        cmocka_unit_test_setup_teardown(test_cli, setup_dir,
	                                        teardown_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
