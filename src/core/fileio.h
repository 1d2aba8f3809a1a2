/*
 * fileio — the blocking system-call loops every file-owning role needs:
 * write a whole buffer, read a byte range, copy a byte range between
 * descriptors, read a small whole file under a bound, replace a file
 * whole, make a new name durable and flush a whole file system.
 *
 * Each call retries EINTR and otherwise reports the first failure with
 * -1 (or NULL) and errno set; none logs. They block, so they belong to
 * the roles that own files (queue, the store, the admin tool; STYLE.md
 * 4), never to a loop callback on a socket.
 */
#ifndef POSTERN_CORE_FILEIO_H
#define POSTERN_CORE_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Writes all `len` bytes of `p` (borrowed) to `fd`. Returns 0, or -1
 * with errno set; a write that makes no progress fails with EIO. On
 * failure an unknown prefix may have been written. */
int fileio_write_all(int fd, const void *p, size_t len)
        __attribute__((warn_unused_result));

/* Reads exactly `len` bytes of `fd` at `off` into `p` with pread (the
 * file offset is untouched). Returns 0, or -1 with errno set: EIO if the
 * file ends first. */
int fileio_pread_all(int fd, void *p, size_t len, uint64_t off)
        __attribute__((warn_unused_result));

/* Copies bytes [off, off + len) of `from` (read with pread, so its file
 * offset is untouched) to `to` with fileio_write_all. Returns 0, or -1
 * with errno set: EIO if `from` ends before off + len. */
int fileio_copy_range(int from, uint64_t off, uint64_t len, int to)
        __attribute__((warn_unused_result));

/* fsync(2) of the directory that holds `path` (relative to `dirfd`, which
 * may be AT_FDCWD): what makes a new name in it durable. */
int fileio_fsync_parent(int dirfd, const char *path)
        __attribute__((warn_unused_result));

/*
 * Whether syncfs(2) of the file system holding `fd` can return with
 * writes not yet covered by a device flush, so that fileio_syncfs must
 * end with one more. That is ext2, ext3 and ext4 without a journal: their
 * syncfs issues its flush and then writes the block device's remaining
 * dirty metadata (fs/sync.c, sync_filesystem), such as the inode whose
 * unwritten extent became written when the data's I/O completed; a power
 * cut could then leave an acknowledged file reading as zeros. A journal
 * commits that metadata inside syncfs, as XFS and btrfs do with theirs.
 * Reads /sys and /proc, so it must run before a chroot; when it cannot
 * tell, it answers true.
 */
bool fileio_syncfs_trails(int fd);

/* The journal test of fileio_syncfs_trails for device `dev`, with sysfs
 * and procfs mounted at `sys` and `proc`: true only when jbd2 lists a
 * journal on that device (/proc/fs/jbd2/NAME-INODE, NAME as in
 * /sys/dev/block/MAJOR:MINOR). */
bool fileio_ext_has_journal(dev_t dev, const char *sys, const char *proc);

/* syncfs(2) of the file system holding `fd`, then, with `trails` (from
 * fileio_syncfs_trails), fdatasync(2) of `fd`, which issues the device
 * flush that covers what the syncfs wrote after its own. Returns 0, or
 * -1 with errno set. */
int fileio_syncfs(int fd, bool trails) __attribute__((warn_unused_result));

/* Owner to give a replaced file; -1 keeps ours. */
#define FILEIO_OWNER_KEEP ((uid_t)-1)

/*
 * Replaces `path` (relative to `dirfd`, which may be AT_FDCWD) with `len`
 * bytes of `data` so that a reader sees the old file or the whole new
 * one (STYLE.md 9): writes "<path>.<pid>.tmp" (a leftover of that name is
 * a crashed writer's, removed first), gives it `mode` and, unless uid is
 * FILEIO_OWNER_KEEP, uid:gid, and renames it over `path`. With `sync`
 * the data is flushed before the rename and the directory after it;
 * without, the caller's own flush must cover both (the queue's group
 * commit). Returns 0, or -1 with errno set and no temporary file left.
 */
int fileio_replace(int dirfd, const char *path, const void *data, size_t len,
                   mode_t mode, uid_t uid, gid_t gid, bool sync)
        __attribute__((warn_unused_result));

/* Reads `fd` from its current offset to end of file, at most `max` bytes
 * (max < SIZE_MAX - 1). Returns an owned buffer holding the bytes plus a
 * terminating NUL (not counted in *len_r), or NULL with errno set: EFBIG
 * if a regular file is larger than `max` or more than `max` bytes could
 * be read. The caller checks the file type first; for a regular file the
 * size is only a hint for the first allocation (the file may change while
 * it is read). Buffers are wiped before they are freed or outgrown, so the
 * helper may read secrets. */
char *fileio_read_bounded(int fd, size_t max, size_t *len_r)
        __attribute__((warn_unused_result));

#endif
