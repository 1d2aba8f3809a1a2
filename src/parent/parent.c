/*
 * parent — the supervising process of posternd (runs as whoever started
 * it, root in production). It reads and validates the configuration, makes
 * the self-signed certificate when asked to, prepares the data directory,
 * binds every listener, and starts the roles, each re-executed from this
 * binary with only the descriptors it needs. It restarts a role that dies
 * (with backoff), reloads on SIGHUP (a bad new configuration is refused and
 * the old one keeps serving) and stops gracefully on SIGTERM/SIGINT.
 *
 * Peer channels: each smtp worker has one socketpair to queue and one to
 * auth. When a role is (re)started, a fresh socketpair is made for each of
 * its links to a running peer and one end is sent to each side, so a
 * restarted role is rewired without restarting its peers.
 */
#include "parent/parent.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auth/aliases.h"
#include "core/ipc.h"
#include "core/loop.h"
#include "core/msg.h"
#include "core/str.h"
#include "core/role.h"
#include "core/xalloc.h"
#include "log/log.h"
#include "smtp/limits.h"
#include "smtp/server.h"
#include "tls/tls.h"

#define PARENT_MAX_PROCS      (2 + 64)
#define PARENT_BACKOFF_MIN_MS 100
#define PARENT_BACKOFF_MAX_MS 10000
/* A role that ran this long before dying is restarted without delay. */
#define PARENT_HEALTHY_MS 30000
/* Replaced smtp workers still finishing their sessions. */
#define PARENT_MAX_RETIRED 64

struct proc {
	const char *role; /* "smtp", "queue", "auth" */
	unsigned index;
	pid_t pid; /* 0: not running */
	struct ipc *ctl;
	uint64_t started_at;
	uint64_t backoff_ms;
	struct loop_timer *restart;
	struct parent *parent;
};

struct parent_listener {
	struct config_listen cfg;
	int fd;
};

struct parent {
	struct loop *loop;
	struct config *cfg;
	char *config_path;
	struct parent_listener *listeners;
	size_t nlisteners;
	struct proc procs[PARENT_MAX_PROCS];
	size_t nprocs;
	bool stopping;
	struct loop_timer *kill_timer;
	pid_t self;
	int limits_fd; /* the smtp workers' shared session table */
	unsigned nsmtp;
	/* smtp workers replaced at a reload, finishing their sessions; their
	 * control channels stay open (closing one makes a role exit). */
	struct {
		pid_t pid;
		struct ipc *ctl;
	} retired[PARENT_MAX_RETIRED];
	size_t nretired;
};

static void proc_spawn(struct proc *p);

/* --- listeners ---------------------------------------------------------- */

