/* SPDX-License-Identifier: MIT */
#ifndef PGSWITCH_AUTH_TYPES_H
#define PGSWITCH_AUTH_TYPES_H

#define AUTH_MD5_LEN	  35   /* "md5" + 32 hex digits */
#define SCRAM_MAX_MESSAGE 1024 /* hard cap on any SCRAM message we accept */

typedef struct auth_file auth_file_t;
typedef struct scram_server scram_server_t;
typedef struct scram_client scram_client_t;

typedef enum auth_secret_kind {
	AUTH_SECRET_PLAIN,
	AUTH_SECRET_MD5,
	AUTH_SECRET_SCRAM,
} auth_secret_kind_t;

typedef enum scram_status {
	SCRAM_OK = 0,
	SCRAM_FAIL = 1,	 /* authentication failed: 28P01 */
	SCRAM_PROTO = 2, /* malformed exchange: 08P01 */
} scram_status_t;

#endif
