/*
 * Unit tests for the local message store's mailboxes and messages
 * (src/store): the list with special-use attributes, CREATE, RENAME,
 * DELETE, APPEND, COPY and MOVE, taking new mail, reading bodies with
 * CRLF line ends, and account names. Each test runs in a fresh temporary
 * directory (test_store.h).
 */
#include "test_store.h"

struct listing {
	char names[32][64];
	unsigned attrs[32];
	size_t n;
};

static void
listing_cb(void *ctx, const char *name, unsigned attrs)
{
	struct listing *l = ctx;

	if (l->n < 32) {
		snprintf(l->names[l->n], sizeof(l->names[0]), "%s", name);
		l->attrs[l->n++] = attrs;
	}
}

static int
listing_find(const struct listing *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->names[i], name) == 0)
			return (int)i;
	}
	return -1;
}

static void
test_mailboxes(void **state)
{
	struct t *t = *state;
	struct store_account *acct = open_acct(t);
	struct store_mailbox_status st;
	struct listing l = {0};
	const char *error = NULL;
	char path[512];
	int i;

	assert_int_equal(store_mailbox_list(acct, listing_cb, &l, &error),
	                 STORE_OK);
	assert_int_equal(l.n, 6);
	assert_string_equal(l.names[0], "INBOX");
	assert_int_equal(l.attrs[listing_find(&l, "Sent")], STORE_MBOX_SENT);
	assert_int_equal(l.attrs[listing_find(&l, "Drafts")],
	                 STORE_MBOX_DRAFTS);
	assert_int_equal(l.attrs[listing_find(&l, "Trash")], STORE_MBOX_TRASH);
	assert_int_equal(l.attrs[listing_find(&l, "Junk")], STORE_MBOX_JUNK);
	assert_int_equal(l.attrs[listing_find(&l, "Archive")],
	                 STORE_MBOX_ARCHIVE);
	snprintf(path, sizeof(path), "%s/.Sent/cur", t->inbox);
	assert_int_equal(access(path, F_OK), 0);

	/* Superiors are made; the hierarchy is '.' on disk. */
	assert_int_equal(store_mailbox_create(acct, "Lists/Work", &error),
	                 STORE_OK);
	assert_int_equal(store_mailbox_create(acct, "Lists/Work", &error),
	                 STORE_EXISTS);
	assert_int_equal(store_mailbox_create(acct, "inbox", &error),
	                 STORE_EXISTS);
	assert_int_equal(store_mailbox_create(acct, "a//b", &error),
	                 STORE_PERMFAIL);
	assert_int_equal(store_mailbox_create(acct, "bad\xff", &error),
	                 STORE_PERMFAIL);
	assert_int_equal(store_mailbox_create(acct, "v1.2 100%", &error),
	                 STORE_OK);
	snprintf(path, sizeof(path), "%s/.v1%%2E2 100%%25/cur", t->inbox);
	assert_int_equal(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/.Lists.Work/maildirfolder", t->inbox);
	assert_int_equal(access(path, F_OK), 0);
	l.n = 0;
	assert_int_equal(store_mailbox_list(acct, listing_cb, &l, &error),
	                 STORE_OK);
	i = listing_find(&l, "Lists");
	assert_true(i >= 0);
	assert_int_equal(l.attrs[i], STORE_MBOX_HASCHILDREN);
	assert_true(listing_find(&l, "v1.2 100%") >= 0);

	/* Rename takes the children along and keeps UIDVALIDITY. */
	deliver_one(t, acct, msgs[0]);
	assert_int_equal(store_mailbox_status(acct, "Lists/Work", &st, &error),
	                 STORE_OK);
	assert_int_equal(
	        store_mailbox_rename(acct, "Lists", "Old/Lists", &error),
	        STORE_OK);
	l.n = 0;
	assert_int_equal(store_mailbox_list(acct, listing_cb, &l, &error),
	                 STORE_OK);
	assert_int_equal(listing_find(&l, "Lists"), -1);
	assert_true(listing_find(&l, "Old") >= 0);
	assert_true(listing_find(&l, "Old/Lists/Work") >= 0);
	{
		struct store_mailbox_status st2;

		assert_int_equal(store_mailbox_status(acct, "Old/Lists/Work",
		                                      &st2, &error),
		                 STORE_OK);
		assert_int_equal(st2.uidvalidity, st.uidvalidity);
	}
	snprintf(path, sizeof(path), "%s/.Old.Lists.Work/cur", t->inbox);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(store_mailbox_rename(acct, "Old", "Old/x", &error),
	                 STORE_PERMFAIL);
	assert_int_equal(store_mailbox_rename(acct, "Sent", "Drafts", &error),
	                 STORE_EXISTS);
	assert_int_equal(store_mailbox_rename(acct, "Nope", "Other", &error),
	                 STORE_NOTFOUND);

	/* Delete keeps children (RFC 3501 6.3.4); INBOX stays. */
	assert_int_equal(store_mailbox_delete(acct, "Old/Lists", &error),
	                 STORE_OK);
	assert_int_equal(
	        store_mailbox_status(acct, "Old/Lists/Work", &st, &error),
	        STORE_OK);
	assert_int_equal(store_mailbox_delete(acct, "INBOX", &error),
	                 STORE_PERMFAIL);
	assert_int_equal(store_mailbox_delete(acct, "Nope", &error),
	                 STORE_NOTFOUND);
	snprintf(path, sizeof(path), "%s/.Old.Lists", t->inbox);
	assert_int_equal(access(path, F_OK), -1);

	/* A deleted and re-made mailbox gets a new UIDVALIDITY. */
	assert_int_equal(store_mailbox_status(acct, "Trash", &st, &error),
	                 STORE_OK);
	assert_int_equal(store_mailbox_delete(acct, "Trash", &error), STORE_OK);
	assert_int_equal(store_mailbox_create(acct, "Trash", &error), STORE_OK);
	{
		struct store_mailbox_status st2;

		assert_int_equal(
		        store_mailbox_status(acct, "Trash", &st2, &error),
		        STORE_OK);
		assert_true(st2.uidvalidity > st.uidvalidity);
	}

	/* RENAME INBOX moves the messages and leaves INBOX empty. */
	assert_int_equal(store_mailbox_rename(acct, "INBOX", "Saved", &error),
	                 STORE_OK);
	assert_int_equal(store_mailbox_status(acct, "INBOX", &st, &error),
	                 STORE_OK);
	assert_int_equal(st.messages, 0);
	assert_int_equal(store_mailbox_status(acct, "Saved", &st, &error),
	                 STORE_OK);
	assert_int_equal(st.messages, 1);
	store_account_close(&acct);

	/* A folder made by another tool is picked up. */
	snprintf(path, sizeof(path), "%s/.Foreign", t->inbox);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/.Foreign/cur", t->inbox);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/.Foreign/new", t->inbox);
	mkdir(path, 0700);
	acct = open_acct(t);
	assert_int_equal(store_mailbox_status(acct, "Foreign", &st, &error),
	                 STORE_OK);
	store_account_close(&acct);
}

