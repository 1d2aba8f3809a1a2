/*
 * maildir — the Maildir conventions postern delivers with: the directory
 * layout of one mailbox and unique file names (the format qmail defined:
 * "time.MusecPpidQn.host", here with ",S=size" as Maildir++ readers use).
 * Paths are relative to the caller's working directory (the data
 * directory, or the chroot made of it).
 */
#ifndef POSTERN_DELIVERY_MAILDIR_H
#define POSTERN_DELIVERY_MAILDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest mailbox path: "mail/" domain "/" local part, with slack. */
#define MAILDIR_PATH_MAX 400

/* True if "domain/local" names a mailbox safely: two non-empty parts, no
 * further '/', no part starting with '.', printable ASCII only. */
bool maildir_mailbox_valid(const char *mailbox);

/* Makes mail/<mailbox>/{tmp,new,cur} (mode 0700) where missing.
 * Returns 0 or -1 with errno set. */
int maildir_ensure(const char *mailbox) __attribute__((warn_unused_result));

/* Writes a unique file name for a message of `size` bytes into `out`. */
void maildir_unique_name(char *out, size_t outsz, const char *hostname,
                         uint64_t size);

#endif
