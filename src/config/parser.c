/*
 * parser — reads postern.conf into a validated struct config.
 *
 * One pass over the lines: the first word names a row of the typed table
 * (params.c), the rest are its values. Errors do not stop the pass: each
 * is recorded as "FILE:LINE: message" and the next line is read, so one
 * run of `postern check` shows every mistake (up to CONFIG_ERRORS_MAX).
 * After the last line come the defaults that depend on other settings
 * (hostname, tls_cert, tls_key under data_dir), which therefore do not
 * depend on the order of lines, and the checks that span several
 * settings. A config is returned only when no error was found.
 * Run by the parent, by each role on the parent's dump, and by
 * `postern check`.
 */
#include "config/config_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fileio.h"
#include "core/xalloc.h"
#include "log/log.h"

/* What `make run` starts with, written to var/postern.conf: the first
 * configuration a new user reads, so it explains itself. */
static const char default_text[] =
        "# postern.conf - the configuration `make run` starts with.\n"
        "#\n"
        "# One setting per line: NAME VALUE. `#` starts a comment. Every\n"
        "# setting, its type and its default are described in "
        "postern.conf(5);\n"
        "# `postern check FILE` validates a file and names the line of each\n"
        "# error. Relative paths are resolved against the directory holding\n"
        "# this file.\n"
        "\n"
        "# The name this server gives itself in greetings and Received:\n"
        "# headers.\n"
        "hostname localhost\n"
        "\n"
        "# Mail for these domains is delivered to local mailboxes; mail for\n"
        "# any other domain is relayed, for the clients allowed below.\n"
        "domain example.test\n"
        "\n"
        "# Spool and mailboxes live under data_dir (here: the directory of\n"
        "# this file); the users file holds accounts and password hashes\n"
        "# (add one with `postern user add`).\n"
        "data_dir .\n"
        "users_file users\n"
        "\n"
        "# No certificate yet: make a self-signed one on first start, as\n"
        "# tls/cert.pem and tls/key.pem under data_dir.\n"
        "tls_self_signed yes\n"
        "\n"
        "# Log to the terminal rather than to syslog.\n"
        "log stderr\n"
        "log_level info\n"
        "\n"
        "# Passwords may travel without TLS only from this machine.\n"
        "plaintext_auth loopback\n"
        "\n"
        "# Clients that may send to other domains without logging in.\n"
        "relay_network 127.0.0.0/8 ::1/128\n"
        "\n"
        "# Unprivileged ports on the loopback address: no root needed.\n"
        "# PROTO is smtp, submission, submissions, imap, imaps, pop3 or\n"
        "# pop3s; an IPv6 address is written in brackets: [::1]:2525.\n"
        "listen smtp        127.0.0.1:2525\n"
        "listen submission  127.0.0.1:2587\n"
        "listen submissions 127.0.0.1:2465\n"
        "listen imap        127.0.0.1:2143\n"
        "listen imaps       127.0.0.1:2993\n"
        "listen pop3        127.0.0.1:2110\n"
        "listen pop3s       127.0.0.1:2995\n";

const char *
config_default_text(void)
{
	return default_text;
}

void
config_text_add(struct config_text *t, const char *s, size_t len)
{
	size_t total;

	if (!size_add(t->len, len, &total) || !size_add(total, 1, &total))
		panic("config: text too long");
	t->s = xrealloc(t->s, total);
	memcpy(t->s + t->len, s, len);
	t->len += len;
	t->s[t->len] = '\0';
}

void
config_text_addf(struct config_text *t, const char *fmt, ...)
{
	va_list ap;
	char *add;

	va_start(ap, fmt);
	add = xvasprintf(fmt, ap);
	va_end(ap);
	config_text_add(t, add, strlen(add));
	free(add);
}

void
config_error(struct config_parser *p, unsigned line, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (p->gave_up)
		return;
	if (p->nerrors == CONFIG_ERRORS_MAX) {
		config_text_addf(&p->errors,
		                 "%s: too many errors (%d), giving up\n",
		                 p->name, CONFIG_ERRORS_MAX);
		p->gave_up = true;
		return;
	}
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (line != 0)
		config_text_addf(&p->errors, "%s:%u: %s\n", p->name, line, msg);
	else
		config_text_addf(&p->errors, "%s: %s\n", p->name, msg);
	free(msg);
	p->nerrors++;
}

static bool
param_is_repeatable(const struct config_param *param)
{
	return param->type == CONFIG_TYPE_DOMAINS ||
	       param->type == CONFIG_TYPE_NETWORKS ||
	       param->type == CONFIG_TYPE_LISTEN;
}

