/*
 * store — the message store: the one interface through which SMTP
 * delivery (queue role), IMAP and POP3 (mailbox role) read and change
 * mailboxes (DESIGN.md "Storage").
 *
 * Nothing here names a back end's own types: a store is opened by a back
 * end constructor (today only the local one, store_local_new(): Maildir++
 * files plus a per-account SQLite index, see docs/store.md), and every
 * other call works on the opaque handles below. A second back end
 * (metadata in PostgreSQL, bodies in an object store) adds a constructor
 * and keeps these calls.
 *
 * Vocabulary, as in IMAP (RFC 3501, RFC 7162):
 *  - an account holds mailboxes; "INBOX" (any case) always exists; other
 *    names are UTF-8 with '/' as the hierarchy separator ("Lists/Work").
 *    Converting to and from modified UTF-7 is the IMAP layer's job.
 *  - a mailbox has a UIDVALIDITY, a UIDNEXT and a HIGHESTMODSEQ; a message
 *    has a UID (strictly increasing, never reused within a UIDVALIDITY),
 *    system flags, keywords, an internal date, a size counted with CRLF
 *    line ends (RFC822.SIZE) and a modseq (the last change to it).
 *
 * Results: calls that can fail return enum store_result with a one-line
 * reason in *error_r (a static string or one held by the account, valid
 * until the next call on the same account; for a failed
 * store_account_open(), until the next open on the same store). Delivery and
 * append return an explicit OK / TEMPFAIL / PERMFAIL (STYLE.md 9), plus
 * OVERQUOTA.
 *
 * Concurrency: several processes (queue, IMAP and POP3 sessions) may open
 * the same account at once; each change is one short transaction, every
 * writer bumps the modseq of what it changed, and other handles learn of
 * it through the notification descriptor (store_account_notify_fd()).
 * A handle is used by one thread.
 */
#ifndef POSTERN_STORE_STORE_H
#define POSTERN_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct store;
struct store_account;
struct store_mailbox;
struct store_body;
struct store_delivery;
struct store_append;

enum store_result {
	STORE_OK = 0,
	/* Try again later: I/O error, disk full, lock wait timed out. For
	 * calls that made a system call, errno is kept (ENOSPC, EDQUOT). */
	STORE_TEMPFAIL,
	/* Will never work as asked: bad name, bad argument. */
	STORE_PERMFAIL,
	/* The account's quota would be exceeded. */
	STORE_OVERQUOTA,
	/* No such mailbox or message. */
	STORE_NOTFOUND,
	/* The mailbox already exists. */
	STORE_EXISTS,
	/* A fixed limit was reached (keywords per mailbox). */
	STORE_LIMIT,
};

/* A short constant name for a result ("ok", "tempfail", ...). */
const char *store_result_str(enum store_result r);

/* System flags (RFC 3501 2.3.2), as a bit mask. STORE_FLAG_PASSED is the
 * Maildir "P" flag (resent/forwarded): not an IMAP flag, but kept so a
 * message other Maildir tools marked keeps the mark. */
#define STORE_FLAG_SEEN     0x01u
#define STORE_FLAG_ANSWERED 0x02u
#define STORE_FLAG_FLAGGED  0x04u
#define STORE_FLAG_DELETED  0x08u
#define STORE_FLAG_DRAFT    0x10u
#define STORE_FLAG_PASSED   0x20u
#define STORE_FLAGS_ALL     0x3fu

/* Keywords per mailbox. A message's keywords are a bit mask over the
 * mailbox's keyword list (bit i = store_mailbox_keywords()[i]); a name,
 * once given a bit, keeps it for the life of the mailbox. */
#define STORE_KEYWORDS_MAX 26
/* Longest keyword name in bytes. */
#define STORE_KEYWORD_LEN_MAX 100
/* Longest mailbox name in bytes (UTF-8). */
#define STORE_MAILBOX_NAME_MAX 200

/* Mailbox attributes reported by store_mailbox_list(): special use
 * (RFC 6154) and children (RFC 3348). */
