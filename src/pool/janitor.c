/* SPDX-License-Identifier: MIT */
/*
 * janitor.c - everything that happens because time passed.
 *
 * Timeouts are checked here every JANITOR_PERIOD_MS rather than with a
 * timer per connection: thousands of clients cost one list walk, and
 * PgBouncer's timeouts have never been more precise than that.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth.h"
#include "auth/hba.h"
#include "config/cfg.h"
#include "conn/conn.h"
#include "metrics/stats.h"
#include "pool/janitor.h"
#include "pool/peer.h"
#include "pool/pool.h"
#include "proto/pgp.h"

static void janitor_timer(ev_loop_t *loop, void *data)
{
	pgs_ctx_t *ctx = data;
	janitor_run(ctx);
	ctx->janitor_timer =
		ev_timer_add(loop, JANITOR_PERIOD_MS, janitor_timer, ctx);
}

void janitor_start(pgs_ctx_t *ctx)
{
	ctx->janitor_timer =
		ev_timer_add(ctx->loop, JANITOR_PERIOD_MS, janitor_timer, ctx);
}

static bool over(int64_t now, int64_t since, long limit_ms)
{
	return limit_ms > 0 && since > 0 && now - since > limit_ms * 1000;
}

/* A [users] override, or the global timeout. */
static long user_ms(long user, long global)
{
	return user >= 0 ? user : global;
}

/* A linked client's timeouts, PgBouncer's order and words. */
static void check_linked(pool_t *p, client_t *c, server_t *s, int64_t now)
{
	const cfg_t *cfg = p->ctx->cfg;
	const pool_user_t *u = p->user;
	/* server_fast_close: a session's server that RECONNECT (or a new
	 * target) made obsolete goes at the end of its transaction, and
	 * the client with it, so it notices (PgBouncer's words). */
	if (cfg->server_fast_close &&
	    (s->dirty || s->generation != p->db->generation) &&
	    pool_mode(p) == CFG_POOL_SESSION && server_quiet(s)) {
		client_close(c, "08P01", "database configuration changed");
		return;
	}
	if (s->tx_status != 'I' && c->xact_us &&
	    over(now, c->xact_us,
		 user_ms(u->transaction_timeout, cfg->transaction_timeout))) {
		client_close(c, "08P01", "transaction timeout");
		return;
	}
	if (s->expect_rfq > 0) {
		if (over(now, s->query_us,
			 user_ms(u->query_timeout, cfg->query_timeout))) {
			server_cancel(p->ctx, s);
			client_close(c, "08P01", "query timeout");
		}
		return;
	}
	/* Idle since the last reply (a long query is not idleness), or
	 * since the client last sent something. */
	int64_t idle = c->request_us > c->idle_us ? c->request_us : c->idle_us;
	if (s->tx_status != 'I' &&
	    over(now, idle,
		 user_ms(u->idle_transaction_timeout,
			 cfg->idle_transaction_timeout))) {
		client_close(c, "08P01", "idle transaction timeout");
		return;
	}
	if (s->tx_status == 'I' &&
	    over(now, idle,
		 user_ms(u->client_idle_timeout, cfg->client_idle_timeout)))
		client_close(c, "08P01", "client_idle_timeout");
}

/* query_wait_notify: a client queued that long hears why it waits,
 * once per wait, in PgBouncer's words (which name no database). */
static void notify_queued(pool_t *p, client_t *c, int64_t now)
{
	long after = p->ctx->cfg->query_wait_notify;
	if (c->state != CL_WAITING || c->wait_notified ||
	    !over(now, c->wait_us, after))
		return;
	c->wait_notified = true;
	pgp_wr_notice(&c->io.obuf, "NOTICE", "00000",
		      "No server connection available in postgres backend, "
		      "client being queued");
	if (client_flush(c))
		client_update_io(c);
}