/* Handles one line of words from the lexer. */
static void
parser_line(struct config_parser *p)
{
	const struct config_lexer *lx = &p->lexer;
	const struct config_param *param = config_param_find(lx->words[0].s);
	char esc[80];
	size_t idx;

	if (param == NULL) {
		config_error(p, p->line, "unknown option '%s'",
		             log_escape(esc, sizeof(esc), lx->words[0].s,
		                        lx->words[0].len));
		return;
	}
	idx = config_param_index(param);
	if (p->set_line[idx] != 0 && !param_is_repeatable(param)) {
		config_error(p, p->line,
		             "duplicate option '%s' (first set on line %u)",
		             param->name, p->set_line[idx]);
		return;
	}
	/* Marked as set even when the value turns out bad, so that no
	 * computed default or cross-setting check adds a second error for
	 * the same line. */
	if (p->set_line[idx] == 0)
		p->set_line[idx] = p->line;
	if (lx->nwords == 1) {
		config_error(p, p->line, "missing value for '%s'", param->name);
		return;
	}
	(void)config_param_set(p, param, lx->words + 1, lx->nwords - 1);
}

static unsigned
parser_set_line(const struct config_parser *p, const char *name)
{
	const struct config_param *param = config_param_find(name);

	if (param == NULL)
		panic("config: no setting named %s", name);
	return p->set_line[config_param_index(param)];
}

static void
parser_default_hostname(struct config_parser *p)
{
	char name[256];
	char esc[80];

	if (gethostname(name, sizeof(name)) < 0) {
		config_error(p, 0,
		             "cannot get the system host name (%s): set "
		             "'hostname'",
		             strerror(errno));
		return;
	}
	name[sizeof(name) - 1] = '\0';
	if (!config_name_is_valid(name)) {
		config_error(p, 0,
		             "the system host name '%s' is not a valid host "
		             "name: set 'hostname'",
		             log_escape(esc, sizeof(esc), name, strlen(name)));
		return;
	}
	p->cfg->hostname = xstrdup(name);
}

/* tls_cert and tls_key: both given, or both under data_dir. */
static void
parser_finish_tls(struct config_parser *p)
{
	struct config *cfg = p->cfg;
	unsigned cert_line = parser_set_line(p, "tls_cert");
	unsigned key_line = parser_set_line(p, "tls_key");

	if (cert_line != 0 && key_line == 0)
		config_error(p, cert_line,
		             "tls_cert is set but tls_key is not: set both "
		             "or neither");
	if (key_line != 0 && cert_line == 0)
		config_error(p, key_line,
		             "tls_key is set but tls_cert is not: set both "
		             "or neither");
	if (cert_line == 0 && key_line == 0) {
		cfg->tls_cert =
		        config_path_resolve(cfg->data_dir, "tls/cert.pem");
		cfg->tls_key =
		        config_path_resolve(cfg->data_dir, "tls/key.pem");
		if (cfg->tls_cert == NULL || cfg->tls_key == NULL)
			config_error(p, parser_set_line(p, "data_dir"),
			             "data_dir is too long to hold tls/");
	}
	if (cert_line != 0 || cfg->tls_self_signed)
		return;
	for (size_t i = 0; i < cfg->nlistens; i++) {
		enum config_proto proto = cfg->listens[i].proto;

		if (config_proto_is_implicit_tls(proto)) {
			config_error(p, p->listen_line[i],
			             "listen %s needs a certificate: set "
			             "tls_cert and tls_key, or "
			             "tls_self_signed yes",
			             config_proto_name(proto));
			return;
		}
	}
}

static unsigned
line_max(unsigned a, unsigned b)
{
	return a > b ? a : b;
}

/* Defaults computed from other settings, then checks across settings. */
static void
parser_finish(struct config_parser *p)
{
	struct config *cfg = p->cfg;

	if (cfg->ndomains == 0 && parser_set_line(p, "domain") == 0)
		config_error(p, 0,
		             "no domain configured: at least one 'domain' "
		             "line is required");
	if (parser_set_line(p, "hostname") == 0)
		parser_default_hostname(p);
	parser_finish_tls(p);
	if (cfg->queue_retry_min_ms > cfg->queue_retry_max_ms)
		config_error(p,
		             line_max(parser_set_line(p, "queue_retry_min"),
		                      parser_set_line(p, "queue_retry_max")),
		             "queue_retry_min must not be longer than "
		             "queue_retry_max");
	if (cfg->queue_warn_after_ms >= cfg->queue_lifetime_ms)
		config_error(p,
		             line_max(parser_set_line(p, "queue_warn_after"),
		                      parser_set_line(p, "queue_lifetime")),
		             "queue_warn_after must be shorter than "
		             "queue_lifetime");
}

