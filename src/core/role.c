/*
 * role — the common start-up of a role process: receive configuration,
 * listeners and peers from the parent over the control channel, then hand
 * control to the role's callbacks. Runs in every role except the parent.
 */
#include "core/role.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/msg.h"
#include "core/str.h"
#include "core/xalloc.h"
#include "log/log.h"

struct role_pending_peer {
	struct role_pending_peer *next;
	char *name;
	int fd;
};

static struct config *
role_parse_config(const struct ipc_msg *msg)
{
	struct ipc_in in;
	char *text, *err = NULL;
	struct config *cfg;

	ipc_in_init(&in, msg);
	text = ipc_get_str(&in);
	ipc_in_end(&in);
	cfg = config_parse_string(text, strlen(text), "<parent>", "/", &err);
	if (cfg == NULL)
		fatal("configuration from parent rejected: %s", err);
	free(text);
	return cfg;
}

void
role_set_config(struct role *r, struct config *cfg)
{
	config_free(&r->cfg);
	r->cfg = cfg;
	log_set_level(cfg->log_level);
}

static void
role_add_listener(struct role *r, const struct ipc_msg *msg)
{
	struct ipc_in in;
	struct role_listener *l;
	char *name;

	if (msg->fd < 0)
		fatal("listener message without a socket");
	ipc_in_init(&in, msg);
	r->listeners = xrealloc(r->listeners,
	                        (r->nlisteners + 1) * sizeof(*r->listeners));
	l = &r->listeners[r->nlisteners++];
	memset(l, 0, sizeof(*l));
	l->proto = (enum config_proto)ipc_get_u32(&in);
	name = ipc_get_str(&in);
	ipc_in_end(&in);
	str_copy(l->name, sizeof(l->name), name);
	free(name);
	l->fd = msg->fd;
}

static void
role_add_peer(struct role *r, const struct ipc_msg *msg)
{
	struct ipc_in in;
	char *name;

	if (msg->fd < 0)
		fatal("peer message without a socket");
	ipc_in_init(&in, msg);
	name = ipc_get_str(&in);
	ipc_in_end(&in);
	if (r->started) {
		r->ops->peer(r, name, msg->fd);
		free(name);
		return;
	}
	struct role_pending_peer *p = xmalloc(sizeof(*p));

	p->name = name;
	p->fd = msg->fd;
	p->next = r->pending;
	r->pending = p;
}

static void
role_start(struct role *r)
{
	if (r->cfg == NULL)
		fatal("start before configuration");
	r->started = true;
	r->ops->start(r);
	while (r->pending != NULL) {
		struct role_pending_peer *p = r->pending;

		r->pending = p->next;
		r->ops->peer(r, p->name, p->fd);
		free(p->name);
		free(p);
	}
}

static void
role_ctl(struct ipc *ipc, const struct ipc_msg *msg, void *arg)
{
	struct role *r = arg;

	(void)ipc;
	if (msg == NULL) {
		/* The parent is gone: nobody supervises us any more. */
		log_info("parent closed the control channel, exiting");
		exit(0);
	}
	switch (msg->type) {
	case MSG_CONFIG:
		role_set_config(r, role_parse_config(msg));
		break;
	case MSG_LISTENER:
		role_add_listener(r, msg);
		break;
	case MSG_PEER:
		role_add_peer(r, msg);
		break;
	case MSG_START:
		role_start(r);
		break;
	case MSG_RELOAD:
		r->ops->reload(r, role_parse_config(msg));
		break;
	case MSG_SHUTDOWN: {
		struct ipc_in in;
		uint64_t grace;

		ipc_in_init(&in, msg);
		grace = ipc_get_u64(&in);
		ipc_in_end(&in);
		r->ops->shutdown(r, grace);
		break;
	}
	default:
		if (r->ops->control == NULL)
			fatal("unexpected control message type %u", msg->type);
		r->ops->control(r, msg);
	}
}

void
role_main(const struct role_ops *ops)
{
	struct role r;

	char comm[16];

	memset(&r, 0, sizeof(r));
	r.ops = ops;
	log_init(ops->name, true, LOG_LEVEL_INFO);
	/* Re-executed through /proc/self/exe, the process would show as
	 * "exe" in ps(1) and top(1). */
	snprintf(comm, sizeof(comm), "postern-%s", ops->name);
	(void)prctl(PR_SET_NAME, comm);
	r.loop = loop_new();
	r.ctl = ipc_new(r.loop, ROLE_CTL_FD, role_ctl, &r);
	loop_run(r.loop);
	exit(0);
}

void
role_drop_privileges(struct role *r, const char *root_dir)
{
	static bool warned;
	struct passwd *pw;

	if (geteuid() != 0) {
		if (root_dir != NULL && chdir(root_dir) < 0)
			fatal_errno("chdir %s", root_dir);
		if (!warned)
			log_debug("not started as root: keeping uid %ld",
			          (long)geteuid());
		warned = true;
		return;
	}
	pw = getpwnam(r->cfg->run_user);
	if (pw == NULL)
		fatal("run_user '%s' does not exist", r->cfg->run_user);
	if (pw->pw_uid == 0)
		fatal("run_user '%s' is root: refusing", r->cfg->run_user);
	if (root_dir != NULL) {
		if (chroot(root_dir) < 0)
			fatal_errno("chroot %s", root_dir);
		if (chdir("/") < 0)
			fatal_errno("chdir / in chroot");
	}
	if (setgroups(1, &pw->pw_gid) < 0 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
		fatal_errno("dropping privileges to %s", r->cfg->run_user);
	if (setuid(0) == 0)
		fatal("privileges could be regained after the drop");
}
