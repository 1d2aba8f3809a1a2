/*
 * test_passdb — the users file (auth/passdb) and password hashing
 * (auth/password): parsing with FILE:LINE errors, lookups, quotas,
 * atomic edits in a temporary directory, and crypt(3) verification.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <crypt.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/passdb.h"
#include "auth/password.h"
#include "core/xalloc.h"

#define HASH_Y                                                                 \
	"$y$j9T$abcdefghijklmnopqrstuv$"                                       \
	"0123456789012345678901234567890123456789012"
#define HASH_6 "$6$salt$hash"

/* --- helpers -------------------------------------------------------- */

static struct passdb *
parse_str(const char *text, char **err)
{
	return passdb_parse(text, strlen(text), "users", err);
}

/* Parses `text`, expects failure with an error that contains `want`. */
static void
expect_error(const char *text, const char *want)
{
	char *err = NULL;
	struct passdb *db = parse_str(text, &err);

	if (db != NULL)
		fail_msg("parsed, expected error '%s' for: %s", want, text);
	assert_non_null(err);
	if (strstr(err, want) == NULL)
		fail_msg("error '%s' lacks '%s'", err, want);
	free(err);
}

static char *
read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	char *data = xmalloc(1 << 16);
	size_t n;

	assert_non_null(f);
	n = fread(data, 1, (1 << 16) - 1, f);
	data[n] = '\0';
	fclose(f);
	return data;
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* A temporary directory per test, removed with what is in it. */
static int
setup_dir(void **state)
{
	const char *base = getenv("TMPDIR");
	char *dir = xasprintf("%s/test_passdb.XXXXXX",
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
		unlink(p);
		free(p);
	}
	if (d != NULL)
		closedir(d);
	rmdir(dir);
	free(dir);
	return 0;
}

/* Names in `dir` other than "." and "..", sorted, joined by spaces. */
static char *
list_dir(const char *dir)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	char *out = xstrdup("");

	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.') {
			char *joined = xasprintf("%s%s%s", out, *out ? " " : "",
			                         names[i]->d_name);

			free(out);
			out = joined;
		}
		free(names[i]);
	}
	free(names);
	return out;
}

/* --- parsing ---------------------------------------------------------- */

static void
test_parse_good(void **state)
{
	const char *text = "# postern users\n"
	                   "\n"
	                   "   \t\n"
	                   "  # indented comment\n"
	                   "alice@example.org:" HASH_Y ":2G\n"
	                   "bob@example.org:" HASH_6 "\n"
	                   "archive@example.org:*:\n"
	                   "c.d+tag@mail.example.org:!:0\n";
	char *err = NULL;
	struct passdb *db = parse_str(text, &err);
	const struct passdb_user *u;

	(void)state;
	assert_non_null(db);
	assert_null(err);
	assert_int_equal(passdb_count(db), 4);
	u = passdb_lookup(db, "alice@example.org");
	assert_non_null(u);
	assert_string_equal(u->hash, HASH_Y);
	assert_true(u->quota == (uint64_t)2 << 30);
	assert_int_equal(u->line, 5);
	u = passdb_lookup(db, "bob@example.org");
	assert_non_null(u);
	assert_string_equal(u->hash, HASH_6);
	assert_true(u->quota == 0);
	u = passdb_lookup(db, "archive@example.org");
	assert_string_equal(u->hash, "*");
	assert_true(u->quota == 0);
	u = passdb_lookup(db, "c.d+tag@mail.example.org");
	assert_string_equal(u->hash, "!");
	assert_null(passdb_lookup(db, "carol@example.org"));
	assert_null(passdb_lookup(db, "alice@example.or"));
	assert_null(passdb_lookup(db, ""));
	/* file order */
	assert_string_equal(passdb_get(db, 0)->address, "alice@example.org");
	assert_string_equal(passdb_get(db, 3)->address,
	                    "c.d+tag@mail.example.org");
	assert_null(passdb_get(db, 4));
	passdb_free(&db);
	assert_null(db);
	passdb_free(&db);
}

static void
test_parse_empty_and_unterminated(void **state)
{
	char *err = NULL;
	struct passdb *db = passdb_parse("", 0, "users", &err);

	(void)state;
	assert_non_null(db);
	assert_int_equal(passdb_count(db), 0);
	assert_null(passdb_lookup(db, "a@b"));
	passdb_free(&db);

	db = parse_str("# only\nx@y.z:*:1K", &err);
	assert_non_null(db);
	assert_int_equal(passdb_count(db), 1);
	assert_true(passdb_lookup(db, "x@y.z")->quota == 1024);
	passdb_free(&db);
}

