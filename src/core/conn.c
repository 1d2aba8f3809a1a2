/*
 * conn — a non-blocking connection on the event loop: reads into a
 * bounded input buffer, queues output in chunks, optionally speaks TLS
 * through the memory-BIO engine of tls/tls.c, and reports events to its
 * owner. Every session role (smtp, mailbox) and the inetd mode run it.
 *
 * Invariants:
 * - Events reach the owner only from loop context (an fd event, a timer or
 *   a deferred call), never from inside a conn_* call, so the owner's
 *   state is never re-entered.
 * - Every such entry holds the conn (hold count) while it runs. conn_free()
 *   tears the I/O down at once but releases the memory only when nothing
 *   holds the conn and no deferred call is pending (the release itself is
 *   a deferred call), so code unwinding after a callback never touches
 *   freed memory (STYLE.md 4).
 * - The input buffer never grows past in_max. Reading stops while it is
 *   full, while more than CONN_OUT_HIGH bytes wait for output (until they
 *   fall below CONN_OUT_LOW) and, under TLS, while OpenSSL already holds
 *   CONN_TLS_IN_LIMIT unprocessed bytes.
 * - LOOP_WRITE is watched only while output is queued.
 * - epoll cannot see bytes held inside OpenSSL or already read into the
 *   input buffer, so after the owner makes room, un-pauses or consumes
 *   outside a callback, a deferred call runs the engine and redelivers
 *   CONN_EV_DATA.
 */
#include "core/conn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/xalloc.h"
#include "log/log.h"
#include "tls/tls.h"

#define CONN_CHUNK_SIZE 16384
#define CONN_READ_SIZE  16384
#define CONN_IOV_MAX    16
/* Unprocessed ciphertext allowed inside OpenSSL before reading pauses. */
#define CONN_TLS_IN_LIMIT 32768
/* How long a closing conn keeps discarding input after its last byte was
 * sent, so that closing with unread input does not reset the connection
 * and destroy the reply the peer has not read yet. */
#define CONN_LINGER_MSEC 2000
/* Events delivered in one entry before the rest is deferred, so one busy
 * conn cannot starve the loop. */
#define CONN_MAX_ROUNDS 32

struct conn_chunk {
	struct conn_chunk *next;
	size_t start;
	size_t end;
	size_t cap;
	char data[];
};

/* A FIFO of bytes in chunks: appending never moves queued bytes. */
struct conn_queue {
	struct conn_chunk *head;
	struct conn_chunk *tail;
	size_t len;
};

struct conn {
	struct loop *loop;
	conn_event_fn *cb;
	void *arg;

	int in_fd;
	int out_fd;             /* == in_fd unless a pair */
	bool pair;              /* separate in and out descriptors */
	bool in_is_socket;      /* lingering close applies */
	bool out_is_socket;     /* send with MSG_NOSIGNAL, shutdown */
	struct loop_io *in_io;  /* both directions unless a pair */
	struct loop_io *out_io; /* pair only */

	struct buf in;
	struct conn_queue out;   /* bytes for the wire */
	struct conn_queue plain; /* TLS plaintext not yet encrypted */
	struct tls *tls;

	uint64_t timeout_msec;
	uint64_t last_active;
	struct loop_timer *timer;
	struct loop_timer *linger_timer;

	unsigned hold;
	bool defer_pending;
	bool dead;     /* conn_free() was called */
	bool finished; /* a final event was delivered */
	bool failed;   /* an error is recorded */
	bool paused;
	bool eof;         /* the peer sent no more input */
	bool closing;     /* conn_close_after_flush() */
	bool shut;        /* our write side is closed */
	bool lingering;   /* discarding input before CLOSED */
	bool out_blocked; /* input stopped by backpressure */
	bool want_flush;  /* output was queued since the last write */
	bool had_output;  /* output was queued since the last DRAINED */
	bool tls_ready;   /* handshake completed */

	/* Events waiting for delivery. */
	bool ev_data;
	bool ev_drained;
	bool ev_timeout;
	bool ev_tls_ready;
	bool ev_close_done;

