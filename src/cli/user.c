/*
 * user — `postern user add|passwd|del|list`: manage the accounts in the
 * users file named by the configuration (format in auth/passdb.h).
 *
 * Runs in the administration tool as the invoking user, who needs write
 * access to the users file's directory. Changes go through passdb_edit,
 * which locks, replaces the file atomically and keeps its owner and mode,
 * so the running server never sees a half-written file and picks up the
 * change when it next loads the file.
 *
 * Passwords are never taken from the command line (other users can read
 * it in /proc): they are read from the terminal without echo, twice, or
 * as one line from standard input with --password-stdin. Every buffer
 * that held one is wiped with explicit_bzero.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "auth/passdb.h"
#include "auth/password.h"
#include "cli/cli.h"
#include "config/config.h"
#include "core/str.h"
#include "core/xalloc.h"

#define USER_EXIT_OK    0
#define USER_EXIT_ERROR 1
#define USER_EXIT_USAGE 2

/* Room for a password, its newline and a NUL; longer input is refused. */
#define USER_PASSWORD_BUF (PASSWORD_MAX_LEN + 2)

/* The parsed command line after `user`. */
struct user_args {
	const char *command; /* add, passwd, del, list */
	const char *address;
	const char *quota; /* --quota SIZE, or NULL */
	bool password_stdin;
};

static int user_fail(const char *fmt, ...)
        __attribute__((format(printf, 1, 2)));

/* Prints a one-line error; returns -1. */
static int
user_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("postern: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

static int
user_usage(void)
{
	fputs("usage: postern [--config FILE] user add ADDRESS [--quota SIZE] "
	      "[--password-stdin]\n"
	      "       postern [--config FILE] user passwd ADDRESS "
	      "[--password-stdin]\n"
	      "       postern [--config FILE] user del ADDRESS\n"
	      "       postern [--config FILE] user list\n"
	      "SIZE is bytes with an optional suffix K, M or G; 0 is "
	      "unlimited.\n",
	      stderr);
	return USER_EXIT_USAGE;
}

/* Parses argv (argv[0] is "user"); returns 0 or -1 for a usage error. */
static int
user_parse_args(int argc, char **argv, struct user_args *args)
{
	bool is_add;
	bool takes_address;

	if (argc < 2)
		return -1;
	args->command = argv[1];
	is_add = strcmp(args->command, "add") == 0;
	takes_address = is_add || strcmp(args->command, "passwd") == 0 ||
	                strcmp(args->command, "del") == 0;
	if (!takes_address && strcmp(args->command, "list") != 0)
		return -1;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--quota") == 0 && is_add && i + 1 < argc &&
		    args->quota == NULL) {
			args->quota = argv[++i];
		} else if (strcmp(a, "--password-stdin") == 0 &&
		           (is_add || strcmp(args->command, "passwd") == 0)) {
			args->password_stdin = true;
		} else if (a[0] != '-' && takes_address &&
		           args->address == NULL) {
			args->address = a;
		} else {
			return -1;
		}
	}
	return takes_address && args->address == NULL ? -1 : 0;
}

/* --- reading passwords ------------------------------------------------ */

/* The terminal whose settings a signal handler must put back. */
static int user_tty_fd = -1;
static struct termios user_tty_saved;

static const int user_tty_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define USER_TTY_NSIGNALS (sizeof(user_tty_signals) / sizeof(int))

/* Restores echo before the signal's default action ends the process. */
static void
user_tty_on_signal(int sig)
{
	(void)tcsetattr(user_tty_fd, TCSAFLUSH, &user_tty_saved);
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * Reads one line from `fd` byte by byte (so nothing past the line is
 * consumed and no stdio buffer keeps a copy) into `buf`, without its LF.
 * Returns the length, or -1 with errno set (EMSGSIZE: too long; ENODATA:
 * end of input before anything was read).
 */
static ssize_t
user_read_line(int fd, char *buf, size_t bufsz)
{
	size_t len = 0;
	bool too_long = false;
	bool any = false;

	for (;;) {
		char c;
		ssize_t n = read(fd, &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0 || c == '\n') {
			any = any || n != 0;
			break;
		}
		any = true;
		/* Keep reading a long line to its end, so that no part of
		 * the password is left for whatever reads next. */
		if (len + 1 >= bufsz)
			too_long = true;
		else
			buf[len++] = c;
		c = 0;
	}
	buf[len] = '\0';
	if (too_long) {
		explicit_bzero(buf, bufsz);
		errno = EMSGSIZE;
		return -1;
	}
	if (!any) {
		errno = ENODATA;
		return -1;
	}
	return (ssize_t)len;
}

/* Shows `prompt` on the terminal `fd` and reads a line with echo off. */
static ssize_t
user_tty_ask(int fd, const char *prompt, char *buf, size_t bufsz)
{
	struct sigaction sa = {.sa_handler = user_tty_on_signal};
	struct sigaction old[USER_TTY_NSIGNALS];
	struct termios noecho;
	ssize_t len;
	int saved;

	if (tcgetattr(fd, &user_tty_saved) < 0)
		return -1;
	noecho = user_tty_saved;
	/* ECHONL still echoes the final newline, so the cursor moves on. */
	noecho.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
	noecho.c_lflag |= ECHONL;
	user_tty_fd = fd;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < USER_TTY_NSIGNALS; i++)
		sigaction(user_tty_signals[i], &sa, &old[i]);
	/* Echo goes off before the prompt shows, so nothing typed after
	 * the prompt is echoed or flushed; type-ahead from before it was
	 * echoed, and TCSAFLUSH drops it. */
	if (tcsetattr(fd, TCSAFLUSH, &noecho) < 0 ||
	    write(fd, prompt, strlen(prompt)) < 0) {
		len = -1;
	} else {
		len = user_read_line(fd, buf, bufsz);
	}
	saved = errno;
	(void)tcsetattr(fd, TCSADRAIN, &user_tty_saved);
	for (size_t i = 0; i < USER_TTY_NSIGNALS; i++)
		sigaction(user_tty_signals[i], &old[i], NULL);
	user_tty_fd = -1;
	errno = saved;
	return len;
}

