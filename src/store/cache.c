/*
 * cache — what the local store's index keeps about a message's contents,
 * computed once at delivery or append from the mapped file: the size with
 * CRLF line ends (RFC822.SIZE, the W= of the file name) and the strings
 * IMAP asks for most (ENVELOPE, BODYSTRUCTURE, BODY, a few header fields).
 *
 * XXX(#store) the seam to the mime module: src/mime (mime_parse(),
 * mime_envelope(), mime_bodystructure(), mime_header_get()) was not yet
 * committed when this was written, so only the size is computed and the
 * cached strings stay NULL (the index columns exist; readers treat NULL
 * as "not cached" and may fill it with store_cache_update()). Filling
 * them is this file's job alone: parse `msg`, set envelope, bodystructure,
 * body and hdr[] (owned strings), free the tree.
 */
#include "store/store_priv.h"

#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

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
	memset(c, 0, sizeof(*c));
	c->vsize = store_crlf_size(msg, len);
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
