/*
 * mailbox — mailboxes of the local store: the list, CREATE, DELETE,
 * RENAME, STATUS, and the handle an IMAP or POP3 session opens (SELECT),
 * refreshes on notification and reads changes from (RFC 3501 6.3,
 * RFC 7162).
 *
 * A mailbox is a row in the index and a Maildir++ folder on disk ("" for
 * INBOX, ".A.B" for "A/B"); both change together under the index's write
 * lock. Folders that appear or vanish behind the index's back (another
 * tool, a crash between the directory change and the commit) are
 * reconciled when the account is opened or listed.
 */
#include "store/store_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "log/log.h"

/* --- name lists --------------------------------------------------------- */

struct name_list {
	char **names;
	int64_t *ids;
	size_t n, cap;
};

static void
name_list_add(struct name_list *l, const char *name, int64_t id)
{
	if (l->n == l->cap) {
		l->cap = l->cap == 0 ? 16 : l->cap * 2;
		l->names = xrealloc(l->names, l->cap * sizeof(*l->names));
		l->ids = xrealloc(l->ids, l->cap * sizeof(*l->ids));
	}
	l->names[l->n] = xstrdup(name);
	l->ids[l->n++] = id;
}

static void
name_list_free(struct name_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
	free(l->ids);
	memset(l, 0, sizeof(*l));
}

static bool
name_list_has(const struct name_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->names[i], name) == 0)
			return true;
	}
	return false;
}

static void
folder_cb(void *ctx, const char *name)
{
	name_list_add(ctx, name, 0);
}

