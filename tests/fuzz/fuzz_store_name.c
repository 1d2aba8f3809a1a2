/*
 * fuzz_store_name — the local store's parsers of things other programs
 * may have written: Maildir file names, folder directory names,
 * postern-uidlist and postern-keywords (src/store/name.c). The first byte
 * picks the parser; the rest is the input.
 *
 * Invariants checked (abort on failure): a parsed file name's base is
 * inside the name and formats back with its flags to a name that parses
 * to the same fields; a folder directory that decodes to a mailbox name
 * encodes back to itself; a parsed uidlist formats to text that parses to
 * the same values; parsed keyword lists format to files that parse to the
 * same names.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

static void
fuzz_fname(const char *s)
{
	struct store_fname fn, again;
	char out[STORE_NAME_MAX + 1];

	if (store_fname_parse(s, &fn) < 0)
		return;
	CHECK(fn.base_len > 0 && fn.base_len <= strlen(s));
	if (store_fname_format(out, sizeof(out), s, fn.base_len, false,
	                       fn.flags, fn.keywords) < 0)
		return;
	CHECK(store_fname_parse(out, &again) == 0);
	CHECK(again.base_len == fn.base_len && again.flags == fn.flags &&
	      again.keywords == fn.keywords && again.uid == fn.uid &&
	      again.has_uid == fn.has_uid && again.size == fn.size);
	if (store_fname_rebase(out, sizeof(out), s, fn.base_len, 1, 2, 3) ==
	    0) {
		CHECK(store_fname_parse(out, &again) == 0);
		CHECK(again.has_uid && again.uid == 3);
	}
}

static void
fuzz_dir(const char *s)
{
	char name[STORE_MAILBOX_NAME_MAX + 1], dir[STORE_NAME_MAX + 1];
	char norm[STORE_MAILBOX_NAME_MAX + 1];
	const char *error;

	if (store_mbox_dir_to_name(s, name, sizeof(name)) == 0) {
		CHECK(store_mbox_name_to_dir(name, dir, sizeof(dir)) == 0);
		CHECK(strcmp(dir, s) == 0);
	}
	/* As a mailbox name too. */
	if (store_mbox_name_check(s, norm, sizeof(norm), &error) == 0 &&
	    store_mbox_name_to_dir(norm, dir, sizeof(dir)) == 0 &&
	    dir[0] != '\0') {
		CHECK(store_mbox_dir_to_name(dir, name, sizeof(name)) == 0);
		CHECK(strcmp(name, norm) == 0);
	}
}

static void
fuzz_uidlist(const char *s, size_t len)
{
	struct store_uidlist ul, again;
	char out[80];

	if (store_uidlist_parse(s, len, &ul) < 0)
		return;
	store_uidlist_format(out, sizeof(out), &ul);
	CHECK(store_uidlist_parse(out, strlen(out), &again) == 0);
	CHECK(again.uidvalidity == ul.uidvalidity &&
	      again.uid_limit == ul.uid_limit &&
	      again.modseq_limit == ul.modseq_limit);
}

static void
fuzz_keywords(const char *s, size_t len, bool file)
{
	char *names[STORE_KEYWORDS_MAX] = {0}, *again[STORE_KEYWORDS_MAX] = {0};
	char *text;
	int n, m;

	n = file ? store_keywords_parse_file(s, len, names)
	         : store_keywords_parse_list(s, names);
	if (n < 0)
		return;
	CHECK(n <= STORE_KEYWORDS_MAX);
	text = store_keywords_format_file(names, (size_t)n);
	m = store_keywords_parse_file(text, strlen(text), again);
	CHECK(m == n);
	for (int i = 0; i < n; i++) {
		CHECK(strcmp(names[i], again[i]) == 0);
		free(names[i]);
		free(again[i]);
	}
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1 || size > 8192)
		return 0;
	/* NUL-terminated copy: names come from readdir, files are read
	 * into terminated buffers. */
	s = malloc(size);
	if (s == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 5) {
	case 0:
		fuzz_fname(s);
		break;
	case 1:
		fuzz_dir(s);
		break;
	case 2:
		fuzz_uidlist(s, size - 1);
		break;
	case 3:
		fuzz_keywords(s, size - 1, true);
		break;
	default:
		fuzz_keywords(s, strlen(s), false);
		break;
	}
	free(s);
	return 0;
}