static int
parent_bind(const struct config_listen *l, const char **error_r)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd, on = 1;

	memset(&ss, 0, sizeof(ss));
	if (strchr(l->addr, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(l->port);
		if (inet_pton(AF_INET6, l->addr, &s6->sin6_addr) != 1) {
			*error_r = "bad IPv6 address";
			return -1;
		}
		sslen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(l->port);
		if (inet_pton(AF_INET, l->addr, &s4->sin_addr) != 1) {
			*error_r = "bad IPv4 address";
			return -1;
		}
		sslen = sizeof(*s4);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	            0);
	if (fd < 0) {
		*error_r = strerror(errno);
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (ss.ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on,
		                 sizeof(on));
	if (bind(fd, (struct sockaddr *)&ss, sslen) < 0 ||
	    listen(fd, 512) < 0) {
		*error_r = strerror(errno);
		close(fd);
		return -1;
	}
	return fd;
}

static bool
parent_role_serves(const char *role, enum config_proto proto)
{
	switch (proto) {
	case CONFIG_PROTO_SMTP:
	case CONFIG_PROTO_SUBMISSION:
	case CONFIG_PROTO_SUBMISSIONS:
		return strcmp(role, "smtp") == 0;
	default:
		/* IMAP and POP3 are served by the mailbox role. */
		return false;
	}
}

static int
parent_bind_all(struct parent *pa)
{
	pa->listeners = xcalloc(pa->cfg->nlistens + 1, sizeof(*pa->listeners));
	for (size_t i = 0; i < pa->cfg->nlistens; i++) {
		const struct config_listen *l = &pa->cfg->listens[i];
		const char *err = NULL;
		int fd;

		if (!parent_role_serves("smtp", l->proto)) {
			log_info("listener proto=%s addr=%s:%u not served yet",
			         config_proto_name(l->proto), l->addr, l->port);
			continue;
		}
		fd = parent_bind(l, &err);
		if (fd < 0) {
			log_err("cannot listen on %s:%u (%s): %s", l->addr,
			        l->port, config_proto_name(l->proto), err);
			return -1;
		}
		pa->listeners[pa->nlisteners].cfg = *l;
		pa->listeners[pa->nlisteners++].fd = fd;
		log_info("listening proto=%s addr=%s port=%u",
		         config_proto_name(l->proto), l->addr, l->port);
	}
	return 0;
}

/* --- data directory ------------------------------------------------------ */

static int
parent_mkdir(const char *path, uid_t uid, gid_t gid, bool chown_it)
{
	if (mkdir(path, 0750) < 0 && errno != EEXIST) {
		log_err_errno("mkdir %s", path);
		return -1;
	}
	if (chown_it && chown(path, uid, gid) < 0) {
		log_err_errno("chown %s", path);
		return -1;
	}
	return 0;
}

/* Creates data_dir (root's when root) and spool/ and mail/ inside it,
 * owned by run_user, which the queue role writes to from its chroot. */
static int
parent_prepare_dirs(const struct config *cfg)
{
	bool root = geteuid() == 0;
	uid_t uid = 0;
	gid_t gid = 0;
	char *spool, *mail;
	int rc = 0;

	if (root) {
		struct passwd *pw = getpwnam(cfg->run_user);

		if (pw == NULL) {
			log_err("run_user '%s' does not exist (create it, "
			        "or set run_user in %s)",
			        cfg->run_user, cfg->path);
			return -1;
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	if (parent_mkdir(cfg->data_dir, 0, 0, false) < 0)
		return -1;
	if (root) {
		struct stat st;

		/* The queue role is chrooted here as run_user: it must be
		 * able to pass through (not list) the directory. */
		if (stat(cfg->data_dir, &st) < 0 ||
		    ((st.st_mode & 0011) != 0011 &&
		     chmod(cfg->data_dir, (st.st_mode & 07777) | 0011) < 0)) {
			log_err_errno("data_dir %s", cfg->data_dir);
			return -1;
		}
	}
	spool = xasprintf("%s/spool", cfg->data_dir);
	mail = xasprintf("%s/mail", cfg->data_dir);
	if (parent_mkdir(spool, uid, gid, root) < 0 ||
	    parent_mkdir(mail, uid, gid, root) < 0)
		rc = -1;
	free(spool);
	free(mail);
	return rc;
}

/* An aliases file that is named must load: a typo would otherwise make
 * every alias unknown. The auth role reads it again for itself. */
static int
parent_check_aliases(const struct config *cfg)
{
	struct aliases *al;
	char *err = NULL;

	if (cfg->aliases_file == NULL)
		return 0;
	al = aliases_load(cfg->aliases_file, &err);
	if (al == NULL) {
		log_err("aliases file refused:\n%s", err);
		free(err);
		return -1;
	}
	aliases_free(&al);
	return 0;
}

static int
parent_prepare_tls(const struct config *cfg)
{
	const char *err = NULL;

	if (!cfg->tls_self_signed || access(cfg->tls_cert, F_OK) == 0 ||
	    access(cfg->tls_key, F_OK) == 0)
		return 0;
	if (tls_make_self_signed(cfg->tls_cert, cfg->tls_key, cfg->hostname,
	                         &err) < 0) {
		log_err("cannot make a self-signed certificate: %s", err);
		return -1;
	}
	log_info("made a self-signed certificate cert=%s key=%s", cfg->tls_cert,
	         cfg->tls_key);
	return 0;
}

/* --- processes ------------------------------------------------------------ */

static bool
proc_linked(const struct proc *a, const struct proc *b)
{
	bool a_smtp = strcmp(a->role, "smtp") == 0;
	bool b_smtp = strcmp(b->role, "smtp") == 0;

	/* smtp <-> queue and smtp <-> auth; nothing else yet. */
	return a_smtp != b_smtp;
}

static void
proc_send_peer(struct proc *to, const char *peer_name, int fd)
{
	struct ipc_out o;

	ipc_out_init(&o);
	ipc_put_str(&o, peer_name);
	ipc_send_out(to->ctl, MSG_PEER, 0, fd, &o);
	ipc_out_deinit(&o);
}

static void
proc_wire_peers(struct proc *p)
{
	struct parent *pa = p->parent;

	for (size_t i = 0; i < pa->nprocs; i++) {
		struct proc *q = &pa->procs[i];
		int sv[2];

		if (q == p || q->pid == 0 || q->ctl == NULL ||
		    !proc_linked(p, q))
			continue;
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			fatal_errno("socketpair");
		proc_send_peer(p, q->role, sv[0]);
		proc_send_peer(q, p->role, sv[1]);
		close(sv[0]);
		close(sv[1]);
	}
}

static void
proc_send_config(struct proc *p, uint32_t type)
{
	char *text = config_dump(p->parent->cfg);
	struct ipc_out o;

	ipc_out_init(&o);
	ipc_put_str(&o, text);
	ipc_send_out(p->ctl, type, 0, -1, &o);
	ipc_out_deinit(&o);
	free(text);
}

static void
proc_ctl(struct ipc *ipc, const struct ipc_msg *msg, void *arg)
{
	struct proc *p = arg;

	(void)ipc;
	if (msg == NULL) {
		/* The child closed its end; its exit arrives by SIGCHLD. */
		ipc_free(&p->ctl);
		return;
	}
	log_warn("role=%s unexpected message type=%u", p->role, msg->type);
}

static void
proc_spawn(struct proc *p)
{
	struct parent *pa = p->parent;
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		fatal_errno("socketpair");
	pa->self = getpid();
	pid = fork();
	if (pid < 0) {
		log_err_errno("fork role=%s", p->role);
		close(sv[0]);
		close(sv[1]);
		return;
	}
	if (pid == 0) {
		sigset_t none;
		char arg0[] = "posternd", arg1[] = "--role", role[16];
		char *argv[] = {arg0, arg1, role, NULL};

		str_copy(role, sizeof(role), p->role);

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* A role never outlives its parent: a killed daemon is a
		 * stopped daemon, and a restart can bind its ports again. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 ||
		    getppid() != pa->self)
			_exit(127);
		if (dup2(sv[1], ROLE_CTL_FD) < 0)
			_exit(127);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(sv[1]);
	p->pid = pid;
	p->started_at = loop_now(pa->loop);
	p->ctl = ipc_new(pa->loop, sv[0], proc_ctl, p);
	log_info("started role=%s index=%u pid=%ld", p->role, p->index,
	         (long)pid);
	proc_send_config(p, MSG_CONFIG);
	for (size_t i = 0; i < pa->nlisteners; i++) {
		const struct parent_listener *l = &pa->listeners[i];
		struct ipc_out o;
		char name[80];

		if (!parent_role_serves(p->role, l->cfg.proto))
			continue;
		snprintf(name, sizeof(name), "%s:%u", l->cfg.addr, l->cfg.port);
		ipc_out_init(&o);
		ipc_put_u32(&o, (uint32_t)l->cfg.proto);
		ipc_put_str(&o, name);
		ipc_send_out(p->ctl, MSG_LISTENER, 0, l->fd, &o);
		ipc_out_deinit(&o);
	}
	if (strcmp(p->role, "smtp") == 0 && pa->limits_fd >= 0) {
		struct ipc_out o;

		ipc_out_init(&o);
		ipc_put_u32(&o, p->index);
		ipc_put_u32(&o, pa->nsmtp);
		ipc_send_out(p->ctl, MSG_SMTP_LIMITS, 0, pa->limits_fd, &o);
		ipc_out_deinit(&o);
	}
	ipc_send(p->ctl, MSG_START, 0, -1, NULL, 0);
	proc_wire_peers(p);
}

static void
proc_restart_timer(void *arg)
{
	struct proc *p = arg;

	p->restart = NULL;
	if (!p->parent->stopping)
		proc_spawn(p);
}

static bool
parent_all_stopped(const struct parent *pa)
{
	for (size_t i = 0; i < pa->nprocs; i++) {
		if (pa->procs[i].pid != 0)
			return false;
	}
	return pa->nretired == 0;
}

/* A retired worker exited; true if `pid` was one. */
static bool
parent_retired_exited(struct parent *pa, pid_t pid)
{
	for (size_t i = 0; i < pa->nretired; i++) {
		if (pa->retired[i].pid == pid) {
			ipc_free(&pa->retired[i].ctl);
			pa->retired[i] = pa->retired[--pa->nretired];
			log_info("role=smtp pid=%ld event=retired-exit",
			         (long)pid);
			return true;
		}
	}
	return false;
}

static void parent_stop_backends(struct parent *pa);

static void
proc_exited(struct parent *pa, pid_t pid, int status)
{
	struct proc *p = NULL;
	uint64_t ran;

	for (size_t i = 0; i < pa->nprocs; i++) {
		if (pa->procs[i].pid == pid)
			p = &pa->procs[i];
	}
	if (p == NULL) {
		if (parent_retired_exited(pa, pid) && pa->stopping) {
			parent_stop_backends(pa);
			if (parent_all_stopped(pa))
				loop_stop(pa->loop);
		}
		return;
	}
	p->pid = 0;
	ipc_free(&p->ctl);
	if (WIFSIGNALED(status))
		log_info("role=%s pid=%ld event=exit signal=%d", p->role,
		         (long)pid, WTERMSIG(status));
	else
		log_info("role=%s pid=%ld event=exit status=%d", p->role,
		         (long)pid, WEXITSTATUS(status));
	if (pa->stopping) {
		parent_stop_backends(pa);
		if (parent_all_stopped(pa))
			loop_stop(pa->loop);
		return;
	}
	ran = loop_now(pa->loop) - p->started_at;
	if (ran >= PARENT_HEALTHY_MS)
		p->backoff_ms = 0;
	else if (p->backoff_ms == 0)
		p->backoff_ms = PARENT_BACKOFF_MIN_MS;
	else if (p->backoff_ms < PARENT_BACKOFF_MAX_MS)
		p->backoff_ms *= 2;
	if (p->backoff_ms > PARENT_BACKOFF_MAX_MS)
		p->backoff_ms = PARENT_BACKOFF_MAX_MS;
	log_info("role=%s event=restart delay_ms=%llu", p->role,
	         (unsigned long long)p->backoff_ms);
	p->restart =
	        loop_timer_add(pa->loop, p->backoff_ms, proc_restart_timer, p);
}

static void
parent_sigchld(void *arg, int signo)
{
	struct parent *pa = arg;
	pid_t pid;
	int status;

	(void)signo;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		proc_exited(pa, pid, status);
}

/* --- shutdown and reload ----------------------------------------------------
 */

static void
proc_shutdown(struct proc *p, uint64_t grace_ms)
{
	struct ipc_out o;

	loop_timer_remove(&p->restart);
	if (p->pid == 0 || p->ctl == NULL)
		return;
	ipc_out_init(&o);
	ipc_put_u64(&o, grace_ms);
	ipc_send_out(p->ctl, MSG_SHUTDOWN, 0, -1, &o);
	ipc_out_deinit(&o);
}

/* Queue and auth stop only after every smtp worker has gone, so commits
 * in flight are answered. */
static void
parent_stop_backends(struct parent *pa)
{
	for (size_t i = 0; i < pa->nprocs; i++) {
		if (strcmp(pa->procs[i].role, "smtp") == 0 &&
		    pa->procs[i].pid != 0)
			return;
	}
	if (pa->nretired > 0)
		return;
	for (size_t i = 0; i < pa->nprocs; i++)
		proc_shutdown(&pa->procs[i], 0);
}

static void
parent_kill_timer(void *arg)
{
	struct parent *pa = arg;

	pa->kill_timer = NULL;
	for (size_t i = 0; i < pa->nprocs; i++) {
		if (pa->procs[i].pid != 0) {
			log_warn("role=%s pid=%ld did not stop: killing",
			         pa->procs[i].role, (long)pa->procs[i].pid);
			kill(pa->procs[i].pid, SIGKILL);
		}
	}
	for (size_t i = 0; i < pa->nretired; i++)
		kill(pa->retired[i].pid, SIGKILL);
}

static void
parent_sigterm(void *arg, int signo)
{
	struct parent *pa = arg;

	if (pa->stopping)
		return;
	log_info("event=shutdown signal=%d grace_ms=%llu", signo,
	         (unsigned long long)pa->cfg->shutdown_timeout_ms);
	pa->stopping = true;
	for (size_t i = 0; i < pa->nlisteners; i++)
		close(pa->listeners[i].fd);
	pa->nlisteners = 0;
	for (size_t i = 0; i < pa->nprocs; i++) {
		if (strcmp(pa->procs[i].role, "smtp") == 0)
			proc_shutdown(&pa->procs[i],
			              pa->cfg->shutdown_timeout_ms);
	}
	parent_stop_backends(pa);
	pa->kill_timer =
	        loop_timer_add(pa->loop, pa->cfg->shutdown_timeout_ms + 5000,
	                       parent_kill_timer, pa);
	if (parent_all_stopped(pa))
		loop_stop(pa->loop);
}

static bool
parent_same_listeners(const struct config *a, const struct config *b)
{
	if (a->nlistens != b->nlistens)
		return false;
	for (size_t i = 0; i < a->nlistens; i++) {
		if (a->listens[i].proto != b->listens[i].proto ||
		    a->listens[i].port != b->listens[i].port ||
		    strcmp(a->listens[i].addr, b->listens[i].addr) != 0)
			return false;
	}
	return true;
}

/* The control channel of a retired worker: it has nothing to say. */
static void
retired_ctl(struct ipc *ipc, const struct ipc_msg *msg, void *arg)
{
	struct parent *pa = arg;

	if (msg != NULL) {
		log_warn("retired smtp worker sent message type=%u", msg->type);
		return;
	}
	/* It is exiting: stop watching the channel until it is reaped. */
	for (size_t i = 0; i < pa->nretired; i++) {
		if (pa->retired[i].ctl == ipc)
			ipc_free(&pa->retired[i].ctl);
	}
}

/*
 * Replaces a running smtp worker at a reload: the old one stops accepting
 * and finishes its sessions (up to shutdown_timeout), while a new one,
 * started at once with the new configuration, reads the TLS certificate
 * again (a worker cannot after its privilege drop: renewed certificates
 * need this) and takes new connections. The listening sockets stay in the
 * parent, so no connection is refused in between.
 */
static void
proc_replace(struct parent *pa, struct proc *p)
{
	if (pa->nretired == PARENT_MAX_RETIRED) {
		/* Too many still finishing: reload this one in place. */
		proc_send_config(p, MSG_RELOAD);
		return;
	}
	proc_shutdown(p, pa->cfg->shutdown_timeout_ms);
	pa->retired[pa->nretired].pid = p->pid;
	pa->retired[pa->nretired++].ctl = p->ctl;
	ipc_set_handler(p->ctl, retired_ctl, pa);
	p->ctl = NULL;
	p->pid = 0;
	proc_spawn(p);
}

static void
parent_sighup(void *arg, int signo)
{
	struct parent *pa = arg;
	char *err = NULL;
	struct config *cfg;

	(void)signo;
	cfg = config_load(pa->config_path, &err);
	if (cfg == NULL) {
		log_err("event=reload result=refused keeping the running "
		        "configuration: %s",
		        err);
		free(err);
		return;
	}
	if (!parent_same_listeners(pa->cfg, cfg))
		log_warn("event=reload listener changes take effect at the "
		         "next restart");
	if (parent_prepare_dirs(cfg) < 0 || parent_prepare_tls(cfg) < 0 ||
	    parent_check_aliases(cfg) < 0) {
		log_err("event=reload result=refused");
		config_free(&cfg);
		return;
	}
	/* Listeners stay as bound; everything else comes from the new file. */
	free(cfg->listens);
	cfg->listens = xcalloc(pa->cfg->nlistens + 1, sizeof(*cfg->listens));
	memcpy(cfg->listens, pa->cfg->listens,
	       pa->cfg->nlistens * sizeof(*cfg->listens));
	cfg->nlistens = pa->cfg->nlistens;
	config_free(&pa->cfg);
	pa->cfg = cfg;
	log_set_level(cfg->log_level);
	for (size_t i = 0; i < pa->nprocs; i++) {
		struct proc *p = &pa->procs[i];

		if (p->pid == 0 || p->ctl == NULL)
			continue;
		if (strcmp(p->role, "smtp") == 0)
			proc_replace(pa, p);
		else
			proc_send_config(p, MSG_RELOAD);
	}
	log_info("event=reload result=ok config=%s", pa->config_path);
}

/* --- entry -------------------------------------------------------------------
 */

static void
parent_add_proc(struct parent *pa, const char *role, unsigned index)
{
	struct proc *p = &pa->procs[pa->nprocs++];

	memset(p, 0, sizeof(*p));
	p->role = role;
	p->index = index;
	p->parent = pa;
}

static unsigned
parent_smtp_workers(const struct config *cfg)
{
	long n = cfg->smtp_workers;

	if (n == 0)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	if (n > PARENT_MAX_PROCS - 2)
		n = PARENT_MAX_PROCS - 2;
	return (unsigned)n;
}

/* Frees what parent_main holds once its loop has ended (or it gave up
 * before starting one): nothing is left for LeakSanitizer to report. */
static void
parent_free(struct parent *pa)
{
	for (size_t i = 0; i < pa->nprocs; i++) {
		loop_timer_remove(&pa->procs[i].restart);
		ipc_free(&pa->procs[i].ctl);
	}
	for (size_t i = 0; i < pa->nretired; i++)
		ipc_free(&pa->retired[i].ctl);
	for (size_t i = 0; i < pa->nlisteners; i++)
		close(pa->listeners[i].fd);
	free(pa->listeners);
	if (pa->limits_fd >= 0)
		close(pa->limits_fd);
	loop_timer_remove(&pa->kill_timer);
	loop_free(&pa->loop);
	config_free(&pa->cfg);
	free(pa->config_path);
}

int
parent_main(const char *config_path, bool foreground)
{
	struct parent pa;
	char *err = NULL;
	int rc = 1;

	memset(&pa, 0, sizeof(pa));
	pa.limits_fd = -1;
	pa.config_path = xstrdup(config_path);
	pa.cfg = config_load(config_path, &err);
	if (pa.cfg == NULL) {
		if (err != NULL && err[0] != '\0') {
			fputs(err, stderr);
			if (err[strlen(err) - 1] != '\n')
				fputc('\n', stderr);
		}
		free(err);
		goto out;
	}
	log_init("parent", foreground || !pa.cfg->log_syslog,
	         pa.cfg->log_level);
	if (parent_prepare_dirs(pa.cfg) < 0 || parent_prepare_tls(pa.cfg) < 0 ||
	    parent_check_aliases(pa.cfg) < 0)
		goto out;
	pa.loop = loop_new();
	if (parent_bind_all(&pa) < 0)
		goto out;
	if (!foreground && daemon(1, 0) < 0) {
		log_err_errno("daemon");
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	loop_signal_add(pa.loop, SIGCHLD, parent_sigchld, &pa);
	loop_signal_add(pa.loop, SIGTERM, parent_sigterm, &pa);
	loop_signal_add(pa.loop, SIGINT, parent_sigterm, &pa);
	loop_signal_add(pa.loop, SIGHUP, parent_sighup, &pa);
	log_info("event=start version=%s config=%s hostname=%s",
	         POSTERN_VERSION, pa.cfg->path, pa.cfg->hostname);
	parent_add_proc(&pa, "queue", 0);
	parent_add_proc(&pa, "auth", 0);
	pa.nsmtp = parent_smtp_workers(pa.cfg);
	pa.limits_fd = memfd_create("postern-sessions", MFD_CLOEXEC);
	if (pa.limits_fd < 0 ||
	    ftruncate(pa.limits_fd, (off_t)limits_table_size(pa.nsmtp)) < 0)
		fatal_errno("the shared session table");
	for (unsigned i = 0; i < pa.nsmtp; i++)
		parent_add_proc(&pa, "smtp", i);
	for (size_t i = 0; i < pa.nprocs; i++)
		proc_spawn(&pa.procs[i]);
	loop_run(pa.loop);
	log_info("event=stopped");
	rc = 0;
out:
	parent_free(&pa);
	return rc;
}

/* --- inetd mode
 * ----------------------------------------------------------------- */

/* Starts `p` and gives it one end of a new channel named "smtp"; returns
 * the other end. */
static int
parent_inetd_peer(struct proc *p)
{
	int sv[2];

	proc_spawn(p);
	if (p->ctl == NULL)
		fatal("cannot start the %s role", p->role);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		fatal_errno("socketpair");
	proc_send_peer(p, "smtp", sv[0]);
	close(sv[0]);
	return sv[1];
}

int
parent_inetd(const char *config_path, const char *proto)
{
	static struct parent pa;
	struct role r;
	char *err = NULL;
	int queue_fd, auth_fd;

	if (strcmp(proto, "smtp") != 0) {
		fprintf(stderr, "posternd: --inetd supports smtp only\n");
		return 2;
	}
	pa.cfg = config_load(config_path, &err);
	if (pa.cfg == NULL) {
		fprintf(stderr, "%s\n", err);
		free(err);
		return 1;
	}
	/* stdout carries the session: logs go to syslog or stderr only. */
	log_init("smtp", !pa.cfg->log_syslog, pa.cfg->log_level);
	if (parent_prepare_dirs(pa.cfg) < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	/* Children are not restarted: the session ends on any failure. */
	signal(SIGCHLD, SIG_IGN);
	pa.loop = loop_new();
	pa.config_path = xstrdup(config_path);
	pa.limits_fd = -1;
	parent_add_proc(&pa, "queue", 0);
	parent_add_proc(&pa, "auth", 0);
	queue_fd = parent_inetd_peer(&pa.procs[0]);
	auth_fd = parent_inetd_peer(&pa.procs[1]);
	memset(&r, 0, sizeof(r));
	r.ops = &smtp_role_ops;
	r.loop = pa.loop;
	r.cfg = pa.cfg;
	r.started = true;
	smtp_inetd_run(&r, queue_fd, auth_fd);
}