static void check_clients(pool_t *p, int64_t now)
{
	const cfg_t *cfg = p->ctx->cfg;
	list_node_t *n, *tmp;
	long qt = user_ms(p->user->query_timeout, cfg->query_timeout);

	statlist_for_each_safe(n, tmp, &p->waiting_clients)
	{
		client_t *c = list_entry(n, client_t, node);
		/* PgBouncer's words: "query_timeout" for a query that never
		 * got a server, "query timeout" for one that ran too long. */
		int64_t since = c->wait_us ? c->wait_us : c->connect_us;
		/* A frozen database's clients wait on its freezer's own
		 * deadline (the switchover's), not query_wait_timeout. */
		bool held = p->db->frozen;
		if (!held && over(now, since, qt))
			client_close(c, "08P01", "query_timeout");
		else if (!held && over(now, since, cfg->query_wait_timeout))
			client_close(c, "08P01", "query_wait_timeout");
		else if ((c->state == CL_WAITING_LOGIN ||
			  c->state == CL_WAITING_AUTH) &&
			 over(now, c->connect_us, cfg->client_login_timeout))
			client_close(c, "08P01",
				     "client_login_timeout (server down)");
		else
			notify_queued(p, c, now);
	}
	long idle_ms =
		user_ms(p->user->client_idle_timeout, cfg->client_idle_timeout);
	statlist_for_each_safe(n, tmp, &p->active_clients)
	{
		client_t *c = list_entry(n, client_t, node);
		if (c->link)
			check_linked(p, c, c->link, now);
		else if (over(now,
			      c->request_us > c->idle_us ? c->request_us
							 : c->idle_us,
			      idle_ms))
			client_close(c, "08P01", "client_idle_timeout");
	}
}

static void check_servers(pool_t *p, int64_t now)
{
	const cfg_t *cfg = p->ctx->cfg;
	list_node_t *n, *tmp;
	int keep = p->db->min_pool_size >= 0 ? p->db->min_pool_size
					     : cfg->min_pool_size;

	/* Unused servers; one idle past server_check_delay becomes used:
	 * it is checked when a client next needs it, not now. */
	statlist_t *unused[] = {&p->idle_servers, &p->used_servers};
	for (size_t i = 0; i < 2; i++)
		statlist_for_each_safe(n, tmp, unused[i])
		{
			server_t *s = list_entry(n, server_t, node);
			int total = pool_server_total(p);
			if (s->dirty || s->generation != p->db->generation)
				server_close(s,
					     "database configuration changed");
			else if (over(now, s->connect_us,
				      pool_server_lifetime(p)) &&
				 total > keep)
				server_close(s, "server lifetime over");
			else if (over(now, s->request_us,
				      cfg->server_idle_timeout) &&
				 total > keep)
				server_close(s, "server idle timeout");
			else if (s->state == SV_IDLE &&
				 pool_check_due(p, s, now))
				pool_server_state(s, SV_USED);
		}
	statlist_t *logins[] = {&p->login_servers, &p->parked_servers};
	for (size_t i = 0; i < 2; i++)
		statlist_for_each_safe(n, tmp, logins[i])
		{
			server_t *s = list_entry(n, server_t, node);
			if (!server_logging_in(s) ||
			    !over(now, s->connect_us,
				  cfg->server_connect_timeout))
				continue;
			if (s->state == SV_LOGIN)
				pool_login_unreachable(p, "connect timeout");
			server_close(s, "connect timeout");
		}
}

/* A cancel request that cannot reach the server in time is given up, so
 * a dead network does not pile up cancel connections. */
static void check_cancel_servers(statlist_t *l, int64_t now, long timeout)
{
	list_node_t *n, *tmp;
	statlist_for_each_safe(n, tmp, l)
	{
		server_t *s = list_entry(n, server_t, node);
		if (over(now, s->connect_us, timeout))
			server_close(s, "cancel_wait_timeout");
	}
}

static void check_cancels(pgs_ctx_t *ctx, int64_t now)
{
	long timeout = ctx->cfg->cancel_wait_timeout;
	check_cancel_servers(&ctx->cancel_servers, now, timeout);
	list_node_t *n, *m, *tmp;
	for (n = ctx->pools.next; n != &ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		check_cancel_servers(&p->cancel_servers, now, timeout);
		/* A request still waiting for a connection. */
		statlist_for_each_safe(m, tmp, &p->waiting_cancel_clients)
		{
			client_t *c = list_entry(m, client_t, node);
			if (over(now, c->wait_us, timeout))
				client_close(c, NULL, "cancel_wait_timeout");
		}
	}
}

