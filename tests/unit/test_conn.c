/*
 * Unit tests for conn: a real loop over socketpairs and pipes, plaintext
 * and TLS. TLS clients are plain blocking OpenSSL clients in a forked
 * child, so the server side is tested against code that is not ours.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/buf.h"
#include "core/conn.h"
#include "core/loop.h"
#include "core/xalloc.h"
#include "tls/tls.h"

#define WATCHDOG_MSEC 10000
#define MAX_LINES     16
#define LINE_MAX_LEN  2048

/* --- harness ---------------------------------------------------------- */

struct watchdog {
	struct loop *loop;
	bool fired;
};

static void
watchdog_fire(void *arg)
{
	struct watchdog *w = arg;

	w->fired = true;
	loop_stop(w->loop);
}

/* Runs the loop until a callback stops it; fails after WATCHDOG_MSEC. */
static void
run_loop(struct loop *loop)
{
	struct watchdog w = {.loop = loop};
	struct loop_timer *t =
	        loop_timer_add(loop, WATCHDOG_MSEC, watchdog_fire, &w);

	loop_run(loop);
	if (w.fired)
		fail_msg("watchdog: the loop did not finish");
	loop_timer_remove(&t);
}

static void
stop_cb(void *arg)
{
	loop_stop(arg);
}

/* Runs one more round so deferred calls (releases) happen. */
static void
settle(struct loop *loop)
{
	loop_timer_add(loop, 0, stop_cb, loop);
	loop_run(loop);
}

static void
make_pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX,
	                            SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	                            0, sv),
	                 0);
}

static void
write_str(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

static int
unread_bytes(int fd)
{
	int n = -1;

	assert_int_equal(ioctl(fd, FIONREAD, &n), 0);
	return n;
}

static char
pattern(size_t i)
{
	return (char)('a' + i % 26);
}

static void
write_pattern(struct conn *c, size_t total)
{
	char chunk[8192];

	for (size_t off = 0; off < total;) {
		size_t n = total - off < sizeof(chunk) ? total - off
		                                       : sizeof(chunk);

		for (size_t i = 0; i < n; i++)
			chunk[i] = pattern(off + i);
		conn_write(c, chunk, n);
		off += n;
	}
}

/* Reads what is there from a non-blocking fd; -1 on EOF. */
static ssize_t
read_some(int fd, char *p, size_t len)
{
	ssize_t n = read(fd, p, len);

	if (n == 0)
		return -1;
	if (n < 0 && errno == EAGAIN)
		return 0;
	if (n < 0)
		fail_msg("read: %s", strerror(errno));
	return n;
}

/* Counts ends of conversations and stops the loop at the target. */
struct ender {
	struct loop *loop;
	int n;
	int target;
};

static void
ender_hit(struct ender *e)
{
	if (e != NULL && ++e->n == e->target)
		loop_stop(e->loop);
}

/* --- a line server ---------------------------------------------------- */

/*
 * Answers "ok LINE" (or "ok LENGTH" for long lines), "big N" with N
 * pattern bytes then "end", "quit" with "bye" and a close, STARTTLS with
 * "220 go" and a TLS switch.
 */
struct server {
	struct loop *loop;
	struct conn *c;
	SSL_CTX *tls;
	struct ender *ender;
	char lines[MAX_LINES][48];
	int nlines;
	int nev[CONN_EV_TLS_READY + 1];
	enum conn_event seq[32];
	int nseq;
	char version[32];
	char cipher[64];
	char error[160];
	bool ended;
	bool timeout_reply; /* on TIMEOUT: reply 421 and close */
	bool free_on_ready; /* on TLS_READY: free the conn */
	int closed_at_unpause;
	size_t pending_at_close;
};

/* Returns false once the conn must not be read further. */
static bool
server_line(struct server *s, const char *line, size_t len)
{
	char cmd[48];

	snprintf(cmd, sizeof(cmd), "%.*s", (int)(len < 47 ? len : 47), line);
	if (s->nlines < MAX_LINES)
		memcpy(s->lines[s->nlines], cmd, sizeof(cmd));
	s->nlines++;
	if (strcmp(cmd, "quit") == 0) {
		conn_write(s->c, "bye\r\n", 5);
		conn_close_after_flush(s->c);
		return false;
	}
	if (strcmp(cmd, "STARTTLS") == 0) {
		conn_write(s->c, "220 go\r\n", 8);
		buf_clear(conn_input(s->c));
		conn_start_tls(s->c, s->tls);
		return false;
	}
	if (strncmp(cmd, "big ", 4) == 0) {
		write_pattern(s->c, strtoul(cmd + 4, NULL, 10));
		conn_write(s->c, "end\r\n", 5);
	} else if (len <= 40) {
		conn_printf(s->c, "ok %.*s\r\n", (int)len, line);
	} else {
		conn_printf(s->c, "ok %zu\r\n", len);
	}
	return true;
}

static void
server_data(struct server *s)
{
	struct buf *in = conn_input(s->c);

	for (;;) {
		const char *line;
		size_t len;
		enum buf_line_result r = buf_get_line(
		        in, BUF_EOL_CRLF, LINE_MAX_LEN, &line, &len);

		if (r == BUF_LINE_NEED_MORE)
			return;
		if (r == BUF_LINE_TOO_LONG) {
			conn_write(s->c, "toolong\r\n", 9);
			(void)buf_skip_line(in);
			continue;
		}
		if (!server_line(s, line, len))
			return;
	}
}

static void
server_end(struct server *s, enum conn_event ev)
{
	if (ev == CONN_EV_ERROR)
		snprintf(s->error, sizeof(s->error), "%s", conn_error(s->c));
	s->pending_at_close = conn_output_pending(s->c);
	conn_free(&s->c);
	assert_null(s->c);
	s->ended = true;
	ender_hit(s->ender);
}

static void
server_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct server *s = arg;

	assert_ptr_equal(c, s->c);
	s->nev[ev]++;
	if (s->nseq < 32)
		s->seq[s->nseq++] = ev;
	switch (ev) {
	case CONN_EV_DATA:
		server_data(s);
		break;
	case CONN_EV_DRAINED:
		break;
	case CONN_EV_TLS_READY:
		snprintf(s->version, sizeof(s->version), "%s",
		         conn_tls_version(c));
		snprintf(s->cipher, sizeof(s->cipher), "%s",
		         conn_tls_cipher(c));
		if (s->free_on_ready)
			server_end(s, ev);
		break;
	case CONN_EV_TIMEOUT:
		if (s->timeout_reply) {
			conn_write(c, "421 timeout\r\n", 13);
			conn_close_after_flush(c);
		} else {
			server_end(s, ev);
		}
		break;
	case CONN_EV_CLOSED:
	case CONN_EV_ERROR:
		server_end(s, ev);
		break;
	}
}