	char error[160];
};

static void conn_deferred(void *arg);
static void conn_on_idle_timer(void *arg);
static void conn_on_linger_timer(void *arg);

/* --- output queue ----------------------------------------------------- */

static void
conn_queue_pop(struct conn_queue *q)
{
	struct conn_chunk *ch = q->head;

	q->head = ch->next;
	if (q->head == NULL)
		q->tail = NULL;
	free(ch);
}

static void
conn_queue_clear(struct conn_queue *q)
{
	while (q->head != NULL)
		conn_queue_pop(q);
	q->len = 0;
}

/* Returns writable space at the tail, at least one byte; a new chunk holds
 * at least `want` bytes. Follow with conn_queue_commit(). */
static char *
conn_queue_space(struct conn_queue *q, size_t want, size_t *avail_r)
{
	struct conn_chunk *t = q->tail;

	if (t == NULL || t->end == t->cap) {
		size_t cap = want > CONN_CHUNK_SIZE ? want : CONN_CHUNK_SIZE;

		t = xmalloc(sizeof(*t) + cap);
		t->cap = cap;
		if (q->tail != NULL)
			q->tail->next = t;
		else
			q->head = t;
		q->tail = t;
	}
	*avail_r = t->cap - t->end;
	return t->data + t->end;
}

static void
conn_queue_commit(struct conn_queue *q, size_t len)
{
	q->tail->end += len;
	q->len += len;
}

static void
conn_queue_append(struct conn_queue *q, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		size_t avail;
		char *dst = conn_queue_space(q, len, &avail);
		size_t n = len < avail ? len : avail;

		memcpy(dst, p, n);
		conn_queue_commit(q, n);
		p += n;
		len -= n;
	}
}

static void
conn_queue_consume(struct conn_queue *q, size_t len)
{
	while (len > 0) {
		struct conn_chunk *h = q->head;
		size_t have = h->end - h->start;
		size_t n = len < have ? len : have;

		h->start += n;
		q->len -= n;
		len -= n;
		if (h->start == h->end)
			conn_queue_pop(q);
	}
}

static int
conn_queue_iov(const struct conn_queue *q, struct iovec *iov, int max,
               size_t *total_r)
{
	int n = 0;

	*total_r = 0;
	for (struct conn_chunk *ch = q->head; ch != NULL && n < max;
	     ch = ch->next) {
		iov[n].iov_base = ch->data + ch->start;
		iov[n].iov_len = ch->end - ch->start;
		*total_r += iov[n].iov_len;
		n++;
	}
	return n;
}

/* --- state helpers ---------------------------------------------------- */

