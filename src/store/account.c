/*
 * account — the local back end's store and account handles: opening an
 * account (creating it, checking the index, rebuilding a missing or
 * corrupt index from the Maildir), change notification, and flushing.
 *
 * Runs in the queue role (delivery) and the mailbox role (IMAP, POP3),
 * possibly in several processes on one account at once. Opening is
 * serialised only where it must be: replacing a lost or corrupt index
 * happens under an flock(2) of the account directory, so two processes
 * never both move an index aside; creating the schema and the rebuild's
 * scan happen in one write transaction, so the second process finds the
 * work done.
 */
#include "store/store_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fileio.h"
#include "core/xalloc.h"
#include "log/log.h"

const char *
store_result_str(enum store_result r)
{
	switch (r) {
	case STORE_OK:
		return "ok";
	case STORE_TEMPFAIL:
		return "tempfail";
	case STORE_PERMFAIL:
		return "permfail";
	case STORE_OVERQUOTA:
		return "overquota";
	case STORE_NOTFOUND:
		return "notfound";
	case STORE_EXISTS:
		return "exists";
	case STORE_LIMIT:
		return "limit";
	}
	return "unknown";
}

const char *
store_errorf(struct store_account *acct, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(acct->errbuf, sizeof(acct->errbuf), fmt, ap);
	va_end(ap);
	return acct->errbuf;
}

/* --- the store ------------------------------------------------------------ */

struct store *
store_local_new(const char *base_dir)
{
	struct store *store = xmalloc(sizeof(*store));
	char host[256];
	size_t n = 0;
	int fd;

	store->base_dir = xstrdup(base_dir);
	fd = open(base_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	store->syncfs_trails = fd < 0 || fileio_syncfs_trails(fd);
	if (fd >= 0)
		close(fd);
	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	/* Unique names may not hold '/' or ':' (Maildir) nor ',' (our
	 * fields); keep the name plain. */
	for (const char *p = host; *p != '\0' && n < sizeof(store->host) - 1;
	     p++) {
		bool ok = (*p >= 'a' && *p <= 'z') ||
		          (*p >= 'A' && *p <= 'Z') ||
		          (*p >= '0' && *p <= '9') || *p == '-' || *p == '.';

		store->host[n++] = ok ? *p : '_';
	}
	if (n == 0)
		store->host[n++] = 'x';
	store->host[n] = '\0';
	return store;
}

void
store_free(struct store **storep)
{
	struct store *store = *storep;

	if (store == NULL)
		return;
	free(store->base_dir);
	free(store);
	*storep = NULL;
}

/* --- opening an account --------------------------------------------------
 */

static bool
account_part_valid(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > 255 || s[0] == '.')
		return false;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p <= 0x20 || *p >= 0x7f || *p == '/')
			return false;
	}
	return true;
}

