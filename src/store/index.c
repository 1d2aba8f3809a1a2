/*
 * index — the per-account SQLite index of the local store
 * (<account>/postern-index.sqlite, schema version 2, docs/store.md).
 *
 * WAL mode with synchronous=NORMAL: a commit appends to the WAL without
 * fsync, and the caller's flush of the file system (the queue role's
 * syncfs, store_account_sync()) makes the committed frames durable; a
 * power cut before that loses at most the unflushed transactions, never
 * the database. Writers take the write lock at the start of their
 * transaction (BEGIN IMMEDIATE) and wait for it up to
 * STORE_BUSY_TIMEOUT_MS, so no transaction fails half-way on a lock.
 *
 * Everything here can be derived again from the Maildir (maildir.c
 * rebuilds it), so a lost or corrupt index costs a scan, never mail.
 */
#include "store/store_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/xalloc.h"
#include "log/log.h"

#define INDEX_VERSION 2

static const char *const store_index_schema =
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
        "CREATE TABLE account(id INTEGER PRIMARY KEY CHECK (id = 1),"
        " last_uidvalidity INTEGER NOT NULL);"
        "CREATE TABLE mailbox(id INTEGER PRIMARY KEY,"
        " name TEXT NOT NULL UNIQUE, uidvalidity INTEGER NOT NULL,"
        " uidnext INTEGER NOT NULL, highestmodseq INTEGER NOT NULL,"
        " uid_limit INTEGER NOT NULL, modseq_limit INTEGER NOT NULL,"
        " cur_mtime INTEGER NOT NULL DEFAULT -1,"
        " keywords TEXT NOT NULL DEFAULT '',"
        " bytes INTEGER NOT NULL DEFAULT 0,"
        " messages INTEGER NOT NULL DEFAULT 0);"
        "CREATE TABLE message(mailbox INTEGER NOT NULL,"
        " uid INTEGER NOT NULL, base TEXT NOT NULL,"
        " in_cur INTEGER NOT NULL, flags INTEGER NOT NULL,"
        " keywords INTEGER NOT NULL, internal_date INTEGER NOT NULL,"
        " size INTEGER NOT NULL, vsize INTEGER NOT NULL,"
        " modseq INTEGER NOT NULL, envelope TEXT, bodystructure TEXT,"
        " body TEXT, h_date TEXT, h_subject TEXT, h_from TEXT, h_to TEXT,"
        " h_cc TEXT, h_message_id TEXT, h_references TEXT);"
        "CREATE UNIQUE INDEX message_uid ON message(mailbox, uid);"
        "CREATE INDEX message_modseq ON message(mailbox, modseq);"
        "CREATE INDEX message_new ON message(mailbox, uid) WHERE in_cur = 0;"
        "CREATE TABLE expunged(mailbox INTEGER NOT NULL,"
        " uid INTEGER NOT NULL, modseq INTEGER NOT NULL,"
        " PRIMARY KEY (mailbox, uid)) WITHOUT ROWID;"
        "CREATE INDEX expunged_modseq ON expunged(mailbox, modseq);"
        "INSERT INTO account VALUES (1, 0);"
        "INSERT INTO meta VALUES ('version', 2);";

#define MBOX_COLS                                                              \
	"id, name, uidvalidity, uidnext, highestmodseq, uid_limit, "           \
	"modseq_limit, cur_mtime, keywords"
#define MSG_COLS                                                               \
	"uid, base, in_cur, flags, keywords, internal_date, size, vsize, "     \
	"modseq"
#define CACHE_COLS                                                             \
	"envelope, bodystructure, body, h_date, h_subject, h_from, h_to, "     \
	"h_cc, h_message_id, h_references"

