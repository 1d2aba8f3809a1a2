/*
 * message — messages of an open mailbox in the local store: metadata by
 * UID range, bodies for FETCH and RETR, flags (STORE, RFC 3501 6.4.6 and
 * RFC 7162 UNCHANGEDSINCE), EXPUNGE, COPY and MOVE (RFC 6851).
 *
 * Each change is one write transaction: the files are renamed, linked or
 * removed first, then the rows follow, all under the index's write lock
 * (maildir.c says why that keeps scans honest). The changed messages
 * share one new modseq per call. Callbacks run after the commit.
 */
#include "store/store_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/xalloc.h"
#include "log/log.h"

/* A UID or modseq could not be given: postern-uidlist could not be
 * written, or the UID space is spent. */
static enum store_result
store_reserve_fail(struct store_account *acct, const char **error_r)
{
	*error_r = store_errorf(acct, "reserve UIDs: %s", strerror(errno));
	return STORE_TEMPFAIL;
}

/* --- metadata ------------------------------------------------------------- */

static const char *
col_text(sqlite3_stmt *st, int col)
{
	return (const char *)sqlite3_column_text(st, col);
}

enum store_result
store_fetch_meta(struct store_mailbox *mbox, uint32_t lo, uint32_t hi,
                 unsigned what, store_meta_fn *cb, void *ctx,
                 const char **error_r)
{
	struct store_account *acct = mbox->acct;
	bool cached = what != 0;
	sqlite3_stmt *st = store_index_stmt(acct, cached ? ST_MSG_RANGE_CACHE
	                                                 : ST_MSG_RANGE);
	int rc, stop = 0;

	sqlite3_bind_int64(st, 1, mbox->id);
	sqlite3_bind_int64(st, 2, lo);
	sqlite3_bind_int64(st, 3, hi);
	while (stop == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_msg_meta m = {0};

		m.uid = (uint32_t)sqlite3_column_int64(st, 0);
		m.flags = (unsigned)sqlite3_column_int(st, 3) & STORE_FLAGS_ALL;
		m.keywords = (uint32_t)sqlite3_column_int64(st, 4);
		m.internal_date = (time_t)sqlite3_column_int64(st, 5);
		m.size = (uint64_t)sqlite3_column_int64(st, 7);
		m.modseq = (uint64_t)sqlite3_column_int64(st, 8);
		if ((what & STORE_META_ENVELOPE) != 0)
			m.envelope = col_text(st, 9);
		if ((what & STORE_META_BODYSTRUCTURE) != 0)
			m.bodystructure = col_text(st, 10);
		if ((what & STORE_META_BODY) != 0)
			m.body = col_text(st, 11);
		for (int i = 0;
		     (what & STORE_META_HEADERS) != 0 && i < STORE_HDR_COUNT;
		     i++)
			m.hdr[i] = col_text(st, 12 + i);
		stop = cb(ctx, &m);
	}
	sqlite3_reset(st);
	if (stop == 0 && rc != SQLITE_DONE)
		return store_index_fail(acct, "read messages", error_r);
	return STORE_OK;
}

enum store_result
store_cache_update(struct store_mailbox *mbox, uint32_t uid,
                   const struct store_cache *cache, const char **error_r)
{
	struct store_account *acct = mbox->acct;
	sqlite3_stmt *st;
	const char *vals[3 + STORE_HDR_COUNT];
	enum store_result r;

	vals[0] = cache->envelope;
	vals[1] = cache->bodystructure;
	vals[2] = cache->body;
	for (int i = 0; i < STORE_HDR_COUNT; i++)
		vals[3 + i] = cache->hdr[i];
	r = store_index_begin(acct, error_r);
	if (r != STORE_OK)
		return r;
	st = store_index_stmt(acct, ST_MSG_SET_CACHE);
	sqlite3_bind_int64(st, 1, mbox->id);
	sqlite3_bind_int64(st, 2, uid);
	for (int i = 0; i < 3 + STORE_HDR_COUNT; i++) {
		if (vals[i] != NULL)
			sqlite3_bind_text(st, 3 + i, vals[i], -1,
			                  SQLITE_STATIC);
	}
	if (store_index_exec_stmt(acct, st) < 0) {
		r = store_index_fail(acct, "update cache", error_r);
		store_index_rollback(acct);
		return r;
	}
	return store_index_commit(acct, error_r);
}