static int
store_index_names(struct store_account *acct, struct name_list *l)
{
	sqlite3_stmt *st = store_index_stmt(acct, ST_MBOX_ALL);
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *name = sqlite3_column_text(st, 1);

		name_list_add(l, name != NULL ? (const char *)name : "",
		              sqlite3_column_int64(st, 0));
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* --- creating and dropping rows ------------------------------------------ */

/* Gives a folder found on disk (or INBOX) its row, keeping the
 * UIDVALIDITY and UID reservation of its postern-uidlist, then adopts its
 * files. Inside a transaction. */
static enum store_result
store_mbox_adopt(struct store_account *acct, const char *name,
                 const char **error_r)
{
	char dir[STORE_NAME_MAX + 1];
	struct store_uidlist ul = {0};
	int64_t id;
	int have;

	if (store_mbox_name_to_dir(name, dir, sizeof(dir)) < 0) {
		*error_r = "mailbox name too long";
		return STORE_PERMFAIL;
	}
	/* A folder made by another tool may lack tmp/ (or a lost one). */
	if (store_maildir_create(acct, dir) < 0) {
		*error_r = store_errorf(acct, "create %s: %s", dir,
		                        strerror(errno));
		return STORE_TEMPFAIL;
	}
	have = store_maildir_uidlist_read(acct, dir, &ul);
	if (have < 0) {
		*error_r = store_errorf(acct, "read %s/%s: %s", dir,
		                        STORE_UIDLIST_FILE, strerror(errno));
		return STORE_TEMPFAIL;
	}
	if (have == 0) {
		if (store_index_new_uidvalidity(acct, &ul.uidvalidity) < 0)
			return store_index_fail(acct, "new uidvalidity",
			                        error_r);
		ul.uid_limit = 1;
		ul.modseq_limit = 1;
		if (store_maildir_uidlist_write(acct, dir, &ul) < 0) {
			*error_r = store_errorf(acct, "write %s: %s",
			                        STORE_UIDLIST_FILE,
			                        strerror(errno));
			return STORE_TEMPFAIL;
		}
	} else if (store_index_note_uidvalidity(acct, ul.uidvalidity) < 0) {
		return store_index_fail(acct, "note uidvalidity", error_r);
	}
	if (store_index_mbox_insert(acct, name, &ul, ul.uid_limit, &id) < 0)
		return store_index_fail(acct, "insert mailbox", error_r);
	return store_maildir_sync(acct, id, dir, STORE_SYNC_REBUILD, error_r);
}

/* Removes a mailbox's rows (its usage goes with its row). */
static enum store_result
store_mbox_drop_row(struct store_account *acct, int64_t id,
                    const char **error_r)
{
	sqlite3_stmt *st = store_index_stmt(acct, ST_MSG_DELETE_MBOX);
	sqlite3_bind_int64(st, 1, id);
	if (store_index_exec_stmt(acct, st) < 0)
		return store_index_fail(acct, "delete messages", error_r);
	st = store_index_stmt(acct, ST_EXP_DELETE_MBOX);
	sqlite3_bind_int64(st, 1, id);
	if (store_index_exec_stmt(acct, st) < 0)
		return store_index_fail(acct, "delete expunged", error_r);
	st = store_index_stmt(acct, ST_MBOX_DELETE);
	sqlite3_bind_int64(st, 1, id);
	if (store_index_exec_stmt(acct, st) < 0)
		return store_index_fail(acct, "delete mailbox", error_r);
	return STORE_OK;
}

enum store_result
store_mbox_create_one(struct store_account *acct, const char *name,
                      const char **error_r)
{
	struct store_mbox_row row = {0};
	char dir[STORE_NAME_MAX + 1];
	enum store_result r;

	if (store_mbox_name_to_dir(name, dir, sizeof(dir)) < 0) {
		*error_r = "mailbox name too long";
		return STORE_PERMFAIL;
	}
	r = store_index_begin(acct, error_r);
	if (r != STORE_OK)
		return r;
	r = store_index_mbox_get(acct, name, &row, error_r);
	if (r == STORE_OK) {
		store_mbox_row_deinit(&row);
		*error_r = "mailbox already exists";
		r = STORE_EXISTS;
	} else if (r == STORE_NOTFOUND) {
		r = STORE_OK;
		if (store_maildir_create(acct, dir) < 0) {
			*error_r = store_errorf(acct, "create %s: %s", dir,
			                        strerror(errno));
			r = STORE_TEMPFAIL;
		}
		if (r == STORE_OK)
			r = store_mbox_adopt(acct, name, error_r);
	}
	return store_index_finish(acct, r, error_r);
}

/* True if the index's mailboxes and the folders on disk differ. */
static bool
store_mbox_lists_differ(const struct name_list *disk,
                        const struct name_list *idx)
{
	if (!name_list_has(idx, "INBOX"))
		return true;
	for (size_t i = 0; i < disk->n; i++) {
		if (!name_list_has(idx, disk->names[i]))
			return true;
	}
	for (size_t i = 0; i < idx->n; i++) {
		if (strcmp(idx->names[i], "INBOX") != 0 &&
		    !name_list_has(disk, idx->names[i]))
			return true;
	}
	return false;
}

static enum store_result
store_mbox_reconcile_locked(struct store_account *acct, const char **error_r)
{
	struct name_list disk = {0}, idx = {0};
	enum store_result r = STORE_OK;

	if (store_maildir_list_folders(acct, folder_cb, &disk) < 0) {
		*error_r =
		        store_errorf(acct, "list folders: %s", strerror(errno));
		return STORE_TEMPFAIL;
	}
	if (store_index_names(acct, &idx) < 0) {
		name_list_free(&disk);
		return store_index_fail(acct, "list mailboxes", error_r);
	}
	if (!name_list_has(&idx, "INBOX"))
		r = store_mbox_adopt(acct, "INBOX", error_r);
	for (size_t i = 0; r == STORE_OK && i < disk.n; i++) {
		if (!name_list_has(&idx, disk.names[i])) {
			log_info("account=%s/%s mailbox=%s event=adopted",
			         acct->domain, acct->local, disk.names[i]);
			r = store_mbox_adopt(acct, disk.names[i], error_r);
		}
	}
	for (size_t i = 0; r == STORE_OK && i < idx.n; i++) {
		if (strcmp(idx.names[i], "INBOX") != 0 &&
		    !name_list_has(&disk, idx.names[i])) {
			log_info("account=%s/%s mailbox=%s event=vanished",
			         acct->domain, acct->local, idx.names[i]);
			r = store_mbox_drop_row(acct, idx.ids[i], error_r);
		}
	}
	name_list_free(&disk);
	name_list_free(&idx);
	return r;
}

enum store_result
store_mbox_reconcile(struct store_account *acct, bool rebuild, bool *folders_r,
                     const char **error_r)
{
	struct name_list disk = {0}, idx = {0};
	enum store_result r;
	bool differ;

	/* A look without the lock first: nearly always nothing to do. */
	if (store_maildir_list_folders(acct, folder_cb, &disk) < 0) {
		*error_r =
		        store_errorf(acct, "list folders: %s", strerror(errno));
		return STORE_TEMPFAIL;
	}
	*folders_r = disk.n > 0;
	if (store_index_names(acct, &idx) < 0) {
		name_list_free(&disk);
		return store_index_fail(acct, "list mailboxes", error_r);
	}
	differ = rebuild || store_mbox_lists_differ(&disk, &idx);
	name_list_free(&disk);
	name_list_free(&idx);
	if (!differ)
		return STORE_OK;
	r = store_index_begin(acct, error_r);
	if (r != STORE_OK)
		return r;
	r = store_mbox_reconcile_locked(acct, error_r);
	return store_index_finish(acct, r, error_r);
}

enum store_result
store_mbox_lookup(struct store_account *acct, const char *name,
                  struct store_mbox_row *row, char *dir, size_t dirsz,
                  const char **error_r)
{
	char norm[STORE_MAILBOX_NAME_MAX + 1];
	enum store_result r;

	if (store_mbox_name_check(name, norm, sizeof(norm), error_r) < 0)
		return STORE_PERMFAIL;
	r = store_index_mbox_get(acct, norm, row, error_r);
	if (r == STORE_OK && store_mbox_name_to_dir(norm, dir, dirsz) < 0) {
		store_mbox_row_deinit(row);
		*error_r = "mailbox name too long";
		return STORE_PERMFAIL;
	}
	return r;
}

/* --- the list, CREATE, DELETE, RENAME --------------------------------------
 */

static int
str_ptr_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* True if a name in the sorted list starts with "<name>/". */
static bool
has_children(char **sorted, size_t n, const char *name)
{
	size_t len = strlen(name), lo = 0, hi = n;
	char *prefix = xasprintf("%s/", name);
	bool found;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (strcmp(sorted[mid], prefix) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	found = lo < n && strncmp(sorted[lo], prefix, len + 1) == 0;
	free(prefix);
	return found;
}

enum store_result
store_mailbox_list(struct store_account *acct, store_list_fn *cb, void *ctx,
                   const char **error_r)
{
	struct name_list idx = {0};
	enum store_result r;
	bool folders;
	char **sorted;

	r = store_mbox_reconcile(acct, false, &folders, error_r);
	if (r != STORE_OK)
		return r;
	if (store_index_names(acct, &idx) < 0)
		return store_index_fail(acct, "list mailboxes", error_r);
	sorted = xcalloc(idx.n + 1, sizeof(*sorted));
	memcpy(sorted, idx.names, idx.n * sizeof(*sorted));
	qsort(sorted, idx.n, sizeof(*sorted), str_ptr_cmp);
	/* INBOX first (the index orders it so), then by name. */
	for (size_t i = 0; i < idx.n; i++) {
		unsigned attrs = store_mbox_special_use(idx.names[i]);

		if (has_children(sorted, idx.n, idx.names[i]))
			attrs |= STORE_MBOX_HASCHILDREN;
		cb(ctx, idx.names[i], attrs);
	}
	free(sorted);
	name_list_free(&idx);
	return STORE_OK;
}

enum store_result
store_mailbox_create(struct store_account *acct, const char *name,
                     const char **error_r)
{
	char norm[STORE_MAILBOX_NAME_MAX + 1];
	enum store_result r;

	if (store_mbox_name_check(name, norm, sizeof(norm), error_r) < 0)
		return STORE_PERMFAIL;
	if (strcmp(norm, "INBOX") == 0) {
		*error_r = "INBOX always exists";
		return STORE_EXISTS;
	}
	r = store_index_begin(acct, error_r);
	if (r != STORE_OK)
		return r;
	/* Superiors first (RFC 3501 6.3.3). */
	for (char *p = strchr(norm, '/'); r == STORE_OK && p != NULL;
	     p = strchr(p + 1, '/')) {
		*p = '\0';
		if (strcmp(norm, "INBOX") != 0) {
			r = store_mbox_create_one(acct, norm, error_r);
			if (r == STORE_EXISTS)
				r = STORE_OK;
		}
		*p = '/';
	}
	if (r == STORE_OK)
		r = store_mbox_create_one(acct, norm, error_r);
	return store_index_finish(acct, r, error_r);
}

enum store_result
store_mailbox_delete(struct store_account *acct, const char *name,
                     const char **error_r)
{
	struct store_mbox_row row = {0};
	char dir[STORE_NAME_MAX + 1];
	enum store_result r;

	r = store_index_begin(acct, error_r);
	if (r != STORE_OK)
		return r;
	dir[0] = '\0';
	r = store_mbox_lookup(acct, name, &row, dir, sizeof(dir), error_r);
	if (r == STORE_OK && dir[0] == '\0') {
		*error_r = "INBOX cannot be deleted";
		r = STORE_PERMFAIL;
	} else if (r == STORE_OK) {
		/* The folder leaves the namespace in one rename; if the
		 * commit then fails, reconciling drops the row. */
		if (store_maildir_remove(acct, dir) < 0 && errno != ENOENT) {
			*error_r = store_errorf(acct, "remove %s: %s", dir,
			                        strerror(errno));
			r = STORE_TEMPFAIL;
		} else {
			r = store_mbox_drop_row(acct, row.id, error_r);
		}
	}
	store_mbox_row_deinit(&row);
	r = store_index_finish(acct, r, error_r);
	if (r == STORE_OK)
		log_info("account=%s/%s event=mailbox-deleted", acct->domain,
		         acct->local);
	return r;
}

/* RENAME INBOX (RFC 3501 6.3.5): a new mailbox takes every message. */
static enum store_result
store_mbox_rename_inbox(struct store_account *acct, const char *to,
                        const char **error_r)
{
	struct store_uid_range all = {1, UINT32_MAX};
	struct store_mailbox *inbox;
	enum store_result r;

	r = store_mailbox_create(acct, to, error_r);
	if (r != STORE_OK)
		return r;
	r = store_mailbox_open(acct, "INBOX", &inbox, error_r);
	if (r != STORE_OK)
		return r;
	r = store_copy(inbox, &all, 1, to, true, 0, NULL, NULL, NULL, error_r);
	store_mailbox_close(&inbox);
	return r;
}

struct rename_step {
	int64_t id;
	char *from_dir, *to_dir, *to_name;
};

/* Renames the folders of every step; on failure puts back those done. */
static int
rename_dirs(struct store_account *acct, struct rename_step *steps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (renameat(acct->root_fd, steps[i].from_dir, acct->root_fd,
		             steps[i].to_dir) == 0)
			continue;
		int err = errno;

		while (i-- > 0)
			renameat(acct->root_fd, steps[i].to_dir, acct->root_fd,
			         steps[i].from_dir);
		errno = err;
		return -1;
	}
	return 0;
}

static enum store_result
rename_plan(struct store_account *acct, const char *from, const char *to,
            struct rename_step **steps_r, size_t *n_r, const char **error_r)
{
	struct name_list idx = {0};
	struct rename_step *steps;
	size_t flen = strlen(from), n = 0;
	enum store_result r = STORE_OK;

	if (store_index_names(acct, &idx) < 0)
		return store_index_fail(acct, "list mailboxes", error_r);
	steps = xcalloc(idx.n + 1, sizeof(*steps));
	for (size_t i = 0; r == STORE_OK && i < idx.n; i++) {
		const char *name = idx.names[i];
		char dir[STORE_NAME_MAX + 1], norm[STORE_MAILBOX_NAME_MAX + 1];
		char *newname;

		if (strcmp(name, from) != 0 &&
		    !(strncmp(name, from, flen) == 0 && name[flen] == '/'))
			continue;
		newname = xasprintf("%s%s", to, name + flen);
		if (store_mbox_name_check(newname, norm, sizeof(norm),
		                          error_r) < 0 ||
		    store_mbox_name_to_dir(norm, dir, sizeof(dir)) < 0) {
			*error_r = "new mailbox name too long";
			r = STORE_PERMFAIL;
		} else if (name_list_has(&idx, norm)) {
			*error_r = "mailbox already exists";
			r = STORE_EXISTS;
		} else {
			char from_dir[STORE_NAME_MAX + 1];

			store_mbox_name_to_dir(name, from_dir,
			                       sizeof(from_dir));
			steps[n].id = idx.ids[i];
			steps[n].from_dir = xstrdup(from_dir);
			steps[n].to_dir = xstrdup(dir);
			steps[n].to_name = xstrdup(norm);
			n++;
		}
		free(newname);
	}
	name_list_free(&idx);
	*steps_r = steps;
	*n_r = n;
	return r;
}

static void
rename_steps_free(struct rename_step *steps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(steps[i].from_dir);
		free(steps[i].to_dir);
		free(steps[i].to_name);
	}
	free(steps);
}

