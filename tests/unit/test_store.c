/*
 * Unit tests for the local message store (src/store): batched delivery,
 * UIDs, flags and modseqs, expunge, rebuilding the index from the
 * Maildir, files from other Maildir tools, quota, notification between
 * two handles, undoing deliveries, failures, and several processes at
 * once. Each test runs in a fresh temporary directory (test_store.h).
 */
#include <sqlite3.h>

#include "test_store.h"

#include <poll.h>
#include <sys/wait.h>

/* Checks the cached strings of msgs[1]. */
static int
meta_cb_strings(void *ctx, const struct store_msg_meta *m)
{
	struct metas *ms = ctx;

	assert_non_null(m->envelope);
	assert_non_null(strstr(m->envelope, "\"two\""));
	assert_non_null(strstr(m->envelope, "\"b\" \"example.org\""));
	assert_non_null(m->bodystructure);
	assert_non_null(strstr(m->bodystructure, "\"TEXT\" \"PLAIN\""));
	assert_non_null(m->body);
	assert_string_equal(m->hdr[STORE_HDR_SUBJECT], "two");
	assert_string_equal(m->hdr[STORE_HDR_FROM], "b@example.org");
	assert_null(m->hdr[STORE_HDR_CC]);
	ms->n++;
	return 0;
}

/* --- tests ------------------------------------------------------------------
 */

static void
test_deliver_reopen_list(void **state)
{
	struct t *t = *state;
	struct store_account *acct = open_acct(t);
	struct store_mailbox *mbox;
	struct store_mailbox_status st;
	struct metas ms;
	uint32_t uids[3];
	uint64_t bytes, count;
	const char *error;
	char name[300];

	deliver_batch(t, acct, msgs, 3, uids);
	assert_int_equal(uids[0], 1);
	assert_int_equal(uids[1], 2);
	assert_int_equal(uids[2], 3);
	assert_int_equal(count_files(t->inbox, "new"), 3);
	/* The name carries what a rebuild needs. */
	assert_true(find_file(t->inbox, "new", ",U=2", name, sizeof(name)));
	assert_non_null(strstr(name, ",S=51,W=56,"));
	/* The flush an APPEND makes before its OK. */
	error = NULL;
	assert_int_equal(store_account_sync(acct, &error), STORE_OK);
	assert_null(error);
	store_account_close(&acct);

	acct = open_acct(t);
	mbox = open_mbox(acct, "inbox");
	assert_string_equal(store_mailbox_name(mbox), "INBOX");
	store_mailbox_get_status(mbox, &st);
	assert_int_equal(st.messages, 3);
	assert_int_equal(st.uidnext, 4);
	assert_int_equal(st.unseen, 3);
	assert_int_equal(st.recent, 3);
	assert_true(st.uidvalidity > 0);
	fetch_all(mbox, &ms);
	assert_int_equal(ms.n, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(ms.m[i].uid, i + 1);
		/* RFC822.SIZE counts CRLF line ends. */
		assert_int_equal(ms.m[i].size,
		                 strlen(msgs[i]) + (i == 1 ? 5 : 4));
		assert_int_equal(ms.m[i].flags, 0);
		assert_true(ms.m[i].modseq > 0);
		assert_true(ms.m[i].internal_date > 0);
	}
	assert_true(ms.m[0].modseq < ms.m[2].modseq);
	/* What IMAP asks for most was cached at delivery. */
	{
		struct metas mc = {0};

		assert_int_equal(
		        store_fetch_meta(
		                mbox, 2, 2,
		                STORE_META_ENVELOPE | STORE_META_BODYSTRUCTURE |
		                        STORE_META_BODY | STORE_META_HEADERS,
		                meta_cb_strings, &mc, &error),
		        STORE_OK);
		assert_int_equal(mc.n, 1);
	}
	assert_int_equal(store_account_usage(acct, &bytes, &count, &error),
	                 STORE_OK);
	assert_int_equal(count, 3);
	assert_int_equal(bytes,
	                 strlen(msgs[0]) + strlen(msgs[1]) + strlen(msgs[2]));
	store_mailbox_close(&mbox);
	store_account_close(&acct);
}

struct flag_results {
	struct store_flag_result r[16];
	size_t n;
};

static void
flag_cb(void *ctx, const struct store_flag_result *res)
{
	struct flag_results *fr = ctx;

	if (fr->n < 16)
		fr->r[fr->n++] = *res;
}

static int
change_cb(void *ctx, const struct store_msg_meta *m, bool expunged)
{
	struct changes *c = ctx;

	if (c->n < 16) {
		c->uid[c->n] = m->uid;
		c->expunged[c->n] = expunged;
		c->modseq[c->n++] = m->modseq;
	}
	return 0;
}

