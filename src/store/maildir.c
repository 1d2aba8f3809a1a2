/*
 * maildir — the files of the local store: Maildir++ directories, message
 * files and their names, postern-uidlist and postern-keywords, and the
 * scan that reconciles the index with what is on disk (docs/store.md).
 *
 * The Maildir is the truth: a file's name carries its UID, sizes and
 * flags, so the index can be rebuilt from it. Every change postern makes
 * to a mailbox's files happens while it holds the index's write lock, so
 * a scan under that lock sees only committed state plus what other
 * Maildir tools did; those are adopted: new files get UIDs (and are
 * renamed to carry them), renamed files give their flags to the index,
 * and vanished files are expunged.
 *
 * Paths are relative to the account root, used through acct->root_fd.
 */
#include "store/store_priv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/fileio.h"
#include "core/xalloc.h"
#include "log/log.h"

/* Files left in tmp/ longer than this are debris (the Maildir
 * specification's 36 hours). */
#define STORE_TMP_MAX_AGE (36 * 3600)

int
store_path(char *out, size_t outsz, const char *dir, const char *sub,
           const char *name)
{
	int n = snprintf(
	        out, outsz, "%s%s%s%s%s", dir,
	        dir[0] != '\0' && (sub != NULL || name != NULL) ? "/" : "",
	        sub != NULL ? sub : "", sub != NULL && name != NULL ? "/" : "",
	        name != NULL ? name : "");

	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

/* Opens <dir>/<sub> of the account (its root with both NULL) for
 * reading; NULL with errno set. */
static DIR *
maildir_opendir(struct store_account *acct, const char *dir, const char *sub)
{
	char path[STORE_PATH_MAX];
	int fd;
	DIR *d;

	if (dir == NULL)
		fd = dup(acct->root_fd);
	else if (store_path(path, sizeof(path), dir, sub, NULL) < 0) {
		errno = ENAMETOOLONG;
		return NULL;
	} else
		fd = openat(acct->root_fd, path,
		            O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	d = fdopendir(fd);
	if (d == NULL) {
		int err = errno;

		close(fd);
		errno = err;
	}
	return d;
}

static int
mkdirat_ok(int fd, const char *path)
{
	if (mkdirat(fd, path, 0700) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

int
store_maildir_create(struct store_account *acct, const char *dir)
{
	static const char *const subs[] = {"tmp", "new", "cur"};
	char path[STORE_PATH_MAX];

	if (dir[0] != '\0' && mkdirat_ok(acct->root_fd, dir) < 0)
		return -1;
	for (size_t i = 0; i < 3; i++) {
		if (store_path(path, sizeof(path), dir, subs[i], NULL) < 0 ||
		    mkdirat_ok(acct->root_fd, path) < 0)
			return -1;
	}
	if (dir[0] != '\0') {
		/* Maildir++: marks a folder for delivery agents. */
		int fd;

		store_path(path, sizeof(path), dir, NULL, STORE_FOLDER_FILE);
		fd = openat(acct->root_fd, path, O_WRONLY | O_CREAT | O_CLOEXEC,
		            0600);
		if (fd < 0)
			return -1;
		close(fd);
	}
	return 0;
}

/* Removes the files of one level below `fd` and the directories holding
 * them (a Maildir is two levels deep). */
static int
remove_tree(int parent, const char *name, int depth)
{
	int fd = openat(parent, name,
	                O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;
	struct dirent *de;
	int rc = 0;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(fd, de->d_name, 0) == 0)
			continue;
		if ((errno == EISDIR || errno == EPERM) && depth > 0 &&
		    remove_tree(fd, de->d_name, depth - 1) == 0)
			continue;
		if (errno != ENOENT)
			rc = -1;
	}
	closedir(d);
	if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = -1;
	return rc;
}

int
store_maildir_remove(struct store_account *acct, const char *dir)
{
	static unsigned long counter;
	char trash[80];

	if (dir[0] == '\0') {
		errno = EINVAL;
		return -1;
	}
	/* Out of the folder namespace first, in one step; the removal may
	 * then take its time (or be finished by store_maildir_sweep()). */
	snprintf(trash, sizeof(trash), "postern-deleted-%ld-%lld-%lu",
	         (long)getpid(), (long long)time(NULL), ++counter);
	if (renameat(acct->root_fd, dir, acct->root_fd, trash) < 0)
		return -1;
	if (remove_tree(acct->root_fd, trash, 2) < 0)
		log_warn_errno("account=%s/%s remove %s (left for later)",
		               acct->domain, acct->local, trash);
	return 0;
}

void
store_maildir_sweep(struct store_account *acct)
{
	DIR *d = maildir_opendir(acct, NULL, NULL);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "postern-deleted-", 16) == 0 &&
		    remove_tree(acct->root_fd, de->d_name, 2) < 0)
			log_warn_errno("account=%s/%s remove %s", acct->domain,
			               acct->local, de->d_name);
	}
	closedir(d);
}