enum store_result
store_mailbox_rename(struct store_account *acct, const char *from,
                     const char *to, const char **error_r)
{
	char nfrom[STORE_MAILBOX_NAME_MAX + 1], nto[STORE_MAILBOX_NAME_MAX + 1];
	struct store_mbox_row row = {0};
	struct rename_step *steps = NULL;
	size_t nsteps = 0, flen;
	enum store_result r;

	if (store_mbox_name_check(from, nfrom, sizeof(nfrom), error_r) < 0 ||
	    store_mbox_name_check(to, nto, sizeof(nto), error_r) < 0)
		return STORE_PERMFAIL;
	flen = strlen(nfrom);
	if (strcmp(nto, "INBOX") == 0) {
		*error_r = "mailbox already exists";
		return STORE_EXISTS;
	}
	if (strncmp(nto, nfrom, flen) == 0 &&
	    (nto[flen] == '\0' || nto[flen] == '/')) {
		*error_r = "cannot rename a mailbox into itself";
		return nto[flen] == '\0' ? STORE_EXISTS : STORE_PERMFAIL;
	}
	if (strcmp(nfrom, "INBOX") == 0)
		return store_mbox_rename_inbox(acct, nto, error_r);
	r = store_index_begin(acct, error_r);
	if (r != STORE_OK)
		return r;
	r = store_index_mbox_get(acct, nfrom, &row, error_r);
	if (r == STORE_OK) {
		store_mbox_row_deinit(&row);
		r = rename_plan(acct, nfrom, nto, &steps, &nsteps, error_r);
	}
	/* Superiors of the new name (RFC 3501 6.3.5). */
	for (char *p = strchr(nto, '/'); r == STORE_OK && p != NULL;
	     p = strchr(p + 1, '/')) {
		*p = '\0';
		if (strcmp(nto, "INBOX") != 0) {
			r = store_mbox_create_one(acct, nto, error_r);
			if (r == STORE_EXISTS)
				r = STORE_OK;
		}
		*p = '/';
	}
	for (size_t i = 0; r == STORE_OK && i < nsteps; i++) {
		sqlite3_stmt *st = store_index_stmt(acct, ST_MBOX_RENAME);

		sqlite3_bind_int64(st, 1, steps[i].id);
		sqlite3_bind_text(st, 2, steps[i].to_name, -1, SQLITE_STATIC);
		if (store_index_exec_stmt(acct, st) < 0)
			r = store_index_fail(acct, "rename mailbox", error_r);
	}
	if (r == STORE_OK && rename_dirs(acct, steps, nsteps) < 0) {
		*error_r = store_errorf(acct, "rename: %s", strerror(errno));
		r = STORE_TEMPFAIL;
	}
	if (r != STORE_OK) {
		store_index_rollback(acct);
	} else {
		r = store_index_commit(acct, error_r);
		if (r != STORE_OK) {
			/* Put the folders back where the index says. */
			for (size_t i = 0; i < nsteps; i++)
				renameat(acct->root_fd, steps[i].to_dir,
				         acct->root_fd, steps[i].from_dir);
		}
	}
	rename_steps_free(steps, nsteps);
	return r;
}

