/*
 * Unit tests for core/ipc (framing, typed payloads, descriptor passing,
 * peer close) and core/loop (timer order, cancellation, deferred calls),
 * over a real socketpair and event loop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/ipc.h"
#include "core/loop.h"
#include "core/xalloc.h"

struct rx {
	struct loop *loop;
	unsigned frames;
	bool closed;
	uint32_t types[8];
	uint64_t ids[8];
	size_t lens[8];
	char text[64];
	int fd;
	size_t want;
};

static void
rx_msg(struct ipc *ipc, const struct ipc_msg *msg, void *arg)
{
	struct rx *rx = arg;

	(void)ipc;
	if (msg == NULL) {
		rx->closed = true;
		loop_stop(rx->loop);
		return;
	}
	rx->types[rx->frames] = msg->type;
	rx->ids[rx->frames] = msg->id;
	rx->lens[rx->frames] = msg->len;
	if (msg->type == 7) {
		struct ipc_in in;
		char *s;

		ipc_in_init(&in, msg);
		assert_int_equal(ipc_get_u8(&in), 9);
		assert_int_equal(ipc_get_u32(&in), 123456);
		assert_int_equal(ipc_get_u64(&in), UINT64_MAX - 1);
		s = ipc_get_str(&in);
		strcpy(rx->text, s);
		free(s);
		ipc_in_end(&in);
	}
	if (msg->fd >= 0)
		rx->fd = msg->fd;
	if (++rx->frames == rx->want)
		loop_stop(rx->loop);
}

static void
test_frames_and_fd(void **state)
{
	struct loop *loop = loop_new();
	int sv[2], pfd[2];
	struct rx rx = {.loop = loop, .fd = -1, .want = 4};
	struct ipc *a, *b;
	struct ipc_out o;
	char *big = xmalloc(IPC_MAX_PAYLOAD);
	char got[8] = {0};

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(pipe(pfd), 0);
	a = ipc_new(loop, sv[0], rx_msg, &rx);
	b = ipc_new(loop, sv[1], rx_msg, &rx);
	ipc_out_init(&o);
	ipc_put_u8(&o, 9);
	ipc_put_u32(&o, 123456);
	ipc_put_u64(&o, UINT64_MAX - 1);
	ipc_put_str(&o, "hello");
	ipc_send_out(a, 7, 42, -1, &o);
	ipc_out_deinit(&o);
	ipc_send(a, 8, 43, pfd[1], "x", 1);
	close(pfd[1]); /* the frame holds its own duplicate */
	/* A maximal frame exercises partial writes and reads. */
	ipc_send(a, 9, 44, -1, big, IPC_MAX_PAYLOAD);
	ipc_send(a, 10, 45, -1, NULL, 0);
	loop_run(loop);
	assert_int_equal(rx.frames, 4);
	assert_int_equal(rx.types[0], 7);
	assert_int_equal(rx.ids[0], 42);
	assert_string_equal(rx.text, "hello");
	assert_int_equal(rx.types[1], 8);
	assert_int_equal(rx.lens[2], IPC_MAX_PAYLOAD);
	assert_int_equal(rx.ids[3], 45);
	assert_int_equal(rx.lens[3], 0);
	/* The descriptor works on the receiving side. */
	assert_true(rx.fd >= 0);
	assert_int_equal(write(rx.fd, "pong", 4), 4);
	assert_int_equal(read(pfd[0], got, 4), 4);
	assert_string_equal(got, "pong");
	close(rx.fd);
	close(pfd[0]);
	/* Closing one end is reported to the other as a NULL message. */
	ipc_free(&a);
	rx.want = 100;
	loop_run(loop);
	assert_true(rx.closed);
	ipc_free(&b);
	free(big);
	loop_free(&loop);
}

struct order {
	struct loop *loop;
	char seq[16];
	size_t n;
};

struct tagged {
	struct order *o;
	char tag;
};

static void
tick(void *arg)
{
	struct tagged *t = arg;

	t->o->seq[t->o->n++] = t->tag;
	if (t->o->n == 4)
		loop_stop(t->o->loop);
}