static const char *const store_index_sql[ST_COUNT] = {
        [ST_MBOX_BY_NAME] = "SELECT " MBOX_COLS " FROM mailbox WHERE name = ?1",
        [ST_MBOX_BY_ID] = "SELECT " MBOX_COLS " FROM mailbox WHERE id = ?1",
        [ST_MBOX_ALL] = "SELECT id, name FROM mailbox"
                        " ORDER BY name <> 'INBOX', name",
        [ST_MBOX_INSERT] = "INSERT INTO mailbox(name, uidvalidity, uidnext,"
                           " highestmodseq, uid_limit, modseq_limit, keywords)"
                           " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        [ST_MBOX_SET_COUNTERS] =
                "UPDATE mailbox SET uidnext = ?2, highestmodseq = ?3,"
                " uid_limit = ?4, modseq_limit = ?5 WHERE id = ?1",
        [ST_MBOX_SET_KEYWORDS] = "UPDATE mailbox SET keywords = ?2"
                                 " WHERE id = ?1",
        [ST_MBOX_SET_CUR_MTIME] = "UPDATE mailbox SET cur_mtime = ?2"
                                  " WHERE id = ?1",
        [ST_MBOX_DELETE] = "DELETE FROM mailbox WHERE id = ?1",
        [ST_MBOX_RENAME] = "UPDATE mailbox SET name = ?2 WHERE id = ?1",
        [ST_MBOX_COUNTS] = "SELECT count(*), total((flags & 1) = 0),"
                           " total(in_cur = 0), total(vsize)"
                           " FROM message WHERE mailbox = ?1",
        [ST_ACCT_GET] = "SELECT (SELECT coalesce(sum(bytes), 0) FROM mailbox),"
                        " (SELECT coalesce(sum(messages), 0) FROM mailbox),"
                        " last_uidvalidity FROM account WHERE id = 1",
        [ST_MBOX_ADD_USAGE] = "UPDATE mailbox SET bytes = bytes + ?2,"
                              " messages = messages + ?3 WHERE id = ?1",
        [ST_ACCT_SET_UIDVALIDITY] = "UPDATE account SET last_uidvalidity ="
                                    " ?1 WHERE id = 1",
        [ST_MSG_INSERT] =
                "INSERT INTO message(mailbox, " MSG_COLS ", " CACHE_COLS ")"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,"
                " ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
        [ST_MSG_BY_UID] = "SELECT " MSG_COLS " FROM message"
                          " WHERE mailbox = ?1 AND uid = ?2",
        [ST_MSG_RANGE] = "SELECT " MSG_COLS " FROM message WHERE mailbox ="
                         " ?1 AND uid BETWEEN ?2 AND ?3 ORDER BY uid",
        [ST_MSG_RANGE_CACHE] =
                "SELECT " MSG_COLS ", " CACHE_COLS " FROM message WHERE"
                " mailbox = ?1 AND uid BETWEEN ?2 AND ?3 ORDER BY uid",
        [ST_MSG_ALL] = "SELECT " MSG_COLS " FROM message WHERE mailbox = ?1"
                       " ORDER BY uid",
        [ST_MSG_NEW] = "SELECT " MSG_COLS " FROM message WHERE mailbox = ?1"
                       " AND in_cur = 0 ORDER BY uid",
        [ST_MSG_SET_FLAGS] = "UPDATE message SET flags = ?3, keywords = ?4,"
                             " modseq = ?5 WHERE mailbox = ?1 AND uid = ?2",
        [ST_MSG_SET_PLACE] = "UPDATE message SET base = ?3, in_cur = ?4"
                             " WHERE mailbox = ?1 AND uid = ?2",
        [ST_MSG_DELETE] = "DELETE FROM message WHERE mailbox = ?1 AND"
                          " uid = ?2",
        [ST_MSG_DELETE_MBOX] = "DELETE FROM message WHERE mailbox = ?1",
        [ST_MSG_SINCE] = "SELECT " MSG_COLS " FROM message WHERE mailbox ="
                         " ?1 AND modseq > ?2 ORDER BY uid",
        [ST_MSG_SET_CACHE] =
                "UPDATE message SET envelope = coalesce(?3, envelope),"
                " bodystructure = coalesce(?4, bodystructure),"
                " body = coalesce(?5, body),"
                " h_date = coalesce(?6, h_date),"
                " h_subject = coalesce(?7, h_subject),"
                " h_from = coalesce(?8, h_from), h_to = coalesce(?9, h_to),"
                " h_cc = coalesce(?10, h_cc),"
                " h_message_id = coalesce(?11, h_message_id),"
                " h_references = coalesce(?12, h_references)"
                " WHERE mailbox = ?1 AND uid = ?2",
        [ST_MSG_COPY_CACHE] =
                "UPDATE message SET (" CACHE_COLS ") = (SELECT " CACHE_COLS
                " FROM message WHERE mailbox = ?3 AND uid = ?4)"
                " WHERE mailbox = ?1 AND uid = ?2",
        [ST_EXP_INSERT] = "INSERT OR REPLACE INTO expunged(mailbox, uid,"
                          " modseq) VALUES (?1, ?2, ?3)",
        [ST_EXP_SINCE] = "SELECT uid, modseq FROM expunged WHERE mailbox ="
                         " ?1 AND modseq > ?2 ORDER BY uid",
        [ST_EXP_DELETE_MBOX] = "DELETE FROM expunged WHERE mailbox = ?1",
};

/* --- opening ------------------------------------------------------------- */

static bool
rc_is_corrupt(int rc)
{
	rc &= 0xff;
	return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB;
}

/* Reads the schema version: 1 on success with *version_r, 0 when there is
 * no schema at all, -1 on error (sets *rc_r). */