#define STORE_MBOX_DRAFTS      0x01u
#define STORE_MBOX_SENT        0x02u
#define STORE_MBOX_TRASH       0x04u
#define STORE_MBOX_JUNK        0x08u
#define STORE_MBOX_ARCHIVE     0x10u
#define STORE_MBOX_HASCHILDREN 0x20u

/* --- the store and accounts -------------------------------------------- */

/*
 * The local back end: accounts live under <base_dir>/mail/<domain>/<local>/
 * (base_dir is "." for a role chrooted in the data directory). Borrows
 * nothing. Returns an owned store, freed with store_free() after every
 * account is closed. Whether store_account_sync needs a device flush after
 * its syncfs (fileio_syncfs_trails) is decided here, once: in a chroot
 * without /proc and /sys it cannot tell and flushes twice on ext4.
 */
struct store *store_local_new(const char *base_dir);
void store_free(struct store **storep);

/* Create the account's folders if missing (first delivery, first login). */
#define STORE_OPEN_CREATE 0x1u

/*
 * Opens the account domain/local (each non-empty printable ASCII, no '/',
 * not starting with '.'). Checks the index and rebuilds it from the
 * Maildir when it is missing or corrupt; a new account gets INBOX and the
 * special-use mailboxes Drafts, Sent, Trash, Junk and Archive.
 * Returns OK and an owned handle in *acct_r, NOTFOUND (no such account
 * and no STORE_OPEN_CREATE), PERMFAIL (bad name) or TEMPFAIL.
 */
enum store_result store_account_open(struct store *store, const char *domain,
                                     const char *local, unsigned flags,
                                     struct store_account **acct_r,
                                     const char **error_r)
        __attribute__((warn_unused_result));
/* Closes the account and clears *acctp; accepts NULL. Every mailbox,
 * append and delivery record of it must be closed or freed first (a
 * bug otherwise); an open batch is rolled back. Bodies may outlive it. */
void store_account_close(struct store_account **acctp);

/* The account's usage: bytes stored (as counted against the quota) and
 * messages, over all mailboxes. */
enum store_result store_account_usage(struct store_account *acct,
                                      uint64_t *bytes_r, uint64_t *messages_r,
                                      const char **error_r);

/*
 * Makes the account's changes so far durable (one flush of the file
 * system holding it). The queue role's group commit flushes on its own;
 * IMAP APPEND, COPY and MOVE call this before answering OK.
 */
enum store_result store_account_sync(struct store_account *acct,
                                     const char **error_r);

/* --- change notification ------------------------------------------------ */

/*
 * A descriptor (owned by the account, non-blocking) that becomes readable
 * when the account may have changed: another handle committed a change,
 * a mailbox was created or removed, or files appeared in or left an open
 * mailbox. Put it in the event loop; when readable call
 * store_account_notify_read(). Returns -1 (errno set) if it cannot be
 * made. Our own changes wake it too.
 */
int store_account_notify_fd(struct store_account *acct);

/* What store_account_notify_read() saw. */
#define STORE_NOTIFY_INDEX     0x1u /* the index changed: refresh mailboxes */
#define STORE_NOTIFY_MAILBOXES 0x2u /* the list of mailboxes changed */
#define STORE_NOTIFY_FILES     0x4u /* files changed in an open mailbox */

/* Consumes what is pending on the notification descriptor. Returns a mask
 * of STORE_NOTIFY_* (0: nothing relevant). The mailboxes concerned are
 * marked so that their next store_mailbox_refresh() looks at the disk. */
unsigned store_account_notify_read(struct store_account *acct);

/* --- mailboxes -------------------------------------------------------------
 */

typedef void store_list_fn(void *ctx, const char *name, unsigned attrs);

/* Calls `cb` for every mailbox, INBOX first, then by name. `name` is valid
 * during the call. */
enum store_result store_mailbox_list(struct store_account *acct,
                                     store_list_fn *cb, void *ctx,
                                     const char **error_r);
/* Creates `name` and any missing parents (RFC 3501 6.3.3). EXISTS if it
 * exists, PERMFAIL for a bad name (empty component, over
 * STORE_MAILBOX_NAME_MAX, invalid UTF-8). */