struct pairs {
	uint32_t src[8], dst[8];
	size_t n;
};

static void
copy_cb(void *ctx, uint32_t src, uint32_t dst)
{
	struct pairs *p = ctx;

	if (p->n < 8) {
		p->src[p->n] = src;
		p->dst[p->n++] = dst;
	}
}

static void
test_append_copy_move(void **state)
{
	struct t *t = *state;
	struct store_account *acct = open_acct(t);
	struct store_append *app = NULL;
	struct store_append_info info = {0};
	struct store_mailbox *inbox, *archive;
	struct store_uid_range all = {1, UINT32_MAX}, r1 = {1, 1};
	struct pairs p = {0};
	struct store_body *body = NULL;
	const char *kw = "$Label1";
	const char *error = NULL;
	const char *data;
	uint32_t uidv = 0, uid = 0, duidv = 0;
	struct metas ms;
	char out[64];
	size_t len;

	assert_int_equal(store_append_begin(acct, "Nope", &app, &error),
	                 STORE_NOTFOUND);
	assert_int_equal(store_append_begin(acct, "INBOX", &app, &error),
	                 STORE_OK);
	/* CRLF split across writes; a lone CR stays. */
	assert_int_equal(store_append_write(app, "Subject: a\r", 11, &error),
	                 STORE_OK);
	assert_int_equal(
	        store_append_write(app, "\n\r\nbody\rx\r\n", 11, &error),
	        STORE_OK);
	info.flags = STORE_FLAG_SEEN | STORE_FLAG_FLAGGED;
	info.keywords = &kw;
	info.nkeywords = 1;
	info.internal_date = 1234567890;
	assert_int_equal(store_append_finish(&app, &info, &uidv, &uid, &error),
	                 STORE_OK);
	assert_null(app);
	assert_int_equal(uid, 1);
	inbox = open_mbox(acct, "INBOX");
	fetch_all(inbox, &ms);
	assert_int_equal(ms.n, 1);
	assert_int_equal(ms.m[0].flags, STORE_FLAG_SEEN | STORE_FLAG_FLAGGED);
	assert_int_equal(ms.m[0].keywords, 1);
	assert_int_equal(ms.m[0].internal_date, 1234567890);
	assert_int_equal(ms.m[0].size, 22);
	assert_int_equal(store_body_open(inbox, 1, &body, &error), STORE_OK);
	data = store_body_data(body, &len);
	assert_int_equal(len, 19);
	assert_memory_equal(data, "Subject: a\n\nbody\rx\n", 19);
	assert_int_equal(store_body_read_crlf(body, 0, out, sizeof(out)), 22);
	assert_memory_equal(out, "Subject: a\r\n\r\nbody\rx\r\n", 22);
	store_body_free(&body);

	/* An aborted append leaves nothing. */
	assert_int_equal(store_append_begin(acct, "INBOX", &app, &error),
	                 STORE_OK);
	assert_int_equal(store_append_write(app, "x", 1, &error), STORE_OK);
	store_append_abort(&app);
	assert_int_equal(count_files(t->inbox, "tmp"), 0);

	/* Over quota. */
	assert_int_equal(store_append_begin(acct, "INBOX", &app, &error),
	                 STORE_OK);
	assert_int_equal(store_append_write(app, "0123456789", 10, &error),
	                 STORE_OK);
	info.quota = 20;
	assert_int_equal(store_append_finish(&app, &info, NULL, NULL, &error),
	                 STORE_OVERQUOTA);
	info.quota = 0;

	deliver_one(t, acct, msgs[0]);
	assert_int_equal(store_mailbox_refresh(inbox, NULL, &error), STORE_OK);
	assert_int_equal(store_copy(inbox, &all, 1, "Archive", false, 0,
	                            copy_cb, &p, &duidv, &error),
	                 STORE_OK);
	assert_int_equal(p.n, 2);
	assert_int_equal(p.src[0], 1);
	assert_int_equal(p.dst[0], 1);
	assert_int_equal(p.src[1], 2);
	assert_int_equal(p.dst[1], 2);
	archive = open_mbox(acct, "Archive");
	fetch_all(archive, &ms);
	assert_int_equal(ms.n, 2);
	assert_int_equal(ms.m[0].flags, STORE_FLAG_SEEN | STORE_FLAG_FLAGGED);
	assert_int_equal(ms.m[0].internal_date, 1234567890);
	{
		size_t nk;
		const char *const *names = store_mailbox_keywords(archive, &nk);

		assert_int_equal(nk, 1);
		assert_string_equal(names[0], "$Label1");
	}
	{
		struct store_mailbox_status st;

		store_mailbox_get_status(archive, &st);
		assert_int_equal(st.uidvalidity, duidv);
	}
	assert_int_equal(store_copy(inbox, &all, 1, "Nope", false, 0, NULL,
	                            NULL, NULL, &error),
	                 STORE_NOTFOUND);
	/* Copy over quota. */
	assert_int_equal(store_copy(inbox, &all, 1, "Archive", false, 10, NULL,
	                            NULL, NULL, &error),
	                 STORE_OVERQUOTA);

	/* MOVE: gone from the source. */
	p.n = 0;
	assert_int_equal(store_copy(inbox, &r1, 1, "Trash", true, 0, copy_cb,
	                            &p, NULL, &error),
	                 STORE_OK);
	assert_int_equal(p.n, 1);
	fetch_all(inbox, &ms);
	assert_int_equal(ms.n, 1);
	assert_int_equal(ms.m[0].uid, 2);
	{
		struct store_mailbox_status st;

		assert_int_equal(
		        store_mailbox_status(acct, "Trash", &st, &error),
		        STORE_OK);
		assert_int_equal(st.messages, 1);
	}
	store_mailbox_close(&archive);
	store_mailbox_close(&inbox);
	store_account_close(&acct);
}

