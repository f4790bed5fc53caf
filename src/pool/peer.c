/* SPDX-License-Identifier: MIT */
/*
 * peer.c - CancelRequests forwarded to the peer that issued their key,
 * scheduled the way PgBouncer 1.25 schedules them: a request waits on
 * its peer (cl_waiting_cancel_req) until one of at most pool_size
 * connections to that peer is up, then rides it (cl_active_cancel_req)
 * until the peer closes it, which is when libpq's cancel returns.
 */
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "conn/conn.h"
#include "pool/peer.h"
#include "pool/pool.h"

const char *peer_conn_state_name(peer_conn_state_t st)
{
	switch (st) {
	case PEER_CONN_LOGIN:
		return "login";
	case PEER_CONN_ACTIVE:
		return "active_cancel";
	}
	return "?";
}

/* ---- keys ---- */

void peer_key_make(uint32_t *pid, uint32_t *secret, int peer_id)
{
	/* Some drivers keep the pid in a signed int: PgBouncer keeps it
	 * positive (its PR #945), so does pgswitch. */
	*pid &= 0x7fffffffu;
	if (peer_id <= 0)
		return;
	*pid = (*pid & 0xff0000ffu) | ((uint32_t)(peer_id & 0xff) << 16) |
	       ((uint32_t)((peer_id >> 8) & 0xff) << 8);
	*secret = peer_key_with_ttl(*secret, PEER_TTL_MAX);
}

int peer_key_id(uint32_t pid)
{
	return (int)(((pid >> 16) & 0xff) | (pid & 0xff00));
}

int peer_key_ttl(uint32_t secret)
{
	return (int)(secret & 3u);
}