static int
store_index_read_version(sqlite3 *db, int64_t *version_r, int *rc_r)
{
	sqlite3_stmt *st = NULL;
	int rc, found = 0;

	rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1,
	                        &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		found = sqlite3_column_int(st, 0) > 0;
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (rc != SQLITE_OK || !found) {
		*rc_r = rc;
		return rc == SQLITE_OK ? 0 : -1;
	}
	rc = sqlite3_prepare_v2(db,
	                        "SELECT value FROM meta WHERE key = 'version'",
	                        -1, &st, NULL);
	*version_r = -1;
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
		*version_r = sqlite3_column_int64(st, 0);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		rc = SQLITE_OK;
	sqlite3_finalize(st);
	*rc_r = rc;
	if (rc != SQLITE_OK && (rc & 0xff) == SQLITE_ERROR) {
		/* Tables, but not ours. */
		*version_r = -1;
		*rc_r = SQLITE_OK;
		return 1;
	}
	return rc == SQLITE_OK ? 1 : -1;
}

enum store_index_open_result
store_index_open(struct store_account *acct, const char **error_r)
{
	char *path = xasprintf("%s/%s", acct->root, STORE_INDEX_FILE);
	char *journal = NULL;
	int64_t version = 0;
	struct stat fst;
	int rc, have;

	rc = sqlite3_open_v2(path, &acct->db,
	                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                             SQLITE_OPEN_NOMUTEX,
	                     NULL);
	free(path);
	if (rc != SQLITE_OK) {
		*error_r = store_errorf(acct, "open index: %s",
		                        sqlite3_errstr(rc));
		store_index_close(acct);
		return rc_is_corrupt(rc) ? STORE_INDEX_OPEN_CORRUPT
		                         : STORE_INDEX_OPEN_ERROR;
	}
	sqlite3_extended_result_codes(acct->db, 1);
	sqlite3_busy_timeout(acct->db, STORE_BUSY_TIMEOUT_MS);
	have = store_index_read_version(acct->db, &version, &rc);
	if (have < 0) {
		*error_r = store_errorf(acct, "read index: %s",
		                        sqlite3_errmsg(acct->db));
		store_index_close(acct);
		return rc_is_corrupt(rc) ? STORE_INDEX_OPEN_CORRUPT
		                         : STORE_INDEX_OPEN_ERROR;
	}
	if (have > 0 && version != INDEX_VERSION) {
		*error_r = store_errorf(acct, "index version %lld, not %d",
		                        (long long)version, INDEX_VERSION);
		store_index_close(acct);
		return STORE_INDEX_OPEN_CORRUPT;
	}
	/* WAL is persistent once set; synchronous is per connection. */
	rc = sqlite3_exec(acct->db, "PRAGMA synchronous = NORMAL", NULL, NULL,
	                  NULL);
	if (rc == SQLITE_OK && have > 0) {
		sqlite3_stmt *st = NULL;

		rc = sqlite3_prepare_v2(acct->db, "PRAGMA journal_mode = WAL",
		                        -1, &st, NULL);
		if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
			const unsigned char *m = sqlite3_column_text(st, 0);

			journal = xstrdup(m != NULL ? (const char *)m : "");
		}
		rc = sqlite3_finalize(st);
		if (rc == SQLITE_OK && journal != NULL &&
		    strcasecmp(journal, "wal") != 0)
			log_warn("account=%s/%s index journal mode is %s, not "
			         "wal",
			         acct->domain, acct->local, journal);
		free(journal);
	}
	if (rc != SQLITE_OK) {
		*error_r = store_errorf(acct, "set up index: %s",
		                        sqlite3_errmsg(acct->db));
		store_index_close(acct);
		return rc_is_corrupt(rc) ? STORE_INDEX_OPEN_CORRUPT
		                         : STORE_INDEX_OPEN_ERROR;
	}
	/* Which file this handle has: another process may replace it
	 * (store_account_is_stale()). */
	if (fstatat(acct->root_fd, STORE_INDEX_FILE, &fst, 0) == 0) {
		acct->store_index_dev = fst.st_dev;
		acct->store_index_ino = fst.st_ino;
	}
	return have > 0 ? STORE_INDEX_OPEN_OK : STORE_INDEX_OPEN_EMPTY;
}

void
store_index_close(struct store_account *acct)
{
	for (size_t i = 0; i < ST_COUNT; i++) {
		sqlite3_finalize(acct->stmts[i]);
		acct->stmts[i] = NULL;
	}
	if (acct->db != NULL)
		sqlite3_close_v2(acct->db);
	acct->db = NULL;
	acct->txn_depth = 0;
}

