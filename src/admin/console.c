/* SPDX-License-Identifier: MIT */
/*
 * console.c - admin command parsing and the control commands (PAUSE,
 * RESUME, RELOAD, ...). Replies and error texts follow PgBouncer's
 * (docs/internals/pgbouncer-compat.md) so existing tooling keeps working.
 *
 * Commands that complete later (PAUSE, WAIT_CLOSE) park the console
 * client (admin_wait); a timer of the console's own, armed while one is
 * parked, answers them. A parked console whose
 * client disconnects, or a RESUME from another console, releases the
 * wait: a console never hangs (PgBouncer issue #715).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "admin/admin_int.h"
#include "admin/takeover.h"
#include "config/cfg.h"
#include "conn/conn.h"
#include "pool/janitor.h"
#include "pool/pool.h"
#include "proto/pgp.h"
#include "util/strq.h"

bool admin_is_db(const char *name)
{
	return strcmp(name, admin_console.dbname) == 0;
}

void admin_err(client_t *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg(&c->ctx->log, LOG_ERROR, "%s", msg);
	client_error(c, "08P01", msg);
}

void admin_ok(client_t *c, const char *tag)
{
	pgp_wr_command_complete(&c->io.obuf, tag);
	pgp_wr_ready(&c->io.obuf, 'I');
}

void admin_row_desc(client_t *c, const pgp_field_t *f, int n)
{
	pgp_wr_row_desc(&c->io.obuf, f, n);
}

void admin_row(client_t *c, const char *const *vals, int n)
{
	pgp_wr_data_row(&c->io.obuf, vals, n);
}

/* ---- parsing ---- */

typedef struct cmd {
	const char *sql; /* the whole query, for error texts */
	char word[32];
	char arg[256];
	bool has_arg;
} cmd_t;

static const char *skip_ws(const char *p)
{
	while (*p && isspace((unsigned char)*p))
		p++;
	return p;
}

/* A WORD: [0-9a-z_]+ or "quoted". Returns the end or NULL. */
static const char *parse_word(const char *p, char *out, size_t cap)
{
	size_t n = 0;
	if (*p == '"') {
		const char *e = strq_unquote(p, '"', out, cap);
		return e && out[0] ? e : NULL;
	}
	while (*p && (isalnum((unsigned char)*p) || *p == '_' || *p == '-' ||
		      *p == '.' || *p == '*')) {
		if (n + 1 >= cap)
			return NULL;
		out[n++] = *p++;
	}
	out[n] = 0;
	return n ? p : NULL;
}

static bool at_end(const char *p)
{
	p = skip_ws(p);
	if (*p == ';')
		p = skip_ws(p + 1);
	return *p == 0;
}

static bool parse_cmd(const char *sql, cmd_t *cmd)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->sql = sql;
	const char *p = parse_word(skip_ws(sql), cmd->word, sizeof(cmd->word));
	if (!p)
		return false;
	if (at_end(p))
		return true;
	if (!isspace((unsigned char)*p))
		return false;
	p = parse_word(skip_ws(p), cmd->arg, sizeof(cmd->arg));
	if (!p || !at_end(p))
		return false;
	cmd->has_arg = true;
	return true;
}

/* SET key = value | SET key TO value; value a WORD or 'string'. */
static bool parse_set(const char *sql, char *key, size_t kcap, char *val,
		      size_t vcap)
{
	const char *p = skip_ws(sql);
	if (strncasecmp(p, "set", 3) != 0 || !isspace((unsigned char)p[3]))
		return false;
	p = parse_word(skip_ws(p + 3), key, kcap);
	if (!p)
		return false;
	p = skip_ws(p);
	if (*p == '=')
		p++;
	else if (strncasecmp(p, "to", 2) == 0 && isspace((unsigned char)p[2]))
		p += 2;
	else
		return false;
	p = skip_ws(p);
	if (*p == '\'') {
		p = strq_unquote(p, '\'', val, vcap);
		if (!p)
			return false;
	} else {
		p = parse_word(p, val, vcap);
		if (!p)
			return false;
	}
	return at_end(p);
}

/* ---- commands ---- */

static bool need_admin(client_t *c)
{
	if (c->admin_rw)
		return true;
	admin_err(c, "admin access needed");
	return false;
}

static pool_db_t *need_db(client_t *c, const char *name, const char *verb)
{
	if (admin_is_db(name)) {
		admin_err(c, "cannot %s admin db: %s", verb, name);
		return NULL;
	}
	pool_db_t *db = pool_db_lookup(c->ctx, name);
	if (!db)
		admin_err(c, "no such database: %s", name);
	return db;
}

