/* SPDX-License-Identifier: MIT */
/*
 * pool.c - pools and the scheduling of servers to clients.
 *
 * Every client and server is on exactly one list, chosen by its state;
 * pool_client_state()/pool_server_state() are the only code that moves
 * them. Waiting clients are served FIFO; idle servers are reused LIFO
 * (the most recently used first) so that a quiet pool keeps few servers
 * warm and server_idle_timeout can trim the rest.
 */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/auth.h"
#include "config/cfg.h"
#include "conn/conn.h"
#include "conn/prep.h"
#include "net/dns.h"
#include "pool/peer.h"
#include "pool/pool.h"
#include "proto/pgp.h"
#include "util/assert.h"

/* SHOW CLIENTS' words, PgBouncer's: a login waiting for its
 * auth_query or its first server is "waiting" there too. */
static const char *const cl_names[] = {
	[CL_FREE] = "free",
	[CL_JUSTFREE] = "justfree",
	[CL_LOGIN] = "login",
	[CL_WAITING_AUTH] = "waiting",
	[CL_WAITING_LOGIN] = "waiting",
	[CL_WAITING] = "waiting",
	[CL_ACTIVE] = "active",
};
static const char *const sv_names[] = {
	[SV_FREE] = "free",
	[SV_JUSTFREE] = "justfree",
	[SV_LOGIN] = "login",
	[SV_IDLE] = "idle",
	[SV_ACTIVE] = "active",
	[SV_USED] = "used",
	[SV_TESTED] = "tested",
	[SV_CANCEL] = "cancel",
	[SV_BEING_CANCELED] = "being_canceled",
	[SV_PARKED_LOGIN] = "parked_login",
	[SV_PARKED] = "parked",
};

const char *client_state_name(client_state_t st)
{
	return cl_names[st];
}

const char *server_login_step_name(server_login_step_t st)
{
	switch (st) {
	case SV_LOGIN_AUTHENTICATING:
		return "authenticating";
	case SV_LOGIN_AUTHENTICATED:
		return "authenticated";
	case SV_LOGIN_CONNECT_QUERY:
		return "connect_query";
	}
	return "?";
}

const char *server_state_name(server_state_t st)
{
	return sv_names[st];
}

/* ---- databases and users ---- */

static char *dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

static bool str_changed(const char *a, const char *b)
{
	if (!a || !b)
		return a != b;
	return strcmp(a, b) != 0;
}

bool pool_db_apply(pool_db_t *db, const cfg_db_t *e)
{
	const char *dbname = e->dbname && *e->dbname ? e->dbname : db->name;
	bool changed =
		str_changed(db->host, e->host && *e->host ? e->host : NULL) ||
		db->port != (e->port > 0 ? e->port : 5432) ||
		str_changed(db->dbname, dbname) ||
		str_changed(db->forced_user,
			    dup_or_null(e->user) ? e->user : NULL) ||
		str_changed(db->password,
			    e->password && *e->password ? e->password : NULL);
	free(db->host);
	free(db->dbname);
	free(db->forced_user);
	free(db->password);
	free(db->connect_query);
	free(db->auth_user);
	free(db->auth_query);
	free(db->auth_dbname);
	db->auth_user = dup_or_null(e->auth_user);
	db->auth_query = dup_or_null(e->auth_query);
	db->auth_dbname = dup_or_null(e->auth_dbname);
	db->channel_binding = e->channel_binding;
	db->load_balance_hosts = e->load_balance_hosts != 0;
	db->host = dup_or_null(e->host);
	db->port = e->port > 0 ? e->port : 5432;
	db->dbname = strdup(dbname);
	db->forced_user = dup_or_null(e->user);
	db->password = dup_or_null(e->password);
	db->connect_query = dup_or_null(e->connect_query);
	db->pool_size = e->pool_size;
	db->min_pool_size = e->min_pool_size;
	db->reserve_pool = e->reserve_pool_size;
	db->max_db_connections = e->max_db_connections;
	db->max_db_client_connections = e->max_db_client_connections;
	db->pool_mode = e->pool_mode;
	db->server_lifetime = e->server_lifetime;
	db->removed = false;
	if (changed)
		db->generation++;
	return changed;
}

void pool_db_host_failed(pool_db_t *db)
{
	if (!db->load_balance_hosts)
		db->next_host++;
}

const char *pool_db_next_host(pool_db_t *db, char *out, size_t cap)
{
	const char *list = db->host;
	if (!list || !strchr(list, ','))
		return list;
	int n = 1;
	for (const char *p = list; *p; p++)
		n += *p == ',';
	int want = (int)(db->next_host % (unsigned)n);
	if (db->load_balance_hosts)
		db->next_host++;
	const char *p = list;
	for (int i = 0; i < want; i++)
		p = strchr(p, ',') + 1;
	size_t len = strcspn(p, ",");
	while (len > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		len--;
	}
	while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	if (len >= cap)
		len = cap - 1;
	memcpy(out, p, len);
	out[len] = '\0';
	return out;
}

pool_db_t *pool_db_find(pgs_ctx_t *ctx, const char *name)
{
	list_node_t *n;
	for (n = ctx->dbs.next; n != &ctx->dbs; n = n->next) {
		pool_db_t *db = list_entry(n, pool_db_t, node);
		if (strcmp(db->name, name) == 0)
			return db;
	}
	return NULL;
}