static void
test_parse_case_insensitive(void **state)
{
	char *err = NULL;
	struct passdb *db =
	        parse_str("Alice.Smith@Example.ORG:" HASH_6 "\n", &err);

	(void)state;
	assert_non_null(db);
	assert_string_equal(passdb_get(db, 0)->address,
	                    "alice.smith@example.org");
	/* the hash keeps its case */
	assert_string_equal(passdb_get(db, 0)->hash, HASH_6);
	assert_non_null(passdb_lookup(db, "alice.smith@example.org"));
	assert_non_null(passdb_lookup(db, "ALICE.SMITH@EXAMPLE.ORG"));
	assert_non_null(passdb_lookup(db, "Alice.Smith@example.Org"));
	passdb_free(&db);

	expect_error("a@example.org:*\nA@EXAMPLE.ORG:*\n",
	             "users:2: duplicate address a@example.org (first on "
	             "line 1)");
}

static void
test_parse_errors(void **state)
{
	static const struct {
		const char *text;
		const char *want;
	} cases[] = {
	        {"alice@example.org\n", "users:1: missing ':'"},
	        {"#\nalice@example.org:\n", "users:2: empty password hash"},
	        {"a@b.c:*:1:x\n", "users:1: too many fields"},
	        {"a@b.c:*:1:\n", "users:1: too many fields"},
	        {"a@b.c:*:12X\n", "users:1: invalid quota 12X"},
	        {"a@b.c:*:K\n", "users:1: invalid quota"},
	        {"a@b.c:*:-1\n", "users:1: invalid quota"},
	        {"a@b.c:*:18446744073709551616\n", "users:1: invalid quota"},
	        {"a@b.c:*:17179869184G\n", "users:1: invalid quota"},
	        {"\n\na@b.c:*\r\n", "users:3: carriage return"},
	        {"a@b.c: *\n", "users:1: blank or control character at "
	                       "column 7"},
	        {" a@b.c:*\n", "users:1: blank or control character at "
	                       "column 1"},
	        {"a@b.c:*\t\n", "users:1: blank or control character"},
	        {"a@b.c:\xc3\xa9t\xc3\xa9\n", "users:1: blank or control"},
	        {"alice:*\n", "users:1: invalid address alice: no '@'"},
	        {"@b.c:*\n", "users:1: invalid address @b.c: empty local"},
	        {"a@:*\n", "users:1: invalid address a@: empty domain"},
	        {"a..b@c.d:*\n", "empty atom in local part"},
	        {".a@c.d:*\n", "empty atom in local part"},
	        {"a.@c.d:*\n", "local part ends with a dot"},
	        {"a\"b@c.d:*\n", "invalid character in local part"},
	        {"a(b)@c.d:*\n", "invalid character in local part"},
	        {"a@b@c.d:*\n", "invalid character in domain"},
	        {"a@-b.c:*\n", "domain label begins with '-'"},
	        {"a@b-.c:*\n", "domain label ends with '-'"},
	        {"a@b..c:*\n", "empty label in domain"},
	        {"a@b.c.:*\n", "empty label in domain"},
	        {"a@b_c.d:*\n", "invalid character in domain"},
	        {"a@[127.0.0.1]:*\n", "invalid character in domain"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_error(cases[i].text, cases[i].want);
}

static void
test_parse_nul_byte(void **state)
{
	static const char text[] = "a@b.c:*\nd@e\0f:*\n";
	char *err = NULL;
	struct passdb *db = passdb_parse(text, sizeof(text) - 1, "f", &err);

	(void)state;
	assert_null(db);
	assert_non_null(strstr(err, "f:2: blank or control character at "
	                            "column 4"));
	free(err);
}

static void
test_parse_many_errors(void **state)
{
	char text[1024] = "";
	char *err = NULL;
	struct passdb *db;

	(void)state;
	for (int i = 0; i < 15; i++)
		strcat(text, "bad\n");
	db = parse_str(text, &err);
	assert_null(db);
	assert_non_null(strstr(err, "users:1: "));
	assert_non_null(strstr(err, "users:10: "));
	assert_null(strstr(err, "users:11: "));
	assert_non_null(strstr(err, "users: 5 more errors"));
	free(err);
}

static void
test_parse_limits(void **state)
{
	char line[PASSDB_LINE_MAX + 3];
	size_t prefix = strlen("a@b.c:");
	char *err = NULL;
	struct passdb *db;
	char local[PASSDB_LOCAL_MAX + 2];
	char *text;

	(void)state;
	/* exactly PASSDB_LINE_MAX bytes: fine */
	memcpy(line, "a@b.c:", prefix);
	memset(line + prefix, 'x', PASSDB_LINE_MAX - prefix);
	line[PASSDB_LINE_MAX] = '\n';
	line[PASSDB_LINE_MAX + 1] = '\0';
	db = parse_str(line, &err);
	assert_non_null(db);
	passdb_free(&db);
	/* one more: refused, even as a comment */
	line[PASSDB_LINE_MAX] = 'x';
	line[PASSDB_LINE_MAX + 1] = '\n';
	line[PASSDB_LINE_MAX + 2] = '\0';
	expect_error(line, "users:1: line longer than 1024 bytes");
	line[0] = '#';
	expect_error(line, "users:1: line longer than 1024 bytes");

	/* local part: 64 octets fine, 65 refused */
	memset(local, 'l', PASSDB_LOCAL_MAX);
	local[PASSDB_LOCAL_MAX] = '\0';
	text = xasprintf("%s@b.c:*\n", local);
	db = parse_str(text, &err);
	assert_non_null(db);
	passdb_free(&db);
	free(text);
	text = xasprintf("l%s@b.c:*\n", local);
	expect_error(text, "local part longer than 64 octets");
	free(text);

	/* the size bound is checked before a byte is read, so a short
	 * buffer with a large length is safe here */
	db = passdb_parse("", PASSDB_FILE_MAX + 1, "big", &err);
	assert_null(db);
	assert_non_null(strstr(err, "big: larger than"));
	free(err);
}

/* Writes "a@" and a domain of three 63-octet labels, one of `fourth`
 * octets and a last one of one octet into `buf`. */
static void
domain_of(char *buf, size_t fourth)
{
	size_t sizes[] = {63, 63, 63, fourth, 1};
	char *p = buf;

	*p++ = 'a';
	*p++ = '@';
	for (size_t i = 0; i < 5; i++) {
		if (i > 0)
			*p++ = '.';
		memset(p, 'd', sizes[i]);
		p += sizes[i];
	}
	*p = '\0';
}

static void
test_address_valid(void **state)
{
	static const char *const good[] = {
	        "a@b",
	        "postmaster@localhost",
	        "Mixed.Case@Example.COM",
	        "!#$%&'*+-/=?^_`{|}~@x-y.z",
	        "a.b.c@1.2.3.example",
	        "x@a-b-c.d0",
	};
	static const char *const bad[] = {
	        "",
	        "a",
	        "@",
	        "a@",
	        "@b",
	        "#a@b",
	        "a b@c",
	        "a@b c",
	        "a@.b",
	        "a@b.",
	        "a..b@c",
	        "a@-b",
	        "a@b-",
	        "a@b_c",
	        "a@b@c",
	        "\"a\"@b.c",
	        "a@[1.2.3.4]",
	        "\xc3\xa9@b.c",
	        "a@\xc3\xa9.c",
	};
	char buf[512];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		strcpy(buf, good[i]);
		if (!passdb_address_valid(buf))
			fail_msg("refused %s", good[i]);
	}
	strcpy(buf, "Mixed.Case@Example.COM");
	assert_true(passdb_address_valid(buf));
	assert_string_equal(buf, "mixed.case@example.com");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		strcpy(buf, bad[i]);
		if (passdb_address_valid(buf))
			fail_msg("accepted %s", bad[i]);
		assert_string_equal(buf, bad[i]);
	}
	/* 63-octet labels and a 255-octet domain are the limits */
	memset(buf, 0, sizeof(buf));
	strcpy(buf, "a@");
	memset(buf + 2, 'd', 63);
	assert_true(passdb_address_valid(buf));
	buf[2 + 63] = 'd';
	assert_false(passdb_address_valid(buf));
	/* labels of 63+63+63+61+1 octets and four dots: 255 */
	domain_of(buf, 61);
	assert_int_equal(strlen(buf) - 2, 255);
	assert_true(passdb_address_valid(buf));
	domain_of(buf, 62);
	assert_int_equal(strlen(buf) - 2, 256);
	assert_false(passdb_address_valid(buf));
	domain_of(buf, 61);
	assert_true(passdb_address_valid(buf));
}

