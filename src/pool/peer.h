/* SPDX-License-Identifier: MIT */
/*
 * peer.h - cancel keys that name their process, and CancelRequests
 * forwarded to the peer that issued them (PgBouncer 1.25's peering).
 *
 * Interface:
 *   peer_key_*()         the key layout of peer_types.h (pure)
 *   peer_cancel_forward() a CancelRequest no local client owns
 *   peer_launch()        open connections for a peer's waiting requests
 *   peer_conn_up()       a connection is up: give it a request
 *   peer_conn_gone()     a connection closed
 *   peer_client_gone()   a request's socket closed
 *   peer_sync()          after a RELOAD
 *   peer_janitor()       cancel_wait_timeout, retries
 *   peer_close_all(), peer_free_all()
 * Nothing here logs: the closes it causes are logged by src/conn.
 */
#ifndef PGSWITCH_PEER_H
#define PGSWITCH_PEER_H

#include <stdbool.h>
#include <stdint.h>

#include "pool/peer_types.h"

const char *peer_conn_state_name(peer_conn_state_t st);

/* A key for a new client from 8 random bytes (*PID, *SECRET): the pid's
 * sign bit cleared (as PgBouncer does, peering or not), and with PEER_ID
 * > 0 that id in bytes 1-2 and the TTL at PEER_TTL_MAX. */
void peer_key_make(uint32_t *pid, uint32_t *secret, int peer_id);
/* The peer_id a key names (0..65535; meaningless without peering). */
int peer_key_id(uint32_t pid);
int peer_key_ttl(uint32_t secret);
uint32_t peer_key_with_ttl(uint32_t secret, int ttl);
/* The 16-byte CancelRequest for a key. */
void peer_cancel_packet(uint8_t out[16], uint32_t pid, uint32_t secret);

/* C (a CancelRequest socket in CL_LOGIN) has a key no client here owns:
 * with peering on and the key naming another peer_id, forward it (or
 * close C with PgBouncer's reason) and return true; false: not ours to
 * forward, the caller drops it as an unknown key. */
bool peer_cancel_forward(client_t *c, uint32_t pid, uint32_t secret);
void peer_launch(peer_t *p);
/* CONN connected: false when no request waits for it (close it). */
bool peer_conn_up(peer_conn_t *conn);
/* CONN is closed (freed by the caller); FAILED: its connect failed. */
void peer_conn_gone(peer_conn_t *conn, bool failed);
void peer_client_gone(client_t *c);
void peer_sync(pgs_ctx_t *ctx);
void peer_janitor(pgs_ctx_t *ctx, int64_t now);
void peer_close_all(pgs_ctx_t *ctx);
void peer_free_all(pgs_ctx_t *ctx);

/* conn/peer_conn.c: the connection side. */
/* Start a connection to peer P at HOST:PORT; false if none could be
 * started now (a name being resolved, an error: logged). */
bool peer_conn_open(peer_t *p, const char *host, int port);
void peer_conn_close(peer_conn_t *conn, const char *reason);
/* The log prefix of a peer's objects, PgBouncer's: "peer-2@addr". */
void peer_log(pgs_ctx_t *ctx, int lvl, char kind, const void *ptr, int id,
	      const conn_addr_t *a, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

#endif
