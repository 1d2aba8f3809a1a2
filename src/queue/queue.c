/*
 * queue — the queue role: the only writer of the spool and of the
 * mailboxes. It hands each smtp session an empty spool file to write the
 * message into, and on commit delivers it to local Maildirs and makes it
 * durable before the session may answer 250.
 *
 * Group commit (docs/queue.md has the state table). A commit is delivered
 * at once: store_deliver links the spool file into each account's new/
 * and adds its index row in a batch of that account, which is committed
 * right away; the next flush makes all of it durable before the 250. One flush
 * is one syncfs(2) of the spool's file system, which writes back the data and
 * metadata of every file and directory written on it since the last flush
 * (message data, new/ entries, the index's WAL frames, spool/msg and
 * spool/env): for N messages completing together that is one flush instead of
 * 2N fsyncs, and a message waits for at most two flushes (the one running when
 * it arrives, then its own). Where syncfs writes metadata after its device
 * flush (ext2/3/4 without a journal, fileio_syncfs_trails), an fdatasync of
 * the spool directory follows it to flush the device once more.
 *
 * The entry is linked before its data is on disk, so a power cut during
 * that flush may leave a new/ entry whose data never arrived: shorter
 * than the S= of its name (ext4, XFS and the like never show unwritten
 * blocks, they keep the size at what was written). Such an entry was
 * never acknowledged, since its flush did not complete; the store's scan
 * of new/ moves it out (docs/store.md, "Torn entries"), and recovery
 * quarantines a queued message whose file is shorter than its envelope
 * says.
 *
 * The flush runs in a second thread (queue_flusher) so that this loop
 * keeps handing out spool files and delivering commits meanwhile;
 * everything else, the store included, runs in the loop.
 *
 * Runs chrooted in the data directory (when started as root) as run_user;
 * every path here is relative to it.
 */
#include "queue/queue.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/fault.h"
#include "core/fileio.h"
#include "core/msg.h"
#include "core/str.h"
#include "core/strmap.h"
#include "core/xalloc.h"
#include "store/store.h"
#include "queue/envelope.h"
#include "log/log.h"

#define QUEUE_MAX_CLIENTS 256
#define QUEUE_MAX_RCPTS   100000
#define QUEUE_ID_LEN      16
/* Store accounts kept open between flush cycles. */
#define QUEUE_MAX_ACCOUNTS 128
/* Accounts in one usage request (targets of one RCPT). */
#define QUEUE_MAX_USAGE 1000

enum spool_stage {
	SPOOL_OPEN,   /* handed to a session, being written */
	SPOOL_LINKED, /* committed and delivered, waiting for its flush */
};

struct spool_rcpt {
	char *address;
	char *mailbox;      /* "domain/local" */
	char *delivered_to; /* alias address, or NULL */
	int variant;        /* the spool_variant delivered, or -1: the file */
	uint64_t quota;     /* the account's quota, 0: none */
	struct queue_acct *acct;         /* once delivered */
	struct store_delivery *delivery; /* once delivered */
};

/* An open store account, kept between cycles (bounded cache). */
struct queue_acct {
	struct queue_acct *next;
	char *key; /* "domain/local" */
	struct store_account *acct;
	unsigned refs;                 /* delivery records held */
	bool in_batch;                 /* store_batch_begin done this cycle */
	struct queue_acct *next_batch; /* in q.batch while in_batch */
	bool failed;                   /* its batch commit failed this cycle */
};

/* A copy of the message with a Delivered-To: header (RFC 5321 6.3 loop
 * detection for aliases), one per alias address: these recipients cannot
 * share the hard-linked file. */
struct spool_variant {
	char *delivered_to;
	char path[64];
	int fd; /* held open and locked, like the spool file */
	uint64_t size;
};

struct spool_file {
	struct spool_file *next;    /* in its client's open list */
	struct spool_file *next_io; /* in a flush stage list */
	struct queue_client *client;
	enum spool_stage stage;
	char id[QUEUE_ID_LEN + 1];
	int fd;
	uint64_t reply_id;
	uint64_t size;
	bool unlinked;
	char *sender;
	struct spool_rcpt *rcpts; /* local recipients */
	size_t nrcpts;
	struct spool_variant *variants;
	size_t nvariants;
	uint64_t body_offset; /* end of the Return-Path line */
	struct envelope *env; /* remote recipients, or NULL */
	bool queued;          /* spool/msg/ID and spool/env/ID exist */
};

struct queue_client {
	struct ipc *ipc;
	struct spool_file *files;
};

struct queue_state {
	struct role *role;
	struct queue_client clients[QUEUE_MAX_CLIENTS];
	/* Delivered, waiting for the next flush. */
	struct spool_file *linked, **linked_tail;
	struct loop_timer *cycle;
	/* The flush in progress and the files it serves. */
	bool flushing;
	struct spool_file *fl_linked;
	int flush_req[2]; /* main -> flusher: one byte per flush */
	int flush_done;   /* eventfd: flusher -> main */
	struct loop_io *flush_io;
	int flush_rc; /* 0, or the errno of the failed flush */
	struct store *store;
	struct queue_acct *accts;
	unsigned naccts;
	struct queue_acct *batch; /* the accounts in_batch */
	/* The spool files a dead queue process left with links elsewhere
	 * (queue_recover), and the mailboxes checked for such links since
	 * (queue_account_find). */
	struct store_inode *strays;
	size_t nstrays;
	struct strmap cleared;
	bool trim;    /* an account failed, or too many are open */
	int spool_fd; /* spool/ directory, for syncfs */
	int mail_fd;  /* mail/ directory, if on another file system */
	/* Their syncfs needs a device flush after it (fileio_syncfs_trails). */
	bool spool_trails, mail_trails;
	bool stopping;
};