/* --- small files: read, and replace atomically and durably --------------- */

/* Reads up to outsz - 1 bytes of a small file. Returns the length, or -1
 * (errno ENOENT if missing). */
static ssize_t
read_small(struct store_account *acct, const char *path, char *out,
           size_t outsz)
{
	int fd = openat(acct->root_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	size_t n = 0;

	if (fd < 0)
		return -1;
	while (n < outsz - 1) {
		ssize_t r = read(fd, out + n, outsz - 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r < 0) {
				int err = errno;

				close(fd);
				errno = err;
				return -1;
			}
			break;
		}
		n += (size_t)r;
	}
	close(fd);
	out[n] = '\0';
	return (ssize_t)n;
}

/* Replaces <dir>/<name> with `len` bytes, durably (STYLE.md 9). */
static int
write_atomic(struct store_account *acct, const char *dir, const char *name,
             const char *data, size_t len)
{
	char path[STORE_PATH_MAX];

	if (store_path(path, sizeof(path), dir, NULL, name) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return fileio_replace(acct->root_fd, path, data, len, 0600,
	                      FILEIO_OWNER_KEEP, 0, true);
}

int
store_maildir_uidlist_read(struct store_account *acct, const char *dir,
                           struct store_uidlist *ul)
{
	char path[STORE_PATH_MAX], text[128];
	ssize_t n;

	if (store_path(path, sizeof(path), dir, NULL, STORE_UIDLIST_FILE) < 0)
		return 0;
	n = read_small(acct, path, text, sizeof(text));
	if (n < 0)
		return errno == ENOENT ? 0 : -1;
	if (store_uidlist_parse(text, (size_t)n, ul) < 0) {
		log_warn("account=%s/%s %s is unusable: ignored", acct->domain,
		         acct->local, path);
		return 0;
	}
	return 1;
}

int
store_maildir_uidlist_write(struct store_account *acct, const char *dir,
                            const struct store_uidlist *ul)
{
	char text[128];

	store_uidlist_format(text, sizeof(text), ul);
	return write_atomic(acct, dir, STORE_UIDLIST_FILE, text, strlen(text));
}

int
store_maildir_keywords_read(struct store_account *acct, const char *dir,
                            char *names[STORE_KEYWORDS_MAX])
{
	char path[STORE_PATH_MAX], text[4096];
	ssize_t n;
	int k;

	if (store_path(path, sizeof(path), dir, NULL, STORE_KEYWORDS_FILE) < 0)
		return 0;
	n = read_small(acct, path, text, sizeof(text));
	if (n < 0)
		return 0;
	k = store_keywords_parse_file(text, (size_t)n, names);
	if (k < 0) {
		log_warn("account=%s/%s %s is unusable: ignored", acct->domain,
		         acct->local, path);
		return 0;
	}
	return k;
}

int
store_maildir_keywords_write(struct store_account *acct, const char *dir,
                             char *const *names, size_t n)
{
	char *text = store_keywords_format_file(names, n);
	int rc = write_atomic(acct, dir, STORE_KEYWORDS_FILE, text,
	                      strlen(text));

	free(text);
	return rc;
}

/* --- message files -------------------------------------------------------- */

int
store_maildir_msg_path(char *out, size_t outsz, const char *dir,
                       const struct store_msg_row *row)
{
	char name[STORE_NAME_MAX + 1];

	if (store_fname_format(name, sizeof(name), row->base, strlen(row->base),
	                       !row->in_cur, row->flags, row->keywords) < 0)
		return -1;
	return store_path(out, outsz, dir, row->in_cur ? "cur" : "new", name);
}

/* Looks in <dir>/<sub> for "<base>" or "<base>:<info>". */
static int
store_maildir_find_in(struct store_account *acct, const char *dir,
                      const char *sub, const char *base, char *out,
                      size_t outsz)
{
	size_t blen = strlen(base);
	DIR *d = maildir_opendir(acct, dir, sub);
	struct dirent *de;
	int found = -1;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, base, blen) == 0 &&
		    (de->d_name[blen] == ':' || de->d_name[blen] == '\0')) {
			found = store_path(out, outsz, dir, sub, de->d_name);
			break;
		}
	}
	closedir(d);
	return found;
}

