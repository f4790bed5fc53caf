/* SPDX-License-Identifier: MIT */
/*
 * fds.c - the old process's side of an online restart: SUSPEND's wait
 * for quiet sockets (and suspend_timeout), and SHOW FDS, whose rows each
 * carry their socket (SCM_RIGHTS) to the console that asked.
 *
 * A socket is quiet when nothing waits in either of our buffers and its
 * input stands at a message boundary: from then on it is not read, so
 * whatever arrives stays in the kernel for whoever holds the socket
 * next. TLS connections cannot be passed (their state is inside
 * OpenSSL): SHOW FDS leaves them out and they end with the process, as
 * in PgBouncer.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "admin/admin_int.h"
#include "admin/takeover.h"
#include "config/cfg.h"
#include "conn/conn.h"
#include "net/fdpass.h"
#include "net/sock.h"
#include "pool/pool.h"
#include "proto/pgp.h"

/* ---- SUSPEND ---- */

static bool io_quiet(const conn_io_t *io)
{
	return buf_pending(&io->obuf) == 0 && io->rpos == io->rlen &&
	       !io->queued;
}

static void set_listening(pgs_ctx_t *ctx, bool on)
{
	for (int i = 0; i < ctx->nlisteners; i++)
		if (ctx->listeners[i].fd >= 0)
			ev_io_mask(ctx->loop, ctx->listeners[i].fd,
				   on ? EV_READ : 0);
}

/* One client: quiet now (suspended), still busy (counted), or past
 * suspend_timeout (dropped, PgBouncer's reason). */
static int step_client(client_t *c, bool force)
{
	if (c->handler || c->state == CL_JUSTFREE || c->io.suspended)
		return 0;
	if (io_quiet(&c->io) && c->fwd_left == 0 && !c->prep_big) {
		c->io.suspended = true;
		client_update_io(c);
		return 0;
	}
	if (!force)
		return 1;
	client_close(c, "08P01", "suspend_timeout");
	return 0;
}

static int step_server(server_t *s, bool force)
{
	if (s->state == SV_JUSTFREE || s->io.suspended || s->io.fd < 0)
		return 0;
	if (io_quiet(&s->io) && s->fwd_left == 0 && s->drop_left == 0 &&
	    s->connected) {
		s->io.suspended = true;
		server_update_io(s);
		return 0;
	}
	if (!force)
		return 1;
	server_close(s, "suspend_timeout");
	return 0;
}

static int step_clients(statlist_t *l, bool force)
{
	int busy = 0;
	list_node_t *n, *tmp;
	statlist_for_each_safe(n, tmp, l)
	{
		busy += step_client(list_entry(n, client_t, node), force);
	}
	return busy;
}

static int step_servers(statlist_t *l, bool force)
{
	int busy = 0;
	list_node_t *n, *tmp;
	statlist_for_each_safe(n, tmp, l)
	{
		busy += step_server(list_entry(n, server_t, node), force);
	}
	return busy;
}

/* Every pool's lists that hold sockets (cancel connections excepted:
 * short-lived, and never passed): the count still busy. Servers go quiet
 * only once every client has (PgBouncer's order): a client still busy
 * may yet need a server, and a suspended server is no longer read. */
static int step_all(pgs_ctx_t *ctx, bool force)
{
	int busy = step_clients(&ctx->login_clients, force);
	list_node_t *n;
	for (n = ctx->pools.next; n != &ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		busy += step_clients(&p->active_clients, force);
		busy += step_clients(&p->waiting_clients, force);
	}
	if (busy > 0)
		return busy;
	for (n = ctx->pools.next; n != &ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		statlist_t *svs[] = {&p->active_servers, &p->idle_servers,
				     &p->used_servers,	 &p->tested_servers,
				     &p->login_servers,	 &p->parked_servers};
		for (size_t i = 0; i < sizeof(svs) / sizeof(svs[0]); i++)
			busy += step_servers(svs[i], force);
	}
	return busy;
}

void admin_suspend_begin(client_t *c)
{
	pgs_ctx_t *ctx = c->ctx;
	ctx->suspend_us = ev_now_us(ctx->loop);
	ctx->suspend_admin_id = c->id;
	c->admin_wait = ADMIN_WAIT_SUSPEND;
	set_listening(ctx, false);
	admin_arm_waits(ctx);
}

void admin_suspend_step(pgs_ctx_t *ctx)
{
	/* suspend_us 0: quiet reached; nothing reads or accepts any more */
	if (!ctx->suspended || !ctx->suspend_admin_id || !ctx->suspend_us)
		return;
	long limit = ctx->cfg->suspend_timeout;
	bool force = limit > 0 &&
		     ev_now_us(ctx->loop) - ctx->suspend_us > limit * 1000;
	if (step_all(ctx, force) > 0)
		return;
	ctx->suspend_us = 0;
	list_node_t *n, *tmp;
	statlist_for_each_safe(n, tmp, &ctx->admin_clients)
	{
		client_t *c = list_entry(n, client_t, node);
		if (c->admin_wait != ADMIN_WAIT_SUSPEND)
			continue;
		c->admin_wait = 0;
		admin_ok(c, "SUSPEND");
		client_process(c);
	}
}

