/*
 * auth — the auth role. Holds the parsed users file in memory and reloads
 * it when the file changes (checked with stat() before each look-up, so an
 * account added with `postern user add` is known at once) or on SIGHUP.
 *
 * Started as root, this role keeps root's uid: it is the one role that
 * must read a secret file, and it never touches the network (its only
 * input is framed IPC from the smtp and mailbox roles, length-checked like
 * network input).
 */
#include "auth/auth.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/passdb.h"
#include "core/msg.h"
#include "core/xalloc.h"
#include "log/log.h"

#define AUTH_MAX_CLIENTS 256

struct auth_state {
	struct passdb *db;
	struct stat st; /* of the users file when db was loaded */
	bool load_failed;
	struct ipc *clients[AUTH_MAX_CLIENTS];
};

static struct auth_state auth;

static bool
auth_file_changed(const struct stat *a, const struct stat *b)
{
	return a->st_ino != b->st_ino || a->st_dev != b->st_dev ||
	       a->st_size != b->st_size ||
	       a->st_mtim.tv_sec != b->st_mtim.tv_sec ||
	       a->st_mtim.tv_nsec != b->st_mtim.tv_nsec;
}

/* Loads the users file if it changed since the last load. On failure the
 * previous copy stays in use. */
static void
auth_refresh(const struct config *cfg, bool force)
{
	struct stat st;
	struct passdb *db;
	char *err = NULL;

	if (stat(cfg->users_file, &st) < 0) {
		if (!auth.load_failed)
			log_err_errno("users file %s", cfg->users_file);
		auth.load_failed = auth.db == NULL;
		return;
	}
	if (!force && auth.db != NULL && !auth_file_changed(&st, &auth.st))
		return;
	db = passdb_load(cfg->users_file, &err);
	if (db == NULL) {
		log_err("event=users-load result=error %s", err);
		free(err);
		auth.load_failed = auth.db == NULL;
		/* Retry on the next look-up only if the file changes again. */
		auth.st = st;
		return;
	}
	passdb_free(&auth.db);
	auth.db = db;
	auth.st = st;
	auth.load_failed = false;
	log_info("event=users-load file=%s accounts=%zu", cfg->users_file,
	         passdb_count(db));
}

static void
auth_lookup(struct role *r, struct ipc *ipc, const struct ipc_msg *msg)
{
	struct ipc_in in;
	struct ipc_out o;
	char *address;
	const struct passdb_user *u = NULL;
	uint8_t status;

	ipc_in_init(&in, msg);
	address = ipc_get_str(&in);
	ipc_in_end(&in);
	auth_refresh(r->cfg, false);
	if (auth.db == NULL)
		status = AUTH_LOOKUP_TEMPFAIL;
	else if ((u = passdb_lookup(auth.db, address)) != NULL)
		status = AUTH_LOOKUP_FOUND;
	else
		status = AUTH_LOOKUP_UNKNOWN;
	ipc_out_init(&o);
	ipc_put_u8(&o, status);
	ipc_put_u64(&o, u != NULL ? u->quota : 0);
	ipc_put_str(&o, u != NULL ? u->address : address);
	ipc_send_out(ipc, MSG_AUTH_LOOKUP_R, msg->id, -1, &o);
	ipc_out_deinit(&o);
	free(address);
}

static void
auth_client_msg(struct ipc *ipc, const struct ipc_msg *msg, void *arg)
{
	struct role *r = arg;

	if (msg == NULL) {
		for (size_t i = 0; i < AUTH_MAX_CLIENTS; i++) {
			if (auth.clients[i] == ipc)
				ipc_free(&auth.clients[i]);
		}
		return;
	}
	switch (msg->type) {
	case MSG_AUTH_LOOKUP:
		auth_lookup(r, ipc, msg);
		break;
	default:
		fatal("auth: unexpected message type %u", msg->type);
	}
}

static void
auth_start(struct role *r)
{
	if (geteuid() == 0)
		log_debug("auth keeps root to read %s", r->cfg->users_file);
	auth_refresh(r->cfg, true);
}

static void
auth_peer(struct role *r, const char *peer, int fd)
{
	for (size_t i = 0; i < AUTH_MAX_CLIENTS; i++) {
		if (auth.clients[i] == NULL) {
			auth.clients[i] =
			        ipc_new(r->loop, fd, auth_client_msg, r);
			return;
		}
	}
	log_err("auth: too many clients, refusing peer %s", peer);
	close(fd);
}

static void
auth_reload(struct role *r, struct config *cfg)
{
	role_set_config(r, cfg);
	auth_refresh(r->cfg, true);
}

static void
auth_shutdown(struct role *r, uint64_t grace_ms)
{
	(void)grace_ms;
	(void)r;
	exit(0);
}

const struct role_ops auth_role_ops = {
        .name = "auth",
        .start = auth_start,
        .peer = auth_peer,
        .reload = auth_reload,
        .shutdown = auth_shutdown,
};