static struct queue_state q;

static void queue_schedule(void);
static void queue_cycle_run(void);
struct queue_acct;
static struct queue_acct *queue_account_find(const char *mailbox, bool create,
                                             const char **error_r);
static void queue_accounts_trim(void);
static bool queue_mailbox_valid(const char *mailbox);
static int spool_deliver(struct spool_file *f, const char **reply_r);
static int queue_commit_batches(void);
static void spool_unlink_links(struct spool_file *f);
static void spool_done(struct spool_file *f, enum queue_status status,
                       const char *text);

static void
spool_path(char *out, size_t outsz, const char *id)
{
	snprintf(out, outsz, "spool/tmp/%s", id);
}

/* Removes the spool names of `f`: the file and its Delivered-To copies
 * (the descriptors stay open, and locked, until spool_file_free). */
static void
spool_unlink(struct spool_file *f)
{
	char path[64];

	if (f->unlinked)
		return;
	spool_path(path, sizeof(path), f->id);
	if (unlink(path) < 0 && errno != ENOENT)
		log_warn_errno("msg=%s unlink %s", f->id, path);
	for (size_t i = 0; i < f->nvariants; i++) {
		if (f->variants[i].fd >= 0 && unlink(f->variants[i].path) < 0 &&
		    errno != ENOENT)
			log_warn_errno("msg=%s unlink %s", f->id,
			               f->variants[i].path);
	}
	f->unlinked = true;
}

/* Frees a recipient's delivery record; the account may then be closed. */
static void
spool_rcpt_release(struct spool_rcpt *r)
{
	if (r->delivery == NULL)
		return;
	store_delivery_free(&r->delivery);
	r->acct->refs--;
	r->acct = NULL;
}

static void
spool_file_free(struct spool_file *f)
{
	spool_unlink(f);
	if (f->fd >= 0)
		close(f->fd);
	for (size_t i = 0; i < f->nrcpts; i++) {
		free(f->rcpts[i].address);
		free(f->rcpts[i].mailbox);
		free(f->rcpts[i].delivered_to);
		spool_rcpt_release(&f->rcpts[i]);
	}
	free(f->rcpts);
	for (size_t i = 0; i < f->nvariants; i++) {
		struct spool_variant *v = &f->variants[i];

		if (v->fd >= 0)
			close(v->fd);
		free(v->delivered_to);
	}
	free(f->variants);
	free(f->sender);
	envelope_free(&f->env);
	free(f);
}