enum store_result
store_mailbox_status(struct store_account *acct, const char *name,
                     struct store_mailbox_status *status_r,
                     const char **error_r)
{
	struct store_mbox_row row = {0};
	char dir[STORE_NAME_MAX + 1];
	enum store_result r;

	r = store_index_read_begin(acct, error_r);
	if (r != STORE_OK)
		return r;
	r = store_mbox_lookup(acct, name, &row, dir, sizeof(dir), error_r);
	if (r == STORE_OK) {
		r = store_index_mbox_status(acct, &row, status_r, error_r);
		store_mbox_row_deinit(&row);
	}
	store_index_read_end(acct);
	return r;
}

/* --- handles ------------------------------------------------------------- */

/* Looks at the Maildir for what the index may not know: files in new/
 * it lacks (always checked: new/ is small), and cur/ when its mtime is
 * not the one recorded after postern's own last change. */
static enum store_result
store_mbox_sync_disk(struct store_account *acct, int64_t id, const char *dir,
                     int64_t cur_mtime, bool check_new, bool check_cur,
                     const char **error_r)
{
	enum store_result r = STORE_OK;

	if (check_cur && store_maildir_cur_mtime(acct, dir) != cur_mtime)
		return store_maildir_sync(acct, id, dir, STORE_SYNC_FULL,
		                          error_r);
	if (check_new && store_maildir_new_has_unknown(acct, id, dir))
		r = store_maildir_sync(acct, id, dir, STORE_SYNC_NEW, error_r);
	return r;
}

