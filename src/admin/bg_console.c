/* SPDX-License-Identifier: MIT */
/*
 * bg_console.c - the console half of the blue/green switchover:
 * BLUEGREEN db PREPARE TO 'conninfo' [WITH (...)] and SHOW BLUEGREEN [db].
 * The work is src/switch/bluegreen.c's; this parses, parks the console
 * until PREPARE ends and writes the rows.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin/admin_int.h"
#include "conn/conn.h"
#include "switch/bluegreen.h"
#include "switch/shadow.h"
#include "switch/sw_parse.h"
#include "util/strq.h"

typedef struct bg_reply {
	pgs_ctx_t *ctx;
	uint64_t id;
	char db[64];
} bg_reply_t;

static void on_done(pgs_ctx_t *ctx, void *arg, bool ok, const char *msg)
{
	bg_reply_t *r = arg;
	client_t *c = admin_waiting(ctx, r->id, ADMIN_WAIT_BLUEGREEN);
	if (c) {
		c->admin_wait = ADMIN_WAIT_NONE;
		if (ok) {
			admin_row_desc(c, bg_report_fields(), BG_REPORT_COLS);
			bg_report(ctx, r->db, admin_put_row, c);
			admin_ok(c, "BLUEGREEN");
		} else {
			admin_err(c, "%s", msg);
		}
		client_process(c);
	}
	free(r);
}

/* FINISH answers one row: what was dropped where. */
static void on_finished(pgs_ctx_t *ctx, void *arg, bool ok, const char *msg)
{
	bg_reply_t *r = arg;
	client_t *c = admin_waiting(ctx, r->id, ADMIN_WAIT_BLUEGREEN);
	if (c) {
		c->admin_wait = ADMIN_WAIT_NONE;
		if (ok) {
			static const pgp_field_t f[2] = {
				{"database", PGP_OID_TEXT, -1},
				{"result", PGP_OID_TEXT, -1},
			};
			const char *v[2] = {r->db, msg};
			admin_row_desc(c, f, 2);
			admin_put_row(c, v, 2);
			admin_ok(c, "BLUEGREEN");
		} else {
			admin_err(c, "%s", msg);
		}
		client_process(c);
	}
	free(r);
}

static bg_reply_t *reply_for(client_t *c, const char *db)
{
	bg_reply_t *r = calloc(1, sizeof(*r));
	if (!r) {
		admin_err(c, "out of memory");
		return NULL;
	}
	r->ctx = c->ctx;
	r->id = c->id;
	snprintf(r->db, sizeof(r->db), "%s", db);
	return r;
}

static void finish_cmd(client_t *c, const char *db, const char *p)
{
	char ci[1024] = "", err[768] = "";
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '\'' && !strq_unquote(p, '\'', ci, sizeof(ci))) {
		admin_err(c, "usage: BLUEGREEN db FINISH ['conninfo']");
		return;
	}
	bg_reply_t *r = reply_for(c, db);
	if (!r)
		return;
	if (bg_finish(c->ctx, db, ci, on_finished, r, err, sizeof(err)) < 0) {
		free(r);
		admin_err(c, "%s", err);
		return;
	}
	c->admin_wait = ADMIN_WAIT_BLUEGREEN;
}

/* BLUEGREEN db SHADOW rate ['conninfo']: onto the conninfo's server,
 * else PREPARE's new side. */
static void shadow_cmd(client_t *c, const char *db, const char *p)
{
	char ci[1024] = "", err[768] = "", host[256] = "", *end;
	int port = 0;
	while (isspace((unsigned char)*p))
		p++;
	double rate = strtod(p, &end);
	if (end == p) {
		admin_err(c, "usage: BLUEGREEN db SHADOW rate ['conninfo']");
		return;
	}
	p = end;
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '\'' && !strq_unquote(p, '\'', ci, sizeof(ci))) {
		admin_err(c, "usage: BLUEGREEN db SHADOW rate ['conninfo']");
		return;
	}
	bg_sides_t bs;
	if (ci[0]) {
		sw_conninfo_target(ci, host, sizeof(host), &port);
	} else if (bg_sides(c->ctx, db, &bs)) {
		snprintf(host, sizeof(host), "%s", bs.new_host);
		port = bs.new_port;
		snprintf(ci, sizeof(ci), "%s", bs.new_extra);
	} else if (rate > 0) {
		admin_err(
			c,
			"BLUEGREEN %s SHADOW: no new side known (no PREPARE): "
			"name it, BLUEGREEN %s SHADOW %g 'host=... port=...'",
			db, db, rate);
		return;
	}
	if (shadow_set(c->ctx, db, rate, host[0] || port ? host : NULL, port,
		       ci, err, sizeof(err)) < 0) {
		admin_err(c, "%s", err);
		return;
	}
	admin_ok(c, "BLUEGREEN");
}

void admin_show_shadow(client_t *c, const char *db)
{
	admin_row_desc(c, shadow_report_fields(), SHADOW_REPORT_COLS);
	shadow_report(c->ctx, db, admin_put_row, c);
	admin_ok(c, "SHOW");
}

void admin_bluegreen(client_t *c, const char *sql)
{
	char dbname[64], kw[16], ci[1024], err[768] = "";
	const char *p = sw_word(sql, kw, sizeof(kw)); /* BLUEGREEN */
	p = p ? sw_word(p, dbname, sizeof(dbname)) : NULL;
	const char *usage = "usage: BLUEGREEN db PREPARE TO 'conninfo' "
			    "[WITH (tables = 'all' | 's.t1,s.t2', copy_data = "
			    "on|off, allow_no_key = off|on, publication = "
			    "'name', subscription = 'name')] | BLUEGREEN db "
			    "FINISH ['conninfo']";
	if (p)
		p = sw_word(p, kw, sizeof(kw));
	if (p && strcasecmp(kw, "finish") == 0) {
		finish_cmd(c, dbname, p);
		return;
	}
	if (p && strcasecmp(kw, "shadow") == 0) {
		shadow_cmd(c, dbname, p);
		return;
	}
	if (!p || strcasecmp(kw, "prepare") != 0) {
		admin_err(c, "%s", usage);
		return;
	}
	p = sw_word(p, kw, sizeof(kw));
	if (!p || strcasecmp(kw, "to") != 0) {
		admin_err(c, "%s", usage);
		return;
	}
	while (isspace((unsigned char)*p))
		p++;
	p = strq_unquote(p, '\'', ci, sizeof(ci));
	bg_opts_t o;
	bg_opts_default(&o);
	if (!p || !bg_parse_with(p, &o, err, sizeof(err))) {
		admin_err(c, "%s", err[0] ? err : "expected TO 'conninfo'");
		return;
	}
	bg_reply_t *r = reply_for(c, dbname);
	if (!r)
		return;
	if (bg_prepare(c->ctx, dbname, ci, &o, on_done, r, err, sizeof(err)) <
	    0) {
		free(r);
		admin_err(c, "%s", err);
		return;
	}
	c->admin_wait = ADMIN_WAIT_BLUEGREEN;
}

void admin_show_bluegreen(client_t *c, const char *db)
{
	admin_row_desc(c, bg_report_fields(), BG_REPORT_COLS);
	bg_report(c->ctx, db, admin_put_row, c);
	admin_ok(c, "SHOW");
}
