/*
 * limits — the shared per-address session table of the smtp workers (see
 * limits.h). Runs in every smtp worker.
 */
#include "smtp/limits.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/str.h"

static uint32_t *table;   /* nworkers rows of LIMITS_BUCKETS counters */
static uint32_t *own_row; /* this worker's row */
static unsigned workers;

size_t
limits_table_size(unsigned nworkers)
{
	return (size_t)nworkers * LIMITS_BUCKETS * sizeof(uint32_t);
}

int
limits_attach(int fd, unsigned index, unsigned nworkers)
{
	size_t size = limits_table_size(nworkers);
	void *p;

	if (index >= nworkers)
		return -1;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -1;
	table = p;
	workers = nworkers;
	own_row = table + (size_t)index * LIMITS_BUCKETS;
	for (size_t i = 0; i < LIMITS_BUCKETS; i++)
		__atomic_store_n(&own_row[i], 0, __ATOMIC_RELAXED);
	return 0;
}

/* Buckets are str_hash (FNV-1a) of the address bytes that identify a
 * client, modulo LIMITS_BUCKETS. */
uint32_t
limits_bucket(const struct sockaddr *sa)
{
	if (sa != NULL && sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		return (uint32_t)(str_hash(&s4->sin_addr, 4) % LIMITS_BUCKETS);
	}
	if (sa != NULL && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		/* An IPv4-mapped address counts as its IPv4 address. */
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			return (uint32_t)(str_hash(s6->sin6_addr.s6_addr + 12,
			                           4) %
			                  LIMITS_BUCKETS);
		return (uint32_t)(str_hash(s6->sin6_addr.s6_addr, 8) %
		                  LIMITS_BUCKETS);
	}
	return 0;
}

unsigned
limits_count(uint32_t bucket)
{
	unsigned n = 0;

	if (table == NULL)
		return 0;
	for (unsigned w = 0; w < workers; w++)
		n += __atomic_load_n(
		        &table[(size_t)w * LIMITS_BUCKETS + bucket],
		        __ATOMIC_RELAXED);
	return n;
}

void
limits_add(uint32_t bucket)
{
	if (own_row != NULL)
		__atomic_add_fetch(&own_row[bucket], 1, __ATOMIC_RELAXED);
}

void
limits_remove(uint32_t bucket)
{
	if (own_row != NULL && own_row[bucket] > 0)
		__atomic_sub_fetch(&own_row[bucket], 1, __ATOMIC_RELAXED);
}