pool_db_t *pool_db_lookup(pgs_ctx_t *ctx, const char *name)
{
	pool_db_t *db = pool_db_find(ctx, name);
	if (db && !db->removed)
		return db;
	if (db) {
		/* Gone from [databases] at a RELOAD, but "*" now serves the
		 * name: it comes back as an automatic database. */
		const cfg_db_t *star = cfg_find_db(ctx->cfg, "*");
		if (!star)
			return NULL;
		pool_db_apply(db, star);
		db->auto_db = true;
		return db;
	}
	const cfg_db_t *e = cfg_find_db(ctx->cfg, name);
	bool is_auto = false;
	if (!e) {
		e = cfg_find_db(ctx->cfg, "*");
		is_auto = true;
	}
	if (!e)
		return NULL;
	db = calloc(1, sizeof(*db));
	if (!db)
		return NULL;
	db->name = strdup(name);
	db->auto_db = is_auto;
	pool_db_apply(db, e);
	db->generation = 1;
	list_append(&ctx->dbs, &db->node);
	if (is_auto)
		log_msg(&ctx->log, LOG_LOG, "registered new auto-database: %s",
			name);
	return db;
}

pool_user_t *pool_user_get(pgs_ctx_t *ctx, const char *name)
{
	list_node_t *n;
	for (n = ctx->users.next; n != &ctx->users; n = n->next) {
		pool_user_t *u = list_entry(n, pool_user_t, node);
		if (strcmp(u->name, name) == 0)
			return u;
	}
	pool_user_t *u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->name = strdup(name);
	pool_user_apply(u, cfg_find_user(ctx->cfg, name));
	list_append(&ctx->users, &u->node);
	return u;
}

void pool_user_apply(pool_user_t *u, const cfg_user_t *cu)
{
	u->pool_mode = cu ? cu->pool_mode : CFG_POOL_UNSET;
	u->max_user_connections = cu ? cu->max_user_connections : -1;
	u->max_user_client_connections =
		cu ? cu->max_user_client_connections : -1;
	u->pool_size = cu ? cu->pool_size : -1;
	u->reserve_pool_size = cu ? cu->reserve_pool_size : -1;
	u->query_timeout = cu ? cu->query_timeout : -1;
	u->idle_transaction_timeout = cu ? cu->idle_transaction_timeout : -1;
	u->transaction_timeout = cu ? cu->transaction_timeout : -1;
	u->client_idle_timeout = cu ? cu->client_idle_timeout : -1;
}

int pool_server_lifetime(const pool_t *p)
{
	return p->db->server_lifetime >= 0 ? p->db->server_lifetime
					   : p->ctx->cfg->server_lifetime;
}

pool_t *pool_get(pgs_ctx_t *ctx, pool_db_t *db, pool_user_t *user)
{
	return pool_get_repl(ctx, db, user, POOL_REPL_NONE);
}

pool_t *pool_get_repl(pgs_ctx_t *ctx, pool_db_t *db, pool_user_t *user,
		      pool_repl_t repl)
{
	/* A database with a forced user has one pool, the forced user's,
	 * whoever logs in (PgBouncer's): its servers, limits and [users]
	 * settings are that user's. */
	if (db->forced_user && strcmp(user->name, db->forced_user) != 0) {
		user = pool_user_get(ctx, db->forced_user);
		if (!user)
			return NULL;
	}
	pool_t *plain = NULL;
	if (repl != POOL_REPL_NONE) {
		plain = pool_get_repl(ctx, db, user, POOL_REPL_NONE);
		if (!plain)
			return NULL;
		if (plain->repl[repl - 1])
			return plain->repl[repl - 1];
	} else {
		list_node_t *n;
		for (n = ctx->pools.next; n != &ctx->pools; n = n->next) {
			pool_t *p = list_entry(n, pool_t, node);
			if (p->db == db && p->user == user &&
			    p->replication == POOL_REPL_NONE)
				return p;
		}
	}
	pool_t *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->ctx = ctx;
	p->db = db;
	p->user = user;
	p->replication = repl;
	p->plain = plain;
	if (plain)
		plain->repl[repl - 1] = p;
	statlist_init(&p->active_clients);
	statlist_init(&p->waiting_clients);
	statlist_init(&p->active_servers);
	statlist_init(&p->idle_servers);
	statlist_init(&p->used_servers);
	statlist_init(&p->tested_servers);
	statlist_init(&p->login_servers);
	statlist_init(&p->parked_servers);
	statlist_init(&p->waiting_cancel_clients);
	statlist_init(&p->active_cancel_clients);
	statlist_init(&p->cancel_servers);
	statlist_init(&p->canceled_servers);
	list_append(&ctx->pools, &p->node);
	return p;
}

int pool_mode(const pool_t *p)
{
	if (p->replication != POOL_REPL_NONE)
		return CFG_POOL_SESSION;
	if (p->user->pool_mode != CFG_POOL_UNSET)
		return p->user->pool_mode;
	if (p->db->pool_mode != CFG_POOL_UNSET)
		return p->db->pool_mode;
	return p->ctx->cfg->pool_mode;
}

/* A [users] entry's pool_size wins (on a database with a forced user,
 * the pool's user is the forced one). */
int pool_size(const pool_t *p)
{
	if (p->user->pool_size >= 0)
		return p->user->pool_size;
	return p->db->pool_size >= 0 ? p->db->pool_size
				     : p->ctx->cfg->default_pool_size;
}

static int reserve_size(const pool_t *p)
{
	if (p->user->reserve_pool_size >= 0)
		return p->user->reserve_pool_size;
	return p->db->reserve_pool >= 0 ? p->db->reserve_pool
					: p->ctx->cfg->reserve_pool_size;
}

int pool_server_total(const pool_t *p)
{
	return p->active_servers.count + p->idle_servers.count +
	       p->used_servers.count + p->tested_servers.count +
	       p->login_servers.count + p->cancel_servers.count +
	       p->canceled_servers.count;
}

/* ---- state lists ---- */