enum store_result store_mailbox_create(struct store_account *acct,
                                       const char *name, const char **error_r);
/* Deletes `name` with its messages; its children stay (RFC 3501 6.3.4).
 * PERMFAIL for INBOX. */
enum store_result store_mailbox_delete(struct store_account *acct,
                                       const char *name, const char **error_r);
/* Renames `from` and its children to `to` (RFC 3501 6.3.5); renaming
 * INBOX moves its messages to a new mailbox `to` and leaves INBOX empty.
 * UIDVALIDITY is kept. */
enum store_result store_mailbox_rename(struct store_account *acct,
                                       const char *from, const char *to,
                                       const char **error_r);

struct store_mailbox_status {
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	uint32_t messages;
	uint32_t unseen;
	/* Messages in new/, not yet taken by a session (store_take_new()). */
	uint32_t recent;
	/* Bytes of the messages, counted with CRLF line ends (RFC 8438). */
	uint64_t size;
};

/* Status of a mailbox by name, without opening it (IMAP STATUS). */
enum store_result store_mailbox_status(struct store_account *acct,
                                       const char *name,
                                       struct store_mailbox_status *status_r,
                                       const char **error_r);

/*
 * Opens a mailbox (IMAP SELECT, POP3 login). Looks at the Maildir first:
 * files other tools put in new/ get UIDs, and cur/ is reconciled when it
 * changed behind the index's back. Returns an owned handle, closed with
 * store_mailbox_close() before the account is.
 */
enum store_result
store_mailbox_open(struct store_account *acct, const char *name,
                   struct store_mailbox **mbox_r, const char **error_r)
        __attribute__((warn_unused_result));
void store_mailbox_close(struct store_mailbox **mboxp);

/* The mailbox's name (as stored: "INBOX", "Lists/Work") and special-use
 * attributes. Valid until the next refresh or close. */
const char *store_mailbox_name(const struct store_mailbox *mbox);
unsigned store_mailbox_attrs(const struct store_mailbox *mbox);
/* Status as of the last open or refresh. */
void store_mailbox_get_status(const struct store_mailbox *mbox,
                              struct store_mailbox_status *status_r);
/* The mailbox's keyword names, bit i naming keyword i; *count_r set.
 * Valid until the next call on the mailbox. */
const char *const *store_mailbox_keywords(const struct store_mailbox *mbox,
                                          size_t *count_r);

/*
 * Brings the handle up to date after a notification (or whenever the
 * caller likes): picks up files that appeared in the Maildir, then reads
 * the mailbox's state from the index. Fills *status_r (may be NULL).
 * NOTFOUND if the mailbox was deleted meanwhile.
 */
enum store_result store_mailbox_refresh(struct store_mailbox *mbox,
                                        struct store_mailbox_status *status_r,
                                        const char **error_r);

typedef void store_uid_fn(void *ctx, uint32_t uid);

/* Moves the messages in new/ to cur/ (a session "sees" them) and calls
 * `cb` (may be NULL) with each one's UID, ascending: these are the
 * messages this session may report as \Recent. */
enum store_result store_take_new(struct store_mailbox *mbox, store_uid_fn *cb,
                                 void *ctx, const char **error_r);

/* A closed range of UIDs [lo, hi]; hi may be UINT32_MAX for "*". */
struct store_uid_range {
	uint32_t lo;
	uint32_t hi;
};

/* Cached header fields, indexes of store_msg_meta.hdr[]. */
enum store_hdr {
	STORE_HDR_DATE,
	STORE_HDR_SUBJECT,
	STORE_HDR_FROM,
	STORE_HDR_TO,
	STORE_HDR_CC,
	STORE_HDR_MESSAGE_ID,
	STORE_HDR_REFERENCES,
	STORE_HDR_COUNT,
};

/* One message's metadata. Strings are borrowed: valid during the callback
 * only. Cached strings are NULL when not cached (or not asked for). */
