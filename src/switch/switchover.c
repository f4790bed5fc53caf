/* SPDX-License-Identifier: MIT */
/*
 * switchover.c - zero-downtime switchover (issue 7). The core hooks are
 * in place; the state machine lands with that issue.
 */
#include "switch/switchover.h"

bool sw_holds_client(pgs_ctx_t *ctx, const client_t *c)
{
	(void)ctx;
	(void)c;
	return false;
}

void sw_tick(pgs_ctx_t *ctx)
{
	(void)ctx;
}

void sw_apply_overlay(pgs_ctx_t *ctx, pool_db_t *db)
{
	(void)ctx;
	(void)db;
}

#include "admin/admin_int.h"
#include "switch/sw_admin.h"

void sw_admin_command(client_t *c, const char *sql)
{
	(void)sql;
	admin_err(c, "SWITCHOVER is not available in this build yet");
}

void sw_admin_show(client_t *c, const char *db)
{
	(void)db;
	pgp_field_t f[] = {{"database", PGP_OID_TEXT, -1},
			   {"state", PGP_OID_TEXT, -1}};
	admin_row_desc(c, f, 2);
	admin_ok(c, "SHOW");
}