uint32_t peer_key_with_ttl(uint32_t secret, int ttl)
{
	return (secret & ~3u) | ((uint32_t)ttl & 3u);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void peer_cancel_packet(uint8_t out[16], uint32_t pid, uint32_t secret)
{
	put32(out, 16);
	put32(out + 4, 80877102); /* the CancelRequest code */
	put32(out + 8, pid);
	put32(out + 12, secret);
}

/* ---- peers ---- */

static peer_t *peer_find(pgs_ctx_t *ctx, int id)
{
	for (peer_t *p = ctx->peers; p; p = p->next) {
		if (p->id == id)
			return p;
	}
	return NULL;
}

static peer_t *peer_get(pgs_ctx_t *ctx, int id)
{
	peer_t *p = peer_find(ctx, id);
	if (p)
		return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->ctx = ctx;
	p->id = id;
	statlist_init(&p->waiting_clients);
	statlist_init(&p->active_clients);
	statlist_init(&p->login_conns);
	statlist_init(&p->active_conns);
	peer_t **at = &ctx->peers;
	while (*at && (*at)->id < id)
		at = &(*at)->next;
	p->next = *at;
	*at = p;
	return p;
}

/* The config entry requests to P go by; the own id's entry is allowed
 * (one [peers] section for every process) but never used. */
static const cfg_peer_t *peer_entry(const peer_t *p)
{
	const cfg_t *cfg = p->ctx->cfg;
	if (p->id == cfg->peer_id)
		return NULL;
	return cfg_find_peer(cfg, p->id);
}

static void close_list(statlist_t *l, const char *reason)
{
	list_node_t *n;
	while ((n = statlist_first(l)))
		client_close(list_entry(n, client_t, node), NULL, "%s", reason);
}

bool peer_cancel_forward(client_t *c, uint32_t pid, uint32_t secret)
{
	pgs_ctx_t *ctx = c->ctx;
	int own = ctx->cfg->peer_id, id = peer_key_id(pid);
	if (own <= 0 || id == own)
		return false;
	/* PgBouncer's order and words: the TTL first, then the peer. */
	int ttl = peer_key_ttl(secret);
	if (ttl == 0) {
		client_close(c, NULL,
			     "failed to forward cancel request because its "
			     "TTL was exhausted");
		return true;
	}
	if (!cfg_find_peer(ctx->cfg, id)) {
		client_close(c, NULL,
			     "could not find peer to forward request to");
		return true;
	}
	peer_t *p = peer_get(ctx, id);
	if (!p) {
		client_close(c, NULL, "out of memory");
		return true;
	}
	/* A request has no target client here: the field holds the key
	 * to pass on, its TTL lowered. */
	c->peer = p;
	c->cancel_target_id =
		((uint64_t)pid << 32) | peer_key_with_ttl(secret, ttl - 1);
	c->wait_us = ev_now_us(ctx->loop);
	pool_client_state(c, CL_WAITING_CANCEL);
	peer_launch(p);
	return true;
}

static int peer_pool_size(const pgs_ctx_t *ctx, const cfg_peer_t *e)
{
	return e->pool_size >= 0 ? e->pool_size : ctx->cfg->default_pool_size;
}

void peer_launch(peer_t *p)
{
	pgs_ctx_t *ctx = p->ctx;
	if (p->waiting_clients.count == 0)
		return;
	const cfg_peer_t *e = peer_entry(p);
	if (!e) {
		/* Gone from the config by a RELOAD. */
		close_list(&p->waiting_clients,
			   "could not find peer to forward request to");
		return;
	}
	int64_t now = ev_now_us(ctx->loop);
	if (p->last_fail_us &&
	    now - p->last_fail_us < ctx->cfg->server_login_retry * 1000)
		return;
	int size = peer_pool_size(ctx, e);
	while (p->login_conns.count < p->waiting_clients.count &&
	       p->login_conns.count + p->active_conns.count < size) {
		if (!peer_conn_open(p, e->host, e->port))
			break;
	}
}

bool peer_conn_up(peer_conn_t *conn)
{
	peer_t *p = conn->peer;
	list_node_t *n = statlist_first(&p->waiting_clients);
	if (!n)
		return false;
	client_t *c = list_entry(n, client_t, node);
	pool_client_state(c, CL_ACTIVE_CANCEL);
	statlist_remove(&p->login_conns, &conn->node);
	statlist_append(&p->active_conns, &conn->node);
	conn->state = PEER_CONN_ACTIVE;
	conn->req = c;
	peer_cancel_packet(conn->pkt, (uint32_t)(c->cancel_target_id >> 32),
			   (uint32_t)c->cancel_target_id);
	conn->sent = 0;
	return true;
}

void peer_conn_gone(peer_conn_t *conn, bool failed)
{
	peer_t *p = conn->peer;
	statlist_remove(conn->state == PEER_CONN_LOGIN ? &p->login_conns
						       : &p->active_conns,
			&conn->node);
	if (failed)
		p->last_fail_us = ev_now_us(p->ctx->loop);
	else if (conn->state == PEER_CONN_ACTIVE)
		p->last_fail_us = 0;
	peer_launch(p);
}

void peer_client_gone(client_t *c)
{
	/* A request that gave up: the cancel already sent runs to its end
	 * (the peer has it), only the link goes. */
	list_node_t *n;
	statlist_t *l = &c->peer->active_conns;
	for (n = l->head.next; n != &l->head; n = n->next) {
		peer_conn_t *conn = list_entry(n, peer_conn_t, node);
		if (conn->req == c)
			conn->req = NULL;
	}
}

static bool peer_idle(const peer_t *p)
{
	return p->waiting_clients.count == 0 && p->active_clients.count == 0 &&
	       p->login_conns.count == 0 && p->active_conns.count == 0;
}

void peer_sync(pgs_ctx_t *ctx)
{
	/* A reload built a new config: peers it dropped go once idle, the
	 * others launch with their new settings. */
	peer_t **at = &ctx->peers;
	while (*at) {
		peer_t *p = *at;
		if (!peer_entry(p))
			close_list(&p->waiting_clients,
				   "could not find peer to forward request "
				   "to");
		if (!peer_entry(p) && peer_idle(p)) {
			*at = p->next;
			free(p);
			continue;
		}
		peer_launch(p);
		at = &p->next;
	}
}

static bool over(int64_t now, int64_t since, long ms)
{
	return ms > 0 && now - since >= (int64_t)ms * 1000;
}

void peer_janitor(pgs_ctx_t *ctx, int64_t now)
{
	long timeout = ctx->cfg->cancel_wait_timeout;
	for (peer_t *p = ctx->peers; p; p = p->next) {
		list_node_t *n, *tmp;
		statlist_for_each_safe(n, tmp, &p->waiting_clients)
		{
			client_t *c = list_entry(n, client_t, node);
			if (over(now, c->wait_us, timeout))
				client_close(c, NULL, "cancel_wait_timeout");
		}
		/* A connect that hangs: a cancel sent is not timed out
		 * (PgBouncer's rule, its PR #717). */
		statlist_for_each_safe(n, tmp, &p->login_conns)
		{
			peer_conn_t *conn = list_entry(n, peer_conn_t, node);
			if (over(now, conn->connect_us,
				 ctx->cfg->server_connect_timeout))
				peer_conn_close(conn, "connect timeout");
		}
		peer_launch(p);
	}
}

void peer_close_all(pgs_ctx_t *ctx)
{
	for (peer_t *p = ctx->peers; p; p = p->next) {
		list_node_t *n;
		close_list(&p->waiting_clients, "pooler is shutting down");
		while ((n = statlist_first(&p->active_conns)))
			peer_conn_close(list_entry(n, peer_conn_t, node),
					"pooler is shutting down");
		while ((n = statlist_first(&p->login_conns)))
			peer_conn_close(list_entry(n, peer_conn_t, node),
					"pooler is shutting down");
		close_list(&p->active_clients, "pooler is shutting down");
	}
}

void peer_free_all(pgs_ctx_t *ctx)
{
	peer_close_all(ctx);
	while (ctx->peers) {
		peer_t *p = ctx->peers;
		ctx->peers = p->next;
		free(p);
	}
}