static int
mkdir_ok(const char *path)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* Opens (and with `create`, makes) the account's root directory. */
static enum store_result
account_root_open(struct store_account *acct, bool create, const char **error_r)
{
	char *path;

	acct->root_fd = open(acct->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (acct->root_fd >= 0)
		return STORE_OK;
	if (errno != ENOENT) {
		*error_r = store_errorf(acct, "open %s: %s", acct->root,
		                        strerror(errno));
		return STORE_TEMPFAIL;
	}
	if (!create) {
		*error_r = "no such account";
		return STORE_NOTFOUND;
	}
	path = xasprintf("%s/mail", acct->store->base_dir);
	if (mkdir_ok(path) == 0) {
		free(path);
		path = xasprintf("%s/mail/%s", acct->store->base_dir,
		                 acct->domain);
		if (mkdir_ok(path) == 0 && mkdir_ok(acct->root) == 0)
			acct->root_fd = open(
			        acct->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	free(path);
	if (acct->root_fd < 0) {
		*error_r = store_errorf(acct, "create %s: %s", acct->root,
		                        strerror(errno));
		return STORE_TEMPFAIL;
	}
	return STORE_OK;
}

static void
account_index_unlink_aux(struct store_account *acct)
{
	static const char *const aux[] = {STORE_INDEX_FILE "-wal",
	                                  STORE_INDEX_FILE "-shm"};

	for (size_t i = 0; i < 2; i++) {
		if (unlinkat(acct->root_fd, aux[i], 0) < 0 && errno != ENOENT)
			log_warn_errno("account=%s/%s unlink %s", acct->domain,
			               acct->local, aux[i]);
	}
}

/* Makes an empty index file readable by its owner only (SQLite would
 * follow the umask); the WAL and shared-memory files copy its mode. */
static void
account_index_create_file(struct store_account *acct)
{
	int fd = openat(acct->root_fd, STORE_INDEX_FILE,
	                O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	                0600);

	if (fd >= 0)
		close(fd);
}

/* Moves an unusable index out of the way (kept for inspection), with
 * its WAL, under the account's flock. Another process may have done it
 * already: then the index opens fine and nothing is moved. */
static enum store_index_open_result
account_index_replace(struct store_account *acct, bool corrupt,
                      const char **error_r)
{
	enum store_index_open_result r;
	struct stat st;

	if (flock(acct->root_fd, LOCK_EX) < 0) {
		*error_r = store_errorf(acct, "flock: %s", strerror(errno));
		return STORE_INDEX_OPEN_ERROR;
	}
	store_index_close(acct);
	if (corrupt) {
		bool marked = faccessat(acct->root_fd, STORE_REBUILD_FILE, F_OK,
		                        0) == 0;

		r = marked ? STORE_INDEX_OPEN_CORRUPT
		           : store_index_open(acct, error_r);
		if (r == STORE_INDEX_OPEN_CORRUPT) {
			store_index_close(acct);
			log_err("account=%s/%s event=index-corrupt %s: moved "
			        "aside, rebuilding",
			        acct->domain, acct->local,
			        marked ? "marked for rebuild" : *error_r);
			if (renameat(acct->root_fd, STORE_INDEX_FILE,
			             acct->root_fd,
			             STORE_INDEX_FILE ".corrupt") < 0 &&
			    errno != ENOENT)
				log_err_errno("account=%s/%s rename index",
				              acct->domain, acct->local);
			account_index_unlink_aux(acct);
			unlinkat(acct->root_fd, STORE_REBUILD_FILE, 0);
			account_index_create_file(acct);
			r = store_index_open(acct, error_r);
		}
	} else if (fstatat(acct->root_fd, STORE_INDEX_FILE, &st, 0) < 0 &&
	           errno == ENOENT) {
		/* A WAL outliving its database would be replayed into
		 * the new one. */
		account_index_unlink_aux(acct);
		account_index_create_file(acct);
		r = store_index_open(acct, error_r);
	} else {
		r = store_index_open(acct, error_r);
	}
	flock(acct->root_fd, LOCK_UN);
	return r;
}

static enum store_result
account_create_special(struct store_account *acct, const char **error_r)
{
	static const char *const names[] = {"Drafts", "Sent", "Trash", "Junk",
	                                    "Archive"};

	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		enum store_result r =
		        store_mbox_create_one(acct, names[i], error_r);

		if (r != STORE_OK && r != STORE_EXISTS)
			return r;
	}
	return STORE_OK;
}

/* Fills a new, empty index: schema, then every mailbox found on disk
 * (keeping UIDVALIDITY and UIDs: maildir.c). An account with no folders
 * gets the special-use ones. */
static enum store_result
account_index_init(struct store_account *acct, const char **error_r)
{
	enum store_result r;
	int made;

	/* May be refused while another process builds the same index (it
	 * sets WAL itself); the next open tries again. */
	if (store_index_set_wal(acct) < 0)
		log_warn("account=%s/%s cannot set WAL mode yet: %s",
		         acct->domain, acct->local, sqlite3_errmsg(acct->db));
	r = store_index_begin(acct, error_r);
	if (r != STORE_OK)
		return r;
	made = store_index_create_schema(acct);
	if (made >= 0 && store_index_prepare_all(acct) < 0)
		made = -1;
	if (made < 0) {
		r = store_index_fail(acct, "create schema", error_r);
		store_index_rollback(acct);
		return r;
	}
	if (made == 0) {
		bool folders = false;

		r = store_mbox_reconcile(acct, true, &folders, error_r);
		if (r == STORE_OK && !folders)
			r = account_create_special(acct, error_r);
		if (r == STORE_OK)
			log_info("account=%s/%s event=index-built",
			         acct->domain, acct->local);
	}
	if (r == STORE_OK)
		return store_index_commit(acct, error_r);
	store_index_rollback(acct);
	return r;
}

static enum store_result
account_index_open(struct store_account *acct, const char **error_r)
{
	enum store_index_open_result r;
	struct stat st;

	if (faccessat(acct->root_fd, STORE_REBUILD_FILE, F_OK, 0) == 0)
		r = account_index_replace(acct, true, error_r);
	else if (fstatat(acct->root_fd, STORE_INDEX_FILE, &st, 0) < 0 &&
	         errno == ENOENT)
		r = account_index_replace(acct, false, error_r);
	else
		r = store_index_open(acct, error_r);
	if (r == STORE_INDEX_OPEN_CORRUPT)
		r = account_index_replace(acct, true, error_r);
	switch (r) {
	case STORE_INDEX_OPEN_OK:
		if (store_index_prepare_all(acct) < 0) {
			store_index_fail(acct, "prepare", error_r);
			return STORE_TEMPFAIL;
		}
		break;
	case STORE_INDEX_OPEN_EMPTY:
		if (account_index_init(acct, error_r) != STORE_OK)
			return STORE_TEMPFAIL;
		break;
	case STORE_INDEX_OPEN_CORRUPT:
	case STORE_INDEX_OPEN_ERROR:
		log_err("account=%s/%s event=index-open-failed %s",
		        acct->domain, acct->local, *error_r);
		return STORE_TEMPFAIL;
	}
	return STORE_OK;
}

bool
store_account_is_stale(struct store_account *acct)
{
	struct stat st;

	if (fstatat(acct->root_fd, STORE_INDEX_FILE, &st, 0) < 0)
		return true;
	return st.st_ino != acct->store_index_ino ||
	       st.st_dev != acct->store_index_dev;
}

enum store_result
store_account_open(struct store *store, const char *domain, const char *local,
                   unsigned flags, struct store_account **acct_r,
                   const char **error_r)
{
	struct store_account *acct;
	enum store_result r;
	bool folders;

	*acct_r = NULL;
	if (!account_part_valid(domain) || !account_part_valid(local)) {
		*error_r = "invalid account name";
		return STORE_PERMFAIL;
	}
	acct = xmalloc(sizeof(*acct));
	acct->store = store;
	acct->domain = xstrdup(domain);
	acct->local = xstrdup(local);
	acct->root = xasprintf("%s/mail/%s/%s", store->base_dir, domain, local);
	acct->root_fd = -1;
	acct->inotify_fd = -1;
	acct->root_wd = -1;
	r = account_root_open(acct, (flags & STORE_OPEN_CREATE) != 0, error_r);
	if (r == STORE_OK && store_maildir_create(acct, "") < 0) {
		*error_r =
		        store_errorf(acct, "create INBOX: %s", strerror(errno));
		r = STORE_TEMPFAIL;
	}
	if (r == STORE_OK)
		r = account_index_open(acct, error_r);
	/* Mailboxes made or removed behind the index's back, and the
	 * remains of an interrupted DELETE. */
	if (r == STORE_OK)
		r = store_mbox_reconcile(acct, false, &folders, error_r);
	if (r == STORE_OK)
		store_maildir_sweep(acct);
	if (r != STORE_OK) {
		/* The account's buffer goes with it. */
		snprintf(store->errbuf, sizeof(store->errbuf), "%s", *error_r);
		*error_r = store->errbuf;
		store_account_close(&acct);
		return r;
	}
	*acct_r = acct;
	return STORE_OK;
}

void
store_account_close(struct store_account **acctp)
{
	struct store_account *acct = *acctp;

	if (acct == NULL)
		return;
	if (acct->batch_open)
		store_batch_rollback(acct);
	if (acct->mailboxes != NULL || acct->ndeliveries > 0)
		panic("store: account %s/%s closed with %s still open",
		      acct->domain, acct->local,
		      acct->mailboxes != NULL ? "mailboxes" : "deliveries");
	free(acct->batch_paths);
	store_index_read_end(acct);
	store_index_close(acct);
	if (acct->inotify_fd >= 0)
		close(acct->inotify_fd);
	if (acct->root_fd >= 0)
		close(acct->root_fd);
	free(acct->domain);
	free(acct->local);
	free(acct->root);
	free(acct);
	*acctp = NULL;
}

enum store_result
store_account_usage(struct store_account *acct, uint64_t *bytes_r,
                    uint64_t *messages_r, const char **error_r)
{
	if (store_index_account_get(acct, bytes_r, messages_r, NULL) < 0)
		return store_index_fail(acct, "read usage", error_r);
	return STORE_OK;
}

enum store_result
store_account_sync(struct store_account *acct, const char **error_r)
{
	if (fileio_syncfs(acct->root_fd, acct->store->syncfs_trails) < 0) {
		*error_r = store_errorf(acct, "flush: %s", strerror(errno));
		return STORE_TEMPFAIL;
	}
	return STORE_OK;
}

/* --- notification ---------------------------------------------------------
 */

#define NOTIFY_DIR_EVENTS                                                      \
	(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR)

static int
notify_watch(struct store_account *acct, const char *rel, uint32_t mask)
{
	char *path = rel[0] != '\0' ? xasprintf("%s/%s", acct->root, rel)
	                            : xstrdup(acct->root);
	int wd = inotify_add_watch(acct->inotify_fd, path, mask);

	if (wd < 0)
		log_warn_errno("account=%s/%s inotify watch %s", acct->domain,
		               acct->local, path);
	free(path);
	return wd;
}

void
store_notify_watch_mailbox(struct store_mailbox *mbox)
{
	struct store_account *acct = mbox->acct;
	char path[STORE_PATH_MAX];

	if (acct->inotify_fd < 0)
		return;
	if (store_path(path, sizeof(path), mbox->dir, "new", NULL) == 0)
		mbox->wd_new = notify_watch(acct, path, NOTIFY_DIR_EVENTS);
	if (store_path(path, sizeof(path), mbox->dir, "cur", NULL) == 0)
		mbox->wd_cur = notify_watch(acct, path, NOTIFY_DIR_EVENTS);
}

/* Drops a watch unless another open handle of this account shares it
 * (inotify gives one watch per directory). */
static void
notify_unwatch(struct store_mailbox *mbox, int wd)
{
	struct store_account *acct = mbox->acct;

	if (wd < 0 || acct->inotify_fd < 0)
		return;
	for (struct store_mailbox *m = acct->mailboxes; m != NULL;
	     m = m->next) {
		if (m != mbox && (m->wd_new == wd || m->wd_cur == wd))
			return;
	}
	inotify_rm_watch(acct->inotify_fd, wd);
}

void
store_notify_unwatch_mailbox(struct store_mailbox *mbox)
{
	notify_unwatch(mbox, mbox->wd_new);
	notify_unwatch(mbox, mbox->wd_cur);
	mbox->wd_new = mbox->wd_cur = -1;
}

int
store_account_notify_fd(struct store_account *acct)
{
	if (acct->inotify_fd >= 0)
		return acct->inotify_fd;
	acct->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (acct->inotify_fd < 0)
		return -1;
	/* Every committed change of any process appends to the WAL;
	 * folders come and go in the root. */
	acct->root_wd = notify_watch(acct, "", IN_MODIFY | NOTIFY_DIR_EVENTS);
	if (acct->root_wd < 0) {
		int err = errno;

		close(acct->inotify_fd);
		acct->inotify_fd = -1;
		errno = err;
		return -1;
	}
	for (struct store_mailbox *m = acct->mailboxes; m != NULL; m = m->next)
		store_notify_watch_mailbox(m);
	return acct->inotify_fd;
}

static unsigned
notify_event(struct store_account *acct, const struct inotify_event *ev)
{
	unsigned mask = 0;

	if ((ev->mask & IN_Q_OVERFLOW) != 0) {
		for (struct store_mailbox *m = acct->mailboxes; m != NULL;
		     m = m->next)
			m->new_dirty = m->cur_dirty = true;
		return STORE_NOTIFY_INDEX | STORE_NOTIFY_MAILBOXES |
		       STORE_NOTIFY_FILES;
	}
	if (ev->wd == acct->root_wd) {
		const char *name = ev->len > 0 ? ev->name : "";

		if (strcmp(name, STORE_INDEX_WAL) == 0 ||
		    strcmp(name, STORE_INDEX_FILE) == 0)
			mask |= STORE_NOTIFY_INDEX;
		else if ((ev->mask & IN_ISDIR) != 0 && name[0] == '.')
			mask |= STORE_NOTIFY_MAILBOXES;
		return mask;
	}
	for (struct store_mailbox *m = acct->mailboxes; m != NULL;
	     m = m->next) {
		if (ev->wd == m->wd_new) {
			m->new_dirty = true;
			mask |= STORE_NOTIFY_FILES;
		}
		if (ev->wd == m->wd_cur) {
			m->cur_dirty = true;
			mask |= STORE_NOTIFY_FILES;
		}
	}
	if ((ev->mask & IN_IGNORED) != 0)
		mask |= STORE_NOTIFY_MAILBOXES;
	return mask;
}

unsigned
store_account_notify_read(struct store_account *acct)
{
	char buf[4096]
	        __attribute__((aligned(__alignof__(struct inotify_event))));
	unsigned mask = 0;

	if (acct->inotify_fd < 0)
		return 0;
	for (;;) {
		ssize_t n = read(acct->inotify_fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t off = 0; off < n;) {
			const struct inotify_event *ev =
			        (const struct inotify_event *)(buf + off);

			mask |= notify_event(acct, ev);
			off += (ssize_t)(sizeof(*ev) + ev->len);
		}
	}
	return mask;
}
