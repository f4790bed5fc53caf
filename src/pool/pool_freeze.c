/* SPDX-License-Identifier: MIT */
/*
 * pool_freeze.c - a database's connections frozen, retargeted, captured
 * and detached on behalf of the switchover (see pool_freeze.h).
 */
#include "pool/pool_freeze.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "conn/conn.h"
#include "pool/pool.h"

#define for_each_pool_of(ctx, db, p)                                           \
	for (list_node_t *pn_ = (ctx)->pools.next; pn_ != &(ctx)->pools;       \
	     pn_ = pn_->next)                                                  \
		if (((p) = list_entry(pn_, pool_t, node))->db == (db))

void pool_db_freeze(pool_db_t *db)
{
	db->frozen = true;
}

void pool_db_thaw(pgs_ctx_t *ctx, pool_db_t *db, pool_hold_cb hold, void *arg)
{
	pool_t *p;
	list_node_t *m, *tmp;
	if (!db->frozen)
		return;
	db->frozen = false;
	for_each_pool_of(ctx, db, p)
	{
		for (m = p->waiting_clients.head.next;
		     m != &p->waiting_clients.head; m = m->next) {
			client_t *c = list_entry(m, client_t, node);
			if (hold)
				hold(arg, c->wait_us);
		}
		for (m = p->active_clients.head.next;
		     m != &p->active_clients.head; m = m->next) {
			client_t *c = list_entry(m, client_t, node);
			if (!c->held_us)
				continue;
			if (hold)
				hold(arg, c->held_us);
			c->held_us = 0;
		}
	}
	/* pool_launch() opened nothing while frozen: the queue gets its
	 * servers here, not at the janitor's next tick. */
	for_each_pool_of(ctx, db, p)
	{
		if (p->waiting_clients.count > 0)
			pool_kick(p);
		statlist_for_each_safe(m, tmp, &p->active_clients)
		{
			client_t *c = list_entry(m, client_t, node);
			if (!c->link && c->carry_sql && !c->carry_lost)
				pool_request_server(c);
			/* A held query waits in the client's buffer: run it
			 * now (on a pre-warmed server it got at once, the
			 * carried session state goes out first). */
			client_process(c);
		}
	}
}

void pool_db_retarget(pgs_ctx_t *ctx, pool_db_t *db, const char *host, int port)
{
	char *h = strdup(host);
	if (h) {
		free(db->host);
		db->host = h;
	}
	db->port = port;
	db->generation++;
	pool_reconnect_db(ctx, db);
	pool_adopt_parked(ctx, db);
}

int pool_db_in_flight(pgs_ctx_t *ctx, pool_db_t *db, bool cancel)
{
	int k = 0;
	pool_t *p;
	list_node_t *m;
	for_each_pool_of(ctx, db, p)
	{
		k += p->tested_servers.count + p->login_servers.count;
		for (m = p->active_servers.head.next;
		     m != &p->active_servers.head; m = m->next) {
			server_t *s = list_entry(m, server_t, node);
			if (server_quiet(s))
				continue;
			k++;
			if (cancel && s->expect_rfq > 0)
				server_cancel(ctx, s);
		}
	}
	return k;
}

int pool_db_capture(pgs_ctx_t *ctx, pool_db_t *db, const char *sql, bool warm)
{
	int k = 0;
	pool_t *p;
	list_node_t *m, *tmp;
	for_each_pool_of(ctx, db, p)
	{
		if (warm && pool_mode(p) != CFG_POOL_SESSION)
			continue;
		/* Safe walk: a failed write closes the server. */
		statlist_for_each_safe(m, tmp, &p->active_servers)
		{
			server_t *s = list_entry(m, server_t, node);
			client_t *c = s->link;
			if (!c || (warm && (!server_quiet(s) ||
					    c->io.rpos != c->io.rlen)))
				continue;
			server_capture(s, sql, !warm);
			k++;
		}
	}
	return k;
}

int pool_db_capture_pending(pgs_ctx_t *ctx, pool_db_t *db, bool detach,
			    const char *reason)
{
	int k = 0;
	pool_t *p;
	list_node_t *m, *tmp;
	for_each_pool_of(ctx, db, p)
	{
		statlist_for_each_safe(m, tmp, &p->active_servers)
		{
			server_t *s = list_entry(m, server_t, node);
			if (s->capturing || s->swallow_rfq > 0) {
				k++;
				continue;
			}
			if (!detach || !s->link)
				continue;
			s->link->link = NULL;
			s->link = NULL;
			server_close(s, "%s", reason);
		}
	}
	return k;
}

void pool_db_backend_pids(pgs_ctx_t *ctx, const pool_db_t *db, const char *host,
			  int port, char *out, size_t cap)
{
	size_t off = 0;
	pool_t *p;
	list_node_t *m;
	out[0] = 0;
	for_each_pool_of(ctx, db, p)
	{
		statlist_t *ls[] = {&p->idle_servers, &p->used_servers};
		for (size_t i = 0; i < 2; i++)
			for (m = ls[i]->head.next; m != &ls[i]->head;
			     m = m->next) {
				server_t *s = list_entry(m, server_t, node);
				if (s->target_port != port ||
				    strcmp(s->target_host, host) != 0)
					continue;
				int w = snprintf(out + off, cap - off, "%s%u",
						 off ? "," : "", s->be_pid);
				if (w < 0 || (size_t)w >= cap - off) {
					out[0] = 0;
					return;
				}
				off += (size_t)w;
			}
	}
}

const char *pool_db_first_user(pgs_ctx_t *ctx, const pool_db_t *db)
{
	pool_t *p;
	for_each_pool_of(ctx, db, p)
	{
		return p->user->name;
	}
	return NULL;
}
