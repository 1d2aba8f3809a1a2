/*
 * loop — epoll event loop with a timer heap, signalfd and deferred calls.
 *
 * Invariants: an io handle removed during dispatch is marked dead and freed
 * only after the round, so an event already fetched for it is skipped
 * rather than delivered to freed memory. Timers live in a binary min-heap
 * keyed by deadline; each timer knows its heap slot so removal is O(log n).
 */
#include "core/loop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "core/xalloc.h"
#include "log/log.h"

#define LOOP_MAX_EVENTS 128
#define LOOP_MAX_SIGNAL 65

struct loop_io {
	struct loop *loop;
	int fd;
	unsigned events;
	bool dead;
	loop_io_fn *cb;
	void *arg;
	struct loop_io *next_dead;
};

struct loop_timer {
	struct loop *loop;
	uint64_t deadline;
	uint64_t seq;
	size_t slot;
	loop_timer_fn *cb;
	void *arg;
};

struct loop_deferred {
	loop_defer_fn *cb;
	void *arg;
	struct loop_deferred *next;
};

struct loop {
	int epfd;
	bool stop;
	uint64_t now;
	uint64_t timer_seq;
	struct loop_timer **heap;
	size_t nheap;
	size_t heapcap;
	struct loop_io *dead;
	struct loop_deferred *defer_head;
	struct loop_deferred **defer_tail;
	int sigfd;
	struct loop_io *sigio;
	sigset_t sigmask;
	loop_signal_fn *sigcb[LOOP_MAX_SIGNAL];
	void *sigarg[LOOP_MAX_SIGNAL];
};

static uint64_t
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct loop *
loop_new(void)
{
	struct loop *loop = xmalloc(sizeof(*loop));

	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		fatal_errno("epoll_create1");
	loop->now = monotonic_ms();
	loop->sigfd = -1;
	loop->defer_tail = &loop->defer_head;
	sigemptyset(&loop->sigmask);
	return loop;
}

static void
loop_free_dead(struct loop *loop)
{
	while (loop->dead != NULL) {
		struct loop_io *io = loop->dead;

		loop->dead = io->next_dead;
		free(io);
	}
}

void
loop_free(struct loop **loopp)
{
	struct loop *loop = *loopp;

	if (loop == NULL)
		return;
	if (loop->sigio != NULL)
		loop_io_remove(&loop->sigio);
	if (loop->sigfd >= 0)
		close(loop->sigfd);
	loop_free_dead(loop);
	while (loop->nheap > 0) {
		struct loop_timer *t = loop->heap[0];

		loop_timer_remove(&t);
	}
	free(loop->heap);
	close(loop->epfd);
	free(loop);
	*loopp = NULL;
}

uint64_t
loop_now(const struct loop *loop)
{
	return loop->now;
}

void
loop_stop(struct loop *loop)
{
	loop->stop = true;
}

static uint32_t
to_epoll(unsigned events)
{
	uint32_t ev = 0;

	if (events & LOOP_READ)
		ev |= EPOLLIN | EPOLLRDHUP;
	if (events & LOOP_WRITE)
		ev |= EPOLLOUT;
	/* EPOLLRDHUP is not allowed with EPOLLEXCLUSIVE (epoll_ctl(2)). */
	if (events & LOOP_EXCLUSIVE)
		ev = (ev & ~(uint32_t)EPOLLRDHUP) | EPOLLEXCLUSIVE;
	return ev;
}

struct loop_io *
loop_io_add(struct loop *loop, int fd, unsigned events, loop_io_fn *cb,
            void *arg)
{
	struct loop_io *io = xmalloc(sizeof(*io));
	struct epoll_event ev = {.events = to_epoll(events), .data.ptr = io};

	io->loop = loop;
	io->fd = fd;
	io->events = events;
	io->cb = cb;
	io->arg = arg;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		panic("epoll_ctl add fd=%d: %s", fd, strerror(errno));
	return io;
}

void
loop_io_set(struct loop_io *io, unsigned events)
{
	struct epoll_event ev = {.events = to_epoll(events), .data.ptr = io};

	if (io->events == events)
		return;
	if ((io->events | events) & LOOP_EXCLUSIVE)
		panic("loop_io_set on an exclusive handle fd=%d", io->fd);
	io->events = events;
	if (epoll_ctl(io->loop->epfd, EPOLL_CTL_MOD, io->fd, &ev) < 0)
		panic("epoll_ctl mod fd=%d: %s", io->fd, strerror(errno));
}

unsigned
loop_io_events(const struct loop_io *io)
{
	return io->events;
}

void
loop_io_remove(struct loop_io **iop)
{
	struct loop_io *io = *iop;

	if (io == NULL)
		return;
	*iop = NULL;
	/* The fd may already be closed by a careless caller; EBADF/ENOENT
	 * then mean epoll forgot it already. */
	(void)epoll_ctl(io->loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->dead = true;
	io->next_dead = io->loop->dead;
	io->loop->dead = io;
}

/* --- timers: binary min-heap ------------------------------------------ */

static bool
timer_before(const struct loop_timer *a, const struct loop_timer *b)
{
	if (a->deadline != b->deadline)
		return a->deadline < b->deadline;
	return a->seq < b->seq;
}

static void
heap_set(struct loop *loop, size_t i, struct loop_timer *t)
{
	loop->heap[i] = t;
	t->slot = i;
}

static void
heap_up(struct loop *loop, size_t i)
{
	struct loop_timer *t = loop->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!timer_before(t, loop->heap[parent]))
			break;
		heap_set(loop, i, loop->heap[parent]);
		i = parent;
	}
	heap_set(loop, i, t);
}