static void
server_init(struct server *s, struct loop *loop, int fd, size_t in_max,
            struct ender *e)
{
	memset(s, 0, sizeof(*s));
	s->loop = loop;
	s->ender = e;
	s->c = conn_new(loop, fd, in_max, server_cb, s);
}

/* --- a client conn that collects what it receives --------------------- */

struct client {
	struct conn *c;
	struct ender *ender;
	char got[512];
	size_t len;
	bool ended;
};

static void
client_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct client *cl = arg;
	struct buf *in = conn_input(c);

	if (ev == CONN_EV_DATA) {
		size_t n = buf_len(in);

		assert_true(cl->len + n < sizeof(cl->got));
		memcpy(cl->got + cl->len, buf_data(in), n);
		cl->len += n;
		buf_consume(in, n);
	} else if (ev == CONN_EV_CLOSED || ev == CONN_EV_ERROR) {
		conn_free(&cl->c);
		cl->ended = true;
		ender_hit(cl->ender);
	}
}

/* --- plaintext tests -------------------------------------------------- */

static void
test_lines(void **state)
{
	struct loop *loop = loop_new();
	struct ender e = {.loop = loop, .target = 2};
	struct server s;
	struct client cl = {.ender = &e};
	char longline[600];
	int sv[2];

	(void)state;
	make_pair(sv);
	server_init(&s, loop, sv[0], 1024, &e);
	cl.c = conn_new(loop, sv[1], 1024, client_cb, &cl);
	assert_false(conn_is_tls(cl.c));
	assert_null(conn_tls_version(cl.c));
	conn_write(cl.c, "hello\r\n", 7);
	conn_printf(cl.c, "%s\r\n", "world");
	/* Longer than conn_printf's stack buffer. */
	memset(longline, 'y', sizeof(longline));
	conn_printf(cl.c, "%.*s\r\n", (int)sizeof(longline), longline);
	conn_write(cl.c, "quit\r\n", 6);
	assert_int_equal(conn_output_pending(cl.c), 20 + 602);
	run_loop(loop);

	assert_true(s.ended && cl.ended);
	cl.got[cl.len] = '\0';
	assert_string_equal(cl.got,
	                    "ok hello\r\nok world\r\nok 600\r\nbye\r\n");
	assert_int_equal(s.nlines, 4);
	assert_string_equal(s.lines[0], "hello");
	assert_string_equal(s.lines[1], "world");
	assert_string_equal(s.lines[3], "quit");
	assert_int_equal(s.nev[CONN_EV_CLOSED], 1);
	assert_int_equal(s.nev[CONN_EV_ERROR], 0);
	settle(loop);
	loop_free(&loop);
}

/* Writes one piece to `fd` every few milliseconds. */
struct dribble {
	struct loop *loop;
	int fd;
	const char *const *parts;
	int next;
	uint64_t every;
};

static void
dribble_cb(void *arg)
{
	struct dribble *d = arg;

	if (d->parts[d->next] == NULL)
		return;
	write_str(d->fd, d->parts[d->next++]);
	if (d->parts[d->next] != NULL)
		loop_timer_add(d->loop, d->every, dribble_cb, d);
}

static void
stop_after_lines_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct server *s = arg;

	server_cb(c, ev, arg);
	if (s->nlines >= 2)
		loop_stop(s->loop);
}

static void
test_split_reads(void **state)
{
	static const char *const parts[] = {"he", "llo\r", "\nwor", "ld\r\n",
	                                    NULL};
	struct loop *loop = loop_new();
	struct server s;
	struct dribble d = {.loop = loop, .parts = parts, .every = 10};
	int sv[2];

	(void)state;
	make_pair(sv);
	memset(&s, 0, sizeof(s));
	s.loop = loop;
	s.c = conn_new(loop, sv[0], 1024, stop_after_lines_cb, &s);
	d.fd = sv[1];
	loop_timer_add(loop, 1, dribble_cb, &d);
	run_loop(loop);

	assert_int_equal(s.nlines, 2);
	assert_string_equal(s.lines[0], "hello");
	assert_string_equal(s.lines[1], "world");
	assert_true(s.nev[CONN_EV_DATA] >= 3);
	conn_free(&s.c);
	close(sv[1]);
	settle(loop);
	loop_free(&loop);
}

/* Input bound: a 16-byte buffer with 100 bytes sent. */
struct bound {
	struct loop *loop;
	struct conn *c;
	int fd;
	int peer;
	bool pause_first; /* else: leave the bytes and let reading stop */
	int ndata;
	size_t max_len;
	char got[128];
	size_t len;
	/* Observed by the check timer. */
	size_t len_at_check;
	int unread_at_check;
	int ndata_at_check;
};

static void
bound_take(struct bound *b, size_t n)
{
	struct buf *in = conn_input(b->c);

	memcpy(b->got + b->len, buf_data(in), n);
	b->len += n;
	buf_consume(in, n);
}