static void
test_copy_into_itself(void **state)
{
	struct t *t = *state;
	struct store_account *acct = open_acct(t);
	struct store_uid_range all = {1, UINT32_MAX};
	struct store_mailbox *mbox;
	struct store_mailbox_status st;
	struct pairs p = {0};
	const char *error = NULL;

	deliver_batch(t, acct, msgs, 2, NULL);
	mbox = open_mbox(acct, "INBOX");
	assert_int_equal(store_copy(mbox, &all, 1, "INBOX", false, 0, copy_cb,
	                            &p, NULL, &error),
	                 STORE_OK);
	assert_int_equal(p.n, 2);
	assert_int_equal(p.dst[0], 3);
	assert_int_equal(p.dst[1], 4);
	assert_int_equal(store_mailbox_refresh(mbox, &st, &error), STORE_OK);
	assert_int_equal(st.messages, 4);
	assert_int_equal(st.uidnext, 5);
	/* MOVE into itself changes nothing. */
	assert_int_equal(store_copy(mbox, &all, 1, "INBOX", true, 0, NULL, NULL,
	                            NULL, &error),
	                 STORE_OK);
	assert_int_equal(deliver_one(t, acct, msgs[2]), 5);
	store_mailbox_close(&mbox);
	store_account_close(&acct);
}