static void
store_mbox_take_row(struct store_mailbox *mbox, struct store_mbox_row *row)
{
	for (size_t i = 0; i < mbox->nkeywords; i++)
		XFREE(mbox->keywords[i]);
	memcpy(mbox->keywords, row->keywords, sizeof(row->keywords));
	mbox->nkeywords = row->nkeywords;
	row->nkeywords = 0;
	snprintf(mbox->name, sizeof(mbox->name), "%s", row->name);
	mbox->attrs = store_mbox_special_use(row->name);
}

enum store_result
store_mailbox_open(struct store_account *acct, const char *name,
                   struct store_mailbox **mbox_r, const char **error_r)
{
	struct store_mailbox *mbox;
	struct store_mbox_row row = {0};
	char dir[STORE_NAME_MAX + 1];
	enum store_result r;

	*mbox_r = NULL;
	r = store_mbox_lookup(acct, name, &row, dir, sizeof(dir), error_r);
	if (r != STORE_OK)
		return r;
	r = store_mbox_sync_disk(acct, row.id, dir, row.cur_mtime, true, true,
	                         error_r);
	store_mbox_row_deinit(&row);
	if (r != STORE_OK)
		return r;
	mbox = xmalloc(sizeof(*mbox));
	mbox->acct = acct;
	mbox->id = row.id;
	mbox->wd_new = mbox->wd_cur = -1;
	snprintf(mbox->dir, sizeof(mbox->dir), "%s", dir);
	mbox->next = acct->mailboxes;
	acct->mailboxes = mbox;
	r = store_mailbox_refresh(mbox, NULL, error_r);
	if (r != STORE_OK) {
		store_mailbox_close(&mbox);
		return r;
	}
	store_notify_watch_mailbox(mbox);
	*mbox_r = mbox;
	return STORE_OK;
}

