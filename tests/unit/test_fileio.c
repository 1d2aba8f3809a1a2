/*
 * Unit tests for core/fileio: write_all and copy_range over a pipe and a
 * temporary file (short reads from a pipe, end of file before `len`),
 * read_bounded at its bound, past it, on an empty file and on a pipe, and
 * the journal test behind fileio_syncfs_trails on a made-up /sys and /proc.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "core/fileio.h"

/* Returns an unlinked temporary file holding `len` bytes of `data`,
 * positioned at offset 0. */
static int
temp_file(const void *data, size_t len)
{
	char path[] = "/tmp/test_fileio.XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(fileio_write_all(fd, data, len), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* Reads everything left on `fd` into `out` (at most `outsz`). */
static size_t
slurp(int fd, char *out, size_t outsz)
{
	size_t n = 0;
	ssize_t r;

	while (n < outsz && (r = read(fd, out + n, outsz - n)) > 0)
		n += (size_t)r;
	return n;
}

/* A pattern that does not repeat every 4 KiB, to catch offset slips. */
static void
fill(char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (char)('a' + (i * 7 + i / 251) % 26);
}

static void
test_write_all_file(void **state)
{
	size_t len = 200000;
	char *data = malloc(len), *back = malloc(len + 1);
	int fd;

	(void)state;
	fill(data, len);
	fd = temp_file(data, len);
	assert_int_equal(slurp(fd, back, len + 1), len);
	assert_memory_equal(back, data, len);
	assert_int_equal(fileio_write_all(fd, "", 0), 0);
	close(fd);
	free(data);
	free(back);
}

static void
test_write_all_pipe(void **state)
{
	int p[2];
	char back[8];

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(fileio_write_all(p[1], "hello", 5), 0);
	close(p[1]);
	assert_int_equal(slurp(p[0], back, sizeof(back)), 5);
	assert_memory_equal(back, "hello", 5);
	close(p[0]);
}

static void
test_write_all_fails(void **state)
{
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	/* SIGPIPE is ignored so the failure comes back as EPIPE. */
	signal(SIGPIPE, SIG_IGN);
	errno = 0;
	assert_int_equal(fileio_write_all(p[1], "x", 1), -1);
	assert_int_equal(errno, EPIPE);
	close(p[1]);
	errno = 0;
	assert_int_equal(fileio_write_all(-1, "x", 1), -1);
	assert_int_equal(errno, EBADF);
}

static void
test_copy_range_file(void **state)
{
	size_t len = 150000;
	char *data = malloc(len), *back = malloc(len);
	int from, to;

	(void)state;
	fill(data, len);
	from = temp_file(data, len);
	to = temp_file("", 0);
	/* Across the 64 KiB chunk boundary, from an offset. */
	assert_int_equal(fileio_copy_range(from, 1000, 100000, to), 0);
	assert_int_equal(fileio_copy_range(from, 0, 0, to), 0);
	assert_int_equal(lseek(to, 0, SEEK_SET), 0);
	assert_int_equal(slurp(to, back, len), 100000);
	assert_memory_equal(back, data + 1000, 100000);
	/* pread leaves the source offset alone. */
	assert_int_equal(lseek(from, 0, SEEK_CUR), 0);
	close(from);
	close(to);
	free(data);
	free(back);
}

static void
test_pread_all(void **state)
{
	size_t len = 150000;
	char *data = malloc(len), *back = malloc(len);
	int fd;

	(void)state;
	fill(data, len);
	fd = temp_file(data, len);
	assert_int_equal(fileio_pread_all(fd, back, 100000, 1000), 0);
	assert_memory_equal(back, data + 1000, 100000);
	assert_int_equal(fileio_pread_all(fd, back, 0, len), 0);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 0);
	/* The file ends first. */
	errno = 0;
	assert_int_equal(fileio_pread_all(fd, back, 10, len - 5), -1);
	assert_int_equal(errno, EIO);
	close(fd);
	free(data);
	free(back);
}

static void
test_copy_range_to_pipe(void **state)
{
	int from = temp_file("0123456789", 10);
	int p[2];
	char back[16];

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(fileio_copy_range(from, 3, 4, p[1]), 0);
	close(p[1]);
	assert_int_equal(slurp(p[0], back, sizeof(back)), 4);
	assert_memory_equal(back, "3456", 4);
	close(p[0]);
	close(from);
}