static void
test_flags_modseq(void **state)
{
	struct t *t = *state;
	struct store_account *acct = open_acct(t);
	struct store_mailbox *mbox;
	struct store_uid_range one = {1, 1}, all = {1, UINT32_MAX};
	struct store_flag_change chg = {0};
	struct flag_results fr = {0};
	struct store_mailbox_status st;
	struct changes ch = {0};
	const char *kws[] = {"$Forwarded", "Work"};
	const char *const *names;
	const char *error = NULL;
	uint64_t before;
	size_t nk;
	struct metas ms;
	char name[300];

	deliver_batch(t, acct, msgs, 2, NULL);
	mbox = open_mbox(acct, "INBOX");
	store_mailbox_get_status(mbox, &st);
	before = st.highestmodseq;

	chg.op = STORE_FLAGS_ADD;
	chg.flags = STORE_FLAG_SEEN | STORE_FLAG_FLAGGED;
	assert_int_equal(
	        store_set_flags(mbox, &one, 1, &chg, flag_cb, &fr, &error),
	        STORE_OK);
	assert_int_equal(fr.n, 1);
	assert_true(fr.r[0].changed);
	assert_int_equal(fr.r[0].flags, STORE_FLAG_SEEN | STORE_FLAG_FLAGGED);
	assert_true(fr.r[0].modseq > before);
	/* The file moved to cur/ with the flags in its name. */
	assert_true(
	        find_file(t->inbox, "cur", ",U=1:2,FS", name, sizeof(name)));
	assert_int_equal(count_files(t->inbox, "new"), 1);

	/* The same again changes nothing and keeps the modseq. */
	fr.n = 0;
	assert_int_equal(
	        store_set_flags(mbox, &one, 1, &chg, flag_cb, &fr, &error),
	        STORE_OK);
	assert_false(fr.r[0].changed);

	/* Keywords get letters through the mailbox's keyword list. */
	chg.op = STORE_FLAGS_REPLACE;
	chg.flags = STORE_FLAG_ANSWERED;
	chg.keywords = kws;
	chg.nkeywords = 2;
	fr.n = 0;
	assert_int_equal(
	        store_set_flags(mbox, &all, 1, &chg, flag_cb, &fr, &error),
	        STORE_OK);
	assert_int_equal(fr.n, 2);
	assert_int_equal(fr.r[0].keywords, 3);
	assert_int_equal(fr.r[1].flags, STORE_FLAG_ANSWERED);
	assert_int_equal(fr.r[0].modseq, fr.r[1].modseq);
	names = store_mailbox_keywords(mbox, &nk);
	assert_int_equal(nk, 2);
	assert_string_equal(names[0], "$Forwarded");
	assert_string_equal(names[1], "Work");
	assert_true(
	        find_file(t->inbox, "cur", ",U=2:2,Rab", name, sizeof(name)));

	/* Remove one keyword, case-insensitively. */
	chg.op = STORE_FLAGS_REMOVE;
	chg.flags = 0;
	kws[0] = "work";
	chg.nkeywords = 1;
	fr.n = 0;
	assert_int_equal(
	        store_set_flags(mbox, &one, 1, &chg, flag_cb, &fr, &error),
	        STORE_OK);
	assert_int_equal(fr.r[0].keywords, 1);

	/* UNCHANGEDSINCE below the message's modseq: a conflict. */
	chg.op = STORE_FLAGS_ADD;
	chg.flags = STORE_FLAG_DELETED;
	chg.nkeywords = 0;
	chg.unchanged_since = before;
	fr.n = 0;
	assert_int_equal(
	        store_set_flags(mbox, &one, 1, &chg, flag_cb, &fr, &error),
	        STORE_OK);
	assert_true(fr.r[0].conflict);
	assert_false(fr.r[0].changed);
	fetch_all(mbox, &ms);
	assert_int_equal(ms.m[0].flags & STORE_FLAG_DELETED, 0);

	/* Changes since the first STORE: both messages. */
	assert_int_equal(
	        store_mailbox_changes(mbox, before, change_cb, &ch, &error),
	        STORE_OK);
	assert_int_equal(ch.n, 2);
	assert_false(ch.expunged[0]);
	store_mailbox_get_status(mbox, &st);
	assert_true(st.highestmodseq >= ch.modseq[0]);

	/* A 27th keyword does not fit. */
	for (int i = 0; i < 25; i++) {
		char kw[16];
		const char *p = kw;

		snprintf(kw, sizeof(kw), "k%d", i);
		chg.keywords = &p;
		chg.nkeywords = 1;
		chg.unchanged_since = 0;
		chg.flags = 0;
		assert_int_equal(store_set_flags(mbox, &one, 1, &chg, NULL,
		                                 NULL, &error),
		                 i < 24 ? STORE_OK : STORE_LIMIT);
	}
	store_mailbox_close(&mbox);
	store_account_close(&acct);
}

static void
test_expunge(void **state)
{
	struct t *t = *state;
	struct store_account *acct = open_acct(t);
	struct store_mailbox *mbox;
	struct store_uid_range r2 = {2, 2}, all = {1, UINT32_MAX};
	struct store_flag_change chg = {0};
	struct store_mailbox_status st;
	struct changes gone = {0}, ch = {0};
	const char *error = NULL;
	uint64_t before, bytes;
	struct metas ms;

	deliver_batch(t, acct, msgs, 3, NULL);
	mbox = open_mbox(acct, "INBOX");
	store_mailbox_get_status(mbox, &st);
	before = st.highestmodseq;
	chg.op = STORE_FLAGS_ADD;
	chg.flags = STORE_FLAG_DELETED;
	assert_int_equal(
	        store_set_flags(mbox, &r2, 1, &chg, NULL, NULL, &error),
	        STORE_OK);
	/* Only \Deleted messages go. */
	assert_int_equal(
	        store_expunge(mbox, &all, 1, true, uid_cb, &gone, &error),
	        STORE_OK);
	assert_int_equal(gone.n, 1);
	assert_int_equal(gone.uid[0], 2);
	fetch_all(mbox, &ms);
	assert_int_equal(ms.n, 2);
	assert_int_equal(ms.m[0].uid, 1);
	assert_int_equal(ms.m[1].uid, 3);
	assert_int_equal(
	        count_files(t->inbox, "new") + count_files(t->inbox, "cur"), 2);
	assert_int_equal(
	        store_mailbox_changes(mbox, before, change_cb, &ch, &error),
	        STORE_OK);
	assert_int_equal(ch.n, 1);
	assert_int_equal(ch.uid[0], 2);
	assert_true(ch.expunged[0]);
	/* POP3 DELE: any message. */
	gone.n = 0;
	assert_int_equal(
	        store_expunge(mbox, NULL, 0, false, uid_cb, &gone, &error),
	        STORE_OK);
	assert_int_equal(gone.n, 2);
	assert_int_equal(store_account_usage(acct, &bytes, NULL, &error),
	                 STORE_OK);
	assert_int_equal(bytes, 0);
	store_mailbox_close(&mbox);
	store_account_close(&acct);
}

static void
test_uids_never_reused(void **state)
{
	struct t *t = *state;
	struct store_account *acct = open_acct(t);
	struct store_mailbox *mbox;
	struct store_mailbox_status st;
	const char *error = NULL;
	uint32_t uidv, uid;

	deliver_batch(t, acct, msgs, 3, NULL);
	mbox = open_mbox(acct, "INBOX");
	store_mailbox_get_status(mbox, &st);
	uidv = st.uidvalidity;
	assert_int_equal(
	        store_expunge(mbox, NULL, 0, false, NULL, NULL, &error),
	        STORE_OK);
	store_mailbox_close(&mbox);
	store_account_close(&acct);

	acct = open_acct(t);
	uid = deliver_one(t, acct, msgs[0]);
	assert_int_equal(uid, 4);
	store_account_close(&acct);

	/* Lose the index with the highest UIDs expunged: the reservation
	 * in postern-uidlist keeps them from coming back. */
	acct = open_acct(t);
	mbox = open_mbox(acct, "INBOX");
	assert_int_equal(
	        store_expunge(mbox, NULL, 0, false, NULL, NULL, &error),
	        STORE_OK);
	store_mailbox_close(&mbox);
	store_account_close(&acct);
	remove_index(t);
	acct = open_acct(t);
	uid = deliver_one(t, acct, msgs[1]);
	assert_true(uid > 4);
	mbox = open_mbox(acct, "INBOX");
	store_mailbox_get_status(mbox, &st);
	assert_int_equal(st.uidvalidity, uidv);
	assert_true(st.uidnext > uid);
	store_mailbox_close(&mbox);
	store_account_close(&acct);
}