static void
bound_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct bound *b = arg;
	size_t len = buf_len(conn_input(c));

	assert_int_equal(ev, CONN_EV_DATA);
	b->ndata++;
	if (len > b->max_len)
		b->max_len = len;
	if (b->ndata == 1) {
		if (b->pause_first)
			conn_pause(c, true);
		return;
	}
	bound_take(b, len);
	if (b->len == 100)
		loop_stop(b->loop);
}

static void
bound_check(void *arg)
{
	struct bound *b = arg;

	b->len_at_check = buf_len(conn_input(b->c));
	b->unread_at_check = unread_bytes(b->fd);
	b->ndata_at_check = b->ndata;
	/* Consume outside a callback; conn_pause(false) resumes reading. */
	bound_take(b, 10);
	conn_pause(b->c, false);
}

static void
run_bound(bool pause_first)
{
	struct loop *loop = loop_new();
	struct bound b = {.loop = loop, .pause_first = pause_first};
	char data[100];
	int sv[2];

	make_pair(sv);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = pattern(i);
	assert_int_equal(write(sv[1], data, sizeof(data)), 100);
	b.fd = sv[0];
	b.c = conn_new(loop, sv[0], 16, bound_cb, &b);
	loop_timer_add(loop, 50, bound_check, &b);
	run_loop(loop);

	assert_int_equal(b.len_at_check, 16);
	assert_int_equal(b.unread_at_check, 84);
	assert_int_equal(b.ndata_at_check, 1);
	assert_true(b.max_len <= 16);
	assert_int_equal(b.len, 100);
	assert_memory_equal(b.got, data, 100);
	conn_free(&b.c);
	close(sv[1]);
	settle(loop);
	loop_free(&loop);
}

static void
test_input_bound_paused(void **state)
{
	(void)state;
	run_bound(true);
}

static void
test_input_bound_full(void **state)
{
	(void)state;
	run_bound(false);
}

/* Un-pausing redelivers bytes already buffered. */
struct redeliver {
	struct loop *loop;
	struct conn *c;
	int ndata;
	size_t len_seen[4];
};

static void
redeliver_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct redeliver *r = arg;

	assert_int_equal(ev, CONN_EV_DATA);
	r->len_seen[r->ndata++] = buf_len(conn_input(c));
	if (r->ndata == 1) {
		conn_pause(c, true);
		return;
	}
	buf_clear(conn_input(c));
	loop_stop(r->loop);
}

static void
redeliver_unpause(void *arg)
{
	struct redeliver *r = arg;

	conn_pause(r->c, false);
}

static void
test_redeliver_on_unpause(void **state)
{
	struct loop *loop = loop_new();
	struct redeliver r = {.loop = loop};
	int sv[2];

	(void)state;
	make_pair(sv);
	write_str(sv[1], "abc\r\n");
	r.c = conn_new(loop, sv[0], 64, redeliver_cb, &r);
	loop_timer_add(loop, 30, redeliver_unpause, &r);
	run_loop(loop);
	assert_int_equal(r.ndata, 2);
	assert_int_equal(r.len_seen[0], 5);
	assert_int_equal(r.len_seen[1], 5);
	conn_free(&r.c);
	close(sv[1]);
	settle(loop);
	loop_free(&loop);
}

/* Backpressure: 2 MB queued for a peer that does not read. */
#define BP_TOTAL (2 * 1024 * 1024)

struct bp {
	struct loop *loop;
	struct conn *c;
	int fd;
	int peer;
	struct loop_io *reader;
	size_t received;
	bool pattern_ok;
	bool got_x;
	bool got_x_early;
	int drained;
	size_t pending_first;
	size_t pending_at_x;
	int unread_before_reading;
};

static void
bp_maybe_stop(struct bp *b)
{
	if (b->got_x && b->drained > 0 && b->received == BP_TOTAL)
		loop_stop(b->loop);
}

static void
bp_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct bp *b = arg;
	struct buf *in = conn_input(c);
	const char *line;
	size_t len;

	if (ev == CONN_EV_DRAINED) {
		b->drained++;
		bp_maybe_stop(b);
		return;
	}
	assert_int_equal(ev, CONN_EV_DATA);
	while (buf_get_line(in, BUF_EOL_CRLF, 64, &line, &len) == BUF_LINE_OK) {
		if (len == 2 && memcmp(line, "go", 2) == 0) {
			write_pattern(c, BP_TOTAL);
		} else if (len == 1 && line[0] == 'x') {
			b->got_x = true;
			b->pending_at_x = conn_output_pending(c);
		}
	}
}

static void
bp_read(void *arg, unsigned events)
{
	struct bp *b = arg;
	char chunk[65536];
	ssize_t n;

	(void)events;
	while ((n = read_some(b->peer, chunk, sizeof(chunk))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			if (chunk[i] != pattern(b->received + (size_t)i))
				b->pattern_ok = false;
		b->received += (size_t)n;
	}
	bp_maybe_stop(b);
}

static void
bp_step1(void *arg)
{
	struct bp *b = arg;

	b->pending_first = conn_output_pending(b->c);
	write_str(b->peer, "x\r\n");
}

static void
bp_step2(void *arg)
{
	struct bp *b = arg;

	b->got_x_early = b->got_x;
	b->unread_before_reading = unread_bytes(b->fd);
	b->reader = loop_io_add(b->loop, b->peer, LOOP_READ, bp_read, b);
}

static void
test_backpressure(void **state)
{
	struct loop *loop = loop_new();
	struct bp b = {.loop = loop, .pattern_ok = true};
	int sv[2];
	int small = 16384;

	(void)state;
	make_pair(sv);
	assert_int_equal(
	        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)),
	        0);
	b.fd = sv[0];
	b.peer = sv[1];
	b.c = conn_new(loop, sv[0], 1024, bp_cb, &b);
	write_str(sv[1], "go\r\n");
	loop_timer_add(loop, 50, bp_step1, &b);
	loop_timer_add(loop, 100, bp_step2, &b);
	run_loop(loop);

	assert_true(b.pending_first > CONN_OUT_HIGH);
	assert_false(b.got_x_early);
	assert_int_equal(b.unread_before_reading, 3);
	assert_true(b.got_x);
	assert_true(b.pending_at_x < CONN_OUT_LOW);
	assert_int_equal(b.received, BP_TOTAL);
	assert_true(b.pattern_ok);
	assert_int_equal(b.drained, 1);
	assert_int_equal(conn_output_pending(b.c), 0);
	loop_io_remove(&b.reader);
	conn_free(&b.c);
	close(sv[1]);
	settle(loop);
	loop_free(&loop);
}

