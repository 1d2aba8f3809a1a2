/*
 * strmap — a hash map from NUL-terminated string keys to size_t values,
 * typically indexes into an array the caller owns.
 *
 * Open addressing with linear probing over str_hash (FNV-1a); the table
 * is never more than half full, so every probe ends, and it doubles when
 * a put would pass that (or is sized once by strmap_reserve). Lookups
 * never allocate. There is no removal: every user builds a map, queries
 * it and throws it away.
 *
 * Keys are compared byte for byte: callers that want case-insensitive
 * keys fold them before put and get. The hash is unkeyed (see str_hash),
 * so a map filled from peer input needs a bound on its size.
 *
 * A struct strmap is embedded in its owner; all-zero bytes are a valid
 * empty map that borrows its keys, the same as after
 * strmap_init(map, STRMAP_KEYS_BORROWED).
 */
#ifndef POSTERN_CORE_STRMAP_H
#define POSTERN_CORE_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

/* Who owns the keys of a map. */
enum strmap_keys {
	/* The map borrows each key: it must stay valid and unchanged until
	 * strmap_deinit. For keys that live in a buffer the owner of the
	 * map keeps anyway (a parsed file). */
	STRMAP_KEYS_BORROWED = 0,
	/* strmap_put copies each new key; the map owns the copies and
	 * frees them in strmap_deinit. For keys built in temporary buffers.
	 */
	STRMAP_KEYS_COPIED,
};

struct strmap_slot {
	const char *key; /* NULL: the slot is empty */
	size_t value;
};

/* Fields are private to strmap.c; the struct is here so that owners can
 * embed it. */
struct strmap {
	struct strmap_slot *slots;
	size_t nslots; /* 0 (nothing allocated yet) or a power of two */
	size_t count;
	enum strmap_keys keys;
};

/* Makes `map` an empty map whose keys are handled as `keys` says.
 * Allocates nothing until the first put. */
void strmap_init(struct strmap *map, enum strmap_keys keys);

/*
 * Frees what the map holds (and the keys it copied) and leaves it empty,
 * as after strmap_init with the same key mode, so deinit may be called
 * again. Accepts NULL and an all-zero map.
 */
void strmap_deinit(struct strmap *map);

/* Makes room for `n` keys in all, so that puts up to that count do not
 * grow the table again; for owners that know their count up front. */
void strmap_reserve(struct strmap *map, size_t n);

/*
 * Maps `key` to `value` unless the key is already present. Returns 0
 * when the key was added; -1 when it was present, leaving the map
 * unchanged and, if `existing_r` is not NULL, setting *existing_r to the
 * value already stored (a set ignores the result; an index reports the
 * duplicate). `key` is borrowed or copied as the map's key mode says.
 * Grows the table as needed (aborts only when memory runs out).
 */
int strmap_put(struct strmap *map, const char *key, size_t value,
               size_t *existing_r);

/*
 * True if `key` (borrowed for the call) is in the map; then sets
 * *value_r, unless it is NULL, to its value. Runs in constant expected
 * time and never allocates.
 */
bool strmap_get(const struct strmap *map, const char *key, size_t *value_r);

/* Number of keys in the map. */
size_t strmap_count(const struct strmap *map);

#endif
