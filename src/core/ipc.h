/*
 * ipc — framed messages between roles over a socketpair (STYLE.md 3).
 *
 * Frame: {u32 type, u32 len, u64 id} then `len` payload bytes; at most one
 * file descriptor travels with a frame through SCM_RIGHTS. Payloads are
 * built with ipc_put_* and read with ipc_get_*, which bounds-check: a
 * malformed internal message is a bug in a peer role and is fatal.
 * The `id` matches replies to requests (a session id or a request id).
 */
#ifndef POSTERN_CORE_IPC_H
#define POSTERN_CORE_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/loop.h"

#define IPC_MAX_PAYLOAD (1024 * 1024)

struct ipc;

struct ipc_msg {
	uint32_t type;
	uint64_t id;
	const uint8_t *data; /* valid only during the callback */
	size_t len;
	int fd; /* -1, or a received descriptor the callback takes over */
};

/* Called once per complete frame; `msg` == NULL means the peer closed
 * the channel (the callback may free the ipc). */
typedef void ipc_msg_fn(struct ipc *ipc, const struct ipc_msg *msg, void *arg);

/* Takes ownership of the socket `fd` (made non-blocking). */
struct ipc *ipc_new(struct loop *loop, int fd, ipc_msg_fn *cb, void *arg);
void ipc_free(struct ipc **ipcp);
/* Sends further frames (and the close) to another callback. */
void ipc_set_handler(struct ipc *ipc, ipc_msg_fn *cb, void *arg);
int ipc_fd(const struct ipc *ipc);

/* Queues a frame; `fd` (-1 for none) is borrowed and duplicated, so the
 * caller still owns it. Never blocks. */
void ipc_send(struct ipc *ipc, uint32_t type, uint64_t id, int fd,
              const void *data, size_t len);

/* Payload builder. */
struct ipc_out {
	struct buf b;
};
void ipc_out_init(struct ipc_out *o);
void ipc_out_deinit(struct ipc_out *o);
void ipc_put_u8(struct ipc_out *o, uint8_t v);
void ipc_put_u32(struct ipc_out *o, uint32_t v);
void ipc_put_u64(struct ipc_out *o, uint64_t v);
/* A length-prefixed byte string; `s` may hold NULs. */
void ipc_put_bytes(struct ipc_out *o, const void *s, size_t len);
/* A NUL-free C string (NULL is sent as the empty string). */
void ipc_put_str(struct ipc_out *o, const char *s);
/* Sends the built payload and resets the builder. */
void ipc_send_out(struct ipc *ipc, uint32_t type, uint64_t id, int fd,
                  struct ipc_out *o);

/* Payload reader over a received message; every get checks bounds and
 * fails fatally on a short or malformed payload. */
struct ipc_in {
	const uint8_t *p;
	size_t left;
	uint32_t type;
};
void ipc_in_init(struct ipc_in *in, const struct ipc_msg *msg);
uint8_t ipc_get_u8(struct ipc_in *in);
uint32_t ipc_get_u32(struct ipc_in *in);
uint64_t ipc_get_u64(struct ipc_in *in);
/* Returns a view into the message (valid during the callback). */
const uint8_t *ipc_get_bytes(struct ipc_in *in, size_t *len_r);
/* Returns an owned NUL-terminated copy; fatal if it contains a NUL. */
char *ipc_get_str(struct ipc_in *in);
/* Fatal unless every byte was read. */
void ipc_in_end(struct ipc_in *in);

#endif