static void
test_copy_range_eof(void **state)
{
	int from = temp_file("0123456789", 10);
	int to = temp_file("", 0);
	char back[16];

	(void)state;
	errno = 0;
	assert_int_equal(fileio_copy_range(from, 6, 10, to), -1);
	assert_int_equal(errno, EIO);
	/* What was there was copied before the end was found. */
	assert_int_equal(lseek(to, 0, SEEK_SET), 0);
	assert_int_equal(slurp(to, back, sizeof(back)), 4);
	assert_memory_equal(back, "6789", 4);
	errno = 0;
	assert_int_equal(fileio_copy_range(from, 10, 1, to), -1);
	assert_int_equal(errno, EIO);
	close(from);
	close(to);
}

static void
test_read_bounded_at_bound(void **state)
{
	int fd = temp_file("abcdef", 6);
	size_t len = 99;
	char *text;

	(void)state;
	text = fileio_read_bounded(fd, 6, &len);
	assert_non_null(text);
	assert_int_equal(len, 6);
	assert_string_equal(text, "abcdef");
	free(text);
	close(fd);
}

static void
test_read_bounded_past_bound(void **state)
{
	int fd = temp_file("abcdefg", 7);
	size_t len = 99;

	(void)state;
	errno = 0;
	assert_null(fileio_read_bounded(fd, 6, &len));
	assert_int_equal(errno, EFBIG);
	assert_int_equal(len, 99);
	close(fd);
}

static void
test_read_bounded_empty(void **state)
{
	int fd = temp_file("", 0);
	size_t len = 99;
	char *text;

	(void)state;
	text = fileio_read_bounded(fd, 0, &len);
	assert_non_null(text);
	assert_int_equal(len, 0);
	assert_string_equal(text, "");
	free(text);
	close(fd);
}

static void
test_read_bounded_large(void **state)
{
	size_t n = 300000;
	char *data = malloc(n);
	int fd;
	size_t len = 0;
	char *text;

	(void)state;
	fill(data, n);
	fd = temp_file(data, n);
	text = fileio_read_bounded(fd, n, &len);
	assert_non_null(text);
	assert_int_equal(len, n);
	assert_memory_equal(text, data, n);
	assert_int_equal(text[n], '\0');
	free(text);
	close(fd);
	free(data);
}

/* A pipe has no size: the buffer grows by what arrives, in short reads,
 * and the bound is enforced on the bytes read. */
static void
test_read_bounded_pipe(void **state)
{
	size_t n = 20000;
	char *data = malloc(n);
	int p[2];
	size_t len = 0;
	char *text;

	(void)state;
	fill(data, n);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(fcntl(p[1], F_SETPIPE_SZ, 65536) >= 0, true);
	assert_int_equal(fileio_write_all(p[1], data, n), 0);
	close(p[1]);
	text = fileio_read_bounded(p[0], n, &len);
	assert_non_null(text);
	assert_int_equal(len, n);
	assert_memory_equal(text, data, n);
	assert_int_equal(text[n], '\0');
	free(text);
	close(p[0]);

	assert_int_equal(pipe(p), 0);
	assert_int_equal(fileio_write_all(p[1], data, 5000), 0);
	close(p[1]);
	errno = 0;
	assert_null(fileio_read_bounded(p[0], 4999, &len));
	assert_int_equal(errno, EFBIG);
	close(p[0]);
	free(data);
}

static void
test_read_bounded_bad_fd(void **state)
{
	size_t len;

	(void)state;
	errno = 0;
	assert_null(fileio_read_bounded(-1, 10, &len));
	assert_int_equal(errno, EBADF);
}