void
store_mailbox_close(struct store_mailbox **mboxp)
{
	struct store_mailbox *mbox = *mboxp;
	struct store_mailbox **pp;

	if (mbox == NULL)
		return;
	store_notify_unwatch_mailbox(mbox);
	for (pp = &mbox->acct->mailboxes; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == mbox) {
			*pp = mbox->next;
			break;
		}
	}
	for (size_t i = 0; i < mbox->nkeywords; i++)
		free(mbox->keywords[i]);
	free(mbox);
	*mboxp = NULL;
}

const char *
store_mailbox_name(const struct store_mailbox *mbox)
{
	return mbox->name;
}

unsigned
store_mailbox_attrs(const struct store_mailbox *mbox)
{
	return mbox->attrs;
}

void
store_mailbox_get_status(const struct store_mailbox *mbox,
                         struct store_mailbox_status *status_r)
{
	*status_r = mbox->status;
}

const char *const *
store_mailbox_keywords(const struct store_mailbox *mbox, size_t *count_r)
{
	*count_r = mbox->nkeywords;
	return (const char *const *)mbox->keywords;
}

void
store_mbox_follow(struct store_mailbox *mbox, const struct store_mbox_row *row)
{
	if (strcmp(row->name, mbox->name) == 0)
		return;
	/* Renamed by another session: its files moved with it. */
	store_notify_unwatch_mailbox(mbox);
	snprintf(mbox->name, sizeof(mbox->name), "%s", row->name);
	mbox->attrs = store_mbox_special_use(row->name);
	if (store_mbox_name_to_dir(row->name, mbox->dir, sizeof(mbox->dir)) < 0)
		mbox->dir[0] = '\0';
	store_notify_watch_mailbox(mbox);
}