static void resume_clients(statlist_t *l)
{
	list_node_t *n, *tmp;
	statlist_for_each_safe(n, tmp, l)
	{
		client_t *c = list_entry(n, client_t, node);
		if (c->io.suspended) {
			c->io.suspended = false;
			client_update_io(c);
		}
	}
}

static void resume_servers(statlist_t *l)
{
	list_node_t *n, *tmp;
	statlist_for_each_safe(n, tmp, l)
	{
		server_t *s = list_entry(n, server_t, node);
		if (s->io.suspended) {
			s->io.suspended = false;
			server_update_io(s);
		}
	}
}

void admin_suspend_end(pgs_ctx_t *ctx)
{
	ctx->suspend_admin_id = 0;
	resume_clients(&ctx->login_clients);
	list_node_t *n;
	for (n = ctx->pools.next; n != &ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		resume_clients(&p->active_clients);
		resume_clients(&p->waiting_clients);
		statlist_t *svs[] = {&p->active_servers, &p->idle_servers,
				     &p->used_servers,	 &p->tested_servers,
				     &p->login_servers,	 &p->parked_servers};
		for (size_t i = 0; i < sizeof(svs) / sizeof(svs[0]); i++)
			resume_servers(svs[i]);
	}
	set_listening(ctx, true);
}

/* ---- SHOW FDS ---- */

/* The console's socket is non-blocking; SHOW FDS blocks the loop, as
 * PgBouncer's does (documented), for at most this long per write. */
#define FDS_WRITE_MS 10000

static int send_blocking(int sock, const uint8_t *p, size_t len, int fd)
{
	while (len > 0) {
		ssize_t n = net_send_fd(sock, p, len, fd);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			fd = -1; /* went with the first byte */
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		struct pollfd pf = {.fd = sock, .events = POLLOUT};
		if (poll(&pf, 1, FDS_WRITE_MS) <= 0)
			return -1;
	}
	return 0;
}

static int flush_blocking(client_t *c)
{
	buf_t *o = &c->io.obuf;
	int rc = send_blocking(c->io.fd, buf_head(o), buf_pending(o), -1);
	buf_consume(o, buf_pending(o));
	return rc;
}

static int send_row(client_t *c, const tko_row_t *r, int fd)
{
	const char *vals[TKO_NCOLS];
	char store[TKO_STORE_MAX];
	tko_row_encode(r, vals, store);
	buf_t b;
	buf_init(&b, 64 * 1024);
	int rc = -1;
	if (pgp_wr_data_row(&b, vals, TKO_NCOLS))
		rc = send_blocking(c->io.fd, b.data, b.len, fd);
	buf_free(&b);
	return rc;
}

static void fill_vars(tko_row_t *r, const char *const *vars)
{
	const char *v[4] = {vars[VAR_CLIENT_ENCODING], vars[VAR_STD_STRINGS],
			    vars[VAR_DATESTYLE], vars[VAR_TIMEZONE]};
	char *out[4] = {r->client_encoding, r->std_strings, r->datestyle,
			r->timezone};
	for (int i = 0; i < 4; i++)
		snprintf(out[i], TKO_VAL_MAX, "%s", v[i] ? v[i] : "");
}

/* Credentials server logins of this pool use after the restart: the
 * auth_query secret and its SCRAM keys, or the user's captured keys. */
static void fill_creds(tko_row_t *r, pool_t *p, pool_user_t *u)
{
	pool_t *cp = pool_creds(p);
	if (cp->auth_secret) {
		snprintf(r->password, sizeof(r->password), "%s",
			 cp->auth_secret);
		if (cp->has_scram_keys) {
			r->has_scram_keys = true;
			memcpy(r->scram_client_key, cp->client_key, 32);
			memcpy(r->scram_server_key, cp->server_key, 32);
			return;
		}
	}
	if (u && u->has_scram_keys) {
		r->has_scram_keys = true;
		memcpy(r->scram_client_key, u->client_key, 32);
		memcpy(r->scram_server_key, u->server_key, 32);
	}
}

static bool client_passable(const client_t *c)
{
	return c->state == CL_ACTIVE && !c->io.tls && !c->replication &&
	       !c->handler && (!c->link || !c->link->io.tls);
}

static bool server_passable(const server_t *s)
{
	return s->connected && !s->io.tls && !server_parked(s) &&
	       !s->auth_lookup && !s->repl_client &&
	       s->pool->replication == POOL_REPL_NONE &&
	       (!s->link || client_passable(s->link));
}