struct store_msg_meta {
	uint32_t uid;
	unsigned flags;    /* STORE_FLAG_* */
	uint32_t keywords; /* bit mask over store_mailbox_keywords() */
	time_t internal_date;
	uint64_t size; /* RFC822.SIZE: CRLF line ends */
	uint64_t modseq;
	const char *envelope;      /* RFC 3501 ENVELOPE */
	const char *bodystructure; /* BODYSTRUCTURE */
	const char *body;          /* BODY (no extension data) */
	/* Unfolded raw header values (SORT, THREAD, SEARCH): Date, Subject,
	 * From, To, Cc, Message-ID, References. */
	const char *hdr[STORE_HDR_COUNT];
};

/* What store_fetch_meta() reads beyond the always-present numbers. */
#define STORE_META_ENVELOPE      0x1u
#define STORE_META_BODYSTRUCTURE 0x2u
#define STORE_META_BODY          0x4u
#define STORE_META_HEADERS       0x8u

/* Called per message; a non-zero return stops the iteration. The callback
 * must not change the account nor start another iteration on it. */
typedef int store_meta_fn(void *ctx, const struct store_msg_meta *meta);

/* Calls `cb` for each message with lo <= UID <= hi, ascending. */
enum store_result store_fetch_meta(struct store_mailbox *mbox, uint32_t lo,
                                   uint32_t hi, unsigned what,
                                   store_meta_fn *cb, void *ctx,
                                   const char **error_r);

/* The cached strings of one message, to fill a cache entry the store left
 * empty (a message picked up from another tool is cached lazily). Any
 * field may be NULL (left unchanged). */
struct store_cache {
	const char *envelope;
	const char *bodystructure;
	const char *body;
	const char *hdr[STORE_HDR_COUNT];
};
enum store_result store_cache_update(struct store_mailbox *mbox, uint32_t uid,
                                     const struct store_cache *cache,
                                     const char **error_r);

/*
 * Changes since `since_modseq` (RFC 7162): calls `cb` for every message
 * whose modseq is above it (new or changed; `expunged` false, metadata
 * without cached strings) and for every UID expunged with a modseq above
 * it (`expunged` true, only uid and modseq set). Expunges come first.
 * A non-zero return from `cb` stops; `cb` is bound as store_meta_fn is.
 */
typedef int store_change_fn(void *ctx, const struct store_msg_meta *meta,
                            bool expunged);
enum store_result store_mailbox_changes(struct store_mailbox *mbox,
                                        uint64_t since_modseq,
                                        store_change_fn *cb, void *ctx,
                                        const char **error_r);

/* --- message bodies ---------------------------------------------------- */

/*
 * Opens the body of message `uid`. NOTFOUND if it has been expunged.
 * Returns an owned body, readable after the message is expunged, freed
 * with store_body_free().
 */
enum store_result store_body_open(struct store_mailbox *mbox, uint32_t uid,
                                  struct store_body **body_r,
                                  const char **error_r)
        __attribute__((warn_unused_result));
void store_body_free(struct store_body **bodyp);
/* The message as stored (lines end in LF, or CRLF when another tool wrote
 * it), *len_r bytes; valid until store_body_free(). */
const char *store_body_data(const struct store_body *body, size_t *len_r);
/* Size with every line ending in CRLF (what IMAP and POP3 send). */
uint64_t store_body_crlf_size(const struct store_body *body);
/* Copies into `out` up to `outsz` bytes of the message as it reads with
 * CRLF line ends, from `offset` in that form (IMAP partial fetch). Returns
 * the bytes copied; 0 at the end. Reading forward is linear in total. */
size_t store_body_read_crlf(struct store_body *body, uint64_t offset, char *out,
                            size_t outsz);

/* --- changing messages ------------------------------------------------- */

enum store_flag_op {
	STORE_FLAGS_ADD,     /* +FLAGS */
	STORE_FLAGS_REMOVE,  /* -FLAGS */
	STORE_FLAGS_REPLACE, /* FLAGS */
};