static void
test_quota(void **state)
{
	static const struct {
		const char *in;
		uint64_t want;
	} good[] = {
	        {"", 0},
	        {"0", 0},
	        {"1000", 1000},
	        {"1k", 1024},
	        {"1K", 1024},
	        {"5m", 5 << 20},
	        {"5M", 5 << 20},
	        {"3g", (uint64_t)3 << 30},
	        {"3G", (uint64_t)3 << 30},
	        {"0G", 0},
	        {"18446744073709551615", UINT64_MAX},
	        {"17179869183G", (uint64_t)17179869183 << 30},
	};
	static const char *const bad[] = {"K",   "1T", "1KB",  "1 K",
	                                  "-1",  "+1", "1.5G", "G1",
	                                  "1kk", " 1", "0x10"};
	static const struct {
		uint64_t in;
		const char *want;
	} fmt[] = {
	        {0, "0"},
	        {1000, "1000"},
	        {1024, "1K"},
	        {1536 * 1024, "1536K"},
	        {(uint64_t)2 << 30, "2G"},
	        {(uint64_t)3 << 20, "3M"},
	        {UINT64_MAX, "18446744073709551615"},
	};
	char out[PASSDB_QUOTA_STRLEN];
	uint64_t q;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		q = 42;
		assert_int_equal(
		        passdb_quota_parse(good[i].in, strlen(good[i].in), &q),
		        0);
		assert_true(q == good[i].want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (passdb_quota_parse(bad[i], strlen(bad[i]), &q) == 0)
			fail_msg("accepted quota '%s'", bad[i]);
	}
	for (size_t i = 0; i < sizeof(fmt) / sizeof(fmt[0]); i++) {
		passdb_quota_format(fmt[i].in, out, sizeof(out));
		assert_string_equal(out, fmt[i].want);
		assert_int_equal(passdb_quota_parse(out, strlen(out), &q), 0);
		assert_true(q == fmt[i].in);
	}
}

