/*
 * lexer — cuts postern.conf text into lines and lines into words.
 *
 * Lines end in LF (a CR before it is dropped). `#` outside quotes starts a
 * comment. Words are separated by spaces and tabs; a word may be written
 * in double quotes, where \" and \\ stand for " and \. Everything is
 * bounded: a line may hold CONFIG_LINE_MAX bytes and CONFIG_WORDS_MAX
 * words, and NUL bytes and other control characters are refused, so every
 * word the parser sees is printable text that config_dump can write back.
 * Run by the parent, every role (to read the parent's dump) and the
 * `postern check` command. No allocation, no I/O.
 */
#include "config/config_priv.h"

#include <stdio.h>
#include <string.h>

void
config_lexer_init(struct config_lexer *lx, const char *text, size_t len)
{
	memset(lx, 0, sizeof(*lx));
	lx->text = text;
	lx->len = len;
}

static bool
lexer_is_space(char c)
{
	return c == ' ' || c == '\t';
}

static bool
lexer_is_control(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* Refuses bytes no configuration value may hold. */
static int
lexer_check_bytes(struct config_lexer *lx, const char *s, size_t len,
                  const char **error_r)
{
	if (memchr(s, '\0', len) != NULL) {
		*error_r = "NUL byte in line";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (lexer_is_control(c)) {
			snprintf(lx->error, sizeof(lx->error),
			         "control character 0x%02x in line", c);
			*error_r = lx->error;
			return -1;
		}
	}
	return 0;
}

/* Reads a quoted word starting after its opening quote at s[*i]; leaves
 * *i after the closing quote. */
static int
lexer_quoted(const char *s, size_t len, size_t *i, char *out, size_t *o,
             const char **error_r)
{
	while (*i < len) {
		char c = s[(*i)++];

		if (c == '"')
			return 0;
		if (c == '\\') {
			if (*i >= len)
				break;
			c = s[(*i)++];
			if (c != '"' && c != '\\') {
				*error_r = "invalid escape in quoted value "
				           "(only \\\" and \\\\ are allowed)";
				return -1;
			}
		}
		out[(*o)++] = c;
	}
	*error_r = "unterminated quote";
	return -1;
}

/* Splits one line (already checked by lexer_check_bytes) into words. */
static int
lexer_split(struct config_lexer *lx, const char *s, size_t len,
            const char **error_r)
{
	size_t i = 0;
	size_t o = 0;

	lx->nwords = 0;
	for (;;) {
		size_t start;

		while (i < len && lexer_is_space(s[i]))
			i++;
		if (i >= len || s[i] == '#')
			return 0;
		if (lx->nwords == CONFIG_WORDS_MAX) {
			snprintf(lx->error, sizeof(lx->error),
			         "too many values on one line (at most %d)",
			         CONFIG_WORDS_MAX);
			*error_r = lx->error;
			return -1;
		}
		start = o;
		if (s[i] == '"') {
			i++;
			if (lexer_quoted(s, len, &i, lx->scratch, &o, error_r) <
			    0)
				return -1;
			if (i < len && !lexer_is_space(s[i]) && s[i] != '#') {
				*error_r = "missing space after closing quote";
				return -1;
			}
		} else {
			while (i < len && !lexer_is_space(s[i]) &&
			       s[i] != '#') {
				if (s[i] == '"') {
					*error_r = "unexpected quote inside "
					           "a value (quote the whole "
					           "value)";
					return -1;
				}
				lx->scratch[o++] = s[i++];
			}
		}
		/* Unescaped text is never longer than its source, and each
		 * word's NUL takes the place of at least one separator or
		 * quote, so the scratch space of line length + 2 holds it. */
		lx->scratch[o++] = '\0';
		lx->words[lx->nwords].s = lx->scratch + start;
		lx->words[lx->nwords].len = o - 1 - start;
		lx->nwords++;
	}
}

enum config_lex_result
config_lexer_next(struct config_lexer *lx, const char **error_r)
{
	while (lx->pos < lx->len) {
		const char *s = lx->text + lx->pos;
		size_t rest = lx->len - lx->pos;
		const char *nl = memchr(s, '\n', rest);
		size_t len = nl != NULL ? (size_t)(nl - s) : rest;

		lx->pos += nl != NULL ? len + 1 : len;
		lx->line++;
		if (len > 0 && s[len - 1] == '\r')
			len--;
		if (len > CONFIG_LINE_MAX) {
			snprintf(lx->error, sizeof(lx->error),
			         "line too long (more than %d bytes)",
			         CONFIG_LINE_MAX);
			*error_r = lx->error;
			return CONFIG_LEX_ERROR;
		}
		if (lexer_check_bytes(lx, s, len, error_r) < 0 ||
		    lexer_split(lx, s, len, error_r) < 0)
			return CONFIG_LEX_ERROR;
		if (lx->nwords > 0)
			return CONFIG_LEX_LINE;
	}
	return CONFIG_LEX_EOF;
}
