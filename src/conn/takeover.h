/* SPDX-License-Identifier: MIT */
/*
 * takeover.h - connections rebuilt from an old process's SHOW FDS rows
 * (online restart, src/admin/takeover.c drives it).
 *
 * Interface:
 *   client_adopt()  a logged-in client on a passed socket, in its pool
 *   server_adopt()  a logged-in server on a passed socket, idle
 *   conn_adopt_link()  link the two as they were in the old process
 * Each returns NULL (the fd left to the caller) when the row names no
 * database or user this process knows, or on out of memory.
 */
#ifndef PGSWITCH_CONN_TAKEOVER_H
#define PGSWITCH_CONN_TAKEOVER_H

#include "conn/takeover_types.h"
#include "pool/pool_types.h"

client_t *client_adopt(pgs_ctx_t *ctx, const tko_row_t *r, int fd);
server_t *server_adopt(pgs_ctx_t *ctx, const tko_row_t *r, int fd);
void conn_adopt_link(client_t *c, server_t *s);

#endif
