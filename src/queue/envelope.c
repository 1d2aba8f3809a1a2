/*
 * envelope — serializer and strict parser of queue envelopes (format in
 * envelope.h). Pure memory functions; the queue role does the file I/O.
 */
#include "queue/envelope.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/str.h"
#include "core/xalloc.h"
#include "log/log.h"

#define ENVELOPE_MAGIC "POSTERN-ENVELOPE 1\n"
/* Longest value of any one record. */
#define ENVELOPE_MAX_VALUE 4096

static const char *const state_names[] = {"pending", "delivered", "failed"};
static const char *const ret_names[] = {"", "full", "hdrs"};

const char *
envelope_state_name(enum envelope_state state)
{
	return state_names[state];
}

struct envelope *
envelope_new(void)
{
	struct envelope *env = xmalloc(sizeof(*env));

	env->sender = xstrdup("");
	env->envid = xstrdup("");
	return env;
}

struct envelope_rcpt *
envelope_add_rcpt(struct envelope *env, const char *address)
{
	struct envelope_rcpt *r;

	env->rcpts =
	        xrealloc(env->rcpts, (env->nrcpts + 1) * sizeof(*env->rcpts));
	r = &env->rcpts[env->nrcpts++];
	memset(r, 0, sizeof(*r));
	r->address = xstrdup(address);
	r->orcpt = xstrdup("");
	r->error = xstrdup("");
	return r;
}

void
envelope_free(struct envelope **envp)
{
	struct envelope *env = *envp;

	if (env == NULL)
		return;
	for (size_t i = 0; i < env->nrcpts; i++) {
		free(env->rcpts[i].address);
		free(env->rcpts[i].orcpt);
		free(env->rcpts[i].error);
	}
	free(env->rcpts);
	free(env->sender);
	free(env->envid);
	free(env);
	*envp = NULL;
}

/* --- serializer ----------------------------------------------------------- */

static void
put(struct buf *b, const char *tag, const char *value, size_t len)
{
	if (buf_printf(b, "%s %zu:", tag, len) < 0 ||
	    buf_append(b, value, len) < 0 || buf_append(b, "\n", 1) < 0)
		panic("envelope larger than %u bytes", ENVELOPE_MAX_SIZE);
}

static void
put_str(struct buf *b, const char *tag, const char *value)
{
	put(b, tag, value, strlen(value));
}

static void
put_num(struct buf *b, const char *tag, uint64_t v)
{
	char num[24];

	snprintf(num, sizeof(num), "%" PRIu64, v);
	put_str(b, tag, num);
}

char *
envelope_serialize(const struct envelope *env, size_t *len_r)
{
	struct buf b;
	char *out;

	buf_init(&b, ENVELOPE_MAX_SIZE);
	if (buf_append(&b, ENVELOPE_MAGIC, strlen(ENVELOPE_MAGIC)) < 0)
		panic("envelope buffer");
	put_str(&b, "id", env->id);
	put_num(&b, "created", (uint64_t)env->created);
	put_str(&b, "sender", env->sender);
	put_num(&b, "size", env->size);
	put_num(&b, "body", env->body_offset);
	if (env->ret != ENVELOPE_RET_DEFAULT)
		put_str(&b, "ret", ret_names[env->ret]);
	if (env->envid[0] != '\0')
		put_str(&b, "envid", env->envid);
	if (env->smtputf8)
		put_num(&b, "smtputf8", 1);
	if (env->eightbit)
		put_num(&b, "8bit", 1);
	for (size_t i = 0; i < env->nrcpts; i++) {
		const struct envelope_rcpt *r = &env->rcpts[i];

		put_str(&b, "rcpt", r->address);
		if (r->notify != 0)
			put_num(&b, "notify", r->notify);
		if (r->orcpt[0] != '\0')
			put_str(&b, "orcpt", r->orcpt);
		put_str(&b, "state", state_names[r->state]);
		put_num(&b, "attempts", r->attempts);
		put_num(&b, "next", (uint64_t)r->next_attempt);
		if (r->error[0] != '\0')
			put_str(&b, "error", r->error);
	}
	put(&b, "end", "", 0);
	*len_r = buf_len(&b);
	out = xmalloc(*len_r + 1);
	memcpy(out, buf_data(&b), *len_r);
	buf_deinit(&b);
	return out;
}

/* --- parser --------------------------------------------------------------- */

struct reader {
	const char *p;
	size_t left;
};

/* Reads one record; returns 1, 0 at the end of input, or -1. */
static int
next_record(struct reader *r, char *tag, size_t tagsz, const char **value_r,
            size_t *len_r)
{
	const char *sp, *colon;
	size_t taglen;
	uint64_t len;

	if (r->left == 0)
		return 0;
	sp = memchr(r->p, ' ', r->left < 32 ? r->left : 32);
	if (sp == NULL)
		return -1;
	taglen = (size_t)(sp - r->p);
	if (taglen == 0 || taglen >= tagsz)
		return -1;
	for (size_t i = 0; i < taglen; i++) {
		char c = r->p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			return -1;
	}
	memcpy(tag, r->p, taglen);
	tag[taglen] = '\0';
	colon = memchr(sp + 1, ':',
	               r->left - taglen - 1 < 12 ? r->left - taglen - 1 : 12);
	if (colon == NULL || str_parse_u64(sp + 1, (size_t)(colon - sp - 1),
	                                   ENVELOPE_MAX_VALUE, &len) < 0)
		return -1;
	r->left -= (size_t)(colon + 1 - r->p);
	r->p = colon + 1;
	if (len + 1 > r->left || r->p[len] != '\n')
		return -1;
	*value_r = r->p;
	*len_r = (size_t)len;
	r->p += len + 1;
	r->left -= len + 1;
	return 1;
}

