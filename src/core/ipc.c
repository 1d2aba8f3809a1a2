/*
 * ipc — framed messages with descriptor passing between postern's roles.
 *
 * Wire format (host byte order: both ends are the same binary on the same
 * machine): a 24-byte header {u32 type, u32 len, u64 id, u32 flags, u32 0}
 * followed by `len` payload bytes. IPC_F_FD in flags says one descriptor
 * was attached (SCM_RIGHTS) to the first byte of this frame's header; on a
 * stream socket the kernel delivers it with the recvmsg() that reads that
 * byte, so received descriptors are queued in arrival order and each frame
 * flagged IPC_F_FD takes the oldest one.
 *
 * A peer role is trusted code: a frame that breaks these rules is a bug and
 * is fatal to this process (the parent restarts it).
 */
#include "core/ipc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/xalloc.h"
#include "log/log.h"

#define IPC_HDR     24
#define IPC_F_FD    0x1u
#define IPC_MAX_FDS 64

struct ipc_frame {
	struct ipc_frame *next;
	uint8_t *data; /* header + payload */
	size_t len;
	size_t off; /* bytes already written */
	int fd;     /* attached to the first byte, or -1 */
};

struct ipc {
	struct loop *loop;
	int fd;
	struct loop_io *io;
	ipc_msg_fn *cb;
	void *arg;
	struct buf in;
	int fds[IPC_MAX_FDS];
	size_t nfds;
	struct ipc_frame *out_head;
	struct ipc_frame **out_tail;
	bool *freed; /* set when freed during a callback */
};

static void ipc_io(void *arg, unsigned events);

struct ipc *
ipc_new(struct loop *loop, int fd, ipc_msg_fn *cb, void *arg)
{
	struct ipc *ipc = xmalloc(sizeof(*ipc));
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		fatal_errno("ipc fcntl");
	ipc->loop = loop;
	ipc->fd = fd;
	ipc->cb = cb;
	ipc->arg = arg;
	buf_init(&ipc->in, IPC_HDR + IPC_MAX_PAYLOAD);
	ipc->out_tail = &ipc->out_head;
	ipc->io = loop_io_add(loop, fd, LOOP_READ, ipc_io, ipc);
	return ipc;
}

void
ipc_free(struct ipc **ipcp)
{
	struct ipc *ipc = *ipcp;

	if (ipc == NULL)
		return;
	*ipcp = NULL;
	if (ipc->freed != NULL)
		*ipc->freed = true;
	loop_io_remove(&ipc->io);
	close(ipc->fd);
	for (size_t i = 0; i < ipc->nfds; i++)
		close(ipc->fds[i]);
	while (ipc->out_head != NULL) {
		struct ipc_frame *f = ipc->out_head;

		ipc->out_head = f->next;
		if (f->fd >= 0)
			close(f->fd);
		free(f->data);
		free(f);
	}
	buf_deinit(&ipc->in);
	free(ipc);
}

void
ipc_set_handler(struct ipc *ipc, ipc_msg_fn *cb, void *arg)
{
	ipc->cb = cb;
	ipc->arg = arg;
}

int
ipc_fd(const struct ipc *ipc)
{
	return ipc->fd;
}

/* Writes queued frames until the socket would block. Returns -1 if the
 * peer is gone. */
static int
ipc_flush(struct ipc *ipc)
{
	while (ipc->out_head != NULL) {
		struct ipc_frame *f = ipc->out_head;
		struct iovec iov = {f->data + f->off, f->len - f->off};
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(int))];
		} cm;
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
		ssize_t n;

		if (f->off == 0 && f->fd >= 0) {
			memset(&cm, 0, sizeof(cm));
			mh.msg_control = cm.buf;
			mh.msg_controllen = sizeof(cm.buf);
			struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &f->fd, sizeof(int));
		}
		n = sendmsg(ipc->fd, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return -1;
		}
		if (f->fd >= 0) {
			close(f->fd);
			f->fd = -1;
		}
		f->off += (size_t)n;
		if (f->off < f->len)
			continue;
		ipc->out_head = f->next;
		if (ipc->out_head == NULL)
			ipc->out_tail = &ipc->out_head;
		free(f->data);
		free(f);
	}
	loop_io_set(ipc->io,
	            LOOP_READ | (ipc->out_head != NULL ? LOOP_WRITE : 0));
	return 0;
}