enum store_result
store_mailbox_refresh(struct store_mailbox *mbox,
                      struct store_mailbox_status *status_r,
                      const char **error_r)
{
	struct store_account *acct = mbox->acct;
	struct store_mbox_row row = {0};
	bool check_new = mbox->new_dirty, check_cur = mbox->cur_dirty;
	enum store_result r;

	if (store_account_is_stale(acct)) {
		*error_r = "the index was replaced: reopen the account";
		return STORE_TEMPFAIL;
	}
	if (check_new || check_cur) {
		r = store_index_mbox_get_id(acct, mbox->id, &row, error_r);
		if (r == STORE_OK) {
			store_mbox_follow(mbox, &row);
			r = store_mbox_sync_disk(acct, mbox->id, mbox->dir,
			                         row.cur_mtime, check_new,
			                         check_cur, error_r);
		}
		store_mbox_row_deinit(&row);
		if (r != STORE_OK)
			return r; /* still dirty: the next refresh retries */
		mbox->new_dirty = mbox->cur_dirty = false;
	}
	/* One snapshot, so the counts match UIDNEXT and HIGHESTMODSEQ. */
	r = store_index_read_begin(acct, error_r);
	if (r != STORE_OK)
		return r;
	r = store_index_mbox_get_id(acct, mbox->id, &row, error_r);
	if (r == STORE_OK) {
		store_mbox_follow(mbox, &row);
		r = store_index_mbox_status(acct, &row, &mbox->status, error_r);
		store_mbox_take_row(mbox, &row);
	}
	store_index_read_end(acct);
	store_mbox_row_deinit(&row);
	if (r == STORE_OK && status_r != NULL)
		*status_r = mbox->status;
	return r;
}

/* --- new/ to cur/, and changes ---------------------------------------------
 */