struct store_flag_change {
	enum store_flag_op op;
	unsigned flags;              /* STORE_FLAG_* */
	const char *const *keywords; /* names (case-insensitive match) */
	size_t nkeywords;
	/* RFC 7162 UNCHANGEDSINCE: messages with a modseq above it are left
	 * alone and reported as conflicts. 0: no condition. */
	uint64_t unchanged_since;
};

struct store_flag_result {
	uint32_t uid;
	unsigned flags;
	uint32_t keywords;
	uint64_t modseq;
	bool changed;  /* this call changed the message */
	bool conflict; /* failed UNCHANGEDSINCE: left alone */
};
typedef void store_flag_fn(void *ctx, const struct store_flag_result *res);

/*
 * Changes flags and keywords of the messages in `ranges` (UIDs that do not
 * exist are skipped). All changed messages get one new modseq. `cb` (may
 * be NULL) is called for every message in the ranges, ascending.
 * LIMIT if a new keyword would not fit (STORE_KEYWORDS_MAX); PERMFAIL for
 * a malformed keyword.
 */
enum store_result store_set_flags(struct store_mailbox *mbox,
                                  const struct store_uid_range *ranges,
                                  size_t nranges,
                                  const struct store_flag_change *change,
                                  store_flag_fn *cb, void *ctx,
                                  const char **error_r);

/*
 * Removes messages: those in `ranges` (NULL: the whole mailbox) that have
 * \Deleted, or with `only_deleted` false (POP3 DELE) all of them. `cb`
 * (may be NULL) gets each expunged UID, ascending.
 */
enum store_result store_expunge(struct store_mailbox *mbox,
                                const struct store_uid_range *ranges,
                                size_t nranges, bool only_deleted,
                                store_uid_fn *cb, void *ctx,
                                const char **error_r);

/* Called per copied message with its UID in the source and destination
 * (RFC 4315 COPYUID). */
typedef void store_copy_fn(void *ctx, uint32_t src_uid, uint32_t dst_uid);

/*
 * Copies (or with `move`, moves: RFC 6851) the messages in `ranges` to the
 * mailbox named `dst`, keeping flags, keywords and internal dates. Sets
 * *dst_uidvalidity_r (may be NULL). OVERQUOTA if a copy would take the
 * account over `quota` bytes (0: no quota; a move never does). A keyword
 * the destination has no room for is dropped. NOTFOUND if `dst` does not
 * exist.
 */
enum store_result store_copy(struct store_mailbox *src,
                             const struct store_uid_range *ranges,
                             size_t nranges, const char *dst, bool move,
                             uint64_t quota, store_copy_fn *cb, void *ctx,
                             uint32_t *dst_uidvalidity_r, const char **error_r);

/* --- IMAP APPEND --------------------------------------------------------
 */

/*
 * Starts appending a message to mailbox `mailbox`: the bytes are streamed
 * with store_append_write() (CRLF line ends are stored as LF), then
 * store_append_finish() or store_append_abort(). Returns an owned append
 * in *append_r; NOTFOUND if the mailbox does not exist.
 */
enum store_result
store_append_begin(struct store_account *acct, const char *mailbox,
                   struct store_append **append_r, const char **error_r)
        __attribute__((warn_unused_result));
enum store_result store_append_write(struct store_append *app, const void *data,
                                     size_t len, const char **error_r);

struct store_append_info {
	unsigned flags;
	const char *const *keywords;
	size_t nkeywords;
	time_t internal_date; /* 0: now */
	uint64_t quota;       /* 0: none */
};

/* Stores the message. Sets the new UID and the mailbox's UIDVALIDITY
 * (RFC 4315 APPENDUID). Frees the append and clears *appendp whatever
 * the result. OVERQUOTA, LIMIT (keywords), TEMPFAIL. */
enum store_result store_append_finish(struct store_append **appendp,
                                      const struct store_append_info *info,
                                      uint32_t *uidvalidity_r, uint32_t *uid_r,
                                      const char **error_r);
void store_append_abort(struct store_append **appendp);

