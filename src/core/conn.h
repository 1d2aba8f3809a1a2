/*
 * conn — one network connection: fd(s), input buffer, output queue,
 * optional TLS, idle timer. Protocol code sees only bytes and events; it
 * never touches the socket or OpenSSL (STYLE.md 5, 6).
 *
 * Events go to one callback:
 *   CONN_EV_DATA      new input bytes are in conn_input(); the callback
 *                     consumes what it can
 *   CONN_EV_DRAINED   the output queue became empty after conn_write()
 *   CONN_EV_TIMEOUT   no input and no output progress for the idle timeout
 *   CONN_EV_CLOSED    the peer closed (EOF) — input may still hold bytes —
 *                     or conn_close_after_flush() finished
 *   CONN_EV_ERROR     I/O or TLS error (detail in conn_error())
 *   CONN_EV_TLS_READY the TLS handshake completed
 * CLOSED and ERROR are final: nothing follows them, and the owner must
 * conn_free() (it may do so inside the callback: the conn defers its own
 * release until dispatch returns). conn_free() inside any callback is
 * allowed. After TIMEOUT the owner either frees the conn or writes a last
 * reply and calls conn_close_after_flush(); the timer runs on, and if it
 * expires again while the conn is still flushing, ERROR follows.
 *
 * Events are delivered only from the event loop, never from inside a
 * conn_* call, so those calls never re-enter the owner.
 *
 * On EOF the owner first gets CONN_EV_DATA for the last bytes; CLOSED
 * then waits while the conn is paused and until queued output is written,
 * so a peer that half-closes after pipelining still gets its replies.
 *
 * Backpressure: while more than CONN_OUT_HIGH bytes are queued for output,
 * input is not read; reading resumes below CONN_OUT_LOW.
 */
#ifndef POSTERN_CORE_CONN_H
#define POSTERN_CORE_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/loop.h"

/* OpenSSL's type, kept opaque here. */
typedef struct ssl_ctx_st SSL_CTX;

struct conn;

enum conn_event {
	CONN_EV_DATA,
	CONN_EV_DRAINED,
	CONN_EV_TIMEOUT,
	CONN_EV_CLOSED,
	CONN_EV_ERROR,
	CONN_EV_TLS_READY,
};

#define CONN_OUT_HIGH (256 * 1024)
#define CONN_OUT_LOW  (64 * 1024)

typedef void conn_event_fn(struct conn *c, enum conn_event ev, void *arg);

/*
 * Takes ownership of the connected, non-blocking socket `fd`. `in_max`
 * bounds the input buffer. Returns an owned conn; reading starts at once.
 */
struct conn *conn_new(struct loop *loop, int fd, size_t in_max,
                      conn_event_fn *cb, void *arg);
/*
 * As conn_new for a session on two descriptors (inetd mode: stdin and
 * stdout). Takes ownership of both; they are made non-blocking. Pipes
 * are allowed; writing to a pipe whose reader is gone raises SIGPIPE,
 * which the process must ignore (sockets are written with MSG_NOSIGNAL).
 */
struct conn *conn_new_pair(struct loop *loop, int in_fd, int out_fd,
                           size_t in_max, conn_event_fn *cb, void *arg);
/* Closes the connection at once (queued output is dropped), releases it
 * and clears *cp. Accepts NULL. */
void conn_free(struct conn **cp);

/*
 * The input buffer (max in_max bytes); the callback consumes from it. When
 * it is full the conn stops reading until the owner consumes. An owner
 * that consumes outside a callback calls conn_pause(c, false) so reading
 * resumes.
 */
struct buf *conn_input(struct conn *c);

/* Queues bytes for output (copied). Never blocks; output is unbounded in
 * size but input stops while it is above CONN_OUT_HIGH. Ignored after
 * conn_close_after_flush() or an error. Under TLS the bytes are encrypted
 * once the handshake has completed. */
void conn_write(struct conn *c, const void *data, size_t len);
void conn_printf(struct conn *c, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/* Bytes queued and not yet written to the socket. */
size_t conn_output_pending(const struct conn *c);

/* Sets the idle timeout in milliseconds (0: none); restarts on input and
 * whenever output makes progress, so a slow reader of a long reply is not
 * cut off. */
void conn_set_timeout(struct conn *c, uint64_t msec);
/* Stops (true) or resumes (false) delivering CONN_EV_DATA, e.g. while a
 * session waits for another role. Bytes keep accumulating up to in_max.
 * Resuming delivers CONN_EV_DATA again (from the loop) if bytes remain,
 * then CONN_EV_CLOSED if the peer closed meanwhile. */
void conn_pause(struct conn *c, bool paused);
/* Flushes queued output (ending TLS with close_notify), then shuts the
 * write side down; the owner gets CONN_EV_CLOSED once the peer has closed
 * too or after at most two seconds of discarding its input (closing with
 * unread input would reset the connection and lose the last reply).
 * CONN_EV_DATA is no longer delivered. */
void conn_close_after_flush(struct conn *c);

/*
 * Starts a server-side TLS handshake with `ctx` (borrowed; the session
 * keeps its own reference, so the context may be replaced on reload). Anything
 * still in the input buffer is discarded by the caller first (STARTTLS must be
 * the last bytes: RFC 3207 section 4.2); the conn discards it too. Output
 * queued before this call goes out in plaintext (the "220 ready" reply), output
 * queued after it is encrypted. CONN_EV_TLS_READY follows on success,
 * CONN_EV_ERROR on failure. Calling it twice is a bug (panic).
 */
void conn_start_tls(struct conn *c, SSL_CTX *ctx);
bool conn_is_tls(const struct conn *c);
/* Protocol version and cipher names, or NULL before TLS. Valid until the
 * conn is freed. */
const char *conn_tls_version(const struct conn *c);
const char *conn_tls_cipher(const struct conn *c);
/* A short description of the last error, for logs. */
const char *conn_error(const struct conn *c);

#endif
