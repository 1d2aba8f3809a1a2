/*
 * config_priv — what lexer.c, parser.c and params.c share; never included
 * outside src/config/.
 *
 * The lexer cuts the text into lines and each line into words (quotes and
 * escapes removed). The parser looks the first word up in the typed table
 * of params.c and hands the rest to the row's setter, which stores the
 * value into struct config or reports an error through config_error().
 * Every bound on the input is one of the constants below.
 */
#ifndef POSTERN_CONFIG_CONFIG_PRIV_H
#define POSTERN_CONFIG_CONFIG_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

#define CONFIG_LINE_MAX   4096      /* bytes in one line, without LF */
#define CONFIG_WORDS_MAX  128       /* words in one line */
#define CONFIG_FILE_MAX   (1 << 20) /* bytes in one file */
#define CONFIG_ERRORS_MAX 50        /* errors reported before giving up */
#define CONFIG_LIST_MAX   1024      /* domains, networks, listeners */
#define CONFIG_PATH_MAX   4095      /* bytes in a resolved path */
#define CONFIG_PARAMS_MAX 64        /* rows in the table */
#define CONFIG_NAME_MAX   253       /* bytes in a domain name */

/* --- lexer.c ----------------------------------------------------------- */

/* One word of a line: a view into the lexer's scratch space, NUL
 * terminated, valid until the next config_lexer_next(). */
struct config_word {
	const char *s;
	size_t len;
};

struct config_lexer {
	const char *text; /* borrowed */
	size_t len;
	size_t pos;
	unsigned line; /* number of the line last returned, from 1 */
	struct config_word words[CONFIG_WORDS_MAX];
	size_t nwords;
	char scratch[CONFIG_LINE_MAX + 2];
	char error[96];
};

enum config_lex_result {
	CONFIG_LEX_LINE,  /* words[0..nwords) hold a line, nwords >= 1 */
	CONFIG_LEX_EOF,   /* no more lines */
	CONFIG_LEX_ERROR, /* line `line` is bad and was skipped */
};

/* Starts reading `len` bytes of `text` (borrowed until the last call). */
void config_lexer_init(struct config_lexer *lx, const char *text, size_t len);
/*
 * Returns the next line that holds at least one word, skipping blank and
 * comment-only lines. On CONFIG_LEX_ERROR *error_r points to a message
 * valid until the next call; the caller may go on with the next line.
 */
enum config_lex_result config_lexer_next(struct config_lexer *lx,
                                         const char **error_r);

/* --- params.c ---------------------------------------------------------- */

enum config_type {
	CONFIG_TYPE_STRING,
	CONFIG_TYPE_PATH,
	CONFIG_TYPE_BOOL,
	CONFIG_TYPE_UINT,
	CONFIG_TYPE_SIZE,     /* bytes; K, M, G suffixes (base 1024) */
	CONFIG_TYPE_DURATION, /* stored in ms; ms, s, m, h, d suffixes */
	CONFIG_TYPE_ENUM,
	CONFIG_TYPE_DOMAINS,  /* repeatable, one or more names per line */
	CONFIG_TYPE_NETWORKS, /* repeatable, one or more CIDRs per line */
	CONFIG_TYPE_LISTEN,   /* repeatable, PROTO ADDRESS:PORT */
};

struct config_enum_value {
	const char *name;
	unsigned value;
};

/* One row of the typed table: the only way a setting gets into a
 * struct config. */
struct config_param {
	const char *name;
	enum config_type type;
	/* Default, written as in the file; NULL when it is computed after
	 * the file is read (see `def_doc`) or when there is none. */
	const char *def;
	const char *def_doc; /* default for documentation when def is NULL */
	uint64_t min, max;   /* uint, size, duration (ms) */
	const char *doc;     /* one line */
	size_t offset;       /* of the field in struct config; scalars only */
	size_t size;         /* of that field */
	const struct config_enum_value *values; /* enum; NULL terminated */
	bool (*is_valid)(const char *s);        /* string: extra check */
	const char *expect; /* string: what is_valid wants, for messages */
};

extern const struct config_param config_params[];
extern const size_t config_nparams;

/* Returns the row named `name` (exact), or NULL. */
const struct config_param *config_param_find(const char *name);
/* True if `s` is a domain name: labels of letters, digits and inner
 * hyphens, 1 to 63 bytes each, 253 bytes at most, no empty label. */
bool config_name_is_valid(const char *s);

/* --- parser.c ---------------------------------------------------------- */

/* Text grown on demand: error lists and dumps. */
struct config_text {
	char *s;
	size_t len;
};

/* Appends `len` bytes of `s`; the text stays NUL terminated. */
void config_text_add(struct config_text *t, const char *s, size_t len);
void config_text_addf(struct config_text *t, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

struct config_parser {
	struct config *cfg;
	const char *name;     /* file name for messages (borrowed) */
	const char *base_dir; /* absolute; resolves relative paths */
	unsigned line;        /* line being handled; 0 while defaulting */
	struct config_text errors;
	unsigned nerrors;
	bool gave_up; /* CONFIG_ERRORS_MAX reached */
	/* line that first set each row of config_params (0: unset) */
	unsigned set_line[CONFIG_PARAMS_MAX];
	/* line of each element of the lists in cfg, for duplicate reports */
	unsigned domain_line[CONFIG_LIST_MAX];
	unsigned net_line[CONFIG_LIST_MAX];
	unsigned listen_line[CONFIG_LIST_MAX];
	struct config_lexer lexer;
};

/*
 * Records an error "NAME:LINE: message" (or "NAME: message" when `line`
 * is 0). After CONFIG_ERRORS_MAX errors it records one last line and sets
 * p->gave_up; later calls are ignored.
 */
void config_error(struct config_parser *p, unsigned line, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Stores the `n` values of one line into p->cfg through `param`, or
 * reports why not. Returns 0 or -1 (error reported). */
int config_param_set(struct config_parser *p, const struct config_param *param,
                     const struct config_word *values, size_t n);
/* Stores the default of every row that has a fixed one. */
void config_params_set_defaults(struct config_parser *p);
/* Returns the index of `param` in config_params. */
size_t config_param_index(const struct config_param *param);

/*
 * Resolves `path` against the absolute `base_dir` and removes empty and
 * "." components. Returns an owned absolute path, or NULL if the result
 * would be longer than CONFIG_PATH_MAX.
 */
char *config_path_resolve(const char *base_dir, const char *path);

#endif