static statlist_t *client_list(client_t *c, client_state_t st)
{
	pgs_ctx_t *ctx = c->ctx;
	switch (st) {
	case CL_LOGIN:
		return &ctx->login_clients;
	case CL_WAITING:
	case CL_WAITING_AUTH:
	case CL_WAITING_LOGIN:
		return &c->pool->waiting_clients;
	case CL_ACTIVE:
		return c->handler ? &ctx->admin_clients
				  : &c->pool->active_clients;
	case CL_WAITING_CANCEL:
		return c->peer ? &c->peer->waiting_clients
			       : &c->pool->waiting_cancel_clients;
	case CL_ACTIVE_CANCEL:
		return c->peer ? &c->peer->active_clients
			       : &c->pool->active_cancel_clients;
	case CL_JUSTFREE:
		return &ctx->justfree_clients;
	default:
		return NULL;
	}
}

static statlist_t *server_list(server_t *s, server_state_t st)
{
	pool_t *p = s->pool;
	switch (st) {
	case SV_LOGIN:
		return &p->login_servers;
	case SV_IDLE:
		return &p->idle_servers;
	case SV_ACTIVE:
		return &p->active_servers;
	case SV_USED:
		return &p->used_servers;
	case SV_TESTED:
		return &p->tested_servers;
	case SV_CANCEL:
		return p ? &p->cancel_servers : &s->ctx->cancel_servers;
	case SV_BEING_CANCELED:
		return &p->canceled_servers;
	case SV_PARKED_LOGIN:
	case SV_PARKED:
		return &p->parked_servers;
	case SV_JUSTFREE:
		return &s->ctx->justfree_servers;
	default:
		return NULL;
	}
}

void pool_client_state(client_t *c, client_state_t st)
{
	/* A closed client is only ever freed: nothing may revive it. */
	PGS_ASSERT(c->state != CL_JUSTFREE || st == CL_JUSTFREE ||
			   st == CL_FREE,
		   client_state_name(st));
	/* Only a logged-in client waits for a server or has one. */
	PGS_ASSERT((st != CL_ACTIVE && st != CL_WAITING) || c->pool ||
			   c->handler,
		   client_state_name(st));
	statlist_t *from = client_list(c, c->state);
	if (from)
		statlist_remove(from, &c->node);
	c->state = st;
	statlist_t *to = client_list(c, st);
	if (to)
		statlist_append(to, &c->node);
}

void pool_server_state(server_t *s, server_state_t st)
{
	PGS_ASSERT(s->state != SV_JUSTFREE || st == SV_JUSTFREE ||
			   st == SV_FREE,
		   server_state_name(st));
	/* An idle server serves nobody: its client was unlinked first. */
	PGS_ASSERT(st != SV_IDLE || !s->link, server_state_name(st));
	/* A pre-warm is born parked and leaves only by its login ending,
	 * its adoption (pool_adopt_parked) or its close. */
	PGS_ASSERT(st != SV_PARKED_LOGIN || s->state == SV_FREE,
		   server_state_name(st));
	PGS_ASSERT(st != SV_PARKED || s->state == SV_PARKED_LOGIN,
		   server_state_name(st));
	PGS_ASSERT(s->state != SV_PARKED_LOGIN || st == SV_PARKED ||
			   st == SV_LOGIN || st == SV_JUSTFREE,
		   server_state_name(st));
	PGS_ASSERT(s->state != SV_PARKED || st == SV_IDLE || st == SV_JUSTFREE,
		   server_state_name(st));
	statlist_t *from = server_list(s, s->state);
	if (from)
		statlist_remove(from, &s->node);
	s->state = st;
	statlist_t *to = server_list(s, st);
	if (!to)
		return;
	/* Idle servers: most recently used at the front (LIFO reuse). */
	if (st == SV_IDLE && !s->ctx->cfg->server_round_robin)
		statlist_prepend(to, &s->node);
	else
		statlist_append(to, &s->node);
}

/* ---- scheduling ---- */

/* SUSPEND is not a pause: as in PgBouncer, a client whose query was read
 * before its socket went quiet still gets a server and finishes, or the
 * SUSPEND would wait for it until suspend_timeout. */
static bool pool_paused(const pool_t *p)
{
	return p->db->paused || p->db->frozen || p->ctx->paused_all;
}

static server_t *take_idle(pool_t *p)
{
	list_node_t *n = statlist_first(&p->idle_servers);
	return n ? list_entry(n, server_t, node) : NULL;
}

static void link_and_run(server_t *s, client_t *c)
{
	int64_t now = ev_now_us(c->ctx->loop);
	if (c->state == CL_WAITING) {
		c->pool->stats.total.wait_time_us +=
			(uint64_t)(now - c->wait_us);
		pool_client_state(c, CL_ACTIVE);
	}
	server_link(s, c);
	s->request_us = now;
}

static void serve_waiting(pool_t *p);

/* The query that proves a used server alive, or NULL for none.
 * "<empty>" (the default) is an empty query: the cheapest round trip. */
static const char *check_query(const cfg_t *cfg)
{
	const char *q = cfg->server_check_query;
	if (!q || !*q)
		return NULL;
	return strcmp(q, "<empty>") == 0 ? "" : q;
}

bool pool_check_due(const pool_t *p, const server_t *s, int64_t now)
{
	const cfg_t *cfg = p->ctx->cfg;
	if (!check_query(cfg))
		return false;
	return cfg->server_check_delay == 0 ||
	       now - s->request_us > cfg->server_check_delay * 1000;
}

/* Clients on the queue that want a server (not those waiting for a
 * first login's welcome), counted up to LIMIT. */
static int wanting(pool_t *p, int limit)
{
	int k = 0;
	list_node_t *n;
	for (n = p->waiting_clients.head.next;
	     n != &p->waiting_clients.head && k < limit; n = n->next) {
		client_t *w = list_entry(n, client_t, node);
		k += w->state == CL_WAITING || w->state == CL_WAITING_AUTH;
	}
	return k;
}

