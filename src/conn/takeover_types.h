/* SPDX-License-Identifier: MIT */
/*
 * takeover_types.h - one row of SHOW FDS, PgBouncer's online restart
 * record: a listening socket, a client or a server, with what the new
 * process needs to go on using it (its columns are PgBouncer's).
 */
#ifndef PGSWITCH_CONN_TAKEOVER_TYPES_H
#define PGSWITCH_CONN_TAKEOVER_TYPES_H

#include <stdbool.h>
#include <stdint.h>

typedef enum tko_task {
	TKO_POOLER, /* a listening socket */
	TKO_CLIENT,
	TKO_SERVER,
} tko_task_t;

#define TKO_NCOLS    15
#define TKO_NAME_MAX 256
#define TKO_VAL_MAX  128
#define TKO_PW_MAX   2048 /* PgBouncer's MAX_PASSWORD */

typedef struct tko_row {
	int fd; /* the sender's number: link columns refer to it */
	tko_task_t task;
	char user[TKO_NAME_MAX]; /* "" for a pooler row */
	char db[TKO_NAME_MAX];
	char addr[TKO_VAL_MAX]; /* "unix" for a Unix socket */
	int port;
	uint64_t cancel; /* client: the key we issued; server: its own */
	int link;	 /* the linked peer's fd, 0 for none */
	char client_encoding[TKO_VAL_MAX];
	char std_strings[TKO_VAL_MAX];
	char datestyle[TKO_VAL_MAX];
	char timezone[TKO_VAL_MAX];
	char password[TKO_PW_MAX];
	bool has_scram_keys;
	uint8_t scram_client_key[32];
	uint8_t scram_server_key[32];
} tko_row_t;

#endif
