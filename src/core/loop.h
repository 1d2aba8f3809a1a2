/*
 * loop — the one event loop of a process: level-triggered epoll, one-shot
 * timers on the monotonic clock, signals through signalfd, and deferred
 * calls that run after the current dispatch round (so objects freed inside
 * a callback stay valid until dispatch returns: STYLE.md 4).
 *
 * Callbacks never block.
 */
#ifndef POSTERN_CORE_LOOP_H
#define POSTERN_CORE_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct loop;
struct loop_io;
struct loop_timer;

#define LOOP_READ  0x1u
#define LOOP_WRITE 0x2u
/* Reported, never requested: error or hang-up on the fd. */
#define LOOP_ERROR 0x4u
/* With LOOP_READ at loop_io_add() only: of the processes watching the same
 * fd this way (a listening socket shared by workers), an event wakes one
 * rather than all (EPOLLEXCLUSIVE). Such a handle's events never change. */
#define LOOP_EXCLUSIVE 0x8u

typedef void loop_io_fn(void *arg, unsigned events);
typedef void loop_timer_fn(void *arg);
typedef void loop_signal_fn(void *arg, int signo);
typedef void loop_defer_fn(void *arg);

/* Returns an owned loop. */
struct loop *loop_new(void);
/* Frees the loop; every io, timer and signal must be removed first. */
void loop_free(struct loop **loopp);

/* Runs until loop_stop() is called. */
void loop_run(struct loop *loop);
/* Makes loop_run() return after the current round. */
void loop_stop(struct loop *loop);

/* Milliseconds on the monotonic clock, cached once per iteration. */
uint64_t loop_now(const struct loop *loop);

/* Watches `fd` (borrowed; the caller closes it after removal) for
 * `events` (LOOP_READ|LOOP_WRITE, may be 0). Returns an owned handle. */
struct loop_io *loop_io_add(struct loop *loop, int fd, unsigned events,
                            loop_io_fn *cb, void *arg);
/* Changes the events watched. */
void loop_io_set(struct loop_io *io, unsigned events);
unsigned loop_io_events(const struct loop_io *io);
/* Stops watching and clears *iop; a pending event is not delivered. */
void loop_io_remove(struct loop_io **iop);

/* Calls `cb` once after `msec` milliseconds. Returns an owned handle that
 * becomes invalid once the timer has fired (the callback must clear any
 * stored copy) or been removed. */
struct loop_timer *loop_timer_add(struct loop *loop, uint64_t msec,
                                  loop_timer_fn *cb, void *arg);
/* Cancels a pending timer and clears *tp; accepts NULL. */
void loop_timer_remove(struct loop_timer **tp);

/* Delivers `signo` through `cb` in loop context (blocks it for normal
 * delivery). One handler per signal. */
void loop_signal_add(struct loop *loop, int signo, loop_signal_fn *cb,
                     void *arg);

/* Calls `cb(arg)` after the current dispatch round. */
void loop_defer(struct loop *loop, loop_defer_fn *cb, void *arg);

#endif
