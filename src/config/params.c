/*
 * params — the typed table of every postern.conf setting, and the code
 * that turns one line's words into a field of struct config, writes a
 * config back as canonical text (config_dump) and compares two configs.
 *
 * Each row names the setting, its type, its default (written as it would
 * be in the file and stored through the same setter, so defaults obey the
 * same checks), its bounds and a one-line description. A setting that is
 * not in the table cannot be read or written. docs/postern.conf.5 and the
 * embedded default text (parser.c) must follow this table; the unit tests
 * check both. Runs wherever a configuration is parsed: the parent, each
 * role, `postern check`.
 */
#include "config/config_priv.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/str.h"
#include "core/xalloc.h"
#include "log/log.h"

#define MS_SECOND 1000ULL
#define MS_MINUTE (60 * MS_SECOND)
#define MS_HOUR   (60 * MS_MINUTE)
#define MS_DAY    (24 * MS_HOUR)
#define KIB       1024ULL
#define MIB       (1024 * KIB)
#define GIB       (1024 * MIB)

/* Offset and size of a scalar field, for the table. */
#define FIELD(f)                                                               \
	.offset = offsetof(struct config, f),                                  \
	.size = sizeof(((struct config *)0)->f)

static bool params_user_is_valid(const char *s);
static bool params_delimiter_is_valid(const char *s);

static const struct config_enum_value log_sink_values[] = {
        {"syslog", 1},
        {"stderr", 0},
        {NULL, 0},
};

static const struct config_enum_value log_level_values[] = {
        {"debug", LOG_LEVEL_DEBUG},
        {"info", LOG_LEVEL_INFO},
        {"warn", LOG_LEVEL_WARN},
        {"error", LOG_LEVEL_ERR},
        {NULL, 0},
};

static const struct config_enum_value plaintext_auth_values[] = {
        {"never", CONFIG_PLAINTEXT_NEVER},
        {"loopback", CONFIG_PLAINTEXT_LOOPBACK},
        {"always", CONFIG_PLAINTEXT_ALWAYS},
        {NULL, 0},
};