static void
test_lookup_many(void **state)
{
	size_t n = 20000;
	size_t cap = n * 40;
	char *text = xmalloc(cap);
	size_t len = 0;
	char *err = NULL;
	struct passdb *db;
	char addr[64];

	(void)state;
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, cap - len,
		                        "user%zu@d%zu.example:*:%zu\n", i,
		                        i % 7, i);
	db = passdb_parse(text, len, "many", &err);
	assert_non_null(db);
	assert_int_equal(passdb_count(db), n);
	for (size_t i = 0; i < n; i++) {
		const struct passdb_user *u;

		snprintf(addr, sizeof(addr), "USER%zu@D%zu.example", i, i % 7);
		u = passdb_lookup(db, addr);
		assert_non_null(u);
		assert_true(u->quota == i);
		snprintf(addr, sizeof(addr), "user%zu@d%zu.example", i,
		         (i + 1) % 7);
		assert_null(passdb_lookup(db, addr));
	}
	passdb_free(&db);
	free(text);
}

/* --- files ------------------------------------------------------------ */

static void
test_load(void **state)
{
	const char *dir = *state;
	char *path = xasprintf("%s/users", dir);
	char *err = NULL;
	struct passdb *db;

	db = passdb_load(path, &err);
	assert_null(db);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "No such file"));
	free(err);

	write_file(path, "# x\nA@B.C:*:1M\n", 0600);
	db = passdb_load(path, &err);
	assert_non_null(db);
	assert_true(passdb_lookup(db, "a@b.c")->quota == 1 << 20);
	passdb_free(&db);

	write_file(path, "a@b.c:*\nbroken\n", 0600);
	db = passdb_load(path, &err);
	assert_null(db);
	{
		char *want = xasprintf("%s:2: missing ':'", path);

		assert_non_null(strstr(err, want));
		free(want);
	}
	free(err);

	db = passdb_load(dir, &err);
	assert_null(db);
	assert_non_null(strstr(err, "not a regular file"));
	free(err);
	free(path);
}