static int show_client(client_t *c, client_t *x)
{
	tko_row_t r;
	memset(&r, 0, sizeof(r));
	r.fd = x->io.fd;
	r.task = TKO_CLIENT;
	snprintf(r.user, sizeof(r.user), "%s", x->user);
	snprintf(r.db, sizeof(r.db), "%s", x->pool->db->name);
	snprintf(r.addr, sizeof(r.addr), "%s", x->addr.host);
	r.port = x->addr.unix_sock ? x->ctx->cfg->listen_port : x->addr.port;
	r.cancel = (uint64_t)x->key_pid << 32 | x->key_secret;
	r.link = x->link ? x->link->io.fd : 0;
	fill_vars(&r, x->vars);
	fill_creds(&r, x->pool, x->login_user);
	return send_row(c, &r, x->io.fd);
}

static int show_server(client_t *c, server_t *s)
{
	tko_row_t r;
	memset(&r, 0, sizeof(r));
	r.fd = s->io.fd;
	r.task = TKO_SERVER;
	snprintf(r.user, sizeof(r.user), "%s", s->pool->user->name);
	snprintf(r.db, sizeof(r.db), "%s", s->pool->db->name);
	snprintf(r.addr, sizeof(r.addr), "%s", s->addr.host);
	r.port = s->addr.port ? s->addr.port : s->target_port;
	r.cancel = (uint64_t)s->be_pid << 32 | s->be_key;
	r.link = s->link ? s->link->io.fd : 0;
	fill_vars(&r, s->vars);
	fill_creds(&r, s->pool, s->pool->user);
	return send_row(c, &r, s->io.fd);
}

static int show_listeners(client_t *c)
{
	pgs_ctx_t *ctx = c->ctx;
	for (int i = 0; i < ctx->nlisteners; i++) {
		int fd = ctx->listeners[i].fd;
		if (fd < 0)
			continue;
		tko_row_t r;
		memset(&r, 0, sizeof(r));
		conn_addr_t a;
		sock_local(fd, &a);
		r.fd = fd;
		r.task = TKO_POOLER;
		snprintf(r.addr, sizeof(r.addr), "%s", a.host);
		r.port = a.unix_sock ? ctx->cfg->listen_port : a.port;
		if (send_row(c, &r, fd) < 0)
			return -1;
	}
	return 0;
}

static int show_pool(client_t *c, pool_t *p)
{
	list_node_t *n, *tmp;
	statlist_for_each_safe(n, tmp, &p->active_clients)
	{
		client_t *x = list_entry(n, client_t, node);
		if (client_passable(x) && show_client(c, x) < 0)
			return -1;
	}
	statlist_t *svs[] = {&p->active_servers, &p->idle_servers,
			     &p->used_servers};
	for (size_t i = 0; i < 3; i++)
		statlist_for_each_safe(n, tmp, svs[i])
		{
			server_t *s = list_entry(n, server_t, node);
			if (server_passable(s) && show_server(c, s) < 0)
				return -1;
		}
	return 0;
}

void admin_show_fds(client_t *c)
{
	static const pgp_field_t f[TKO_NCOLS] = {
		{"fd", PGP_OID_INT4, 4},
		{"task", PGP_OID_TEXT, -1},
		{"user", PGP_OID_TEXT, -1},
		{"database", PGP_OID_TEXT, -1},
		{"addr", PGP_OID_TEXT, -1},
		{"port", PGP_OID_INT4, 4},
		{"cancel", PGP_OID_INT8, 8},
		{"link", PGP_OID_INT4, 4},
		{"client_encoding", PGP_OID_TEXT, -1},
		{"std_strings", PGP_OID_TEXT, -1},
		{"datestyle", PGP_OID_TEXT, -1},
		{"timezone", PGP_OID_TEXT, -1},
		{"password", PGP_OID_TEXT, -1},
		{"scram_client_key", PGP_OID_TEXT, -1},
		{"scram_server_key", PGP_OID_TEXT, -1},
	};
	/* Passing the sockets away is for the process's own user only. */
	if (!c->admin_rw) {
		admin_err(c, "admin access needed");
		return;
	}
	if (!c->addr.unix_sock) {
		admin_err(c, "fd passing only over the unix socket");
		return;
	}
	admin_row_desc(c, f, TKO_NCOLS);
	if (flush_blocking(c) < 0 || show_listeners(c) < 0) {
		client_close(c, NULL, "client unexpected eof");
		return;
	}
	list_node_t *n;
	for (n = c->ctx->pools.next; n != &c->ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		if (p->db->admin)
			continue;
		if (show_pool(c, p) < 0) {
			client_close(c, NULL, "client unexpected eof");
			return;
		}
	}
	admin_ok(c, "SHOW");
}