const struct config_param config_params[] = {
        /* identity */
        {.name = "hostname",
         .type = CONFIG_TYPE_STRING,
         .def_doc = "the system host name (gethostname)",
         .doc = "host name in the greeting, EHLO and Received: headers",
         FIELD(hostname),
         .is_valid = config_name_is_valid,
         .expect = "a host name such as mail.example.com"},
        {.name = "domain",
         .type = CONFIG_TYPE_DOMAINS,
         .def_doc = "none; at least one is required",
         .doc = "local domains, whose mail is delivered here (several per "
                "line allowed)"},
        /* files */
        {.name = "data_dir",
         .type = CONFIG_TYPE_PATH,
         .def = "/var/lib/postern",
         .doc = "directory holding the spool and the mailboxes",
         FIELD(data_dir)},
        {.name = "users_file",
         .type = CONFIG_TYPE_PATH,
         .def = "users",
         .def_doc = "users, beside the configuration file",
         .doc = "accounts and password hashes, read by the auth role only",
         FIELD(users_file)},
        {.name = "tls_cert",
         .type = CONFIG_TYPE_PATH,
         .def_doc = "DATA_DIR/tls/cert.pem",
         .doc = "PEM certificate chain for STARTTLS and implicit TLS",
         FIELD(tls_cert)},
        {.name = "tls_key",
         .type = CONFIG_TYPE_PATH,
         .def_doc = "DATA_DIR/tls/key.pem",
         .doc = "PEM private key of tls_cert",
         FIELD(tls_key)},
        {.name = "tls_self_signed",
         .type = CONFIG_TYPE_BOOL,
         .def = "no",
         .doc = "make a self-signed certificate and key on start if both "
                "files are missing",
         FIELD(tls_self_signed)},
        /* processes */
        {.name = "run_user",
         .type = CONFIG_TYPE_STRING,
         .def = "postern",
         .doc = "user the roles switch to when started as root",
         FIELD(run_user),
         .is_valid = params_user_is_valid,
         .expect = "a user name of letters, digits, '.', '_' and '-'"},
        {.name = "smtp_workers",
         .type = CONFIG_TYPE_UINT,
         .def = "0",
         .min = 0,
         .max = 64,
         .doc = "SMTP worker processes; 0 starts one per CPU core",
         FIELD(smtp_workers)},
        {.name = "shutdown_timeout",
         .type = CONFIG_TYPE_DURATION,
         .def = "30s",
         .min = 0,
         .max = MS_HOUR,
         .doc = "time sessions get to finish on SIGTERM before they are cut",
         FIELD(shutdown_timeout_ms)},
        /* logging */
        {.name = "log",
         .type = CONFIG_TYPE_ENUM,
         .def = "syslog",
         .doc = "where log lines go: syslog (mail facility) or stderr",
         FIELD(log_syslog),
         .values = log_sink_values},
        {.name = "log_level",
         .type = CONFIG_TYPE_ENUM,
         .def = "info",
         .doc = "lowest level logged",
         FIELD(log_level),
         .values = log_level_values},
        /* listeners */
        {.name = "listen",
         .type = CONFIG_TYPE_LISTEN,
         .def_doc = "none: postern listens nowhere",
         .doc = "a listener, PROTO ADDRESS:PORT; repeatable"},
        /* security */
        {.name = "plaintext_auth",
         .type = CONFIG_TYPE_ENUM,
         .def = "never",
         .doc = "where passwords may be sent without TLS",
         FIELD(plaintext_auth),
         .values = plaintext_auth_values},
        {.name = "relay_network",
         .type = CONFIG_TYPE_NETWORKS,
         .def_doc = "none",
         .doc = "client networks that may relay without AUTH (several per "
                "line allowed)"},
        /* SMTP limits */
        {.name = "max_message_size",
         .type = CONFIG_TYPE_SIZE,
         .def = "25M",
         .min = KIB,
         .max = 2 * GIB,
         .doc = "largest message accepted, announced as SIZE (RFC 1870)",
         FIELD(max_message_size)},
        {.name = "smtp_max_recipients",
         .type = CONFIG_TYPE_UINT,
         .def = "100",
         .min = 1,
         .max = 100000,
         .doc = "recipients accepted per message (RFC 5321 4.5.3.1.8)",
         FIELD(smtp_max_recipients)},
        {.name = "smtp_max_errors",
         .type = CONFIG_TYPE_UINT,
         .def = "10",
         .min = 1,
         .max = 1000,
         .doc = "protocol errors after which a session is disconnected",
         FIELD(smtp_max_errors)},
        {.name = "smtp_max_sessions",
         .type = CONFIG_TYPE_UINT,
         .def = "1000",
         .min = 1,
         .max = 100000,
         .doc = "concurrent sessions per SMTP worker",
         FIELD(smtp_max_sessions)},
        {.name = "smtp_max_sessions_per_ip",
         .type = CONFIG_TYPE_UINT,
         .def = "20",
         .min = 1,
         .max = 100000,
         .doc = "concurrent sessions from one client address",
         FIELD(smtp_max_sessions_per_ip)},
        {.name = "smtp_max_hops",
         .type = CONFIG_TYPE_UINT,
         .def = "50",
         .min = 1,
         .max = 500,
         .doc = "Received: headers after which a message is refused as a "
                "loop (RFC 5321 6.3)",
         FIELD(smtp_max_hops)},
        {.name = "smtp_command_timeout",
         .type = CONFIG_TYPE_DURATION,
         .def = "5m",
         .min = MS_SECOND,
         .max = MS_HOUR,
         .doc = "time allowed to wait for a command (RFC 5321 4.5.3.2)",
         FIELD(smtp_command_timeout_ms)},
        {.name = "smtp_data_timeout",
         .type = CONFIG_TYPE_DURATION,
         .def = "10m",
         .min = MS_SECOND,
         .max = MS_HOUR,
         .doc = "time allowed between two blocks of message data",
         FIELD(smtp_data_timeout_ms)},
        /* SMTP policy */
        {.name = "aliases_file",
         .type = CONFIG_TYPE_PATH,
         .def_doc = "none",
         .doc = "aliases and forwarding (docs/aliases.md), read by the auth "
                "role",
         FIELD(aliases_file)},
        {.name = "recipient_delimiter",
         .type = CONFIG_TYPE_STRING,
         .def = "+",
         .doc = "separator of plus-addressing (user+tag@domain is user's), "
                "or none",
         FIELD(recipient_delimiter),
         .is_valid = params_delimiter_is_valid,
         .expect = "one of + - _ = ~ # or none"},
        {.name = "smtp_vrfy_expn",
         .type = CONFIG_TYPE_BOOL,
         .def = "yes",
         .doc = "answer VRFY and EXPN for relay_network clients (others "
                "always get 252 and 502)",
         FIELD(smtp_vrfy_expn)},
        {.name = "smtp_verb",
         .type = CONFIG_TYPE_BOOL,
         .def = "no",
         .doc = "answer sendmail's VERB command with 250 instead of 502",
         FIELD(smtp_verb)},
        {.name = "smtp_received_auth",
         .type = CONFIG_TYPE_BOOL,
         .def = "no",
         .doc = "name the authenticated user in the Received: header",
         FIELD(smtp_received_auth)},
        {.name = "smtp_greeting_delay",
         .type = CONFIG_TYPE_DURATION,
         .def = "0s",
         .min = 0,
         .max = 60 * MS_SECOND,
         .doc = "wait this long before the greeting; a client that talks "
                "first is refused",
         FIELD(smtp_greeting_delay_ms)},
        /* queue schedule */
        {.name = "queue_retry_min",
         .type = CONFIG_TYPE_DURATION,
         .def = "5m",
         .min = MS_SECOND,
         .max = MS_DAY,
         .doc = "delay before the first retry after a temporary failure",
         FIELD(queue_retry_min_ms)},
        {.name = "queue_retry_max",
         .type = CONFIG_TYPE_DURATION,
         .def = "1h",
         .min = MS_SECOND,
         .max = 7 * MS_DAY,
         .doc = "longest delay between two retries (the backoff cap)",
         FIELD(queue_retry_max_ms)},
        {.name = "queue_warn_after",
         .type = CONFIG_TYPE_DURATION,
         .def = "4h",
         .min = MS_MINUTE,
         .max = 30 * MS_DAY,
         .doc = "age of undelivered mail at which the sender gets a delay "
                "notice",
         FIELD(queue_warn_after_ms)},
        {.name = "queue_lifetime",
         .type = CONFIG_TYPE_DURATION,
         .def = "5d",
         .min = MS_HOUR,
         .max = 60 * MS_DAY,
         .doc = "age at which undelivered mail is returned to the sender",
         FIELD(queue_lifetime_ms)},
};