/* --- bodies -----------------------------------------------------------------
 */

struct store_body {
	int fd;
	const char *data;
	size_t len;
	bool mapped;
	uint64_t crlf_size;
	/* Read cursor, always at a unit boundary (a LF that reads as CRLF is
	 * one unit of two octets). */
	size_t pos_raw;
	uint64_t pos_crlf;
};

enum store_result
store_body_open(struct store_mailbox *mbox, uint32_t uid,
                struct store_body **body_r, const char **error_r)
{
	struct store_account *acct = mbox->acct;
	struct store_msg_row row = {0};
	struct store_body *body;
	struct stat st;
	int found, fd;

	*body_r = NULL;
	found = store_index_msg_get(acct, mbox->id, uid, &row);
	if (found <= 0) {
		if (found < 0)
			return store_index_fail(acct, "read message", error_r);
		*error_r = "no such message";
		return STORE_NOTFOUND;
	}
	fd = store_maildir_msg_open(acct, mbox->dir, &row);
	store_msg_row_deinit(&row);
	if (fd < 0) {
		if (errno == ENOENT) {
			/* Removed by another tool: the next scan expunges
			 * it. */
			mbox->cur_dirty = true;
			*error_r = "message has been expunged";
			return STORE_NOTFOUND;
		}
		*error_r =
		        store_errorf(acct, "open message: %s", strerror(errno));
		return STORE_TEMPFAIL;
	}
	if (fstat(fd, &st) < 0) {
		*error_r =
		        store_errorf(acct, "stat message: %s", strerror(errno));
		close(fd);
		return STORE_TEMPFAIL;
	}
	body = xmalloc(sizeof(*body));
	body->fd = fd;
	body->len = (size_t)st.st_size;
	body->data = "";
	if (body->len > 0) {
		void *map =
		        mmap(NULL, body->len, PROT_READ, MAP_PRIVATE, fd, 0);

		if (map == MAP_FAILED) {
			*error_r = store_errorf(acct, "map message: %s",
			                        strerror(errno));
			close(fd);
			free(body);
			return STORE_TEMPFAIL;
		}
		body->data = map;
		body->mapped = true;
	}
	body->crlf_size = store_crlf_size(body->data, body->len);
	*body_r = body;
	return STORE_OK;
}

void
store_body_free(struct store_body **bodyp)
{
	struct store_body *body = *bodyp;

	if (body == NULL)
		return;
	if (body->mapped)
		munmap((void *)(uintptr_t)body->data, body->len);
	close(body->fd);
	free(body);
	*bodyp = NULL;
}

const char *
store_body_data(const struct store_body *body, size_t *len_r)
{
	*len_r = body->len;
	return body->data;
}

uint64_t
store_body_crlf_size(const struct store_body *body)
{
	return body->crlf_size;
}

static bool
body_lf_is_bare(const struct store_body *b, size_t i)
{
	return i == 0 || b->data[i - 1] != '\r';
}

/* Moves the cursor forward to `offset`, or to the unit that holds it. */
static void
body_seek(struct store_body *b, uint64_t offset)
{
	if (offset < b->pos_crlf) {
		b->pos_raw = 0;
		b->pos_crlf = 0;
	}
	while (b->pos_crlf < offset && b->pos_raw < b->len) {
		const char *p = b->data + b->pos_raw;
		size_t avail = b->len - b->pos_raw;
		const char *nl = memchr(p, '\n', avail);
		size_t run = nl != NULL ? (size_t)(nl - p) : avail;
		uint64_t need = offset - b->pos_crlf;
		unsigned unit;

		if (run >= need) {
			b->pos_raw += (size_t)need;
			b->pos_crlf += need;
			return;
		}
		b->pos_raw += run;
		b->pos_crlf += run;
		if (nl == NULL)
			return;
		unit = body_lf_is_bare(b, b->pos_raw) ? 2 : 1;
		if (b->pos_crlf + unit > offset)
			return; /* offset is between the CR we add and LF */
		b->pos_raw++;
		b->pos_crlf += unit;
	}
}