/* The idle timer restarts on input. */
struct idle {
	struct loop *loop;
	struct conn *c;
	uint64_t fired_at;
	size_t bytes;
};

static void
idle_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct idle *t = arg;

	if (ev == CONN_EV_DATA) {
		t->bytes += buf_len(conn_input(c));
		buf_clear(conn_input(c));
		return;
	}
	assert_int_equal(ev, CONN_EV_TIMEOUT);
	t->fired_at = loop_now(t->loop);
	conn_free(&t->c);
	loop_stop(t->loop);
}

static void
test_timeout(void **state)
{
	static const char *const parts[] = {"t\r\n", "t\r\n", "t\r\n", "t\r\n",
	                                    NULL};
	struct loop *loop = loop_new();
	struct idle t = {.loop = loop};
	struct dribble d = {.loop = loop, .parts = parts, .every = 30};
	uint64_t start = loop_now(loop);
	int sv[2];

	(void)state;
	make_pair(sv);
	d.fd = sv[1];
	t.c = conn_new(loop, sv[0], 64, idle_cb, &t);
	conn_set_timeout(t.c, 100);
	loop_timer_add(loop, 30, dribble_cb, &d);
	run_loop(loop);

	assert_int_equal(t.bytes, 12);
	/* Last input at about 120 ms, so no timeout before 220 ms. */
	assert_true(t.fired_at - start >= 215);
	assert_null(t.c);
	close(sv[1]);
	settle(loop);
	loop_free(&loop);
}

/* After TIMEOUT the owner may still say goodbye and close. */
static void
test_timeout_reply(void **state)
{
	struct loop *loop = loop_new();
	struct ender e = {.loop = loop, .target = 2};
	struct server s;
	struct client cl = {.ender = &e};
	int sv[2];

	(void)state;
	make_pair(sv);
	server_init(&s, loop, sv[0], 64, &e);
	s.timeout_reply = true;
	conn_set_timeout(s.c, 30);
	cl.c = conn_new(loop, sv[1], 64, client_cb, &cl);
	run_loop(loop);

	cl.got[cl.len] = '\0';
	assert_string_equal(cl.got, "421 timeout\r\n");
	assert_int_equal(s.nev[CONN_EV_TIMEOUT], 1);
	assert_int_equal(s.nev[CONN_EV_CLOSED], 1);
	settle(loop);
	loop_free(&loop);
}

/* close_after_flush delivers every byte before the EOF. */
struct drain_peer {
	struct loop *loop;
	int fd;
	struct loop_io *io;
	size_t received;
	bool pattern_ok;
	bool eof;
	char tail[16];
};

static void
drain_peer_read(void *arg, unsigned events)
{
	struct drain_peer *p = arg;
	char chunk[65536];
	ssize_t n;

	(void)events;
	while ((n = read_some(p->fd, chunk, sizeof(chunk))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			if (chunk[i] != pattern(p->received + (size_t)i))
				p->pattern_ok = false;
		p->received += (size_t)n;
	}
	if (n < 0) {
		/* EOF: close our end, which lets the server finish. */
		p->eof = true;
		loop_io_remove(&p->io);
		close(p->fd);
	}
}

static void
test_close_after_flush(void **state)
{
	struct loop *loop = loop_new();
	struct ender e = {.loop = loop, .target = 1};
	struct server s;
	struct drain_peer p = {.loop = loop, .pattern_ok = true};
	size_t pending;
	int sv[2];

	(void)state;
	make_pair(sv);
	server_init(&s, loop, sv[0], 64, &e);
	write_pattern(s.c, 500000);
	conn_close_after_flush(s.c);
	pending = conn_output_pending(s.c);
	conn_write(s.c, "ignored", 7);
	assert_int_equal(conn_output_pending(s.c), pending);
	p.fd = sv[1];
	p.io = loop_io_add(loop, sv[1], LOOP_READ, drain_peer_read, &p);
	run_loop(loop);

	assert_true(p.eof);
	assert_int_equal(p.received, 500000);
	assert_true(p.pattern_ok);
	assert_int_equal(s.nev[CONN_EV_CLOSED], 1);
	assert_int_equal(s.nev[CONN_EV_DRAINED], 0);
	assert_int_equal(s.nev[CONN_EV_ERROR], 0);
	settle(loop);
	loop_free(&loop);
}

/* A peer that never closes still gets CLOSED after the linger time. */
static void
test_close_linger(void **state)
{
	struct loop *loop = loop_new();
	struct ender e = {.loop = loop, .target = 1};
	struct server s;
	uint64_t start = loop_now(loop);
	char got[16];
	int sv[2];

	(void)state;
	make_pair(sv);
	server_init(&s, loop, sv[0], 64, &e);
	write_str(sv[1], "quit\r\n");
	run_loop(loop);

	assert_true(loop_now(loop) - start >= 1900);
	assert_int_equal(s.nev[CONN_EV_CLOSED], 1);
	assert_int_equal(read(sv[1], got, sizeof(got)), 5);
	assert_memory_equal(got, "bye\r\n", 5);
	close(sv[1]);
	settle(loop);
	loop_free(&loop);
}

/* --- freeing inside callbacks (meant for ASan) ------------------------ */

static void
free_on_data_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct server *s = arg;

	(void)c;
	assert_int_equal(ev, CONN_EV_DATA);
	s->nev[ev]++;
	conn_write(s->c, "reply\r\n", 7);
	conn_pause(s->c, false);
	conn_free(&s->c);
	loop_stop(s->loop);
}