const size_t config_nparams = sizeof(config_params) / sizeof(config_params[0]);

_Static_assert(sizeof(config_params) / sizeof(config_params[0]) <=
                       CONFIG_PARAMS_MAX,
               "raise CONFIG_PARAMS_MAX");

static const char *const proto_names[] = {
        [CONFIG_PROTO_SMTP] = "smtp",
        [CONFIG_PROTO_SUBMISSION] = "submission",
        [CONFIG_PROTO_SUBMISSIONS] = "submissions",
        [CONFIG_PROTO_IMAP] = "imap",
        [CONFIG_PROTO_IMAPS] = "imaps",
        [CONFIG_PROTO_POP3] = "pop3",
        [CONFIG_PROTO_POP3S] = "pop3s",
};

#define PROTO_COUNT (sizeof(proto_names) / sizeof(proto_names[0]))

const char *
config_proto_name(enum config_proto proto)
{
	if ((size_t)proto >= PROTO_COUNT)
		return "unknown";
	return proto_names[proto];
}

int
config_proto_parse(const char *name, enum config_proto *proto_r)
{
	if (name == NULL)
		return -1;
	for (size_t i = 0; i < PROTO_COUNT; i++) {
		if (strcmp(name, proto_names[i]) == 0) {
			*proto_r = (enum config_proto)i;
			return 0;
		}
	}
	return -1;
}

bool
config_proto_is_implicit_tls(enum config_proto proto)
{
	return proto == CONFIG_PROTO_SUBMISSIONS ||
	       proto == CONFIG_PROTO_IMAPS || proto == CONFIG_PROTO_POP3S;
}

const struct config_param *
config_param_find(const char *name)
{
	for (size_t i = 0; i < config_nparams; i++) {
		if (strcmp(config_params[i].name, name) == 0)
			return &config_params[i];
	}
	return NULL;
}

size_t
config_param_index(const struct config_param *param)
{
	return (size_t)(param - config_params);
}

bool
config_name_is_valid(const char *s)
{
	size_t len = strlen(s);
	size_t label = 0;

	if (len == 0 || len > CONFIG_NAME_MAX)
		return false;
	for (size_t i = 0; i <= len; i++) {
		char c = s[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		           (c >= '0' && c <= '9') || (c == '-' && label > 0)) {
			label++;
		} else {
			return false;
		}
	}
	return true;
}

static bool
params_user_is_valid(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > 32 || s[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

/* --- numbers --------------------------------------------------------- */

enum value_result {
	VALUE_OK,
	VALUE_BAD,   /* not written as the type wants */
	VALUE_RANGE, /* well written but too large to hold */
};

static enum value_result
value_digits(const char *s, size_t len, uint64_t *v_r)
{
	if (len == 0)
		return VALUE_BAD;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return VALUE_BAD;
	}
	/* Only digits: the one way left to fail is overflow. */
	if (str_parse_u64(s, len, UINT64_MAX, v_r) < 0)
		return VALUE_RANGE;
	return VALUE_OK;
}

static enum value_result
value_scaled(const char *s, size_t len, uint64_t mult, uint64_t *v_r)
{
	enum value_result r = value_digits(s, len, v_r);

	if (r != VALUE_OK)
		return r;
	if (__builtin_mul_overflow(*v_r, mult, v_r))
		return VALUE_RANGE;
	return VALUE_OK;
}

/* Bytes, with an optional K, M or G suffix (base 1024). */
static enum value_result
value_size(const char *s, size_t len, uint64_t *v_r)
{
	uint64_t mult = 1;

	if (len > 1) {
		switch (s[len - 1]) {
		case 'k':
		case 'K':
			mult = KIB;
			break;
		case 'm':
		case 'M':
			mult = MIB;
			break;
		case 'g':
		case 'G':
			mult = GIB;
			break;
		default:
			break;
		}
		if (mult != 1)
			len--;
	}
	return value_scaled(s, len, mult, v_r);
}

/* Milliseconds from a number with a ms, s, m, h or d suffix; a bare
 * number counts seconds. */
static enum value_result
value_duration(const char *s, size_t len, uint64_t *v_r)
{
	uint64_t mult = MS_SECOND;

	if (len > 2 && s[len - 2] == 'm' && s[len - 1] == 's') {
		mult = 1;
		len -= 2;
	} else if (len > 1) {
		switch (s[len - 1]) {
		case 's':
			mult = MS_SECOND;
			len--;
			break;
		case 'm':
			mult = MS_MINUTE;
			len--;
			break;
		case 'h':
			mult = MS_HOUR;
			len--;
			break;
		case 'd':
			mult = MS_DAY;
			len--;
			break;
		default:
			break;
		}
	}
	return value_scaled(s, len, mult, v_r);
}

/* Writes `v` bytes with the largest suffix that divides it exactly. */
static void
format_size(uint64_t v, char *out, size_t outsz)
{
	if (v != 0 && v % GIB == 0)
		snprintf(out, outsz, "%lluG", (unsigned long long)(v / GIB));
	else if (v != 0 && v % MIB == 0)
		snprintf(out, outsz, "%lluM", (unsigned long long)(v / MIB));
	else if (v != 0 && v % KIB == 0)
		snprintf(out, outsz, "%lluK", (unsigned long long)(v / KIB));
	else
		snprintf(out, outsz, "%llu", (unsigned long long)v);
}

/* Writes `v` milliseconds with the largest unit that divides it. */
static void
format_duration(uint64_t v, char *out, size_t outsz)
{
	static const struct {
		uint64_t ms;
		const char *unit;
	} units[] = {
	        {MS_DAY, "d"},
	        {MS_HOUR, "h"},
	        {MS_MINUTE, "m"},
	        {MS_SECOND, "s"},
	};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (v != 0 && v % units[i].ms == 0) {
			snprintf(out, outsz, "%llu%s",
			         (unsigned long long)(v / units[i].ms),
			         units[i].unit);
			return;
		}
	}
	snprintf(out, outsz, v == 0 ? "%llus" : "%llums",
	         (unsigned long long)v);
}

