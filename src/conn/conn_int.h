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