/*
 * No idle server for the queue: a used one (idle longer than
 * server_check_delay, or released with a delay of 0) runs
 * server_check_query first, one per waiting client beyond those the
 * servers already being tested will serve (PgBouncer's order). A dead
 * connection fails its check, not a client's query. True when a server
 * became idle at once (its check was no longer due).
 */
static bool recheck_used(pool_t *p)
{
	if (p->used_servers.count == 0)
		return false;
	int64_t now = ev_now_us(p->ctx->loop);
	int need = wanting(p, p->used_servers.count + p->tested_servers.count) -
		   p->tested_servers.count;
	bool idle = false;
	list_node_t *n;
	while (need-- > 0 && (n = statlist_first(&p->used_servers))) {
		server_t *s = list_entry(n, server_t, node);
		if (!pool_check_due(p, s, now)) {
			pool_server_state(s, SV_IDLE);
			idle = true;
			continue;
		}
		if (log_enabled(&p->ctx->log, LOG_DEBUG))
			server_log(s, LOG_DEBUG, "P: checking: %s",
				   check_query(p->ctx->cfg));
		server_check(s, check_query(p->ctx->cfg));
	}
	return idle;
}

void pool_request_server(client_t *c)
{
	pool_t *p = c->pool;
	if (!pool_paused(p) && p->waiting_clients.count == 0) {
		server_t *s = take_idle(p);
		if (s) {
			link_and_run(s, c);
			return;
		}
	}
	c->wait_us = ev_now_us(c->ctx->loop);
	c->wait_notified = false;
	pool_client_state(c, CL_WAITING);
	if (pool_paused(p))
		return;
	if (recheck_used(p))
		serve_waiting(p);
	else
		pool_launch(p);
}

void pool_request_auth(client_t *c)
{
	pool_t *p = c->pool;
	if (!pool_paused(p)) {
		server_t *s = take_idle(p);
		if (s) {
			server_auth_query(s, c);
			return;
		}
		if (recheck_used(p))
			serve_waiting(p);
		else
			pool_launch(p);
	}
}

void pool_set_secret(pool_t *p, const char *secret)
{
	if (p->auth_secret) {
		OPENSSL_cleanse(p->auth_secret, strlen(p->auth_secret));
		free(p->auth_secret);
	}
	p->auth_secret = secret && *secret ? strdup(secret) : NULL;
}

pool_t *pool_creds(pool_t *p)
{
	return p->plain ? p->plain : p;
}

/* The servers of P's (database, user), replication ones included: the
 * pool size bounds them together. */
int pool_group_total(const pool_t *p)
{
	const pool_t *h = p->plain ? p->plain : p;
	int total = pool_server_total(h);
	for (int i = 0; i < 2; i++)
		if (h->repl[i])
			total += pool_server_total(h->repl[i]);
	return total;
}

/* A server of P's group closed or was never opened: its place may go to
 * whichever pool of the group has clients queued. A launch of the group
 * under way (its eviction closes servers) takes the place itself. */
void pool_group_freed(pool_t *p)
{
	pool_t *h = p->plain ? p->plain : p;
	pool_t *v[3] = {h, h->repl[0], h->repl[1]};
	if (h->launching)
		return;
	for (int i = 0; i < 3; i++)
		if (v[i] && v[i]->waiting_clients.count > 0)
			pool_launch(v[i]);
}

/* Serve waiting clients with idle servers, FIFO. */
static void serve_waiting(pool_t *p)
{
	while (!pool_paused(p)) {
		client_t *c = NULL;
		list_node_t *n;
		for (n = p->waiting_clients.head.next;
		     n != &p->waiting_clients.head; n = n->next) {
			client_t *w = list_entry(n, client_t, node);
			if (w->state == CL_WAITING ||
			    w->state == CL_WAITING_AUTH) {
				c = w;
				break;
			}
		}
		if (!c)
			return;
		server_t *s = take_idle(p);
		if (!s && recheck_used(p))
			s = take_idle(p);
		if (!s)
			return;
		if (c->state == CL_WAITING_AUTH) {
			server_auth_query(s, c);
			continue;
		}
		link_and_run(s, c);
		client_process(c);
	}
}

void pool_kick(pool_t *p)
{
	serve_waiting(p);
	if (p->waiting_clients.count > 0)
		pool_launch(p);
}

void pool_server_ready(server_t *s)
{
	pool_t *p = s->pool;
	if (s->dirty || s->generation != p->db->generation) {
		server_close(s, "database configuration changed");
		return;
	}
	serve_waiting(p);
	/* Still idle, in a full pool: a replication client queued for its
	 * room evicts it now rather than at the janitor's next turn. */
	for (int i = 0; i < 2; i++)
		if (p->repl[i] && p->repl[i]->waiting_clients.count > 0)
			pool_launch(p->repl[i]);
}

void pool_release_server(server_t *s)
{
	if (pool_release_server_idle(s))
		pool_server_ready(s);
}

bool pool_release_server_idle(server_t *s)
{
	pool_t *p = s->pool;
	pgs_ctx_t *ctx = p->ctx;
	const cfg_t *cfg = ctx->cfg;
	client_t *c = s->link;
	int64_t now = ev_now_us(ctx->loop);

	if (c) {
		c->link = NULL;
		s->link = NULL;
	}
	s->request_us = now;
	/* C is unlinked by now: its half-forwarded message counts too. */
	if (!server_quiet(s) || (c && c->fwd_left > 0)) {
		server_close(s, "client disconnect while server was not "
				"ready");
		return false;
	}
	if (s->dirty || s->generation != p->db->generation) {
		server_close(s, "database configuration changed");
		return false;
	}
	if (p->replication != POOL_REPL_NONE) {
		server_close(s, "replication client was closed");
		return false;
	}
	if (pool_cancel_hold(s))
		return false;
	/* 0: each server connection is used once, then closed (PgBouncer's
	 * documented meaning). */
	int lifetime = pool_server_lifetime(p);
	if (lifetime == 0 || now - s->connect_us > (int64_t)lifetime * 1000) {
		server_close(s, "server lifetime over");
		return false;
	}
	bool session = pool_mode(p) == CFG_POOL_SESSION;
	const char *reset = cfg->server_reset_query;
	if (reset && *reset && (session || cfg->server_reset_query_always) &&
	    !c) {
		server_reset(s, reset);
		return false;
	}
	if (reset && *reset && cfg->server_reset_query_always) {
		server_reset(s, reset);
		return false;
	}
	/* server_check_delay = 0: every reuse is checked first. */
	pool_server_state(s, cfg->server_check_delay == 0 && check_query(cfg)
				     ? SV_USED
				     : SV_IDLE);
	return true;
}