static void
test_replace(void **state)
{
	char dir[] = "/tmp/test_fileio.XXXXXX", path[64], tmp[96], back[16];
	struct stat st;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	/* New file, then replaced; a crashed writer's leftover of our
	 * temporary name is taken over. */
	assert_int_equal(fileio_replace(AT_FDCWD, path, "first", 5, 0640,
	                                FILEIO_OWNER_KEEP, 0, true),
	                 0);
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(fileio_replace(AT_FDCWD, path, "second", 6, 0600,
	                                FILEIO_OWNER_KEEP, 0, false),
	                 0);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(slurp(fd, back, sizeof(back)), 6);
	assert_memory_equal(back, "second", 6);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	close(fd);
	assert_int_equal(access(tmp, F_OK), -1);
	/* Relative to a directory descriptor, with a mode of its own. */
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(fileio_replace(fd, "f", "third", 5, 0644,
	                                FILEIO_OWNER_KEEP, 0, true),
	                 0);
	assert_int_equal(fstatat(fd, "f", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(st.st_size, 5);
	assert_int_equal(fileio_fsync_parent(fd, "f"), 0);
	/* A failure leaves the old file and no temporary one. */
	errno = 0;
	assert_int_equal(fileio_replace(fd, "nodir/f", "x", 1, 0600,
	                                FILEIO_OWNER_KEEP, 0, true),
	                 -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(fileio_fsync_parent(fd, "nodir/f"), -1);
	assert_int_equal(unlinkat(fd, "f", 0), 0);
	close(fd);
	assert_int_equal(rmdir(dir), 0); /* nothing else was left */
}

/* Makes `path` under `root` (a directory, or with `link_to` a symlink). */
static void
make_at(const char *root, const char *path, const char *link_to)
{
	char full[512];

	snprintf(full, sizeof(full), "%s/%s", root, path);
	if (link_to != NULL)
		assert_int_equal(symlink(link_to, full), 0);
	else
		assert_int_equal(mkdir(full, 0755), 0);
}

/* A sysfs and procfs of our own: device 254:1 is "vda1", 254:0 "vda", 8:0
 * has no entry; jbd2 lists a journal on "vda1" only ("vda-" would be vda's,
 * and "vda10-8" must not count for vda1). */
static void
test_ext_has_journal(void **state)
{
	char root[] = "/tmp/test_fileio_fs.XXXXXX";
	char sys[64], proc[64], rm[96];

	(void)state;
	assert_non_null(mkdtemp(root));
	snprintf(sys, sizeof(sys), "%s/sys", root);
	snprintf(proc, sizeof(proc), "%s/proc", root);
	make_at(root, "sys", NULL);
	make_at(root, "sys/dev", NULL);
	make_at(root, "sys/dev/block", NULL);
	make_at(root, "sys/dev/block/254:1",
	        "../../devices/pci0000:00/virtio1/block/vda/vda1");
	make_at(root, "sys/dev/block/254:0",
	        "../../devices/pci0000:00/virtio1/block/vda");
	make_at(root, "sys/dev/block/254:2",
	        "../../devices/pci0000:00/virtio1/block/vda/vda10");
	/* No procfs yet: nothing is known, so no journal is assumed. */
	assert_false(fileio_ext_has_journal(makedev(254, 1), sys, proc));
	make_at(root, "proc", NULL);
	make_at(root, "proc/fs", NULL);
	make_at(root, "proc/fs/jbd2", NULL);
	assert_false(fileio_ext_has_journal(makedev(254, 1), sys, proc));
	make_at(root, "proc/fs/jbd2/vda10-8", NULL);
	assert_false(fileio_ext_has_journal(makedev(254, 1), sys, proc));
	assert_true(fileio_ext_has_journal(makedev(254, 2), sys, proc));
	make_at(root, "proc/fs/jbd2/vda1-8", NULL);
	assert_true(fileio_ext_has_journal(makedev(254, 1), sys, proc));
	assert_false(fileio_ext_has_journal(makedev(254, 0), sys, proc));
	assert_false(fileio_ext_has_journal(makedev(8, 0), sys, proc));
	snprintf(rm, sizeof(rm), "rm -rf %s", root);
	assert_int_equal(system(rm), 0);
}

/* fileio_syncfs flushes with and without the trailing flush, and reports
 * a bad descriptor. tmpfs (/dev/shm, where it is one) needs no trailing
 * flush; a descriptor that cannot be probed gets one. */
static void
test_syncfs(void **state)
{
	struct statfs sfs;
	int fd = temp_file("durable", 7);
	int shm = open("/dev/shm", O_RDONLY | O_DIRECTORY);

	(void)state;
	assert_int_equal(fileio_syncfs(fd, false), 0);
	assert_int_equal(fileio_syncfs(fd, true), 0);
	close(fd);
	if (shm >= 0 && fstatfs(shm, &sfs) == 0 && sfs.f_type == 0x01021994)
		assert_false(fileio_syncfs_trails(shm));
	if (shm >= 0)
		close(shm);
	errno = 0;
	assert_int_equal(fileio_syncfs(-1, false), -1);
	assert_int_equal(errno, EBADF);
	assert_true(fileio_syncfs_trails(-1));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_write_all_file),
	        cmocka_unit_test(test_write_all_pipe),
	        cmocka_unit_test(test_write_all_fails),
	        cmocka_unit_test(test_copy_range_file),
	        cmocka_unit_test(test_pread_all),
	        cmocka_unit_test(test_replace),
	        cmocka_unit_test(test_copy_range_to_pipe),
	        cmocka_unit_test(test_copy_range_eof),
	        cmocka_unit_test(test_read_bounded_at_bound),
	        cmocka_unit_test(test_read_bounded_past_bound),
	        cmocka_unit_test(test_read_bounded_empty),
	        cmocka_unit_test(test_read_bounded_large),
	        cmocka_unit_test(test_read_bounded_pipe),
	        cmocka_unit_test(test_read_bounded_bad_fd),
	        cmocka_unit_test(test_ext_has_journal),
	        cmocka_unit_test(test_syncfs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