static void conn_fail(struct conn *c, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* Records the first error; CONN_EV_ERROR follows and all I/O stops. */
static void
conn_fail(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	if (c->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
	c->failed = true;
}

static void
conn_fail_errno(struct conn *c, const char *what)
{
	conn_fail(c, "%s: %s", what, strerror(errno));
}

static void
conn_touch(struct conn *c)
{
	c->last_active = loop_now(c->loop);
}

/* Runs conn_deferred() after this dispatch round, once. */
static void
conn_schedule(struct conn *c)
{
	if (c->defer_pending)
		return;
	c->defer_pending = true;
	loop_defer(c->loop, conn_deferred, c);
}

/* Makes sure pending work runs: at the end of the current entry if one
 * holds the conn, otherwise in a deferred call. */
static void
conn_kick(struct conn *c)
{
	if (c->hold == 0)
		conn_schedule(c);
}

static void
conn_release(struct conn *c)
{
	buf_deinit(&c->in);
	conn_queue_clear(&c->out);
	conn_queue_clear(&c->plain);
	tls_free(&c->tls);
	free(c);
}

static void
conn_unhold(struct conn *c)
{
	if (--c->hold == 0 && c->dead)
		conn_schedule(c);
}

size_t
conn_output_pending(const struct conn *c)
{
	return c->out.len + c->plain.len;
}

static bool
conn_is_active(const struct conn *c)
{
	return !c->dead && !c->failed && !c->finished;
}

static bool
conn_wants_read(const struct conn *c)
{
	if (!conn_is_active(c) || c->in_fd < 0)
		return false;
	if (c->lingering)
		return true;
	if (c->eof || c->closing)
		return false;
	if (c->tls != NULL) {
		if (tls_input_pending(c->tls) >= CONN_TLS_IN_LIMIT)
			return false;
		/* Output queued before the handshake cannot drain until it
		 * completes, so backpressure must not stall it. */
		if (!c->tls_ready)
			return true;
	}
	return !c->out_blocked && buf_room(&c->in) > 0;
}

static bool
conn_wants_write(const struct conn *c)
{
	return conn_is_active(c) && c->out_fd >= 0 && !c->shut &&
	       c->out.len > 0;
}

/* Watches `events` on *iop, adding the fd again if it was parked. */
static void
conn_watch(struct conn *c, struct loop_io **iop, int fd, unsigned events,
           loop_io_fn *cb)
{
	if (*iop != NULL)
		loop_io_set(*iop, events);
	else if (events != 0 && fd >= 0)
		*iop = loop_io_add(c->loop, fd, events, cb, c);
}

static void conn_io_both(void *arg, unsigned events);
static void conn_io_in(void *arg, unsigned events);
static void conn_io_out(void *arg, unsigned events);

static void
conn_update_interest(struct conn *c)
{
	unsigned r = conn_wants_read(c) ? LOOP_READ : 0;
	unsigned w = conn_wants_write(c) ? LOOP_WRITE : 0;

	if (c->dead)
		return;
	if (!c->pair) {
		conn_watch(c, &c->in_io, c->in_fd, r | w, conn_io_both);
		return;
	}
	conn_watch(c, &c->in_io, c->in_fd, r, conn_io_in);
	conn_watch(c, &c->out_io, c->out_fd, w, conn_io_out);
}

/* --- TLS glue --------------------------------------------------------- */

/* Moves the engine's pending ciphertext onto the wire queue. */
static void
conn_tls_drain(struct conn *c)
{
	size_t pending;

	while ((pending = tls_output_pending(c->tls)) > 0) {
		size_t avail;
		char *p = conn_queue_space(&c->out, pending, &avail);
		size_t n = tls_take_output(c->tls, p, avail);

		if (n == 0)
			break;
		conn_queue_commit(&c->out, n);
		c->want_flush = true;
	}
}

/* Encrypts queued plaintext once the handshake is done. */
static void
conn_tls_encrypt(struct conn *c)
{
	while (c->tls_ready && c->plain.len > 0 && !c->failed) {
		struct conn_chunk *h = c->plain.head;
		size_t n;
		enum tls_result r = tls_write(c->tls, h->data + h->start,
		                              h->end - h->start, &n);

		conn_tls_drain(c);
		if (r != TLS_OK) {
			/* TLS_WANT_INPUT resumes after the next input, a
			 * drained TLS_WANT_OUTPUT at the next flush. */
			if (r == TLS_ERROR)
				conn_fail(c, "%s", tls_error(c->tls));
			break;
		}
		conn_queue_consume(&c->plain, n);
	}
}

static void
conn_tls_handshake(struct conn *c)
{
	enum tls_result r = tls_handshake(c->tls);

	conn_tls_drain(c);
	if (r == TLS_ERROR) {
		conn_fail(c, "%s", tls_error(c->tls));
		return;
	}
	if (r != TLS_OK)
		return;
	c->tls_ready = true;
	c->ev_tls_ready = true;
	conn_tls_encrypt(c);
}

/* Runs the engine: handshake, then decrypt into the input buffer until
 * it is full or OpenSSL wants more ciphertext. */
static void
conn_tls_pump(struct conn *c)
{
	if (!c->tls_ready) {
		conn_tls_handshake(c);
		if (!c->tls_ready || c->failed)
			return;
	}
	while (!c->eof && !c->failed && buf_room(&c->in) > 0) {
		size_t avail, n;
		char *p = buf_space(&c->in, CONN_READ_SIZE, &avail);
		enum tls_result r = tls_read(c->tls, p, avail, &n);

		if (r == TLS_OK) {
			buf_commit(&c->in, n);
			c->ev_data = true;
		} else if (r == TLS_CLOSED) {
			c->eof = true;
		} else if (r == TLS_ERROR) {
			conn_fail(c, "%s", tls_error(c->tls));
		} else if (r == TLS_WANT_OUTPUT &&
		           tls_output_pending(c->tls) > 0) {
			conn_tls_drain(c);
		} else {
			break;
		}
	}
	conn_tls_drain(c);
	/* A write that waited for input (TLS_WANT_INPUT) may proceed now. */
	conn_tls_encrypt(c);
}

static bool
conn_tls_needs_pump(const struct conn *c)
{
	return c->tls != NULL && c->tls_ready && conn_is_active(c) && !c->eof &&
	       !c->closing && buf_room(&c->in) > 0 &&
	       tls_has_buffered_input(c->tls);
}

/* --- reading ---------------------------------------------------------- */

static void
conn_finish_close(struct conn *c)
{
	c->lingering = false;
	loop_timer_remove(&c->linger_timer);
	c->ev_close_done = true;
}

static void
conn_read_linger(struct conn *c)
{
	char scratch[4096];
	ssize_t n = read(c->in_fd, scratch, sizeof(scratch));

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		conn_finish_close(c);
}

static void
conn_read_plain(struct conn *c)
{
	size_t avail;
	char *p = buf_space(&c->in, CONN_READ_SIZE, &avail);
	ssize_t n;

	if (avail == 0)
		return;
	n = read(c->in_fd, p, avail);
	if (n > 0) {
		buf_commit(&c->in, (size_t)n);
		c->ev_data = true;
		conn_touch(c);
	} else if (n == 0) {
		c->eof = true;
	} else if (errno != EAGAIN && errno != EINTR) {
		conn_fail_errno(c, "read");
	}
}

static void
conn_read_tls(struct conn *c)
{
	char raw[CONN_READ_SIZE];
	ssize_t n = read(c->in_fd, raw, sizeof(raw));

	if (n > 0) {
		tls_feed(c->tls, raw, (size_t)n);
		conn_touch(c);
		conn_tls_pump(c);
	} else if (n == 0) {
		if (!c->tls_ready)
			conn_fail(c, "TLS handshake: connection closed");
		c->eof = true;
	} else if (errno != EAGAIN && errno != EINTR) {
		conn_fail_errno(c, "read");
	}
}

static void
conn_read(struct conn *c)
{
	if (c->lingering)
		conn_read_linger(c);
	else if (c->tls != NULL)
		conn_read_tls(c);
	else
		conn_read_plain(c);
}

/* --- writing ---------------------------------------------------------- */

/* Closes our write side once everything queued is out. */
static void
conn_shut(struct conn *c)
{
	c->shut = true;
	if (c->out_is_socket && shutdown(c->out_fd, SHUT_WR) < 0 &&
	    errno != ENOTCONN)
		log_debug("conn shutdown fd=%d: %s", c->out_fd,
		          strerror(errno));
	if (c->pair) {
		loop_io_remove(&c->out_io);
		close(c->out_fd);
		c->out_fd = -1;
	}
	if (c->eof || !c->in_is_socket || c->in_fd < 0) {
		conn_finish_close(c);
		return;
	}
	c->lingering = true;
	c->linger_timer = loop_timer_add(c->loop, CONN_LINGER_MSEC,
	                                 conn_on_linger_timer, c);
}

static ssize_t
conn_writev(struct conn *c, struct iovec *iov, int cnt)
{
	if (c->out_is_socket) {
		struct msghdr msg = {
		        .msg_iov = iov,
		        .msg_iovlen = (size_t)cnt,
		};
		ssize_t n = sendmsg(c->out_fd, &msg, MSG_NOSIGNAL);

		if (n >= 0 || errno != ENOTSOCK)
			return n;
		c->out_is_socket = false;
	}
	return writev(c->out_fd, iov, cnt);
}

/* Writes queued bytes until the kernel refuses more. */
static void
conn_write_out(struct conn *c)
{
	while (c->out.len > 0 && !c->failed) {
		struct iovec iov[CONN_IOV_MAX];
		size_t total;
		int cnt = conn_queue_iov(&c->out, iov, CONN_IOV_MAX, &total);
		ssize_t n = conn_writev(c, iov, cnt);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				conn_fail_errno(c, "write");
			return;
		}
		conn_queue_consume(&c->out, (size_t)n);
		conn_touch(c);
		if ((size_t)n < total)
			return;
	}
}

static void
conn_flush(struct conn *c)
{
	c->want_flush = false;
	if (!conn_is_active(c) || c->out_fd < 0 || c->shut)
		return;
	if (c->tls != NULL)
		conn_tls_encrypt(c);
	conn_write_out(c);
	if (c->failed)
		return;
	if (conn_output_pending(c) == 0) {
		if (c->had_output && !c->closing)
			c->ev_drained = true;
		c->had_output = false;
		if (c->closing)
			conn_shut(c);
	}
	if (c->out_blocked && conn_output_pending(c) < CONN_OUT_LOW)
		c->out_blocked = false;
}

/* --- event delivery --------------------------------------------------- */

static bool
conn_eof_ready(const struct conn *c)
{
	return c->eof && !c->closing && !c->paused &&
	       conn_output_pending(c) == 0;
}

static void
conn_emit(struct conn *c, enum conn_event ev)
{
	if (ev == CONN_EV_ERROR || ev == CONN_EV_CLOSED)
		c->finished = true;
	c->cb(c, ev, c->arg);
}

/* Delivers the most urgent pending event; false if there was none. */
static bool
conn_deliver_one(struct conn *c)
{
	if (c->dead || c->finished)
		return false;
	if (c->failed) {
		conn_emit(c, CONN_EV_ERROR);
		return true;
	}
	if (c->ev_tls_ready) {
		c->ev_tls_ready = false;
		conn_emit(c, CONN_EV_TLS_READY);
		return true;
	}
	if (c->ev_data && !c->paused && !c->closing) {
		c->ev_data = false;
		if (buf_len(&c->in) > 0) {
			conn_emit(c, CONN_EV_DATA);
			return true;
		}
	}
	if (c->ev_drained) {
		c->ev_drained = false;
		conn_emit(c, CONN_EV_DRAINED);
		return true;
	}
	if (c->ev_timeout) {
		c->ev_timeout = false;
		conn_emit(c, CONN_EV_TIMEOUT);
		return true;
	}
	if (c->ev_close_done || conn_eof_ready(c)) {
		conn_emit(c, CONN_EV_CLOSED);
		return true;
	}
	return false;
}

/*
 * The end of every entry: runs the TLS engine over buffered input,
 * flushes output and delivers events until nothing changes, then sets the
 * fd interest. The caller holds the conn.
 */
static void
conn_run(struct conn *c)
{
	int rounds;

	for (rounds = 0; rounds < CONN_MAX_ROUNDS; rounds++) {
		if (c->dead)
			return;
		if (conn_tls_needs_pump(c))
			conn_tls_pump(c);
		if (c->want_flush)
			conn_flush(c);
		if (!conn_deliver_one(c))
			break;
	}
	if (c->dead)
		return;
	if (rounds == CONN_MAX_ROUNDS)
		conn_schedule(c);
	conn_update_interest(c);
}

static void
conn_deferred(void *arg)
{
	struct conn *c = arg;

	c->defer_pending = false;
	if (c->dead) {
		if (c->hold == 0)
			conn_release(c);
		return;
	}
	c->hold++;
	conn_run(c);
	conn_unhold(c);
}

/* --- loop entries ----------------------------------------------------- */

static bool
conn_on_in(struct conn *c, unsigned events)
{
	if (!(events & (LOOP_READ | LOOP_ERROR)) || !conn_wants_read(c))
		return false;
	conn_read(c);
	return true;
}

static bool
conn_on_out(struct conn *c, unsigned events)
{
	if (!(events & (LOOP_WRITE | LOOP_ERROR)) || !conn_wants_write(c))
		return false;
	conn_flush(c);
	return true;
}

/*
 * epoll reports a hang-up even without interest. If nothing could be done
 * about it now (no room to read, nothing to write), the fd is parked:
 * removed until conn_update_interest() wants it again, when the read or
 * write will see the condition.
 */
static void
conn_io_both(void *arg, unsigned events)
{
	struct conn *c = arg;
	bool did;

	c->hold++;
	did = conn_on_in(c, events);
	did = conn_on_out(c, events) || did;
	if ((events & LOOP_ERROR) && !did)
		loop_io_remove(&c->in_io);
	conn_run(c);
	conn_unhold(c);
}

static void
conn_io_in(void *arg, unsigned events)
{
	struct conn *c = arg;

	c->hold++;
	if (!conn_on_in(c, events) && (events & LOOP_ERROR))
		loop_io_remove(&c->in_io);
	conn_run(c);
	conn_unhold(c);
}

static void
conn_io_out(void *arg, unsigned events)
{
	struct conn *c = arg;

	c->hold++;
	if (!conn_on_out(c, events) && (events & LOOP_ERROR))
		loop_io_remove(&c->out_io);
	conn_run(c);
	conn_unhold(c);
}

/*
 * The idle timer is armed for the full timeout and, when it fires early
 * because there was activity meanwhile, re-armed for the remainder: input
 * does not touch the timer heap.
 */
static void
conn_on_idle_timer(void *arg)
{
	struct conn *c = arg;
	uint64_t now = loop_now(c->loop);
	uint64_t idle = now - c->last_active;

	c->timer = NULL; /* the loop freed it */
	c->hold++;
	if (idle >= c->timeout_msec) {
		if (c->lingering)
			conn_finish_close(c);
		else if (c->closing)
			conn_fail(c, "timeout: the peer does not read");
		else
			c->ev_timeout = true;
		c->last_active = now;
		idle = 0;
	}
	if (conn_is_active(c))
		c->timer = loop_timer_add(c->loop, c->timeout_msec - idle,
		                          conn_on_idle_timer, c);
	conn_run(c);
	conn_unhold(c);
}

static void
conn_on_linger_timer(void *arg)
{
	struct conn *c = arg;

	c->linger_timer = NULL; /* the loop freed it */
	c->hold++;
	conn_finish_close(c);
	conn_run(c);
	conn_unhold(c);
}

/* --- public interface ------------------------------------------------- */

static bool
conn_fd_is_socket(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

static struct conn *
conn_create(struct loop *loop, int in_fd, int out_fd, size_t in_max,
            conn_event_fn *cb, void *arg)
{
	struct conn *c = xmalloc(sizeof(*c));

	c->loop = loop;
	c->cb = cb;
	c->arg = arg;
	c->in_fd = in_fd;
	c->out_fd = out_fd;
	c->pair = in_fd != out_fd;
	buf_init(&c->in, in_max);
	conn_touch(c);
	conn_update_interest(c);
	return c;
}

struct conn *
conn_new(struct loop *loop, int fd, size_t in_max, conn_event_fn *cb, void *arg)
{
	struct conn *c = conn_create(loop, fd, fd, in_max, cb, arg);

	c->in_is_socket = true;
	c->out_is_socket = true;
	return c;
}

static void
conn_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		fatal_errno("fcntl O_NONBLOCK fd=%d", fd);
}

struct conn *
conn_new_pair(struct loop *loop, int in_fd, int out_fd, size_t in_max,
              conn_event_fn *cb, void *arg)
{
	struct conn *c;

	conn_set_nonblock(in_fd);
	conn_set_nonblock(out_fd);
	c = conn_create(loop, in_fd, out_fd, in_max, cb, arg);
	c->in_is_socket = conn_fd_is_socket(in_fd);
	c->out_is_socket = conn_fd_is_socket(out_fd);
	return c;
}

void
conn_free(struct conn **cp)
{
	struct conn *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	if (c->dead)
		panic("conn_free: conn %p freed twice", (void *)c);
	c->dead = true;
	loop_io_remove(&c->in_io);
	loop_io_remove(&c->out_io);
	loop_timer_remove(&c->timer);
	loop_timer_remove(&c->linger_timer);
	if (c->in_fd >= 0)
		close(c->in_fd);
	if (c->pair && c->out_fd >= 0)
		close(c->out_fd);
	c->in_fd = c->out_fd = -1;
	/* Held: the entry's end schedules the release. Deferred call
	 * pending: it releases. */
	if (c->hold == 0 && !c->defer_pending)
		conn_release(c);
}

struct buf *
conn_input(struct conn *c)
{
	return &c->in;
}

void
conn_write(struct conn *c, const void *data, size_t len)
{
	if (len == 0 || !conn_is_active(c) || c->closing || c->shut)
		return;
	conn_queue_append(c->tls != NULL ? &c->plain : &c->out, data, len);
	c->want_flush = true;
	c->had_output = true;
	if (conn_output_pending(c) > CONN_OUT_HIGH)
		c->out_blocked = true;
	conn_kick(c);
}

void
conn_printf(struct conn *c, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		panic("conn_printf: bad format \"%s\"", fmt);
	if ((size_t)n < sizeof(small)) {
		conn_write(c, small, (size_t)n);
		return;
	}

	char *big;

	va_start(ap, fmt);
	big = xvasprintf(fmt, ap);
	va_end(ap);
	conn_write(c, big, (size_t)n);
	free(big);
}

void
conn_set_timeout(struct conn *c, uint64_t msec)
{
	if (c->dead)
		return;
	loop_timer_remove(&c->timer);
	c->timeout_msec = msec;
	conn_touch(c);
	if (msec > 0)
		c->timer = loop_timer_add(c->loop, msec, conn_on_idle_timer, c);
}

void
conn_pause(struct conn *c, bool paused)
{
	bool was_paused = c->paused;

	if (c->dead)
		return;
	c->paused = paused;
	if (paused)
		return;
	/* epoll will not report bytes already in the buffer. */
	if (was_paused && buf_len(&c->in) > 0)
		c->ev_data = true;
	conn_kick(c);
}

void
conn_close_after_flush(struct conn *c)
{
	if (!conn_is_active(c) || c->closing)
		return;
	c->closing = true;
	c->ev_data = false;
	c->ev_drained = false;
	if (c->tls != NULL) {
		if (c->tls_ready) {
			conn_tls_encrypt(c);
			tls_shutdown(c->tls);
			conn_tls_drain(c);
		} else {
			/* Plaintext cannot go out before the handshake. */
			conn_queue_clear(&c->plain);
		}
	}
	c->want_flush = true;
	conn_kick(c);
}

void
conn_start_tls(struct conn *c, SSL_CTX *ctx)
{
	const char *error;

	if (c->tls != NULL)
		panic("conn_start_tls: conn %p already uses TLS", (void *)c);
	if (!conn_is_active(c) || c->closing)
		return;
	/* Plaintext read after STARTTLS must never pass for protected
	 * input (RFC 3207 section 4.2, CVE-2011-0411). */
	buf_clear(&c->in);
	c->ev_data = false;
	c->tls = tls_new(ctx, TLS_ROLE_SERVER, &error);
	if (c->tls == NULL)
		conn_fail(c, "%s", error);
	conn_kick(c);
}

bool
conn_is_tls(const struct conn *c)
{
	return c->tls != NULL;
}

const char *
conn_tls_version(const struct conn *c)
{
	return c->tls_ready ? tls_version(c->tls) : NULL;
}

const char *
conn_tls_cipher(const struct conn *c)
{
	return c->tls_ready ? tls_cipher(c->tls) : NULL;
}

const char *
conn_error(const struct conn *c)
{
	return c->error[0] != '\0' ? c->error : "no error";
}
