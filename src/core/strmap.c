/*
 * strmap — string-keyed hash map (see strmap.h). Pure data structure, no
 * I/O; used wherever a role indexes strings (the users and aliases files
 * and recipient resolution in the auth role and the admin tool).
 *
 * Invariants: nslots is 0 or a power of two; count * 2 <= nslots, so at
 * least half the slots are empty and a linear probe always reaches one;
 * an empty slot has key NULL (the empty string is a non-NULL key like
 * any other).
 */
#include "core/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"
#include "core/xalloc.h"

/* Slots of the first table: room for 8 keys. */
#define STRMAP_SLOTS_MIN 16

void
strmap_init(struct strmap *map, enum strmap_keys keys)
{
	memset(map, 0, sizeof(*map));
	map->keys = keys;
}

/* Frees a key the map copied. strmap_put made it with xstrdup, so it was
 * never const; the uintptr_t round trip says so without -Wcast-qual. */
static void
strmap_key_free(const char *key)
{
	free((void *)(uintptr_t)key);
}

void
strmap_deinit(struct strmap *map)
{
	if (map == NULL)
		return;
	if (map->keys == STRMAP_KEYS_COPIED) {
		for (size_t i = 0; i < map->nslots; i++)
			strmap_key_free(map->slots[i].key);
	}
	free(map->slots);
	strmap_init(map, map->keys);
}

/* The index of the slot holding `key`, or of the empty slot where it
 * belongs. The table must be allocated. */
static size_t
strmap_slot_find(const struct strmap *map, const char *key)
{
	size_t mask = map->nslots - 1;
	size_t i = (size_t)str_hash(key, strlen(key)) & mask;

	while (map->slots[i].key != NULL && strcmp(map->slots[i].key, key) != 0)
		i = (i + 1) & mask;
	return i;
}

/* Moves every key into a new table of `nslots` slots (a power of two,
 * more than twice the count); keys keep their owner. */
static void
strmap_resize(struct strmap *map, size_t nslots)
{
	struct strmap bigger = {.keys = map->keys, .count = map->count};

	bigger.nslots = nslots;
	bigger.slots = xcalloc(bigger.nslots, sizeof(*bigger.slots));
	for (size_t i = 0; i < map->nslots; i++) {
		if (map->slots[i].key != NULL)
			bigger.slots[strmap_slot_find(
			        &bigger, map->slots[i].key)] = map->slots[i];
	}
	free(map->slots);
	*map = bigger;
}

void
strmap_reserve(struct strmap *map, size_t n)
{
	size_t nslots = map->nslots ? map->nslots : STRMAP_SLOTS_MIN;

	/* nslots / 2 >= n is the half-full bound without computing n * 2.
	 * An n no memory could hold stops the doubling before nslots
	 * overflows, and then xcalloc aborts on the size. */
	while (nslots / 2 < n && nslots <= SIZE_MAX / 2)
		nslots *= 2;
	if (nslots != map->nslots)
		strmap_resize(map, nslots);
}

int
strmap_put(struct strmap *map, const char *key, size_t value,
           size_t *existing_r)
{
	size_t i = 0;

	if (map->nslots != 0) {
		i = strmap_slot_find(map, key);
		if (map->slots[i].key != NULL) {
			if (existing_r != NULL)
				*existing_r = map->slots[i].value;
			return -1;
		}
	}
	if ((map->count + 1) * 2 > map->nslots) {
		strmap_resize(map,
		              map->nslots ? map->nslots * 2 : STRMAP_SLOTS_MIN);
		i = strmap_slot_find(map, key);
	}
	map->slots[i].key =
	        map->keys == STRMAP_KEYS_COPIED ? xstrdup(key) : key;
	map->slots[i].value = value;
	map->count++;
	return 0;
}

bool
strmap_get(const struct strmap *map, const char *key, size_t *value_r)
{
	const struct strmap_slot *slot;

	if (map->nslots == 0)
		return false;
	slot = &map->slots[strmap_slot_find(map, key)];
	if (slot->key == NULL)
		return false;
	if (value_r != NULL)
		*value_r = slot->value;
	return true;
}

size_t
strmap_count(const struct strmap *map)
{
	return map->count;
}
