/* SPDX-License-Identifier: MIT */
/*
 * peer_types.h - PgBouncer's peering: the peers a CancelRequest is
 * forwarded to, and the connections that carry it.
 *
 * A cancel key (BackendKeyData, 8 bytes) of a process with peer_id set
 * says which process issued it, as PgBouncer 1.25 lays it out:
 *   byte 0     random, sign bit clear (the "pid" half must stay positive)
 *   bytes 1-2  peer_id, low byte first
 *   bytes 3-6  random
 *   byte 7     random, its two low bits the TTL: 3 when issued, one less
 *              at every forward, never forwarded at 0 (no loop between
 *              peers that point at each other wrongly)
 * A peer is made when a request first goes to it (SHOW PEER_POOLS lists
 * only those); its host, port and pool_size are read from the config at
 * each launch, so a RELOAD applies to the next connection.
 */
#ifndef PGSWITCH_PEER_TYPES_H
#define PGSWITCH_PEER_TYPES_H

#include <stdint.h>

#include "conn/conn_types.h"
#include "util/list.h"

#define PEER_TTL_MAX 3

typedef enum peer_conn_state {
	PEER_CONN_LOGIN,  /* connecting: sv_login */
	PEER_CONN_ACTIVE, /* CancelRequest sent, waiting for the close */
} peer_conn_state_t;

typedef struct peer peer_t;

typedef struct peer_conn {
	list_node_t node; /* on its peer's login_conns or active_conns */
	peer_t *peer;
	peer_conn_state_t state;
	client_t *req; /* the request it carries; NULL once that is gone */
	int fd;
	conn_addr_t addr;
	uint8_t pkt[16]; /* the CancelRequest, TTL already lowered */
	uint8_t sent;
	int64_t connect_us;
} peer_conn_t;

struct peer {
	peer_t *next; /* ctx->peers, by id */
	pgs_ctx_t *ctx;
	int id;
	statlist_t waiting_clients; /* CL_WAITING_CANCEL */
	statlist_t active_clients;  /* CL_ACTIVE_CANCEL */
	statlist_t login_conns;
	statlist_t active_conns;
	/* A connect failed: no new one before server_login_retry. */
	int64_t last_fail_us;
};

#endif
