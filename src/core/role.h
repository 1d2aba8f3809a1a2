/*
 * role — what every role process shares: the control channel to the
 * parent, the configuration it sent, the listening sockets and peer
 * channels it handed over, and the privilege drop.
 *
 * A role is started as `posternd --role NAME` with its control socket on
 * descriptor 3. The parent then sends MSG_CONFIG, any MSG_LISTENER and
 * MSG_PEER, and MSG_START; only then does the role's start() run, still
 * with the rights it was started with, so it can read its keys; it must
 * call role_drop_privileges() before it reads a byte from the network.
 */
#ifndef POSTERN_CORE_ROLE_H
#define POSTERN_CORE_ROLE_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "core/ipc.h"
#include "core/loop.h"

#define ROLE_CTL_FD 3

struct role;

struct role_listener {
	enum config_proto proto;
	int fd;
	char name[80]; /* "addr:port" for logs */
};

struct role_ops {
	const char *name;
	/* Everything has arrived; still privileged. */
	void (*start)(struct role *r);
	/* A channel to peer role `peer` (its name), new or replacing an
	 * older one; the role takes ownership of `fd`. Called only after
	 * start(). */
	void (*peer)(struct role *r, const char *peer, int fd);
	/* A new validated configuration; the role takes ownership of it
	 * and frees the old one (r->cfg) when no longer needed. */
	void (*reload)(struct role *r, struct config *cfg);
	/* Stop taking new work; finish within `grace_ms`, then exit(0). */
	void (*shutdown)(struct role *r, uint64_t grace_ms);
	/* A control message only this role knows (may be NULL: then such
	 * a message is fatal). Any fd in `msg` is the role's to keep. */
	void (*control)(struct role *r, const struct ipc_msg *msg);
};

struct role {
	const struct role_ops *ops;
	struct loop *loop;
	struct ipc *ctl;
	struct config *cfg;
	struct role_listener *listeners;
	size_t nlisteners;
	bool started;
	void *priv; /* the role's own state */
	/* peer channels received before start() */
	struct role_pending_peer *pending;
};

/* Runs the role until it exits; never returns. */
void role_main(const struct role_ops *ops) __attribute__((noreturn));

/*
 * When running as root: chroot into `root_dir` (NULL: stay), drop all
 * groups and switch to the configured run_user. When not root: chdir to
 * `root_dir` only, and keep the user (warned once). Fatal on any failure.
 * Afterwards the role's file paths are relative to its working directory.
 */
void role_drop_privileges(struct role *r, const char *root_dir);

/* Replaces the configuration, freeing the old one. */
void role_set_config(struct role *r, struct config *cfg);

#endif
