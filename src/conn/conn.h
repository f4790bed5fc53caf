/* SPDX-License-Identifier: MIT */
/*
 * conn.h - client and server connection state machines.
 *
 * Interface (client side):
 *   client_accept()   listener callback: accept and start a login
 *   client_close()    THE exit for a client: logs with context, sends a
 *                     FATAL ErrorResponse when SQLSTATE is given, unlinks,
 *                     defers the free
 *   client_process()  run buffered client input (e.g. after linking)
 *   client_welcome()  finish a login once the pool knows server params
 *   client_error()    non-fatal ErrorResponse + ReadyForQuery
 * Interface (server side):
 *   server_launch()   open a connection for a pool
 *   server_close()    THE exit for a server connection
 *   server_link()     give a server to a client (re-syncs parameters)
 *   server_reset()    run server_reset_query / server_check_query
 *   server_cancel()   send a CancelRequest for a server's backend
 *   server_process()  run buffered server input
 */
#ifndef PGSWITCH_CONN_H
#define PGSWITCH_CONN_H

#include <stdarg.h>
#include <stdlib.h>

#include "conn/conn_types.h"
#include "util/log.h"

struct pgs_listener;
void client_accept(pgs_ctx_t *ctx, struct pgs_listener *l);
void client_close(client_t *c, const char *sqlstate, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void client_process(client_t *c);
void client_welcome(client_t *c);
void client_error(client_t *c, const char *sqlstate, const char *msg);
bool client_flush(client_t *c);
void client_update_io(client_t *c);
/* Release a connection's prepared statements (before it is freed). */
void client_prep_free(client_t *c);
void server_prep_free(server_t *s);
/* Tracked variables: the fixed ones, then track_extra_parameters. */
const char *conn_var_name(const pgs_ctx_t *ctx, int v);
int conn_var_index(const pgs_ctx_t *ctx, const char *name);
/* Take track_extra_parameters' names (at start; fixed afterwards). */
void conn_vars_init(pgs_ctx_t *ctx, const char *list);
void conn_vars_free(pgs_ctx_t *ctx);
/* Log with the PgBouncer connection prefix "C-0x..: db/user@addr:port". */
void client_log(client_t *c, int lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A switchover's pre-warm (SV_PARKED_LOGIN or SV_PARKED): not the
 * pool's, so its failures and its close are not the pool's either. */
static inline bool server_parked(const server_t *s)
{
	return s->state == SV_PARKED_LOGIN || s->state == SV_PARKED;
}

/* Connecting, authenticating or running connect_query, parked or not. */
static inline bool server_logging_in(const server_t *s)
{
	return s->state == SV_LOGIN || s->state == SV_PARKED_LOGIN;
}

server_t *server_launch(pool_t *p);
/* A replication client's own server: logs in with the client's
 * replication and session parameters, then is linked to it. */
server_t *server_launch_repl(pool_t *p, client_t *c);
/* A connection to HOST:PORT for pool P that logs in and then stays parked
 * (not handed out) until pool_adopt_parked(): a switchover's pre-warm. */
server_t *server_prewarm(pool_t *p, const char *host, int port);
/* Its host name was looked up: connect (or fail as a connect failure). */
void server_resolved(server_t *s);
void server_close(server_t *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void server_link(server_t *s, client_t *c);
void server_reset(server_t *s, const char *sql);
/* Run server_check_query on a used server (SV_TESTED until it answers). */
void server_check(server_t *s, const char *sql);
/* Run SQL on a linked server for the switchover, ahead of anything its
 * client sends next. KEEP: its one-row result goes to the client's
 * carry_sql / carry_lost; else the result is dropped (a warm-up). */
void server_capture(server_t *s, const char *sql, bool keep);
/* S is between two transactions of its client: no transaction open, no
 * reply to the client's last query outstanding, no COPY. Its client's
 * next query may be held there (a switchover freeze). */
bool server_at_boundary(const server_t *s);
/* At a boundary and quiet: nothing half forwarded either way, no reply
 * the pooler itself awaits (a capture, a queued Parse). Only then may S
 * be reused, closed as obsolete, or count as out of flight. */
bool server_quiet(const server_t *s);
void server_cancel(pgs_ctx_t *ctx, server_t *target);
/* A connection of P that carries client REQ's CancelRequest for TARGET's
 * backend, once connected (if TARGET is still in that query). */
server_t *server_launch_cancel(pool_t *p, client_t *req, server_t *target);
/* Run C's auth_query on idle server S of C's (auth) pool; the result
 * goes to client_auth_lookup_done() and S back to its pool. */
void server_auth_query(server_t *s, client_t *c);
/* The auth_query's outcome for a login. */
typedef struct client_lookup {
	int rows;     /* 0: no such user */
	char *secret; /* the password column, NULL if NULL */
	char *error;  /* server error, or a malformed result */
} client_lookup_t;
/* C is back in CL_LOGIN, its pool still the auth pool. */
void client_auth_lookup_done(client_t *c, const client_lookup_t *res);
const char *client_auth_step_name(client_auth_step_t st);
void server_process(server_t *s);
bool server_flush(server_t *s);
void server_update_io(server_t *s);
void server_log(server_t *s, int lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* End-of-turn output (conn/txq.c). WANT false, or no io_uring: every
 * flush happens at once. Returns whether batching is on. */
bool conn_txq_init(pgs_ctx_t *ctx, bool want);
void conn_txq_free(pgs_ctx_t *ctx);
/* Send every queued connection's output; call once per loop turn,
 * before closed objects are freed. */
void conn_txq_run(pgs_ctx_t *ctx);
/* A TLS connection with decrypted input waiting in OpenSSL: read it at
 * the end of this turn (no fd event will come for it). */
bool conn_rerun_add(pgs_ctx_t *ctx, conn_io_t *io, void *obj, bool server);
void client_read_more(client_t *c);
void server_read_more(server_t *s);
/* Flush now, or queue for the end of the turn; false if it closed. */
bool client_flush_soon(client_t *c);
bool server_flush_soon(server_t *s);
/* Output went below the high-water mark (EV_WRITE or the batch): let a
 * peer that back-pressure stopped go on. */
void client_drained(client_t *c);
void server_drained(server_t *s);

/* Shared memory (conn/mem.c): the buffer pools, sized from ctx->cfg's
 * pkt_buf (read-only: fixed at start). */
void conn_mem_init(pgs_ctx_t *ctx);
void conn_mem_free(pgs_ctx_t *ctx);
/* BYTES went back to malloc (a freed connection, a dropped buffer). */
void conn_mem_freed(pgs_ctx_t *ctx, size_t bytes);
/* A second passed since the last conn_mem_tick(): the janitor gives back
 * idle connections' buffers (conn_io_release), then ticks. */
bool conn_mem_due(pgs_ctx_t *ctx, int64_t now);
/* Trim the pools (half the blocks idle all period); malloc_trim() after
 * a burst of frees. */
void conn_mem_tick(pgs_ctx_t *ctx, int64_t now);

/* TLS contexts (conn/conn_tls.c): build or rebuild from ctx->cfg what
 * changed, or (REREAD: RELOAD, SIGHUP) both from their files. -1 with ERR
 * when one could not be built (the old one stays). */
int conn_tls_configure(pgs_ctx_t *ctx, bool reread, char *err, size_t errlen);
void conn_tls_free(pgs_ctx_t *ctx);

/* Shared socket helpers (conn/io.c). */
/* "host:port", "[v6]:port" */
void conn_addr_str(const conn_addr_t *a, char *out, size_t cap);
void conn_vlog(log_t *lg, int lvl, char kind, const void *ptr, const char *db,
	       const char *user, const conn_addr_t *a, const char *fmt,
	       va_list ap);
/* Read buffers are RPOOL's blocks (rcap is their size), the output
 * buffer starts in OPOOL's (NULL: plain malloc). */
void conn_io_init(conn_io_t *io, int fd, bufpool_t *rpool, size_t omax,
		  bufpool_t *opool);
void conn_io_free(conn_io_t *io);
/* Make room for a message of NEED bytes at the read position (moves the
 * unread bytes to the front, grows the buffer); -1 when out of memory. */
int conn_io_reserve(conn_io_t *io, uint32_t need);
/* Give back what conn_io_reserve() grew, once the unread bytes fit. */
void conn_io_shrink(conn_io_t *io, uint32_t cap);
/* Give the read buffer back (rpos == rlen: nothing left in it). */
static inline void conn_io_rbuf_put(conn_io_t *io)
{
	if (io->rprivate) {
		/* grown past the pool's size for one big message */
		free(io->rbuf);
		io->rprivate = false;
		io->rcap = (uint32_t)io->rpool->size;
	} else {
		bufpool_put(io->rpool, io->rbuf);
	}
	io->rbuf = NULL;
	io->rpos = io->rlen = 0;
}
/* A processing frame on IO's input ends (opened by io->busy++): the
 * outermost gives back a read buffer it left empty. */
static inline void conn_io_done(conn_io_t *io)
{
	if (--io->busy == 0 && io->rpos == io->rlen && io->rbuf)
		conn_io_rbuf_put(io);
}
/* Give back whatever buffer holds no bytes: the read buffer unless a
 * processing frame runs, a drained output buffer of any size. Returns
 * the bytes given to free() (not to a pool). */
size_t conn_io_release(conn_io_t *io);
/* Read into free space: >0 bytes, 0 EOF, -1 nothing now (EAGAIN),
 * -2 error. */
int conn_io_read(conn_io_t *io);
/* Write pending output: 1 all written, 0 partial, -1 error. */
int conn_io_flush(conn_io_t *io);
/* Bytes we let the peer's output hold before we stop reading. */
#define CONN_HIGH_WATER (256 * 1024)
#define CONN_OBUF_MAX	(64u * 1024 * 1024)

#endif