static void
format_number(const struct config_param *param, uint64_t v, char *out,
              size_t outsz)
{
	if (param->type == CONFIG_TYPE_SIZE)
		format_size(v, out, outsz);
	else if (param->type == CONFIG_TYPE_DURATION)
		format_duration(v, out, outsz);
	else
		snprintf(out, outsz, "%llu", (unsigned long long)v);
}

/* --- fields ---------------------------------------------------------- */

static void *
field_ptr(struct config *cfg, const struct config_param *param)
{
	return (char *)cfg + param->offset;
}

static uint64_t
field_get(const struct config *cfg, const struct config_param *param)
{
	const char *f = (const char *)cfg + param->offset;

	if (param->size == sizeof(uint64_t)) {
		uint64_t v;

		memcpy(&v, f, sizeof(v));
		return v;
	}
	if (param->size == sizeof(unsigned)) {
		/* unsigned fields and the enums, which have no negative
		 * constants and so are unsigned int here */
		unsigned v;

		memcpy(&v, f, sizeof(v));
		return v;
	}
	if (param->size == sizeof(bool)) {
		bool v;

		memcpy(&v, f, sizeof(v));
		return v ? 1 : 0;
	}
	panic("config: field %s has an unexpected size %zu", param->name,
	      param->size);
}

static void
field_set(struct config *cfg, const struct config_param *param, uint64_t v)
{
	void *f = field_ptr(cfg, param);

	if (param->size == sizeof(uint64_t)) {
		memcpy(f, &v, sizeof(v));
	} else if (param->size == sizeof(unsigned)) {
		unsigned u = (unsigned)v;

		memcpy(f, &u, sizeof(u));
	} else if (param->size == sizeof(bool)) {
		bool b = v != 0;

		memcpy(f, &b, sizeof(b));
	} else {
		panic("config: field %s has an unexpected size %zu",
		      param->name, param->size);
	}
}

static char **
field_string(struct config *cfg, const struct config_param *param)
{
	return (char **)field_ptr(cfg, param);
}

static const char *
field_string_get(const struct config *cfg, const struct config_param *param)
{
	const char *v;

	memcpy(&v, (const char *)cfg + param->offset, sizeof(v));
	return v;
}

static bool
params_delimiter_is_valid(const char *s)
{
	return strcmp(s, "none") == 0 ||
	       (s[0] != '\0' && s[1] == '\0' && strchr("+-_=~#", s[0]));
}

/* --- setters --------------------------------------------------------- */

/* Peer text in messages: escaped and cut short. */
static const char *
params_escape(char *out, size_t outsz, const struct config_word *w)
{
	return log_escape(out, outsz, w->s, w->len);
}

static int
params_bad_value(struct config_parser *p, const struct config_param *param,
                 const struct config_word *w, const char *expect)
{
	char esc[80];

	config_error(p, p->line, "bad value '%s' for '%s': expected %s",
	             params_escape(esc, sizeof(esc), w), param->name, expect);
	return -1;
}

static int
params_out_of_range(struct config_parser *p, const struct config_param *param,
                    const struct config_word *w)
{
	char esc[80], lo[32], hi[32];

	format_number(param, param->min, lo, sizeof(lo));
	format_number(param, param->max, hi, sizeof(hi));
	config_error(p, p->line, "%s %s is out of range (%s to %s)",
	             param->name, params_escape(esc, sizeof(esc), w), lo, hi);
	return -1;
}

static int
set_number(struct config_parser *p, const struct config_param *param,
           const struct config_word *w)
{
	enum value_result r;
	const char *expect;
	uint64_t v;

	switch (param->type) {
	case CONFIG_TYPE_SIZE:
		r = value_size(w->s, w->len, &v);
		expect = "a size such as 512K, 25M or 1G";
		break;
	case CONFIG_TYPE_DURATION:
		r = value_duration(w->s, w->len, &v);
		expect = "a duration such as 500ms, 30s, 5m, 4h or 5d";
		break;
	default:
		r = value_digits(w->s, w->len, &v);
		expect = "a whole number";
		break;
	}
	if (r == VALUE_BAD)
		return params_bad_value(p, param, w, expect);
	if (r == VALUE_RANGE || v < param->min || v > param->max)
		return params_out_of_range(p, param, w);
	field_set(p->cfg, param, v);
	return 0;
}