/* Reports why reading a password failed; returns -1. */
static int
user_password_error(const char *source)
{
	if (errno == EMSGSIZE)
		user_fail("password longer than %d bytes", PASSWORD_MAX_LEN);
	else if (errno == ENODATA)
		user_fail("no password on %s", source);
	else
		user_fail("reading the password from %s: %s", source,
		          strerror(errno));
	return -1;
}

/* Reads the new password for `address` from the terminal, twice. */
static int
user_password_tty(const char *address, char *buf, size_t bufsz)
{
	char again[USER_PASSWORD_BUF];
	char *prompt;
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	int rc = -1;

	if (fd < 0)
		return user_fail("no terminal to read the password from (%s); "
		                 "use --password-stdin",
		                 strerror(errno));
	prompt = xasprintf("New password for %s: ", address);
	if (user_tty_ask(fd, prompt, buf, bufsz) < 0 ||
	    user_tty_ask(fd, "Retype the new password: ", again,
	                 sizeof(again)) < 0) {
		user_password_error("the terminal");
	} else if (strcmp(buf, again) != 0) {
		user_fail("the passwords do not match");
	} else {
		rc = 0;
	}
	explicit_bzero(again, sizeof(again));
	free(prompt);
	close(fd);
	return rc;
}

/* Reads one line from standard input as the password; a CR before the
 * LF is dropped too, so a file written on another system works. */
static int
user_password_stdin(char *buf, size_t bufsz)
{
	ssize_t len = user_read_line(STDIN_FILENO, buf, bufsz);

	if (len < 0)
		return user_password_error("standard input");
	if (len > 0 && buf[len - 1] == '\r')
		buf[len - 1] = '\0';
	return 0;
}

/* Asks for a password and returns its owned hash, or NULL (reported). */
static char *
user_new_hash(const char *address, bool from_stdin)
{
	char password[USER_PASSWORD_BUF] = "";
	char *hash = NULL;
	int rc;

	rc = from_stdin
	             ? user_password_stdin(password, sizeof(password))
	             : user_password_tty(address, password, sizeof(password));
	if (rc == 0 && password[0] == '\0') {
		user_fail("empty password refused");
	} else if (rc == 0) {
		hash = password_hash(password);
		if (hash == NULL)
			user_fail("hashing the password: %s", strerror(errno));
	}
	explicit_bzero(password, sizeof(password));
	return hash;
}

static void
user_free_hash(char **hashp)
{
	if (*hashp != NULL) {
		explicit_bzero(*hashp, strlen(*hashp));
		XFREE(*hashp);
	}
}

/* --- subcommands ------------------------------------------------------ */

/* Copies and checks the address argument into `out` (lower case). */
static int
user_address(const char *arg, char *out, size_t outsz)
{
	if (!str_copy(out, outsz, arg) || !passdb_address_valid(out))
		return user_fail("invalid address '%s'", arg);
	return 0;
}

/*
 * Loads the users file to check, before asking for a password, whether
 * `address` exists as the command needs. A missing file holds nobody.
 */
static int
user_check_exists(const char *users_file, const char *address, bool want)
{
	struct passdb *db;
	struct stat st;
	char *err = NULL;
	bool found;

	if (stat(users_file, &st) < 0 && errno == ENOENT) {
		found = false;
	} else {
		db = passdb_load(users_file, &err);
		if (db == NULL) {
			user_fail("%s", err);
			free(err);
			return -1;
		}
		found = passdb_lookup(db, address) != NULL;
		passdb_free(&db);
	}
	if (found && !want)
		return user_fail("%s already exists", address);
	if (!found && want)
		return user_fail("no account %s in %s", address, users_file);
	return 0;
}

