/*
 * arena — the bump allocator that owns a parsed MIME tree, so a tree of
 * any shape is freed in one call (mime_part_free()). Chunks are chained;
 * an allocation larger than a chunk gets a chunk of its own. Runs in any
 * role that parses messages (queue for indexing, mailbox for IMAP).
 */
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "log/log.h"
#include "mime/mime_priv.h"

#define ARENA_CHUNK 8192
#define ARENA_ALIGN alignof(max_align_t)

struct arena_chunk {
	struct arena_chunk *next;
	size_t used;
	size_t cap;
	alignas(max_align_t) unsigned char data[];
};

struct mime_arena {
	struct arena_chunk *chunks;
};

struct mime_arena *
mime_arena_new(void)
{
	return xmalloc(sizeof(struct mime_arena));
}

void
mime_arena_free(struct mime_arena **arena)
{
	struct arena_chunk *c, *next;

	if (*arena == NULL)
		return;
	for (c = (*arena)->chunks; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	XFREE(*arena);
}

static struct arena_chunk *
arena_chunk_new(size_t cap)
{
	size_t total;
	struct arena_chunk *c;

	if (!size_add(sizeof(struct arena_chunk), cap, &total))
		panic("mime arena: allocation of %zu bytes overflows", cap);
	c = xmalloc(total);
	c->cap = cap;
	return c;
}

void *
mime_arena_alloc(struct mime_arena *arena, size_t size)
{
	struct arena_chunk *c = arena->chunks;
	size_t need;

	if (!size_add(size, ARENA_ALIGN - 1, &need))
		panic("mime arena: allocation of %zu bytes overflows", size);
	need &= ~(ARENA_ALIGN - 1);
	if (need == 0)
		need = ARENA_ALIGN;
	if (c == NULL || c->cap - c->used < need) {
		if (need > ARENA_CHUNK / 4) {
			/* Large: its own chunk, linked behind the current
			 * one so the current chunk keeps serving. */
			struct arena_chunk *big = arena_chunk_new(need);

			if (c == NULL) {
				arena->chunks = big;
			} else {
				big->next = c->next;
				c->next = big;
			}
			big->used = need;
			return big->data;
		}
		c = arena_chunk_new(ARENA_CHUNK);
		c->next = arena->chunks;
		arena->chunks = c;
	}
	void *p = c->data + c->used;

	c->used += need;
	/* Chunks come zeroed from xmalloc and are never reused. */
	return p;
}

char *
mime_arena_strndup(struct mime_arena *arena, const char *s, size_t n)
{
	size_t size;
	char *p;

	if (!size_add(n, 1, &size))
		panic("mime arena: string of %zu bytes overflows", n);
	p = mime_arena_alloc(arena, size);
	if (n > 0)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
mime_arena_strndup_upper(struct mime_arena *arena, const char *s, size_t n)
{
	char *p = mime_arena_strndup(arena, s, n);

	for (size_t i = 0; i < n; i++) {
		if (p[i] >= 'a' && p[i] <= 'z')
			p[i] = (char)(p[i] - 'a' + 'A');
	}
	return p;
}
