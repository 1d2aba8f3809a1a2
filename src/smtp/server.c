/*
 * server — the smtp role's process-wide part: accepting on the listeners,
 * the session table (replies from queue and auth carry the session id and
 * are routed through it; a reply for a session that has gone is dropped),
 * TLS context, reload and graceful shutdown. One event loop; runs as
 * run_user, chrooted into an empty directory, once started.
 */
#include "smtp/server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/msg.h"
#include "core/xalloc.h"
#include "log/log.h"
#include "smtp/limits.h"
#include "smtp/session.h"
#include "tls/tls.h"

#define SMTP_BUCKETS 1024

struct smtp_entry {
	struct smtp_entry *next;
	uint64_t id;
	struct smtp_session *session;
};

struct smtp_listen {
	struct loop_io *io;
	int fd;
	enum config_proto proto;
};

static struct smtp_server srv;
static struct smtp_entry *table[SMTP_BUCKETS];
static struct smtp_listen *listens;
static size_t nlistens;
static struct loop_timer *stop_timer;

void
smtp_server_register(struct smtp_server *server, struct smtp_session *session,
                     uint64_t id)
{
	struct smtp_entry *e = xmalloc(sizeof(*e));

	(void)server;
	e->id = id;
	e->session = session;
	e->next = table[id % SMTP_BUCKETS];
	table[id % SMTP_BUCKETS] = e;
}

void
smtp_server_forget(struct smtp_server *s, uint64_t id)
{
	struct smtp_entry **pp = &table[id % SMTP_BUCKETS];

	(void)s;
	for (; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->id == id) {
			struct smtp_entry *e = *pp;

			*pp = e->next;
			free(e);
			return;
		}
	}
}

static struct smtp_session *
smtp_server_find(uint64_t id)
{
	for (struct smtp_entry *e = table[id % SMTP_BUCKETS]; e != NULL;
	     e = e->next) {
		if (e->id == id)
			return e->session;
	}
	return NULL;
}

static void
smtp_server_maybe_exit(void)
{
	if ((srv.stopping || srv.inetd) && srv.nsessions == 0) {
		log_info("event=stopped");
		exit(0);
	}
}

void
smtp_server_session_ended(struct smtp_server *s)
{
	s->nsessions--;
	smtp_server_maybe_exit();
}

/* --- peers ------------------------------------------------------------------
 */

static void
smtp_peer_msg(struct ipc *ipc, const struct ipc_msg *msg, void *arg)
{
	struct smtp_session *s;

	(void)arg;
	if (msg == NULL) {
		/* The peer role died; the parent will send a new channel.
		 * Sessions waiting on it get a temporary failure. */
		bool was_queue = ipc == srv.queue;

		log_warn("event=peer-lost peer=%s",
		         was_queue ? "queue" : "auth");
		if (was_queue)
			ipc_free(&srv.queue);
		else
			ipc_free(&srv.auth);
		smtp_session_peer_lost(was_queue);
		return;
	}
	s = smtp_server_find(msg->id);
	if (s == NULL) {
		smtp_drop_reply(&srv, msg);
		return;
	}
	smtp_session_reply(s, msg);
}

static void
smtp_peer(struct role *r, const char *peer, int fd)
{
	struct ipc **slot;

	if (strcmp(peer, "queue") == 0)
		slot = &srv.queue;
	else if (strcmp(peer, "auth") == 0)
		slot = &srv.auth;
	else
		fatal("smtp: unexpected peer %s", peer);
	ipc_free(slot);
	*slot = ipc_new(r->loop, fd, smtp_peer_msg, NULL);
}

/* --- accepting --------------------------------------------------------------
 */

static void
smtp_accept(void *arg, unsigned events)
{
	struct smtp_listen *l = arg;

	(void)events;
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t sslen = sizeof(ss);
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &sslen,
		                 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn_errno("accept");
			return;
		}
		srv.nsessions++;
		smtp_session_new(&srv, fd, -1, l->proto,
		                 (struct sockaddr *)&ss);
	}
}

static void
smtp_start_listening(struct role *r)
{
	listens = xcalloc(r->nlisteners + 1, sizeof(*listens));
	for (size_t i = 0; i < r->nlisteners; i++) {
		int fl = fcntl(r->listeners[i].fd, F_GETFL);

		if (fl < 0 ||
		    fcntl(r->listeners[i].fd, F_SETFL, fl | O_NONBLOCK) < 0)
			fatal_errno("fcntl listener");
		listens[nlistens].fd = r->listeners[i].fd;
		listens[nlistens].proto = r->listeners[i].proto;
		/* Every worker watches every listener; a connection
		 * wakes one of them, not all. */
		listens[nlistens].io = loop_io_add(
		        r->loop, r->listeners[i].fd, LOOP_READ | LOOP_EXCLUSIVE,
		        smtp_accept, &listens[nlistens]);
		nlistens++;
	}
}