/*
 * max_db_connections / max_user_connections reached: close the idle
 * server of another pool of the same database (or user) that has been
 * idle longest, so that a pool with waiting clients can have one
 * (PgBouncer's evict_connection). False if there is none.
 */
static bool evict_idle(pool_t *self, pool_db_t *db, pool_user_t *user)
{
	server_t *victim = NULL;
	list_node_t *n, *m;
	for (n = self->ctx->pools.next; n != &self->ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		if (p == self || (db && p->db != db) ||
		    (user && p->user != user))
			continue;
		for (m = p->idle_servers.head.next; m != &p->idle_servers.head;
		     m = m->next) {
			server_t *s = list_entry(m, server_t, node);
			if (!victim || s->request_us < victim->request_us)
				victim = s;
		}
	}
	if (!victim)
		return false;
	server_close(victim, "evicted");
	return true;
}

/* The pool size, and the reserve once the first queued client has
 * waited reserve_pool_timeout. */
static int launch_limit(const pool_t *p, int64_t now)
{
	int limit = pool_size(p);
	int reserve = reserve_size(p);
	if (reserve > 0 && p->waiting_clients.count > 0) {
		client_t *first = list_entry(p->waiting_clients.head.next,
					     client_t, node);
		if (now - first->wait_us >=
		    p->ctx->cfg->reserve_pool_timeout * 1000)
			limit += reserve;
	}
	return limit;
}

/*
 * Room for one more server of P: its group under LIMIT, or (EVICT_OWN) an
 * idle server of the group closed to make it, and under
 * max_db_connections / max_user_connections, evicting another pool's
 * idle server if need be. Only a replication client evicts in its own
 * group: it can never use an idle server, and would wait forever behind
 * ones nobody uses (PgBouncer does the same).
 */
static bool make_room(pool_t *p, int limit, bool evict_own)
{
	const cfg_t *cfg = p->ctx->cfg;
	if (pool_group_total(p) >= limit &&
	    !(evict_own && evict_idle(p, p->db, p->user)))
		return false;
	int maxdb = p->db->max_db_connections > 0 ? p->db->max_db_connections
						  : cfg->max_db_connections;
	int maxuser = p->user->max_user_connections > 0
			      ? p->user->max_user_connections
			      : cfg->max_user_connections;
	if (maxdb > 0 && p->db->server_count >= maxdb &&
	    !evict_idle(p, p->db, NULL))
		return false;
	if (maxuser > 0 && p->user->server_count >= maxuser &&
	    !evict_idle(p, NULL, p->user))
		return false;
	return true;
}

static void log_reserve(const pool_t *p, int total)
{
	if (total >= pool_size(p))
		log_msg(&p->ctx->log, LOG_LOG,
			"%s/%s: taking connection from reserve_pool",
			p->db->name, p->user->name);
}

static void launch_plain(pool_t *p, int64_t now)
{
	const cfg_t *cfg = p->ctx->cfg;
	int total = pool_group_total(p);
	int limit = launch_limit(p, now);
	/* Servers being checked, or to be, serve the queue before new
	 * ones (a used server is checked when a client needs it). */
	int want = p->waiting_clients.count - p->login_servers.count -
		   p->tested_servers.count - p->used_servers.count;
	int minp = p->db->min_pool_size >= 0 ? p->db->min_pool_size
					     : cfg->min_pool_size;
	if (total + want < minp)
		want = minp - total;
	if (!p->welcome_ready && p->login_servers.count > 0)
		want = 0; /* learn the server's parameters from one login */
	while (want-- > 0 && total < limit) {
		if (!make_room(p, limit, false) || !server_launch(p))
			break;
		log_reserve(p, total);
		total++;
		p->last_launch_us = now;
		if (!p->welcome_ready)
			break;
	}
}

/* Each queued replication client gets a server of its own, logged in
 * with its parameters, while the group has room. */
static void launch_repl(pool_t *p, int64_t now)
{
	int limit = launch_limit(p, now);
	list_node_t *n, *tmp;
	statlist_for_each_safe(n, tmp, &p->waiting_clients)
	{
		client_t *c = list_entry(n, client_t, node);
		if (c->state != CL_WAITING_LOGIN || c->repl_server)
			continue;
		int total = pool_group_total(p);
		/* A failed launch may close the queue: stop there. */
		if (!make_room(p, limit, true) || !server_launch_repl(p, c))
			return;
		log_reserve(p, total);
		p->last_launch_us = now;
	}
}

void pool_launch(pool_t *p)
{
	pgs_ctx_t *ctx = p->ctx;
	const cfg_t *cfg = ctx->cfg;
	int64_t now = ev_now_us(ctx->loop);
	pool_t *h = p->plain ? p->plain : p;

	if (ctx->shutdown == PGS_SHUTDOWN_NOW ||
	    ctx->shutdown == PGS_SHUTDOWN_WAIT_SERVERS || h->launching)
		return;
	/* PAUSE closes servers as they come free: one opened meanwhile
	 * would only be closed again, and the PAUSE would never finish. */
	if (p->db->paused || ctx->paused_all)
		return;
	/* A switchover's freeze: a server opened now would go to the old
	 * primary. The target's are pre-warmed apart (pool_prewarm), and
	 * pool_db_thaw() launches for whoever is still queued. */
	if (p->db->frozen)
		return;
	if (p->login_error &&
	    now - p->last_login_fail_us < cfg->server_login_retry * 1000)
		return;
	if (p->last_connect_fail_us &&
	    now - p->last_connect_fail_us < cfg->server_login_retry * 1000)
		return;
	h->launching = true;
	if (p->replication != POOL_REPL_NONE)
		launch_repl(p, now);
	else
		launch_plain(p, now);
	h->launching = false;
}