static void check_login_clients(pgs_ctx_t *ctx, int64_t now)
{
	list_node_t *n, *tmp;
	statlist_for_each_safe(n, tmp, &ctx->login_clients)
	{
		client_t *c = list_entry(n, client_t, node);
		if (over(now, c->connect_us, ctx->cfg->client_login_timeout))
			client_close(c, "08P01", "client_login_timeout");
	}
}

/* WAIT_FOR_SERVERS: no new work; servers go as they are released and
 * clients still queued are told why (PgBouncer's words). */
static int drain_servers(pgs_ctx_t *ctx)
{
	int left = 0;
	list_node_t *n, *m, *tmp;
	for (n = ctx->pools.next; n != &ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		statlist_for_each_safe(m, tmp, &p->waiting_clients)
		{
			client_close(list_entry(m, client_t, node), "08P01",
				     "server shutting down");
		}
		statlist_t *unused[] = {&p->idle_servers, &p->used_servers};
		for (size_t i = 0; i < 2; i++)
			statlist_for_each_safe(m, tmp, unused[i])
			{
				server_close(list_entry(m, server_t, node),
					     "pause mode");
			}
		left += pool_server_total(p) + p->parked_servers.count;
	}
	return left;
}

static void shutdown_tick(pgs_ctx_t *ctx)
{
	const char *why = NULL;
	if (ctx->shutdown == PGS_SHUTDOWN_WAIT_SERVERS &&
	    drain_servers(ctx) == 0)
		why = "server connections dropped, exiting";
	else if (ctx->shutdown == PGS_SHUTDOWN_WAIT_CLIENTS &&
		 ctx->client_count <= 0)
		/* Console clients count: PgBouncer waits for them too. */
		why = "client connections dropped, exiting";
	if (!why)
		return;
	log_msg(&ctx->log, LOG_LOG, "%s", why);
	ctx->shutdown = PGS_SHUTDOWN_NOW;
	ev_stop(ctx->loop);
}

static size_t release_clients(statlist_t *l)
{
	size_t n = 0;
	for (list_node_t *it = l->head.next; it != &l->head; it = it->next)
		n += conn_io_release(&list_entry(it, client_t, node)->io);
	return n;
}

static size_t release_servers(statlist_t *l)
{
	size_t n = 0;
	for (list_node_t *it = l->head.next; it != &l->head; it = it->next)
		n += conn_io_release(&list_entry(it, server_t, node)->io);
	return n;
}

/* Once a second, the buffers connections hold without bytes in them go
 * back: output buffers that outgrew a pool block (kept through drains so
 * a stream does not regrow them every turn), then the pools' surplus.
 * From the timer, so no processing frame is running. */
static void release_buffers(pgs_ctx_t *ctx, int64_t now)
{
	if (!conn_mem_due(ctx, now))
		return;
	size_t n = release_clients(&ctx->login_clients) +
		   release_clients(&ctx->admin_clients) +
		   release_servers(&ctx->cancel_servers);
	list_node_t *it;
	for (it = ctx->pools.next; it != &ctx->pools; it = it->next) {
		pool_t *p = list_entry(it, pool_t, node);
		n += release_clients(&p->active_clients) +
		     release_clients(&p->waiting_clients) +
		     release_servers(&p->active_servers) +
		     release_servers(&p->idle_servers) +
		     release_servers(&p->used_servers) +
		     release_servers(&p->tested_servers) +
		     release_servers(&p->login_servers) +
		     release_servers(&p->parked_servers);
	}
	conn_mem_freed(ctx, n);
	conn_mem_tick(ctx, now);
}

void janitor_run(pgs_ctx_t *ctx)
{
	int64_t now = ev_now_us(ctx->loop);
	list_node_t *n;

	check_login_clients(ctx, now);
	check_cancels(ctx, now);
	peer_janitor(ctx, now);
	for (n = ctx->pools.next; n != &ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		check_clients(p, now);
		check_servers(p, now);
		if (p->db->paused || ctx->paused_all)
			continue;
		if (p->waiting_clients.count > 0)
			pool_kick(p);
		else if (!ctx->suspended && (p->db->min_pool_size > 0 ||
					     ctx->cfg->min_pool_size > 0))
			pool_launch(p);
	}
	release_buffers(ctx, now);
	stats_tick(ctx, now);
	shutdown_tick(ctx);
}