static void set_db_paused(pgs_ctx_t *ctx, pool_db_t *db, bool on)
{
	list_node_t *n;
	for (n = ctx->dbs.next; n != &ctx->dbs; n = n->next) {
		pool_db_t *d = list_entry(n, pool_db_t, node);
		if (!db || d == db)
			d->paused = on;
	}
}

/* Release every console parked on a PAUSE (RESUME came first). */
static void abort_pause_waits(pgs_ctx_t *ctx)
{
	list_node_t *n;
	for (n = ctx->admin_clients.head.next; n != &ctx->admin_clients.head;
	     n = n->next) {
		client_t *w = list_entry(n, client_t, node);
		if (w->admin_wait != ADMIN_WAIT_PAUSE)
			continue;
		w->admin_wait = 0;
		admin_err(w, "PAUSE aborted by RESUME");
		client_process(w);
	}
}

static void cmd_pause(client_t *c, const cmd_t *cmd)
{
	pgs_ctx_t *ctx = c->ctx;
	pool_db_t *db = NULL;
	if (!need_admin(c))
		return;
	if (ctx->paused_all || ctx->suspended) {
		admin_err(c, "already suspended/paused");
		return;
	}
	if (cmd->has_arg) {
		db = need_db(c, cmd->arg, "pause");
		if (!db)
			return;
		log_msg(&ctx->log, LOG_LOG, "PAUSE '%s' command issued",
			db->name);
		db->paused = true;
	} else {
		log_msg(&ctx->log, LOG_LOG, "PAUSE command issued");
		ctx->paused_all = true;
	}
	c->admin_wait = ADMIN_WAIT_PAUSE;
	free(c->admin_wait_db);
	c->admin_wait_db = db ? strdup(db->name) : NULL;
	admin_arm_waits(ctx);
}

static void cmd_resume(client_t *c, const cmd_t *cmd)
{
	pgs_ctx_t *ctx = c->ctx;
	if (!need_admin(c))
		return;
	if (cmd->has_arg) {
		pool_db_t *db = pool_db_find(ctx, cmd->arg);
		if (!db) {
			admin_err(c, "no such database: %s", cmd->arg);
			return;
		}
		if (!db->paused) {
			admin_err(c, "database %s is not paused", cmd->arg);
			return;
		}
		log_msg(&ctx->log, LOG_LOG, "RESUME '%s' command issued",
			db->name);
		db->paused = false;
	} else {
		if (ctx->shutdown != PGS_RUNNING) {
			admin_err(c, "pooler is shutting down");
			return;
		}
		bool any = ctx->paused_all || ctx->suspended;
		list_node_t *n;
		for (n = ctx->dbs.next; n != &ctx->dbs; n = n->next)
			any |= list_entry(n, pool_db_t, node)->paused;
		if (!any) {
			admin_err(c, "pooler is not paused/suspended");
			return;
		}
		log_msg(&ctx->log, LOG_LOG, "RESUME command issued");
		if (ctx->suspended)
			admin_suspend_end(ctx);
		ctx->paused_all = false;
		ctx->suspended = false;
		set_db_paused(ctx, NULL, false);
	}
	abort_pause_waits(ctx);
	list_node_t *n;
	for (n = ctx->pools.next; n != &ctx->pools; n = n->next)
		pool_launch(list_entry(n, pool_t, node));
	admin_ok(c, "RESUME");
}

static void kill_db(pgs_ctx_t *ctx, pool_db_t *db)
{
	list_node_t *n, *m, *tmp;
	for (n = ctx->pools.next; n != &ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		if (db && p->db != db)
			continue;
		statlist_t *cls[] = {&p->active_clients, &p->waiting_clients};
		for (size_t i = 0; i < 2; i++)
			statlist_for_each_safe(m, tmp, cls[i])
			{
				client_close(list_entry(m, client_t, node),
					     "08P01", "database removed");
			}
		statlist_t *svs[] = {&p->active_servers,  &p->idle_servers,
				     &p->used_servers,	  &p->tested_servers,
				     &p->login_servers,	  &p->parked_servers,
				     &p->canceled_servers};
		for (size_t i = 0; i < 7; i++)
			statlist_for_each_safe(m, tmp, svs[i])
			{
				server_close(list_entry(m, server_t, node),
					     "database removed");
			}
	}
}