/* --- delivery (queue role) ----------------------------------------------
 *
 * One flush cycle of the queue role's group commit delivers many messages
 * to an account in one transaction:
 *     store_batch_begin(acct)
 *     store_deliver(acct, "INBOX", spool, ...)   (per message)
 *     store_batch_commit(acct)
 *     ... the caller flushes the file system (syncfs) ...
 * The caller's flush makes the spool file's data, its new/ entry and the
 * committed index pages durable together (docs/queue.md). If that flush
 * fails, store_delivery_undo() each delivery so nothing unacknowledged
 * stays; if power fails during it, an entry may be left shorter than its
 * S=, and the next scan of new/ moves it out (docs/store.md).
 */

/* Opens the account's write transaction (waits for other writers up to
 * the lock timeout: TEMPFAIL). One batch per account at a time. */
enum store_result store_batch_begin(struct store_account *acct,
                                    const char **error_r);
/*
 * Delivers the complete spool file `spool_path` (relative to the
 * working directory; `size` bytes, lines ending in LF) to `mailbox`:
 * allocates the UID, hard-links the file into new/ under its final name
 * (copies it, flushed, if the spool is on another file system) and
 * records it in the batch's transaction. `spool_fd`, if not -1, is the
 * file opened for reading by the caller (borrowed, at any offset), read
 * instead of opening `spool_path`. OVERQUOTA when the account's usage
 * plus `size` would exceed `quota` (0: no quota); NOTFOUND for a missing
 * mailbox; TEMPFAIL (errno kept) or PERMFAIL. A failed delivery leaves
 * nothing behind. Returns an owned delivery in *delivery_r (on OK), to
 * undo or free.
 */
enum store_result store_deliver(struct store_account *acct, const char *mailbox,
                                const char *spool_path, int spool_fd,
                                uint64_t size, uint64_t quota,
                                struct store_delivery **delivery_r,
                                const char **error_r)
        __attribute__((warn_unused_result));
/* Commits the batch. On failure the whole batch is rolled back and the
 * files linked for it are removed, whether or not their records are
 * still held (undoing them again is harmless): TEMPFAIL, errno kept
 * (ENOSPC when the index found the disk full). */
enum store_result store_batch_commit(struct store_account *acct,
                                     const char **error_r)
        __attribute__((warn_unused_result));
/* Abandons the batch: every delivery in it is undone. */
void store_batch_rollback(struct store_account *acct);

/*
 * Removes a delivered message again: its new/ entry and its index row
 * (inside the open batch if there is one, else in a transaction of its
 * own; after a commit other sessions see it as expunged). Harmless on an
 * undone delivery.
 */
enum store_result store_delivery_undo(struct store_delivery *delivery,
                                      const char **error_r);
/* A file by its identity (stat's st_dev and st_ino). */
struct store_inode {
	dev_t dev;
	ino_t ino;
};

/*
 * Moves to tmp/ (removed there with other debris) the entries of
 * `mailbox`'s new/ that a delivery linked before its process died without
 * committing them: postern names whose U= is at or above UIDNEXT and below
 * the UID reservation, and that are one of the `ninodes` files in
 * `inodes` (the spool files the dead process left, each of which such an
 * entry is a link to). None was acknowledged (the commit comes before the
 * flush and the 250) and each sender will send its message again: kept,
 * the message would be delivered twice, and until a scan adopted it its
 * U= would be given again to the next delivery. A file that is not one of
 * `inodes` (restored from a backup, say) is left to the scan. The
 * delivering process calls this outside a batch, before its first
 * delivery to the mailbox; *moved_r gets how many were moved. NOTFOUND
 * for a missing mailbox, TEMPFAIL.
 */
enum store_result
store_deliver_clear_strays(struct store_account *acct, const char *mailbox,
                           const struct store_inode *inodes, size_t ninodes,
                           unsigned *moved_r, const char **error_r)
        __attribute__((warn_unused_result));
/* The UID given to the message. */
uint32_t store_delivery_uid(const struct store_delivery *delivery);
/* Frees the record (not the message; a failing batch still removes its
 * entry); clears *deliveryp. Records go before their account. */
void store_delivery_free(struct store_delivery **deliveryp);

#endif