size_t
store_body_read_crlf(struct store_body *b, uint64_t offset, char *out,
                     size_t outsz)
{
	uint64_t skip;
	size_t n = 0;

	body_seek(b, offset);
	if (b->pos_crlf > offset || offset - b->pos_crlf > 1)
		return 0; /* past the end */
	skip = offset - b->pos_crlf;
	while (n < outsz && b->pos_raw < b->len) {
		const char *p = b->data + b->pos_raw;
		size_t run;

		if (*p == '\n' && body_lf_is_bare(b, b->pos_raw)) {
			if (skip == 0) {
				out[n++] = '\r';
				if (n == outsz)
					break; /* the next read starts at +1 */
			}
			skip = 0;
			out[n++] = '\n';
			b->pos_raw++;
			b->pos_crlf += 2;
			continue;
		}
		if (*p == '\n') {
			run = 1;
		} else {
			const char *nl = memchr(p, '\n', b->len - b->pos_raw);

			run = nl != NULL ? (size_t)(nl - p)
			                 : b->len - b->pos_raw;
		}
		if (run > outsz - n)
			run = outsz - n;
		memcpy(out + n, p, run);
		n += run;
		b->pos_raw += run;
		b->pos_crlf += run;
	}
	return n;
}

/* --- loading rows of UID ranges ------------------------------------------- */

struct row_set {
	struct store_msg_row *rows;
	size_t n, cap;
};

static void
row_set_free(struct row_set *rs)
{
	store_index_msg_rows_free(&rs->rows, rs->n);
	rs->n = rs->cap = 0;
}

/* Loads the rows in `ranges` (NULL: all), ascending and without
 * duplicates when the ranges are. */
static int
row_set_load(struct store_account *acct, int64_t mbox,
             const struct store_uid_range *ranges, size_t nranges,
             struct row_set *rs)
{
	struct store_uid_range all = {1, UINT32_MAX};

	if (ranges == NULL) {
		ranges = &all;
		nranges = 1;
	}
	for (size_t i = 0; i < nranges; i++) {
		sqlite3_stmt *st = store_index_stmt(acct, ST_MSG_RANGE);
		int rc;

		sqlite3_bind_int64(st, 1, mbox);
		sqlite3_bind_int64(st, 2, ranges[i].lo);
		sqlite3_bind_int64(st, 3, ranges[i].hi);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (rs->n == rs->cap) {
				rs->cap = rs->cap == 0 ? 64 : rs->cap * 2;
				rs->rows = xrealloc(
				        rs->rows, rs->cap * sizeof(*rs->rows));
			}
			memset(&rs->rows[rs->n], 0, sizeof(*rs->rows));
			store_index_msg_row_read(st, &rs->rows[rs->n++]);
		}
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return -1;
	}
	return 0;
}

/* Opens the write transaction of a change to `mbox` and reads its row.
 * NOTFOUND if the mailbox was deleted meanwhile. */
static enum store_result
change_begin(struct store_mailbox *mbox, struct store_mbox_row *row,
             const char **error_r)
{
	enum store_result r = store_index_begin(mbox->acct, error_r);

	if (r != STORE_OK)
		return r;
	r = store_index_mbox_get_id(mbox->acct, mbox->id, row, error_r);
	if (r != STORE_OK)
		store_index_rollback(mbox->acct);
	else
		store_mbox_follow(mbox, row);
	return r;
}

/* Saves the counters and commits; rolls back if `r` is a failure. */
static enum store_result
change_end(struct store_mailbox *mbox, struct store_mbox_row *row,
           enum store_result r, const char **error_r)
{
	struct store_account *acct = mbox->acct;

	if (r == STORE_OK && store_index_mbox_save_counters(acct, row) < 0)
		r = store_index_fail(acct, "save counters", error_r);
	if (r == STORE_OK)
		r = store_index_commit(acct, error_r);
	else
		store_index_rollback(acct);
	if (r == STORE_OK) {
		mbox->status.uidnext = row->uidnext;
		mbox->status.highestmodseq = row->highestmodseq;
	}
	store_mbox_row_deinit(row);
	return r;
}