static void cmd_kill(client_t *c, const cmd_t *cmd)
{
	pgs_ctx_t *ctx = c->ctx;
	if (!need_admin(c))
		return;
	pool_db_t *db = NULL;
	if (cmd->has_arg) {
		db = need_db(c, cmd->arg, "kill");
		if (!db)
			return;
		log_msg(&ctx->log, LOG_LOG, "KILL '%s' command issued",
			db->name);
		db->paused = true;
	} else {
		if (ctx->paused_all || ctx->suspended) {
			admin_err(c, "already suspended/paused");
			return;
		}
		log_msg(&ctx->log, LOG_LOG, "KILL command issued");
		ctx->paused_all = true;
	}
	kill_db(ctx, db);
	admin_ok(c, "KILL");
}

static void cmd_reconnect(client_t *c, const cmd_t *cmd)
{
	pool_db_t *db = NULL;
	if (!need_admin(c))
		return;
	if (cmd->has_arg) {
		db = need_db(c, cmd->arg, "reconnect");
		if (!db)
			return;
		log_msg(&c->ctx->log, LOG_LOG, "RECONNECT '%s' command issued",
			db->name);
	} else {
		log_msg(&c->ctx->log, LOG_LOG, "RECONNECT command issued");
	}
	pool_reconnect_db(c->ctx, db);
	admin_ok(c, "RECONNECT");
}

static void cmd_able(client_t *c, const cmd_t *cmd, bool disable)
{
	const char *verb = disable ? "disable" : "enable";
	if (!need_admin(c))
		return;
	if (!cmd->has_arg) {
		admin_err(c, "a database is required");
		return;
	}
	pool_db_t *db = need_db(c, cmd->arg, verb);
	if (!db)
		return;
	log_msg(&c->ctx->log, LOG_LOG, "%s '%s' command issued",
		disable ? "DISABLE" : "ENABLE", db->name);
	db->disabled = disable;
	admin_ok(c, disable ? "DISABLE" : "ENABLE");
}

static void cmd_wait_close(client_t *c, const cmd_t *cmd)
{
	pool_db_t *db = NULL;
	if (!need_admin(c))
		return;
	if (cmd->has_arg) {
		db = need_db(c, cmd->arg, "wait in");
		if (!db)
			return;
		log_msg(&c->ctx->log, LOG_LOG, "WAIT_CLOSE '%s' command issued",
			db->name);
	} else {
		log_msg(&c->ctx->log, LOG_LOG, "WAIT_CLOSE command issued");
	}
	c->admin_wait = ADMIN_WAIT_CLOSE;
	free(c->admin_wait_db);
	c->admin_wait_db = db ? strdup(db->name) : NULL;
	admin_arm_waits(c->ctx);
}

static void cmd_reload(client_t *c, const cmd_t *cmd)
{
	char err[512];
	if (cmd->has_arg) {
		admin_err(c, "invalid command '%s %s', use SHOW HELP;",
			  cmd->word, cmd->arg);
		return;
	}
	if (!need_admin(c))
		return;
	log_msg(&c->ctx->log, LOG_LOG, "RELOAD command issued");
	if (c->ctx->hooks.reload(c->ctx, err, sizeof(err)) < 0) {
		log_msg(&c->ctx->log, LOG_ERROR,
			"RELOAD Failed, see logs for more details");
		pgp_wr_error_detail(&c->io.obuf, "ERROR", "F0000",
				    "RELOAD failed, see logs for additional "
				    "details",
				    err);
		pgp_wr_ready(&c->io.obuf, 'I');
		return;
	}
	admin_ok(c, "RELOAD");
}

static void cmd_shutdown(client_t *c, const cmd_t *cmd)
{
	pgs_ctx_t *ctx = c->ctx;
	if (!need_admin(c))
		return;
	if (!cmd->has_arg) {
		log_msg(&ctx->log, LOG_LOG, "SHUTDOWN command issued");
		ctx->shutdown = PGS_SHUTDOWN_NOW;
		ev_stop(ctx->loop);
		return;
	}
	bool clients = strcasecmp(cmd->arg, "WAIT_FOR_CLIENTS") == 0;
	if (clients || strcasecmp(cmd->arg, "WAIT_FOR_SERVERS") == 0) {
		log_msg(&ctx->log, LOG_LOG, "SHUTDOWN %s command issued",
			clients ? "WAIT_FOR_CLIENTS" : "WAIT_FOR_SERVERS");
		pgs_shutdown_begin(ctx, clients ? PGS_SHUTDOWN_WAIT_CLIENTS
						: PGS_SHUTDOWN_WAIT_SERVERS);
		admin_ok(c, "SHUTDOWN");
		return;
	}
	admin_err(c, "invalid command 'SHUTDOWN %s', use SHOW HELP;", cmd->arg);
}

