/* SPDX-License-Identifier: MIT */
#ifndef PGSWITCH_AUTH_TYPES_H
#define PGSWITCH_AUTH_TYPES_H

#include <stdbool.h>

#define AUTH_MD5_LEN 35 /* "md5" + 32 hex digits */

/*
 * Longest user name and secret userlist.txt accepts, in bytes as written
 * between the quotes (a "" escape counts 2). PgBouncer's MAX_USERNAME and
 * MAX_PASSWORD (128 and 2048, bouncer.h) are buffer sizes that include the
 * NUL, and its loader rejects a field whose quoted length reaches them.
 */
#define AUTH_MAX_USER	127
#define AUTH_MAX_SECRET 2047

/*
 * Hard cap on any SCRAM message we accept or build. PostgreSQL caps what
 * clients send at 1024 (PG_MAX_SASL_MESSAGE_LENGTH); we allow more because
 * a server-first-message carries the stored salt, and a SCRAM secret as
 * long as userlist.txt allows can hold a ~1450-byte salt (~1930 in
 * base64). 4096 is also PgBouncer's default pkt_buf, its own limit on a
 * login packet.
 */
#define SCRAM_MAX_MESSAGE 4096
/*
 * Longest tls-server-end-point hash: RFC 5929 uses the certificate's
 * signature hash (SHA-256 for MD5/SHA-1), so SHA-512's 64 bytes at most.
 */
#define SCRAM_MAX_CB_DATA 64

#define SCRAM_MECH_NAME	     "SCRAM-SHA-256"
#define SCRAM_MECH_PLUS_NAME "SCRAM-SHA-256-PLUS"
#define SCRAM_CB_TYPE	     "tls-server-end-point" /* the only type we do */

typedef struct auth_file auth_file_t;
typedef struct scram_server scram_server_t;
typedef struct scram_client scram_client_t;

/*
 * Called by auth_file_load_diag for each malformed line: LINE counts from
 * 1, REASON is a static string. No file bytes are passed, since the line
 * may hold a password.
 */
typedef void (*auth_file_diag_fn)(void *arg, int line, const char *reason);

typedef enum auth_secret_kind {
	AUTH_SECRET_PLAIN,
	AUTH_SECRET_MD5,
	AUTH_SECRET_SCRAM,
} auth_secret_kind_t;

/* scram_status_sqlstate() gives the SQLSTATE for each. */
typedef enum scram_status {
	SCRAM_OK = 0,
	SCRAM_FAIL = 1,	 /* authentication failed: 28P01 */
	SCRAM_PROTO = 2, /* malformed exchange: 08P01 */
	/*
	 * Channel binding check or negotiation failed (wrong binding data, or
	 * a downgrade attempt): 28000, as PostgreSQL reports it with
	 * ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION.
	 */
	SCRAM_CB_FAIL = 3,
} scram_status_t;

/* libpq's channel_binding setting, for our logins to servers. */
typedef enum scram_cb_mode {
	SCRAM_CB_DISABLE, /* never bind */
	SCRAM_CB_PREFER,  /* bind when TLS and the server offers PLUS */
	SCRAM_CB_REQUIRE, /* fail unless the exchange binds the channel */
} scram_cb_mode_t;

/* What scram_select_mechanism picked from a server's offer. */
typedef struct scram_mech_choice {
	const char *mech; /* SCRAM_MECH_NAME or SCRAM_MECH_PLUS_NAME */
	bool plus;	  /* bind: p=tls-server-end-point */
	/*
	 * TLS, not binding, and the server did not offer PLUS: send gs2 flag
	 * "y" so that a server which did offer it (the offer was stripped on
	 * the way) refuses the downgrade.
	 */
	bool cb_unused;
} scram_mech_choice_t;

#endif