void
ipc_send(struct ipc *ipc, uint32_t type, uint64_t id, int fd, const void *data,
         size_t len)
{
	struct ipc_frame *f;
	uint32_t hdr[6];

	if (len > IPC_MAX_PAYLOAD)
		panic("ipc_send: payload of %zu bytes for type %u", len, type);
	f = xmalloc(sizeof(*f));
	f->len = IPC_HDR + len;
	f->data = xmalloc(f->len);
	f->fd = -1;
	hdr[0] = type;
	hdr[1] = (uint32_t)len;
	memcpy(&hdr[2], &id, sizeof(id));
	hdr[4] = fd >= 0 ? IPC_F_FD : 0;
	hdr[5] = 0;
	memcpy(f->data, hdr, IPC_HDR);
	if (len > 0)
		memcpy(f->data + IPC_HDR, data, len);
	if (fd >= 0) {
		f->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (f->fd < 0)
			fatal_errno("ipc_send dup");
	}
	*ipc->out_tail = f;
	ipc->out_tail = &f->next;
	if (ipc_flush(ipc) < 0)
		log_debug("ipc: peer gone while sending type %u", type);
}

static void
ipc_take_fds(struct ipc *ipc, struct msghdr *mh)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c != NULL;
	     c = CMSG_NXTHDR(mh, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (ipc->nfds == IPC_MAX_FDS)
				fatal("ipc: too many descriptors queued");
			ipc->fds[ipc->nfds++] = fd;
		}
	}
	if (mh->msg_flags & MSG_CTRUNC)
		fatal("ipc: control data truncated");
}

/* Delivers complete frames. Returns false if the ipc was freed by a
 * callback. */
static bool
ipc_dispatch(struct ipc *ipc)
{
	bool freed = false;

	/* A callback may free the ipc: it then sets this flag, which lives
	 * only for this call (cleared below, or gone with the ipc). */
	// cppcheck-suppress autoVariables
	ipc->freed = &freed;
	while (buf_len(&ipc->in) >= IPC_HDR) {
		uint32_t hdr[6];
		struct ipc_msg msg;

		memcpy(hdr, buf_data(&ipc->in), IPC_HDR);
		if (hdr[1] > IPC_MAX_PAYLOAD || (hdr[4] & ~IPC_F_FD) != 0)
			fatal("ipc: malformed frame header type=%u len=%u",
			      hdr[0], hdr[1]);
		if (buf_len(&ipc->in) < IPC_HDR + (size_t)hdr[1])
			break;
		msg.type = hdr[0];
		memcpy(&msg.id, &hdr[2], sizeof(msg.id));
		msg.data = (const uint8_t *)buf_data(&ipc->in) + IPC_HDR;
		msg.len = hdr[1];
		msg.fd = -1;
		if (hdr[4] & IPC_F_FD) {
			if (ipc->nfds == 0)
				fatal("ipc: frame type %u lacks its fd",
				      msg.type);
			msg.fd = ipc->fds[0];
			memmove(ipc->fds, ipc->fds + 1,
			        --ipc->nfds * sizeof(int));
		}
		ipc->cb(ipc, &msg, ipc->arg);
		if (freed)
			return false;
		buf_consume(&ipc->in, IPC_HDR + msg.len);
	}
	ipc->freed = NULL;
	return true;
}

static void
ipc_read(struct ipc *ipc)
{
	for (;;) {
		size_t avail;
		char *p = buf_space(&ipc->in, 64 * 1024, &avail);
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(int) * 8)];
		} cm;
		struct iovec iov = {p, avail};
		struct msghdr mh = {.msg_iov = &iov,
		                    .msg_iovlen = 1,
		                    .msg_control = cm.buf,
		                    .msg_controllen = sizeof(cm.buf)};
		ssize_t n;

		if (avail == 0)
			fatal("ipc: input buffer full");
		n = recvmsg(ipc->fd, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			n = 0; /* treat errors like a close */
		}
		if (n > 0)
			ipc_take_fds(ipc, &mh);
		if (n == 0) {
			ipc->cb(ipc, NULL, ipc->arg);
			return;
		}
		buf_commit(&ipc->in, (size_t)n);
		if (!ipc_dispatch(ipc))
			return;
		/* A short read drained the socket: rather than a recvmsg()
		 * that says EAGAIN, wait for the loop to report more. */
		if ((size_t)n < avail)
			return;
	}
}

