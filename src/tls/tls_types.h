/* SPDX-License-Identifier: MIT */
/*
 * tls_types.h - types of the TLS module (src/tls): the settings the config
 * module fills, the sslmode and status enums, protocol-version bits.
 */
#ifndef PGSWITCH_TLS_TYPES_H
#define PGSWITCH_TLS_TYPES_H

#include <stdbool.h>
#include <stddef.h>

/*
 * PgBouncer's client_tls_sslmode / server_tls_sslmode values, in order of
 * strength: code may compare with >= TLS_SSLMODE_VERIFY_CA.
 */
typedef enum tls_sslmode {
	TLS_SSLMODE_DISABLE = 0,
	TLS_SSLMODE_ALLOW,
	TLS_SSLMODE_PREFER,
	TLS_SSLMODE_REQUIRE,
	TLS_SSLMODE_VERIFY_CA,
	TLS_SSLMODE_VERIFY_FULL,
} tls_sslmode_t;

/* Result of a handshake step, a read or a write. tls_status_name(). */
typedef enum tls_status {
	TLS_OK = 0,
	TLS_WANT_READ,	/* retry the same call once the fd is readable */
	TLS_WANT_WRITE, /* retry the same call once the fd is writable */
	TLS_EOF,	/* the peer closed (close_notify or TCP FIN) */
	TLS_ERROR,	/* fatal: the connection is unusable */
} tls_status_t;

/*
 * Life of one TLS connection (tls_conn_state_name()):
 *
 *   HANDSHAKE --tls_handshake() OK--> OPEN --peer EOF--> CLOSED
 *       |                              |  \--tls_close_notify()--> CLOSED
 *       \--error---> FAILED <--error---/
 *
 * A peer EOF or tls_close_notify() during HANDSHAKE also ends in CLOSED.
 */
typedef enum tls_conn_state {
	TLS_CONN_HANDSHAKE = 0,
	TLS_CONN_OPEN,
	TLS_CONN_CLOSED,
	TLS_CONN_FAILED,
} tls_conn_state_t;

/* Protocol-version bits of tls_protocols_parse(). */
#define TLS_PROTO_TLSv1_0 0x1u
#define TLS_PROTO_TLSv1_1 0x2u
#define TLS_PROTO_TLSv1_2 0x4u
#define TLS_PROTO_TLSv1_3 0x8u
#define TLS_PROTO_ALL	  0xfu
#define TLS_PROTO_SECURE  (TLS_PROTO_TLSv1_2 | TLS_PROTO_TLSv1_3)

/*
 * Longest tls-server-end-point hash (RFC 5929): the certificate's signature
 * hash, SHA-512 at most. Same bound as SCRAM_MAX_CB_DATA in auth_types.h.
 */
#define TLS_MAX_CB_DATA 64

/* Size of the error buffers this module fills; longer text is cut. */
#define TLS_ERR_MAX 256

/*
 * Input of tls_ctx_new(), filled by the config module from
 * client_tls_* (server_side) or server_tls_* settings. Every string may be
 * NULL or "" for "unset", which means PgBouncer's default:
 *   protocols "secure", ciphers "default", tls13_ciphers OpenSSL's,
 *   ecdhcurve "auto", dheparams "auto".
 * Strings are read only during tls_ctx_new(); nothing keeps a pointer.
 */
typedef struct tls_settings {
	tls_sslmode_t sslmode;
	const char *key_file;
	const char *cert_file;
	const char *ca_file;
	const char *protocols;
	const char *ciphers;
	const char *tls13_ciphers;
	const char *ecdhcurve;
	const char *dheparams;
} tls_settings_t;

typedef struct tls_ctx tls_ctx_t;
typedef struct tls_conn tls_conn_t;

#endif
