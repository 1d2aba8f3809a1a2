/*
 * limits — concurrent sessions per client address, counted across every
 * smtp worker process.
 *
 * The parent creates one shared table (a memfd) with a row of counters per
 * worker and hands it to each worker with its row number. A worker writes
 * only its own row and reads all rows, so no locks are needed; a
 * restarted worker zeroes its row, since the sessions it counted died with
 * its predecessor. Addresses are hashed into a fixed number of buckets
 * (IPv6 by its /64, the unit one customer usually gets): two addresses
 * that share a bucket share a limit, which errs on the strict side.
 */
#ifndef POSTERN_SMTP_LIMITS_H
#define POSTERN_SMTP_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define LIMITS_BUCKETS 16384

/* Bytes of the shared table for `nworkers` workers. */
size_t limits_table_size(unsigned nworkers);

/* Maps the table from `fd` (taken over) for worker `index` of `nworkers`
 * and zeroes this worker's row. Returns 0 or -1. */
int limits_attach(int fd, unsigned index, unsigned nworkers)
        __attribute__((warn_unused_result));

/* The bucket of a client address; sa may be NULL (a local pipe). */
uint32_t limits_bucket(const struct sockaddr *sa);

/* Sessions currently counted for `bucket` by all workers (0 when the
 * table is not attached: no limit). */
unsigned limits_count(uint32_t bucket);

/* Counts one more / one fewer session of this worker in `bucket`. */
void limits_add(uint32_t bucket);
void limits_remove(uint32_t bucket);

#endif