static void
ipc_io(void *arg, unsigned events)
{
	struct ipc *ipc = arg;

	if (events & LOOP_WRITE) {
		if (ipc_flush(ipc) < 0) {
			ipc->cb(ipc, NULL, ipc->arg);
			return;
		}
	}
	if (events & (LOOP_READ | LOOP_ERROR))
		ipc_read(ipc);
}

/* --- payload builder and reader ---------------------------------------- */

void
ipc_out_init(struct ipc_out *o)
{
	buf_init(&o->b, IPC_MAX_PAYLOAD);
}

void
ipc_out_deinit(struct ipc_out *o)
{
	buf_deinit(&o->b);
}

static void
ipc_put(struct ipc_out *o, const void *p, size_t len)
{
	if (buf_append(&o->b, p, len) < 0)
		panic("ipc payload exceeds %d bytes", IPC_MAX_PAYLOAD);
}

void
ipc_put_u8(struct ipc_out *o, uint8_t v)
{
	ipc_put(o, &v, sizeof(v));
}

void
ipc_put_u32(struct ipc_out *o, uint32_t v)
{
	ipc_put(o, &v, sizeof(v));
}

void
ipc_put_u64(struct ipc_out *o, uint64_t v)
{
	ipc_put(o, &v, sizeof(v));
}

void
ipc_put_bytes(struct ipc_out *o, const void *s, size_t len)
{
	if (len > IPC_MAX_PAYLOAD)
		panic("ipc_put_bytes: %zu bytes", len);
	ipc_put_u32(o, (uint32_t)len);
	ipc_put(o, s, len);
}

void
ipc_put_str(struct ipc_out *o, const char *s)
{
	if (s == NULL)
		s = "";
	ipc_put_bytes(o, s, strlen(s));
}

void
ipc_send_out(struct ipc *ipc, uint32_t type, uint64_t id, int fd,
             struct ipc_out *o)
{
	ipc_send(ipc, type, id, fd, buf_data(&o->b), buf_len(&o->b));
	buf_clear(&o->b);
}

void
ipc_in_init(struct ipc_in *in, const struct ipc_msg *msg)
{
	in->p = msg->data;
	in->left = msg->len;
	in->type = msg->type;
}

static void
ipc_get(struct ipc_in *in, void *out, size_t len)
{
	if (len > in->left)
		fatal("ipc: short payload in message type %u", in->type);
	memcpy(out, in->p, len);
	in->p += len;
	in->left -= len;
}

uint8_t
ipc_get_u8(struct ipc_in *in)
{
	uint8_t v;

	ipc_get(in, &v, sizeof(v));
	return v;
}

uint32_t
ipc_get_u32(struct ipc_in *in)
{
	uint32_t v;

	ipc_get(in, &v, sizeof(v));
	return v;
}

uint64_t
ipc_get_u64(struct ipc_in *in)
{
	uint64_t v;

	ipc_get(in, &v, sizeof(v));
	return v;
}

const uint8_t *
ipc_get_bytes(struct ipc_in *in, size_t *len_r)
{
	uint32_t len = ipc_get_u32(in);
	const uint8_t *p = in->p;

	if (len > in->left)
		fatal("ipc: short string in message type %u", in->type);
	in->p += len;
	in->left -= len;
	*len_r = len;
	return p;
}

char *
ipc_get_str(struct ipc_in *in)
{
	size_t len;
	const uint8_t *p = ipc_get_bytes(in, &len);

	if (memchr(p, '\0', len) != NULL)
		fatal("ipc: NUL in string of message type %u", in->type);
	return xstrndup((const char *)p, len);
}

void
ipc_in_end(struct ipc_in *in)
{
	if (in->left != 0)
		fatal("ipc: %zu trailing bytes in message type %u", in->left,
		      in->type);
}
