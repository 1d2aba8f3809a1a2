/*
 * store_priv — internals of the local back end (Maildir++ files and a
 * SQLite index per account), shared by the files of src/store/ only.
 *
 *   name.c     file names, mailbox name <-> directory, postern-uidlist and
 *              postern-keywords formats (pure functions, fuzzed)
 *   index.c    the SQLite index: schema, statements, transactions, rows
 *   maildir.c  directories: create, scan, reconcile with the index, find
 *   account.c  store and account handles, open and rebuild, notification
 *   mailbox.c  mailbox list/create/delete/rename/open/refresh/changes
 *   message.c  metadata, bodies, flags, expunge, copy
 *   deliver.c  batch delivery from the spool and IMAP APPEND
 *   cache.c    what the index caches of a message (the mime module seam)
 *
 * docs/store.md holds the on-disk formats and the durability argument.
 */
#ifndef POSTERN_STORE_STORE_PRIV_H
#define POSTERN_STORE_STORE_PRIV_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store/store.h"

/* File names in an account's root and in each mailbox directory. */
#define STORE_INDEX_FILE    "postern-index.sqlite"
#define STORE_INDEX_WAL     "postern-index.sqlite-wal"
#define STORE_UIDLIST_FILE  "postern-uidlist"
#define STORE_KEYWORDS_FILE "postern-keywords"
#define STORE_FOLDER_FILE   "maildirfolder"
/* Present when a running process found the index corrupt: the next open
 * moves the index aside and rebuilds it. */
#define STORE_REBUILD_FILE "postern-index.rebuild"

/* UIDs and modseqs reserved in postern-uidlist per rewrite. */
#define STORE_UID_BLOCK    1000u
#define STORE_MODSEQ_BLOCK 10000u

/* Longest path we build relative to an account root, and longest file
 * name (NAME_MAX). */
#define STORE_PATH_MAX 1024
#define STORE_NAME_MAX 255

/* Lock wait for SQLite writers, in milliseconds. */
#define STORE_BUSY_TIMEOUT_MS 10000

/* --- name.c ---------------------------------------------------------------
 */

/* A Maildir file name taken apart: "<base>[:2,<info>]", where the base is
 * "<unique>[,S=<size>][,W=<crlf-size>][,U=<uid>]..." (other fields kept in
 * the base as they are). */
struct store_fname {
	size_t base_len; /* bytes before ':' (or the whole name) */
	bool has_uid, has_size, has_vsize, has_info;
	uint32_t uid;
	uint64_t size;
	uint64_t vsize;
	unsigned flags;    /* STORE_FLAG_* from the info */
	uint32_t keywords; /* letters a-z of the info, bit 0 = 'a' */
};

/* Parses a directory entry name. Returns -1 for names that are not
 * message files (empty, starting with '.', over STORE_NAME_MAX). */
int store_fname_parse(const char *name, struct store_fname *r);
/* Writes "<base>:2,<letters>" (flags D F P R S T, then keyword letters,
 * ASCII order) into out; with in_new, just the base (new/ files carry no
 * info). Returns -1 if it does not fit. */
int store_fname_format(char *out, size_t outsz, const char *base,
                       size_t base_len, bool in_new, unsigned flags,
                       uint32_t keywords);
/* Writes a fresh base "<sec>.M<usec>P<pid>Q<n>.<host>,S=..,W=..,U=..". */
void store_fname_new_base(char *out, size_t outsz, const char *host,
                          uint64_t size, uint64_t vsize, uint32_t uid);
/* Writes `base` with any U= field replaced by U=<uid>, and S=/W= added
 * when missing. Returns -1 if it does not fit. */
int store_fname_rebase(char *out, size_t outsz, const char *base,
                       size_t base_len, uint64_t size, uint64_t vsize,
                       uint32_t uid);

/* Mailbox names. Checks and normalises `name` (INBOX case-folded) into
 * out. Returns 0, or -1 with *error_r for an unusable name. */
int store_mbox_name_check(const char *name, char *out, size_t outsz,
                          const char **error_r);
/* Directory (relative to the account root) of a normalised name: "" for
 * INBOX, ".A.B" for "A/B", with '.', '%', '/' and control bytes as %XX. */
int store_mbox_name_to_dir(const char *name, char *out, size_t outsz);
/* The mailbox name of a root entry ".A.B", or -1 if it is not one. */
int store_mbox_dir_to_name(const char *dir, char *out, size_t outsz);
/* Special-use attribute of a (normalised) name, by its default name. */
unsigned store_mbox_special_use(const char *name);