/* What a mailbox looks like, to compare before and after a rebuild. */
struct snapshot {
	uint32_t uidvalidity;
	struct metas ms;
	size_t nkeywords;
	char keywords[4][32];
	char names[16][64];
	size_t nnames;
};

static void
list_cb(void *ctx, const char *name, unsigned attrs)
{
	struct snapshot *s = ctx;

	(void)attrs;
	if (s->nnames < 16)
		snprintf(s->names[s->nnames++], sizeof(s->names[0]), "%s",
		         name);
}

static void
snapshot(struct store_account *acct, const char *mailbox, struct snapshot *s)
{
	struct store_mailbox *mbox = open_mbox(acct, mailbox);
	struct store_mailbox_status st;
	const char *const *kw;
	const char *error = NULL;

	memset(s, 0, sizeof(*s));
	store_mailbox_get_status(mbox, &st);
	s->uidvalidity = st.uidvalidity;
	fetch_all(mbox, &s->ms);
	kw = store_mailbox_keywords(mbox, &s->nkeywords);
	for (size_t i = 0; i < s->nkeywords && i < 4; i++)
		snprintf(s->keywords[i], sizeof(s->keywords[i]), "%s", kw[i]);
	store_mailbox_close(&mbox);
	assert_int_equal(store_mailbox_list(acct, list_cb, s, &error),
	                 STORE_OK);
}

static void
assert_same(const struct snapshot *a, const struct snapshot *b)
{
	assert_int_equal(a->uidvalidity, b->uidvalidity);
	assert_int_equal(a->ms.n, b->ms.n);
	for (size_t i = 0; i < a->ms.n; i++) {
		assert_int_equal(a->ms.m[i].uid, b->ms.m[i].uid);
		assert_int_equal(a->ms.m[i].flags, b->ms.m[i].flags);
		assert_int_equal(a->ms.m[i].keywords, b->ms.m[i].keywords);
		assert_int_equal(a->ms.m[i].size, b->ms.m[i].size);
		assert_int_equal(a->ms.m[i].internal_date,
		                 b->ms.m[i].internal_date);
		/* Modseqs only grow: a client's cached state is older. */
		assert_true(b->ms.m[i].modseq > a->ms.m[i].modseq);
	}
	assert_int_equal(a->nkeywords, b->nkeywords);
	for (size_t i = 0; i < a->nkeywords && i < 4; i++)
		assert_string_equal(a->keywords[i], b->keywords[i]);
	assert_int_equal(a->nnames, b->nnames);
	for (size_t i = 0; i < a->nnames; i++)
		assert_string_equal(a->names[i], b->names[i]);
}

/* Three messages in INBOX with flags and a keyword, one taken to cur/, and
 * an appended message in a folder. */
static void
populate(struct t *t, struct store_account *acct)
{
	struct store_uid_range r1 = {1, 1}, r3 = {3, 3};
	struct store_flag_change chg = {0};
	struct store_append_info info = {0};
	struct store_append *app = NULL;
	struct store_mailbox *mbox;
	const char *kw = "Important";
	const char *error = NULL;
	uint32_t uidv, uid;

	deliver_batch(t, acct, msgs, 3, NULL);
	mbox = open_mbox(acct, "INBOX");
	chg.op = STORE_FLAGS_ADD;
	chg.flags = STORE_FLAG_SEEN;
	chg.keywords = &kw;
	chg.nkeywords = 1;
	assert_int_equal(
	        store_set_flags(mbox, &r1, 1, &chg, NULL, NULL, &error),
	        STORE_OK);
	chg.flags = STORE_FLAG_DRAFT | STORE_FLAG_ANSWERED;
	chg.nkeywords = 0;
	assert_int_equal(
	        store_set_flags(mbox, &r3, 1, &chg, NULL, NULL, &error),
	        STORE_OK);
	store_mailbox_close(&mbox);
	assert_int_equal(store_mailbox_create(acct, "Lists/Work", &error),
	                 STORE_OK);
	assert_int_equal(store_append_begin(acct, "Lists/Work", &app, &error),
	                 STORE_OK);
	assert_int_equal(
	        store_append_write(app, "Subject: x\r\n\r\nhi\r\n", 18, &error),
	        STORE_OK);
	info.flags = STORE_FLAG_SEEN;
	info.internal_date = 1000000000;
	assert_int_equal(store_append_finish(&app, &info, &uidv, &uid, &error),
	                 STORE_OK);
	assert_int_equal(uid, 1);
}

static int
cache_cb(void *ctx, const struct store_msg_meta *m)
{
	struct metas *ms = ctx;

	assert_string_equal(m->envelope, "(NIL)");
	assert_string_equal(m->hdr[STORE_HDR_SUBJECT], "one");
	assert_null(m->hdr[STORE_HDR_FROM]);
	ms->n++;
	return 0;
}

static void
test_rebuild_missing_index(void **state)
{
	struct t *t = *state;
	struct store_account *acct = open_acct(t);
	struct snapshot a, b, fa, fb;

	populate(t, acct);
	snapshot(acct, "INBOX", &a);
	snapshot(acct, "Lists/Work", &fa);
	assert_int_equal(a.ms.n, 3);
	assert_int_equal(a.nkeywords, 1);
	store_account_close(&acct);

	remove_index(t);
	acct = open_acct(t);
	snapshot(acct, "INBOX", &b);
	snapshot(acct, "Lists/Work", &fb);
	assert_same(&a, &b);
	assert_same(&fa, &fb);
	assert_int_equal(fb.ms.m[0].internal_date, 1000000000);
	/* A rebuild leaves the cache to be filled lazily. */
	{
		struct store_mailbox *mbox = open_mbox(acct, "INBOX");
		struct store_cache cache = {0};
		const char *error = NULL;
		struct metas mc = {0};

		assert_int_equal(store_fetch_meta(mbox, 1, 1,
		                                  STORE_META_ENVELOPE, meta_cb,
		                                  &mc, &error),
		                 STORE_OK);
		assert_null(mc.m[0].envelope);
		cache.envelope = "(NIL)";
		cache.hdr[STORE_HDR_SUBJECT] = "one";
		assert_int_equal(store_cache_update(mbox, 1, &cache, &error),
		                 STORE_OK);
		mc.n = 0;
		assert_int_equal(store_fetch_meta(mbox, 1, 1,
		                                  STORE_META_ENVELOPE |
		                                          STORE_META_HEADERS,
		                                  cache_cb, &mc, &error),
		                 STORE_OK);
		assert_int_equal(mc.n, 1);
		store_mailbox_close(&mbox);
	}
	store_account_close(&acct);
}

