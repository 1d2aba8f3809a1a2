/*
 * deliver — new messages into the local store: batched delivery of spool
 * files by the queue role's group commit, and IMAP APPEND.
 *
 * Delivery (docs/store.md, docs/queue.md): store_deliver() hard-links
 * the complete spool file into new/ under its final name
 * ("<unique>,S=..,W=..,U=<uid>") and adds its row to the batch's
 * transaction. The caller commits the batch, then flushes the file system
 * once: that makes the data, the new/ entries and the committed WAL
 * frames durable together, and only then does the sender get its 250. A
 * power cut during that flush may leave an entry shorter than its S=;
 * scans of new/ move such torn entries out (maildir.c).
 * A delivery whose batch or flush failed is undone (entry unlinked, row
 * removed), so nothing unacknowledged stays; the UID it had is never
 * given again.
 *
 * APPEND writes into tmp/, flushes the file, then renames it into cur/
 * with its flags under the write lock (the Maildir write path, STYLE.md
 * 9); the caller flushes the directory entry with store_account_sync().
 */
#include "store/store_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/fault.h"
#include "core/fileio.h"
#include "core/xalloc.h"
#include "log/log.h"

struct store_delivery {
	struct store_account *acct;
	bool undone;
	int64_t mbox;
	char dir[STORE_NAME_MAX + 1];
	char base[STORE_NAME_MAX + 1];
	uint32_t uid;
};

/* Messages up to this size are read into memory rather than mapped. */
#define MEASURE_READ_MAX (128u * 1024)

/* Reads the message at fd (size bytes) for its CRLF size and cache. */
static int
measure_fd(int fd, uint64_t size, struct store_cache_data *cache)
{
	void *map;

	memset(cache, 0, sizeof(*cache));
	if (size == 0)
		return 0;
	if (size > SIZE_MAX) {
		errno = EFBIG;
		return -1;
	}
	/* Small messages are read: the munmap() of a mapping costs a TLB
	 * flush on every CPU the (threaded) queue role has run on. */
	if (size <= MEASURE_READ_MAX) {
		char *buf = xmalloc((size_t)size);

		if (fileio_pread_all(fd, buf, (size_t)size, 0) < 0) {
			free(buf);
			return -1;
		}
		store_cache_compute(buf, (size_t)size, cache);
		free(buf);
		return 0;
	}
	map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		return -1;
	store_cache_compute(map, (size_t)size, cache);
	munmap(map, (size_t)size);
	return 0;
}

static enum store_result
quota_check(struct store_account *acct, uint64_t size, uint64_t quota,
            const char **error_r)
{
	uint64_t used;

	if (quota == 0)
		return STORE_OK;
	if (store_index_account_get(acct, &used, NULL, NULL) < 0)
		return store_index_fail(acct, "read usage", error_r);
	if (used + size > quota || size > quota) {
		*error_r = "mailbox full: quota exceeded";
		return STORE_OVERQUOTA;
	}
	return STORE_OK;
}

/* --- batches ----------------------------------------------------------------
 */

enum store_result
store_batch_begin(struct store_account *acct, const char **error_r)
{
	enum store_result r;

	if (acct->batch_open || acct->txn_depth != 0)
		panic("store: batch begun inside a transaction");
	r = store_index_begin(acct, error_r);
	if (r == STORE_OK)
		acct->batch_open = true;
	return r;
}

/* Removes the new/ entries made in the batch (their rows went with the
 * rolled-back transaction); an entry undone already is simply gone. */
static void
batch_unlink_all(struct store_account *acct)
{
	for (size_t i = 0; i < acct->nbatch; i++) {
		if (unlinkat(acct->root_fd, acct->batch_paths[i], 0) < 0 &&
		    errno != ENOENT)
			log_err_errno("account=%s/%s unlink %s", acct->domain,
			              acct->local, acct->batch_paths[i]);
	}
}

