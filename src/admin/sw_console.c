/* SPDX-License-Identifier: MIT */
/*
 * sw_console.c - the console half of the switchover: SWITCHOVER db TO
 * 'conninfo' [WITH (...)], SWITCHOVER db ABORT and SHOW SWITCHOVER [db].
 * The switchover itself (src/switch) knows no console: it is started and
 * aborted through its API, and reports rows and its end through callbacks.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "admin/admin_int.h"
#include "conn/conn.h"
#include "pool/pool.h"
#include "switch/sw_parse.h"
#include "switch/switchover.h"
#include "util/strq.h"

static void on_done(pgs_ctx_t *ctx, void *arg, bool ok, const char *msg)
{
	client_t *c = admin_waiting(ctx, (uint64_t)(uintptr_t)arg,
				    ADMIN_WAIT_SWITCHOVER);
	if (!c)
		return;
	c->admin_wait = ADMIN_WAIT_NONE;
	if (ok) {
		admin_row_desc(c, sw_report_fields(), SW_REPORT_COLS);
		sw_report_job(ctx, admin_put_row, c);
		admin_ok(c, "SWITCHOVER");
	} else {
		admin_err(c, "%s", msg);
	}
	client_process(c);
}

static void *as_arg(const client_t *c)
{
	return (void *)(uintptr_t)c->id;
}

static void abort_cmd(client_t *c, const char *db)
{
	char err[768];
	int rc = sw_abort(c->ctx, db, on_done, as_arg(c), err, sizeof(err));
	if (rc < 0)
		admin_err(c, "%s", err);
	else if (rc == 0)
		admin_ok(c, "SWITCHOVER");
	else
		c->admin_wait = ADMIN_WAIT_SWITCHOVER;
}

void admin_switchover(client_t *c, const char *sql)
{
	char dbname[64], kw[16], ci[1024], err[768] = "";
	const char *p = sw_word(sql, kw, sizeof(kw)); /* SWITCHOVER */
	p = p ? sw_word(p, dbname, sizeof(dbname)) : NULL;
	if (p)
		p = sw_word(p, kw, sizeof(kw));
	if (!p) {
		admin_err(c, "usage: SWITCHOVER db TO 'conninfo' [WITH (...)] "
			     "| SWITCHOVER db ROLLBACK [WITH (...)] | "
			     "SWITCHOVER db ABORT");
		return;
	}
	if (strcasecmp(kw, "abort") == 0) {
		abort_cmd(c, dbname);
		return;
	}
	if (strcasecmp(kw, "rollback") == 0) {
		sw_opts_t o;
		sw_opts_default(&o);
		if (!sw_parse_with(p, &o, err, sizeof(err)) ||
		    sw_rollback(c->ctx, dbname, &o, on_done, as_arg(c), err,
				sizeof(err)) < 0) {
			admin_err(c, "%s", err);
			return;
		}
		c->admin_wait = ADMIN_WAIT_SWITCHOVER;
		return;
	}
	pool_db_t *db = pool_db_lookup(c->ctx, dbname);
	if (strcasecmp(kw, "to") != 0 || !db) {
		admin_err(c,
			  db ? "expected TO 'conninfo'"
			     : "no such database: %s",
			  dbname);
		return;
	}
	while (isspace((unsigned char)*p))
		p++;
	p = strq_unquote(p, '\'', ci, sizeof(ci));
	sw_opts_t o;
	sw_opts_default(&o);
	if (!p || !sw_parse_with(p, &o, err, sizeof(err))) {
		admin_err(c, "%s", err[0] ? err : "expected TO 'conninfo'");
		return;
	}
	if (sw_begin(c->ctx, dbname, ci, &o, on_done, as_arg(c), err,
		     sizeof(err)) < 0) {
		admin_err(c, "%s", err);
		return;
	}
	c->admin_wait = ADMIN_WAIT_SWITCHOVER;
}

void admin_show_switchover(client_t *c, const char *db)
{
	admin_row_desc(c, sw_report_fields(), SW_REPORT_COLS);
	sw_report(c->ctx, db, admin_put_row, c);
	admin_ok(c, "SHOW");
}