void pool_set_welcome(pool_t *p, server_t *s)
{
	for (int i = 0; i < p->nwelcome; i++) {
		free(p->welcome_names[i]);
		free(p->welcome_values[i]);
	}
	p->nwelcome = 0;
	for (int i = 0; i < s->nparams && i < 32; i++) {
		p->welcome_names[i] = strdup(s->pnames[i]);
		p->welcome_values[i] = strdup(s->pvalues[i]);
		/* Resolved once here, not per login. */
		p->welcome_var[i] = -1;
		p->welcome_var[i] = conn_var_index(p->ctx, s->pnames[i]);
		p->nwelcome++;
	}
	buf_t wire;
	buf_init(&wire, 64 * 1024);
	for (int i = 0; i < p->nwelcome; i++) {
		p->welcome_off[i] = (uint32_t)wire.len;
		pgp_wr_param_status(&wire, p->welcome_names[i],
				    p->welcome_values[i]);
	}
	p->welcome_off[p->nwelcome] = (uint32_t)wire.len;
	free(p->welcome_wire);
	p->welcome_wire = wire.data; /* NULL when there are none */
	p->welcome_ready = true;
	/* A replication server is its own client's alone (server.c). */
	if (p->replication != POOL_REPL_NONE)
		return;
	list_node_t *n, *tmp;
	statlist_for_each_safe(n, tmp, &p->waiting_clients)
	{
		client_t *c = list_entry(n, client_t, node);
		if (c->state == CL_WAITING_LOGIN)
			client_welcome(c);
	}
}

void pool_connect_failed(pool_t *p)
{
	p->last_connect_fail_us = ev_now_us(p->ctx->loop);
}

void pool_login_refused(pool_t *p, const char *sqlstate, const char *msg)
{
	pgs_ctx_t *ctx = p->ctx;
	free(p->login_error);
	p->login_error = strdup(msg);
	p->last_login_fail_us = ev_now_us(ctx->loop);
	list_node_t *n, *tmp;
	statlist_for_each_safe(n, tmp, &p->waiting_clients)
	{
		client_close(list_entry(n, client_t, node), sqlstate, "%s",
			     msg);
	}
}

static void resume_resolved(statlist_t *l, const char *name)
{
	list_node_t *n, *tmp;
	statlist_for_each_safe(n, tmp, l)
	{
		server_t *s = list_entry(n, server_t, node);
		if (s->resolving && strcmp(s->target_host, name) == 0)
			server_resolved(s);
	}
}

void pool_servers_resolved(pgs_ctx_t *ctx, const char *name)
{
	list_node_t *n;
	for (n = ctx->pools.next; n != &ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		resume_resolved(&p->login_servers, name);
		resume_resolved(&p->parked_servers, name);
	}
}

void pool_login_unreachable(pool_t *p, const char *msg)
{
	/* Not a login error: new clients are not failed fast with it (only
	 * a refused login is cached, as in PgBouncer); launches wait. */
	(void)msg;
	p->last_connect_fail_us = ev_now_us(p->ctx->loop);
}

void pool_login_failed(pool_t *p, const char *msg)
{
	pgs_ctx_t *ctx = p->ctx;
	free(p->login_error);
	p->login_error = strdup(msg);
	p->last_login_fail_us = ev_now_us(ctx->loop);
	/* Clients that cannot be served by any live server get the error
	 * now rather than at query_wait_timeout. */
	bool none = p->active_servers.count + p->idle_servers.count +
			    p->used_servers.count + p->tested_servers.count ==
		    0;
	list_node_t *n, *tmp;
	statlist_for_each_safe(n, tmp, &p->waiting_clients)
	{
		client_t *c = list_entry(n, client_t, node);
		if (c->state == CL_WAITING_LOGIN ||
		    c->state == CL_WAITING_AUTH || none)
			client_close(c, "08P01", "server login failed: %s",
				     msg);
	}
}

void pool_random(pgs_ctx_t *ctx, void *out, size_t n)
{
	uint8_t *o = out;
	while (n > 0) {
		if (ctx->rand_left == 0) {
			RAND_bytes(ctx->rand_pool, sizeof(ctx->rand_pool));
			ctx->rand_left = sizeof(ctx->rand_pool);
		}
		size_t k = n < ctx->rand_left ? n : ctx->rand_left;
		uint8_t *src = ctx->rand_pool + sizeof(ctx->rand_pool) -
			       ctx->rand_left;
		memcpy(o, src, k);
		/* Used bytes never serve twice. */
		memset(src, 0, k);
		ctx->rand_left -= (uint32_t)k;
		o += k;
		n -= k;
	}
}

/* ---- cancel keys ---- */

static uint32_t key_hash(uint32_t pid, uint32_t key)
{
	uint64_t h = ((uint64_t)pid << 32 | key) * 0x9E3779B97F4A7C15ull;
	return (uint32_t)(h >> 32);
}

