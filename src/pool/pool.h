/* SPDX-License-Identifier: MIT */
/*
 * pool.h - databases, users, pools; the only place objects change state.
 *
 * Interface:
 *   pool_db_lookup()      find or create (from config / "*") a database
 *   pool_user_get()       find or create a user
 *   pool_get()            find or create the (db, user) pool
 *   pool_client_state()   move a client between state lists
 *   pool_server_state()   move a server between state lists
 *   pool_request_server() a client has a request: link it or queue it
 *   pool_release_server() a server's client is done with it
 *   pool_server_ready()   a server became usable: serve the queue
 *   pool_launch()         open server connections the pool needs
 *   pool_key_*()          issued cancel keys
 *   pool_free_justfree()  release closed objects (after a loop turn)
 * All of these may be called from I/O callbacks: nothing is freed
 * synchronously; closed objects wait on the justfree lists.
 */
#ifndef PGSWITCH_POOL_H
#define PGSWITCH_POOL_H

#include "pool/pool_types.h"

pool_db_t *pool_db_lookup(pgs_ctx_t *ctx, const char *name);
pool_db_t *pool_db_find(pgs_ctx_t *ctx, const char *name);
/* The host for the next server connection of DB: its host, or for a
 * comma-separated list the next one in turn (copied into OUT). */
const char *pool_db_next_host(pool_db_t *db, char *out, size_t cap);
/* A connection to the current host failed: with load_balance_hosts =
 * disable, the next one takes the next host. */
void pool_db_host_failed(pool_db_t *db);
/* (Re)apply a config entry to a db; bumps the generation if the target
 * changed. Returns true if the target changed. */
bool pool_db_apply(pool_db_t *db, const cfg_db_t *e);
pool_user_t *pool_user_get(pgs_ctx_t *ctx, const char *name);
pool_t *pool_get(pgs_ctx_t *ctx, pool_db_t *db, pool_user_t *user);
/* The pool of replication connections of (DB, USER) of kind REPL. */
pool_t *pool_get_repl(pgs_ctx_t *ctx, pool_db_t *db, pool_user_t *user,
		      pool_repl_t repl);

int pool_mode(const pool_t *p);
/* server_lifetime of the pool's database, or the global one (ms). */
int pool_server_lifetime(const pool_t *p);
/* Take a [users] entry's settings (NULL: none, inherit everything). */
void pool_user_apply(pool_user_t *u, const cfg_user_t *cu);
int pool_size(const pool_t *p);
int pool_server_total(const pool_t *p);
/* The servers of P's database and user, replication ones included. */
int pool_group_total(const pool_t *p);
/* A server of P's group is gone: launch for the group's queued clients. */
void pool_group_freed(pool_t *p);

void pool_client_state(client_t *c, client_state_t st);
void pool_server_state(server_t *s, server_state_t st);

void pool_request_server(client_t *c);
/* A client in CL_WAITING_AUTH: run its auth_query on an idle server of
 * its (auth) pool now, or when one is ready. */
void pool_request_auth(client_t *c);
/* Keep SECRET (may be NULL) as the pool's auth_query secret. */
void pool_set_secret(pool_t *p, const char *secret);
/* The pool that holds P's dynamic credentials (P, or for a replication
 * pool the plain pool of the same database and user). */
pool_t *pool_creds(pool_t *p);
void pool_release_server(server_t *s);
/* The same, but leave serving the queue to the caller (it calls
 * pool_server_ready() once its own client's reply is flushed). Returns
 * true if the server is idle. */
bool pool_release_server_idle(server_t *s);
/* An idle server must pass server_check_query before reuse. */
bool pool_check_due(const pool_t *p, const server_t *s, int64_t now);
void pool_server_ready(server_t *s);
void pool_launch(pool_t *p);
/* Serve the queue with idle servers and launch what is missing (after a
 * pause or freeze ends). */
void pool_kick(pool_t *p);
/* Switchover pre-warm: open parked connections to HOST:PORT for every
 * pool of DB, as many as each pool uses now (at most its size). Returns
 * how many were started. */
int pool_prewarm(pgs_ctx_t *ctx, pool_db_t *db, const char *host, int port);
/* Parked connections of DB: *logging_in still logging in, returns all. */
int pool_parked_count(pgs_ctx_t *ctx, pool_db_t *db, int *logging_in);
/* DB now points at the parked connections' target: make them ordinary
 * servers of their pools (idle ones serve the queue at the next kick). */
void pool_adopt_parked(pgs_ctx_t *ctx, pool_db_t *db);
/* Close DB's parked connections (switchover aborted). */
void pool_drop_parked(pgs_ctx_t *ctx, pool_db_t *db, const char *reason);
/* The pool's first server login finished: welcome clients waiting. */
void pool_set_welcome(pool_t *p, server_t *s);
/* A server login failed: tell clients waiting for their welcome. */
/* A host name lookup finished: resume the servers waiting for it. */
void pool_servers_resolved(pgs_ctx_t *ctx, const char *name);
/* The server could not be reached: new logins are refused for
 * server_login_retry, waiting clients keep waiting. */
void pool_login_unreachable(pool_t *p, const char *msg);
void pool_login_failed(pool_t *p, const char *msg);
/* A connect or TLS handshake failed: launches wait server_login_retry;
 * queued clients keep waiting. */
void pool_connect_failed(pool_t *p);
/* A server login was refused for its credentials: every client queued
 * on the pool gets the server's error. */
void pool_login_refused(pool_t *p, const char *sqlstate, const char *msg);

/* N unpredictable bytes (OpenSSL, fetched 256 at a time). */
void pool_random(pgs_ctx_t *ctx, void *out, size_t n);
/* CancelRequests (pool_cancel.c). C (a cancel socket) asks to cancel
 * TARGET's query: it waits on TARGET's pool for a cancel connection. */
void pool_cancel_request(client_t *c, client_t *target);
/* Open cancel connections for waiting requests (up to 2x pool_size). */
void pool_cancel_launch(pool_t *p);
/* The active server linked to the client with CLIENT_ID, or NULL. */
server_t *pool_cancel_target(pool_t *p, uint64_t client_id);
/* A released server with a cancel on its way: hold it in
 * SV_BEING_CANCELED (true) until pool_cancel_done(). */
bool pool_cancel_hold(server_t *s);
/* A cancel connection of P finished; CANCELED_ID the server whose
 * cancel it sent (0: none sent). */
void pool_cancel_done(pool_t *p, uint64_t canceled_id);
bool pool_key_register(pgs_ctx_t *ctx, client_t *c);
void pool_key_unregister(pgs_ctx_t *ctx, client_t *c);
client_t *pool_key_find(pgs_ctx_t *ctx, uint32_t pid, uint32_t key);

/* Close (as released) or now every server of DB (NULL = all). */
void pool_reconnect_db(pgs_ctx_t *ctx, pool_db_t *db);
/* The same, idle ones closed with WHY in the log. */
void pool_obsolete_servers(pgs_ctx_t *ctx, pool_db_t *db, const char *why);
/* Servers of DB (NULL = all) still connected under an old generation or
 * marked dirty. */
int pool_count_dirty(pgs_ctx_t *ctx, pool_db_t *db);

void pool_free_justfree(pgs_ctx_t *ctx);
/* Close every connection (clients get a FATAL 57P01). */
void pool_close_all(pgs_ctx_t *ctx);
/* Close everything and free every object (shutdown). */
void pool_free_all(pgs_ctx_t *ctx);

const char *client_state_name(client_state_t st);
const char *server_state_name(server_state_t st);

#endif