/* postern-uidlist: "1 <uidvalidity> <uid-limit> [<modseq-limit>]\n". */
struct store_uidlist {
	uint32_t uidvalidity;
	uint32_t uid_limit;    /* every UID given out so far is below it */
	uint64_t modseq_limit; /* every modseq given out so far is below it */
};
int store_uidlist_parse(const char *text, size_t len, struct store_uidlist *r);
/* Writes the file's text into out (at least 80 bytes). */
void store_uidlist_format(char *out, size_t outsz,
                          const struct store_uidlist *ul);

/* Keyword lists, as kept in the index ("a b c", space-separated) and in
 * postern-keywords ("postern-keywords 1\n" then "<letter> <name>\n").
 * Parsing fills names[] (owned strings) and returns the count, or -1. */
int store_keywords_parse_file(const char *text, size_t len,
                              char *names[STORE_KEYWORDS_MAX]);
int store_keywords_parse_list(const char *text,
                              char *names[STORE_KEYWORDS_MAX]);
/* Returns owned text for the file or the index column. */
char *store_keywords_format_file(char *const *names, size_t n);
char *store_keywords_format_list(char *const *names, size_t n);
/* True if `kw` can be a keyword: 1..STORE_KEYWORD_LEN_MAX bytes of IMAP
 * atom characters, not starting with '\' (RFC 3501 9: flag-keyword). */
bool store_keyword_valid(const char *kw);

/* --- cache.c --------------------------------------------------------------
 */

/* What the index keeps about a message's contents. */
struct store_cache_data {
	uint64_t vsize; /* size with CRLF line ends */
	char *envelope;
	char *bodystructure;
	char *body;
	char *hdr[STORE_HDR_COUNT];
};

/* Fills *c from the message bytes (borrowed). */
void store_cache_compute(const char *msg, size_t len,
                         struct store_cache_data *c);
void store_cache_data_deinit(struct store_cache_data *c);
/* Size of `len` bytes counting every LF not preceded by CR as two. */
uint64_t store_crlf_size(const char *msg, size_t len);

/* --- account (account.c) ------------------------------------------------ */

struct store {
	char *base_dir;
	char host[64];      /* sanitised host name for unique file names */
	char errbuf[256];   /* why the last store_account_open() failed */
	bool syncfs_trails; /* fileio_syncfs_trails of base_dir */
};

enum store_index_stmt_id {
	ST_MBOX_BY_NAME,
	ST_MBOX_BY_ID,
	ST_MBOX_ALL,
	ST_MBOX_INSERT,
	ST_MBOX_SET_COUNTERS,
	ST_MBOX_SET_KEYWORDS,
	ST_MBOX_SET_CUR_MTIME,
	ST_MBOX_DELETE,
	ST_MBOX_RENAME,
	ST_MBOX_COUNTS,
	ST_ACCT_GET,
	ST_MBOX_ADD_USAGE,
	ST_ACCT_SET_UIDVALIDITY,
	ST_MSG_INSERT,
	ST_MSG_BY_UID,
	ST_MSG_RANGE,
	ST_MSG_RANGE_CACHE,
	ST_MSG_ALL,
	ST_MSG_NEW,
	ST_MSG_SET_FLAGS,
	ST_MSG_SET_PLACE,
	ST_MSG_DELETE,
	ST_MSG_DELETE_MBOX,
	ST_MSG_SINCE,
	ST_MSG_SET_CACHE,
	ST_MSG_COPY_CACHE,
	ST_EXP_INSERT,
	ST_EXP_SINCE,
	ST_EXP_DELETE_MBOX,
	ST_COUNT,
};

struct store_account {
	struct store *store;
	char *domain;
	char *local;
	char *root; /* "<base>/mail/<domain>/<local>" */
	int root_fd;
	sqlite3 *db;
	sqlite3_stmt *stmts[ST_COUNT];
	dev_t store_index_dev; /* the index file this handle opened */
	ino_t store_index_ino;
	unsigned txn_depth;
	bool read_txn;
	bool batch_open;
	/* new/ entries made in the open batch, to remove if it fails
	 * (whether or not the caller still holds their records). */
	char **batch_paths;
	size_t nbatch, batch_cap;
	unsigned ndeliveries;            /* live delivery records */
	struct store_mailbox *mailboxes; /* open handles */
	int inotify_fd;
	int root_wd;
	char errbuf[256];
};