/* Removes `f` from its client's list of files. */
static void
client_unlist(struct spool_file *f)
{
	struct spool_file **pp;

	if (f->client == NULL)
		return;
	for (pp = &f->client->files; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	f->client = NULL;
}

static void
queue_reply(struct spool_file *f, enum queue_status status, const char *text)
{
	struct ipc_out o;

	if (f->client == NULL)
		return; /* the session's worker is gone */
	ipc_out_init(&o);
	ipc_put_u8(&o, (uint8_t)status);
	ipc_put_str(&o, text);
	ipc_send_out(f->client->ipc, MSG_QUEUE_COMMIT_R, f->reply_id, -1, &o);
	ipc_out_deinit(&o);
}

/* --- open --------------------------------------------------------------- */

static void
queue_open(struct queue_client *c, const struct ipc_msg *msg)
{
	struct spool_file *f = xmalloc(sizeof(*f));
	struct ipc_out o;
	char path[64];
	uint8_t rnd[QUEUE_ID_LEN / 2];

	f->fd = -1;
	for (int tries = 0; tries < 8 && f->fd < 0; tries++) {
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			fatal_errno("getrandom");
		for (size_t i = 0; i < sizeof(rnd); i++)
			snprintf(f->id + 2 * i, 3, "%02X", rnd[i]);
		spool_path(path, sizeof(path), f->id);
		f->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (f->fd < 0 && errno != EEXIST)
			break;
	}
	ipc_out_init(&o);
	if (f->fd < 0 || flock(f->fd, LOCK_EX | LOCK_NB) < 0) {
		log_err_errno("cannot create a spool file");
		if (f->fd >= 0) {
			close(f->fd);
			unlink(path);
		}
		free(f);
		ipc_put_str(&o, "");
		ipc_send_out(c->ipc, MSG_QUEUE_OPEN_R, msg->id, -1, &o);
	} else {
		f->client = c;
		f->stage = SPOOL_OPEN;
		f->next = c->files;
		c->files = f;
		ipc_put_str(&o, f->id);
		ipc_send_out(c->ipc, MSG_QUEUE_OPEN_R, msg->id, f->fd, &o);
	}
	ipc_out_deinit(&o);
}

static struct spool_file *
client_find(struct queue_client *c, const char *id)
{
	for (struct spool_file *f = c->files; f != NULL; f = f->next) {
		if (strcmp(f->id, id) == 0)
			return f;
	}
	return NULL;
}

static void
queue_abort(struct queue_client *c, const struct ipc_msg *msg)
{
	struct ipc_in in;
	char *id;
	struct spool_file *f;

	ipc_in_init(&in, msg);
	id = ipc_get_str(&in);
	ipc_in_end(&in);
	f = client_find(c, id);
	if (f != NULL && f->stage == SPOOL_OPEN) {
		client_unlist(f);
		spool_file_free(f);
	}
	free(id);
}

/* --- usage -------------------------------------------------------------- */

/* How much each named account stores, for the smtp role's quota check at
 * RCPT. An account that does not exist yet stores nothing. */
static void
queue_usage(struct queue_client *c, const struct ipc_msg *msg)
{
	struct ipc_in in;
	struct ipc_out o;
	uint32_t n;

	ipc_in_init(&in, msg);
	n = ipc_get_u32(&in);
	if (n > QUEUE_MAX_USAGE)
		fatal("queue: usage request for %u accounts", n);
	ipc_out_init(&o);
	ipc_put_u32(&o, n);
	for (uint32_t i = 0; i < n; i++) {
		char *mailbox = ipc_get_str(&in);
		uint64_t bytes = 0, msgs = 0;
		const char *err = NULL;
		struct queue_acct *a = NULL;

		if (!queue_mailbox_valid(mailbox))
			fatal("queue: bad account in usage request");
		a = queue_account_find(mailbox, false, &err);
		if (a != NULL && store_account_usage(a->acct, &bytes, &msgs,
		                                     &err) != STORE_OK)
			bytes = 0;
		ipc_put_u64(&o, bytes);
		free(mailbox);
	}
	ipc_in_end(&in);
	ipc_send_out(c->ipc, MSG_QUEUE_USAGE_R, msg->id, -1, &o);
	ipc_out_deinit(&o);
	queue_accounts_trim();
}

/* --- commit ------------------------------------------------------------- */

/* "domain/local" from the smtp role: two non-empty parts; the store
 * checks the names themselves. */
static bool
queue_mailbox_valid(const char *mailbox)
{
	const char *slash = strchr(mailbox, '/');

	return slash != NULL && slash != mailbox && slash[1] != '\0' &&
	       strchr(slash + 1, '/') == NULL;
}

/* Writes one variant: the Return-Path line, Delivered-To, the rest. */
static int
spool_write_variant(struct spool_file *f, struct spool_variant *v)
{
	char *hdr = xasprintf("Delivered-To: %s\n", v->delivered_to);
	size_t hlen = strlen(hdr);
	int rc = -1;

	snprintf(v->path, sizeof(v->path), "spool/tmp/%s-%zu", f->id,
	         (size_t)(v - f->variants));
	v->fd = open(v->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (v->fd < 0 || flock(v->fd, LOCK_EX | LOCK_NB) < 0)
		goto out;
	if (fileio_copy_range(f->fd, 0, f->body_offset, v->fd) < 0 ||
	    fileio_write_all(v->fd, hdr, hlen) < 0 ||
	    fileio_copy_range(f->fd, f->body_offset, f->size - f->body_offset,
	                      v->fd) < 0)
		goto out;
	v->size = f->size + hlen;
	rc = 0;
out:
	free(hdr);
	return rc;
}

/* Makes one Delivered-To copy per distinct alias address among the local
 * recipients. The copies are flushed with the batch like the spool file
 * itself. */
static int
spool_make_variants(struct spool_file *f)
{
	if (f->body_offset > f->size)
		fatal("queue: body offset past the end of msg=%s", f->id);
	for (size_t i = 0; i < f->nrcpts; i++) {
		struct spool_rcpt *r = &f->rcpts[i];
		size_t v;

		if (r->delivered_to == NULL)
			continue;
		for (v = 0; v < f->nvariants; v++) {
			if (strcmp(f->variants[v].delivered_to,
			           r->delivered_to) == 0)
				break;
		}
		if (v == f->nvariants) {
			f->variants = xrealloc(f->variants,
			                       (v + 1) * sizeof(*f->variants));
			memset(&f->variants[v], 0, sizeof(f->variants[v]));
			f->variants[v].fd = -1;
			f->variants[v].delivered_to = xstrdup(r->delivered_to);
			f->nvariants++;
			if (spool_write_variant(f, &f->variants[v]) < 0)
				return -1;
		}
		r->variant = (int)v;
	}
	return 0;
}

/* The reply for a temporary local failure with errno `err`: RFC 3463
 * X.3.1 when the disk (or the run user's disk quota) is full. */
static const char *
queue_errno_reply(int err)
{
	return err == ENOSPC || err == EDQUOT
	               ? "452 4.3.1 Insufficient system storage"
	               : "451 4.3.0 Local error in processing";
}

static void
queue_commit(struct queue_client *c, const struct ipc_msg *msg)
{
	struct ipc_in in;
	struct spool_file *f;
	char *id, *envid;
	uint32_t n;
	uint8_t ret, flags;
	uint64_t body_offset;
	struct stat st;
	const char *reply = "451 4.3.0 Local error in processing";
	int err;

	ipc_in_init(&in, msg);
	id = ipc_get_str(&in);
	f = client_find(c, id);
	free(id);
	if (f == NULL || f->stage != SPOOL_OPEN)
		fatal("queue: commit of a spool file this session does not "
		      "hold open");
	f->reply_id = msg->id;
	f->size = ipc_get_u64(&in);
	body_offset = ipc_get_u64(&in);
	f->body_offset = body_offset;
	f->sender = ipc_get_str(&in);
	ret = ipc_get_u8(&in);
	envid = ipc_get_str(&in);
	flags = ipc_get_u8(&in);
	n = ipc_get_u32(&in);
	if (n == 0 || n > QUEUE_MAX_RCPTS || ret > ENVELOPE_RET_HDRS)
		fatal("queue: commit with %u recipients, ret %u", n, ret);
	f->rcpts = xcalloc(n, sizeof(*f->rcpts));
	for (uint32_t i = 0; i < n; i++) {
		uint8_t kind = ipc_get_u8(&in);
		char *address = ipc_get_str(&in);
		char *mailbox = ipc_get_str(&in);
		uint32_t notify = ipc_get_u32(&in);
		char *orcpt = ipc_get_str(&in);
		char *delivered_to = ipc_get_str(&in);
		uint64_t quota = ipc_get_u64(&in);

		if (kind == QUEUE_RCPT_LOCAL && queue_mailbox_valid(mailbox)) {
			struct spool_rcpt *r = &f->rcpts[f->nrcpts++];

			r->address = address;
			r->mailbox = mailbox;
			r->variant = -1;
			r->quota = quota;
			if (delivered_to[0] != '\0')
				r->delivered_to = delivered_to;
			else
				free(delivered_to);
			free(orcpt);
			continue;
		}
		/* XXX(#relay): forwarded copies get their Delivered-To when
		 * the relay sends them. */
		free(delivered_to);
		if (kind != QUEUE_RCPT_REMOTE || address[0] == '\0')
			fatal("queue: bad recipient kind=%u mailbox=%s", kind,
			      mailbox);
		if (f->env == NULL) {
			f->env = envelope_new();
			str_copy(f->env->id, sizeof(f->env->id), f->id);
			f->env->created = (int64_t)time(NULL);
			free(f->env->sender);
			f->env->sender = xstrdup(f->sender);
			f->env->size = f->size;
			f->env->body_offset = body_offset;
			f->env->ret = (enum envelope_ret)ret;
			free(f->env->envid);
			f->env->envid = xstrdup(envid);
			f->env->smtputf8 = (flags & QUEUE_F_SMTPUTF8) != 0;
			f->env->eightbit = (flags & QUEUE_F_8BIT) != 0;
		}
		struct envelope_rcpt *r = envelope_add_rcpt(f->env, address);

		r->notify = notify;
		free(r->orcpt);
		r->orcpt = orcpt;
		free(address);
		free(mailbox);
	}
	free(envid);
	ipc_in_end(&in);
	if (fstat(f->fd, &st) < 0 || (uint64_t)st.st_size != f->size) {
		log_err("msg=%s size mismatch: session says %llu, file has "
		        "%lld",
		        f->id, (unsigned long long)f->size,
		        (long long)st.st_size);
		queue_reply(f, QUEUE_STATUS_TEMPFAIL,
		            "451 4.3.0 Local error in processing");
		client_unlist(f);
		spool_file_free(f);
		return;
	}
	if (spool_make_variants(f) < 0) {
		err = errno;
		log_err_errno("msg=%s cannot write a Delivered-To copy", f->id);
		queue_reply(f, QUEUE_STATUS_TEMPFAIL, queue_errno_reply(err));
		client_unlist(f);
		spool_file_free(f);
		return;
	}
	/* Delivered and committed in one go: a crash between the links
	 * and the index commit would leave files the index does not know
	 * (until a scan adopts them), so that window stays this short. A
	 * failed delivery is undone inside the batches, which are committed
	 * all the same: none may keep its account's write lock. */
	if (spool_deliver(f, &reply) < 0) {
		spool_unlink_links(f);
		(void)queue_commit_batches();
		spool_done(f, QUEUE_STATUS_TEMPFAIL, reply);
		queue_accounts_trim();
		return;
	}
	err = queue_commit_batches();
	if (err != 0) {
		spool_unlink_links(f);
		spool_done(f, QUEUE_STATUS_TEMPFAIL, queue_errno_reply(err));
		queue_accounts_trim();
		return;
	}
	f->stage = SPOOL_LINKED;
	f->next_io = NULL;
	*q.linked_tail = f;
	q.linked_tail = &f->next_io;
	queue_schedule();
}

/* --- the flush cycle ------------------------------------------------------ */

/* Removes what was made for `f` in mailboxes and the queue (delivery
 * failed before the 250, so none of it must survive to be delivered
 * twice). */
static void
spool_unlink_links(struct spool_file *f)
{
	for (size_t i = 0; i < f->nrcpts; i++) {
		const char *err = NULL;

		if (f->rcpts[i].delivery != NULL &&
		    store_delivery_undo(f->rcpts[i].delivery, &err) != STORE_OK)
			log_err("msg=%s event=undo-failed mailbox=%s %s", f->id,
			        f->rcpts[i].mailbox, err != NULL ? err : "");
		spool_rcpt_release(&f->rcpts[i]);
	}
	if (f->queued) {
		char path[64];

		snprintf(path, sizeof(path), "spool/env/%s", f->id);
		if (unlink(path) < 0 && errno != ENOENT)
			log_err_errno("msg=%s unlink %s", f->id, path);
		snprintf(path, sizeof(path), "spool/msg/%s", f->id);
		if (unlink(path) < 0 && errno != ENOENT)
			log_err_errno("msg=%s unlink %s", f->id, path);
		f->queued = false;
	}
}

/* Queues the message for its remote recipients: spool/msg/ID (a link to
 * the flushed data) and then spool/env/ID, which makes it visible to the
 * queue runner (docs/queue.md). */
static int
spool_enqueue(struct spool_file *f)
{
	char src[64], msgpath[64], envpath[64], *text;
	size_t len;
	int rc;

	spool_path(src, sizeof(src), f->id);
	snprintf(msgpath, sizeof(msgpath), "spool/msg/%s", f->id);
	snprintf(envpath, sizeof(envpath), "spool/env/%s", f->id);
	if (link(src, msgpath) < 0) {
		log_err_errno("msg=%s link %s", f->id, msgpath);
		return -1;
	}
	f->queued = true;
	text = envelope_serialize(f->env, &len);
	/* Not flushed here: the flush before the 250 covers it. */
	rc = fileio_replace(AT_FDCWD, envpath, text, len, 0600,
	                    FILEIO_OWNER_KEEP, 0, false);
	free(text);
	if (rc < 0)
		log_err_errno("msg=%s write %s", f->id, envpath);
	return rc;
}

/* The open account for "domain/local", opening it if needed (and
 * creating it when `create`); NULL with *error_r on failure or, without
 * `create`, when it does not exist. */
static struct queue_acct *
queue_account_find(const char *mailbox, bool create, const char **error_r)
{
	struct queue_acct *a;
	char *domain, *local;
	enum store_result r;

	for (struct queue_acct **pp = &q.accts; *pp != NULL;
	     pp = &(*pp)->next) {
		a = *pp;
		if (strcmp(a->key, mailbox) == 0) {
			/* To the front: a sender's next message usually goes
			 * to the same recipients. */
			*pp = a->next;
			a->next = q.accts;
			q.accts = a;
			return a;
		}
	}
	a = xmalloc(sizeof(*a));
	a->key = xstrdup(mailbox);
	domain = xstrdup(mailbox);
	local = strchr(domain, '/');
	*local++ = '\0';
	r = store_account_open(q.store, domain, local,
	                       create ? STORE_OPEN_CREATE : 0, &a->acct,
	                       error_r);
	free(domain);
	/* A queue that died between a link into new/ and its commit left
	 * the entry behind (never acknowledged), a link to one of the spool
	 * files recovery found: cleared once per mailbox after the start,
	 * before this process gives its first UID there. */
	if (r == STORE_OK && q.nstrays > 0 &&
	    !strmap_get(&q.cleared, mailbox, NULL)) {
		unsigned moved = 0;

		r = store_deliver_clear_strays(a->acct, "INBOX", q.strays,
		                               q.nstrays, &moved, error_r);
		if (r == STORE_OK) {
			(void)strmap_put(&q.cleared, mailbox, 0, NULL);
		} else {
			/* The message lives in the account going away. */
			static char why[256];
			int err = errno;

			snprintf(why, sizeof(why), "%s", *error_r);
			*error_r = why;
			store_account_close(&a->acct);
			errno = err;
		}
	}
	if (r != STORE_OK) {
		free(a->key);
		free(a);
		return NULL;
	}
	a->next = q.accts;
	q.accts = a;
	q.naccts++;
	q.trim |= q.naccts > QUEUE_MAX_ACCOUNTS;
	return a;
}

static void
queue_account_close(struct queue_acct **pp)
{
	struct queue_acct *a = *pp;

	*pp = a->next;
	store_account_close(&a->acct);
	free(a->key);
	free(a);
	q.naccts--;
}

/* Keeps at most QUEUE_MAX_ACCOUNTS open between cycles, the most recently
 * used (the list is in that order); an account whose batch failed is
 * reopened next time (its handle may be stale). One still held by a
 * delivery waits for a later call. */
static void
queue_accounts_trim(void)
{
	struct queue_acct **pp = &q.accts;
	unsigned kept = 0;

	if (!q.trim)
		return;
	q.trim = false;
	while (*pp != NULL) {
		struct queue_acct *a = *pp;
		bool drop = a->failed || kept >= QUEUE_MAX_ACCOUNTS;

		if (drop && a->refs == 0) {
			queue_account_close(pp);
			continue;
		}
		q.trim |= drop;
		kept++;
		pp = &a->next;
	}
}

/* The reply for a delivery the store refused. */
static const char *
queue_store_reply(enum store_result r, int err, const struct spool_rcpt *rc,
                  uint64_t size)
{
	if (r == STORE_OVERQUOTA)
		/* RFC 3463 X.2.2: permanent only when it can never fit. */
		return rc->quota != 0 && size > rc->quota
		               ? "552 5.2.2 Mailbox full: the message is "
		                 "larger "
		                 "than the recipient's quota"
		               : "452 4.2.2 Mailbox full, try again later";
	return queue_errno_reply(r == STORE_TEMPFAIL ? err : 0);
}

/* Delivers the committed spool file into every local recipient's INBOX
 * (inside a batch of its account, for the caller to commit), and queues
 * it for the remote ones. On failure *reply_r says what to answer. */
static int
spool_deliver(struct spool_file *f, const char **reply_r)
{
	char src[64];

	spool_path(src, sizeof(src), f->id);
	for (size_t i = 0; i < f->nrcpts; i++) {
		struct spool_rcpt *rc = &f->rcpts[i];
		const struct spool_variant *v =
		        rc->variant >= 0 ? &f->variants[rc->variant] : NULL;
		uint64_t size = v != NULL ? v->size : f->size;
		const char *err = NULL;
		struct queue_acct *a =
		        queue_account_find(rc->mailbox, true, &err);
		enum store_result r = a != NULL ? STORE_OK : STORE_TEMPFAIL;

		if (a != NULL && !a->in_batch) {
			r = store_batch_begin(a->acct, &err);
			a->in_batch = r == STORE_OK;
			if (a->in_batch) {
				a->next_batch = q.batch;
				q.batch = a;
			} else {
				a->failed = true;
				q.trim = true;
			}
		}
		if (r == STORE_OK)
			r = store_deliver(a->acct, "INBOX",
			                  v != NULL ? v->path : src,
			                  v != NULL ? v->fd : f->fd, size,
			                  rc->quota, &rc->delivery, &err);
		if (r != STORE_OK) {
			int e = errno;

			log_info("msg=%s event=deliver-failed mailbox=%s "
			         "result=%s %s",
			         f->id, rc->mailbox, store_result_str(r),
			         err != NULL ? err : "");
			*reply_r = queue_store_reply(r, e, rc, size);
			return -1;
		}
		rc->acct = a;
		a->refs++;
	}
	if (f->env != NULL && spool_enqueue(f) < 0) {
		*reply_r = queue_errno_reply(errno);
		return -1;
	}
	return 0;
}

/* Commits every account batch opened for this commit; 0, or the errno of
 * the first that failed (a failed batch has removed its new/ entries, and
 * its account is reopened next time). */
static int
queue_commit_batches(void)
{
	int rc = 0;

	while (q.batch != NULL) {
		struct queue_acct *a = q.batch;
		const char *err = NULL;

		q.batch = a->next_batch;
		a->in_batch = false;
		if (store_batch_commit(a->acct, &err) != STORE_OK) {
			if (rc == 0)
				rc = errno != 0 ? errno : EIO;
			log_err("event=batch-commit-failed account=%s %s",
			        a->key, err != NULL ? err : "");
			a->failed = true;
			q.trim = true;
		}
	}
	return rc;
}

/* Answers the session and forgets the spool file. The spool name goes
 * first: once the mailbox links are durable it is only a leftover (and
 * recovery would remove it anyway), so the 250 finds a clean spool. */
static void
spool_done(struct spool_file *f, enum queue_status status, const char *text)
{
	struct queue_client *c = f->client;

	client_unlist(f);
	f->client = c;
	spool_unlink(f);
	queue_reply(f, status, text);
	f->client = NULL;
	spool_file_free(f);
}

/* One flush: syncfs(2) of the spool's file system, and of the mailboxes'
 * when they live on another one, each followed by a device flush where
 * its syncfs leaves writes after its own. Returns 0 or an errno. */
static int
queue_flush(void)
{
	int err = fault_check("queue-flush");

	if (err != 0)
		return err;
	if (fileio_syncfs(q.spool_fd, q.spool_trails) < 0)
		return errno;
	if (q.mail_fd >= 0 && fileio_syncfs(q.mail_fd, q.mail_trails) < 0)
		return errno;
	return 0;
}

/*
 * The flusher thread: the only thread besides the event loop. It runs
 * queue_flush() on request and reports through an eventfd, so the loop
 * keeps handing out spool files and taking commits while the disk works;
 * those commits make the next batch. It touches nothing but the two
 * descriptors and flush_rc (published by the eventfd write).
 */
static void *
queue_flusher(void *arg)
{
	(void)arg;
	for (;;) {
		char c;
		uint64_t one = 1;
		ssize_t n = read(q.flush_req[0], &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;
		__atomic_store_n(&q.flush_rc, queue_flush(), __ATOMIC_RELEASE);
		while (write(q.flush_done, &one, sizeof(one)) < 0 &&
		       errno == EINTR)
			;
	}
}

/* A flush finished (rc 0 or errno): answer the files it made durable,
 * or undo them and answer 451 if it failed; then the next cycle. */
static void
queue_flush_finish(int rc)
{
	struct spool_file *linked = q.fl_linked;
	bool ok;

	if (rc == 0)
		rc = fault_check("queue-flushed");
	ok = rc == 0;
	q.fl_linked = NULL;
	q.flushing = false;
	if (!ok)
		log_err("event=flush-failed error=\"%s\"", strerror(rc));
	while (linked != NULL) {
		struct spool_file *f = linked;

		linked = f->next_io;
		if (!ok) {
			spool_unlink_links(f);
			spool_done(f, QUEUE_STATUS_TEMPFAIL,
			           rc == ENOSPC || rc == EDQUOT
			                   ? queue_errno_reply(rc)
			                   : "451 4.3.0 Local error: could not "
			                     "flush the message to disk");
			continue;
		}
		for (size_t i = 0; i < f->nrcpts; i++)
			log_info("msg=%s event=delivered to=<%s> mailbox=%s "
			         "uid=%u size=%llu",
			         f->id, f->rcpts[i].address,
			         f->rcpts[i].mailbox,
			         store_delivery_uid(f->rcpts[i].delivery),
			         (unsigned long long)f->size);
		spool_done(f, QUEUE_STATUS_OK, "");
	}
	queue_accounts_trim();
	queue_cycle_run();
}

/* Hands the delivered files to a flush. */
static void
queue_flush_start(void)
{
	q.fl_linked = q.linked;
	q.linked = NULL;
	q.linked_tail = &q.linked;
	q.flushing = true;
	if (write(q.flush_req[1], "f", 1) != 1)
		fatal_errno("queue: waking the flusher");
}

static void
queue_flush_event(void *arg, unsigned events)
{
	uint64_t n;

	(void)arg;
	(void)events;
	if (read(q.flush_done, &n, sizeof(n)) != (ssize_t)sizeof(n))
		return;
	queue_flush_finish(__atomic_load_n(&q.flush_rc, __ATOMIC_ACQUIRE));
}

/* Starts a flush for the delivered files unless one is running (its end
 * comes back here). */
static void
queue_cycle_run(void)
{
	if (!q.flushing && q.linked != NULL)
		queue_flush_start();
}

static void
queue_cycle(void *arg)
{
	(void)arg;
	q.cycle = NULL;
	queue_cycle_run();
}

/* Runs queue_cycle_run() once the commits that have already arrived are
 * read: that is what makes the group. */
static void
queue_schedule(void)
{
	if (q.cycle == NULL)
		q.cycle = loop_timer_add(q.role->loop, 0, queue_cycle, NULL);
}

static void
queue_flusher_start(struct role *r)
{
	pthread_t t;
	sigset_t all, old;

	if (pipe2(q.flush_req, O_CLOEXEC) < 0)
		fatal_errno("queue: pipe");
	q.flush_done = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q.flush_done < 0)
		fatal_errno("queue: eventfd");
	q.flush_io = loop_io_add(r->loop, q.flush_done, LOOP_READ,
	                         queue_flush_event, NULL);
	/* Signals belong to the loop's signalfd, not to the flusher. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if (pthread_create(&t, NULL, queue_flusher, NULL) != 0)
		fatal("queue: cannot start the flusher thread");
	pthread_detach(t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* --- clients ----------------------------------------------------------------
 */

static void
queue_client_gone(struct queue_client *c)
{
	/* Files still OPEN belong to sessions that died with their worker:
	 * discard them. Committed files finish their cycle; the reply is
	 * dropped. */
	while (c->files != NULL) {
		struct spool_file *f = c->files;

		c->files = f->next;
		f->client = NULL;
		if (f->stage == SPOOL_OPEN)
			spool_file_free(f);
	}
	ipc_free(&c->ipc);
}

static void
queue_client_msg(struct ipc *ipc, const struct ipc_msg *msg, void *arg)
{
	struct queue_client *c = arg;

	(void)ipc;
	if (msg == NULL) {
		queue_client_gone(c);
		return;
	}
	switch (msg->type) {
	case MSG_QUEUE_OPEN:
		queue_open(c, msg);
		break;
	case MSG_QUEUE_COMMIT:
		queue_commit(c, msg);
		break;
	case MSG_QUEUE_ABORT:
		queue_abort(c, msg);
		break;
	case MSG_QUEUE_USAGE:
		queue_usage(c, msg);
		break;
	default:
		fatal("queue: unexpected message type %u", msg->type);
	}
}

/* --- recovery and role glue
 * ---------------------------------------------------- */

/* Spool files left by a crash were never acknowledged: remove them. A
 * file another queue process (inetd mode) still holds is locked and kept.
 * One with other links was delivered or queued in the moment before the
 * crash: it is noted in q.strays, for queue_account_find to clear a link
 * in new/ whose commit never happened. */
static void
queue_recover(void)
{
	DIR *d = opendir("spool/tmp");
	struct dirent *de;
	unsigned removed = 0;

	if (d == NULL)
		fatal_errno("opendir spool/tmp");
	while ((de = readdir(d)) != NULL) {
		char path[300];
		struct stat st;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "spool/tmp/%s", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &st) == 0 &&
		    unlink(path) == 0) {
			removed++;
			if (st.st_nlink > 1) {
				q.strays = xrealloc(q.strays,
				                    (q.nstrays + 1) *
				                            sizeof(*q.strays));
				q.strays[q.nstrays].dev = st.st_dev;
				q.strays[q.nstrays++].ino = st.st_ino;
			}
		}
		close(fd);
	}
	closedir(d);
	if (removed > 0)
		log_info("event=recover removed=%u unacknowledged spool files",
		         removed);
}

/* Whether spool/env/NAME parses and spool/msg/NAME has the size it
 * records. A message file shorter than that is torn: its entries were
 * made before the flush that would have made its data durable, and a
 * power cut came first (see the top of this file), so it was never
 * acknowledged. */
static bool
queue_recover_check(const char *env, const char *msg, const char **why_r)
{
	int fd = open(env, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	size_t len = 0;
	char *text = fd >= 0 ? fileio_read_bounded(fd, ENVELOPE_MAX_SIZE, &len)
	                     : NULL;
	const char *err = NULL;
	struct envelope *e =
	        text != NULL ? envelope_parse(text, len, &err) : NULL;
	struct stat st;
	bool ok = false;

	if (fd >= 0)
		close(fd);
	free(text);
	if (e == NULL)
		*why_r = "envelope-unreadable";
	else if (stat(msg, &st) < 0 || (uint64_t)st.st_size != e->size)
		*why_r = "message-file-size";
	else
		ok = true;
	envelope_free(&e);
	return ok;
}

/* A queued message is spool/msg/ID plus spool/env/ID (docs/queue.md).
 * A message without its envelope, or a temporary envelope, was never
 * acknowledged: remove it. An envelope without its message, one that does
 * not parse, or one whose message file is not the size it records is
 * moved to spool/corrupt/ (with the message file as ID.msg) for the
 * administrator. */
static void
queue_recover_queued(void)
{
	DIR *d = opendir("spool/env");
	struct dirent *de;
	unsigned corrupt = 0, removed = 0, queued = 0;

	if (d == NULL)
		fatal_errno("opendir spool/env");
	while ((de = readdir(d)) != NULL) {
		char env[300], msg[300], bad[310];
		size_t n = strlen(de->d_name);
		const char *why = NULL;

		if (de->d_name[0] == '.')
			continue;
		snprintf(env, sizeof(env), "spool/env/%s", de->d_name);
		if (n > 4 && strcmp(de->d_name + n - 4, ".tmp") == 0) {
			removed += unlink(env) == 0;
			continue;
		}
		snprintf(msg, sizeof(msg), "spool/msg/%s", de->d_name);
		if (access(msg, F_OK) < 0)
			why = "no-message-file";
		else if (queue_recover_check(env, msg, &why)) {
			queued++;
			continue;
		}
		snprintf(bad, sizeof(bad), "spool/corrupt/%s.msg", de->d_name);
		if (access(msg, F_OK) == 0 && rename(msg, bad) < 0)
			log_err_errno("msg=%s rename %s", de->d_name, msg);
		snprintf(bad, sizeof(bad), "spool/corrupt/%s", de->d_name);
		if (rename(env, bad) == 0)
			corrupt++;
		log_err("msg=%s event=quarantined reason=%s", de->d_name, why);
	}
	closedir(d);
	d = opendir("spool/msg");
	if (d == NULL)
		fatal_errno("opendir spool/msg");
	while ((de = readdir(d)) != NULL) {
		char env[300], msg[300];

		if (de->d_name[0] == '.')
			continue;
		snprintf(env, sizeof(env), "spool/env/%s", de->d_name);
		snprintf(msg, sizeof(msg), "spool/msg/%s", de->d_name);
		if (access(env, F_OK) < 0 && errno == ENOENT)
			removed += unlink(msg) == 0;
	}
	closedir(d);
	log_info("event=recover queued=%u removed=%u quarantined=%u", queued,
	         removed, corrupt);
}

/* fileio_syncfs_trails for data_dir/sub, or data_dir before sub is made.
 * It reads /sys and /proc, so it runs before the chroot. */
static bool
queue_probe_trails(const char *data_dir, const char *sub)
{
	char *path = xasprintf("%s/%s", data_dir, sub);
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	bool trails;

	if (fd < 0)
		fd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	trails = fd < 0 || fileio_syncfs_trails(fd);
	if (fd >= 0)
		close(fd);
	free(path);
	return trails;
}

static void
queue_log_trails(const char *dir)
{
	log_info("event=flush-mode dir=%s mode=\"syncfs, then a device "
	         "flush\" reason=\"ext2/3/4 without a journal, or not "
	         "known\"",
	         dir);
}

static void
queue_start(struct role *r)
{
	struct stat st_spool, st_mail;

	q.role = r;
	q.linked_tail = &q.linked;
	strmap_init(&q.cleared, STRMAP_KEYS_COPIED);
	q.mail_fd = -1;
	q.spool_trails = queue_probe_trails(r->cfg->data_dir, "spool");
	q.mail_trails = queue_probe_trails(r->cfg->data_dir, "mail");
	role_drop_privileges(r, r->cfg->data_dir);
	for (size_t i = 0; i < 4; i++) {
		static const char *const dirs[] = {
		        "spool/tmp", "spool/msg", "spool/env", "spool/corrupt"};

		if (mkdir(dirs[i], 0700) < 0 && errno != EEXIST)
			fatal_errno("mkdir %s", dirs[i]);
	}
	q.spool_fd = open("spool", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (q.spool_fd < 0 || fstat(q.spool_fd, &st_spool) < 0)
		fatal_errno("open spool");
	if (stat("mail", &st_mail) < 0)
		fatal_errno("stat mail");
	if (st_mail.st_dev != st_spool.st_dev) {
		/* The store copies instead of linking (DESIGN.md), and the
		 * flush covers both file systems. */
		q.mail_fd = open("mail", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (q.mail_fd < 0)
			fatal_errno("open mail");
		if (q.mail_trails)
			queue_log_trails("mail");
	}
	if (q.spool_trails)
		queue_log_trails("spool");
	queue_recover();
	queue_recover_queued();
	queue_flusher_start(r);
	/* The store keeps mail/DOMAIN/LOCAL/ under the data directory. */
	q.store = store_local_new(".");
}

static void
queue_peer(struct role *r, const char *peer, int fd)
{
	for (size_t i = 0; i < QUEUE_MAX_CLIENTS; i++) {
		if (q.clients[i].ipc == NULL) {
			q.clients[i].ipc = ipc_new(
			        r->loop, fd, queue_client_msg, &q.clients[i]);
			return;
		}
	}
	log_err("queue: too many clients, refusing peer %s", peer);
	close(fd);
}

static void
queue_reload(struct role *r, struct config *cfg)
{
	role_set_config(r, cfg);
}

static void
queue_shutdown(struct role *r, uint64_t grace_ms)
{
	(void)r;
	(void)grace_ms;
	/* Answer every commit already taken before going. */
	loop_timer_remove(&q.cycle);
	queue_cycle_run();
	while (q.flushing) {
		struct pollfd pfd = {.fd = q.flush_done, .events = POLLIN};

		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			fatal_errno("queue: poll");
		queue_flush_event(NULL, LOOP_READ);
		loop_timer_remove(&q.cycle);
	}
	exit(0);
}

const struct role_ops queue_role_ops = {
        .name = "queue",
        .start = queue_start,
        .peer = queue_peer,
        .reload = queue_reload,
        .shutdown = queue_shutdown,
};