int
store_index_create_schema(struct store_account *acct)
{
	sqlite3_stmt *st = NULL;
	int rc, n = 0;

	/* Another process may have created it while we waited for the
	 * write lock. */
	rc = sqlite3_prepare_v2(acct->db, "SELECT count(*) FROM sqlite_master",
	                        -1, &st, NULL);
	if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_OK)
		return -1;
	if (n > 0)
		return 1;
	if (sqlite3_exec(acct->db, store_index_schema, NULL, NULL, NULL) !=
	    SQLITE_OK)
		return -1;
	return 0;
}

int
store_index_set_wal(struct store_account *acct)
{
	return sqlite3_exec(acct->db, "PRAGMA journal_mode = WAL", NULL, NULL,
	                    NULL) == SQLITE_OK
	               ? 0
	               : -1;
}

/* --- errors and statements ----------------------------------------------- */

enum store_result
store_index_fail(struct store_account *acct, const char *what,
                 const char **error_r)
{
	int rc = sqlite3_extended_errcode(acct->db);
	int sys = sqlite3_system_errno(acct->db);
	/* The system errno is only this failure's for an I/O error. */
	int err = (rc & 0xff) == SQLITE_FULL                ? ENOSPC
	          : (rc & 0xff) == SQLITE_IOERR && sys != 0 ? sys
	                                                    : EIO;

	*error_r = store_errorf(acct, "index %s: %s", what,
	                        sqlite3_errmsg(acct->db));
	log_err("account=%s/%s event=index-error %s", acct->domain, acct->local,
	        *error_r);
	if (rc_is_corrupt(rc)) {
		/* Rebuild at the next open (account.c checks the mark). */
		int fd = openat(acct->root_fd, STORE_REBUILD_FILE,
		                O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

		if (fd >= 0)
			close(fd);
	}
	errno = err;
	return STORE_TEMPFAIL;
}

int
store_index_prepare_all(struct store_account *acct)
{
	for (size_t i = 0; i < ST_COUNT; i++) {
		if (acct->stmts[i] == NULL &&
		    sqlite3_prepare_v3(acct->db, store_index_sql[i], -1,
		                       SQLITE_PREPARE_PERSISTENT,
		                       &acct->stmts[i], NULL) != SQLITE_OK)
			return -1;
	}
	return 0;
}

sqlite3_stmt *
store_index_stmt(struct store_account *acct, enum store_index_stmt_id id)
{
	sqlite3_stmt *st = acct->stmts[id];

	if (st == NULL)
		panic("store: statement %d used before the index was ready",
		      (int)id);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

int
store_index_exec_stmt(struct store_account *acct, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	(void)acct;
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* --- transactions ---------------------------------------------------------
 */

enum store_result
store_index_begin(struct store_account *acct, const char **error_r)
{
	const char *sql =
	        acct->txn_depth == 0 ? "BEGIN IMMEDIATE" : "SAVEPOINT s";

	if (acct->read_txn)
		store_index_read_end(acct);
	if (acct->txn_depth > 0 && sqlite3_get_autocommit(acct->db)) {
		/* SQLite rolled the whole transaction back after an error
		 * (disk full, I/O): nothing more may run outside it. */
		*error_r = "the transaction was rolled back";
		return STORE_TEMPFAIL;
	}
	if (acct->txn_depth == 0 && store_account_is_stale(acct)) {
		/* Writing to an index nobody else reads would lose it. */
		*error_r = "the index was replaced: reopen the account";
		return STORE_TEMPFAIL;
	}
	if (sqlite3_exec(acct->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return store_index_fail(acct, "begin", error_r);
	acct->txn_depth++;
	return STORE_OK;
}

enum store_result
store_index_commit(struct store_account *acct, const char **error_r)
{
	const char *sql;

	if (acct->txn_depth == 0)
		panic("store: commit outside a transaction");
	sql = acct->txn_depth == 1 ? "COMMIT" : "RELEASE s";
	if (sqlite3_exec(acct->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		enum store_result r = store_index_fail(acct, "commit", error_r);
		int err = errno;

		store_index_rollback(acct);
		errno = err;
		return r;
	}
	acct->txn_depth--;
	return STORE_OK;
}

void
store_index_rollback(struct store_account *acct)
{
	const char *sql;

	if (acct->txn_depth == 0)
		panic("store: rollback outside a transaction");
	sql = acct->txn_depth == 1 ? "ROLLBACK" : "ROLLBACK TO s; RELEASE s";
	acct->txn_depth--;
	if (sqlite3_exec(acct->db, sql, NULL, NULL, NULL) != SQLITE_OK &&
	    sqlite3_get_autocommit(acct->db) == 0 && acct->txn_depth == 0)
		log_err("account=%s/%s index rollback: %s", acct->domain,
		        acct->local, sqlite3_errmsg(acct->db));
}

enum store_result
store_index_finish(struct store_account *acct, enum store_result r,
                   const char **error_r)
{
	if (r != STORE_OK) {
		store_index_rollback(acct);
		return r;
	}
	return store_index_commit(acct, error_r);
}

enum store_result
store_index_read_begin(struct store_account *acct, const char **error_r)
{
	if (acct->txn_depth > 0 || acct->read_txn)
		return STORE_OK;
	if (sqlite3_exec(acct->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return store_index_fail(acct, "begin", error_r);
	acct->read_txn = true;
	return STORE_OK;
}

void
store_index_read_end(struct store_account *acct)
{
	if (!acct->read_txn)
		return;
	acct->read_txn = false;
	sqlite3_exec(acct->db, "COMMIT", NULL, NULL, NULL);
}

/* --- mailboxes ------------------------------------------------------------
 */

void
store_mbox_row_deinit(struct store_mbox_row *row)
{
	for (size_t i = 0; i < row->nkeywords; i++)
		XFREE(row->keywords[i]);
	row->nkeywords = 0;
}

static void
mbox_row_read(struct store_account *acct, sqlite3_stmt *st,
              struct store_mbox_row *row)
{
	const unsigned char *name = sqlite3_column_text(st, 1);
	const unsigned char *kw = sqlite3_column_text(st, 8);
	int n;

	memset(row, 0, sizeof(*row));
	row->id = sqlite3_column_int64(st, 0);
	snprintf(row->name, sizeof(row->name), "%s",
	         name != NULL ? (const char *)name : "");
	row->uidvalidity = (uint32_t)sqlite3_column_int64(st, 2);
	row->uidnext = (uint32_t)sqlite3_column_int64(st, 3);
	row->highestmodseq = (uint64_t)sqlite3_column_int64(st, 4);
	row->uid_limit = (uint32_t)sqlite3_column_int64(st, 5);
	row->modseq_limit = (uint64_t)sqlite3_column_int64(st, 6);
	row->cur_mtime = sqlite3_column_int64(st, 7);
	n = store_keywords_parse_list(kw != NULL ? (const char *)kw : "",
	                              row->keywords);
	if (n < 0) {
		log_warn("account=%s/%s mailbox=%s unusable keyword list",
		         acct->domain, acct->local, row->name);
		n = 0;
	}
	row->nkeywords = (size_t)n;
}

static enum store_result
mbox_get(struct store_account *acct, sqlite3_stmt *st,
         struct store_mbox_row *row, const char **error_r)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW) {
		mbox_row_read(acct, st, row);
		sqlite3_reset(st);
		return STORE_OK;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE) {
		*error_r = "no such mailbox";
		return STORE_NOTFOUND;
	}
	return store_index_fail(acct, "read mailbox", error_r);
}

enum store_result
store_index_mbox_get(struct store_account *acct, const char *name,
                     struct store_mbox_row *row, const char **error_r)
{
	sqlite3_stmt *st = store_index_stmt(acct, ST_MBOX_BY_NAME);

	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	return mbox_get(acct, st, row, error_r);
}

enum store_result
store_index_mbox_get_id(struct store_account *acct, int64_t id,
                        struct store_mbox_row *row, const char **error_r)
{
	sqlite3_stmt *st = store_index_stmt(acct, ST_MBOX_BY_ID);

	sqlite3_bind_int64(st, 1, id);
	return mbox_get(acct, st, row, error_r);
}

int
store_index_mbox_insert(struct store_account *acct, const char *name,
                        const struct store_uidlist *ul, uint32_t uidnext,
                        int64_t *id_r)
{
	sqlite3_stmt *st = store_index_stmt(acct, ST_MBOX_INSERT);
	uint64_t hms = ul->modseq_limit > 1 ? ul->modseq_limit - 1 : 1;

	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, ul->uidvalidity);
	sqlite3_bind_int64(st, 3, uidnext);
	sqlite3_bind_int64(st, 4, (int64_t)hms);
	sqlite3_bind_int64(st, 5, ul->uid_limit);
	sqlite3_bind_int64(st, 6, (int64_t)ul->modseq_limit);
	sqlite3_bind_text(st, 7, "", -1, SQLITE_STATIC);
	if (store_index_exec_stmt(acct, st) < 0)
		return -1;
	*id_r = sqlite3_last_insert_rowid(acct->db);
	return 0;
}

int
store_index_mbox_save_counters(struct store_account *acct,
                               const struct store_mbox_row *row)
{
	sqlite3_stmt *st = store_index_stmt(acct, ST_MBOX_SET_COUNTERS);

	sqlite3_bind_int64(st, 1, row->id);
	sqlite3_bind_int64(st, 2, row->uidnext);
	sqlite3_bind_int64(st, 3, (int64_t)row->highestmodseq);
	sqlite3_bind_int64(st, 4, row->uid_limit);
	sqlite3_bind_int64(st, 5, (int64_t)row->modseq_limit);
	return store_index_exec_stmt(acct, st);
}

/* Extends the reservation in postern-uidlist past `uid` and `modseq`:
 * limits only ever grow, also when a rolled-back transaction left the
 * file ahead of the index. */
static int
store_index_reserve(struct store_account *acct, const char *dir,
                    struct store_mbox_row *row, uint32_t uid, uint64_t modseq)
{
	struct store_uidlist ul = {0}, disk;

	ul.uidvalidity = row->uidvalidity;
	ul.uid_limit = uid > UINT32_MAX - STORE_UID_BLOCK
	                       ? UINT32_MAX
	                       : uid + STORE_UID_BLOCK;
	ul.modseq_limit = modseq + STORE_MODSEQ_BLOCK;
	if (ul.uid_limit < row->uid_limit)
		ul.uid_limit = row->uid_limit;
	if (ul.modseq_limit < row->modseq_limit)
		ul.modseq_limit = row->modseq_limit;
	if (store_maildir_uidlist_read(acct, dir, &disk) > 0 &&
	    disk.uidvalidity == ul.uidvalidity) {
		if (disk.uid_limit > ul.uid_limit)
			ul.uid_limit = disk.uid_limit;
		if (disk.modseq_limit > ul.modseq_limit)
			ul.modseq_limit = disk.modseq_limit;
	}
	if (store_maildir_uidlist_write(acct, dir, &ul) < 0)
		return -1;
	row->uid_limit = ul.uid_limit;
	row->modseq_limit = ul.modseq_limit;
	return 0;
}

int
store_index_mbox_reserve(struct store_account *acct, const char *dir,
                         struct store_mbox_row *row)
{
	return store_index_reserve(acct, dir, row, row->uidnext,
	                           row->highestmodseq + 1);
}

int
store_index_mbox_next_uid(struct store_account *acct, const char *dir,
                          struct store_mbox_row *row, uint32_t *uid_r)
{
	if (row->uidnext == 0 || row->uidnext >= UINT32_MAX) {
		/* RFC 3501 2.3.1.1: the UID space is spent; a new
		 * UIDVALIDITY would be needed. */
		errno = EOVERFLOW;
		return -1;
	}
	if (row->uidnext >= row->uid_limit &&
	    store_index_reserve(acct, dir, row, row->uidnext,
	                        row->highestmodseq) < 0)
		return -1;
	*uid_r = row->uidnext++;
	return 0;
}

int
store_index_mbox_next_modseq(struct store_account *acct, const char *dir,
                             struct store_mbox_row *row, uint64_t *modseq_r)
{
	uint64_t next = row->highestmodseq + 1;

	if (next >= row->modseq_limit &&
	    store_index_reserve(acct, dir, row, row->uidnext, next) < 0)
		return -1;
	row->highestmodseq = next;
	*modseq_r = next;
	return 0;
}

enum store_result
store_index_mbox_keywords(struct store_account *acct, const char *dir,
                          struct store_mbox_row *row, const char *const *names,
                          size_t n, bool add, uint32_t *mask_r,
                          const char **error_r)
{
	uint32_t mask = 0;
	size_t before = row->nkeywords;
	sqlite3_stmt *st;
	char *list;
	int rc;

	for (size_t i = 0; i < n; i++) {
		size_t k;

		for (k = 0; k < row->nkeywords; k++) {
			if (strcasecmp(row->keywords[k], names[i]) == 0)
				break;
		}
		if (k == row->nkeywords) {
			if (!add)
				continue;
			if (!store_keyword_valid(names[i])) {
				*error_r = "invalid keyword";
				return STORE_PERMFAIL;
			}
			if (row->nkeywords == STORE_KEYWORDS_MAX) {
				*error_r = "too many keywords in this mailbox";
				return STORE_LIMIT;
			}
			row->keywords[row->nkeywords++] = xstrdup(names[i]);
		}
		mask |= UINT32_C(1) << k;
	}
	*mask_r = mask;
	if (row->nkeywords == before)
		return STORE_OK;
	/* The file first: it is what a rebuild reads the letters with. */
	if (store_maildir_keywords_write(acct, dir, row->keywords,
	                                 row->nkeywords) < 0) {
		*error_r = store_errorf(acct, "write %s: %s",
		                        STORE_KEYWORDS_FILE, strerror(errno));
		return STORE_TEMPFAIL;
	}
	list = store_keywords_format_list(row->keywords, row->nkeywords);
	st = store_index_stmt(acct, ST_MBOX_SET_KEYWORDS);
	sqlite3_bind_int64(st, 1, row->id);
	sqlite3_bind_text(st, 2, list, -1, SQLITE_TRANSIENT);
	rc = store_index_exec_stmt(acct, st);
	free(list);
	if (rc < 0)
		return store_index_fail(acct, "save keywords", error_r);
	return STORE_OK;
}

enum store_result
store_index_mbox_status(struct store_account *acct,
                        const struct store_mbox_row *row,
                        struct store_mailbox_status *status,
                        const char **error_r)
{
	sqlite3_stmt *st = store_index_stmt(acct, ST_MBOX_COUNTS);
	int rc;

	memset(status, 0, sizeof(*status));
	status->uidvalidity = row->uidvalidity;
	status->uidnext = row->uidnext;
	status->highestmodseq = row->highestmodseq;
	sqlite3_bind_int64(st, 1, row->id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return store_index_fail(acct, "count messages", error_r);
	}
	status->messages = (uint32_t)sqlite3_column_int64(st, 0);
	status->unseen = (uint32_t)sqlite3_column_double(st, 1);
	status->recent = (uint32_t)sqlite3_column_double(st, 2);
	status->size = (uint64_t)sqlite3_column_double(st, 3);
	sqlite3_reset(st);
	return STORE_OK;
}

/* --- the account row ------------------------------------------------------ */

/* Usage is counted per mailbox, in the row that each delivery updates
 * anyway (its UIDNEXT), so a delivery writes no page of its own for it. */
static int
store_index_mbox_add_usage(struct store_account *acct, int64_t mbox,
                           int64_t bytes, int64_t messages)
{
	sqlite3_stmt *st = store_index_stmt(acct, ST_MBOX_ADD_USAGE);

	sqlite3_bind_int64(st, 1, mbox);
	sqlite3_bind_int64(st, 2, bytes);
	sqlite3_bind_int64(st, 3, messages);
	return store_index_exec_stmt(acct, st);
}

int
store_index_account_get(struct store_account *acct, uint64_t *bytes_r,
                        uint64_t *messages_r, uint32_t *last_uidvalidity_r)
{
	sqlite3_stmt *st = store_index_stmt(acct, ST_ACCT_GET);
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW) {
		int64_t b = sqlite3_column_int64(st, 0);
		int64_t m = sqlite3_column_int64(st, 1);

		if (bytes_r != NULL)
			*bytes_r = b > 0 ? (uint64_t)b : 0;
		if (messages_r != NULL)
			*messages_r = m > 0 ? (uint64_t)m : 0;
		if (last_uidvalidity_r != NULL)
			*last_uidvalidity_r =
			        (uint32_t)sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

int
store_index_new_uidvalidity(struct store_account *acct, uint32_t *uidv_r)
{
	uint32_t last, now = (uint32_t)time(NULL), v;
	sqlite3_stmt *st;

	if (store_index_account_get(acct, NULL, NULL, &last) < 0)
		return -1;
	v = now > last ? now : last + 1;
	if (v == 0)
		v = 1;
	st = store_index_stmt(acct, ST_ACCT_SET_UIDVALIDITY);
	sqlite3_bind_int64(st, 1, v);
	if (store_index_exec_stmt(acct, st) < 0)
		return -1;
	*uidv_r = v;
	return 0;
}

int
store_index_note_uidvalidity(struct store_account *acct, uint32_t uidv)
{
	uint32_t last;
	sqlite3_stmt *st;

	if (store_index_account_get(acct, NULL, NULL, &last) < 0)
		return -1;
	if (uidv <= last)
		return 0;
	st = store_index_stmt(acct, ST_ACCT_SET_UIDVALIDITY);
	sqlite3_bind_int64(st, 1, uidv);
	return store_index_exec_stmt(acct, st);
}

/* --- messages ---------------------------------------------------------------
 */

void
store_msg_row_deinit(struct store_msg_row *row)
{
	XFREE(row->base);
}

void
store_index_msg_row_read(sqlite3_stmt *st, struct store_msg_row *row)
{
	const unsigned char *base = sqlite3_column_text(st, 1);

	row->uid = (uint32_t)sqlite3_column_int64(st, 0);
	row->base = xstrdup(base != NULL ? (const char *)base : "");
	row->in_cur = sqlite3_column_int(st, 2) != 0;
	row->flags = (unsigned)sqlite3_column_int(st, 3) & STORE_FLAGS_ALL;
	row->keywords = (uint32_t)sqlite3_column_int64(st, 4);
	row->internal_date = sqlite3_column_int64(st, 5);
	row->size = (uint64_t)sqlite3_column_int64(st, 6);
	row->vsize = (uint64_t)sqlite3_column_int64(st, 7);
	row->modseq = (uint64_t)sqlite3_column_int64(st, 8);
}

static void
bind_opt_text(sqlite3_stmt *st, int col, const char *s)
{
	if (s != NULL)
		sqlite3_bind_text(st, col, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, col);
}

int
store_index_msg_insert(struct store_account *acct, int64_t mbox,
                       const struct store_msg_row *row,
                       const struct store_cache_data *cache)
{
	sqlite3_stmt *st = store_index_stmt(acct, ST_MSG_INSERT);

	sqlite3_bind_int64(st, 1, mbox);
	sqlite3_bind_int64(st, 2, row->uid);
	sqlite3_bind_text(st, 3, row->base, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, row->in_cur);
	sqlite3_bind_int(st, 5, (int)row->flags);
	sqlite3_bind_int64(st, 6, row->keywords);
	sqlite3_bind_int64(st, 7, row->internal_date);
	sqlite3_bind_int64(st, 8, (int64_t)row->size);
	sqlite3_bind_int64(st, 9, (int64_t)row->vsize);
	sqlite3_bind_int64(st, 10, (int64_t)row->modseq);
	if (cache != NULL) {
		bind_opt_text(st, 11, cache->envelope);
		bind_opt_text(st, 12, cache->bodystructure);
		bind_opt_text(st, 13, cache->body);
		for (int i = 0; i < STORE_HDR_COUNT; i++)
			bind_opt_text(st, 14 + i, cache->hdr[i]);
	}
	if (store_index_exec_stmt(acct, st) < 0)
		return -1;
	return store_index_mbox_add_usage(acct, mbox, (int64_t)row->size, 1);
}

int
store_index_msg_get(struct store_account *acct, int64_t mbox, uint32_t uid,
                    struct store_msg_row *row)
{
	sqlite3_stmt *st = store_index_stmt(acct, ST_MSG_BY_UID);
	int rc;

	sqlite3_bind_int64(st, 1, mbox);
	sqlite3_bind_int64(st, 2, uid);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		store_index_msg_row_read(st, row);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : -1;
}

int
store_index_msg_set_flags(struct store_account *acct, int64_t mbox,
                          uint32_t uid, unsigned flags, uint32_t keywords,
                          uint64_t modseq)
{
	sqlite3_stmt *st = store_index_stmt(acct, ST_MSG_SET_FLAGS);

	sqlite3_bind_int64(st, 1, mbox);
	sqlite3_bind_int64(st, 2, uid);
	sqlite3_bind_int(st, 3, (int)flags);
	sqlite3_bind_int64(st, 4, keywords);
	sqlite3_bind_int64(st, 5, (int64_t)modseq);
	return store_index_exec_stmt(acct, st);
}

int
store_index_msg_set_place(struct store_account *acct, int64_t mbox,
                          uint32_t uid, const char *base, bool in_cur)
{
	sqlite3_stmt *st = store_index_stmt(acct, ST_MSG_SET_PLACE);

	sqlite3_bind_int64(st, 1, mbox);
	sqlite3_bind_int64(st, 2, uid);
	sqlite3_bind_text(st, 3, base, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, in_cur);
	return store_index_exec_stmt(acct, st);
}

int
store_index_msg_expunge(struct store_account *acct, int64_t mbox,
                        const struct store_msg_row *row, uint64_t modseq)
{
	sqlite3_stmt *st = store_index_stmt(acct, ST_MSG_DELETE);

	sqlite3_bind_int64(st, 1, mbox);
	sqlite3_bind_int64(st, 2, row->uid);
	if (store_index_exec_stmt(acct, st) < 0)
		return -1;
	if (sqlite3_changes(acct->db) == 0)
		return 0;
	st = store_index_stmt(acct, ST_EXP_INSERT);
	sqlite3_bind_int64(st, 1, mbox);
	sqlite3_bind_int64(st, 2, row->uid);
	sqlite3_bind_int64(st, 3, (int64_t)modseq);
	if (store_index_exec_stmt(acct, st) < 0)
		return -1;
	return store_index_mbox_add_usage(acct, mbox, -(int64_t)row->size, -1);
}

ssize_t
store_index_msg_load(struct store_account *acct, int64_t mbox, bool only_new,
                     struct store_msg_row **rows_r)
{
	sqlite3_stmt *st =
	        store_index_stmt(acct, only_new ? ST_MSG_NEW : ST_MSG_ALL);
	struct store_msg_row *rows = NULL;
	size_t n = 0, cap = 0;
	int rc;

	sqlite3_bind_int64(st, 1, mbox);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			rows = xrealloc(rows, cap * sizeof(*rows));
		}
		memset(&rows[n], 0, sizeof(rows[n]));
		store_index_msg_row_read(st, &rows[n++]);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		store_index_msg_rows_free(&rows, n);
		return -1;
	}
	*rows_r = rows;
	return (ssize_t)n;
}

void
store_index_msg_rows_free(struct store_msg_row **rows, size_t n)
{
	if (*rows == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		store_msg_row_deinit(&(*rows)[i]);
	XFREE(*rows);
}