/* A mailbox's index row. */
struct store_mbox_row {
	int64_t id;
	char name[STORE_MAILBOX_NAME_MAX + 1];
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	uint32_t uid_limit;
	uint64_t modseq_limit;
	int64_t cur_mtime;
	char *keywords[STORE_KEYWORDS_MAX]; /* owned */
	size_t nkeywords;
};
void store_mbox_row_deinit(struct store_mbox_row *row);

struct store_mailbox {
	struct store_account *acct;
	struct store_mailbox *next;
	int64_t id;
	char name[STORE_MAILBOX_NAME_MAX + 1];
	char dir[STORE_NAME_MAX + 1]; /* "" for INBOX */
	unsigned attrs;
	struct store_mailbox_status status;
	char *keywords[STORE_KEYWORDS_MAX];
	size_t nkeywords;
	int wd_new, wd_cur;
	bool new_dirty, cur_dirty;
};

/* One message row (strings owned). */
struct store_msg_row {
	uint32_t uid;
	char *base;
	bool in_cur;
	unsigned flags;
	uint32_t keywords;
	int64_t internal_date;
	uint64_t size;  /* bytes on disk (quota) */
	uint64_t vsize; /* CRLF */
	uint64_t modseq;
};
void store_msg_row_deinit(struct store_msg_row *row);

/* True if the index file is no longer the one this handle opened (it was
 * deleted or rebuilt by another process). */
bool store_account_is_stale(struct store_account *acct);
void store_notify_watch_mailbox(struct store_mailbox *mbox);
void store_notify_unwatch_mailbox(struct store_mailbox *mbox);

