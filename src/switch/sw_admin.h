/* SPDX-License-Identifier: MIT */
/* sw_admin.h - the console's SWITCHOVER / SHOW SWITCHOVER entry points. */
#ifndef PGSWITCH_SW_ADMIN_H
#define PGSWITCH_SW_ADMIN_H

#include "conn/conn_types.h"

void sw_admin_command(client_t *c, const char *sql);
void sw_admin_show(client_t *c, const char *db);

#endif