void pgs_shutdown_begin(pgs_ctx_t *ctx, pgs_shutdown_t mode)
{
	ctx->shutdown = mode;
	if (mode == PGS_SHUTDOWN_WAIT_SERVERS)
		ctx->paused_all = true;
	for (int i = 0; i < ctx->nlisteners; i++) {
		pgs_listener_t *l = &ctx->listeners[i];
		if (l->fd < 0 || strncmp(l->desc, "unix:", 5) == 0)
			continue;
		ev_io_del(ctx->loop, l->fd);
		close(l->fd);
		l->fd = -1;
	}
}

typedef struct authfile_diag_ctx {
	pgs_ctx_t *ctx;
	const char *path;
} authfile_diag_ctx_t;

/* Each skipped line of auth_file, as file:line, like the ini's. */
static void authfile_diag(void *arg, int line, const char *reason)
{
	authfile_diag_ctx_t *d = arg;
	log_msg(&d->ctx->log, LOG_WARNING, "%s:%d: %s, line skipped", d->path,
		line, reason);
}

void pool_load_authfile(pgs_ctx_t *ctx)
{
	const char *path = ctx->cfg->auth_file;
	if (!path || !*path)
		return;
	const char *err = NULL;
	authfile_diag_ctx_t d = {ctx, path};
	auth_file_t *af = auth_file_load_diag(path, authfile_diag, &d, &err);
	if (!af) {
		log_msg(&ctx->log, LOG_WARNING,
			"could not load auth_file %s: %s", path,
			err ? err : "unknown error");
		return;
	}
	if (ctx->authfile)
		auth_file_free(ctx->authfile);
	ctx->authfile = af;
}

static void log_hba_diags(pgs_ctx_t *ctx, const hba_diags_t *d)
{
	for (int i = 0; i < d->count; i++) {
		const hba_diag_t *it = &d->items[i];
		log_msg(&ctx->log,
			it->sev == HBA_SEV_ERROR ? LOG_ERROR : LOG_WARNING,
			"%s:%d: %s", it->file ? it->file : "?", it->line,
			it->msg ? it->msg : "");
	}
	if (d->dropped > 0)
		log_msg(&ctx->log, LOG_WARNING,
			"... and %d more hba/ident diagnostics", d->dropped);
}

void pool_load_hba(pgs_ctx_t *ctx)
{
	const cfg_t *cfg = ctx->cfg;
	hba_diags_t d = {0};
	hba_ident_free(ctx->ident);
	ctx->ident = NULL;
	hba_free(ctx->hba);
	ctx->hba = NULL;
	if (cfg->auth_ident_file[0])
		ctx->ident = hba_ident_load(cfg->auth_ident_file, 0, &d);
	if (cfg->auth_type == CFG_AUTH_HBA) {
		if (!cfg->auth_hba_file[0])
			log_msg(&ctx->log, LOG_ERROR,
				"auth_type = hba needs auth_hba_file: every "
				"login will be rejected");
		else
			ctx->hba = hba_load(cfg->auth_hba_file, ctx->ident, &d);
	}
	log_hba_diags(ctx, &d);
	hba_diags_free(&d);
}

void pool_sync_dbs(pgs_ctx_t *ctx)
{
	/* PgBouncer lists every configured database, used or not; one with
	 * a forced user has its pool from the start, so min_pool_size
	 * fills it before any client comes. */
	for (size_t i = 0; i < ctx->cfg->ndbs; i++) {
		if (strcmp(ctx->cfg->dbs[i].name, "*") == 0)
			continue;
		pool_db_t *db = pool_db_lookup(ctx, ctx->cfg->dbs[i].name);
		if (!db || !db->forced_user || db->admin)
			continue;
		int keep = db->min_pool_size >= 0 ? db->min_pool_size
						  : ctx->cfg->min_pool_size;
		pool_user_t *u =
			keep > 0 ? pool_user_get(ctx, db->forced_user) : NULL;
		if (u)
			pool_get(ctx, db, u);
	}
	/* And every [users] entry (SHOW USERS), as PgBouncer does. */
	for (size_t i = 0; i < ctx->cfg->nusers; i++)
		pool_user_get(ctx, ctx->cfg->users[i].name);
}