/* --- flags -----------------------------------------------------------------
 */

static void
flags_apply(const struct store_flag_change *chg, uint32_t kwmask,
            const struct store_msg_row *row, unsigned *flags_r, uint32_t *kw_r)
{
	unsigned f = chg->flags & STORE_FLAGS_ALL;

	*flags_r = row->flags;
	*kw_r = row->keywords;
	switch (chg->op) {
	case STORE_FLAGS_ADD:
		*flags_r = row->flags | f;
		*kw_r = row->keywords | kwmask;
		break;
	case STORE_FLAGS_REMOVE:
		*flags_r = row->flags & ~f;
		*kw_r = row->keywords & ~kwmask;
		break;
	case STORE_FLAGS_REPLACE:
		/* P is not an IMAP flag: a client cannot mean to clear it. */
		*flags_r = f | (row->flags & STORE_FLAG_PASSED);
		*kw_r = kwmask;
		break;
	}
}

enum store_result
store_set_flags(struct store_mailbox *mbox,
                const struct store_uid_range *ranges, size_t nranges,
                const struct store_flag_change *change, store_flag_fn *cb,
                void *ctx, const char **error_r)
{
	struct store_account *acct = mbox->acct;
	struct store_mbox_row row = {0};
	struct row_set rs = {0};
	struct store_flag_result *res = NULL;
	struct store_guard guard;
	uint64_t modseq = 0;
	uint32_t kwmask = 0;
	size_t nres = 0;
	enum store_result r;

	r = change_begin(mbox, &row, error_r);
	if (r != STORE_OK)
		return r;
	r = store_index_mbox_keywords(
	        acct, mbox->dir, &row, change->keywords, change->nkeywords,
	        change->op != STORE_FLAGS_REMOVE, &kwmask, error_r);
	if (r == STORE_OK &&
	    row_set_load(acct, mbox->id, ranges, nranges, &rs) < 0)
		r = store_index_fail(acct, "read messages", error_r);
	store_guard_begin(acct, mbox->dir, &row, &guard);
	res = xcalloc(rs.n + 1, sizeof(*res));
	for (size_t i = 0; r == STORE_OK && i < rs.n; i++) {
		struct store_msg_row *m = &rs.rows[i];
		struct store_flag_result *x = &res[nres];
		unsigned nf;
		uint32_t nk;

		flags_apply(change, kwmask, m, &nf, &nk);
		x->uid = m->uid;
		x->flags = m->flags;
		x->keywords = m->keywords;
		x->modseq = m->modseq;
		if (change->unchanged_since != 0 &&
		    m->modseq > change->unchanged_since) {
			x->conflict = true;
			nres++;
			continue;
		}
		if (nf == m->flags && nk == m->keywords) {
			nres++;
			continue;
		}
		if (modseq == 0 &&
		    store_index_mbox_next_modseq(acct, mbox->dir, &row,
		                                 &modseq) < 0) {
			r = store_reserve_fail(acct, error_r);
			break;
		}
		if (store_maildir_msg_rename(acct, mbox->dir, m, nf, nk) < 0) {
			if (errno == ENOENT) {
				/* Gone: expunged by another tool. */
				mbox->cur_dirty = true;
				continue;
			}
			*error_r = store_errorf(acct, "rename message: %s",
			                        strerror(errno));
			r = STORE_TEMPFAIL;
			break;
		}
		if ((!m->in_cur &&
		     store_index_msg_set_place(acct, mbox->id, m->uid, m->base,
		                               true) < 0) ||
		    store_index_msg_set_flags(acct, mbox->id, m->uid, nf, nk,
		                              modseq) < 0) {
			r = store_index_fail(acct, "set flags", error_r);
			break;
		}
		x->flags = nf;
		x->keywords = nk;
		x->modseq = modseq;
		x->changed = true;
		nres++;
	}
	if (r == STORE_OK &&
	    store_guard_end(acct, mbox->id, mbox->dir, &guard) < 0)
		r = store_index_fail(acct, "note cur", error_r);
	if (r == STORE_OK) {
		/* The handle's keyword list may have grown. */
		for (size_t i = mbox->nkeywords; i < row.nkeywords; i++)
			mbox->keywords[i] = xstrdup(row.keywords[i]);
		if (row.nkeywords > mbox->nkeywords)
			mbox->nkeywords = row.nkeywords;
	}
	r = change_end(mbox, &row, r, error_r);
	for (size_t i = 0; r == STORE_OK && cb != NULL && i < nres; i++)
		cb(ctx, &res[i]);
	free(res);
	row_set_free(&rs);
	return r;
}