static bool keymap_grow(pgs_ctx_t *ctx)
{
	uint32_t ncap = ctx->keymap_cap ? ctx->keymap_cap * 2 : 1024;
	client_t **nm = calloc(ncap, sizeof(*nm));
	if (!nm)
		return false;
	for (uint32_t i = 0; i < ctx->keymap_cap; i++) {
		client_t *c = ctx->keymap[i];
		if (!c)
			continue;
		uint32_t j = key_hash(c->key_pid, c->key_secret) & (ncap - 1);
		while (nm[j])
			j = (j + 1) & (ncap - 1);
		nm[j] = c;
	}
	free(ctx->keymap);
	ctx->keymap = nm;
	ctx->keymap_cap = ncap;
	return true;
}

bool pool_key_register(pgs_ctx_t *ctx, client_t *c)
{
	if (pool_key_find(ctx, c->key_pid, c->key_secret))
		return false;
	if ((ctx->keymap_used + 1) * 2 > ctx->keymap_cap && !keymap_grow(ctx))
		return true; /* no cancel for this client, but keep going */
	uint32_t m = ctx->keymap_cap - 1;
	uint32_t j = key_hash(c->key_pid, c->key_secret) & m;
	while (ctx->keymap[j])
		j = (j + 1) & m;
	ctx->keymap[j] = c;
	ctx->keymap_used++;
	return true;
}

client_t *pool_key_find(pgs_ctx_t *ctx, uint32_t pid, uint32_t key)
{
	if (!ctx->keymap_cap)
		return NULL;
	uint32_t m = ctx->keymap_cap - 1;
	for (uint32_t j = key_hash(pid, key) & m;; j = (j + 1) & m) {
		client_t *c = ctx->keymap[j];
		if (!c)
			return NULL;
		if (c->key_pid == pid && c->key_secret == key)
			return c;
	}
}

void pool_key_unregister(pgs_ctx_t *ctx, client_t *c)
{
	if (!ctx->keymap_cap)
		return;
	uint32_t m = ctx->keymap_cap - 1;
	uint32_t j = key_hash(c->key_pid, c->key_secret) & m;
	for (;; j = (j + 1) & m) {
		if (!ctx->keymap[j])
			return;
		if (ctx->keymap[j] == c)
			break;
	}
	ctx->keymap[j] = NULL;
	ctx->keymap_used--;
	/* Re-insert the rest of the cluster (linear probing delete). */
	for (j = (j + 1) & m; ctx->keymap[j]; j = (j + 1) & m) {
		client_t *x = ctx->keymap[j];
		ctx->keymap[j] = NULL;
		uint32_t k = key_hash(x->key_pid, x->key_secret) & m;
		while (ctx->keymap[k])
			k = (k + 1) & m;
		ctx->keymap[k] = x;
	}
}

/* ---- bulk operations ---- */

static void close_idle(statlist_t *l, const char *why)
{
	list_node_t *n, *tmp;
	statlist_for_each_safe(n, tmp, l)
	{
		server_close(list_entry(n, server_t, node), "%s", why);
	}
}

static void mark_dirty(statlist_t *l)
{
	list_node_t *n;
	for (n = l->head.next; n != &l->head; n = n->next)
		list_entry(n, server_t, node)->dirty = true;
}

/* ---- switchover pre-warm ---- */

int pool_prewarm(pgs_ctx_t *ctx, pool_db_t *db, const char *host, int port)
{
	int k = 0;
	list_node_t *n;
	for (n = ctx->pools.next; n != &ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		/* A replication session cannot move: nothing to pre-warm. */
		if (p->db != db || p->replication != POOL_REPL_NONE)
			continue;
		int want = pool_server_total(p);
		if (want > pool_size(p))
			want = pool_size(p);
		want -= p->parked_servers.count;
		while (want-- > 0 && server_prewarm(p, host, port))
			k++;
	}
	return k;
}

int pool_parked_count(pgs_ctx_t *ctx, pool_db_t *db, int *logging_in)
{
	int k = 0, login = 0;
	list_node_t *n, *m;
	for (n = ctx->pools.next; n != &ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		if (p->db != db)
			continue;
		k += p->parked_servers.count;
		for (m = p->parked_servers.head.next;
		     m != &p->parked_servers.head; m = m->next)
			login += list_entry(m, server_t, node)->state ==
				 SV_PARKED_LOGIN;
	}
	if (logging_in)
		*logging_in = login;
	return k;
}

/* Adopt (if ADOPT and it points at DB's target) or close every parked
 * connection of DB. */
static void settle_parked(pgs_ctx_t *ctx, pool_db_t *db, bool adopt,
			  const char *reason)
{
	list_node_t *n, *m, *tmp;
	for (n = ctx->pools.next; n != &ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		if (p->db != db)
			continue;
		statlist_for_each_safe(m, tmp, &p->parked_servers)
		{
			server_t *s = list_entry(m, server_t, node);
			if (!adopt || !db->host ||
			    strcmp(s->target_host, db->host) != 0 ||
			    s->target_port != db->port) {
				server_close(s, "%s", reason);
				continue;
			}
			s->generation = db->generation;
			db->server_count++;
			p->user->server_count++;
			pool_server_state(s, s->state == SV_PARKED ? SV_IDLE
								   : SV_LOGIN);
		}
	}
}

void pool_adopt_parked(pgs_ctx_t *ctx, pool_db_t *db)
{
	settle_parked(ctx, db, true, "switchover target changed");
}

void pool_drop_parked(pgs_ctx_t *ctx, pool_db_t *db, const char *reason)
{
	settle_parked(ctx, db, false, reason);
}

void pool_reconnect_db(pgs_ctx_t *ctx, pool_db_t *db)
{
	pool_obsolete_servers(ctx, db, "RECONNECT issued");
}

void pool_obsolete_servers(pgs_ctx_t *ctx, pool_db_t *db, const char *why)
{
	list_node_t *n;
	for (n = ctx->pools.next; n != &ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		if (db && p->db != db)
			continue;
		mark_dirty(&p->active_servers);
		mark_dirty(&p->tested_servers);
		mark_dirty(&p->login_servers);
		mark_dirty(&p->canceled_servers);
		close_idle(&p->idle_servers, why);
		close_idle(&p->used_servers, why);
	}
}