static void
batch_forget(struct store_account *acct)
{
	for (size_t i = 0; i < acct->nbatch; i++)
		free(acct->batch_paths[i]);
	acct->nbatch = 0;
}

static void
batch_note(struct store_account *acct, const char *path)
{
	if (acct->nbatch == acct->batch_cap) {
		acct->batch_cap =
		        acct->batch_cap == 0 ? 16 : acct->batch_cap * 2;
		acct->batch_paths =
		        xrealloc(acct->batch_paths,
		                 acct->batch_cap * sizeof(*acct->batch_paths));
	}
	acct->batch_paths[acct->nbatch++] = xstrdup(path);
}

enum store_result
store_batch_commit(struct store_account *acct, const char **error_r)
{
	enum store_result r;
	int err;

	if (!acct->batch_open)
		panic("store: commit without a batch");
	acct->batch_open = false;
	r = store_index_commit(acct, error_r);
	err = errno;
	if (r != STORE_OK)
		batch_unlink_all(acct);
	batch_forget(acct);
	errno = err;
	return r;
}

void
store_batch_rollback(struct store_account *acct)
{
	if (!acct->batch_open)
		return;
	acct->batch_open = false;
	store_index_rollback(acct);
	batch_unlink_all(acct);
	batch_forget(acct);
}

/* --- delivery
 * ------------------------------------------------------------------
 */

/* Copies the spool file into tmp/, flushes it and renames it into new/:
 * for a spool on another file system, where no link can be made. */