/* --- expunge -----------------------------------------------------------------
 */

enum store_result
store_expunge(struct store_mailbox *mbox, const struct store_uid_range *ranges,
              size_t nranges, bool only_deleted, store_uid_fn *cb, void *ctx,
              const char **error_r)
{
	struct store_account *acct = mbox->acct;
	struct store_mbox_row row = {0};
	struct row_set rs = {0};
	struct store_guard guard;
	uint32_t *gone;
	size_t ngone = 0;
	uint64_t modseq = 0;
	enum store_result r;

	r = change_begin(mbox, &row, error_r);
	if (r != STORE_OK)
		return r;
	if (row_set_load(acct, mbox->id, ranges, nranges, &rs) < 0)
		r = store_index_fail(acct, "read messages", error_r);
	store_guard_begin(acct, mbox->dir, &row, &guard);
	gone = xcalloc(rs.n + 1, sizeof(*gone));
	for (size_t i = 0; r == STORE_OK && i < rs.n; i++) {
		struct store_msg_row *m = &rs.rows[i];

		if (only_deleted && (m->flags & STORE_FLAG_DELETED) == 0)
			continue;
		if (modseq == 0 &&
		    store_index_mbox_next_modseq(acct, mbox->dir, &row,
		                                 &modseq) < 0) {
			r = store_reserve_fail(acct, error_r);
			break;
		}
		/* The file first: if the commit then fails, the row of a
		 * missing file is expunged by the next scan. */
		if (store_maildir_msg_unlink(acct, mbox->dir, m) < 0) {
			*error_r = store_errorf(acct, "remove message: %s",
			                        strerror(errno));
			r = STORE_TEMPFAIL;
			break;
		}
		if (store_index_msg_expunge(acct, mbox->id, m, modseq) < 0) {
			r = store_index_fail(acct, "expunge", error_r);
			break;
		}
		gone[ngone++] = m->uid;
	}
	if (r == STORE_OK &&
	    store_guard_end(acct, mbox->id, mbox->dir, &guard) < 0)
		r = store_index_fail(acct, "note cur", error_r);
	r = change_end(mbox, &row, r, error_r);
	for (size_t i = 0; r == STORE_OK && cb != NULL && i < ngone; i++)
		cb(ctx, gone[i]);
	free(gone);
	row_set_free(&rs);
	return r;
}

/* --- copy and move ---------------------------------------------------------
 */

struct copy_done {
	uint32_t src_uid, dst_uid;
	char src_path[STORE_PATH_MAX];
	char dst_path[STORE_PATH_MAX];
};

/* The destination's keyword bits for a source message's keywords; names
 * the destination has no room for are dropped. */
static enum store_result
copy_keywords(struct store_account *acct, const char *dst_dir,
              struct store_mbox_row *dst, const struct store_mailbox *src,
              uint32_t kw, uint32_t *mask_r, const char **error_r)
{
	uint32_t mask = 0;

	for (size_t i = 0; i < src->nkeywords && i < STORE_KEYWORDS_MAX; i++) {
		const char *name = src->keywords[i];
		uint32_t bit = 0;
		enum store_result r;

		if ((kw & (UINT32_C(1) << i)) == 0)
			continue;
		r = store_index_mbox_keywords(acct, dst_dir, dst, &name, 1,
		                              true, &bit, error_r);
		if (r == STORE_LIMIT || r == STORE_PERMFAIL)
			continue;
		if (r != STORE_OK)
			return r;
		mask |= bit;
	}
	*mask_r = mask;
	return STORE_OK;
}