static void
parser_run(struct config_parser *p, const char *text, size_t len)
{
	const char *err;

	if (len > CONFIG_FILE_MAX) {
		config_error(p, 0, "file too large (more than %d bytes)",
		             CONFIG_FILE_MAX);
		return;
	}
	config_params_set_defaults(p);
	config_lexer_init(&p->lexer, text, len);
	while (!p->gave_up) {
		enum config_lex_result r = config_lexer_next(&p->lexer, &err);

		if (r == CONFIG_LEX_EOF)
			break;
		p->line = p->lexer.line;
		if (r == CONFIG_LEX_ERROR)
			config_error(p, p->line, "%s", err);
		else
			parser_line(p);
	}
	p->line = 0;
	if (!p->gave_up)
		parser_finish(p);
}

/* Hands the result over: the config, or NULL and the error text. */
static struct config *
parser_end(struct config_parser *p, char **error_r)
{
	struct config *cfg = p->cfg;

	if (p->nerrors > 0 || p->gave_up) {
		config_free(&cfg);
		if (error_r != NULL)
			*error_r = p->errors.s;
		else
			free(p->errors.s);
	} else if (error_r != NULL) {
		*error_r = NULL;
	}
	free(p);
	return cfg;
}

static struct config_parser *
parser_new(const char *name, const char *path, const char *base_dir)
{
	struct config_parser *p = xmalloc(sizeof(*p));

	p->cfg = xmalloc(sizeof(*p->cfg));
	p->cfg->path = xstrdup(path);
	p->name = name;
	p->base_dir = base_dir;
	return p;
}

/* Returns the owned, absolute form of `dir` (resolved against the
 * working directory if relative), or NULL. */
static char *
parser_absolute(const char *dir)
{
	char *cwd = NULL;
	char *abs;

	if (dir == NULL || dir[0] != '/') {
		cwd = getcwd(NULL, 0);
		if (cwd == NULL)
			return NULL;
	}
	abs = config_path_resolve(cwd != NULL ? cwd : "/",
	                          dir != NULL ? dir : ".");
	free(cwd);
	if (abs == NULL)
		errno = ENAMETOOLONG;
	return abs;
}

struct config *
config_parse_string(const char *text, size_t len, const char *name,
                    const char *base_dir, char **error_r)
{
	char *base = parser_absolute(base_dir);
	struct config_parser *p =
	        parser_new(name, name, base != NULL ? base : "/");
	struct config *cfg;

	if (base == NULL)
		config_error(p, 0, "cannot resolve the base directory: %s",
		             strerror(errno));
	else
		parser_run(p, text, len);
	cfg = parser_end(p, error_r);
	free(base);
	return cfg;
}

/* Reads `path`, at most CONFIG_FILE_MAX bytes. Returns owned text or NULL
 * with errno set (EFBIG: the file is larger). */
static char *
parser_read_file(const char *path, size_t *len_r)
{
	char *text = NULL;
	struct stat st;
	int fd, saved;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0)
		goto out;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		goto out;
	}
	text = fileio_read_bounded(fd, CONFIG_FILE_MAX, len_r);
out:
	saved = errno;
	close(fd);
	errno = saved;
	return text;
}

struct config *
config_load(const char *path, char **error_r)
{
	char *abs = parser_absolute(path);
	char *base = NULL;
	struct config_parser *p;
	struct config *cfg;
	char *text = NULL;
	size_t len = 0;

	if (abs != NULL) {
		/* the directory of the file: everything before the last
		 * slash, "/" for a file at the root */
		size_t dlen = (size_t)(strrchr(abs, '/') - abs);

		base = xstrndup(abs, dlen == 0 ? 1 : dlen);
	}
	p = parser_new(path, abs != NULL ? abs : path,
	               base != NULL ? base : "/");
	if (abs == NULL)
		config_error(p, 0, "cannot resolve the path: %s",
		             strerror(errno));
	else if ((text = parser_read_file(path, &len)) == NULL &&
	         errno == EFBIG)
		config_error(p, 0, "file too large (more than %d bytes)",
		             CONFIG_FILE_MAX);
	else if (text == NULL)
		config_error(p, 0, "cannot read: %s", strerror(errno));
	else
		parser_run(p, text, len);
	cfg = parser_end(p, error_r);
	free(text);
	free(base);
	free(abs);
	return cfg;
}

void
config_free(struct config **cfgp)
{
	struct config *cfg;

	if (cfgp == NULL || *cfgp == NULL)
		return;
	cfg = *cfgp;
	free(cfg->path);
	free(cfg->hostname);
	for (size_t i = 0; i < cfg->ndomains; i++)
		free(cfg->domains[i]);
	free(cfg->domains);
	free(cfg->data_dir);
	free(cfg->users_file);
	free(cfg->tls_cert);
	free(cfg->tls_key);
	free(cfg->run_user);
	free(cfg->aliases_file);
	free(cfg->recipient_delimiter);
	free(cfg->listens);
	free(cfg->relay_networks);
	free(cfg);
	*cfgp = NULL;
}
