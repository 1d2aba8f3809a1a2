/*
 * fuzz_mime — the message parser on arbitrary bytes: builds the tree with
 * the default limits and with tight ones, checks the tree's invariants
 * (ranges nested and in bounds, sizes equal to the CRLF-counted length of
 * their ranges), produces every string the IMAP server will ask for, and,
 * for inputs without CR, checks that the same message with CRLF line ends
 * gives identical ENVELOPE and BODYSTRUCTURE strings. Any broken
 * invariant aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mime/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs longer than this skip the CRLF comparison (it doubles the
 * work). */
#define FUZZ_CRLF_MAX 65536

static void
fuzz_check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_mime: invariant broken: %s\n", what);
		abort();
	}
}

static void
fuzz_walk(const struct mime_part *p, size_t lo, size_t hi)
{
	struct mime_field f;
	size_t iter = 0, fields_end = p->header_start;
	unsigned int n = 0;
	char *s;

	fuzz_check(p->header_start >= lo && p->header_start <= p->header_end,
	           "header start");
	fuzz_check(p->header_end == p->body_start, "header end is body start");
	fuzz_check(p->body_start <= p->body_end && p->body_end <= hi,
	           "body range");
	fuzz_check(p->body_size == mime_crlf_size(p->msg + p->body_start,
	                                          p->body_end - p->body_start),
	           "body size");
	fuzz_check(p->header_size ==
	                   mime_crlf_size(p->msg + p->header_start,
	                                  p->header_end - p->header_start),
	           "header size");
	fuzz_check(p->type != NULL && p->subtype != NULL && p->encoding != NULL,
	           "content type set");
	while (mime_header_next(p, &iter, &f)) {
		fuzz_check(f.start >= fields_end && f.end > f.start &&
		                   f.end <= p->header_end,
		           "field range");
		fuzz_check(f.value >= p->msg + f.start &&
		                   f.value + f.value_len <= p->msg + f.end,
		           "field value");
		fields_end = f.end;
	}
	s = mime_part_filename(p);
	free(s);
	if (p->kind == MIME_PART_MESSAGE) {
		fuzz_check(p->child_count == 1 && p->children != NULL,
		           "message child");
		s = mime_envelope(p->children);
		free(s);
	}
	for (const struct mime_part *c = p->children; c != NULL; c = c->next) {
		fuzz_check(c->parent == p && c->depth == p->depth + 1,
		           "child links");
		fuzz_check(c->header_start >= p->body_start, "child inside");
		fuzz_check(c->header_start >= lo, "children in order");
		fuzz_check(p->kind != MIME_PART_LEAF, "leaf without children");
		fuzz_walk(c, p->body_start, p->body_end);
		lo = c->body_end;
		n++;
	}
	fuzz_check(n == p->child_count, "child count");
	fuzz_check(p->kind != MIME_PART_MULTIPART || n > 0,
	           "multipart has parts");
}

static void
fuzz_strings(const struct mime_part *root, char **env_r, char **bs_r)
{
	static const char *const sections[] = {
	        "1",   "2",     "1.1",   "1.2",     "2.1",
	        "2.2", "1.1.1", "3.1.2", "1.2.3.4",
	};
	char *s;

	*env_r = mime_envelope(root);
	*bs_r = mime_bodystructure(root, true);
	s = mime_bodystructure(root, false);
	free(s);
	s = mime_header_get_decoded(root, "Subject");
	free(s);
	s = mime_header_get(root, "From");
	free(s);
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		const struct mime_part *p = mime_part_find(root, sections[i]);

		if (p != NULL)
			(void)mime_part_message(p);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy, so reading past the end is caught. */
	char *msg = malloc(size ? size : 1);
	struct mime_limits tight = {
	        .max_depth = 4, .max_parts = 12, .max_params = 4};
	struct mime_part *root;
	char *env, *bs;

	memcpy(msg, data, size);
	root = mime_parse(msg, size, NULL);
	fuzz_check(root->header_size + root->body_size ==
	                   mime_crlf_size(msg, size),
	           "root covers the message");
	fuzz_walk(root, 0, size);
	fuzz_strings(root, &env, &bs);
	mime_part_free(&root);

	root = mime_parse(msg, size, &tight);
	fuzz_walk(root, 0, size);
	{
		char *e2, *b2;

		fuzz_strings(root, &e2, &b2);
		free(e2);
		free(b2);
	}
	mime_part_free(&root);

	if (size <= FUZZ_CRLF_MAX && memchr(msg, '\r', size) == NULL) {
		char *crlf = malloc(2 * size + 1);
		size_t n = 0;
		char *e2, *b2;

		for (size_t i = 0; i < size; i++) {
			if (msg[i] == '\n')
				crlf[n++] = '\r';
			crlf[n++] = msg[i];
		}
		root = mime_parse(crlf, n, NULL);
		fuzz_walk(root, 0, n);
		fuzz_strings(root, &e2, &b2);
		fuzz_check(strcmp(env, e2) == 0, "CRLF envelope");
		fuzz_check(strcmp(bs, b2) == 0, "CRLF bodystructure");
		free(e2);
		free(b2);
		mime_part_free(&root);
		free(crlf);
	}
	free(env);
	free(bs);
	free(msg);
	return 0;
}