/* Links one message into the destination's cur/ with a new UID. */
static enum store_result
copy_one(struct store_mailbox *src, const struct store_msg_row *m,
         int64_t dst_id, const char *dst_dir, struct store_mbox_row *dst,
         uint64_t modseq, struct copy_done *done, const char **error_r)
{
	struct store_account *acct = src->acct;
	char base[STORE_NAME_MAX + 1], name[STORE_NAME_MAX + 1];
	struct store_msg_row row = *m;
	sqlite3_stmt *st;
	enum store_result r;
	uint32_t uid, kw = 0;

	r = copy_keywords(acct, dst_dir, dst, src, m->keywords, &kw, error_r);
	if (r != STORE_OK)
		return r;
	if (store_index_mbox_next_uid(acct, dst_dir, dst, &uid) < 0) {
		*error_r = store_errorf(acct, "new UID: %s", strerror(errno));
		return STORE_TEMPFAIL;
	}
	store_fname_new_base(base, sizeof(base), acct->store->host, m->size,
	                     m->vsize, uid);
	if (store_fname_format(name, sizeof(name), base, strlen(base), false,
	                       m->flags, kw) < 0 ||
	    store_path(done->dst_path, sizeof(done->dst_path), dst_dir, "cur",
	               name) < 0 ||
	    store_maildir_msg_path(done->src_path, sizeof(done->src_path),
	                           src->dir, m) < 0) {
		*error_r = "file name too long";
		return STORE_PERMFAIL;
	}
	/* Messages never change once stored, so the copy may share the
	 * file (and its mtime, the internal date). */
	if (linkat(acct->root_fd, done->src_path, acct->root_fd, done->dst_path,
	           0) < 0) {
		if (errno == ENOENT)
			return STORE_NOTFOUND;
		*error_r =
		        store_errorf(acct, "link message: %s", strerror(errno));
		return STORE_TEMPFAIL;
	}
	row.uid = uid;
	row.base = base;
	row.in_cur = true;
	row.keywords = kw;
	row.modseq = modseq;
	if (store_index_msg_insert(acct, dst_id, &row, NULL) < 0)
		goto fail;
	st = store_index_stmt(acct, ST_MSG_COPY_CACHE);
	sqlite3_bind_int64(st, 1, dst_id);
	sqlite3_bind_int64(st, 2, uid);
	sqlite3_bind_int64(st, 3, src->id);
	sqlite3_bind_int64(st, 4, m->uid);
	if (store_index_exec_stmt(acct, st) < 0)
		goto fail;
	done->src_uid = m->uid;
	done->dst_uid = uid;
	return STORE_OK;
fail:
	unlinkat(acct->root_fd, done->dst_path, 0);
	return store_index_fail(acct, "copy", error_r);
}

/* With `move`, takes the copied messages out of the source: rows now,
 * files just before the commit (so a failure never loses the only
 * copy). */
static enum store_result
copy_expunge_sources(struct store_mailbox *src, struct store_mbox_row *srow,
                     const struct row_set *rs, const struct copy_done *done,
                     size_t ndone, const char **error_r)
{
	struct store_account *acct = src->acct;
	uint64_t modseq;
	size_t j = 0;

	if (ndone == 0)
		return STORE_OK;
	if (store_index_mbox_next_modseq(acct, src->dir, srow, &modseq) < 0)
		return store_reserve_fail(acct, error_r);
	for (size_t i = 0; i < rs->n && j < ndone; i++) {
		if (rs->rows[i].uid != done[j].src_uid)
			continue;
		if (store_index_msg_expunge(acct, src->id, &rs->rows[i],
		                            modseq) < 0)
			return store_index_fail(acct, "expunge", error_r);
		j++;
	}
	return STORE_OK;
}

static enum store_result
copy_check_quota(struct store_account *acct, const struct row_set *rs,
                 uint64_t quota, const char **error_r)
{
	uint64_t used = 0, add = 0;

	if (quota == 0)
		return STORE_OK;
	if (store_index_account_get(acct, &used, NULL, NULL) < 0)
		return store_index_fail(acct, "read usage", error_r);
	for (size_t i = 0; i < rs->n; i++)
		add += rs->rows[i].size;
	if (used + add > quota) {
		*error_r = "quota exceeded";
		return STORE_OVERQUOTA;
	}
	return STORE_OK;
}