static void cmd_suspend(client_t *c, const cmd_t *cmd)
{
	pgs_ctx_t *ctx = c->ctx;
	if (cmd->has_arg) {
		admin_err(c, "invalid command 'SUSPEND %s', use SHOW HELP;",
			  cmd->arg);
		return;
	}
	if (!need_admin(c))
		return;
	if (ctx->paused_all || ctx->suspended) {
		admin_err(c, "already suspended/paused");
		return;
	}
	log_msg(&ctx->log, LOG_LOG, "SUSPEND command issued");
	ctx->suspended = true;
	admin_suspend_begin(c); /* answered once every socket is quiet */
}

static void cmd_kill_client(client_t *c, const cmd_t *cmd)
{
	if (!need_admin(c))
		return;
	char *end;
	unsigned long long id = strtoull(cmd->arg, &end, 10);
	if (!cmd->has_arg || *end) {
		admin_err(c, "invalid client pointer supplied");
		return;
	}
	list_node_t *n, *m;
	for (n = c->ctx->pools.next; n != &c->ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		statlist_t *ls[] = {&p->active_clients, &p->waiting_clients};
		for (int i = 0; i < 2; i++)
			for (m = ls[i]->head.next; m != &ls[i]->head;
			     m = m->next) {
				client_t *x = list_entry(m, client_t, node);
				if (x->id != id)
					continue;
				client_close(x, "08P01",
					     "admin forced disconnect");
				admin_ok(c, "KILL_CLIENT");
				return;
			}
	}
	admin_err(c, "client not found");
}

static const char *const fake_vars[][2] = {
	{"client_encoding", "UTF-8"},
	{"default_transaction_isolation", "read committed"},
	{"standard_conforming_strings", "on"},
	{"datestyle", "ISO"},
	{"timezone", "GMT"},
	{"extra_float_digits", "2"},
};

static bool fake_show(client_t *c, const char *name)
{
	for (size_t i = 0; i < sizeof(fake_vars) / sizeof(fake_vars[0]); i++) {
		if (strcasecmp(name, fake_vars[i][0]) != 0)
			continue;
		pgp_field_t f = {fake_vars[i][0], PGP_OID_TEXT, -1};
		admin_row_desc(c, &f, 1);
		const char *v = fake_vars[i][1];
		admin_row(c, &v, 1);
		admin_ok(c, "SHOW");
		return true;
	}
	return false;
}

static void cmd_set(client_t *c, const char *sql)
{
	char key[64], val[256], err[256], tag[400];
	if (!parse_set(sql, key, sizeof(key), val, sizeof(val))) {
		admin_err(c, "invalid command '%s', use SHOW HELP;", sql);
		return;
	}
	for (size_t i = 0; i < sizeof(fake_vars) / sizeof(fake_vars[0]); i++) {
		if (strcasecmp(key, fake_vars[i][0]) == 0) {
			pgp_wr_notice(&c->io.obuf, "NOTICE", "00000",
				      "SET ignored");
			admin_ok(c, "SET");
			return;
		}
	}
	if (!need_admin(c))
		return;
	bool tls = strncasecmp(key, "client_tls", 10) == 0 ||
		   strncasecmp(key, "server_tls", 10) == 0;
	if (cfg_set(c->ctx->cfg, key, val, err, sizeof(err)) < 0) {
		log_msg(&c->ctx->log, LOG_WARNING, "SET %s failed: %s", key,
			err);
		admin_err(c, "SET failed");
		return;
	}
	/* TLS settings take effect now. As in PgBouncer the SET itself
	 * stands when the new context cannot be built (a key set before its
	 * certificate): the error is logged and the old context stays until
	 * a later change makes a good one. */
	if (tls && conn_tls_configure(c->ctx, false, err, sizeof(err)) < 0) {
		log_msg(&c->ctx->log, LOG_ERROR, "%s", err);
		pgp_wr_notice(&c->io.obuf, "WARNING", "01000",
			      "TLS settings could not be applied, still using "
			      "old configuration");
	}
	/* The logger holds its own level (the command line's -v too). */
	if (strcasecmp(key, "verbose") == 0)
		c->ctx->log.verbose = c->ctx->cfg->verbose;
	snprintf(tag, sizeof(tag), "SET %s=%s", key, val);
	admin_ok(c, tag);
}