static int
set_bool(struct config_parser *p, const struct config_param *param,
         const struct config_word *w)
{
	static const char *const yes[] = {"yes", "true", "on"};
	static const char *const no[] = {"no", "false", "off"};

	for (size_t i = 0; i < 3; i++) {
		if (str_eq_ci(w->s, w->len, yes[i])) {
			field_set(p->cfg, param, 1);
			return 0;
		}
		if (str_eq_ci(w->s, w->len, no[i])) {
			field_set(p->cfg, param, 0);
			return 0;
		}
	}
	return params_bad_value(p, param, w, "yes or no");
}

static int
set_enum(struct config_parser *p, const struct config_param *param,
         const struct config_word *w)
{
	char expect[128] = "one of";
	size_t used = strlen(expect);

	for (const struct config_enum_value *e = param->values; e->name != NULL;
	     e++) {
		if (str_eq_ci(w->s, w->len, e->name)) {
			field_set(p->cfg, param, e->value);
			return 0;
		}
	}
	for (const struct config_enum_value *e = param->values; e->name != NULL;
	     e++) {
		int n = snprintf(expect + used, sizeof(expect) - used, "%s %s",
		                 e == param->values ? "" : ",", e->name);

		if (n < 0 || (size_t)n >= sizeof(expect) - used)
			break;
		used += (size_t)n;
	}
	return params_bad_value(p, param, w, expect);
}

static int
set_string(struct config_parser *p, const struct config_param *param,
           const struct config_word *w)
{
	char **f = field_string(p->cfg, param);

	if (w->len == 0 || w->len > CONFIG_NAME_MAX ||
	    (param->is_valid != NULL && !param->is_valid(w->s)))
		return params_bad_value(p, param, w,
		                        param->expect != NULL ? param->expect
		                                              : "a value");
	free(*f);
	*f = xstrndup(w->s, w->len);
	return 0;
}