static int count_dirty(statlist_t *l)
{
	int k = 0;
	list_node_t *n;
	for (n = l->head.next; n != &l->head; n = n->next) {
		server_t *s = list_entry(n, server_t, node);
		if (s->dirty || s->generation != s->pool->db->generation)
			k++;
	}
	return k;
}

int pool_count_dirty(pgs_ctx_t *ctx, pool_db_t *db)
{
	int k = 0;
	list_node_t *n;
	for (n = ctx->pools.next; n != &ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		if (db && p->db != db)
			continue;
		k += count_dirty(&p->active_servers) +
		     count_dirty(&p->idle_servers) +
		     count_dirty(&p->used_servers) +
		     count_dirty(&p->tested_servers) +
		     count_dirty(&p->login_servers) +
		     count_dirty(&p->canceled_servers);
	}
	return k;
}

static void free_client(client_t *c)
{
	client_prep_free(c);
	conn_io_free(&c->io);
	free(c->user);
	free(c->dbname);
	for (int i = 0; i < VAR_MAX; i++)
		istr_put(&c->ctx->istr, c->vars[i]);
	if (c->scram)
		scram_server_free(c->scram);
	free(c->admin_wait_db);
	free(c->carry_sql);
	free(c->carry_lost);
	if (c->secret) {
		/* A secret never outlives its use in freed memory. */
		OPENSSL_cleanse(c->secret, strlen(c->secret));
		free(c->secret);
	}
	free(c->late_error);
	free(c->repl_options);
	free(c->hba_map);
	free(c->lookup_sql);
	conn_mem_freed(c->ctx, sizeof(*c));
	free(c);
}

static void free_server(server_t *s)
{
	server_prep_free(s);
	conn_io_free(&s->io);
	for (int i = 0; i < VAR_MAX; i++)
		istr_put(&s->ctx->istr, s->vars[i]);
	if (s->scram)
		scram_client_free(s->scram);
	free(s->auth_secret);
	free(s->auth_error);
	conn_mem_freed(s->ctx, sizeof(*s));
	free(s);
}

void pool_free_justfree(pgs_ctx_t *ctx)
{
	list_node_t *n;
	while ((n = statlist_first(&ctx->justfree_clients))) {
		statlist_remove(&ctx->justfree_clients, n);
		free_client(list_entry(n, client_t, node));
	}
	while ((n = statlist_first(&ctx->justfree_servers))) {
		statlist_remove(&ctx->justfree_servers, n);
		free_server(list_entry(n, server_t, node));
	}
}

static void close_clients(statlist_t *l)
{
	list_node_t *n, *tmp;
	statlist_for_each_safe(n, tmp, l)
	{
		client_close(list_entry(n, client_t, node), "57P01",
			     "pooler is shutting down");
	}
}

/* CancelRequest sockets are closed without a word, as PostgreSQL
 * closes them. */
static void close_cancels(statlist_t *l)
{
	list_node_t *n, *tmp;
	statlist_for_each_safe(n, tmp, l)
	{
		client_close(list_entry(n, client_t, node), NULL,
			     "pooler is shutting down");
	}
}

static void close_servers(statlist_t *l)
{
	list_node_t *n, *tmp;
	statlist_for_each_safe(n, tmp, l)
	{
		server_close(list_entry(n, server_t, node), "shutting down");
	}
}

void pool_close_all(pgs_ctx_t *ctx)
{
	list_node_t *n;
	peer_close_all(ctx);
	close_clients(&ctx->login_clients);
	close_clients(&ctx->admin_clients);
	for (n = ctx->pools.next; n != &ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		close_clients(&p->active_clients);
		close_clients(&p->waiting_clients);
		close_cancels(&p->waiting_cancel_clients);
		close_cancels(&p->active_cancel_clients);
		close_servers(&p->cancel_servers);
		close_servers(&p->canceled_servers);
		close_servers(&p->active_servers);
		close_servers(&p->idle_servers);
		close_servers(&p->used_servers);
		close_servers(&p->tested_servers);
		close_servers(&p->login_servers);
		close_servers(&p->parked_servers);
	}
	close_servers(&ctx->cancel_servers);
	pool_free_justfree(ctx);
}

void pool_free_all(pgs_ctx_t *ctx)
{
	list_node_t *n;
	pool_close_all(ctx);
	peer_free_all(ctx);
	while (!list_empty(&ctx->pools)) {
		n = ctx->pools.next;
		list_del(n);
		pool_t *p = list_entry(n, pool_t, node);
		for (int i = 0; i < p->nwelcome; i++) {
			free(p->welcome_names[i]);
			free(p->welcome_values[i]);
		}
		free(p->welcome_wire);
		free(p->login_error);
		pool_set_secret(p, NULL);
		OPENSSL_cleanse(p->client_key, sizeof(p->client_key));
		free(p);
	}
	while (!list_empty(&ctx->dbs)) {
		n = ctx->dbs.next;
		list_del(n);
		pool_db_t *db = list_entry(n, pool_db_t, node);
		free(db->name);
		free(db->host);
		free(db->dbname);
		free(db->forced_user);
		free(db->password);
		free(db->connect_query);
		free(db->auth_user);
		free(db->auth_query);
		free(db->auth_dbname);
		free(db);
	}
	while (!list_empty(&ctx->users)) {
		n = ctx->users.next;
		list_del(n);
		pool_user_t *u = list_entry(n, pool_user_t, node);
		free(u->name);
		free(u);
	}
	free(ctx->keymap);
	ctx->keymap = NULL;
	prep_registry_free(&ctx->prep);
	if (ctx->dns) {
		ev_io_del(ctx->loop, dns_fd(ctx->dns));
		dns_free(ctx->dns);
		ctx->dns = NULL;
	}
}