/* --- role glue
 * ------------------------------------------------------------------ */

static void
smtp_load_tls(struct role *r)
{
	const char *err = NULL;

	tls_ctx_free(&srv.tls);
	srv.tls = tls_server_ctx_new(r->cfg->tls_cert, r->cfg->tls_key, &err);
	if (srv.tls == NULL)
		log_warn("event=tls-unavailable cert=%s: %s", r->cfg->tls_cert,
		         err != NULL ? err : "unknown error");
}

/* An empty directory to chroot into: the smtp role needs no files. */
static const char *
smtp_empty_dir(const struct config *cfg)
{
	static char path[1024];

	snprintf(path, sizeof(path), "%s/spool/empty", cfg->data_dir);
	if (geteuid() == 0 && mkdir(path, 0555) < 0 && errno != EEXIST)
		fatal_errno("mkdir %s", path);
	return geteuid() == 0 ? path : NULL;
}

static void
smtp_start(struct role *r)
{
	srv.role = r;
	srv.loop = r->loop;
	srv.cfg = r->cfg;
	smtp_load_tls(r);
	role_drop_privileges(r, smtp_empty_dir(r->cfg));
	smtp_start_listening(r);
}

static void
smtp_reload(struct role *r, struct config *cfg)
{
	/* A reload normally replaces the worker (parent.c, proc_replace),
	 * which is how a renewed certificate is read: it cannot be after
	 * the privilege drop. This in-place reload runs only when too many
	 * replaced workers are still finishing. Sessions read srv.cfg on
	 * each use and never keep pointers into it, so the old
	 * configuration can go at once. */
	role_set_config(r, cfg);
	srv.cfg = r->cfg;
}

static void
smtp_stop_timer(void *arg)
{
	(void)arg;
	stop_timer = NULL;
	log_info("event=shutdown-timeout sessions=%u", srv.nsessions);
	exit(0);
}

static void
smtp_shutdown(struct role *r, uint64_t grace_ms)
{
	if (srv.stopping)
		return;
	srv.stopping = true;
	for (size_t i = 0; i < nlistens; i++) {
		loop_io_remove(&listens[i].io);
		close(listens[i].fd);
	}
	nlistens = 0;
	smtp_session_shutdown_all();
	smtp_server_maybe_exit();
	stop_timer = loop_timer_add(r->loop, grace_ms, smtp_stop_timer, NULL);
}

static void
smtp_control(struct role *r, const struct ipc_msg *msg)
{
	struct ipc_in in;
	uint32_t index, workers;

	(void)r;
	if (msg->type != MSG_SMTP_LIMITS || msg->fd < 0)
		fatal("smtp: unexpected control message type %u", msg->type);
	ipc_in_init(&in, msg);
	index = ipc_get_u32(&in);
	workers = ipc_get_u32(&in);
	ipc_in_end(&in);
	if (limits_attach(msg->fd, index, workers) < 0)
		fatal_errno("smtp: attaching the session table");
}

const struct role_ops smtp_role_ops = {
        .name = "smtp",
        .start = smtp_start,
        .peer = smtp_peer,
        .reload = smtp_reload,
        .shutdown = smtp_shutdown,
        .control = smtp_control,
};

void
smtp_inetd_run(struct role *r, int queue_fd, int auth_fd)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	bool have_peer;

	srv.inetd = true;
	srv.role = r;
	srv.loop = r->loop;
	srv.cfg = r->cfg;
	smtp_load_tls(r);
	role_drop_privileges(r, smtp_empty_dir(r->cfg));
	smtp_peer(r, "queue", queue_fd);
	smtp_peer(r, "auth", auth_fd);
	/* stdin is a socket under inetd and systemd, a pipe under tests. */
	memset(&ss, 0, sizeof(ss));
	have_peer = getpeername(0, (struct sockaddr *)&ss, &sslen) == 0 &&
	            (ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
	srv.nsessions++;
	smtp_session_new(&srv, 0, 1, CONFIG_PROTO_SMTP,
	                 have_peer ? (struct sockaddr *)&ss : NULL);
	loop_run(r->loop);
	exit(0);
}