char *
config_path_resolve(const char *base_dir, const char *path)
{
	char *joined, *out;
	size_t o = 0;

	if (path[0] == '/')
		joined = xstrdup(path);
	else
		joined = xasprintf("%s/%s", base_dir, path);
	out = xmalloc(strlen(joined) + 2);
	/* Copy component by component, dropping empty and "." ones. ".."
	 * is kept: resolving it by text would be wrong across symlinks. */
	for (const char *s = joined; *s != '\0';) {
		size_t n;

		while (*s == '/')
			s++;
		n = strcspn(s, "/");
		if (n == 0 || (n == 1 && s[0] == '.')) {
			s += n;
			continue;
		}
		out[o++] = '/';
		memcpy(out + o, s, n);
		o += n;
		s += n;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	free(joined);
	if (o > CONFIG_PATH_MAX) {
		free(out);
		return NULL;
	}
	return out;
}

static int
set_path(struct config_parser *p, const struct config_param *param,
         const struct config_word *w)
{
	char **f = field_string(p->cfg, param);
	char *path;

	if (w->len == 0)
		return params_bad_value(p, param, w, "a path");
	path = config_path_resolve(p->base_dir, w->s);
	if (path == NULL)
		return params_bad_value(p, param, w,
		                        "a path of at most 4095 bytes");
	free(*f);
	*f = path;
	return 0;
}

static int
set_domain(struct config_parser *p, const struct config_param *param,
           const struct config_word *w)
{
	struct config *cfg = p->cfg;
	char esc[80];
	char *name;

	if (!config_name_is_valid(w->s))
		return params_bad_value(p, param, w, "a domain name");
	name = xstrndup(w->s, w->len);
	str_lower(name);
	for (size_t i = 0; i < cfg->ndomains; i++) {
		if (strcmp(cfg->domains[i], name) == 0) {
			config_error(p, p->line,
			             "duplicate domain '%s' (first on line %u)",
			             params_escape(esc, sizeof(esc), w),
			             p->domain_line[i]);
			free(name);
			return -1;
		}
	}
	if (cfg->ndomains >= CONFIG_LIST_MAX) {
		config_error(p, p->line, "too many domains (at most %d)",
		             CONFIG_LIST_MAX);
		free(name);
		return -1;
	}
	cfg->domains = xrealloc(cfg->domains,
	                        (cfg->ndomains + 1) * sizeof(*cfg->domains));
	p->domain_line[cfg->ndomains] = p->line;
	cfg->domains[cfg->ndomains++] = name;
	return 0;
}

/* Parses "ADDRESS" or "ADDRESS/PREFIX" into *net. */
static int
net_parse(const char *s, size_t len, struct config_net *net)
{
	const char *slash = memchr(s, '/', len);
	size_t alen = slash != NULL ? (size_t)(slash - s) : len;
	char addr[INET6_ADDRSTRLEN];
	unsigned bits;
	uint64_t prefix;

	if (alen == 0 || alen >= sizeof(addr))
		return -1;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	memset(net, 0, sizeof(*net));
	if (inet_pton(AF_INET, addr, net->addr) == 1) {
		net->family = AF_INET;
		bits = 32;
	} else if (inet_pton(AF_INET6, addr, net->addr) == 1) {
		net->family = AF_INET6;
		bits = 128;
	} else {
		return -1;
	}
	if (slash == NULL) {
		net->prefix = bits;
		return 0;
	}
	if (len - alen - 1 > 3 ||
	    str_parse_u64(slash + 1, len - alen - 1, bits, &prefix) < 0)
		return -1;
	net->prefix = (unsigned)prefix;
	return 0;
}

/* True if the first `prefix` bits of `a` and `b` are equal. */
static bool
net_bits_equal(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
	unsigned whole = prefix / 8;
	unsigned rest = prefix % 8;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[whole] ^ b[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

/* True if no bit after the prefix length is set. */
static bool
net_is_network(const struct config_net *net)
{
	unsigned bits = net->family == AF_INET ? 32 : 128;

	for (unsigned i = net->prefix; i < bits; i++) {
		if (net->addr[i / 8] & (0x80 >> (i % 8)))
			return false;
	}
	return true;
}

static void
net_format(const struct config_net *net, char *out, size_t outsz)
{
	char addr[INET6_ADDRSTRLEN];

	if (inet_ntop(net->family, net->addr, addr, sizeof(addr)) == NULL)
		panic("config: inet_ntop failed on a parsed network");
	snprintf(out, outsz, "%s/%u", addr, net->prefix);
}

static int
set_network(struct config_parser *p, const struct config_param *param,
            const struct config_word *w)
{
	struct config *cfg = p->cfg;
	struct config_net net;
	char esc[80], text[64];

	if (net_parse(w->s, w->len, &net) < 0)
		return params_bad_value(p, param, w,
		                        "a network such as 192.0.2.0/24 or "
		                        "2001:db8::/32");
	if (!net_is_network(&net)) {
		config_error(p, p->line,
		             "relay_network '%s' has bits set after the "
		             "prefix length",
		             params_escape(esc, sizeof(esc), w));
		return -1;
	}
	for (size_t i = 0; i < cfg->nrelay_networks; i++) {
		const struct config_net *o = &cfg->relay_networks[i];

		if (o->family == net.family && o->prefix == net.prefix &&
		    memcmp(o->addr, net.addr, sizeof(net.addr)) == 0) {
			net_format(&net, text, sizeof(text));
			config_error(p, p->line,
			             "duplicate relay_network %s (first on "
			             "line %u)",
			             text, p->net_line[i]);
			return -1;
		}
	}
	if (cfg->nrelay_networks >= CONFIG_LIST_MAX) {
		config_error(p, p->line, "too many relay networks (at most %d)",
		             CONFIG_LIST_MAX);
		return -1;
	}
	cfg->relay_networks = xrealloc(cfg->relay_networks,
	                               (cfg->nrelay_networks + 1) *
	                                       sizeof(*cfg->relay_networks));
	p->net_line[cfg->nrelay_networks] = p->line;
	cfg->relay_networks[cfg->nrelay_networks++] = net;
	return 0;
}

/*
 * Parses "IPV4:PORT" or "[IPV6]:PORT" into the address (canonical text)
 * and port of *l. Returns 0, -1 for a bad address, -2 for a bad port.
 */
static int
listen_parse_addr(const char *s, size_t len, struct config_listen *l)
{
	const char *host, *port;
	size_t hlen, plen;
	uint8_t bin[16];
	char text[INET6_ADDRSTRLEN];
	uint64_t v;
	int family;

	if (len > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', len);

		if (close == NULL || close + 1 >= s + len || close[1] != ':')
			return -1;
		host = s + 1;
		hlen = (size_t)(close - host);
		port = close + 2;
		family = AF_INET6;
	} else {
		/* IPv4: exactly one colon; IPv6 needs its brackets */
		const char *colon = memchr(s, ':', len);

		if (colon == NULL || memrchr(s, ':', len) != colon)
			return -1;
		host = s;
		hlen = (size_t)(colon - s);
		port = colon + 1;
		family = AF_INET;
	}
	plen = len - (size_t)(port - s);
	if (hlen == 0 || hlen >= sizeof(text))
		return -1;
	memcpy(text, host, hlen);
	text[hlen] = '\0';
	if (inet_pton(family, text, bin) != 1 ||
	    inet_ntop(family, bin, l->addr, sizeof(l->addr)) == NULL)
		return -1;
	if (plen > 5 || str_parse_u64(port, plen, 65535, &v) < 0 || v == 0)
		return -2;
	l->port = (uint16_t)v;
	return 0;
}

static void
listen_format_addr(const struct config_listen *l, char *out, size_t outsz)
{
	if (strchr(l->addr, ':') != NULL)
		snprintf(out, outsz, "[%s]:%u", l->addr, (unsigned)l->port);
	else
		snprintf(out, outsz, "%s:%u", l->addr, (unsigned)l->port);
}

static int
set_listen(struct config_parser *p, const struct config_word *values, size_t n)
{
	struct config *cfg = p->cfg;
	struct config_listen l;
	char esc[80], text[96];
	int r;

	memset(&l, 0, sizeof(l));
	if (n != 2) {
		config_error(p, p->line,
		             "'listen' takes a protocol and an ADDRESS:PORT");
		return -1;
	}
	if (config_proto_parse(values[0].s, &l.proto) < 0) {
		config_error(p, p->line,
		             "unknown protocol '%s' for 'listen': expected "
		             "one of smtp, submission, submissions, imap, "
		             "imaps, pop3, pop3s",
		             params_escape(esc, sizeof(esc), &values[0]));
		return -1;
	}
	r = listen_parse_addr(values[1].s, values[1].len, &l);
	if (r == -1) {
		config_error(p, p->line,
		             "bad listen address '%s': expected a numeric "
		             "IP address and a port, such as 127.0.0.1:25 or "
		             "[::1]:25",
		             params_escape(esc, sizeof(esc), &values[1]));
		return -1;
	}
	if (r == -2) {
		config_error(p, p->line,
		             "bad port in listen address '%s': expected 1 to "
		             "65535",
		             params_escape(esc, sizeof(esc), &values[1]));
		return -1;
	}
	for (size_t i = 0; i < cfg->nlistens; i++) {
		if (strcmp(cfg->listens[i].addr, l.addr) == 0 &&
		    cfg->listens[i].port == l.port) {
			listen_format_addr(&l, text, sizeof(text));
			config_error(p, p->line,
			             "duplicate listen address %s (first on "
			             "line %u)",
			             text, p->listen_line[i]);
			return -1;
		}
	}
	if (cfg->nlistens >= CONFIG_LIST_MAX) {
		config_error(p, p->line, "too many listen lines (at most %d)",
		             CONFIG_LIST_MAX);
		return -1;
	}
	cfg->listens = xrealloc(cfg->listens,
	                        (cfg->nlistens + 1) * sizeof(*cfg->listens));
	p->listen_line[cfg->nlistens] = p->line;
	cfg->listens[cfg->nlistens++] = l;
	return 0;
}

int
config_param_set(struct config_parser *p, const struct config_param *param,
                 const struct config_word *values, size_t n)
{
	int rc = 0;

	switch (param->type) {
	case CONFIG_TYPE_DOMAINS:
		for (size_t i = 0; i < n; i++) {
			if (set_domain(p, param, &values[i]) < 0)
				rc = -1;
		}
		return rc;
	case CONFIG_TYPE_NETWORKS:
		for (size_t i = 0; i < n; i++) {
			if (set_network(p, param, &values[i]) < 0)
				rc = -1;
		}
		return rc;
	case CONFIG_TYPE_LISTEN:
		return set_listen(p, values, n);
	default:
		break;
	}
	if (n != 1) {
		config_error(p, p->line, "'%s' takes one value", param->name);
		return -1;
	}
	switch (param->type) {
	case CONFIG_TYPE_STRING:
		return set_string(p, param, values);
	case CONFIG_TYPE_PATH:
		return set_path(p, param, values);
	case CONFIG_TYPE_BOOL:
		return set_bool(p, param, values);
	case CONFIG_TYPE_ENUM:
		return set_enum(p, param, values);
	default:
		return set_number(p, param, values);
	}
}

void
config_params_set_defaults(struct config_parser *p)
{
	for (size_t i = 0; i < config_nparams; i++) {
		const struct config_param *param = &config_params[i];
		struct config_word w;

		if (param->def == NULL)
			continue;
		w.s = param->def;
		w.len = strlen(param->def);
		if (config_param_set(p, param, &w, 1) < 0)
			panic("config: bad default for %s", param->name);
	}
}

/* --- queries --------------------------------------------------------- */

const char *
config_recipient_delimiter(const struct config *cfg)
{
	return strcmp(cfg->recipient_delimiter, "none") == 0
	               ? ""
	               : cfg->recipient_delimiter;
}

bool
config_is_local_domain(const struct config *cfg, const char *domain)
{
	size_t len;

	if (cfg == NULL || domain == NULL)
		return false;
	len = strlen(domain);
	/* "example.test." names the same domain (absolute form) */
	if (len > 1 && domain[len - 1] == '.')
		len--;
	for (size_t i = 0; i < cfg->ndomains; i++) {
		if (str_eq_ci(domain, len, cfg->domains[i]))
			return true;
	}
	return false;
}

bool
config_is_relay_client(const struct config *cfg, const struct sockaddr *sa)
{
	uint8_t v6[16] = {0};
	const uint8_t *v4 = v6 + 12;

	if (cfg == NULL || sa == NULL)
		return false;
	/* Hold the client both ways: an IPv4 client of a dual-stack socket
	 * arrives as ::ffff:a.b.c.d (RFC 4291 2.5.5.2) and must match the
	 * IPv4 networks, and the other way round. */
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in sin;

		memcpy(&sin, sa, sizeof(sin));
		v6[10] = 0xff;
		v6[11] = 0xff;
		memcpy(v6 + 12, &sin.sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 sin6;

		memcpy(&sin6, sa, sizeof(sin6));
		memcpy(v6, &sin6.sin6_addr, 16);
		if (!IN6_IS_ADDR_V4MAPPED(&sin6.sin6_addr))
			v4 = NULL;
	} else {
		return false;
	}
	for (size_t i = 0; i < cfg->nrelay_networks; i++) {
		const struct config_net *net = &cfg->relay_networks[i];

		if (net->family == AF_INET && v4 != NULL &&
		    net_bits_equal(v4, net->addr, net->prefix))
			return true;
		if (net->family == AF_INET6 &&
		    net_bits_equal(v6, net->addr, net->prefix))
			return true;
	}
	return false;
}

/* --- dump and compare ------------------------------------------------ */

/* Writes a word so that the lexer reads it back unchanged: bare when it
 * is plain printable ASCII, quoted and escaped otherwise. */
static void
dump_word(struct config_text *t, const char *s)
{
	bool bare = *s != '\0';

	for (const char *c = s; *c != '\0' && bare; c++) {
		unsigned char u = (unsigned char)*c;

		bare = u > 0x20 && u < 0x7f && u != '"' && u != '#' &&
		       u != '\\';
	}
	if (bare) {
		config_text_add(t, s, strlen(s));
		return;
	}
	config_text_add(t, "\"", 1);
	for (const char *c = s; *c != '\0'; c++) {
		if (*c == '"' || *c == '\\')
			config_text_add(t, "\\", 1);
		config_text_add(t, c, 1);
	}
	config_text_add(t, "\"", 1);
}

static const char *
enum_name(const struct config_param *param, uint64_t v)
{
	for (const struct config_enum_value *e = param->values; e->name != NULL;
	     e++) {
		if (e->value == v)
			return e->name;
	}
	panic("config: %s holds %llu, which has no name", param->name,
	      (unsigned long long)v);
}

static void
dump_param(struct config_text *t, const struct config *cfg,
           const struct config_param *param)
{
	char text[96];

	switch (param->type) {
	case CONFIG_TYPE_DOMAINS:
		for (size_t i = 0; i < cfg->ndomains; i++) {
			config_text_addf(t, "%s ", param->name);
			dump_word(t, cfg->domains[i]);
			config_text_addf(t, "\n");
		}
		return;
	case CONFIG_TYPE_NETWORKS:
		for (size_t i = 0; i < cfg->nrelay_networks; i++) {
			net_format(&cfg->relay_networks[i], text, sizeof(text));
			config_text_addf(t, "%s %s\n", param->name, text);
		}
		return;
	case CONFIG_TYPE_LISTEN:
		for (size_t i = 0; i < cfg->nlistens; i++) {
			listen_format_addr(&cfg->listens[i], text,
			                   sizeof(text));
			config_text_addf(
			        t, "%s %s %s\n", param->name,
			        config_proto_name(cfg->listens[i].proto), text);
		}
		return;
	case CONFIG_TYPE_STRING:
	case CONFIG_TYPE_PATH:
		/* An optional path that is not set is written as nothing. */
		if (field_string_get(cfg, param) == NULL)
			return;
		config_text_addf(t, "%s ", param->name);
		dump_word(t, field_string_get(cfg, param));
		config_text_addf(t, "\n");
		return;
	case CONFIG_TYPE_BOOL:
		config_text_addf(t, "%s %s\n", param->name,
		                 field_get(cfg, param) ? "yes" : "no");
		return;
	case CONFIG_TYPE_ENUM:
		config_text_addf(t, "%s %s\n", param->name,
		                 enum_name(param, field_get(cfg, param)));
		return;
	default:
		format_number(param, field_get(cfg, param), text, sizeof(text));
		config_text_addf(t, "%s %s\n", param->name, text);
		return;
	}
}

char *
config_dump(const struct config *cfg)
{
	struct config_text t = {NULL, 0};

	config_text_addf(&t, "# postern configuration in canonical form: "
	                     "every setting, defaults included\n");
	for (size_t i = 0; i < config_nparams; i++)
		dump_param(&t, cfg, &config_params[i]);
	return t.s;
}

static bool
param_equal(const struct config *a, const struct config *b,
            const struct config_param *param)
{
	switch (param->type) {
	case CONFIG_TYPE_DOMAINS:
		if (a->ndomains != b->ndomains)
			return false;
		for (size_t i = 0; i < a->ndomains; i++) {
			if (strcmp(a->domains[i], b->domains[i]) != 0)
				return false;
		}
		return true;
	case CONFIG_TYPE_NETWORKS:
		if (a->nrelay_networks != b->nrelay_networks)
			return false;
		for (size_t i = 0; i < a->nrelay_networks; i++) {
			const struct config_net *x = &a->relay_networks[i];
			const struct config_net *y = &b->relay_networks[i];

			if (x->family != y->family || x->prefix != y->prefix ||
			    memcmp(x->addr, y->addr, sizeof(x->addr)) != 0)
				return false;
		}
		return true;
	case CONFIG_TYPE_LISTEN:
		if (a->nlistens != b->nlistens)
			return false;
		for (size_t i = 0; i < a->nlistens; i++) {
			const struct config_listen *x = &a->listens[i];
			const struct config_listen *y = &b->listens[i];

			if (x->proto != y->proto || x->port != y->port ||
			    strcmp(x->addr, y->addr) != 0)
				return false;
		}
		return true;
	case CONFIG_TYPE_STRING:
	case CONFIG_TYPE_PATH: {
		const char *x = field_string_get(a, param);
		const char *y = field_string_get(b, param);

		return x == NULL || y == NULL ? x == y : strcmp(x, y) == 0;
	}
	default:
		return field_get(a, param) == field_get(b, param);
	}
}

bool
config_equal(const struct config *a, const struct config *b)
{
	for (size_t i = 0; i < config_nparams; i++) {
		if (!param_equal(a, b, &config_params[i]))
			return false;
	}
	return true;
}