static void cmd_show(client_t *c, const cmd_t *cmd)
{
	if (cmd->has_arg && (fake_show(c, cmd->arg) || admin_show(c, cmd->arg)))
		return;
	admin_err(c, "invalid command '%s', use SHOW HELP;", cmd->sql);
}

static void cmd_disable(client_t *c, const cmd_t *cmd)
{
	cmd_able(c, cmd, true);
}

static void cmd_enable(client_t *c, const cmd_t *cmd)
{
	cmd_able(c, cmd, false);
}

/* The console's one-word commands (after PgBouncer admin.c's cmd_list[]);
 * SET and SWITCHOVER have grammars of their own. */
static const struct {
	const char *word;
	void (*run)(client_t *c, const cmd_t *cmd);
} cmd_list[] = {
	{"show", cmd_show},	      {"select", cmd_show},
	{"pause", cmd_pause},	      {"resume", cmd_resume},
	{"kill", cmd_kill},	      {"kill_client", cmd_kill_client},
	{"reconnect", cmd_reconnect}, {"disable", cmd_disable},
	{"enable", cmd_enable},	      {"wait_close", cmd_wait_close},
	{"reload", cmd_reload},	      {"shutdown", cmd_shutdown},
	{"suspend", cmd_suspend},
};

static void query(client_t *c, const char *sql)
{
	cmd_t cmd;
	const char *p = skip_ws(sql);

	if (*p == 0 || *p == ';') {
		pgp_wr_empty_query(&c->io.obuf);
		pgp_wr_ready(&c->io.obuf, 'I');
		return;
	}
	if (strncasecmp(p, "set", 3) == 0 && isspace((unsigned char)p[3])) {
		cmd_set(c, sql);
		return;
	}
	if (strncasecmp(p, "switchover", 10) == 0 &&
	    (isspace((unsigned char)p[10]) || p[10] == 0)) {
		if (need_admin(c))
			admin_switchover(c, sql);
		return;
	}
	if (strncasecmp(p, "bluegreen", 9) == 0 &&
	    (isspace((unsigned char)p[9]) || p[9] == 0)) {
		if (need_admin(c))
			admin_bluegreen(c, sql);
		return;
	}
	if (strncasecmp(p, "show", 4) == 0 && isspace((unsigned char)p[4])) {
		const char *q = skip_ws(p + 4);
		if (strncasecmp(q, "bluegreen", 9) == 0 &&
		    (isspace((unsigned char)q[9]) || q[9] == 0 ||
		     q[9] == ';')) {
			char arg[64];
			const char *e =
				parse_word(skip_ws(q + 9), arg, sizeof(arg));
			admin_show_bluegreen(c, e ? arg : NULL);
			return;
		}
		if (strncasecmp(q, "shadow", 6) == 0 &&
		    (isspace((unsigned char)q[6]) || q[6] == 0 ||
		     q[6] == ';')) {
			char arg[64];
			const char *e =
				parse_word(skip_ws(q + 6), arg, sizeof(arg));
			admin_show_shadow(c, e ? arg : NULL);
			return;
		}
		if (strncasecmp(q, "switchover", 10) == 0 &&
		    (isspace((unsigned char)q[10]) || q[10] == 0 ||
		     q[10] == ';')) {
			char arg[64];
			const char *e =
				parse_word(skip_ws(q + 10), arg, sizeof(arg));
			admin_show_switchover(c, e ? arg : NULL);
			return;
		}
	}
	if (!parse_cmd(sql, &cmd)) {
		admin_err(c, "invalid command '%s', use SHOW HELP;", sql);
		return;
	}
	for (size_t i = 0; i < sizeof(cmd_list) / sizeof(cmd_list[0]); i++) {
		if (strcasecmp(cmd.word, cmd_list[i].word) == 0) {
			cmd_list[i].run(c, &cmd);
			return;
		}
	}
	admin_err(c, "invalid command '%s', use SHOW HELP;", sql);
}

static void client_gone(client_t *c)
{
	if ((c->admin_wait || c->id == c->ctx->suspend_admin_id) &&
	    c->ctx->suspended) {
		log_msg(&c->ctx->log, LOG_LOG,
			"admin disappeared when suspended, doing RESUME");
		c->ctx->suspended = false;
		admin_suspend_end(c->ctx);
	}
	c->admin_wait = 0;
}

