/*
 * auth — the role that alone reads the users file. It answers address
 * look-ups (does a local mailbox exist, what is its quota) and, with the
 * submission issue, password checks, so slow hashing never stalls a
 * session loop.
 */
#ifndef POSTERN_AUTH_AUTH_H
#define POSTERN_AUTH_AUTH_H

#include "core/role.h"

extern const struct role_ops auth_role_ops;

#endif