/* Usage is the sum over mailboxes: a deleted mailbox takes its messages
 * bytes with it. */
static void
test_usage_follows_mailboxes(void **state)
{
	struct t *t = *state;
	struct store_account *acct = open_acct(t);
	struct store_delivery *d = NULL;
	uint64_t bytes = 0, count = 0;
	const char *error = NULL, *sp;
	int fd;

	deliver_one(t, acct, msgs[0]);
	assert_int_equal(store_batch_begin(acct, &error), STORE_OK);
	sp = spool(t, msgs[1]);
	/* Through a descriptor the caller holds: read, and left open. */
	fd = open(sp, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(store_deliver(acct, "Archive", sp, fd, strlen(msgs[1]),
	                               0, &d, &error),
	                 STORE_OK);
	assert_int_equal(fcntl(fd, F_GETFD) >= 0, 1);
	close(fd);
	store_delivery_free(&d);
	assert_int_equal(store_batch_commit(acct, &error), STORE_OK);
	assert_int_equal(store_account_usage(acct, &bytes, &count, &error),
	                 STORE_OK);
	assert_int_equal(bytes, strlen(msgs[0]) + strlen(msgs[1]));
	assert_int_equal(count, 2);
	assert_int_equal(store_mailbox_delete(acct, "Archive", &error),
	                 STORE_OK);
	assert_int_equal(store_account_usage(acct, &bytes, &count, &error),
	                 STORE_OK);
	assert_int_equal(bytes, strlen(msgs[0]));
	assert_int_equal(count, 1);
	store_account_close(&acct);
}

/* An index of another schema version (an upgrade) is rebuilt: same UIDs,
 * flags and UIDVALIDITY, and the usage counted again. */
static void
test_rebuild_other_version(void **state)
{
	struct t *t = *state;
	struct store_account *acct = open_acct(t);
	struct snapshot a, b;
	uint64_t bytes_a = 0, msgs_a = 0, bytes_b = 0, msgs_b = 0;
	const char *error = NULL;
	char path[512];
	sqlite3 *db;

	populate(t, acct);
	snapshot(acct, "INBOX", &a);
	assert_int_equal(store_account_usage(acct, &bytes_a, &msgs_a, &error),
	                 STORE_OK);
	assert_true(bytes_a > 0 && msgs_a > 0);
	store_account_close(&acct);

	snprintf(path, sizeof(path), "%s/postern-index.sqlite", t->inbox);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	                              "UPDATE meta SET value = 1"
	                              " WHERE key = 'version'",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	acct = open_acct(t);
	snapshot(acct, "INBOX", &b);
	assert_same(&a, &b);
	assert_int_equal(store_account_usage(acct, &bytes_b, &msgs_b, &error),
	                 STORE_OK);
	assert_int_equal(bytes_b, bytes_a);
	assert_int_equal(msgs_b, msgs_a);
	store_account_close(&acct);
}

static void
test_rebuild_corrupt_index(void **state)
{
	struct t *t = *state;
	struct store_account *acct = open_acct(t);
	struct snapshot a, b;
	char path[512];
	FILE *f;

	populate(t, acct);
	snapshot(acct, "INBOX", &a);
	store_account_close(&acct);

	snprintf(path, sizeof(path), "%s/postern-index.sqlite", t->inbox);
	f = fopen(path, "r+");
	assert_non_null(f);
	for (int i = 0; i < 4096; i++)
		fputc("garbage!"[i % 8], f);
	fclose(f);
	acct = open_acct(t);
	snapshot(acct, "INBOX", &b);
	assert_same(&a, &b);
	/* The bad file is kept for a look. */
	snprintf(path, sizeof(path), "%s/postern-index.sqlite.corrupt",
	         t->inbox);
	assert_int_equal(access(path, F_OK), 0);
	store_account_close(&acct);
}

static void
drop_foreign(struct t *t, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/new/%s", t->inbox, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
test_foreign_file(void **state)
{
	struct t *t = *state;
	struct store_account *acct = open_acct(t);
	struct store_mailbox *mbox;
	struct store_mailbox_status st;
	struct store_body *body = NULL;
	const char *error = NULL;
	struct metas ms;
	char name[300];
	int fd;

	deliver_batch(t, acct, msgs, 2, NULL);
	drop_foreign(t, "1700000000.M1P1.otherhost", "Subject: hi\n\nx\n");
	/* A name whose U= a delivered message already has. */
	drop_foreign(t, "1700000001.M2P2.otherhost,U=1", "Subject: dup\n\n");
	mbox = open_mbox(acct, "INBOX");
	fetch_all(mbox, &ms);
	assert_int_equal(ms.n, 4);
	assert_int_equal(ms.m[2].uid, 3);
	assert_int_equal(ms.m[3].uid, 4);
	assert_int_equal(ms.m[2].size, 18);
	/* Renamed to carry their UIDs. */
	assert_true(find_file(t->inbox, "new",
	                      "1700000000.M1P1.otherhost,S=15,W=18,U=3", name,
	                      sizeof(name)));
	assert_true(find_file(t->inbox, "new",
	                      "1700000001.M2P2.otherhost,S=14,W=16,U=4", name,
	                      sizeof(name)));
	assert_int_equal(store_body_open(mbox, 3, &body, &error), STORE_OK);
	store_body_free(&body);

	/* While the mailbox is open, a new file is seen through the
	 * notification descriptor. */
	fd = store_account_notify_fd(acct);
	assert_true(fd >= 0);
	drop_foreign(t, "1700000002.M3P3.otherhost", "Subject: late\n\n");
	assert_true(store_account_notify_read(acct) & STORE_NOTIFY_FILES);
	assert_int_equal(store_mailbox_refresh(mbox, &st, &error), STORE_OK);
	assert_int_equal(st.messages, 5);
	assert_int_equal(st.uidnext, 6);
	store_mailbox_close(&mbox);
	store_account_close(&acct);
}

/* What a delivery that crashed between its link and its commit leaves:
 * a file carrying a UID the index never committed. */
static void
test_orphans(void **state)
{
	struct t *t = *state;
	struct store_account *acct = open_acct(t);
	struct store_mailbox *mbox;
	const char *error = NULL;
	struct metas ms;
	char name[300];

	deliver_one(t, acct, msgs[0]);
	drop_foreign(t, "1700000000.M1P1.h,S=2,W=3,U=2", "x\n");
	/* Beyond the reservation: not a UID postern gave. */
	drop_foreign(t, "1700000000.M2P1.h,S=2,W=3,U=4000000000", "y\n");
	mbox = open_mbox(acct, "INBOX");
	fetch_all(mbox, &ms);
	assert_int_equal(ms.n, 3);
	assert_int_equal(ms.m[1].uid, 2);
	assert_int_equal(ms.m[2].uid, 3);
	/* The orphan keeps its name; the other is renamed. */
	assert_true(find_file(t->inbox, "new", "M1P1.h,S=2,W=3,U=2", name,
	                      sizeof(name)));
	assert_true(find_file(t->inbox, "new", "M2P1.h,S=2,W=3,U=3", name,
	                      sizeof(name)));
	/* An orphan below UIDNEXT may be an expunged message's UID: it
	 * gets a fresh one. */
	assert_int_equal(
	        store_expunge(mbox, NULL, 0, false, NULL, NULL, &error),
	        STORE_OK);
	drop_foreign(t, "1700000000.M3P1.h,S=2,W=3,U=2", "z\n");
	store_account_notify_fd(acct);
	store_mailbox_close(&mbox);
	mbox = open_mbox(acct, "INBOX");
	fetch_all(mbox, &ms);
	assert_int_equal(ms.n, 1);
	assert_int_equal(ms.m[0].uid, 4);
	store_mailbox_close(&mbox);
	store_account_close(&acct);
}

/* What a power cut during the flush after a delivery may leave: the new/
 * entry made durable without all of its data. It is moved to tmp/, out of
 * the mailbox; a short file without postern's U= is another tool's and
 * stays. */
static void
test_torn_entry(void **state)
{
	struct t *t = *state;
	struct store_account *acct = open_acct(t);
	struct store_mailbox *mbox;
	struct metas ms;
	char name[300], path[600];

	deliver_one(t, acct, msgs[0]);
	deliver_one(t, acct, msgs[1]);
	assert_true(find_file(t->inbox, "new", ",U=2", name, sizeof(name)));
	snprintf(path, sizeof(path), "%s/new/%s", t->inbox, name);
	assert_int_equal(truncate(path, 3), 0);
	drop_foreign(t, "1700000000.M9P1.h,S=900", "short\n");
	mbox = open_mbox(acct, "INBOX");
	fetch_all(mbox, &ms);
	assert_int_equal(ms.n, 2);
	assert_int_equal(ms.m[0].uid, 1);
	assert_int_equal(ms.m[1].uid, 3); /* the foreign file, adopted */
	assert_false(find_file(t->inbox, "new", ",U=2", path, sizeof(path)));
	assert_true(find_file(t->inbox, "tmp", name, path, sizeof(path)));
	/* The foreign file's wrong S= was corrected when it got its U=, so
	 * it does not look torn to the next scan. */
	assert_true(find_file(t->inbox, "new", "M9P1.h,S=6,W=7,U=3", path,
	                      sizeof(path)));
	store_mailbox_close(&mbox);
	mbox = open_mbox(acct, "INBOX");
	fetch_all(mbox, &ms);
	assert_int_equal(ms.n, 2);
	store_mailbox_close(&mbox);
	store_account_close(&acct);
}

/* Links `name` in new/ to the file `spool` (as a delivery links the
 * spool file); returns that file's identity. */
static struct store_inode
link_stray(struct t *t, const char *spool, const char *name)
{
	char path[600];
	struct stat st;
	struct store_inode ino;

	snprintf(path, sizeof(path), "%s/new/%s", t->inbox, name);
	assert_int_equal(link(spool, path), 0);
	assert_int_equal(stat(spool, &st), 0);
	ino.dev = st.st_dev;
	ino.ino = st.st_ino;
	return ino;
}

/* What a queue killed between its link into new/ and its commit leaves:
 * postern names carrying UIDs from UIDNEXT on, no rows, each a link to a
 * spool file the dead queue left. Those go to tmp/. A U= below UIDNEXT
 * (a message's own), at the reservation's limit and above (never given
 * here), or on a file that is not one of the spool files (restored from a
 * backup) stays for the scan; and the next delivery gets UIDNEXT. */
static void
test_clear_strays(void **state)
{
	struct t *t = *state;
	struct store_account *acct = open_acct(t);
	struct store_mailbox *mbox;
	struct store_inode inos[2];
	struct metas ms;
	const char *err = NULL;
	unsigned moved = 99;
	char spool1[320], spool2[320], path[600];

	deliver_one(t, acct, msgs[0]);
	snprintf(spool1, sizeof(spool1), "%s/spool-a", t->inbox);
	snprintf(spool2, sizeof(spool2), "%s/spool-b", t->inbox);
	drop_foreign(t, "../spool-a", "stray\n");
	drop_foreign(t, "../spool-b", "stray\n");
	inos[0] = link_stray(t, spool1, "1700000000.M1P1Q1.h,S=6,W=7,U=2");
	inos[1] = link_stray(t, spool2, "1700000000.M1P1Q2.h,S=6,W=7,U=7");
	link_stray(t, spool1, "1700000000.M1P1Q3.h,S=6,W=7,U=5000");
	link_stray(t, spool2, "1700000000.M1P1Q4.h,S=6,W=7,U=1");
	drop_foreign(t, "1700000000.M1P1Q5.h,S=9,W=10,U=3", "restored\n");
	/* Without spool files nothing is looked at. */
	assert_int_equal(store_deliver_clear_strays(acct, "INBOX", inos, 0,
	                                            &moved, &err),
	                 STORE_OK);
	assert_int_equal(moved, 0);
	assert_int_equal(store_deliver_clear_strays(acct, "INBOX", inos, 2,
	                                            &moved, &err),
	                 STORE_OK);
	assert_int_equal(moved, 2);
	assert_true(find_file(t->inbox, "tmp", "Q1.h,S=6,W=7,U=2", path,
	                      sizeof(path)));
	assert_true(find_file(t->inbox, "tmp", "Q2.h,S=6,W=7,U=7", path,
	                      sizeof(path)));
	assert_true(find_file(t->inbox, "new", "Q3.h,S=6,W=7,U=5000", path,
	                      sizeof(path)));
	assert_true(find_file(t->inbox, "new", "Q4.h,S=6,W=7,U=1", path,
	                      sizeof(path)));
	assert_true(find_file(t->inbox, "new", "Q5.h,S=9,W=10,U=3", path,
	                      sizeof(path)));
	assert_int_equal(deliver_one(t, acct, msgs[1]), 2);
	/* Nothing left to clear; a missing mailbox is NOTFOUND. */
	assert_int_equal(store_deliver_clear_strays(acct, "INBOX", inos, 2,
	                                            &moved, &err),
	                 STORE_OK);
	assert_int_equal(moved, 0);
	assert_int_equal(store_deliver_clear_strays(acct, "Nowhere", inos, 2,
	                                            &moved, &err),
	                 STORE_NOTFOUND);
	/* The three left behind are the scan's: U=3 is still free and kept,
	 * the others get fresh UIDs. */
	mbox = open_mbox(acct, "INBOX");
	fetch_all(mbox, &ms);
	assert_int_equal(ms.n, 5);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(ms.m[i].uid, i + 1);
	store_mailbox_close(&mbox);
	store_account_close(&acct);
}

static void
test_quota(void **state)
{
	struct t *t = *state;
	struct store_account *acct = open_acct(t);
	struct store_delivery *d = NULL;
	const char *error = NULL;
	const char *path;
	uint64_t bytes;

	assert_int_equal(store_batch_begin(acct, &error), STORE_OK);
	path = spool(t, msgs[0]);
	assert_int_equal(store_deliver(acct, "INBOX", path, -1, strlen(msgs[0]),
	                               80, &d, &error),
	                 STORE_OK);
	store_delivery_free(&d);
	path = spool(t, msgs[1]);
	assert_int_equal(store_deliver(acct, "INBOX", path, -1, strlen(msgs[1]),
	                               80, &d, &error),
	                 STORE_OVERQUOTA);
	assert_null(d);
	/* A smaller one still fits. */
	path = spool(t, "x\n");
	assert_int_equal(
	        store_deliver(acct, "INBOX", path, -1, 2, 80, &d, &error),
	        STORE_OK);
	store_delivery_free(&d);
	assert_int_equal(store_batch_commit(acct, &error), STORE_OK);
	assert_int_equal(count_files(t->inbox, "new"), 2);
	assert_int_equal(store_account_usage(acct, &bytes, NULL, &error),
	                 STORE_OK);
	assert_int_equal(bytes, strlen(msgs[0]) + 2);
	/* No such mailbox. */
	assert_int_equal(store_batch_begin(acct, &error), STORE_OK);
	assert_int_equal(
	        store_deliver(acct, "Nope", path, -1, 2, 0, &d, &error),
	        STORE_NOTFOUND);
	assert_int_equal(store_batch_commit(acct, &error), STORE_OK);
	store_account_close(&acct);
}

static bool
readable(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN) != 0;
}

static void
test_notify_two_handles(void **state)
{
	struct t *t = *state;
	struct store_account *a = open_acct(t), *b = open_acct(t);
	struct store_mailbox *ma, *mb;
	struct store_uid_range one = {1, 1};
	struct store_flag_change chg = {0};
	struct store_mailbox_status st;
	struct changes ch = {0};
	const char *error = NULL;
	uint64_t seen;
	int fd;

	mb = open_mbox(b, "INBOX");
	fd = store_account_notify_fd(b);
	assert_true(fd >= 0);
	assert_false(readable(fd, 0));
	store_mailbox_get_status(mb, &st);
	seen = st.highestmodseq;

	/* A delivers through its own handle (another process, in life). */
	deliver_one(t, a, msgs[0]);
	assert_true(readable(fd, 1000));
	assert_true(store_account_notify_read(b) & STORE_NOTIFY_INDEX);
	assert_false(readable(fd, 0));
	assert_int_equal(store_mailbox_refresh(mb, &st, &error), STORE_OK);
	assert_int_equal(st.messages, 1);
	assert_int_equal(
	        store_mailbox_changes(mb, seen, change_cb, &ch, &error),
	        STORE_OK);
	assert_int_equal(ch.n, 1);
	assert_int_equal(ch.uid[0], 1);
	seen = st.highestmodseq;

	/* A flag change by A wakes B too. */
	ma = open_mbox(a, "INBOX");
	store_account_notify_read(b);
	chg.op = STORE_FLAGS_ADD;
	chg.flags = STORE_FLAG_SEEN;
	assert_int_equal(store_set_flags(ma, &one, 1, &chg, NULL, NULL, &error),
	                 STORE_OK);
	assert_true(readable(fd, 1000));
	assert_true(store_account_notify_read(b) & STORE_NOTIFY_INDEX);
	assert_int_equal(store_mailbox_refresh(mb, &st, &error), STORE_OK);
	assert_true(st.highestmodseq > seen);
	assert_int_equal(st.unseen, 0);
	ch.n = 0;
	assert_int_equal(
	        store_mailbox_changes(mb, seen, change_cb, &ch, &error),
	        STORE_OK);
	assert_int_equal(ch.n, 1);

	/* A mailbox made by A. */
	store_account_notify_read(b);
	assert_int_equal(store_mailbox_create(a, "Projects", &error), STORE_OK);
	assert_true(readable(fd, 1000));
	assert_true(store_account_notify_read(b) & STORE_NOTIFY_MAILBOXES);

	/* Expunged by A: B's handle learns it. */
	assert_int_equal(store_expunge(ma, NULL, 0, false, NULL, NULL, &error),
	                 STORE_OK);
	assert_true(readable(fd, 1000));
	store_account_notify_read(b);
	assert_int_equal(store_mailbox_refresh(mb, &st, &error), STORE_OK);
	assert_int_equal(st.messages, 0);
	store_mailbox_close(&ma);
	store_mailbox_close(&mb);
	store_account_close(&a);
	store_account_close(&b);
}

static void
test_batch_undo(void **state)
{
	struct t *t = *state;
	struct store_account *acct = open_acct(t);
	struct store_delivery *d1 = NULL, *d2 = NULL, *d3 = NULL;
	struct store_mailbox *mbox;
	const char *error = NULL;
	const char *path;
	struct metas ms;

	/* Undo inside the batch (another recipient of the message failed). */
	assert_int_equal(store_batch_begin(acct, &error), STORE_OK);
	path = spool(t, msgs[0]);
	assert_int_equal(store_deliver(acct, "INBOX", path, -1, strlen(msgs[0]),
	                               0, &d1, &error),
	                 STORE_OK);
	path = spool(t, msgs[1]);
	assert_int_equal(store_deliver(acct, "INBOX", path, -1, strlen(msgs[1]),
	                               0, &d2, &error),
	                 STORE_OK);
	assert_int_equal(count_files(t->inbox, "new"), 2);
	assert_int_equal(store_delivery_undo(d1, &error), STORE_OK);
	assert_int_equal(count_files(t->inbox, "new"), 1);
	assert_int_equal(store_batch_commit(acct, &error), STORE_OK);
	/* Undo after the commit (the flush failed). */
	assert_int_equal(store_delivery_undo(d2, &error), STORE_OK);
	assert_int_equal(store_delivery_undo(d2, &error), STORE_OK);
	assert_int_equal(count_files(t->inbox, "new"), 0);
	store_delivery_free(&d1);
	store_delivery_free(&d2);

	/* A rolled-back batch leaves nothing. */
	assert_int_equal(store_batch_begin(acct, &error), STORE_OK);
	path = spool(t, msgs[2]);
	assert_int_equal(store_deliver(acct, "INBOX", path, -1, strlen(msgs[2]),
	                               0, &d3, &error),
	                 STORE_OK);
	assert_int_equal(count_files(t->inbox, "new"), 1);
	store_batch_rollback(acct);
	assert_int_equal(count_files(t->inbox, "new"), 0);
	assert_int_equal(store_delivery_undo(d3, &error), STORE_OK);
	store_delivery_free(&d3);
	/* Also when the caller freed its record at once. */
	assert_int_equal(store_batch_begin(acct, &error), STORE_OK);
	path = spool(t, msgs[2]);
	assert_int_equal(store_deliver(acct, "INBOX", path, -1, strlen(msgs[2]),
	                               0, &d3, &error),
	                 STORE_OK);
	store_delivery_free(&d3);
	store_batch_rollback(acct);
	assert_int_equal(count_files(t->inbox, "new"), 0);

	mbox = open_mbox(acct, "INBOX");
	fetch_all(mbox, &ms);
	assert_int_equal(ms.n, 0);
	store_mailbox_close(&mbox);
	/* The undone UIDs are not given again. */
	assert_true(deliver_one(t, acct, msgs[0]) > 2);
	store_account_close(&acct);
}

static void
test_deliver_failures(void **state)
{
	struct t *t = *state;
	struct store_account *acct = open_acct(t);
	struct store_delivery *d = NULL;
	struct store_mailbox_status st;
	const char *error = NULL;
	char path[1024], shm[64], name[300];
	const char *sp;
	FILE *f;

	/* A mailbox whose new/ is broken: that delivery fails and leaves
	 * nothing; the rest of the batch goes on. */
	snprintf(path, sizeof(path), "%s/.Archive/new", t->inbox);
	assert_int_equal(rmdir(path), 0);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(store_batch_begin(acct, &error), STORE_OK);
	sp = spool(t, msgs[0]);
	assert_int_equal(store_deliver(acct, "Archive", sp, -1, strlen(msgs[0]),
	                               0, &d, &error),
	                 STORE_TEMPFAIL);
	assert_null(d);
	assert_int_equal(store_deliver(acct, "INBOX", sp, -1, strlen(msgs[0]),
	                               0, &d, &error),
	                 STORE_OK);
	store_delivery_free(&d);
	/* A size that does not match the file. */
	assert_int_equal(store_deliver(acct, "INBOX", sp, -1, 3, 0, &d, &error),
	                 STORE_TEMPFAIL);
	assert_int_equal(store_batch_commit(acct, &error), STORE_OK);
	assert_int_equal(store_mailbox_status(acct, "Archive", &st, &error),
	                 STORE_OK);
	assert_int_equal(st.messages, 0);
	assert_int_equal(store_mailbox_status(acct, "INBOX", &st, &error),
	                 STORE_OK);
	assert_int_equal(st.messages, 1);

	/* A spool on another file system: copied (and flushed), not
	 * linked. */
	snprintf(shm, sizeof(shm), "/dev/shm/test_store.%ld", (long)getpid());
	f = fopen(shm, "w");
	if (f != NULL) {
		struct stat a, b;

		fputs(msgs[1], f);
		fclose(f);
		assert_int_equal(store_batch_begin(acct, &error), STORE_OK);
		assert_int_equal(store_deliver(acct, "INBOX", shm, -1,
		                               strlen(msgs[1]), 0, &d, &error),
		                 STORE_OK);
		assert_int_equal(store_batch_commit(acct, &error), STORE_OK);
		assert_int_equal(store_delivery_uid(d), 2);
		store_delivery_free(&d);
		assert_true(
		        find_file(t->inbox, "new", ",U=2", name, sizeof(name)));
		snprintf(path, sizeof(path), "%s/new/%s", t->inbox, name);
		assert_int_equal(stat(path, &a), 0);
		assert_int_equal(stat(shm, &b), 0);
		assert_true(a.st_dev != b.st_dev || a.st_ino != b.st_ino);
		assert_int_equal(a.st_size, strlen(msgs[1]));
		assert_int_equal(count_files(t->inbox, "tmp"), 0);
		unlink(shm);
	}
	store_account_close(&acct);
}

static void
test_rebuild_marked(void **state)
{
	struct t *t = *state;
	struct store_account *acct = open_acct(t);
	struct snapshot a, b;
	char path[512];
	FILE *f;

	populate(t, acct);
	snapshot(acct, "INBOX", &a);
	store_account_close(&acct);
	/* What a process that met SQLITE_CORRUPT leaves behind. */
	snprintf(path, sizeof(path), "%s/postern-index.rebuild", t->inbox);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	acct = open_acct(t);
	assert_int_equal(access(path, F_OK), -1);
	snapshot(acct, "INBOX", &b);
	assert_same(&a, &b);
	store_account_close(&acct);
}

static void
test_stale_and_deleted(void **state)
{
	struct t *t = *state;
	struct store_account *a = open_acct(t), *b;
	struct store_mailbox *ma, *mb;
	struct store_mailbox_status st;
	const char *error = NULL;

	assert_int_equal(store_mailbox_create(a, "Gone", &error), STORE_OK);
	b = open_acct(t);

	/* Renamed by another session: the handle follows. */
	{
		struct store_append *app = NULL;
		struct store_append_info info = {0};
		struct store_uid_range one = {1, 1};
		struct store_flag_change chg = {0};
		struct store_body *body = NULL;

		assert_int_equal(store_append_begin(a, "Gone", &app, &error),
		                 STORE_OK);
		assert_int_equal(store_append_write(app, "x\n", 2, &error),
		                 STORE_OK);
		assert_int_equal(
		        store_append_finish(&app, &info, NULL, NULL, &error),
		        STORE_OK);
		ma = open_mbox(a, "Gone");
		assert_int_equal(
		        store_mailbox_rename(b, "Gone", "Went", &error),
		        STORE_OK);
		chg.op = STORE_FLAGS_ADD;
		chg.flags = STORE_FLAG_SEEN;
		assert_int_equal(
		        store_set_flags(ma, &one, 1, &chg, NULL, NULL, &error),
		        STORE_OK);
		assert_string_equal(store_mailbox_name(ma), "Went");
		assert_int_equal(store_body_open(ma, 1, &body, &error),
		                 STORE_OK);
		store_body_free(&body);
		assert_int_equal(store_mailbox_status(b, "Went", &st, &error),
		                 STORE_OK);
		assert_int_equal(st.unseen, 0);
		store_mailbox_close(&ma);
		assert_int_equal(
		        store_mailbox_rename(b, "Went", "Gone", &error),
		        STORE_OK);
	}
	ma = open_mbox(a, "Gone");
	mb = open_mbox(b, "Gone");
	assert_int_equal(store_mailbox_delete(b, "Gone", &error), STORE_OK);
	assert_int_equal(store_mailbox_refresh(ma, &st, &error),
	                 STORE_NOTFOUND);
	store_mailbox_close(&ma);
	store_mailbox_close(&mb);
	store_account_close(&b);

	/* The index is removed and rebuilt behind a's back: a must not
	 * write to the old one. */
	remove_index(t);
	b = open_acct(t);
	assert_int_equal(store_batch_begin(a, &error), STORE_TEMPFAIL);
	assert_int_equal(store_mailbox_create(a, "X", &error), STORE_TEMPFAIL);
	store_account_close(&a);
	deliver_one(t, b, msgs[0]);
	store_account_close(&b);
}

/* Several processes at once: two deliver in batches while the test
 * process takes new mail and changes flags. */
#define CHILD_BATCHES 10
#define CHILD_BATCH   3

static int
child_deliver(const char *dir, int id)
{
	struct store *store = store_local_new(dir);
	struct store_account *acct = NULL;
	const char *error = NULL;

	if (store_account_open(store, "example.org", "alice", STORE_OPEN_CREATE,
	                       &acct, &error) != STORE_OK)
		return 1;
	for (int b = 0; b < CHILD_BATCHES; b++) {
		if (store_batch_begin(acct, &error) != STORE_OK)
			return 2;
		for (int i = 0; i < CHILD_BATCH; i++) {
			struct store_delivery *d = NULL;
			char path[256];
			FILE *f;

			snprintf(path, sizeof(path), "%s/spool-%d-%d-%d", dir,
			         id, b, i);
			f = fopen(path, "w");
			if (f == NULL)
				return 3;
			fprintf(f, "Subject: %d %d %d\n\nbody\n", id, b, i);
			fclose(f);
			{
				struct stat sb;

				stat(path, &sb);
				if (store_deliver(acct, "INBOX", path, -1,
				                  (uint64_t)sb.st_size, 0, &d,
				                  &error) != STORE_OK)
					return 4;
			}
			store_delivery_free(&d);
		}
		if (store_batch_commit(acct, &error) != STORE_OK)
			return 5;
	}
	store_account_close(&acct);
	store_free(&store);
	return 0;
}

static void
test_processes(void **state)
{
	struct t *t = *state;
	struct store_account *acct = open_acct(t);
	struct store_uid_range all = {1, UINT32_MAX};
	struct store_flag_change chg = {0};
	struct store_mailbox *mbox;
	struct store_mailbox_status st;
	const char *error = NULL;
	pid_t pids[2];
	struct metas ms;
	int done = 0;

	mbox = open_mbox(acct, "INBOX");
	for (int c = 0; c < 2; c++) {
		pids[c] = fork();
		assert_true(pids[c] >= 0);
		if (pids[c] == 0)
			_exit(child_deliver(t->dir, c));
	}
	chg.op = STORE_FLAGS_ADD;
	chg.flags = STORE_FLAG_SEEN;
	while (done < 2) {
		int status;

		assert_int_equal(store_take_new(mbox, NULL, NULL, &error),
		                 STORE_OK);
		assert_int_equal(store_set_flags(mbox, &all, 1, &chg, NULL,
		                                 NULL, &error),
		                 STORE_OK);
		chg.op = chg.op == STORE_FLAGS_ADD ? STORE_FLAGS_REMOVE
		                                   : STORE_FLAGS_ADD;
		for (int c = 0; c < 2; c++) {
			if (pids[c] > 0 &&
			    waitpid(pids[c], &status, WNOHANG) == pids[c]) {
				assert_true(WIFEXITED(status));
				assert_int_equal(WEXITSTATUS(status), 0);
				pids[c] = 0;
				done++;
			}
		}
	}
	assert_int_equal(store_mailbox_refresh(mbox, &st, &error), STORE_OK);
	assert_int_equal(st.messages, 2 * CHILD_BATCHES * CHILD_BATCH);
	assert_int_equal(st.uidnext, 2 * CHILD_BATCHES * CHILD_BATCH + 1);
	fetch_all(mbox, &ms);
	for (size_t i = 0; i < ms.n; i++)
		assert_int_equal(ms.m[i].uid, i + 1);
	store_mailbox_close(&mbox);
	store_account_close(&acct);
	/* The index agrees with the files. */
	remove_index(t);
	acct = open_acct(t);
	assert_int_equal(store_mailbox_status(acct, "INBOX", &st, &error),
	                 STORE_OK);
	assert_int_equal(st.messages, 2 * CHILD_BATCHES * CHILD_BATCH);
	store_account_close(&acct);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_deliver_reopen_list, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_flags_modseq, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_expunge, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_uids_never_reused, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_rebuild_missing_index,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_usage_follows_mailboxes,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_rebuild_other_version,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_rebuild_corrupt_index,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_foreign_file, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_orphans, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_torn_entry, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_clear_strays, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_quota, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_notify_two_handles, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_batch_undo, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_deliver_failures, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_rebuild_marked, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_stale_and_deleted, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_processes, setup,
	                                        teardown),
	};

	log_init("test", true, LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
