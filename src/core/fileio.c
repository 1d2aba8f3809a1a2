/*
 * fileio — write-all, copy-range and bounded whole-file read loops (see
 * fileio.h). No state, no logging; used by every role that writes or
 * reads files (queue, the store, auth, tls, the admin tool).
 *
 * Invariant of fileio_read_bounded: `cap` counts data bytes and never
 * exceeds max + 1; the allocation is cap + 1 so the NUL always fits.
 */
#include "core/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "core/xalloc.h"

/* Bytes per pread in fileio_copy_range. */
#define FILEIO_COPY_CHUNK 65536
/* First allocation when the size is unknown (not a regular file). */
#define FILEIO_READ_FIRST 4096
/* statfs(2) f_type of ext2, ext3 and ext4 alike. */
#define FILEIO_EXT_MAGIC 0xEF53

int
fileio_write_all(int fd, const void *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			/* No error and no progress: retrying could spin. */
			errno = EIO;
			return -1;
		}
		p = (const char *)p + n;
		len -= (size_t)n;
	}
	return 0;
}

/* One pread of at most `len` (> 0) bytes at `off`: the count read, or -1
 * with errno set (EIO at end of file). */
static ssize_t
fileio_pread_some(int fd, void *p, size_t len, uint64_t off)
{
	for (;;) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		return n;
	}
}

int
fileio_pread_all(int fd, void *p, size_t len, uint64_t off)
{
	char *at = p;

	while (len > 0) {
		ssize_t n = fileio_pread_some(fd, at, len, off);

		if (n < 0)
			return -1;
		at += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int
fileio_copy_range(int from, uint64_t off, uint64_t len, int to)
{
	char buf[FILEIO_COPY_CHUNK];

	while (len > 0) {
		size_t want = len < sizeof(buf) ? (size_t)len : sizeof(buf);
		ssize_t n = fileio_pread_some(from, buf, want, off);

		if (n < 0 || fileio_write_all(to, buf, (size_t)n) < 0)
			return -1;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

int
fileio_fsync_parent(int dirfd, const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd, rc;

	if (slash == NULL)
		dir = xstrdup(".");
	else if (slash == path)
		dir = xstrdup("/");
	else
		dir = xstrndup(path, (size_t)(slash - path));
	fd = openat(dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	if (rc < 0) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	return close(fd);
}

bool
fileio_ext_has_journal(dev_t dev, const char *sys, const char *proc)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *name;
	ssize_t n;
	size_t len;
	DIR *d;
	struct dirent *e;
	bool found = false;

	snprintf(path, sizeof(path), "%s/dev/block/%u:%u", sys, major(dev),
	         minor(dev));
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return false;
	target[n] = '\0';
	name = strrchr(target, '/');
	name = name != NULL ? name + 1 : target;
	len = strlen(name);
	snprintf(path, sizeof(path), "%s/fs/jbd2", proc);
	d = opendir(path);
	if (len == 0 || d == NULL) {
		if (d != NULL)
			closedir(d);
		return false;
	}
	/* An internal journal is listed as "<device>-<inode>": "vda-8" is
	 * not "vda1"'s. */
	while (!found && (e = readdir(d)) != NULL)
		found = strncmp(e->d_name, name, len) == 0 &&
		        e->d_name[len] == '-';
	closedir(d);
	return found;
}

bool
fileio_syncfs_trails(int fd)
{
	struct statfs sfs;
	struct stat st;

	if (fstatfs(fd, &sfs) < 0 || fstat(fd, &st) < 0)
		return true;
	if (sfs.f_type != FILEIO_EXT_MAGIC)
		return false;
	return !fileio_ext_has_journal(st.st_dev, "/sys", "/proc");
}

int
fileio_syncfs(int fd, bool trails)
{
	if (syncfs(fd) < 0)
		return -1;
	/* Without a journal, ext4's fsync of any file ends with a device
	 * flush (ext4_fsync_nojournal), whatever it had to write. */
	if (trails && fdatasync(fd) < 0)
		return -1;
	return 0;
}

int
fileio_replace(int dirfd, const char *path, const void *data, size_t len,
               mode_t mode, uid_t uid, gid_t gid, bool sync)
{
	char *tmp = xasprintf("%s.%ld.tmp", path, (long)getpid());
	int fd, err;

	(void)unlinkat(dirfd, tmp, 0);
	fd = openat(dirfd, tmp,
	            O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		goto fail;
	if ((mode != 0600 && fchmod(fd, mode) < 0) ||
	    (uid != FILEIO_OWNER_KEEP && fchown(fd, uid, gid) < 0) ||
	    fileio_write_all(fd, data, len) < 0 || (sync && fsync(fd) < 0)) {
		err = errno;
		close(fd);
		errno = err;
		goto fail;
	}
	if (close(fd) < 0 || renameat(dirfd, tmp, dirfd, path) < 0)
		goto fail;
	free(tmp);
	return sync ? fileio_fsync_parent(dirfd, path) : 0;
fail:
	err = errno;
	(void)unlinkat(dirfd, tmp, 0);
	free(tmp);
	errno = err;
	return -1;
}

/* Frees `buf` of `size` bytes after wiping it, keeping errno. */
static void
fileio_wipe_free(char *buf, size_t size)
{
	int saved = errno;

	explicit_bzero(buf, size);
	free(buf);
	errno = saved;
}

char *
fileio_read_bounded(int fd, size_t max, size_t *len_r)
{
	struct stat st;
	size_t cap, len = 0;
	char *buf;

	if (max >= SIZE_MAX - 1) {
		errno = EINVAL;
		return NULL;
	}
	if (fstat(fd, &st) < 0)
		return NULL;
	if (S_ISREG(st.st_mode)) {
		if ((uint64_t)st.st_size > max) {
			errno = EFBIG;
			return NULL;
		}
		/* One byte past the size, to see end of file unmoved. */
		cap = (size_t)st.st_size + 1;
	} else {
		cap = max + 1 < FILEIO_READ_FIRST ? max + 1 : FILEIO_READ_FIRST;
	}
	buf = xmalloc(cap + 1);
	for (;;) {
		ssize_t n;

		if (len == cap) {
			size_t ncap = cap > (max + 1) / 2 ? max + 1 : cap * 2;
			char *nbuf;

			if (cap > max) {
				fileio_wipe_free(buf, cap + 1);
				errno = EFBIG;
				return NULL;
			}
			nbuf = xmalloc(ncap + 1);
			memcpy(nbuf, buf, len);
			fileio_wipe_free(buf, cap + 1);
			buf = nbuf;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fileio_wipe_free(buf, cap + 1);
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*len_r = len;
	return buf;
}