static void
test_take_new(void **state)
{
	struct t *t = *state;
	struct store_account *acct = open_acct(t);
	struct store_mailbox *mbox;
	struct store_mailbox_status st;
	struct changes taken = {0};
	const char *error = NULL;

	deliver_batch(t, acct, msgs, 2, NULL);
	mbox = open_mbox(acct, "INBOX");
	assert_int_equal(store_take_new(mbox, uid_cb, &taken, &error),
	                 STORE_OK);
	assert_int_equal(taken.n, 2);
	assert_int_equal(taken.uid[0], 1);
	assert_int_equal(taken.uid[1], 2);
	assert_int_equal(count_files(t->inbox, "new"), 0);
	assert_int_equal(count_files(t->inbox, "cur"), 2);
	assert_int_equal(store_mailbox_refresh(mbox, &st, &error), STORE_OK);
	assert_int_equal(st.recent, 0);
	store_mailbox_close(&mbox);
	store_account_close(&acct);
}

/* Every offset and length of a partial read equals the CRLF form. */
static void
test_body_crlf(void **state)
{
	struct t *t = *state;
	static const char *const texts[] = {
	        "a\nbb\r\nccc\n\nd", "\n\n", "x", "", "\r\n\r\n", "a\r\rb\n",
	};
	struct store_account *acct = open_acct(t);
	struct store_mailbox *mbox;

	for (size_t k = 0; k < sizeof(texts) / sizeof(*texts); k++)
		deliver_one(t, acct, texts[k]);
	mbox = open_mbox(acct, "INBOX");
	for (size_t k = 0; k < sizeof(texts) / sizeof(*texts); k++) {
		struct store_body *body = NULL;
		const char *error = NULL;
		char want[64], got[64];
		size_t wl = 0;

		for (const char *p = texts[k]; *p != '\0'; p++) {
			if (*p == '\n' && (p == texts[k] || p[-1] != '\r'))
				want[wl++] = '\r';
			want[wl++] = *p;
		}
		assert_int_equal(
		        store_body_open(mbox, (uint32_t)k + 1, &body, &error),
		        STORE_OK);
		assert_int_equal(store_body_crlf_size(body), wl);
		for (size_t off = 0; off <= wl + 1; off++) {
			for (size_t n = 1; n <= wl + 1; n++) {
				size_t total = 0, got_n;

				/* Read in pieces of n from off. */
				while ((got_n = store_body_read_crlf(
				                body, off + total, got + total,
				                n)) > 0)
					total += got_n;
				assert_int_equal(total,
				                 off <= wl ? wl - off : 0);
				if (total > 0)
					assert_memory_equal(got, want + off,
					                    total);
			}
		}
		store_body_free(&body);
	}
	store_mailbox_close(&mbox);
	store_account_close(&acct);
}

static void
test_account_names(void **state)
{
	struct t *t = *state;
	struct store_account *acct = NULL;
	const char *error = NULL;

	assert_int_equal(store_account_open(t->store, "example.org", "../x",
	                                    STORE_OPEN_CREATE, &acct, &error),
	                 STORE_PERMFAIL);
	assert_int_equal(store_account_open(t->store, ".org", "x",
	                                    STORE_OPEN_CREATE, &acct, &error),
	                 STORE_PERMFAIL);
	assert_int_equal(store_account_open(t->store, "example.org", "bob", 0,
	                                    &acct, &error),
	                 STORE_NOTFOUND);
	assert_null(acct);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_mailboxes, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_append_copy_move, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_copy_into_itself, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_take_new, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_body_crlf, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_account_names, setup,
	                                        teardown),
	};

	log_init("test", true, LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
