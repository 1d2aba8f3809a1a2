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

#include "auth/aliases.h"
#include "auth/passdb.h"
#include "auth/resolve.h"
#include "core/msg.h"
#include "core/str.h"
#include "core/xalloc.h"
#include "log/log.h"

#define AUTH_MAX_CLIENTS 256

struct auth_state {
	struct passdb *db;
	struct stat st; /* of the users file when db was loaded */
	bool load_failed;
	struct aliases *aliases;
	struct stat aliases_st;
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
auth_refresh_users(const struct config *cfg, bool force)
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

/* The same for the aliases file, which is optional. */
static void
auth_refresh_aliases(const struct config *cfg, bool force)
{
	struct stat st;
	struct aliases *al;
	char *err = NULL;

	if (cfg->aliases_file == NULL) {
		aliases_free(&auth.aliases);
		return;
	}
	if (stat(cfg->aliases_file, &st) < 0) {
		log_err_errno("aliases file %s", cfg->aliases_file);
		return;
	}
	if (!force && auth.aliases != NULL &&
	    !auth_file_changed(&st, &auth.aliases_st))
		return;
	auth.aliases_st = st;
	al = aliases_load(cfg->aliases_file, &err);
	if (al == NULL) {
		log_err("event=aliases-load result=error keeping the previous "
		        "aliases: %s",
		        err);
		free(err);
		return;
	}
	aliases_free(&auth.aliases);
	auth.aliases = al;
	log_info("event=aliases-load file=%s aliases=%zu", cfg->aliases_file,
	         aliases_count(al));
}

static void
auth_refresh(const struct config *cfg, bool force)
{
	auth_refresh_users(cfg, force);
	auth_refresh_aliases(cfg, force);
}

static enum resolve_account
auth_account(void *arg, const char *address, uint64_t *quota_r)
{
	const struct passdb_user *u;

	(void)arg;
	if (auth.db == NULL)
		return RESOLVE_ACCOUNT_TEMPFAIL;
	u = passdb_lookup(auth.db, address);
	if (u == NULL)
		return RESOLVE_ACCOUNT_NONE;
	*quota_r = u->quota;
	return RESOLVE_ACCOUNT_FOUND;
}

/* RFC 5321 4.5.1: postmaster@ every local domain must reach someone.
 * Without an alias or account of that name, the domain's first account
 * (in users-file order) receives it. */
static enum resolve_result
auth_postmaster(const char *address, struct resolve_targets *out)
{
	const char *domain = strchr(address, '@');

	for (size_t i = 0; auth.db != NULL && i < passdb_count(auth.db); i++) {
		const struct passdb_user *u = passdb_get(auth.db, i);
		const char *at = strchr(u->address, '@');
		struct resolve_target *t;

		if (domain == NULL || at == NULL || strcmp(at, domain) != 0)
			continue;
		out->items = xrealloc(out->items, sizeof(*out->items));
		out->cap = 1;
		out->count = 1;
		t = &out->items[0];
		memset(t, 0, sizeof(*t));
		t->kind = RESOLVE_LOCAL;
		str_copy(t->address, sizeof(t->address), address);
		str_copy(t->account, sizeof(t->account), u->address);
		t->quota = u->quota;
		return RESOLVE_OK;
	}
	return RESOLVE_UNKNOWN;
}

static void
auth_lookup(struct role *r, struct ipc *ipc, const struct ipc_msg *msg)
{
	struct ipc_in in;
	struct ipc_out o;
	char *address;
	struct resolve_ctx ctx;
	struct resolve_targets targets;
	enum resolve_result res;
	const char *err = "";

	ipc_in_init(&in, msg);
	address = ipc_get_str(&in);
	ipc_in_end(&in);
	auth_refresh(r->cfg, false);
	memset(&ctx, 0, sizeof(ctx));
	memset(&targets, 0, sizeof(targets));
	ctx.aliases = auth.aliases;
	ctx.domains = (const char *const *)r->cfg->domains;
	ctx.ndomains = r->cfg->ndomains;
	ctx.delimiter = config_recipient_delimiter(r->cfg);
	ctx.account_lookup = auth_account;
	if (auth.db == NULL)
		res = RESOLVE_TEMPFAIL;
	else
		res = resolve_address(&ctx, address, &targets, &err);
	if (res == RESOLVE_POSTMASTER)
		res = auth_postmaster(address, &targets);
	if (res != RESOLVE_OK && res != RESOLVE_UNKNOWN)
		log_info("event=resolve address=<%s> result=%s %s", address,
		         resolve_result_name(res), err != NULL ? err : "");
	ipc_out_init(&o);
	ipc_put_u8(&o, (uint8_t)res);
	ipc_put_u32(&o, res == RESOLVE_OK ? (uint32_t)targets.count : 0);
	for (size_t i = 0; res == RESOLVE_OK && i < targets.count; i++) {
		const struct resolve_target *t = &targets.items[i];

		ipc_put_u8(&o, t->kind == RESOLVE_LOCAL ? QUEUE_RCPT_LOCAL
		                                        : QUEUE_RCPT_REMOTE);
		ipc_put_str(&o, t->address);
		ipc_put_str(&o, t->account);
		ipc_put_u64(&o, t->quota);
		ipc_put_str(&o, t->via_alias ? t->alias_address : "");
	}
	ipc_send_out(ipc, MSG_AUTH_LOOKUP_R, msg->id, -1, &o);
	ipc_out_deinit(&o);
	resolve_targets_deinit(&targets);
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