static void
free_on_drained_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct server *s = arg;

	(void)c;
	s->nev[ev]++;
	if (ev == CONN_EV_DRAINED) {
		conn_free(&s->c);
		loop_stop(s->loop);
	}
}

/* Two conns; whichever hears first frees both. */
struct twins {
	struct loop *loop;
	struct conn *a;
	struct conn *b;
	int ncalls;
};

static void
twins_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct twins *t = arg;

	(void)c;
	assert_int_equal(ev, CONN_EV_DATA);
	t->ncalls++;
	conn_free(&t->a);
	conn_free(&t->b);
	loop_stop(t->loop);
}

static void
test_free_in_callback(void **state)
{
	struct loop *loop = loop_new();
	struct server s;
	struct twins t = {.loop = loop};
	char got[16];
	int sv[2], sv2[2];

	(void)state;
	/* Freed in DATA with input left and output queued: nothing is
	 * sent, the peer sees EOF. */
	make_pair(sv);
	memset(&s, 0, sizeof(s));
	s.loop = loop;
	s.c = conn_new(loop, sv[0], 64, free_on_data_cb, &s);
	write_str(sv[1], "a\r\nb\r\n");
	run_loop(loop);
	settle(loop);
	assert_int_equal(s.nev[CONN_EV_DATA], 1);
	assert_int_equal(read(sv[1], got, sizeof(got)), 0);
	close(sv[1]);

	/* Freed in DRAINED. */
	make_pair(sv);
	memset(&s, 0, sizeof(s));
	s.loop = loop;
	s.c = conn_new(loop, sv[0], 64, free_on_drained_cb, &s);
	conn_write(s.c, "hello\r\n", 7);
	run_loop(loop);
	settle(loop);
	assert_int_equal(s.nev[CONN_EV_DRAINED], 1);
	assert_int_equal(read(sv[1], got, sizeof(got)), 7);
	close(sv[1]);

	/* Freed outside the loop with a deferred flush pending. */
	make_pair(sv);
	s.c = conn_new(loop, sv[0], 64, server_cb, &s);
	conn_write(s.c, "x", 1);
	conn_pause(s.c, true);
	conn_pause(s.c, false);
	conn_free(&s.c);
	conn_free(&s.c); /* NULL: a no-op */
	settle(loop);
	close(sv[1]);

	/* One conn frees another whose event is already fetched. */
	make_pair(sv);
	make_pair(sv2);
	t.a = conn_new(loop, sv[0], 64, twins_cb, &t);
	t.b = conn_new(loop, sv2[0], 64, twins_cb, &t);
	write_str(sv[1], "1\r\n");
	write_str(sv2[1], "2\r\n");
	run_loop(loop);
	settle(loop);
	assert_int_equal(t.ncalls, 1);
	close(sv[1]);
	close(sv2[1]);
	loop_free(&loop);
}

/* --- EOF -------------------------------------------------------------- */

static void
test_eof(void **state)
{
	struct loop *loop = loop_new();
	struct ender e = {.loop = loop, .target = 1};
	struct server s;
	int sv[2];

	(void)state;
	make_pair(sv);
	server_init(&s, loop, sv[0], 64, &e);
	write_str(sv[1], "one\r\npartial");
	assert_int_equal(shutdown(sv[1], SHUT_WR), 0);
	run_loop(loop);

	assert_int_equal(s.nseq, 3);
	assert_int_equal(s.seq[0], CONN_EV_DATA);
	assert_int_equal(s.seq[1], CONN_EV_DRAINED);
	assert_int_equal(s.seq[2], CONN_EV_CLOSED);
	assert_int_equal(s.nlines, 1);
	assert_string_equal(s.lines[0], "one");
	/* The reply was written before CLOSED. */
	assert_int_equal(s.pending_at_close, 0);
	close(sv[1]);
	settle(loop);
	loop_free(&loop);
}

/* While paused, CLOSED waits; un-pausing delivers DATA, then CLOSED. */
static void
eof_pause_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct server *s = arg;

	if (ev == CONN_EV_DATA && s->nev[CONN_EV_DATA] == 0) {
		s->nev[ev]++;
		s->seq[s->nseq++] = ev;
		conn_pause(c, true);
		return;
	}
	server_cb(c, ev, arg);
}

static void
eof_unpause(void *arg)
{
	struct server *s = arg;

	s->closed_at_unpause = s->nev[CONN_EV_CLOSED];
	conn_pause(s->c, false);
}

static void
test_eof_paused(void **state)
{
	struct loop *loop = loop_new();
	struct ender e = {.loop = loop, .target = 1};
	struct server s;
	int sv[2];

	(void)state;
	make_pair(sv);
	memset(&s, 0, sizeof(s));
	s.loop = loop;
	s.ender = &e;
	s.c = conn_new(loop, sv[0], 64, eof_pause_cb, &s);
	write_str(sv[1], "line\r\n");
	assert_int_equal(shutdown(sv[1], SHUT_WR), 0);
	loop_timer_add(loop, 50, eof_unpause, &s);
	run_loop(loop);

	assert_int_equal(s.closed_at_unpause, 0);
	assert_int_equal(s.nseq, 4);
	assert_int_equal(s.seq[0], CONN_EV_DATA);
	assert_int_equal(s.seq[1], CONN_EV_DATA);
	assert_int_equal(s.seq[2], CONN_EV_DRAINED);
	assert_int_equal(s.seq[3], CONN_EV_CLOSED);
	assert_string_equal(s.lines[0], "line");
	close(sv[1]);
	settle(loop);
	loop_free(&loop);
}