/* Formats an error into acct->errbuf and returns it. */
const char *store_errorf(struct store_account *acct, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/* Writes "<dir>/<sub>/<name>" (dir may be "", name may be NULL) relative
 * to the account root. Returns -1 if it does not fit. */
int store_path(char *out, size_t outsz, const char *dir, const char *sub,
               const char *name);

/* --- index.c ------------------------------------------------------------ */

enum store_index_open_result {
	STORE_INDEX_OPEN_OK,
	STORE_INDEX_OPEN_EMPTY,   /* no schema yet: initialise (and scan) */
	STORE_INDEX_OPEN_CORRUPT, /* not a usable index: move aside, rebuild */
	STORE_INDEX_OPEN_ERROR,   /* could not open at all */
};

enum store_index_open_result store_index_open(struct store_account *acct,
                                              const char **error_r);
void store_index_close(struct store_account *acct);
/* Makes the database use WAL (outside any transaction). 0 or -1. */
int store_index_set_wal(struct store_account *acct);
/* Creates the schema (inside a write transaction): 0 made, 1 it was
 * there already, -1 error. */
int store_index_create_schema(struct store_account *acct);

/* Write transactions: the outermost level is BEGIN IMMEDIATE (waits for
 * other writers up to STORE_BUSY_TIMEOUT_MS), inner levels savepoints, so
 * a failed step inside a batch rolls back only itself. */
enum store_result store_index_begin(struct store_account *acct,
                                    const char **error_r);
enum store_result store_index_commit(struct store_account *acct,
                                     const char **error_r);
void store_index_rollback(struct store_account *acct);
/* Ends a transaction by its outcome: commits when `r` is STORE_OK (and
 * returns the commit's result), rolls back and returns `r` otherwise. */
enum store_result store_index_finish(struct store_account *acct,
                                     enum store_result r, const char **error_r);
/* Read snapshot for multi-statement reads (BEGIN; no-op inside a write). */
enum store_result store_index_read_begin(struct store_account *acct,
                                         const char **error_r);
void store_index_read_end(struct store_account *acct);

/* Prepares every statement (once the schema exists). 0 or -1. */
int store_index_prepare_all(struct store_account *acct);
/* A reset statement, ready for binding. */
sqlite3_stmt *store_index_stmt(struct store_account *acct,
                               enum store_index_stmt_id id);
/* Steps a statement that returns no row and resets it. 0 or -1. */
int store_index_exec_stmt(struct store_account *acct, sqlite3_stmt *st);
/* Result of the last failed SQLite call as a store result and message;
 * errno says why, as for a system call: ENOSPC when the disk is full
 * (SQLITE_FULL), the system call's own errno for an I/O error, EIO
 * otherwise. */
enum store_result store_index_fail(struct store_account *acct, const char *what,
                                   const char **error_r);

/* Mailbox rows. Return OK, NOTFOUND, or TEMPFAIL. */
enum store_result store_index_mbox_get(struct store_account *acct,
                                       const char *name,
                                       struct store_mbox_row *row,
                                       const char **error_r);
enum store_result store_index_mbox_get_id(struct store_account *acct,
                                          int64_t id,
                                          struct store_mbox_row *row,
                                          const char **error_r);
/* Adds a mailbox row with the uidlist's UIDVALIDITY and reservation,
 * UIDNEXT `uidnext` and HIGHESTMODSEQ just below the modseq reservation. */
int store_index_mbox_insert(struct store_account *acct, const char *name,
                            const struct store_uidlist *ul, uint32_t uidnext,
                            int64_t *id_r);
int store_index_mbox_save_counters(struct store_account *acct,
                                   const struct store_mbox_row *row);
/* Allocates the next UID of the mailbox (row updated in memory only: save
 * with store_index_mbox_save_counters()), first extending the reservation in
 * postern-uidlist (written and flushed) when it runs out. */
int store_index_mbox_next_uid(struct store_account *acct, const char *dir,
                              struct store_mbox_row *row, uint32_t *uid_r);
/* Extends the reservation so UIDNEXT and the next modseq are below it. */
int store_index_mbox_reserve(struct store_account *acct, const char *dir,
                             struct store_mbox_row *row);
/* Allocates the next modseq, likewise. */
int store_index_mbox_next_modseq(struct store_account *acct, const char *dir,
                                 struct store_mbox_row *row,
                                 uint64_t *modseq_r);
/* Finds or adds keyword names in the mailbox's list (updating the index
 * and postern-keywords), giving their bit mask. LIMIT if a name does not
 * fit; with `add` false unknown names are ignored. */
enum store_result store_index_mbox_keywords(struct store_account *acct,
                                            const char *dir,
                                            struct store_mbox_row *row,
                                            const char *const *names, size_t n,
                                            bool add, uint32_t *mask_r,
                                            const char **error_r);
int store_index_account_get(struct store_account *acct, uint64_t *bytes_r,
                            uint64_t *messages_r, uint32_t *last_uidvalidity_r);
/* A UIDVALIDITY for a new mailbox: the clock, but above any given out in
 * this account before (a mailbox deleted and created again in the same
 * second must not keep its UIDVALIDITY). */
int store_index_new_uidvalidity(struct store_account *acct, uint32_t *uidv_r);
/* Raises the account's last UIDVALIDITY to `uidv` if below. */
int store_index_note_uidvalidity(struct store_account *acct, uint32_t uidv);

/* Message rows. */
int store_index_msg_insert(struct store_account *acct, int64_t mbox,
                           const struct store_msg_row *row,
                           const struct store_cache_data *cache);
/* Reads a row from a statement selecting the message columns. */
void store_index_msg_row_read(sqlite3_stmt *st, struct store_msg_row *row);
/* 1 found, 0 not, -1 error. */
int store_index_msg_get(struct store_account *acct, int64_t mbox, uint32_t uid,
                        struct store_msg_row *row);
int store_index_msg_set_flags(struct store_account *acct, int64_t mbox,
                              uint32_t uid, unsigned flags, uint32_t keywords,
                              uint64_t modseq);
int store_index_msg_set_place(struct store_account *acct, int64_t mbox,
                              uint32_t uid, const char *base, bool in_cur);
/* Deletes a row, records the expunge at `modseq` and takes its size off
 * the account's usage. */
int store_index_msg_expunge(struct store_account *acct, int64_t mbox,
                            const struct store_msg_row *row, uint64_t modseq);
/* Loads every row of a mailbox (or only those in new/), ascending UID.
 * Returns the count (rows owned by *rows_r) or -1. */
ssize_t store_index_msg_load(struct store_account *acct, int64_t mbox,
                             bool only_new, struct store_msg_row **rows_r);
void store_index_msg_rows_free(struct store_msg_row **rows, size_t n);

/* Loads a mailbox's state into the handle's status and keyword list. */
enum store_result store_index_mbox_status(struct store_account *acct,
                                          const struct store_mbox_row *row,
                                          struct store_mailbox_status *st,
                                          const char **error_r);

/* --- maildir.c ------------------------------------------------------------
 */

/* Creates <dir>/{tmp,new,cur} (and maildirfolder for a folder). */
int store_maildir_create(struct store_account *acct, const char *dir);
/* Removes a mailbox directory and its files (first renamed out of the
 * way so a crash leaves no half mailbox). */
int store_maildir_remove(struct store_account *acct, const char *dir);
/* Finishes removals a crash interrupted. */
void store_maildir_sweep(struct store_account *acct);
/* Reads postern-uidlist of a mailbox: 1 read, 0 missing/unusable, -1. */
int store_maildir_uidlist_read(struct store_account *acct, const char *dir,
                               struct store_uidlist *ul);
/* Writes postern-uidlist atomically and durably. */
int store_maildir_uidlist_write(struct store_account *acct, const char *dir,
                                const struct store_uidlist *ul);
/* Reads postern-keywords into names (owned); returns the count or 0. */
int store_maildir_keywords_read(struct store_account *acct, const char *dir,
                                char *names[STORE_KEYWORDS_MAX]);
int store_maildir_keywords_write(struct store_account *acct, const char *dir,
                                 char *const *names, size_t n);
/* Current relative path of a message, from its row. */
int store_maildir_msg_path(char *out, size_t outsz, const char *dir,
                           const struct store_msg_row *row);
/* Opens a message file for reading, looking for it under another name
 * (flags renamed by someone else) if the indexed one is gone. */
int store_maildir_msg_open(struct store_account *acct, const char *dir,
                           const struct store_msg_row *row);
/* Renames a message file to carry `flags`/`keywords` (moving it to cur/).
 * 0, or -1 with errno. */
int store_maildir_msg_rename(struct store_account *acct, const char *dir,
                             const struct store_msg_row *row, unsigned flags,
                             uint32_t keywords);
/* Removes a message file. ENOENT counts as done. */
int store_maildir_msg_unlink(struct store_account *acct, const char *dir,
                             const struct store_msg_row *row);

enum store_maildir_sync_mode {
	STORE_SYNC_NEW,     /* adopt files in new/ the index lacks */
	STORE_SYNC_FULL,    /* reconcile new/ and cur/ with the index */
	STORE_SYNC_REBUILD, /* fill an empty index: keep the files' U= */
};
/* Brings the index in line with the mailbox's files; runs inside a write
 * transaction (which it opens). */
enum store_result store_maildir_sync(struct store_account *acct, int64_t mbox,
                                     const char *dir,
                                     enum store_maildir_sync_mode mode,
                                     const char **error_r);
/* True if new/ holds a file the index does not know (cheap check done
 * without the write lock). */
bool store_maildir_new_has_unknown(struct store_account *acct, int64_t mbox,
                                   const char *dir);
/* Moves to tmp/ the files in <dir>/new whose U= is at or above `uidnext`
 * and below `uid_ceiling` and that are one of `inodes`
 * (store_deliver_clear_strays, under the write lock); *moved_r counts
 * them. 0, or -1 with errno set. */
int store_maildir_clear_strays(struct store_account *acct, const char *dir,
                               uint32_t uidnext, uint32_t uid_ceiling,
                               const struct store_inode *inodes, size_t ninodes,
                               unsigned *moved_r);
/* mtime of <dir>/cur in nanoseconds, or -1. */
int64_t store_maildir_cur_mtime(struct store_account *acct, const char *dir);

/* Keeps the index's record of cur/'s mtime current across postern's own
 * changes, so they do not make the next open scan cur/: begin before the
 * first change to cur/ (under the write lock), end after the last. */
struct store_guard {
	int64_t before;
	bool clean;
};
void store_guard_begin(struct store_account *acct, const char *dir,
                       const struct store_mbox_row *row, struct store_guard *g);
int store_guard_end(struct store_account *acct, int64_t mbox, const char *dir,
                    const struct store_guard *g);

/* Lists the folder directories of the account root (".A.B" entries that
 * hold a cur/), calling cb with each decoded name. */
int store_maildir_list_folders(struct store_account *acct,
                               void (*cb)(void *ctx, const char *name),
                               void *ctx);

/* --- mailbox.c ------------------------------------------------------------
 */

/* Creates one mailbox (directory, uidlist, row) inside a transaction.
 * An existing uidlist (folder left by a lost index) is honoured. */
enum store_result store_mbox_create_one(struct store_account *acct,
                                        const char *name, const char **error_r);
/* Makes the index's mailbox list match the folder directories (with
 * `rebuild`, under the lock whatever it finds). Sets *folders_r if the
 * account has folders besides INBOX. */
enum store_result store_mbox_reconcile(struct store_account *acct, bool rebuild,
                                       bool *folders_r, const char **error_r);
/* Points a handle at its mailbox's current name and folder (another
 * session may have renamed it). */
void store_mbox_follow(struct store_mailbox *mbox,
                       const struct store_mbox_row *row);
/* Opens a handle on a mailbox row found by name (normalised). */
enum store_result store_mbox_lookup(struct store_account *acct,
                                    const char *name,
                                    struct store_mbox_row *row, char *dir,
                                    size_t dirsz, const char **error_r);

#endif
