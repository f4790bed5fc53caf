/* SPDX-License-Identifier: MIT */
/* tap.h - a sampled reply's digest on its server connection (tap.c). */
#ifndef PGSWITCH_CONN_TAP_H
#define PGSWITCH_CONN_TAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn/conn_types.h"

/* An autocommit Query of SQL (LEN bytes, no NUL) is about to go to S:
 * ask its database's tap whether to digest the reply. */
void conn_tap_offer(server_t *s, const char *sql, size_t len);
/* A reply message of TYPE begins (its bytes follow). */
void conn_tap_frame(server_t *s, uint8_t type);
/* N bytes of the DataRow being forwarded; LAST: its end. */
void conn_tap_bytes(server_t *s, const uint8_t *p, uint32_t n, bool last);
/* ReadyForQuery: the digest goes to the tap. */
void conn_tap_finish(server_t *s);

#endif