/* A half-closing peer still gets a long reply before CLOSED. */
static void
test_eof_flushes_output(void **state)
{
	struct loop *loop = loop_new();
	struct ender e = {.loop = loop, .target = 1};
	struct server s;
	struct drain_peer p = {.loop = loop, .pattern_ok = true};
	int sv[2];

	(void)state;
	make_pair(sv);
	server_init(&s, loop, sv[0], 64, &e);
	write_str(sv[1], "big 400000\r\n");
	assert_int_equal(shutdown(sv[1], SHUT_WR), 0);
	p.fd = sv[1];
	p.io = loop_io_add(loop, sv[1], LOOP_READ, drain_peer_read, &p);
	run_loop(loop);

	assert_int_equal(s.nev[CONN_EV_CLOSED], 1);
	assert_int_equal(s.pending_at_close, 0);
	settle(loop);
	/* The server is gone: the rest reads to EOF. */
	if (!p.eof)
		drain_peer_read(&p, LOOP_READ);
	assert_true(p.eof);
	assert_int_equal(p.received, 400000 + 5);
	loop_free(&loop);
}

/* The peer vanished with 1 MB unsent: ERROR names the write. */
static void
test_write_error(void **state)
{
	struct loop *loop = loop_new();
	struct ender e = {.loop = loop, .target = 1};
	struct server s;
	int sv[2];

	(void)state;
	make_pair(sv);
	server_init(&s, loop, sv[0], 64, &e);
	write_pattern(s.c, 1000000);
	close(sv[1]);
	run_loop(loop);

	assert_int_equal(s.nev[CONN_EV_ERROR], 1);
	assert_int_equal(s.nev[CONN_EV_CLOSED], 0);
	assert_non_null(strstr(s.error, "write: "));
	settle(loop);
	loop_free(&loop);
}

/* --- inetd mode: two pipes -------------------------------------------- */

