/*
 * test_store.h — helpers shared by the store's unit tests
 * (test_store.c, test_store_mailbox.c): a fresh temporary data directory
 * per test, account and mailbox opening that fails the test on error,
 * spool files and batched delivery, and directory inspection.
 */
#ifndef POSTERN_TESTS_TEST_STORE_H
#define POSTERN_TESTS_TEST_STORE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/xalloc.h"
#include "log/log.h"
#include "store/store.h"

struct t {
	char dir[64];
	char inbox[256]; /* account root */
	struct store *store;
	unsigned nspool;
};

static inline int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline int
setup(void **state)
{
	struct t *t = xmalloc(sizeof(*t));

	snprintf(t->dir, sizeof(t->dir), "/tmp/test_store.XXXXXX");
	if (mkdtemp(t->dir) == NULL)
		return -1;
	snprintf(t->inbox, sizeof(t->inbox), "%s/mail/example.org/alice",
	         t->dir);
	t->store = store_local_new(t->dir);
	*state = t;
	return 0;
}

static inline int
teardown(void **state)
{
	struct t *t = *state;

	store_free(&t->store);
	nftw(t->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(t);
	return 0;
}

static inline struct store_account *
open_acct(struct t *t)
{
	struct store_account *acct = NULL;
	const char *error = NULL;
	enum store_result r;

	r = store_account_open(t->store, "example.org", "alice",
	                       STORE_OPEN_CREATE, &acct, &error);
	if (r != STORE_OK)
		fail_msg("open: %s: %s", store_result_str(r), error);
	return acct;
}

static inline struct store_mailbox *
open_mbox(struct store_account *acct, const char *name)
{
	struct store_mailbox *mbox = NULL;
	const char *error = NULL;
	enum store_result r = store_mailbox_open(acct, name, &mbox, &error);

	if (r != STORE_OK)
		fail_msg("open %s: %s: %s", name, store_result_str(r), error);
	return mbox;
}

/* Writes a spool file holding `text`; returns its path (static). */
static const char *
spool(struct t *t, const char *text)
{
	static char path[128];
	char dir[96];
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/spool", t->dir);
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/msg%u", dir, ++t->nspool);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* Delivers each text in one batch; returns the UIDs in uids[]. */
static inline void
deliver_batch(struct t *t, struct store_account *acct, const char *const *texts,
              size_t n, uint32_t *uids)
{
	const char *error = NULL;

	assert_int_equal(store_batch_begin(acct, &error), STORE_OK);
	for (size_t i = 0; i < n; i++) {
		struct store_delivery *d = NULL;
		const char *path = spool(t, texts[i]);
		enum store_result r =
		        store_deliver(acct, "INBOX", path, -1, strlen(texts[i]),
		                      0, &d, &error);

		if (r != STORE_OK)
			fail_msg("deliver: %s", error);
		if (uids != NULL)
			uids[i] = store_delivery_uid(d);
		store_delivery_free(&d);
	}
	assert_int_equal(store_batch_commit(acct, &error), STORE_OK);
}

static inline uint32_t
deliver_one(struct t *t, struct store_account *acct, const char *text)
{
	uint32_t uid = 0;

	deliver_batch(t, acct, &text, 1, &uid);
	return uid;
}

static const char *const msgs[] = {
        "From: a@example.org\nSubject: one\n\nfirst\n",
        "From: b@example.org\nSubject: two\n\nsecond body\nline\n",
        "From: c@example.org\nSubject: three\n\nthird\n",
};

/* Collects metadata of a fetch. */
struct metas {
	struct store_msg_meta m[64];
	size_t n;
};

static inline int
meta_cb(void *ctx, const struct store_msg_meta *m)
{
	struct metas *ms = ctx;

	if (ms->n < 64)
		ms->m[ms->n++] = *m;
	return 0;
}

static inline void
fetch_all(struct store_mailbox *mbox, struct metas *ms)
{
	const char *error = NULL;

	memset(ms, 0, sizeof(*ms));
	assert_int_equal(
	        store_fetch_meta(mbox, 1, UINT32_MAX, 0, meta_cb, ms, &error),
	        STORE_OK);
}

/* Counts directory entries (not starting with '.') of <root>/<sub>. */
static inline int
count_files(const char *root, const char *sub)
{
	char path[512];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", root, sub);
	d = opendir(path);
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.')
			n++;
	}
	closedir(d);
	return n;
}

/* Finds the file name in <root>/<sub> containing `needle`. */
static inline bool
find_file(const char *root, const char *sub, const char *needle, char *out,
          size_t outsz)
{
	char path[512];
	DIR *d;
	struct dirent *de;
	bool found = false;

	snprintf(path, sizeof(path), "%s/%s", root, sub);
	d = opendir(path);
	if (d == NULL)
		return false;
	while ((de = readdir(d)) != NULL) {
		if (strstr(de->d_name, needle) != NULL) {
			snprintf(out, outsz, "%s", de->d_name);
			found = true;
			break;
		}
	}
	closedir(d);
	return found;
}

static inline void
remove_index(struct t *t)
{
	static const char *const names[] = {"postern-index.sqlite",
	                                    "postern-index.sqlite-wal",
	                                    "postern-index.sqlite-shm"};
	char path[512];

	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", t->inbox, names[i]);
		unlink(path);
	}
}

struct changes {
	uint32_t uid[16];
	bool expunged[16];
	uint64_t modseq[16];
	size_t n;
};

static inline void
uid_cb(void *ctx, uint32_t uid)
{
	struct changes *c = ctx;

	if (c->n < 16)
		c->uid[c->n++] = uid;
}

#endif