static int
value_u64(const char *v, size_t len, uint64_t max, uint64_t *out)
{
	return str_parse_u64(v, len, max, out);
}

/* Strings may not hold NUL or line ends: addresses and texts only. */
static char *
value_str(const char *v, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (v[i] == '\0' || v[i] == '\n' || v[i] == '\r')
			return NULL;
	}
	return xstrndup(v, len);
}

static int
set_str(char **field, const char *v, size_t len)
{
	char *s = value_str(v, len);

	if (s == NULL)
		return -1;
	free(*field);
	*field = s;
	return 0;
}

static int
parse_rcpt_field(struct envelope_rcpt *r, const char *tag, const char *v,
                 size_t len)
{
	uint64_t n;

	if (strcmp(tag, "notify") == 0) {
		if (value_u64(v, len, 0xf, &n) < 0)
			return -1;
		r->notify = (unsigned)n;
		return 0;
	}
	if (strcmp(tag, "orcpt") == 0)
		return set_str(&r->orcpt, v, len);
	if (strcmp(tag, "error") == 0)
		return set_str(&r->error, v, len);
	if (strcmp(tag, "attempts") == 0) {
		if (value_u64(v, len, UINT32_MAX, &n) < 0)
			return -1;
		r->attempts = (uint32_t)n;
		return 0;
	}
	if (strcmp(tag, "next") == 0) {
		if (value_u64(v, len, INT64_MAX, &n) < 0)
			return -1;
		r->next_attempt = (int64_t)n;
		return 0;
	}
	if (strcmp(tag, "state") == 0) {
		for (size_t i = 0; i < 3; i++) {
			if (str_eq_ci(v, len, state_names[i])) {
				r->state = (enum envelope_state)i;
				return 0;
			}
		}
	}
	return -1;
}

static int
parse_msg_field(struct envelope *env, const char *tag, const char *v,
                size_t len)
{
	uint64_t n;

	if (strcmp(tag, "id") == 0) {
		if (len == 0 || len >= sizeof(env->id))
			return -1;
		for (size_t i = 0; i < len; i++) {
			if (!((v[i] >= '0' && v[i] <= '9') ||
			      (v[i] >= 'A' && v[i] <= 'F')))
				return -1;
		}
		memcpy(env->id, v, len);
		env->id[len] = '\0';
		return 0;
	}
	if (strcmp(tag, "created") == 0 &&
	    value_u64(v, len, INT64_MAX, &n) == 0) {
		env->created = (int64_t)n;
		return 0;
	}
	if (strcmp(tag, "sender") == 0)
		return set_str(&env->sender, v, len);
	if (strcmp(tag, "envid") == 0)
		return set_str(&env->envid, v, len);
	if (strcmp(tag, "size") == 0)
		return value_u64(v, len, UINT64_MAX, &env->size);
	if (strcmp(tag, "body") == 0)
		return value_u64(v, len, UINT64_MAX, &env->body_offset);
	if ((strcmp(tag, "smtputf8") == 0 || strcmp(tag, "8bit") == 0) &&
	    value_u64(v, len, 1, &n) == 0) {
		if (tag[0] == 's')
			env->smtputf8 = n != 0;
		else
			env->eightbit = n != 0;
		return 0;
	}
	if (strcmp(tag, "ret") == 0) {
		for (size_t i = 1; i < 3; i++) {
			if (str_eq_ci(v, len, ret_names[i])) {
				env->ret = (enum envelope_ret)i;
				return 0;
			}
		}
	}
	return -1;
}

struct envelope *
envelope_parse(const char *data, size_t len, const char **error_r)
{
	struct reader r;
	struct envelope *env;
	bool ended = false, have_id = false;
	size_t magic = strlen(ENVELOPE_MAGIC);

	if (len > ENVELOPE_MAX_SIZE || len < magic ||
	    memcmp(data, ENVELOPE_MAGIC, magic) != 0) {
		*error_r = "not a version 1 envelope";
		return NULL;
	}
	r.p = data + magic;
	r.left = len - magic;
	env = envelope_new();
	for (;;) {
		char tag[16];
		const char *v;
		size_t vlen;
		int rc = next_record(&r, tag, sizeof(tag), &v, &vlen);

		if (rc == 0)
			break;
		if (rc < 0 || ended) {
			*error_r = ended ? "data after the end record"
			                 : "malformed record";
			goto fail;
		}
		if (strcmp(tag, "end") == 0) {
			ended = vlen == 0;
			if (!ended)
				goto bad;
			continue;
		}
		if (strcmp(tag, "rcpt") == 0) {
			char *a = value_str(v, vlen);

			if (a == NULL || vlen == 0 ||
			    env->nrcpts == ENVELOPE_MAX_RCPTS) {
				free(a);
				goto bad;
			}
			envelope_add_rcpt(env, a);
			free(a);
			continue;
		}
		if (strcmp(tag, "id") == 0)
			have_id = true;
		if (env->nrcpts > 0 &&
		    parse_rcpt_field(&env->rcpts[env->nrcpts - 1], tag, v,
		                     vlen) == 0)
			continue;
		if (env->nrcpts == 0 && parse_msg_field(env, tag, v, vlen) == 0)
			continue;
		goto bad;
	}
	if (!ended || !have_id || env->nrcpts == 0) {
		*error_r = !ended ? "missing end record"
		                  : "missing id or recipients";
		goto fail;
	}
	return env;
bad:
	*error_r = "unknown record or bad value";
fail:
	envelope_free(&env);
	return NULL;
}
