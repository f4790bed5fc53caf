/* SPDX-License-Identifier: MIT */
/*
 * conn_int.h - what the files of src/conn share (client*.c, server*.c).
 * Not an interface: only src/conn includes it.
 */
#ifndef PGSWITCH_CONN_INT_H
#define PGSWITCH_CONN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn/conn_types.h"

/* client.c */
#define client_var_index(c, name) conn_var_index((c)->ctx, (name))
/* A client's read buffer: pkt_buf, at least 8 KiB. */
#define client_rcap(cfg)                                                       \
	((uint32_t)((cfg)->pkt_buf > 8192 ? (cfg)->pkt_buf : 8192))

/* client_auth.c: run login-phase input; false when nothing more can be
 * done now. */
bool client_login_process(client_t *c);

/* client_tls.c */
/* An SSLRequest arrived: answer 'S' and start the handshake, or 'N'. */
void client_tls_request(client_t *c);
/* The first byte of a TLS record carrying a handshake (a ClientHello);
 * a startup packet starts with its length's high byte, always 0. */
#define TLS_HANDSHAKE_BYTE 0x16
/* A fresh connection that starts with a TLS ClientHello (PostgreSQL 17
 * sslnegotiation=direct): take it; false when processing must stop. */
bool client_tls_direct(client_t *c);
/* Drive the handshake; false when it must wait for the socket. */
bool client_tls_handshake(client_t *c);
/* client_tls_sslmode require and above: false (client closed) when this
 * plain-text TCP client must not log in. */
bool client_tls_required_ok(client_t *c);
/* tls-server-end-point data of our certificate (SCRAM-SHA-256-PLUS):
 * its length, or -1 for a plain-text client. */
int client_tls_cb_data(client_t *c, uint8_t *out, size_t cap);
/* "TLSv1.3/TLS_AES_256_GCM_SHA384" (into BUF), or "no": the log's tls=. */
const char *client_tls_describe(client_t *c, char *buf, size_t cap);
/* Subject CN of a verified client certificate. */
bool client_tls_peer_cn(client_t *c, char *out, size_t cap);

/* client_hba.c */
/* auth_type = hba: the method of the first matching rule (and its ident
 * map in c->hba_map). False: the client was closed. */
bool client_hba_method(client_t *c, int *method);
/* auth_ident_file: may SYSTEM_NAME log in as c->user under MAP? */
bool client_ident_match(client_t *c, const char *map, const char *system_name);

/* conn_prep.c: prepared statements in transaction/statement mode */
typedef enum prep_need {
	PREP_NEED_STREAM, /* unnamed: forward as it arrives */
	PREP_NEED_WHOLE,  /* named: must be read whole and rewritten */
	PREP_NEED_WAIT,	  /* cannot tell from the bytes so far */
} prep_need_t;
/* Tracking applies to this client's messages now. */
bool client_prep_on(const client_t *c);
/* How to take a Parse, Bind, Describe or Close whose body is LEN bytes,
 * HAVE of them at BODY. */
prep_need_t client_prep_need(uint8_t type, const uint8_t *body, uint32_t have,
			     uint32_t len);
/* A whole Parse/Bind/Describe/Close: answered, rewritten or passed on.
 * False: the client was closed. */
bool client_prep_whole(client_t *c, server_t *s, uint8_t type,
		       const uint8_t *body, uint32_t len);
/* A message forwarded as it arrives: note the reply it is owed. False:
 * the client was closed. */
bool client_prep_note(client_t *c, server_t *s, uint8_t type);
/* A server message of TYPE may complete a request. */
bool server_prep_reply_type(uint8_t type);
/* Must this reply go through server_prep_reply()? Under a simple Query
 * only its ReadyForQuery completes it, and a CommandComplete matters
 * only for DISCARD ALL while statements are prepared: the common case,
 * every simple query's rows, stays off the slow path. */
static inline bool server_prep_wants(const server_t *s, uint8_t type)
{
	if (!s->prepq.n || type == 'Z')
		return false;
	if (s->prepq.v[s->prepq.head].type == 'Q')
		return type == 'C' && (s->prep || (s->link && s->link->prep));
	return server_prep_reply_type(type);
}
/* Complete the request a reply completes; false: swallow the reply (an
 * answer to our own Parse or Close). BODY may be NULL for a message too
 * large to hold. */
bool server_prep_reply(server_t *s, uint8_t type, const uint8_t *body,
		       uint32_t len);
/* CopyInResponse: drop the Sync the copy swallows. */
void server_prep_copy_in(server_t *s);
/* Write the answers owed to the client that are now due. */
void server_prep_fakes(server_t *s);
/* DISCARD ALL / DEALLOCATE ALL ran on S. */
void server_prep_discarded(server_t *s);

/* conn_dns.c: a host name's address, from the cache or after a lookup
 * off the loop (dns_status_t; then server_resolved() for its waiters). */
#include "net/dns.h"
dns_status_t conn_dns_lookup(pgs_ctx_t *ctx, const char *host, int port,
			     struct sockaddr_storage *ss, socklen_t *sl,
			     char *err, size_t errlen);

/* server.c */
void server_send_startup(server_t *s);
/* The login failed before the server said why (a bad SSLRequest
 * answer): as a server's refusal of the login. */
void server_login_failed(server_t *s, const char *msg);

/* server_tls.c */
/* The TCP connect finished: SSLRequest (server_tls_sslmode other than
 * disable, not a Unix socket) or the startup packet. */
void server_tls_start(server_t *s);
/* Login-phase input while TLS is being set up: false when it must wait
 * (or the server was closed). */
bool server_tls_step(server_t *s);
/* tls-server-end-point data of the server's certificate: its length, or
 * -1 without TLS. */
int server_tls_cb_data(server_t *s, uint8_t *out, size_t cap);

#endif
