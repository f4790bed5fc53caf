/* SPDX-License-Identifier: MIT */
/*
 * takeover.c - clients and servers on sockets an old process passed over
 * (online restart). They come logged in: a client with the cancel key
 * the old process issued, a server with its backend's; the tracked
 * parameters PgBouncer's SHOW FDS carries (client_encoding,
 * standard_conforming_strings, DateStyle, TimeZone) come with them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn/conn.h"
#include "conn/takeover.h"
#include "net/sock.h"
#include "pool/pool.h"

static void set_vars(pgs_ctx_t *ctx, const char **vars, const tko_row_t *r)
{
	const char *v[4] = {r->client_encoding, r->std_strings, r->datestyle,
			    r->timezone};
	const int idx[4] = {VAR_CLIENT_ENCODING, VAR_STD_STRINGS, VAR_DATESTYLE,
			    VAR_TIMEZONE};
	for (int i = 0; i < 4; i++)
		if (v[i][0])
			vars[idx[i]] = istr_get(&ctx->istr, v[i]);
}

/* The pool a row names; NULL if this process's config does not have
 * the database (a takeover with a changed config drops it). */
static pool_t *row_pool(pgs_ctx_t *ctx, const tko_row_t *r, pool_user_t **user)
{
	pool_db_t *db = pool_db_lookup(ctx, r->db);
	if (!db || db->admin)
		return NULL;
	pool_user_t *u = pool_user_get(ctx, r->user);
	if (!u)
		return NULL;
	*user = u;
	return pool_get(ctx, db, u);
}

/* SCRAM pass-through keys of the client's login: server logins of the
 * user need them (the auth_file secret holds no ClientKey). */
static void take_keys(pool_t *p, pool_user_t *u, const tko_row_t *r)
{
	if (!r->has_scram_keys)
		return;
	if (!u->has_scram_keys) {
		memcpy(u->client_key, r->scram_client_key, 32);
		memcpy(u->server_key, r->scram_server_key, 32);
		u->has_scram_keys = true;
	}
	if (r->password[0] && !p->auth_secret) {
		pool_set_secret(p, r->password);
		memcpy(p->client_key, r->scram_client_key, 32);
		memcpy(p->server_key, r->scram_server_key, 32);
		p->has_scram_keys = true;
	}
}

client_t *client_adopt(pgs_ctx_t *ctx, const tko_row_t *r, int fd)
{
	pool_user_t *u = NULL;
	pool_t *p = row_pool(ctx, r, &u);
	client_t *c = p ? calloc(1, sizeof(*c)) : NULL;
	if (!c)
		return NULL;
	c->user = strdup(r->user);
	c->dbname = strdup(r->db);
	if (!c->user || !c->dbname) {
		free(c->user);
		free(c->dbname);
		free(c);
		return NULL;
	}
	conn_io_init(&c->io, fd, &ctx->mem.small, CONN_OBUF_MAX,
		     &ctx->mem.small);
	c->ctx = ctx;
	sock_peer(fd, &c->addr);
	if (c->addr.unix_sock)
		c->addr.port = r->port;
	c->id = ++ctx->next_id;
	c->connect_us = c->request_us = c->idle_us = ev_now_us(ctx->loop);
	c->auth_step = AUTH_STEP_DONE;
	c->user_known = true;
	c->key_pid = (uint32_t)(r->cancel >> 32);
	c->key_secret = (uint32_t)r->cancel;
	pool_key_register(ctx, c);
	set_vars(ctx, c->vars, r);
	take_keys(p, u, r);
	c->pool = p;
	c->login_user = u;
	p->db->client_count++;
	u->client_count++;
	ctx->client_count++;
	list_init(&c->node);
	pool_client_state(c, CL_ACTIVE);
	if (ctx->cfg->log_connections)
		client_log(c, LOG_LOG,
			   "login attempt: db=%s user=%s tls=no "
			   "replication=no",
			   c->dbname, c->user);
	client_update_io(c);
	return c;
}

server_t *server_adopt(pgs_ctx_t *ctx, const tko_row_t *r, int fd)
{
	pool_user_t *u = NULL;
	pool_t *p = row_pool(ctx, r, &u);
	server_t *s = p ? calloc(1, sizeof(*s)) : NULL;
	if (!s)
		return NULL;
	conn_io_init(&s->io, fd, &ctx->mem.large, CONN_OBUF_MAX,
		     &ctx->mem.small);
	s->ctx = ctx;
	s->pool = p;
	sock_peer(fd, &s->addr);
	sock_local(fd, &s->local);
	if (s->addr.unix_sock)
		s->addr.port = r->port;
	snprintf(s->target_host, sizeof(s->target_host), "%s",
		 p->db->host ? p->db->host : r->addr);
	s->target_port = r->port;
	s->id = ++ctx->next_id;
	s->connect_us = s->request_us = ev_now_us(ctx->loop);
	s->be_pid = (uint32_t)(r->cancel >> 32);
	s->be_key = (uint32_t)r->cancel;
	s->tx_status = 'I';
	s->connected = true;
	s->generation = p->db->generation;
	s->io.want_read = true;
	set_vars(ctx, s->vars, r);
	take_keys(p, u, r);
	p->db->server_count++;
	p->user->server_count++;
	list_init(&s->node);
	pool_server_state(s, SV_IDLE);
	server_update_io(s);
	return s;
}

void conn_adopt_link(client_t *c, server_t *s)
{
	c->link = s;
	s->link = c;
	/* In a transaction or a query (or a session): the next
	 * ReadyForQuery decides, as for any linked server. */
	s->tx_status = 'T';
	pool_server_state(s, SV_ACTIVE);
}