static void
heap_down(struct loop *loop, size_t i)
{
	struct loop_timer *t = loop->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= loop->nheap)
			break;
		if (c + 1 < loop->nheap &&
		    timer_before(loop->heap[c + 1], loop->heap[c]))
			c++;
		if (!timer_before(loop->heap[c], t))
			break;
		heap_set(loop, i, loop->heap[c]);
		i = c;
	}
	heap_set(loop, i, t);
}

struct loop_timer *
loop_timer_add(struct loop *loop, uint64_t msec, loop_timer_fn *cb, void *arg)
{
	struct loop_timer *t = xmalloc(sizeof(*t));

	t->loop = loop;
	t->deadline = loop->now + msec;
	t->seq = loop->timer_seq++;
	t->cb = cb;
	t->arg = arg;
	if (loop->nheap == loop->heapcap) {
		loop->heapcap = loop->heapcap ? loop->heapcap * 2 : 16;
		loop->heap = xrealloc(loop->heap,
		                      loop->heapcap * sizeof(*loop->heap));
	}
	heap_set(loop, loop->nheap++, t);
	heap_up(loop, t->slot);
	return t;
}

static void
heap_remove(struct loop *loop, struct loop_timer *t)
{
	size_t i = t->slot;
	struct loop_timer *last = loop->heap[--loop->nheap];

	if (last != t) {
		heap_set(loop, i, last);
		heap_up(loop, i);
		heap_down(loop, last->slot);
	}
}

void
loop_timer_remove(struct loop_timer **tp)
{
	struct loop_timer *t = *tp;

	if (t == NULL)
		return;
	*tp = NULL;
	heap_remove(t->loop, t);
	free(t);
}

static void
loop_run_timers(struct loop *loop)
{
	while (loop->nheap > 0 && loop->heap[0]->deadline <= loop->now) {
		struct loop_timer *t = loop->heap[0];
		loop_timer_fn *cb = t->cb;
		void *arg = t->arg;

		heap_remove(loop, t);
		free(t);
		cb(arg);
	}
}

/* --- signals ---------------------------------------------------------- */

static void
loop_signal_read(void *arg, unsigned events)
{
	struct loop *loop = arg;
	struct signalfd_siginfo si;

	(void)events;
	while (read(loop->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		int signo = (int)si.ssi_signo;

		if (signo > 0 && signo < LOOP_MAX_SIGNAL &&
		    loop->sigcb[signo] != NULL)
			loop->sigcb[signo](loop->sigarg[signo], signo);
	}
}

void
loop_signal_add(struct loop *loop, int signo, loop_signal_fn *cb, void *arg)
{
	if (signo <= 0 || signo >= LOOP_MAX_SIGNAL)
		panic("loop_signal_add: bad signal %d", signo);
	loop->sigcb[signo] = cb;
	loop->sigarg[signo] = arg;
	sigaddset(&loop->sigmask, signo);
	if (sigprocmask(SIG_BLOCK, &loop->sigmask, NULL) < 0)
		fatal_errno("sigprocmask");
	loop->sigfd = signalfd(loop->sigfd, &loop->sigmask,
	                       SFD_NONBLOCK | SFD_CLOEXEC);
	if (loop->sigfd < 0)
		fatal_errno("signalfd");
	if (loop->sigio == NULL)
		loop->sigio = loop_io_add(loop, loop->sigfd, LOOP_READ,
		                          loop_signal_read, loop);
}

/* --- deferred calls and the main loop ---------------------------------- */

void
loop_defer(struct loop *loop, loop_defer_fn *cb, void *arg)
{
	struct loop_deferred *d = xmalloc(sizeof(*d));

	d->cb = cb;
	d->arg = arg;
	*loop->defer_tail = d;
	loop->defer_tail = &d->next;
}

static void
loop_run_deferred(struct loop *loop)
{
	while (loop->defer_head != NULL) {
		struct loop_deferred *d = loop->defer_head;

		loop->defer_head = d->next;
		if (loop->defer_head == NULL)
			loop->defer_tail = &loop->defer_head;
		d->cb(d->arg);
		free(d);
	}
}

static int
loop_timeout(const struct loop *loop)
{
	uint64_t wait;

	if (loop->defer_head != NULL)
		return 0;
	if (loop->nheap == 0)
		return -1;
	if (loop->heap[0]->deadline <= loop->now)
		return 0;
	wait = loop->heap[0]->deadline - loop->now;
	return wait > 60000 ? 60000 : (int)wait;
}

void
loop_run(struct loop *loop)
{
	struct epoll_event evs[LOOP_MAX_EVENTS];

	loop->stop = false;
	while (!loop->stop) {
		int n = epoll_wait(loop->epfd, evs, LOOP_MAX_EVENTS,
		                   loop_timeout(loop));

		if (n < 0 && errno != EINTR)
			fatal_errno("epoll_wait");
		loop->now = monotonic_ms();
		for (int i = 0; i < n; i++) {
			struct loop_io *io = evs[i].data.ptr;
			unsigned ev = 0;

			if (io->dead)
				continue;
			if (evs[i].events & (EPOLLIN | EPOLLRDHUP))
				ev |= LOOP_READ;
			if (evs[i].events & EPOLLOUT)
				ev |= LOOP_WRITE;
			if (evs[i].events & (EPOLLERR | EPOLLHUP))
				ev |= LOOP_ERROR;
			io->cb(io->arg, ev);
		}
		loop_run_timers(loop);
		loop_run_deferred(loop);
		loop_free_dead(loop);
	}
}