/* Finds the file of `base` under whatever name it has now: new/<base>, or
 * cur/<base>:... (renamed by someone else), or a name with info in new/
 * (left there by another tool). Fills out; -1 with ENOENT if there is
 * none. */
static int
store_maildir_find(struct store_account *acct, const char *dir,
                   const char *base, char *out, size_t outsz)
{
	if (store_path(out, outsz, dir, "new", base) == 0 &&
	    faccessat(acct->root_fd, out, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	if (store_maildir_find_in(acct, dir, "cur", base, out, outsz) == 0 ||
	    store_maildir_find_in(acct, dir, "new", base, out, outsz) == 0)
		return 0;
	errno = ENOENT;
	return -1;
}

int
store_maildir_msg_open(struct store_account *acct, const char *dir,
                       const struct store_msg_row *row)
{
	char path[STORE_PATH_MAX];
	int fd;

	if (store_maildir_msg_path(path, sizeof(path), dir, row) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = openat(acct->root_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	/* Renamed since we read the row (another session changed its
	 * flags): look for it by its base. */
	if (store_maildir_find(acct, dir, row->base, path, sizeof(path)) < 0)
		return -1;
	return openat(acct->root_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
}

int
store_maildir_msg_rename(struct store_account *acct, const char *dir,
                         const struct store_msg_row *row, unsigned flags,
                         uint32_t keywords)
{
	char from[STORE_PATH_MAX], to[STORE_PATH_MAX];
	char name[STORE_NAME_MAX + 1];

	if (store_maildir_msg_path(from, sizeof(from), dir, row) < 0 ||
	    store_fname_format(name, sizeof(name), row->base, strlen(row->base),
	                       false, flags, keywords) < 0 ||
	    store_path(to, sizeof(to), dir, "cur", name) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (strcmp(from, to) == 0)
		return 0;
	if (renameat(acct->root_fd, from, acct->root_fd, to) == 0)
		return 0;
	if (errno != ENOENT ||
	    store_maildir_find(acct, dir, row->base, from, sizeof(from)) < 0)
		return -1;
	if (strcmp(from, to) == 0)
		return 0;
	return renameat(acct->root_fd, from, acct->root_fd, to);
}

int
store_maildir_msg_unlink(struct store_account *acct, const char *dir,
                         const struct store_msg_row *row)
{
	char path[STORE_PATH_MAX];

	if (store_maildir_msg_path(path, sizeof(path), dir, row) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (unlinkat(acct->root_fd, path, 0) == 0)
		return 0;
	if (errno != ENOENT)
		return -1;
	if (store_maildir_find(acct, dir, row->base, path, sizeof(path)) < 0)
		return errno == ENOENT ? 0 : -1;
	if (unlinkat(acct->root_fd, path, 0) < 0 && errno != ENOENT)
		return -1;
	return 0;
}

int64_t
store_maildir_cur_mtime(struct store_account *acct, const char *dir)
{
	char path[STORE_PATH_MAX];
	struct stat st;

	if (store_path(path, sizeof(path), dir, "cur", NULL) < 0 ||
	    fstatat(acct->root_fd, path, &st, 0) < 0)
		return -1;
	return (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
}

int
store_maildir_list_folders(struct store_account *acct,
                           void (*cb)(void *ctx, const char *name), void *ctx)
{
	DIR *d = maildir_opendir(acct, NULL, NULL);
	struct dirent *de;

	if (d == NULL)
		return -1;
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		char name[STORE_MAILBOX_NAME_MAX + 1], path[STORE_PATH_MAX];
		struct stat st;

		if (de->d_name[0] != '.' ||
		    store_mbox_dir_to_name(de->d_name, name, sizeof(name)) <
		            0 ||
		    store_path(path, sizeof(path), de->d_name, "cur", NULL) <
		            0 ||
		    fstatat(acct->root_fd, path, &st, AT_SYMLINK_NOFOLLOW) <
		            0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		cb(ctx, name);
	}
	closedir(d);
	return 0;
}

/* --- scanning and reconciling ----------------------------------------------
 */

struct scan_entry {
	char *name;
	bool in_cur;
	bool torn; /* moved to tmp/ (scan_torn): its row goes */
	struct store_fname fn;
};

struct scan {
	struct store_account *acct;
	int64_t mbox;
	const char *dir;
	enum store_maildir_sync_mode mode;
	struct store_mbox_row row;
	struct scan_entry *ents;
	size_t nents, cap;
	struct store_msg_row *rows;
	size_t nrows;
	bool *seen;
	uint64_t modseq;      /* one modseq for every change of this sync */
	uint32_t uid_ceiling; /* U= above this are not kept (see below) */
	unsigned adopted, renamed, expunged, changed;
	bool names_only; /* scan_dir: no torn-entry check (no fstatat) */
};

/*
 * A torn entry: a delivery links the message into new/ before the flush
 * that makes its data durable (src/queue/queue.c), so after a power cut
 * during that flush a postern-made name (U=) may hold fewer bytes than
 * its S= says. It was never acknowledged. True if this is one.
 */
static bool
scan_is_torn(int dirfd, const char *name, const struct store_fname *fn)
{
	struct stat st;

	return fn->has_uid && fn->has_size &&
	       fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISREG(st.st_mode) && (uint64_t)st.st_size < fn->size;
}

/* Moves a torn entry to tmp/ (removed there after STORE_TMP_MAX_AGE),
 * out of every reader's way. */
static int
scan_move_torn(struct scan *s, const struct scan_entry *e)
{
	char from[STORE_PATH_MAX], to[STORE_PATH_MAX];

	if (store_path(from, sizeof(from), s->dir, "new", e->name) < 0 ||
	    store_path(to, sizeof(to), s->dir, "tmp", e->name) < 0 ||
	    renameat(s->acct->root_fd, from, s->acct->root_fd, to) < 0) {
		log_err_errno("account=%s/%s torn message %s not moved",
		              s->acct->domain, s->acct->local, e->name);
		return -1;
	}
	log_warn("account=%s/%s event=torn-message file=%s moved to tmp/ "
	         "(shorter than its S=: its flush never completed, so it "
	         "was never acknowledged)",
	         s->acct->domain, s->acct->local, e->name);
	return 0;
}

static int
scan_dir(struct scan *s, const char *sub, bool in_cur)
{
	DIR *d = maildir_opendir(s->acct, s->dir, sub);
	struct dirent *de;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		struct scan_entry *e;

		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			continue;
		if (s->nents == s->cap) {
			s->cap = s->cap == 0 ? 64 : s->cap * 2;
			s->ents = xrealloc(s->ents, s->cap * sizeof(*s->ents));
		}
		e = &s->ents[s->nents];
		if (store_fname_parse(de->d_name, &e->fn) < 0)
			continue;
		e->name = xstrdup(de->d_name);
		e->in_cur = in_cur;
		e->torn = !in_cur && !s->names_only &&
		          scan_is_torn(dirfd(d), de->d_name, &e->fn);
		s->nents++;
	}
	closedir(d);
	return 0;
}

static int
row_cmp_base(const void *a, const void *b)
{
	return strcmp(((const struct store_msg_row *)a)->base,
	              ((const struct store_msg_row *)b)->base);
}

/* The row with this base, or NULL. Rows are sorted by base. */
static struct store_msg_row *
scan_find_row(struct scan *s, const struct scan_entry *e)
{
	size_t lo = 0, hi = s->nrows;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strncmp(s->rows[mid].base, e->name, e->fn.base_len);

		if (c == 0 && s->rows[mid].base[e->fn.base_len] != '\0')
			c = 1;
		if (c == 0)
			return &s->rows[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int
scan_modseq(struct scan *s, uint64_t *modseq_r)
{
	if (s->modseq == 0 && store_index_mbox_next_modseq(
	                              s->acct, s->dir, &s->row, &s->modseq) < 0)
		return -1;
	*modseq_r = s->modseq;
	return 0;
}

static int
scan_expunge(struct scan *s, const struct store_msg_row *row)
{
	uint64_t modseq;

	if (scan_modseq(s, &modseq) < 0 ||
	    store_index_msg_expunge(s->acct, s->mbox, row, modseq) < 0)
		return -1;
	s->expunged++;
	return 0;
}

/* A file the index knows: take its place and flags from the name. */
static int
scan_known(struct scan *s, struct store_msg_row *row,
           const struct scan_entry *e)
{
	uint32_t kwmask = s->row.nkeywords >= 32
	                          ? UINT32_MAX
	                          : (UINT32_C(1) << s->row.nkeywords) - 1;
	unsigned flags = e->fn.flags;
	uint32_t kw = e->fn.keywords & kwmask;
	uint64_t modseq;

	if (e->in_cur != row->in_cur &&
	    store_index_msg_set_place(s->acct, s->mbox, row->uid, row->base,
	                              e->in_cur) < 0)
		return -1;
	/* A file in new/ has no info, so no flags to tell: keep the
	 * index's. */
	if (!e->in_cur && !e->fn.has_info)
		return 0;
	if (flags == row->flags && kw == row->keywords)
		return 0;
	if (scan_modseq(s, &modseq) < 0 ||
	    store_index_msg_set_flags(s->acct, s->mbox, row->uid, flags, kw,
	                              modseq) < 0)
		return -1;
	s->changed++;
	return 0;
}

/* 1 if the index has a row with the entry's U= and base (then brought in
 * line with the file), 0 if not, -1 on error. */
static int
scan_known_by_uid(struct scan *s, const struct scan_entry *e)
{
	struct store_msg_row row = {0};
	int found, rc = 0;

	if (!e->fn.has_uid)
		return 0;
	found = store_index_msg_get(s->acct, s->mbox, e->fn.uid, &row);
	if (found > 0 && strlen(row.base) == e->fn.base_len &&
	    strncmp(row.base, e->name, e->fn.base_len) == 0)
		rc = scan_known(s, &row, e) < 0 ? -1 : 1;
	else if (found < 0)
		rc = -1;
	store_msg_row_deinit(&row);
	return rc;
}

/* Reads what the index needs of a file it does not know yet. */
static int
scan_measure(struct scan *s, const char *path, const struct scan_entry *e,
             struct store_msg_row *row, struct store_cache_data *cache)
{
	int fd = openat(s->acct->root_fd, path,
	                O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	bool want_cache = s->mode != STORE_SYNC_REBUILD;
	struct stat st;
	void *map;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	row->size = (uint64_t)st.st_size;
	row->internal_date = st.st_mtim.tv_sec;
	row->vsize = e->fn.has_vsize ? e->fn.vsize : row->size;
	if ((want_cache || !e->fn.has_vsize) && st.st_size > 0) {
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd,
		           0);
		if (map == MAP_FAILED) {
			close(fd);
			return -1;
		}
		if (want_cache) {
			store_cache_compute(map, (size_t)st.st_size, cache);
			row->vsize = cache->vsize;
		} else {
			row->vsize = store_crlf_size(map, (size_t)st.st_size);
		}
		munmap(map, (size_t)st.st_size);
	}
	close(fd);
	return 0;
}

/* Gives a file the index does not know its row: with the UID it carries
 * (uid != 0) or a fresh one, renaming it to carry that. */
static int
scan_adopt(struct scan *s, const struct scan_entry *e, uint32_t uid)
{
	const char *sub = e->in_cur ? "cur" : "new";
	char path[STORE_PATH_MAX], base[STORE_NAME_MAX + 1];
	char name[STORE_NAME_MAX + 1];
	struct store_cache_data cache = {0};
	struct store_msg_row row = {0};
	int rc = -1;

	if (store_path(path, sizeof(path), s->dir, sub, e->name) < 0)
		return 0;
	if (scan_measure(s, path, e, &row, &cache) < 0) {
		/* Gone meanwhile, or not a file: nothing to adopt. */
		store_cache_data_deinit(&cache);
		return errno == ENOENT || errno == EINVAL ? 0 : -1;
	}
	if (uid == 0) {
		char to[STORE_PATH_MAX];

		if (store_index_mbox_next_uid(s->acct, s->dir, &s->row, &uid) <
		    0)
			goto out;
		if (store_fname_rebase(base, sizeof(base), e->name,
		                       e->fn.base_len, row.size, row.vsize,
		                       uid) < 0)
			/* No room for the fields: a name of our own. */
			store_fname_new_base(base, sizeof(base),
			                     s->acct->store->host, row.size,
			                     row.vsize, uid);
		if (store_fname_format(name, sizeof(name), base, strlen(base),
		                       !e->in_cur && !e->fn.has_info,
		                       e->fn.flags, e->fn.keywords) < 0 ||
		    store_path(to, sizeof(to), s->dir, sub, name) < 0) {
			errno = ENAMETOOLONG;
			goto out;
		}
		if (renameat(s->acct->root_fd, path, s->acct->root_fd, to) <
		    0) {
			rc = errno == ENOENT ? 0 : -1;
			goto out;
		}
		s->renamed++;
	} else {
		snprintf(base, sizeof(base), "%.*s", (int)e->fn.base_len,
		         e->name);
		if (uid >= s->row.uidnext)
			s->row.uidnext = uid + 1;
	}
	row.uid = uid;
	row.base = base;
	row.in_cur = e->in_cur;
	if (e->in_cur || e->fn.has_info) {
		uint32_t kwmask =
		        s->row.nkeywords >= 32
		                ? UINT32_MAX
		                : (UINT32_C(1) << s->row.nkeywords) - 1;

		row.flags = e->fn.flags;
		row.keywords = e->fn.keywords & kwmask;
	}
	if (scan_modseq(s, &row.modseq) < 0 ||
	    store_index_msg_insert(s->acct, s->mbox, &row, &cache) < 0)
		goto out;
	s->adopted++;
	rc = 0;
out:
	store_cache_data_deinit(&cache);
	return rc;
}

static int
ent_cmp_uid(const void *a, const void *b)
{
	const struct scan_entry *x = *(struct scan_entry *const *)a;
	const struct scan_entry *y = *(struct scan_entry *const *)b;

	if (x->fn.uid != y->fn.uid)
		return x->fn.uid < y->fn.uid ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int
ent_cmp_name(const void *a, const void *b)
{
	return strcmp((*(struct scan_entry *const *)a)->name,
	              (*(struct scan_entry *const *)b)->name);
}

/* Adopts the files the index lacks: first those whose U= may be kept
 * (ascending, so UIDNEXT only grows), then the rest with fresh UIDs in
 * name order (unique names start with the delivery time). A U= is kept
 * only when no message had it: in a rebuild, any U= not taken; otherwise
 * only one at or above UIDNEXT and below the reservation (a delivery that
 * crashed before its commit), since a lower one may have belonged to an
 * expunged message and a higher one was never ours to give. */
static int
scan_adopt_all(struct scan *s, struct scan_entry **cand, size_t n)
{
	size_t nfresh = 0;

	qsort(cand, n, sizeof(*cand), ent_cmp_uid);
	for (size_t i = 0; i < n; i++) {
		struct store_msg_row other = {0};
		int found = 0;
		uint32_t uid = cand[i]->fn.uid;
		bool keep = cand[i]->fn.has_uid && uid < UINT32_MAX &&
		            (s->mode == STORE_SYNC_REBUILD ||
		             (uid >= s->row.uidnext && uid < s->uid_ceiling));

		if (keep) {
			found = store_index_msg_get(s->acct, s->mbox,
			                            cand[i]->fn.uid, &other);
			store_msg_row_deinit(&other);
			if (found < 0)
				return -1;
		}
		if (!keep || found) {
			cand[nfresh++] = cand[i];
			continue;
		}
		if (scan_adopt(s, cand[i], cand[i]->fn.uid) < 0)
			return -1;
	}
	/* Fresh UIDs come after every UID kept. */
	if (s->row.uidnext > s->row.uid_limit &&
	    store_index_mbox_reserve(s->acct, s->dir, &s->row) < 0)
		return -1;
	qsort(cand, nfresh, sizeof(*cand), ent_cmp_name);
	for (size_t i = 0; i < nfresh; i++) {
		if (scan_adopt(s, cand[i], 0) < 0)
			return -1;
	}
	return 0;
}

/* Removes debris from tmp/: files a crashed writer left. */
static void
scan_clean_tmp(struct scan *s)
{
	time_t now = time(NULL);
	DIR *d = maildir_opendir(s->acct, s->dir, "tmp");
	struct dirent *de;
	int fd;

	if (d == NULL)
		return;
	fd = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (de->d_name[0] != '.' &&
		    fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode) &&
		    st.st_mtime < now - STORE_TMP_MAX_AGE)
			unlinkat(fd, de->d_name, 0);
	}
	closedir(d);
}

/* The keyword list: postern-keywords gives the letters; the index copy
 * follows it, or rewrites it if the file was lost. */
static int
scan_keywords(struct scan *s)
{
	char *names[STORE_KEYWORDS_MAX] = {0};
	int n = store_maildir_keywords_read(s->acct, s->dir, names);
	bool prefix = (size_t)n >= s->row.nkeywords;
	uint32_t mask;
	const char *error;
	int rc = 0;

	for (size_t i = 0; prefix && i < s->row.nkeywords; i++)
		prefix = strcasecmp(names[i], s->row.keywords[i]) == 0;
	if (prefix && (size_t)n > s->row.nkeywords) {
		/* The file is ahead (a transaction that added a name was
		 * rolled back, or this is a rebuild): take it. */
		if (store_index_mbox_keywords(s->acct, s->dir, &s->row,
		                              (const char *const *)names,
		                              (size_t)n, true, &mask,
		                              &error) != STORE_OK)
			rc = -1;
	} else if (!prefix) {
		log_warn("account=%s/%s mailbox=%s %s disagrees with the "
		         "index: rewritten",
		         s->acct->domain, s->acct->local, s->row.name,
		         STORE_KEYWORDS_FILE);
		rc = store_maildir_keywords_write(
		        s->acct, s->dir, s->row.keywords, s->row.nkeywords);
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	return rc;
}

static int
scan_run(struct scan *s)
{
	struct scan_entry **cand;
	size_t ncand = 0;
	int64_t mtime = -1;
	ssize_t nrows;

	struct store_uidlist ul;

	if (s->mode != STORE_SYNC_NEW) {
		if (scan_keywords(s) < 0)
			return -1;
		mtime = store_maildir_cur_mtime(s->acct, s->dir);
	}
	/* The reservation on disk may be ahead of the index's copy (its
	 * transaction rolled back after the file was written). */
	s->uid_ceiling = s->row.uid_limit;
	if (store_maildir_uidlist_read(s->acct, s->dir, &ul) > 0 &&
	    ul.uidvalidity == s->row.uidvalidity &&
	    ul.uid_limit > s->uid_ceiling)
		s->uid_ceiling = ul.uid_limit;
	if (scan_dir(s, "new", false) < 0 ||
	    (s->mode != STORE_SYNC_NEW && scan_dir(s, "cur", true) < 0))
		return -1;
	nrows = store_index_msg_load(s->acct, s->mbox,
	                             s->mode == STORE_SYNC_NEW, &s->rows);
	if (nrows < 0)
		return -1;
	s->nrows = (size_t)nrows;
	if (s->nrows > 0)
		qsort(s->rows, s->nrows, sizeof(*s->rows), row_cmp_base);
	s->seen = xcalloc(s->nrows + 1, sizeof(*s->seen));
	cand = xcalloc(s->nents + 1, sizeof(*cand));
	for (size_t i = 0; i < s->nents; i++) {
		struct store_msg_row *row = scan_find_row(s, &s->ents[i]);
		int known;

		if (row == NULL && s->mode == STORE_SYNC_NEW) {
			/* Only new/ rows were loaded: a file moved back from
			 * cur/ by another tool is still known by its UID. */
			known = scan_known_by_uid(s, &s->ents[i]);
			if (known < 0)
				goto fail;
			if (known > 0)
				continue;
		}
		if (s->ents[i].torn) {
			if (scan_move_torn(s, &s->ents[i]) < 0 ||
			    (row != NULL && !s->seen[row - s->rows] &&
			     scan_expunge(s, row) < 0))
				goto fail;
			if (row != NULL)
				s->seen[row - s->rows] = true;
			continue;
		}
		if (row == NULL || s->seen[row - s->rows]) {
			cand[ncand++] = &s->ents[i];
			continue;
		}
		s->seen[row - s->rows] = true;
		if (scan_known(s, row, &s->ents[i]) < 0)
			goto fail;
	}
	/* Files gone from the Maildir are expunged (another tool removed
	 * them, or a crash came between unlink and commit). */
	for (size_t i = 0; s->mode != STORE_SYNC_NEW && i < s->nrows; i++) {
		if (!s->seen[i] && scan_expunge(s, &s->rows[i]) < 0)
			goto fail;
	}
	if (scan_adopt_all(s, cand, ncand) < 0)
		goto fail;
	free(cand);
	if (store_index_mbox_save_counters(s->acct, &s->row) < 0)
		return -1;
	if (mtime >= 0) {
		sqlite3_stmt *st =
		        store_index_stmt(s->acct, ST_MBOX_SET_CUR_MTIME);

		sqlite3_bind_int64(st, 1, s->mbox);
		sqlite3_bind_int64(st, 2, mtime);
		if (store_index_exec_stmt(s->acct, st) < 0)
			return -1;
		scan_clean_tmp(s);
	}
	return 0;
fail:
	free(cand);
	return -1;
}

enum store_result
store_maildir_sync(struct store_account *acct, int64_t mbox, const char *dir,
                   enum store_maildir_sync_mode mode, const char **error_r)
{
	struct scan s = {0};
	enum store_result r;
	int err;

	s.acct = acct;
	s.mbox = mbox;
	s.dir = dir;
	s.mode = mode;
	r = store_index_begin(acct, error_r);
	if (r != STORE_OK)
		return r;
	r = store_index_mbox_get_id(acct, mbox, &s.row, error_r);
	if (r == STORE_OK && scan_run(&s) < 0) {
		err = errno;
		*error_r =
		        store_errorf(acct, "scan %s: %s (index: %s)",
		                     dir[0] != '\0' ? dir : "INBOX",
		                     strerror(err), sqlite3_errmsg(acct->db));
		log_err("account=%s/%s event=sync-failed %s", acct->domain,
		        acct->local, *error_r);
		r = STORE_TEMPFAIL;
	}
	if (r == STORE_OK)
		r = store_index_commit(acct, error_r);
	else
		store_index_rollback(acct);
	if (r == STORE_OK && (s.adopted || s.expunged || s.changed))
		log_info("account=%s/%s mailbox=%s event=sync mode=%s "
		         "adopted=%u renamed=%u expunged=%u changed=%u",
		         acct->domain, acct->local, s.row.name,
		         mode == STORE_SYNC_NEW    ? "new"
		         : mode == STORE_SYNC_FULL ? "full"
		                                   : "rebuild",
		         s.adopted, s.renamed, s.expunged, s.changed);
	for (size_t i = 0; i < s.nents; i++)
		free(s.ents[i].name);
	free(s.ents);
	free(s.seen);
	store_index_msg_rows_free(&s.rows, s.nrows);
	store_mbox_row_deinit(&s.row);
	return r;
}

static bool
inode_listed(const struct stat *st, const struct store_inode *inodes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (inodes[i].dev == st->st_dev && inodes[i].ino == st->st_ino)
			return true;
	}
	return false;
}

int
store_maildir_clear_strays(struct store_account *acct, const char *dir,
                           uint32_t uidnext, uint32_t uid_ceiling,
                           const struct store_inode *inodes, size_t ninodes,
                           unsigned *moved_r)
{
	struct scan s = {0};
	int rc = 0;

	*moved_r = 0;
	s.acct = acct;
	s.dir = dir;
	s.names_only = true; /* a stray is one whole or torn alike */
	if (scan_dir(&s, "new", false) < 0)
		return -1;
	for (size_t i = 0; i < s.nents; i++) {
		const struct scan_entry *e = &s.ents[i];
		char from[STORE_PATH_MAX], to[STORE_PATH_MAX];
		struct stat st;

		/* No row can have a UID at or above UIDNEXT. */
		if (!e->fn.has_uid || e->fn.uid < uidnext ||
		    e->fn.uid >= uid_ceiling)
			continue;
		if (store_path(from, sizeof(from), dir, "new", e->name) < 0 ||
		    store_path(to, sizeof(to), dir, "tmp", e->name) < 0) {
			errno = ENAMETOOLONG;
			rc = -1;
			break;
		}
		if (fstatat(acct->root_fd, from, &st, AT_SYMLINK_NOFOLLOW) <
		            0 ||
		    !inode_listed(&st, inodes, ninodes))
			continue;
		if (renameat(acct->root_fd, from, acct->root_fd, to) < 0) {
			if (errno == ENOENT)
				continue;
			rc = -1;
			break;
		}
		log_warn("account=%s/%s event=stray-delivery file=%s moved to "
		         "tmp/ (linked by a delivery that died before its "
		         "commit, so never acknowledged)",
		         acct->domain, acct->local, e->name);
		(*moved_r)++;
	}
	for (size_t i = 0; i < s.nents; i++)
		free(s.ents[i].name);
	free(s.ents);
	return rc;
}

bool
store_maildir_new_has_unknown(struct store_account *acct, int64_t mbox,
                              const char *dir)
{
	struct scan s = {0};
	bool unknown = false;

	s.acct = acct;
	s.dir = dir;
	if (scan_dir(&s, "new", false) < 0)
		return false;
	for (size_t i = 0; i < s.nents && !unknown; i++) {
		struct store_msg_row row = {0};
		const struct scan_entry *e = &s.ents[i];
		int found = e->fn.has_uid ? store_index_msg_get(acct, mbox,
		                                                e->fn.uid, &row)
		                          : 0;

		unknown = e->torn || found <= 0 ||
		          strlen(row.base) != e->fn.base_len ||
		          strncmp(row.base, e->name, e->fn.base_len) != 0;
		store_msg_row_deinit(&row);
	}
	for (size_t i = 0; i < s.nents; i++)
		free(s.ents[i].name);
	free(s.ents);
	return unknown;
}

/* --- keeping the recorded cur/ mtime current ------------------------------ */

void
store_guard_begin(struct store_account *acct, const char *dir,
                  const struct store_mbox_row *row, struct store_guard *g)
{
	g->before = store_maildir_cur_mtime(acct, dir);
	g->clean = g->before >= 0 && g->before == row->cur_mtime;
}

int
store_guard_end(struct store_account *acct, int64_t mbox, const char *dir,
                const struct store_guard *g)
{
	sqlite3_stmt *st;
	int64_t now;

	/* Only if nobody else touched cur/ since our last look: then the
	 * new mtime is ours alone and needs no scan. XXX(#store) a change
	 * by another Maildir tool between our two looks goes unnoticed
	 * until cur/ changes again. */
	if (!g->clean)
		return 0;
	now = store_maildir_cur_mtime(acct, dir);
	if (now < 0 || now == g->before)
		return 0;
	st = store_index_stmt(acct, ST_MBOX_SET_CUR_MTIME);
	sqlite3_bind_int64(st, 1, mbox);
	sqlite3_bind_int64(st, 2, now);
	return store_index_exec_stmt(acct, st);
}
