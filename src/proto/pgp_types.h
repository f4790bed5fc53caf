/* SPDX-License-Identifier: MIT */
#ifndef PGSWITCH_PGP_TYPES_H
#define PGSWITCH_PGP_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PGP_PROTO_MAJOR 3
#define PGP_CODE_CANCEL 80877102u
#define PGP_CODE_SSL	80877103u
#define PGP_CODE_GSSENC 80877104u
#define PGP_HDR_LEN	5
/* PgBouncer 1.25's limit for a startup packet (measured: 65535 bytes
 * pass, 65536 do not); PostgreSQL's own is 10000, but a pooler drops
 * what it ignores (a long ignore_startup_parameters value) before the
 * server sees it. */
#define PGP_MAX_STARTUP_LEN    65535
#define PGP_MAX_STARTUP_PARAMS 64
#define PGP_MAX_CANCEL_KEY     256

typedef enum pgp_status {
	PGP_TOOBIG = -2, /* declared length over the caller's maximum */
	PGP_BAD = -1,	 /* malformed */
	PGP_MORE = 0,	 /* need more bytes */
	PGP_OK = 1,
} pgp_status_t;

/* A framed regular message: 1 type byte + int32 length (self-inclusive). */
typedef struct pgp_msg {
	uint8_t type;
	uint32_t len;	/* payload bytes after the length field */
	uint32_t total; /* bytes on the wire: 1 + 4 + len */
} pgp_msg_t;

/* Bounds-checked reader over one payload (pqformat.c discipline: any
 * read past the end sets `err` and returns a zero value). */
typedef struct pgp_reader {
	const uint8_t *p;
	size_t len;
	size_t pos;
	bool err;
} pgp_reader_t;

typedef enum pgp_startup_kind {
	PGP_STARTUP,
	PGP_SSL_REQUEST,
	PGP_GSSENC_REQUEST,
	PGP_CANCEL_REQUEST,
} pgp_startup_kind_t;

/* A parsed startup-phase packet. Strings point into the caller's bytes. */
typedef struct pgp_startup {
	pgp_startup_kind_t kind;
	int major, minor;
	uint32_t cancel_pid;
	uint8_t cancel_key[PGP_MAX_CANCEL_KEY];
	size_t cancel_key_len;
	int nparams;
	const char *names[PGP_MAX_STARTUP_PARAMS];
	const char *values[PGP_MAX_STARTUP_PARAMS];
} pgp_startup_t;

/* One field of a RowDescription (admin console output). */
typedef struct pgp_field {
	const char *name;
	uint32_t type_oid;
	int16_t type_len;
} pgp_field_t;

#define PGP_OID_BOOL	    16
#define PGP_OID_INT8	    20
#define PGP_OID_INT4	    23
#define PGP_OID_TEXT	    25
#define PGP_OID_NUMERIC	    1700
#define PGP_OID_TIMESTAMPTZ 1184

#endif