enum store_result
store_take_new(struct store_mailbox *mbox, store_uid_fn *cb, void *ctx,
               const char **error_r)
{
	struct store_account *acct = mbox->acct;
	struct store_msg_row *rows = NULL;
	struct store_mbox_row row = {0};
	struct store_guard guard;
	uint32_t *taken;
	size_t ntaken = 0;
	ssize_t n = 0;
	enum store_result r;

	r = store_index_begin(acct, error_r);
	if (r != STORE_OK)
		return r;
	r = store_index_mbox_get_id(acct, mbox->id, &row, error_r);
	if (r != STORE_OK) {
		store_index_rollback(acct);
		return r;
	}
	store_guard_begin(acct, mbox->dir, &row, &guard);
	n = store_index_msg_load(acct, mbox->id, true, &rows);
	if (n < 0)
		r = store_index_fail(acct, "load new", error_r);
	taken = xcalloc((size_t)(n > 0 ? n : 0) + 1, sizeof(*taken));
	for (ssize_t i = 0; r == STORE_OK && i < n; i++) {
		if (store_maildir_msg_rename(acct, mbox->dir, &rows[i],
		                             rows[i].flags,
		                             rows[i].keywords) < 0) {
			/* Taken by another tool: the next scan finds it. */
			if (errno == ENOENT)
				continue;
			*error_r = store_errorf(acct, "move to cur: %s",
			                        strerror(errno));
			r = STORE_TEMPFAIL;
			break;
		}
		if (store_index_msg_set_place(acct, mbox->id, rows[i].uid,
		                              rows[i].base, true) < 0)
			r = store_index_fail(acct, "move to cur", error_r);
		else
			taken[ntaken++] = rows[i].uid;
	}
	if (r == STORE_OK &&
	    store_guard_end(acct, mbox->id, mbox->dir, &guard) < 0)
		r = store_index_fail(acct, "note cur", error_r);
	if (n > 0)
		store_index_msg_rows_free(&rows, (size_t)n);
	store_mbox_row_deinit(&row);
	if (r == STORE_OK)
		r = store_index_commit(acct, error_r);
	else
		store_index_rollback(acct);
	for (size_t i = 0; r == STORE_OK && cb != NULL && i < ntaken; i++)
		cb(ctx, taken[i]);
	free(taken);
	return r;
}

enum store_result
store_mailbox_changes(struct store_mailbox *mbox, uint64_t since_modseq,
                      store_change_fn *cb, void *ctx, const char **error_r)
{
	struct store_account *acct = mbox->acct;
	enum store_result r;
	sqlite3_stmt *st;
	int rc, stop = 0;

	r = store_index_read_begin(acct, error_r);
	if (r != STORE_OK)
		return r;
	st = store_index_stmt(acct, ST_EXP_SINCE);
	sqlite3_bind_int64(st, 1, mbox->id);
	sqlite3_bind_int64(st, 2, (int64_t)since_modseq);
	while (stop == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_msg_meta m = {0};

		m.uid = (uint32_t)sqlite3_column_int64(st, 0);
		m.modseq = (uint64_t)sqlite3_column_int64(st, 1);
		stop = cb(ctx, &m, true);
	}
	sqlite3_reset(st);
	if (stop == 0 && rc != SQLITE_DONE)
		r = store_index_fail(acct, "read expunges", error_r);
	if (r == STORE_OK && stop == 0) {
		st = store_index_stmt(acct, ST_MSG_SINCE);
		sqlite3_bind_int64(st, 1, mbox->id);
		sqlite3_bind_int64(st, 2, (int64_t)since_modseq);
		while (stop == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			struct store_msg_row row = {0};
			struct store_msg_meta m = {0};

			store_index_msg_row_read(st, &row);
			m.uid = row.uid;
			m.flags = row.flags;
			m.keywords = row.keywords;
			m.internal_date = (time_t)row.internal_date;
			m.size = row.vsize;
			m.modseq = row.modseq;
			stop = cb(ctx, &m, false);
			store_msg_row_deinit(&row);
		}
		sqlite3_reset(st);
		if (stop == 0 && rc != SQLITE_DONE)
			r = store_index_fail(acct, "read changes", error_r);
	}
	store_index_read_end(acct);
	return r;
}