static int
deliver_copy(struct store_account *acct, int src, uint64_t size,
             const char *dir, const char *base, const char *dst)
{
	char tmp[STORE_PATH_MAX];
	int fd, err;

	if (store_path(tmp, sizeof(tmp), dir, "tmp", base) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = openat(acct->root_fd, tmp,
	            O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	/* The data before the name. */
	if (fileio_copy_range(src, 0, size, fd) < 0 || fsync(fd) < 0)
		goto fail;
	close(fd);
	fd = -1;
	if (renameat(acct->root_fd, tmp, acct->root_fd, dst) < 0)
		goto fail;
	return 0;
fail:
	err = errno;
	if (fd >= 0)
		close(fd);
	unlinkat(acct->root_fd, tmp, 0);
	errno = err;
	return -1;
}

/* Everything store_deliver() does after the checks, in its savepoint. */
static enum store_result
deliver_locked(struct store_account *acct, struct store_mbox_row *row,
               const char *dir, const char *spool_path, int fd,
               const struct stat *st, struct store_delivery *d,
               const char **error_r)
{
	struct store_cache_data cache;
	struct store_msg_row msg = {0};
	char path[STORE_PATH_MAX];
	uint64_t size = (uint64_t)st->st_size;
	int err;

	if (measure_fd(fd, size, &cache) < 0) {
		*error_r = store_errorf(acct, "read spool file: %s",
		                        strerror(errno));
		return STORE_TEMPFAIL;
	}
	if (store_index_mbox_next_uid(acct, dir, row, &msg.uid) < 0 ||
	    store_index_mbox_next_modseq(acct, dir, row, &msg.modseq) < 0) {
		err = errno;
		store_cache_data_deinit(&cache);
		errno = err;
		*error_r =
		        store_errorf(acct, "allocate UID: %s", strerror(errno));
		return STORE_TEMPFAIL;
	}
	store_fname_new_base(d->base, sizeof(d->base), acct->store->host, size,
	                     cache.vsize, msg.uid);
	if (store_path(path, sizeof(path), dir, "new", d->base) < 0) {
		store_cache_data_deinit(&cache);
		*error_r = "mailbox path too long";
		return STORE_PERMFAIL;
	}
	if (linkat(AT_FDCWD, spool_path, acct->root_fd, path, 0) < 0 &&
	    (errno != EXDEV ||
	     deliver_copy(acct, fd, size, dir, d->base, path) < 0)) {
		err = errno;
		store_cache_data_deinit(&cache);
		errno = err;
		*error_r =
		        store_errorf(acct, "link into new/: %s", strerror(err));
		return STORE_TEMPFAIL;
	}
	if ((err = fault_check("store-linked")) != 0) {
		unlinkat(acct->root_fd, path, 0);
		store_cache_data_deinit(&cache);
		errno = err;
		*error_r =
		        store_errorf(acct, "link into new/: %s", strerror(err));
		return STORE_TEMPFAIL;
	}
	msg.base = d->base;
	msg.in_cur = false;
	msg.internal_date = st->st_mtim.tv_sec;
	msg.size = size;
	msg.vsize = cache.vsize;
	if (store_index_msg_insert(acct, row->id, &msg, &cache) < 0 ||
	    store_index_mbox_save_counters(acct, row) < 0) {
		err = errno;
		store_cache_data_deinit(&cache);
		unlinkat(acct->root_fd, path, 0);
		errno = err;
		return store_index_fail(acct, "insert message", error_r);
	}
	store_cache_data_deinit(&cache);
	d->uid = msg.uid;
	return STORE_OK;
}

enum store_result
store_deliver(struct store_account *acct, const char *mailbox,
              const char *spool_path, int spool_fd, uint64_t size,
              uint64_t quota, struct store_delivery **delivery_r,
              const char **error_r)
{
	struct store_mbox_row row = {0};
	struct store_delivery *d;
	char dir[STORE_NAME_MAX + 1];
	enum store_result r;
	struct stat st;
	int fd = spool_fd, err;

	*delivery_r = NULL;
	if (!acct->batch_open)
		panic("store: delivery outside a batch");
	if (fd < 0)
		fd = open(spool_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) < 0 || (uint64_t)st.st_size != size) {
		err = fd < 0 ? errno : EIO;
		*error_r = store_errorf(acct, "spool file %s: %s", spool_path,
		                        fd < 0 ? strerror(errno)
		                               : "size mismatch");
		if (fd >= 0 && fd != spool_fd)
			close(fd);
		errno = err;
		return STORE_TEMPFAIL;
	}
	d = xmalloc(sizeof(*d));
	r = store_index_begin(acct, error_r);
	if (r == STORE_OK) {
		r = store_mbox_lookup(acct, mailbox, &row, dir, sizeof(dir),
		                      error_r);
		if (r == STORE_OK)
			r = quota_check(acct, size, quota, error_r);
		if (r == STORE_OK)
			r = deliver_locked(acct, &row, dir, spool_path, fd, &st,
			                   d, error_r);
		err = errno;
		r = store_index_finish(acct, r, error_r);
		errno = err;
	}
	if (fd != spool_fd)
		close(fd);
	store_mbox_row_deinit(&row);
	if (r != STORE_OK) {
		free(d);
		return r;
	}
	d->acct = acct;
	d->mbox = row.id;
	snprintf(d->dir, sizeof(d->dir), "%s", dir);
	{
		char path[STORE_PATH_MAX];

		store_path(path, sizeof(path), d->dir, "new", d->base);
		batch_note(acct, path);
	}
	acct->ndeliveries++;
	*delivery_r = d;
	return STORE_OK;
}

enum store_result
store_deliver_clear_strays(struct store_account *acct, const char *mailbox,
                           const struct store_inode *inodes, size_t ninodes,
                           unsigned *moved_r, const char **error_r)
{
	struct store_mbox_row row = {0};
	struct store_uidlist ul;
	char dir[STORE_NAME_MAX + 1];
	enum store_result r;
	int err;

	*moved_r = 0;
	if (ninodes == 0)
		return STORE_OK;
	if (acct->batch_open)
		panic("store: strays cleared inside a batch");
	/* Under the write lock, so that no delivery is between its link and
	 * its commit meanwhile (every other process commits before it lets
	 * the lock go). */
	r = store_index_begin(acct, error_r);
	if (r != STORE_OK)
		return r;
	r = store_mbox_lookup(acct, mailbox, &row, dir, sizeof(dir), error_r);
	if (r == STORE_OK) {
		/* The reservation on disk may be ahead of the index's copy
		 * (its transaction rolled back after the file was written). */
		uint32_t ceiling = row.uid_limit;

		if (store_maildir_uidlist_read(acct, dir, &ul) > 0 &&
		    ul.uidvalidity == row.uidvalidity && ul.uid_limit > ceiling)
			ceiling = ul.uid_limit;
		if (store_maildir_clear_strays(acct, dir, row.uidnext, ceiling,
		                               inodes, ninodes, moved_r) < 0) {
			*error_r = store_errorf(acct, "clear new/: %s",
			                        strerror(errno));
			r = STORE_TEMPFAIL;
		}
	}
	err = errno;
	r = store_index_finish(acct, r, error_r);
	store_mbox_row_deinit(&row);
	errno = err;
	return r;
}

enum store_result
store_delivery_undo(struct store_delivery *d, const char **error_r)
{
	struct store_account *acct = d->acct;
	struct store_mbox_row row = {0};
	struct store_msg_row msg = {0};
	enum store_result r;
	uint64_t modseq;
	int found;

	if (d->undone)
		return STORE_OK;
	r = store_index_begin(acct, error_r);
	if (r != STORE_OK)
		return r;
	r = store_index_mbox_get_id(acct, d->mbox, &row, error_r);
	found = r == STORE_OK ? store_index_msg_get(acct, d->mbox, d->uid, &msg)
	                      : 0;
	if (found < 0)
		r = store_index_fail(acct, "read message", error_r);
	if (r == STORE_OK && found > 0 && strcmp(msg.base, d->base) == 0) {
		/* Wherever it is now (a session may have moved it). */
		if (store_maildir_msg_unlink(acct, d->dir, &msg) < 0) {
			*error_r = store_errorf(acct, "unlink: %s",
			                        strerror(errno));
			r = STORE_TEMPFAIL;
		} else if (store_index_mbox_next_modseq(acct, d->dir, &row,
		                                        &modseq) < 0 ||
		           store_index_msg_expunge(acct, d->mbox, &msg,
		                                   modseq) < 0 ||
		           store_index_mbox_save_counters(acct, &row) < 0) {
			r = store_index_fail(acct, "undo delivery", error_r);
		}
	} else if (r == STORE_OK || r == STORE_NOTFOUND) {
		char path[STORE_PATH_MAX];

		/* No row (mailbox gone, or expunged already): the entry, if
		 * any is left. */
		if (store_path(path, sizeof(path), d->dir, "new", d->base) == 0)
			unlinkat(acct->root_fd, path, 0);
		r = STORE_OK;
	}
	store_msg_row_deinit(&msg);
	store_mbox_row_deinit(&row);
	r = store_index_finish(acct, r, error_r);
	if (r == STORE_OK)
		d->undone = true;
	return r;
}

uint32_t
store_delivery_uid(const struct store_delivery *d)
{
	return d->uid;
}

void
store_delivery_free(struct store_delivery **dp)
{
	struct store_delivery *d = *dp;

	if (d == NULL)
		return;
	d->acct->ndeliveries--;
	free(d);
	*dp = NULL;
}

/* --- IMAP APPEND ----------------------------------------------------------
 */

struct store_append {
	struct store_account *acct;
	int64_t mbox;
	char dir[STORE_NAME_MAX + 1];
	char tmp[STORE_PATH_MAX];
	int fd;
	bool cr_pending; /* a CR ended the last write */
	char out[8192];
	size_t nout;
};

enum store_result
store_append_begin(struct store_account *acct, const char *mailbox,
                   struct store_append **append_r, const char **error_r)
{
	static unsigned long counter;
	struct store_mbox_row row = {0};
	struct store_append *app;
	char name[128], dir[STORE_NAME_MAX + 1];
	enum store_result r;
	struct timespec ts;

	*append_r = NULL;
	r = store_mbox_lookup(acct, mailbox, &row, dir, sizeof(dir), error_r);
	store_mbox_row_deinit(&row);
	if (r != STORE_OK)
		return r;
	app = xmalloc(sizeof(*app));
	app->acct = acct;
	app->mbox = row.id;
	snprintf(app->dir, sizeof(app->dir), "%s", dir);
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(name, sizeof(name), "%lld.M%ldP%ldA%lu.%s",
	         (long long)ts.tv_sec, ts.tv_nsec / 1000, (long)getpid(),
	         ++counter, acct->store->host);
	if (store_path(app->tmp, sizeof(app->tmp), dir, "tmp", name) < 0) {
		free(app);
		*error_r = "mailbox path too long";
		return STORE_PERMFAIL;
	}
	app->fd = openat(acct->root_fd, app->tmp,
	                 O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	                 0600);
	if (app->fd < 0) {
		*error_r = store_errorf(acct, "create %s: %s", app->tmp,
		                        strerror(errno));
		free(app);
		return STORE_TEMPFAIL;
	}
	*append_r = app;
	return STORE_OK;
}

static int
append_flush(struct store_append *app)
{
	if (fileio_write_all(app->fd, app->out, app->nout) < 0)
		return -1;
	app->nout = 0;
	return 0;
}

static int
append_byte(struct store_append *app, char c)
{
	if (app->nout == sizeof(app->out) && append_flush(app) < 0)
		return -1;
	app->out[app->nout++] = c;
	return 0;
}

enum store_result
store_append_write(struct store_append *app, const void *data, size_t len,
                   const char **error_r)
{
	const char *p = data;

	/* CRLF is stored as LF, as delivered mail is (docs/queue.md); a CR
	 * not followed by LF stays. */
	for (size_t i = 0; i < len; i++) {
		int rc = 0;

		if (app->cr_pending) {
			app->cr_pending = false;
			if (p[i] != '\n')
				rc = append_byte(app, '\r');
		}
		if (rc == 0 && p[i] == '\r')
			app->cr_pending = true;
		else if (rc == 0)
			rc = append_byte(app, p[i]);
		if (rc < 0) {
			*error_r = store_errorf(app->acct, "write: %s",
			                        strerror(errno));
			return STORE_TEMPFAIL;
		}
	}
	return STORE_OK;
}

void
store_append_abort(struct store_append **appendp)
{
	struct store_append *app = *appendp;

	if (app == NULL)
		return;
	close(app->fd);
	unlinkat(app->acct->root_fd, app->tmp, 0);
	free(app);
	*appendp = NULL;
}

/* The file is complete and flushed: give it its UID and name. */
static enum store_result
append_commit(struct store_append *app, const struct store_append_info *info,
              const struct stat *st, struct store_cache_data *cache,
              uint32_t *uidvalidity_r, uint32_t *uid_r, const char **error_r)
{
	struct store_account *acct = app->acct;
	struct store_mbox_row row = {0};
	struct store_msg_row msg = {0};
	char base[STORE_NAME_MAX + 1], name[STORE_NAME_MAX + 1];
	char path[STORE_PATH_MAX] = "";
	struct store_guard guard;
	bool renamed = false;
	enum store_result r;

	r = store_index_begin(acct, error_r);
	if (r != STORE_OK)
		return r;
	r = store_index_mbox_get_id(acct, app->mbox, &row, error_r);
	if (r == STORE_OK)
		r = quota_check(acct, (uint64_t)st->st_size, info->quota,
		                error_r);
	if (r == STORE_OK)
		r = store_index_mbox_keywords(acct, app->dir, &row,
		                              info->keywords, info->nkeywords,
		                              true, &msg.keywords, error_r);
	if (r == STORE_OK &&
	    (store_index_mbox_next_uid(acct, app->dir, &row, &msg.uid) < 0 ||
	     store_index_mbox_next_modseq(acct, app->dir, &row, &msg.modseq) <
	             0)) {
		*error_r =
		        store_errorf(acct, "allocate UID: %s", strerror(errno));
		r = STORE_TEMPFAIL;
	}
	msg.flags = info->flags & STORE_FLAGS_ALL;
	store_fname_new_base(base, sizeof(base), acct->store->host,
	                     (uint64_t)st->st_size, cache->vsize, msg.uid);
	if (r == STORE_OK &&
	    (store_fname_format(name, sizeof(name), base, strlen(base), false,
	                        msg.flags, msg.keywords) < 0 ||
	     store_path(path, sizeof(path), app->dir, "cur", name) < 0)) {
		*error_r = "mailbox path too long";
		r = STORE_PERMFAIL;
	}
	store_guard_begin(acct, app->dir, &row, &guard);
	if (r == STORE_OK) {
		renamed = renameat(acct->root_fd, app->tmp, acct->root_fd,
		                   path) == 0;
		if (!renamed) {
			*error_r = store_errorf(acct, "rename into cur/: %s",
			                        strerror(errno));
			r = STORE_TEMPFAIL;
		}
	}
	msg.base = base;
	msg.in_cur = true;
	msg.internal_date = st->st_mtim.tv_sec;
	msg.size = (uint64_t)st->st_size;
	msg.vsize = cache->vsize;
	if (r == STORE_OK &&
	    (store_index_msg_insert(acct, app->mbox, &msg, cache) < 0 ||
	     store_index_mbox_save_counters(acct, &row) < 0 ||
	     store_guard_end(acct, app->mbox, app->dir, &guard) < 0))
		r = store_index_fail(acct, "insert message", error_r);
	r = store_index_finish(acct, r, error_r);
	if (r != STORE_OK && renamed)
		unlinkat(acct->root_fd, path, 0);
	if (r == STORE_OK) {
		if (uidvalidity_r != NULL)
			*uidvalidity_r = row.uidvalidity;
		if (uid_r != NULL)
			*uid_r = msg.uid;
	}
	store_mbox_row_deinit(&row);
	return r;
}

enum store_result
store_append_finish(struct store_append **appendp,
                    const struct store_append_info *info,
                    uint32_t *uidvalidity_r, uint32_t *uid_r,
                    const char **error_r)
{
	struct store_append *app = *appendp;
	struct store_cache_data cache = {0};
	enum store_result r = STORE_OK;
	struct stat st;

	if (app->cr_pending && append_byte(app, '\r') < 0)
		r = STORE_TEMPFAIL;
	app->cr_pending = false;
	if (r == STORE_OK && append_flush(app) < 0)
		r = STORE_TEMPFAIL;
	if (r == STORE_OK && info->internal_date != 0) {
		/* The file's mtime is the internal date a rebuild reads. */
		struct timespec times[2] = {{info->internal_date, 0},
		                            {info->internal_date, 0}};

		if (futimens(app->fd, times) < 0)
			r = STORE_TEMPFAIL;
	}
	/* The data must be on disk before a name in cur/ points at it. */
	if (r == STORE_OK && (fsync(app->fd) < 0 || fstat(app->fd, &st) < 0))
		r = STORE_TEMPFAIL;
	if (r == STORE_OK &&
	    measure_fd(app->fd, (uint64_t)st.st_size, &cache) < 0)
		r = STORE_TEMPFAIL;
	if (r != STORE_OK)
		*error_r = store_errorf(app->acct, "write message: %s",
		                        strerror(errno));
	else
		r = append_commit(app, info, &st, &cache, uidvalidity_r, uid_r,
		                  error_r);
	store_cache_data_deinit(&cache);
	store_append_abort(appendp);
	return r;
}