/* Re-apply the config to every known database after a swap. */
static void apply_databases(pgs_ctx_t *ctx)
{
	list_node_t *n;
	for (n = ctx->dbs.next; n != &ctx->dbs; n = n->next) {
		pool_db_t *db = list_entry(n, pool_db_t, node);
		if (db->admin)
			continue;
		const cfg_db_t *e = cfg_find_db(ctx->cfg, db->name);
		if (!e && db->auto_db)
			e = cfg_find_db(ctx->cfg, "*");
		if (!e) {
			db->removed = true;
			continue;
		}
		/* An auto-db's dbname defaults to its own name, which
		 * pool_db_apply() does: no special case needed. */
		uint32_t gen = db->generation;
		pool_db_apply(db, e);
		if (db->generation != gen) {
			log_msg(&ctx->log, LOG_LOG,
				"database %s changed: servers will be "
				"reconnected when released",
				db->name);
			pool_reconnect_db(ctx, db);
		}
	}
	for (n = ctx->users.next; n != &ctx->users; n = n->next) {
		pool_user_t *u = list_entry(n, pool_user_t, node);
		pool_user_apply(u, cfg_find_user(ctx->cfg, u->name));
	}
}

static bool str_differs(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") != 0;
}

cfg_t *pool_cfg_read(pgs_ctx_t *ctx, char *err, size_t errlen)
{
	cfg_diags_t d;
	cfg_diags_init(&d);
	cfg_t *ncfg = cfg_load(ctx->cfg_path, &d);
	if (ncfg)
		cfg_keep_fixed(ncfg, ctx->cfg, &d);
	if (err && errlen)
		err[0] = 0;
	for (size_t i = 0; i < d.n; i++) {
		cfg_diag_item_t *it = &d.items[i];
		log_msg(&ctx->log,
			it->sev == CFG_ERROR ? LOG_ERROR : LOG_WARNING,
			"%s:%d: %s", it->file, it->line, it->msg);
		if (it->sev == CFG_ERROR && err && !err[0])
			snprintf(err, errlen, "%s:%d: %s", it->file, it->line,
				 it->msg);
	}
	cfg_diags_free(&d);
	if (!ncfg) {
		log_msg(&ctx->log, LOG_ERROR,
			"config file %s has errors: reload refused, old "
			"config kept",
			ctx->cfg_path);
		return NULL;
	}
	return ncfg;
}

int pool_cfg_apply(pgs_ctx_t *ctx, cfg_t *ncfg, char *err, size_t errlen)
{
	/* Keys that need a restart keep their running values. */
	cfg_t *old = ctx->cfg;
	ctx->cfg = ncfg;
	ctx->log.verbose = ncfg->verbose > ctx->log.verbose ? ncfg->verbose
							    : ctx->log.verbose;
	if (str_differs(old->logfile, ncfg->logfile))
		log_open(&ctx->log, ncfg->logfile);
	cfg_free(old);
	pool_load_authfile(ctx);
	pool_load_hba(ctx);
	char tlserr[512];
	bool tls_ok =
		conn_tls_configure(ctx, true, tlserr, sizeof(tlserr)) == 0;
	if (!tls_ok)
		log_msg(&ctx->log, LOG_ERROR, "%s", tlserr);
	apply_databases(ctx);
	pool_sync_dbs(ctx);
	peer_sync(ctx);
	log_msg(&ctx->log, LOG_LOG, "config file %s reloaded", ctx->cfg_path);
	if (!tls_ok) {
		/* PgBouncer's answer: the rest is applied, TLS is not. */
		if (err && errlen)
			snprintf(err, errlen,
				 "TLS configuration could not be reloaded, "
				 "keeping old configuration");
		return -1;
	}
	return 0;
}