enum store_result
store_copy(struct store_mailbox *src, const struct store_uid_range *ranges,
           size_t nranges, const char *dst, bool move, uint64_t quota,
           store_copy_fn *cb, void *ctx, uint32_t *dst_uidvalidity_r,
           const char **error_r)
{
	struct store_account *acct = src->acct;
	struct store_mbox_row srow = {0}, drow = {0}, *dp = &drow;
	char ddir[STORE_NAME_MAX + 1] = "";
	struct row_set rs = {0};
	struct copy_done *done = NULL;
	struct store_guard sguard, dguard;
	size_t ndone = 0;
	uint64_t modseq = 0;
	uint32_t duidv;
	enum store_result r;

	r = change_begin(src, &srow, error_r);
	if (r != STORE_OK)
		return r;
	r = store_mbox_lookup(acct, dst, &drow, ddir, sizeof(ddir), error_r);
	if (r == STORE_OK && drow.id == src->id) {
		store_mbox_row_deinit(&drow);
		/* MOVE into itself: nothing changes. */
		if (move)
			return change_end(src, &srow, STORE_OK, error_r);
		/* COPY into itself: one row, or counters would be lost. */
		dp = &srow;
	}
	if (r == STORE_OK &&
	    row_set_load(acct, src->id, ranges, nranges, &rs) < 0)
		r = store_index_fail(acct, "read messages", error_r);
	if (r == STORE_OK && !move)
		r = copy_check_quota(acct, &rs, quota, error_r);
	if (r == STORE_OK && rs.n > 0 &&
	    store_index_mbox_next_modseq(acct, ddir, dp, &modseq) < 0)
		r = store_reserve_fail(acct, error_r);
	store_guard_begin(acct, src->dir, &srow, &sguard);
	store_guard_begin(acct, ddir, dp, &dguard);
	done = xcalloc(rs.n + 1, sizeof(*done));
	for (size_t i = 0; r == STORE_OK && i < rs.n; i++) {
		r = copy_one(src, &rs.rows[i], dp->id, ddir, dp, modseq,
		             &done[ndone], error_r);
		if (r == STORE_NOTFOUND) {
			src->cur_dirty = true;
			r = STORE_OK;
			continue;
		}
		if (r == STORE_OK)
			ndone++;
	}
	if (r == STORE_OK && dp != &srow &&
	    store_index_mbox_save_counters(acct, dp) < 0)
		r = store_index_fail(acct, "save counters", error_r);
	if (r == STORE_OK && move)
		r = copy_expunge_sources(src, &srow, &rs, done, ndone, error_r);
	if (r == STORE_OK && move) {
		for (size_t i = 0; i < ndone; i++) {
			if (unlinkat(acct->root_fd, done[i].src_path, 0) < 0 &&
			    errno != ENOENT)
				log_warn_errno("account=%s/%s unlink %s",
				               acct->domain, acct->local,
				               done[i].src_path);
		}
	}
	if (r == STORE_OK &&
	    (store_guard_end(acct, src->id, src->dir, &sguard) < 0 ||
	     store_guard_end(acct, dp->id, ddir, &dguard) < 0))
		r = store_index_fail(acct, "note cur", error_r);
	duidv = dp->uidvalidity;
	r = change_end(src, &srow, r, error_r);
	if (r != STORE_OK) {
		/* Undo the links; a move puts its sources back first. */
		for (size_t i = 0; i < ndone; i++) {
			if (move &&
			    linkat(acct->root_fd, done[i].dst_path,
			           acct->root_fd, done[i].src_path, 0) < 0 &&
			    errno != EEXIST) {
				/* Keep the only copy: the next scan of the
				 * destination adopts it. */
				log_err_errno("account=%s/%s restore %s",
				              acct->domain, acct->local,
				              done[i].src_path);
				continue;
			}
			unlinkat(acct->root_fd, done[i].dst_path, 0);
		}
	} else {
		if (dst_uidvalidity_r != NULL)
			*dst_uidvalidity_r = duidv;
		for (size_t i = 0; cb != NULL && i < ndone; i++)
			cb(ctx, done[i].src_uid, done[i].dst_uid);
	}
	store_mbox_row_deinit(&drow);
	free(done);
	row_set_free(&rs);
	return r;
}
