/* SPDX-License-Identifier: MIT */
/*
 * admin.h - the "pgbouncer" pseudo-database console.
 *
 * The console is a connection handler (conn_handler_t): main.c gives it to
 * the connection layer, which hands it the queries of the clients that log
 * in to its database. Commands call pool/switch APIs; the console never
 * touches sockets, and arms its own timer for the commands that complete
 * later (PAUSE, WAIT_CLOSE, SUSPEND).
 */
#ifndef PGSWITCH_ADMIN_H
#define PGSWITCH_ADMIN_H

#include "conn/conn_types.h"

extern const conn_handler_t admin_console;

#endif
