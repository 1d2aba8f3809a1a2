/*
 * cache — what the local store's index keeps about a message's contents,
 * computed once at delivery, append or adoption from the mapped file: the
 * size with CRLF line ends (RFC822.SIZE, the W= of the file name) and the
 * strings IMAP asks for most, built by the mime module: ENVELOPE, BODY
 * and BODYSTRUCTURE (RFC 3501 7.4.2) and a few header fields for SORT,
 * THREAD and SEARCH.
 *
 * The mime parser never fails and is bounded by the message size times
 * its nesting bound, so a hostile message costs time in proportion to
 * its size only.
 */
#include "store/store_priv.h"

#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "mime/mime.h"

/* The header fields cached, in enum store_hdr order. */
static const char *const cache_headers[STORE_HDR_COUNT] = {
        "Date", "Subject", "From", "To", "Cc", "Message-ID", "References",
};

uint64_t
store_crlf_size(const char *msg, size_t len)
{
	uint64_t size = len;
	const char *p = msg, *end = msg + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if (nl == NULL)
			break;
		if (nl == msg || nl[-1] != '\r')
			size++;
		p = nl + 1;
	}
	return size;
}

void
store_cache_compute(const char *msg, size_t len, struct store_cache_data *c)
{
	struct mime_part *root;

	memset(c, 0, sizeof(*c));
	c->vsize = store_crlf_size(msg, len);
	root = mime_parse(msg, len, NULL);
	c->envelope = mime_envelope(root);
	c->bodystructure = mime_bodystructure(root, true);
	c->body = mime_bodystructure(root, false);
	for (int i = 0; i < STORE_HDR_COUNT; i++)
		c->hdr[i] = mime_header_get(root, cache_headers[i]);
	mime_part_free(&root);
}

void
store_cache_data_deinit(struct store_cache_data *c)
{
	XFREE(c->envelope);
	XFREE(c->bodystructure);
	XFREE(c->body);
	for (int i = 0; i < STORE_HDR_COUNT; i++)
		XFREE(c->hdr[i]);
}
