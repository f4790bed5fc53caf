/* SPDX-License-Identifier: MIT */
/*
 * pool_cancel.c - client CancelRequests, scheduled the way PgBouncer 1.25
 * does it.
 *
 * A request waits on its target's pool (cl_waiting_cancel_req) until a
 * connection may be opened for it: cancel connections may take the pool
 * past its size, up to twice it, so a pool whose servers are all stuck in
 * long queries can still be cancelled. The request's socket stays open
 * until the server has taken the cancel (libpq waits for that close), and
 * a server released while a cancel sent for it is not done waits in
 * SV_BEING_CANCELED: the late cancel cannot hit the next client's query
 * (PgBouncer PR #717).
 */
#include "conn/conn.h"
#include "pool/pool.h"

static int cancel_limit(const pool_t *p)
{
	int n = pool_size(p);
	return 2 * (n > 0 ? n : 1);
}

server_t *pool_cancel_target(pool_t *p, uint64_t client_id)
{
	list_node_t *n;
	for (n = p->active_servers.head.next; n != &p->active_servers.head;
	     n = n->next) {
		server_t *s = list_entry(n, server_t, node);
		if (s->link && s->link->id == client_id)
			return s;
	}
	return NULL;
}

void pool_cancel_request(client_t *c, client_t *target)
{
	c->pool = target->pool;
	c->cancel_target_id = target->id;
	c->wait_us = ev_now_us(c->ctx->loop);
	pool_client_state(c, CL_WAITING_CANCEL);
	pool_cancel_launch(c->pool);
}

void pool_cancel_launch(pool_t *p)
{
	list_node_t *n;
	while ((n = statlist_first(&p->waiting_cancel_clients)) &&
	       pool_server_total(p) < cancel_limit(p)) {
		client_t *c = list_entry(n, client_t, node);
		server_t *t = pool_cancel_target(p, c->cancel_target_id);
		if (!t) {
			client_close(c, NULL,
				     "not sending cancel request for client "
				     "that is now idle");
			continue;
		}
		pool_client_state(c, CL_ACTIVE_CANCEL);
		if (!server_launch_cancel(p, c, t))
			client_close(c, NULL, "failed to send cancel request");
	}
}

static server_t *find_server(statlist_t *l, uint64_t id)
{
	list_node_t *n;
	for (n = l->head.next; n != &l->head; n = n->next) {
		server_t *s = list_entry(n, server_t, node);
		if (s->id == id)
			return s;
	}
	return NULL;
}

bool pool_cancel_hold(server_t *s)
{
	if (s->cancels_inflight <= 0)
		return false;
	pool_server_state(s, SV_BEING_CANCELED);
	return true;
}

void pool_cancel_done(pool_t *p, uint64_t canceled_id)
{
	server_t *t = NULL;
	if (canceled_id) {
		t = find_server(&p->canceled_servers, canceled_id);
		if (!t)
			t = find_server(&p->active_servers, canceled_id);
	}
	if (t && t->cancels_inflight > 0 && --t->cancels_inflight == 0 &&
	    t->state == SV_BEING_CANCELED)
		pool_release_server(t);
	pool_cancel_launch(p);
	if (p->waiting_clients.count > 0)
		pool_launch(p);
}
