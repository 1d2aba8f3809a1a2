/*
 * queue — the role that owns the spool and delivers into mailboxes: see
 * queue.c and docs/queue.md.
 */
#ifndef POSTERN_QUEUE_QUEUE_H
#define POSTERN_QUEUE_QUEUE_H

#include "core/role.h"

extern const struct role_ops queue_role_ops;

#endif