static void
read_to_eof(int fd, char *out, size_t size)
{
	size_t len = 0;
	ssize_t n;

	assert_int_equal(fcntl(fd, F_SETFL, 0), 0);
	while ((n = read(fd, out + len, size - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
}

static void
test_pair_pipes(void **state)
{
	struct loop *loop = loop_new();
	struct ender e = {.loop = loop, .target = 1};
	struct server s;
	int inp[2], outp[2];
	char got[64];

	(void)state;
	/* quit: the reply, then EOF on the output pipe, then CLOSED. */
	assert_int_equal(pipe2(inp, O_CLOEXEC), 0);
	assert_int_equal(pipe2(outp, O_CLOEXEC), 0);
	memset(&s, 0, sizeof(s));
	s.loop = loop;
	s.ender = &e;
	s.c = conn_new_pair(loop, inp[0], outp[1], 64, server_cb, &s);
	write_str(inp[1], "ping\r\nquit\r\n");
	run_loop(loop);
	assert_int_equal(s.nev[CONN_EV_CLOSED], 1);
	read_to_eof(outp[0], got, sizeof(got));
	assert_string_equal(got, "ok ping\r\nbye\r\n");
	close(inp[1]);
	close(outp[0]);

	/* EOF on the input pipe: the reply still goes out, then CLOSED. */
	assert_int_equal(pipe2(inp, O_CLOEXEC), 0);
	assert_int_equal(pipe2(outp, O_CLOEXEC), 0);
	memset(&s, 0, sizeof(s));
	s.loop = loop;
	s.ender = &e;
	e.n = 0;
	s.c = conn_new_pair(loop, inp[0], outp[1], 64, server_cb, &s);
	write_str(inp[1], "hi\r\n");
	close(inp[1]);
	run_loop(loop);
	assert_int_equal(s.nev[CONN_EV_CLOSED], 1);
	read_to_eof(outp[0], got, sizeof(got));
	assert_string_equal(got, "ok hi\r\n");
	close(outp[0]);

	/* The reader of the output pipe is gone: ERROR, not SIGPIPE. */
	assert_int_equal(pipe2(inp, O_CLOEXEC), 0);
	assert_int_equal(pipe2(outp, O_CLOEXEC), 0);
	memset(&s, 0, sizeof(s));
	s.loop = loop;
	s.ender = &e;
	e.n = 0;
	s.c = conn_new_pair(loop, inp[0], outp[1], 64, server_cb, &s);
	close(outp[0]);
	write_str(inp[1], "hi\r\n");
	run_loop(loop);
	assert_int_equal(s.nev[CONN_EV_ERROR], 1);
	assert_non_null(strstr(s.error, "Broken pipe"));
	close(inp[1]);
	settle(loop);
	loop_free(&loop);
}

/* --- TLS -------------------------------------------------------------- */

struct tls_fixture {
	char dir[64];
	char cert[PATH_MAX];
	char key[PATH_MAX];
	SSL_CTX *ctx;
};

static struct tls_fixture tfx;

static void
path_fmt(char *out, size_t size, const char *dir, const char *name)
{
	int n = snprintf(out, size, "%s/%s", dir, name);

	assert_true(n > 0 && (size_t)n < size);
}

static int
tls_setup(void **state)
{
	const char *error = NULL;

	(void)state;
	strcpy(tfx.dir, "/tmp/postern-test-conn-XXXXXX");
	assert_non_null(mkdtemp(tfx.dir));
	path_fmt(tfx.cert, sizeof(tfx.cert), tfx.dir, "tls/cert.pem");
	path_fmt(tfx.key, sizeof(tfx.key), tfx.dir, "tls/key.pem");
	if (tls_make_self_signed(tfx.cert, tfx.key, "mx.example.test", &error) <
	    0)
		fail_msg("tls_make_self_signed: %s", error);
	tfx.ctx = tls_server_ctx_new(tfx.cert, tfx.key, &error);
	if (tfx.ctx == NULL)
		fail_msg("tls_server_ctx_new: %s", error);
	return 0;
}

static int
tls_teardown(void **state)
{
	char dir[PATH_MAX];

	(void)state;
	tls_ctx_free(&tfx.ctx);
	unlink(tfx.cert);
	unlink(tfx.key);
	path_fmt(dir, sizeof(dir), tfx.dir, "tls");
	rmdir(dir);
	rmdir(tfx.dir);
	return 0;
}

/* Child side: blocking OpenSSL client. Exit codes name the failed step. */
enum child_script {
	CHILD_ECHO,     /* hello, many long lines, big reply, quit */
	CHILD_SHORT,    /* hello, quit */
	CHILD_GARBAGE,  /* plaintext where a ClientHello should be */
	CHILD_STARTTLS, /* plaintext STARTTLS (+ injected line), then TLS */
	CHILD_HANDSHAKE_ONLY,
};

static bool
child_read_exact(SSL *ssl, char *p, size_t len)
{
	while (len > 0) {
		size_t n;

		if (SSL_read_ex(ssl, p, len, &n) != 1)
			return false;
		p += n;
		len -= n;
	}
	return true;
}

static bool
child_expect(SSL *ssl, const char *want)
{
	char got[64];
	size_t len = strlen(want);

	return len < sizeof(got) && child_read_exact(ssl, got, len) &&
	       memcmp(got, want, len) == 0;
}

static bool
child_send(SSL *ssl, const char *s, size_t len)
{
	size_t n;

	return SSL_write_ex(ssl, s, len, &n) == 1 && n == len;
}

static SSL *
child_connect(int fd, int max_version)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl;

	if (ctx == NULL)
		return NULL;
	if (max_version != 0) {
		SSL_CTX_set_max_proto_version(ctx, max_version);
		if (max_version < TLS1_2_VERSION) {
			SSL_CTX_set_min_proto_version(ctx, max_version);
			SSL_CTX_set_security_level(ctx, 0);
			SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
		}
	}
	ssl = SSL_new(ctx);
	SSL_CTX_free(ctx);
	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

static int
child_long_lines(SSL *ssl)
{
	char line[902];

	memset(line, 'x', 900);
	line[900] = '\r';
	line[901] = '\n';
	for (int i = 0; i < 300; i++)
		if (!child_send(ssl, line, sizeof(line)))
			return 20;
	for (int i = 0; i < 300; i++)
		if (!child_expect(ssl, "ok 900\r\n"))
			return 21;
	return 0;
}

static int
child_big(SSL *ssl)
{
	static char big[1000000];

	if (!child_send(ssl, "big 1000000\r\n", 13))
		return 30;
	if (!child_read_exact(ssl, big, sizeof(big)))
		return 31;
	for (size_t i = 0; i < sizeof(big); i++)
		if (big[i] != pattern(i))
			return 32;
	return child_expect(ssl, "end\r\n") ? 0 : 33;
}

static int
child_quit(SSL *ssl)
{
	char ch;
	int ret;

	if (!child_send(ssl, "quit\r\n", 6) || !child_expect(ssl, "bye\r\n"))
		return 40;
	/* The server ends with close_notify. */
	ret = SSL_read(ssl, &ch, 1);
	if (ret > 0 || SSL_get_error(ssl, ret) != SSL_ERROR_ZERO_RETURN)
		return 41;
	SSL_shutdown(ssl);
	return 0;
}

static int
child_plain_starttls(int fd)
{
	const char *cmd = "STARTTLS\r\nINJECT\r\n";
	char got[8];
	size_t len = 0;

	if (write(fd, cmd, strlen(cmd)) != (ssize_t)strlen(cmd))
		return 50;
	while (len < sizeof(got)) {
		ssize_t n = read(fd, got + len, sizeof(got) - len);

		if (n <= 0)
			return 51;
		len += (size_t)n;
	}
	return memcmp(got, "220 go\r\n", 8) == 0 ? 0 : 52;
}

static int
child_session(SSL *ssl, enum child_script script)
{
	int rc = 0;

	if (script == CHILD_HANDSHAKE_ONLY) {
		char ch;

		/* The server drops us right after the handshake. */
		return SSL_read(ssl, &ch, 1) > 0 ? 60 : 0;
	}
	if (script == CHILD_ECHO && !child_expect(ssl, "220 ready\r\n"))
		return 11;
	if (!child_send(ssl, "hello\r\n", 7) ||
	    !child_expect(ssl, "ok hello\r\n"))
		return 12;
	if (script == CHILD_ECHO) {
		rc = child_long_lines(ssl);
		if (rc == 0)
			rc = child_big(ssl);
	}
	return rc != 0 ? rc : child_quit(ssl);
}

static int
child_main(int fd, enum child_script script, int max_version)
{
	SSL *ssl;
	int rc;

	alarm(30);
	if (fcntl(fd, F_SETFL, 0) < 0)
		return 2;
	if (script == CHILD_GARBAGE) {
		char junk[64];

		if (write(fd, "EHLO plain\r\n", 12) != 12)
			return 3;
		/* Expect an alert or nothing, then EOF. */
		while (read(fd, junk, sizeof(junk)) > 0)
			;
		return 0;
	}
	if (script == CHILD_STARTTLS && (rc = child_plain_starttls(fd)) != 0)
		return rc;
	ssl = child_connect(fd, max_version);
	if (ssl == NULL)
		return max_version != 0 && max_version < TLS1_2_VERSION ? 0
		                                                        : 10;
	if (max_version != 0 && max_version < TLS1_2_VERSION)
		return 9; /* an old protocol was accepted */
	rc = child_session(ssl, script);
	SSL_free(ssl);
	return rc;
}

/* Runs a server conn (TLS from the start unless STARTTLS) against a
 * child client; returns the child's exit code. */
static int
run_tls(struct server *s, enum child_script script, int max_version)
{
	struct loop *loop = loop_new();
	struct ender e = {.loop = loop, .target = 1};
	int sv[2], status;
	pid_t pid;

	make_pair(sv);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		_exit(child_main(sv[1], script, max_version));
	}
	close(sv[1]);
	server_init(s, loop, sv[0], 4096, &e);
	s->tls = tfx.ctx;
	if (script != CHILD_STARTTLS) {
		conn_start_tls(s->c, tfx.ctx);
		assert_true(conn_is_tls(s->c));
		assert_null(conn_tls_version(s->c));
		assert_null(conn_tls_cipher(s->c));
		/* Queued before the handshake, sent inside TLS. */
		if (script == CHILD_ECHO)
			conn_write(s->c, "220 ready\r\n", 11);
	}
	run_loop(loop);
	settle(loop);
	loop_free(&loop);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void
test_tls_echo(void **state)
{
	struct server s;

	(void)state;
	assert_int_equal(run_tls(&s, CHILD_ECHO, 0), 0);
	assert_int_equal(s.nev[CONN_EV_TLS_READY], 1);
	assert_int_equal(s.nev[CONN_EV_ERROR], 0);
	assert_int_equal(s.nev[CONN_EV_CLOSED], 1);
	assert_string_equal(s.version, "TLSv1.3");
	assert_true(strncmp(s.cipher, "TLS_", 4) == 0);
	assert_int_equal(s.nlines, 1 + 300 + 1 + 1);
	assert_string_equal(s.lines[0], "hello");
	/* TLS_READY came first. */
	assert_int_equal(s.seq[0], CONN_EV_TLS_READY);
}

static void
test_tls12(void **state)
{
	struct server s;

	(void)state;
	assert_int_equal(run_tls(&s, CHILD_SHORT, TLS1_2_VERSION), 0);
	assert_string_equal(s.version, "TLSv1.2");
	assert_non_null(strstr(s.cipher, "ECDHE"));
	assert_int_equal(s.nev[CONN_EV_CLOSED], 1);
}

static void
test_tls_garbage(void **state)
{
	struct server s;

	(void)state;
	assert_int_equal(run_tls(&s, CHILD_GARBAGE, 0), 0);
	assert_int_equal(s.nev[CONN_EV_ERROR], 1);
	assert_int_equal(s.nev[CONN_EV_TLS_READY], 0);
	assert_int_equal(s.nev[CONN_EV_DATA], 0);
	assert_non_null(strstr(s.error, "TLS handshake"));
}

static void
test_tls_old_client(void **state)
{
	struct server s;

	(void)state;
	assert_int_equal(run_tls(&s, CHILD_SHORT, TLS1_1_VERSION), 0);
	assert_int_equal(s.nev[CONN_EV_ERROR], 1);
	assert_int_equal(s.nev[CONN_EV_TLS_READY], 0);
}

static void
test_starttls(void **state)
{
	struct server s;

	(void)state;
	assert_int_equal(run_tls(&s, CHILD_STARTTLS, 0), 0);
	assert_int_equal(s.nev[CONN_EV_TLS_READY], 1);
	assert_string_equal(s.version, "TLSv1.3");
	/* The line pipelined after STARTTLS was never seen. */
	assert_int_equal(s.nlines, 3);
	assert_string_equal(s.lines[0], "STARTTLS");
	assert_string_equal(s.lines[1], "hello");
	assert_string_equal(s.lines[2], "quit");
	assert_int_equal(s.nev[CONN_EV_CLOSED], 1);
}

static void
test_tls_free_on_ready(void **state)
{
	struct loop *loop = loop_new();
	struct ender e = {.loop = loop, .target = 1};
	struct server s;
	int sv[2], status;
	pid_t pid;

	(void)state;
	make_pair(sv);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		_exit(child_main(sv[1], CHILD_HANDSHAKE_ONLY, 0));
	}
	close(sv[1]);
	server_init(&s, loop, sv[0], 4096, &e);
	s.free_on_ready = true;
	conn_start_tls(s.c, tfx.ctx);
	run_loop(loop);
	settle(loop);
	loop_free(&loop);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(s.nev[CONN_EV_TLS_READY], 1);
	assert_true(s.ended);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_lines),
	        cmocka_unit_test(test_split_reads),
	        cmocka_unit_test(test_input_bound_paused),
	        cmocka_unit_test(test_input_bound_full),
	        cmocka_unit_test(test_redeliver_on_unpause),
	        cmocka_unit_test(test_backpressure),
	        cmocka_unit_test(test_timeout),
	        cmocka_unit_test(test_timeout_reply),
	        cmocka_unit_test(test_close_after_flush),
	        cmocka_unit_test(test_close_linger),
	        cmocka_unit_test(test_free_in_callback),
	        cmocka_unit_test(test_eof),
	        cmocka_unit_test(test_eof_paused),
	        cmocka_unit_test(test_eof_flushes_output),
	        cmocka_unit_test(test_write_error),
	        cmocka_unit_test(test_pair_pipes),
	        cmocka_unit_test(test_tls_echo),
	        cmocka_unit_test(test_tls12),
	        cmocka_unit_test(test_tls_garbage),
	        cmocka_unit_test(test_tls_old_client),
	        cmocka_unit_test(test_starttls),
	        cmocka_unit_test(test_tls_free_on_ready),
	};

	/* Pipes are written with write(2): a vanished reader must be an
	 * error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, tls_setup, tls_teardown);
}