/* Paused pools drop servers as they are released (PgBouncer's PAUSE
 * disconnects from the servers); done when none are left. */
static bool pause_done(pgs_ctx_t *ctx, pool_db_t *db)
{
	int left = 0;
	list_node_t *n, *m, *tmp;
	for (n = ctx->pools.next; n != &ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		if (db && p->db != db)
			continue;
		statlist_t *idle[] = {&p->idle_servers, &p->used_servers};
		for (int i = 0; i < 2; i++)
			statlist_for_each_safe(m, tmp, idle[i])
			{
				server_close(list_entry(m, server_t, node),
					     "PAUSE issued");
			}
		left += pool_server_total(p);
	}
	return left == 0;
}

static void check_waits(pgs_ctx_t *ctx)
{
	list_node_t *n, *tmp;
	admin_suspend_step(ctx);
	statlist_for_each_safe(n, tmp, &ctx->admin_clients)
	{
		client_t *c = list_entry(n, client_t, node);
		if (c->admin_wait != ADMIN_WAIT_PAUSE &&
		    c->admin_wait != ADMIN_WAIT_CLOSE)
			continue;
		pool_db_t *db = c->admin_wait_db
					? pool_db_find(ctx, c->admin_wait_db)
					: NULL;
		bool done;
		const char *tag;
		if (c->admin_wait == ADMIN_WAIT_PAUSE) {
			done = pause_done(ctx, db);
			tag = "PAUSE";
		} else {
			done = pool_count_dirty(ctx, db) == 0;
			tag = "WAIT_CLOSE";
		}
		if (!done)
			continue;
		c->admin_wait = 0;
		admin_ok(c, tag);
		client_process(c);
	}
}

static bool parked(const client_t *c)
{
	return c->admin_wait != ADMIN_WAIT_NONE;
}

static bool any_waits(pgs_ctx_t *ctx)
{
	list_node_t *n;
	for (n = ctx->admin_clients.head.next; n != &ctx->admin_clients.head;
	     n = n->next) {
		const client_t *c = list_entry(n, client_t, node);
		if (c->admin_wait == ADMIN_WAIT_PAUSE ||
		    c->admin_wait == ADMIN_WAIT_CLOSE ||
		    c->admin_wait == ADMIN_WAIT_SUSPEND)
			return true;
	}
	return false;
}

static void on_wait_timer(ev_loop_t *loop, void *data)
{
	pgs_ctx_t *ctx = data;
	(void)loop;
	ctx->admin_timer = 0;
	check_waits(ctx);
	if (any_waits(ctx))
		admin_arm_waits(ctx);
}

/* PAUSE and WAIT_CLOSE end when servers are gone, SUSPEND when buffers are
 * empty: checked now and every ADMIN_WAIT_PERIOD_MS while one waits. */
void admin_arm_waits(pgs_ctx_t *ctx)
{
	check_waits(ctx);
	if (!ctx->admin_timer && any_waits(ctx))
		ctx->admin_timer = ev_timer_add(ctx->loop, ADMIN_WAIT_PERIOD_MS,
						on_wait_timer, ctx);
}

const char *admin_wait_name(admin_wait_t w)
{
	switch (w) {
	case ADMIN_WAIT_NONE:
		return "none";
	case ADMIN_WAIT_PAUSE:
		return "pause";
	case ADMIN_WAIT_CLOSE:
		return "wait_close";
	case ADMIN_WAIT_SWITCHOVER:
		return "switchover";
	case ADMIN_WAIT_BLUEGREEN:
		return "bluegreen";
	case ADMIN_WAIT_SUSPEND:
		return "suspend";
	}
	return "?";
}

client_t *admin_waiting(pgs_ctx_t *ctx, uint64_t id, admin_wait_t w)
{
	list_node_t *n;
	for (n = ctx->admin_clients.head.next; n != &ctx->admin_clients.head;
	     n = n->next) {
		client_t *c = list_entry(n, client_t, node);
		if (c->id == id && c->admin_wait == (int)w)
			return c;
	}
	return NULL;
}

void admin_put_row(void *arg, const char *const *vals, int n)
{
	admin_row(arg, vals, n);
}

const conn_handler_t admin_console = {
	.dbname = "pgbouncer",
	.query = query,
	.parked = parked,
	.gone = client_gone,
};