static void
test_edit_round_trip(void **state)
{
	const char *dir = *state;
	char *path = xasprintf("%s/users", dir);
	const char *err = NULL;
	struct stat st;
	char *text;
	char *names;

	/* ADD creates the file, 0600 */
	assert_int_equal(passdb_edit(path, PASSDB_OP_ADD, "Alice@Example.org",
	                             HASH_6, 0, false, &err),
	                 0);
	assert_null(err);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	text = read_all(path);
	assert_string_equal(text, "alice@example.org:" HASH_6 "\n");
	free(text);

	/* comments and blank lines are kept, new accounts appended */
	write_file(path,
	           "# users of example.org\n"
	           "alice@example.org:" HASH_6 "\n"
	           "\n"
	           "# the archive\n"
	           "archive@example.org:*:10M",
	           0600);
	assert_int_equal(passdb_edit(path, PASSDB_OP_ADD, "bob@example.org",
	                             HASH_Y, (uint64_t)3 << 30, true, &err),
	                 0);
	text = read_all(path);
	assert_string_equal(text, "# users of example.org\n"
	                          "alice@example.org:" HASH_6 "\n"
	                          "\n"
	                          "# the archive\n"
	                          "archive@example.org:*:10M\n"
	                          "bob@example.org:" HASH_Y ":3G\n");
	free(text);

	/* ADD of an existing address fails, any case */
	assert_int_equal(passdb_edit(path, PASSDB_OP_ADD, "BOB@example.org",
	                             HASH_6, 0, false, &err),
	                 -1);
	assert_non_null(strstr(err, "bob@example.org already exists"));

	/* PASSWD changes the hash and keeps the quota and place */
	assert_int_equal(passdb_edit(path, PASSDB_OP_PASSWD,
	                             "ARCHIVE@example.org", HASH_Y, 0, false,
	                             &err),
	                 0);
	/* PASSWD with a quota and no hash changes the quota only */
	assert_int_equal(passdb_edit(path, PASSDB_OP_PASSWD, "bob@example.org",
	                             NULL, 0, true, &err),
	                 0);
	text = read_all(path);
	assert_string_equal(text, "# users of example.org\n"
	                          "alice@example.org:" HASH_6 "\n"
	                          "\n"
	                          "# the archive\n"
	                          "archive@example.org:" HASH_Y ":10M\n"
	                          "bob@example.org:" HASH_Y "\n");
	free(text);

	/* PASSWD and DEL of a missing address fail */
	assert_int_equal(passdb_edit(path, PASSDB_OP_PASSWD,
	                             "carol@example.org", HASH_6, 0, false,
	                             &err),
	                 -1);
	assert_non_null(strstr(err, "no account carol@example.org"));
	assert_int_equal(passdb_edit(path, PASSDB_OP_DEL, "carol@example.org",
	                             NULL, 0, false, &err),
	                 -1);
	assert_non_null(strstr(err, "no account carol@example.org"));

	/* DEL removes just that line */
	assert_int_equal(passdb_edit(path, PASSDB_OP_DEL, "Alice@Example.ORG",
	                             NULL, 0, false, &err),
	                 0);
	assert_null(err);
	text = read_all(path);
	assert_string_equal(text, "# users of example.org\n"
	                          "\n"
	                          "# the archive\n"
	                          "archive@example.org:" HASH_Y ":10M\n"
	                          "bob@example.org:" HASH_Y "\n");
	free(text);
	assert_int_equal(passdb_edit(path, PASSDB_OP_DEL, "bob@example.org",
	                             NULL, 0, false, &err),
	                 0);
	text = read_all(path);
	assert_string_equal(text, "# users of example.org\n"
	                          "\n"
	                          "# the archive\n"
	                          "archive@example.org:" HASH_Y ":10M\n");
	free(text);

	/* the result still loads, and no temporary file is left */
	{
		char *perr = NULL;
		struct passdb *db = passdb_load(path, &perr);

		assert_non_null(db);
		assert_int_equal(passdb_count(db), 1);
		passdb_free(&db);
	}
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	names = list_dir(dir);
	assert_string_equal(names, "users users.lock");
	free(names);
	assert_int_equal(stat(path, &st), 0);
	{
		char *lock = xasprintf("%s.lock", path);

		assert_int_equal(stat(lock, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0600);
		free(lock);
	}
	free(path);
}

static void
test_edit_keeps_mode(void **state)
{
	const char *dir = *state;
	char *path = xasprintf("%s/users", dir);
	const char *err = NULL;
	struct stat st;

	write_file(path, "a@b.c:*\n", 0640);
	assert_int_equal(passdb_edit(path, PASSDB_OP_PASSWD, "a@b.c", HASH_6, 0,
	                             false, &err),
	                 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	free(path);
}

static void
test_edit_refusals(void **state)
{
	const char *dir = *state;
	char *path = xasprintf("%s/users", dir);
	char *missing = xasprintf("%s/nodir/users", dir);
	const char *err = NULL;
	char *text;
	char *names;
	char *long_hash;

	/* PASSWD and DEL need an existing file */
	assert_int_equal(passdb_edit(path, PASSDB_OP_PASSWD, "a@b.c", HASH_6, 0,
	                             false, &err),
	                 -1);
	assert_non_null(strstr(err, path));
	assert_int_equal(
	        passdb_edit(path, PASSDB_OP_DEL, "a@b.c", NULL, 0, false, &err),
	        -1);
	assert_non_null(strstr(err, "No such file"));
	assert_int_equal(passdb_edit(missing, PASSDB_OP_ADD, "a@b.c", HASH_6, 0,
	                             false, &err),
	                 -1);
	assert_non_null(strstr(err, "nodir/users.lock"));

	write_file(path, "# keep\nx@b.c:*\n", 0600);
	/* bad arguments never reach the file */
	assert_int_equal(passdb_edit(path, PASSDB_OP_ADD, "not an address",
	                             HASH_6, 0, false, &err),
	                 -1);
	assert_non_null(strstr(err, "invalid address"));
	assert_int_equal(passdb_edit(path, PASSDB_OP_ADD, "a@b.c",
	                             "$6$x:injected", 0, false, &err),
	                 -1);
	assert_non_null(strstr(err, "invalid password hash"));
	assert_int_equal(passdb_edit(path, PASSDB_OP_ADD, "a@b.c",
	                             "$6$x\nevil@b.c:*", 0, false, &err),
	                 -1);
	assert_int_equal(
	        passdb_edit(path, PASSDB_OP_ADD, "a@b.c", "", 0, false, &err),
	        -1);
	assert_int_equal(
	        passdb_edit(path, PASSDB_OP_ADD, "a@b.c", NULL, 0, false, &err),
	        -1);
	long_hash = xmalloc(PASSDB_LINE_MAX + 1);
	memset(long_hash, 'h', PASSDB_LINE_MAX);
	assert_int_equal(passdb_edit(path, PASSDB_OP_ADD, "a@b.c", long_hash, 0,
	                             false, &err),
	                 -1);
	assert_non_null(strstr(err, "longer than 1024 bytes"));
	free(long_hash);
	text = read_all(path);
	assert_string_equal(text, "# keep\nx@b.c:*\n");
	free(text);

	/* a damaged file is not edited: the error names its line */
	write_file(path, "# keep\nx@b.c:*\ngarbage\n", 0600);
	assert_int_equal(passdb_edit(path, PASSDB_OP_ADD, "a@b.c", HASH_6, 0,
	                             false, &err),
	                 -1);
	{
		char *want = xasprintf("%s:3: missing ':'", path);

		assert_non_null(strstr(err, want));
		free(want);
	}
	text = read_all(path);
	assert_string_equal(text, "# keep\nx@b.c:*\ngarbage\n");
	free(text);
	names = list_dir(dir);
	assert_string_equal(names, "users users.lock");
	free(names);
	free(missing);
	free(path);
}

/* --- passwords ------------------------------------------------------ */

/* Hashes `password` with crypt(3) under the scheme `prefix`, as another
 * system would have. */
static char *
crypt_other(const char *prefix, unsigned long count, const char *password)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *data = xmalloc(sizeof(*data));
	char *out;

	assert_non_null(crypt_gensalt_rn(prefix, count, NULL, 0, setting,
	                                 (int)sizeof(setting)));
	assert_non_null(crypt_rn(password, setting, data, (int)sizeof(*data)));
	out = xstrdup(data->output);
	free(data);
	return out;
}

static void
test_password_yescrypt(void **state)
{
	char *h1 = password_hash("correct horse");
	char *h2 = password_hash("correct horse");

	(void)state;
	assert_non_null(h1);
	assert_non_null(h2);
	assert_memory_equal(h1, "$y$", 3);
	assert_string_not_equal(h1, h2); /* fresh salt each time */
	assert_true(password_is_supported(h1));
	assert_true(password_verify(h1, "correct horse"));
	assert_true(password_verify(h2, "correct horse"));
	assert_false(password_verify(h1, "correct horsE"));
	assert_false(password_verify(h1, "correct hors"));
	assert_false(password_verify(h1, ""));
	free(h1);
	free(h2);
}

static void
test_password_sha512(void **state)
{
	/* made with `openssl passwd -6 -salt Zq3xY8pLmN2 'correct horse'` */
	static const char known[] =
	        "$6$Zq3xY8pLmN2$lOTybaS89Vizblo6DX6/9vMj5B51JmIfBlg5jsF6HnnyC"
	        "GUQWL2PuPbspBsgr7tel909LXlPynFEroH/DiM08.";
	char *h = crypt_other("$6$", 0, "s3cret pass");

	(void)state;
	assert_true(password_verify(known, "correct horse"));
	assert_false(password_verify(known, "correct horse "));
	assert_true(password_verify(h, "s3cret pass"));
	assert_false(password_verify(h, "s3cret pasS"));
	free(h);
}

static void
test_password_bcrypt(void **state)
{
	char *h = crypt_other("$2b$", 4, "hunter2");

	(void)state;
	assert_memory_equal(h, "$2b$", 4);
	assert_true(password_verify(h, "hunter2"));
	assert_false(password_verify(h, "hunter3"));
	/* $2y$ names the same algorithm (from PHP's crypt) */
	h[2] = 'y';
	assert_true(password_verify(h, "hunter2"));
	assert_false(password_verify(h, "Hunter2"));
	free(h);
}

static void
test_password_disabled(void **state)
{
	char *h = password_hash("pw");
	char *locked = xasprintf("!%s", h);
	char *md5 = crypt_other("$1$", 0, "pw");

	(void)state;
	assert_true(password_verify(h, "pw"));
	assert_false(password_is_supported(locked));
	assert_false(password_verify(locked, "pw"));
	assert_false(password_verify("*", "*"));
	assert_false(password_verify("!", "!"));
	assert_false(password_verify("", ""));
	assert_false(password_verify("$y$", "pw"));
	assert_false(password_verify("$6$", ""));
	/* md5-crypt is known to crypt(3) but not accepted */
	assert_false(password_is_supported(md5));
	assert_false(password_verify(md5, "pw"));
	free(md5);
	free(locked);
	free(h);
}

static void
test_password_limits(void **state)
{
	char big[PASSWORD_MAX_LEN + 2];
	char *h;

	(void)state;
	assert_null(password_hash(""));
	memset(big, 'p', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_null(password_hash(big));
	big[PASSWORD_MAX_LEN] = '\0';
	h = password_hash(big);
	assert_non_null(h);
	assert_true(password_verify(h, big));
	big[PASSWORD_MAX_LEN] = 'p';
	assert_false(password_verify(h, big));
	free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parse_good),
	        cmocka_unit_test(test_parse_empty_and_unterminated),
	        cmocka_unit_test(test_parse_case_insensitive),
	        cmocka_unit_test(test_parse_errors),
	        cmocka_unit_test(test_parse_nul_byte),
	        cmocka_unit_test(test_parse_many_errors),
	        cmocka_unit_test(test_parse_limits),
	        cmocka_unit_test(test_address_valid),
	        cmocka_unit_test(test_quota),
	        cmocka_unit_test(test_lookup_many),
	        cmocka_unit_test_setup_teardown(test_load, setup_dir,
	                                        teardown_dir),
	        cmocka_unit_test_setup_teardown(test_edit_round_trip, setup_dir,
	                                        teardown_dir),
	        cmocka_unit_test_setup_teardown(test_edit_keeps_mode, setup_dir,
	                                        teardown_dir),
	        cmocka_unit_test_setup_teardown(test_edit_refusals, setup_dir,
	                                        teardown_dir),
	        cmocka_unit_test(test_password_yescrypt),
	        cmocka_unit_test(test_password_sha512),
	        cmocka_unit_test(test_password_bcrypt),
	        cmocka_unit_test(test_password_disabled),
	        cmocka_unit_test(test_password_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