static void
deferred(void *arg)
{
	struct order *o = arg;

	o->seq[o->n++] = 'd';
}

static void
test_timers_in_order(void **state)
{
	struct loop *loop = loop_new();
	struct order o = {.loop = loop};
	struct tagged t1 = {&o, '3'}, t2 = {&o, '1'}, t3 = {&o, '2'},
	              t4 = {&o, 'X'};
	struct loop_timer *cancel;

	(void)state;
	loop_timer_add(loop, 30, tick, &t1);
	loop_timer_add(loop, 1, tick, &t2);
	loop_timer_add(loop, 15, tick, &t3);
	cancel = loop_timer_add(loop, 5, tick, &t4);
	loop_timer_remove(&cancel);
	assert_null(cancel);
	loop_defer(loop, deferred, &o);
	loop_run(loop);
	assert_int_equal(o.n, 4);
	/* Timers fire in deadline order, the cancelled one never; the
	 * deferred call runs in the first round (before or after timers
	 * that were already due by then, on a slow machine). */
	{
		char timers[4];
		size_t t = 0;

		for (size_t i = 0; i < 4; i++) {
			if (o.seq[i] != 'd')
				timers[t++] = o.seq[i];
		}
		assert_int_equal(t, 3);
		assert_memory_equal(timers, "123", 3);
		assert_non_null(memchr(o.seq, 'd', 4));
	}
	loop_free(&loop);
}

struct seen {
	struct loop *loop;
	int n;
};

static void
listener_ready(void *arg, unsigned events)
{
	struct seen *s = arg;

	if (events & LOOP_READ)
		s->n++;
	loop_stop(s->loop);
}

static void
stop_loop(void *arg)
{
	loop_stop(arg);
}

static void *
run_loop(void *arg)
{
	loop_run(arg);
	return NULL;
}

/* Both loops wait in their own thread, as two workers would, while one
 * connection arrives; returns how many of them saw the listener readable
 * within 300 ms. */
static int
loops_woken(struct loop **loops, struct seen *seen,
            const struct sockaddr_in *sin)
{
	pthread_t th[2];
	struct loop_timer *t[2];
	int woken = 0, c = socket(AF_INET, SOCK_STREAM, 0);

	for (size_t i = 0; i < 2; i++) {
		seen[i].n = 0;
		t[i] = loop_timer_add(loops[i], 300, stop_loop, loops[i]);
		assert_int_equal(
		        pthread_create(&th[i], NULL, run_loop, loops[i]), 0);
	}
	usleep(50 * 1000); /* both are in epoll_wait by now */
	assert_int_equal(connect(c, (const struct sockaddr *)sin, sizeof(*sin)),
	                 0);
	for (size_t i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		if (seen[i].n > 0) {
			woken++;
			loop_timer_remove(&t[i]);
		}
	}
	close(c);
	return woken;
}

/* A listening socket watched by two workers' loops: one connection is
 * reported to one of them with LOOP_EXCLUSIVE, to both without. */
static void
test_exclusive_listener(void **state)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	(void)state;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(lfd, 8), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	for (int exclusive = 1; exclusive >= 0; exclusive--) {
		struct loop *loops[2] = {loop_new(), loop_new()};
		struct seen seen[2] = {{loops[0], 0}, {loops[1], 0}};
		struct loop_io *ios[2];
		int a;

		for (size_t i = 0; i < 2; i++)
			ios[i] = loop_io_add(
			        loops[i], lfd,
			        LOOP_READ | (exclusive ? LOOP_EXCLUSIVE : 0),
			        listener_ready, &seen[i]);
		assert_int_equal(loops_woken(loops, seen, &sin),
		                 exclusive ? 1 : 2);
		a = accept(lfd, NULL, NULL);
		assert_true(a >= 0);
		close(a);
		for (size_t i = 0; i < 2; i++) {
			loop_io_remove(&ios[i]);
			loop_free(&loops[i]);
		}
	}
	close(lfd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_frames_and_fd),
	        cmocka_unit_test(test_timers_in_order),
	        cmocka_unit_test(test_exclusive_listener),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