static int
user_edit(const struct config *cfg, enum passdb_op op, const char *address,
          const char *hash, uint64_t quota, bool set_quota)
{
	const char *err;

	if (passdb_edit(cfg->users_file, op, address, hash, quota, set_quota,
	                &err) < 0) {
		user_fail("%s", err);
		return USER_EXIT_ERROR;
	}
	return USER_EXIT_OK;
}

static int
user_add(const struct config *cfg, const struct user_args *args)
{
	char address[PASSDB_ADDRESS_MAX + 1];
	uint64_t quota = 0;
	char *hash;
	int rc;

	if (user_address(args->address, address, sizeof(address)) < 0)
		return USER_EXIT_ERROR;
	if (!config_is_local_domain(cfg, strchr(address, '@') + 1)) {
		user_fail("%s is not a local domain (domains in %s)",
		          strchr(address, '@') + 1, cfg->path);
		return USER_EXIT_ERROR;
	}
	if (args->quota != NULL &&
	    passdb_quota_parse(args->quota, strlen(args->quota), &quota) < 0) {
		user_fail("invalid quota '%s' (bytes, with an optional suffix "
		          "K, M or G)",
		          args->quota);
		return USER_EXIT_ERROR;
	}
	if (user_check_exists(cfg->users_file, address, false) < 0)
		return USER_EXIT_ERROR;
	hash = user_new_hash(address, args->password_stdin);
	if (hash == NULL)
		return USER_EXIT_ERROR;
	rc = user_edit(cfg, PASSDB_OP_ADD, address, hash, quota,
	               args->quota != NULL);
	user_free_hash(&hash);
	return rc;
}

static int
user_passwd(const struct config *cfg, const struct user_args *args)
{
	char address[PASSDB_ADDRESS_MAX + 1];
	char *hash;
	int rc;

	if (user_address(args->address, address, sizeof(address)) < 0)
		return USER_EXIT_ERROR;
	if (user_check_exists(cfg->users_file, address, true) < 0)
		return USER_EXIT_ERROR;
	hash = user_new_hash(address, args->password_stdin);
	if (hash == NULL)
		return USER_EXIT_ERROR;
	rc = user_edit(cfg, PASSDB_OP_PASSWD, address, hash, 0, false);
	user_free_hash(&hash);
	return rc;
}

static int
user_del(const struct config *cfg, const struct user_args *args)
{
	char address[PASSDB_ADDRESS_MAX + 1];

	if (user_address(args->address, address, sizeof(address)) < 0)
		return USER_EXIT_ERROR;
	return user_edit(cfg, PASSDB_OP_DEL, address, NULL, 0, false);
}

/* Prints "ADDRESS<TAB>QUOTA" per account, and "<TAB>login-disabled" for
 * accounts that only receive mail. Never prints hashes. */
static int
user_list(const struct config *cfg)
{
	char *err = NULL;
	struct passdb *db = passdb_load(cfg->users_file, &err);

	if (db == NULL) {
		user_fail("%s", err);
		free(err);
		return USER_EXIT_ERROR;
	}
	for (size_t i = 0; i < passdb_count(db); i++) {
		const struct passdb_user *u = passdb_get(db, i);
		char quota[PASSDB_QUOTA_STRLEN] = "unlimited";

		if (u->quota != 0)
			passdb_quota_format(u->quota, quota, sizeof(quota));
		printf("%s\t%s%s\n", u->address, quota,
		       password_is_supported(u->hash) ? ""
		                                      : "\tlogin-disabled");
	}
	passdb_free(&db);
	if (fflush(stdout) != 0) {
		user_fail("writing the list: %s", strerror(errno));
		return USER_EXIT_ERROR;
	}
	return USER_EXIT_OK;
}

int
cli_user(const char *config_path, int argc, char **argv)
{
	struct user_args args = {0};
	struct config *cfg;
	char *err = NULL;
	int rc;

	if (user_parse_args(argc, argv, &args) < 0)
		return user_usage();
	cfg = config_load(config_path, &err);
	if (cfg == NULL) {
		user_fail("%s", err ? err : config_path);
		free(err);
		return USER_EXIT_ERROR;
	}
	if (strcmp(args.command, "add") == 0)
		rc = user_add(cfg, &args);
	else if (strcmp(args.command, "passwd") == 0)
		rc = user_passwd(cfg, &args);
	else if (strcmp(args.command, "del") == 0)
		rc = user_del(cfg, &args);
	else
		rc = user_list(cfg);
	config_free(&cfg);
	return rc;
}
